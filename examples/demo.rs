//! taskloop's main demo: workers that are cancelled asyncio-style, run
//! asynchronous clean-up, and report what happened.
//!
//! Run with `cargo run --example demo` (add `RUST_LOG=debug` for the log).

use std::cell::RefCell;
use std::rc::Rc;

use taskloop::{Cancelled, Promise, Task};

/// A worker that processes `jobs` items, yielding between items, and that
/// flushes its partial progress (asynchronously) when it is cancelled.
async fn worker(
    name: &'static str,
    jobs: u32,
    log: Rc<RefCell<Vec<String>>>,
) -> Result<u32, Cancelled> {
    let mut done = 0;
    for _ in 0..jobs {
        if let Err(cancelled) = taskloop::yield_now().await {
            // Clean-up may await: the canceller waits for it to finish.
            taskloop::yield_now().await.ok();
            log.borrow_mut().push(format!(
                "{name}: cancelled after {done} jobs, progress flushed"
            ));
            return Err(cancelled);
        }
        done += 1;
    }
    log.borrow_mut()
        .push(format!("{name}: finished {done} jobs"));
    Ok(done)
}

fn main() {
    let _ = env_logger::try_init();
    let log = Rc::new(RefCell::new(Vec::new()));
    let report = taskloop::run({
        let log = log.clone();
        async move {
            let fast: Task<_> = taskloop::spawn(worker("fast", 3, log.clone()));
            let slow = taskloop::spawn(worker("slow", 1_000_000, log.clone()));
            slow.set_name("slow-worker");

            // A promise resolved by another task once `fast` is done.
            let ready = Promise::new();
            let resolver = ready.resolver();
            fast.add_done_callback(move |t| {
                let _ = resolver.set_result(t.name());
            });
            let finished = ready.await.expect("not cancelled");

            // Request cancellation of the slow worker and wait for its clean-up.
            slow.cancel();
            let slow_outcome = slow.await;
            let fast_outcome = fast.await;
            format!(
                "{finished} finished first with {fast_outcome:?}; slow-worker ended with {}",
                match slow_outcome {
                    Err(e) => e.to_string(),
                    Ok(v) => format!("{v:?}"),
                }
            )
        }
    });
    for line in log.borrow().iter() {
        println!("{line}");
    }
    println!("{report}");
}
