//! `#[taskloop::test]`: a fresh runtime on the virtual clock per test,
//! seeds, a real-time limit, and unretrieved task panics as failures.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use taskloop::{Promise, spawn, spawn_named, time, yield_now};

#[taskloop::test]
async fn runs_on_the_virtual_clock_by_default() {
    let t0 = time::now();
    let real = std::time::Instant::now();
    time::sleep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(time::now() - t0, Duration::from_secs(3600));
    assert!(real.elapsed() < Duration::from_secs(30));
    assert!(taskloop::current_task().is_some(), "the body is a task");
}

#[taskloop::test(real_time)]
#[should_panic(expected = "needs a virtual clock")]
async fn real_time_opts_out_of_the_virtual_clock() {
    drop(time::advance(Duration::from_millis(1)));
}

#[taskloop::test]
async fn a_result_body_may_use_the_question_mark() -> Result<(), taskloop::TaskError> {
    let answer = spawn(async { 42 }).await?;
    assert_eq!(answer, 42);
    Ok(())
}

#[taskloop::test]
#[should_panic(expected = "1 task panic(s) were never retrieved")]
async fn an_unretrieved_task_panic_fails_the_test() {
    let t = spawn(async { panic!("lost") });
    while !t.is_done() {
        yield_now().await.unwrap();
    }
}

#[taskloop::test]
#[should_panic(expected = "is deadlocked: its loop stalled")]
async fn a_deadlock_fails_the_test_when_the_loop_stalls() {
    Promise::<()>::new().await.unwrap();
}

#[taskloop::test(timeout_secs = 1)]
#[should_panic(expected = "did not finish within 1 s of real time")]
async fn a_test_that_never_ends_fails_at_the_real_time_limit() {
    let spinner = spawn_named("spinner", async { while yield_now().await.is_ok() {} });
    spinner.await.unwrap();
}

thread_local! {
    /// The schedules seen by the runs of the seeded test below.
    static SCHEDULES: RefCell<Vec<Vec<u32>>> = const { RefCell::new(Vec::new()) };
}

#[taskloop::test(seeds = 20)]
async fn seeds_run_the_body_once_per_seed_with_different_schedules() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let order = order.clone();
            spawn(async move { order.borrow_mut().push(i) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let runs = SCHEDULES.with(|s| {
        s.borrow_mut().push(order.take());
        s.borrow().clone()
    });
    if std::env::var_os("TASKLOOP_SEED").is_none() && runs.len() == 20 {
        let distinct: HashSet<_> = runs.into_iter().collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }
}

#[taskloop::test(seeds = 20)]
#[should_panic(expected = "the loader ran first")]
async fn seeds_find_an_order_dependent_failure() {
    let loaded = Rc::new(RefCell::new(false));
    let l = loaded.clone();
    let loader = spawn(async move { *l.borrow_mut() = true });
    let l = loaded.clone();
    let worker = spawn(async move { assert!(*l.borrow(), "the loader ran first") });
    loader.await.unwrap();
    worker
        .await
        .map_err(|e| std::panic::resume_unwind(e.into_panic()))
        .unwrap();
}
