//! [`Condition`]: asyncio's `Condition`, shaped like `std::sync::Condvar`
//! over a [`Lock`]'s guard.
//!
//! The condition owns only its waiter list; the lock is the caller's, passed
//! in as a [`LockGuard`]. A wait goes through three phases in one future:
//! it queues for a notification and releases the lock in the same poll (so
//! no notification can slip in between), waits to be notified (or for its
//! deadline, or a cancellation), then re-acquires the lock without letting a
//! cancellation interrupt that, and only then returns. A notification is
//! never lost: one granted to a waiter that is cancelled before it resumed,
//! or consumed by a wait that then ends cancelled, goes to the next waiter
//! (asyncio 3.13, gh-112202).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::waiters::{Grantor, Waiter, Waiters, WakeList};
use crate::cancel::{Cancelled, deliver_pending};
use crate::timer::TimerEntry;

/// A condition variable for tasks: asyncio's `Condition`, with the shape of
/// `std::sync::Condvar` (the lock is a [`Lock`] whose guard each wait takes
/// and gives back).
///
/// Unlike asyncio, [`notify`](Self::notify) does not require the lock: it
/// takes no guard, like `Condvar::notify_one`. On one thread nothing can run
/// between a waiter's check of its predicate and its registration here (the
/// wait registers in the poll that releases the lock), so a notify without
/// the lock cannot be missed; hold the guard while changing the state the
/// waiters test, as with any condition variable. One condition may serve
/// waits on several locks, though one lock per condition is the usual use.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::{Condition, Lock};
/// # taskloop::run(async {
/// let items = Rc::new(Lock::new(Vec::new()));
/// let nonempty = Rc::new(Condition::new());
/// let consumer = taskloop::spawn({
///     let (items, nonempty) = (items.clone(), nonempty.clone());
///     async move {
///         let guard = items.acquire().await?;
///         let mut guard = nonempty.wait_for(guard, |v| !v.is_empty()).await?;
///         Ok::<_, taskloop::Cancelled>(guard.pop())
///     }
/// });
/// taskloop::yield_now().await?;
/// items.acquire().await?.push(7);
/// nonempty.notify(1);
/// assert_eq!(consumer.await.unwrap()?, Some(7));
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Condition {
    /// The waiters for a notification.
    state: RefCell<State>,
}

/// A condition's state.
struct State {
    /// Waits queued for a notification; a grant is one notification.
    waiters: Waiters<(), ()>,
}

impl State {
    /// Notifies up to `n` queued waiters, in arrival order.
    fn notify(&mut self, n: usize, wakes: &mut WakeList) {
        for _ in 0..n {
            if !self.waiters.grant_front(wakes, |()| ()) {
                break;
            }
        }
    }
}

impl Grantor for State {
    type Request = ();
    type Grant = ();

    fn waiters(&mut self) -> &mut Waiters<(), ()> {
        &mut self.waiters
    }

    // A wait always waits for a notification.
    fn try_now(&mut self, (): ()) -> Result<(), ()> {
        Err(())
    }

    // A notified waiter was cancelled before it resumed: the notification
    // goes to the next one (gh-112202).
    fn give_back(&mut self, (): (), wakes: &mut WakeList) {
        self.notify(1, wakes);
    }
}

impl Condition {
    /// A condition nobody waits on.
    pub fn new() -> Condition {
        Condition {
            state: RefCell::new(State {
                waiters: Waiters::new(),
            }),
        }
    }

    /// Releases the lock, waits for a notification, and re-acquires the
    /// lock: asyncio's `wait()`, `Condvar::wait`'s shape. The future
    /// returns the guard again.
    ///
    /// As with any condition variable, re-check the state after it returns:
    /// another task may have changed it before the lock came back (or use
    /// [`wait_for`](Self::wait_for)).
    ///
    /// # Cancellation
    /// A checkpoint. A pending cancellation is delivered at once, without
    /// releasing the lock. A cancellation delivered while waiting for the
    /// notification ends the wait, but the lock is re-acquired first, and
    /// that re-acquisition is not interrupted (a further cancellation
    /// requested meanwhile is delivered when it is done): the future returns
    /// [`WaitCancelled`], which carries the guard, only once the lock is held
    /// again, as asyncio re-acquires before it raises. A notification given
    /// to a wait that ends cancelled goes to the next waiter.
    ///
    /// # Errors
    /// [`WaitCancelled`] (holding the guard) if the task was cancelled.
    /// `?` turns it into [`Cancelled`], releasing the lock.
    pub fn wait<'a, T>(&'a self, guard: LockGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait {
            raw: RawWait::new(self, guard, None),
        }
    }

    /// Waits until `predicate` holds for the data, re-checking after each
    /// notification: asyncio's `wait_for(predicate)`, `Condvar::wait_while`
    /// with the predicate the other way round. Returns at once, without a
    /// checkpoint, if it holds already.
    ///
    /// # Cancellation
    /// As for [`wait`](Self::wait): the guard comes back inside
    /// [`WaitCancelled`].
    ///
    /// # Errors
    /// [`WaitCancelled`] (holding the guard) if the task was cancelled.
    #[track_caller]
    pub fn wait_for<'a, T>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> impl std::future::Future<Output = Result<LockGuard<'a, T>, WaitCancelled<'a, T>>> {
        crate::task::current_task::at_caller(async move {
            while !predicate(&mut guard) {
                guard = self.wait(guard).await?;
            }
            Ok(guard)
        })
    }

    /// [`wait`](Self::wait) with a time limit: `Condvar::wait_timeout`'s
    /// shape. The future returns the guard, re-acquired, and whether the
    /// wait timed out rather than being notified.
    ///
    /// This is the way to bound a condition wait: under
    /// [`wait_for`](crate::wait_for) or [`timeout`](crate::timeout), a
    /// timeout would drop the future holding the guard, so the lock would be
    /// released and the guard lost to the caller, where asyncio's
    /// `wait_for(cond.wait(), t)` raises with the lock held again. Here the
    /// deadline ends only the wait for the notification; the lock is
    /// re-acquired (that part is not bounded) and handed back.
    ///
    /// # Cancellation
    /// As for [`wait`](Self::wait).
    ///
    /// # Errors
    /// [`WaitCancelled`] (holding the guard) if the task was cancelled.
    ///
    /// # Panics
    /// Outside a taskloop runtime.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use taskloop::sync::{Condition, Lock};
    /// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
    /// rt.block_on(async {
    ///     let (lock, cond) = (Lock::new(()), Condition::new());
    ///     let guard = lock.acquire().await?;
    ///     let (_guard, result) = cond.wait_timeout(guard, Duration::from_secs(1)).await?;
    ///     assert!(result.timed_out()); // nobody notified
    ///     Ok::<_, taskloop::Cancelled>(())
    /// })
    /// .unwrap();
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn wait_timeout<'a, T>(
        &'a self,
        guard: LockGuard<'a, T>,
        timeout: Duration,
    ) -> ConditionWaitTimeout<'a, T> {
        let deadline = crate::timer::now().checked_add(timeout);
        ConditionWaitTimeout {
            raw: RawWait::new(self, guard, Some(deadline)),
        }
    }

    /// [`wait_for`](Self::wait_for) with a time limit on the whole wait,
    /// like `Condvar::wait_timeout_while` (asyncio's
    /// `wait_for(cond.wait_for(predicate), t)`, keeping the guard: see
    /// [`wait_timeout`](Self::wait_timeout)). The result says it timed out
    /// if the predicate still did not hold when the time was up.
    ///
    /// # Cancellation
    /// As for [`wait`](Self::wait).
    ///
    /// # Errors
    /// [`WaitCancelled`] (holding the guard) if the task was cancelled.
    ///
    /// # Panics
    /// Outside a taskloop runtime.
    #[track_caller]
    pub fn wait_for_timeout<'a, T>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        timeout: Duration,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> impl std::future::Future<
        Output = Result<(LockGuard<'a, T>, WaitTimeoutResult), WaitCancelled<'a, T>>,
    > {
        crate::task::current_task::at_caller(async move {
            let deadline = crate::timer::now().checked_add(timeout);
            while !predicate(&mut guard) {
                let (g, result) = ConditionWaitTimeout {
                    raw: RawWait::new(self, guard, Some(deadline)),
                }
                .await?;
                guard = g;
                if result.timed_out() {
                    let timed_out = !predicate(&mut guard);
                    return Ok((guard, WaitTimeoutResult(timed_out)));
                }
            }
            Ok((guard, WaitTimeoutResult(false)))
        })
    }

    /// Wakes up to `n` waiting tasks, in arrival order (asyncio's
    /// `notify(n)`). Each returns from its wait once it holds the lock again.
    /// Needs no guard (see the type's documentation).
    pub fn notify(&self, n: usize) {
        let mut wakes = WakeList::new();
        self.state.borrow_mut().notify(n, &mut wakes);
        wakes.wake_all();
    }

    /// Wakes every waiting task (asyncio's `notify_all()`).
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// How many tasks wait for a notification.
    pub fn waiters(&self) -> usize {
        self.state.borrow().waiters.len()
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// How a wait for the notification ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Woken {
    /// Notified (the notification is this wait's).
    Notified,
    /// The deadline passed first.
    TimedOut,
    /// A cancellation was delivered.
    Cancelled,
}

/// Where a wait is.
enum Phase<'a, T> {
    /// Not polled yet: the lock is still held.
    Start(LockGuard<'a, T>),
    /// Queued for a notification, the lock released.
    Waiting(Waiter<'a, State>),
    /// Re-acquiring the lock, which no cancellation interrupts.
    Relocking(LockAcquire<'a, T>, Woken),
    /// Returned.
    Done,
}

/// What a [`RawWait`] returns: the guard and whether the deadline passed,
/// or the cancellation with the guard.
type RawOutput<'a, T> = Result<(LockGuard<'a, T>, bool), WaitCancelled<'a, T>>;

/// The one wait every method of [`Condition`] is made of.
struct RawWait<'a, T> {
    /// Whose notifications.
    cond: &'a Condition,
    /// The lock to re-acquire.
    lock: &'a Lock<T>,
    /// Where the wait is.
    phase: Phase<'a, T>,
    /// The deadline of a timed wait (`Some(None)`: one too far to
    /// represent, which never comes); `None` for an untimed wait.
    deadline: Option<Option<Instant>>,
    /// The timer for the deadline, armed while waiting.
    timer: Option<TimerEntry>,
}

impl<'a, T> RawWait<'a, T> {
    /// A wait on `cond` releasing `guard`.
    fn new(
        cond: &'a Condition,
        guard: LockGuard<'a, T>,
        deadline: Option<Option<Instant>>,
    ) -> RawWait<'a, T> {
        RawWait {
            cond,
            lock: LockGuard::lock(&guard),
            phase: Phase::Start(guard),
            deadline,
            timer: None,
        }
    }

    /// Drives the wait: the guard again and whether the deadline passed.
    #[track_caller]
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<RawOutput<'a, T>> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Start(guard) => {
                    // A checkpoint that keeps the lock if it delivers.
                    if deliver_pending().is_err() {
                        return Poll::Ready(Err(WaitCancelled { guard }));
                    }
                    let mut waiter = Waiter::new(&self.cond.state, ());
                    // Queues it (a condition never grants at once, and
                    // nothing is pending to deliver).
                    let polled = Pin::new(&mut waiter).poll(cx);
                    debug_assert!(polled.is_pending());
                    // Released in the poll that queued: no notify between.
                    drop(guard);
                    if let Some(deadline) = self.deadline {
                        self.timer = Some(TimerEntry::at(deadline));
                    }
                    self.phase = Phase::Waiting(waiter);
                }
                Phase::Waiting(mut waiter) => {
                    let woken = match Pin::new(&mut waiter).poll(cx) {
                        Poll::Ready(Ok(())) => Woken::Notified,
                        // The waiter handed a notification it was given on.
                        Poll::Ready(Err(Cancelled)) => Woken::Cancelled,
                        Poll::Pending => {
                            let expired = self
                                .timer
                                .as_mut()
                                .is_some_and(|t| t.poll_expired(cx).is_ready());
                            if !expired {
                                self.phase = Phase::Waiting(waiter);
                                return Poll::Pending;
                            }
                            // Not notified (it would have been taken above):
                            // leave the queue.
                            drop(waiter);
                            Woken::TimedOut
                        }
                    };
                    self.timer = None;
                    self.phase = Phase::Relocking(self.lock.acquire_uncancellable(), woken);
                }
                Phase::Relocking(mut acquire, woken) => match Pin::new(&mut acquire).poll(cx) {
                    Poll::Ready(Ok(guard)) => {
                        // A cancellation requested while re-acquiring is
                        // delivered now, as asyncio re-raises it.
                        if woken == Woken::Cancelled || deliver_pending().is_err() {
                            if woken == Woken::Notified {
                                self.cond.notify(1);
                            }
                            return Poll::Ready(Err(WaitCancelled { guard }));
                        }
                        return Poll::Ready(Ok((guard, woken == Woken::TimedOut)));
                    }
                    Poll::Ready(Err(Cancelled)) => {
                        unreachable!("an uncancellable acquire does not deliver")
                    }
                    Poll::Pending => {
                        self.phase = Phase::Relocking(acquire, woken);
                        return Poll::Pending;
                    }
                },
                Phase::Done => panic!("a taskloop sync future was polled after it returned"),
            }
        }
    }
}

impl<T> Drop for RawWait<'_, T> {
    fn drop(&mut self) {
        // Dropped while re-acquiring after a notification: nobody will act
        // on it, so the next waiter gets it.
        if let Phase::Relocking(_, Woken::Notified) = self.phase {
            self.phase = Phase::Done;
            self.cond.notify(1);
        }
    }
}

impl<T> fmt::Debug for RawWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Start(_) => "start",
            Phase::Waiting(_) => "waiting",
            Phase::Relocking(..) => "relocking",
            Phase::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("phase", &phase)
            .finish()
    }
}

/// The future returned by [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a, T> {
    /// The wait.
    raw: RawWait<'a, T>,
}

impl<'a, T> Future for ConditionWait<'a, T> {
    type Output = Result<LockGuard<'a, T>, WaitCancelled<'a, T>>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.raw.poll_wait(cx).map_ok(|(guard, _)| guard)
    }
}

impl<T> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// The future returned by [`Condition::wait_timeout`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWaitTimeout<'a, T> {
    /// The wait.
    raw: RawWait<'a, T>,
}

impl<'a, T> Future for ConditionWaitTimeout<'a, T> {
    type Output = Result<(LockGuard<'a, T>, WaitTimeoutResult), WaitCancelled<'a, T>>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.raw
            .poll_wait(cx)
            .map_ok(|(guard, timed_out)| (guard, WaitTimeoutResult(timed_out)))
    }
}

impl<T> fmt::Debug for ConditionWaitTimeout<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// Whether a timed [`Condition`] wait timed out: `std`'s
/// `WaitTimeoutResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the time was up before a notification (for
    /// [`Condition::wait_for_timeout`]: before the predicate held).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A [`Condition`] wait was cancelled; the lock is held again, and this
/// carries its guard (as `std::sync::PoisonError` carries the guard of a
/// poisoned mutex).
///
/// Take the guard back with [`into_guard`](Self::into_guard) to clean up
/// under the lock, or convert to [`Cancelled`] with `?`, which releases the
/// lock.
#[must_use = "dropping it releases the lock"]
pub struct WaitCancelled<'a, T> {
    /// The re-acquired lock.
    guard: LockGuard<'a, T>,
}

impl<'a, T> WaitCancelled<'a, T> {
    /// The guard of the re-acquired lock.
    pub fn into_guard(self) -> LockGuard<'a, T> {
        self.guard
    }

    /// The data under the re-acquired lock.
    pub fn get_ref(&self) -> &T {
        &self.guard
    }

    /// The data under the re-acquired lock, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> From<WaitCancelled<'_, T>> for Cancelled {
    fn from(_: WaitCancelled<'_, T>) -> Cancelled {
        Cancelled
    }
}

impl<T> fmt::Debug for WaitCancelled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitCancelled").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for WaitCancelled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the condition wait was cancelled (the lock is held again)")
    }
}

impl<T> std::error::Error for WaitCancelled<'_, T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&Cancelled)
    }
}
