//! Compression benchmark (issue 18), `cargo bench --bench compression
//! --features compression`, on realistic records: 100,000 JSON events of
//! 220 to 260 bytes with repeating field names (an order event: ids,
//! customer, items, currency, time), appended in batches of 1,000 through
//! `Partition::append` to a topic stored in each codec (64 MiB segments,
//! in an in-memory log, so that the page cache's write-back does not
//! blur what compression costs), and read back whole with
//! `Partition::read` (1 MiB reads, every value touched). The disk ratios
//! come from the same topics written to files.
//!
//! Per codec, in the same run:
//! - `append/<codec>` and `append/none` (the same records uncompressed);
//! - `codec_compress/<codec>`: the codec alone on the same batches' records
//!   sections (as samsa encodes them, taken from the uncompressed topic's
//!   segment), with the same settings (gzip 6, zstd 3) and framing;
//! - `read/<codec>`, `read/none`, and `codec_decompress/<codec>`: the
//!   codec alone decompressing those sections.
//!
//! Printed after the groups: each codec's disk bytes over payload bytes.
//! Targets: samsa's overhead around a codec within 10% of the codec alone,
//! and a read of a compressed topic no dearer than decompression plus the
//! uncompressed read.

mod common;

use common::{scratch, touch};
use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::Compression;
use samsa_log::topic::{CompressionType, TopicConfig};
use samsa_log::{Log, Partition, Record};
use std::io::{Read, Write};
use std::time::Duration;

const RECORDS: u64 = 100_000;
const BATCH: usize = 1_000;
/// The batch header samsa writes before each records section.
const HEADER: usize = 57;

fn event(i: u64) -> String {
    format!(
        r#"{{"event":"order_placed","order_id":"ord-{i:010}","customer":{{"id":"cust-{:06}","tier":"{}","country":"{}"}},"items":[{{"sku":"sku-{:05}","qty":{},"price_cents":{}}}],"currency":"EUR","channel":"{}","ts":{}}}"#,
        (i * 7919) % 100_000,
        ["gold", "silver", "bronze"][(i % 3) as usize],
        ["FR", "DE", "NL", "ES", "IT"][(i % 5) as usize],
        (i * 31) % 20_000,
        1 + i % 5,
        100 + (i * 37) % 10_000,
        ["web", "app", "store"][(i % 3) as usize],
        1_733_300_000_000 + i * 13
    )
}

fn events() -> Vec<String> {
    (0..RECORDS).map(event).collect()
}

fn topic(log: &Log, name: &str, codec: Compression) -> Partition {
    let config = TopicConfig::default()
        .segment_bytes(64 << 20)
        .sync(SyncPolicy::Os)
        .compression_type(CompressionType::from(codec));
    log.create_topic(name, config)
        .expect("topic")
        .partition(0)
        .expect("p0")
}

fn append_all(p: &Partition, events: &[String]) {
    for chunk in events.chunks(BATCH) {
        let records: Vec<Record<'_>> = chunk.iter().map(|e| Record::new(e.as_bytes())).collect();
        p.append(&records).expect("append");
    }
}

fn read_all(p: &Partition) -> (u64, u64) {
    let end = p.high_watermark();
    let (mut at, mut n, mut sum) = (0, 0, 0);
    while at < end {
        let records = p.read(at, 1 << 20).expect("read");
        for r in &records {
            n += 1;
            sum += touch(r.value().unwrap_or_default());
        }
        at = records.next_offset();
    }
    (n, sum)
}

/// The batches of a segment file: (header, records section) of each.
fn batches(bytes: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        let end = pos + 12 + len;
        out.push((&bytes[pos..pos + HEADER], &bytes[pos + HEADER..end]));
        pos = end;
    }
    out
}

fn segment_bytes(p: &Partition) -> Vec<u8> {
    let seg = &p.segments().expect("segments")[0];
    let mut bytes = std::fs::read(seg.files().log).expect("segment");
    bytes.truncate(seg.size_bytes() as usize);
    bytes
}

/// The codec alone, with samsa's settings and framing.
fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    match codec {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
            e.write_all(input).unwrap();
            e.try_finish().unwrap();
        }
        Compression::Snappy => {
            out.resize(snap::raw::max_compress_len(input.len()), 0);
            let n = snap::raw::Encoder::new().compress(input, out).unwrap();
            out.truncate(n);
        }
        Compression::Lz4 => {
            out.extend_from_slice(&(input.len() as u32).to_le_bytes());
            out.resize(4 + lz4_flex::block::get_maximum_output_size(input.len()), 0);
            let n = lz4_flex::block::compress_into(input, &mut out[4..]).unwrap();
            out.truncate(4 + n);
        }
        Compression::Zstd => out.extend_from_slice(&zstd::bulk::compress(input, 3).unwrap()),
        _ => out.extend_from_slice(input),
    }
}

fn decompress(codec: Compression, input: &[u8], len: usize, out: &mut Vec<u8>) {
    out.clear();
    match codec {
        Compression::Gzip => {
            flate2::read::GzDecoder::new(input)
                .read_to_end(out)
                .unwrap();
        }
        Compression::Snappy => {
            out.resize(len, 0);
            snap::raw::Decoder::new().decompress(input, out).unwrap();
        }
        Compression::Lz4 => {
            out.resize(len, 0);
            lz4_flex::block::decompress_into(&input[4..], out).unwrap();
        }
        Compression::Zstd => {
            out.resize(len, 0);
            zstd::bulk::decompress_to_buffer(input, out).unwrap();
        }
        _ => out.extend_from_slice(input),
    }
}

fn compression(c: &mut Criterion) {
    let events = events();
    let payload: u64 = events.iter().map(|e| e.len() as u64).sum();
    let dir = scratch();
    let log = Log::open(dir.path().join("log")).expect("log");
    let plain = topic(&log, "plain", Compression::None);
    append_all(&plain, &events);
    let plain_bytes = segment_bytes(&plain);
    let sections: Vec<Vec<u8>> = batches(&plain_bytes)
        .into_iter()
        .map(|(_, r)| r.to_vec())
        .collect();
    assert_eq!(sections.len() as u64, RECORDS / BATCH as u64);
    let codecs: Vec<Compression> = Compression::available()
        .into_iter()
        .filter(|c| *c != Compression::None)
        .collect();
    let mut ratios = vec![(
        "none".to_string(),
        plain_bytes.len() as f64 / payload as f64,
    )];

    let mut g = c.benchmark_group("compression");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(payload));
    let mem = Log::in_memory();
    let mut n = 0;
    let mut fresh = |log: &Log, codec: Compression| {
        n += 1;
        topic(log, &format!("t{n}"), codec)
    };
    let plain_mem = fresh(&mem, Compression::None);
    append_all(&plain_mem, &events);
    g.bench_function("append/none", |b| {
        b.iter_batched(
            || fresh(&mem, Compression::None),
            |p| append_all(&p, &events),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("read/none", |b| {
        b.iter(|| {
            let (n, sum) = read_all(&plain_mem);
            assert_eq!(n, RECORDS);
            black_box(sum)
        })
    });
    for &codec in &codecs {
        g.bench_function(format!("append/{codec}"), |b| {
            b.iter_batched(
                || fresh(&mem, codec),
                |p| append_all(&p, &events),
                criterion::BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("codec_compress/{codec}"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                let mut total = 0;
                for s in &sections {
                    compress(codec, s, &mut out);
                    total += out.len();
                }
                black_box(total)
            })
        });
        let on_disk = fresh(&log, codec);
        append_all(&on_disk, &events);
        let stored_bytes = segment_bytes(&on_disk);
        let stored = fresh(&mem, codec);
        append_all(&stored, &events);
        ratios.push((
            codec.to_string(),
            stored_bytes.len() as f64 / payload as f64,
        ));
        let compressed: Vec<(Vec<u8>, usize)> = batches(&stored_bytes)
            .into_iter()
            .zip(&sections)
            .map(|((_, r), s)| (r.to_vec(), s.len()))
            .collect();
        g.bench_function(format!("read/{codec}"), |b| {
            b.iter(|| {
                let (n, sum) = read_all(&stored);
                assert_eq!(n, RECORDS);
                black_box(sum)
            })
        });
        g.bench_function(format!("codec_decompress/{codec}"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                let mut total = 0;
                for (s, len) in &compressed {
                    decompress(codec, s, *len, &mut out);
                    total += out.len();
                }
                assert_eq!(total, sections.iter().map(Vec::len).sum::<usize>());
                black_box(total)
            })
        });
    }
    g.finish();
    println!("compression: payload {payload} bytes in {RECORDS} JSON events");
    for (codec, ratio) in ratios {
        println!("compression: {codec:>6}: disk bytes / payload bytes = {ratio:.3}");
    }
    log.close().expect("close");
}

criterion_group!(benches, compression);
criterion_main!(benches);
