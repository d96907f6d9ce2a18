//! Scenario: one bit of a batch flips on disk (media error, stray write).
//! Damage is never returned as data and never "repaired" by dropping
//! acknowledged records: in a sealed segment it is reported when read; in
//! the middle of the active segment it fails the open; only in the last
//! batch of the active segment, with nothing valid after it, is it
//! indistinguishable from a torn write and truncated.

mod common;

use common::*;
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::{Error, Partition};
use std::path::{Path, PathBuf};

const SEED: u64 = 0xb17_f11b;

/// Segment size for the sealed-segment scenario: room for the largest
/// generated batch (three records of up to 5 KB).
const SEALED_SEGMENT_BYTES: u64 = 16 << 10;

fn config() -> PartitionConfig {
    PartitionConfig::default()
        .sync(SyncPolicy::Os)
        .compression_type(test_compression())
}

/// A log of `batches` appends (1 to 3 records each), closed cleanly or
/// dropped, and where each batch landed.
fn build(
    config: PartitionConfig,
    batches: usize,
    clean: bool,
) -> (tempfile::TempDir, PathBuf, Vec<BatchLoc>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config).unwrap();
    let locs = (0..batches)
        .map(|i| append_gen_located(&p, SEED, 1 + (i as u64 * 7) % 3))
        .collect();
    if clean {
        p.close().unwrap();
    } else {
        drop(p);
    }
    (tmp, dir, locs)
}

/// Which bytes of a batch a test damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// Every byte of the 57-byte header but the base offset, then about
    /// `body_flips` bytes spread over the records; bit `byte % 8` of each.
    Checked { body_flips: u64 },
    /// Every bit of the base offset field (bytes 0..8), which lies outside
    /// the CRC: the log assigns it after the batch is encoded.
    BaseOffset,
}

/// The `(byte, bit)` flips of `region` in a batch of `len` bytes.
fn flips(region: Region, len: u64) -> Vec<(u64, u8)> {
    match region {
        Region::BaseOffset => (0..8)
            .flat_map(|b| (0..8).map(move |bit| (b, bit)))
            .collect(),
        Region::Checked { body_flips } => {
            let step = ((len - 57) / body_flips).max(1) as usize;
            (8..57)
                .chain((57..len).step_by(step))
                .chain(std::iter::once(len - 1))
                .map(|b| (b, (b % 8) as u8))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        }
    }
}

/// Runs one case per flip, and fails at the end listing every failing case
/// (not only the first), so a report shows the whole pattern.
fn run_cases<T: Copy>(cases: Vec<(T, (u64, u8))>, mut case: impl FnMut(T, (u64, u8))) {
    let mut failures = Vec::new();
    for (what, flip) in cases {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(what, flip)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checks a read at `from` returned only true records: dense from `from`,
/// each byte-identical to what was appended.
fn assert_true_records(r: &samsa_log::record::Records, from: u64, ctx: &str) {
    for (want, rec) in (from..).zip(r) {
        assert_eq!(
            rec.offset(),
            want,
            "{ctx}: read at {from} skipped or repeated an offset"
        );
        assert_eq!(
            Rec::from_ref(&rec),
            gen_rec(SEED, want),
            "{ctx}: wrong data at {want}"
        );
    }
}

fn assert_corrupt_at(err: &Error, path: &Path, position: u64, ctx: &str) {
    match err {
        Error::Corrupt {
            path: p,
            position: at,
            ..
        } => {
            assert_eq!(p, path, "{ctx}: Corrupt names the wrong file: {err}");
            assert_eq!(
                *at, position,
                "{ctx}: Corrupt names the wrong position: {err}"
            );
        }
        other => panic!("{ctx}: expected Error::Corrupt, got {other:?}"),
    }
}

/// Fault: a bit flips inside a batch of a sealed segment, after a clean
/// close. Open must succeed (sealed segments are not scanned); every read
/// of the damaged batch's offsets is `Error::Corrupt` naming the segment's
/// log file and the batch's position; every other read returns true
/// records or (inside the damaged segment only) `Corrupt`, never wrong data.
fn sealed_segment_flip(region: Region) {
    let (_tmp, dir, locs) = build(config().segment_bytes(SEALED_SEGMENT_BYTES), 120, true);
    let hw = locs.last().unwrap().last_offset + 1;
    // A sealed segment with at least three batches; damage its first,
    // a middle and its last batch.
    let segment = locs
        .iter()
        .map(|l| l.segment_base)
        .find(|&b| {
            b != locs.last().unwrap().segment_base
                && locs.iter().filter(|l| l.segment_base == b).count() >= 3
        })
        .expect("fixture has a sealed segment of three batches");
    let in_segment: Vec<BatchLoc> = locs
        .iter()
        .copied()
        .filter(|l| l.segment_base == segment)
        .collect();
    let body = |n| match region {
        Region::Checked { .. } => Region::Checked { body_flips: n },
        r => r,
    };
    let targets = [
        (in_segment[0], body(20)),
        (in_segment[in_segment.len() / 2], region),
        (*in_segment.last().unwrap(), body(20)),
    ];
    let scratch = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (batch, region) in targets {
        cases.extend(
            flips(region, batch.end - batch.start)
                .into_iter()
                .map(|f| (batch, f)),
        );
    }
    run_cases(cases, |batch, (byte, bit)| {
        let ctx = format!(
            "bit {bit} of byte {byte} of the batch at {}..{} (offsets {}..={}) of sealed segment {segment}",
            batch.start, batch.end, batch.base_offset, batch.last_offset
        );
        let copy = scratch.path().join(format!("{}-{byte}-{bit}", batch.start));
        copy_dir(&dir, &copy);
        let log = segment_file(&copy, segment, "log");
        flip_bit(&log, batch.start + byte, bit);

        let p = Partition::open(&copy, config().segment_bytes(SEALED_SEGMENT_BYTES))
            .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        assert_eq!(p.high_watermark(), hw, "{ctx}");
        for o in batch.base_offset..=batch.last_offset {
            for max_bytes in [1, 1 << 20] {
                match p.read(o, max_bytes) {
                    Ok(r) => panic!(
                        "{ctx}: read at damaged offset {o} returned {} records, offsets {:?}",
                        r.len(),
                        r.iter().map(|r| r.offset()).collect::<Vec<_>>()
                    ),
                    Err(e) => assert_corrupt_at(&e, &log, batch.start, &ctx),
                }
            }
        }
        for o in 0..hw {
            let in_damaged_segment = in_segment
                .iter()
                .any(|l| (l.base_offset..=l.last_offset).contains(&o));
            match p.read(o, 4096) {
                Ok(r) => assert_true_records(&r, o, &ctx),
                Err(Error::Corrupt { path, .. }) if in_damaged_segment => {
                    assert_eq!(path, log, "{ctx}");
                }
                Err(e) => panic!("{ctx}: read at {o} outside the damage failed: {e}"),
            }
        }
        p.close().unwrap();
        std::fs::remove_dir_all(&copy).unwrap();
    });
}

#[test]
fn sealed_segment_flip_is_corrupt_on_read() {
    sealed_segment_flip(Region::Checked { body_flips: 100 });
}

#[test]
fn sealed_segment_flip_in_the_base_offset_is_corrupt_on_read() {
    sealed_segment_flip(Region::BaseOffset);
}

/// Fault: a bit flips in a batch in the middle of the active segment, then
/// the process dies (no clean-shutdown marker). Valid batches follow the
/// damage, so it is not a torn tail: open fails with `Error::Corrupt` at the
/// batch, and nothing is truncated or rewritten (a second open fails alike).
fn active_segment_middle_flip(region: Region) {
    let (_tmp, dir, locs) = build(config(), 8, false);
    let batch = locs[3];
    assert_eq!(batch.segment_base, 0);
    let scratch = tempfile::tempdir().unwrap();
    let cases = flips(region, batch.end - batch.start);
    run_cases(
        cases.into_iter().map(|f| ((), f)).collect(),
        |(), (byte, bit)| {
            let ctx = format!(
                "bit {bit} of byte {byte} of the batch at {}..{}",
                batch.start, batch.end
            );
            let copy = scratch.path().join(format!("{byte}-{bit}"));
            copy_dir(&dir, &copy);
            let log = segment_file(&copy, 0, "log");
            flip_bit(&log, batch.start + byte, bit);
            let damaged = std::fs::read(&log).unwrap();
            for attempt in 0..2 {
                match Partition::open(&copy, config()) {
                    Ok(p) => panic!(
                        "{ctx}: open #{attempt} succeeded with HW {} (log now {} of {} bytes)",
                        p.high_watermark(),
                        file_len(&log),
                        damaged.len()
                    ),
                    // A raised base offset looks like a gap between batches
                    // until the next batch's offsets contradict it, so the
                    // damage may be reported at the batch after it.
                    Err(Error::Corrupt { position, .. })
                        if region == Region::BaseOffset && position == batch.end => {}
                    Err(e) => assert_corrupt_at(&e, &log, batch.start, &ctx),
                }
                assert!(
                    std::fs::read(&log).unwrap() == damaged,
                    "{ctx}: open #{attempt} changed the log"
                );
            }
            std::fs::remove_dir_all(&copy).unwrap();
        },
    );
}

#[test]
fn active_segment_middle_flip_fails_open() {
    active_segment_middle_flip(Region::Checked { body_flips: 200 });
}

#[test]
fn active_segment_middle_flip_in_the_base_offset_fails_open() {
    active_segment_middle_flip(Region::BaseOffset);
}

/// Fault: a bit flips in the active segment after a clean close, so the
/// marker vouches for the segment and open does not scan it. The damage
/// must surface as `Error::Corrupt` when the batch is read.
#[test]
fn active_segment_flip_after_clean_close_is_corrupt_on_read() {
    let (_tmp, dir, locs) = build(config(), 8, true);
    let batch = locs[3];
    let scratch = tempfile::tempdir().unwrap();
    for (byte, bit) in flips(Region::Checked { body_flips: 20 }, batch.end - batch.start) {
        let ctx = format!(
            "bit {bit} of byte {byte} of the batch at {}..{}",
            batch.start, batch.end
        );
        let copy = scratch.path().join("copy");
        copy_dir(&dir, &copy);
        let log = segment_file(&copy, 0, "log");
        flip_bit(&log, batch.start + byte, bit);
        let p = Partition::open(&copy, config()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        for o in batch.base_offset..=batch.last_offset {
            match p.read(o, 1 << 20) {
                Ok(r) => panic!(
                    "{ctx}: read at damaged offset {o} returned {} records",
                    r.len()
                ),
                Err(e) => assert_corrupt_at(&e, &log, batch.start, &ctx),
            }
        }
        for o in 0..batch.base_offset {
            let r = p
                .read(o, 1 << 20)
                .unwrap_or_else(|e| panic!("{ctx}: read at {o}: {e}"));
            assert_true_records(&r, o, &ctx);
        }
        drop(p);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

/// Fault: a bit flips in the LAST batch of the active segment, then the
/// process dies. Nothing valid follows the damage, so recovery cannot tell
/// it from a write torn by the crash and truncates the batch: this is the
/// expected outcome (that batch may never have been acknowledged; under
/// `SyncPolicy::Always` a flip in synced data is outside the crash model).
/// The batches before it survive byte-identical.
fn active_segment_last_batch_flip(region: Region) {
    let (_tmp, dir, locs) = build(config(), 6, false);
    let last = *locs.last().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cases = flips(region, last.end - last.start);
    run_cases(
        cases.into_iter().map(|f| ((), f)).collect(),
        |(), (byte, bit)| {
            let ctx = format!(
                "bit {bit} of byte {byte} of the last batch at {}..{}",
                last.start, last.end
            );
            let copy = scratch.path().join(format!("{byte}-{bit}"));
            copy_dir(&dir, &copy);
            let log = segment_file(&copy, 0, "log");
            flip_bit(&log, last.start + byte, bit);
            let p = Partition::open(&copy, config()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(p.high_watermark(), last.base_offset, "{ctx}: HW");
            assert_eq!(
                file_len(&log),
                last.start,
                "{ctx}: the damaged batch was not cut off"
            );
            assert_gen_log(&p, SEED, &ctx);
            let info = append_gen(&p, SEED, 1).unwrap();
            assert_eq!(info.base_offset, last.base_offset, "{ctx}");
            drop(p);
            let p =
                Partition::open(&copy, config()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            assert_eq!(p.high_watermark(), last.base_offset + 1, "{ctx}");
            assert_gen_log(&p, SEED, &ctx);
            drop(p);
            std::fs::remove_dir_all(&copy).unwrap();
        },
    );
}

#[test]
fn active_segment_last_batch_flip_is_a_torn_tail() {
    active_segment_last_batch_flip(Region::Checked { body_flips: 200 });
}

#[test]
fn active_segment_last_batch_flip_in_the_base_offset_is_a_torn_tail() {
    active_segment_last_batch_flip(Region::BaseOffset);
}
