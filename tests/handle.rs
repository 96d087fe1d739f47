//! Issue 14: `Handle`, the cross-thread way into a runtime (asyncio's
//! `call_soon_threadsafe` and `run_coroutine_threadsafe`).

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloop::{Handle, Runtime, RuntimeGone};

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn a_handle_is_send_sync_and_clone_and_found_on_the_loop_thread() {
    assert_send_sync_clone::<Handle>();
    fn assert_send<T: Send>() {}
    assert_send::<taskloop::Remote<u32>>();
    assert!(Handle::current().is_err());
    let rt = Runtime::new().unwrap();
    let h = rt.block_on(async { Handle::current().unwrap() });
    assert!(h.is_alive());
    drop(rt);
    assert!(!h.is_alive());
}

/// Several threads submit at once while the loop is idle (its main task
/// waits for all the results) or busy (a task keeps yielding).
fn many_threads_submit(busy: bool) {
    util::init_logger();
    const THREADS: usize = 8;
    const EACH: usize = 200;
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let total = rt.block_on(async {
        let spinner = busy.then(|| {
            taskloop::spawn(async {
                let mut n = 0u64;
                while taskloop::yield_now().await.is_ok() {
                    n += 1;
                }
                n
            })
        });
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let handle = handle.clone();
                let calls = calls.clone();
                std::thread::spawn(move || {
                    let mut remotes = Vec::new();
                    for i in 0..EACH {
                        let calls = calls.clone();
                        handle
                            .call_soon(move || {
                                calls.fetch_add(1, Ordering::SeqCst);
                            })
                            .unwrap();
                        let r = handle
                            .spawn_with_result(async move {
                                taskloop::yield_now().await.unwrap();
                                t * EACH + i
                            })
                            .unwrap();
                        remotes.push(r);
                    }
                    // Waited for from this plain thread.
                    remotes
                        .into_iter()
                        .map(|r| r.wait().unwrap())
                        .sum::<usize>()
                })
            })
            .collect();
        let mut total = 0;
        for t in threads {
            // The loop waits (idle unless the spinner runs) while the
            // threads submit.
            total += taskloop::to_thread(move || t.join().unwrap())
                .await
                .unwrap();
        }
        if let Some(s) = spinner {
            s.cancel();
            let _ = s.await;
        }
        total
    });
    let n = THREADS * EACH;
    assert_eq!(total, n * (n - 1) / 2);
    // Every callback ran (those submitted last run before the loop stops
    // at the latest in the shutdown's turns).
    rt.block_on(async { taskloop::yield_now().await.unwrap() });
    assert_eq!(calls.load(Ordering::SeqCst), n);
}

#[test]
fn several_threads_submit_at_once_to_an_idle_loop() {
    many_threads_submit(false);
}

#[test]
fn several_threads_submit_at_once_to_a_busy_loop() {
    many_threads_submit(true);
}

#[test]
fn a_call_wakes_a_loop_parked_without_timers() {
    // The main task waits on a channel that only a callback submitted from
    // another thread fills, on the loop thread: nothing but the handle's
    // wake can end the loop's sleep in its poll.
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let out = rt.block_on(async move {
        let (tx, rx) = futures::channel::oneshot::channel::<std::thread::ThreadId>();
        let submitter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle
                .call_soon(move || tx.send(std::thread::current().id()).unwrap())
                .unwrap();
        });
        let ran_on = rx.await.unwrap();
        submitter.join().unwrap();
        ran_on
    });
    assert_eq!(
        out,
        std::thread::current().id(),
        "callbacks run on the loop thread"
    );
}

#[test]
fn submission_after_the_runtime_is_gone_is_an_error_and_drops_the_work_here() {
    struct DropsOn(std::thread::ThreadId, Arc<AtomicUsize>);
    impl Drop for DropsOn {
        fn drop(&mut self) {
            assert_eq!(std::thread::current().id(), self.0);
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    let dropped = Arc::new(AtomicUsize::new(0));
    std::thread::spawn({
        let dropped = dropped.clone();
        move || {
            let me = std::thread::current().id();
            let d = DropsOn(me, dropped.clone());
            assert_eq!(handle.call_soon(move || drop(d)), Err(RuntimeGone));
            let d = DropsOn(me, dropped.clone());
            assert_eq!(
                handle.spawn(async move { drop(d) }).unwrap_err(),
                RuntimeGone
            );
            let d = DropsOn(me, dropped.clone());
            assert!(handle.spawn_with_result(async move { drop(d) }).is_err());
        }
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
}

#[test]
fn work_accepted_but_not_run_when_the_runtime_drops_reports_runtime_gone() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    // Submitted while the runtime exists but is not running.
    let remote = handle.spawn_with_result(async { 1 }).unwrap();
    drop(rt);
    assert_eq!(remote.wait(), Err(RuntimeGone));
}

#[test]
fn submissions_between_block_ons_run_at_the_next_one_in_order() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in 0..5 {
        let order = order.clone();
        handle
            .call_soon(move || order.lock().unwrap().push(i))
            .unwrap();
    }
    let remote = handle.spawn_with_result(async { "spawned" }).unwrap();
    assert_eq!(rt.block_on(remote), Ok("spawned"));
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}
