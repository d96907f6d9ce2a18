//! Hostile files (issue 5), part 1: the files of a partition directory.
//! Segment logs (sealed, and active after a crash or a clean close), both
//! index files, the clean-shutdown marker and producer-state snapshots are
//! each replaced by random bytes, bit-flipped, truncated at every position,
//! given length fields of 0, 2^31 and 2^32-1, and given entries past the
//! end. After every reopen: no panic, no single allocation beyond a bound
//! tied to the files (see [`alloc_bound`]), and either a typed
//! `Error::Corrupt` naming the damaged file, or a log whose every record is
//! byte-identical to the one written at its offset. Damage to derived files
//! (indexes, marker, snapshots) loses nothing: they are rebuilt. Topic
//! metadata and the offset store are in `tests/hostile_metadata.rs`.
//!
//! `SAMSA_HOSTILE_FULL=1` flips every bit instead of a sample. Each test
//! prints its seed and one line of counts (run with `--nocapture`); a
//! failure names the file, the variant and the position.

mod common;
mod hostile_support;

use common::*;
use hostile_support::*;
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::producer::ProducerConfig;
use samsa_log::record::Header;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Partition, Record};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Opens a partition, counting the open.
fn open(dir: &Path) -> samsa_log::Result<Partition> {
    count_open();
    Partition::open(dir, config())
}

// ---- The log under test ---------------------------------------------------

const SEED: u64 = 0x4057_11e5;

/// Small segments of a few batches each, so every byte of one can be cut;
/// a small index interval gives every index several entries.
fn config() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .index_interval_bytes(128)
        .sync(SyncPolicy::Os)
}

/// The record written at `offset`: keys, null keys, tombstones, empty and
/// 130-byte values (two-byte length varints), headers; rising timestamps
/// with jitter. Every fixture writes exactly `rec(o)` at offset `o`.
fn rec(offset: u64) -> Rec {
    let h = mix(SEED ^ mix(offset));
    let value = match h % 11 {
        0 => None,
        1 => Some(bytes_for(SEED, offset, 1, 130 + (h >> 8) as usize % 20)),
        _ => Some(bytes_for(SEED, offset, 1, (h >> 8) as usize % 24)),
    };
    let key = if h.is_multiple_of(3) && value.is_some() {
        None
    } else {
        Some(format!("k{offset}").into_bytes())
    };
    let headers = if h % 4 == 1 {
        vec![
            (
                "h".to_owned(),
                Some(bytes_for(SEED, offset, 2, (h >> 16) as usize % 6)),
            ),
            ("trace".to_owned(), Some(offset.to_le_bytes().to_vec())),
            ("null".to_owned(), None),
        ]
    } else {
        Vec::new()
    };
    Rec {
        offset,
        key,
        value,
        timestamp: 1_700_000_000_000 + offset as i64 * 10 - ((h >> 40) % 3) as i64 * 7,
        headers,
    }
}

/// Records per append of the fixture log.
const BATCHES: &[u64] = &[
    2, 1, 3, 1, 2, 4, 1, 2, 3, 1, 2, 1, 3, 2, 1, 2, 3, 1, 1, 2, 4, 1, 2, 3, 2, 1, 3, 1, 2, 2,
];

/// One batch as found in a segment file.
#[derive(Debug, Clone, Copy)]
struct Batch {
    segment: u64,
    start: u64,
    end: u64,
    base_offset: u64,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The pristine partition directory.
    dir: PathBuf,
    /// Records written: `rec(0..written)`.
    written: u64,
    /// Segment base offsets, oldest first; the last is the active one.
    bases: Vec<u64>,
    batches: Vec<Batch>,
    scratch: tempfile::TempDir,
}

impl Fixture {
    /// A log of `BATCHES` over several segments, closed cleanly or dropped.
    fn new(clean: bool) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let p = Partition::open(&dir, config()).unwrap();
        for &n in BATCHES {
            let base = p.log_end_offset();
            let recs: Vec<Rec> = (base..base + n).map(rec).collect();
            append_recs(&p, &recs).unwrap();
        }
        let written = p.log_end_offset();
        let bases = p
            .segments()
            .unwrap()
            .iter()
            .map(|s| s.base_offset())
            .collect();
        if clean {
            p.close().unwrap();
        } else {
            drop(p);
        }
        let batches = batches_in(&dir);
        Fixture {
            _tmp: tmp,
            dir,
            written,
            bases,
            batches,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    fn active(&self) -> u64 {
        *self.bases.last().unwrap()
    }

    /// A sealed segment of at least three batches, not the first.
    fn sealed(&self) -> u64 {
        *self.bases[1..self.bases.len() - 1]
            .iter()
            .find(|&&b| self.batches_of(b).len() >= 3)
            .expect("the fixture has a sealed segment of three batches")
    }

    fn batches_of(&self, segment: u64) -> Vec<Batch> {
        self.batches
            .iter()
            .copied()
            .filter(|b| b.segment == segment)
            .collect()
    }

    /// The offsets held by segment `base`.
    fn offsets_of(&self, base: u64) -> Range<u64> {
        let i = self.bases.iter().position(|&b| b == base).unwrap();
        base..self.bases.get(i + 1).copied().unwrap_or(self.written)
    }

    /// A fresh copy of the pristine directory, damaged by `damage`, checked
    /// by `check`, then removed.
    fn case(
        &self,
        t: &mut Tally,
        ctx: &str,
        damage: impl FnOnce(&Path),
        check: impl FnOnce(&Path) -> Result<Outcome, String>,
    ) {
        let dir = self.scratch.path().join("case");
        copy_dir(&self.dir, &dir);
        damage(&dir);
        t.run(ctx, &dir, || check(&dir));
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every batch of every segment in `dir`, from the length fields.
fn batches_in(dir: &Path) -> Vec<Batch> {
    let mut out = Vec::new();
    for path in log_files(dir) {
        let segment = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let b = fs::read(&path).unwrap();
        let mut at = 0usize;
        // An active segment left by a crash ends in the zeros reserved
        // ahead of its log (docs/FORMAT.md): no batch has length zero.
        while at + 12 <= b.len() && u32_at(&b, at + 8) != 0 {
            let len = u32_at(&b, at + 8) as usize + 12;
            let base_offset = u64_at(&b, at);
            out.push(Batch {
                segment,
                start: at as u64,
                end: (at + len) as u64,
                base_offset,
            });
            at += len;
        }
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

// ---- Checking what a reopened log returns --------------------------------

/// What a case allows.
#[derive(Debug, Clone)]
struct Expect {
    /// The damaged file (in the partition directory).
    file: String,
    open: OpenRule,
    /// Positions a `Corrupt` from open may name.
    error_at: Range<u64>,
    /// The high watermark if open succeeds.
    hw: u64,
    /// Offsets whose reads may be `Corrupt` naming the damaged file.
    read_errors: Range<u64>,
    /// Damage to derived data: also check time lookups, close, reopen and
    /// check again (the rebuilt files must serve).
    derived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenRule {
    MustOpen,
    MustFail,
}

impl Expect {
    /// Damage to derived data: open succeeds, nothing is lost, no read fails.
    fn derived(file: String, written: u64) -> Expect {
        Expect {
            file,
            open: OpenRule::MustOpen,
            error_at: 0..0,
            hw: written,
            read_errors: 0..0,
            derived: true,
        }
    }
}

/// Opens the damaged copy in `dir` and checks it against `e`.
fn check(dir: &Path, e: &Expect) -> Result<Outcome, String> {
    check_with(dir, e, |_| Ok(()))
}

/// [`check`], calling `first` with the partition as soon as it opened.
fn check_with(
    dir: &Path,
    e: &Expect,
    first: impl FnOnce(&Partition) -> Result<(), String>,
) -> Result<Outcome, String> {
    let path = dir.join(&e.file);
    let p = match open(dir) {
        Err(err) => {
            return match &err {
                _ if e.open == OpenRule::MustOpen => Err(format!("open failed: {err}")),
                Error::Corrupt {
                    path: named,
                    position,
                    ..
                } if *named == path && e.error_at.contains(position) => Ok(Outcome::TypedError),
                _ => Err(format!("open failed with the wrong error: {err:?}")),
            };
        }
        Ok(p) => p,
    };
    if e.open == OpenRule::MustFail {
        return Err(format!(
            "open succeeded with high watermark {}",
            p.high_watermark()
        ));
    }
    first(&p)?;
    let read_errors = check_log(&p, e, &path)?;
    if e.derived {
        check_time_lookups(&p)?;
        // With the record check_log appended.
        let hw = p.high_watermark();
        p.close().map_err(|err| format!("close: {err}"))?;
        let p = open(dir).map_err(|err| format!("second open: {err}"))?;
        let again = Expect { hw, ..e.clone() };
        check_log(&p, &again, &path).map_err(|m| format!("second open: {m}"))?;
        check_time_lookups(&p).map_err(|m| format!("second open: {m}"))?;
    }
    Ok(Outcome::Opened { read_errors })
}

/// Every offset below the high watermark reads back true (or, inside
/// `e.read_errors`, as `Corrupt` naming `path`); then one append lands at
/// the high watermark and reads back alike. Returns the reads refused.
fn check_log(p: &Partition, e: &Expect, path: &Path) -> Result<u64, String> {
    let hw = p.high_watermark();
    if hw != e.hw {
        return Err(format!("high watermark {hw}, expected {}", e.hw));
    }
    if p.log_start_offset() != 0 {
        return Err(format!("log start offset {}", p.log_start_offset()));
    }
    let mut errors = 0;
    for o in 0..hw {
        read_one(p, o, e, path, &mut errors)?;
    }
    if errors == 0 {
        // The whole log in large reads, as a consumer would take it.
        let mut at = 0;
        while at < hw {
            let r = p
                .read(at, 1 << 20)
                .map_err(|err| format!("read at {at}: {err}"))?;
            check_records(&r, at)?;
            if r.is_empty() || r.next_offset() <= at {
                return Err(format!("read at {at} made no progress"));
            }
            at = r.next_offset();
        }
    }
    let info = append_recs(p, &[rec(hw)]).map_err(|err| format!("append after the open: {err}"))?;
    if info.base_offset != hw {
        return Err(format!(
            "an append after the open got offset {}, not the high watermark {hw}",
            info.base_offset
        ));
    }
    read_one(p, hw, e, path, &mut errors).map_err(|m| format!("the new record: {m}"))?;
    Ok(errors)
}

/// Reads the batch holding offset `o`: true records from `o` on, or (if
/// `e` allows it at `o`) `Corrupt` naming `path`, counted in `errors`.
fn read_one(
    p: &Partition,
    o: u64,
    e: &Expect,
    path: &Path,
    errors: &mut u64,
) -> Result<(), String> {
    match p.read(o, 1) {
        Ok(r) if r.is_empty() => Err(format!("read at {o} is empty")),
        Ok(r) => check_records(&r, o),
        Err(Error::Corrupt { path: named, .. }) if e.read_errors.contains(&o) && named == path => {
            *errors += 1;
            Ok(())
        }
        Err(err) => Err(format!("read at {o}: {err:?}")),
    }
}

/// The records of a read from `from`: dense from `from`, each the one
/// written at its offset.
fn check_records(r: &samsa_log::record::Records, from: u64) -> Result<(), String> {
    for (want, got) in (from..).zip(r) {
        if got.offset() != want {
            return Err(format!(
                "read at {from} gave offset {} where {want} was due: records skipped",
                got.offset()
            ));
        }
        if Rec::from_ref(&got) != rec(want) {
            return Err(format!(
                "read at {from}: record {want} is not the one written"
            ));
        }
    }
    Ok(())
}

/// Time lookups answer as a linear scan of the records would.
fn check_time_lookups(p: &Partition) -> Result<(), String> {
    let hw = p.high_watermark();
    let ts: Vec<i64> = (0..hw).map(|o| rec(o).timestamp).collect();
    let targets = ts.iter().flat_map(|&t| [t, t + 1]);
    for target in targets.chain([i64::MIN, i64::MAX]) {
        let want = ts.iter().position(|&t| t >= target).map(|o| o as u64);
        let got = p
            .offset_for_timestamp(target)
            .map_err(|err| format!("offset_for_timestamp({target}): {err}"))?
            .map(|t| t.offset);
        if got != want {
            return Err(format!(
                "offset_for_timestamp({target}) = {got:?}, a scan says {want:?}"
            ));
        }
    }
    Ok(())
}

// ---- Damage ---------------------------------------------------------------

fn name(base: u64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// The values every length and count field is set to.
const LENGTHS: [u64; 3] = [0, 1 << 31, (1 << 32) - 1];

/// Replaces `path` by `len` seeded random bytes.
fn randomize(path: &Path, len: usize, seed: u64) {
    let mut b = vec![0u8; len];
    Rng::new(seed).fill(&mut b);
    fs::write(path, b).unwrap();
}

/// Applies `f` to the bytes of `path`.
fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = fs::read(path).unwrap();
    f(&mut b);
    fs::write(path, b).unwrap();
}

/// The bit flips to try in a file of `len` bytes: every bit with
/// `SAMSA_HOSTILE_FULL=1` or when `every_bit`, else one bit of every
/// `step`-th byte (rotating through the bit positions).
fn flips(len: u64, step: u64, every_bit: bool) -> Vec<(u64, u8)> {
    if every_bit || full() {
        (0..len)
            .flat_map(|b| (0..8).map(move |bit| (b, bit)))
            .collect()
    } else {
        (0..len)
            .step_by(step as usize)
            .map(|b| (b, ((b / step) % 8) as u8))
            .collect()
    }
}

/// Random file sizes to try for a file of `len` bytes: empty, tiny, around
/// and above the original.
fn random_sizes(len: u64) -> Vec<usize> {
    let len = len as usize;
    let mut v = vec![0, 1, 16, 57, len / 2, len, len + 1, 2 * len + 7, 64 << 10];
    v.sort_unstable();
    v.dedup();
    v
}

/// A length or count field of a batch, found by walking its records.
#[derive(Debug, Clone)]
struct Field {
    what: String,
    /// Position in the segment file.
    pos: usize,
    width: Width,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    U32,
    /// A varint of this many bytes.
    Varint(usize),
}

fn varint(b: &[u8], at: usize) -> (u64, usize) {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = b[at + i];
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("no varint at {at}");
}

fn encode_varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// Every length and count field of `batch` in the segment file `b`: the
/// header's batch length and record count; each record's length, key and
/// value lengths, header count and header key and value lengths; and the
/// offset delta, whose large values point past the batch's last offset.
fn fields_of(b: &[u8], batch: &Batch) -> Vec<Field> {
    let start = batch.start as usize;
    let mut out = vec![
        Field {
            what: "batch length".into(),
            pos: start + 8,
            width: Width::U32,
        },
        Field {
            what: "record count".into(),
            pos: start + 53,
            width: Width::U32,
        },
    ];
    let mut at = start + 57;
    let count = u32_at(b, start + 53);
    // Attributes bit 8: header values are written as key and value are
    // (0 for null, else length + 1); without it (samsa 0.1), as a length.
    let nullable = u16::from_le_bytes([b[start + 17], b[start + 18]]) & (1 << 8) != 0;
    for r in 0..count {
        let mut field = |what: &str, at: usize| {
            let (v, n) = varint(b, at);
            out.push(Field {
                what: format!("record {r} {what}"),
                pos: at,
                width: Width::Varint(n),
            });
            (v, n)
        };
        let (len, n) = field("length", at);
        let end = at + n + len as usize;
        let mut q = at + n;
        q += varint(b, q).1; // timestamp delta
        q += field("offset delta", q).1;
        for what in ["key length", "value length"] {
            let (v, n) = field(what, q);
            q += n + v.saturating_sub(1) as usize;
        }
        let (headers, n) = field("header count", q);
        q += n;
        for h in 0..headers {
            for what in ["key length", "value length"] {
                let (v, n) = field(&format!("header {h} {what}"), q);
                let len = if nullable && what == "value length" {
                    v.saturating_sub(1)
                } else {
                    v
                };
                q += n + len as usize;
            }
        }
        assert_eq!(q, end, "record {r} of the batch at {start} parsed short");
        at = end;
    }
    out
}

/// The value of `f` in `b`.
fn field_value(b: &[u8], f: &Field) -> u64 {
    match f.width {
        Width::U32 => u64::from(u32_at(b, f.pos)),
        Width::Varint(_) => varint(b, f.pos).0,
    }
}

/// Sets `f` (of the batch at `start`) to `v`. A varint is re-encoded in
/// place, moving what follows. With `resign`, the batch length and CRC are
/// made to match, as a buggy writer would leave them, so only the record
/// checks stand between the lie and a reader. Returns the change in length.
fn set_field(b: &mut Vec<u8>, start: usize, f: &Field, v: u64, resign: bool) -> i64 {
    let delta = match f.width {
        Width::U32 => {
            b[f.pos..f.pos + 4].copy_from_slice(&(v as u32).to_le_bytes());
            0
        }
        Width::Varint(n) => {
            let enc = encode_varint(v);
            let delta = enc.len() as i64 - n as i64;
            b.splice(f.pos..f.pos + n, enc);
            delta
        }
    };
    if resign {
        let len = (i64::from(u32_at(b, start + 8)) + delta) as u32;
        b[start + 8..start + 12].copy_from_slice(&len.to_le_bytes());
        resign_batch(b, start);
    }
    delta
}

/// Recomputes the CRC of the batch at `start` (bytes 0..13 and 17..end).
fn resign_batch(b: &mut [u8], start: usize) {
    let end = start + 12 + u32_at(b, start + 8) as usize;
    let mut h = crc32fast::Hasher::new();
    h.update(&b[start..start + 13]);
    h.update(&b[start + 17..end]);
    let crc = h.finalize();
    b[start + 13..start + 17].copy_from_slice(&crc.to_le_bytes());
}

/// Every field damage of the batches of `segment`: (description, batch,
/// field, value, resign). The batch length is only set without a matching
/// CRC (a CRC cannot cover bytes that are not there); values equal to the
/// field's own are skipped (no damage).
fn field_damages(f: &Fixture, segment: u64) -> Vec<(String, Batch, Field, u64, bool)> {
    let bytes = fs::read(f.dir.join(name(segment, "log"))).unwrap();
    let mut out = Vec::new();
    for batch in f.batches_of(segment) {
        for field in fields_of(&bytes, &batch) {
            for v in LENGTHS {
                for resign in [false, true] {
                    if (resign && field.what == "batch length") || field_value(&bytes, &field) == v
                    {
                        continue;
                    }
                    let what = format!(
                        "{} (byte {}) of the batch at {}..{} set to {v}{}",
                        field.what,
                        field.pos,
                        batch.start,
                        batch.end,
                        if resign { ", CRC re-signed" } else { "" }
                    );
                    out.push((what, batch, field.clone(), v, resign));
                }
            }
        }
    }
    out
}

// ---- Segment logs ----------------------------------------------------------

/// The high watermark after the active segment is cut at `cut`: the batches
/// wholly before the cut survive.
fn hw_after_cut(f: &Fixture, cut: u64) -> u64 {
    f.batches_of(f.active())
        .iter()
        .find(|b| b.end > cut)
        .map_or(f.written, |b| b.base_offset)
}

/// What damage to `batch` of the active segment must give after a crash
/// (docs/FORMAT.md, "Recovery after an unclean stop"): in the last batch,
/// nothing valid follows, so it is a torn tail and cut off; before it, a
/// valid batch follows, so open fails with `Corrupt` at the batch (or at
/// the next one, for damage that makes the batch look shorter or longer).
fn crash_expect(f: &Fixture, file: &str, batch: &Batch) -> Expect {
    let last = batch.end == f.batches_of(f.active()).last().unwrap().end;
    Expect {
        file: file.to_owned(),
        open: if last {
            OpenRule::MustOpen
        } else {
            OpenRule::MustFail
        },
        error_at: batch.start..batch.end + 1,
        hw: batch.base_offset,
        read_errors: 0..0,
        derived: false,
    }
}

/// Fault: the active segment's log is damaged after a crash (no
/// clean-shutdown marker, so open scans it): cut at every byte, bits
/// flipped, replaced by random bytes of several sizes, and every length
/// and count field of every batch set to 0, 2^31 and 2^32-1 (with and
/// without a matching CRC). A torn tail is cut off exactly; damage followed
/// by a valid batch is `Corrupt` naming the log and the batch.
#[test]
fn active_log_after_a_crash() {
    let f = Fixture::new(false);
    let mut t = Tally::new("active_log_crash", SEED);
    let file = name(f.active(), "log");
    // The log's bytes; the file goes on with zeros reserved ahead of it.
    let len = f.batches_of(f.active()).last().unwrap().end;
    let file_len = file_len(&f.dir.join(&file));
    if cfg!(target_os = "linux") {
        assert!(file_len > len, "the fixture's crash leaves a reserved tail");
    }
    for (pos, bit) in flips(file_len - len, 509, false) {
        // A stray bit in the reserved zeros: no valid batch follows the
        // log, so it is a torn tail, and nothing is lost.
        let e = Expect {
            open: OpenRule::MustOpen,
            hw: f.written,
            ..crash_expect(&f, &file, &f.batches_of(f.active())[0])
        };
        let ctx = format!("{file}: bit {bit} of reserved byte {} flipped", len + pos);
        f.case(
            &mut t,
            &ctx,
            |d| flip_bit(&d.join(&file), len + pos, bit),
            |d| check(d, &e),
        );
    }
    for cut in 0..len {
        let e = Expect {
            open: OpenRule::MustOpen,
            hw: hw_after_cut(&f, cut),
            ..crash_expect(&f, &file, &f.batches_of(f.active())[0])
        };
        let ctx = format!("{file} cut to {cut} bytes");
        f.case(
            &mut t,
            &ctx,
            |d| set_len(&d.join(&file), cut),
            |d| check(d, &e),
        );
    }
    for (pos, bit) in flips(len, 3, false) {
        let batch = *f
            .batches_of(f.active())
            .iter()
            .find(|b| b.end > pos)
            .unwrap();
        let e = crash_expect(&f, &file, &batch);
        let ctx = format!("{file}: bit {bit} of byte {pos} flipped");
        f.case(
            &mut t,
            &ctx,
            |d| flip_bit(&d.join(&file), pos, bit),
            |d| check(d, &e),
        );
    }
    for (i, size) in random_sizes(len).into_iter().enumerate() {
        let e = Expect {
            open: OpenRule::MustOpen,
            hw: f.active(),
            ..crash_expect(&f, &file, &f.batches_of(f.active())[0])
        };
        let ctx = format!("{file} replaced by {size} random bytes");
        let seed = SEED ^ i as u64;
        f.case(
            &mut t,
            &ctx,
            |d| randomize(&d.join(&file), size, seed),
            |d| check(d, &e),
        );
    }
    for (what, batch, field, v, resign) in field_damages(&f, f.active()) {
        let e = crash_expect(&f, &file, &batch);
        let ctx = format!("{file}: {what}");
        f.case(
            &mut t,
            &ctx,
            |d| {
                edit(&d.join(&file), |b| {
                    set_field(b, batch.start as usize, &field, v, resign);
                })
            },
            |d| check(d, &e),
        );
    }
    t.finish();
}

/// Fault: the active segment's log is damaged after a clean close, so the
/// clean-shutdown marker vouches for it. Damage that changes its length
/// voids the marker and is recovered as after a crash; damage of the same
/// length is trusted at open and must surface as `Corrupt` (naming the
/// log) when the damaged batch is read, never as data.
#[test]
fn active_log_after_a_clean_close() {
    let f = Fixture::new(true);
    let mut t = Tally::new("active_log_clean", SEED);
    let file = name(f.active(), "log");
    let len = file_len(&f.dir.join(&file));
    let same_size = Expect {
        file: file.clone(),
        open: OpenRule::MustOpen,
        error_at: 0..0,
        hw: f.written,
        // The damaged segment takes the new record too: reading it walks
        // past the damage, which may be refused.
        read_errors: f.active()..u64::MAX,
        derived: false,
    };
    let first = f.batches_of(f.active())[0];
    for cut in 0..len {
        let e = Expect {
            open: OpenRule::MustOpen,
            hw: hw_after_cut(&f, cut),
            ..crash_expect(&f, &file, &first)
        };
        let ctx = format!("{file} cut to {cut} bytes");
        f.case(
            &mut t,
            &ctx,
            |d| set_len(&d.join(&file), cut),
            |d| check(d, &e),
        );
    }
    for (pos, bit) in flips(len, 3, false) {
        let ctx = format!("{file}: bit {bit} of byte {pos} flipped");
        f.case(
            &mut t,
            &ctx,
            |d| flip_bit(&d.join(&file), pos, bit),
            |d| check(d, &same_size),
        );
    }
    for (i, size) in random_sizes(len).into_iter().enumerate() {
        let e = if size as u64 == len {
            same_size.clone()
        } else {
            Expect {
                open: OpenRule::MustOpen,
                hw: f.active(),
                ..crash_expect(&f, &file, &first)
            }
        };
        let ctx = format!("{file} replaced by {size} random bytes");
        let seed = SEED ^ i as u64;
        f.case(
            &mut t,
            &ctx,
            |d| randomize(&d.join(&file), size, seed),
            |d| check(d, &e),
        );
    }
    for (what, batch, field, v, resign) in field_damages(&f, f.active()) {
        let pristine = fs::read(f.dir.join(&file)).unwrap();
        let mut b = pristine.clone();
        let delta = set_field(&mut b, batch.start as usize, &field, v, resign);
        let e = if delta == 0 {
            same_size.clone()
        } else {
            crash_expect(&f, &file, &batch)
        };
        let ctx = format!("{file}: {what}");
        f.case(
            &mut t,
            &ctx,
            |d| fs::write(d.join(&file), &b).unwrap(),
            |d| check(d, &e),
        );
    }
    t.finish();
}

/// Fault: a sealed segment's log is damaged: cut inside a batch at every
/// byte, bits flipped, random bytes of several sizes, and every length and
/// count field set to 0, 2^31 and 2^32-1 (with and without a matching CRC).
/// Sealed segments are not scanned at open, so open succeeds with every
/// record counted; reads of the damaged segment's offsets are true records
/// or `Corrupt` naming its log, never other data and never a silent skip
/// to the next segment; every other offset reads back true. (Cuts at a
/// batch boundary are the next test.)
#[test]
fn sealed_log_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("sealed_log", SEED);
    let seg = f.sealed();
    let file = name(seg, "log");
    let len = file_len(&f.dir.join(&file));
    let e = sealed_expect(&f, seg);
    let boundaries: Vec<u64> = f.batches_of(seg).iter().map(|b| b.start).collect();
    for cut in (0..len).filter(|c| !boundaries.contains(c)) {
        let ctx = format!("sealed {file} cut to {cut} bytes");
        f.case(
            &mut t,
            &ctx,
            |d| set_len(&d.join(&file), cut),
            |d| check(d, &e),
        );
    }
    for (pos, bit) in flips(len, 3, false) {
        let ctx = format!("sealed {file}: bit {bit} of byte {pos} flipped");
        f.case(
            &mut t,
            &ctx,
            |d| flip_bit(&d.join(&file), pos, bit),
            |d| check(d, &e),
        );
    }
    // Emptied is a cut at a batch boundary: the next test.
    for (i, size) in random_sizes(len)
        .into_iter()
        .enumerate()
        .filter(|&(_, s)| s > 0)
    {
        let ctx = format!("sealed {file} replaced by {size} random bytes");
        let seed = SEED ^ i as u64;
        f.case(
            &mut t,
            &ctx,
            |d| randomize(&d.join(&file), size, seed),
            |d| check(d, &e),
        );
    }
    for (what, batch, field, v, resign) in field_damages(&f, seg) {
        let ctx = format!("sealed {file}: {what}");
        f.case(
            &mut t,
            &ctx,
            |d| {
                edit(&d.join(&file), |b| {
                    set_field(b, batch.start as usize, &field, v, resign);
                })
            },
            |d| check(d, &e),
        );
    }
    t.finish();
}

fn sealed_expect(f: &Fixture, seg: u64) -> Expect {
    Expect {
        file: name(seg, "log"),
        open: OpenRule::MustOpen,
        error_at: 0..0,
        hw: f.written,
        read_errors: f.offsets_of(seg),
        derived: false,
    }
}

/// Fault: a sealed segment's log loses its tail at a batch boundary (cut
/// after each of its batches but the last, or emptied). What is left is
/// whole batches, but the segment no longer reaches the next one's base
/// offset: the lost records must be reported as `Corrupt`, not skipped.
#[test]
fn sealed_log_cut_at_a_batch_boundary() {
    let f = Fixture::new(true);
    let mut t = Tally::new("sealed_log_boundary_cuts", SEED);
    let seg = f.sealed();
    let file = name(seg, "log");
    let e = sealed_expect(&f, seg);
    for cut in f.batches_of(seg).iter().map(|b| b.start) {
        let ctx = format!("sealed {file} cut to {cut} bytes (a batch boundary)");
        f.case(
            &mut t,
            &ctx,
            |d| set_len(&d.join(&file), cut),
            |d| check(d, &e),
        );
    }
    t.finish();
}

// ---- Index files -------------------------------------------------------------

/// An index file's trailer: the log size it describes, a CRC of the entries
/// and the log size, and the kind's magic.
fn reseal(entries: &[u8], log_size: u64, magic: &[u8]) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(entries);
    h.update(&log_size.to_le_bytes());
    let mut out = entries.to_vec();
    out.extend_from_slice(&log_size.to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(magic);
    out
}

/// Every damage of one index file (`ext` "index" or "timeindex") of
/// segment `seg`: random bytes, bit flips, cuts at every length and zero
/// extensions, the trailer's log size set to 0, 2^31, 2^32-1, u64::MAX and
/// one off (with a stale and with a matching CRC), and entries pointing
/// past the end of the log or of the segment's offsets under a matching
/// trailer (so only the sanity checks stand in the way).
fn index_damage(f: &Fixture, t: &mut Tally, seg: u64, ext: &str) {
    let file = name(seg, ext);
    let what = if seg == f.active() {
        "active"
    } else {
        "sealed"
    };
    let pristine = fs::read(f.dir.join(&file)).unwrap();
    let len = pristine.len() as u64;
    let log_len = file_len(&f.dir.join(name(seg, "log")));
    let e = Expect::derived(file.clone(), f.written);
    let case = |t: &mut Tally, how: String, bytes: Vec<u8>| {
        let ctx = format!("{what} {file}: {how}");
        f.case(
            t,
            &ctx,
            |d| fs::write(d.join(&file), &bytes).unwrap(),
            |d| check(d, &e),
        );
    };
    for (i, size) in random_sizes(len).into_iter().enumerate() {
        let mut b = vec![0u8; size];
        Rng::new(SEED ^ 0x1de ^ i as u64).fill(&mut b);
        case(t, format!("replaced by {size} random bytes"), b);
    }
    for (pos, bit) in flips(len, 1, false) {
        let mut b = pristine.clone();
        b[pos as usize] ^= 1 << bit;
        case(t, format!("bit {bit} of byte {pos} flipped"), b);
    }
    for cut in 0..len {
        case(
            t,
            format!("cut to {cut} bytes"),
            pristine[..cut as usize].to_vec(),
        );
    }
    for extra in [1usize, 8, 12, 4096] {
        let mut b = pristine.clone();
        b.resize(b.len() + extra, 0);
        case(t, format!("{extra} zero bytes appended"), b);
    }
    let (entries, trailer) = pristine.split_at(pristine.len() - 16);
    let magic = &trailer[12..16];
    for size in [
        0,
        1 << 31,
        (1 << 32) - 1,
        u64::MAX,
        log_len - 1,
        log_len + 1,
    ] {
        let mut stale = pristine.clone();
        let at = entries.len();
        stale[at..at + 8].copy_from_slice(&size.to_le_bytes());
        case(t, format!("trailer log size {size}, CRC stale"), stale);
        case(
            t,
            format!("trailer log size {size}, CRC matching"),
            reseal(entries, size, magic),
        );
    }
    // Entries past the end, each under a trailer that vouches for them.
    let limit = f.offsets_of(seg).end - seg;
    let width = if ext == "index" { 8 } else { 12 };
    assert!(entries.len() >= 2 * width, "{file} has too few entries");
    let last = entries.len() - width;
    let mut lies: Vec<(String, Vec<u8>)> = Vec::new();
    let mut put = |what: String, at: usize, v: &[u8]| {
        let mut b = entries.to_vec();
        b[at..at + v.len()].copy_from_slice(v);
        lies.push((what, b));
    };
    if ext == "index" {
        for pos in [log_len, log_len + 100, 1 << 31, (1 << 32) - 1] {
            let v = (pos as u32).to_le_bytes();
            put(format!("last entry's position {pos}"), last + 4, &v);
        }
        for rel in [limit, 1 << 31, (1 << 32) - 1] {
            let v = (rel as u32).to_le_bytes();
            put(format!("last entry's relative offset {rel}"), last, &v);
        }
        put(
            "second entry's position inside a batch".into(),
            width + 4,
            &[1, 0, 0, 0],
        );
    } else {
        for rel in [limit, 1 << 31, (1 << 32) - 1] {
            let v = (rel as u32).to_le_bytes();
            put(format!("last entry's relative offset {rel}"), last + 8, &v);
        }
        put(
            "last entry's timestamp i64::MAX".into(),
            last,
            &i64::MAX.to_le_bytes(),
        );
    }
    let mut extra = entries.to_vec();
    if ext == "index" {
        extra.extend_from_slice(&(limit as u32 + 5).to_le_bytes());
        extra.extend_from_slice(&(log_len as u32 + 10).to_le_bytes());
    } else {
        extra.extend_from_slice(&(i64::MAX - 1).to_le_bytes());
        extra.extend_from_slice(&(limit as u32 + 3).to_le_bytes());
    }
    lies.push(("an extra entry past the end".into(), extra));
    for (how, lie) in lies {
        case(
            t,
            format!("{how}, trailer matching"),
            reseal(&lie, log_len, magic),
        );
    }
}

/// Fault: the offset index (`.index`) of a sealed segment and of the active
/// one (after a clean close, so the marker vouches for it) damaged every way
/// [`index_damage`] knows. Indexes are derived: open succeeds, every record
/// and time lookup is right, and the rebuilt file serves a second open.
#[test]
fn offset_index_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("offset_index", SEED);
    index_damage(&f, &mut t, f.sealed(), "index");
    index_damage(&f, &mut t, f.active(), "index");
    t.finish();
}

/// Fault: the time index (`.timeindex`) of a sealed and of the active
/// segment damaged every way [`index_damage`] knows; as for the offset index.
#[test]
fn time_index_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("time_index", SEED);
    index_damage(&f, &mut t, f.sealed(), "timeindex");
    index_damage(&f, &mut t, f.active(), "timeindex");
    t.finish();
}

// ---- The clean-shutdown marker -----------------------------------------------

const MARKER: &str = ".clean_shutdown";

/// The marker's CRC (of bytes 0..29) recomputed after an edit.
fn reseal_marker(b: &mut [u8]) {
    let crc = crc32fast::hash(&b[..29]);
    b[29..33].copy_from_slice(&crc.to_le_bytes());
}

/// Fault: the clean-shutdown marker (a 33-byte header and the producer
/// state): every bit of the header flipped and a sample of the state's,
/// cut at every length, extended, replaced by random bytes, and its base
/// offset, log size and version set to 0, 2^31, 2^32-1, u64::MAX and one
/// off under a matching CRC. A marker that does not match costs a scan;
/// nothing is lost and no read fails.
#[test]
fn marker_damage() {
    let f = Fixture::new(true);
    let mut t = Tally::new("marker", SEED);
    let pristine = fs::read(f.dir.join(MARKER)).unwrap();
    let len = pristine.len();
    assert!(len > 33, "the header and the producer state");
    let log_len = file_len(&f.dir.join(name(f.active(), "log")));
    let e = Expect::derived(MARKER.to_owned(), f.written);
    let case = |t: &mut Tally, how: String, bytes: Vec<u8>| {
        let ctx = format!("{MARKER}: {how}");
        f.case(
            t,
            &ctx,
            |d| fs::write(d.join(MARKER), &bytes).unwrap(),
            |d| check(d, &e),
        );
    };
    for (pos, bit) in flips(33, 1, true)
        .into_iter()
        .chain(flips(len as u64, 3, false))
    {
        let mut b = pristine.clone();
        b[pos as usize] ^= 1 << bit;
        case(&mut t, format!("bit {bit} of byte {pos} flipped"), b);
    }
    for cut in 0..len {
        case(
            &mut t,
            format!("cut to {cut} bytes"),
            pristine[..cut].to_vec(),
        );
    }
    for extra in [1usize, 31, 4096] {
        let mut b = pristine.clone();
        b.resize(len + extra, 0);
        case(&mut t, format!("{extra} zero bytes appended"), b);
    }
    for (i, size) in random_sizes(len as u64).into_iter().enumerate() {
        let mut b = vec![0u8; size];
        Rng::new(SEED ^ 0x3a ^ i as u64).fill(&mut b);
        case(&mut t, format!("replaced by {size} random bytes"), b);
    }
    let a = f.active();
    let fields: [(&str, usize, Vec<u64>); 2] = [
        ("base offset", 5, vec![a - 1, a + 1]),
        ("log size", 21, vec![log_len - 1, log_len + 1]),
    ];
    for (what, at, near) in fields {
        for v in [0, 1 << 31, (1 << 32) - 1, u64::MAX]
            .into_iter()
            .chain(near)
        {
            let mut b = pristine.clone();
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            reseal_marker(&mut b);
            case(&mut t, format!("{what} {v}, CRC matching"), b);
        }
    }
    for v in [0u8, 1, 3, 255] {
        let mut b = pristine.clone();
        b[4] = v;
        reseal_marker(&mut b);
        case(&mut t, format!("version {v}, CRC matching"), b);
    }
    t.finish();
}

/// Fault: the marker's next offset, the one field open takes on trust,
/// names offsets past the log's last record (or before it) under a matching
/// CRC. Open must not count records the log does not hold, nor hide ones it
/// does: it must check the claim against the segment (or scan).
#[test]
fn marker_next_offset_past_the_end() {
    let f = Fixture::new(true);
    let mut t = Tally::new("marker_next_offset", SEED);
    let pristine = fs::read(f.dir.join(MARKER)).unwrap();
    let e = Expect::derived(MARKER.to_owned(), f.written);
    let w = f.written;
    for v in [
        w + 1,
        w + 1000,
        1 << 31,
        (1 << 32) - 1,
        u64::MAX,
        w - 1,
        f.active(),
    ] {
        let mut b = pristine.clone();
        b[13..21].copy_from_slice(&v.to_le_bytes());
        reseal_marker(&mut b);
        let ctx = format!("{MARKER}: next offset {v} (log holds {w}), CRC matching");
        f.case(
            &mut t,
            &ctx,
            |d| fs::write(d.join(MARKER), &b).unwrap(),
            |d| check(d, &e),
        );
    }
    t.finish();
}

// ---- Producer-state snapshots ----------------------------------------------

impl Fixture {
    /// The fixture log written through two idempotent producers taking
    /// turns (so the snapshots hold two producers of five batches each), as
    /// a topic of a `Log`: one copy as a crash would leave it, and the log
    /// closed cleanly. Both are the partition's directory, opened on its own.
    fn with_producers() -> (Fixture, Fixture) {
        let tmp = tempfile::tempdir().unwrap();
        let log = Log::builder()
            .sync(SyncPolicy::Os)
            .open(tmp.path().join("log"))
            .unwrap();
        let topic = TopicConfig::default()
            .segment_bytes(1024)
            .index_interval_bytes(128);
        let partition = log.create_topic("t", topic).unwrap().partition(0).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let config = ProducerConfig::default().linger(std::time::Duration::ZERO);
                log.producer_with(config).unwrap()
            })
            .collect();
        for (i, &n) in BATCHES.iter().enumerate() {
            let base = partition.log_end_offset();
            let recs: Vec<Rec> = (base..base + n).map(rec).collect();
            let headers: Vec<Vec<Header<'_>>> = recs
                .iter()
                .map(|r| r.headers.iter().map(|(k, v)| header(k, v)).collect())
                .collect();
            let producer = &producers[i % 2];
            let deliveries: Vec<_> = recs
                .iter()
                .zip(&headers)
                .map(|(r, h)| {
                    let mut record = match &r.value {
                        Some(v) => Record::new(v),
                        None => Record::default(),
                    };
                    if let Some(k) = &r.key {
                        record = record.key(k);
                    }
                    let record = record.headers(h).timestamp(r.timestamp);
                    producer.send("t", record).unwrap()
                })
                .collect();
            producer.flush().unwrap();
            for (r, d) in recs.iter().zip(deliveries) {
                assert_eq!(d.wait().unwrap().offset, r.offset, "fixture offsets");
            }
        }
        for p in producers {
            p.close().unwrap();
        }
        let written = partition.log_end_offset();
        let segments = partition.segments().unwrap();
        let bases: Vec<u64> = segments.iter().map(|s| s.base_offset()).collect();
        let dir = tmp.path().join("log/topics/t/0");
        let crash_tmp = tempfile::tempdir().unwrap();
        let crash = crash_tmp.path().join("p");
        copy_dir(&dir, &crash);
        log.close().unwrap();
        let fixture = |tmp, dir: PathBuf| Fixture {
            _tmp: tmp,
            batches: batches_in(&dir),
            dir,
            written,
            bases: bases.clone(),
            scratch: tempfile::tempdir().unwrap(),
        };
        (fixture(crash_tmp, crash), fixture(tmp, dir))
    }
}

/// The producer entries of a snapshot file: everything between the offset
/// it is as of and its CRC.
fn snapshot_state(b: &[u8]) -> &[u8] {
    &b[13..b.len() - 4]
}

/// The producer state a marker carries (after its 33-byte header), as
/// [`snapshot_state`] takes it from a snapshot.
fn marker_state(b: &[u8]) -> &[u8] {
    snapshot_state(&b[33..])
}

fn reseal_snapshot(b: &mut [u8]) {
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
}

/// Checks a damaged snapshot case: the log as for any derived file, no
/// snapshot left past the log end after the open, and, once closed, the
/// producer state written out equals `state` (the one of the undamaged
/// log): the damaged snapshot was replaced by a replay that lost nothing.
fn check_snapshot(dir: &Path, e: &Expect, state: &[u8]) -> Result<Outcome, String> {
    let outcome = check_with(dir, e, |p| {
        let hw = p.high_watermark();
        for path in files_with_ext(dir, "snapshot") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            if stem.parse::<u64>().unwrap() > hw {
                return Err(format!("{path:?} past the log end {hw} survived the open"));
            }
        }
        Ok(())
    })?;
    // check() appended one record (without a producer id) and closed: the
    // marker carries the state.
    let bytes =
        fs::read(dir.join(MARKER)).map_err(|e| format!("no marker after a clean close: {e}"))?;
    if marker_state(&bytes) != state {
        return Err("the producer state written at close differs from the undamaged log's".into());
    }
    Ok(outcome)
}

/// Every damage of the snapshot file `file` of `f`: random bytes, bit
/// flips, cuts at every length, zero extensions; the producer count, each
/// producer's batch count and the offset set to 0, 2^31, 2^32-1 (the batch
/// count, a byte: 0, 6 and 255) under a matching CRC; batch entries whose
/// offsets lie past the log end; and an intact snapshot renamed past the
/// log end (its offset field to match), which must be deleted at open.
fn snapshot_damage(f: &Fixture, t: &mut Tally, file: &str, state: &[u8], what: &str) {
    let pristine = fs::read(f.dir.join(file)).unwrap();
    let len = pristine.len() as u64;
    let e = Expect::derived(file.to_owned(), f.written);
    let case = |t: &mut Tally, how: String, target: String, bytes: Vec<u8>| {
        let ctx = format!("{what} {target}: {how}");
        f.case(
            t,
            &ctx,
            |d| fs::write(d.join(&target), &bytes).unwrap(),
            |d| check_snapshot(d, &e, state),
        );
    };
    let file = file.to_owned();
    for (i, size) in random_sizes(len).into_iter().enumerate() {
        let mut b = vec![0u8; size];
        Rng::new(SEED ^ 0x5a ^ i as u64).fill(&mut b);
        case(
            t,
            format!("replaced by {size} random bytes"),
            file.clone(),
            b,
        );
    }
    for (pos, bit) in flips(len, 2, false) {
        let mut b = pristine.clone();
        b[pos as usize] ^= 1 << bit;
        case(
            t,
            format!("bit {bit} of byte {pos} flipped"),
            file.clone(),
            b,
        );
    }
    for cut in 0..len as usize {
        case(
            t,
            format!("cut to {cut} bytes"),
            file.clone(),
            pristine[..cut].to_vec(),
        );
    }
    for extra in [1usize, 32, 4096] {
        let mut b = pristine.clone();
        b.resize(b.len() + extra, 0);
        case(t, format!("{extra} zero bytes appended"), file.clone(), b);
    }
    // Fields, under a matching CRC.
    let producers = u32_at(&pristine, 13) as usize;
    assert_eq!(producers, 2, "{file}: the fixture has two producers");
    let mut edits: Vec<(String, usize, Vec<u8>)> = Vec::new();
    for v in LENGTHS {
        edits.push((
            format!("producer count {v}"),
            13,
            (v as u32).to_le_bytes().to_vec(),
        ));
        edits.push((format!("offset {v}"), 5, v.to_le_bytes().to_vec()));
    }
    // Version 2 entries: id, epoch, the open transaction's first offset,
    // the batch count, then the batches.
    assert_eq!(pristine[4], 2, "{file}: a version 2 snapshot");
    let mut at = 17;
    for p in 0..producers {
        let n = pristine[at + 18] as usize;
        for v in [0u8, 6, 255] {
            edits.push((format!("producer {p}'s batch count {v}"), at + 18, vec![v]));
        }
        for v in [f.written, 1 << 31, (1 << 32) - 1] {
            let what = format!("producer {p}'s open transaction at {v}");
            edits.push((what, at + 10, v.to_le_bytes().to_vec()));
        }
        for (field, off) in [("base", 8), ("last", 16)] {
            for v in [f.written, 1 << 31, (1 << 32) - 1] {
                let pos = at + 19 + (n - 1) * 32 + off;
                let what = format!("producer {p}'s last batch's {field} offset {v}");
                edits.push((what, pos, v.to_le_bytes().to_vec()));
            }
        }
        at += 19 + 32 * n;
    }
    for (how, pos, v) in edits {
        let mut b = pristine.clone();
        b[pos..pos + v.len()].copy_from_slice(&v);
        reseal_snapshot(&mut b);
        case(t, format!("{how}, CRC matching"), file.clone(), b);
    }
    // Intact, but as of offsets past the log end.
    for offset in [f.written + 1, 1 << 31, (1 << 32) - 1] {
        let mut b = pristine.clone();
        b[5..13].copy_from_slice(&offset.to_le_bytes());
        reseal_snapshot(&mut b);
        let target = format!("{offset:020}.snapshot");
        case(t, format!("a copy as of offset {offset}"), target, b);
    }
}

/// Fault: after a clean close (whose marker carries the state as of the
/// log end, so open reads no snapshot), the newest snapshot (as of the
/// last roll) damaged every way [`snapshot_damage`] knows. Snapshots are
/// derived: open succeeds, every record is there, no snapshot past the end
/// survives, and the state written at the next close equals the
/// undamaged log's.
#[test]
fn snapshot_damage_after_a_clean_close() {
    let (_crashed, f) = Fixture::with_producers();
    let mut t = Tally::new("snapshot_clean", SEED);
    let snapshots = files_with_ext(&f.dir, "snapshot");
    assert_eq!(snapshots.len(), 2, "the snapshots of the last two rolls");
    let newest = snapshots.last().unwrap();
    let file = newest.file_name().unwrap().to_str().unwrap();
    assert_eq!(file, name(f.active(), "snapshot"));
    let state = marker_state(&fs::read(f.dir.join(MARKER)).unwrap()).to_vec();
    snapshot_damage(&f, &mut t, file, &state, "clean");
    t.finish();
}

/// Fault: the newest snapshot left by a crash (as of the active segment's
/// base; the older one is as of the roll before) damaged every way
/// [`snapshot_damage`] knows, so open falls back to the older snapshot or
/// to replaying every batch header. The state written at the next close
/// equals the undamaged log's.
#[test]
fn snapshot_damage_after_a_crash() {
    let (f, clean) = Fixture::with_producers();
    let mut t = Tally::new("snapshot_crash", SEED);
    let state = marker_state(&fs::read(clean.dir.join(MARKER)).unwrap()).to_vec();
    let newest = files_with_ext(&f.dir, "snapshot").pop().unwrap();
    let file = newest.file_name().unwrap().to_str().unwrap();
    assert_eq!(file, name(f.active(), "snapshot"));
    snapshot_damage(&f, &mut t, file, &state, "crash");
    t.finish();
}

/// Fault: small fixed-purpose files grown to 128 MiB (sparse: a file
/// system or a stray `truncate` grew them without data): the marker (33
/// bytes when whole), the newest snapshot and the newest two index
/// files. Nothing is lost (they are derived), and since none of them
/// can legitimately be that long, reading them must not allocate their
/// length: the bound here is the fixed 64 MiB, not 4 times the file.
#[test]
fn oversized_small_files() {
    let (_crashed, f) = Fixture::with_producers();
    let mut t = Tally::new("oversized_small_files", SEED);
    let snapshot = files_with_ext(&f.dir, "snapshot").pop().unwrap();
    let snapshot = snapshot.file_name().unwrap().to_str().unwrap().to_owned();
    // The active segment's index files; when the last batch filled its
    // segment, the active one is empty and has none: the newest sealed
    // segment's are the newest then.
    let indexed = *f
        .bases
        .iter()
        .rev()
        .find(|&&b| f.dir.join(name(b, "index")).exists())
        .unwrap();
    let files = [
        MARKER.to_owned(),
        snapshot,
        name(indexed, "index"),
        name(indexed, "timeindex"),
    ];
    for file in files {
        let e = Expect::derived(file.clone(), f.written);
        let ctx = format!("{file} grown to 128 MiB");
        let mut largest = 0;
        f.case(
            &mut t,
            &ctx,
            |d| set_len(&d.join(&file), 128 << 20),
            |d| {
                let r = check(d, &e);
                largest = largest_here();
                r
            },
        );
        if largest > 64 * MIB {
            t.violations
                .push(format!("{ctx}: one allocation of {largest} bytes"));
        }
    }
    t.finish();
}

// ---- Lies the fuzzers found ----------------------------------------------------

/// Fault: the last batch of a sealed segment claims, under a matching CRC,
/// offsets running a million past the next segment's base (a bug in
/// whatever wrote it). Reading its segment is `Error::Corrupt` naming the
/// log; it must not shadow the later segments, whose records all read back
/// true.
#[test]
fn a_sealed_batch_running_past_the_next_segment_is_corrupt() {
    let f = Fixture::new(true);
    let seg = f.sealed();
    let last = *f.batches_of(seg).last().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    copy_dir(&f.dir, &dir);
    let path = dir.join(name(seg, "log"));
    let mut bytes = fs::read(&path).unwrap();
    let at = last.start as usize;
    let delta = u32_at(&bytes, at + 19) + 1_000_000;
    bytes[at + 19..at + 23].copy_from_slice(&delta.to_le_bytes());
    resign_batch(&mut bytes, at);
    fs::write(&path, &bytes).unwrap();
    let p = Partition::open(&dir, config()).unwrap();
    let err = p.read(last.base_offset, 1 << 20).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path: p, .. } if p.ends_with(name(seg, "log"))),
        "{err}"
    );
    let next = f.offsets_of(seg).end;
    let mut at = next;
    while at < f.written {
        let records = p.read(at, 1 << 20).unwrap();
        for r in records.iter() {
            assert_eq!(r.offset(), at, "later segments are not shadowed");
            assert_eq!(r.value(), rec(at).value.as_deref());
            at += 1;
        }
    }
    assert_eq!(at, f.written);
}

/// Fault: a sealed segment's time index is replaced by one with no entry
/// under a matching trailer. A segment holding batches always has one, so
/// the index is rebuilt, and timestamp lookups still find the segment's
/// records (an empty index made them skip the segment).
#[test]
fn an_empty_time_index_of_a_sealed_segment_is_rebuilt() {
    let f = Fixture::new(true);
    let seg = f.sealed();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    copy_dir(&f.dir, &dir);
    let log_size = file_len(&dir.join(name(seg, "log")));
    fs::write(
        dir.join(name(seg, "timeindex")),
        reseal(&[], log_size, b"SMTI"),
    )
    .unwrap();
    let p = Partition::open(&dir, config()).unwrap();
    let pristine = Partition::open(&f.dir, config()).unwrap();
    for offset in f.offsets_of(seg) {
        let ts = rec(offset).timestamp;
        assert_eq!(
            p.offset_for_timestamp(ts).unwrap(),
            pristine.offset_for_timestamp(ts).unwrap(),
            "timestamp {ts} of offset {offset}"
        );
    }
}
