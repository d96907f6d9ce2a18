//! Helpers shared by the benches: scratch directories, values, the
//! raw-file floor's reader, and latency percentiles. Each bench uses a
//! different part of it.
#![allow(
    dead_code,
    reason = "each bench compiles this module and uses a different part of it"
)]

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Buffer of the baseline's writer and reader.
pub const RAW_BUFFER_BYTES: usize = 1 << 20;

/// A fresh directory for one run of a workload, under `$SAMSA_BENCH_DIR`
/// or the system's temp directory.
pub fn scratch() -> TempDir {
    let base = std::env::var_os("SAMSA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("samsa-bench-")
        .tempdir_in(base)
        .expect("create a scratch directory")
}

/// `len` bytes of a value that is not all zeros.
pub fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// Something of every value that the optimizer cannot drop: its length and
/// its last byte.
pub fn touch(v: &[u8]) -> u64 {
    v.len() as u64 + u64::from(v.last().copied().unwrap_or(0))
}

/// Reads a raw log (length-prefixed records) back through a 1 MiB
/// `BufReader`, touching every value; returns (records, checksum).
pub fn raw_read_all(path: &Path) -> (u64, u64) {
    let file = File::open(path).expect("open raw log");
    let mut input = BufReader::with_capacity(RAW_BUFFER_BYTES, file);
    let mut buf = Vec::new();
    let mut len = [0u8; 4];
    let (mut count, mut sum) = (0u64, 0u64);
    loop {
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("read raw log: {e}"),
        }
        let n = u32::from_le_bytes(len) as usize;
        buf.resize(n, 0);
        input.read_exact(&mut buf).expect("read value");
        count += 1;
        sum += touch(&buf);
    }
    (count, sum)
}

/// Latencies of every iteration criterion ran (warm-up included), printed
/// as percentiles.
pub struct Latencies {
    group: &'static str,
    pub name: &'static str,
    pub samples: Vec<Duration>,
}

impl Latencies {
    pub fn new(group: &'static str, name: &'static str) -> Self {
        Latencies {
            group,
            name,
            samples: Vec::with_capacity(1 << 16),
        }
    }

    /// Times `iters` calls of `op` one by one and returns their sum.
    pub fn time(&mut self, iters: u64, mut op: impl FnMut()) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            op();
            let took = start.elapsed();
            self.samples.push(took);
            total += took;
        }
        total
    }

    /// Prints p50, p99, p99.9 and max, once.
    pub fn report(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        self.samples.sort_unstable();
        let n = self.samples.len();
        let at = |q: usize| self.samples[(n * q / 1000).min(n - 1)];
        eprintln!(
            "{}/{}: {n} samples, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
            self.group,
            self.name,
            at(500).as_secs_f64() * 1e6,
            at(990).as_secs_f64() * 1e6,
            at(999).as_secs_f64() * 1e6,
            self.samples[n - 1].as_secs_f64() * 1e6,
        );
    }
}
