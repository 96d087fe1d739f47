//! Await sites in task dumps: each suspended task names the `.await` it is
//! parked at (the source location of the runtime checkpoint, captured with
//! `#[track_caller]`) and what it waits on.
//!
//! Every spawn below is written on one line with its `line!()`, so the
//! expected site is that line of this file.

mod util;

use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use taskloop::sync::{Event, Lock, Queue, Semaphore};
use taskloop::{
    BoxError, Runtime, TaskDump, TaskInfo, TaskState, WaitsOn, cancellable, spawn_named, time,
    wait_for, yield_now,
};

/// The dump entry named `name`, wherever it is in the tree.
fn find<'a>(dump: &'a TaskDump, name: &str) -> &'a TaskInfo {
    fn walk<'a>(tasks: &'a [TaskInfo], name: &str) -> Option<&'a TaskInfo> {
        tasks.iter().find_map(|t| {
            (t.name == name)
                .then_some(t)
                .or_else(|| walk(&t.children, name))
        })
    }
    walk(dump.tasks(), name).unwrap_or_else(|| panic!("no task {name} in\n{dump}"))
}

/// Asserts that `name` is suspended at `line` of this file, on `on`.
#[track_caller]
fn assert_site(dump: &TaskDump, name: &str, line: u32, on: WaitsOn) {
    let t = find(dump, name);
    let site = t
        .await_site
        .unwrap_or_else(|| panic!("{name} has no await site in\n{dump}"));
    assert_eq!(
        (site.file(), site.line()),
        (file!(), line),
        "{name}'s site in\n{dump}"
    );
    assert_eq!(t.waits_on, Some(on), "{name} in\n{dump}");
    let text = dump.to_string();
    assert!(
        text.contains(&format!("at {}:{line}:", file!())),
        "the tree prints {name}'s site:\n{text}"
    );
}

fn runtime() -> Runtime {
    util::init_logger();
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
#[rustfmt::skip]
fn timers_and_sync_primitives_name_the_await_of_the_user() {
    runtime().block_on(async {
        let ev = Rc::new(Event::new());
        let lock = Rc::new(Lock::new(0));
        let sem = Rc::new(Semaphore::new(0));
        let queue = Rc::new(Queue::<u32>::new());
        let _held = lock.try_acquire().unwrap();

        let (l_sleep, _s) = (line!(), spawn_named("sleeper", async { time::sleep(Duration::from_secs(5)).await }));
        let e = ev.clone();
        let (l_event, _e) = (line!(), spawn_named("event", async move { e.wait().await }));
        let l2 = lock.clone();
        let (l_lock, _l) = (line!(), spawn_named("lock", async move { l2.acquire().await.map(drop) }));
        let s2 = sem.clone();
        let (l_sem, _m) = (line!(), spawn_named("sem", async move { s2.acquire().await.map(drop) }));
        let q2 = queue.clone();
        let (l_queue, _q) = (line!(), spawn_named("queue", async move { q2.get().await.map(drop) }));
        yield_now().await?;

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "sleeper", l_sleep, WaitsOn::Timer);
        assert_site(&dump, "event", l_event, WaitsOn::Sync);
        assert_site(&dump, "lock", l_lock, WaitsOn::Sync);
        assert_site(&dump, "sem", l_sem, WaitsOn::Sync);
        assert_site(&dump, "queue", l_queue, WaitsOn::Sync);
        assert_eq!(find(&dump, "event").state, TaskState::Waiting);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn a_task_awaiting_a_handle_waits_on_that_task() {
    runtime().block_on(async {
        let worker = spawn_named("worker", time::sleep(Duration::from_secs(60)));
        let id = worker.id();
        let (l_join, _j) = (line!(), spawn_named("joiner", async move { worker.await.map(drop) }));
        let other = spawn_named("other", time::sleep(Duration::from_secs(60)));
        let other_id = other.id();
        let (l_wait_for, _w) = (line!(), spawn_named("bounded", async move { wait_for(other, Duration::from_secs(30)).await.map(drop) }));
        yield_now().await?;

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "joiner", l_join, WaitsOn::Task(id));
        assert_site(&dump, "bounded", l_wait_for, WaitsOn::Task(other_id));
        assert!(dump.to_string().contains(&format!("on task #{id}")));
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn combinators_wait_on_tasks_and_a_yield_leaves_the_task_ready() {
    runtime().block_on(async {
        let a = taskloop::spawn(time::sleep(Duration::from_secs(60)));
        let b = taskloop::spawn(time::sleep(Duration::from_secs(60)));
        let (l_gather, _g) = (line!(), spawn_named("gatherer", async move { taskloop::gather([a, b]).await.map(drop) }));
        let (l_yield, _y) = (line!(), spawn_named("yielder", async { loop { yield_now().await? } #[allow(unreachable_code)] Ok::<_, taskloop::Cancelled>(()) }));
        yield_now().await?;

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "gatherer", l_gather, WaitsOn::Tasks);
        assert_site(&dump, "yielder", l_yield, WaitsOn::Yield);
        assert_eq!(find(&dump, "yielder").state, TaskState::Ready);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn foreign_futures_are_named_as_such_with_or_without_cancellable() {
    runtime().block_on(async {
        let (l_wrapped, _c) = (line!(), spawn_named("wrapped", async { cancellable(pending::<()>()).await }));
        let _raw = spawn_named("raw", pending::<()>());
        let _fresh = spawn_named("fresh", pending::<()>());
        yield_now().await?;
        let _new = spawn_named("new", pending::<()>());

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "wrapped", l_wrapped, WaitsOn::Foreign);
        let raw = find(&dump, "raw");
        assert_eq!(raw.await_site, None, "no checkpoint parked");
        assert_eq!(raw.waits_on, Some(WaitsOn::Unknown));
        let new = find(&dump, "new");
        assert_eq!(new.state, TaskState::NotStarted);
        assert_eq!((new.await_site, new.waits_on), (None, None));
        let main = find(&dump, "Task-1");
        assert_eq!(main.state, TaskState::Running);
        assert_eq!((main.await_site, main.waits_on), (None, None));
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn the_site_follows_the_task_from_await_to_await() {
    runtime().block_on(async {
        let ev = Rc::new(Event::new());
        let e = ev.clone();
        let first = line!() + 3;
        let second = line!() + 3;
        let _t = spawn_named("stepper", async move {
            e.wait().await?;
            time::sleep(Duration::from_secs(1)).await
        });
        yield_now().await?;
        assert_site(&taskloop::dump(), "stepper", first, WaitsOn::Sync);
        ev.set();
        yield_now().await?;
        assert_site(&taskloop::dump(), "stepper", second, WaitsOn::Timer);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn channels_barriers_and_conditions_are_sync_primitives() {
    runtime().block_on(async {
        let (_tx, mut rx) = taskloop::sync::mpsc::channel::<u32>(1);
        let (_otx, orx) = taskloop::sync::oneshot::channel::<u32>();
        let barrier = Rc::new(taskloop::sync::Barrier::new(2));
        let cond = Rc::new(taskloop::sync::Condition::new());
        let lock = Rc::new(Lock::new(false));
        let (l_mpsc, _a) = (line!(), spawn_named("mpsc", async move { rx.recv().await.map(drop) }));
        let (l_oneshot, _b) = (line!(), spawn_named("oneshot", async move { orx.await.map(drop) }));
        let b2 = barrier.clone();
        let (l_barrier, _c) = (line!(), spawn_named("barrier", async move { b2.wait().await.map(drop) }));
        let (c2, lk) = (cond.clone(), lock.clone());
        let (l_cond, _d) = (line!(), spawn_named("cond", async move { let g = lk.acquire().await.map_err(drop)?; c2.wait(g).await.map(drop).map_err(drop) }));
        yield_now().await?;

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "mpsc", l_mpsc, WaitsOn::Sync);
        assert_site(&dump, "oneshot", l_oneshot, WaitsOn::Sync);
        assert_site(&dump, "barrier", l_barrier, WaitsOn::Sync);
        assert_site(&dump, "cond", l_cond, WaitsOn::Sync);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn blocking_jobs_and_sockets_name_the_call_of_the_crate_function() {
    runtime().block_on(async {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (l_thread, job) = (line!(), spawn_named("offload", async move { taskloop::to_thread(move || gate.recv()).await.map(drop) }));
        let listener = taskloop::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = taskloop::net::TcpStream::connect(addr).await?;
        let (_server, _) = listener.accept().await?;
        let (l_read, _r) = (line!(), spawn_named("reader", async move { let mut buf = [0u8; 8]; client.read(&mut buf).await.map(drop) }));
        let (l_accept, _l) = (line!(), spawn_named("acceptor", async move { listener.accept().await.map(drop) }));
        yield_now().await?;

        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "offload", l_thread, WaitsOn::Blocking);
        assert_site(&dump, "reader", l_read, WaitsOn::Io);
        assert_site(&dump, "acceptor", l_accept, WaitsOn::Io);
        release.send(()).unwrap();
        job.await??;
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
#[rustfmt::skip]
fn a_group_waits_on_its_children_at_its_own_line_and_its_body_at_the_body_s() {
    runtime().block_on(async {
        let ev = Rc::new(Event::new());
        let e = ev.clone();
        let (l_group, _g) = (line!(), spawn_named("supervisor", async move { taskloop::task_group(|tg| async move {
            tg.spawn_named("child", time::sleep(Duration::from_secs(60)))?;
            let l_body = line!(); e.wait().await?;
            Ok::<_, BoxError>(l_body)
        }).await }));
        yield_now().await?;
        yield_now().await?;
        let dump = taskloop::dump();
        println!("{dump}");
        // The body is parked at its own await, inside the group.
        assert_site(&dump, "supervisor", l_group + 2, WaitsOn::Sync);
        assert_eq!(find(&dump, "child").waits_on, Some(WaitsOn::Timer));

        // Once the body is done, the group's end waits on the child.
        ev.set();
        yield_now().await?;
        let dump = taskloop::dump();
        println!("{dump}");
        assert_site(&dump, "supervisor", l_group, WaitsOn::Tasks);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
fn an_awaited_task_is_shown_under_its_awaiter_and_a_cycle_breaks_nowhere() {
    runtime()
        .block_on(async {
            let worker = spawn_named("worker", time::sleep(Duration::from_secs(60)));
            let _joiner = spawn_named("joiner", async move { worker.await.map(drop) });
            // Two tasks awaiting each other (a deadlock): both still in the dump.
            let (tx, rx) = taskloop::sync::oneshot::channel::<taskloop::Task<()>>();
            let a = spawn_named("a", async move {
                let b = rx.await.unwrap().unwrap();
                b.await.unwrap();
            });
            let a_ref = a.as_task_ref().clone();
            let b = spawn_named("b", async move { a.await.unwrap() });
            let _ = tx.send(b);
            yield_now().await?;
            yield_now().await?;

            let dump = taskloop::dump();
            println!("{dump}");
            let roots: Vec<_> = dump.tasks().iter().map(|t| t.name.as_str()).collect();
            assert!(
                !roots.contains(&"worker"),
                "worker is under joiner:\n{dump}"
            );
            let joiner = find(&dump, "joiner");
            assert_eq!(joiner.children.len(), 1);
            assert_eq!(joiner.children[0].name, "worker");
            assert_eq!(dump.len(), 5);
            // Every task is reached from a root.
            fn count(ts: &[TaskInfo]) -> usize {
                ts.iter().map(|t| 1 + count(&t.children)).sum()
            }
            assert_eq!(count(dump.tasks()), dump.len(), "{dump}");
            assert!(find(&dump, "a").waits_on.is_some());
            a_ref.cancel();
            Ok::<_, BoxError>(())
        })
        .unwrap();
}
