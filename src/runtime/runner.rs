//! asyncio's `Runner` for command-line tools: [`run`](super::run) and
//! [`run_cli`](super::run_cli) with SIGINT (and, when asked, SIGTERM)
//! handling, and the bounded shutdown that follows the main task.
//!
//! # Ground rules
//!
//! * **First signal**: the runtime's own listener (a [`Signal`] polled by
//!   the main task's wrapper, never a checkpoint, so it cannot take the
//!   main task's own cancellations) sees it and cancels the main task: a
//!   request, delivered at its next checkpoint; its clean-up runs.
//! * **Second signal**, or any once the main task is done: the process
//!   exits at once with status 128 + the signal (130 for SIGINT), from the
//!   signal handler itself (signal-hook's documented double-Ctrl-C
//!   pattern: `register_conditional_shutdown` armed by a flag that the
//!   first delivery sets). It works even while a task blocks the loop.
//!   Nothing else runs: no destructor, no clean-up; lines already printed
//!   are out (Rust's stdout is line-buffered).
//! * **Shutdown**: every pending task is cancelled and the loop turns until
//!   they are done or the bound passes (real time, also on a virtual
//!   clock); then the stragglers are named in a warning and dropped.
//! * Every registration is undone when the run ends (the signals' default
//!   actions come back, see [`crate::signal`]).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use signal_hook::SigId;

use super::{Runtime, context};
use crate::signal::{Signal, SignalKind, signal};

/// The main task ended cancelled after a SIGINT (or, with
/// [`Builder::graceful_sigterm`](super::Builder::graceful_sigterm), a
/// SIGTERM): the Rust form of asyncio's `KeyboardInterrupt` out of `run`.
///
/// Convert it into the shell's exit status with `ExitCode::from` (130 for
/// SIGINT, 143 for SIGTERM).
///
/// # Examples
/// ```
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     taskloop::run_cli(async { /* the program */ }).map_or_else(ExitCode::from, |()| ExitCode::SUCCESS)
/// }
/// # main();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// The signal that interrupted the run.
    signal: SignalKind,
}

impl Interrupted {
    /// The signal that interrupted the run.
    pub fn signal(&self) -> SignalKind {
        self.signal
    }

    /// The shell's status for it: 128 + the signal number.
    pub fn exit_status(&self) -> u8 {
        self.signal.exit_status()
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.signal)
    }
}

impl std::error::Error for Interrupted {}

impl From<Interrupted> for std::process::ExitCode {
    /// 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
    fn from(i: Interrupted) -> std::process::ExitCode {
        std::process::ExitCode::from(i.exit_status())
    }
}

/// The signal handling of one run: listeners and the immediate-exit actions.
struct Interrupts {
    /// The listeners polled by the main task's wrapper, taken by it.
    watched: Vec<Signal>,
    /// Listeners kept for the whole run, so the runtime listens (and the
    /// default action stays disarmed) also after the main task is done.
    _held: Vec<Signal>,
    /// The immediate-exit actions, unregistered when the run ends.
    exits: Vec<SigId>,
    /// Set by the first signal (in the handler) or when the main task is
    /// done: arms the immediate exit.
    armed: Arc<AtomicBool>,
}

impl Interrupts {
    /// Installs the handling of `kinds` on `rt`.
    fn install(rt: &Runtime, kinds: &[SignalKind]) -> io::Result<Interrupts> {
        let _enter = context::enter(&rt.core);
        let armed = Arc::new(AtomicBool::new(false));
        let mut this = Interrupts {
            watched: Vec::new(),
            _held: Vec::new(),
            exits: Vec::new(),
            armed: armed.clone(),
        };
        // signal-hook runs a signal's actions in the order they were
        // registered, on whichever thread the signal interrupts. So the
        // exit goes before the flag (the first signal finds it unarmed,
        // then arms it), and both go before the listeners: were the
        // listener's wake first, the loop thread could end the main task
        // and arm the exit (below, in `run_main`) while the handler, on
        // another thread, had not yet reached the exit check, and the one
        // signal would exit the process as if it were the second.
        for &kind in kinds {
            this.exits
                .push(signal_hook::flag::register_conditional_shutdown(
                    kind.as_raw(),
                    i32::from(kind.exit_status()),
                    armed.clone(),
                )?);
            this.exits
                .push(signal_hook::flag::register(kind.as_raw(), armed.clone())?);
        }
        for &kind in kinds {
            this.watched.push(signal(kind)?);
            this._held.push(signal(kind)?);
        }
        Ok(this)
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for id in self.exits.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

pin_project_lite::pin_project! {
    /// The main future, watched for the interrupting signals.
    struct Watch<F> {
        #[pin]
        main: F,
        // The listeners; emptied once one has fired.
        listeners: Vec<Signal>,
        // The signal that cancelled the main task.
        interrupted: Rc<Cell<Option<SignalKind>>>,
    }
}

impl<F: Future> Future for Watch<F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Some(kind) = this
            .listeners
            .iter_mut()
            .find_map(|l| l.poll_delivered(cx).is_ready().then(|| l.kind()))
        {
            this.interrupted.set(Some(kind));
            this.listeners.clear();
            if let Some(main) = crate::current_task() {
                main.cancel();
            }
        }
        this.main.poll(cx)
    }
}

/// Runs `main` on `rt` as asyncio's `Runner` does, then shuts `rt` down
/// (bounded) and drops it.
pub(super) fn run_main<F: Future>(
    rt: Runtime,
    main: F,
    location: &'static std::panic::Location<'static>,
) -> io::Result<Result<F::Output, Interrupted>> {
    assert!(
        !context::is_entered(),
        "taskloop::run (Runtime::block_on) was called from inside a running taskloop runtime, \
         which would block the loop that drives it: `.await` the future instead, or start it \
         with taskloop::spawn"
    );
    let config = rt.core.config.clone();
    let mut kinds = Vec::new();
    // Miri cannot install signal handlers (a foreign `sigaction`); the
    // suites it runs never send signals.
    if config.ctrl_c && !cfg!(miri) {
        kinds.push(SignalKind::interrupt());
    }
    if config.graceful_sigterm && !cfg!(miri) {
        kinds.push(SignalKind::terminate());
    }
    let mut interrupts = if kinds.is_empty() {
        None
    } else {
        Some(Interrupts::install(&rt, &kinds)?)
    };
    let interrupted = Rc::new(Cell::new(None));
    let watch = Watch {
        main,
        listeners: interrupts
            .as_mut()
            .map(|i| std::mem::take(&mut i.watched))
            .unwrap_or_default(),
        interrupted: interrupted.clone(),
    };
    let (output, cancelled) = rt.block_on_main(watch, location);
    if let Some(i) = &interrupts {
        // A signal from now on ends the process at once.
        i.armed.store(true, Ordering::SeqCst);
    }
    rt.shutdown_for(config.shutdown_timeout);
    drop(interrupts);
    match interrupted.get() {
        Some(signal) if cancelled => Ok(Err(Interrupted { signal })),
        _ => Ok(Ok(output)),
    }
}

impl Runtime {
    /// [`shutdown`](Self::shutdown) with a bound: cancels every pending
    /// task and turns the loop until they are done or `timeout` (real time)
    /// has passed; the tasks still pending then are named in a warning and
    /// dropped with the runtime. `Duration::MAX` waits as long as it takes.
    ///
    /// # Panics
    /// If called from inside a running runtime.
    pub fn shutdown_timeout(self, timeout: Duration) {
        self.shutdown_for(timeout);
    }

    /// The bounded shutdown (see [`shutdown_timeout`](Self::shutdown_timeout)).
    fn shutdown_for(self, timeout: Duration) {
        assert!(
            !context::is_entered(),
            "Runtime::shutdown was called from inside a running taskloop runtime"
        );
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.shutdown();
        };
        let core = self.core.clone();
        let _enter = context::enter(&core);
        let pending = core.all_tasks();
        if pending.is_empty() {
            return;
        }
        for t in &pending {
            t.cancel();
        }
        // A thread wakes the loop at the deadline, whatever it sleeps on.
        let stop = Arc::new(AtomicBool::new(false));
        let alarm = {
            let stop = stop.clone();
            let shared = core.shared().clone();
            std::thread::Builder::new()
                .name("taskloop-shutdown-alarm".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let now = Instant::now();
                        if now >= deadline {
                            shared.wake();
                            return;
                        }
                        std::thread::park_timeout(deadline - now);
                    }
                })
        };
        let mut checked = 0;
        core.run_until(|| {
            while checked < pending.len() && pending[checked].is_done() {
                checked += 1;
            }
            checked == pending.len() || Instant::now() >= deadline
        });
        stop.store(true, Ordering::SeqCst);
        if let Ok(alarm) = alarm {
            alarm.thread().unpark();
            // It ends at once now (it checks `stop` when unparked).
            let _ = alarm.join();
        }
        let left: Vec<String> = core
            .all_tasks()
            .iter()
            .map(|t| {
                format!(
                    "{} (spawned at {})",
                    t.name(),
                    super::executor::spawn_location(t)
                )
            })
            .collect();
        if !left.is_empty() {
            crate::task::report(
                log::Level::Warn,
                format_args!(
                    "taskloop: shutdown: {} task(s) did not finish their clean-up within {:?} \
                     and were dropped: {}",
                    left.len(),
                    timeout,
                    left.join(", ")
                ),
            );
        }
        drop(_enter);
        drop(core);
        drop(self);
    }
}
