//! A TCP line-echo server with a per-connection idle timeout.
//!
//! Each connection gets a task; each line read is written back. A client
//! silent for longer than the idle timeout is told so and disconnected
//! (`wait_for` around the read: the read is cancelled, nothing it had not
//! consumed is lost). Ctrl-C stops the server after the open connections
//! said goodbye (`taskloop::run` cancels the main task; the connection
//! tasks are cancelled and awaited at shutdown).
//!
//! Run it, then talk to it with `nc 127.0.0.1 7878`:
//!
//! ```sh
//! RUST_LOG=info cargo run --example echo_server -- 127.0.0.1:7878 --idle-ms 10000
//! ```

use std::time::Duration;

use taskloop::net::{BufReader, TcpListener, TcpStream};
use taskloop::{spawn_named, wait_for};

async fn serve(stream: TcpStream, idle: Duration) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    let (read, write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match wait_for(lines.read_line(&mut line), idle).await {
            Ok(Ok(0)) => {
                log::info!("{peer}: closed");
                return Ok(());
            }
            Ok(Ok(_)) => write.write_all(line.as_bytes()).await?,
            Ok(Err(e)) => return Err(e),
            Err(e) if e.is_elapsed() => {
                log::info!("{peer}: idle for {idle:?}, disconnecting");
                write.write_all(b"idle timeout, bye\n").await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn main_async() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:7878".to_owned();
    let mut idle = Duration::from_secs(10);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--idle-ms" => {
                let ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(10_000);
                idle = Duration::from_millis(ms);
            }
            other => addr = other.to_owned(),
        }
    }
    let listener = TcpListener::bind(addr.as_str()).await?;
    // The first line of output, which the tests read to find the port.
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        log::info!("{peer}: connected");
        drop(spawn_named(format!("conn-{peer}"), async move {
            if let Err(e) = serve(stream, idle).await {
                if !taskloop::is_cancelled(&e) {
                    log::warn!("{peer}: {e}");
                }
            }
        }));
    }
}

fn main() {
    env_logger::init();
    if let Err(e) = taskloop::run(main_async()) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
