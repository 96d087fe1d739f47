//! The runtime: [`Runtime`], its [`Builder`], and [`run`], asyncio's
//! `asyncio.run`.
//!
//! This module owns the loop's lifetime: entering it (`block_on`), and
//! shutting it down (cancelling or dropping what is left). The turn of the
//! loop itself lives in `executor`, parking (clock, timers, reactor) in
//! `driver`, the cross-thread half in `shared`, the thread-local handle in
//! `context`. It is the layer above `task` and `cancel`.

pub(crate) mod context;
mod driver;
mod dump;
mod dump_signal;
pub(crate) mod executor;
mod handle;
mod runner;
mod shared;
pub(crate) mod shuffle;
mod spawn;
mod watchdog;

pub(crate) use dump::{GroupMembers, register_group};
pub use dump::{TaskDump, TaskInfo, TaskState, WaitsOn};
pub use handle::{Handle, Remote, RuntimeGone};
pub use runner::Interrupted;
pub use spawn::{NoRuntime, Spawner, all_tasks, dump, spawn, spawn_named, try_spawn};

use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::task::state::Flags;
use crate::task::{Task, TaskRef};
use executor::{Config, Core};

/// A single-threaded event loop: asyncio's event loop plus `asyncio.Runner`.
///
/// Create one with [`Runtime::new`] or [`Runtime::builder`], drive a program
/// with [`block_on`](Self::block_on). A runtime is not `Send`: it lives and
/// runs on the thread that created it, and so do its tasks, whose futures
/// therefore need not be `Send`.
///
/// Dropping the runtime drops every task's future on this thread (their
/// destructors run) and frees every task; handles still alive report their
/// task as cancelled. To let pending tasks run their clean-up first, use
/// [`shutdown`](Self::shutdown), or [`run`] which does it for you.
///
/// # Implementation
/// One `mio::Poll` backs the loop. A turn polls up to
/// [`Builder::max_batch`] ready tasks in FIFO order (permuted by a seed
/// under [`Builder::shuffle`]), runs queued callbacks,
/// then polls the reactor (without blocking if work is ready). Wakes from
/// other threads go through a mutex-protected inject queue and a
/// `mio::Waker`.
///
/// # Examples
/// ```
/// let rt = taskloop::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let task = taskloop::spawn(async { 21 * 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct Runtime {
    /// The loop's state, shared with the thread-local context while running.
    core: Rc<Core>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with default options.
    ///
    /// # Errors
    /// If the OS refuses to create the poller (`epoll`/`kqueue`) or its waker.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder for a runtime with non-default options.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` as this runtime's main task and turns the loop until it
    /// completes; returns its output.
    ///
    /// The future runs *as a task* (`Task-1` in a fresh runtime), so
    /// [`current_task`](crate::current_task) and cancellation work inside it,
    /// as in `asyncio.run`. It need not be `'static` or `Send`. Other tasks
    /// still pending when it completes stay in the runtime: a later
    /// `block_on` resumes them, dropping the runtime drops them.
    ///
    /// The main task always runs and always yields its output, even if it
    /// was cancelled: its output type is where a cancellation shows (for
    /// example an `io::Error` that [`is_cancelled`](crate::is_cancelled)).
    ///
    /// # Panics
    /// If called from inside a running taskloop runtime (a task would block
    /// the very loop that drives it): await the future instead, or
    /// [`spawn`](crate::spawn) it. If the main future panics, the panic is
    /// resumed here, after the loop has stopped.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !context::is_entered(),
            "Runtime::block_on was called from inside a running taskloop runtime, \
             which would block the loop that drives it: `.await` the future instead, \
             or start it with taskloop::spawn"
        );
        let location = Location::caller();
        self.block_on_main(future, location).0
    }

    /// `block_on`, also telling whether the main task ended cancelled.
    fn block_on_main<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> (F::Output, bool) {
        let core = &*self.core;
        let _enter = context::enter(&self.core);
        let location = core.config.debug.then_some(location);
        // The main future may borrow from this frame: `run_scoped` drops it
        // (in place) before returning, also if the loop unwinds.
        let outcome = core.registry.run_scoped(future, location, |main, queued| {
            main.header().update_flags(|f| f.with(Flags::MAIN));
            core.record_spawn_time(&queued);
            core.push(queued);
            core.run_until(|| main.is_done());
            let cancelled = main.is_cancelled();
            (main.take_result(), cancelled)
        });
        match outcome {
            (Ok(Ok(output)), cancelled) => (output, cancelled),
            (Ok(Err(e)), _) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            (Ok(Err(e)), _) => unreachable!("the main task ended without a value: {e}"),
            (Err(e), _) => unreachable!("the main task's output is missing: {e}"),
        }
    }

    /// Spawns a task from outside the loop (it starts at the next
    /// `block_on`), or from inside it.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, Location::caller())
    }

    /// A handle that spawns onto this runtime (`futures::task::LocalSpawn`
    /// with the default `futures` feature).
    pub fn spawner(&self) -> Spawner {
        Spawner::new(&self.core)
    }

    /// A `Send + Sync` handle through which other threads submit work to
    /// this runtime ([`Handle::call_soon`], [`Handle::spawn`]).
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.shared().clone())
    }

    /// Every task of this runtime that is not done.
    pub fn all_tasks(&self) -> Vec<TaskRef> {
        self.core.all_tasks()
    }

    /// A live dump of this runtime's pending tasks as a tree (children of
    /// task groups under their parent), printable like `pstree`; see
    /// [`TaskDump`]. In [debug mode](Builder::debug) each task also shows
    /// where it was spawned and its age. The stall report prints one.
    ///
    /// # Examples
    /// ```
    /// let rt = taskloop::Runtime::new()?;
    /// let t = rt.spawn(std::future::pending::<()>());
    /// t.set_name("forever");
    /// let dump = rt.dump();
    /// assert_eq!(dump.len(), 1);
    /// assert_eq!(dump.tasks()[0].name, "forever");
    /// assert_eq!(dump.tasks()[0].state, taskloop::TaskState::NotStarted);
    /// assert!(dump.to_string().contains("└── forever (#1) [not started]"));
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn dump(&self) -> TaskDump {
        TaskDump::of(&self.core)
    }

    /// asyncio's `Runner.close()`: cancels every pending task, turns the loop
    /// until they have all finished their clean-up, then drops the runtime.
    ///
    /// A task that never reaches a checkpoint never sees the cancellation,
    /// and this waits for it (as asyncio does); abort such tasks first.
    ///
    /// # Panics
    /// If called from inside a running runtime.
    pub fn shutdown(self) {
        assert!(
            !context::is_entered(),
            "Runtime::shutdown was called from inside a running taskloop runtime"
        );
        let _enter = context::enter(&self.core);
        self.core.cancel_and_wait_all();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Destructors of the futures may use the runtime API: run them
        // inside this runtime's context (even when dropped from a task of
        // another runtime, whose context is restored afterwards).
        let _enter = context::enter(&self.core);
        context::unregister(self.core.owner());
        self.core.shutdown();
    }
}

/// Options for a [`Runtime`].
///
/// # Examples
/// ```
/// let rt = taskloop::Runtime::builder()
///     .debug(true)
///     .slow_poll_threshold(std::time::Duration::from_millis(50))
///     .build()?;
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it builds or runs a runtime"]
pub struct Builder {
    /// The configuration being built.
    config: Config,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// Default options; debug mode is on if `TASKLOOP_DEBUG` is set to `1`,
    /// `true`, `yes` or `on` (any case), [schedule
    /// shuffling](Self::shuffle) if `TASKLOOP_SEED` holds a seed, and
    /// [dumps on a signal](Self::dump_on_signal) if `TASKLOOP_DUMP_SIGNAL`
    /// names one (`SIGUSR1`, `usr1`, `SIGQUIT`, …).
    pub fn new() -> Builder {
        Builder {
            config: Config {
                max_batch: 128,
                debug: std::env::var("TASKLOOP_DEBUG").is_ok_and(|v| is_on(&v)),
                slow_poll: Duration::from_millis(100),
                tick: Duration::from_millis(1),
                virtual_time: false,
                tick_set: false,
                auto_advance: true,
                shuffle: seed_from_env(),
                on_stall: None,
                // asyncio's default executor: min(32, CPUs + 4) workers.
                blocking_threads: std::thread::available_parallelism()
                    .map_or(4, |n| n.get() + 4)
                    .min(32),
                blocking_keep_alive: Duration::from_secs(10),
                ctrl_c: true,
                graceful_sigterm: false,
                shutdown_timeout: Duration::from_secs(5),
                dump_signal: dump_signal_from_env(),
            },
        }
    }

    /// At most `n` task polls per turn of the loop before timers and I/O are
    /// looked at (default 128). Values below 1 are taken as 1.
    #[must_use = "builder methods return the changed builder"]
    pub fn max_batch(mut self, n: usize) -> Builder {
        self.config.max_batch = n.max(1);
        self
    }

    /// The most threads [`to_thread`](crate::to_thread) and
    /// [`spawn_blocking`](crate::spawn_blocking) use at once (default, as
    /// asyncio's default executor: min(32, CPUs + 4)); further jobs queue.
    /// Values below 1 are taken as 1.
    #[must_use = "builder methods return the changed builder"]
    pub fn blocking_threads(mut self, n: usize) -> Builder {
        self.config.blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking thread waits for a job before it exits
    /// (default 10 s).
    #[must_use = "builder methods return the changed builder"]
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.config.blocking_keep_alive = keep_alive;
        self
    }

    /// asyncio's debug mode: warn (through `log`) when one poll of a task
    /// blocks the loop longer than the [threshold](Self::slow_poll_threshold),
    /// naming the task and where it was spawned; list the tasks still pending
    /// when the runtime is dropped.
    ///
    /// A poll that *never* returns (a task blocked in a synchronous call, a
    /// deadlock inside user code) is reported while it still runs: at the
    /// first `block_on` the runtime starts a watchdog thread
    /// (`taskloop-watchdog`), which looks every half threshold and warns once
    /// per stuck poll, with the task's name, id and spawn site and the loop's
    /// thread. It reads only what the loop publishes at each poll (three
    /// atomic stores at the start, one at the end) and never touches a task;
    /// it is stopped and joined when the runtime is dropped. Without debug
    /// mode there is no thread and nothing is published.
    #[must_use = "builder methods return the changed builder"]
    pub fn debug(mut self, on: bool) -> Builder {
        self.config.debug = on;
        self
    }

    /// The slow-poll threshold of debug mode (default 100 ms): a longer poll
    /// or done-callback is reported when it returns, and a poll still
    /// running after it is reported by the watchdog (see
    /// [`debug`](Self::debug)).
    #[must_use = "builder methods return the changed builder"]
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.config.slow_poll = threshold;
        self
    }

    /// The resolution of the timer wheel (default 1 ms on the real clock,
    /// 1 ns on the [virtual clock](Self::virtual_time), where deadlines then
    /// land exactly): timers fire at most one tick late on an idle loop,
    /// never early. An explicit tick applies to the virtual clock too.
    ///
    /// # Panics
    /// If `tick` is zero.
    #[must_use = "builder methods return the changed builder"]
    pub fn tick(mut self, tick: Duration) -> Builder {
        assert!(!tick.is_zero(), "Builder::tick: the tick must be non-zero");
        self.config.tick = tick;
        self.config.tick_set = true;
        self
    }

    /// Runs the loop on a virtual clock: time stands still while any task is
    /// ready or any I/O event is pending, and jumps straight to the next
    /// timer deadline when the loop would otherwise sleep. A test of a
    /// 30-second timeout then runs in microseconds, deterministically.
    /// [`time::now`](crate::time::now) reads this clock.
    ///
    /// Its resolution is one nanosecond: `sleep(d)` wakes at exactly
    /// `now() + d`. The test clock ([`time::advance`](crate::time::advance),
    /// [`time::advance_to_next`](crate::time::advance_to_next),
    /// [`auto_advance`](Self::auto_advance)) moves it by hand.
    #[must_use = "builder methods return the changed builder"]
    pub fn virtual_time(mut self, on: bool) -> Builder {
        self.config.virtual_time = on;
        self
    }

    /// Whether [`run`](Self::run) and [`run_cli`](Self::run_cli) handle
    /// SIGINT (default `true`): the first Ctrl-C cancels the main task, a
    /// second one exits at once (see [`run`](crate::run)). With `false`,
    /// they install no handler and Ctrl-C keeps its default action.
    /// [`Runtime::block_on`] never handles signals.
    #[must_use = "builder methods return the changed builder"]
    pub fn ctrl_c(mut self, on: bool) -> Builder {
        self.config.ctrl_c = on;
        self
    }

    /// Whether [`run`](Self::run) and [`run_cli`](Self::run_cli) give
    /// SIGTERM the graceful path of SIGINT (default `false`): the first one
    /// cancels the main task, whose clean-up runs, a second one exits at
    /// once with status 143. What a service under a supervisor needs.
    #[must_use = "builder methods return the changed builder"]
    pub fn graceful_sigterm(mut self, on: bool) -> Builder {
        self.config.graceful_sigterm = on;
        self
    }

    /// How long (real time, also on a virtual clock) [`run`](Self::run)'s
    /// shutdown waits for the tasks still pending after the main task to
    /// finish their clean-up (default 5 s); the tasks still pending then are
    /// named in a warning and dropped. `Duration::MAX` waits as long as it
    /// takes, as asyncio does.
    #[must_use = "builder methods return the changed builder"]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Whether the [virtual clock](Self::virtual_time) jumps to the next
    /// deadline by itself when the loop is idle (default `true`). With
    /// `false` it moves only through [`time::advance`](crate::time::advance)
    /// and [`time::advance_to_next`](crate::time::advance_to_next), so a
    /// test can assert what is pending before time moves; see also
    /// [`time::pause_auto_advance`](crate::time::pause_auto_advance). No
    /// effect on the real clock.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use taskloop::time;
    /// let rt = taskloop::Runtime::builder()
    ///     .virtual_time(true)
    ///     .auto_advance(false)
    ///     .build()?;
    /// rt.block_on(async {
    ///     let t0 = time::now();
    ///     let sleeper = taskloop::spawn(time::sleep(Duration::from_secs(10)));
    ///     time::advance(Duration::from_secs(9)).await.unwrap();
    ///     assert!(!sleeper.is_done());
    ///     time::advance(Duration::from_secs(1)).await.unwrap();
    ///     assert!(sleeper.is_done());
    ///     assert_eq!(time::now() - t0, Duration::from_secs(10));
    /// });
    /// # Ok::<_, std::io::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder"]
    pub fn auto_advance(mut self, on: bool) -> Builder {
        self.config.auto_advance = on;
        self
    }

    /// Seeded schedule shuffling, to shake out order-dependent bugs: the
    /// order in which the ready tasks of one generation are polled, and the
    /// order of timers that fire at the same tick, are permuted by a
    /// generator seeded with `seed`. `Builder::new()` turns it on when
    /// `TASKLOOP_SEED` is set (decimal or `0x` hex); `None` turns it off.
    ///
    /// What is permuted: a *generation* is the set of tasks in the run
    /// queue when the previous generation has been polled; its order is
    /// shuffled, while tasks woken meanwhile queue behind it (so a task
    /// that yields still runs after every task that was ready when it
    /// yielded, as asyncio's `sleep(0)` promises). Timers keep their
    /// deadline order; only ties are permuted.
    ///
    /// What is not: done-callbacks stay FIFO among themselves, and each
    /// runs after as many task polls as there were tasks queued before it;
    /// every primitive's own order (a lock's, semaphore's or queue's
    /// waiters are served in arrival order by the primitive, not by the run
    /// queue), I/O readiness, and wakes from other threads.
    ///
    /// The same seed on the virtual clock replays the same schedule. When a
    /// task panics (the main task included), the seed is reported with its
    /// name, at error level (through `log`, or on stderr without a logger),
    /// so that the run can be replayed with `TASKLOOP_SEED`; an unretrieved
    /// panic's report names it too.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let order = |seed| {
    ///     let rt = taskloop::Runtime::builder()
    ///         .virtual_time(true)
    ///         .shuffle(seed)
    ///         .build()
    ///         .unwrap();
    ///     rt.block_on(async {
    ///         let log = Rc::new(RefCell::new(Vec::new()));
    ///         let tasks: Vec<_> = (0..5)
    ///             .map(|i| {
    ///                 let log = log.clone();
    ///                 taskloop::spawn(async move { log.borrow_mut().push(i) })
    ///             })
    ///             .collect();
    ///         for t in tasks {
    ///             t.await.unwrap();
    ///         }
    ///         log.take()
    ///     })
    /// };
    /// assert_eq!(order(Some(7)), order(Some(7)), "a seed replays its schedule");
    /// assert_eq!(order(None), [0, 1, 2, 3, 4], "unshuffled: FIFO");
    /// # Ok::<_, std::io::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder"]
    pub fn shuffle(mut self, seed: impl Into<Option<u64>>) -> Builder {
        self.config.shuffle = seed.into();
        self
    }

    /// Prints a [task dump](Runtime::dump) on standard error each time the
    /// process receives `signal` while this runtime lives (opt-in; `None`,
    /// the default, turns it off): a running program can be asked "where is
    /// it stuck?" with `kill -USR1 <pid>` (Go and the JVM answer SIGQUIT
    /// with their goroutine and thread dumps). `Builder::new()` takes the
    /// signal from `TASKLOOP_DUMP_SIGNAL` (`SIGUSR1` or `usr1`, any case).
    ///
    /// The dump goes to standard error, whole, in one write, whether or not
    /// a logger is installed (whoever sent the signal wants to see it; a
    /// log filter must not hide it). It starts with `taskloop: task dump on
    /// SIGUSR1 (loop thread …):`, then the tree as [`TaskDump`] displays it.
    ///
    /// Nothing else changes: the listener is not a task (it never shows in
    /// a dump, `all_tasks` or a shutdown), does not keep the loop awake
    /// (`block_on` returns when its future does, and a deadlock is still
    /// reported as a stall), and other listeners of the same signal still
    /// get every delivery. The dump is written on the loop thread between
    /// two polls, so a task that blocks the loop delays it until its poll
    /// returns (in [debug mode](Self::debug) the watchdog reports such a
    /// poll meanwhile). While the runtime lives, the signal no longer has
    /// its default action; once it is dropped, the signal's default action
    /// comes back (see [`crate::signal`]). SIGUSR1, SIGUSR2 and SIGQUIT are
    /// the sensible choices; SIGINT works too, and leaves Ctrl-C's handling
    /// by [`run`](Self::run) as it is.
    ///
    /// # Examples
    /// ```
    /// use taskloop::signal::SignalKind;
    /// let rt = taskloop::Runtime::builder()
    ///     .dump_on_signal(SignalKind::user_defined1())
    ///     .build()?;
    /// rt.block_on(async {
    ///     let _worker = taskloop::spawn_named("worker", std::future::pending::<()>());
    ///     // `kill -USR1 <pid>` now prints the main task and `worker` on stderr.
    /// });
    /// # Ok::<_, std::io::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder"]
    pub fn dump_on_signal(
        mut self,
        signal: impl Into<Option<crate::signal::SignalKind>>,
    ) -> Builder {
        self.config.dump_signal = signal.into();
        self
    }

    /// Builds a runtime with these options and runs `main` on it the way
    /// [`run`] does: SIGINT handling (unless [turned off](Self::ctrl_c));
    /// after `main` completes, every pending task is cancelled and awaited
    /// (within the [shutdown timeout](Self::shutdown_timeout)), then the
    /// runtime is dropped.
    ///
    /// After a Ctrl-C whose cancellation `main` did not
    /// [`uncancel`](crate::TaskRef::uncancel), the process exits with
    /// status 130 once the shutdown is done, as [`run`] does; use
    /// [`run_cli`](Self::run_cli) to get [`Interrupted`] back instead.
    ///
    /// # Errors
    /// If the OS refuses to create the poller or its waker, or the signal
    /// handler.
    ///
    /// # Panics
    /// As [`run`]: inside a running runtime, or (resumed) if `main` panics.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let out = taskloop::Runtime::builder().virtual_time(true).run(async {
    ///     taskloop::time::sleep(Duration::from_secs(3600)).await.unwrap();
    ///     "an hour later, at once"
    /// })?;
    /// assert_eq!(out, "an hour later, at once");
    /// # Ok::<_, std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn run<F: Future>(self, main: F) -> io::Result<F::Output> {
        let location = Location::caller();
        match runner::run_main(self.build()?, main, location)? {
            Ok(output) => Ok(output),
            Err(interrupted) => std::process::exit(i32::from(interrupted.exit_status())),
        }
    }

    /// [`run`](Self::run) for a command-line tool that decides its own
    /// exit: returns `Err(`[`Interrupted`]`)` instead of exiting when a
    /// Ctrl-C (or a graceful SIGTERM) cancelled the main task and it ended
    /// cancelled (it did not [`uncancel`](crate::TaskRef::uncancel)); the
    /// main task's output is then dropped, as asyncio's `run` raises
    /// `KeyboardInterrupt`. A main task that returned although interrupted
    /// gives `Ok`.
    ///
    /// # Errors
    /// The outer `io::Error`: the OS refused the poller, its waker or the
    /// signal handler.
    ///
    /// # Panics
    /// As [`run`].
    #[track_caller]
    pub fn run_cli<F: Future>(self, main: F) -> io::Result<Result<F::Output, Interrupted>> {
        let location = Location::caller();
        runner::run_main(self.build()?, main, location)
    }

    /// Runs `hook` on the loop thread after a stall is reported (the test
    /// harness fails the test on it).
    pub(crate) fn on_stall(mut self, hook: Rc<dyn Fn()>) -> Builder {
        self.config.on_stall = Some(executor::StallHook(hook));
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    /// If the OS refuses to create the poller or its waker, or (with
    /// [`dump_on_signal`](Self::dump_on_signal)) the signal handler.
    #[must_use = "a builder does nothing until it builds or runs a runtime"]
    pub fn build(self) -> io::Result<Runtime> {
        let core = Rc::new(Core::new(self.config)?);
        context::register(core.owner(), core.soon());
        let rt = Runtime { core };
        // Miri cannot install signal handlers (a foreign `sigaction`).
        if let Some(kind) = rt.core.config.dump_signal.filter(|_| !cfg!(miri)) {
            let trigger = dump_signal::DumpOnSignal::install(&rt.core, kind)?;
            let _ = rt.core.dump_on_signal.set(trigger);
        }
        Ok(rt)
    }
}

/// Runs `main` on a new runtime and returns its output: `asyncio.run`.
///
/// After `main` completes, every task still pending is cancelled and the
/// loop runs until each has finished its clean-up (at most 5 s, see
/// [`Builder::shutdown_timeout`]; the stragglers are then named in a
/// warning and dropped); then the runtime is dropped.
///
/// # Ctrl-C
/// For its duration, `run` handles SIGINT as asyncio's `Runner` does:
///
/// * the **first Ctrl-C cancels the main task**: a request, delivered as
///   `Err(Cancelled)` at its next checkpoint; its async clean-up runs, then
///   the shutdown above;
/// * a **second Ctrl-C** (or one after the main task is done) **exits the
///   process at once with status 130**, from the signal handler, even if a
///   task blocks the loop: no further clean-up or destructor runs;
/// * if the main task ended cancelled (it did not
///   [`uncancel`](crate::TaskRef::uncancel)), `run` exits the process with
///   status 130 once the shutdown is done, the analogue of asyncio's
///   `KeyboardInterrupt`; if it returned a value anyway after uncancelling,
///   `run` returns it.
///
/// Without a Ctrl-C nothing changes: the output is returned.
/// [`run_cli`] returns [`Interrupted`] instead of exiting;
/// [`Builder::ctrl_c`] turns the handling off, [`Builder::graceful_sigterm`]
/// gives SIGTERM the same path.
///
/// # Panics
/// If called inside a running runtime, if the OS refuses to create the
/// poller or the signal handler, or (resumed) if `main` panics.
///
/// # Examples
/// ```
/// let out = taskloop::run(async {
///     let worker = taskloop::spawn(async {
///         // Runs until cancelled by `run`'s shutdown, then cleans up.
///         while taskloop::yield_now().await.is_ok() {}
///     });
///     drop(worker); // detached: keeps running
///     "main is done"
/// });
/// assert_eq!(out, "main is done");
/// ```
#[track_caller]
pub fn run<F: Future>(main: F) -> F::Output {
    match run_cli(main) {
        Ok(output) => output,
        Err(interrupted) => std::process::exit(i32::from(interrupted.exit_status())),
    }
}

/// [`run`] for a command-line tool: returns `Err(`[`Interrupted`]`)` when a
/// Ctrl-C cancelled the main task and it ended cancelled, instead of exiting
/// (the main task's output is then dropped). A second Ctrl-C still exits at
/// once with status 130.
///
/// # Panics
/// As [`run`].
///
/// # Examples
/// ```
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     let outcome = taskloop::run_cli(async {
///         // ... the program; a Ctrl-C cancels it here, at a checkpoint.
///         taskloop::yield_now().await.is_ok()
///     });
///     match outcome {
///         Ok(_) => ExitCode::SUCCESS,
///         Err(interrupted) => interrupted.into(), // 130
///     }
/// }
/// # main();
/// ```
#[track_caller]
pub fn run_cli<F: Future>(main: F) -> Result<F::Output, Interrupted> {
    let location = Location::caller();
    let rt = Runtime::new()
        .unwrap_or_else(|e| panic!("taskloop::run: cannot create the event loop: {e}"));
    runner::run_main(rt, main, location)
        .unwrap_or_else(|e| panic!("taskloop::run: cannot install the SIGINT handler: {e}"))
}

/// Whether an environment switch reads as on: `1`, `true`, `yes`, `on`.
fn is_on(value: &str) -> bool {
    ["1", "true", "yes", "on"]
        .iter()
        .any(|on| value.trim().eq_ignore_ascii_case(on))
}

/// The seed in `TASKLOOP_SEED`, if any; a value that is not a seed is
/// reported and ignored.
fn seed_from_env() -> Option<u64> {
    let text = std::env::var(shuffle::SEED_VAR).ok()?;
    let seed = shuffle::parse_seed(&text);
    if seed.is_none() && !text.trim().is_empty() {
        crate::task::report(
            log::Level::Warn,
            format_args!(
                "taskloop: {}={text:?} is not a seed (a decimal or 0x-hex u64); shuffling stays off",
                shuffle::SEED_VAR
            ),
        );
    }
    seed
}

/// The signal named in `TASKLOOP_DUMP_SIGNAL`, if any; a value that names
/// no signal taskloop supports is reported and ignored.
fn dump_signal_from_env() -> Option<crate::signal::SignalKind> {
    let text = std::env::var(DUMP_SIGNAL_VAR).ok()?;
    let kind = crate::signal::SignalKind::from_name(&text);
    if kind.is_none() && !text.trim().is_empty() {
        crate::task::report(
            log::Level::Warn,
            format_args!(
                "taskloop: {DUMP_SIGNAL_VAR}={text:?} names no signal taskloop listens to \
                 (SIGUSR1, SIGUSR2, SIGQUIT, ...); no dump on a signal"
            ),
        );
    }
    kind
}

/// The environment variable of [`Builder::dump_on_signal`].
const DUMP_SIGNAL_VAR: &str = "TASKLOOP_DUMP_SIGNAL";

#[cfg(test)]
mod tests {
    #[test]
    fn debug_switch_spellings() {
        for on in ["1", "true", "TRUE", "Yes", "on", " On "] {
            assert!(super::is_on(on), "{on:?}");
        }
        for off in ["0", "false", "no", "off", "", "2"] {
            assert!(!super::is_on(off), "{off:?}");
        }
    }
}
