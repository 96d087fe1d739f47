//! Unix domain sockets on the reactor: [`UnixListener`] and [`UnixStream`]
//! (asyncio's `start_unix_server` / `open_unix_connection` without the
//! stream-reader layer) and [`UnixDatagram`].
//!
//! As for UDP, every operation is the reactor's try-then-wait loop on the
//! socket's one registration ([`IoSource::io`]), so an operation cancelled
//! while waiting moved no byte, and several tasks may wait on one socket.
//!
//! A listener does not remove its socket file when dropped (as `std` and
//! tokio): the path may be shared with other processes, or bound again on
//! purpose; remove it with `std::fs::remove_file` when done.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::reactor::{Direction, IoSource};

/// The registration of a socket just bound at `path`; if it failed (no
/// runtime), the socket file the bind created is removed again, so a failed
/// `bind` leaves nothing behind.
fn registered<S: mio::event::Source>(
    path: &Path,
    io: io::Result<IoSource<S>>,
) -> io::Result<IoSource<S>> {
    io.inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

// ---------------------------------------------------------------------------
// UnixListener

/// A Unix stream socket bound to a path, accepting connections.
///
/// Dropping it closes the socket but leaves the file at its path (as `std`
/// and tokio do); a later [`bind`](Self::bind) to the same path fails with
/// `AddrInUse` until the file is removed.
///
/// # Examples
/// ```
/// use taskloop::net::{UnixListener, UnixStream};
/// # taskloop::run(async {
/// let path = std::env::temp_dir().join(format!("taskloop-doc-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = taskloop::spawn({
///     let path = path.clone();
///     async move {
///         let stream = UnixStream::connect(&path).await?;
///         stream.write_all(b"hello").await
///     }
/// });
/// let (stream, _addr) = listener.accept().await?;
/// let mut buf = [0u8; 5];
/// stream.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello");
/// client.await.unwrap()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct UnixListener {
    /// The non-blocking listening socket and its registration.
    io: IoSource<mio::net::UnixListener>,
}

impl UnixListener {
    /// Creates a socket file at `path` and listens on it. A bind that fails
    /// (outside a runtime, for instance) leaves no file.
    ///
    /// # Errors
    /// Outside a runtime; `AddrInUse` if a file exists at `path` (even one
    /// left by a listener that was dropped); the directory is missing or not
    /// writable; the path is too long for a socket address (about 100
    /// bytes).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let io = registered(path, IoSource::new(mio::net::UnixListener::bind(path)?))?;
        Ok(UnixListener { io })
    }

    /// Takes over a standard listener, switching it to non-blocking mode.
    ///
    /// # Errors
    /// Outside a runtime; setting non-blocking mode or registering failed.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: IoSource::new(mio::net::UnixListener::from_std(listener))?,
        })
    }

    /// Deregisters the listener and gives it back as a standard one, still
    /// in non-blocking mode.
    pub fn into_std(self) -> std::os::unix::net::UnixListener {
        self.io.into_inner().into()
    }

    /// Waits for a connection; returns the connected stream and the
    /// peer's address (usually unnamed).
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered before the accept
    /// is tried, as an `io::Error` that [`is_cancelled`](crate::is_cancelled)
    /// recognises. A cancelled accept took no connection: it stays queued
    /// for the next accept.
    ///
    /// # Errors
    /// The OS refused the accept (out of file descriptors, for instance);
    /// registering the new stream failed; a cancellation.
    #[track_caller]
    pub fn accept(
        &self,
    ) -> impl std::future::Future<Output = io::Result<(UnixStream, SocketAddr)>> {
        crate::task::current_task::at_caller(async move {
            let (stream, addr) = self.io.io(Direction::Read, |s| s.accept()).await?;
            Ok((UnixStream::new(stream)?, addr))
        })
    }

    /// The address (path) the listener is bound to.
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

// ---------------------------------------------------------------------------
// UnixStream

/// A connected Unix stream socket.
///
/// Reading and writing wait independently, so one task may read while
/// another writes; all methods take `&self`.
///
/// # Examples
/// ```
/// use taskloop::net::UnixStream;
/// # taskloop::run(async {
/// let (a, b) = UnixStream::pair()?;
/// a.write_all(b"ping").await?;
/// let mut buf = [0u8; 4];
/// b.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct UnixStream {
    /// The non-blocking socket and its registration.
    io: IoSource<mio::net::UnixStream>,
}

impl UnixStream {
    /// Registers a mio stream (already non-blocking).
    fn new(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Connects to the listener at `path`.
    ///
    /// The connect is non-blocking: when the OS reports it in progress,
    /// this waits until the socket is writable, then takes the socket's
    /// error (`SO_ERROR`) and checks that it has a peer. On Linux a local
    /// connect completes at once, or fails at once with `WouldBlock` when
    /// the listener's backlog is full (Linux does not queue non-blocking
    /// Unix connects; try again later).
    ///
    /// # Cancellation
    /// A checkpoint, also when the OS connected at once (the wait for the
    /// first writable event is one): a cancelled connect closes its socket,
    /// and the listener may still accept a connection that ends at once.
    ///
    /// # Errors
    /// `NotFound` if nothing is at `path`; `ConnectionRefused` if the file
    /// is there but nobody listens; `PermissionDenied`; `WouldBlock` (see
    /// above); outside a runtime; a cancellation.
    #[track_caller]
    pub fn connect(
        path: impl AsRef<Path>,
    ) -> impl std::future::Future<Output = io::Result<UnixStream>> {
        crate::task::current_task::at_caller(async move {
            let stream = UnixStream::new(mio::net::UnixStream::connect(path)?)?;
            stream
                .io
                .io(Direction::Write, |s| {
                    if let Some(e) = s.take_error()? {
                        return Err(e);
                    }
                    match s.peer_addr() {
                        Ok(_) => Ok(()),
                        // Still connecting: wait for the next writable edge.
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Err(e),
                    }
                })
                .await?;
            Ok(stream)
        })
    }

    /// Two connected, unnamed streams (`socketpair`).
    ///
    /// # Errors
    /// Outside a runtime; the OS could not create them.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::new(a)?, UnixStream::new(b)?))
    }

    /// Takes over a standard stream, switching it to non-blocking mode.
    ///
    /// # Errors
    /// Outside a runtime; setting non-blocking mode or registering failed.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::new(mio::net::UnixStream::from_std(stream))
    }

    /// Deregisters the stream and gives it back as a standard one, still in
    /// non-blocking mode (call `set_nonblocking(false)` for blocking use).
    pub fn into_std(self) -> std::os::unix::net::UnixStream {
        self.io.into_inner().into()
    }

    /// Reads what is available into `buf` (waiting until something is);
    /// returns the bytes read, 0 at end of stream (the peer closed or shut
    /// down its writing half) or for an empty `buf`.
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered before the read is
    /// tried, as an `io::Error` that [`is_cancelled`](crate::is_cancelled)
    /// recognises. A cancelled read read nothing: the bytes stay for the
    /// next read.
    ///
    /// # Errors
    /// The connection was reset; a cancellation.
    #[track_caller]
    pub fn read(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |mut s| s.read(buf)).await
        })
    }

    /// Writes some of `buf` (waiting until the socket has room); returns the
    /// bytes written.
    ///
    /// # Cancellation
    /// A checkpoint, as [`read`](Self::read): a cancelled write wrote
    /// nothing.
    ///
    /// # Errors
    /// `BrokenPipe` if the peer is gone or the writing half was shut down;
    /// a cancellation.
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Write, |mut s| s.write(buf)).await
        })
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Cancellation
    /// A checkpoint before each read. If it is cancelled after some bytes
    /// were read, those bytes are in `buf` but lost to the caller (the
    /// error does not say how many): use [`read`](Self::read) in a loop to
    /// keep them.
    ///
    /// # Errors
    /// `UnexpectedEof` if the stream ends first; those of
    /// [`read`](Self::read).
    #[track_caller]
    pub fn read_exact(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move {
            crate::reactor::read_exact(buf, async |b| self.read(b).await).await
        })
    }

    /// Writes all of `buf`.
    ///
    /// # Cancellation
    /// A checkpoint before each write. If it is cancelled after part of
    /// `buf` was written, that part was sent and the error does not say how
    /// much: use [`write`](Self::write) in a loop to know.
    ///
    /// # Errors
    /// `WriteZero` if the socket accepts no more bytes; those of
    /// [`write`](Self::write).
    #[track_caller]
    pub fn write_all(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move {
            crate::reactor::write_all(buf, async |b| self.write(b).await).await
        })
    }

    /// Shuts down the reading half, the writing half or both (the peer's
    /// reads then see end of stream after the data already sent). Never
    /// waits.
    ///
    /// # Errors
    /// `NotConnected` if the peer is already gone (some systems).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// This end's address (usually unnamed).
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address (the listener's path for a connected stream).
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

// ---------------------------------------------------------------------------
// UnixDatagram

/// A Unix datagram socket: bound to a path, unbound, or one of a pair.
///
/// A receive takes one whole datagram; one longer than the buffer is
/// truncated to it, the rest discarded (as with `std`).
///
/// # Examples
/// ```
/// use taskloop::net::UnixDatagram;
/// # taskloop::run(async {
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"one").await?;
/// let mut buf = [0u8; 8];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"one");
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct UnixDatagram {
    /// The non-blocking socket and its registration.
    io: IoSource<mio::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Registers a mio socket (already non-blocking).
    fn new(socket: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: IoSource::new(socket)?,
        })
    }

    /// Creates a socket file at `path` and binds a datagram socket to it.
    /// The file stays when the socket is dropped (remove it yourself); a
    /// bind that fails leaves no file.
    ///
    /// # Errors
    /// Outside a runtime; `AddrInUse` if a file exists at `path`; the
    /// directory is missing or not writable.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let io = registered(path, IoSource::new(mio::net::UnixDatagram::bind(path)?))?;
        Ok(UnixDatagram { io })
    }

    /// A socket bound to no path: it can send (`send_to`, or `send` after
    /// [`connect`](Self::connect)) but nobody can address replies to it.
    ///
    /// # Errors
    /// Outside a runtime; the OS could not create it.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::new(mio::net::UnixDatagram::unbound()?)
    }

    /// Two connected, unnamed sockets (`socketpair`).
    ///
    /// # Errors
    /// Outside a runtime; the OS could not create them.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::new(a)?, UnixDatagram::new(b)?))
    }

    /// Takes over a standard socket, switching it to non-blocking mode.
    ///
    /// # Errors
    /// Outside a runtime; setting non-blocking mode or registering failed.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        UnixDatagram::new(mio::net::UnixDatagram::from_std(socket))
    }

    /// Deregisters the socket and gives it back as a standard one, still in
    /// non-blocking mode.
    pub fn into_std(self) -> std::os::unix::net::UnixDatagram {
        self.io.into_inner().into()
    }

    /// Sets the default peer to the socket bound at `path`: `send` goes
    /// there, `recv` takes only its datagrams. Never waits.
    ///
    /// # Errors
    /// `NotFound` / `ConnectionRefused` if no socket is bound at `path`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered before the send is
    /// tried, as an `io::Error` that [`is_cancelled`](crate::is_cancelled)
    /// recognises; a cancelled send sent nothing.
    ///
    /// # Errors
    /// Not connected; the peer is gone (`ConnectionRefused`); the datagram
    /// is too large; a cancellation.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Write, |s| s.send(buf)).await
        })
    }

    /// Receives one datagram into `buf`; returns its length (at most
    /// `buf.len()`, the rest discarded).
    ///
    /// # Cancellation
    /// A checkpoint, delivered before the receive is tried: a cancelled
    /// receive took no datagram.
    ///
    /// # Errors
    /// A cancellation; the OS refused the receive.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.recv(buf)).await
        })
    }

    /// Sends one datagram to the socket bound at `path`; returns the bytes
    /// sent.
    ///
    /// # Cancellation
    /// A checkpoint, as [`send`](Self::send).
    ///
    /// # Errors
    /// `NotFound` / `ConnectionRefused` if no socket is bound at `path`;
    /// the datagram is too large; a cancellation.
    #[track_caller]
    pub fn send_to(
        &self,
        buf: &[u8],
        path: impl AsRef<Path>,
    ) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            let path = path.as_ref();
            self.io.io(Direction::Write, |s| s.send_to(buf, path)).await
        })
    }

    /// Receives one datagram into `buf`; returns its length (at most
    /// `buf.len()`) and the sender's address (unnamed for an unbound
    /// sender).
    ///
    /// # Cancellation
    /// A checkpoint, as [`recv`](Self::recv).
    ///
    /// # Errors
    /// A cancellation; the OS refused the receive.
    #[track_caller]
    pub fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, SocketAddr)>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.recv_from(buf)).await
        })
    }

    /// The address the socket is bound to (unnamed if unbound).
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down receiving, sending or both. Never waits.
    ///
    /// # Errors
    /// The OS refused it.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }
}

// ---------------------------------------------------------------------------
// Descriptors and Debug

/// `AsRawFd`, `AsFd` and `Debug` (the socket's own, naming its fd and
/// addresses) for each type.
macro_rules! fd_and_debug {
    ($($ty:ident),*) => {$(
        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // mio's `Debug` is std's: `UnixStream { fd: 5, local: .., peer: .. }`.
                fmt::Debug::fmt(self.io.get_ref(), f)
            }
        }
    )*};
}

fd_and_debug!(UnixListener, UnixStream, UnixDatagram);
