//! [`wait`]: wait for a set of tasks until the first completes, the first
//! fails, or all complete; asyncio's `asyncio.wait`.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use super::done::watch_all;
use super::error::WaitError;
use crate::cancel::CancelSlot;
use crate::task::WaitKind;
use crate::task::{Task, TaskRef};
use crate::timer::TimerEntry;

/// When [`wait`] returns: asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task is done, whatever its outcome.
    FirstCompleted,
    /// As soon as any task has *failed* (see [`Waitable::has_failed`]), or
    /// when all are done. A cancelled task is not a failure.
    FirstException,
    /// When every task is done.
    AllCompleted,
}

/// A task handle, owned or borrowed: what [`as_completed`](crate::as_completed)
/// accepts.
pub trait TaskHandle {
    /// The task.
    fn task_ref(&self) -> &TaskRef;
}

impl<T> TaskHandle for Task<T> {
    fn task_ref(&self) -> &TaskRef {
        self.as_task_ref()
    }
}

impl TaskHandle for TaskRef {
    fn task_ref(&self) -> &TaskRef {
        self
    }
}

impl<W: TaskHandle + ?Sized> TaskHandle for &W {
    fn task_ref(&self) -> &TaskRef {
        (**self).task_ref()
    }
}

impl<W: TaskHandle + ?Sized> TaskHandle for &mut W {
    fn task_ref(&self) -> &TaskRef {
        (**self).task_ref()
    }
}

/// A task handle [`wait`] can classify for [`ReturnWhen::FirstException`].
pub trait Waitable: TaskHandle {
    /// Whether the task is done and failed, for [`ReturnWhen::FirstException`]:
    /// it panicked, or its output is a failure ([`Fallible`]). A cancelled
    /// task has not failed (asyncio's rule).
    fn has_failed(&self) -> bool;
}

/// How [`ReturnWhen::FirstException`] classifies a task's output: asyncio's
/// "raised an exception" in Rust terms.
///
/// A `Result::Err` is a failure; the unit type and the other implementors
/// never fail. Implement it for your own output types, or wait on the
/// [`TaskRef`] (where only a panic counts).
pub trait Fallible {
    /// Whether this output means the task failed.
    fn is_failure(&self) -> bool;
}

impl<T, E> Fallible for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

impl<T> Fallible for Option<T> {
    /// `None` is an answer, not a failure.
    fn is_failure(&self) -> bool {
        false
    }
}

macro_rules! never_fails {
    ($($t:ty),*) => {
        $(impl Fallible for $t {
            fn is_failure(&self) -> bool {
                false
            }
        })*
    };
}

never_fails!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str
);

impl<T> Fallible for Vec<T> {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T: Fallible> Waitable for Task<T> {
    fn has_failed(&self) -> bool {
        self.is_panicked()
            || self.is_failed()
            || self.peek_output().is_some_and(Fallible::is_failure)
    }
}

impl Waitable for TaskRef {
    fn has_failed(&self) -> bool {
        self.is_panicked() || self.is_failed()
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {
    fn has_failed(&self) -> bool {
        (**self).has_failed()
    }
}

impl<W: Waitable + ?Sized> Waitable for &mut W {
    fn has_failed(&self) -> bool {
        (**self).has_failed()
    }
}

/// The tasks [`wait`] was given, split by whether they are done.
#[derive(Debug)]
pub struct Waited<W> {
    /// Tasks done when `wait` returned, in input order.
    pub done: Vec<W>,
    /// Tasks still pending, in input order.
    pub pending: Vec<W>,
}

/// Waits for tasks until `return_when` holds or `timeout` passes, and gives
/// back the handles themselves, split into done and pending: asyncio's
/// `asyncio.wait`.
///
/// * Any iterator of [`Waitable`]s: owned `Task<T>`s, `&Task<T>`s,
///   [`TaskRef`]s (tasks of different output types can be waited on together
///   as `TaskRef`s or `&dyn Waitable`s). A task listed twice counts once
///   (the later duplicates are dropped from the result). `Task<T>` is
///   `Waitable` when `T` is [`Fallible`] (what `FirstException` needs to
///   classify an output); [`wait_all`] and [`wait_first`] take any handles.
/// * It never cancels anything: not on timeout (the pending tasks are
///   returned), not when the waiting task is cancelled.
/// * Like asyncio's, it always suspends at least once, even if every task is
///   already done, and the split is taken when it resumes.
/// * `None` means no timeout; `Duration::MAX` never fires.
///
/// # Errors
/// [`WaitError::Empty`] for an empty set, at once; [`WaitError::Cancelled`]
/// (with every handle) if the waiting task is cancelled.
///
/// # Cancellation
/// A checkpoint for the waiting task; the waited-on tasks are not affected.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::{ReturnWhen, spawn, time::sleep, wait};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let fast = spawn(async { sleep(Duration::from_secs(1)).await.map(|_| "fast") });
///     let slow = spawn(async { sleep(Duration::from_secs(9)).await.map(|_| "slow") });
///     let w = wait([fast, slow], None, ReturnWhen::FirstCompleted).await.unwrap();
///     assert_eq!((w.done.len(), w.pending.len()), (1, 1));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
#[track_caller]
pub fn wait<W, I>(
    tasks: I,
    timeout: impl Into<Option<Duration>>,
    return_when: ReturnWhen,
) -> impl std::future::Future<Output = Result<Waited<W>, WaitError<W>>>
where
    W: Waitable,
    I: IntoIterator<Item = W>,
{
    crate::task::current_task::at_caller(async move {
        wait_with(tasks, timeout.into(), return_when, W::has_failed).await
    })
}

/// [`wait`] with [`ReturnWhen::AllCompleted`], for any task handles: the
/// outputs need not be [`Fallible`] (nothing is classified).
///
/// # Errors
/// As for [`wait`].
///
/// # Cancellation
/// As for [`wait`].
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// struct Report { lines: usize } // not `Fallible`
/// let tasks = [taskloop::spawn(async { Report { lines: 3 } })];
/// let waited = taskloop::wait_all(tasks, None).await.unwrap();
/// assert_eq!(waited.done.len(), 1);
/// # });
/// ```
#[track_caller]
pub fn wait_all<W, I>(
    tasks: I,
    timeout: impl Into<Option<Duration>>,
) -> impl std::future::Future<Output = Result<Waited<W>, WaitError<W>>>
where
    W: TaskHandle,
    I: IntoIterator<Item = W>,
{
    crate::task::current_task::at_caller(async move {
        wait_with(tasks, timeout.into(), ReturnWhen::AllCompleted, |_| false).await
    })
}

/// [`wait`] with [`ReturnWhen::FirstCompleted`], for any task handles: the
/// outputs need not be [`Fallible`].
///
/// # Errors
/// As for [`wait`].
///
/// # Cancellation
/// As for [`wait`].
#[track_caller]
pub fn wait_first<W, I>(
    tasks: I,
    timeout: impl Into<Option<Duration>>,
) -> impl std::future::Future<Output = Result<Waited<W>, WaitError<W>>>
where
    W: TaskHandle,
    I: IntoIterator<Item = W>,
{
    crate::task::current_task::at_caller(async move {
        wait_with(tasks, timeout.into(), ReturnWhen::FirstCompleted, |_| false).await
    })
}

/// The wait itself; `failed` classifies a done task for `FirstException`.
async fn wait_with<W, I>(
    tasks: I,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
    failed: impl Fn(&W) -> bool,
) -> Result<Waited<W>, WaitError<W>>
where
    W: TaskHandle,
    I: IntoIterator<Item = W>,
{
    let (items, queue, watches) = watch_all(tasks);
    if items.is_empty() {
        return Err(WaitError::Empty);
    }
    let mut timer = timeout.map(TimerEntry::after);
    let mut slot = CancelSlot::new(WaitKind::Task);
    let mut completed = 0;
    let mut suspended = false;
    let outcome = poll_fn(|cx| {
        if let Err(c) = slot.deliver() {
            return Poll::Ready(Err(c));
        }
        if suspended {
            while let Some(i) = queue.pop() {
                completed += 1;
                let stop = match return_when {
                    ReturnWhen::FirstCompleted => true,
                    ReturnWhen::FirstException => failed(&items[i]),
                    ReturnWhen::AllCompleted => false,
                };
                if stop {
                    return Poll::Ready(Ok(()));
                }
            }
            if completed == items.len() {
                return Poll::Ready(Ok(()));
            }
            if timer
                .as_mut()
                .is_some_and(|t| t.poll_expired(cx).is_ready())
            {
                return Poll::Ready(Ok(()));
            }
        } else {
            // asyncio's wait always suspends once: its callbacks run later.
            suspended = true;
            cx.waker().wake_by_ref();
            if let Some(t) = timer.as_mut() {
                let _ = t.poll_expired(cx);
            }
        }
        queue.suspend(cx, Some(&mut slot))
    })
    .await;
    drop(watches);
    let (done, pending) = items.into_iter().partition(|w| w.task_ref().is_done());
    let waited = Waited { done, pending };
    match outcome {
        Ok(()) => Ok(waited),
        Err(_) => Err(WaitError::Cancelled(waited)),
    }
}
