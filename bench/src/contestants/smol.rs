//! smol: `async_executor::LocalExecutor` driven by `async_io::block_on(ex.run(..))`, timers from
//! `async_io::Timer` (the same pieces the `smol` crate re-exports). The workload body runs as a
//! task spawned on the executor, as every contestant's does: run as `block_on`'s own future, each
//! of its wakes would make async-io poll its reactor.

use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::Timer;
use futures::future::{join_all, select_all};
use futures_lite::future::{or, yield_now};

use crate::measure::Span;
use crate::workloads::{
    Contestant, ECHO_CONNS, ECHO_MSG, FANOUT_PERMITS, LOADED_SLEEP, LOCK_TASKS, Report, TIMEOUT,
    WAIT_MAX_YIELDS, WAIT_TASKS, WARM_CHAINS, XorShift, YIELD_TASKS, fire_delays, fire_report,
    lateness_ns, overhead_report,
};

pub struct Smol;

type Executor = Rc<LocalExecutor<'static>>;

/// Build the executor (not measured) and run `body(executor)` on it, as a spawned task.
fn block_on<F, Fut>(body: F) -> Fut::Output
where
    F: FnOnce(Executor) -> Fut,
    Fut: Future + 'static,
    Fut::Output: 'static,
{
    let ex: Executor = Rc::new(LocalExecutor::new());
    let task = ex.spawn(body(ex.clone()));
    async_io::block_on(ex.run(task))
}

/// `timeout(TIMEOUT, fut)`: race `fut` against a timer; `None` if the timer wins.
async fn timeout<F: Future>(fut: F) -> Option<F::Output> {
    or(async { Some(fut.await) }, async {
        Timer::after(TIMEOUT).await;
        None
    })
    .await
}

/// tokio's `chained_spawn` body, the smol way (detached tasks, a oneshot).
fn spawn_chain(ex: Executor, depth: u64, done: futures::channel::oneshot::Sender<()>) {
    if depth == 0 {
        let _ = done.send(());
    } else {
        let next = ex.clone();
        ex.spawn(async move { spawn_chain(next, depth - 1, done) })
            .detach();
    }
}

async fn run_chain(ex: &Executor, depth: u64) {
    let (tx, rx) = futures::channel::oneshot::channel();
    let next = ex.clone();
    ex.spawn(async move { spawn_chain(next, depth, tx) })
        .detach();
    rx.await.unwrap();
}

async fn chain(ex: Executor, depth: u64) {
    if depth > 0 {
        let next = chain(ex.clone(), depth - 1);
        ex.spawn(next).await;
    }
}

impl Contestant for Smol {
    fn baseline() {
        block_on(|_| async {});
    }

    fn spawn_join(n: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let span = Span::start();
            let mut handles = Vec::with_capacity(n as usize);
            for i in 0..n {
                handles.push(ex.spawn(async move { black_box(i) }));
            }
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await, i as u64);
            }
            Report::new(span.stop(), n)
        }))
    }

    fn yield_many(yields_per_task: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let span = Span::start();
            let handles: Vec<_> = (0..YIELD_TASKS)
                .map(|_| {
                    ex.spawn(async move {
                        for _ in 0..yields_per_task {
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await;
            }
            Report::new(span.stop(), YIELD_TASKS * yields_per_task)
        }))
    }

    fn chained_spawn(depth: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let span = Span::start();
            run_chain(&ex, depth).await;
            Report::new(span.stop(), depth)
        }))
    }

    fn chained_spawn_warm(depth: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            run_chain(&ex, depth).await; // warm-up, discarded
            let span = Span::start();
            for _ in 1..WARM_CHAINS {
                run_chain(&ex, depth).await;
            }
            Report::new(span.stop(), depth * (WARM_CHAINS - 1))
        }))
    }

    fn chained_spawn_await(depth: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let span = Span::start();
            ex.spawn(chain(ex.clone(), depth)).await;
            Report::new(span.stop(), depth)
        }))
    }

    fn timers_cancel(n: u64) -> Option<Report> {
        Some(block_on(|_| async move {
            let span = Span::start();
            for _ in 0..n {
                timeout(yield_now()).await.unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }

    fn timers_cancel_loaded(n: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let armed = Rc::new(std::cell::Cell::new(0u64));
            let background: Vec<_> = (0..n)
                .map(|_| {
                    let armed = armed.clone();
                    ex.spawn(async move {
                        armed.set(armed.get() + 1);
                        Timer::after(LOADED_SLEEP).await;
                    })
                })
                .collect();
            while armed.get() < n {
                yield_now().await;
            }
            let span = Span::start();
            for _ in 0..n {
                timeout(yield_now()).await.unwrap();
            }
            let report = Report::new(span.stop(), n);
            // Dropping a smol task cancels it.
            drop(background);
            report
        }))
    }

    fn timers_fire(n: u64) -> Option<Report> {
        let delays = fire_delays(n);
        Some(block_on(|ex| async move {
            let span = Span::start();
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| {
                    ex.spawn(async move {
                        let deadline = Instant::now() + d;
                        Timer::after(d).await;
                        lateness_ns(deadline, Instant::now())
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(handles.len());
            for handle in handles {
                lateness.push(handle.await);
            }
            fire_report(span.stop(), &lateness)
        }))
    }

    fn wait_for_overhead(n: u64) -> Option<Report> {
        Some(block_on(|_| async move {
            let span = Span::start();
            for i in 0..n {
                black_box(std::future::ready(black_box(i)).await);
            }
            let direct = span.stop();
            let span = Span::start();
            for i in 0..n {
                black_box(timeout(std::future::ready(black_box(i))).await.unwrap());
            }
            overhead_report(direct, span.stop(), n)
        }))
    }

    fn wait_first_completed(rounds: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let mut rng = XorShift::new();
            let mut waited = Duration::ZERO;
            let span = Span::start();
            for _ in 0..rounds {
                let handles: Vec<_> = (0..WAIT_TASKS)
                    .map(|_| {
                        let k = rng.range(1, WAIT_MAX_YIELDS);
                        ex.spawn(async move {
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
                black_box(first);
                // Cancel all, then wait until every one is gone (one round trip, like tokio's
                // abort-all-then-await).
                join_all(rest.into_iter().map(|handle| handle.cancel())).await;
            }
            Report::new(span.stop(), rounds).with(
                "wait_us_per_op",
                waited.as_nanos() as f64 / 1e3 / rounds as f64,
            )
        }))
    }

    fn shutdown_pending(n: u64) -> Option<Report> {
        let ex = LocalExecutor::new();
        async_io::block_on(ex.run(async {
            for _ in 0..n {
                ex.spawn(Timer::after(LOADED_SLEEP)).detach();
            }
            yield_now().await; // every task is now sleeping
        }));
        let span = Span::start();
        drop(ex);
        Some(Report::new(span.stop(), n))
    }

    fn ping_pong(n: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let (ping_tx, ping_rx) = async_channel::bounded::<u64>(1);
            let (pong_tx, pong_rx) = async_channel::bounded::<u64>(1);
            let span = Span::start();
            let echo = ex.spawn(async move {
                while let Ok(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.unwrap();
                }
            });
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await, Ok(i));
            }
            drop(ping_tx);
            echo.await;
            Report::new(span.stop(), n)
        }))
    }

    fn lock_contended(n: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let lock = Rc::new(async_lock::Mutex::new(0u64));
            let span = Span::start();
            let tasks: Vec<_> = (0..LOCK_TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    ex.spawn(async move {
                        for _ in 0..n / LOCK_TASKS {
                            let mut guard = lock.lock().await;
                            *guard += 1;
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            assert_eq!(*lock.lock().await, n / LOCK_TASKS * LOCK_TASKS);
            Report::new(span.stop(), n / LOCK_TASKS * LOCK_TASKS)
        }))
    }

    fn semaphore_fanout(n: u64) -> Option<Report> {
        Some(block_on(|ex| async move {
            let sem = Rc::new(async_lock::Semaphore::new(FANOUT_PERMITS));
            let span = Span::start();
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let sem = sem.clone();
                    ex.spawn(async move {
                        let _permit = sem.acquire().await;
                        yield_now().await;
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            Report::new(span.stop(), n)
        }))
    }

    fn tcp_echo(n: u64) -> Option<Report> {
        use async_io::Async;
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        use std::net::{TcpListener, TcpStream};
        Some(block_on(|ex| async move {
            let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
            let addr = listener.get_ref().local_addr().unwrap();
            let span = Span::start();
            let server = ex.spawn({
                let ex = ex.clone();
                async move {
                    let mut conns = Vec::new();
                    for _ in 0..ECHO_CONNS {
                        let (mut stream, _) = listener.accept().await.unwrap();
                        stream.get_ref().set_nodelay(true).unwrap();
                        conns.push(ex.spawn(async move {
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
                    for c in conns {
                        c.detach();
                    }
                }
            });
            let clients: Vec<_> = (0..ECHO_CONNS)
                .map(|_| {
                    ex.spawn(async move {
                        let mut stream = Async::<TcpStream>::connect(addr).await.unwrap();
                        stream.get_ref().set_nodelay(true).unwrap();
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
                c.await;
            }
            let report = Report::new(span.stop(), ECHO_CONNS * n);
            server.await;
            report
        }))
    }
}
