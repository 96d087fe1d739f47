//! The registration that makes `cancel()` wake a checkpoint whose waker is
//! not the task's own, and the one poll helper every checkpoint uses.
//!
//! # Ground rules
//!
//! * A checkpoint calls [`CancelSlot::poll_checkpoint`] (or `deliver_pending`
//!   then `arm`) on every poll. Delivery consumes the request: exactly one
//!   checkpoint sees each `cancel()`.
//! * When a checkpoint is pending under a combinator (`FuturesUnordered`, the
//!   crate's own `wait`), its waker is the combinator's child waker, and a
//!   wake of the task alone would not re-poll it. The slot therefore stores
//!   that waker in the task (a [`CancelWaker`]), and `cancel()` wakes them
//!   all. When the waker is the task's own, nothing is stored: waking the
//!   task is enough, and the common path costs nothing.
//! * A registration is removed when the checkpoint completes or is dropped.

use std::panic::Location;
use std::task::{Context, Poll};

use super::Cancelled;
use crate::task::{CancelWaker, WaitKind, current_task};

/// A checkpoint's registration with the task it is pending in.
#[derive(Debug)]
pub(crate) struct CancelSlot {
    /// The waker stored in the task, while armed.
    reg: Option<CancelWaker>,
    /// The task's delivery count when this checkpoint last parked: a later
    /// delivery still in force is this checkpoint's too (`cancel::state`).
    parked_at: Option<u32>,
    /// What the checkpoint waits on, for the task's await site.
    kind: WaitKind,
}

impl CancelSlot {
    /// An unarmed slot of a checkpoint waiting on `kind`.
    pub(crate) const fn new(kind: WaitKind) -> CancelSlot {
        CancelSlot {
            reg: None,
            parked_at: None,
            kind,
        }
    }

    /// Wraps an existing registration (the awaiter's, kept in a task).
    pub(crate) fn from_registration(reg: Option<CancelWaker>, kind: WaitKind) -> CancelSlot {
        CancelSlot {
            reg,
            parked_at: None,
            kind,
        }
    }

    /// The checkpoint's delivery: `Err(Cancelled)` if a request is pending,
    /// or was delivered elsewhere in the task since this checkpoint parked.
    /// On `Err` the slot is disarmed (the checkpoint is done).
    #[inline]
    pub(crate) fn deliver(&mut self) -> Result<(), Cancelled> {
        let delivered = super::state::deliver(self.parked_at);
        if delivered.is_err() {
            self.disarm();
        }
        delivered
    }

    /// Gives the registration up, to be kept elsewhere.
    pub(crate) fn into_registration(mut self) -> Option<CancelWaker> {
        self.reg.take()
    }

    /// Polls a checkpoint: delivers a pending cancellation first, else polls
    /// `f`; while `f` is pending, `cancel()` of the task wakes `cx`'s waker.
    #[inline]
    #[track_caller]
    pub(crate) fn poll_checkpoint<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, Cancelled>> {
        if let Err(c) = self.deliver() {
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

    /// The checkpoint returns `Pending`: marks the task parked at a
    /// checkpoint (at the caller's await site) and makes `cancel()` of it
    /// wake `cx.waker()`.
    #[track_caller]
    pub(crate) fn arm(&mut self, cx: &Context<'_>) {
        let waker = cx.waker();
        let (kind, caller) = (self.kind, Location::caller());
        let keep = current_task::with_site(|task, site| {
            let site = super::state::await_site(site, caller, kind);
            self.parked_at = Some(super::state::park_in(task.header(), site));
            if task.is_own_waker(waker) {
                return false;
            }
            match &self.reg {
                Some(reg) if reg.is_in(task) => reg.update(waker),
                _ => {
                    let old = self.reg.replace(CancelWaker::register(task, waker));
                    drop(old);
                }
            }
            true
        });
        if keep != Some(true) {
            // Our own waker (a plain wake of the task is enough), or no
            // task: no registration, but the checkpoint stays parked.
            drop(self.reg.take());
        }
    }

    /// The checkpoint is done: removes the registration, if any.
    #[inline]
    pub(crate) fn disarm(&mut self) {
        self.parked_at = None;
        drop(self.reg.take());
    }
}
