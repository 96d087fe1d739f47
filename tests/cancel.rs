//! The cancellation model: `cancel()` records a request that is delivered
//! once, at the task's next checkpoint, with asyncio's counting
//! (`cancelling`/`uncancel`), forwarding and clean-up rules; `abort()` is
//! the hard cancel.
//!
//! "issue rule N" refers to the numbered rules of the cancellation issue;
//! "mirrors test_tasks.py::X" names the CPython test the behaviour comes from.

mod util;

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::future::{pending, poll_fn};
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

use taskloop::{
    Cancelled, Promise, TaskRef, cancellable, checkpoint, current_task, is_cancelled, spawn,
    yield_now,
};
use util::{Counters, DropFlag, Either, Signal, block_on, join_soon, select2, yield_n};

/// The task being polled.
fn me() -> TaskRef {
    current_task().expect("not inside a task")
}

/// A log of events shared between tasks.
type Log = Rc<RefCell<Vec<&'static str>>>;

fn new_log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, event: &'static str) {
    log.borrow_mut().push(event);
}

fn panics(msg: &'static str) -> u32 {
    panic!("{msg}")
}

// ---------------------------------------------------------------------------
// Rule 1: cancel() records a request

// issue rule 1; mirrors test_tasks.py::test_cancelling
#[test]
fn cancel_records_a_request_counts_it_wakes_the_task_and_returns_true() {
    block_on(async {
        let promise = Promise::<u32>::new();
        let resolver = promise.resolver();
        let task = spawn(promise);
        yield_n(1).await; // the task now waits on the promise
        assert!(!task.is_done());
        assert_eq!(task.cancelling(), 0);

        assert!(task.cancel());
        assert_eq!(task.cancelling(), 1);
        assert!(!task.is_done(), "cancel() only records the request");
        assert!(!task.is_cancelled(), "is_cancelled() describes an outcome");
        assert!(
            task.cancel(),
            "a second request while pending is accepted too"
        );
        assert_eq!(task.cancelling(), 2);

        // Nobody sets the promise: only the wake-up from cancel() runs the task.
        yield_n(1).await;
        assert!(task.is_done());
        assert!(task.is_cancelled());
        assert_eq!(task.cancelling(), 2, "only uncancel() lowers the count");
        assert!(resolver.is_cancelled());
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Rule 2: delivered once, at the next checkpoint

// issue rule 2; mirrors test_tasks.py::test_cancel_yield
#[test]
fn yield_now_delivers_a_request_made_while_the_task_yields_exactly_once() {
    block_on(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let task = spawn(async move {
            loop {
                let r = yield_now().await;
                s.borrow_mut().push(r);
                if r.is_err() {
                    break;
                }
            }
            // A second checkpoint after delivery runs normally.
            let again = yield_now().await;
            s.borrow_mut().push(again);
        });
        yield_n(1).await; // the task is inside its first yield
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!(*seen.borrow(), [Err(Cancelled), Ok(())]);
    });
}

// issue rule 2 (the checkpoint that does not suspend)
#[test]
fn checkpoint_delivers_a_pending_request_once_and_never_suspends() {
    block_on(async {
        let task = spawn(async {
            let counters = Counters::new();
            assert_eq!(counters.wrap(checkpoint()).await, Ok(()));
            assert_eq!(
                counters.polls(),
                1,
                "checkpoint() completes on its first poll"
            );

            assert!(me().cancel());
            assert_eq!(checkpoint().await, Err(Cancelled));
            assert_eq!(checkpoint().await, Ok(()), "delivered once only");
            assert_eq!(yield_now().await, Ok(()));
        });
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
    });
}

// issue rule 2 (awaiting a Promise is a checkpoint)
#[test]
fn awaiting_a_promise_delivers_the_request_once() {
    block_on(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let task = spawn(async move {
            let first = Promise::<u32>::new();
            let _keep = first.resolver(); // never set
            let r = first.await;
            s.borrow_mut().push(r);

            let second = Promise::new();
            let resolver = second.resolver();
            spawn(async move { resolver.set_result(7).unwrap() });
            let r = second.await;
            s.borrow_mut().push(r);
        });
        yield_n(1).await;
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!(*seen.borrow(), [Err(Cancelled), Ok(7)]);
    });
}

// issue rule 2 (awaiting a Task is a checkpoint: the request is forwarded);
// mirrors test_tasks.py::test_cancel_awaited_task
#[test]
fn a_task_that_cancels_itself_then_awaits_a_pending_task_cancels_that_task_and_sees_cancelled_once()
{
    block_on(async {
        let promise = Promise::<()>::new();
        let resolver = promise.resolver();
        let nested_ref = Rc::new(RefCell::new(None::<TaskRef>));
        let n = nested_ref.clone();
        let outer = spawn(async move {
            let nested = spawn(promise);
            *n.borrow_mut() = Some(nested.as_task_ref().clone());
            yield_now().await.unwrap(); // the nested task waits on the promise
            me().cancel();
            let err = nested.await.unwrap_err();
            assert!(err.is_cancelled());
            // Seen once: the next await of a task runs normally.
            assert_eq!(spawn(async { 9 }).await.unwrap(), 9);
            assert_eq!(yield_now().await, Ok(()));
        });
        assert!(join_soon(outer).await.unwrap_err().is_cancelled());
        let nested = nested_ref.borrow_mut().take().unwrap();
        assert!(nested.is_cancelled());
        assert!(resolver.is_cancelled());
    });
}

// issue rule 2 (cancellable() is a checkpoint)
#[test]
fn cancellable_delivers_the_request_once() {
    block_on(async {
        let task = spawn(async {
            me().cancel();
            assert_eq!(cancellable(pending::<()>()).await, Err(Cancelled));
            assert_eq!(cancellable(async { 4 }).await, Ok(4));
        });
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 2 (Cancelled travels with `?` like asyncio's CancelledError
// propagates); is_cancelled() recognises it after conversion
#[test]
fn cancelled_converts_with_the_question_mark_and_is_recognised_after_conversion() {
    fn as_io() -> io::Result<()> {
        Err(Cancelled)?;
        Ok(())
    }
    fn as_boxed() -> Result<(), Box<dyn Error + Send + Sync>> {
        Err(Cancelled)?;
        Ok(())
    }

    let io_err = as_io().unwrap_err();
    assert_eq!(
        io_err.kind(),
        io::ErrorKind::Other,
        "not Interrupted: retry loops would swallow it"
    );
    assert!(is_cancelled(&io_err));
    let boxed = as_boxed().unwrap_err();
    assert!(is_cancelled(&*boxed));
    assert!(is_cancelled(&Cancelled));
    assert!(!is_cancelled(&io::Error::other("something else")));
    assert!(!is_cancelled(&io::Error::from(io::ErrorKind::Interrupted)));

    block_on(async {
        let task = spawn(pending::<()>());
        task.cancel();
        let err = join_soon(task).await.unwrap_err();
        assert!(is_cancelled(&err), "a cancelled task's TaskError");
        let err: io::Error = err.into();
        assert!(
            is_cancelled(&err),
            "a cancelled task's TaskError made an io::Error"
        );

        let err = spawn(async { panics("not a cancellation") })
            .await
            .unwrap_err();
        assert!(!is_cancelled(&err));
        let err: io::Error = err.into();
        assert!(!is_cancelled(&err));

        // And `?` inside a task carries it out as the task's own error.
        let task = spawn(async {
            yield_now().await?;
            Ok::<_, io::Error>(())
        });
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Rule 3: asynchronous clean-up after delivery

// issue rule 3; asyncio: a task catching CancelledError may await in its
// clean-up (`finally: await ...`) and the canceller's `await task` waits for it
#[test]
fn a_cancelled_task_runs_clean_up_that_awaits_and_the_canceller_sees_it_done() {
    block_on(async {
        let log = new_log();
        let l = log.clone();
        let task = spawn(async move {
            let r = Promise::<()>::new().await;
            assert_eq!(r, Err(Cancelled));
            push(&l, "cancelled");
            for _ in 0..3 {
                yield_now().await.expect("the request is delivered once");
                push(&l, "clean-up step");
            }
            let promise = Promise::new();
            let resolver = promise.resolver();
            spawn(async move { resolver.set_result("flushed").unwrap() });
            assert_eq!(promise.await, Ok("flushed"));
            push(&l, "clean-up done");
            r
        });
        yield_n(1).await;
        task.cancel();
        assert!(
            log.borrow().is_empty(),
            "cancel() returns before any clean-up"
        );
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(
            *log.borrow(),
            [
                "cancelled",
                "clean-up step",
                "clean-up step",
                "clean-up step",
                "clean-up done"
            ]
        );
    });
}

// ---------------------------------------------------------------------------
// Rule 4: the outcome

// issue rule 4 (taskloop's stand-in for "CancelledError propagated out of
// the coroutine"); mirrors test_tasks.py::test_cancel
#[test]
fn a_task_that_saw_cancelled_and_returns_ends_cancelled_and_its_value_is_dropped() {
    block_on(async {
        let flag = DropFlag::new();
        let guard = flag.guard();
        let task = spawn(async move {
            assert_eq!(yield_now().await, Err(Cancelled));
            guard // returned as a value, yet the task saw Cancelled
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        assert!(t.cancel());
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        assert_eq!(err.panic_message(), None);
        assert!(t.is_done());
        assert!(t.is_cancelled());
        assert!(!t.is_panicked());
        assert!(
            flag.is_dropped(),
            "the returned value of a cancelled task is dropped"
        );
        assert!(!t.cancel(), "cancel() of a done task returns false");
    });
}

// issue rule 4; mirrors test_tasks.py::test_cancel_task_catching and
// test_cancel_task_ignoring (in taskloop, suppressing needs uncancel())
#[test]
fn a_task_that_uncancels_to_zero_after_delivery_finishes_with_its_value() {
    block_on(async {
        let task = spawn(async {
            assert_eq!(Promise::<()>::new().await, Err(Cancelled));
            assert_eq!(me().uncancel(), 0);
            // Keeps working normally afterwards.
            yield_n(2).await;
            let promise = Promise::new();
            let resolver = promise.resolver();
            spawn(async move { resolver.set_result(42).unwrap() });
            promise.await.unwrap()
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        task.cancel();
        assert_eq!(join_soon(task).await.unwrap(), 42);
        assert_eq!(t.cancelling(), 0);
        assert!(!t.is_cancelled());
        assert!(t.is_done());
    });
}

// issue rule 4: a request never delivered does not change the outcome. This
// deliberately differs from asyncio (test_tasks.py::test_cancel_at_end),
// where a coroutine that returns with `_must_cancel` set ends cancelled.
#[test]
fn a_task_that_returns_before_its_cancellation_is_delivered_keeps_its_value() {
    block_on(async {
        let signal = Signal::new(); // foreign future: not a checkpoint
        let s = signal.clone();
        let task = spawn(async move {
            s.wait().await;
            7
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        assert!(signal.has_waiter());
        assert!(task.cancel());
        signal.fire();
        assert_eq!(join_soon(task).await.unwrap(), 7);
        assert!(!t.is_cancelled());
        assert_eq!(
            t.cancelling(),
            1,
            "the request was counted, just never delivered"
        );
    });
}

// issue rule 4 (a self-cancel with no checkpoint after it); differs from
// asyncio's test_tasks.py::test_cancel_at_end on purpose, see above
#[test]
fn a_task_that_cancels_itself_and_returns_without_a_checkpoint_keeps_its_value() {
    block_on(async {
        let task = spawn(async {
            assert!(me().cancel());
            12
        });
        let t = task.as_task_ref().clone();
        assert_eq!(join_soon(task).await.unwrap(), 12);
        assert!(!t.is_cancelled());
        assert!(!t.cancel());
    });
}

// issue rule 4; asyncio 3.11+ counting: only uncancel() reaching 0
// suppresses (test_tasks.py::test_uncancel_structured_blocks)
#[test]
fn cancelling_twice_and_uncancelling_once_still_ends_cancelled() {
    block_on(async {
        let left = Rc::new(Cell::new(None));
        let l = left.clone();
        let task = spawn(async move {
            assert_eq!(yield_now().await, Err(Cancelled));
            l.set(Some(me().uncancel()));
            5
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        assert!(task.cancel());
        assert!(task.cancel());
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!(left.get(), Some(1));
        assert_eq!(t.cancelling(), 1);
        assert!(t.is_cancelled());
    });
}

// mirrors test_tasks.py::test_uncancel_basic
#[test]
fn cancelling_counts_requests_and_uncancel_takes_them_back() {
    block_on(async {
        let task = spawn(async {
            assert_eq!(Promise::<()>::new().await, Err(Cancelled));
            assert_eq!(me().uncancel(), 0);
            // Wait again; the second cancel() ends the task.
            Promise::<()>::new().await
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;

        assert!(t.cancel());
        assert_eq!(t.cancelling(), 1);
        assert!(!t.is_cancelled(), "still not complete");
        yield_n(1).await;
        assert_eq!(t.cancelling(), 0, "after uncancel()");
        assert!(!t.is_done());

        assert!(t.cancel());
        assert_eq!(t.cancelling(), 1);
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert!(t.is_cancelled());

        // uncancel() is no longer effective after the task is complete.
        assert_eq!(t.uncancel(), 0);
        assert!(t.is_cancelled());
        assert!(t.is_done());
        assert_eq!(t.uncancel(), 0, "the count does not go below zero");
    });
}

// ---------------------------------------------------------------------------
// Rule 5: checkpoints pending under a combinator

/// A task waiting in `select2(checkpoint, pending)`, recording what the
/// checkpoint returned.
fn spawn_select_task<F>(checkpoint: F) -> (taskloop::Task<()>, Rc<RefCell<Option<String>>>)
where
    F: std::future::Future + 'static,
    F::Output: std::fmt::Debug,
{
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let task = spawn(async move {
        let out = select2(checkpoint, pending::<()>()).await;
        *s.borrow_mut() = Some(format!("{out:?}"));
    });
    (task, seen)
}

// precondition of the rule 5 tests: the helper really hides wakes of the task
#[test]
fn the_select2_helper_does_not_repoll_children_on_a_plain_wake_of_the_task() {
    block_on(async {
        let counters = Counters::new();
        let waker: Rc<Cell<Option<Waker>>> = Rc::new(Cell::new(None));
        let w = waker.clone();
        let mut select = Box::pin(select2(counters.pending::<()>(), pending::<()>()));
        let child_polls = select.child_polls();
        let outer_polls = Rc::new(Cell::new(0));
        let o = outer_polls.clone();
        let task = spawn(poll_fn(move |cx| {
            o.set(o.get() + 1);
            w.set(Some(cx.waker().clone()));
            select.as_mut().poll(cx)
        }));
        yield_n(1).await;
        assert_eq!(
            (outer_polls.get(), child_polls.get(), counters.polls()),
            (1, 2, 1)
        );

        waker.take().unwrap().wake();
        yield_n(1).await;
        assert_eq!(outer_polls.get(), 2, "the task was polled again");
        assert_eq!(child_polls.get(), 2, "but neither child was");
        assert_eq!(counters.polls(), 1);
        task.abort();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 5 (a Promise await under a per-child-waker combinator)
#[test]
fn a_promise_await_pending_under_a_per_child_waker_combinator_still_sees_the_cancellation() {
    block_on(async {
        let promise = Promise::<u32>::new();
        let resolver = promise.resolver();
        let (task, seen) = spawn_select_task(promise);
        yield_n(1).await;
        assert!(seen.borrow().is_none());
        task.cancel();
        yield_n(2).await;
        assert!(
            task.is_done(),
            "the cancellation did not reach the checkpoint"
        );
        assert_eq!(seen.borrow().as_deref(), Some("Left(Err(Cancelled))"));
        assert!(resolver.is_cancelled());
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 5 (cancellable() under a per-child-waker combinator)
#[test]
fn a_cancellable_pending_under_a_per_child_waker_combinator_still_sees_the_cancellation() {
    block_on(async {
        let (task, seen) = spawn_select_task(cancellable(pending::<()>()));
        yield_n(1).await;
        task.cancel();
        yield_n(2).await;
        assert!(
            task.is_done(),
            "the cancellation did not reach the checkpoint"
        );
        assert_eq!(seen.borrow().as_deref(), Some("Left(Err(Cancelled))"));
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 5 + 7 (a Task await under a per-child-waker combinator forwards)
#[test]
fn a_task_await_pending_under_a_per_child_waker_combinator_still_forwards_the_cancellation() {
    block_on(async {
        let inner = spawn(Promise::<()>::new());
        let inner_ref = inner.as_task_ref().clone();
        let (task, seen) = spawn_select_task(inner);
        yield_n(1).await;
        task.cancel();
        yield_n(5).await;
        assert!(inner_ref.is_cancelled(), "the request was not forwarded");
        assert!(task.is_done());
        assert_eq!(
            seen.borrow().as_deref(),
            Some("Left(Err(TaskError::Cancelled))")
        );
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 5: the loser of a select that is dropped leaves nothing behind:
// a later cancel() still works and nothing is woken twice
#[test]
fn a_checkpoint_dropped_by_a_combinator_does_not_disturb_a_later_cancellation() {
    block_on(async {
        let task = spawn(async {
            let promise = Promise::<()>::new();
            let _keep = promise.resolver();
            let out = select2(promise, async { yield_now().await.unwrap() }).await;
            assert_eq!(out, Either::Right(()));
            Promise::<()>::new().await
        });
        yield_n(3).await;
        assert!(!task.is_done());
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Rule 6: cancelled before the first run

// issue rule 6; asyncio: a task cancelled before it started never runs its
// coroutine (test_tasks.py::test_cancel_with_message_before_starting_task)
#[test]
fn a_task_cancelled_before_it_first_ran_never_runs_and_its_future_is_dropped() {
    block_on(async {
        let counters = Counters::new();
        let flag = DropFlag::new();
        let guard = flag.guard();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = spawn(counters.wrap(async move {
            let _guard = guard;
            r.set(true);
        }));
        assert!(task.cancel());
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(counters.polls(), 0);
        assert_eq!(counters.drops(), 1);
        assert!(flag.is_dropped());
        assert!(!ran.get());
    });
}

// issue rule 6 (3.13); mirrors test_tasks.py::test_uncancel_resets_must_cancel
#[test]
fn cancel_then_uncancel_before_the_first_run_lets_the_task_run_normally() {
    block_on(async {
        let counters = Counters::new();
        let task = spawn(counters.wrap(async {
            yield_now().await.unwrap();
            checkpoint().await.unwrap();
            42
        }));
        let t = task.as_task_ref().clone();
        assert!(task.cancel());
        assert_eq!(task.cancelling(), 1);
        assert_eq!(task.uncancel(), 0);
        assert_eq!(join_soon(task).await.unwrap(), 42);
        assert!(counters.polls() >= 1);
        assert!(!t.is_cancelled());
        assert_eq!(t.cancelling(), 0);
    });
}

// issue rule 6: only a count back at zero lifts the request
#[test]
fn cancel_twice_then_uncancel_once_before_the_first_run_still_never_runs() {
    block_on(async {
        let counters = Counters::new();
        let task = spawn(counters.wrap(async { 1 }));
        task.cancel();
        task.cancel();
        assert_eq!(task.uncancel(), 1);
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!(counters.polls(), 0);
        assert_eq!(counters.drops(), 1);
    });
}

// ---------------------------------------------------------------------------
// Rule 7: forwarding to an awaited task

// issue rule 7; asyncio: Task.cancel() cancels the awaited `_fut_waiter`
// (test_tasks.py::test_cancel_awaited_task) and the outer waits for it
#[test]
fn cancelling_a_task_that_awaits_another_forwards_the_request_and_waits_for_its_clean_up() {
    block_on(async {
        let log = new_log();
        let l = log.clone();
        let inner = spawn(async move {
            let r = Promise::<()>::new().await;
            push(&l, "inner saw cancelled");
            yield_n(3).await;
            push(&l, "inner clean-up done");
            r
        });
        let inner_ref = inner.as_task_ref().clone();
        let l = log.clone();
        let outer = spawn(async move {
            let r = inner.await;
            push(&l, "outer resumed");
            assert!(r.unwrap_err().is_cancelled());
        });
        let outer_ref = outer.as_task_ref().clone();
        yield_n(2).await; // outer waits on inner, inner waits on its promise

        assert!(outer.cancel());
        assert_eq!(
            inner_ref.cancelling(),
            0,
            "forwarded when the outer runs, not inside cancel()"
        );
        let err = join_soon(outer).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(
            *log.borrow(),
            [
                "inner saw cancelled",
                "inner clean-up done",
                "outer resumed"
            ]
        );
        assert!(inner_ref.is_cancelled());
        assert_eq!(inner_ref.cancelling(), 1);
        assert!(outer_ref.is_cancelled());
        assert_eq!(outer_ref.cancelling(), 1);
    });
}

// issue rule 7; asyncio (verified): if the awaited task suppresses the
// forwarded cancellation and returns, the outer gets the value, keeps
// running, ends finished and its cancelling() stays 1
#[test]
fn a_forwarded_cancellation_suppressed_by_the_awaited_task_gives_the_outer_its_value() {
    block_on(async {
        let inner = spawn(async {
            assert_eq!(Promise::<()>::new().await, Err(Cancelled));
            assert_eq!(me().uncancel(), 0);
            7
        });
        let inner_ref = inner.as_task_ref().clone();
        let outer = spawn(async move {
            let v = inner.await.unwrap();
            // Not delivered to the outer: its next checkpoint runs normally.
            assert_eq!(yield_now().await, Ok(()));
            v * 6
        });
        let outer_ref = outer.as_task_ref().clone();
        yield_n(2).await;
        outer.cancel();
        assert_eq!(join_soon(outer).await.unwrap(), 42);
        assert_eq!(outer_ref.cancelling(), 1);
        assert!(!outer_ref.is_cancelled());
        assert_eq!(inner_ref.cancelling(), 0);
        assert!(!inner_ref.is_cancelled());
    });
}

// issue rule 7: a forwarded request that the awaited task never sees (it
// finishes first) leaves the outer with the value
#[test]
fn a_forwarded_cancellation_the_awaited_task_never_reaches_gives_the_outer_the_value() {
    block_on(async {
        let signal = Signal::new();
        let s = signal.clone();
        let inner = spawn(async move {
            s.wait().await; // foreign: not a checkpoint
            3
        });
        let outer = spawn(async move { inner.await.unwrap() });
        let outer_ref = outer.as_task_ref().clone();
        yield_n(2).await;
        outer.cancel();
        yield_n(1).await; // the outer forwards
        signal.fire();
        assert_eq!(join_soon(outer).await.unwrap(), 3);
        assert!(!outer_ref.is_cancelled());
    });
}

// Task docs: "a task that is already done gives its output without a
// checkpoint"; asyncio: awaiting a done future does not yield to the loop
#[test]
fn awaiting_an_already_finished_task_is_not_a_checkpoint() {
    block_on(async {
        let task = spawn(async {
            let done = spawn(async { 5 });
            yield_now().await.unwrap();
            assert!(done.is_done());
            me().cancel();
            let v = done.await.unwrap();
            assert_eq!(
                yield_now().await,
                Err(Cancelled),
                "still pending after the await"
            );
            v
        });
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Rule 8: cancellable(foreign future)

// issue rule 8
#[test]
fn cancellable_delivers_the_cancellation_to_a_foreign_future_that_never_wakes_and_drops_it() {
    block_on(async {
        let counters = Counters::new();
        let c = counters.clone();
        let task = spawn(async move {
            let r = cancellable(c.pending::<u32>()).await;
            assert_eq!(c.drops(), 1, "the foreign future is dropped when cancelled");
            r
        });
        yield_n(1).await;
        assert_eq!(counters.polls(), 1);
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!(
            counters.polls(),
            1,
            "the foreign future is not polled again"
        );
    });
}

// issue rule 8; cancellable() docs: a pending cancellation wins over a ready
// inner future
#[test]
fn cancellable_prefers_a_pending_cancellation_over_a_ready_inner_future() {
    block_on(async {
        let task = spawn(async {
            let counters = Counters::new();
            me().cancel();
            let r = cancellable(counters.wrap(async { 1 })).await;
            assert_eq!(counters.polls(), 0);
            assert_eq!(counters.drops(), 1);
            r
        });
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// issue rule 8: cancellable() passes the output through when not cancelled
#[test]
fn cancellable_returns_the_output_of_a_foreign_future_that_completes() {
    block_on(async {
        let signal = Signal::new();
        let s = signal.clone();
        let task = spawn(async move {
            cancellable(async move {
                s.wait().await;
                "ok"
            })
            .await
        });
        yield_n(1).await;
        signal.fire();
        assert_eq!(join_soon(task).await.unwrap(), Ok("ok"));
    });
}

// ---------------------------------------------------------------------------
// Rule 9: abort()

// issue rule 9 (tokio-style hard cancel)
#[test]
fn abort_drops_the_future_without_polling_it_again_and_the_task_ends_cancelled() {
    block_on(async {
        let counters = Counters::new();
        let flag = DropFlag::new();
        let guard = flag.guard();
        let task = spawn(counters.wrap(async move {
            let _guard = guard;
            Promise::<()>::new().await
        }));
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        assert_eq!(counters.polls(), 1);
        assert!(task.abort());
        assert!(
            !task.is_done(),
            "the future is dropped at the next turn, not inline"
        );
        assert!(!flag.is_dropped());
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(counters.polls(), 1, "no poll after abort()");
        assert_eq!(counters.drops(), 1);
        assert!(flag.is_dropped());
        assert!(t.is_cancelled());
    });
}

// Issue 9's fallback: a cancelled task parked where no checkpoint sees the
// request (a foreign yield) is dropped instead of running on forever.
#[test]
fn cancel_stops_a_task_parked_outside_checkpoints_by_dropping_its_future() {
    block_on(async {
        let spins = Rc::new(Cell::new(0u32));
        let s = spins.clone();
        let task = spawn(async move {
            loop {
                // A foreign yield: wakes itself, never a checkpoint.
                let mut yielded = false;
                poll_fn(|cx| {
                    if yielded {
                        Poll::Ready(())
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                })
                .await;
                s.set(s.get() + 1);
                if s.get() == u32::MAX {
                    break;
                }
            }
        });
        yield_n(1).await;
        assert!(task.cancel());
        // Its next poll parks again without reaching a checkpoint while the
        // request is outstanding: the runtime drops the future (the rule in
        // docs/asyncio-mapping.md) and the task ends cancelled.
        let before = spins.get();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert!(
            spins.get() <= before + 1,
            "the future was polled at most once more"
        );
    });
}

// issue rule 9
#[test]
fn abort_of_a_task_that_never_ran_drops_it_unpolled() {
    block_on(async {
        let counters = Counters::new();
        let task = spawn(counters.wrap(async { 1 }));
        assert!(task.abort());
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert_eq!((counters.polls(), counters.drops()), (0, 1));
    });
}

// issue rule 9; mirrors test_tasks.py::test_cancel (`assertFalse(t.cancel())`)
#[test]
fn abort_and_cancel_on_a_done_task_return_false_and_change_nothing() {
    block_on(async {
        let task = spawn(async { 3 });
        yield_n(1).await;
        assert!(task.is_done());
        assert!(!task.abort());
        assert!(!task.cancel());
        assert_eq!(task.cancelling(), 0);
        assert!(!task.is_cancelled());
        assert_eq!(join_soon(task).await.unwrap(), 3);

        let cancelled = spawn(pending::<()>());
        cancelled.cancel();
        yield_n(1).await;
        assert!(cancelled.is_cancelled());
        assert!(!cancelled.cancel());
        assert!(!cancelled.abort());
        assert_eq!(cancelled.cancelling(), 1);
    });
}

// ---------------------------------------------------------------------------
// More of asyncio's cancellation behaviour

// mirrors test_tasks.py::test_cancel_current_task
#[test]
fn a_task_that_cancels_itself_sees_cancelled_at_its_next_checkpoint() {
    block_on(async {
        let reached = Rc::new(Cell::new(false));
        let r = reached.clone();
        let task = spawn(async move {
            assert!(me().cancel());
            assert_eq!(me().cancelling(), 1);
            r.set(true); // code up to the next checkpoint still runs
            let r = Promise::<()>::new().await; // cancelled immediately
            assert_eq!(r, Err(Cancelled));
            r
        });
        let t = task.as_task_ref().clone();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert!(reached.get());
        assert!(t.is_cancelled());
        assert!(!t.cancel());
    });
}

// mirrors test_tasks.py::test_cancel_task_catching (`fut2.cancelled()`) and
// test_cancel_both_task_and_inner_future: cancelling a task cancels the
// future it awaits
#[test]
fn cancelling_a_task_that_awaits_a_promise_cancels_the_promise_too() {
    block_on(async {
        let promise = Promise::<u32>::new();
        let resolver = promise.resolver();
        let task = spawn(promise);
        yield_n(1).await;
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert!(resolver.is_done());
        assert!(resolver.is_cancelled());
        assert_eq!(
            resolver.set_result(1),
            Err(1),
            "a done promise gives the value back"
        );
        assert!(!resolver.cancel());
    });
}

// mirrors test_tasks.py::test_cancel_inner_future, with one difference: no
// request was made of the task, so returning the Err(Cancelled) the promise
// gave is an ordinary value (asyncio ends the task cancelled here)
#[test]
fn a_promise_cancelled_by_its_resolver_gives_the_awaiter_cancelled() {
    block_on(async {
        let promise = Promise::<u32>::new();
        let resolver = promise.resolver();
        let task = spawn(promise);
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        assert!(resolver.cancel());
        assert!(resolver.is_cancelled());
        assert_eq!(join_soon(task).await.unwrap(), Err(Cancelled));
        assert_eq!(t.cancelling(), 0);
        assert!(!t.is_cancelled());
    });
}

// Promise docs: a value set before the await is polled is never lost; the
// pending cancellation goes to the next checkpoint
#[test]
fn a_promise_value_set_before_the_await_wins_over_a_pending_cancellation() {
    block_on(async {
        let task = spawn(async {
            let promise = Promise::new();
            promise.set_result("value").unwrap();
            me().cancel();
            let v = promise.await;
            assert_eq!(v, Ok("value"));
            assert_eq!(yield_now().await, Err(Cancelled));
            v
        });
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
    });
}

// asyncio: Task.cancel() works from plain code outside the loop; the request
// is delivered when the loop runs the task again
#[test]
fn cancel_from_outside_the_running_loop_is_delivered_when_the_loop_runs_again() {
    util::with_runtime(|rt| {
        let task = rt.spawn(Promise::<()>::new());
        rt.block_on(yield_n(1));
        assert!(!task.is_done());
        assert!(task.cancel());
        assert_eq!(task.cancelling(), 1);
        let err = rt.block_on(task).unwrap_err();
        assert!(err.is_cancelled());
    });
}

// asyncio: current_task() inside clean-up is still the cancelled task, and
// all_tasks() still lists it until it ends
#[test]
fn a_task_in_clean_up_is_still_current_and_still_listed() {
    block_on(async {
        let task = spawn(async {
            let r = Promise::<()>::new().await;
            let me = me();
            assert!(taskloop::all_tasks().contains(&me));
            assert_eq!(me.cancelling(), 1);
            assert!(!me.is_done());
            yield_now().await.unwrap();
            r
        });
        let t = task.as_task_ref().clone();
        yield_n(1).await;
        task.cancel();
        assert!(join_soon(task).await.unwrap_err().is_cancelled());
        assert!(!taskloop::all_tasks().contains(&t));
    });
}

// TaskRef::cancelling docs: the count saturates rather than overflowing
#[test]
#[cfg_attr(miri, ignore = "70,000 cancellations take minutes under Miri")]
fn cancelling_many_times_neither_overflows_nor_panics() {
    block_on(async {
        let task = spawn(Promise::<()>::new());
        yield_n(1).await;
        for _ in 0..70_000 {
            assert!(task.cancel());
        }
        let n = task.cancelling();
        assert!(n >= 65_535, "{n}");
        assert_eq!(task.uncancel(), n - 1);
        let err = join_soon(task).await.unwrap_err();
        assert!(err.is_cancelled());
    });
}
