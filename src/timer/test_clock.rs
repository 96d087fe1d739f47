//! The test clock: moving a virtual clock by hand ([`advance`],
//! [`advance_to_next`]) and turning its auto-advance off
//! ([`pause_auto_advance`]), asyncio's `TestLoop.advance_time` and tokio's
//! `time::advance`, without a hidden extra tick.
//!
//! `advance(d)` is a sleep of exactly `d` that is allowed to move the clock
//! while auto-advance is paused: the idle loop jumps from deadline to
//! deadline as it always does on a virtual clock, and every timer on the way
//! fires at its own deadline, in deadline order, with the tasks it wakes
//! run before the clock moves on (time moves only while no task is ready).

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Timers, current_timers, sleep};
use crate::cancel::{Cancelled, yield_now};

/// Moves the virtual clock forward by exactly `duration`, firing every timer
/// due on the way, each at its own deadline as [`now`](super::now) sees it.
///
/// Returns once the clock reads `now() + duration` (as of the call) and the
/// tasks woken at that instant have had their turn. Time moves only while
/// no other task is ready, as the virtual clock always does: a task that
/// never stops yielding holds the clock still. It works whether or not
/// auto-advance is on ([`Builder::auto_advance`](crate::Builder::auto_advance),
/// [`pause_auto_advance`]); with it on, it is a [`sleep`] with a last yield.
///
/// On the default virtual clock (one-nanosecond resolution) deadlines land
/// exactly; with an explicit [`Builder::tick`](crate::Builder::tick) they
/// round up to the tick, as on the real clock.
///
/// # Cancellation
/// A checkpoint, like [`sleep`]. A cancelled `advance` leaves the clock
/// where it got to.
///
/// # Panics
/// Outside a runtime, or on the real clock (time cannot be moved there).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::time;
/// let rt = taskloop::Runtime::builder()
///     .virtual_time(true)
///     .auto_advance(false)
///     .build()?;
/// rt.block_on(async {
///     let t0 = time::now();
///     let timer = taskloop::spawn(async move {
///         time::sleep(Duration::from_millis(1500)).await.unwrap();
///         time::now() - t0
///     });
///     time::advance(Duration::from_secs(1)).await.unwrap();
///     assert!(!timer.is_done(), "1.5 s has not passed yet");
///     time::advance(Duration::from_secs(1)).await.unwrap();
///     // It woke at its own deadline, not at the end of the advance.
///     assert_eq!(timer.await.unwrap(), Duration::from_millis(1500));
///     assert_eq!(time::now() - t0, Duration::from_secs(2));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn advance(duration: Duration) -> impl Future<Output = Result<(), Cancelled>> {
    let timers = virtual_timers("advance");
    let sleeping = sleep(duration);
    async move {
        {
            let _advancing = Advancing::enter(&timers);
            sleeping.await?;
        }
        // Tasks woken at the target instant run before the caller resumes.
        yield_now().await
    }
}

/// Moves the virtual clock to the next timer's deadline and fires it (with
/// every other timer due then); returns whether there was a timer.
///
/// It yields once first, so that the tasks already ready (one just
/// spawned, say) get to arm their timers before it looks.
///
/// # Cancellation
/// As [`advance`].
///
/// # Panics
/// As [`advance`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::time;
/// let rt = taskloop::Runtime::builder()
///     .virtual_time(true)
///     .auto_advance(false)
///     .build()?;
/// rt.block_on(async {
///     let t0 = time::now();
///     let timer = taskloop::spawn(time::sleep(Duration::from_millis(250)));
///     taskloop::yield_now().await.unwrap(); // let it arm its timer
///     // What is pending, before time moves:
///     assert_eq!(time::next_deadline(), Some(t0 + Duration::from_millis(250)));
///     assert!(time::advance_to_next().await.unwrap());
///     assert_eq!(time::now() - t0, Duration::from_millis(250));
///     assert!(timer.is_done());
///     assert!(!time::advance_to_next().await.unwrap(), "no timer left");
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn advance_to_next() -> impl Future<Output = Result<bool, Cancelled>> {
    let timers = virtual_timers("advance_to_next");
    async move {
        // The tasks already ready arm their timers first.
        yield_now().await?;
        let Some(next) = timers.earliest_deadline() else {
            return Ok(false);
        };
        let wait = next.saturating_duration_since(timers.clock.now());
        advance(wait).await.map(|()| true)
    }
}

/// The deadline of the next timer of the running runtime, if one is armed:
/// what a test looks at before it moves a paused clock. On the real clock
/// it is the deadline rounded up to the tick.
///
/// # Panics
/// Outside a runtime.
///
/// # Examples
/// See [`advance_to_next`].
pub fn next_deadline() -> Option<Instant> {
    current_timers().earliest_deadline()
}

/// Stops the virtual clock from moving by itself: from now on it moves only
/// through [`advance`] and [`advance_to_next`], so a test can look at what is
/// pending before time moves. [`Builder::auto_advance`](crate::Builder::auto_advance)
/// sets the initial state.
///
/// A loop whose tasks all wait for a paused clock is stalled: after a second
/// of real time it is reported as a deadlock, as any stall is.
///
/// # Panics
/// Outside a runtime, or on the real clock.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::time;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     time::pause_auto_advance();
///     let t0 = time::now();
///     let timer = taskloop::spawn(time::sleep(Duration::from_secs(5)));
///     taskloop::yield_now().await.unwrap();
///     assert!(!timer.is_done());
///     time::resume_auto_advance();
///     timer.await.unwrap().unwrap();
///     assert_eq!(time::now() - t0, Duration::from_secs(5));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn pause_auto_advance() {
    virtual_timers("pause_auto_advance").auto_advance.set(false);
}

/// Lets the virtual clock jump to the next deadline by itself again when
/// the loop is idle (the default).
///
/// # Panics
/// Outside a runtime, or on the real clock.
///
/// # Examples
/// See [`pause_auto_advance`].
pub fn resume_auto_advance() {
    virtual_timers("resume_auto_advance").auto_advance.set(true);
}

/// The running runtime's timers, which must run on a virtual clock.
#[track_caller]
fn virtual_timers(what: &str) -> Rc<Timers> {
    let timers = current_timers();
    assert!(
        timers.clock.is_virtual(),
        "taskloop::time::{what} needs a virtual clock: build the runtime with \
         Builder::virtual_time(true) (the real clock cannot be moved)"
    );
    timers
}

/// An [`advance`] in progress, counted in [`Timers::advancing`].
struct Advancing {
    /// The timers whose count this holds.
    timers: Rc<Timers>,
}

impl Advancing {
    fn enter(timers: &Rc<Timers>) -> Advancing {
        timers.advancing.set(timers.advancing.get() + 1);
        Advancing {
            timers: timers.clone(),
        }
    }
}

impl Drop for Advancing {
    fn drop(&mut self) {
        self.timers.advancing.set(self.timers.advancing.get() - 1);
    }
}
