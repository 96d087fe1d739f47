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

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::waiters::{CellRef, Grantor, Waiter, Waiters, WakeList};
use crate::cancel::Cancelled;

// ---------------------------------------------------------------------------
// Orderings

/// The order in which a [`Queue`] gives its items out: [`Fifo`], [`Lifo`]
/// or [`Priority`]. Sealed: the three are the only ones.
pub trait Order<T>: private::Sealed {
    /// The buffer that keeps the items in this order.
    #[doc(hidden)]
    type Buf: private::Buf<T>;
}

/// First in, first out: asyncio's `Queue`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fifo;

/// Last in, first out: asyncio's `LifoQueue`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lifo;

/// Smallest first: asyncio's `PriorityQueue` (a min-heap, like `heapq`).
/// Equal items come out in no particular order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Priority;

impl<T> Order<T> for Fifo {
    type Buf = VecDeque<T>;
}

impl<T> Order<T> for Lifo {
    type Buf = Vec<T>;
}

impl<T: Ord> Order<T> for Priority {
    type Buf = BinaryHeap<Reverse<T>>;
}

mod private {
    use super::*;

    /// Only this module's orderings implement [`Order`].
    pub trait Sealed {}
    impl Sealed for Fifo {}
    impl Sealed for Lifo {}
    impl Sealed for Priority {}

    /// A buffer in one order.
    pub trait Buf<T>: Default {
        /// How many items it holds.
        fn len(&self) -> usize;
        /// Adds a new item.
        fn push(&mut self, item: T);
        /// Takes the next item out.
        fn pop(&mut self) -> Option<T>;
        /// Puts back an item older than every item held (one handed to a
        /// getter that gave it back).
        fn push_oldest(&mut self, item: T);
        /// Takes every item out.
        fn drain_all(&mut self) -> Vec<T>;
    }

    impl<T> Buf<T> for VecDeque<T> {
        fn len(&self) -> usize {
            VecDeque::len(self)
        }
        fn push(&mut self, item: T) {
            self.push_back(item);
        }
        fn pop(&mut self) -> Option<T> {
            self.pop_front()
        }
        fn push_oldest(&mut self, item: T) {
            self.push_front(item);
        }
        fn drain_all(&mut self) -> Vec<T> {
            self.drain(..).collect()
        }
    }

    impl<T> Buf<T> for Vec<T> {
        fn len(&self) -> usize {
            Vec::len(self)
        }
        fn push(&mut self, item: T) {
            Vec::push(self, item);
        }
        fn pop(&mut self) -> Option<T> {
            Vec::pop(self)
        }
        fn push_oldest(&mut self, item: T) {
            self.insert(0, item);
        }
        fn drain_all(&mut self) -> Vec<T> {
            std::mem::take(self)
        }
    }

    impl<T: Ord> Buf<T> for BinaryHeap<Reverse<T>> {
        fn len(&self) -> usize {
            BinaryHeap::len(self)
        }
        fn push(&mut self, item: T) {
            BinaryHeap::push(self, Reverse(item));
        }
        fn pop(&mut self) -> Option<T> {
            BinaryHeap::pop(self).map(|Reverse(item)| item)
        }
        fn push_oldest(&mut self, item: T) {
            BinaryHeap::push(self, Reverse(item));
        }
        fn drain_all(&mut self) -> Vec<T> {
            self.drain().map(|Reverse(item)| item).collect()
        }
    }
}

use private::Buf as _;

// ---------------------------------------------------------------------------
// The core

/// Names the getters' list.
pub(crate) struct GetList;
/// Names the putters' list.
pub(crate) struct PutList;
/// Names the joiners' list.
pub(crate) struct JoinList;

/// A queue's state, shared by [`Queue`] and the channels.
pub(crate) struct State<T, O: Order<T>> {
    /// The buffered items.
    buf: O::Buf,
    /// The most items the queue holds (`None`: unbounded).
    maxsize: Option<usize>,
    /// Items handed to getters that have not resumed yet.
    in_flight: usize,
    /// Slots granted to putters that have not inserted their item yet.
    reserved: usize,
    /// Items put and not yet marked done (`task_done`).
    unfinished: usize,
    /// Whether `shutdown` was called, and with `immediate`.
    shut_down: Option<bool>,
    /// Items a cancelled getter gave back after an immediate shutdown, to be
    /// dropped once the borrow ends.
    discarded: Vec<T>,
    /// Tasks waiting for an item: granted the item, or the shutdown.
    getters: Waiters<(), Result<T, QueueShutDown>>,
    /// Tasks waiting for room: granted a reserved slot, or the shutdown.
    putters: Waiters<(), Result<(), QueueShutDown>>,
    /// Tasks waiting for `unfinished` to reach 0.
    joiners: Waiters<(), ()>,
}

impl<T, O: Order<T>> State<T, O> {
    /// An empty state.
    pub(crate) fn new(maxsize: Option<usize>) -> Self {
        State {
            buf: Default::default(),
            maxsize,
            in_flight: 0,
            reserved: 0,
            unfinished: 0,
            shut_down: None,
            discarded: Vec::new(),
            getters: Waiters::new(),
            putters: Waiters::new(),
            joiners: Waiters::new(),
        }
    }

    /// Items in the queue: buffered, or handed to a getter not resumed yet.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() + self.in_flight
    }

    /// Whether a new item has no room (counting reserved slots).
    pub(crate) fn is_full(&self) -> bool {
        self.maxsize
            .is_some_and(|m| self.len() + self.reserved >= m)
    }

    /// The most items the queue holds (`None`: unbounded).
    pub(crate) fn maxsize(&self) -> Option<usize> {
        self.maxsize
    }

    /// Whether the queue was shut down.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.is_some()
    }

    /// Grants room to waiting putters while there is some.
    fn serve_putters(&mut self, wakes: &mut WakeList) {
        while !self.putters.is_empty() && !self.is_full() {
            self.reserved += 1;
            self.putters.grant_front(wakes, |()| Ok(()));
        }
    }

    /// Adds an item: to the first getter, or to the buffer.
    fn insert(&mut self, item: T, wakes: &mut WakeList) {
        self.unfinished += 1;
        if self.getters.is_empty() {
            self.buf.push(item);
        } else {
            debug_assert_eq!(self.buf.len(), 0, "getters wait only on an empty buffer");
            self.in_flight += 1;
            self.getters.grant_front(wakes, |()| Ok(item));
        }
    }

    /// `put_nowait`.
    pub(crate) fn try_put(&mut self, item: T, wakes: &mut WakeList) -> Result<(), TryPutError<T>> {
        if self.is_shut_down() {
            return Err(TryPutError::ShutDown(item));
        }
        if !self.putters.is_empty() || self.is_full() {
            return Err(TryPutError::Full(item));
        }
        self.insert(item, wakes);
        Ok(())
    }

    /// `get_nowait`.
    pub(crate) fn try_get(&mut self, wakes: &mut WakeList) -> Result<T, TryGetError> {
        match self.buf.pop() {
            Some(item) => {
                self.serve_putters(wakes);
                Ok(item)
            }
            None if self.is_shut_down() => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// `shutdown`: returns the items dropped, to drop after the borrow.
    pub(crate) fn shutdown(&mut self, immediate: bool, wakes: &mut WakeList) -> Vec<T> {
        let was_immediate = self.shut_down == Some(true);
        self.shut_down = Some(immediate || was_immediate);
        let mut dropped = Vec::new();
        if immediate {
            dropped = self.buf.drain_all();
            self.unfinished = self.unfinished.saturating_sub(dropped.len());
            self.serve_joiners(wakes);
        }
        while self.getters.grant_front(wakes, |()| Err(QueueShutDown(()))) {}
        while self.putters.grant_front(wakes, |()| Err(QueueShutDown(()))) {}
        dropped
    }

    /// `task_done`.
    pub(crate) fn task_done(&mut self, wakes: &mut WakeList) -> Result<(), TaskDoneError> {
        if self.unfinished == 0 {
            return Err(TaskDoneError);
        }
        self.unfinished -= 1;
        self.serve_joiners(wakes);
        Ok(())
    }

    /// Wakes every joiner if no item is unfinished.
    fn serve_joiners(&mut self, wakes: &mut WakeList) {
        if self.unfinished == 0 {
            while self.joiners.grant_front(wakes, |()| ()) {}
        }
    }
}

impl<T, O: Order<T>> Grantor<GetList> for State<T, O> {
    type Request = ();
    type Grant = Result<T, QueueShutDown>;

    fn waiters(&mut self) -> &mut Waiters<(), Self::Grant> {
        &mut self.getters
    }

    fn try_now(&mut self, (): ()) -> Result<Self::Grant, ()> {
        if !self.getters.is_empty() {
            return Err(());
        }
        match self.buf.pop() {
            Some(item) => {
                // Room is handed to putters when the getter returns (see
                // `finish_get`): this borrow cannot wake them.
                self.in_flight += 1;
                Ok(Ok(item))
            }
            None if self.is_shut_down() => Ok(Err(QueueShutDown(()))),
            None => Err(()),
        }
    }

    fn give_back(&mut self, grant: Self::Grant, wakes: &mut WakeList) {
        let Ok(item) = grant else { return };
        if self.shut_down == Some(true) {
            // An immediate shutdown drops what the queue holds.
            self.in_flight -= 1;
            self.unfinished = self.unfinished.saturating_sub(1);
            self.discarded.push(item);
            self.serve_joiners(wakes);
        } else if self.getters.is_empty() {
            self.in_flight -= 1;
            self.buf.push_oldest(item);
        } else {
            self.getters.grant_front(wakes, |()| Ok(item));
        }
    }
}

impl<T, O: Order<T>> Grantor<PutList> for State<T, O> {
    type Request = ();
    type Grant = Result<(), QueueShutDown>;

    fn waiters(&mut self) -> &mut Waiters<(), Self::Grant> {
        &mut self.putters
    }

    fn try_now(&mut self, (): ()) -> Result<Self::Grant, ()> {
        if self.is_shut_down() {
            Ok(Err(QueueShutDown(())))
        } else if !self.putters.is_empty() || self.is_full() {
            Err(())
        } else {
            self.reserved += 1;
            Ok(Ok(()))
        }
    }

    fn give_back(&mut self, grant: Self::Grant, wakes: &mut WakeList) {
        if grant.is_ok() {
            self.reserved -= 1;
            self.serve_putters(wakes);
        }
    }
}

impl<T, O: Order<T>> Grantor<JoinList> for State<T, O> {
    type Request = ();
    type Grant = ();

    fn waiters(&mut self) -> &mut Waiters<(), ()> {
        &mut self.joiners
    }

    fn try_now(&mut self, (): ()) -> Result<(), ()> {
        if self.unfinished == 0 {
            Ok(())
        } else {
            Err(())
        }
    }

    // Every joiner is granted at once: a grant given back needs no one.
    fn give_back(&mut self, (): (), _wakes: &mut WakeList) {}
}

/// A getter's wait, reaching the state through `C`.
pub(crate) type GetWaiter<'a, T, O, C> = Waiter<'a, State<T, O>, GetList, C>;

/// A getter's wait on a borrowed queue.
type BorrowedGetWaiter<'a, T, O> = GetWaiter<'a, T, O, &'a RefCell<State<T, O>>>;

/// Polls a getter's wait and settles what it returns: an item taken frees
/// room for a putter; an item dropped by an immediate shutdown is dropped
/// here, after the borrow.
pub(crate) fn poll_get<T, O: Order<T>, C: CellRef<State<T, O>>>(
    waiter: &mut GetWaiter<'_, T, O, C>,
    cell: &RefCell<State<T, O>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Result<T, QueueShutDown>, Cancelled>> {
    let out = ready!(Pin::new(waiter).poll(cx));
    match &out {
        Ok(Ok(_)) => finish_get(cell),
        Ok(Err(_)) => {}
        Err(_) => drop_discarded(cell),
    }
    Poll::Ready(out)
}

/// A getter took its item: the room it leaves goes to the next putter.
fn finish_get<T, O: Order<T>>(cell: &RefCell<State<T, O>>) {
    let mut wakes = WakeList::new();
    {
        let mut state = cell.borrow_mut();
        state.in_flight -= 1;
        state.serve_putters(&mut wakes);
    }
    wakes.wake_all();
}

/// Drops, after the borrow, the items a leaving getter gave back to a
/// queue shut down at once.
pub(crate) fn drop_discarded<T, O: Order<T>>(cell: &RefCell<State<T, O>>) {
    let discarded = std::mem::take(&mut cell.borrow_mut().discarded);
    drop(discarded);
}

/// A putter was granted a slot: inserts its item, or gives it back if the
/// queue was shut down meanwhile.
fn finish_put<T, O: Order<T>>(
    cell: &RefCell<State<T, O>>,
    item: T,
) -> Result<(), QueueShutDown<T>> {
    let mut wakes = WakeList::new();
    let out = {
        let mut state = cell.borrow_mut();
        state.reserved -= 1;
        if state.is_shut_down() {
            Err(QueueShutDown(item))
        } else {
            state.insert(item, &mut wakes);
            Ok(())
        }
    };
    wakes.wake_all();
    out
}

/// Runs `f` on the state, then wakes whom it granted (after the borrow).
pub(crate) fn with_wakes<T, O: Order<T>, R>(
    cell: &RefCell<State<T, O>>,
    f: impl FnOnce(&mut State<T, O>, &mut WakeList) -> R,
) -> R {
    let mut wakes = WakeList::new();
    let out = f(&mut cell.borrow_mut(), &mut wakes);
    wakes.wake_all();
    out
}

// ---------------------------------------------------------------------------
// Queue

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
        self.state.borrow().maxsize
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
        self.state.borrow().unfinished
    }

    /// How many tasks wait in [`get`](Self::get).
    pub fn getters(&self) -> usize {
        self.state.borrow().getters.len()
    }

    /// How many tasks wait in [`put`](Self::put).
    pub fn putters(&self) -> usize {
        self.state.borrow().putters.len()
    }
}

impl<T, O: Order<T>> fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Queue")
            .field("qsize", &state.len())
            .field("maxsize", &state.maxsize)
            .field("getters", &state.getters.len())
            .field("putters", &state.putters.len())
            .field("unfinished", &state.unfinished)
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<T, O: Order<T>> fmt::Debug for Join<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").field("inner", &self.inner).finish()
    }
}

// ---------------------------------------------------------------------------
// Errors

/// The queue was shut down (asyncio's `QueueShutDown`); a failed put gives
/// its item back in it, a failed get holds `()`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> QueueShutDown<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

/// Why [`Queue::put_nowait`] did not put its item, which it gives back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue has no room, or putters wait for room (asyncio's
    /// `QueueFull`).
    Full(T),
    /// The queue is shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::ShutDown(_) => "ShutDown(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "the queue is full",
            TryPutError::ShutDown(_) => "the queue is shut down",
        })
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::get_nowait`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryGetError {
    /// No item is there (asyncio's `QueueEmpty`).
    Empty,
    /// No item is there and the queue is shut down (asyncio's
    /// `QueueShutDown`).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "the queue is empty",
            TryGetError::ShutDown => "the queue is shut down",
        })
    }
}

impl std::error::Error for TryGetError {}

/// [`Queue::task_done`] was called more times than items were put
/// (asyncio's `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
