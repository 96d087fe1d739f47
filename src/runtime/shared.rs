//! The part of a runtime other threads may touch: the inject queue of tasks
//! woken from elsewhere and of callbacks submitted through a `Handle`, and the `mio::Waker` that interrupts the loop's
//! poll. It is the runtime's [`Schedule`] implementation.
//!
//! It must never hold anything that is not `Send`: it holds tasks only as
//! [`Notified`], which the registry turns back into handles on the loop
//! thread.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::context;
use crate::task::{Notified, Schedule};

/// A callback submitted from another thread (`Handle::call_soon`).
pub(crate) type RemoteCall = Box<dyn FnOnce() + Send>;

/// The inject queue and whether the runtime still accepts wakes.
#[derive(Default)]
struct Inject {
    /// Tasks woken from another thread, in wake order.
    tasks: Vec<Notified>,
    /// Callbacks submitted from other threads, in submission order.
    calls: Vec<RemoteCall>,
    /// Set when the runtime is dropped: wakes are refused from then on.
    closed: bool,
}

/// Cross-thread state of one runtime, shared by every task.
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

impl Schedule for Shared {
    /// On the loop thread of this runtime, straight onto its run queue (no
    /// lock, no syscall); anywhere else, onto the inject queue.
    #[inline]
    fn schedule(&self, task: Notified) {
        if let Err(task) = context::push_local(self, task) {
            self.inject(task);
        }
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

    /// Queues a woken task from any thread; the first one into an empty
    /// queue interrupts the loop's poll. After `close`, the task's reference
    /// is released instead: nobody will run it.
    fn inject(&self, task: Notified) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if inject.closed {
            drop(inject);
            drop(task);
            return;
        }
        let first = inject.tasks.is_empty() && inject.calls.is_empty();
        inject.tasks.push(task);
        self.notified.store(true, Ordering::Release);
        drop(inject);
        if first {
            self.wake();
        }
    }

    /// Queues a callback from any thread, to run on the loop thread; the
    /// first one into an empty queue interrupts the loop's poll. After
    /// `close`, the callback is given back (for the caller to drop on its
    /// own thread).
    pub(crate) fn submit(&self, call: RemoteCall) -> Result<(), RemoteCall> {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if inject.closed {
            return Err(call);
        }
        let first = inject.tasks.is_empty() && inject.calls.is_empty();
        inject.calls.push(call);
        self.notified.store(true, Ordering::Release);
        drop(inject);
        if first {
            self.wake();
        }
        Ok(())
    }

    /// Whether the runtime was dropped.
    pub(crate) fn is_closed(&self) -> bool {
        self.inject.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    /// Interrupts the loop's poll.
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            crate::task::report(
                log::Level::Error,
                format_args!("taskloop: cannot wake the event loop: {e}"),
            );
        }
    }

    /// Whether tasks may be waiting in the inject queue.
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Takes the injected tasks, in wake order, and the submitted callbacks.
    pub(crate) fn drain(&self, into: &mut VecDeque<Notified>, calls: &mut Vec<RemoteCall>) {
        if !self.notified.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        into.extend(inject.tasks.drain(..));
        calls.append(&mut inject.calls);
    }

    /// Refuses further wakes and submissions and returns what is queued
    /// (dropped by the caller, on the loop thread, after the lock is released).
    pub(crate) fn close(&self) -> (Vec<Notified>, Vec<RemoteCall>) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.closed = true;
        (
            std::mem::take(&mut inject.tasks),
            std::mem::take(&mut inject.calls),
        )
    }
}
