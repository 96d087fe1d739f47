//! tokio: `current_thread` runtime with all drivers enabled, tasks on a `LocalSet` via
//! `spawn_local` (the closest match to a single-threaded, `!Send`-friendly runtime).

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use futures::future::select_all;
use tokio::task::{LocalSet, spawn_local, yield_now};
use tokio::time::{sleep, timeout};

use crate::measure::Span;
use crate::workloads::{
    Contestant, ECHO_CONNS, ECHO_MSG, FANOUT_PERMITS, LOADED_SLEEP, LOCK_TASKS, Report,
    SPAWN_CONCURRENCY, SPAWN_PROGRAM, TIMEOUT, WAIT_MAX_YIELDS, WAIT_TASKS, WARM_CHAINS, XorShift,
    YIELD_TASKS, fire_delays, fire_report, lateness_ns, overhead_report,
};

pub struct Tokio;

/// Build the runtime (not measured) and run `fut` on a `LocalSet`, as a spawned task.
fn block_on<F: Future + 'static>(fut: F) -> F::Output
where
    F::Output: 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime");
    let local = LocalSet::new();
    local.block_on(&rt, async {
        spawn_local(fut).await.expect("the body panicked")
    })
}

/// tokio's own `chained_spawn` benchmark body.
fn spawn_chain(depth: u64, done: tokio::sync::oneshot::Sender<()>) {
    if depth == 0 {
        let _ = done.send(());
    } else {
        drop(spawn_local(async move { spawn_chain(depth - 1, done) }));
    }
}

async fn run_chain(depth: u64) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    drop(spawn_local(async move { spawn_chain(depth, tx) }));
    rx.await.unwrap();
}

async fn chain(depth: u64) {
    if depth > 0 {
        spawn_local(chain(depth - 1)).await.unwrap();
    }
}

impl Contestant for Tokio {
    fn baseline() {
        block_on(async {});
    }

    fn spawn_join(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            let mut handles = Vec::with_capacity(n as usize);
            for i in 0..n {
                handles.push(spawn_local(async move { black_box(i) }));
            }
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await.unwrap(), i as u64);
            }
            Report::new(span.stop(), n)
        }))
    }

    fn yield_many(yields_per_task: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            let handles: Vec<_> = (0..YIELD_TASKS)
                .map(|_| {
                    spawn_local(async move {
                        for _ in 0..yields_per_task {
                            yield_now().await;
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
        Some(block_on(async move {
            let span = Span::start();
            spawn_local(chain(depth)).await.unwrap();
            Report::new(span.stop(), depth)
        }))
    }

    fn timers_cancel(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            for _ in 0..n {
                timeout(TIMEOUT, yield_now()).await.unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }

    fn timers_cancel_loaded(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let armed = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let background: Vec<_> = (0..n)
                .map(|_| {
                    let armed = armed.clone();
                    spawn_local(async move {
                        armed.set(armed.get() + 1);
                        sleep(LOADED_SLEEP).await
                    })
                })
                .collect();
            while armed.get() < n {
                yield_now().await;
            }
            let span = Span::start();
            for _ in 0..n {
                timeout(TIMEOUT, yield_now()).await.unwrap();
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
        Some(block_on(async move {
            let span = Span::start();
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| {
                    spawn_local(async move {
                        let deadline = Instant::now() + d;
                        sleep(d).await;
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
        Some(block_on(async move {
            let span = Span::start();
            for i in 0..n {
                black_box(std::future::ready(black_box(i)).await);
            }
            let direct = span.stop();
            let span = Span::start();
            for i in 0..n {
                black_box(
                    timeout(TIMEOUT, std::future::ready(black_box(i)))
                        .await
                        .unwrap(),
                );
            }
            overhead_report(direct, span.stop(), n)
        }))
    }

    fn wait_first_completed(rounds: u64) -> Option<Report> {
        Some(block_on(async move {
            let mut rng = XorShift::new();
            let mut waited = Duration::ZERO;
            let span = Span::start();
            for _ in 0..rounds {
                let handles: Vec<_> = (0..WAIT_TASKS)
                    .map(|_| {
                        let k = rng.range(1, WAIT_MAX_YIELDS);
                        spawn_local(async move {
                            for _ in 0..k {
                                yield_now().await;
                            }
                            k
                        })
                    })
                    .collect();
                let started = Instant::now();
                let (first, _, rest) = select_all(handles).await;
                waited += started.elapsed();
                black_box(first.unwrap());
                // Cancel all, then await them so the next round starts clean.
                for handle in &rest {
                    handle.abort();
                }
                for handle in rest {
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
        Some(block_on(async move {
            let mut rng = XorShift::new();
            let mut waited = Duration::ZERO;
            let span = Span::start();
            for _ in 0..rounds {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..WAIT_TASKS {
                    let k = rng.range(1, WAIT_MAX_YIELDS);
                    set.spawn_local(async move {
                        for _ in 0..k {
                            yield_now().await;
                        }
                        k
                    });
                }
                let started = Instant::now();
                let first = set.join_next().await;
                waited += started.elapsed();
                black_box(first.unwrap().unwrap());
                set.abort_all();
                while set.join_next().await.is_some() {}
            }
            Report::new(span.stop(), rounds).with(
                "wait_us_per_op",
                waited.as_nanos() as f64 / 1e3 / rounds as f64,
            )
        }))
    }

    fn shutdown_pending(n: u64) -> Option<Report> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build tokio runtime");
        let local = LocalSet::new();
        local.block_on(&rt, async {
            for _ in 0..n {
                drop(spawn_local(sleep(LOADED_SLEEP)));
            }
            yield_now().await; // every task is now sleeping
        });
        let span = Span::start();
        drop(local);
        drop(rt);
        Some(Report::new(span.stop(), n))
    }

    fn ping_pong(n: u64) -> Option<Report> {
        use tokio::sync::mpsc;
        Some(block_on(async move {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
            let span = Span::start();
            let echo = spawn_local(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.unwrap();
                }
            });
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(i));
            }
            drop(ping_tx);
            echo.await.unwrap();
            Report::new(span.stop(), n)
        }))
    }

    fn lock_contended(n: u64) -> Option<Report> {
        use std::rc::Rc;
        Some(block_on(async move {
            let lock = Rc::new(tokio::sync::Mutex::new(0u64));
            let span = Span::start();
            let tasks: Vec<_> = (0..LOCK_TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    spawn_local(async move {
                        for _ in 0..n / LOCK_TASKS {
                            let mut guard = lock.lock().await;
                            *guard += 1;
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*lock.lock().await, n / LOCK_TASKS * LOCK_TASKS);
            Report::new(span.stop(), n / LOCK_TASKS * LOCK_TASKS)
        }))
    }

    fn semaphore_fanout(n: u64) -> Option<Report> {
        use std::rc::Rc;
        Some(block_on(async move {
            let sem = Rc::new(tokio::sync::Semaphore::new(FANOUT_PERMITS));
            let span = Span::start();
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let sem = sem.clone();
                    spawn_local(async move {
                        let _permit = sem.acquire().await.unwrap();
                        yield_now().await;
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
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        Some(block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let span = Span::start();
            let server = spawn_local(async move {
                for _ in 0..ECHO_CONNS {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    spawn_local(async move {
                        let mut buf = [0u8; 4096];
                        loop {
                            let got = stream.read(&mut buf).await.unwrap();
                            if got == 0 {
                                break;
                            }
                            stream.write_all(&buf[..got]).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..ECHO_CONNS)
                .map(|_| {
                    spawn_local(async move {
                        let mut stream = TcpStream::connect(addr).await.unwrap();
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
                    spawn_local(async move {
                        while next.get() < n {
                            next.set(next.get() + 1);
                            let mut child =
                                tokio::process::Command::new(SPAWN_PROGRAM).spawn().unwrap();
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
