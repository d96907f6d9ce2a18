//! samsa's transactions (issue 16), measured against the same API without
//! them: a `Producer` with a transactional id sending 100-byte records,
//! 1,000 `send`s per transaction then `commit_transaction`, beside the
//! idempotent producer of the one-record-per-call append workload; and the
//! read-back log written that way, read by a `read_committed` consumer
//! beside a `read_uncommitted` one. The targets: both within 10%
//! of their baseline.
//!
//! What a transaction adds, and so what is timed: the first send to the
//! partition registers it with the coordinator (a `__transaction_state`
//! record), the commit waits for the transaction's batch (as `flush`
//! does, so a transaction is one batch of 1,000 records here where the
//! idempotent producer fills 1 MiB batches), then appends the decision
//! (`PrepareCommit`), the commit marker on the partition and
//! `CompleteCommit`. The state topic follows the workload's sync policy
//! (see [`Client::open`]): nothing is synced, as for every other
//! non-durable run.

use crate::append::Appender;
use crate::samsa_side::{Client, TOPIC};
use crate::{check, scratch};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use std::path::Path;

/// Records sent in each transaction (the figure).
pub const PER_TXN: usize = 1000;
/// The producer's transactional id.
pub const TRANSACTIONAL_ID: &str = "bench";

/// The default producer config with a transactional id (idempotent, as
/// the default is and transactions need).
pub fn producer_config() -> ProducerConfig {
    ProducerConfig::default().transactional_id(TRANSACTIONAL_ID)
}

/// A transactional producer sending one record per call, committing every
/// [`PER_TXN`] records.
pub struct Transactional {
    client: Client,
    /// Records sent in the open transaction (0: none open).
    open: usize,
}

impl Transactional {
    /// Opens a log in `dir` as [`Client::open`] does under `sync`, with a
    /// transactional producer, and calls `init_transactions` (once, as an
    /// application does at start; it is not part of what is timed).
    pub fn open(dir: &Path, sync: SyncPolicy, topic: TopicConfig) -> Transactional {
        let client = Client::open_with(dir, sync, topic, producer_config());
        client
            .producer
            .init_transactions()
            .expect("init_transactions");
        Transactional { client, open: 0 }
    }

    /// Commits the open transaction, if any.
    fn commit(&mut self) {
        if self.open > 0 {
            self.client
                .producer
                .commit_transaction()
                .expect("commit_transaction");
            self.open = 0;
        }
    }

    /// Closes the producer and the log (after committing what is open).
    pub fn close(mut self) {
        self.commit();
        self.client.producer.close().expect("close producer");
        self.client.log.close().expect("close samsa log");
    }
}

impl Appender for Transactional {
    type Batch<'v> = Vec<&'v [u8]>;

    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_> {
        values.iter().map(Vec::as_slice).collect()
    }

    fn append_batch(&mut self, batch: &Self::Batch<'_>) {
        for v in batch {
            self.append_one(v);
        }
    }

    fn append_one(&mut self, value: &[u8]) {
        if self.open == 0 {
            self.client
                .producer
                .begin_transaction()
                .expect("begin_transaction");
        }
        self.client.append_one(value);
        self.open += 1;
        if self.open == PER_TXN {
            self.commit();
        }
    }

    fn finish(&mut self) {
        // The last transaction's commit already waited for its records.
        self.commit();
    }
}

/// What [`write_log`] left on disk.
pub struct Written {
    /// Offsets used: the records and one commit marker per transaction.
    pub offsets: u64,
    /// Segment files of the partition.
    pub segments: u64,
}

/// Writes `total` records of `value_len` bytes (sequence numbers from 0,
/// as the other read-back logs) into a new log in `dir`, [`PER_TXN`] to a
/// committed transaction, nothing aborted, segments rolling at
/// `segment_bytes`; closes it cleanly.
pub fn write_log(dir: &Path, total: u64, value_len: usize, segment_bytes: u64) -> Written {
    let topic = TopicConfig::default()
        .sync(SyncPolicy::Os)
        .segment_bytes(segment_bytes);
    let mut t = Transactional::open(dir, SyncPolicy::Os, topic);
    let mut first = 0;
    while first < total {
        let n = (total - first).min(PER_TXN as u64) as usize;
        for v in check::batch(first, n, value_len) {
            t.append_one(&v);
        }
        t.commit();
        first += n as u64;
    }
    let p = t
        .client
        .log
        .topic(TOPIC)
        .expect("t")
        .partition(0)
        .expect("p0");
    let offsets = p.high_watermark();
    let segments = scratch::count_files(p.dir(), ".log");
    assert_eq!(
        offsets,
        total + total.div_ceil(PER_TXN as u64),
        "one commit marker per transaction"
    );
    t.close();
    Written { offsets, segments }
}
