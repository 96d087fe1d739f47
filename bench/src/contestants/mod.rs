//! The runtimes under test, one module each, all implementing
//! [`Contestant`](crate::workloads::Contestant).
//!
//! Adding a contestant: write a module with a unit struct implementing `Contestant` (return
//! `None` for workloads it cannot run yet) and add one line to [`CONTESTANTS`]. The first entry
//! is the subject: the table shows its ratio against every other contestant.
//! `floor` is the smallest correct executor for these workloads (see its module): the ratio
//! against it is how far a runtime is from the limit.
//! `mio` is raw mio for `tcp_echo` only: the limit for I/O.

use crate::workloads::{Report, Workload, run};

pub mod floor;
pub mod mio;
pub mod smol;
pub mod taskloop;
pub mod tokio;

/// Runs one workload with the given `n`; `None` means unsupported.
pub type RunFn = fn(Workload, u64) -> Option<Report>;

pub struct Entry {
    pub name: &'static str,
    pub run: RunFn,
}

pub const CONTESTANTS: &[Entry] = &[
    Entry {
        name: "taskloop",
        run: run::<taskloop::Taskloop>,
    },
    Entry {
        name: "tokio",
        run: run::<tokio::Tokio>,
    },
    Entry {
        name: "smol",
        run: run::<smol::Smol>,
    },
    Entry {
        name: "floor",
        run: run::<floor::Floor>,
    },
    Entry {
        name: "mio",
        run: run::<mio::RawMio>,
    },
];

pub fn by_name(name: &str) -> Option<&'static Entry> {
    CONTESTANTS.iter().find(|c| c.name == name)
}
