//! The one waiter list every primitive in `sync` uses: a FIFO of waiting
//! futures with O(1) removal, and the generic [`Waiter`] future that keeps a
//! place in it.
//!
//! # Ground rules
//!
//! * A primitive keeps its state, with a [`Waiters`] inside, in one
//!   `RefCell` on the loop thread; a [`Waiter`] borrows that cell only
//!   inside its own `poll` and `drop`, never across an await.
//! * A waiter's key is its own: it is created by [`Waiter`]'s first pending
//!   poll and removed exactly once, by the poll that takes the grant or by
//!   the drop (or cancellation) that gives it up. Keys are never shared, so a
//!   reused slab slot cannot be mistaken for an old waiter.
//! * Order is arrival order. The primitive serves the front with
//!   [`Waiters::pop_front`] and [`Waiters::grant`]; a granted waiter leaves
//!   the queue at once (it cannot be granted twice) but keeps its slot until
//!   its future takes the grant.
//! * **A grant is never lost.** A waiter that is cancelled or dropped after
//!   it was granted, but before its future took the grant, gives the grant
//!   back through [`Grantor::give_back`], and the primitive hands it to the
//!   next waiter (the lock to the next acquirer, an item back to the front of
//!   the queue). A waiter that leaves ungranted lets the primitive look at
//!   the new front ([`Grantor::on_leave`]): a semaphore whose first waiter
//!   wanted more permits than the second may now serve the second.
//! * **No barging.** A new request is served at once ([`Grantor::try_now`])
//!   only if the primitive says so, which every primitive does only while
//!   nobody waits in front of it (asyncio's Lock and Semaphore fixes,
//!   bpo-45997, gh-90155).
//! * **Wake after unlock.** Wakers are collected in a [`WakeList`] while the
//!   state is borrowed and woken after the borrow ends, each wake caught, so
//!   a waker that re-enters the primitive finds it free and a panicking one
//!   cannot swallow the others. Requests and grants dropped by a leaving
//!   waiter are dropped after the borrow ends too.
//! * Every wait is a cancellation checkpoint: a pending request is
//!   delivered before anything else in each poll, and wins over a grant that
//!   arrived meanwhile (the grant is handed on), as asyncio's task
//!   throws `CancelledError` into a coroutine whose future was already done.
//!   The one exception is an [`uncancellable`](Waiter::uncancellable) wait
//!   (a `Condition` re-acquiring its lock): it never delivers, but it still
//!   parks the task as a checkpoint does, so a task waiting there with a
//!   cancellation outstanding is not taken for one stuck in a foreign
//!   future (whose future the executor would drop). The request stays
//!   pending for the primitive to deliver once the wait is over.
//! * A primitive with several lists in one state (a queue's getters and
//!   putters) implements [`Grantor<K>`] once per list, with a marker type
//!   `K` naming the list; the lists are independent FIFOs.
//! * A [`Waiter`] reaches its primitive's cell through a [`CellRef`]: a
//!   plain reference, or a handle the waiter owns (an `Rc`), so that a
//!   value that is not a future (a channel receiver used as a `Stream`) can
//!   keep a waiter across polls.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::cancel::{CancelSlot, Cancelled};
use crate::task::WaitKind;
use crate::task::wake_caught;

/// "No node" in the intrusive links.
const NIL: usize = usize::MAX;

/// A FIFO of waiters, each with a request `R`, served with grants `G`.
pub(crate) struct Waiters<R, G> {
    /// Every waiter that has not left: waiting ones are also linked in
    /// arrival order, granted ones wait for their future to take the grant.
    nodes: Slab<Node<R, G>>,
    /// The first waiting node, or `NIL`.
    head: usize,
    /// The last waiting node, or `NIL`.
    tail: usize,
    /// How many nodes are linked (waiting, not granted).
    waiting: usize,
}

/// One waiter.
struct Node<R, G> {
    /// The previous waiting node (`NIL` at the head or once granted).
    prev: usize,
    /// The next waiting node (`NIL` at the tail or once granted).
    next: usize,
    /// Woken when the waiter is granted.
    waker: Option<Waker>,
    /// Where the waiter is.
    entry: Entry<R, G>,
}

/// What a node holds.
enum Entry<R, G> {
    /// Queued with its request.
    Waiting(R),
    /// Served: the request was taken by [`Waiters::pop_front`] and the grant
    /// is not set yet.
    Popped,
    /// Served: the grant waits for the future to take it.
    Granted(G),
}

/// What a waiter held when it left without taking a grant.
pub(crate) enum Left<R, G> {
    /// It was still queued: its request.
    Waiting(R),
    /// It had been granted: the grant, to be handed on.
    Granted(G),
}

impl<R, G> Waiters<R, G> {
    /// An empty list.
    pub(crate) fn new() -> Waiters<R, G> {
        Waiters {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            waiting: 0,
        }
    }

    /// How many waiters are queued (not yet granted).
    pub(crate) fn len(&self) -> usize {
        self.waiting
    }

    /// Whether nobody is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// The request of the first queued waiter.
    pub(crate) fn front(&self) -> Option<&R> {
        match self.nodes.get(self.head)?.entry {
            Entry::Waiting(ref r) => Some(r),
            _ => unreachable!("a linked waiter holds its request"),
        }
    }

    /// Queues a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, request: R, waker: &Waker) -> usize {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            waker: Some(waker.clone()),
            entry: Entry::Waiting(request),
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        self.waiting += 1;
        key
    }

    /// Makes `waker` the one to wake for `key`; returns the replaced waker,
    /// to be dropped after the borrow ends.
    #[must_use = "drop the replaced waker after releasing the borrow"]
    pub(crate) fn register(&mut self, key: usize, waker: &Waker) -> Option<Waker> {
        let slot = &mut self.nodes[key].waker;
        match slot {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        }
    }

    /// Takes the first queued waiter out of the queue, with its request;
    /// the caller must [`grant`](Self::grant) it next.
    pub(crate) fn pop_front(&mut self) -> Option<(usize, R)> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        self.unlink(key);
        let node = &mut self.nodes[key];
        match std::mem::replace(&mut node.entry, Entry::Popped) {
            Entry::Waiting(r) => Some((key, r)),
            _ => unreachable!("a linked waiter holds its request"),
        }
    }

    /// Grants a waiter taken by [`pop_front`](Self::pop_front); its waker
    /// goes into `wakes`.
    pub(crate) fn grant(&mut self, key: usize, grant: G, wakes: &mut WakeList) {
        let node = &mut self.nodes[key];
        debug_assert!(matches!(node.entry, Entry::Popped));
        node.entry = Entry::Granted(grant);
        if let Some(w) = node.waker.take() {
            wakes.push(w);
        }
    }

    /// Serves the front waiter with `f(request)`, if there is one.
    pub(crate) fn grant_front(&mut self, wakes: &mut WakeList, f: impl FnOnce(R) -> G) -> bool {
        match self.pop_front() {
            Some((key, r)) => {
                self.grant(key, f(r), wakes);
                true
            }
            None => false,
        }
    }

    /// The grant of `key`, if it was granted: the waiter leaves.
    pub(crate) fn take_grant(&mut self, key: usize) -> Option<G> {
        if !matches!(self.nodes[key].entry, Entry::Granted(_)) {
            return None;
        }
        match self.nodes.remove(key).entry {
            Entry::Granted(g) => Some(g),
            _ => unreachable!(),
        }
    }

    /// Removes `key` without a grant taken: what it held.
    pub(crate) fn remove(&mut self, key: usize) -> Left<R, G> {
        if matches!(self.nodes[key].entry, Entry::Waiting(_)) {
            self.unlink(key);
        }
        match self.nodes.remove(key).entry {
            Entry::Waiting(r) => Left::Waiting(r),
            Entry::Granted(g) => Left::Granted(g),
            Entry::Popped => unreachable!("a popped waiter is granted before anyone else runs"),
        }
    }

    /// Unlinks a queued node.
    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let n = &mut self.nodes[key];
            (
                std::mem::replace(&mut n.prev, NIL),
                std::mem::replace(&mut n.next, NIL),
            )
        };
        if prev == NIL {
            debug_assert_eq!(self.head, key);
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            debug_assert_eq!(self.tail, key);
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.waiting -= 1;
        debug_assert_eq!(self.head == NIL, self.waiting == 0);
    }
}

impl<R, G> Default for Waiters<R, G> {
    fn default() -> Self {
        Waiters::new()
    }
}

impl<R, G> fmt::Debug for Waiters<R, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("waiting", &self.waiting)
            .field("granted", &(self.nodes.len() - self.waiting))
            .finish()
    }
}

/// Wakers collected under a borrow, woken after it ends.
#[derive(Default)]
pub(crate) struct WakeList {
    /// The first waker (most operations wake one).
    first: Option<Waker>,
    /// The others.
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> WakeList {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker.
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything, each wake caught.
    pub(crate) fn wake_all(self) {
        if let Some(w) = self.first {
            wake_caught(w);
        }
        for w in self.rest {
            wake_caught(w);
        }
    }
}

/// A primitive's state, as the waiters of one of its lists see it; `K`
/// names the list when the state has several.
pub(crate) trait Grantor<K = ()> {
    /// What a waiter asks for (a permit count, an item to put).
    type Request;
    /// What it is given (permits, an item, a lock).
    type Grant;

    /// The waiter list.
    fn waiters(&mut self) -> &mut Waiters<Self::Request, Self::Grant>;

    /// Serves a new request at once, or gives it back to be queued. Must
    /// not serve it while others wait in front (no barging), unless the
    /// primitive's semantics say so.
    fn try_now(&mut self, request: Self::Request) -> Result<Self::Grant, Self::Request>;

    /// A waiter left with a grant it did not take: take it back and hand it
    /// on.
    fn give_back(&mut self, grant: Self::Grant, wakes: &mut WakeList);

    /// A queued waiter left: serve whoever can be served now.
    fn on_leave(&mut self, _wakes: &mut WakeList) {}
}

/// Where a [`Waiter`] is.
enum Place<R> {
    /// Not polled yet: the request.
    New(R),
    /// Queued under this key.
    Queued(usize),
    /// Returned.
    Done,
}

/// How a [`Waiter`] reaches its primitive's cell.
pub(crate) trait CellRef<P> {
    /// The primitive's cell.
    fn cell(&self) -> &RefCell<P>;
}

impl<P> CellRef<P> for &RefCell<P> {
    fn cell(&self) -> &RefCell<P> {
        self
    }
}

/// A future waiting in a primitive's [`Waiters`] for a grant: a
/// cancellation checkpoint that never loses a grant (the ground rules).
/// `K` names the list (see [`Grantor`]); `C` is how the cell is reached.
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct Waiter<'a, P: Grantor<K>, K = (), C: CellRef<P> = &'a RefCell<P>> {
    /// The primitive.
    cell: C,
    /// The request, or the key once queued.
    place: Place<P::Request>,
    /// The registration that makes a cancellation wake this wait.
    slot: CancelSlot,
    /// Whether a cancellation request is delivered here (cleared for the
    /// re-acquisition of a lock that a cancelled `Condition::wait` must do).
    cancellable: bool,
    /// The lifetime of a borrowed cell.
    _borrow: PhantomData<&'a ()>,
    /// The list.
    _list: PhantomData<fn() -> K>,
}

impl<'a, P: Grantor<K>, K, C: CellRef<P>> Waiter<'a, P, K, C> {
    /// A wait for `request`, served by the primitive in `cell`.
    pub(crate) fn new(cell: C, request: P::Request) -> Self {
        Waiter {
            cell,
            place: Place::New(request),
            slot: CancelSlot::new(WaitKind::Sync),
            cancellable: true,
            _borrow: PhantomData,
            _list: PhantomData,
        }
    }

    /// A wait that a cancellation does not interrupt: it parks like a
    /// checkpoint but never delivers (the ground rules).
    pub(crate) fn uncancellable(cell: C, request: P::Request) -> Self {
        let mut w = Waiter::new(cell, request);
        w.cancellable = false;
        w
    }

    /// Gives the place up: a grant goes back to the primitive, a queued
    /// request leaves (dropped after the borrow ends).
    fn leave(&mut self) {
        let Place::Queued(key) = std::mem::replace(&mut self.place, Place::Done) else {
            return;
        };
        let mut wakes = WakeList::new();
        let dropped_request;
        {
            let mut state = self.cell.cell().borrow_mut();
            match state.waiters().remove(key) {
                Left::Granted(g) => {
                    dropped_request = None;
                    state.give_back(g, &mut wakes);
                }
                Left::Waiting(r) => {
                    dropped_request = Some(r);
                    state.on_leave(&mut wakes);
                }
            }
        }
        drop(dropped_request);
        wakes.wake_all();
    }
}

impl<P: Grantor<K>, K, C: CellRef<P>> Unpin for Waiter<'_, P, K, C> {}

impl<P: Grantor<K>, K, C: CellRef<P>> Future for Waiter<'_, P, K, C> {
    type Output = Result<P::Grant, Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.cancellable {
            if let Err(c) = this.slot.deliver() {
                this.leave();
                return Poll::Ready(Err(c));
            }
        }
        let replaced;
        {
            let mut state = this.cell.cell().borrow_mut();
            match std::mem::replace(&mut this.place, Place::Done) {
                Place::New(request) => match state.try_now(request) {
                    Ok(g) => return Poll::Ready(Ok(g)),
                    Err(request) => {
                        this.place = Place::Queued(state.waiters().push_back(request, cx.waker()));
                        replaced = None;
                    }
                },
                Place::Queued(key) => {
                    if let Some(g) = state.waiters().take_grant(key) {
                        drop(state);
                        this.slot.disarm();
                        return Poll::Ready(Ok(g));
                    }
                    this.place = Place::Queued(key);
                    replaced = state.waiters().register(key, cx.waker());
                }
                Place::Done => panic!("a taskloop sync future was polled after it returned"),
            }
        }
        drop(replaced);
        // Parks even when uncancellable (the ground rules).
        this.slot.arm(cx);
        Poll::Pending
    }
}

impl<P: Grantor<K>, K, C: CellRef<P>> Drop for Waiter<'_, P, K, C> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<P: Grantor<K>, K, C: CellRef<P>> fmt::Debug for Waiter<'_, P, K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match self.place {
            Place::New(_) => "new",
            Place::Queued(_) => "queued",
            Place::Done => "done",
        };
        f.debug_struct("Waiter").field("place", &place).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn order(w: &mut Waiters<u32, u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut wakes = WakeList::new();
        while let Some((k, r)) = w.pop_front() {
            w.grant(k, r, &mut wakes);
            out.push(r);
        }
        out
    }

    #[test]
    fn fifo_with_removal_anywhere() {
        let waker = Waker::noop();
        let mut w = Waiters::<u32, u32>::new();
        let keys: Vec<usize> = (0..6).map(|i| w.push_back(i, waker)).collect();
        assert!(matches!(w.remove(keys[0]), Left::Waiting(0)));
        assert!(matches!(w.remove(keys[3]), Left::Waiting(3)));
        assert!(matches!(w.remove(keys[5]), Left::Waiting(5)));
        assert_eq!(w.len(), 3);
        assert_eq!(w.front(), Some(&1));
        assert_eq!(order(&mut w), vec![1, 2, 4]);
        assert!(w.is_empty());
        // Granted nodes stay until taken or removed.
        assert_eq!(w.take_grant(keys[1]), Some(1));
        assert!(matches!(w.remove(keys[2]), Left::Granted(2)));
        assert_eq!(w.take_grant(keys[4]), Some(4));
        assert_eq!(w.nodes.len(), 0);
    }

    #[test]
    fn ungranted_waiter_has_no_grant_to_take() {
        let mut w = Waiters::<(), ()>::new();
        let k = w.push_back((), Waker::noop());
        assert_eq!(w.take_grant(k), None);
        assert_eq!(w.len(), 1);
        let mut wakes = WakeList::new();
        assert!(w.grant_front(&mut wakes, |()| ()));
        assert!(!w.grant_front(&mut wakes, |()| ()));
        assert_eq!(w.take_grant(k), Some(()));
    }

    proptest::proptest! {
        /// Against a `VecDeque` model: any mix of pushes, removals and
        /// grants keeps arrival order and the counts.
        #[test]
        fn matches_a_vecdeque(ops in proptest::collection::vec((0u8..3, 0usize..16), 0..200)) {
            let mut w = Waiters::<usize, usize>::new();
            let mut model: std::collections::VecDeque<(usize, usize)> = Default::default();
            let mut granted: Vec<(usize, usize)> = Vec::new();
            let mut next = 0;
            let mut wakes = WakeList::new();
            for (op, pick) in ops {
                match op {
                    0 => {
                        let k = w.push_back(next, Waker::noop());
                        model.push_back((k, next));
                        next += 1;
                    }
                    1 if !model.is_empty() => {
                        let (k, r) = model.remove(pick % model.len()).unwrap();
                        proptest::prop_assert!(matches!(w.remove(k), Left::Waiting(x) if x == r));
                    }
                    _ => {
                        let got = w.pop_front();
                        let want = model.pop_front();
                        proptest::prop_assert_eq!(got, want);
                        if let Some((k, r)) = got {
                            w.grant(k, r, &mut wakes);
                            granted.push((k, r));
                        }
                    }
                }
                proptest::prop_assert_eq!(w.len(), model.len());
                proptest::prop_assert_eq!(w.front(), model.front().map(|(_, r)| r));
            }
            for (k, r) in granted {
                proptest::prop_assert_eq!(w.take_grant(k), Some(r));
            }
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Memory per waiter: one slab slot (the node, plus the slab's tag). The
    /// waiting future itself lives in the waiting task.
    #[test]
    fn a_waiter_costs_one_small_slab_slot() {
        let node = std::mem::size_of::<super::Node<usize, usize>>();
        let slot = std::mem::size_of::<slab::Slab<super::Node<usize, usize>>>();
        println!("waiter node: {node} bytes (slab header {slot} bytes)");
        assert!(node <= 48, "{node}");
        assert!(std::mem::size_of::<super::Node<(), ()>>() <= 40);
    }
}
