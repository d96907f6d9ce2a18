//! [`ProducerClient`] over rdkafka's `FutureProducer`.

use crate::config::{self, KafkaConfig};
use crate::error::{self, Context};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders, Timestamp};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use samsa_log::client::{AsyncProducerClient, PendingDelivery, ProducerClient};
use samsa_log::producer::{ProducerConfig, RecordMetadata};
use samsa_log::{Record, Result};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Kafka producer behind [`ProducerClient`].
pub struct KafkaProducer {
    inner: FutureProducer,
    /// How long `send` waits for room in a full queue (`max_block`).
    max_block: Duration,
    servers: String,
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
        let inner: FutureProducer = kafka
            .client(&config::producer(config))
            .create()
            .context("create producer", &kafka.bootstrap_servers)?;
        Ok(KafkaProducer {
            inner,
            max_block: config.max_block,
            servers: kafka.bootstrap_servers.clone(),
        })
    }

    /// The rdkafka producer, for what the traits do not cover
    /// (transactions among them).
    pub fn inner(&self) -> &FutureProducer {
        &self.inner
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
        match futures_executor::block_on(self.future) {
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
        // rdkafka's flush blocks: it runs on a thread of its own, and the
        // future waits for that thread's answer.
        let (tx, rx) = futures_channel::oneshot::channel();
        let inner = self.inner.clone();
        let servers = self.servers.clone();
        let spawned = std::thread::Builder::new()
            .name("samsa-kafka-flush".into())
            .spawn(move || {
                let _ = tx.send(
                    inner
                        .flush(Duration::from_secs(60))
                        .context("flush", &servers),
                );
            });
        async move {
            spawned.map_err(|e| error::kafka("flush", "", e.to_string()))?;
            rx.await
                .map_err(|_| error::kafka("flush", "", "the flush thread stopped"))?
        }
    }
}
