//! `samsa topics list | describe TOPIC`.

use crate::{table, Failure};
use clap::Subcommand;
use samsa_log::read_only::ReadOnlyLog;
use serde_json::json;
use std::io::Write;

#[derive(Subcommand)]
pub enum Topics {
    /// Every topic: partitions, records, bytes.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One topic: each partition's offsets and size, and its settings.
    Describe {
        topic: String,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// One partition as `describe` shows it.
struct PartitionRow {
    partition: u32,
    log_start: u64,
    end: u64,
    segments: usize,
    bytes: u64,
}

fn partitions(log: &ReadOnlyLog, topic: &str) -> Result<Vec<PartitionRow>, Failure> {
    let mut rows = Vec::new();
    for n in 0..log.partition_count(topic)? {
        let p = log.partition(topic, n)?;
        rows.push(PartitionRow {
            partition: n,
            log_start: p.log_start_offset()?,
            end: p.end_offset()?,
            segments: p.segment_count()?,
            bytes: p.size_bytes()?,
        });
    }
    Ok(rows)
}

impl Topics {
    pub fn run(self, log: &ReadOnlyLog, out: &mut dyn Write) -> Result<(), Failure> {
        match self {
            Topics::List { json } => list(log, json, out),
            Topics::Describe { topic, json } => describe(log, &topic, json, out),
        }
    }
}

fn list(log: &ReadOnlyLog, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let mut rows = Vec::new();
    let mut values = Vec::new();
    for topic in log.topics()? {
        let parts = partitions(log, &topic)?;
        let records: u64 = parts.iter().map(|p| p.end - p.log_start).sum();
        let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
        values.push(json!({
            "topic": topic, "partitions": parts.len(), "offsets": records, "bytes": bytes,
        }));
        rows.push(vec![
            topic,
            parts.len().to_string(),
            records.to_string(),
            bytes.to_string(),
        ]);
    }
    if json {
        writeln!(out, "{}", serde_json::Value::Array(values))?;
    } else {
        table::print(out, &["TOPIC", "PARTITIONS", "OFFSETS", "BYTES"], &rows)?;
    }
    Ok(())
}

fn describe(
    log: &ReadOnlyLog,
    topic: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let config = log.topic_config(topic)?;
    let parts = partitions(log, topic)?;
    let settings = config.to_properties();
    if json {
        let partitions: Vec<_> = parts
            .iter()
            .map(|p| {
                json!({
                    "partition": p.partition, "log_start_offset": p.log_start,
                    "end_offset": p.end, "segments": p.segments, "bytes": p.bytes,
                })
            })
            .collect();
        let settings: serde_json::Map<String, serde_json::Value> = settings
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        let value = json!({ "topic": topic, "partitions": partitions, "settings": settings });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(out, "Topic: {topic}  Partitions: {}", parts.len())?;
    let rows: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.log_start.to_string(),
                p.end.to_string(),
                p.segments.to_string(),
                p.bytes.to_string(),
            ]
        })
        .collect();
    table::print(
        out,
        &[
            "PARTITION",
            "LOG-START-OFFSET",
            "END-OFFSET",
            "SEGMENTS",
            "BYTES",
        ],
        &rows,
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = settings
        .into_iter()
        .map(|(k, v)| vec![k.to_owned(), v])
        .collect();
    table::print(out, &["SETTING", "VALUE"], &rows)?;
    Ok(())
}
