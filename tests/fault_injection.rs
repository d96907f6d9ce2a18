//! Scenario: a test suite using samsa as its fake broker injects faults
//! (feature `test-util`), as Kafka's `MockProducer.errorNext` and
//! `MockConsumer.setPollException` allow: the next append to a topic, the
//! next commit or poll of a group (blocking or async) fails with the
//! chosen error, once, and nothing is written, committed or skipped; a
//! forced rebalance runs the members' callbacks. On disk and in memory.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, RebalanceListener};
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Error, Log, Record};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

fn injected(what: &str) -> Error {
    Error::InvalidConfig(format!("injected: {what}"))
}

fn is_injected(r: &Error, what: &str) -> bool {
    matches!(r, Error::InvalidConfig(m) if *m == format!("injected: {what}"))
}

#[test]
fn the_next_append_fails_once_and_writes_nothing() {
    on_both(|what, log| {
        let t = log
            .create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        log.create_topic("other", TopicConfig::default()).unwrap();
        let faults = log.faults();
        faults.fail_next_append("t", injected("a1"));
        faults.fail_next_append("t", injected("a2"));
        assert_eq!(faults.pending(), 2);
        // Another topic is not affected.
        let other = log.topic("other").unwrap().partition(0).unwrap();
        other.append(&[Record::new(b"x")]).unwrap();
        // The two armed faults fail the next two appends to the topic,
        // whichever partition, in order; then appends go through.
        let p0 = t.partition(0).unwrap();
        let p1 = t.partition(1).unwrap();
        let e = p1.append(&[Record::new(b"lost")]).unwrap_err();
        assert!(is_injected(&e, "a1"), "{what}: {e:?}");
        let e = p0.append(&[Record::new(b"lost")]).unwrap_err();
        assert!(is_injected(&e, "a2"), "{what}: {e:?}");
        assert_eq!(faults.pending(), 0);
        assert_eq!((p0.high_watermark(), p1.high_watermark()), (0, 0));
        assert_eq!(p0.append(&[Record::new(b"kept")]).unwrap().base_offset, 0);

        // Through a producer: a non-I/O error fails the batch's deliveries;
        // an injected I/O error is retried as a real one would be, and the
        // record lands once.
        let producer = log
            .producer_with(ProducerConfig::default().retry_backoff(Duration::ZERO))
            .unwrap();
        faults.fail_next_append("t", injected("p"));
        let d = producer
            .send("t", Record::new(b"refused").partition(1))
            .unwrap();
        let e = d.wait().unwrap_err();
        assert!(is_injected(&e, "p"), "{what}: {e:?}");
        faults.fail_next_append(
            "t",
            Error::Io {
                op: "write",
                path: "injected".into(),
                source: std::io::Error::from_raw_os_error(28).into(),
            },
        );
        let md = producer
            .send("t", Record::new(b"retried").partition(1))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.offset, 0, "{what}: the refused batch took no offset");
        let history = t.history().unwrap();
        let values: Vec<_> = history
            .iter()
            .map(|r| (r.partition, r.value_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            values,
            [(0, "kept".to_owned()), (1, "retried".to_owned())],
            "{what}"
        );
        faults.fail_next_append("t", injected("left"));
        faults.clear();
        assert_eq!(faults.pending(), 0);
        p0.append(&[Record::new(b"after clear")]).unwrap();
    });
}

fn member(log: &Log, group: &str) -> Consumer {
    log.consumer(
        ConsumerConfig::new(group)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false),
    )
    .unwrap()
}

#[test]
fn the_next_poll_and_commit_of_a_group_fail_once_and_lose_nothing() {
    on_both(|what, log| {
        let t = log.create_topic("t", TopicConfig::default()).unwrap();
        let p = t.partition(0).unwrap();
        for i in 0..5 {
            p.append(&[Record::new(format!("r{i}"))]).unwrap();
        }
        let faults = log.faults();
        let mut c = member(&log, "g");
        c.subscribe(&["t"]).unwrap();
        let mut other = member(&log, "other");
        other.assign(&[("t", 0)]).unwrap();

        faults.fail_next_poll("g", injected("poll"));
        let e = c.poll(Duration::from_millis(100)).unwrap_err();
        assert!(is_injected(&e, "poll"), "{what}: {e:?}");
        // The other group's consumer polls as usual.
        assert_eq!(other.poll(Duration::from_secs(1)).unwrap().len(), 5);
        // The failed poll skipped nothing.
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let polled = c.poll(Duration::from_secs(1)).unwrap();
            assert!(!polled.is_empty(), "{what}: ran dry at {}", seen.len());
            seen.extend(polled.iter().map(|r| r.offset()));
        }
        assert_eq!(seen, [0, 1, 2, 3, 4], "{what}");

        faults.fail_next_commit("g", injected("commit"));
        let e = c.commit().unwrap_err();
        assert!(is_injected(&e, "commit"), "{what}: {e:?}");
        assert_eq!(log.group("g").committed("t", 0), None, "{what}");
        c.commit().unwrap();
        assert_eq!(
            log.group("g").committed("t", 0).map(|o| o.offset),
            Some(5),
            "{what}"
        );
    });
}

#[test]
fn injected_poll_and_commit_faults_reach_the_async_calls_too() {
    on_both(|what, log| {
        let t = log.create_topic("t", TopicConfig::default()).unwrap();
        let p = t.partition(0).unwrap();
        for i in 0..3 {
            p.append(&[Record::new(format!("r{i}"))]).unwrap();
        }
        let faults = log.faults();
        let mut c = member(&log, "g");
        c.subscribe(&["t"]).unwrap();

        faults.fail_next_poll("g", injected("poll"));
        let e = futures::executor::block_on(c.recv()).unwrap_err();
        assert!(is_injected(&e, "poll"), "{what}: {e:?}");
        // The failed recv consumed nothing.
        let offsets: Vec<u64> = (0..3)
            .map(|_| futures::executor::block_on(c.recv()).unwrap().offset)
            .collect();
        assert_eq!(offsets, [0, 1, 2], "{what}");

        faults.fail_next_commit("g", injected("commit"));
        let e = futures::executor::block_on(c.commit_async()).unwrap_err();
        assert!(is_injected(&e, "commit"), "{what}: {e:?}");
        assert_eq!(log.group("g").committed("t", 0), None, "{what}");
        futures::executor::block_on(c.commit_async()).unwrap();
        assert_eq!(
            log.group("g").committed("t", 0).map(|o| o.offset),
            Some(3),
            "{what}"
        );
    });
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Events {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {partitions:?}"));
    }

    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[(String, u32)]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {partitions:?}"));
    }
}

#[test]
fn a_forced_rebalance_runs_the_members_callbacks() {
    on_both(|what, log| {
        log.create_topic("t", TopicConfig::default().partitions(2))
            .unwrap();
        let faults = log.faults();
        assert!(
            matches!(faults.force_rebalance("g"), Err(Error::UnknownGroup { .. })),
            "{what}"
        );
        let events = Events::default();
        let mut c = member(&log, "g");
        c.subscribe_with(&["t"], events.clone()).unwrap();
        c.poll(Duration::from_millis(50)).unwrap();
        let generation = log.group("g").describe().unwrap().generation;
        let all = r#"[("t", 0), ("t", 1)]"#;
        assert_eq!(*events.0.lock().unwrap(), [format!("assigned {all}")]);

        faults.force_rebalance("g").unwrap();
        c.poll(Duration::from_millis(50)).unwrap();
        c.poll(Duration::from_millis(50)).unwrap();
        // The default assignor (range) is eager: everything is given up
        // and given back, in a new generation.
        assert_eq!(
            *events.0.lock().unwrap(),
            [
                format!("assigned {all}"),
                format!("revoked {all}"),
                format!("assigned {all}")
            ],
            "{what}"
        );
        assert!(log.group("g").describe().unwrap().generation > generation);
        assert_eq!(c.assignment().len(), 2, "{what}");
    });
}
