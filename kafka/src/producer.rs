//! [`ProducerClient`], [`AsyncProducerClient`] and
//! [`TransactionalProducerClient`] over rdkafka's `FutureProducer`.

use crate::config::{self, KafkaConfig};
use crate::consumer::KafkaConsumer;
use crate::error::{self, Context};
use crate::runtime::Shared;
use crate::worker::Worker;
use futures_channel::oneshot;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders, Timestamp};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset as KOffset, TopicPartitionList};
use samsa_log::client::{
    AsyncProducerClient, PendingDelivery, ProducerClient, TransactionalProducerClient,
};
use samsa_log::producer::{ProducerConfig, RecordMetadata};
use samsa_log::{Record, Result};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a transaction call (init, offsets, commit, abort) waits for
/// the cluster before it fails; a commit that timed out may be called
/// again.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The rdkafka producer behind a [`KafkaProducer`].
type Inner = FutureProducer<DefaultClientContext, Shared>;

/// Where the outcome of a flush asked of the flush thread goes.
type FlushJob = oneshot::Sender<Result<()>>;

/// A Kafka producer behind [`ProducerClient`], [`AsyncProducerClient`]
/// and, with a transactional id, [`TransactionalProducerClient`].
///
/// Besides librdkafka's own threads, it takes a thread of its own only for
/// [`AsyncProducerClient::flush_async`] (on first use, ending with the
/// producer), since librdkafka's flush blocks: however many flushes are
/// awaited at once, that one thread runs them, one flush answering every
/// flush asked for before it started.
pub struct KafkaProducer {
    inner: Inner,
    /// How long `send` waits for room in a full queue (`max_block`).
    max_block: Duration,
    servers: String,
    /// The transactional id, for the errors of transaction calls.
    transactional_id: Option<String>,
    /// The flush thread, started by the first `flush_async`.
    flushes: Worker<FlushJob>,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("bootstrap_servers", &self.servers)
            .finish()
    }
}

impl KafkaProducer {
    /// A producer to `kafka` with samsa's `config` mapped to Kafka's.
    pub fn new(kafka: &KafkaConfig, config: &ProducerConfig) -> Result<Self> {
        let inner: Inner = kafka
            .client(&config::producer(config))
            .create()
            .context("create producer", &kafka.bootstrap_servers)?;
        Ok(KafkaProducer {
            inner,
            max_block: config.max_block,
            servers: kafka.bootstrap_servers.clone(),
            transactional_id: config.transactional_id.clone(),
            flushes: Worker::new("samsa-kafka-flush"),
        })
    }

    /// Hands a flush to the flush thread (started on first use, and again
    /// if it ended); the receiver gets the outcome.
    fn start_flush(&self) -> Result<oneshot::Receiver<Result<()>>> {
        let (done, outcome) = oneshot::channel();
        let inner = self.inner.clone();
        let servers = self.servers.clone();
        self.flushes
            .submit(done, move |jobs| {
                // Ends when the producer is dropped (the queue closes).
                while let Ok(first) = jobs.recv() {
                    // A flush delivers what was sent before it started, so
                    // it answers every flush asked for by then.
                    let waiting: Vec<FlushJob> =
                        std::iter::once(first).chain(jobs.try_iter()).collect();
                    let flushed = inner
                        .flush(Duration::from_secs(60))
                        .context("flush", &servers);
                    for done in waiting {
                        let _ = done.send(flushed.clone());
                    }
                }
            })
            .map_err(|e| error::kafka("flush", &self.servers, format!("no flush thread: {e}")))?;
        Ok(outcome)
    }

    /// The rdkafka producer, for what the traits do not cover.
    pub fn inner(
        &self,
    ) -> &FutureProducer<impl rdkafka::ClientContext, impl rdkafka::util::AsyncRuntime> {
        &self.inner
    }

    /// A transaction call's outcome, with samsa's errors where samsa has
    /// them: fencing as
    /// [`Error::ProducerFenced`](samsa_log::Error::ProducerFenced) (with
    /// Kafka's "no id" `-1` for the ids the client does not report), a call
    /// out of order or a transaction that can only be aborted as
    /// [`Error::TransactionState`](samsa_log::Error::TransactionState).
    fn transaction(
        &self,
        operation: &'static str,
        r: rdkafka::error::KafkaResult<()>,
    ) -> Result<()> {
        let state = |reason| samsa_log::Error::TransactionState {
            transactional_id: self.transactional_id.clone().unwrap_or_default(),
            reason,
        };
        r.map_err(|e| match (&e, e.rdkafka_error_code()) {
            (
                _,
                Some(
                    RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::Fenced,
                ),
            ) => samsa_log::Error::ProducerFenced {
                producer_id: -1,
                epoch: -1,
                current_epoch: -1,
            },
            (KafkaError::Transaction(t), _) if t.txn_requires_abort() => {
                state("a send of the transaction failed: call abort_transaction")
            }
            (_, Some(RDKafkaErrorCode::State)) => {
                state("the call does not fit the transaction's state")
            }
            _ => error::from_kafka(operation, &self.servers, e),
        })
    }
}

/// `record` as rdkafka sends it to `topic`.
fn future_record<'a>(topic: &'a str, record: &'a Record<'_>) -> FutureRecord<'a, [u8], [u8]> {
    let mut headers = OwnedHeaders::new();
    for h in record.header_list() {
        headers = headers.insert(Header {
            key: h.key,
            value: h.value,
        });
    }
    let mut r: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(k) = record.key_bytes() {
        r = r.key(k);
    }
    if let Some(v) = record.value_bytes() {
        r = r.payload(v);
    }
    if let Some(p) = record.partition_number() {
        r = r.partition(i32::try_from(p).unwrap_or(i32::MAX));
    }
    if let Some(ts) = record.timestamp_ms() {
        r = r.timestamp(ts);
    }
    r
}

/// Where Kafka says a record landed.
fn metadata(topic: Arc<str>, d: &rdkafka::producer::future_producer::Delivery) -> RecordMetadata {
    RecordMetadata {
        topic,
        partition: u32::try_from(d.partition).unwrap_or_default(),
        offset: u64::try_from(d.offset).unwrap_or(RecordMetadata::NO_OFFSET),
        timestamp: match d.timestamp {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            Timestamp::NotAvailable => -1,
        },
    }
}

/// A record's delivery by Kafka.
pub struct KafkaDelivery {
    future: DeliveryFuture,
    topic: Arc<str>,
}

impl std::fmt::Debug for KafkaDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaDelivery")
            .field("topic", &self.topic)
            .finish()
    }
}

impl ProducerClient for KafkaProducer {
    type Delivery = KafkaDelivery;

    fn send(&self, topic: &str, record: Record<'_>) -> Result<KafkaDelivery> {
        let mut r = future_record(topic, &record);
        let deadline = Instant::now() + self.max_block;
        loop {
            match self.inner.send_result(r) {
                Ok(future) => {
                    return Ok(KafkaDelivery {
                        future,
                        topic: topic.into(),
                    })
                }
                // A full queue: wait for room, as samsa's `send` does, up
                // to `max_block`.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    self.inner.poll(Duration::from_millis(1));
                    r = back;
                }
                Err((e, _)) => return Err(error::from_kafka("send", topic, e)),
            }
        }
    }

    fn flush(&self) -> Result<()> {
        self.inner
            .flush(Duration::from_secs(60))
            .context("flush", &self.servers)
    }
}

impl PendingDelivery for KafkaDelivery {
    fn wait(self) -> Result<RecordMetadata> {
        let topic = self.topic;
        match crate::runtime::block_on(self.future) {
            Ok(Ok(d)) => Ok(metadata(topic, &d)),
            Ok(Err((e, _))) => Err(error::from_kafka("send", &topic, e)),
            Err(_) => Err(error::kafka(
                "send",
                &topic,
                "the producer was dropped before the delivery was reported",
            )),
        }
    }
}

impl AsyncProducerClient for KafkaProducer {
    async fn deliver<'a>(&'a self, topic: &'a str, record: Record<'a>) -> Result<RecordMetadata> {
        // rdkafka's own async send: it waits for room in a full queue (up
        // to `max_block`) and for the delivery without blocking.
        let r = future_record(topic, &record);
        match self.inner.send(r, self.max_block).await {
            Ok(d) => Ok(metadata(topic.into(), &d)),
            Err((e, _)) => Err(error::from_kafka("send", topic, e)),
        }
    }

    fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + '_ {
        // rdkafka's flush blocks: it runs on the producer's flush thread,
        // and the future waits for that thread's answer.
        let started = self.start_flush();
        async move {
            started?.await.unwrap_or_else(|_| {
                Err(error::kafka(
                    "flush",
                    &self.servers,
                    "the flush thread ended",
                ))
            })
        }
    }
}

impl TransactionalProducerClient for KafkaProducer {
    type Consumer = KafkaConsumer;

    fn init_transactions(&self) -> Result<()> {
        self.transaction(
            "init_transactions",
            self.inner.init_transactions(TRANSACTION_TIMEOUT),
        )
    }

    fn begin_transaction(&self) -> Result<()> {
        self.transaction("begin_transaction", self.inner.begin_transaction())
    }

    fn send_offsets_to_transaction(
        &self,
        offsets: &[(&str, u32, u64)],
        consumer: &KafkaConsumer,
    ) -> Result<()> {
        let group = consumer.group_metadata().ok_or_else(|| {
            error::kafka(
                "send_offsets_to_transaction",
                &self.servers,
                "the consumer has no group",
            )
        })?;
        let mut tpl = TopicPartitionList::new();
        for &(t, p, o) in offsets {
            tpl.add_partition_offset(t, p as i32, KOffset::Offset(o as i64))
                .context("send_offsets_to_transaction", t)?;
        }
        self.transaction(
            "send_offsets_to_transaction",
            self.inner
                .send_offsets_to_transaction(&tpl, &group, TRANSACTION_TIMEOUT),
        )
    }

    fn commit_transaction(&self) -> Result<()> {
        self.transaction(
            "commit_transaction",
            self.inner.commit_transaction(TRANSACTION_TIMEOUT),
        )
    }

    fn abort_transaction(&self) -> Result<()> {
        self.transaction(
            "abort_transaction",
            self.inner.abort_transaction(TRANSACTION_TIMEOUT),
        )
    }
}
