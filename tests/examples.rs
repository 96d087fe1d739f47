//! Runs the network examples as the user would, over loopback: each is
//! started as a child process (`cargo test` builds the examples), its
//! first line gives the address, and the test talks to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The built example `name` (next to this test binary's directory).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let dir = deps.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built (run through `cargo test`)",
        path.display()
    );
    path
}

/// A running example, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server example on port 0 and returns it with its address.
fn start_server(name: &str, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(example(name))
        .args(["127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    (Running(child), addr)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn echo_server_echoes_lines_and_drops_an_idle_client() {
    let (_server, addr) = start_server("echo_server", &["--idle-ms", "300"]);
    let mut a = connect(&addr);
    let mut reader = BufReader::new(a.try_clone().unwrap());
    for line in ["hello\n", "second line\n"] {
        a.write_all(line.as_bytes()).unwrap();
        let mut back = String::new();
        reader.read_line(&mut back).unwrap();
        assert_eq!(back, line);
    }
    // Silent past the idle timeout: told so, then disconnected.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "idle timeout, bye\n");
}

#[test]
fn port_scan_reports_open_and_closed_ports() {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let open_addr = open.local_addr().unwrap().to_string();
    let closed_addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let out = Command::new(example("port_scan"))
        .args(["--timeout-ms", "2000", &open_addr, &closed_addr])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("{open_addr} open")), "{stdout}");
    assert!(
        stdout.contains(&format!("{closed_addr} closed")),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 of 2 open\n"), "{stdout}");
}

#[test]
fn chat_relays_a_line_to_the_other_clients_only() {
    let (_server, addr) = start_server("chat", &[]);
    let a = connect(&addr);
    let b = connect(&addr);
    let mut a_lines = BufReader::new(a.try_clone().unwrap());
    let mut b_lines = BufReader::new(b.try_clone().unwrap());
    // `a` sees `b` join (the order of the joins on the server is theirs).
    let mut line = String::new();
    a_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with(": joined\n"), "{line:?}");
    (&a).write_all(b"hi all\n").unwrap();
    line.clear();
    b_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with(": hi all\n"), "{line:?}");
    assert!(
        line.starts_with(&a.local_addr().unwrap().to_string()),
        "{line:?}"
    );
    // `a` leaves: `b` is told.
    a.shutdown(Shutdown::Both).unwrap();
    line.clear();
    b_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with(": left\n"), "{line:?}");
}
