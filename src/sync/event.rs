//! [`Event`]: asyncio's `Event`, a flag tasks can wait for.
//!
//! It owns the flag and the list of its waiters. Setting it grants every
//! waiter queued at that moment, so a `clear()` right after cannot strand
//! any of them (asyncio's guarantee); it never wakes a waiter that arrived
//! after the `clear()`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Grantor, Waiter, Waiters, WakeList};
use crate::cancel::Cancelled;

/// A flag that tasks wait for: asyncio's `Event`.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// use taskloop::sync::Event;
/// # taskloop::run(async {
/// let ready = Rc::new(Event::new());
/// let waiter = taskloop::spawn({
///     let ready = ready.clone();
///     async move { ready.wait().await }
/// });
/// taskloop::yield_now().await?;
/// ready.set();
/// waiter.await.unwrap()?;
/// # Ok::<_, taskloop::Cancelled>(()) }).unwrap();
/// ```
pub struct Event {
    /// The flag and the waiters.
    state: RefCell<State>,
}

/// An event's state.
struct State {
    /// Whether the event is set.
    set: bool,
    /// Tasks waiting for it to be set.
    waiters: Waiters<(), ()>,
}

impl Grantor for State {
    type Request = ();
    type Grant = ();

    fn waiters(&mut self) -> &mut Waiters<(), ()> {
        &mut self.waiters
    }

    fn try_now(&mut self, (): ()) -> Result<(), ()> {
        if self.set { Ok(()) } else { Err(()) }
    }

    // Every waiter is granted by `set`: a grant given back needs no one.
    fn give_back(&mut self, (): (), _wakes: &mut WakeList) {}
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Event {
        Event {
            state: RefCell::new(State {
                set: false,
                waiters: Waiters::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiting task (asyncio's `set()`).
    pub fn set(&self) {
        let mut wakes = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            if state.set {
                return;
            }
            state.set = true;
            while state.waiters.grant_front(&mut wakes, |()| ()) {}
        }
        wakes.wake_all();
    }

    /// Clears the flag; tasks waiting from now on wait for the next `set`.
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Waits until the flag is set (at once if it is).
    ///
    /// # Cancellation
    /// A checkpoint: a pending cancellation is delivered here as
    /// `Err(Cancelled)`, even if the event is set; nothing is lost.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            inner: Waiter::new(&self.state, ()),
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Event")
            .field("set", &state.set)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    /// The place in the event's waiters.
    inner: Waiter<'a, State>,
}

impl Future for EventWait<'_> {
    type Output = Result<(), Cancelled>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
