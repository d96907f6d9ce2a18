//! Command line and the sizes of every workload.

use std::path::PathBuf;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Every workload, by the name `--only` takes.
pub const WORKLOADS: [&str; 6] = ["append", "read", "durable", "reopen", "recovery", "rss"];

/// What one run does.
#[derive(Debug, Clone)]
pub struct Params {
    /// "quick", "default" or "full".
    pub mode: &'static str,
    /// Repetitions of every timed workload.
    pub reps: usize,
    /// Records of the 100-byte batch workload (batches of 1,000).
    pub batch_records: u64,
    /// Records of the one-record-per-call workload.
    pub single_records: u64,
    /// Payload bytes of each of the 1 KiB and 64 KiB workloads.
    pub big_value_bytes: u64,
    /// Records of 100 bytes written, then read back after reopen.
    pub read_records: u64,
    /// Syncs (of 10 records each) in a durable run, over all threads.
    pub durable_syncs: usize,
    /// Payload bytes of the large clean log reopened.
    pub large_bytes: u64,
    /// Segments of the large clean log.
    pub large_segments: u64,
    /// Payload bytes written before the unclean stop.
    pub recovery_bytes: u64,
    /// Payload bytes produced while peak RSS is watched.
    pub rss_bytes: u64,
    /// Where compare.md and compare.json go.
    pub out: PathBuf,
    /// Where the scratch directory is made.
    pub data_dir: PathBuf,
    /// Workloads to run (all if empty).
    pub only: Vec<String>,
}

impl Params {
    /// Whether `workload` is to run.
    pub fn runs(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }

    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Params, String> {
        let mode = if args.iter().any(|a| a == "--quick") {
            "quick"
        } else if args.iter().any(|a| a == "--full") {
            "full"
        } else {
            "default"
        };
        let mut p = match mode {
            "quick" => Params {
                mode,
                reps: 3,
                batch_records: 300_000,
                single_records: 50_000,
                big_value_bytes: 64 * MIB,
                read_records: 300_000,
                durable_syncs: 300,
                large_bytes: 256 * MIB,
                large_segments: 1000,
                recovery_bytes: 64 * MIB,
                rss_bytes: 256 * MIB,
                out: PathBuf::from("compare-results"),
                data_dir: std::env::temp_dir(),
                only: Vec::new(),
            },
            _ => Params {
                mode,
                reps: 5,
                batch_records: 1_000_000,
                single_records: 200_000,
                big_value_bytes: 256 * MIB,
                read_records: 1_000_000,
                durable_syncs: 1000,
                large_bytes: GIB,
                large_segments: 1000,
                recovery_bytes: 256 * MIB,
                rss_bytes: GIB,
                out: PathBuf::from("compare-results"),
                data_dir: std::env::temp_dir(),
                only: Vec::new(),
            },
        };
        if mode == "full" {
            // The sizes: a 10 GB log of 1,000 segments, 10 GB
            // produced; recovery of a whole default (1 GiB) samsa segment.
            p.large_bytes = 10_000_000_000;
            p.rss_bytes = 10_000_000_000;
            p.recovery_bytes = GIB;
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--quick" | "--full" => {}
                "--out" => p.out = PathBuf::from(value("--out")?),
                "--data-dir" => p.data_dir = PathBuf::from(value("--data-dir")?),
                "--reps" => p.reps = number(&value("--reps")?)?,
                "--large-gib" => p.large_bytes = gib(&value("--large-gib")?)?,
                "--large-segments" => p.large_segments = number(&value("--large-segments")?)?,
                "--recovery-mib" => {
                    p.recovery_bytes = number::<u64>(&value("--recovery-mib")?)? * MIB
                }
                "--rss-gib" => p.rss_bytes = gib(&value("--rss-gib")?)?,
                "--only" => {
                    for w in value("--only")?.split(',') {
                        if !WORKLOADS.contains(&w) {
                            return Err(format!("unknown workload {w:?}; known: {WORKLOADS:?}"));
                        }
                        p.only.push(w.to_owned());
                    }
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if p.reps == 0 || p.large_segments == 0 {
            return Err("--reps and --large-segments must be at least 1".into());
        }
        Ok(p)
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

fn gib(s: &str) -> Result<u64, String> {
    let g: f64 = number(s)?;
    if g.is_nan() || g <= 0.0 {
        return Err(format!("size must be positive: {s:?}"));
    }
    Ok((g * GIB as f64) as u64)
}

/// The usage text.
pub const USAGE: &str = "\
usage: samsa-compare [--quick | --full] [--out DIR] [--data-dir DIR] [--reps N]
                     [--large-gib G] [--large-segments N] [--recovery-mib M]
                     [--rss-gib G] [--only append,read,durable,reopen,recovery,rss]

  --quick          fewer repetitions and smaller sizes (a smoke run, ~3 minutes)
  --full           the issue's sizes: reopen a 10 GB log of 1,000 segments,
                   peak RSS while producing 10 GB, recovery of 1 GiB
  --out DIR        where compare.md and compare.json go (default compare-results)
  --data-dir DIR   where the scratch directory is made (default $TMPDIR or /tmp);
                   it is removed at the end
";
