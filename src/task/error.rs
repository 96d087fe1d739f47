//! Errors of the task API: how a task failed, and misuse of a task's state.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

/// The error a checkpoint returns when the task's cancellation is delivered
/// there: asyncio's `CancelledError`.
///
/// It converts into [`std::io::Error`] and into boxed errors, so `?` carries
/// it out of the task's code; [`is_cancelled`](crate::is_cancelled)
/// recognises it after conversion.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let task = taskloop::spawn(async {
///     taskloop::yield_now().await?; // the cancellation is delivered here
///     Ok::<_, std::io::Error>(())
/// });
/// task.cancel();
/// assert!(task.await.unwrap_err().is_cancelled());
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was cancelled")
    }
}

impl std::error::Error for Cancelled {}

impl From<Cancelled> for std::io::Error {
    /// An `io::ErrorKind::Other` error wrapping `Cancelled` (not `Interrupted`,
    /// which retry loops would swallow).
    fn from(c: Cancelled) -> std::io::Error {
        std::io::Error::other(c)
    }
}

/// The message of a panic payload, when it is a string (as with `panic!`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Why awaiting a [`Task`](crate::Task) gave no value: the task was
/// cancelled, it panicked, or (a [`task_group`](crate::task_group) child) it
/// failed with an error that moved into the group's
/// [`GroupError`](crate::GroupError).
///
/// asyncio raises `CancelledError` or the task's exception; taskloop returns
/// this error instead. It converts into [`std::io::Error`] and into boxed
/// errors, so `?` works in the usual places.
pub struct TaskError {
    /// Which failure, and the panic payload if it was a panic. Boxed so that
    /// a task's stored `Result<T, TaskError>` stays small.
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panicked(Box<Panic>),
    /// A task-group child returned an error; the message is its `Display`
    /// text, the value went to the group. A thin box (a `Box<str>` is two
    /// words): every variant's data is then one word, a `TaskError` two,
    /// and a `Result<usize, TaskError>` two rather than three (a task-group
    /// failure, the only maker, is cold).
    #[allow(clippy::box_collection)] // the point: one word, not three
    Failed(Box<String>),
}

/// A caught panic.
struct Panic {
    /// The message, copied out at creation so reading it never locks.
    message: Option<String>,
    /// The payload sits in a `Mutex` only so that `TaskError` is `Sync` (and
    /// fits `Box<dyn Error + Send + Sync>`).
    payload: Mutex<Box<dyn Any + Send>>,
}

impl TaskError {
    pub(crate) fn cancelled() -> TaskError {
        TaskError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> TaskError {
        let message = panic_message(&*payload);
        TaskError {
            repr: Repr::Panicked(Box::new(Panic {
                message,
                payload: Mutex::new(payload),
            })),
        }
    }

    pub(crate) fn failed(message: String) -> TaskError {
        TaskError {
            repr: Repr::Failed(Box::new(message)),
        }
    }

    /// Whether the task was a [`task_group`](crate::task_group) child that
    /// failed with an error: the error value itself is in the group's
    /// [`GroupError`](crate::GroupError), its text in
    /// [`failure_message`](Self::failure_message).
    pub fn is_failed(&self) -> bool {
        matches!(self.repr, Repr::Failed(_))
    }

    /// The `Display` text of a failed task-group child's error.
    pub fn failure_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Failed(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the task ended cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic message, when the payload was a string (as with `panic!`).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(p) => p.message.as_deref(),
            Repr::Cancelled | Repr::Failed(_) => None,
        }
    }

    /// The panic payload, to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Errors
    /// Gives the error back if the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, TaskError> {
        match self.repr {
            Repr::Panicked(p) => Ok(p.payload.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled | Repr::Failed(_) => Err(self),
        }
    }

    /// The panic payload.
    ///
    /// # Panics
    /// If the task did not panic.
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic().unwrap_or_else(|e| {
            panic!("TaskError::into_panic called on an error that is not a panic: {e}")
        })
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("TaskError::Cancelled"),
            Repr::Panicked(p) => f
                .debug_struct("TaskError::Panicked")
                .field("message", &p.message)
                .finish(),
            Repr::Failed(m) => f.debug_tuple("TaskError::Failed").field(m).finish(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panicked(p) => match &p.message {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
            Repr::Failed(m) => write!(f, "task failed: {m}"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.repr {
            Repr::Cancelled => Some(&Cancelled),
            Repr::Panicked(_) | Repr::Failed(_) => None,
        }
    }
}

impl From<TaskError> for std::io::Error {
    /// A cancelled task becomes the same I/O error as [`Cancelled`] does, so
    /// [`is_cancelled`](crate::is_cancelled) recognises it; a panic becomes
    /// an `Other` error carrying the `TaskError`.
    fn from(e: TaskError) -> std::io::Error {
        if e.is_cancelled() {
            Cancelled.into()
        } else {
            std::io::Error::other(e)
        }
    }
}

/// A task's outcome was asked for in a state that does not have one:
/// asyncio's `InvalidStateError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidStateError {
    /// The task is not done yet.
    NotDone,
    /// The output was already moved out (the task was awaited, or
    /// [`Task::take_result`](crate::Task::take_result) was called).
    Taken,
}

impl fmt::Display for InvalidStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidStateError::NotDone => "the task is not done yet",
            InvalidStateError::Taken => "the task's output was already taken",
        })
    }
}

impl std::error::Error for InvalidStateError {}
