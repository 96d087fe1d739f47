//! `sync::Queue`, `LifoQueue` and `PriorityQueue`: asyncio's queues (3.13),
//! ported from `Lib/test/test_asyncio/test_queues.py` (QueueBasicTests,
//! QueueGetTests, QueuePutTests, LifoQueueTests, PriorityQueueTests, the
//! join and shutdown mixins), with cancellation at every interesting
//! moment: a getter before the item arrives and after it was handed over, a
//! putter while waiting for room and after room was reserved, a get timing
//! out under `wait_for`.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use taskloop::sync::{
    LifoQueue, Order, PriorityQueue, Queue, QueueShutDown, TaskDoneError, TryGetError, TryPutError,
};
use taskloop::time::sleep;
use taskloop::{Cancelled, spawn, wait_for, yield_now};
use util::{ms, run, since, yield_n};

/// Spawns a task that gets one item.
fn spawn_get<T: 'static, O: Order<T> + 'static>(
    q: &Rc<Queue<T, O>>,
) -> taskloop::Task<Result<Result<T, QueueShutDown>, Cancelled>> {
    let q = q.clone();
    spawn(async move { q.get().await })
}

/// Spawns a task that puts one item.
fn spawn_put<T: 'static, O: Order<T> + 'static>(
    q: &Rc<Queue<T, O>>,
    item: T,
) -> taskloop::Task<Result<Result<(), QueueShutDown<T>>, Cancelled>> {
    let q = q.clone();
    spawn(async move { q.put(item).await })
}

/// Polls `f` once, in the current task.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

// ---------------------------------------------------------------------------
// QueueBasicTests

/// QueueBasicTests.test_empty: `empty` follows puts and gets.
#[test]
fn empty_follows_puts_and_gets() {
    run(async {
        let q = Queue::new();
        assert!(q.empty());
        q.put(1).await.unwrap().unwrap();
        assert!(!q.empty());
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert!(q.empty());
    });
}

/// QueueBasicTests.test_full: an unbounded queue is never full; a bounded
/// one is full at maxsize.
#[test]
fn full_only_when_bounded_and_at_maxsize() {
    run(async {
        let q = Queue::new();
        for i in 0..1000 {
            q.put_nowait(i).unwrap();
        }
        assert!(!q.full());
        assert_eq!(q.maxsize(), None);
        let q = Queue::bounded(1);
        assert!(!q.full());
        q.put(1).await.unwrap().unwrap();
        assert!(q.full());
        assert_eq!(q.maxsize(), Some(1));
    });
}

/// QueueBasicTests.test_order: FIFO.
#[test]
fn queue_gives_items_in_put_order() {
    run(async {
        let q = Queue::new();
        for i in [1, 3, 2] {
            q.put(i).await.unwrap().unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await.unwrap().unwrap());
        }
        assert_eq!(got, [1, 3, 2]);
    });
}

/// QueueBasicTests.test_maxsize: a putter blocks after maxsize items and
/// resumes when a get frees room.
#[test]
fn putter_blocks_at_maxsize_and_resumes_when_a_get_frees_room() {
    run(async {
        let q = Rc::new(Queue::bounded(2));
        let have_been_put = Rc::new(RefCell::new(Vec::new()));
        let t = spawn({
            let (q, have_been_put) = (q.clone(), have_been_put.clone());
            async move {
                for i in 0..3 {
                    q.put(i).await?.unwrap();
                    have_been_put.borrow_mut().push(i);
                }
                Ok::<_, Cancelled>(true)
            }
        });
        yield_n(2).await;
        assert_eq!(*have_been_put.borrow(), [0, 1]);
        assert_eq!(q.putters(), 1);
        assert_eq!(q.get().await.unwrap(), Ok(0));
        yield_now().await.unwrap();
        assert_eq!(*have_been_put.borrow(), [0, 1, 2]);
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert_eq!(q.get().await.unwrap(), Ok(2));
        assert!(t.is_done());
        assert_eq!(t.await.unwrap(), Ok(true));
    });
}

/// QueueBasicTests.test_repr: `Debug` shows the counts, and needs no
/// `T: Debug`.
#[test]
fn debug_shows_the_counts_without_item_debug() {
    struct Opaque;
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait(Opaque).unwrap();
        let putter = spawn_put(&q, Opaque);
        yield_now().await.unwrap();
        assert_eq!(
            format!("{q:?}"),
            "Queue { qsize: 1, maxsize: Some(1), getters: 0, putters: 1, unfinished: 1, shut_down: false }"
        );
        q.shutdown(true);
        assert!(putter.await.unwrap().unwrap().is_err());
    });
}

/// asyncio reads `maxsize=0` as unbounded; taskloop refuses `bounded(0)`.
#[test]
#[should_panic(expected = "a bound of 0 leaves no room")]
fn bounded_zero_panics() {
    let _ = Queue::<u8>::bounded(0);
}

// ---------------------------------------------------------------------------
// QueueGetTests

/// QueueGetTests.test_blocking_get and test_nonblocking_get.
#[test]
fn get_and_get_nowait_take_a_queued_item() {
    run(async {
        let q = Queue::new();
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// QueueGetTests.test_get_with_putters: a get wakes the waiting putter.
#[test]
fn get_frees_room_for_the_waiting_putter() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put(1).await.unwrap().unwrap();
        let putter = spawn_put(&q, 2);
        yield_now().await.unwrap();
        assert_eq!(q.putters(), 1);
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert_eq!(q.putters(), 0);
        assert_eq!(putter.await.unwrap(), Ok(Ok(())));
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// QueueGetTests.test_blocking_get_wait: a get waits for a later put.
#[test]
fn get_waits_for_a_later_put() {
    run(async {
        let q = Rc::new(Queue::new());
        let t0 = taskloop::time::now();
        let getter = spawn_get(&q);
        yield_now().await.unwrap();
        assert!(!getter.is_done());
        assert_eq!(q.getters(), 1);
        sleep(ms(10)).await.unwrap();
        q.put_nowait(1).unwrap();
        assert_eq!(getter.await.unwrap(), Ok(Ok(1)));
        assert_eq!(since(t0), ms(10));
    });
}

/// QueueGetTests.test_nonblocking_get_exception.
#[test]
fn get_nowait_on_an_empty_queue_is_empty() {
    let q = Queue::<u8>::new();
    assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
}

/// QueueGetTests.test_get_cancelled_race: a getter cancelled before any item
/// arrived leaves; the item goes to the next getter.
#[test]
fn getter_cancelled_before_an_item_arrives_leaves_it_to_the_next() {
    run(async {
        let q = Rc::new(Queue::new());
        let t1 = spawn_get(&q);
        let t2 = spawn_get(&q);
        yield_now().await.unwrap();
        assert_eq!(q.getters(), 2);
        t1.cancel();
        yield_now().await.unwrap();
        assert!(t1.is_done());
        assert_eq!(q.getters(), 1);
        q.put("a").await.unwrap().unwrap();
        assert!(t1.await.unwrap_err().is_cancelled());
        assert_eq!(t2.await.unwrap(), Ok(Ok("a")));
        assert!(q.empty());
    });
}

/// QueueGetTests.test_get_with_waiting_putters: waiting putters' items come
/// out in their arrival order.
#[test]
fn waiting_putters_items_come_out_in_arrival_order() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        let a = spawn_put(&q, 'a');
        let b = spawn_put(&q, 'b');
        let c = spawn_put(&q, 'c');
        assert_eq!(q.get().await.unwrap(), Ok('a'));
        assert_eq!(q.get().await.unwrap(), Ok('b'));
        assert_eq!(q.get().await.unwrap(), Ok('c'));
        for t in [a, b, c] {
            assert_eq!(t.await.unwrap(), Ok(Ok(())));
        }
    });
}

/// QueueGetTests.test_why_are_getters_waiting: a producer and a consumer
/// through a queue of one alternate exactly.
#[test]
fn producer_and_consumer_through_room_for_one_alternate() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        let log = Rc::new(RefCell::new(Vec::new()));
        let producer = spawn({
            let (q, log) = (q.clone(), log.clone());
            async move {
                for i in 0..5 {
                    q.put(i).await?.unwrap();
                    log.borrow_mut().push(format!("put {i}"));
                }
                Ok::<_, Cancelled>(())
            }
        });
        let consumer = spawn({
            let (q, log) = (q.clone(), log.clone());
            async move {
                for _ in 0..5 {
                    let i = q.get().await?.unwrap();
                    log.borrow_mut().push(format!("got {i}"));
                }
                Ok::<_, Cancelled>(())
            }
        });
        producer.await.unwrap().unwrap();
        consumer.await.unwrap().unwrap();
        let log = log.borrow();
        let got: Vec<&String> = log.iter().filter(|l| l.starts_with("got")).collect();
        assert_eq!(got, ["got 0", "got 1", "got 2", "got 3", "got 4"]);
        assert_eq!(log.len(), 10);
        // Never two puts ahead of the gets: room for one.
        for (n, line) in log.iter().enumerate() {
            let puts = log[..=n].iter().filter(|l| l.starts_with("put")).count();
            let gots = log[..=n].iter().filter(|l| l.starts_with("got")).count();
            assert!(puts <= gots + 1, "{line}: {puts} puts, {gots} gets");
        }
        assert!(q.empty());
    });
}

/// QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters: a
/// get timing out under `wait_for` leaves no getter behind.
#[test]
fn get_timing_out_under_wait_for_leaves_no_getter() {
    run(async {
        let q = Rc::new(Queue::<u32>::bounded(5));
        let t0 = taskloop::time::now();
        assert!(wait_for(q.get(), ms(100)).await.unwrap_err().is_elapsed());
        assert_eq!(since(t0), ms(100));
        assert_eq!(q.getters(), 0);
        // A later item is not swallowed by a ghost getter.
        q.put_nowait(7).unwrap();
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_nowait(), Ok(7));
    });
}

/// The asyncio catalogue's verified race: a put at the deadline of a
/// `wait_for(q.get())`. The item is never lost: if the put's timer fires
/// first, the item is handed over and the getter resumes with it before the
/// deadline is processed; if the deadline's fires first, the get times out
/// and the item stays in the queue (asyncio's verified outcome).
#[test]
fn get_under_wait_for_racing_a_put_at_the_deadline_times_out_and_keeps_the_item() {
    for put_first in [true, false] {
        run(async {
            let q = Rc::new(Queue::new());
            let putter = spawn({
                let q = q.clone();
                async move {
                    sleep(ms(50)).await?;
                    q.put_nowait(1).unwrap();
                    Ok::<_, Cancelled>(q.qsize())
                }
            });
            if put_first {
                yield_now().await.unwrap(); // the putter's timer is first
            }
            let t0 = taskloop::time::now();
            let r = wait_for(q.get(), ms(50)).await;
            assert_eq!(since(t0), ms(50));
            assert_eq!(q.getters(), 0);
            if put_first {
                assert_eq!(r.unwrap(), Ok(Ok(1)));
                assert_eq!(putter.await.unwrap(), Ok(1)); // in flight to us
                assert!(q.empty());
            } else {
                assert!(r.unwrap_err().is_elapsed());
                assert_eq!(putter.await.unwrap(), Ok(1));
                assert_eq!(q.get_nowait(), Ok(1));
            }
        });
    }
}

/// QueuePutTests.test_get_cancel_drop_one_pending_reader: an item handed
/// to a getter cancelled before it resumed goes back to the front: the
/// retry gets 1, not 2.
#[test]
fn item_handed_to_a_getter_cancelled_before_it_resumed_goes_back_to_the_front() {
    run(async {
        let q = Rc::new(Queue::new());
        let reader = spawn_get(&q);
        yield_now().await.unwrap();
        q.put_nowait(1).unwrap(); // handed to `reader`
        q.put_nowait(2).unwrap();
        assert_eq!(q.qsize(), 2);
        // No barging: 1 is `reader`'s, `get_nowait` takes 2.
        reader.cancel();
        assert!(reader.await.unwrap_err().is_cancelled());
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert_eq!(q.get().await.unwrap(), Ok(2));
    });
}

/// QueuePutTests.test_get_cancel_drop_many_pending_readers: the item of a
/// cancelled reader goes to the next reader, in order (asyncio leaves the
/// order undefined; taskloop's is exact).
#[test]
fn item_handed_to_a_cancelled_getter_goes_to_the_next_getter() {
    run(async {
        let q = Rc::new(Queue::new());
        let r1 = spawn_get(&q);
        let r2 = spawn_get(&q);
        let r3 = spawn_get(&q);
        yield_now().await.unwrap();
        q.put_nowait(1).unwrap(); // handed to r1
        q.put_nowait(2).unwrap(); // handed to r2
        r1.cancel();
        assert!(r1.await.unwrap_err().is_cancelled());
        assert_eq!(r2.await.unwrap(), Ok(Ok(2)));
        assert_eq!(r3.await.unwrap(), Ok(Ok(1)));
        assert!(q.empty());
        assert_eq!(q.getters(), 0);
    });
}

/// A get dropped (not polled again) after an item was handed to it gives
/// the item back: not lost, still first.
#[test]
fn get_dropped_after_the_hand_off_gives_the_item_back() {
    run(async {
        let q = Queue::new();
        let mut get = q.get();
        assert!(poll_once(&mut get).await.is_pending());
        assert_eq!(q.getters(), 1);
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert_eq!(q.get_nowait(), Ok(2)); // 1 is the pending get's
        q.put_nowait(3).unwrap();
        drop(get);
        assert_eq!(q.getters(), 0);
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(3));
    });
}

/// A get is a checkpoint: a pending cancellation wins over a queued item,
/// which stays.
#[test]
fn get_delivers_a_pending_cancellation_and_takes_nothing() {
    run(async {
        let q = Rc::new(Queue::new());
        q.put_nowait(1).unwrap();
        let t = spawn({
            let q = q.clone();
            async move {
                taskloop::current_task().unwrap().cancel();
                let r = q.get().await;
                assert!(r.is_err());
                r
            }
        });
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(q.get_nowait(), Ok(1));
    });
}

// ---------------------------------------------------------------------------
// QueuePutTests

/// QueuePutTests.test_blocking_put and test_nonblocking_put.
#[test]
fn put_on_an_unbounded_queue_does_not_wait() {
    run(async {
        let q = Queue::new();
        let mut put = q.put(1);
        assert_eq!(poll_once(&mut put).await, Poll::Ready(Ok(Ok(()))));
        q.put_nowait(2).unwrap();
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// QueuePutTests.test_blocking_put_wait: a putter waits for a later
/// `get_nowait`.
#[test]
fn put_waits_for_a_later_get_nowait() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        let t0 = taskloop::time::now();
        let putter = spawn({
            let q = q.clone();
            async move {
                q.put(1).await?.unwrap();
                q.put(2).await?.unwrap();
                Ok::<_, Cancelled>(taskloop::time::now())
            }
        });
        yield_n(2).await;
        assert!(!putter.is_done());
        sleep(ms(10)).await.unwrap();
        assert_eq!(q.get_nowait(), Ok(1));
        let done_at = putter.await.unwrap().unwrap();
        assert_eq!(done_at - t0, ms(10));
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// QueuePutTests.test_nonblocking_put_exception: `put_nowait` on a full
/// queue gives the item back.
#[test]
fn put_nowait_on_a_full_queue_gives_the_item_back() {
    let q = Queue::bounded(1);
    q.put_nowait(1).unwrap();
    let err = q.put_nowait(2).unwrap_err();
    assert_eq!(err, TryPutError::Full(2));
    assert_eq!(err.into_inner(), 2);
    assert_eq!(q.qsize(), 1);
}

/// QueuePutTests.test_put_cancel_drop: a putter cancelled after room was
/// reserved for it inserts nothing; its retry puts the item once.
#[test]
fn putter_cancelled_after_room_was_reserved_inserts_nothing() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait(1).unwrap();
        let writer = spawn_put(&q, 2);
        yield_now().await.unwrap();
        assert_eq!(q.get_nowait(), Ok(1)); // room reserved for `writer`
        assert!(q.full());
        assert!(matches!(q.put_nowait(9), Err(TryPutError::Full(9))));
        writer.cancel();
        assert!(writer.await.unwrap_err().is_cancelled());
        assert_eq!(q.qsize(), 0);
        assert!(!q.full());
        spawn_put(&q, 2).await.unwrap().unwrap().unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 2);
    });
}

/// QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters: a
/// putter cancelled while waiting for room leaves, inserting nothing.
#[test]
fn putter_cancelled_while_waiting_for_room_leaves_and_inserts_nothing() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait(1).unwrap();
        let put_task = spawn_put(&q, 2);
        yield_now().await.unwrap();
        assert_eq!(q.putters(), 1);
        put_task.cancel();
        assert!(put_task.await.unwrap_err().is_cancelled());
        assert_eq!(q.putters(), 0);
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
        assert_eq!(q.unfinished_tasks(), 1);
    });
}

/// QueuePutTests.test_put_cancelled_race: a cancelled putter in the middle
/// is skipped; the others keep their order.
#[test]
fn cancelled_putter_in_the_middle_is_skipped() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        let put_a = spawn_put(&q, 'a');
        let put_b = spawn_put(&q, 'b');
        let put_x = spawn_put(&q, 'X');
        let put_c = spawn_put(&q, 'c');
        yield_now().await.unwrap();
        assert!(put_a.is_done());
        assert!(!put_b.is_done());
        put_x.cancel();
        yield_now().await.unwrap();
        assert!(put_x.is_done());
        assert_eq!(q.get_nowait(), Ok('a'));
        yield_now().await.unwrap();
        assert_eq!(q.get_nowait(), Ok('b'));
        yield_now().await.unwrap();
        assert_eq!(q.get_nowait(), Ok('c'));
        assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
        assert!(put_x.await.unwrap_err().is_cancelled());
        for t in [put_a, put_b, put_c] {
            assert_eq!(t.await.unwrap(), Ok(Ok(())));
        }
    });
}

/// QueuePutTests.test_put_cancelled: a put on an unbounded queue finishes
/// at once; the getter receives the item.
#[test]
fn put_task_is_done_when_the_getter_has_its_item() {
    run(async {
        let q = Rc::new(Queue::new());
        let t = spawn_put(&q, 1);
        assert_eq!(q.get().await.unwrap(), Ok(1));
        assert!(t.is_done());
        assert_eq!(t.await.unwrap(), Ok(Ok(())));
    });
}

/// QueuePutTests.test_put_with_waiting_getters: a put hands its item to the
/// waiting getter, and nobody can take it in between.
#[test]
fn put_hands_its_item_to_the_waiting_getter_without_barging() {
    run(async {
        let q = Rc::new(Queue::new());
        let t = spawn_get(&q);
        yield_now().await.unwrap();
        q.put('a').await.unwrap().unwrap();
        assert_eq!(q.qsize(), 1);
        assert!(!q.empty());
        assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
        assert_eq!(t.await.unwrap(), Ok(Ok('a')));
        assert!(q.empty());
    });
}

/// QueuePutTests.test_why_are_putters_waiting: each item taken lets one
/// waiting putter in, in arrival order.
#[test]
fn each_get_lets_one_waiting_putter_in_in_arrival_order() {
    run(async {
        let q = Rc::new(Queue::bounded(2));
        let putters: Vec<_> = (0..4).map(|i| spawn_put(&q, i)).collect();
        yield_now().await.unwrap();
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.putters(), 2);
        let num = q.qsize();
        let got: Vec<_> = (0..num).map(|_| q.get_nowait().unwrap()).collect();
        assert_eq!(got, [0, 1]);
        assert_eq!(q.putters(), 0);
        assert_eq!(q.qsize(), 0);
        assert!(q.full()); // both slots reserved for the woken putters
        for t in putters {
            assert_eq!(t.await.unwrap(), Ok(Ok(())));
        }
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.get_nowait(), Ok(3));
    });
}

/// QueuePutTests.test_cancelled_put_silence_value_error_exception: a
/// putter cancelled after a `get_nowait` reserved room for it ends
/// cancelled, and the room goes to the next putter.
#[test]
fn room_reserved_for_a_cancelled_putter_goes_to_the_next_putter() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait(1).unwrap();
        let a = spawn_put(&q, 2);
        let b = spawn_put(&q, 3);
        yield_now().await.unwrap();
        assert_eq!(q.putters(), 2);
        assert_eq!(q.get_nowait(), Ok(1)); // room reserved for `a`
        assert_eq!(q.putters(), 1);
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.await.unwrap(), Ok(Ok(())));
        assert_eq!(q.get_nowait(), Ok(3));
        assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    });
}

// ---------------------------------------------------------------------------
// LifoQueueTests, PriorityQueueTests

/// LifoQueueTests.test_order.
#[test]
fn lifo_queue_gives_the_newest_item_first() {
    run(async {
        let q = LifoQueue::lifo();
        for i in [1, 3, 2] {
            q.put(i).await.unwrap().unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await.unwrap().unwrap());
        }
        assert_eq!(got, [2, 3, 1]);
    });
}

/// PriorityQueueTests.test_order: min-first, like heapq.
#[test]
fn priority_queue_gives_the_smallest_item_first() {
    run(async {
        let q = PriorityQueue::priority();
        for i in [1, 3, 2] {
            q.put(i).await.unwrap().unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await.unwrap().unwrap());
        }
        assert_eq!(got, [1, 2, 3]);
    });
}

/// As asyncio's LifoQueue keeps an item its woken getter did not take: an
/// item given back by a cancelled getter is the oldest, under newer ones.
#[test]
fn lifo_item_given_back_by_a_cancelled_getter_goes_under_newer_items() {
    run(async {
        let q = Rc::new(LifoQueue::lifo());
        let reader = spawn_get(&q);
        yield_now().await.unwrap();
        q.put_nowait(1).unwrap(); // handed to `reader`
        q.put_nowait(2).unwrap();
        reader.cancel();
        assert!(reader.await.unwrap_err().is_cancelled());
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.get_nowait(), Ok(1));
    });
}

/// A bounded priority queue serves its waiting putters in arrival order.
#[test]
fn bounded_priority_queue_lets_putters_in_by_arrival() {
    run(async {
        let q = Rc::new(PriorityQueue::priority_bounded(1));
        q.put_nowait(5).unwrap();
        let a = spawn_put(&q, 9);
        let b = spawn_put(&q, 1);
        yield_now().await.unwrap();
        assert_eq!(q.get_nowait(), Ok(5));
        a.await.unwrap().unwrap().unwrap();
        assert_eq!(q.get_nowait(), Ok(9)); // `b` still waits for room
        b.await.unwrap().unwrap().unwrap();
        assert_eq!(q.get_nowait(), Ok(1));
    });
}

// ---------------------------------------------------------------------------
// _QueueJoinTestMixin

/// _QueueJoinTestMixin.test_task_done_underflow, for every ordering.
#[test]
fn task_done_more_times_than_items_is_an_error() {
    assert_eq!(Queue::<u8>::new().task_done(), Err(TaskDoneError));
    assert_eq!(LifoQueue::<u8>::lifo().task_done(), Err(TaskDoneError));
    assert_eq!(
        PriorityQueue::<u8>::priority().task_done(),
        Err(TaskDoneError)
    );
    let q = Queue::new();
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// _QueueJoinTestMixin.test_task_done: `join` returns once two workers
/// marked every one of 100 items done.
#[test]
fn join_returns_once_every_item_is_marked_done() {
    fn check<O: Order<u32> + 'static>(q: Queue<u32, O>) {
        run(async {
            let q = Rc::new(q);
            for i in 0..100 {
                q.put_nowait(i).unwrap();
            }
            let sum = Rc::new(RefCell::new(0));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (q, sum) = (q.clone(), sum.clone());
                    spawn(async move {
                        let mut n = 0;
                        while let Ok(item) = q.get().await? {
                            *sum.borrow_mut() += item;
                            yield_now().await?;
                            q.task_done().unwrap();
                            n += 1;
                        }
                        Ok::<_, Cancelled>(n)
                    })
                })
                .collect();
            q.join().await.unwrap();
            assert_eq!(*sum.borrow(), (0..100).sum::<u32>());
            assert_eq!(q.unfinished_tasks(), 0);
            q.shutdown(false);
            let counts: Vec<u32> = {
                let mut v = Vec::new();
                for w in workers {
                    v.push(w.await.unwrap().unwrap());
                }
                v
            };
            assert_eq!(counts, [50, 50]);
        });
    }
    check(Queue::new());
    check(LifoQueue::lifo());
    check(PriorityQueue::priority());
}

/// _QueueJoinTestMixin.test_join_empty_queue: `join` on a queue with
/// nothing unfinished returns (twice); it is still a checkpoint.
#[test]
fn join_on_an_empty_queue_returns_and_is_a_checkpoint() {
    run(async {
        let q = Rc::new(Queue::<u8>::new());
        q.join().await.unwrap();
        q.join().await.unwrap();
        let t = spawn({
            let q = q.clone();
            async move {
                taskloop::current_task().unwrap().cancel();
                q.join().await
            }
        });
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

/// A joiner cancelled while waiting leaves; the others still wake.
#[test]
fn cancelled_joiner_leaves_and_the_others_wake() {
    run(async {
        let q = Rc::new(Queue::new());
        q.put_nowait(1).unwrap();
        let join = |q: &Rc<Queue<i32>>| {
            let q = q.clone();
            spawn(async move { q.join().await })
        };
        let (j1, j2) = (join(&q), join(&q));
        yield_now().await.unwrap();
        j1.cancel();
        assert!(j1.await.unwrap_err().is_cancelled());
        assert_eq!(q.get_nowait(), Ok(1));
        yield_now().await.unwrap();
        assert!(!j2.is_done());
        q.task_done().unwrap();
        assert_eq!(j2.await.unwrap(), Ok(()));
    });
}

// ---------------------------------------------------------------------------
// _QueueShutdownTestMixin

/// _QueueShutdownTestMixin.test_shutdown_empty: the waiting getter fails,
/// `join` returns, puts and gets fail.
#[test]
fn shutdown_of_an_empty_queue_fails_the_waiting_getter_and_every_later_call() {
    run(async {
        let q = Rc::new(Queue::new());
        let get_task = spawn_get(&q);
        yield_now().await.unwrap();
        q.shutdown(false);
        assert!(q.is_shut_down());
        assert_eq!(q.qsize(), 0);
        q.join().await.unwrap();
        yield_now().await.unwrap();
        assert!(get_task.is_done());
        assert_eq!(get_task.await.unwrap(), Ok(Err(QueueShutDown(()))));
        assert_eq!(q.put("data").await.unwrap(), Err(QueueShutDown("data")));
        assert_eq!(q.put_nowait("data"), Err(TryPutError::ShutDown("data")));
        assert_eq!(q.get().await.unwrap(), Err(QueueShutDown(())));
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    });
}

/// _QueueShutdownTestMixin.test_shutdown_nonempty: the waiting putter fails
/// with its item; the item left is still got; `join` waits for it.
#[test]
fn shutdown_of_a_nonempty_queue_fails_the_putter_and_drains_the_rest() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait("data").unwrap();
        let join_task = spawn({
            let q = q.clone();
            async move { q.join().await }
        });
        let put_task = spawn_put(&q, "data2");
        yield_now().await.unwrap();
        assert!(!put_task.is_done());
        q.shutdown(false);
        assert_eq!(q.qsize(), 1);
        yield_now().await.unwrap();
        assert!(put_task.is_done());
        assert_eq!(put_task.await.unwrap(), Ok(Err(QueueShutDown("data2"))));
        assert_eq!(q.get().await.unwrap(), Ok("data"));
        yield_now().await.unwrap();
        assert!(!join_task.is_done());
        assert_eq!(q.put("x").await.unwrap(), Err(QueueShutDown("x")));
        assert_eq!(q.put_nowait("x"), Err(TryPutError::ShutDown("x")));
        assert_eq!(q.get().await.unwrap(), Err(QueueShutDown(())));
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
        q.task_done().unwrap();
        yield_now().await.unwrap();
        assert!(join_task.is_done());
        assert_eq!(join_task.await.unwrap(), Ok(()));
        assert_eq!(q.task_done(), Err(TaskDoneError));
    });
}

/// _QueueShutdownTestMixin.test_shutdown_immediate: the item left is
/// dropped and counted done, so `join` returns.
#[test]
fn immediate_shutdown_drops_the_items_and_releases_join() {
    run(async {
        let q = Rc::new(Queue::new());
        let flag = util::DropFlag::new();
        q.put_nowait(Some(flag.guard())).unwrap();
        let join_task = spawn({
            let q = q.clone();
            async move { q.join().await }
        });
        yield_now().await.unwrap();
        q.shutdown(true);
        assert!(flag.is_dropped());
        assert_eq!(q.qsize(), 0);
        yield_now().await.unwrap();
        assert!(join_task.is_done());
        assert_eq!(join_task.await.unwrap(), Ok(()));
        assert!(q.put(None).await.unwrap().is_err());
        assert!(matches!(
            q.put_nowait(None),
            Err(TryPutError::ShutDown(None))
        ));
        assert!(q.get().await.unwrap().is_err());
        assert_eq!(q.get_nowait().unwrap_err(), TryGetError::ShutDown);
        assert_eq!(q.task_done(), Err(TaskDoneError));
    });
}

/// _QueueShutdownTestMixin.test_shutdown_immediate_with_unfinished: items
/// got but not marked done keep `join` waiting.
#[test]
fn immediate_shutdown_keeps_join_waiting_for_items_got_but_not_done() {
    run(async {
        let q = Rc::new(Queue::new());
        q.put_nowait("data").unwrap();
        q.put_nowait("data").unwrap();
        let join_task = spawn({
            let q = q.clone();
            async move { q.join().await }
        });
        assert_eq!(q.get().await.unwrap(), Ok("data"));
        q.shutdown(true); // unfinished: 2 -> 1
        assert_eq!(q.qsize(), 0);
        yield_now().await.unwrap();
        assert!(!join_task.is_done());
        assert!(q.put("x").await.unwrap().is_err());
        assert!(q.get().await.unwrap().is_err());
        assert_eq!(q.unfinished_tasks(), 1);
        q.task_done().unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError));
        yield_now().await.unwrap();
        assert_eq!(join_task.await.unwrap(), Ok(()));
    });
}

/// Shutdown wakes every blocked getter (and every blocked putter, each with
/// its item back), in one go.
#[test]
fn shutdown_wakes_every_blocked_getter_and_putter() {
    run(async {
        let empty = Rc::new(Queue::<u8>::new());
        let getters: Vec<_> = (0..3).map(|_| spawn_get(&empty)).collect();
        let full = Rc::new(Queue::bounded(1));
        full.put_nowait(0).unwrap();
        let putters: Vec<_> = (1..=3).map(|i| spawn_put(&full, i)).collect();
        yield_now().await.unwrap();
        assert_eq!((empty.getters(), full.putters()), (3, 3));
        empty.shutdown(false);
        full.shutdown(false);
        assert_eq!((empty.getters(), full.putters()), (0, 0));
        for g in getters {
            assert_eq!(g.await.unwrap(), Ok(Err(QueueShutDown(()))));
        }
        let back: Vec<_> = {
            let mut v = Vec::new();
            for p in putters {
                v.push(p.await.unwrap().unwrap().unwrap_err().into_inner());
            }
            v
        };
        assert_eq!(back, [1, 2, 3]);
        assert_eq!(full.get_nowait(), Ok(0));
    });
}

/// A putter granted room before the shutdown, but resuming after it, fails
/// and gets its item back.
#[test]
fn putter_with_reserved_room_resuming_after_shutdown_gets_its_item_back() {
    run(async {
        let q = Rc::new(Queue::bounded(1));
        q.put_nowait(1).unwrap();
        let p = spawn_put(&q, 2);
        yield_now().await.unwrap();
        assert_eq!(q.get_nowait(), Ok(1)); // room reserved for `p`
        q.shutdown(false);
        assert_eq!(p.await.unwrap(), Ok(Err(QueueShutDown(2))));
        assert_eq!(q.qsize(), 0);
        assert!(!q.full());
    });
}

/// An item handed to a getter stays that getter's through a shutdown; if the
/// getter is cancelled after an immediate shutdown, the item is dropped and
/// counted done.
#[test]
fn item_given_back_after_an_immediate_shutdown_is_dropped_and_counted_done() {
    run(async {
        let q = Rc::new(Queue::new());
        let flag = util::DropFlag::new();
        let reader = spawn_get(&q);
        let keeper = spawn_get(&q);
        yield_now().await.unwrap();
        q.put_nowait(flag.guard()).unwrap(); // handed to `reader`
        let other = util::DropFlag::new();
        q.put_nowait(other.guard()).unwrap(); // handed to `keeper`
        q.shutdown(true);
        assert!(!flag.is_dropped());
        reader.cancel();
        assert!(reader.await.unwrap_err().is_cancelled());
        assert!(flag.is_dropped());
        let kept = keeper.await.unwrap().unwrap().unwrap();
        assert!(!other.is_dropped());
        drop(kept);
        assert_eq!(q.unfinished_tasks(), 1);
        q.task_done().unwrap();
        q.join().await.unwrap();
    });
}

/// _QueueShutdownTestMixin for LifoQueueShutdownTests and
/// PriorityQueueShutdownTests: after a gentle shutdown, gets drain the items
/// left in the queue's own order, then fail.
#[test]
fn gentle_shutdown_drains_in_each_order_then_fails() {
    fn drain<O: Order<i32>>(q: Queue<i32, O>) -> Vec<Result<i32, TryGetError>> {
        for i in [2, 1, 3] {
            q.put_nowait(i).unwrap();
        }
        q.shutdown(false);
        assert_eq!(q.put_nowait(4), Err(TryPutError::ShutDown(4)));
        (0..4).map(|_| q.get_nowait()).collect()
    }
    let end = Err(TryGetError::ShutDown);
    assert_eq!(drain(Queue::new()), [Ok(2), Ok(1), Ok(3), end]);
    assert_eq!(drain(LifoQueue::lifo()), [Ok(3), Ok(1), Ok(2), end]);
    assert_eq!(drain(PriorityQueue::priority()), [Ok(1), Ok(2), Ok(3), end]);
}

// ---------------------------------------------------------------------------
// Model check

/// One step of the model check.
#[derive(Clone, Debug)]
enum Op {
    SpawnGet,
    SpawnPut,
    PutNowait,
    GetNowait,
    Cancel(usize),
    Yield,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Op::SpawnGet),
        Just(Op::SpawnPut),
        Just(Op::PutNowait),
        Just(Op::GetNowait),
        (0usize..32).prop_map(Op::Cancel),
        Just(Op::Yield),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Any mix of waiting and non-waiting puts and gets, cancellations at
    /// any moment and a final shutdown: every item put is received exactly
    /// once, no cancelled putter's item is ever received, nobody is left
    /// waiting, and the unfinished count is the number of items put.
    #[test]
    fn every_item_put_is_received_exactly_once(
        maxsize in proptest::option::of(1usize..4),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let (put, got) = run(async move {
            let q = Rc::new(Queue::<u32>::with_maxsize(maxsize));
            let mut getters = Vec::new();
            let mut putters = Vec::new();
            let mut put_nowait = Vec::new();
            let mut got = Vec::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::SpawnGet => getters.push(spawn_get(&q)),
                    Op::SpawnPut => {
                        putters.push((next, spawn_put(&q, next)));
                        next += 1;
                    }
                    Op::PutNowait => {
                        if q.put_nowait(next).is_ok() {
                            put_nowait.push(next);
                        }
                        next += 1;
                    }
                    Op::GetNowait => got.extend(q.get_nowait().ok()),
                    Op::Cancel(i) => {
                        let n = getters.len() + putters.len();
                        if n > 0 {
                            let i = i % n;
                            if i < getters.len() {
                                getters[i].cancel();
                            } else {
                                putters[i - getters.len()].1.cancel();
                            }
                        }
                    }
                    Op::Yield => yield_now().await.unwrap(),
                }
            }
            yield_n(2).await;
            q.shutdown(false);
            let mut put = put_nowait;
            for (v, t) in putters {
                match t.await {
                    Ok(Ok(Ok(()))) => put.push(v),
                    Ok(Ok(Err(QueueShutDown(back)))) => assert_eq!(back, v),
                    Ok(Err(_)) => panic!("a task returning Err(Cancelled) ends cancelled"),
                    Err(e) => assert!(e.is_cancelled()),
                }
            }
            for t in getters {
                match t.await {
                    Ok(Ok(Ok(v))) => got.push(v),
                    Ok(Ok(Err(QueueShutDown(())))) => {}
                    Ok(Err(_)) => panic!("a task returning Err(Cancelled) ends cancelled"),
                    Err(e) => assert!(e.is_cancelled()),
                }
            }
            while let Ok(v) = q.get_nowait() {
                got.push(v);
            }
            assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
            assert_eq!(q.qsize(), 0);
            assert_eq!((q.getters(), q.putters()), (0, 0));
            assert_eq!(q.unfinished_tasks(), put.len());
            (put, got)
        });
        let (mut put, mut got) = (put, got);
        put.sort_unstable();
        got.sort_unstable();
        proptest::prop_assert_eq!(put, got);
    }
}
