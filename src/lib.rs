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
//! A Ctrl-C during [`run`] cancels the main task the same way: its clean-up
//! runs, the remaining tasks are cancelled and awaited, and the process
//! exits with status 130 ([`run_cli`] returns [`Interrupted`] instead); a
//! second Ctrl-C exits at once.
//!
//! # Cancellation is a request
//!
//! As in asyncio, [`TaskRef::cancel`] does not drop anything. It records a
//! request that is delivered once, at the task's next *checkpoint* (any
//! runtime await point: [`yield_now`], [`checkpoint`], awaiting a [`Task`] or
//! a [`Promise`], [`cancellable`] futures), as `Err(`[`Cancelled`]`)`. The
//! task may then run asynchronous clean-up and finish; it counts as cancelled
//! unless it called [`TaskRef::uncancel`]. [`Task::abort`] is the hard,
//! drop-the-future cancel.
//!
//! A cancellation always ends what it cancels. Code that waits in a future
//! of another crate (a channel's `recv`, a lock of `async-lock`) cannot see
//! the request: when a task, a timeout scope or a task group is polled with
//! a cancellation outstanding and waits outside every checkpoint, its future
//! is dropped instead (Rust's own cancellation), so `wait_for`, `gather`,
//! task groups and shutdown never hang on it. [`cancellable`] turns such a
//! future into a checkpoint. Under `join!`, `join_all`, `select!` or
//! `FuturesUnordered`, a delivery reaches every checkpoint of the task that
//! was waiting, as asyncio's `gather` cancels every child. The rules are in
//! `docs/asyncio-mapping.md`.
//!
//! # Waiting, asyncio's way
//!
//! [`wait_for`] and [`timeout`] cancel the inner work at the deadline and
//! wait for its clean-up before they report [`TimeoutError::Elapsed`];
//! [`wait`], [`as_completed`], [`gather()`], [`shield`] and [`task_group`]
//! follow asyncio 3.13. Every difference from asyncio is listed, with its
//! reason, in `docs/asyncio-mapping.md`.
//!
//! ```
//! use std::time::Duration;
//! use taskloop::{time::sleep, wait_for};
//! // A virtual clock: the 30-second sleep below takes no real time.
//! let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
//! rt.block_on(async {
//!     let slow = async {
//!         if sleep(Duration::from_secs(30)).await.is_err() {
//!             sleep(Duration::from_secs(1)).await.ok(); // async clean-up
//!         }
//!     };
//!     let t0 = taskloop::time::now();
//!     let err = wait_for(slow, Duration::from_secs(5)).await.unwrap_err();
//!     assert!(err.is_elapsed());
//!     // wait_for reported the timeout only after the clean-up finished.
//!     assert_eq!(taskloop::time::now() - t0, Duration::from_secs(6));
//! });
//! # Ok::<_, std::io::Error>(())
//! ```
//!
//! # Debugging
//!
//! The virtual clock can be moved by hand ([`time::advance`],
//! [`time::advance_to_next`], [`Builder::auto_advance`]);
//! [`Builder::shuffle`] (or `TASKLOOP_SEED`) permutes the schedule by a seed
//! and replays it exactly; [`dump`] returns the task tree; `#[taskloop::test]`
//! (default feature `macros`) runs an async test on a fresh runtime. See
//! `docs/debugging.md`.
//!
//! # Implementation
//!
//! One thread runs the loop and polls every task; other threads may only
//! wake them. The crate is layered, each layer using only those below it
//! (see `docs/design.md`):
//!
//! * `task`: a task is one heap allocation (header, scheduler handle,
//!   future, output) with a type-erased vtable; wakers count references in
//!   its atomic state word; the registry of live tasks, completion, and the
//!   current task. The only module with `unsafe`.
//! * `cancel`: the cancellation state machine, checkpoints, and forwarding
//!   a cancellation to an awaited task.
//! * `runtime`: the run queue and one turn of the loop (`executor`), the
//!   thread-local context, the cross-thread inject queue (`shared`), and
//!   the `driver` that owns parking: clock, timer wheel, reactor.
//! * `timer`, `reactor`: the hierarchical timer wheel and its entries; one
//!   `mio::Poll` with a slab of generation-tagged registrations.
//! * `wait`, `promise`: the waiting primitives and asyncio's `Future`.
//! * `sync`: events, locks, semaphores and queues, on one waiter list.
//! * `blocking`: `to_thread` / `spawn_blocking` on a lazily started pool of
//!   worker threads, results handed back to the loop.
//! * `net`: TCP, UDP and Unix sockets, each operation one call of the
//!   reactor's try-then-wait loop (a checkpoint before the socket is
//!   touched, so a cancelled read takes nothing); host names resolved off
//!   the loop; a `BufReader` with asyncio's `readline`.
//! * `signal`: Unix signals through `signal-hook`'s self-pipe, a passive
//!   reactor source shared by a runtime's listeners of one signal; [`run`]
//!   uses it to cancel the main task on Ctrl-C (asyncio's `Runner`), and
//!   [`Handle`] lets other threads submit work to the loop.
//! * `process`: child processes whose exit is a pidfd in the reactor (no
//!   reaper thread, no polling; the runtime's one SIGCHLD listener where
//!   pidfds are missing), non-blocking pipes on the same try-then-wait
//!   loop, and a detached reaper (or, without pidfds, an orphan list swept
//!   at each SIGCHLD) for a `Child` dropped while it runs.
//! * `stdio` (`taskloop::io`): the standard streams, in the reactor when
//!   they are pipes or sockets, on the blocking pool otherwise.
#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]

// Layers, each using only those above it in this list. `unsafe` lives in
// `task` alone; every other module denies it.
#[deny(unsafe_code)]
mod blocking;
#[deny(unsafe_code)]
mod cancel;
#[cfg(feature = "futures")]
#[deny(unsafe_code)]
mod compat;
#[deny(unsafe_code)]
pub mod net;
#[deny(unsafe_code)]
pub mod process;
#[deny(unsafe_code)]
mod promise;
#[deny(unsafe_code)]
mod reactor;
#[deny(unsafe_code)]
mod runtime;
#[deny(unsafe_code)]
pub mod signal;
#[deny(unsafe_code)]
mod stdio;
#[deny(unsafe_code)]
pub mod sync;
mod task;
#[deny(unsafe_code)]
mod testing;
#[deny(unsafe_code)]
mod timer;
#[deny(unsafe_code)]
mod wait;

/// The standard streams as async streams: in the reactor when they are
/// pipes, FIFOs or sockets, on the blocking pool otherwise (terminals,
/// files), so a shutdown never waits for a read.
pub mod io {
    pub use crate::stdio::{Stderr, Stdin, Stdout, stderr, stdin, stdout};
}

/// Time: the runtime's clock and the timer futures.
///
/// Every timer here is a checkpoint and never fires early; see
/// [`Builder::virtual_time`] for deterministic tests, and the test clock
/// ([`advance`](time::advance), [`advance_to_next`](time::advance_to_next),
/// [`pause_auto_advance`](time::pause_auto_advance)) to move it by hand.
pub mod time {
    pub use crate::timer::{
        Interval, Sleep, advance, advance_to_next, interval, next_deadline, now,
        pause_auto_advance, resume_auto_advance, sleep, sleep_until,
    };
}

pub use blocking::{BlockingTask, spawn_blocking, to_thread};
pub use cancel::{Cancelled, YieldNow, cancellable, checkpoint, is_cancelled, yield_now};
pub use promise::{Promise, Resolver};
pub use runtime::{
    Builder, Handle, Interrupted, NoRuntime, Remote, Runtime, RuntimeGone, Spawner, TaskDump,
    TaskInfo, TaskState, WaitsOn, all_tasks, dump, run, run_cli, spawn, spawn_named, try_spawn,
};
pub use task::{InvalidStateError, Task, TaskError, TaskId, TaskRef, current_task};
pub use wait::{
    AsCompleted, AsCompletedError, BoxError, Elapsed, FailedTask, Failure, FailureKind, Fallible,
    GatherError, GroupClosed, GroupError, NextError, NextResult, Results, ReturnWhen, Shield,
    TaskGroup, TaskHandle, TaskTuple, Timeout, TimeoutError, TimeoutHandle, TimeoutStateError,
    WaitError, Waitable, Waited, as_completed, gather, gather_outcomes, gather_tuple, shield,
    task_group, timeout, timeout_at, try_gather, wait, wait_all, wait_first, wait_for,
};

/// An async test on a fresh runtime: `#[tokio::test]` for taskloop, with a
/// virtual clock by default (feature `macros`, on by default).
///
/// ```
/// use std::time::Duration;
///
/// #[taskloop::test]
/// async fn a_timeout_fires_after_five_virtual_seconds() {
///     let t0 = taskloop::time::now();
///     let slow = taskloop::time::sleep(Duration::from_secs(60));
///     let err = taskloop::wait_for(slow, Duration::from_secs(5)).await.unwrap_err();
///     assert!(err.is_elapsed());
///     assert_eq!(taskloop::time::now() - t0, Duration::from_secs(5));
/// }
///
/// #[taskloop::test(seeds = 20, timeout_secs = 10)]
/// async fn holds_under_twenty_shuffled_schedules() -> Result<(), taskloop::TaskError> {
///     let a = taskloop::spawn(async { 1 });
///     let b = taskloop::spawn(async { 2 });
///     assert_eq!(a.await? + b.await?, 3);
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// The `async fn` (no arguments; returning `()` or a `Result`) becomes a
/// `#[test]` function that runs it as the main task of a fresh runtime, on
/// the [virtual clock](Builder::virtual_time) with auto-advance on, and
/// drops the runtime (and any task still pending) afterwards. The test
/// fails if the body panics or returns `Err`, and also:
///
/// * if a task's panic was never retrieved (the runtime logs it as asyncio's
///   "Task exception was never retrieved"; here it is a failure);
/// * if its loop stalls (no task ready, no timer, I/O source or blocking
///   job pending: a deadlock), after the runtime's one-second stall grace,
///   with the stall report and a task dump;
/// * if it does not finish within a real-time limit, 60 s by default
///   (`timeout_secs = N`), with a task dump. A poll that never returns
///   cannot be interrupted: 10 s after the limit the process is aborted
///   with a message.
///
/// Options, comma-separated:
///
/// * `real_time`: the real clock instead of the virtual one.
/// * `seeds = N`: run the test once per seed `0..N` with [schedule
///   shuffling](Builder::shuffle), stopping at the first failure, whose seed
///   is printed (`replay with TASKLOOP_SEED=…`).
/// * `timeout_secs = N`: the real-time limit of the whole test, all seeds.
///
/// `TASKLOOP_SEED` in the environment wins over `seeds`: the test runs once,
/// with that seed, to replay a failure. Without either, the schedule is not
/// shuffled.
#[cfg(feature = "macros")]
pub use taskloop_macros::test;

/// What `#[taskloop::test]` expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::testing::{TestOptions, TestOutcome, run_test};
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
