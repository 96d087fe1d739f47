//! The workload catalogue: what each workload is, its parameters, which metrics the table shows,
//! and the [`Contestant`] trait every runtime implements (one method per workload).
//!
//! Adding a workload: add a [`Workload`] variant, a [`SPECS`] entry, a [`Contestant`] method and
//! an arm in [`run`]; the compiler then points at every contestant that still has to implement it
//! (returning `None` is fine: the table shows "n/a").

use crate::measure::Sample;

/// Seed of the xorshift generator shared by all contestants, so they all see the same numbers.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// `yield_many`: number of concurrently yielding tasks (the CLI `n` is yields per task).
pub const YIELD_TASKS: u64 = 200;
/// `wait_first_completed`: tasks spawned per round (the CLI `n` is the number of rounds).
pub const WAIT_TASKS: usize = 1_000;
/// `wait_first_completed`: each task completes after `1..=WAIT_MAX_YIELDS` yields.
pub const WAIT_MAX_YIELDS: u64 = 16;
/// `timers_fire`: each task sleeps `1..=FIRE_MAX_MS` milliseconds.
pub const FIRE_MAX_MS: u64 = 50;
/// How long the background timers of `timers_cancel_loaded` sleep (never reached).
pub const LOADED_SLEEP: std::time::Duration = std::time::Duration::from_secs(3600);
/// Timeout used by `timers_cancel` and `wait_for_overhead` (never reached).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Build the runtime and run an empty `block_on`: the memory baseline for `spawn_join`.
    Baseline,
    SpawnJoin,
    YieldMany,
    ChainedSpawn,
    ChainedSpawnWarm,
    ChainedSpawnAwait,
    TimersCancel,
    TimersCancelLoaded,
    TimersFire,
    WaitForOverhead,
    WaitFirstCompleted,
    WaitFirstJoinSet,
    ShutdownPending,
    AsCompletedTimeout,
    PingPong,
    LockContended,
    SemaphoreFanout,
    TcpEcho,
    SpawnWait,
}

/// One column of the results table for a workload: the median of `key` over repetitions.
pub struct Metric {
    /// Key printed by the child (or derived by the parent, like `bytes_per_op`).
    pub key: &'static str,
    pub label: &'static str,
    /// Whether "taskloop / other" is meaningful (it is not for counts that should be 0).
    pub ratio: bool,
}

const fn metric(key: &'static str, label: &'static str) -> Metric {
    Metric {
        key,
        label,
        ratio: true,
    }
}

pub struct Spec {
    pub workload: Workload,
    pub name: &'static str,
    /// One line for the table legend; `{n}` is replaced by the N in use.
    pub legend: &'static str,
    pub n_full: u64,
    pub n_quick: u64,
    /// Run a [`Workload::Baseline`] child before each run and derive `bytes_per_op`.
    pub needs_baseline: bool,
    pub metrics: &'static [Metric],
}

/// `lock_contended`: tasks contending for the lock.
pub const LOCK_TASKS: u64 = 100;
/// `semaphore_fanout`: the semaphore's permits.
pub const FANOUT_PERMITS: usize = 100;
/// `tcp_echo`: concurrent loopback connections.
pub const ECHO_CONNS: u64 = 50;
/// `tcp_echo`: bytes per message.
pub const ECHO_MSG: usize = 64;
/// `spawn_wait`: children running at once.
pub const SPAWN_CONCURRENCY: u64 = 50;
/// `spawn_wait`: the program each child runs.
pub const SPAWN_PROGRAM: &str = "/bin/true";

pub const SPECS: &[Spec] = &[
    Spec {
        workload: Workload::SpawnJoin,
        name: "spawn_join",
        legend: "spawn {n} tasks returning their index, then await every handle in order",
        n_full: 200_000,
        n_quick: 20_000,
        needs_baseline: true,
        metrics: &[
            metric("ns_per_op", "ns/task"),
            metric("cpu_ns_per_op", "CPU ns/task"),
            metric("bytes_per_op", "peak bytes/task"),
        ],
    },
    Spec {
        workload: Workload::YieldMany,
        name: "yield_many",
        legend: "200 tasks x {n} yields each",
        n_full: 1_000,
        n_quick: 100,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/yield"),
            metric("cpu_ns_per_op", "CPU ns/yield"),
        ],
    },
    Spec {
        workload: Workload::ChainedSpawn,
        name: "chained_spawn",
        legend: "tokio's standard chained_spawn, cold: each task spawns the next and ends \
                 (detached), the last signals completion, depth {n}, once per process",
        n_full: 10_000,
        n_quick: 1_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/spawn"),
            metric("cpu_ns_per_op", "CPU ns/spawn"),
        ],
    },
    Spec {
        workload: Workload::ChainedSpawnWarm,
        name: "chained_spawn_warm",
        legend: "chained_spawn warm: 6 chains of depth {n} in one process, the first discarded",
        n_full: 10_000,
        n_quick: 1_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/spawn"),
            metric("cpu_ns_per_op", "CPU ns/spawn"),
        ],
    },
    Spec {
        workload: Workload::ChainedSpawnAwait,
        name: "chained_spawn_await",
        legend: "each task spawns the next and awaits its handle, depth {n}",
        n_full: 10_000,
        n_quick: 1_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/spawn"),
            metric("cpu_ns_per_op", "CPU ns/spawn"),
        ],
    },
    Spec {
        workload: Workload::TimersCancel,
        name: "timers_cancel",
        legend: "{n} sequential 1 s timeouts around a future ready after one yield",
        n_full: 1_000_000,
        n_quick: 50_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/op"),
            metric("cpu_ns_per_op", "CPU ns/op"),
        ],
    },
    Spec {
        workload: Workload::TimersCancelLoaded,
        name: "timers_cancel_loaded",
        legend: "timers_cancel with {n} other timers live (tasks sleeping 1 h), {n} timeouts",
        n_full: 1_000_000,
        n_quick: 50_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/op"),
            metric("cpu_ns_per_op", "CPU ns/op"),
        ],
    },
    Spec {
        workload: Workload::TimersFire,
        name: "timers_fire",
        legend: "{n} tasks each sleep a seeded xorshift 1-50 ms and record lateness",
        n_full: 100_000,
        n_quick: 5_000,
        needs_baseline: false,
        metrics: &[
            metric("wall_ms", "wall ms"),
            metric("cpu_ms", "CPU ms"),
            metric("cpu_ns_per_op", "CPU ns/timer"),
            metric("late_p50_ms", "median lateness ms"),
            metric("late_max_ms", "worst lateness ms"),
            Metric {
                key: "early",
                label: "early firings (must be 0)",
                ratio: false,
            },
        ],
    },
    Spec {
        workload: Workload::WaitForOverhead,
        name: "wait_for_overhead",
        legend: "{n} x (1 s timeout around a ready future) versus {n} x awaiting it directly",
        n_full: 1_000_000,
        n_quick: 50_000,
        needs_baseline: false,
        metrics: &[
            metric("direct_ns_per_op", "ns/op direct"),
            metric("ns_per_op", "ns/op wrapped"),
            metric("overhead_ns_per_op", "ns/op overhead"),
        ],
    },
    Spec {
        workload: Workload::WaitFirstCompleted,
        name: "wait_first_completed",
        legend: "{n} rounds: spawn 1,000 tasks finishing after 1-16 yields, wait for the first, \
                 cancel the rest",
        n_full: 1_000,
        n_quick: 20,
        needs_baseline: false,
        metrics: &[
            metric("wait_us_per_op", "µs/wait"),
            metric("us_per_op", "µs/round"),
        ],
    },
    Spec {
        workload: Workload::WaitFirstJoinSet,
        name: "wait_first_joinset",
        legend: "wait_first_completed with each runtime's idiomatic set: taskloop's wait, \
                 tokio's JoinSet (join_next, abort_all, drain); smol has no task set",
        n_full: 1_000,
        n_quick: 20,
        needs_baseline: false,
        metrics: &[
            metric("wait_us_per_op", "µs/wait"),
            metric("us_per_op", "µs/round"),
        ],
    },
    Spec {
        workload: Workload::ShutdownPending,
        name: "shutdown_pending",
        legend: "shut the runtime down with {n} pending tasks (each sleeping 1 h): taskloop \
                 cancels each and awaits its clean-up (asyncio's Runner.close); tokio and smol \
                 drop the futures",
        n_full: 100_000,
        n_quick: 10_000,
        needs_baseline: false,
        metrics: &[metric("ns_per_op", "ns/task")],
    },
    Spec {
        workload: Workload::AsCompletedTimeout,
        name: "as_completed_timeout",
        legend: "as_completed over {n} tasks that never finish, 1 ms timeout: yield all {n} \
                 timed-out items (taskloop only: no peer has the primitive)",
        n_full: 40_000,
        n_quick: 4_000,
        needs_baseline: false,
        metrics: &[metric("ns_per_op", "ns/item")],
    },
    Spec {
        workload: Workload::PingPong,
        name: "ping_pong",
        legend: "two tasks bounce a message {n} times through two bounded channels of capacity 1 \
                 (taskloop mpsc, tokio mpsc, async-channel on smol)",
        n_full: 200_000,
        n_quick: 20_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/round trip"),
            metric("cpu_ns_per_op", "CPU ns/round trip"),
        ],
    },
    Spec {
        workload: Workload::LockContended,
        name: "lock_contended",
        legend: "100 tasks each take a lock, yield inside, release; {n} acquisitions in all \
                 (taskloop Lock, tokio Mutex, async-lock Mutex)",
        n_full: 200_000,
        n_quick: 20_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/acquisition"),
            metric("cpu_ns_per_op", "CPU ns/acquisition"),
        ],
    },
    Spec {
        workload: Workload::SemaphoreFanout,
        name: "semaphore_fanout",
        legend: "{n} tasks bounded by a semaphore of 100, each yields once holding its permit \
                 (taskloop Semaphore, tokio Semaphore, async-lock Semaphore)",
        n_full: 100_000,
        n_quick: 10_000,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/task"),
            metric("cpu_ns_per_op", "CPU ns/task"),
        ],
    },
    Spec {
        workload: Workload::TcpEcho,
        name: "tcp_echo",
        legend: "50 loopback TCP connections x {n} round trips of 64 bytes, server and clients \
                 in one thread (raw mio: one hand-written state machine, no tasks)",
        n_full: 2_000,
        n_quick: 200,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/round trip"),
            metric("cpu_ns_per_op", "CPU ns/round trip"),
        ],
    },
    Spec {
        workload: Workload::SpawnWait,
        name: "spawn_wait",
        legend: "spawn and wait for {n} `/bin/true` children, 50 at a time (50 tasks taking \
                 the next child from a shared counter; taskloop pidfd per child, tokio process)",
        n_full: 1_000,
        n_quick: 100,
        needs_baseline: false,
        metrics: &[
            metric("ns_per_op", "ns/child"),
            metric("cpu_ns_per_op", "CPU ns/child"),
        ],
    },
];

/// Chains run by `chained_spawn_warm`; the first warms the allocator and caches.
pub const WARM_CHAINS: u64 = 6;

pub fn spec_by_name(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// What a workload run hands back to the child's `main`, which prints it as one line.
pub struct Report {
    /// Wall and CPU time of the measured section (runtime construction excluded).
    pub sample: Sample,
    /// Operations in the measured section; `ns_per_op` = wall / ops.
    pub ops: u64,
    /// Workload-specific metrics, printed as extra `key=value` pairs.
    pub extra: Vec<(&'static str, f64)>,
}

impl Report {
    pub fn new(sample: Sample, ops: u64) -> Self {
        Report {
            sample,
            ops,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: f64) -> Self {
        self.extra.push((key, value));
        self
    }
}

/// A runtime under test. Each method builds a fresh runtime, runs one workload with the given
/// `n` and reports; `None` means "not supported (yet)" and shows as "n/a".
pub trait Contestant {
    /// Build the runtime and run an empty `block_on` (memory baseline).
    fn baseline();
    fn spawn_join(n: u64) -> Option<Report>;
    fn yield_many(yields_per_task: u64) -> Option<Report>;
    /// The standard chain: detached spawns, one completion signal.
    fn chained_spawn(depth: u64) -> Option<Report>;
    /// The standard chain `WARM_CHAINS` times in one process, the first discarded.
    fn chained_spawn_warm(depth: u64) -> Option<Report>;
    /// Each task awaits the handle of the next.
    fn chained_spawn_await(depth: u64) -> Option<Report>;
    fn timers_cancel(n: u64) -> Option<Report>;
    /// `timers_cancel` with `n` other timers live (background tasks sleeping
    /// [`LOADED_SLEEP`]); the set-up is not timed.
    fn timers_cancel_loaded(n: u64) -> Option<Report>;
    fn timers_fire(n: u64) -> Option<Report>;
    fn wait_for_overhead(n: u64) -> Option<Report>;
    fn wait_first_completed(rounds: u64) -> Option<Report>;
    /// `wait_first_completed` with the runtime's idiomatic task set.
    fn wait_first_joinset(_rounds: u64) -> Option<Report> {
        None
    }
    /// Set-up (not timed): `n` tasks sleeping [`LOADED_SLEEP`]; timed: the
    /// runtime's shutdown.
    fn shutdown_pending(n: u64) -> Option<Report>;
    /// `as_completed` with a timeout over `n` tasks that never finish.
    fn as_completed_timeout(_n: u64) -> Option<Report> {
        None
    }
    /// Two tasks, two bounded channels of capacity 1, `n` round trips.
    fn ping_pong(_n: u64) -> Option<Report> {
        None
    }
    /// [`LOCK_TASKS`] tasks share `n` acquisitions of one lock, yielding while holding it.
    fn lock_contended(_n: u64) -> Option<Report> {
        None
    }
    /// `n` tasks, each holding one of [`FANOUT_PERMITS`] permits across a yield.
    fn semaphore_fanout(_n: u64) -> Option<Report> {
        None
    }
    /// [`ECHO_CONNS`] loopback connections, each `n` round trips of [`ECHO_MSG`] bytes; an
    /// echo task per accepted connection, a client task per connection.
    fn tcp_echo(_n: u64) -> Option<Report> {
        None
    }
    /// Spawn and wait for `n` children of [`SPAWN_PROGRAM`], [`SPAWN_CONCURRENCY`] at a time.
    fn spawn_wait(_n: u64) -> Option<Report> {
        None
    }
}

/// Dispatch one workload to contestant `C`.
pub fn run<C: Contestant>(workload: Workload, n: u64) -> Option<Report> {
    match workload {
        Workload::Baseline => {
            C::baseline();
            Some(Report::new(Sample::default(), 1))
        }
        Workload::SpawnJoin => C::spawn_join(n),
        Workload::YieldMany => C::yield_many(n),
        Workload::ChainedSpawn => C::chained_spawn(n),
        Workload::ChainedSpawnWarm => C::chained_spawn_warm(n),
        Workload::ChainedSpawnAwait => C::chained_spawn_await(n),
        Workload::TimersCancel => C::timers_cancel(n),
        Workload::TimersCancelLoaded => C::timers_cancel_loaded(n),
        Workload::TimersFire => C::timers_fire(n),
        Workload::WaitForOverhead => C::wait_for_overhead(n),
        Workload::WaitFirstCompleted => C::wait_first_completed(n),
        Workload::WaitFirstJoinSet => C::wait_first_joinset(n),
        Workload::ShutdownPending => C::shutdown_pending(n),
        Workload::AsCompletedTimeout => C::as_completed_timeout(n),
        Workload::PingPong => C::ping_pong(n),
        Workload::LockContended => C::lock_contended(n),
        Workload::SemaphoreFanout => C::semaphore_fanout(n),
        Workload::TcpEcho => C::tcp_echo(n),
        Workload::SpawnWait => C::spawn_wait(n),
    }
}

/// xorshift64: tiny, deterministic, identical for every contestant.
pub struct XorShift(u64);

impl XorShift {
    pub fn new() -> Self {
        XorShift(SEED)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// `timers_fire`: the sleep duration of each of the `n` tasks.
pub fn fire_delays(n: u64) -> Vec<std::time::Duration> {
    let mut rng = XorShift::new();
    (0..n)
        .map(|_| std::time::Duration::from_millis(rng.range(1, FIRE_MAX_MS)))
        .collect()
}

/// `timers_fire`: lateness (wake time - deadline) in nanoseconds, negative when early.
pub fn lateness_ns(deadline: std::time::Instant, woke: std::time::Instant) -> i64 {
    match woke.checked_duration_since(deadline) {
        Some(late) => late.as_nanos() as i64,
        None => -((deadline - woke).as_nanos() as i64),
    }
}

/// `timers_fire`: fold the per-task lateness values into the report.
pub fn fire_report(sample: Sample, lateness: &[i64]) -> Report {
    let mut sorted = lateness.to_vec();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let worst = sorted.last().copied().unwrap_or(0);
    let early = sorted.iter().filter(|&&l| l < 0).count();
    Report::new(sample, sorted.len() as u64)
        .with("late_p50_ms", median as f64 / 1e6)
        .with("late_max_ms", worst as f64 / 1e6)
        .with("early", early as f64)
}

/// `wait_for_overhead`: fold the direct and wrapped loops into the report.
pub fn overhead_report(direct: Sample, wrapped: Sample, n: u64) -> Report {
    let direct_ns = direct.wall.as_nanos() as f64 / n as f64;
    let wrapped_ns = wrapped.wall.as_nanos() as f64 / n as f64;
    Report::new(wrapped, n)
        .with("direct_ns_per_op", direct_ns)
        .with("overhead_ns_per_op", wrapped_ns - direct_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fire_delays_are_deterministic_and_in_range() {
        let a = fire_delays(10_000);
        assert_eq!(a, fire_delays(10_000));
        assert!(
            a.iter()
                .all(|d| (1..=FIRE_MAX_MS).contains(&(d.as_millis() as u64)))
        );
    }

    #[test]
    fn lateness_is_signed() {
        let t = std::time::Instant::now();
        let ms = std::time::Duration::from_millis(1);
        assert_eq!(lateness_ns(t, t + ms), 1_000_000);
        assert_eq!(lateness_ns(t + ms, t), -1_000_000);
    }

    #[test]
    fn spec_names_are_unique() {
        for (i, a) in SPECS.iter().enumerate() {
            assert!(SPECS[i + 1..].iter().all(|b| b.name != a.name));
            assert_eq!(spec_by_name(a.name).map(|s| s.workload), Some(a.workload));
        }
    }
}
