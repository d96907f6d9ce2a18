//! Space on disk: 100-byte records in batches of 1,000 cost at most 10%
//! over their values, counting every file of the partition's directory
//! (log, indexes, markers). Deterministic: sizes, not timings.

use samsa_log::partition::PartitionConfig;
use samsa_log::{Partition, Record};

const VALUE_BYTES: usize = 100;
const BATCH: usize = 1000;
const RECORDS: usize = 100_000;
/// At most this many bytes on disk per byte of value.
const MAX_RATIO: f64 = 1.10;

#[test]
fn hundred_byte_records_cost_at_most_ten_percent_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    let value: Vec<u8> = (0..VALUE_BYTES).map(|i| (i * 31 + 7) as u8).collect();
    let batch: Vec<Record<'_>> = (0..BATCH).map(|_| Record::new(&value)).collect();

    let p = Partition::open(&path, PartitionConfig::default()).unwrap();
    for _ in 0..RECORDS / BATCH {
        p.append(&batch).unwrap();
    }
    assert_eq!(p.high_watermark(), RECORDS as u64);
    p.close().unwrap();
    drop(p);

    let mut on_disk = 0u64;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap();
        let len = entry.metadata().unwrap().len();
        files.push(format!("{}={len}", entry.file_name().to_string_lossy()));
        on_disk += len;
    }
    files.sort();
    let payload = (RECORDS * VALUE_BYTES) as u64;
    let ratio = on_disk as f64 / payload as f64;
    println!(
        "on disk {on_disk} bytes for {payload} bytes of values: ratio {ratio:.4} ({})",
        files.join(", ")
    );
    assert!(
        ratio <= MAX_RATIO,
        "on-disk / payload = {ratio:.4} > {MAX_RATIO} ({})",
        files.join(", ")
    );
}
