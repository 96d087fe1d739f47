//! Multi-producer, single-consumer channels: [`channel`] (bounded) and
//! [`unbounded`], as Rust users expect them, for tasks on one loop.
//!
//! A channel is a FIFO [`Queue`](super::Queue) underneath, with the same
//! guarantees: senders waiting for room are served in arrival order, a value
//! sent while the receiver waits is handed straight to it, and a value handed
//! to a receive that is cancelled goes back to the front of the channel.
//! Dropping every [`Sender`] shuts the queue down gently (the receiver
//! drains what is left, then gets `None`); dropping the [`Receiver`] shuts it
//! down at once (the buffered values are dropped, and sends fail, giving the
//! value back).
//!
//! # Examples
//! ```
//! use taskloop::sync::mpsc;
//! # taskloop::run(async {
//! let (tx, mut rx) = mpsc::channel(1);
//! let producer = taskloop::spawn(async move {
//!     for i in 0..3 {
//!         tx.send(i).await?.unwrap(); // waits for room
//!     }
//!     Ok::<_, taskloop::Cancelled>(())
//! }); // the sender is dropped when the producer ends
//! let mut got = Vec::new();
//! while let Some(i) = rx.recv().await? {
//!     got.push(i);
//! }
//! assert_eq!(got, [0, 1, 2]);
//! producer.await.unwrap()?;
//! # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::queue::{
    Fifo, GetWaiter, Put, QueueShutDown, State, TryGetError, TryPutError, bound, drop_discarded,
    poll_get, with_wakes,
};
use super::waiters::{CellRef, Waiter};
use crate::cancel::Cancelled;

/// What the senders and the receiver share.
struct Chan<T> {
    /// The queue.
    state: RefCell<State<T, Fifo>>,
    /// How many senders are alive.
    senders: Cell<usize>,
}

/// The receiver's own handle on the channel, kept by its waiting receive.
struct ChanRef<T>(Rc<Chan<T>>);

impl<T> CellRef<State<T, Fifo>> for ChanRef<T> {
    fn cell(&self) -> &RefCell<State<T, Fifo>> {
        &self.0.state
    }
}

/// A bounded channel with room for `capacity` values.
///
/// # Panics
/// If `capacity` is 0 (no room for a value; there is no rendezvous mode).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    make(bound(capacity, "mpsc::channel"))
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None)
}

/// A channel holding at most `maxsize` values.
fn make<T>(maxsize: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(Chan {
        state: RefCell::new(State::new(maxsize)),
        senders: Cell::new(1),
    });
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            waiting: None,
        },
    )
}

/// The sending half; clone it for more producers. The channel closes when
/// every sender is dropped.
///
/// # Examples
/// ```
/// use taskloop::sync::mpsc::{self, TrySendError};
/// let (tx, rx) = mpsc::channel(1);
/// let tx2 = tx.clone();
/// tx.try_send("a").unwrap();
/// assert_eq!(tx2.try_send("b"), Err(TrySendError::Full("b")));
/// drop(rx);
/// assert_eq!(tx.try_send("c"), Err(TrySendError::Closed("c")));
/// assert!(tx2.is_closed());
/// ```
pub struct Sender<T> {
    /// The channel.
    chan: Rc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room if the channel is full. Senders
    /// waiting for room are served in arrival order, and their values enter
    /// the channel in that order.
    ///
    /// # Cancellation
    /// A checkpoint, even when there is room: a pending cancellation is
    /// delivered here as `Err(Cancelled)` and the value is **not** sent (it
    /// is dropped with the future). Room reserved for a sender cancelled
    /// before it resumed goes to the next sender.
    ///
    /// # Errors
    /// `Ok(Err(SendError(value)))` if the receiver was dropped or closed,
    /// before or while waiting.
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            put: Put::new(&self.chan.state, value),
        }
    }

    /// Sends `value` if there is room and no sender waits for room.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        with_wakes(&self.chan.state, |s, w| s.try_put(value, w)).map_err(|e| match e {
            TryPutError::Full(v) => TrySendError::Full(v),
            TryPutError::ShutDown(v) => TrySendError::Closed(v),
        })
    }

    /// Whether the receiver was dropped or closed: sends fail from now on.
    pub fn is_closed(&self) -> bool {
        self.chan.state.borrow().is_shut_down()
    }

    /// The values in the channel.
    pub fn len(&self) -> usize {
        self.chan.state.borrow().len()
    }

    /// Whether the channel holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given to [`channel`]; `None` for [`unbounded`].
    pub fn capacity(&self) -> Option<usize> {
        self.chan.state.borrow().maxsize()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let left = self.chan.senders.get() - 1;
        self.chan.senders.set(left);
        if left == 0 {
            // The receiver drains what is left, then gets `None`.
            let dropped = with_wakes(&self.chan.state, |s, w| s.shutdown(false, w));
            debug_assert!(dropped.is_empty());
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future returned by [`Sender::send`]: `Ok(Ok(()))` once the value
/// is in the channel, `Ok(Err(SendError(value)))` if the receiver is gone.
///
/// # Examples
/// ```
/// use taskloop::sync::mpsc;
/// # taskloop::run(async {
/// let (tx, rx) = mpsc::channel(1);
/// tx.send(1).await?.unwrap();
/// drop(rx);
/// assert_eq!(tx.send(2).await?, Err(mpsc::SendError(2)));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    /// The put into the channel's queue.
    put: Put<'a, T, Fifo>,
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<Result<(), SendError<T>>, Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = ready!(Pin::new(&mut self.put).poll(cx))?;
        Poll::Ready(Ok(out.map_err(|QueueShutDown(v)| SendError(v))))
    }
}

/// The receiving half. Dropping it closes the channel: buffered values are
/// dropped and sends fail.
///
/// With the default `futures` feature it is a `Stream` of
/// `Result<T, Cancelled>` that ends once the channel is closed and drained.
///
/// # Examples
/// ```
/// use taskloop::sync::mpsc::{self, TryRecvError};
/// # taskloop::run(async {
/// let (tx, mut rx) = mpsc::unbounded();
/// tx.try_send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.recv().await?, Some(1));
/// assert_eq!(rx.recv().await?, None); // every sender is gone
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Receiver<T> {
    /// The channel.
    chan: Rc<Chan<T>>,
    /// The receive in progress, kept across polls of [`poll_recv`](Self::poll_recv).
    waiting: Option<GetWaiter<'static, T, Fifo, ChanRef<T>>>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting for one; `None` once every sender
    /// is dropped (or [`close`](Self::close) was called) and the channel is
    /// drained.
    ///
    /// # Cancellation
    /// A checkpoint, even when a value is there: a pending cancellation is
    /// delivered here as `Err(Cancelled)` and no value is taken. A value
    /// handed to a receive that is cancelled or dropped (as by a `wait_for`
    /// timeout) before it resumed goes back to the front of the channel.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// Polls for the next value, as [`recv`](Self::recv) does. While it is
    /// pending the receiver keeps its place (and any value handed to it)
    /// until the next poll, [`recv`](Self::recv) or drop.
    ///
    /// # Cancellation
    /// As for [`recv`](Self::recv).
    #[track_caller]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Cancelled>> {
        let chan = &self.chan;
        let waiter = self
            .waiting
            .get_or_insert_with(|| Waiter::new(ChanRef(chan.clone()), ()));
        let out = ready!(poll_get(waiter, &chan.state, cx));
        self.waiting = None;
        Poll::Ready(out.map(Result::ok))
    }

    /// Takes the next value if there is one.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Disconnected`] once the
    /// channel is closed and drained.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.give_up();
        with_wakes(&self.chan.state, |s, w| s.try_get(w)).map_err(|e| match e {
            TryGetError::Empty => TryRecvError::Empty,
            TryGetError::ShutDown => TryRecvError::Disconnected,
        })
    }

    /// Closes the channel without dropping the receiver: sends fail from now
    /// on (waiting senders wake with [`SendError`]), and the values already
    /// in the channel can still be received.
    pub fn close(&mut self) {
        let dropped = with_wakes(&self.chan.state, |s, w| s.shutdown(false, w));
        debug_assert!(dropped.is_empty());
    }

    /// Whether the channel is closed: every sender is gone, or
    /// [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.chan.state.borrow().is_shut_down()
    }

    /// Whether the channel is closed and holds no value: receives return
    /// `None`.
    pub fn is_terminated(&self) -> bool {
        let state = self.chan.state.borrow();
        state.is_shut_down() && state.len() == 0
    }

    /// The values in the channel.
    pub fn len(&self) -> usize {
        self.chan.state.borrow().len()
    }

    /// Whether the channel holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaves a receive in progress: a value handed to it goes back to the
    /// front of the channel.
    fn give_up(&mut self) {
        if let Some(waiter) = self.waiting.take() {
            drop(waiter);
            drop_discarded(&self.chan.state);
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.give_up();
        let dropped = with_wakes(&self.chan.state, |s, w| s.shutdown(true, w));
        drop(dropped);
        drop_discarded(&self.chan.state);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

/// The future returned by [`Receiver::recv`]: the next value, or `None`
/// once the channel is closed and drained. Dropping it leaves nothing
/// behind.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::sync::mpsc;
/// # taskloop::run(async {
/// let (tx, mut rx) = mpsc::unbounded();
/// let r = taskloop::wait_for(rx.recv(), Duration::from_millis(1)).await;
/// assert!(r.unwrap_err().is_elapsed());
/// tx.try_send("x").unwrap();
/// assert_eq!(rx.recv().await?, Some("x"));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    /// The receiver.
    rx: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<Option<T>, Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx.poll_recv(cx)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        // A receive given up leaves nothing behind.
        self.rx.give_up();
    }
}

/// The receiver is gone or closed: the value was not sent, and is given
/// back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel is closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] did not send its value, which it gives back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel has no room, or senders wait for room.
    Full(T),
    /// The receiver is gone or closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "Full(..)",
            TrySendError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the channel is full",
            TrySendError::Closed(_) => "the channel is closed",
        })
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value is there yet.
    Empty,
    /// No value is there and none will come: the channel is closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "the channel is empty",
            TryRecvError::Disconnected => "the channel is closed and empty",
        })
    }
}

impl std::error::Error for TryRecvError {}
