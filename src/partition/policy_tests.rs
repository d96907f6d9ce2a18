//! Tests of rolling triggers and sync policies, through the storage seam
//! (in-memory files that remember what was synced). I/O faults are in
//! `recovery_tests`.

use super::*;

fn mem(config: PartitionConfig) -> (MemStorage, Partition) {
    let m = MemStorage::default();
    let p = Partition::open_with(Arc::new(m.clone()), Path::new("/p"), config).unwrap();
    (m, p)
}

fn active_log(p: &Partition) -> PathBuf {
    let a = p.segments().unwrap().last().unwrap().base_offset();
    p.dir().join(crate::segment::log_file_name(a))
}

#[test]
fn rolls_when_the_active_segment_is_older_than_segment_ms() {
    let (_, p) = mem(PartitionConfig::default().segment_ms(1));
    p.append(&[Record::new(b"a")]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    p.append(&[Record::new(b"b")]).unwrap();
    let segs = p.segments().unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1].base_offset(), 1);
}

#[test]
fn rolls_when_an_index_is_full() {
    // Interval 0: every batch after the first adds an index entry; 64 bytes
    // hold 8 offset entries and 5 time entries.
    let (_, p) = mem(PartitionConfig::default()
        .index_interval_bytes(0)
        .index_max_bytes(64));
    for i in 0..30 {
        p.append(&[Record::new(b"v").timestamp(i)]).unwrap();
    }
    let segs = p.segments().unwrap();
    assert!(segs.len() >= 5, "{segs:?}");
    for (i, r) in (0..30).zip(p.read(0, 1 << 20).unwrap().iter()) {
        assert_eq!(r.offset(), i);
    }
}

#[test]
fn always_syncs_before_acknowledging() {
    let (m, p) = mem(PartitionConfig::default());
    for _ in 0..5 {
        p.append(&[Record::new(&[3u8; 100])]).unwrap();
        let (synced, len) = m.sync_state(&active_log(&p)).unwrap();
        assert_eq!(synced, len);
    }
}

#[test]
fn interval_syncs_once_enough_bytes_were_appended() {
    let (m, p) = mem(PartitionConfig::default().sync(SyncPolicy::Interval { ms: 0, bytes: 1000 }));
    let v = [1u8; 600];
    p.append(&[Record::new(&v)]).unwrap();
    let (synced, len) = m.sync_state(&active_log(&p)).unwrap();
    assert!(synced < len, "synced early");
    assert_eq!(p.high_watermark(), 1, "acknowledged records are readable");
    p.append(&[Record::new(&v)]).unwrap();
    let (synced, len) = m.sync_state(&active_log(&p)).unwrap();
    assert_eq!(synced, len);
}

#[test]
fn os_policy_syncs_only_on_flush() {
    let (m, p) = mem(PartitionConfig::default().sync(SyncPolicy::Os));
    for _ in 0..10 {
        p.append(&[Record::new(&[0u8; 500])]).unwrap();
    }
    assert_eq!(m.sync_state(&active_log(&p)).unwrap().0, 0);
    p.flush().unwrap();
    let (synced, len) = m.sync_state(&active_log(&p)).unwrap();
    assert_eq!(synced, len);
}

#[test]
fn log_append_time_replaces_record_timestamps_and_never_goes_back() {
    let (_, p) = mem(PartitionConfig::default().timestamp_type(TimestampType::LogAppendTime));
    let before = crate::clock::now_ms();
    let a = p
        .append(&[
            Record::new(b"a").timestamp(5),
            Record::new(b"b").timestamp(1),
        ])
        .unwrap();
    let b = p.append(&[Record::new(b"c").timestamp(3)]).unwrap();
    assert!(a.max_timestamp >= before);
    assert!(b.max_timestamp >= a.max_timestamp);
    let times: Vec<i64> = p
        .read(0, 1 << 20)
        .unwrap()
        .iter()
        .map(|r| r.timestamp())
        .collect();
    assert_eq!(times, [a.max_timestamp, a.max_timestamp, b.max_timestamp]);
    assert_eq!(
        p.offset_for_timestamp(b.max_timestamp)
            .unwrap()
            .map(|t| t.offset),
        Some(if b.max_timestamp == a.max_timestamp {
            0
        } else {
            2
        })
    );
}
