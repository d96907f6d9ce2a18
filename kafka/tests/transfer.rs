//! Export and import through librdkafka's mock cluster: a samsa topic with
//! its group offsets moves to the cluster and back, nothing lost or
//! duplicated, also when the first export is interrupted half way.

use rdkafka::mocking::MockCluster;
use samsa_kafka::{
    copy_topic, export_topic, import_topic, KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer,
    TransferPlan, TransferProgress,
};
use samsa_log::client::{AdminClient, ConsumerClient, ProducerClient};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::producer::ProducerConfig;
use samsa_log::record::{Header, OwnedRecord};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record, Result};
use std::cell::Cell;
use std::time::{Duration, Instant};

const TOPIC: &str = "orders";

/// The samsa source: 3 partitions. Partition 0 holds 50 records, a
/// committed transaction of 10 (its marker takes an offset), an aborted
/// one of 5 (never copied), then 20 more: its offsets and the
/// destination's differ. Partitions 1 and 2 hold plain keyed records
/// with headers and timestamps, and a tombstone. Group `billing` has
/// committed offset 67 of partition 0 (the first record after the aborted
/// transaction) and the end of partition 1.
fn source(log: &Log) -> Vec<Vec<OwnedRecord>> {
    log.create_topic(TOPIC, TopicConfig::default().partitions(3))
        .unwrap();
    let p = log.producer();
    let send = |partition: u32, i: u32| {
        let key = format!("k{i}");
        let value = format!("p{partition}-v{i}");
        let h = [Header::new("n", key.as_bytes()), Header::null("none")];
        p.send(
            TOPIC,
            Record::new(value.as_bytes())
                .key(key.as_bytes())
                .headers(&h[..])
                .timestamp(1_700_000_000_000 + i64::from(i))
                .partition(partition),
        )
        .unwrap()
        .wait()
        .unwrap();
    };
    for i in 0..50 {
        send(0, i);
    }
    let tx = log
        .producer_with(ProducerConfig::default().transactional_id("loader"))
        .unwrap();
    tx.init_transactions().unwrap();
    for (commit, range) in [(true, 50..60), (false, 60..65)] {
        tx.begin_transaction().unwrap();
        for i in range {
            let _delivered_at_commit = tx
                .send(
                    TOPIC,
                    Record::new(format!("p0-v{i}"))
                        .key(format!("k{i}"))
                        .partition(0),
                )
                .unwrap();
        }
        if commit {
            tx.commit_transaction().unwrap();
        } else {
            tx.abort_transaction().unwrap();
        }
    }
    tx.close().unwrap();
    for i in 65..85 {
        send(0, i);
    }
    for partition in 1..3 {
        for i in 0..700 {
            send(partition, i);
        }
        p.send(TOPIC, Record::tombstone("gone").partition(partition))
            .unwrap()
            .wait()
            .unwrap();
    }
    p.close().unwrap();
    log.group("billing")
        .alter_offsets(&[(TOPIC, 0, 67), (TOPIC, 1, 701)])
        .unwrap();
    read_all(log, &mut log.consumer(reader_config()).unwrap())
}

fn reader_config() -> ConsumerConfig {
    ConsumerConfig::new("checker")
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .isolation_level(IsolationLevel::ReadCommitted)
}

/// Every committed record of every partition, in order, without offsets
/// (they differ between the two sides).
fn read_all(admin: &impl AdminClient, c: &mut impl ConsumerClient) -> Vec<Vec<OwnedRecord>> {
    let ends = admin.end_offsets(TOPIC).unwrap();
    let mut out = Vec::new();
    for (p, end) in ends.iter().enumerate() {
        c.assign(&[(TOPIC, p as u32)]).unwrap();
        c.seek(TOPIC, p as u32, samsa_log::consumer::Offset::Earliest)
            .unwrap();
        let mut got: Vec<OwnedRecord> = Vec::new();
        let start = Instant::now();
        while c.position(TOPIC, p as u32).unwrap() < *end
            && start.elapsed() < Duration::from_secs(60)
        {
            got.extend(c.poll(Duration::from_millis(100)).unwrap());
        }
        for r in &mut got {
            r.offset = 0;
        }
        out.push(got);
    }
    out
}

fn mock() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    KafkaConfig,
) {
    let cluster = MockCluster::new(3).unwrap();
    let kafka = KafkaConfig::new(cluster.bootstrap_servers());
    (cluster, kafka)
}

/// A writer that fails every send after the first `left`: a process that
/// died half way.
struct DiesAfter<'a> {
    inner: &'a KafkaProducer,
    left: Cell<usize>,
}

impl ProducerClient for DiesAfter<'_> {
    type Delivery = <KafkaProducer as ProducerClient>::Delivery;
    fn send(&self, topic: &str, record: Record<'_>) -> Result<Self::Delivery> {
        if self.left.get() == 0 {
            return Err(Error::InvalidConfig("killed".into()));
        }
        self.left.set(self.left.get() - 1);
        self.inner.send(topic, record)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_topic_and_its_group_offsets_move_to_kafka_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("log")).unwrap();
    let expected = source(&log);
    assert_eq!(
        expected.iter().map(Vec::len).collect::<Vec<_>>(),
        [80, 701, 701]
    );
    let (cluster, kafka) = mock();
    // The mock cluster has no CreateTopics: the topic is made there first.
    cluster.create_topic(TOPIC, 3, 1).unwrap();
    let checkpoint = dir.path().join("export.checkpoint");
    let plan = TransferPlan {
        checkpoint_every: 100,
        ..TransferPlan::new(TOPIC, &["billing"])
    };

    // The first export dies after 900 sends, the deliveries of its last
    // unsettled sends reaching the cluster.
    let admin = KafkaAdmin::new(&kafka).unwrap();
    let producer = KafkaProducer::new(&kafka, &ProducerConfig::default()).unwrap();
    let dying = DiesAfter {
        inner: &producer,
        left: Cell::new(900),
    };
    let mut reader = log.consumer(reader_config()).unwrap();
    let died = copy_topic(
        &log,
        &mut reader,
        &admin,
        &dying,
        &plan,
        &checkpoint,
        &mut |_| {},
    );
    assert!(matches!(died, Err(Error::InvalidConfig(_))), "{died:?}");
    producer.flush().unwrap();
    drop((producer, reader));
    let partial: u64 = admin.end_offsets(TOPIC).unwrap().iter().sum();
    assert_eq!(partial, 900, "what the dead run delivered");

    // The rerun resumes from the checkpoint.
    let mut seen: Vec<TransferProgress> = Vec::new();
    let report = export_topic(&log, &kafka, &plan, &checkpoint, &mut |p| {
        seen.push(p.clone())
    })
    .unwrap();
    assert!(report.found_delivered > 0, "{report:?}");
    // Every record the dead run delivered is found, checkpointed or not;
    // only the rest is sent.
    assert_eq!(report.copied, 1482 - 900, "{report:?}");
    for (partition, end) in [(0, 87), (1, 701), (2, 701)] {
        let last = seen.iter().rev().find(|p| p.partition == partition);
        assert_eq!(
            last.map(|p| (p.offset, p.end)),
            Some((end, end)),
            "{seen:?}"
        );
    }
    assert_eq!(seen.last().map(|p| p.sent), Some(report.copied));
    let on_kafka = read_all(
        &admin,
        &mut KafkaConsumer::new(&kafka, &reader_config()).unwrap(),
    );
    assert_eq!(
        on_kafka, expected,
        "nothing lost, nothing twice, fields kept"
    );
    // A third run finds the copy done and changes nothing.
    let again = export_topic(&log, &kafka, &plan, &checkpoint, &mut |_| {}).unwrap();
    assert_eq!((again.copied, again.found_delivered), (0, 0));
    assert_eq!(admin.end_offsets(TOPIC).unwrap(), [80, 701, 701]);

    // The group resumes on Kafka where it stopped on samsa: source 67 is
    // destination 60 (the marker and the aborted records are not copied).
    let mut offsets = admin.group_offsets("billing").unwrap();
    offsets.sort();
    assert_eq!(
        offsets,
        [(TOPIC.to_owned(), 0, 60), (TOPIC.to_owned(), 1, 701)]
    );
    let mut moved = KafkaConsumer::new(
        &kafka,
        &ConsumerConfig::new("billing").auto_offset_reset(AutoOffsetReset::Earliest),
    )
    .unwrap();
    moved.assign(&[(TOPIC, 0)]).unwrap();
    let start = Instant::now();
    let mut first = Vec::new();
    while first.is_empty() && start.elapsed() < Duration::from_secs(30) {
        first = moved.poll(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(first[0].value.as_deref(), Some(&b"p0-v65"[..]));

    // And back into a new samsa log.
    let back = Log::in_memory();
    let import_cp = dir.path().join("import.checkpoint");
    let report = import_topic(&kafka, &back, &plan, &import_cp, &mut |_| {}).unwrap();
    assert_eq!(report.copied, 1482);
    let imported = read_all(&back, &mut back.consumer(reader_config()).unwrap());
    assert_eq!(imported, expected);
    assert_eq!(
        back.group("billing").committed(TOPIC, 0).map(|o| o.offset),
        Some(60)
    );
    assert_eq!(
        back.group("billing").committed(TOPIC, 1).map(|o| o.offset),
        Some(701)
    );
}

/// A transaction left open on the source holds the copy at its first
/// record: after `idle_timeout` the copy stops with `Error::TimedOut`
/// naming the partition, with what came before copied and checkpointed;
/// once the transaction commits, a rerun copies the rest, nothing twice.
#[test]
fn a_copy_held_by_an_open_transaction_times_out_then_resumes() {
    let (src, dst) = (Log::in_memory(), Log::in_memory());
    src.create_topic(TOPIC, TopicConfig::default()).unwrap();
    let plain = src.producer();
    for i in 0..5 {
        plain
            .send(TOPIC, Record::new(format!("before-{i}").as_bytes()))
            .unwrap()
            .wait()
            .unwrap();
    }
    let tx = src
        .producer_with(ProducerConfig::default().transactional_id("slow"))
        .unwrap();
    tx.init_transactions().unwrap();
    tx.begin_transaction().unwrap();
    let _pending = tx.send(TOPIC, Record::new("in-the-transaction")).unwrap();
    tx.flush().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("orders.copy");
    let mut plan = TransferPlan::new(TOPIC, &[]);
    plan.idle_timeout = Duration::from_millis(300);
    let copy = |plan: &TransferPlan| {
        copy_topic(
            &src,
            &mut src.consumer(reader_config()).unwrap(),
            &dst,
            &dst.producer(),
            plan,
            &checkpoint,
            &mut |_| {},
        )
    };
    match copy(&plan) {
        Err(Error::TimedOut {
            operation: "copy_topic",
            target,
            waited_ms: 300,
            reason,
        }) => {
            assert_eq!(target, "orders/0");
            assert!(reason.contains("offset 5"), "{reason}");
        }
        other => panic!("expected a time-out, got {other:?}"),
    }
    assert_eq!(
        dst.end_offsets(TOPIC).unwrap(),
        [5],
        "the records before it"
    );
    tx.commit_transaction().unwrap();
    let report = copy(&plan).unwrap();
    let values: Vec<String> = read_all(&dst, &mut dst.consumer(reader_config()).unwrap())[0]
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    let mut want: Vec<String> = (0..5).map(|i| format!("before-{i}")).collect();
    want.push("in-the-transaction".into());
    assert_eq!(values, want, "{report:?}");
}
