//! Task groups: asyncio 3.13's `TaskGroup`, spelled as a scope taking a
//! closure ([`task_group`]) so that waiting for the children cannot be
//! forgotten.
//!
//! The group owns the bookkeeping of its children (a [`DoneQueue`] of them)
//! and of the parent's cancellation counter. It never drops a child: an
//! abort is a cancellation request to each, and the scope waits for every
//! child's clean-up before it returns.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::task::Poll;

use super::done::{DoneQueue, Watch};
use super::error::{FailedTask, Failure, FailureKind, GroupClosed, GroupError, TimeoutError};
use crate::cancel::{self, CancelScope, CancelSlot, Cancelled};
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
///   accepted. A child that ends cancelled is not a failure: an `Err`
///   returned after the child saw `Cancelled` is its reaction to the
///   cancellation (the child ends cancelled), and so is an `Err` that is a
///   cancellation ([`Cancelled`], a cancelled `io::Error`, `TaskError` or
///   `TimeoutError`).
/// * The scope waits for *every* child's clean-up, then returns the body's
///   value or a [`GroupError`] listing the failures, children's in the order
///   observed and the body's last; nested groups nest.
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
/// ```
/// use std::time::Duration;
/// use taskloop::{task_group, time::sleep};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// let sum = rt.block_on(task_group(|tg| async move {
///     let a = tg.spawn(async { sleep(Duration::from_secs(1)).await?; Ok::<_, taskloop::Cancelled>(1) })?;
///     let b = tg.spawn(async { sleep(Duration::from_secs(2)).await?; Ok::<_, taskloop::Cancelled>(2) })?;
///     Ok::<_, taskloop::GroupClosed>((a, b))
/// }));
/// let (a, b) = sum.unwrap();
/// assert_eq!(a.result().unwrap().unwrap().as_ref().unwrap() + b.result().unwrap().unwrap().as_ref().unwrap(), 3);
/// # Ok::<_, std::io::Error>(())
/// ```
pub async fn task_group<B, Fut, T, E>(body: B) -> Result<T, GroupError>
where
    B: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display + 'static,
{
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
    // The body had seen `Cancelled` when it returned.
    let mut body_saw_cancel = false;
    let mut done = 0;
    let mut foreign_cancel_seen = false;
    let mut slot = CancelSlot::new();
    poll_fn(|cx| {
        if let Some(running) = body.as_mut().as_pin_mut() {
            let (polled, stuck) = cancel::state::poll_inline(h, || running.poll(cx));
            match polled {
                Poll::Ready(out) => {
                    body_saw_cancel = cancel::state::is_delivered(h);
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
    if let Some(Err(e)) = body_out.as_ref() {
        if !is_reaction_to_cancel(e, body_saw_cancel) {
            failures.push(Failure::body(e));
        }
    }
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
    /// The child's output is a `Result`; an `Err` that is not a cancellation
    /// is a failure of the group (its `Display` text goes into the
    /// [`GroupError`]; the value itself stays on the returned handle).
    ///
    /// # Errors
    /// [`GroupClosed`] once the group is aborting or has finished; the
    /// future is dropped unpolled.
    pub fn spawn<F, T, E>(&self, future: F) -> Result<Task<Result<T, E>>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: fmt::Display + 'static,
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
            // Catch a panic only to record it (with its message), then let
            // it go on to make the task panicked as usual.
            let out =
                poll_fn(
                    |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                        Ok(poll) => poll,
                        Err(payload) => {
                            inner.fail(Failure {
                                task: crate::current_task().as_ref().map(FailedTask::from),
                                kind: FailureKind::Panic,
                                message: crate::task::panic_message(&*payload)
                                    .unwrap_or_else(|| "<non-string panic payload>".to_owned()),
                                nested: None,
                            });
                            resume_unwind(payload)
                        }
                    },
                )
                .await;
            if let Err(e) = &out {
                // An `Err` that is the child's reaction to a cancellation is
                // not a failure; any other error is (`is_reaction_to_cancel`).
                let seen =
                    crate::task::current_task::with(|t| cancel::state::is_delivered(t.header()))
                        == Some(true);
                if !is_reaction_to_cancel(e, seen) {
                    inner.fail(Failure {
                        task: crate::current_task().as_ref().map(FailedTask::from),
                        kind: FailureKind::Error,
                        message: e.to_string(),
                        nested: find_group_error(e).map(Box::new),
                    });
                }
            }
            out
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
    pub fn spawn_named<F, T, E>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<Task<Result<T, E>>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: fmt::Display + 'static,
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

/// The group error carried by `e`: `e` itself, or one inside a boxed error
/// or an `io::Error`, anywhere in its source chain (nested groups nest even
/// when the inner group's error went through `?`).
pub(super) fn find_group_error<E: 'static>(e: &E) -> Option<GroupError> {
    fn in_chain(mut e: Option<&(dyn std::error::Error + 'static)>) -> Option<GroupError> {
        while let Some(err) = e {
            if let Some(g) = err.downcast_ref::<GroupError>() {
                return Some(g.clone());
            }
            if let Some(inner) = err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                if let Some(g) = in_chain(Some(inner)) {
                    return Some(g);
                }
            }
            e = err.source();
        }
        None
    }
    let any = e as &dyn Any;
    if let Some(g) = any.downcast_ref::<GroupError>() {
        return Some(g.clone());
    }
    if let Some(b) = any.downcast_ref::<Box<dyn std::error::Error>>() {
        return in_chain(Some(&**b));
    }
    if let Some(b) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return in_chain(Some(&**b));
    }
    if let Some(io) = any.downcast_ref::<std::io::Error>() {
        return in_chain(Some(io));
    }
    None
}

/// Whether an `Err` a child or the body returned is its *reaction to a
/// cancellation* rather than a failure of its own (asyncio: a
/// `CancelledError` propagating, versus another exception raised in the
/// clean-up, which the group reports).
///
/// * An error that is, or carries in its source chain, a cancellation
///   (`Cancelled`, an `io::Error` or boxed error around it, a cancelled
///   `TaskError`, `TimeoutError::Cancelled`, `GroupError::Cancelled`) is the
///   cancellation.
/// * Any other error of those types, or a string, is a failure, even if the
///   code saw `Cancelled` before returning it (asyncio's test_taskgroup_08).
/// * An error of another type cannot be looked into (the bound is only
///   `Display`): it counts as the cancellation if the code saw `Cancelled`
///   (`seen_cancel`), as a user error enum with a `From<Cancelled>` variant
///   would, and as a failure otherwise.
fn is_reaction_to_cancel<E: 'static>(e: &E, seen_cancel: bool) -> bool {
    let any = e as &dyn Any;
    let transparent = any.is::<&str>()
        || any.is::<String>()
        || any.is::<std::io::Error>()
        || any.is::<TaskError>()
        || any.is::<TimeoutError>()
        || any.is::<GroupError>()
        || any.is::<Box<dyn std::error::Error>>()
        || any.is::<Box<dyn std::error::Error + Send + Sync>>();
    is_cancellation(e) || (seen_cancel && !transparent)
}

/// Whether `e` is, or carries, a cancellation (for the types that can be
/// looked into).
fn is_cancellation<E: 'static>(e: &E) -> bool {
    let any = e as &dyn Any;
    any.is::<Cancelled>()
        || any
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| crate::is_cancelled(e))
        || any
            .downcast_ref::<TaskError>()
            .is_some_and(TaskError::is_cancelled)
        || any
            .downcast_ref::<TimeoutError>()
            .is_some_and(TimeoutError::is_cancelled)
        || any
            .downcast_ref::<GroupError>()
            .is_some_and(GroupError::is_cancelled)
        || any
            .downcast_ref::<Box<dyn std::error::Error>>()
            .is_some_and(|e| crate::is_cancelled(&**e))
        || any
            .downcast_ref::<Box<dyn std::error::Error + Send + Sync>>()
            .is_some_and(|e| crate::is_cancelled(&**e))
}
