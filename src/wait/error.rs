//! The errors of the waiting primitives, in one place: what a timeout scope,
//! `as_completed`, `wait` and a task group report instead of a value.
//!
//! Each converts or chains the way Rust users expect (`Display`, `Error`
//! with a source, `From<Cancelled>`, `Into<io::Error>` where it helps); none
//! of them loses a handle the caller passed in.

use std::fmt;
use std::time::Duration;

use super::group::find_group_error;
use super::wait_set::Waited;
use crate::cancel::Cancelled;
use crate::task::{TaskError, TaskId, TaskRef};

// ---------------------------------------------------------------------------
// timeout

/// A [`TimeoutHandle::reschedule`](crate::TimeoutHandle::reschedule) in a state that does not allow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutStateError {
    /// The scope has not been polled yet ("Timeout has not been entered").
    NotEntered,
    /// The deadline fired and the clean-up is running.
    Expiring,
    /// The scope finished by timing out.
    Expired,
    /// The scope finished before its deadline.
    Finished,
}

impl fmt::Display for TimeoutStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutStateError::NotEntered => "the timeout has not been entered",
            TimeoutStateError::Expiring => "cannot change the state of an expiring timeout",
            TimeoutStateError::Expired => "cannot change the state of an expired timeout",
            TimeoutStateError::Finished => "cannot change the state of a finished timeout",
        })
    }
}

impl std::error::Error for TimeoutStateError {}

/// Why a [`timeout`](crate::timeout) scope or [`wait_for`](crate::wait_for) gave no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The deadline passed; the inner future was cancelled and has finished.
    Elapsed(Elapsed),
    /// The calling task was cancelled by someone else while it waited: not
    /// a timeout. Propagate it with `?`.
    Cancelled(Cancelled),
}

impl TimeoutError {
    /// Whether the deadline passed.
    pub fn is_elapsed(&self) -> bool {
        matches!(self, TimeoutError::Elapsed(_))
    }

    /// Whether the calling task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TimeoutError::Cancelled(_))
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutError::Elapsed(e) => e.fmt(f),
            TimeoutError::Cancelled(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for TimeoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TimeoutError::Elapsed(_) => None,
            TimeoutError::Cancelled(c) => Some(c),
        }
    }
}

impl From<Cancelled> for TimeoutError {
    fn from(c: Cancelled) -> TimeoutError {
        TimeoutError::Cancelled(c)
    }
}

impl From<TimeoutError> for std::io::Error {
    /// `Elapsed` becomes `io::ErrorKind::TimedOut`; `Cancelled` the same
    /// error as [`Cancelled`] gives.
    fn from(e: TimeoutError) -> std::io::Error {
        match e {
            TimeoutError::Elapsed(e) => std::io::Error::new(std::io::ErrorKind::TimedOut, e),
            TimeoutError::Cancelled(c) => c.into(),
        }
    }
}

/// Details of a timeout: how the clean-up after the deadline went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    /// Time from the deadline firing to the inner future finishing.
    pub(super) cleanup: Duration,
    /// The grace period ran out and the inner future was dropped.
    pub(super) cut_short: bool,
}

impl Elapsed {
    /// How long the inner future's clean-up took after the deadline fired.
    pub fn cleanup(&self) -> Duration {
        self.cleanup
    }

    /// Whether the clean-up was cut short by [`Timeout::cleanup_grace`](crate::Timeout::cleanup_grace).
    pub fn cut_short(&self) -> bool {
        self.cut_short
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cut_short {
            write!(
                f,
                "deadline elapsed; clean-up cut short after {:?}",
                self.cleanup
            )
        } else {
            write!(f, "deadline elapsed (clean-up took {:?})", self.cleanup)
        }
    }
}

impl std::error::Error for Elapsed {}

// ---------------------------------------------------------------------------
// as_completed

/// Why [`AsCompleted::next`](crate::AsCompleted::next) gave no completed task.
#[non_exhaustive]
pub enum NextError<W> {
    /// This input had not completed when the timeout passed (asyncio's
    /// `TimeoutError`); its handle is given back and nothing is cancelled.
    TimedOut(W),
    /// The awaiting task was cancelled; the iterator keeps its place.
    Cancelled(Cancelled),
}

impl<W> NextError<W> {
    /// Whether the timeout passed.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, NextError::TimedOut(_))
    }
}

impl<W> fmt::Debug for NextError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextError::TimedOut(_) => f.write_str("NextError::TimedOut"),
            NextError::Cancelled(_) => f.write_str("NextError::Cancelled"),
        }
    }
}

impl<W> fmt::Display for NextError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextError::TimedOut(_) => {
                f.write_str("as_completed timed out before this task completed")
            }
            NextError::Cancelled(c) => c.fmt(f),
        }
    }
}

impl<W> std::error::Error for NextError<W> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NextError::Cancelled(c) => Some(c),
            NextError::TimedOut(_) => None,
        }
    }
}

/// The outcome of one [`Results`](crate::Results) future.
pub type NextResult<T> = Result<Result<T, TaskError>, AsCompletedError>;

/// Why a [`Results`](crate::Results) future gave no task outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsCompletedError {
    /// The timeout passed first (asyncio's `TimeoutError`); nothing was cancelled.
    TimedOut,
    /// The awaiting task was cancelled.
    Cancelled(Cancelled),
}

impl fmt::Display for AsCompletedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsCompletedError::TimedOut => f.write_str("as_completed timed out"),
            AsCompletedError::Cancelled(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for AsCompletedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AsCompletedError::Cancelled(c) => Some(c),
            AsCompletedError::TimedOut => None,
        }
    }
}

// ---------------------------------------------------------------------------
// wait

/// Why [`wait`](crate::wait) did not return normally. No handle is ever lost: a
/// cancelled wait gives every one of them back.
#[non_exhaustive]
pub enum WaitError<W> {
    /// The set of tasks was empty (asyncio's `ValueError`).
    Empty,
    /// The waiting task was cancelled; nothing was cancelled by `wait`.
    Cancelled(Waited<W>),
}

impl<W> fmt::Debug for WaitError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Empty => f.write_str("WaitError::Empty"),
            WaitError::Cancelled(w) => write!(
                f,
                "WaitError::Cancelled {{ done: {}, pending: {} }}",
                w.done.len(),
                w.pending.len()
            ),
        }
    }
}

impl<W> fmt::Display for WaitError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Empty => f.write_str("wait() was given an empty set of tasks"),
            WaitError::Cancelled(_) => f.write_str("the waiting task was cancelled"),
        }
    }
}

impl<W> std::error::Error for WaitError<W> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Cancelled(_) => Some(&crate::Cancelled),
            WaitError::Empty => None,
        }
    }
}

// ---------------------------------------------------------------------------
// group

/// [`TaskGroup::spawn`](crate::TaskGroup::spawn) refused a child: asyncio's `RuntimeError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupClosed {
    /// The group is aborting after a failure or `cancel()`.
    Aborting,
    /// The group has finished.
    Finished,
}

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupClosed::Aborting => "the task group is shutting down",
            GroupClosed::Finished => "the task group is finished",
        })
    }
}

impl std::error::Error for GroupClosed {}

impl From<GroupClosed> for std::io::Error {
    /// An `Other` error carrying the `GroupClosed`, so a group body can use
    /// `?` on `spawn` and on sleeps and sockets with one error type.
    fn from(e: GroupClosed) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// How a [`task_group`](crate::task_group) failed: asyncio's `ExceptionGroup`, or a
/// cancellation from outside.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GroupError {
    /// Children and/or the body failed; in the order observed, body last.
    Failed(Vec<Failure>),
    /// The parent task was cancelled from outside (or the group was
    /// cancelled with [`TaskGroup::cancel`](crate::TaskGroup::cancel)) and nothing failed.
    Cancelled,
}

impl GroupError {
    /// The failures (empty for `Cancelled`).
    pub fn failures(&self) -> &[Failure] {
        match self {
            GroupError::Failed(f) => f,
            GroupError::Cancelled => &[],
        }
    }

    /// Whether this is a cancellation rather than failures.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GroupError::Cancelled)
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Cancelled => f.write_str("the task group was cancelled"),
            GroupError::Failed(failures) => {
                write!(
                    f,
                    "unhandled errors in a task group ({} sub-error",
                    failures.len()
                )?;
                if failures.len() != 1 {
                    f.write_str("s")?;
                }
                f.write_str(")")?;
                for failure in failures {
                    write!(f, "; {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Cancelled => Some(&Cancelled),
            GroupError::Failed(_) => None,
        }
    }
}

/// The child task a [`Failure`] came from: its id and name when it failed
/// (plain data, so that [`GroupError`] is `Send + Sync` and fits
/// `Box<dyn Error + Send + Sync>` and `io::Error`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FailedTask {
    /// The task's id.
    pub id: TaskId,
    /// The task's name when it failed.
    pub name: String,
}

impl FailedTask {
    /// Whether this is `task`.
    pub fn is(&self, task: &TaskRef) -> bool {
        self.id == task.id()
    }
}

impl From<&TaskRef> for FailedTask {
    fn from(task: &TaskRef) -> FailedTask {
        FailedTask {
            id: task.id(),
            name: task.name(),
        }
    }
}

/// One failure in a [`GroupError`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The child that failed; `None` for the body.
    pub task: Option<FailedTask>,
    /// Error or panic.
    pub kind: FailureKind,
    /// The error's `Display` text or the panic message.
    pub message: String,
    /// The group error this failure carries, if the failing code ran a
    /// group itself (nested groups nest their errors).
    pub nested: Option<Box<GroupError>>,
}

impl Failure {
    pub(super) fn body<E: fmt::Display + 'static>(e: &E) -> Failure {
        Failure {
            task: None,
            kind: FailureKind::Error,
            message: e.to_string(),
            nested: find_group_error(e).map(Box::new),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.task {
            Some(t) => t.name.as_str(),
            None => "the body",
        };
        match self.kind {
            FailureKind::Error => write!(f, "{who} failed: {}", self.message),
            FailureKind::Panic => write!(f, "{who} panicked: {}", self.message),
        }
    }
}

/// What kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The code returned `Err`.
    Error,
    /// The task panicked.
    Panic,
}

// ---------------------------------------------------------------------------
// gather

/// Why [`try_gather`](crate::try_gather) gave no values: the first failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum GatherError<E> {
    /// A child returned this `Err` (asyncio: the exception `gather` raises).
    Failed(E),
    /// A child panicked or ended cancelled, or the awaiting task was
    /// cancelled.
    Task(TaskError),
}

impl<E> GatherError<E> {
    /// Whether this is a cancellation (of a child or of the awaiting task).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GatherError::Task(e) if e.is_cancelled())
    }
}

impl<E: fmt::Display> fmt::Display for GatherError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatherError::Failed(e) => write!(f, "a gathered task failed: {e}"),
            GatherError::Task(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GatherError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GatherError::Failed(e) => Some(e),
            GatherError::Task(e) => Some(e),
        }
    }
}
