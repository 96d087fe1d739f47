//! Completion notifications from many tasks to one waiter, in completion
//! order: what `wait`, `as_completed`, `gather` and task groups are built on.
//!
//! # Ground rules
//!
//! * A [`Watch`] registers `(queue, index)` in the watched task's extras; the
//!   executor pushes `index` onto the queue and wakes its waker when the task
//!   completes, then forgets every registration (they hold `Rc`s, which must
//!   not outlive completion: see `task::raw`).
//! * Dropping a `Watch` of a pending task removes its registration, so a
//!   waiter that gives up leaves nothing behind (asyncio removes its
//!   callbacks in a `finally` for the same reason).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

use crate::task::TaskRef;

/// Indices of completed tasks, in completion order, and who to wake.
#[derive(Debug, Default)]
pub(crate) struct DoneQueue {
    /// Indices of tasks that completed and were not popped yet.
    ready: RefCell<VecDeque<usize>>,
    /// The waiter.
    waker: RefCell<Option<Waker>>,
}

impl DoneQueue {
    pub(crate) fn new() -> Rc<DoneQueue> {
        Rc::new(DoneQueue::default())
    }

    /// Watches `task`: its `index` is queued when it completes (at once if
    /// it is already done).
    pub(crate) fn watch(self: &Rc<Self>, task: &TaskRef, index: usize) -> Watch {
        if task.is_done() {
            self.ready.borrow_mut().push_back(index);
            return Watch { reg: None };
        }
        let key = task
            .header()
            .with_extras(|e| e.done_queues.insert((self.clone(), index)));
        Watch {
            reg: Some((task.clone(), key)),
        }
    }

    /// Called by the executor when a watched task completes.
    pub(crate) fn notify(&self, index: usize) {
        self.ready.borrow_mut().push_back(index);
        let waker = self.waker.borrow().clone();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The next completed index.
    pub(crate) fn pop(&self) -> Option<usize> {
        self.ready.borrow_mut().pop_front()
    }

    /// Sets the waker to wake on the next completion.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
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
                    .peek_extras(|e| e.and_then(|e| e.done_queues.try_remove(key)));
                drop(old);
            }
        }
    }
}
