//! The part of a runtime other threads may touch: the inject queue of tasks
//! woken from elsewhere, and the `mio::Waker` that interrupts the loop's poll.
//!
//! It must never hold anything that is not `Send`: task pointers in the
//! queue are only dereferenced (beyond their atomic state) on the loop thread.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::task::TaskRef;
use crate::task::raw::{self, Header};

/// A task pointer owning one reference, in transit to the loop thread.
struct Injected(NonNull<Header>);

// SAFETY: the pointer is only turned into a `TaskRef` (and so only touches
// non-atomic task data) on the loop thread in `drain_into`; elsewhere only
// the atomic reference count is touched (`raw::drop_ref` is thread-safe and,
// by the ground rules of `task::raw`, may free the block from any thread).
unsafe impl Send for Injected {}

/// The inject queue and whether the runtime still accepts wakes.
#[derive(Default)]
struct Inject {
    /// Tasks woken from another thread, in wake order.
    tasks: Vec<Injected>,
    /// Set when the runtime is dropped: wakes are refused from then on.
    closed: bool,
}

/// Cross-thread state of one runtime, shared by every task's header.
pub(crate) struct Shared {
    /// Tasks woken from other threads.
    inject: Mutex<Inject>,
    /// Whether `inject` may be non-empty: lets the loop skip the lock.
    notified: AtomicBool,
    /// Interrupts the loop's `mio::Poll::poll`.
    waker: mio::Waker,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(waker: mio::Waker) -> Shared {
        Shared {
            inject: Mutex::new(Inject::default()),
            notified: AtomicBool::new(false),
            waker,
        }
    }

    /// Queues a woken task from any thread. Takes over one reference.
    pub(crate) fn inject(&self, ptr: NonNull<Header>) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if inject.closed {
            drop(inject);
            // SAFETY: we own the reference; the runtime is gone, so nobody
            // will run the task: release it (thread-safe, see `task::raw`).
            unsafe { raw::drop_ref(ptr) };
            return;
        }
        let first = inject.tasks.is_empty();
        inject.tasks.push(Injected(ptr));
        self.notified.store(true, Ordering::Release);
        drop(inject);
        if first {
            if let Err(e) = self.waker.wake() {
                log::error!("taskloop: cannot wake the event loop: {e}");
            }
        }
    }

    /// Whether tasks may be waiting in the inject queue.
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Moves injected tasks onto the run queue; returns how many. Loop
    /// thread only.
    pub(crate) fn drain_into(&self, queue: &mut VecDeque<TaskRef>) -> usize {
        if !self.notified.swap(false, Ordering::AcqRel) {
            return 0;
        }
        let tasks =
            std::mem::take(&mut self.inject.lock().unwrap_or_else(|e| e.into_inner()).tasks);
        let n = tasks.len();
        // SAFETY: each entry owns a reference, and this is the loop thread.
        queue.extend(tasks.into_iter().map(|t| unsafe { TaskRef::from_raw(t.0) }));
        n
    }

    /// Refuses further wakes and returns what is queued. Loop thread only.
    pub(crate) fn close(&self) -> Vec<TaskRef> {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.closed = true;
        let tasks = std::mem::take(&mut inject.tasks);
        drop(inject);
        // SAFETY: each entry owns a reference, and this is the loop thread.
        tasks
            .into_iter()
            .map(|t| unsafe { TaskRef::from_raw(t.0) })
            .collect()
    }
}
