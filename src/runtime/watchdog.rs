//! Debug mode's watchdog: a thread that reports a poll which has run longer
//! than the slow-poll threshold *while it is still running* (a task blocked
//! in a synchronous call, a deadlock inside user code). The executor's
//! slow-poll warning can only come once the poll returns, which such a
//! poll never does.
//!
//! This module owns the watchdog thread and the few atomics the loop thread
//! publishes for it. It must never touch a task from the watchdog thread
//! (tasks are `!Send`): that thread sees only the polled task's id and its
//! [`Label`], a `Send` copy of name and spawn site. It must never make the
//! loop thread wait: the loop takes no lock per poll.
//!
//! # Ground rules
//!
//! * Only the loop thread writes `generation`, `started` and `task` (a
//!   seqlock with one writer). At a poll's start: `started` and `task`, then
//!   `generation` to an odd value; at its end `generation` to the next even
//!   value. Three stores and one, no read-modify-write, no lock; all are
//!   plain moves on x86-64.
//! * The watchdog reads `generation` (odd: a poll is running), the data,
//!   then `generation` again: only if both reads agree do the data belong to
//!   that poll. It reports each poll (each odd generation) at most once.
//! * Labels are added at spawn and removed at completion (one uncontended
//!   lock each, debug mode only); `set_name` updates a label's name. The
//!   watchdog holds the map's lock only to clone one label out.
//! * The thread starts at most once, at the runtime's first `block_on`, and
//!   is stopped (woken at once, not after a period, and joined) when the
//!   runtime shuts down.
//! * Outside debug mode no `Watchdog` exists: no thread, no stores.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::task::{Label, TaskRef};

/// The loop thread's half of the watchdog (owned by the executor's `Core`).
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// What the loop thread publishes, shared with the watchdog thread.
    beat: Arc<Beat>,
    /// The loop thread's copy of `beat.generation` (it is the only writer,
    /// so it never needs to read the atomic back).
    generation: Cell<u64>,
    /// Whether the thread was started (it is started at most once).
    started: Cell<bool>,
    /// The thread, until it is joined.
    thread: RefCell<Option<JoinHandle<()>>>,
}

/// What the loop thread publishes about the poll in progress.
#[derive(Debug)]
struct Beat {
    /// The instant `started` counts from.
    base: Instant,
    /// Odd while a poll runs; bumped at each poll's start and end.
    generation: AtomicU64,
    /// When the current poll started, in nanoseconds since `base`.
    started: AtomicU64,
    /// The id of the task being polled.
    task: AtomicU64,
    /// The label of every task of the runtime not yet complete, by id.
    labels: Mutex<HashMap<u64, Arc<Label>>>,
    /// Set when the runtime shuts down: the thread exits.
    closed: Mutex<bool>,
    /// Wakes the thread when `closed` is set.
    wake: Condvar,
    /// A poll running this long is reported (the slow-poll threshold).
    threshold: Duration,
}

/// Locks `m`, taking the data of a poisoned lock as it is (every critical
/// section here is a copy that cannot leave it half-written).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watchdog {
    /// A watchdog reporting polls that run `threshold` or longer; its
    /// thread starts at [`start`](Self::start).
    pub(crate) fn new(threshold: Duration) -> Watchdog {
        Watchdog {
            beat: Arc::new(Beat {
                base: Instant::now(),
                generation: AtomicU64::new(0),
                started: AtomicU64::new(0),
                task: AtomicU64::new(0),
                labels: Mutex::new(HashMap::new()),
                closed: Mutex::new(false),
                wake: Condvar::new(),
                threshold,
            }),
            generation: Cell::new(0),
            started: Cell::new(false),
            thread: RefCell::new(None),
        }
    }

    /// Starts the thread unless it was started before. The report names
    /// the calling thread (the loop's).
    pub(crate) fn start(&self) {
        if self.started.replace(true) {
            return;
        }
        let beat = self.beat.clone();
        let loop_thread = std::thread::current().name().map_or_else(
            || format!("{:?}", std::thread::current().id()),
            str::to_owned,
        );
        let spawned = std::thread::Builder::new()
            .name("taskloop-watchdog".into())
            .spawn(move || beat.watch(&loop_thread));
        match spawned {
            Ok(thread) => *self.thread.borrow_mut() = Some(thread),
            Err(e) => crate::task::report(
                log::Level::Warn,
                format_args!(
                    "taskloop: debug mode: cannot start the watchdog thread ({e}); a poll that \
                     never returns will not be reported"
                ),
            ),
        }
    }

    /// Publishes the start of a poll of task `id`; returns the start time
    /// (for the after-the-fact slow-poll warning).
    #[inline]
    pub(crate) fn poll_started(&self, id: u64) -> Instant {
        let now = Instant::now();
        let since = now.saturating_duration_since(self.beat.base).as_nanos() as u64;
        // The writer side of the seqlock: the data after the previous
        // (even) generation, before the new (odd) one.
        fence(Ordering::Release);
        self.beat.started.store(since, Ordering::Relaxed);
        self.beat.task.store(id, Ordering::Relaxed);
        self.bump();
        now
    }

    /// Publishes the end of the poll in progress.
    #[inline]
    pub(crate) fn poll_ended(&self) {
        self.bump();
    }

    /// The next generation, published.
    #[inline]
    fn bump(&self) {
        let g = self.generation.get() + 1;
        self.generation.set(g);
        self.beat.generation.store(g, Ordering::Release);
    }

    /// Hangs a label on a newly spawned task (its id, spawn site and name
    /// so far) and records it for the thread.
    pub(crate) fn track(&self, task: &TaskRef) {
        let id = task.header().id;
        let label = task.header().with_extras(|e| {
            let label = Arc::new(Label::new(id, e.spawned_at, e.name.as_deref()));
            e.label = Some(label.clone());
            label
        });
        lock(&self.beat.labels).insert(id, label);
    }

    /// Forgets the label of a completed task.
    pub(crate) fn untrack(&self, id: u64) {
        let label = lock(&self.beat.labels).remove(&id);
        drop(label);
    }

    /// Stops the thread: wakes it at once and joins it.
    pub(crate) fn stop(&self) {
        *lock(&self.beat.closed) = true;
        self.beat.wake.notify_all();
        if let Some(thread) = self.thread.borrow_mut().take() {
            let _ = thread.join();
        }
    }

    /// Whether the thread is running (started and not stopped).
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.thread
            .borrow()
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Beat {
    /// The watchdog thread: looks every half threshold (at least 1 ms) for
    /// a poll running too long, until `closed`.
    fn watch(&self, loop_thread: &str) {
        let period = (self.threshold / 2).max(Duration::from_millis(1));
        let mut reported = None;
        loop {
            {
                let closed = lock(&self.closed);
                let (closed, _) = self
                    .wake
                    .wait_timeout_while(closed, period, |closed| !*closed)
                    .unwrap_or_else(PoisonError::into_inner);
                if *closed {
                    return;
                }
            }
            if let Some((generation, id, running)) = self.stuck() {
                if reported != Some(generation) {
                    reported = Some(generation);
                    self.report(id, running, loop_thread);
                }
            }
        }
    }

    /// The poll in progress, if one has run `threshold` or longer: its
    /// generation, its task's id, and how long it has been running.
    fn stuck(&self) -> Option<(u64, u64, Duration)> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation % 2 == 0 {
            return None;
        }
        let started = self.started.load(Ordering::Relaxed);
        let id = self.task.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.generation.load(Ordering::Relaxed) != generation {
            // That poll ended meanwhile.
            return None;
        }
        let running = self
            .base
            .elapsed()
            .saturating_sub(Duration::from_nanos(started));
        (running >= self.threshold).then_some((generation, id, running))
    }

    /// Reports the poll of task `id`, running for `running`.
    fn report(&self, id: u64, running: Duration, loop_thread: &str) {
        let label = lock(&self.labels).get(&id).cloned();
        let (name, site) = match &label {
            Some(l) => (l.name(), l.spawned_at),
            None => (format!("Task-{id}"), None),
        };
        let site = site.map_or_else(|| "an unrecorded place".to_owned(), |l| l.to_string());
        crate::task::report(
            log::Level::Warn,
            format_args!(
                "taskloop: task {name} (#{id}) spawned at {site} has been running for \
                 {running:?} without returning (blocked in a synchronous call?) on thread \
                 {loop_thread}; the loop is stuck until it returns (debug threshold {:?})",
                self.threshold
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::Runtime;

    #[test]
    fn without_debug_mode_there_is_no_watchdog() {
        let rt = Runtime::builder().debug(false).build().unwrap();
        rt.block_on(crate::yield_now()).unwrap();
        assert!(rt.core.watchdog.is_none());
    }

    #[test]
    fn the_thread_starts_at_the_first_block_on_and_a_drop_ends_it_without_waiting_a_period() {
        let rt = Runtime::builder()
            .debug(true)
            .slow_poll_threshold(Duration::from_secs(3600))
            .build()
            .unwrap();
        let watchdog = rt.core.watchdog.as_ref().unwrap();
        assert!(!watchdog.is_running(), "not before the loop runs");
        rt.block_on(crate::yield_now()).unwrap();
        let watchdog = rt.core.watchdog.as_ref().unwrap();
        assert!(watchdog.is_running());
        let beat = std::sync::Arc::downgrade(&watchdog.beat);
        let t0 = Instant::now();
        drop(rt);
        // Joined: the thread's reference to the shared state is gone, and
        // the drop did not wait for the half-hour period.
        assert!(beat.upgrade().is_none());
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_label_follows_the_task_name_and_goes_at_completion() {
        let rt = Runtime::builder().debug(true).build().unwrap();
        let t = rt.spawn(std::future::pending::<()>());
        let labels = || {
            let w = rt.core.watchdog.as_ref().unwrap();
            super::lock(&w.beat.labels).get(&t.id().0).map(|l| l.name())
        };
        assert_eq!(labels().as_deref(), Some("Task-1"));
        t.set_name("renamed");
        assert_eq!(labels().as_deref(), Some("renamed"));
        t.cancel();
        rt.block_on(crate::yield_now()).unwrap();
        assert!(t.is_done());
        assert_eq!(labels(), None);
    }
}
