//! Wakers across threads and lifetimes: wakes from other threads, wakes
//! after the task or the whole runtime is gone, duplicate wakes, and many
//! clones.
//!
//! These tests also run under valgrind memcheck in CI: they stay small and
//! must leak nothing (every thread is joined, every waker dropped).

mod util;

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use taskloop::{Runtime, spawn, yield_now};
use util::{Counters, DropFlag, Signal, block_on, capture_waker, with_runtime, yield_n};

/// A counter other threads bump, and the waker of the one future waiting
/// for it to reach a target.
#[derive(Default)]
struct Count {
    value: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Count {
    /// Bumps the count, then wakes the waiter (by reference or through a
    /// clone, alternately).
    fn bump(&self, i: usize) {
        self.value.fetch_add(1, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap();
        if let Some(w) = waker.as_ref() {
            if i % 2 == 0 {
                w.wake_by_ref();
            } else {
                // Waking by value consumes a clone (another vtable entry).
                let clone = w.clone();
                clone.wake();
            }
        }
    }

    /// Waits until the count reaches `target`; registers before checking.
    async fn reach(&self, target: usize) -> usize {
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.value.load(Ordering::SeqCst) >= target {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        self.waker.lock().unwrap().take();
        polls
    }
}

// a wake from another thread reaches a loop that is asleep in the reactor
#[test]
fn a_waker_woken_from_another_thread_wakes_the_task() {
    block_on(async {
        let signal = Signal::new();
        let task = spawn(signal.wait());
        yield_n(1).await;
        assert!(signal.has_waiter());
        let s = signal.clone();
        let thread = thread::spawn(move || s.fire());
        // The loop now sleeps until the other thread's wake arrives.
        task.await.unwrap();
        thread.join().unwrap();
        assert!(signal.is_fired());
    });
}

// no lost wake-ups: 4 threads x 1,000 bumps, each followed by a wake
#[test]
fn no_wake_up_is_lost_across_four_threads_of_a_thousand_wakes() {
    const THREADS: usize = 4;
    const WAKES: usize = if cfg!(miri) { 50 } else { 1_000 };
    let count = Arc::new(Count::default());
    let start = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let count = count.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for i in 0..WAKES {
                    count.bump(i);
                }
            })
        })
        .collect();
    let c = count.clone();
    let polls = block_on(async move {
        let task = spawn(async move { c.reach(THREADS * WAKES).await });
        yield_n(1).await; // the waker is registered
        start.wait();
        task.await.unwrap()
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count.value.load(Ordering::SeqCst), THREADS * WAKES);
    assert!(polls >= 2);
    assert!(count.waker.lock().unwrap().is_none());
}

// the same from a task that keeps running on the loop meanwhile
#[test]
fn cross_thread_wakes_interleave_with_a_busy_loop() {
    let count = Arc::new(Count::default());
    let c = count.clone();
    block_on(async move {
        let waiter = spawn({
            let c = c.clone();
            async move { c.reach(500).await }
        });
        let busy = spawn(async {
            for _ in 0..200 {
                yield_now().await.unwrap();
            }
        });
        yield_n(1).await;
        let c2 = c.clone();
        let thread = thread::spawn(move || {
            for i in 0..500 {
                c2.bump(i);
            }
        });
        waiter.await.unwrap();
        busy.await.unwrap();
        thread.join().unwrap();
    });
    assert_eq!(count.value.load(Ordering::SeqCst), 500);
}

// a waker woken after its task completed is a no-op, on the loop thread and
// on another thread
#[test]
fn a_waker_woken_after_its_task_completed_is_harmless() {
    block_on(async {
        let slot = Rc::new(Cell::new(None::<Waker>));
        let ready = Rc::new(Cell::new(false));
        let counters = Counters::new();
        let task = spawn(counters.wrap(capture_waker(slot.clone(), ready.clone())));
        yield_n(1).await;
        let waker = slot.take().unwrap();
        ready.set(true);
        waker.wake_by_ref();
        task.await.unwrap();
        let polls = counters.polls();
        assert_eq!(polls, 2);

        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake();
        let w = waker.clone();
        thread::spawn(move || {
            w.wake_by_ref();
            w.wake();
        })
        .join()
        .unwrap();
        yield_n(3).await;
        assert_eq!(
            counters.polls(),
            polls,
            "a completed task is never polled again"
        );
        waker.wake(); // the last reference goes here
    });
}

// a waker kept by another thread, woken and dropped there after the runtime
// was dropped, neither crashes nor leaks (the task's memory is freed there)
#[test]
fn a_waker_woken_on_another_thread_after_the_runtime_was_dropped_is_harmless() {
    for keep_handle in [false, true] {
        let signal = Signal::new();
        let flag = DropFlag::new();
        let guard = flag.guard();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let rt = Runtime::new().unwrap();
        let task = rt.spawn({
            let signal = signal.clone();
            async move {
                let _g = guard;
                signal.wait().await;
            }
        });
        rt.block_on(yield_n(1));
        assert!(signal.has_waiter());
        let s = signal.clone();
        let thread = thread::spawn(move || {
            go_rx.recv().unwrap();
            s.fire(); // wakes and drops the stored waker
            drop(s);
        });
        let handle = keep_handle.then_some(task);
        drop(rt);
        assert!(flag.is_dropped());
        go_tx.send(()).unwrap();
        thread.join().unwrap();
        if let Some(task) = handle {
            assert!(task.is_cancelled());
        }
    }
}

// a wake that was already queued from another thread when the runtime is
// dropped is released with it
#[test]
fn a_wake_queued_from_another_thread_when_the_runtime_is_dropped_is_released() {
    let signal = Signal::new();
    let flag = DropFlag::new();
    let guard = flag.guard();
    let rt = Runtime::new().unwrap();
    let task = rt.spawn({
        let signal = signal.clone();
        async move {
            let _g = guard;
            signal.wait().await;
            "ran"
        }
    });
    rt.block_on(yield_n(1));
    let s = signal.clone();
    thread::spawn(move || s.fire()).join().unwrap();
    // The task sits in the cross-thread queue; nobody runs the loop again.
    drop(rt);
    assert!(flag.is_dropped());
    assert!(task.is_cancelled());
}

// a pending wake from another thread is picked up by the next block_on
#[test]
fn a_wake_from_another_thread_between_block_ons_runs_the_task_at_the_next_one() {
    with_runtime(|rt| {
        let signal = Signal::new();
        let task = rt.spawn(signal.wait());
        rt.block_on(yield_n(1));
        let s = signal.clone();
        thread::spawn(move || s.fire()).join().unwrap();
        assert!(!task.is_done());
        rt.block_on(task).unwrap();
    });
}

// waking a task that is already scheduled queues it once: it is polled once
#[test]
fn waking_an_already_scheduled_task_does_not_poll_it_twice() {
    block_on(async {
        let counters = Counters::new();
        let mut first = true;
        let task = spawn(counters.wrap(poll_fn(move |cx| {
            if first {
                first = false;
                for _ in 0..3 {
                    cx.waker().wake_by_ref();
                }
                for _ in 0..2 {
                    let clone = cx.waker().clone();
                    clone.wake();
                }
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })));
        task.await.unwrap();
        assert_eq!(counters.polls(), 2);

        // And from outside the task, on this thread and on another one.
        let slot = Rc::new(Cell::new(None::<Waker>));
        let ready = Rc::new(Cell::new(false));
        let counters = Counters::new();
        let task = spawn(counters.wrap(capture_waker(slot.clone(), ready.clone())));
        yield_n(1).await;
        assert_eq!(counters.polls(), 1);
        let waker = slot.take().unwrap();
        let w = waker.clone();
        thread::spawn(move || {
            for _ in 0..5 {
                w.wake_by_ref();
            }
        })
        .join()
        .unwrap();
        for _ in 0..5 {
            waker.wake_by_ref();
        }
        // Enough turns for the cross-thread queue to be drained, whatever
        // the batch size.
        for _ in 0..300 {
            yield_now().await.unwrap();
        }
        assert_eq!(
            counters.polls(),
            2,
            "ten wakes of a scheduled task, one poll"
        );
        ready.set(true);
        waker.wake();
        task.await.unwrap();
        assert_eq!(counters.polls(), 3);
    });
}

// reference counting: many clones, dropped here and on another thread,
// keep the task alive exactly as long as needed
#[test]
fn cloning_and_dropping_a_waker_many_times_is_balanced() {
    let flag = DropFlag::new();
    block_on(async {
        let slot = Rc::new(Cell::new(None::<Waker>));
        let ready = Rc::new(Cell::new(false));
        let guard = flag.guard();
        let task = spawn({
            let (slot, ready) = (slot.clone(), ready.clone());
            async move {
                let _g = guard;
                capture_waker(slot, ready).await;
            }
        });
        yield_n(1).await;
        let waker = slot.take().unwrap();
        let n = util::scaled(10_000);
        let clones: Vec<Waker> = (0..n).map(|_| waker.clone()).collect();
        assert!(clones.iter().all(|w| w.will_wake(&waker)));
        let sendable: Vec<Waker> = clones[..n / 2].to_vec();
        drop(clones);
        thread::spawn(move || {
            let mut sendable = sendable;
            let last = sendable.pop().unwrap();
            drop(sendable);
            last.wake();
        })
        .join()
        .unwrap();
        ready.set(true);
        task.await.unwrap();
        drop(waker);
    });
    assert!(flag.is_dropped());
}

// a waker of one runtime woken while another runtime runs on the same thread
// goes to its own runtime
#[test]
fn a_waker_of_one_runtime_woken_inside_another_runtime_goes_to_its_own() {
    let first = Runtime::new().unwrap();
    let second = Runtime::new().unwrap();
    let slot = Rc::new(Cell::new(None::<Waker>));
    let ready = Rc::new(Cell::new(false));
    let counters = Counters::new();
    let task = first.spawn(counters.wrap(capture_waker(slot.clone(), ready.clone())));
    first.block_on(yield_n(1));
    assert_eq!(counters.polls(), 1);
    let waker = slot.take().unwrap();
    second.block_on(async {
        ready.set(true);
        waker.wake_by_ref();
        yield_n(3).await;
    });
    assert_eq!(counters.polls(), 1, "polled by the wrong runtime");
    assert!(!task.is_done());
    first.block_on(task).unwrap();
    assert_eq!(counters.polls(), 2);
    drop(waker);
}
