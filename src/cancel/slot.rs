//! Delivery of a pending cancellation, and the registration that makes
//! `cancel()` wake a checkpoint whose waker is not the task's own.
//!
//! # Ground rules
//!
//! * A checkpoint calls [`CancelSlot::poll_checkpoint`] (or `deliver` then
//!   `arm`) on every poll. Delivery consumes the request: exactly one
//!   checkpoint sees each `cancel()`.
//! * When a checkpoint is pending under a combinator (`FuturesUnordered`, the
//!   crate's own `wait`), its waker is the combinator's child waker, and a
//!   wake of the task alone would not re-poll it. The slot therefore stores
//!   that waker in the task's `cancel_wakers`, and `cancel()` wakes them all.
//!   When the waker is the task's own, nothing is stored: waking the task is
//!   enough, and the common path costs nothing.
//! * A registration is removed when the checkpoint completes or is dropped.

use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::Cancelled;
use crate::runtime::context;
use crate::task::TaskRef;
use crate::task::raw::{Header, is_task_waker};

/// Delivers the current task's pending cancellation request, if it has one.
pub(crate) fn deliver_pending() -> Result<(), Cancelled> {
    match context::current_task() {
        // SAFETY: the executor keeps the current task alive while polling it.
        Some(ptr) if unsafe { ptr.as_ref() }.take_cancel_for_delivery() => Err(Cancelled),
        _ => Ok(()),
    }
}

/// A checkpoint's registration with the task it is pending in.
#[derive(Debug, Default)]
pub(crate) struct CancelSlot {
    /// The task and the key of our waker in its `cancel_wakers`, while armed.
    reg: Option<(TaskRef, usize)>,
}

impl CancelSlot {
    /// An unarmed slot.
    pub(crate) const fn new() -> CancelSlot {
        CancelSlot { reg: None }
    }

    /// Polls a checkpoint: delivers a pending cancellation first, else polls
    /// `f`; while `f` is pending, `cancel()` of the task wakes `cx`'s waker.
    pub(crate) fn poll_checkpoint<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, Cancelled>> {
        if let Err(c) = deliver_pending() {
            self.disarm();
            return Poll::Ready(Err(c));
        }
        match f(cx) {
            Poll::Ready(v) => {
                self.disarm();
                Poll::Ready(Ok(v))
            }
            Poll::Pending => {
                self.arm(cx);
                Poll::Pending
            }
        }
    }

    /// Whether a registration is stored.
    pub(crate) fn is_armed(&self) -> bool {
        self.reg.is_some()
    }

    /// Makes `cancel()` of the current task wake `cx.waker()`.
    pub(crate) fn arm(&mut self, cx: &Context<'_>) {
        let Some(ptr) = context::current_task() else {
            self.disarm();
            return;
        };
        if is_task_waker(cx.waker(), ptr) {
            self.disarm();
            return;
        }
        match &self.reg {
            Some((task, key)) if task.as_ptr() == ptr => {
                let key = *key;
                // Swap inside, drop outside: a waker's destructor may run
                // arbitrary code, which must not find the extras taken out.
                let old = task.header().peek_extras(|e| {
                    let w = e?.cancel_wakers.get_mut(key)?;
                    if w.will_wake(cx.waker()) {
                        None
                    } else {
                        Some(std::mem::replace(w, cx.waker().clone()))
                    }
                });
                drop(old);
            }
            _ => {
                self.disarm();
                self.register(ptr, cx.waker());
            }
        }
    }

    fn register(&mut self, ptr: NonNull<Header>, waker: &Waker) {
        // SAFETY: `ptr` is the task being polled, alive for this call; the
        // new `TaskRef` takes its own reference.
        let task = unsafe { TaskRef::clone_from_ptr(ptr) };
        let key = task
            .header()
            .with_extras(|e| e.cancel_wakers.insert(waker.clone()));
        self.reg = Some((task, key));
    }

    /// Removes the registration, if any.
    #[inline]
    pub(crate) fn disarm(&mut self) {
        if let Some((task, key)) = self.reg.take() {
            let old = task
                .header()
                .peek_extras(|e| e.and_then(|e| e.cancel_wakers.try_remove(key)));
            drop(old);
        }
    }
}

impl Drop for CancelSlot {
    #[inline]
    fn drop(&mut self) {
        self.disarm();
    }
}
