//! Model test: random appends, reads, time lookups, flushes, clean reopens
//! and simulated crashes against a `Vec` of what was appended, on disk and
//! in memory. A crash drops the partition without closing it and cuts the
//! active segment's log at a random byte past its last sync (on disk) or
//! keeps a random part of every file's unsynced bytes (in memory); reopening
//! must then give a prefix of the model holding everything durable.
//!
//! Cases: 24 by default; set `SAMSA_PROPTEST_CASES` for more.

use super::test_support::cases;
use super::*;
use crate::storage::MemStorage;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Records as (key, value length, timestamp).
    Append(Vec<(Option<u8>, usize, i64)>),
    /// Read from `hw * num / 16 (+ slack)` with this many max bytes.
    Read {
        num: u8,
        slack: u8,
        max_bytes: usize,
    },
    OffsetForTimestamp(i64),
    Flush,
    Reopen,
    /// Crash, then cut with this random number.
    Crash(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec(
            (proptest::option::of(0u8..8), 0usize..300, 0i64..1000), 1..6
        ).prop_map(Op::Append),
        4 => (0u8..=16, 0u8..3, 1usize..3000)
            .prop_map(|(num, slack, max_bytes)| Op::Read { num, slack, max_bytes }),
        2 => (-10i64..1010).prop_map(Op::OffsetForTimestamp),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => any::<u64>().prop_map(Op::Crash),
    ]
}

/// A record of the model: key, value, timestamp.
type Model = Vec<(Option<Vec<u8>>, Vec<u8>, i64)>;

fn value(offset: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (offset * 31 + i) as u8).collect()
}

/// Where a backend keeps its files, and how it crashes.
enum Backend {
    Disk(tempfile::TempDir),
    Memory(MemStorage),
}

impl Backend {
    fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Backend::Disk(_) => Arc::new(FsStorage),
            Backend::Memory(m) => Arc::new(m.clone()),
        }
    }

    fn dir(&self) -> PathBuf {
        match self {
            Backend::Disk(t) => t.path().join("p"),
            Backend::Memory(_) => PathBuf::from("/model/p"),
        }
    }

    /// Drops unsynced bytes. `synced` is the active segment's (base, size)
    /// at its last known sync.
    fn crash(&self, p: Partition, synced: (u64, u64), rnd: u64) {
        let active = p.segments().unwrap().last().unwrap().clone();
        drop(p);
        match self {
            Backend::Disk(_) => {
                let path = self
                    .dir()
                    .join(crate::segment::log_file_name(active.base_offset()));
                let len = std::fs::metadata(&path).unwrap().len();
                let floor = if synced.0 == active.base_offset() {
                    synced.1
                } else {
                    0
                };
                let keep = floor + rnd % (len - floor + 1);
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(keep).unwrap();
                if rnd.is_multiple_of(5) {
                    // The file grew without its data: a zero-filled tail.
                    f.set_len(keep + rnd % 300).unwrap();
                }
            }
            Backend::Memory(m) => {
                let mut r = rnd;
                m.crash(|_, synced, len| {
                    r = r
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    synced + (r >> 33) as usize % (len - synced + 1)
                });
            }
        }
    }
}

fn check_read(
    p: &Partition,
    model: &Model,
    from: u64,
    max_bytes: usize,
) -> std::result::Result<(), TestCaseError> {
    let hw = p.high_watermark();
    match p.read(from, max_bytes) {
        Err(Error::OffsetOutOfRange {
            requested,
            start,
            end,
        }) => {
            prop_assert!(from > hw);
            prop_assert_eq!((requested, start, end), (from, 0, hw));
        }
        Err(e) => return Err(TestCaseError::fail(format!("read {from}: {e}"))),
        Ok(records) => {
            prop_assert!(from <= hw);
            prop_assert_eq!(records.is_empty(), from == hw);
            let mut at = from;
            for r in &records {
                prop_assert_eq!(r.offset(), at);
                let (k, v, ts) = &model[at as usize];
                prop_assert_eq!(r.key(), k.as_deref());
                prop_assert_eq!(r.value(), Some(v.as_slice()));
                prop_assert_eq!(r.timestamp(), *ts);
                at += 1;
            }
            prop_assert_eq!(records.len() as u64, at - from);
            if !records.is_empty() {
                prop_assert_eq!(records.next_offset(), at);
            }
        }
    }
    Ok(())
}

fn run(
    backend: Backend,
    config: PartitionConfig,
    ops: Vec<Op>,
) -> std::result::Result<(), TestCaseError> {
    let open = || Partition::open_with(backend.storage(), &backend.dir(), config.clone()).unwrap();
    let mut p = open();
    let mut model: Model = Vec::new();
    // Everything below this offset is durable.
    let mut durable = 0u64;
    // The active segment's (base, size) at the last sync we made.
    let mut synced = (0u64, 0u64);
    let always = config.sync == SyncPolicy::Always;
    for op in ops {
        match op {
            Op::Append(recs) => {
                let keys: Vec<Option<[u8; 1]>> = recs.iter().map(|r| r.0.map(|k| [k])).collect();
                let values: Vec<Vec<u8>> = recs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| value(model.len() + i, r.1))
                    .collect();
                let records: Vec<Record<'_>> = recs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut rec = Record::new(&values[i]).timestamp(r.2);
                        if let Some(k) = &keys[i] {
                            rec = rec.key(k);
                        }
                        rec
                    })
                    .collect();
                let info = p.append(&records).unwrap();
                prop_assert_eq!(info.base_offset, model.len() as u64);
                prop_assert_eq!(info.last_offset, (model.len() + recs.len() - 1) as u64);
                for (i, r) in recs.iter().enumerate() {
                    model.push((keys[i].map(|k| k.to_vec()), values[i].clone(), r.2));
                }
                prop_assert_eq!(p.high_watermark(), model.len() as u64);
                if always {
                    durable = model.len() as u64;
                    let a = p.segments().unwrap().last().unwrap().clone();
                    synced = (a.base_offset(), a.size_bytes());
                }
            }
            Op::Read {
                num,
                slack,
                max_bytes,
            } => {
                let from = p.high_watermark() * u64::from(num) / 16 + u64::from(slack);
                check_read(&p, &model, from, max_bytes)?;
            }
            Op::OffsetForTimestamp(ts) => {
                let want = model
                    .iter()
                    .position(|r| r.2 >= ts)
                    .map(|i| (i as u64, model[i].2));
                let got = p
                    .offset_for_timestamp(ts)
                    .unwrap()
                    .map(|t| (t.offset, t.timestamp));
                prop_assert_eq!(got, want);
            }
            Op::Flush => {
                p.flush().unwrap();
                durable = model.len() as u64;
                let a = p.segments().unwrap();
                let a = a.last().unwrap();
                synced = (a.base_offset(), a.size_bytes());
            }
            Op::Reopen => {
                p.close().unwrap();
                p = open();
                prop_assert_eq!(p.high_watermark(), model.len() as u64);
                durable = model.len() as u64;
                let a = p.segments().unwrap().last().unwrap().clone();
                synced = (a.base_offset(), a.size_bytes());
            }
            Op::Crash(rnd) => {
                // Sealed segments were synced when they rolled.
                let active = p.segments().unwrap().last().unwrap().clone();
                durable = durable.max(active.base_offset());
                if synced.0 != active.base_offset() {
                    synced = (active.base_offset(), 0);
                }
                backend.crash(p, synced, rnd);
                p = open();
                let hw = p.high_watermark();
                prop_assert!(
                    hw >= durable,
                    "lost durable records: hw {} < {}",
                    hw,
                    durable
                );
                prop_assert!(hw <= model.len() as u64);
                model.truncate(hw as usize);
                durable = hw;
                let a = p.segments().unwrap().last().unwrap().clone();
                synced = (a.base_offset(), a.size_bytes());
                // The whole surviving log reads back as the model's prefix.
                let mut at = 0;
                while at < hw {
                    let r = p.read(at, 1 << 16).unwrap();
                    check_read(&p, &model, at, 1 << 16)?;
                    at = r.next_offset();
                }
            }
        }
    }
    // Finally everything reads back, and a clean reopen changes nothing.
    p.close().unwrap();
    let p = open();
    prop_assert_eq!(p.high_watermark(), model.len() as u64);
    for from in 0..=model.len() as u64 {
        check_read(&p, &model, from, 1 << 20)?;
    }
    Ok(())
}

fn config() -> impl Strategy<Value = PartitionConfig> {
    (2048u64..6000, 0u32..600, any::<bool>()).prop_map(|(seg, interval, always)| {
        PartitionConfig::default()
            .segment_bytes(seg)
            .index_interval_bytes(interval)
            .sync(if always {
                SyncPolicy::Always
            } else {
                SyncPolicy::Os
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn partition_on_disk_matches_model(config in config(), ops in proptest::collection::vec(op(), 1..80)) {
        run(Backend::Disk(tempfile::tempdir().unwrap()), config, ops)?;
    }

    #[test]
    fn partition_in_memory_matches_model(config in config(), ops in proptest::collection::vec(op(), 1..80)) {
        run(Backend::Memory(MemStorage::default()), config, ops)?;
    }
}
