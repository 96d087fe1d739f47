//! The errors of a queue's operations.

use std::fmt;

/// The queue was shut down (asyncio's `QueueShutDown`); a failed put gives
/// its item back in it, a failed get holds `()`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> QueueShutDown<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

/// Why [`Queue::put_nowait`](super::Queue::put_nowait) did not put its item, which it gives back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue has no room, or putters wait for room (asyncio's
    /// `QueueFull`).
    Full(T),
    /// The queue is shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::ShutDown(_) => "ShutDown(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "the queue is full",
            TryPutError::ShutDown(_) => "the queue is shut down",
        })
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::get_nowait`](super::Queue::get_nowait) returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryGetError {
    /// No item is there (asyncio's `QueueEmpty`).
    Empty,
    /// No item is there and the queue is shut down (asyncio's
    /// `QueueShutDown`).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "the queue is empty",
            TryGetError::ShutDown => "the queue is shut down",
        })
    }
}

impl std::error::Error for TryGetError {}

/// [`Queue::task_done`](super::Queue::task_done) was called more times than items were put
/// (asyncio's `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
