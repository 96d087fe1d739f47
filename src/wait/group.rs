//! Task groups: asyncio 3.13's `TaskGroup`, spelled as a scope taking a
//! closure ([`task_group`]) so that waiting for the children cannot be
//! forgotten.
//!
//! The group owns the bookkeeping of its children (a [`DoneQueue`] of them)
//! and of the parent's cancellation counter. It never drops a child: an
//! abort is a cancellation request to each, and the scope waits for every
//! child's clean-up before it returns.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::resume_unwind;
use std::rc::Rc;
use std::task::Poll;

use super::done::{DoneQueue, Watch};
use super::group_error::{BoxError, FailedTask, Failure, GroupClosed, GroupError};
use crate::cancel::{self, CancelScope, CancelSlot};
use crate::task::WaitKind;
use crate::task::{Task, TaskError, TaskRef};

/// Runs `body` with a [`TaskGroup`] and waits for every task spawned in it:
/// asyncio's `async with asyncio.TaskGroup() as tg:`.
///
/// Rules (asyncio 3.13):
/// * Children may be spawned from the body and from the children, also while
///   the scope waits for them after the body returned.
/// * The first failure — a child returning `Err`, a child panicking, or the
///   body returning `Err` — aborts the group: every other child is
///   cancelled, the body too (a child failure cancels the parent task, so
///   the body sees `Cancelled` at its next checkpoint), and no new spawn is
///   accepted. A child that ends cancelled is not a failure, and neither is
///   an `Err` that *is* a cancellation: one with [`Cancelled`](crate::Cancelled) in its source
///   chain ([`is_cancelled`](crate::is_cancelled): `Cancelled` itself, a
///   cancelled `io::Error`, `TaskError`, `TimeoutError` or `GroupError`, or
///   a user error whose `source()` is the `Cancelled`). Any other `Err` is a
///   failure, also when it is returned during the clean-up after a
///   cancellation (asyncio's test_taskgroup_08: errors take priority).
/// * The scope waits for *every* child's clean-up, then returns the body's
///   value or a [`GroupError`] carrying the failures with their error
///   values, children's in the order observed and the body's last; nested
///   groups nest ([`GroupError::split`] and [`subgroup`](GroupError::subgroup)
///   filter them as asyncio 3.11's `except*` does).
/// * A cancellation of the parent from outside is never lost: with no
///   failure it gives [`GroupError::Cancelled`]; failures take priority, and
///   the cancellation is then requested again so the parent's next
///   checkpoint sees it. The parent's [`cancelling`](TaskRef::cancelling) is
///   back at its entry value when only the group cancelled it.
///
/// # Cancellation
/// The scope waits at a checkpoint for the children; a cancellation there
/// aborts the group and is reported after the children finished.
///
/// # Panics
/// If awaited outside a taskloop task.
///
/// # Examples
/// A body can use `?` on spawns, sleeps and I/O alike with
/// [`BoxError`] (or `io::Error`) as its error type:
/// ```
/// use std::time::Duration;
/// use taskloop::{BoxError, Cancelled, task_group, time::sleep};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let (a, b) = task_group(|tg| async move {
///         let a = tg.spawn(async { sleep(Duration::from_secs(1)).await?; Ok::<_, Cancelled>(1) })?;
///         let b = tg.spawn(async { sleep(Duration::from_secs(2)).await?; Ok::<_, Cancelled>(2) })?;
///         sleep(Duration::from_millis(10)).await?;
///         Ok::<_, BoxError>((a, b))
///     })
///     .await?;
///     // Every child is done when the group returns.
///     assert_eq!(a.await? + b.await?, 3);
///     Ok::<_, BoxError>(())
/// })?;
/// # Ok::<_, BoxError>(())
/// ```
#[track_caller]
pub fn task_group<B, Fut, T, E>(body: B) -> impl std::future::Future<Output = Result<T, GroupError>>
where
    B: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    crate::task::current_task::at_caller(async move {
        let parent_ref = crate::task::current_task()
            .unwrap_or_else(|| panic!("a taskloop task group was awaited outside a taskloop task"));
        let h = parent_ref.header();
        let scope = CancelScope::enter(h);

        let inner = Rc::new(Inner {
            parent: parent_ref.clone(),
            queue: DoneQueue::new(),
            children: RefCell::new(Vec::new()),
            watches: RefCell::new(Vec::new()),
            aborting: Cell::new(false),
            closed: Cell::new(false),
            failures: RefCell::new(Vec::new()),
            parent_cancel_requested: Cell::new(false),
            cancelled_by_user: Cell::new(false),
        });
        let view: Rc<dyn crate::runtime::GroupMembers> = inner.clone();
        crate::runtime::register_group(Rc::downgrade(&view));
        let group = TaskGroup {
            inner: inner.clone(),
        };
        // If this scope is dropped before it finishes (inside a `select`, or by
        // a `cleanup_grace` abort), the children are cancelled (nobody can wait
        // for them any more) and the parent's state is restored.
        let mut guard = AbandonGuard {
            inner: &inner,
            parent: h,
            scope,
            armed: true,
        };
        let mut body = std::pin::pin!(Some(body(group)));
        let mut body_out: Option<Result<T, E>> = None;
        // The body was dropped: polled with a cancellation outstanding, it waited
        // where it could not see it (the rule in docs/asyncio-mapping.md).
        let mut body_dropped = false;
        let mut done = 0;
        let mut foreign_cancel_seen = false;
        let mut slot = CancelSlot::new(WaitKind::Task);
        poll_fn(|cx| {
            if let Some(running) = body.as_mut().as_pin_mut() {
                // The body is the user's code: its checkpoints record their own
                // sites, not the group's.
                let inline = cancel::state::InlinePoll::begin(h);
                let polled = crate::task::current_task::without_await_site(|| running.poll(cx));
                let stuck = inline.end(h, polled.is_pending());
                match polled {
                    Poll::Ready(out) => {
                        // asyncio's `__aexit__`: a body that raised anything (a
                        // cancellation included) aborts the children.
                        if out.is_err() && !inner.aborting.get() {
                            inner.abort();
                        }
                        body.set(None);
                        body_out = Some(out);
                    }
                    Poll::Pending if stuck => {
                        log::debug!(
                            "taskloop: a task group dropped its body: it was cancelled while \
                         waiting on a future that cannot see cancellations"
                        );
                        body.set(None);
                        body_dropped = true;
                        if !inner.parent_cancel_requested.get() {
                            // Someone else's request: the group reports it.
                            cancel::state::take_for_delivery(h);
                            foreign_cancel_seen = true;
                        }
                        if !inner.aborting.get() {
                            inner.abort();
                        }
                    }
                    Poll::Pending => {}
                }
            }
            let body_finished = body_out.is_some() || body_dropped;
            while inner.queue.pop().is_some() {
                done += 1;
            }
            if body_finished {
                if slot.deliver().is_err() && !inner.aborting.get() {
                    // An outside cancellation while waiting: abort, remember it.
                    foreign_cancel_seen = true;
                    inner.abort();
                }
                if done == inner.children.borrow().len() {
                    return Poll::Ready(());
                }
            }
            inner.queue.suspend(cx, body_finished.then_some(&mut slot))
        })
        .await;
        guard.armed = false;
        inner.closed.set(true);
        inner.watches.borrow_mut().clear();

        // The parent's cancellation state, as asyncio's `__aexit__` leaves it.
        let delivered = CancelScope::delivered_inside(h);
        let only_ours = scope.settle(h, inner.parent_cancel_requested.get());
        let foreign = !only_ours || foreign_cancel_seen;
        let mut failures = inner.failures.take();
        let body_out = body_out.map(|out| {
            out.map_err(|e| {
                // An error that is the cancellation (`Cancelled` in its chain) is
                // the body's reaction to it; any other is a failure.
                let error: BoxError = e.into();
                if !crate::is_cancelled(&*error) {
                    failures.push(Failure::error(None, error));
                }
            })
        });
        let result = if !failures.is_empty() {
            if foreign && delivered {
                // 3.13 (gh-116720): errors win, but the outside cancellation is
                // requested again so the parent's next checkpoint sees it.
                cancel::state::redeliver(h);
            }
            Err(GroupError::Failed(failures))
        } else if foreign || inner.cancelled_by_user.get() {
            Err(GroupError::Cancelled)
        } else {
            match body_out {
                Some(Ok(v)) => Ok(v),
                Some(Err(_)) | None => Err(GroupError::Cancelled),
            }
        };
        scope.exit(h);
        result
    })
}

/// Undoes a group's effects if its scope is dropped before it finished.
struct AbandonGuard<'a> {
    /// The group.
    inner: &'a Inner,
    /// The parent task's header.
    parent: &'a crate::task::Header,
    /// The parent's cancellation state on entry.
    scope: CancelScope,
    /// Cleared when the scope finishes normally.
    armed: bool,
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.inner.closed.set(true);
        self.inner.abort();
        self.scope
            .settle(self.parent, self.inner.parent_cancel_requested.get());
        self.scope.exit(self.parent);
    }
}

/// A handle to spawn children into a running [`task_group`]; clonable, so
/// children can spawn siblings.
#[derive(Clone)]
pub struct TaskGroup {
    /// The group's state.
    inner: Rc<Inner>,
}

/// A group's state.
struct Inner {
    /// The task running the scope.
    parent: TaskRef,
    /// Completions of the children.
    queue: Rc<DoneQueue>,
    /// Every child, by the index its watch reports.
    children: RefCell<Vec<TaskRef>>,
    /// Registrations with the children.
    watches: RefCell<Vec<Watch>>,
    /// A failure (or `cancel()`) aborted the group: no more spawns.
    aborting: Cell<bool>,
    /// The scope returned: no more spawns.
    closed: Cell<bool>,
    /// Failures in the order observed.
    failures: RefCell<Vec<Failure>>,
    /// The group cancelled the parent (to be taken back on exit).
    parent_cancel_requested: Cell<bool>,
    /// `TaskGroup::cancel` was called.
    cancelled_by_user: Cell<bool>,
}

impl crate::runtime::GroupMembers for Inner {
    fn parent(&self) -> TaskRef {
        self.parent.clone()
    }

    fn children(&self) -> Vec<TaskRef> {
        self.children.borrow().clone()
    }
}

impl Inner {
    /// Cancels every child still running.
    fn abort(&self) {
        self.aborting.set(true);
        let children = self.children.borrow().clone();
        for c in children {
            c.cancel();
        }
    }

    /// Records a failure; the first one aborts the group and cancels the
    /// parent (so the body stops at its next checkpoint).
    fn fail(&self, failure: Failure) {
        self.failures.borrow_mut().push(failure);
        self.stop_parent();
    }

    /// Aborts and cancels the parent, once.
    fn stop_parent(&self) {
        if !self.aborting.get() {
            self.abort();
        }
        if !self.parent_cancel_requested.get() && !self.parent.is_done() {
            self.parent_cancel_requested.set(true);
            self.parent.cancel();
        }
    }
}

impl TaskGroup {
    /// Spawns a child into the group (asyncio's `tg.create_task`).
    ///
    /// The child returns a `Result`. `Ok(v)` is its output (`v` is what
    /// awaiting the returned handle gives). An `Err` is a failure of the
    /// group, unless it is the child's reaction to a cancellation (an error
    /// with [`Cancelled`](crate::Cancelled) in its source chain, as
    /// [`is_cancelled`](crate::is_cancelled) finds it): the error *value*
    /// moves into the group's [`GroupError`] (asyncio's `ExceptionGroup`
    /// carries the exception), and the child's handle reports
    /// `Err(TaskError)` with [`is_failed`](TaskError::is_failed) and the
    /// error's text. A user error type that wraps `Cancelled` should return
    /// it from `source()` (`thiserror`'s `#[from]` does) to count as the
    /// cancellation.
    ///
    /// # Errors
    /// [`GroupClosed`] once the group is aborting or has finished; the
    /// future is dropped unpolled.
    #[track_caller]
    pub fn spawn<F, T, E>(&self, future: F) -> Result<Task<T>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        if self.inner.closed.get() {
            return Err(GroupClosed::Finished);
        }
        if self.inner.aborting.get() {
            return Err(GroupClosed::Aborting);
        }
        let inner = self.inner.clone();
        let task = crate::spawn(async move {
            let mut future = std::pin::pin!(future);
            let me = || crate::current_task().expect("a task-group child runs in its task");
            // Catch a panic only to record it (with its message), then let
            // it go on to make the task panicked as usual.
            let out = poll_fn(|cx| match crate::task::poll_caught(future.as_mut(), cx) {
                Ok(poll) => poll,
                Err(payload) => {
                    let message = crate::task::panic_message(&*payload)
                        .unwrap_or_else(|| "<non-string panic payload>".to_owned());
                    inner.fail(Failure::panic(Some(FailedTask::from(&me())), message));
                    resume_unwind(payload)
                }
            })
            .await;
            let error: BoxError = match out {
                Ok(v) => return v,
                Err(e) => e.into(),
            };
            let me = me();
            if crate::is_cancelled(&*error) {
                // The reaction to a cancellation: the child ends cancelled.
                drop(error);
                me.end_with(TaskError::cancelled());
            } else {
                let failure = Failure::error(Some(FailedTask::from(&me)), error);
                let message = failure.message.clone();
                inner.fail(failure);
                me.end_with(TaskError::failed(message));
            }
            // `end_with` drops this future at the next turn.
            std::future::pending::<T>().await
        });
        let index = self.inner.children.borrow().len();
        self.inner
            .children
            .borrow_mut()
            .push(task.as_task_ref().clone());
        let watch = self.inner.queue.watch(task.as_task_ref(), index);
        self.inner.watches.borrow_mut().push(watch);
        Ok(task)
    }

    /// Like [`spawn`](Self::spawn), naming the child (asyncio's
    /// `tg.create_task(coro, name=...)`): the name shows in the group's
    /// failures.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    #[track_caller]
    pub fn spawn_named<F, T, E>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<Task<T>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        let task = self.spawn(future)?;
        task.set_name(name);
        Ok(task)
    }

    /// Cancels the group: every child and the body are cancelled (the group
    /// then returns [`GroupError::Cancelled`] unless a failure occurred) and
    /// no new spawn is accepted.
    pub fn cancel(&self) {
        self.inner.cancelled_by_user.set(true);
        self.inner.stop_parent();
    }

    /// How many children were spawned.
    pub fn len(&self) -> usize {
        self.inner.children.borrow().len()
    }

    /// Whether no child was spawned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("children", &self.len())
            .field("aborting", &self.inner.aborting.get())
            .finish()
    }
}
