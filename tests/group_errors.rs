//! A task group's typed errors: `GroupError` carries the error *values*
//! (asyncio's `ExceptionGroup` carries the exceptions) and filters them the
//! way 3.11's `ExceptionGroup.split` / `subgroup` do; a failed child's handle
//! reports the failure; an error is told apart from a cancellation by its
//! source chain (asyncio's test_taskgroup_08: an exception raised in the
//! clean-up after a cancellation is reported).

mod util;

use std::fmt;
use std::io;

use taskloop::time::sleep;
use taskloop::{
    BoxError, Cancelled, GroupError, ReturnWhen, TaskError, spawn, task_group, wait, yield_now,
};
use util::{ms, run, secs};

/// A user error type: `Cancelled` is its source, as `thiserror`'s `#[from]`
/// makes it.
#[derive(Debug, PartialEq)]
enum AppError {
    BadRecord(u32),
    Cancelled(Cancelled),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::BadRecord(n) => write!(f, "bad record {n}"),
            AppError::Cancelled(_) => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Cancelled(c) => Some(c),
            AppError::BadRecord(_) => None,
        }
    }
}

impl From<Cancelled> for AppError {
    fn from(c: Cancelled) -> AppError {
        AppError::Cancelled(c)
    }
}

/// A child that sleeps `d`, then fails with `BadRecord(n)`.
async fn fails_after(d: std::time::Duration, n: u32) -> Result<(), AppError> {
    sleep(d).await?;
    Err(AppError::BadRecord(n))
}

// test_taskgroups.test_taskgroup_01/_03 with typed values: the group error
// carries the child's error value, recovered by type.
#[test]
fn the_group_error_carries_the_childs_typed_error() {
    let err = run(task_group(|tg| async move {
        tg.spawn_named("reader", fails_after(ms(10), 7))?;
        tg.spawn(async {
            sleep(secs(5)).await?;
            Ok::<_, AppError>(())
        })?;
        Ok::<_, BoxError>(())
    }))
    .unwrap_err();
    let failures = err.failures();
    assert_eq!(failures.len(), 1, "{err}");
    assert_eq!(failures[0].task.as_ref().unwrap().name, "reader");
    assert_eq!(
        failures[0].downcast_ref::<AppError>(),
        Some(&AppError::BadRecord(7))
    );
    let value = err
        .into_failures()
        .remove(0)
        .downcast::<AppError>()
        .unwrap();
    assert_eq!(value, AppError::BadRecord(7));
}

// A failed child's handle: the value went to the group, the handle reports
// the failure with its text (asyncio: `task.exception()` is the error).
#[test]
fn a_failed_childs_handle_reports_the_failure() {
    run(async {
        let mut handle = None;
        let err = task_group(|tg| {
            let slot = &mut handle;
            async move {
                *slot = Some(tg.spawn(fails_after(ms(1), 3))?);
                Ok::<_, BoxError>(())
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.failures().len(), 1);
        let handle = handle.unwrap();
        assert!(handle.is_failed() && !handle.is_cancelled() && !handle.is_panicked());
        let e: TaskError = handle.await.unwrap_err();
        assert!(e.is_failed());
        assert_eq!(e.failure_message(), Some("bad record 3"));
        assert_eq!(e.to_string(), "task failed: bad record 3");
    });
}

// `wait(FirstException)` over group children sees a failed child as a
// failure (its output is no longer an `Err` value, it is the failure).
#[test]
fn wait_first_exception_counts_a_failed_group_child() {
    run(async {
        let waiter = spawn(async {
            let mut children = Vec::new();
            let _ = task_group(|tg| {
                let c = &mut children;
                async move {
                    c.push(tg.spawn(async {
                        sleep(secs(1)).await?;
                        Ok::<_, AppError>(1)
                    })?);
                    c.push(tg.spawn(async {
                        sleep(ms(100)).await?;
                        Err::<u32, _>(AppError::BadRecord(1))
                    })?);
                    Ok::<_, BoxError>(())
                }
            })
            .await;
            children
        });
        let children = waiter.await.unwrap();
        // Already done: `wait` returns at once with the failed one done.
        let done = wait(children, None, ReturnWhen::FirstException)
            .await
            .unwrap();
        assert!(done.done.iter().any(|t| t.is_failed()));
    });
}

// test_taskgroup_08 for a user error type: an error returned during the
// clean-up after a cancellation is a failure unless it *is* the
// cancellation (its source chain holds `Cancelled`).
#[test]
fn a_user_error_after_a_cancellation_is_a_failure_unless_it_wraps_cancelled() {
    let err = run(task_group(|tg| async move {
        // Reacts to the cancellation with the cancellation: not a failure.
        tg.spawn(async {
            sleep(secs(10)).await?;
            Ok::<_, AppError>(())
        })?;
        // Fails during its clean-up: a failure, reported.
        tg.spawn(async {
            if sleep(secs(10)).await.is_err() {
                return Err(AppError::BadRecord(99));
            }
            Ok(())
        })?;
        tg.spawn(fails_after(ms(5), 1))?;
        Ok::<_, BoxError>(())
    }))
    .unwrap_err();
    let values: Vec<_> = err
        .failures()
        .iter()
        .map(|f| f.downcast_ref::<AppError>().unwrap())
        .collect();
    assert_eq!(
        values,
        [&AppError::BadRecord(1), &AppError::BadRecord(99)],
        "{err}"
    );
}

// test_taskgroup_08, the body's side: the body fails during its clean-up
// after a child's failure cancelled it; both errors are reported, the
// body's last.
#[test]
fn a_body_error_after_it_saw_cancelled_is_reported() {
    let err = run(task_group(|tg| async move {
        tg.spawn(fails_after(ms(5), 1))?;
        if sleep(secs(10)).await.is_err() {
            return Err(io::Error::other("body clean-up failed").into());
        }
        Ok::<_, BoxError>(())
    }))
    .unwrap_err();
    let failures = err.failures();
    assert_eq!(failures.len(), 2, "{err}");
    assert!(failures[0].task.is_some());
    assert!(failures[1].task.is_none());
    assert_eq!(
        failures[1].downcast_ref::<io::Error>().unwrap().to_string(),
        "body clean-up failed"
    );
}

// ExceptionGroup.split / subgroup (3.11), across a nested group: the
// structure is kept, the leaves are sorted by type.
#[test]
fn split_and_subgroup_filter_nested_group_errors_by_type() {
    let err = run(task_group(|tg| async move {
        tg.spawn(async {
            // A child running its own group: its error nests.
            task_group(|inner| async move {
                inner.spawn(fails_after(ms(1), 5))?;
                inner.spawn(async {
                    // Fails in its clean-up after the sibling's failure.
                    sleep(ms(10))
                        .await
                        .map_err(|_| io::Error::other("io inside"))?;
                    Ok::<_, io::Error>(())
                })?;
                Ok::<_, BoxError>(())
            })
            .await
        })?;
        tg.spawn(async {
            sleep(ms(50)).await?;
            Ok::<_, AppError>(())
        })?;
        Ok::<_, BoxError>(())
    }))
    .unwrap_err();
    assert_eq!(err.failures().len(), 1);
    let nested = err.failures()[0].nested().expect("the inner group's error");
    assert_eq!(nested.failures().len(), 2, "{nested}");
    assert_eq!(err.leaves().len(), 2);

    let (apps, rest) = err.split_by_type::<AppError>();
    let apps = apps.unwrap();
    let rest = rest.unwrap();
    // Both parts keep the nesting.
    assert!(apps.failures()[0].nested().is_some());
    assert_eq!(
        apps.leaves()[0].downcast_ref::<AppError>(),
        Some(&AppError::BadRecord(5))
    );
    assert_eq!(rest.leaves()[0].message, "io inside");
    assert!(
        rest.subgroup(|f| f.downcast_ref::<AppError>().is_some())
            .is_none()
    );
}

// The common error types work with `?` out of the box: a body using `?` on
// a spawn, a sleep and an `io::Result` with one error type.
#[test]
fn a_body_uses_question_mark_on_spawns_sleeps_and_io_with_one_error_type() {
    let out = run(task_group(|tg| async move {
        let t = tg.spawn(async {
            yield_now().await?;
            Ok::<_, io::Error>(2)
        })?;
        sleep(ms(1)).await?;
        let n: u32 = "40".parse::<u32>().map_err(io::Error::other)?;
        Ok::<_, io::Error>((t, n))
    }));
    let (t, n) = out.unwrap();
    assert_eq!(t.result().unwrap().unwrap() + n, 42);
}

// Every public error type is `Send + Sync + 'static`, so it fits
// `Box<dyn Error + Send + Sync>` and `io::Error`, and `is_cancelled` finds a
// cancellation inside them after conversion.
#[test]
fn group_errors_convert_into_boxed_and_io_errors_keeping_the_cancellation() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let cancelled = GroupError::Cancelled;
    send_sync(&cancelled);
    let io: io::Error = cancelled.into();
    assert!(taskloop::is_cancelled(&io));
    let boxed: BoxError = GroupError::Cancelled.into();
    assert!(taskloop::is_cancelled(&*boxed));
}
