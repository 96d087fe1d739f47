//! A command-line tool that stops cleanly on Ctrl-C, as an asyncio program
//! run by `asyncio.run` does.
//!
//! It "checksums" a batch of files: each job hashes on a worker thread
//! (`taskloop::to_thread`) and then "uploads" the result (an async sleep),
//! at most four at once, with a progress line per job. Press Ctrl-C while
//! it runs:
//!
//! * the first Ctrl-C cancels the main task; its clean-up cancels the jobs
//!   still running, waits for them, reports which were cancelled, and
//!   writes the partial report; the program exits with status 130;
//! * a second Ctrl-C during that clean-up exits at once (status 130).
//!
//! Run with `cargo run --example ctrl_c` (pass a number for the batch size).

use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use taskloop::sync::Semaphore;
use taskloop::time::sleep;
use taskloop::{Cancelled, Task, spawn_named, to_thread};

/// One job: hash the "file" on a worker thread, then upload the digest.
async fn job(n: u32, slots: Rc<Semaphore>) -> Result<u64, Cancelled> {
    let _slot = slots.acquire().await?;
    let digest = to_thread(move || {
        // Stands for reading and hashing a file: real work off the loop.
        std::thread::sleep(Duration::from_millis(300 + 40 * u64::from(n % 5)));
        (0..200_000u64).fold(u64::from(n), |h, i| {
            h.rotate_left(5) ^ i.wrapping_mul(0x9e37_79b9)
        })
    })
    .await
    .map_err(|_| Cancelled)?;
    // The upload: an async wait, a checkpoint.
    sleep(Duration::from_millis(200)).await?;
    Ok(digest)
}

async fn main_task(total: u32) -> Result<(), Cancelled> {
    let t0 = Instant::now();
    let slots = Rc::new(Semaphore::new(4));
    let mut jobs: Vec<(u32, Task<Result<u64, Cancelled>>)> = (1..=total)
        .map(|n| (n, spawn_named(format!("job {n}"), job(n, slots.clone()))))
        .collect();
    println!(
        "checksumming {total} files, 4 at a time (pid {}; Ctrl-C to stop)",
        std::process::id()
    );
    let mut finished = 0;
    let mut cancelled = Vec::new();
    for (n, task) in jobs.iter_mut() {
        // Awaiting a task is a checkpoint: the Ctrl-C's cancellation is
        // forwarded to the awaited job, and comes back here once that job
        // has ended.
        match task.await {
            Ok(Ok(digest)) => {
                finished += 1;
                println!(
                    "[{finished:>2}/{total}] file {n:>2}: {digest:016x} ({:.1} s)",
                    t0.elapsed().as_secs_f64()
                );
            }
            _ => {
                cancelled.push(*n);
                break;
            }
        }
    }
    if cancelled.is_empty() {
        println!("all {total} files checksummed");
        return Ok(());
    }
    // The clean-up, asynchronous: cancel the jobs not awaited yet and wait
    // for each to end (a job that finished meanwhile still counts).
    println!("interrupted: cancelling the remaining jobs");
    let rest = &mut jobs[finished + 1..];
    for (_, task) in rest.iter() {
        task.cancel();
    }
    for (n, task) in rest.iter_mut() {
        match task.await {
            Ok(Ok(_)) => finished += 1,
            _ => cancelled.push(*n),
        }
    }
    let done = finished;
    // Writing the partial report is itself async work.
    sleep(Duration::from_millis(100)).await.ok();
    println!(
        "cancelled {} job(s): {:?}; partial report written for {} file(s)",
        cancelled.len(),
        cancelled,
        done
    );
    Err(Cancelled)
}

fn main() -> ExitCode {
    let total = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    match taskloop::run_cli(main_task(total)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(interrupted) => {
            eprintln!("{interrupted}");
            interrupted.into() // 130
        }
    }
}
