//! Control batches: the markers that end a producer's transaction on a
//! partition (Kafka's `EndTransactionMarker`).
//!
//! A control batch has attribute bits 4 (transactional) and 5 (control),
//! the producer id and epoch of the transaction it ends, base sequence -1,
//! and one record (little-endian, as everything samsa writes):
//!
//! ```text
//! key:   version u16 (0) | type u16 (0 abort, 1 commit)
//! value: version u16 (0) | coordinator_epoch i32
//! ```
//!
//! It takes an offset, as in Kafka, but readers never see it: a read skips
//! control batches, so offsets have gaps where markers are.

use super::builder::{BatchBuilder, EncodedBatch, ProducerFields};
use super::header::{ATTR_CONTROL, ATTR_TRANSACTIONAL};
use super::view::{BatchError, BatchView};
use crate::record::Record;

/// The key and value layouts' version.
const VERSION: u16 = 0;
/// Bytes of a marker's key.
const KEY_LEN: usize = 4;
/// Bytes of a marker's value.
const VALUE_LEN: usize = 6;

/// How a transaction ended on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlType {
    /// Its records are dropped: no `read_committed` reader sees them.
    Abort,
    /// Its records count, and become visible to `read_committed` readers.
    Commit,
}

/// A transaction aborted on a partition: Kafka's `AbortedTxn`. Its
/// producer's transactional batches from `first_offset` to `last_offset`
/// (the abort marker) are not data: `read_committed` reads leave them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    pub last_offset: u64,
}

impl AbortedTxn {
    /// Whether the batch of `header` belongs to this aborted transaction.
    pub fn covers(&self, header: &super::BatchHeader) -> bool {
        header.is_transactional()
            && self.producer_id == header.producer_id
            && self.first_offset <= header.base_offset
            && header.base_offset <= self.last_offset
    }
}

/// A transaction marker: what the one record of a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlMarker {
    pub kind: ControlType,
    /// The epoch of the transaction coordinator that wrote it (Kafka's
    /// field; samsa's coordinator is the log itself, epoch 0 until it has
    /// a reason to count).
    pub coordinator_epoch: i32,
}

impl ControlMarker {
    /// The control batch carrying this marker for `producer_id` at
    /// `producer_epoch`, stamped `timestamp`; its offset is assigned at
    /// append, as any batch's.
    pub fn batch(&self, producer_id: i64, producer_epoch: i16, timestamp: i64) -> EncodedBatch {
        let mut key = [0u8; KEY_LEN];
        key[..2].copy_from_slice(&VERSION.to_le_bytes());
        let kind: u16 = match self.kind {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        };
        key[2..].copy_from_slice(&kind.to_le_bytes());
        let mut value = [0u8; VALUE_LEN];
        value[..2].copy_from_slice(&VERSION.to_le_bytes());
        value[2..].copy_from_slice(&self.coordinator_epoch.to_le_bytes());
        let mut builder = BatchBuilder::new(usize::MAX, 64);
        let record = Record::new(&value[..]).key(&key[..]);
        // A marker is a few bytes under no size limit: pushing cannot fail.
        let _ = builder.push(&record, timestamp);
        builder.finish_with(
            ProducerFields {
                producer_id,
                producer_epoch,
                base_sequence: -1,
            },
            ATTR_TRANSACTIONAL | ATTR_CONTROL,
        )
    }

    /// The marker of a control batch; an error for a batch that is not one
    /// or whose record does not hold a marker this version knows.
    pub fn decode(view: &BatchView<'_>) -> Result<ControlMarker, BatchError> {
        if !view.header.is_control() {
            return Err(BatchError::Record("not a control batch"));
        }
        let record = view
            .records()
            .next()
            .ok_or(BatchError::Record("a control batch without its record"))?;
        let (Some(key), Some(value)) = (record.key(), record.value()) else {
            return Err(BatchError::Record("a control record without key or value"));
        };
        if key.len() != KEY_LEN
            || value.len() != VALUE_LEN
            || u16::from_le_bytes([key[0], key[1]]) != VERSION
            || u16::from_le_bytes([value[0], value[1]]) != VERSION
        {
            return Err(BatchError::Record("a control record of unknown layout"));
        }
        let kind = match u16::from_le_bytes([key[2], key[3]]) {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            _ => return Err(BatchError::Record("an unknown control record type")),
        };
        let coordinator_epoch = i32::from_le_bytes([value[2], value[3], value[4], value[5]]);
        Ok(ControlMarker {
            kind,
            coordinator_epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{check_batches, Records};

    fn marker(kind: ControlType) -> ControlMarker {
        ControlMarker {
            kind,
            coordinator_epoch: 7,
        }
    }

    #[test]
    fn a_marker_round_trips_through_its_control_batch() {
        for kind in [ControlType::Abort, ControlType::Commit] {
            let bytes = marker(kind).batch(42, 3, 1_000).into_bytes_at(10);
            let view = BatchView::parse(&bytes).unwrap();
            assert!(view.header.is_control() && view.header.is_transactional());
            assert_eq!(
                (view.header.producer_id, view.header.producer_epoch),
                (42, 3)
            );
            assert_eq!(view.header.base_sequence, -1);
            assert_eq!((view.header.base_offset, view.header.record_count), (10, 1));
            assert_eq!(ControlMarker::decode(&view).unwrap(), marker(kind));
        }
    }

    #[test]
    fn readers_skip_control_batches_but_their_offsets_count() {
        let mut data = Vec::new();
        let mut b = BatchBuilder::new(1 << 20, 64);
        b.push(&Record::new(b"a"), 1).unwrap();
        b.push(&Record::new(b"b"), 1).unwrap();
        data.extend(
            b.finish_with(
                ProducerFields {
                    producer_id: 42,
                    producer_epoch: 3,
                    base_sequence: 0,
                },
                ATTR_TRANSACTIONAL,
            )
            .into_bytes_at(0),
        );
        data.extend(marker(ControlType::Commit).batch(42, 3, 2).into_bytes_at(2));
        let checked = check_batches(&data, 0, u64::MAX);
        assert!(checked.bad.is_none());
        assert_eq!((checked.count, checked.next_offset), (2, 3));
        let records = Records::from_checked(data, 0, &checked);
        let seen: Vec<_> = records.iter().map(|r| (r.offset(), r.value())).collect();
        assert_eq!(seen, [(0, Some(&b"a"[..])), (1, Some(&b"b"[..]))]);
        assert_eq!(records.len(), 2);
        assert_eq!(records.next_offset(), 3, "past the marker");
    }

    #[test]
    fn malformed_control_batches_are_refused() {
        // A plain batch is not a marker.
        let mut b = BatchBuilder::new(1 << 20, 64);
        b.push(&Record::new(b"x"), 1).unwrap();
        let plain = b.finish(ProducerFields::NONE).into_bytes_at(0);
        assert!(ControlMarker::decode(&BatchView::parse(&plain).unwrap()).is_err());
        // Control without transactional, or transactional without a
        // producer, is a damaged header.
        let mut b = BatchBuilder::new(1 << 20, 64);
        b.push(&Record::new(b"x").key(b"k"), 1).unwrap();
        let bad = b.finish_with(ProducerFields::NONE, ATTR_TRANSACTIONAL);
        assert!(BatchView::parse(&bad.into_bytes_at(0)).is_err());
        let mut b = BatchBuilder::new(1 << 20, 64);
        b.push(&Record::new(b"x").key(b"k"), 1).unwrap();
        let fields = ProducerFields {
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: -1,
        };
        let bad = b.finish_with(fields, ATTR_CONTROL);
        assert!(BatchView::parse(&bad.into_bytes_at(0)).is_err());
        // A control batch whose record is not a marker of this version.
        let mut b = BatchBuilder::new(1 << 20, 64);
        b.push(
            &Record::new(&[0u8, 0, 0, 0, 0, 0][..]).key(&[0u8, 0, 9, 0][..]),
            1,
        )
        .unwrap();
        let unknown = b
            .finish_with(fields, ATTR_TRANSACTIONAL | ATTR_CONTROL)
            .into_bytes_at(0);
        let view = BatchView::parse(&unknown).unwrap();
        assert!(ControlMarker::decode(&view).is_err());
    }
}
