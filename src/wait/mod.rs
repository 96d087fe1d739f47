//! asyncio's waiting primitives: timeouts and [`wait_for`], [`wait`],
//! [`as_completed`], [`gather()`], [`shield`] and task groups ([`task_group`]).
//!
//! Every primitive here cancels *cooperatively* and waits for the clean-up
//! (asyncio's model), never by dropping a future mid-flight, unless the
//! caller asked for a hard bound ([`Timeout::cleanup_grace`]).

mod as_completed;
mod done;
mod gather;
mod group;
mod shield;
mod timeout;
mod wait_set;

pub use shield::{Shield, shield};
pub use timeout::{
    Elapsed, Timeout, TimeoutError, TimeoutHandle, TimeoutStateError, timeout, timeout_at, wait_for,
};

pub use as_completed::{
    AsCompleted, AsCompletedError, NextError, NextResult, Results, as_completed,
};
pub use gather::{TaskTuple, gather, gather_outcomes, gather_tuple};
pub use group::{Failure, FailureKind, GroupClosed, GroupError, TaskGroup, task_group};
pub use wait_set::{Fallible, ReturnWhen, TaskHandle, WaitError, Waitable, Waited, wait};
