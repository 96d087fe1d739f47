//! Process-level measurements, taken inside a child process: wall time, CPU time and peak RSS.
//!
//! Every measurement runs in a fresh child process, so "process CPU time" and "process peak
//! RSS" belong to exactly one contestant running exactly one workload.

use std::time::{Duration, Instant};

/// User + system CPU time consumed so far by this process (all of its threads).
pub fn cpu_time() -> Duration {
    rusage_cpu(libc::RUSAGE_SELF)
}

/// User + system CPU time of all terminated and waited-for children of this process.
pub fn children_cpu_time() -> Duration {
    rusage_cpu(libc::RUSAGE_CHILDREN)
}

fn rusage_cpu(who: libc::c_int) -> Duration {
    // SAFETY: `libc::rusage` is a plain C struct of integers, so the all-zero value is valid;
    // `getrusage` only writes into the struct whose pointer we pass, which lives on our stack
    // for the whole call, and `who` is one of the valid `RUSAGE_*` constants (callers above).
    let (rc, usage) = unsafe {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        let rc = libc::getrusage(who, usage.as_mut_ptr());
        (rc, usage.assume_init())
    };
    assert_eq!(rc, 0, "getrusage({who}) failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident set size of this process so far, in KiB (`VmHWM` in `/proc/self/status`).
///
/// `VmHWM` is preferred over `getrusage().ru_maxrss` because on Linux the latter also carries
/// the high-water mark of the address space the child was spawned from (it survives `exec`),
/// which would leak the parent runner's footprint into the measurement.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line in /proc/self/status")
}

/// Wall-clock and CPU time spent between [`Span::start`] and [`Span::stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

/// A running measurement; start it just before the workload, stop it just after.
pub struct Span {
    wall: Instant,
    cpu: Duration,
}

impl Span {
    pub fn start() -> Self {
        let cpu = cpu_time();
        Span {
            wall: Instant::now(),
            cpu,
        }
    }

    pub fn stop(self) -> Sample {
        let wall = self.wall.elapsed();
        Sample {
            wall,
            cpu: cpu_time().saturating_sub(self.cpu),
        }
    }
}

/// Busy CPU time of the whole machine so far (all CPUs, from the first line of `/proc/stat`,
/// which counts in `USER_HZ` = 100 ticks per second on Linux).
fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8) // user nice system idle iowait irq softirq steal
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(Duration::from_millis(
        (ticks.iter().sum::<u64>() - idle) * 10,
    ))
}

/// Measures how much CPU *other* processes used while the benchmark ran: machine-wide busy
/// time minus the runner's own and its children's CPU time.
pub struct OtherLoad {
    wall: Instant,
    machine: Duration,
    own: Duration,
}

impl OtherLoad {
    pub fn start() -> Option<Self> {
        Some(OtherLoad {
            machine: machine_busy()?,
            own: cpu_time() + children_cpu_time(),
            wall: Instant::now(),
        })
    }

    /// Average number of cores kept busy by other processes since [`OtherLoad::start`].
    pub fn cores(&self) -> Option<f64> {
        let machine = machine_busy()?.checked_sub(self.machine)?;
        let own = (cpu_time() + children_cpu_time()).saturating_sub(self.own);
        let wall = self.wall.elapsed().as_secs_f64();
        Some((machine.as_secs_f64() - own.as_secs_f64()).max(0.0) / wall)
    }
}
