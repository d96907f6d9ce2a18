//! `samsa groups list | describe GROUP`: committed offsets and lag, read
//! from the log's offset store (members are the owner's to know).

use crate::{table, Failure};
use clap::Subcommand;
use samsa_log::read_only::ReadOnlyLog;
use serde_json::json;
use std::io::Write;

#[derive(Subcommand)]
pub enum Groups {
    /// Every group with committed offsets.
    List {
        /// One JSON array instead of a list.
        #[arg(long)]
        json: bool,
    },
    /// A group's committed offsets and lag, by topic and partition (as
    /// `kafka-consumer-groups --describe` shows them).
    Describe {
        group: String,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

impl Groups {
    pub fn run(self, log: &ReadOnlyLog, out: &mut dyn Write) -> Result<(), Failure> {
        match self {
            Groups::List { json } => {
                let groups = log.groups()?;
                if json {
                    writeln!(out, "{}", json!(groups))?;
                } else {
                    for g in groups {
                        writeln!(out, "{g}")?;
                    }
                }
            }
            Groups::Describe { group, json } => {
                let lag = log.lag(&group)?;
                if lag.is_empty() {
                    return Err(format!("group {group:?} has no committed offsets").into());
                }
                if json {
                    let rows: Vec<_> = lag
                        .iter()
                        .map(|l| {
                            json!({
                                "group": group, "topic": l.topic, "partition": l.partition,
                                "committed_offset": l.committed, "end_offset": l.high_watermark,
                                "lag": l.lag,
                            })
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::Value::Array(rows))?;
                } else {
                    let rows: Vec<Vec<String>> = lag
                        .iter()
                        .map(|l| {
                            vec![
                                group.clone(),
                                l.topic.clone(),
                                l.partition.to_string(),
                                l.committed.map_or("-".into(), |c| c.to_string()),
                                l.high_watermark.to_string(),
                                l.lag.to_string(),
                            ]
                        })
                        .collect();
                    table::print(
                        out,
                        &[
                            "GROUP",
                            "TOPIC",
                            "PARTITION",
                            "CURRENT-OFFSET",
                            "LOG-END-OFFSET",
                            "LAG",
                        ],
                        &rows,
                    )?;
                }
            }
        }
        Ok(())
    }
}
