//! Helpers shared by the integration tests.
//!
//! Each test crate (`tests/*.rs`) includes this module with `mod util;` and
//! uses a different subset of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use std::time::{Duration, Instant};

use taskloop::{Runtime, TaskRef};

/// Routes the runtime's `log` output to the test harness (captured per test).
pub fn init_logger() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// Runs `f` with a fresh runtime, which is dropped afterwards.
pub fn with_runtime<R>(f: impl FnOnce(&Runtime) -> R) -> R {
    init_logger();
    let rt = Runtime::new().expect("cannot create a runtime");
    f(&rt)
}

/// `block_on` in a fresh runtime (dropped afterwards, without `run`'s
/// cancel-and-wait shutdown).
pub fn block_on<F: Future>(future: F) -> F::Output {
    with_runtime(|rt| rt.block_on(future))
}

/// Runs `future` as the main task of a fresh runtime on a virtual clock
/// (the clock the waiting-primitive suites assert exact durations on).
pub fn run<F: Future>(future: F) -> F::Output {
    init_logger();
    Runtime::builder()
        .virtual_time(true)
        .build()
        .expect("cannot create a runtime")
        .block_on(future)
}

/// `n`, or a small fraction of it under Miri (which runs ~1000x slower):
/// the large-count tests keep their shape and stay within minutes there.
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        let small = n / 1000;
        if small < 20 { 20 } else { small }
    } else {
        n
    }
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Time on the runtime's clock since `t0`.
pub fn since(t0: Instant) -> Duration {
    taskloop::time::now() - t0
}

/// The task being polled.
pub fn me() -> TaskRef {
    taskloop::current_task().expect("inside a task")
}

/// Yields `n` times to the loop, panicking if a cancellation is delivered.
pub async fn yield_n(n: usize) {
    for _ in 0..n {
        taskloop::yield_now()
            .await
            .expect("unexpected cancellation while yielding");
    }
}

/// Awaits `task` after yielding until it is done (at most 1,000 yields), so
/// that a task which never finishes fails the test instead of hanging it.
pub async fn join_soon<T>(task: taskloop::Task<T>) -> Result<T, taskloop::TaskError> {
    for _ in 0..1_000 {
        if task.is_done() {
            break;
        }
        taskloop::yield_now()
            .await
            .expect("unexpected cancellation while waiting for a task");
    }
    assert!(
        task.is_done(),
        "{:?} is still pending after 1,000 yields",
        task.as_task_ref()
    );
    task.await
}

// ---------------------------------------------------------------------------
// Counting polls and drops

/// How many times a [`Counted`] future was polled and dropped.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    polls: Rc<Cell<usize>>,
    drops: Rc<Cell<usize>>,
}

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }

    /// Polls so far.
    pub fn polls(&self) -> usize {
        self.polls.get()
    }

    /// Drops so far (0 or 1 per wrapped future).
    pub fn drops(&self) -> usize {
        self.drops.get()
    }

    /// Wraps `future` so that its polls and its drop are counted here.
    pub fn wrap<F: Future>(&self, future: F) -> Counted<F> {
        Counted {
            inner: Box::pin(future),
            counters: self.clone(),
        }
    }

    /// A future that is pending forever (and never wakes anybody), counted.
    pub fn pending<T>(&self) -> Counted<std::future::Pending<T>> {
        self.wrap(std::future::pending())
    }
}

/// A future whose polls and drop are recorded in [`Counters`].
pub struct Counted<F> {
    inner: Pin<Box<F>>,
    counters: Counters,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.counters.polls.set(self.counters.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        self.counters.drops.set(self.counters.drops.get() + 1);
    }
}

// ---------------------------------------------------------------------------
// Observing destructors

/// Records that a destructor ran: give the [`OnDrop`] from
/// [`guard`](Self::guard) to the thing whose drop you want to see.
#[derive(Clone, Debug, Default)]
pub struct DropFlag(Rc<Cell<bool>>);

impl DropFlag {
    pub fn new() -> DropFlag {
        DropFlag::default()
    }

    /// A value that sets this flag when dropped.
    pub fn guard(&self) -> OnDrop {
        OnDrop(self.0.clone())
    }

    /// Whether the guard was dropped.
    pub fn is_dropped(&self) -> bool {
        self.0.get()
    }
}

/// Sets its [`DropFlag`] when dropped.
#[derive(Debug)]
pub struct OnDrop(Rc<Cell<bool>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        assert!(!self.0.replace(true), "an OnDrop guard dropped twice");
    }
}

// ---------------------------------------------------------------------------
// A foreign, thread-safe one-shot signal (knows nothing of taskloop)

/// A one-shot event that any thread can fire: the waiting future stores its
/// waker in an `Arc<Mutex<Option<Waker>>>` and checks an `AtomicBool`, like
/// a channel of some other library would. It is *not* a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct Signal {
    fired: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Fires the signal and wakes the waiter, if any.
    pub fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Whether a waiter has registered its waker (and not yet been woken).
    pub fn has_waiter(&self) -> bool {
        self.waker.lock().unwrap().is_some()
    }

    /// A future that completes once the signal is fired.
    pub fn wait(&self) -> SignalWait {
        SignalWait {
            signal: self.clone(),
        }
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
pub struct SignalWait {
    signal: Signal,
}

impl Future for SignalWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Register first, then check: a `fire` in between still wakes us.
        *self.signal.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.signal.fired.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

// ---------------------------------------------------------------------------
// A combinator with per-child wakers

/// Which branch of a [`select2`] finished first.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The waker a [`Select2`] gives one child: records that this child was
/// woken, then wakes the task.
#[derive(Debug)]
struct ChildWake {
    woken: AtomicBool,
    parent: Mutex<Option<Waker>>,
}

impl Wake for ChildWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        let parent = self.parent.lock().unwrap().clone();
        if let Some(w) = parent {
            w.wake();
        }
    }
}

/// Polls two futures and returns the first output; like `FuturesUnordered`,
/// each child gets its own waker and is re-polled only after *that* waker
/// was woken (a wake of the task alone re-polls neither).
pub fn select2<A: Future, B: Future>(a: A, b: B) -> Select2<A, B> {
    let child = || {
        Arc::new(ChildWake {
            woken: AtomicBool::new(true), // poll both on the first poll
            parent: Mutex::new(None),
        })
    };
    let (wa, wb) = (child(), child());
    Select2 {
        a: Box::pin(a),
        b: Box::pin(b),
        waker_a: Waker::from(wa.clone()),
        waker_b: Waker::from(wb.clone()),
        wa,
        wb,
        child_polls: Rc::new(Cell::new(0)),
    }
}

/// The future of [`select2`].
pub struct Select2<A, B> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
    wa: Arc<ChildWake>,
    wb: Arc<ChildWake>,
    waker_a: Waker,
    waker_b: Waker,
    child_polls: Rc<Cell<usize>>,
}

impl<A, B> Select2<A, B> {
    /// A counter of the child polls this combinator makes.
    pub fn child_polls(&self) -> Rc<Cell<usize>> {
        self.child_polls.clone()
    }
}

impl<A: Future, B: Future> Future for Select2<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        for w in [&this.wa, &this.wb] {
            *w.parent.lock().unwrap() = Some(cx.waker().clone());
        }
        if this.wa.woken.swap(false, Ordering::SeqCst) {
            this.child_polls.set(this.child_polls.get() + 1);
            if let Poll::Ready(v) = this
                .a
                .as_mut()
                .poll(&mut Context::from_waker(&this.waker_a))
            {
                return Poll::Ready(Either::Left(v));
            }
        }
        if this.wb.woken.swap(false, Ordering::SeqCst) {
            this.child_polls.set(this.child_polls.get() + 1);
            if let Poll::Ready(v) = this
                .b
                .as_mut()
                .poll(&mut Context::from_waker(&this.waker_b))
            {
                return Poll::Ready(Either::Right(v));
            }
        }
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------
// Small futures

/// A future that stores a clone of the task's waker in `slot` on every poll
/// and is ready once `ready` is set (it is not a checkpoint).
pub fn capture_waker(
    slot: Rc<Cell<Option<Waker>>>,
    ready: Rc<Cell<bool>>,
) -> impl Future<Output = ()> {
    std::future::poll_fn(move |cx| {
        slot.set(Some(cx.waker().clone()));
        if ready.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// The panic message of a `catch_unwind` payload, if it is a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
