//! `samsa consume TOPIC`: a topic's records, as Kafka's console consumer
//! prints them, read-only (the owner may be running).

use crate::{owned, read_only, Failure};
use clap::{Args, ValueEnum};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::group::OffsetAndMetadata;
use samsa_log::read_only::{ReadOnlyLog, ReadOnlyPartition};
use samsa_log::Error;
use samsa_log::Log;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Args)]
pub struct Consume {
    topic: String,
    /// Only these partitions (repeat the option); all by default.
    #[arg(long, short = 'p')]
    partition: Vec<u32>,
    /// Where to start: `earliest`, `latest` (Kafka's default: only new
    /// records) or an offset.
    #[arg(long, default_value = "latest", conflicts_with = "from_timestamp")]
    from: String,
    /// Start at the first record at or after this time, in milliseconds
    /// since the epoch (the end, where none is that recent).
    #[arg(long, value_name = "MS")]
    from_timestamp: Option<i64>,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    max_messages: Option<u64>,
    /// Wait for new records at the end instead of exiting.
    #[arg(long, short = 'f')]
    follow: bool,
    /// `text`: the value a line (and the key, with `--print-key`);
    /// `json`: one object a line with topic, partition, offset,
    /// timestamp, key, value and headers.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Text format: print the key before the value.
    #[arg(long)]
    print_key: bool,
    /// Text format: what goes between key and value.
    #[arg(long, default_value = "\t")]
    key_separator: String,
    /// Read as a member of this consumer group: from its committed
    /// offsets (`--from` is then only where a partition has none), and
    /// commit what was printed on exit. Opens the log as its owner.
    #[arg(long, short = 'g', conflicts_with_all = ["partition", "from_timestamp"])]
    group: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Bytes as text: UTF-8 as it is, anything else with its bytes escaped
/// (`\xff`), as Kafka's tools and kcat show binary data.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

impl Consume {
    pub fn run(self, dir: &Path, out: &mut dyn Write) -> Result<(), Failure> {
        match &self.group {
            Some(group) => self.run_in_group(&owned(dir)?, group, out),
            None => self.run_alone(&read_only(dir)?, out),
        }
    }

    /// As a member of `group`: subscribed, from its committed offsets,
    /// committing what it printed.
    fn run_in_group(&self, log: &Log, group: &str, out: &mut dyn Write) -> Result<(), Failure> {
        let reset = match self.from.as_str() {
            "earliest" => AutoOffsetReset::Earliest,
            "latest" => AutoOffsetReset::Latest,
            other => {
                return Err(format!("--from {other:?} with --group: earliest or latest").into())
            }
        };
        let limit = self.max_messages.unwrap_or(u64::MAX);
        let mut consumer = log.consumer(
            ConsumerConfig::new(group)
                .auto_offset_reset(reset)
                .enable_auto_commit(false)
                .max_poll_records(usize::try_from(limit.min(500)).unwrap_or(500)),
        )?;
        consumer.subscribe(&[self.topic.as_str()])?;
        let mut printed = 0u64;
        // The first polls join the group: an empty one only counts once
        // the member has its partitions.
        while printed < limit {
            let records = consumer.poll(Duration::from_millis(200))?;
            if records.is_empty() && !self.follow && !consumer.assignment().is_empty() {
                break;
            }
            let mut last: Vec<((String, u32), OffsetAndMetadata)> = Vec::new();
            for r in &records {
                if printed >= limit {
                    break;
                }
                self.print(
                    out,
                    &Shown {
                        partition: r.partition(),
                        offset: r.offset(),
                        timestamp: r.timestamp(),
                        key: r.key(),
                        value: r.value(),
                        headers: r.headers().map(|h| (h.key, h.value)).collect(),
                    },
                )?;
                printed += 1;
                last.retain(|((_, p), _)| *p != r.partition());
                last.push((
                    (self.topic.clone(), r.partition()),
                    OffsetAndMetadata::new(r.offset() + 1),
                ));
            }
            out.flush()?;
            // What was printed, and nothing after it.
            consumer.commit_offsets(&last)?;
        }
        consumer.close()?;
        log.close()?;
        Ok(())
    }

    fn run_alone(&self, log: &ReadOnlyLog, out: &mut dyn Write) -> Result<(), Failure> {
        let partitions = if self.partition.is_empty() {
            (0..log.partition_count(&self.topic)?).collect()
        } else {
            self.partition.clone()
        };
        let mut cursors: Vec<(u32, ReadOnlyPartition, u64)> = Vec::new();
        for n in partitions {
            let p = log.partition(&self.topic, n)?;
            let at = match (self.from_timestamp, self.from.as_str()) {
                (Some(ms), _) => match p.offset_for_timestamp(ms)? {
                    Some(offset) => offset,
                    None => p.end_offset()?,
                },
                (None, "earliest") => p.log_start_offset()?,
                (None, "latest") => p.end_offset()?,
                (None, offset) => offset
                    .parse()
                    .map_err(|_| format!("--from {offset:?}: earliest, latest or an offset"))?,
            };
            cursors.push((n, p, at));
        }
        let mut printed = 0u64;
        let limit = self.max_messages.unwrap_or(u64::MAX);
        loop {
            // Whether any partition moved on: records, or offsets skipped.
            let mut moved = false;
            for (n, p, at) in &mut cursors {
                let records = match p.read(*at, 1 << 20) {
                    Ok(records) => records,
                    // Retention deleted them first: on from the log start,
                    // as a consumer resets to earliest.
                    Err(Error::OffsetOutOfRange { start, .. }) if *at < start => {
                        *at = start;
                        moved = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                for r in &records {
                    if printed >= limit {
                        return Ok(());
                    }
                    self.print(
                        out,
                        &Shown {
                            partition: *n,
                            offset: r.offset(),
                            timestamp: r.timestamp(),
                            key: r.key(),
                            value: r.value(),
                            headers: r.headers().map(|h| (h.key, h.value)).collect(),
                        },
                    )?;
                    printed += 1;
                }
                moved |= records.next_offset() > *at;
                *at = records.next_offset();
            }
            out.flush()?;
            if printed >= limit || (!moved && !self.follow) {
                return Ok(());
            }
            if !moved {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn print(&self, out: &mut dyn Write, r: &Shown<'_>) -> std::io::Result<()> {
        match self.format {
            Format::Text => {
                if self.print_key {
                    let key = r.key.map_or_else(|| "null".to_owned(), text);
                    write!(out, "{key}{}", self.key_separator)?;
                }
                let value = r.value.map_or_else(|| "null".to_owned(), text);
                writeln!(out, "{value}")
            }
            Format::Json => {
                let headers: Vec<_> = r
                    .headers
                    .iter()
                    .map(|(k, v)| json!({ "key": k, "value": v.map(text) }))
                    .collect();
                let value = json!({
                    "topic": self.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "key": r.key.map(text),
                    "value": r.value.map(text),
                    "headers": headers,
                });
                writeln!(out, "{value}")
            }
        }
    }
}

/// A record as printed, whether read alone or as a group member.
struct Shown<'a> {
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<(&'a str, Option<&'a [u8]>)>,
}
