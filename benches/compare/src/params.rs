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
    /// Where the scratch directory is made (`None`: chosen at start, see
    /// [`Params::choose_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// Workloads to run (all if empty).
    pub only: Vec<String>,
}

impl Params {
    /// Whether `workload` is to run.
    pub fn runs(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }

    /// Bytes of disk the run needs at its peak, with a margin: the four
    /// large logs and their tenths together (SQLite's file is about 1.35x
    /// its payload of 1 KiB values, the others about 1.03x), or the
    /// produced log, whichever is larger.
    pub fn disk_need(&self) -> u64 {
        let reopen = if self.runs("reopen") {
            self.large_bytes / 10 * 11 / 10 * 45
        } else {
            0
        };
        let rss = if self.runs("rss") {
            self.rss_bytes / 10 * 14
        } else {
            0
        };
        let other = (self.big_value_bytes * 2).max(self.recovery_bytes * 6);
        reopen.max(rss).max(other) + (2 << 30)
    }

    /// The directory the scratch data goes in: `--data-dir`, else the
    /// system's temporary directory if it has room for
    /// [`Params::disk_need`], else the current directory if it has more
    /// room. Returns the directory and why it was chosen.
    pub fn choose_data_dir(&self) -> (PathBuf, String) {
        if let Some(d) = &self.data_dir {
            return (d.clone(), "given by --data-dir".into());
        }
        let need = self.disk_need();
        let tmp = std::env::temp_dir();
        let tmp_free = crate::scratch::free_bytes(&tmp);
        if tmp_free >= need {
            return (
                tmp,
                "the system's temporary directory, which has room".into(),
            );
        }
        let cwd = std::env::current_dir().expect("current directory");
        if crate::scratch::free_bytes(&cwd) > tmp_free {
            return (
                cwd,
                "the current directory: the temporary directory is too small".into(),
            );
        }
        (
            tmp,
            "the system's temporary directory (nothing has more room)".into(),
        )
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
                data_dir: None,
                only: Vec::new(),
            },
            _ => Params {
                mode,
                reps: 5,
                batch_records: 2_000_000,
                single_records: 200_000,
                big_value_bytes: 512 * MIB,
                read_records: 2_000_000,
                durable_syncs: 2000,
                large_bytes: 4 * GIB,
                large_segments: 1000,
                recovery_bytes: 512 * MIB,
                rss_bytes: 4 * GIB,
                out: PathBuf::from("compare-results"),
                data_dir: None,
                only: Vec::new(),
            },
        };
        if mode == "full" {
            // The sizes: a 10 GB log of 1,000 segments, 10 GB
            // produced; recovery of a nearly full default (1 GiB) segment
            // (960 MiB of values and the backends' framing stay below
            // 1 GiB, so the active segment holds all of it).
            p.large_bytes = 10_000_000_000;
            p.rss_bytes = 10_000_000_000;
            p.recovery_bytes = 960 * MIB;
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
                "--data-dir" => p.data_dir = Some(PathBuf::from(value("--data-dir")?)),
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

  --quick          fewer repetitions and smaller sizes (a smoke run, under a minute)
  --full           the issue's sizes: reopen a 10 GB log of 1,000 segments,
                   peak RSS while producing 10 GB, recovery of 1 GiB
  --out DIR        where compare.md and compare.json go (default compare-results)
  --data-dir DIR   where the scratch directory is made (default $TMPDIR or /tmp
                   if it has room, else the current directory); removed at the end
";
