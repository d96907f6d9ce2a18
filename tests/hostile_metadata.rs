//! Hostile files (issue 5), part 2: the files of a log directory above the
//! partitions. A topic's `topic.properties` and the offset store (the
//! segment of the internal topic `__consumer_offsets`, whose records are
//! encoded commit keys and values) are replaced by random bytes,
//! bit-flipped, truncated at every position, given length fields of 0,
//! 2^31 and 2^32-1 (or the largest a narrower field holds) and values past
//! the end. After every `Log::open`: no panic, no single allocation beyond
//! a bound tied to the files (see [`alloc_bound`]), and either a typed
//! `Error::Corrupt` naming the damaged file (or, for a commit record that
//! does not decode, its partition), or a log whose topics, configuration,
//! records and committed offsets are all true. Partition files are in
//! `tests/hostile_files.rs`.
//!
//! `SAMSA_HOSTILE_FULL=1` flips every bit instead of a sample. Each test
//! prints its seed and one line of counts (run with `--nocapture`); a
//! failure names the file, the variant and the position.

mod common;
mod hostile_support;

use common::*;
use hostile_support::*;
use samsa_log::consumer::ConsumerConfig;
use samsa_log::group::OffsetAndMetadata;
use samsa_log::partition::{PartitionConfig, SyncPolicy, TimestampType};
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Error, Log, Partition, Record};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The bit flips to try in a file of `len` bytes: every bit with
/// `SAMSA_HOSTILE_FULL=1`, else one bit of each byte (rotating).
fn flips(len: usize) -> Vec<(usize, u8)> {
    if full() {
        (0..len)
            .flat_map(|b| (0..8).map(move |bit| (b, bit)))
            .collect()
    } else {
        (0..len).map(|b| (b, (b % 8) as u8)).collect()
    }
}

/// Random file sizes: empty, tiny, around and above `len`, and around the
/// 64 KiB beyond which topic metadata is refused unread.
fn random_sizes(len: usize) -> Vec<usize> {
    let mut v = vec![0, 1, 16, len / 2, len, len + 1, 2 * len + 7, 64 << 10];
    v.push((64 << 10) + 1);
    v.sort_unstable();
    v.dedup();
    v
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

// ---- The log under test ------------------------------------------------------

const SEED: u64 = 0x4057_11e6;
const TOPIC: &str = "orders";
const OFFSETS: &str = "__consumer_offsets";
const PARTITIONS: u32 = 3;
const GROUPS: [&str; 2] = ["billing", "audit"];

/// The records of partition `p` are `rec(p, 0..)`.
fn seed_of(p: u32) -> u64 {
    SEED ^ u64::from(p) << 32
}

/// Record `o` of partition `p`: `gen_rec`'s, with a key where it has
/// none, since the topic is compacted and refuses keyless records.
fn rec(p: u32, o: u64) -> Rec {
    let mut r = gen_rec(seed_of(p), o);
    r.key.get_or_insert_with(|| b"keyless".to_vec());
    r
}

/// The topic's configuration: every value away from its default, so a
/// file that decodes to defaults is caught.
fn topic_config() -> TopicConfig {
    TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(4096)
        .segment_ms(3_600_000)
        .index_interval_bytes(256)
        .index_max_bytes(1 << 16)
        .retention_ms(None)
        .retention_bytes(Some(1 << 30))
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .max_record_bytes(100_000)
        .timestamp_type(TimestampType::CreateTime)
        .sync(SyncPolicy::Interval {
            ms: 50,
            bytes: 4096,
        })
}

/// One commit as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Commit {
    group: &'static str,
    partition: u32,
    offset: u64,
    metadata: String,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// Records per partition of the topic.
    hw: Vec<u64>,
    /// The commits, one `commit_offsets` (one batch of the offset store)
    /// each, in order.
    commits: Vec<Vec<Commit>>,
    scratch: tempfile::TempDir,
}

impl Fixture {
    /// A log of the topic with records in every partition, and two groups'
    /// commits made in rounds through consumers, closed cleanly or dropped.
    fn new(clean: bool) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("log");
        let log = Log::builder().sync(SyncPolicy::Os).open(&root).unwrap();
        let topic = log.create_topic(TOPIC, topic_config()).unwrap();
        let mut hw = Vec::new();
        for p in 0..PARTITIONS {
            let part = topic.partition(p).unwrap();
            for n in 1..=(4 + p as u64) {
                let base = part.log_end_offset();
                let recs: Vec<Rec> = (base..base + 1 + n % 3).map(|o| rec(p, o)).collect();
                append_recs(&part, &recs).unwrap();
            }
            hw.push(part.high_watermark());
        }
        let mut commits = Vec::new();
        for round in 0..3u64 {
            for (g, group) in GROUPS.into_iter().enumerate() {
                let config = ConsumerConfig::new(group).enable_auto_commit(false);
                let mut consumer = log.consumer(config).unwrap();
                let all: Vec<(&str, u32)> = (0..PARTITIONS).map(|p| (TOPIC, p)).collect();
                consumer.assign(&all).unwrap();
                let batch: Vec<Commit> = (0..PARTITIONS)
                    .filter(|p| (round + u64::from(*p) + g as u64) % 3 != 2)
                    .map(|p| Commit {
                        group,
                        partition: p,
                        offset: hw[p as usize] * (round + 1) / 3,
                        metadata: "m".repeat((round * 5 + u64::from(p)) as usize % 7),
                    })
                    .collect();
                let offsets: Vec<_> = batch
                    .iter()
                    .map(|c| {
                        let o = OffsetAndMetadata {
                            offset: c.offset,
                            metadata: c.metadata.clone(),
                        };
                        ((TOPIC.to_owned(), c.partition), o)
                    })
                    .collect();
                consumer.commit_offsets(&offsets).unwrap();
                consumer.close().unwrap();
                commits.push(batch);
            }
        }
        if clean {
            log.close().unwrap();
        } else {
            drop(topic);
            drop(log);
        }
        Fixture {
            _tmp: tmp,
            root,
            hw,
            commits,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    fn properties(&self, topic: &str) -> PathBuf {
        self.root
            .join("topics")
            .join(topic)
            .join("topic.properties")
    }

    /// The offset store's only segment.
    fn offsets_log(&self) -> PathBuf {
        self.root
            .join("topics")
            .join(OFFSETS)
            .join("0")
            .join(format!("{:020}.log", 0))
    }

    /// The commits in force after the first `batches` commit batches.
    fn committed_after(&self, batches: usize) -> BTreeMap<(&'static str, u32), Commit> {
        let mut m = BTreeMap::new();
        for c in self.commits[..batches].iter().flatten() {
            m.insert((c.group, c.partition), c.clone());
        }
        m
    }

    /// A fresh copy of the log, damaged by `damage` (given the copy's
    /// root), checked by `check`, then removed.
    fn case(
        &self,
        t: &mut Tally,
        ctx: &str,
        damage: impl FnOnce(&Path),
        check: impl FnOnce(&Path) -> Result<Outcome, String>,
    ) {
        let root = self.scratch.path().join("case");
        copy_tree(&self.root, &root);
        damage(&root);
        t.run(ctx, &root, || check(&root));
        fs::remove_dir_all(&root).unwrap();
    }
}

// ---- Checking a reopened log ---------------------------------------------------

/// What a case allows.
#[derive(Clone)]
struct Expect {
    /// Paths (relative to the root) a `Corrupt` from open may name.
    error_paths: Vec<PathBuf>,
    /// Whether open may succeed, and must.
    may_open: bool,
    must_open: bool,
    /// The topic's configuration if open succeeds.
    config: TopicConfig,
    /// The commits in force if open succeeds; `None`: any commit of the
    /// history (or none) per key.
    commits: Option<BTreeMap<(&'static str, u32), Commit>>,
}

fn open(root: &Path) -> samsa_log::Result<Log> {
    count_open();
    Log::builder().sync(SyncPolicy::Os).open(root)
}

/// Opens the damaged copy at `root` and checks it against `e`.
fn check(f: &Fixture, root: &Path, e: &Expect) -> Result<Outcome, String> {
    let log = match open(root) {
        Err(err) => {
            return match &err {
                _ if e.must_open => Err(format!("open failed: {err}")),
                Error::Corrupt { path, .. }
                    if e.error_paths.iter().any(|p| root.join(p) == *path) =>
                {
                    Ok(Outcome::TypedError)
                }
                _ => Err(format!("open failed with the wrong error: {err:?}")),
            };
        }
        Ok(log) => log,
    };
    if !e.may_open {
        return Err(format!("open succeeded, topics {:?}", log.topics()));
    }
    if log.topics() != [OFFSETS, TOPIC] {
        return Err(format!("topics {:?}", log.topics()));
    }
    let topic = log.topic(TOPIC).map_err(|err| err.to_string())?;
    if topic.config() != e.config {
        return Err(format!(
            "configuration {:?}, expected {:?}",
            topic.config(),
            e.config
        ));
    }
    for p in 0..PARTITIONS {
        let part = topic.partition(p).map_err(|err| err.to_string())?;
        let hw = part.high_watermark();
        if hw != f.hw[p as usize] {
            return Err(format!("partition {p}: high watermark {hw}"));
        }
        let got = read_all(&part).map_err(|err| format!("partition {p}: {err}"))?;
        for (o, r) in got.iter().enumerate() {
            if *r != rec(p, o as u64) {
                return Err(format!("partition {p}: record {o} is not the one written"));
            }
        }
    }
    check_commits(f, &log, e)?;
    // The log takes records again, under the configuration it read.
    for p in 0..PARTITIONS {
        let part = topic.partition(p).unwrap();
        let info = part
            .append(&[Record::new(b"after").key(b"k")])
            .map_err(|err| format!("append to partition {p}: {err}"))?;
        if info.base_offset != f.hw[p as usize] {
            return Err(format!("partition {p}: appended at {}", info.base_offset));
        }
    }
    // Dropped, not closed: a close only adds fsyncs, and the next case
    // starts from a fresh copy.
    drop(log);
    Ok(Outcome::Opened { read_errors: 0 })
}

/// Every committed offset is one that was committed (the exact one, when
/// `e` knows it), with its metadata, and none points past its partition's
/// high watermark; `lag` agrees.
fn check_commits(f: &Fixture, log: &Log, e: &Expect) -> Result<(), String> {
    for group in GROUPS {
        let lag = log
            .group(group)
            .lag()
            .map_err(|err| format!("lag({group}): {err}"))?;
        for p in 0..PARTITIONS {
            let got = log.group(group).committed(TOPIC, p);
            let hw = f.hw[p as usize];
            let ctx = format!("group {group} partition {p}");
            if let Some(o) = &got {
                if o.offset > hw {
                    return Err(format!(
                        "{ctx}: committed offset {} is past the high watermark {hw}",
                        o.offset
                    ));
                }
            }
            let got = got.map(|o| (o.offset, o.metadata));
            match &e.commits {
                Some(want) => {
                    let want = want
                        .get(&(group, p))
                        .map(|c| (c.offset, c.metadata.clone()));
                    if got != want {
                        return Err(format!("{ctx}: committed {got:?}, expected {want:?}"));
                    }
                }
                None => {
                    let ever = f.commits.iter().flatten().any(|c| {
                        c.group == group
                            && c.partition == p
                            && Some((c.offset, c.metadata.clone())) == got
                    });
                    if got.is_some() && !ever {
                        return Err(format!("{ctx}: committed {got:?}, never committed"));
                    }
                }
            }
            let want_lag = hw - got.map_or(0, |(o, _)| o);
            let l = lag.iter().find(|l| l.topic == TOPIC && l.partition == p);
            if l.is_some_and(|l| l.lag != want_lag) {
                return Err(format!("{ctx}: lag {:?}, expected {want_lag}", l));
            }
        }
    }
    Ok(())
}

// ---- topic.properties ------------------------------------------------------------

/// `body` (a metadata file up to its crc line) with a crc line to match.
fn reseal(body: &str) -> String {
    format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes()))
}

/// The metadata file `pristine` with the line of `key` set to `value`,
/// under a matching crc line: a well-formed file as a buggy writer (or a
/// hand edit) would leave it.
fn with_value(pristine: &str, key: &str, value: &str) -> String {
    let body = &pristine[..pristine.rfind("crc=").unwrap()];
    let prefix = format!("{key}=");
    let lines: Vec<String> = body
        .lines()
        .map(|l| match l.strip_prefix(&prefix) {
            Some(_) => format!("{prefix}{value}"),
            None => l.to_owned(),
        })
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with(&prefix)),
        "no {key} line"
    );
    reseal(&(lines.join("\n") + "\n"))
}

type Edit = fn(&mut TopicConfig);

/// Each well-formed value given to each numeric key, and what it must give:
/// `None` for a value out of range (`Corrupt`), else the configuration it
/// sets. Lengths and counts at 0, 2^31, 2^32-1 and 2^32 (one past a `u32`),
/// and -1.
fn value_cases() -> Vec<(&'static str, &'static str, Option<Edit>)> {
    vec![
        ("partitions", "0", None),
        ("partitions", "2147483648", None),
        ("partitions", "4294967295", None),
        ("partitions", "4294967296", None),
        ("partitions", "-1", None),
        ("partitions", "100001", None),
        // One more than there are directories: partition 3 is missing.
        ("partitions", "4", None),
        ("segment.bytes", "0", None),
        ("segment.bytes", "2147483648", None),
        ("segment.bytes", "4294967295", None),
        (
            "segment.bytes",
            "2147483647",
            Some(|c| c.segment_bytes = i32::MAX as u64),
        ),
        ("segment.ms", "0", None),
        (
            "segment.ms",
            "4294967295",
            Some(|c| c.segment_ms = u32::MAX.into()),
        ),
        (
            "index.interval.bytes",
            "0",
            Some(|c| c.index_interval_bytes = 0),
        ),
        (
            "index.interval.bytes",
            "2147483648",
            Some(|c| c.index_interval_bytes = 1 << 31),
        ),
        (
            "index.interval.bytes",
            "4294967295",
            Some(|c| c.index_interval_bytes = u32::MAX),
        ),
        ("index.interval.bytes", "4294967296", None),
        ("segment.index.bytes", "0", None),
        (
            "segment.index.bytes",
            "4294967295",
            Some(|c| c.index_max_bytes = u32::MAX),
        ),
        ("segment.index.bytes", "4294967296", None),
        ("retention.ms", "0", None),
        (
            "retention.ms",
            "4294967295",
            Some(|c| c.retention_ms = Some(u32::MAX.into())),
        ),
        ("retention.bytes", "0", None),
        ("retention.bytes", "-1", Some(|c| c.retention_bytes = None)),
        (
            "retention.bytes",
            "2147483648",
            Some(|c| c.retention_bytes = Some(1 << 31)),
        ),
        ("max.message.bytes", "0", None),
        ("max.message.bytes", "2147483648", None),
        ("max.message.bytes", "4294967295", None),
        (
            "max.message.bytes",
            "2147483647",
            Some(|c| c.max_record_bytes = i32::MAX as u32),
        ),
        (
            "sync",
            "interval:4294967295:4294967295",
            Some(|c| {
                c.sync = Some(SyncPolicy::Interval {
                    ms: u32::MAX.into(),
                    bytes: u32::MAX.into(),
                })
            }),
        ),
        ("sync", "interval:18446744073709551616:0", None),
        ("sync", "interval:1", None),
        (
            "cleanup.policy",
            "compact",
            Some(|c| c.cleanup_policy = CleanupPolicy::Compact),
        ),
        ("cleanup.policy", "", None),
        (
            "message.timestamp.type",
            "LogAppendTime",
            Some(|c| c.timestamp_type = TimestampType::LogAppendTime),
        ),
        ("name", "other", None),
        ("name", "", None),
        ("format", "0", None),
        ("format", "4294967297", None),
    ]
}

/// Damages `topic`'s metadata file every way: random bytes (up to past the
/// 64 KiB read limit), bit flips, cuts at every length, lines appended,
/// and (for the data topic) every value case of [`value_cases`].
fn properties_damage(f: &Fixture, t: &mut Tally, topic: &str) {
    let path = f.properties(topic);
    let rel = path.strip_prefix(&f.root).unwrap().to_path_buf();
    let pristine = fs::read_to_string(&path).unwrap();
    let corrupt = Expect {
        error_paths: vec![rel.clone()],
        may_open: false,
        must_open: false,
        config: topic_config(),
        commits: None,
    };
    let case = |t: &mut Tally, how: String, bytes: Vec<u8>, e: &Expect| {
        let ctx = format!("{}: {how}", rel.display());
        f.case(
            t,
            &ctx,
            |r| fs::write(r.join(&rel), &bytes).unwrap(),
            |r| check(f, r, e),
        );
    };
    for (i, size) in random_sizes(pristine.len()).into_iter().enumerate() {
        let mut b = vec![0u8; size];
        Rng::new(SEED ^ 0x70 ^ i as u64).fill(&mut b);
        case(t, format!("replaced by {size} random bytes"), b, &corrupt);
    }
    for (pos, bit) in flips(pristine.len()) {
        let mut b = pristine.clone().into_bytes();
        b[pos] ^= 1 << bit;
        case(t, format!("bit {bit} of byte {pos} flipped"), b, &corrupt);
    }
    for cut in 0..pristine.len() {
        let b = pristine.as_bytes()[..cut].to_vec();
        case(t, format!("cut to {cut} bytes"), b, &corrupt);
    }
    for extra in ["\n", "x=1\n", "crc=00000000\n", "\0\0\0\0"] {
        let b = format!("{pristine}{extra}").into_bytes();
        case(t, format!("{extra:?} appended"), b, &corrupt);
    }
    if topic != TOPIC {
        return;
    }
    for (key, value, edit) in value_cases() {
        let e = match edit {
            None => corrupt.clone(),
            Some(edit) => {
                let mut config = topic_config();
                edit(&mut config);
                Expect {
                    error_paths: Vec::new(),
                    may_open: true,
                    must_open: true,
                    config,
                    commits: Some(f.committed_after(f.commits.len())),
                }
            }
        };
        let b = with_value(&pristine, key, value).into_bytes();
        case(t, format!("{key}={value}, crc matching"), b, &e);
    }
}

/// Fault: the data topic's `topic.properties` replaced by random bytes
/// (0 bytes to past the 64 KiB limit), bit-flipped, cut at every length,
/// extended, and every numeric value set to 0, 2^31, 2^32-1, 2^32 and -1
/// (and other values well-formed or not) under a matching crc line. Every
/// damaged file is `Corrupt` naming it; a well-formed file in range opens
/// with exactly the configuration it says, every record intact.
#[test]
fn topic_properties_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("topic_properties", SEED);
    properties_damage(&f, &mut t, TOPIC);
    t.finish();
}

/// Fault: the offset store topic's own `topic.properties` damaged (random
/// bytes, flips, cuts, lines appended): `Corrupt` naming it.
#[test]
fn offset_store_properties_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("offset_store_properties", SEED);
    properties_damage(&f, &mut t, OFFSETS);
    t.finish();
}

// ---- The offset store ------------------------------------------------------------

/// The end of each batch of a segment file, from the length fields. An
/// active segment left by a crash ends in the zeros reserved ahead of its
/// log (docs/FORMAT.md): no batch has length zero.
fn batch_ends(path: &Path) -> Vec<u64> {
    let b = fs::read(path).unwrap();
    let mut ends = Vec::new();
    let mut at = 0usize;
    while at + 12 <= b.len() && b[at + 8..at + 12] != [0; 4] {
        at += u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize + 12;
        ends.push(at as u64);
    }
    ends
}

/// Damages the offset store's segment: cut at every byte, bits flipped,
/// replaced by random bytes. After a crash (`clean` false) the segment is
/// scanned: a torn tail is cut off and the commits before it are in force,
/// exactly; damage followed by a valid batch is `Corrupt`. After a clean
/// close, damage of the same length is trusted at open, so loading the
/// commits reads it and fails with `Corrupt`.
fn offset_store_damage(clean: bool) {
    let f = Fixture::new(clean);
    let mut t = Tally::new(
        if clean {
            "offset_store_clean"
        } else {
            "offset_store_crash"
        },
        SEED,
    );
    let path = f.offsets_log();
    let rel = path.strip_prefix(&f.root).unwrap().to_path_buf();
    let ends = batch_ends(&path);
    assert_eq!(ends.len(), f.commits.len(), "one batch per commit");
    let len = *ends.last().unwrap();
    // The commits in force after the segment is cut at `cut`.
    let after_cut = |cut: u64| Expect {
        error_paths: Vec::new(),
        may_open: true,
        must_open: true,
        config: topic_config(),
        commits: Some(f.committed_after(ends.iter().filter(|&&e| e <= cut).count())),
    };
    let corrupt = Expect {
        error_paths: vec![rel.clone()],
        may_open: false,
        must_open: false,
        ..after_cut(0)
    };
    let case = |t: &mut Tally, how: String, bytes: Vec<u8>, e: &Expect| {
        let ctx = format!("{}: {how}", rel.display());
        f.case(
            t,
            &ctx,
            |r| fs::write(r.join(&rel), &bytes).unwrap(),
            |r| check(&f, r, e),
        );
    };
    let pristine = fs::read(&path).unwrap();
    for cut in 0..len {
        let b = pristine[..cut as usize].to_vec();
        case(&mut t, format!("cut to {cut} bytes"), b, &after_cut(cut));
    }
    for (pos, bit) in flips(len as usize).into_iter().step_by(2) {
        let mut b = pristine.clone();
        b[pos] ^= 1 << bit;
        let batch = ends.iter().position(|&e| e > pos as u64).unwrap();
        let e = if clean || batch + 1 < ends.len() {
            corrupt.clone()
        } else {
            after_cut(ends[batch] - 1)
        };
        case(&mut t, format!("bit {bit} of byte {pos} flipped"), b, &e);
    }
    for (i, size) in random_sizes(len as usize).into_iter().enumerate() {
        let mut b = vec![0u8; size];
        Rng::new(SEED ^ 0x0f ^ i as u64).fill(&mut b);
        let e = if clean && size as u64 == len {
            corrupt.clone()
        } else {
            after_cut(0)
        };
        case(&mut t, format!("replaced by {size} random bytes"), b, &e);
    }
    t.finish();
}

/// Fault: the offset store's segment damaged after a crash (no
/// clean-shutdown marker): see [`offset_store_damage`].
#[test]
fn offset_store_damage_after_a_crash() {
    offset_store_damage(false);
}

/// Fault: the offset store's segment damaged after a clean close (the
/// marker vouches for it): see [`offset_store_damage`].
#[test]
fn offset_store_damage_after_a_clean_close() {
    offset_store_damage(true);
}

/// A commit key as docs/FORMAT.md lays it out.
fn commit_key(version: u16, group: &[u8], topic: &[u8], partition: u32) -> Vec<u8> {
    let mut k = version.to_le_bytes().to_vec();
    k.extend_from_slice(&(group.len() as u16).to_le_bytes());
    k.extend_from_slice(group);
    k.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    k.extend_from_slice(topic);
    k.extend_from_slice(&partition.to_le_bytes());
    k
}

/// A commit value as docs/FORMAT.md lays it out.
fn commit_value(version: u16, offset: u64, metadata: &[u8]) -> Vec<u8> {
    let mut v = version.to_le_bytes().to_vec();
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
    v.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
    v.extend_from_slice(metadata);
    v
}

fn set(mut b: Vec<u8>, at: usize, v: &[u8]) -> Vec<u8> {
    b[at..at + v.len()].copy_from_slice(v);
    b
}

/// Appends one record of `key` and `value` (`None`: a tombstone) to the
/// offset store of the log at `root`, as a foreign writer would: the
/// store's partition directory opened as a standalone `Partition` (a
/// `Log` refuses appends to its internal topic). A record with a valid
/// CRC, so only the commit decoding stands in the way.
fn append_commit_record(root: &Path, key: &[u8], value: Option<&[u8]>) {
    let dir = root.join("topics").join(OFFSETS).join("0");
    let store = Partition::open(&dir, PartitionConfig::default().sync(SyncPolicy::Os)).unwrap();
    let record = match value {
        Some(v) => Record::new(v).key(key),
        None => Record::tombstone(key),
    };
    store.append(&[record]).unwrap();
    store.close().unwrap();
}

/// Commit records whose length fields lie, each appended as a record of
/// valid CRC: each decoding length (group and topic lengths, a `u16`, at 0,
/// 2^15 and 2^16-1; the metadata length at 0, 2^31 and 2^32-1), versions,
/// keys and values cut short or with a byte too many, text that is not
/// UTF-8. Each is `Corrupt` naming the offset store's partition. Well-formed
/// records about partitions or topics that do not exist, and tombstones of
/// unknown keys, open with every real commit as it was.
#[test]
fn offset_store_commit_records() {
    let f = Fixture::new(true);
    let mut t = Tally::new("offset_store_records", SEED);
    let store_dir = PathBuf::from("topics").join(OFFSETS).join("0");
    let key = commit_key(1, b"billing", TOPIC.as_bytes(), 1);
    let value = commit_value(1, 2, b"meta");
    let group_end = 4 + "billing".len();
    let mut bad: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for v in [0u16, 1 << 15, u16::MAX] {
        let k = set(key.clone(), 2, &v.to_le_bytes());
        bad.push((format!("group length {v}"), k, Some(value.clone())));
        let k = set(key.clone(), group_end, &v.to_le_bytes());
        bad.push((format!("topic length {v}"), k, Some(value.clone())));
    }
    for v in [0u32, 1 << 31, u32::MAX] {
        let val = set(value.clone(), 18, &v.to_le_bytes());
        bad.push((format!("metadata length {v}"), key.clone(), Some(val)));
    }
    for v in [0u16, 2, u16::MAX] {
        let k = set(key.clone(), 0, &v.to_le_bytes());
        bad.push((format!("key version {v}"), k, Some(value.clone())));
        let val = set(value.clone(), 0, &v.to_le_bytes());
        bad.push((format!("value version {v}"), key.clone(), Some(val)));
    }
    for cut in [0, 1, 2, 4, key.len() - 1] {
        let k = key[..cut].to_vec();
        bad.push((format!("key cut to {cut} bytes"), k, Some(value.clone())));
        bad.push((
            format!("tombstone key cut to {cut} bytes"),
            key[..cut].to_vec(),
            None,
        ));
    }
    for cut in [0, 1, 2, 10, 18, 21, value.len() - 1] {
        let val = value[..cut].to_vec();
        bad.push((format!("value cut to {cut} bytes"), key.clone(), Some(val)));
    }
    let mut long = key.clone();
    long.push(0);
    bad.push(("a byte after the key".into(), long, Some(value.clone())));
    let mut long = value.clone();
    long.push(0);
    bad.push(("a byte after the value".into(), key.clone(), Some(long)));
    let k = commit_key(1, b"bill\xffng", TOPIC.as_bytes(), 1);
    bad.push(("a group that is not UTF-8".into(), k, Some(value.clone())));
    let val = commit_value(1, 2, b"me\xc0a");
    bad.push(("metadata that is not UTF-8".into(), key.clone(), Some(val)));
    let corrupt = Expect {
        error_paths: vec![store_dir],
        may_open: false,
        must_open: false,
        config: topic_config(),
        commits: None,
    };
    let fine = Expect {
        error_paths: Vec::new(),
        may_open: true,
        must_open: true,
        commits: Some(f.committed_after(f.commits.len())),
        ..corrupt.clone()
    };
    let mut good: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = vec![
        (
            "a commit for partition 2^32-1".into(),
            commit_key(1, b"billing", TOPIC.as_bytes(), u32::MAX),
            Some(value.clone()),
        ),
        (
            "a commit for a topic that does not exist".into(),
            commit_key(1, b"billing", b"nope", 0),
            Some(value.clone()),
        ),
        (
            "a tombstone of a key never committed".into(),
            commit_key(1, b"nobody", TOPIC.as_bytes(), 0),
            None,
        ),
    ];
    let cases = bad
        .drain(..)
        .map(|c| (c, &corrupt))
        .chain(good.drain(..).map(|c| (c, &fine)));
    for ((how, k, v), e) in cases {
        let ctx = format!("{OFFSETS} record appended: {how}");
        f.case(
            &mut t,
            &ctx,
            |r| append_commit_record(r, &k, v.as_deref()),
            |r| check(&f, r, e),
        );
    }
    t.finish();
}

/// Opens the log at `root` and checks the commits: each is the last one
/// made (`want`), moved back to its partition's high watermark if it was
/// past it; none points past the end. Then reopens and checks again (the
/// correction is durable). A `Corrupt` naming `error_path` is allowed
/// instead, when given.
fn check_clamped(
    root: &Path,
    want: &BTreeMap<(&'static str, u32), u64>,
    error_path: Option<&Path>,
) -> Result<Outcome, String> {
    for round in ["open", "second open"] {
        let log = match open(root) {
            Ok(log) => log,
            Err(Error::Corrupt { path, .. })
                if round == "open" && error_path.is_some_and(|p| root.join(p) == path) =>
            {
                return Ok(Outcome::TypedError)
            }
            Err(err) => return Err(format!("{round} failed: {err}")),
        };
        let topic = log.topic(TOPIC).map_err(|err| err.to_string())?;
        for group in GROUPS {
            for p in 0..PARTITIONS {
                let hw = topic.partition(p).unwrap().high_watermark();
                let got = log.group(group).committed(TOPIC, p).map(|o| o.offset);
                let expected = want.get(&(group, p)).map(|&o| o.min(hw));
                if got != expected {
                    return Err(format!(
                        "{round}: group {group} partition {p}: committed {got:?}, expected \
                         {expected:?} (high watermark {hw})"
                    ));
                }
            }
        }
    }
    Ok(Outcome::Opened { read_errors: 0 })
}

/// Fault: commits that point past the end of their partition. First the
/// way a crash makes them: a group committed the high watermark of a
/// partition, then the partition's last batch is damaged and cut off as a
/// torn tail at the next open (under `SyncPolicy::Os` it may never have
/// reached the disk). Then commit records naming offsets past the end
/// (the high watermark + 1, 2^31, 2^32-1, u64::MAX) under a valid CRC.
/// Open moves each back to the high watermark (docs/FORMAT.md), durably,
/// so the records appended next at those offsets are not skipped.
#[test]
fn committed_offsets_past_the_log_end() {
    let mut t = Tally::new("offset_store_past_the_end", SEED);
    let last = |f: &Fixture| -> BTreeMap<_, _> {
        f.committed_after(f.commits.len())
            .into_iter()
            .map(|(k, c)| (k, c.offset))
            .collect()
    };
    let crashed = Fixture::new(false);
    let torn = crashed
        .commits
        .last()
        .unwrap()
        .iter()
        .find(|c| c.offset == crashed.hw[c.partition as usize])
        .expect("the last round commits a high watermark")
        .partition;
    let dir = crashed.root.join(format!("topics/{TOPIC}/{torn}"));
    let rel = log_files(&dir).pop().unwrap();
    let rel = rel.strip_prefix(&crashed.root).unwrap().to_path_buf();
    let ctx = format!("{}: last byte cut off after a crash", rel.display());
    let want = last(&crashed);
    crashed.case(
        &mut t,
        &ctx,
        |r| set_len(&r.join(&rel), file_len(&r.join(&rel)) - 1),
        |r| check_clamped(r, &want, None),
    );
    let f = Fixture::new(true);
    let store = PathBuf::from("topics").join(OFFSETS).join("0");
    for offset in [f.hw[1] + 1, 1 << 31, (1 << 32) - 1, u64::MAX] {
        let key = commit_key(1, b"billing", TOPIC.as_bytes(), 1);
        let value = commit_value(1, offset, b"");
        let mut want = last(&f);
        want.insert(("billing", 1), offset);
        let ctx = format!("{OFFSETS} record appended: a commit of offset {offset}");
        f.case(
            &mut t,
            &ctx,
            |r| append_commit_record(r, &key, Some(&value)),
            |r| check_clamped(r, &want, Some(&store)),
        );
    }
    t.finish();
}

/// Fault: a topic's metadata that makes open delete partitions holding
/// records: the file missing (read as a creation cut short: the topic
/// directory is removed), or well-formed under a matching crc line but
/// with a smaller partition count (read as growth cut short: directories
/// numbered past it are removed). A creation or growth cut short leaves
/// only empty partitions; ones holding records must not be deleted on the
/// metadata's word (`Corrupt` naming the file instead).
#[test]
fn metadata_that_would_drop_partitions() {
    let f = Fixture::new(true);
    let mut t = Tally::new("topic_properties_drops", SEED);
    let rel = f
        .properties(TOPIC)
        .strip_prefix(&f.root)
        .unwrap()
        .to_path_buf();
    let pristine = fs::read_to_string(f.properties(TOPIC)).unwrap();
    let e = Expect {
        error_paths: vec![rel.clone()],
        may_open: true,
        must_open: false,
        config: topic_config(),
        commits: Some(f.committed_after(f.commits.len())),
    };
    let ctx = format!("{}: removed", rel.display());
    f.case(
        &mut t,
        &ctx,
        |r| fs::remove_file(r.join(&rel)).unwrap(),
        |r| check(&f, r, &e),
    );
    for n in 1..PARTITIONS {
        let b = with_value(&pristine, "partitions", &n.to_string());
        let ctx = format!("{}: partitions={n}, crc matching", rel.display());
        f.case(
            &mut t,
            &ctx,
            |r| fs::write(r.join(&rel), &b).unwrap(),
            |r| check(&f, r, &e),
        );
    }
    t.finish();
}
