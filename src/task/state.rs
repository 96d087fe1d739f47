//! The two words of task state: the atomic word wakers share across threads,
//! and the loop-thread flags.
//!
//! # Ground rules
//!
//! * The atomic [`State`] word is the only part of a task another thread may
//!   touch. It holds two flags and the reference count.
//! * [`Flags`] live in a `Cell` in the task header and are read and written
//!   only on the loop thread, through handles that are `!Send`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The task is in a run queue (the loop's or the cross-thread inject queue).
///
/// Set by the waker that queues it; cleared by the executor just before it
/// polls the task. While set, further wakes do not queue the task again.
pub(crate) const SCHEDULED: usize = 1 << 0;

/// The future is gone: it returned, panicked, was aborted, was cancelled
/// before it ran, or the runtime was dropped.
///
/// Set once, on the loop thread, and never cleared. Wakes of a complete task
/// are no-ops.
pub(crate) const COMPLETE: usize = 1 << 1;

/// One reference in the count held in the remaining bits.
pub(crate) const REF_ONE: usize = 1 << 2;

/// The atomic state word: `SCHEDULED`, `COMPLETE` and a reference count.
///
/// References are held by: the runtime's registry (until the task completes),
/// the `Task` handle, each `TaskRef`, each `Waker`, and each run-queue entry.
#[derive(Debug)]
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: scheduled, with `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        State(AtomicUsize::new(SCHEDULED | (refs * REF_ONE)))
    }

    /// Sets `SCHEDULED` and reports whether the caller must queue the task:
    /// true only if it was neither scheduled nor complete.
    #[inline]
    pub(crate) fn transition_to_scheduled(&self) -> bool {
        let prev = self.0.fetch_or(SCHEDULED, Ordering::AcqRel);
        prev & (SCHEDULED | COMPLETE) == 0
    }

    /// Clears `SCHEDULED` before a poll and returns the previous word.
    #[inline]
    pub(crate) fn unset_scheduled(&self) -> usize {
        self.0.fetch_and(!SCHEDULED, Ordering::AcqRel)
    }

    /// Marks the task complete.
    pub(crate) fn set_complete(&self) {
        self.0.fetch_or(COMPLETE, Ordering::AcqRel);
    }

    /// Whether the task is in (or on its way to) the run queue.
    pub(crate) fn is_scheduled(&self) -> bool {
        self.0.load(Ordering::Acquire) & SCHEDULED != 0
    }

    /// Whether the task is complete.
    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Adds a reference.
    #[inline]
    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        // A count this large means leaked references; stop before it wraps.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops a reference; true when it was the last one.
    #[inline]
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE, Ordering::AcqRel);
        debug_assert!(prev >= REF_ONE, "task reference count underflow");
        prev & !(REF_ONE - 1) == REF_ONE
    }
}

/// Loop-thread flags of a task, kept in a `Cell<Flags>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags(u16);

impl Flags {
    /// A cancellation was requested and not yet delivered or forwarded.
    /// Set by `cancel()`, cleared by the checkpoint that delivers it, by
    /// forwarding to an awaited task, or by `uncancel()` reaching zero.
    pub(crate) const CANCEL_PENDING: Flags = Flags(1 << 0);
    /// A checkpoint returned `Cancelled` to this task and no `uncancel()`
    /// took the count back to zero since: if the task now returns, its
    /// outcome is "cancelled".
    pub(crate) const CANCEL_DELIVERED: Flags = Flags(1 << 1);
    /// The future has been polled at least once.
    pub(crate) const STARTED: Flags = Flags(1 << 2);
    /// A `Task<T>` handle is alive; without one, the output is dropped at
    /// completion.
    pub(crate) const HAS_HANDLE: Flags = Flags(1 << 3);
    /// `abort()` was called: drop the future at the next turn, unpolled.
    pub(crate) const ABORT: Flags = Flags(1 << 4);
    /// Outcome: the task ended cancelled (set with `COMPLETE`).
    pub(crate) const OUT_CANCELLED: Flags = Flags(1 << 5);
    /// Outcome: the task ended with a panic (set with `COMPLETE`).
    pub(crate) const OUT_PANICKED: Flags = Flags(1 << 6);
    /// Outcome: the task ended with a failure it asked for
    /// (`TaskRef::end_with`). The two outcome bits together: the word has no
    /// bit to spare, and the outcomes exclude each other, so use
    /// [`outcome_is`](Self::outcome_is), never `contains`, to test outcomes.
    pub(crate) const OUT_FAILED: Flags = Flags(Self::OUT_CANCELLED.0 | Self::OUT_PANICKED.0);
    /// Somebody looked at the outcome (await, `result()`, `exception()`), so
    /// a panic need not be logged as never retrieved.
    pub(crate) const RETRIEVED: Flags = Flags(1 << 7);
    /// The main task of `block_on`: it always runs (even if cancelled before
    /// its first poll) and always keeps its value, because `block_on` must
    /// return one; a delivered, unsuppressed cancellation still marks it
    /// cancelled.
    pub(crate) const MAIN: Flags = Flags(1 << 8);
    /// The task awaiting this task's `Task<T>` forwarded its cancellation to
    /// it: if this task ends cancelled, the awaiter has seen `Cancelled`.
    pub(crate) const JOIN_FORWARDED: Flags = Flags(1 << 9);
    /// The future is being polled or dropped right now: a second poll or
    /// drop of it (re-entrant) is refused.
    pub(crate) const BUSY: Flags = Flags(1 << 10);
    /// During the current poll, a checkpoint of this task returned
    /// `Pending`: the task waits where a cancellation can reach it. Cleared
    /// by the executor before each poll; scopes save and restore it around
    /// the poll of their inner future.
    pub(crate) const PARKED: Flags = Flags(1 << 11);

    /// The low bits of the count of cancellations delivered to the task,
    /// kept in the top four bits of the word (the combinator rule in
    /// `cancel::state` compares counts for equality only, and every parked
    /// checkpoint is re-polled after each delivery, so four bits are ample).
    const DELIVERIES_SHIFT: u16 = 12;

    /// The delivery count (modulo 16).
    #[inline]
    pub(crate) fn deliveries(self) -> u32 {
        u32::from(self.0 >> Self::DELIVERIES_SHIFT)
    }

    /// `self` with the delivery count advanced by one (wrapping).
    #[inline]
    pub(crate) fn with_next_delivery(self) -> Flags {
        Flags(self.0.wrapping_add(1 << Self::DELIVERIES_SHIFT))
    }

    /// Whether every bit of `other` is set.
    #[inline]
    pub(crate) fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the recorded outcome is `outcome` (one of `OUT_CANCELLED`,
    /// `OUT_PANICKED`, `OUT_FAILED`).
    #[inline]
    pub(crate) fn outcome_is(self, outcome: Flags) -> bool {
        self.0 & Self::OUT_FAILED.0 == outcome.0
    }

    /// Whether any bit of `other` is set.
    #[inline]
    pub(crate) fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` with the bits of `other` set.
    #[inline]
    pub(crate) fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` with the bits of `other` cleared.
    #[inline]
    pub(crate) fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduling_is_idempotent_and_refused_when_complete() {
        let s = State::new(1);
        assert!(!s.transition_to_scheduled(), "new tasks start scheduled");
        s.unset_scheduled();
        assert!(s.transition_to_scheduled());
        assert!(!s.transition_to_scheduled());
        s.unset_scheduled();
        s.set_complete();
        assert!(!s.transition_to_scheduled());
    }

    #[test]
    fn last_reference_is_reported_once() {
        let s = State::new(2);
        s.ref_inc();
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
    }

    #[test]
    fn the_delivery_count_lives_beside_the_flags_and_wraps() {
        let mut f = Flags::default().with(Flags::CANCEL_DELIVERED);
        for n in 1..=17u32 {
            f = f.with_next_delivery();
            assert_eq!(f.deliveries(), n % 16);
            assert!(f.contains(Flags::CANCEL_DELIVERED), "flags untouched");
        }
        let g = f.without(Flags::CANCEL_DELIVERED).with(Flags::PARKED);
        assert_eq!(
            g.deliveries(),
            f.deliveries(),
            "flag updates keep the count"
        );
    }

    #[test]
    fn flags_combine() {
        let f = Flags::default().with(Flags::STARTED | Flags::ABORT);
        assert!(f.contains(Flags::STARTED));
        assert!(f.intersects(Flags::ABORT | Flags::RETRIEVED));
        assert!(!f.without(Flags::ABORT).intersects(Flags::ABORT));
    }
}
