//! [`Lock`]: asyncio's `Lock`, holding its data like a Rust mutex.
//!
//! The lock owns a flag, its waiter list and the data. Releasing it (dropping
//! the [`LockGuard`]) hands it straight to the first waiter: the lock stays
//! locked, owned by a waiter that has not resumed yet, so a task that did not
//! wait cannot take it in between (asyncio's no-barging fixes, 3.10–3.12). A
//! waiter cancelled after that hand-over gives the lock back, and it goes to
//! the next waiter or is unlocked (bpo-27585, bpo-32734).

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Grantor, Waiter, Waiters, WakeList};
use crate::cancel::Cancelled;

/// A lock that tasks wait for, holding a `T`: asyncio's `Lock`, shaped like
/// `std::sync::Mutex` (`Lock<()>` is asyncio's bare lock).
///
/// It is not re-entrant: a task that holds the guard and acquires again
/// waits for itself.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::Lock;
/// # taskloop::run(async {
/// let total = Rc::new(Lock::new(0));
/// let tasks: Vec<_> = (1..=3)
///     .map(|i| {
///         let total = total.clone();
///         taskloop::spawn(async move {
///             let mut sum = total.acquire().await?;
///             taskloop::yield_now().await?; // nobody else gets in meanwhile
///             *sum += i;
///             Ok::<_, taskloop::Cancelled>(())
///         })
///     })
///     .collect();
/// for t in tasks {
///     t.await.unwrap()?;
/// }
/// assert_eq!(*total.try_acquire().unwrap(), 6);
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Lock<T> {
    /// The flag and the waiters.
    state: RefCell<State>,
    /// The data; borrowed mutably by the one guard.
    data: RefCell<T>,
}

/// A lock's state.
pub(super) struct State {
    /// Whether a guard exists or the lock was handed to a waiter that has
    /// not resumed yet.
    locked: bool,
    /// Tasks waiting for the lock.
    waiters: Waiters<(), ()>,
}

impl State {
    /// The holder gives the lock up: it goes to the first waiter, or is
    /// unlocked.
    fn release(&mut self, wakes: &mut WakeList) {
        debug_assert!(self.locked);
        if !self.waiters.grant_front(wakes, |()| ()) {
            self.locked = false;
        }
        debug_assert!(self.locked || self.waiters.is_empty());
    }
}

impl Grantor for State {
    type Request = ();
    type Grant = ();

    fn waiters(&mut self) -> &mut Waiters<(), ()> {
        &mut self.waiters
    }

    fn try_now(&mut self, (): ()) -> Result<(), ()> {
        if self.locked {
            Err(())
        } else {
            debug_assert!(self.waiters.is_empty());
            self.locked = true;
            Ok(())
        }
    }

    fn give_back(&mut self, (): (), wakes: &mut WakeList) {
        self.release(wakes);
    }
}

impl<T> Lock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Lock<T> {
        Lock {
            state: RefCell::new(State {
                locked: false,
                waiters: Waiters::new(),
            }),
            data: RefCell::new(value),
        }
    }

    /// Waits for the lock, in arrival order.
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered here as
    /// `Err(Cancelled)`, even if the lock is free. A lock handed to a waiter
    /// that is cancelled (or dropped) before it resumed goes to the next
    /// waiter, or is unlocked: it is never lost, and never held twice.
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            inner: Waiter::new(&self.state, ()),
        }
    }

    /// The re-acquisition of a `Condition` wait: a cancellation does not
    /// interrupt it.
    pub(super) fn acquire_uncancellable(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            inner: Waiter::uncancellable(&self.state, ()),
        }
    }

    /// Takes the lock if it is free (nobody holds it, nobody waits).
    ///
    /// # Errors
    /// [`TryLockError`] otherwise.
    pub fn try_acquire(&self) -> Result<LockGuard<'_, T>, TryLockError> {
        match self.state.borrow_mut().try_now(()) {
            Ok(()) => Ok(self.guard()),
            Err(()) => Err(TryLockError),
        }
    }

    /// Whether the lock is held, or handed to a waiter that has not resumed
    /// yet (asyncio's `locked()` is false in that moment; see the mapping).
    pub fn locked(&self) -> bool {
        self.state.borrow().locked
    }

    /// How many tasks wait for the lock (not counting one it was handed to
    /// that has not resumed yet).
    pub fn waiters(&self) -> usize {
        self.state.borrow().waiters.len()
    }

    /// The data, the lock being no longer needed.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The data, borrowed mutably: no guard can exist meanwhile.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The guard of a lock just taken.
    fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            lock: self,
            data: self.data.borrow_mut(),
        }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Lock<T> {
        Lock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        let mut d = f.debug_struct("Lock");
        d.field("locked", &state.locked)
            .field("waiters", &state.waiters.len());
        match self.data.try_borrow() {
            Ok(data) => d.field("data", &&*data),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a, T> {
    /// Whose lock.
    lock: &'a Lock<T>,
    /// The place in the waiters.
    inner: Waiter<'a, State>,
}

impl<'a, T> Future for LockAcquire<'a, T> {
    type Output = Result<LockGuard<'a, T>, Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.inner).poll(cx).map_ok(|()| lock.guard())
    }
}

impl<T> fmt::Debug for LockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("inner", &self.inner)
            .finish()
    }
}

/// A held [`Lock`]: derefs to the data, and releases the lock when dropped,
/// handing it to the first waiter.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct LockGuard<'a, T> {
    /// Whose lock.
    lock: &'a Lock<T>,
    /// The data, borrowed for as long as the lock is held.
    data: RefMut<'a, T>,
}

impl<'a, T> LockGuard<'a, T> {
    /// The lock this guard holds (for `Condition`, which releases and
    /// re-acquires it).
    pub(super) fn lock(this: &Self) -> &'a Lock<T> {
        this.lock
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        let mut wakes = WakeList::new();
        self.lock.state.borrow_mut().release(&mut wakes);
        wakes.wake_all();
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("data", &&*self.data)
            .finish()
    }
}

/// [`Lock::try_acquire`] found the lock held, or waiters in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryLockError;

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held")
    }
}

impl std::error::Error for TryLockError {}
