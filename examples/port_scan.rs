//! Probes `host:port` pairs concurrently and prints each result as it
//! arrives: `as_completed` over one task per target, a connect timeout each
//! (`wait_for`, which waits for the cancelled connect to close its socket),
//! and at most `--concurrency` connects at once (a `Semaphore`).
//!
//! ```sh
//! cargo run --example port_scan -- 127.0.0.1:22 127.0.0.1:80 localhost:8080
//! cargo run --example port_scan -- --timeout-ms 300 --concurrency 2 10.255.255.1:80
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use taskloop::net::TcpStream;
use taskloop::sync::Semaphore;
use taskloop::{as_completed, spawn_named, wait_for};

/// What a probe found.
enum Found {
    Open(Duration),
    Closed(std::io::Error),
    TimedOut,
}

async fn main_async() -> Result<(), taskloop::BoxError> {
    let mut timeout = Duration::from_millis(1000);
    let mut concurrency = 64;
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--timeout-ms" => {
                timeout = Duration::from_millis(args.next().ok_or("--timeout-ms N")?.parse()?)
            }
            "--concurrency" => concurrency = args.next().ok_or("--concurrency N")?.parse()?,
            _ => targets.push(arg),
        }
    }
    if targets.is_empty() {
        return Err("usage: port_scan [--timeout-ms N] [--concurrency N] HOST:PORT...".into());
    }
    let limit = Rc::new(Semaphore::new(concurrency));
    let probes = targets.into_iter().map(|target| {
        let limit = limit.clone();
        spawn_named(format!("probe-{target}"), async move {
            let _permit = limit.acquire().await?;
            let started = Instant::now();
            let found = match wait_for(TcpStream::connect(target.as_str()), timeout).await {
                Ok(Ok(_stream)) => Found::Open(started.elapsed()),
                Ok(Err(e)) => Found::Closed(e),
                Err(e) if e.is_elapsed() => Found::TimedOut,
                Err(e) => return Err(e.into()),
            };
            Ok::<_, taskloop::BoxError>((target, found))
        })
    });
    let mut results = as_completed(probes, None);
    let (mut open, mut total) = (0, 0);
    while let Some(next) = results.next().await {
        let (target, found) = next.map_err(|e| e.to_string())?.await??;
        total += 1;
        match found {
            Found::Open(took) => {
                open += 1;
                println!("{target} open ({} ms)", took.as_millis());
            }
            Found::Closed(e) => println!("{target} closed ({e})"),
            Found::TimedOut => println!(
                "{target} filtered (no answer in {} ms)",
                timeout.as_millis()
            ),
        }
    }
    println!("{open} of {total} open");
    Ok(())
}

fn main() {
    env_logger::init();
    if let Err(e) = taskloop::run(main_async()) {
        eprintln!("port_scan: {e}");
        std::process::exit(2);
    }
}
