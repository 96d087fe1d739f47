//! Cooperative cancellation: the [`Cancelled`] error, the checkpoints that
//! deliver it, and the per-checkpoint registration that lets `cancel()` wake
//! a checkpoint buried under a combinator.
//!
//! This module owns the rule "a cancellation request is delivered once, at
//! the task's next checkpoint". It never drops a future: dropping is
//! `abort()`'s job, in the executor.

mod checkpoint;
mod scope;
mod slot;

pub use checkpoint::{YieldNow, cancellable, checkpoint, yield_now};
pub(crate) use scope::CancelScope;
pub(crate) use slot::{CancelSlot, deliver_pending};

use std::error::Error;
use std::fmt;
use std::io;

/// The error a checkpoint returns when the task's cancellation is delivered
/// there: asyncio's `CancelledError`.
///
/// It converts into [`io::Error`] and into boxed errors, so `?` carries it
/// out of the task's code; [`is_cancelled`] recognises it after conversion.
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

impl Error for Cancelled {}

impl From<Cancelled> for io::Error {
    /// An `io::ErrorKind::Other` error wrapping `Cancelled` (not `Interrupted`,
    /// which retry loops would swallow).
    fn from(c: Cancelled) -> io::Error {
        io::Error::other(c)
    }
}

/// Whether `err`, or any error in its source chain (looking inside
/// `io::Error`s too), is a [`Cancelled`].
///
/// # Examples
/// ```
/// let e: std::io::Error = taskloop::Cancelled.into();
/// assert!(taskloop::is_cancelled(&e));
/// let boxed: Box<dyn std::error::Error + Send + Sync> = taskloop::Cancelled.into();
/// assert!(taskloop::is_cancelled(&*boxed));
/// assert!(!taskloop::is_cancelled(&std::io::Error::other("no")));
/// ```
pub fn is_cancelled(err: &(dyn Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<Cancelled>() {
            return true;
        }
        // `io::Error::source` skips the wrapped error itself; look inside.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if is_cancelled(inner) {
                return true;
            }
        }
        next = e.source();
    }
    false
}
