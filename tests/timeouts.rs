//! Timeout scopes (`timeout`, `timeout_at`, `TimeoutHandle`): asyncio's
//! `asyncio.timeout` / `timeout_at` / `Timeout`, ported from
//! `Lib/test/test_asyncio/test_timeouts.py` (asyncio-semantics §1.9).
//!
//! Every test runs on the virtual clock, so durations are exact. Mapping of
//! asyncio idioms: a body that "swallows" `CancelledError` calls
//! `current_task().unwrap().uncancel()` after seeing `Err(Cancelled)`; one
//! that "raises" it returns after a checkpoint returned `Err(Cancelled)`;
//! `cm` (the context manager object) is a [`TimeoutHandle`].

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn, ready};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use taskloop::time::{now, sleep};
use taskloop::{
    Cancelled, Runtime, TimeoutError, TimeoutHandle, TimeoutStateError, checkpoint, spawn, timeout,
    timeout_at, yield_now,
};
use util::{Either, capture_waker, select2, yield_n};
use util::{me, ms, run, secs, since};

// ---------------------------------------------------------------------------
// Helpers

/// What a scope gave, without its value: `Ok(())`, `Err("elapsed")` or
/// `Err("cancelled")`.
fn outcome<T>(r: &Result<T, TimeoutError>) -> Result<(), &'static str> {
    match r {
        Ok(_) => Ok(()),
        Err(TimeoutError::Elapsed(_)) => Err("elapsed"),
        Err(TimeoutError::Cancelled(_)) => Err("cancelled"),
        Err(e) => panic!("an error this suite does not know: {e}"),
    }
}

const ELAPSED: Result<(), &str> = Err("elapsed");
const CANCELLED: Result<(), &str> = Err("cancelled");

/// A shared slot tests use to see what a task observed before it ended
/// (a task that ends cancelled drops its return value).
type Seen<T> = Rc<RefCell<Option<T>>>;

fn seen<T>() -> Seen<T> {
    Rc::new(RefCell::new(None))
}

// ---------------------------------------------------------------------------
// Basics: expiry, when(), expired()

// mirrors test_timeouts.py::test_timeout_basic
#[test]
fn a_scope_whose_body_outlives_the_delay_times_out_and_is_expired() {
    run(async {
        let t0 = now();
        let mut scope = timeout(ms(10), sleep(secs(10)));
        let cm = scope.handle();
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert!(cm.expired());
        assert_eq!(since(t0), ms(10));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_timeout_at_basic
#[test]
fn timeout_at_expires_at_its_absolute_deadline_and_when_reports_it() {
    run(async {
        let deadline = now() + ms(10);
        let mut scope = timeout_at(deadline, sleep(secs(10)));
        let cm = scope.handle();
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(deadline));
        assert_eq!(now(), deadline);
    });
}

// mirrors test_timeouts.py::test_timeout_not_called
#[test]
fn a_scope_whose_body_finishes_in_time_is_not_expired_and_its_deadline_is_still_ahead() {
    run(async {
        let t0 = now();
        let mut scope = timeout(secs(10), sleep(ms(10)));
        let cm = scope.handle();
        assert_eq!(cm.when(), None, "not entered yet");
        assert_eq!(scope.await, Ok(Ok(())));
        assert!(!cm.expired());
        assert_eq!(cm.when(), Some(t0 + secs(10)));
        assert!(cm.when().unwrap() > now());
        // The scope's timer is gone: nothing wakes us at the old deadline.
        sleep(secs(20)).await.unwrap();
        assert_eq!(since(t0), ms(20_010));
    });
}

// mirrors test_timeouts.py::test_timeout_disabled and test_timeout_at_disabled
#[test]
fn a_scope_without_a_deadline_has_no_when_and_never_expires() {
    run(async {
        let t0 = now();
        let mut relative = timeout(None::<Duration>, sleep(secs(3600)));
        let cm = relative.handle();
        assert_eq!(relative.await, Ok(Ok(())));
        assert!(!cm.expired());
        assert_eq!(cm.when(), None);

        let mut absolute = timeout_at(None::<Instant>, sleep(secs(3600)));
        let cm = absolute.handle();
        assert_eq!(absolute.await, Ok(Ok(())));
        assert!(!cm.expired());
        assert_eq!(cm.when(), None);
        assert_eq!(since(t0), secs(7200));
    });
}

// mirrors test_timeouts.py::test_timeout_zero and test_timeout_zero_sleep_zero
#[test]
fn a_zero_delay_expires_at_once_even_around_a_zero_sleep() {
    run(async {
        let t0 = now();
        let mut long = timeout(Duration::ZERO, sleep(secs(10)));
        let cm = long.handle();
        assert_eq!(outcome(&long.await), ELAPSED);
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(t0));

        let mut zero = timeout(Duration::ZERO, sleep(Duration::ZERO));
        let cm = zero.handle();
        assert_eq!(outcome(&zero.await), ELAPSED);
        assert!(cm.expired());
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_timeouts.py::test_timeout_in_the_past_sleep_zero
#[test]
fn a_deadline_already_past_at_entry_expires_a_pending_body_at_once() {
    run(async {
        let past = now();
        sleep(secs(5)).await.unwrap();
        let t1 = now();
        for body_sleeps in [Duration::ZERO, secs(10)] {
            let mut scope = timeout_at(past, sleep(body_sleeps));
            let cm = scope.handle();
            assert_eq!(outcome(&scope.await), ELAPSED);
            assert!(cm.expired());
            assert_eq!(cm.when(), Some(past));
        }
        assert_eq!(now(), t1, "no time passed");
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_foreign_exception_passed (the body leaves
// before it ever suspends, so the scope never expires, even with a deadline
// in the past: asyncio-semantics §1.9, verified)
#[test]
fn a_body_that_completes_without_suspending_never_times_out_even_past_its_deadline() {
    run(async {
        let past = now();
        sleep(secs(1)).await.unwrap();
        let mut scope = timeout_at(past, async {
            checkpoint().await?; // a checkpoint that does not suspend
            Ok::<_, Cancelled>(7)
        });
        let cm = scope.handle();
        let mut scope = pin!(scope);
        let first = poll_fn(|cx| Poll::Ready(scope.as_mut().poll(cx))).await;
        assert_eq!(first, Poll::Ready(Ok(Ok(7))));
        assert!(!cm.expired());

        let mut scope = timeout(Duration::ZERO, ready("now"));
        let cm = scope.handle();
        assert_eq!(scope.await, Ok("now"));
        assert!(!cm.expired());
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_waiter_cancelled
#[test]
fn the_body_sees_cancelled_at_its_checkpoint_when_the_scope_expires() {
    run(async {
        let cancelled = Cell::new(false);
        let scope = timeout(ms(10), async {
            let r = sleep(secs(10)).await;
            cancelled.set(r == Err(Cancelled));
            r
        });
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert!(cancelled.get());
    });
}

// mirrors test_timeouts.py::test_outer_task_is_not_cancelled
#[test]
fn a_task_whose_scope_timed_out_is_not_cancelled() {
    run(async {
        let outer = spawn(async {
            let r = timeout(ms(1), sleep(secs(10))).await;
            assert_eq!(outcome(&r), ELAPSED);
            "finished"
        });
        let outer_ref = outer.as_task_ref().clone();
        assert_eq!(outer.await.unwrap(), "finished");
        assert!(outer_ref.is_done());
        assert!(!outer_ref.is_cancelled());
        assert_eq!(outer_ref.cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_foreign_exception_on_timeout (the clean-up
// replaces the cancellation with an error of its own; in Rust that is
// "suppress with uncancel, then return the error") ; regression: bpo-40607
#[test]
fn a_clean_up_that_replaces_the_cancellation_with_its_own_error_returns_that_error() {
    run(async {
        let crash = async {
            if sleep(secs(1)).await.is_err() {
                me().uncancel();
                return Err("division by zero");
            }
            Ok(())
        };
        let mut scope = timeout(ms(10), crash);
        let cm = scope.handle();
        assert_eq!(scope.await, Ok(Err("division by zero")));
        assert!(cm.expired());
        assert_eq!(me().cancelling(), 0);
        assert_eq!(checkpoint().await, Ok(()));
    });
}

// mirrors test_timeouts.py::test_timeout_exception_cause (asyncio chains the
// CancelledError as `__cause__`; taskloop has no chain, but the errors map
// onto io errors: a timeout is `TimedOut`, a cancellation stays recognisable)
#[test]
fn timeout_errors_convert_into_io_errors_that_keep_their_meaning() {
    fn with_question_mark(r: Result<(), TimeoutError>) -> std::io::Result<()> {
        r?;
        Ok(())
    }
    let timed_out = run(async { timeout(Duration::ZERO, sleep(secs(1))).await.map(drop) });
    let e = with_question_mark(timed_out).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(!taskloop::is_cancelled(&e));
    let c = with_question_mark(Err(TimeoutError::Cancelled(Cancelled))).unwrap_err();
    assert!(taskloop::is_cancelled(&c));
}

// ---------------------------------------------------------------------------
// Nesting

// mirrors asyncio-semantics §1.9 "inner deadline earlier than outer: the
// outer carries on unaffected" (test_timeouts.py::test_nested_timeouts_loop_busy,
// first half)
#[test]
fn nested_scopes_with_the_inner_deadline_earlier_time_out_only_the_inner() {
    run(async {
        let t0 = now();
        let mut outer = timeout(secs(10), async {
            let mut inner = timeout(secs(1), sleep(secs(5)));
            let inner_cm = inner.handle();
            let r = inner.await;
            assert_eq!(outcome(&r), ELAPSED);
            assert!(inner_cm.expired());
            assert_eq!(me().cancelling(), 0);
            sleep(secs(1)).await.unwrap();
            "outer body finished"
        });
        let outer_cm = outer.handle();
        assert_eq!(outer.await, Ok("outer body finished"));
        assert!(!outer_cm.expired());
        assert_eq!(since(t0), secs(2));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_nested_timeouts_loop_busy (without the busy
// loop: the inner times out, then the outer interrupts the next sleep)
#[test]
fn after_an_inner_timeout_the_outer_scope_still_interrupts_a_later_sleep() {
    run(async {
        let t0 = now();
        let mut outer = timeout(ms(100), async {
            let r = timeout(ms(10), sleep(secs(1))).await;
            assert_eq!(outcome(&r), ELAPSED);
            sleep(secs(10)).await // interrupted by the outer scope
        });
        let outer_cm = outer.handle();
        assert_eq!(outcome(&outer.await), ELAPSED);
        assert!(outer_cm.expired());
        assert_eq!(since(t0), ms(100));
    });
}

// mirrors test_timeouts.py::test_nested_timeouts_concurrent
#[test]
fn when_only_the_outer_deadline_passes_the_inner_scope_lets_the_cancellation_through() {
    run(async {
        let t0 = now();
        let inner_saw = Cell::new(None);
        let inner_cm: RefCell<Option<TimeoutHandle>> = RefCell::new(None);
        let mut outer = timeout(secs(1), async {
            let mut inner = timeout(secs(10), sleep(secs(60)));
            *inner_cm.borrow_mut() = Some(inner.handle());
            let r = inner.await;
            inner_saw.set(Some(outcome(&r)));
            r
        });
        let outer_cm = outer.handle();
        assert_eq!(outcome(&outer.await), ELAPSED);
        assert_eq!(inner_saw.get(), Some(CANCELLED));
        assert!(outer_cm.expired());
        assert!(!inner_cm.borrow().as_ref().unwrap().expired());
        assert_eq!(since(t0), secs(1));
        assert_eq!(me().cancelling(), 0);
        assert_eq!(checkpoint().await, Ok(()));
    });
}

// regression: bpo-46771 (timeouts rest on the cancel counter: nested scopes)
// mirrors test_timeouts.py::test_nested_timeouts
#[test]
fn nested_scopes_with_the_same_deadline_the_inner_lets_it_through_and_the_outer_times_out() {
    run(async {
        let deadline = now() + ms(10);
        let cancelled = Cell::new(false);
        let inner_cm: RefCell<Option<TimeoutHandle>> = RefCell::new(None);
        let mut outer = timeout_at(deadline, async {
            let mut inner = timeout_at(deadline, sleep(secs(10)));
            *inner_cm.borrow_mut() = Some(inner.handle());
            let r = inner.await;
            // "Only the topmost context manager should raise TimeoutError"
            cancelled.set(outcome(&r) == CANCELLED);
            r
        });
        let outer_cm = outer.handle();
        assert_eq!(outcome(&outer.await), ELAPSED);
        assert!(cancelled.get());
        assert!(outer_cm.expired());
        assert!(inner_cm.borrow().as_ref().unwrap().expired());
        assert_eq!(now(), deadline);
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_nested_timeouts_concurrent (the outer
// deadline passes while the inner scope is still cleaning up after its own
// expiry; verified on 3.13: inner CancelledError at 0.3, outer TimeoutError)
#[test]
fn an_outer_deadline_passing_during_an_inner_clean_up_interrupts_it_and_only_the_outer_times_out() {
    run(async {
        let t0 = now();
        let inner_saw = Cell::new(None);
        let inner_cm: RefCell<Option<TimeoutHandle>> = RefCell::new(None);
        let mut outer = timeout(ms(300), async {
            let mut inner = timeout(ms(100), async {
                let r = sleep(secs(10)).await;
                let cleanup = sleep(ms(500)).await; // `finally: await sleep(0.5)`
                (r, cleanup)
            });
            *inner_cm.borrow_mut() = Some(inner.handle());
            let r = inner.await;
            inner_saw.set(Some((outcome(&r), since(t0))));
            r
        });
        let outer_cm = outer.handle();
        assert_eq!(outcome(&outer.await), ELAPSED);
        assert_eq!(inner_saw.get(), Some((CANCELLED, ms(300))));
        assert!(inner_cm.borrow().as_ref().unwrap().expired());
        assert!(outer_cm.expired());
        assert_eq!(since(t0), ms(300));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_nested_timeout_in_finally
#[test]
fn a_scope_in_the_clean_up_of_an_expiring_scope_times_out_on_its_own() {
    run(async {
        let t0 = now();
        let inner_saw = Cell::new(None);
        let outer = timeout(ms(10), async {
            let r = sleep(secs(1)).await;
            // `finally:` with its own timeout
            let inner = timeout(ms(10), sleep(secs(10))).await;
            inner_saw.set(Some((outcome(&inner), since(t0))));
            r
        });
        assert_eq!(outcome(&outer.await), ELAPSED);
        assert_eq!(inner_saw.get(), Some((ELAPSED, ms(20))));
        assert_eq!(since(t0), ms(20));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_timeouts.py::test_foreign_cancel_doesnt_timeout_if_not_expired
#[test]
fn a_foreign_cancel_passes_through_every_scope_unconverted() {
    run(async {
        let t0 = now();
        let saw = seen();
        let cms: Rc<RefCell<Vec<TimeoutHandle>>> = Rc::default();
        let (s, c) = (saw.clone(), cms.clone());
        let task = spawn(async move {
            let mut outer = timeout(secs(10), async {
                let mut inner = timeout(secs(5), async {
                    me().cancel();
                    sleep(secs(10)).await
                });
                c.borrow_mut().push(inner.handle());
                let r = inner.await;
                let inner_outcome = outcome(&r);
                (r, inner_outcome)
            });
            c.borrow_mut().push(outer.handle());
            let r = outer.await;
            *s.borrow_mut() = Some((outcome(&r), r.ok().map(|(_, inner)| inner)));
        });
        let task_ref = task.as_task_ref().clone();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(*saw.borrow(), Some((CANCELLED, None)));
        assert!(cms.borrow().iter().all(|cm| !cm.expired()));
        assert!(task_ref.is_cancelled());
        assert_eq!(task_ref.cancelling(), 1);
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// ---------------------------------------------------------------------------
// Cancellation pending or seen before entry

// mirrors test_timeouts.py::test_timeout_after_cancellation
#[test]
fn a_scope_entered_after_an_uncaught_earlier_cancellation_still_converts_its_own_expiry() {
    run(async {
        let saw = seen();
        let s = saw.clone();
        let task = spawn(async move {
            me().cancel();
            let work = sleep(secs(1)).await; // work which will be cancelled
            assert_eq!(work, Err(Cancelled)); // `except CancelledError: pass`
            let mut cleanup = timeout(Duration::ZERO, sleep(secs(1)));
            let cm = cleanup.handle();
            let r = cleanup.await;
            *s.borrow_mut() = Some((outcome(&r), cm.expired(), me().cancelling()));
        });
        let task_ref = task.as_task_ref().clone();
        // It caught a cancellation without uncancel(): it ends cancelled.
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(*saw.borrow(), Some((ELAPSED, true, 1)));
        assert_eq!(task_ref.cancelling(), 1);
    });
}

// mirrors test_timeouts.py::test_cancel_in_timeout_after_cancellation
#[test]
fn a_fresh_cancel_inside_a_scope_entered_after_an_earlier_cancellation_propagates() {
    run(async {
        let t0 = now();
        let saw = seen();
        let s = saw.clone();
        let task = spawn(async move {
            me().cancel();
            assert_eq!(sleep(secs(1)).await, Err(Cancelled));
            let mut cleanup = timeout(secs(1), async {
                me().cancel();
                sleep(secs(2)).await // some cleanup
            });
            let cm = cleanup.handle();
            let r = cleanup.await;
            *s.borrow_mut() = Some((outcome(&r), cm.expired(), me().cancelling()));
        });
        let task_ref = task.as_task_ref().clone();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(*saw.borrow(), Some((CANCELLED, false, 2)));
        assert_eq!(task_ref.cancelling(), 2);
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_timeouts.py::test_foreign_cancel_doesnt_timeout_if_not_expired
// (the cancel is already pending when the scope is entered)
#[test]
fn a_cancel_pending_at_entry_is_delivered_inside_the_scope_and_is_not_a_timeout() {
    run(async {
        let saw = seen();
        let s = saw.clone();
        let task = spawn(async move {
            me().cancel();
            let mut scope = timeout(Duration::ZERO, sleep(secs(1)));
            let cm = scope.handle();
            let r = scope.await;
            *s.borrow_mut() = Some((outcome(&r), cm.expired(), me().cancelling()));
        });
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(*saw.borrow(), Some((CANCELLED, false, 1)));
    });
}

// ---------------------------------------------------------------------------
// reschedule

/// Spawns a task that runs `scope` and returns what it gave; yields until
/// the task has entered the scope.
async fn enter_in_task<F>(
    scope: taskloop::Timeout<F>,
) -> (taskloop::Task<Result<(), &'static str>>, Seen<Instant>)
where
    F: Future + 'static,
{
    let ended = seen();
    let e = ended.clone();
    let task = spawn(async move {
        let r = scope.await;
        *e.borrow_mut() = Some(now());
        outcome(&r)
    });
    yield_n(1).await;
    (task, ended)
}

// mirrors test_timeouts.py::test_reschedule (moved earlier from another task)
#[test]
fn reschedule_from_another_task_to_an_earlier_deadline_fires_then() {
    run(async {
        let t0 = now();
        let mut scope = timeout_at(t0 + secs(10), sleep(secs(50)));
        let cm = scope.handle();
        let (task, ended) = enter_in_task(scope).await;
        assert_eq!(cm.when(), Some(t0 + secs(10)));
        cm.reschedule(t0 + secs(2)).unwrap();
        assert_eq!(cm.when(), Some(t0 + secs(2)));
        assert_eq!(task.await.unwrap(), ELAPSED);
        assert_eq!(*ended.borrow(), Some(t0 + secs(2)));
        assert!(cm.expired());
    });
}

// mirrors test_timeouts.py::test_reschedule (moved later)
#[test]
fn reschedule_from_another_task_to_a_later_deadline_postpones_the_expiry() {
    run(async {
        let t0 = now();
        let deadline1 = t0 + secs(10);
        let deadline2 = deadline1 + secs(20);
        let mut scope = timeout_at(deadline1, sleep(secs(50)));
        let cm = scope.handle();
        let (task, ended) = enter_in_task(scope).await;
        cm.reschedule(deadline2).unwrap();
        assert_eq!(cm.when(), Some(deadline2));
        sleep(secs(15)).await.unwrap();
        assert!(!task.is_done(), "the old deadline no longer fires");
        assert!(!cm.expired());
        assert_eq!(task.await.unwrap(), ELAPSED);
        assert_eq!(*ended.borrow(), Some(deadline2));
    });
}

// mirrors test_timeouts.py::test_reschedule (`reschedule(None)`, then the
// task is cancelled: CancelledError and not expired)
#[test]
fn reschedule_to_none_disables_the_deadline() {
    run(async {
        let t0 = now();
        let mut scope = timeout_at(t0 + secs(10), sleep(secs(50)));
        let cm = scope.handle();
        let (task, _) = enter_in_task(scope).await;
        cm.reschedule(t0 + secs(30)).unwrap();
        cm.reschedule(None).unwrap();
        assert_eq!(cm.when(), None);
        sleep(secs(40)).await.unwrap();
        assert!(!task.is_done());
        task.cancel();
        let task_ref = task.as_task_ref().clone();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(task_ref.is_cancelled());
        assert!(!cm.expired());

        // Without the cancel, the body runs to completion.
        let mut scope = timeout_at(now() + secs(10), sleep(secs(50)));
        let cm = scope.handle();
        let t1 = now();
        let (task, ended) = enter_in_task(scope).await;
        cm.reschedule(None).unwrap();
        assert_eq!(task.await.unwrap(), Ok(()));
        assert_eq!(*ended.borrow(), Some(t1 + secs(50)));
        assert!(!cm.expired());
    });
}

// mirrors asyncio-semantics §1.9 "a deadline in the past fires at the next
// iteration" (reschedule); test_timeouts.py::test_reschedule
#[test]
fn reschedule_to_a_deadline_in_the_past_fires_at_once() {
    run(async {
        let t0 = now();
        let mut scope = timeout_at(t0 + secs(10), sleep(secs(50)));
        let cm = scope.handle();
        let (task, ended) = enter_in_task(scope).await;
        sleep(secs(1)).await.unwrap();
        cm.reschedule(t0).unwrap();
        assert_eq!(task.await.unwrap(), ELAPSED);
        assert_eq!(*ended.borrow(), Some(t0 + secs(1)));
        assert!(cm.expired());
    });
}

// mirrors test_timeouts.py::test_reschedule (from inside the scope itself)
#[test]
fn reschedule_from_inside_the_body_moves_its_own_deadline() {
    run(async {
        let t0 = now();
        let slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
        let s = slot.clone();
        let mut scope = timeout(secs(10), async move {
            let cm = s.borrow().clone().unwrap();
            sleep(secs(1)).await.unwrap();
            cm.reschedule(now() + secs(2)).unwrap();
            sleep(secs(50)).await
        });
        *slot.borrow_mut() = Some(scope.handle());
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert_eq!(since(t0), secs(3));
    });
}

// mirrors test_timeouts.py::test_reschedule (the body reschedules its own
// scope before its first suspension: asyncio's `reschedule` works as soon as
// the scope is entered)
#[test]
fn reschedule_from_inside_the_body_before_its_first_suspension_is_kept() {
    run(async {
        let t0 = now();
        let slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
        let s = slot.clone();
        let mut scope = timeout(secs(10), async move {
            let cm = s.borrow().clone().unwrap();
            cm.reschedule(now() + secs(1)).unwrap();
            assert_eq!(cm.when(), Some(now() + secs(1)));
            sleep(secs(50)).await
        });
        let cm = scope.handle();
        *slot.borrow_mut() = Some(cm.clone());
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert_eq!(cm.when(), Some(t0 + secs(1)));
        assert_eq!(since(t0), secs(1));
    });
}

// mirrors test_timeouts.py::test_timeout_not_entered
#[test]
fn reschedule_before_the_scope_is_entered_is_refused() {
    run(async {
        let mut scope = timeout(ms(10), sleep(secs(1)));
        let cm = scope.handle();
        assert_eq!(
            cm.reschedule(now() + ms(20)),
            Err(TimeoutStateError::NotEntered)
        );
        assert_eq!(cm.when(), None);
        assert!(!cm.expired());
        // Refusing changed nothing: the scope still times out after 10 ms.
        let t0 = now();
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert_eq!(since(t0), ms(10));
    });
}

// mirrors test_timeouts.py::test_timeout_finished; regression: gh-111085
#[test]
fn reschedule_after_the_scope_finished_or_expired_is_refused() {
    run(async {
        let mut finished = timeout(ms(10), ready(()));
        let cm = finished.handle();
        finished.await.unwrap();
        assert_eq!(
            cm.reschedule(now() + ms(20)),
            Err(TimeoutStateError::Finished)
        );
        assert_eq!(cm.reschedule(None), Err(TimeoutStateError::Finished));

        let mut expired = timeout(ms(10), sleep(secs(1)));
        let cm = expired.handle();
        assert_eq!(outcome(&expired.await), ELAPSED);
        assert_eq!(
            cm.reschedule(now() + ms(20)),
            Err(TimeoutStateError::Expired)
        );
        assert!(cm.expired());
    });
}

// mirrors asyncio timeouts.py's "Cannot change state of expiring Timeout"
// (no CPython test); regression: gh-111085
#[test]
fn reschedule_during_the_clean_up_after_expiry_is_refused() {
    run(async {
        let t0 = now();
        let mut scope = timeout(secs(1), async {
            let r = sleep(secs(10)).await;
            sleep(secs(1)).await.unwrap(); // clean-up
            r
        });
        let cm = scope.handle();
        let (task, ended) = enter_in_task(scope).await;
        sleep(ms(1500)).await.unwrap();
        assert!(cm.expired());
        assert_eq!(
            cm.reschedule(now() + secs(100)),
            Err(TimeoutStateError::Expiring)
        );
        assert_eq!(cm.reschedule(None), Err(TimeoutStateError::Expiring));
        assert_eq!(task.await.unwrap(), ELAPSED);
        assert_eq!(*ended.borrow(), Some(t0 + secs(2)));
    });
}

// mirrors test_timeouts.py::test_timeout_without_task
#[test]
fn a_scope_polled_outside_a_task_panics_and_stays_not_entered() {
    // A runtime exists (the timer needs one) but nothing runs as a task.
    let rt = Runtime::builder().virtual_time(true).build().unwrap();
    let mut scope = Box::pin(timeout(ms(10), pending::<()>()));
    let cm = scope.handle();
    let mut cx = Context::from_waker(Waker::noop());
    let polled = catch_unwind(AssertUnwindSafe(|| scope.as_mut().poll(&mut cx)));
    let payload = polled.expect_err("polling outside a task must panic");
    let msg = util::panic_message(&*payload).unwrap_or_default();
    assert!(msg.contains("outside a taskloop task"), "{msg}");
    assert_eq!(
        cm.reschedule(Instant::now()),
        Err(TimeoutStateError::NotEntered)
    );
    drop(scope);
    drop(rt);
}

// mirrors test_timeouts.py::test_timeout_double_enter (Rust: a scope is
// consumed by `.await`; polling a finished one again is a bug and panics)
#[test]
#[should_panic(expected = "polled after completion")]
fn a_scope_polled_again_after_it_finished_panics() {
    run(async {
        let mut scope = pin!(timeout(ms(10), ready(1)));
        assert_eq!(scope.as_mut().await, Ok(1));
        let _ = poll_fn(|cx| Poll::Ready(scope.as_mut().poll(cx))).await;
    });
}

// ---------------------------------------------------------------------------
// Documented Rust differences

// mirrors test_timeouts.py::test_timeout_not_called (taskloop difference:
// `timeout(delay)` counts from the first poll, asyncio from the call)
#[test]
fn a_relative_deadline_counts_from_the_first_poll_not_from_creation() {
    run(async {
        let t0 = now();
        let mut scope = timeout(secs(2), sleep(secs(10)));
        let cm = scope.handle();
        sleep(secs(5)).await.unwrap();
        assert_eq!(cm.when(), None);
        assert_eq!(outcome(&scope.await), ELAPSED);
        assert_eq!(since(t0), secs(7));
        assert_eq!(cm.when(), Some(t0 + secs(7)));
    });
}

// ---------------------------------------------------------------------------
// Dropping or moving a scope (no asyncio equivalent: an `async with` block
// cannot be abandoned half-way or moved to another task; a Rust future can)

// regression: gh-95289 (a primitive that cancelled its task and never called
// uncancel() left cancelling() raised for good; here the dropped scope's own
// request also stays pending and cancels the task at its next checkpoint)
#[test]
fn a_scope_dropped_after_its_deadline_fired_withdraws_its_cancellation_request() {
    run(async {
        let waker: Rc<Cell<Option<Waker>>> = Rc::default();
        let flag = Rc::new(Cell::new(false));
        let cm_slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
        let (w, f, c) = (waker.clone(), flag.clone(), cm_slot.clone());
        let task = spawn(async move {
            // The inner future sees the cancellation at the deadline and
            // cleans up for a while: the scope is expiring when dropped.
            let mut scope = timeout(secs(1), async {
                assert!(sleep(secs(10)).await.is_err());
                let _ = sleep(secs(5)).await;
            });
            *c.borrow_mut() = Some(scope.handle());
            // The other branch is polled first and is not a checkpoint.
            let r = select2(capture_waker(w, f), scope).await;
            assert!(matches!(r, Either::Left(())), "the other branch won");
            (me().cancelling(), yield_now().await)
        });
        yield_n(1).await; // the task armed its scope (its timer goes first)
        sleep(secs(1)).await.unwrap();
        let cm = cm_slot.borrow().clone().unwrap();
        assert!(cm.expired(), "the scope's deadline fired first");
        flag.set(true);
        waker.take().unwrap().wake();
        let task_ref = task.as_task_ref().clone();
        let out = task.await;
        assert!(
            !task_ref.is_cancelled(),
            "nobody cancelled the task (cancelling = {})",
            task_ref.cancelling()
        );
        assert_eq!(out.unwrap(), (0, Ok(())));
    });
}

// mirrors test_timeouts.py::test_timeout_after_cancellation (a task that saw
// Cancelled without uncancel() ends cancelled, even if a scope it entered
// later was dropped before it finished)
#[test]
fn a_scope_dropped_before_it_finished_keeps_the_tasks_earlier_delivered_cancellation() {
    run(async {
        let task = spawn(async {
            me().cancel();
            assert_eq!(checkpoint().await, Err(Cancelled)); // caught, not uncancelled
            let r = select2(timeout(secs(10), sleep(secs(10))), ready(())).await;
            assert!(matches!(r, Either::Right(())));
            "value"
        });
        let task_ref = task.as_task_ref().clone();
        let out = task.await;
        assert!(
            task_ref.is_cancelled(),
            "it saw Cancelled and did not uncancel: {out:?}"
        );
    });
}

// mirrors test_timeouts.py::test_timeout_without_task; regression: gh-111085
// (a Timeout used from the wrong place must fail loudly, not act on stale
// state). Rust-only shape: a scope is `Unpin` when its body is, so it can be
// polled by one task and finished by another; it must then time out the
// task that polls it, or refuse loudly, not keep acting on the first task.
#[test]
fn a_scope_entered_in_one_task_and_finished_in_another_does_not_act_on_the_first() {
    let result = catch_unwind(|| {
        run(async {
            let t0 = now();
            let scope = timeout(secs(1), sleep(secs(10)));
            let first = spawn(async move {
                let mut scope = scope;
                assert!(
                    poll_fn(|cx| Poll::Ready(Pin::new(&mut scope).poll(cx)))
                        .await
                        .is_pending()
                );
                Some(scope) // handed back to the main task, entered
            });
            // Keep the first task's allocation alive: no use-after-free here.
            let first_ref = first.as_task_ref().clone();
            let scope = first.await.unwrap().unwrap();
            assert!(first_ref.is_done());
            let r = scope.await;
            (outcome(&r), since(t0))
        })
    });
    if let Ok(got) = result {
        assert_eq!(got, (ELAPSED, secs(1)), "must time out the polling task");
    }
}
