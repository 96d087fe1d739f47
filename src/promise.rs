//! [`Promise`]: asyncio's settable one-shot `Future`, under a name that does
//! not clash with [`std::future::Future`].
//!
//! It owns one value slot and the waker of its single awaiter. It never
//! schedules anything itself: setting it wakes the awaiter, whose task runs
//! at a later turn.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::cancel::{CancelSlot, Cancelled};
use crate::task::WaitKind;
use crate::task::WakerSlot;

/// A one-shot value that some code sets and one task awaits: asyncio's
/// `Future` (`set_result`, `cancel`, `done`, `await`).
///
/// The [`Promise`] is awaited by the task that holds it; [`Resolver`]s
/// (clonable) set or cancel it from elsewhere on the loop thread.
///
/// # Cancellation
/// Awaiting is a checkpoint. As in asyncio, if the awaiting task's
/// cancellation is delivered while it waits, the promise itself is cancelled
/// too. A value set before the await is polled is returned even if a
/// cancellation is pending (it is then delivered at the next checkpoint):
/// a value is never lost.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// let promise = taskloop::Promise::new();
/// let resolver = promise.resolver();
/// taskloop::spawn(async move { resolver.set_result("hello").unwrap() });
/// assert_eq!(promise.await, Ok("hello"));
/// # });
/// ```
#[must_use = "a promise does nothing unless awaited or resolved"]
pub struct Promise<T> {
    /// The setting side, which the promise derefs to (`set_result`,
    /// `cancel`, `is_done`, `is_cancelled`).
    resolver: Resolver<T>,
    /// Wakes the awaiter when its task is cancelled.
    slot: CancelSlot,
    /// The await returned (a value or `Cancelled`).
    returned: bool,
}

/// The setting side of a [`Promise`]: clonable, usable from any task of the
/// loop thread.
pub struct Resolver<T> {
    /// The shared slot.
    inner: Rc<Inner<T>>,
}

/// The state shared by a promise and its resolvers.
struct Inner<T> {
    /// Where the value is.
    state: RefCell<Slot<T>>,
    /// The awaiter's waker.
    waker: RefCell<WakerSlot>,
}

/// The life of the value.
enum Slot<T> {
    Pending,
    Ready(T),
    Cancelled,
    Taken,
}

impl<T> Inner<T> {
    fn set_result(&self, value: T) -> Result<(), T> {
        let mut state = self.state.borrow_mut();
        if !matches!(*state, Slot::Pending) {
            return Err(value);
        }
        *state = Slot::Ready(value);
        drop(state);
        self.wake();
        Ok(())
    }

    fn cancel(&self) -> bool {
        let mut state = self.state.borrow_mut();
        if !matches!(*state, Slot::Pending) {
            return false;
        }
        *state = Slot::Cancelled;
        drop(state);
        self.wake();
        true
    }

    fn wake(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_done(&self) -> bool {
        !matches!(*self.state.borrow(), Slot::Pending)
    }

    fn is_cancelled(&self) -> bool {
        matches!(*self.state.borrow(), Slot::Cancelled)
    }
}

impl<T> Promise<T> {
    /// A pending promise.
    pub fn new() -> Promise<T> {
        Promise {
            resolver: Resolver {
                inner: Rc::new(Inner {
                    state: RefCell::new(Slot::Pending),
                    waker: RefCell::new(WakerSlot::new()),
                }),
            },
            slot: CancelSlot::new(WaitKind::Sync),
            returned: false,
        }
    }

    /// A handle that can set or cancel this promise.
    pub fn resolver(&self) -> Resolver<T> {
        self.resolver.clone()
    }
}

impl<T> std::ops::Deref for Promise<T> {
    type Target = Resolver<T>;

    fn deref(&self) -> &Resolver<T> {
        &self.resolver
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Promise<T> {
        Promise::new()
    }
}

impl<T> Resolver<T> {
    /// Sets the value and wakes the awaiter (asyncio's `set_result`).
    ///
    /// # Errors
    /// Gives the value back if the promise is already done (set or
    /// cancelled): asyncio's `InvalidStateError`, without losing the value.
    pub fn set_result(&self, value: T) -> Result<(), T> {
        self.inner.set_result(value)
    }

    /// Cancels the promise; the awaiter gets `Err(Cancelled)`. Returns false
    /// if it is already done.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Whether it is set or cancelled (asyncio's `done()`).
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

impl<T> Clone for Resolver<T> {
    fn clone(&self) -> Resolver<T> {
        Resolver {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Promise<T> {
    /// Whether the await returned already (for `FusedFuture`).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // For `compat`.
    pub(crate) fn has_returned(&self) -> bool {
        self.returned
    }
}

impl<T> Future for Promise<T> {
    type Output = Result<T, Cancelled>;

    /// # Panics
    /// If polled again after it returned.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.resolver.inner.state.borrow_mut();
        match std::mem::replace(&mut *state, Slot::Taken) {
            Slot::Ready(v) => {
                drop(state);
                this.slot.disarm();
                this.returned = true;
                return Poll::Ready(Ok(v));
            }
            Slot::Cancelled => {
                *state = Slot::Cancelled;
                drop(state);
                this.slot.disarm();
                this.returned = true;
                return Poll::Ready(Err(Cancelled));
            }
            Slot::Taken => panic!("`Promise` polled after it returned its value"),
            Slot::Pending => *state = Slot::Pending,
        }
        drop(state);
        if let Err(c) = this.slot.deliver() {
            // asyncio: cancelling a task cancels the future it awaits.
            this.resolver.inner.cancel();
            this.returned = true;
            return Poll::Ready(Err(c));
        }
        let old = this.resolver.inner.waker.borrow_mut().register(cx.waker());
        drop(old);
        this.slot.arm(cx);
        Poll::Pending
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("done", &self.is_done())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl<T> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("done", &self.is_done())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
