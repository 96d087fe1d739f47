//! `as_completed`: asyncio 3.13's `asyncio.as_completed(fs, timeout=)` in
//! both forms, ported from CPython 3.13's
//! `Lib/test/test_asyncio/test_tasks.py` (the `test_as_completed_*` tests).
//!
//! asyncio → Rust: `async for t in as_completed(fs)` is
//! `while let Some(t) = it.next().await` (the original handles); plain
//! `for f in as_completed(fs): await f` is `for f in it.results()` (one boxed
//! future per input, each giving the *next* outcome in completion order).
//! `TimeoutError` is `NextError::TimedOut(handle)` / `AsCompletedError::TimedOut`.
//! Every test runs on the virtual clock.

mod util;

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use taskloop::{
    AsCompletedError, Cancelled, NextError, NextResult, ReturnWhen, Task, TaskRef, as_completed,
    current_task, spawn,
    time::{now, sleep},
    wait,
};
use util::yield_n;
use util::{ms, run, since};

/// A task that sleeps `d` and then returns `v` (or `Err(Cancelled)`).
fn sleeper<T: 'static>(d: Duration, v: T) -> Task<Result<T, Cancelled>> {
    spawn(async move {
        sleep(d).await?;
        Ok(v)
    })
}

/// The value of one `results()` outcome of a `sleeper`.
fn value<T>(r: NextResult<Result<T, Cancelled>>) -> T {
    r.expect("no timeout")
        .expect("the task did not fail")
        .expect("the task was not cancelled")
}

// ---------------------------------------------------------------------------
// Completion order

// mirrors test_tasks.py::test_as_completed (try_async_iterator)
#[test]
fn as_completed_async_iteration_yields_tasks_in_completion_order() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(10), 'a');
        let b = sleeper(ms(20), 'b');
        let c = sleeper(ms(150), 'c');
        let mut it = as_completed([b, c, a], None);
        assert_eq!(it.remaining(), 3);
        let mut order = Vec::new();
        while let Some(task) = it.next().await {
            let task = task.unwrap();
            assert!(task.is_done());
            order.push((task.await.unwrap().unwrap(), since(t0)));
        }
        assert_eq!(order, [('a', ms(10)), ('b', ms(20)), ('c', ms(150))]);
        assert_eq!(it.remaining(), 0);
        assert!(it.next().await.is_none(), "exhausted for good");
    });
}

// mirrors test_tasks.py::test_as_completed (try_iterator)
#[test]
fn as_completed_plain_iteration_gives_results_in_completion_order() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(10), 'a');
        let b = sleeper(ms(20), 'b');
        let c = sleeper(ms(150), 'c');
        let mut values = Vec::new();
        for f in as_completed([b, c, a], None).results() {
            values.push(value(f.await));
        }
        assert_eq!(values, ['a', 'b', 'c']);
        assert_eq!(since(t0), ms(150));
    });
}

// regression: gh-77714 (3.13's async iteration yields the inputs themselves)
// mirrors test_tasks.py::test_as_completed_same_tasks_in_as_out
#[test]
fn as_completed_async_iteration_yields_the_same_handles_that_went_in() {
    run(async {
        let tasks: Vec<Task<u32>> = (0..4).map(|i| spawn(async move { i })).collect();
        let refs: Vec<TaskRef> = tasks.iter().map(|t| t.as_task_ref().clone()).collect();

        // Borrowed handles come back as the same borrows.
        let mut out = Vec::new();
        let mut it = as_completed(&tasks, None);
        while let Some(t) = it.next().await {
            let t: &Task<u32> = t.unwrap();
            assert!(tasks.iter().any(|x| std::ptr::eq(x, t)));
            out.push(t.as_task_ref().clone());
        }
        out.sort_by_key(|t| t.id());
        assert_eq!(out, refs);

        // Owned handles come back themselves, outcome untouched.
        let mut it = as_completed(tasks, None);
        let mut values = Vec::new();
        while let Some(t) = it.next().await {
            let t = t.unwrap();
            assert!(refs.contains(t.as_task_ref()));
            values.push(t.await.unwrap());
        }
        values.sort_unstable();
        assert_eq!(values, [0, 1, 2, 3]);
    });
}

// asyncio-semantics §1.6 plain iteration: awaiting a yielded object
// "returns that input's result or raises its exception"
#[test]
fn as_completed_results_give_each_outcome_including_panics_and_cancellations() {
    run(async {
        let ok = sleeper(ms(10), 1);
        let panicking: Task<Result<i32, Cancelled>> = spawn(async {
            sleep(ms(20)).await?;
            panic!("ZeroDivisionError")
        });
        let cancelled = sleeper(ms(100), 3);
        let c = cancelled.as_task_ref().clone();
        spawn(async move {
            sleep(ms(30)).await?;
            c.cancel();
            Ok::<_, Cancelled>(())
        });
        let mut outcomes = Vec::new();
        for f in as_completed([cancelled, panicking, ok], None).results() {
            outcomes.push(f.await.expect("no timeout"));
        }
        assert_eq!(outcomes[0].as_ref().unwrap(), &Ok(1));
        let e = outcomes[1].as_ref().unwrap_err();
        assert_eq!(e.panic_message(), Some("ZeroDivisionError"));
        assert!(outcomes[2].as_ref().unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Timeout

// mirrors test_tasks.py::test_as_completed_with_timeout (try_async_iterator);
// regression: gh-99933 (pending inputs are not cancelled on timeout)
#[test]
fn as_completed_timeout_reports_timed_out_with_the_pending_handles_and_cancels_nothing() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), 'a');
        let b = sleeper(ms(150), 'b');
        let b_ref = b.as_task_ref().clone();
        let mut it = as_completed([a, b], ms(120));

        let first = it.next().await.unwrap().unwrap();
        assert_eq!(first.await.unwrap(), Ok('a'));
        assert_eq!(since(t0), ms(100));

        let b = match it.next().await {
            Some(Err(NextError::TimedOut(b))) => b,
            other => panic!("expected a timeout, got {other:?}"),
        };
        assert_eq!(since(t0), ms(120));
        assert_eq!(b.as_task_ref(), &b_ref);
        assert!(!b.is_done());
        assert_eq!(b.cancelling(), 0, "the timeout cancelled nothing");
        assert!(it.next().await.is_none());

        assert_eq!(b.await.unwrap(), Ok('b'));
        assert_eq!(since(t0), ms(150));
    });
}

// mirrors test_tasks.py::test_as_completed_with_timeout (try_iterator)
#[test]
fn as_completed_results_after_the_timeout_are_timed_out_errors() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), 'a');
        let b = sleeper(ms(150), 'b');
        let b_ref = b.as_task_ref().clone();
        let mut values = Vec::new();
        for f in as_completed([a, b], ms(120)).results() {
            values.push(f.await.map(|r| r.unwrap().unwrap()));
        }
        assert_eq!(values, [Ok('a'), Err(AsCompletedError::TimedOut)]);
        assert_eq!(since(t0), ms(120));
        assert!(!b_ref.is_done() && b_ref.cancelling() == 0);
    });
}

// mirrors test_tasks.py::test_as_completed_with_unused_timeout
#[test]
fn as_completed_with_an_unused_timeout_yields_every_task() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(10), 'a');
        let mut it = as_completed([a], Duration::from_secs(1));
        let t = it.next().await.unwrap().unwrap();
        assert_eq!(t.await.unwrap(), Ok('a'));
        assert!(it.next().await.is_none());
        assert_eq!(since(t0), ms(10));

        let a = sleeper(ms(10), 'a');
        let values: Vec<_> = {
            let mut v = Vec::new();
            for f in as_completed([a], Duration::from_secs(1)).results() {
                v.push(value(f.await));
            }
            v
        };
        assert_eq!(values, ['a']);
    });
}

// asyncio-semantics §1.6: on timeout the callbacks are removed and one
// sentinel per remaining input is queued (verified on 3.13: a task that
// finishes after the timeout, before the consumer asks, is a TimeoutError)
#[test]
fn as_completed_reports_a_task_finishing_after_the_timeout_as_timed_out_even_if_asked_later() {
    run(async {
        let a = sleeper(Duration::from_secs(2), 'a');
        let mut it = as_completed([a], Duration::from_secs(1));
        sleep(Duration::from_secs(3)).await.unwrap(); // busy past both
        match it.next().await {
            Some(Err(NextError::TimedOut(a))) => assert!(a.is_done()),
            Some(Ok(_)) => panic!("the task finished after the timeout: it must be TimedOut"),
            other => panic!("unexpected {other:?}"),
        }
    });
}

// ---------------------------------------------------------------------------
// Inputs

// asyncio-semantics §1.6: "Empty input produces no items and starts no timer"
#[test]
fn as_completed_of_nothing_yields_nothing_at_once() {
    run(async {
        let t0 = now();
        let mut it = as_completed(Vec::<Task<()>>::new(), Duration::from_secs(5));
        assert_eq!(it.remaining(), 0);
        assert!(it.next().await.is_none());
        assert_eq!(
            as_completed(Vec::<Task<()>>::new(), None).results().count(),
            0
        );
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_tasks.py::test_as_completed_duplicate_coroutines
#[test]
fn as_completed_deduplicates_a_task_listed_twice() {
    run(async {
        let c = spawn(async { "ham" });
        let d = spawn(async { "spam" });
        let mut it = as_completed([&c, &c, &d], None);
        assert_eq!(it.remaining(), 2);
        let mut names = Vec::new();
        while let Some(t) = it.next().await {
            names.push(t.unwrap().name());
        }
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);

        let c = spawn(async { "ham" });
        let d = spawn(async { "spam" });
        let cc = c.as_task_ref().clone();
        // Owned handles cannot be listed twice; `TaskRef` clones can.
        let mut it = as_completed([cc.clone(), cc, d.as_task_ref().clone()], None);
        assert_eq!(it.remaining(), 2);
        let mut n = 0;
        while it.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
        drop((c, d));
    });
}

// ---------------------------------------------------------------------------
// Resuming, plain-iteration order, concurrency

// mirrors test_tasks.py::test_as_completed_resume_iterator (try_async_iterator)
#[test]
fn as_completed_async_iteration_resumes_where_it_stopped_after_a_break() {
    run(async {
        let tasks = (0..4u64).map(|i| sleeper(ms(10 * (i + 1)), i));
        let mut it = as_completed(tasks, None);
        let mut collected = Vec::new();
        while let Some(t) = it.next().await {
            collected.push(t.unwrap().await.unwrap().unwrap());
            if collected.len() == 2 {
                break;
            }
        }
        assert_eq!(collected.len(), 2);
        assert_eq!(it.remaining(), 2);

        while let Some(t) = it.next().await {
            collected.push(t.unwrap().await.unwrap().unwrap());
        }
        assert_eq!(collected, [0, 1, 2, 3]);
    });
}

// mirrors test_tasks.py::test_as_completed_resume_iterator (try_iterator)
#[test]
fn as_completed_plain_iteration_resumes_where_it_stopped_after_a_break() {
    run(async {
        let tasks = (0..4u64).map(|i| sleeper(ms(10 * (i + 1)), i));
        let mut results = as_completed(tasks, None).results();
        assert_eq!(results.size_hint(), (4, Some(4)));
        let mut collected = Vec::new();
        for f in results.by_ref() {
            collected.push(value(f.await));
            if collected.len() == 2 {
                break;
            }
        }
        assert_eq!(results.size_hint(), (2, Some(2)));
        for f in results {
            collected.push(value(f.await));
        }
        assert_eq!(collected, [0, 1, 2, 3]);
    });
}

// mirrors test_tasks.py::test_as_completed_reverse_wait
#[test]
fn as_completed_results_awaited_in_reverse_still_come_in_completion_order() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(50), 'a');
        let b = sleeper(ms(100), 'b');
        let mut futs: Vec<_> = as_completed([a, b], None).results().collect();
        assert_eq!(futs.len(), 2);
        let second = futs.pop().unwrap();
        let first = futs.pop().unwrap();

        assert_eq!(value(second.await), 'a');
        assert_eq!(since(t0), ms(50));
        assert_eq!(value(first.await), 'b');
        assert_eq!(since(t0), ms(100));
    });
}

/// Polls every future of `futs` until all are ready, in one task.
async fn join_all<T>(mut futs: Vec<Pin<Box<dyn Future<Output = T>>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *o = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

// mirrors test_tasks.py::test_as_completed_concurrent, with both futures
// polled by one task
#[test]
fn as_completed_results_can_be_awaited_concurrently_in_one_task() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(50), 'a');
        let b = sleeper(ms(50), 'b');
        let futs: Vec<_> = as_completed([a, b], None).results().collect();
        let mut values: Vec<char> = join_all(futs).await.into_iter().map(value).collect();
        values.sort_unstable();
        assert_eq!(values, ['a', 'b']);
        assert_eq!(since(t0), ms(50));
    });
}

// mirrors test_tasks.py::test_as_completed_concurrent (each yielded
// awaitable wrapped in its own task with ensure_future, then waited on)
#[test]
fn as_completed_results_can_be_awaited_concurrently_from_separate_tasks() {
    run(async {
        let a = sleeper(ms(50), 'a');
        let b = sleeper(ms(50), 'b');
        let consumers: Vec<Task<char>> = as_completed([a, b], None)
            .results()
            .map(|f| spawn(async move { value(f.await) }))
            .collect();
        let w = wait(&consumers, Duration::from_secs(1), ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert!(w.pending.is_empty(), "a consumer was never woken");
        let mut values: Vec<char> = consumers
            .into_iter()
            .map(|mut t| t.take_result().unwrap().unwrap())
            .collect();
        values.sort_unstable();
        assert_eq!(values, ['a', 'b']);
    });
}

// ---------------------------------------------------------------------------
// Cancellation of the consumer

// asyncio-semantics §1.6 "Cancelling a consumer": taskloop's documented
// improvement: a cancelled `next` loses nothing (asyncio 3.13 uses the slot
// up, so its last input is never yielded; verified)
#[test]
fn cancelling_the_iterating_task_gives_next_error_cancelled_and_keeps_the_place() {
    run(async {
        let t0 = now();
        let a = sleeper(Duration::from_secs(1), 'a');
        let b = sleeper(Duration::from_secs(2), 'b');
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let l = log.clone();
        let consumer = spawn(async move {
            let mut it = as_completed([a, b], None);
            match it.next().await {
                Some(Err(NextError::Cancelled(Cancelled))) => {
                    l.borrow_mut()
                        .push(format!("cancelled, {} left", it.remaining()));
                }
                other => panic!("expected a cancellation, got {other:?}"),
            }
            // Swallow the cancellation (asyncio: catch CancelledError).
            assert_eq!(current_task().unwrap().uncancel(), 0);
            while let Some(t) = it.next().await {
                let v = t.unwrap().await.unwrap().unwrap();
                l.borrow_mut().push(format!("{v} at {:?}", since(t0)));
            }
        });
        sleep(ms(500)).await.unwrap();
        assert!(consumer.cancel());
        consumer.await.unwrap();
        assert_eq!(*log.borrow(), ["cancelled, 2 left", "a at 1s", "b at 2s"]);
    });
}

// asyncio-semantics §1.6 "Cancelling a consumer blocked in one yielded
// awaitable": the completed item stays queued, that future's slot is used up
#[test]
fn cancelling_a_task_awaiting_a_results_future_leaves_the_completion_for_the_next_one() {
    run(async {
        let t0 = now();
        let a = sleeper(Duration::from_secs(1), 'a');
        let b = sleeper(Duration::from_secs(2), 'b');
        let mut futs = as_completed([a, b], None).results();
        let first = futs.next().unwrap();
        let consumer = spawn(async move {
            match first.await {
                Err(AsCompletedError::Cancelled(_)) => Err::<(), _>(Cancelled),
                other => panic!("expected a cancellation, got {:?}", other.map(|_| ())),
            }
        });
        yield_n(1).await;
        sleep(ms(500)).await.unwrap();
        consumer.cancel();
        assert!(consumer.await.unwrap_err().is_cancelled());

        let second = futs.next().unwrap();
        assert_eq!(value(second.await), 'a');
        assert_eq!(since(t0), Duration::from_secs(1));
        assert!(
            futs.next().is_none(),
            "one future per input, and one was used up"
        );
    });
}
