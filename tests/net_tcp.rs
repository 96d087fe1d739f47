//! `net`: TCP over loopback on the real clock. Timeouts here are only hang
//! guards (generous, never asserted tight): a test that would hang fails.
//!
//! The tests that count file descriptors take `FDS` exclusively; all others
//! take it shared, so no other test opens sockets while one counts.

mod util;

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::RwLock;
use std::time::Duration;

use taskloop::net::{BufReader, TcpListener, TcpStream};
use taskloop::sync::{Event, Semaphore};
use taskloop::time::sleep;
use taskloop::{spawn, wait_for, yield_now};
use util::{block_on, secs};

/// Shared by every test, exclusive for the descriptor counts.
static FDS: RwLock<()> = RwLock::new(());

/// Runs `f` as a test that opens sockets (not while descriptors are counted).
fn net_test<F: std::future::Future>(f: F) -> F::Output {
    let _shared = FDS.read().unwrap_or_else(|p| p.into_inner());
    block_on(async {
        wait_for(f, secs(60))
            .await
            .expect("hang guard: the test took 60 s")
    })
}

/// A listener on a fresh loopback port.
async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A connected pair: (client, server).
async fn pair() -> (TcpStream, TcpStream) {
    let (l, addr) = listener().await;
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, peer) = l.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

/// Reads until the end of the stream.
async fn read_to_end(s: &TcpStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// The number of open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn echo_over_loopback_serves_a_thousand_concurrent_connections() {
    const N: usize = 1_000;
    net_test(async {
        let (l, addr) = listener().await;
        let server = spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..N {
                let (s, _) = l.accept().await?;
                conns.push(spawn(async move {
                    let data = read_to_end(&s).await?;
                    s.write_all(&data).await?;
                    Ok::<_, io::Error>(())
                }));
            }
            for c in conns {
                c.await.unwrap()?;
            }
            Ok::<_, io::Error>(())
        });
        // All N connections are open at once before any byte is sent. The
        // handshakes in flight are bounded below the listen backlog (128,
        // std's and mio's): a burst of 1,000 SYNs overflows any default
        // backlog (asyncio's is 100) and the kernel resets the excess.
        let connecting = Rc::new(Semaphore::new(64));
        let open = Rc::new(Cell::new(0));
        let all_open = Rc::new(Event::new());
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let (connecting, open, all_open) =
                    (connecting.clone(), open.clone(), all_open.clone());
                spawn(async move {
                    let permit = connecting.acquire().await.unwrap();
                    let s = TcpStream::connect(addr).await?;
                    drop(permit);
                    open.set(open.get() + 1);
                    if open.get() == N {
                        all_open.set();
                    }
                    all_open.wait().await.unwrap();
                    let msg = format!("hello from client {i}").repeat(i % 7 + 1);
                    s.write_all(msg.as_bytes()).await?;
                    s.shutdown(Shutdown::Write)?;
                    let back = read_to_end(&s).await?;
                    assert_eq!(back, msg.as_bytes());
                    Ok::<_, io::Error>(i)
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().unwrap(), i);
        }
        server.await.unwrap().unwrap();
    });
}

#[test]
fn a_half_closed_client_still_reads_what_the_server_writes_after_eof() {
    net_test(async {
        let (client, server) = pair().await;
        client.write_all(b"request").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&server).await.unwrap(), b"request");
        assert_eq!(read_to_end(&server).await.unwrap(), b"", "EOF again");
        server.write_all(b"response").await.unwrap();
        drop(server);
        assert_eq!(read_to_end(&client).await.unwrap(), b"response");
    });
}

#[test]
fn a_peer_reset_during_a_read_is_an_error_not_a_hang() {
    net_test(async {
        let (client, server) = pair().await;
        let client = Rc::new(client);
        let reader = spawn({
            let client = client.clone();
            async move {
                let mut buf = [0u8; 16];
                client.read(&mut buf).await
            }
        });
        yield_now().await.unwrap();
        assert!(!reader.is_done(), "waiting to read");
        // Data the server never reads: closing it then sends RST (Linux).
        client.write_all(b"never read").await.unwrap();
        let mut peek = [0u8; 1];
        server.peek(&mut peek).await.unwrap();
        drop(server);
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    });
}

#[test]
fn writing_to_a_closed_peer_is_an_error_and_raises_no_sigpipe() {
    net_test(async {
        let (client, server) = pair().await;
        drop(server);
        // The first writes may be accepted (the peer answers with RST);
        // then the socket reports the error. No SIGPIPE kills us meanwhile:
        // std's (so mio's) write is `sendto(.., MSG_NOSIGNAL)` on Linux, as
        // `strace -e sendto` of this test shows (`= -1 EPIPE`, no signal).
        // The test harness ignores SIGPIPE anyway, so the flag is what a
        // host that does not (a C program embedding Rust) relies on.
        let mut err = None;
        for _ in 0..1_000 {
            match client.write(&[0u8; 1024]).await {
                Ok(_) => sleep(Duration::from_millis(1)).await.unwrap(),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let err = err.expect("writing to a closed peer kept succeeding");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    net_test(async {
        let (l, addr) = listener().await;
        drop(l);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(!taskloop::is_cancelled(&err));
    });
}

#[test]
fn localhost_is_resolved_off_the_loop_and_each_address_is_tried() {
    net_test(async {
        let (l, addr) = listener().await;
        // "localhost" may resolve to ::1 first, where nothing listens: the
        // next address (127.0.0.1) is tried.
        let client = TcpStream::connect(format!("localhost:{}", addr.port()))
            .await
            .unwrap();
        let (server, _) = l.accept().await.unwrap();
        client.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        assert_eq!(client.peer_addr().unwrap(), addr);
    });
}

#[test]
fn a_cancelled_accept_takes_no_connection() {
    net_test(async {
        let (l, addr) = listener().await;
        let l = Rc::new(l);
        let acceptor = spawn({
            let l = l.clone();
            async move { l.accept().await }
        });
        yield_now().await.unwrap();
        acceptor.cancel();
        let err = acceptor.await.unwrap_err();
        assert!(err.is_cancelled());
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = l.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(server);
    });
}

#[test]
fn a_cancelled_read_loses_no_byte() {
    net_test(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let reader = spawn({
            let server = server.clone();
            async move {
                let mut buf = [0u8; 64];
                let r = server.read(&mut buf).await;
                // The task saw the cancellation as an io::Error and returns it.
                assert!(taskloop::is_cancelled(r.as_ref().unwrap_err()));
                r
            }
        });
        yield_now().await.unwrap();
        assert!(!reader.is_done());
        reader.cancel();
        assert!(reader.await.unwrap_err().is_cancelled());
        client.write_all(b"every byte").await.unwrap();
        drop(client);
        assert_eq!(read_to_end(&server).await.unwrap(), b"every byte");
    });
}

#[test]
fn a_read_cancelled_with_data_waiting_takes_nothing() {
    net_test(async {
        let (client, server) = pair().await;
        client.write_all(b"abc").await.unwrap();
        let mut peek = [0u8; 3];
        server.peek(&mut peek).await.unwrap();
        let server = Rc::new(server);
        let reader = spawn({
            let server = server.clone();
            async move {
                let mut buf = [0u8; 64];
                server.read(&mut buf).await
            }
        });
        reader.cancel(); // before it ever runs: delivered before the read
        assert!(reader.await.unwrap_err().is_cancelled());
        drop(client);
        assert_eq!(read_to_end(&server).await.unwrap(), b"abc");
    });
}

#[test]
fn a_cancelled_connect_closes_its_socket_and_a_fresh_one_works() {
    net_test(async {
        let (l, addr) = listener().await;
        let connecting = spawn(async move { TcpStream::connect(addr).await });
        yield_now().await.unwrap();
        connecting.cancel();
        let err = connecting.await.unwrap_err();
        assert!(err.is_cancelled());
        // The handshake may have completed in the kernel: that connection
        // is closed (EOF or reset), never left hanging.
        let (first, _) = l.accept().await.unwrap();
        assert!(matches!(
            read_to_end(&first).await.as_deref(),
            Ok(b"") | Err(_)
        ));
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        client.write_all(b"ok").await.unwrap();
        drop(client);
        assert_eq!(read_to_end(&server).await.unwrap(), b"ok");
    });
}

#[test]
fn read_line_and_lines_return_the_partial_last_line_at_eof() {
    net_test(async {
        let (client, server) = pair().await;
        let writer = spawn(async move {
            for piece in [&b"fir"[..], b"st\nsec", b"ond\r\n", b"\nlast, no newline"] {
                client.write_all(piece).await?;
                sleep(Duration::from_millis(2)).await.unwrap();
            }
            Ok::<_, io::Error>(())
        });
        let mut r = BufReader::with_capacity(4, server);
        let mut line = String::new();
        assert_eq!(r.read_line(&mut line).await.unwrap(), 6);
        assert_eq!(line, "first\n");
        let mut raw = Vec::new();
        r.read_until(b'\n', &mut raw).await.unwrap();
        assert_eq!(raw, b"second\r\n");
        let mut lines = r.lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some(""));
        assert_eq!(
            lines.next_line().await.unwrap().as_deref(),
            Some("last, no newline")
        );
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap(), None, "still the end");
        writer.await.unwrap().unwrap();
    });
}

#[test]
fn a_cancelled_read_line_keeps_the_partial_line_in_the_reader() {
    net_test(async {
        let (client, server) = pair().await;
        client.write_all(b"par").await.unwrap();
        let back = Rc::new(std::cell::RefCell::new(None));
        let reading = spawn({
            let back = back.clone();
            async move {
                let mut r = BufReader::new(server);
                let mut line = String::new();
                let res = r.read_line(&mut line).await;
                assert!(line.is_empty(), "nothing handed out: {line:?}");
                *back.borrow_mut() = Some(r);
                res
            }
        });
        // Give the reader time to buffer "par" and wait for more (the
        // assertions below hold whether or not it did).
        sleep(Duration::from_millis(20)).await.unwrap();
        assert!(!reading.is_done());
        reading.cancel();
        assert!(reading.await.unwrap_err().is_cancelled());
        let mut r = back.borrow_mut().take().unwrap();
        client.write_all(b"tial\nnext").await.unwrap();
        drop(client);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "partial\n");
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "next");
    });
}

#[test]
fn lines_are_a_stream_of_the_futures_ecosystem() {
    use futures::StreamExt;
    net_test(async {
        let (client, server) = pair().await;
        client.write_all(b"a\nb\nc").await.unwrap();
        drop(client);
        let (rd, _wr) = server.into_split();
        let lines: Vec<String> = BufReader::new(rd)
            .lines()
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(lines, ["a", "b", "c"]);
    });
}

#[test]
fn split_halves_read_and_write_in_two_tasks_at_once_and_reunite() {
    const LEN: usize = 4 << 20; // more than the socket buffers hold
    net_test(async {
        let (client, server) = pair().await;
        // The server echoes with its halves in two tasks.
        let (srd, swr) = server.into_split();
        let echo = spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = srd.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(srd);
                }
                swr.write_all(&buf[..n]).await?;
            }
            // dropping `swr` here shuts down writing: the client sees EOF.
        });
        let (crd, cwr) = client.into_split();
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let writer = spawn({
            let data = data.clone();
            async move {
                cwr.write_all(&data).await?;
                cwr.shutdown()?;
                Ok::<_, io::Error>(cwr)
            }
        });
        let reader = spawn(async move {
            let mut got = Vec::with_capacity(LEN);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match crd.read(&mut buf).await? {
                    0 => return Ok::<_, io::Error>((crd, got)),
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        let cwr = writer.await.unwrap().unwrap();
        let (crd, got) = reader.await.unwrap().unwrap();
        assert!(got == data, "the echo differs");
        echo.await.unwrap().unwrap();

        // Halves of different streams do not reunite; their own do.
        let (other, _peer) = pair().await;
        let (ord, owr) = other.into_split();
        let err = crd.reunite(owr).unwrap_err();
        let (crd, owr) = (err.0, err.1);
        let client = crd.reunite(cwr).unwrap();
        assert!(client.local_addr().is_ok());
        drop(owr.reunite(ord).unwrap());
    });
}

#[test]
fn borrowed_halves_work_under_join() {
    net_test(async {
        let (mut client, server) = pair().await;
        let (rd, wr) = client.split();
        let write = async {
            wr.write_all(b"ping").await.unwrap();
            wr.shutdown().unwrap();
        };
        let serve = async {
            assert_eq!(read_to_end(&server).await.unwrap(), b"ping");
            server.write_all(b"pong").await.unwrap();
            server.shutdown(Shutdown::Write).unwrap();
        };
        let read = async {
            let mut buf = [0u8; 4];
            rd.read_exact(&mut buf).await.unwrap();
            buf
        };
        let ((), (), got) = futures::join!(write, serve, read);
        assert_eq!(&got, b"pong");
    });
}

#[test]
fn from_std_and_into_std_round_trip_without_losing_bytes() {
    net_test(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let l = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(std_client).unwrap();
        let (server, _) = l.accept().await.unwrap();
        client.write_all(b"before").await.unwrap();
        let mut buf = [0u8; 6];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"before");

        // Back to std: blocking again, and the unread bytes are there.
        server.write_all(b"for std").await.unwrap();
        let std_client = client.into_std().unwrap();
        std_client.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 7];
        io::Read::read_exact(&mut &std_client, &mut buf).unwrap();
        assert_eq!(&buf, b"for std");
        // And to taskloop once more.
        let client = TcpStream::from_std(std_client).unwrap();
        server.write_all(b"again").await.unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"again");

        let std_listener = l.into_std().unwrap();
        assert_eq!(std_listener.local_addr().unwrap(), addr);
        std_listener.set_nonblocking(false).unwrap();
        let _c = std::net::TcpStream::connect(addr).unwrap();
        assert!(std_listener.accept().is_ok());
    });
}

#[test]
fn a_thousand_connections_opened_and_closed_leak_no_descriptor() {
    let _exclusive = FDS.write().unwrap_or_else(|p| p.into_inner());
    let before = open_fds();
    block_on(async {
        let (l, addr) = listener().await;
        let l = Rc::new(l);
        let server = spawn({
            let l = l.clone();
            async move {
                for _ in 0..1_000 {
                    let (s, _) = l.accept().await?;
                    spawn(async move { read_to_end(&s).await });
                }
                Ok::<_, io::Error>(())
            }
        });
        for batch in 0..10 {
            let clients: Vec<_> = (0..100)
                .map(|i| {
                    spawn(async move {
                        let s = TcpStream::connect(addr).await?;
                        s.write_all(format!("{batch}/{i}").as_bytes()).await?;
                        Ok::<_, io::Error>(())
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap().unwrap();
            }
        }
        wait_for(server, secs(60)).await.unwrap().unwrap().unwrap();
        // Let the per-connection tasks see their EOFs.
        for _ in 0..100 {
            if taskloop::all_tasks().len() <= 1 {
                break;
            }
            sleep(Duration::from_millis(10)).await.unwrap();
        }
        // A few more in this process while the runtime is up: not ~1000.
        assert!(open_fds() < before + 20, "{} open vs {before}", open_fds());
    });
    let after = open_fds();
    assert!(
        after <= before + 3,
        "descriptors grew from {before} to {after}"
    );
}

#[test]
fn socket_options_read_back_what_was_set() {
    net_test(async {
        let (client, _server) = pair().await;
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.set_ttl(42).unwrap();
        assert_eq!(client.ttl().unwrap(), 42);
        let (l, _) = listener().await;
        l.set_ttl(17).unwrap();
        assert_eq!(l.ttl().unwrap(), 17);
        let debug = format!("{client:?} {l:?}");
        assert!(
            debug.contains("TcpStream") && debug.contains("TcpListener"),
            "{debug}"
        );
    });
}

#[test]
fn a_socket_outside_a_runtime_is_an_error() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_std(std_listener).unwrap_err();
    assert!(
        err.to_string().contains("outside a taskloop runtime"),
        "{err}"
    );
}

#[cfg(feature = "futures-io")]
#[test]
fn futures_io_copy_works_over_the_stream_and_a_bufreader() {
    use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    net_test(async {
        let (client, server) = pair().await;
        let mut c = &client;
        c.write_all(b"x\ny\n").await.unwrap();
        c.close().await.unwrap();
        let mut r = BufReader::new(server);
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut r, &mut line).await.unwrap();
        assert_eq!(line, "x\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut rest).await.unwrap();
        assert_eq!(rest, b"y\n");
    });
}

#[test]
fn a_cancellation_delivered_at_a_lines_stream_poll_is_an_item_and_loses_nothing() {
    use futures::StreamExt;
    net_test(async {
        let (client, server) = pair().await;
        let mut lines = BufReader::new(server).lines();
        client.write_all(b"kept\n").await.unwrap();
        util::me().cancel();
        let err = lines.next().await.unwrap().unwrap_err();
        assert!(taskloop::is_cancelled(&err), "{err}");
        util::me().uncancel();
        assert_eq!(lines.next().await.unwrap().unwrap(), "kept");
        let err = {
            util::me().cancel();
            lines.next_line().await.unwrap_err()
        };
        assert!(taskloop::is_cancelled(&err));
        util::me().uncancel();
        drop(client);
        assert!(lines.next().await.is_none());
    });
}
