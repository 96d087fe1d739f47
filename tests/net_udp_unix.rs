//! UDP and Unix domain sockets: round trips on loopback and in a temp dir,
//! sharing one socket between tasks, cancellation that moves nothing, and
//! the conversions to and from `std`.
//!
//! Real clock; the `wait_for` bounds are hang guards only.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloop::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use util::{block_on, secs, yield_n};

/// Awaits `fut`, failing the test instead of hanging if it takes more than
/// ten seconds.
async fn soon<F: Future>(fut: F) -> F::Output {
    taskloop::wait_for(fut, secs(10))
        .await
        .expect("a socket operation hung for 10 s")
}

/// A loopback address with a port the OS picks.
fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A unique path in the temp dir, removed (if it exists) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("taskloop-{}-{n}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// UDP

#[test]
fn send_to_and_recv_from_carry_datagrams_between_two_udp_sockets() {
    block_on(async {
        let a = UdpSocket::bind(loopback()).await.unwrap();
        let b = UdpSocket::bind(loopback()).await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(a_addr.port(), 0, "the OS picked a port");

        assert_eq!(soon(a.send_to(b"ping", b_addr)).await.unwrap(), 4);
        let mut buf = [0u8; 16];
        let (n, from) = soon(b.recv_from(&mut buf)).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));

        soon(b.send_to(b"pong", from)).await.unwrap();
        let (n, from) = soon(a.recv_from(&mut buf)).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], b_addr));
    });
}

#[test]
fn connected_udp_sockets_send_and_recv_with_their_peer() {
    block_on(async {
        let a = UdpSocket::bind(loopback()).await.unwrap();
        let b = UdpSocket::bind(loopback()).await.unwrap();
        assert_eq!(
            a.peer_addr().unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());

        // A receive waits for its datagram.
        let b = Rc::new(b);
        let receiver = taskloop::spawn({
            let b = b.clone();
            async move {
                let mut buf = [0u8; 16];
                let n = b.recv(&mut buf).await?;
                Ok::<_, io::Error>(buf[..n].to_vec())
            }
        });
        yield_n(3).await;
        assert!(!receiver.is_done(), "nothing was sent yet");
        soon(a.send(b"hello")).await.unwrap();
        assert_eq!(soon(receiver).await.unwrap().unwrap(), b"hello");

        soon(b.send(b"back")).await.unwrap();
        let mut buf = [0u8; 16];
        let n = soon(a.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"back");
    });
}

#[test]
fn several_tasks_receiving_on_one_shared_udp_socket_each_get_exactly_one_datagram() {
    block_on(async {
        let rx = Rc::new(UdpSocket::bind(loopback()).await.unwrap());
        let tx = UdpSocket::bind(loopback()).await.unwrap();
        let receivers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                taskloop::spawn(async move {
                    let mut buf = [0u8; 8];
                    let n = rx.recv(&mut buf).await?;
                    Ok::<_, io::Error>(buf[..n].to_vec())
                })
            })
            .collect();
        yield_n(3).await;
        assert!(
            receivers.iter().all(|r| !r.is_done()),
            "all four are waiting"
        );

        let to = rx.local_addr().unwrap();
        for i in 0..4u8 {
            soon(tx.send_to(&[i], to)).await.unwrap();
        }
        let mut got = Vec::new();
        for r in receivers {
            got.extend(soon(r).await.unwrap().unwrap());
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3], "one datagram each, none twice");
    });
}

#[test]
fn a_udp_recv_cancelled_while_waiting_consumes_no_datagram() {
    block_on(async {
        let rx = Rc::new(UdpSocket::bind(loopback()).await.unwrap());
        let tx = UdpSocket::bind(loopback()).await.unwrap();
        let seen = Rc::new(RefCell::new(None));
        let waiting = taskloop::spawn({
            let (rx, seen) = (rx.clone(), seen.clone());
            async move {
                let mut buf = [0u8; 8];
                let err = rx.recv_from(&mut buf).await.unwrap_err();
                *seen.borrow_mut() = Some(taskloop::is_cancelled(&err));
                Err::<(), _>(err)
            }
        });
        yield_n(3).await;
        assert!(!waiting.is_done());
        waiting.cancel();
        let err = soon(waiting).await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(
            *seen.borrow(),
            Some(true),
            "the io::Error carries Cancelled"
        );

        soon(tx.send_to(b"kept", rx.local_addr().unwrap()))
            .await
            .unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = soon(rx.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"kept");
    });
}

#[test]
fn a_udp_datagram_longer_than_the_buffer_is_truncated_and_its_rest_discarded() {
    block_on(async {
        let rx = UdpSocket::bind(loopback()).await.unwrap();
        let tx = UdpSocket::bind(loopback()).await.unwrap();
        let to = rx.local_addr().unwrap();
        soon(tx.send_to(b"0123456789", to)).await.unwrap();
        soon(tx.send_to(b"next", to)).await.unwrap();

        let mut small = [0u8; 4];
        let (n, _) = soon(rx.recv_from(&mut small)).await.unwrap();
        assert_eq!(&small[..n], b"0123", "as std: the buffer's length");
        let mut buf = [0u8; 16];
        let (n, _) = soon(rx.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"next", "the rest of the long one is gone");
    });
}

#[test]
fn peek_from_leaves_the_datagram_for_the_next_receive() {
    block_on(async {
        let rx = UdpSocket::bind(loopback()).await.unwrap();
        let tx = UdpSocket::bind(loopback()).await.unwrap();
        soon(tx.send_to(b"look", rx.local_addr().unwrap()))
            .await
            .unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = soon(rx.peek_from(&mut buf)).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"look"[..], tx.local_addr().unwrap()));
        let (n, _) = soon(rx.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"look");

        // The connected form.
        rx.connect(tx.local_addr().unwrap()).unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        soon(tx.send(b"again")).await.unwrap();
        assert_eq!(soon(rx.peek(&mut buf)).await.unwrap(), 5);
        assert_eq!(soon(rx.recv(&mut buf)).await.unwrap(), 5);
        assert_eq!(&buf[..5], b"again");
    });
}

#[test]
fn the_broadcast_option_can_be_set_and_read_back() {
    block_on(async {
        let s = UdpSocket::bind(loopback()).await.unwrap();
        assert!(!s.broadcast().unwrap());
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        let debug = format!("{s:?}");
        assert!(debug.starts_with("UdpSocket"), "{debug}");
    });
}

// ---------------------------------------------------------------------------
// Unix streams

#[test]
fn a_unix_stream_echoes_through_a_listener_in_a_temp_dir() {
    let path = TempPath::new("echo");
    block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_ref())
        );
        let server = taskloop::spawn(async move {
            let (stream, _peer) = listener.accept().await?;
            let mut buf = [0u8; 64];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(());
                }
                stream.write_all(&buf[..n]).await?;
            }
        });

        let client = soon(UnixStream::connect(&path)).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_ref())
        );
        soon(client.write_all(b"hello, echo")).await.unwrap();
        let mut buf = [0u8; 11];
        soon(client.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hello, echo");

        client.shutdown(Shutdown::Write).unwrap();
        soon(server).await.unwrap().unwrap();
        assert_eq!(soon(client.read(&mut buf)).await.unwrap(), 0);
    });
    assert!(
        path.0.exists(),
        "dropping the listener leaves the socket file"
    );
    drop(path);
}

#[test]
fn a_unix_stream_pair_carries_bytes_both_ways() {
    block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        // b waits to read before anything is written.
        let reader = taskloop::spawn({
            let b = b.clone();
            async move {
                let mut buf = [0u8; 3];
                b.read_exact(&mut buf).await.map(|()| buf)
            }
        });
        yield_n(3).await;
        assert!(!reader.is_done());
        soon(a.write_all(b"a2b")).await.unwrap();
        assert_eq!(&soon(reader).await.unwrap().unwrap(), b"a2b");

        soon(b.write_all(b"b2a")).await.unwrap();
        let mut buf = [0u8; 3];
        soon(a.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"b2a");
        let debug = format!("{a:?}");
        assert!(debug.starts_with("UnixStream"), "{debug}");
    });
}

#[test]
fn half_closing_a_unix_stream_ends_the_peers_reads_and_keeps_the_other_direction() {
    block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        soon(a.write_all(b"last")).await.unwrap();
        a.shutdown(Shutdown::Write).unwrap();

        let mut buf = [0u8; 8];
        let n = soon(b.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"last", "data sent before the shutdown arrives");
        assert_eq!(
            soon(b.read(&mut buf)).await.unwrap(),
            0,
            "then end of stream"
        );
        let err = soon(b.read_exact(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        // The other direction is still open.
        soon(b.write_all(b"reply")).await.unwrap();
        let n = soon(a.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
        // Writing on the shut half fails.
        let err = soon(a.write(b"x")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn connecting_to_a_missing_path_or_a_stale_socket_file_is_an_ordinary_error() {
    let missing = TempPath::new("missing");
    let stale = TempPath::new("stale");
    block_on(async {
        let err = soon(UnixStream::connect(&missing)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");

        drop(UnixListener::bind(&stale).unwrap());
        let err = soon(UnixStream::connect(&stale)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        // The file is still there: binding again needs it removed first.
        let err = UnixListener::bind(&stale).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn an_accept_cancelled_while_waiting_leaves_the_connection_for_the_next_accept() {
    let path = TempPath::new("accept");
    block_on(async {
        let listener = Rc::new(UnixListener::bind(&path).unwrap());
        let waiting = taskloop::spawn({
            let listener = listener.clone();
            async move { listener.accept().await.map(|_| ()) }
        });
        yield_n(3).await;
        assert!(!waiting.is_done());
        waiting.cancel();
        assert!(soon(waiting).await.unwrap_err().is_cancelled());

        let client = soon(UnixStream::connect(&path)).await.unwrap();
        let (server, _) = soon(listener.accept()).await.unwrap();
        soon(client.write_all(b"hi")).await.unwrap();
        let mut buf = [0u8; 2];
        soon(server.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hi");
    });
}

// ---------------------------------------------------------------------------
// Unix datagrams

#[test]
fn a_unix_datagram_pair_carries_datagrams_both_ways() {
    block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        soon(a.send(b"one")).await.unwrap();
        soon(a.send(b"two")).await.unwrap();
        let mut buf = [0u8; 8];
        let n = soon(b.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"one", "datagrams keep their boundaries");
        let n = soon(b.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"two");

        soon(b.send(b"back")).await.unwrap();
        let n = soon(a.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        let debug = format!("{a:?}");
        assert!(debug.starts_with("UnixDatagram"), "{debug}");
    });
}

#[test]
fn a_unix_datagram_recv_cancelled_while_waiting_consumes_nothing() {
    block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let b = Rc::new(b);
        let waiting = taskloop::spawn({
            let b = b.clone();
            async move {
                let mut buf = [0u8; 8];
                b.recv(&mut buf).await
            }
        });
        yield_n(3).await;
        waiting.cancel();
        assert!(soon(waiting).await.unwrap_err().is_cancelled());
        soon(a.send(b"still here")).await.unwrap();
        let mut buf = [0u8; 16];
        let n = soon(b.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"still here");
    });
}

#[test]
fn bound_unix_datagram_sockets_exchange_with_send_to_and_recv_from() {
    let (pa, pb) = (TempPath::new("dgram-a"), TempPath::new("dgram-b"));
    block_on(async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        soon(a.send_to(b"to b", &pb)).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = soon(b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"to b");
        assert_eq!(from.as_pathname(), Some(pa.as_ref()));

        soon(b.send_to(b"to a", from.as_pathname().unwrap()))
            .await
            .unwrap();
        let (n, _) = soon(a.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"to a");

        // An unbound socket connected to a bound one.
        let c = UnixDatagram::unbound().unwrap();
        c.connect(&pb).unwrap();
        soon(c.send(b"from c")).await.unwrap();
        let (n, from) = soon(b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"from c");
        assert!(from.is_unnamed());
    });
}

// ---------------------------------------------------------------------------
// std conversions and the runtime requirement

#[test]
fn sockets_convert_to_std_and_back_and_still_work() {
    let path = TempPath::new("std");
    block_on(async {
        // UDP
        let a = UdpSocket::bind(loopback()).await.unwrap();
        let addr = a.local_addr().unwrap();
        let std_a = a.into_std();
        assert_eq!(std_a.local_addr().unwrap(), addr);
        let a = UdpSocket::from_std(std_a).unwrap();
        let b = UdpSocket::from_std(std::net::UdpSocket::bind(loopback()).unwrap()).unwrap();
        soon(b.send_to(b"std", addr)).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = soon(a.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"std");

        // Unix streams, the listener too.
        let listener =
            UnixListener::from_std(UnixListener::bind(&path).unwrap().into_std()).unwrap();
        let client =
            UnixStream::from_std(std::os::unix::net::UnixStream::connect(&path).unwrap()).unwrap();
        let (server, _) = soon(listener.accept()).await.unwrap();
        let server = UnixStream::from_std(server.into_std()).unwrap();
        soon(client.write_all(b"via std")).await.unwrap();
        let mut buf = [0u8; 7];
        soon(server.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"via std");

        // Unix datagrams.
        let (x, y) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let x = UnixDatagram::from_std(x).unwrap();
        let y = UnixDatagram::from_std(UnixDatagram::from_std(y).unwrap().into_std()).unwrap();
        soon(x.send(b"d")).await.unwrap();
        let n = soon(y.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"d");
    });
}

#[test]
fn sockets_created_outside_a_runtime_are_an_error() {
    fn outside(r: io::Result<impl std::fmt::Debug>) {
        let err = r.unwrap_err();
        assert!(
            err.to_string().contains("outside a taskloop runtime"),
            "{err}"
        );
    }
    let path = TempPath::new("outside");
    outside(futures::executor::block_on(UdpSocket::bind(loopback())));
    outside(UdpSocket::from_std(
        std::net::UdpSocket::bind(loopback()).unwrap(),
    ));
    outside(UnixStream::pair());
    outside(UnixDatagram::pair());
    outside(UnixDatagram::unbound());
    outside(UnixListener::bind(&path));
    assert!(!path.0.exists(), "a failed bind leaves no socket file");
    outside(UnixDatagram::bind(&path));
    assert!(!path.0.exists(), "a failed bind leaves no socket file");
    let listening = TempPath::new("outside-listening");
    let _std_listener = std::os::unix::net::UnixListener::bind(&listening).unwrap();
    outside(futures::executor::block_on(UnixStream::connect(&listening)));
}
