//! Issue 10: typed errors and the friction a new user meets: every public
//! error is `Send + Sync + 'static` with a `source()` chain that
//! `is_cancelled` follows, tasks are named at spawn, `Builder::run` runs a
//! main the way `run` does, and a group body's `?` works on both `spawn` and
//! `sleep` with one error type.

mod util;

use std::error::Error;
use std::time::Duration;

use taskloop::time::sleep;
use taskloop::{
    AsCompletedError, Cancelled, GroupClosed, GroupError, NextError, Runtime, TaskError,
    TimeoutError, TimeoutStateError, as_completed, is_cancelled, spawn, spawn_named, task_group,
};
use util::{run, secs};

fn assert_send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn every_public_error_is_send_sync_and_static() {
    assert_send_sync_static::<Cancelled>();
    assert_send_sync_static::<TaskError>();
    assert_send_sync_static::<TimeoutError>();
    assert_send_sync_static::<TimeoutStateError>();
    assert_send_sync_static::<AsCompletedError>();
    assert_send_sync_static::<NextError<u32>>();
    assert_send_sync_static::<GroupError>();
    assert_send_sync_static::<GroupClosed>();
    assert_send_sync_static::<taskloop::InvalidStateError>();
    assert_send_sync_static::<taskloop::NoRuntime>();
}

#[test]
fn a_group_error_goes_into_a_boxed_error_and_an_io_error() {
    let out = run(task_group(|tg| async move {
        tg.spawn_named("the failing child", async { Err::<(), _>("broken") })?;
        Ok::<_, GroupClosed>(())
    }));
    let err = out.unwrap_err();
    assert_eq!(
        err.failures()[0].task.as_ref().unwrap().name,
        "the failing child"
    );
    assert!(
        err.to_string().contains("the failing child failed: broken"),
        "{err}"
    );
    let boxed: Box<dyn Error + Send + Sync> = err.into();
    assert!(boxed.to_string().contains("broken"));
    let io = std::io::Error::other(boxed);
    assert!(!is_cancelled(&io));
    // The typed value is still there, through both boxes.
    let back = io.into_inner().unwrap().downcast::<GroupError>().unwrap();
    assert_eq!(back.failures()[0].get_ref().to_string(), "broken");
}

#[test]
fn cancellation_errors_of_as_completed_are_found_by_is_cancelled() {
    let e = NextError::<u32>::Cancelled(Cancelled);
    assert!(
        is_cancelled(&e),
        "NextError exposes Cancelled as its source"
    );
    assert!(e.source().is_some());
    assert!(!is_cancelled(&NextError::TimedOut(7u32)));
    assert!(is_cancelled(&AsCompletedError::Cancelled(Cancelled)));
    assert!(!is_cancelled(&AsCompletedError::TimedOut));
    let boxed: Box<dyn Error + Send + Sync> = AsCompletedError::Cancelled(Cancelled).into();
    assert!(is_cancelled(&*boxed));
}

#[test]
fn a_cancelled_next_of_as_completed_converts_with_question_mark() {
    run(async {
        let tasks = [spawn(async { sleep(secs(5)).await })];
        let mut items = as_completed(tasks, None);
        taskloop::current_task().unwrap().cancel();
        // `NextError<Task<_>>` carries the (`!Send`) handle back: a plain
        // boxed error takes it.
        let r: Result<(), Box<dyn Error>> = async {
            items.next().await.unwrap()?;
            Ok(())
        }
        .await;
        assert!(is_cancelled(&*r.unwrap_err()));
        taskloop::current_task().unwrap().uncancel();
    });
}

#[test]
fn a_group_body_uses_question_mark_on_spawn_and_sleep_with_io_error() {
    let out = run(task_group(|tg| async move {
        tg.spawn(async { Ok::<_, Cancelled>(()) })?; // GroupClosed -> io::Error
        sleep(secs(1)).await?; // Cancelled -> io::Error
        Ok::<_, std::io::Error>(42)
    }));
    assert_eq!(out.unwrap(), 42);
}

#[test]
fn tasks_are_named_at_spawn() {
    run(async {
        let t = spawn_named("download", async { 1 });
        assert_eq!(t.name(), "download");
        assert!(format!("{t:?}").contains("download"));
        assert_eq!(t.await.unwrap(), 1);
    });
}

#[test]
fn the_builder_runs_a_main_the_way_run_does() {
    let cleaned = std::rc::Rc::new(std::cell::Cell::new(false));
    let c = cleaned.clone();
    let out = Runtime::builder()
        .virtual_time(true)
        .run(async move {
            drop(spawn(async move {
                if sleep(Duration::from_secs(3600)).await.is_err() {
                    c.set(true); // cancelled by run's shutdown, cleans up
                }
            }));
            sleep(secs(60)).await.unwrap();
            "main done"
        })
        .unwrap();
    assert_eq!(out, "main done");
    assert!(cleaned.get(), "pending tasks were cancelled and awaited");
}

#[test]
#[should_panic(expected = "polled after its output was taken")]
fn awaiting_a_task_after_taking_its_result_panics_as_documented() {
    run(async {
        let mut t = spawn(async { 1 });
        taskloop::yield_now().await.unwrap();
        assert_eq!(t.take_result().unwrap().unwrap(), 1);
        let _ = (&mut t).await;
    });
}

#[test]
fn wait_all_and_wait_first_take_tasks_whose_outputs_are_not_fallible() {
    struct Report {
        lines: usize,
    }
    run(async {
        let tasks: Vec<_> = (1..=3u64)
            .map(|s| {
                spawn(async move {
                    sleep(secs(s)).await.unwrap();
                    Report { lines: s as usize }
                })
            })
            .collect();
        let first = taskloop::wait_first(&tasks, None).await.unwrap();
        assert_eq!(first.done.len(), 1);
        let all = taskloop::wait_all(tasks, None).await.unwrap();
        assert_eq!(all.done.len(), 3);
        let lines: usize = all
            .done
            .into_iter()
            .map(|mut t| t.take_result().unwrap().unwrap().lines)
            .sum();
        assert_eq!(lines, 6);
    });
}
