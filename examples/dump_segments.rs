//! A small `kafka-dump-log`: lists a partition's segments, verifies each
//! (every batch's CRC, the indexes against the log) and prints its
//! batches.
//!
//! ```sh
//! cargo run --example dump_segments -- <partition directory>
//! ```
//!
//! Without an argument it dumps a partition it makes in a temporary
//! directory. The partition must not be open elsewhere (its lock is taken).

use samsa_log::partition::PartitionConfig;
use samsa_log::{Partition, Record, Segment};

fn main() -> samsa_log::Result<()> {
    let tmp;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            tmp = tempfile::tempdir().expect("a temporary directory");
            let dir = tmp.path().join("p");
            let p = Partition::open(&dir, PartitionConfig::default().segment_bytes(1024))?;
            for i in 0..20i64 {
                let value = format!("record {i} ").repeat(8);
                p.append(&[Record::new(&value).timestamp(i)])?;
            }
            p.close()?;
            dir
        }
    };
    let p = Partition::open(&dir, PartitionConfig::default())?;
    for segment in p.segments()? {
        dump(&segment)?;
    }
    p.close()
}

fn dump(segment: &Segment) -> samsa_log::Result<()> {
    let report = segment.verify()?;
    println!(
        "{}: offsets {}..{}, {} bytes, {} batches, {} records, max timestamp {:?}{}",
        segment.files().log.display(),
        segment.base_offset(),
        segment.next_offset(),
        segment.size_bytes(),
        report.batches,
        report.records,
        segment.max_timestamp()?,
        if segment.is_active() { " (active)" } else { "" },
    );
    if let Some(bad) = &report.first_bad_batch {
        println!("  damaged batch at byte {}: {}", bad.position, bad.reason);
    }
    for m in &report.index_mismatches {
        println!("  {} entry {:?}: {}", m.index, m.entry, m.reason);
    }
    let mut at = segment.base_offset();
    while let Some(batch) = segment.lookup_offset(at)? {
        if report
            .first_bad_batch
            .as_ref()
            .is_some_and(|b| batch.position >= b.position)
        {
            break;
        }
        println!(
            "  batch at byte {}: offsets {}..={}, {} bytes, max timestamp {}",
            batch.position,
            batch.base_offset,
            batch.last_offset,
            batch.size_bytes,
            batch.max_timestamp
        );
        at = batch.last_offset + 1;
    }
    Ok(())
}
