//! [`BufReader`]: a buffer over an [`AsyncRead`], with asyncio's
//! `StreamReader.readline`/`readuntil` on it, and [`Lines`].
//!
//! # Ground rules
//!
//! * The unread bytes are `buf[pos..]`; a read from the source appends to
//!   `buf` (compacting it first), so a line longer than the capacity grows
//!   the buffer until its delimiter or the end of the stream arrives.
//! * Bytes leave the buffer only when a call returns them: a line is
//!   searched for in the buffer and copied out once whole (or at the end
//!   of the stream). A cancelled (or dropped, or failed) `read_until` /
//!   `read_line` therefore leaves the caller's buffer untouched and every
//!   byte read so far in the `BufReader`, for the next call: asyncio's
//!   `readuntil` keeps its buffer the same way.
//! * The checkpoint is here, not in the source's `poll_read`: each `async`
//!   method delivers a pending cancellation before it looks at the buffer.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::AsyncRead;
use crate::cancel::CancelSlot;
use crate::task::WaitKind;

/// How much a `BufReader` asks its source for at a time, by default.
const DEFAULT_CAPACITY: usize = 8 * 1024;

/// A buffer over an [`AsyncRead`] (a [`TcpStream`](super::TcpStream), a
/// read half): few reads from the socket, and the line-oriented reads of
/// asyncio's `StreamReader`.
///
/// # Examples
/// ```
/// use taskloop::net::{BufReader, TcpListener, TcpStream};
/// # taskloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// client.write_all(b"HELO x\r\nQUIT").await?;
/// drop(client);
/// let mut reader = BufReader::new(server);
/// let mut line = String::new();
/// reader.read_line(&mut line).await?;
/// assert_eq!(line, "HELO x\r\n"); // with its delimiter, like asyncio's readline
/// line.clear();
/// reader.read_line(&mut line).await?;
/// assert_eq!(line, "QUIT"); // the partial last line, at the end of the stream
/// assert_eq!(reader.read_line(&mut line).await?, 0);
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct BufReader<R> {
    /// The source.
    inner: R,
    /// The buffer; the unread bytes are `buf[pos..]`.
    buf: Vec<u8>,
    /// Where the unread bytes start.
    pos: usize,
    /// How much one read from the source asks for.
    capacity: usize,
}

impl<R: AsyncRead + Unpin> BufReader<R> {
    /// A `BufReader` reading 8 KiB at a time.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A `BufReader` reading `capacity` bytes at a time (at least 1).
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader {
            inner,
            buf: Vec::with_capacity(capacity),
            pos: 0,
            capacity: capacity.max(1),
        }
    }

    /// Reads into `out`: from the buffer if it holds anything, else from
    /// the source (directly when `out` is at least the capacity).
    ///
    /// # Cancellation
    /// A checkpoint, delivered before anything is taken: nothing is lost.
    ///
    /// # Errors
    /// The source's error; a delivered cancellation (an `io::Error`
    /// carrying [`Cancelled`](crate::Cancelled)).
    #[track_caller]
    pub fn read(&mut self, out: &mut [u8]) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            let mut slot = CancelSlot::new(WaitKind::Io);
            poll_fn(|cx| slot.poll_checkpoint(cx, |cx| Pin::new(&mut *self).poll_read(cx, out)))
                .await
                .map_err(io::Error::from)?
        })
    }

    /// Reads up to and including `byte`, appending it to `out`; at the end
    /// of the stream, appends what is left without a delimiter (asyncio's
    /// `readuntil` raises `IncompleteReadError` there; `readline` returns
    /// the partial line, as here). Returns how many bytes were appended: 0
    /// only at the end of the stream.
    ///
    /// # Cancellation
    /// A checkpoint before each read from the source. A cancelled (or
    /// dropped) call appends nothing to `out`: the bytes of the incomplete
    /// line stay in the `BufReader`, and the next call returns them.
    ///
    /// # Errors
    /// The source's error (the bytes read stay buffered); a delivered
    /// cancellation.
    #[track_caller]
    pub fn read_until(
        &mut self,
        byte: u8,
        out: &mut Vec<u8>,
    ) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            let n = self.until(byte).await?;
            out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            self.consume(n);
            Ok(n)
        })
    }

    /// Reads a line, `\n` included (asyncio's `readline`), appending it to
    /// `out`; the partial last line at the end of the stream comes without
    /// it. Returns how many bytes were appended: 0 only at the end of the
    /// stream.
    ///
    /// # Cancellation
    /// As [`read_until`](Self::read_until): a cancelled call leaves `out`
    /// untouched and the partial line in the `BufReader`.
    ///
    /// # Errors
    /// `InvalidData` if the line is not UTF-8 (the line is consumed, `out`
    /// untouched, as `std`'s `read_line`); the source's error; a delivered
    /// cancellation.
    #[track_caller]
    pub fn read_line(
        &mut self,
        out: &mut String,
    ) -> impl std::future::Future<Output = io::Result<usize>> {
        crate::task::current_task::at_caller(async move {
            let n = self.until(b'\n').await?;
            let line =
                std::str::from_utf8(&self.buf[self.pos..self.pos + n]).map(|s| out.push_str(s));
            self.consume(n);
            line.map(|()| n)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        })
    }

    /// The lines of the stream, without their `\n` or `\r\n`.
    pub fn lines(self) -> Lines<R> {
        Lines {
            reader: self,
            scanned: 0,
            stream_slot: CancelSlot::new(WaitKind::Io),
        }
    }

    /// Waits until `buf[pos..pos + n]` is a whole line (or the rest of the
    /// stream) and returns `n`; a checkpoint.
    async fn until(&mut self, byte: u8) -> io::Result<usize> {
        let mut slot = CancelSlot::new(WaitKind::Io);
        let mut scanned = 0;
        poll_fn(|cx| slot.poll_checkpoint(cx, |cx| self.poll_until(cx, byte, &mut scanned)))
            .await
            .map_err(io::Error::from)?
    }

    /// The poll behind `until`: `scanned` bytes of the unread data are
    /// known not to hold `byte` (kept by the caller across polls).
    fn poll_until(
        &mut self,
        cx: &mut Context<'_>,
        byte: u8,
        scanned: &mut usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            let unread = &self.buf[self.pos..];
            if let Some(i) = unread[*scanned..].iter().position(|&b| b == byte) {
                let n = *scanned + i + 1;
                *scanned = 0;
                return Poll::Ready(Ok(n));
            }
            *scanned = unread.len();
            if ready!(self.poll_read_more(cx))? == 0 {
                // The end of the stream: the rest, delimiter or not.
                *scanned = 0;
                return Poll::Ready(Ok(self.buf.len() - self.pos));
            }
        }
    }

    /// Appends one read from the source to the buffer.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + self.capacity, 0);
        let read = Pin::new(&mut self.inner).poll_read(cx, &mut self.buf[len..]);
        let n = match read {
            Poll::Ready(Ok(n)) => n,
            _ => 0,
        };
        self.buf.truncate(len + n);
        read
    }

    /// The buffered bytes, reading from the source if there are none; an
    /// empty slice is the end of the stream.
    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.pos == self.buf.len() {
            ready!(self.poll_read_more(cx))?;
        }
        Poll::Ready(Ok(&self.buf[self.pos..]))
    }
}

impl<R> BufReader<R> {
    /// The bytes read from the source and not yet returned.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks the first `amt` buffered bytes as read (at most all of them).
    pub fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// The source.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The source; reading from it directly skips the buffered bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The source; the buffered bytes are lost (take them with
    /// [`buffer`](Self::buffer) first).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BufReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pos == this.buf.len() && out.len() >= this.capacity {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let data = ready!(this.poll_fill_buf(cx))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        this.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The lines of a [`BufReader`] ([`BufReader::lines`]), without their
/// `\n` or `\r\n`; the partial last line at the end of the stream is a
/// line too. With the `futures` feature it is a `Stream` of
/// `io::Result<String>`.
///
/// # Examples
/// ```
/// use taskloop::net::{BufReader, TcpListener, TcpStream};
/// # taskloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// client.write_all(b"one\ntwo\r\nthree").await?;
/// drop(client);
/// let mut lines = BufReader::new(server).lines();
/// let mut got = Vec::new();
/// while let Some(line) = lines.next_line().await? {
///     got.push(line);
/// }
/// assert_eq!(got, ["one", "two", "three"]);
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub struct Lines<R> {
    /// The reader the lines come from.
    reader: BufReader<R>,
    /// Unread bytes known to hold no `\n` (kept across polls).
    scanned: usize,
    /// The checkpoint registration of the `Stream` poll (`next_line` has
    /// its own, per call).
    stream_slot: CancelSlot,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    /// The next line, or `None` at the end of the stream.
    ///
    /// # Cancellation
    /// A checkpoint before each read from the source; a cancelled call
    /// loses nothing (the partial line stays buffered).
    ///
    /// # Errors
    /// The source's error; `InvalidData` for a line that is not UTF-8 (it
    /// is consumed); a delivered cancellation.
    #[track_caller]
    pub fn next_line(&mut self) -> impl std::future::Future<Output = io::Result<Option<String>>> {
        crate::task::current_task::at_caller(async move {
            let mut slot = CancelSlot::new(WaitKind::Io);
            poll_fn(|cx| self.poll_line(cx, &mut slot)).await
        })
    }

    /// The poll behind `next_line` and the `Stream`: a checkpoint on
    /// `slot`.
    pub(crate) fn poll_next_line(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<String>>> {
        let mut slot = std::mem::replace(&mut self.stream_slot, CancelSlot::new(WaitKind::Io));
        let polled = self.poll_line(cx, &mut slot);
        self.stream_slot = slot;
        polled
    }

    /// One poll for a line, delivering a cancellation on `slot` first.
    fn poll_line(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut CancelSlot,
    ) -> Poll<io::Result<Option<String>>> {
        let Lines {
            reader, scanned, ..
        } = self;
        let n = match ready!(slot.poll_checkpoint(cx, |cx| reader.poll_until(cx, b'\n', scanned))) {
            Err(cancelled) => return Poll::Ready(Err(cancelled.into())),
            Ok(n) => n?,
        };
        if n == 0 {
            return Poll::Ready(Ok(None));
        }
        let mut line = &reader.buf[reader.pos..reader.pos + n];
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l.strip_suffix(b"\r").unwrap_or(l);
        }
        let line = String::from_utf8(line.to_vec())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        reader.consume(n);
        Poll::Ready(line.map(Some))
    }
}

impl<R> Lines<R> {
    /// The reader, with the bytes not yet returned as lines.
    pub fn into_inner(self) -> BufReader<R> {
        self.reader
    }

    /// The reader.
    pub fn get_ref(&self) -> &BufReader<R> {
        &self.reader
    }
}

impl<R: fmt::Debug> fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A source that returns its chunks one per poll, then EOF.
    struct Chunks(VecDeque<&'static [u8]>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let Some(chunk) = self.0.pop_front() else {
                return Poll::Ready(Ok(0));
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.push_front(&chunk[n..]);
            }
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn lines_split_across_reads_and_a_tiny_capacity_grow_the_buffer() {
        crate::Runtime::new().unwrap().block_on(async {
            let src = Chunks(VecDeque::from([&b"ab"[..], b"c\nde", b"f\r\n\n", b"gh"]));
            let mut r = BufReader::with_capacity(1, src);
            let mut v = Vec::new();
            assert_eq!(r.read_until(b'\n', &mut v).await.unwrap(), 4);
            assert_eq!(v, b"abc\n");
            let mut lines = r.lines();
            let mut got = Vec::new();
            while let Some(l) = lines.next_line().await.unwrap() {
                got.push(l);
            }
            assert_eq!(got, ["def", "", "gh"]);
        });
    }

    #[test]
    fn a_line_that_is_not_utf8_is_invalid_data_and_consumed() {
        crate::Runtime::new().unwrap().block_on(async {
            let src = Chunks(VecDeque::from([&b"\xff\nok\n"[..]]));
            let mut r = BufReader::new(src);
            let mut s = String::new();
            let e = r.read_line(&mut s).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(s.is_empty());
            assert_eq!(r.read_line(&mut s).await.unwrap(), 3);
            assert_eq!(s, "ok\n");
            let mut buf = [0u8; 4];
            assert_eq!(r.read(&mut buf).await.unwrap(), 0);
        });
    }
}
