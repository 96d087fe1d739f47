//! [`sleep`], [`sleep_until`] and [`interval`]: the timer futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::TimerEntry;
use crate::cancel::{CancelSlot, Cancelled};
use crate::task::WaitKind;

/// Waits until `duration` has passed on the runtime's clock: asyncio's
/// `asyncio.sleep`.
///
/// `sleep(Duration::ZERO)` yields once, like `asyncio.sleep(0)`.
/// `Duration::MAX` (or any delay past the end of `Instant`) never fires.
///
/// # Cancellation
/// A checkpoint: a cancellation delivered while sleeping returns
/// `Err(Cancelled)` and removes the timer from the wheel at once.
///
/// # Panics
/// When created outside a taskloop runtime.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     taskloop::time::sleep(Duration::from_secs(30)).await?;
///     Ok::<_, taskloop::Cancelled>(())
/// })
/// .unwrap();
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        entry: TimerEntry::after(duration),
        slot: CancelSlot::new(WaitKind::Timer),
        yield_once: duration.is_zero().then_some(false),
        finished: false,
    }
}

/// Waits until `deadline` on the runtime's clock. A deadline in the past
/// fires at the next turn of the loop.
///
/// # Cancellation
/// As for [`sleep`].
///
/// # Panics
/// When created outside a taskloop runtime.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        entry: TimerEntry::at(Some(deadline)),
        slot: CancelSlot::new(WaitKind::Timer),
        yield_once: None,
        finished: false,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// The timer.
    entry: TimerEntry,
    /// Wakes this sleep when the task is cancelled.
    slot: CancelSlot,
    /// `sleep(0)`: `Some(yielded)`; it yields instead of arming a timer.
    yield_once: Option<bool>,
    /// It returned `Ready` (and was not reset since).
    finished: bool,
}

impl Sleep {
    /// Moves the deadline; the sleep is pending again even if it had fired.
    pub fn reset(&mut self, deadline: Instant) {
        self.yield_once = None;
        self.finished = false;
        self.entry.reset(Some(deadline));
    }

    /// The deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.entry.deadline()
    }

    /// Whether the sleep returned (and was not [`reset`](Self::reset) since).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // For `compat`.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the deadline has passed (as of the last poll).
    pub fn is_elapsed(&self) -> bool {
        self.yield_once == Some(true) || self.entry.is_expired()
    }
}

impl Future for Sleep {
    type Output = Result<(), Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Sleep {
            entry,
            slot,
            yield_once,
            finished,
        } = self.get_mut();
        let out = slot.poll_checkpoint(cx, |cx| match yield_once {
            Some(true) => Poll::Ready(()),
            Some(yielded) => {
                *yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            None => entry.poll_expired(cx),
        });
        *finished = out.is_ready();
        out
    }
}

/// A stream of ticks every `period`, for progress output and polling loops.
///
/// The first tick completes at once; tick `n` is due at `start + n * period`.
///
/// Missed ticks are **skipped**: if the loop was busy past one or more due
/// ticks, the next [`tick`](Interval::tick) completes at once and the
/// following one is due at the next multiple of `period` after now, so a
/// stalled program prints one progress line when it recovers, not a burst.
///
/// # Panics
/// If `period` is zero, or when created outside a taskloop runtime.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let t0 = taskloop::time::now();
///     let mut every = taskloop::time::interval(Duration::from_secs(1));
///     for _ in 0..3 {
///         every.tick().await.unwrap();
///     }
///     assert_eq!(taskloop::time::now() - t0, Duration::from_secs(2));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "taskloop::time::interval: the period must be non-zero"
    );
    let start = super::now();
    Interval {
        period,
        next: start,
        sleep: sleep_until(start),
    }
}

/// The ticks of [`interval`].
#[derive(Debug)]
#[must_use = "an interval does nothing unless ticked"]
pub struct Interval {
    /// Time between ticks.
    period: Duration,
    /// When the next tick is due.
    next: Instant,
    /// Sleeps until `next`.
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was due.
    ///
    /// # Cancellation
    /// A checkpoint. A cancelled `tick` loses nothing: the tick is still due
    /// for the next call.
    #[track_caller]
    pub fn tick(&mut self) -> impl std::future::Future<Output = Result<Instant, Cancelled>> {
        crate::task::current_task::at_caller(async move {
            std::future::poll_fn(|cx| self.poll_tick(cx)).await
        })
    }

    /// Polls for the next tick: [`tick`](Self::tick) without the future (what
    /// its `Stream` implementation uses).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Result<Instant, Cancelled>> {
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(c)) => return Poll::Ready(Err(c)),
            Poll::Ready(Ok(())) => {}
        }
        let due = self.next;
        let now = super::now();
        let mut next = due.checked_add(self.period);
        if let Some(n) = next {
            if n <= now {
                // Skip the missed ticks: the next multiple of `period` after now.
                let behind = now.duration_since(due).as_nanos() / self.period.as_nanos();
                let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                next = self
                    .period
                    .checked_mul(steps)
                    .and_then(|d| due.checked_add(d));
            }
        }
        match next {
            Some(n) => {
                self.next = n;
                self.sleep.reset(n);
            }
            // Past the end of `Instant`: no further tick.
            None => self.sleep = sleep(Duration::MAX),
        }
        Poll::Ready(Ok(due))
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
