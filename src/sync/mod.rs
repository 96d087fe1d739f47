//! Synchronisation primitives for tasks on one loop: asyncio's `Event`,
//! `Lock`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier` and
//! queues (`Queue`, `LifoQueue`, `PriorityQueue`), and the channels Rust
//! users expect ([`oneshot`], [`mpsc`]), built on one waiter list; the
//! channels are a queue underneath.
//!
//! Everything here is single-threaded (no atomics, no `Send` needed: share
//! a primitive between tasks with `Rc`), and every wait is a cancellation
//! checkpoint that never loses what it was granted. The rules every
//! primitive follows are the ground rules of the waiter list
//! (`sync/waiters.rs`): FIFO, no barging, a grant handed on when its waiter
//! is cancelled, wakes after the state is released.
//!
//! The Rust shapes: [`Lock`] holds its data like `std::sync::Mutex` and
//! releases on drop of its [`LockGuard`]; [`Condition`] takes and gives back
//! that guard like `std::sync::Condvar` (a cancelled wait hands the guard
//! back inside [`WaitCancelled`], the lock held again); semaphore permits
//! release on drop. [`Barrier`] is asyncio's state machine on [`Condition`].

mod barrier;
mod condition;
mod event;
mod lock;
pub mod mpsc;
pub mod oneshot;
mod queue;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWaitError};
pub use condition::{
    Condition, ConditionWait, ConditionWaitTimeout, WaitCancelled, WaitTimeoutResult,
};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard, TryLockError};
pub use queue::{
    Fifo, Get, Join, Lifo, LifoQueue, Order, Priority, PriorityQueue, Put, Queue, QueueShutDown,
    TaskDoneError, TryGetError, TryPutError,
};
pub use semaphore::{
    Acquire, BoundedSemaphore, ReleaseError, Semaphore, SemaphorePermit, TryAcquireError,
};
