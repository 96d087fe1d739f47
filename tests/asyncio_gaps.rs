//! Issue 10: asyncio 3.13 behaviours that taskloop used to get wrong, each
//! checked against CPython 3.13 (the scripts' outcomes are quoted).

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use taskloop::time::{now, sleep};
use taskloop::{Cancelled, TimeoutError, TimeoutHandle, spawn, timeout, yield_now};
use util::{run, secs};

// asyncio: f = create_task(..); t awaits f; in one turn f.cancel(); t.cancel()
// -> "f cancelled True t cancelled True 1"
#[test]
fn a_cancel_of_a_task_whose_awaited_task_was_cancelled_first_is_not_lost() {
    run(async {
        let f = spawn(async { sleep(secs(10)).await });
        let f_ref = f.as_task_ref().clone();
        let t = spawn(async move { f.await.map_err(|_| Cancelled) });
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        assert!(f_ref.cancel());
        assert!(t.cancel());
        let t_ref = t.as_task_ref().clone();
        assert!(t.await.unwrap_err().is_cancelled());
        assert!(f_ref.is_cancelled());
        assert!(t_ref.is_cancelled(), "t's own request was delivered");
        assert_eq!(t_ref.cancelling(), 1);
    });
}

// The other order (t.cancel() first, forwarded to f) already ended both
// cancelled; it still does.
#[test]
fn a_cancel_forwarded_to_the_awaited_task_ends_both_cancelled() {
    run(async {
        let f = spawn(async { sleep(secs(10)).await });
        let f_ref = f.as_task_ref().clone();
        let t = spawn(async move { f.await.map_err(|_| Cancelled) });
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        assert!(t.cancel());
        assert!(f_ref.cancel());
        let t_ref = t.as_task_ref().clone();
        assert!(t.await.unwrap_err().is_cancelled());
        assert!(f_ref.is_cancelled() && t_ref.is_cancelled());
    });
}

// asyncio: inner.reschedule(past); outer.reschedule(past); await sleep(1)
// -> [('inner', 'CancelledError'), ('outer', 'TimeoutError', True, True)]
#[test]
fn nested_scopes_rescheduled_into_the_past_together_cancel_through_the_inner_and_time_out_the_outer()
 {
    run(async {
        let outer_slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
        let slot = outer_slot.clone();
        let mut outer = timeout(secs(10), async move {
            let mut inner = timeout(secs(10), async move {
                sleep(Duration::from_millis(1)).await.unwrap(); // both scopes entered
                let past = now() - Duration::from_millis(1);
                let (inner, outer) = INNER
                    .with(|i| i.borrow_mut().take())
                    .zip(slot.borrow_mut().take())
                    .unwrap();
                inner.reschedule(past).unwrap();
                outer.reschedule(past).unwrap();
                sleep(secs(1)).await
            });
            let ih = inner.handle();
            INNER.with(|i| *i.borrow_mut() = Some(ih.clone()));
            (inner.await, ih.expired())
        });
        let oh = outer.handle();
        *outer_slot.borrow_mut() = Some(oh.clone());
        let r = outer.await;
        assert!(
            matches!(r, Err(TimeoutError::Elapsed(_))),
            "the outer times out: {r:?}"
        );
        assert!(oh.expired());
        assert_eq!(taskloop::current_task().unwrap().cancelling(), 0);
        assert_eq!(taskloop::checkpoint().await, Ok(()));
    });
}

// The inner's own view: it lets the cancellation through (the outer's
// request is outstanding too) and reports expired().
#[test]
fn the_inner_of_nested_scopes_rescheduled_together_reports_cancelled_and_expired() {
    run(async {
        let outer_slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
        let seen: Rc<RefCell<Option<(bool, bool)>>> = Rc::default();
        let (slot, s) = (outer_slot.clone(), seen.clone());
        let mut outer = timeout(secs(10), async move {
            let mut inner = timeout(secs(10), async move {
                sleep(Duration::from_millis(1)).await.unwrap();
                let past = now() - Duration::from_millis(1);
                let inner = INNER.with(|i| i.borrow_mut().take()).unwrap();
                inner.reschedule(past).unwrap();
                slot.borrow_mut().take().unwrap().reschedule(past).unwrap();
                sleep(secs(1)).await
            });
            let ih = inner.handle();
            INNER.with(|i| *i.borrow_mut() = Some(ih.clone()));
            let r = inner.await;
            *s.borrow_mut() = Some((matches!(r, Err(TimeoutError::Cancelled(_))), ih.expired()));
        });
        *outer_slot.borrow_mut() = Some(outer.handle());
        let _ = outer.await;
        assert_eq!(*seen.borrow(), Some((true, true)));
    });
}

thread_local! {
    static INNER: RefCell<Option<TimeoutHandle>> = const { RefCell::new(None) };
}

// mirrors test_tasks.py::test_gather (one_exception): gather raises the
// first exception as soon as it happens; the siblings run on.
#[test]
fn try_gather_fails_at_the_first_err_with_its_typed_error_and_leaves_the_siblings_running() {
    run(async {
        let t0 = now();
        let slow = spawn(async {
            sleep(secs(3)).await.map_err(|_| "cancelled")?;
            Ok::<_, &str>(3)
        });
        let slow_ref = slow.as_task_ref().clone();
        let bad = spawn(async {
            sleep(secs(1)).await.map_err(|_| "cancelled")?;
            Err::<i32, _>("ZeroDivisionError")
        });
        let err = taskloop::try_gather([slow, bad]).await.unwrap_err();
        assert!(
            matches!(err, taskloop::GatherError::Failed("ZeroDivisionError")),
            "{err:?}"
        );
        assert_eq!(
            now() - t0,
            secs(1),
            "at the first failure, not after every child"
        );
        assert!(!slow_ref.is_done(), "the sibling runs on");
        sleep(secs(2)).await.unwrap();
        assert!(slow_ref.is_done() && !slow_ref.is_cancelled());
    });
}

#[test]
fn try_gather_returns_the_values_in_argument_order_when_none_fails() {
    run(async {
        let tasks = [3u64, 1, 2].map(|s| {
            spawn(async move {
                sleep(secs(s)).await.map_err(|_| "cancelled")?;
                Ok::<_, &str>(s)
            })
        });
        assert_eq!(taskloop::try_gather(tasks).await.unwrap(), [3, 1, 2]);
    });
}

// asyncio: an outside cancel reaches a timeout scope whose body swallows it
// and returns a value -> "outside cancel swallowed: value 1". In Rust the
// body says "handled" with uncancel(); the scope then keeps the value.
#[test]
fn a_timeout_body_that_handles_an_outside_cancel_keeps_its_value() {
    run(async {
        let scoped = spawn(async {
            timeout(secs(5), async {
                if sleep(secs(10)).await.is_err() {
                    taskloop::current_task().unwrap().uncancel();
                    return "value";
                }
                "slept"
            })
            .await
        });
        yield_now().await.unwrap();
        scoped.cancel();
        assert_eq!(scoped.await.unwrap(), Ok("value"));
    });
}
