//! Seeded schedule shuffling (`Builder::shuffle`, `TASKLOOP_SEED`): an
//! order-dependent program passes unshuffled, fails for some small seed,
//! and that seed replays the failure every time; what shuffling keeps
//! (deadline order, a primitive's FIFO) still holds.

mod util;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use taskloop::sync::Lock;
use taskloop::{Runtime, spawn_named, time, yield_now};
use util::ms;

/// A runtime on the virtual clock, shuffled with `seed` if given.
fn runtime(seed: Option<u64>) -> Runtime {
    Runtime::builder()
        .virtual_time(true)
        .shuffle(seed)
        .build()
        .unwrap()
}

/// A deliberately order-dependent program: it assumes the loader, spawned
/// first, runs before the worker, with nothing to make the worker wait.
/// Returns the trace of what ran (the schedule), or panics.
async fn order_dependent() -> Vec<&'static str> {
    let config: Rc<RefCell<Option<u32>>> = Rc::default();
    let trace = Rc::new(RefCell::new(Vec::new()));
    let (c, t) = (config.clone(), trace.clone());
    let loader = spawn_named("loader", async move {
        t.borrow_mut().push("loader");
        *c.borrow_mut() = Some(42);
    });
    let (c, t) = (config.clone(), trace.clone());
    let worker = spawn_named("worker", async move {
        t.borrow_mut().push("worker");
        c.borrow()
            .expect("the configuration is loaded before the worker starts")
    });
    let (t, c) = (trace.clone(), config.clone());
    let bystander = spawn_named("bystander", async move {
        t.borrow_mut().push("bystander");
        let _ = c.borrow();
    });
    loader.await.unwrap();
    bystander.await.unwrap();
    let answer = worker
        .await
        .map_err(|e| e.into_panic())
        .unwrap_or_else(|p| {
            std::panic::resume_unwind(p);
        });
    assert_eq!(answer, 42);
    trace.take()
}

/// Runs the program under `seed`: its trace, or the panic message.
fn outcome(seed: Option<u64>) -> Result<Vec<&'static str>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        runtime(seed).block_on(order_dependent())
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[test]
fn an_order_dependent_program_fails_for_a_small_seed_and_that_seed_replays_it() {
    // Unshuffled: FIFO, the loader runs first, the program passes.
    assert_eq!(outcome(None), Ok(vec!["loader", "worker", "bystander"]));
    let failing = (0..20)
        .find(|&seed| outcome(Some(seed)).is_err())
        .expect("some seed below 20 runs the worker before the loader");
    for _ in 0..5 {
        let err = outcome(Some(failing)).unwrap_err();
        assert!(err.contains("loaded before the worker"), "{err}");
    }
    // And the seeds that pass replay their own schedule exactly.
    let passing = (0..20).find(|&s| outcome(Some(s)).is_ok()).unwrap();
    let trace = outcome(Some(passing)).unwrap();
    for _ in 0..5 {
        assert_eq!(outcome(Some(passing)).unwrap(), trace);
    }
}

/// A busier program: tasks that yield, sleep to the same ticks, and log
/// `(name, now)` at each step.
async fn busy_schedule() -> Vec<(usize, Duration)> {
    let t0 = time::now();
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let log = log.clone();
            spawn_named(format!("t{i}"), async move {
                for step in 0..3u64 {
                    log.borrow_mut().push((i, time::now() - t0));
                    if (i + step as usize) % 2 == 0 {
                        yield_now().await.unwrap();
                    } else {
                        time::sleep(ms(10 * (step + 1))).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    log.take()
}

#[test]
fn the_same_seed_on_the_virtual_clock_replays_the_same_schedule_exactly() {
    let run = |seed| runtime(seed).block_on(busy_schedule());
    let mut distinct = std::collections::HashSet::new();
    for seed in 0..10 {
        let first = run(Some(seed));
        assert_eq!(run(Some(seed)), first, "seed {seed} replays");
        distinct.insert(first);
    }
    assert!(distinct.len() > 5, "seeds give different schedules");
    assert_eq!(run(None), run(None), "unshuffled is deterministic too");
}

#[test]
fn shuffled_timers_keep_deadline_order_and_permute_only_ties() {
    let mut tie_orders = std::collections::HashSet::new();
    for seed in 0..20 {
        let woke = runtime(Some(seed)).block_on(async {
            let woke = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..6u64)
                .map(|i| {
                    let woke = woke.clone();
                    // Deadlines 10, 10, 10, 20, 20, 20 ms.
                    let d = ms(10 * (1 + i / 3));
                    taskloop::spawn(async move {
                        time::sleep(d).await.unwrap();
                        woke.borrow_mut().push((d, i));
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            woke.take()
        });
        let deadlines: Vec<_> = woke.iter().map(|w| w.0).collect();
        assert!(deadlines.is_sorted(), "seed {seed}: {woke:?}");
        tie_orders.insert(woke);
    }
    assert!(tie_orders.len() > 1, "ties are permuted");
}

#[test]
fn a_lock_still_serves_its_waiters_in_arrival_order_under_every_seed() {
    for seed in 0..20 {
        let (arrived, served) = runtime(Some(seed)).block_on(async {
            let lock = Rc::new(Lock::new(()));
            let arrived = Rc::new(RefCell::new(Vec::new()));
            let served = Rc::new(RefCell::new(Vec::new()));
            let held = lock.try_acquire().unwrap();
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let (lock, arrived, served) = (lock.clone(), arrived.clone(), served.clone());
                    taskloop::spawn(async move {
                        // Logged in the poll that joins the waiter list.
                        arrived.borrow_mut().push(i);
                        let _guard = lock.acquire().await.unwrap();
                        served.borrow_mut().push(i);
                        yield_now().await.unwrap();
                    })
                })
                .collect();
            while lock.waiters() < 8 {
                yield_now().await.unwrap();
            }
            drop(held);
            for t in tasks {
                t.await.unwrap();
            }
            (arrived.take(), served.take())
        });
        assert_eq!(served, arrived, "seed {seed}: FIFO by arrival");
    }
}

const CHILD: &str = "TASKLOOP_SHUFFLE_CHILD";

#[test]
fn the_seed_from_the_environment_is_reported_when_a_task_panics() {
    if std::env::var_os(CHILD).is_some() {
        // The child: `Builder::new()` reads TASKLOOP_SEED.
        Runtime::builder()
            .virtual_time(true)
            .build()
            .unwrap()
            .block_on(order_dependent());
        return;
    }
    let failing = (0..20).find(|&s| outcome(Some(s)).is_err()).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_seed_from_the_environment_is_reported_when_a_task_panics",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("TASKLOOP_SEED", failing.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child failed as the seed says");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "taskloop: error: worker panicked; the schedule was shuffled with seed {failing} \
             (replay with TASKLOOP_SEED={failing})"
        )) && stderr.contains("taskloop: error: Task-1 panicked; the schedule was shuffled"),
        "{stderr}"
    );
}
