//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: asyncio's queues (3.13,
//! with `shutdown`), on one generic core with an ordering parameter.
//!
//! The queue owns its buffer and three waiter lists: getters (waiting for an
//! item), putters (waiting for room) and joiners (waiting for every item to
//! be marked done). What differs from asyncio is who moves the item:
//!
//! * **Hand-off to getters.** A put that finds a getter waiting gives the
//!   item to the first getter as its grant; no other task can take it in
//!   between. A getter cancelled (or dropped) before it resumed gives the
//!   item back: to the next getter, or to the queue as its *oldest* item (the
//!   front of a FIFO, the bottom of a LIFO), so nothing is lost or reordered.
//!   Such an item counts in [`qsize`](Queue::qsize) until its getter resumes.
//! * **Reserved room for putters.** A get that frees room grants it to the
//!   first waiting putter as a reserved slot; the putter inserts its own item
//!   when it resumes, so a putter cancelled after the grant inserts nothing
//!   and its slot goes to the next putter. A reserved slot counts in
//!   [`full`](Queue::full) (no barging by `put_nowait`).
//!
//! Invariant: while getters wait, the buffer is empty (a put hands its item
//! over instead of buffering it).

mod error;
mod order;
mod state;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pub use self::error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use self::order::{Fifo, Lifo, Order, Priority};
use self::state::{BorrowedGetWaiter, JoinList, PutList, finish_put};
pub(crate) use self::state::{GetWaiter, State, drop_discarded, poll_get, with_wakes};
use super::waiters::Waiter;
use crate::cancel::Cancelled;

/// A queue for tasks on one loop: asyncio's `Queue` (3.13), FIFO by default;
/// [`LifoQueue`] and [`PriorityQueue`] are the same type with another
/// [`Order`].
///
/// Blocked getters and putters are served in arrival order; an item put
/// while a getter waits goes straight to that getter. Share a queue between
/// tasks with `Rc`.
///
/// # Examples
/// A producer and a consumer, with `task_done` and `join`:
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::Queue;
/// # taskloop::run(async {
/// let queue = Rc::new(Queue::bounded(2));
/// let consumer = taskloop::spawn({
///     let queue = queue.clone();
///     async move {
///         let mut sum = 0;
///         while let Ok(item) = queue.get().await? {
///             sum += item;
///             queue.task_done().unwrap();
///         }
///         Ok::<_, taskloop::Cancelled>(sum)
///     }
/// });
/// for i in 1..=5 {
///     queue.put(i).await?.unwrap(); // waits while two items are queued
/// }
/// queue.join().await?; // every item was marked done
/// queue.shutdown(false);
/// assert_eq!(consumer.await.unwrap()?, 15);
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Queue<T, O: Order<T> = Fifo> {
    /// The buffer, the counts and the waiters.
    state: RefCell<State<T, O>>,
}

/// asyncio's `LifoQueue`: a [`Queue`] that gives the newest item first.
/// Made with [`Queue::lifo`] or [`Queue::lifo_bounded`].
///
/// # Examples
/// ```
/// use taskloop::sync::LifoQueue;
/// # taskloop::run(async {
/// let stack = LifoQueue::lifo();
/// for i in [1, 3, 2] {
///     stack.put_nowait(i).unwrap();
/// }
/// assert_eq!(stack.get().await?, Ok(2));
/// assert_eq!(stack.get_nowait(), Ok(3));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub type LifoQueue<T> = Queue<T, Lifo>;

/// asyncio's `PriorityQueue`: a [`Queue`] that gives the smallest item
/// first. Made with [`Queue::priority`] or [`Queue::priority_bounded`].
///
/// # Examples
/// ```
/// use taskloop::sync::PriorityQueue;
/// # taskloop::run(async {
/// let jobs = PriorityQueue::priority();
/// for job in [(2, "later"), (1, "first"), (3, "last")] {
///     jobs.put_nowait(job).unwrap();
/// }
/// assert_eq!(jobs.get().await?, Ok((1, "first")));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub type PriorityQueue<T> = Queue<T, Priority>;

/// `n` as a bound, or the panic of `bounded(0)`.
pub(crate) fn bound(n: usize, what: &str) -> Option<usize> {
    assert!(
        n > 0,
        "taskloop::sync::{what}: a bound of 0 leaves no room for an item; use the unbounded constructor for no limit"
    );
    Some(n)
}

impl<T> Queue<T> {
    /// An unbounded FIFO queue (asyncio's `Queue()`, `maxsize=0`).
    pub fn new() -> Self {
        Queue::with_maxsize(None)
    }

    /// A FIFO queue that holds at most `n` items (asyncio's
    /// `Queue(maxsize=n)`).
    ///
    /// # Panics
    /// If `n` is 0: asyncio reads `maxsize=0` as "unbounded", which in Rust
    /// would be a silent trap; use [`Queue::new`] for that.
    pub fn bounded(n: usize) -> Self {
        Queue::with_maxsize(bound(n, "Queue::bounded"))
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> LifoQueue<T> {
    /// An unbounded [`LifoQueue`].
    pub fn lifo() -> Self {
        Queue::with_maxsize(None)
    }

    /// A [`LifoQueue`] that holds at most `n` items.
    ///
    /// # Panics
    /// If `n` is 0 (as [`Queue::bounded`]).
    pub fn lifo_bounded(n: usize) -> Self {
        Queue::with_maxsize(bound(n, "Queue::lifo_bounded"))
    }
}

impl<T: Ord> PriorityQueue<T> {
    /// An unbounded [`PriorityQueue`].
    pub fn priority() -> Self {
        Queue::with_maxsize(None)
    }

    /// A [`PriorityQueue`] that holds at most `n` items.
    ///
    /// # Panics
    /// If `n` is 0 (as [`Queue::bounded`]).
    pub fn priority_bounded(n: usize) -> Self {
        Queue::with_maxsize(bound(n, "Queue::priority_bounded"))
    }
}

impl<T, O: Order<T>> Queue<T, O> {
    /// A queue in order `O` holding at most `maxsize` items (`None`:
    /// unbounded).
    ///
    /// # Panics
    /// If `maxsize` is `Some(0)`.
    pub fn with_maxsize(maxsize: Option<usize>) -> Self {
        if let Some(n) = maxsize {
            bound(n, "Queue::with_maxsize");
        }
        Queue {
            state: RefCell::new(State::new(maxsize)),
        }
    }

    /// Puts `item` in the queue, waiting for room if it is full (asyncio's
    /// `put`). Putters waiting for room are served in arrival order, and
    /// their items enter the queue in that order.
    ///
    /// # Cancellation
    /// A checkpoint, even when there is room: a pending cancellation is
    /// delivered here as `Err(Cancelled)` and the item is **not** put (it is
    /// dropped with the future). A putter cancelled after room was reserved
    /// for it, but before it resumed, passes the room on to the next putter.
    ///
    /// # Errors
    /// `Ok(Err(QueueShutDown(item)))` if the queue is shut down, before or
    /// while waiting: the item is given back.
    pub fn put(&self, item: T) -> Put<'_, T, O> {
        Put::new(&self.state, item)
    }

    /// Puts `item` in the queue if there is room and no putter waits
    /// (asyncio's `put_nowait`).
    ///
    /// # Errors
    /// [`TryPutError::Full`] or [`TryPutError::ShutDown`], with the item.
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        with_wakes(&self.state, |s, w| s.try_put(item, w))
    }

    /// Takes the next item, waiting for one if the queue is empty
    /// (asyncio's `get`). Getters are served in arrival order.
    ///
    /// # Cancellation
    /// A checkpoint, even when an item is there: a pending cancellation is
    /// delivered here as `Err(Cancelled)`, and no item is taken. An item
    /// handed to a getter that is cancelled (or dropped, as by a `wait_for`
    /// timeout) before it resumed goes to the next getter, or back to the
    /// queue as its oldest item: it is never lost.
    ///
    /// # Errors
    /// `Ok(Err(QueueShutDown(())))` once the queue is shut down and empty
    /// (at once after an immediate shutdown).
    pub fn get(&self) -> Get<'_, T, O> {
        Get {
            cell: &self.state,
            inner: Some(Waiter::new(&self.state, ())),
        }
    }

    /// Takes the next item if there is one (asyncio's `get_nowait`).
    ///
    /// # Errors
    /// [`TryGetError::Empty`], or [`TryGetError::ShutDown`] if the queue is
    /// shut down and empty. An item handed to a getter that has not resumed
    /// yet is that getter's: it counts in [`qsize`](Self::qsize) but
    /// `get_nowait` cannot take it.
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        with_wakes(&self.state, |s, w| s.try_get(w))
    }

    /// Marks one item taken from the queue as processed (asyncio's
    /// `task_done`); when every item put has been marked, [`join`](Self::join)
    /// returns.
    ///
    /// # Errors
    /// [`TaskDoneError`] if called more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        with_wakes(&self.state, |s, w| s.task_done(w))
    }

    /// Waits until every item put has been marked by
    /// [`task_done`](Self::task_done) (asyncio's `join`).
    ///
    /// # Cancellation
    /// A checkpoint, even when nothing is unfinished (asyncio returns
    /// without suspending then): a pending cancellation is delivered here as
    /// `Err(Cancelled)`. Nothing is lost.
    pub fn join(&self) -> Join<'_, T, O> {
        Join {
            inner: Waiter::new(&self.state, ()),
        }
    }

    /// Shuts the queue down (asyncio 3.13's `shutdown`): from now on `put`
    /// and `put_nowait` fail, giving the item back; `get` and `get_nowait`
    /// still take the items left, then fail. With `immediate`, the items
    /// left are dropped at once, each counted as done for
    /// [`join`](Self::join), and gets fail at once. Every blocked putter and
    /// every blocked getter wakes with the error; items already handed to a
    /// getter stay that getter's.
    pub fn shutdown(&self, immediate: bool) {
        let dropped = with_wakes(&self.state, |s, w| s.shutdown(immediate, w));
        drop(dropped);
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.state.borrow().is_shut_down()
    }

    /// The number of items in the queue (asyncio's `qsize`), counting items
    /// handed to a getter that has not resumed yet.
    pub fn qsize(&self) -> usize {
        self.state.borrow().len()
    }

    /// The most items the queue holds; `None` if unbounded (asyncio's
    /// `maxsize`, which says 0 for that).
    pub fn maxsize(&self) -> Option<usize> {
        self.state.borrow().maxsize()
    }

    /// Whether [`qsize`](Self::qsize) is 0 (asyncio's `empty`).
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a new item has no room (asyncio's `full`): the queue holds
    /// `maxsize` items, counting the room reserved for putters that have
    /// not resumed yet. Never true for an unbounded queue.
    pub fn full(&self) -> bool {
        self.state.borrow().is_full()
    }

    /// Items put and not yet marked done by [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.state.borrow().unfinished()
    }

    /// How many tasks wait in [`get`](Self::get).
    pub fn getters(&self) -> usize {
        self.state.borrow().waiting_getters()
    }

    /// How many tasks wait in [`put`](Self::put).
    pub fn putters(&self) -> usize {
        self.state.borrow().waiting_putters()
    }
}

impl<T, O: Order<T>> fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Queue")
            .field("qsize", &state.len())
            .field("maxsize", &state.maxsize())
            .field("getters", &state.waiting_getters())
            .field("putters", &state.waiting_putters())
            .field("unfinished", &state.unfinished())
            .field("shut_down", &state.is_shut_down())
            .finish()
    }
}

/// The future returned by [`Queue::put`]: `Ok(Ok(()))` once the item is
/// in, `Ok(Err(QueueShutDown(item)))` if the queue is shut down.
///
/// # Examples
/// ```
/// use taskloop::sync::{Queue, QueueShutDown};
/// # taskloop::run(async {
/// let queue = Queue::bounded(1);
/// queue.put("a").await?.unwrap();
/// queue.shutdown(false);
/// assert_eq!(queue.put("b").await?, Err(QueueShutDown("b")));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, O: Order<T> = Fifo> {
    /// The queue.
    cell: &'a RefCell<State<T, O>>,
    /// The place among the putters.
    inner: Waiter<'a, State<T, O>, PutList>,
    /// The item, until it is put or given back.
    item: Option<T>,
}

impl<'a, T, O: Order<T>> Put<'a, T, O> {
    /// A put of `item` into the queue in `cell`.
    pub(crate) fn new(cell: &'a RefCell<State<T, O>>, item: T) -> Self {
        Put {
            cell,
            inner: Waiter::new(cell, ()),
            item: Some(item),
        }
    }
}

// The item is moved, never pinned.
impl<T, O: Order<T>> Unpin for Put<'_, T, O> {}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = Result<Result<(), QueueShutDown<T>>, Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let granted = ready!(Pin::new(&mut this.inner).poll(cx))?;
        let item = this.item.take().expect("a Put polled after it returned");
        Poll::Ready(Ok(match granted {
            Ok(()) => finish_put(this.cell, item),
            Err(QueueShutDown(())) => Err(QueueShutDown(item)),
        }))
    }
}

impl<T, O: Order<T>> fmt::Debug for Put<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").field("inner", &self.inner).finish()
    }
}

/// The future returned by [`Queue::get`]: `Ok(Ok(item))`, or
/// `Ok(Err(QueueShutDown(())))` once the queue is shut down and empty.
///
/// # Examples
/// A get that times out leaves nothing behind:
/// ```
/// use std::time::Duration;
/// use taskloop::sync::Queue;
/// # taskloop::run(async {
/// let queue = Queue::new();
/// let r = taskloop::wait_for(queue.get(), Duration::from_millis(1)).await;
/// assert!(r.unwrap_err().is_elapsed());
/// assert_eq!(queue.getters(), 0);
/// queue.put_nowait(1).unwrap();
/// assert_eq!(queue.get().await?, Ok(1));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, O: Order<T> = Fifo> {
    /// The queue.
    cell: &'a RefCell<State<T, O>>,
    /// The place among the getters (taken out to leave before `drop` ends).
    inner: Option<BorrowedGetWaiter<'a, T, O>>,
}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = Result<Result<T, QueueShutDown>, Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let waiter = this
            .inner
            .as_mut()
            .expect("a Get polled after it was dropped");
        poll_get(waiter, this.cell, cx)
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    fn drop(&mut self) {
        // Leaving may give an item back to a queue shut down at once: it is
        // dropped after the borrow.
        drop(self.inner.take());
        drop_discarded(self.cell);
    }
}

impl<T, O: Order<T>> fmt::Debug for Get<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").field("inner", &self.inner).finish()
    }
}

/// The future returned by [`Queue::join`].
///
/// # Examples
/// ```
/// use taskloop::sync::Queue;
/// # taskloop::run(async {
/// let queue = Queue::new();
/// queue.put_nowait("job").unwrap();
/// let job = queue.get().await?.unwrap();
/// queue.task_done().unwrap(); // `job` is processed
/// queue.join().await?;
/// # let _ = job;
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, O: Order<T> = Fifo> {
    /// The place among the joiners.
    inner: Waiter<'a, State<T, O>, JoinList>,
}

impl<T, O: Order<T>> Future for Join<'_, T, O> {
    type Output = Result<(), Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<T, O: Order<T>> fmt::Debug for Join<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").field("inner", &self.inner).finish()
    }
}
