//! The pool of worker threads that runs blocking closures for one runtime.
//!
//! # Ground rules
//!
//! * Threads start lazily, one per job that finds no idle thread, up to the
//!   configured maximum; beyond it jobs wait in a FIFO. An idle thread
//!   retires after the keep-alive, so an idle program holds no threads.
//! * The pool runs opaque `Send` jobs and knows nothing of tasks; the job
//!   itself (built in `blocking`) catches its panic and wakes its awaiter.
//! * Shutting down (the runtime is dropped) wakes the idle threads so they
//!   exit; a job still running is not interrupted (a thread cannot be), and
//!   is not waited for: its thread exits when the job returns.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A job: a closure that never panics out (the caller catches).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Worker threads for blocking jobs.
#[derive(Debug)]
pub(crate) struct Pool {
    /// The queue and the counts.
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    work: Condvar,
    /// Most threads at once.
    max_threads: usize,
    /// How long an idle thread waits for a job before it exits.
    keep_alive: Duration,
}

/// The pool's shared state.
#[derive(Default)]
struct State {
    /// Jobs not yet taken by a thread, in submission order.
    jobs: VecDeque<Job>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// The runtime is gone: idle threads exit.
    shutdown: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queued", &self.jobs.len())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .finish()
    }
}

impl Pool {
    /// A pool of at most `max_threads` (at least 1) threads.
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
        }
    }

    /// The state; a panic cannot happen while it is held, but a poisoned
    /// lock is taken over anyway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, starting a thread if none is idle and the maximum is
    /// not reached.
    ///
    /// # Errors
    /// The OS refused to start a thread and none is alive to run the job
    /// (the job is given back).
    pub(crate) fn submit(self: &Arc<Self>, job: Job) -> Result<(), (Job, std::io::Error)> {
        let mut state = self.lock();
        state.jobs.push_back(job);
        if state.idle > 0 {
            drop(state);
            self.work.notify_one();
            return Ok(());
        }
        if state.threads >= self.max_threads {
            return Ok(());
        }
        state.threads += 1;
        let threads = state.threads;
        drop(state);
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("taskloop-blocking".into())
            .spawn(move || pool.work_loop());
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut state = self.lock();
                state.threads -= 1;
                if state.threads == 0 {
                    let job = state.jobs.pop_back().expect("the job just queued");
                    return Err((job, e));
                }
                log::warn!("taskloop: could not start blocking thread {threads}: {e}");
                Ok(())
            }
        }
    }

    /// A worker: runs jobs until idle for the keep-alive, or shut down.
    fn work_loop(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// The runtime is gone: idle threads exit now, busy ones after their job.
    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.work.notify_all();
    }

    /// Threads alive now (for tests).
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn threads_start_lazily_up_to_the_maximum_and_retire_when_idle() {
        let pool = Arc::new(Pool::new(2, Duration::from_millis(50)));
        assert_eq!(pool.threads(), 0);
        let (tx, rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Arc::new(Mutex::new(go_rx));
        for i in 0..4 {
            let (tx, go) = (tx.clone(), go_rx.clone());
            pool.submit(Box::new(move || {
                go.lock().unwrap().recv().unwrap();
                tx.send(i).unwrap();
            }))
            .map_err(|(_, e)| e)
            .unwrap();
        }
        assert_eq!(pool.threads(), 2, "at most two threads");
        for _ in 0..4 {
            go_tx.send(()).unwrap();
        }
        let mut got: Vec<i32> = (0..4).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
        let t0 = std::time::Instant::now();
        while pool.threads() > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "idle threads retire"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
