//! [`as_completed`]: tasks in completion order, in both of asyncio 3.13's
//! forms.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use super::done::{DoneQueue, Watch, watch_all};
use super::error::{AsCompletedError, NextError, NextResult};
use super::wait_set::TaskHandle;
use crate::cancel::CancelSlot;
use crate::task::Task;
use crate::task::WaitKind;
use crate::timer::TimerEntry;
use std::future::Future;

/// Yields tasks in the order they complete: asyncio's `as_completed` (3.13).
///
/// * Asynchronous iteration: [`AsCompleted::next`] gives the original handles
///   in completion order.
/// * Plain iteration (for `Task<T>` inputs): [`AsCompleted::results`] gives
///   one future per input, each resolving to the *next* result in completion
///   order, whichever is awaited first.
///
/// Inputs are deduplicated. The timer starts now (a runtime is needed); on
/// timeout the remaining items report [`NextError::TimedOut`] (carrying their
/// handle) and nothing is cancelled. A loop that stops and resumes keeps its place.
/// Empty input yields nothing and arms no timer.
///
/// # Panics
/// With a timeout, outside a taskloop runtime.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::{as_completed, spawn, time::sleep};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let tasks = [3, 1, 2].map(|s| spawn(async move {
///         sleep(Duration::from_secs(s)).await.unwrap();
///         s
///     }));
///     let mut order = Vec::new();
///     let mut done = as_completed(tasks, None);
///     while let Some(task) = done.next().await {
///         order.push(task.unwrap().await.unwrap());
///     }
///     assert_eq!(order, [1, 2, 3]);
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn as_completed<W, I>(tasks: I, timeout: impl Into<Option<Duration>>) -> AsCompleted<W>
where
    W: TaskHandle,
    I: IntoIterator<Item = W>,
{
    let (items, queue, watches) = watch_all(tasks);
    let timer = match timeout.into() {
        Some(d) if !items.is_empty() => {
            queue.stamp_completions();
            Some(TimerEntry::after(d))
        }
        _ => None,
    };
    AsCompleted {
        inner: Rc::new(RefCell::new(Inner {
            remaining: items.len(),
            items: items.into_iter().map(Some).collect(),
            queue,
            _watches: watches,
            timer,
            timed_out: false,
            cursor: 0,
        })),
        slot: CancelSlot::new(WaitKind::Task),
    }
}

/// The iterator of [`as_completed`].
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompleted<W> {
    /// State shared with the futures of [`results`](Self::results).
    inner: Rc<RefCell<Inner<W>>>,
    /// Wakes `next` when the awaiting task is cancelled.
    slot: CancelSlot,
}

/// The shared state.
struct Inner<W> {
    /// The inputs; `None` once yielded.
    items: Vec<Option<W>>,
    /// Inputs not yet yielded.
    remaining: usize,
    /// Completions, in order.
    queue: Rc<DoneQueue>,
    /// Registrations with the inputs.
    _watches: Vec<Watch>,
    /// The overall timeout.
    timer: Option<TimerEntry>,
    /// The timeout fired: the rest are yielded as `TimedOut`.
    timed_out: bool,
    /// Every item before this index was yielded: the scan for the next
    /// timed-out item resumes here, so yielding all of them is linear.
    cursor: usize,
}

impl<W> Inner<W> {
    /// The next item, or `Pending` (with `cx` registered).
    fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<W, NextError<W>>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if !self.timed_out
            && self
                .timer
                .as_mut()
                .is_some_and(|t| t.poll_expired(cx).is_ready())
        {
            self.timed_out = true;
            // Other consumers (futures of `results()` in other tasks) too.
            self.queue.wake_all();
        }
        let deadline = self.timer.as_ref().and_then(TimerEntry::deadline);
        while let Some((i, at)) = self.queue.pop_stamped() {
            // A task that completed after the deadline is among those that
            // timed out (asyncio 3.13 stops listening at the deadline).
            if at.zip(deadline).is_some_and(|(at, d)| at >= d) {
                self.timed_out = true;
                continue;
            }
            if let Some(w) = self.items[i].take() {
                self.remaining -= 1;
                return Poll::Ready(Some(Ok(w)));
            }
        }
        if self.timed_out {
            let skipped = self.items[self.cursor..]
                .iter()
                .take_while(|w| w.is_none())
                .count();
            self.cursor += skipped;
            let w = self.items.get_mut(self.cursor).and_then(Option::take);
            self.remaining -= 1;
            return Poll::Ready(w.map(|task| Err(NextError::TimedOut(task))));
        }
        self.queue.suspend(cx, None)
    }
}

impl<W> AsCompleted<W> {
    /// The next task to complete (asyncio's `__anext__`), or `None` once
    /// every input was yielded.
    ///
    /// # Errors
    /// [`NextError::TimedOut`] for each input still pending after the
    /// timeout; [`NextError::Cancelled`] if the awaiting task is cancelled.
    ///
    /// # Cancellation
    /// A checkpoint; a cancelled `next` loses nothing (the iterator keeps
    /// its place).
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // an async `next`, as streams have
    pub fn next(&mut self) -> impl std::future::Future<Output = Option<Result<W, NextError<W>>>> {
        crate::task::current_task::at_caller(
            async move { poll_fn(|cx| self.poll_next_task(cx)).await },
        )
    }

    /// Polls for the next task to complete: [`next`](Self::next) without the
    /// future (what its `Stream` implementation uses).
    pub fn poll_next_task(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<W, NextError<W>>>> {
        let inner = &self.inner;
        self.slot
            .poll_checkpoint(cx, |cx| inner.borrow_mut().poll_next(cx))
            .map(|r| r.unwrap_or_else(|c| Some(Err(NextError::Cancelled(c)))))
    }

    /// How many inputs have not been yielded yet.
    pub fn remaining(&self) -> usize {
        self.inner.borrow().remaining
    }
}

impl<T: 'static> AsCompleted<Task<T>> {
    /// asyncio's plain iteration: exactly one future per input, each
    /// resolving to the next *result* in completion order (whichever future
    /// is awaited first gets the first result), or a timeout error.
    pub fn results(self) -> Results<T> {
        let n = self.remaining();
        Results {
            inner: self.inner,
            left: n,
        }
    }
}

/// The futures of [`AsCompleted::results`].
#[must_use = "the futures do nothing unless taken and awaited"]
pub struct Results<T> {
    /// State shared by every yielded future.
    inner: Rc<RefCell<Inner<Task<T>>>>,
    /// Futures still to yield.
    left: usize,
}

impl<T: 'static> Iterator for Results<T> {
    type Item = std::pin::Pin<Box<dyn Future<Output = NextResult<T>>>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let inner = self.inner.clone();
        Some(Box::pin(async move {
            let mut slot = CancelSlot::new(WaitKind::Task);
            let next =
                poll_fn(|cx| slot.poll_checkpoint(cx, |cx| inner.borrow_mut().poll_next(cx)))
                    .await
                    .map_err(AsCompletedError::Cancelled)?;
            match next {
                Some(Ok(mut task)) => Ok(task
                    .take_result()
                    .expect("as_completed yields only tasks that are done")),
                Some(Err(_)) | None => Err(AsCompletedError::TimedOut),
            }
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<W> fmt::Debug for AsCompleted<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.inner.borrow().remaining)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Results<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Results").field("left", &self.left).finish()
    }
}
