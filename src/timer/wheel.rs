//! A hierarchical timer wheel over integer ticks: the runtime's set of pending
//! timers, ordered by deadline.
//!
//! The wheel owns the timers (a deadline and a payload each, usually a
//! `Waker`) and the tick it has advanced to, [`Wheel::now`]. It never reads a
//! clock: the runtime converts `Instant`s to ticks and tells the wheel what time
//! it is through [`Wheel::advance`]. It never wakes anything either: due
//! payloads are handed to the caller's `fire` callback, in order, and what
//! happens to them is the caller's business. It never fires a timer early and,
//! once its slab is warm, never allocates per timer.
//!
//! # Design
//!
//! [`LEVELS`] levels of [`SLOTS`] slots each. A slot of level `l` spans
//! `64^l` ticks, so level 0 slots are one tick wide and level 10 (which only
//! uses 16 of its slots) reaches the top of the `u64` range: every finite
//! deadline has an exact place and no overflow list is needed. A timer due at
//! `deadline > now` lives at the level of the highest 6-bit digit in which
//! `deadline` and `now` differ, in the slot named by that digit of `deadline`
//! (see [`slot_for`]). When `now` reaches the first tick of an occupied slot of
//! level `l > 0`, its timers are *cascaded*: re-linked into lower levels, or
//! into the due list if the slot's first tick is their deadline. Level 0 slots
//! are fired as they come due.
//!
//! Costs: insert, cancel and reschedule are O(1); a timer is cascaded at most
//! once per level below the one it was inserted at (a timer less than 64 ticks
//! away is never cascaded, one less than 4096 ticks away at most once, and so
//! on). Finding the next due slot reads one occupancy word per level, lowest
//! first, and never scans slots. Memory: 705 list heads of 8 bytes (5.6 KiB)
//! and 11 occupancy words per wheel, plus one 40-byte slab entry per timer
//! when the payload is a `Waker`. Six levels and a "far" list, as tokio does,
//! would save 2.8 KiB of heads but add a second way of holding timers; the
//! five top levels here cost nothing unless they are used.
//!
//! Order: timers fire by ascending deadline, ties in insertion order, with no
//! sequence numbers. A timer's list is a function of `now` and its deadline
//! alone, which stays the same as `now` moves forward until `now` reaches the
//! first tick of the timer's slot, and then the whole list is cascaded at once,
//! in order. So all timers with the same deadline are always in the same list,
//! and lists are first in, first out. Only the due list mixes deadlines
//! (deadlines in the past, appended in arrival order); it is sorted, stably,
//! when it is fired, and only if an append put it out of order.
//!
//! # Ground rules for the intrusive lists
//!
//! * Every timer is one [`Node`] in the slab; its slab index is its link
//!   value, and [`NIL`] means "no node". Indices therefore stay below
//!   `u32::MAX`.
//! * A node is in exactly the list named by [`Node::list`]: a wheel slot when
//!   `deadline > now` (the one [`slot_for`] names), the due list when
//!   `deadline <= now`, and no list at all ([`NEVER`]) when `deadline ==
//!   u64::MAX`. The due list is non-empty only between an insert or reschedule
//!   into the past and the next [`Wheel::advance`] (or after a `fire` callback
//!   panicked).
//! * Nodes are appended at the tail and never reordered in place; cascading
//!   walks a detached list from its head.
//! * A slot's occupancy bit is set iff its list is non-empty.
//! * Only [`Wheel::link`], [`Wheel::unlink`] and [`Wheel::take`] touch links,
//!   heads and occupancy bits.
//! * A node leaves the slab only once unlinked, so the wheel is consistent
//!   whenever the `fire` callback runs. A list detached by `take` (cascading,
//!   which runs no callback) is re-linked node by node before anything else.

use std::fmt;

use slab::Slab;

/// Bits of a deadline consumed by each level.
const SLOT_BITS: u32 = 6;

/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;

/// Levels needed for `SLOT_BITS`-bit digits to cover a `u64`: 11.
const LEVELS: usize = (u64::BITS as usize).div_ceil(SLOT_BITS as usize);

/// Index of the due list in `Wheel::lists`, after the `LEVELS * SLOTS` slots.
const DUE: u16 = (LEVELS * SLOTS) as u16;

/// [`Node::list`] of a timer that is in no list: its deadline is `u64::MAX`.
const NEVER: u16 = DUE + 1;

/// The null link.
const NIL: u32 = u32::MAX;

/// Names a timer in a [`Wheel`]; stale once the timer fired or was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    /// Slab index of the timer's node.
    index: u32,
    /// Stamp of the node, so that a key whose index was reused is rejected.
    generation: u32,
}

/// One timer.
struct Node<T> {
    /// The tick at or after which the timer fires; `u64::MAX` means never.
    deadline: u64,
    /// Previous node in the list, or `NIL` at the head.
    prev: u32,
    /// Next node in the list, or `NIL` at the tail.
    next: u32,
    /// Copied into the [`TimerKey`]; from a counter that wraps after 2^32
    /// inserts, so a stale key is rejected unless exactly a multiple of 2^32
    /// timers were inserted since.
    generation: u32,
    /// The list holding the node: `level * SLOTS + slot`, [`DUE`] or [`NEVER`].
    list: u16,
    /// The payload, handed back on fire or cancel.
    value: T,
}

/// The two ends of one intrusive list.
#[derive(Clone, Copy)]
struct List {
    /// First node, or `NIL` when the list is empty.
    head: u32,
    /// Last node, or `NIL` when the list is empty.
    tail: u32,
}

impl List {
    /// The empty list.
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// A hierarchical timer wheel with payloads of type `T`; see the module docs.
pub(crate) struct Wheel<T> {
    /// Every timer, pending or due; a node's slab index is its link value.
    nodes: Slab<Node<T>>,
    /// The slot lists, `level * SLOTS + slot`, then the due list at [`DUE`].
    lists: [List; DUE as usize + 1],
    /// Per level, bit `s` is set iff slot `s` of that level is non-empty.
    occupied: [u64; LEVELS],
    /// The tick the wheel has advanced to.
    now: u64,
    /// Generation stamped on the next inserted timer.
    next_generation: u32,
    /// While the due list is non-empty: no later than its earliest deadline
    /// (exact unless a due timer was cancelled or rescheduled since).
    due_min: u64,
    /// Whether the due list may be out of deadline order, because a deadline
    /// was appended behind a later one.
    due_unsorted: bool,
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty wheel at tick 0 with room for `n` timers before it allocates.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Wheel {
            nodes: Slab::with_capacity(n),
            lists: [List::EMPTY; DUE as usize + 1],
            occupied: [0; LEVELS],
            now: 0,
            next_generation: 0,
            due_min: 0,
            due_unsorted: false,
        }
    }

    /// The tick the wheel has advanced to.
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Number of timers held, including due and never-firing ones.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the wheel holds no timer.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds a timer firing at `deadline`.
    ///
    /// A deadline at or before [`now`](Self::now) fires at the next
    /// [`advance`](Self::advance); `u64::MAX` never fires (the timer is held
    /// until cancelled). Panics if `u32::MAX` timers are already held.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let index = self.nodes.vacant_key();
        assert!(index < NIL as usize, "timer wheel is full");
        let index = index as u32;
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        self.nodes.insert(Node {
            deadline,
            prev: NIL,
            next: NIL,
            generation,
            list: NEVER,
            value,
        });
        self.link(index);
        TimerKey { index, generation }
    }

    /// Removes a timer and returns its payload; `None` if the key is stale.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.node(key)?;
        self.unlink(key.index);
        Some(self.nodes.remove(key.index as usize).value)
    }

    /// Moves a timer to a new deadline, keeping its payload; `false` if the
    /// key is stale.
    ///
    /// For ties, a timer moved to a new deadline counts as inserted now;
    /// moving it to the deadline it already has changes nothing.
    pub(crate) fn reschedule(&mut self, key: TimerKey, deadline: u64) -> bool {
        let Some(node) = self.node(key) else {
            return false;
        };
        if node.deadline != deadline {
            self.unlink(key.index);
            self.nodes[key.index as usize].deadline = deadline;
            self.link(key.index);
        }
        true
    }

    /// The payload of a pending timer, e.g. to replace a stored waker.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.node(key)?;
        Some(&mut self.nodes[key.index as usize].value)
    }

    /// The deadline of a pending timer.
    #[cfg(test)]
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.node(key).map(|node| node.deadline)
    }

    /// When [`advance`](Self::advance) next has work to do; `None` if no
    /// timer can ever fire.
    ///
    /// * If a timer is due (its deadline was `<= now` when it was set), a tick
    ///   `<= now` that is no later than the earliest due deadline.
    /// * Otherwise a tick `t` with `now < t <= ` the earliest deadline. It is
    ///   exact when that deadline is within the current 64-tick window (level
    ///   0); else it is the first tick of the earliest occupied slot, where
    ///   `advance` cascades timers down, and asking again after advancing to
    ///   `t` gives a closer answer (at most one extra wake-up per level).
    ///
    /// Reads at most one occupancy word per level.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.lists[DUE as usize].head != NIL {
            return Some(self.due_min);
        }
        self.next_slot().map(|(_, start)| start)
    }

    /// The exact earliest deadline of a timer that can fire, `None` if there
    /// is none. Unlike [`next_deadline`](Self::next_deadline) this walks the
    /// list that holds it (the due list or the earliest occupied slot: slots
    /// span disjoint ranges of ticks, so the earliest one holds the earliest
    /// deadline), so it is for the test clock, not the loop's every turn.
    pub(crate) fn earliest_deadline(&self) -> Option<u64> {
        let list = if self.lists[DUE as usize].head != NIL {
            DUE
        } else {
            let (list, start) = self.next_slot()?;
            if (list as usize) < SLOTS {
                // Level 0: one tick wide, so `start` is every deadline in it.
                return Some(start);
            }
            list
        };
        let mut index = self.lists[list as usize].head;
        let mut min = u64::MAX;
        while index != NIL {
            let node = &self.nodes[index as usize];
            min = min.min(node.deadline);
            index = node.next;
        }
        debug_assert!(min < u64::MAX, "an occupied list holds no timer");
        Some(min)
    }

    /// Fires, in deadline order and ties in insertion order, every timer with
    /// a deadline `<= now`, then sets [`now`](Self::now) to `now`.
    ///
    /// Time never goes back: a `now` before `self.now()` only fires the timers
    /// that are already due. `fire` gets each timer's (now stale) key and
    /// payload.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(TimerKey, T)) {
        self.advance_timed(now, |key, _, value| fire(key, value));
    }

    /// [`advance`](Self::advance), handing `fire` each timer's deadline too
    /// (schedule shuffling permutes the timers that share one).
    pub(crate) fn advance_timed(&mut self, now: u64, mut fire: impl FnMut(TimerKey, u64, T)) {
        loop {
            self.fire_due(&mut fire);
            let Some((list, start)) = self.next_slot() else {
                break;
            };
            if start > now {
                break;
            }
            if (list as usize) < SLOTS {
                // Level 0: every node here is due exactly at `start`. `now`
                // moves only afterwards, so the timers left behind by a
                // panicking `fire` stay where they belong.
                self.fire_list(list, start, &mut fire);
                self.now = start;
            } else {
                self.now = start;
                let mut index = self.take(list);
                while index != NIL {
                    let next = self.nodes[index as usize].next;
                    self.link(index);
                    index = next;
                }
            }
        }
        self.now = self.now.max(now);
        debug_assert!(self.lists[DUE as usize].head == NIL);
        debug_assert!(self.next_slot().is_none_or(|(_, start)| start > self.now));
    }

    /// The node `key` names, unless the key is stale.
    fn node(&self, key: TimerKey) -> Option<&Node<T>> {
        self.nodes
            .get(key.index as usize)
            .filter(|node| node.generation == key.generation)
    }

    /// The earliest occupied slot, as its list and its first tick.
    ///
    /// Occupied slots of a level all start after `now`, and after every slot
    /// of the levels below, so the lowest set bit of the lowest non-empty
    /// level wins.
    fn next_slot(&self) -> Option<(u16, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let slot = self.occupied[level].trailing_zeros();
        let shift = level as u32 * SLOT_BITS;
        let span = shift + SLOT_BITS;
        let base = if span >= u64::BITS {
            0
        } else {
            self.now >> span << span
        };
        let list = (level * SLOTS) as u16 + slot as u16;
        Some((list, base | u64::from(slot) << shift))
    }

    /// Appends an unlinked node to the list its deadline belongs in.
    fn link(&mut self, index: u32) {
        let deadline = self.nodes[index as usize].deadline;
        let list = if deadline == u64::MAX {
            NEVER
        } else if deadline <= self.now {
            DUE
        } else {
            slot_for(self.now, deadline)
        };
        let node = &mut self.nodes[index as usize];
        node.list = list;
        node.next = NIL;
        if list == NEVER {
            node.prev = NIL;
            return;
        }
        let tail = self.lists[list as usize].tail;
        node.prev = tail;
        if list == DUE {
            if tail == NIL {
                self.due_min = deadline;
                self.due_unsorted = false;
            } else {
                self.due_min = self.due_min.min(deadline);
                self.due_unsorted |= deadline < self.nodes[tail as usize].deadline;
            }
        }
        if tail == NIL {
            self.lists[list as usize].head = index;
            if list < DUE {
                self.occupied[list as usize / SLOTS] |= 1 << (list as usize % SLOTS);
            }
        } else {
            self.nodes[tail as usize].next = index;
        }
        self.lists[list as usize].tail = index;
        self.debug_check_slot(list);
    }

    /// Takes a node out of its list; it stays in the slab.
    fn unlink(&mut self, index: u32) {
        let node = &self.nodes[index as usize];
        let (prev, next, list) = (node.prev, node.next, node.list);
        if list == NEVER {
            return;
        }
        if prev == NIL {
            self.lists[list as usize].head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[list as usize].tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        if self.lists[list as usize].head == NIL && list < DUE {
            self.occupied[list as usize / SLOTS] &= !(1 << (list as usize % SLOTS));
        }
        self.debug_check_slot(list);
    }

    /// Detaches a whole slot list for cascading and returns its head; the
    /// nodes keep stale links until they are linked again.
    fn take(&mut self, list: u16) -> u32 {
        self.occupied[list as usize / SLOTS] &= !(1 << (list as usize % SLOTS));
        std::mem::replace(&mut self.lists[list as usize], List::EMPTY).head
    }

    /// Fires the due list, sorting it first if it is out of order.
    fn fire_due<F: FnMut(TimerKey, u64, T)>(&mut self, fire: &mut F) {
        let mut index = self.lists[DUE as usize].head;
        if index == NIL {
            return;
        }
        if !self.due_unsorted {
            return self.fire_list(DUE, self.now, fire);
        }
        let mut order = Vec::new();
        while index != NIL {
            let node = &self.nodes[index as usize];
            order.push((node.deadline, index));
            index = node.next;
        }
        // Stable: equal deadlines keep their insertion order.
        order.sort_by_key(|&(deadline, _)| deadline);
        for (_, index) in order {
            self.fire_one(index, self.now, fire);
        }
    }

    /// Fires a list, whose deadlines are all `<= due`, from its head.
    fn fire_list<F: FnMut(TimerKey, u64, T)>(&mut self, list: u16, due: u64, fire: &mut F) {
        loop {
            let index = self.lists[list as usize].head;
            if index == NIL {
                break;
            }
            self.fire_one(index, due, fire);
        }
    }

    /// Unlinks, removes and fires one node with a deadline `<= due`. The
    /// wheel is consistent whenever `fire` runs, so if it panics the timers
    /// not yet fired stay pending.
    fn fire_one<F: FnMut(TimerKey, u64, T)>(&mut self, index: u32, due: u64, fire: &mut F) {
        self.unlink(index);
        let node = self.nodes.remove(index as usize);
        debug_assert!(node.deadline <= due, "timer fired early");
        let key = TimerKey {
            index,
            generation: node.generation,
        };
        fire(key, node.deadline, node.value);
    }

    /// Checks that a slot's occupancy bit matches its list.
    fn debug_check_slot(&self, list: u16) {
        if list < DUE {
            let bit = self.occupied[list as usize / SLOTS] >> (list as usize % SLOTS) & 1;
            debug_assert_eq!(bit == 1, self.lists[list as usize].head != NIL);
        }
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("now", &self.now)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The slot list of a timer due at `deadline > now`: the level of the
/// highest 6-bit digit in which the two differ, the slot named by that digit
/// of `deadline`.
fn slot_for(now: u64, deadline: u64) -> u16 {
    debug_assert!(now < deadline && deadline < u64::MAX);
    let differing = (now ^ deadline) | (SLOTS as u64 - 1);
    let level = (u64::BITS - 1 - differing.leading_zeros()) / SLOT_BITS;
    let slot = (deadline >> (level * SLOT_BITS)) as usize % SLOTS;
    (level as usize * SLOTS + slot) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};
    use std::task::Waker;
    use std::time::Instant;

    /// Checks every invariant of the ground rules, walking every list.
    fn check<T>(w: &Wheel<T>) {
        let mut seen = 0;
        for (list, ends) in w.lists.iter().enumerate() {
            let list = list as u16;
            if list < DUE {
                let bit = w.occupied[list as usize / SLOTS] >> (list as usize % SLOTS) & 1;
                assert_eq!(bit == 1, ends.head != NIL, "occupancy of list {list}");
            }
            let (mut prev, mut index) = (NIL, ends.head);
            let mut sorted = true;
            while index != NIL {
                let node = &w.nodes[index as usize];
                assert_eq!(node.list, list);
                assert_eq!(node.prev, prev);
                if list == DUE {
                    assert!(node.deadline <= w.now);
                    assert!(w.due_min <= node.deadline);
                    if prev != NIL {
                        sorted &= w.nodes[prev as usize].deadline <= node.deadline;
                    }
                } else {
                    assert!(node.deadline > w.now && node.deadline < u64::MAX);
                    assert_eq!(slot_for(w.now, node.deadline), list);
                }
                seen += 1;
                prev = index;
                index = node.next;
            }
            assert_eq!(ends.tail, prev);
            if list == DUE {
                assert!(sorted || w.due_unsorted);
            }
        }
        let never = w.nodes.iter().filter(|(_, n)| n.list == NEVER).count();
        assert!(
            w.nodes
                .iter()
                .all(|(_, n)| (n.list == NEVER) == (n.deadline == u64::MAX))
        );
        assert_eq!(seen + never, w.len());
        let earliest = w
            .nodes
            .iter()
            .map(|(_, n)| n.deadline)
            .filter(|&d| d < u64::MAX)
            .min();
        assert_eq!(
            w.earliest_deadline(),
            earliest,
            "the exact earliest deadline"
        );
    }

    /// Reference model: the pending timers ordered by (deadline, sequence).
    #[derive(Default)]
    struct Model {
        now: u64,
        seq: u64,
        order: BTreeMap<(u64, u64), TimerKey>,
        timers: HashMap<TimerKey, (u64, u64, u32)>,
    }

    impl Model {
        fn insert(&mut self, key: TimerKey, deadline: u64, value: u32) {
            self.seq += 1;
            self.order.insert((deadline, self.seq), key);
            assert!(
                self.timers
                    .insert(key, (deadline, self.seq, value))
                    .is_none()
            );
        }

        fn remove(&mut self, key: TimerKey) -> Option<(u64, u32)> {
            let (deadline, seq, value) = self.timers.remove(&key)?;
            self.order.remove(&(deadline, seq));
            Some((deadline, value))
        }

        fn advance(&mut self, now: u64) -> Vec<(TimerKey, u32)> {
            self.now = self.now.max(now);
            let mut fired = Vec::new();
            while let Some((&(deadline, _), &key)) = self.order.first_key_value() {
                if deadline > self.now || deadline == u64::MAX {
                    break;
                }
                let (_, value) = self.remove(key).unwrap();
                fired.push((key, value));
            }
            fired
        }

        fn earliest(&self) -> Option<u64> {
            let (&(deadline, _), _) = self.order.first_key_value()?;
            (deadline < u64::MAX).then_some(deadline)
        }
    }

    /// A deadline or advance target, resolved against the current tick.
    #[derive(Clone, Debug)]
    enum Tick {
        Near(u64),
        Window(u64),
        Mid(u64),
        Far(u64, u32),
        Past(u64),
        Absolute(u64),
        Fixed(usize),
        MaxMinusOne,
        Max,
    }

    /// Absolute ticks shared by many timers, reached at different levels.
    const FIXED: [u64; 6] = [70, 4_100, 4_160, 262_200, 1 << 36, (1 << 40) + 3];

    impl Tick {
        fn resolve(&self, now: u64) -> u64 {
            match *self {
                Tick::Near(d) => now.saturating_add(d % 70),
                Tick::Window(d) => now.saturating_add(d % 5_000),
                Tick::Mid(d) => now.saturating_add(d % (1 << 26)),
                Tick::Far(d, shift) => now.saturating_add(d >> shift),
                Tick::Past(d) => now.saturating_sub(d % 100),
                Tick::Absolute(d) => d,
                Tick::Fixed(i) => FIXED[i],
                Tick::MaxMinusOne => u64::MAX - 1,
                Tick::Max => u64::MAX,
            }
        }
    }

    fn deadline() -> impl Strategy<Value = Tick> {
        prop_oneof![
            8 => any::<u64>().prop_map(Tick::Near),
            4 => any::<u64>().prop_map(Tick::Window),
            3 => any::<u64>().prop_map(Tick::Mid),
            2 => (any::<u64>(), 0..64u32).prop_map(|(d, s)| Tick::Far(d, s)),
            3 => any::<u64>().prop_map(Tick::Past),
            1 => any::<u64>().prop_map(Tick::Absolute),
            4 => (0..FIXED.len()).prop_map(Tick::Fixed),
            1 => Just(Tick::MaxMinusOne),
            1 => Just(Tick::Max),
        ]
    }

    fn step() -> impl Strategy<Value = Tick> {
        prop_oneof![
            8 => any::<u64>().prop_map(Tick::Near),
            4 => any::<u64>().prop_map(Tick::Window),
            2 => any::<u64>().prop_map(Tick::Mid),
            1 => (any::<u64>(), 0..64u32).prop_map(|(d, s)| Tick::Far(d, s)),
            1 => any::<u64>().prop_map(Tick::Past),
            2 => (0..FIXED.len()).prop_map(Tick::Fixed),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Tick),
        Cancel(usize),
        Reschedule(usize, Tick),
        Advance(Tick),
        AdvanceToEnd(bool),
        Stale(usize),
        SetValue(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => deadline().prop_map(Op::Insert),
            3 => any::<usize>().prop_map(Op::Cancel),
            3 => (any::<usize>(), deadline()).prop_map(|(i, d)| Op::Reschedule(i, d)),
            6 => step().prop_map(Op::Advance),
            1 => any::<bool>().prop_map(Op::AdvanceToEnd),
            1 => any::<usize>().prop_map(Op::Stale),
            1 => any::<usize>().prop_map(Op::SetValue),
        ]
    }

    fn run(ops: &[Op]) {
        let mut wheel = Wheel::new();
        let mut model = Model::default();
        let mut live: Vec<TimerKey> = Vec::new();
        let mut dead: Vec<TimerKey> = Vec::new();
        let mut next_value = 0u32;
        for op in ops {
            let now = wheel.now();
            match op {
                Op::Insert(tick) => {
                    let deadline = tick.resolve(now);
                    next_value += 1;
                    let key = wheel.insert(deadline, next_value);
                    model.insert(key, deadline, next_value);
                    live.push(key);
                }
                Op::Cancel(i) if !live.is_empty() => {
                    let key = live.swap_remove(i % live.len());
                    let expected = model.remove(key).map(|(_, value)| value);
                    assert_eq!(wheel.cancel(key), expected);
                    dead.push(key);
                }
                Op::Reschedule(i, tick) if !live.is_empty() => {
                    let key = live[i % live.len()];
                    let deadline = tick.resolve(now);
                    let (old, seq, value) = model.timers[&key];
                    if old != deadline {
                        model.remove(key);
                        model.insert(key, deadline, value);
                    } else {
                        assert_eq!(model.order[&(old, seq)], key);
                    }
                    assert!(wheel.reschedule(key, deadline));
                    assert_eq!(wheel.deadline(key), Some(deadline));
                }
                Op::SetValue(i) if !live.is_empty() => {
                    let key = live[i % live.len()];
                    next_value += 1;
                    *wheel.get_mut(key).unwrap() = next_value;
                    model.timers.get_mut(&key).unwrap().2 = next_value;
                }
                Op::Stale(i) if !dead.is_empty() => {
                    let key = dead[i % dead.len()];
                    assert_eq!(wheel.deadline(key), None);
                    assert!(wheel.get_mut(key).is_none());
                    assert!(!wheel.reschedule(key, now.saturating_add(1)));
                    assert_eq!(wheel.cancel(key), None);
                }
                Op::Advance(_) | Op::AdvanceToEnd(_) => {
                    let target = match op {
                        Op::Advance(tick) => tick.resolve(now),
                        Op::AdvanceToEnd(max) => u64::MAX - u64::from(!max),
                        _ => unreachable!(),
                    };
                    let mut fired = Vec::new();
                    wheel.advance(target, |key, value| fired.push((key, value)));
                    assert_eq!(fired, model.advance(target));
                    assert_eq!(wheel.now(), model.now);
                    for (key, _) in fired {
                        live.retain(|&k| k != key);
                        dead.push(key);
                    }
                }
                _ => {}
            }
            check(&wheel);
            assert_eq!(wheel.len(), model.timers.len());
            let next = wheel.next_deadline();
            match model.earliest() {
                None => assert_eq!(next, None),
                Some(earliest) if earliest <= wheel.now() => {
                    assert!(next.unwrap() <= earliest);
                }
                Some(earliest) => {
                    let next = next.unwrap();
                    assert!(wheel.now() < next && next <= earliest);
                    if earliest >> SLOT_BITS == wheel.now() >> SLOT_BITS {
                        assert_eq!(next, earliest);
                    }
                }
            }
        }
    }

    proptest! {
        /// 256 cases by default; `PROPTEST_CASES=20000` for a longer hunt.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 1..300)) {
            run(&ops);
        }
    }

    /// Small xorshift generator for deterministic large tests.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn matches_model_long_runs() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20 {
            let ops: Vec<Op> = (0..5_000)
                .map(|_| {
                    let (a, b) = (rng.next(), rng.next() as usize);
                    match rng.next() % 16 {
                        0..=6 => Op::Insert(Tick::Window(a)),
                        7 => Op::Insert(Tick::Fixed(b % FIXED.len())),
                        8 => Op::Insert(Tick::Far(a, (b % 64) as u32)),
                        9 => Op::Insert(Tick::Past(a)),
                        10 | 11 => Op::Cancel(b),
                        12 => Op::Reschedule(b, Tick::Near(a)),
                        _ => Op::Advance(Tick::Near(a)),
                    }
                })
                .collect();
            run(&ops);
        }
    }

    fn fire_all<T: Copy>(wheel: &mut Wheel<T>, now: u64) -> Vec<T> {
        let mut fired = Vec::new();
        wheel.advance(now, |_, value| fired.push(value));
        check(wheel);
        fired
    }

    #[test]
    fn node_size() {
        /// Same shape as `slab::Entry`, which is private.
        #[allow(dead_code)]
        enum Entry<T> {
            Vacant(usize),
            Occupied(T),
        }
        assert!(size_of::<Node<Waker>>() <= 40);
        assert!(size_of::<Entry<Node<Waker>>>() <= 48);
        println!(
            "Node<Waker>: {} bytes, slab entry: {} bytes, Wheel<Waker>: {} bytes",
            size_of::<Node<Waker>>(),
            size_of::<Entry<Node<Waker>>>(),
            size_of::<Wheel<Waker>>()
        );
    }

    #[test]
    fn past_deadline_fires_at_next_advance() {
        let mut wheel = Wheel::new();
        assert_eq!(fire_all(&mut wheel, 1_000), Vec::<u32>::new());
        wheel.insert(999, 2);
        wheel.insert(5, 1);
        wheel.insert(1_000, 3);
        wheel.insert(1_001, 4);
        assert_eq!(wheel.next_deadline(), Some(5));
        // Advancing to the same tick fires what is due, in deadline order.
        assert_eq!(fire_all(&mut wheel, 1_000), [1, 2, 3]);
        assert_eq!(wheel.next_deadline(), Some(1_001));
        assert_eq!(fire_all(&mut wheel, 1_001), [4]);
        // Time never goes back.
        wheel.insert(1_001, 5);
        assert_eq!(fire_all(&mut wheel, 3), [5]);
        assert_eq!(wheel.now(), 1_001);
    }

    #[test]
    fn max_deadline_never_fires() {
        let mut wheel = Wheel::new();
        let never = wheel.insert(u64::MAX, 1);
        let last = wheel.insert(u64::MAX - 1, 2);
        assert_eq!(wheel.next_deadline(), Some(15 << 60));
        assert_eq!(fire_all(&mut wheel, u64::MAX - 2), Vec::<u32>::new());
        assert_eq!(wheel.next_deadline(), Some(u64::MAX - 1));
        assert_eq!(fire_all(&mut wheel, u64::MAX), [2]);
        assert_eq!(wheel.deadline(last), None);
        assert_eq!(wheel.next_deadline(), None);
        assert_eq!(wheel.len(), 1);
        wheel.insert(u64::MAX, 3);
        assert_eq!(fire_all(&mut wheel, u64::MAX), Vec::<u32>::new());
        // Pulling a never-firing timer in makes it fire.
        assert!(wheel.reschedule(never, 7));
        assert_eq!(fire_all(&mut wheel, u64::MAX), [1]);
        assert_eq!(wheel.len(), 1);
    }

    #[test]
    fn cancel_a_due_timer_before_advance() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, 1);
        let b = wheel.insert(10, 2);
        let c = wheel.insert(100_000, 3);
        assert_eq!(wheel.next_deadline(), Some(10));
        assert_eq!(wheel.cancel(a), Some(1));
        assert_eq!(fire_all(&mut wheel, 10), [2]);
        assert_eq!(fire_all(&mut wheel, 99_999), Vec::<u32>::new());
        assert_eq!(wheel.next_deadline(), Some(100_000));
        assert_eq!(wheel.cancel(c), Some(3));
        assert_eq!(fire_all(&mut wheel, 100_000), Vec::<u32>::new());
        assert!(wheel.is_empty());
        assert_eq!(wheel.cancel(b), None);
    }

    #[test]
    fn reschedule_earlier_and_later() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(1_000_000, 1);
        let b = wheel.insert(50, 2);
        let c = wheel.insert(50, 3);
        assert!(wheel.reschedule(a, 40));
        assert!(wheel.reschedule(b, 5_000_000));
        // Same deadline: keeps its place ahead of `d`.
        let d = wheel.insert(50, 4);
        assert!(wheel.reschedule(c, 50));
        assert_eq!(fire_all(&mut wheel, 4_999_999), [1, 3, 4]);
        assert_eq!(wheel.deadline(b), Some(5_000_000));
        assert!(wheel.reschedule(b, 4_000_000));
        assert_eq!(fire_all(&mut wheel, 4_999_999), [2]);
        assert!(!wheel.reschedule(d, 1));
        assert!(!wheel.reschedule(b, 1));
    }

    #[test]
    fn stale_keys_are_rejected() {
        let mut wheel = Wheel::new();
        let fired = wheel.insert(1, 1);
        let cancelled = wheel.insert(2, 2);
        assert_eq!(wheel.cancel(cancelled), Some(2));
        assert_eq!(fire_all(&mut wheel, 5), [1]);
        // Both slab slots are reused by new timers.
        let x = wheel.insert(10, 3);
        let y = wheel.insert(10, 4);
        for key in [fired, cancelled] {
            assert_eq!(wheel.cancel(key), None);
            assert!(!wheel.reschedule(key, 20));
            assert!(wheel.get_mut(key).is_none());
            assert_eq!(wheel.deadline(key), None);
        }
        *wheel.get_mut(y).unwrap() = 5;
        assert_eq!(wheel.deadline(x), Some(10));
        assert_eq!(fire_all(&mut wheel, 10), [3, 5]);
    }

    #[test]
    fn ties_fire_in_insertion_order_across_levels() {
        let mut wheel = Wheel::new();
        // The same deadline, inserted from levels 2, 1 and 0.
        wheel.insert(8_000, 1);
        fire_all(&mut wheel, 4_000);
        wheel.insert(8_000, 2);
        fire_all(&mut wheel, 7_990);
        wheel.insert(8_000, 3);
        wheel.insert(7_999, 0);
        assert_eq!(fire_all(&mut wheel, 10_000), [0, 1, 2, 3]);
    }

    #[test]
    fn panic_in_fire_leaves_the_rest_pending() {
        let mut wheel = Wheel::new();
        for value in 1..=3 {
            wheel.insert(7, value);
        }
        wheel.insert(3, 0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wheel.advance(10, |_, value| assert_ne!(value, 2));
        }));
        assert!(result.is_err());
        check(&wheel);
        assert_eq!(wheel.len(), 1);
        assert_eq!(fire_all(&mut wheel, 10), [3]);
    }

    #[test]
    fn million_live_timers() {
        let mut rng = XorShift(42);
        let mut wheel = Wheel::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let deadline = rng.next() % (1 << 22);
            wheel.insert(deadline, deadline);
        }
        assert_eq!(wheel.len(), 1_000_000);
        let mut fired = 0;
        while !wheel.is_empty() {
            let before = wheel.now();
            let now = before + rng.next() % 20_000;
            let mut last = 0;
            wheel.advance(now, |_, deadline| {
                // Never early, never late (deadline 0 is due at the first
                // advance), in deadline order.
                assert!(deadline <= now && (deadline > before || deadline == 0));
                assert!(deadline >= last);
                last = deadline;
                fired += 1;
            });
        }
        assert_eq!(fired, 1_000_000);
    }

    /// Nanoseconds per unit of `units` spent in `f`.
    fn per_unit(units: usize, f: impl FnOnce()) -> f64 {
        let start = Instant::now();
        f();
        start.elapsed().as_nanos() as f64 / units as f64
    }

    /// A wheel holding `n` timers; `deadline(i)` gives the i-th deadline.
    fn filled(n: usize, mut deadline: impl FnMut(usize) -> u64) -> Wheel<u64> {
        let mut wheel = Wheel::with_capacity(n + 1);
        for i in 0..n {
            wheel.insert(deadline(i), i as u64);
        }
        wheel
    }

    /// Advances to `now`, returning how many timers fired.
    fn drain(wheel: &mut Wheel<u64>, now: u64) -> usize {
        let mut fired = 0;
        wheel.advance(now, |_, value| {
            std::hint::black_box(value);
            fired += 1;
        });
        fired
    }

    /// Run with `cargo test --release --lib -- --ignored --nocapture bench`.
    #[test]
    #[ignore]
    fn bench() {
        const M: usize = 1_000_000;
        const SPAN: u64 = 10_000_000; // ~2.8 hours of 1 ms ticks
        let mut rng = XorShift(7);
        let mut results: Vec<(&str, Vec<f64>)> = Vec::new();
        let mut record = |name, ns| match results.iter_mut().find(|(n, _)| *n == name) {
            Some((_, runs)) => runs.push(ns),
            None => results.push((name, vec![ns])),
        };
        for _ in 0..7 {
            let mut wheel = filled(M, |_| 1 + rng.next() % SPAN);
            let deadlines: Vec<u64> = (0..4096).map(|_| 1 + rng.next() % SPAN).collect();
            let pairs = 10 * M;
            record(
                "insert+cancel, 1M live, random deadlines",
                per_unit(pairs, || {
                    for i in 0..pairs {
                        let key = wheel.insert(deadlines[i % 4096], i as u64);
                        std::hint::black_box(wheel.cancel(std::hint::black_box(key)));
                    }
                }),
            );
            record(
                "next_deadline, 1M live",
                per_unit(pairs, || {
                    for _ in 0..pairs {
                        std::hint::black_box(std::hint::black_box(&wheel).next_deadline());
                    }
                }),
            );
            let n = wheel.len();
            record(
                "advance, one jump, 1M random (per fired)",
                per_unit(n, || assert_eq!(drain(&mut wheel, SPAN), n)),
            );

            let mut wheel = filled(M, |_| 1 + rng.next() % M as u64);
            record(
                "advance, tick by tick, 1M random in 1M ticks (per fired)",
                per_unit(M, || {
                    let fired: usize = (1..=M as u64).map(|now| drain(&mut wheel, now)).sum();
                    assert_eq!(fired, M);
                }),
            );

            let mut wheel = filled(M, |i| 1 + i as u64);
            record(
                "advance, tick by tick, 1M in insertion order (per fired)",
                per_unit(M, || {
                    let fired: usize = (1..=M as u64).map(|now| drain(&mut wheel, now)).sum();
                    assert_eq!(fired, M);
                }),
            );

            let k = 10_000;
            let mut wheel = filled(k, |_| 1 + rng.next() % SPAN);
            record(
                "advance, one jump, 10k random, cache-resident (per fired)",
                per_unit(k, || assert_eq!(drain(&mut wheel, SPAN), k)),
            );

            let mut wheel = filled(M, |_| SPAN + rng.next() % SPAN);
            record(
                "advance by one tick, nothing due, 1M live (per call)",
                per_unit(M, || {
                    let fired: usize = (1..=M as u64).map(|now| drain(&mut wheel, now)).sum();
                    assert_eq!(fired, 0);
                }),
            );
        }
        for (name, mut runs) in results {
            runs.sort_by(f64::total_cmp);
            let median = runs[runs.len() / 2];
            println!(
                "{name}: median {median:.1} ns (min {:.1}, max {:.1})",
                runs[0],
                runs[runs.len() - 1]
            );
        }
    }
}
