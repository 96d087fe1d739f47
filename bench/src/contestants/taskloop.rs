//! taskloop: `Runtime::new()` + `block_on`, tasks via `taskloop::spawn`.

use std::future::Future;
use std::hint::black_box;

use crate::measure::Span;
use crate::workloads::{Contestant, Report, YIELD_TASKS};

pub struct Taskloop;

/// Build the runtime (not measured) and run `fut` on it.
fn block_on<F: Future>(fut: F) -> F::Output {
    let rt = taskloop::Runtime::new().expect("build taskloop runtime");
    rt.block_on(fut)
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
        Some(block_on(async {
            let span = Span::start();
            taskloop::spawn(chain(depth)).await.unwrap();
            Report::new(span.stop(), depth)
        }))
    }

    fn timers_cancel(_n: u64) -> Option<Report> {
        None // TODO(lead): enable when taskloop::time lands (timeout = taskloop::wait_for).
    }

    fn timers_fire(_n: u64) -> Option<Report> {
        None // TODO(lead): enable when taskloop::time lands (taskloop::time::sleep).
    }

    fn wait_for_overhead(_n: u64) -> Option<Report> {
        None // TODO(lead): enable when taskloop::wait_for lands.
    }

    fn wait_first_completed(_rounds: u64) -> Option<Report> {
        None // TODO(lead): enable when taskloop::wait (FIRST_COMPLETED) lands.
    }
}
