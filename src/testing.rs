//! What `#[taskloop::test]` expands to call: one test run on a fresh
//! runtime, per seed when asked, under a real-time limit, failing on
//! unretrieved task panics. Not a public API: the macro's expansion is the
//! only caller, and this module may change with it.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Builder;

/// The options of one `#[taskloop::test]`, as the macro writes them.
#[derive(Debug)]
pub struct TestOptions {
    /// The test's path, for messages.
    pub name: &'static str,
    /// Run on the real clock instead of the virtual one.
    pub real_time: bool,
    /// Run once per seed `0..n` (unless `TASKLOOP_SEED` names one).
    pub seeds: Option<u64>,
    /// The real-time limit of the whole test, in seconds.
    pub timeout_secs: u64,
}

/// What a test returns: `()` or a `Result`; a failure is an `Err`.
pub trait TestOutcome {
    /// Whether the test failed by its return value.
    fn is_failure(&self) -> bool;
}

impl TestOutcome for () {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E> TestOutcome for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// Runs `body` as `#[taskloop::test]` says; returns its output (the last
/// seed's), panics on a time-out or an unretrieved task panic, and names the
/// seed of a failing run.
pub fn run_test<F, Fut>(options: TestOptions, body: F) -> Fut::Output
where
    F: Fn() -> Fut,
    Fut: Future,
    Fut::Output: TestOutcome,
{
    let env_seed = std::env::var(crate::runtime::shuffle::SEED_VAR)
        .ok()
        .and_then(|s| crate::runtime::shuffle::parse_seed(&s));
    let seeds: Vec<Option<u64>> = match (env_seed, options.seeds) {
        // An explicit seed replays that one run.
        (Some(seed), _) => vec![Some(seed)],
        (None, Some(n)) => (0..n).map(Some).collect(),
        (None, None) => vec![None],
    };
    let limit = Duration::from_secs(options.timeout_secs);
    let mut last = None;
    for seed in seeds {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_once(&options, seed, limit, &body)));
        let failed = match &outcome {
            Ok(out) => out.is_failure(),
            Err(_) => true,
        };
        if failed {
            if let Some(seed) = seed {
                eprintln!(
                    "taskloop::test: {} failed with schedule seed {seed} \
                     (replay with TASKLOOP_SEED={seed})",
                    options.name
                );
            }
        }
        match outcome {
            Ok(out) if failed => return out,
            Ok(out) => last = Some(out),
            Err(panic) => resume_unwind(panic),
        }
    }
    last.expect("at least one run")
}

/// One run on a fresh runtime.
fn run_once<F, Fut>(
    options: &TestOptions,
    seed: Option<u64>,
    limit: Duration,
    body: &F,
) -> Fut::Output
where
    F: Fn() -> Fut,
    Fut: Future,
{
    let watchdog = Watchdog::start(options.name, limit);
    // A stall (nothing but another thread can wake the loop: a deadlock)
    // wakes the body's task, which then ends the test.
    let stalled = Rc::new(Cell::new(false));
    let hook = {
        let (stalled, shared) = (stalled.clone(), watchdog.shared.clone());
        Rc::new(move || {
            stalled.set(true);
            if let Some(w) = shared
                .waker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                w.wake_by_ref();
            }
        })
    };
    let mut builder = Builder::new()
        .virtual_time(!options.real_time)
        .on_stall(hook);
    if seed.is_some() {
        builder = builder.shuffle(seed);
    }
    let rt = builder
        .build()
        .unwrap_or_else(|e| panic!("taskloop::test: cannot create the runtime: {e}"));
    let unretrieved = crate::task::unretrieved_panics();
    let out = rt.block_on(async {
        let mut body = pin!(body());
        std::future::poll_fn(|cx| {
            // The dump is taken here, while the tasks are still there.
            if watchdog.expired() || stalled.get() {
                return Poll::Ready(Err(crate::dump()));
            }
            watchdog.set_waker(cx.waker());
            if watchdog.expired() {
                // It expired before the waker was there to be woken.
                return Poll::Ready(Err(crate::dump()));
            }
            body.as_mut().poll(cx).map(Ok)
        })
        .await
    });
    watchdog.finish();
    let out = match out {
        Ok(out) => out,
        Err(dump) => {
            drop(rt);
            if stalled.get() {
                panic!(
                    "taskloop::test: {} is deadlocked: its loop stalled, with nothing but \
                 another thread able to wake it (see the stall report); task dump: {dump}",
                    options.name,
                );
            }
            panic!(
                "taskloop::test: {} did not finish within {} s of real time (timeout_secs); task dump: {dump}",
                options.name,
                limit.as_secs(),
            );
        }
    };
    // Tasks still pending are dropped with the runtime, as its drop does.
    drop(rt);
    let panics = crate::task::unretrieved_panics() - unretrieved;
    assert!(
        panics == 0,
        "taskloop::test: {} task panic(s) were never retrieved (logged above): a test fails on them",
        panics
    );
    out
}

/// A thread that wakes the test's main task when the real-time limit is
/// reached, and aborts the process if the test still does not return (a
/// poll that never ends cannot be interrupted otherwise).
struct Watchdog {
    /// Shared with the thread.
    shared: Arc<WatchdogState>,
    /// The thread, to unpark when the test is done.
    thread: std::thread::Thread,
}

/// The state a [`Watchdog`] shares with its thread.
struct WatchdogState {
    /// Set by the thread once the limit has passed.
    expired: AtomicBool,
    /// Set when the test returned in time.
    done: AtomicBool,
    /// The main task's waker, to wake it at the limit.
    waker: Mutex<Option<Waker>>,
}

/// How long after the limit a test that did not return is aborted.
const ABORT_GRACE: Duration = Duration::from_secs(10);

impl Watchdog {
    fn start(name: &'static str, limit: Duration) -> Watchdog {
        let shared = Arc::new(WatchdogState {
            expired: AtomicBool::new(false),
            done: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let state = shared.clone();
        let handle = std::thread::Builder::new()
            .name("taskloop-test-watchdog".into())
            .spawn(move || {
                let wait = |until: Instant| {
                    while !state.done.load(Ordering::Acquire) {
                        let now = Instant::now();
                        if now >= until {
                            return false;
                        }
                        std::thread::park_timeout(until - now);
                    }
                    true
                };
                let start = Instant::now();
                if wait(start + limit) {
                    return;
                }
                state.expired.store(true, Ordering::Release);
                if let Some(w) = state.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    w.wake();
                }
                if !wait(start + limit + ABORT_GRACE) {
                    eprintln!(
                        "taskloop::test: {name} passed its real-time limit of {} s and is stuck \
                         in a poll that never returns; aborting the test process",
                        limit.as_secs()
                    );
                    std::process::abort();
                }
            })
            .expect("taskloop::test: cannot start the watchdog thread");
        Watchdog {
            shared,
            thread: handle.thread().clone(),
        }
    }

    fn expired(&self) -> bool {
        self.shared.expired.load(Ordering::Acquire)
    }

    fn set_waker(&self, waker: &Waker) {
        let mut slot = self.shared.waker.lock().unwrap_or_else(|e| e.into_inner());
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn finish(&self) {
        self.shared.done.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Also when the body panicked: the thread must not abort later.
        self.finish();
    }
}
