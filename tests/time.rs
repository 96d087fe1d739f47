//! Timers: `time::sleep`, `sleep_until`, `interval`, `now`, `Sleep::reset`,
//! and the virtual clock of `Builder::virtual_time`.
//!
//! Everything that depends on time runs on the virtual clock, which stands
//! still while tasks are ready and jumps to the next timer deadline when the
//! loop is idle, so durations are exact and the tests deterministic. One
//! coarse test uses the real clock.
//!
//! "asyncio: ..." states the asyncio behaviour a test mirrors; "mirrors X"
//! names the CPython test it comes from.

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use taskloop::time::{self, Sleep, interval, sleep, sleep_until};
use taskloop::{Cancelled, Runtime, current_task, spawn, yield_now};
use util::{Either, Signal, panic_message, select2, yield_n};

// ---------------------------------------------------------------------------
// Helpers

const HOUR: Duration = Duration::from_secs(3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A runtime on the virtual clock (1 ms tick).
fn virtual_runtime() -> Runtime {
    util::init_logger();
    Runtime::builder()
        .virtual_time(true)
        .build()
        .expect("cannot create a runtime")
}

/// `block_on` in a fresh virtual-time runtime.
fn block_on_virtual<F: Future>(future: F) -> F::Output {
    virtual_runtime().block_on(future)
}

/// Virtual time since `t0`.
fn since(t0: Instant) -> Duration {
    time::now() - t0
}

/// Polls `future` once with the task's waker and returns the result.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// Polls a sleep once, which arms its timer, and checks it is pending.
async fn arm(sleep: &mut Sleep) {
    assert!(
        poll_once(sleep).await.is_pending(),
        "the sleep fired at once"
    );
}

/// A hand-made select: polls both futures on every poll (no per-child
/// wakers) and returns the first output, `a` winning ties.
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// A small seeded xorshift64 generator, for reproducible "random" durations.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A log of events shared between tasks.
type Log = Rc<RefCell<Vec<String>>>;

fn new_log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, event: impl Into<String>) {
    log.borrow_mut().push(event.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

// ---------------------------------------------------------------------------
// The virtual clock

// Builder::virtual_time docs: a test of a long wait runs in microseconds
#[test]
fn a_program_sleeping_an_hour_on_the_virtual_clock_finishes_at_once_and_sees_exact_durations() {
    let real = Instant::now();
    block_on_virtual(async {
        let t0 = time::now();
        let mut prev = t0;
        for i in 1..=3600u32 {
            sleep(Duration::from_secs(1)).await.unwrap();
            let now = time::now();
            assert_eq!(now - prev, Duration::from_secs(1), "sleep number {i}");
            prev = now;
        }
        assert_eq!(since(t0), HOUR);
    });
    let took = real.elapsed();
    assert!(
        took < Duration::from_secs(300),
        "an hour of virtual sleeps took {took:?}"
    );
}

#[test]
fn concurrent_tasks_sleeping_an_hour_each_in_steps_all_end_at_exactly_one_hour() {
    let real = Instant::now();
    block_on_virtual(async {
        let t0 = time::now();
        // Ten tasks, each an hour in steps of 1..=10 minutes' worth of
        // seconds that divide the hour.
        let steps = [1u64, 2, 3, 4, 5, 6, 10, 12, 15, 20];
        let tasks: Vec<_> = steps
            .iter()
            .map(|&step| {
                spawn(async move {
                    let start = time::now();
                    for _ in 0..3600 / step {
                        let before = time::now();
                        sleep(Duration::from_secs(step)).await.unwrap();
                        assert_eq!(since(before), Duration::from_secs(step));
                    }
                    since(start)
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), HOUR);
        }
        assert_eq!(since(t0), HOUR);
    });
    let took = real.elapsed();
    assert!(
        took < Duration::from_secs(300),
        "took {took:?} of real time"
    );
}

// Builder::virtual_time docs: time stands still while any task is ready
#[test]
fn the_virtual_clock_stands_still_while_tasks_are_ready_even_as_real_time_passes() {
    block_on_virtual(async {
        let t0 = time::now();
        let busy = spawn(async {
            for _ in 0..100 {
                yield_now().await.unwrap();
            }
        });
        std::thread::sleep(ms(5)); // real time passes inside a poll
        yield_n(50).await;
        assert_eq!(time::now(), t0);
        busy.await.unwrap();
        assert_eq!(time::now(), t0);
        sleep(ms(7)).await.unwrap();
        assert_eq!(since(t0), ms(7), "then it jumps to the next deadline");
    });
}

// ---------------------------------------------------------------------------
// Never early, exact on the virtual clock

#[test]
fn no_sleep_wakes_early_and_each_wakes_exactly_at_its_deadline() {
    block_on_virtual(async {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let t0 = time::now();
        let wakes = Rc::new(RefCell::new(Vec::new()));
        let mut expected = Vec::new();
        let tasks: Vec<_> = (0..1000usize)
            .map(|i| {
                let d = ms(rng.range(1, 50));
                expected.push((d, i));
                let wakes = wakes.clone();
                spawn(async move {
                    let start = time::now();
                    sleep(d).await.unwrap();
                    let woke = since(start);
                    assert!(woke >= d, "task {i} slept {d:?} but woke after {woke:?}");
                    wakes.borrow_mut().push((woke, i));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // Exact durations, and wake order = (deadline, insertion) order.
        expected.sort();
        assert_eq!(*wakes.borrow(), expected);
        assert_eq!(since(t0), expected.last().unwrap().0);
    });
}

// timer docs: a deadline rounds up to its tick, so a timer is never early
#[test]
fn sub_tick_sleeps_wake_at_their_deadline_rounded_up_to_the_tick() {
    for tick_us in [1_000u64, 10_000] {
        let tick = Duration::from_micros(tick_us);
        let rt = Runtime::builder()
            .virtual_time(true)
            .tick(tick)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut rng = XorShift(42 + tick_us);
            let t0 = time::now();
            let tasks: Vec<_> = (0..500)
                .map(|_| {
                    let d = Duration::from_micros(rng.range(1, 50_000));
                    spawn(async move {
                        let start = time::now();
                        sleep(d).await.unwrap();
                        (d, since(start))
                    })
                })
                .collect();
            for task in tasks {
                let (d, woke) = task.await.unwrap();
                let rounded = tick * u32::try_from(d.as_micros().div_ceil(tick_us.into())).unwrap();
                assert_eq!(woke, rounded, "a {d:?} sleep with a {tick:?} tick");
            }
            // sleep_until an instant between ticks rounds up as well.
            let start = time::now();
            sleep_until(start + tick + tick / 2).await.unwrap();
            assert_eq!(since(start), tick * 2);
            assert!(since(t0) > Duration::ZERO);
        });
    }
}

// ---------------------------------------------------------------------------
// Order

// asyncio: call_at handles with equal `when` run in scheduling order
#[test]
fn timers_with_the_same_deadline_wake_their_tasks_in_insertion_order() {
    let log = new_log();
    let l = log.clone();
    block_on_virtual(async move {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let l = l.clone();
                spawn(async move {
                    sleep(ms(5)).await.unwrap();
                    push(&l, format!("{i}"));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(entries(&log), expected);
}

#[test]
fn timers_with_the_same_deadline_inserted_at_different_times_keep_insertion_order() {
    let log = new_log();
    let l = log.clone();
    block_on_virtual(async move {
        let t0 = time::now();
        let deadline = t0 + Duration::from_secs(10);
        // Armed 10 s, 9.99 s, 5 s, 1 ms and 0 ms before the deadline: in
        // different levels of the wheel, then cascaded together.
        let waits = [0u64, 10, 5_000, 9_999, 10_000];
        let tasks: Vec<_> = waits
            .iter()
            .map(|&wait| {
                let l = l.clone();
                spawn(async move {
                    sleep(ms(wait)).await.unwrap();
                    sleep_until(deadline).await.unwrap();
                    assert_eq!(time::now(), deadline);
                    push(&l, format!("armed at {wait}"));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(
        entries(&log),
        [
            "armed at 0",
            "armed at 10",
            "armed at 5000",
            "armed at 9999",
            "armed at 10000"
        ]
    );
}

// asyncio: the scheduler heap pops the earliest `when` first
#[test]
fn timers_with_different_deadlines_wake_in_deadline_order() {
    let log = new_log();
    let l = log.clone();
    block_on_virtual(async move {
        let t0 = time::now();
        let tasks: Vec<_> = [30u64, 10, 2_000, 20, 1, 70_000]
            .iter()
            .map(|&d| {
                let l = l.clone();
                spawn(async move {
                    sleep(ms(d)).await.unwrap();
                    assert_eq!(since(t0), ms(d));
                    push(&l, format!("{d}"));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(entries(&log), ["1", "10", "20", "30", "2000", "70000"]);
}

#[test]
fn deadlines_already_past_fire_in_deadline_order_not_arrival_order() {
    let log = new_log();
    let l = log.clone();
    block_on_virtual(async move {
        sleep(Duration::from_secs(1)).await.unwrap();
        let now = time::now();
        let tasks: Vec<_> = [5u64, 10, 1, 10]
            .iter()
            .enumerate()
            .map(|(i, &ago)| {
                let l = l.clone();
                spawn(async move {
                    sleep_until(now - ms(ago)).await.unwrap();
                    assert_eq!(time::now(), now, "a past deadline takes no time");
                    push(&l, format!("{ago} ms ago (#{i})"));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(
        entries(&log),
        [
            "10 ms ago (#1)",
            "10 ms ago (#3)",
            "5 ms ago (#0)",
            "1 ms ago (#2)"
        ]
    );
}

// ---------------------------------------------------------------------------
// sleep(0), past deadlines, Duration::MAX, far deadlines

// asyncio: sleep(0) yields exactly once (the `__sleep0` bare yield)
#[test]
fn sleep_zero_yields_exactly_once_like_yield_now_and_takes_no_virtual_time() {
    /// Main and a peer each log three steps, main yielding with `pause`.
    fn interleaving(zero_sleep: bool) -> Vec<String> {
        let log = new_log();
        let l = log.clone();
        block_on_virtual(async move {
            let t0 = time::now();
            let peer = spawn({
                let l = l.clone();
                async move {
                    for i in 1..=3 {
                        push(&l, format!("peer {i}"));
                        yield_now().await.unwrap();
                    }
                }
            });
            for i in 1..=3 {
                push(&l, format!("main {i}"));
                if zero_sleep {
                    sleep(Duration::ZERO).await.unwrap();
                } else {
                    yield_now().await.unwrap();
                }
            }
            peer.await.unwrap();
            assert_eq!(time::now(), t0, "sleep(0) takes no virtual time");
        });
        entries(&log)
    }
    let with_sleep = interleaving(true);
    assert_eq!(
        with_sleep,
        ["main 1", "peer 1", "main 2", "peer 2", "main 3", "peer 3"]
    );
    assert_eq!(with_sleep, interleaving(false));

    // Exactly one suspension: two polls.
    block_on_virtual(async {
        let counters = util::Counters::new();
        counters.wrap(sleep(Duration::ZERO)).await.unwrap();
        assert_eq!(counters.polls(), 2);
    });
}

// Sleep::is_elapsed docs: whether the deadline has passed as of the last poll
#[test]
fn is_elapsed_is_false_until_a_poll_sees_the_deadline_and_true_after() {
    block_on_virtual(async {
        let t0 = time::now();
        let mut s = sleep(ms(3));
        assert_eq!(s.deadline(), Some(t0 + ms(3)));
        assert!(!s.is_elapsed());
        arm(&mut s).await;
        assert!(!s.is_elapsed());
        (&mut s).await.unwrap();
        assert!(s.is_elapsed());
        assert_eq!(since(t0), ms(3));

        let mut past = sleep_until(t0);
        assert!(!past.is_elapsed(), "as of the last poll: none yet");
        (&mut past).await.unwrap();
        assert!(past.is_elapsed());
    });
}

#[test]
fn a_completed_zero_sleep_reports_is_elapsed() {
    block_on_virtual(async {
        let t0 = time::now();
        let mut s = sleep(Duration::ZERO);
        assert_eq!(s.deadline(), Some(t0));
        (&mut s).await.unwrap();
        assert!(
            s.is_elapsed(),
            "sleep(0) completed and its deadline {:?} is now, yet is_elapsed() is false",
            s.deadline()
        );
    });
}

// sleep_until docs: a deadline in the past fires at the next turn of the loop
// asyncio: sleep(negative) behaves as sleep(0)
#[test]
fn sleep_until_a_past_instant_completes_at_the_next_turn_without_waiting() {
    const BATCH: usize = 16;
    let rt = Runtime::builder()
        .virtual_time(true)
        .max_batch(BATCH)
        .build()
        .unwrap();
    rt.block_on(async {
        sleep(Duration::from_secs(1)).await.unwrap();
        let t0 = time::now();
        let done = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0usize));
        // A peer that stays ready until main is back.
        let peer = spawn({
            let (done, spins) = (done.clone(), spins.clone());
            async move {
                while !done.get() {
                    spins.set(spins.get() + 1);
                    yield_now().await.unwrap();
                }
            }
        });
        sleep_until(t0 - Duration::from_secs(1)).await.unwrap();
        done.set(true);
        assert_eq!(time::now(), t0);
        let n = spins.get();
        assert!(n >= 1, "the past sleep did not suspend");
        assert!(
            n <= BATCH,
            "the past sleep waited {n} polls of a busy peer: more than one turn of {BATCH}"
        );
        peer.await.unwrap();
    });
}

// sleep docs: Duration::MAX never fires; asyncio: sleep(inf)-like waits are
// ended only by a cancellation (mirrors test_tasks.py::test_sleep_cancel)
#[test]
fn a_sleep_of_duration_max_never_fires_and_is_ended_by_cancel() {
    block_on_virtual(async {
        let t0 = time::now();
        let outcome = Rc::new(Cell::new(None));
        let forever = spawn({
            let outcome = outcome.clone();
            async move {
                let s = sleep(Duration::MAX);
                assert_eq!(s.deadline(), None);
                outcome.set(Some(s.await));
            }
        });
        sleep(10 * YEAR).await.unwrap();
        assert_eq!(since(t0), 10 * YEAR);
        assert!(!forever.is_done(), "Duration::MAX fired");
        assert_eq!(outcome.get(), None);

        assert!(forever.cancel());
        let out = forever.await;
        assert!(out.unwrap_err().is_cancelled());
        assert_eq!(outcome.get(), Some(Err(Cancelled)));
        assert_eq!(since(t0), 10 * YEAR, "the cancel took no time");
    });
}

#[taskloop::test]
async fn a_hundred_year_sleep_wakes_after_exactly_a_hundred_years() {
    let t0 = time::now();
    let s = sleep(100 * YEAR);
    assert_eq!(s.deadline(), Some(t0 + 100 * YEAR));
    s.await.unwrap();
    assert_eq!(since(t0), 100 * YEAR);
    // And again, from there, with sleep_until.
    sleep_until(t0 + 200 * YEAR).await.unwrap();
    assert_eq!(since(t0), 200 * YEAR);
}

// timer docs: a timer never fires early; sleep docs: delays that cannot be
// represented never fire
#[test]
fn a_deadline_beyond_the_wheel_range_never_fires_early() {
    // 2e16 s (~634 million years) is a valid `Instant` offset but more
    // milliseconds than a u64 holds.
    let far = Duration::from_secs(20_000_000_000_000_000);
    let signal = Signal::new();
    let s = signal.clone();
    // If the sleep rightly never fires, the loop would idle forever on the
    // virtual clock: a thread ends the wait after a little real time.
    let helper = std::thread::spawn(move || {
        std::thread::sleep(ms(100));
        s.fire();
    });
    block_on_virtual(async {
        let t0 = time::now();
        let Some(deadline) = t0.checked_add(far) else {
            return; // this platform's Instant cannot hold it: nothing to test
        };
        let woke = spawn(async move {
            sleep_until(deadline).await.unwrap();
            since(t0)
        });
        match race(woke, signal.wait()).await {
            Either::Left(at) => {
                let at = at.unwrap();
                assert!(at >= far, "a sleep of {far:?} woke after {at:?}");
            }
            Either::Right(()) => {} // never fired: fine
        }
    });
    helper.join().unwrap();
}

// ---------------------------------------------------------------------------
// Cancellation

// mirrors test_tasks.py::test_sleep_cancel: cancel() ends the sleep at once
#[test]
fn cancel_of_a_sleeping_task_is_delivered_by_the_sleep_at_once_without_advancing_time() {
    block_on_virtual(async {
        let t0 = time::now();
        let outcome = Rc::new(Cell::new(None));
        let sleeper = spawn({
            let outcome = outcome.clone();
            async move {
                let r = sleep(HOUR).await;
                outcome.set(Some(r));
                r
            }
        });
        yield_n(1).await; // the sleeper is now waiting on its timer
        assert!(sleeper.cancel());
        let out = sleeper.await;
        assert!(out.unwrap_err().is_cancelled());
        assert_eq!(outcome.get(), Some(Err(Cancelled)));
        assert_eq!(time::now(), t0, "the cancel waited for the timer");
        // The timer is gone: the next deadline is main's own.
        sleep(ms(1)).await.unwrap();
        assert_eq!(since(t0), ms(1));
    });
}

#[test]
fn cancel_reaches_a_sleep_pending_under_a_per_child_waker_combinator() {
    block_on_virtual(async {
        let t0 = time::now();
        let sleeper = spawn(async {
            let out = select2(sleep(HOUR), sleep(2 * HOUR)).await;
            (out, time::now())
        });
        yield_n(1).await;
        assert!(sleeper.cancel());
        // The task saw the cancellation, so it ends cancelled; look at what
        // the sleep returned through a second task that uncancels.
        assert!(sleeper.await.unwrap_err().is_cancelled());
        assert_eq!(time::now(), t0);

        let sleeper = spawn(async {
            let out = select2(sleep(HOUR), sleep(2 * HOUR)).await;
            current_task().unwrap().uncancel();
            (out, time::now())
        });
        yield_n(1).await;
        sleeper.cancel();
        let (out, at) = sleeper.await.unwrap();
        assert_eq!(
            out,
            Either::Left(Err(Cancelled)),
            "delivered once, to the first"
        );
        assert_eq!(at, t0);
        sleep(ms(1)).await.unwrap();
        assert_eq!(since(t0), ms(1), "both timers were removed");
    });
}

/// What a task that slept and may have been cancelled saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Slept,
    Cancelled,
}

/// A sleeps 10 ms; B sleeps 10 ms and cancels A when it wakes: both timers
/// fire in the same turn. `b_first` arms B's timer first. Returns what A's
/// sleep returned, whether `cancel()` returned true, and A's end state.
fn cancel_in_the_firing_turn(b_first: bool) -> (Seen, bool, bool) {
    block_on_virtual(async move {
        let t0 = time::now();
        let seen = Rc::new(Cell::new(None));
        let a_slot: Rc<RefCell<Option<taskloop::TaskRef>>> = Rc::default();
        let make_a = || {
            let seen = seen.clone();
            spawn(async move {
                let r = sleep(ms(10)).await;
                assert!(seen.get().is_none(), "A's sleep returned twice");
                seen.set(Some(match r {
                    Ok(()) => Seen::Slept,
                    Err(Cancelled) => Seen::Cancelled,
                }));
                r
            })
        };
        let make_b = || {
            let a_slot = a_slot.clone();
            spawn(async move {
                sleep(ms(10)).await.unwrap();
                let a = a_slot.borrow().clone().unwrap();
                a.cancel()
            })
        };
        let (a, b) = if b_first {
            let b = make_b();
            (make_a(), b)
        } else {
            let a = make_a();
            (a, make_b())
        };
        *a_slot.borrow_mut() = Some(a.as_task_ref().clone());
        let accepted = b.await.unwrap();
        let a_out = a.await;
        assert_eq!(since(t0), ms(10));
        let seen = seen.get().expect("A never returned from its sleep");
        let a_cancelled = match a_out {
            Ok(r) => {
                assert_eq!(r, Ok(()));
                false
            }
            Err(e) => {
                assert!(e.is_cancelled());
                true
            }
        };
        (seen, accepted, a_cancelled)
    })
}

// asyncio: cancelling a task whose sleep future already completed but which
// has not run yet still delivers CancelledError at its next step
// (Task.cancel sets _must_cancel); a task already done cannot be cancelled
#[test]
fn cancelling_a_sleep_whose_timer_fires_in_the_same_turn_is_delivered_once_and_consistently() {
    // B's timer first: B runs first and cancels A before A resumes.
    let (seen, accepted, a_cancelled) = cancel_in_the_firing_turn(true);
    assert!(accepted);
    assert_eq!(seen, Seen::Cancelled);
    assert!(
        a_cancelled,
        "A got Err(Cancelled) and returned it: cancelled"
    );

    // A's timer first: A returns Ok and is done before B cancels it.
    let (seen, accepted, a_cancelled) = cancel_in_the_firing_turn(false);
    assert!(!accepted, "cancel() of a done task returns false");
    assert_eq!(seen, Seen::Slept);
    assert!(!a_cancelled);
}

// ---------------------------------------------------------------------------
// Dropping a Sleep

#[test]
fn dropping_armed_sleeps_removes_their_timers_from_the_wheel() {
    const N: usize = 100_000;
    let real = Instant::now();
    block_on_virtual(async {
        let t0 = time::now();
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                spawn(async {
                    let mut s = sleep(HOUR);
                    arm(&mut s).await;
                    drop(s);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(time::now(), t0);
        sleep(ms(1)).await.unwrap();
        assert_eq!(since(t0), ms(1));
        // Wait on something that is not a timer: the idle loop would jump
        // the virtual clock to any timer still in the wheel.
        let signal = Signal::new();
        let s = signal.clone();
        let helper = std::thread::spawn(move || {
            std::thread::sleep(ms(20));
            s.fire();
        });
        signal.wait().await;
        helper.join().unwrap();
        assert_eq!(since(t0), ms(1), "a dropped sleep's timer moved the clock");
    });
    let took = real.elapsed();
    // Far below the hour a leftover timer would make the clock jump (and
    // generous enough for valgrind's 50x slow-down in CI).
    assert!(took < Duration::from_secs(300), "took {took:?}");
}

// Runtime docs: a runtime may be dropped inside a task of another one
#[test]
fn dropping_a_runtime_inside_another_does_not_cancel_the_other_runtimes_timers() {
    let inner = virtual_runtime();
    // The inner runtime's first timer: wheel key (index 0, generation 0).
    drop(inner.spawn(async {
        let _ = sleep(HOUR).await;
    }));
    inner.block_on(async {}); // runs the task above once: its timer is armed
    block_on_virtual(async move {
        let t0 = time::now();
        // The outer runtime's first timer: the same wheel key.
        let b = spawn(async { sleep(ms(10)).await.unwrap() });
        yield_n(1).await;
        drop(inner); // drops the inner task and its armed sleep
        sleep(ms(20)).await.unwrap();
        assert_eq!(since(t0), ms(20));
        assert!(
            b.is_done(),
            "a 10 ms sleep did not fire by +20 ms: dropping the inner runtime removed its timer"
        );
    });
}

// ---------------------------------------------------------------------------
// Sleeps under combinators

#[test]
fn sleeps_under_a_per_child_waker_combinator_fire_the_earliest_first() {
    block_on_virtual(async {
        let t0 = time::now();
        let out = select2(sleep(Duration::from_secs(1)), sleep(Duration::from_secs(5))).await;
        assert_eq!(out, Either::Left(Ok(())));
        assert_eq!(since(t0), Duration::from_secs(1));

        let t1 = time::now();
        let out = select2(sleep(Duration::from_secs(5)), sleep(Duration::from_secs(1))).await;
        assert_eq!(out, Either::Right(Ok(())));
        assert_eq!(since(t1), Duration::from_secs(1));

        // The losers' timers are gone with them.
        let t2 = time::now();
        sleep(ms(1)).await.unwrap();
        assert_eq!(since(t2), ms(1));
    });
}

// asyncio: `async with asyncio.timeout(30): await work()` where the work
// takes 1 s ends after 1 s
#[test]
fn a_thirty_second_timeout_race_ends_when_the_work_completes_after_one_second() {
    block_on_virtual(async {
        let t0 = time::now();
        let work = spawn(async {
            sleep(Duration::from_secs(1)).await.unwrap();
            42
        });
        match race(sleep(Duration::from_secs(30)), work).await {
            Either::Right(out) => assert_eq!(out.unwrap(), 42),
            Either::Left(r) => panic!("the 30 s timeout won: {r:?}"),
        }
        assert_eq!(since(t0), Duration::from_secs(1));

        // The other way round: the work is too slow and the timeout wins.
        let t1 = time::now();
        let slow = spawn(async {
            sleep(Duration::from_secs(60)).await?;
            Ok::<_, Cancelled>(42)
        });
        let out = race(sleep(Duration::from_secs(30)), slow).await;
        let Either::Left(Ok(())) = out else {
            panic!("the timeout did not win: {out:?}")
        };
        assert_eq!(since(t1), Duration::from_secs(30));
    });
}

// ---------------------------------------------------------------------------
// Interval

#[taskloop::test]
async fn interval_ticks_at_start_then_every_period_exactly() {
    let p = ms(250);
    let start = time::now();
    let mut every = interval(p);
    assert_eq!(every.period(), p);
    for k in 0..10u32 {
        let due = every.tick().await.unwrap();
        assert_eq!(due, start + p * k, "tick {k}");
        assert_eq!(time::now(), start + p * k, "tick {k}");
    }
}

// interval docs: missed ticks are skipped, not burst
#[test]
fn interval_skips_missed_ticks_after_a_stall() {
    block_on_virtual(async {
        let p = ms(100);
        let start = time::now();
        let mut every = interval(p);
        assert_eq!(every.tick().await.unwrap(), start);
        assert_eq!(every.tick().await.unwrap(), start + p);
        // A stall of 3.5 periods: ticks 2 and 3 are missed.
        sleep(p * 7 / 2).await.unwrap();
        let stalled = time::now();
        assert_eq!(stalled, start + p * 9 / 2);
        // The next tick is at once (reporting the tick it was due at)...
        assert_eq!(every.tick().await.unwrap(), start + p * 2);
        assert_eq!(time::now(), stalled, "the late tick did not come at once");
        // ...and the one after is at the next multiple of the period.
        assert_eq!(every.tick().await.unwrap(), start + p * 5);
        assert_eq!(time::now(), start + p * 5);
        assert_eq!(every.tick().await.unwrap(), start + p * 6);
        assert_eq!(time::now(), start + p * 6);

        // A stall of exactly two periods lands on a tick: skipped as well.
        sleep(p * 2).await.unwrap();
        assert_eq!(every.tick().await.unwrap(), start + p * 7);
        assert_eq!(time::now(), start + p * 8);
        assert_eq!(every.tick().await.unwrap(), start + p * 9);
        assert_eq!(time::now(), start + p * 9);
    });
}

// Interval::tick docs: a cancelled tick loses nothing
#[test]
fn a_cancelled_interval_tick_returns_err_and_the_tick_is_still_due() {
    block_on_virtual(async {
        let p = Duration::from_secs(1);
        let start = time::now();
        let mut every = interval(p);
        every.tick().await.unwrap();
        let me = current_task().unwrap();
        me.cancel();
        assert_eq!(every.tick().await, Err(Cancelled));
        assert_eq!(time::now(), start);
        me.uncancel();
        assert_eq!(every.tick().await.unwrap(), start + p);
        assert_eq!(since(start), p);

        // Cancelled while waiting for the tick, from another task.
        let waiter = spawn(async move {
            let r = every.tick().await;
            current_task().unwrap().uncancel();
            (r, every.tick().await)
        });
        yield_n(1).await;
        waiter.cancel();
        let (first, second) = waiter.await.unwrap();
        assert_eq!(first, Err(Cancelled));
        assert_eq!(second, Ok(start + 2 * p));
        assert_eq!(since(start), 2 * p);
    });
}

#[test]
fn interval_with_a_zero_period_panics_with_a_clear_message() {
    block_on_virtual(async {
        let payload = catch_unwind(|| interval(Duration::ZERO)).unwrap_err();
        let msg = panic_message(&*payload).unwrap();
        assert!(msg.contains("interval"), "{msg}");
        assert!(msg.contains("non-zero"), "{msg}");
    });
}

// ---------------------------------------------------------------------------
// Sleep::reset

// asyncio: Timeout.reschedule to an earlier deadline
#[test]
fn sleep_reset_moves_an_armed_deadline_earlier() {
    block_on_virtual(async {
        let t0 = time::now();
        let mut s = sleep(Duration::from_secs(10));
        arm(&mut s).await;
        s.reset(t0 + Duration::from_secs(1));
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(1)));
        (&mut s).await.unwrap();
        assert_eq!(since(t0), Duration::from_secs(1));
        // The 10 s timer is gone.
        sleep(ms(1)).await.unwrap();
        assert_eq!(since(t0), Duration::from_secs(1) + ms(1));
    });
}

// asyncio: Timeout.reschedule to a later deadline
#[test]
fn sleep_reset_moves_an_armed_deadline_later() {
    block_on_virtual(async {
        let t0 = time::now();
        let mut s = sleep(Duration::from_secs(1));
        arm(&mut s).await;
        s.reset(t0 + Duration::from_secs(5));
        (&mut s).await.unwrap();
        assert_eq!(since(t0), Duration::from_secs(5));

        // Unarmed: reset before the first poll, later and earlier.
        let t1 = time::now();
        let mut s = sleep(Duration::from_secs(1));
        s.reset(t1 + Duration::from_secs(3));
        (&mut s).await.unwrap();
        assert_eq!(since(t1), Duration::from_secs(3));
        let t2 = time::now();
        let mut s = sleep(Duration::from_secs(9));
        s.reset(t2 + ms(2));
        (&mut s).await.unwrap();
        assert_eq!(since(t2), ms(2));

        // To the past: fires at the next turn, no time passes.
        let t3 = time::now();
        let mut s = sleep(HOUR);
        arm(&mut s).await;
        s.reset(t3 - Duration::from_secs(1));
        (&mut s).await.unwrap();
        assert_eq!(time::now(), t3);
    });
}

#[test]
fn sleep_reset_after_it_fired_makes_it_pending_again() {
    block_on_virtual(async {
        let t0 = time::now();
        let mut s = sleep(Duration::from_secs(1));
        (&mut s).await.unwrap();
        assert!(s.is_elapsed());
        s.reset(time::now() + Duration::from_secs(2));
        assert!(!s.is_elapsed());
        assert!(poll_once(&mut s).await.is_pending());
        (&mut s).await.unwrap();
        assert!(s.is_elapsed());
        assert_eq!(since(t0), Duration::from_secs(3));

        // A reset sleep(0) becomes a real timer.
        let t1 = time::now();
        let mut z = sleep(Duration::ZERO);
        (&mut z).await.unwrap();
        z.reset(t1 + ms(4));
        (&mut z).await.unwrap();
        assert_eq!(since(t1), ms(4));
    });
}

// The timer fired (its waker was woken) but the task has not polled the
// sleep yet when another task moves the deadline: the sleep waits for the
// new deadline.
#[test]
fn sleep_reset_between_the_timer_firing_and_the_next_poll_waits_for_the_new_deadline() {
    block_on_virtual(async {
        let t0 = time::now();
        let shared = Rc::new(RefCell::new(sleep(Duration::from_secs(2))));
        // Main's 1 s timer first, then the sleeper's (reset to 1 s): both
        // fire in the same turn and main runs first.
        let main_wait = sleep(Duration::from_secs(1));
        let mut main_wait = pin!(main_wait);
        assert!(poll_once(&mut main_wait).await.is_pending());
        let sleeper = spawn({
            let shared = shared.clone();
            async move {
                poll_fn(|cx| Pin::new(&mut *shared.borrow_mut()).poll(cx))
                    .await
                    .unwrap();
                time::now()
            }
        });
        yield_n(1).await; // the sleeper is armed for 2 s
        shared.borrow_mut().reset(t0 + Duration::from_secs(1));
        main_wait.await.unwrap();
        assert_eq!(since(t0), Duration::from_secs(1));
        assert!(!sleeper.is_done());
        shared.borrow_mut().reset(t0 + Duration::from_secs(4));
        assert_eq!(sleeper.await.unwrap(), t0 + Duration::from_secs(4));
    });
}

// ---------------------------------------------------------------------------
// Outside a runtime; the real clock

// asyncio: asyncio.sleep() with no running loop raises RuntimeError
#[test]
fn timers_used_outside_a_runtime_panic_with_a_message_naming_taskloop_run() {
    let cases: [(&str, fn()); 3] = [
        ("sleep", || drop(sleep(ms(1)))),
        ("sleep_until", || drop(sleep_until(Instant::now()))),
        ("interval", || drop(interval(ms(1)))),
    ];
    for (name, f) in cases {
        let payload = catch_unwind(AssertUnwindSafe(f)).expect_err(name);
        let msg = panic_message(&*payload).unwrap_or_default();
        assert!(msg.contains("taskloop::run"), "{name}: {msg}");
    }
}

// time::now docs: outside a runtime it is Instant::now()
#[test]
fn time_now_outside_a_runtime_is_the_real_clock() {
    let before = Instant::now();
    let now = time::now();
    let after = Instant::now();
    assert!(before <= now && now <= after);
    // A virtual runtime that exists but is not running does not change it.
    let rt = virtual_runtime();
    rt.block_on(async { sleep(HOUR).await }).unwrap();
    let before = Instant::now();
    let now = time::now();
    assert!(before <= now && now <= Instant::now());
}

// The one test on the real clock: coarse bounds only.
#[test]
fn a_real_clock_sleep_of_20_ms_takes_at_least_20_ms() {
    util::block_on(async {
        let real = Instant::now();
        let t0 = time::now();
        sleep(ms(20)).await.unwrap();
        let took = real.elapsed();
        assert!(took >= ms(20), "woke early, after {took:?}");
        assert!(took < Duration::from_secs(60), "took {took:?}");
        assert!(since(t0) >= ms(20));
    });
}
