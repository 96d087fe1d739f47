//! The cancellation state machine of a task, in one place.
//!
//! A task's cancellation state is two flags and a counter in its header
//! (`CANCEL_PENDING`, `CANCEL_DELIVERED`, `cancelling`); this file is the
//! only code that changes them, through the transitions below.
//!
//! ```text
//!   cancel() ──► PENDING ──checkpoint──► DELIVERED ──task returns──► outcome "cancelled"
//!                  │  └──awaiting a Task──► forwarded to it (JOIN_FORWARDED on the awaited)
//!                  └──uncancel() to 0──► cleared (DELIVERED too: the request is withdrawn)
//! ```
//!
//! It never drops a future (that is `abort()`, in the executor) and never
//! decides a primitive's outcome (that is [`CancelScope`](super::CancelScope)).

use std::panic::Location;

use crate::task::current_task;
use crate::task::state::Flags;
use crate::task::{AwaitSite, Cancelled, Header, TaskRef, WaitKind};

impl TaskRef {
    /// Requests cancellation: asyncio's `Task.cancel()`.
    ///
    /// Returns `false` if the task is already done. Otherwise it adds one to
    /// [`cancelling`](Self::cancelling), records the request and wakes the
    /// task (and any checkpoint of it pending under a combinator). The
    /// request is delivered once, at the task's next checkpoint, as
    /// `Err(Cancelled)`; the task may then run clean-up code before it ends.
    /// A task cancelled before it first ran never runs. A task that, polled
    /// with the request outstanding, waits outside every checkpoint (in a
    /// future of another crate) has its future dropped and ends cancelled:
    /// a cancellation always ends the task.
    ///
    /// It returns at once: to wait for the clean-up, await the task.
    pub fn cancel(&self) -> bool {
        let h = self.header();
        if h.state.is_complete() {
            return false;
        }
        h.cancelling.set(h.cancelling.get().saturating_add(1));
        h.update_flags(|f| f.with(Flags::CANCEL_PENDING));
        let wakers: Vec<_> = h.peek_extras(|e| match e {
            Some(e) if !e.cancel_wakers.is_empty() => {
                e.cancel_wakers.iter().map(|(_, w)| w.clone()).collect()
            }
            _ => Vec::new(),
        });
        self.wake();
        for w in wakers {
            crate::task::wake_caught(w);
        }
        true
    }

    /// The number of pending cancellation requests (asyncio's `cancelling()`):
    /// raised by each [`cancel`](Self::cancel), lowered only by
    /// [`uncancel`](Self::uncancel). It saturates at 65,535.
    pub fn cancelling(&self) -> u32 {
        u32::from(self.header().cancelling.get())
    }

    /// Takes back one cancellation request and returns the new count
    /// (asyncio's `uncancel()`, with 3.13's rule).
    ///
    /// When the count reaches zero, a request not yet delivered is dropped,
    /// and a delivered one is suppressed: the task, if it now returns a
    /// value, counts as finished with that value rather than cancelled.
    pub fn uncancel(&self) -> u32 {
        u32::from(uncancel(self.header()))
    }
}

/// Delivers the current task's pending cancellation request, if it has
/// one, to a checkpoint that has not parked yet: what a checkpoint that
/// never suspends ([`checkpoint`](crate::checkpoint)) calls.
#[inline]
pub(crate) fn deliver_pending() -> Result<(), Cancelled> {
    deliver(None)
}

/// What every checkpoint calls first: `Err(Cancelled)` if a request is
/// pending (which delivers it), or if the checkpoint parked (`parked_at`,
/// from [`park`]) before a delivery that is still in force (the combinator
/// rule: every checkpoint that was waiting when the task saw `Cancelled`
/// sees it too, as asyncio's `gather` cancels every child).
#[inline]
pub(crate) fn deliver(parked_at: Option<u32>) -> Result<(), Cancelled> {
    let cancelled = current_task::with(|t| {
        let h = t.header();
        take_for_delivery(h) || delivered_since(h, parked_at)
    });
    match cancelled {
        Some(true) => Err(Cancelled),
        _ => Ok(()),
    }
}

/// Whether a delivery still in force happened after a checkpoint parked at
/// `parked_at` (`None`: it never parked).
#[inline]
pub(crate) fn delivered_since(h: &Header, parked_at: Option<u32>) -> bool {
    parked_at.is_some_and(|at| at != h.flags.get().deliveries()) && is_delivered(h)
}

/// [`deliver`] then, if nothing was delivered, [`park`], with one lookup of
/// the current task: for a checkpoint that knows it will return `Pending`
/// (a yield).
#[inline]
#[track_caller]
pub(crate) fn deliver_or_park(
    parked_at: Option<u32>,
    kind: WaitKind,
) -> Result<Option<u32>, Cancelled> {
    let caller = Location::caller();
    let parked = current_task::with_site(|t, site| {
        let h = t.header();
        if take_for_delivery(h) || delivered_since(h, parked_at) {
            None
        } else {
            Some(park_in(h, await_site(site, caller, kind)))
        }
    });
    match parked {
        Some(None) => Err(Cancelled),
        Some(at) => Ok(at),
        None => Ok(None),
    }
}

/// A checkpoint of the current task returns `Pending`: records that the
/// task waits where a cancellation reaches it (and where: the caller's
/// location, or the await-site override), and returns the delivery count to
/// pass to [`deliver`] on the next poll.
#[inline]
#[track_caller]
pub(crate) fn park(kind: WaitKind) -> Option<u32> {
    let caller = Location::caller();
    current_task::with_site(|t, site| park_in(t.header(), await_site(site, caller, kind)))
}

/// The await site a checkpoint parking now records: the override set by a
/// crate function's wrapper, else `caller`, the `#[track_caller]` location
/// (taken outside any closure: a closure ends the caller chain).
#[inline]
pub(crate) fn await_site(
    over: Option<&'static Location<'static>>,
    caller: &'static Location<'static>,
    kind: WaitKind,
) -> AwaitSite {
    AwaitSite::new(over.unwrap_or(caller), kind)
}

/// [`park`] for a known task, at a known site.
#[inline]
pub(crate) fn park_in(h: &Header, site: AwaitSite) -> u32 {
    h.update_flags(|f| f.with(Flags::PARKED));
    h.await_site.set(site);
    h.flags.get().deliveries()
}

/// PENDING → DELIVERED: true if there was a request; from now on the task
/// has seen `Cancelled`, and so do its checkpoints that parked before now.
#[inline]
pub(crate) fn take_for_delivery(h: &Header) -> bool {
    let f = h.flags.get();
    if !f.contains(Flags::CANCEL_PENDING) {
        return false;
    }
    h.flags.set(
        f.without(Flags::CANCEL_PENDING)
            .with(Flags::CANCEL_DELIVERED)
            .with_next_delivery(),
    );
    true
}

/// A scope's poll of its inline future, told apart from the rest of the
/// task's poll: [`begin`](Self::begin) before polling it, [`end`](Self::end)
/// after, which tells whether it is stuck outside every checkpoint (polled
/// with a cancellation outstanding, it returned `Pending` without any
/// checkpoint of it parking). The task's "parked" mark is saved around the
/// poll and restored after, so the rest of the task's poll (and an
/// enclosing scope) still sees this one's checkpoints. The one test timeout
/// scopes and task groups share with the executor's fallback
/// ([`stuck_outside_checkpoints`]).
///
/// Two calls rather than one taking a closure: the inline future is then
/// polled straight from the scope's `#[track_caller]` poll, so its
/// checkpoints record the user's `.await` of the scope as their site.
#[must_use]
pub(crate) struct InlinePoll {
    /// A cancellation was outstanding when the poll began.
    outstanding: bool,
    /// The task was marked parked before.
    earlier: bool,
}

impl InlinePoll {
    /// Before the inline future's poll.
    #[inline]
    pub(crate) fn begin(h: &Header) -> InlinePoll {
        let mark = InlinePoll {
            outstanding: outstanding(h),
            earlier: h.flags.get().contains(Flags::PARKED),
        };
        h.update_flags(|f| f.without(Flags::PARKED));
        mark
    }

    /// After it: whether it is stuck (`pending`: it returned `Pending`).
    #[inline]
    pub(crate) fn end(self, h: &Header, pending: bool) -> bool {
        let parked = h.flags.get().contains(Flags::PARKED);
        if self.earlier {
            h.update_flags(|f| f.with(Flags::PARKED));
        }
        pending && self.outstanding && !parked
    }
}

/// Whether a cancellation is outstanding: requested and not delivered, or
/// delivered and not withdrawn.
#[inline]
pub(crate) fn outstanding(h: &Header) -> bool {
    h.flags
        .get()
        .intersects(Flags::CANCEL_PENDING | Flags::CANCEL_DELIVERED)
}

/// Whether the task, having just returned `Pending`, waits where no
/// cancellation can reach it while one is outstanding: the executor's
/// fallback then drops its future. The main task is exempt: `block_on`
/// needs its value. So is a task that is ending already (`ABORT`: an
/// `abort()` or `end_with`, as a task-group child does after it returned
/// its reaction to the cancellation): its future is dropped at its next
/// turn anyway, and it is not stuck.
#[inline]
pub(crate) fn stuck_outside_checkpoints(h: &Header) -> bool {
    !h.flags
        .get()
        .intersects(Flags::PARKED | Flags::MAIN | Flags::ABORT)
        && outstanding(h)
}

/// PENDING → (forwarded): consumes a pending request to pass it on to an
/// awaited task; true if there was one. The task has not seen `Cancelled`.
pub(crate) fn take_for_forward(h: &Header) -> bool {
    let f = h.flags.get();
    h.flags.set(f.without(Flags::CANCEL_PENDING));
    f.contains(Flags::CANCEL_PENDING)
}

/// → DELIVERED: the task has seen `Cancelled` (through an awaited task that
/// ended cancelled after a forwarded request).
pub(crate) fn mark_delivered(h: &Header) {
    h.update_flags(|f| f.with(Flags::CANCEL_DELIVERED));
}

/// DELIVERED → PENDING: a primitive that swallowed a delivered outside
/// cancellation (a task group reporting its errors, asyncio gh-116720)
/// requests it again so the task's next checkpoint sees it.
pub(crate) fn redeliver(h: &Header) {
    h.update_flags(|f| {
        f.without(Flags::CANCEL_DELIVERED)
            .with(Flags::CANCEL_PENDING)
    });
}

/// Whether the task has seen `Cancelled` and it was not withdrawn.
#[inline]
pub(crate) fn is_delivered(h: &Header) -> bool {
    h.flags.get().contains(Flags::CANCEL_DELIVERED)
}

/// Whether a request is pending (not yet delivered or forwarded).
#[inline]
pub(crate) fn is_pending(h: &Header) -> bool {
    h.flags.get().contains(Flags::CANCEL_PENDING)
}

/// Takes back one request (asyncio 3.13's `uncancel`) and returns the new
/// count: reaching zero clears a pending or delivered request.
pub(crate) fn uncancel(h: &Header) -> u16 {
    let n = h.cancelling.get().saturating_sub(1);
    h.cancelling.set(n);
    if n == 0 && !h.state.is_complete() {
        h.update_flags(|f| f.without(Flags::CANCEL_PENDING | Flags::CANCEL_DELIVERED));
    }
    n
}

/// Hides (clears) a delivery, returning whether there was one: a scope
/// hides an earlier delivery on entry to tell a new one apart.
pub(crate) fn hide_delivery(h: &Header) -> bool {
    let f = h.flags.get();
    h.flags.set(f.without(Flags::CANCEL_DELIVERED));
    f.contains(Flags::CANCEL_DELIVERED)
}

/// Withdraws a request a scope made and nobody else shares: clears the
/// delivery, and the pending flag unless one was pending before the scope.
pub(crate) fn withdraw(h: &Header, keep_pending: bool) {
    h.update_flags(|f| f.without(Flags::CANCEL_DELIVERED));
    if !keep_pending {
        h.update_flags(|f| f.without(Flags::CANCEL_PENDING));
    }
}

/// Whether a task that never ran should be dropped instead of started: it
/// was cancelled before its first poll (the main task always runs).
#[inline]
pub(crate) fn cancelled_before_start(h: &Header) -> bool {
    let f = h.flags.get();
    !f.intersects(Flags::STARTED | Flags::MAIN) && f.contains(Flags::CANCEL_PENDING)
}
