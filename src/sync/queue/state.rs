//! A queue's state, shared by [`Queue`](super::Queue) and the channels: the
//! buffer, the counts, the three waiter lists, and the helpers that settle
//! what a getter or a putter was granted.

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
use super::order::Order;
use super::order::private::Buf as _;
use crate::cancel::Cancelled;
use crate::sync::waiters::{CellRef, Grantor, Waiter, Waiters, WakeList};

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

    /// Items put and not yet marked done.
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished
    }

    /// How many getters wait (not yet granted).
    pub(crate) fn waiting_getters(&self) -> usize {
        self.getters.len()
    }

    /// How many putters wait (not yet granted).
    pub(crate) fn waiting_putters(&self) -> usize {
        self.putters.len()
    }

    /// Whether the queue was shut down.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.is_some()
    }

    /// The invariants, checked after each change in debug builds.
    fn debug_check(&self) {
        debug_assert!(
            self.getters.is_empty() || self.buf.len() == 0,
            "getters wait only on an empty buffer"
        );
        debug_assert!(
            self.maxsize.is_none_or(|m| self.len() + self.reserved <= m),
            "items and reserved room within maxsize"
        );
        debug_assert!(
            !self.is_shut_down() || (self.getters.is_empty() && self.putters.is_empty()),
            "nobody waits in a queue that is shut down"
        );
    }

    /// Grants room to waiting putters while there is some.
    fn serve_putters(&mut self, wakes: &mut WakeList) {
        while !self.putters.is_empty() && !self.is_full() {
            self.reserved += 1;
            self.putters.grant_front(wakes, |()| Ok(()));
        }
        self.debug_check();
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
        self.debug_check();
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
        self.debug_check();
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
        self.debug_check();
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
pub(super) type BorrowedGetWaiter<'a, T, O> = GetWaiter<'a, T, O, &'a RefCell<State<T, O>>>;

/// Polls a getter's wait and settles what it returns: an item taken frees
/// room for a putter; an item dropped by an immediate shutdown is dropped
/// here, after the borrow.
#[track_caller]
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
pub(super) fn finish_put<T, O: Order<T>>(
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
