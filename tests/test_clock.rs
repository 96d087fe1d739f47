//! The test clock: `time::advance`, `time::advance_to_next`, a paused
//! auto-advance, and deadlines that land exactly on the virtual clock.
//! Mirrors asyncio's `test_utils.TestLoop.advance_time` and the
//! `loop.time()`-mocking of CPython's `test_asyncio/test_timeouts.py`.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use taskloop::{Runtime, spawn, time, yield_now};
use util::ms;

/// A runtime on a virtual clock whose auto-advance is off.
fn paused() -> Runtime {
    util::init_logger();
    Runtime::builder()
        .virtual_time(true)
        .auto_advance(false)
        .build()
        .unwrap()
}

/// Spawns a task that sleeps `d` and logs `(name, now - t0)` when it wakes.
fn sleeper(
    log: &Rc<RefCell<Vec<(&'static str, Duration)>>>,
    t0: Instant,
    name: &'static str,
    d: Duration,
) -> taskloop::Task<()> {
    let log = log.clone();
    spawn(async move {
        time::sleep(d).await.unwrap();
        log.borrow_mut().push((name, time::now() - t0));
    })
}

#[test]
fn advance_fires_timers_on_the_way_in_deadline_order_each_at_its_own_deadline() {
    paused().block_on(async {
        let t0 = time::now();
        let log = Rc::new(RefCell::new(Vec::new()));
        let _c = sleeper(&log, t0, "c", ms(300));
        let _a = sleeper(&log, t0, "a", ms(100));
        let _b = sleeper(&log, t0, "b", Duration::from_micros(100_500));
        let _late = sleeper(&log, t0, "late", ms(1_000));
        time::advance(ms(500)).await.unwrap();
        assert_eq!(
            *log.borrow(),
            [
                ("a", ms(100)),
                ("b", Duration::from_micros(100_500)),
                ("c", ms(300))
            ]
        );
        assert_eq!(time::now() - t0, ms(500), "exactly the advance");
        time::advance(ms(500)).await.unwrap();
        assert_eq!(log.borrow().last(), Some(&("late", ms(1_000))));
        assert_eq!(time::now() - t0, ms(1_000));
    });
}

#[test]
fn a_paused_clock_does_not_move_while_the_main_task_waits_for_a_yield() {
    paused().block_on(async {
        let t0 = time::now();
        let sleeper = spawn(time::sleep(ms(10)));
        for _ in 0..100 {
            yield_now().await.unwrap();
        }
        assert!(!sleeper.is_done(), "pending until the test moves time");
        assert_eq!(time::now(), t0);
        assert_eq!(time::next_deadline(), Some(t0 + ms(10)));
        time::advance(ms(9)).await.unwrap();
        assert!(!sleeper.is_done());
        time::advance(ms(1)).await.unwrap();
        assert!(sleeper.is_done(), "due exactly at the end of the advance");
    });
}

#[test]
fn sleep_deadlines_land_exactly_with_no_hidden_extra_tick() {
    paused().block_on(async {
        // Move off any millisecond boundary first: a wheel rounding to
        // 1 ms ticks would now make every sleep late.
        time::advance(Duration::from_nanos(123_456)).await.unwrap();
        for d in [
            Duration::from_nanos(1),
            Duration::from_micros(1_500),
            ms(1),
            Duration::from_secs(30),
        ] {
            let start = time::now();
            let task = spawn(async move {
                time::sleep(d).await.unwrap();
                time::now()
            });
            time::advance_to_next().await.unwrap();
            assert_eq!(task.await.unwrap() - start, d);
            assert_eq!(time::now() - start, d);
        }
    });
}

#[taskloop::test]
async fn auto_advanced_sleeps_are_exact_too() {
    let start = time::now();
    time::sleep(Duration::from_micros(1_500)).await.unwrap();
    assert_eq!(time::now() - start, Duration::from_micros(1_500));
    time::advance(Duration::from_nanos(7)).await.unwrap();
    assert_eq!(time::now() - start, Duration::from_nanos(1_500_007));
}

#[test]
fn advance_to_next_jumps_to_the_earliest_timer_and_reports_when_none_is_left() {
    paused().block_on(async {
        let t0 = time::now();
        let log = Rc::new(RefCell::new(Vec::new()));
        let _far = sleeper(&log, t0, "far", Duration::from_secs(3_600));
        let _near = sleeper(&log, t0, "near", ms(5));
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        assert!(time::advance_to_next().await.unwrap());
        assert_eq!(time::now() - t0, ms(5));
        assert_eq!(*log.borrow(), [("near", ms(5))]);
        assert!(time::advance_to_next().await.unwrap());
        assert_eq!(time::now() - t0, Duration::from_secs(3_600));
        assert!(!time::advance_to_next().await.unwrap());
        assert_eq!(time::now() - t0, Duration::from_secs(3_600));
    });
}

#[test]
fn tasks_woken_on_the_way_run_at_their_deadline_and_may_arm_new_timers() {
    paused().block_on(async {
        let t0 = time::now();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let _ticker = spawn(async move {
            loop {
                time::sleep(ms(100)).await.unwrap();
                s.borrow_mut().push(time::now() - t0);
            }
        });
        time::advance(ms(350)).await.unwrap();
        assert_eq!(*seen.borrow(), [ms(100), ms(200), ms(300)]);
    });
}

#[taskloop::test]
async fn pause_and_resume_switch_auto_advance_at_run_time() {
    let t0 = time::now();
    time::pause_auto_advance();
    let sleeper = spawn(time::sleep(ms(50)));
    yield_now().await.unwrap();
    yield_now().await.unwrap();
    assert!(!sleeper.is_done());
    time::resume_auto_advance();
    sleeper.await.unwrap().unwrap();
    assert_eq!(time::now() - t0, ms(50));
}

#[test]
fn a_cancelled_advance_leaves_the_clock_where_it_got_to() {
    paused().block_on(async {
        let t0 = time::now();
        let advancer = spawn(time::advance(ms(100)));
        let canceller = spawn(async move {
            time::sleep(ms(40)).await.unwrap();
        });
        canceller.await.unwrap();
        assert_eq!(time::now() - t0, ms(40));
        advancer.cancel();
        assert!(advancer.await.unwrap_err().is_cancelled());
        // Paused again: nothing else moves it.
        assert_eq!(time::now() - t0, ms(40));
        assert_eq!(time::next_deadline(), None);
    });
}

#[test]
#[should_panic(expected = "needs a virtual clock")]
fn advancing_the_real_clock_panics_with_a_message() {
    util::block_on(async {
        drop(time::advance(ms(1)));
    });
}

#[test]
#[should_panic(expected = "needs a virtual clock")]
fn pausing_the_real_clock_panics_with_a_message() {
    util::block_on(async { time::pause_auto_advance() });
}
