//! Unix signals as awaitable events: asyncio's `loop.add_signal_handler`,
//! the async way.
//!
//! [`ctrl_c`] waits for the next SIGINT; [`signal`] returns a [`Signal`]
//! listener whose [`recv`](Signal::recv) waits for the next delivery of one
//! [`SignalKind`] (with the default `futures` feature it is also a
//! `futures::Stream`). The handlers are `signal-hook`'s, which only write to
//! a self-pipe; the loop reads that pipe through its reactor like any
//! socket, so the code after `recv().await` runs on the loop thread as
//! ordinary task code.
//!
//! # Rules
//!
//! * **One registration per runtime and signal**, made by the first
//!   listener and shared by all of that runtime's listeners of the signal;
//!   each listener gets every delivery (fan-out), several runtimes each get
//!   it too.
//! * **No replay.** A listener sees the deliveries that the loop reads after
//!   the listener was created. A signal that arrived before (while nobody
//!   listened, or before this listener existed) is never delivered to it.
//! * **Coalescing.** Like the kernel's pending signals, several deliveries
//!   of one signal that arrive before the loop reads them count as one.
//! * **Dropping the last listener** of a signal on a runtime closes that
//!   registration (signal-hook's action is unregistered). The OS-level
//!   handler that signal-hook installed stays in place (it cannot restore
//!   `SIG_DFL` safely while other threads may run), so the disposition is
//!   not literally `SIG_DFL` again; instead, once no runtime of the process
//!   listens to a signal whose default action is to terminate (SIGINT,
//!   SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2), that default action is
//!   emulated: the process is killed by the signal, as with `SIG_DFL`
//!   (signal-hook's `register_conditional_default`, armed only while nobody
//!   listens). SIGWINCH and SIGCHLD, ignored by default, are then ignored.
//!   A handler the program had installed *before* the first listener
//!   (another signal-hook action, or a plain `sigaction` handler, which
//!   signal-hook chains) keeps running; a signal the program had set to
//!   `SIG_IGN` before the first listener terminates the process afterwards,
//!   so do not listen to a signal you mean to keep ignored.
//!
//! # Examples
//! ```no_run
//! # taskloop::run(async {
//! use taskloop::signal::{SignalKind, signal};
//! let mut hangups = signal(SignalKind::hangup())?;
//! while hangups.recv().await.is_ok() {
//!     println!("reloading the configuration");
//! }
//! # Ok::<_, std::io::Error>(())
//! # });
//! ```

mod registry;

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::Cancelled;
use crate::cancel::CancelSlot;
use crate::task::WaitKind;
use registry::Entry;

/// A signal [`signal`] can listen to.
///
/// The constructors name the signals taskloop supports: SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH and SIGCHLD.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// SIGINT, sent by Ctrl-C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(signal_hook::consts::SIGINT)
    }

    /// SIGTERM, the polite request to stop (what `kill` and supervisors send).
    pub const fn terminate() -> SignalKind {
        SignalKind(signal_hook::consts::SIGTERM)
    }

    /// SIGHUP, the terminal hung up; daemons take it as "reload".
    pub const fn hangup() -> SignalKind {
        SignalKind(signal_hook::consts::SIGHUP)
    }

    /// SIGQUIT, Ctrl-\ in a terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(signal_hook::consts::SIGQUIT)
    }

    /// SIGUSR1, free for the program's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(signal_hook::consts::SIGUSR1)
    }

    /// SIGUSR2, free for the program's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(signal_hook::consts::SIGUSR2)
    }

    /// SIGWINCH, the terminal window was resized.
    pub const fn window_change() -> SignalKind {
        SignalKind(signal_hook::consts::SIGWINCH)
    }

    /// SIGCHLD, a child process stopped or exited.
    pub const fn child() -> SignalKind {
        SignalKind(signal_hook::consts::SIGCHLD)
    }

    /// The signal's number (`libc::SIGINT` and so on).
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The shell's exit status for a program ended by this signal:
    /// 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    pub const fn exit_status(self) -> u8 {
        (128 + self.0) as u8
    }

    /// Whether the signal's default action ends the process.
    const fn terminates_by_default(self) -> bool {
        !matches!(
            self.0,
            signal_hook::consts::SIGWINCH | signal_hook::consts::SIGCHLD
        )
    }

    /// The supported signal named `name`: `"SIGUSR1"` or `"usr1"`, any
    /// case (what `TASKLOOP_DUMP_SIGNAL` reads).
    pub(crate) fn from_name(name: &str) -> Option<SignalKind> {
        let name = name.trim();
        [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::quit(),
            SignalKind::user_defined1(),
            SignalKind::user_defined2(),
            SignalKind::window_change(),
            SignalKind::child(),
        ]
        .into_iter()
        .find(|k| {
            let full = k.name();
            full.eq_ignore_ascii_case(name) || full[3..].eq_ignore_ascii_case(name)
        })
    }

    /// The signal's name, `"SIGINT"`.
    pub fn name(self) -> &'static str {
        signal_hook::low_level::signal_name(self.0).unwrap_or("SIG?")
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Starts listening to `kind` on the runtime running on this thread.
///
/// The listener receives every delivery of `kind` that the loop reads from
/// now on (see the module's rules: no replay, coalescing); several
/// listeners of one signal each receive it. Dropping the last listener of a
/// signal closes the runtime's registration of it.
///
/// # Errors
/// Outside a running runtime, or if the OS refuses the self-pipe or the
/// handler.
///
/// # Examples
/// ```no_run
/// # taskloop::run(async {
/// use taskloop::signal::{SignalKind, signal};
/// let mut usr1 = signal(SignalKind::user_defined1())?;
/// usr1.recv().await?; // the next SIGUSR1
/// # Ok::<_, std::io::Error>(())
/// # });
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let entry = Entry::get(kind)?;
    let seen = entry.current();
    Ok(Signal {
        entry,
        seen,
        slot: CancelSlot::new(WaitKind::Os),
    })
}

/// Waits for the next SIGINT (Ctrl-C).
///
/// The listener is created when the returned future is first polled: a
/// Ctrl-C before that is not seen. Under [`run`](crate::run), the runtime
/// listens too, and the first Ctrl-C also cancels the main task.
///
/// # Cancellation
/// A checkpoint: a cancellation is delivered here as an `io::Error`
/// carrying [`Cancelled`] ([`is_cancelled`](crate::is_cancelled) finds it).
///
/// # Errors
/// As [`signal`], and the delivered cancellation.
///
/// # Examples
/// ```no_run
/// # taskloop::run(async {
/// taskloop::signal::ctrl_c().await?;
/// println!("interrupted");
/// # Ok::<_, std::io::Error>(())
/// # });
/// ```
#[track_caller]
pub fn ctrl_c() -> impl std::future::Future<Output = io::Result<()>> {
    crate::task::current_task::at_caller(async move {
        let mut sig = signal(SignalKind::interrupt())?;
        sig.recv().await.map_err(io::Error::from)
    })
}

/// A listener of one signal, made by [`signal`].
///
/// `!Send`: it belongs to the loop thread of its runtime. It is a
/// `futures::Stream` of `Result<(), Cancelled>` with the default `futures`
/// feature (it never ends).
pub struct Signal {
    /// The runtime's registration of the signal, shared by its listeners.
    entry: Rc<Entry>,
    /// The entry's delivery count this listener has reported.
    seen: u64,
    /// The checkpoint of the current wait.
    slot: CancelSlot,
}

impl Signal {
    /// The signal listened to.
    pub fn kind(&self) -> SignalKind {
        self.entry.kind()
    }

    /// Waits for the next delivery of the signal.
    ///
    /// # Cancellation
    /// A checkpoint: `Err(Cancelled)` if the task's cancellation is
    /// delivered here. No delivery is lost: one that arrived meanwhile is
    /// returned by the next `recv`.
    ///
    /// # Errors
    /// [`Cancelled`], the delivered cancellation.
    #[track_caller]
    pub fn recv(&mut self) -> impl std::future::Future<Output = Result<(), Cancelled>> {
        crate::task::current_task::at_caller(async move { poll_fn(|cx| self.poll_recv(cx)).await })
    }

    /// Polls for the next delivery: [`recv`](Self::recv) without the future.
    ///
    /// # Cancellation
    /// As for [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        let entry = &self.entry;
        let seen = &mut self.seen;
        self.slot.poll_checkpoint(cx, |cx| {
            entry.poll_delivery(*seen, cx).map(|n| {
                *seen = n;
            })
        })
    }

    /// Polls for the next delivery without being a checkpoint (for the
    /// runtime's own listener, which must not take the main task's
    /// cancellation).
    pub(crate) fn poll_delivered(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.entry.poll_delivery(self.seen, cx).map(|n| {
            self.seen = n;
        })
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_share_one_registration_and_the_last_one_closes_it() {
        let rt = crate::Runtime::new().unwrap();
        rt.block_on(async {
            let kind = SignalKind::user_defined2();
            let mut a = signal(kind).unwrap();
            let mut b = signal(kind).unwrap();
            assert!(Rc::ptr_eq(&a.entry, &b.entry));
            assert!(registry::listening(kind));
            signal_hook::low_level::raise(kind.as_raw()).unwrap();
            a.recv().await.unwrap();
            b.recv().await.unwrap();
            // Created after the delivery: not replayed.
            let c = signal(kind).unwrap();
            let waiter = crate::spawn(async move {
                let mut c = c;
                c.recv().await
            });
            crate::yield_now().await.unwrap();
            assert!(!waiter.is_done());
            waiter.cancel();
            assert!(waiter.await.unwrap_err().is_cancelled());
            drop((a, b));
            assert!(!registry::listening(kind));
        });
    }

    #[test]
    fn a_listener_outside_a_runtime_is_an_error() {
        let err = signal(SignalKind::user_defined2()).unwrap_err();
        assert!(
            err.to_string().contains("outside a taskloop runtime"),
            "{err}"
        );
    }

    #[test]
    fn kinds_are_found_by_name_with_or_without_the_sig_prefix() {
        assert_eq!(
            SignalKind::from_name("SIGUSR1"),
            Some(SignalKind::user_defined1())
        );
        assert_eq!(
            SignalKind::from_name(" usr1 "),
            Some(SignalKind::user_defined1())
        );
        assert_eq!(SignalKind::from_name("sigQuit"), Some(SignalKind::quit()));
        assert_eq!(SignalKind::from_name("SIGKILL"), None);
        assert_eq!(SignalKind::from_name("1"), None);
        assert_eq!(SignalKind::from_name(""), None);
    }

    #[test]
    fn kinds_have_names_and_exit_statuses() {
        assert_eq!(SignalKind::interrupt().name(), "SIGINT");
        assert_eq!(SignalKind::interrupt().exit_status(), 130);
        assert_eq!(SignalKind::terminate().exit_status(), 143);
        assert_eq!(format!("{:?}", SignalKind::child()), "SIGCHLD");
    }
}
