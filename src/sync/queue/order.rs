//! The orderings of a queue: [`Fifo`], [`Lifo`] and [`Priority`], each a
//! marker naming the buffer that keeps the items in that order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The order in which a [`Queue`](super::Queue) gives its items out: [`Fifo`], [`Lifo`]
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

pub(super) mod private {
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

#[cfg(test)]
mod tests {
    use super::private::Buf;
    use super::*;

    /// Pushes 1..=4, gives 9 back as the oldest, then pops everything.
    fn order_of<B: Buf<i32>>(mut buf: B) -> Vec<i32> {
        for i in [2, 4, 1, 3] {
            buf.push(i);
        }
        assert_eq!(buf.len(), 4);
        let first = buf.pop().unwrap();
        buf.push_oldest(first);
        buf.push_oldest(9);
        let mut out = Vec::new();
        while let Some(i) = buf.pop() {
            out.push(i);
        }
        assert_eq!(buf.len(), 0);
        out
    }

    #[test]
    fn each_buffer_keeps_its_order_and_puts_given_back_items_oldest() {
        assert_eq!(order_of(VecDeque::new()), [9, 2, 4, 1, 3]);
        assert_eq!(order_of(Vec::new()), [1, 4, 2, 3, 9]);
        assert_eq!(order_of(BinaryHeap::new()), [1, 2, 3, 4, 9]);
    }

    #[test]
    fn drain_all_empties_each_buffer() {
        let mut v: Vec<i32> = vec![1, 2];
        assert_eq!(Buf::drain_all(&mut v), [1, 2]);
        let mut d: VecDeque<i32> = [1, 2].into();
        assert_eq!(Buf::drain_all(&mut d), [1, 2]);
        let mut h: BinaryHeap<Reverse<i32>> = [Reverse(2), Reverse(1)].into();
        let mut drained = Buf::drain_all(&mut h);
        drained.sort();
        assert_eq!(drained, [1, 2]);
        assert_eq!((v.len(), d.len(), h.len()), (0, 0, 0));
    }
}
