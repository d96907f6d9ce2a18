//! Work done in a child process of this program, so that its peak memory
//! is its own and a kill -9 stops only it. The parent runs
//! `<this program> __child <mode> ...` and reads one `RESULT key=value ...`
//! line from its standard output.
//!
//! Modes:
//! - `open <entry> <dir> <segment_bytes> <clean|recover>`: reopen timing
//!   (`open_ns`, `count`, `hwm_kib`, `start_rss_kib`).
//! - `produce <entry> <dir> <bytes>`: fill a log, report `secs`, `count`,
//!   `hwm_kib` (peak RSS while producing), `start_rss_kib`.
//! - `unclean <entry> <dir> <bytes>`: fill a log, print `READY count=N`,
//!   then wait to be killed.
//! - `idle`: report `hwm_kib` of a child that does nothing.

use crate::logs;
use crate::results::Entry;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The argument that makes this program a child.
pub const ARG: &str = "__child";
/// Segment size of the logs the producing and unclean children fill: the
/// peers' and samsa's default segment sizes are both about 1 GB.
const SEGMENT_BYTES: u64 = 1 << 30;
/// Records per call of the producing and unclean children (samsa's
/// producer sends one at a time).
const BATCH: usize = 1000;

/// A key from `/proc/self/status` in KiB (`VmHWM`: peak resident set size;
/// `VmRSS`: now).
pub fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
}

fn result(pairs: &[(&str, f64)]) {
    let line: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
}

fn entry(s: &str) -> Entry {
    Entry::parse(s).unwrap_or_else(|| panic!("unknown backend {s:?}"))
}

/// The child's main: runs `args` (after [`ARG`]) and exits.
pub fn main(args: &[String]) -> ! {
    let start_rss = status_kib("VmRSS") as f64;
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).expect("child argument") };
    match arg(0) {
        "open" => {
            let segment_bytes: u64 = arg(3).parse().expect("segment bytes");
            let o = logs::open(
                entry(arg(1)),
                Path::new(arg(2)),
                segment_bytes,
                arg(4) == "recover",
            );
            result(&[
                ("open_ns", o.took.as_nanos() as f64),
                ("count", o.count as f64),
                ("hwm_kib", o.hwm_kib as f64),
                ("start_rss_kib", start_rss),
            ]);
        }
        "produce" => {
            let bytes: u64 = arg(3).parse().expect("bytes");
            let start = Instant::now();
            let (filling, count) = logs::fill(
                entry(arg(1)),
                Path::new(arg(2)),
                bytes,
                SEGMENT_BYTES,
                BATCH,
            );
            let secs = start.elapsed().as_secs_f64();
            let hwm = status_kib("VmHWM") as f64;
            filling.close();
            result(&[
                ("secs", secs),
                ("count", count as f64),
                ("hwm_kib", hwm),
                ("start_rss_kib", start_rss),
            ]);
        }
        "unclean" => {
            let bytes: u64 = arg(3).parse().expect("bytes");
            let (filling, count) =
                logs::fill(entry(arg(1)), Path::new(arg(2)), bytes, SEGMENT_BYTES, 100);
            println!("READY count={count}");
            std::io::stdout().flush().expect("stdout");
            // Killed here, with the log open.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
                std::hint::black_box(&filling);
            }
        }
        "idle" => result(&[("hwm_kib", status_kib("VmHWM") as f64)]),
        other => panic!("unknown child mode {other:?}"),
    }
    std::process::exit(0)
}

fn command(args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("this program's path");
    let mut c = Command::new(exe);
    c.arg(ARG).args(args).stdin(Stdio::null());
    c
}

/// Runs a child to completion and returns its `RESULT` values.
pub fn run(args: &[&str]) -> HashMap<String, f64> {
    let out = command(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("child {args:?} gave no result"));
    line.split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// Runs an `unclean` child until it is ready, then kills it with SIGKILL;
/// returns how many records it had written.
pub fn run_and_kill(args: &[&str]) -> u64 {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read child");
    let count = line
        .trim()
        .strip_prefix("READY count=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("child {args:?} said {line:?}"));
    child.kill().expect("kill -9 child");
    child.wait().expect("reap child");
    count
}
