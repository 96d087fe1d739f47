//! One registered I/O source: its readiness per direction and the waiter of
//! each direction, and the register / poll / clear / deregister operations
//! the socket types (`net`) are written on.

use std::io;
use std::task::{Context, Poll, Waker};

use mio::event::{Event, Source};
use mio::{Interest, Token};

use super::Reactor;

/// Which half of a source an operation waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable (or read-closed, or an error).
    Read,
    /// Writable (or write-closed, or an error).
    Write,
}

/// A registration's key: slab index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoKey {
    /// Index in the slab.
    index: usize,
    /// Generation of the entry, to reject a stale key.
    generation: u32,
}

/// Readiness and waiters of one source.
#[derive(Debug)]
pub(super) struct IoEntry {
    /// Generation this entry was registered with (also in its token).
    pub(super) generation: u32,
    /// Readiness seen and not yet consumed, per direction.
    ready: [bool; 2],
    /// The direction was reported closed (peer hang-up or an error): it
    /// stays ready through [`Reactor::clear_edge`], because no new edge will
    /// come (a read after the peer's FIN returns 0 at once). Only a
    /// `WouldBlock` ([`Reactor::clear_ready`]) clears it: the kernel then
    /// says there is nothing, so no operation can spin on a stale flag.
    closed: [bool; 2],
    /// The waiters of each direction: usually one task (a stream's reader
    /// or writer); several when tasks share a socket (`&UdpSocket`).
    waiters: [Vec<Waker>; 2],
    /// Counted in `Reactor::passive` (see there).
    passive: bool,
}

/// The token of an entry.
fn token(key: IoKey) -> Token {
    Token((key.generation as usize) << 32 | key.index)
}

/// Slab index and generation of a token.
pub(super) fn split_token(t: Token) -> (usize, u32) {
    (t.0 & 0xffff_ffff, (t.0 >> 32) as u32)
}

impl IoEntry {
    /// Records an event and collects the wakers it readies.
    pub(super) fn on_event(&mut self, event: &Event, woken: &mut Vec<Waker>) {
        let read_closed = event.is_read_closed() || event.is_error();
        let write_closed = event.is_write_closed() || event.is_error();
        self.closed[0] |= read_closed;
        self.closed[1] |= write_closed;
        let read = event.is_readable() || read_closed;
        let write = event.is_writable() || write_closed;
        for (dir, hit) in [(0, read), (1, write)] {
            if hit {
                self.ready[dir] = true;
                woken.append(&mut self.waiters[dir]);
            }
        }
    }
}

impl Reactor {
    /// Registers `source` for `interest`.
    ///
    /// # Errors
    /// The OS refused the registration (or the slab is beyond 2^32 entries).
    pub(crate) fn register(
        &mut self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<IoKey> {
        let entry = self.entries.vacant_entry();
        if entry.key() > u32::MAX as usize {
            return Err(io::Error::other("taskloop: too many I/O registrations"));
        }
        self.generation = self.generation.wrapping_add(1);
        let key = IoKey {
            index: entry.key(),
            generation: self.generation,
        };
        self.poll
            .registry()
            .register(source, token(key), interest)?;
        entry.insert(IoEntry {
            generation: key.generation,
            ready: [false; 2],
            closed: [false; 2],
            waiters: [Vec::new(), Vec::new()],
            passive: false,
        });
        Ok(key)
    }

    /// Marks a registration passive: it does not count as a source a task
    /// waits on for the driver's stall rule (a signal's self-pipe).
    pub(crate) fn mark_passive(&mut self, key: IoKey) {
        if let Some(entry) = self
            .entries
            .get_mut(key.index)
            .filter(|e| e.generation == key.generation && !e.passive)
        {
            entry.passive = true;
            self.passive += 1;
        }
    }

    /// Deregisters `source` and drops its entry; returns the waiters' wakers
    /// for the caller to drop after releasing the reactor.
    pub(crate) fn deregister(&mut self, source: &mut impl Source, key: IoKey) -> Vec<Waker> {
        if let Err(e) = self.poll.registry().deregister(source) {
            crate::task::report(
                log::Level::Warn,
                format_args!("taskloop: deregistering an I/O source failed: {e}"),
            );
        }
        match self.entries.get(key.index) {
            Some(e) if e.generation == key.generation => {
                let entry = self.entries.remove(key.index);
                if entry.passive {
                    self.passive -= 1;
                }
                let [mut read, write] = entry.waiters;
                read.extend(write);
                read
            }
            _ => Vec::new(),
        }
    }

    /// Ready if `dir` is ready; otherwise `cx` is woken when it becomes so
    /// (a waker that wakes the same task as one already waiting is not
    /// added twice).
    pub(crate) fn poll_ready(&mut self, key: IoKey, dir: Direction, cx: &Context<'_>) -> Poll<()> {
        let Some(entry) = self
            .entries
            .get_mut(key.index)
            .filter(|e| e.generation == key.generation)
        else {
            // Deregistered: report ready so the operation sees its error.
            return Poll::Ready(());
        };
        let d = dir as usize;
        if entry.ready[d] || entry.closed[d] {
            return Poll::Ready(());
        }
        let waiters = &mut entry.waiters[d];
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// An operation in `dir` returned `WouldBlock`: wait for the next edge.
    pub(crate) fn clear_ready(&mut self, key: IoKey, dir: Direction) {
        if let Some(entry) = self
            .entries
            .get_mut(key.index)
            .filter(|e| e.generation == key.generation)
        {
            entry.ready[dir as usize] = false;
            entry.closed[dir as usize] = false;
        }
    }

    /// An operation in `dir` drained it without seeing `WouldBlock` (a
    /// short read): wait for the next edge, unless the direction was
    /// reported closed (that edge has passed; the next read returns at once).
    pub(crate) fn clear_edge(&mut self, key: IoKey, dir: Direction) {
        if let Some(entry) = self
            .entries
            .get_mut(key.index)
            .filter(|e| e.generation == key.generation)
        {
            entry.ready[dir as usize] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_readable_event_wakes_the_reader_only_and_a_stale_key_is_rejected() {
        let (mut reactor, _waker) = Reactor::new().unwrap();
        let (mut a, mut b) = mio::net::UnixStream::pair().unwrap();
        let key = reactor
            .register(&mut a, Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        assert!(reactor.has_sources());
        let reader = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(reader.clone());
        let cx = Context::from_waker(&waker);
        // Drain the initial writable edge, then wait to read.
        let mut woken = Vec::new();
        reactor
            .turn(Some(Duration::from_millis(100)), &mut woken)
            .unwrap();
        assert!(reactor.poll_ready(key, Direction::Read, &cx).is_pending());
        b.write_all(b"x").unwrap();
        reactor
            .turn(Some(Duration::from_secs(5)), &mut woken)
            .unwrap();
        assert_eq!(woken.len(), 1, "only the reader waits");
        woken.drain(..).for_each(Waker::wake);
        assert_eq!(reader.0.load(Ordering::SeqCst), 1);
        assert!(reactor.poll_ready(key, Direction::Read, &cx).is_ready());
        reactor.clear_ready(key, Direction::Read);
        assert!(reactor.poll_ready(key, Direction::Read, &cx).is_pending());
        assert_eq!(reactor.deregister(&mut a, key).len(), 1);
        assert!(!reactor.has_sources());
        // The slot is reused with a new generation: the old key is stale.
        let key2 = reactor.register(&mut a, Interest::READABLE).unwrap();
        assert_ne!(key, key2);
        assert!(reactor.deregister(&mut a, key).is_empty());
        assert!(reactor.poll_ready(key2, Direction::Read, &cx).is_pending());
    }
}
