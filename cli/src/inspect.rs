//! `samsa dump FILE` and `samsa verify`: a segment file byte by byte, as
//! `kafka-dump-log` prints it, and every file of a log checked.

use crate::{read_only, Failure};
use clap::Args;
use samsa_log::read_only::{dump_file, DumpItem};
use samsa_log::segment::SegmentReport;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct Dump {
    /// A segment file: `<base offset>.log`, `.index`, `.timeindex` or
    /// `.txnindex`.
    file: PathBuf,
    /// Print each record of the batches too.
    #[arg(long)]
    print_data_log: bool,
}

fn text(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => b.escape_ascii().to_string(),
        },
    }
}

impl Dump {
    pub fn run(self, out: &mut dyn Write) -> Result<(), Failure> {
        writeln!(out, "Dumping {}", self.file.display())?;
        let mut failed = None;
        dump_file(&self.file, self.print_data_log, &mut |item| {
            let line = match item {
                DumpItem::Batch(b) => format!(
                    "baseOffset: {} lastOffset: {} count: {} baseSequence: {} producerId: {} producerEpoch: {} isTransactional: {} isControl: {}{} position: {} CreateTime: {} size: {} attributes: {} compresscodec: {} crc: {} isvalid: {}",
                    b.base_offset, b.last_offset, b.record_count, b.base_sequence, b.producer_id,
                    b.producer_epoch, b.transactional, b.control.is_some(),
                    b.control.map_or(String::new(), |c| format!(" endTxnMarker: {c}")),
                    b.position, b.max_timestamp, b.size_bytes, b.attributes, b.compression,
                    b.crc, b.valid
                ),
                DumpItem::Record(r) => {
                    let headers: Vec<&str> = r.headers().map(|h| h.key).collect();
                    format!(
                        "| offset: {} CreateTime: {} keySize: {} valueSize: {} headerKeys: [{}] key: {} payload: {}",
                        r.offset(),
                        r.timestamp(),
                        r.key().map_or(-1, |k| k.len() as i64),
                        r.value().map_or(-1, |v| v.len() as i64),
                        headers.join(","),
                        text(r.key()),
                        text(r.value()),
                    )
                }
                DumpItem::OffsetEntry { offset, position } => {
                    format!("offset: {offset} position: {position}")
                }
                DumpItem::TimeEntry { timestamp, offset } => {
                    format!("timestamp: {timestamp} offset: {offset}")
                }
                DumpItem::AbortedTransaction {
                    producer_id,
                    first_offset,
                    last_offset,
                } => format!(
                    "producerId: {producer_id} firstOffset: {first_offset} lastOffset: {last_offset}"
                ),
                DumpItem::Damage { position, reason } => {
                    format!("DAMAGED at position {position}: {reason}")
                }
                _ => return,
            };
            if let Err(e) = writeln!(out, "{line}") {
                failed.get_or_insert(e);
            }
        })?;
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

#[derive(Args)]
pub struct Verify {
    /// A JSON object (the damaged files, the totals) instead of text.
    #[arg(long)]
    json: bool,
}

/// What one damaged segment showed, for the report.
fn damage(r: &SegmentReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(b) = &r.first_bad_batch {
        lines.push(format!(
            "{}: damaged batch at byte {}: {}",
            r.log.display(),
            b.position,
            b.reason
        ));
    }
    for m in &r.index_mismatches {
        let entry = m.entry.map_or(String::new(), |e| format!(" entry {e}"));
        lines.push(format!(
            "{}: {}{entry}: {}",
            r.log.display(),
            m.index,
            m.reason
        ));
    }
    lines
}

impl Verify {
    /// Checks every segment of every partition of every topic (internal
    /// ones too); `Ok(false)` if anything is damaged.
    pub fn run(self, dir: &Path, out: &mut dyn Write) -> Result<bool, Failure> {
        let log = read_only(dir)?;
        let mut partitions = Vec::new();
        for topic in log.all_topics()? {
            for n in 0..log.partition_count(&topic)? {
                partitions.push((topic.clone(), n));
            }
        }
        let progress = std::io::stderr().is_terminal();
        let (mut segments, mut batches, mut records) = (0u64, 0u64, 0u64);
        let mut damaged = Vec::new();
        for (i, (topic, n)) in partitions.iter().enumerate() {
            if progress {
                let done = (i * 30) / partitions.len().max(1);
                eprint!(
                    "\r[{}{}] {}/{} partitions",
                    "#".repeat(done),
                    " ".repeat(30 - done),
                    i,
                    partitions.len()
                );
            }
            for report in log.partition(topic, *n)?.verify()? {
                segments += 1;
                batches += report.batches;
                records += report.records;
                damaged.extend(damage(&report));
            }
        }
        if progress {
            eprintln!(
                "\r[{}] {n}/{n} partitions",
                "#".repeat(30),
                n = partitions.len()
            );
        }
        if self.json {
            let value = json!({
                "ok": damaged.is_empty(), "partitions": partitions.len(), "segments": segments,
                "batches": batches, "records": records, "damage": damaged,
            });
            writeln!(out, "{value}")?;
        } else {
            for d in &damaged {
                writeln!(out, "{d}")?;
            }
            writeln!(
                out,
                "{}: {} partitions, {segments} segments, {batches} batches, {records} records checked",
                if damaged.is_empty() { "OK" } else { "DAMAGED" },
                partitions.len()
            )?;
        }
        Ok(damaged.is_empty())
    }
}
