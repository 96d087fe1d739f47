//! Timeout scopes ([`timeout`], [`timeout_at`]) and [`wait_for`], which is
//! one of them, as in asyncio 3.12+.
//!
//! A scope owns its inner future and polls it inline, in the calling task.
//! At the deadline it *requests* cancellation of that task (asyncio's
//! `Timeout` does exactly this), keeps polling the inner future through its
//! clean-up, and converts the cancellation into [`TimeoutError::Elapsed`]
//! only if it was its own, by asyncio's counter rule. It drops the inner
//! future early only when that future cannot see the request (it waits
//! outside every checkpoint: a future of another crate) or when a clean-up
//! grace period was set and ran out; the error then says the clean-up was
//! cut short.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::error::{Elapsed, TimeoutError, TimeoutStateError};
use crate::cancel::{self, CancelScope, Cancelled};
use crate::task::{Header, TaskRef, WakerSlot, current_task};
use crate::timer::{self, TimerEntry};

/// Runs `future` with a deadline `delay` after its first poll: asyncio's
/// `async with asyncio.timeout(delay)`. `None` means no deadline; a
/// `Duration` converts into `Some`.
///
/// # Outcome
/// * The future completes before the deadline: `Ok(output)`.
/// * The deadline passes: the calling task's cancellation is requested, the
///   future runs on until it completes (its clean-up included), then:
///   * if it completed before the request was delivered to one of its
///     checkpoints, its output is returned: a value is never lost;
///   * if the request was delivered, `Err(TimeoutError::Elapsed)`, the
///     output is dropped, and the task's [`cancelling`](TaskRef::cancelling)
///     is back at its value on entry.
/// * The calling task is also cancelled by someone else (before or after
///   the deadline) and that cancellation reached the future:
///   `Err(TimeoutError::Cancelled)`, never turned into a timeout; the task
///   stays cancelled.
///
/// Nested scopes follow asyncio's counter rule: each converts only its own
/// expiry; when an outer deadline passes, inner scopes let the cancellation
/// through.
///
/// # Cancellation
/// The scope itself is not a checkpoint; the inner future's await points
/// are. If the inner future, polled with a cancellation outstanding (the
/// scope's own at its deadline, or anyone else's), waits outside every
/// checkpoint (a future of another crate, such as a channel's `recv`), it is
/// dropped and the scope ends at once: `Elapsed` with
/// [`cut_short`](Elapsed::cut_short), or `Cancelled`. Wrap such a future in
/// [`cancellable`](crate::cancellable) to make it a checkpoint, so that its
/// clean-up runs and is waited for.
///
/// # Panics
/// If polled outside a taskloop task.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::time::sleep;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let slow = taskloop::timeout(Duration::from_secs(1), sleep(Duration::from_secs(60)));
///     assert!(slow.await.unwrap_err().is_elapsed());
///     let fast = taskloop::timeout(Duration::from_secs(1), async { 7 });
///     assert_eq!(fast.await.unwrap(), 7);
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
#[track_caller]
pub fn timeout<F: Future>(delay: impl Into<Option<Duration>>, future: F) -> Timeout<F> {
    Timeout::new(
        match delay.into() {
            Some(d) => Deadline::After(d),
            None => Deadline::Never,
        },
        future,
    )
}

/// Like [`timeout`], with an absolute deadline on the runtime's clock
/// ([`time::now`](crate::time::now)): asyncio's `timeout_at`.
#[track_caller]
pub fn timeout_at<F: Future>(deadline: impl Into<Option<Instant>>, future: F) -> Timeout<F> {
    Timeout::new(
        match deadline.into() {
            Some(at) => Deadline::At(at),
            None => Deadline::Never,
        },
        future,
    )
}

/// Waits for `future` with a timeout: asyncio's `wait_for`, which since 3.12
/// is a [`timeout`] scope around the awaited future, and so is this.
///
/// The future runs inline in the calling task (no `'static`, no spawn). If it
/// is a [`Task`](crate::Task) handle, the cancellation at the deadline is
/// forwarded to that task and `wait_for` waits for it to finish.
///
/// A zero timeout returns the value of a future that completes on its first
/// poll, without suspending; otherwise it cancels at once and waits.
/// `Duration::MAX` never fires. The outcome rules are those of [`timeout`];
/// [`Timeout::cleanup_grace`] bounds how long the clean-up may take.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use taskloop::time::sleep;
/// let rt = taskloop::Runtime::builder().virtual_time(true).build()?;
/// rt.block_on(async {
///     let t0 = taskloop::time::now();
///     let err = taskloop::wait_for(sleep(Duration::from_secs(30)), Duration::from_secs(2))
///         .await
///         .unwrap_err();
///     assert!(err.is_elapsed());
///     assert_eq!(taskloop::time::now() - t0, Duration::from_secs(2));
/// });
/// # Ok::<_, std::io::Error>(())
/// ```
#[track_caller]
pub fn wait_for<F: Future>(future: F, timeout: impl Into<Option<Duration>>) -> Timeout<F> {
    self::timeout(timeout, future)
}

/// When the scope's deadline is.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// `delay` after the first poll.
    After(Duration),
    /// At this instant.
    At(Instant),
    /// None.
    Never,
}

/// asyncio's `Timeout` states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Created,
    Entered,
    Expiring,
    Expired,
    Exited,
}

/// What a [`TimeoutHandle`] shares with its scope.
#[derive(Debug)]
struct Shared {
    /// The deadline once entered (`None`: none).
    when: Cell<Option<Instant>>,
    /// The scope's state.
    state: Cell<State>,
    /// `reschedule` moved the deadline: the scope must re-arm its timer.
    moved: Cell<bool>,
    /// The scope's waker, to re-arm after a reschedule from another task.
    waker: RefCell<WakerSlot>,
    /// The task the scope runs in, once entered, when a handle exists: a
    /// `reschedule` into the past requests its cancellation at once.
    task: RefCell<Option<TaskRef>>,
    /// When the deadline fired, for the clean-up duration.
    expired_at: Cell<Option<Instant>>,
}

/// Where a scope's state lives.
#[derive(Debug)]
enum SharedSlot {
    /// In the scope (no handle was taken).
    Local(Shared),
    /// Shared with [`TimeoutHandle`]s.
    Shared(Rc<Shared>),
}

impl std::ops::Deref for SharedSlot {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        match self {
            SharedSlot::Local(s) => s,
            SharedSlot::Shared(s) => s,
        }
    }
}

impl Shared {
    /// The deadline passed: the scope is expiring and its task's
    /// cancellation is requested.
    fn expire(&self, task: &TaskRef) {
        self.state.set(State::Expiring);
        self.expired_at.set(Some(timer::now()));
        task.cancel();
    }

    fn new() -> Shared {
        Shared {
            when: Cell::new(None),
            state: Cell::new(State::Created),
            moved: Cell::new(false),
            waker: RefCell::new(WakerSlot::new()),
            task: RefCell::new(None),
            expired_at: Cell::new(None),
        }
    }
}

pin_project_lite::pin_project! {
    /// A timeout scope around a future; see [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        // The inner future, the only pinned field; `None` once dropped (in
        // place) by a grace-period abort.
        #[pin]
        future: Option<F>,
        // Everything else, never pinned: the scope's methods borrow only
        // this, never the whole scope over the pinned future.
        scope: ScopeState,
    }
}

/// The unpinned state of a [`Timeout`].
#[derive(Debug)]
struct ScopeState {
    /// The deadline as given, resolved on entry.
    deadline: Deadline,
    /// The timer, armed on the first pending poll.
    timer: Option<TimerEntry>,
    /// State; moved behind an `Rc` only when a handle is asked for, so a
    /// plain `wait_for` does not allocate.
    shared: SharedSlot,
    /// The task the scope was entered in, counted, from its first pending
    /// poll until it finishes (a scope ready on its first poll needs none).
    task: Option<TaskRef>,
    /// The task's cancellation state on entry (asyncio's counter rule).
    cancel: CancelScope,
    /// Longest clean-up allowed after the deadline.
    grace: Option<Duration>,
    /// Timer of the grace period.
    grace_timer: Option<TimerEntry>,
    /// Where the scope was created, for the debug-mode report.
    site: &'static Location<'static>,
}

impl<F: Future> Timeout<F> {
    #[track_caller]
    fn new(deadline: Deadline, future: F) -> Timeout<F> {
        Timeout {
            future: Some(future),
            scope: ScopeState {
                deadline,
                timer: None,
                shared: SharedSlot::Local(Shared::new()),
                task: None,
                cancel: CancelScope::default(),
                grace: None,
                grace_timer: None,
                site: Location::caller(),
            },
        }
    }

    /// Bounds the clean-up after the deadline: if the inner future has not
    /// finished `grace` after the cancellation was requested, it is dropped
    /// (a hard abort) and the error says the clean-up was cut short.
    /// asyncio has no such bound; its `wait_for` can overrun without limit.
    pub fn cleanup_grace(mut self, grace: Duration) -> Timeout<F> {
        self.scope.grace = Some(grace);
        self
    }

    /// A handle to reschedule or inspect the scope, also from another task.
    /// Take it before awaiting the scope.
    pub fn handle(&mut self) -> TimeoutHandle {
        let shared = match &mut self.scope.shared {
            SharedSlot::Shared(rc) => rc.clone(),
            SharedSlot::Local(local) => {
                let rc = Rc::new(std::mem::replace(local, Shared::new()));
                self.scope.shared = SharedSlot::Shared(rc.clone());
                rc
            }
        };
        TimeoutHandle { shared }
    }
}

impl ScopeState {
    /// Logs that the inner future was dropped because it could not see the
    /// cancellation (a warning in debug mode, with the scope's site).
    fn report_cut_short(&self) {
        let msg = format!(
            "taskloop: the timeout scope at {} dropped its inner future: it was cancelled \
             while waiting on a future that cannot see cancellations (wrap such waits in \
             taskloop::cancellable to let them run their clean-up)",
            self.site
        );
        if crate::runtime::context::with_core(|c| c.config.debug) == Some(true) {
            crate::task::report(log::Level::Warn, format_args!("{msg}"));
        } else {
            log::debug!("{msg}");
        }
    }

    /// Enters the scope: records the task's cancellation state.
    fn enter(&mut self, task: &TaskRef) {
        self.cancel = CancelScope::enter(task.header());
        self.shared.state.set(State::Entered);
        if let SharedSlot::Shared(shared) = &self.shared {
            *shared.task.borrow_mut() = Some(task.clone());
        }
    }

    /// The deadline fired: request cancellation of the task.
    fn expire(&mut self, task: &TaskRef) {
        self.shared.expire(task);
        if let Some(t) = self.timer.as_mut() {
            t.cancel();
        }
    }

    /// The inner future completed (or was dropped): decide the outcome.
    fn finish<T>(&mut self, h: &Header, output: Option<T>) -> Result<T, TimeoutError> {
        let delivered = CancelScope::delivered_inside(h);
        let result = match self.shared.state.get() {
            State::Expiring => {
                self.shared.state.set(State::Expired);
                let cleanup = self.shared.expired_at.get().map_or(Duration::ZERO, |t| {
                    timer::now().saturating_duration_since(t)
                });
                let cut_short = output.is_none();
                if self.cancel.settle(h, true) {
                    // Only our request was outstanding: it is withdrawn.
                    match output {
                        Some(v) if !delivered => Ok(v),
                        _ => Err(TimeoutError::Elapsed(Elapsed { cleanup, cut_short })),
                    }
                } else {
                    match output {
                        Some(v) if !delivered => Ok(v),
                        _ => Err(TimeoutError::Cancelled(Cancelled)),
                    }
                }
            }
            _ => {
                self.shared.state.set(State::Exited);
                match output {
                    Some(v) if !delivered => Ok(v),
                    _ => Err(TimeoutError::Cancelled(Cancelled)),
                }
            }
        };
        self.cancel.exit(h);
        self.timer = None;
        self.grace_timer = None;
        self.task = None;
        if let SharedSlot::Shared(shared) = &self.shared {
            shared.task.borrow_mut().take();
        }
        result
    }

    /// Resolves the deadline on entry.
    fn resolve(&self, now: Instant) -> Option<Instant> {
        match self.deadline {
            Deadline::After(d) => now.checked_add(d),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        /// What a turn of the loop below does next.
        enum Step<T> {
            Return(T),
            Repoll(cancel::state::InlinePoll),
            Wait,
        }
        const OUTSIDE: &str = "a taskloop timeout or wait_for was polled outside a taskloop task";
        let this = self.project();
        let scope = this.scope;
        let mut future = this.future;
        // Whether the inner future reaches a checkpoint in this poll, told
        // apart from the rest of the task's poll (begun here, ended below).
        let mut inline = current_task::with(|cur| {
            match &scope.task {
                Some(task) => assert!(
                    task == cur,
                    "a taskloop timeout scope was polled by a task other than the one it was entered in"
                ),
                None if scope.shared.state.get() == State::Created => scope.enter(cur),
                None => panic!("`Timeout` polled after completion"),
            }
            cancel::state::InlinePoll::begin(cur.header())
        })
        .unwrap_or_else(|| panic!("{OUTSIDE}"));
        // When the deadline has already passed at the first pending poll
        // (asyncio's `timeout <= 0` path), the inner future is polled once
        // more at once, so the cancellation reaches it (or the task it
        // awaits, which then never starts) before anything else runs. A
        // timer that fires later does not re-poll: as in asyncio, every
        // scope whose deadline passed requests its cancellation before the
        // inner code runs again (that is what the nesting rule counts on).
        let mut repolled = false;
        loop {
            let Some(inner) = future.as_mut().as_pin_mut() else {
                unreachable!("the inner future is only dropped when the scope finishes")
            };
            // Polled here, outside any closure, so that a checkpoint polled
            // directly (`wait_for(task, d)`) records the `.await` of this
            // scope.
            let polled = inner.poll(cx);
            let step = current_task::with(|cur| {
                let h = cur.header();
                let stuck = inline.end(h, polled.is_pending());
                if let Poll::Ready(v) = polled {
                    return Step::Return(scope.finish(h, Some(v)));
                }
                if stuck {
                    // Polled with a cancellation outstanding, the inner
                    // future waits where it cannot see it (another crate's
                    // future): it is dropped, in place, and the scope ends
                    // now (the rule in docs/asyncio-mapping.md).
                    scope.report_cut_short();
                    future.set(None);
                    if scope.shared.state.get() != State::Expiring {
                        // Someone else's request: the scope reports it, so
                        // the task has seen it.
                        cancel::state::take_for_delivery(h);
                    }
                    return Step::Return(scope.finish::<F::Output>(h, None));
                }
                if scope.task.is_none() {
                    // The scope now outlives this poll: keep a counted reference.
                    scope.task = Some(cur.clone());
                }
                if scope.shared.state.get() == State::Entered
                    && scope.check_deadline(cur, cx) == Expiry::AtOnce
                    && !repolled
                {
                    return Step::Repoll(cancel::state::InlinePoll::begin(h));
                }
                if scope.shared.state.get() == State::Expiring {
                    if let Some(grace) = scope.grace {
                        let t = scope
                            .grace_timer
                            .get_or_insert_with(|| TimerEntry::after(grace));
                        if t.poll_expired(cx).is_ready() {
                            // Dropped in place: the pin promise is kept.
                            future.set(None);
                            return Step::Return(scope.finish::<F::Output>(h, None));
                        }
                    }
                }
                Step::Wait
            })
            .unwrap_or_else(|| panic!("{OUTSIDE}"));
            match step {
                Step::Return(out) => return Poll::Ready(out),
                Step::Repoll(again) => {
                    repolled = true;
                    inline = again;
                }
                Step::Wait => return Poll::Pending,
            }
        }
    }
}

impl ScopeState {
    /// Arms or re-arms the timer and checks it; says whether the deadline
    /// fired now (and the cancellation was requested).
    fn check_deadline(&mut self, task: &TaskRef, cx: &Context<'_>) -> Expiry {
        let moved = self.shared.moved.replace(false);
        if self.timer.is_none() || moved {
            // One clock read serves both the resolution and the check.
            let now = timer::now();
            let when = if self.timer.is_none() && !moved {
                // The deadline is resolved lazily, on the first pending
                // poll: a future that is ready at once costs no clock read.
                let when = self.resolve(now);
                self.shared.when.set(when);
                when
            } else {
                self.shared.when.get()
            };
            if when.is_some_and(|w| w <= now) {
                // asyncio's `timeout <= 0` path: cancel at once.
                self.expire(task);
                return Expiry::AtOnce;
            }
            match self.timer.as_mut() {
                Some(t) => t.reset(when),
                None => self.timer = Some(TimerEntry::at(when)),
            }
        }
        if let SharedSlot::Shared(shared) = &self.shared {
            let old = shared.waker.borrow_mut().register(cx.waker());
            drop(old);
        }
        let timer = self.timer.as_mut().expect("armed above");
        if timer.poll_expired(cx).is_ready() {
            self.expire(task);
            return Expiry::Fired;
        }
        Expiry::NotYet
    }
}

/// What [`Timeout::check_deadline`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    /// The deadline is ahead.
    NotYet,
    /// The timer fired.
    Fired,
    /// The deadline had passed before the timer was armed.
    AtOnce,
}

impl Drop for ScopeState {
    /// A scope dropped before it finished (by a `select`, say) takes back
    /// its own cancellation request and restores what it hid, so the task
    /// sees no cancellation nobody asked for. The inner future is not here:
    /// it is dropped in place by the scope's drop glue.
    fn drop(&mut self) {
        if let SharedSlot::Shared(shared) = &self.shared {
            shared.task.borrow_mut().take();
        }
        let Some(task) = self.task.take() else { return };
        let h = task.header();
        if self.shared.state.get() == State::Expiring {
            self.cancel.settle(h, true);
        }
        self.cancel.exit(h);
    }
}

impl<F> Timeout<F> {
    /// Whether the scope finished (for `FusedFuture`).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // For `compat`.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(
            self.scope.shared.state.get(),
            State::Expired | State::Exited
        )
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("state", &self.scope.shared.state.get())
            .field("when", &self.scope.shared.when.get())
            .finish_non_exhaustive()
    }
}

/// A handle to a [`Timeout`] scope: asyncio's `Timeout` object methods.
#[derive(Clone, Debug)]
pub struct TimeoutHandle {
    /// The scope's shared state.
    shared: Rc<Shared>,
}

impl TimeoutHandle {
    /// The current deadline (`None` before entry or when there is none):
    /// asyncio's `when()`.
    pub fn when(&self) -> Option<Instant> {
        self.shared.when.get()
    }

    /// Whether the deadline fired: asyncio's `expired()`.
    pub fn expired(&self) -> bool {
        matches!(self.shared.state.get(), State::Expiring | State::Expired)
    }

    /// Moves the deadline (`None`: no deadline); a deadline in the past
    /// fires at once. Works from another task: asyncio's `reschedule()`.
    ///
    /// # Errors
    /// asyncio's state errors: the scope was not entered yet, or is expiring,
    /// expired or finished.
    pub fn reschedule(&self, when: impl Into<Option<Instant>>) -> Result<(), TimeoutStateError> {
        match self.shared.state.get() {
            State::Created => return Err(TimeoutStateError::NotEntered),
            State::Expiring => return Err(TimeoutStateError::Expiring),
            State::Expired => return Err(TimeoutStateError::Expired),
            State::Exited => return Err(TimeoutStateError::Finished),
            State::Entered => {}
        }
        let when = when.into();
        self.shared.when.set(when);
        self.shared.moved.set(true);
        if when.is_some_and(|w| w <= timer::now()) {
            // A deadline in the past fires now, as asyncio's `call_soon` of
            // the timeout callback: the cancellation is requested before the
            // scope's task runs its inner code again (nested scopes
            // rescheduled together then all expire, by the counter rule).
            let task = self.shared.task.borrow().clone();
            if let Some(task) = task {
                self.shared.expire(&task);
            }
        }
        let waker = self.shared.waker.borrow().clone_waker();
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}
