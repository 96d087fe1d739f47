//! The explicit checkpoints: [`checkpoint`], [`yield_now`], [`cancellable`].

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{CancelSlot, Cancelled, deliver_pending};
use crate::task::WaitKind;

/// A checkpoint that does not suspend: returns `Err(Cancelled)` if a
/// cancellation of the current task is pending (and so delivers it), and
/// `Ok(())` at once otherwise.
///
/// Long computations that never await a runtime primitive call it so that a
/// `cancel()` reaches them.
///
/// # Cancellation
/// This *is* a checkpoint: a pending request is delivered here.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// taskloop::current_task().unwrap().cancel();
/// assert_eq!(taskloop::checkpoint().await, Err(taskloop::Cancelled));
/// # });
/// ```
#[track_caller]
pub fn checkpoint() -> impl std::future::Future<Output = Result<(), Cancelled>> {
    crate::task::current_task::at_caller(async move { deliver_pending() })
}

/// Reschedules the current task behind the tasks already ready, like
/// asyncio's `await asyncio.sleep(0)`.
///
/// # Cancellation
/// A checkpoint: a cancellation pending before or while yielding is
/// delivered here as `Err(Cancelled)`.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// taskloop::yield_now().await?;
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow {
        yielded: false,
        parked_at: None,
        finished: false,
    }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    /// Whether the first poll already went back to the run queue.
    yielded: bool,
    /// The task's delivery count when it yielded (the combinator rule).
    parked_at: Option<u32>,
    /// It returned `Ready`.
    pub(crate) finished: bool,
}

impl Future for YieldNow {
    type Output = Result<(), Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.yielded {
            self.finished = true;
            return Poll::Ready(super::state::deliver(self.parked_at));
        }
        match super::state::deliver_or_park(None, WaitKind::Yield) {
            Err(c) => {
                self.finished = true;
                return Poll::Ready(Err(c));
            }
            Ok(at) => self.parked_at = at,
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Makes a future that knows nothing of taskloop (a foreign channel, say) a
/// checkpoint: a cancellation of the task is delivered while it is pending,
/// and the future is then dropped.
///
/// # Cancellation
/// If a cancellation is pending when this is polled, it wins over the inner
/// future, even if that one is ready: `Err(Cancelled)`.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let never = std::future::pending::<()>();
/// let task = taskloop::spawn(taskloop::cancellable(never));
/// taskloop::yield_now().await.unwrap();
/// task.cancel();
/// assert!(task.await.unwrap_err().is_cancelled());
/// # });
/// ```
#[track_caller]
pub fn cancellable<F: Future>(
    future: F,
) -> impl std::future::Future<Output = Result<F::Output, Cancelled>> {
    crate::task::current_task::at_caller(async move {
        let mut future = std::pin::pin!(future);
        let mut slot = CancelSlot::new(WaitKind::Other);
        poll_fn(|cx| slot.poll_checkpoint(cx, |cx| future.as_mut().poll(cx))).await
    })
}
