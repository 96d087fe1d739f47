//! [`UdpSocket`]: a UDP socket on the reactor, asyncio's datagram endpoint
//! without the protocol callbacks.
//!
//! Every operation is the reactor's try-then-wait loop on the socket's one
//! registration ([`IoSource::io`]): tried first, waited for only on
//! `WouldBlock`. Several tasks may wait in one direction at once (the
//! reactor keeps a list of waiters per direction); an edge wakes them all,
//! each tries its own `recv`, and those that find nothing wait again, so
//! every datagram goes to exactly one receiver.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::reactor::{Direction, IoSource};

/// A UDP socket registered with the running runtime.
///
/// Addresses are numeric [`SocketAddr`]s only: taskloop has no resolver
/// (resolve names with `std::net::ToSocketAddrs` on a thread of your own).
/// All methods take `&self`; share a socket between tasks with `Rc`.
///
/// Datagrams are whole or nothing: a receive takes exactly one datagram,
/// and one received into a buffer smaller than itself is truncated to the
/// buffer's length, the rest discarded (as with `std::net::UdpSocket`).
///
/// # Examples
/// ```
/// use std::net::SocketAddr;
/// use taskloop::net::UdpSocket;
/// # taskloop::run(async {
/// let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let a = UdpSocket::bind(any).await?;
/// let b = UdpSocket::bind(any).await?;
/// a.send_to(b"ping", b.local_addr()?).await?;
/// let mut buf = [0u8; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!(&buf[..n], b"ping");
/// assert_eq!(from, a.local_addr()?);
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct UdpSocket {
    /// The non-blocking socket and its registration with the reactor.
    io: IoSource<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0: the OS picks a free port; see
    /// [`local_addr`](Self::local_addr)).
    ///
    /// Binding never waits; the method is `async` for symmetry with the
    /// TCP constructors and with asyncio's `create_datagram_endpoint`.
    ///
    /// # Cancellation
    /// Not a checkpoint: it completes at its first poll.
    ///
    /// # Errors
    /// Outside a runtime; the OS refused the bind (the address is in use,
    /// not local, or needs privileges).
    #[track_caller]
    pub fn bind(addr: SocketAddr) -> impl std::future::Future<Output = io::Result<UdpSocket>> {
        crate::task::current_task::at_caller(async move {
            let socket = mio::net::UdpSocket::bind(addr)?;
            UdpSocket::new(socket)
        })
    }

    /// Registers a mio socket (already non-blocking).
    fn new(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: IoSource::new(socket)?,
        })
    }

    /// Takes over a standard socket, switching it to non-blocking mode.
    ///
    /// # Errors
    /// Outside a runtime (the socket is then dropped, closing it); setting
    /// non-blocking mode or registering failed.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::new(mio::net::UdpSocket::from_std(socket))
    }

    /// Deregisters the socket and gives it back as a standard socket,
    /// still in non-blocking mode (call `set_nonblocking(false)` for
    /// blocking use). Tasks waiting on it get an error from their next try.
    pub fn into_std(self) -> std::net::UdpSocket {
        self.io.into_inner().into()
    }

    /// Sets the default peer: [`send`](Self::send) goes there and
    /// [`recv`](Self::recv) only takes datagrams from it.
    ///
    /// Connecting a UDP socket exchanges no packet and never waits.
    ///
    /// # Errors
    /// The OS refused the address (for instance another address family).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get_ref().connect(addr)
    }

    /// Sends one datagram to the connected peer; returns the bytes sent
    /// (all of `buf`).
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered before the send is
    /// tried, as an `io::Error` that [`is_cancelled`](crate::is_cancelled)
    /// recognises; a cancelled send sent nothing.
    ///
    /// # Errors
    /// Not connected; the datagram is too large; an ICMP error from an
    /// earlier datagram (`ConnectionRefused`); a cancellation.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Write, |s| s.send(buf)).await
        })
    }

    /// Receives one datagram from the connected peer into `buf`; returns its
    /// length, at most `buf.len()` (the rest of a longer datagram is
    /// discarded).
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered before the receive
    /// is tried, as an `io::Error` that [`is_cancelled`](crate::is_cancelled)
    /// recognises. A cancelled receive took no datagram: the next receive
    /// gets it.
    ///
    /// # Errors
    /// Not connected; an ICMP error from an earlier datagram
    /// (`ConnectionRefused`); a cancellation.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.recv(buf)).await
        })
    }

    /// Sends one datagram to `target`; returns the bytes sent (all of
    /// `buf`).
    ///
    /// # Cancellation
    /// A checkpoint, as [`send`](Self::send): a cancelled send sent nothing.
    ///
    /// # Errors
    /// The address is unreachable or of another family; the datagram is
    /// too large; broadcast without [`set_broadcast`](Self::set_broadcast);
    /// a cancellation.
    #[track_caller]
    pub fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io
                .io(Direction::Write, |s| s.send_to(buf, target))
                .await
        })
    }

    /// Receives one datagram into `buf`; returns its length (at most
    /// `buf.len()`, the rest discarded) and its sender.
    ///
    /// # Cancellation
    /// A checkpoint, as [`recv`](Self::recv): a cancelled receive took no
    /// datagram.
    ///
    /// # Errors
    /// An ICMP error from an earlier datagram (`ConnectionRefused`); a
    /// cancellation.
    #[track_caller]
    pub fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, SocketAddr)>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.recv_from(buf)).await
        })
    }

    /// Waits for a datagram and copies it (at most `buf.len()` bytes) into
    /// `buf` without taking it; returns its length and sender. The next
    /// receive gets the same datagram.
    ///
    /// # Cancellation
    /// A checkpoint, as [`recv`](Self::recv).
    ///
    /// # Errors
    /// As [`recv_from`](Self::recv_from).
    #[track_caller]
    pub fn peek_from(
        &self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, SocketAddr)>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.peek_from(buf)).await
        })
    }

    /// Waits for a datagram from the connected peer and copies it (at most
    /// `buf.len()` bytes) into `buf` without taking it; returns its length.
    ///
    /// # Cancellation
    /// A checkpoint, as [`recv`](Self::recv).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            self.io.io(Direction::Read, |s| s.peek(buf)).await
        })
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` if [`connect`](Self::connect) was not called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Allows (or forbids) sending to broadcast addresses (`SO_BROADCAST`).
    ///
    /// # Errors
    /// The OS refused the option.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether sending to broadcast addresses is allowed (`SO_BROADCAST`).
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    /// The OS could not report it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(addr) = self.local_addr() {
            d.field("local_addr", &addr);
        }
        if let Ok(peer) = self.peer_addr() {
            d.field("peer_addr", &peer);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
