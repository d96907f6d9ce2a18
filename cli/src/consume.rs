//! `samsa consume TOPIC`: a topic's records, as Kafka's console consumer
//! prints them, read-only (the owner may be running).

use crate::Failure;
use clap::{Args, ValueEnum};
use samsa_log::read_only::{ReadOnlyLog, ReadOnlyPartition};
use samsa_log::record::RecordRef;
use samsa_log::Error;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

#[derive(Args)]
pub struct Consume {
    topic: String,
    /// Only these partitions (repeat the option); all by default.
    #[arg(long, short = 'p')]
    partition: Vec<u32>,
    /// Where to start: `earliest`, `latest` (Kafka's default: only new
    /// records) or an offset.
    #[arg(long, default_value = "latest")]
    from: String,
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
    pub fn run(self, log: &ReadOnlyLog, out: &mut dyn Write) -> Result<(), Failure> {
        let partitions = if self.partition.is_empty() {
            (0..log.partition_count(&self.topic)?).collect()
        } else {
            self.partition.clone()
        };
        let mut cursors: Vec<(u32, ReadOnlyPartition, u64)> = Vec::new();
        for n in partitions {
            let p = log.partition(&self.topic, n)?;
            let at = match self.from.as_str() {
                "earliest" => p.log_start_offset()?,
                "latest" => p.end_offset()?,
                offset => offset
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
                    self.print(out, *n, &r)?;
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

    fn print(&self, out: &mut dyn Write, partition: u32, r: &RecordRef<'_>) -> std::io::Result<()> {
        match self.format {
            Format::Text => {
                if self.print_key {
                    let key = r.key().map_or_else(|| "null".to_owned(), text);
                    write!(out, "{key}{}", self.key_separator)?;
                }
                let value = r.value().map_or_else(|| "null".to_owned(), text);
                writeln!(out, "{value}")
            }
            Format::Json => {
                let headers: Vec<_> = r
                    .headers()
                    .map(|h| json!({ "key": h.key, "value": h.value.map(text) }))
                    .collect();
                let value = json!({
                    "topic": self.topic,
                    "partition": partition,
                    "offset": r.offset(),
                    "timestamp": r.timestamp(),
                    "key": r.key().map(text),
                    "value": r.value().map(text),
                    "headers": headers,
                });
                writeln!(out, "{value}")
            }
        }
    }
}
