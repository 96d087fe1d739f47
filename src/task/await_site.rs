//! Where a task is suspended: the source location of the checkpoint it
//! awaits and the kind of thing that checkpoint waits on, kept in one word
//! of the task header for task dumps.
//!
//! The location comes from `#[track_caller]` (the `.await` of a checkpoint
//! future whose `poll` is `#[track_caller]`, or the call of a crate
//! function that builds one), so recording it is one store per parked
//! checkpoint: no backtrace, no allocation, nothing when no dump is taken.
//!
//! # Ground rules
//!
//! * On 64-bit targets the word is a `&'static Location` whose three low
//!   bits (always zero: a `Location` is 8-aligned there, checked at compile
//!   time) carry the [`WaitKind`]. The tag is added and removed with the
//!   strict-provenance address operations, so the pointer read back keeps
//!   the provenance of the reference it was made from. Elsewhere the two
//!   are kept side by side (those headers have room).
//! * The word is only written by a checkpoint of the task that parks
//!   (`cancel::state::park_in`), on the loop thread, and only meaningful
//!   while the task's `PARKED` flag says that its last poll parked there.

use std::fmt;
use std::panic::Location;

/// What a parked checkpoint waits on, as far as the checkpoint knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitKind {
    /// A future of another crate made a checkpoint by `cancellable`.
    Other = 0,
    /// `yield_now`: the task is back in the run queue.
    Yield = 1,
    /// A timer: `sleep`, `sleep_until`, an interval.
    Timer = 2,
    /// One task's handle, or a set of them (`wait`, `gather`, a group).
    Task = 3,
    /// A synchronisation primitive or channel.
    Sync = 4,
    /// A socket, pipe or standard stream.
    Io = 5,
    /// A job on the blocking pool.
    Blocking = 6,
    /// A signal or a child process's exit.
    Os = 7,
}

impl WaitKind {
    /// Every kind, by its tag.
    const ALL: [WaitKind; 8] = [
        WaitKind::Other,
        WaitKind::Yield,
        WaitKind::Timer,
        WaitKind::Task,
        WaitKind::Sync,
        WaitKind::Io,
        WaitKind::Blocking,
        WaitKind::Os,
    ];
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitKind::Other => "a foreign future",
            WaitKind::Yield => "a yield",
            WaitKind::Timer => "a timer",
            WaitKind::Task => "a task",
            WaitKind::Sync => "a sync primitive",
            WaitKind::Io => "I/O",
            WaitKind::Blocking => "a blocking job",
            WaitKind::Os => "a signal or child process",
        })
    }
}

/// A checkpoint's await site and kind, packed (see the ground rules).
#[derive(Clone, Copy)]
pub(crate) struct AwaitSite(Repr);

#[cfg(target_pointer_width = "64")]
type Repr = *const Location<'static>;

#[cfg(not(target_pointer_width = "64"))]
type Repr = (*const Location<'static>, WaitKind);

/// The tag bits of the packed word.
#[cfg(target_pointer_width = "64")]
const TAG: usize = 0b111;

#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    std::mem::align_of::<Location<'static>>() > TAG,
    "a Location must leave three low bits free for the wait kind"
);

impl AwaitSite {
    /// No site recorded.
    pub(crate) const NONE: AwaitSite = AwaitSite::none();

    #[cfg(target_pointer_width = "64")]
    const fn none() -> AwaitSite {
        AwaitSite(std::ptr::null())
    }

    #[cfg(not(target_pointer_width = "64"))]
    const fn none() -> AwaitSite {
        AwaitSite((std::ptr::null(), WaitKind::Other))
    }

    /// The site `at`, waiting on `kind`.
    #[inline]
    pub(crate) fn new(at: &'static Location<'static>, kind: WaitKind) -> AwaitSite {
        #[cfg(target_pointer_width = "64")]
        {
            let ptr: *const Location<'static> = at;
            AwaitSite(ptr.map_addr(|a| a | kind as usize))
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            AwaitSite((at, kind))
        }
    }

    /// The location and kind, if a site was recorded.
    pub(crate) fn get(self) -> Option<(&'static Location<'static>, WaitKind)> {
        #[cfg(target_pointer_width = "64")]
        let (ptr, kind) = (
            self.0.map_addr(|a| a & !TAG),
            WaitKind::ALL[self.0.addr() & TAG],
        );
        #[cfg(not(target_pointer_width = "64"))]
        let (ptr, kind) = self.0;
        // SAFETY: a non-null pointer here was made by `new` from a
        // `&'static Location` (only the tag bits, which `new` set in an
        // address whose low bits were zero, are removed again), so it is
        // valid for reads forever.
        unsafe { ptr.as_ref() }.map(|at| (at, kind))
    }
}

impl fmt::Debug for AwaitSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some((at, kind)) => write!(f, "{at} ({kind})"),
            None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_with_its_location() {
        let here = Location::caller();
        for kind in WaitKind::ALL {
            let site = AwaitSite::new(here, kind);
            let (at, k) = site.get().unwrap();
            assert!(std::ptr::eq(at, here));
            assert_eq!(k, kind);
            assert_eq!(at.line(), here.line());
        }
        assert!(AwaitSite::NONE.get().is_none());
    }
}
