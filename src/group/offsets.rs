//! The offset store: committed offsets per (group, topic, partition), kept
//! in the internal topic `__consumer_offsets` of the same log, like
//! Kafka's, so commits share the log's durability and recovery. The latest
//! commit of each key wins; a key with no value (a tombstone) deletes it.
//!
//! Record layout (little-endian), version 1:
//!
//! ```text
//! key:   version u16 | group_len u16 | group | topic_len u16 | topic | partition u32
//! value: version u16 | offset u64 | commit_time i64 | metadata_len u32 | metadata (UTF-8)
//! ```

use crate::error::{Error, Result};
use crate::registry::Registry;
use byteorder::{ByteOrder, LittleEndian as LE};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The internal topic holding committed offsets.
pub(crate) const TOPIC: &str = "__consumer_offsets";

const VERSION: u16 = 1;

/// A committed position: the offset of the next record to read, and an
/// optional note the application stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetAndMetadata {
    /// The next offset the group reads from the partition.
    pub offset: u64,
    /// Free text stored with the commit.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// A commit of `offset` with no metadata.
    pub fn new(offset: u64) -> Self {
        OffsetAndMetadata {
            offset,
            metadata: String::new(),
        }
    }
}

/// (group, topic, partition).
pub(crate) type Key = (String, String, u32);

/// One partition's commit (`None` deletes it), as `commit` takes it.
pub(crate) type CommitEntry = ((String, u32), Option<OffsetAndMetadata>);

/// Whether `offset` may be committed on `topic`/`partition`: the
/// partition exists and the offset is not past its high watermark
/// ([`Error::OffsetOutOfRange`] otherwise), as Kafka checks a commit.
pub(crate) fn check_committable(
    registry: &Registry,
    topic: &str,
    partition: u32,
    offset: u64,
) -> Result<()> {
    let p = registry.topic(topic)?.partition(partition)?;
    let (start, end) = (p.log_start_offset(), p.high_watermark());
    if offset > end {
        return Err(Error::OffsetOutOfRange {
            requested: offset,
            start,
            end,
        });
    }
    Ok(())
}

pub(crate) fn encode_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + group.len() + topic.len());
    k.extend_from_slice(&VERSION.to_le_bytes());
    k.extend_from_slice(&(group.len() as u16).to_le_bytes());
    k.extend_from_slice(group.as_bytes());
    k.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    k.extend_from_slice(topic.as_bytes());
    k.extend_from_slice(&partition.to_le_bytes());
    k
}

pub(crate) fn encode_value(o: &OffsetAndMetadata, now: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(22 + o.metadata.len());
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&o.offset.to_le_bytes());
    v.extend_from_slice(&now.to_le_bytes());
    v.extend_from_slice(&(o.metadata.len() as u32).to_le_bytes());
    v.extend_from_slice(o.metadata.as_bytes());
    v
}

/// Takes `n` bytes from the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

fn string(b: &mut &[u8], len: usize) -> Option<String> {
    String::from_utf8(take(b, len)?.to_vec()).ok()
}

pub(crate) fn decode_key(mut b: &[u8]) -> Option<Key> {
    let b = &mut b;
    if LE::read_u16(take(b, 2)?) != VERSION {
        return None;
    }
    let group_len = LE::read_u16(take(b, 2)?) as usize;
    let group = string(b, group_len)?;
    let topic_len = LE::read_u16(take(b, 2)?) as usize;
    let topic = string(b, topic_len)?;
    let partition = LE::read_u32(take(b, 4)?);
    b.is_empty().then_some((group, topic, partition))
}

pub(crate) fn decode_value(mut b: &[u8]) -> Option<OffsetAndMetadata> {
    let b = &mut b;
    if LE::read_u16(take(b, 2)?) != VERSION {
        return None;
    }
    let offset = LE::read_u64(take(b, 8)?);
    let _commit_time = LE::read_i64(take(b, 8)?);
    let len = LE::read_u32(take(b, 4)?) as usize;
    let metadata = string(b, len)?;
    b.is_empty()
        .then_some(OffsetAndMetadata { offset, metadata })
}

/// The committed offsets of every group, in memory, backed by the topic.
#[derive(Debug, Default)]
pub(crate) struct OffsetStore {
    offsets: RwLock<BTreeMap<Key, OffsetAndMetadata>>,
    /// The order commits are written in, so the map and the topic agree.
    turns: Arc<Turns>,
}

/// Commits take numbered turns: a turn is taken at once (under the group
/// coordinator's lock, where the commit is checked against the group), the
/// write waits for it. So no lock is held across a commit's I/O except
/// the turn itself, which only other commits wait for, and a commit checked
/// first is written first (a stale commit never lands after the new
/// owner's).
#[derive(Debug, Default)]
struct Turns {
    /// The next turn to hand out.
    issued: AtomicU64,
    /// The turn whose commit may write now.
    current: Mutex<u64>,
    passed: Condvar,
}

/// One commit's place in the order commits are written in. Dropped unused,
/// it passes its turn on (after the turns before it), so no later commit
/// waits for it forever.
#[derive(Debug)]
pub(crate) struct CommitTurn {
    turns: Arc<Turns>,
    number: u64,
}

impl CommitTurn {
    /// Blocks until every earlier turn has passed.
    fn wait(&self) {
        let mut current = self.turns.current.lock();
        while *current != self.number {
            self.turns.passed.wait(&mut current);
        }
    }
}

impl Drop for CommitTurn {
    fn drop(&mut self) {
        self.wait();
        *self.turns.current.lock() += 1;
        self.turns.passed.notify_all();
    }
}

impl OffsetStore {
    /// Reads every commit in the log's `__consumer_offsets`, if it exists.
    pub fn load(&self, registry: &Registry) -> Result<()> {
        let Ok(topic) = registry.topic(TOPIC) else {
            return Ok(());
        };
        let path = topic.dir().join("0");
        let p = topic.partition(0)?;
        let mut map = self.offsets.write();
        map.clear();
        p.for_each_record(&mut |r| {
            let key = r
                .key()
                .and_then(decode_key)
                .ok_or_else(|| corrupt(&path, r.offset(), "unreadable key"))?;
            match r.value() {
                None => {
                    map.remove(&key);
                }
                Some(v) => {
                    let value = decode_value(v)
                        .ok_or_else(|| corrupt(&path, r.offset(), "unreadable value"))?;
                    map.insert(key, value);
                }
            }
            Ok(())
        })
    }

    /// Moves back, durably, every committed offset past its partition's
    /// high watermark: after an unclean stop under a sync policy weaker
    /// than `Always`, a commit may have reached the disk while records it
    /// covered did not. Left alone, it would skip the records appended at
    /// those offsets next; Kafka's consumer would see `OffsetOutOfRange`
    /// and reset. Returns how many offsets moved.
    pub fn clamp_to_high_watermarks(&self, registry: &Registry) -> Result<usize> {
        let mut moves: BTreeMap<String, Vec<CommitEntry>> = BTreeMap::new();
        for ((group, topic, partition), o) in self.offsets.read().iter() {
            let Ok(p) = registry.topic(topic).and_then(|t| t.partition(*partition)) else {
                continue;
            };
            let end = p.high_watermark();
            if o.offset > end {
                let clamped = OffsetAndMetadata {
                    offset: end,
                    metadata: o.metadata.clone(),
                };
                let entry = ((topic.clone(), *partition), Some(clamped));
                moves.entry(group.clone()).or_default().push(entry);
            }
        }
        let mut moved = 0;
        for (group, entries) in moves {
            self.commit(registry, &group, &entries)?;
            moved += entries.len();
        }
        Ok(moved)
    }

    /// Forgets every group's commits of `topic`, which was deleted (Kafka's
    /// coordinator removes them too): a topic created later under the
    /// name starts with none. Removed from memory at once; the tombstones
    /// that remove them from `__consumer_offsets` are written if they can
    /// be, and otherwise the next open forgets them again (see
    /// [`Self::forget_missing_topics`]).
    pub fn forget_topic(&self, registry: &Registry, topic: &str) {
        let gone: Vec<Key> = self
            .offsets
            .read()
            .keys()
            .filter(|(_, t, _)| t == topic)
            .cloned()
            .collect();
        self.forget(registry, gone);
    }

    /// Forgets, as [`Self::forget_topic`] does, the commits of topics that
    /// no longer exist (deleted before their commits could be removed).
    pub fn forget_missing_topics(&self, registry: &Registry) {
        let gone: Vec<Key> = self
            .offsets
            .read()
            .keys()
            .filter(|(_, t, _)| registry.topic(t).is_err())
            .cloned()
            .collect();
        self.forget(registry, gone);
    }

    fn forget(&self, registry: &Registry, keys: Vec<Key>) {
        let mut by_group: BTreeMap<String, Vec<CommitEntry>> = BTreeMap::new();
        for (g, t, p) in keys {
            by_group.entry(g).or_default().push(((t, p), None));
        }
        for (group, entries) in by_group {
            if self.commit(registry, &group, &entries).is_err() {
                let mut map = self.offsets.write();
                for ((t, p), _) in entries {
                    map.remove(&(group.clone(), t, p));
                }
            }
        }
    }

    /// The committed offset of `group` on `topic`/`partition`.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Option<OffsetAndMetadata> {
        self.offsets
            .read()
            .get(&(group.to_owned(), topic.to_owned(), partition))
            .cloned()
    }

    /// Every commit of `group`.
    pub fn of_group(&self, group: &str) -> Vec<((String, u32), OffsetAndMetadata)> {
        self.offsets
            .read()
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, p), o)| ((t.clone(), *p), o.clone()))
            .collect()
    }

    /// The groups with at least one commit.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self
            .offsets
            .read()
            .keys()
            .map(|(g, _, _)| g.clone())
            .collect();
        g.dedup();
        g
    }

    /// Commits `offsets` for `group` as one batch, durable as the log's sync
    /// policy makes it. An offset past its partition's high watermark is
    /// refused ([`Error::OffsetOutOfRange`]) and nothing is committed.
    pub fn commit(
        &self,
        registry: &Registry,
        group: &str,
        offsets: &[((String, u32), Option<OffsetAndMetadata>)],
    ) -> Result<()> {
        self.commit_in_turn(self.turn(), registry, group, offsets)
    }

    /// The next place in the order commits are written in: cheap, never
    /// blocks, taken where the commit is checked.
    pub fn turn(&self) -> CommitTurn {
        CommitTurn {
            turns: self.turns.clone(),
            number: self.turns.issued.fetch_add(1, Ordering::SeqCst),
        }
    }

    /// [`Self::commit`] in the turn taken when the commit was checked:
    /// waits for the commits checked before it, then writes.
    pub fn commit_in_turn(
        &self,
        turn: CommitTurn,
        registry: &Registry,
        group: &str,
        offsets: &[((String, u32), Option<OffsetAndMetadata>)],
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        for ((topic, partition), o) in offsets {
            if let Some(o) = o {
                check_committable(registry, topic, *partition, o.offset)?;
            }
        }
        turn.wait();
        let topic = registry.state_topic(TOPIC)?;
        let now = registry.now_ms();
        let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = offsets
            .iter()
            .map(|((t, p), o)| {
                (
                    encode_key(group, t, *p),
                    o.as_ref().map(|o| encode_value(o, now)),
                )
            })
            .collect();
        let records = super::keyed_records(&encoded);
        topic.partition(0)?.append_records(&records)?;
        let mut map = self.offsets.write();
        for ((t, p), o) in offsets {
            let key = (group.to_owned(), t.clone(), *p);
            match o {
                Some(o) => {
                    map.insert(key, o.clone());
                }
                None => {
                    map.remove(&key);
                }
            }
        }
        drop(map);
        drop(turn);
        Ok(())
    }
}

fn corrupt(path: &std::path::Path, offset: u64, what: &str) -> Error {
    Error::corrupt(
        PathBuf::from(path),
        offset,
        format!("offset store record at offset {offset}: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_and_reject_damage() {
        let k = encode_key("g", "orders", 7);
        assert_eq!(decode_key(&k), Some(("g".into(), "orders".into(), 7)));
        let v = encode_value(
            &OffsetAndMetadata {
                offset: 42,
                metadata: "m".into(),
            },
            5,
        );
        assert_eq!(decode_value(&v).unwrap().offset, 42);
        for cut in 0..k.len() {
            assert_eq!(decode_key(&k[..cut]), None);
        }
        for cut in 0..v.len() {
            assert_eq!(decode_value(&v[..cut]), None);
        }
        let mut long = v.clone();
        long.push(0);
        assert_eq!(decode_value(&long), None);
        let mut lying = v.clone();
        lying[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_value(&lying),
            None,
            "a length past the end is refused"
        );
    }
}
