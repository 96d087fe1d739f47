//! `wait_for`: asyncio 3.12+'s `wait_for` (a timeout scope around the
//! awaited future), ported from `Lib/test/test_asyncio/test_waitfor.py` and
//! the historical wait_for bugs of asyncio-semantics §3.
//!
//! Every test runs on the virtual clock, so durations are exact. Mapping of
//! asyncio idioms: a coroutine that "swallows" `CancelledError` calls
//! `current_task().unwrap().uncancel()` after seeing `Err(Cancelled)`; one
//! that "raises" it returns after a checkpoint returned `Err(Cancelled)`.

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn, ready};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use taskloop::time::{now, sleep, sleep_until};
use taskloop::{
    Cancelled, Promise, Task, TimeoutError, cancellable, checkpoint, current_task, shield, spawn,
    wait_for, yield_now,
};
use util::{DropFlag, capture_waker, yield_n};
use util::{me, ms, run, secs, since};

// ---------------------------------------------------------------------------
// Helpers

/// Polls `future` exactly once, from the current task.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(move |cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// The `Elapsed` details of a timeout, or a panic naming what came instead.
fn elapsed<T: std::fmt::Debug>(r: Result<T, TimeoutError>) -> taskloop::Elapsed {
    match r {
        Err(TimeoutError::Elapsed(e)) => e,
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Panics like `raise FooException` in a `finally`.
fn foo_exception() -> u32 {
    panic!("FooException")
}

/// A shared slot tests use to see what a task observed before it ended
/// (a task that ends cancelled drops its return value).
type Seen<T> = Rc<RefCell<Option<T>>>;

fn seen<T>() -> Seen<T> {
    Rc::new(RefCell::new(None))
}

// ---------------------------------------------------------------------------
// Result, timeout, no timeout

// mirrors test_waitfor.py::test_wait_for_race_condition
#[test]
fn a_future_that_completes_before_the_deadline_gives_its_value_when_it_completes() {
    run(async {
        let t0 = now();
        let promise = Promise::new();
        let resolver = promise.resolver();
        let _setter = spawn(async move {
            sleep(ms(100)).await.unwrap();
            resolver.set_result("ok").unwrap();
        });
        let mut scope = wait_for(promise, ms(200));
        let handle = scope.handle();
        assert_eq!(scope.await, Ok(Ok("ok")));
        assert_eq!(since(t0), ms(100));
        assert!(!handle.expired());
        assert_eq!(me().cancelling(), 0);
        // The scope's timer is gone: nothing wakes us at the old deadline.
        sleep(secs(1)).await.unwrap();
        assert_eq!(since(t0), ms(1100));
    });
}

// mirrors test_waitfor.py::test_wait_for (inline coroutine form) and the
// rustdoc example of `wait_for`
#[test]
fn a_future_still_pending_at_the_deadline_times_out_at_exactly_the_deadline() {
    run(async {
        let t0 = now();
        let mut scope = wait_for(sleep(secs(30)), secs(2));
        let handle = scope.handle();
        let e = elapsed(scope.await);
        assert_eq!(since(t0), secs(2));
        assert_eq!(e.cleanup(), Duration::ZERO);
        assert!(!e.cut_short());
        assert!(handle.expired());
        assert_eq!(handle.when(), Some(t0 + secs(2)));
        assert_eq!(me().cancelling(), 0, "the scope withdrew its own request");
        assert_eq!(checkpoint().await, Ok(()), "no request is left over");
    });
}

// mirrors test_waitfor.py::test_wait_for (task form: the task is cancelled,
// its `finally` ran)
#[test]
fn wait_for_a_task_that_is_still_running_at_the_deadline_cancels_it_and_times_out() {
    run(async {
        let running = Rc::new(Cell::new(false));
        let r = running.clone();
        let mut task = spawn(async move {
            r.set(true);
            let slept = sleep(secs(10)).await;
            r.set(false); // asyncio's `finally`
            slept?;
            Ok::<_, Cancelled>("done")
        });
        let t0 = now();
        let e = elapsed(wait_for(&mut task, ms(100)).await);
        assert_eq!(since(t0), ms(100));
        assert_eq!(e.cleanup(), Duration::ZERO);
        assert!(task.is_done());
        assert!(task.is_cancelled(), "cancelled by the timeout");
        assert!(!running.get());
    });
}

// mirrors test_waitfor.py::test_wait_for_blocking
#[test]
fn wait_for_with_no_timeout_never_times_out() {
    run(async {
        let t0 = now();
        let mut scope = wait_for(
            async {
                sleep(secs(3600)).await.unwrap();
                "done"
            },
            None::<Duration>,
        );
        let handle = scope.handle();
        assert_eq!(scope.await, Ok("done"));
        assert_eq!(since(t0), secs(3600));
        assert_eq!(handle.when(), None);
        assert!(!handle.expired());
    });
}

// mirrors test_waitfor.py::test_wait_for_blocking (a timeout too large to
// represent behaves like `None`; a huge representable one simply never comes)
#[test]
fn wait_for_with_duration_max_or_a_century_never_fires() {
    run(async {
        for timeout in [Duration::MAX, secs(100 * 365 * 24 * 3600)] {
            let t0 = now();
            let mut scope = wait_for(
                async {
                    sleep(secs(3600)).await.unwrap();
                    7
                },
                timeout,
            );
            let handle = scope.handle();
            assert_eq!(scope.await, Ok(7), "timeout {timeout:?}");
            assert_eq!(since(t0), secs(3600));
            assert!(!handle.expired());
        }
    });
}

// ---------------------------------------------------------------------------
// Zero timeout

// mirrors test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_future_done
#[test]
fn a_zero_timeout_on_a_ready_future_returns_its_value_without_suspending() {
    run(async {
        let t0 = now();
        let scope = pin!(wait_for(ready("done"), Duration::ZERO));
        assert_eq!(poll_once(scope).await, Poll::Ready(Ok("done")));

        let mut task = spawn(async { "done" });
        yield_n(1).await;
        assert!(task.is_done());
        let scope = pin!(wait_for(&mut task, Duration::ZERO));
        assert!(matches!(
            poll_once(scope).await,
            Poll::Ready(Ok(Ok("done")))
        ));
        assert_eq!(since(t0), Duration::ZERO);
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_waitfor.py::test_wait_for_timeout_less_then_0_or_0
#[test]
fn a_zero_timeout_on_a_running_task_cancels_it_at_once_and_waits_until_it_is_done() {
    run(async {
        let running = Rc::new(Cell::new(None));
        let started = Promise::new();
        let set_started = started.resolver();
        let r = running.clone();
        let mut task = spawn(async move {
            r.set(Some(true));
            set_started.set_result(()).unwrap();
            let slept = sleep(secs(10)).await;
            r.set(Some(false));
            slept.map(|()| "done")
        });
        started.await.unwrap();
        let t0 = now();
        elapsed(wait_for(&mut task, Duration::ZERO).await);
        assert_eq!(since(t0), Duration::ZERO);
        assert!(task.is_done());
        assert!(task.is_cancelled());
        assert_eq!(running.get(), Some(false));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_waitfor.py::test_wait_for_timeout_less_then_0_or_0 (inline
// form: the clean-up runs and is waited for)
#[test]
fn a_zero_timeout_on_a_pending_inline_future_cancels_it_and_waits_for_its_clean_up() {
    run(async {
        let t0 = now();
        let cleaned = Rc::new(Cell::new(false));
        let scope = wait_for(
            async {
                assert_eq!(sleep(secs(10)).await, Err(Cancelled));
                sleep(secs(1)).await.unwrap();
                cleaned.set(true);
            },
            Duration::ZERO,
        );
        let e = elapsed(scope.await);
        assert!(cleaned.get());
        assert_eq!(e.cleanup(), secs(1));
        assert_eq!(since(t0), secs(1));
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started
// (asyncio wraps the coroutine in a task and cancels it before its first
// step; the taskloop port of that is `wait_for(spawn(..), 0)`)
#[test]
fn a_zero_timeout_on_a_task_that_never_ran_cancels_it_before_it_starts() {
    run(async {
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        let mut task = spawn(async move { s.set(true) });
        let t0 = now();
        let r = wait_for(&mut task, Duration::ZERO).await;
        assert!(r.unwrap_err().is_elapsed());
        assert!(!started.get(), "the task body never ran");
        assert!(task.is_cancelled());
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started
// (documented difference: an inline future is polled once, so its body runs
// up to its first checkpoint, where the cancellation is delivered)
#[test]
fn a_zero_timeout_runs_an_inline_future_up_to_its_first_checkpoint_only() {
    run(async {
        let progress = Rc::new(Cell::new(0));
        let scope = wait_for(
            async {
                progress.set(1);
                sleep(secs(1)).await?;
                progress.set(2);
                Ok::<_, Cancelled>(())
            },
            Duration::ZERO,
        );
        assert!(scope.await.unwrap_err().is_elapsed());
        assert_eq!(progress.get(), 1);
    });
}

// ---------------------------------------------------------------------------
// wait_for waits for the inner's clean-up

// regression: bpo-33638 (duplicate of bpo-32751)
// regression: bpo-32751 (wait_for raised TimeoutError while the inner was
// still cleaning up)
#[test]
fn wait_for_waits_for_an_inline_clean_up_and_reports_how_long_it_took() {
    run(async {
        let t0 = now();
        let cleaned = Rc::new(Cell::new(None));
        let scope = wait_for(
            async {
                let r = sleep(secs(10)).await;
                assert_eq!(r, Err(Cancelled));
                sleep(secs(1)).await.unwrap(); // asynchronous clean-up
                cleaned.set(Some(now()));
                r
            },
            secs(2),
        );
        let e = elapsed(scope.await);
        assert_eq!(since(t0), secs(3), "deadline + 1 s of clean-up");
        assert_eq!(cleaned.get(), Some(t0 + secs(3)));
        assert_eq!(e.cleanup(), secs(1));
        assert!(!e.cut_short());
        assert_eq!(me().cancelling(), 0);
    });
}

// mirrors test_waitfor.py::test_wait_for_waits_for_task_cancellation
#[test]
fn wait_for_a_task_waits_for_that_task_to_finish_handling_its_cancellation() {
    run(async {
        let task_done = Rc::new(Cell::new(false));
        let d = task_done.clone();
        let mut inner = spawn(async move {
            let r = sleep(secs(10)).await;
            if r.is_err() {
                sleep(ms(1)).await.unwrap();
            }
            d.set(true); // asyncio's `finally`
            r
        });
        let t0 = now();
        let e = elapsed(wait_for(&mut inner, ms(1)).await);
        assert!(task_done.get());
        assert!(inner.is_cancelled());
        assert_eq!(since(t0), ms(2));
        assert_eq!(e.cleanup(), ms(1));
    });
}

// mirrors test_waitfor.py::test_wait_for_waits_for_task_cancellation_w_timeout_0
#[test]
fn wait_for_a_task_with_a_zero_timeout_also_waits_for_its_clean_up() {
    run(async {
        let task_done = Rc::new(Cell::new(false));
        let d = task_done.clone();
        let mut inner = spawn(async move {
            let r = sleep(secs(10)).await;
            if r.is_err() {
                sleep(ms(1)).await.unwrap();
            }
            d.set(true);
            r
        });
        sleep(ms(1)).await.unwrap();
        let t0 = now();
        let e = elapsed(wait_for(&mut inner, Duration::ZERO).await);
        assert!(task_done.get());
        assert!(inner.is_cancelled());
        assert_eq!(since(t0), ms(1));
        assert_eq!(e.cleanup(), ms(1));
    });
}

// mirrors test_waitfor.py::test_asyncio_wait_for_timeout (SlowTask ignores
// cancellation: since 3.12 wait_for returns its result)
#[test]
fn wait_for_an_inline_future_that_ignores_cancellation_returns_when_it_is_done() {
    run(async {
        let t0 = now();
        let exit_at = t0 + ms(200);
        let exited = Rc::new(Cell::new(false));
        let slow = async {
            while now() < exit_at {
                if sleep_until(exit_at).await.is_err() {
                    me().uncancel(); // `except CancelledError: pass`
                }
            }
            exited.set(true);
        };
        assert_eq!(wait_for(slow, ms(100)).await, Ok(()));
        assert!(exited.get());
        assert_eq!(since(t0), ms(200));
        assert_eq!(me().cancelling(), 0);
    });
}

// ---------------------------------------------------------------------------
// The inner suppresses the cancellation

// mirrors test_waitfor.py::test_wait_for_cancel_suppressed; regression: gh-86296
#[test]
fn an_inline_future_that_suppresses_the_cancellation_gives_its_value() {
    run(async {
        let t0 = now();
        let caller = spawn(async move {
            let return_42 = async {
                if sleep(secs(10)).await.is_err() {
                    me().uncancel();
                    return 42;
                }
                0
            };
            let r = wait_for(return_42, ms(100)).await;
            (r, me().cancelling())
        });
        assert_eq!(caller.await.unwrap(), (Ok(42), 0));
        assert_eq!(since(t0), ms(100));
    });
}

// mirrors test_waitfor.py::test_wait_for_cancellation_race_condition (task
// form: the awaited task suppresses the forwarded cancellation)
#[test]
fn a_task_that_suppresses_the_forwarded_cancellation_gives_its_value() {
    run(async {
        let mut inner = spawn(async {
            assert_eq!(sleep(secs(1)).await, Err(Cancelled));
            me().uncancel();
            1
        });
        let t0 = now();
        assert!(matches!(wait_for(&mut inner, ms(10)).await, Ok(Ok(1))));
        assert!(!inner.is_cancelled());
        assert_eq!(since(t0), ms(10));
        assert_eq!(me().cancelling(), 0);
        assert_eq!(checkpoint().await, Ok(()));
    });
}

// mirrors test_waitfor.py::test_wait_for_self_cancellation (the wait_for
// task is cancelled once it waits; verified on 3.13: it gets the inner's 42,
// `cancelling()` stays 1 and no CancelledError follows)
#[test]
fn a_caller_cancelled_while_waiting_on_a_task_that_suppresses_every_cancel_gets_its_value() {
    run(async {
        let inner = spawn(async {
            if sleep(ms(300)).await.is_err() {
                me().uncancel();
                if sleep(ms(300)).await.is_err() {
                    me().uncancel();
                    sleep(ms(300)).await.unwrap();
                }
            }
            42
        });
        let inner_ref = inner.as_task_ref().clone();
        let t0 = now();
        let waiter = spawn(async move {
            let mut inner = inner;
            let r = wait_for(&mut inner, ms(100)).await;
            let count = me().cancelling();
            let next = yield_now().await;
            (r, count, next)
        });
        yield_n(1).await; // the waiter now waits
        waiter.cancel();
        let (r, count, next) = waiter.await.unwrap();
        assert!(matches!(r, Ok(Ok(42))), "{r:?}");
        assert_eq!(count, 1, "our cancel is consumed, the counter stays raised");
        assert_eq!(next, Ok(()));
        assert!(!inner_ref.is_cancelled());
        assert_eq!(
            since(t0),
            ms(400),
            "interrupted at 0 and at 0.1, then 0.3 more"
        );
    });
}

// mirrors test_waitfor.py::test_wait_for_self_cancellation (as written: the
// wait_for task is cancelled before it ever runs)
#[test]
fn a_wait_for_task_cancelled_before_it_runs_never_touches_the_inner_task() {
    run(async {
        let inner = spawn(async {
            if sleep(ms(300)).await.is_err() {
                me().uncancel();
            }
            42
        });
        let slot = Rc::new(RefCell::new(Some(inner)));
        let s = slot.clone();
        let waiter = spawn(async move {
            let mut inner = s.borrow_mut().take().unwrap();
            wait_for(&mut inner, ms(100)).await.ok()
        });
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        let inner = slot.borrow_mut().take().expect("the waiter never ran");
        assert_eq!(inner.await.unwrap(), 42);
    });
}

// ---------------------------------------------------------------------------
// The caller is cancelled from outside

// mirrors test_waitfor.py::test_asyncio_wait_for_cancelled and
// regression: gh-86057 and bpo-42600 (duplicates of bpo-41891)
// test_cancel_wait_for; regression: bpo-41891 (the inner's clean-up is
// waited for)
#[test]
fn a_caller_cancelled_before_the_deadline_gets_cancelled_not_elapsed_and_ends_cancelled() {
    run(async {
        let outcome = seen();
        let cleaned_at = Rc::new(Cell::new(None));
        let (o, c) = (outcome.clone(), cleaned_at.clone());
        let caller = spawn(async move {
            let inner = async {
                let r = sleep(secs(10)).await;
                if r.is_err() {
                    sleep(secs(1)).await.unwrap();
                    c.set(Some(now()));
                }
                r
            };
            let r = wait_for(inner, secs(5)).await;
            *o.borrow_mut() = Some(r);
        });
        let t0 = now();
        sleep(secs(1)).await.unwrap();
        caller.cancel();
        let caller_ref = caller.as_task_ref().clone();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(
            *outcome.borrow(),
            Some(Err(TimeoutError::Cancelled(Cancelled)))
        );
        assert_eq!(cleaned_at.get(), Some(t0 + secs(2)));
        assert_eq!(since(t0), secs(2));
        assert!(caller_ref.is_cancelled());
        assert_eq!(caller_ref.cancelling(), 1);
    });
}

/// Runs a caller whose `wait_for` deadline fires in the same turn as an
/// outside `cancel()` (same virtual instant); `cancel_first` decides which
/// of the two the loop handles first. Either way the caller's scope must give
/// `Cancelled` and the caller must end cancelled.
fn cancel_at_the_deadline(cancel_first: bool) {
    run(async {
        let t0 = now();
        let outcome = seen();
        let o = outcome.clone();
        let mut scope = wait_for(sleep(secs(10)), secs(5));
        let handle = scope.handle();
        // Arm our timer before the caller arms its own when we go first.
        let mut wake = pin!(sleep(secs(5)));
        if cancel_first {
            assert!(poll_once(wake.as_mut()).await.is_pending());
        }
        let caller = spawn(async move {
            let r = scope.await;
            *o.borrow_mut() = Some(r);
        });
        yield_n(1).await; // the caller armed its scope
        wake.await.unwrap();
        assert_eq!(since(t0), secs(5));
        assert!(!caller.is_done());
        assert_eq!(
            handle.expired(),
            !cancel_first,
            "the scheduling order this test relies on"
        );
        caller.cancel();
        let caller_ref = caller.as_task_ref().clone();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(
            *outcome.borrow(),
            Some(Err(TimeoutError::Cancelled(Cancelled))),
            "never turned into a timeout"
        );
        assert!(caller_ref.is_cancelled(), "and not swallowed");
        assert_eq!(caller_ref.cancelling(), 1);
        assert_eq!(since(t0), secs(5));
    });
}

// mirrors asyncio-semantics §1.4 "someone else also cancelled the caller,
// regression: bpo-42130 (gh-86296's first report)
// before or after the deadline fired"; regression: gh-86296 (an outside
// cancellation was swallowed)
#[test]
fn a_caller_cancelled_in_the_turn_its_deadline_fires_gets_cancelled_not_elapsed() {
    cancel_at_the_deadline(false);
    cancel_at_the_deadline(true);
}

// mirrors test_timeouts.py::test_outer_task_is_not_cancelled and
// test_timeout_after_cancellation (for wait_for)
#[test]
fn after_a_timeout_the_callers_cancelling_count_is_back_at_its_entry_value() {
    run(async {
        let fresh = spawn(async {
            let r = wait_for(sleep(secs(10)), secs(1)).await;
            (
                r.map_err(|e| e.is_elapsed()),
                me().cancelling(),
                checkpoint().await,
            )
        });
        assert_eq!(fresh.await.unwrap(), (Err(true), 0, Ok(())));

        let seen_by = seen();
        let s = seen_by.clone();
        let already = spawn(async move {
            me().cancel();
            assert_eq!(checkpoint().await, Err(Cancelled)); // caught, not uncancelled
            let r = wait_for(sleep(secs(10)), secs(1)).await;
            *s.borrow_mut() = Some((r.map_err(|e| e.is_elapsed()), me().cancelling()));
            assert_eq!(checkpoint().await, Ok(()), "no request of ours is left");
        });
        let already_ref = already.as_task_ref().clone();
        assert!(
            already.await.unwrap_err().is_cancelled(),
            "it saw Cancelled earlier"
        );
        assert_eq!(*seen_by.borrow(), Some((Err(true), 1)));
        assert_eq!(already_ref.cancelling(), 1);
    });
}

// ---------------------------------------------------------------------------
// A value ready when the deadline fires

// regression: gh-81839 and bpo-40672 (the same issue: a value produced while
// the cancellation was pending must reach the caller)
// regression: bpo-37658 (a result ready when the cancellation came was
// lost). The scope expires and requests the cancellation, then the inner
// completes without passing a checkpoint: its value is returned (taskloop's
// documented rule; asyncio 3.12+ would raise TimeoutError here, verified).
#[test]
fn an_inner_that_completes_without_a_checkpoint_after_the_deadline_fired_keeps_its_value() {
    run(async {
        let t0 = now();
        let waker: Rc<Cell<Option<Waker>>> = Rc::new(Cell::new(None));
        let flag = Rc::new(Cell::new(false));
        let mut scope = wait_for(
            {
                let (waker, flag) = (waker.clone(), flag.clone());
                async move {
                    capture_waker(waker, flag).await; // not a checkpoint
                    "value"
                }
            },
            secs(1),
        );
        let handle = scope.handle();
        let h = handle.clone();
        // Woken by the same tick, after us (its timer is armed later).
        let _setter = spawn(async move {
            sleep(secs(1)).await.unwrap();
            assert!(h.expired(), "the deadline fired first");
            flag.set(true);
            if let Some(w) = waker.take() {
                w.wake();
            }
        });
        assert_eq!(scope.await, Ok("value"));
        assert!(handle.expired());
        assert_eq!(since(t0), secs(1));
        assert_eq!(me().cancelling(), 0, "the request was withdrawn");
        assert_eq!(checkpoint().await, Ok(()), "and never delivered");
    });
}

// regression: bpo-37658 (the inner completes in the very turn the deadline
// fires: it is polled first and returns its value)
#[test]
fn an_inner_woken_by_the_same_timer_tick_as_the_deadline_keeps_its_value() {
    run(async {
        let t0 = now();
        let deadline = t0 + secs(1);
        let mut scope = wait_for(
            async {
                let r = sleep_until(deadline).await;
                (r, "value")
            },
            secs(1),
        );
        let handle = scope.handle();
        assert_eq!(scope.await, Ok((Ok(()), "value")));
        assert!(!handle.expired());
        assert_eq!(since(t0), secs(1));
        assert_eq!(me().cancelling(), 0);
    });
}

// regression: bpo-37658 (the awaited task completes and the caller is
// cancelled in the same turn, before the caller resumes). taskloop's
// documented rule: awaiting a task that is already done gives its value and
// the request waits for the next checkpoint (asyncio 3.12+: CancelledError,
// the value stays on the task).
#[test]
fn a_caller_cancelled_after_its_task_finished_but_before_it_resumed_gets_the_value_then_cancelled()
{
    run(async {
        let inner = spawn(async {
            sleep(secs(1)).await.unwrap();
            "connection"
        });
        let outcome = seen();
        let o = outcome.clone();
        let caller = spawn(async move {
            let mut inner = inner;
            let r = wait_for(&mut inner, secs(10)).await;
            let next = sleep(secs(1)).await;
            *o.borrow_mut() = Some((r.map(Result::ok), next));
        });
        yield_n(1).await; // both armed: the inner's timer before ours
        sleep(secs(1)).await.unwrap();
        caller.cancel(); // the inner is done, the caller not yet resumed
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(
            *outcome.borrow(),
            Some((Ok(Some("connection")), Err(Cancelled)))
        );
    });
}

// mirrors test_waitfor.py::test_wait_for_issue86296 (both versions: an inline
// coroutine and a task that complete at once); regression: gh-86296
#[test]
fn wait_for_on_a_future_that_completes_at_once_does_not_swallow_a_later_cancellation() {
    run(async {
        for with_task in [false, true] {
            let reached_end = Rc::new(Cell::new(false));
            let r = reached_end.clone();
            let inner_task = spawn(async { "done" });
            let inner_ref = inner_task.as_task_ref().clone();
            let task = spawn(async move {
                if with_task {
                    let mut inner_task = inner_task;
                    let r = wait_for(&mut inner_task, secs(100)).await;
                    assert!(matches!(r, Ok(Ok("done"))));
                } else {
                    assert_eq!(wait_for(async { "done" }, secs(100)).await, Ok("done"));
                }
                sleep(secs(1)).await?;
                r.set(true);
                Ok::<_, Cancelled>(())
            });
            yield_n(1).await;
            assert!(!task.is_done());
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert!(inner_ref.is_done());
            assert!(!reached_end.get());
        }
    });
}

// regression: gh-107547 (wait_for on a completed future swallowed a pending
// self-cancel)
#[test]
fn a_pending_self_cancel_survives_wait_for_on_a_done_task_and_hits_the_next_sleep() {
    run(async {
        let mut done = spawn(async { 5 });
        yield_n(1).await;
        assert!(done.is_done());
        me().cancel();
        assert!(matches!(wait_for(&mut done, secs(10)).await, Ok(Ok(5))));
        assert_eq!(sleep(secs(1)).await, Err(Cancelled));
    });
}

// ---------------------------------------------------------------------------
// Forwarding to an awaited task

// mirrors test_waitfor.py::test_cancel_wait_for and
// test_cancel_blocking_wait_for; regression: bpo-23219
#[test]
fn cancelling_a_wait_for_task_forwards_the_cancellation_to_the_awaited_task() {
    for timeout in [Some(secs(60)), None] {
        run(async {
            let blocking = spawn(cancellable(pending::<()>()));
            let blocking_ref = blocking.as_task_ref().clone();
            let outcome = seen();
            let o = outcome.clone();
            let wait = spawn(async move {
                let mut blocking = blocking;
                let r = wait_for(&mut blocking, timeout).await;
                *o.borrow_mut() = Some(r.map(|_| ()).map_err(|e| e.is_cancelled()));
            });
            yield_n(1).await; // `loop.call_soon(wait.cancel)`
            wait.cancel();
            assert!(
                wait.await.unwrap_err().is_cancelled(),
                "timeout {timeout:?}"
            );
            assert_eq!(*outcome.borrow(), Some(Err(true)));
            assert!(blocking_ref.is_cancelled(), "bpo-23219");
        });
    }
}

// mirrors test_waitfor.py::test_wait_for_reraises_exception_during_cancellation;
// regression: bpo-40607
#[test]
fn a_task_that_panics_while_being_cancelled_by_the_timeout_gives_its_panic_not_a_timeout() {
    run(async {
        let mut inner = spawn(async {
            let _ = sleep(ms(200)).await;
            foo_exception()
        });
        let r = wait_for(&mut inner, ms(1)).await;
        match r {
            Ok(Err(e)) => {
                assert!(e.is_panic());
                assert_eq!(e.panic_message(), Some("FooException"));
            }
            other => panic!("expected the inner's panic, got {other:?}"),
        }
        assert_eq!(me().cancelling(), 0);
    });
}

// ---------------------------------------------------------------------------
// Inline execution, borrowing

// regression: gh-96764 (3.12's rewrite: the coroutine runs inline, in the
// caller's task; 3.11 ran it in a new task)
#[test]
fn the_inner_future_runs_inline_in_the_calling_task() {
    run(async {
        let caller = me();
        let before = wait_for(async { current_task() }, secs(1)).await;
        assert_eq!(before, Ok(Some(caller.clone())));
        let after_a_suspension = wait_for(
            async {
                sleep(ms(10)).await.unwrap();
                current_task()
            },
            None::<Duration>,
        )
        .await;
        assert_eq!(after_a_suspension, Ok(Some(caller.clone())));
        let in_clean_up = wait_for(
            async {
                assert!(sleep(secs(10)).await.is_err());
                current_task()
            },
            ms(10),
        )
        .await;
        assert!(in_clean_up.unwrap_err().is_elapsed());
    });
}

// mirrors test_waitfor.py::test_wait_for_race_condition (Rust-only twist:
// the inner borrows locals of the caller, no `'static` needed)
#[test]
fn an_inner_future_may_borrow_the_callers_locals() {
    run(async {
        let data = [1, 2, 3];
        let mut log = Vec::new();
        let sum = wait_for(
            async {
                sleep(ms(10)).await.unwrap();
                log.push(data.len());
                data.iter().sum::<i32>()
            },
            secs(1),
        )
        .await;
        assert_eq!(sum, Ok(6));

        let timed_out = wait_for(
            async {
                let r = sleep(secs(10)).await;
                log.push(99); // the clean-up still has the borrow
                r
            },
            secs(1),
        )
        .await;
        assert!(timed_out.unwrap_err().is_elapsed());
        assert_eq!(log, [3, 99]);
    });
}

// ---------------------------------------------------------------------------
// cleanup_grace

// regression: bpo-32751 (the overrun asyncio accepted when it made wait_for
// wait for the clean-up; cleanup_grace bounds it)
#[test]
fn a_clean_up_that_never_finishes_is_cut_short_after_the_grace_period() {
    run(async {
        let t0 = now();
        let dropped = DropFlag::new();
        let guard = dropped.guard();
        let mut scope = wait_for(
            async move {
                let _guard = guard;
                assert_eq!(sleep(secs(10)).await, Err(Cancelled));
                // A clean-up that outlasts any patience, at a checkpoint (a
                // clean-up parked in a foreign future is dropped at once:
                // tests/foreign.rs).
                let _ = sleep(secs(3600)).await;
            },
            secs(1),
        )
        .cleanup_grace(ms(500));
        let handle = scope.handle();
        let e = elapsed(scope.await);
        assert!(e.cut_short());
        assert_eq!(e.cleanup(), ms(500));
        assert!(dropped.is_dropped(), "the inner future was dropped");
        assert_eq!(since(t0), ms(1500));
        assert!(handle.expired());
        assert_eq!(me().cancelling(), 0);
        assert_eq!(checkpoint().await, Ok(()));
    });
}

// regression: bpo-32751 (a clean-up within the grace period is waited for)
#[test]
fn a_clean_up_that_finishes_within_the_grace_period_is_not_cut_short() {
    run(async {
        let t0 = now();
        let scope = wait_for(
            async {
                let r = sleep(secs(10)).await;
                sleep(ms(300)).await.unwrap();
                r
            },
            secs(1),
        )
        .cleanup_grace(ms(500));
        let e = elapsed(scope.await);
        assert!(!e.cut_short());
        assert_eq!(e.cleanup(), ms(300));
        assert_eq!(since(t0), ms(1300));
    });
}

// ---------------------------------------------------------------------------
// shield

// mirrors test_waitfor.py::WaitForShieldTests::test_shielded_timeout
#[test]
fn wait_for_a_shielded_task_times_out_and_leaves_the_task_running() {
    run(async {
        let t0 = now();
        let mut task: Task<&str> = spawn(async {
            sleep(ms(100)).await.unwrap();
            "done"
        });
        let e = elapsed(wait_for(shield(&mut task), ms(10)).await);
        assert_eq!(e.cleanup(), Duration::ZERO);
        assert_eq!(since(t0), ms(10));
        assert!(!task.is_done());
        assert_eq!(task.cancelling(), 0, "the shield kept the request away");
        assert_eq!(me().cancelling(), 0);
        assert_eq!(task.await.unwrap(), "done");
        assert_eq!(since(t0), ms(100));
    });
}

// mirrors test_waitfor.py::test_wait_for_race_condition (the awaited plain
// future does not complete in time: asyncio-semantics §1.4 "for an awaited
// plain Future, it is simply cancelled")
#[test]
fn a_promise_that_is_not_set_in_time_is_cancelled_by_the_timeout() {
    run(async {
        let t0 = now();
        let promise = Promise::<&str>::new();
        let resolver = promise.resolver();
        let e = elapsed(wait_for(promise, ms(100)).await);
        assert_eq!(e.cleanup(), Duration::ZERO);
        assert_eq!(since(t0), ms(100));
        assert!(resolver.is_cancelled());
        assert_eq!(
            resolver.set_result("late"),
            Err("late"),
            "the value is not lost"
        );
    });
}
