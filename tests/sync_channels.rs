//! `sync::oneshot` and `sync::mpsc`: the channels Rust users expect, on the
//! queue core. Closing from either side, the error values (each giving the
//! value back), FIFO service of senders waiting for room, cancellation
//! before and after a value is handed to a receive, and the receiver as a
//! `futures` `Stream`.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use futures::StreamExt;
use futures::stream::FusedStream;
use taskloop::sync::{mpsc, oneshot};
use taskloop::time::sleep;
use taskloop::{Cancelled, spawn, wait_for, yield_now};
use util::{ms, run, since, yield_n};

// ---------------------------------------------------------------------------
// oneshot

#[test]
fn oneshot_receiver_gets_the_value_sent_later() {
    run(async {
        let (tx, rx) = oneshot::channel();
        let t0 = taskloop::time::now();
        spawn(async move {
            sleep(ms(20)).await.unwrap();
            tx.send("hi").unwrap();
        });
        assert_eq!(rx.await.unwrap(), Ok("hi"));
        assert_eq!(since(t0), ms(20));
    });
}

#[test]
fn oneshot_receiver_fails_when_the_sender_is_dropped_unsent() {
    run(async {
        // While the receiver waits.
        let (tx, rx) = oneshot::channel::<u8>();
        let waiting = spawn(rx);
        yield_now().await.unwrap();
        assert!(!waiting.is_done());
        drop(tx);
        assert_eq!(waiting.await.unwrap(), Ok(Err(oneshot::RecvError)));
        // Before it waits.
        let (tx, mut rx) = oneshot::channel::<u8>();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
        assert_eq!(rx.await.unwrap(), Err(oneshot::RecvError));
    });
}

#[test]
fn oneshot_send_fails_with_the_value_once_the_receiver_is_gone_or_closed() {
    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(5), Err(5));

    let (tx, mut rx) = oneshot::channel();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.send(6), Err(6));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
}

#[test]
fn oneshot_try_recv_is_empty_then_the_value_then_closed() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
}

/// The receiver is a checkpoint: a pending cancellation wins over a value
/// that is there, and the value stays for later.
#[test]
fn oneshot_receiver_is_a_checkpoint_that_keeps_the_value() {
    run(async {
        let (tx, rx) = oneshot::channel();
        tx.send(3).unwrap();
        let rx = Rc::new(RefCell::new(Some(rx)));
        let t = spawn({
            let rx = rx.clone();
            async move {
                taskloop::current_task().unwrap().cancel();
                let mut r = rx.borrow_mut().take().unwrap();
                let out = (&mut r).await;
                *rx.borrow_mut() = Some(r);
                out
            }
        });
        assert!(t.await.unwrap_err().is_cancelled());
        let mut rx = rx.borrow_mut().take().unwrap();
        assert_eq!(rx.try_recv(), Ok(3));
    });
}

/// A oneshot receive timing out under `wait_for` leaves nothing behind: the
/// value sent afterwards is still received.
#[test]
fn oneshot_receive_timing_out_loses_nothing() {
    run(async {
        let (tx, mut rx) = oneshot::channel();
        assert!(wait_for(&mut rx, ms(10)).await.unwrap_err().is_elapsed());
        tx.send(4).unwrap();
        assert_eq!(rx.await.unwrap(), Ok(4));
    });
}

// ---------------------------------------------------------------------------
// mpsc: closing

#[test]
fn recv_is_none_once_every_sender_is_dropped_and_the_channel_drained() {
    run(async {
        let (tx, mut rx) = mpsc::channel(4);
        let tx2 = tx.clone();
        tx.send(1).await.unwrap().unwrap();
        tx2.send(2).await.unwrap().unwrap();
        drop(tx);
        assert!(!rx.is_closed());
        tx2.try_send(3).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.recv().await.unwrap(), Some(1));
        assert_eq!(rx.recv().await.unwrap(), Some(2));
        assert_eq!(rx.recv().await.unwrap(), Some(3));
        assert_eq!(rx.recv().await.unwrap(), None);
        assert_eq!(rx.recv().await.unwrap(), None);
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    });
}

#[test]
fn waiting_receiver_gets_none_when_the_last_sender_is_dropped() {
    run(async {
        let (tx, mut rx) = mpsc::unbounded::<u8>();
        let t = spawn(async move { rx.recv().await });
        yield_now().await.unwrap();
        assert!(!t.is_done());
        drop(tx);
        assert_eq!(t.await.unwrap(), Ok(None));
    });
}

#[test]
fn dropping_the_receiver_fails_sends_with_the_value_and_drops_the_buffer() {
    run(async {
        let (tx, rx) = mpsc::channel(1);
        let flag = util::DropFlag::new();
        tx.try_send(Some(flag.guard())).unwrap();
        let tx = Rc::new(tx);
        let waiting = spawn({
            let tx = tx.clone();
            async move { tx.send(None).await }
        });
        yield_now().await.unwrap();
        assert!(!waiting.is_done());
        drop(rx);
        assert!(flag.is_dropped());
        assert!(tx.is_closed());
        assert_eq!(tx.len(), 0);
        let back = waiting.await.unwrap().unwrap().unwrap_err();
        assert!(back.into_inner().is_none());
        assert!(matches!(
            tx.try_send(None),
            Err(mpsc::TrySendError::Closed(None))
        ));
        assert!(matches!(
            tx.send(None).await,
            Ok(Err(mpsc::SendError(None)))
        ));
    });
}

#[test]
fn close_fails_sends_and_lets_the_receiver_drain_then_none() {
    run(async {
        let (tx, mut rx) = mpsc::unbounded();
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        rx.close();
        assert!(rx.is_closed());
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(3), Err(mpsc::TrySendError::Closed(3)));
        assert_eq!(tx.send(4).await.unwrap(), Err(mpsc::SendError(4)));
        assert_eq!(rx.recv().await.unwrap(), Some(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv().await.unwrap(), None);
    });
}

// ---------------------------------------------------------------------------
// mpsc: try_ errors, capacity, ordering

#[test]
fn try_send_and_try_recv_errors() {
    let (tx, mut rx) = mpsc::channel(1);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(tx.try_send('a'), Ok(()));
    let full = tx.try_send('b').unwrap_err();
    assert_eq!(full, mpsc::TrySendError::Full('b'));
    assert_eq!(full.into_inner(), 'b');
    assert_eq!(full.to_string(), "the channel is full");
    assert_eq!(tx.capacity(), Some(1));
    assert_eq!(rx.try_recv(), Ok('a'));
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    drop(tx);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[test]
#[should_panic(expected = "a bound of 0 leaves no room")]
fn a_channel_of_capacity_zero_panics() {
    let _ = mpsc::channel::<u8>(0);
}

/// Ping-pong through two channels of capacity 1: the exact interleaving.
#[test]
fn capacity_one_ping_pong_keeps_strict_alternation() {
    run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (ping_tx, mut ping_rx) = mpsc::channel(1);
        let (pong_tx, mut pong_rx) = mpsc::channel(1);
        let ponger = spawn({
            let log = log.clone();
            async move {
                while let Some(n) = ping_rx.recv().await? {
                    log.borrow_mut().push(format!("ping {n}"));
                    pong_tx.send(n * 10).await?.unwrap();
                }
                log.borrow_mut().push("ponger done".to_string());
                Ok::<_, Cancelled>(())
            }
        });
        for n in 1..=3 {
            ping_tx.send(n).await.unwrap().unwrap();
            let m = pong_rx.recv().await.unwrap().unwrap();
            log.borrow_mut().push(format!("pong {m}"));
        }
        drop(ping_tx);
        ponger.await.unwrap().unwrap();
        assert_eq!(pong_rx.recv().await.unwrap(), None);
        assert_eq!(
            *log.borrow(),
            [
                "ping 1",
                "pong 10",
                "ping 2",
                "pong 20",
                "ping 3",
                "pong 30",
                "ponger done"
            ]
        );
    });
}

/// Senders waiting for room get in in arrival order, each send resuming
/// in that order.
#[test]
fn senders_waiting_for_room_are_served_in_arrival_order() {
    run(async {
        let (tx, mut rx) = mpsc::channel(1);
        let tx = Rc::new(tx);
        tx.try_send(0).unwrap();
        let done = Rc::new(RefCell::new(Vec::new()));
        let senders: Vec<_> = (1..=4)
            .map(|i| {
                let (tx, done) = (tx.clone(), done.clone());
                spawn(async move {
                    tx.send(i).await?.unwrap();
                    done.borrow_mut().push(i);
                    Ok::<_, Cancelled>(())
                })
            })
            .collect();
        yield_now().await.unwrap();
        assert!(done.borrow().is_empty());
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap().unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        for s in senders {
            s.await.unwrap().unwrap();
        }
        assert_eq!(*done.borrow(), [1, 2, 3, 4]);
    });
}

/// A send cancelled while it waits for room inserts nothing; the sender
/// behind it takes its turn.
#[test]
fn cancelled_send_waiting_for_room_inserts_nothing() {
    run(async {
        let (tx, mut rx) = mpsc::channel(1);
        let tx = Rc::new(tx);
        tx.try_send(1).unwrap();
        let send = |v: u32| {
            let tx = tx.clone();
            spawn(async move { tx.send(v).await })
        };
        let cancelled = send(2);
        let next = send(3);
        yield_now().await.unwrap();
        cancelled.cancel();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        assert_eq!(rx.recv().await.unwrap(), Some(1));
        assert_eq!(next.await.unwrap(), Ok(Ok(())));
        assert_eq!(rx.recv().await.unwrap(), Some(3));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        assert_eq!(rx.len(), 0);
    });
}

/// A send cancelled after room was reserved for it, but before it resumed,
/// inserts nothing.
#[test]
fn send_cancelled_after_room_was_reserved_inserts_nothing() {
    run(async {
        let (tx, mut rx) = mpsc::channel(1);
        let tx = Rc::new(tx);
        tx.try_send(1).unwrap();
        let sender = spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        yield_now().await.unwrap();
        assert_eq!(rx.try_recv(), Ok(1)); // room reserved for `sender`
        assert!(matches!(tx.try_send(9), Err(mpsc::TrySendError::Full(9))));
        sender.cancel();
        assert!(sender.await.unwrap_err().is_cancelled());
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        assert_eq!(tx.try_send(9), Ok(()));
    });
}

/// A value handed to a receive cancelled before it resumed goes back to
/// the front of the channel.
#[test]
fn value_handed_to_a_cancelled_recv_goes_back_to_the_front() {
    run(async {
        let (tx, rx) = mpsc::unbounded();
        let slot = Rc::new(RefCell::new(Some(rx)));
        let reader = spawn({
            let slot = slot.clone();
            async move {
                let mut rx = slot.borrow_mut().take().unwrap();
                let out = rx.recv().await;
                *slot.borrow_mut() = Some(rx);
                out
            }
        });
        yield_now().await.unwrap();
        tx.try_send(1).unwrap(); // handed to `reader`
        tx.try_send(2).unwrap();
        reader.cancel();
        assert!(reader.await.unwrap_err().is_cancelled());
        let mut rx = slot.borrow_mut().take().unwrap();
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().await.unwrap(), Some(1));
        assert_eq!(rx.recv().await.unwrap(), Some(2));
    });
}

/// A recv timing out under `wait_for` leaves nothing behind.
#[test]
fn recv_timing_out_under_wait_for_leaves_nothing_behind() {
    run(async {
        let (tx, mut rx) = mpsc::unbounded();
        assert!(wait_for(rx.recv(), ms(30)).await.unwrap_err().is_elapsed());
        tx.try_send(1).unwrap();
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

#[test]
fn debug_needs_no_value_debug() {
    struct Opaque;
    let (tx, rx) = mpsc::channel(2);
    tx.try_send(Opaque).unwrap();
    assert_eq!(format!("{tx:?}"), "Sender { len: 1, closed: false }");
    assert_eq!(
        format!("{rx:?}"),
        "Receiver { len: 1, closed: false, waiting: false }"
    );
    let (otx, orx) = oneshot::channel::<Opaque>();
    assert_eq!(format!("{otx:?}"), "oneshot::Sender { closed: false }");
    assert_eq!(
        format!("{orx:?}"),
        "oneshot::Receiver { ready: false, closed: false }"
    );
}

// ---------------------------------------------------------------------------
// Stream

#[test]
fn receiver_as_a_stream_yields_every_value_then_ends() {
    run(async {
        let (tx, mut rx) = mpsc::channel(2);
        let producer = spawn(async move {
            for i in 0..5 {
                tx.send(i).await?.unwrap();
                yield_n(1).await;
            }
            Ok::<_, Cancelled>(())
        });
        let mut got = Vec::new();
        assert!(!FusedStream::is_terminated(&rx));
        while let Some(item) = rx.next().await {
            got.push(item.unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(FusedStream::is_terminated(&rx));
        assert!(rx.next().await.is_none());
        producer.await.unwrap().unwrap();
    });
}

#[test]
fn stream_combinators_work_on_the_receiver() {
    run(async {
        let (tx, rx) = mpsc::unbounded();
        for i in 1..=4 {
            tx.try_send(i).unwrap();
        }
        drop(tx);
        let doubled: Vec<i32> = rx.map(|r| r.unwrap() * 2).collect().await;
        assert_eq!(doubled, [2, 4, 6, 8]);
    });
}

/// A stream's pending `next()` is a checkpoint: the task's cancellation
/// arrives as `Some(Err(Cancelled))`, and the stream goes on.
#[test]
fn stream_next_delivers_cancellation_and_goes_on() {
    run(async {
        let (tx, mut rx) = mpsc::unbounded();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let t = spawn({
            let seen = seen.clone();
            async move {
                let first = rx.next().await;
                seen.borrow_mut().push(format!("{first:?}"));
                let second = rx.next().await;
                seen.borrow_mut().push(format!("{second:?}"));
            }
        });
        yield_now().await.unwrap();
        t.cancel();
        yield_now().await.unwrap();
        tx.try_send(5).unwrap();
        // It returned after seeing the cancellation: it ends cancelled.
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(*seen.borrow(), ["Some(Err(Cancelled))", "Some(Ok(5))"]);
    });
}

/// A `next()` dropped while pending keeps the receiver's place: the value
/// handed to it meanwhile is the next one received, by `next`, `recv` or
/// `try_recv`.
#[test]
fn dropped_next_keeps_the_receivers_place_and_its_value() {
    run(async {
        let (tx, mut rx) = mpsc::unbounded();
        {
            let mut next = rx.next();
            let polled = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::pin::Pin::new(&mut next).poll(cx))
            })
            .await;
            assert!(polled.is_pending());
        }
        tx.try_send(1).unwrap(); // handed to the receiver's kept place
        tx.try_send(2).unwrap();
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.next().await.map(Result::unwrap), Some(2));
    });
}
