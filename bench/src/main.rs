//! `taskloop-bench`: taskloop versus tokio and smol on the same single-threaded workloads.
//!
//! ```text
//! cargo run --release -p taskloop-bench                      # all workloads, 15 repetitions
//! cargo run --release -p taskloop-bench -- --quick           # small N, 3 reps (CI smoke run)
//! cargo run --release -p taskloop-bench -- --write           # also rewrite docs/benchmarks.md
//! cargo run --release -p taskloop-bench -- --only spawn_join --reps 9
//! ```
//!
//! The runner (this process) never measures anything itself. For every repetition, workload
//! and contestant it re-executes its own binary as `--child <contestant> <workload> <n>`; the
//! child builds the runtime, times the workload only, and prints one line of `key=value` pairs
//! (wall/CPU time from `Instant`/`getrusage`, peak RSS from `VmHWM`). Contestants are run
//! round-robin within each repetition (the starting one rotates every repetition) so machine
//! noise hits all of them alike; the table shows medians and the taskloop/other ratios
//! (lower is better).

mod contestants;
mod measure;
mod report;
mod workloads;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use workloads::{SPECS, Spec, Workload};

const DEFAULT_REPS: usize = 15;
const QUICK_REPS: usize = 3;
/// A child still running after this long is killed and counted as a failure.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

const USAGE: &str = "\
usage: cargo run --release -p taskloop-bench -- [options]
  --quick            small N and 3 repetitions (CI smoke run)
  --reps N           repetitions per (workload, contestant); default 15, 3 with --quick
  --only W[,W...]    run only these workloads
  --write            write the results into docs/benchmarks.md (between the result markers)
  --scale            instead of the table: spawn_join, timers_fire, shutdown_pending and
                     as_completed_timeout at 1x, 10x and 100x their size, CPU ns per item (median
                     of 3), to show how cost grows with work
  --syscalls         also run each (workload, contestant) once under `strace -c -f` and report
                     system calls per operation (the workload's minus an empty run's)
  --list             list the workloads and exit";

struct Options {
    quick: bool,
    scale: bool,
    syscalls: bool,
    reps: usize,
    only: Vec<&'static Spec>,
    write: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    match parse_args(&args) {
        Ok(Some(options)) => runner(&options, &args),
        Ok(None) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut quick = false;
    let mut syscalls = false;
    let mut scale = false;
    let mut reps = None;
    let mut only = Vec::new();
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--syscalls" => syscalls = true,
            "--scale" => scale = true,
            "--write" => write = true,
            "--reps" => {
                let value = args.next().ok_or("--reps needs a value")?;
                match value.parse::<usize>() {
                    Ok(n) if n > 0 => reps = Some(n),
                    _ => return Err(format!("bad --reps value {value:?}")),
                }
            }
            "--only" => {
                let value = args.next().ok_or("--only needs a workload name")?;
                for name in value.split(',') {
                    let spec = workloads::spec_by_name(name)
                        .ok_or_else(|| format!("unknown workload {name:?} (try --list)"))?;
                    only.push(spec);
                }
            }
            "--list" => {
                for spec in SPECS {
                    let legend = spec.legend.replace("{n}", &report::thousands(spec.n_full));
                    println!("{:<22} {legend}", spec.name);
                }
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if only.is_empty() {
        only = SPECS.iter().collect();
    }
    let reps = reps.unwrap_or(if quick { QUICK_REPS } else { DEFAULT_REPS });
    Ok(Some(Options {
        quick,
        scale,
        syscalls,
        reps,
        only,
        write,
    }))
}

/// Child mode: run one workload for one contestant and print one result line.
fn child(args: &[String]) -> ExitCode {
    let [contestant, workload, n] = args else {
        eprintln!("usage: --child <contestant> <workload> <n>");
        return ExitCode::from(2);
    };
    let Some(entry) = contestants::by_name(contestant) else {
        eprintln!("unknown contestant {contestant:?}");
        return ExitCode::from(2);
    };
    let workload = match workload.as_str() {
        "baseline" => Workload::Baseline,
        name => match workloads::spec_by_name(name) {
            Some(spec) => spec.workload,
            None => {
                eprintln!("unknown workload {name:?}");
                return ExitCode::from(2);
            }
        },
    };
    let Ok(n) = n.parse::<u64>() else {
        eprintln!("bad n {n:?}");
        return ExitCode::from(2);
    };
    let Some(report) = (entry.run)(workload, n) else {
        println!("unsupported");
        return ExitCode::SUCCESS;
    };
    let wall_ns = report.sample.wall.as_nanos() as f64;
    let cpu_ns = report.sample.cpu.as_nanos() as f64;
    let ops = report.ops.max(1) as f64;
    let mut line = String::from("ok");
    let common = [
        ("wall_ns", wall_ns),
        ("cpu_ns", cpu_ns),
        ("wall_ms", wall_ns / 1e6),
        ("cpu_ms", cpu_ns / 1e6),
        ("ops", ops),
        ("ns_per_op", wall_ns / ops),
        ("us_per_op", wall_ns / 1e3 / ops),
        ("cpu_ns_per_op", cpu_ns / ops),
        ("peak_rss_kib", measure::peak_rss_kib() as f64),
    ];
    for (key, value) in common.into_iter().chain(report.extra) {
        line.push_str(&format!(" {key}={value}"));
    }
    println!("{line}");
    ExitCode::SUCCESS
}

/// What one child run produced.
enum Outcome {
    Metrics(BTreeMap<String, f64>),
    Unsupported,
}

fn run_child(contestant: &str, workload: &str, n: u64) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args(["--child", contestant, workload, &n.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn child: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {CHILD_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout)
            .map_err(|e| format!("read child stdout: {e}"))?;
    }
    if !status.success() {
        return Err(format!("child exited with {status}"));
    }
    let line = stdout.lines().last().unwrap_or("").trim();
    if line == "unsupported" {
        return Ok(Outcome::Unsupported);
    }
    let fields = line
        .strip_prefix("ok ")
        .ok_or_else(|| format!("unexpected child output {line:?}"))?;
    let mut metrics = BTreeMap::new();
    for field in fields.split_whitespace() {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("bad field {field:?}"))?;
        let value = value
            .parse()
            .map_err(|_| format!("bad value in {field:?}"))?;
        metrics.insert(key.to_string(), value);
    }
    Ok(Outcome::Metrics(metrics))
}

/// One measurement: a child run, preceded by a baseline child when the workload needs one
/// (then `bytes_per_op` = (peak RSS - baseline peak RSS) / n is added to the metrics).
fn measure(contestant: &str, spec: &Spec, n: u64) -> Result<Outcome, String> {
    let baseline_kib = if spec.needs_baseline {
        match run_child(contestant, "baseline", 0).map_err(|e| format!("baseline: {e}"))? {
            Outcome::Metrics(m) => m.get("peak_rss_kib").copied(),
            Outcome::Unsupported => None,
        }
    } else {
        None
    };
    let mut outcome = run_child(contestant, spec.name, n)?;
    if let (Outcome::Metrics(metrics), Some(base)) = (&mut outcome, baseline_kib)
        && let Some(&peak) = metrics.get("peak_rss_kib")
    {
        let bytes_per_op = (peak - base) * 1024.0 / n as f64;
        metrics.insert("bytes_per_op".into(), bytes_per_op);
    }
    Ok(outcome)
}

/// The `--scale` table: ns per item at 1x, 10x and 100x, per contestant.
fn scale_table(names: &[&str], quick: bool) -> ExitCode {
    let loads: [(&str, u64); 4] = [
        ("spawn_join", 10_000),
        ("timers_fire", 10_000),
        ("shutdown_pending", 10_000),
        ("as_completed_timeout", 4_000),
    ];
    let factors: &[u64] = if quick { &[1, 10] } else { &[1, 10, 100] };
    println!(
        "CPU ns per item by size (median of 3 runs); growth = ns/item at the largest size / at 1x"
    );
    print!("{:<22}{:<10}", "workload", "");
    for f in factors {
        print!("{:>14}", format!("{}x", f));
    }
    println!("{:>10}", "growth");
    let mut failures = 0;
    for (workload, base) in loads {
        for name in names {
            let mut cells = Vec::new();
            for f in factors {
                let n = base * f;
                let mut samples = Vec::new();
                for _ in 0..3 {
                    match run_child(name, workload, n) {
                        Ok(Outcome::Metrics(m)) => {
                            samples.push(m.get("cpu_ns").copied().unwrap_or(0.0) / n as f64)
                        }
                        Ok(Outcome::Unsupported) => break,
                        Err(e) => {
                            eprintln!("FAILED {name} {workload} (n={n}): {e}");
                            failures += 1;
                            break;
                        }
                    }
                }
                samples.sort_by(f64::total_cmp);
                cells.push(samples.get(samples.len() / 2).copied());
            }
            if cells.iter().all(Option::is_none) {
                continue;
            }
            print!("{:<22}{:<10}", workload, name);
            for c in &cells {
                match c {
                    Some(v) => print!("{:>14}", format!("{v:.1}")),
                    None => print!("{:>14}", "-"),
                }
            }
            match (
                cells.first().copied().flatten(),
                cells.last().copied().flatten(),
            ) {
                (Some(a), Some(b)) if a > 0.0 => println!("{:>10}", format!("{:.2}x", b / a)),
                _ => println!("{:>10}", "-"),
            }
        }
    }
    if failures > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn runner(options: &Options, args: &[String]) -> ExitCode {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; use `cargo run --release -p taskloop-bench`");
    }
    // Other processes on the machine add noise; measure how much (reported at the end).
    let other_load = measure::OtherLoad::start();
    let names: Vec<&str> = contestants::CONTESTANTS.iter().map(|c| c.name).collect();
    if options.scale {
        return scale_table(&names, options.quick);
    }
    let n_of = |spec: &Spec| {
        if options.quick {
            spec.n_quick
        } else {
            spec.n_full
        }
    };
    let mut results = report::Results::new(&options.only, &names);
    let mut unsupported: HashSet<(&str, &str)> = HashSet::new();
    let mut failures = 0usize;
    let started = Instant::now();

    for rep in 0..options.reps {
        for spec in &options.only {
            let n = n_of(spec);
            // Round-robin, starting one contestant further along each repetition.
            for k in 0..names.len() {
                let contestant = names[(rep + k) % names.len()];
                if unsupported.contains(&(spec.name, contestant)) {
                    continue;
                }
                match measure(contestant, spec, n) {
                    Ok(Outcome::Metrics(metrics)) => {
                        results.push(spec.name, contestant, metrics);
                    }
                    Ok(Outcome::Unsupported) => {
                        unsupported.insert((spec.name, contestant));
                    }
                    Err(e) => {
                        eprintln!("FAILED {contestant} {} (n={n}): {e}", spec.name);
                        results.fail(spec.name, contestant);
                        failures += 1;
                    }
                }
            }
        }
        eprintln!(
            "rep {}/{} done ({:.1} s)",
            rep + 1,
            options.reps,
            started.elapsed().as_secs_f64()
        );
    }

    let legend: Vec<String> = options
        .only
        .iter()
        .map(|spec| {
            let legend = spec.legend.replace("{n}", &report::thousands(n_of(spec)));
            format!("{}: {legend}", spec.name)
        })
        .collect();
    let table = results.table(legend);
    println!();
    println!(
        "medians of {} repetitions{}; ratio = {}/other, lower is better for {}",
        options.reps,
        if options.quick { " (quick mode)" } else { "" },
        names[0],
        names[0]
    );
    println!("{}", table.text());
    let others = other_load.and_then(|load| load.cores());
    if let Some(cores) = others.filter(|&c| c > 0.1) {
        eprintln!("warning: other processes used {cores:.2} cores on average: results are noisy");
    }

    if options.write {
        let command = report::command_line(args);
        let path = report::doc_path();
        match report::write_doc(&path, &table, &command, options.reps, options.quick, others) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if options.syscalls {
        syscall_table(&options.only, &names, &n_of);
    }
    if failures > 0 {
        eprintln!("{failures} child run(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// System calls of one child run, counted by `strace -c -f` (all threads).
fn count_syscalls(contestant: &str, workload: &str, n: u64) -> Result<Option<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = std::env::temp_dir().join(format!("taskloop-bench-strace-{}", std::process::id()));
    let output = Command::new("strace")
        .args(["-c", "-f", "-o"])
        .arg(&out)
        .arg(&exe)
        .args(["--child", contestant, workload, &n.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("strace: {e} (is strace installed?)"))?;
    if !output.status.success() {
        return Err(format!("strace child exited with {}", output.status));
    }
    if String::from_utf8_lossy(&output.stdout).trim() == "unsupported" {
        let _ = std::fs::remove_file(&out);
        return Ok(None);
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("read strace output: {e}"))?;
    let _ = std::fs::remove_file(&out);
    // The summary's last line: "100.00  <secs>  <usecs/call>  <calls>  [<errors>]  total".
    let total = text
        .lines()
        .find(|l| l.trim_end().ends_with("total"))
        .ok_or("no total line in strace's summary")?;
    let fields: Vec<&str> = total.split_whitespace().collect();
    fields
        .get(3)
        .and_then(|c| c.parse().ok())
        .map(Some)
        .ok_or_else(|| format!("unexpected strace total line {total:?}"))
}

/// Prints system calls per operation for every workload and contestant: the
/// spawned-body rule shows as a near-zero count for in-memory workloads.
fn syscall_table(specs: &[&'static Spec], names: &[&str], n_of: &dyn Fn(&Spec) -> u64) {
    println!();
    println!(
        "system calls per operation (strace -c -f; a run's calls minus an empty run's, / ops)"
    );
    print!("{:<24}", "workload");
    for name in names {
        print!("{name:>12}");
    }
    println!();
    for spec in specs {
        print!("{:<24}", spec.name);
        for name in names {
            let n = n_of(spec);
            let cell = match (
                count_syscalls(name, spec.name, n),
                count_syscalls(name, "baseline", 0),
            ) {
                (Ok(Some(run)), Ok(Some(base))) => {
                    format!("{:.3}", (run - base).max(0.0) / n.max(1) as f64)
                }
                (Ok(_), Ok(_)) => "n/a".to_owned(),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("syscalls {name} {}: {e}", spec.name);
                    "error".to_owned()
                }
            };
            print!("{cell:>12}");
        }
        println!();
    }
}
