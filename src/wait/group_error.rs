//! What a task group reports: [`GroupError`], asyncio's `ExceptionGroup`
//! carrying the error values, with 3.11's `split` and `subgroup`; and
//! [`GroupClosed`], the refusal of a spawn.
//!
//! Every type here is `Send + Sync + 'static`, so a group error goes into
//! `Box<dyn Error + Send + Sync>`, an `anyhow::Error` or an `io::Error`.

use std::error::Error;
use std::fmt;

use crate::cancel::Cancelled;
use crate::task::{TaskError, TaskId, TaskRef};

/// An error value a [`Failure`] carries.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// [`TaskGroup::spawn`](crate::TaskGroup::spawn) refused a child: asyncio's `RuntimeError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupClosed {
    /// The group is aborting after a failure or `cancel()`.
    Aborting,
    /// The group has finished.
    Finished,
}

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupClosed::Aborting => "the task group is shutting down",
            GroupClosed::Finished => "the task group is finished",
        })
    }
}

impl Error for GroupClosed {}

impl From<GroupClosed> for std::io::Error {
    /// An `Other` error carrying the `GroupClosed`, so a group body can use
    /// `?` on `spawn` and on sleeps and sockets with one error type.
    fn from(e: GroupClosed) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// How a [`task_group`](crate::task_group) failed: asyncio's `ExceptionGroup`
/// (the failures, each with its error value), or a cancellation from
/// outside.
///
/// # Examples
/// Take the typed errors out, as `except*` would:
/// ```
/// use std::io;
/// use taskloop::{GroupError, task_group};
/// # taskloop::run(async {
/// let err = task_group(|tg| async move {
///     tg.spawn(async { Err::<(), _>(io::Error::other("disk full")) })?;
///     let _ = taskloop::yield_now().await; // the child fails meanwhile
///     Err::<(), taskloop::BoxError>("bad input".into()) // so does the body
/// })
/// .await
/// .unwrap_err();
/// let (io_errors, rest) = err.split_by_type::<io::Error>();
/// let io_errors = io_errors.unwrap();
/// assert_eq!(io_errors.failures()[0].downcast_ref::<io::Error>().unwrap().to_string(), "disk full");
/// assert_eq!(rest.unwrap().failures()[0].message, "bad input");
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GroupError {
    /// Children and/or the body failed; in the order observed, body last.
    Failed(Vec<Failure>),
    /// The parent task was cancelled from outside (or the group was
    /// cancelled with [`TaskGroup::cancel`](crate::TaskGroup::cancel)) and nothing failed.
    Cancelled,
}

impl GroupError {
    /// The failures (empty for `Cancelled`).
    pub fn failures(&self) -> &[Failure] {
        match self {
            GroupError::Failed(f) => f,
            GroupError::Cancelled => &[],
        }
    }

    /// The failures, by value (empty for `Cancelled`).
    pub fn into_failures(self) -> Vec<Failure> {
        match self {
            GroupError::Failed(f) => f,
            GroupError::Cancelled => Vec::new(),
        }
    }

    /// Whether this is a cancellation rather than failures.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GroupError::Cancelled)
    }

    /// Every failure that is not itself a nested group's, depth first
    /// (the leaves of the tree `split` works on).
    pub fn leaves(&self) -> Vec<&Failure> {
        fn walk<'a>(g: &'a GroupError, out: &mut Vec<&'a Failure>) {
            for f in g.failures() {
                match f.error.downcast_ref::<GroupError>() {
                    Some(nested @ GroupError::Failed(_)) => walk(nested, out),
                    _ => out.push(f),
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// asyncio's `eg.split(condition)`: the failures for which `matches`
    /// holds, and the others, each as a group error of the same shape
    /// (`None` when empty). A failure that carries a nested group error is
    /// tested first; if `matches` does not hold for it, its nested group is
    /// split in turn. `Cancelled` goes to the second part.
    pub fn split(
        self,
        mut matches: impl FnMut(&Failure) -> bool,
    ) -> (Option<GroupError>, Option<GroupError>) {
        self.split_with(&mut matches)
    }

    /// asyncio's `eg.split(T)`: [`split`](Self::split) by the type of the
    /// error values ([`Failure::downcast_ref`]).
    pub fn split_by_type<E: Error + 'static>(self) -> (Option<GroupError>, Option<GroupError>) {
        self.split(|f| f.downcast_ref::<E>().is_some())
    }

    /// asyncio's `eg.subgroup(condition)`: the first part of
    /// [`split`](Self::split).
    pub fn subgroup(self, matches: impl FnMut(&Failure) -> bool) -> Option<GroupError> {
        self.split(matches).0
    }

    /// The split, with the predicate borrowed for the recursion.
    fn split_with(
        self,
        matches: &mut dyn FnMut(&Failure) -> bool,
    ) -> (Option<GroupError>, Option<GroupError>) {
        let failures = match self {
            GroupError::Cancelled => return (None, Some(GroupError::Cancelled)),
            GroupError::Failed(f) => f,
        };
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        for failure in failures {
            let matched = matches(&failure);
            if matched || !failure.error.is::<GroupError>() {
                if matched {
                    yes.push(failure);
                } else {
                    no.push(failure);
                }
                continue;
            }
            let Failure {
                task,
                kind,
                message: _,
                error,
            } = failure;
            let nested = *error
                .downcast::<GroupError>()
                .unwrap_or_else(|_| unreachable!("checked with `is` above"));
            let (y, n) = nested.split_with(matches);
            let rebuild = |g: GroupError| Failure {
                task: task.clone(),
                kind,
                message: g.to_string(),
                error: Box::new(g),
            };
            yes.extend(y.map(rebuild));
            no.extend(n.map(rebuild));
        }
        let part = |v: Vec<Failure>| (!v.is_empty()).then_some(GroupError::Failed(v));
        (part(yes), part(no))
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Cancelled => f.write_str("the task group was cancelled"),
            GroupError::Failed(failures) => {
                let n = failures.len();
                let s = if n == 1 { "" } else { "s" };
                write!(f, "unhandled errors in a task group ({n} sub-error{s})")?;
                for failure in failures {
                    write!(f, "; {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl Error for GroupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            GroupError::Cancelled => Some(&Cancelled),
            GroupError::Failed(_) => None,
        }
    }
}

impl From<GroupError> for std::io::Error {
    /// A cancelled group becomes the same I/O error as [`Cancelled`] does
    /// (so [`is_cancelled`](crate::is_cancelled) recognises it), failures an
    /// `Other` error carrying the `GroupError`.
    fn from(e: GroupError) -> std::io::Error {
        if e.is_cancelled() {
            Cancelled.into()
        } else {
            std::io::Error::other(e)
        }
    }
}

/// The child task a [`Failure`] came from: its id and name when it failed
/// (plain data, so that [`GroupError`] is `Send + Sync`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FailedTask {
    /// The task's id.
    pub id: TaskId,
    /// The task's name when it failed.
    pub name: String,
}

impl FailedTask {
    /// Whether this is `task`.
    pub fn is(&self, task: &TaskRef) -> bool {
        self.id == task.id()
    }
}

impl From<&TaskRef> for FailedTask {
    fn from(task: &TaskRef) -> FailedTask {
        FailedTask {
            id: task.id(),
            name: task.name(),
        }
    }
}

/// One failure in a [`GroupError`]: who failed, how, and the error value.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The child that failed; `None` for the body.
    pub task: Option<FailedTask>,
    /// Error or panic.
    pub kind: FailureKind,
    /// The error's `Display` text or the panic message.
    pub message: String,
    /// The value: the error the code returned, converted into a box (its
    /// type is recovered with [`downcast_ref`](Self::downcast_ref)); for a
    /// panic, a [`TaskError`] with the message.
    error: BoxError,
}

impl Failure {
    /// A failure of `task` (`None`: the body) with an error value.
    pub(super) fn error(task: Option<FailedTask>, error: BoxError) -> Failure {
        Failure {
            task,
            kind: FailureKind::Error,
            message: error.to_string(),
            error,
        }
    }

    /// A panic of `task` with `message`.
    pub(super) fn panic(task: Option<FailedTask>, message: String) -> Failure {
        Failure {
            task,
            kind: FailureKind::Panic,
            error: Box::new(TaskError::panicked(Box::new(message.clone()))),
            message,
        }
    }

    /// The error value.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The error value, by value.
    pub fn into_error(self) -> BoxError {
        self.error
    }

    /// The error value as an `E`, if it is one, or if it is an `io::Error`
    /// wrapping one (what `?` makes of a typed error in an `io::Result`).
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        let e: &(dyn Error + 'static) = &*self.error;
        e.downcast_ref::<E>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<E>())
        })
    }

    /// The error value as an `E`, by value, or the failure back.
    ///
    /// # Errors
    /// The failure itself when its value is not an `E`.
    pub fn downcast<E: Error + 'static>(self) -> Result<E, Failure> {
        match self.error.downcast::<E>() {
            Ok(e) => Ok(*e),
            Err(error) => Err(Failure { error, ..self }),
        }
    }

    /// The group error this failure carries, if the failing code ran a
    /// group itself (nested groups nest their errors): the value itself or
    /// one inside an `io::Error` or in the error's source chain.
    pub fn nested(&self) -> Option<&GroupError> {
        let mut next: Option<&(dyn Error + 'static)> = Some(&*self.error);
        while let Some(e) = next {
            if let Some(g) = e.downcast_ref::<GroupError>() {
                return Some(g);
            }
            if let Some(g) = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<GroupError>())
            {
                return Some(g);
            }
            next = e.source();
        }
        None
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.task {
            Some(t) => t.name.as_str(),
            None => "the body",
        };
        match self.kind {
            FailureKind::Error => write!(f, "{who} failed: {}", self.message),
            FailureKind::Panic => write!(f, "{who} panicked: {}", self.message),
        }
    }
}

/// What kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The code returned `Err`.
    Error,
    /// The task panicked.
    Panic,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(msg: &str) -> Failure {
        Failure::error(None, msg.into())
    }

    fn io(msg: &str) -> Failure {
        Failure::error(None, Box::new(std::io::Error::other(msg.to_owned())))
    }

    #[test]
    fn error_types_are_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<GroupError>();
        check::<Failure>();
        check::<GroupClosed>();
    }

    #[test]
    fn split_keeps_the_nesting_shape() {
        let inner = GroupError::Failed(vec![io("a"), leaf("b")]);
        let outer = GroupError::Failed(vec![
            leaf("c"),
            Failure::error(None, Box::new(inner)),
            io("d"),
        ]);
        assert_eq!(outer.leaves().len(), 4);
        let (ios, rest) = outer.split_by_type::<std::io::Error>();
        let ios = ios.unwrap();
        let msgs: Vec<_> = ios.leaves().iter().map(|f| f.message.clone()).collect();
        assert_eq!(msgs, ["a", "d"]);
        // The nested part stays nested.
        assert!(ios.failures()[0].nested().is_some());
        let rest = rest.unwrap();
        let msgs: Vec<_> = rest.leaves().iter().map(|f| f.message.clone()).collect();
        assert_eq!(msgs, ["c", "b"]);
    }

    #[test]
    fn a_predicate_that_matches_a_nested_group_takes_it_whole() {
        let inner = GroupError::Failed(vec![leaf("a"), leaf("b")]);
        let outer = GroupError::Failed(vec![Failure::error(None, Box::new(inner)), leaf("c")]);
        let sub = outer.subgroup(|f| f.nested().is_some()).unwrap();
        assert_eq!(sub.failures().len(), 1);
        assert_eq!(sub.leaves().len(), 2);
    }

    #[test]
    fn split_of_cancelled_and_of_no_match() {
        let (y, n) = GroupError::Cancelled.split(|_| true);
        assert!(y.is_none() && n.unwrap().is_cancelled());
        let (y, n) = GroupError::Failed(vec![leaf("x")]).split(|_| false);
        assert!(y.is_none());
        assert_eq!(n.unwrap().failures().len(), 1);
    }

    #[test]
    fn downcast_gives_the_value_or_the_failure_back() {
        let f = io("x");
        let f = f.downcast::<GroupClosed>().unwrap_err();
        assert_eq!(f.downcast::<std::io::Error>().unwrap().to_string(), "x");
        let wrapped = Failure::error(None, Box::new(std::io::Error::from(GroupClosed::Aborting)));
        assert_eq!(
            wrapped.downcast_ref::<GroupClosed>(),
            Some(&GroupClosed::Aborting)
        );
    }
}
