//! Cooperative cancellation, the layer above `task`: the state machine of a
//! task's cancellation ([`state`]), the checkpoints that deliver it, the
//! forwarding of a cancellation to an awaited task (`join`), the counter
//! rule of the scopes that cancel their own task (`scope`), and the
//! per-checkpoint registration that lets `cancel()` wake a checkpoint buried
//! under a combinator (`slot`).
//!
//! This module owns the rule "a cancellation request is delivered once, at
//! the task's next checkpoint". It never drops a future: dropping is
//! `abort()`'s job, in the executor.

mod checkpoint;
mod join;
mod scope;
mod slot;
pub(crate) mod state;

pub use checkpoint::{YieldNow, cancellable, checkpoint, yield_now};
pub(crate) use scope::CancelScope;
pub(crate) use slot::CancelSlot;
pub(crate) use state::deliver_pending;

use std::error::Error;

pub use crate::task::Cancelled;
use std::io;

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
