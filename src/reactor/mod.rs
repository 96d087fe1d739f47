//! The reactor: the runtime's one `mio::Poll`, where the loop sleeps until an
//! I/O event, a cross-thread wake or the next timer deadline, and the
//! registrations of I/O sources.
//!
//! # Ground rules
//!
//! * Each registered source is an entry in a `slab`; its `mio::Token` is
//!   the slab key in the low 32 bits and the entry's generation in the high
//!   bits, so an event for a closed and reused slot never wakes the new
//!   owner's waiters.
//! * mio is edge-triggered: readiness is kept per entry and direction, and
//!   cleared only by the I/O layer when an operation returns `WouldBlock`.
//!   Reading and writing wait independently.
//! * [`IoSource`] is a registered source and the retry-then-wait loop of
//!   every socket operation (its own ground rules).
//! * A passive source (a signal's self-pipe) does not count as something
//!   a task waits on, unless a [`Hold`] says one does (a child's exit seen
//!   through SIGCHLD): while any `Hold` lives, the passive sources count as
//!   active for the driver's stall rule.
//! * [`Reactor::turn`] only *collects* the wakers of ready entries; the
//!   driver wakes them after the reactor's borrow is released. The reactor
//!   never runs task code and knows nothing of timers.

pub(crate) mod registration;
mod source;

pub(crate) use registration::Direction;
pub(crate) use source::{IoSource, read_exact, write_all};

use std::io;
use std::task::Waker;
use std::time::Duration;

use mio::{Events, Poll, Token};
use slab::Slab;

use registration::IoEntry;

/// The token of the cross-thread `mio::Waker`.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// The runtime's poller and its registrations.
pub(crate) struct Reactor {
    /// The OS poller (epoll, kqueue).
    poll: Poll,
    /// Reused buffer of events from one poll.
    events: Events,
    /// The registered sources: readiness and waiters per direction.
    entries: Slab<IoEntry>,
    /// Generation given to the next entry (bumped at each registration).
    generation: u32,
    /// How many entries are passive (a signal's self-pipe): they wake the
    /// loop, but no task's progress waits on them, so they do not keep the
    /// driver's stall rule from reporting a deadlock.
    passive: usize,
    /// How many [`Hold`]s are alive: waits that a passive source ends.
    held: usize,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// A new poller and the waker other threads use to interrupt it.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let reactor = Reactor {
            poll,
            events: Events::with_capacity(256),
            entries: Slab::new(),
            generation: 0,
            passive: 0,
            held: 0,
        };
        Ok((reactor, waker))
    }

    /// Whether any I/O source is registered: with none, a zero-timeout poll
    /// can learn nothing and is skipped.
    pub(crate) fn has_sources(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether any source other than the passive ones is registered, or a
    /// [`Hold`] makes the passive ones count: with neither, nothing that a
    /// task waits for can come from the reactor.
    pub(crate) fn has_active_sources(&self) -> bool {
        self.entries.len() > self.passive || (self.held > 0 && !self.entries.is_empty())
    }

    /// Waits for events up to `timeout` (`None`: until one arrives) and
    /// appends the wakers of the entries that became ready to `woken`.
    ///
    /// A wake from another thread only ends the wait; the loop then drains
    /// its inject queue.
    pub(crate) fn turn(
        &mut self,
        timeout: Option<Duration>,
        woken: &mut Vec<Waker>,
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in self.events.iter() {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            let (key, generation) = registration::split_token(event.token());
            match self.entries.get_mut(key) {
                Some(entry) if entry.generation == generation => entry.on_event(event, woken),
                // A source closed (and maybe its slot reused) since the
                // event was queued: nobody waits for it.
                _ => {}
            }
        }
        Ok(())
    }
}

/// Makes the passive sources count as active while it lives: a wait whose
/// end only a passive source reports (a child's exit, seen through the
/// shared SIGCHLD self-pipe), so the loop is not reported stalled.
pub(crate) struct Hold {
    /// The reactor whose count it raised.
    reactor: std::rc::Rc<std::cell::RefCell<Reactor>>,
}

impl Hold {
    /// Raises the count of the runtime running on this thread; `None`
    /// outside a runtime.
    pub(crate) fn new() -> Option<Hold> {
        let reactor = crate::runtime::context::reactor()?;
        reactor.borrow_mut().held += 1;
        Some(Hold { reactor })
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut reactor = self.reactor.borrow_mut();
        debug_assert!(reactor.held > 0, "a Hold without its count");
        reactor.held -= 1;
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").finish_non_exhaustive()
    }
}
