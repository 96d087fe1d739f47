//! The halves of a [`TcpStream`]: owned ([`TcpStream::into_split`], two
//! `Rc`s of one stream) and borrowed ([`TcpStream::split`]).
//!
//! The stream's methods already take `&self`, so a half is only a narrower
//! view: the read half reads, the write half writes. Dropping an
//! [`OwnedWriteHalf`] shuts the write direction down (tokio's rule: the
//! peer reads EOF, so "drop the writer" means "I am done sending"), unless
//! it was [`forget`](OwnedWriteHalf::forget)-ed; a borrowed [`WriteHalf`]
//! does nothing on drop (the stream outlives it).

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{AsyncRead, TcpStream};

impl TcpStream {
    /// Splits the stream into a read half and a write half that two tasks
    /// can own; [`reunite`](OwnedReadHalf::reunite) puts them back.
    ///
    /// # Examples
    /// ```
    /// use taskloop::net::{TcpListener, TcpStream};
    /// # taskloop::run(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// let (rd, wr) = server.into_split();
    /// let echo = taskloop::spawn(async move {
    ///     let mut buf = [0u8; 64];
    ///     loop {
    ///         let n = rd.read(&mut buf).await?;
    ///         if n == 0 {
    ///             return Ok::<_, std::io::Error>(()); // dropping `wr` sends EOF
    ///         }
    ///         wr.write_all(&buf[..n]).await?;
    ///     }
    /// });
    /// client.write_all(b"abc").await?;
    /// client.shutdown(std::net::Shutdown::Write)?;
    /// let mut back = [0u8; 4];
    /// assert_eq!(client.read(&mut back).await?, 3);
    /// assert_eq!(client.read(&mut back).await?, 0);
    /// echo.await.unwrap()?;
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Rc::new(self);
        (
            OwnedReadHalf {
                stream: stream.clone(),
            },
            OwnedWriteHalf {
                stream,
                shutdown_on_drop: true,
            },
        )
    }

    /// Borrows the stream as a read half and a write half (for two futures
    /// of one task, as under `join!`). Free: the halves are references.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf { stream: self }, WriteHalf { stream: self })
    }
}

/// The read half of [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    /// The stream, shared with the write half.
    stream: Rc<TcpStream>,
}

impl OwnedReadHalf {
    /// [`TcpStream::read`].
    ///
    /// # Cancellation
    /// A checkpoint; a cancelled read has read nothing.
    ///
    /// # Errors
    /// As [`TcpStream::read`].
    #[track_caller]
    pub fn read(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move { self.stream.read(buf).await })
    }

    /// [`TcpStream::read_exact`].
    ///
    /// # Cancellation
    /// As [`TcpStream::read_exact`]: bytes already read are at the front of
    /// `buf`, uncounted.
    ///
    /// # Errors
    /// As [`TcpStream::read_exact`].
    #[track_caller]
    pub fn read_exact(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { self.stream.read_exact(buf).await })
    }

    /// [`TcpStream::peek`].
    ///
    /// # Cancellation
    /// A checkpoint; nothing is taken.
    ///
    /// # Errors
    /// As [`TcpStream::peek`].
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move { self.stream.peek(buf).await })
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    /// [`ReuniteError`], giving both back, if they are of different streams.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        reunite(self, other)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As [`TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As [`TcpStream::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

/// The write half of [`TcpStream::into_split`]; dropping it shuts the
/// write direction down (the peer reads EOF) unless it was
/// [`forget`](Self::forget)-ed.
pub struct OwnedWriteHalf {
    /// The stream, shared with the read half.
    stream: Rc<TcpStream>,
    /// Whether dropping this half shuts down writing.
    shutdown_on_drop: bool,
}

impl OwnedWriteHalf {
    /// [`TcpStream::write`].
    ///
    /// # Cancellation
    /// A checkpoint; a cancelled write has written nothing.
    ///
    /// # Errors
    /// As [`TcpStream::write`].
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move { self.stream.write(buf).await })
    }

    /// [`TcpStream::write_all`].
    ///
    /// # Cancellation
    /// As [`TcpStream::write_all`]: a prefix of unknown length may be sent.
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    #[track_caller]
    pub fn write_all(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { self.stream.write_all(buf).await })
    }

    /// [`TcpStream::flush`]: nothing to do.
    ///
    /// # Cancellation
    /// Not a checkpoint.
    ///
    /// # Errors
    /// Never.
    #[track_caller]
    pub fn flush(&self) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { self.stream.flush().await })
    }

    /// Shuts the write direction down now (asyncio's `write_eof`).
    ///
    /// # Errors
    /// As [`TcpStream::shutdown`].
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Drops this half without shutting the write direction down.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    /// [`ReuniteError`], giving both back, if they are of different streams.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        reunite(other, self)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As [`TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As [`TcpStream::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// The stream, for the poll-based traits.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may be gone already: nothing to report then.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}

/// The halves given to `reunite` were of two different streams; both are
/// given back.
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

fn reunite(read: OwnedReadHalf, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
    if !Rc::ptr_eq(&read.stream, &write.stream) {
        return Err(ReuniteError(read, write));
    }
    write.shutdown_on_drop = false;
    drop(write);
    Ok(Rc::try_unwrap(read.stream)
        .unwrap_or_else(|_| unreachable!("the halves were the only owners")))
}

impl fmt::Debug for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReuniteError").finish_non_exhaustive()
    }
}

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl Error for ReuniteError {}

/// The read half of [`TcpStream::split`].
pub struct ReadHalf<'a> {
    /// The stream.
    stream: &'a TcpStream,
}

impl ReadHalf<'_> {
    /// [`TcpStream::read`].
    ///
    /// # Cancellation
    /// A checkpoint; a cancelled read has read nothing.
    ///
    /// # Errors
    /// As [`TcpStream::read`].
    #[track_caller]
    pub fn read(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move { self.stream.read(buf).await })
    }

    /// [`TcpStream::read_exact`].
    ///
    /// # Cancellation
    /// As [`TcpStream::read_exact`].
    ///
    /// # Errors
    /// As [`TcpStream::read_exact`].
    #[track_caller]
    pub fn read_exact(&self, buf: &mut [u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { self.stream.read_exact(buf).await })
    }
}

/// The write half of [`TcpStream::split`]; dropping it does nothing.
pub struct WriteHalf<'a> {
    /// The stream.
    stream: &'a TcpStream,
}

impl WriteHalf<'_> {
    /// [`TcpStream::write`].
    ///
    /// # Cancellation
    /// A checkpoint; a cancelled write has written nothing.
    ///
    /// # Errors
    /// As [`TcpStream::write`].
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move { self.stream.write(buf).await })
    }

    /// [`TcpStream::write_all`].
    ///
    /// # Cancellation
    /// As [`TcpStream::write_all`].
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    #[track_caller]
    pub fn write_all(&self, buf: &[u8]) -> impl std::future::Future<Output = io::Result<()>> {
        crate::task::current_task::at_caller(async move { self.stream.write_all(buf).await })
    }

    /// Shuts the write direction down (asyncio's `write_eof`).
    ///
    /// # Errors
    /// As [`TcpStream::shutdown`].
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// The stream, for the poll-based traits.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn stream(&self) -> &TcpStream {
        self.stream
    }
}

impl AsRef<TcpStream> for OwnedReadHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl AsRef<TcpStream> for OwnedWriteHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl AsRef<TcpStream> for ReadHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.stream
    }
}

impl AsRef<TcpStream> for WriteHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.stream
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&*self.stream).finish()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("stream", &*self.stream)
            .field("shutdown_on_drop", &self.shutdown_on_drop)
            .finish()
    }
}

impl fmt::Debug for ReadHalf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(self.stream).finish()
    }
}

impl fmt::Debug for WriteHalf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(self.stream).finish()
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_read_io(cx, buf)
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_read_io(cx, buf)
    }
}
