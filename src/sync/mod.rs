//! Synchronisation primitives for tasks on one loop: asyncio's `Event`,
//! `Semaphore` and queues (`Queue`, `LifoQueue`, `PriorityQueue`), and the
//! channels Rust users expect ([`oneshot`], [`mpsc`]), built on one waiter
//! list; the channels are a queue underneath.
//!
//! Everything here is single-threaded (no atomics, no `Send` needed: share
//! a primitive between tasks with `Rc`), and every wait is a cancellation
//! checkpoint that never loses what it was granted. The rules every
//! primitive follows are the ground rules of the waiter list
//! (`sync/waiters.rs`): FIFO, no barging, a grant handed on when its waiter
//! is cancelled, wakes after the state is released.

mod event;
pub mod mpsc;
pub mod oneshot;
mod queue;
mod semaphore;
mod waiters;

pub use event::{Event, EventWait};
pub use queue::{
    Fifo, Get, Join, Lifo, LifoQueue, Order, Priority, PriorityQueue, Put, Queue, QueueShutDown,
    TaskDoneError, TryGetError, TryPutError,
};
pub use semaphore::{Acquire, Semaphore, SemaphorePermit, TryAcquireError};
