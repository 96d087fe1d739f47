//! `shield`: asyncio's `shield` over a task, ported from the shield tests of
//! `Lib/test/test_asyncio/test_tasks.py` and `WaitForShieldTests` of
//! `test_waitfor.py` (asyncio-semantics §1.8).
//!
//! `shield(&mut task)` gives `Ok(task's outcome)`, or `Err(Cancelled)` when
//! the *awaiting* task is cancelled, in which case the task runs on and its
//! outcome stays on the handle. Every test runs on the virtual clock.

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use taskloop::time::{now, sleep};
use taskloop::{
    Cancelled, Promise, Task, cancellable, checkpoint, shield, spawn, timeout, wait_for,
};
use util::{Counters, yield_n};
use util::{me, ms, run, since};

// ---------------------------------------------------------------------------
// Helpers

/// Polls `future` exactly once, from the current task.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(move |cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Panics like `inner.set_exception(RuntimeError('expected'))`.
fn runtime_error() -> u32 {
    panic!("expected")
}

/// A task handle kept outside the task that shields it, so the test still
/// owns it after that task ended (cancelled tasks drop their output).
type Slot<T> = Rc<RefCell<Option<Task<T>>>>;

fn slot<T>(task: Task<T>) -> Slot<T> {
    Rc::new(RefCell::new(Some(task)))
}

/// What a shield gave, without the value, once it gave something.
type ShieldOutcome = Rc<Cell<Option<Result<(), Cancelled>>>>;

/// Spawns a task that shields the task in `slot`, puts the handle back
/// afterwards and records what the shield gave, without the value.
fn spawn_shielding<T: 'static>(slot: &Slot<T>) -> (Task<()>, ShieldOutcome) {
    let seen = Rc::new(Cell::new(None));
    let (s, r) = (slot.clone(), seen.clone());
    let outer = spawn(async move {
        let mut task = s.borrow_mut().take().expect("the handle is in the slot");
        let out = shield(&mut task).await;
        *s.borrow_mut() = Some(task);
        r.set(Some(out.map(drop)));
    });
    (outer, seen)
}

// ---------------------------------------------------------------------------
// What the shield gives

// mirrors test_tasks.py::test_shield_result
#[test]
fn a_shield_over_a_task_gives_the_tasks_value_when_it_finishes() {
    run(async {
        let t0 = now();
        let mut inner = spawn(async {
            sleep(ms(100)).await.unwrap();
            42
        });
        let out = shield(&mut inner).await;
        assert!(matches!(out, Ok(Ok(42))), "{out:?}");
        assert_eq!(since(t0), ms(100));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_tasks.py::test_shield_exception
#[test]
fn a_shield_over_a_task_that_panics_gives_its_panic() {
    run(async {
        let mut inner = spawn(async {
            sleep(ms(1)).await.unwrap();
            runtime_error()
        });
        match shield(&mut inner).await {
            Ok(Err(e)) => {
                assert!(e.is_panic());
                assert_eq!(e.panic_message(), Some("expected"));
            }
            other => panic!("expected the task's panic, got {other:?}"),
        }
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_tasks.py::test_shield_cancel_inner (and test_shield_cancel)
#[test]
fn a_shield_over_a_task_cancelled_by_someone_else_gives_that_cancellation_as_the_tasks_error() {
    run(async {
        let t0 = now();
        let mut inner = spawn(cancellable(pending::<()>()));
        let inner_ref = inner.as_task_ref().clone();
        let _canceller = spawn(async move {
            sleep(ms(10)).await.unwrap();
            inner_ref.cancel();
        });
        match shield(&mut inner).await {
            Ok(Err(e)) => assert!(e.is_cancelled()),
            other => panic!("expected the task's cancellation, got {other:?}"),
        }
        assert!(inner.is_cancelled());
        assert_eq!(since(t0), ms(10));
        // The awaiting task itself was not cancelled.
        assert_eq!(me().cancelling(), 0);
        assert_eq!(checkpoint().await, Ok(()));
    });
}

// mirrors test_tasks.py::test_shield_shortcut; asyncio-semantics §1.8
// ("if it is already done, that same object is returned": no suspension)
#[test]
fn a_shield_over_a_finished_task_gives_its_output_without_suspending() {
    run(async {
        let mut inner = spawn(async { 42 });
        yield_n(1).await;
        assert!(inner.is_done());
        let out = poll_once(pin!(shield(&mut inner))).await;
        assert!(matches!(out, Poll::Ready(Ok(Ok(42)))), "{out:?}");
    });
}

// mirrors test_tasks.py::test_shield_shortcut with a pending cancellation:
// awaiting a done future is not a suspension point, so the request waits for
// the next one (asyncio-semantics §1.0; regression: gh-107547)
#[test]
fn a_shield_over_a_finished_task_does_not_consume_a_pending_cancellation() {
    run(async {
        let mut inner = spawn(async { 42 });
        yield_n(1).await;
        me().cancel();
        let out = shield(&mut inner).await;
        assert!(matches!(out, Ok(Ok(42))), "{out:?}");
        assert_eq!(checkpoint().await, Err(Cancelled));
    });
}

// ---------------------------------------------------------------------------
// Cancelling the awaiting task

// mirrors test_tasks.py::test_shield_effect
#[test]
fn cancelling_the_awaiting_task_stops_its_wait_at_once_and_the_task_runs_on() {
    run(async {
        let proof = Rc::new(Cell::new(0));
        let waiter = Promise::<()>::new();
        let set_waiter = waiter.resolver();
        let p = proof.clone();
        let inner = spawn(async move {
            waiter.await.unwrap();
            p.set(p.get() + 1);
            "inner value"
        });
        let inner_ref = inner.as_task_ref().clone();
        let handle = slot(inner);
        let (outer, seen) = spawn_shielding(&handle);
        yield_n(2).await; // both wait: the inner on `waiter`, the outer on the shield
        assert!(!outer.is_done());
        let t0 = now();
        outer.cancel();
        let outer_ref = outer.as_task_ref().clone();
        assert!(outer.await.unwrap_err().is_cancelled());
        assert_eq!(since(t0), Duration::ZERO, "promptly");
        assert_eq!(seen.get(), Some(Err(Cancelled)));
        assert_eq!(outer_ref.cancelling(), 1);
        // The inner was not touched and keeps running.
        assert!(!inner_ref.is_done());
        assert_eq!(inner_ref.cancelling(), 0, "nothing was forwarded");
        set_waiter.set_result(()).unwrap();
        let inner = handle.borrow_mut().take().unwrap();
        assert_eq!(inner.await.unwrap(), "inner value");
        assert_eq!(proof.get(), 1);
        assert!(!inner_ref.is_cancelled());
    });
}

// mirrors test_tasks.py::test_shield_cancel_outer (the outer is cancelled,
// the inner goes on and its outcome can still be awaited)
#[test]
fn after_a_cancelled_shield_the_same_task_can_be_awaited_again_for_its_value() {
    run(async {
        let t0 = now();
        let mut inner = spawn(async {
            sleep(ms(100)).await.unwrap();
            "later"
        });
        me().cancel();
        assert_eq!(shield(&mut inner).await.map(drop), Err(Cancelled));
        me().uncancel(); // caught and suppressed
        assert_eq!(since(t0), Duration::ZERO);
        assert!(!inner.is_done());
        let again = shield(&mut inner).await;
        assert!(matches!(again, Ok(Ok("later"))), "{again:?}");
        assert_eq!(since(t0), ms(100));
    });
}

// mirrors test_tasks.py::test_shield_cancel_outer ("the inner's callback is
// removed when outer completes first": the finished inner does not wake the
// task that stopped waiting for it)
#[test]
fn a_task_finishing_after_its_shield_was_cancelled_does_not_wake_the_former_awaiter() {
    run(async {
        let waiter = Promise::<()>::new();
        let set_waiter = waiter.resolver();
        let inner = spawn(async move {
            waiter.await.unwrap();
            1
        });
        let gate = Promise::<()>::new();
        let open_gate = gate.resolver();
        let counters = Counters::new();
        let outer = spawn(counters.wrap(async move {
            let mut inner = inner;
            assert_eq!(shield(&mut inner).await.map(drop), Err(Cancelled));
            me().uncancel();
            gate.await.unwrap(); // parked: only `open_gate` should wake us
            inner.await.unwrap()
        }));
        yield_n(2).await;
        outer.cancel();
        yield_n(3).await; // the outer saw Cancelled and parked on the gate
        let polls = counters.polls();
        set_waiter.set_result(()).unwrap(); // the inner finishes
        yield_n(3).await;
        assert_eq!(counters.polls(), polls, "the finished inner woke the outer");
        open_gate.set_result(()).unwrap();
        assert_eq!(outer.await.unwrap(), 1);
    });
}

// mirrors test_tasks.py::test_shield_effect (the shielded task had not even
// started when the awaiting task was cancelled)
#[test]
fn a_shield_protects_a_task_that_has_not_started_yet() {
    run(async {
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        let mut inner = spawn(async move {
            s.set(true);
            sleep(ms(5)).await.unwrap();
            7
        });
        me().cancel();
        assert_eq!(shield(&mut inner).await.map(drop), Err(Cancelled));
        assert_eq!(inner.cancelling(), 0);
        me().uncancel();
        let t0 = now();
        assert_eq!(inner.await.unwrap(), 7);
        assert!(started.get());
        assert_eq!(since(t0), ms(5));
    });
}

// ---------------------------------------------------------------------------
// shield under timeouts

// mirrors test_waitfor.py::WaitForShieldTests::test_zero_timeout
#[test]
fn wait_for_a_shielded_task_with_a_zero_timeout_times_out_at_once_and_the_task_runs_on() {
    run(async {
        let t0 = now();
        let mut task = spawn(async {
            sleep(ms(10)).await.unwrap();
            "done"
        });
        let r = wait_for(shield(&mut task), Duration::ZERO).await;
        assert!(r.unwrap_err().is_elapsed());
        assert_eq!(since(t0), Duration::ZERO);
        // Task is running in background
        assert!(!task.is_done());
        assert!(!task.is_cancelled());
        sleep(ms(100)).await.unwrap();
        assert!(task.is_done());
        assert_eq!(task.await.unwrap(), "done");
    });
}

// mirrors test_waitfor.py::WaitForShieldTests::test_none_timeout
#[test]
fn wait_for_a_shielded_task_without_a_timeout_runs_it_to_completion() {
    run(async {
        let t0 = now();
        let mut task = spawn(async {
            sleep(ms(100)).await.unwrap();
            "done"
        });
        let r = wait_for(shield(&mut task), None::<Duration>).await;
        assert!(matches!(r, Ok(Ok(Ok("done")))), "{r:?}");
        assert!(task.is_done());
        assert_eq!(since(t0), ms(100));
    });
}

// mirrors test_waitfor.py::WaitForShieldTests::test_shielded_timeout (with a
// timeout scope, and the caller cancelled from outside while it waits: the
// cancellation is not turned into a timeout and the task still runs on)
#[test]
fn a_foreign_cancel_of_a_caller_waiting_on_a_shield_in_a_scope_leaves_the_task_running() {
    run(async {
        let t0 = now();
        let inner = spawn(async {
            sleep(ms(100)).await.unwrap();
            "done"
        });
        let handle = slot(inner);
        let seen = Rc::new(Cell::new(None));
        let (h, s) = (handle.clone(), seen.clone());
        let caller = spawn(async move {
            let mut task = h.borrow_mut().take().unwrap();
            let r = timeout(ms(50), shield(&mut task)).await;
            *h.borrow_mut() = Some(task);
            s.set(Some(r.map(drop).map_err(|e| e.is_cancelled())));
        });
        sleep(ms(10)).await.unwrap();
        caller.cancel();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(seen.get(), Some(Err(true)), "Cancelled, not Elapsed");
        assert_eq!(since(t0), ms(10));
        let task = handle.borrow_mut().take().unwrap();
        assert!(!task.is_done());
        assert_eq!(task.await.unwrap(), "done");
        assert_eq!(since(t0), ms(100));
    });
}
