//! `par`: an `xargs -P` for everyday use. Runs shell commands (`sh -c`),
//! at most `-j N` at once (a `Semaphore`), each bounded by `-t SECS` (a
//! `wait_for`; the child is killed and reaped at the deadline through
//! `kill_on_cancel`), and prints each command's output as it completes
//! (`as_completed`). Exits 1 if any command failed or timed out.
//!
//! Run with
//!
//! ```text
//! cargo run --example par -- -j 4 -t 5 'sleep 1; echo one' 'echo two' 'sleep 9'
//! printf 'echo %s\n' a b c | cargo run --example par -- -j 2
//! ```
//!
//! With no command arguments, the commands are the lines of standard input
//! (read through `taskloop::io::stdin`). On Ctrl-C, `taskloop::run` cancels
//! the main task: every running command's wait is cancelled, which kills
//! and reaps its child (`kill_on_cancel`), and `par` exits with status 130.
//!
//! `tests/process.rs` includes this file as a module and runs [`par`] on a
//! few commands: the example's logic is tested without building it.

use std::io;
use std::process::Output;
use std::rc::Rc;
use std::time::Duration;

use taskloop::net::BufReader;
use taskloop::process::Command;
use taskloop::sync::Semaphore;
use taskloop::{as_completed, spawn, wait_for};

/// What `par` was asked to do.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// How many commands may run at once.
    pub jobs: usize,
    /// The deadline of each command.
    pub timeout: Option<Duration>,
    /// The commands; empty: read them from standard input.
    pub commands: Vec<String>,
}

/// Parses `[-j N] [-t SECS] [COMMAND...]`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        jobs: 4,
        timeout: None,
        commands: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-j" => {
                let n = args.next().ok_or("-j needs a number")?;
                opts.jobs = n.parse().map_err(|_| format!("bad -j {n}"))?;
                if opts.jobs == 0 {
                    return Err("-j must be at least 1".into());
                }
            }
            "-t" => {
                let s = args.next().ok_or("-t needs seconds")?;
                let secs: f64 = s.parse().map_err(|_| format!("bad -t {s}"))?;
                opts.timeout =
                    Some(Duration::try_from_secs_f64(secs).map_err(|_| format!("bad -t {s}"))?);
            }
            _ => opts.commands.push(arg),
        }
    }
    Ok(opts)
}

/// How one command ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited (successfully or not) with this output.
    Exited(Output),
    /// It ran past the deadline and was killed.
    TimedOut,
    /// It could not be started or read.
    Failed(io::Error),
}

/// One finished command.
#[derive(Debug)]
pub struct Report {
    /// Its position in the input.
    pub index: usize,
    /// The command line.
    pub command: String,
    /// How it ended.
    pub outcome: Outcome,
}

impl Report {
    /// Whether the command succeeded.
    pub fn ok(&self) -> bool {
        matches!(&self.outcome, Outcome::Exited(out) if out.status.success())
    }
}

/// Runs one command under the deadline.
async fn run_one(index: usize, command: String, timeout: Option<Duration>) -> Report {
    let mut cmd = Command::shell(&command);
    // At the deadline `wait_for` cancels `output`: the child is killed
    // and reaped before the cancellation returns.
    cmd.kill_on_cancel(true);
    let outcome = match wait_for(cmd.output(), timeout).await {
        Ok(Ok(out)) => Outcome::Exited(out),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(e) if e.is_elapsed() => Outcome::TimedOut,
        Err(e) => Outcome::Failed(io::Error::other(e.to_string())),
    };
    Report {
        index,
        command,
        outcome,
    }
}

/// Runs `commands`, `jobs` at a time, and hands each report to `report`
/// as it completes; returns how many failed.
pub async fn par(
    commands: Vec<String>,
    jobs: usize,
    timeout: Option<Duration>,
    mut report: impl AsyncFnMut(Report),
) -> usize {
    let permits = Rc::new(Semaphore::new(jobs));
    let tasks: Vec<_> = commands
        .into_iter()
        .enumerate()
        .map(|(index, command)| {
            let permits = permits.clone();
            spawn(async move {
                let _permit = permits.acquire().await;
                run_one(index, command, timeout).await
            })
        })
        .collect();
    let mut failed = 0;
    let mut done = as_completed(tasks, None);
    while let Some(task) = done.next().await {
        let finished = match task {
            Ok(task) => task.await,
            Err(e) => panic!("as_completed without a timeout: {e:?}"),
        };
        match finished {
            Ok(r) => {
                failed += usize::from(!r.ok());
                report(r).await;
            }
            Err(e) => {
                failed += 1;
                eprintln!("par: a command task ended: {e:?}");
            }
        }
    }
    failed
}

/// The text printed for a report.
pub fn render(r: &Report) -> String {
    let head = match &r.outcome {
        Outcome::Exited(out) => format!("{}", out.status),
        Outcome::TimedOut => "timed out (killed)".to_string(),
        Outcome::Failed(e) => format!("failed: {e}"),
    };
    let mut text = format!("==> [{}] {}: {head}\n", r.index, r.command);
    if let Outcome::Exited(out) = &r.outcome {
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    text
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("par: {e}\nusage: par [-j N] [-t SECS] [COMMAND...]");
            std::process::exit(2);
        }
    };
    let failed = taskloop::run(async move {
        let mut commands = opts.commands;
        if commands.is_empty() {
            let mut lines = BufReader::new(taskloop::io::stdin()).lines();
            while let Some(line) = lines.next_line().await? {
                if !line.trim().is_empty() {
                    commands.push(line);
                }
            }
        }
        let mut out = taskloop::io::stdout();
        let failed = par(commands, opts.jobs, opts.timeout, async |r| {
            if let Err(e) = out.write_all(render(&r).as_bytes()).await {
                eprintln!("par: {e}");
            }
        })
        .await;
        Ok::<_, io::Error>(failed)
    });
    match failed {
        Ok(0) => {}
        Ok(_) => std::process::exit(1),
        Err(e) => {
            eprintln!("par: {e}");
            std::process::exit(2);
        }
    }
}
