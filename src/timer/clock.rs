//! The runtime's clock: real (`Instant::now()`) or virtual (moved only by
//! the loop), and the conversion between `Instant`s and wheel ticks.
//!
//! It owns the rounding rules that make timers never fire early: a deadline
//! rounds *up* to its tick, the current time rounds *down*.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The clock of one runtime.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Tick 0.
    origin: Instant,
    /// Length of one tick in nanoseconds (at least 1).
    tick_ns: u64,
    /// `Some` in virtual time: how far the virtual clock is past `origin`.
    virtual_elapsed: Option<Cell<Duration>>,
}

/// The tick of a deadline that never comes.
pub(crate) const NEVER: u64 = u64::MAX;

impl Clock {
    pub(crate) fn new(tick: Duration, virtual_time: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            tick_ns: u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1),
            virtual_elapsed: virtual_time.then(|| Cell::new(Duration::ZERO)),
        }
    }

    /// Whether this is a virtual clock.
    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_elapsed.is_some()
    }

    /// The current time.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match &self.virtual_elapsed {
            Some(elapsed) => self.origin + elapsed.get(),
            None => Instant::now(),
        }
    }

    /// The tick `now` is in (rounded down).
    pub(crate) fn tick_at(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(ns / u128::from(self.tick_ns)).unwrap_or(NEVER - 1)
    }

    /// The first tick at or after `deadline` (rounded up, so a timer firing
    /// at that tick is never early); [`NEVER`] if that tick is beyond the
    /// wheel's range (hundreds of millions of years), so it never fires
    /// rather than fire early.
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.origin).as_nanos();
        let tick = ns.div_ceil(u128::from(self.tick_ns));
        match u64::try_from(tick) {
            Ok(t) if t < NEVER => t,
            _ => NEVER,
        }
    }

    /// The tick of `now + delay`; [`NEVER`] if that is not representable
    /// (`Duration::MAX`, for one).
    pub(crate) fn delay_tick(&self, now: Instant, delay: Duration) -> u64 {
        match now.checked_add(delay) {
            Some(deadline) => self.deadline_tick(deadline),
            None => NEVER,
        }
    }

    /// The instant tick `tick` begins.
    pub(crate) fn tick_instant(&self, tick: u64) -> Option<Instant> {
        let ns = u128::from(tick) * u128::from(self.tick_ns);
        let d = Duration::new(
            u64::try_from(ns / 1_000_000_000).ok()?,
            (ns % 1_000_000_000) as u32,
        );
        self.origin.checked_add(d)
    }

    /// Virtual time: jumps forward to the start of `tick` (never back).
    pub(crate) fn advance_to_tick(&self, tick: u64) {
        if let (Some(elapsed), Some(at)) = (&self.virtual_elapsed, self.tick_instant(tick)) {
            let target = at.saturating_duration_since(self.origin);
            if target > elapsed.get() {
                elapsed.set(target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_now_rounds_down() {
        let c = Clock::new(Duration::from_millis(1), true);
        let o = c.origin;
        assert_eq!(c.deadline_tick(o), 0);
        assert_eq!(c.deadline_tick(o + Duration::from_micros(1)), 1);
        assert_eq!(c.deadline_tick(o + Duration::from_millis(1)), 1);
        assert_eq!(c.tick_at(o + Duration::from_micros(1999)), 1);
        assert_eq!(
            c.deadline_tick(o - Duration::from_secs(1)),
            0,
            "past deadlines are tick 0"
        );
    }

    #[test]
    fn huge_delays_never_fire_and_never_overflow() {
        let c = Clock::new(Duration::from_millis(1), false);
        assert_eq!(c.delay_tick(c.now(), Duration::MAX), NEVER);
        let far = c.delay_tick(c.now(), Duration::from_secs(u64::MAX / 4_000_000_000));
        assert!(far < NEVER);
    }

    #[test]
    fn virtual_time_moves_only_forward() {
        let c = Clock::new(Duration::from_millis(1), true);
        let t0 = c.now();
        c.advance_to_tick(1500);
        assert_eq!(c.now() - t0, Duration::from_millis(1500));
        c.advance_to_tick(10);
        assert_eq!(c.now() - t0, Duration::from_millis(1500));
    }
}
