//! asyncio's waiting primitives: timeouts and [`wait_for`], [`wait`],
//! [`as_completed`], [`gather()`], [`shield`] and task groups ([`task_group`]).
//!
//! Every primitive here cancels *cooperatively* and waits for the clean-up
//! (asyncio's model), never by dropping a future mid-flight, unless the
//! caller asked for a hard bound ([`Timeout::cleanup_grace`]).

mod as_completed;
mod done;
mod error;
mod gather;
mod group;
mod group_error;
mod shield;
mod timeout;
mod wait_set;

pub use error::{
    AsCompletedError, Elapsed, GatherError, NextError, NextResult, TimeoutError, TimeoutStateError,
    WaitError,
};
pub use group_error::{BoxError, FailedTask, Failure, FailureKind, GroupClosed, GroupError};
pub use shield::{Shield, shield};
pub use timeout::{Timeout, TimeoutHandle, timeout, timeout_at, wait_for};

pub use as_completed::{AsCompleted, Results, as_completed};
pub use gather::{TaskTuple, gather, gather_outcomes, gather_tuple, try_gather};
pub use group::{TaskGroup, task_group};
pub use wait_set::{
    Fallible, ReturnWhen, TaskHandle, Waitable, Waited, wait, wait_all, wait_first,
};
