//! Scenario: the process died in the middle of writing the last batch (or
//! the file system grew the file without its data), leaving a torn tail on
//! the active segment. Reopening must truncate exactly the torn bytes, keep
//! every whole batch before them, and carry on appending.

mod common;

use common::*;
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::Partition;
use std::path::Path;

const SEED: u64 = 0x7041_1a11;

/// Batch sizes (records per append) of the intact log; the last batch is
/// the one torn. It has several records with keys, headers and values, so
/// cuts land in every kind of field.
const BATCHES: &[u64] = &[1, 3, 2, 5, 1, 4];

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    /// Where each batch landed.
    locs: Vec<BatchLoc>,
}

/// A partition with `BATCHES` appended, dropped without close (no clean
/// shutdown marker, no active index files), so the next open scans the
/// active segment. With `segment_bytes`, earlier batches are in sealed
/// segments and the torn active segment has a non-zero base offset.
fn fixture(config: PartitionConfig) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config).unwrap();
    let locs = BATCHES
        .iter()
        .map(|&n| append_gen_located(&p, SEED, n))
        .collect();
    drop(p);
    Fixture {
        _tmp: tmp,
        dir,
        locs,
    }
}

fn config() -> PartitionConfig {
    // Syncing is not what is under test here; Os keeps the many reopens fast
    // (open still syncs what it recovered).
    PartitionConfig::default()
        .sync(SyncPolicy::Os)
        .compression_type(test_compression())
}

/// Reopens a damaged copy and checks: the high watermark is `intact_hw`,
/// the log file was cut back to `intact_len`, every intact record reads back
/// byte-identical, a new append gets offset `intact_hw`, and a further
/// reopen (clean or not) shows the same log plus the new record.
fn check_recovery(dir: &Path, log: &Path, intact_hw: u64, intact_len: u64, clean: bool, ctx: &str) {
    let p = Partition::open(dir, config()).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    assert_eq!(p.high_watermark(), intact_hw, "{ctx}: high watermark");
    assert_eq!(p.log_end_offset(), intact_hw, "{ctx}: log end offset");
    assert_eq!(
        file_len(log),
        intact_len,
        "{ctx}: torn bytes were not cut off"
    );
    assert_gen_log(&p, SEED, ctx);

    let info = append_gen(&p, SEED, 1).unwrap_or_else(|e| panic!("{ctx}: append failed: {e}"));
    assert_eq!(
        info.base_offset, intact_hw,
        "{ctx}: next offset after recovery"
    );
    if clean {
        p.close().unwrap();
    } else {
        drop(p);
    }

    let p = Partition::open(dir, config()).unwrap_or_else(|e| panic!("{ctx}: 2nd reopen: {e}"));
    assert_eq!(
        p.high_watermark(),
        intact_hw + 1,
        "{ctx}: HW after 2nd reopen"
    );
    assert_gen_log(&p, SEED, &format!("{ctx}, 2nd reopen"));
    p.close().unwrap();
}

/// Fault: the last batch's write stopped after `cut - start` bytes, for
/// every cut from the batch's first byte to its last.
fn every_cut_inside_the_last_batch(config: PartitionConfig) {
    let f = fixture(config);
    let last = *f.locs.last().unwrap();
    let log = segment_file(&f.dir, last.segment_base, "log");
    // The file may go on past the log with the zeros reserved ahead of it
    // (docs/FORMAT.md); the cuts below remove them with the torn bytes.
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.len() as u64 >= last.end, "fixture layout");
    assert!(
        bytes[last.end as usize..].iter().all(|&b| b == 0),
        "fixture layout"
    );
    let scratch = tempfile::tempdir().unwrap();
    for cut in last.start..last.end {
        let dir = scratch.path().join(format!("cut-{cut}"));
        copy_dir(&f.dir, &dir);
        let log = segment_file(&dir, last.segment_base, "log");
        set_len(&log, cut);
        let ctx = format!("cut at byte {cut} of {}..{}", last.start, last.end);
        check_recovery(&dir, &log, last.base_offset, last.start, cut % 2 == 0, &ctx);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn cut_anywhere_in_the_last_batch_of_a_single_segment() {
    every_cut_inside_the_last_batch(config());
}

#[test]
fn cut_anywhere_in_the_last_batch_after_rolls() {
    // Small segments: earlier batches are sealed; the torn active segment
    // starts at a non-zero offset.
    let f = fixture(config().segment_bytes(1024));
    assert!(f.locs.last().unwrap().segment_base > 0, "fixture must roll");
    drop(f);
    every_cut_inside_the_last_batch(config().segment_bytes(1024));
}

/// Fault: the file grew by `extra` bytes whose data never arrived (zeros),
/// after every batch was written whole.
#[test]
fn zero_filled_tail_is_cut_off() {
    for segment_bytes in [1 << 30, 1024] {
        let f = fixture(config().segment_bytes(segment_bytes));
        let last = *f.locs.last().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        for (i, extra) in [1u64, 56, 57, 100, 4096, 64 << 10].into_iter().enumerate() {
            let dir = scratch.path().join(format!("zeros-{extra}"));
            copy_dir(&f.dir, &dir);
            let log = segment_file(&dir, last.segment_base, "log");
            set_len(&log, last.end + extra);
            let ctx = format!("{extra} zero bytes after the log (segment_bytes {segment_bytes})");
            check_recovery(&dir, &log, last.last_offset + 1, last.end, i % 2 == 0, &ctx);
        }
    }
}

/// Fault: random bytes after the last whole batch (a torn write of a batch
/// whose header never made it, or stale blocks).
#[test]
fn garbage_tail_is_cut_off() {
    let f = fixture(config());
    let last = *f.locs.last().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    for (i, extra) in [1usize, 12, 13, 56, 57, 58, 300, 5000, 64 << 10]
        .into_iter()
        .enumerate()
    {
        let dir = scratch.path().join(format!("garbage-{extra}"));
        copy_dir(&f.dir, &dir);
        let log = segment_file(&dir, last.segment_base, "log");
        let mut junk = vec![0u8; extra];
        rng.fill(&mut junk);
        append_bytes(&log, &junk);
        let ctx = format!("{extra} garbage bytes after the log");
        check_recovery(&dir, &log, last.last_offset + 1, last.end, i % 2 == 0, &ctx);
    }
}

/// Fault: the tail holds the first part of a real batch header (base
/// offset, length and magic of a plausible next batch) and then stops or
/// turns to zeros: the shape of a write torn after its first sector.
#[test]
fn plausible_header_then_nothing_is_cut_off() {
    let f = fixture(config());
    let last = *f.locs.last().unwrap();
    let log = segment_file(&f.dir, last.segment_base, "log");
    let bytes = std::fs::read(&log).unwrap();
    // The last batch's own bytes, re-labelled with the next base offset.
    let mut next = bytes[last.start as usize..last.end as usize].to_vec();
    next[..8].copy_from_slice(&(last.last_offset + 1).to_le_bytes());
    // Zeros after a prefix that already holds every non-zero byte of the
    // batch would complete it into a valid batch: not a torn tail.
    let whole_below = next.iter().rposition(|&b| b != 0).unwrap() + 1;
    let scratch = tempfile::tempdir().unwrap();
    for (i, keep) in [8usize, 13, 17, 57, next.len() - 1].into_iter().enumerate() {
        for zeros in [0usize, 4096] {
            if zeros > 0 && keep >= whole_below {
                continue;
            }
            let dir = scratch.path().join(format!("header-{keep}-{zeros}"));
            copy_dir(&f.dir, &dir);
            let log = segment_file(&dir, last.segment_base, "log");
            append_bytes(&log, &next[..keep]);
            append_bytes(&log, &vec![0u8; zeros]);
            let ctx = format!("{keep} bytes of a next batch then {zeros} zeros");
            check_recovery(&dir, &log, last.last_offset + 1, last.end, i % 2 == 0, &ctx);
        }
    }
}
