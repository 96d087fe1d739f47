//! Debug mode (asyncio's `PYTHONASYNCIODEBUG`): slow polls (also while they
//! still run, from the watchdog thread) and tasks pending at shutdown are
//! reported through `log`, naming the task and where it was spawned. Also
//! asyncio's "Task exception was never retrieved".
//!
//! One test per process-wide logger: this file installs a capturing logger
//! once and serialises the tests that read it.

use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::Duration;

use taskloop::Runtime;

/// Every record logged in this process, as "LEVEL message".
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Notified at each record (a test waits for one from another thread).
static RECORDED: Condvar = Condvar::new();
/// Serialises the tests (they share the logger).
static SERIAL: Mutex<()> = Mutex::new(());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        RECORDS
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
        RECORDED.notify_all();
    }

    fn flush(&self) {}
}

/// Installs the logger and clears what earlier tests captured.
fn capture() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_boxed_logger(Box::new(Capture)).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    RECORDS.lock().unwrap().clear();
    guard
}

fn records() -> Vec<String> {
    RECORDS.lock().unwrap().clone()
}

/// Blocks until a record containing `what` was logged; returns it.
fn wait_for_record(what: &str) -> String {
    let records = RECORDS.lock().unwrap();
    let records = RECORDED
        .wait_while(records, |r| !r.iter().any(|r| r.contains(what)))
        .unwrap();
    records.iter().find(|r| r.contains(what)).unwrap().clone()
}

// asyncio debug mode: "Executing <Task ...> took 0.101 seconds"
#[test]
fn a_poll_longer_than_the_threshold_is_reported_with_the_task_name_and_spawn_site() {
    let _g = capture();
    let rt = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(5))
        .build()
        .unwrap();
    rt.block_on(async {
        let t = taskloop::spawn(async {
            // Blocks the loop: the very thing debug mode exists to catch.
            std::thread::sleep(Duration::from_millis(20));
        });
        t.set_name("blocker");
        t.await.unwrap();
    });
    let warnings: Vec<_> = records()
        .into_iter()
        .filter(|r| r.starts_with("WARN") && r.contains("blocked the loop"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("blocker"), "{}", warnings[0]);
    assert!(warnings[0].contains("tests/debug.rs"), "{}", warnings[0]);
}

// The issue's "a poll that never returns is reported while it is still
// running": the task blocks (a synchronous channel receive) until the
// watchdog's report has been logged, so the report cannot be after the fact.
#[test]
fn the_watchdog_reports_a_poll_that_has_not_returned_while_it_still_runs() {
    let _g = capture();
    let rt = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let (unblock, blocked) = std::sync::mpsc::channel::<()>();
    let releaser = std::thread::spawn(move || {
        let report = wait_for_record("without returning");
        unblock.send(()).unwrap();
        report
    });
    rt.block_on(async move {
        let t = taskloop::spawn(async move {
            // Never returns by itself: only the report above releases it.
            blocked.recv().unwrap();
        });
        t.set_name("stuck in recv");
        t.await.unwrap();
    });
    let report = releaser.join().unwrap();
    assert!(report.starts_with("WARN"), "{report}");
    assert!(
        report.contains("task stuck in recv (#2) spawned at tests/debug.rs:"),
        "{report}"
    );
    assert!(
        report.contains("has been running for") && report.contains("synchronous call"),
        "{report}"
    );
    let thread = std::thread::current().name().unwrap().to_owned();
    assert!(report.contains(&format!("on thread {thread}")), "{report}");
    let all = records();
    let watchdog: Vec<_> = all
        .iter()
        .filter(|r| r.contains("without returning"))
        .collect();
    assert_eq!(watchdog.len(), 1, "once per stuck poll: {all:#?}");
    // Once it returned, the after-the-fact warning too.
    let after: Vec<_> = all
        .iter()
        .filter(|r| r.contains("stuck in recv") && r.contains("blocked the loop"))
        .collect();
    assert_eq!(after.len(), 1, "{all:#?}");
}

#[test]
fn without_debug_mode_a_slow_poll_is_not_reported() {
    let _g = capture();
    let rt = Runtime::builder()
        .debug(false)
        .slow_poll_threshold(Duration::ZERO)
        .build()
        .unwrap();
    rt.block_on(async {
        std::thread::sleep(Duration::from_millis(2));
    });
    assert!(
        records().iter().all(|r| !r.contains("blocked the loop")),
        "{:?}",
        records()
    );
}

// asyncio debug mode lists pending tasks at close ("Task was destroyed but it
// is pending!")
#[test]
fn tasks_pending_when_the_runtime_is_dropped_are_listed_by_name() {
    let _g = capture();
    let rt = Runtime::builder().debug(true).build().unwrap();
    let t = rt.spawn(std::future::pending::<()>());
    t.set_name("forever");
    rt.block_on(taskloop::yield_now()).unwrap();
    drop(rt);
    let listed: Vec<_> = records()
        .into_iter()
        .filter(|r| r.contains("pending task"))
        .collect();
    assert_eq!(listed.len(), 1, "{:?}", records());
    assert!(listed[0].contains("forever"), "{}", listed[0]);
    assert!(t.is_cancelled());
}

// asyncio: "Task exception was never retrieved", logged when the task object
// is collected; here when its handle is dropped unlooked
#[test]
fn a_panic_nobody_looked_at_is_logged_at_error_level_naming_the_task() {
    let _g = capture();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let t = taskloop::spawn(async { panic!("boom") });
        t.set_name("doomed");
        while !t.is_done() {
            taskloop::yield_now().await.unwrap();
        }
        drop(t);
        // A panic that was looked at is not logged.
        let seen = taskloop::spawn(async { panic!("seen") });
        assert!(seen.await.unwrap_err().is_panic());
    });
    let errors: Vec<_> = records()
        .into_iter()
        .filter(|r| r.starts_with("ERROR") && r.contains("never retrieved"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("doomed"), "{}", errors[0]);
}

// asyncio debug mode: "Executing <Handle ...> took 0.101 seconds" for any
// slow callback, not only a task's step
#[test]
fn a_slow_done_callback_is_reported_like_a_slow_poll() {
    let _g = capture();
    let rt = Runtime::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(5))
        .build()
        .unwrap();
    rt.block_on(async {
        let t = taskloop::spawn_named("watched", async {});
        t.add_done_callback(|_| std::thread::sleep(Duration::from_millis(20)));
        t.await.unwrap();
        taskloop::yield_now().await.unwrap();
    });
    let warnings: Vec<_> = records()
        .into_iter()
        .filter(|r| r.starts_with("WARN") && r.contains("blocked the loop"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("a done-callback of watched (spawned at tests/debug.rs"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_unretrieved_panic_under_shuffling_names_the_seed() {
    let _g = capture();
    let rt = Runtime::builder().shuffle(77).build().unwrap();
    rt.block_on(async {
        let t = taskloop::spawn(async { panic!("boom") });
        while !t.is_done() {
            taskloop::yield_now().await.unwrap();
        }
    });
    let errors: Vec<_> = records()
        .into_iter()
        .filter(|r| r.starts_with("ERROR") && r.contains("never retrieved"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("TASKLOOP_SEED=77"), "{}", errors[0]);
}

#[test]
fn taskloop_debug_accepts_the_usual_spellings() {
    // The environment is process-wide: set it only under the serial lock.
    let _g = capture();
    for (value, on) in [
        ("1", true),
        ("TRUE", true),
        ("yes", true),
        ("On", true),
        ("0", false),
        ("off", false),
    ] {
        // SAFETY: the tests of this file are serialised by `capture`, and no
        // other thread of this process reads the environment meanwhile.
        unsafe { std::env::set_var("TASKLOOP_DEBUG", value) };
        let debug = format!("{:?}", Runtime::builder());
        assert!(debug.contains(&format!("debug: {on}")), "{value}: {debug}");
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("TASKLOOP_DEBUG") };
}

#[test]
fn taskloop_dump_signal_names_the_signal_with_or_without_sig() {
    // The environment is process-wide: set it only under the serial lock.
    let _g = capture();
    for (value, kind) in [
        ("SIGUSR1", "Some(SIGUSR1)"),
        ("usr2", "Some(SIGUSR2)"),
        ("SigQuit", "Some(SIGQUIT)"),
        ("SIGKILL", "None"),
    ] {
        // SAFETY: the tests of this file are serialised by `capture`, and no
        // other thread of this process reads the environment meanwhile.
        unsafe { std::env::set_var("TASKLOOP_DUMP_SIGNAL", value) };
        let debug = format!("{:?}", Runtime::builder());
        assert!(
            debug.contains(&format!("dump_signal: {kind}")),
            "{value}: {debug}"
        );
    }
    assert!(
        records()
            .iter()
            .any(|r| r.starts_with("WARN") && r.contains("\"SIGKILL\" names no signal")),
        "{:?}",
        records()
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var("TASKLOOP_DUMP_SIGNAL") };
}

// A task-group child that returns its reaction to a cancellation ends
// through `end_with`: that is not a wait the cancellation cannot see, and
// debug mode must not warn about one (it did, for every cancelled child).
#[test]
fn a_cancelled_task_group_child_is_not_reported_as_stuck_outside_checkpoints() {
    let _g = capture();
    let rt = Runtime::builder()
        .debug(true)
        .virtual_time(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let group = taskloop::spawn(taskloop::task_group(|tg| async move {
            tg.spawn_named("listener", async {
                taskloop::time::sleep(Duration::from_secs(3600)).await
            })?;
            Ok::<_, taskloop::BoxError>(())
        }));
        taskloop::time::sleep(Duration::from_secs(1)).await.unwrap();
        group.cancel();
        assert!(group.await.unwrap_err().is_cancelled());
    });
    let stuck: Vec<_> = records()
        .into_iter()
        .filter(|r| r.contains("cannot see cancellations"))
        .collect();
    assert!(stuck.is_empty(), "{stuck:?}");
}
