//! Regression tests for the foundation's soundness rules (issue 8): a pinned
//! future is dropped where it was polled, a panic in completion code never
//! escapes the loop nor skips its bookkeeping, wakes survive a panicking
//! waker, and using a task or timer of another runtime fails loudly.
//!
//! These run under Miri (Stacked and Tree Borrows) in `.ci/run`.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskloop::{ReturnWhen, Runtime, spawn, task_group, time::sleep, wait, yield_now};
use util::{block_on, run};

/// Addresses a `Pinned` saw: at each poll, and at its drop.
#[derive(Default)]
struct Seen {
    polled: RefCell<Vec<usize>>,
    dropped: Cell<Option<usize>>,
}

/// A `!Unpin` future that records its own address when polled and dropped,
/// and pends `polls` times before it finishes.
struct Pinned {
    seen: Rc<Seen>,
    polls: usize,
    _pin: PhantomPinned,
}

impl Future for Pinned {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: only the counter is touched; nothing is moved.
        let this = unsafe { self.get_unchecked_mut() };
        this.seen
            .polled
            .borrow_mut()
            .push(this as *const Pinned as usize);
        if this.polls == 0 {
            return Poll::Ready(());
        }
        this.polls -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.seen.dropped.set(Some(self as *const Pinned as usize));
    }
}

fn pinned(polls: usize) -> (Pinned, Rc<Seen>) {
    let seen = Rc::new(Seen::default());
    (
        Pinned {
            seen: seen.clone(),
            polls,
            _pin: PhantomPinned,
        },
        seen,
    )
}

fn assert_dropped_where_polled(seen: &Seen) {
    let polled = seen.polled.borrow();
    assert!(!polled.is_empty(), "the future was never polled");
    assert!(
        polled.iter().all(|a| *a == polled[0]),
        "the future moved between polls"
    );
    assert_eq!(
        seen.dropped.get(),
        Some(polled[0]),
        "the future was moved before its drop"
    );
}

#[test]
fn a_pinned_future_is_dropped_where_it_was_polled_when_it_completes() {
    let (fut, seen) = pinned(2);
    block_on(async move { spawn(fut).await.unwrap() });
    assert_dropped_where_polled(&seen);
}

#[test]
fn a_pinned_future_is_dropped_where_it_was_polled_when_its_task_is_aborted() {
    let (fut, seen) = pinned(usize::MAX);
    block_on(async move {
        let task = spawn(fut);
        yield_now().await.unwrap();
        assert!(task.abort());
        assert!(task.await.unwrap_err().is_cancelled());
    });
    assert_dropped_where_polled(&seen);
}

#[test]
fn a_pinned_future_is_dropped_where_it_was_polled_when_the_runtime_is_dropped() {
    let (fut, seen) = pinned(usize::MAX);
    let rt = Runtime::new().unwrap();
    rt.block_on(async move {
        let task = spawn(fut);
        yield_now().await.unwrap();
        drop(task); // detached, still pending
    });
    assert!(seen.dropped.get().is_none());
    drop(rt);
    assert_dropped_where_polled(&seen);
}

/// The main future holds a pinned future it polled, then panics: the
/// task's future is dropped in place and `block_on` unwinds with the panic.
#[test]
fn a_pinned_future_in_a_panicking_main_task_is_dropped_where_it_was_polled_and_block_on_unwinds() {
    let (fut, seen) = pinned(usize::MAX);
    let rt = Runtime::new().unwrap();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| fut.as_mut().poll(cx).map(|_| ()))
                .now_or_never_twice()
                .await;
            panic!("main panics");
        })
    }));
    assert!(unwound.is_err(), "block_on resumes the main task's panic");
    assert_dropped_where_polled(&seen);
}

/// Polls a future twice, letting the loop turn in between.
trait TwicePolled: Future<Output = ()> + Sized {
    async fn now_or_never_twice(self) {
        let mut this = std::pin::pin!(self);
        for _ in 0..2 {
            let _ = std::future::poll_fn(|cx| Poll::Ready(this.as_mut().poll(cx))).await;
            yield_now().await.unwrap();
        }
    }
}
impl<F: Future<Output = ()>> TwicePolled for F {}

/// A self-borrowing future: an async block holding a reference to its own
/// local across an await, and a guard that reads through it when dropped.
#[test]
fn a_self_borrowing_future_sees_its_borrow_intact_in_its_drop() {
    struct ReadOnDrop<'a>(&'a [u8; 64], Rc<Cell<u32>>);
    impl Drop for ReadOnDrop<'_> {
        fn drop(&mut self) {
            self.1.set(self.0.iter().map(|b| u32::from(*b)).sum());
        }
    }
    let sum = Rc::new(Cell::new(0));
    let s = sum.clone();
    block_on(async move {
        let task = spawn(async move {
            let local = [3u8; 64];
            let _guard = ReadOnDrop(&local, s);
            std::future::pending::<()>().await;
        });
        yield_now().await.unwrap();
        task.abort();
        let _ = task.await;
    });
    assert_eq!(sum.get(), 3 * 64);
}

/// A task owning a handle it shields, then aborted: the shield's drop
/// touches the handle inside the (pinned) future.
#[test]
fn aborting_a_task_that_awaits_a_shield_on_a_handle_it_owns_is_sound() {
    block_on(async {
        let outer = spawn(async {
            let mut inner = spawn(std::future::pending::<()>());
            let _ = taskloop::shield(&mut inner).await;
        });
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        outer.abort();
        assert!(outer.await.unwrap_err().is_cancelled());
    });
}

/// An output whose destructor panics.
struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[test]
fn a_panic_dropping_a_detached_tasks_output_does_not_escape_block_on_nor_skip_its_waiters() {
    util::init_logger();
    let out = block_on(async {
        let task = spawn(async {
            yield_now().await.unwrap();
            PanicOnDrop
        });
        let watcher = task.as_task_ref().clone();
        drop(task); // detached: the output is dropped at completion
        let done = wait([watcher], None, ReturnWhen::AllCompleted)
            .await
            .unwrap();
        done.done.len()
    });
    assert_eq!(out, 1);
}

#[test]
fn a_group_child_whose_discarded_output_panics_on_drop_does_not_break_the_group() {
    let out = block_on(task_group(|tg| async move {
        drop(tg.spawn(async {
            yield_now().await?;
            Ok::<_, taskloop::Cancelled>(PanicOnDrop)
        })?);
        Ok::<_, taskloop::GroupClosed>(7)
    }));
    assert_eq!(out.unwrap(), 7);
}

#[test]
fn a_panicking_done_callback_is_logged_and_the_others_still_run() {
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    block_on(async move {
        let task = spawn(async {});
        task.add_done_callback(|_| panic!("callback panics"));
        let r2 = r.clone();
        task.add_done_callback(move |_| r2.set(r2.get() + 1));
        task.await.unwrap();
        yield_now().await.unwrap();
        yield_now().await.unwrap();
    });
    assert_eq!(ran.get(), 1);
}

/// A foreign waker that panics when woken.
struct Panicky;
impl Wake for Panicky {
    fn wake(self: std::sync::Arc<Self>) {
        panic!("a foreign waker panics");
    }
}

#[test]
fn a_panicking_waker_among_fired_timers_does_not_leave_the_other_wakes_undone() {
    run(async {
        // A sleep polled with a foreign, panicking waker...
        let mut bad = Box::pin(sleep(Duration::from_secs(1)));
        let waker = Waker::from(std::sync::Arc::new(Panicky));
        assert!(
            bad.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // ...and tasks sleeping until the same deadline, woken in the same fire.
        let sleepers: Vec<_> = (0..3)
            .map(|_| spawn(async { sleep(Duration::from_secs(1)).await.unwrap() }))
            .collect();
        for s in sleepers {
            s.await.unwrap();
        }
        drop(bad);
    });
}

#[test]
#[should_panic(expected = "awaited from a task of another runtime")]
fn awaiting_a_task_of_another_runtime_panics_instead_of_hanging() {
    let other = Runtime::new().unwrap();
    let task = other.spawn(async { 1 });
    block_on(async move {
        let _ = task.await;
    });
}

#[test]
#[should_panic(expected = "awaited in a runtime other than the one it was created in")]
fn awaiting_a_sleep_of_another_runtime_panics_instead_of_hanging() {
    let other = Runtime::new().unwrap();
    // Created (not awaited) inside the other runtime: it belongs to its wheel.
    let slot = RefCell::new(None);
    other.block_on(async { *slot.borrow_mut() = Some(sleep(Duration::from_millis(10))) });
    let nap = slot.into_inner().unwrap();
    block_on(async move {
        let _ = nap.await;
    });
}

/// A dump reads each parked task's await site back from the tagged word in
/// its header (the one pointer the task layer un-tags): under Miri this
/// checks that the tag is removed with the reference's provenance intact.
#[test]
fn a_dump_reads_back_every_kind_of_await_site() {
    run(async {
        let ev = Rc::new(taskloop::sync::Event::new());
        let e = ev.clone();
        let _sync = taskloop::spawn_named("sync", async move { e.wait().await });
        let _timer = taskloop::spawn_named("timer", async { sleep(Duration::from_secs(9)).await });
        let worker = spawn(sleep(Duration::from_secs(9)));
        let _join = taskloop::spawn_named("join", async move { worker.await.map(drop) });
        let _yield = taskloop::spawn_named("yield", async {
            loop {
                yield_now().await?;
            }
            #[allow(unreachable_code)]
            Ok::<_, taskloop::Cancelled>(())
        });
        yield_now().await.unwrap();
        let dump = taskloop::dump();
        let text = dump.to_string();
        use taskloop::WaitsOn;
        type Check = fn(WaitsOn) -> bool;
        let expected: [(&str, Check); 4] = [
            ("sync", |w| w == WaitsOn::Sync),
            ("timer", |w| w == WaitsOn::Timer),
            ("join", |w| matches!(w, WaitsOn::Task(_))),
            ("yield", |w| w == WaitsOn::Yield),
        ];
        for (name, is_expected) in expected {
            let t = dump
                .tasks()
                .iter()
                .flat_map(|t| std::iter::once(t).chain(&t.children))
                .find(|t| t.name == name)
                .unwrap();
            let site = t.await_site.unwrap_or_else(|| panic!("{name}: {text}"));
            assert_eq!(site.file(), file!(), "{text}");
            assert!(is_expected(t.waits_on.unwrap()), "{name}: {text}");
        }
        ev.set();
    });
}
