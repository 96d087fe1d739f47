//! The driver: everything about *parking* the loop. It owns the clock and
//! the timer wheel ([`Timers`]) and the reactor, decides how long the loop
//! may sleep, jumps a virtual clock, and wakes what fired after releasing
//! the borrows of the wheel and the reactor.
//!
//! The executor only asks it to fire due timers and to park; it knows
//! nothing of epoll's millisecond rounding. The driver never polls a task.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use crate::reactor::Reactor;
use crate::task::wake_caught;
use crate::timer::Timers;

/// How long a loop with nothing that can wake it waits before it reports
/// the stall.
pub(crate) const STALL_GRACE: Duration = Duration::from_secs(1);

/// Time and readiness for one runtime.
#[derive(Debug)]
pub(crate) struct Driver {
    /// The clock and the timer wheel; shared with the timer entries.
    pub(crate) timers: Rc<Timers>,
    /// The `mio::Poll` and its registrations; shared with the I/O sources
    /// (`reactor::IoSource`), which deregister themselves when dropped.
    pub(crate) reactor: Rc<RefCell<Reactor>>,
    /// Wakers of I/O events, woken after the reactor is released.
    woken: RefCell<Vec<Waker>>,
    /// Work in flight on other threads whose completion will wake the loop
    /// (blocking jobs): a virtual clock does not jump past it.
    pub(crate) external: Rc<Cell<usize>>,
}

impl Driver {
    pub(crate) fn new(timers: Timers, reactor: Reactor) -> Driver {
        Driver {
            timers: Rc::new(timers),
            reactor: Rc::new(RefCell::new(reactor)),
            woken: RefCell::new(Vec::new()),
            external: Rc::new(Cell::new(0)),
        }
    }

    /// Fires the timers due by now (their wakers run after the wheel is
    /// released, each caught).
    pub(crate) fn fire_timers(&self) {
        self.timers.fire_due();
    }

    /// Sleeps until there is something to do.
    ///
    /// * `busy` (tasks or callbacks are ready, or a cross-thread wake is
    ///   pending): only look for I/O, without blocking; skipped entirely
    ///   when no I/O source is registered.
    /// * On a virtual clock: a last look for I/O, then jump the clock to the
    ///   next timer deadline instead of sleeping (unless its auto-advance is
    ///   paused and no `time::advance` is running).
    /// * Otherwise sleep until the next timer deadline or an event.
    ///
    /// `ready` is asked again after a non-blocking look for I/O, and
    /// `notified` before the precise sub-millisecond sleep.
    ///
    /// A loop with nothing that can wake it — no timer, no I/O source (a
    /// signal's passive self-pipe does not count, unless a `reactor::Hold`
    /// says a task waits on it: a child's exit seen through SIGCHLD), no
    /// blocking job, and nothing ready — can only be woken from another
    /// thread or a signal; after [`STALL_GRACE`] of that, `on_stall`
    /// reports it (once per stall) and the loop goes on waiting: a deadlock
    /// is never silent.
    pub(crate) fn park(
        &self,
        busy: bool,
        ready: impl Fn() -> bool,
        notified: impl Fn() -> bool,
        on_stall: impl FnOnce(),
    ) {
        let (has_sources, has_active) = {
            let reactor = self.reactor.borrow();
            (reactor.has_sources(), reactor.has_active_sources())
        };
        let timeout = if busy {
            if !has_sources {
                return;
            }
            Some(Duration::ZERO)
        } else if self.timers.clock.is_virtual() {
            if has_sources {
                self.poll_reactor(Some(Duration::ZERO));
                if ready() {
                    return;
                }
            }
            if self.external.get() > 0 {
                // A thread is doing real work: wait for its wake, do not
                // jump the clock past it.
                None
            } else if self.timers.advance_virtual() {
                return;
            } else if !has_active {
                // No timer, or a paused clock: only another thread (or a
                // signal, whose passive pipe does not count) can help.
                return self.wait_stalled(ready, notified, on_stall);
            } else {
                None
            }
        } else {
            match self.timers.next_timeout() {
                // `epoll_wait` counts whole milliseconds and mio rounds up,
                // which would add up to 1 ms of lateness on top of the tick.
                // So the poll wakes up to 1 ms *early* (whole milliseconds,
                // rounded down), and the last sub-millisecond stretch is
                // slept precisely, when no I/O source could need the poll;
                // a wake from another thread then waits at most that long.
                // (A passive source, a signal's pipe, can wait that long.)
                Some(d) if d < Duration::from_millis(1) && !has_active => {
                    if !d.is_zero() && !notified() {
                        std::thread::sleep(d);
                    }
                    return;
                }
                Some(d) => Some(Duration::from_millis(d.as_millis() as u64)),
                // Passive sources (signals) do not count, unless held: a
                // task waiting for nothing else is reported, the loop still
                // wakes on them.
                None if !has_active && self.external.get() == 0 => {
                    return self.wait_stalled(ready, notified, on_stall);
                }
                None => None,
            }
        };
        self.poll_reactor(timeout);
    }

    /// The stall rule: waits [`STALL_GRACE`] for a wake from another thread,
    /// reports the stall if none came, and goes on waiting.
    fn wait_stalled(
        &self,
        ready: impl Fn() -> bool,
        notified: impl Fn() -> bool,
        on_stall: impl FnOnce(),
    ) {
        self.poll_reactor(Some(STALL_GRACE));
        if !ready() && !notified() {
            on_stall();
            // The report's hook (a test harness) may have woken a task.
            if !ready() {
                self.poll_reactor(None);
            }
        }
    }

    /// One poll of the reactor; the wakers of the events run after its
    /// borrow is released, so a woken task may register or drop a source.
    fn poll_reactor(&self, timeout: Option<Duration>) {
        let mut woken = self.woken.take();
        let polled = self.reactor.borrow_mut().turn(timeout, &mut woken);
        if let Err(e) = polled {
            panic!("taskloop: polling for I/O failed: {e}");
        }
        for w in woken.drain(..) {
            wake_caught(w);
        }
        let mut slot = self.woken.borrow_mut();
        if slot.is_empty() {
            *slot = woken;
        }
    }
}
