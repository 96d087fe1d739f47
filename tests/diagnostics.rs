//! Issue 10: debug-mode warnings reach standard error when the program
//! installs no logger (asyncio's warnings do), and go through `log` when it
//! does (tests/debug.rs).
//!
//! This test binary installs no logger. It re-runs itself as a child process
//! to read what the runtime writes to standard error.

use std::process::Command;
use std::time::Duration;

const CHILD: &str = "TASKLOOP_DIAGNOSTICS_CHILD";

#[test]
fn debug_mode_warnings_reach_stderr_when_no_logger_is_installed() {
    if std::env::var_os(CHILD).is_some() {
        // The child: a slow poll in debug mode, no logger.
        let rt = taskloop::Runtime::builder()
            .debug(true)
            .slow_poll_threshold(Duration::from_millis(5))
            .build()
            .unwrap();
        rt.block_on(async {
            let t = taskloop::spawn_named("blocker", async {
                std::thread::sleep(Duration::from_millis(20));
            });
            t.await.unwrap();
        });
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "debug_mode_warnings_reach_stderr_when_no_logger_is_installed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("taskloop: warn: blocker (spawned at")
            && stderr.contains("blocked the loop"),
        "{stderr}"
    );
}

/// Issue 13: a loop that nothing can wake (no task ready, no timer, no I/O
/// source, no blocking job) reports the stall with the pending tasks instead
/// of sleeping forever in silence.
#[test]
fn a_deadlocked_loop_reports_its_pending_tasks() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    if std::env::var_os(CHILD).is_some() {
        taskloop::run(async {
            let stuck = taskloop::spawn_named("waits-forever", async {
                let never = taskloop::Promise::<()>::new();
                never.await
            });
            stuck.await.unwrap().unwrap();
        });
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_deadlocked_loop_reports_its_pending_tasks",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let next = || rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
    let found = loop {
        match next() {
            Ok(line) if line.contains("the loop is stalled") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    // The task dump follows, as a tree: main awaits the task, so the task
    // is under main, each at its await site.
    let dump: Vec<String> = (0..4).map_while(|_| next().ok()).collect();
    child.kill().unwrap();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no stall report; stderr: {seen:?}"));
    assert!(line.contains("waits-forever"), "{line}");
    assert_eq!(
        dump.first().map(String::as_str),
        Some("task dump: 2 pending task(s)")
    );
    assert!(
        dump.iter().any(|l| l
            .starts_with("    └── waits-forever (#2) [waiting] at tests/diagnostics.rs:")),
        "{dump:?}"
    );
}

/// Issue 16: a loop whose tasks all wait for a paused virtual clock is a
/// stall too, and the report says why.
#[test]
fn a_loop_waiting_for_a_paused_clock_reports_the_stall_and_says_why() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    if std::env::var_os(CHILD).is_some() {
        let rt = taskloop::Runtime::builder()
            .virtual_time(true)
            .auto_advance(false)
            .build()
            .unwrap();
        rt.block_on(async { taskloop::time::sleep(Duration::from_secs(1)).await })
            .unwrap();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_loop_waiting_for_a_paused_clock_reports_the_stall_and_says_why",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let found = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("the loop is stalled") => break Some(line),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    child.kill().unwrap();
    let _ = child.wait();
    let line = found.expect("a stall report");
    assert!(line.contains("auto-advance is paused"), "{line}");
    assert!(line.contains("time::advance"), "{line}");
}
