//! A transactional id's state, as the transaction coordinator keeps it in
//! the internal topic `__transaction_state` (Kafka's transaction log):
//! one record per change, keyed by the transactional id; the latest wins.
//!
//! Record layout (little-endian), version 0:
//!
//! ```text
//! key:   version u16 | transactional id (UTF-8, the rest of the key)
//! value: version u16 | producer_id i64 | epoch i16 | state u8
//!        | timeout_ms u64 | started_ms i64
//!        | partitions u32, each: topic_len u16 | topic | partition u32
//!        | offsets u32, each: group_len u16 | group | topic_len u16 | topic
//!                            | partition u32 | offset u64
//!                            | metadata_len u32 | metadata
//! ```
//!
//! `PrepareCommit` is the commit decision: once it is durable, the
//! transaction commits, whatever happens next (recovery finishes it).

use byteorder::{ByteOrder, LittleEndian as LE};

/// The internal topic holding transaction state.
pub(crate) const TOPIC: &str = "__transaction_state";

const VERSION: u16 = 0;

/// Where a transactional id's current transaction stands (Kafka's
/// `TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// No transaction open.
    Empty,
    /// A transaction is open, on these partitions.
    Ongoing,
    /// Committing: decided, markers being written.
    PrepareCommit,
    /// Aborting: markers being written.
    PrepareAbort,
    /// Committed: every marker written, offsets applied.
    CompleteCommit,
    /// Aborted: every marker written.
    CompleteAbort,
}

impl TxnState {
    fn code(self) -> u8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
        }
    }

    fn of(code: u8) -> Option<TxnState> {
        Some(match code {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            _ => return None,
        })
    }
}

/// An offset commit made inside a transaction: applied if and only if it
/// commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnOffset {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub metadata: String,
}

/// What the coordinator keeps for one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnMeta {
    pub producer_id: i64,
    pub epoch: i16,
    pub state: TxnState,
    /// `transaction_timeout`: an open transaction older than this is
    /// aborted by the log.
    pub timeout_ms: u64,
    /// When the open transaction began (log clock, ms).
    pub started_ms: i64,
    /// The partitions the open transaction wrote to (or was about to).
    pub partitions: Vec<(String, u32)>,
    /// Offsets to commit with it.
    pub offsets: Vec<TxnOffset>,
}

/// The record key of `transactional_id`.
pub(crate) fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + transactional_id.len());
    k.extend_from_slice(&VERSION.to_le_bytes());
    k.extend_from_slice(transactional_id.as_bytes());
    k
}

/// The transactional id of a record key; `None` if it is not one.
pub(crate) fn decode_key(b: &[u8]) -> Option<String> {
    let (version, id) = (b.get(..2)?, b.get(2..)?);
    if LE::read_u16(version) != VERSION {
        return None;
    }
    String::from_utf8(id.to_vec()).ok()
}

fn put_str16(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u16).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
}

/// The record value of `meta`.
pub(crate) fn encode_value(meta: &TxnMeta) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&meta.producer_id.to_le_bytes());
    v.extend_from_slice(&meta.epoch.to_le_bytes());
    v.push(meta.state.code());
    v.extend_from_slice(&meta.timeout_ms.to_le_bytes());
    v.extend_from_slice(&meta.started_ms.to_le_bytes());
    v.extend_from_slice(&(meta.partitions.len() as u32).to_le_bytes());
    for (topic, partition) in &meta.partitions {
        put_str16(&mut v, topic);
        v.extend_from_slice(&partition.to_le_bytes());
    }
    v.extend_from_slice(&(meta.offsets.len() as u32).to_le_bytes());
    for o in &meta.offsets {
        put_str16(&mut v, &o.group);
        put_str16(&mut v, &o.topic);
        v.extend_from_slice(&o.partition.to_le_bytes());
        v.extend_from_slice(&o.offset.to_le_bytes());
        v.extend_from_slice(&(o.metadata.len() as u32).to_le_bytes());
        v.extend_from_slice(o.metadata.as_bytes());
    }
    v
}

/// Reads fields off the front of a value, checking every length against
/// the bytes present before using it.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(LE::read_u16)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(LE::read_u32)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(LE::read_u64)
    }

    fn str(&mut self, len: usize) -> Option<String> {
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// The state in a record value; `None` if it is not one this version
/// reads.
pub(crate) fn decode_value(b: &[u8]) -> Option<TxnMeta> {
    let mut r = Reader(b);
    if r.u16()? != VERSION {
        return None;
    }
    let producer_id = r.u64()? as i64;
    let epoch = r.u16()? as i16;
    let state = TxnState::of(r.take(1)?[0])?;
    let timeout_ms = r.u64()?;
    let started_ms = r.u64()? as i64;
    let n = r.u32()? as usize;
    // Each entry takes 6 bytes at least: a count larger than the bytes
    // left is damage, and allocates nothing.
    if n > r.0.len() / 6 {
        return None;
    }
    let mut partitions = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(r.u16()?);
        let topic = r.str(len)?;
        partitions.push((topic, r.u32()?));
    }
    let n = r.u32()? as usize;
    if n > r.0.len() / 20 {
        return None;
    }
    let mut offsets = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(r.u16()?);
        let group = r.str(len)?;
        let len = usize::from(r.u16()?);
        let topic = r.str(len)?;
        let partition = r.u32()?;
        let offset = r.u64()?;
        let len = r.u32()? as usize;
        let metadata = r.str(len)?;
        offsets.push(TxnOffset {
            group,
            topic,
            partition,
            offset,
            metadata,
        });
    }
    (r.0.is_empty() && producer_id >= 0).then_some(TxnMeta {
        producer_id,
        epoch,
        state,
        timeout_ms,
        started_ms,
        partitions,
        offsets,
    })
}

/// A state with partitions and offsets, for tests.
#[cfg(test)]
pub(crate) fn sample() -> TxnMeta {
    TxnMeta {
        producer_id: 42,
        epoch: 3,
        state: TxnState::PrepareCommit,
        timeout_ms: 60_000,
        started_ms: 1_700_000_000_000,
        partitions: vec![("orders".into(), 0), ("totals".into(), 7)],
        offsets: vec![TxnOffset {
            group: "billing".into(),
            topic: "orders".into(),
            partition: 0,
            offset: 1234,
            metadata: "note".into(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        assert_eq!(decode_key(&encode_key("tx-1")).as_deref(), Some("tx-1"));
        assert_eq!(decode_key(&[1, 0, b'x']), None, "another version");
        let meta = sample();
        assert_eq!(decode_value(&encode_value(&meta)), Some(meta));
        for state in [
            TxnState::Empty,
            TxnState::Ongoing,
            TxnState::PrepareAbort,
            TxnState::CompleteCommit,
            TxnState::CompleteAbort,
        ] {
            let meta = TxnMeta {
                state,
                partitions: Vec::new(),
                offsets: Vec::new(),
                ..sample()
            };
            assert_eq!(decode_value(&encode_value(&meta)), Some(meta));
        }
    }

    #[test]
    fn damaged_values_are_refused_without_allocating_from_them() {
        let bytes = encode_value(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(decode_value(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_value(&longer), None, "bytes left over");
        // A partition count of u32::MAX allocates nothing.
        let mut huge = bytes.clone();
        huge[29..33].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_value(&huge), None);
        let mut state = bytes;
        state[12] = 9;
        assert_eq!(decode_value(&state), None, "unknown state");
    }
}
