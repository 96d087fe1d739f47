//! Collecting child results into medians, rendering the table (plain text and Markdown), and
//! rewriting the results section of `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workloads::Spec;

pub const BEGIN_MARKER: &str = "<!-- results:begin -->";
pub const END_MARKER: &str = "<!-- results:end -->";

/// All runs of one (workload, contestant) pair.
#[derive(Default)]
struct Cell {
    runs: Vec<BTreeMap<String, f64>>,
    failed: bool,
}

/// Raw results of a whole benchmark session, keyed by (workload, contestant).
pub struct Results {
    specs: Vec<&'static Spec>,
    contestants: Vec<&'static str>,
    cells: BTreeMap<(&'static str, &'static str), Cell>,
}

impl Results {
    pub fn new(specs: &[&'static Spec], contestants: &[&'static str]) -> Self {
        Results {
            specs: specs.to_vec(),
            contestants: contestants.to_vec(),
            cells: BTreeMap::new(),
        }
    }

    pub fn push(
        &mut self,
        workload: &'static str,
        contestant: &'static str,
        run: BTreeMap<String, f64>,
    ) {
        let cell = self.cells.entry((workload, contestant)).or_default();
        cell.runs.push(run);
    }

    pub fn fail(&mut self, workload: &'static str, contestant: &'static str) {
        self.cells.entry((workload, contestant)).or_default().failed = true;
    }

    /// Medians per (workload, metric, contestant).
    pub fn table(&self, legend: Vec<String>) -> Table {
        let mut rows = Vec::new();
        for spec in &self.specs {
            for metric in spec.metrics {
                let values = self
                    .contestants
                    .iter()
                    .map(|&c| match self.cells.get(&(spec.name, c)) {
                        None => Value::NotAvailable,
                        Some(cell) => {
                            let mut samples: Vec<f64> = cell
                                .runs
                                .iter()
                                .filter_map(|run| run.get(metric.key).copied())
                                .collect();
                            match median(&mut samples) {
                                Some(m) => Value::Median(m),
                                None if cell.failed => Value::Failed,
                                None => Value::NotAvailable,
                            }
                        }
                    })
                    .collect();
                rows.push(Row {
                    workload: spec.name,
                    metric: metric.label,
                    values,
                    ratio: metric.ratio,
                });
            }
        }
        Table {
            contestants: self.contestants.clone(),
            rows,
            legend,
        }
    }
}

fn median(samples: &mut [f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    Some(if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    })
}

pub enum Value {
    Median(f64),
    NotAvailable,
    Failed,
}

pub struct Row {
    workload: &'static str,
    metric: &'static str,
    values: Vec<Value>,
    ratio: bool,
}

pub struct Table {
    contestants: Vec<&'static str>,
    rows: Vec<Row>,
    legend: Vec<String>,
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Table {
    fn header(&self) -> Vec<String> {
        let mut header = vec!["workload".to_string(), "metric".to_string()];
        header.extend(self.contestants.iter().map(|c| c.to_string()));
        let subject = self.contestants[0];
        header.extend(
            self.contestants[1..]
                .iter()
                .map(|c| format!("{subject}/{c}")),
        );
        header
    }

    /// Each row as strings: workload, metric, one value per contestant, one ratio per other.
    fn cells(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.workload.to_string(), row.metric.to_string()];
                cells.extend(row.values.iter().map(|v| match v {
                    Value::Median(m) => format_value(*m),
                    Value::NotAvailable => "n/a".to_string(),
                    Value::Failed => "FAILED".to_string(),
                }));
                let subject = match row.values[0] {
                    Value::Median(m) => Some(m),
                    _ => None,
                };
                cells.extend(row.values[1..].iter().map(|v| match (subject, v) {
                    (Some(s), Value::Median(o)) if row.ratio && *o != 0.0 => {
                        format!("{:.2}x", s / o)
                    }
                    (Some(_), Value::Median(_)) => "-".to_string(),
                    _ => "n/a".to_string(),
                }));
                cells
            })
            .collect()
    }

    /// Fixed-width text table for the terminal.
    pub fn text(&self) -> String {
        let header = self.header();
        let cells = self.cells();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let render = |row: &[String]| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i < 2 {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                } else {
                    line.push_str(&format!("{cell:>w$}  ", w = widths[i]));
                }
            }
            line.trim_end().to_string()
        };
        let mut out = render(&header);
        out.push('\n');
        out.push_str(&"-".repeat(out.len() - 1));
        for (i, row) in cells.iter().enumerate() {
            let mut row = row.clone();
            // Print the workload name only on its first row.
            if i > 0 && self.rows[i - 1].workload == self.rows[i].workload {
                row[0].clear();
            }
            out.push('\n');
            out.push_str(&render(&row));
        }
        out.push_str("\n\n");
        for line in &self.legend {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Markdown table plus legend, for the docs.
    pub fn markdown(&self) -> String {
        let header = self.header();
        let mut out = format!("| {} |\n", header.join(" | "));
        let align: Vec<&str> = (0..header.len())
            .map(|i| if i < 2 { "---" } else { "---:" })
            .collect();
        out.push_str(&format!("| {} |\n", align.join(" | ")));
        for (i, mut row) in self.cells().into_iter().enumerate() {
            row[0] = if i > 0 && self.rows[i - 1].workload == self.rows[i].workload {
                String::new()
            } else {
                format!("`{}`", row[0])
            };
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out.push('\n');
        for line in &self.legend {
            let (name, text) = line.split_once(": ").unwrap_or((line, ""));
            out.push_str(&format!("- `{name}`: {text}\n"));
        }
        out
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `docs/benchmarks.md` of the workspace this crate belongs to.
pub fn doc_path() -> PathBuf {
    workspace_root().join("docs/benchmarks.md")
}

fn workspace_root() -> &'static Path {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench)
}

/// The command that reproduces this run.
pub fn command_line(args: &[String]) -> String {
    let mut command = String::from("cargo run --release -p taskloop-bench");
    if !args.is_empty() {
        command.push_str(" --");
        for arg in args {
            command.push(' ');
            command.push_str(arg);
        }
    }
    command
}

/// Replace the text between the result markers of `path` (creating the file if missing).
pub fn write_doc(
    path: &Path,
    table: &Table,
    command: &str,
    reps: usize,
    quick: bool,
    others: Option<f64>,
) -> std::io::Result<()> {
    let block = results_block(table, command, reps, quick, others);
    let doc = match std::fs::read_to_string(path) {
        Ok(doc) => doc,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("# Benchmarks\n\n{BEGIN_MARKER}\n{END_MARKER}\n")
        }
        Err(e) => return Err(e),
    };
    let (Some(begin), Some(end)) = (doc.find(BEGIN_MARKER), doc.find(END_MARKER)) else {
        return Err(std::io::Error::other(format!(
            "markers {BEGIN_MARKER} / {END_MARKER} not found; not touching the file"
        )));
    };
    if end < begin {
        return Err(std::io::Error::other("result markers are out of order"));
    }
    let mut new_doc = String::with_capacity(doc.len() + block.len());
    new_doc.push_str(&doc[..begin + BEGIN_MARKER.len()]);
    new_doc.push('\n');
    new_doc.push_str(&block);
    new_doc.push_str(&doc[end..]);
    std::fs::write(path, new_doc)
}

fn results_block(
    table: &Table,
    command: &str,
    reps: usize,
    quick: bool,
    others: Option<f64>,
) -> String {
    let busy = others.map_or("unknown".into(), |b| {
        format!("{b:.2} cores on average during the run (0 = quiet machine)")
    });
    let mut out = String::new();
    out.push_str(
        "<!-- Generated by taskloop-bench --write: edits between these markers are lost. -->\n\n",
    );
    out.push_str("| | |\n|---|---|\n");
    let mut facts = vec![
        ("Date (UTC)", utc_now()),
        ("Machine", machine()),
        ("Kernel", kernel()),
        ("Other processes' CPU use", busy),
        ("rustc", env!("BENCH_RUSTC_VERSION").to_string()),
        ("Command", format!("`{command}`")),
        (
            "Repetitions",
            format!(
                "{reps} per (workload, contestant), medians shown{}",
                if quick {
                    "; **quick mode (small N)**"
                } else {
                    ""
                }
            ),
        ),
    ];
    if let Some(commit) = git_commit() {
        facts.push(("taskloop commit", format!("`{commit}`")));
    }
    for (key, value) in facts {
        out.push_str(&format!("| {key} | {value} |\n"));
    }
    out.push('\n');
    out.push_str(&table.markdown());
    out
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(String::new(), |kib| {
            format!(", {:.0} GiB RAM", kib / 1024.0 / 1024.0)
        });
    format!("{cores} cores, {model}{mem_gib}")
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".into(), |s| format!("Linux {}", s.trim()))
}

fn git_commit() -> Option<String> {
    let dir = workspace_root();
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// Current UTC date and time as `YYYY-MM-DD HH:MM`, without a date crate.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::SPECS;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn write_doc_replaces_only_between_markers() {
        let spec = &SPECS[0];
        let mut results = Results::new(&[spec], &["a", "b"]);
        let run = |v: f64| BTreeMap::from([(spec.metrics[0].key.to_string(), v)]);
        results.push(spec.name, "a", run(1.0));
        results.push(spec.name, "b", run(4.0));
        let table = results.table(vec![]);
        assert!(table.text().contains("0.25x"));

        let path = std::env::temp_dir().join(format!("bench-doc-{}.md", std::process::id()));
        let before = format!("intro\n{BEGIN_MARKER}\nold\n{END_MARKER}\n## What dominates\nkeep\n");
        std::fs::write(&path, &before).unwrap();
        write_doc(&path, &table, "cmd", 3, false, Some(0.0)).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(after.starts_with(&format!("intro\n{BEGIN_MARKER}\n")));
        assert!(after.ends_with(&format!("{END_MARKER}\n## What dominates\nkeep\n")));
        assert!(!after.contains("\nold\n"));
        assert!(after.contains("| a/b |") && after.contains("0.25x"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn utc_date_has_expected_shape() {
        let now = utc_now();
        assert_eq!(now.len(), "YYYY-MM-DD HH:MM".len());
        assert!(now.starts_with("20"));
    }
}
