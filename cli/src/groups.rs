//! `samsa groups list | describe | reset-offsets | delete`: committed
//! offsets and lag from the log's offset store, members and assignments
//! as the owner records them, and changes as `kafka-consumer-groups`
//! makes them.

use crate::{owned, read_only, table, Failure};
use clap::{Args, Subcommand};
use samsa_log::consumer::Offset;
use samsa_log::group::{GroupDescription, GroupState, PartitionLag, RecordedGroup};
use samsa_log::read_only::ReadOnlyLog;
use serde_json::json;
use std::collections::BTreeMap;
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
    /// A group's partitions, as `kafka-consumer-groups --describe` shows
    /// them: committed offset, end, lag and the member that owns each (as
    /// the owner last recorded its members).
    Describe {
        group: String,
        /// The members instead: id, instance id, subscription, assignment.
        #[arg(long, conflicts_with = "state")]
        members: bool,
        /// The group's state instead: state, generation, assignor,
        /// member count, and when the owner recorded it.
        #[arg(long)]
        state: bool,
        /// JSON instead of a table.
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
            Groups::Describe {
                group,
                members,
                state,
                json,
            } => {
                let log = read_only(dir)?;
                let lag = log.lag(&group)?;
                let recorded = log.describe_group(&group)?;
                let Some(recorded) = recorded.or_else(|| {
                    (!lag.is_empty()).then(|| RecordedGroup {
                        description: GroupDescription {
                            group: group.clone(),
                            state: GroupState::Empty,
                            generation: 0,
                            assignor: None,
                            members: Vec::new(),
                        },
                        recorded_at_ms: 0,
                    })
                }) else {
                    return Err(format!("no group {group:?} in this log").into());
                };
                if state {
                    describe_state(&recorded, json, out)?;
                } else if members {
                    describe_members(&recorded.description, json, out)?;
                } else {
                    describe_partitions(&log, &recorded.description, lag, json, out)?;
                }
            }
        }
        Ok(())
    }
}

fn describe_state(g: &RecordedGroup, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let d = &g.description;
    let recorded = (g.recorded_at_ms > 0).then_some(g.recorded_at_ms);
    let value = json!({
        "group": d.group, "state": d.state.to_string(), "generation": d.generation,
        "assignor": d.assignor, "members": d.members.len(), "recorded_at_ms": recorded,
    });
    if json {
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let cells = vec![
        d.group.clone(),
        d.state.to_string(),
        d.generation.to_string(),
        d.assignor.clone().unwrap_or_else(|| "-".into()),
        d.members.len().to_string(),
        recorded.map_or("-".into(), ago),
    ];
    table::print(
        out,
        &[
            "GROUP",
            "STATE",
            "GENERATION",
            "ASSIGNOR",
            "#MEMBERS",
            "RECORDED",
        ],
        &[cells],
    )?;
    Ok(())
}

fn describe_members(d: &GroupDescription, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let rows = d
        .members
        .iter()
        .map(|m| {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            let value = json!({
                "group": d.group, "member_id": m.member_id, "instance_id": m.instance_id,
                "topics": m.topics,
                "assignment": m.assignment.iter()
                    .map(|(t, p)| json!({"topic": t, "partition": p}))
                    .collect::<Vec<_>>(),
            });
            let cells = vec![
                d.group.clone(),
                m.member_id.clone(),
                m.instance_id.clone().unwrap_or_else(|| "-".into()),
                m.topics.join(","),
                m.assignment.len().to_string(),
                assignment.join(","),
            ];
            (value, cells)
        })
        .collect();
    table::listing(
        out,
        json,
        &[
            "GROUP",
            "CONSUMER-ID",
            "INSTANCE-ID",
            "TOPICS",
            "#PARTITIONS",
            "ASSIGNMENT",
        ],
        rows,
    )?;
    Ok(())
}

/// One row per partition the group committed an offset for or a member
/// owns, by topic and partition.
fn describe_partitions(
    log: &ReadOnlyLog,
    d: &GroupDescription,
    lag: Vec<PartitionLag>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut owner: BTreeMap<(String, u32), &str> = BTreeMap::new();
    for m in &d.members {
        for tp in &m.assignment {
            owner.insert(tp.clone(), &m.member_id);
        }
    }
    // (committed, end, lag) by partition.
    type Row = (Option<u64>, u64, Option<u64>);
    let mut rows: BTreeMap<(String, u32), Row> = lag
        .into_iter()
        .map(|l| {
            let key = (l.topic, l.partition);
            (key, (l.committed, l.high_watermark, Some(l.lag)))
        })
        .collect();
    for (topic, partition) in owner.keys() {
        if let std::collections::btree_map::Entry::Vacant(row) =
            rows.entry((topic.clone(), *partition))
        {
            let end = log.partition(topic, *partition)?.end_offset()?;
            row.insert((None, end, None));
        }
    }
    let rows = rows
        .into_iter()
        .map(|((topic, partition), (committed, end, lag))| {
            let consumer = owner.get(&(topic.clone(), partition)).copied();
            let value = json!({
                "group": d.group, "topic": topic, "partition": partition,
                "committed_offset": committed, "end_offset": end, "lag": lag,
                "consumer_id": consumer,
            });
            let cells = vec![
                d.group.clone(),
                topic,
                partition.to_string(),
                committed.map_or("-".into(), |c| c.to_string()),
                end.to_string(),
                lag.map_or("-".into(), |l| l.to_string()),
                consumer.unwrap_or("-").to_owned(),
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
            "CONSUMER-ID",
        ],
        rows,
    )?;
    Ok(())
}

/// How long ago `ms` (since the epoch) was, for people: `12s ago`.
fn ago(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let s = now.saturating_sub(ms).max(0) / 1000;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}
