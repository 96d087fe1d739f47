//! The handles to a task: [`TaskRef`] (untyped, clonable) and [`Task<T>`]
//! (owns the output, awaitable).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::raw::{self, Header};
use super::state::Flags;
use super::{InvalidStateError, TaskError};
use crate::cancel::CancelSlot;
use crate::runtime::context;

/// A task's identifier, unique within its runtime and numbered from 1 in
/// spawn order (asyncio's default names are `Task-<id>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An untyped reference to a task: what [`current_task`](crate::current_task)
/// and [`all_tasks`](crate::all_tasks) return, and what a [`Task<T>`] derefs
/// to. It can inspect and cancel the task but not read its output.
///
/// Cloning is cheap (a reference count). Like every handle of this
/// single-threaded runtime it is `!Send`.
pub struct TaskRef {
    /// One counted reference to the task's allocation.
    ptr: NonNull<Header>,
}

impl TaskRef {
    /// Wraps a reference the caller owns.
    ///
    /// # Safety
    /// The caller transfers one reference to a live task, on its loop thread.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }

    /// A new reference to the task at `ptr`.
    ///
    /// # Safety
    /// The task must be alive (somebody holds a reference) and this must be
    /// its loop thread.
    pub(crate) unsafe fn clone_from_ptr(ptr: NonNull<Header>) -> TaskRef {
        // SAFETY: alive per the caller; we take a new reference.
        unsafe { ptr.as_ref() }.state.ref_inc();
        TaskRef { ptr }
    }

    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we own a reference, so the block is alive; `TaskRef` is
        // `!Send`, so this is the loop thread (or the thread the runtime was
        // dropped on, which is the same).
        unsafe { self.ptr.as_ref() }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        TaskId(self.header().id)
    }

    /// The task's name: the one given with [`set_name`](Self::set_name), or
    /// `Task-<id>`.
    pub fn name(&self) -> String {
        self.header()
            .peek_extras(|e| e.and_then(|e| e.name.as_ref().map(|n| n.to_string())))
            .unwrap_or_else(|| format!("Task-{}", self.header().id))
    }

    /// Renames the task (asyncio's `set_name`).
    pub fn set_name(&self, name: impl Into<String>) {
        let name: Box<str> = name.into().into_boxed_str();
        let old = self.header().with_extras(|e| e.name.replace(name));
        drop(old);
    }

    /// Whether the task is done: it returned, was cancelled, panicked or was
    /// aborted, or its runtime was dropped.
    pub fn is_done(&self) -> bool {
        self.header().state.is_complete()
    }

    /// Whether the task is done *and* ended cancelled (asyncio's `cancelled()`):
    /// it saw `Cancelled` at a checkpoint and returned without
    /// [`uncancel`](Self::uncancel)ing, was cancelled before it ran, was
    /// aborted, or its runtime was dropped while it was pending.
    pub fn is_cancelled(&self) -> bool {
        self.is_done() && self.header().flags.get().contains(Flags::OUT_CANCELLED)
    }

    /// Whether the task is done and panicked (asyncio's `exception()` is not `None`).
    pub fn is_panicked(&self) -> bool {
        self.is_done() && self.header().flags.get().contains(Flags::OUT_PANICKED)
    }

    /// Requests cancellation: asyncio's `Task.cancel()`.
    ///
    /// Returns `false` if the task is already done. Otherwise it adds one to
    /// [`cancelling`](Self::cancelling), records the request and wakes the
    /// task (and any checkpoint of it pending under a combinator). The
    /// request is delivered once, at the task's next checkpoint, as
    /// `Err(Cancelled)`; the task may then run clean-up code before it ends.
    /// A task cancelled before it first ran never runs.
    ///
    /// It returns at once: to wait for the clean-up, await the task.
    pub fn cancel(&self) -> bool {
        let h = self.header();
        if h.state.is_complete() {
            return false;
        }
        h.cancelling.set(h.cancelling.get().saturating_add(1));
        h.update_flags(|f| f.with(Flags::CANCEL_PENDING));
        let wakers = h.peek_extras(|e| match e {
            Some(e) if !e.cancel_wakers.is_empty() => {
                e.cancel_wakers.iter().map(|(_, w)| w.clone()).collect()
            }
            _ => Vec::new(),
        });
        self.wake();
        for w in wakers {
            w.wake();
        }
        true
    }

    /// The number of pending cancellation requests (asyncio's `cancelling()`):
    /// raised by each [`cancel`](Self::cancel), lowered only by
    /// [`uncancel`](Self::uncancel). It saturates at 65,535.
    pub fn cancelling(&self) -> u32 {
        u32::from(self.header().cancelling.get())
    }

    /// Takes back one cancellation request and returns the new count
    /// (asyncio's `uncancel()`, with 3.13's rule).
    ///
    /// When the count reaches zero, a request not yet delivered is dropped,
    /// and a delivered one is suppressed: the task, if it now returns a
    /// value, counts as finished with that value rather than cancelled.
    pub fn uncancel(&self) -> u32 {
        u32::from(self.header().uncancel())
    }

    /// Registers `f` to run once the task is done, with a reference to it
    /// (asyncio's `add_done_callback`).
    ///
    /// Callbacks never run inline: they join the loop's FIFO (shared with
    /// ready tasks, as asyncio's `call_soon`) when the task completes, or at
    /// once if it is already done, and run in registration order. If the
    /// runtime is dropped first, they are dropped without running.
    pub fn add_done_callback(&self, f: impl FnOnce(&TaskRef) + 'static) {
        if self.is_done() {
            let task = self.clone();
            context::call_soon(&self.header().shared, Box::new(move || f(&task)));
        } else {
            self.header().with_extras(|e| e.callbacks.push(Box::new(f)));
        }
    }

    /// Wakes the task (schedules a poll) unless it is done or already queued.
    pub(crate) fn wake(&self) {
        if self.header().state.transition_to_scheduled() {
            self.header().state.ref_inc();
            // SAFETY: we took the reference the queue entry will own, and
            // just set SCHEDULED.
            unsafe { raw::enqueue(self.ptr) };
        }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { raw::drop_ref(self.ptr) };
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &TaskRef) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for TaskRef {}

impl std::hash::Hash for TaskRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ptr.hash(state);
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.is_done() {
            "pending"
        } else if self.is_cancelled() {
            "cancelled"
        } else if self.is_panicked() {
            "panicked"
        } else {
            "finished"
        };
        f.debug_struct("TaskRef")
            .field("name", &self.name())
            .field("state", &state)
            .field("cancelling", &self.cancelling())
            .finish()
    }
}

/// A handle to a spawned task that owns its output: asyncio's `Task`.
///
/// Awaiting it gives `Ok(output)`, or a [`TaskError`] saying the task was
/// cancelled or panicked. Dropping it *detaches* the task, which keeps
/// running. It derefs to [`TaskRef`] for the untyped API (`cancel`, `name`,
/// `is_done`, ...).
///
/// # Cancellation
/// Awaiting a task is a checkpoint with asyncio's forwarding rule: if the
/// awaiting task is cancelled while it waits, the request is *forwarded* to
/// the awaited task, and the awaiter keeps waiting until that task is done.
/// If it ends cancelled, the awaiter gets `Err` and counts as having seen its
/// cancellation; if it suppressed the request and returned a value, the
/// awaiter gets the value. A task that is already done gives its output
/// without a checkpoint. [`shield`](https://docs.python.org/3/library/asyncio-task.html#asyncio.shield)
/// is the way to wait without forwarding.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let task = taskloop::spawn(async { 6 * 7 });
/// assert_eq!(task.name(), "Task-2"); // the main task is Task-1
/// assert_eq!(task.await.unwrap(), 42);
/// # });
/// ```
pub struct Task<T> {
    /// The counted reference; its `HAS_HANDLE` flag says a `Task` exists.
    /// The await's own state (`JOIN_FORWARDED`, `join_slot`) lives in the
    /// task too: there is one handle per task, and it stays one pointer.
    raw: TaskRef,
    /// The output type; `*const T` keeps `Task` `!Send` like the rest.
    _output: PhantomData<*const T>,
}

impl<T> Task<T> {
    /// Wraps the handle reference of a freshly allocated task.
    ///
    /// # Safety
    /// `ptr` is a new task with output type `T`, and the caller transfers the
    /// reference reserved for the handle.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task<T> {
        // SAFETY: forwarded from the caller.
        let raw = unsafe { TaskRef::from_raw(ptr) };
        raw.header().update_flags(|f| f.with(Flags::HAS_HANDLE));
        Task {
            raw,
            _output: PhantomData,
        }
    }

    /// Hard cancel, tokio style: the future is dropped at the next turn of
    /// the loop, on the loop thread, without being polled again, and the
    /// task ends cancelled. No clean-up code runs, but destructors do.
    ///
    /// Use it for tasks that never reach a checkpoint; prefer
    /// [`cancel`](TaskRef::cancel) otherwise. Returns `false` if the task is
    /// already done.
    pub fn abort(&self) -> bool {
        let h = self.raw.header();
        if h.state.is_complete() {
            return false;
        }
        h.update_flags(|f| f.with(Flags::ABORT));
        self.raw.wake();
        true
    }

    /// The outcome of a finished task without awaiting it: asyncio's
    /// `result()` and `exception()` in one call.
    ///
    /// # Errors
    /// [`InvalidStateError::NotDone`] while the task runs;
    /// [`InvalidStateError::Taken`] once the output was awaited or taken.
    pub fn result(&self) -> Result<Result<&T, &TaskError>, InvalidStateError> {
        let h = self.raw.header();
        if !h.state.is_complete() {
            return Err(InvalidStateError::NotDone);
        }
        // SAFETY: `T` is the task's output type; the stage no longer changes
        // except through `&mut self`, so the borrow is tied to `&self`.
        let out = unsafe { h.output::<T>() };
        if out.is_null() {
            return Err(InvalidStateError::Taken);
        }
        h.update_flags(|f| f.with(Flags::RETRIEVED));
        // SAFETY: non-null, points into the live stage (see above).
        Ok(unsafe { &*out }.as_ref())
    }

    /// Moves the outcome of a finished task out, without awaiting.
    ///
    /// # Errors
    /// As for [`result`](Self::result).
    pub fn take_result(&mut self) -> Result<Result<T, TaskError>, InvalidStateError> {
        let h = self.raw.header();
        if !h.state.is_complete() {
            return Err(InvalidStateError::NotDone);
        }
        h.update_flags(|f| f.with(Flags::RETRIEVED));
        // SAFETY: `T` is the task's output type.
        unsafe { h.take_output::<T>() }.ok_or(InvalidStateError::Taken)
    }

    /// Forgets whoever was waiting on this handle (its waker and its
    /// cancel registration): the await was abandoned.
    pub(crate) fn forget_waiter(&self) {
        let h = self.raw.header();
        drop(h.join_waker.take());
        drop(take_join_slot(h));
    }

    /// The output of a finished task, without marking it retrieved.
    pub(crate) fn peek_output(&self) -> Option<&T> {
        let h = self.raw.header();
        if !h.state.is_complete() {
            return None;
        }
        // SAFETY: as in `result`.
        let out = unsafe { h.output::<T>() };
        // SAFETY: non-null points into the live stage, borrowed with `&self`.
        (!out.is_null())
            .then(|| unsafe { &*out }.as_ref().ok())
            .flatten()
    }

    /// The untyped reference to this task.
    pub fn as_task_ref(&self) -> &TaskRef {
        &self.raw
    }
}

impl<T> std::ops::Deref for Task<T> {
    type Target = TaskRef;

    fn deref(&self) -> &TaskRef {
        &self.raw
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let h = this.raw.header();
        if h.state.is_complete() {
            drop(take_join_slot(h));
            h.update_flags(|f| f.with(Flags::RETRIEVED));
            // SAFETY: `T` is the task's output type.
            let out =
                unsafe { h.take_output::<T>() }.expect("`Task` polled after its output was taken");
            let forwarded = h.flags.get().contains(Flags::JOIN_FORWARDED);
            if forwarded && matches!(&out, Err(e) if e.is_cancelled()) {
                // Our own cancellation came back through the awaited task:
                // from here on the awaiting task has seen it.
                if let Some(cur) = context::current_task() {
                    // SAFETY: the executor keeps the current task alive.
                    unsafe { cur.as_ref() }.mark_cancel_delivered();
                }
            }
            return Poll::Ready(out);
        }
        if let Some(cur) = context::current_task() {
            assert!(
                cur != this.raw.as_ptr(),
                "a task cannot await its own handle (it would wait forever)"
            );
            // SAFETY: the executor keeps the current task alive.
            if unsafe { cur.as_ref() }.take_cancel_for_forward() {
                h.update_flags(|f| f.with(Flags::JOIN_FORWARDED));
                this.raw.cancel();
            }
        }
        let old = h.join_waker.take();
        let new = match old {
            Some(w) if w.will_wake(cx.waker()) => w,
            old => {
                drop(old);
                cx.waker().clone()
            }
        };
        h.join_waker.set(Some(new));
        // Make a cancel of the awaiting task wake this await, even under a
        // combinator (the registration is usually not needed and not stored).
        let mut slot = take_join_slot(h);
        slot.arm(cx);
        if slot.is_armed() {
            h.with_extras(|e| e.join_slot = slot);
        }
        Poll::Pending
    }
}

/// Takes the awaiter's registration out of the task, if it has one.
#[inline]
fn take_join_slot(h: &Header) -> CancelSlot {
    h.peek_extras(|e| e.map(|e| std::mem::take(&mut e.join_slot)))
        .unwrap_or_default()
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let h = self.raw.header();
        h.update_flags(|f| f.without(Flags::HAS_HANDLE));
        drop(h.join_waker.take());
        drop(take_join_slot(h));
        if h.state.is_complete() {
            super::report_unretrieved_panic(&self.raw);
            h.drop_stage();
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Task").field(&self.raw).finish()
    }
}
