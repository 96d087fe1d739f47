//! The runtime: `block_on`, `run`, `Runtime::spawn`, shutdown and drop,
//! panics of the main future, nesting, debug mode and scheduling order.
//!
//! "mirrors X" names the CPython test or asyncio rule a test comes from.

mod util;

use std::cell::{Cell, RefCell};
use std::future::pending;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use taskloop::{
    Builder, Cancelled, Promise, Runtime, TaskRef, all_tasks, current_task, spawn, try_spawn,
    yield_now,
};
use util::{Counters, DropFlag, block_on, panic_message, with_runtime, yield_n};

/// The task being polled.
fn me() -> TaskRef {
    current_task().expect("not inside a task")
}

type Log = Rc<RefCell<Vec<String>>>;

fn new_log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, event: impl Into<String>) {
    log.borrow_mut().push(event.into());
}

/// A task body that waits forever, then (once cancelled) runs a clean-up of
/// three yields and records it.
async fn worker(log: Log, name: &'static str) -> Result<(), Cancelled> {
    let r = Promise::<()>::new().await;
    push(&log, format!("{name} cancelled"));
    yield_n(3).await;
    push(&log, format!("{name} cleaned up"));
    r
}

// ---------------------------------------------------------------------------
// block_on

// mirrors asyncio's loop.run_until_complete: returns the coroutine's result
#[test]
fn block_on_returns_the_output_of_the_main_future() {
    with_runtime(|rt| {
        assert_eq!(rt.block_on(async { 40 + 2 }), 42);
        let out = rt.block_on(async {
            let t = spawn(async { "from a task" });
            t.await.unwrap()
        });
        assert_eq!(out, "from a task");
    });
}

// Runtime::block_on docs: the main future need not be 'static
#[test]
fn block_on_accepts_a_future_that_borrows_locals() {
    let mut total = 0;
    let words = ["a".to_string(), "bb".to_string()];
    with_runtime(|rt| {
        let lens = rt.block_on(async {
            yield_now().await.unwrap();
            total += 10;
            words.iter().map(String::len).collect::<Vec<_>>()
        });
        assert_eq!(lens, [1, 2]);
    });
    assert_eq!(total, 10);
}

// asyncio rule: run_until_complete() inside a running loop raises
// RuntimeError ("This event loop is already running")
#[test]
fn block_on_inside_a_running_runtime_panics_with_a_message_naming_block_on() {
    block_on(async {
        let inner = Runtime::new().unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| inner.block_on(async { 1 }))).unwrap_err();
        let msg = panic_message(&*payload).unwrap();
        assert!(msg.contains("block_on"), "{msg}");
        // The outer loop is unharmed.
        assert_eq!(spawn(async { 2 }).await.unwrap(), 2);
    });
}

// same rule, seen through the panic payload of the task that tried it
#[test]
fn block_on_inside_a_spawned_task_makes_that_task_panic_with_a_message_naming_block_on() {
    block_on(async {
        let task = spawn(async { Runtime::new().unwrap().block_on(async { 1 }) });
        let err = task.await.unwrap_err();
        assert!(err.is_panic());
        let msg = err.panic_message().unwrap();
        assert!(msg.contains("block_on"), "{msg}");
    });
}

// mirrors asyncio.run's "cannot be called from a running event loop"
#[test]
fn run_inside_a_running_runtime_panics() {
    block_on(async {
        let payload = catch_unwind(|| taskloop::run(async { 1 })).unwrap_err();
        let msg = panic_message(&*payload).unwrap();
        assert!(msg.contains("block_on"), "{msg}");
    });
}

// Runtime::block_on docs: the main future's panic is resumed by block_on
// (asyncio: run_until_complete re-raises the coroutine's exception)
#[test]
fn a_panic_of_the_main_future_is_resumed_by_block_on_and_the_runtime_stays_usable() {
    with_runtime(|rt| {
        let bystander = rt.spawn(async {
            yield_n(5).await;
            "survived"
        });
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                yield_now().await.unwrap();
                if true {
                    panic!("main failed");
                }
            })
        }))
        .unwrap_err();
        assert_eq!(panic_message(&*payload), Some("main failed"));
        assert_eq!(rt.block_on(async { 2 }), 2);
        assert_eq!(rt.block_on(bystander).unwrap(), "survived");
    });
}

// Runtime::block_on docs: the main task always runs and keeps its output,
// even if it was cancelled (asyncio.run's main task can catch the error)
#[test]
fn the_main_task_keeps_its_output_when_it_is_cancelled() {
    with_runtime(|rt| {
        let out = rt.block_on(async {
            me().cancel();
            let r = yield_now().await;
            ("kept", r)
        });
        assert_eq!(out, ("kept", Err(Cancelled)));

        // The documented `?` pattern: the cancellation shows in the output.
        let out: std::io::Result<()> = rt.block_on(async {
            me().cancel();
            yield_now().await?;
            Ok(())
        });
        assert!(taskloop::is_cancelled(&out.unwrap_err()));
    });
}

// Flags::MAIN: unlike other tasks, the main task runs even if cancelled
// before its first poll (block_on must return a value)
#[test]
fn the_main_task_cancelled_before_its_first_poll_still_runs() {
    with_runtime(|rt| {
        let canceller = rt.spawn(async {
            // Runs before the main task (spawned earlier), which is registered.
            let main = all_tasks().into_iter().find(|t| *t != me()).unwrap();
            assert!(main.cancel());
            main.id().as_u64()
        });
        let out = rt.block_on(async {
            let first = yield_now().await;
            (me().id().as_u64(), me().cancelling(), first)
        });
        assert_eq!(out, (2, 1, Err(Cancelled)));
        assert_eq!(rt.block_on(canceller).unwrap(), 2);
    });
}

// ---------------------------------------------------------------------------
// spawn outside a runtime

// spawn() docs: panics outside a runtime, pointing at taskloop::run
#[test]
fn spawn_outside_a_runtime_panics_with_a_message_naming_taskloop_run() {
    let payload = catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = panic_message(&*payload).unwrap();
    assert!(msg.contains("taskloop::run"), "{msg}");
}

// try_spawn() docs
#[test]
fn try_spawn_outside_a_runtime_returns_an_error_and_inside_one_spawns() {
    let flag = DropFlag::new();
    let guard = flag.guard();
    let err = try_spawn(async move { drop(guard) }).unwrap_err();
    assert!(flag.is_dropped(), "the refused future is dropped");
    assert!(err.to_string().contains("taskloop::run"), "{err}");
    block_on(async {
        let task = try_spawn(async { 3 }).expect("inside a runtime");
        assert_eq!(task.await.unwrap(), 3);
    });
}

// Runtime::spawn docs: spawned from outside, it starts at the next block_on
#[test]
fn runtime_spawn_before_block_on_runs_at_the_next_block_on_before_the_main_task() {
    with_runtime(|rt| {
        let log = new_log();
        let counters = Counters::new();
        let l = log.clone();
        let task = rt.spawn(counters.wrap(async move {
            push(&l, "spawned task");
            7
        }));
        assert_eq!(counters.polls(), 0, "nothing runs outside block_on");
        assert!(!task.is_done());
        let l = log.clone();
        rt.block_on(async move {
            push(&l, "main task");
        });
        assert_eq!(
            *log.borrow(),
            ["spawned task", "main task"],
            "FIFO: spawned first"
        );
        assert_eq!(task.id().as_u64(), 1);
        assert_eq!(rt.block_on(task).unwrap(), 7);
    });
}

// Runtime::block_on docs: tasks still pending when the main task ends stay
// in the runtime and a later block_on resumes them
#[test]
fn tasks_left_pending_by_block_on_resume_at_the_next_block_on() {
    with_runtime(|rt| {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        // The main future returns the handle: the task outlives this block_on.
        #[allow(clippy::async_yields_async)]
        let task = rt.block_on(async move {
            spawn(async move {
                for _ in 0..10 {
                    s.set(s.get() + 1);
                    yield_now().await.unwrap();
                }
            })
        });
        let before = steps.get();
        assert!(before < 10);
        assert!(!task.is_done());
        rt.block_on(task).unwrap();
        assert_eq!(steps.get(), 10);
    });
}

// ---------------------------------------------------------------------------
// Dropping the runtime, run() and shutdown()

// Runtime docs: dropping the runtime drops every task's future (destructors
// run) and the handles report the tasks as cancelled
#[test]
fn dropping_the_runtime_drops_pending_futures_and_their_handles_report_cancelled() {
    let never_started = DropFlag::new();
    let waiting = DropFlag::new();
    let scheduled = DropFlag::new();
    let (g1, g2, g3) = (never_started.guard(), waiting.guard(), scheduled.guard());
    let counters = Counters::new();
    let rt = Runtime::new().unwrap();
    let t_waiting = rt.spawn(async move {
        let _g = g2;
        Promise::<()>::new().await
    });
    let t_scheduled = rt.spawn(async move {
        let _g = g3;
        loop {
            yield_now().await.unwrap();
        }
    });
    rt.block_on(yield_n(2));
    let t_never = rt.spawn(counters.wrap(async move { drop(g1) }));
    assert!(!waiting.is_dropped() && !scheduled.is_dropped() && !never_started.is_dropped());

    drop(rt);
    assert!(never_started.is_dropped());
    assert!(waiting.is_dropped());
    assert!(scheduled.is_dropped());
    assert_eq!(counters.polls(), 0);
    for t in [
        t_waiting.as_task_ref(),
        t_scheduled.as_task_ref(),
        t_never.as_task_ref(),
    ] {
        assert!(t.is_done());
        assert!(t.is_cancelled());
        assert!(!t.cancel());
    }
    assert!(t_waiting.result().unwrap().unwrap_err().is_cancelled());

    // Awaiting a handle of the dropped runtime in another runtime.
    let other = Runtime::new().unwrap();
    assert!(other.block_on(t_waiting).unwrap_err().is_cancelled());
    assert!(other.block_on(t_never).unwrap_err().is_cancelled());
    drop(t_scheduled);
}

/// Records what the runtime API looks like from a destructor.
struct ProbeOnDrop {
    current: Rc<Cell<Option<u64>>>,
    spawned_cancelled: Rc<Cell<Option<bool>>>,
}

impl Drop for ProbeOnDrop {
    fn drop(&mut self) {
        self.current.set(current_task().map(|t| t.id().as_u64()));
        let spawned = try_spawn(async {}).map(|t| t.is_cancelled());
        self.spawned_cancelled.set(spawned.ok());
    }
}

// Runtime::drop: destructors run inside the runtime's context (current_task
// is the task being dropped); tasks spawned from them are cancelled at once
#[test]
fn destructors_run_by_the_runtime_drop_see_their_task_and_may_spawn() {
    let current = Rc::new(Cell::new(None));
    let spawned_cancelled = Rc::new(Cell::new(None));
    let probe = ProbeOnDrop {
        current: current.clone(),
        spawned_cancelled: spawned_cancelled.clone(),
    };
    let rt = Runtime::new().unwrap();
    let task = rt.spawn(async move {
        let _probe = probe;
        pending::<()>().await
    });
    rt.block_on(yield_n(1));
    drop(rt);
    assert_eq!(current.get(), Some(task.id().as_u64()));
    assert_eq!(spawned_cancelled.get(), Some(true));
}

// task docs: an aborted task's destructors run as the task
#[test]
fn destructors_run_by_abort_see_their_task_as_current() {
    block_on(async {
        let current = Rc::new(Cell::new(None));
        let spawned_cancelled = Rc::new(Cell::new(None));
        let probe = ProbeOnDrop {
            current: current.clone(),
            spawned_cancelled: spawned_cancelled.clone(),
        };
        let task = spawn(async move {
            let _probe = probe;
            pending::<()>().await
        });
        yield_n(1).await;
        task.abort();
        let id = task.id().as_u64();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(current.get(), Some(id));
        assert_eq!(
            spawned_cancelled.get(),
            Some(false),
            "a normal spawn in a running loop"
        );
    });
}

// a runtime created and dropped inside a task of another runtime still
// drops its own tasks
#[test]
fn a_runtime_dropped_inside_a_task_of_another_runtime_drops_its_tasks() {
    block_on(async {
        let flag = DropFlag::new();
        let guard = flag.guard();
        let inner = Runtime::new().unwrap();
        let task = inner.spawn(async move {
            let _g = guard;
            pending::<()>().await
        });
        drop(inner);
        assert!(flag.is_dropped());
        assert!(task.is_cancelled());
        assert_eq!(spawn(async { 1 }).await.unwrap(), 1);
    });
}

// mirrors test_runners.py::test_asyncio_run_cancels_hanging_tasks: after
// main, asyncio.run cancels the remaining tasks and waits for their clean-up
#[test]
fn run_cancels_still_pending_detached_tasks_and_waits_for_their_async_clean_up() {
    let log = new_log();
    let l = log.clone();
    let counters = Counters::new();
    let c = counters.clone();
    let out = taskloop::run(async move {
        drop(spawn(worker(l.clone(), "a")));
        drop(spawn(worker(l.clone(), "b")));
        yield_n(1).await; // both wait on their promises
        // Spawned but not started when main ends: cancelled before it runs.
        drop(spawn(c.wrap(async {})));
        "main done"
    });
    assert_eq!(out, "main done");
    assert_eq!(
        *log.borrow(),
        ["a cancelled", "b cancelled", "a cleaned up", "b cleaned up"]
    );
    assert_eq!((counters.polls(), counters.drops()), (0, 1));
}

// Runtime::shutdown docs: asyncio's Runner.close()
#[test]
fn shutdown_cancels_pending_tasks_and_waits_for_their_async_clean_up() {
    let log = new_log();
    let rt = Runtime::new().unwrap();
    let kept = rt.spawn(worker(log.clone(), "kept"));
    rt.block_on(async {
        drop(spawn(worker(log.clone(), "detached")));
        yield_n(1).await;
    });
    assert!(log.borrow().is_empty());
    rt.shutdown();
    assert_eq!(
        *log.borrow(),
        [
            "kept cancelled",
            "detached cancelled",
            "kept cleaned up",
            "detached cleaned up"
        ]
    );
    assert!(kept.is_cancelled());
    assert!(kept.result().unwrap().unwrap_err().is_cancelled());
}

// shutdown waits for clean-up that itself awaits other tasks
#[test]
fn shutdown_waits_for_clean_up_that_awaits_a_task_spawned_during_clean_up() {
    let log = new_log();
    let l = log.clone();
    let rt = Runtime::new().unwrap();
    rt.block_on(async move {
        drop(spawn(async move {
            let r = Promise::<()>::new().await;
            let flushed = spawn(async {
                yield_n(2).await;
                "flushed"
            })
            .await;
            push(&l, flushed.unwrap());
            r
        }));
        yield_n(1).await;
    });
    rt.shutdown();
    assert_eq!(*log.borrow(), ["flushed"]);
}

// ---------------------------------------------------------------------------
// Builder options

// Builder::debug docs (asyncio's debug mode): slow polls are logged, pending
// tasks are listed at drop; nothing else changes
#[test]
fn debug_mode_with_a_zero_slow_poll_threshold_runs_and_drops_normally() {
    util::init_logger();
    let rt = Builder::new()
        .debug(true)
        .slow_poll_threshold(Duration::ZERO)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let t = spawn(async {
            yield_n(2).await;
            5
        });
        drop(spawn(pending::<()>())); // still pending at drop: listed
        let failed = spawn(async {
            if true {
                panic!("in debug mode");
            }
        });
        assert!(failed.await.unwrap_err().is_panic());
        t.await.unwrap()
    });
    assert_eq!(out, 5);
    drop(rt);

    let rt = Runtime::builder().debug(true).build().unwrap();
    rt.shutdown();
}

// Builder::max_batch docs: values below 1 are taken as 1
#[test]
fn max_batch_of_zero_or_one_still_runs_every_task() {
    for n in [0, 1, 2] {
        let rt = Runtime::builder().max_batch(n).build().unwrap();
        let sum = rt.block_on(async {
            let tasks: Vec<_> = (1..=5u32)
                .map(|i| {
                    spawn(async move {
                        yield_n(i as usize).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 15, "max_batch({n})");
    }
}

// ---------------------------------------------------------------------------
// Scheduling order

// asyncio rule: call_soon is FIFO, so tasks doing `await sleep(0)` in a
// loop run round-robin in spawn order (test_base_events' ready-queue order)
#[test]
fn yield_now_round_robins_ready_tasks_in_fifo_order() {
    for max_batch in [128, 1] {
        let rt = Runtime::builder().max_batch(max_batch).build().unwrap();
        let order = rt.block_on(async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..3)
                .map(|i| {
                    let order = order.clone();
                    spawn(async move {
                        for round in 0..3 {
                            order.borrow_mut().push((i, round));
                            yield_now().await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            order.take()
        });
        let expected: Vec<_> = (0..3)
            .flat_map(|round| (0..3).map(move |i| (i, round)))
            .collect();
        assert_eq!(order, expected, "max_batch({max_batch})");
    }
}

// spawn() docs: the new task starts at a later turn, never inside spawn()
#[test]
fn spawn_never_runs_the_task_inline() {
    block_on(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = spawn(async move { r.set(true) });
        assert!(!ran.get());
        task.await.unwrap();
        assert!(ran.get());
    });
}

/// asyncio schedules a task's next step when its current step ends, so
/// every task it woke during that step runs first. Here a task wakes itself
/// (a yield) and then, in the same poll, wakes another task: the other
/// runs before the first resumes (the deferred self-wake of
/// `task/current.rs`).
#[test]
fn a_task_that_wakes_itself_then_another_in_one_poll_runs_after_the_other() {
    block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let ev = Rc::new(taskloop::sync::Event::new());
        let other = taskloop::spawn({
            let (ev, log) = (ev.clone(), log.clone());
            async move {
                ev.wait().await.unwrap();
                log.borrow_mut().push("other");
            }
        });
        taskloop::yield_now().await.unwrap(); // `other` now waits on the event
        let first = taskloop::spawn({
            let (ev, log) = (ev.clone(), log.clone());
            async move {
                // One poll: the yield wakes this task, then the set wakes `other`.
                let (a, ()) = futures::join!(taskloop::yield_now(), async { ev.set() });
                a.unwrap();
                log.borrow_mut().push("first");
            }
        });
        first.await.unwrap();
        other.await.unwrap();
        assert_eq!(*log.borrow(), ["other", "first"]);
    });
}
