//! The errors of the waiting primitives, in one place: what a timeout scope,
//! `as_completed`, `wait` and a task group report instead of a value.
//!
//! Each converts or chains the way Rust users expect (`Display`, `Error`
//! with a source, `From<Cancelled>`, `Into<io::Error>` where it helps); none
//! of them loses a handle the caller passed in.

use std::fmt;
use std::time::Duration;

use super::wait_set::Waited;
use crate::cancel::Cancelled;
use crate::task::TaskError;

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
