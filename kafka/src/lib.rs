//! samsa's client traits ([`samsa_log::client`]) over a Kafka cluster,
//! through [rdkafka](https://docs.rs/rdkafka) (librdkafka).
//!
//! An application written against [`ProducerClient`], [`ConsumerClient`]
//! and [`AdminClient`] runs on samsa's own `Producer`, `Consumer` and `Log`
//! and, with this crate, on Kafka: only the constructors change.
//!
//! ```no_run
//! use samsa_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
//! use samsa_log::client::{AdminClient, ProducerClient, PendingDelivery};
//! use samsa_log::consumer::ConsumerConfig;
//! use samsa_log::producer::ProducerConfig;
//! use samsa_log::Record;
//!
//! # fn main() -> samsa_log::Result<()> {
//! let kafka = KafkaConfig::new("localhost:9092");
//! KafkaAdmin::new(&kafka)?.create_topic("orders", 3)?;
//! let producer = KafkaProducer::new(&kafka, &ProducerConfig::default())?;
//! producer.send("orders", Record::new("o-1").key("k"))?.wait()?;
//! let consumer = KafkaConsumer::new(&kafka, &ConsumerConfig::new("billing"))?;
//! # drop(consumer);
//! # Ok(())
//! # }
//! ```
//!
//! samsa's settings map to Kafka's (`config`): acks, linger, idempotence,
//! batch size, compression and transactional id for producers; group id,
//! auto commit and its interval, auto offset reset, isolation level,
//! assignors, session and poll timeouts, `max_poll_records` for
//! consumers. Errors are samsa's [`Error`](samsa_log::Error): a Kafka
//! failure with a samsa counterpart comes as that variant, the rest as
//! `Error::Kafka` naming the operation and its target.

mod admin;
mod checkpoint;
mod config;
mod consumer;
mod error;
mod producer;
mod runtime;
mod transfer;
mod worker;

pub use admin::KafkaAdmin;
pub use config::KafkaConfig;
pub use consumer::KafkaConsumer;
pub use producer::{KafkaDelivery, KafkaProducer};
pub use transfer::{
    copy_topic, export_topic, import_topic, TransferPlan, TransferProgress, TransferReport,
};

pub use samsa_log::client::{
    AdminClient, AsyncConsumerClient, AsyncProducerClient, ConsumerClient, PartitionListener,
    PendingDelivery, ProducerClient, TransactionalProducerClient,
};
