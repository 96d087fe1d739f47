//! The task allocation: one heap block holding the header, the scheduler
//! handle and the future (later its output); the type-erased vtable over it.
//!
//! This module owns the `unsafe` lines of the task's memory. It must never
//! poll a future outside its loop thread, and never touch anything but the
//! atomic state word and the scheduler handle (both `Sync`) from another
//! thread.
//!
//! # Ground rules
//!
//! * A task is a `RawTask<F, S>`: `#[repr(C)]` with the [`Header`] first, so
//!   the `NonNull<Header>` that every handle stores can be cast back to the
//!   whole block by the vtable built for `F` and `S`. That pointer is the
//!   one `allocate` returned and keeps its provenance over the whole block;
//!   nothing rebuilds it from a `&Header` (which only covers the header).
//! * The block lives while its reference count (in [`State`]) is non-zero.
//!   The last reference, wherever it is dropped, calls `dealloc`.
//! * The stage (future or output) is read or written only on the loop
//!   thread: by the executor (poll, drop) or through a `Task<T>` (`!Send`).
//! * A future is dropped where it lies (`ptr::drop_in_place`), never moved
//!   out first: `Pin`'s drop guarantee. The next stage is then written in
//!   place without dropping the old one.
//! * The stage holds non-`Send` data only while the registry or the
//!   `Task<T>` handle holds a reference, and both live on the loop thread. A
//!   waker on another thread can therefore be the last reference only when
//!   the stage is empty and the loop-only header fields are cleared (the
//!   completion in `registry` guarantees it): `dealloc` there frees memory
//!   and `Send` data only.

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::header::Header;
use super::state::Flags;
use super::{Schedule, TaskError};

/// How a poll or a drop of the future ended, for the registry to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The future returned and the task was not cancelled: output stored.
    Ok,
    /// The task ended cancelled: it saw `Cancelled` and returned, or its
    /// future was dropped unfinished.
    Cancelled,
    /// The future (or its destructor) panicked: the payload is stored.
    Panicked,
    /// The task asked to end with a failure (`TaskRef::end_with`): the
    /// error is stored.
    Failed,
}

/// The type-erased operations on a `RawTask<F, S>`. Every function takes the
/// stored pointer, with its provenance over the whole block.
pub(crate) struct Vtable {
    /// Polls the future; on completion stores the output and says how it ended.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<Outcome>,
    /// Drops the future unpolled, in place, storing a cancelled (or
    /// panicked) outcome.
    drop_future: unsafe fn(NonNull<Header>) -> Outcome,
    /// Points at the stored `Result<F::Output, TaskError>`, or is null.
    output: unsafe fn(NonNull<Header>) -> *mut (),
    /// Moves the output into `*mut Option<Result<F::Output, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops whatever the stage holds (an output nobody will read).
    drop_stage: unsafe fn(NonNull<Header>),
    /// Hands the task (owning one reference) to its scheduler.
    schedule: unsafe fn(NonNull<Header>),
    /// The address of the scheduler, which identifies the owning registry.
    owner: unsafe fn(NonNull<Header>) -> *const (),
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
struct RawTask<F: Future, S> {
    /// Must stay first: `NonNull<Header>` is cast to `NonNull<RawTask<F, S>>`.
    header: Header,
    /// Where a wake sends the task (`Send + Sync`: any thread may use it);
    /// its address identifies the registry that owns the task.
    scheduler: Arc<S>,
    /// The future or its output.
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future, S: Schedule> RawTask<F, S> {
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        drop_future: Self::drop_future,
        output: Self::output,
        take_output: Self::take_output,
        drop_stage: Self::drop_stage,
        schedule: Self::schedule,
        owner: Self::owner,
        dealloc: Self::dealloc,
    };

    /// The stage, as a raw pointer (no reference is created).
    ///
    /// # Safety
    /// `ptr` must come from `allocate::<F, S>` and the block must be alive.
    unsafe fn stage(ptr: NonNull<Header>) -> *mut Stage<F> {
        // SAFETY: per the caller `ptr` is a live `RawTask<F, S>` (header
        // first, repr(C)), with provenance over the whole block.
        unsafe { (*ptr.cast::<RawTask<F, S>>().as_ptr()).stage.get() }
    }

    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<Outcome> {
        // SAFETY: called by the executor on the loop thread, once at a time,
        // on a live task of this type; no other borrow of the stage exists.
        let stage = unsafe { &mut *Self::stage(ptr) };
        let Stage::Running(fut) = stage else {
            unreachable!("a task was polled after its future was gone")
        };
        // SAFETY: the future lives inside the heap block and is never moved:
        // it is dropped in place by `finish`.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let value = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(payload),
        };
        // SAFETY: the block is alive (the caller holds a reference) and the
        // header's fields are `Cell`s, read on the loop thread.
        let flags = unsafe { ptr.as_ref() }.flags.get();
        let delivered = flags.contains(Flags::CANCEL_DELIVERED);
        Poll::Ready(match value {
            // The main task keeps its value for `block_on` to return.
            Ok(value) if delivered && flags.contains(Flags::MAIN) => {
                // SAFETY: as above; the borrow of the future ended with the poll.
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
            // SAFETY: as above.
            Ok(value) => unsafe { Self::finish(ptr, None, Ok(value)) },
            // SAFETY: as above.
            Err(payload) => unsafe {
                Self::finish(ptr, None, Err(super::panicked_in_poll(payload)))
            },
        })
    }

    /// Drops the future in place and stores `result`, unless dropping the
    /// future (or an earlier drop, `panic`) panicked.
    ///
    /// # Safety
    /// As for [`Self::stage`], on the loop thread, with no borrow of the
    /// stage alive, and the stage `Running`.
    unsafe fn finish(
        ptr: NonNull<Header>,
        mut panic: Option<Box<dyn Any + Send>>,
        result: Result<F::Output, TaskError>,
    ) -> Outcome {
        // SAFETY: forwarded from the caller.
        let stage = unsafe { Self::stage(ptr) };
        // A destructor may run arbitrary code, including code that panics.
        // Drop glue goes on dropping the remaining fields when one panics,
        // so afterwards the future is gone either way.
        // SAFETY: the stage is `Running` (per the caller); the future is
        // dropped where it lies, as `Pin` requires, and never touched again:
        // the stage is overwritten below without running its destructor.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            if let Stage::Running(fut) = &mut *stage {
                std::ptr::drop_in_place(fut as *mut F);
            }
        }));
        if let Err(payload) = dropped {
            panic.get_or_insert(payload);
        }
        let (outcome, result) = match (panic, result) {
            (Some(payload), _) => (Outcome::Panicked, Err(TaskError::panicked(payload))),
            (None, Ok(v)) => (Outcome::Ok, Ok(v)),
            (None, Err(e)) if e.is_panic() => (Outcome::Panicked, Err(e)),
            (None, Err(e)) if e.is_failed() => (Outcome::Failed, Err(e)),
            (None, Err(e)) => (Outcome::Cancelled, Err(e)),
        };
        // SAFETY: the future was dropped above; `write` does not drop it again.
        unsafe { stage.write(Stage::Finished(result)) };
        outcome
    }

    unsafe fn drop_future(ptr: NonNull<Header>) -> Outcome {
        // SAFETY: the block is alive (the caller holds a reference); the
        // extras are loop-thread data, and no user code runs in the closure.
        let end_with = unsafe { ptr.as_ref() }
            .peek_extras(|e| e.and_then(|e| e.live.end_with.take()))
            .map_or_else(TaskError::cancelled, |e| *e);
        // SAFETY: called on the loop thread, not during a poll, on a task
        // whose future is still there (the caller checked `COMPLETE`).
        unsafe { Self::finish(ptr, None, Err(end_with)) }
    }

    unsafe fn output(ptr: NonNull<Header>) -> *mut () {
        // SAFETY: called through a `Task<F::Output>` on the loop thread.
        match unsafe { &mut *Self::stage(ptr) } {
            Stage::Finished(result) => (result as *mut Result<F::Output, TaskError>).cast(),
            _ => std::ptr::null_mut(),
        }
    }

    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: called through a `Task<F::Output>` on the loop thread; a
        // finished stage holds no pinned data, so it may be moved.
        let stage = unsafe { &mut *Self::stage(ptr) };
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
        let stage = unsafe { &mut *Self::stage(ptr) };
        debug_assert!(
            !matches!(stage, Stage::Running(_)),
            "drop_stage on a live future"
        );
        // A finished stage holds no pinned data: moving it out is fine. The
        // cell is emptied before the destructor runs, which may panic.
        let old = std::mem::replace(stage, Stage::Consumed);
        drop(old);
    }

    unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: the caller owns a reference, which moves into `Notified`;
        // the scheduler is immutable after allocation and `Sync`.
        let scheduler = unsafe { &(*ptr.cast::<RawTask<F, S>>().as_ptr()).scheduler };
        let owner = Arc::as_ptr(scheduler).cast();
        scheduler.schedule(Notified { ptr, owner });
    }

    unsafe fn owner(ptr: NonNull<Header>) -> *const () {
        // SAFETY: the caller holds a reference; the field is immutable.
        let scheduler = unsafe { &(*ptr.cast::<RawTask<F, S>>().as_ptr()).scheduler };
        Arc::as_ptr(scheduler).cast()
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last reference is gone, so nobody else can see the
        // block; it was allocated as a `Box<RawTask<F, S>>` in `allocate`.
        drop(unsafe { Box::from_raw(ptr.cast::<RawTask<F, S>>().as_ptr()) });
    }
}

/// Allocates a task holding `future`, with `refs` references, scheduled.
///
/// # Safety
/// If `F` is not `'static`, the caller must drop the future and its output
/// (complete the task, then take or drop the output) before anything it
/// borrows goes out of scope; references only reach the stage through a
/// `Task<F::Output>`, which the caller controls.
pub(super) unsafe fn allocate<F: Future, S: Schedule>(
    future: F,
    scheduler: Arc<S>,
    header: Header,
) -> NonNull<Header> {
    let raw = Box::new(RawTask {
        header: Header {
            vtable: &RawTask::<F, S>::VTABLE,
            ..header
        },
        scheduler,
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    NonNull::from(Box::leak(raw)).cast()
}

/// The vtable placeholder of a header under construction.
pub(super) static NO_VTABLE: Vtable = Vtable {
    poll: |_, _| unreachable!(),
    drop_future: |_| unreachable!(),
    output: |_| unreachable!(),
    take_output: |_, _| unreachable!(),
    drop_stage: |_| unreachable!(),
    schedule: |_| unreachable!(),
    owner: |_| unreachable!(),
    dealloc: |_| unreachable!(),
};

/// The operations on a task through its stored pointer.
///
/// # Safety (every function)
/// `ptr` is the pointer `allocate` returned, the caller owns (or borrows
/// under an owner) a reference, and, except for `schedule` and `drop_ref`,
/// this is the task's loop thread.
pub(super) mod ops {
    use super::*;

    /// Polls the future. Not re-entrantly; the stage must be `Running`.
    pub(in crate::task) unsafe fn poll(
        ptr: NonNull<Header>,
        cx: &mut Context<'_>,
    ) -> Poll<Outcome> {
        // SAFETY: per the module rules; the vtable matches the block.
        unsafe { (ptr.as_ref().vtable.poll)(ptr, cx) }
    }

    /// Drops the future in place, unpolled. Not during its poll.
    pub(in crate::task) unsafe fn drop_future(ptr: NonNull<Header>) -> Outcome {
        // SAFETY: as above.
        unsafe { (ptr.as_ref().vtable.drop_future)(ptr) }
    }

    /// Drops the stored output nobody will read.
    pub(in crate::task) unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: as above.
        unsafe { (ptr.as_ref().vtable.drop_stage)(ptr) }
    }

    /// Pointer to the stored `Result<T, TaskError>`, or null. `T` must be
    /// the output type.
    pub(in crate::task) unsafe fn output<T>(ptr: NonNull<Header>) -> *mut Result<T, TaskError> {
        // SAFETY: as above.
        unsafe { (ptr.as_ref().vtable.output)(ptr).cast() }
    }

    /// Takes the stored output, if any. `T` must be the output type.
    pub(in crate::task) unsafe fn take_output<T>(
        ptr: NonNull<Header>,
    ) -> Option<Result<T, TaskError>> {
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: `out` has the type the vtable writes, per the caller.
        unsafe { (ptr.as_ref().vtable.take_output)(ptr, (&raw mut out).cast()) };
        out
    }

    /// Hands an owned reference to the scheduler. Any thread.
    pub(in crate::task) unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: as above; the vtable is immutable after allocation.
        unsafe { (ptr.as_ref().vtable.schedule)(ptr) }
    }

    /// The address of the task's scheduler. Any thread.
    pub(in crate::task) unsafe fn owner(ptr: NonNull<Header>) -> *const () {
        // SAFETY: as above.
        unsafe { (ptr.as_ref().vtable.owner)(ptr) }
    }

    /// Drops one reference, freeing the block if it was the last. Any thread.
    pub(in crate::task) unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller owns a reference, so the block is alive; only
        // the atomic field is touched, which any thread may do.
        let last = unsafe { ptr.as_ref() }.state.ref_dec();
        if last {
            // SAFETY: that was the last reference.
            unsafe { (ptr.as_ref().vtable.dealloc)(ptr) };
        }
    }
}

/// A task handed to its scheduler by a wake: owns one reference and may
/// cross threads. Only its registry turns it back into a `TaskRef`
/// ([`Registry::assert_owner`](super::Registry::assert_owner)), which checks
/// that it is on the task's loop thread.
pub(crate) struct Notified {
    /// The task; one reference is owned.
    pub(super) ptr: NonNull<Header>,
    /// The address of its scheduler (read once, when the wake made this),
    /// which identifies the owning registry.
    owner: *const (),
}

// SAFETY: a `Notified` only touches the atomic state word (`drop_ref`) and
// the scheduler handle (`Sync`) until its registry, on the loop thread, turns it
// into a `TaskRef`; `drop_ref` may free the block from any thread by the
// ground rules above.
unsafe impl Send for Notified {}

impl Notified {
    /// The address of the task's scheduler, which identifies its registry.
    pub(super) fn owner(&self) -> *const () {
        self.owner
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // SAFETY: we own one reference; releasing it is thread-safe.
        unsafe { ops::drop_ref(self.ptr) };
    }
}

impl std::fmt::Debug for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
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
/// clones) is in use; it is `ManuallyDrop` so it never releases one.
pub(super) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: per the caller, the block outlives this waker.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr().cast(), &WAKER_VTABLE)) })
}

/// Whether `waker` is the waker of the task at `ptr` (a clone or the borrowed one).
pub(super) fn is_task_waker(waker: &Waker, ptr: NonNull<Header>) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE) && waker.data() == ptr.as_ptr() as *const ()
}

/// Polls a future that stands for a whole task (a task-group child's
/// future, under the group's wrapper), catching a panic. It lives here so
/// that a checkpoint future polled this way records a root-poll site
/// ([`is_root_poll_site`]), like one polled by the executor itself.
pub(crate) fn poll_caught<F: Future + ?Sized>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> std::thread::Result<Poll<F::Output>> {
    catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
}

/// Whether a checkpoint's await site is a poll of a task's whole future
/// (by the executor, or [`poll_caught`]): the checkpoint future *is* the
/// task (`spawn(sleep(d))`), and the site names no user code.
pub(crate) fn is_root_poll_site(at: &std::panic::Location<'_>) -> bool {
    at.file() == file!()
}

/// Whether `waker` is the waker of some task (of any runtime).
pub(super) fn is_a_task_waker(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE)
}

/// Sets `SCHEDULED` and, if that queued the task, hands the scheduler a
/// new reference.
///
/// # Safety
/// The caller holds a reference to the live task at `ptr`.
pub(super) unsafe fn wake_by_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the block alive.
    let state = unsafe { &ptr.as_ref().state };
    if state.transition_to_scheduled() {
        if super::current::defer_self_wake(ptr) {
            // The task being polled here woke itself: the executor queues
            // it when the poll returns (with the reference it holds).
            return;
        }
        state.ref_inc();
        // SAFETY: we just took the reference the scheduler will own.
        unsafe { ops::schedule(ptr) };
    }
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live task; the waker being cloned owns (or
    // borrows under the executor's) reference.
    unsafe { (*data.cast::<Header>()).state.ref_inc() };
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: `data` is the non-null pointer of a live task.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: this waker owns one reference: it moves to the scheduler if
    // the task gets queued, else it is released.
    unsafe {
        if ptr.as_ref().state.transition_to_scheduled() && !super::current::defer_self_wake(ptr) {
            ops::schedule(ptr);
        } else {
            // Not queued, or queued by the executor after this poll (which
            // holds its own reference, so this is never the last one).
            ops::drop_ref(ptr);
        }
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: `data` is the non-null pointer of a live task; the waker keeps
    // it alive for this call.
    unsafe { wake_by_ref(NonNull::new_unchecked(data as *mut Header)) };
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: `data` is non-null and this waker owns one reference.
    unsafe { ops::drop_ref(NonNull::new_unchecked(data as *mut Header)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Schedule for Nothing {
        fn schedule(&self, _: Notified) {}
    }

    #[test]
    fn a_trivial_task_fits_in_a_104_byte_allocation() {
        // Header (one cache line, the await site included), scheduler
        // handle and a stage holding a 16-byte future or a
        // `Result<[usize; 2], TaskError>`.
        assert!(
            std::mem::size_of::<Header>() <= 64,
            "{}",
            std::mem::size_of::<Header>()
        );
        let size = std::mem::size_of::<RawTask<std::future::Ready<[usize; 2]>, Nothing>>();
        assert!(size <= 104, "{size}");
        // A `TaskError` is two words, so a one-word output with its error
        // takes two, and a task with a two-word future and a one-word
        // output fits in 96 bytes (a 112-byte malloc chunk).
        assert_eq!(std::mem::size_of::<TaskError>(), 16);
        assert_eq!(std::mem::size_of::<Result<usize, TaskError>>(), 16);
        let size = std::mem::size_of::<RawTask<std::future::Ready<usize>, Nothing>>();
        assert!(size <= 96, "{size}");
    }
}
