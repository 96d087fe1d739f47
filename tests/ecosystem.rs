#![cfg(feature = "futures")]
//! Issue 9: the futures ecosystem's traits (the default `futures` feature).
//! `futures::select!` takes taskloop's futures without `.fuse()`, the
//! streams work with `StreamExt`, and `Spawner` is a `LocalSpawn`.

mod util;

use futures::StreamExt;
use futures::future::FusedFuture;
use futures::task::LocalSpawnExt;
use taskloop::time::{interval, sleep};
use taskloop::{Promise, Runtime, as_completed, spawn, wait_for, yield_now};
use util::{ms, run, secs, since};

#[test]
fn select_takes_sleeps_tasks_promises_yields_and_timeouts_without_fuse() {
    run(async {
        let t0 = taskloop::time::now();
        let mut short = sleep(ms(10));
        let mut long = sleep(secs(10));
        let mut task = spawn(async { sleep(ms(20)).await.map(|()| "task") });
        let mut promise = Promise::<&str>::new();
        let mut yielded = yield_now();
        let mut scoped = wait_for(sleep(ms(30)), secs(1));
        let mut order = Vec::new();
        for _ in 0..4 {
            futures::select! {
                r = short => { r.unwrap(); order.push("short") }
                r = long => { r.unwrap(); order.push("long") }
                r = task => { r.unwrap().unwrap(); order.push("task") }
                r = promise => { r.unwrap(); order.push("promise") }
                r = yielded => { r.unwrap(); order.push("yield") }
                r = scoped => { r.unwrap().unwrap(); order.push("timeout") }
            }
        }
        assert_eq!(order, ["yield", "short", "task", "timeout"]);
        assert!(short.is_terminated() && task.is_terminated() && scoped.is_terminated());
        assert!(!long.is_terminated() && !promise.is_terminated());
        assert_eq!(since(t0), ms(30));
    });
}

#[test]
fn an_interval_is_a_stream_of_due_instants() {
    run(async {
        let t0 = taskloop::time::now();
        let ticks: Vec<_> = interval(secs(1)).take(3).collect().await;
        let offsets: Vec<_> = ticks.into_iter().map(|t| t.unwrap() - t0).collect();
        assert_eq!(offsets, [secs(0), secs(1), secs(2)]);
    });
}

#[test]
fn as_completed_is_a_stream_in_completion_order() {
    run(async {
        let tasks = [3u64, 1, 2].map(|s| {
            spawn(async move {
                sleep(secs(s)).await.unwrap();
                s
            })
        });
        let stream = as_completed(tasks, None);
        assert_eq!(futures::Stream::size_hint(&stream), (3, Some(3)));
        let mut order = Vec::new();
        let mut stream = stream;
        while let Some(task) = stream.next().await {
            order.push(task.unwrap().await.unwrap());
        }
        assert!(futures::stream::FusedStream::is_terminated(&stream));
        assert_eq!(order, [1, 2, 3]);
    });
}

#[test]
fn a_spawner_is_a_local_spawn_for_the_ecosystems_helpers() {
    let rt = Runtime::new().unwrap();
    let spawner = rt.spawner();
    let handle = spawner.spawn_local_with_handle(async { 6 * 7 }).unwrap();
    assert_eq!(rt.block_on(handle), 42);
    rt.block_on(async {
        let inner = taskloop::Spawner::current().unwrap();
        inner.spawn_local(async {}).unwrap();
        yield_now().await.unwrap();
    });
    drop(rt);
    assert!(
        spawner.spawn_local(async {}).is_err(),
        "the runtime is gone"
    );
    assert!(!spawner.is_alive());
}
