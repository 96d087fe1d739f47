//! taskloop: `Runtime::new()` + `block_on`, tasks via `taskloop::spawn`.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::measure::Span;
use crate::workloads::{
    Contestant, ECHO_CONNS, ECHO_MSG, FANOUT_PERMITS, LOADED_SLEEP, LOCK_TASKS, Report,
    SPAWN_CONCURRENCY, SPAWN_PROGRAM, TIMEOUT, WAIT_MAX_YIELDS, WAIT_TASKS, WARM_CHAINS, XorShift,
    YIELD_TASKS, fire_delays, fire_report, lateness_ns, overhead_report,
};

pub struct Taskloop;

/// Build the runtime (not measured) and run `fut` on it.
fn block_on<F: Future>(fut: F) -> F::Output {
    let rt = taskloop::Runtime::new().expect("build taskloop runtime");
    rt.block_on(fut)
}

/// tokio's `chained_spawn`: each task spawns the next, detached; the last
/// one resolves the promise.
fn spawn_chain(depth: u64, done: taskloop::Resolver<()>) {
    if depth == 0 {
        let _ = done.set_result(());
    } else {
        drop(taskloop::spawn(async move { spawn_chain(depth - 1, done) }));
    }
}

async fn run_chain(depth: u64) {
    let done = taskloop::Promise::new();
    let resolver = done.resolver();
    drop(taskloop::spawn(async move { spawn_chain(depth, resolver) }));
    done.await.unwrap();
}

async fn chain(depth: u64) {
    if depth > 0 {
        taskloop::spawn(chain(depth - 1)).await.unwrap();
    }
}

impl Contestant for Taskloop {
    fn baseline() {
        block_on(async {});
    }

    fn spawn_join(n: u64) -> Option<Report> {
        Some(block_on(async {
            let span = Span::start();
            let mut handles = Vec::with_capacity(n as usize);
            for i in 0..n {
                handles.push(taskloop::spawn(async move { black_box(i) }));
            }
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await.unwrap(), i as u64);
            }
            Report::new(span.stop(), n)
        }))
    }

    fn yield_many(yields_per_task: u64) -> Option<Report> {
        Some(block_on(async {
            let span = Span::start();
            let handles: Vec<_> = (0..YIELD_TASKS)
                .map(|_| {
                    taskloop::spawn(async move {
                        for _ in 0..yields_per_task {
                            taskloop::yield_now().await.unwrap();
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            Report::new(span.stop(), YIELD_TASKS * yields_per_task)
        }))
    }

    fn chained_spawn(depth: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            run_chain(depth).await;
            Report::new(span.stop(), depth)
        }))
    }

    fn chained_spawn_warm(depth: u64) -> Option<Report> {
        Some(block_on(async move {
            run_chain(depth).await; // warm-up, discarded
            let span = Span::start();
            for _ in 1..WARM_CHAINS {
                run_chain(depth).await;
            }
            Report::new(span.stop(), depth * (WARM_CHAINS - 1))
        }))
    }

    fn chained_spawn_await(depth: u64) -> Option<Report> {
        Some(block_on(async {
            let span = Span::start();
            taskloop::spawn(chain(depth)).await.unwrap();
            Report::new(span.stop(), depth)
        }))
    }

    fn timers_cancel(n: u64) -> Option<Report> {
        Some(block_on(async {
            let span = Span::start();
            for _ in 0..n {
                taskloop::wait_for(taskloop::yield_now(), TIMEOUT)
                    .await
                    .unwrap()
                    .unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }

    fn timers_cancel_loaded(n: u64) -> Option<Report> {
        Some(block_on(async {
            let armed = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let background: Vec<_> = (0..n)
                .map(|_| {
                    let armed = armed.clone();
                    taskloop::spawn(async move {
                        armed.set(armed.get() + 1);
                        taskloop::time::sleep(LOADED_SLEEP).await
                    })
                })
                .collect();
            while armed.get() < n {
                taskloop::yield_now().await.unwrap();
            }
            let span = Span::start();
            for _ in 0..n {
                taskloop::wait_for(taskloop::yield_now(), TIMEOUT)
                    .await
                    .unwrap()
                    .unwrap();
            }
            let report = Report::new(span.stop(), n);
            for task in &background {
                task.abort();
            }
            for task in background {
                let _ = task.await;
            }
            report
        }))
    }

    fn timers_fire(n: u64) -> Option<Report> {
        let delays = fire_delays(n);
        Some(block_on(async {
            let span = Span::start();
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| {
                    taskloop::spawn(async move {
                        let deadline = Instant::now() + d;
                        taskloop::time::sleep(d).await.unwrap();
                        lateness_ns(deadline, Instant::now())
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(handles.len());
            for handle in handles {
                lateness.push(handle.await.unwrap());
            }
            fire_report(span.stop(), &lateness)
        }))
    }

    fn wait_for_overhead(n: u64) -> Option<Report> {
        Some(block_on(async {
            let span = Span::start();
            for i in 0..n {
                black_box(std::future::ready(black_box(i)).await);
            }
            let direct = span.stop();
            let span = Span::start();
            for i in 0..n {
                black_box(
                    taskloop::wait_for(std::future::ready(black_box(i)), TIMEOUT)
                        .await
                        .unwrap(),
                );
            }
            overhead_report(direct, span.stop(), n)
        }))
    }

    fn wait_first_completed(rounds: u64) -> Option<Report> {
        Some(block_on(async {
            let mut rng = XorShift::new();
            let mut waited = Duration::ZERO;
            let span = Span::start();
            for _ in 0..rounds {
                let handles: Vec<_> = (0..WAIT_TASKS)
                    .map(|_| {
                        let k = rng.range(1, WAIT_MAX_YIELDS);
                        taskloop::spawn(async move {
                            for _ in 0..k {
                                taskloop::yield_now().await?;
                            }
                            Ok::<_, taskloop::Cancelled>(k)
                        })
                    })
                    .collect();
                let started = Instant::now();
                let waited_set =
                    taskloop::wait(handles, None, taskloop::ReturnWhen::FirstCompleted)
                        .await
                        .unwrap();
                waited += started.elapsed();
                black_box(waited_set.done.len());
                // Cancel all, then await them so the next round starts clean.
                for handle in &waited_set.pending {
                    handle.abort();
                }
                for handle in waited_set.pending.into_iter().chain(waited_set.done) {
                    let _ = handle.await;
                }
            }
            Report::new(span.stop(), rounds).with(
                "wait_us_per_op",
                waited.as_nanos() as f64 / 1e3 / rounds as f64,
            )
        }))
    }

    fn wait_first_joinset(rounds: u64) -> Option<Report> {
        // taskloop's idiomatic tool is `wait` itself.
        Self::wait_first_completed(rounds)
    }

    fn shutdown_pending(n: u64) -> Option<Report> {
        let rt = taskloop::Runtime::new().expect("build taskloop runtime");
        rt.block_on(async {
            for _ in 0..n {
                drop(taskloop::spawn(taskloop::time::sleep(LOADED_SLEEP)));
            }
            taskloop::yield_now().await.unwrap(); // every task is now sleeping
        });
        let span = Span::start();
        rt.shutdown();
        Some(Report::new(span.stop(), n))
    }

    fn as_completed_timeout(n: u64) -> Option<Report> {
        block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| taskloop::spawn(taskloop::time::sleep(LOADED_SLEEP)))
                .collect();
            taskloop::yield_now().await.unwrap();
            let span = Span::start();
            let mut items = taskloop::as_completed(tasks, Duration::from_millis(1));
            let mut timed_out = 0u64;
            while let Some(item) = items.next().await {
                timed_out += u64::from(item.is_err());
            }
            assert_eq!(timed_out, n);
            Some(Report::new(span.stop(), n))
        })
    }

    fn ping_pong(n: u64) -> Option<Report> {
        use taskloop::sync::mpsc;
        Some(block_on(async move {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
            let span = Span::start();
            let echo = taskloop::spawn(async move {
                while let Some(v) = ping_rx.recv().await.unwrap() {
                    pong_tx.send(v).await.unwrap().unwrap();
                }
            });
            for i in 0..n {
                ping_tx.send(i).await.unwrap().unwrap();
                assert_eq!(pong_rx.recv().await.unwrap(), Some(i));
            }
            drop(ping_tx);
            echo.await.unwrap();
            Report::new(span.stop(), n)
        }))
    }

    fn lock_contended(n: u64) -> Option<Report> {
        use std::rc::Rc;
        Some(block_on(async move {
            let lock = Rc::new(taskloop::sync::Lock::new(0u64));
            let span = Span::start();
            let tasks: Vec<_> = (0..LOCK_TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    taskloop::spawn(async move {
                        for _ in 0..n / LOCK_TASKS {
                            let mut guard = lock.acquire().await.unwrap();
                            *guard += 1;
                            taskloop::yield_now().await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*lock.acquire().await.unwrap(), n / LOCK_TASKS * LOCK_TASKS);
            Report::new(span.stop(), n / LOCK_TASKS * LOCK_TASKS)
        }))
    }

    fn semaphore_fanout(n: u64) -> Option<Report> {
        use std::rc::Rc;
        Some(block_on(async move {
            let sem = Rc::new(taskloop::sync::Semaphore::new(FANOUT_PERMITS));
            let span = Span::start();
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let sem = sem.clone();
                    taskloop::spawn(async move {
                        let _permit = sem.acquire().await.unwrap();
                        taskloop::yield_now().await.unwrap();
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }

    fn tcp_echo(n: u64) -> Option<Report> {
        use taskloop::net::{TcpListener, TcpStream};
        Some(block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let span = Span::start();
            let server = taskloop::spawn(async move {
                for _ in 0..ECHO_CONNS {
                    let (stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    drop(taskloop::spawn(async move {
                        let mut buf = [0u8; 4096];
                        loop {
                            let got = stream.read(&mut buf).await.unwrap();
                            if got == 0 {
                                break;
                            }
                            stream.write_all(&buf[..got]).await.unwrap();
                        }
                    }));
                }
            });
            let clients: Vec<_> = (0..ECHO_CONNS)
                .map(|_| {
                    taskloop::spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        stream.set_nodelay(true).unwrap();
                        let msg = [7u8; ECHO_MSG];
                        let mut back = [0u8; ECHO_MSG];
                        for _ in 0..n {
                            stream.write_all(&msg).await.unwrap();
                            stream.read_exact(&mut back).await.unwrap();
                        }
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            let report = Report::new(span.stop(), ECHO_CONNS * n);
            server.await.unwrap();
            report
        }))
    }

    fn spawn_wait(n: u64) -> Option<Report> {
        use std::cell::Cell;
        use std::rc::Rc;
        Some(block_on(async move {
            let next = Rc::new(Cell::new(0u64));
            let span = Span::start();
            let workers: Vec<_> = (0..SPAWN_CONCURRENCY)
                .map(|_| {
                    let next = next.clone();
                    taskloop::spawn(async move {
                        while next.get() < n {
                            next.set(next.get() + 1);
                            let mut child = taskloop::process::Command::new(SPAWN_PROGRAM)
                                .spawn()
                                .unwrap();
                            assert!(child.wait().await.unwrap().success());
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }
}
