//! Tasks: the allocation ([`raw`]), its header and state words, the handles
//! ([`Task`], [`TaskRef`]), the registry of a runtime's live tasks, the
//! current task, and the hooks other layers hang on a task.
//!
//! This is the bottom layer: it owns a task's memory, its reference count,
//! its waker and its completion. It imports nothing from the layers above
//! (cancellation policy, the runtime, the primitives) and never decides
//! *when* a task runs: that is the executor's job. Every `unsafe` line of
//! the crate lives here.

mod await_site;
mod current;
mod error;
mod handle;
mod header;
mod hooks;
mod raw;
mod registry;
pub(crate) mod state;

pub use error::{Cancelled, InvalidStateError, TaskError};
pub use handle::{Task, TaskId, TaskRef};

pub(crate) use await_site::{AwaitSite, WaitKind};
pub(crate) use error::panic_message;
pub(crate) use handle::take_join_slot;
pub(crate) use header::{DoneCallback, Header};
pub(crate) use hooks::{
    CancelWaker, DoneWatcher, Label, WakerSlot, report, run_caught, wake_caught,
};
pub(crate) use raw::{Notified, Outcome, is_root_poll_site, poll_caught};
pub(crate) use registry::{Registry, Schedule};

/// The task being polled right now, if any: asyncio's `current_task()`.
///
/// Inside [`Runtime::block_on`](crate::Runtime::block_on) and
/// [`run`](crate::run) the main future is a task too (`Task-1` in a fresh
/// runtime).
pub fn current_task() -> Option<TaskRef> {
    current::get()
}

/// Crate-internal access to the current task without a counted clone.
pub(crate) mod current_task {
    pub(crate) use super::current::{at_caller, with, with_site, without_await_site};
}

/// Logs at error level a panic nobody looked at (asyncio's "Task exception
/// was never retrieved"), when its last chance to be looked at goes.
#[inline]
pub(crate) fn report_unretrieved_panic(task: &TaskRef) {
    use state::Flags;
    let f = task.header().flags.get();
    if f.outcome_is(Flags::OUT_PANICKED) && !f.contains(Flags::RETRIEVED) {
        let _ = UNRETRIEVED_PANICS.try_with(|n| n.set(n.get() + 1));
        crate::task::report(
            log::Level::Error,
            format_args!(
                "{} panicked and its outcome was never retrieved (the handle was dropped without awaiting it){}",
                task.name(),
                SeedNote(report_seed())
            ),
        );
    }
}

std::thread_local! {
    /// The schedule-shuffling seed of the runtime entered on this thread,
    /// named in panic reports so that the run can be replayed.
    static REPORT_SEED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    /// Unretrieved task panics reported on this thread so far, for a test
    /// harness to fail on.
    static UNRETRIEVED_PANICS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Sets the seed that panic reports on this thread name; returns the
/// previous one (the runtime's context restores it on leaving).
pub(crate) fn set_report_seed(seed: Option<u64>) -> Option<u64> {
    REPORT_SEED.try_with(|s| s.replace(seed)).ok().flatten()
}

/// The seed panic reports on this thread name, if shuffling is on.
pub(crate) fn report_seed() -> Option<u64> {
    REPORT_SEED.try_with(|s| s.get()).ok().flatten()
}

/// The error of a task whose poll panicked (the task being polled is the
/// current task). Under schedule shuffling it also names the task and the
/// seed, so that the run can be replayed. Out of line: a panic is cold, and
/// the poll's code stays as it was.
#[cold]
#[inline(never)]
pub(crate) fn panicked_in_poll(payload: Box<dyn std::any::Any + Send>) -> TaskError {
    if let Some(seed) = report_seed() {
        let name = current::with(TaskRef::name).unwrap_or_else(|| "a task".to_owned());
        crate::task::report(
            log::Level::Error,
            format_args!("taskloop: {name} panicked{}", SeedNote(Some(seed))),
        );
    }
    TaskError::panicked(payload)
}

/// How many unretrieved task panics were reported on this thread.
pub(crate) fn unretrieved_panics() -> u64 {
    UNRETRIEVED_PANICS.try_with(|n| n.get()).unwrap_or(0)
}

/// Displays "; the schedule was shuffled with seed N …" for a seed, nothing
/// without one.
pub(crate) struct SeedNote(pub(crate) Option<u64>);

impl std::fmt::Display for SeedNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(seed) => write!(
                f,
                "; the schedule was shuffled with seed {seed} (replay with TASKLOOP_SEED={seed})"
            ),
            None => Ok(()),
        }
    }
}
