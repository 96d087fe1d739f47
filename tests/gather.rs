//! `gather`: asyncio's `asyncio.gather(*aws, return_exceptions=)`, ported from
//! CPython 3.13's `Lib/test/test_asyncio/test_tasks.py` (`GatherTestsBase`,
//! `FutureGatherTests`, `CoroutineGatherTests`, `test_cancel_gather_*`).
//!
//! asyncio → Rust: the gathered futures are tasks awaiting [`Promise`]s (what
//! `CoroutineGatherTests.wrap_futures` does); a child "raising" is a child
//! panicking (its output type is the value, so an `Err` output is a value);
//! `return_exceptions=True` is [`gather_outcomes`]. Every test runs on the
//! virtual clock.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use taskloop::{
    Cancelled, Promise, Resolver, Task, TaskError, TaskRef, current_task, gather, gather_outcomes,
    spawn,
    time::{now, sleep},
    yield_now,
};
use util::yield_n;
use util::{ms, run, since};

/// A task awaiting a fresh promise, and the promise's resolver: asyncio's
/// `coro(fut)` wrapping of a future. A negative value makes the child panic
/// (asyncio: `set_exception`); cancelling the resolver makes it return 0,
/// so cancel the *task* to cancel the child.
fn child() -> (Task<i32>, Resolver<i32>) {
    let promise = Promise::<i32>::new();
    let resolver = promise.resolver();
    let task = spawn(async move {
        let Ok(v) = promise.await else {
            // The promise or the task was cancelled; in the latter case the
            // task ends cancelled whatever it returns.
            return 0;
        };
        if v < 0 {
            panic!("error {v}");
        }
        v
    });
    (task, resolver)
}

fn children(n: usize) -> (Vec<Task<i32>>, Vec<Resolver<i32>>, Vec<TaskRef>) {
    let (tasks, resolvers): (Vec<_>, Vec<_>) = (0..n).map(|_| child()).unzip();
    let refs = tasks.iter().map(|t| t.as_task_ref().clone()).collect();
    (tasks, resolvers, refs)
}

/// Counts the turns of the loop, to check that something did not suspend.
fn turn_counter() -> (Task<()>, Rc<Cell<u32>>) {
    let turns = Rc::new(Cell::new(0));
    let t = turns.clone();
    let task = spawn(async move {
        loop {
            t.set(t.get() + 1);
            if yield_now().await.is_err() {
                return;
            }
        }
    });
    (task, turns)
}

// ---------------------------------------------------------------------------
// Results

// mirrors test_tasks.py::GatherTestsBase::test_success
#[test]
fn gather_returns_results_in_argument_order_not_completion_order() {
    run(async {
        let (tasks, r, _) = children(3);
        let gatherer = spawn(gather(tasks));
        yield_n(2).await;
        r[1].set_result(1).unwrap();
        r[0].set_result(2).unwrap();
        yield_n(5).await;
        assert!(!gatherer.is_done(), "c is still pending");
        r[2].set_result(3).unwrap();
        assert_eq!(util::join_soon(gatherer).await.unwrap().unwrap(), [2, 1, 3]);
    });
}

// mirrors test_tasks.py::GatherTestsBase::test_result_exception_success
#[test]
fn gather_outcomes_of_successful_children_are_all_ok_in_argument_order() {
    run(async {
        let (tasks, r, _) = children(3);
        let gatherer = spawn(gather_outcomes(tasks));
        yield_n(2).await;
        r[1].set_result(1).unwrap();
        r[0].set_result(2).unwrap();
        yield_n(5).await;
        assert!(!gatherer.is_done());
        r[2].set_result(3).unwrap();
        let out = util::join_soon(gatherer).await.unwrap().unwrap();
        let values: Vec<i32> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, [2, 1, 3]);
    });
}

// asyncio: `gather(a, b, c)` of heterogeneous awaitables; the tuple macro
#[test]
fn gather_macro_gives_a_tuple_of_different_types_in_argument_order() {
    run(async {
        let t0 = now();
        let number = spawn(async {
            sleep(ms(30)).await.unwrap();
            7u8
        });
        let text = spawn(async {
            sleep(ms(10)).await.unwrap();
            "seven"
        });
        let fallible = spawn(async {
            sleep(ms(20)).await.unwrap();
            Err::<(), _>(String::from("an Err output is a value, not a failure"))
        });
        let (n, s, e) = taskloop::gather!(number, text, fallible).await.unwrap();
        assert_eq!((n, s), (7, "seven"));
        assert!(e.is_err());
        assert_eq!(since(t0), ms(30));

        // A panic fails the tuple like it fails `gather`.
        let ok = spawn(async { sleep(ms(50)).await.map(|_| 1) });
        let bad = spawn(async {
            sleep(ms(10)).await.unwrap();
            if true {
                panic!("bad tuple member");
            }
            'x'
        });
        let err = taskloop::gather!(ok, bad).await.unwrap_err();
        assert_eq!(err.panic_message(), Some("bad tuple member"));
        assert_eq!(since(t0), ms(40));
    });
}

// mirrors test_tasks.py::FutureGatherTests::test_constructor_empty_sequence_use_running_loop
#[test]
fn gather_of_nothing_is_an_empty_vec_without_suspending() {
    run(async {
        let (counter, turns) = turn_counter();
        yield_n(1).await;
        let before = turns.get();
        assert_eq!(
            gather(Vec::<Task<u8>>::new()).await.unwrap(),
            Vec::<u8>::new()
        );
        assert!(
            gather_outcomes(Vec::<Task<u8>>::new())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(turns.get(), before, "nothing else ran");
        counter.cancel();
    });
}

// asyncio-semantics §1.7: children already done → outer is already
// complete when gather returns, for results, failures and
// return_exceptions=True alike (verified on 3.13)
#[test]
fn gather_over_children_already_done_is_ready_without_suspending() {
    run(async {
        let a = spawn(async { 1 });
        let b = spawn(async { 2 });
        let c = spawn(async { 3 });
        let d = spawn(async { 4 });
        let p: Task<i32> = spawn(async { panic!("already failed") });
        let q = spawn(async { 5 });
        let (counter, turns) = turn_counter();
        yield_n(1).await;
        assert!(a.is_done() && b.is_done() && p.is_done());
        let before = turns.get();

        assert_eq!(gather([a, b]).await.unwrap(), [1, 2]);
        let outcomes = gather_outcomes([c, p]).await.unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap(), &3);
        assert!(outcomes[1].as_ref().unwrap_err().is_panic());
        assert_eq!(taskloop::gather!(d, q).await.unwrap(), (4, 5));
        assert_eq!(turns.get(), before, "no gather suspended");
        counter.cancel();
    });
}

// asyncio-semantics §1.0/§1.7 and the mapping's "awaiting a task that is
// already done: the value wins and the request waits for the next
// checkpoint" (verified on 3.13: gather gave [1, 2], the next sleep raised)
#[test]
fn gather_over_children_already_done_keeps_their_values_and_leaves_a_pending_cancel() {
    run(async {
        let t = spawn(async {
            let a = spawn(async { 1 });
            let b = spawn(async { 2 });
            yield_now().await.unwrap();
            assert!(a.is_done() && b.is_done());
            current_task().unwrap().cancel();
            let values = gather([a, b]).await.expect("the values win");
            assert_eq!(values, [1, 2]);
            assert_eq!(
                yield_now().await,
                Err(Cancelled),
                "the cancellation waited for the next checkpoint"
            );
        });
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------------------
// Failures

// mirrors test_tasks.py::GatherTestsBase::test_one_exception; asyncio-semantics
// §1.7 "the other children are not cancelled and keep running" (verified)
#[test]
fn gather_fails_at_once_with_the_first_failure_and_the_siblings_keep_running() {
    run(async {
        let (tasks, r, refs) = children(5);
        let gatherer = spawn(gather(tasks));
        yield_n(2).await;
        r[0].set_result(1).unwrap();
        r[1].set_result(-1).unwrap(); // the child panics
        let err = util::join_soon(gatherer).await.unwrap().unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("error -1"));
        for sibling in &refs[2..] {
            assert!(!sibling.is_done());
            assert_eq!(sibling.cancelling(), 0, "gather cancelled no sibling");
        }

        // "Does nothing": the siblings finish on their own.
        r[2].set_result(3).unwrap();
        r[3].cancel();
        r[4].set_result(-2).unwrap();
        yield_n(3).await;
        assert!(refs[2].is_done() && !refs[2].is_cancelled() && !refs[2].is_panicked());
        assert!(
            refs[3].is_done() && !refs[3].is_cancelled(),
            "it saw its promise cancelled"
        );
        assert!(refs[4].is_panicked());
    });
}

// mirrors test_tasks.py::GatherTestsBase::test_return_exceptions
#[test]
fn gather_outcomes_collects_panics_in_argument_order_once_every_child_is_done() {
    run(async {
        let (tasks, r, _) = children(4);
        let gatherer = spawn(gather_outcomes(tasks));
        yield_n(2).await;
        r[1].set_result(1).unwrap();
        r[2].set_result(-1).unwrap();
        r[0].set_result(3).unwrap();
        yield_n(5).await;
        assert!(!gatherer.is_done(), "d is still pending");
        r[3].set_result(-2).unwrap();
        let out = util::join_soon(gatherer).await.unwrap().unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap(), &3);
        assert_eq!(out[1].as_ref().unwrap(), &1);
        assert_eq!(
            out[2].as_ref().unwrap_err().panic_message(),
            Some("error -1")
        );
        assert_eq!(
            out[3].as_ref().unwrap_err().panic_message(),
            Some("error -2")
        );
    });
}

// mirrors test_tasks.py::FutureGatherTests::test_result_exception_one_cancellation
#[test]
fn gather_outcomes_lists_cancelled_children_as_cancelled_errors() {
    run(async {
        let (tasks, r, refs) = children(6);
        let gatherer = spawn(gather_outcomes(tasks));
        yield_n(2).await;
        r[0].set_result(1).unwrap();
        r[1].set_result(-1).unwrap();
        refs[2].cancel();
        yield_n(5).await;
        assert!(!gatherer.is_done());
        r[3].set_result(3).unwrap();
        refs[4].cancel();
        r[5].set_result(-2).unwrap();
        let out = util::join_soon(gatherer).await.unwrap().unwrap();
        let shape: Vec<&str> = out
            .iter()
            .map(|o| match o {
                Ok(_) => "ok",
                Err(e) if e.is_cancelled() => "cancelled",
                Err(_) => "panic",
            })
            .collect();
        assert_eq!(
            shape,
            ["ok", "panic", "cancelled", "ok", "cancelled", "panic"]
        );
        assert_eq!(out[3].as_ref().unwrap(), &3);
    });
}

// mirrors test_tasks.py::FutureGatherTests::test_one_cancellation
#[test]
fn gather_fails_with_a_cancelled_error_when_one_child_is_cancelled_without_cancelling_the_caller() {
    run(async {
        let (tasks, r, refs) = children(5);
        let gatherer = spawn(async move {
            let err = gather(tasks).await.unwrap_err();
            assert!(err.is_cancelled());
            let me = current_task().unwrap();
            assert_eq!(me.cancelling(), 0);
            // The caller is not cancelled: its next checkpoint passes.
            yield_now().await.expect("the caller was not cancelled");
            err
        });
        yield_n(2).await;
        r[0].set_result(1).unwrap();
        refs[1].cancel();
        let err = util::join_soon(gatherer)
            .await
            .expect("the gatherer was not cancelled");
        assert!(err.is_cancelled());
        // "Does nothing".
        assert!(refs[2..].iter().all(|t| !t.is_done()));
        r[2].set_result(3).unwrap();
        refs[3].cancel();
        r[4].set_result(-1).unwrap();
        yield_n(3).await;
        assert!(refs[3].is_cancelled() && refs[4].is_panicked());
    });
}

// ---------------------------------------------------------------------------
// Cancelling the task that awaits gather

// mirrors test_tasks.py::CoroutineGatherTests::test_cancellation_broadcast
#[test]
fn cancelling_the_task_awaiting_gather_cancels_every_child() {
    run(async {
        let proof = Rc::new(Cell::new(0));
        let waiters: Vec<Promise<()>> = (0..2).map(|_| Promise::new()).collect();
        let resolvers: Vec<Resolver<()>> = waiters.iter().map(Promise::resolver).collect();
        let kids: Vec<Task<Result<(), Cancelled>>> = waiters
            .into_iter()
            .map(|w| {
                let p = proof.clone();
                spawn(async move {
                    w.await?;
                    p.set(p.get() + 1);
                    Ok(())
                })
            })
            .collect();
        let refs: Vec<TaskRef> = kids.iter().map(|t| t.as_task_ref().clone()).collect();
        let p = proof.clone();
        let outer = spawn(async move {
            let r = gather(kids).await;
            if r.is_ok() {
                p.set(p.get() + 100);
            }
            r
        });
        yield_n(2).await;
        assert!(outer.cancel());
        assert!(util::join_soon(outer).await.unwrap_err().is_cancelled());
        assert!(resolvers.iter().all(Resolver::is_cancelled));
        assert!(refs.iter().all(TaskRef::is_cancelled));
        yield_n(1).await;
        assert_eq!(proof.get(), 0);
    });
}

// asyncio-semantics §1.7: "With return_exceptions=False, the first child
// CancelledError finishes outer" (before the slower clean-ups end)
#[test]
fn cancelled_gather_returns_when_the_first_child_ends_cancelled() {
    run(async {
        let t0 = now();
        let fast = spawn(async { sleep(Duration::from_secs(10)).await });
        let slow = spawn(async {
            if sleep(Duration::from_secs(10)).await.is_err() {
                // A clean-up that takes a while.
                let me = current_task().unwrap();
                me.uncancel();
                sleep(Duration::from_secs(1)).await.unwrap();
                me.cancel();
                yield_now().await?;
            }
            Ok(())
        });
        let slow_ref = slow.as_task_ref().clone();
        let outer = spawn(gather([fast, slow]));
        sleep(ms(100)).await.unwrap();
        outer.cancel();
        assert!(outer.await.unwrap_err().is_cancelled());
        assert_eq!(since(t0), ms(100));
        assert!(!slow_ref.is_done(), "still cleaning up");
        sleep(Duration::from_secs(2)).await.unwrap();
        assert!(slow_ref.is_cancelled());
    });
}

// regression: bpo-32684 (gather(return_exceptions=True) cancelled must raise
// CancelledError, even if every child swallowed the cancellation)
#[test]
fn cancelled_gather_outcomes_is_cancelled_even_if_every_child_swallowed_it() {
    run(async {
        let t0 = now();
        let swallower = |d: u64| {
            spawn(async move {
                match sleep(Duration::from_secs(d)).await {
                    Ok(()) => "slept",
                    Err(Cancelled) => {
                        current_task().unwrap().uncancel();
                        sleep(ms(200)).await.unwrap();
                        "swallowed"
                    }
                }
            })
        };
        let kids = vec![swallower(10), swallower(20)];
        let refs: Vec<TaskRef> = kids.iter().map(|t| t.as_task_ref().clone()).collect();
        let outer = spawn(gather_outcomes(kids));
        sleep(ms(100)).await.unwrap();
        outer.cancel();
        let r = outer.await;
        assert!(
            r.unwrap_err().is_cancelled(),
            "the caller saw its own cancellation"
        );
        assert_eq!(since(t0), ms(300), "after every child finished");
        assert!(refs.iter().all(|t| t.is_done() && !t.is_cancelled()));
    });
}

// mirrors test_tasks.py::test_cancel_gather_2 (a task looping over gather is
// cancelled at its gather, and the cancellation reaches the caller)
#[test]
fn a_task_looping_over_gather_outcomes_is_cancelled_at_its_gather() {
    run(async {
        let t0 = now();
        let looping = spawn(async {
            let mut time = 0;
            loop {
                time += 50;
                let sleeper = spawn(async { sleep(ms(50)).await });
                gather_outcomes([sleeper]).await?;
                if time > 1000 {
                    return Ok::<_, Cancelled>(());
                }
            }
        });
        sleep(ms(200)).await.unwrap();
        looping.cancel();
        let err: TaskError = looping.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(since(t0), ms(200));
    });
}
