//! Task groups: asyncio 3.13's `TaskGroup`, ported from CPython 3.13's
//! `Lib/test/test_asyncio/test_taskgroups.py` and the historical bugs about
//! it (gh-95289, gh-95704, gh-116720).
//!
//! asyncio → Rust: `async with TaskGroup() as tg: body` is
//! `task_group(|tg| async move { body; Ok(value) }).await`; a child or body
//! "raising" is returning `Err(e)` (or panicking); "swallowing
//! CancelledError" is `uncancel()` after seeing `Err(Cancelled)`; the
//! `ExceptionGroup` is `GroupError::Failed(failures)` and a propagated
//! `CancelledError` is `GroupError::Cancelled`. A parent cancelled from
//! outside is always a spawned task (the main task of `block_on` always
//! keeps its value). Every test runs on the virtual clock.

mod util;

use std::cell::{Cell, RefCell};
use std::error::Error as _;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use taskloop::{
    Cancelled, FailureKind, GroupClosed, GroupError, Task, TaskGroup, TaskRef, current_task, spawn,
    task_group,
    time::{now, sleep},
    wait_for, yield_now,
};
use util::{Counters, Signal, yield_n};
use util::{me, ms, run, secs, since};

/// The error type of the children and bodies here: `?` takes `Cancelled`
/// (a cancellation, not a failure) and any message.
type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T = ()> = Result<T, Error>;

/// The failure messages of a group error, in order.
fn messages(e: &GroupError) -> Vec<String> {
    e.failures().iter().map(|f| f.message.clone()).collect()
}

/// A child that sleeps `d` and returns `v`.
async fn after<T>(d: Duration, v: T) -> Res<T> {
    sleep(d).await?;
    Ok(v)
}

/// A child that sleeps `d` and fails with `msg` (asyncio's `crash_after`).
async fn fail_after(d: Duration, msg: &'static str) -> Res<()> {
    sleep(d).await?;
    Err(msg.into())
}

/// A child that sleeps `d`; if cancelled, it cleans up for `cleanup`, counts
/// itself in `cancelled` and ends cancelled.
async fn cancellable_sleeper(d: Duration, cleanup: Duration, cancelled: Rc<Cell<u32>>) -> Res<()> {
    if let Err(c) = sleep(d).await {
        sleep(cleanup).await?;
        cancelled.set(cancelled.get() + 1);
        return Err(c.into());
    }
    Ok(())
}

/// A child that sleeps `d` and then fails whatever happened (asyncio's
/// `try: await sleep(d) finally: 1 / 0`).
async fn fails_finally(d: Duration) -> Res<()> {
    let _ = sleep(d).await;
    Err("ZeroDivisionError".into())
}

/// asyncio's `try: await sleep(d) finally: 1 / 0` spelled the taskloop way:
/// replacing the cancellation with an error is `uncancel()` then `Err`.
async fn replaces_cancel_with_error(d: Duration, cleanup: Duration, msg: &'static str) -> Res<()> {
    if sleep(d).await.is_err() {
        me().uncancel();
        sleep(cleanup).await?;
    }
    Err(msg.into())
}

/// A value handed from one task to another.
type Shared<T> = Rc<RefCell<Option<T>>>;

/// Where a spawned runner records its group's outcome (the runner's own
/// outcome is "cancelled" when it saw an outside cancellation).
type Slot<T> = Shared<Result<T, GroupError>>;

// ---------------------------------------------------------------------------
// Children and body

// mirrors test_taskgroups.py::test_taskgroup_01
#[test]
fn task_group_waits_for_every_child_and_returns_the_body_value() {
    run(async {
        let t0 = now();
        let (t1, t2, body) = task_group(|tg| async move {
            let t1 = tg.spawn(after(ms(100), 42))?;
            let t2 = tg.spawn(after(ms(200), 11))?;
            assert_eq!(tg.len(), 2);
            Ok::<_, GroupClosed>((t1, t2, "body"))
        })
        .await
        .unwrap();
        assert_eq!(since(t0), ms(200));
        assert_eq!(body, "body");
        assert_eq!(*t1.result().unwrap().unwrap(), 42);
        assert_eq!(*t2.result().unwrap().unwrap(), 11);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_02
#[test]
fn task_group_accepts_children_spawned_after_the_body_awaited() {
    run(async {
        let t0 = now();
        let (t1, t2) = task_group(|tg| async move {
            let t1 = tg.spawn(after(ms(100), 42))?;
            sleep(ms(150)).await?;
            let t2 = tg.spawn(after(ms(200), 11))?;
            Ok::<_, Error>((t1, t2))
        })
        .await
        .unwrap();
        assert_eq!(since(t0), ms(350));
        assert_eq!(*t1.result().unwrap().unwrap(), 42);
        assert_eq!(*t2.result().unwrap().unwrap(), 11);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_03
#[test]
fn a_child_cancelled_on_its_own_is_not_an_error() {
    run(async {
        let (t1, t2) = task_group(|tg| async move {
            let t1 = tg.spawn(after(secs(1), 42))?;
            sleep(ms(150)).await?;
            // Cancel t1 explicitly: everything else goes on as usual.
            t1.cancel();
            let t2 = tg.spawn(after(ms(200), 11))?;
            Ok::<_, Error>((t1, t2))
        })
        .await
        .unwrap();
        assert!(t1.is_cancelled());
        assert_eq!(*t2.result().unwrap().unwrap(), 11);
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_24
#[test]
fn children_can_spawn_siblings_while_the_group_waits() {
    run(async {
        let t0 = now();
        let spawned = task_group(|tg| async move {
            let g = tg.clone();
            tg.spawn(async move {
                sleep(ms(100)).await?;
                g.spawn(after(ms(100), ()))?;
                g.spawn(after(ms(200), ()))?;
                Ok::<_, Error>(())
            })?;
            Ok::<_, GroupClosed>(tg)
        })
        .await
        .unwrap();
        assert_eq!(since(t0), ms(300), "the group waited for the grandchildren");
        assert_eq!(spawned.len(), 3);
    });
}

/// asyncio's `hydra`: counts itself, sleeps, spawns two more.
fn hydra(tg: TaskGroup, heads: Rc<Cell<u32>>) -> Pin<Box<dyn Future<Output = Res>>> {
    Box::pin(async move {
        heads.set(heads.get() + 1);
        sleep(ms(10)).await?;
        tg.spawn(hydra(tg.clone(), heads.clone()))?;
        tg.spawn(hydra(tg.clone(), heads))?;
        Ok(())
    })
}

// mirrors test_taskgroups.py::test_taskgroup_25
#[test]
fn hydras_multiply_until_hercules_fails_and_the_group_stops_them_all() {
    run(async {
        let heads = Rc::new(Cell::new(0));
        let h = heads.clone();
        let err = task_group(|tg| async move {
            tg.spawn(hydra(tg.clone(), h.clone()))?;
            tg.spawn(async move {
                while h.get() < 10 {
                    sleep(ms(15)).await?;
                }
                Err::<(), Error>("ZeroDivisionError".into())
            })?;
            Ok::<_, GroupClosed>(())
        })
        .await
        .unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert!(heads.get() >= 10);
    });
}

// ---------------------------------------------------------------------------
// A child fails

// mirrors test_taskgroups.py::test_cancel_children_on_child_error and
// test_taskgroup_04
#[test]
fn a_child_failure_cancels_the_siblings_and_the_body_and_waits_for_their_clean_up() {
    run(async {
        let t0 = now();
        let cancelled = Rc::new(Cell::new(0));
        let body_cancelled = Rc::new(Cell::new(false));
        let sibling: Shared<TaskRef> = Rc::default();
        let (c, b, s) = (cancelled.clone(), body_cancelled.clone(), sibling.clone());
        let runner = spawn(async move {
            let r = task_group(|tg| async move {
                tg.spawn(fail_after(ms(100), "ZeroDivisionError"))?;
                tg.spawn(fail_after(ms(100), "ZeroDivisionError"))?;
                tg.spawn(fail_after(ms(100), "ZeroDivisionError"))?;
                let t2 = tg.spawn(cancellable_sleeper(secs(5), ms(300), c))?;
                *s.borrow_mut() = Some(t2.as_task_ref().clone());
                if let Err(e) = sleep(secs(10)).await {
                    b.set(true);
                    return Err(e.into());
                }
                Ok::<_, Error>(())
            })
            .await;
            // asyncio: `NUM += 10` after the group never runs.
            r.map(|()| 10)
        });
        let err = runner.await.unwrap().unwrap_err();
        assert_eq!(
            since(t0),
            ms(400),
            "the group waited for the sibling's clean-up"
        );
        assert!(!err.failures().is_empty());
        assert!(messages(&err).iter().all(|m| m == "ZeroDivisionError"));
        assert_eq!(cancelled.get(), 1);
        assert!(body_cancelled.get());
        let t2 = sibling.borrow_mut().take().unwrap();
        assert!(t2.is_cancelled());
    });
}

// asyncio-semantics §1.10 __aexit__ step 7: members in the order the
// failures were observed, the body's last. The late failures here come
// from code that had not yet reached a checkpoint when the group aborted
// (it awaited a foreign, non-checkpoint signal), so none of them saw
// `Cancelled`.
#[test]
fn failures_are_listed_in_the_order_observed_with_the_body_last() {
    run(async {
        let first: Shared<TaskRef> = Rc::default();
        let signals: Vec<Signal> = (0..3).map(|_| Signal::new()).collect();
        let (f, sig) = (first.clone(), signals.clone());
        let err = task_group(|tg| async move {
            let [body_sig, b_sig, c_sig] = <[Signal; 3]>::try_from(sig).unwrap();
            let (bs, cs, ds) = (b_sig.clone(), c_sig.clone(), body_sig.clone());
            let a = tg.spawn(async move {
                sleep(ms(100)).await?;
                // Wake the body first, then c, then b; fail.
                ds.fire();
                cs.fire();
                bs.fire();
                Err::<(), Error>("a".into())
            })?;
            *f.borrow_mut() = Some(a.as_task_ref().clone());
            tg.spawn(async move {
                b_sig.wait().await;
                Err::<(), Error>("b".into())
            })?;
            tg.spawn(async move {
                c_sig.wait().await;
                Err::<(), Error>("c".into())
            })?;
            body_sig.wait().await;
            Err::<(), Error>("body".into())
        })
        .await
        .unwrap_err();
        assert_eq!(messages(&err), ["a", "c", "b", "body"]);
        let failures = err.failures();
        assert!(
            failures[0]
                .task
                .as_ref()
                .unwrap()
                .is(first.borrow().as_ref().unwrap())
        );
        assert!(failures[..3].iter().all(|f| f.task.is_some()));
        assert!(failures[3].task.is_none(), "the body's failure has no task");
        assert!(failures.iter().all(|f| f.kind == FailureKind::Error));
        assert!(err.to_string().contains("4 sub-errors"), "{err}");
        assert_eq!(me().cancelling(), 0);
        yield_now()
            .await
            .expect("nothing is left pending on the parent");
    });
}

// mirrors test_taskgroups.py::test_taskgroup_19, spelled the taskloop way
// (the mapping: a task that saw `Cancelled` and does not `uncancel()` ends
// cancelled, so replacing the cancellation with an error is `uncancel()`
// then `Err`)
#[test]
fn errors_that_replace_the_cancellation_in_clean_up_are_listed_in_observed_order_with_the_body_last()
 {
    run(async {
        let t0 = now();
        let err = task_group(|tg| async move {
            tg.spawn(fail_after(ms(100), "a"))?;
            tg.spawn(replaces_cancel_with_error(secs(10), ms(200), "b"))?;
            tg.spawn(replaces_cancel_with_error(secs(10), ms(100), "c"))?;
            if sleep(secs(10)).await.is_err() {
                me().uncancel();
                return Err::<(), Error>("body".into());
            }
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(messages(&err), ["a", "c", "b", "body"]);
        assert_eq!(since(t0), ms(300));
        assert_eq!(me().cancelling(), 0);
        yield_now()
            .await
            .expect("nothing is left pending on the parent");
    });
}

// mirrors test_taskgroups.py::test_taskgroup_09 and test_taskgroup_10
#[test]
fn a_body_error_cancels_the_children_and_is_the_only_failure() {
    run(async {
        let t0 = now();
        let kids: Rc<RefCell<Vec<TaskRef>>> = Rc::default();
        let k = kids.clone();
        let err = task_group(|tg| async move {
            for d in [1, 2] {
                let t = tg.spawn(after(secs(d), d))?;
                k.borrow_mut().push(t.as_task_ref().clone());
            }
            sleep(ms(100)).await?;
            Err::<(), Error>("ZeroDivisionError".into())
        })
        .await
        .unwrap_err();
        assert_eq!(since(t0), ms(100));
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert!(err.failures()[0].task.is_none());
        assert!(kids.borrow().iter().all(TaskRef::is_cancelled));
        assert_eq!(me().cancelling(), 0);
        yield_now()
            .await
            .expect("nothing is left pending on the parent");
    });
}

// port choice (asyncio-semantics §4.10): a panicking child is a failure of
// the group, recorded with its message; asyncio's child exception
#[test]
fn a_panicking_child_is_recorded_with_its_message_and_stops_the_group() {
    run(async {
        let t0 = now();
        let handles: Shared<(Task<()>, Task<()>)> = Rc::default();
        let h = handles.clone();
        let err = task_group(|tg| async move {
            let bad = tg.spawn(async {
                sleep(ms(100)).await?;
                if true {
                    panic!("kaboom");
                }
                Ok::<_, Error>(())
            })?;
            let other = tg.spawn(after(secs(10), ()))?;
            *h.borrow_mut() = Some((bad, other));
            Ok::<_, GroupClosed>(())
        })
        .await
        .unwrap_err();
        assert_eq!(since(t0), ms(100));
        let (bad, other) = handles.borrow_mut().take().unwrap();
        let failures = err.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].kind, FailureKind::Panic);
        assert_eq!(failures[0].message, "kaboom");
        assert!(failures[0].task.as_ref().unwrap().is(bad.as_task_ref()));
        assert!(err.to_string().contains("panicked: kaboom"), "{err}");
        assert_eq!(bad.await.unwrap_err().panic_message(), Some("kaboom"));
        assert!(other.is_cancelled());
    });
}

// mirrors test_taskgroups.py::test_taskgroup_no_create_task_after_failure
#[test]
fn no_child_can_be_spawned_once_the_group_is_aborting() {
    run(async {
        let refused = Rc::new(Cell::new(None));
        let counters = Counters::new();
        let (r, c) = (refused.clone(), counters.clone());
        let err = task_group(|tg| async move {
            tg.spawn(fail_after(ms(1), "ZeroDivisionError"))?;
            let g = tg.clone();
            tg.spawn(async move {
                if let Err(e) = sleep(secs(1)).await {
                    let late = c.wrap(fail_after(ms(1), "never runs"));
                    r.set(Some(g.spawn(late).map(drop)));
                    return Err(e.into());
                }
                Ok::<_, Error>(())
            })?;
            Ok::<_, GroupClosed>(())
        })
        .await
        .unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert_eq!(refused.get(), Some(Err(GroupClosed::Aborting)));
        assert_eq!(
            (counters.polls(), counters.drops()),
            (0, 1),
            "the refused future was dropped unpolled"
        );
    });
}

// mirrors test_taskgroups.py::test_taskgroup_finished / test_coro_closed_when_tg_closed
#[test]
fn a_finished_group_refuses_new_children_and_drops_them_unpolled() {
    run(async {
        let tg = task_group(|tg| async move { Ok::<_, GroupClosed>(tg) })
            .await
            .unwrap();
        let counters = Counters::new();
        let r = tg.spawn(counters.wrap(after(ms(0), ())));
        assert_eq!(r.map(drop), Err(GroupClosed::Finished));
        assert_eq!((counters.polls(), counters.drops()), (0, 1));
    });
}

// ---------------------------------------------------------------------------
// Nesting

// mirrors test_taskgroups.py::test_taskgroup_14
#[test]
fn a_nested_group_error_nests_in_the_outer_failure() {
    run(async {
        let t0 = now();
        let outer_child: Shared<TaskRef> = Rc::default();
        let oc = outer_child.clone();
        let err = task_group(|g1| async move {
            let t = g1.spawn(fail_after(secs(10), "ValueError(10)")).unwrap();
            *oc.borrow_mut() = Some(t.as_task_ref().clone());
            task_group(|g2| async move {
                g2.spawn(fail_after(ms(100), "ValueError(0.1)"))?;
                Ok::<_, GroupClosed>(())
            })
            .await?;
            Ok::<_, GroupError>(())
        })
        .await
        .unwrap_err();
        assert_eq!(since(t0), ms(100));
        let failures = err.failures();
        assert_eq!(failures.len(), 1, "{err}");
        let nested = failures[0].nested().expect("a nested group error");
        assert_eq!(messages(nested), ["ValueError(0.1)"]);
        assert!(
            failures[0].task.is_none(),
            "the body propagated the inner group's error"
        );
        assert!(outer_child.borrow().as_ref().unwrap().is_cancelled());
    });
}

// the same, with the body's error type a boxed error (what `?` produces in
// most code): `Failure::nested` is documented as "the group error this
// failure carries"
#[test]
fn a_nested_group_error_boxed_by_question_mark_still_nests() {
    run(async {
        let err = task_group(|g1| async move {
            g1.spawn(after(secs(10), ()))?;
            task_group(|g2| async move {
                g2.spawn(fail_after(ms(100), "ValueError(0.1)"))?;
                Ok::<_, GroupClosed>(())
            })
            .await?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
        let nested = err.failures()[0].nested().expect("a nested group error");
        assert_eq!(messages(nested), ["ValueError(0.1)"]);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_13
#[test]
fn a_nested_group_cancelled_by_the_outer_failure_adds_no_error() {
    run(async {
        let t0 = now();
        let err = task_group(|g1| async move {
            g1.spawn(fail_after(ms(100), "ValueError(0.1)"))?;
            task_group(|g2| async move {
                g2.spawn(fail_after(secs(10), "ValueError(10)"))?;
                Ok::<_, GroupClosed>(())
            })
            .await?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
        assert_eq!(since(t0), ms(100));
        assert_eq!(messages(&err), ["ValueError(0.1)"]);
        assert!(err.failures()[0].nested().is_none());
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_11 and test_taskgroup_12,
// spelled the taskloop way (children replace the cancellation with their
// error by `uncancel()` then `Err`), with the inner body already finished
// when the outside cancel arrives; 3.13's re-cancel (gh-116720) follows
#[test]
fn an_outside_cancel_of_nested_groups_whose_children_replace_it_with_errors_gives_nested_errors() {
    run(async {
        let t0 = now();
        let out: Slot<()> = Rc::default();
        let log: Shared<String> = Rc::default();
        let outer_child: Shared<TaskRef> = Rc::default();
        let (o, l, oc) = (out.clone(), log.clone(), outer_child.clone());
        let runner = spawn(async move {
            let r = task_group(|g1| async move {
                // test_taskgroup_12's extra sleeper in the outer group.
                let t = g1.spawn(after(secs(10), ())).unwrap();
                *oc.borrow_mut() = Some(t.as_task_ref().clone());
                task_group(|g2| async move {
                    for _ in 0..5 {
                        g2.spawn(replaces_cancel_with_error(
                            secs(10),
                            ms(0),
                            "ZeroDivisionError",
                        ))?;
                    }
                    Ok::<_, GroupClosed>(())
                })
                .await?;
                Ok::<_, GroupError>(())
            })
            .await;
            *o.borrow_mut() = Some(r);
            let next = sleep(secs(1)).await;
            *l.borrow_mut() = Some(format!(
                "cancelling {}, next sleep {next:?}",
                me().cancelling()
            ));
            next
        });
        sleep(ms(100)).await.unwrap();
        assert!(!runner.is_done());
        runner.cancel();
        assert!(runner.await.unwrap_err().is_cancelled());
        assert_eq!(since(t0), ms(100));
        let err = out.borrow_mut().take().unwrap().unwrap_err();
        let failures = err.failures();
        assert_eq!(failures.len(), 1, "{err}");
        let nested = failures[0].nested().expect("the inner group's error");
        assert_eq!(messages(nested), ["ZeroDivisionError"; 5]);
        assert!(outer_child.borrow().as_ref().unwrap().is_cancelled());
        assert_eq!(
            log.borrow().as_deref(),
            Some("cancelling 1, next sleep Err(Cancelled)"),
            "the outside cancel was requested again after the errors won"
        );
    });
}

// mirrors test_taskgroups.py::test_nested_groups_both_cancelled
#[test]
fn nested_groups_both_failing_leave_the_counter_at_one_inside_and_zero_after() {
    run(async {
        let err = task_group(|outer| async move {
            let inner = task_group(|inner| {
                let outer = outer.clone();
                async move {
                    inner.spawn(fail_after(ms(0), "RuntimeError"))?;
                    outer.spawn(fail_after(ms(0), "ValueError"))?;
                    Ok::<_, GroupClosed>(())
                }
            })
            .await;
            assert_eq!(messages(&inner.unwrap_err()), ["RuntimeError"]);
            assert_eq!(
                me().cancelling(),
                1,
                "the outer group's cancel is outstanding"
            );
            Ok::<_, GroupClosed>(())
        })
        .await
        .unwrap_err();
        assert_eq!(messages(&err), ["ValueError"]);
        assert_eq!(me().cancelling(), 0);
    });
}

// ---------------------------------------------------------------------------
// The parent is cancelled from outside

// mirrors test_taskgroups.py::test_cancellation and test_taskgroup_22 (the
// body has finished; the group waits in its exit)
#[test]
fn an_outside_cancel_while_the_group_waits_cancels_the_children_and_ends_cancelled() {
    run(async {
        let t0 = now();
        let cancelled = Rc::new(Cell::new(0));
        let out: Slot<()> = Rc::default();
        let (c, o) = (cancelled.clone(), out.clone());
        let runner = spawn(async move {
            let r = task_group(|tg| async move {
                for _ in 0..5 {
                    tg.spawn(cancellable_sleeper(secs(5), ms(100), c.clone()))?;
                }
                Ok::<_, GroupClosed>(())
            })
            .await;
            *o.borrow_mut() = Some(r);
        });
        sleep(ms(100)).await.unwrap();
        assert!(!runner.is_done());
        assert!(runner.cancel());
        assert!(runner.await.unwrap_err().is_cancelled());
        assert_eq!(since(t0), ms(200), "after the children's clean-up");
        assert_eq!(cancelled.get(), 5);
        let err = out.borrow_mut().take().unwrap().unwrap_err();
        assert!(err.is_cancelled());
        assert!(err.failures().is_empty());
        assert!(err.source().is_some_and(|s| s.is::<Cancelled>()));
    });
}

// mirrors test_taskgroups.py::test_taskgroup_07 (and test_taskgroup_17)
#[test]
fn an_outside_cancel_while_the_body_awaits_cancels_the_children_at_once() {
    run(async {
        let t0 = now();
        let num = Rc::new(Cell::new(0));
        let out: Slot<()> = Rc::default();
        let (n, o) = (num.clone(), out.clone());
        let runner = spawn(async move {
            let r = task_group(|tg| async move {
                for _ in 0..5 {
                    tg.spawn(cancellable_sleeper(secs(5), ms(0), n.clone()))?;
                }
                if let Err(e) = sleep(secs(10)).await {
                    n.set(n.get() + 10);
                    return Err(e.into());
                }
                Ok::<_, Error>(())
            })
            .await;
            *o.borrow_mut() = Some(r);
        });
        sleep(ms(100)).await.unwrap();
        assert!(runner.cancel());
        assert!(runner.await.unwrap_err().is_cancelled());
        assert_eq!(num.get(), 15);
        assert_eq!(since(t0), ms(100), "the children were cancelled at once");
        assert!(out.borrow_mut().take().unwrap().unwrap_err().is_cancelled());
    });
}

// mirrors test_taskgroups.py::test_taskgroup_08: an error a child returns in
// its clean-up after it saw `Cancelled` is not the cancellation itself, so it
// is a failure of the group (errors win over the outside cancel: the five
// errors are listed). The children are cancelled at once (the body ended
// with the outside cancellation).
#[test]
fn child_errors_in_clean_up_after_an_outside_cancel_are_the_groups_failures() {
    run(async {
        let t0 = now();
        let out: Slot<()> = Rc::default();
        let o = out.clone();
        let runner = spawn(async move {
            let r = task_group(|tg| async move {
                for _ in 0..5 {
                    tg.spawn(fails_finally(secs(10)))?;
                }
                sleep(secs(10)).await?;
                Ok::<_, Error>(())
            })
            .await;
            *o.borrow_mut() = Some(r);
        });
        sleep(ms(100)).await.unwrap();
        runner.cancel();
        let _ = runner.await;
        let err = out.borrow_mut().take().unwrap().unwrap_err();
        assert!(!err.is_cancelled(), "{err}");
        assert_eq!(err.failures().len(), 5, "{err}");
        assert!(
            err.failures()
                .iter()
                .all(|f| f.kind == FailureKind::Error && f.task.is_some())
        );
        assert_eq!(since(t0), ms(100), "the children were cancelled at once");
    });
}

// mirrors test_taskgroups.py::test_taskgroup_15; regression: gh-95704
// (a cancelled TaskGroup discarded child errors)
#[test]
fn a_child_error_during_the_body_clean_up_wins_over_the_outside_cancel() {
    run(async {
        let t0 = now();
        let out: Slot<()> = Rc::default();
        let o = out.clone();
        let runner = spawn(async move {
            let r = task_group(|g1| async move {
                g1.spawn(fail_after(ms(300), "ZeroDivisionError"))?;
                if let Err(e) = sleep(secs(10)).await {
                    // A clean-up that awaits; the group's abort cancels it.
                    let _ = sleep(ms(500)).await;
                    return Err(e.into());
                }
                Ok::<_, Error>(())
            })
            .await;
            *o.borrow_mut() = Some(r);
        });
        sleep(ms(100)).await.unwrap();
        assert!(!runner.is_done());
        runner.cancel();
        let _ = runner.await;
        assert_eq!(since(t0), ms(300));
        let err = out.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
    });
}

// mirrors test_taskgroups.py::test_taskgroup_16 (the cancel reaches the
// group through an awaited task)
#[test]
fn a_child_error_wins_over_an_outside_cancel_forwarded_through_an_awaited_task() {
    run(async {
        let out: Slot<()> = Rc::default();
        let o = out.clone();
        let runner = spawn(async move {
            let nested = spawn(async move {
                let r = task_group(|g1| async move {
                    g1.spawn(fail_after(ms(300), "ZeroDivisionError"))?;
                    if let Err(e) = sleep(secs(10)).await {
                        let _ = sleep(ms(500)).await;
                        return Err(e.into());
                    }
                    Ok::<_, Error>(())
                })
                .await;
                *o.borrow_mut() = Some(r);
            });
            nested.await
        });
        sleep(ms(100)).await.unwrap();
        runner.cancel();
        let _ = runner.await;
        let err = out.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
    });
}

// mirrors test_taskgroups.py::test_error_and_cancel; regression: gh-116720
// (errors win, and the outside cancel is requested again after the group)
#[test]
fn errors_win_over_an_outside_cancel_which_is_requested_again_after_the_group() {
    run(async {
        let started = Rc::new(Cell::new(false));
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let (s, l) = (started.clone(), log.clone());
        let inner = spawn(async move {
            let r = task_group(|tg| async move {
                tg.spawn(async move {
                    s.set(true);
                    yield_now().await?;
                    Err::<(), Error>("RuntimeError".into())
                })?;
                sleep(secs(1)).await?;
                panic!("sleep in group should have been cancelled");
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            })
            .await;
            l.borrow_mut()
                .push(format!("{:?}", messages(&r.unwrap_err())));
            l.borrow_mut()
                .push(format!("cancelling {}", me().cancelling()));
            if sleep(secs(1)).await.is_ok() {
                panic!("sleep after group should have been cancelled");
            }
            l.borrow_mut().push("cancelled after the group".into());
        });
        while !started.get() {
            yield_now().await.unwrap();
        }
        assert_eq!(inner.cancelling(), 0);
        inner.cancel();
        assert_eq!(inner.cancelling(), 1);
        assert!(inner.await.unwrap_err().is_cancelled());
        assert_eq!(
            *log.borrow(),
            [
                "[\"RuntimeError\"]",
                "cancelling 1",
                "cancelled after the group"
            ]
        );
    });
}

// ---------------------------------------------------------------------------
// The parent's cancellation counter

// mirrors test_taskgroups.py::test_cancelling_level_preserved
#[test]
fn the_parent_cancelling_count_is_back_at_its_entry_value_after_a_group_that_failed_on_its_own() {
    run(async {
        let runner = spawn(async {
            let err = task_group(|tg| async move {
                tg.spawn(fail_after(ms(0), "RuntimeError"))?;
                sleep(secs(1)).await?;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
            assert_eq!(messages(&err), ["RuntimeError"]);
            assert_eq!(me().cancelling(), 0);
            sleep(ms(10)).await.expect("no cancellation is left over");
            "finished"
        });
        assert_eq!(runner.await.unwrap(), "finished");
    });
}

// mirrors test_taskgroups.py::test_nested_groups_both_cancelled (the entry
// value is kept when the parent entered with a cancel outstanding)
#[test]
fn a_group_entered_with_a_cancel_outstanding_restores_that_count() {
    run(async {
        let runner = spawn(async {
            // A cancel that was delivered and is still counted.
            me().cancel();
            assert_eq!(yield_now().await, Err(Cancelled));
            assert_eq!(me().cancelling(), 1);
            let err = task_group(|tg| async move {
                tg.spawn(fail_after(ms(10), "RuntimeError"))?;
                sleep(secs(1)).await?;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
            assert_eq!(messages(&err), ["RuntimeError"]);
            assert_eq!(me().cancelling(), 1);
            me().uncancel();
            sleep(ms(10)).await
        });
        assert_eq!(runner.await.unwrap(), Ok(()));
    });
}

// ---------------------------------------------------------------------------
// TaskGroup::cancel and timeouts

// API: TaskGroup::cancel (no asyncio 3.13 counterpart; it does what a child
// raising a private "stop" exception does, without reporting an error)
#[test]
fn task_group_cancel_cancels_the_children_and_the_body_and_ends_cancelled() {
    run(async {
        let t0 = now();
        let cancelled = Rc::new(Cell::new(0));
        let body_saw = Rc::new(Cell::new(false));
        let (c, b) = (cancelled.clone(), body_saw.clone());
        let err = task_group(|tg| async move {
            for _ in 0..2 {
                tg.spawn(cancellable_sleeper(secs(10), ms(50), c.clone()))?;
            }
            let g = tg.clone();
            tg.spawn(async move {
                sleep(ms(100)).await?;
                g.cancel();
                Ok::<_, Error>(())
            })?;
            if let Err(e) = sleep(secs(10)).await {
                b.set(true);
                assert_eq!(
                    tg.spawn(after(ms(1), ())).map(drop),
                    Err(GroupClosed::Aborting)
                );
                return Err(e.into());
            }
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        assert!(body_saw.get());
        assert_eq!(cancelled.get(), 2);
        assert_eq!(since(t0), ms(150), "after the children's clean-up");
        assert_eq!(me().cancelling(), 0, "the group took its own cancel back");
        yield_now().await.expect("no cancellation is left over");
    });
}

// asyncio-semantics §1.4/§1.10: wait_for is a timeout scope; at the
// deadline the group's exit cancels the children and waits for their
// clean-up, then the timeout is reported (verified on 3.13: 1.5 s)
#[test]
fn a_group_inside_wait_for_finishes_the_children_clean_up_before_the_timeout_is_reported() {
    run(async {
        let t0 = now();
        let cancelled = Rc::new(Cell::new(0));
        let c = cancelled.clone();
        let r = wait_for(
            task_group(|tg| async move {
                tg.spawn(cancellable_sleeper(secs(10), ms(500), c))?;
                Ok::<_, GroupClosed>(())
            }),
            secs(1),
        )
        .await;
        let e = r.unwrap_err();
        assert!(e.is_elapsed(), "{e:?}");
        assert_eq!(cancelled.get(), 1);
        assert_eq!(since(t0), ms(1500));
        assert_eq!(me().cancelling(), 0);
        yield_now().await.expect("the timeout took its cancel back");
    });
}

// the same, with the body still awaiting at the deadline (verified on 3.13:
// 1.5 s as well)
#[test]
fn a_group_whose_body_awaits_inside_wait_for_cancels_the_children_at_the_deadline() {
    run(async {
        let t0 = now();
        let cancelled = Rc::new(Cell::new(0));
        let c = cancelled.clone();
        let r = wait_for(
            task_group(|tg| async move {
                tg.spawn(cancellable_sleeper(secs(10), ms(500), c))?;
                sleep(secs(10)).await?;
                Ok::<_, Error>(())
            }),
            secs(1),
        )
        .await;
        assert!(r.unwrap_err().is_elapsed());
        assert_eq!(cancelled.get(), 1);
        assert_eq!(since(t0), ms(1500));
    });
}

// asyncio-semantics §1.10 __aexit__ step 2: with no child, the exit waits
// for nothing (test_taskgroup_17's group, without the cancel)
#[test]
fn a_group_with_no_children_returns_the_body_value_at_once() {
    run(async {
        let t0 = now();
        let v = task_group(|tg| async move {
            yield_n(2).await;
            assert!(tg.is_empty());
            Ok::<_, GroupClosed>(5)
        })
        .await
        .unwrap();
        assert_eq!(v, 5);
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// No asyncio counterpart (an `async with` block cannot be abandoned): a group
// scope dropped before it finished, here by `cleanup_grace` cutting short a
// body that ignores its cancellation, cancels its children (nobody can wait
// for them any more) and leaves the parent's counter as it found it.
#[test]
fn a_group_scope_dropped_before_it_finished_cancels_its_children() {
    run(async {
        let child: Rc<RefCell<Option<TaskRef>>> = Rc::default();
        let c = child.clone();
        let scope = task_group(|tg| async move {
            let t = tg.spawn(async {
                sleep(secs(3600)).await?;
                Ok::<_, Cancelled>(())
            })?;
            *c.borrow_mut() = Some(t.as_task_ref().clone());
            loop {
                // Ignores every cancellation: only a hard bound stops it.
                let _ = sleep(secs(10)).await;
            }
            #[allow(unreachable_code)]
            Ok::<_, GroupClosed>(())
        });
        let t0 = now();
        let err = wait_for(scope, secs(1))
            .cleanup_grace(secs(2))
            .await
            .unwrap_err();
        assert!(
            err.is_elapsed() && matches!(err, taskloop::TimeoutError::Elapsed(e) if e.cut_short())
        );
        assert_eq!(since(t0), secs(3));
        let child = child.borrow().clone().unwrap();
        while !child.is_done() {
            yield_now().await.unwrap();
        }
        assert!(child.is_cancelled());
        assert_eq!(current_task().unwrap().cancelling(), 0);
        assert_eq!(yield_now().await, Ok(()), "no cancellation is left over");
    });
}
