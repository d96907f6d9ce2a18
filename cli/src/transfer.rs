//! `samsa export TOPIC --bootstrap-servers HOSTS` and `samsa import`:
//! copy a topic (with its groups' committed offsets, translated) between
//! the log directory and a Kafka cluster; rerun after an interruption, it
//! resumes from its checkpoint without copying a record twice.

use crate::Failure;
use clap::Args;
use samsa_kafka::{
    export_topic, import_topic, AdminClient, KafkaAdmin, KafkaConfig, TransferPlan,
    TransferProgress,
};
use samsa_log::Log;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct Transfer {
    /// The topic to copy (named the same on both sides; created on the
    /// destination with the source's partition count if it is missing).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    topic: Option<String>,
    /// Copy every topic of the source (internal ones left out), one after
    /// the other; --checkpoint is then a directory (default: the current
    /// one) holding one checkpoint a topic.
    #[arg(long)]
    all: bool,
    /// The Kafka cluster: `host:port` pairs, comma-separated.
    #[arg(long, value_name = "HOSTS")]
    bootstrap_servers: String,
    /// A consumer group whose committed offsets of the topic are carried
    /// over, translated to the destination's offsets (repeat the option).
    #[arg(long = "group", short = 'g', value_name = "GROUP")]
    groups: Vec<String>,
    /// Where the copy keeps its checkpoint (default: TOPIC.export or
    /// TOPIC.import in the current directory); a rerun with the same file
    /// resumes. With --all, the directory of TOPIC.export or TOPIC.import
    /// files.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// A librdkafka property for the cluster's clients, `name=value`
    /// (repeat the option), e.g. `security.protocol=ssl`.
    #[arg(long = "kafka-property", short = 'X', value_name = "NAME=VALUE")]
    properties: Vec<String>,
}

/// Which way the copy goes.
#[derive(Clone, Copy)]
pub enum Direction {
    Export,
    Import,
}

impl Transfer {
    pub fn run(self, log: &Log, direction: Direction, out: &mut dyn Write) -> Result<(), Failure> {
        let mut kafka = KafkaConfig::new(&self.bootstrap_servers);
        for p in &self.properties {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("--kafka-property {p:?}: NAME=VALUE"))?;
            kafka = kafka.set(k, v);
        }
        let topics = match (&self.topic, direction) {
            (Some(t), _) => vec![t.clone()],
            (None, Direction::Export) => log.list_topics()?,
            (None, Direction::Import) => KafkaAdmin::new(&kafka)?.list_topics()?,
        };
        for topic in &topics {
            self.copy(log, &kafka, topic, direction, out)?;
        }
        Ok(())
    }

    fn copy(
        &self,
        log: &Log,
        kafka: &KafkaConfig,
        topic: &str,
        direction: Direction,
        out: &mut dyn Write,
    ) -> Result<(), Failure> {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let plan = TransferPlan::new(topic, &groups);
        let suffix = match direction {
            Direction::Export => "export",
            Direction::Import => "import",
        };
        let file = PathBuf::from(format!("{topic}.{suffix}"));
        let checkpoint = match (&self.checkpoint, self.all) {
            (Some(dir), true) => dir.join(file),
            (Some(path), false) => path.clone(),
            (None, _) => file,
        };
        let mut report_progress = |p: &TransferProgress| {
            // Progress goes to stderr, so stdout stays the summary.
            eprintln!(
                "{suffix} {topic}/{}: offset {} of {}, {} records sent",
                p.partition, p.offset, p.end, p.sent
            );
        };
        let report = match direction {
            Direction::Export => {
                export_topic(log, kafka, &plan, &checkpoint, &mut report_progress)?
            }
            Direction::Import => {
                import_topic(kafka, log, &plan, &checkpoint, &mut report_progress)?
            }
        };
        writeln!(
            out,
            "{suffix}ed {topic}: {} records sent, {} found already delivered by an interrupted run",
            report.copied, report.found_delivered
        )?;
        for (group, partition, from, to) in &report.group_offsets {
            writeln!(
                out,
                "group {group} partition {partition}: offset {from} -> {to}"
            )?;
        }
        Ok(())
    }
}
