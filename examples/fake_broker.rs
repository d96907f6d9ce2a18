//! `Log::in_memory()` as a fake Kafka broker in unit tests.
//!
//! The code under test produces order events keyed by customer, as it
//! would to Kafka. The test gives it an in-memory log instead of a broker:
//! same topics, same partitioning (Kafka's murmur2 on the key), same
//! offsets, no network, no files, ready in microseconds.
//!
//! Run with `cargo run --example fake_broker`; the same code sits in a
//! `#[test]` in a real project.

use samsa_log::producer::kafka_partition_for_key;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Producer, Record};

/// The code under test: publishes one event per order line.
struct OrderService {
    producer: Producer,
}

impl OrderService {
    fn place_order(&self, customer: &str, items: &[&str]) -> samsa_log::Result<()> {
        for item in items {
            let event = format!("{{\"customer\":\"{customer}\",\"item\":\"{item}\"}}");
            // The delivery handles are not kept: flush() below reports any
            // failure.
            let _delivery = self
                .producer
                .send("orders", Record::new(&event).key(customer))?;
        }
        // Wait until everything is in the log, as a caller of Kafka's
        // producer.flush() would.
        self.producer.flush()
    }
}

fn main() -> samsa_log::Result<()> {
    // Test setup: a fake broker with the topic the service expects.
    let broker = Log::in_memory();
    broker.create_topic("orders", TopicConfig::default().partitions(6))?;
    let service = OrderService {
        producer: broker.producer(),
    };

    service.place_order("alice", &["book", "lamp"])?;
    service.place_order("bob", &["pen"])?;

    // Assertions, as a test would make them: alice's events are together,
    // in order, on the partition Kafka would choose for her key.
    let orders = broker.topic("orders")?;
    let alice = kafka_partition_for_key(b"alice", 6);
    let records = orders.partition(alice)?.read(0, 1 << 20)?;
    let events: Vec<String> = records
        .iter()
        .filter(|r| r.key() == Some(&b"alice"[..]))
        .map(|r| String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(
        events,
        [
            r#"{"customer":"alice","item":"book"}"#,
            r#"{"customer":"alice","item":"lamp"}"#
        ]
    );
    let total: u64 = orders.partitions().iter().map(|p| p.high_watermark()).sum();
    assert_eq!(total, 3);
    println!("alice's orders went to partition {alice}: {events:?}");
    println!(
        "3 events in total across {} partitions",
        orders.partition_count()
    );
    Ok(())
}
