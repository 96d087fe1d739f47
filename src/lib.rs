//! taskloop: a small, fast, single-threaded async runtime whose tasks behave
//! like Python's asyncio tasks.
//!
//! ```
//! let total = taskloop::run(async {
//!     let tasks: Vec<_> = (1..=3).map(|i| taskloop::spawn(async move { i * 10 })).collect();
//!     let mut total = 0;
//!     for t in tasks {
//!         total += t.await.unwrap();
//!     }
//!     total
//! });
//! assert_eq!(total, 60);
//! ```
//!
//! # Cancellation is a request
//!
//! As in asyncio, [`TaskRef::cancel`] does not drop anything. It records a
//! request that is delivered once, at the task's next *checkpoint* (any
//! runtime await point: [`yield_now`], [`checkpoint`], awaiting a [`Task`] or
//! a [`Promise`], [`cancellable`] futures), as `Err(`[`Cancelled`]`)`. The
//! task may then run asynchronous clean-up and finish; it counts as cancelled
//! unless it called [`TaskRef::uncancel`]. [`Task::abort`] is the hard,
//! drop-the-future cancel for code that never reaches a checkpoint.
//!
//! # Implementation
//!
//! One thread runs the loop and polls every task; see `docs/design.md`.
//!
//! * `task`: a task is one heap allocation (header, future, output) with a
//!   type-erased vtable; wakers count references in its atomic state word.
//! * `runtime`: the run queue and registry (`executor`), the thread-local
//!   context, and the cross-thread inject queue (`shared`).
//! * `reactor`: one `mio::Poll`, where the loop sleeps.
//! * `cancel`: delivery of cancellation at checkpoints.
//! * `timer`: the clock and the timer wheel.
//! * `promise`: asyncio's settable `Future`.
#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]

mod cancel;
mod promise;
mod reactor;
mod runtime;
mod task;
mod timer;
mod wait;

/// Time: the runtime's clock and the timer futures.
///
/// Every timer here is a checkpoint and never fires early; see
/// [`Builder::virtual_time`] for deterministic tests.
pub mod time {
    pub use crate::timer::{Interval, Sleep, interval, now, sleep, sleep_until};
}

pub use cancel::{Cancelled, YieldNow, cancellable, checkpoint, is_cancelled, yield_now};
pub use promise::{Promise, Resolver};
pub use runtime::{Builder, Runtime, run};
pub use task::{
    InvalidStateError, NoRuntime, Task, TaskError, TaskId, TaskRef, all_tasks, current_task, spawn,
    try_spawn,
};
pub use wait::{
    AsCompleted, AsCompletedError, Elapsed, Failure, FailureKind, Fallible, GroupClosed,
    GroupError, NextError, NextResult, Results, ReturnWhen, Shield, TaskGroup, TaskHandle,
    TaskTuple, Timeout, TimeoutError, TimeoutHandle, TimeoutStateError, WaitError, Waitable,
    Waited, as_completed, gather, gather_outcomes, gather_tuple, shield, task_group, timeout,
    timeout_at, wait, wait_for,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
