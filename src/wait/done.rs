//! Completion notifications from many tasks to one waiter, in completion
//! order: what `wait`, `as_completed`, `gather` and task groups are built on.
//!
//! # Ground rules
//!
//! * A [`Watch`] registers `(queue, index)` in the watched task (a
//!   `DoneWatcher` hook); the task's completion pushes `index` onto the
//!   queue and wakes its waiters, then forgets every registration (they
//!   hold `Rc`s, which must not outlive completion: see `task::header`).
//! * Dropping a `Watch` of a pending task removes its registration, so a
//!   waiter that gives up leaves nothing behind (asyncio removes its
//!   callbacks in a `finally` for the same reason).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::wait_set::TaskHandle;
use crate::cancel::CancelSlot;
use crate::task::{DoneWatcher, TaskRef, wake_caught};

/// Indices of completed tasks, in completion order, and who to wake.
#[derive(Debug, Default)]
pub(crate) struct DoneQueue {
    /// Indices of tasks that completed and were not popped yet, with when
    /// they completed if `stamped`.
    ready: RefCell<VecDeque<(usize, Option<Instant>)>>,
    /// The waiters (usually one; `as_completed`'s futures may be awaited
    /// from several tasks). All are woken, and forgotten, on a completion.
    wakers: RefCell<Vec<Waker>>,
    /// Record the completion time of each task (for `as_completed`'s timeout).
    stamped: Cell<bool>,
}

impl DoneQueue {
    pub(crate) fn new() -> Rc<DoneQueue> {
        Rc::new(DoneQueue::default())
    }

    /// Watches `task`: its `index` is queued when it completes (at once if
    /// it is already done).
    pub(crate) fn watch(self: &Rc<Self>, task: &TaskRef, index: usize) -> Watch {
        if task.is_done() {
            self.ready.borrow_mut().push_back((index, None));
            return Watch { reg: None };
        }
        let watcher: Rc<dyn DoneWatcher> = self.clone();
        let key = task
            .header()
            .with_extras(|e| e.live.watchers.insert((watcher, index)));
        Watch {
            reg: Some((task.clone(), key)),
        }
    }

    /// Wakes (and forgets) every registered waiter.
    pub(crate) fn wake_all(&self) {
        // Out of the cell while waking (a waker may run code that registers
        // again), then back in, so the buffer is reused, not reallocated.
        // Each wake is caught: one panicking waker must not skip the rest.
        let mut wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers.drain(..) {
            wake_caught(w);
        }
        let mut slot = self.wakers.borrow_mut();
        if slot.is_empty() {
            *slot = wakers;
        }
    }

    /// Records completion times from now on.
    pub(crate) fn stamp_completions(&self) {
        self.stamped.set(true);
    }

    /// The next completed index.
    pub(crate) fn pop(&self) -> Option<usize> {
        self.ready.borrow_mut().pop_front().map(|(i, _)| i)
    }

    /// The next completed index and when it completed (`None`: before it
    /// was watched, or times are not recorded).
    pub(crate) fn pop_stamped(&self) -> Option<(usize, Option<Instant>)> {
        self.ready.borrow_mut().pop_front()
    }

    /// Completions waiting to be popped.
    pub(crate) fn len(&self) -> usize {
        self.ready.borrow().len()
    }

    /// Suspends a waiter on this queue: the next completion wakes `cx`, and
    /// so does a `cancel()` of the awaiting task if `slot` is given (the one
    /// way every multi-task wait parks).
    pub(crate) fn suspend<T>(&self, cx: &Context<'_>, slot: Option<&mut CancelSlot>) -> Poll<T> {
        self.register(cx.waker());
        if let Some(slot) = slot {
            slot.arm(cx);
        }
        Poll::Pending
    }

    /// Adds `waker` to the waiters woken by the next completion.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl DoneWatcher for DoneQueue {
    /// Called by the task's completion.
    fn task_done(&self, index: usize) {
        let at = self.stamped.get().then(crate::timer::now);
        self.ready.borrow_mut().push_back((index, at));
        self.wake_all();
    }
}

/// One task watched by a [`DoneQueue`]; unregisters on drop.
#[derive(Debug)]
pub(crate) struct Watch {
    /// The task and the key of our registration, unless it was done already.
    reg: Option<(TaskRef, usize)>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((task, key)) = self.reg.take() {
            if !task.is_done() {
                let old = task
                    .header()
                    .peek_extras(|e| e.and_then(|e| e.live.watchers.try_remove(key)));
                drop(old);
            }
        }
    }
}

/// Hashes a task's address (a `usize`): Fibonacci hashing of the pointer.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// Deduplicates `tasks` (a task listed twice counts once: the first stays,
/// later duplicates are dropped) and watches each under its index.
pub(crate) fn watch_all<W: TaskHandle>(
    tasks: impl IntoIterator<Item = W>,
) -> (Vec<W>, Rc<DoneQueue>, Vec<Watch>) {
    let tasks = tasks.into_iter();
    // Task addresses are unique and not attacker-chosen: a multiplicative
    // hash is enough (SipHash and rehashing were a fifth of `wait`'s cost).
    let mut seen: HashSet<usize, BuildHasherDefault<AddressHasher>> =
        HashSet::with_capacity_and_hasher(tasks.size_hint().0, Default::default());
    let items: Vec<W> = tasks
        .filter(|w| seen.insert(w.task_ref().as_ptr().as_ptr() as usize))
        .collect();
    let queue = DoneQueue::new();
    let watches = items
        .iter()
        .enumerate()
        .map(|(i, w)| queue.watch(w.task_ref(), i))
        .collect();
    (items, queue, watches)
}
