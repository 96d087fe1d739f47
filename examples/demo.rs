//! taskloop's main demo: a small command-line "mirror prober", written the way
//! an asyncio program would be.
//!
//! It probes simulated mirrors (each answers after a latency, some fail, one
//! hangs), and shows the waiting primitives working together:
//! * `wait_for` bounds each probe and waits for its clean-up on timeout;
//! * `as_completed` prints results as they arrive;
//! * `wait(FirstCompleted)` races the mirrors for the fastest one;
//! * a task group downloads "chunks" and aborts all of them on the first
//!   failure, waiting for every clean-up, and reports the typed errors;
//! * a work queue feeds a pool of workers, at most two probing at once
//!   (a `Semaphore`), with results coming back over a channel.
//!
//! Run with `cargo run --example demo` (add `RUST_LOG=debug` for the log).

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use taskloop::sync::{Queue, Semaphore, mpsc};
use taskloop::time::sleep;
use taskloop::{Cancelled, ReturnWhen, as_completed, spawn_named, task_group, wait, wait_for};

/// A simulated mirror.
#[derive(Clone, Copy, Debug)]
struct Mirror {
    name: &'static str,
    latency_ms: u64,
    broken: bool,
}

const MIRRORS: [Mirror; 5] = [
    Mirror {
        name: "eu-1",
        latency_ms: 40,
        broken: false,
    },
    Mirror {
        name: "us-1",
        latency_ms: 15,
        broken: false,
    },
    Mirror {
        name: "ap-1",
        latency_ms: 70,
        broken: false,
    },
    Mirror {
        name: "eu-2",
        latency_ms: 25,
        broken: true,
    },
    Mirror {
        name: "hung",
        latency_ms: 60_000,
        broken: false,
    },
];

/// Why a probe failed.
#[derive(Debug)]
enum ProbeError {
    Broken(&'static str),
    Cancelled(Cancelled),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Broken(name) => write!(f, "{name} answered with garbage"),
            ProbeError::Cancelled(_) => f.write_str("probe cancelled"),
        }
    }
}

/// The cancellation is the source, so a task group tells a cancelled probe
/// from a failed one (`taskloop::is_cancelled` walks the chain).
impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Cancelled(c) => Some(c),
            ProbeError::Broken(_) => None,
        }
    }
}

impl From<Cancelled> for ProbeError {
    fn from(c: Cancelled) -> ProbeError {
        ProbeError::Cancelled(c)
    }
}

/// Probes one mirror; on cancellation it "closes its connection" (an
/// asynchronous clean-up) before returning.
async fn probe(m: Mirror) -> Result<Duration, ProbeError> {
    let started = Instant::now();
    if let Err(c) = sleep(Duration::from_millis(m.latency_ms)).await {
        sleep(Duration::from_millis(5)).await.ok(); // polite close
        println!("  [{}] cancelled, connection closed", m.name);
        return Err(c.into());
    }
    if m.broken {
        return Err(ProbeError::Broken(m.name));
    }
    Ok(started.elapsed())
}

async fn main_async() -> Result<(), Box<dyn std::error::Error>> {
    println!("1. every mirror, bounded by wait_for(100 ms), reported as_completed:");
    let probes = MIRRORS.map(|m| {
        spawn_named(format!("probe-{}", m.name), async move {
            (m.name, wait_for(probe(m), Duration::from_millis(100)).await)
        })
    });
    let mut results = as_completed(probes, None);
    while let Some(next) = results.next().await {
        let (name, outcome) = next.map_err(|_| "interrupted")?.await?;
        match outcome {
            Ok(Ok(took)) => println!("  {name:5} ok in {} ms", took.as_millis()),
            Ok(Err(e)) => println!("  {name:5} failed: {e}"),
            Err(e) => println!("  {name:5} timed out ({e})"),
        }
    }

    println!("2. the fastest healthy mirror, with wait(FirstCompleted):");
    let healthy: Vec<_> = MIRRORS
        .iter()
        .filter(|m| !m.broken)
        .map(|&m| {
            spawn_named(format!("race-{}", m.name), async move {
                probe(m).await.map(|_| m.name)
            })
        })
        .collect();
    let raced = wait(healthy, Duration::from_secs(1), ReturnWhen::FirstCompleted)
        .await
        .map_err(|e| e.to_string())?;
    for winner in raced.done {
        println!("  winner: {}", winner.await?.map_err(|e| e.to_string())?);
    }
    for loser in &raced.pending {
        loser.cancel(); // a request: each closes its connection
    }
    for loser in raced.pending {
        let _ = loser.await; // wait for their clean-up
    }

    println!("3. download chunks in a task group; one bad mirror aborts them all:");
    let outcome = task_group(|tg| async move {
        for m in MIRRORS.into_iter().take(4) {
            tg.spawn_named(format!("chunk-from-{}", m.name), probe(m))?;
        }
        Ok::<_, std::io::Error>("all chunks")
    })
    .await;
    match outcome {
        Ok(what) => println!("  downloaded {what}"),
        Err(e) => {
            println!("  group failed after every clean-up: {e}");
            // The errors are values: take the probe errors out, by type.
            if let (Some(probe_errors), _) = e.split_by_type::<ProbeError>() {
                for f in probe_errors.leaves() {
                    let who = f.task.as_ref().map_or("the body", |t| t.name.as_str());
                    println!("    {who}: {:?}", f.downcast_ref::<ProbeError>().unwrap());
                }
            }
        }
    }

    println!("4. a work queue and a pool of 3 workers, at most 2 probing at once:");
    let jobs = Rc::new(Queue::bounded(2));
    let probing = Rc::new(Semaphore::new(2));
    let (results, mut inbox) = mpsc::unbounded();
    let workers: Vec<_> = (1..=3)
        .map(|w| {
            let (jobs, probing, results) = (jobs.clone(), probing.clone(), results.clone());
            spawn_named(format!("worker-{w}"), async move {
                // `get` fails once the queue is shut down and drained.
                while let Ok(m) = jobs.get().await? {
                    let outcome = {
                        let _permit = probing.acquire().await?;
                        wait_for(probe(m), Duration::from_millis(100)).await
                    };
                    let line = match outcome {
                        Ok(Ok(took)) => format!("ok in {} ms", took.as_millis()),
                        Ok(Err(e)) => format!("failed: {e}"),
                        Err(e) => format!("timed out ({e})"),
                    };
                    // Only fails if the receiver is gone: nobody to tell.
                    let _ = results
                        .send(format!("worker-{w} {}: {line}", m.name))
                        .await?;
                    let _ = jobs.task_done();
                }
                Ok::<_, Cancelled>(())
            })
        })
        .collect();
    drop(results);
    for m in MIRRORS {
        // Waits while the queue is full: the producer goes at the workers' pace.
        jobs.put(m).await?.map_err(|_| "queue shut down")?;
    }
    jobs.join().await?; // every job marked done
    jobs.shutdown(false);
    while let Some(line) = inbox.recv().await? {
        println!("  {line}");
    }
    for w in workers {
        w.await??;
    }
    Ok(())
}

fn main() {
    let _ = env_logger::try_init();
    if let Err(e) = taskloop::run(main_async()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
