//! The thread-local pointer to the runtime running on this thread.
//!
//! It is set for the duration of `block_on` (and of the runtime's drop) and
//! is how free functions (`spawn`, `current_task`, the checkpoints) and
//! same-thread wakes find the loop. It never owns the runtime.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use super::executor::Core;
use super::shared::Shared;
use crate::task::TaskRef;
use crate::task::raw::Header;

thread_local! {
    /// The core of the runtime inside `block_on` on this thread, or null.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
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

/// Queues `f` on the running loop's callback queue; outside a runtime it
/// runs at once, as there is no loop to run it later.
pub(crate) fn call_soon(f: Box<dyn FnOnce()>) {
    let mut f = Some(f);
    with_core(|core| core.call_soon(f.take().expect("callback taken twice")));
    if let Some(f) = f {
        f();
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
