//! Scenario: the log directory and its topics. Create, list, look up, grow
//! and delete topics, on disk and in memory; reopen and find them again;
//! bad names and configurations are typed errors that create nothing;
//! damaged or half-written metadata on disk; the directory lock against a
//! second owner in this process and in another.

use samsa_log::partition::{SyncPolicy, TimestampType};
use samsa_log::topic::{CleanupPolicy, TopicConfig};
use samsa_log::{Error, Log, Record};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `f` against a fresh log on disk and one in memory.
fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

/// Every path below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn values(log: &Log, topic: &str, partition: u32) -> Vec<Vec<u8>> {
    let p = log.topic(topic).unwrap().partition(partition).unwrap();
    p.read(0, 1 << 20)
        .unwrap()
        .iter()
        .map(|r| r.value().unwrap().to_vec())
        .collect()
}

#[test]
fn topics_are_created_listed_grown_and_deleted() {
    on_both(|what, log| {
        assert!(log.topics().is_empty(), "{what}");
        let t = log
            .create_topic("orders", TopicConfig::default().partitions(3))
            .unwrap();
        log.create_topic("audit.log-v2", TopicConfig::default())
            .unwrap();
        assert_eq!(log.topics(), ["audit.log-v2", "orders"], "{what}");
        assert_eq!(t.name(), "orders");
        assert_eq!(t.partition_count(), 3);
        for p in 0..3 {
            let v = format!("p{p}");
            t.partition(p).unwrap().append(&[Record::new(&v)]).unwrap();
        }
        assert_eq!(values(&log, "orders", 1), [b"p1".to_vec()], "{what}");
        assert!(matches!(
            t.partition(3),
            Err(Error::UnknownPartition {
                partition: 3,
                partitions: 3,
                ..
            })
        ));

        assert_eq!(log.add_partitions("orders", 2).unwrap(), 5, "{what}");
        assert_eq!(
            t.partition_count(),
            5,
            "an existing handle sees new partitions"
        );
        assert_eq!(log.topic("orders").unwrap().config().partitions, 5);
        assert_eq!(t.partition(4).unwrap().high_watermark(), 0);
        assert_eq!(
            values(&log, "orders", 0),
            [b"p0".to_vec()],
            "old partitions keep their records"
        );

        let p0 = t.partition(0).unwrap();
        log.delete_topic("orders").unwrap();
        assert_eq!(log.topics(), ["audit.log-v2"], "{what}");
        assert!(matches!(
            log.topic("orders"),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            log.delete_topic("orders"),
            Err(Error::UnknownTopic { .. })
        ));
        // A handle to a deleted topic's partition says so.
        assert!(matches!(
            p0.append(&[Record::new(b"late")]),
            Err(Error::UnknownTopic { name }) if name == "orders"
        ));
        assert!(matches!(p0.read(0, 100), Err(Error::UnknownTopic { .. })));

        // The name is free again, and the new topic starts empty, with a
        // new id.
        let again = log.create_topic("orders", TopicConfig::default()).unwrap();
        assert_eq!(again.partition(0).unwrap().high_watermark(), 0, "{what}");
        assert_ne!(again.id(), t.id(), "{what}: a new incarnation");
    });
}

#[test]
fn topics_and_their_config_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let config = TopicConfig::default()
        .partitions(2)
        .segment_bytes(64 << 10)
        .retention_ms(None)
        .retention_bytes(Some(1 << 20))
        .cleanup_policy(CleanupPolicy::Compact)
        .sync(SyncPolicy::Os)
        .timestamp_type(TimestampType::LogAppendTime);
    {
        let log = Log::open(&dir).unwrap();
        let t = log.create_topic("state", config.clone()).unwrap();
        t.partition(1)
            .unwrap()
            .append(&[Record::new(b"kept").key(b"k")])
            .unwrap();
        log.create_topic("gone", TopicConfig::default()).unwrap();
        log.delete_topic("gone").unwrap();
        log.add_partitions("state", 1).unwrap();
        log.close().unwrap();
    }
    for clean in [true, false] {
        let log = Log::open(&dir).unwrap();
        assert_eq!(log.topics(), ["state"]);
        let t = log.topic("state").unwrap();
        assert_eq!(t.config(), config.clone().partitions(3));
        assert_eq!(values(&log, "state", 1), [b"kept".to_vec()]);
        assert_eq!(t.partition(2).unwrap().high_watermark(), 0);
        if clean {
            log.close().unwrap();
        } // else: dropped without close, like a crash.
    }
}

#[test]
fn illegal_names_and_configs_create_nothing() {
    on_both(|what, log| {
        let long = "x".repeat(250);
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "../escape",
            "a\\b",
            "nul\0byte",
            "ünïcode",
            "sp ace",
            "__internal",
            &long,
        ] {
            let err = log.create_topic(name, TopicConfig::default()).unwrap_err();
            assert!(
                matches!(err, Error::InvalidTopicName { .. }),
                "{what} {name:?}: {err}"
            );
        }
        let err = log
            .create_topic("zero", TopicConfig::default().partitions(0))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{what}: {err}");
        assert!(log.topics().is_empty(), "{what}");
        log.create_topic("once", TopicConfig::default()).unwrap();
        assert!(matches!(
            log.create_topic("once", TopicConfig::default().partitions(9)),
            Err(Error::TopicExists { .. })
        ));
        assert_eq!(log.topic("once").unwrap().partition_count(), 1, "{what}");
        assert!(matches!(
            log.add_partitions("once", 0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            log.add_partitions("nope", 1),
            Err(Error::UnknownTopic { .. })
        ));
    });
    // On disk: nothing outside topics/once was created by the failed calls.
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(tmp.path().join("log")).unwrap();
    let before = tree(tmp.path());
    for name in ["a/b", "../escape", "..", "x".repeat(250).as_str()] {
        assert!(log.create_topic(name, TopicConfig::default()).is_err());
    }
    assert!(log
        .create_topic("zero", TopicConfig::default().partitions(0))
        .is_err());
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn files_and_directories_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(tmp.path().join("log")).unwrap();
    log.create_topic("private", TopicConfig::default().partitions(2))
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"secret")])
        .unwrap();
    log.close().unwrap();
    let root = tmp.path().join("log");
    for rel in std::iter::once(PathBuf::new()).chain(tree(&root)) {
        let path = root.join(&rel);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{}", path.display());
    }
}

#[test]
fn damaged_metadata_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    log.create_topic("t", TopicConfig::default()).unwrap();
    log.close().unwrap();
    let meta = dir.join("topics/t/topic.properties");
    let good = std::fs::read(&meta).unwrap();
    // Faults: one flipped byte, a cut file, garbage, an empty file.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x20;
    for bad in [
        flipped,
        good[..good.len() / 3].to_vec(),
        vec![0xff; 300],
        Vec::new(),
    ] {
        std::fs::write(&meta, &bad).unwrap();
        match Log::open(&dir) {
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, meta),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    std::fs::write(&meta, &good).unwrap();
    assert_eq!(Log::open(&dir).unwrap().topics(), ["t"]);
}

#[test]
fn half_done_creations_are_cleaned_up_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    log.create_topic("t", TopicConfig::default().partitions(1))
        .unwrap();
    log.close().unwrap();
    // Fault: a crash inside create_topic, after the partitions were made but
    // before the metadata file (the commit point) was written.
    std::fs::create_dir_all(dir.join("topics/half/0")).unwrap();
    // Fault: a crash inside add_partitions, before its commit point.
    std::fs::create_dir_all(dir.join("topics/t/1")).unwrap();
    // Not samsa's: a directory whose name is no topic name is left alone.
    std::fs::create_dir_all(dir.join("topics/not a topic")).unwrap();
    let log = Log::open(&dir).unwrap();
    assert_eq!(log.topics(), ["t"]);
    assert_eq!(log.topic("t").unwrap().partition_count(), 1);
    assert!(!dir.join("topics/half").exists());
    assert!(!dir.join("topics/t/1").exists());
    assert!(dir.join("topics/not a topic").exists());
    // A missing partition of a committed topic is damage, not a fresh start.
    log.close().unwrap();
    std::fs::remove_dir_all(dir.join("topics/t/0")).unwrap();
    assert!(matches!(Log::open(&dir), Err(Error::Corrupt { .. })));
}

#[test]
fn closed_log_refuses_work_and_can_be_reopened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    let t = log.create_topic("t", TopicConfig::default()).unwrap();
    t.partition(0)
        .unwrap()
        .append(&[Record::new(b"x")])
        .unwrap();
    assert!(matches!(Log::open(&dir), Err(Error::Locked { .. })));
    log.close().unwrap();
    assert!(matches!(log.topic("t"), Err(Error::Closed { .. })));
    assert!(matches!(
        log.create_topic("u", TopicConfig::default()),
        Err(Error::Closed { .. })
    ));
    assert!(matches!(
        t.partition(0).unwrap().append(&[Record::new(b"y")]),
        Err(Error::Closed { .. })
    ));
    let log = Log::open(&dir).unwrap();
    assert_eq!(values(&log, "t", 0), [b"x".to_vec()]);
}

const CHILD_DIR_ENV: &str = "SAMSA_LOG_TOPICS_CHILD_DIR";

/// Not a test on its own: the child process of
/// `a_second_process_gets_locked`, a no-op unless the variable is set.
#[test]
fn child_opens_log() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    match Log::open(&dir) {
        Ok(_) => println!("CHILD-OUTCOME: opened"),
        Err(Error::Locked { .. }) => println!("CHILD-OUTCOME: locked"),
        Err(e) => println!("CHILD-OUTCOME: error {e}"),
    }
}

fn open_in_child(dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_opens_log",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-OUTCOME: ").map(|(_, o)| o.to_owned()))
        .unwrap_or_else(|| panic!("no outcome in {stdout}"))
}

#[test]
fn a_second_process_gets_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::open(&dir).unwrap();
    assert_eq!(open_in_child(&dir), "locked");
    log.close().unwrap();
    assert_eq!(open_in_child(&dir), "opened");
}

#[test]
fn altered_settings_apply_now_and_after_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::builder()
        .maintenance_interval(None)
        .open(&dir)
        .unwrap();
    let t = log
        .create_topic("t", TopicConfig::default().segment_bytes(1024))
        .unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..100 {
        p.append(&[Record::new(format!("value {i:04}")).key(b"k".to_vec())])
            .unwrap();
    }
    log.maintain().unwrap();
    assert_eq!(p.log_start_offset(), 0, "no limit yet");

    // Retention by size, at the next pass.
    let config = t.config().with_property("retention.bytes", "2048").unwrap();
    log.alter_topic_config("t", config).unwrap();
    log.maintain().unwrap();
    assert!(p.log_start_offset() > 0, "retention applied");

    // Compaction: records need keys at once.
    let config = t
        .config()
        .with_property("cleanup.policy", "compact")
        .unwrap();
    log.alter_topic_config("t", config).unwrap();
    assert!(matches!(
        p.append(&[Record::new(b"keyless".to_vec())]),
        Err(Error::KeyRequired { .. })
    ));

    // Not the partition count, not out of range, not an internal topic.
    let more = t.config().partitions(2);
    assert!(matches!(
        log.alter_topic_config("t", more),
        Err(Error::InvalidConfig(_))
    ));
    let mut bad = t.config();
    bad.segment_bytes = 1;
    assert!(matches!(
        log.alter_topic_config("t", bad),
        Err(Error::InvalidConfig(_))
    ));
    assert!(log
        .alter_topic_config("__consumer_offsets", TopicConfig::default())
        .is_err());
    log.close().unwrap();

    let log = Log::open(&dir).unwrap();
    let config = log.topic("t").unwrap().config();
    assert_eq!(config.retention_bytes, Some(2048));
    assert_eq!(config.cleanup_policy, CleanupPolicy::Compact);
}
