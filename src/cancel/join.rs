//! Awaiting a [`Task`]: asyncio's rule that cancelling a task cancels what
//! it awaits.
//!
//! It owns the forwarding of the awaiter's request to the awaited task and
//! the return of that cancellation to the awaiter. It never delivers the
//! awaiter's request itself: the awaited task's outcome does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{CancelSlot, state};
use crate::task::state::Flags;
use crate::task::{Task, TaskError, WaitKind, WakerSlot, current_task, take_join_slot};

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let h = this.header();
        if h.state.is_complete() {
            drop(take_join_slot(h));
            let out = this
                .take_output()
                .expect("`Task` polled after its output was taken");
            let forwarded = this.header().flags.get().contains(Flags::JOIN_FORWARDED);
            if matches!(&out, Err(e) if e.is_cancelled()) {
                current_task::with(|cur| {
                    if forwarded {
                        // Our own cancellation came back through the awaited
                        // task: from here on the awaiting task has seen it.
                        state::mark_delivered(cur.header());
                    } else {
                        // The awaited task was cancelled by someone else
                        // before our own pending request could be forwarded:
                        // this `Err` delivers it (asyncio ends both cancelled).
                        state::take_for_delivery(cur.header());
                    }
                });
            }
            return Poll::Ready(out);
        }
        // Where this await parked last: kept in the extras only when the
        // awaiting task had deliveries (rare); a parked await without an
        // entry parked at count 0 (its waker is stored from then on).
        let old_waker = h.join_waker.take();
        let parked_at = h
            .peek_extras(|e| e.and_then(|e| e.live.join_parked_at))
            .or_else(|| old_waker.is_some().then_some(0));
        let forward = current_task::with(|cur| {
            assert!(
                cur != this.as_task_ref(),
                "a task cannot await its own handle (it would wait forever)"
            );
            assert!(
                cur.same_runtime(this.as_task_ref()),
                "a taskloop Task was awaited from a task of another runtime: it can only \
                 make progress while its own runtime runs, so this would hang; await it \
                 inside its own runtime's block_on"
            );
            // A pending request is forwarded; so is a delivery elsewhere in
            // the awaiting task since this await parked (the combinator rule).
            state::take_for_forward(cur.header()) || state::delivered_since(cur.header(), parked_at)
        });
        if forward == Some(true) {
            h.update_flags(|f| f.with(Flags::JOIN_FORWARDED));
            this.cancel();
        }
        let mut slot = WakerSlot::from(old_waker);
        let old = slot.register(cx.waker());
        h.join_waker.set(slot.take());
        drop(old);
        // Make a cancel of the awaiting task wake this await, even under a
        // combinator (the registration is usually not needed and not stored).
        let mut slot = CancelSlot::from_registration(take_join_slot(h), WaitKind::Task);
        slot.arm(cx);
        let reg = slot.into_registration();
        let parked_at = state::park(WaitKind::Task).filter(|&n| n != 0);
        if reg.is_some() || parked_at.is_some() {
            let old = h.with_extras(|e| {
                e.live.join_parked_at = parked_at;
                std::mem::replace(&mut e.live.join_slot, reg)
            });
            drop(old);
        }
        Poll::Pending
    }
}
