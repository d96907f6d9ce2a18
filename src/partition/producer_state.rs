//! Idempotent producer state of one partition: Kafka's `ProducerStateManager`.
//!
//! For each producer id the partition keeps the newest epoch it has seen and
//! the metadata of that epoch's last [`BATCHES_RETAINED`] batches. Before a
//! batch is written, [`ProducerState::check`] decides, under the writer
//! lock, whether it is new (append it), a retry of a retained batch (answer
//! with the original's offsets, write nothing), from a fenced epoch, or out
//! of sequence. After it is written, [`ProducerState::record`] takes it in.
//!
//! The state is derived data: a fold of [`ProducerState::record`] over the
//! batch headers of the log in offset order. Recovery rebuilds it from a
//! snapshot (`producer_snapshot`) plus the headers of the batches after it.

use super::AppendInfo;
use crate::batch::{BatchHeader, ControlType};
use crate::error::{Error, Result};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Batches remembered per producer id, as Kafka's `NUM_BATCHES_TO_RETAIN`:
/// a Kafka producer has at most 5 requests in flight per partition with
/// idempotence on, so any retry it can send is one of the last 5 batches.
pub(crate) const BATCHES_RETAINED: usize = 5;

/// What the partition remembers of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: u64,
    pub last_offset: u64,
    pub max_timestamp: i64,
}

impl BatchMetadata {
    /// The metadata of a batch as written (base offset and timestamps final).
    pub fn of(h: &BatchHeader) -> Self {
        BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: last_sequence(h.base_sequence, h.last_offset_delta),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
        }
    }

    /// What the original append of this batch answered.
    pub fn append_info(&self) -> AppendInfo {
        AppendInfo {
            base_offset: self.base_offset,
            last_offset: self.last_offset,
            max_timestamp: self.max_timestamp,
        }
    }
}

/// One producer id's state: its epoch and that epoch's newest batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_RETAINED`]. Empty only after a
    /// marker moved the producer to a new epoch.
    pub batches: VecDeque<BatchMetadata>,
    /// The offset of the producer's first transactional batch on this
    /// partition since its last marker: its transaction is open here.
    pub txn_first_offset: Option<u64>,
}

/// A transaction that ended on this partition: its producer, the offsets
/// from its first batch to its marker, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    /// The marker's offset.
    pub last_offset: u64,
    pub kind: ControlType,
}

impl ProducerEntry {
    fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }
}

/// The verdict on a batch before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New and in sequence (or not idempotent): write it.
    Append,
    /// A retry of a batch already in the log: answer with its offsets.
    Duplicate(AppendInfo),
}

/// The idempotence and transaction state of a partition, by producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// The open transactions, by first offset: the first one bounds the
    /// last stable offset (LSO).
    ongoing: BTreeSet<(u64, i64)>,
}

/// The sequence number of a batch's last record: Kafka's
/// `DefaultRecordBatch.incrementSequence`, which wraps past `i32::MAX` to 0
/// so a producer never runs out of sequence numbers. A negative base (no
/// sequence) stays as it is.
pub(crate) fn last_sequence(base: i32, last_offset_delta: u32) -> i32 {
    if base < 0 {
        return base;
    }
    ((i64::from(base) + i64::from(last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
}

/// The sequence number after `seq`, wrapping as [`last_sequence`] does.
fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerState {
    /// The epoch and next sequence a producer should use to continue where
    /// the log left it: `(epoch, last + 1)` for a known id, `(0, 0)` for an
    /// unknown one.
    pub fn resume(&self, producer_id: i64) -> (i16, i32) {
        self.producers
            .get(&producer_id)
            .map_or((0, 0), |e| (e.epoch, next_sequence(e.last_seq())))
    }

    /// Kafka's checks on a produce request (`UnifiedLog.analyzeAndValidate
    /// ProducerState` and `ProducerAppendInfo.checkSequence`), in its order:
    /// a retry of one of the epoch's retained batches is a duplicate; an
    /// older epoch is fenced; a newer epoch (or an unknown id) must start
    /// at sequence 0; the same epoch must continue right after the last
    /// sequence. Unlike Kafka, an unknown producer id with a sequence other
    /// than 0 is refused as out of order: samsa never expires producer
    /// state, so an unknown id has truly sent nothing here before.
    pub fn check(&self, h: &BatchHeader) -> Result<Verdict> {
        let id = h.producer_id;
        if id < 0 {
            return Ok(Verdict::Append);
        }
        if h.is_control() {
            // A marker has no sequence; it may not come from a fenced
            // epoch, and may bump the epoch (a fenced producer's open
            // transaction is aborted at the new epoch).
            return match self.producers.get(&id) {
                Some(e) if h.producer_epoch < e.epoch => Err(Error::ProducerFenced {
                    producer_id: id,
                    epoch: h.producer_epoch,
                    current_epoch: e.epoch,
                }),
                _ => Ok(Verdict::Append),
            };
        }
        let first = h.base_sequence;
        let out_of_order = |expected| Error::OutOfOrderSequence {
            producer_id: id,
            expected,
            got: first,
        };
        let Some(entry) = self.producers.get(&id) else {
            return if first == 0 {
                Ok(Verdict::Append)
            } else {
                Err(out_of_order(0))
            };
        };
        if h.producer_epoch == entry.epoch {
            let last = last_sequence(first, h.last_offset_delta);
            if let Some(b) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == first && b.last_seq == last)
            {
                return Ok(Verdict::Duplicate(b.append_info()));
            }
        }
        if h.producer_epoch < entry.epoch {
            return Err(Error::ProducerFenced {
                producer_id: id,
                epoch: h.producer_epoch,
                current_epoch: entry.epoch,
            });
        }
        let expected = if h.producer_epoch > entry.epoch {
            0
        } else {
            next_sequence(entry.last_seq())
        };
        // A negative sequence never matches: `expected` is never negative.
        if first == expected {
            Ok(Verdict::Append)
        } else {
            Err(out_of_order(expected))
        }
    }

    /// Takes in a batch written to the log (its base offset and timestamps
    /// final). Used after every append and to replay the log at open, so it
    /// checks nothing, as Kafka's replay does: a new epoch starts the
    /// producer's batches afresh, the same epoch adds to them.
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        let batch = BatchMetadata::of(h);
        let entry = self.entry(h.producer_id, h.producer_epoch);
        if entry.batches.len() == BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.ongoing.insert((h.base_offset, h.producer_id));
        }
    }

    /// Takes in a control batch (its offset final) and the marker it
    /// carries: the producer's open transaction, if any, ends here.
    /// Returns it, to be indexed if aborted. A marker with no transaction
    /// open (a retried marker, or an abort of a producer that sent nothing
    /// here) ends nothing. Like [`Self::record`], it checks nothing.
    pub fn record_marker(&mut self, h: &BatchHeader, kind: ControlType) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self.entry(h.producer_id, h.producer_epoch);
        let first_offset = entry.txn_first_offset.take()?;
        self.ongoing.remove(&(first_offset, h.producer_id));
        Some(CompletedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.base_offset,
            kind,
        })
    }

    /// Takes in a batch written to the log: [`Self::record_marker`] for a
    /// control batch (with its marker), [`Self::record`] for any other.
    pub fn apply(&mut self, h: &BatchHeader, marker: Option<ControlType>) -> Option<CompletedTxn> {
        match marker {
            Some(kind) => self.record_marker(h, kind),
            None => {
                self.record(h);
                None
            }
        }
    }

    /// The entry of `producer_id`, moved to `epoch` (a new epoch starts
    /// its batches afresh; an open transaction stays open until a marker
    /// ends it, as Kafka's coordinator always writes one).
    fn entry(&mut self, producer_id: i64, epoch: i16) -> &mut ProducerEntry {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(BATCHES_RETAINED),
                txn_first_offset: None,
            });
        if entry.epoch != epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry
    }

    /// The producers with an open transaction, and their epochs.
    pub fn open_transactions(&self) -> Vec<(i64, i16)> {
        self.ongoing
            .iter()
            .filter_map(|&(_, id)| self.producers.get(&id).map(|e| (id, e.epoch)))
            .collect()
    }

    /// The first offset of the oldest open transaction: below it, every
    /// record's fate is decided (Kafka's first unstable offset; the LSO is
    /// the smaller of this and the high watermark).
    pub fn first_unstable_offset(&self) -> Option<u64> {
        self.ongoing.first().map(|&(offset, _)| offset)
    }

    /// The entries, by ascending producer id (for snapshots).
    pub fn entries(&self) -> Vec<(i64, &ProducerEntry)> {
        let mut v: Vec<_> = self.producers.iter().map(|(id, e)| (*id, e)).collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    /// Adds an entry read from a snapshot.
    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        if let Some(first) = entry.txn_first_offset {
            self.ongoing.insert((first, producer_id));
        }
        if let Some(old) = self.producers.insert(producer_id, entry) {
            if let Some(first) = old.txn_first_offset {
                self.ongoing.remove(&(first, producer_id));
            }
        }
    }

    /// How many producer ids it knows.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::MAGIC;

    /// A header of `count` records from `(id, epoch)` starting at `seq`,
    /// written at `base`.
    fn header(id: i64, epoch: i16, seq: i32, count: u32, base: u64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 1000,
            magic: MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 10,
            max_timestamp: 10 + base as i64,
            producer_id: id,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    /// Checks and, if new, records; returns the verdict.
    fn send(s: &mut ProducerState, h: BatchHeader) -> Result<Verdict> {
        let v = s.check(&h)?;
        if v == Verdict::Append {
            s.record(&h);
        }
        Ok(v)
    }

    fn out_of_order(r: Result<Verdict>) -> (i32, i32) {
        match r {
            Err(Error::OutOfOrderSequence { expected, got, .. }) => (expected, got),
            other => panic!("expected OutOfOrderSequence, got {other:?}"),
        }
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(last_sequence(0, 0), 0);
        assert_eq!(last_sequence(5, 3), 8);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 4), 2);
        assert_eq!(last_sequence(i32::MAX, u32::MAX), i32::MAX - 1);
        assert_eq!(last_sequence(-1, 9), -1);
        assert_eq!(next_sequence(i32::MAX), 0);
    }

    #[test]
    fn non_idempotent_batches_pass_unchecked() {
        let mut s = ProducerState::default();
        for base in 0..3 {
            assert!(matches!(
                send(&mut s, header(-1, -1, -1, 1, base)),
                Ok(Verdict::Append)
            ));
        }
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_new_producer_starts_at_zero() {
        let mut s = ProducerState::default();
        assert_eq!(out_of_order(send(&mut s, header(7, 0, 3, 1, 0))), (0, 3));
        assert_eq!(out_of_order(send(&mut s, header(7, 0, -1, 1, 0))), (0, -1));
        assert!(matches!(
            send(&mut s, header(7, 0, 0, 2, 0)),
            Ok(Verdict::Append)
        ));
        assert!(matches!(
            send(&mut s, header(7, 0, 2, 1, 2)),
            Ok(Verdict::Append)
        ));
        assert_eq!(out_of_order(send(&mut s, header(7, 0, 4, 1, 3))), (3, 4));
        assert_eq!(out_of_order(send(&mut s, header(7, 0, 2, 2, 3))), (3, 2));
    }

    #[test]
    fn retries_of_the_last_five_are_duplicates_older_ones_out_of_order() {
        let mut s = ProducerState::default();
        for i in 0..8u64 {
            let h = header(1, 0, (2 * i) as i32, 2, 2 * i);
            assert!(matches!(send(&mut s, h), Ok(Verdict::Append)));
        }
        for i in 3..8u64 {
            let h = header(1, 0, (2 * i) as i32, 2, 99);
            let Ok(Verdict::Duplicate(info)) = send(&mut s, h) else {
                panic!("batch {i} is a duplicate")
            };
            assert_eq!(
                (info.base_offset, info.last_offset, info.max_timestamp),
                (2 * i, 2 * i + 1, 10 + 2 * i as i64)
            );
        }
        assert_eq!(out_of_order(send(&mut s, header(1, 0, 4, 2, 99))), (16, 4));
        // Same first sequence, other length: not the same batch.
        assert_eq!(
            out_of_order(send(&mut s, header(1, 0, 14, 1, 99))),
            (16, 14)
        );
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut s = ProducerState::default();
        send(&mut s, header(1, 3, 0, 1, 0)).unwrap();
        send(&mut s, header(1, 3, 1, 1, 1)).unwrap();
        let fenced = send(&mut s, header(1, 2, 2, 1, 2));
        assert!(
            matches!(
                fenced,
                Err(Error::ProducerFenced {
                    producer_id: 1,
                    epoch: 2,
                    current_epoch: 3
                })
            ),
            "{fenced:?}"
        );
        assert_eq!(out_of_order(send(&mut s, header(1, 4, 2, 1, 2))), (0, 2));
        assert!(matches!(
            send(&mut s, header(1, 4, 0, 1, 2)),
            Ok(Verdict::Append)
        ));
        // The old epoch's batches are forgotten: a retry of one is fenced.
        assert!(matches!(
            send(&mut s, header(1, 3, 1, 1, 9)),
            Err(Error::ProducerFenced { .. })
        ));
        assert_eq!(out_of_order(send(&mut s, header(1, 4, 2, 1, 3))), (1, 2));
    }

    #[test]
    fn sequences_continue_past_i32_max() {
        let mut s = ProducerState::default();
        let mut st = ProducerState::default();
        // Reach the top through replay, which does not check.
        s.record(&header(1, 0, i32::MAX - 1, 1, 0));
        st.record(&header(1, 0, i32::MAX - 1, 1, 0));
        assert!(matches!(
            send(&mut s, header(1, 0, i32::MAX, 3, 1)),
            Ok(Verdict::Append)
        ));
        assert!(matches!(
            send(&mut s, header(1, 0, 2, 1, 4)),
            Ok(Verdict::Append)
        ));
        assert!(matches!(
            send(&mut s, header(1, 0, i32::MAX, 3, 9)),
            Ok(Verdict::Duplicate(AppendInfo { base_offset: 1, .. }))
        ));
        assert_eq!(
            out_of_order(send(&mut st, header(1, 0, 0, 1, 1))),
            (i32::MAX, 0)
        );
    }

    #[test]
    fn producers_are_independent() {
        let mut s = ProducerState::default();
        send(&mut s, header(1, 0, 0, 1, 0)).unwrap();
        send(&mut s, header(2, 5, 0, 1, 1)).unwrap();
        send(&mut s, header(1, 0, 1, 1, 2)).unwrap();
        assert!(matches!(
            send(&mut s, header(2, 5, 1, 1, 3)),
            Ok(Verdict::Append)
        ));
        assert_eq!(out_of_order(send(&mut s, header(2, 5, 3, 1, 4))), (2, 3));
        assert_eq!(s.entries().iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
    }

    /// A transactional batch (`count` records at `base`).
    fn txn(id: i64, epoch: i16, seq: i32, count: u32, base: u64) -> BatchHeader {
        BatchHeader {
            attributes: crate::batch::ATTR_TRANSACTIONAL,
            ..header(id, epoch, seq, count, base)
        }
    }

    /// A control batch of `(id, epoch)` at `base`.
    fn marker(id: i64, epoch: i16, base: u64) -> BatchHeader {
        BatchHeader {
            attributes: crate::batch::ATTR_TRANSACTIONAL | crate::batch::ATTR_CONTROL,
            ..header(id, epoch, -1, 1, base)
        }
    }

    #[test]
    fn open_transactions_bound_the_stable_offset_until_their_markers() {
        let mut s = ProducerState::default();
        assert_eq!(s.first_unstable_offset(), None);
        // Producer 1 opens a transaction at 0, producer 2 at 3; a plain
        // idempotent producer 3 does not hold the LSO back.
        send(&mut s, txn(1, 0, 0, 3, 0)).unwrap();
        send(&mut s, txn(2, 0, 0, 2, 3)).unwrap();
        send(&mut s, header(3, 0, 0, 2, 5)).unwrap();
        send(&mut s, txn(1, 0, 3, 1, 7)).unwrap();
        assert_eq!(s.first_unstable_offset(), Some(0));
        // Producer 1 commits at 8: producer 2's transaction bounds it now.
        let h = marker(1, 0, 8);
        assert_eq!(s.check(&h).unwrap(), Verdict::Append);
        let done = s.record_marker(&h, ControlType::Commit).unwrap();
        assert_eq!(
            done,
            CompletedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 8,
                kind: ControlType::Commit
            }
        );
        assert_eq!(s.first_unstable_offset(), Some(3));
        // Producer 2 aborts: nothing open.
        let done = s
            .record_marker(&marker(2, 0, 9), ControlType::Abort)
            .unwrap();
        assert_eq!((done.first_offset, done.last_offset), (3, 9));
        assert_eq!(s.first_unstable_offset(), None);
        // A second marker ends nothing; the next transaction starts anew,
        // continuing the producer's sequence.
        assert_eq!(s.record_marker(&marker(2, 0, 10), ControlType::Abort), None);
        send(&mut s, txn(2, 0, 2, 1, 11)).unwrap();
        assert_eq!(s.first_unstable_offset(), Some(11));
    }

    #[test]
    fn a_marker_may_bump_the_epoch_but_never_come_from_a_fenced_one() {
        let mut s = ProducerState::default();
        send(&mut s, txn(1, 4, 0, 2, 0)).unwrap();
        // The zombie's transaction is aborted at a bumped epoch (5).
        let bumped = marker(1, 5, 2);
        assert_eq!(s.check(&bumped).unwrap(), Verdict::Append);
        let done = s.record_marker(&bumped, ControlType::Abort).unwrap();
        assert_eq!(done.first_offset, 0);
        assert_eq!(s.resume(1), (5, 0), "the new epoch starts at sequence 0");
        // The old epoch is fenced, for data and markers alike.
        assert!(matches!(
            s.check(&txn(1, 4, 2, 1, 3)),
            Err(Error::ProducerFenced { .. })
        ));
        assert!(matches!(
            s.check(&marker(1, 4, 3)),
            Err(Error::ProducerFenced { .. })
        ));
        send(&mut s, txn(1, 5, 0, 1, 3)).unwrap();
        assert_eq!(s.first_unstable_offset(), Some(3));
    }
}
