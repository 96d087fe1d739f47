//! [`Child`]: a running child process, its exit and its pipes.
//!
//! # Ground rules
//!
//! * The `std::process::Child` and the exit watcher live together in a
//!   [`Waiter`]; only the waiter reaps, on the loop thread (`exit`'s
//!   rules).
//! * A `Child` dropped before its exit was seen hands its waiter to a
//!   detached task that reaps it when it exits (a pidfd child), or to the
//!   runtime's orphan list, swept at each SIGCHLD (a fallback child,
//!   [`orphan`](super::orphan)); that task or list, dropped in its turn
//!   (the runtime shut down first), hands the `std` child to a thread that
//!   blocks in `wait`. No path leaves a zombie behind.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll, ready};

use rustix::process::{Pid, Signal};

use super::exit::Exit;
use super::pipes::{ChildStderr, ChildStdin, ChildStdout};
use crate::cancel::CancelSlot;
use crate::task::WaitKind;

/// A child process started by [`Command::spawn`](super::Command::spawn):
/// asyncio's `Process`.
///
/// Its exit is observed through the reactor (a pidfd, or SIGCHLD where
/// there is none), without a thread or polling. It belongs to the runtime it was spawned in (`!Send`).
///
/// Dropping a `Child` does not kill it (as `std` and asyncio), unless
/// [`kill_on_drop`](super::Command::kill_on_drop) was set; either way it is
/// reaped when it exits: no zombie is left behind.
///
/// # Examples
/// ```
/// use taskloop::net::BufReader;
/// use taskloop::process::{Command, Stdio};
/// # taskloop::run(async {
/// let mut child = Command::new("printf")
///     .arg("one\\ntwo\\n")
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
/// assert_eq!(lines.next_line().await?.as_deref(), Some("one"));
/// assert_eq!(lines.next_line().await?.as_deref(), Some("two"));
/// assert_eq!(lines.next_line().await?, None);
/// assert!(child.wait().await?.success());
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct Child {
    /// The writing end of the child's standard input, when it is piped.
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's standard output, when it is piped.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's standard error, when it is piped.
    pub stderr: Option<ChildStderr>,
    /// The process and its exit watcher; `None` only while dropping.
    waiter: Option<Waiter>,
    /// The child's pid, kept for `id` after the waiter is gone.
    pid: u32,
    /// Kill it when the `Child` is dropped before it exited.
    kill_on_drop: bool,
    /// Kill and reap it when a wait for it is cancelled.
    kill_on_cancel: bool,
}

/// The process, its exit watcher and its status once reaped.
#[derive(Debug)]
struct Waiter {
    /// `std`'s handle: `try_wait` reaps, `kill` signals.
    std: std::process::Child,
    /// What a wait polls.
    exit: Exit,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Waiter {
    /// Polls (not a checkpoint) until the child is reaped.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let status = ready!(self.exit.poll_exited(cx, &mut self.std))?;
        self.status = Some(status);
        Poll::Ready(Ok(status))
    }

    /// Reaps the child if it has exited.
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.std.try_wait()?;
        }
        Ok(self.status)
    }
}

impl Child {
    /// Wraps a spawned `std` child: its pipes are taken over and its exit
    /// watched, with the runtime running on this thread.
    pub(super) fn new(
        mut std: std::process::Child,
        kill_on_drop: bool,
        kill_on_cancel: bool,
    ) -> io::Result<Child> {
        let pid = std.id();
        let stdin = std.stdin.take();
        let stdout = std.stdout.take();
        let stderr = std.stderr.take();
        // The watcher first: should it fail, `guard` still reaps the child.
        let exit = Exit::open(pid);
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            waiter: None,
            pid,
            kill_on_drop,
            kill_on_cancel,
        };
        let exit = match exit {
            Ok(exit) => exit,
            Err(e) => {
                // No runtime to watch it: kill and reap it at once.
                let _ = std.kill();
                let _ = std.wait();
                return Err(e);
            }
        };
        child.waiter = Some(Waiter {
            std,
            exit,
            status: None,
        });
        // From here, dropping `child` on an error reaps (or kills) it.
        child.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        child.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        child.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        Ok(child)
    }

    /// The waiter.
    fn waiter(&mut self) -> &mut Waiter {
        self.waiter
            .as_mut()
            .expect("the waiter is there until drop")
    }

    /// The child's process id (valid as long as it is not reaped).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and reaps it; returns its status
    /// (asyncio's `Process.wait`). Closes [`stdin`](Self::stdin) first (as
    /// `std` does), so a child reading its input to the end is not left
    /// waiting for more. Once reaped, every call returns the same status.
    ///
    /// With the pipes of [`stdout`](Self::stdout)/[`stderr`](Self::stderr)
    /// unread, a child that writes more than a pipe holds (64 KiB) blocks
    /// and never exits: read them concurrently, or use
    /// [`wait_with_output`](Self::wait_with_output) (asyncio's pitfall).
    ///
    /// # Cancellation
    /// A checkpoint. A cancelled `wait` returns the cancellation and
    /// leaves the child running (asyncio's `wait`); wait again later, or
    /// drop the `Child` (it is reaped when it exits). With
    /// [`kill_on_cancel`](super::Command::kill_on_cancel) the child is
    /// killed (`SIGKILL`) and reaped before the cancellation is returned.
    ///
    /// # Errors
    /// A delivered cancellation (an `io::Error` carrying
    /// [`Cancelled`](crate::Cancelled): [`is_cancelled`](crate::is_cancelled)
    /// finds it); the OS's `waitpid` error.
    ///
    /// # Examples
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use taskloop::process::Command;
    /// # taskloop::run(async {
    /// let status = Command::new("sh").args(["-c", "exit 3"]).spawn()?.wait().await?;
    /// assert_eq!(status.code(), Some(3));
    /// let mut sleeper = Command::new("sleep").arg("10").spawn()?;
    /// sleeper.kill()?;
    /// assert_eq!(sleeper.wait().await?.signal(), Some(9));
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&mut self) -> impl std::future::Future<Output = io::Result<ExitStatus>> {
        crate::task::current_task::at_caller(async move {
            drop(self.stdin.take());
            let mut slot = CancelSlot::new(WaitKind::Os);
            let waiter = self.waiter();
            let waited = poll_fn(|cx| slot.poll_checkpoint(cx, |cx| waiter.poll_wait(cx))).await;
            match waited {
                Ok(status) => status,
                Err(cancelled) => Err(self.on_cancel(cancelled).await),
            }
        })
    }

    /// A wait was cancelled: kills and reaps the child if asked to, and
    /// gives the error to return.
    async fn on_cancel(&mut self, cancelled: crate::Cancelled) -> io::Error {
        if self.kill_on_cancel {
            if let Err(e) = self.kill() {
                log::warn!("taskloop: cannot kill child {} on cancel: {e}", self.pid);
            } else {
                // A checkpoint of its own (the delivered request is not
                // delivered again; a new one ends the wait, and the killed
                // child is reaped by a later wait or the drop).
                let waiter = self.waiter();
                let mut slot = CancelSlot::new(WaitKind::Os);
                let reaped =
                    poll_fn(|cx| slot.poll_checkpoint(cx, |cx| waiter.poll_wait(cx))).await;
                if let Ok(Err(e)) = reaped {
                    log::warn!("taskloop: cannot reap child {} on cancel: {e}", self.pid);
                }
            }
        }
        io::Error::from(cancelled)
    }

    /// Reaps the child if it has exited; `None` while it runs. Never
    /// waits.
    ///
    /// # Errors
    /// The OS's `waitpid` error.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.waiter().try_wait()
    }

    /// Sends `SIGKILL` (asyncio's `Process.kill`, `std`'s `Child::kill`);
    /// does not wait: [`wait`](Self::wait) then reaps it. A child already
    /// reaped is left alone (`Ok`).
    ///
    /// # Errors
    /// The OS's `kill` error.
    pub fn kill(&mut self) -> io::Result<()> {
        self.waiter().std.kill()
    }

    /// Sends `SIGTERM` (asyncio's `Process.terminate`); does not wait.
    ///
    /// # Errors
    /// As [`signal`](Self::signal).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.signal(rustix::process::Signal::TERM.as_raw())
    }

    /// Sends the signal numbered `signum` (asyncio's `send_signal`); does
    /// not wait. A child already reaped is left alone (`Ok`): its pid may
    /// belong to another process by now.
    ///
    /// # Errors
    /// `InvalidInput` for a number that names no signal (or one reserved
    /// by the C library); the OS's `kill` error.
    pub fn signal(&mut self, signum: i32) -> io::Result<()> {
        let signal = Signal::from_named_raw(signum).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("no signal {signum}"))
        })?;
        let pid = self.pid;
        let waiter = self.waiter();
        if waiter.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .expect("a child's pid");
        Ok(rustix::process::kill_process(pid, signal)?)
    }

    /// Writes `input` (if any) to the child's standard input, then closes
    /// it, while its standard output and error are read to their ends,
    /// all concurrently; then waits for the child's exit: asyncio's
    /// `Process.communicate`. The pipes that were not piped (or were taken)
    /// give empty output. A child that stops reading its input early is
    /// not an error (`BrokenPipe` is ignored, as asyncio does).
    ///
    /// # Cancellation
    /// A checkpoint. A cancelled call closes the pipes it took (the output
    /// read so far is lost) and leaves the child running, or kills and
    /// reaps it with [`kill_on_cancel`](super::Command::kill_on_cancel).
    ///
    /// # Errors
    /// A pipe's error (other than `BrokenPipe` on stdin); a delivered
    /// cancellation; the OS's `waitpid` error.
    #[track_caller]
    pub fn communicate(
        &mut self,
        input: Option<&[u8]>,
    ) -> impl std::future::Future<Output = io::Result<Output>> {
        crate::task::current_task::at_caller(async move {
            let mut io = Communicate {
                input: input.unwrap_or_default(),
                stdin: self.stdin.take(),
                stdout: self.stdout.take().map(|r| (r, Vec::new())),
                stderr: self.stderr.take().map(|r| (r, Vec::new())),
            };
            let mut slot = CancelSlot::new(WaitKind::Io);
            let done = poll_fn(|cx| slot.poll_checkpoint(cx, |cx| io.poll(cx))).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(cancelled) => {
                    drop(io);
                    return Err(self.on_cancel(cancelled).await);
                }
            }
            let status = self.wait().await?;
            Ok(Output {
                status,
                stdout: io.stdout.map(|(_, v)| v).unwrap_or_default(),
                stderr: io.stderr.map(|(_, v)| v).unwrap_or_default(),
            })
        })
    }

    /// [`communicate`](Self::communicate) without input, taking the
    /// `Child` (`std`'s `wait_with_output`).
    ///
    /// # Cancellation
    /// As [`communicate`](Self::communicate); the `Child` is dropped then
    /// (reaped when it exits, or killed with `kill_on_drop`).
    ///
    /// # Errors
    /// As [`communicate`](Self::communicate).
    #[track_caller]
    pub fn wait_with_output(mut self) -> impl std::future::Future<Output = io::Result<Output>> {
        crate::task::current_task::at_caller(async move { self.communicate(None).await })
    }
}

/// The pipe work of `communicate`: one poll drives all three.
struct Communicate<'a> {
    /// What is left to write.
    input: &'a [u8],
    /// The stdin pipe until everything is written (then closed).
    stdin: Option<ChildStdin>,
    /// The stdout pipe and what was read, until the end (the pipe stays).
    stdout: Option<(ChildStdout, Vec<u8>)>,
    /// The stderr pipe and what was read.
    stderr: Option<(ChildStderr, Vec<u8>)>,
}

/// How much one read of `communicate` asks for.
const CHUNK: usize = 32 * 1024;

/// Reads `reader` into `out` until it would block (`Pending`) or ends.
fn poll_drain(
    cx: &mut Context<'_>,
    out: &mut Vec<u8>,
    mut read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    loop {
        let len = out.len();
        out.resize(len + CHUNK, 0);
        let polled = read(cx, &mut out[len..]);
        let n = match &polled {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        out.truncate(len + n);
        match polled {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

impl Communicate<'_> {
    /// Polls every unfinished direction; ready when all are done.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pending = false;
        if let Some(stdin) = &self.stdin {
            loop {
                if self.input.is_empty() {
                    self.stdin = None; // closes it: the child reads EOF
                    break;
                }
                match stdin.poll_write(cx, self.input) {
                    Poll::Ready(Ok(n)) => self.input = &self.input[n..],
                    Poll::Ready(Err(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        self.input = &[];
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        pending = true;
                        break;
                    }
                }
            }
        }
        if let Some((r, out)) = &mut self.stdout {
            pending |= ready_or_pending(poll_drain(cx, out, |cx, b| r.poll_read_io(cx, b)))?;
        }
        if let Some((r, out)) = &mut self.stderr {
            pending |= ready_or_pending(poll_drain(cx, out, |cx, b| r.poll_read_io(cx, b)))?;
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// `Ok(true)` when pending, `Ok(false)` when done, the error otherwise.
/// A finished drain is polled again on the next poll and returns 0 at
/// once (the end of a pipe stays the end).
fn ready_or_pending(p: Poll<io::Result<()>>) -> io::Result<bool> {
    match p {
        Poll::Pending => Ok(true),
        Poll::Ready(r) => r.map(|()| false),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut waiter) = self.waiter.take() else {
            return;
        };
        if self.kill_on_drop && waiter.status.is_none() {
            let _ = waiter.std.kill();
        }
        match waiter.try_wait() {
            Ok(None) => {}
            // Reaped, or nothing we can do (it was reaped elsewhere).
            Ok(Some(_)) | Err(_) => return,
        }
        // Still running: the fallback's orphan list, or a detached task,
        // reaps it when it exits.
        let waiter = match waiter {
            Waiter {
                std,
                exit: Exit::Sigchld(watch),
                ..
            } => return super::orphan::adopt(std, watch),
            waiter => waiter,
        };
        if let Err(e) = crate::try_spawn(Reap(Some(waiter))) {
            log::debug!("taskloop: a child dropped outside a runtime: {e}");
        }
    }
}

/// The detached task that reaps a dropped child.
struct Reap(Option<Waiter>);

impl std::future::Future for Reap {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let waiter = self.0.as_mut().expect("polled after it finished");
        // An error (reaped elsewhere) ends it too.
        ready!(waiter.poll_wait(cx)).ok();
        self.0 = None;
        Poll::Ready(())
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        let Some(mut waiter) = self.0.take() else {
            return;
        };
        if let Ok(None) = waiter.try_wait() {
            // The runtime went away first: a thread waits for the exit.
            let Waiter { mut std, exit, .. } = waiter;
            drop(exit);
            let spawned = std::thread::Builder::new()
                .name("taskloop-reap".into())
                .spawn(move || std.wait().map(drop));
            if let Err(e) = spawned {
                log::warn!("taskloop: cannot start a thread to reap a child: {e}");
            }
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.pid)
            .field("status", &self.waiter.as_ref().and_then(|w| w.status))
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}
