//! Entry points for fuzzing every decoder of the files samsa reads.
//!
//! Each function takes arbitrary bytes, drives one decoder to the end
//! (every batch, record, header, entry and field, so that lazy decoding
//! runs too) and checks what the decoder accepted against cheap
//! invariants: a decoded value encodes back to its bytes, a CRC that
//! passed verifies, offsets increase, what recovery kept survives a clean
//! close and reopen. Bad input must end in a typed error, `None` or a
//! rebuild; only a broken invariant (a bug) panics.
//!
//! A checksum stops a fuzzer at the first byte it changes, so the
//! decoders also see a *resealed* copy of the input, with every CRC (of
//! batches, index trailers, the metadata's crc line, snapshots, the
//! marker) recomputed, which reaches the code behind the checksum.
//!
//! Used by the cargo-fuzz targets in `fuzz/` (feature `fuzzing`, see
//! `fuzz/README.md`) and by the proptests in `fuzzing/tests.rs`. Not an
//! API: hidden, and built only for tests or with the feature.

mod recovery;
#[cfg(test)]
mod tests;

pub use recovery::{recover_index, recover_sealed_segment, recover_segment};

use crate::batch::{
    check_batches, decompress_into, BatchBuilder, BatchHeader, BatchView, ControlMarker,
    ProducerFields, Records, ATTR_NULLABLE_HEADER_VALUES,
};
use crate::compression::{Compression, Levels};
use crate::group::{membership, offsets};
use crate::index::{
    encode_file, entries_len, entry_at, entry_count, Entry, IndexBytes, IndexKind, OffsetEntry,
    OffsetIndex, TimeEntry, TimeIndex,
};
use crate::partition::marker::CleanShutdown;
use crate::partition::producer_snapshot;
use crate::record::RecordRef;
use crate::record::{Header, Record};
use crate::segment::{log_file_name, parse_log_file_name, txn_index, Indexes};
use crate::topic::properties;
use crate::txn::state as txn_state;
use byteorder::{ByteOrder, LittleEndian as LE};
use recovery::Rec;
use std::path::Path;

/// The record batch decoder. `data`: the bytes of a `.log` file.
///
/// Parses every batch from the front (`BatchView::parse`), walks every
/// record and header, encodes each batch again from what was read, and
/// checks the batches as a read does (`check_batches`, [`Records`]).
pub fn batch(data: &[u8]) {
    let mut resealed = data.to_vec();
    reseal_batches(&mut resealed);
    check_log_bytes(data);
    if resealed != data {
        check_log_bytes(&resealed);
    }
}

/// The index loaders. `data`: a flags byte, then an index file.
///
/// Flags bit 0: a time index (else an offset index). Bit 1: the rest is a
/// log size (8 bytes) and entries, given a valid trailer here. Checks the
/// trailer (`entries_len`), the sanity check and every lookup against
/// a linear model.
pub fn index(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let kind = if flags & 1 == 0 {
        IndexKind::Offset
    } else {
        IndexKind::Time
    };
    let file = match (flags & 2 != 0, rest.get(..8)) {
        (true, Some(size)) => encode_file(kind, &rest[8..], LE::read_u64(size)),
        _ => rest.to_vec(),
    };
    let log_size = file
        .len()
        .checked_sub(16)
        .map_or(0, |n| LE::read_u64(&file[n..]));
    let entries = match entries_len(kind, &file, log_size) {
        Some(n) => {
            assert_eq!(encode_file(kind, &file[..n], log_size), file, "trailer");
            &file[..n]
        }
        None => &file[..],
    };
    match kind {
        IndexKind::Offset => check_offset_index(entries, log_size),
        IndexKind::Time => check_time_index(entries),
    }
}

/// The topic metadata decoder. `data`: a `topic.properties` file, decoded
/// as given and with its crc line recomputed. What decodes must encode
/// and decode to the same name and configuration.
pub fn topic_metadata(data: &[u8]) {
    let body = find_last(data, b"crc=").map_or(data, |at| &data[..at]);
    let mut resealed = body.to_vec();
    resealed.extend_from_slice(format!("crc={:08x}\n", crc32fast::hash(body)).as_bytes());
    for bytes in [data, &resealed[..]] {
        if let Ok(stored) = properties::decode(bytes, Path::new(properties::FILE_NAME)) {
            let id = stored.id.unwrap_or(crate::topic::TopicId::from_u128(1));
            let again = properties::encode(&stored.name, id, &stored.config);
            let back = properties::decode(again.as_bytes(), Path::new(properties::FILE_NAME))
                .expect("re-encoded metadata decodes");
            assert_eq!(
                (back.name, back.id, back.config),
                (stored.name, Some(id), stored.config),
                "metadata round trip"
            );
        }
    }
}

/// What the batch target lets a compressed batch's records decompress to.
const FUZZ_MAX_RECORDS: usize = 1 << 20;

/// One codec's decoder (feature `gzip`, `snappy`, `lz4` or `zstd`).
/// `data`: bytes to decompress, bounded as a read bounds them. What
/// decompresses stays within the bound and compresses and decompresses
/// back to itself.
pub fn codec(codec: Compression, data: &[u8]) {
    let mut out = Vec::new();
    if crate::compression::decompress(codec, data, FUZZ_MAX_RECORDS, &mut out).is_ok() {
        assert!(out.len() <= FUZZ_MAX_RECORDS, "bounded");
        let mut packed = Vec::new();
        crate::compression::compress(codec, Levels::default(), &out, &mut packed)
            .expect("a build with the codec compresses");
        let mut back = Vec::new();
        crate::compression::decompress(codec, &packed, out.len(), &mut back)
            .expect("what was compressed decompresses");
        assert_eq!(back, out, "codec round trip");
    }
}

/// The offset store's decoders. `data`: a key or a value of a record of
/// `__consumer_offsets`; what decodes must encode to the same bytes.
pub fn offset_store(data: &[u8]) {
    if let Some((group, topic, partition)) = offsets::decode_key(data) {
        assert_eq!(offsets::encode_key(&group, &topic, partition), data, "key");
    }
    if let Some(value) = offsets::decode_value(data) {
        let commit_time = LE::read_i64(&data[10..18]);
        assert_eq!(offsets::encode_value(&value, commit_time), data, "value");
    }
}

/// The membership records' decoders. `data`: a key or a value of a
/// record of `__consumer_groups`; what decodes must encode to the same
/// bytes.
pub fn group_membership(data: &[u8]) {
    if let Some(group) = membership::decode_key(data) {
        assert_eq!(membership::encode_key(&group), data, "key");
    }
    if let Some(recorded) = membership::decode_value("g", data) {
        let again = membership::encode_value(&recorded.description, recorded.recorded_at_ms);
        assert_eq!(again, data, "value");
    }
}

/// The transaction state's decoders. `data`: a key or a value of a record
/// of `__transaction_state`; what decodes must encode to the same bytes.
pub fn transaction_state(data: &[u8]) {
    if let Some(id) = txn_state::decode_key(data) {
        assert_eq!(txn_state::encode_key(&id), data, "key");
    }
    if let Some(meta) = txn_state::decode_value(data) {
        assert_eq!(txn_state::encode_value(&meta), data, "value");
    }
}

/// The aborted-transaction index decoder. `data`: a segment's base offset
/// and next offset (8 bytes each), then a `.txnindex` file, decoded as
/// given and with every entry's CRC recomputed. What decodes must encode
/// to the same bytes and lie in the segment, in marker order.
pub fn txn_index(data: &[u8]) {
    let (Some(base), Some(next)) = (data.get(..8), data.get(8..16)) else {
        return;
    };
    let (base, next) = (LE::read_u64(base), LE::read_u64(next));
    let file = &data[16..];
    let mut resealed = file.to_vec();
    for entry in resealed.chunks_exact_mut(txn_index::ENTRY) {
        let crc = crc32fast::hash(&entry[..24]);
        entry[24..].copy_from_slice(&crc.to_le_bytes());
    }
    for bytes in [file, &resealed[..]] {
        if let Some(entries) = txn_index::decode(bytes, base, next) {
            assert_eq!(txn_index::encode(&entries), bytes, "txnindex round trip");
            for (i, e) in entries.iter().enumerate() {
                assert!(
                    (base..next).contains(&e.last_offset),
                    "marker in the segment"
                );
                assert!(e.first_offset < e.last_offset, "data before the marker");
                assert!(
                    i == 0 || entries[i - 1].last_offset < e.last_offset,
                    "marker order"
                );
            }
        }
    }
}

/// The producer-state snapshot decoder. `data`: a `.snapshot` file, as of
/// the offset its header names, decoded as given and with its CRC
/// recomputed. What decodes must encode to the same bytes.
pub fn producer_snapshot(data: &[u8]) {
    for bytes in [data, &resealed_tail_crc(data)[..]] {
        let offset = bytes.get(5..13).map_or(0, LE::read_u64);
        if let Some(state) = producer_snapshot::decode(bytes, offset) {
            assert_eq!(producer_snapshot::encode(offset, &state), bytes, "snapshot");
            assert!(producer_snapshot::decode(bytes, offset.wrapping_add(1)).is_none());
        }
    }
}

/// The clean-shutdown marker decoder, and the file-name parsers of
/// segments and snapshots. `data`: a `.clean_shutdown` file (decoded as
/// given and with its CRC recomputed), or a file name.
pub fn clean_shutdown_marker(data: &[u8]) {
    let mut resealed = data.to_vec();
    if resealed.len() == CleanShutdown::SIZE {
        let crc = crc32fast::hash(&resealed[..29]);
        resealed[29..].copy_from_slice(&crc.to_le_bytes());
    }
    for bytes in [data, &resealed[..]] {
        if let Some(m) = CleanShutdown::decode_from(bytes) {
            let mut again = [0u8; CleanShutdown::SIZE];
            m.encode_into(&mut again);
            assert_eq!(again[..], *bytes, "marker");
        }
    }
    if let Ok(name) = std::str::from_utf8(data) {
        if let Some(base) = parse_log_file_name(name) {
            assert_eq!(log_file_name(base), name);
        }
        if let Some(offset) = producer_snapshot::parse_file_name(name) {
            assert_eq!(producer_snapshot::file_name(offset), name);
        }
    }
}

// ---------------------------------------------------------------------
// Batches

/// The CRC a batch stores: of every byte but the CRC field.
fn batch_crc(batch: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&batch[..13]);
    h.update(&batch[17..]);
    h.finalize()
}

/// Recomputes the CRC of every batch whose header decodes and fits, from
/// the front, as far as the batches go.
fn reseal_batches(log: &mut [u8]) {
    let mut pos = 0;
    while let Ok(h) = BatchHeader::decode_from(&log[pos..]) {
        let Some(batch) = log.get_mut(pos..pos + h.total_size()) else {
            return;
        };
        let crc = batch_crc(batch);
        batch[13..17].copy_from_slice(&crc.to_le_bytes());
        pos += h.total_size();
    }
}

fn check_log_bytes(data: &[u8]) {
    if let Ok(h) = BatchHeader::decode_from(data) {
        let mut again = [0u8; BatchHeader::SIZE];
        h.encode_into(&mut again);
        assert_eq!(again[..], data[..BatchHeader::SIZE], "header round trip");
    }
    let mut pos = 0;
    while let Ok(view) = BatchView::parse(&data[pos..]) {
        let size = view.total_size();
        if view.is_compressed() {
            // Its records are checked decompressed, as every reader sees them.
            let mut plain = Vec::new();
            if decompress_into(&data[pos..], &view, FUZZ_MAX_RECORDS, &mut plain).is_ok() {
                let plain_view = BatchView::parse(&plain).expect("a decompressed batch parses");
                assert!(!plain_view.is_compressed());
                check_batch(&plain_view, &plain);
            }
        } else {
            check_batch(&view, &data[pos..pos + size]);
        }
        pos += size;
    }
    let first = BatchHeader::decode_from(data).map_or(0, |h| h.base_offset);
    let mid = first.saturating_add(1);
    for (from, until) in [(0, u64::MAX), (mid, u64::MAX), (0, mid)] {
        let checked = check_batches(data, from, until);
        assert!(checked.valid_len <= data.len());
        if let Some((at, _)) = &checked.bad {
            assert_eq!(*at, checked.valid_len);
        }
        let Ok(records) = Records::from_read(data.to_vec(), from, &checked, FUZZ_MAX_RECORDS, 4096)
        else {
            // A compressed batch whose records do not decompress.
            assert!(checked.compressed);
            continue;
        };
        let mut previous = None;
        let mut count = 0;
        for r in &records {
            assert!(
                r.offset() >= from && previous < Some(r.offset()),
                "read order"
            );
            previous = Some(r.offset());
            count += 1;
            r.headers().for_each(drop);
        }
        assert_eq!(count, records.len(), "read count");
    }
}

/// Checks one parsed batch: CRC, record count and offsets, headers, and
/// that the records encode again into a batch that reads back the same
/// (byte for byte, when the batch was written the way samsa writes).
fn check_batch(view: &BatchView<'_>, bytes: &[u8]) {
    let h = view.header;
    assert_eq!(batch_crc(bytes), h.crc, "a parsed batch's CRC verifies");
    if let Ok(marker) = ControlMarker::decode(view) {
        // A marker this version reads is one it writes the same way.
        let mut again = marker.batch(h.producer_id, h.producer_epoch, h.max_timestamp);
        again.assign_base_offset(h.base_offset);
        let view = BatchView::parse(again.as_bytes()).expect("a marker's batch parses");
        assert_eq!(
            ControlMarker::decode(&view),
            Ok(marker),
            "marker round trip"
        );
    }
    let records: Vec<RecordRef<'_>> = view.records().collect();
    assert_eq!(records.len() as u64, u64::from(h.record_count), "records");
    let mut previous = None;
    for r in &records {
        assert!(r.offset() >= h.base_offset && r.offset() <= h.last_offset());
        assert!(previous < Some(r.offset()), "offsets increase");
        previous = Some(r.offset());
        let headers = r.headers();
        let promised = headers.size_hint().1;
        assert_eq!(Some(headers.count()), promised, "every header parses");
    }
    let headers: Vec<Vec<Header<'_>>> = records.iter().map(|r| r.headers().collect()).collect();
    let mut builder = BatchBuilder::new(usize::MAX, bytes.len());
    for (r, headers) in records.iter().zip(&headers) {
        let record = Record {
            key: r.key().map(Into::into),
            value: r.value().map(Into::into),
            headers: headers.into(),
            timestamp: Some(r.timestamp()),
            ..Record::default()
        };
        builder
            .push(&record, 0)
            .expect("a record read can be written");
    }
    let mut encoded = builder.finish(ProducerFields {
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
    });
    encoded.assign_base_offset(h.base_offset);
    let again = encoded.as_bytes();
    let view2 = BatchView::parse(again).expect("a re-encoded batch parses");
    assert_eq!(view2.records().count(), records.len());
    for (i, (a, b)) in records.iter().zip(view2.records()).enumerate() {
        assert_eq!(b.offset(), h.base_offset + i as u64);
        assert_eq!(
            Rec::of(a).offset(0),
            Rec::of(&b).offset(0),
            "record round trip"
        );
    }
    // A batch with headers is written in the nullable header form, one
    // without in the form both versions share.
    let any_headers = headers.iter().any(|h| !h.is_empty());
    let form = if any_headers {
        ATTR_NULLABLE_HEADER_VALUES
    } else {
        0
    };
    let canonical = h.attributes == form
        && h.last_offset_delta == h.record_count - 1
        && records.last().map(|r| r.offset()) == Some(h.last_offset())
        && records.first().map(|r| r.timestamp()) == Some(h.base_timestamp)
        && records.iter().map(|r| r.timestamp()).max() == Some(h.max_timestamp);
    if canonical && again.len() == bytes.len() {
        assert_eq!(again, bytes, "a canonical batch encodes to its bytes");
    }
}

// ---------------------------------------------------------------------
// Indexes

fn check_offset_index(buf: &[u8], log_len: u64) {
    let entries: Vec<OffsetEntry> = (0..entry_count::<OffsetEntry>(buf))
        .map(|i| entry_at(buf, i))
        .collect();
    let limit = entries
        .iter()
        .map(|e| u64::from(e.relative_offset) + 1)
        .max()
        .unwrap_or(0);
    let increasing = entries
        .windows(2)
        .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
    let model = buf.len().is_multiple_of(OffsetEntry::SIZE)
        && increasing
        && entries
            .iter()
            .all(|e| u64::from(e.position) < log_len.max(1));
    assert_eq!(OffsetIndex::is_sane(buf, log_len, limit), model, "sanity");
    if limit > 0 {
        assert!(!OffsetIndex::is_sane(buf, log_len, limit - 1), "limit");
    }
    let near = |v: u32| [v.saturating_sub(1), v, v.saturating_add(1)];
    let targets = entries
        .iter()
        .take(16)
        .flat_map(|e| near(e.relative_offset));
    for t in targets.chain([0, u32::MAX]) {
        let got = OffsetIndex::lookup(buf, t);
        assert!(got.is_none_or(|e| entries.contains(&e)));
        if increasing {
            let want = entries.iter().rev().find(|e| e.relative_offset <= t);
            assert_eq!(got.as_ref(), want, "lookup {t}");
        }
    }
    let positions = entries.iter().take(16).flat_map(|e| near(e.position));
    for p in positions.map(u64::from).chain([0, 1 << 40]) {
        let got = OffsetIndex::boundary_at_or_below(buf, p);
        if increasing {
            let want = entries.iter().rev().find(|e| u64::from(e.position) <= p);
            assert_eq!(got, want.map(|e| u64::from(e.position)), "boundary {p}");
        }
    }
}

fn check_time_index(buf: &[u8]) {
    let entries: Vec<TimeEntry> = (0..entry_count::<TimeEntry>(buf))
        .map(|i| entry_at(buf, i))
        .collect();
    let limit = entries
        .iter()
        .map(|e| u64::from(e.relative_offset) + 1)
        .max()
        .unwrap_or(0);
    let increasing = entries
        .windows(2)
        .all(|w| w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset);
    let model = buf.len().is_multiple_of(TimeEntry::SIZE) && increasing;
    assert_eq!(TimeIndex::is_sane(buf, limit), model, "sanity");
    assert_eq!(TimeIndex::last(buf), entries.last().copied());
    let near = |v: i64| [v.saturating_sub(1), v, v.saturating_add(1)];
    let targets = entries.iter().take(16).flat_map(|e| near(e.timestamp));
    for t in targets.chain([i64::MIN, 0, i64::MAX]) {
        let got = TimeIndex::lookup(buf, t);
        if increasing {
            let want = entries.iter().rev().find(|e| e.timestamp <= t);
            assert_eq!(got, want.map(|e| e.relative_offset), "lookup {t}");
        }
    }
    let loaded = Indexes::loaded(IndexBytes::default(), IndexBytes::Owned(buf.to_vec()), 0);
    assert_eq!(loaded.max_timestamp(), entries.last().map(|e| e.timestamp));
}

// ---------------------------------------------------------------------
// Small files

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// `data` with its last 4 bytes replaced by the CRC-32 of those before.
fn resealed_tail_crc(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if let Some(n) = out.len().checked_sub(4) {
        let crc = crc32fast::hash(&out[..n]);
        out[n..].copy_from_slice(&crc.to_le_bytes());
    }
    out
}
