//! The membership records: what the coordinator last had of each group
//! (state, generation, assignor, members and their assignments), kept in
//! the internal topic `__consumer_groups`, as Kafka keeps its
//! `GroupMetadata` records beside the offsets. Membership lives in the
//! owner's memory; these records let another process (a read-only open,
//! the `samsa` tool) describe the groups of a live log, and let a
//! restarted owner keep counting generations where it stopped.
//!
//! A separate topic from `__consumer_offsets`, so that a samsa that knows
//! only offsets still opens the log. The latest record of a group wins; a
//! tombstone means the group was deleted.
//!
//! Record layout (little-endian), version 1:
//!
//! ```text
//! key:    version u16 | group_len u16 | group
//! value:  version u16 | recorded_at_ms i64 | state u8 | generation u32
//!         | has_assignor u8 [| assignor_len u16 | assignor]
//!         | member_count u32 | member*
//! member: id_len u16 | id | has_instance u8 [| instance_len u16 | instance]
//!         | topic_count u32 | (topic_len u16 | topic)*
//!         | assignment_count u32 | (topic_len u16 | topic | partition u32)*
//! ```
//!
//! The records are written after the change, off the caller's thread
//! (on the commit thread; see [`super::Groups::record_in_background`]),
//! so they trail the coordinator by a moment, and a write that fails is
//! tried again at the next change or poll: they describe, they never
//! decide anything.

use super::coordinator::{Coordinator, GroupDescription, GroupState, MemberDescription};
use crate::error::Result;
use crate::registry::Registry;
use byteorder::{ByteOrder, LittleEndian as LE};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The internal topic holding the membership records.
pub(crate) const TOPIC: &str = "__consumer_groups";

const VERSION: u16 = 1;

/// After a record could not be written, how long (ms) the background
/// writes wait before they try again, so a full disk costs one failed
/// append a second, not one per poll.
const RETRY_AFTER_MS: i64 = 1_000;

/// Writes the membership records of the groups that changed.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// One write at a time, each of the groups as they are when it starts,
    /// so the last record written of a group is its latest state.
    writing: Mutex<()>,
    /// A background write is queued and has not started.
    queued: AtomicBool,
    /// No background write before this time (ms), after a failed one.
    retry_at: AtomicI64,
}

impl Recorder {
    /// Whether a background write should be queued now: something
    /// changed, none is queued, and no failure asks to wait. Claims the
    /// queue slot when it says yes ([`Self::started`] frees it).
    pub fn should_queue(&self, registry: &Registry, coordinator: &Coordinator) -> bool {
        self.due(registry, coordinator) && !self.queued.swap(true, Ordering::AcqRel)
    }

    /// Whether a write from a poll should be tried: something changed,
    /// the log is open, and no failure asks to wait.
    pub fn due(&self, registry: &Registry, coordinator: &Coordinator) -> bool {
        coordinator.has_unrecorded()
            && !registry.is_closed()
            && registry.now_ms() >= self.retry_at.load(Ordering::Relaxed)
    }

    /// The queued write started (or could not be queued): changes from
    /// now on queue another.
    pub fn started(&self) {
        self.queued.store(false, Ordering::Release);
    }

    /// Writes the records of every group changed since its last record,
    /// as one batch to `__consumer_groups`, durable as the log's sync
    /// policy makes it. On failure the groups stay marked changed.
    pub fn record(&self, registry: &Registry, coordinator: &Coordinator) -> Result<()> {
        if !coordinator.has_unrecorded() || registry.is_closed() {
            return Ok(());
        }
        let _one = self.writing.lock();
        let changed = coordinator.take_unrecorded();
        if changed.is_empty() {
            return Ok(());
        }
        let now = registry.now_ms();
        let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = changed
            .iter()
            .map(|(g, d)| (encode_key(g), d.as_ref().map(|d| encode_value(d, now))))
            .collect();
        let records = super::keyed_records(&encoded);
        let written = registry
            .state_topic(TOPIC)
            .and_then(|t| t.partition(0))
            .and_then(|p| p.append_records(&records).map(drop));
        if let Err(_e) = &written {
            crate::observe::warning!(
                error = %_e,
                groups = changed.len(),
                "could not record group membership; retried at the next change or poll"
            );
            self.retry_at
                .store(now.saturating_add(RETRY_AFTER_MS), Ordering::Relaxed);
            coordinator.unrecord(changed.into_iter().map(|(g, _)| g));
        }
        written
    }
}

/// Reads the membership records at open and gives the coordinator the
/// groups they name (see [`Coordinator::restore`]). A record that does not
/// decode (one a newer samsa wrote, say) is skipped: the records only
/// describe, and a log must not fail to open over one.
pub(crate) fn load(registry: &Registry, coordinator: &Coordinator) -> Result<()> {
    let Ok(topic) = registry.topic(TOPIC) else {
        return Ok(());
    };
    let mut latest = std::collections::BTreeMap::new();
    topic.partition(0)?.for_each_record(&mut |r| {
        let Some(group) = r.key().and_then(decode_key) else {
            return Ok(());
        };
        match r.value() {
            None => {
                latest.remove(&group);
            }
            Some(v) => {
                if let Some(recorded) = decode_value(&group, v) {
                    latest.insert(group, recorded);
                }
            }
        }
        Ok(())
    })?;
    for recorded in latest.values() {
        coordinator.restore(&recorded.description);
    }
    Ok(())
}

/// A group as its owner last recorded it, from
/// [`ReadOnlyLog::describe_group`](crate::read_only::ReadOnlyLog::describe_group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedGroup {
    /// The group as the owner's coordinator described it then.
    pub description: GroupDescription,
    /// When the owner recorded it, in milliseconds since the epoch by the
    /// owner's clock. An owner that stopped without closing (killed) left
    /// the members it had then; it records them gone when it opens the
    /// log again.
    pub recorded_at_ms: i64,
}

pub(crate) fn encode_key(group: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + group.len());
    k.extend_from_slice(&VERSION.to_le_bytes());
    put_str(&mut k, group);
    k
}

pub(crate) fn decode_key(mut b: &[u8]) -> Option<String> {
    let b = &mut b;
    if u16_(b)? != VERSION {
        return None;
    }
    let group = str_(b)?;
    b.is_empty().then_some(group)
}

pub(crate) fn encode_value(d: &GroupDescription, recorded_at_ms: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&recorded_at_ms.to_le_bytes());
    v.push(match d.state {
        GroupState::Empty => 0,
        GroupState::Stable => 1,
        GroupState::PreparingRebalance => 2,
    });
    v.extend_from_slice(&d.generation.to_le_bytes());
    put_opt(&mut v, d.assignor.as_deref());
    v.extend_from_slice(&(d.members.len() as u32).to_le_bytes());
    for m in &d.members {
        put_str(&mut v, &m.member_id);
        put_opt(&mut v, m.instance_id.as_deref());
        v.extend_from_slice(&(m.topics.len() as u32).to_le_bytes());
        for t in &m.topics {
            put_str(&mut v, t);
        }
        v.extend_from_slice(&(m.assignment.len() as u32).to_le_bytes());
        for (t, p) in &m.assignment {
            put_str(&mut v, t);
            v.extend_from_slice(&p.to_le_bytes());
        }
    }
    v
}

/// Decodes a value of `group`'s record; `None` for anything but exactly
/// one well-formed value. Counts are never trusted for allocation: each
/// element must be present in the bytes before it is kept.
pub(crate) fn decode_value(group: &str, mut b: &[u8]) -> Option<RecordedGroup> {
    let b = &mut b;
    if u16_(b)? != VERSION {
        return None;
    }
    let recorded_at_ms = LE::read_i64(take(b, 8)?);
    let state = match take(b, 1)?[0] {
        0 => GroupState::Empty,
        1 => GroupState::Stable,
        2 => GroupState::PreparingRebalance,
        _ => return None,
    };
    let generation = u32_(b)?;
    let assignor = opt_(b)?;
    let mut members = Vec::new();
    for _ in 0..u32_(b)? {
        let member_id = str_(b)?;
        let instance_id = opt_(b)?;
        let mut topics = Vec::new();
        for _ in 0..u32_(b)? {
            topics.push(str_(b)?);
        }
        let mut assignment = Vec::new();
        for _ in 0..u32_(b)? {
            assignment.push((str_(b)?, u32_(b)?));
        }
        members.push(MemberDescription {
            member_id,
            instance_id,
            topics,
            assignment,
        });
    }
    b.is_empty().then(|| RecordedGroup {
        description: GroupDescription {
            group: group.to_owned(),
            state,
            generation,
            assignor,
            members,
        },
        recorded_at_ms,
    })
}

/// Strings longer than a u16 can count do not occur: group ids, topic
/// names and member ids are bounded far below it where they are made;
/// one that were longer is cut at a character boundary rather than
/// recorded unreadably.
fn put_str(v: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    v.extend_from_slice(&(end as u16).to_le_bytes());
    v.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_opt(v: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => v.push(0),
        Some(s) => {
            v.push(1);
            put_str(v, s);
        }
    }
}

/// Takes `n` bytes from the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

fn u16_(b: &mut &[u8]) -> Option<u16> {
    take(b, 2).map(LE::read_u16)
}

fn u32_(b: &mut &[u8]) -> Option<u32> {
    take(b, 4).map(LE::read_u32)
}

fn str_(b: &mut &[u8]) -> Option<String> {
    let len = u16_(b)? as usize;
    String::from_utf8(take(b, len)?.to_vec()).ok()
}

fn opt_(b: &mut &[u8]) -> Option<Option<String>> {
    match take(b, 1)?[0] {
        0 => Some(None),
        1 => Some(Some(str_(b)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::ConsumerConfig;
    use crate::record::Record;
    use crate::topic::TopicConfig;
    use crate::Log;

    fn sample() -> GroupDescription {
        GroupDescription {
            group: "billing".into(),
            state: GroupState::Stable,
            generation: 7,
            assignor: Some("range".into()),
            members: vec![
                MemberDescription {
                    member_id: "consumer-1".into(),
                    instance_id: None,
                    topics: vec!["orders".into(), "refunds".into()],
                    assignment: vec![("orders".into(), 0), ("refunds".into(), 3)],
                },
                MemberDescription {
                    member_id: "pod-a-2".into(),
                    instance_id: Some("pod-a".into()),
                    topics: vec!["orders".into()],
                    assignment: vec![("orders".into(), 1)],
                },
            ],
        }
    }

    #[test]
    fn records_round_trip() {
        let k = encode_key("billing");
        assert_eq!(decode_key(&k).as_deref(), Some("billing"));
        for d in [
            sample(),
            GroupDescription {
                state: GroupState::Empty,
                assignor: None,
                members: Vec::new(),
                ..sample()
            },
        ] {
            let v = encode_value(&d, 1_700_000_000_123);
            let back = decode_value("billing", &v).unwrap();
            assert_eq!(back.description, d);
            assert_eq!(back.recorded_at_ms, 1_700_000_000_123);
        }
    }

    #[test]
    fn every_cut_and_any_trailing_byte_is_refused() {
        let k = encode_key("billing");
        let v = encode_value(&sample(), 5);
        for cut in 0..k.len() {
            assert_eq!(decode_key(&k[..cut]), None);
        }
        for cut in 0..v.len() {
            assert_eq!(decode_value("billing", &v[..cut]), None, "cut at {cut}");
        }
        let mut long = v.clone();
        long.push(0);
        assert_eq!(decode_value("billing", &long), None);
    }

    #[test]
    fn hostile_counts_and_tags_are_refused_without_allocating_for_them() {
        let empty = GroupDescription {
            members: Vec::new(),
            ..sample()
        };
        let mut v = encode_value(&empty, 5);
        let count_at = v.len() - 4;
        v[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_value("billing", &v), None);
        let mut bad_state = encode_value(&sample(), 5);
        bad_state[10] = 9;
        assert_eq!(decode_value("billing", &bad_state), None);
        let mut bad_version = encode_value(&sample(), 5);
        bad_version[0] = 2;
        assert_eq!(decode_value("billing", &bad_version), None);
    }

    #[test]
    fn an_overlong_string_is_cut_at_a_character_boundary() {
        let mut v = Vec::new();
        let s = "é".repeat(40_000);
        put_str(&mut v, &s);
        let got = str_(&mut &v[..]).unwrap();
        assert!(got.len() <= u16::MAX as usize && s.starts_with(&got));
    }

    fn config() -> ConsumerConfig {
        ConsumerConfig::new("billing").enable_auto_commit(false)
    }

    fn owner_view(log: &Log) -> GroupDescription {
        log.group("billing").describe().unwrap()
    }

    fn settle(log: &Log, c: &mut crate::Consumer) {
        while c.assignment().is_empty() || owner_view(log).state != GroupState::Stable {
            c.poll(std::time::Duration::from_millis(5)).unwrap();
        }
    }

    #[test]
    fn records_that_do_not_decode_are_passed_over_by_the_owner_and_readers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let generation = {
            let log = Log::open(&dir).unwrap();
            log.create_topic("orders", TopicConfig::default()).unwrap();
            let mut a = log.consumer(config()).unwrap();
            a.subscribe(&["orders"]).unwrap();
            settle(&log, &mut a);
            a.close().unwrap();
            // Garbage after the group's last record: keys and values of
            // another version, cut short, or with a count far past the bytes.
            let key = |g: &str| {
                let mut k = 1u16.to_le_bytes().to_vec();
                k.extend_from_slice(&(g.len() as u16).to_le_bytes());
                k.extend_from_slice(g.as_bytes());
                k
            };
            let mut huge_count = 1u16.to_le_bytes().to_vec();
            huge_count.extend_from_slice(&0i64.to_le_bytes());
            huge_count.extend_from_slice(&[1, 9, 0, 0, 0, 0]);
            huge_count.extend_from_slice(&u32::MAX.to_le_bytes());
            let other_version = [9u8, 0, 1, 0, b'g'];
            let billing = key("billing");
            let garbage = [
                Record::new(&huge_count[..]).key(&billing[..]),
                Record::new(&b"\x01\x00\x07"[..]).key(&billing[..]),
                Record::new(&huge_count[..]).key(&other_version[..]),
                Record::new(&b"no key"[..]),
            ];
            log.registry()
                .state_topic(TOPIC)
                .unwrap()
                .partition(0)
                .unwrap()
                .append_records(&garbage)
                .unwrap();
            let generation = owner_view(&log).generation;
            log.close().unwrap();
            generation
        };
        let log = Log::open(&dir).unwrap();
        assert_eq!(owner_view(&log).generation, generation);
        let reader = Log::open_read_only(&dir).unwrap();
        let got = reader.describe_group("billing").unwrap().unwrap();
        assert_eq!(got.description.generation, generation);
        assert_eq!(got.description.state, GroupState::Empty);
        assert_eq!(reader.groups().unwrap(), ["billing"]);
        log.close().unwrap();
    }

    /// The latest record of `billing` in `__consumer_groups`.
    fn recorded(log: &Log) -> Option<RecordedGroup> {
        let topic = log.registry().topic(TOPIC).ok()?;
        let mut latest = None;
        topic
            .partition(0)
            .unwrap()
            .for_each_record(&mut |r| {
                if r.key().and_then(decode_key).as_deref() == Some("billing") {
                    latest = r.value().and_then(|v| decode_value("billing", v));
                }
                Ok(())
            })
            .unwrap();
        latest
    }

    #[test]
    fn a_record_that_could_not_be_written_is_written_once_the_disk_works_again() {
        use crate::clock::ManualClock;
        use crate::storage::sim::{Fault, OpClass, SimDisk};
        use std::sync::Arc;
        let disk = SimDisk::new();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let log = Log::open_with(
            Arc::new(disk.clone()),
            std::path::Path::new("/log"),
            Log::builder()
                .clock(clock.clone())
                .sync(crate::partition::SyncPolicy::Always),
        )
        .unwrap();
        log.create_topic("orders", TopicConfig::default().partitions(2))
            .unwrap();
        let mut a = log.consumer(config()).unwrap();
        a.subscribe(&["orders"]).unwrap();
        settle(&log, &mut a);
        assert_eq!(recorded(&log).unwrap().description.members.len(), 1);

        // The disk fills up: a second member joins and both poll, with no
        // error (the records only describe); the record stays as it was.
        disk.inject(Fault {
            on: OpClass::Write,
            nth: disk.ops_of(OpClass::Write),
            kind: std::io::ErrorKind::StorageFull,
            persist: true,
        });
        let mut b = log.consumer(config()).unwrap();
        b.subscribe(&["orders"]).unwrap();
        while a.assignment().len() != 1 || b.assignment().len() != 1 {
            a.poll(std::time::Duration::ZERO).unwrap();
            b.poll(std::time::Duration::ZERO).unwrap();
        }
        assert_eq!(recorded(&log).unwrap().description.members.len(), 1);
        let failed_writes = disk.trace().matches("FAILED").count();
        assert!(failed_writes >= 1, "a record write was tried");

        // Space is back; polls within the retry pause do not try; the
        // first poll after it writes the group as it is now.
        disk.heal();
        a.poll(std::time::Duration::ZERO).unwrap();
        assert_eq!(recorded(&log).unwrap().description.members.len(), 1);
        clock.advance(RETRY_AFTER_MS);
        a.poll(std::time::Duration::ZERO).unwrap();
        let now = recorded(&log).unwrap();
        assert_eq!(now.description, owner_view(&log));
        assert_eq!(now.description.members.len(), 2);
        assert_eq!(disk.trace().matches("FAILED").count(), failed_writes);
        drop((a, b));
        log.close().unwrap();
    }
}
