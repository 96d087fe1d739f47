//! [`TcpListener`] and [`TcpStream`]: mio's non-blocking sockets behind
//! [`IoSource`], with `async` methods on `&self`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::AsyncRead;
use super::addr::{ToSocketAddrs, resolve};
use crate::reactor::{Direction, IoSource};

/// A TCP socket listening for connections: asyncio's `Server` (one
/// socket), `std::net::TcpListener`'s async twin.
///
/// It belongs to the runtime it was created in (it is `!Send`); dropping it
/// closes the socket.
///
/// # Examples
/// ```
/// use taskloop::net::{TcpListener, TcpStream};
/// # taskloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let server = taskloop::spawn(async move {
///     let (conn, _peer) = listener.accept().await?;
///     let mut buf = [0u8; 5];
///     conn.read_exact(&mut buf).await?;
///     conn.write_all(&buf).await?; // echo
///     Ok::<_, std::io::Error>(())
/// });
/// let client = TcpStream::connect(addr).await?;
/// client.write_all(b"hello").await?;
/// let mut buf = [0u8; 5];
/// client.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello");
/// server.await.unwrap()?;
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct TcpListener {
    /// The registered socket.
    io: IoSource<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr`, trying each address it resolves to in
    /// turn (as `std` does) and keeping the first that binds.
    /// `SO_REUSEADDR` is set (as mio and tokio do), so a server can be
    /// restarted on its port while old connections are in `TIME_WAIT`.
    /// The listen backlog is 128 (`std`'s and mio's; asyncio's default is
    /// 100): connections that arrive faster than they are accepted beyond
    /// it may be refused or reset by the kernel.
    ///
    /// # Cancellation
    /// A checkpoint only while a host name is being resolved (numeric
    /// addresses bind at once); nothing is bound then.
    ///
    /// # Errors
    /// A malformed or unresolvable address; the last address's bind error
    /// (`AddrInUse`, `PermissionDenied`, ...); outside a runtime.
    #[track_caller]
    pub fn bind(
        addr: impl ToSocketAddrs,
    ) -> impl std::future::Future<Output = io::Result<TcpListener>> {
        crate::task::current_task::at_caller(async move {
            let mut last = None;
            for addr in resolve(&addr).await? {
                match mio::net::TcpListener::bind(addr) {
                    Ok(l) => return TcpListener::from_mio(l),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.expect("resolve gives at least one address"))
        })
    }

    /// Registers a mio listener.
    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: IoSource::new(listener)?,
        })
    }

    /// Waits for the next connection and returns it with the peer's
    /// address.
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered (as an error
    /// carrying [`Cancelled`](crate::Cancelled)) before a connection is
    /// taken, so a cancelled `accept` takes none; the connection waits in
    /// the backlog for the next `accept`. Several tasks may accept on one
    /// shared listener.
    ///
    /// # Errors
    /// The OS's `accept` error (`ECONNABORTED`, `EMFILE`, ...): the listener
    /// stays usable; a delivered cancellation
    /// ([`is_cancelled`](crate::is_cancelled) finds it).
    #[track_caller]
    pub fn accept(&self) -> impl std::future::Future<Output = io::Result<(TcpStream, SocketAddr)>> {
        crate::task::current_task::at_caller(async move {
            let (stream, peer) = self.io.io(Direction::Read, |l| l.accept()).await?;
            Ok((TcpStream::from_mio(stream)?, peer))
        })
    }

    /// The address the listener is bound to (the port chosen for `:0`).
    ///
    /// # Errors
    /// The OS's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the `IP_TTL` of the sockets it accepts.
    ///
    /// # Errors
    /// The OS's `setsockopt` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The `IP_TTL` option.
    ///
    /// # Errors
    /// The OS's `getsockopt` error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Takes over a bound `std` listener (setting it non-blocking) and
    /// registers it with the runtime running on this thread.
    ///
    /// # Errors
    /// Outside a runtime, or the OS refused the change or the registration.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Deregisters the listener and gives it back as a `std` listener,
    /// still in non-blocking mode (call `set_nonblocking(false)` to block).
    ///
    /// # Errors
    /// None today; `io::Result` keeps the shape of `from_std`.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner().into())
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

#[cfg(unix)]
impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// A TCP connection: asyncio's `StreamReader` and `StreamWriter` in one
/// socket, `std::net::TcpStream`'s async twin.
///
/// Every method takes `&self`: one task may read while another writes
/// (share it with `Rc`, or use [`into_split`](Self::into_split)). Reading
/// and writing wait independently. Dropping it closes the socket (a `FIN`;
/// an `RST` if received data was left unread, as the kernel decides).
///
/// Writes never raise `SIGPIPE`: `std`'s (and so mio's) `write` on Linux
/// is a `send` with `MSG_NOSIGNAL`, so writing to a closed peer is an
/// ordinary `BrokenPipe` or `ConnectionReset` error.
///
/// # Examples
/// ```
/// use taskloop::net::{TcpListener, TcpStream};
/// use std::net::Shutdown;
/// # taskloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// client.write_all(b"ping").await?;
/// client.shutdown(Shutdown::Write)?; // half-close: the server sees EOF
/// let mut got = Vec::new();
/// let mut buf = [0u8; 16];
/// loop {
///     match server.read(&mut buf).await? {
///         0 => break,
///         n => got.extend_from_slice(&buf[..n]),
///     }
/// }
/// assert_eq!(got, b"ping");
/// server.write_all(b"pong").await?; // the other direction is still open
/// let mut buf = [0u8; 4];
/// client.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"pong");
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct TcpStream {
    /// The registered socket.
    io: IoSource<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn (as
    /// `std` does) until one accepts; the connect is non-blocking: the task
    /// waits until the socket is writable, then asks the socket whether the
    /// connection was made.
    ///
    /// # Cancellation
    /// A checkpoint while resolving and while each connection attempt is
    /// in flight; a cancelled connect closes its socket (the peer may see a
    /// connection opened and reset) and tries no further address.
    ///
    /// # Errors
    /// A malformed or unresolvable address; the last attempt's error
    /// (`ConnectionRefused`, `TimedOut`, `NetworkUnreachable`, ...); a
    /// delivered cancellation ([`is_cancelled`](crate::is_cancelled));
    /// outside a runtime.
    #[track_caller]
    pub fn connect(
        addr: impl ToSocketAddrs,
    ) -> impl std::future::Future<Output = io::Result<TcpStream>> {
        crate::task::current_task::at_caller(async move {
            let mut last = None;
            for addr in resolve(&addr).await? {
                match TcpStream::connect_one(addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) if crate::is_cancelled(&e) => return Err(e),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.expect("resolve gives at least one address"))
        })
    }

    /// One non-blocking connect: start it, wait for writability, then read
    /// the outcome (`SO_ERROR`, else `getpeername`), as mio documents.
    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        stream
            .io
            .io(Direction::Write, |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    // Not connected yet (a spurious wake-up): wait again.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(stream)
    }

    /// Registers a mio stream.
    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Reads what is there (at least one byte, at most `buf.len()`), waiting
    /// until something is; `Ok(0)` is the end of the stream (the peer shut
    /// down its writing) or an empty `buf`.
    ///
    /// # Cancellation
    /// A checkpoint, delivered before the socket is read: a cancelled read
    /// has read nothing, and every byte is there for the next read.
    ///
    /// # Errors
    /// The socket's error (`ConnectionReset` when the peer reset the
    /// connection: never a hang); a delivered cancellation
    /// ([`is_cancelled`](crate::is_cancelled)).
    #[track_caller]
    pub fn read(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io
                .io(Direction::Read, |s| self.read_once(s, buf))
                .await
        })
    }

    /// One `read(2)`; a short read drained the socket (`IoSource::drained`).
    fn read_once(&self, mut s: &mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let n = s.read(buf)?;
        if n > 0 && n < buf.len() {
            self.io.drained(Direction::Read);
        }
        Ok(n)
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Cancellation
    /// A checkpoint before each read: when cancelled after some reads, the
    /// bytes read so far are at the front of `buf` but their count is not
    /// returned (use [`read`](Self::read) or a [`BufReader`](super::BufReader)
    /// to resume exactly). No byte left in the socket is lost.
    ///
    /// # Errors
    /// `UnexpectedEof` if the stream ends first; a read's error; a
    /// delivered cancellation.
    #[track_caller]
    pub fn read_exact(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move {
            crate::reactor::read_exact(buf, async |b| self.read(b).await).await
        })
    }

    /// Receives what is there without taking it: the next read returns the
    /// same bytes.
    ///
    /// # Cancellation
    /// A checkpoint, as [`read`](Self::read); nothing is taken either way.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.peek(buf)).await
        })
    }

    /// Writes some of `buf` (at least one byte unless `buf` is empty),
    /// waiting for room in the socket's send buffer; returns how much.
    ///
    /// # Cancellation
    /// A checkpoint, delivered before the socket is written: a cancelled
    /// write has written nothing.
    ///
    /// # Errors
    /// The socket's error (`BrokenPipe` or `ConnectionReset` once the peer
    /// is gone; no `SIGPIPE`); a delivered cancellation.
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Write, |mut s| s.write(buf)).await
        })
    }

    /// Writes all of `buf`.
    ///
    /// # Cancellation
    /// A checkpoint before each write: when cancelled, a prefix of `buf`
    /// of unknown length may have been sent (as with tokio's `write_all`;
    /// use [`write`](Self::write) to know how much).
    ///
    /// # Errors
    /// `WriteZero` if the socket takes nothing; a write's error; a
    /// delivered cancellation.
    #[track_caller]
    pub fn write_all(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move {
            crate::reactor::write_all(buf, async |b| self.write(b).await).await
        })
    }

    /// Nothing to do: a TCP socket has no user-space buffer, written bytes
    /// are the kernel's at once. Kept for asyncio's `drain` and `std`'s
    /// `flush` habits.
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

    /// Shuts down reading, writing or both (`shutdown(2)`); `Write` is
    /// asyncio's `write_eof`: the peer reads EOF and may still answer.
    ///
    /// # Errors
    /// The OS's error (`NotConnected` once the peer is gone, on some
    /// systems).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// The OS's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// # Errors
    /// The OS's `setsockopt` error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// The `TCP_NODELAY` option.
    ///
    /// # Errors
    /// The OS's `getsockopt` error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// The OS's `setsockopt` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The `IP_TTL` option.
    ///
    /// # Errors
    /// The OS's `getsockopt` error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Takes over a connected `std` stream (setting it non-blocking) and
    /// registers it with the runtime running on this thread.
    ///
    /// # Errors
    /// Outside a runtime, or the OS refused the change or the registration.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Deregisters the stream and gives it back as a `std` stream, still in
    /// non-blocking mode (call `set_nonblocking(false)` to block). Bytes
    /// the kernel holds are not lost.
    ///
    /// # Errors
    /// None today; `io::Result` keeps the shape of `from_std`.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner().into())
    }

    /// The read half of the try-then-wait loop, for the poll-based traits
    /// (not a checkpoint).
    pub(crate) fn poll_read_io(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(Direction::Read, cx, |s| self.read_once(s, buf))
    }

    /// The write half of the try-then-wait loop (not a checkpoint).
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn poll_write_io(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_io(Direction::Write, cx, |mut s| s.write(buf))
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

#[cfg(unix)]
impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_io(cx, buf)
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_io(cx, buf)
    }
}
