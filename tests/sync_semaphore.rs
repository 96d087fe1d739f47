//! `sync::Event` and `sync::Semaphore`: asyncio's `Event` and `Semaphore`,
//! ported from `Lib/test/test_asyncio/test_locks.py` (EventTests,
//! SemaphoreTests), with cancellation at every interesting moment: before
//! the grant, after the grant but before the waiter resumed.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use taskloop::sync::{Event, Semaphore};
use taskloop::time::sleep;
use taskloop::{Cancelled, spawn, wait_for, yield_now};
use util::{ms, run, yield_n};

// ---------------------------------------------------------------------------
// Event

/// test_locks.EventTests.test_wait: every waiter wakes on `set`, in order.
#[test]
fn event_set_wakes_every_waiter_in_order() {
    run(async {
        let ev = Rc::new(Event::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (ev, log) = (ev.clone(), log.clone());
                spawn(async move {
                    ev.wait().await?;
                    log.borrow_mut().push(i);
                    Ok::<_, Cancelled>(())
                })
            })
            .collect();
        yield_n(3).await;
        assert!(log.borrow().is_empty());
        assert!(!ev.is_set());
        ev.set();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(*log.borrow(), vec![0, 1, 2]);
        // A set event returns at once.
        ev.wait().await.unwrap();
    });
}

/// test_locks.EventTests.test_clear_with_waiters: a waiter present at `set`
/// wakes even though `clear` follows at once.
#[test]
fn event_clear_right_after_set_still_wakes_the_waiters() {
    run(async {
        let ev = Rc::new(Event::new());
        let t = spawn({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        yield_now().await.unwrap();
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        t.await.unwrap().unwrap();
        // A waiter arriving after the clear waits for the next set.
        assert!(wait_for(ev.wait(), ms(10)).await.unwrap_err().is_elapsed());
    });
}

/// test_locks.EventTests.test_wait_cancel: a cancelled waiter leaves the
/// list.
#[test]
fn event_wait_cancelled_returns_cancelled_and_leaves() {
    run(async {
        let ev = Rc::new(Event::new());
        let t = spawn({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        yield_now().await.unwrap();
        assert!(format!("{ev:?}").contains("waiters: 1"));
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
        assert!(format!("{ev:?}").contains("waiters: 0"));
    });
}

// ---------------------------------------------------------------------------
// Semaphore

/// test_locks.SemaphoreTests.test_acquire: permits are served in arrival
/// order as they are released.
#[test]
fn semaphore_serves_waiters_in_arrival_order() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = sem.acquire().await.unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (sem, log) = (sem.clone(), log.clone());
                spawn(async move {
                    let _p = sem.acquire().await?;
                    log.borrow_mut().push(i);
                    yield_now().await?;
                    Ok::<_, Cancelled>(())
                })
            })
            .collect();
        yield_n(2).await;
        assert_eq!(sem.waiters(), 4);
        assert!(sem.locked());
        drop(first);
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(*log.borrow(), vec![0, 1, 2, 3]);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// gh-90155 (3.11): a task that did not wait cannot take a permit a waiter
/// was promised, even if the waiter has not resumed yet.
#[test]
fn semaphore_no_barging_past_a_granted_waiter() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let waiter = spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.map(|p| p.permits()) }
        });
        yield_now().await.unwrap();
        drop(held); // granted to `waiter`, which has not run yet
        assert!(sem.try_acquire().is_err());
        assert!(sem.locked());
        assert_eq!(waiter.await.unwrap(), Ok(1));
        assert!(sem.try_acquire().is_ok());
    });
}

/// test_locks.SemaphoreTests.test_acquire_cancel_before_awoken: a waiter
/// cancelled after it was granted passes the permit on.
#[test]
fn semaphore_permit_granted_to_a_cancelled_waiter_goes_to_the_next() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let spawn_acquirer = || {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.map(|p| p.permits()) })
        };
        let a = spawn_acquirer();
        let b = spawn_acquirer();
        yield_now().await.unwrap();
        drop(held); // granted to `a`
        a.cancel(); // before `a` resumed: the cancellation wins, the permit moves on
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.await.unwrap(), Ok(1));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

/// A large request at the front holds back smaller ones behind it (no
/// starvation); when it leaves, the ones behind it are served.
#[test]
fn semaphore_acquire_many_is_fifo_and_its_cancellation_unblocks_the_next() {
    run(async {
        let sem = Rc::new(Semaphore::new(2));
        let big = spawn({
            let sem = sem.clone();
            async move { sem.acquire_many(3).await.map(|p| p.permits()) }
        });
        yield_now().await.unwrap();
        let small = spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.map(|p| p.permits()) }
        });
        yield_n(3).await;
        assert_eq!(sem.waiters(), 2);
        assert!(!small.is_done());
        big.cancel();
        assert!(big.await.unwrap_err().is_cancelled());
        assert_eq!(small.await.unwrap(), Ok(1));
    });
}

/// `forget` keeps the permits taken; `release`/`add_permits` gives them
/// back (asyncio's bare `release()`).
#[test]
fn semaphore_forget_and_release() {
    run(async {
        let sem = Semaphore::new(2);
        sem.acquire_many(2).await.unwrap().forget();
        assert_eq!(sem.available_permits(), 0);
        assert!(
            wait_for(sem.acquire(), ms(5))
                .await
                .unwrap_err()
                .is_elapsed()
        );
        sem.release();
        assert_eq!(sem.acquire().await.unwrap().permits(), 1);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A timed-out acquire under `wait_for` leaves nothing behind.
#[test]
fn semaphore_acquire_timing_out_leaves_no_waiter() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let r = wait_for(sem.acquire(), ms(50)).await;
        assert!(r.unwrap_err().is_elapsed());
        assert_eq!(sem.waiters(), 0);
        let later = spawn({
            let sem = sem.clone();
            async move {
                sleep(ms(10)).await?;
                sem.release();
                Ok::<_, Cancelled>(())
            }
        });
        assert_eq!(sem.acquire().await.unwrap().permits(), 1);
        later.await.unwrap().unwrap();
    });
}
