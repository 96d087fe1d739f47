//! The reactor: the runtime's one `mio::Poll`, where the loop sleeps until an
//! I/O event, a cross-thread wake or the next timer deadline.
//!
//! It owns the `Poll`, its event buffer and the token of the `mio::Waker`
//! that other threads use to interrupt it. It must never run task code: it
//! only reports readiness (I/O sources arrive with the socket types, each a
//! `slab` registration whose waker the reactor wakes).

use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token};

/// The token of the cross-thread `mio::Waker`.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// The runtime's poller.
pub(crate) struct Reactor {
    /// The OS poller (epoll, kqueue).
    poll: Poll,
    /// Reused buffer of events from one poll.
    events: Events,
    /// How many I/O sources are registered: with none, a zero-timeout poll
    /// can learn nothing and is skipped.
    sources: usize,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources)
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
            sources: 0,
        };
        Ok((reactor, waker))
    }

    /// Whether any I/O source is registered.
    pub(crate) fn has_sources(&self) -> bool {
        self.sources > 0
    }

    /// Waits for events up to `timeout` (`None`: until one arrives).
    ///
    /// A wake from another thread only ends the wait; the loop then drains
    /// its inject queue.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in self.events.iter() {
            debug_assert_eq!(event.token(), WAKE_TOKEN, "no I/O sources exist yet");
        }
        Ok(())
    }
}
