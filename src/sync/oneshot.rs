//! A one-value channel: [`channel`] gives a [`Sender`] that sends once and
//! a [`Receiver`] that is a future of the value.
//!
//! It is an unbounded [`mpsc`] channel underneath, so it has
//! the same guarantees; sending consumes the sender.
//!
//! # Examples
//! ```
//! use taskloop::sync::oneshot;
//! # taskloop::run(async {
//! let (tx, rx) = oneshot::channel();
//! taskloop::spawn(async move { tx.send(42).unwrap() });
//! assert_eq!(rx.await?, Ok(42));
//!
//! let (tx, rx) = oneshot::channel::<u32>();
//! drop(tx);
//! assert_eq!(rx.await?, Err(oneshot::RecvError));
//! # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::mpsc;
use crate::cancel::Cancelled;

/// A one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::unbounded();
    (Sender { inner: tx }, Receiver { inner: rx })
}

/// Sends the one value; dropping it unsent makes the receiver fail with
/// [`RecvError`].
///
/// # Examples
/// ```
/// use taskloop::sync::oneshot;
/// let (tx, rx) = oneshot::channel();
/// assert!(!tx.is_closed());
/// drop(rx);
/// assert_eq!(tx.send("late"), Err("late")); // the value comes back
/// ```
pub struct Sender<T> {
    /// The channel.
    inner: mpsc::Sender<T>,
}

impl<T> Sender<T> {
    /// Sends `value` (never waits).
    ///
    /// # Errors
    /// `Err(value)` if the receiver was dropped or closed.
    pub fn send(self, value: T) -> Result<(), T> {
        self.inner
            .try_send(value)
            .map_err(mpsc::TrySendError::into_inner)
    }

    /// Whether the receiver was dropped or closed: a send would fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of the value: `Ok(value)`, or `Err(RecvError)` if the sender
/// was dropped without sending.
///
/// # Cancellation
/// A checkpoint, even when the value is there: a pending cancellation is
/// delivered as `Err(Cancelled)`, and the value stays in the receiver for a
/// later await or [`try_recv`](Self::try_recv). A receive given up (as by
/// a `wait_for` timeout) loses nothing either.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::sync::oneshot;
/// # taskloop::run(async {
/// let (tx, mut rx) = oneshot::channel();
/// let late = taskloop::wait_for(&mut rx, Duration::from_millis(1)).await;
/// assert!(late.unwrap_err().is_elapsed());
/// tx.send(7).unwrap();
/// assert_eq!(rx.await?, Ok(7));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Receiver<T> {
    /// The channel.
    inner: mpsc::Receiver<T>,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if it was not sent yet,
    /// [`TryRecvError::Closed`] if it never will be (or was taken).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv().map_err(|e| match e {
            mpsc::TryRecvError::Empty => TryRecvError::Empty,
            mpsc::TryRecvError::Disconnected => TryRecvError::Closed,
        })
    }

    /// Refuses the value: a later send fails, giving it back; a value sent
    /// already can still be received.
    pub fn close(&mut self) {
        self.inner.close();
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<Result<T, RecvError>, Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner
            .poll_recv(cx)
            .map_ok(|value| value.ok_or(RecvError))
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver")
            .field("ready", &!self.inner.is_empty())
            .field("closed", &self.inner.is_closed())
            .finish()
    }
}

/// The sender was dropped without sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// The value was not sent yet.
    Empty,
    /// The sender is gone without sending, or the value was taken.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "the value was not sent yet",
            TryRecvError::Closed => "no value will come",
        })
    }
}

impl std::error::Error for TryRecvError {}
