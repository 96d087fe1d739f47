//! [`shield`]: await a task without forwarding the awaiter's cancellation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::cancel::{CancelSlot, Cancelled};
use crate::task::WaitKind;
use crate::task::{Task, TaskError};

/// Awaits `task` while protecting it from the awaiting task's cancellation:
/// asyncio's `shield`.
///
/// If the awaiting task is cancelled, the shield returns `Err(Cancelled)` at
/// once and the task runs on to completion; its outcome is not lost: it stays
/// on the handle, which the caller still owns. `wait_for(shield(&mut t), d)`
/// therefore times out and leaves `t` running.
///
/// To shield a plain future, [`spawn`](crate::spawn) it first, as asyncio's
/// `shield` does with `ensure_future`.
///
/// # Cancellation
/// A checkpoint for the *awaiting* task only: its cancellation is delivered
/// here and never forwarded to `task`. A task already done gives its output.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let mut work = taskloop::spawn(async {
///     for _ in 0..3 {
///         taskloop::yield_now().await.unwrap();
///     }
///     "finished"
/// });
/// taskloop::current_task().unwrap().cancel();
/// assert!(taskloop::shield(&mut work).await.is_err()); // we were cancelled...
/// assert_eq!(work.await.unwrap(), "finished"); // ...the work was not
/// # });
/// ```
pub fn shield<T>(task: &mut Task<T>) -> Shield<'_, T> {
    Shield {
        task,
        slot: CancelSlot::new(WaitKind::Task),
        waiting: false,
    }
}

/// The future of [`shield`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<'a, T> {
    /// The protected task.
    task: &'a mut Task<T>,
    /// Wakes the shield when the awaiting task is cancelled.
    slot: CancelSlot,
    /// Our waker is registered on the task.
    waiting: bool,
}

impl<T> Future for Shield<'_, T> {
    type Output = Result<Result<T, TaskError>, Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.task.is_done() {
            this.slot.disarm();
            return Pin::new(&mut *this.task).poll(cx).map(Ok);
        }
        // Deliver our own cancellation here, before the handle's poll could
        // forward it.
        if let Err(c) = this.slot.deliver() {
            this.task.forget_waiter();
            this.waiting = false;
            return Poll::Ready(Err(c));
        }
        match Pin::new(&mut *this.task).poll(cx) {
            Poll::Ready(out) => {
                this.slot.disarm();
                this.waiting = false;
                Poll::Ready(Ok(out))
            }
            Poll::Pending => {
                this.slot.arm(cx);
                this.waiting = true;
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Shield<'_, T> {
    /// A shield abandoned while waiting leaves no waker on the task
    /// (asyncio removes the inner's callback when the outer completes).
    fn drop(&mut self) {
        if self.waiting {
            self.task.forget_waiter();
        }
    }
}
