//! Producer state snapshot files, through the public API: written at roll
//! (a close puts the state in the clean-shutdown marker), at most two kept,
//! and never fatal when damaged or missing.
//! (Duplicates, fencing and sequences are tested inside the crate, in
//! `src/partition/idempotence_tests.rs`, where batches can carry producer
//! fields.)

mod common;

use samsa_log::partition::PartitionConfig;
use samsa_log::{Partition, Record};
use std::fs;
use std::path::Path;

/// The offsets named by the snapshot files in `dir`, ascending.
fn snapshots(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".snapshot")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

fn snapshot_path(dir: &Path, offset: u64) -> std::path::PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

fn fill(p: &Partition, n: usize) {
    for i in 0..n {
        let v = format!("value-{i:04}");
        p.append(&[Record::new(&v)]).unwrap();
    }
}

fn config() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .compression_type(common::test_compression())
}

#[test]
fn snapshots_are_written_at_roll_and_pruned_and_a_close_puts_the_state_in_the_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = Partition::open(dir, config()).unwrap();
    assert!(snapshots(dir).is_empty());
    fill(&p, 100);
    let segments = p.segments().unwrap();
    assert!(segments.len() > 3);
    let bases: Vec<u64> = segments.iter().map(|s| s.base_offset()).collect();
    assert_eq!(snapshots(dir), bases[bases.len() - 2..]);
    p.close().unwrap();
    // The state as of the log end goes into the marker, not a new file.
    assert_eq!(snapshots(dir), bases[bases.len() - 2..]);
    let marker = fs::read(dir.join(".clean_shutdown")).unwrap();
    assert!(marker.len() > 33, "{} bytes", marker.len());
}

#[test]
fn damaged_or_missing_snapshots_do_not_stop_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = Partition::open(dir, config()).unwrap();
    fill(&p, 100);
    p.close().unwrap();
    let snaps = snapshots(dir);
    let intact = fs::read(snapshot_path(dir, snaps[1])).unwrap();

    // Without the marker (which carries the state), open reads the
    // snapshots: garbage in the newest, the older one gone.
    fs::remove_file(dir.join(".clean_shutdown")).unwrap();
    fs::write(snapshot_path(dir, snaps[1]), b"not a snapshot").unwrap();
    fs::remove_file(snapshot_path(dir, snaps[0])).unwrap();
    let p = Partition::open(dir, config()).unwrap();
    assert_eq!(p.high_watermark(), 100);
    assert!(snapshots(dir).is_empty(), "the damaged snapshot is deleted");
    fill(&p, 1);
    p.close().unwrap();

    // A snapshot named past the end of the log is deleted at open, after a
    // clean close too.
    fs::write(snapshot_path(dir, 500), &intact).unwrap();
    let p = Partition::open(dir, config()).unwrap();
    assert!(!snapshots(dir).contains(&500));
    let mut values = Vec::new();
    let mut at = 95;
    while at < p.high_watermark() {
        let r = p.read(at, 1 << 20).unwrap();
        values.extend(r.iter().map(|r| r.value().unwrap().to_vec()));
        at = r.next_offset();
    }
    assert_eq!(values.len(), 6);
    assert_eq!(values[0], b"value-0095");
    p.close().unwrap();
}
