//! The back ends the fidelity suite runs on.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaRespErr;
use samsa_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
use samsa_log::client::{
    AdminClient, AsyncConsumerClient, AsyncProducerClient, ConsumerClient, ProducerClient,
    TransactionalProducerClient,
};
use samsa_log::consumer::{Consumer, ConsumerConfig};
use samsa_log::producer::{Producer, ProducerConfig};
use samsa_log::Log;
use std::time::Duration;

/// One back end: how to make its producers, consumers and admin.
pub trait Backend {
    type P: ProducerClient
        + AsyncProducerClient
        + TransactionalProducerClient<Consumer = Self::C>
        + Sync;
    type C: ConsumerClient + AsyncConsumerClient;
    type A: AdminClient;
    fn name(&self) -> &'static str;
    fn producer(&self, config: ProducerConfig) -> Self::P;
    fn consumer(&self, config: ConsumerConfig) -> Self::C;
    fn admin(&self) -> &Self::A;
    /// Makes the next produce requests fail transiently, where the back
    /// end can (a broker); samsa has no network to fail.
    fn disturb_produce(&self) {}
}

/// samsa, in memory or on disk.
pub struct Samsa {
    log: Log,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Samsa {
    pub fn in_memory() -> Self {
        Samsa {
            log: Log::in_memory(),
            name: "samsa in memory",
            _dir: None,
        }
    }

    pub fn on_disk() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Samsa {
            log: Log::open(dir.path()).expect("open"),
            name: "samsa on disk",
            _dir: Some(dir),
        }
    }
}

impl Backend for Samsa {
    type P = Producer;
    type C = Consumer;
    type A = Log;
    fn name(&self) -> &'static str {
        self.name
    }
    fn producer(&self, config: ProducerConfig) -> Producer {
        self.log.producer_with(config).expect("producer")
    }
    fn consumer(&self, config: ConsumerConfig) -> Consumer {
        self.log.consumer(config).expect("consumer")
    }
    fn admin(&self) -> &Log {
        &self.log
    }
}

/// librdkafka's mock cluster: the Kafka protocol, in process, on
/// loopback, three brokers.
pub struct MockKafka {
    admin: KafkaAdmin,
    kafka: KafkaConfig,
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockKafka {
    pub fn new() -> Self {
        let cluster = MockCluster::new(3).expect("mock cluster");
        let kafka = KafkaConfig::new(cluster.bootstrap_servers())
            // The tests' groups form in well under a second.
            .set("topic.metadata.refresh.interval.ms", "500");
        // librdkafka's own debug contexts, to see what a failing case did.
        let kafka = match std::env::var("SAMSA_KAFKA_DEBUG") {
            Ok(contexts) => kafka.set("debug", contexts),
            Err(_) => kafka,
        };
        MockKafka {
            admin: KafkaAdmin::new(&kafka).expect("admin"),
            kafka,
            cluster,
        }
    }
}

/// The mock cluster does not implement the CreateTopics request
/// (librdkafka's `rdkafka_mock.c` answers only what its clients' tests
/// need): topics are created through the mock's own call, everything else
/// goes through [`KafkaAdmin`] as against a real cluster.
impl AdminClient for MockKafka {
    fn create_topic(&self, topic: &str, partitions: u32) -> samsa_log::Result<()> {
        if self.admin.partition_count(topic).is_ok() {
            return Err(samsa_log::Error::TopicExists {
                name: topic.to_owned(),
            });
        }
        self.cluster
            .create_topic(topic, partitions as i32, 1)
            .map_err(|e| samsa_log::Error::Kafka {
                operation: "create_topic",
                target: topic.to_owned(),
                reason: e.to_string(),
            })
    }
    fn list_topics(&self) -> samsa_log::Result<Vec<String>> {
        self.admin.list_topics()
    }
    fn partition_count(&self, topic: &str) -> samsa_log::Result<u32> {
        self.admin.partition_count(topic)
    }
    fn group_offsets(&self, group: &str) -> samsa_log::Result<Vec<(String, u32, u64)>> {
        self.admin.group_offsets(group)
    }
    fn group_lag(&self, group: &str) -> samsa_log::Result<Vec<samsa_log::group::PartitionLag>> {
        self.admin.group_lag(group)
    }
    fn end_offsets(&self, topic: &str) -> samsa_log::Result<Vec<u64>> {
        self.admin.end_offsets(topic)
    }
    fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(&str, u32, u64)],
    ) -> samsa_log::Result<()> {
        self.admin.alter_group_offsets(group, offsets)
    }
}

impl Backend for MockKafka {
    type P = KafkaProducer;
    type C = KafkaConsumer;
    type A = MockKafka;
    fn name(&self) -> &'static str {
        "Kafka (librdkafka mock cluster)"
    }
    fn producer(&self, config: ProducerConfig) -> KafkaProducer {
        KafkaProducer::new(&self.kafka, &config).expect("producer")
    }
    fn consumer(&self, config: ConsumerConfig) -> KafkaConsumer {
        let config = config.session_timeout(Duration::from_secs(6));
        KafkaConsumer::new(&self.kafka, &config).expect("consumer")
    }
    fn admin(&self) -> &MockKafka {
        self
    }
    fn disturb_produce(&self) {
        use rdkafka::types::RDKafkaApiKey;
        self.cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            ],
        );
    }
}
