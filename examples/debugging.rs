//! The debugging tools of `docs/debugging.md`, on one small program.
//!
//! * `cargo run --example debugging` prints a live task dump of a
//!   supervisor running a task group, taken while its children wait.
//! * `cargo run --example debugging -- race` runs an order-dependent
//!   program; it passes unshuffled. With `TASKLOOP_SEED=<n>` the schedule is
//!   shuffled, some seeds make it fail, and the seed is reported so that the
//!   failure can be replayed.
//! * `cargo run --example debugging -- stuck` blocks the loop in a
//!   synchronous call in debug mode: the watchdog reports the poll while it
//!   still runs, the slow-poll warning follows when it returns.
//! * `cargo run --example debugging -- signal` runs a small service with
//!   `Builder::dump_on_signal(SIGUSR1)`: `kill -USR1 <pid>` prints its task
//!   dump on stderr, Ctrl-C ends it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use taskloop::time::sleep;
use taskloop::{BoxError, Runtime, spawn_named, task_group, yield_now};

fn main() -> Result<(), BoxError> {
    match std::env::args().nth(1).as_deref() {
        Some("race") => return race(),
        Some("stuck") => return stuck(),
        Some("signal") => return on_signal(),
        _ => {}
    }
    let rt = Runtime::builder().virtual_time(true).debug(true).build()?;
    rt.block_on(async {
        let _metrics = spawn_named("metrics", async {
            loop {
                sleep(Duration::from_secs(60)).await?;
            }
            #[allow(unreachable_code)]
            Ok::<_, taskloop::Cancelled>(())
        });
        let flush = spawn_named("flush", sleep(Duration::from_secs(10)));
        let _reporter = spawn_named("reporter", async move { flush.await.is_ok() });
        sleep(Duration::from_millis(1500)).await?;
        let supervisor = spawn_named("supervisor", async {
            // One connection slot: the second fetch waits for it.
            let slots = Rc::new(taskloop::sync::Semaphore::new(1));
            task_group(|tg| async move {
                for (name, secs) in [("fetch mirror-a", 5), ("fetch mirror-b", 7)] {
                    let slots = slots.clone();
                    tg.spawn_named(name, async move {
                        let _slot = slots.acquire().await?;
                        sleep(Duration::from_secs(secs)).await
                    })?;
                }
                sleep(Duration::from_secs(30)).await?;
                Ok::<_, BoxError>(())
            })
            .await
        });
        sleep(Duration::from_millis(250)).await?;
        let b = taskloop::all_tasks()
            .into_iter()
            .find(|t| t.name() == "fetch mirror-b")
            .expect("the child is pending");
        b.cancel();
        print!("{}", taskloop::dump());
        supervisor.abort();
        Ok::<_, BoxError>(())
    })
}

/// A deliberately order-dependent program: the worker assumes the loader,
/// spawned first, has run.
fn race() -> Result<(), BoxError> {
    let rt = Runtime::builder().virtual_time(true).build()?;
    rt.block_on(async {
        let config = Rc::new(RefCell::new(None));
        let c = config.clone();
        let loader = spawn_named("loader", async move {
            *c.borrow_mut() = Some("mirrors.toml");
        });
        let c = config.clone();
        let worker = spawn_named("worker", async move {
            let name = c.borrow().expect("the configuration is loaded");
            yield_now().await.ok();
            name
        });
        loader.await?;
        let name = worker.await?;
        println!("worker used {name}");
        Ok(())
    })
}

/// A poll that blocks the loop in a synchronous call, seen by the watchdog
/// while it runs.
fn stuck() -> Result<(), BoxError> {
    let rt = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(100))
        .build()?;
    rt.block_on(async {
        let legacy = spawn_named("legacy client", async {
            // A synchronous call inside async code: the loop stops here.
            std::thread::sleep(Duration::from_millis(300));
        });
        legacy.await?;
        Ok(())
    })
}

/// A service that prints its task dump on SIGUSR1.
fn on_signal() -> Result<(), BoxError> {
    taskloop::Runtime::builder()
        .debug(true)
        .dump_on_signal(taskloop::signal::SignalKind::user_defined1())
        .run(async {
            let pid = std::process::id();
            println!("pid {pid}: `kill -USR1 {pid}` prints the task dump, Ctrl-C ends");
            let _metrics = spawn_named("metrics", async {
                while sleep(Duration::from_secs(60)).await.is_ok() {}
            });
            // Until Ctrl-C cancels it.
            let _ = task_group(|tg| async move {
                tg.spawn_named("listener", async { sleep(Duration::from_secs(3600)).await })?;
                tg.spawn_named("cache refresh", async {
                    sleep(Duration::from_secs(300)).await
                })?;
                Ok::<_, BoxError>(())
            })
            .await;
        })?;
    Ok(())
}
