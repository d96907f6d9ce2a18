//! `samsa groups list | describe | reset-offsets | delete`: committed
//! offsets and lag, read from the log's offset store (members are the
//! owner's to know), and changed as `kafka-consumer-groups` changes them.

use crate::{owned, read_only, table, Failure};
use clap::{Args, Subcommand};
use samsa_log::consumer::Offset;
use serde_json::json;
use std::io::Write;
use std::path::Path;

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
    /// Move a group's committed offsets on a topic, as
    /// `kafka-consumer-groups --reset-offsets` does: a dry run printing the
    /// plan unless `--execute`. The group must have no active members,
    /// and the log must not be open elsewhere.
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[command(flatten)]
        to: ResetTo,
        /// Apply the plan (else only print it).
        #[arg(long)]
        execute: bool,
        /// The plan as one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a group's committed offsets (it must have no active
    /// members, and the log must not be open elsewhere).
    Delete { group: String },
}

/// Where a reset moves the offsets: exactly one of these.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct ResetTo {
    /// The log start.
    #[arg(long)]
    to_earliest: bool,
    /// The end.
    #[arg(long)]
    to_latest: bool,
    /// This offset (clamped to the log).
    #[arg(long)]
    to_offset: Option<u64>,
    /// The first record at or after this time, in milliseconds since the
    /// epoch.
    #[arg(long, value_name = "MS")]
    to_timestamp: Option<i64>,
    /// Forward (or back, negative) from the committed offset.
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
}

impl ResetTo {
    fn offset(&self) -> Offset {
        // Clap lets exactly one through.
        match (self.to_offset, self.to_timestamp) {
            _ if self.to_earliest => Offset::Earliest,
            _ if self.to_latest => Offset::Latest,
            (Some(o), _) => Offset::At(o),
            (_, Some(ms)) => Offset::Timestamp(ms),
            _ => Offset::ShiftBy(self.shift_by.unwrap_or(0)),
        }
    }
}

impl Groups {
    pub fn run(self, dir: &Path, out: &mut dyn Write) -> Result<(), Failure> {
        match self {
            Groups::ResetOffsets {
                group,
                topic,
                to,
                execute,
                json,
            } => {
                let log = owned(dir)?;
                let g = log.group(&group);
                let plan = if execute {
                    g.reset_offsets(&topic, to.offset())?
                } else {
                    g.plan_reset(&topic, to.offset())?
                };
                log.close()?;
                let rows = plan
                    .iter()
                    .map(|c| {
                        let value = json!({
                            "group": group, "topic": c.topic, "partition": c.partition,
                            "from": c.from, "to": c.to,
                        });
                        let cells = vec![
                            group.clone(),
                            c.topic.clone(),
                            c.partition.to_string(),
                            c.from.map_or("-".into(), |o| o.to_string()),
                            c.to.to_string(),
                        ];
                        (value, cells)
                    })
                    .collect();
                table::listing(
                    out,
                    json,
                    &[
                        "GROUP",
                        "TOPIC",
                        "PARTITION",
                        "CURRENT-OFFSET",
                        "NEW-OFFSET",
                    ],
                    rows,
                )?;
                if !json && !execute {
                    writeln!(out, "Dry run: nothing changed (--execute applies it).")?;
                }
            }
            Groups::Delete { group } => {
                let log = owned(dir)?;
                log.group(&group).delete()?;
                log.close()?;
                writeln!(out, "Deleted group {group}.")?;
            }
            Groups::List { json } => {
                let log = read_only(dir)?;
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
                let lag = read_only(dir)?.lag(&group)?;
                if lag.is_empty() {
                    return Err(format!("group {group:?} has no committed offsets").into());
                }
                let rows = lag
                    .iter()
                    .map(|l| {
                        let value = json!({
                            "group": group, "topic": l.topic, "partition": l.partition,
                            "committed_offset": l.committed, "end_offset": l.high_watermark,
                            "lag": l.lag,
                        });
                        let cells = vec![
                            group.clone(),
                            l.topic.clone(),
                            l.partition.to_string(),
                            l.committed.map_or("-".into(), |c| c.to_string()),
                            l.high_watermark.to_string(),
                            l.lag.to_string(),
                        ];
                        (value, cells)
                    })
                    .collect();
                table::listing(
                    out,
                    json,
                    &[
                        "GROUP",
                        "TOPIC",
                        "PARTITION",
                        "CURRENT-OFFSET",
                        "LOG-END-OFFSET",
                        "LAG",
                    ],
                    rows,
                )?;
            }
        }
        Ok(())
    }
}
