//! How the loop learns that a child exited: a pidfd in the reactor, or a
//! blocking `waitid` on the pool where there is no pidfd.
//!
//! # Ground rules
//!
//! * The child is reaped only by `std::process::Child::try_wait` (a
//!   `waitpid(pid, WNOHANG)`), on the loop thread, and only after the
//!   exit was observed or when a caller asks. Until then the pid cannot be
//!   reused (a zombie keeps it), so signals sent to it reach our child.
//! * **pidfd** (Linux 5.3 and later): `pidfd_open(pid)` gives a descriptor
//!   that polls readable once the process has exited (it stays readable
//!   while the zombie is there). It is registered with the reactor like a
//!   socket: no thread, no polling, one descriptor per child.
//! * **Fallback** (`pidfd_open` failed: an older kernel, `ENOSYS`, or a
//!   seccomp filter): one blocking `waitid(P_PID, WEXITED | WNOWAIT)` per
//!   wait on the blocking pool. `WNOWAIT` leaves the zombie for the loop
//!   thread to reap, so the ground rule above holds; the price is a pool
//!   thread per child being waited for.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitStatus;
use std::task::{Context, Poll, ready};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

use crate::BlockingTask;
use crate::reactor::{Direction, IoSource};

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
    /// No pidfd: a `waitid(WNOWAIT)` on the blocking pool while waiting.
    Blocking {
        /// The child's pid.
        pid: Pid,
        /// The job in flight, if a wait started one.
        job: Option<BlockingTask<io::Result<()>>>,
    },
}

impl Exit {
    /// Opens the child's pidfd, or chooses the fallback.
    ///
    /// # Errors
    /// The reactor refused the pidfd (outside a runtime).
    pub(super) fn open(pid: u32) -> io::Result<Exit> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("taskloop: a child with an invalid pid"))?;
        #[cfg(test)]
        if FORCE_FALLBACK.with(|f| f.get()) {
            return Ok(Exit::Blocking { pid, job: None });
        }
        match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Ok(Exit::PidFd(IoSource::new(PidFd(fd))?)),
            Err(e) => {
                log::debug!("taskloop: pidfd_open failed ({e}); waiting on the blocking pool");
                Ok(Exit::Blocking { pid, job: None })
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
            Exit::Blocking { pid, job } => loop {
                if let Some(status) = child.try_wait()? {
                    *job = None;
                    return Poll::Ready(Ok(status));
                }
                let pid = *pid;
                let running =
                    job.get_or_insert_with(|| crate::spawn_blocking(move || wait_nowait(pid)));
                let done = ready!(running.poll_result(cx));
                *job = None;
                done.map_err(io::Error::other)??;
            },
        }
    }
}

/// Blocks until `pid` has exited, leaving it to be reaped.
fn wait_nowait(pid: Pid) -> io::Result<()> {
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => return Ok(()),
        }
    }
}
