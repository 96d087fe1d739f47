//! The standard streams as async streams: [`stdin`], [`stdout`],
//! [`stderr`] (exported as `taskloop::io`).
//!
//! # Ground rules
//!
//! * A stream that is a **pipe, a FIFO or a socket** is registered with the
//!   reactor, through a duplicate of its descriptor: reads and writes are
//!   the try-then-wait loop of the sockets, with their checkpoints.
//!   Registration needs `O_NONBLOCK`, a flag of the *file description*,
//!   which the process shares with whoever else holds the pipe (the shell,
//!   a sibling in `(a; b) | c`). It is set when the first taskloop handle
//!   of that pipe is created and restored when the last one is dropped
//!   (`NonBlocking`, counted per pipe: with `2>&1` standard output and
//!   error are one); meanwhile `std`'s `print!` to the same pipe may see
//!   `WouldBlock` when the pipe is full, and so may the other holders.
//! * Anything else (a **terminal**, a regular file, `/dev/null`; epoll
//!   refuses files with `EPERM`, and a terminal's flags are the shell's) is
//!   served by the **blocking pool** through `std`'s own handles, as tokio
//!   serves every standard stream: its flags are never touched, and a read
//!   waiting on a thread does not hold up a shutdown (the pool's threads
//!   are not joined; the abandoned read's bytes are lost).
//! * A blocking-pool write in flight when its caller is cancelled runs on
//!   to its end; the next write of that handle waits for it first, so the
//!   order of the bytes is the order of the calls.

use std::fmt;
use std::fs::File;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use mio::unix::pipe::{Receiver, Sender};
use rustix::fs::OFlags;

use crate::BlockingTask;
use crate::cancel::CancelSlot;
use crate::net::AsyncRead;
use crate::reactor::{Direction, IoSource};
use crate::task::WaitKind;

/// Which standard stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fd {
    /// 0.
    In,
    /// 1.
    Out,
    /// 2.
    Err,
}

impl Fd {
    /// The descriptor, borrowed from `std`'s handle.
    fn with<R>(self, f: impl FnOnce(BorrowedFd<'_>) -> R) -> R {
        match self {
            Fd::In => f(io::stdin().as_fd()),
            Fd::Out => f(io::stdout().as_fd()),
            Fd::Err => f(io::stderr().as_fd()),
        }
    }
}

/// Per pipe or socket (its device and inode: `2>&1` makes standard output
/// and error one pipe): how many registered handles exist, and whether
/// `O_NONBLOCK` was set before the first (then it is left set).
static NONBLOCK_USERS: Mutex<Vec<(Inode, usize, bool)>> = Mutex::new(Vec::new());

/// A pipe's or socket's identity: device and inode.
type Inode = (u64, u64);

/// A registered handle's hold on `O_NONBLOCK` of its stream: set by the
/// first handle of the pipe, restored by the last.
#[derive(Debug)]
struct NonBlocking {
    /// The stream, whose descriptor the flag is restored through.
    which: Fd,
    /// The pipe or socket.
    inode: Inode,
}

impl NonBlocking {
    /// Sets `O_NONBLOCK` on `fd` (a duplicate of the stream) unless a
    /// handle holds it already.
    fn acquire(which: Fd, inode: Inode, fd: &OwnedFd) -> io::Result<NonBlocking> {
        let mut users = NONBLOCK_USERS.lock().unwrap_or_else(|e| e.into_inner());
        match users.iter_mut().find(|u| u.0 == inode) {
            Some(user) => user.1 += 1,
            None => {
                let flags = rustix::fs::fcntl_getfl(fd)?;
                let was_set = flags.contains(OFlags::NONBLOCK);
                if !was_set {
                    rustix::fs::fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
                }
                users.push((inode, 1, was_set));
            }
        }
        Ok(NonBlocking { which, inode })
    }
}

impl Drop for NonBlocking {
    fn drop(&mut self) {
        let mut users = NONBLOCK_USERS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = users.iter().position(|u| u.0 == self.inode) else {
            return;
        };
        users[i].1 -= 1;
        if users[i].1 > 0 {
            return;
        }
        let (_, _, was_set) = users.swap_remove(i);
        if !was_set {
            let restored = self.which.with(|fd| {
                let flags = rustix::fs::fcntl_getfl(fd)?;
                rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK)
            });
            if let Err(e) = restored {
                log::debug!("taskloop: cannot restore blocking mode of a standard stream: {e}");
            }
        }
    }
}

/// A duplicate of the stream's descriptor, if it is a pipe, a FIFO or a
/// socket (what epoll takes), set non-blocking.
fn pollable(which: Fd) -> Option<(OwnedFd, NonBlocking)> {
    let fd = which.with(|fd| fd.try_clone_to_owned()).ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    let kind = meta.file_type();
    if !(kind.is_fifo() || kind.is_socket()) {
        return None;
    }
    let fd = OwnedFd::from(file);
    let hold = NonBlocking::acquire(which, (meta.dev(), meta.ino()), &fd).ok()?;
    Some((fd, hold))
}

/// The error of a blocking-pool job that did not return (it panicked;
/// `poll_result` delivers no cancellation).
fn job_error(e: crate::TaskError) -> io::Error {
    io::Error::other(e)
}

/// How much a blocking-pool read asks for at most.
const READ_CHUNK: usize = 16 * 1024;

/// The standard input of the process as an async stream
/// ([`stdin`]): asyncio's `connect_read_pipe(sys.stdin)` reader.
///
/// It implements [`AsyncRead`], so [`BufReader::new(stdin()).lines()`](crate::net::BufReader::lines)
/// reads lines. See the module's rules for when it is in the reactor and
/// when on the blocking pool ([`is_registered`](Self::is_registered)).
pub struct Stdin {
    /// How it reads.
    inner: StdinInner,
}

/// The two ways to read standard input.
enum StdinInner {
    /// A pipe or socket in the reactor.
    Reactor {
        /// The registered duplicate.
        io: IoSource<Receiver>,
        /// The `O_NONBLOCK` hold (after `io`: dropped after it).
        _hold: NonBlocking,
    },
    /// `std`'s stdin read on the blocking pool.
    Blocking {
        /// Bytes read by a job and not returned yet: `buf[pos..]`.
        buf: Vec<u8>,
        /// Where the unreturned bytes start.
        pos: usize,
        /// The read in flight.
        job: Option<BlockingTask<io::Result<Vec<u8>>>>,
    },
}

/// The process's standard input as an async stream.
///
/// Each call makes a new handle; they share the one standard input (two
/// readers get the bytes in turns, as with any shared pipe).
///
/// # Examples
/// ```no_run
/// use taskloop::net::BufReader;
/// # taskloop::run(async {
/// let mut lines = BufReader::new(taskloop::io::stdin()).lines();
/// while let Some(line) = lines.next_line().await? {
///     println!("{}", line.len());
/// }
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub fn stdin() -> Stdin {
    let inner = pollable(Fd::In)
        .and_then(|(fd, hold)| {
            let io = IoSource::new(Receiver::from(fd)).ok()?;
            Some(StdinInner::Reactor { io, _hold: hold })
        })
        .unwrap_or(StdinInner::Blocking {
            buf: Vec::new(),
            pos: 0,
            job: None,
        });
    Stdin { inner }
}

impl Stdin {
    /// Whether it reads through the reactor (a pipe, FIFO or socket) rather
    /// than on the blocking pool.
    pub fn is_registered(&self) -> bool {
        matches!(self.inner, StdinInner::Reactor { .. })
    }

    /// Reads what is there (at least one byte, at most `buf.len()`),
    /// waiting until something is; `Ok(0)` is the end of the input.
    ///
    /// # Cancellation
    /// A checkpoint. In the reactor, a cancelled read has taken nothing.
    /// On the blocking pool the read started on its thread goes on; its
    /// bytes are kept for the next read of this handle (and lost if the
    /// handle is dropped first).
    ///
    /// # Errors
    /// The OS's read error; a delivered cancellation (an `io::Error`
    /// carrying [`Cancelled`](crate::Cancelled)).
    #[track_caller]
    pub fn read(&mut self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            let mut slot = CancelSlot::new(WaitKind::Io);
            poll_fn(|cx| slot.poll_checkpoint(cx, |cx| Pin::new(&mut *self).poll_read(cx, buf)))
                .await
                .map_err(io::Error::from)?
        })
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            StdinInner::Reactor { io, .. } => io.poll_io(Direction::Read, cx, |mut r| r.read(out)),
            StdinInner::Blocking { buf, pos, job } => {
                if *pos == buf.len() {
                    if out.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    if crate::runtime::context::reactor().is_none() {
                        return Poll::Ready(Err(io::Error::other(
                            "taskloop: stdin read outside a taskloop runtime",
                        )));
                    }
                    let len = out.len().min(READ_CHUNK);
                    let running = job.get_or_insert_with(|| {
                        crate::spawn_blocking(move || {
                            let mut v = vec![0u8; len];
                            let n = io::stdin().read(&mut v)?;
                            v.truncate(n);
                            Ok(v)
                        })
                    });
                    let read = ready!(running.poll_result(cx));
                    *job = None;
                    *buf = read.map_err(job_error)??;
                    *pos = 0;
                }
                let n = (buf.len() - *pos).min(out.len());
                out[..n].copy_from_slice(&buf[*pos..*pos + n]);
                *pos += n;
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin")
            .field("registered", &self.is_registered())
            .finish_non_exhaustive()
    }
}

/// A standard output stream: registered, or written on the blocking pool.
enum Writer {
    /// A pipe or socket in the reactor.
    Reactor {
        /// The registered duplicate.
        io: IoSource<Sender>,
        /// The `O_NONBLOCK` hold.
        _hold: NonBlocking,
    },
    /// `std`'s handle written on the blocking pool.
    Blocking {
        /// Which stream.
        which: Fd,
        /// The write in flight (waited for before the next).
        job: Option<BlockingTask<io::Result<()>>>,
    },
}

impl Writer {
    /// The writer of `which`.
    fn new(which: Fd) -> Writer {
        pollable(which)
            .and_then(|(fd, hold)| {
                let io = IoSource::new(Sender::from(fd)).ok()?;
                Some(Writer::Reactor { io, _hold: hold })
            })
            .unwrap_or(Writer::Blocking { which, job: None })
    }

    /// Polls the write in flight, if any, to its end (not a checkpoint).
    fn poll_job(
        job: &mut Option<BlockingTask<io::Result<()>>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(running) = job {
            let done = ready!(running.poll_result(cx));
            *job = None;
            done.map_err(job_error)??;
        }
        Poll::Ready(Ok(()))
    }

    /// One write: some of `buf` in the reactor, all of it on the pool.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        started: &mut bool,
    ) -> Poll<io::Result<usize>> {
        match self {
            Writer::Reactor { io, .. } => io.poll_io(Direction::Write, cx, |mut s| s.write(buf)),
            Writer::Blocking { which, job } => {
                if !*started {
                    ready!(Writer::poll_job(job, cx))?;
                    let which = *which;
                    let bytes = buf.to_vec();
                    *job = Some(crate::spawn_blocking(move || match which {
                        Fd::Err => io::stderr().lock().write_all(&bytes),
                        _ => {
                            let mut out = io::stdout().lock();
                            out.write_all(&bytes)?;
                            out.flush()
                        }
                    }));
                    *started = true;
                }
                ready!(Writer::poll_job(job, cx))?;
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    /// `write` at a checkpoint.
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if crate::runtime::context::reactor().is_none() {
            return Err(io::Error::other(
                "taskloop: a standard stream written outside a taskloop runtime",
            ));
        }
        let mut slot = CancelSlot::new(WaitKind::Io);
        let mut started = false;
        poll_fn(|cx| slot.poll_checkpoint(cx, |cx| self.poll_write(cx, buf, &mut started)))
            .await
            .map_err(io::Error::from)?
    }

    /// `write_all`.
    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        crate::reactor::write_all(buf, async |b| self.write(b).await).await
    }

    /// Waits for the write in flight (the pool's), at a checkpoint.
    async fn flush(&mut self) -> io::Result<()> {
        let mut slot = CancelSlot::new(WaitKind::Io);
        poll_fn(|cx| {
            slot.poll_checkpoint(cx, |cx| match self {
                Writer::Reactor { .. } => Poll::Ready(Ok(())),
                Writer::Blocking { job, .. } => Writer::poll_job(job, cx),
            })
        })
        .await
        .map_err(io::Error::from)?
    }
}

/// Defines `Stdout` / `Stderr`.
macro_rules! writer {
    ($(#[$doc:meta])* $name:ident, $fn:ident, $fd:expr, $what:literal) => {
        $(#[$doc])*
        ///
        /// See the module's rules for when it is in the reactor and when on
        /// the blocking pool ([`is_registered`](Self::is_registered)). Its
        /// bytes do not go through `std`'s buffer of the same stream in the
        /// reactor: mixing it with `print!` may interleave their lines.
        pub struct $name {
            /// The stream.
            writer: Writer,
        }

        #[doc = concat!("The process's ", $what, " as an async stream.")]
        ///
        /// # Examples
        /// ```
        /// # taskloop::run(async {
        #[doc = concat!("let mut out = taskloop::io::", stringify!($fn), "();")]
        /// out.write_all(b"hello\n").await?;
        /// out.flush().await?;
        /// # Ok::<_, std::io::Error>(()) }).unwrap();
        /// ```
        pub fn $fn() -> $name {
            $name {
                writer: Writer::new($fd),
            }
        }

        impl $name {
            /// Whether it writes through the reactor (a pipe, FIFO or
            /// socket) rather than on the blocking pool.
            pub fn is_registered(&self) -> bool {
                matches!(self.writer, Writer::Reactor { .. })
            }

            /// Writes some of `buf` (all of it on the blocking pool);
            /// returns how much.
            ///
            /// # Cancellation
            /// A checkpoint. In the reactor, a cancelled write has written
            /// nothing; on the blocking pool, a write started on its thread
            /// is finished there (the next write waits for it).
            ///
            /// # Errors
            /// The OS's write error (`BrokenPipe` once the reader is
            /// gone); a delivered cancellation (an `io::Error` carrying
            /// [`Cancelled`](crate::Cancelled)); outside a runtime.
            #[track_caller]
            pub fn write(&mut self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
                crate::task::current_task::at_caller(async move {
                self.writer.write(buf).await
            })
            }

            /// Writes all of `buf`.
            ///
            /// # Cancellation
            /// A checkpoint before each write: a prefix of `buf` of unknown
            /// length may have been written.
            ///
            /// # Errors
            /// As [`write`](Self::write); `WriteZero` if nothing is taken.
            #[track_caller]
            pub fn write_all(&mut self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
                crate::task::current_task::at_caller(async move {
                self.writer.write_all(buf).await
            })
            }

            /// Waits until every byte written is the OS's (on the blocking
            /// pool: the write in flight is done; `std`'s buffer is flushed
            /// by each write).
            ///
            /// # Cancellation
            /// A checkpoint; a write in flight goes on.
            ///
            /// # Errors
            /// The error of the write in flight; a delivered cancellation.
            #[track_caller]
            pub fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
                crate::task::current_task::at_caller(async move {
                self.writer.flush().await
            })
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("registered", &self.is_registered())
                    .finish_non_exhaustive()
            }
        }
    };
}

writer!(
    /// The process's standard output as an async stream ([`stdout`]).
    Stdout,
    stdout,
    Fd::Out,
    "standard output"
);
writer!(
    /// The process's standard error as an async stream ([`stderr`]).
    Stderr,
    stderr,
    Fd::Err,
    "standard error"
);
