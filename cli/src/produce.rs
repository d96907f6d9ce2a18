//! `samsa produce TOPIC`: records from stdin (or a file), one a line, as
//! Kafka's console producer sends them.

use crate::Failure;
use clap::Args;
use samsa_log::producer::{Compression, ProducerConfig};
use samsa_log::record::Header;
use samsa_log::{Log, Record};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct Produce {
    topic: String,
    /// Read the records from this file instead of stdin.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Split each line at the first SEP: the key before it, the value
    /// after (no separator on a line: no key).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header on every record, `name=value` (repeat the option).
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Send to this partition (else the producer's partitioner: by key,
    /// as Kafka's default).
    #[arg(long, short = 'p')]
    partition: Option<u32>,
    /// Compress batches with this codec (none, gzip, snappy, lz4, zstd),
    /// as kafka-console-producer's --compression-codec; a topic whose
    /// compression.type names a codec stores its own.
    #[arg(long, value_name = "CODEC", default_value = "none")]
    compression: Compression,
}

impl Produce {
    pub fn run(self, log: &Log, out: &mut dyn Write) -> Result<(), Failure> {
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("--header {h:?}: NAME=VALUE"))
            })
            .collect::<Result<_, _>>()?;
        let input: Box<dyn BufRead> = match &self.file {
            Some(path) => Box::new(std::io::BufReader::new(
                std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
            )),
            None => Box::new(std::io::stdin().lock()),
        };
        log.topic(&self.topic)?;
        let producer =
            log.producer_with(ProducerConfig::default().compression(self.compression))?;
        let mut sent = 0u64;
        for line in input.lines() {
            let line = line?;
            let (key, value) = match self
                .key_separator
                .as_deref()
                .and_then(|s| line.split_once(s))
            {
                Some((k, v)) => (Some(k), v),
                None => (None, line.as_str()),
            };
            let mut record = Record::new(value.as_bytes()).headers(
                headers
                    .iter()
                    .map(|(k, v)| Header::new(k, v.as_bytes()))
                    .collect::<Vec<_>>(),
            );
            if let Some(k) = key {
                record = record.key(k.as_bytes());
            }
            if let Some(p) = self.partition {
                record = record.partition(p);
            }
            let _ = producer.send(&self.topic, record)?;
            sent += 1;
        }
        producer.flush()?;
        producer.close()?;
        log.close()?;
        writeln!(out, "Sent {sent} records to {}.", self.topic)?;
        Ok(())
    }
}
