//! `samsa export` and `samsa import` against librdkafka's mock cluster,
//! run by this test process on loopback.

use rdkafka::mocking::MockCluster;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::path::Path;
mod common;

use common::{samsa, stdout};

#[test]
fn a_topic_goes_to_kafka_and_back_with_its_group_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
    {
        let log = Log::open(&from).unwrap();
        log.create_topic("orders", TopicConfig::default().partitions(2))
            .unwrap();
        let p = log.producer();
        for i in 0..30u32 {
            let _delivered_by_close = p
                .send("orders", Record::new(format!("order {i}")).partition(i % 2))
                .unwrap();
        }
        p.close().unwrap();
        log.group("billing")
            .alter_offsets(&[("orders", 0, 5), ("orders", 1, 15)])
            .unwrap();
        log.close().unwrap();
    }
    let cluster = MockCluster::new(1).unwrap();
    // The mock cluster has no CreateTopics: the topic is made there first.
    cluster.create_topic("orders", 2, 1).unwrap();
    let servers = cluster.bootstrap_servers();
    let cp = tmp.path().join("cp");
    let cp = cp.to_str().unwrap();
    let copy = |dir: &Path, command: &str, checkpoint: &str| {
        stdout(&samsa(
            dir,
            &[
                command,
                "orders",
                "--bootstrap-servers",
                &servers,
                "-g",
                "billing",
                "--checkpoint",
                checkpoint,
            ],
        ))
    };
    let out = copy(&from, "export", cp);
    assert!(out.contains("exported orders: 30 records sent"), "{out}");
    assert!(
        out.contains("group billing partition 0: offset 5 -> 5"),
        "{out}"
    );
    assert!(
        out.contains("group billing partition 1: offset 15 -> 15"),
        "{out}"
    );
    // Run again: the checkpoint says it is done.
    let out = copy(&from, "export", cp);
    assert!(out.contains("exported orders: 0 records sent"), "{out}");

    let cp2 = tmp.path().join("cp2");
    let out = copy(&to, "import", cp2.to_str().unwrap());
    assert!(out.contains("imported orders: 30 records sent"), "{out}");
    let log = Log::open(&to).unwrap();
    let t = log.topic("orders").unwrap();
    assert_eq!(t.partition_count(), 2);
    for n in 0..2u32 {
        let p = t.partition(n).unwrap();
        let values: Vec<String> = p
            .read(0, 1 << 20)
            .unwrap()
            .iter()
            .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap())
            .collect();
        let expected: Vec<String> = (0..30u32)
            .filter(|i| i % 2 == n)
            .map(|i| format!("order {i}"))
            .collect();
        assert_eq!(values, expected);
    }
    assert_eq!(
        log.group("billing")
            .committed("orders", 0)
            .map(|o| o.offset),
        Some(5)
    );
    assert_eq!(
        log.group("billing")
            .committed("orders", 1)
            .map(|o| o.offset),
        Some(15)
    );
    log.close().unwrap();
    // A malformed property is one line and exit status 1.
    let bad = samsa(
        &to,
        &[
            "import",
            "orders",
            "--bootstrap-servers",
            &servers,
            "-X",
            "nonsense",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=VALUE"));
}

#[test]
fn every_topic_goes_with_all() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
    {
        let log = Log::open(&from).unwrap();
        for (topic, n) in [("a", 3u32), ("b", 4)] {
            log.create_topic(topic, TopicConfig::default()).unwrap();
            let p = log.producer();
            for i in 0..n {
                let _delivered_by_close =
                    p.send(topic, Record::new(format!("{topic}{i}"))).unwrap();
            }
            p.close().unwrap();
        }
        log.close().unwrap();
    }
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("a", 1, 1).unwrap();
    cluster.create_topic("b", 1, 1).unwrap();
    let servers = cluster.bootstrap_servers();
    let cps = tmp.path().join("checkpoints");
    std::fs::create_dir(&cps).unwrap();
    let cps = cps.to_str().unwrap();
    let out = stdout(&samsa(
        &from,
        &[
            "export",
            "--all",
            "--bootstrap-servers",
            &servers,
            "--checkpoint",
            cps,
        ],
    ));
    assert!(out.contains("exported a: 3 records sent"), "{out}");
    assert!(out.contains("exported b: 4 records sent"), "{out}");
    assert!(Path::new(cps).join("a.export").exists());
    let out = stdout(&samsa(
        &to,
        &[
            "import",
            "--all",
            "--bootstrap-servers",
            &servers,
            "--checkpoint",
            cps,
        ],
    ));
    assert!(out.contains("imported a: 3 records sent"), "{out}");
    assert!(out.contains("imported b: 4 records sent"), "{out}");
    // A topic and --all together are refused.
    let both = samsa(
        &to,
        &["export", "a", "--all", "--bootstrap-servers", &servers],
    );
    assert_eq!(both.status.code(), Some(2), "clap's usage error");
}
