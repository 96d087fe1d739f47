//! A line-oriented chat relay: every line a client sends is relayed to all
//! the other clients, prefixed with the sender's address.
//!
//! Each connection is a task group of two children: a reader that
//! broadcasts lines and a writer that drains the client's own queue (an
//! `mpsc` channel, bounded, so a slow client cannot grow the server's
//! memory: its queue fills and its messages are dropped with a notice).
//! When the reader ends, the group cancels the writer and waits for it.
//!
//! ```sh
//! cargo run --example chat -- 127.0.0.1:7879
//! # then, in two other terminals: nc 127.0.0.1 7879
//! ```

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use taskloop::net::{BufReader, TcpListener, TcpStream};
use taskloop::sync::mpsc;
use taskloop::{BoxError, spawn_named, task_group};

/// Every connected client's queue.
type Room = Rc<RefCell<Vec<(SocketAddr, mpsc::Sender<Rc<str>>)>>>;

/// Queues `line` for everyone but `from`.
fn broadcast(room: &Room, from: SocketAddr, line: &str) {
    let msg: Rc<str> = format!("{from}: {line}\n").into();
    for (peer, queue) in room.borrow().iter() {
        if *peer != from && queue.try_send(msg.clone()).is_err() {
            log::warn!("{peer} is too slow: a message was dropped");
        }
    }
}

async fn client(room: Room, stream: TcpStream, peer: SocketAddr) -> Result<(), BoxError> {
    let (read, write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Rc<str>>(64);
    room.borrow_mut().push((peer, tx));
    broadcast(&room, peer, "joined");
    let left = room.clone();
    let outcome = task_group(|tg| async move {
        tg.spawn_named(format!("writer-{peer}"), async move {
            while let Some(msg) = rx.recv().await? {
                write.write_all(msg.as_bytes()).await?;
            }
            Ok::<_, std::io::Error>(())
        })?;
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await? {
            broadcast(&room, peer, &line);
        }
        // The client hung up: stop its writer too.
        tg.cancel();
        Ok::<_, BoxError>(())
    })
    .await;
    left.borrow_mut().retain(|(p, _)| *p != peer);
    broadcast(&left, peer, "left");
    match outcome {
        Err(e) if !e.is_cancelled() => Err(e.into()),
        _ => Ok(()),
    }
}

async fn main_async() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    let room: Room = Rc::default();
    loop {
        let (stream, peer) = listener.accept().await?;
        let room = room.clone();
        drop(spawn_named(format!("client-{peer}"), async move {
            if let Err(e) = client(room, stream, peer).await {
                log::warn!("{peer}: {e}");
            }
        }));
    }
}

fn main() {
    env_logger::init();
    if let Err(e) = taskloop::run(main_async()) {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}
