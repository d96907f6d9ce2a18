//! The transaction coordinator: Kafka's `TransactionCoordinator`, in
//! process. It gives each transactional id a producer id and epoch (a new
//! epoch fences the older producer), records which partitions an open
//! transaction writes to before it writes, and ends transactions in two
//! steps: the decision (`PrepareCommit` or `PrepareAbort`) made durable in
//! `__transaction_state` first, then the markers on every partition (and,
//! for a commit, the offsets sent with it), then `Complete*`. At open, a
//! decided commit is finished and every other open transaction aborted, so
//! after a crash at any point a transaction is all or nothing.
//!
//! One lock serialises the coordinator's changes, I/O included: ending
//! transactions of different ids one at a time is simple, and a
//! transaction's end costs a few appends.

use super::state::{self, TxnMeta, TxnOffset, TxnState};
use crate::batch::ControlType;
use crate::error::{Error, Result};
use crate::group::offsets::OffsetStore;
use crate::group::OffsetAndMetadata;
use crate::record::Record;
use crate::registry::Registry;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// The transaction coordinator of one log.
#[derive(Debug, Default)]
pub(crate) struct TxnCoordinator {
    ids: Mutex<HashMap<String, TxnMeta>>,
}

impl TxnCoordinator {
    /// Reads every transactional id's latest state from
    /// `__transaction_state`, if it exists.
    pub fn load(&self, registry: &Registry) -> Result<()> {
        let Ok(topic) = registry.topic(state::TOPIC) else {
            return Ok(());
        };
        let p = topic.partition(0)?;
        let path = p.dir().to_path_buf();
        let mut ids = self.ids.lock();
        ids.clear();
        p.for_each_record(&mut |r| {
            let bad = |what: &str| {
                Error::corrupt(
                    path.clone(),
                    r.offset(),
                    format!("{}: {what}", state::TOPIC),
                )
            };
            let id = r
                .key()
                .and_then(state::decode_key)
                .ok_or_else(|| bad("unreadable key"))?;
            let meta = r
                .value()
                .and_then(state::decode_value)
                .ok_or_else(|| bad("unreadable value"))?;
            ids.insert(id, meta);
            Ok(())
        })
    }

    /// Finishes what a crash left: a decided commit is completed, every
    /// other open transaction aborted at a new epoch (its producer is gone
    /// with the process that had the log open).
    pub fn recover(&self, registry: &Registry, offsets: &OffsetStore) -> Result<()> {
        let mut ids = self.ids.lock();
        for (id, meta) in ids.iter_mut() {
            finish_left_over(registry, offsets, id, meta)?;
        }
        // A partition may still hold a transaction the state says ended:
        // under a sync policy weaker than `Always`, a power cut can take a
        // marker while the state record survives. It ends now as its
        // transactional id's last transaction did; a producer no id
        // claims is aborted.
        for topic in registry.all() {
            for p in topic.partitions() {
                for (producer_id, epoch) in p.open_transactions() {
                    let meta = ids.values().find(|m| m.producer_id == producer_id);
                    let commit = meta.is_some_and(|m| m.state == TxnState::CompleteCommit);
                    let epoch = meta.map_or(epoch, |m| m.epoch.max(epoch));
                    let kind = if commit {
                        ControlType::Commit
                    } else {
                        ControlType::Abort
                    };
                    p.append_marker(producer_id, epoch, kind)?;
                }
            }
        }
        Ok(())
    }

    /// Kafka's `InitProducerId` for a transactional id: the producer id and
    /// a new epoch, which fences every older producer of the id. A
    /// transaction the older producer left open is aborted (or, if its
    /// commit was decided, completed) first. With `holder`, only that
    /// producer id and epoch may move the id on (a producer aborting at a
    /// new epoch): anyone else is fenced.
    pub fn init(
        &self,
        registry: &Registry,
        offsets: &OffsetStore,
        id: &str,
        timeout_ms: u64,
        holder: Option<(i64, i16)>,
        mut fresh_producer_id: impl FnMut() -> i64,
    ) -> Result<(i64, i16)> {
        let mut ids = self.ids.lock();
        if let Some(identity) = holder {
            current(&mut ids, id, identity)?;
        }
        let meta = match ids.get_mut(id) {
            Some(meta) => {
                finish_left_over(registry, offsets, id, meta)?;
                bump_epoch(meta);
                meta.timeout_ms = timeout_ms;
                meta.state = TxnState::Empty;
                meta.clone()
            }
            None => TxnMeta {
                // Never another id's: its markers would fence this one.
                producer_id: loop {
                    let candidate = fresh_producer_id();
                    if !ids.values().any(|m| m.producer_id == candidate) {
                        break candidate;
                    }
                },
                epoch: 0,
                state: TxnState::Empty,
                timeout_ms,
                started_ms: registry.now_ms(),
                partitions: Vec::new(),
                offsets: Vec::new(),
            },
        };
        persist(registry, id, &meta)?;
        let identity = (meta.producer_id, meta.epoch);
        ids.insert(id.to_owned(), meta);
        Ok(identity)
    }

    /// Kafka's `AddPartitionsToTxn`: the open transaction (begun by the
    /// first of these) will write to `partitions`; durable before the
    /// producer writes there, so a recovery knows where to abort.
    pub fn add_partitions(
        &self,
        registry: &Registry,
        id: &str,
        identity: (i64, i16),
        partitions: &[(String, u32)],
    ) -> Result<()> {
        let mut ids = self.ids.lock();
        let meta = current(&mut ids, id, identity)?;
        let before = meta.clone();
        let mut changed = open_if_needed(meta, registry.now_ms());
        for p in partitions {
            if !meta.partitions.contains(p) {
                meta.partitions.push(p.clone());
                changed = true;
            }
        }
        if changed {
            persist_or_restore(registry, id, meta, before)?;
        }
        Ok(())
    }

    /// Kafka's `TxnOffsetCommit`: offsets to commit for `group` if and
    /// only if the open transaction commits.
    pub fn add_offsets(
        &self,
        registry: &Registry,
        id: &str,
        identity: (i64, i16),
        group: &str,
        offsets: &[((String, u32), OffsetAndMetadata)],
    ) -> Result<()> {
        // Checked now, as a consumer's commit is: once the commit is
        // decided, nothing may refuse its offsets.
        for ((topic, partition), o) in offsets {
            crate::group::offsets::check_committable(registry, topic, *partition, o.offset)?;
        }
        let mut ids = self.ids.lock();
        let meta = current(&mut ids, id, identity)?;
        let before = meta.clone();
        // A transaction of offsets alone begins here.
        if open_if_needed(meta, registry.now_ms()) {
            persist_or_restore(registry, id, meta, before)?;
        }
        for ((topic, partition), o) in offsets {
            meta.offsets
                .retain(|x| !(x.group == group && x.topic == *topic && x.partition == *partition));
            meta.offsets.push(TxnOffset {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                offset: o.offset,
                metadata: o.metadata.clone(),
            });
        }
        Ok(())
    }

    /// Kafka's `EndTxn`: commits or aborts the open transaction of `id`
    /// (nothing to do if none is open).
    pub fn end(
        &self,
        registry: &Registry,
        offsets: &OffsetStore,
        id: &str,
        identity: (i64, i16),
        commit: bool,
    ) -> Result<()> {
        let mut ids = self.ids.lock();
        let meta = current(&mut ids, id, identity)?;
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => prepare(registry, id, meta, commit)?,
            // A decision an I/O error interrupted (before it was durable,
            // or while its markers were written): made durable again and
            // carried out; markers already written are answered by ones
            // that end nothing.
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                persist(registry, id, meta)?;
            }
            (TxnState::PrepareCommit, false) => {
                return Err(Error::TransactionState {
                    transactional_id: id.to_owned(),
                    reason:
                        "the commit is decided and cannot be aborted: call commit_transaction again",
                })
            }
            (TxnState::PrepareAbort, true) => {
                return Err(Error::TransactionState {
                    transactional_id: id.to_owned(),
                    reason: "the abort is decided: call abort_transaction again",
                })
            }
            // Nothing was sent in the transaction (or the log ended it).
            _ => return Ok(()),
        }
        complete(registry, offsets, id, meta, commit)
    }

    /// Aborts, at a new epoch, every transaction open longer than its
    /// timeout (by the log's clock); returns how many. A decision an I/O
    /// error left half carried out, and its producer did not retry within
    /// the timeout, is carried out here (not counted): once the fault
    /// clears, no transaction holds the last stable offset back.
    pub fn abort_expired(&self, registry: &Registry, offsets: &OffsetStore) -> Result<usize> {
        let now = registry.now_ms();
        let mut ids = self.ids.lock();
        let mut aborted = 0;
        for (id, meta) in ids.iter_mut() {
            let age = now.saturating_sub(meta.started_ms);
            if age < 0 || (age as u64) < meta.timeout_ms {
                continue;
            }
            match meta.state {
                TxnState::Ongoing => {
                    crate::observe::info!(
                        transactional_id = %id,
                        age_ms = age,
                        "transaction aborted: open past its timeout"
                    );
                    abort_at_new_epoch(registry, offsets, id, meta)?;
                    aborted += 1;
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    let commit = meta.state == TxnState::PrepareCommit;
                    persist(registry, id, meta)?;
                    complete(registry, offsets, id, meta, commit)?;
                }
                _ => {}
            }
        }
        Ok(aborted)
    }
}

/// The state of `id` if `identity` is its current producer; fenced
/// otherwise.
fn current<'m>(
    ids: &'m mut HashMap<String, TxnMeta>,
    id: &str,
    (producer_id, epoch): (i64, i16),
) -> Result<&'m mut TxnMeta> {
    let meta = ids.get_mut(id).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "transactional id {id:?} is unknown: call init_transactions first"
        ))
    })?;
    if meta.producer_id != producer_id || meta.epoch != epoch {
        return Err(Error::ProducerFenced {
            producer_id,
            epoch,
            current_epoch: meta.epoch,
        });
    }
    Ok(meta)
}

/// Opens a transaction on `meta` if none is open (not persisted yet);
/// whether it did.
fn open_if_needed(meta: &mut TxnMeta, now: i64) -> bool {
    if meta.state == TxnState::Ongoing {
        return false;
    }
    meta.state = TxnState::Ongoing;
    meta.started_ms = now;
    meta.partitions.clear();
    meta.offsets.clear();
    true
}

/// Persists `meta`, or puts `before` back if that fails.
fn persist_or_restore(
    registry: &Registry,
    id: &str,
    meta: &mut TxnMeta,
    before: TxnMeta,
) -> Result<()> {
    let persisted = persist(registry, id, meta);
    if persisted.is_err() {
        *meta = before;
    }
    persisted
}

/// Ends what the id's last producer left: a decided commit is completed,
/// an open transaction aborted at a new epoch.
fn finish_left_over(
    registry: &Registry,
    offsets: &OffsetStore,
    id: &str,
    meta: &mut TxnMeta,
) -> Result<()> {
    match meta.state {
        TxnState::PrepareCommit => complete(registry, offsets, id, meta, true),
        TxnState::Ongoing | TxnState::PrepareAbort => {
            abort_at_new_epoch(registry, offsets, id, meta)
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => Ok(()),
    }
}

/// Aborts the open transaction with markers of a new epoch: its producer
/// is fenced and cannot write after them.
fn abort_at_new_epoch(
    registry: &Registry,
    offsets: &OffsetStore,
    id: &str,
    meta: &mut TxnMeta,
) -> Result<()> {
    bump_epoch(meta);
    prepare(registry, id, meta, false)?;
    complete(registry, offsets, id, meta, false)
}

/// Moves to the next epoch (a new producer id past the last one, as Kafka
/// does).
fn bump_epoch(meta: &mut TxnMeta) {
    if meta.epoch == i16::MAX {
        meta.producer_id = meta.producer_id.wrapping_add(1) & i64::MAX;
        meta.epoch = 0;
    } else {
        meta.epoch += 1;
    }
}

/// Makes the decision durable.
fn prepare(registry: &Registry, id: &str, meta: &mut TxnMeta, commit: bool) -> Result<()> {
    meta.state = if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    };
    persist(registry, id, meta)
}

/// Carries a durable decision out: markers on every partition, the
/// offsets for a commit, then the completion. Done again after a crash, a
/// marker already written is answered by one that ends nothing.
fn complete(
    registry: &Registry,
    offsets: &OffsetStore,
    id: &str,
    meta: &mut TxnMeta,
    commit: bool,
) -> Result<()> {
    let kind = if commit {
        ControlType::Commit
    } else {
        ControlType::Abort
    };
    for (topic, partition) in &meta.partitions {
        let p = match registry.topic(topic).and_then(|t| t.partition(*partition)) {
            Ok(p) => p,
            // Deleted since: nothing of the transaction is left there.
            Err(Error::UnknownTopic { .. } | Error::UnknownPartition { .. }) => continue,
            Err(e) => return Err(e),
        };
        p.append_marker(meta.producer_id, meta.epoch, kind)?;
    }
    if commit {
        let mut by_group: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        // Offsets of a partition deleted since are dropped with it.
        let exists = |o: &&TxnOffset| {
            registry
                .topic(&o.topic)
                .and_then(|t| t.partition(o.partition))
                .is_ok()
        };
        for o in meta.offsets.iter().filter(exists) {
            by_group.entry(&o.group).or_default().push((
                (o.topic.clone(), o.partition),
                Some(OffsetAndMetadata {
                    offset: o.offset,
                    metadata: o.metadata.clone(),
                }),
            ));
        }
        for (group, entries) in by_group {
            offsets.commit(registry, group, &entries)?;
        }
    }
    meta.state = if commit {
        TxnState::CompleteCommit
    } else {
        TxnState::CompleteAbort
    };
    meta.partitions.clear();
    meta.offsets.clear();
    persist(registry, id, meta)
}

/// Appends `meta` as `id`'s latest state, durable as the log's sync
/// policy makes it.
fn persist(registry: &Registry, id: &str, meta: &TxnMeta) -> Result<()> {
    let topic = registry.state_topic(state::TOPIC)?;
    let key = state::encode_key(id);
    let value = state::encode_value(meta);
    topic
        .partition(0)?
        .append_records(&[Record::new(&value).key(&key)])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ProducerFields;
    use crate::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
    use crate::topic::TopicConfig;
    use crate::Log;
    use std::time::Duration;

    const TIMEOUT: u64 = 60_000;

    fn init(log: &Log, id: &str) -> (i64, i16) {
        // Every id starts from the same candidate: the coordinator must
        // still give each its own producer id.
        let mut next = 100;
        log.txns()
            .init(
                log.registry(),
                log.offset_store(),
                id,
                TIMEOUT,
                None,
                || {
                    next += 1;
                    next
                },
            )
            .unwrap()
    }

    /// Sends `values` in the open transaction of `identity` to `t`/0.
    fn send(log: &Log, id: &str, identity: (i64, i16), seq: i32, value: &str) -> Result<()> {
        log.txns()
            .add_partitions(log.registry(), id, identity, &[("t".into(), 0)])?;
        let p = log.topic("t")?.partition(0)?;
        p.append_transactional(
            &[Record::new(value)],
            ProducerFields {
                producer_id: identity.0,
                producer_epoch: identity.1,
                base_sequence: seq,
            },
        )
        .map(drop)
    }

    fn end(log: &Log, id: &str, identity: (i64, i16), commit: bool) -> Result<()> {
        log.txns()
            .end(log.registry(), log.offset_store(), id, identity, commit)
    }

    /// What a read_committed consumer of `t` reads from the start.
    fn committed(log: &Log) -> Vec<String> {
        let mut c = log
            .consumer(
                ConsumerConfig::default()
                    .auto_offset_reset(AutoOffsetReset::Earliest)
                    .isolation_level(IsolationLevel::ReadCommitted),
            )
            .unwrap();
        c.assign(&[("t", 0)]).unwrap();
        let mut out = Vec::new();
        loop {
            let r = c.poll(Duration::ZERO).unwrap();
            if r.is_empty() {
                return out;
            }
            out.extend(
                r.iter()
                    .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned()),
            );
        }
    }

    fn with_topic(log: &Log) {
        log.create_topic("t", TopicConfig::default()).unwrap();
        log.create_topic("in", TopicConfig::default()).unwrap();
        log.topic("in")
            .unwrap()
            .partition(0)
            .unwrap()
            .append(&[Record::new(b"input")])
            .unwrap();
    }

    #[test]
    fn a_commit_shows_the_records_and_applies_the_offsets_an_abort_neither() {
        let log = Log::in_memory();
        with_topic(&log);
        let me = init(&log, "tx");
        send(&log, "tx", me, 0, "a").unwrap();
        let offsets = [(("in".to_owned(), 0), OffsetAndMetadata::new(1))];
        log.txns()
            .add_offsets(log.registry(), "tx", me, "g", &offsets)
            .unwrap();
        assert!(committed(&log).is_empty(), "open: nothing stable yet");
        assert_eq!(log.committed("g", "in", 0), None);
        end(&log, "tx", me, true).unwrap();
        assert_eq!(committed(&log), ["a"]);
        assert_eq!(log.committed("g", "in", 0).map(|o| o.offset), Some(1));

        send(&log, "tx", me, 1, "b").unwrap();
        let offsets = [(("in".to_owned(), 0), OffsetAndMetadata::new(0))];
        log.txns()
            .add_offsets(log.registry(), "tx", me, "g", &offsets)
            .unwrap();
        end(&log, "tx", me, false).unwrap();
        assert_eq!(committed(&log), ["a"]);
        assert_eq!(log.committed("g", "in", 0).map(|o| o.offset), Some(1));
    }

    #[test]
    fn a_new_producer_of_the_id_fences_the_old_one_and_aborts_its_transaction() {
        let log = Log::in_memory();
        with_topic(&log);
        let zombie = init(&log, "tx");
        send(&log, "tx", zombie, 0, "zombie's").unwrap();
        let fresh = init(&log, "tx");
        assert_eq!(fresh.0, zombie.0);
        assert!(fresh.1 > zombie.1);
        assert!(matches!(
            send(&log, "tx", zombie, 1, "late"),
            Err(Error::ProducerFenced { .. })
        ));
        assert!(matches!(
            end(&log, "tx", zombie, true),
            Err(Error::ProducerFenced { .. })
        ));
        // Even straight to the partition, past the coordinator.
        let p = log.topic("t").unwrap().partition(0).unwrap();
        let direct = p.append_transactional(
            &[Record::new(b"sneaky")],
            ProducerFields {
                producer_id: zombie.0,
                producer_epoch: zombie.1,
                base_sequence: 1,
            },
        );
        assert!(matches!(direct, Err(Error::ProducerFenced { .. })));
        send(&log, "tx", fresh, 0, "fresh").unwrap();
        end(&log, "tx", fresh, true).unwrap();
        assert_eq!(committed(&log), ["fresh"]);
    }

    #[test]
    fn after_a_crash_a_decided_commit_completes_and_an_open_one_aborts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Log::open(dir.path()).unwrap();
            with_topic(&log);
            let decided = init(&log, "decided");
            send(&log, "decided", decided, 0, "decided").unwrap();
            let offsets = [(("in".to_owned(), 0), OffsetAndMetadata::new(1))];
            log.txns()
                .add_offsets(log.registry(), "decided", decided, "g", &offsets)
                .unwrap();
            let open = init(&log, "open");
            send(&log, "open", open, 0, "open").unwrap();
            // The commit decision is made durable, then the process dies
            // before any marker.
            let mut ids = log.txns().ids.lock();
            let meta = ids.get_mut("decided").unwrap();
            prepare(log.registry(), "decided", meta, true).unwrap();
            drop(ids);
            assert!(committed(&log).is_empty());
        }
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(committed(&log), ["decided"]);
        assert_eq!(log.committed("g", "in", 0).map(|o| o.offset), Some(1));
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.last_stable_offset(), p.high_watermark(), "nothing open");
    }

    #[test]
    fn a_transaction_open_past_its_timeout_is_aborted_by_the_log() {
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(1_000_000));
        let log = Log::builder().clock(clock.clone()).in_memory().unwrap();
        with_topic(&log);
        let me = init(&log, "tx");
        send(&log, "tx", me, 0, "slow").unwrap();
        let txns = log.txns();
        assert_eq!(
            txns.abort_expired(log.registry(), log.offset_store())
                .unwrap(),
            0
        );
        clock.advance(TIMEOUT as i64);
        assert_eq!(
            txns.abort_expired(log.registry(), log.offset_store())
                .unwrap(),
            1
        );
        assert!(committed(&log).is_empty());
        assert!(matches!(
            end(&log, "tx", me, true),
            Err(Error::ProducerFenced { .. })
        ));
    }
}
