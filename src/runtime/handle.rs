//! [`Handle`]: submitting work to a runtime from other threads (asyncio's
//! `call_soon_threadsafe` and `run_coroutine_threadsafe`).
//!
//! # Ground rules
//!
//! * A handle holds the runtime's cross-thread half (`Shared`) only: the
//!   inject queue and the `mio::Waker`. Everything it submits is `Send`
//!   and runs on the loop thread, on the callback FIFO.
//! * A submission after the runtime was dropped is refused under the
//!   inject lock (the runtime closes the queue under the same lock), and
//!   the closure or future is dropped on the submitting thread, after the
//!   lock is released. One accepted but not yet run when the runtime is
//!   dropped is dropped on the loop thread.
//! * The result of [`Handle::spawn_with_result`] crosses threads through a
//!   mutex-protected slot ([`Remote`]); the task's own output stays on the
//!   loop thread until it is complete.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use super::context;
use super::shared::Shared;

/// A `Send + Sync + Clone` handle to a runtime, for other threads.
///
/// Get one with [`Runtime::handle`](crate::Runtime::handle) or, on the loop
/// thread, [`Handle::current`]. It does not keep the runtime alive: after
/// the runtime is dropped, every submission returns [`RuntimeGone`].
/// Submissions made while the runtime exists but is not running (between
/// two `block_on`s) run at the next `block_on`.
///
/// # Examples
/// ```
/// let rt = taskloop::Runtime::new()?;
/// let handle = rt.handle();
/// let answer = std::thread::spawn(move || {
///     handle.spawn_with_result(async { 6 * 7 }).unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(rt.block_on(answer), Ok(42));
/// drop(rt);
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    /// The runtime's inject queue and waker.
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Errors
    /// [`NoRuntime`](crate::NoRuntime) outside a running runtime.
    pub fn current() -> Result<Handle, crate::NoRuntime> {
        context::with_core(|c| Handle::new(c.shared().clone())).ok_or(crate::NoRuntime {
            what: "taskloop::Handle::current",
        })
    }

    /// Runs `f` on the loop thread, soon: asyncio's `call_soon_threadsafe`.
    ///
    /// `f` joins the loop's callback FIFO behind the tasks already ready,
    /// and wakes the loop if it is idle. Callbacks from one thread run in
    /// submission order. A callback that panics is logged; the loop goes
    /// on. Inside `f`, the runtime API ([`spawn`](crate::spawn)) works.
    ///
    /// # Errors
    /// [`RuntimeGone`] if the runtime was dropped; `f` is then dropped on
    /// this thread without running.
    pub fn call_soon(&self, f: impl FnOnce() + Send + 'static) -> Result<(), RuntimeGone> {
        match self.shared.submit(Box::new(f)) {
            Ok(()) => Ok(()),
            Err(call) => {
                drop(call);
                Err(RuntimeGone)
            }
        }
    }

    /// Spawns `future` as a detached task of the runtime, from any thread.
    ///
    /// The task is created on the loop thread at its next turn (through
    /// [`call_soon`](Self::call_soon)) and behaves as one made by
    /// [`spawn`](crate::spawn); [`run`](crate::run)'s shutdown cancels it
    /// like any other.
    ///
    /// # Errors
    /// [`RuntimeGone`] if the runtime was dropped; the future is then dropped
    /// on this thread.
    pub fn spawn<F>(&self, future: F) -> Result<(), RuntimeGone>
    where
        F: Future + Send + 'static,
        F::Output: 'static,
    {
        self.call_soon(move || drop(crate::spawn(future)))
    }

    /// Spawns `future` and returns a `Send` future of its output:
    /// asyncio's `run_coroutine_threadsafe`.
    ///
    /// The [`Remote`] can be awaited on any executor or thread, or waited
    /// for with [`Remote::wait`] from a plain thread.
    ///
    /// # Errors
    /// [`RuntimeGone`] if the runtime was dropped; the future is then
    /// dropped on this thread.
    pub fn spawn_with_result<F>(&self, future: F) -> Result<Remote<F::Output>, RuntimeGone>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::new(Slot::default());
        let done = Completer(Some(slot.clone()));
        self.spawn(async move {
            let mut done = done;
            let out = future.await;
            done.finish(Ok(out));
        })?;
        Ok(Remote { slot })
    }

    /// Whether the runtime still exists.
    pub fn is_alive(&self) -> bool {
        !self.shared.is_closed()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// The runtime a [`Handle`] submits to was dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeGone;

impl fmt::Display for RuntimeGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the taskloop runtime is gone (it was dropped)")
    }
}

impl std::error::Error for RuntimeGone {}

/// The outcome once known, and the waker of the awaiting side.
type SlotState<T> = (Option<Result<T, RuntimeGone>>, Option<Waker>);

/// The state shared by a [`Remote`] and the task that completes it.
struct Slot<T> {
    /// The outcome once known, and the waker of the awaiting side.
    state: Mutex<SlotState<T>>,
    /// Signalled at completion, for [`Remote::wait`].
    done: Condvar,
}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot {
            state: Mutex::new((None, None)),
            done: Condvar::new(),
        }
    }
}

/// The task's side: completes the slot, with `RuntimeGone` if the task's
/// future is dropped before it finished (abort, or the runtime dropped).
struct Completer<T>(Option<Arc<Slot<T>>>);

impl<T> Completer<T> {
    fn finish(&mut self, outcome: Result<T, RuntimeGone>) {
        if let Some(slot) = self.0.take() {
            let waker = {
                let mut state = slot.state.lock().unwrap_or_else(|e| e.into_inner());
                state.0 = Some(outcome);
                state.1.take()
            };
            slot.done.notify_all();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.finish(Err(RuntimeGone));
    }
}

/// The output of a task spawned with [`Handle::spawn_with_result`]; a
/// `Send` future when the output is `Send`.
///
/// Dropping it does not cancel the task (it is detached).
///
/// # Cancellation
/// Awaiting it is not a taskloop checkpoint (it may be awaited on any
/// executor); inside a taskloop task, wrap it in
/// [`cancellable`](crate::cancellable) to make it one. Either way the task
/// it waits for is not cancelled.
pub struct Remote<T> {
    /// Where the task puts its output.
    slot: Arc<Slot<T>>,
}

impl<T> Remote<T> {
    /// Blocks this thread until the task is done, then returns its output.
    /// Do not call it on the runtime's own loop thread (it would wait for
    /// itself): await the `Remote` there instead.
    ///
    /// # Errors
    /// [`RuntimeGone`] if the task's future was dropped before it finished
    /// (the runtime was dropped, or the task aborted).
    pub fn wait(self) -> Result<T, RuntimeGone> {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(out) = state.0.take() {
                return out;
            }
            state = self
                .slot
                .done
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the outcome is in.
    pub fn is_done(&self) -> bool {
        let state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.is_some()
    }
}

impl<T> Future for Remote<T> {
    type Output = Result<T, RuntimeGone>;

    /// # Cancellation
    /// Not a taskloop checkpoint (it may be awaited on any executor); under
    /// taskloop, wrap it in [`cancellable`](crate::cancellable) to make it one.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.0.take() {
            Some(out) => Poll::Ready(out),
            None => {
                match &mut state.1 {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Remote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("done", &self.is_done())
            .finish()
    }
}
