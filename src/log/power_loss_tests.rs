//! Power loss at every I/O operation, on the simulated disk.
//!
//! A small workload (create a topic, produce batches across segment rolls
//! on two partitions, commit offsets, create and delete a second topic,
//! close) is run once to count its I/O operations. Then, for every
//! operation `k`, the workload runs again with the power cut at `k`; the
//! disk left behind is rebuilt by [`SimDisk::power_loss`] in several
//! variants (only synced bytes; everything written; seeded choices of
//! lost, torn and zero-grown writes and of lost directory changes), and
//! each is reopened and checked:
//! - the log opens;
//! - each partition is a prefix of what was appended to it, record by
//!   record, byte-identical;
//! - under `SyncPolicy::Always` every acknowledged append is there, every
//!   acknowledged topic creation and deletion and offset commit holds;
//! - committed offsets never point past the log end;
//! - new appends continue at the log end offset, and survive a clean
//!   reopen.
//!
//! A failure names the crash point and damage variant; set
//! `SAMSA_POWER_LOSS_POINT=<k>` to run only that point.
//! `SAMSA_POWER_LOSS_VARIANTS` (default 4) sets the seeded variants per
//! point.

use super::{Log, LogBuilder};
use crate::consumer::ConsumerConfig;
use crate::error::{Error, Result};
use crate::group::OffsetAndMetadata;
use crate::partition::SyncPolicy;
use crate::record::Record;
use crate::storage::sim::{Damage, SimDisk};
use crate::storage::Storage;
use crate::topic::{CompressionType, TopicConfig};
use std::path::Path;
use std::sync::Arc;

const DIR: &str = "/log";
const EVENTS: &str = "events";
const SCRATCH: &str = "scratch";
const GROUP: &str = "g";
/// A group whose member subscribes: its membership records are written.
const MEMBERS: &str = "members";

/// What the workload did, as its caller saw it.
#[derive(Debug, Default, Clone)]
pub(super) struct Model {
    /// Per partition of `events`: every value whose append was tried, in
    /// offset order, and how many of them were acknowledged.
    pub(super) appended: [Vec<Vec<u8>>; 2],
    pub(super) acked: [usize; 2],
    events_created: bool,
    /// A third partition was tried / acknowledged.
    grow_tried: bool,
    grown: bool,
    /// `scratch` was created (acknowledged), and its deletion tried /
    /// acknowledged.
    scratch_created: bool,
    scratch_delete_tried: bool,
    scratch_deleted: bool,
    /// The codec `events` stores its batches in.
    pub(super) compression: CompressionType,
    /// A member of `members` joined, was assigned partitions and left,
    /// acknowledged: the group's generation then.
    member_left: Option<u32>,
    /// Per partition of `events`: acknowledged commits, and one tried
    /// whose outcome is unknown.
    commits: [Vec<u64>; 2],
    commit_tried: [Option<u64>; 2],
    /// Per partition of `events`: the log start offset after the last
    /// acknowledged `delete_records` or retention pass.
    started: [u64; 2],
}

impl Model {
    /// A model of the workload with `events` stored in `compression`.
    pub(super) fn compressed(compression: CompressionType) -> Model {
        Model {
            compression,
            ..Model::default()
        }
    }
}

fn builder(sync: SyncPolicy) -> LogBuilder {
    Log::builder().sync(sync)
}

pub(super) fn open(disk: &SimDisk, sync: SyncPolicy) -> Result<Log> {
    Log::open_with(Arc::new(disk.clone()), Path::new(DIR), builder(sync))
}

fn value(partition: usize, n: usize) -> Vec<u8> {
    // Varied lengths so batches straddle sectors differently.
    let len = 40 + (n * 37 + partition * 11) % 150;
    (0..len)
        .map(|i| (i as u8) ^ (n as u8).wrapping_mul(31) ^ (partition as u8))
        .collect()
}

/// Appends a batch of 3 records to `events`/`partition`.
fn produce(log: &Log, m: &mut Model, partition: usize) -> Result<()> {
    let p = log.topic(EVENTS)?.partition(partition as u32)?;
    let first = m.appended[partition].len();
    let values: Vec<Vec<u8>> = (first..first + 3).map(|n| value(partition, n)).collect();
    let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v).key(b"k")).collect();
    m.appended[partition].extend(values.iter().cloned());
    let info = p.append(&records)?;
    assert_eq!(info.base_offset, first as u64, "offsets follow the model");
    m.acked[partition] = m.appended[partition].len();
    Ok(())
}

fn commit(log: &Log, m: &mut Model, partition: usize) -> Result<()> {
    let offset = m.acked[partition] as u64;
    m.commit_tried[partition] = Some(offset);
    let mut consumer = log.consumer(ConsumerConfig::new(GROUP).enable_auto_commit(false))?;
    consumer.assign(&[(EVENTS, partition as u32)])?;
    let offsets = [(
        (EVENTS.to_owned(), partition as u32),
        OffsetAndMetadata::new(offset),
    )];
    if partition == 0 {
        consumer.commit_offsets(&offsets)?;
    } else {
        // The async commit, written on the commit thread, under the same
        // faults and power cuts.
        crate::test_support::block_on(consumer.commit_offsets_async(&offsets))?;
    }
    m.commits[partition].push(offset);
    m.commit_tried[partition] = None;
    Ok(())
}

/// A member joins `members`, polls until it is assigned `events`, and
/// closes: the group's membership is recorded at each step.
fn member(log: &Log, m: &mut Model) -> Result<()> {
    let mut consumer = log.consumer(ConsumerConfig::new(MEMBERS).enable_auto_commit(false))?;
    consumer.subscribe(&[EVENTS])?;
    while consumer.assignment().is_empty() {
        consumer.poll(std::time::Duration::ZERO)?;
    }
    consumer.close()?;
    m.member_left = Some(log.group(MEMBERS).describe()?.generation);
    Ok(())
}

/// The workload; stops at the first error (the power is gone).
fn workload(disk: &SimDisk, sync: SyncPolicy, m: &mut Model) -> Result<()> {
    let log = open(disk, sync)?;
    run(&log, m)
}

/// The workload's steps on an open log.
pub(super) fn run(log: &Log, m: &mut Model) -> Result<()> {
    log.create_topic(
        EVENTS,
        TopicConfig::default()
            .partitions(2)
            .segment_bytes(1024)
            .retention_bytes(Some(2048))
            .compression_type(m.compression),
    )?;
    m.events_created = true;
    for i in 0..6 {
        produce(log, m, i % 2)?;
    }
    commit(log, m, 0)?;
    member(log, m)?;
    let scratch = log.create_topic(SCRATCH, TopicConfig::default().partitions(1))?;
    m.scratch_created = true;
    scratch.partition(0)?.append(&[Record::new(b"temporary")])?;
    m.scratch_delete_tried = true;
    log.delete_topic(SCRATCH)?;
    m.scratch_deleted = true;
    m.grow_tried = true;
    log.add_partitions(EVENTS, 1)?;
    m.grown = true;
    for i in 6..11 {
        produce(log, m, i % 2)?;
    }
    commit(log, m, 0)?;
    // Retention by size (2 KiB a partition) removes whole segments; then
    // delete_records moves partition 0's start inside a segment.
    log.maintain()?;
    for (n, started) in m.started.iter_mut().enumerate() {
        *started = log.topic(EVENTS)?.partition(n as u32)?.log_start_offset();
    }
    let before = m.acked[0] as u64 - 2;
    log.delete_records(EVENTS, 0, before)?;
    m.started[0] = before;
    commit(log, m, 1)?;
    log.close()
}

/// Checks a reopened log against what the workload saw; returns how many
/// records it compared.
pub(super) fn check(log: &Log, m: &Model, sync: SyncPolicy) -> std::result::Result<usize, String> {
    let durable = sync == SyncPolicy::Always;
    let mut checked = 0;
    let events = match log.topic(EVENTS) {
        Ok(t) => Some(t),
        Err(Error::UnknownTopic { .. }) if !(durable && m.events_created) => None,
        Err(e) => return Err(format!("topic {EVENTS}: {e}")),
    };
    if let Some(events) = &events {
        let count = events.partition_count();
        let allowed = if durable && m.grown {
            3..=3
        } else if m.grow_tried {
            2..=3
        } else {
            2..=2
        };
        if !allowed.contains(&count) {
            return Err(format!("{count} partitions, grow tried {}", m.grow_tried));
        }
        for (n, appended) in m.appended.iter().enumerate() {
            let p = events.partition(n as u32).map_err(|e| e.to_string())?;
            let end = p.log_end_offset();
            if end as usize > appended.len() {
                return Err(format!(
                    "partition {n}: end {end}, only {} tried",
                    appended.len()
                ));
            }
            if durable && (end as usize) < m.acked[n] {
                return Err(format!("partition {n}: end {end}, {} acked", m.acked[n]));
            }
            let mut offset = p.log_start_offset();
            if durable && offset < m.started[n] {
                return Err(format!(
                    "partition {n}: log start {offset}, deleted below {}: records came back",
                    m.started[n]
                ));
            }
            while offset < end {
                let records = p
                    .read(offset, 1 << 20)
                    .map_err(|e| format!("read {n}@{offset}: {e}"))?;
                for r in records.iter() {
                    if r.offset() != offset || r.value() != Some(&appended[offset as usize][..]) {
                        return Err(format!(
                            "partition {n}: record {} is not the appended one",
                            r.offset()
                        ));
                    }
                    offset += 1;
                    checked += 1;
                }
            }
            let committed = log
                .group(GROUP)
                .committed(EVENTS, n as u32)
                .map(|o| o.offset);
            if committed.is_some_and(|c| c > end) {
                return Err(format!(
                    "partition {n}: committed {committed:?} past end {end}"
                ));
            }
            let acked = m.commits[n].last().copied();
            let allowed =
                committed == acked || committed.is_some() && committed == m.commit_tried[n];
            if durable && !allowed {
                return Err(format!(
                    "partition {n}: committed {committed:?}, acked {acked:?}, tried {:?}",
                    m.commit_tried[n]
                ));
            }
        }
    }
    // The members' group: membership records only describe (a failed
    // write is not the caller's failure), so one may be missing; one that
    // is there opens empty (the member left, or went with the last owner)
    // at a generation the member reached.
    match log.group(MEMBERS).describe() {
        Ok(d) => {
            if d.state != crate::group::GroupState::Empty || !d.members.is_empty() {
                return Err(format!("members' group reopened with members: {d:?}"));
            }
            if d.generation > m.member_left.unwrap_or(1) {
                return Err(format!(
                    "generation {} past the member's {:?}",
                    d.generation, m.member_left
                ));
            }
        }
        Err(Error::UnknownGroup { .. }) => {}
        Err(e) => return Err(format!("members' group: {e}")),
    }
    let scratch = log.topic(SCRATCH).is_ok();
    if durable && m.scratch_deleted && scratch {
        return Err("a deleted topic came back".into());
    }
    if durable && m.scratch_created && !m.scratch_delete_tried && !scratch {
        return Err("a created topic vanished".into());
    }
    Ok(checked)
}

/// Appends once more after recovery and checks the offset continues and
/// survives a clean reopen.
pub(super) fn check_continues(disk: &SimDisk, sync: SyncPolicy) -> std::result::Result<(), String> {
    let log = open(disk, sync).map_err(|e| format!("open: {e}"))?;
    let events = match log.topic(EVENTS) {
        Ok(t) => t,
        Err(_) => log
            .create_topic(
                EVENTS,
                TopicConfig::default().partitions(2).segment_bytes(1024),
            )
            .map_err(|e| format!("create after recovery: {e}"))?,
    };
    let p = events.partition(0).map_err(|e| e.to_string())?;
    let end = p.log_end_offset();
    let info = p
        .append(&[Record::new(b"after")])
        .map_err(|e| format!("append: {e}"))?;
    if info.base_offset != end {
        return Err(format!(
            "append after recovery at {}, log end was {end}",
            info.base_offset
        ));
    }
    log.close().map_err(|e| format!("close: {e}"))?;
    let log = open(disk, sync).map_err(|e| format!("reopen: {e}"))?;
    let p = log
        .topic(EVENTS)
        .and_then(|t| t.partition(0))
        .map_err(|e| e.to_string())?;
    if p.log_end_offset() != end + 1 {
        return Err(format!(
            "after clean reopen end {}, want {}",
            p.log_end_offset(),
            end + 1
        ));
    }
    let last = p.read(end, 1 << 20).map_err(|e| e.to_string())?;
    match last.iter().next() {
        Some(r) if r.value() == Some(&b"after"[..]) => Ok(()),
        _ => Err("the record appended after recovery is not there".into()),
    }
}

pub(super) fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
}

#[derive(Debug, Default)]
struct Figures {
    points: u64,
    variants: u64,
    records: usize,
}

/// The first codec this build has, for the suites' compressed runs
/// (`None`, printed, without one).
pub(super) fn a_codec() -> Option<CompressionType> {
    let codec = crate::compression::Compression::available()
        .into_iter()
        .find(|c| *c != crate::compression::Compression::None);
    if codec.is_none() {
        eprintln!("compressed run skipped: no codec feature in this build");
    }
    codec.map(CompressionType::from)
}

fn every_crash_point(sync: SyncPolicy) -> Figures {
    every_crash_point_with(sync, CompressionType::Producer)
}

fn every_crash_point_with(sync: SyncPolicy, compression: CompressionType) -> Figures {
    let model = || Model::compressed(compression);
    let mut clean = model();
    let disk = SimDisk::new();
    workload(&disk, sync, &mut clean).expect("the workload runs on a healthy disk");
    let total = disk.ops();
    // The crash points cover the active segment's reserved tail too: its
    // growth, the appends inside it, and its trim at roll and close.
    let trace = disk.trace();
    assert!(trace.contains("fallocate") && trace.contains("truncate"));
    let only = std::env::var("SAMSA_POWER_LOSS_POINT")
        .ok()
        .map(|v| v.parse::<u64>().unwrap());
    let seeded = env("SAMSA_POWER_LOSS_VARIANTS", 4);
    let mut figures = Figures::default();
    for k in (0..=total).filter(|k| only.is_none_or(|o| o == *k)) {
        let disk = SimDisk::new();
        disk.cut_power_at(k);
        let mut m = model();
        let ran = workload(&disk, sync, &mut m);
        assert_eq!(ran.is_ok(), k == total, "crash point {k} of {total}");
        figures.points += 1;
        let variants = [Damage::DropAll, Damage::KeepAll]
            .into_iter()
            .chain((0..seeded).map(|s| Damage::Seeded(k * 1000 + s)));
        for damage in variants {
            let after = disk.power_loss(damage);
            let outcome = open(&after, sync)
                .map_err(|e| format!("open: {e}"))
                .and_then(|log| {
                    let checked = check(&log, &m, sync)?;
                    log.close().map_err(|e| format!("close: {e}"))?;
                    Ok(checked)
                })
                .and_then(|checked| check_continues(&after, sync).map(|()| checked));
            match outcome {
                Ok(checked) => figures.records += checked,
                Err(why) => panic!(
                    "{sync:?}: power cut at operation {k} of {total}, {damage:?}: {why}\n\
                     replay: SAMSA_POWER_LOSS_POINT={k}\nlast operations:\n{}",
                    tail(&disk.trace(), 25)
                ),
            }
            figures.variants += 1;
        }
    }
    eprintln!(
        "power_loss {sync:?}: crash_points={} damage_variants={} records_checked={} violations=0",
        figures.points, figures.variants, figures.records
    );
    figures
}

pub(super) fn tail(trace: &str, lines: usize) -> String {
    let all: Vec<&str> = trace.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn power_loss_at_every_operation_loses_nothing_acknowledged() {
    let f = every_crash_point(SyncPolicy::Always);
    assert!(f.points > 50 && f.records > 0, "{f:?}");
}

#[test]
fn power_loss_with_compressed_batches_loses_nothing_acknowledged() {
    if let Some(codec) = a_codec() {
        let f = every_crash_point_with(SyncPolicy::Always, codec);
        assert!(f.points > 50 && f.records > 0, "{f:?}");
    }
}

#[test]
fn power_loss_without_fsync_still_leaves_a_prefix_that_opens() {
    let f = every_crash_point(SyncPolicy::Os);
    assert!(f.points > 20, "{f:?}");
}

#[test]
fn power_loss_with_interval_syncs_leaves_a_prefix_that_opens() {
    // A sync every ~700 bytes: some batches synced, some not.
    let f = every_crash_point(SyncPolicy::Interval { ms: 0, bytes: 700 });
    assert!(f.points > 20, "{f:?}");
}

#[test]
fn the_workload_touches_every_kind_of_file() {
    let disk = SimDisk::new();
    workload(&disk, SyncPolicy::Always, &mut Model::default()).unwrap();
    let files: Vec<String> = disk
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let has = |suffix: &str| files.iter().any(|f| f.ends_with(suffix));
    for kind in [
        ".log",
        ".index",
        ".timeindex",
        "topic.properties",
        ".clean_shutdown",
        ".snapshot",
        "log-start-offset",
    ] {
        assert!(has(kind), "no {kind} in {files:?}");
    }
    assert!(files.iter().any(|f| f.contains("__consumer_offsets")));
    assert!(!disk.dir_exists(&Path::new(DIR).join("topics").join(SCRATCH)));
    // More than one segment in a partition: the workload crosses a roll.
    let logs = files
        .iter()
        .filter(|f| f.contains("/events/1/") && f.ends_with(".log"));
    assert!(logs.count() > 1, "{files:?}");
    // Retention and delete_records removed partition 0's first segment.
    assert!(!has("/events/0/00000000000000000000.log"), "{files:?}");
}
