//! The task header: the part of every task the executor and the primitives
//! see without knowing its future's type, and the out-of-line extras.
//!
//! # Ground rules
//!
//! * `state` (atomic) is the only field another thread touches; every other
//!   field is a `Cell`, read and written on the loop thread through the
//!   `!Send` handles.
//! * No user code runs while the extras are taken out of their cell
//!   ([`Header::with_extras`]): callers move what they need out, put the
//!   extras back, then run destructors, wakers or callbacks.
//! * Loop-only extras (callbacks, completion watchers, the awaiter's
//!   registration: `Rc`s and `!Send` closures) are taken out at completion,
//!   before any user code runs, so that the block never holds them when a
//!   waker on another thread drops the last reference.

use std::cell::Cell;
use std::panic::Location;
use std::rc::Rc;
use std::task::Waker;

use slab::Slab;

use super::TaskRef;
use super::await_site::AwaitSite;
use super::hooks::{CancelWaker, DoneWatcher};
use super::raw::Vtable;
use super::state::{Flags, State};

/// The part of every task the executor sees without knowing its type.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and reference count; the only field other threads touch.
    pub(crate) state: State,
    /// The functions that know the concrete future and scheduler types.
    pub(super) vtable: &'static Vtable,
    /// asyncio's task number: unique per runtime, from 1, in spawn order.
    pub(crate) id: u64,
    /// Loop-thread flags: cancellation, start, handle, outcome.
    pub(crate) flags: Cell<Flags>,
    /// asyncio's `cancelling()`: outstanding cancellation requests. 16 bits
    /// keep the header small; the count saturates at 65,535.
    pub(crate) cancelling: Cell<u16>,
    /// The task's key in its registry while it is not complete.
    pub(super) key: Cell<u32>,
    /// The waker of whoever awaits the `Task<T>` handle.
    pub(crate) join_waker: Cell<Option<Waker>>,
    /// Rarely used data, allocated on first use.
    pub(super) extras: Cell<Option<Box<Extras>>>,
    /// Where the task last parked at a checkpoint, and on what (task dumps;
    /// meaningful while `PARKED` is set).
    pub(crate) await_site: Cell<AwaitSite>,
}

/// A done-callback, given the finished task.
pub(crate) type DoneCallback = Box<dyn FnOnce(&TaskRef)>;

/// Per-task data most tasks never need, kept out of line to keep tasks small.
#[derive(Default)]
pub(crate) struct Extras {
    /// The name given with `set_name`; `None` means the default `Task-<id>`.
    pub(crate) name: Option<Box<str>>,
    /// Where the task was spawned, recorded in debug mode.
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    /// When the task was spawned on its runtime's clock, recorded in debug
    /// mode (the age in a task dump).
    pub(crate) spawned_time: Option<std::time::Instant>,
    /// Debug mode: the copy of id, name and spawn site that the watchdog
    /// thread reads (`set_name` keeps its name current).
    pub(crate) label: Option<std::sync::Arc<super::hooks::Label>>,
    /// Wakers of checkpoints pending inside this task that are not the
    /// task's own waker (a combinator's child waker): `cancel()` wakes them.
    pub(crate) cancel_wakers: Slab<Waker>,
    /// Loop-only data, taken out at completion (see the ground rules).
    pub(crate) live: LiveExtras,
}

/// The loop-only extras: emptied by the completion, before user code runs.
#[derive(Default)]
pub(crate) struct LiveExtras {
    /// Done-callbacks, queued on the loop's FIFO at completion.
    pub(crate) callbacks: Vec<DoneCallback>,
    /// The registration of the checkpoint awaiting this task's `Task<T>`
    /// with the *awaiting* task, kept here so the handle stays one pointer.
    pub(crate) join_slot: Option<CancelWaker>,
    /// The awaiter's delivery count when its await of this task parked
    /// (the combinator rule: a later delivery is forwarded here too).
    pub(crate) join_parked_at: Option<u32>,
    /// Waiters (`wait`, `as_completed`, groups) to notify at completion,
    /// with the index they know this task by.
    pub(crate) watchers: Watchers,
    /// The error the task ends with when its future is dropped next (set by
    /// [`TaskRef::end_with`](super::TaskRef::end_with); `None`: cancelled).
    pub(crate) end_with: Option<Box<super::TaskError>>,
}

impl Header {
    /// A header for a new task with `refs` references; the vtable is filled
    /// in by `raw::allocate`.
    pub(super) fn new(id: u64, refs: usize) -> Header {
        Header {
            state: State::new(refs),
            vtable: &super::raw::NO_VTABLE,
            id,
            flags: Cell::new(Flags::default()),
            cancelling: Cell::new(0),
            key: Cell::new(u32::MAX),
            join_waker: Cell::new(None),
            extras: Cell::new(None),
            await_site: Cell::new(AwaitSite::NONE),
        }
    }

    /// Runs `f` on the out-of-line extras, allocating them on first use.
    ///
    /// `f` must not call user code: the extras are out of the header while
    /// it runs. Whatever it replaces should be returned and dropped after.
    #[inline]
    pub(crate) fn with_extras<R>(&self, f: impl FnOnce(&mut Extras) -> R) -> R {
        let mut extras = self.extras.take().unwrap_or_default();
        let r = f(&mut extras);
        self.extras.set(Some(extras));
        r
    }

    /// Reads from the extras without allocating them (same rule as
    /// [`with_extras`](Self::with_extras)).
    #[inline]
    pub(crate) fn peek_extras<R>(&self, f: impl FnOnce(Option<&mut Extras>) -> R) -> R {
        let mut extras = self.extras.take();
        let r = f(extras.as_deref_mut());
        self.extras.set(extras);
        r
    }

    /// Updates the loop-thread flags.
    #[inline]
    pub(crate) fn update_flags(&self, f: impl FnOnce(Flags) -> Flags) {
        self.flags.set(f(self.flags.get()));
    }
}

/// A watched task's watchers: the first one inline (a task is usually
/// watched by one waiter at a time), the rest in a slab, so that watching a
/// task allocates nothing beyond its extras.
#[derive(Default)]
pub(crate) struct Watchers {
    /// Key 0.
    first: Option<(Rc<dyn DoneWatcher>, usize)>,
    /// Key `k + 1`.
    rest: Slab<(Rc<dyn DoneWatcher>, usize)>,
}

impl Watchers {
    /// Adds a watcher; returns its key.
    pub(crate) fn insert(&mut self, watcher: (Rc<dyn DoneWatcher>, usize)) -> usize {
        if self.first.is_none() {
            self.first = Some(watcher);
            0
        } else {
            self.rest.insert(watcher) + 1
        }
    }

    /// Removes the watcher under `key`, if it is there.
    pub(crate) fn try_remove(&mut self, key: usize) -> Option<(Rc<dyn DoneWatcher>, usize)> {
        match key {
            0 => self.first.take(),
            k => self.rest.try_remove(k - 1),
        }
    }

    /// Every watcher, in no particular order.
    pub(crate) fn drain(self) -> impl Iterator<Item = (Rc<dyn DoneWatcher>, usize)> {
        self.first
            .into_iter()
            .chain(self.rest.into_iter().map(|(_, w)| w))
    }
}
