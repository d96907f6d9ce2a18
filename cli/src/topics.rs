//! `samsa topics list | describe | create | alter | delete | add-partitions`.

use crate::{owned, read_only, table, Failure};
use clap::Subcommand;
use samsa_log::read_only::ReadOnlyLog;
use samsa_log::topic::TopicConfig;
use serde_json::json;
use std::io::Write;
use std::path::Path;

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
    /// Create a topic (the log must not be open elsewhere).
    Create {
        topic: String,
        /// How many partitions.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// A setting under its Kafka key, `retention.ms=3600000`
        /// (repeat the option; `-1` is no limit).
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Change a topic's settings, by their Kafka keys (the log must not
    /// be open elsewhere); retention and compaction settings apply at the
    /// next maintenance pass, the partition logs' own at the next open.
    Alter {
        topic: String,
        /// A setting under its Kafka key, `retention.ms=3600000`
        /// (repeat the option; `-1` is no limit).
        #[arg(
            long = "config",
            short = 'c',
            value_name = "KEY=VALUE",
            required = true
        )]
        configs: Vec<String>,
    },
    /// Delete a topic and its records (the log must not be open
    /// elsewhere).
    Delete { topic: String },
    /// Add partitions to a topic (never removed, as in Kafka).
    AddPartitions {
        topic: String,
        /// How many to add.
        #[arg(long)]
        count: u32,
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
    pub fn run(self, dir: &Path, out: &mut dyn Write) -> Result<(), Failure> {
        match self {
            Topics::List { json } => list(&read_only(dir)?, json, out),
            Topics::Describe { topic, json } => describe(&read_only(dir)?, &topic, json, out),
            Topics::Create {
                topic,
                partitions,
                configs,
            } => {
                let config =
                    with_properties(TopicConfig::default().partitions(partitions), &configs)?;
                let log = owned(dir)?;
                log.create_topic(&topic, config)?;
                log.close()?;
                writeln!(out, "Created topic {topic}.")?;
                Ok(())
            }
            Topics::Alter { topic, configs } => {
                let log = owned(dir)?;
                let config = with_properties(log.topic(&topic)?.config(), &configs)?;
                log.alter_topic_config(&topic, config)?;
                log.close()?;
                writeln!(out, "Altered topic {topic}.")?;
                Ok(())
            }
            Topics::Delete { topic } => {
                let log = owned(dir)?;
                log.delete_topic(&topic)?;
                log.close()?;
                writeln!(out, "Deleted topic {topic}.")?;
                Ok(())
            }
            Topics::AddPartitions { topic, count } => {
                let log = owned(dir)?;
                let total = log.add_partitions(&topic, count)?;
                log.close()?;
                writeln!(out, "Topic {topic} has {total} partitions.")?;
                Ok(())
            }
        }
    }
}

fn list(log: &ReadOnlyLog, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let mut rows = Vec::new();
    for topic in log.topics()? {
        let parts = partitions(log, &topic)?;
        let offsets: u64 = parts.iter().map(|p| p.end - p.log_start).sum();
        let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
        let value = json!({
            "topic": topic, "partitions": parts.len(), "offsets": offsets, "bytes": bytes,
        });
        let cells = vec![
            topic,
            parts.len().to_string(),
            offsets.to_string(),
            bytes.to_string(),
        ];
        rows.push((value, cells));
    }
    table::listing(
        out,
        json,
        &["TOPIC", "PARTITIONS", "OFFSETS", "BYTES"],
        rows,
    )?;
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

/// `config` with each `KEY=VALUE` of `configs` set.
fn with_properties(mut config: TopicConfig, configs: &[String]) -> Result<TopicConfig, Failure> {
    for kv in configs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--config {kv:?}: KEY=VALUE"))?;
        config = config.with_property(k, v)?;
    }
    Ok(config)
}
