//! One pipeline, written once against samsa's client traits, run on samsa
//! and on Kafka: only the constructors change.
//!
//! The pipeline reads words, writes them upper-cased to another topic and
//! commits its input offsets in the same transaction (exactly once).
//!
//! ```sh
//! # samsa in memory, then librdkafka's mock cluster (in process):
//! cargo run -p samsa-kafka --example one_interface
//! # a Kafka cluster of your own (its topics `words` and `upper` are
//! # created if missing):
//! cargo run -p samsa-kafka --example one_interface -- broker-1:9092
//! ```

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use samsa_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
use samsa_log::client::{
    AdminClient, ConsumerClient, PendingDelivery, TransactionalProducerClient,
};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::producer::ProducerConfig;
use samsa_log::{Error, Log, Record, Result};
use std::time::{Duration, Instant};

const WORDS: [&str; 5] = ["to", "be", "or", "not", "to"];

/// The application: written once, for samsa or Kafka alike. Upper-cases
/// `count` words of `words` into `upper`, each batch polled in one
/// transaction with the input offsets it consumed.
fn uppercase<P: TransactionalProducerClient>(
    producer: &P,
    consumer: &mut P::Consumer,
    count: usize,
) -> Result<()> {
    producer.init_transactions()?;
    consumer.subscribe(&["words"])?;
    let (mut done, start) = (0, Instant::now());
    while done < count && start.elapsed() < Duration::from_secs(60) {
        let records = consumer.poll(Duration::from_millis(200))?;
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction()?;
        let mut next = Vec::new();
        for r in &records {
            let upper = r.value.as_deref().unwrap_or_default().to_ascii_uppercase();
            producer.send("upper", Record::new(&upper[..]))?;
            next.push((r.topic.as_str(), r.partition, r.offset + 1));
        }
        producer.send_offsets_to_transaction(&next, consumer)?;
        producer.commit_transaction()?;
        done += records.len();
    }
    Ok(())
}

/// Reads `count` values of `topic` as a `read_committed` consumer does.
fn read(consumer: &mut impl ConsumerClient, topic: &str, count: usize) -> Result<Vec<String>> {
    consumer.assign(&[(topic, 0)])?;
    let (mut out, start) = (Vec::new(), Instant::now());
    while out.len() < count && start.elapsed() < Duration::from_secs(60) {
        for r in consumer.poll(Duration::from_millis(200))? {
            out.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    Ok(out)
}

/// Sends the words, runs the pipeline and reads its output, on one back
/// end: `producer(config)` and `consumer(config)` are its constructors.
fn run<P: TransactionalProducerClient>(
    name: &str,
    producer: impl Fn(ProducerConfig) -> Result<P>,
    consumer: impl Fn(ConsumerConfig) -> Result<P::Consumer>,
) -> Result<()> {
    let plain = producer(ProducerConfig::default())?;
    for w in WORDS {
        plain.send("words", Record::new(w))?.wait()?;
    }
    let config = |group: &str| {
        ConsumerConfig::new(group)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .isolation_level(IsolationLevel::ReadCommitted)
    };
    uppercase(
        &producer(ProducerConfig::default().transactional_id("uppercase"))?,
        &mut consumer(config("uppercase"))?,
        WORDS.len(),
    )?;
    let out = read(&mut consumer(config("reader"))?, "upper", WORDS.len())?;
    println!("{name}: {}", out.join(" "));
    let want: Vec<String> = WORDS.iter().map(|w| w.to_uppercase()).collect();
    assert_eq!(out, want, "{name}");
    Ok(())
}

/// Creates the example's topics, one partition each; an existing one is
/// kept.
fn create_topics(admin: &impl AdminClient) -> Result<()> {
    for topic in ["words", "upper"] {
        match admin.create_topic(topic, 1) {
            Ok(()) | Err(Error::TopicExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    if let Some(servers) = std::env::args().nth(1) {
        let kafka = KafkaConfig::new(servers);
        create_topics(&KafkaAdmin::new(&kafka)?)?;
        return run(
            "Kafka",
            |c| KafkaProducer::new(&kafka, &c),
            |c| KafkaConsumer::new(&kafka, &c),
        );
    }

    // samsa, in process.
    let log = Log::in_memory();
    create_topics(&log)?;
    run("samsa", |c| log.producer_with(c), |c| log.consumer(c))?;

    // A Kafka-protocol broker, in process: librdkafka's mock cluster (its
    // topics are made through the mock's own call, as it does not
    // implement CreateTopics).
    let mock = |operation, target: &str, e: rdkafka::error::KafkaError| Error::Kafka {
        operation,
        target: target.to_owned(),
        reason: e.to_string(),
    };
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).map_err(|e| mock("start mock cluster", "", e))?;
    for topic in ["words", "upper"] {
        cluster
            .create_topic(topic, 1, 1)
            .map_err(|e| mock("create_topic", topic, e))?;
    }
    let kafka = KafkaConfig::new(cluster.bootstrap_servers());
    run(
        "Kafka (mock cluster)",
        |c| KafkaProducer::new(&kafka, &c),
        |c| KafkaConsumer::new(&kafka, &c),
    )
}
