//! The runtime's task functions: [`spawn`], [`try_spawn`], [`all_tasks`],
//! and done-callbacks, which run on the loop's callback FIFO.

use std::fmt;
use std::future::Future;

use std::rc::{Rc, Weak};

use super::context;
use super::executor::Core;
use crate::task::{Task, TaskRef};

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

/// Spawns `future` as a task named `name`: asyncio's `create_task(coro,
/// name=...)`. The name shows in `Debug`, in debug-mode reports and in task
/// group failures.
///
/// # Panics
/// Outside a running runtime, as [`spawn`].
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let task = taskloop::spawn_named("fetch mirror list", async { 3 });
/// assert_eq!(task.name(), "fetch mirror list");
/// # });
/// ```
#[track_caller]
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let task = spawn(future);
    task.set_name(name);
    task
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
    match context::core() {
        Some(core) => Ok(core.spawn(future, location)),
        None => Err(NoRuntime {
            what: "taskloop::spawn",
        }),
    }
}

/// A live dump of the current runtime's pending tasks as a tree
/// ([`Runtime::dump`](crate::Runtime::dump)); empty outside a runtime.
///
/// # Examples
/// ```
/// taskloop::run(async {
///     let _w = taskloop::spawn_named("worker", std::future::pending::<()>());
///     let dump = taskloop::dump();
///     assert_eq!(dump.len(), 2, "the main task and the worker");
///     assert_eq!(dump.tasks()[0].state, taskloop::TaskState::Running);
/// });
/// ```
pub fn dump() -> super::TaskDump {
    context::with_core(super::TaskDump::of).unwrap_or_default()
}

/// Every task of the current runtime that is not done, in no particular
/// order: asyncio's `all_tasks()`. Empty outside a runtime.
pub fn all_tasks() -> Vec<TaskRef> {
    context::with_core(|core| core.all_tasks()).unwrap_or_default()
}

impl TaskRef {
    /// Registers `f` to run once the task is done, with a reference to it
    /// (asyncio's `add_done_callback`).
    ///
    /// Callbacks never run inline: they join the loop's FIFO (shared with
    /// ready tasks, as asyncio's `call_soon`) when the task completes, or at
    /// once if it is already done, and run in registration order. If the
    /// runtime is dropped first, they are dropped without running. A
    /// callback that panics is logged; the loop goes on.
    pub fn add_done_callback(&self, f: impl FnOnce(&TaskRef) + 'static) {
        if self.is_done() {
            context::call_soon(self.owner_addr(), self.clone(), Box::new(f));
        } else {
            self.header()
                .with_extras(|e| e.live.callbacks.push(Box::new(f)));
        }
    }
}

/// A handle that spawns onto one runtime from anywhere on its thread, also
/// while the loop is idle (the tasks start at the next `block_on`).
///
/// It does not keep the runtime alive: once the runtime is dropped,
/// [`spawn`](Self::spawn) reports [`NoRuntime`]. With the default `futures`
/// feature it implements `futures::task::LocalSpawn`, so the ecosystem's
/// spawning helpers (`LocalSpawnExt::spawn_local`) work with taskloop.
///
/// # Examples
/// ```
/// let rt = taskloop::Runtime::new()?;
/// let spawner = rt.spawner();
/// let task = spawner.spawn(async { 7 }).unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 7);
/// drop(rt);
/// assert!(spawner.spawn(async {}).is_err());
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Spawner {
    /// The runtime, if it still exists.
    core: Weak<Core>,
}

impl Spawner {
    pub(crate) fn new(core: &Rc<Core>) -> Spawner {
        Spawner {
            core: Rc::downgrade(core),
        }
    }

    /// The spawner of the runtime running on this thread.
    ///
    /// # Errors
    /// [`NoRuntime`] outside a running runtime.
    pub fn current() -> Result<Spawner, NoRuntime> {
        context::core().map(|c| Spawner::new(&c)).ok_or(NoRuntime {
            what: "taskloop::Spawner::current",
        })
    }

    /// Spawns `future` on the runtime: [`spawn`](crate::spawn) through a handle.
    ///
    /// # Errors
    /// [`NoRuntime`] if the runtime was dropped.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<Task<F::Output>, NoRuntime>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = std::panic::Location::caller();
        match self.core.upgrade() {
            Some(core) => Ok(core.spawn(future, location)),
            None => Err(NoRuntime {
                what: "Spawner::spawn (the runtime was dropped)",
            }),
        }
    }

    /// Whether the runtime still exists.
    pub fn is_alive(&self) -> bool {
        self.core.strong_count() > 0
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// A runtime function was called on a thread where no taskloop runtime is
/// running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRuntime {
    /// The function that needed a runtime.
    pub(crate) what: &'static str,
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
