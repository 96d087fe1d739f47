//! The dump trigger of [`Builder::dump_on_signal`](super::Builder::dump_on_signal):
//! each delivery of the chosen signal prints a [task dump](super::TaskDump)
//! on standard error.
//!
//! This module owns the runtime's listener of that signal. It must never be
//! a task (it would show in the dumps it prints, be cancelled by a shutdown
//! it cannot answer, and count as pending work), and never make the loop
//! stay awake: its self-pipe is a passive reactor source, like every signal
//! listener's, so the stall rule and the end of `block_on` are unchanged.
//!
//! # Ground rules
//!
//! * The executor asks [`DumpOnSignal::delivered`] after each park of the
//!   loop, on the loop thread; the signal handler itself only writes to the
//!   self-pipe (signal-hook's), so nothing is formatted in the handler.
//! * The listener's waker only sets a flag: the listener is polled again
//!   only once that flag says the pipe (or a fellow listener) woke it, so a
//!   turn without a signal costs one atomic swap.
//! * A task blocking the loop delays the dump until its poll returns (in
//!   debug mode the watchdog reports such a poll meanwhile).

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

use super::executor::Core;
use crate::signal::{Signal, SignalKind, signal};

/// The runtime's listener of its dump signal.
#[derive(Debug)]
pub(crate) struct DumpOnSignal {
    /// The listener (not a checkpoint: polled with `poll_delivered`).
    listener: RefCell<Signal>,
    /// The listener's waker: set when a delivery may be waiting.
    woken: Arc<Flag>,
}

/// A waker that raises a flag.
#[derive(Debug)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

impl DumpOnSignal {
    /// Starts listening to `kind` on `core`'s reactor.
    ///
    /// # Errors
    /// If the OS refuses the self-pipe or the handler.
    pub(crate) fn install(core: &std::rc::Rc<Core>, kind: SignalKind) -> io::Result<DumpOnSignal> {
        let listener = {
            let _enter = super::context::enter(core);
            signal(kind)?
        };
        let this = DumpOnSignal {
            listener: RefCell::new(listener),
            woken: Arc::new(Flag(AtomicBool::new(true))),
        };
        // Registers the waker with the reactor.
        let _ = this.delivered();
        Ok(this)
    }

    /// The signal listened to.
    pub(crate) fn kind(&self) -> SignalKind {
        self.listener.borrow().kind()
    }

    /// Whether the signal arrived since the last call (several deliveries
    /// in between count once); leaves the waker registered.
    pub(crate) fn delivered(&self) -> bool {
        if !self.woken.0.swap(false, Ordering::Acquire) {
            return false;
        }
        let waker = Waker::from(self.woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut listener = self.listener.borrow_mut();
        let mut delivered = false;
        while listener.poll_delivered(&mut cx).is_ready() {
            delivered = true;
        }
        delivered
    }

    /// Writes `core`'s task dump to standard error, in one write.
    pub(crate) fn print(&self, core: &Core) {
        let thread = std::thread::current();
        let text = format!(
            "taskloop: task dump on {} (loop thread {}): {}",
            self.kind(),
            thread.name().unwrap_or("<unnamed>"),
            super::dump::TaskDump::of(core)
        );
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use crate::signal::SignalKind;
    use crate::{Promise, Runtime};

    // SIGWINCH: ignored by default, and no other test of this crate listens.
    #[test]
    fn the_listener_is_no_task_and_leaves_the_stall_rule_alone() {
        for virtual_time in [false, true] {
            let never = Promise::<()>::new();
            let stalled = Rc::new(Cell::new(false));
            let hook = {
                let (resolver, stalled) = (never.resolver(), stalled.clone());
                Rc::new(move || {
                    stalled.set(true);
                    let _ = resolver.set_result(());
                })
            };
            let rt = Runtime::builder()
                .virtual_time(virtual_time)
                .dump_on_signal(SignalKind::window_change())
                .on_stall(hook)
                .build()
                .unwrap();
            assert!(rt.core.dump_on_signal.get().is_some());
            assert!(rt.all_tasks().is_empty(), "the listener is not a task");
            rt.block_on(async {
                assert_eq!(crate::dump().len(), 1, "only the main task");
                // Nothing but the passive signal pipe can wake the loop:
                // a stall, which the hook ends.
                never.await.unwrap();
            });
            assert!(stalled.get(), "virtual time: {virtual_time}");
            assert!(rt.all_tasks().is_empty());
        }
    }
}
