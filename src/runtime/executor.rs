//! The executor: the run queue, the registry of live tasks, and one turn of
//! the loop.
//!
//! # One turn
//!
//! 1. Move tasks woken from other threads (the inject queue) to the run queue.
//! 2. Poll ready tasks in FIFO order, at most `max_batch` of them, so that a
//!    task that keeps waking itself cannot starve timers and I/O. Callbacks
//!    (done-callbacks) share that FIFO, as in asyncio: each runs once every
//!    task queued before it was polled.
//! 3. Fire expired timers.
//! 4. Poll the reactor: with a zero timeout if work is ready (skipped when no
//!    I/O source is registered), else until the next timer deadline.
//!
//! # Ground rules
//!
//! * Everything here runs on the loop thread. The `RefCell`s are never
//!   borrowed across a call into user code (a poll, a destructor, a
//!   callback): each borrow is taken, used and released around one queue
//!   operation.
//! * A task is in the registry from spawn until it completes; the registry's
//!   reference is what keeps a detached, sleeping task alive.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::shared::Shared;
use crate::reactor::Reactor;
use crate::task::raw::{self, Header, Outcome};
use crate::task::state::Flags;
use crate::task::{Task, TaskRef, report_unretrieved_panic};
use crate::timer::Timers;

/// Options fixed when the runtime is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Most tasks polled in one turn before timers and I/O get a look.
    pub(crate) max_batch: usize,
    /// asyncio's debug mode: slow polls and pending tasks at shutdown are logged.
    pub(crate) debug: bool,
    /// In debug mode, a poll longer than this is reported.
    pub(crate) slow_poll: Duration,
    /// Resolution of the timer wheel.
    pub(crate) tick: Duration,
    /// Run on a virtual clock that jumps to the next deadline when idle.
    pub(crate) virtual_time: bool,
}

/// The loop's state. Owned by `Runtime`, reached through `context` while running.
pub(crate) struct Core {
    /// Cross-thread half: inject queue and poll waker.
    pub(crate) shared: Arc<Shared>,
    /// Tasks ready to be polled, in wake order.
    run_queue: RefCell<VecDeque<TaskRef>>,
    /// Every task not yet complete, so `all_tasks` and shutdown can find
    /// them. A task's `key` is its index; removal swaps the last one in (one
    /// pointer per task, O(1) both ways).
    registry: RefCell<Vec<TaskRef>>,
    /// The task being polled, for `current_task` and the checkpoints.
    current: Cell<Option<NonNull<Header>>>,
    /// Callbacks (asyncio's `call_soon`) and the count of tasks pushed.
    soon: Rc<Soon>,
    /// Tasks popped off the run queue so far.
    popped: Cell<u64>,
    /// The id of the next task.
    next_id: Cell<u64>,
    /// Where the loop sleeps.
    reactor: RefCell<Reactor>,
    /// The clock and the timer wheel.
    pub(crate) timers: Rc<Timers>,
    /// Set while the runtime is dropped: new tasks are cancelled at once.
    shutting_down: Cell<bool>,
    /// Options.
    pub(crate) config: Config,
}

impl Core {
    pub(crate) fn new(config: Config) -> std::io::Result<Core> {
        let (reactor, waker) = Reactor::new()?;
        Ok(Core {
            shared: Arc::new(Shared::new(waker)),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            registry: RefCell::new(Vec::new()),
            current: Cell::new(None),
            soon: Rc::new(Soon::default()),
            popped: Cell::new(0),
            next_id: Cell::new(1),
            reactor: RefCell::new(reactor),
            timers: Rc::new(Timers::new(config.tick, config.virtual_time)),
            shutting_down: Cell::new(false),
            config,
        })
    }

    /// Whether `shared` is this runtime's.
    #[inline]
    pub(crate) fn owns(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// The task being polled.
    #[inline]
    pub(crate) fn current(&self) -> Option<NonNull<Header>> {
        self.current.get()
    }

    /// Appends a scheduled task to the run queue.
    #[inline]
    pub(crate) fn push(&self, task: TaskRef) {
        self.soon.pushed.set(self.soon.pushed.get() + 1);
        self.run_queue.borrow_mut().push_back(task);
    }

    /// Queues a callback behind the tasks already queued.
    pub(crate) fn call_soon(&self, f: Box<dyn FnOnce()>) {
        self.soon.push(f);
    }

    /// The callback queue, for `context` to reach while the loop is idle.
    pub(crate) fn soon(&self) -> &Rc<Soon> {
        &self.soon
    }

    /// Every task not done.
    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        self.registry.borrow().clone()
    }

    /// Spawns a `'static` future.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // SAFETY: `F` and its output are `'static`.
        unsafe { self.spawn_unchecked(future, location) }
    }

    /// Spawns any future.
    ///
    /// # Safety
    /// If `F` or its output borrow anything, the caller must drop the future
    /// or its output (complete the task and take or drop the output) before
    /// the borrow ends; see `raw::allocate`.
    pub(crate) unsafe fn spawn_unchecked<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> Task<F::Output> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        // Three references: the registry, the handle, the run queue.
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { raw::allocate(future, self.shared.clone(), id, 3) };
        // SAFETY: `ptr` is a new task of output `F::Output`; one reference
        // each goes to the handle, the registry and the queue.
        let (task, registered, queued) = unsafe {
            (
                Task::<F::Output>::from_raw(ptr),
                TaskRef::from_raw(ptr),
                TaskRef::from_raw(ptr),
            )
        };
        if self.config.debug {
            task.header().with_extras(|e| e.spawned_at = Some(location));
        }
        let mut registry = self.registry.borrow_mut();
        let key = u32::try_from(registry.len()).expect("more than 4 billion live tasks");
        registry.push(registered);
        drop(registry);
        task.header().key.set(key);
        if self.shutting_down.get() {
            // The runtime is being dropped: the task never runs.
            let outcome = task.header().drop_future();
            self.complete(&queued, outcome);
        } else {
            self.push(queued);
        }
        task
    }

    /// Turns the loop until `done()` holds.
    pub(crate) fn run_until(&self, mut done: impl FnMut() -> bool) {
        while !done() {
            self.turn(&mut done);
        }
    }

    /// One turn of the loop (see the module doc).
    fn turn(&self, done: &mut impl FnMut() -> bool) {
        let injected = self.shared.drain_into(&mut self.run_queue.borrow_mut());
        self.soon
            .pushed
            .set(self.soon.pushed.get() + injected as u64);
        for _ in 0..self.config.max_batch {
            self.run_due_callbacks();
            let next = self.run_queue.borrow_mut().pop_front();
            let Some(task) = next else { break };
            self.popped.set(self.popped.get() + 1);
            self.run_task(task);
            if done() {
                return;
            }
        }
        self.run_due_callbacks();
        self.timers.fire_due();
        self.park();
    }

    /// Polls one task taken off the run queue.
    fn run_task(&self, task: TaskRef) {
        let h = task.header();
        let prev = h.state.unset_scheduled();
        if prev & crate::task::state::COMPLETE != 0 {
            return;
        }
        let flags = h.flags.get();
        let unstarted_cancel = !flags.intersects(Flags::STARTED | Flags::MAIN)
            && flags.contains(Flags::CANCEL_PENDING);
        if flags.contains(Flags::ABORT) || unstarted_cancel {
            // Destructors run as the task, so `current_task()` works in them.
            let prev = self.current.replace(Some(task.as_ptr()));
            let outcome = h.drop_future();
            self.current.set(prev);
            self.complete(&task, outcome);
            return;
        }
        h.update_flags(|f| f.with(Flags::STARTED));
        let prev = self.current.replace(Some(task.as_ptr()));
        // SAFETY: `task` holds a reference for the whole poll.
        let waker = unsafe { raw::borrowed_waker(task.as_ptr()) };
        let mut cx = Context::from_waker(&waker);
        let started = self.config.debug.then(Instant::now);
        let poll = h.poll(&mut cx);
        self.current.set(prev);
        if let Some(started) = started {
            self.report_slow_poll(&task, started.elapsed());
        }
        if let Poll::Ready(outcome) = poll {
            self.complete(&task, outcome);
        }
    }

    /// Records a finished task: outcome flags, registry, waiters, callbacks.
    pub(crate) fn complete(&self, task: &TaskRef, outcome: Outcome) {
        let h = task.header();
        h.update_flags(|f| match outcome {
            Outcome::Ok => f,
            Outcome::Cancelled => f.with(Flags::OUT_CANCELLED),
            Outcome::Panicked => f.with(Flags::OUT_PANICKED),
        });
        h.state.set_complete();
        let key = h.key.replace(u32::MAX) as usize;
        let registered = {
            let mut registry = self.registry.borrow_mut();
            match registry.get(key) {
                Some(t) if t == task => {
                    let removed = registry.swap_remove(key);
                    if let Some(moved) = registry.get(key) {
                        moved.header().key.set(key as u32);
                    }
                    Some(removed)
                }
                _ => None,
            }
        };
        if !h.flags.get().contains(Flags::HAS_HANDLE) {
            report_unretrieved_panic(task);
            h.drop_stage();
        }
        if let Some(w) = h.join_waker.take() {
            w.wake();
        }
        // Nothing non-`Send` may stay in the extras once complete (the last
        // reference may be dropped on another thread).
        let (callbacks, wakers, join_slot, waiters) = h.peek_extras(|e| match e {
            Some(e) => (
                std::mem::take(&mut e.callbacks),
                std::mem::take(&mut e.cancel_wakers),
                std::mem::take(&mut e.join_slot),
                std::mem::take(&mut e.done_queues),
            ),
            None => Default::default(),
        });
        drop(wakers);
        drop(join_slot);
        for (_, (queue, index)) in waiters {
            queue.notify(index);
        }
        for cb in callbacks {
            let t = task.clone();
            self.call_soon(Box::new(move || cb(&t)));
        }
        drop(registered);
    }

    /// Runs the callbacks whose turn in the FIFO has come (every task queued
    /// before them was polled). A panicking callback is logged.
    fn run_due_callbacks(&self) {
        // Only those queued before this call: one queued now waits its turn.
        let n = self.soon.queue.borrow().len();
        for _ in 0..n {
            let cb = {
                let mut soon = self.soon.queue.borrow_mut();
                match soon.front() {
                    Some((seq, _)) if *seq <= self.popped.get() => soon.pop_front(),
                    _ => None,
                }
            };
            let Some((_, cb)) = cb else { return };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(cb)) {
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(|s| s.as_str()))
                    .unwrap_or("<non-string panic>");
                log::error!("taskloop: a callback panicked: {msg}");
            }
        }
    }

    /// Sleeps in the reactor until there is something to do.
    ///
    /// With work ready it only looks for I/O (skipped with no I/O source).
    /// Otherwise it sleeps until the next timer deadline; on a virtual clock
    /// it instead jumps the clock there, after a last look for I/O.
    fn park(&self) {
        let busy = !self.run_queue.borrow().is_empty()
            || !self.soon.queue.borrow().is_empty()
            || self.shared.is_notified();
        let mut reactor = self.reactor.borrow_mut();
        let timeout = if busy {
            if !reactor.has_sources() {
                return;
            }
            Some(Duration::ZERO)
        } else if self.timers.clock.is_virtual() {
            if reactor.has_sources() {
                Self::poll_reactor(&mut reactor, Some(Duration::ZERO));
                if !self.run_queue.borrow().is_empty() {
                    return;
                }
            }
            if self.timers.advance_virtual() {
                return;
            }
            None
        } else {
            match self.timers.next_timeout() {
                // `epoll_wait` counts whole milliseconds and mio rounds up,
                // which would add up to 1 ms of lateness on top of the tick.
                // So the poll wakes up to 1 ms *early* (whole milliseconds,
                // rounded down), and the last sub-millisecond stretch is
                // slept precisely, when no I/O source could need the poll;
                // a wake from another thread then waits at most that long.
                Some(d) if d < Duration::from_millis(1) && !reactor.has_sources() => {
                    drop(reactor);
                    if !d.is_zero() && !self.shared.is_notified() {
                        std::thread::sleep(d);
                    }
                    return;
                }
                Some(d) => Some(Duration::from_millis(d.as_millis() as u64)),
                None => None,
            }
        };
        Self::poll_reactor(&mut reactor, timeout);
    }

    fn poll_reactor(reactor: &mut Reactor, timeout: Option<Duration>) {
        if let Err(e) = reactor.turn(timeout) {
            panic!("taskloop: polling for I/O failed: {e}");
        }
    }

    /// Debug mode: warns about a poll that blocked the loop.
    fn report_slow_poll(&self, task: &TaskRef, took: Duration) {
        if took >= self.config.slow_poll {
            log::warn!(
                "{} (spawned at {}) blocked the loop for {:?} in one poll (debug threshold {:?})",
                task.name(),
                spawn_location(task),
                took,
                self.config.slow_poll
            );
        }
    }

    /// Cancels every pending task and turns the loop until those are done
    /// (asyncio's `Runner.close()` step 1 and 2).
    pub(crate) fn cancel_and_wait_all(&self) {
        let pending = self.all_tasks();
        for t in &pending {
            t.cancel();
        }
        self.run_until(|| pending.iter().all(|t| t.is_done()));
    }

    /// Drops every task's future and frees every task (the runtime's drop).
    pub(crate) fn shutdown(&self) {
        self.shutting_down.set(true);
        let injected = self.shared.close();
        drop(injected);
        let pending = self.all_tasks();
        if self.config.debug && !pending.is_empty() {
            let names: Vec<String> = pending
                .iter()
                .map(|t| format!("{} (spawned at {})", t.name(), spawn_location(t)))
                .collect();
            log::warn!(
                "taskloop: runtime dropped with {} pending task(s): {}",
                names.len(),
                names.join(", ")
            );
        }
        // Destructors may spawn (those tasks are cancelled at once) or wake
        // other tasks; loop until nothing is left.
        let mut pending = pending;
        while !pending.is_empty() {
            for task in &pending {
                if !task.is_done() {
                    let prev = self.current.replace(Some(task.as_ptr()));
                    let outcome = task.header().drop_future();
                    self.current.set(prev);
                    self.complete(task, outcome);
                }
            }
            pending = self.all_tasks();
        }
        let queued = std::mem::take(&mut *self.run_queue.borrow_mut());
        drop(queued);
        let callbacks = std::mem::take(&mut *self.soon.queue.borrow_mut());
        drop(callbacks);
    }
}

/// A queued callback.
pub(crate) type Callback = Box<dyn FnOnce()>;

/// The loop's callback queue (asyncio's `call_soon` queue).
#[derive(Default)]
pub(crate) struct Soon {
    /// Callbacks, each stamped with the value of `pushed` when it was queued:
    /// it runs once that many tasks have been popped.
    pub(crate) queue: RefCell<VecDeque<(u64, Callback)>>,
    /// Tasks pushed onto the run queue so far.
    pub(crate) pushed: Cell<u64>,
}

impl Soon {
    /// Queues `f` behind every task queued so far.
    pub(crate) fn push(&self, f: Box<dyn FnOnce()>) {
        self.queue.borrow_mut().push_back((self.pushed.get(), f));
    }
}

/// Where a task was spawned, if debug mode recorded it.
fn spawn_location(task: &TaskRef) -> String {
    task.header()
        .peek_extras(|e| e.and_then(|e| e.spawned_at))
        .map_or_else(|| "an unrecorded place".to_owned(), |l| l.to_string())
}
