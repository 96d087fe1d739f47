//! The debugging tools of `docs/debugging.md`, on one small program.
//!
//! * `cargo run --example debugging` prints a live task dump of a
//!   supervisor running a task group, taken while its children wait.
//! * `cargo run --example debugging -- race` runs an order-dependent
//!   program; it passes unshuffled. With `TASKLOOP_SEED=<n>` the schedule is
//!   shuffled, some seeds make it fail, and the seed is reported so that the
//!   failure can be replayed.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use taskloop::time::sleep;
use taskloop::{BoxError, Runtime, spawn_named, task_group, yield_now};

fn main() -> Result<(), BoxError> {
    if std::env::args().nth(1).as_deref() == Some("race") {
        return race();
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
        sleep(Duration::from_millis(1500)).await?;
        let supervisor = spawn_named("supervisor", async {
            task_group(|tg| async move {
                tg.spawn_named("fetch mirror-a", sleep(Duration::from_secs(5)))?;
                tg.spawn_named("fetch mirror-b", sleep(Duration::from_secs(7)))?;
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
