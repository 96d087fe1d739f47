//! The registry of a runtime's live tasks: where tasks are created, where a
//! woken task comes back from its scheduler, and where a task completes.
//!
//! # Ground rules
//!
//! * A registry is `!Send` and creates its own scheduler handle (an `Arc`)
//!   that no other registry has; every task it creates holds a clone. A
//!   task whose scheduler is this registry's was therefore created on this
//!   thread, which is how [`Registry::assert_owner`] can safely turn a
//!   [`Notified`] that crossed threads back into a `TaskRef`.
//! * A task is in the registry from spawn until it completes; the
//!   registry's reference is what keeps a detached, sleeping task alive.
//! * Completion ([`Registry::complete`]) first records the outcome, removes
//!   the task and takes every loop-only field out of it; only then does it
//!   run user code (the output's destructor, wakers, watchers), each under
//!   `catch_unwind`, so a panic there can neither skip the bookkeeping nor
//!   leave loop-only data in a block that another thread may free.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use super::header::{DoneCallback, Header};
use super::hooks::{run_caught, wake_caught};
use super::raw::{self, Notified, Outcome};
use super::state::Flags;
use super::{Task, TaskRef, report_unretrieved_panic};

/// Where a woken task goes: the runtime's run queue on its loop thread, the
/// cross-thread inject queue elsewhere. Called from any thread.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// `task` was just marked scheduled; queue it (or drop it, releasing
    /// its reference, if the runtime is gone).
    fn schedule(&self, task: Notified);
}

/// A runtime's live tasks.
pub(crate) struct Registry<S> {
    /// The scheduler handle every task of this registry holds; its address
    /// identifies the registry.
    scheduler: Arc<S>,
    /// Every task not yet complete. A task's `key` is its index; removal
    /// swaps the last one in (one pointer per task, O(1) both ways).
    tasks: RefCell<Vec<TaskRef>>,
    /// The id of the next task.
    next_id: Cell<u64>,
    /// A registry stays on the thread that created it.
    _not_send: PhantomData<*const ()>,
}

impl<S: Schedule> Registry<S> {
    /// An empty registry with its own scheduler handle.
    pub(crate) fn new(scheduler: S) -> Registry<S> {
        Registry {
            scheduler: Arc::new(scheduler),
            tasks: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            _not_send: PhantomData,
        }
    }

    /// The scheduler handle.
    pub(crate) fn scheduler(&self) -> &Arc<S> {
        &self.scheduler
    }

    /// Whether `task` belongs to this registry.
    #[inline]
    pub(crate) fn owns(&self, task: &Notified) -> bool {
        std::ptr::eq(task.owner(), Arc::as_ptr(&self.scheduler).cast())
    }

    /// Turns a task that came back through the scheduler into a `TaskRef`.
    ///
    /// # Panics
    /// If the task belongs to another registry.
    #[inline]
    pub(crate) fn assert_owner(&self, task: Notified) -> TaskRef {
        assert!(
            self.owns(&task),
            "a task was queued on a runtime that does not own it"
        );
        let task = std::mem::ManuallyDrop::new(task);
        // SAFETY: the task is ours, so this is its loop thread (see the
        // ground rules); the reference `Notified` owned moves into the
        // `TaskRef` (`ManuallyDrop` keeps it from being released).
        unsafe { TaskRef::from_raw(task.ptr) }
    }

    /// Creates a task; returns its handle and the reference the run queue
    /// will own (the task starts scheduled).
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        spawned_at: Option<&'static Location<'static>>,
    ) -> (Task<F::Output>, TaskRef)
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // SAFETY: `F` and its output are `'static`: nothing they borrow can end.
        unsafe { self.spawn_unchecked(future, spawned_at) }
    }

    /// # Safety
    /// As for `raw::allocate`: a borrowing future and its output must be
    /// dropped before the borrow ends.
    unsafe fn spawn_unchecked<F: Future>(
        &self,
        future: F,
        spawned_at: Option<&'static Location<'static>>,
    ) -> (Task<F::Output>, TaskRef) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        // Three references: the registry, the handle, the run queue.
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { raw::allocate(future, self.scheduler.clone(), Header::new(id, 3)) };
        // SAFETY: `ptr` is a new task of output `F::Output` on this thread;
        // one reference each goes to the handle, the registry and the queue.
        let (task, registered, queued) = unsafe {
            (
                Task::<F::Output>::from_raw(ptr),
                TaskRef::from_raw(ptr),
                TaskRef::from_raw(ptr),
            )
        };
        if spawned_at.is_some() {
            task.header().with_extras(|e| e.spawned_at = spawned_at);
        }
        let mut tasks = self.tasks.borrow_mut();
        let key = u32::try_from(tasks.len()).expect("more than 4 billion live tasks");
        tasks.push(registered);
        drop(tasks);
        task.header().key.set(key);
        (task, queued)
    }

    /// Runs `body` with a task whose future may borrow from the caller
    /// (`block_on`'s main future). When `body` returns or unwinds, the task
    /// is completed if it is not (its future dropped in place) and its
    /// handle, with any output `body` did not take, is dropped: nothing the
    /// future borrows is touched after this returns.
    pub(crate) fn run_scoped<F: Future, R>(
        &self,
        future: F,
        spawned_at: Option<&'static Location<'static>>,
        body: impl FnOnce(&mut Task<F::Output>, TaskRef) -> R,
    ) -> R {
        /// Completes the task on the way out.
        struct Guard<'a, S: Schedule, T> {
            /// The registry, to record the completion.
            registry: &'a Registry<S>,
            /// The task's handle; dropped (with its output) after completion.
            task: Task<T>,
        }
        impl<S: Schedule, T> Drop for Guard<'_, S, T> {
            fn drop(&mut self) {
                if !self.task.is_done() {
                    let outcome = self.task.as_task_ref().drop_future();
                    // Nothing may run after this: the callbacks are dropped.
                    drop(self.registry.complete(self.task.as_task_ref(), outcome));
                }
            }
        }
        // SAFETY: the guard completes the task (dropping the future in
        // place) and then drops the handle and its output before this
        // function returns, whether `body` returns or unwinds; `body` cannot
        // keep the handle (it only borrows it), and `TaskRef`s never reach
        // the stage.
        let (task, queued) = unsafe { self.spawn_unchecked(future, spawned_at) };
        let mut guard = Guard {
            registry: self,
            task,
        };
        body(&mut guard.task, queued)
    }

    /// Records a finished task: outcome flags, removal from the registry,
    /// then the user code of completion (output drop, join waker, watchers),
    /// each caught. Returns the done-callbacks for the caller to queue.
    pub(crate) fn complete(&self, task: &TaskRef, outcome: Outcome) -> Vec<DoneCallback> {
        let h = task.header();
        debug_assert!(!h.state.is_complete(), "a task completed twice");
        // 1. Bookkeeping: no user code runs here.
        h.update_flags(|f| match outcome {
            Outcome::Ok => f,
            Outcome::Cancelled => f.with(Flags::OUT_CANCELLED),
            Outcome::Panicked => f.with(Flags::OUT_PANICKED),
            Outcome::Failed => f.with(Flags::OUT_FAILED),
        });
        h.state.set_complete();
        let registered = self.remove(task);
        let join_waker = h.join_waker.take();
        // Most tasks never allocated extras: nothing to take (and no empty
        // structures to build and drop).
        let extras = h.peek_extras(|e| {
            e.map(|e| {
                (
                    std::mem::take(&mut e.live),
                    std::mem::take(&mut e.cancel_wakers),
                )
            })
        });
        let detached = !h.flags.get().contains(Flags::HAS_HANDLE);
        // 2. User code, each piece caught so the others still run.
        if detached {
            report_unretrieved_panic(task);
            run_caught("the output of a detached task, dropped,", || {
                task.drop_stage()
            });
        }
        if let Some(w) = join_waker {
            wake_caught(w);
        }
        let Some((live, cancel_wakers)) = extras else {
            drop(registered);
            return Vec::new();
        };
        for (watcher, index) in live.watchers.drain() {
            run_caught("a completion watcher", || watcher.task_done(index));
        }
        run_caught("a waker, dropped,", || drop(cancel_wakers));
        run_caught("a registration, dropped,", || drop(live.join_slot));
        drop(registered);
        live.callbacks
    }

    /// Removes `task` (if it is still registered) and returns the registry's
    /// reference to it.
    fn remove(&self, task: &TaskRef) -> Option<TaskRef> {
        let h = task.header();
        let key = h.key.replace(u32::MAX) as usize;
        let mut tasks = self.tasks.borrow_mut();
        match tasks.get(key) {
            Some(t) if t == task => {
                let removed = tasks.swap_remove(key);
                if let Some(moved) = tasks.get(key) {
                    moved.header().key.set(key as u32);
                }
                Some(removed)
            }
            _ => None,
        }
    }

    /// Every task not done.
    pub(crate) fn all(&self) -> Vec<TaskRef> {
        self.tasks.borrow().clone()
    }
}

impl<S> std::fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.tasks.borrow().len())
            .finish_non_exhaustive()
    }
}
