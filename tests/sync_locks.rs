//! `sync::Lock`, `sync::BoundedSemaphore`, `sync::Condition` and
//! `sync::Barrier`: asyncio's `Lock`, `BoundedSemaphore`, `Condition` and
//! `Barrier`, ported from `Lib/test/test_asyncio/test_locks.py` (LockTests,
//! SemaphoreTests' bounded parts, ConditionTests, BarrierTests), with
//! cancellation at every interesting moment: before the grant, after the
//! grant but before the waiter resumed, during a condition wait's
//! re-acquisition, a barrier waiter cancelled while filling or draining.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use taskloop::sync::{Barrier, BarrierWaitError, BoundedSemaphore, Condition, Event, Lock};
use taskloop::{Cancelled, Task, spawn, wait_for, yield_now};
use util::{join_soon, ms, run, since, yield_n};

/// A shared log of what happened, in order.
type Log<T> = Rc<RefCell<Vec<T>>>;

fn new_log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// A task that takes `lock`, logs `name`, and keeps the lock until
/// `release` is set (asyncio's test tasks, released by the test).
fn holder(
    lock: &Rc<Lock<()>>,
    log: &Log<&'static str>,
    name: &'static str,
    release: &Rc<Event>,
) -> Task<Result<(), Cancelled>> {
    let (lock, log, release) = (lock.clone(), log.clone(), release.clone());
    spawn(async move {
        let _g = lock.acquire().await?;
        log.borrow_mut().push(name);
        release.wait().await?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Lock

/// test_locks.LockTests.test_lock / test_release_no_waiters: the guard is
/// the lock; dropping it unlocks; the data is reachable through it.
#[test]
fn lock_guard_holds_the_data_and_unlocks_on_drop() {
    run(async {
        let lock = Lock::new(vec![1]);
        assert!(!lock.locked());
        {
            let mut g = lock.acquire().await.unwrap();
            assert!(lock.locked());
            assert!(lock.try_acquire().is_err());
            g.push(2);
        }
        assert!(!lock.locked());
        lock.try_acquire().unwrap().push(3);
        let mut lock = lock;
        lock.get_mut().push(4);
        assert_eq!(lock.into_inner(), vec![1, 2, 3, 4]);
        let bare = Lock::<()>::default();
        assert!(format!("{bare:?}").contains("locked: false"));
    });
}

/// test_locks.LockTests.test_acquire: waiters get the lock in arrival order,
/// one release at a time; a later arrival queues behind them.
#[test]
fn lock_serves_waiters_in_arrival_order_one_release_at_a_time() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let log = new_log();
        let rel: Vec<_> = (0..3).map(|_| Rc::new(Event::new())).collect();
        let held = lock.acquire().await.unwrap();
        let t1 = holder(&lock, &log, "c1", &rel[0]);
        let t2 = holder(&lock, &log, "c2", &rel[1]);
        yield_now().await.unwrap();
        assert!(log.borrow().is_empty());
        assert_eq!(lock.waiters(), 2);
        drop(held);
        yield_now().await.unwrap();
        assert_eq!(*log.borrow(), ["c1"]);
        yield_now().await.unwrap();
        assert_eq!(*log.borrow(), ["c1"]);
        let t3 = holder(&lock, &log, "c3", &rel[2]);
        rel[0].set();
        yield_n(2).await;
        assert_eq!(*log.borrow(), ["c1", "c2"]);
        rel[1].set();
        yield_n(2).await;
        assert_eq!(*log.borrow(), ["c1", "c2", "c3"]);
        rel[2].set();
        for t in [t1, t2, t3] {
            join_soon(t).await.unwrap().unwrap();
        }
        assert!(!lock.locked());
    });
}

/// test_locks.LockTests.test_acquire_cancel: a waiter cancelled before the
/// grant leaves the queue; the lock stays with its holder.
#[test]
fn lock_waiter_cancelled_before_the_grant_leaves_the_queue() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let held = lock.acquire().await.unwrap();
        let t = spawn({
            let lock = lock.clone();
            async move { lock.acquire().await.map(drop) }
        });
        yield_now().await.unwrap();
        assert_eq!(lock.waiters(), 1);
        t.cancel();
        assert!(join_soon(t).await.unwrap_err().is_cancelled());
        assert_eq!(lock.waiters(), 0);
        assert!(lock.locked());
        drop(held);
        assert!(!lock.locked());
    });
}

/// A checkpoint: a pending cancellation is delivered by `acquire` even when
/// the lock is free, and the lock is not taken.
#[test]
fn lock_acquire_delivers_a_pending_cancellation_even_when_free() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let seen = Rc::new(Cell::new(None));
        let t = spawn({
            let (lock, seen) = (lock.clone(), seen.clone());
            async move {
                taskloop::current_task().unwrap().cancel();
                let r = lock.acquire().await.map(drop);
                seen.set(Some((r, lock.locked())));
            }
        });
        // It returned after seeing the cancellation: it ends cancelled.
        assert!(join_soon(t).await.unwrap_err().is_cancelled());
        assert_eq!(seen.get(), Some((Err(Cancelled), false)));
        assert!(!lock.locked());
    });
}

/// test_locks.LockTests.test_cancel_race: B (first in line) is cancelled as
/// A releases; the lock goes to C, never to two tasks, and is free after.
#[test]
fn lock_release_skips_a_waiter_cancelled_in_the_same_turn() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let log = new_log();
        let (ra, rb, rc) = (
            Rc::new(Event::new()),
            Rc::new(Event::new()),
            Rc::new(Event::new()),
        );
        rb.set();
        rc.set();
        let ta = holder(&lock, &log, "A", &ra);
        yield_now().await.unwrap();
        assert!(lock.locked());
        let tb = holder(&lock, &log, "B", &rb);
        yield_now().await.unwrap();
        assert_eq!(lock.waiters(), 1);
        let tc = holder(&lock, &log, "C", &rc);
        yield_now().await.unwrap();
        assert_eq!(lock.waiters(), 2);
        ra.set();
        tb.cancel();
        join_soon(ta).await.unwrap().unwrap();
        assert!(join_soon(tb).await.unwrap_err().is_cancelled());
        join_soon(tc).await.unwrap().unwrap();
        assert_eq!(*log.borrow(), ["A", "C"]);
        assert!(!lock.locked());
    });
}

/// test_locks.LockTests.test_cancel_release_race (bpo-32734): cancelling the
/// first waiter and releasing in one step lets exactly one task in.
#[test]
fn lock_cancel_and_release_in_one_step_let_exactly_one_task_in() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let taken = Rc::new(Cell::new(0));
        let held = lock.acquire().await.unwrap();
        let lockit = || {
            let (lock, taken) = (lock.clone(), taken.clone());
            spawn(async move {
                let g = lock.acquire().await?;
                taken.set(taken.get() + 1);
                std::mem::forget(g); // keeps the lock: asyncio's test never releases
                Ok::<_, Cancelled>(())
            })
        };
        let (t1, t2, t3) = (lockit(), lockit(), lockit());
        yield_now().await.unwrap();
        t1.cancel();
        drop(held);
        assert!(join_soon(t1).await.unwrap_err().is_cancelled());
        join_soon(t2).await.unwrap().unwrap();
        yield_n(3).await;
        assert_eq!(taken.get(), 1);
        assert!(!t3.is_done());
        t3.cancel();
        assert!(join_soon(t3).await.unwrap_err().is_cancelled());
        assert_eq!(lock.waiters(), 0);
    });
}

/// test_locks.LockTests.test_finished_waiter_cancelled (bpo-27585): the lock
/// handed to a waiter that is cancelled before it resumed goes to the next.
#[test]
fn lock_granted_to_a_waiter_cancelled_before_it_resumed_goes_to_the_next() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let log = new_log();
        let go = Rc::new(Event::new());
        go.set();
        let held = lock.acquire().await.unwrap();
        let tb = holder(&lock, &log, "b", &go);
        yield_now().await.unwrap();
        let tc = holder(&lock, &log, "c", &go);
        yield_now().await.unwrap();
        drop(held); // granted to b, which has not run
        assert!(lock.locked());
        tb.cancel(); // the cancellation wins; the lock moves on to c
        assert!(join_soon(tb).await.unwrap_err().is_cancelled());
        join_soon(tc).await.unwrap().unwrap();
        assert_eq!(*log.borrow(), ["c"]);
        assert!(!lock.locked());
    });
}

/// The same with nobody behind: the lock given back is unlocked, not lost.
#[test]
fn lock_granted_to_the_last_waiter_then_cancelled_is_unlocked() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let held = lock.acquire().await.unwrap();
        let t = spawn({
            let lock = lock.clone();
            async move { lock.acquire().await.map(drop) }
        });
        yield_now().await.unwrap();
        drop(held);
        t.cancel();
        assert!(join_soon(t).await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_ok());
    });
}

/// A granted waiter whose task is aborted (its future dropped) also hands
/// the lock on.
#[test]
fn lock_granted_to_an_aborted_task_goes_to_the_next() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let log = new_log();
        let go = Rc::new(Event::new());
        go.set();
        let held = lock.acquire().await.unwrap();
        let ta = holder(&lock, &log, "a", &go);
        let tb = holder(&lock, &log, "b", &go);
        yield_now().await.unwrap();
        drop(held);
        ta.abort();
        assert!(join_soon(ta).await.is_err());
        join_soon(tb).await.unwrap().unwrap();
        assert_eq!(*log.borrow(), ["b"]);
        assert!(!lock.locked());
    });
}

/// No barging (asyncio 3.10–3.12 fixes; the digest's verified order
/// `['a', 'c']`): a task that did not wait cannot take the lock while the
/// waiter it was handed to has not resumed; it queues behind.
#[test]
fn lock_no_barging_past_a_granted_waiter() {
    run(async {
        let lock = Rc::new(Lock::new(()));
        let log = new_log();
        let go = Rc::new(Event::new());
        go.set();
        let held = lock.acquire().await.unwrap();
        let ta = holder(&lock, &log, "a", &go);
        yield_now().await.unwrap();
        drop(held); // granted to a
        assert!(lock.try_acquire().is_err());
        let tc = holder(&lock, &log, "c", &go);
        join_soon(ta).await.unwrap().unwrap();
        join_soon(tc).await.unwrap().unwrap();
        assert_eq!(*log.borrow(), ["a", "c"]);
    });
}

/// A timed-out `acquire` under `wait_for` leaves no waiter behind.
#[test]
fn lock_acquire_timing_out_leaves_no_waiter() {
    run(async {
        let lock = Lock::new(());
        let held = lock.acquire().await.unwrap();
        let t0 = taskloop::time::now();
        assert!(
            wait_for(lock.acquire(), ms(30))
                .await
                .unwrap_err()
                .is_elapsed()
        );
        assert_eq!(since(t0), ms(30));
        assert_eq!(lock.waiters(), 0);
        drop(held);
        assert!(!lock.locked());
    });
}

// ---------------------------------------------------------------------------
// BoundedSemaphore

/// test_locks.SemaphoreTests.test_release_not_acquired (BoundedSemaphore):
/// releasing above the initial value is an error and changes nothing.
#[test]
fn bounded_semaphore_release_above_the_initial_value_is_an_error() {
    run(async {
        let sem = BoundedSemaphore::new(2);
        assert!(sem.release().is_err());
        assert_eq!(sem.available_permits(), 2);
        let p = sem.acquire().await.unwrap();
        // A live permit gives itself back: releasing for it would overflow.
        assert!(sem.release().is_err());
        assert_eq!(sem.available_permits(), 1);
        drop(p);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.bound(), 2);
        assert_eq!(
            sem.release().unwrap_err().to_string(),
            "BoundedSemaphore released too many times"
        );
    });
}

/// test_locks.SemaphoreTests.test_release_no_waiters: asyncio's bare
/// acquire/release pair is `forget` then `release`, once per forgotten
/// permit.
#[test]
fn bounded_semaphore_releases_exactly_the_forgotten_permits() {
    run(async {
        let sem = BoundedSemaphore::new(3);
        sem.acquire_many(2).await.unwrap().forget();
        assert_eq!(sem.available_permits(), 1);
        sem.release().unwrap();
        sem.release().unwrap();
        assert!(sem.release().is_err());
        assert_eq!(sem.available_permits(), 3);
        assert!(!sem.locked());
    });
}

/// test_locks.SemaphoreTests.test_acquire_cancel_before_awoken, bounded: a
/// permit released for a waiter that is then cancelled goes to the next one.
#[test]
fn bounded_semaphore_release_to_a_cancelled_waiter_goes_to_the_next() {
    run(async {
        let sem = Rc::new(BoundedSemaphore::new(1));
        sem.acquire().await.unwrap().forget();
        let acquirer = || {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.map(|p| p.permits()) })
        };
        let (a, b) = (acquirer(), acquirer());
        yield_now().await.unwrap();
        assert_eq!(sem.waiters(), 2);
        sem.release().unwrap(); // granted to a
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.await.unwrap(), Ok(1));
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.release().is_err());
    });
}

// ---------------------------------------------------------------------------
// Condition

/// A task that takes `lock`, waits on `cond` once, and logs `i` once it
/// returned (holding the lock; it keeps it until `release` is set).
fn cond_waiter(
    lock: &Rc<Lock<()>>,
    cond: &Rc<Condition>,
    log: &Log<u32>,
    i: u32,
    release: &Rc<Event>,
) -> Task<Result<(), Cancelled>> {
    let (lock, cond, log, release) = (lock.clone(), cond.clone(), log.clone(), release.clone());
    spawn(async move {
        let g = lock.acquire().await?;
        let _g = cond.wait(g).await?;
        log.borrow_mut().push(i);
        release.wait().await?;
        Ok(())
    })
}

/// test_locks.ConditionTests.test_wait: a notified waiter returns only once
/// it holds the lock again; `[1]`, then `[1, 2]`, then `[1, 2, 3]` across
/// `notify()`, `notify(2)` and the releases.
#[test]
fn condition_wait_returns_only_once_the_lock_is_held_again() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let log = new_log();
        let rel: Vec<_> = (0..3).map(|_| Rc::new(Event::new())).collect();
        let tasks: Vec<_> = (0..3)
            .map(|i| cond_waiter(&lock, &cond, &log, i + 1, &rel[i as usize]))
            .collect();
        yield_now().await.unwrap();
        assert!(log.borrow().is_empty());
        assert!(!lock.locked());
        assert_eq!(cond.waiters(), 3);

        let g = lock.acquire().await.unwrap();
        cond.notify(1);
        yield_n(2).await;
        assert!(log.borrow().is_empty()); // notified, but the lock is ours
        drop(g);
        yield_n(2).await;
        assert_eq!(*log.borrow(), [1]);
        assert!(lock.locked());

        cond.notify(2);
        yield_n(2).await;
        assert_eq!(*log.borrow(), [1]);
        rel[0].set();
        yield_n(2).await;
        assert_eq!(*log.borrow(), [1, 2]);
        rel[1].set();
        yield_n(2).await;
        assert_eq!(*log.borrow(), [1, 2, 3]);
        assert!(lock.locked());
        rel[2].set();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(!lock.locked());
        assert_eq!(cond.waiters(), 0);
    });
}

/// test_locks.ConditionTests.test_wait_cancel: a wait cancelled while
/// waiting for the notification leaves the queue and hands the guard back,
/// the lock held again.
#[test]
fn condition_wait_cancelled_while_waiting_returns_the_guard_with_the_lock_held() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0)), Rc::new(Condition::new()));
        let t = spawn({
            let (lock, cond) = (lock.clone(), cond.clone());
            async move {
                let g = lock.acquire().await.unwrap();
                let cancelled = cond.wait(g).await.unwrap_err();
                let mut g = cancelled.into_guard();
                *g += 1; // clean-up under the lock
                (cond.waiters(), lock.locked())
            }
        });
        yield_now().await.unwrap();
        assert!(!lock.locked());
        assert_eq!(cond.waiters(), 1);
        t.cancel();
        // The task returned after seeing the cancellation: it ends cancelled.
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(cond.waiters(), 0);
        assert_eq!(*lock.try_acquire().unwrap(), 1);
    });
}

/// A wait with a cancellation already pending delivers it at once, without
/// releasing the lock (nobody else can get in).
#[test]
fn condition_wait_with_a_pending_cancellation_keeps_the_lock() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let other = Rc::new(Cell::new(false));
        let t = spawn({
            let (lock, cond, other) = (lock.clone(), cond.clone(), other.clone());
            async move {
                let g = lock.acquire().await.unwrap();
                taskloop::current_task().unwrap().cancel();
                let e = cond.wait(g).await.unwrap_err();
                let held = lock.locked() && !other.get();
                drop(e);
                held
            }
        });
        let contender = spawn({
            let (lock, other) = (lock.clone(), other.clone());
            async move {
                let _g = lock.acquire().await?;
                other.set(true);
                Ok::<_, Cancelled>(())
            }
        });
        assert!(join_soon(t).await.unwrap_err().is_cancelled());
        contender.await.unwrap().unwrap();
        assert!(other.get());
        assert_eq!(cond.waiters(), 0);
    });
}

/// test_locks.ConditionTests.test_wait_cancel_after_notify (bpo-32841),
/// test_wait_cancel_contested and test_cancelled_error_re_aquire: a wait
/// cancelled while re-acquiring after its notification is not interrupted;
/// it returns the cancellation only once it holds the lock, and its task
/// (not dropped by the executor, though it waits with a cancellation
/// outstanding) runs its clean-up under the lock.
#[test]
fn condition_wait_cancelled_while_reacquiring_returns_only_with_the_lock() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(Vec::new())), Rc::new(Condition::new()));
        let waiter = spawn({
            let (lock, cond) = (lock.clone(), cond.clone());
            async move {
                let mut g = lock.acquire().await.unwrap();
                g.push("waiting");
                match cond.wait(g).await {
                    Ok(mut g) => g.push("notified"),
                    Err(mut e) => e.get_mut().push("cancelled, lock held"),
                }
                Err::<(), _>(Cancelled)
            }
        });
        yield_now().await.unwrap();
        let mut g = lock.acquire().await.unwrap();
        cond.notify(1);
        yield_n(2).await; // the waiter took the notification and re-acquires
        assert_eq!(cond.waiters(), 0);
        assert_eq!(lock.waiters(), 1);
        waiter.cancel();
        yield_n(3).await;
        assert!(!waiter.is_done()); // not interrupted: still waiting for the lock
        g.push("main released");
        drop(g);
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(
            *lock.try_acquire().unwrap(),
            ["waiting", "main released", "cancelled, lock held"]
        );
    });
}

/// test_locks.ConditionTests.test_cancelled_wakeup (gh-112202): a notified
/// waiter cancelled before it resumed passes the notification on, so the
/// item is consumed by the other consumer.
#[test]
fn condition_notification_to_a_waiter_cancelled_before_it_resumed_goes_to_the_next() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0i32)), Rc::new(Condition::new()));
        let consumed = new_log();
        let consumer = |name: &'static str| {
            let (lock, cond, consumed) = (lock.clone(), cond.clone(), consumed.clone());
            spawn(async move {
                let mut g = lock.acquire().await?;
                loop {
                    g = cond.wait_for(g, |s| *s != 0).await?;
                    if *g < 0 {
                        return Ok::<_, Cancelled>(());
                    }
                    *g -= 1;
                    consumed.borrow_mut().push(name);
                }
            })
        };
        let c0 = consumer("c0");
        let c1 = consumer("c1");
        yield_now().await.unwrap();
        assert_eq!(cond.waiters(), 2);
        let mut g = lock.acquire().await.unwrap();
        *g += 1;
        cond.notify(1); // to c0
        c0.cancel(); // before c0 resumed
        let (mut g, r) = cond.wait_for_timeout(g, ms(10), |s| *s == 0).await.unwrap();
        assert!(!r.timed_out());
        assert_eq!(*g, 0);
        assert_eq!(*consumed.borrow(), ["c1"]);
        *g = -1;
        cond.notify_all();
        drop(g);
        assert!(c0.await.unwrap_err().is_cancelled());
        c1.await.unwrap().unwrap();
    });
}

/// test_locks.ConditionTests.test_cancelled_wakeup_relock (gh-112202): a
/// waiter that took its notification and is cancelled while re-acquiring
/// the lock passes a notification on too.
#[test]
fn condition_notification_taken_by_a_wait_cancelled_while_relocking_goes_to_the_next() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0i32)), Rc::new(Condition::new()));
        let consumed = new_log();
        let consumer = |name: &'static str| {
            let (lock, cond, consumed) = (lock.clone(), cond.clone(), consumed.clone());
            spawn(async move {
                let mut g = lock.acquire().await?;
                loop {
                    g = cond.wait_for(g, |s| *s != 0).await?;
                    if *g < 0 {
                        return Ok::<_, Cancelled>(());
                    }
                    *g -= 1;
                    consumed.borrow_mut().push(name);
                }
            })
        };
        let c0 = consumer("c0");
        let c1 = consumer("c1");
        yield_now().await.unwrap();
        let mut g = lock.acquire().await.unwrap();
        *g += 1;
        cond.notify(1);
        yield_n(2).await; // c0 took the notification and waits for the lock
        assert_eq!(cond.waiters(), 1);
        assert_eq!(lock.waiters(), 1);
        c0.cancel();
        let (mut g, r) = cond.wait_for_timeout(g, ms(10), |s| *s == 0).await.unwrap();
        assert!(!r.timed_out());
        assert_eq!(*consumed.borrow(), ["c1"]);
        *g = -1;
        cond.notify_all();
        drop(g);
        assert!(c0.await.unwrap_err().is_cancelled());
        c1.await.unwrap().unwrap();
    });
}

/// test_locks.ConditionTests.test_wait_for: `wait_for` re-checks after each
/// notification and returns only once the predicate holds.
#[test]
fn condition_wait_for_loops_until_the_predicate_holds() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(false)), Rc::new(Condition::new()));
        let checks = Rc::new(Cell::new(0));
        let t = spawn({
            let (lock, cond, checks) = (lock.clone(), cond.clone(), checks.clone());
            async move {
                let g = lock.acquire().await?;
                let g = cond
                    .wait_for(g, |ready| {
                        checks.set(checks.get() + 1);
                        *ready
                    })
                    .await?;
                Ok::<_, Cancelled>(*g)
            }
        });
        yield_now().await.unwrap();
        assert_eq!(checks.get(), 1);
        // A notification with the predicate still false: it waits again.
        cond.notify(1);
        yield_n(2).await;
        assert_eq!(checks.get(), 2);
        assert!(!t.is_done());
        assert_eq!(cond.waiters(), 1);
        *lock.acquire().await.unwrap() = true;
        cond.notify(1);
        assert_eq!(t.await.unwrap(), Ok(true));
        assert_eq!(checks.get(), 3);
        // Already true: returns at once, one check.
        let g = lock.acquire().await.unwrap();
        let g = cond.wait_for(g, |r| *r).await.unwrap();
        assert!(*g);
    });
}

/// test_locks.ConditionTests.test_notify and test_notify_all: `notify(n)`
/// wakes the first `n` waiters in arrival order, `notify_all` the rest.
#[test]
fn condition_notify_wakes_n_waiters_in_order_and_notify_all_the_rest() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let log = new_log();
        let go = Rc::new(Event::new());
        go.set();
        let tasks: Vec<_> = (1..=4)
            .map(|i| cond_waiter(&lock, &cond, &log, i, &go))
            .collect();
        yield_now().await.unwrap();
        assert_eq!(cond.waiters(), 4);
        cond.notify(1);
        yield_n(3).await;
        assert_eq!(*log.borrow(), [1]);
        cond.notify(2);
        yield_n(4).await;
        assert_eq!(*log.borrow(), [1, 2, 3]);
        cond.notify(0);
        yield_n(2).await;
        assert_eq!(*log.borrow(), [1, 2, 3]);
        cond.notify_all();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        assert_eq!(cond.waiters(), 0);
    });
}

/// test_locks.ConditionTests.test_timeout_in_block (bpo-33638/32751): a
/// timed wait ends at its deadline with the lock held again, the guard
/// handed back.
#[test]
fn condition_wait_timeout_returns_the_guard_at_the_deadline() {
    run(async {
        let (lock, cond) = (Lock::new(5), Condition::new());
        let g = lock.acquire().await.unwrap();
        let t0 = taskloop::time::now();
        let (g, r) = cond.wait_timeout(g, ms(500)).await.unwrap();
        assert!(r.timed_out());
        assert_eq!(since(t0), ms(500));
        assert_eq!(*g, 5);
        assert!(lock.locked());
        assert_eq!(cond.waiters(), 0);
    });
}

/// A timed wait notified before its deadline did not time out; one whose
/// lock is contested at the deadline returns only once it holds it.
#[test]
fn condition_wait_timeout_notified_in_time_or_relocking_after_the_deadline() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let timed = |n: u64| {
            let (lock, cond) = (lock.clone(), cond.clone());
            spawn(async move {
                let g = lock.acquire().await?;
                let t0 = taskloop::time::now();
                let (_g, r) = cond.wait_timeout(g, ms(n)).await?;
                Ok::<_, Cancelled>((r.timed_out(), since(t0)))
            })
        };
        let a = timed(100);
        yield_now().await.unwrap();
        taskloop::time::sleep(ms(40)).await.unwrap();
        cond.notify(1);
        assert_eq!(a.await.unwrap(), Ok((false, ms(40))));

        let b = timed(100);
        yield_now().await.unwrap();
        let g = lock.acquire().await.unwrap();
        taskloop::time::sleep(ms(150)).await.unwrap();
        assert!(!b.is_done()); // timed out at 100 ms, waiting for the lock
        drop(g);
        assert_eq!(b.await.unwrap(), Ok((true, ms(150))));
    });
}

/// `wait_for_timeout` gives up when the time is up with the predicate
/// false, after any number of notifications.
#[test]
fn condition_wait_for_timeout_times_out_with_the_predicate_false() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(0)), Rc::new(Condition::new()));
        let notifier = spawn({
            let (lock, cond) = (lock.clone(), cond.clone());
            async move {
                for _ in 0..3 {
                    taskloop::time::sleep(ms(10)).await?;
                    *lock.acquire().await? += 1;
                    cond.notify_all();
                }
                Ok::<_, Cancelled>(())
            }
        });
        let g = lock.acquire().await.unwrap();
        let t0 = taskloop::time::now();
        let (g, r) = cond
            .wait_for_timeout(g, ms(100), |n| *n >= 5)
            .await
            .unwrap();
        assert!(r.timed_out());
        assert_eq!(*g, 3);
        assert_eq!(since(t0), ms(100));
        drop(g);
        notifier.await.unwrap().unwrap();
    });
}

/// `?` turns a cancelled wait into `Cancelled`, releasing the lock, and
/// the task ends cancelled.
#[test]
fn condition_wait_cancelled_propagates_with_question_mark_and_releases_the_lock() {
    run(async {
        let (lock, cond) = (Rc::new(Lock::new(())), Rc::new(Condition::new()));
        let t = spawn({
            let (lock, cond) = (lock.clone(), cond.clone());
            async move {
                let g = lock.acquire().await?;
                let _g = cond.wait(g).await?;
                Ok::<_, Cancelled>(())
            }
        });
        yield_now().await.unwrap();
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
        assert_eq!(cond.waiters(), 0);
    });
}

// ---------------------------------------------------------------------------
// Barrier

/// Spawns `n` tasks that wait on `barrier` once each.
fn barrier_waiters(barrier: &Rc<Barrier>, n: usize) -> Vec<Task<Result<usize, BarrierWaitError>>> {
    (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            spawn(async move { barrier.wait().await })
        })
        .collect()
}

/// test_locks.BarrierTests.test_barrier, test_filling_tasks_check_return_value:
/// nobody passes until all parties arrived; the indices are the arrival
/// order; the barrier fills again after.
#[test]
fn barrier_opens_when_all_parties_arrived_with_arrival_indices() {
    run(async {
        let barrier = Rc::new(Barrier::new(5));
        assert_eq!(barrier.parties(), 5);
        let tasks = barrier_waiters(&barrier, 4);
        yield_n(3).await;
        assert_eq!(barrier.n_waiting(), 4);
        assert!(tasks.iter().all(|t| !t.is_done()));
        let last = barrier_waiters(&barrier, 1);
        let mut indices = Vec::new();
        for t in tasks.into_iter().chain(last) {
            indices.push(join_soon(t).await.unwrap().unwrap());
        }
        assert_eq!(indices, [0, 1, 2, 3, 4]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        assert!(format!("{barrier:?}").contains("Filling"));
    });
}

/// test_locks.BarrierTests.test_filling_one_task_twice and
/// test_filling_tasks_wait_twice: the barrier cycles.
#[test]
fn barrier_cycles_for_repeated_waits() {
    run(async {
        let one = Barrier::new(1);
        assert_eq!(one.wait().await, Ok(0));
        assert_eq!(one.wait().await, Ok(0));

        let barrier = Rc::new(Barrier::new(3));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                spawn(async move {
                    let a = barrier.wait().await?;
                    let b = barrier.wait().await?;
                    Ok::<_, BarrierWaitError>((a, b))
                })
            })
            .collect();
        let mut firsts = Vec::new();
        let mut seconds = Vec::new();
        for t in tasks {
            let (a, b) = join_soon(t).await.unwrap().unwrap();
            firsts.push(a);
            seconds.push(b);
        }
        assert_eq!(firsts, [0, 1, 2]);
        seconds.sort_unstable();
        assert_eq!(seconds, [0, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// test_locks.BarrierTests.test_filling_tasks_cancel_one: a waiter cancelled
/// while filling leaves and the count goes down; the barrier is not broken
/// and opens with the next arrivals.
#[test]
fn barrier_waiter_cancelled_while_filling_leaves_the_count_correct() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let t1 = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 2);
        t1.cancel();
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 1);
        assert!(join_soon(t1).await.unwrap_err().is_cancelled());
        let t3 = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 2);
        let t4 = barrier_waiters(&barrier, 1).pop().unwrap();
        let mut indices = Vec::new();
        for t in [t2, t3, t4] {
            indices.push(join_soon(t).await.unwrap().unwrap());
        }
        // t2 arrived when t1 was inside (index 1), t3 after t1 left.
        assert_eq!(indices, [1, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
    });
}

/// A waiter cancelled after the barrier opened, before it resumed, ends
/// cancelled, but the barrier is not broken: the others pass, and it fills
/// again for the next cycle (asyncio: cancelling while draining).
#[test]
fn barrier_waiter_cancelled_while_draining_does_not_break_it() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let mut tasks = barrier_waiters(&barrier, 2);
        yield_n(2).await;
        let last = barrier.wait().await.unwrap(); // opens it: draining
        assert_eq!(last, 2);
        tasks[0].cancel(); // notified, not resumed
        let t1 = tasks.pop().unwrap();
        let t0 = tasks.pop().unwrap();
        assert!(join_soon(t0).await.unwrap_err().is_cancelled());
        assert_eq!(join_soon(t1).await.unwrap(), Ok(1));
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(format!("{barrier:?}").contains("Filling"));
        let again = barrier_waiters(&barrier, 3);
        let mut indices = Vec::new();
        for t in again {
            indices.push(join_soon(t).await.unwrap().unwrap());
        }
        assert_eq!(indices, [0, 1, 2]);
    });
}

/// test_locks.BarrierTests.test_blocking_tasks_while_draining and
/// test_draining_state: a task that arrives while the barrier drains waits
/// for it to empty, then counts in the next cycle.
#[test]
fn barrier_arrivals_while_draining_wait_for_the_next_cycle() {
    run(async {
        let barrier = Rc::new(Barrier::new(2));
        let first = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        let opener = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_n(1).await;
        assert_eq!(barrier.n_waiting(), 0); // draining: first has not left
        assert!(format!("{barrier:?}").contains("Draining"));
        let early = barrier_waiters(&barrier, 1).pop().unwrap();
        assert_eq!(join_soon(opener).await.unwrap(), Ok(1));
        assert_eq!(join_soon(first).await.unwrap(), Ok(0));
        yield_n(2).await;
        assert_eq!(barrier.n_waiting(), 1); // early counts in the new cycle
        assert!(!early.is_done());
        assert_eq!(barrier.wait().await, Ok(1));
        assert_eq!(join_soon(early).await.unwrap(), Ok(0));
    });
}

/// test_locks.BarrierTests.test_reset_barrier_while_tasks_waiting and
/// test_reset_barrier: `reset` breaks the waits in progress, not the
/// barrier; it fills again once they left.
#[test]
fn barrier_reset_breaks_the_waits_in_progress_not_the_barrier() {
    run(async {
        let barrier = Rc::new(Barrier::new(4));
        barrier.reset(); // empty: stays filling
        assert!(!barrier.broken());
        let tasks = barrier_waiters(&barrier, 3);
        yield_n(2).await;
        assert_eq!(barrier.n_waiting(), 3);
        barrier.reset();
        for t in tasks {
            assert_eq!(join_soon(t).await.unwrap(), Err(BarrierWaitError::Broken));
        }
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(format!("{barrier:?}").contains("Filling"));
        let again = barrier_waiters(&barrier, 4);
        for (i, t) in again.into_iter().enumerate() {
            assert_eq!(join_soon(t).await.unwrap(), Ok(i));
        }
    });
}

/// test_locks.BarrierTests.test_abort_barrier and
/// test_abort_barrier_when_tasks_half_draining_half_blocking: `abort`
/// breaks the waiters, and every later wait, until a `reset`.
#[test]
fn barrier_abort_breaks_current_and_later_waits_until_reset() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let tasks = barrier_waiters(&barrier, 2);
        yield_n(2).await;
        barrier.abort();
        assert!(barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        for t in tasks {
            let e = join_soon(t).await.unwrap().unwrap_err();
            assert!(e.is_broken() && !e.is_cancelled());
        }
        assert_eq!(barrier.wait().await, Err(BarrierWaitError::Broken));
        barrier.reset();
        assert!(!barrier.broken());
        let tasks = barrier_waiters(&barrier, 3);
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(join_soon(t).await.unwrap(), Ok(i));
        }
    });
}

/// A barrier wait bounded by `wait_for` that times out leaves the barrier
/// as it was (asyncio's `finally` in `Barrier.wait`): the count goes back
/// down and the next cycle opens with the full number of parties.
#[test]
fn barrier_wait_timing_out_under_wait_for_leaves_the_count_correct() {
    run(async {
        let barrier = Rc::new(Barrier::new(2));
        let r = wait_for(barrier.wait(), ms(20)).await;
        assert!(r.unwrap_err().is_elapsed());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        let tasks = barrier_waiters(&barrier, 1);
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 1);
        assert_eq!(barrier.wait().await, Ok(1));
        for t in tasks {
            assert_eq!(join_soon(t).await.unwrap(), Ok(0));
        }
    });
}

/// A task that arrived while the barrier drained, and is cancelled while
/// it waits for the barrier to empty, never counted: the next cycle is not
/// affected.
#[test]
fn barrier_arrival_cancelled_while_blocked_by_draining_never_counts() {
    run(async {
        let barrier = Rc::new(Barrier::new(2));
        let first = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        let opener = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap(); // draining, `first` has not left
        let blocked = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        blocked.cancel();
        assert!(join_soon(blocked).await.unwrap_err().is_cancelled());
        assert_eq!(join_soon(opener).await.unwrap(), Ok(1));
        assert_eq!(join_soon(first).await.unwrap(), Ok(0));
        assert_eq!(barrier.n_waiting(), 0);
        let again = barrier_waiters(&barrier, 1).pop().unwrap();
        yield_now().await.unwrap();
        assert_eq!(barrier.n_waiting(), 1);
        assert_eq!(barrier.wait().await, Ok(1));
        assert_eq!(join_soon(again).await.unwrap(), Ok(0));
    });
}

/// Why `wait_timeout` exists (test_locks.ConditionTests.test_timeout_in_block
/// the asyncio way): under `wait_for`, a timed-out condition wait re-acquires
/// the lock during the clean-up, then its future is dropped with the guard,
/// so the caller gets `Elapsed` and the lock is free again.
#[test]
fn condition_wait_under_wait_for_loses_the_guard_and_frees_the_lock() {
    run(async {
        let (lock, cond) = (Lock::new(()), Condition::new());
        let g = lock.acquire().await.unwrap();
        let t0 = taskloop::time::now();
        let r = wait_for(cond.wait(g), ms(500)).await;
        assert!(r.unwrap_err().is_elapsed());
        assert_eq!(since(t0), ms(500));
        assert!(!lock.locked());
        assert_eq!(cond.waiters(), 0);
    });
}
