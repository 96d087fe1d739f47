//! Debug mode (asyncio's `PYTHONASYNCIODEBUG`): slow polls and tasks pending
//! at shutdown are reported through `log`, naming the task and where it was
//! spawned. Also asyncio's "Task exception was never retrieved".
//!
//! One test per process-wide logger: this file installs a capturing logger
//! once and serialises the tests that read it.

use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use taskloop::Runtime;

/// Every record logged in this process, as "LEVEL message".
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());
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
