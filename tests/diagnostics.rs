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
