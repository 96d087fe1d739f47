//! Issue 15: `taskloop::io::{stdin, stdout, stderr}`. The test binary runs
//! itself as a child (as `tests/diagnostics.rs` does) with its standard
//! streams set up by the parent: pipes (the reactor) or files (the
//! blocking pool).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use taskloop::net::BufReader;

const CHILD: &str = "TASKLOOP_STDIO_CHILD";

/// Whether `O_NONBLOCK` is set on descriptor `fd` of this process.
fn nonblocking(fd: u32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
        .unwrap();
    flags & 0o4000 != 0
}

/// The child's part: echoes each line of stdin as `got: <line>` on stdout,
/// and reports where its streams are served on stderr.
fn child_main() {
    taskloop::run(async {
        let stdin = taskloop::io::stdin();
        let mut out = taskloop::io::stdout();
        let mut err = taskloop::io::stderr();
        let mode = format!(
            "mode: stdin {} stdout {} nonblocking {}\n",
            stdin.is_registered(),
            out.is_registered(),
            nonblocking(0),
        );
        err.write_all(mode.as_bytes()).await.unwrap();
        let mut lines = BufReader::new(stdin).lines();
        let mut n = 0;
        while let Some(line) = lines.next_line().await.unwrap() {
            out.write_all(format!("got: {line}\n").as_bytes())
                .await
                .unwrap();
            n += 1;
        }
        out.flush().await.unwrap();
        drop(lines);
        // The last handle gone, the inherited flag is as it was.
        let after = format!("done: {n} nonblocking {}\n", nonblocking(0));
        err.write_all(after.as_bytes()).await.unwrap();
    });
}

/// Runs this test as the child, with `stdin`/`stdout` as given; returns
/// its stdout's `got:` lines and its stderr.
fn run_child(name: &str, stdin: Stdio, stdout: Stdio) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD, "1")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn stdin_lines_and_stdout_writes_through_pipes_in_the_reactor() {
    if std::env::var_os(CHILD).is_some() {
        return child_main();
    }
    let name = "stdin_lines_and_stdout_writes_through_pipes_in_the_reactor";
    let mut child = run_child(name, Stdio::piped(), Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..2000 {
            writeln!(stdin, "line {i}").unwrap();
        }
        write!(stdin, "last, no newline").unwrap();
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got: Vec<_> = stdout.lines().filter(|l| l.starts_with("got: ")).collect();
    assert_eq!(got.len(), 2001, "{stdout}");
    assert_eq!(got[0], "got: line 0");
    assert_eq!(got[1999], "got: line 1999");
    assert_eq!(got[2000], "got: last, no newline");
    assert!(
        stderr.contains("mode: stdin true stdout true nonblocking true"),
        "{stderr}"
    );
    assert!(stderr.contains("done: 2001 nonblocking false"), "{stderr}");
}

#[test]
fn files_as_standard_streams_go_through_the_blocking_pool() {
    if std::env::var_os(CHILD).is_some() {
        return child_main();
    }
    let dir = std::env::temp_dir().join(format!("taskloop-stdio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in");
    let output = dir.join("out");
    let text: String = (0..300).map(|i| format!("row {i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let name = "files_as_standard_streams_go_through_the_blocking_pool";
    let child = run_child(
        name,
        Stdio::from(std::fs::File::open(&input).unwrap()),
        Stdio::from(std::fs::File::create(&output).unwrap()),
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("mode: stdin false stdout false nonblocking false"),
        "{stderr}"
    );
    let stdout = std::fs::read_to_string(&output).unwrap();
    let got: Vec<_> = stdout.lines().filter(|l| l.starts_with("got: ")).collect();
    assert_eq!(got.len(), 300, "{stdout}");
    assert_eq!(got[299], "got: row 299");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_pending_stdin_read_does_not_hold_up_shutdown() {
    if std::env::var_os(CHILD).is_some() {
        taskloop::run(async {
            // Left waiting for a line that never comes: `run` cancels it.
            let _reader = taskloop::spawn(async {
                let mut lines = BufReader::new(taskloop::io::stdin()).lines();
                lines.next_line().await
            });
            taskloop::time::sleep(std::time::Duration::from_millis(20))
                .await
                .unwrap();
        });
        eprintln!("shut down");
        return;
    }
    let name = "a_pending_stdin_read_does_not_hold_up_shutdown";
    // The parent keeps the child's stdin open (and silent) throughout.
    let mut child = run_child(name, Stdio::piped(), Stdio::null());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the child hangs");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success() && stderr.contains("shut down"), "{stderr}");
    drop(child.stdin.take());
}

#[test]
fn stdout_and_stderr_on_one_pipe_share_the_nonblocking_hold() {
    if std::env::var_os(CHILD).is_some() {
        taskloop::run(async {
            let mut out = taskloop::io::stdout();
            let mut err = taskloop::io::stderr();
            let registered = out.is_registered() && err.is_registered();
            out.write_all(b"from stdout\n").await.unwrap();
            drop(out);
            // Standard error is the same pipe: the flag stays for it.
            let held = nonblocking(2);
            err.write_all(b"from stderr\n").await.unwrap();
            drop(err);
            eprintln!(
                "shared: registered {registered} held {held} after {}",
                nonblocking(1)
            );
        });
        return;
    }
    let name = "stdout_and_stderr_on_one_pipe_share_the_nonblocking_hold";
    let (mut rx, tx) = std::io::pipe().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(tx.try_clone().unwrap())
        .stderr(tx)
        .spawn()
        .unwrap();
    let mut all = String::new();
    rx.read_to_string(&mut all).unwrap(); // the child's copies close at its exit
    let mut child = child;
    assert!(child.wait().unwrap().success(), "{all}");
    assert!(
        all.contains("from stdout\n") && all.contains("from stderr\n"),
        "{all}"
    );
    assert!(
        all.contains("shared: registered true held true after false"),
        "{all}"
    );
}
