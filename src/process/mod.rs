//! Child processes: asyncio's `create_subprocess_exec` /
//! `create_subprocess_shell`, as a [`Command`] that mirrors
//! `std::process::Command` and a [`Child`] whose exit and pipes are waited
//! for through the reactor.
//!
//! * A child's exit is observed through a **pidfd** registered with the
//!   reactor (Linux 5.3 and later): no reaper thread, no `SIGCHLD`
//!   handler, no polling. Where `pidfd_open` fails (an older kernel, a
//!   seccomp filter), the runtime listens to SIGCHLD through
//!   [`signal`](crate::signal) instead (one registration shared by every
//!   such child; at each delivery each waiting child tries `waitpid` on
//!   its own pid): still no thread and no polling.
//! * The piped ends ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]) are
//!   non-blocking pipes in the reactor, with the contracts of
//!   [`net`](crate::net): every `async` method is a checkpoint delivered
//!   before the pipe is touched, and a cancellation is an `io::Error`
//!   carrying [`Cancelled`](crate::Cancelled)
//!   ([`is_cancelled`](crate::is_cancelled) finds it).
//! * No zombie is left behind: a [`Child`] dropped before it exited is
//!   reaped when it does (by a detached task, or at a later SIGCHLD).
//!
//! # Cancellation
//! As in asyncio, a cancelled [`Child::wait`], [`Command::output`] or
//! [`Child::communicate`] returns the cancellation and leaves the child
//! running. [`Command::kill_on_cancel`] kills (`SIGKILL`) and reaps it
//! before the cancellation is returned; [`Command::kill_on_drop`] kills it
//! when its `Child` is dropped before it exited.
//!
//! # Examples
//! ```
//! use taskloop::process::Command;
//! # taskloop::run(async {
//! let out = Command::new("sh").args(["-c", "echo out; echo err >&2"]).output().await?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"out\n");
//! assert_eq!(out.stderr, b"err\n");
//! # Ok::<_, std::io::Error>(()) }).unwrap();
//! ```

mod child;
mod exit;
mod orphan;
mod pipes;

pub use child::Child;
pub use pipes::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;

/// A process to start: `std::process::Command` (which it wraps) with an
/// async [`spawn`](Self::spawn) / [`output`](Self::output) /
/// [`status`](Self::status) and two kill options.
///
/// # Examples
/// ```
/// use taskloop::process::{Command, Stdio};
/// # taskloop::run(async {
/// let mut child = Command::new("cat")
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let out = child.communicate(Some(b"echo through cat")).await?;
/// assert_eq!(out.stdout, b"echo through cat");
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct Command {
    /// The command proper.
    std: std::process::Command,
    /// Whether `stdin` was set (else `output` gives the child `null`).
    stdin_set: bool,
    /// What `output` writes to the child's standard input.
    stdin_bytes: Option<Vec<u8>>,
    /// Kill the child when its `Child` is dropped before it exited.
    kill_on_drop: bool,
    /// Kill and reap the child when a wait for it is cancelled.
    kill_on_cancel: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no
    /// `/`), with no arguments, the parent's environment and directory,
    /// and the standard streams inherited (by `spawn` and `status`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// `sh -c script`: asyncio's `create_subprocess_shell`.
    pub fn shell(script: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (then `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input: [`Stdio::piped`] (asyncio's `PIPE`:
    /// [`Child::stdin`] is then the writing end), `inherit` or `null`.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's standard output ([`Child::stdout`] when piped).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's standard error ([`Child::stderr`] when piped).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Bytes that [`output`](Self::output) writes to the child's standard
    /// input (piping it), concurrently with reading its output.
    pub fn stdin_bytes(&mut self, input: impl Into<Vec<u8>>) -> &mut Command {
        self.stdin_bytes = Some(input.into());
        self
    }

    /// Whether a [`Child`] dropped before its exit kills it (`SIGKILL`;
    /// it is reaped either way). Off by default, as in `std` and asyncio.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Whether a cancelled [`Child::wait`], [`Child::communicate`],
    /// [`output`](Self::output) or [`status`](Self::status) kills the child
    /// (`SIGKILL`) and reaps it before returning the cancellation. Off by
    /// default: asyncio leaves the child running.
    pub fn kill_on_cancel(&mut self, kill: bool) -> &mut Command {
        self.kill_on_cancel = kill;
        self
    }

    /// The wrapped `std` command, for what this type does not forward
    /// (`std::os::unix::process::CommandExt`: `uid`, `process_group`,
    /// `pre_exec`, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child (`fork`/`exec` happen in the call, on the loop
    /// thread, as in asyncio) and registers its exit and pipes with the
    /// runtime running on this thread.
    ///
    /// # Errors
    /// The program was not found or could not be executed (the `std`
    /// error); outside a runtime (the child is then killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        let child = self.std.spawn()?;
        Child::new(child, self.kill_on_drop, self.kill_on_cancel)
    }

    /// Runs the child to its end and collects its output: asyncio's
    /// `communicate`. Standard output and error are piped (for this and
    /// later spawns of this `Command`, as tokio does); standard input
    /// gets the [`stdin_bytes`](Self::stdin_bytes) if set, else what
    /// [`stdin`](Self::stdin) set, else `null` (as `std`). The input is
    /// written while both outputs are drained, so a child that writes a
    /// lot to one stream before reading its input does not deadlock.
    ///
    /// # Cancellation
    /// A checkpoint. A cancelled `output` returns the cancellation; the
    /// child keeps running and is reaped when it exits (its pipes are
    /// closed: it may die of `SIGPIPE`), or with
    /// [`kill_on_cancel`](Self::kill_on_cancel) it is killed and reaped
    /// before the cancellation is returned.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::communicate`].
    #[track_caller]
    pub fn output(&mut self) -> impl std::future::Future<Output = io::Result<Output>> {
        crate::task::current_task::at_caller(async move {
            self.std.stdout(Stdio::piped()).stderr(Stdio::piped());
            if self.stdin_bytes.is_some() {
                self.std.stdin(Stdio::piped());
            } else if !self.stdin_set {
                self.std.stdin(Stdio::null());
            }
            let mut child = self.spawn()?;
            child.communicate(self.stdin_bytes.as_deref()).await
        })
    }

    /// Runs the child to its end with the streams as set (inherited by
    /// default) and returns its exit status.
    ///
    /// # Cancellation
    /// As [`Child::wait`]: the child is left running (and reaped when it
    /// exits), or killed and reaped with
    /// [`kill_on_cancel`](Self::kill_on_cancel).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    ///
    /// # Examples
    /// ```
    /// use taskloop::process::Command;
    /// # taskloop::run(async {
    /// assert!(Command::new("true").status().await?.success());
    /// assert_eq!(Command::new("false").status().await?.code(), Some(1));
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn status(&mut self) -> impl std::future::Future<Output = io::Result<ExitStatus>> {
        crate::task::current_task::at_caller(async move { self.spawn()?.wait().await })
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            stdin_set: false,
            stdin_bytes: None,
            kill_on_drop: false,
            kill_on_cancel: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .field("kill_on_cancel", &self.kill_on_cancel)
            .finish_non_exhaustive()
    }
}
