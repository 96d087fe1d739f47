//! [`gather()`]: await many tasks, results in argument order; asyncio's
//! `asyncio.gather`, with `return_exceptions=True` as [`gather_outcomes`]
//! and heterogeneous tuples as [`gather!`](crate::gather!).

use std::future::poll_fn;
use std::task::Poll;

use super::done::DoneQueue;
use super::error::GatherError;
use crate::cancel::{CancelSlot, Cancelled};
use crate::task::WaitKind;
use crate::task::state::Flags;
use crate::task::{Task, TaskError, TaskRef};

/// How the waiting ended.
enum End {
    /// Every child is done.
    AllDone,
    /// Child `i` failed (panicked or was cancelled) first.
    Failed(usize),
    /// The awaiting task was cancelled, the children were cancelled and
    /// (with `fail_fast == false`) have all finished.
    Cancelled,
}

/// Waits on `tasks` with asyncio's gather rules.
async fn drive(tasks: &[TaskRef], fail_fast: bool) -> End {
    drive_with(tasks, fail_fast, |_| false).await
}

/// [`drive`], where `failed(i)` also counts a done child `i` as failed (an
/// `Err` output, for [`try_gather`]).
async fn drive_with(tasks: &[TaskRef], fail_fast: bool, failed: impl Fn(usize) -> bool) -> End {
    let queue = DoneQueue::new();
    let watches: Vec<_> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| queue.watch(t, i))
        .collect();
    let mut slot = CancelSlot::new(WaitKind::Task);
    let mut completed = 0;
    let mut cancelling = false;
    let end = poll_fn(|cx| {
        if !cancelling && completed + queue.len() == tasks.len() {
            // Every child is done: the values are ready, and a value that is
            // ready is never traded for a pending cancellation (it is
            // delivered at the next checkpoint instead).
            while let Some(i) = queue.pop() {
                completed += 1;
                let t = &tasks[i];
                if fail_fast && (t.is_cancelled() || t.is_panicked() || t.is_failed() || failed(i))
                {
                    return Poll::Ready(End::Failed(i));
                }
            }
            return Poll::Ready(End::AllDone);
        }
        if !cancelling && slot.deliver().is_err() {
            // asyncio: cancelling the awaiting task cancels every child.
            cancelling = true;
            for t in tasks {
                t.cancel();
            }
        }
        while let Some(i) = queue.pop() {
            completed += 1;
            let t = &tasks[i];
            if fail_fast && (t.is_cancelled() || t.is_panicked() || t.is_failed() || failed(i)) {
                return Poll::Ready(End::Failed(i));
            }
        }
        if completed == tasks.len() {
            return Poll::Ready(if cancelling {
                End::Cancelled
            } else {
                End::AllDone
            });
        }
        queue.suspend(cx, Some(&mut slot))
    })
    .await;
    drop(watches);
    if let End::Failed(_) = end {
        // asyncio marks the later failures of the siblings as retrieved.
        for t in tasks {
            t.header().update_flags(|f| f.with(Flags::RETRIEVED));
        }
    }
    end
}

/// Awaits every task and returns their outputs in argument order:
/// asyncio's `gather(*tasks)`.
///
/// * The first child to fail (panic, or end cancelled) makes `gather` return
///   that child's error at once; the other children are **not** cancelled
///   and keep running (detached).
/// * Cancelling the task that awaits `gather` cancels every child.
/// * When every child is already done, the result is ready without suspending
///   (and without delivering a pending cancellation of the awaiting task).
/// * An empty input gives `Ok(vec![])` at once.
///
/// To gather plain futures, spawn them: `gather(futures.into_iter().map(spawn))`
/// (asyncio wraps coroutines in tasks the same way).
///
/// # Errors
/// The failing child's [`TaskError`]; a cancelled error if the awaiting task
/// was cancelled.
///
/// # Cancellation
/// A checkpoint: the awaiting task's cancellation is forwarded to every child.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// use taskloop::{gather, spawn};
/// let squares = gather((1..=3).map(|i| spawn(async move { i * i }))).await.unwrap();
/// assert_eq!(squares, [1, 4, 9]);
/// # });
/// ```
#[track_caller]
pub fn gather<T, I>(tasks: I) -> impl std::future::Future<Output = Result<Vec<T>, TaskError>>
where
    I: IntoIterator<Item = Task<T>>,
{
    crate::task::current_task::at_caller(async move {
        let mut tasks: Vec<Task<T>> = tasks.into_iter().collect();
        let refs: Vec<TaskRef> = tasks.iter().map(|t| t.as_task_ref().clone()).collect();
        match drive(&refs, true).await {
            End::AllDone => tasks
                .iter_mut()
                .map(|t| t.take_result().expect("gathered tasks are done"))
                .collect(),
            End::Failed(i) => Err(tasks[i]
                .take_result()
                .expect("a failed task is done")
                .err()
                .unwrap_or_else(TaskError::cancelled)),
            End::Cancelled => Err(TaskError::cancelled()),
        }
    })
}

/// asyncio's `gather(*tasks)` for children that return `Result`s: awaits
/// every task and returns their values in argument order, or fails at the
/// **first failure** (a child returning `Err`, panicking or ending
/// cancelled) with that child's typed error, at once; the other children
/// are not cancelled and keep running (as in asyncio, and as users of
/// `futures::future::try_join_all` expect).
///
/// [`gather()`] is the same for children whose output is not a `Result`;
/// [`gather_outcomes`] is `return_exceptions=True`.
///
/// # Errors
/// [`GatherError::Failed`] with the first failing child's `Err` value;
/// [`GatherError::Task`] if it panicked or was cancelled, or if the awaiting
/// task was cancelled.
///
/// # Cancellation
/// As for [`gather()`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::{GatherError, spawn, time::sleep, try_gather};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let slow = spawn(async { sleep(Duration::from_secs(10)).await.map_err(|_| "cancelled") });
///     let bad = spawn(async { Err::<(), _>("no such mirror") });
///     let t0 = taskloop::time::now();
///     let err = try_gather([slow, bad]).await.unwrap_err();
///     assert!(matches!(err, GatherError::Failed("no such mirror")));
///     assert_eq!(taskloop::time::now(), t0); // at once, not after 10 s
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
#[track_caller]
pub fn try_gather<T, E, I>(
    tasks: I,
) -> impl std::future::Future<Output = Result<Vec<T>, GatherError<E>>>
where
    I: IntoIterator<Item = Task<Result<T, E>>>,
{
    crate::task::current_task::at_caller(async move {
        let mut tasks: Vec<Task<Result<T, E>>> = tasks.into_iter().collect();
        let refs: Vec<TaskRef> = tasks.iter().map(|t| t.as_task_ref().clone()).collect();
        let end = {
            let tasks = &tasks;
            drive_with(&refs, true, |i| {
                matches!(tasks[i].peek_output(), Some(Err(_)))
            })
            .await
        };
        match end {
            End::AllDone => tasks
                .iter_mut()
                .map(
                    |t| match t.take_result().expect("gathered tasks are done") {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err(GatherError::Failed(e)),
                        Err(e) => Err(GatherError::Task(e)),
                    },
                )
                .collect(),
            End::Failed(i) => Err(
                match tasks[i].take_result().expect("a failed task is done") {
                    Ok(Err(e)) => GatherError::Failed(e),
                    Ok(Ok(_)) => GatherError::Task(TaskError::cancelled()),
                    Err(e) => GatherError::Task(e),
                },
            ),
            End::Cancelled => Err(GatherError::Task(TaskError::cancelled())),
        }
    })
}

/// Awaits every task and returns each outcome, in argument order: asyncio's
/// `gather(*tasks, return_exceptions=True)`. A failure does not stop the
/// others from being awaited.
///
/// # Errors
/// `Err(Cancelled)` if the awaiting task was cancelled: every child was
/// cancelled and has finished (asyncio raises `CancelledError` whatever
/// `return_exceptions` says).
///
/// # Cancellation
/// As for [`gather()`].
#[track_caller]
pub fn gather_outcomes<T, I>(
    tasks: I,
) -> impl std::future::Future<Output = Result<Vec<Result<T, TaskError>>, Cancelled>>
where
    I: IntoIterator<Item = Task<T>>,
{
    crate::task::current_task::at_caller(async move {
        let mut tasks: Vec<Task<T>> = tasks.into_iter().collect();
        let refs: Vec<TaskRef> = tasks.iter().map(|t| t.as_task_ref().clone()).collect();
        match drive(&refs, false).await {
            End::Cancelled => Err(Cancelled),
            _ => Ok(tasks
                .iter_mut()
                .map(|t| t.take_result().expect("gathered tasks are done"))
                .collect()),
        }
    })
}

/// A tuple of tasks [`gather!`](crate::gather!) can await together.
pub trait TaskTuple {
    /// The tuple of outputs.
    type Output;
    /// The tasks, untyped, in order.
    #[doc(hidden)]
    fn task_refs(&self) -> Vec<TaskRef>;
    /// Every output (all tasks are done).
    #[doc(hidden)]
    fn take_outputs(self) -> Result<Self::Output, TaskError>;
    /// The error of task `i` (done, failed).
    #[doc(hidden)]
    fn take_error(self, i: usize) -> TaskError;
}

/// The function behind [`gather!`](crate::gather!).
#[doc(hidden)]
#[track_caller]
pub fn gather_tuple<G: TaskTuple>(
    tasks: G,
) -> impl std::future::Future<Output = Result<G::Output, TaskError>> {
    crate::task::current_task::at_caller(async move {
        let refs = tasks.task_refs();
        match drive(&refs, true).await {
            End::AllDone => tasks.take_outputs(),
            End::Failed(i) => Err(tasks.take_error(i)),
            End::Cancelled => Err(TaskError::cancelled()),
        }
    })
}

macro_rules! task_tuple {
    ($(($T:ident, $t:ident, $i:tt)),+) => {
        impl<$($T),+> TaskTuple for ($(Task<$T>,)+) {
            type Output = ($($T,)+);

            fn task_refs(&self) -> Vec<TaskRef> {
                vec![$(self.$i.as_task_ref().clone()),+]
            }

            fn take_outputs(self) -> Result<Self::Output, TaskError> {
                let ($(mut $t,)+) = self;
                Ok(($($t.take_result().expect("gathered tasks are done")?,)+))
            }

            fn take_error(self, i: usize) -> TaskError {
                let ($(mut $t,)+) = self;
                $(if i == $i {
                    return $t
                        .take_result()
                        .expect("a failed task is done")
                        .err()
                        .unwrap_or_else(TaskError::cancelled);
                })+
                unreachable!("no task {i} in this tuple")
            }
        }
    };
}

task_tuple!((A, a, 0));
task_tuple!((A, a, 0), (B, b, 1));
task_tuple!((A, a, 0), (B, b, 1), (C, c, 2));
task_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3));
task_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3), (E, e, 4));
task_tuple!(
    (A, a, 0),
    (B, b, 1),
    (C, c, 2),
    (D, d, 3),
    (E, e, 4),
    (F, f, 5)
);

/// Gathers tasks of different output types into a tuple of outputs, with
/// [`gather()`]'s rules: `gather!(a, b, c).await` gives
/// `Result<(A, B, C), TaskError>`. Up to six tasks.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// use taskloop::spawn;
/// let (n, s) = taskloop::gather!(spawn(async { 1 }), spawn(async { "one" })).await.unwrap();
/// assert_eq!((n, s), (1, "one"));
/// # });
/// ```
#[macro_export]
macro_rules! gather {
    ($($task:expr),+ $(,)?) => {
        $crate::gather_tuple(($($task,)+))
    };
}
