//! One registration per runtime and signal, shared by every listener of
//! that signal on that runtime, and the process-wide record of which signals
//! some runtime listens to (so the default action comes back when none does).
//!
//! # Ground rules
//!
//! * An [`Entry`] owns a `signal_hook_mio::v1_0::Signals` for one signal,
//!   registered with the runtime's reactor through [`IoSource`]; it lives on
//!   the loop thread (`Rc`), found through a thread-local table keyed by the
//!   reactor's address and the signal number. The table holds `Weak`s: the
//!   listeners own the entry, and the last one to go drops it, which
//!   deregisters the source and unregisters signal-hook's action.
//! * Fan-out is by count: `delivered` counts the batches of signals the
//!   loop read from the self-pipe; a listener remembers the count it has
//!   seen and is ready when the entry's is higher. Whoever polls first reads
//!   the pipe, bumps the count and wakes every listener parked on the entry.
//!   Several signals read in one batch count once (signal-hook coalesces
//!   them, as the kernel does for a pending signal).
//! * The process-wide table ([`listening`]) counts the entries alive for
//!   each signal over every runtime. For a signal whose default action
//!   terminates the process, the first registration also installs, once
//!   per process and for good, signal-hook's `register_conditional_default`
//!   action, armed exactly while that count is zero: with no listener left,
//!   the signal does what `SIG_DFL` would do again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use signal_hook_mio::v1_0::Signals;

use super::SignalKind;
use crate::reactor::{Direction, IoSource};

/// The self-pipe of one signal; a mio source.
struct Pipe(RefCell<Signals>);

impl Source for Pipe {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.get_mut().register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.get_mut().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.0.get_mut().deregister(registry)
    }
}

impl Pipe {
    /// Drains the pipe: `Ok` if a signal arrived since the last read,
    /// `WouldBlock` otherwise (the reactor then waits for the next edge).
    fn take(&self) -> io::Result<()> {
        if self.0.borrow_mut().pending().next().is_some() {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

/// One runtime's registration of one signal.
pub(super) struct Entry {
    /// The signal.
    kind: SignalKind,
    /// The self-pipe, registered with the reactor.
    source: IoSource<Pipe>,
    /// Batches of deliveries read so far.
    delivered: Cell<u64>,
    /// Listeners parked on the entry, woken at each delivery.
    waiters: RefCell<Vec<Waker>>,
    /// Keeps the process-wide count up while the entry lives.
    _listening: Listening,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("kind", &self.kind)
            .field("delivered", &self.delivered.get())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The live entries of this thread's runtimes, by reactor address and signal.
    static ENTRIES: RefCell<HashMap<(usize, i32), Weak<Entry>>> = RefCell::new(HashMap::new());
}

impl Entry {
    /// The entry of `kind` for the runtime running on this thread, created
    /// (and the signal-hook action installed) if no listener has it.
    ///
    /// # Errors
    /// Outside a runtime, or if the OS refused the pipe or the handler.
    pub(super) fn get(kind: SignalKind) -> io::Result<Rc<Entry>> {
        let reactor = crate::runtime::context::reactor().ok_or_else(|| {
            io::Error::other(
                "taskloop: a signal listener was created outside a taskloop runtime (create it \
                 inside `block_on`/`run`, on the loop thread)",
            )
        })?;
        let key = (Rc::as_ptr(&reactor) as usize, kind.as_raw());
        if let Some(entry) = ENTRIES.with(|e| e.borrow().get(&key).and_then(Weak::upgrade)) {
            return Ok(entry);
        }
        // Counted (and the default action disarmed) before the handler is
        // installed, so that no signal falls between the two.
        let listening = Listening::new(kind)?;
        let signals = Signals::new([kind.as_raw()])?;
        let source = IoSource::new_passive(Pipe(RefCell::new(signals)))?;
        let entry = Rc::new(Entry {
            kind,
            source,
            delivered: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            _listening: listening,
        });
        ENTRIES.with(|e| {
            let mut e = e.borrow_mut();
            e.retain(|_, w| w.strong_count() > 0);
            e.insert(key, Rc::downgrade(&entry));
        });
        Ok(entry)
    }

    /// The signal.
    pub(super) fn kind(&self) -> SignalKind {
        self.kind
    }

    /// The delivery count, after reading whatever the pipe holds now (a
    /// new listener starts from it: nothing received before is replayed).
    pub(super) fn current(&self) -> u64 {
        if self.source.get_ref().take().is_ok() {
            self.bump();
        }
        self.delivered.get()
    }

    /// Ready with the new count once it is above `seen`; otherwise `cx` is
    /// woken at the next delivery. Not a checkpoint.
    pub(super) fn poll_delivery(&self, seen: u64, cx: &mut Context<'_>) -> Poll<u64> {
        loop {
            if self.delivered.get() > seen {
                return Poll::Ready(self.delivered.get());
            }
            match self.source.poll_io(Direction::Read, cx, Pipe::take) {
                Poll::Ready(Ok(())) => self.bump(),
                // The pipe does not fail (signal-hook ignores its errors);
                // should it, wait for the next edge rather than spin.
                Poll::Ready(Err(_)) | Poll::Pending => {
                    let mut waiters = self.waiters.borrow_mut();
                    if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        waiters.push(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Records a delivery and wakes every parked listener (after releasing
    /// the borrow).
    fn bump(&self) {
        self.delivered.set(self.delivered.get() + 1);
        let woken = std::mem::take(&mut *self.waiters.borrow_mut());
        woken.into_iter().for_each(Waker::wake);
    }
}

/// Per signal: how many entries (over every runtime of the process) are
/// alive, and the flag that arms the default action when none is.
static LISTENING: Mutex<Vec<(i32, usize, Arc<AtomicBool>)>> = Mutex::new(Vec::new());

/// One entry's share of the process-wide count of its signal.
struct Listening {
    /// The signal counted.
    signal: i32,
}

impl Listening {
    /// Counts one more listener of `kind`; the first ever also installs
    /// the conditional default action of a terminating signal.
    fn new(kind: SignalKind) -> io::Result<Listening> {
        let signal = kind.as_raw();
        let mut table = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
        match table.iter_mut().find(|(s, _, _)| *s == signal) {
            Some((_, n, idle)) => {
                *n += 1;
                idle.store(false, Ordering::SeqCst);
            }
            None => {
                let idle = Arc::new(AtomicBool::new(false));
                if kind.terminates_by_default() {
                    signal_hook::flag::register_conditional_default(signal, idle.clone())?;
                }
                table.push((signal, 1, idle));
            }
        }
        Ok(Listening { signal })
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let mut table = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n, idle)) = table.iter_mut().find(|(s, _, _)| *s == self.signal) {
            *n -= 1;
            if *n == 0 {
                idle.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Whether some runtime of this process listens to `kind` now.
#[cfg(test)]
pub(super) fn listening(kind: SignalKind) -> bool {
    let table = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
    table.iter().any(|(s, n, _)| *s == kind.as_raw() && *n > 0)
}
