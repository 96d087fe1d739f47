//! Issue 14: real signals. `run`/`run_cli` handle Ctrl-C as asyncio's
//! `Runner` does (mirrors CPython's `test_runners.py`
//! `test_signal_install_not_supported_ok` / `test_interrupt_*` family and
//! gh-95097), and `signal(kind)` listeners.
//!
//! The process-level tests re-run this test binary as a child (the
//! `tests/diagnostics.rs` pattern): the child prints a line when it is
//! ready, the parent sends it the signal and reads the rest.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use taskloop::signal::{SignalKind, signal};
use taskloop::time::sleep;

const CHILD: &str = "TASKLOOP_SIGNALS_CHILD";

/// Whether this process is the child of `test`.
fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// One child at a time: the tests send real signals to processes by pid and
/// time their reactions, so they do not share the machine with each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A child running `test` of this binary, and its stdout lines.
struct Run {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// Held while the child runs.
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Run {
    fn start(test: &str) -> Run {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        Run {
            child,
            lines: rx,
            seen: Vec::new(),
            _turn: turn,
        }
    }

    /// Waits (at most 30 s) for a line containing `what`.
    fn expect(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let hit = line.contains(what);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line with {what:?}; output: {:#?}", self.seen);
                }
            }
        }
    }

    fn kill(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the child's end (at most `limit`) and returns its status
    /// and whole output.
    fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<String>, Duration) {
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "the child did not end within {limit:?}; output: {:#?}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = t0.elapsed();
        // The readers end at EOF.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.seen, took)
    }
}

fn has(lines: &[String], what: &str) -> bool {
    lines.iter().any(|l| l.contains(what))
}

/// The child of the Ctrl-C tests: a main task with workers, each with an
/// async clean-up.
async fn cli_main(cleanup: Duration) -> Result<(), std::io::Error> {
    let worker = taskloop::spawn_named("worker", async {
        if sleep(Duration::from_secs(60)).await.is_err() {
            // Cancelled by `run`'s shutdown: async clean-up.
            taskloop::yield_now().await.ok();
            println!("worker cleaned up");
        }
    });
    drop(worker);
    println!("ready");
    let r = sleep(Duration::from_secs(60)).await;
    if r.is_err() {
        println!("main cancelled, cleaning up");
        // The clean-up's own waits see no further cancellation.
        sleep(cleanup).await.ok();
        println!("main cleaned up");
    }
    r?;
    Ok(())
}

#[test]
fn the_first_ctrl_c_cancels_main_its_cleanup_and_the_shutdown_run_and_the_status_is_130() {
    if is_child() {
        let out = taskloop::run_cli(cli_main(Duration::from_millis(50)));
        match out {
            Ok(r) => println!("main returned {r:?}"),
            Err(i) => {
                println!("{i}");
                std::process::exit(i.exit_status().into());
            }
        }
        return;
    }
    let mut run = Run::start(
        "the_first_ctrl_c_cancels_main_its_cleanup_and_the_shutdown_run_and_the_status_is_130",
    );
    run.expect("ready");
    run.kill("INT");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{out:#?}");
    for line in [
        "main cancelled, cleaning up",
        "main cleaned up",
        "worker cleaned up",
        "interrupted by SIGINT",
    ] {
        assert!(has(&out, line), "{line:?} missing: {out:#?}");
    }
}

#[test]
fn plain_run_exits_130_after_the_cleanup_when_main_ended_cancelled() {
    if is_child() {
        taskloop::run(async {
            let _ = cli_main(Duration::from_millis(10)).await;
        });
        println!("run returned");
        return;
    }
    let mut run = Run::start("plain_run_exits_130_after_the_cleanup_when_main_ended_cancelled");
    run.expect("ready");
    run.kill("INT");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{out:#?}");
    assert!(
        has(&out, "main cleaned up") && has(&out, "worker cleaned up"),
        "{out:#?}"
    );
    assert!(!has(&out, "run returned"), "{out:#?}");
}

#[test]
fn a_main_task_that_uncancels_returns_its_value() {
    // asyncio: a main task that swallows the CancelledError returns its
    // value from run (runners.py, verified in the semantics digest).
    if is_child() {
        let out = taskloop::run_cli(async {
            println!("ready");
            if sleep(Duration::from_secs(60)).await.is_err() {
                taskloop::current_task().unwrap().uncancel();
                return "kept going";
            }
            "not interrupted"
        });
        println!("outcome {out:?}");
        std::process::exit(if out.is_ok() { 0 } else { 1 });
    }
    let mut run = Run::start("a_main_task_that_uncancels_returns_its_value");
    run.expect("ready");
    run.kill("INT");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{out:#?}");
    assert!(has(&out, "outcome Ok(\"kept going\")"), "{out:#?}");
}

#[test]
fn a_second_ctrl_c_during_a_slow_cleanup_ends_the_process_at_once() {
    if is_child() {
        let out = taskloop::run_cli(cli_main(Duration::from_secs(60)));
        println!("run_cli returned {out:?}");
        return;
    }
    let mut run = Run::start("a_second_ctrl_c_during_a_slow_cleanup_ends_the_process_at_once");
    run.expect("ready");
    run.kill("INT");
    run.expect("main cancelled, cleaning up");
    run.kill("INT");
    let (status, out, took) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{out:#?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        !has(&out, "main cleaned up") && !has(&out, "run_cli returned"),
        "{out:#?}"
    );
}

#[test]
fn a_second_ctrl_c_ends_the_process_even_while_a_task_blocks_the_loop() {
    if is_child() {
        let _ = taskloop::run_cli(async {
            println!("ready");
            if sleep(Duration::from_secs(60)).await.is_err() {
                println!("blocking clean-up");
                std::thread::sleep(Duration::from_secs(60));
            }
        });
        return;
    }
    let mut run = Run::start("a_second_ctrl_c_ends_the_process_even_while_a_task_blocks_the_loop");
    run.expect("ready");
    run.kill("INT");
    run.expect("blocking clean-up");
    run.kill("INT");
    let (status, out, took) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{out:#?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn sigterm_takes_the_graceful_path_when_the_option_is_set() {
    if is_child() {
        let out = taskloop::Runtime::builder()
            .graceful_sigterm(true)
            .run_cli(cli_main(Duration::from_millis(50)))
            .unwrap();
        if let Err(i) = out {
            println!("{i}");
            std::process::exit(i.exit_status().into());
        }
        return;
    }
    let mut run = Run::start("sigterm_takes_the_graceful_path_when_the_option_is_set");
    run.expect("ready");
    run.kill("TERM");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{out:#?}");
    for line in [
        "main cleaned up",
        "worker cleaned up",
        "interrupted by SIGTERM",
    ] {
        assert!(has(&out, line), "{line:?} missing: {out:#?}");
    }
}

#[test]
fn without_the_option_sigterm_keeps_its_default_action() {
    if is_child() {
        let _ = taskloop::run_cli(cli_main(Duration::from_millis(50)));
        return;
    }
    let mut run = Run::start("without_the_option_sigterm_keeps_its_default_action");
    run.expect("ready");
    run.kill("TERM");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{out:#?}");
    assert!(!has(&out, "main cleaned up"), "{out:#?}");
}

#[test]
fn after_the_last_listener_is_dropped_ctrl_c_kills_the_process_again() {
    if is_child() {
        let rt = taskloop::Runtime::new().unwrap();
        rt.block_on(async {
            let sig = signal(SignalKind::interrupt()).unwrap();
            drop(sig);
        });
        drop(rt);
        println!("ready");
        std::thread::sleep(Duration::from_secs(60));
        println!("still alive");
        return;
    }
    let mut run = Run::start("after_the_last_listener_is_dropped_ctrl_c_kills_the_process_again");
    run.expect("ready");
    run.kill("INT");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.signal(), Some(libc::SIGINT), "{out:#?}");
    assert!(!has(&out, "still alive"), "{out:#?}");
}

#[test]
fn several_listeners_of_one_signal_each_get_it_and_a_later_one_gets_no_replay() {
    if is_child() {
        taskloop::Runtime::new().unwrap().block_on(async {
            let mut a = signal(SignalKind::user_defined1()).unwrap();
            let mut b = signal(SignalKind::user_defined1()).unwrap();
            let ta = taskloop::spawn(async move {
                a.recv().await.unwrap();
                println!("a got it");
                a
            });
            let tb = taskloop::spawn(async move {
                use futures::StreamExt;
                b.next().await.unwrap().unwrap();
                println!("b got it");
                b
            });
            println!("ready");
            let a = ta.await.unwrap();
            let _b = tb.await.unwrap();
            // A listener created now does not see the delivery above.
            let mut c = signal(SignalKind::user_defined1()).unwrap();
            let late = taskloop::wait_for(c.recv(), Duration::from_millis(200)).await;
            println!(
                "late listener: {}",
                if late.is_err() { "nothing" } else { "replayed" }
            );
            drop(a);
        });
        return;
    }
    let mut run =
        Run::start("several_listeners_of_one_signal_each_get_it_and_a_later_one_gets_no_replay");
    run.expect("ready");
    // The listeners are registered before "ready" is printed.
    run.kill("USR1");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{out:#?}");
    assert!(has(&out, "a got it") && has(&out, "b got it"), "{out:#?}");
    assert!(has(&out, "late listener: nothing"), "{out:#?}");
}

#[test]
fn the_shutdown_bound_drops_and_names_tasks_whose_cleanup_is_too_slow() {
    if is_child() {
        let t0 = Instant::now();
        taskloop::Runtime::builder()
            .ctrl_c(false)
            .shutdown_timeout(Duration::from_millis(200))
            .run(async {
                let slow = taskloop::spawn_named("slow-cleanup", async {
                    if sleep(Duration::from_secs(60)).await.is_err() {
                        sleep(Duration::from_secs(60)).await.ok();
                        println!("slow clean-up finished");
                    }
                });
                drop(slow);
                taskloop::yield_now().await.unwrap();
            })
            .unwrap();
        println!("run returned after {} ms", t0.elapsed().as_millis());
        return;
    }
    let run = Run::start("the_shutdown_bound_drops_and_names_tasks_whose_cleanup_is_too_slow");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{out:#?}");
    assert!(has(&out, "run returned after"), "{out:#?}");
    assert!(!has(&out, "slow clean-up finished"), "{out:#?}");
    assert!(
        out.iter()
            .any(|l| l.contains("did not finish their clean-up") && l.contains("slow-cleanup")),
        "{out:#?}"
    );
    let ms: u64 = out
        .iter()
        .find_map(|l| l.split_once("run returned after ").map(|(_, rest)| rest))
        .and_then(|l| l.strip_suffix(" ms"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((200..10_000).contains(&ms), "{ms} ms");
}

#[test]
fn ctrl_c_resolves_at_the_next_sigint_under_block_on() {
    if is_child() {
        let rt = taskloop::Runtime::new().unwrap();
        rt.block_on(async {
            let waiter = taskloop::spawn(taskloop::signal::ctrl_c());
            // Let the waiter register before announcing readiness.
            taskloop::yield_now().await.unwrap();
            println!("ready");
            waiter.await.unwrap().unwrap();
            println!("got ctrl-c");
        });
        return;
    }
    let mut run = Run::start("ctrl_c_resolves_at_the_next_sigint_under_block_on");
    run.expect("ready");
    run.kill("INT");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{out:#?}");
    assert!(has(&out, "got ctrl-c"), "{out:#?}");
}

// Issue 16's signal trigger: `Builder::dump_on_signal` prints the live task
// dump on stderr at each delivery, and changes nothing else: the loop still
// ends when the main task does.
#[test]
fn dump_on_signal_prints_the_task_dump_on_stderr_at_each_delivery() {
    if is_child() {
        let rt = taskloop::Runtime::builder()
            .dump_on_signal(SignalKind::user_defined1())
            .build()
            .unwrap();
        rt.block_on(async {
            let _napping = taskloop::spawn_named("napping", sleep(Duration::from_secs(600)));
            let mut done = signal(SignalKind::user_defined2()).unwrap();
            println!("ready");
            done.recv().await.unwrap();
        });
        println!("main returned");
        return;
    }
    let mut run = Run::start("dump_on_signal_prints_the_task_dump_on_stderr_at_each_delivery");
    run.expect("ready");
    for _ in 0..2 {
        run.kill("USR1");
        run.expect("stderr: taskloop: task dump on SIGUSR1 (loop thread");
        run.expect("stderr: └── napping (#2) [");
    }
    run.kill("USR2");
    let (status, out, _) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{out:#?}");
    assert!(has(&out, "main returned"), "{out:#?}");
    let dumps = out.iter().filter(|l| l.contains("task dump on")).count();
    assert_eq!(dumps, 2, "{out:#?}");
}
