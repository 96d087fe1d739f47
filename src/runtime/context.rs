//! The thread-local pointer to the runtime running on this thread.
//!
//! It is set for the duration of `block_on` (and of the runtime's drop) and
//! is how free functions (`spawn`, `current_task`, the checkpoints) and
//! same-thread wakes find the loop. It never owns the runtime.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::executor::{Core, Soon};
use super::shared::Shared;
use crate::task::TaskRef;
use crate::task::raw::Header;

thread_local! {
    /// The core of the runtime inside `block_on` on this thread, or null.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
    /// The callback queues of the runtimes alive on this thread, by their
    /// `Shared` address, so a callback can be queued while its loop is idle.
    static RUNTIMES: RefCell<Vec<(usize, Weak<Soon>)>> = const { RefCell::new(Vec::new()) };
}

/// Records a new runtime of this thread.
pub(crate) fn register(shared: &Arc<Shared>, soon: &Rc<Soon>) {
    let key = Arc::as_ptr(shared) as usize;
    RUNTIMES.with(|r| r.borrow_mut().push((key, Rc::downgrade(soon))));
}

/// Forgets a runtime being dropped.
pub(crate) fn unregister(shared: &Arc<Shared>) {
    let key = Arc::as_ptr(shared) as usize;
    let _ = RUNTIMES.try_with(|r| r.borrow_mut().retain(|(k, _)| *k != key));
}

/// Runs `f` with the running runtime's core, if there is one.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    CORE.try_with(|c| {
        let p = c.get();
        // SAFETY: a non-null pointer was set by an `Enter` guard that is
        // still alive and borrows the core, so the core outlives this call.
        (!p.is_null()).then(|| f(unsafe { &*p }))
    })
    .ok()
    .flatten()
}

/// Whether a runtime is running on this thread.
pub(crate) fn is_entered() -> bool {
    CORE.try_with(|c| !c.get().is_null()).unwrap_or(false)
}

/// The task being polled on this thread, if any.
#[inline]
pub(crate) fn current_task() -> Option<NonNull<Header>> {
    with_core(|core| core.current()).flatten()
}

/// Pushes a task onto the local run queue if this thread runs the runtime
/// that owns `shared`; returns false (without calling `make`) otherwise.
#[inline]
pub(crate) fn push_local(shared: &Arc<Shared>, make: impl FnOnce() -> TaskRef) -> bool {
    with_core(|core| {
        if core.owns(shared) {
            core.push(make());
            true
        } else {
            false
        }
    })
    .unwrap_or(false)
}

/// Queues `f` on the callback queue of the runtime that owns `shared`,
/// running or not. If that runtime is gone, `f` is dropped (logged): there is
/// no loop left to run it.
pub(crate) fn call_soon(shared: &Arc<Shared>, f: Box<dyn FnOnce()>) {
    let key = Arc::as_ptr(shared) as usize;
    let soon = RUNTIMES
        .try_with(|r| {
            r.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten();
    match soon {
        Some(soon) => soon.push(f),
        None => log::warn!("taskloop: a done-callback was dropped: its runtime no longer exists"),
    }
}

/// Marks `core` as running on this thread until dropped.
pub(crate) struct Enter<'a> {
    /// What was there before (always null: nesting is refused).
    prev: *const Core,
    /// Ties the guard to the borrow of the core.
    _core: std::marker::PhantomData<&'a Core>,
}

/// Sets `core` as this thread's running runtime.
pub(crate) fn enter(core: &Core) -> Enter<'_> {
    let prev = CORE.with(|c| c.replace(core));
    Enter {
        prev,
        _core: std::marker::PhantomData,
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let _ = CORE.try_with(|c| c.set(self.prev));
    }
}
