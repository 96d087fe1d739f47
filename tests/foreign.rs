//! Issue 9: every structured wait terminates, whatever the inner code
//! awaits. The futures here come from other crates (`async-channel`,
//! `futures`, `async-lock`, `event-listener`, `std::future::pending`) and
//! cannot see taskloop's cancellation requests.
//!
//! These run on the real clock, each under a hard watchdog: a hang fails the
//! test instead of hanging the suite. Bounds are generous upper limits; the
//! lower limits are exact (a timeout never fires early).

mod util;

use std::cell::Cell;
use std::future::{Future, pending};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use taskloop::time::sleep;
use taskloop::{
    Cancelled, GroupError, Runtime, cancellable, gather, spawn, task_group, wait_for, yield_now,
};

const DEADLINE: Duration = Duration::from_millis(100);
/// Any wait that should end at `DEADLINE` ends well before this.
const BOUND: Duration = Duration::from_millis(900);
/// The watchdog: a test that has not finished by then has hung.
const WATCHDOG: Duration = Duration::from_secs(20);

/// Runs `body` on a fresh real-clock runtime in its own thread, and fails if
/// it has not finished within the watchdog.
fn watchdog<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        util::init_logger();
        taskloop::run(body());
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            std::panic::resume_unwind(thread.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: no result within {WATCHDOG:?}"),
    }
}

/// One foreign wait that never completes by itself, of each kind the issue
/// lists. Each element keeps its sender/holder alive inside the future.
/// A named foreign wait.
type Never = (&'static str, Pin<Box<dyn Future<Output = ()>>>);

fn never_kinds() -> Vec<Never> {
    vec![
        (
            "async_channel::recv",
            Box::pin(async {
                let (_tx, rx) = async_channel::unbounded::<u32>();
                let _ = rx.recv().await;
            }),
        ),
        (
            "futures oneshot",
            Box::pin(async {
                let (_tx, rx) = futures::channel::oneshot::channel::<u32>();
                let _ = rx.await;
            }),
        ),
        (
            "futures mpsc",
            Box::pin(async {
                let (_tx, mut rx) = futures::channel::mpsc::unbounded::<u32>();
                let _ = rx.next().await;
            }),
        ),
        (
            "async_lock::Mutex",
            Box::pin(async {
                let lock = async_lock::Mutex::new(());
                let _held = lock.lock().await;
                let _again = lock.lock().await;
            }),
        ),
        (
            "async_lock::Semaphore",
            Box::pin(async {
                let sem = async_lock::Semaphore::new(0);
                let _permit = sem.acquire().await;
            }),
        ),
        (
            "event_listener::EventListener",
            Box::pin(async {
                let event = event_listener::Event::new();
                let listener = event.listen();
                listener.await;
            }),
        ),
        ("std::future::pending", Box::pin(pending::<()>())),
    ]
}

fn assert_bounded(t0: Instant, what: &str) {
    let took = t0.elapsed();
    assert!(took >= DEADLINE, "{what}: fired early, after {took:?}");
    assert!(took < BOUND, "{what}: took {took:?}");
}

#[test]
fn wait_for_around_a_foreign_wait_that_never_completes_times_out_at_its_deadline() {
    watchdog(|| async {
        for (what, never) in never_kinds() {
            let t0 = Instant::now();
            let err = wait_for(never, DEADLINE).await.unwrap_err();
            assert!(err.is_elapsed(), "{what}: {err:?}");
            assert_bounded(t0, what);
            // The request was the scope's own: nothing is left outstanding.
            assert_eq!(taskloop::current_task().unwrap().cancelling(), 0, "{what}");
        }
    });
}

#[test]
fn wait_for_a_foreign_message_sent_after_the_deadline_times_out_at_the_deadline() {
    watchdog(|| async {
        let (tx, rx) = async_channel::unbounded::<&str>();
        let sender = spawn(async move {
            sleep(Duration::from_secs(1)).await?;
            let _ = tx.send("late").await;
            Ok::<_, Cancelled>(())
        });
        let t0 = Instant::now();
        let err = wait_for(rx.recv(), DEADLINE).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(err.to_string().contains("cut short"), "{err}");
        assert_bounded(t0, "late message");
        sender.cancel();
        let _ = sender.await;
    });
}

#[test]
fn the_same_waits_wrapped_in_cancellable_time_out_at_the_deadline_too() {
    watchdog(|| async {
        for (what, never) in never_kinds() {
            let t0 = Instant::now();
            let err = wait_for(cancellable(never), DEADLINE).await.unwrap_err();
            assert!(err.is_elapsed(), "{what}: {err:?}");
            // Wrapped, the wait saw the request: its clean-up was not cut.
            assert!(!err.to_string().contains("cut short"), "{what}: {err}");
            assert_bounded(t0, what);
        }
    });
}

#[test]
fn cancelling_a_task_parked_in_a_foreign_wait_ends_it_cancelled_at_once() {
    watchdog(|| async {
        for (what, never) in never_kinds() {
            let task = spawn(never);
            yield_now().await.unwrap();
            assert!(task.cancel());
            let t0 = Instant::now();
            assert!(task.await.unwrap_err().is_cancelled(), "{what}");
            assert!(t0.elapsed() < BOUND, "{what}");
        }
    });
}

#[test]
fn wait_for_a_task_parked_in_a_foreign_wait_times_out_at_its_deadline() {
    watchdog(|| async {
        let (_tx, rx) = async_channel::unbounded::<u32>();
        let task = spawn(async move { rx.recv().await.ok() });
        let t0 = Instant::now();
        let err = wait_for(task, DEADLINE).await.unwrap_err();
        assert!(err.is_elapsed(), "{err:?}");
        assert_bounded(t0, "wait_for(task)");
    });
}

#[test]
fn gather_with_a_child_parked_in_a_foreign_wait_is_cancelled_in_bounded_time() {
    watchdog(|| async {
        let (_tx, rx) = async_channel::unbounded::<u32>();
        let stuck = spawn(async move { rx.recv().await.ok() });
        let fine = spawn(async { sleep(Duration::from_secs(30)).await.ok().map(|()| 0) });
        let t0 = Instant::now();
        let err = wait_for(gather([stuck, fine]), DEADLINE).await.unwrap_err();
        assert!(err.is_elapsed(), "{err:?}");
        assert_bounded(t0, "gather");
    });
}

#[test]
fn a_task_group_with_a_child_parked_in_a_foreign_wait_ends_in_bounded_time() {
    watchdog(|| async {
        let t0 = Instant::now();
        let out = task_group(|tg| async move {
            let (_tx, rx) = async_channel::unbounded::<u32>();
            tg.spawn(async move {
                let _ = rx.recv().await;
                Ok::<_, Cancelled>(())
            })?;
            tg.spawn(async {
                sleep(DEADLINE).await.map_err(|_| "cancelled")?;
                Err::<(), _>("a sibling fails")
            })?;
            Ok::<_, taskloop::GroupClosed>(())
        })
        .await;
        assert!(matches!(out, Err(GroupError::Failed(_))), "{out:?}");
        assert_bounded(t0, "task group");
    });
}

#[test]
fn a_task_group_whose_body_is_parked_in_a_foreign_wait_ends_in_bounded_time() {
    watchdog(|| async {
        let t0 = Instant::now();
        let out = task_group(|tg| async move {
            tg.spawn(async {
                sleep(DEADLINE).await.map_err(|_| "cancelled")?;
                Err::<(), _>("a child fails")
            })?;
            pending::<()>().await; // the body waits where no request reaches it
            Ok::<_, taskloop::GroupClosed>(())
        })
        .await;
        assert!(matches!(out, Err(GroupError::Failed(_))), "{out:?}");
        assert_bounded(t0, "group body");
    });
}

#[test]
fn run_and_shutdown_return_promptly_with_tasks_parked_in_foreign_waits() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        taskloop::run(async {
            for (_, never) in never_kinds() {
                drop(spawn(never));
            }
            yield_now().await.unwrap();
        });
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            for (_, never) in never_kinds() {
                drop(spawn(never));
            }
            yield_now().await.unwrap();
        });
        rt.shutdown();
        let _ = done.send(t0.elapsed());
    });
    let took = finished.recv_timeout(WATCHDOG).expect("run/shutdown hung");
    assert!(took < BOUND, "took {took:?}");
}

#[test]
fn wait_for_around_join_all_of_sleeps_cancels_every_sleep_at_the_deadline() {
    watchdog(|| async {
        let t0 = Instant::now();
        let sleeps = (0..3).map(|_| sleep(Duration::from_secs(1)));
        let err = wait_for(futures::future::join_all(sleeps), DEADLINE)
            .await
            .unwrap_err();
        assert!(err.is_elapsed());
        assert_bounded(t0, "join_all of sleeps");
    });
}

#[test]
fn wait_for_around_join_all_of_cancellable_foreign_waits_times_out_at_the_deadline() {
    watchdog(|| async {
        let (_tx_a, rx_a) = async_channel::unbounded::<u32>();
        let (_tx_b, rx_b) = async_channel::unbounded::<u32>();
        let t0 = Instant::now();
        let both = futures::future::join_all([cancellable(rx_a.recv()), cancellable(rx_b.recv())]);
        let err = wait_for(both, DEADLINE).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(!err.to_string().contains("cut short"), "{err}");
        assert_bounded(t0, "join_all of cancellables");
    });
}

/// The combinator rule: a cancellation delivered to one checkpoint of a task
/// reaches every checkpoint that was waiting with it, under each combinator.
#[test]
fn a_cancellation_reaches_every_checkpoint_waiting_under_join_select_and_futures_unordered() {
    watchdog(|| async {
        // join! (the futures crate's, polls every branch each time)
        let task = spawn(async {
            let (a, b) = futures::join!(
                sleep(Duration::from_secs(3600)),
                sleep(Duration::from_secs(7200))
            );
            (a, b)
        });
        yield_now().await.unwrap();
        task.cancel();
        let t0 = Instant::now();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(t0.elapsed() < BOUND);

        // The values themselves, inside the task: both branches see it.
        let seen = Rc::new(Cell::new((false, false)));
        let s = seen.clone();
        let task = spawn(async move {
            let (a, b) = futures::join!(yield_forever(), sleep(Duration::from_secs(3600)));
            s.set((a.is_err(), b.is_err()));
        });
        yield_now().await.unwrap();
        task.cancel();
        let _ = task.await;
        assert_eq!(
            seen.get(),
            (true, true),
            "both branches of join! saw Cancelled"
        );

        // select! ends at the first branch that sees the request.
        let task = spawn(async {
            futures::select! {
                r = futures::FutureExt::fuse(sleep(Duration::from_secs(3600))) => r,
                r = futures::FutureExt::fuse(sleep(Duration::from_secs(7200))) => r,
            }
        });
        yield_now().await.unwrap();
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());

        // FuturesUnordered: each child has its own waker.
        let task = spawn(async {
            let mut all: FuturesUnordered<_> = (1..=4)
                .map(|h| sleep(Duration::from_secs(3600 * h)))
                .collect();
            let mut cancelled = 0;
            while let Some(r) = all.next().await {
                cancelled += usize::from(r.is_err());
            }
            cancelled
        });
        yield_now().await.unwrap();
        task.cancel();
        let t0 = Instant::now();
        // Every child saw Cancelled; the task then returned (counts as cancelled).
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(t0.elapsed() < BOUND);
    });
}

/// A checkpoint first polled *after* the delivery (clean-up code) is not
/// cancelled by it: asyncio's clean-up may await.
#[test]
fn clean_up_started_after_the_delivery_may_await_checkpoints() {
    watchdog(|| async {
        let task = spawn(async {
            let r = futures::join!(sleep(Duration::from_secs(3600)), yield_now());
            assert!(r.0.is_err() && r.1.is_err());
            // Clean-up: a fresh checkpoint waits normally.
            sleep(Duration::from_millis(20)).await.unwrap();
            "cleaned up"
        });
        yield_now().await.unwrap();
        task.cancel();
        // The task saw the cancellation and finished its clean-up.
        let t0 = Instant::now();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(t0.elapsed() >= Duration::from_millis(20));
    });
}

async fn yield_forever() -> Result<(), Cancelled> {
    loop {
        yield_now().await?;
    }
}

/// Stress: tasks parked in random mixes of checkpoints and foreign waits,
/// cancelled at random; every structured wait returns within its bound.
#[test]
fn cancelling_random_mixes_of_checkpoints_and_foreign_waits_always_terminates() {
    watchdog(|| async {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let live = Rc::new(Cell::new(0usize));
        for round in 0..20 {
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let kind = next() % 5;
                let guard = LiveGuard::new(&live);
                tasks.push(spawn(async move {
                    let _guard = guard;
                    let (_tx, rx) = async_channel::unbounded::<u32>();
                    match kind {
                        0 => drop(sleep(Duration::from_secs(3600)).await),
                        1 => drop(rx.recv().await),
                        2 => drop(futures::join!(rx.recv(), sleep(Duration::from_secs(3600)))),
                        3 => drop(cancellable(rx.recv()).await),
                        _ => drop(
                            futures::future::join_all([
                                Box::pin(cancellable(pending::<()>()))
                                    as Pin<Box<dyn Future<Output = _>>>,
                                Box::pin(async {
                                    sleep(Duration::from_secs(3600)).await.map(|_| ())
                                }),
                            ])
                            .await,
                        ),
                    }
                }));
            }
            yield_now().await.unwrap();
            let t0 = Instant::now();
            if round % 2 == 0 {
                let err = wait_for(gather(tasks), Duration::from_millis(5))
                    .await
                    .unwrap_err();
                assert!(err.is_elapsed(), "round {round}: {err:?}");
            } else {
                for t in &tasks {
                    t.cancel();
                }
                for t in tasks {
                    let _ = t.await;
                }
            }
            assert!(
                t0.elapsed() < BOUND,
                "round {round} took {:?}",
                t0.elapsed()
            );
            assert_eq!(live.get(), 0, "round {round}: a task's future was leaked");
        }
    });
}

/// Counts live futures.
struct LiveGuard(Rc<Cell<usize>>);
impl LiveGuard {
    fn new(live: &Rc<Cell<usize>>) -> LiveGuard {
        live.set(live.get() + 1);
        LiveGuard(live.clone())
    }
}
impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
