//! Scenario: index files are damaged, lost or lying while the log itself
//! is intact. Indexes are derived data: whatever state they are in, every
//! record must read back correctly and time lookups must answer as a
//! linear scan of the log would. Damage is injected into a sealed segment's
//! index files, and into the active segment's after a clean close (the
//! clean-shutdown marker present, so open would otherwise trust them).

mod common;

use common::*;
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::Partition;
use std::fs;
use std::path::{Path, PathBuf};

const SEED: u64 = 0x1dec_5eed;

fn config() -> PartitionConfig {
    // Segments hold the largest generated batch (three records of up to
    // 5 KB); a small index interval gives every segment many entries.
    PartitionConfig::default()
        .segment_bytes(16 << 10)
        .index_interval_bytes(256)
        .sync(SyncPolicy::Os)
        .compression_type(test_compression())
}

/// A closed log of several sealed segments and a well-filled active one.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    hw: u64,
    /// Base offsets of the segments, oldest first.
    bases: Vec<u64>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let p = Partition::open(&dir, config()).unwrap();
    let mut i = 0u64;
    // Until there are four sealed segments and the active one has several
    // index entries' worth of log.
    loop {
        let segs = p.segments().unwrap();
        if segs.len() >= 5 && segs.last().unwrap().size_bytes() > 4096 {
            break;
        }
        append_gen(&p, SEED, 1 + i % 3).unwrap();
        i += 1;
    }
    let bases = p
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.base_offset())
        .collect();
    let hw = p.high_watermark();
    p.close().unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        hw,
        bases,
    }
}

/// Every check a damaged index must not break: whole-log reads, a read
/// from every single offset, and time lookups against a linear scan.
fn check_log(p: &Partition, hw: u64, ctx: &str) {
    assert_eq!(p.high_watermark(), hw, "{ctx}: HW");
    assert_gen_log(p, SEED, ctx);
    for o in 0..hw {
        for max_bytes in [1, 3000] {
            let r = p
                .read(o, max_bytes)
                .unwrap_or_else(|e| panic!("{ctx}: read at {o}: {e}"));
            let first = r
                .iter()
                .next()
                .unwrap_or_else(|| panic!("{ctx}: read at {o} is empty"));
            assert_eq!(
                Rec::from_ref(&first),
                gen_rec(SEED, o),
                "{ctx}: read at {o}"
            );
            for (i, rec) in r.iter().enumerate() {
                assert_eq!(rec.offset(), o + i as u64, "{ctx}: read at {o} not dense");
            }
        }
    }
    let timestamps: Vec<i64> = (0..hw).map(|o| gen_rec(SEED, o).timestamp).collect();
    let lo = *timestamps.iter().min().unwrap() - 3;
    let hi = *timestamps.iter().max().unwrap() + 3;
    for target in (lo..=hi).step_by(2).chain([i64::MIN, i64::MAX]) {
        let want = timestamps
            .iter()
            .position(|&t| t >= target)
            .map(|o| (o as u64, timestamps[o]));
        let got = p
            .offset_for_timestamp(target)
            .unwrap_or_else(|e| panic!("{ctx}: offset_for_timestamp({target}): {e}"))
            .map(|t| (t.offset, t.timestamp));
        assert_eq!(got, want, "{ctx}: offset_for_timestamp({target})");
    }
}

/// One kind of damage to an index file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// The file ends in the middle of an entry.
    TruncatedMidEntry,
    /// The file is gone.
    Deleted,
    /// Every byte replaced by random bytes.
    Garbage,
    /// Entries that point past the end of the log (offset index: file
    /// position; time index: relative offset past the segment's last).
    PastTheEnd,
    /// Entries out of order.
    NonMonotonic,
}

const DAMAGES: [Damage; 5] = [
    Damage::TruncatedMidEntry,
    Damage::Deleted,
    Damage::Garbage,
    Damage::PastTheEnd,
    Damage::NonMonotonic,
];

/// Bytes of the trailer after an index file's entries (docs/FORMAT.md).
const TRAILER: usize = 16;

/// A trailer that vouches for `entries` of an index over `log_len` bytes of
/// log, so that only samsa's sanity checks stand between damaged entries
/// and a reader.
fn reseal(mut entries: Vec<u8>, magic: &[u8; 4], log_len: u64) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(&entries);
    h.update(&log_len.to_le_bytes());
    let crc = h.finalize();
    entries.extend_from_slice(&log_len.to_le_bytes());
    entries.extend_from_slice(&crc.to_le_bytes());
    entries.extend_from_slice(magic);
    entries
}

/// Applies `damage` to `path`, an index file with `entry` bytes per entry
/// (8: offset index, 12: time index) of a segment whose log has `log_len`
/// bytes. Damage that a checksum would catch leaves the trailer stale; the
/// damage kinds that model a buggy writer (entries past the end, out of
/// order) get a matching trailer, so the sanity checks must catch them.
fn apply(damage: Damage, path: &Path, entry: usize, log_len: u64) {
    let bytes = fs::read(path).unwrap();
    let entries = bytes[..bytes.len() - TRAILER].to_vec();
    let magic: &[u8; 4] = if entry == 8 { b"SMOI" } else { b"SMTI" };
    let n = entries.len() / entry;
    assert!(n >= 2, "{path:?} needs at least two entries to damage");
    let damaged = match damage {
        Damage::TruncatedMidEntry => bytes[..bytes.len() - TRAILER - entry / 2].to_vec(),
        Damage::Deleted => {
            fs::remove_file(path).unwrap();
            return;
        }
        Damage::Garbage => {
            let mut b = vec![0u8; bytes.len()];
            Rng::new(log_len).fill(&mut b);
            b
        }
        Damage::PastTheEnd => {
            let mut b = entries.clone();
            let last = &mut b[(n - 1) * entry..];
            if entry == 8 {
                // Position field of the last entry.
                last[4..8].copy_from_slice(&(log_len as u32 + 100).to_le_bytes());
            } else {
                // Relative offset field of the last entry.
                last[8..12].copy_from_slice(&1_000_000u32.to_le_bytes());
            }
            reseal(b, magic, log_len)
        }
        Damage::NonMonotonic => {
            let mut b = entries.clone();
            let (first, rest) = b.split_at_mut(entry);
            first.swap_with_slice(&mut rest[(n - 2) * entry..]);
            reseal(b, magic, log_len)
        }
    };
    fs::write(path, damaged).unwrap();
}

/// Which index files of which segment to damage.
#[derive(Debug, Clone, Copy)]
enum Target {
    Offset,
    Time,
    Both,
}

fn damage_segment(dir: &Path, base: u64, target: Target, damage: Damage) {
    let log_len = file_len(&segment_file(dir, base, "log"));
    if matches!(target, Target::Offset | Target::Both) {
        apply(damage, &segment_file(dir, base, "index"), 8, log_len);
    }
    if matches!(target, Target::Time | Target::Both) {
        apply(damage, &segment_file(dir, base, "timeindex"), 12, log_len);
    }
}

/// Damages segment `pick(bases)`'s index files every way, reopens, checks
/// the log, closes, and checks once more after a clean reopen (which must
/// find rebuilt, sane index files).
fn every_damage(pick: impl Fn(&[u64]) -> u64, what: &str) {
    let f = fixture();
    let base = pick(&f.bases);
    let scratch = tempfile::tempdir().unwrap();
    for damage in DAMAGES {
        for target in [Target::Offset, Target::Time, Target::Both] {
            let ctx = format!("{damage:?} {target:?} index of {what} segment {base}");
            let dir = scratch.path().join(format!("{damage:?}-{target:?}"));
            copy_dir(&f.dir, &dir);
            assert!(
                dir.join(".clean_shutdown").exists(),
                "fixture closed cleanly"
            );
            damage_segment(&dir, base, target, damage);

            let p = Partition::open(&dir, config()).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
            check_log(&p, f.hw, &ctx);
            p.close().unwrap();
            let p = Partition::open(&dir, config())
                .unwrap_or_else(|e| panic!("{ctx}: second open: {e}"));
            check_log(&p, f.hw, &format!("{ctx}, second open"));
            // The log keeps working: a new batch lands after the damage.
            append_gen(&p, SEED, 2).unwrap();
            check_log(&p, f.hw + 2, &format!("{ctx}, after an append"));
            p.close().unwrap();
            fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
fn damaged_sealed_segment_indexes_are_rebuilt() {
    every_damage(|bases| bases[1], "sealed");
}

#[test]
fn damaged_first_sealed_segment_indexes_are_rebuilt() {
    every_damage(|bases| bases[0], "first sealed");
}

#[test]
fn damaged_active_segment_indexes_are_rebuilt_despite_the_clean_marker() {
    every_damage(|bases| *bases.last().unwrap(), "active");
}

/// Fault: every sealed segment loses both index files at once.
#[test]
fn all_indexes_lost() {
    let f = fixture();
    for path in files_with_ext(&f.dir, "index")
        .into_iter()
        .chain(files_with_ext(&f.dir, "timeindex"))
    {
        fs::remove_file(path).unwrap();
    }
    let p = Partition::open(&f.dir, config()).unwrap();
    check_log(&p, f.hw, "all index files deleted");
    p.close().unwrap();
    let p = Partition::open(&f.dir, config()).unwrap();
    check_log(&p, f.hw, "all index files deleted, second open");
}

/// Fault: an offset index emptied (truncated to zero bytes). An empty
/// index is sane, just useless: reads scan from the segment's start.
#[test]
fn emptied_offset_index_still_reads() {
    let f = fixture();
    let scratch = tempfile::tempdir().unwrap();
    for base in [f.bases[1], *f.bases.last().unwrap()] {
        let dir = scratch.path().join(format!("{base}"));
        copy_dir(&f.dir, &dir);
        set_len(&segment_file(&dir, base, "index"), 0);
        let p = Partition::open(&dir, config()).unwrap();
        check_log(&p, f.hw, &format!("emptied offset index of segment {base}"));
        p.close().unwrap();
    }
}

/// Fault: a time index emptied (truncated to zero bytes) while its segment
/// holds batches. Time lookups must still find the segment's records.
#[test]
fn emptied_time_index_still_answers_time_lookups() {
    let f = fixture();
    let scratch = tempfile::tempdir().unwrap();
    for base in [f.bases[0], f.bases[1], *f.bases.last().unwrap()] {
        let dir = scratch.path().join(format!("{base}"));
        copy_dir(&f.dir, &dir);
        set_len(&segment_file(&dir, base, "timeindex"), 0);
        let p = Partition::open(&dir, config()).unwrap();
        check_log(&p, f.hw, &format!("emptied time index of segment {base}"));
        p.close().unwrap();
    }
}

/// Fault: a time index lost its last whole entries (cut at an entry
/// boundary, so it still looks sane). Its last entry no longer holds the
/// segment's largest timestamp.
#[test]
fn time_index_missing_its_last_entries_still_answers_time_lookups() {
    let f = fixture();
    let scratch = tempfile::tempdir().unwrap();
    for base in [f.bases[1], *f.bases.last().unwrap()] {
        let dir = scratch.path().join(format!("{base}"));
        copy_dir(&f.dir, &dir);
        let path = segment_file(&dir, base, "timeindex");
        let len = file_len(&path);
        set_len(&path, (len / 12 / 2) * 12);
        let p = Partition::open(&dir, config()).unwrap();
        check_log(
            &p,
            f.hw,
            &format!("time index of segment {base} cut to half its entries"),
        );
        p.close().unwrap();
    }
}

/// Fault: an offset index whose entries are each moved to the next entry's
/// position (still sorted, inside the log: it passes the sanity check, but
/// every entry points at a later batch than the offset it names).
#[test]
fn offset_index_pointing_at_later_batches_never_skips_records() {
    let f = fixture();
    let scratch = tempfile::tempdir().unwrap();
    for base in [f.bases[1], *f.bases.last().unwrap()] {
        let dir = scratch.path().join(format!("{base}"));
        copy_dir(&f.dir, &dir);
        let path = segment_file(&dir, base, "index");
        let b = fs::read(&path).unwrap();
        let n = (b.len() - TRAILER) / 8;
        let mut lie = Vec::new();
        for i in 0..n - 1 {
            lie.extend_from_slice(&b[i * 8..i * 8 + 4]);
            lie.extend_from_slice(&b[(i + 1) * 8 + 4..(i + 2) * 8]);
        }
        // A matching trailer, as a buggy writer would leave: only the check
        // that each entry names the batch it points at can catch this.
        let log_len = file_len(&segment_file(&dir, base, "log"));
        fs::write(&path, reseal(lie, b"SMOI", log_len)).unwrap();
        let p = Partition::open(&dir, config()).unwrap();
        for o in 0..f.hw {
            match p.read(o, 1) {
                Ok(r) => {
                    let first = r.iter().next().map(|r| r.offset());
                    assert_eq!(
                        first,
                        Some(o),
                        "segment {base}: read at {o} skipped records"
                    );
                }
                Err(samsa_log::Error::Corrupt { .. }) => {}
                Err(e) => panic!("segment {base}: read at {o}: {e}"),
            }
        }
        p.close().unwrap();
    }
}
