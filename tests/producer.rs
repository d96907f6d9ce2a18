//! Scenario: producing to topics through `Producer`, on disk and in memory:
//! keys keep their partition (Kafka's murmur2) across restarts, keyless
//! records stick to a partition per batch or 16 KiB, explicit partitions win, many
//! threads produce concurrently without losing or duplicating a record,
//! acks and flush behave as documented, and bad input is a typed error.

use samsa_log::producer::{kafka_partition_for_key, Acks, ProducerConfig, RoundRobinPartitioner};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record};
use std::collections::{BTreeMap, HashMap};

mod common;
use common::block_on;
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

/// Every record of every partition of `topic`: partition -> values.
fn contents(log: &Log, topic: &str) -> BTreeMap<u32, Vec<Vec<u8>>> {
    let t = log.topic(topic).unwrap();
    let mut out = BTreeMap::new();
    for (i, p) in t.partitions().into_iter().enumerate() {
        let mut values = Vec::new();
        let mut at = 0;
        while at < p.high_watermark() {
            let r = p.read(at, 1 << 20).unwrap();
            values.extend(r.iter().map(|r| r.value().unwrap().to_vec()));
            at = r.next_offset();
        }
        out.insert(i as u32, values);
    }
    out
}

#[test]
fn keyed_records_land_where_kafka_puts_them() {
    on_both(|what, log| {
        log.create_topic("orders", TopicConfig::default().partitions(12))
            .unwrap();
        let producer = log.producer();
        for key in ["21", "foobar", "a-little-bit-long-string", "abc", "user-42"] {
            let md = producer
                .send("orders", Record::new(b"v").key(key))
                .unwrap()
                .wait()
                .unwrap();
            assert_eq!(
                md.partition,
                kafka_partition_for_key(key.as_bytes(), 12),
                "{what} {key}"
            );
            assert_eq!(&*md.topic, "orders");
            assert!(md.has_offset());
        }
    });
}

#[test]
fn same_key_same_partition_across_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut first = HashMap::new();
    {
        let log = Log::open(&dir).unwrap();
        log.create_topic("t", TopicConfig::default().partitions(7))
            .unwrap();
        let producer = log.producer();
        for k in 0..50 {
            let key = format!("key-{k}");
            let md = producer
                .send("t", Record::new(b"1").key(&key))
                .unwrap()
                .wait()
                .unwrap();
            first.insert(key, md.partition);
        }
        producer.close().unwrap();
        log.close().unwrap();
    }
    let log = Log::open(&dir).unwrap();
    let producer = log.producer();
    for (key, p) in &first {
        let md = producer
            .send("t", Record::new(b"2").key(key))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.partition, *p, "{key}");
    }
}

#[test]
fn explicit_partition_wins_and_out_of_range_is_an_error() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(3))
            .unwrap();
        let producer = log.producer();
        let md = producer
            .send("t", Record::new(b"v").key(b"k").partition(2))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.partition, 2, "{what}");
        assert!(matches!(
            producer.send("t", Record::new(b"v").partition(3)),
            Err(Error::UnknownPartition {
                partition: 3,
                partitions: 3,
                ..
            })
        ));
        let rogue = log
            .producer_with(
                ProducerConfig::default()
                    .partitioner(|_: Option<&[u8]>, _: Option<&[u8]>, n: u32| Some(n)),
            )
            .unwrap();
        assert!(matches!(
            rogue.send("t", Record::new(b"v")),
            Err(Error::UnknownPartition { .. })
        ));
        assert!(matches!(
            producer.send("nope", Record::new(b"v")),
            Err(Error::UnknownTopic { .. })
        ));
    });
}

#[test]
fn keyless_records_stick_to_a_partition_per_batch() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(4))
            .unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        let deliveries: Vec<_> = (0..20)
            .map(|i| producer.send("t", Record::new(format!("{i}").as_bytes())))
            .collect::<Result<_, _>>()
            .unwrap();
        producer.flush().unwrap();
        let parts: Vec<u32> = deliveries
            .into_iter()
            .map(|d| d.wait().unwrap().partition)
            .collect();
        assert!(
            parts.iter().all(|&p| p == parts[0]),
            "{what}: one batch, one partition: {parts:?}"
        );
        // After that batch was sent, the next keyless batch moves on.
        let next = producer.send("t", Record::new(b"x")).unwrap();
        producer.flush().unwrap();
        assert_ne!(next.wait().unwrap().partition, parts[0], "{what}");
    });
}

/// The trial: 10,000 small keyless records on 3 partitions landed
/// 8,457 on one, since the sticky partition moved on only with a full
/// 1 MiB batch. Like Kafka's uniform sticky partitioner (KIP-794), it now
/// moves on after `sticky_partition_bytes` (16 KiB, Kafka's `batch.size`)
/// while the batches themselves still grow to `batch_bytes`.
#[test]
fn keyless_records_move_on_after_sticky_partition_bytes() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(3))
            .unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        let value = [b'v'; 100];
        let deliveries: Vec<_> = (0..10_000)
            .map(|_| producer.send("t", Record::new(&value)))
            .collect::<Result<_, _>>()
            .unwrap();
        producer.flush().unwrap();
        let mut per_partition = [0u32; 3];
        let mut runs = Vec::new();
        let mut last = None;
        for d in deliveries {
            let p = d.wait().unwrap().partition;
            per_partition[p as usize] += 1;
            if last == Some(p) {
                *runs.last_mut().unwrap() += 1;
            } else {
                runs.push(1u32);
                last = Some(p);
            }
        }
        for n in per_partition {
            assert!((3_000..=3_700).contains(&n), "{what}: {per_partition:?}");
        }
        // Each stint is 16 KiB of records: about 130 of these (the
        // producer counts a record as its value plus 24 bytes of framing).
        let full = &runs[..runs.len() - 1];
        assert!(
            full.iter().all(|&n| (120..=140).contains(&n)),
            "{what}: {runs:?}"
        );
    });
}

#[test]
fn many_threads_produce_every_record_exactly_once_in_send_order() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(3))
            .unwrap();
        let producer = log
            .producer_with(
                ProducerConfig::default()
                    .partitioner(RoundRobinPartitioner::new())
                    .linger(Duration::from_micros(200)),
            )
            .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let producer = producer.clone();
                std::thread::spawn(move || {
                    let mut last = Vec::new();
                    for i in 0..500 {
                        let v = format!("{t}:{i}");
                        // Threads share partitions (4 threads, 3 partitions),
                        // so each partition interleaves several senders.
                        last.push(
                            producer
                                .send("t", Record::new(&v).partition(t % 3))
                                .unwrap(),
                        );
                    }
                    last.into_iter()
                        .map(|d| d.wait().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mds: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        producer.flush().unwrap();
        assert_eq!(mds.len(), 2000);
        let all = contents(&log, "t");
        let total: usize = all.values().map(Vec::len).sum();
        assert_eq!(total, 2000, "{what}: every record exactly once");
        for (p, values) in &all {
            let mut seen: HashMap<String, i64> = HashMap::new();
            for v in values {
                let v = String::from_utf8(v.clone()).unwrap();
                let (t, i) = v.split_once(':').unwrap();
                let i: i64 = i.parse().unwrap();
                let prev = seen.insert(t.to_owned(), i).unwrap_or(-1);
                assert!(i > prev, "{what}: partition {p}: thread {t} out of order");
            }
        }
    });
}

#[test]
fn acks_none_returns_at_once_and_flush_delivers() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let producer = log
            .producer_with(
                ProducerConfig::default()
                    .acks(Acks::None)
                    .linger(Duration::from_secs(60)),
            )
            .unwrap();
        let d = producer.send("t", Record::new(b"fire")).unwrap();
        assert!(d.is_done(), "{what}");
        assert_eq!(
            d.wait().unwrap().offset,
            samsa_log::producer::RecordMetadata::NO_OFFSET
        );
        producer.flush().unwrap();
        assert_eq!(contents(&log, "t")[&0], [b"fire".to_vec()], "{what}");
    });
}

#[test]
fn linger_holds_a_batch_until_it_expires_or_fills() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let producer = log
            .producer_with(
                ProducerConfig::default()
                    .linger(Duration::from_millis(50))
                    .batch_bytes(4096),
            )
            .unwrap();
        let d = producer.send("t", Record::new(b"waits")).unwrap();
        assert!(!d.is_done(), "{what}: not appended before linger");
        let md = d.wait().unwrap();
        assert_eq!(md.offset, 0, "{what}: appended once linger expired");
        // A full batch goes without waiting for linger.
        let big = [7u8; 5000];
        let d = producer.send("t", Record::new(&big[..])).unwrap();
        assert_eq!(d.wait().unwrap().offset, 1, "{what}");
    });
}

#[test]
fn bad_input_is_a_typed_error() {
    on_both(|what, log| {
        log.create_topic("small", TopicConfig::default().max_record_bytes(100))
            .unwrap();
        let producer = log.producer();
        let big = [0u8; 200];
        assert!(
            matches!(
                producer.send("small", Record::new(&big[..])),
                Err(Error::RecordTooLarge { .. })
            ),
            "{what}"
        );
        producer
            .send("small", Record::new(b"fits"))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(contents(&log, "small")[&0], [b"fits".to_vec()], "{what}");
        assert!(matches!(
            log.producer_with(ProducerConfig::default().batch_bytes(0)),
            Err(Error::InvalidConfig(_))
        ));
        producer.close().unwrap();
        assert!(matches!(
            producer.send("small", Record::new(b"x")),
            Err(Error::Closed { .. })
        ));
    });
}

#[test]
fn a_full_buffer_blocks_until_space_frees_or_max_block_passes() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let config = ProducerConfig::default()
            .buffer_bytes(2048)
            .batch_bytes(2048)
            .linger(Duration::from_secs(60));
        let v = [1u8; 1500];
        // No waiting allowed: the second record does not fit beside the first.
        let impatient = log
            .producer_with(config.clone().max_block(Duration::ZERO))
            .unwrap();
        let first = impatient.send("t", Record::new(&v[..])).unwrap();
        let err = impatient.send("t", Record::new(&v[..])).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BufferFull {
                    buffer_bytes: 2048,
                    ..
                }
            ),
            "{what}: {err}"
        );
        assert_eq!(
            first.wait().unwrap().offset,
            0,
            "{what}: the buffered record still goes"
        );
        // With time to wait, the send blocks until the appender frees space.
        let patient = log
            .producer_with(config.max_block(Duration::from_secs(30)))
            .unwrap();
        let a = patient.send("t", Record::new(&v[..])).unwrap();
        let b = patient.send("t", Record::new(&v[..])).unwrap();
        patient.flush().unwrap();
        assert_eq!(
            (a.wait().unwrap().offset, b.wait().unwrap().offset),
            (1, 2),
            "{what}"
        );
    });
}

#[test]
fn partitions_added_later_receive_records() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(1))
            .unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().partitioner(RoundRobinPartitioner::new()))
            .unwrap();
        producer
            .send("t", Record::new(b"before"))
            .unwrap()
            .wait()
            .unwrap();
        log.add_partitions("t", 2).unwrap();
        let parts: Vec<u32> = (0..6)
            .map(|_| producer.send("t", Record::new(b"after")).unwrap())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|d| d.wait().unwrap().partition)
            .collect();
        for p in 0..3 {
            assert!(
                parts.contains(&p),
                "{what}: partition {p} got nothing: {parts:?}"
            );
        }
    });
}

#[test]
fn log_append_time_topics_report_the_append_time() {
    on_both(|what, log| {
        log.create_topic(
            "t",
            TopicConfig::default()
                .timestamp_type(samsa_log::partition::TimestampType::LogAppendTime),
        )
        .unwrap();
        let producer = log.producer();
        let md = producer
            .send("t", Record::new(b"v").timestamp(1))
            .unwrap()
            .wait()
            .unwrap();
        assert!(md.timestamp > 1_600_000_000_000, "{what}: {}", md.timestamp);
        let stored = log
            .topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .read(0, 1 << 10)
            .unwrap();
        assert_eq!(
            stored.iter().next().unwrap().timestamp(),
            md.timestamp,
            "{what}"
        );
    });
}

/// A topic whose segments are smaller than the producer's batches: the
/// producer cuts its batches to fit a segment (a batch larger than
/// `segment_bytes` is refused by the partition, as Kafka refuses it), so
/// every record is delivered, across many segments.
#[test]
fn batches_are_cut_to_fit_small_segments() {
    on_both(|_, log| {
        let config = TopicConfig::default().partitions(1).segment_bytes(1024);
        log.create_topic("small", config).unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_millis(50)))
            .unwrap();
        let values: Vec<Vec<u8>> = (0..200u8).map(|i| vec![i; 100]).collect();
        let deliveries: Vec<_> = values
            .iter()
            .map(|v| producer.send("small", Record::new(v)).unwrap())
            .collect();
        producer.flush().unwrap();
        for d in deliveries {
            d.wait().unwrap();
        }
        assert_eq!(contents(&log, "small")[&0], values);
        let segments = log
            .topic("small")
            .unwrap()
            .partition(0)
            .unwrap()
            .segments()
            .unwrap();
        assert!(segments.len() > 10, "{} segments", segments.len());
    });
}

/// The trial: `Record::new(&format!(..)).key(..)` bound to a
/// variable was a borrow error. A record takes owned bytes as well as
/// borrowed ones, and can be built, kept and cloned before it is sent.
#[test]
fn records_take_owned_bytes_and_outlive_their_temporaries() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let records: Vec<Record<'static>> = (0..3)
            .map(|i| {
                Record::new(format!("order {i}"))
                    .key(format!("user-{i}").into_bytes())
                    .headers(vec![samsa_log::record::Header::new("n", b"1")])
            })
            .collect();
        let kept = records[1].clone();
        let producer = log.producer();
        for r in records {
            let _ = producer.send("t", r).unwrap();
        }
        producer.send("t", kept).unwrap().wait().unwrap();
        let p = log.topic("t").unwrap().partition(0).unwrap();
        p.append(&[Record::new(String::from("direct")).key(Box::<[u8]>::from(&b"k"[..]))])
            .unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = log
            .topic("t")
            .unwrap()
            .history()
            .unwrap()
            .into_iter()
            .map(|r| (r.key.unwrap(), r.value.unwrap()))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = [
            ("user-0", "order 0"),
            ("user-1", "order 1"),
            ("user-2", "order 2"),
            ("user-1", "order 1"),
            ("k", "direct"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want, "{what}");
    });
}

/// Issue 15's first piece: `producer.send(..)?.await` (`Delivery` is
/// `IntoFuture`). Awaiting hands the
/// batch over at once (the linger here is a minute) and is woken by the
/// producer's threads; every record of the batch resolves to its offset;
/// a future polled again after it completed answers the same.
#[test]
fn a_delivery_is_a_future() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default()).unwrap();
        let producer = log
            .producer_with(ProducerConfig::default().linger(Duration::from_secs(60)))
            .unwrap();
        let deliveries: Vec<_> = (0..10)
            .map(|i| producer.send("t", Record::new(format!("v{i}"))).unwrap())
            .collect();
        let started = std::time::Instant::now();
        let offsets: Vec<u64> = block_on(async {
            let mut out = Vec::new();
            for d in deliveries {
                out.push(d.await.unwrap().offset);
            }
            out
        });
        assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: the await waited out the linger"
        );
        let d = producer.send("t", Record::new(b"again")).unwrap();
        let mut f = std::future::IntoFuture::into_future(d);
        let md = block_on(&mut f).unwrap();
        assert_eq!(md.offset, 10, "{what}");
        assert_eq!(
            block_on(&mut f).unwrap(),
            md,
            "{what}: polled after completion"
        );
        // A delivery that fails resolves to the error.
        log.create_topic("doomed", TopicConfig::default()).unwrap();
        let d = producer.send("doomed", Record::new(b"lost")).unwrap();
        log.delete_topic("doomed").unwrap();
        assert!(
            matches!(block_on(d), Err(Error::UnknownTopic { .. })),
            "{what}"
        );
        // Acks::None deliveries are ready at once.
        let none = log
            .producer_with(ProducerConfig::default().acks(Acks::None))
            .unwrap();
        let md = block_on(none.send("t", Record::new(b"x")).unwrap()).unwrap();
        assert!(!md.has_offset(), "{what}");
    });
}
