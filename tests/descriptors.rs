//! Fault: a descriptor limit as the application around samsa has it.
//!
//! Each scenario runs in a child process (this test binary re-run with
//! `--exact` and an environment variable) that lowers its own soft limit
//! of open files (`RLIMIT_NOFILE`) and counts, from `/proc/self/fd` and
//! `/proc/self/maps`, the descriptors and maps that point into the log:
//! - under a limit of 1,024, 10,000 partitions (ten topics of 1,000) are
//!   created, written through a producer, read back, closed and reopened,
//!   and read again;
//! - under a limit of 64, a partition of 5,000 segments is read end to end;
//! - at every point measured, samsa holds at most its budget
//!   (`LogBuilder::max_open_files`, by default a quarter of the limit)
//!   plus the lock file and two more, and at most three maps per budgeted
//!   file (a sealed segment's two indexes and its log).
//!
//! The logs live on `/dev/shm` (a tmpfs, where syncs cost nothing) when
//! there is one, and in the temp directory otherwise. Linux only: other
//! systems say so and skip.

use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ENV: &str = "SAMSA_DESCRIPTORS_CHILD";
/// Beyond the budget: the lock file, and a file or directory a call has
/// open for a moment (a sync of the directory, a metadata write).
const SLACK: usize = 3;

/// What the process holds that points into `dir`: descriptors, every
/// descriptor, and maps.
fn held(dir: &Path) -> (usize, usize, usize) {
    let mut into = 0;
    let mut all = 0;
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(e) = e else { continue };
        all += 1;
        if std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir)) {
            into += 1;
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let needle = dir.to_string_lossy();
    let mapped = maps.lines().filter(|l| l.contains(&*needle)).count();
    (into, all, mapped)
}

/// The largest counts seen, checked against the budget at every look.
struct Watch {
    dir: PathBuf,
    budget: usize,
    max_fds: usize,
    max_maps: usize,
    looks: usize,
}

impl Watch {
    fn look(&mut self, when: &str) {
        let (fds, all, maps) = held(&self.dir);
        self.looks += 1;
        self.max_fds = self.max_fds.max(fds);
        self.max_maps = self.max_maps.max(maps);
        if fds > self.budget + SLACK {
            let mut names = Vec::new();
            for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
                if let Ok(t) = std::fs::read_link(e.path()) {
                    if t.starts_with(&self.dir) {
                        names.push(t.file_name().unwrap().to_string_lossy().into_owned());
                    }
                }
            }
            names.sort();
            panic!(
                "{when}: {fds} descriptors into the log (of {all}), budget {}: {names:?}",
                self.budget
            );
        }
        assert!(
            maps <= 3 * self.budget,
            "{when}: {maps} maps into the log, budget {}",
            self.budget
        );
    }
}

fn place() -> (tempfile::TempDir, PathBuf) {
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let dir = tmp.path().join("log");
    (tmp, dir)
}

#[cfg(target_os = "linux")]
fn limit_open_files(soft: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: hard,
        },
    )
    .expect("lowering the soft limit is always allowed");
}

/// Under a soft limit of `limit` descriptors: a new log, and a watch on it
/// whose budget is the default (a quarter of the limit).
fn start(limit: u64) -> (tempfile::TempDir, PathBuf, Log, Watch) {
    limit_open_files(limit);
    let (tmp, dir) = place();
    let log = Log::builder()
        .maintenance_interval(None)
        .sync(SyncPolicy::Os)
        .open(&dir)
        .unwrap();
    let budget = log.health().max_open_files;
    assert_eq!(budget as u64, limit / 4, "a quarter of the limit");
    let w = Watch {
        dir: dir.clone(),
        budget,
        max_fds: 0,
        max_maps: 0,
        looks: 0,
    };
    (tmp, dir, log, w)
}

fn ten_thousand_partitions() {
    let (_tmp, dir, log, mut w) = start(1024);
    let (started, budget) = (Instant::now(), w.budget);
    let topics: Vec<String> = (0..10).map(|t| format!("t{t}")).collect();
    for t in &topics {
        log.create_topic(t, TopicConfig::default().partitions(1000))
            .unwrap_or_else(|e| panic!("creating {t}: {e}"));
        w.look(&format!("after creating {t}"));
    }
    let producer = log
        .producer_with(ProducerConfig::default().linger(Duration::ZERO))
        .unwrap();
    for t in &topics {
        for p in 0..1000 {
            let v = format!("{t}/{p}");
            let _ = producer
                .send(t, Record::new(v.as_bytes()).partition(p))
                .unwrap();
        }
        producer.flush().unwrap();
        w.look(&format!("after writing {t}"));
    }
    producer.close().unwrap();
    let read_all = |log: &Log, w: &mut Watch, when: &str| {
        for t in &topics {
            let topic = log.topic(t).unwrap();
            for p in 0..1000 {
                let r = topic.partition(p).unwrap().read(0, 1 << 20).unwrap();
                let got: Vec<_> = r.iter().map(|r| r.value().unwrap().to_vec()).collect();
                assert_eq!(got, [format!("{t}/{p}").into_bytes()], "{when} {t}/{p}");
            }
            w.look(&format!("{when}: after reading {t}"));
        }
    };
    read_all(&log, &mut w, "first run");
    log.close().unwrap();
    w.look("after close");
    let (fds, _, maps) = held(&dir);
    assert_eq!((fds, maps), (0, 0), "a closed log holds nothing");

    let log = Log::open(&dir).unwrap();
    w.look("after reopen");
    read_all(&log, &mut w, "reopened");
    assert!(log.health().is_healthy());
    log.close().unwrap();
    println!(
        "descriptors: 10,000 partitions under a limit of 1,024: budget {budget}, at most {} \
         descriptors and {} maps into the log over {} looks, {:.1} s",
        w.max_fds,
        w.max_maps,
        w.looks,
        started.elapsed().as_secs_f64()
    );
}

fn five_thousand_segments() {
    let (_tmp, dir, log, mut w) = start(64);
    let (started, budget) = (Instant::now(), w.budget);
    let p = log
        .create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap()
        .partition(0)
        .unwrap();
    let value = |i: u64| format!("{i:0>700}");
    // One 700-byte record a segment.
    for i in 0..5000u64 {
        p.append(&[Record::new(value(i).as_bytes())]).unwrap();
        if i % 500 == 0 {
            w.look(&format!("appending at {i}"));
        }
    }
    w.look("after appending");
    assert!(p.segments().unwrap().len() >= 5000);
    w.look("after listing the segments");
    let read_all = |w: &mut Watch, p: &samsa_log::Partition| {
        let mut at = 0;
        while at < p.high_watermark() {
            let r = p
                .read(at, 1 << 20)
                .unwrap_or_else(|e| panic!("read at {at}: {e}"));
            for rec in &r {
                assert_eq!(rec.value(), Some(value(rec.offset()).as_bytes()));
            }
            at = r.next_offset();
            if at % 250 == 0 {
                w.look(&format!("reading at {at}"));
            }
        }
        assert_eq!(at, 5000);
        // Time lookups load every segment's time index on the way.
        let hit = p.offset_for_timestamp(i64::MAX).unwrap();
        assert!(hit.is_none());
        w.look("after a time lookup over every segment");
    };
    read_all(&mut w, &p);
    log.close().unwrap();
    let (fds, _, maps) = held(&dir);
    assert_eq!((fds, maps), (0, 0), "a closed log holds nothing");
    let log = Log::open(&dir).unwrap();
    let p = log.topic("t").unwrap().partition(0).unwrap();
    read_all(&mut w, &p);
    println!(
        "descriptors: 5,000 segments read end to end under a limit of 64: budget {budget}, at \
         most {} descriptors and {} maps into the log over {} looks, {:.1} s",
        w.max_fds,
        w.max_maps,
        w.looks,
        started.elapsed().as_secs_f64()
    );
}

/// Not a test of its own: the child process of the tests below (a no-op
/// otherwise).
#[test]
fn descriptors_child() {
    match std::env::var(ENV).as_deref() {
        Ok("partitions") => ten_thousand_partitions(),
        Ok("segments") => five_thousand_segments(),
        _ => {}
    }
}

fn run_child(scenario: &str) {
    if !cfg!(target_os = "linux") {
        println!("SKIPPED: {scenario}: /proc and RLIMIT_NOFILE are Linux's");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "descriptors_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario}: child failed ({})\n{stdout}\n{stderr}",
        out.status
    );
    let summary = stdout
        .lines()
        .find_map(|l| l.find("descriptors:").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("{scenario}: no summary\n{stdout}\n{stderr}"));
    println!("{summary}");
}

#[test]
fn ten_thousand_partitions_live_under_a_limit_of_1024() {
    run_child("partitions");
}

#[test]
fn five_thousand_segments_are_read_under_a_limit_of_64() {
    run_child("segments");
}
