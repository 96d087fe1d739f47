//! The fallback's orphans: children watched through SIGCHLD (no pidfd)
//! whose [`Child`](super::Child) was dropped before they were reaped. One
//! detached task per runtime, the sweeper, reaps them at later SIGCHLDs.
//!
//! It owns only those children; it never reaps anything else (no
//! `waitpid(-1)`: each orphan is tried on its own pid) and never blocks
//! the loop.
//!
//! # Ground rules
//!
//! * One list per runtime, owned by its sweeper (`Rc`) and found through a
//!   thread-local table keyed by the reactor's address (`Weak`). The first
//!   orphan spawns the sweeper; later ones are pushed onto its list. When
//!   the list is empty the sweeper leaves the table and ends; the next
//!   orphan spawns a new one.
//! * The sweeper's SIGCHLD listener is the first orphan's own, created
//!   before that child's last `try_wait` (in `Child`'s drop). A later
//!   orphan's last `try_wait` also comes after the sweeper's listener was
//!   created, and the push follows it with no read of the self-pipe in
//!   between. So an orphan's exit is either found by that `try_wait` or
//!   raises a delivery the sweeper has not seen yet; the sweeper tries
//!   every orphan first when it starts and again after each delivery.
//! * The sweeper keeps its listener's [`Hold`](crate::reactor::Hold): a
//!   runtime with orphans counts as waiting on the reactor, as a pidfd
//!   child's detached reaper task does.
//! * Never a zombie: a sweeper dropped with orphans left (its runtime was
//!   dropped first, or there was no runtime to spawn it on) hands them to
//!   one thread that blocks in `wait` for each, as the pidfd path does.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, ready};

use super::exit::Sigchld;

/// The orphans of one runtime.
#[derive(Debug, Default)]
struct Orphans(RefCell<Vec<std::process::Child>>);

thread_local! {
    /// The orphan list of each runtime of this thread that has a sweeper
    /// running, by reactor address.
    static LISTS: RefCell<Vec<(usize, Weak<Orphans>)>> = const { RefCell::new(Vec::new()) };
}

/// The running runtime's reactor address, the key of its list.
fn runtime_key() -> Option<usize> {
    crate::runtime::context::reactor().map(|r| Rc::as_ptr(&r) as usize)
}

/// Takes over a fallback child that is still running and whose `Child` is
/// being dropped: it is reaped at a later SIGCHLD. `watch` is the child's
/// SIGCHLD listener, created before the caller's last `try_wait`.
pub(super) fn adopt(child: std::process::Child, watch: Sigchld) {
    let key = runtime_key();
    let running = key.and_then(|key| {
        LISTS.with(|l| {
            l.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, w)| w.upgrade())
        })
    });
    if let Some(list) = running {
        // The sweeper's listener predates the caller's `try_wait`.
        list.0.borrow_mut().push(child);
        return;
    }
    let list = Rc::new(Orphans(RefCell::new(vec![child])));
    if let Some(key) = key {
        LISTS.with(|l| {
            let mut l = l.borrow_mut();
            l.retain(|(_, w)| w.strong_count() > 0);
            l.push((key, Rc::downgrade(&list)));
        });
    }
    let sweeper = Sweeper { list, watch };
    if let Err(e) = crate::try_spawn(sweeper) {
        // The sweeper is dropped: a thread reaps the child.
        log::debug!("taskloop: a child dropped outside a runtime: {e}");
    }
}

/// The detached task that reaps a runtime's orphans.
#[derive(Debug)]
struct Sweeper {
    /// The orphans; shared with the table while the sweeper runs.
    list: Rc<Orphans>,
    /// The SIGCHLD listener (and its hold) of the first orphan.
    watch: Sigchld,
}

impl Sweeper {
    /// Reaps the orphans that have exited (or that another waiter reaped:
    /// `ECHILD`); whether any is left.
    fn sweep(&self) -> bool {
        let mut list = self.list.0.borrow_mut();
        list.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        !list.is_empty()
    }

    /// Removes the list from the table, so the next orphan starts anew.
    fn leave(&self) {
        let _ = LISTS.try_with(|l| {
            l.borrow_mut()
                .retain(|(_, w)| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), &*self.list));
        });
    }
}

impl Future for Sweeper {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        while this.sweep() {
            ready!(this.watch.signal.poll_delivered(cx));
        }
        this.leave();
        Poll::Ready(())
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.leave();
        let mut left = std::mem::take(&mut *self.list.0.borrow_mut());
        if left.is_empty() {
            return;
        }
        // No loop to watch them any more: a thread waits for each.
        let spawned = std::thread::Builder::new()
            .name("taskloop-reap".into())
            .spawn(move || left.iter_mut().for_each(|c| drop(c.wait())));
        if let Err(e) = spawned {
            log::warn!("taskloop: cannot start a thread to reap children: {e}");
        }
    }
}
