//! Helpers shared by the integration tests: a deterministic record model,
//! reading a whole log back, and fault injection on partition files.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use samsa_log::partition::{AppendInfo, CompressionType};
use samsa_log::producer::Compression;
use samsa_log::record::{Header, RecordRef};
use samsa_log::{Partition, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// A record as owned bytes: what a test expects at an offset, or what it
/// read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub offset: u64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Rec {
    /// A copy of a record read back from the log.
    pub fn from_ref(r: &RecordRef<'_>) -> Rec {
        Rec {
            offset: r.offset(),
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            timestamp: r.timestamp(),
            headers: r
                .headers()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// splitmix64: a well-mixed hash of one word.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A small seeded xorshift generator, so failures can be replayed from the
/// seed a test prints.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
}

/// Deterministic bytes of length `len` for `(seed, offset, salt)`.
pub fn bytes_for(seed: u64, offset: u64, salt: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(mix(seed ^ mix(offset) ^ mix(salt.wrapping_add(17))));
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// The record a test writes at `offset`: key, value, headers and timestamp
/// all derived from `(seed, offset)`. Value sizes vary from empty to a few
/// KiB, with the occasional tombstone; timestamps mostly rise, with jitter,
/// so time lookups meet non-monotonic timestamps.
pub fn gen_rec(seed: u64, offset: u64) -> Rec {
    let h = mix(seed.wrapping_mul(31) ^ offset);
    let value_len = match h % 16 {
        0 => 0,
        1 => 1 + (h >> 8) % 5000,
        _ => 1 + (h >> 8) % 200,
    } as usize;
    let value = if h % 29 == 5 {
        None
    } else {
        Some(bytes_for(seed, offset, 1, value_len))
    };
    let key = if h.is_multiple_of(3) && value.is_some() {
        None
    } else {
        Some(format!("key-{}-{offset}", (h >> 20) % 10).into_bytes())
    };
    let headers = if h.is_multiple_of(5) {
        let mut headers = vec![
            (
                "trace".to_owned(),
                Some(bytes_for(seed, offset, 2, (h % 20) as usize)),
            ),
            ("n".to_owned(), Some(offset.to_le_bytes().to_vec())),
        ];
        if h % 7 == 3 {
            // A null value, which is not an empty one.
            headers.push(("null".to_owned(), None));
        }
        headers
    } else {
        Vec::new()
    };
    let jitter = ((h >> 40) % 5) as i64 * 9;
    Rec {
        offset,
        key,
        value,
        timestamp: 1_600_000_000_000 + offset as i64 * 7 - jitter,
        headers,
    }
}

/// The header of an owned pair.
pub fn header<'a>(key: &'a str, value: &'a Option<Vec<u8>>) -> Header<'a> {
    Header {
        key,
        value: value.as_deref(),
    }
}

/// Appends `recs` as one batch, with their keys, values, headers and
/// timestamps (their `offset` fields are not sent; the log assigns them).
pub fn append_recs(p: &Partition, recs: &[Rec]) -> Result<AppendInfo> {
    let headers: Vec<Vec<Header<'_>>> = recs
        .iter()
        .map(|r| r.headers.iter().map(|(k, v)| header(k, v)).collect())
        .collect();
    let records: Vec<samsa_log::Record<'_>> = recs
        .iter()
        .zip(&headers)
        .map(|(r, h)| {
            let mut rec = match &r.value {
                Some(v) => samsa_log::Record::new(v),
                None => samsa_log::Record::default(),
            };
            if let Some(k) = &r.key {
                rec = rec.key(k);
            }
            rec.headers(h).timestamp(r.timestamp)
        })
        .collect();
    p.append(&records)
}

/// Appends `gen_rec(seed, o)` for the next `n` offsets as one batch and
/// checks the log assigned exactly those offsets.
pub fn append_gen(p: &Partition, seed: u64, n: u64) -> Result<AppendInfo> {
    let base = p.log_end_offset();
    let recs: Vec<Rec> = (base..base + n).map(|o| gen_rec(seed, o)).collect();
    let info = append_recs(p, &recs)?;
    assert_eq!(
        (info.base_offset, info.last_offset),
        (base, base + n - 1),
        "the log assigned unexpected offsets"
    );
    Ok(info)
}

/// Every record from the log start to the high watermark, read in chunks of
/// about `max_bytes`. Checks each read makes progress and stays in order.
pub fn read_all_with(p: &Partition, max_bytes: usize) -> Result<Vec<Rec>> {
    let hw = p.high_watermark();
    let mut at = p.log_start_offset();
    let mut out: Vec<Rec> = Vec::new();
    while at < hw {
        let r = p.read(at, max_bytes)?;
        assert!(
            !r.is_empty(),
            "read at {at} below the HW {hw} returned nothing"
        );
        for rec in &r {
            if let Some(prev) = out.last() {
                assert!(rec.offset() > prev.offset, "offsets went backwards");
            }
            out.push(Rec::from_ref(&rec));
        }
        assert!(r.next_offset() > at, "read at {at} made no progress");
        at = r.next_offset();
    }
    Ok(out)
}

/// Every record from the log start to the high watermark.
pub fn read_all(p: &Partition) -> Result<Vec<Rec>> {
    read_all_with(p, 64 << 10)
}

/// Asserts the log holds exactly `gen_rec(seed, 0..hw)`, read in large and
/// in tiny chunks, and returns the high watermark.
pub fn assert_gen_log(p: &Partition, seed: u64, context: &str) -> u64 {
    let hw = p.high_watermark();
    for max_bytes in [1 << 20, 1] {
        let got = read_all_with(p, max_bytes)
            .unwrap_or_else(|e| panic!("{context}: reading the log failed: {e}"));
        assert_eq!(got.len() as u64, hw, "{context}: record count vs HW");
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r, &gen_rec(seed, i as u64), "{context}: record {i} differs");
        }
    }
    hw
}

/// Paths of a partition's `.log` files, oldest first.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    files_with_ext(dir, "log")
}

/// Paths of files ending in `.{ext}`, sorted by name (base offset).
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The path of segment `base`'s file with extension `ext`.
pub fn segment_file(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Copies every regular file of `from` into `to` (created if needed).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Length of a file.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// Truncates (or extends with zeros) `path` to `len` bytes.
pub fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Appends `bytes` to the end of `path`.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// Flips bit `bit` of the byte at `pos` in `path`.
pub fn flip_bit(path: &Path, pos: u64, bit: u8) {
    let mut b = fs::read(path).unwrap();
    b[pos as usize] ^= 1 << bit;
    fs::write(path, b).unwrap();
}

/// Where one appended batch landed: its segment, byte range in that
/// segment's log, and offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLoc {
    pub segment_base: u64,
    pub start: u64,
    pub end: u64,
    pub base_offset: u64,
    pub last_offset: u64,
}

/// Appends `n` generated records as one batch and reports where it landed
/// (from the active segment's size before and after).
pub fn append_gen_located(p: &Partition, seed: u64, n: u64) -> BatchLoc {
    let before = p.segments().unwrap().last().unwrap().clone();
    let info = append_gen(p, seed, n).unwrap();
    let after = p.segments().unwrap().last().unwrap().clone();
    let start = if after.base_offset() == before.base_offset() {
        before.size_bytes()
    } else {
        0
    };
    BatchLoc {
        segment_base: after.base_offset(),
        start,
        end: after.size_bytes(),
        base_offset: info.base_offset,
        last_offset: info.last_offset,
    }
}

/// Cycles of a kill -9 loop: the test's own variable `specific`, else
/// `SAMSA_CRASH_ITERATIONS` (shared by every kill loop, for a soak run),
/// else `default` (the CI count).
pub fn crash_iterations(specific: &str, default: u64) -> u64 {
    for name in [specific, "SAMSA_CRASH_ITERATIONS"] {
        if let Ok(v) = std::env::var(name) {
            return v
                .parse()
                .unwrap_or_else(|_| panic!("{name} is a number, not {v:?}"));
        }
    }
    default
}

/// The seed of a kill -9 loop's random schedule: `SAMSA_CRASH_SEED`, else
/// the clock. Tests print it so a failure can be replayed.
pub fn crash_seed() -> u64 {
    std::env::var("SAMSA_CRASH_SEED")
        .map(|v| v.parse().expect("SAMSA_CRASH_SEED is a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The figures of a kill -9 loop, printed as one summary line:
/// `<name>: seed=.. cycles=.. records_checked=.. acked=.. ... violations=..`.
///
/// Checks go through [`KillTally::check`], which counts a failed check as a
/// violation instead of panicking; [`KillTally::end_cycle`] prints the
/// summary and panics with the first violation once a cycle had any, so the
/// line is printed whether the test passes or fails.
#[derive(Debug)]
pub struct KillTally {
    pub name: &'static str,
    pub seed: u64,
    /// Child processes killed (or finished) and checked.
    pub cycles: u64,
    /// Records compared byte for byte with what was sent, after a reopen.
    pub records_checked: u64,
    /// Records whose durable delivery a child reported before its kill.
    pub acked: u64,
    /// Further figures, printed after `acked`.
    pub extra: Vec<(&'static str, u64)>,
    pub violations: u64,
    first: Vec<String>,
}

impl KillTally {
    pub fn new(name: &'static str, seed: u64) -> KillTally {
        KillTally {
            name,
            seed,
            cycles: 0,
            records_checked: 0,
            acked: 0,
            extra: Vec::new(),
            violations: 0,
            first: Vec::new(),
        }
    }

    /// Counts a violation, described by `what`, unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.violations += 1;
            if self.first.len() < 10 {
                self.first.push(what());
            }
        }
    }

    /// A violation after which the loop cannot go on: counted, then
    /// reported as [`KillTally::end_cycle`] does.
    pub fn fail(&mut self, what: impl std::fmt::Display) -> ! {
        self.check(false, || what.to_string());
        self.end_cycle();
        unreachable!("end_cycle panics after a violation")
    }

    /// Adds `n` to the extra figure `key`.
    pub fn add(&mut self, key: &'static str, n: u64) {
        match self.extra.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += n,
            None => self.extra.push((key, n)),
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: seed={} cycles={} records_checked={} acked={}",
            self.name, self.seed, self.cycles, self.records_checked, self.acked
        );
        for (k, v) in &self.extra {
            s.push_str(&format!(" {k}={v}"));
        }
        s.push_str(&format!(" violations={}", self.violations));
        s
    }

    /// Panics, after printing the summary, if any check failed so far.
    pub fn end_cycle(&self) {
        if self.violations > 0 {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{}", self.summary());
            panic!(
                "{}: {} violation(s) (replay with SAMSA_CRASH_SEED={}):\n{}",
                self.name,
                self.violations,
                self.seed,
                self.first.join("\n")
            );
        }
    }

    /// Panics on violations; otherwise prints the summary line straight to
    /// stderr, past the test harness's capture, so it shows in CI logs.
    pub fn finish(&self) {
        use std::io::Write;
        self.end_cycle();
        let _ = writeln!(std::io::stderr().lock(), "{}", self.summary());
    }
}

/// A child process: this test binary re-run with `--exact <test>` and
/// environment variables that select the child's role. Its stdout lines
/// arrive through a reader thread, so waiting for one can time out.
pub struct ChildProc {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// How a wait for a child's line ended without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoLine {
    /// The child closed its stdout: it exited.
    Ended,
    /// Nothing arrived in time.
    Timeout,
}

impl ChildProc {
    /// Starts `--exact test` with `envs` set.
    pub fn spawn(test: &str, envs: &[(&str, String)]) -> ChildProc {
        use std::io::BufRead;
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProc {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next line the child printed, waiting up to `timeout`.
    pub fn next_line(&self, timeout: std::time::Duration) -> std::result::Result<String, NoLine> {
        use std::sync::mpsc::RecvTimeoutError;
        self.lines.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => NoLine::Timeout,
            RecvTimeoutError::Disconnected => NoLine::Ended,
        })
    }

    /// Kills the child with SIGKILL (if it still runs), reaps it, and
    /// returns its exit status, the lines it printed that were not read
    /// yet, and its stderr.
    pub fn kill(mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        // SIGKILL on Unix.
        let _ = self.child.kill();
        self.finish()
    }

    fn finish(&mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        use std::io::Read;
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let rest = self.lines.try_iter().collect();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        (status, rest, stderr)
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        // A test that panicked midway leaves no child running.
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asserts that opening the log in `dir` fails with `Error::Corrupt`
/// naming `file` (`what` says which damage, for the message).
pub fn assert_open_corrupt(dir: &Path, file: &Path, what: &str) {
    let err = samsa_log::Log::builder()
        .maintenance_interval(None)
        .open(dir)
        .unwrap_err();
    assert!(
        matches!(&err, samsa_log::Error::Corrupt { path, .. } if path == file),
        "{what}: {err}"
    );
}

/// A minimal executor: polls `f` on this thread, parking between polls
/// until its waker is called (what any runtime does, without one).
pub fn block_on<F: std::future::IntoFuture>(f: F) -> F::Output {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f.into_future());
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// A timer for tests that must run on any executor: resolves after `d`,
/// woken by a thread that sleeps it off (no runtime's timer needed).
pub fn sleep(d: std::time::Duration) -> impl std::future::Future<Output = ()> {
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    type State = Arc<Mutex<(bool, Option<Waker>)>>;
    let state: State = Arc::new(Mutex::new((false, None)));
    let mut started = false;
    std::future::poll_fn(move |cx| {
        let mut s = state.lock().unwrap();
        if s.0 {
            return Poll::Ready(());
        }
        s.1 = Some(cx.waker().clone());
        if !std::mem::replace(&mut started, true) {
            let state = state.clone();
            std::thread::spawn(move || {
                std::thread::sleep(d);
                let mut s = state.lock().unwrap();
                s.0 = true;
                if let Some(w) = s.1.take() {
                    w.wake();
                }
            });
        }
        Poll::Pending
    })
}

/// The codec the reliability suites store their batches in: the one named
/// by `SAMSA_TEST_COMPRESSION` (`gzip`, `snappy`, `lz4`, `zstd`, with its
/// feature on), else `producer` (as sent: uncompressed). CI runs the
/// suites both ways.
pub fn test_compression() -> CompressionType {
    match std::env::var("SAMSA_TEST_COMPRESSION") {
        Ok(name) if !name.is_empty() => {
            let codec: Compression = name
                .parse()
                .unwrap_or_else(|e| panic!("SAMSA_TEST_COMPRESSION={name}: {e}"));
            assert!(
                codec.is_available(),
                "SAMSA_TEST_COMPRESSION={name} needs the `{codec}` feature"
            );
            CompressionType::from(codec)
        }
        _ => CompressionType::Producer,
    }
}
