//! The floor: the smallest correct single-threaded executor for exactly these workloads, to
//! tell how far a runtime is from the limit (as raw `mio` is for I/O).
//!
//! Real futures and wakers, a FIFO run queue, a re-queueing yield, a timer map whose sleeps
//! cancel on drop, and a one-slot output per task that its handle awaits. Nothing else: no
//! cancellation model, no registry of live tasks, no names or ids, no cross-thread wake path
//! (its wakers count references with `Rc` and must stay on the loop thread, which holds for
//! every workload here), no `catch_unwind`. Each task is one allocation (state, future and
//! output together), as in taskloop. No workload-specific shortcut: every contestant's body is
//! written the way the workload module describes it, here with these primitives.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::hint::black_box;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use crate::measure::Span;
use crate::workloads::{
    Contestant, Report, TIMEOUT, WARM_CHAINS, YIELD_TASKS, fire_delays, fire_report, lateness_ns,
    overhead_report,
};

/// A task the run queue can poll, whatever its future and output types.
trait Runnable {
    fn run(self: Rc<Self>);
}

/// The loop: a FIFO of ready tasks and the armed timers.
#[derive(Default)]
struct Executor {
    /// Tasks to poll, in wake order.
    queue: RefCell<VecDeque<Rc<dyn Runnable>>>,
    /// Armed timers by (deadline, sequence number); a sleep removes its own entry when dropped.
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    /// The next timer sequence number (breaks deadline ties, FIFO).
    next_timer: Cell<u64>,
}

thread_local! {
    static EXEC: Executor = Executor::default();
}

/// One task: its queued flag, its future until it completes, then its output.
struct Task<F: Future> {
    /// In the run queue (a second wake is a no-op).
    queued: Cell<bool>,
    /// The future; never moved once the task is allocated (dropped in place on completion).
    future: RefCell<Option<F>>,
    /// The output, until the handle takes it.
    output: RefCell<Option<F::Output>>,
    /// The handle's waker.
    join_waker: Cell<Option<Waker>>,
}

impl<F: Future + 'static> Task<F> {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::clone_waker,
        Self::wake,
        Self::wake_by_ref,
        Self::drop_waker,
    );

    fn schedule(self: Rc<Self>) {
        if !self.queued.replace(true) {
            EXEC.with(|e| e.queue.borrow_mut().push_back(self));
        }
    }

    unsafe fn clone_waker(ptr: *const ()) -> RawWaker {
        // SAFETY: `ptr` came from `Rc::into_raw` of this type and is still counted.
        unsafe { Rc::increment_strong_count(ptr.cast::<Self>()) };
        RawWaker::new(ptr, &Self::VTABLE)
    }

    unsafe fn wake(ptr: *const ()) {
        // SAFETY: the waker owns one count.
        unsafe { Rc::from_raw(ptr.cast::<Self>()) }.schedule();
    }

    unsafe fn wake_by_ref(ptr: *const ()) {
        // SAFETY: a new count for the queue, taken from the borrowed waker's.
        unsafe {
            Rc::increment_strong_count(ptr.cast::<Self>());
            Rc::from_raw(ptr.cast::<Self>())
        }
        .schedule();
    }

    unsafe fn drop_waker(ptr: *const ()) {
        // SAFETY: the waker owns one count.
        drop(unsafe { Rc::from_raw(ptr.cast::<Self>()) });
    }
}

impl<F: Future + 'static> Runnable for Task<F> {
    fn run(self: Rc<Self>) {
        self.queued.set(false);
        // A waker borrowing this reference (no count of its own unless cloned).
        let raw = RawWaker::new(Rc::as_ptr(&self).cast(), &Self::VTABLE);
        // SAFETY: the vtable's contract holds for this pointer; ManuallyDrop keeps the borrowed
        // count from being released.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        let mut cx = Context::from_waker(&waker);
        let mut slot = self.future.borrow_mut();
        let Some(future) = slot.as_mut() else { return };
        // SAFETY: the future lives in the `Rc` allocation and is never moved out; it is
        // dropped in place below.
        if let Poll::Ready(v) = unsafe { Pin::new_unchecked(future) }.poll(&mut cx) {
            *slot = None;
            drop(slot);
            *self.output.borrow_mut() = Some(v);
            if let Some(w) = self.join_waker.take() {
                w.wake();
            }
        }
    }
}

/// The handle's view of a task: its output slot.
trait Output<T> {
    fn poll_output(&self, cx: &Context<'_>) -> Poll<T>;
}

impl<F: Future + 'static> Output<F::Output> for Task<F> {
    fn poll_output(&self, cx: &Context<'_>) -> Poll<F::Output> {
        match self.output.borrow_mut().take() {
            Some(v) => Poll::Ready(v),
            None => {
                self.join_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

/// Awaits a task's output.
struct JoinHandle<T>(Rc<dyn Output<T>>);

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.0.poll_output(cx)
    }
}

fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    let task = Rc::new(Task {
        queued: Cell::new(false),
        future: RefCell::new(Some(future)),
        output: RefCell::new(None),
        join_waker: Cell::new(None),
    });
    task.clone().schedule();
    JoinHandle(task)
}

/// Runs `body` as a spawned task until it completes; timers fire when the queue is empty.
fn block_on<F: Future + 'static>(body: F) -> F::Output {
    let main = spawn(body);
    let main_out = main.0.clone();
    let noop = Waker::noop();
    let cx = Context::from_waker(noop);
    loop {
        loop {
            let next = EXEC.with(|e| e.queue.borrow_mut().pop_front());
            match next {
                Some(task) => task.run(),
                None => break,
            }
        }
        if let Poll::Ready(v) = main_out.poll_output(&cx) {
            return v;
        }
        // Nothing ready: fire due timers, or sleep until the next one.
        let next = EXEC.with(|e| {
            let now = Instant::now();
            let mut timers = e.timers.borrow_mut();
            let mut due = Vec::new();
            while let Some(entry) = timers.first_entry() {
                if entry.key().0 > now {
                    return (due, Some(entry.key().0));
                }
                due.push(entry.remove());
            }
            (due, None)
        });
        let (due, next_deadline) = next;
        if due.is_empty() {
            match next_deadline {
                Some(t) => std::thread::sleep(t.saturating_duration_since(Instant::now())),
                None => panic!("floor: deadlock (nothing ready, no timer)"),
            }
        }
        for w in due {
            w.wake();
        }
    }
}

/// Yields once, re-queueing the task behind the others.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// A sleep: registered on first pending poll, removed from the timer map when dropped.
struct Sleep {
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

fn sleep(d: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + d,
        key: None,
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(key) = self.key.take() {
                EXEC.with(|e| e.timers.borrow_mut().remove(&key));
            }
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let key = *self.key.get_or_insert_with(|| {
            EXEC.with(|e| {
                let seq = e.next_timer.get();
                e.next_timer.set(seq + 1);
                (deadline, seq)
            })
        });
        EXEC.with(|e| {
            let mut timers = e.timers.borrow_mut();
            match timers.get_mut(&key) {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(w) => *w = cx.waker().clone(),
                None => {
                    timers.insert(key, cx.waker().clone());
                }
            }
        });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            EXEC.with(|e| e.timers.borrow_mut().remove(&key));
        }
    }
}

/// `wait_for` without a cancellation model: the future, or `Err` when the sleep wins first.
/// The sleep starts at the first poll that finds the future pending (as taskloop's does).
struct Timeout<F> {
    future: F,
    delay: Duration,
    sleep: Option<Sleep>,
}

fn timeout<F: Future + Unpin>(delay: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        delay,
        sleep: None,
    }
}

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = Pin::new(&mut self.future).poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let delay = self.delay;
        let sleep = self.sleep.get_or_insert_with(|| sleep(delay));
        Pin::new(sleep).poll(cx).map(Err)
    }
}

/// The standard chain: detached spawns, the last resolves the completion slot.
fn spawn_chain(depth: u64, done: Rc<Cell<Option<Waker>>>, flag: Rc<Cell<bool>>) {
    if depth == 0 {
        flag.set(true);
        if let Some(w) = done.take() {
            w.wake();
        }
    } else {
        drop(spawn(async move { spawn_chain(depth - 1, done, flag) }));
    }
}

async fn run_chain(depth: u64) {
    let waker = Rc::new(Cell::new(None));
    let flag = Rc::new(Cell::new(false));
    let (w, f) = (waker.clone(), flag.clone());
    drop(spawn(async move { spawn_chain(depth, w, f) }));
    std::future::poll_fn(|cx| {
        if flag.get() {
            Poll::Ready(())
        } else {
            waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    })
    .await;
}

fn chain(depth: u64) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        if depth > 0 {
            spawn(chain(depth - 1)).await;
        }
    })
}

pub struct Floor;

impl Contestant for Floor {
    fn baseline() {
        block_on(async {});
    }

    fn spawn_join(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            let mut handles = Vec::with_capacity(n as usize);
            for i in 0..n {
                handles.push(spawn(async move { black_box(i) }));
            }
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await, i as u64);
            }
            Report::new(span.stop(), n)
        }))
    }

    fn yield_many(yields_per_task: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            let handles: Vec<_> = (0..YIELD_TASKS)
                .map(|_| {
                    spawn(async move {
                        for _ in 0..yields_per_task {
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await;
            }
            Report::new(span.stop(), YIELD_TASKS * yields_per_task)
        }))
    }

    fn chained_spawn(depth: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            run_chain(depth).await;
            Report::new(span.stop(), depth)
        }))
    }

    fn chained_spawn_warm(depth: u64) -> Option<Report> {
        Some(block_on(async move {
            run_chain(depth).await; // warm-up, discarded
            let span = Span::start();
            for _ in 1..WARM_CHAINS {
                run_chain(depth).await;
            }
            Report::new(span.stop(), depth * (WARM_CHAINS - 1))
        }))
    }

    fn chained_spawn_await(depth: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            spawn(chain(depth)).await;
            Report::new(span.stop(), depth)
        }))
    }

    fn timers_cancel(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            for _ in 0..n {
                timeout(TIMEOUT, yield_now()).await.unwrap();
            }
            Report::new(span.stop(), n)
        }))
    }

    fn timers_cancel_loaded(_n: u64) -> Option<Report> {
        None
    }

    fn timers_fire(n: u64) -> Option<Report> {
        let delays = fire_delays(n);
        Some(block_on(async move {
            let span = Span::start();
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| {
                    spawn(async move {
                        let deadline = Instant::now() + d;
                        sleep(d).await;
                        lateness_ns(deadline, Instant::now())
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(handles.len());
            for handle in handles {
                lateness.push(handle.await);
            }
            fire_report(span.stop(), &lateness)
        }))
    }

    fn wait_for_overhead(n: u64) -> Option<Report> {
        Some(block_on(async move {
            let span = Span::start();
            for i in 0..n {
                black_box(std::future::ready(black_box(i)).await);
            }
            let direct = span.stop();
            let span = Span::start();
            for i in 0..n {
                black_box(
                    timeout(TIMEOUT, std::future::ready(black_box(i)))
                        .await
                        .unwrap(),
                );
            }
            overhead_report(direct, span.stop(), n)
        }))
    }

    fn wait_first_completed(_rounds: u64) -> Option<Report> {
        None
    }

    fn shutdown_pending(_n: u64) -> Option<Report> {
        None
    }
}
