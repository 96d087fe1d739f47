//! [`Barrier`]: asyncio 3.11's `Barrier`, a meeting point for a fixed number
//! of tasks.
//!
//! It is asyncio's state machine, on this module's own [`Condition`] and
//! [`Lock`]: *filling* (tasks arrive and wait), *draining* (the last one
//! arrived, everyone inside leaves; newcomers wait for the barrier to
//! empty), *resetting* (`reset()` with tasks inside: they leave with an
//! error, newcomers wait), *broken* (`abort()`: every wait fails until a
//! `reset()`). The count of tasks inside is given back by a guard, however a
//! wait ends (returned, cancelled or dropped), as asyncio's `finally` does.

use std::cell::RefCell;
use std::fmt;

use super::condition::Condition;
use super::lock::Lock;
use crate::cancel::Cancelled;

/// A barrier for `parties` tasks: asyncio's `Barrier`.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::Barrier;
/// # taskloop::run(async {
/// let barrier = Rc::new(Barrier::new(3));
/// let tasks: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = barrier.clone();
///         taskloop::spawn(async move { barrier.wait().await })
///     })
///     .collect();
/// let mut indices = Vec::new();
/// for t in tasks {
///     indices.push(t.await.unwrap().unwrap());
/// }
/// assert_eq!(indices, vec![0, 1, 2]); // the arrival order
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Barrier {
    /// How many tasks must arrive to open it.
    parties: usize,
    /// The phase and the count.
    state: RefCell<State>,
    /// The lock the condition's waits go through (asyncio's condition lock:
    /// tasks enter, and leave a wait, one at a time).
    lock: Lock<()>,
    /// Notified on every change of phase.
    cond: Condition,
}

/// Where a barrier is in its cycle (asyncio's `_BarrierState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Tasks arrive and wait for the last one.
    Filling,
    /// The last one arrived: those inside leave; newcomers wait.
    Draining,
    /// `reset()` with tasks inside: they leave broken; newcomers wait.
    Resetting,
    /// `abort()`: every wait fails until a `reset()`.
    Broken,
}

/// A barrier's state.
struct State {
    /// The phase.
    phase: Phase,
    /// Tasks inside (arrived and not yet left).
    count: usize,
}

/// Leaves the barrier when dropped: asyncio's `finally` in `wait()`.
struct Inside<'a>(&'a Barrier);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        let barrier = self.0;
        {
            let mut state = barrier.state.borrow_mut();
            state.count -= 1;
            // The last one out: the barrier fills again.
            if state.count == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
                state.phase = Phase::Filling;
            }
            if state.count != 0 {
                return;
            }
        }
        barrier.cond.notify_all();
    }
}

impl Barrier {
    /// A barrier that opens when `parties` tasks wait on it.
    ///
    /// # Panics
    /// If `parties` is 0 (asyncio's `ValueError`).
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "taskloop::Barrier: parties must be > 0");
        Barrier {
            parties,
            state: RefCell::new(State {
                phase: Phase::Filling,
                count: 0,
            }),
            lock: Lock::new(()),
            cond: Condition::new(),
        }
    }

    /// Waits until `parties` tasks are waiting, and returns this task's
    /// arrival index, `0..parties`. A task arriving while the barrier drains
    /// or resets waits for it to empty first.
    ///
    /// # Cancellation
    /// A checkpoint. A task cancelled while the barrier fills leaves it, and
    /// the count goes down by one (the barrier is not broken). One cancelled
    /// after the barrier opened, before it resumed, also ends with
    /// [`BarrierWaitError::Cancelled`] (as in asyncio) and leaves normally:
    /// the others are not affected. Nothing is left behind if the future is
    /// dropped either.
    ///
    /// # Errors
    /// [`BarrierWaitError::Broken`] if the barrier is broken, or is aborted
    /// or reset while this task waits (asyncio's `BrokenBarrierError`);
    /// [`BarrierWaitError::Cancelled`] if the task was cancelled.
    #[track_caller]
    pub fn wait(&self) -> impl std::future::Future<Output = Result<usize, BarrierWaitError>> {
        crate::task::current_task::at_caller(async move {
            let guard = self.lock.acquire().await?;
            // Block while the barrier drains or resets.
            let guard = self
                .cond
                .wait_for(guard, |()| {
                    !matches!(
                        self.state.borrow().phase,
                        Phase::Draining | Phase::Resetting
                    )
                })
                .await
                .map_err(|_| BarrierWaitError::Cancelled)?;
            let index = {
                let mut state = self.state.borrow_mut();
                if state.phase == Phase::Broken {
                    return Err(BarrierWaitError::Broken);
                }
                state.count += 1;
                state.count - 1
            };
            // Declared after the guard: leaves before the lock is released.
            let _inside = Inside(self);
            if index + 1 == self.parties {
                self.state.borrow_mut().phase = Phase::Draining;
                self.cond.notify_all();
                return Ok(index);
            }
            let _guard = self
                .cond
                .wait_for(guard, |()| self.state.borrow().phase != Phase::Filling)
                .await
                .map_err(|_| BarrierWaitError::Cancelled)?;
            match self.state.borrow().phase {
                Phase::Broken | Phase::Resetting => Err(BarrierWaitError::Broken),
                _ => Ok(index),
            }
        })
    }

    /// Returns the barrier to filling: tasks waiting in it now fail with
    /// [`BarrierWaitError::Broken`], and it fills again once they left
    /// (asyncio's `reset()`, which needs no `await` here: no lock is needed
    /// to change the phase on one thread).
    pub fn reset(&self) {
        {
            let mut state = self.state.borrow_mut();
            state.phase = if state.count > 0 {
                Phase::Resetting
            } else {
                Phase::Filling
            };
        }
        self.cond.notify_all();
    }

    /// Breaks the barrier: waiting tasks, and every later wait until a
    /// [`reset`](Self::reset), fail with [`BarrierWaitError::Broken`]
    /// (asyncio's `abort()`).
    pub fn abort(&self) {
        self.state.borrow_mut().phase = Phase::Broken;
        self.cond.notify_all();
    }

    /// How many tasks must wait to open the barrier.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks wait in the barrier while it fills (0 otherwise, as in
    /// asyncio).
    pub fn n_waiting(&self) -> usize {
        let state = self.state.borrow();
        if state.phase == Phase::Filling {
            state.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken ([`abort`](Self::abort)ed and not
    /// reset since).
    pub fn broken(&self) -> bool {
        self.state.borrow().phase == Phase::Broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("phase", &state.phase)
            .field("waiters", &state.count)
            .field("parties", &self.parties)
            .finish()
    }
}

/// Why a [`Barrier::wait`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierWaitError {
    /// The barrier was broken, or aborted or reset while the task waited:
    /// asyncio's `BrokenBarrierError`.
    Broken,
    /// The waiting task was cancelled.
    Cancelled,
}

impl BarrierWaitError {
    /// Whether the barrier was broken (asyncio's `BrokenBarrierError`).
    pub fn is_broken(&self) -> bool {
        *self == BarrierWaitError::Broken
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self == BarrierWaitError::Cancelled
    }
}

impl From<Cancelled> for BarrierWaitError {
    fn from(_: Cancelled) -> BarrierWaitError {
        BarrierWaitError::Cancelled
    }
}

impl fmt::Display for BarrierWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierWaitError::Broken => f.write_str("the barrier is broken"),
            BarrierWaitError::Cancelled => f.write_str("the barrier wait was cancelled"),
        }
    }
}

impl std::error::Error for BarrierWaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BarrierWaitError::Broken => None,
            BarrierWaitError::Cancelled => Some(&Cancelled),
        }
    }
}
