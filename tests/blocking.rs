//! `to_thread` / `spawn_blocking`: asyncio's `asyncio.to_thread`, on a pool
//! of worker threads (test_threads.py's cases, plus cancellation and the
//! pool's bounds).

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

use taskloop::{Runtime, spawn, spawn_blocking, to_thread, wait_for, yield_now};
use util::{block_on, run};

// test_threads.test_to_thread: the result comes back, computed on another
// thread.
#[test]
fn to_thread_returns_the_result_computed_off_the_loop_thread() {
    let loop_thread = std::thread::current().id();
    let (value, worker) = block_on(async {
        to_thread(|| (21 * 2, std::thread::current().id()))
            .await
            .unwrap()
    });
    assert_eq!(value, 42);
    assert_ne!(worker, loop_thread);
}

// test_threads.test_to_thread_exception: the closure's panic comes back as
// the error, with its message.
#[test]
fn a_panicking_closure_gives_a_panic_error() {
    let err =
        block_on(async { to_thread(|| -> u32 { panic!("disk on fire") }).await }).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("disk on fire"));
}

/// Records the thread it was dropped on.
#[derive(Debug)]
struct DropWitness(Arc<Mutex<Option<ThreadId>>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

// asyncio: cancelling the awaiting task returns at once; the thread runs
// on. Here its result is then dropped on the loop thread.
#[test]
fn a_cancelled_wait_returns_at_once_and_the_late_result_is_dropped_on_the_loop_thread() {
    let loop_thread = std::thread::current().id();
    let dropped_on = Arc::new(Mutex::new(None));
    let (release, gate) = mpsc::channel::<()>();
    let d = dropped_on.clone();
    let seen = dropped_on.clone();
    block_on(async move {
        let waiter = spawn(to_thread(move || {
            gate.recv().unwrap();
            DropWitness(d)
        }));
        yield_now().await.unwrap();
        waiter.cancel();
        // Delivered while the thread still runs (it waits for `release`).
        assert!(waiter.await.unwrap_err().is_cancelled());
        release.send(()).unwrap();
        // The result arrives later and is dropped by the loop.
        while seen.lock().unwrap().is_none() {
            taskloop::time::sleep(Duration::from_millis(1))
                .await
                .unwrap();
        }
    });
    assert_eq!(*dropped_on.lock().unwrap(), Some(loop_thread));
}

// On a virtual clock the loop waits for the thread instead of jumping the
// clock past a timeout around it.
#[test]
fn a_virtual_clock_does_not_jump_past_a_thread_doing_real_work() {
    let out = run(async {
        wait_for(
            to_thread(|| std::thread::sleep(Duration::from_millis(30))),
            Duration::from_secs(1),
        )
        .await
    });
    assert!(
        out.unwrap().is_ok(),
        "the job finished before the (virtual) second"
    );
}

#[test]
fn the_pool_runs_at_most_the_configured_threads_at_once() {
    let rt = Runtime::builder().blocking_threads(2).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for j in jobs {
            j.await.unwrap();
        }
    });
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

#[test]
fn a_dropped_handle_lets_the_job_finish() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    block_on(async move {
        drop(spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(10));
            d.fetch_add(1, Ordering::SeqCst);
        }));
        while done.load(Ordering::SeqCst) == 0 {
            taskloop::time::sleep(Duration::from_millis(1))
                .await
                .unwrap();
        }
    });
}

#[test]
#[should_panic(expected = "outside a taskloop runtime")]
fn spawn_blocking_outside_a_runtime_panics_with_a_message() {
    drop(spawn_blocking(|| ()));
}
