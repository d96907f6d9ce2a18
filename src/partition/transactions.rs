//! Transactions on one partition: markers, the last stable offset (LSO)
//! and the aborted transactions a `read_committed` reader skips.
//!
//! A producer's transactional batches are ordinary appends with attribute
//! bit 4; the producer state notes where each producer's open transaction
//! starts. A control batch (a marker) ends it: committed, its records
//! count; aborted, they are listed here, and `read_committed` reads leave
//! them out. The LSO is the first offset of the oldest open transaction
//! (or the high watermark, if that is lower): `read_committed` readers
//! never read past it, so they never see a record whose fate is not
//! decided.
//!
//! The aborted list is persisted per segment (`.txnindex`, written at a
//! roll and at a clean close) and the open transactions in the producer
//! state snapshot; both are rebuilt at open from those and the tail.

use super::Partition;
use crate::batch::{AbortedTxn, ControlMarker, ControlType, Records};
#[cfg(test)]
use crate::batch::{BatchBuilder, ProducerFields};
use crate::error::Result;
use crate::partition::AppendInfo;
use crate::segment::{txn_index, SegmentState};
use crate::storage::CheckedStorage;
use std::sync::atomic::Ordering;

/// Which records of transactions a reader sees (Kafka's `isolation.level`):
/// set on a consumer by
/// [`ConsumerConfig::isolation_level`](crate::consumer::ConsumerConfig::isolation_level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record written, up to the high watermark, including those of
    /// transactions still open or aborted (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Only records that are not part of a transaction, or whose
    /// transaction committed: nothing past the last stable offset (the
    /// first offset of the oldest open transaction), nothing of an aborted
    /// transaction. Their offsets are gaps.
    ReadCommitted,
}

impl Partition {
    /// The last stable offset (LSO): below it every transaction is decided
    /// (committed or aborted); the first offset of the oldest transaction
    /// still open, or the high watermark when none is. A `read_committed`
    /// reader never reads past it.
    pub fn last_stable_offset(&self) -> u64 {
        let first_unstable = self.shared.first_unstable.load(Ordering::Acquire);
        first_unstable.min(self.high_watermark())
    }

    /// The end of what a reader at `isolation` may read: the high
    /// watermark for `ReadUncommitted`, the [last stable
    /// offset](Self::last_stable_offset) for `ReadCommitted` (Kafka's
    /// consumer `endOffsets`). Lag is measured against it.
    pub fn end_offset(&self, isolation: IsolationLevel) -> u64 {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark(),
            IsolationLevel::ReadCommitted => self.last_stable_offset(),
        }
    }

    /// The producers with a transaction open on this partition, and
    /// their epochs.
    pub(crate) fn open_transactions(&self) -> Vec<(i64, i16)> {
        self.shared.writer.lock().producers.open_transactions()
    }

    /// Appends the marker ending `producer_id`'s transaction at
    /// `producer_epoch` (which may be newer than its batches': a fenced
    /// producer's transaction is aborted at the new epoch). An older epoch
    /// is [`Error::ProducerFenced`](crate::Error::ProducerFenced).
    pub(crate) fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
    ) -> Result<AppendInfo> {
        let now = self.now_ms();
        let marker = ControlMarker {
            kind,
            coordinator_epoch: 0,
        };
        self.append_encoded(marker.batch(producer_id, producer_epoch, now), now)
    }

    /// Appends `records` as one transactional batch of `producer_id` at
    /// `producer_epoch`, sequence `base_sequence` (tests; producers write
    /// theirs through their accumulator).
    #[cfg(test)]
    pub(crate) fn append_transactional(
        &self,
        records: &[crate::Record<'_>],
        producer: ProducerFields,
    ) -> Result<AppendInfo> {
        let now = self.now_ms();
        let mut builder = BatchBuilder::new(self.shared.config.max_record_bytes as usize, 256);
        for r in records {
            builder.push(r, now)?;
        }
        let batch = builder.finish_with(producer, crate::batch::ATTR_TRANSACTIONAL);
        let batch = self.stored(batch, crate::compression::Compression::None, None)?;
        self.append_encoded(batch, now)
    }

    /// Writes `seg`'s aborted-transaction index (the transactions whose
    /// abort markers it holds), if it has any: at a roll, for the segment
    /// being sealed, and at a clean close, for the active one.
    pub(super) fn write_txn_index(&self, seg: &SegmentState) -> Result<()> {
        let (base, next) = (seg.base_offset(), seg.next_offset());
        let entries: Vec<AbortedTxn> = self
            .shared
            .aborted
            .read()
            .iter()
            .filter(|a| (base..next).contains(&a.last_offset))
            .copied()
            .collect();
        let path = seg.txn_index_path();
        if entries.is_empty() {
            // A stale one (of a segment truncated since) would lie.
            return self.shared.files.storage.remove_if_exists(&path);
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        self.shared.files.storage.write_atomically(
            &self.shared.dir,
            &name,
            &txn_index::encode(&entries),
        )
    }

    /// Forgets the aborted transactions whose markers are below the log
    /// start (retention removed their segments, index files and all).
    pub(super) fn forget_aborted_below(&self, start: u64) {
        self.shared
            .aborted
            .write()
            .retain(|a| a.last_offset >= start);
    }

    /// Records from `from` as a `read_committed` reader sees them: up to
    /// the [last stable offset](Self::last_stable_offset), without the
    /// batches of aborted transactions (nor markers, which no reader
    /// sees). Offsets of what is left out are gaps, as in Kafka; the
    /// result's `next_offset` is where to read next. At most `max_bytes`
    /// (but at least one batch) as [`Partition::read`] does.
    pub fn read_committed(&self, from: u64, max_bytes: usize) -> Result<Records> {
        let stable = self.last_stable_offset();
        let records = self.read_until(from, max_bytes, stable)?;
        let end = records.next_offset();
        let aborted: Vec<AbortedTxn> = self
            .shared
            .aborted
            .read()
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < end)
            .copied()
            .collect();
        Ok(records.without_aborted(aborted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::partition::PartitionConfig;
    use crate::Record;

    fn producer(id: i64, seq: i32) -> ProducerFields {
        ProducerFields {
            producer_id: id,
            producer_epoch: 0,
            base_sequence: seq,
        }
    }

    /// What a `read_committed` reader reads from `from` on, every segment.
    fn committed_values(p: &Partition, mut from: u64) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while from < p.last_stable_offset() {
            let r = p.read_committed(from, 1 << 20).unwrap();
            out.extend(r.iter().map(|r| {
                (
                    r.offset(),
                    String::from_utf8(r.value().unwrap().to_vec()).unwrap(),
                )
            }));
            from = r.next_offset();
        }
        out
    }

    #[test]
    fn read_committed_stops_at_open_transactions_and_skips_aborted_ones() {
        let p = Partition::in_memory(PartitionConfig::default()).unwrap();
        p.append(&[Record::new(b"plain0")]).unwrap(); // 0
        p.append_transactional(&[Record::new(b"a1"), Record::new(b"a2")], producer(1, 0))
            .unwrap(); // 1, 2
        p.append_transactional(&[Record::new(b"b3")], producer(2, 0))
            .unwrap(); // 3
        p.append(&[Record::new(b"plain4")]).unwrap(); // 4
        assert_eq!(p.high_watermark(), 5);
        assert_eq!(
            p.last_stable_offset(),
            1,
            "producer 1's transaction is open"
        );
        assert_eq!(committed_values(&p, 0), [(0, "plain0".into())]);
        // Uncommitted readers see everything written.
        assert_eq!(p.read(0, 1 << 20).unwrap().len(), 5);

        // Producer 1 aborts (marker at 5): the LSO moves to producer 2's.
        p.append_marker(1, 0, ControlType::Abort).unwrap();
        assert_eq!(p.last_stable_offset(), 3);
        assert_eq!(committed_values(&p, 0), [(0, "plain0".into())]);
        // Producer 2 commits (marker at 6): everything is stable; the
        // aborted batch and both markers are gaps.
        p.append_marker(2, 0, ControlType::Commit).unwrap();
        assert_eq!(p.last_stable_offset(), 7);
        assert_eq!(
            committed_values(&p, 0),
            [(0, "plain0".into()), (3, "b3".into()), (4, "plain4".into())]
        );
        // From inside the aborted transaction, and past the end.
        assert_eq!(committed_values(&p, 2)[0], (3, "b3".into()));
        let rest = p.read_committed(7, 1 << 20).unwrap();
        assert!(rest.is_empty());
        assert_eq!(rest.next_offset(), 7);
        // Markers are hidden from uncommitted readers too.
        assert_eq!(p.read(0, 1 << 20).unwrap().len(), 5);
    }

    #[test]
    fn a_fenced_epoch_cannot_end_a_transaction() {
        let p = Partition::in_memory(PartitionConfig::default()).unwrap();
        let mut fields = producer(7, 0);
        fields.producer_epoch = 3;
        p.append_transactional(&[Record::new(b"x")], fields)
            .unwrap();
        // The newer epoch aborts the zombie's transaction...
        p.append_marker(7, 4, ControlType::Abort).unwrap();
        // ...and the zombie can neither write nor commit any more.
        assert!(matches!(
            p.append_transactional(&[Record::new(b"y")], fields),
            Err(crate::Error::ProducerFenced { .. })
        ));
        assert!(matches!(
            p.append_marker(7, 3, ControlType::Commit),
            Err(crate::Error::ProducerFenced { .. })
        ));
        assert!(committed_values(&p, 0).is_empty());
        assert_eq!(p.last_stable_offset(), p.high_watermark());
    }

    /// A workload over several segments: producer 1's transaction aborts,
    /// producer 2's commits, producer 3's stays open, plain records in
    /// between. Stops at the first error (a power cut).
    fn workload(p: &Partition) -> Result<()> {
        for i in 0..20 {
            p.append(&[Record::new(format!("plain{i}"))])?;
            p.append_transactional(&[Record::new(format!("aborted{i}"))], producer(1, i))?;
            p.append_transactional(&[Record::new(format!("committed{i}"))], producer(2, i))?;
        }
        p.append_marker(1, 0, ControlType::Abort)?;
        p.append_marker(2, 0, ControlType::Commit)?;
        p.append(&[Record::new(b"after")])?;
        p.append_transactional(&[Record::new(b"open")], producer(3, 0))?;
        p.append(&[Record::new(b"behind the open one")])?;
        Ok(())
    }

    #[test]
    fn aborted_transactions_and_open_ones_survive_close_and_crash() {
        use crate::storage::sim::{Damage, SimDisk};
        use std::path::Path;
        use std::sync::Arc;
        let dir = Path::new("/p");
        let config = PartitionConfig::default().segment_bytes(1024);
        for crash in [false, true] {
            let disk = SimDisk::new();
            let p = Partition::open_with(Arc::new(disk.clone()), dir, config.clone()).unwrap();
            workload(&p).unwrap();
            assert!(
                p.segments().unwrap().len() > 3,
                "markers in sealed segments"
            );
            let seen = committed_values(&p, 0);
            let stable = p.last_stable_offset();
            assert!(seen.iter().all(|(_, v)| !v.starts_with("aborted")));
            assert_eq!(
                seen.iter()
                    .filter(|(_, v)| v.starts_with("committed"))
                    .count(),
                20
            );
            assert!(stable < p.high_watermark(), "producer 3 is open");
            let reopened = if crash {
                // Everything written stays, but nothing of a clean close.
                let after = disk.power_loss(Damage::KeepAll);
                drop(p);
                Partition::open_with(Arc::new(after), dir, config.clone()).unwrap()
            } else {
                p.close().unwrap();
                use crate::storage::Storage;
                let indexes = disk.list(dir).unwrap();
                let indexes: Vec<_> = indexes
                    .iter()
                    .filter(|n| n.ends_with(".txnindex"))
                    .collect();
                assert_eq!(indexes.len(), 1, "one abort marker, one index: {indexes:?}");
                Partition::open_with(Arc::new(disk.clone()), dir, config.clone()).unwrap()
            };
            assert_eq!(committed_values(&reopened, 0), seen, "crash: {crash}");
            assert_eq!(reopened.last_stable_offset(), stable, "crash: {crash}");
            // Producer 3's open transaction was remembered: its abort hides
            // its record, and everything is stable.
            reopened.append_marker(3, 0, ControlType::Abort).unwrap();
            let after_abort = committed_values(&reopened, 0);
            assert!(
                after_abort.iter().all(|(_, v)| v != "open"),
                "crash: {crash}"
            );
            assert!(after_abort.iter().any(|(_, v)| v == "behind the open one"));
            assert_eq!(reopened.last_stable_offset(), reopened.high_watermark());
        }
    }

    #[test]
    fn retention_forgets_the_aborted_transactions_of_deleted_segments() {
        let p = Partition::in_memory(PartitionConfig::default().segment_bytes(1024)).unwrap();
        workload(&p).unwrap();
        p.append_marker(3, 0, ControlType::Abort).unwrap();
        assert_eq!(p.shared.aborted.read().len(), 2);
        // Roll past the markers' segments, then delete them.
        for i in 0..40 {
            p.append(&[Record::new(format!("later{i}"))]).unwrap();
        }
        let hw = p.high_watermark();
        p.delete_records(hw).unwrap();
        let left: Vec<_> = p.shared.aborted.read().clone();
        assert!(left.is_empty(), "{left:?}");
    }

    /// The aborted transactions and the first unstable offset a fold of
    /// the whole log from offset 0 finds: what the partition's own state
    /// must equal after any open.
    fn full_fold(p: &Partition) -> (Vec<AbortedTxn>, Option<u64>) {
        let mut state = crate::partition::producer_state::ProducerState::default();
        let mut aborted = Vec::new();
        for seg in p.shared.segments.read().iter() {
            seg.for_each_header(&mut |h, marker| {
                if let Some(t) = state
                    .apply(h, marker)
                    .filter(|t| t.kind == ControlType::Abort)
                {
                    aborted.push(AbortedTxn {
                        producer_id: t.producer_id,
                        first_offset: t.first_offset,
                        last_offset: t.last_offset,
                    });
                }
            })
            .unwrap();
        }
        (aborted, state.first_unstable_offset())
    }

    #[test]
    fn after_a_power_cut_at_every_io_the_state_is_a_fold_of_the_log() {
        use crate::storage::sim::{Damage, SimDisk};
        use std::path::Path;
        use std::sync::Arc;
        let dir = Path::new("/p");
        let config = PartitionConfig::default().segment_bytes(1024);
        let run = |cut: Option<u64>| -> (SimDisk, u64) {
            let disk = SimDisk::new();
            if let Some(k) = cut {
                disk.cut_power_at(k);
            }
            let start = disk.ops();
            if let Ok(p) = Partition::open_with(Arc::new(disk.clone()), dir, config.clone()) {
                let more = |p: &Partition| -> Result<()> {
                    workload(p)?;
                    p.append_marker(3, 0, ControlType::Abort)?;
                    // Roll past the markers: a fold from the newest
                    // snapshot then starts after them, and their index
                    // files count.
                    for i in 0..30 {
                        p.append(&[Record::new(format!("later{i}"))])?;
                    }
                    p.close()
                };
                // The power cut ends it with an error, somewhere.
                let _ = more(&p);
            }
            let steps = disk.ops() - start;
            (disk, steps)
        };
        let (_, steps) = run(None);
        assert!(steps > 50, "{steps} I/O operations");
        let stride = (steps / 60).max(1);
        let mut checked = 0;
        for k in (0..=steps).step_by(stride as usize) {
            let (disk, _) = run(Some(k));
            for damage in [Damage::KeepAll, Damage::DropAll, Damage::Seeded(k)] {
                let after = disk.power_loss(damage);
                let p = Partition::open_with(Arc::new(after), dir, config.clone())
                    .unwrap_or_else(|e| panic!("cut at {k}, {damage:?}: {e}"));
                let (aborted, first_unstable) = full_fold(&p);
                assert_eq!(*p.shared.aborted.read(), aborted, "cut at {k}, {damage:?}");
                let stable = first_unstable.unwrap_or(u64::MAX).min(p.high_watermark());
                assert_eq!(p.last_stable_offset(), stable, "cut at {k}, {damage:?}");
                checked += 1;
            }
        }
        assert!(checked > 30);
    }

    #[test]
    fn compaction_keeps_markers_so_aborted_data_stays_hidden() {
        use crate::partition::CompactionOptions;
        let p = Partition::in_memory(PartitionConfig::default().segment_bytes(1024)).unwrap();
        // Keyed records, as a compacted topic has: the same keys again and
        // again, in aborted and committed transactions.
        for i in 0..20 {
            let k = format!("k{}", i % 3);
            p.append_transactional(
                &[Record::new(format!("aborted{i}")).key(k.as_bytes())],
                producer(1, i),
            )
            .unwrap();
            p.append_transactional(
                &[Record::new(format!("committed{i}")).key(k.as_bytes())],
                producer(2, i),
            )
            .unwrap();
        }
        p.append_marker(1, 0, ControlType::Abort).unwrap();
        p.append_marker(2, 0, ControlType::Commit).unwrap();
        // Later updates of the same keys, aborted: they must not
        // supersede the committed values.
        for k in 0..3 {
            let key = format!("k{k}");
            p.append_transactional(
                &[Record::new(format!("aborted late {k}")).key(key.as_bytes())],
                producer(4, k),
            )
            .unwrap();
        }
        p.append_marker(4, 0, ControlType::Abort).unwrap();
        for i in 0..30 {
            p.append(&[Record::new(format!("later{i}")).key(b"other")])
                .unwrap();
        }
        let latest = |p: &Partition| {
            let mut by_key = std::collections::BTreeMap::new();
            let mut from = 0;
            while from < p.last_stable_offset() {
                let r = p.read_committed(from, 1 << 20).unwrap();
                for r in r.iter() {
                    by_key.insert(r.key().unwrap().to_vec(), r.value().unwrap().to_vec());
                }
                from = r.next_offset();
            }
            by_key
        };
        let before = latest(&p);
        let report = p.compact(CompactionOptions::default()).unwrap();
        assert!(report.records_out < report.records_in, "{report:?}");
        // Aborted data went; each key's latest committed value is there.
        assert_eq!(latest(&p), before);
        let mut from = 0;
        while from < p.high_watermark() {
            let r = p.read(from, 1 << 20).unwrap();
            assert!(r
                .iter()
                .all(|r| !r.value().unwrap().starts_with(b"aborted")));
            from = r.next_offset();
        }
        // The markers stay: the aborted transaction is still known, and
        // nothing is open.
        assert_eq!(p.shared.aborted.read().len(), 2);
        assert_eq!(full_fold(&p).1, None);
    }

    #[test]
    fn retention_and_delete_records_never_cut_an_open_transaction() {
        let p = Partition::in_memory(PartitionConfig::default().segment_bytes(1024)).unwrap();
        let fill = |n: usize| {
            for i in 0..n {
                p.append(&[Record::new(format!("plain {i:03}"))]).unwrap();
            }
        };
        fill(30);
        let first = p
            .append_transactional(&[Record::new(b"open")], producer(1, 0))
            .unwrap()
            .base_offset;
        fill(60);
        assert!(p.segments().unwrap().len() > 3);
        assert_eq!(p.last_stable_offset(), first);
        // Retention would take every sealed segment; it stops at the one
        // holding the open transaction's first record.
        let deleted = p.enforce_retention(None, Some(0)).unwrap();
        assert!(deleted.segments > 0);
        assert!(p.log_start_offset() <= first, "{deleted:?}");
        let e = p.delete_records(first + 1).unwrap_err();
        assert!(
            matches!(e, Error::OffsetOutOfRange { end, .. } if end == first),
            "{e:?}"
        );
        assert!(p.log_start_offset() <= first);
        // Ended, the transaction holds nothing back.
        p.append_marker(1, 0, ControlType::Commit).unwrap();
        assert_eq!(committed_values(&p, first)[0], (first, "open".to_owned()));
        p.enforce_retention(None, Some(0)).unwrap();
        assert!(p.log_start_offset() > first);
        p.delete_records(p.high_watermark()).unwrap();
    }

    /// The markers in `p`'s log: (producer id, kind), in log order.
    fn markers(p: &Partition) -> Vec<(i64, ControlType)> {
        let mut out = Vec::new();
        for seg in p.shared.segments.read().iter() {
            seg.for_each_header(&mut |h, marker| {
                if let Some(kind) = marker {
                    out.push((h.producer_id, kind));
                }
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn compaction_removes_a_marker_once_its_records_are_gone_and_its_time_is_past() {
        use crate::clock::ManualClock;
        use crate::partition::test_support::Home;
        use crate::partition::CompactionOptions;
        use std::sync::Arc;
        for home in [Home::disk(), Home::memory()] {
            let clock = Arc::new(ManualClock::new(1_000));
            let config = PartitionConfig::default().segment_bytes(1024);
            let p = home.open(&config, &clock);
            let keyed = |v: &str, k: &str| Record::new(v.to_owned()).key(k.as_bytes().to_vec());
            // Producer 1 commits k0..k2, superseded later; producer 2's
            // transaction is aborted; producer 3 commits `live`, never
            // superseded.
            for k in 0..3 {
                let key = format!("k{k}");
                p.append_transactional(&[keyed("old", &key)], producer(1, k))
                    .unwrap();
                p.append_transactional(&[keyed("aborted", &key)], producer(2, k))
                    .unwrap();
            }
            p.append_transactional(&[keyed("live", "live")], producer(3, 0))
                .unwrap();
            p.append_marker(1, 0, ControlType::Commit).unwrap();
            p.append_marker(2, 0, ControlType::Abort).unwrap();
            p.append_marker(3, 0, ControlType::Commit).unwrap();
            for k in 0..3 {
                p.append(&[keyed("new", &format!("k{k}"))]).unwrap();
            }
            let fill = |p: &Partition, n: usize| {
                for i in 0..n {
                    p.append(&[keyed(&format!("fill{i}"), "fill")]).unwrap();
                }
            };
            fill(&p, 40);
            let options = CompactionOptions {
                delete_retention_ms: 10_000,
                min_cleanable_dirty_ratio: 0.0,
                min_compaction_lag_ms: 0,
                ..CompactionOptions::default()
            };
            let all = vec![
                (1, ControlType::Commit),
                (2, ControlType::Abort),
                (3, ControlType::Commit),
            ];
            p.compact(options).unwrap();
            assert_eq!(markers(&p), all, "within delete_retention_ms: all kept");

            clock.advance(10_001);
            fill(&p, 40);
            p.compact(options).unwrap();
            // Producer 1's records were superseded and producer 2's
            // aborted: their markers went. Producer 3's record is live.
            assert_eq!(markers(&p), [(3, ControlType::Commit)]);
            let values: Vec<String> = committed_values(&p, 0)
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| !v.starts_with("fill"))
                .collect();
            assert_eq!(values, ["live", "new", "new", "new"]);
            // Nothing looks open, now or after a reopen.
            assert_eq!(full_fold(&p).1, None);
            assert_eq!(p.last_stable_offset(), p.high_watermark());
            p.close().unwrap();
            let p = home.open(&config, &clock);
            assert_eq!(full_fold(&p).1, None);
            assert_eq!(p.last_stable_offset(), p.high_watermark());
            assert_eq!(markers(&p), [(3, ControlType::Commit)]);
        }
    }

    #[test]
    fn a_read_committed_consumer_waits_for_the_transaction_to_end() {
        use crate::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
        use std::time::Duration;
        let log = crate::Log::in_memory();
        log.create_topic("t", crate::topic::TopicConfig::default())
            .unwrap();
        let p = log.topic("t").unwrap().partition(0).unwrap();
        p.append(&[Record::new(b"plain0")]).unwrap();
        p.append_transactional(&[Record::new(b"txn1")], producer(1, 0))
            .unwrap();
        p.append(&[Record::new(b"plain2")]).unwrap();
        let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest);
        let mut committed = log
            .consumer(
                config
                    .clone()
                    .isolation_level(IsolationLevel::ReadCommitted),
            )
            .unwrap();
        committed.assign(&[("t", 0)]).unwrap();
        let mut uncommitted = log.consumer(config).unwrap();
        uncommitted.assign(&[("t", 0)]).unwrap();
        let values = |c: &mut crate::Consumer, wait: Duration| -> Vec<Vec<u8>> {
            let r = c.poll(wait).unwrap();
            r.iter().map(|r| r.value().unwrap().to_vec()).collect()
        };
        assert_eq!(values(&mut uncommitted, Duration::ZERO).len(), 3);
        assert_eq!(values(&mut committed, Duration::ZERO), [b"plain0".to_vec()]);
        assert!(values(&mut committed, Duration::from_millis(20)).is_empty());
        // The commit marker, from another thread, wakes the waiting poll.
        let marker = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                p.append_marker(1, 0, ControlType::Commit).unwrap();
            })
        };
        let started = std::time::Instant::now();
        let after = values(&mut committed, Duration::from_secs(10));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken by the marker"
        );
        assert_eq!(after, [b"txn1".to_vec(), b"plain2".to_vec()]);
        marker.join().unwrap();
        // An aborted transaction is never read committed; the offsets
        // after it are.
        p.append_transactional(&[Record::new(b"txn2")], producer(2, 0))
            .unwrap();
        p.append_marker(2, 0, ControlType::Abort).unwrap();
        p.append(&[Record::new(b"plain3")]).unwrap();
        assert_eq!(values(&mut committed, Duration::ZERO), [b"plain3".to_vec()]);
        assert_eq!(committed.position("t", 0).unwrap(), p.high_watermark());
    }
}
