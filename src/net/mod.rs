//! Networking: TCP ([`TcpListener`], [`TcpStream`] and its halves), UDP
//! ([`UdpSocket`]), Unix domain sockets ([`UnixListener`], [`UnixStream`],
//! [`UnixDatagram`]), the address arguments ([`ToSocketAddrs`]), and
//! line-oriented reading ([`BufReader`], [`Lines`]) over any [`AsyncRead`].
//!
//! This module owns the socket types and their contracts: what each
//! operation returns, which waits are checkpoints, and where the bytes of a
//! cancelled operation are. It owns no readiness bookkeeping: every socket
//! operation is one call of the reactor's try-then-wait loop
//! (`reactor::IoSource`), so the rules are the same everywhere:
//!
//! * Every `async` method that waits on the socket is a cancellation
//!   checkpoint, and the request is delivered *before* the socket is read
//!   or written: a cancelled `read` or `accept` has taken nothing, and the
//!   next one gets every byte (asyncio's `StreamReader` keeps its buffer
//!   the same way). A cancellation is returned as an `io::Error` carrying
//!   [`Cancelled`](crate::Cancelled): [`is_cancelled`](crate::is_cancelled)
//!   finds it, and a task that returns it ends cancelled.
//! * Methods take `&self`: one task may read while another writes, and
//!   several tasks may wait on one socket.
//! * Sockets belong to the runtime of the thread they were created on
//!   (`!Send`), and creating one outside a runtime is an error.
//! * Host names are resolved on another thread; numeric addresses never
//!   leave the loop.
//!
//! With the `futures-io` feature, the sockets and [`BufReader`] implement
//! `futures-io`'s `AsyncRead`/`AsyncWrite`/`AsyncBufRead`. Those poll
//! methods are *not* checkpoints: a poll has no way to return
//! `Cancelled` as a value, so a task cancelled while waiting there sees the
//! request at its next checkpoint (or, waiting nowhere else, has its future
//! dropped, as the crate doc says).

mod addr;
mod buffered;
#[cfg(feature = "futures-io")]
mod futures_io;
mod split;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use buffered::{BufReader, Lines};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A source of bytes that can be polled: taskloop's minimal async-read
/// abstraction, what [`BufReader`] reads from.
///
/// Implemented by [`TcpStream`], `&TcpStream`, [`OwnedReadHalf`],
/// [`ReadHalf`] and [`BufReader`] itself; implement it for your own source
/// to put a `BufReader` over it.
///
/// The contract is `futures-io`'s: `Ready(Ok(0))` is the end of the stream
/// (or an empty `buf`), `Pending` means `cx` will be woken when a retry may
/// make progress, and bytes are only taken on `Ready(Ok(n))`. A poll is
/// *not* a cancellation checkpoint; the `async` methods built on it (as
/// [`BufReader::read_line`]) are.
pub trait AsyncRead {
    /// Reads into `buf`, or registers `cx` to be woken when it can.
    ///
    /// # Errors
    /// The source's error.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for &mut R {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self).poll_read(cx, buf)
    }
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for Box<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self).poll_read(cx, buf)
    }
}
