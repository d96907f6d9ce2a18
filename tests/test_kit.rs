//! Scenario: samsa as the fake broker of a test suite (issue 14). Records
//! print as readable text, never as a buffer; a poll's records can be kept
//! as owned records past the poll and sent to another thread; a topic's
//! whole history (across segments and partitions) can be taken as owned
//! records, as Kafka's `MockProducer.history()` gives.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::record::{Header, OwnedRecord};
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::time::Duration;

fn poll_all(log: &Log, topic: &str, want: usize) -> Vec<OwnedRecord> {
    let mut c = log
        .consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap();
    let n = log.topic(topic).unwrap().partition_count();
    let all: Vec<(&str, u32)> = (0..n).map(|p| (topic, p)).collect();
    c.assign(&all).unwrap();
    let mut out = Vec::new();
    while out.len() < want {
        let polled = c.poll(Duration::from_secs(1)).unwrap();
        assert!(!polled.is_empty(), "ran dry at {}", out.len());
        out.extend(polled.iter().map(|r| r.into_owned()));
    }
    out
}

#[test]
fn a_poll_prints_as_a_few_readable_lines() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let p = log.topic("t").unwrap().partition(0).unwrap();
    let value = vec![b'v'; 100];
    for i in 0..500 {
        let key = format!("key-{i}");
        p.append(&[Record::new(&value).key(&key)]).unwrap();
    }
    let mut c = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .max_poll_records(500),
        )
        .unwrap();
    c.assign(&[("t", 0)]).unwrap();
    let polled = c.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(polled.len(), 500);
    let shown = format!("{polled:?}");
    assert!(shown.len() < 4_000, "{} characters", shown.len());
    assert!(shown.contains(r#"key: b"key-0""#), "{shown}");
    assert!(shown.contains("...and 490 more"), "{shown}");
    assert!(
        !shown.contains("118, 118"),
        "bytes printed as numbers: {shown}"
    );
    let read = p.read(0, 1 << 20).unwrap();
    let shown = format!("{read:?}");
    assert!(
        shown.len() < 4_000 && shown.contains("next_offset"),
        "{shown}"
    );
    // The record a producer sends, too, with a header and a binary value.
    let h = [Header::new("trace", b"\x00\x01")];
    let r = format!("{:?}", Record::new(b"caf\xc3\xa9").key(b"k").headers(&h));
    assert_eq!(
        r,
        r#"Record { key: b"k", value: b"caf\xc3\xa9", headers: ["trace": b"\x00\x01"] }"#
    );
}

#[test]
fn owned_records_outlive_the_poll_and_cross_threads() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default().partitions(3))
        .unwrap();
    let producer = log.producer();
    for i in 0..30 {
        let v = format!("v{i}");
        let h = [Header::new("n", v.as_bytes())];
        let _ = producer
            .send("t", Record::new(&v).key(&v).headers(&h))
            .unwrap();
    }
    producer.flush().unwrap();
    let kept = poll_all(&log, "t", 30);
    let values = std::thread::spawn(move || {
        let mut v: Vec<String> = kept
            .iter()
            .map(|r| r.value_str().unwrap().to_owned())
            .collect();
        v.sort();
        for r in &kept {
            assert_eq!(r.key, r.value);
            assert_eq!(r.headers, [("n".to_owned(), r.value.clone())]);
            assert_eq!(r.topic, "t");
        }
        v
    })
    .join()
    .unwrap();
    let mut want: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(values, want);
}

#[test]
fn a_topics_history_spans_its_segments_and_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    for log in [Log::in_memory(), Log::open(tmp.path().join("log")).unwrap()] {
        let t = log
            .create_topic(
                "t",
                TopicConfig::default().partitions(2).segment_bytes(1024),
            )
            .unwrap();
        for i in 0..40u32 {
            let v = format!("value {i:03} {}", "x".repeat(100));
            t.partition(i % 2)
                .unwrap()
                .append(&[Record::new(&v)])
                .unwrap();
        }
        assert!(t.partition(0).unwrap().segments().unwrap().len() > 2);
        let history = t.history().unwrap();
        assert_eq!(history.len(), 40);
        for (n, r) in history.iter().enumerate() {
            let (partition, offset) = ((n / 20) as u32, (n % 20) as u64);
            assert_eq!((r.partition, r.offset), (partition, offset));
            let i = offset as u32 * 2 + partition;
            assert!(r.value_str().unwrap().starts_with(&format!("value {i:03}")));
        }
        // The same as a consumer sees, owned.
        let mut polled = poll_all(&log, "t", 40);
        polled.sort_by_key(|r| (r.partition, r.offset));
        assert_eq!(polled, history);
    }
}

#[test]
fn a_null_header_value_stays_null_through_producer_consumer_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let want = vec![
        ("trace".to_owned(), None),
        ("empty".to_owned(), Some(Vec::new())),
        ("trace".to_owned(), Some(b"abc".to_vec())),
    ];
    let check = |log: &Log| {
        let got = poll_all(log, "t", 1);
        assert_eq!(got[0].headers, want);
        assert_eq!(log.topic("t").unwrap().history().unwrap()[0].headers, want);
    };
    for log in [Log::in_memory(), Log::open(&dir).unwrap()] {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let h = [
            Header::null("trace"),
            Header::new("empty", b""),
            Header::new("trace", b"abc"),
        ];
        let producer = log.producer();
        producer
            .send("t", Record::new(b"v").headers(&h))
            .unwrap()
            .wait()
            .unwrap();
        check(&log);
        log.close().unwrap();
    }
    // What was durable on disk reads back the same after a reopen.
    let log = Log::open(&dir).unwrap();
    check(&log);
}
