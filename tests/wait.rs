//! `wait`: asyncio's `asyncio.wait(fs, timeout=, return_when=)`, ported from
//! CPython 3.13's `Lib/test/test_asyncio/test_tasks.py` (the `test_wait_*`
//! tests) and the historical bugs about it.
//!
//! asyncio → Rust: a task "raising" is a task returning `Err(_)` (its output
//! is [`Fallible`]) or panicking; `done`/`pending` are `Vec`s in input order
//! instead of sets. Every test runs on the virtual clock.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use taskloop::{
    Cancelled, ReturnWhen, Task, TaskRef, WaitError, Waitable, current_task, spawn,
    time::{now, sleep},
    wait, yield_now,
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

/// A value handed from one task to another.
type Shared<T> = Rc<RefCell<Option<T>>>;

/// The ids of some handles, to compare partitions.
fn ids<W: Waitable>(ws: &[W]) -> Vec<u64> {
    ws.iter().map(|w| w.task_ref().id().as_u64()).collect()
}

fn id<W: Waitable>(w: &W) -> u64 {
    w.task_ref().id().as_u64()
}

// ---------------------------------------------------------------------------
// ALL_COMPLETED

// mirrors test_tasks.py::test_wait
#[test]
fn wait_all_completed_returns_when_the_last_task_finishes_and_again_at_once() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), "a");
        let b = sleeper(ms(150), "b");

        let w = wait([&b, &a], None, ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&b), id(&a)], "done keeps input order");
        assert!(w.pending.is_empty());
        assert_eq!(since(t0), ms(150));

        // Doing it again takes no time (the tasks are done).
        let w = wait([&b, &a], None, ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert_eq!(w.done.len(), 2);
        assert!(w.pending.is_empty());
        assert_eq!(since(t0), ms(150));
        assert_eq!(a.result().unwrap().unwrap(), &Ok("a"));
        assert_eq!(b.result().unwrap().unwrap(), &Ok("b"));
    });
}

// mirrors test_tasks.py::test_wait_generator / test_wait_with_iterator_of_tasks
#[test]
fn wait_accepts_an_iterator_of_owned_tasks_and_gives_them_back() {
    run(async {
        let tasks = (0..10u32).map(|i| spawn(async move { i }));
        let w = wait(tasks, None, ReturnWhen::AllCompleted).await.unwrap();
        assert_eq!(w.done.len(), 10);
        assert!(w.pending.is_empty());
        let values: Vec<u32> = w
            .done
            .into_iter()
            .map(|mut t| t.take_result().unwrap().unwrap())
            .collect();
        assert_eq!(values, (0..10).collect::<Vec<_>>());
    });
}

// mirrors test_tasks.py::test_wait_with_exception
#[test]
fn wait_all_completed_keeps_waiting_past_a_failure_and_reports_it_in_done() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), ());
        let b = spawn(async {
            sleep(ms(150)).await?;
            Err::<(), _>(std::io::Error::other("really"))
        });
        let w = wait(
            [a.as_task_ref().clone(), b.as_task_ref().clone()],
            None,
            ReturnWhen::AllCompleted,
        )
        .await
        .unwrap();
        assert_eq!(w.done.len(), 2);
        assert!(w.pending.is_empty());
        assert_eq!(since(t0), ms(150));
        let failed = [
            b.result().unwrap().unwrap().is_err(),
            a.result().unwrap().unwrap().is_err(),
        ];
        assert_eq!(failed, [true, false]);
    });
}

// ---------------------------------------------------------------------------
// FIRST_COMPLETED

// mirrors test_tasks.py::test_wait_first_completed
#[test]
fn wait_first_completed_returns_as_soon_as_one_task_finishes() {
    run(async {
        let t0 = now();
        let a = sleeper(Duration::from_secs(10), "a");
        let b = sleeper(ms(100), "b");
        let w = wait([&b, &a], None, ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&b)]);
        assert_eq!(ids(&w.pending), [id(&a)]);
        assert!(!a.is_done());
        assert!(b.is_done());
        assert_eq!(b.result().unwrap().unwrap(), &Ok("b"));
        assert_eq!(since(t0), ms(100));

        // The pending task was not touched and finishes on its own.
        let w = wait([&a, &b], None, ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert_eq!(w.done.len(), 2);
        assert_eq!(a.result().unwrap().unwrap(), &Ok("a"));
        assert_eq!(since(t0), Duration::from_secs(10));
    });
}

// asyncio-semantics §1.5: FIRST_COMPLETED fires on any completion, including
// a cancellation (verified on 3.13)
#[test]
fn wait_first_completed_counts_a_cancelled_task_as_completed() {
    run(async {
        let t0 = now();
        let a = sleeper(Duration::from_secs(10), "a");
        let b = sleeper(Duration::from_secs(10), "b");
        let a_ref = a.as_task_ref().clone();
        let _canceller = spawn(async move {
            sleep(ms(5)).await?;
            a_ref.cancel();
            Ok::<_, Cancelled>(())
        });
        let w = wait([&a, &b], None, ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&a)]);
        assert!(a.is_cancelled());
        assert_eq!(ids(&w.pending), [id(&b)]);
        assert_eq!(since(t0), ms(5));
    });
}

// mirrors test_tasks.py::test_wait_really_done: the split into done and
// pending is taken when `wait` resumes, so `done` holds every task finished
// by then, not only the one that triggered the return
#[test]
fn wait_first_completed_reports_every_task_done_by_the_time_it_resumes() {
    run(async {
        let a = spawn(async {
            yield_now().await?;
            Ok::<_, Cancelled>("a")
        });
        let b = spawn(async {
            yield_now().await?;
            Ok::<_, Cancelled>("b")
        });
        let w = wait([&b, &a], None, ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&b), id(&a)]);
        assert!(w.pending.is_empty());
        assert_eq!(a.result().unwrap().unwrap(), &Ok("a"));
        assert_eq!(b.result().unwrap().unwrap(), &Ok("b"));
    });
}

// ---------------------------------------------------------------------------
// FIRST_EXCEPTION

// mirrors test_tasks.py::test_wait_first_exception
#[test]
fn wait_first_exception_returns_at_once_when_a_task_has_already_failed() {
    run(async {
        let t0 = now();
        let a = sleeper(Duration::from_secs(10), ());
        let b = spawn(async { Err::<(), _>("err") });
        let w = wait([&b as &dyn Waitable, &a], None, ReturnWhen::FirstException)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&b)]);
        assert_eq!(ids(&w.pending), [id(&a)]);
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_tasks.py::test_wait_first_exception_in_wait, and
// asyncio-semantics §1.5 "cancelled inputs do not trigger it" (verified)
#[test]
fn wait_first_exception_fires_on_an_err_output_or_a_panic_but_not_on_a_cancellation() {
    run(async {
        let t0 = now();
        // An `Err` output is a failure.
        let slow = sleeper(Duration::from_secs(10), ());
        let cancelled = sleeper(Duration::from_secs(10), ());
        let failing = spawn(async {
            sleep(ms(10)).await?;
            Err::<(), _>(std::io::Error::other("ZeroDivisionError"))
        });
        let c_ref = cancelled.as_task_ref().clone();
        let _canceller = spawn(async move {
            sleep(ms(5)).await?;
            c_ref.cancel();
            Ok::<_, Cancelled>(())
        });
        let w = wait(
            [&slow as &dyn Waitable, &cancelled, &failing],
            None,
            ReturnWhen::FirstException,
        )
        .await
        .unwrap();
        assert_eq!(since(t0), ms(10), "the cancellation at 5 ms did not count");
        assert!(cancelled.is_cancelled());
        assert_eq!(ids(&w.done), [id(&cancelled), id(&failing)]);
        assert_eq!(ids(&w.pending), [id(&slow)]);

        // A panic is a failure too.
        let panicking = spawn(async {
            sleep(ms(20)).await.unwrap();
            if true {
                panic!("boom");
            }
        });
        let w = wait(
            [&slow as &dyn Waitable, &panicking],
            None,
            ReturnWhen::FirstException,
        )
        .await
        .unwrap();
        assert_eq!(since(t0), ms(30));
        assert_eq!(ids(&w.done), [id(&panicking)]);
        assert_eq!(ids(&w.pending), [id(&slow)]);
        assert_eq!(
            panicking.result().unwrap().unwrap_err().panic_message(),
            Some("boom")
        );
    });
}

// asyncio docs: "If no future raises an exception then it is equivalent to
// ALL_COMPLETED"
#[test]
fn wait_first_exception_without_any_failure_waits_for_every_task() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), 1);
        let b = sleeper(ms(300), 2);
        let w = wait([&a, &b], None, ReturnWhen::FirstException)
            .await
            .unwrap();
        assert_eq!(w.done.len(), 2);
        assert!(w.pending.is_empty());
        assert_eq!(since(t0), ms(300));
    });
}

// ---------------------------------------------------------------------------
// Timeout

// mirrors test_tasks.py::test_wait_with_timeout / test_wait_concurrent_complete;
// regression: bpo-23859 (wait never cancels on timeout)
#[test]
fn wait_with_a_timeout_returns_done_and_pending_and_cancels_nothing() {
    run(async {
        let t0 = now();
        let a = sleeper(ms(100), "a");
        let b = sleeper(ms(150), "b");
        let w = wait([&b, &a], ms(110), ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&a)]);
        assert_eq!(ids(&w.pending), [id(&b)]);
        assert_eq!(since(t0), ms(110));
        assert!(!b.is_done());
        assert_eq!(b.cancelling(), 0, "the timeout cancelled nothing");

        drop(w);
        assert_eq!(b.await.unwrap(), Ok("b"));
        assert_eq!(since(t0), ms(150));
    });
}

// asyncio-semantics §1.5: `timeout=0` returns after one or more iterations,
// with the already finished futures in `done` (verified on 3.13)
#[test]
fn wait_with_a_zero_timeout_returns_after_one_turn_with_the_finished_tasks_done() {
    run(async {
        let t0 = now();
        let finished = spawn(async { 3 });
        let slow = sleeper(Duration::from_secs(5), ());
        yield_n(1).await; // `finished` runs
        assert!(finished.is_done());

        let other_ran = Rc::new(Cell::new(false));
        let flag = other_ran.clone();
        spawn(async move { flag.set(true) });
        let w = wait(
            [finished.as_task_ref().clone(), slow.as_task_ref().clone()],
            Duration::ZERO,
            ReturnWhen::AllCompleted,
        )
        .await
        .unwrap();
        assert!(other_ran.get(), "wait suspended for at least one turn");
        assert_eq!(w.done, [finished.as_task_ref().clone()]);
        assert_eq!(w.pending, [slow.as_task_ref().clone()]);
        assert_eq!(since(t0), Duration::ZERO);
        assert!(!slow.is_done());
    });
}

// ---------------------------------------------------------------------------
// Inputs

// mirrors test_tasks.py::test_wait_errors (the empty set is a ValueError)
#[test]
fn wait_on_an_empty_set_is_an_error_at_once_instead_of_hanging() {
    run(async {
        let t0 = now();
        let r = wait(Vec::<Task<()>>::new(), None, ReturnWhen::AllCompleted).await;
        assert!(matches!(r, Err(WaitError::Empty)), "{r:?}");
        let r = wait(
            std::iter::empty::<TaskRef>(),
            ms(10),
            ReturnWhen::FirstCompleted,
        )
        .await;
        assert!(matches!(r, Err(WaitError::Empty)), "{r:?}");
        assert_eq!(since(t0), Duration::ZERO);
    });
}

// mirrors test_tasks.py::test_wait_duplicate_coroutines
#[test]
fn wait_counts_a_task_listed_twice_once() {
    run(async {
        let c = spawn(async { "test" });
        let d = spawn(async { "spam" });
        let w = wait([&c, &c, &d], None, ReturnWhen::AllCompleted)
            .await
            .unwrap();
        assert_eq!(ids(&w.done), [id(&c), id(&d)]);
        assert!(w.pending.is_empty());
    });
}

// API: tasks of different output types are waited on together as `TaskRef`s
// (asyncio's sets of heterogeneous futures); there only panics are failures
#[test]
fn wait_mixes_tasks_of_different_output_types_through_task_refs() {
    run(async {
        let t0 = now();
        let number = sleeper(ms(10), 7u32);
        let text = spawn(async {
            sleep(ms(30)).await?;
            Ok::<_, Cancelled>(String::from("text"))
        });
        let failing = spawn(async {
            sleep(ms(20)).await.map_err(|c| c.to_string())?;
            Err::<(), String>("failed".into())
        });
        let refs = [
            number.as_task_ref().clone(),
            text.as_task_ref().clone(),
            failing.as_task_ref().clone(),
        ];

        let w = wait(refs.clone(), None, ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!(w.done, [refs[0].clone()]);
        assert_eq!(since(t0), ms(10));

        // Through a `TaskRef` the `Err` output is not visible: only a panic
        // would be a failure, so FIRST_EXCEPTION waits for all.
        let w = wait(refs.clone(), None, ReturnWhen::FirstException)
            .await
            .unwrap();
        assert_eq!(w.done.len(), 3);
        assert_eq!(since(t0), ms(30));

        assert_eq!(number.await.unwrap(), Ok(7));
        assert_eq!(text.await.unwrap().unwrap(), "text");
        assert_eq!(failing.await.unwrap(), Err("failed".to_owned()));
    });
}

// ---------------------------------------------------------------------------
// Cancellation and suspension

// mirrors test_tasks.py::test_yield_wait_does_not_shield_cancel;
// regression: bpo-23859 (wait never cancels its inputs)
#[test]
fn cancelling_the_waiting_task_gives_back_every_handle_and_cancels_nothing() {
    run(async {
        let proof = Rc::new(Cell::new(0));
        let returned: Shared<Task<Result<(), Cancelled>>> = Rc::default();

        let p = proof.clone();
        let inner = spawn(async move {
            sleep(ms(100)).await?;
            p.set(p.get() + 1);
            Ok::<_, Cancelled>(())
        });
        let (p, back) = (proof.clone(), returned.clone());
        let outer = spawn(async move {
            match wait([inner], None, ReturnWhen::AllCompleted).await {
                Err(WaitError::Cancelled(mut w)) => {
                    assert!(w.done.is_empty());
                    assert_eq!(w.pending.len(), 1);
                    *back.borrow_mut() = w.pending.pop();
                    Err(Cancelled)
                }
                Ok(_) => {
                    p.set(p.get() + 100);
                    Ok(())
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        });
        yield_n(2).await;
        assert!(outer.cancel());
        assert!(outer.await.unwrap_err().is_cancelled());

        let inner = returned.borrow_mut().take().expect("the handle came back");
        assert!(!inner.is_done());
        assert_eq!(inner.cancelling(), 0, "wait did not pass the cancel on");
        assert_eq!(inner.await.unwrap(), Ok(()));
        assert_eq!(proof.get(), 1);
    });
}

// asyncio-semantics §1.5: wait always suspends at least once, even if every
// input is already done (verified on 3.13); the second half of
// test_tasks.py::test_wait exercises that path
#[test]
fn wait_suspends_once_even_when_every_task_is_already_done() {
    run(async {
        let a = spawn(async { 1 });
        let b = spawn(async { 2 });
        yield_n(1).await;
        assert!(a.is_done() && b.is_done());

        let turns = Rc::new(Cell::new(0));
        let t = turns.clone();
        let counter = spawn(async move {
            loop {
                t.set(t.get() + 1);
                if yield_now().await.is_err() {
                    return;
                }
            }
        });
        let w = wait([&a, &b], None, ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!(w.done.len(), 2);
        assert!(
            turns.get() >= 1,
            "the counter task ran while wait was suspended"
        );
        counter.cancel();
    });
}

// asyncio-semantics §1.5 "wait is a coroutine": a cancellation pending
// before wait is delivered there, since it always suspends
#[test]
fn wait_delivers_a_pending_cancellation_even_if_every_task_is_done() {
    run(async {
        let done_task = spawn(async { 5 });
        yield_n(1).await;
        let waiter = spawn(async move {
            current_task().unwrap().cancel();
            match wait([&done_task], None, ReturnWhen::AllCompleted).await {
                Err(WaitError::Cancelled(w)) => {
                    assert_eq!(w.done.len(), 1);
                    Err::<(), _>(Cancelled)
                }
                other => panic!("unexpected {:?}", other.map(|w| w.done.len())),
            }
        });
        assert!(waiter.await.unwrap_err().is_cancelled());
    });
}
