//! samsa through its public API: `Partition` for the raw workloads,
//! `Log` + `Producer` / `Consumer` for the end-to-end ones.

use crate::append::Appender;
use crate::check::Check;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Partition, Producer, Record};
use std::path::Path;
use std::time::Duration;

/// The topic of every end-to-end workload (one partition).
pub const TOPIC: &str = "t";
/// Bytes asked for by each read of the read-back workload.
pub const READ_BYTES: usize = 1 << 20;

/// A partition that never syncs on the append path (the non-durable runs).
pub fn os_config() -> PartitionConfig {
    PartitionConfig::default().sync(SyncPolicy::Os)
}

/// A partition that syncs every append before acknowledging it.
pub fn always_config() -> PartitionConfig {
    PartitionConfig::default().sync(SyncPolicy::Always)
}

impl Appender for Partition {
    type Batch<'v> = Vec<Record<'v>>;

    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_> {
        values.iter().map(Record::new).collect()
    }

    fn append_batch(&mut self, batch: &Self::Batch<'_>) {
        self.append(batch).expect("samsa append");
    }

    fn append_one(&mut self, value: &[u8]) {
        self.append(&[Record::new(value)]).expect("samsa append");
    }

    fn finish(&mut self) {
        // Every append is already written to the file.
    }
}

/// A log directory with one single-partition topic and a producer.
pub struct Client {
    /// The log; kept open as long as the producer.
    pub log: Log,
    /// The producer sending to [`TOPIC`].
    pub producer: Producer,
}

impl Client {
    /// Opens a log in `dir` with [`TOPIC`] under `sync`, and a producer.
    pub fn open(dir: &Path, sync: SyncPolicy, producer: ProducerConfig) -> Client {
        Client::open_with(dir, sync, TopicConfig::default().sync(sync), producer)
    }

    /// Opens a log in `dir` whose own topics (`__transaction_state`, the
    /// only one a workload writes, by a transactional producer) are under
    /// `sync` too, as the data is: the log's default, `Always`, would sync
    /// every transaction's state records in runs that sync nothing else.
    /// Creates [`TOPIC`] as `topic` says, and a producer.
    pub fn open_with(
        dir: &Path,
        sync: SyncPolicy,
        topic: TopicConfig,
        producer: ProducerConfig,
    ) -> Client {
        let log = Log::builder().sync(sync).open(dir).expect("open samsa log");
        log.create_topic(TOPIC, topic).expect("create topic");
        let producer = log.producer_with(producer).expect("producer");
        Client { log, producer }
    }
}

impl Appender for Client {
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
        let delivery = self
            .producer
            .send(TOPIC, Record::new(value))
            .expect("samsa send");
        std::hint::black_box(&delivery);
    }

    fn finish(&mut self) {
        self.producer.flush().expect("samsa producer flush");
    }
}

/// Reads `p` from its start to its high watermark in 1 MiB reads (every
/// batch's CRC is checked by `read`), checking every value.
pub fn read_partition(p: &Partition) -> Check {
    let end = p.high_watermark();
    let mut at = p.log_start_offset();
    let mut check = Check::default();
    while at < end {
        let records = p.read(at, READ_BYTES).expect("samsa read");
        for r in &records {
            check.add(r.value().unwrap_or_default());
        }
        at = records.next_offset();
    }
    check
}

/// Reads partition 0 of [`TOPIC`] whole through a fresh consumer at
/// `isolation` (assigned, from the earliest offset, up to 100,000 records a
/// poll). Stops after `total` records: a log written in transactions has
/// markers at offsets of their own, which no consumer returns.
pub fn read_consumer(log: &Log, total: u64, isolation: IsolationLevel) -> Check {
    let mut consumer = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .isolation_level(isolation)
                .max_poll_records(100_000),
        )
        .expect("consumer");
    consumer.assign(&[(TOPIC, 0)]).expect("assign");
    let mut check = Check::default();
    while check.count < total {
        let records = consumer.poll(Duration::from_secs(5)).expect("poll");
        assert!(
            !records.is_empty(),
            "poll timed out at {} of {total}",
            check.count
        );
        for r in &records {
            check.add(r.value().unwrap_or_default());
        }
    }
    check
}
