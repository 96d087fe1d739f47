//! The handles to a task: [`TaskRef`] (untyped, clonable) and [`Task<T>`]
//! (owns the output, awaitable).

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::header::Header;
use super::raw::{self, Outcome, ops};
use super::state::Flags;
use super::{InvalidStateError, TaskError};

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
        let old = self.header().with_extras(|e| {
            if let Some(label) = &e.label {
                label.set_name(&name);
            }
            e.name.replace(name)
        });
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
        self.is_done() && self.header().flags.get().outcome_is(Flags::OUT_CANCELLED)
    }

    /// Whether the task is done and panicked (asyncio's `exception()` is not `None`).
    pub fn is_panicked(&self) -> bool {
        self.is_done() && self.header().flags.get().outcome_is(Flags::OUT_PANICKED)
    }

    /// Whether the task is done and failed: a
    /// [`task_group`](crate::task_group) child that returned an error (the
    /// error went into the group's [`GroupError`](crate::GroupError)).
    pub fn is_failed(&self) -> bool {
        self.is_done() && self.header().flags.get().outcome_is(Flags::OUT_FAILED)
    }

    /// Ends this task, which is running now, with `error` instead of an
    /// output: its future is dropped at the next turn (as by `abort`),
    /// unpolled, and the task completes with `Err(error)`. For the future
    /// of the task itself, which returns `Pending` after the call.
    pub(crate) fn end_with(&self, error: TaskError) {
        let h = self.header();
        let old = h.with_extras(|e| e.live.end_with.replace(Box::new(error)));
        h.update_flags(|f| f.with(Flags::ABORT));
        self.wake();
        drop(old);
    }

    /// Wakes the task (schedules a poll) unless it is done or already queued.
    pub(crate) fn wake(&self) {
        // SAFETY: we hold a reference.
        unsafe { raw::wake_by_ref(self.ptr) };
    }

    /// The address of the task's scheduler, which identifies its runtime.
    pub(crate) fn owner_addr(&self) -> usize {
        // SAFETY: we hold a reference.
        unsafe { ops::owner(self.ptr) as usize }
    }

    /// Whether both tasks belong to the same runtime.
    pub(crate) fn same_runtime(&self, other: &TaskRef) -> bool {
        // SAFETY: we hold references to both.
        unsafe { ops::owner(self.ptr) == ops::owner(other.ptr) }
    }

    /// Whether `waker` wakes this task (a clone of its own waker).
    pub(crate) fn is_own_waker(&self, waker: &Waker) -> bool {
        raw::is_task_waker(waker, self.ptr)
    }

    /// The address that identifies this task among live tasks ([`addr`]
    /// of the task whose own waker awaits it: see [`awaiter_addr`]).
    ///
    /// [`addr`]: Self::addr
    /// [`awaiter_addr`]: Self::awaiter_addr
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// The [`addr`](Self::addr) of the task awaiting this one's handle
    /// directly (its own waker is registered), for task dumps; `None` when
    /// nobody waits or a combinator's waker is registered.
    pub(crate) fn awaiter_addr(&self) -> Option<usize> {
        let h = self.header();
        let waker = h.join_waker.take();
        let addr = waker
            .as_ref()
            .filter(|w| raw::is_a_task_waker(w))
            .map(|w| w.data().addr());
        h.join_waker.set(waker);
        addr
    }

    /// Polls the future once, as the current task. Ready with the outcome
    /// (stored in the task) when the future finished.
    ///
    /// # Panics
    /// If the task is complete or is being polled or dropped already (a
    /// re-entrant poll).
    ///
    /// The second value: the task woke itself during the poll and the wake
    /// was deferred (`current`'s ground rules): if the poll is `Pending`,
    /// the caller must queue the task (its scheduled bit is already set).
    pub(crate) fn poll(&self) -> (Poll<Outcome>, bool) {
        let _busy = self.enter_stage();
        // SAFETY: we hold a reference for the whole poll, and the borrowed
        // waker does not outlive it (clones take their own references).
        let waker = unsafe { raw::borrowed_waker(self.ptr) };
        let mut cx = Context::from_waker(&waker);
        // SAFETY: this is the loop thread (`TaskRef` is `!Send` and only
        // made on it), the future is still there and nothing else borrows
        // the stage (checked by `enter_stage`).
        let (poll, self_woken) = self.poll_as(|| unsafe { ops::poll(self.ptr, &mut cx) });
        if self_woken && poll.is_ready() {
            // Done: the deferred wake has nothing left to run.
            self.header().state.unset_scheduled();
        }
        (poll, self_woken)
    }

    /// Drops the future in place, unpolled, as the current task (so that
    /// its destructors may use the runtime API), storing a cancelled (or,
    /// if a destructor panicked, panicked) outcome.
    ///
    /// # Panics
    /// As for [`poll`](Self::poll).
    pub(crate) fn drop_future(&self) -> Outcome {
        let _busy = self.enter_stage();
        // SAFETY: as in `poll`.
        self.run_as(|| unsafe { ops::drop_future(self.ptr) })
    }

    /// Drops the stored output nobody will read.
    pub(crate) fn drop_stage(&self) {
        debug_assert!(self.is_done());
        // SAFETY: loop thread; the task is complete, so nothing polls it.
        unsafe { ops::drop_stage(self.ptr) }
    }

    /// Marks the stage busy for a poll or a drop; checks it is neither
    /// complete nor busy already.
    fn enter_stage(&self) -> StageBusy<'_> {
        let h = self.header();
        assert!(
            !h.state.is_complete() && !h.flags.get().contains(Flags::BUSY),
            "a task's future was polled or dropped while complete or already in use"
        );
        h.update_flags(|f| f.with(Flags::BUSY));
        StageBusy(h)
    }
}

/// Clears `BUSY` when a poll or drop of the future ends (also by unwinding).
struct StageBusy<'a>(&'a Header);

impl Drop for StageBusy<'_> {
    fn drop(&mut self) {
        self.0.update_flags(|f| f.without(Flags::BUSY));
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
        unsafe { ops::drop_ref(self.ptr) };
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
/// running. It has the untyped API of [`TaskRef`] (`cancel`, `name`,
/// `is_done`, ...) as its own methods, and [`as_task_ref`](Self::as_task_ref)
/// for a clonable [`TaskRef`]; it is not `Clone` itself (one owner awaits
/// the output):
///
/// ```compile_fail
/// # taskloop::run(async {
/// let task = taskloop::spawn(async { 1 });
/// let copy = task.clone(); // error: `Task` is not `Clone`
/// # });
/// ```
///
/// # Cancellation
/// Awaiting a task is a checkpoint with asyncio's forwarding rule: if the
/// awaiting task is cancelled while it waits, the request is *forwarded* to
/// the awaited task, and the awaiter keeps waiting until that task is done.
/// If it ends cancelled, the awaiter gets `Err` and counts as having seen its
/// cancellation; if it suppressed the request and returned a value, the
/// awaiter gets the value. A task that is already done gives its output
/// without a checkpoint. [`shield`](crate::shield) is the way to wait
/// without forwarding.
///
/// # Panics
/// Awaiting it again after the await returned, or after
/// [`take_result`](Self::take_result) moved the output out, panics: the
/// output is gone (use [`result`](Self::result) to look without taking, or
/// check [`is_done`](TaskRef::is_done) and `FusedFuture::is_terminated`).
/// Awaiting a task from a task of another runtime panics too (it could never
/// finish there), as does a task awaiting its own handle.
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
        let out = unsafe { ops::output::<T>(self.raw.as_ptr()) };
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
        unsafe { ops::take_output::<T>(self.raw.as_ptr()) }.ok_or(InvalidStateError::Taken)
    }

    /// Forgets whoever was waiting on this handle (its waker and its
    /// cancel registration): the await was abandoned.
    pub(crate) fn forget_waiter(&self) {
        let h = self.raw.header();
        drop(h.join_waker.take());
        drop(take_join_slot(h));
        h.peek_extras(|e| {
            if let Some(e) = e {
                e.live.join_parked_at = None;
            }
        });
    }

    /// Takes the output of a finished task, marking it retrieved.
    pub(crate) fn take_output(&mut self) -> Option<Result<T, TaskError>> {
        let h = self.raw.header();
        debug_assert!(h.state.is_complete());
        h.update_flags(|f| f.with(Flags::RETRIEVED));
        // SAFETY: `T` is the task's output type; `&mut self` is the only
        // borrow of the output.
        unsafe { ops::take_output::<T>(self.raw.as_ptr()) }
    }

    /// The output of a finished task, without marking it retrieved.
    pub(crate) fn peek_output(&self) -> Option<&T> {
        let h = self.raw.header();
        if !h.state.is_complete() {
            return None;
        }
        // SAFETY: as in `result`.
        let out = unsafe { ops::output::<T>(self.raw.as_ptr()) };
        // SAFETY: non-null points into the live stage, borrowed with `&self`.
        (!out.is_null())
            .then(|| unsafe { &*out }.as_ref().ok())
            .flatten()
    }

    /// Whether the task is done and its output was taken (awaited).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // For `compat`.
    pub(crate) fn is_taken(&self) -> bool {
        // SAFETY: `T` is the task's output type; only a null check.
        self.is_done() && unsafe { ops::output::<T>(self.raw.as_ptr()) }.is_null()
    }

    /// The untyped reference to this task (clone it for a handle that
    /// inspects and cancels without owning the output).
    pub fn as_task_ref(&self) -> &TaskRef {
        &self.raw
    }

    /// The task's id ([`TaskRef::id`]).
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }

    /// The task's name ([`TaskRef::name`]).
    pub fn name(&self) -> String {
        self.raw.name()
    }

    /// Renames the task ([`TaskRef::set_name`]).
    pub fn set_name(&self, name: impl Into<String>) {
        self.raw.set_name(name);
    }

    /// Whether the task is done ([`TaskRef::is_done`]).
    pub fn is_done(&self) -> bool {
        self.raw.is_done()
    }

    /// Whether the task is done and ended cancelled ([`TaskRef::is_cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.raw.is_cancelled()
    }

    /// Whether the task is done and panicked ([`TaskRef::is_panicked`]).
    pub fn is_panicked(&self) -> bool {
        self.raw.is_panicked()
    }

    /// Whether the task is done and failed ([`TaskRef::is_failed`]).
    pub fn is_failed(&self) -> bool {
        self.raw.is_failed()
    }

    /// Requests cancellation ([`TaskRef::cancel`]: asyncio's `Task.cancel()`).
    pub fn cancel(&self) -> bool {
        self.raw.cancel()
    }

    /// asyncio's `cancelling()` ([`TaskRef::cancelling`]).
    pub fn cancelling(&self) -> u32 {
        self.raw.cancelling()
    }

    /// asyncio's `uncancel()` ([`TaskRef::uncancel`]).
    pub fn uncancel(&self) -> u32 {
        self.raw.uncancel()
    }

    /// asyncio's `add_done_callback` ([`TaskRef::add_done_callback`]).
    pub fn add_done_callback(&self, f: impl FnOnce(&TaskRef) + 'static) {
        self.raw.add_done_callback(f);
    }

    /// The header, for the crate's own layers.
    pub(crate) fn header(&self) -> &Header {
        self.raw.header()
    }
}

/// Takes the awaiter's cancel registration out of the task, if it has one.
#[inline]
pub(crate) fn take_join_slot(h: &Header) -> Option<super::hooks::CancelWaker> {
    h.peek_extras(|e| e.and_then(|e| e.live.join_slot.take()))
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let h = self.raw.header();
        h.update_flags(|f| f.without(Flags::HAS_HANDLE));
        drop(h.join_waker.take());
        drop(take_join_slot(h));
        if h.state.is_complete() {
            super::report_unretrieved_panic(&self.raw);
            self.raw.drop_stage();
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Task").field(&self.raw).finish()
    }
}
