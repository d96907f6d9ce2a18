//! Producer options, with Kafka's names and (where they fit an in-process
//! log) Kafka's defaults.

use crate::compression::{
    Compression, Levels, GZIP_DEFAULT_LEVEL, GZIP_LEVELS, ZSTD_DEFAULT_LEVEL, ZSTD_LEVELS,
};
use crate::error::{Error, Result};
use crate::partitioner::{DefaultPartitioner, Partitioner};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// When a send counts as delivered: Kafka's `acks`, mapped onto a log in
/// the same process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// Kafka's `acks=0`: delivered once the record is in the producer's
    /// buffer. [`Delivery::wait`](crate::producer::Delivery::wait) returns at once,
    /// with no offset; a crash before the batch is written loses it, and
    /// errors show only in [`Producer::flush`](crate::Producer::flush).
    None,
    /// Kafka's `acks=1` (the leader wrote it): delivered once the batch is
    /// written to the partition's log file, before any sync it is due. It
    /// survives the process being killed, not a power loss.
    Leader,
    /// Kafka's `acks=all` (every in-sync replica has it), the default:
    /// delivered once the partition's sync policy is met; under
    /// [`SyncPolicy::Always`](crate::partition::SyncPolicy::Always) the record is on
    /// disk and survives power loss.
    #[default]
    All,
}

/// Configuration of a [`Producer`](crate::Producer).
///
/// ```
/// use samsa_log::producer::{Acks, ProducerConfig, RoundRobinPartitioner};
/// use std::time::Duration;
///
/// let config = ProducerConfig::default()
///     .acks(Acks::Leader)
///     .linger(Duration::from_millis(2))
///     .partitioner(RoundRobinPartitioner::new());
/// assert_eq!(config.acks, Acks::Leader);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Chooses partitions for records that do not name one (default:
    /// [`DefaultPartitioner`], Kafka's).
    pub partitioner: Arc<dyn Partitioner>,
    /// When a send counts as delivered.
    pub acks: Acks,
    /// Idempotent appends (Kafka's `enable.idempotence`, default on): each
    /// batch carries this producer's id, epoch and a per-partition
    /// sequence, and the partition writes a retried batch only once.
    pub idempotence: bool,
    /// How long a batch may wait for more records before it is appended
    /// (Kafka's `linger.ms`, default 5 ms as in Kafka 4). With zero, a
    /// batch is appended as soon as the appender is free.
    pub linger: Duration,
    /// Append a batch once it holds this many bytes (Kafka's `batch.size`;
    /// default 1 MiB, since a batch costs a write and not a network round
    /// trip here). A commit waits for its transaction's batches to be
    /// written, including one just closed, so producers of transactions of
    /// many MiB commit sooner with smaller batches (256 KiB: about 0.87x
    /// the idempotent rate at 10,000 records of 100 B per transaction,
    /// against 0.62x at 1 MiB; `docs/PERFORMANCE.md`).
    pub batch_bytes: usize,
    /// How many bytes of keyless records go to one partition before the
    /// sticky partitioner moves to the next (default 16 KiB: Kafka's
    /// `batch.size` default, which is where Kafka's uniform sticky
    /// partitioner of KIP-794 moves on). It also moves on when its batch
    /// closes sooner (linger, flush, a delivery waited on). Apart from
    /// `batch_bytes` so that batches stay large while keyless records
    /// still spread over the partitions as they do in Kafka.
    pub sticky_partition_bytes: usize,
    /// Most bytes of records buffered and not yet appended (Kafka's
    /// `buffer.memory`, default 32 MiB).
    pub buffer_bytes: usize,
    /// How long `send` blocks while the buffer is full before it fails
    /// with [`Error::BufferFull`] (Kafka's `max.block.ms`, default 60 s).
    pub max_block: Duration,
    /// A stable producer id (`None`: a fresh random one per producer).
    pub producer_id: Option<i64>,
    /// How often a batch whose append failed with an I/O error is tried
    /// again (Kafka's `retries`, default 3 here), `retry_backoff` apart. The
    /// retry is the same batch with the same sequence, so with idempotence
    /// it cannot be written twice. A failed sync is not retried: its
    /// deliveries fail with the sync's error, and the partition recovers
    /// in-process (see `docs/RELIABILITY.md`).
    pub retries: u32,
    /// Pause before each retry (Kafka's `retry.backoff.ms`, default 100 ms).
    pub retry_backoff: Duration,
    /// Makes the producer transactional (Kafka's `transactional.id`):
    /// [`Producer::init_transactions`](crate::Producer::init_transactions)
    /// gives it the id's producer id and a new epoch, fencing any older
    /// producer of the id, and its records are sent inside transactions.
    /// Needs idempotence.
    pub transactional_id: Option<String>,
    /// A transaction open longer than this is aborted by the log, and its
    /// producer fenced (Kafka's `transaction.timeout.ms`, default 60 s), by
    /// the log's clock.
    pub transaction_timeout: Duration,
    /// The codec batches are compressed with (Kafka's producer
    /// `compression.type`, default [`Compression::None`]): on the
    /// producer's thread, before the log's lock. A topic whose
    /// `compression_type` names a codec stores its batches in that one
    /// instead (compressed once, by the producer). Needs the codec's
    /// cargo feature.
    pub compression: Compression,
    /// The gzip level (Kafka's `compression.gzip.level`, 1 to 9,
    /// default 6).
    pub compression_gzip_level: u32,
    /// The zstd level (Kafka's `compression.zstd.level`, 1 to 22,
    /// default 3).
    pub compression_zstd_level: u32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            partitioner: Arc::new(DefaultPartitioner),
            acks: Acks::All,
            idempotence: true,
            linger: Duration::from_millis(5),
            batch_bytes: 1 << 20,
            sticky_partition_bytes: 16 << 10,
            buffer_bytes: 32 << 20,
            max_block: Duration::from_secs(60),
            producer_id: None,
            retries: 3,
            retry_backoff: Duration::from_millis(100),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            compression: Compression::None,
            compression_gzip_level: GZIP_DEFAULT_LEVEL,
            compression_zstd_level: ZSTD_DEFAULT_LEVEL,
        }
    }
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("acks", &self.acks)
            .field("idempotence", &self.idempotence)
            .field("linger", &self.linger)
            .field("batch_bytes", &self.batch_bytes)
            .field("sticky_partition_bytes", &self.sticky_partition_bytes)
            .field("buffer_bytes", &self.buffer_bytes)
            .field("max_block", &self.max_block)
            .field("producer_id", &self.producer_id)
            .field("retries", &self.retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("transactional_id", &self.transactional_id)
            .field("transaction_timeout", &self.transaction_timeout)
            .field("compression", &self.compression)
            .field("compression_gzip_level", &self.compression_gzip_level)
            .field("compression_zstd_level", &self.compression_zstd_level)
            .finish_non_exhaustive()
    }
}

impl ProducerConfig {
    /// Sets [`Self::partitioner`].
    pub fn partitioner(mut self, partitioner: impl Partitioner + 'static) -> Self {
        self.partitioner = Arc::new(partitioner);
        self
    }

    /// Sets [`Self::acks`].
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// Sets [`Self::idempotence`].
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = on;
        self
    }

    /// Sets [`Self::linger`].
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets [`Self::batch_bytes`].
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Sets [`Self::sticky_partition_bytes`].
    pub fn sticky_partition_bytes(mut self, bytes: usize) -> Self {
        self.sticky_partition_bytes = bytes;
        self
    }

    /// Sets [`Self::buffer_bytes`].
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Sets [`Self::max_block`].
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// Sets [`Self::producer_id`].
    pub fn producer_id(mut self, id: i64) -> Self {
        self.producer_id = Some(id);
        self
    }

    /// Sets [`Self::retries`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`Self::retry_backoff`].
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Sets [`Self::transactional_id`].
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// Sets [`Self::transaction_timeout`].
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = timeout;
        self
    }

    /// Sets [`Self::compression`].
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// Sets [`Self::compression_gzip_level`].
    pub fn compression_gzip_level(mut self, level: u32) -> Self {
        self.compression_gzip_level = level;
        self
    }

    /// Sets [`Self::compression_zstd_level`].
    pub fn compression_zstd_level(mut self, level: u32) -> Self {
        self.compression_zstd_level = level;
        self
    }

    /// The codec levels it compresses at.
    pub(crate) fn levels(&self) -> Levels {
        Levels {
            gzip: self.compression_gzip_level,
            zstd: self.compression_zstd_level,
        }
    }

    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<()> {
        if self.transactional_id.is_some() && !self.idempotence {
            return Err(Error::InvalidConfig(
                "a transactional producer needs idempotence".into(),
            ));
        }
        if self.transactional_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::InvalidConfig(
                "transactional_id must not be empty".into(),
            ));
        }
        if self.batch_bytes == 0 || self.buffer_bytes < self.batch_bytes {
            return Err(Error::InvalidConfig(format!(
                "batch_bytes ({}) must be positive and at most buffer_bytes ({})",
                self.batch_bytes, self.buffer_bytes
            )));
        }
        if self.sticky_partition_bytes == 0 {
            return Err(Error::InvalidConfig(
                "sticky_partition_bytes must be positive".into(),
            ));
        }
        self.compression.check_available()?;
        for (name, level, range) in [
            (
                "compression_gzip_level",
                self.compression_gzip_level,
                GZIP_LEVELS,
            ),
            (
                "compression_zstd_level",
                self.compression_zstd_level,
                ZSTD_LEVELS,
            ),
        ] {
            if !range.contains(&level) {
                return Err(Error::InvalidConfig(format!(
                    "{name} must be in {range:?}, got {level}"
                )));
            }
        }
        if self.producer_id.is_some_and(|id| id < 0) {
            return Err(Error::InvalidConfig(
                "producer_id must not be negative".into(),
            ));
        }
        Ok(())
    }
}
