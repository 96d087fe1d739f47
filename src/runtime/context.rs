//! The thread-local handle to the runtime running on this thread.
//!
//! It is set for the duration of `block_on` (and of the runtime's drop) and
//! is how free functions (`spawn`, the timers) and same-thread wakes find
//! the loop. It holds a counted `Rc` of the core, so a core found here is
//! alive for as long as it is used; it never decides anything itself.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::executor::{Core, Soon};
use super::shared::Shared;
use crate::task::{Notified, TaskRef};

thread_local! {
    /// The core of the runtime inside `block_on` on this thread.
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// The callback queues of the runtimes alive on this thread, by the
    /// address of their scheduler, so a callback can be queued while its
    /// loop is idle.
    static RUNTIMES: RefCell<Vec<(usize, Weak<Soon>)>> = const { RefCell::new(Vec::new()) };
}

/// Records a new runtime of this thread.
pub(crate) fn register(owner: usize, soon: &Rc<Soon>) {
    RUNTIMES.with(|r| r.borrow_mut().push((owner, Rc::downgrade(soon))));
}

/// Forgets a runtime being dropped.
pub(crate) fn unregister(owner: usize) {
    let _ = RUNTIMES.try_with(|r| r.borrow_mut().retain(|(k, _)| *k != owner));
}

/// The running runtime's core, if there is one.
#[inline]
pub(crate) fn core() -> Option<Rc<Core>> {
    CORE.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Runs `f` with the running runtime's core, if there is one.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    core().map(|core| f(&core))
}

/// The running runtime's reactor, for an I/O source to register with.
pub(crate) fn reactor() -> Option<Rc<std::cell::RefCell<crate::reactor::Reactor>>> {
    with_core(|c| c.driver.reactor.clone())
}

/// Whether a runtime is running on this thread.
pub(crate) fn is_entered() -> bool {
    CORE.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// Pushes a task onto the local run queue if this thread runs the runtime
/// whose scheduler is `shared`; gives it back otherwise.
#[inline]
pub(crate) fn push_local(shared: &Shared, task: Notified) -> Result<(), Notified> {
    // One thread-local lookup; the borrow is held only for the push (no user
    // code runs in it), so no `Rc` is cloned on this hot path.
    let mut task = Some(task);
    let pushed = CORE
        .try_with(|c| match c.try_borrow().as_deref() {
            Ok(Some(core)) if core.is_scheduler(shared) => {
                let task = task.take().expect("taken once");
                core.push(core.registry.assert_owner(task));
                true
            }
            _ => false,
        })
        .unwrap_or(false);
    match task {
        Some(task) if !pushed => Err(task),
        _ => Ok(()),
    }
}

/// Queues `f` on the callback queue of the runtime identified by `owner`,
/// running or not. If that runtime is gone, `f` is dropped (logged): there is
/// no loop left to run it.
pub(crate) fn call_soon(owner: usize, task: TaskRef, f: crate::task::DoneCallback) {
    let soon = RUNTIMES
        .try_with(|r| {
            r.borrow()
                .iter()
                .find(|(k, _)| *k == owner)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten();
    match soon {
        Some(soon) => soon.push(task, f),
        None => crate::task::report(
            log::Level::Warn,
            format_args!("taskloop: a done-callback was dropped: its runtime no longer exists"),
        ),
    }
}

/// Marks a core as running on this thread until dropped.
pub(crate) struct Enter {
    /// What was there before (a runtime being dropped inside another's task).
    prev: Option<Rc<Core>>,
    /// The shuffling seed panic reports named before.
    prev_seed: Option<u64>,
}

/// Sets `core` as this thread's running runtime.
pub(crate) fn enter(core: &Rc<Core>) -> Enter {
    let prev = CORE.with(|c| c.replace(Some(core.clone())));
    let prev_seed = crate::task::set_report_seed(core.config.shuffle);
    Enter { prev, prev_seed }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enter").finish_non_exhaustive()
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CORE.try_with(|c| c.replace(prev));
        crate::task::set_report_seed(self.prev_seed);
    }
}
