//! With the `tracing` feature, samsa's events reach the application's
//! subscriber (here a small one that records them): a log opened, a torn
//! tail cut at open, a segment rolled, segments deleted by retention, a
//! compaction pass, a rebalance done, a transaction aborted on its
//! timeout, a producer fenced. Each carries the fields that say where.

use samsa_log::clock::ManualClock;
use samsa_log::consumer::ConsumerConfig;
use samsa_log::partition::CompactionOptions;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Log, Record};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};

/// One event: its level, target, message and fields.
#[derive(Debug, Clone)]
struct Seen {
    level: tracing::Level,
    target: String,
    message: String,
    fields: Vec<(String, String)>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

struct Fields<'a>(&'a mut Seen);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.0.message = text;
        } else {
            self.0.fields.push((field.name().to_owned(), text));
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: String::new(),
            fields: Vec::new(),
        };
        event.record(&mut Fields(&mut seen));
        self.0.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// The first event whose message starts with `prefix`.
    fn find(&self, prefix: &str) -> Seen {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .find(|e| e.message.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no event {prefix:?} among {events:#?}"))
    }
}

fn field<'a>(e: &'a Seen, name: &str) -> &'a str {
    e.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {e:?}"))
}

#[test]
fn operators_see_what_the_log_does() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let open = || {
        Log::builder()
            .clock(clock.clone())
            .maintenance_interval(None)
            .open(&dir)
            .unwrap()
    };
    let log = open();
    let opened = recorder.find("log opened");
    assert_eq!(opened.target, "samsa");
    assert!(field(&opened, "dir").ends_with("log"), "{opened:?}");

    // Rolls, retention and compaction.
    let t = log
        .create_topic(
            "t",
            TopicConfig::default()
                .segment_bytes(1024)
                .retention_bytes(Some(2048)),
        )
        .unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..100 {
        p.append(&[Record::new(format!("value {i:04}"))]).unwrap();
    }
    assert_eq!(recorder.find("segment rolled").level, tracing::Level::DEBUG);
    log.maintain().unwrap();
    let deleted = recorder.find("segments deleted");
    assert!(field(&deleted, "segments").parse::<u64>().unwrap() > 0);
    let c = log
        .create_topic(
            "c",
            TopicConfig::default()
                .segment_bytes(1024)
                .cleanup_policy(CleanupPolicy::Compact),
        )
        .unwrap()
        .partition(0)
        .unwrap();
    for i in 0..100 {
        c.append(&[Record::new(format!("v{i}")).key(format!("k{}", i % 3))])
            .unwrap();
    }
    c.compact(CompactionOptions {
        min_cleanable_dirty_ratio: 0.0,
        ..CompactionOptions::default()
    })
    .unwrap();
    let pass = recorder.find("compaction pass");
    assert!(
        field(&pass, "records_out").parse::<u64>().unwrap()
            < field(&pass, "records_in").parse::<u64>().unwrap()
    );

    // A rebalance.
    let mut consumer = log.consumer(ConsumerConfig::new("g")).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let _ = consumer.poll(Duration::from_millis(10)).unwrap();
    let rebalance = recorder.find("rebalance done");
    assert_eq!(field(&rebalance, "group"), "g");
    assert_eq!(field(&rebalance, "generation"), "1");
    assert!(
        field(&rebalance, "assignment").ends_with(": t-0"),
        "{rebalance:?}"
    );
    drop(consumer);

    // A transaction timed out, then its producer fenced.
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .transactional_id("slow")
                .transaction_timeout(Duration::from_secs(10)),
        )
        .unwrap();
    producer.init_transactions().unwrap();
    producer.begin_transaction().unwrap();
    let _ = producer.send("t", Record::new("late")).unwrap();
    producer.flush().unwrap();
    clock.advance(20_000);
    log.maintain().unwrap();
    let timed_out = recorder.find("transaction aborted");
    assert_eq!(field(&timed_out, "transactional_id"), "slow");
    assert!(producer.commit_transaction().is_err());
    let fenced = recorder.find("producer fenced");
    assert_eq!(fenced.level, tracing::Level::WARN);
    drop(producer);
    log.close().unwrap();

    // A torn tail, cut at the next open.
    let seg = {
        let log = open();
        let p = log.topic("t").unwrap().partition(0).unwrap();
        let seg = p.segments().unwrap().last().unwrap().files().log;
        drop(p);
        drop(log);
        seg
    };
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes.truncate(end);
    // Half a batch header's worth of a batch that claims more.
    let mut torn = bytes[..end.min(61)].to_vec();
    torn[8..12].copy_from_slice(&10_000u32.to_le_bytes());
    bytes.extend_from_slice(&torn);
    assert!(bytes.len() as u64 >= len.min(end as u64));
    std::fs::write(&seg, &bytes).unwrap();
    let log = open();
    let cut = recorder.find("torn tail cut");
    assert!(field(&cut, "path").ends_with(".log"), "{cut:?}");

    // A sealed segment's index, removed: rebuilt at the first read of it.
    let p = log.topic("t").unwrap().partition(0).unwrap();
    let sealed = p.segments().unwrap()[0].files();
    drop(p);
    log.close().unwrap();
    std::fs::remove_file(sealed.offset_index.expect("a sealed segment has an index")).unwrap();
    let log = open();
    let p = log.topic("t").unwrap().partition(0).unwrap();
    let _ = p.read(p.log_start_offset(), 1).unwrap();
    let rebuilt = recorder.find("index rebuilt");
    assert_eq!(rebuilt.level, tracing::Level::WARN);
    assert_eq!(
        field(&rebuilt, "reason"),
        "missing, or failing its trailer check"
    );
    assert!(field(&rebuilt, "path").ends_with(".log"), "{rebuilt:?}");
}
