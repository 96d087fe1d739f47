//! Tasks: the allocation ([`raw`]), its state words ([`state`]), the handles
//! ([`Task`], [`TaskRef`]) and the asyncio task functions ([`spawn`],
//! [`current_task`], [`all_tasks`]).
//!
//! This module owns a task's memory and outcome. It never decides *when* a
//! task runs: that is the executor's job (`runtime::executor`).

mod error;
mod handle;
pub(crate) mod raw;
pub(crate) mod state;

pub(crate) use error::panic_message;
pub use error::{InvalidStateError, TaskError};
pub use handle::{Task, TaskId, TaskRef};

use std::fmt;
use std::future::Future;

use crate::runtime::context;
use state::Flags;

/// Spawns `future` as a new task on the current runtime and returns its
/// handle: asyncio's `create_task`.
///
/// The task starts at a later turn of the loop (never inside this call), in
/// FIFO order with the other ready tasks. The future need not be `Send`.
/// Dropping the handle detaches the task; it keeps running.
///
/// # Panics
/// Outside a running runtime (not inside [`Runtime::block_on`] or
/// [`run`](crate::run)). Use [`Runtime::spawn`] to spawn from outside, or
/// [`try_spawn`] for an error instead of a panic.
///
/// [`Runtime::block_on`]: crate::Runtime::block_on
/// [`Runtime::spawn`]: crate::Runtime::spawn
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let task = taskloop::spawn(async { "done" });
/// assert_eq!(task.await.unwrap(), "done");
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match try_spawn(future) {
        Ok(task) => task,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`spawn`], but returns an error instead of panicking outside a runtime.
///
/// # Errors
/// [`NoRuntime`] when no taskloop runtime is running on this thread.
#[track_caller]
pub fn try_spawn<F>(future: F) -> Result<Task<F::Output>, NoRuntime>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = std::panic::Location::caller();
    context::with_core(|core| core.spawn(future, location)).ok_or(NoRuntime {
        what: "taskloop::spawn",
    })
}

/// The task being polled right now, if any: asyncio's `current_task()`.
///
/// Inside [`Runtime::block_on`](crate::Runtime::block_on) and
/// [`run`](crate::run) the main future is a task too (`Task-1` in a fresh
/// runtime).
pub fn current_task() -> Option<TaskRef> {
    // SAFETY: the executor keeps the current task alive while polling it,
    // and this is its loop thread.
    context::current_task().map(|ptr| unsafe { TaskRef::clone_from_ptr(ptr) })
}

/// Every task of the current runtime that is not done, in no particular
/// order: asyncio's `all_tasks()`. Empty outside a runtime.
pub fn all_tasks() -> Vec<TaskRef> {
    context::with_core(|core| core.all_tasks()).unwrap_or_default()
}

/// Logs at error level a panic nobody looked at (asyncio's "Task exception
/// was never retrieved"), when its last chance to be looked at goes.
#[inline]
pub(crate) fn report_unretrieved_panic(task: &TaskRef) {
    let f = task.header().flags.get();
    if f.contains(Flags::OUT_PANICKED) && !f.contains(Flags::RETRIEVED) {
        log::error!(
            "{} panicked and its outcome was never retrieved (the handle was dropped without awaiting it)",
            task.name()
        );
    }
}

/// A runtime function was called on a thread where no taskloop runtime is
/// running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRuntime {
    /// The function that needed a runtime.
    what: &'static str,
}

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was called outside a taskloop runtime: run the code inside \
             taskloop::run(main) or Runtime::block_on, or spawn from outside \
             with Runtime::spawn",
            self.what
        )
    }
}

impl std::error::Error for NoRuntime {}
