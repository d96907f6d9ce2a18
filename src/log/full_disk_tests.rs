//! A full disk: no file can be created or grown (ENOSPC), everything else
//! works. What frees space must work then: retention, `delete_records` to
//! a segment boundary and `delete_topic` write nothing before they delete.
//! Appends fail with a typed error and lose nothing, and go on once space
//! is back. (The real-file-system version of this is
//! `tests/full_filesystem.rs`.)

use super::Log;
use crate::error::Error;
use crate::partition::PartitionHealth;
use crate::record::Record;
use crate::storage::faulty::{FaultyStorage, Op};
use crate::storage::MemStorage;
use crate::topic::TopicConfig;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

fn fill(faulty: &FaultyStorage) {
    faulty.arm(Op::Create, ErrorKind::StorageFull);
    faulty.arm(Op::Write, ErrorKind::StorageFull);
}

fn setup() -> (FaultyStorage, Log) {
    let faulty = FaultyStorage::new(Arc::new(MemStorage::default()));
    let log = Log::open_with(
        Arc::new(faulty.clone()),
        Path::new("/log"),
        Log::builder().maintenance_interval(None),
    )
    .unwrap();
    let config = TopicConfig::default()
        .segment_bytes(1024)
        .retention_bytes(Some(4096));
    for name in ["big", "doomed"] {
        let t = log.create_topic(name, config.clone()).unwrap();
        let p = t.partition(0).unwrap();
        for i in 0..40u32 {
            p.append(&[Record::new(&[i as u8; 200][..])]).unwrap();
        }
        assert!(p.segments().unwrap().len() > 5);
    }
    (faulty, log)
}

#[test]
fn retention_deletes_on_a_full_disk() {
    let (faulty, log) = setup();
    let p = log.topic("big").unwrap().partition(0).unwrap();
    let hw = p.high_watermark();
    fill(&faulty);
    // Appends fail, typed, and the partition stays healthy.
    let err = p.append(&[Record::new(&[0u8; 200][..])]).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == ErrorKind::StorageFull),
        "{err}"
    );
    assert_eq!(p.health(), PartitionHealth::Healthy);
    // Retention by size, at 0 bytes free.
    let deleted = p.enforce_retention(None, Some(1)).unwrap();
    assert!(deleted.segments > 3, "{deleted:?}");
    assert!(p.log_start_offset() > 0);
    // delete_records to a segment boundary writes nothing either.
    let bases: Vec<u64> = p
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.base_offset())
        .collect();
    if bases.len() > 1 {
        p.delete_records(bases[1]).unwrap();
        assert_eq!(p.log_start_offset(), bases[1]);
    }
    // Inside a segment it needs the checkpoint: a typed error, and the
    // start stays at the segment boundary.
    let inside = p.log_start_offset() + 1;
    if inside < hw {
        let before = p.log_start_offset();
        assert!(matches!(p.delete_records(inside), Err(Error::Io { .. })));
        assert_eq!(p.log_start_offset(), before);
    }
    faulty.disarm();
    p.append(&[Record::new(b"after")]).unwrap();
    assert_eq!(p.high_watermark(), hw + 1);
    log.close().unwrap();
}

#[test]
fn maintain_and_delete_topic_free_space_on_a_full_disk() {
    let (faulty, log) = setup();
    fill(&faulty);
    // The log's own pass (retention by size: 4 KiB a partition).
    let report = log.maintain().unwrap();
    assert!(report.segments_deleted >= 4, "{report:?}");
    // delete_topic is all or nothing and needs no space.
    log.delete_topic("doomed").unwrap();
    assert_eq!(log.topics(), ["big"]);
    assert!(matches!(
        log.topic("doomed"),
        Err(Error::UnknownTopic { .. })
    ));
    // Creating needs space: refused, typed, and the name stays free.
    assert!(log.create_topic("doomed", TopicConfig::default()).is_err());
    assert_eq!(log.topics(), ["big"]);
    faulty.disarm();
    log.create_topic("doomed", TopicConfig::default()).unwrap();
    log.close().unwrap();
}
