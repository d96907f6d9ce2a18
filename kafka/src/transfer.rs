//! Copying a topic from one log to another through the client traits:
//! samsa to Kafka ([`export_topic`]), Kafka to samsa ([`import_topic`]), or
//! any pair ([`copy_topic`]). Keys, values, headers, timestamps and
//! partition numbers are kept; the groups' committed offsets are
//! translated so that a consumer moved over resumes where it stopped; an
//! interrupted copy resumes from its checkpoint without copying a record
//! twice.

use crate::checkpoint::{Checkpoint, GroupOffset, PartitionState};
use crate::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
use samsa_log::client::{AdminClient, ConsumerClient, PendingDelivery, ProducerClient};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel, Offset};
use samsa_log::producer::{Acks, ProducerConfig};
use samsa_log::record::{Header, OwnedRecord};
use samsa_log::{Error, Log, Record, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// What to copy, and how.
#[derive(Debug, Clone)]
pub struct TransferPlan {
    /// The topic, named the same on both sides.
    pub topic: String,
    /// Groups whose committed offsets of the topic are translated.
    pub groups: Vec<String>,
    /// Records copied between two checkpoints (default 1,000): what an
    /// interruption can make the next run look up again, never copy twice.
    pub checkpoint_every: usize,
    /// How long the source may give no record before its snapshot end is
    /// reached before the copy stops with [`Error::TimedOut`] (default
    /// 30 s): a transaction open on the source, or a source that lost
    /// records. What was copied until then is checkpointed; a rerun once
    /// the transaction ended goes on from there.
    pub idle_timeout: Duration,
}

impl TransferPlan {
    /// Copy `topic`, translating `groups`' offsets.
    pub fn new(topic: impl Into<String>, groups: &[&str]) -> Self {
        TransferPlan {
            topic: topic.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            checkpoint_every: 1000,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a copy stands, reported after every checkpoint and at the end
/// of each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferProgress {
    /// The partition being copied.
    pub partition: u32,
    /// The source offset its copy reached: every record before it is on
    /// the destination.
    pub offset: u64,
    /// The source partition's end when the first run began: where its
    /// copy stops.
    pub end: u64,
    /// Records this run sent so far, all partitions.
    pub sent: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferReport {
    /// Records copied by this run.
    pub copied: u64,
    /// Records an earlier, interrupted run had delivered after its last
    /// checkpoint: found on the destination, not sent again.
    pub found_delivered: u64,
    /// Each group's translated offsets: group, partition, source offset,
    /// destination offset.
    pub group_offsets: Vec<(String, u32, u64, u64)>,
}

/// The groups' committed offsets of `topic` on the source, untranslated.
fn snapshot_groups<A: AdminClient>(source: &A, plan: &TransferPlan) -> Result<Vec<GroupOffset>> {
    let mut out = Vec::new();
    for g in &plan.groups {
        for (t, p, o) in source.group_offsets(g)? {
            if t == plan.topic {
                out.push(GroupOffset {
                    group: g.clone(),
                    partition: p,
                    source: o,
                    dest: None,
                });
            }
        }
    }
    Ok(out)
}

/// The record `r` as sent to the destination: same partition, key,
/// value, headers and timestamp.
fn send_copy<P: ProducerClient>(dest: &P, topic: &str, r: &OwnedRecord) -> Result<P::Delivery> {
    let headers: Vec<Header<'_>> = r
        .headers
        .iter()
        .map(|(k, v)| match v {
            Some(v) => Header::new(k, v),
            None => Header::null(k),
        })
        .collect();
    // A null value stays null (a tombstone), a null key null.
    let mut rec = match &r.value {
        Some(v) => Record::new(v.as_slice()),
        None => Record::default(),
    };
    if let Some(k) = &r.key {
        rec = rec.key(k.as_slice());
    }
    rec = rec
        .headers(headers)
        .timestamp(r.timestamp)
        .partition(r.partition);
    dest.send(topic, rec)
}

/// Copies `plan.topic` from `source` (read with `reader`, which is
/// assigned to one partition at a time) to `dest` (written with
/// `writer`), checkpointing in `checkpoint`; see the module docs.
/// `progress` is called after every checkpoint.
///
/// The destination topic is created with the source's partition count if
/// it does not exist; one with fewer partitions is refused. The copy is
/// of the records the source held when the first run started (its end
/// offsets then); a destination partition must be written by this copy
/// alone while it runs, since a resumed run counts the records found there
/// past the checkpoint as its own.
pub fn copy_topic<SA, SC, DA, DP>(
    source: &SA,
    reader: &mut SC,
    dest: &DA,
    writer: &DP,
    plan: &TransferPlan,
    checkpoint: &Path,
    progress: &mut dyn FnMut(&TransferProgress),
) -> Result<TransferReport>
where
    SA: AdminClient,
    SC: ConsumerClient,
    DA: AdminClient,
    DP: ProducerClient,
{
    let topic = plan.topic.as_str();
    let partitions = source.partition_count(topic)?;
    match dest.partition_count(topic) {
        Ok(n) if n < partitions => {
            return Err(Error::InvalidConfig(format!(
                "cannot copy {topic}: the destination has {n} partitions, the source {partitions}"
            )))
        }
        Ok(_) => {}
        Err(Error::UnknownTopic { .. }) => dest.create_topic(topic, partitions)?,
        Err(e) => return Err(e),
    }
    let ends = source.end_offsets(topic)?;
    let dest_ends = dest.end_offsets(topic)?;
    let mut cp = match Checkpoint::load(checkpoint)? {
        Some(cp) if cp.topic != topic => {
            return Err(Error::InvalidConfig(format!(
                "checkpoint {} is of topic {}, not {topic}",
                checkpoint.display(),
                cp.topic
            )))
        }
        Some(cp) => cp,
        None => {
            let cp = Checkpoint {
                topic: topic.to_owned(),
                partitions: (0..partitions as usize)
                    .map(|p| PartitionState {
                        source_next: None,
                        dest_next: dest_ends.get(p).copied().unwrap_or(0),
                    })
                    .collect(),
                groups: snapshot_groups(source, plan)?,
                done: false,
            };
            cp.save(checkpoint)?;
            cp
        }
    };
    let mut report = TransferReport::default();
    if !cp.done {
        for p in 0..partitions {
            let end = ends[p as usize];
            let sent_before = report.copied;
            copy_partition(
                CopyArgs {
                    reader,
                    writer,
                    topic,
                    partition: p,
                    end,
                    dest_end: dest_ends.get(p as usize).copied().unwrap_or(0),
                    plan,
                    checkpoint,
                },
                &mut cp,
                &mut report,
                &mut |offset, sent_here| {
                    progress(&TransferProgress {
                        partition: p,
                        offset,
                        end,
                        sent: sent_before + sent_here,
                    })
                },
            )?;
        }
        for g in &plan.groups {
            let offsets: Vec<(&str, u32, u64)> = cp
                .groups
                .iter()
                .filter(|o| &o.group == g)
                .filter_map(|o| o.dest.map(|d| (topic, o.partition, d)))
                .collect();
            if !offsets.is_empty() {
                dest.alter_group_offsets(g, &offsets)?;
            }
        }
        cp.done = true;
        cp.save(checkpoint)?;
    }
    report.group_offsets = cp
        .groups
        .iter()
        .filter_map(|o| o.dest.map(|d| (o.group.clone(), o.partition, o.source, d)))
        .collect();
    Ok(report)
}

struct CopyArgs<'a, SC, DP> {
    reader: &'a mut SC,
    writer: &'a DP,
    topic: &'a str,
    partition: u32,
    /// The source's end when the copy began.
    end: u64,
    /// The destination partition's end now.
    dest_end: u64,
    plan: &'a TransferPlan,
    checkpoint: &'a Path,
}

/// Gives every untranslated group offset of `partition` at or below
/// `source` the destination offset `dest` (the destination offset of the
/// first record at or after it).
fn translate(cp: &mut Checkpoint, partition: u32, source: u64, dest: u64) {
    for g in cp
        .groups
        .iter_mut()
        .filter(|g| g.partition == partition && g.dest.is_none() && g.source <= source)
    {
        g.dest = Some(dest);
    }
}

fn copy_partition<SC: ConsumerClient, DP: ProducerClient>(
    a: CopyArgs<'_, SC, DP>,
    cp: &mut Checkpoint,
    report: &mut TransferReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let p = a.partition;
    let state = cp.partitions[p as usize].clone();
    if a.dest_end < state.dest_next {
        return Err(Error::InvalidConfig(format!(
            "cannot resume the copy of {}/{p}: the destination ends at {}, before the {} the checkpoint recorded",
            a.topic, a.dest_end, state.dest_next
        )));
    }
    // Records the last run delivered after its last checkpoint: on the
    // destination already, so passed over here, never sent again.
    let mut already = a.dest_end - state.dest_next;
    let mut dest_next = state.dest_next;
    a.reader.assign(&[(a.topic, p)])?;
    match state.source_next {
        Some(o) => a.reader.seek(a.topic, p, Offset::At(o))?,
        None => a.reader.seek(a.topic, p, Offset::Earliest)?,
    }
    let mut copied_here = 0u64;
    let mut pending: Vec<(u64, DP::Delivery)> = Vec::new();
    let mut last_record = Instant::now();
    let mut position = a.reader.position(a.topic, p)?;
    while position < a.end {
        let records = a.reader.poll(Duration::from_millis(200))?;
        if records.is_empty() {
            if last_record.elapsed() > a.plan.idle_timeout {
                return Err(Error::TimedOut {
                    operation: "copy_topic",
                    target: format!("{}/{p}", a.topic),
                    waited_ms: u64::try_from(a.plan.idle_timeout.as_millis()).unwrap_or(u64::MAX),
                    reason: format!(
                        "no record came at offset {position}, before the end {} the copy began with: a transaction open on the source, or records lost there",
                        a.end
                    ),
                });
            }
            position = a.reader.position(a.topic, p)?;
            continue;
        }
        last_record = Instant::now();
        for r in records.iter().filter(|r| r.partition == p) {
            // A record appended after the copy began ends it, uncopied.
            position = position.max((r.offset + 1).min(a.end));
            if r.offset >= a.end {
                continue;
            }
            if already > 0 {
                already -= 1;
                report.found_delivered += 1;
                translate(cp, p, r.offset, dest_next);
                dest_next += 1;
                cp.partitions[p as usize] = PartitionState {
                    source_next: Some(r.offset + 1),
                    dest_next,
                };
                continue;
            }
            pending.push((r.offset, send_copy(a.writer, a.topic, r)?));
            if pending.len() >= a.plan.checkpoint_every {
                copied_here += settle(&mut pending, cp, p, a.checkpoint)?;
                let reached = cp.partitions[p as usize].source_next.unwrap_or(0);
                progress(reached, copied_here);
            }
        }
    }
    copied_here += settle(&mut pending, cp, p, a.checkpoint)?;
    report.copied += copied_here;
    // Group offsets at or past the last record copied map to the end.
    let end_dest = cp.partitions[p as usize].dest_next;
    translate(cp, p, u64::MAX, end_dest);
    cp.save(a.checkpoint)?;
    progress(a.end, copied_here);
    Ok(())
}

/// Waits for the deliveries in `pending`, records where the last landed
/// and the group offsets they translate, and saves the checkpoint.
fn settle<D: PendingDelivery>(
    pending: &mut Vec<(u64, D)>,
    cp: &mut Checkpoint,
    p: u32,
    checkpoint: &Path,
) -> Result<u64> {
    let n = pending.len() as u64;
    for (source, d) in pending.drain(..) {
        let md = d.wait()?;
        translate(cp, p, source, md.offset);
        cp.partitions[p as usize] = PartitionState {
            source_next: Some(source + 1),
            dest_next: md.offset + 1,
        };
    }
    if n > 0 {
        cp.save(checkpoint)?;
    }
    Ok(n)
}

/// A reader of every record committed, in no group's name.
fn reader_config(name: &str) -> ConsumerConfig {
    ConsumerConfig::new(name)
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .isolation_level(IsolationLevel::ReadCommitted)
}

/// A writer that writes each record once, in order, acknowledged by all
/// replicas.
fn writer_config() -> ProducerConfig {
    ProducerConfig::default().idempotence(true).acks(Acks::All)
}

/// Copies `plan.topic` of the samsa `log` to the Kafka cluster `kafka`
/// (see [`copy_topic`]); only records of committed transactions are
/// copied.
pub fn export_topic(
    log: &Log,
    kafka: &KafkaConfig,
    plan: &TransferPlan,
    checkpoint: &Path,
    progress: &mut dyn FnMut(&TransferProgress),
) -> Result<TransferReport> {
    let mut reader = log.consumer(reader_config("samsa-export"))?;
    let admin = KafkaAdmin::new(kafka)?;
    let writer = KafkaProducer::new(kafka, &writer_config())?;
    copy_topic(
        log,
        &mut reader,
        &admin,
        &writer,
        plan,
        checkpoint,
        progress,
    )
}

/// Copies `plan.topic` of the Kafka cluster `kafka` into the samsa `log`
/// (see [`copy_topic`]); only records of committed transactions are
/// copied.
pub fn import_topic(
    kafka: &KafkaConfig,
    log: &Log,
    plan: &TransferPlan,
    checkpoint: &Path,
    progress: &mut dyn FnMut(&TransferProgress),
) -> Result<TransferReport> {
    let admin = KafkaAdmin::new(kafka)?;
    let mut reader = KafkaConsumer::new(kafka, &reader_config("samsa-import"))?;
    let writer = log.producer_with(writer_config())?;
    let report = copy_topic(
        &admin,
        &mut reader,
        log,
        &writer,
        plan,
        checkpoint,
        progress,
    )?;
    writer.close()?;
    Ok(report)
}
