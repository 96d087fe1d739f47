//! Raw mio: the limit for I/O. `tcp_echo` as one hand-written, edge-triggered state machine
//! over one `mio::Poll` (no tasks, no wakers, no timers): every socket is drained until
//! `WouldBlock` on each event, as mio's own examples do. Supports only `tcp_echo`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::measure::Span;
use crate::workloads::{Contestant, ECHO_CONNS, ECHO_MSG, Report};

pub struct RawMio;

const LISTENER: Token = Token(usize::MAX);
/// Server-side connections get tokens from here up.
const SERVER_BASE: usize = 1 << 20;

/// A client: sends a message, waits for all of it back, `left` times.
struct Client {
    stream: TcpStream,
    /// Bytes of the current message written (while < ECHO_MSG) or read back.
    written: usize,
    read: usize,
    left: u64,
}

/// A server-side connection: echoes what it reads.
struct Server {
    stream: TcpStream,
    buf: [u8; 4096],
    /// Bytes read and not yet written back: `buf[start..end]`.
    start: usize,
    end: usize,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Client {
    /// Makes progress until the socket would block; returns whether this client is done.
    fn drive(&mut self, msg: &[u8; ECHO_MSG]) -> bool {
        let mut back = [0u8; ECHO_MSG];
        loop {
            if self.left == 0 {
                return true;
            }
            if self.written < ECHO_MSG {
                match self.stream.write(&msg[self.written..]) {
                    Ok(n) => self.written += n,
                    Err(e) if would_block(&e) => return false,
                    Err(e) => panic!("client write: {e}"),
                }
                continue;
            }
            match self.stream.read(&mut back[self.read..]) {
                Ok(0) => panic!("server closed early"),
                Ok(n) => {
                    self.read += n;
                    if self.read == ECHO_MSG {
                        self.read = 0;
                        self.written = 0;
                        self.left -= 1;
                    }
                }
                Err(e) if would_block(&e) => return false,
                Err(e) => panic!("client read: {e}"),
            }
        }
    }
}

impl Server {
    /// Echoes until the socket would block; returns false once the peer closed.
    fn drive(&mut self) -> bool {
        loop {
            while self.start < self.end {
                match self.stream.write(&self.buf[self.start..self.end]) {
                    Ok(n) => self.start += n,
                    Err(e) if would_block(&e) => return true,
                    Err(e) => panic!("server write: {e}"),
                }
            }
            self.start = 0;
            self.end = 0;
            match self.stream.read(&mut self.buf) {
                Ok(0) => return false,
                Ok(n) => self.end = n,
                Err(e) if would_block(&e) => return true,
                Err(e) => panic!("server read: {e}"),
            }
        }
    }
}

impl Contestant for RawMio {
    fn baseline() {
        let _ = Poll::new().expect("poll");
    }

    fn spawn_join(_n: u64) -> Option<Report> {
        None
    }
    fn yield_many(_n: u64) -> Option<Report> {
        None
    }
    fn chained_spawn(_n: u64) -> Option<Report> {
        None
    }
    fn chained_spawn_warm(_n: u64) -> Option<Report> {
        None
    }
    fn chained_spawn_await(_n: u64) -> Option<Report> {
        None
    }
    fn timers_cancel(_n: u64) -> Option<Report> {
        None
    }
    fn timers_cancel_loaded(_n: u64) -> Option<Report> {
        None
    }
    fn timers_fire(_n: u64) -> Option<Report> {
        None
    }
    fn wait_for_overhead(_n: u64) -> Option<Report> {
        None
    }
    fn wait_first_completed(_n: u64) -> Option<Report> {
        None
    }
    fn shutdown_pending(_n: u64) -> Option<Report> {
        None
    }

    fn tcp_echo(n: u64) -> Option<Report> {
        let mut poll = Poll::new().expect("poll");
        let mut events = Events::with_capacity(1024);
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut listener = TcpListener::bind(addr).expect("bind");
        let addr = listener.local_addr().unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        let msg = [7u8; ECHO_MSG];
        let span = Span::start();
        let mut clients: Vec<Client> = (0..ECHO_CONNS as usize)
            .map(|i| {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).unwrap();
                poll.registry()
                    .register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .unwrap();
                Client {
                    stream,
                    written: 0,
                    read: 0,
                    left: n,
                }
            })
            .collect();
        let mut servers: Vec<Option<Server>> = Vec::new();
        let mut done = 0;
        while done < clients.len() {
            poll.poll(&mut events, None).expect("poll");
            for event in events.iter() {
                match event.token() {
                    LISTENER => loop {
                        match listener.accept() {
                            Ok((mut stream, _)) => {
                                stream.set_nodelay(true).unwrap();
                                let token = Token(SERVER_BASE + servers.len());
                                poll.registry()
                                    .register(
                                        &mut stream,
                                        token,
                                        Interest::READABLE | Interest::WRITABLE,
                                    )
                                    .unwrap();
                                let mut server = Server {
                                    stream,
                                    buf: [0; 4096],
                                    start: 0,
                                    end: 0,
                                };
                                server.drive();
                                servers.push(Some(server));
                            }
                            Err(e) if would_block(&e) => break,
                            Err(e) => panic!("accept: {e}"),
                        }
                    },
                    Token(t) if t >= SERVER_BASE => {
                        if let Some(server) = servers[t - SERVER_BASE].as_mut()
                            && !server.drive()
                        {
                            servers[t - SERVER_BASE] = None;
                        }
                    }
                    Token(i) => {
                        let client = &mut clients[i];
                        if client.left > 0 && client.drive(&msg) {
                            done += 1;
                        }
                    }
                }
            }
        }
        let report = Report::new(span.stop(), ECHO_CONNS * n);
        drop(clients);
        drop(servers);
        Some(report)
    }
}
