//! [`ChildStdin`], [`ChildStdout`], [`ChildStderr`]: the parent's ends of
//! a child's piped standard streams, mio pipes behind
//! [`IoSource`](crate::reactor::IoSource).
//!
//! Each end is set non-blocking when it is taken over (`std` creates the
//! pipes blocking; the file description is ours alone, so the flag affects
//! nobody else), then every operation is one call of the reactor's
//! try-then-wait loop, with the rules of `net`: a checkpoint before the
//! pipe is touched, so a cancelled read has taken nothing.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::unix::pipe::{Receiver, Sender};

use crate::net::AsyncRead;
use crate::reactor::{Direction, IoSource};

/// Registers a pipe end after setting it non-blocking.
fn register<S: mio::event::Source>(
    end: S,
    nonblocking: impl FnOnce(&S) -> io::Result<()>,
) -> io::Result<IoSource<S>> {
    nonblocking(&end)?;
    IoSource::new(end)
}

/// The writing end of a child's standard input ([`Child::stdin`](super::Child::stdin)).
///
/// Dropping it closes the pipe: the child reads the end of its input (as
/// asyncio's `stdin.close()`).
///
/// Writes never raise `SIGPIPE` in a Rust program (the runtime of `std`
/// ignores it at start-up): writing after the child closed its end is a
/// `BrokenPipe` error.
pub struct ChildStdin {
    /// The registered pipe.
    io: IoSource<Sender>,
}

impl ChildStdin {
    /// Takes over `std`'s pipe end: non-blocking, registered with the
    /// runtime running on this thread.
    ///
    /// # Errors
    /// Outside a runtime, or the OS refused the change or the registration.
    pub fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            io: register(Sender::from(stdin), |s| s.set_nonblocking(true))?,
        })
    }

    /// Writes some of `buf` (at least one byte unless it is empty), waiting
    /// for room in the pipe; returns how much.
    ///
    /// # Cancellation
    /// A checkpoint, delivered before the pipe is written: a cancelled
    /// write has written nothing.
    ///
    /// # Errors
    /// `BrokenPipe` once the child closed its end; a delivered cancellation
    /// (an `io::Error` carrying [`Cancelled`](crate::Cancelled)).
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Write, |mut s| s.write(buf)).await
        })
    }

    /// Writes all of `buf`.
    ///
    /// # Cancellation
    /// A checkpoint before each write: when cancelled, a prefix of `buf` of
    /// unknown length may have been written (use [`write`](Self::write) to
    /// know how much).
    ///
    /// # Errors
    /// `WriteZero` if the pipe takes nothing; a write's error; a delivered
    /// cancellation.
    #[track_caller]
    pub fn write_all(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move {
            crate::reactor::write_all(buf, async |b| self.write(b).await).await
        })
    }

    /// Nothing to do: a pipe has no user-space buffer. Kept for asyncio's
    /// `drain` and `std`'s `flush` habits.
    ///
    /// # Cancellation
    /// Not a checkpoint: it returns at once.
    ///
    /// # Errors
    /// Never.
    #[track_caller]
    pub fn flush(&self) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { Ok(()) })
    }

    /// Polls one write (not a checkpoint): what `communicate` drives.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(Direction::Write, cx, |mut s| s.write(buf))
    }
}

/// A child's standard output or error, read through the reactor.
macro_rules! reader {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        ///
        /// It implements [`AsyncRead`], so a
        /// [`BufReader`](crate::net::BufReader) reads lines from it; it
        /// belongs to the runtime it was created in (`!Send`). Dropping it
        /// closes the pipe: the child's further writes fail with `EPIPE`
        /// (or kill it with `SIGPIPE`).
        pub struct $name {
            /// The registered pipe.
            io: IoSource<Receiver>,
        }

        impl $name {
            /// Takes over `std`'s pipe end: non-blocking, registered with
            /// the runtime running on this thread.
            ///
            /// # Errors
            /// Outside a runtime, or the OS refused the change or the
            /// registration.
            pub fn from_std(end: $std) -> io::Result<$name> {
                Ok($name {
                    io: register(Receiver::from(end), |r| r.set_nonblocking(true))?,
                })
            }

            /// Reads what is there (at least one byte, at most
            /// `buf.len()`), waiting until something is; `Ok(0)` is the end
            /// of the stream (every copy of the child's end is closed).
            ///
            /// # Cancellation
            /// A checkpoint, delivered before the pipe is read: a cancelled
            /// read has taken nothing.
            ///
            /// # Errors
            /// The pipe's error; a delivered cancellation (an `io::Error`
            /// carrying [`Cancelled`](crate::Cancelled)).
            #[track_caller]
            pub fn read(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
                crate::task::current_task::at_caller(async move {
                self.io.io(Direction::Read, |mut r| r.read(buf)).await
            })
            }

            /// Reads to the end of the stream, appending to `out`; returns
            /// how many bytes were appended.
            ///
            /// # Cancellation
            /// A checkpoint before each read: what was read before the
            /// cancellation is in `out`, nothing is lost.
            ///
            /// # Errors
            /// A read's error (the bytes read so far are in `out`); a
            /// delivered cancellation.
            #[track_caller]
            pub fn read_to_end(&self, out: &mut Vec<u8>) -> impl std::future::Future<Output = io::Result<usize>> {
                crate::task::current_task::at_caller(async move {
                let start = out.len();
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match self.read(&mut buf).await? {
                        0 => return Ok(out.len() - start),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
            }

            /// Polls one read (not a checkpoint).
            pub(crate) fn poll_read_io(
                &self,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.io.poll_io(Direction::Read, cx, |mut r| r.read(buf))
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_io(cx, buf)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.as_raw_fd())
                    .finish()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }
    };
}

reader!(
    /// The reading end of a child's standard output ([`Child::stdout`](super::Child::stdout)).
    ChildStdout,
    std::process::ChildStdout
);
reader!(
    /// The reading end of a child's standard error ([`Child::stderr`](super::Child::stderr)).
    ChildStderr,
    std::process::ChildStderr
);

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}
