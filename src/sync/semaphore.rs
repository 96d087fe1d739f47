//! [`Semaphore`] and [`BoundedSemaphore`]: asyncio's counting semaphores,
//! with RAII permits.
//!
//! The semaphore owns its permit count and its waiter list. Permits go to
//! waiters strictly in arrival order: a request for several permits at the
//! front holds back smaller ones behind it (no starvation), and a task that
//! did not wait cannot take permits a waiter was promised (asyncio 3.11's
//! fairness fix, gh-90155).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Grantor, Waiter, Waiters, WakeList};
use crate::cancel::Cancelled;

/// A counting semaphore: asyncio's `Semaphore`, with permits that release
/// themselves when dropped.
///
/// # Examples
/// Bound the number of concurrent jobs:
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::Semaphore;
/// # taskloop::run(async {
/// let limit = Rc::new(Semaphore::new(2));
/// let jobs: Vec<_> = (0..5)
///     .map(|i| {
///         let limit = limit.clone();
///         taskloop::spawn(async move {
///             let _permit = limit.acquire().await?;
///             taskloop::yield_now().await?; // at most two jobs here at once
///             Ok::<_, taskloop::Cancelled>(i)
///         })
///     })
///     .collect();
/// for job in jobs {
///     job.await.unwrap()?;
/// }
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Semaphore {
    /// The count and the waiters.
    state: RefCell<State>,
}

/// A semaphore's state.
struct State {
    /// Permits not held by anyone (nor granted to a waiter).
    available: usize,
    /// Tasks waiting for permits, with how many each wants.
    waiters: Waiters<usize, usize>,
    /// Permits taken out by [`SemaphorePermit::forget`] and not added back:
    /// the most a [`BoundedSemaphore`] may `release()`.
    forgotten: usize,
}

impl State {
    /// Serves waiters from the front while the permits suffice.
    fn serve(&mut self, wakes: &mut WakeList) {
        while let Some(&want) = self.waiters.front() {
            if want > self.available {
                break;
            }
            self.available -= want;
            self.waiters.grant_front(wakes, |n| n);
        }
    }
}

impl Grantor for State {
    type Request = usize;
    type Grant = usize;

    fn waiters(&mut self) -> &mut Waiters<usize, usize> {
        &mut self.waiters
    }

    fn try_now(&mut self, want: usize) -> Result<usize, usize> {
        if self.waiters.is_empty() && want <= self.available {
            self.available -= want;
            Ok(want)
        } else {
            Err(want)
        }
    }

    fn give_back(&mut self, permits: usize, wakes: &mut WakeList) {
        self.available += permits;
        self.serve(wakes);
    }

    fn on_leave(&mut self, wakes: &mut WakeList) {
        self.serve(wakes);
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: RefCell::new(State {
                available: permits,
                waiters: Waiters::new(),
                forgotten: 0,
            }),
        }
    }

    /// Waits for one permit.
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered here as
    /// `Err(Cancelled)`. A permit granted to a waiter that is cancelled (or
    /// dropped) before it resumed goes to the next waiter: none is lost.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once, in arrival order: while this request
    /// is first in line, later (smaller) requests wait behind it.
    ///
    /// # Cancellation
    /// As for [`acquire`](Self::acquire).
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            inner: Waiter::new(&self.state, n),
        }
    }

    /// Takes a permit if one is free and nobody waits for one.
    ///
    /// # Errors
    /// [`TryAcquireError`] otherwise.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody waits for permits.
    ///
    /// # Errors
    /// [`TryAcquireError`] otherwise.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        match self.state.borrow_mut().try_now(n) {
            Ok(n) => Ok(SemaphorePermit {
                semaphore: self,
                permits: n,
            }),
            Err(_) => Err(TryAcquireError),
        }
    }

    /// Adds `n` permits, serving waiters (asyncio's `release()`, for a
    /// permit that was [`forget`](SemaphorePermit::forget)-ten or never
    /// acquired).
    ///
    /// # Panics
    /// If the count would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        self.put_back(n, n);
    }

    /// Adds `n` permits, of which `forgotten` count as forgotten ones given
    /// back, and serves waiters.
    fn put_back(&self, n: usize, forgotten: usize) {
        let mut wakes = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.available = state
                .available
                .checked_add(n)
                .expect("taskloop::Semaphore: permit count overflow");
            state.forgotten = state.forgotten.saturating_sub(forgotten);
            state.serve(&mut wakes);
        }
        wakes.wake_all();
    }

    /// asyncio's `release()`: adds one permit.
    pub fn release(&self) {
        self.add_permits(1);
    }

    /// The free permits.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().available
    }

    /// asyncio's `locked()`: whether an `acquire()` would wait.
    pub fn locked(&self) -> bool {
        let state = self.state.borrow();
        state.available == 0 || !state.waiters.is_empty()
    }

    /// How many tasks wait for permits.
    pub fn waiters(&self) -> usize {
        self.state.borrow().waiters.len()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("available", &state.available)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// A semaphore that cannot be released above its initial value: asyncio's
/// `BoundedSemaphore`.
///
/// It is a [`Semaphore`] with the same permits and the same fairness; what
/// it adds is the check on [`release`](Self::release). Its permits give
/// themselves back when dropped, so `release()` is only for permits taken
/// out with [`SemaphorePermit::forget`]: a `release()` with none of those
/// outstanding would raise the count above the initial value (or make a
/// live permit's drop do so later), and returns [`ReleaseError`] instead
/// (asyncio's `ValueError`).
///
/// # Examples
/// ```
/// use taskloop::sync::BoundedSemaphore;
/// # taskloop::run(async {
/// let sem = BoundedSemaphore::new(1);
/// assert!(sem.release().is_err()); // already at its initial value
/// sem.acquire().await?.forget(); // asyncio's bare `acquire()`
/// assert!(sem.locked());
/// sem.release().unwrap(); // asyncio's bare `release()`
/// assert_eq!(sem.available_permits(), 1);
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct BoundedSemaphore {
    /// The permits, counted and served as by any semaphore.
    inner: Semaphore,
    /// The initial value, which `release` may not exceed.
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, never more.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            inner: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// Waits for one permit, as [`Semaphore::acquire`].
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered here as
    /// `Err(Cancelled)`. A permit granted to a waiter that is cancelled (or
    /// dropped) before it resumed goes to the next waiter: none is lost.
    pub fn acquire(&self) -> Acquire<'_> {
        self.inner.acquire()
    }

    /// Waits for `n` permits at once, as [`Semaphore::acquire_many`].
    ///
    /// # Cancellation
    /// As for [`acquire`](Self::acquire).
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        self.inner.acquire_many(n)
    }

    /// Takes a permit if one is free and nobody waits for one.
    ///
    /// # Errors
    /// [`TryAcquireError`] otherwise.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.inner.try_acquire()
    }

    /// Takes `n` permits if they are free and nobody waits for permits.
    ///
    /// # Errors
    /// [`TryAcquireError`] otherwise.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.inner.try_acquire_many(n)
    }

    /// asyncio's `release()`: gives back one permit taken out with
    /// [`SemaphorePermit::forget`], serving waiters.
    ///
    /// # Errors
    /// [`ReleaseError`] if no forgotten permit is outstanding: the count
    /// would go above the initial value (asyncio's `ValueError`). Nothing
    /// changes then.
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.inner.state.borrow().forgotten == 0 {
            return Err(ReleaseError);
        }
        self.inner.put_back(1, 1);
        Ok(())
    }

    /// The initial value: the most permits there can be.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The free permits.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// asyncio's `locked()`: whether an `acquire()` would wait.
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// How many tasks wait for permits.
    pub fn waiters(&self) -> usize {
        self.inner.waiters()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("BoundedSemaphore")
            .field("available", &state.available)
            .field("bound", &self.bound)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`] and
/// [`Semaphore::acquire_many`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    /// Whose permits.
    semaphore: &'a Semaphore,
    /// The place in the waiters.
    inner: Waiter<'a, State>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let semaphore = self.semaphore;
        Pin::new(&mut self.inner)
            .poll(cx)
            .map_ok(|permits| SemaphorePermit { semaphore, permits })
    }
}

/// Permits of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a> {
    /// Whose permits.
    semaphore: &'a Semaphore,
    /// How many.
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits taken: they are not given back on drop (the
    /// semaphore has that many fewer until [`Semaphore::add_permits`]).
    pub fn forget(mut self) {
        let mut state = self.semaphore.state.borrow_mut();
        state.forgotten += std::mem::take(&mut self.permits);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.put_back(self.permits, 0);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// [`Semaphore::try_acquire`] found no free permit, or waiters in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryAcquireError;

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no permit is free")
    }
}

impl std::error::Error for TryAcquireError {}

/// [`BoundedSemaphore::release`] would raise the count above the initial
/// value: asyncio's `ValueError("BoundedSemaphore released too many times")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseError;

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for ReleaseError {}
