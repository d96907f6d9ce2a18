//! The recovery targets: a partition directory in memory, opened,
//! read, appended to, closed and opened again.

use super::reseal_batches;
use crate::batch::{BatchBuilder, BatchView, ProducerFields};
use crate::index::{encode_file, IndexKind};
use crate::partition::marker::{self, CleanShutdown};
use crate::partition::{Partition, PartitionConfig, SyncPolicy};
use crate::record::RecordRef;
use crate::record::{Header, Record};
use crate::segment::{log_file_name, Indexes, Mode};
use crate::storage::{MemStorage, Storage};
use byteorder::{ByteOrder, LittleEndian as LE};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Recovery of a whole segment file. `data`: a flags byte, then the
/// active (and only) segment's `.log`, based at offset 0.
///
/// Flags bit 0: reseal the batches' CRCs. Bit 1: if the file is whole
/// valid batches, add the index files and clean-shutdown marker a clean
/// close would have left. Bit 2: a forged marker instead, with no index
/// entries and the next offset in the 8 bytes after the flags; then only
/// "no panic" is checked. Opens the partition, reads everything, checks
/// offset and timestamp lookups, appends, closes, reopens and reads it
/// all again.
pub fn recover_segment(data: &[u8]) {
    let Some((&flags, mut log)) = data.split_first() else {
        return;
    };
    let forged = match (flags & 4 != 0, log.get(..8)) {
        (true, Some(next)) => {
            log = &log[8..];
            Some(LE::read_u64(next))
        }
        _ => None,
    };
    let mut log = log.to_vec();
    if flags & 1 != 0 {
        reseal_batches(&mut log);
    }
    let walk = walk_batches(&log);
    let storage = MemStorage::default();
    put(&storage, &log_file_name(0), &log);
    let len = log.len() as u64;
    match forged {
        Some(next_offset) => {
            let marker = CleanShutdown {
                base_offset: 0,
                next_offset,
                log_size: len,
            };
            vouch(&storage, &marker, None);
        }
        None if flags & 2 != 0 => close_cleanly(&storage, len),
        None => {}
    }
    exercise(
        &storage,
        &Expect {
            exact_times: walk.honest_timestamps,
            strict_offsets: true,
            forged: forged.is_some(),
            ..Expect::default()
        },
    );
}

/// Recovery with a damaged sealed segment. `data`: a flags byte, then the
/// `.log` of the first, sealed, segment (its indexes are gone, so they are
/// rebuilt), followed by the valid segments of a sample log.
///
/// Flags bit 0: reseal the batches' CRCs. Bit 1: keep the producer-state
/// snapshots (else open replays every batch header). Bit 2: keep the
/// clean-shutdown marker (else the active segment is scanned).
pub fn recover_sealed_segment(data: &[u8]) {
    let Some((&flags, log)) = data.split_first() else {
        return;
    };
    let mut log = log.to_vec();
    if flags & 1 != 0 {
        reseal_batches(&mut log);
    }
    let t = template();
    let next_base = t.bases[1];
    let storage = template_storage(|name| {
        !name.starts_with(&log_file_name(0)[..20])
            && (flags & 2 != 0 || !name.ends_with(".snapshot"))
            && (flags & 4 != 0 || name != marker::FILE_NAME)
    });
    put(&storage, &log_file_name(0), &log);
    let walk = walk_batches(&log);
    // The later segments' records are always there: a sealed batch
    // running past the next segment's base is corruption, not a shadow
    // over them (bug 3 of fuzz/README.md).
    let tail: Vec<Rec> = t
        .records
        .iter()
        .filter(|r| r.offset >= next_base)
        .cloned()
        .collect();
    exercise(
        &storage,
        &Expect {
            tail: Some((next_base, &tail[..])),
            exact_times: walk.honest_timestamps,
            strict_offsets: true,
            ..Expect::default()
        },
    );
}

/// Index files next to a valid log: the load and rebuild paths. `data`: a
/// flags byte, then index file bytes, put next to a sample log.
///
/// Flags bit 0: the bytes are the `.index`; bit 1: the `.timeindex` (both:
/// split in half; neither: both files are removed). Bit 2: the bytes are
/// entries only, given a valid trailer here. Bit 3: the files are the
/// active segment's, vouched for by the clean-shutdown marker (else the
/// first sealed segment's). Every read must return the sample's records.
pub fn recover_index(data: &[u8]) {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let t = template();
    let segment = if flags & 8 != 0 { t.bases.len() - 1 } else { 0 };
    let stem = log_file_name(t.bases[segment]).replace(".log", "");
    let is_index = |name: &str| name.ends_with(".index") || name.ends_with(".timeindex");
    let storage = template_storage(|name| !(name.starts_with(&stem) && is_index(name)));
    let (offset, time) = match flags & 3 {
        0 => (None, None),
        1 => (Some(bytes), None),
        2 => (None, Some(bytes)),
        _ => {
            let (a, b) = bytes.split_at(bytes.len() / 2);
            (Some(a), Some(b))
        }
    };
    let log_size = t.log_sizes[segment];
    for (file, kind, ext) in [
        (offset, IndexKind::Offset, "index"),
        (time, IndexKind::Time, "timeindex"),
    ] {
        if let Some(file) = file {
            let file = if flags & 4 != 0 {
                encode_file(kind, file, log_size)
            } else {
                file.to_vec()
            };
            put(&storage, &format!("{stem}.{ext}"), &file);
        }
    }
    exercise(
        &storage,
        &Expect {
            records: Some(&t.records),
            exact_times: time.is_none(),
            ..Expect::default()
        },
    );
}

/// What the batches at the front of a log file are, as far as they parse.
struct Walk {
    /// Every byte is a valid batch.
    whole: bool,
    /// Base offsets follow each other from 0, as in an active segment.
    dense: bool,
    next_offset: u64,
    last_offset: Option<u64>,
    /// Every batch's max timestamp is at least its records' timestamps.
    honest_timestamps: bool,
}

fn walk_batches(log: &[u8]) -> Walk {
    let mut w = Walk {
        whole: true,
        dense: true,
        next_offset: 0,
        last_offset: None,
        honest_timestamps: true,
    };
    let mut pos = 0;
    while pos < log.len() {
        let Ok(view) = BatchView::parse(&log[pos..]) else {
            w.whole = false;
            break;
        };
        let h = view.header;
        w.dense &= h.base_offset == w.next_offset && h.last_offset() <= u64::from(u32::MAX);
        w.next_offset = h.last_offset().saturating_add(1);
        w.last_offset = w.last_offset.max(Some(h.last_offset()));
        if view.is_compressed() {
            // Recovery reads headers only; the records' timestamps are
            // known once decompressed, if they decompress at all.
            let mut plain = Vec::new();
            let honest = crate::batch::readable(&log[pos..], view, 1 << 20, &mut plain)
                .is_ok_and(|p| p.records().all(|r| r.timestamp() <= h.max_timestamp));
            w.honest_timestamps &= honest;
        } else {
            w.honest_timestamps &= view.records().all(|r| r.timestamp() <= h.max_timestamp);
        }
        pos += view.total_size();
    }
    w
}

// ---------------------------------------------------------------------
// Recovery

/// The partition directory every recovery target opens.
const DIR: &str = "/fuzz";

/// Small segments and a dense index, so that a few KiB of log have
/// several segments and many index entries.
fn config() -> PartitionConfig {
    PartitionConfig::default()
        .segment_bytes(1024)
        .index_interval_bytes(64)
        .sync(SyncPolicy::Os)
}

/// A record as read, owned, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rec {
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Rec {
    pub(super) fn of(r: &RecordRef<'_>) -> Rec {
        Rec {
            offset: r.offset(),
            timestamp: r.timestamp(),
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            headers: r
                .headers()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }

    pub(super) fn offset(mut self, offset: u64) -> Rec {
        self.offset = offset;
        self
    }
}

/// A sample log, written once: several sealed segments, then the active
/// one, closed cleanly, with producer-state snapshots.
pub(super) struct Template {
    /// Names and contents of the partition directory's files.
    pub files: Vec<(String, Vec<u8>)>,
    /// Every record, as read.
    pub records: Vec<Rec>,
    /// Base offsets of the segments.
    pub bases: Vec<u64>,
    /// Sizes of the segments' `.log` files.
    pub log_sizes: Vec<u64>,
}

pub(super) fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let storage = MemStorage::default();
        let p = Partition::open_with(Arc::new(storage.clone()), Path::new(DIR), config())
            .expect("a partition in memory opens");
        let trace = [Header::new("trace", b"abc"), Header::new("", b"")];
        let mut sequences = [0i32; 2];
        for i in 0..30u32 {
            let values: Vec<String> = (0..1 + i % 4)
                .map(|j| format!("value {i}.{j} {}", "x".repeat((i * 7 % 23) as usize)))
                .collect();
            let records: Vec<Record<'_>> = values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let ts = 1_000 + i64::from(i) * 10 - (j as i64 % 2) * 15;
                    let mut r = Record::new(v).timestamp(ts);
                    if i % 2 == 0 {
                        r = r.key(&v.as_bytes()[..8]);
                    }
                    if i % 5 == 0 {
                        r = r.headers(&trace);
                    }
                    if (i as usize + j) % 7 == 3 {
                        r.value = None;
                    }
                    r
                })
                .collect();
            if i % 3 == 0 {
                // An idempotent producer's batch, so snapshots hold state.
                let id = (i / 3 % 2) as usize;
                let mut b = BatchBuilder::new(1 << 20, 0);
                for r in &records {
                    b.push(r, 0).expect("sample record");
                }
                let batch = b.finish(ProducerFields {
                    producer_id: 7 + id as i64,
                    producer_epoch: 1,
                    base_sequence: sequences[id],
                });
                sequences[id] += records.len() as i32;
                let now = crate::clock::now_ms();
                p.append_encoded(batch, now).expect("sample append");
            } else {
                p.append(&records).expect("sample append");
            }
        }
        let records = read_all(&p).expect("the sample log reads");
        let segments = p.segments().expect("segments");
        p.close().expect("the sample log closes");
        let names = storage.list(Path::new(DIR)).expect("list");
        let files = names
            .into_iter()
            .map(|name| {
                let f = storage
                    .open(&Path::new(DIR).join(&name), false)
                    .expect("open");
                let bytes = crate::storage::read_all(&*f).expect("read");
                (name, bytes)
            })
            .collect();
        Template {
            files,
            records,
            bases: segments.iter().map(|s| s.base_offset()).collect(),
            log_sizes: segments.iter().map(|s| s.size_bytes()).collect(),
        }
    })
}

/// A fresh storage holding the template's files that `keep` keeps.
fn template_storage(keep: impl Fn(&str) -> bool) -> MemStorage {
    let storage = MemStorage::default();
    for (name, bytes) in template().files.iter().filter(|(n, _)| keep(n)) {
        put(&storage, name, bytes);
    }
    storage
}

/// Writes (and syncs) file `name` of the partition directory.
fn put(storage: &MemStorage, name: &str, bytes: &[u8]) {
    let dir = Path::new(DIR);
    storage.create_dir_all(dir).expect("memory directory");
    let f = storage.open(&dir.join(name), true).expect("memory file");
    f.set_len(0).expect("memory truncate");
    f.write_all_at(bytes, 0).expect("memory write");
    f.sync_data().expect("memory sync");
}

/// Writes `marker` and index files that match it: `indexes`, or none
/// (which no close of a segment holding batches writes).
fn vouch(storage: &MemStorage, marker: &CleanShutdown, indexes: Option<&Indexes>) {
    let mut buf = [0u8; CleanShutdown::SIZE];
    marker.encode_into(&mut buf);
    put(storage, marker::FILE_NAME, &buf);
    let stem = log_file_name(marker.base_offset).replace(".log", "");
    for (kind, ext) in [(IndexKind::Offset, "index"), (IndexKind::Time, "timeindex")] {
        let entries = indexes.map_or(&[][..], |i| match kind {
            IndexKind::Offset => &i.offset,
            IndexKind::Time => &i.time,
        });
        let file = encode_file(kind, entries, marker.log_size);
        put(storage, &format!("{stem}.{ext}"), &file);
    }
}

/// Writes what a clean close would leave next to the segment `0.log` of
/// `len` bytes, if it is whole valid batches: its indexes (as a scan
/// builds them) and the marker.
fn close_cleanly(storage: &MemStorage, len: u64) {
    let path = Path::new(DIR).join(log_file_name(0));
    let Ok(file) = storage.open(&path, false) else {
        return;
    };
    let interval = config().index_interval_bytes;
    let Ok(mut s) = crate::segment::scan(&*file, &path, 0, interval, Mode::Tail) else {
        return;
    };
    if s.torn_tail || s.valid_len != len {
        return;
    }
    s.indexes.finish();
    let marker = CleanShutdown {
        base_offset: 0,
        next_offset: s.next_offset,
        log_size: len,
    };
    vouch(storage, &marker, Some(&s.indexes));
}

/// Every record from the log start to the high watermark, checking that
/// each read moves forward and returns increasing offsets.
fn read_all(p: &Partition) -> crate::Result<Vec<Rec>> {
    let mut out: Vec<Rec> = Vec::new();
    let hw = p.high_watermark();
    let mut at = p.log_start_offset();
    while at < hw {
        // Small reads, so that reads end at index boundaries.
        let records = p.read(at, 300)?;
        if records.is_empty() {
            break;
        }
        let mut count = 0;
        for r in &records {
            assert!(r.offset() >= at, "a read starts at the offset asked");
            count += 1;
            out.push(Rec::of(&r));
        }
        assert_eq!(count, records.len(), "read count");
        assert!(records.next_offset() > at, "reads move forward");
        at = records.next_offset();
    }
    Ok(out)
}

/// What a recovery target knows about the log it opens.
#[derive(Default)]
struct Expect<'a> {
    /// Every record the log must hold.
    records: Option<&'a [Rec]>,
    /// The records the log must hold from an offset on.
    tail: Option<(u64, &'a [Rec])>,
    /// Whether a timestamp lookup must find exactly the first record at
    /// or after the target (batch headers do not understate timestamps).
    exact_times: bool,
    /// Whether offsets must increase across reads and stay below the
    /// high watermark. The default, [`Expect::default`], does not demand
    /// it; the targets turn it on where it is a guarantee.
    strict_offsets: bool,
    /// A forged marker vouches for the files: only "no panic" is checked.
    forged: bool,
}

/// Opens the partition in `storage`, reads it all, looks up timestamps,
/// appends, closes, reopens, and reads it all again.
fn exercise(storage: &MemStorage, expect: &Expect<'_>) {
    let open = || Partition::open_with(Arc::new(storage.clone()), Path::new(DIR), config());
    let Ok(p) = open() else {
        return;
    };
    let (start, hw) = (p.log_start_offset(), p.high_watermark());
    let _ = p.segments();
    if expect.forged {
        let _ = read_all(&p);
        let _ = p.offset_for_timestamp(0);
        let _ = p.append(&[Record::new(b"after").timestamp(0)]);
        let _ = p.close();
        if let Ok(p) = open() {
            let _ = read_all(&p);
        }
        return;
    }
    let Ok(before) = read_all(&p) else {
        // A sealed segment is checked when first read: damage is an error.
        return;
    };
    let strict = expect.strict_offsets || expect.records.is_some();
    if strict {
        let increasing = before.windows(2).all(|w| w[0].offset < w[1].offset);
        assert!(increasing, "offsets increase across reads");
        let in_range = before.iter().all(|r| r.offset >= start && r.offset < hw);
        assert!(in_range, "records lie in {start}..{hw}");
    }
    if let Some(records) = expect.records {
        assert_eq!(before, records, "the log's records");
    }
    if let Some((from, tail)) = expect.tail {
        let got: Vec<&Rec> = before.iter().filter(|r| r.offset >= from).collect();
        assert_eq!(got, tail.iter().collect::<Vec<_>>(), "records from {from}");
    }
    check_times(&p, &before, expect.exact_times && strict);
    let info = p
        .append(&[Record::new(b"after").key(b"k").timestamp(7)])
        .expect("a recovered log takes appends");
    assert_eq!(info.base_offset, hw, "an append goes at the high watermark");
    p.close().expect("a recovered log closes");
    let p = open().expect("a log closed cleanly opens");
    assert_eq!(p.high_watermark(), info.last_offset + 1, "high watermark");
    let mut after = read_all(&p).expect("a log closed cleanly reads");
    let appended = after.pop_if(|r| r.offset == info.base_offset).is_some();
    // Without strict offsets, a batch may hide the records after it.
    assert!(appended || !strict, "the appended record reads back");
    assert_eq!(after, before, "records after reopen");
    p.close().expect("close");
}

/// Timestamp lookups: a hit is a record at or after the target; with
/// `exact`, the first such record.
fn check_times(p: &Partition, records: &[Rec], exact: bool) {
    let near = records
        .iter()
        .take(8)
        .flat_map(|r| [r.timestamp, r.timestamp.saturating_add(1)]);
    for target in near.chain([i64::MIN, 0, i64::MAX]) {
        let got = p
            .offset_for_timestamp(target)
            .expect("a log that reads looks up timestamps")
            .map(|t| (t.offset, t.timestamp));
        if let Some((offset, timestamp)) = got {
            assert!(timestamp >= target, "a hit is at or after {target}");
            let real = records
                .iter()
                .any(|r| (r.offset, r.timestamp) == (offset, timestamp));
            assert!(real, "a hit is a record: {offset} at {timestamp}");
        }
        if exact {
            let want = records.iter().find(|r| r.timestamp >= target);
            assert_eq!(
                got,
                want.map(|r| (r.offset, r.timestamp)),
                "first at {target}"
            );
        }
    }
}
