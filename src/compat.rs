//! The futures ecosystem's traits for taskloop's types (the default
//! `futures` feature): `Stream`/`FusedStream` for [`Interval`],
//! [`AsCompleted`], `mpsc::Receiver`, `net::Lines` and `signal::Signal`, `FusedFuture` for the futures a `futures::select!` may
//! hold, and `LocalSpawn` for [`Spawner`].
//!
//! It owns no behaviour: every impl forwards to the type's own method.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_core::stream::{FusedStream, Stream};
use futures_task::{LocalFutureObj, LocalSpawn, SpawnError};

use crate::sync::mpsc;
use crate::time::{Interval, Sleep};
use crate::wait::{NextError, TaskHandle};
use crate::{AsCompleted, Cancelled, Promise, Spawner, Task, Timeout, YieldNow};

impl Stream for Interval {
    /// Each tick's due instant; `Err(Cancelled)` when the task's
    /// cancellation is delivered at the tick (the stream goes on).
    type Item = Result<std::time::Instant, Cancelled>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

impl FusedStream for Interval {
    /// An interval never ends.
    fn is_terminated(&self) -> bool {
        false
    }
}

impl<W: TaskHandle> Stream for AsCompleted<W> {
    type Item = Result<W, NextError<W>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_task(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<W: TaskHandle> FusedStream for AsCompleted<W> {
    fn is_terminated(&self) -> bool {
        self.remaining() == 0
    }
}

impl<T> Stream for mpsc::Receiver<T> {
    /// Each value received; `Err(Cancelled)` when the task's cancellation
    /// is delivered at the receive (no value is taken; the stream goes on).
    /// The stream ends once the channel is closed and drained.
    type Item = Result<T, Cancelled>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl<T> FusedStream for mpsc::Receiver<T> {
    fn is_terminated(&self) -> bool {
        mpsc::Receiver::is_terminated(self)
    }
}

impl Stream for crate::signal::Signal {
    /// One item per delivery of the signal; `Err(Cancelled)` when the task's
    /// cancellation is delivered at the wait (the stream goes on).
    type Item = Result<(), Cancelled>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl FusedStream for crate::signal::Signal {
    /// A signal stream never ends.
    fn is_terminated(&self) -> bool {
        false
    }
}

impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.is_finished()
    }
}

impl FusedFuture for YieldNow {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<T> FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.is_taken()
    }
}

impl<T> FusedFuture for Promise<T> {
    fn is_terminated(&self) -> bool {
        self.has_returned()
    }
}

impl<F: std::future::Future> FusedFuture for Timeout<F> {
    fn is_terminated(&self) -> bool {
        self.is_finished()
    }
}

impl LocalSpawn for Spawner {
    fn spawn_local_obj(&self, future: LocalFutureObj<'static, ()>) -> Result<(), SpawnError> {
        self.spawn(future)
            .map(drop)
            .map_err(|_| SpawnError::shutdown())
    }

    fn status_local(&self) -> Result<(), SpawnError> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(SpawnError::shutdown())
        }
    }
}

impl<R: crate::net::AsyncRead + Unpin> Stream for crate::net::Lines<R> {
    /// Each line, without `\n` or `\r\n`; an error carrying `Cancelled`
    /// when the task's cancellation is delivered at the poll (nothing is
    /// lost; the stream goes on). The stream ends at the end of the input.
    type Item = std::io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
