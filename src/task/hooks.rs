//! The hooks other layers hang on a task, and the one waker helper they all
//! use:
//!
//! * [`CancelWaker`]: a waker stored in a task so that `cancel()` of that
//!   task wakes it (a checkpoint pending under a combinator).
//! * [`DoneWatcher`]: somebody to notify when the task completes (what
//!   `wait`, `as_completed` and task groups are built on).
//! * [`Label`]: a `Send` copy of a task's id, name and spawn site, for a
//!   thread other than the loop's (debug mode's watchdog).
//! * [`WakerSlot`]: "keep the waker current" (replace it only when it would
//!   not wake the same task), and [`wake_caught`], a wake whose panic is
//!   caught and logged so that it cannot swallow the wakes after it.
//!
//! This module knows nothing of what the hooks are for; the cancellation
//! policy is `cancel`'s, the waiting policy `wait`'s.

use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Mutex;
use std::task::Waker;

use super::TaskRef;
use super::error::panic_message;

/// Notified once when a watched task completes.
pub(crate) trait DoneWatcher {
    /// The task registered under `index` completed.
    fn task_done(&self, index: usize);
}

/// What identifies a task, readable from any thread: debug mode hangs one on
/// each task (`Extras::label`) for its watchdog, which must never touch the
/// task itself.
///
/// # Ground rules
///
/// * The loop thread writes the name ([`TaskRef::set_name`] does); any
///   thread reads it. The lock is held only to copy the name in or out.
#[derive(Debug)]
pub(crate) struct Label {
    /// The task's id.
    pub(crate) id: u64,
    /// Where the task was spawned.
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    /// The name given with `set_name` (`None`: the default `Task-<id>`).
    name: Mutex<Option<Box<str>>>,
}

impl Label {
    /// The label of task `id`, spawned at `spawned_at`, named `name`.
    pub(crate) fn new(
        id: u64,
        spawned_at: Option<&'static Location<'static>>,
        name: Option<&str>,
    ) -> Label {
        Label {
            id,
            spawned_at,
            name: Mutex::new(name.map(Box::from)),
        }
    }

    /// Records a new name.
    pub(crate) fn set_name(&self, name: &str) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.into());
    }

    /// The task's name, as [`TaskRef::name`] gives it.
    pub(crate) fn name(&self) -> String {
        let name = self.name.lock().unwrap_or_else(|e| e.into_inner());
        name.as_deref()
            .map_or_else(|| format!("Task-{}", self.id), str::to_owned)
    }
}

/// A waker stored in a task's `cancel_wakers` until this is dropped.
#[derive(Debug)]
pub(crate) struct CancelWaker {
    /// The task the waker is stored in.
    task: TaskRef,
    /// Its key in the task's `cancel_wakers`.
    key: usize,
}

impl CancelWaker {
    /// Stores `waker` in `task`, to be woken by its `cancel()`.
    pub(crate) fn register(task: &TaskRef, waker: &Waker) -> CancelWaker {
        let key = task
            .header()
            .with_extras(|e| e.cancel_wakers.insert(waker.clone()));
        CancelWaker {
            task: task.clone(),
            key,
        }
    }

    /// Whether the registration is in `task`.
    pub(crate) fn is_in(&self, task: &TaskRef) -> bool {
        self.task == *task
    }

    /// Replaces the stored waker unless it already wakes the same task.
    pub(crate) fn update(&self, waker: &Waker) {
        // Swap inside, drop outside: a waker's destructor may run arbitrary
        // code, which must not find the extras taken out.
        let old = self.task.header().peek_extras(|e| {
            let w = e?.cancel_wakers.get_mut(self.key)?;
            (!w.will_wake(waker)).then(|| std::mem::replace(w, waker.clone()))
        });
        drop(old);
    }
}

impl Drop for CancelWaker {
    fn drop(&mut self) {
        let old = self
            .task
            .header()
            .peek_extras(|e| e.and_then(|e| e.cancel_wakers.try_remove(self.key)));
        drop(old);
    }
}

/// One waiter's waker, kept current: the ground rule every primitive
/// follows instead of writing its own.
///
/// * [`register`](Self::register) on every pending poll: the stored waker is
///   replaced only when it would not wake the same task (no clone, no
///   atomic operation on the common path).
/// * [`wake`](Self::wake) takes the waker out before waking it, so the woken
///   code may register again; a panic in the wake is caught and logged.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot {
    /// The waiter's waker, if one is registered.
    waker: Option<Waker>,
}

impl From<Option<Waker>> for WakerSlot {
    fn from(waker: Option<Waker>) -> WakerSlot {
        WakerSlot { waker }
    }
}

impl WakerSlot {
    /// An empty slot.
    pub(crate) const fn new() -> WakerSlot {
        WakerSlot { waker: None }
    }

    /// Makes `waker` the one to wake, unless the stored one wakes the same
    /// task. Returns the replaced waker for the caller to drop after it has
    /// released its borrows (a waker's destructor may run arbitrary code).
    #[must_use = "drop the replaced waker after releasing your borrows"]
    pub(crate) fn register(&mut self, waker: &Waker) -> Option<Waker> {
        match &self.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => self.waker.replace(waker.clone()),
        }
    }

    /// A clone of the waker, to wake after releasing a borrow of the slot.
    pub(crate) fn clone_waker(&self) -> Option<Waker> {
        self.waker.clone()
    }

    /// Takes the waker out.
    pub(crate) fn take(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// Wakes `waker`; a panic inside (a foreign waker's code) is caught and
/// logged, so that the wakes after it still happen.
#[inline]
pub(crate) fn wake_caught(waker: Waker) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
        log_panic("a waker", &*payload);
    }
}

/// Runs `f` (user code: a destructor, a callback, a wake), catching and
/// logging a panic, as asyncio's loop logs an exception in a callback.
#[inline]
pub(crate) fn run_caught(what: &str, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        log_panic(what, &*payload);
    }
}

/// Logs a caught panic of `what`.
pub(crate) fn log_panic(what: &str, payload: &(dyn std::any::Any + Send)) {
    let msg = panic_message(payload);
    crate::task::report(
        log::Level::Error,
        format_args!(
            "taskloop: {what} panicked: {}",
            msg.as_deref().unwrap_or("<non-string panic payload>")
        ),
    );
}

/// Reports a diagnostic at `level` (warnings and errors of the runtime):
/// through `log` when a logger is installed, else on standard error, as
/// asyncio's warnings reach stderr without any logging set up.
pub(crate) fn report(level: log::Level, msg: std::fmt::Arguments<'_>) {
    if log::max_level() == log::LevelFilter::Off {
        // No logger installed (its maximum level is still the default).
        let text = msg.to_string();
        let text = text.strip_prefix("taskloop: ").unwrap_or(&text);
        eprintln!("taskloop: {}: {text}", level.as_str().to_ascii_lowercase());
    } else {
        log::log!(level, "{msg}");
    }
}
