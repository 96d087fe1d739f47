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
//! * **Self-wakes are deferred.** While the executor polls a task
//!   ([`TaskRef::poll_as`]), a wake of that same task on this thread (a
//!   yield, a combinator's child waking its parent) only sets its scheduled
//!   bit and is recorded here; the executor queues the task when the poll
//!   returns `Pending`. That is asyncio's order (a task's next step is
//!   scheduled when its current step ends) and skips the scheduler's
//!   lookup of the runtime on the hottest path. Wakes from other tasks or
//!   threads take the normal path.
//! * **The await-site override.** A crate function written as an `async`
//!   body captures its caller's location and polls the body under
//!   [`with_await_site`]: the checkpoints parking inside record the user's
//!   `.await` rather than a line of the crate. The outermost override wins
//!   (a crate function awaiting another keeps the user's site), and it is
//!   cleared when that poll returns, also on unwinding. A crate function
//!   that polls user code (a task group's body) lifts the override for that
//!   poll ([`without_await_site`]), so the user's own awaits name
//!   themselves.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::ptr::NonNull;

use super::TaskRef;
use super::header::Header;

/// What this thread is running.
struct Current {
    /// The task being polled or dropped on this thread, or `None`.
    task: Cell<Option<NonNull<Header>>>,
    /// Whether the executor is *polling* `task` (self-wakes may be
    /// deferred), and whether one was.
    self_wake: Cell<SelfWake>,
    /// The user's await site for the checkpoints parking now, set by
    /// [`with_await_site`].
    site: Cell<Option<&'static Location<'static>>>,
}

/// The self-wake state of the current poll.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SelfWake {
    /// Not in an executor's poll (a drop, or a nested `run_as`): wakes take
    /// the normal path.
    Off,
    /// Polling; no self-wake yet.
    Armed,
    /// Polling; the task woke itself, the executor must queue it.
    Deferred,
}

thread_local! {
    /// The task being polled on this thread.
    static CURRENT: Current = const {
        Current {
            task: Cell::new(None),
            self_wake: Cell::new(SelfWake::Off),
            site: Cell::new(None),
        }
    };
}

/// A wake of the task at `ptr`, whose scheduled bit the caller just set:
/// if it is the task being polled here, the wake is deferred to the end of
/// the poll (returns `true`; the caller must not schedule it).
#[inline]
pub(super) fn defer_self_wake(ptr: NonNull<Header>) -> bool {
    CURRENT
        .try_with(|c| {
            if c.self_wake.get() == SelfWake::Armed && c.task.get() == Some(ptr) {
                c.self_wake.set(SelfWake::Deferred);
                true
            } else {
                c.self_wake.get() == SelfWake::Deferred && c.task.get() == Some(ptr)
            }
        })
        .unwrap_or(false)
}

/// Runs `f` with the current task, if there is one.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&TaskRef) -> R) -> Option<R> {
    with_site(|task, _| f(task))
}

/// [`with`], also passing the await-site override, if one is set.
#[inline]
pub(crate) fn with_site<R>(
    f: impl FnOnce(&TaskRef, Option<&'static Location<'static>>) -> R,
) -> Option<R> {
    let (ptr, site) = CURRENT.try_with(|c| (c.task.get(), c.site.get())).ok()?;
    // SAFETY: by the ground rules, a pointer in the slot is a live task of
    // this thread whose reference is held by `run_as`'s caller for longer
    // than this call. The `TaskRef` borrows that reference: `ManuallyDrop`
    // keeps it from being released.
    let task = ManuallyDrop::new(unsafe { TaskRef::from_raw(ptr?) });
    Some(f(&task, site))
}

/// Runs `f` (a poll) with `site` as the await site of every checkpoint
/// that parks in it, unless an outer call already set one.
#[inline]
pub(crate) fn with_await_site<R>(site: &'static Location<'static>, f: impl FnOnce() -> R) -> R {
    /// Clears the override this call set.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.site.set(None));
        }
    }
    let outermost = CURRENT
        .try_with(|c| c.site.get().is_none() && c.site.replace(Some(site)).is_none())
        .unwrap_or(false);
    // Not `then_some(Clear)`: that would build, and so drop, a `Clear` when
    // this call is not the outermost.
    let _clear = if outermost { Some(Clear) } else { None };
    f()
}

/// Runs `f` (a poll of user code inside a crate function: a task group's
/// body) with no await-site override, restoring the override after.
#[inline]
pub(crate) fn without_await_site<R>(f: impl FnOnce() -> R) -> R {
    /// Puts the override back.
    struct Restore(Option<&'static Location<'static>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.site.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.try_with(|c| c.site.take()).ok().flatten());
    f()
}

/// A counted handle to the current task (asyncio's `current_task()`).
pub(crate) fn get() -> Option<TaskRef> {
    with(TaskRef::clone)
}

impl TaskRef {
    /// Runs `f` with this task as the current task, restoring the previous
    /// one afterwards (also if `f` unwinds).
    pub(crate) fn run_as<R>(&self, f: impl FnOnce() -> R) -> R {
        self.enter(SelfWake::Off, f).0
    }

    /// [`run_as`](Self::run_as) for the executor's poll: also says whether
    /// the task woke itself during `f` (the wake was deferred: queue the
    /// task if the poll returned `Pending`).
    pub(crate) fn poll_as<R>(&self, f: impl FnOnce() -> R) -> (R, bool) {
        self.enter(SelfWake::Armed, f)
    }

    /// Makes this the current task in `mode` for `f`, restoring the
    /// previous state afterwards (also if `f` unwinds).
    fn enter<R>(&self, mode: SelfWake, f: impl FnOnce() -> R) -> (R, bool) {
        /// Restores the previous current task.
        struct Restore(Option<NonNull<Header>>, SelfWake);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|c| {
                    c.task.set(self.0);
                    c.self_wake.set(self.1);
                });
            }
        }
        let _restore = CURRENT.with(|c| {
            Restore(
                c.task.replace(Some(self.as_ptr())),
                c.self_wake.replace(mode),
            )
        });
        let r = f();
        let deferred = CURRENT.with(|c| c.self_wake.get()) == SelfWake::Deferred;
        (r, deferred)
    }
}

pin_project_lite::pin_project! {
    /// A crate future polled under its caller's await site
    /// ([`with_await_site`]): what a crate function returns instead of an
    /// `async fn`'s future, so a task dump names the user's `.await`.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub(crate) struct AtSite<F> {
        #[pin]
        future: F,
        site: &'static Location<'static>,
    }
}

impl<F: std::future::Future> std::future::Future for AtSite<F> {
    type Output = F::Output;

    #[inline]
    #[track_caller]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        with_await_site(this.site, || this.future.poll(cx))
    }
}

/// `future`, polled under the caller's location as its await site.
#[inline]
#[track_caller]
pub(crate) fn at_caller<F: std::future::Future>(future: F) -> AtSite<F> {
    AtSite {
        future,
        site: Location::caller(),
    }
}
