//! Live task dumps: the runtime's pending tasks as a tree, children of task
//! groups under the task running the group, printed like `pstree`
//! (asyncio 3.14's `python -m asyncio pstree`).
//!
//! A dump is taken on the loop thread from the registry of live tasks and
//! the list of task groups. The only thing recorded on the hot path for it
//! is each task's await site: a parking checkpoint stores its
//! `#[track_caller]` location and kind in one word of the task header
//! (`task::AwaitSite`). Which task a task awaits is found at dump time,
//! from the join wakers. In debug mode each task also carries its spawn
//! site and spawn time (the age), which debug mode records anyway.
//!
//! # Ground rules
//!
//! * Groups register a `Weak` view of themselves when they open; a dump
//!   skips the views that are gone, and registering prunes them when the
//!   list has doubled since the last prune, so the list stays proportional
//!   to the live groups.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::rc::Weak;
use std::time::{Duration, Instant};

use super::context;
use super::executor::Core;
use crate::task::state::Flags;
use crate::task::{TaskId, TaskRef, WaitKind};

/// What a dump needs from a task group: its parent and its children.
pub(crate) trait GroupMembers {
    /// The task running the group's body.
    fn parent(&self) -> TaskRef;
    /// Every child spawned in the group (done or not).
    fn children(&self) -> Vec<TaskRef>;
}

/// The task groups of one runtime, for its dumps.
#[derive(Default)]
pub(crate) struct Groups {
    /// Views of the groups, some possibly gone.
    views: RefCell<Vec<Weak<dyn GroupMembers>>>,
    /// The length after the last prune.
    pruned_len: std::cell::Cell<usize>,
}

impl Groups {
    /// Adds a group.
    pub(crate) fn register(&self, group: Weak<dyn GroupMembers>) {
        let mut views = self.views.borrow_mut();
        if views.len() >= 2 * self.pruned_len.get().max(16) {
            views.retain(|v| v.strong_count() > 0);
            self.pruned_len.set(views.len());
        }
        views.push(group);
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Groups")
            .field("views", &self.views.borrow().len())
            .finish()
    }
}

/// Registers a task group with the running runtime (a no-op outside one).
pub(crate) fn register_group(group: Weak<dyn GroupMembers>) {
    context::with_core(|core| core.groups.register(group));
}

/// What a task is doing when the dump is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled: the task that took the dump.
    Running,
    /// Spawned, never polled yet.
    NotStarted,
    /// Woken, waiting in the run queue for its turn.
    Ready,
    /// Suspended at an await, waiting for a wake.
    Waiting,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "running",
            TaskState::NotStarted => "not started",
            TaskState::Ready => "ready",
            TaskState::Waiting => "waiting",
        })
    }
}

/// What a suspended task waits on: [`TaskInfo::waits_on`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitsOn {
    /// The handle of this task (it awaits the [`Task`](crate::Task)
    /// directly, or through `wait_for` / `shield`).
    Task(TaskId),
    /// Task handles under a combinator: `wait`, `as_completed`, `gather`,
    /// a task group's end.
    Tasks,
    /// A timer: `sleep`, `sleep_until`, an interval's tick.
    Timer,
    /// Its turn after `yield_now` (the task is ready).
    Yield,
    /// A synchronisation primitive or channel: `Event`, `Lock`,
    /// `Semaphore`, `Condition`, `Barrier`, a queue, a channel, a promise.
    Sync,
    /// A socket, pipe or standard stream.
    Io,
    /// A job on the blocking pool (`to_thread`, `spawn_blocking`).
    Blocking,
    /// A signal, or a child process's exit.
    Os,
    /// A future of another crate made a checkpoint by
    /// [`cancellable`](crate::cancellable).
    Foreign,
    /// Something outside every checkpoint: the task's last poll returned
    /// `Pending` from a future that knows nothing of taskloop, so no await
    /// site was recorded (a cancellation reaches it only by the executor's
    /// fallback, which drops the future).
    Unknown,
}

impl fmt::Display for WaitsOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitsOn::Task(id) => write!(f, "task #{id}"),
            WaitsOn::Tasks => f.write_str("tasks"),
            WaitsOn::Timer => f.write_str("a timer"),
            WaitsOn::Yield => f.write_str("its turn (yield)"),
            WaitsOn::Sync => f.write_str("a sync primitive"),
            WaitsOn::Io => f.write_str("I/O"),
            WaitsOn::Blocking => f.write_str("a blocking job"),
            WaitsOn::Os => f.write_str("a signal or child process"),
            WaitsOn::Foreign => f.write_str("a foreign future (cancellable)"),
            WaitsOn::Unknown => f.write_str("a future outside every checkpoint"),
        }
    }
}

impl WaitsOn {
    /// The dump's view of a checkpoint kind.
    fn of(kind: WaitKind) -> WaitsOn {
        match kind {
            WaitKind::Other => WaitsOn::Foreign,
            WaitKind::Yield => WaitsOn::Yield,
            WaitKind::Timer => WaitsOn::Timer,
            WaitKind::Task => WaitsOn::Tasks,
            WaitKind::Sync => WaitsOn::Sync,
            WaitKind::Io => WaitsOn::Io,
            WaitKind::Blocking => WaitsOn::Blocking,
            WaitKind::Os => WaitsOn::Os,
        }
    }
}

/// One task in a [`TaskDump`], with the tasks of the groups it runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name (`Task-<id>` unless set).
    pub name: String,
    /// What it is doing.
    pub state: TaskState,
    /// Whether it is the main task of `block_on` or `run`.
    pub main: bool,
    /// asyncio's `cancelling()`: cancellation requests outstanding.
    pub cancelling: u32,
    /// Time since it was spawned, on the runtime's clock (debug mode only).
    pub age: Option<Duration>,
    /// Where it was spawned (debug mode only).
    pub spawned_at: Option<&'static Location<'static>>,
    /// Where it is suspended (a waiting or ready task): the `.await` of the
    /// runtime checkpoint its last poll parked at, as `#[track_caller]`
    /// saw it. `None` for a task not started, the running task, or one
    /// waiting outside every checkpoint.
    pub await_site: Option<&'static Location<'static>>,
    /// What it waits on (a waiting or ready task).
    pub waits_on: Option<WaitsOn>,
    /// The pending tasks spawned in task groups this task runs, and those
    /// whose handle it awaits directly (in no group), by id.
    pub children: Vec<TaskInfo>,
}

/// A snapshot of a runtime's pending tasks as a tree:
/// [`Runtime::dump`](crate::Runtime::dump), [`dump`](crate::dump).
///
/// The roots are the tasks neither spawned in a task group nor awaited
/// directly by another task, by id; each task's children are the pending
/// tasks of the groups it runs and the tasks whose handle it awaits.
/// `Display` prints it like `pstree`; the fields are there for tools.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::{task_group, time::sleep, Cancelled, BoxError};
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let _idle = taskloop::spawn_named("idle", sleep(Duration::from_secs(60)));
///     task_group(|tg| async move {
///         tg.spawn_named("child", sleep(Duration::from_secs(1)))?;
///         taskloop::yield_now().await?;
///         let dump = taskloop::dump();
///         println!("{dump}");
///         assert_eq!(dump.len(), 3);
///         let main = &dump.tasks()[0];
///         assert!(main.main);
///         assert_eq!(main.children[0].name, "child");
///         Ok::<_, BoxError>(())
///     })
///     .await?;
///     Ok::<_, BoxError>(())
/// })?;
/// # Ok::<_, BoxError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskDump {
    /// The root tasks, by id.
    roots: Vec<TaskInfo>,
    /// How many tasks the tree holds.
    len: usize,
}

impl TaskDump {
    /// The root tasks (in no task group, awaited by no task), by id.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.roots
    }

    /// How many tasks the dump holds, children included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no task is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the dump of `core`.
    pub(crate) fn of(core: &Core) -> TaskDump {
        let tasks = core.all_tasks();
        let now = core.driver.timers.clock.now();
        let running = crate::task::current_task().map(|t| t.id());
        // Child id -> parent id, from the live groups.
        let mut parent_of: HashMap<TaskId, TaskId> = HashMap::new();
        let views: Vec<_> = core
            .groups
            .views
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for group in views {
            let parent = group.parent();
            if parent.is_done() {
                continue;
            }
            for child in group.children() {
                if !child.is_done() {
                    parent_of.insert(child.id(), parent.id());
                }
            }
        }
        let mut children_of: HashMap<Option<TaskId>, Vec<&TaskRef>> = HashMap::new();
        let live: std::collections::HashSet<TaskId> = tasks.iter().map(TaskRef::id).collect();
        // Awaiter (by address) -> the task whose handle it awaits directly.
        let awaits: HashMap<usize, TaskId> = tasks
            .iter()
            .filter_map(|t| Some((t.awaiter_addr()?, t.id())))
            .collect();
        // A task awaited directly by another, and in no group, is shown
        // under its awaiter; an edge that would close a cycle (tasks
        // awaiting each other: a deadlock) is left out, so every task is
        // still reached from a root.
        let id_of: HashMap<usize, TaskId> = tasks.iter().map(|t| (t.addr(), t.id())).collect();
        let mut awaited: Vec<(TaskId, TaskId)> = awaits
            .iter()
            .filter_map(|(addr, &child)| Some((child, *id_of.get(addr)?)))
            .collect();
        awaited.sort_unstable();
        for (child, awaiter) in awaited {
            if parent_of.contains_key(&child) {
                continue;
            }
            let mut up = Some(awaiter);
            while let Some(a) = up {
                if a == child {
                    break;
                }
                up = parent_of.get(&a).copied();
            }
            if up.is_none() {
                parent_of.insert(child, awaiter);
            }
        }
        for t in &tasks {
            let parent = parent_of.get(&t.id()).copied().filter(|p| live.contains(p));
            children_of.entry(parent).or_default().push(t);
        }
        fn build(
            of: Option<TaskId>,
            children_of: &HashMap<Option<TaskId>, Vec<&TaskRef>>,
            info: &dyn Fn(&TaskRef) -> TaskInfo,
        ) -> Vec<TaskInfo> {
            let mut kids: Vec<TaskInfo> = children_of
                .get(&of)
                .map(|ts| ts.iter().map(|t| info(t)).collect())
                .unwrap_or_default();
            kids.sort_by_key(|k| k.id);
            for k in &mut kids {
                k.children = build(Some(k.id), children_of, info);
            }
            kids
        }
        let info = |t: &TaskRef| {
            let h = t.header();
            let flags = h.flags.get();
            let state = if Some(t.id()) == running {
                TaskState::Running
            } else if !flags.contains(Flags::STARTED) {
                TaskState::NotStarted
            } else if h.state.is_scheduled() {
                TaskState::Ready
            } else {
                TaskState::Waiting
            };
            let (spawned_at, spawned_time) =
                h.peek_extras(|e| e.map_or((None, None), |e| (e.spawned_at, e.spawned_time)));
            let suspended = matches!(state, TaskState::Waiting | TaskState::Ready);
            let parked = flags.contains(Flags::PARKED);
            let site = h.await_site.get().get().filter(|_| suspended && parked);
            let waits_on = match site {
                Some((_, WaitKind::Task)) => Some(
                    awaits
                        .get(&t.addr())
                        .map_or(WaitsOn::Tasks, |&id| WaitsOn::Task(id)),
                ),
                Some((_, kind)) => Some(WaitsOn::of(kind)),
                None => suspended.then_some(WaitsOn::Unknown),
            };
            TaskInfo {
                id: t.id(),
                name: t.name(),
                state,
                main: flags.contains(Flags::MAIN),
                cancelling: t.cancelling(),
                age: spawned_time.map(|at: Instant| now.saturating_duration_since(at)),
                spawned_at,
                await_site: site
                    .map(|(at, _)| at)
                    .filter(|at| !crate::task::is_root_poll_site(at)),
                waits_on,
                children: Vec::new(),
            }
        };
        let roots = build(None, &children_of, &info);
        TaskDump {
            roots,
            len: tasks.len(),
        }
    }
}

impl fmt::Display for TaskInfo {
    /// One line: `name (#id) [state, cancelling n] main at <await site> on
    /// <what>, spawned at …, age …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (#{}) [{}", self.name, self.id, self.state)?;
        if self.cancelling > 0 {
            write!(f, ", cancelling {}", self.cancelling)?;
        }
        f.write_str("]")?;
        if self.main {
            f.write_str(" main")?;
        }
        if let Some(at) = self.await_site {
            write!(f, " at {at}")?;
        }
        if let Some(on) = self.waits_on {
            write!(f, " on {on}")?;
        }
        if let Some(at) = self.spawned_at {
            write!(f, ", spawned at {at}")?;
        }
        if let Some(age) = self.age {
            write!(f, ", age {age:?}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TaskDump {
    /// The tree, one task a line, children indented under their parent as
    /// `pstree` draws them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn tree(f: &mut fmt::Formatter<'_>, tasks: &[TaskInfo], prefix: &str) -> fmt::Result {
            for (i, t) in tasks.iter().enumerate() {
                let last = i + 1 == tasks.len();
                let (branch, next) = if last {
                    ("└── ", "    ")
                } else {
                    ("├── ", "│   ")
                };
                writeln!(f, "{prefix}{branch}{t}")?;
                tree(f, &t.children, &format!("{prefix}{next}"))?;
            }
            Ok(())
        }
        writeln!(f, "{} pending task(s)", self.len)?;
        tree(f, &self.roots, "")
    }
}
