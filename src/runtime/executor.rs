//! The executor: the run queue, the registry of live tasks, and one turn of
//! the loop.
//!
//! # One turn
//!
//! 1. Move tasks woken from other threads (the inject queue) to the run queue.
//! 2. Poll ready tasks in FIFO order (with `Builder::shuffle`, each
//!    generation of them permuted, see `shuffle`), at most `max_batch` of
//!    them, so that a task that keeps waking itself cannot starve timers
//!    and I/O. Callbacks (done-callbacks) share that FIFO, as in asyncio:
//!    each runs once as many tasks were polled as were queued before it.
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
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::driver::Driver;
use super::shared::Shared;
use super::shuffle::RunOrder;
use crate::cancel::state::{cancelled_before_start, stuck_outside_checkpoints};
use crate::reactor::Reactor;
use crate::task::state::Flags;
use crate::task::{DoneCallback, Notified, Outcome, Registry, Task, TaskRef, run_caught};
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
    /// Whether `tick` was set explicitly (else a virtual clock has 1 ns ticks).
    pub(crate) tick_set: bool,
    /// Virtual time: whether the idle loop moves the clock by itself.
    pub(crate) auto_advance: bool,
    /// Schedule shuffling: the seed, when on.
    pub(crate) shuffle: Option<u64>,
    /// Called after a stall is reported (`#[taskloop::test]` fails on it).
    pub(crate) on_stall: Option<StallHook>,
    /// Most threads of the blocking pool.
    pub(crate) blocking_threads: usize,
    /// How long an idle blocking thread waits for work before it exits.
    pub(crate) blocking_keep_alive: Duration,
    /// `run`: a SIGINT cancels the main task.
    pub(crate) ctrl_c: bool,
    /// `run`: a SIGTERM cancels the main task too.
    pub(crate) graceful_sigterm: bool,
    /// `run`: how long the shutdown waits for the pending tasks' clean-up.
    pub(crate) shutdown_timeout: Duration,
    /// A signal that prints a task dump on standard error, when opted in.
    pub(crate) dump_signal: Option<crate::signal::SignalKind>,
}

/// A callback run on the loop thread after a stall is reported.
#[derive(Clone)]
pub(crate) struct StallHook(pub(crate) Rc<dyn Fn()>);

impl std::fmt::Debug for StallHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StallHook")
    }
}

impl Config {
    /// The wheel's tick: a virtual clock is exact to the nanosecond unless a
    /// tick was asked for (no deadline is rounded up to a millisecond).
    fn timer_tick(&self) -> Duration {
        if self.virtual_time && !self.tick_set {
            Duration::from_nanos(1)
        } else {
            self.tick
        }
    }
}

/// The loop's state. Owned by `Runtime`, reached through `context` while running.
pub(crate) struct Core {
    /// Every task not yet complete, and the scheduler they wake through.
    pub(crate) registry: Registry<Shared>,
    /// Tasks ready to be polled, in wake order.
    run_queue: RefCell<VecDeque<TaskRef>>,
    /// Reused buffer for tasks drained from the inject queue.
    injected: RefCell<VecDeque<Notified>>,
    /// Callbacks (asyncio's `call_soon`) and the count of tasks pushed.
    soon: Rc<Soon>,
    /// Tasks popped off the run queue so far.
    popped: Cell<u64>,
    /// Parking: the clock, the timer wheel and the reactor.
    pub(crate) driver: Driver,
    /// The task groups, for task dumps.
    pub(crate) groups: super::dump::Groups,
    /// Schedule shuffling: permutes each generation of the run queue.
    run_order: Option<RunOrder>,
    /// Set while the runtime is dropped: new tasks are cancelled at once.
    shutting_down: Cell<bool>,
    /// The blocking pool, started at the first `to_thread`.
    blocking: std::cell::OnceCell<Arc<crate::blocking::pool::Pool>>,
    /// The listener of `Builder::dump_on_signal`, installed by `build`.
    pub(crate) dump_on_signal: std::cell::OnceCell<super::dump_signal::DumpOnSignal>,
    /// Debug mode: reports a poll that does not return (`None` otherwise).
    pub(crate) watchdog: Option<super::watchdog::Watchdog>,
    /// Options.
    pub(crate) config: Config,
}

impl Core {
    pub(crate) fn new(config: Config) -> std::io::Result<Core> {
        let (reactor, waker) = Reactor::new()?;
        Ok(Core {
            registry: Registry::new(Shared::new(waker)),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            injected: RefCell::new(VecDeque::new()),
            soon: Rc::new(Soon {
                slow_callback: config.debug.then_some(config.slow_poll),
                ..Soon::default()
            }),
            popped: Cell::new(0),
            driver: Driver::new(
                Timers::new(
                    config.timer_tick(),
                    config.virtual_time,
                    config.auto_advance,
                    config.shuffle,
                ),
                reactor,
            ),
            run_order: config.shuffle.map(RunOrder::new),
            groups: Default::default(),
            shutting_down: Cell::new(false),
            blocking: std::cell::OnceCell::new(),
            dump_on_signal: std::cell::OnceCell::new(),
            watchdog: config
                .debug
                .then(|| super::watchdog::Watchdog::new(config.slow_poll)),
            config,
        })
    }

    /// The blocking pool, started on first use.
    pub(crate) fn blocking_pool(&self) -> Arc<crate::blocking::pool::Pool> {
        self.blocking
            .get_or_init(|| {
                Arc::new(crate::blocking::pool::Pool::new(
                    self.config.blocking_threads,
                    self.config.blocking_keep_alive,
                ))
            })
            .clone()
    }

    /// The count of blocking jobs whose result the loop still expects.
    pub(crate) fn blocking_in_flight(&self) -> Rc<Cell<usize>> {
        self.driver.external.clone()
    }

    /// The cross-thread half.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        self.registry.scheduler()
    }

    /// Whether `shared` is this runtime's scheduler.
    #[inline]
    pub(crate) fn is_scheduler(&self, shared: &Shared) -> bool {
        std::ptr::eq(Arc::as_ptr(self.shared()), shared)
    }

    /// The address that identifies this runtime (its scheduler's).
    pub(crate) fn owner(&self) -> usize {
        Arc::as_ptr(self.shared()) as usize
    }

    /// Appends a scheduled task to the run queue.
    #[inline]
    pub(crate) fn push(&self, task: TaskRef) {
        self.soon.pushed.set(self.soon.pushed.get() + 1);
        self.run_queue.borrow_mut().push_back(task);
    }

    /// Queues a done-callback of `task` behind the tasks already queued.
    pub(crate) fn call_soon(&self, task: TaskRef, f: DoneCallback) {
        self.soon.push(task, f);
    }

    /// The callback queue, for `context` to reach while the loop is idle.
    pub(crate) fn soon(&self) -> &Rc<Soon> {
        &self.soon
    }

    /// Every task not done.
    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        self.registry.all()
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
        let (task, queued) = self
            .registry
            .spawn(future, self.config.debug.then_some(location));
        if self.config.debug {
            self.record_spawn_time(&queued);
        }
        if self.shutting_down.get() {
            // The runtime is being dropped: the task never runs.
            let outcome = queued.drop_future();
            self.complete(&queued, outcome);
        } else {
            self.push(queued);
        }
        task
    }

    /// Debug mode: stamps a task with its spawn time (its age in a dump)
    /// and gives the watchdog its label.
    pub(crate) fn record_spawn_time(&self, task: &TaskRef) {
        if self.config.debug {
            let now = self.driver.timers.clock.now();
            task.header().with_extras(|e| e.spawned_time = Some(now));
        }
        if let Some(watchdog) = &self.watchdog {
            watchdog.track(task);
        }
    }

    /// Turns the loop until `done()` holds.
    pub(crate) fn run_until(&self, mut done: impl FnMut() -> bool) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.start();
        }
        while !done() {
            self.turn(&mut done);
        }
    }

    /// One turn of the loop (see the module doc).
    fn turn(&self, done: &mut impl FnMut() -> bool) {
        self.drain_injected();
        // One look at the shuffling per turn, not per task: the unshuffled
        // batch is the plain FIFO loop.
        let finished = match &self.run_order {
            None => self.run_batch(done, || self.run_queue.borrow_mut().pop_front()),
            Some(order) => self.run_batch(done, || order.pop(&mut self.run_queue.borrow_mut())),
        };
        if finished {
            return;
        }
        self.run_due_callbacks();
        self.driver.fire_timers();
        let busy = !self.run_queue.borrow().is_empty()
            || !self.soon.queue.borrow().is_empty()
            || self.shared().is_notified();
        self.driver.park(
            busy,
            || !self.run_queue.borrow().is_empty(),
            || self.shared().is_notified(),
            || self.report_stall(),
        );
        if let Some(trigger) = self.dump_on_signal.get() {
            if trigger.delivered() {
                trigger.print(self);
            }
        }
    }

    /// Polls up to `max_batch` tasks taken with `pop`, callbacks between
    /// them; returns whether `done()` became true.
    #[inline(always)]
    fn run_batch(
        &self,
        done: &mut impl FnMut() -> bool,
        pop: impl Fn() -> Option<TaskRef>,
    ) -> bool {
        for _ in 0..self.config.max_batch {
            self.run_due_callbacks();
            let Some(task) = pop() else { break };
            self.popped.set(self.popped.get() + 1);
            self.run_task(task);
            if done() {
                return true;
            }
        }
        false
    }

    /// Moves the tasks woken on other threads onto the run queue, and the
    /// callbacks submitted from them onto the callback FIFO.
    fn drain_injected(&self) {
        let mut calls = Vec::new();
        let mut injected = self.injected.borrow_mut();
        self.shared().drain(&mut injected, &mut calls);
        for task in injected.drain(..) {
            self.push(self.registry.assert_owner(task));
        }
        drop(injected);
        for call in calls {
            self.soon.push_callback(call);
        }
    }

    /// Polls one task taken off the run queue.
    fn run_task(&self, task: TaskRef) {
        let h = task.header();
        let prev = h.state.unset_scheduled();
        if prev & crate::task::state::COMPLETE != 0 {
            return;
        }
        if h.flags.get().contains(Flags::ABORT) || cancelled_before_start(h) {
            let outcome = task.drop_future();
            self.complete(&task, outcome);
            return;
        }
        h.update_flags(|f| f.with(Flags::STARTED).without(Flags::PARKED));
        // Debug mode: the watchdog sees the poll while it runs, the
        // slow-poll warning after it returned.
        let started = self.watchdog.as_ref().map(|w| w.poll_started(h.id));
        let (poll, self_woken) = task.poll();
        if let (Some(watchdog), Some(started)) = (&self.watchdog, started) {
            watchdog.poll_ended();
            self.report_slow_poll(&task, started.elapsed());
        }
        match poll {
            Poll::Ready(outcome) => self.complete(&task, outcome),
            // The fallback of the cancellation rule: the task was polled with
            // a cancellation outstanding and parked where none can reach it
            // (a future of another crate). Its future is dropped, as Rust
            // cancels, and the task ends cancelled, so that whoever waits
            // for it is not blocked forever.
            Poll::Pending if stuck_outside_checkpoints(h) => {
                let msg = format!(
                    "taskloop: {} (spawned at {}) was cancelled while waiting on a future \
                     that cannot see cancellations; its future was dropped (wrap such \
                     waits in taskloop::cancellable to let them see the request)",
                    task.name(),
                    spawn_location(&task)
                );
                if self.config.debug {
                    crate::task::report(log::Level::Warn, format_args!("{msg}"));
                } else {
                    log::debug!("{msg}");
                }
                let outcome = task.drop_future();
                self.complete(&task, outcome);
            }
            // It woke itself during the poll: queued now, behind what it
            // woke (the deferred self-wake of `task::current`).
            Poll::Pending if self_woken => self.push(task),
            Poll::Pending => {}
        }
    }

    /// Records a finished task and queues its done-callbacks.
    pub(crate) fn complete(&self, task: &TaskRef, outcome: Outcome) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.untrack(task.header().id);
        }
        for cb in self.registry.complete(task, outcome) {
            self.call_soon(task.clone(), cb);
        }
    }

    /// Runs the callbacks whose turn in the FIFO has come (every task queued
    /// before them was polled). A panicking callback is logged; in debug
    /// mode so is a slow one, as a slow poll is.
    #[inline]
    fn run_due_callbacks(&self) {
        // The common case, checked without touching the queue: none is due.
        if self.soon.next_due.get() > self.popped.get() {
            return;
        }
        // Only those queued before this call: one queued now waits its turn.
        let n = self.soon.queue.borrow().len();
        for _ in 0..n {
            let cb = {
                let mut soon = self.soon.queue.borrow_mut();
                let cb = match soon.front() {
                    Some((seq, _)) if *seq <= self.popped.get() => soon.pop_front(),
                    _ => None,
                };
                self.soon
                    .next_due
                    .set(soon.front().map_or(u64::MAX, |(seq, _)| *seq));
                cb
            };
            let Some((_, cb)) = cb else { return };
            run_caught("a callback", cb);
        }
    }

    /// The loop has nothing that can wake it (the driver's stall rule):
    /// names the pending tasks, which wait for something no task, timer,
    /// I/O source or blocking job will ever provide (a deadlock), unless
    /// another thread wakes them.
    fn report_stall(&self) {
        let pending: Vec<String> = self
            .all_tasks()
            .iter()
            .map(|t| format!("{} (spawned at {})", t.name(), spawn_location(t)))
            .collect();
        let why = if self.driver.timers.held_by_pause() {
            "no task is ready and the virtual clock's auto-advance is paused with timers \
             pending, so only time::advance, time::resume_auto_advance or a wake from \
             another thread can resume it"
        } else {
            "no task is ready and no timer, I/O source or blocking job is pending, so only \
             a wake from another thread can resume it"
        };
        crate::task::report(
            log::Level::Warn,
            format_args!(
                "taskloop: the loop is stalled: {why} (a deadlock otherwise; a signal can \
                 still wake it). {} pending task(s): {}\ntask dump: {}",
                pending.len(),
                pending.join(", "),
                super::dump::TaskDump::of(self)
            ),
        );
        if let Some(hook) = &self.config.on_stall {
            (hook.0)();
        }
    }

    /// Debug mode: warns about a poll that blocked the loop.
    fn report_slow_poll(&self, task: &TaskRef, took: Duration) {
        if took >= self.config.slow_poll {
            crate::task::report(
                log::Level::Warn,
                format_args!(
                    "{} (spawned at {}) blocked the loop for {:?} in one poll (debug threshold {:?})",
                    task.name(),
                    spawn_location(task),
                    took,
                    self.config.slow_poll
                ),
            );
        }
    }

    /// Cancels every pending task and turns the loop until those are done
    /// (asyncio's `Runner.close()` step 1 and 2). Linear in the number of
    /// tasks: the completion check resumes where it stopped.
    pub(crate) fn cancel_and_wait_all(&self) {
        let pending = self.all_tasks();
        for t in &pending {
            t.cancel();
        }
        let mut checked = 0;
        self.run_until(|| {
            while checked < pending.len() && pending[checked].is_done() {
                checked += 1;
            }
            checked == pending.len()
        });
    }

    /// Drops every task's future and frees every task (the runtime's drop).
    pub(crate) fn shutdown(&self) {
        self.shutting_down.set(true);
        if let Some(watchdog) = &self.watchdog {
            watchdog.stop();
        }
        drop(self.shared().close());
        if let Some(pool) = self.blocking.get() {
            pool.shutdown();
        }
        let pending = self.all_tasks();
        if self.config.debug && !pending.is_empty() {
            let names: Vec<String> = pending
                .iter()
                .map(|t| format!("{} (spawned at {})", t.name(), spawn_location(t)))
                .collect();
            crate::task::report(
                log::Level::Warn,
                format_args!(
                    "taskloop: runtime dropped with {} pending task(s): {}",
                    names.len(),
                    names.join(", ")
                ),
            );
        }
        // Destructors may spawn (those tasks are cancelled at once) or wake
        // other tasks; loop until nothing is left.
        let mut pending = pending;
        while !pending.is_empty() {
            for task in &pending {
                if !task.is_done() {
                    let outcome = task.drop_future();
                    self.complete(task, outcome);
                }
            }
            pending = self.all_tasks();
        }
        let queued = std::mem::take(&mut *self.run_queue.borrow_mut());
        drop(queued);
        let callbacks = std::mem::take(&mut *self.soon.queue.borrow_mut());
        self.soon.next_due.set(u64::MAX);
        drop(callbacks);
    }
}

/// The loop's callback queue (asyncio's `call_soon` queue).
pub(crate) struct Soon {
    /// Callbacks, each stamped with the value of `pushed` when it was queued:
    /// it runs once that many tasks have been popped.
    pub(crate) queue: RefCell<VecDeque<(u64, Callback)>>,
    /// Tasks pushed onto the run queue so far.
    pub(crate) pushed: Cell<u64>,
    /// The stamp of the first queued callback (`u64::MAX` when none), so the
    /// loop sees "nothing due" without borrowing the queue.
    pub(crate) next_due: Cell<u64>,
    /// Debug mode: the slow-callback threshold (`None`: not timed).
    pub(crate) slow_callback: Option<Duration>,
}

impl Default for Soon {
    fn default() -> Soon {
        Soon {
            queue: RefCell::default(),
            pushed: Cell::new(0),
            next_due: Cell::new(u64::MAX),
            slow_callback: None,
        }
    }
}

/// A queued callback: a done-callback bound to its task.
pub(crate) type Callback = Box<dyn FnOnce()>;

impl Soon {
    /// Queues `f` (a done-callback of `task`) behind every task queued so
    /// far; in debug mode it is timed, and reported if slow (asyncio's debug
    /// mode reports every slow callback, as a slow poll).
    pub(crate) fn push(&self, task: TaskRef, f: DoneCallback) {
        let cb: Callback = match self.slow_callback {
            None => Box::new(move || f(&task)),
            Some(threshold) => Box::new(move || {
                let started = Instant::now();
                f(&task);
                report_slow_callback(&task, started.elapsed(), threshold);
            }),
        };
        self.push_callback(cb);
    }

    /// Queues a plain callback (one submitted from another thread through a
    /// `Handle`) behind every task queued so far.
    pub(crate) fn push_callback(&self, cb: Callback) {
        let mut queue = self.queue.borrow_mut();
        if queue.is_empty() {
            self.next_due.set(self.pushed.get());
        }
        queue.push_back((self.pushed.get(), cb));
    }
}

/// Debug mode: warns about a done-callback that blocked the loop.
fn report_slow_callback(task: &TaskRef, took: Duration, threshold: Duration) {
    if took >= threshold {
        crate::task::report(
            log::Level::Warn,
            format_args!(
                "a done-callback of {} (spawned at {}) blocked the loop for {took:?} \
                 (debug threshold {threshold:?})",
                task.name(),
                spawn_location(task),
            ),
        );
    }
}

/// Where a task was spawned, if debug mode recorded it.
pub(crate) fn spawn_location(task: &TaskRef) -> String {
    task.header()
        .peek_extras(|e| e.and_then(|e| e.spawned_at))
        .map_or_else(|| "an unrecorded place".to_owned(), |l| l.to_string())
}
