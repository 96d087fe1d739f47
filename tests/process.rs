//! Issue 15: child processes (`taskloop::process`): pipes through the
//! reactor, `output` without deadlock, exit statuses, cancellation with and
//! without `kill_on_cancel`, and no zombie or descriptor left behind.
//!
//! The tests of this file take one lock each: the zombie and descriptor
//! counts look at the whole process, so no other test may spawn meanwhile.

mod util;

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskloop::net::BufReader;
use taskloop::process::{Command, Stdio};
use util::{block_on, ms};

/// Serializes the tests of this file.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The state letter of `/proc/<pid>/stat` if `pid` is a child of ours.
fn child_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": the command may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid: u32 = fields.next()?.parse().ok()?;
    (ppid == std::process::id()).then_some(state)
}

/// Waits (really) until none of `pids` is a child of ours any more.
fn assert_all_reaped(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<_> = pids
            .iter()
            .filter_map(|&p| child_state(p).map(|s| (p, s)))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "not reaped: {left:?}");
        std::thread::sleep(ms(10));
    }
}

/// The number of open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn echo_through_cat_from_stdin_pipe_to_stdout_pipe() {
    let _g = serial();
    block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let writer = taskloop::spawn(async move {
            for i in 0..1000 {
                stdin.write_all(format!("line {i}\n").as_bytes()).await?;
            }
            Ok::<_, std::io::Error>(()) // dropping stdin: cat reads EOF
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut n = 0;
        while let Some(line) = lines.next_line().await.unwrap() {
            assert_eq!(line, format!("line {n}"));
            n += 1;
        }
        assert_eq!(n, 1000);
        writer.await.unwrap().unwrap();
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn output_collects_large_stdout_and_stderr_at_once() {
    let _g = serial();
    block_on(async {
        let out = Command::shell("head -c 2000000 /dev/zero; head -c 2000000 /dev/zero >&2")
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 2_000_000);
        assert_eq!(out.stderr.len(), 2_000_000);
    });
}

#[test]
fn output_writes_stdin_while_draining_a_child_that_writes_stderr_first() {
    // asyncio's documented pitfall: a child filling its stderr pipe before
    // it reads stdin deadlocks a parent that writes all of stdin first.
    let _g = serial();
    block_on(async {
        let input = vec![b'x'; 1_000_000];
        let out = Command::shell("head -c 1000000 /dev/zero >&2; wc -c")
            .stdin_bytes(input)
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stderr.len(), 1_000_000);
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "1000000");
        // A child that reads none of its input is not an error.
        let out = Command::new("true")
            .stdin_bytes(vec![0u8; 1_000_000])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
    });
}

#[test]
fn exit_codes_and_signals_are_in_the_exit_status() {
    let _g = serial();
    block_on(async {
        let status = Command::shell("exit 7").status().await.unwrap();
        assert_eq!((status.code(), status.signal()), (Some(7), None));
        let status = Command::shell("kill -TERM $$").status().await.unwrap();
        assert_eq!((status.code(), status.signal()), (None, Some(15)));

        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));
        // Reaped: waiting again and killing again are harmless.
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));
        child.kill().unwrap();

        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        child.terminate().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(15));
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        child.signal(10).unwrap(); // SIGUSR1 on Linux
        assert_eq!(child.wait().await.unwrap().signal(), Some(10));
        let err = child.signal(0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// `.ci/run` skips this one under valgrind: glibc's `posix_spawn` (which
/// `std` uses here) reports a failed `exec` through memory the
/// `CLONE_VM | CLONE_VFORK` child shares with the parent, and valgrind runs
/// that clone as a plain fork, so the parent sees a successful spawn and a
/// child exiting with 127.
#[test]
fn spawning_a_missing_program_fails_in_the_parent() {
    let _g = serial();
    block_on(async {
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn a_cancelled_wait_leaves_the_child_running() {
    // asyncio: cancelling `await proc.wait()` does not kill the process.
    let _g = serial();
    block_on(async {
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        let pid = child.id();
        let err = taskloop::wait_for(child.wait(), ms(50)).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(child.try_wait().unwrap().is_none());
        assert!(
            matches!(child_state(pid), Some('S' | 'R')),
            "{:?}",
            child_state(pid)
        );

        // A cancellation seen by the task itself: an io::Error carrying Cancelled.
        let task = taskloop::spawn(async move {
            let err = child.wait().await.unwrap_err();
            assert!(taskloop::is_cancelled(&err), "{err}");
            taskloop::current_task().unwrap().uncancel(); // ends normally
            child
        });
        taskloop::yield_now().await.unwrap();
        task.cancel();
        let mut child = match task.await {
            Err(e) => panic!("{e:?}"),
            Ok(child) => child,
        };
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));
    });
}

#[test]
fn kill_on_cancel_kills_and_reaps_before_the_cancellation_returns() {
    let _g = serial();
    block_on(async {
        let mut child = Command::new("sleep")
            .arg("10")
            .kill_on_cancel(true)
            .spawn()
            .unwrap();
        let pid = child.id();
        let err = taskloop::wait_for(child.wait(), ms(50)).await.unwrap_err();
        assert!(err.is_elapsed());
        // Killed and reaped already: no child of ours with that pid.
        assert_eq!(child.try_wait().unwrap().unwrap().signal(), Some(9));
        assert_eq!(child_state(pid), None);

        // The same for output(): the child is gone when it returns. It is
        // cancelled once the child has written its pid (not after a guessed
        // delay: under valgrind a spawn alone takes 150 ms).
        let pidfile = std::env::temp_dir().join(format!("taskloop-koc-{}", std::process::id()));
        std::fs::remove_file(&pidfile).ok();
        let script = format!(
            "echo $$ > {}.tmp; mv {0}.tmp {0}; exec sleep 10",
            pidfile.display()
        );
        let mut cmd = Command::shell(script);
        cmd.kill_on_cancel(true);
        let task = taskloop::spawn(async move { cmd.output().await });
        let pid: u32 =
            until_some(|| std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()).await;
        task.cancel();
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(child_state(pid), None, "killed and reaped");
        std::fs::remove_file(&pidfile).ok();
    });
}

#[test]
fn a_cancelled_output_leaves_the_child_running_and_it_is_reaped_later() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("taskloop-proc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pid");
    std::fs::remove_file(&pidfile).ok();
    let pid = block_on(async {
        // The child reads its standard input (a socket we hold) to the end:
        // it runs until `hold` is dropped, however slow the spawn (valgrind).
        let (theirs, hold) = std::os::unix::net::UnixStream::pair().unwrap();
        let script = format!(
            "echo $$ > {}.tmp; mv {0}.tmp {0}; exec cat",
            pidfile.display()
        );
        let mut cmd = Command::shell(script);
        cmd.stdin(Stdio::from(OwnedFd::from(theirs)));
        let err = taskloop::wait_for(cmd.output(), ms(100)).await.unwrap_err();
        assert!(err.is_elapsed());
        let pid = until_some(|| std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()).await;
        // asyncio: the child goes on after its communicate() was cancelled.
        assert!(
            matches!(child_state(pid), Some('S' | 'R')),
            "{:?}",
            child_state(pid)
        );
        drop(hold); // `cat` reads the end and exits
        until_some(|| child_state(pid).is_none().then_some(())).await; // the detached reaper
        pid
    });
    assert_eq!(child_state(pid), None, "reaped by the detached task");
    std::fs::remove_dir_all(&dir).ok();
}

/// Polls `f` on the loop (every 5 ms, up to 20 s: a bound, not a guess)
/// until it gives a value; the loop goes on running meanwhile.
async fn until_some<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting");
        taskloop::time::sleep(ms(5)).await.unwrap();
    }
}

#[test]
fn kill_on_drop_kills_a_dropped_child_and_it_is_reaped() {
    let _g = serial();
    let pid = block_on(async {
        let child = Command::new("sleep")
            .arg("10")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(child);
        taskloop::time::sleep(ms(50)).await.unwrap();
        pid
    });
    assert_all_reaped(&[pid]);
}

#[test]
fn a_child_dropped_running_is_reaped_even_after_the_runtime_is_gone() {
    let _g = serial();
    let pid = block_on(async {
        let child = Command::new("sleep").arg("0.2").spawn().unwrap();
        child.id() // dropped running: a detached task, then a thread, reaps it
    });
    assert!(child_state(pid).is_some(), "still running");
    assert_all_reaped(&[pid]);
}

#[test]
fn no_zombie_and_no_descriptor_leak_after_200_children() {
    let _g = serial();
    let rt = taskloop::Runtime::new().unwrap();
    let (before, after, pids) = rt.block_on(async {
        let before = open_fds();
        let mut pids = Vec::new();
        let mut kept = Vec::new();
        for i in 0..200 {
            let mut cmd = match i % 4 {
                0 => Command::new("true"),
                1 => Command::shell("sleep 0.05"),
                2 => Command::shell("echo out; echo err >&2"),
                _ => Command::new("cat"),
            };
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let child = cmd.spawn().unwrap();
            pids.push(child.id());
            // Half are waited for, half dropped (running or not).
            if i % 2 == 0 {
                kept.push(child);
            }
        }
        for child in kept {
            child.wait_with_output().await.unwrap();
        }
        // Let the detached reapers of the dropped children finish.
        let deadline = Instant::now() + Duration::from_secs(20);
        while pids.iter().any(|&p| child_state(p).is_some()) && Instant::now() < deadline {
            taskloop::time::sleep(ms(10)).await.unwrap();
        }
        (before, open_fds(), pids)
    });
    assert_all_reaped(&pids);
    assert_eq!(before, after, "descriptors leaked");
}

#[test]
fn a_pipe_from_the_harness_as_the_childs_stdin() {
    let _g = serial();
    block_on(async {
        let (rx, tx) = std::io::pipe().unwrap();
        let mut child = Command::new("wc")
            .arg("-l")
            .stdin(OwnedFd::from(rx))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut tx = tx;
            for i in 0..500 {
                writeln!(tx, "{i}").unwrap();
            }
        });
        let out = child.communicate(None).await.unwrap();
        writer.join().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "500");
    });
}

#[test]
fn lines_from_a_childs_stdout_lose_nothing_across_a_cancelled_read() {
    let _g = serial();
    block_on(async {
        let mut child = Command::shell("echo one; sleep 0.1; echo two")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("one"));
        let err = taskloop::wait_for(lines.next_line(), ms(10))
            .await
            .unwrap_err();
        assert!(err.is_elapsed());
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("two"));
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert!(child.wait().await.unwrap().success());
    });
}

/// The `par` example, included as a module: its logic runs here without
/// building or spawning the example (deterministic and fast).
#[path = "../examples/par.rs"]
#[allow(dead_code)]
mod par;

#[test]
fn par_runs_commands_with_a_bound_and_a_timeout_and_reports_as_they_complete() {
    let _g = serial();
    let opts = par::parse_args(
        [
            "-j",
            "2",
            "-t",
            "0.5",
            "sleep 0.2; echo slow",
            "echo fast",
            "exit 3",
            "sleep 10",
        ]
        .map(String::from),
    )
    .unwrap();
    assert_eq!(opts.jobs, 2);
    block_on(async {
        let t0 = Instant::now();
        let mut reports = Vec::new();
        let failed = par::par(opts.commands, opts.jobs, opts.timeout, async |r| {
            reports.push(r)
        })
        .await;
        // 2 failures: `exit 3` and the killed `sleep 10`, well before 10 s.
        assert_eq!(failed, 2);
        assert!(t0.elapsed() < Duration::from_secs(5));
        let order: Vec<_> = reports.iter().map(|r| r.index).collect();
        // Completion order: the fast ones first, the timed-out one last.
        assert_eq!(order.last(), Some(&3), "{order:?}");
        assert!(matches!(
            reports.last().unwrap().outcome,
            par::Outcome::TimedOut
        ));
        let slow = reports.iter().find(|r| r.index == 0).unwrap();
        assert_eq!(
            par::render(slow),
            "==> [0] sleep 0.2; echo slow: exit status: 0\nslow\n"
        );
    });
}
