//! Live task dumps (`Runtime::dump`, `taskloop::dump`): the pending tasks
//! as a tree, children of task groups under the task running the group,
//! printed like asyncio 3.14's `pstree`.

mod util;

use std::time::Duration;

use taskloop::{BoxError, Runtime, TaskState, spawn_named, task_group, time, yield_now};

#[test]
fn a_dump_shows_group_children_under_their_parent_with_state_and_cancelling() {
    util::init_logger();
    let rt = Runtime::builder()
        .virtual_time(true)
        .debug(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let idle = spawn_named("idle", time::sleep(Duration::from_secs(60)));
        let t0 = time::now();
        time::sleep(Duration::from_secs(2)).await.unwrap();
        let supervisor = spawn_named("supervisor", async {
            task_group(|tg| async move {
                tg.spawn_named("fetch", time::sleep(Duration::from_secs(10)))?;
                tg.spawn_named("parse", async {
                    // Ignores one cancellation, then waits again.
                    let _ = time::sleep(Duration::from_secs(10)).await;
                    time::sleep(Duration::from_secs(10)).await
                })?;
                time::sleep(Duration::from_secs(30)).await?;
                Ok::<_, BoxError>(())
            })
            .await
        });
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        let parse = taskloop::all_tasks()
            .into_iter()
            .find(|t| t.name() == "parse")
            .unwrap();
        parse.cancel();
        let dump = taskloop::dump();
        let text = dump.to_string();
        println!("{text}");
        assert_eq!(dump.len(), 5, "{text}");
        let names: Vec<_> = dump.tasks().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Task-1", "idle", "supervisor"], "roots by id");
        let main = &dump.tasks()[0];
        assert!(main.main);
        assert_eq!(main.state, TaskState::Running);
        assert_eq!(
            main.age,
            Some(Duration::from_secs(2)),
            "on the runtime's clock"
        );
        assert!(main.spawned_at.is_some());
        let sup = &dump.tasks()[2];
        assert_eq!(sup.state, TaskState::Waiting);
        let kids: Vec<_> = sup
            .children
            .iter()
            .map(|c| (c.name.as_str(), c.cancelling))
            .collect();
        assert_eq!(kids, [("fetch", 0), ("parse", 1)]);
        assert_eq!(dump.tasks()[1].age, Some(time::now() - t0));
        // pstree-like: children indented under the supervisor.
        assert!(
            text.starts_with("5 pending task(s)\n├── Task-1 (#1) [running] main"),
            "{text}"
        );
        assert!(text.contains("└── supervisor (#3) [waiting]"), "{text}");
        assert!(
            text.contains("\n    ├── fetch (#4) [waiting] on a timer, spawned at"),
            "{text}"
        );
        assert!(
            text.contains("\n    └── parse (#5) [ready, cancelling 1] at tests/dump.rs:28:"),
            "{text}"
        );
        idle.abort();
        supervisor.abort();
    });
}

#[test]
fn without_debug_mode_a_dump_has_no_spawn_sites_or_ages() {
    let rt = Runtime::new().unwrap();
    let t = rt.spawn(std::future::pending::<()>());
    let dump = rt.dump();
    assert_eq!(dump.len(), 1);
    let info = &dump.tasks()[0];
    assert_eq!(info.id, t.id());
    assert_eq!(info.state, TaskState::NotStarted);
    assert_eq!((info.age, info.spawned_at), (None, None));
    assert!(taskloop::dump().is_empty(), "outside a runtime: empty");
}
