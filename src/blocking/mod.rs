//! Blocking work off the loop thread: asyncio's `to_thread`, tokio's
//! `spawn_blocking`.
//!
//! A closure runs on the runtime's pool of worker threads ([`pool`]); the
//! awaiting task waits at a checkpoint for its result. This module owns the
//! hand-over of one result from a worker back to the loop and never blocks
//! the loop thread.
//!
//! # Ground rules
//!
//! * The result slot is shared by the worker and the awaiting future only;
//!   the worker fills it once and wakes the waker stored there.
//! * A cancellation of the awaiting task is delivered at once, as asyncio's
//!   `to_thread` does: the closure runs on (a thread cannot be interrupted),
//!   and its result is dropped **on the loop thread** when it arrives, by a
//!   small detached task that takes over the slot. So is the result of a
//!   [`BlockingTask`] dropped before it finished.
//! * While a job is in flight the runtime counts it, so a virtual clock does
//!   not jump ahead of a thread doing real work, and an idle loop knows a
//!   wake will come.

pub(crate) mod pool;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::cancel::CancelSlot;
use crate::task::TaskError;
use crate::task::WaitKind;

/// Runs `f` on the runtime's blocking pool and waits for its result:
/// asyncio's `await asyncio.to_thread(f)`.
///
/// # Cancellation
/// A checkpoint: a cancellation is delivered at once as
/// `Err(TaskError)` with [`is_cancelled`](TaskError::is_cancelled); `f`
/// runs on to its end on its thread and its result is dropped on the loop
/// thread.
///
/// # Errors
/// `Err(TaskError)` if the awaiting task was cancelled, or if `f` panicked
/// ([`is_panic`](TaskError::is_panic); the payload is kept).
///
/// # Panics
/// Outside a taskloop runtime.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let len = taskloop::to_thread(|| std::fs::read_dir(".").map(|d| d.count())).await??;
/// assert!(len > 0);
/// # Ok::<_, Box<dyn std::error::Error + Send + Sync>>(()) }).unwrap();
/// ```
#[track_caller]
pub fn to_thread<F, R>(f: F) -> impl std::future::Future<Output = Result<R, TaskError>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::task::current_task::at_caller(async move { spawn_blocking(f).await })
}

/// Starts `f` on the runtime's blocking pool: tokio's `spawn_blocking`. The
/// returned handle awaits the result; dropping it lets `f` run on (its
/// result is then dropped on the loop thread).
///
/// The pool starts threads lazily, at most
/// [`Builder::blocking_threads`](crate::Builder::blocking_threads) at once;
/// further jobs wait their turn, and idle threads retire after
/// [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive).
///
/// # Panics
/// Outside a taskloop runtime.
pub fn spawn_blocking<F, R>(f: F) -> BlockingTask<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (pool, in_flight) =
        crate::runtime::context::with_core(|c| (c.blocking_pool(), c.blocking_in_flight()))
            .unwrap_or_else(|| {
                panic!("taskloop::spawn_blocking / to_thread called outside a taskloop runtime")
            });
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Running(None)),
    });
    let job_slot = slot.clone();
    let job: pool::Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        job_slot.fill(result);
    });
    if let Err((job, e)) = pool.submit(job) {
        drop(job);
        slot.fill(Err(Box::new(format!(
            "taskloop: could not start a blocking thread: {e}"
        ))));
    }
    in_flight.set(in_flight.get() + 1);
    BlockingTask {
        slot: Some(slot),
        in_flight: Some(InFlight(in_flight)),
        cancel: CancelSlot::new(WaitKind::Blocking),
    }
}

/// The result of one job, shared by its worker and its awaiter.
struct Slot<R> {
    /// Where the job is.
    state: Mutex<State<R>>,
}

/// Where a job is.
enum State<R> {
    /// Running or queued; the awaiter's waker.
    Running(Option<Waker>),
    /// Finished: its result, or its panic.
    Done(std::thread::Result<R>),
    /// The result was taken.
    Taken,
}

impl<R> Slot<R> {
    /// The worker's side: stores the result and wakes the awaiter (after
    /// the lock is released).
    fn fill(&self, result: std::thread::Result<R>) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match std::mem::replace(&mut *state, State::Done(result)) {
                State::Running(w) => w,
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The awaiter's side: the result if there is one, else `cx` is woken
    /// when it arrives.
    fn poll_take(&self, cx: &Context<'_>) -> Poll<std::thread::Result<R>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            State::Running(w) => {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Done(_) => match std::mem::replace(&mut *state, State::Taken) {
                State::Done(r) => Poll::Ready(r),
                _ => unreachable!(),
            },
            State::Taken => unreachable!("a blocking result is taken once"),
        }
    }
}

/// One job counted as in flight by the runtime, until this is dropped.
struct InFlight(Rc<Cell<usize>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A blocking job started by [`spawn_blocking`]; awaiting it gives the
/// closure's result.
///
/// # Cancellation
/// Awaiting it is a checkpoint: a cancellation is delivered at once as
/// `Err(TaskError)` with [`is_cancelled`](TaskError::is_cancelled), and the
/// job runs on; its result is dropped on the loop thread.
#[must_use = "dropping the handle lets the job run on and discards its result"]
pub struct BlockingTask<R: Send + 'static> {
    /// The shared result; `None` once returned.
    slot: Option<Arc<Slot<R>>>,
    /// The runtime's count of jobs in flight.
    in_flight: Option<InFlight>,
    /// The checkpoint's registration.
    cancel: CancelSlot,
}

impl<R: Send + 'static> BlockingTask<R> {
    /// Hands the slot to a detached task that drops the result on the loop
    /// thread when it arrives (or drops it now if it is there).
    fn abandon(&mut self) {
        let (Some(slot), Some(in_flight)) = (self.slot.take(), self.in_flight.take()) else {
            return;
        };
        let reaper = Reaper {
            slot,
            _in_flight: in_flight,
        };
        // Outside the runtime (it is being dropped) the result is dropped
        // wherever the last reference goes.
        let _ = crate::try_spawn(reaper);
    }
}

impl<R: Send + 'static> BlockingTask<R> {
    /// Polls for the result *without* a checkpoint, for a primitive that
    /// has its own (the process fallback waits through it).
    pub(crate) fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<R, TaskError>> {
        let slot = self
            .slot
            .as_ref()
            .expect("a BlockingTask was polled after it returned");
        slot.poll_take(cx).map(|result| {
            self.slot = None;
            self.in_flight = None;
            result.map_err(TaskError::panicked)
        })
    }
}

impl<R: Send + 'static> Future for BlockingTask<R> {
    type Output = Result<R, TaskError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let slot = this
            .slot
            .as_ref()
            .expect("a BlockingTask was polled after it returned");
        match this.cancel.poll_checkpoint(cx, |cx| slot.poll_take(cx)) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => {
                this.slot = None;
                this.in_flight = None;
                Poll::Ready(result.map_err(TaskError::panicked))
            }
            Poll::Ready(Err(_cancelled)) => {
                this.abandon();
                Poll::Ready(Err(TaskError::cancelled()))
            }
        }
    }
}

impl<R: Send + 'static> Drop for BlockingTask<R> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<R: Send + 'static> fmt::Debug for BlockingTask<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTask")
            .field("returned", &self.slot.is_none())
            .finish()
    }
}

/// Waits for an abandoned job's result and drops it (on the loop thread).
struct Reaper<R> {
    /// The shared result.
    slot: Arc<Slot<R>>,
    /// Keeps the job counted until its result is gone.
    _in_flight: InFlight,
}

impl<R> Future for Reaper<R> {
    type Output = ();

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.slot.poll_take(cx).map(|result| {
            drop(result);
        })
    }
}
