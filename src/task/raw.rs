//! The task allocation: one heap block holding the header, the future and,
//! later, its output; the type-erased vtable over it; and the `Waker`.
//!
//! This module owns every `unsafe` line of the executor. It must never poll a
//! future outside the loop thread, and never touch anything but the atomic
//! state word (and the `Arc<Shared>` it reaches through it) from another
//! thread.
//!
//! # Ground rules
//!
//! * A task is a `RawTask<F>`: `#[repr(C)]` with the [`Header`] first, so a
//!   `NonNull<Header>` can be cast back to the full block by the functions of
//!   the vtable that was built for `F`.
//! * The block lives while its reference count (in [`State`]) is non-zero.
//!   The last reference, wherever it is dropped, calls `dealloc`.
//! * The stage (future or output) is read or written only on the loop thread:
//!   by the executor (poll, drop), or through a `Task<T>`, which is `!Send`.
//! * The stage holds data that is not `Send` only while the registry or the
//!   `Task<T>` handle holds a reference, and both live on the loop thread. A
//!   waker on another thread can therefore be the last reference only when
//!   the stage is empty: `dealloc` there frees memory and `Send` data only.
//! * The loop-thread fields of the header (`Cell`s) follow the same rule as
//!   the stage, and must hold no user callback once the task is complete.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use slab::Slab;

use super::state::{Flags, State};
use super::{TaskError, TaskRef};
use crate::cancel::CancelSlot;
use crate::runtime::shared::Shared;
use crate::wait::DoneQueue;

/// The part of every task the executor sees without knowing its type.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and reference count; the only field other threads touch.
    pub(crate) state: State,
    /// The functions that know the concrete future type.
    vtable: &'static Vtable,
    /// Where a wake from another thread goes (inject queue + `mio::Waker`).
    pub(crate) shared: Arc<Shared>,
    /// asyncio's task number: unique per runtime, from 1, in spawn order.
    pub(crate) id: u64,
    /// Loop-thread flags: cancellation, start, handle, outcome.
    pub(crate) flags: Cell<Flags>,
    /// asyncio's `cancelling()`: outstanding cancellation requests. 16 bits
    /// keep the header at 64 bytes; the count saturates at 65,535.
    pub(crate) cancelling: Cell<u16>,
    /// The task's key in the runtime registry while it is not complete.
    pub(crate) key: Cell<u32>,
    /// The waker of whoever awaits the `Task<T>` handle.
    pub(crate) join_waker: Cell<Option<Waker>>,
    /// Rarely used data, allocated on first use.
    pub(crate) extras: Cell<Option<Box<Extras>>>,
}

/// A done-callback, given the finished task.
pub(crate) type DoneCallback = Box<dyn FnOnce(&TaskRef)>;

/// Per-task data most tasks never need, kept out of line to keep tasks small.
#[derive(Default)]
pub(crate) struct Extras {
    /// The name given with `set_name`; `None` means the default `Task-<id>`.
    pub(crate) name: Option<Box<str>>,
    /// Done-callbacks, run (through the loop's callback queue) at completion.
    pub(crate) callbacks: Vec<DoneCallback>,
    /// Wakers of checkpoints pending inside this task that are not the
    /// task's own waker (a combinator's child waker): `cancel()` wakes them.
    pub(crate) cancel_wakers: Slab<Waker>,
    /// Where the task was spawned, recorded in debug mode.
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    /// The registration of the checkpoint awaiting this task's `Task<T>`
    /// with the *awaiting* task, kept here so the handle stays one pointer.
    pub(crate) join_slot: CancelSlot,
    /// Waiters (`wait`, `as_completed`, groups) to notify at completion,
    /// with the index they know this task by.
    pub(crate) done_queues: Slab<(Rc<DoneQueue>, usize)>,
}

/// How a poll or a drop of the future ended, for the executor to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The future returned and the task was not cancelled: output stored.
    Ok,
    /// The task ended cancelled: the future was dropped unpolled, or it
    /// returned after a cancellation was delivered (its value was dropped).
    Cancelled,
    /// The future (or its destructor) panicked: the payload is stored.
    Panicked,
}

/// The type-erased operations on a `RawTask<F>`.
pub(crate) struct Vtable {
    /// Polls the future; on completion stores the output and says how it ended.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<Outcome>,
    /// Drops the future unpolled, storing a cancelled (or panicked) outcome.
    drop_future: unsafe fn(NonNull<Header>) -> Outcome,
    /// Points at the stored `Result<F::Output, TaskError>`, or is null.
    output: unsafe fn(NonNull<Header>) -> *mut (),
    /// Moves the output into `*mut Option<Result<F::Output, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops whatever the stage holds (output nobody will read).
    drop_stage: unsafe fn(NonNull<Header>),
    /// Frees the block.
    dealloc: unsafe fn(NonNull<Header>),
}

/// What the task's block holds besides the header.
enum Stage<F: Future> {
    /// The future, until it returns or is dropped.
    Running(F),
    /// Its outcome, until the handle takes it or is dropped.
    Finished(Result<F::Output, TaskError>),
    /// Nothing left.
    Consumed,
}

/// The whole allocation.
#[repr(C)]
struct RawTask<F: Future> {
    /// Must stay first: `NonNull<Header>` is cast to `NonNull<RawTask<F>>`.
    header: Header,
    /// The future or its output.
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future> RawTask<F> {
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        drop_future: Self::drop_future,
        output: Self::output,
        take_output: Self::take_output,
        drop_stage: Self::drop_stage,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `ptr` must come from `allocate::<F>` and the block must be alive; the
    /// caller must be on the loop thread with no other borrow of the stage.
    unsafe fn stage<'a>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
        // SAFETY: the caller guarantees `ptr` is a live `RawTask<F>` (header
        // first, repr(C)) and that nobody else borrows the stage now.
        unsafe { &mut *(*ptr.cast::<RawTask<F>>().as_ptr()).stage.get() }
    }

    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<Outcome> {
        // SAFETY: called by the executor on the loop thread, once at a time,
        // on a live task of this type.
        let stage = unsafe { Self::stage(ptr) };
        let Stage::Running(fut) = stage else {
            unreachable!("a task was polled after its future was gone")
        };
        // SAFETY: the future lives inside the heap block and is never moved
        // until it is dropped in place.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let value = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(payload),
        };
        // SAFETY: as above; the previous borrow ended with the poll.
        let header = unsafe { ptr.as_ref() };
        let flags = header.flags.get();
        let delivered = flags.contains(Flags::CANCEL_DELIVERED);
        Poll::Ready(match value {
            // The main task keeps its value for `block_on` to return.
            Ok(value) if delivered && flags.contains(Flags::MAIN) => {
                // SAFETY: as above.
                match unsafe { Self::finish(ptr, None, Ok(value)) } {
                    Outcome::Ok => Outcome::Cancelled,
                    other => other,
                }
            }
            // The task saw `Cancelled` and did not suppress it with
            // `uncancel()`: it counts as cancelled and its value is dropped.
            Ok(value) if delivered => {
                let dropped = catch_unwind(AssertUnwindSafe(|| drop(value)));
                // SAFETY: as above.
                unsafe { Self::finish(ptr, dropped.err(), Err(TaskError::cancelled())) }
            }
            Ok(value) => {
                // SAFETY: as above.
                unsafe { Self::finish(ptr, None, Ok(value)) }
            }
            // SAFETY: as above.
            Err(payload) => unsafe { Self::finish(ptr, None, Err(TaskError::panicked(payload))) },
        })
    }

    /// Drops the future in place and stores `result`, unless dropping the
    /// future (or an earlier drop, `panic`) panicked.
    ///
    /// # Safety
    /// As for [`Self::stage`].
    unsafe fn finish(
        ptr: NonNull<Header>,
        mut panic: Option<Box<dyn Any + Send>>,
        result: Result<F::Output, TaskError>,
    ) -> Outcome {
        // SAFETY: forwarded from the caller.
        let stage = unsafe { Self::stage(ptr) };
        let old = std::mem::replace(stage, Stage::Consumed);
        // A destructor may run arbitrary code, including code that panics.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(old))) {
            panic.get_or_insert(payload);
        }
        let (outcome, result) = match (panic, result) {
            (Some(payload), _) => (Outcome::Panicked, Err(TaskError::panicked(payload))),
            (None, Ok(v)) => (Outcome::Ok, Ok(v)),
            (None, Err(e)) if e.is_panic() => (Outcome::Panicked, Err(e)),
            (None, Err(e)) => (Outcome::Cancelled, Err(e)),
        };
        // SAFETY: forwarded from the caller; the destructor above is done.
        unsafe { *Self::stage(ptr) = Stage::Finished(result) };
        outcome
    }

    unsafe fn drop_future(ptr: NonNull<Header>) -> Outcome {
        // SAFETY: called by the executor on the loop thread, not during a poll.
        unsafe { Self::finish(ptr, None, Err(TaskError::cancelled())) }
    }

    unsafe fn output(ptr: NonNull<Header>) -> *mut () {
        // SAFETY: called through a `Task<F::Output>` on the loop thread.
        match unsafe { Self::stage(ptr) } {
            Stage::Finished(result) => (result as *mut Result<F::Output, TaskError>).cast(),
            _ => std::ptr::null_mut(),
        }
    }

    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: called through a `Task<F::Output>` on the loop thread.
        let stage = unsafe { Self::stage(ptr) };
        if let Stage::Finished(_) = stage {
            let Stage::Finished(result) = std::mem::replace(stage, Stage::Consumed) else {
                unreachable!()
            };
            // SAFETY: `Task<T>` passes a valid `*mut Option<Result<T, TaskError>>`
            // with `T == F::Output`.
            unsafe { *out.cast::<Option<Result<F::Output, TaskError>>>() = Some(result) };
        }
    }

    unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: called on the loop thread when the output has no reader.
        let old = std::mem::replace(unsafe { Self::stage(ptr) }, Stage::Consumed);
        drop(old);
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last reference is gone, so nobody else can see the
        // block; it was allocated as a `Box<RawTask<F>>` in `allocate`.
        drop(unsafe { Box::from_raw(ptr.cast::<RawTask<F>>().as_ptr()) });
    }
}

/// Allocates a task holding `future`, with `refs` references, scheduled.
///
/// # Safety
/// If `F` is not `'static`, the caller must drop the future (or take its
/// output) with [`Header::drop_future`] / `take_output` before anything it
/// borrows goes out of scope, and no reference may outlive that borrow in a
/// way that touches the stage (references only reach the stage through a
/// `Task<F::Output>`, which the caller controls).
pub(crate) unsafe fn allocate<F: Future>(
    future: F,
    shared: Arc<Shared>,
    id: u64,
    refs: usize,
) -> NonNull<Header> {
    let raw = Box::new(RawTask {
        header: Header {
            state: State::new(refs),
            vtable: &RawTask::<F>::VTABLE,
            shared,
            id,
            flags: Cell::new(Flags::default()),
            cancelling: Cell::new(0),
            key: Cell::new(u32::MAX),
            join_waker: Cell::new(None),
            extras: Cell::new(None),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    NonNull::from(Box::leak(raw)).cast()
}

impl Header {
    /// Polls the future. Loop thread only, never re-entrantly.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        // SAFETY: `self` is the header of a live task whose vtable matches
        // its stage; the executor polls on the loop thread, one task at a time.
        unsafe { (self.vtable.poll)(NonNull::from(self), cx) }
    }

    /// Drops the future unpolled. Loop thread only, not during its poll.
    pub(crate) fn drop_future(&self) -> Outcome {
        // SAFETY: as for `poll`.
        unsafe { (self.vtable.drop_future)(NonNull::from(self)) }
    }

    /// Drops the stored output nobody will read. Loop thread only.
    pub(crate) fn drop_stage(&self) {
        // SAFETY: as for `poll`.
        unsafe { (self.vtable.drop_stage)(NonNull::from(self)) }
    }

    /// Pointer to the stored `Result<T, TaskError>` or null.
    ///
    /// # Safety
    /// `T` must be the output type of the task's future.
    pub(crate) unsafe fn output<T>(&self) -> *mut Result<T, TaskError> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.vtable.output)(NonNull::from(self)).cast() }
    }

    /// Takes the stored output, if any.
    ///
    /// # Safety
    /// `T` must be the output type of the task's future.
    pub(crate) unsafe fn take_output<T>(&self) -> Option<Result<T, TaskError>> {
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: `out` has the type the vtable writes, per the caller.
        unsafe { (self.vtable.take_output)(NonNull::from(self), (&raw mut out).cast()) };
        out
    }

    /// Runs `f` on the out-of-line extras, allocating them on first use.
    ///
    /// `f` must not call user code: the extras are out of the header while it runs.
    #[inline]
    pub(crate) fn with_extras<R>(&self, f: impl FnOnce(&mut Extras) -> R) -> R {
        let mut extras = self.extras.take().unwrap_or_default();
        let r = f(&mut extras);
        self.extras.set(Some(extras));
        r
    }

    /// Reads from the extras without allocating them.
    #[inline]
    pub(crate) fn peek_extras<R>(&self, f: impl FnOnce(Option<&mut Extras>) -> R) -> R {
        let mut extras = self.extras.take();
        let r = f(extras.as_deref_mut());
        self.extras.set(extras);
        r
    }

    /// Delivers a pending cancellation request to a checkpoint: true if
    /// there was one; from now on the task has seen `Cancelled`.
    #[inline]
    pub(crate) fn take_cancel_for_delivery(&self) -> bool {
        let f = self.flags.get();
        if !f.contains(Flags::CANCEL_PENDING) {
            return false;
        }
        self.flags.set(
            f.without(Flags::CANCEL_PENDING)
                .with(Flags::CANCEL_DELIVERED),
        );
        true
    }

    /// Consumes a pending request to pass it on to an awaited task: true if
    /// there was one. The task has not seen `Cancelled` (yet).
    pub(crate) fn take_cancel_for_forward(&self) -> bool {
        let f = self.flags.get();
        self.flags.set(f.without(Flags::CANCEL_PENDING));
        f.contains(Flags::CANCEL_PENDING)
    }

    /// Takes back one cancellation request (asyncio 3.13's `uncancel`) and
    /// returns the new count: reaching zero clears a pending or delivered
    /// request.
    pub(crate) fn uncancel(&self) -> u16 {
        let n = self.cancelling.get().saturating_sub(1);
        self.cancelling.set(n);
        if n == 0 && !self.state.is_complete() {
            self.update_flags(|f| f.without(Flags::CANCEL_PENDING | Flags::CANCEL_DELIVERED));
        }
        n
    }

    /// Records that the task has seen `Cancelled` (through an awaited task
    /// that ended cancelled after a forwarded request).
    pub(crate) fn mark_cancel_delivered(&self) {
        self.update_flags(|f| f.with(Flags::CANCEL_DELIVERED));
    }

    /// Updates the loop-thread flags.
    #[inline]
    pub(crate) fn update_flags(&self, f: impl FnOnce(Flags) -> Flags) {
        self.flags.set(f(self.flags.get()));
    }
}

/// Drops one reference to the task at `ptr`, freeing it if it was the last.
///
/// # Safety
/// The caller owns one reference to a live task.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller owns a reference, so the block is alive; only the
    // atomic field is touched, which any thread may do.
    let last = unsafe { (*ptr.as_ptr()).state.ref_dec() };
    if last {
        // SAFETY: that was the last reference. The vtable pointer is
        // immutable after allocation.
        unsafe { ((*ptr.as_ptr()).vtable.dealloc)(ptr) };
    }
}

// ---------------------------------------------------------------------------
// Waker

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A waker for `ptr` that owns no reference, for the duration of one poll.
///
/// # Safety
/// The caller must keep a reference alive while the returned waker (not its
/// clones) is in use, and must not drop it (it is `ManuallyDrop`).
pub(crate) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> std::mem::ManuallyDrop<Waker> {
    // SAFETY: per the caller, the block outlives this waker, which is never
    // dropped so it never releases the reference it does not own.
    std::mem::ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(ptr.as_ptr().cast(), &WAKER_VTABLE))
    })
}

/// Whether `waker` is the waker of the task at `ptr` (a clone or the borrowed one).
pub(crate) fn is_task_waker(waker: &Waker, ptr: NonNull<Header>) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE) && waker.data() == ptr.as_ptr() as *const ()
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live task header; the waker being cloned owns (or
    // borrows under the executor's) reference.
    unsafe { (*data.cast::<Header>()).state.ref_inc() };
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: `data` is non-null (it came from a `NonNull<Header>`).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: this waker owns one reference, which `schedule` consumes.
    unsafe { schedule(ptr) };
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: `data` is non-null (it came from a `NonNull<Header>`).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: the waker keeps the block alive for this call.
    let state = unsafe { &(*ptr.as_ptr()).state };
    if state.transition_to_scheduled() {
        state.ref_inc();
        // SAFETY: we just took the reference the queue entry will own.
        unsafe { enqueue(ptr) };
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: `data` is non-null and this waker owns one reference.
    unsafe { drop_ref(NonNull::new_unchecked(data as *mut Header)) };
}

/// Schedules the task if it is not scheduled or complete, consuming one
/// reference either way.
///
/// # Safety
/// The caller owns one reference.
pub(crate) unsafe fn schedule(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the block alive.
    let state = unsafe { &(*ptr.as_ptr()).state };
    if state.transition_to_scheduled() {
        // SAFETY: the caller's reference moves into the queue entry.
        unsafe { enqueue(ptr) };
    } else {
        // SAFETY: the caller's reference is released.
        unsafe { drop_ref(ptr) };
    }
}

/// Puts a just-scheduled task on a run queue: the loop's own if this thread
/// is running the task's runtime, otherwise the cross-thread inject queue.
///
/// # Safety
/// The caller owns one reference, which moves into the queue, and has just
/// set `SCHEDULED`.
pub(crate) unsafe fn enqueue(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the block alive; `shared` is
    // immutable after allocation and is `Sync`.
    let shared = unsafe { &(*ptr.as_ptr()).shared };
    // SAFETY: the reference moves into a `TaskRef` only on the loop thread of
    // this task's runtime, checked by `push_local`.
    let pushed = crate::runtime::context::push_local(shared, || unsafe { TaskRef::from_raw(ptr) });
    if !pushed {
        shared.inject(ptr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trivial_task_fits_in_a_96_byte_allocation() {
        // Header plus a stage holding a 16-byte future or a `Result<usize, TaskError>`.
        assert!(
            std::mem::size_of::<Header>() <= 64,
            "{}",
            std::mem::size_of::<Header>()
        );
        let size = std::mem::size_of::<RawTask<std::future::Ready<[usize; 2]>>>();
        assert!(size <= 96, "{size}");
    }
}
