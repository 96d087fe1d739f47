//! `futures-io`'s `AsyncRead`, `AsyncWrite` and `AsyncBufRead` for the
//! sockets and [`BufReader`] (the optional `futures-io` feature), so that
//! the ecosystem's codecs and copy helpers work on them.
//!
//! These are poll methods on the same try-then-wait loop as the `async`
//! methods, and *not* cancellation checkpoints: a poll cannot return
//! `Cancelled` as a value. A task cancelled while it waits in one sees the
//! request at its next checkpoint. `poll_flush` does nothing (TCP has no
//! user-space buffer); `poll_close` shuts the write direction down.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{BufReader, OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, WriteHalf};

/// `AsyncRead` for a type that reaches a `TcpStream` through `$stream`.
macro_rules! read {
    ($($t:ty => |$s:ident| $stream:expr;)*) => {$(
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                $stream.poll_read_io(cx, buf)
            }
        }
    )*};
}

/// `AsyncWrite` for a type that reaches a `TcpStream` through `$stream`.
macro_rules! write {
    ($($t:ty => |$s:ident| $stream:expr;)*) => {$(
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                $stream.poll_write_io(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                Poll::Ready($stream.shutdown(Shutdown::Write))
            }
        }
    )*};
}

read! {
    TcpStream => |s| s;
    &TcpStream => |s| *s;
    OwnedReadHalf => |s| s.as_ref();
    ReadHalf<'_> => |s| s.as_ref();
}

write! {
    TcpStream => |s| s;
    &TcpStream => |s| *s;
    OwnedWriteHalf => |s| s.stream();
    WriteHalf<'_> => |s| s.stream();
}

impl<R: super::AsyncRead + Unpin> futures_io::AsyncRead for BufReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        super::AsyncRead::poll_read(self, cx, buf)
    }
}

impl<R: super::AsyncRead + Unpin> futures_io::AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume(amt);
    }
}
