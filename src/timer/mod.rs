//! Timers: the runtime's clock, its timer wheel, and the futures built on
//! them ([`sleep`], [`sleep_until`], [`interval`]).
//!
//! The driver ([`Timers`]) owns the wheel and the clock; the loop asks it for
//! the next deadline before it sleeps and tells it to fire what is due after
//! each batch of tasks. A [`TimerEntry`] is the handle every waiting
//! primitive uses: armed lazily on first poll, re-armed in place, removed at
//! once on drop. This module never polls a task; firing a timer only wakes
//! its waker.
//!
//! It reaches its runtime through `runtime::context`; the wheel itself
//! (`wheel`) is plain data and knows nothing of tasks.
//!
//! Precision: a timer never fires early; on an idle loop it fires at most
//! one tick (1 ms by default) plus one turn of the loop late.

mod clock;
mod sleep;
mod test_clock;
mod wheel;

pub use sleep::{Interval, Sleep, interval, sleep, sleep_until};
pub use test_clock::{
    advance, advance_to_next, next_deadline, pause_auto_advance, resume_auto_advance,
};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::context;
use crate::runtime::shuffle::Rng;
use clock::{Clock, NEVER};
use wheel::{TimerKey, Wheel};

/// The runtime's monotonic clock: asyncio's `loop.time()`.
///
/// In a runtime built with [`Builder::virtual_time`](crate::Builder::virtual_time)
/// this is the virtual clock, which moves only when the loop would otherwise
/// sleep. Outside a runtime it is `Instant::now()`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let t0 = taskloop::time::now();
///     taskloop::time::sleep(Duration::from_secs(3600)).await.unwrap();
///     assert_eq!(taskloop::time::now() - t0, Duration::from_secs(3600));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn now() -> Instant {
    context::with_core(|core| core.driver.timers.clock.now()).unwrap_or_else(Instant::now)
}

/// The timer driver of one runtime.
#[derive(Debug)]
pub(crate) struct Timers {
    /// The clock that ticks are measured on.
    pub(crate) clock: Clock,
    /// Pending timers and their wakers.
    wheel: RefCell<Wheel<Waker>>,
    /// Wakers of fired timers, woken after the wheel is released (a waker
    /// may run arbitrary code, including timer code).
    fired: RefCell<Vec<Waker>>,
    /// How many times the wheel advanced: an entry armed before an advance
    /// whose tick reached its deadline has fired, without looking it up.
    advances: Cell<u64>,
    /// Virtual time: whether the idle loop jumps the clock to the next
    /// deadline by itself (see [`pause_auto_advance`]).
    auto_advance: Cell<bool>,
    /// Virtual time: calls of [`advance`] in progress. Each holds a timer at
    /// its target, so while one runs the idle loop may jump to the next
    /// deadline (never past the earliest target) even with auto-advance off.
    advancing: Cell<usize>,
    /// Schedule shuffling: permutes the timers that fire at the same tick.
    shuffle: Option<Rng>,
    /// Reused buffer of (deadline, waker) while shuffling.
    fired_at: RefCell<Vec<(u64, Waker)>>,
}

impl Timers {
    pub(crate) fn new(
        tick: Duration,
        virtual_time: bool,
        auto_advance: bool,
        shuffle: Option<u64>,
    ) -> Timers {
        Timers {
            clock: Clock::new(tick, virtual_time),
            wheel: RefCell::new(Wheel::new()),
            fired: RefCell::new(Vec::new()),
            advances: Cell::new(0),
            auto_advance: Cell::new(auto_advance),
            advancing: Cell::new(0),
            shuffle: shuffle.map(|seed| Rng::new(seed, 2)),
            fired_at: RefCell::new(Vec::new()),
        }
    }

    /// Fires every timer due by the clock's current time; returns how many.
    pub(crate) fn fire_due(&self) -> usize {
        let now = self.clock.tick_at(self.clock.now());
        let mut wheel = self.wheel.borrow_mut();
        match wheel.next_deadline() {
            Some(next) if next <= now => {}
            _ => return 0,
        }
        let mut fired = self.fired.take();
        match &self.shuffle {
            None => wheel.advance(now, |_, waker| fired.push(waker)),
            Some(rng) => {
                // Deadline order is kept; only timers of one tick are permuted.
                let mut timed = self.fired_at.take();
                wheel.advance_timed(now, |_, at, waker| timed.push((at, waker)));
                for run in timed.chunk_by_mut(|a, b| a.0 == b.0) {
                    rng.shuffle(run);
                }
                fired.extend(timed.drain(..).map(|(_, waker)| waker));
                self.fired_at.replace(timed);
            }
        }
        drop(wheel);
        self.advances.set(self.advances.get() + 1);
        let n = fired.len();
        // Each wake caught: a panicking waker must not leave the others undone.
        for w in fired.drain(..) {
            crate::task::wake_caught(w);
        }
        self.fired.replace(fired);
        n
    }

    /// How long the loop may sleep before the wheel has work: `None` if no
    /// timer can fire. Rounded up to whole ticks so the loop never wakes early.
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        let next = self.wheel.borrow().next_deadline()?;
        let at = self.clock.tick_instant(next)?;
        Some(at.saturating_duration_since(self.clock.now()))
    }

    /// The exact instant of the earliest pending deadline (its tick's start).
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        let tick = self.wheel.borrow().earliest_deadline()?;
        self.clock.tick_instant(tick)
    }

    /// Virtual time with auto-advance paused and no [`advance`] running,
    /// while timers are pending: only `advance` can move the loop on.
    pub(crate) fn held_by_pause(&self) -> bool {
        self.clock.is_virtual()
            && !self.auto_advance.get()
            && self.advancing.get() == 0
            && self.wheel.borrow().next_deadline().is_some()
    }

    /// Virtual time: jumps the clock to the next point where the wheel has
    /// work. Returns false if there is none.
    pub(crate) fn advance_virtual(&self) -> bool {
        if !self.auto_advance.get() && self.advancing.get() == 0 {
            return false;
        }
        match self.wheel.borrow().next_deadline() {
            Some(next) => {
                self.clock.advance_to_tick(next);
                true
            }
            None => false,
        }
    }
}

/// A timer owned by a waiting primitive: armed on first poll, re-armed in
/// place, cancelled (removed from the wheel at once) on drop.
#[derive(Debug)]
pub(crate) struct TimerEntry {
    /// The runtime's timers this entry lives in (not whichever runtime
    /// happens to be running when it is reset or dropped).
    timers: Rc<Timers>,
    /// The deadline tick; [`NEVER`] for none.
    deadline: u64,
    /// The deadline as given, for `deadline()`.
    at: Option<Instant>,
    /// The wheel entry, while armed.
    key: Option<TimerKey>,
    /// `Timers::advances` when the entry was last armed.
    armed_at: u64,
    /// Set once the deadline passed; cleared by `reset`.
    expired: bool,
}

impl TimerEntry {
    /// An entry for `deadline` (`None`: never).
    pub(crate) fn at(deadline: Option<Instant>) -> TimerEntry {
        let timers = current_timers();
        let tick = deadline.map_or(NEVER, |d| timers.clock.deadline_tick(d));
        TimerEntry::new(timers, tick, deadline)
    }

    /// An entry `delay` from now (`Duration::MAX` and other unrepresentable
    /// deadlines: never).
    pub(crate) fn after(delay: Duration) -> TimerEntry {
        let timers = current_timers();
        let now = timers.clock.now();
        let tick = timers.clock.delay_tick(now, delay);
        TimerEntry::new(timers, tick, now.checked_add(delay))
    }

    /// An unarmed entry.
    fn new(timers: Rc<Timers>, deadline: u64, at: Option<Instant>) -> TimerEntry {
        TimerEntry {
            timers,
            deadline,
            at,
            key: None,
            armed_at: 0,
            expired: false,
        }
    }

    /// Whether the deadline has passed (as of the last poll or fire).
    pub(crate) fn is_expired(&self) -> bool {
        self.expired
    }

    /// Ready once the deadline has passed; otherwise makes sure the wheel
    /// wakes `cx` then.
    pub(crate) fn poll_expired(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.expired {
            return Poll::Ready(());
        }
        if self.deadline == NEVER {
            return Poll::Pending;
        }
        self.assert_own_runtime();
        let waker = cx.waker();
        let old = {
            let mut wheel = self.timers.wheel.borrow_mut();
            if self.key.is_some()
                && self.timers.advances.get() > self.armed_at
                && wheel.now() >= self.deadline
            {
                // An advance since arming reached the deadline, so it fired
                // the timer: no need to look the (now stale) key up.
                self.key = None;
                self.expired = true;
                return Poll::Ready(());
            }
            match self.key {
                Some(key) => match wheel.get_mut(key) {
                    // Still pending: keep the stored waker current.
                    Some(w) if w.will_wake(waker) => Ok(None),
                    Some(w) => Ok(Some(std::mem::replace(w, waker.clone()))),
                    // The key is stale: the wheel fired it.
                    None => Err(()),
                },
                None => {
                    self.key = Some(wheel.insert(self.deadline, waker.clone()));
                    self.armed_at = self.timers.advances.get();
                    Ok(None)
                }
            }
        };
        match old {
            Ok(old) => {
                drop(old);
                Poll::Pending
            }
            Err(()) => {
                self.key = None;
                self.expired = true;
                Poll::Ready(())
            }
        }
    }

    /// Checks that the runtime polling this entry is the one whose wheel
    /// holds it: another runtime's wheel would never fire it (a silent hang).
    fn assert_own_runtime(&self) {
        let same = context::with_core(|core| Rc::ptr_eq(&core.driver.timers, &self.timers));
        assert!(
            same != Some(false),
            "a taskloop timer (sleep, timeout, interval) was awaited in a runtime other than \
             the one it was created in: its deadline would never fire there; create it \
             inside the runtime that awaits it"
        );
    }

    /// Moves the deadline (asyncio's `Timeout.reschedule`); the entry is
    /// pending again even if it had expired.
    pub(crate) fn reset(&mut self, deadline: Option<Instant>) {
        let tick = match deadline {
            Some(d) => self.timers.clock.deadline_tick(d),
            None => NEVER,
        };
        self.deadline = tick;
        self.at = deadline;
        self.expired = false;
        if let Some(key) = self.key {
            let moved = self.timers.wheel.borrow_mut().reschedule(key, tick);
            if moved {
                self.armed_at = self.timers.advances.get();
            } else {
                self.key = None;
            }
        }
    }

    /// The deadline, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.at
    }

    /// Removes the timer from the wheel.
    pub(crate) fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            let old = self.timers.wheel.borrow_mut().cancel(key);
            drop(old);
        }
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The current runtime's timers.
///
/// # Panics
/// Outside a runtime: timers need a running loop.
fn current_timers() -> Rc<Timers> {
    context::with_core(|core| core.driver.timers.clone()).unwrap_or_else(|| {
        panic!(
            "a taskloop timer was used outside a taskloop runtime: run it inside \
             taskloop::run(main) or Runtime::block_on"
        )
    })
}
