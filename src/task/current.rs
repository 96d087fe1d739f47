//! The task being polled (or dropped) on this thread: asyncio's
//! `current_task()`, and how every checkpoint finds the task it belongs to.
//!
//! # Ground rules
//!
//! * The slot is set only by [`TaskRef::run_as`], around one poll or one
//!   drop of the task's future, by the code that holds a reference for that
//!   whole time; it is restored afterwards, also on unwinding. So a pointer
//!   found in the slot is always that of a live task, on its loop thread.
//! * Readers get a `&TaskRef` for the duration of a closure ([`with`]), or
//!   a counted clone ([`get`]): never a raw pointer.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use super::TaskRef;
use super::header::Header;

thread_local! {
    /// The task being polled on this thread, or `None`.
    static CURRENT: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
}

/// Runs `f` with the current task, if there is one.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&TaskRef) -> R) -> Option<R> {
    let ptr = CURRENT.try_with(Cell::get).ok().flatten()?;
    // SAFETY: by the ground rules, a pointer in the slot is a live task of
    // this thread whose reference is held by `run_as`'s caller for longer
    // than this call. The `TaskRef` borrows that reference: `ManuallyDrop`
    // keeps it from being released.
    let task = ManuallyDrop::new(unsafe { TaskRef::from_raw(ptr) });
    Some(f(&task))
}

/// A counted handle to the current task (asyncio's `current_task()`).
pub(crate) fn get() -> Option<TaskRef> {
    with(TaskRef::clone)
}

impl TaskRef {
    /// Runs `f` with this task as the current task, restoring the previous
    /// one afterwards (also if `f` unwinds).
    pub(crate) fn run_as<R>(&self, f: impl FnOnce() -> R) -> R {
        /// Restores the previous current task.
        struct Restore(Option<NonNull<Header>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(Some(self.as_ptr()))));
        f()
    }
}
