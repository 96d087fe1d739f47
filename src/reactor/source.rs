//! [`IoSource`]: a mio source registered with the running runtime's
//! reactor, and the one readiness loop every socket operation goes through.
//!
//! # Ground rules
//!
//! * A source is registered when it is created (on the loop thread of the
//!   runtime running there) and deregistered when it is dropped; it holds
//!   the reactor by `Rc`, so it is `!Send` and its registration cannot
//!   outlive it or move to another thread.
//! * An operation is tried first, then waited for: [`IoSource::poll_io`]
//!   runs the operation while the direction is ready, clears the readiness
//!   only when the operation returns `WouldBlock` (mio is edge-triggered),
//!   and waits for the next edge then. Readiness is never cleared on a
//!   guess, so no edge is lost.
//! * A wait is a cancellation checkpoint ([`IoSource::io`]): a pending
//!   request is delivered before the operation is tried, so a cancelled
//!   operation has read or written nothing (readiness-based I/O: the bytes
//!   stay in the kernel for the next reader).
//! * The reactor is borrowed only inside `poll_ready` / `clear_ready` /
//!   `deregister`, never while the operation (a syscall) or user code runs.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::Interest;
use mio::event::Source;

use super::Reactor;
use super::registration::{Direction, IoKey};
use crate::cancel::CancelSlot;
use crate::task::WaitKind;

/// A mio source registered with the running runtime's reactor.
pub(crate) struct IoSource<S: Source> {
    /// The socket; `None` only after `into_inner`.
    source: Option<S>,
    /// Its registration.
    key: IoKey,
    /// The reactor it is registered with.
    reactor: Rc<RefCell<Reactor>>,
}

impl<S: Source> IoSource<S> {
    /// Registers `source` for reading and writing with the runtime running
    /// on this thread.
    ///
    /// # Errors
    /// Outside a runtime (`io::ErrorKind::Other` naming the cause), or the OS
    /// refused the registration.
    pub(crate) fn new(source: S) -> io::Result<IoSource<S>> {
        IoSource::register(source, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registers `source` for `interest` with the running runtime.
    fn register(mut source: S, interest: Interest) -> io::Result<IoSource<S>> {
        let reactor = crate::runtime::context::reactor().ok_or_else(|| {
            io::Error::other(
                "taskloop: a socket was created outside a taskloop runtime (create it inside \
                 `block_on`/`run`, on the loop thread)",
            )
        })?;
        let key = reactor.borrow_mut().register(&mut source, interest)?;
        Ok(IoSource {
            source: Some(source),
            key,
            reactor,
        })
    }

    /// Registers `source` for reading only, as a passive source: one that
    /// wakes the loop but that no task's progress depends on (a signal's
    /// self-pipe), so the driver still reports a stalled loop. (Not for
    /// writing: a pipe's first writable edge would end every idle wait.)
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn new_passive(source: S) -> io::Result<IoSource<S>> {
        let this = IoSource::register(source, Interest::READABLE)?;
        this.reactor.borrow_mut().mark_passive(this.key);
        Ok(this)
    }

    /// The source.
    pub(crate) fn get_ref(&self) -> &S {
        self.source
            .as_ref()
            .expect("the source is there until into_inner")
    }

    /// Deregisters and gives the source back.
    pub(crate) fn into_inner(mut self) -> S {
        let mut source = self.source.take().expect("into_inner once");
        let wakers = self.reactor.borrow_mut().deregister(&mut source, self.key);
        drop(wakers);
        source
    }

    /// The operation just drained `dir` (a stream read that returned fewer
    /// bytes than asked for took everything the kernel had): the next one
    /// waits for the next edge instead of trying first and getting
    /// `WouldBlock` (one syscall saved per read, as tokio does). Safe with
    /// edge-triggered polling: data arriving after the read raises a new
    /// edge.
    pub(crate) fn drained(&self, dir: Direction) {
        self.reactor.borrow_mut().clear_edge(self.key, dir);
    }

    /// Polls `op` in direction `dir`: runs it while the direction is ready,
    /// and on `WouldBlock` clears the readiness and waits for the next edge.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self
                .reactor
                .borrow_mut()
                .poll_ready(self.key, dir, cx)
                .is_pending()
            {
                return Poll::Pending;
            }
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.borrow_mut().clear_ready(self.key, dir);
                }
                // A signal interrupted the syscall: try again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                done => return Poll::Ready(done),
            }
        }
    }

    /// Runs `op` in direction `dir` until it does not block: a cancellation
    /// checkpoint, delivered before each try, so a cancelled operation did
    /// nothing.
    ///
    /// # Errors
    /// The operation's error; a delivered cancellation is an `io::Error`
    /// carrying [`Cancelled`](crate::Cancelled) ([`is_cancelled`](crate::is_cancelled) finds it).
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut slot = CancelSlot::new(WaitKind::Io);
        poll_fn(|cx| slot.poll_checkpoint(cx, |cx| self.poll_io(dir, cx, &mut op)))
            .await
            .map_err(io::Error::from)?
    }
}

/// `write_all` on top of a stream's one-write checkpoint `write`: the loop
/// every byte stream of the crate shares (sockets, pipes, standard
/// streams). A cancellation between writes leaves a prefix of `buf` written.
///
/// # Errors
/// `WriteZero` if a write takes nothing; a write's error.
pub(crate) async fn write_all(
    mut buf: &[u8],
    mut write: impl AsyncFnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match write(buf).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// `read_exact` on top of a stream's one-read checkpoint `read` (the twin
/// of [`write_all`]). A cancellation between reads leaves the bytes read so
/// far at the front of `buf`, uncounted.
///
/// # Errors
/// `UnexpectedEof` if the stream ends first; a read's error.
pub(crate) async fn read_exact(
    mut buf: &mut [u8],
    mut read: impl AsyncFnMut(&mut [u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match read(buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

impl<S: Source> Drop for IoSource<S> {
    fn drop(&mut self) {
        if let Some(mut source) = self.source.take() {
            let wakers = self.reactor.borrow_mut().deregister(&mut source, self.key);
            // The waiters' wakers and the socket (closing its fd) go after
            // the reactor is released.
            drop(wakers);
            drop(source);
        }
    }
}

impl<S: Source + fmt::Debug> fmt::Debug for IoSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSource")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn an_operation_waits_for_readiness_and_a_cancelled_one_reads_nothing() {
        let rt = crate::Runtime::new().unwrap();
        rt.block_on(async {
            let (a, b) = mio::net::UnixStream::pair().unwrap();
            let a = Rc::new(IoSource::new(a).unwrap());
            let b = IoSource::new(b).unwrap();
            let reader = crate::spawn({
                let a = a.clone();
                async move {
                    let mut buf = [0u8; 8];
                    let n = a.io(Direction::Read, |mut s| s.read(&mut buf)).await?;
                    Ok::<_, io::Error>(buf[..n].to_vec())
                }
            });
            crate::yield_now().await.unwrap();
            assert!(!reader.is_done(), "nothing to read yet");
            b.io(Direction::Write, |mut s| s.write(b"hi"))
                .await
                .unwrap();
            assert_eq!(reader.await.unwrap().unwrap(), b"hi");

            // A read cancelled while waiting takes nothing: the next one gets it all.
            let cancelled = crate::spawn({
                let a = a.clone();
                async move {
                    let mut buf = [0u8; 8];
                    a.io(Direction::Read, |mut s| s.read(&mut buf)).await
                }
            });
            crate::yield_now().await.unwrap();
            cancelled.cancel();
            let err = cancelled.await.unwrap_err();
            assert!(err.is_cancelled());
            b.io(Direction::Write, |mut s| s.write(b"rest"))
                .await
                .unwrap();
            let mut buf = [0u8; 8];
            let n = a
                .io(Direction::Read, |mut s| s.read(&mut buf))
                .await
                .unwrap();
            assert_eq!(&buf[..n], b"rest");
        });
    }

    #[test]
    fn a_source_outside_a_runtime_is_an_error() {
        let (a, _b) = mio::net::UnixStream::pair().unwrap();
        let err = IoSource::new(a).unwrap_err();
        assert!(
            err.to_string().contains("outside a taskloop runtime"),
            "{err}"
        );
    }
}
