//! asyncio's counter rule, for the primitives that cancel their own task
//! (timeout scopes, task groups) and must later tell their own cancellation
//! from anyone else's.
//!
//! It owns the entry snapshot of the task's cancellation state. It never
//! requests a cancellation itself: the primitive does, and then asks this
//! scope to settle the outcome.

use super::state;
use crate::task::Header;

/// A task's cancellation state on entry to a scope.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CancelScope {
    /// `cancelling()` on entry.
    cancelling: u16,
    /// The task had seen `Cancelled` before entry (hidden while inside).
    delivered_before: bool,
    /// A request was already pending on entry (not ours to withdraw).
    pending_before: bool,
}

impl CancelScope {
    /// Records the state and hides an earlier delivery, so that a delivery
    /// inside the scope can be told apart from it.
    pub(crate) fn enter(h: &Header) -> CancelScope {
        let pending_before = state::is_pending(h);
        CancelScope {
            cancelling: h.cancelling.get(),
            delivered_before: state::hide_delivery(h),
            pending_before,
        }
    }

    /// Whether a cancellation was delivered inside the scope and is still
    /// in force.
    pub(crate) fn delivered_inside(h: &Header) -> bool {
        state::is_delivered(h)
    }

    /// Takes back the scope's own request (if it made one) and reports
    /// whether no other request is outstanding; if so, the delivery and the
    /// pending flag that request caused are cleared as well.
    pub(crate) fn settle(&self, h: &Header, own_request: bool) -> bool {
        if own_request {
            state::uncancel(h);
        }
        let only_ours = h.cancelling.get() <= self.cancelling;
        if only_ours {
            state::withdraw(h, self.pending_before);
        }
        only_ours
    }

    /// Restores the delivery hidden on entry.
    pub(crate) fn exit(&self, h: &Header) {
        if self.delivered_before {
            state::mark_delivered(h);
        }
    }
}
