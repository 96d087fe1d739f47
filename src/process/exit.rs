//! How the loop learns that a child exited: a pidfd in the reactor, or,
//! where there is no pidfd, the runtime's SIGCHLD listener.
//!
//! # Ground rules
//!
//! * The child is reaped only by `std::process::Child::try_wait` (a
//!   `waitpid(pid, WNOHANG)` on *its own* pid, never `waitpid(-1)`, which
//!   would steal the children of other code in the process), on the loop
//!   thread. Until then the pid cannot be reused (a zombie keeps it), so
//!   signals sent to it reach our child.
//! * **pidfd** (Linux 5.3 and later): `pidfd_open(pid)` gives a descriptor
//!   that polls readable once the process has exited (it stays readable
//!   while the zombie is there). It is registered with the reactor like a
//!   socket: no thread, no polling, one descriptor per child.
//! * **Fallback** (`pidfd_open` failed: an older kernel or valgrind,
//!   `ENOSYS`, remembered for the process; or a seccomp filter): SIGCHLD,
//!   through the crate's signal support. The runtime has one SIGCHLD
//!   registration (one signal-hook action and
//!   self-pipe, [`signal`](crate::signal::signal)'s rule), made by the
//!   first fallback child and shared by all of them: each child holds a
//!   listener, a cursor on that registration's delivery count. At every
//!   SIGCHLD the loop reads, every waiting fallback child is woken and
//!   tries `try_wait` on its own pid; the ones still running wait for the
//!   next. No thread, no timer.
//! * **No exit is missed.** A fallback child's listener is created in
//!   [`Exit::open`], right after the spawn and *before* its first
//!   `try_wait`. An exit before the listener existed is found by that first
//!   `try_wait`; an exit after it raises a SIGCHLD that the listener counts
//!   (signal-hook's handler writes to the pipe after the exit, the loop
//!   reads it later), and every delivery is followed by a `try_wait`.
//!   Coalesced signals (several exits, one delivery) are fine: every
//!   waiting child tries, not only one.
//! * The self-pipe is a *passive* source (it does not keep the loop from
//!   being reported stalled, `signal`'s rule); a fallback child holds a
//!   [`Hold`] until its `Child` is dropped (as a pidfd stays registered
//!   until then), so a task waiting for it counts as waiting for the
//!   reactor, as with a pidfd.
//! * A fallback child dropped unreaped goes to the runtime's orphan list
//!   ([`orphan`](super::orphan)), swept at every later SIGCHLD: the same
//!   no-zombie guarantee as the pidfd's detached reaper task.
//!
//! Tests force the fallback with the `cfg(test)` thread-local
//! `FORCE_FALLBACK`, set on the loop thread before the spawns: the fallback
//! is chosen per child here, and its tests (many children at once, a
//! dropped child, `kill`, an exit before the listener) are unit tests of
//! this module, so no public switch is needed. Under valgrind (3.19 has no
//! `pidfd_open`) every child takes the fallback, so `.ci/run`'s valgrind
//! pass runs the whole `process` suite through it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::process::{Pid, PidfdFlags};

use crate::reactor::{Direction, Hold, IoSource};
use crate::signal::{Signal, SignalKind};

/// Set when `pidfd_open` said `ENOSYS` (a kernel before 5.3, or valgrind,
/// which does not know the call): later children go straight to the
/// fallback. Other errors (`EMFILE`, a seccomp `EPERM`) are not remembered.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
thread_local! {
    /// Tests of the fallback: act as if `pidfd_open` failed.
    pub(super) static FORCE_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A pidfd as a mio source (readable when the process has exited).
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl mio::event::Source for PidFd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// What a wait for the child's exit polls.
#[derive(Debug)]
pub(super) enum Exit {
    /// The child's pidfd, registered with the reactor.
    PidFd(IoSource<PidFd>),
    /// No pidfd: a listener of the runtime's SIGCHLD.
    Sigchld(Sigchld),
}

/// The fallback's watch on one child.
#[derive(Debug)]
pub(super) struct Sigchld {
    /// A listener of SIGCHLD (the runtime's one registration), created
    /// before the first `try_wait`.
    pub(super) signal: Signal,
    /// Counts a wait for this child as a wait on the reactor.
    _hold: Hold,
}

impl Sigchld {
    /// Starts listening to SIGCHLD on the runtime running on this thread.
    ///
    /// # Errors
    /// Outside a runtime; the OS refused the self-pipe or the handler.
    pub(super) fn new() -> io::Result<Sigchld> {
        let signal = crate::signal::signal(SignalKind::child())?;
        let hold = Hold::new().ok_or_else(|| io::Error::other("taskloop: no runtime"))?;
        Ok(Sigchld {
            signal,
            _hold: hold,
        })
    }
}

impl Exit {
    /// Opens the child's pidfd, or chooses the fallback.
    ///
    /// # Errors
    /// The reactor refused the pidfd, or the signal support the SIGCHLD
    /// listener (outside a runtime).
    pub(super) fn open(pid: u32) -> io::Result<Exit> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("taskloop: a child with an invalid pid"))?;
        #[cfg(test)]
        if FORCE_FALLBACK.with(|f| f.get()) {
            return Ok(Exit::Sigchld(Sigchld::new()?));
        }
        if NO_PIDFD.load(Ordering::Relaxed) {
            return Ok(Exit::Sigchld(Sigchld::new()?));
        }
        match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Ok(Exit::PidFd(IoSource::new(PidFd(fd))?)),
            Err(e) => {
                if e == rustix::io::Errno::NOSYS {
                    NO_PIDFD.store(true, Ordering::Relaxed);
                }
                log::debug!("taskloop: pidfd_open failed ({e}); watching SIGCHLD");
                Ok(Exit::Sigchld(Sigchld::new()?))
            }
        }
    }

    /// Polls (not a checkpoint) until `child` has exited, and reaps it.
    pub(super) fn poll_exited(
        &mut self,
        cx: &mut Context<'_>,
        child: &mut std::process::Child,
    ) -> Poll<io::Result<ExitStatus>> {
        match self {
            Exit::PidFd(source) => source.poll_io(Direction::Read, cx, |_| {
                child.try_wait()?.ok_or(io::ErrorKind::WouldBlock.into())
            }),
            // The listener predates this `try_wait` (ground rules): an exit
            // after it is a delivery, and each delivery is a new try.
            Exit::Sigchld(sigchld) => loop {
                if let Some(status) = child.try_wait()? {
                    return Poll::Ready(Ok(status));
                }
                ready!(sigchld.signal.poll_delivered(cx));
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::FORCE_FALLBACK;
    use crate::process::{Child, Command, Stdio};

    /// Runs `f` on a new runtime with the fallback forced for its children.
    fn fallback<F: std::future::Future>(f: F) -> F::Output {
        FORCE_FALLBACK.with(|f| f.set(true));
        let out = crate::Runtime::new().unwrap().block_on(f);
        FORCE_FALLBACK.with(|f| f.set(false));
        out
    }

    /// Whether `pid` is still a child of ours (running or a zombie): the
    /// fourth field of `/proc/<pid>/stat` is its parent.
    fn is_our_child(pid: u32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
    }

    /// Waits (really, up to a generous bound) until `pid` is no child of
    /// ours; then `waitpid` must say `ECHILD`: someone reaped it.
    fn assert_reaped(pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while is_our_child(pid) {
            assert!(Instant::now() < deadline, "{pid} not reaped");
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
        let waited = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        assert_eq!(waited.unwrap_err(), rustix::io::Errno::CHILD);
    }

    /// A child blocked reading its standard input until `hold` is dropped.
    fn blocked_reader() -> (Command, UnixStream) {
        let (theirs, hold) = UnixStream::pair().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read x; exit 7"])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
        (cmd, hold)
    }

    #[test]
    fn fallback_waits_statuses_output_and_a_cancelled_wait() {
        fallback(async {
            let status = Command::new("sh").args(["-c", "exit 4"]).status().await;
            assert_eq!(status.unwrap().code(), Some(4));
            let out = Command::new("echo").arg("hi").output().await.unwrap();
            assert_eq!(out.stdout, b"hi\n");
            // A cancelled wait leaves the child; a second wait reaps it.
            let (mut cmd, hold) = blocked_reader();
            let mut child = cmd.spawn().unwrap();
            let waited = crate::wait_for(child.wait(), Duration::from_millis(10)).await;
            assert!(waited.is_err());
            assert!(child.try_wait().unwrap().is_none());
            drop(hold);
            assert_eq!(child.wait().await.unwrap().code(), Some(7));
        });
    }

    #[test]
    fn fifty_fallback_children_waited_at_once_each_get_their_own_status() {
        fallback(async {
            let waits: Vec<_> = (0..50)
                .map(|i| {
                    crate::spawn(async move {
                        let mut child = Command::new("sh")
                            .args(["-c", &format!("exit {}", i % 13)])
                            .spawn()
                            .unwrap();
                        (i, child.id(), child.wait().await.unwrap())
                    })
                })
                .collect();
            for w in waits {
                let (i, pid, status) = w.await.unwrap();
                assert_eq!(status.code(), Some(i % 13));
                assert_reaped(pid);
            }
        });
    }

    #[test]
    fn kill_then_wait_through_the_fallback() {
        use std::os::unix::process::ExitStatusExt;
        fallback(async {
            let mut child = Command::new("sleep").arg("100").spawn().unwrap();
            child.kill().unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(9));
            // Reaped: waiting and killing again are harmless.
            assert_eq!(child.wait().await.unwrap().signal(), Some(9));
            child.kill().unwrap();
            assert_reaped(child.id());
        });
    }

    #[test]
    fn an_exit_before_the_sigchld_listener_existed_is_not_missed() {
        fallback(async {
            // Spawned by `std` and left to exit (a zombie) before taskloop
            // watches it: its SIGCHLD came before any listener of this
            // runtime. The first `try_wait` after the listener finds it.
            let std = std::process::Command::new("true").spawn().unwrap();
            let pid = std.id();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z ")
            {
                assert!(Instant::now() < deadline, "{pid} did not exit");
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut child = Child::new(std, false, false).unwrap();
            let status = crate::wait_for(child.wait(), Duration::from_secs(20)).await;
            assert!(status.unwrap().unwrap().success());
            assert_reaped(pid);
        });
    }

    #[test]
    fn a_dropped_unwaited_fallback_child_is_reaped_at_a_later_sigchld() {
        fallback(async {
            let mut holds = Vec::new();
            let mut pids = Vec::new();
            // Two orphans on one sweeper, one after it started.
            for _ in 0..2 {
                let (mut cmd, hold) = blocked_reader();
                let child = cmd.spawn().unwrap();
                pids.push(child.id());
                drop(child);
                holds.push(hold);
                crate::yield_now().await.unwrap();
            }
            assert!(pids.iter().all(|&p| is_our_child(p)));
            drop(holds);
            // Wait (a real wait, bounded) for the sweeper to reap both.
            let deadline = Instant::now() + Duration::from_secs(20);
            while pids.iter().any(|&p| is_our_child(p)) {
                assert!(Instant::now() < deadline, "orphans not reaped");
                crate::time::sleep(Duration::from_millis(5)).await.unwrap();
            }
            pids.iter().for_each(|&p| assert_reaped(p));
            // The sweeper ended with its list; the next orphan starts anew.
            let child = Command::new("true").spawn().unwrap();
            let pid = child.id();
            drop(child);
            while is_our_child(pid) {
                assert!(Instant::now() < deadline, "orphan not reaped");
                crate::time::sleep(Duration::from_millis(5)).await.unwrap();
            }
            assert_reaped(pid);
        });
    }

    #[test]
    fn fallback_orphans_left_at_shutdown_are_reaped_by_a_thread() {
        let (mut cmd, hold) = blocked_reader();
        let pid = fallback(async move {
            let child = cmd.spawn().unwrap();
            let pid = child.id();
            drop(child);
            pid
        });
        assert!(is_our_child(pid));
        drop(hold);
        assert_reaped(pid);
    }

    #[test]
    fn a_wait_through_the_fallback_is_not_reported_as_a_stall() {
        // The SIGCHLD pipe is a passive source; the child's hold makes it
        // count. The child outlives the stall grace (1 s).
        FORCE_FALLBACK.with(|f| f.set(true));
        let stalled = Rc::new(std::cell::Cell::new(false));
        let flag = stalled.clone();
        let rt = crate::Runtime::builder()
            .on_stall(Rc::new(move || flag.set(true)))
            .build()
            .unwrap();
        let (mut cmd, hold) = blocked_reader();
        let closer = std::thread::spawn(move || {
            // The driver's stall grace is 1 s.
            std::thread::sleep(Duration::from_millis(1300));
            drop(hold);
        });
        let status = rt.block_on(async { cmd.status().await.unwrap() });
        FORCE_FALLBACK.with(|f| f.set(false));
        closer.join().unwrap();
        assert_eq!(status.code(), Some(7));
        assert!(!stalled.get(), "a fallback wait was reported as a stall");
    }
}
