//! Model test of idempotent appends: several producers send, retry, skip
//! sequences, use stale epochs and bump them, interleaved with plain
//! appends, clean reopens, crashes and damage to the snapshot files. The
//! model is the list of batches in the log; what each send must answer is
//! worked out afresh from it, and after a crash the model keeps the batches
//! the recovered log still holds. Finally the log must hold each accepted
//! batch exactly once.
//!
//! Cases: 24 by default; set `SAMSA_PROPTEST_CASES` for more.

use super::idempotence_tests::{batch, send, values, Env};
use super::producer_snapshot::{self, file_name};
use super::producer_state::ProducerState;
use super::test_support::cases;
use super::*;
use crate::batch::BatchHeader;
use proptest::prelude::*;

/// One batch in the model of the log.
#[derive(Debug, Clone, PartialEq)]
struct ModelBatch {
    id: i64,
    epoch: i16,
    first: i32,
    n: u32,
    base: u64,
    max_timestamp: i64,
}

impl ModelBatch {
    fn last_seq(&self) -> i32 {
        if self.id < 0 {
            return -1;
        }
        self.first + self.n as i32 - 1
    }

    fn info(&self) -> AppendInfo {
        AppendInfo {
            base_offset: self.base,
            last_offset: self.base + u64::from(self.n) - 1,
            max_timestamp: self.max_timestamp,
        }
    }
}

/// What the model says a send must answer: the log's batches of this
/// producer decide it, read afresh from the list every time.
fn expect(
    log: &[ModelBatch],
    id: i64,
    epoch: i16,
    first: i32,
    n: u32,
) -> Result<Option<AppendInfo>> {
    let mine: Vec<&ModelBatch> = log.iter().filter(|b| b.id == id && id >= 0).collect();
    let Some(newest) = mine.last() else {
        return if id < 0 || first == 0 {
            Ok(None)
        } else {
            Err(Error::OutOfOrderSequence {
                producer_id: id,
                expected: 0,
                got: first,
            })
        };
    };
    let current = newest.epoch;
    let retained: Vec<&&ModelBatch> = mine
        .iter()
        .filter(|b| b.epoch == current)
        .rev()
        .take(5)
        .collect();
    if epoch == current {
        if let Some(b) = retained
            .iter()
            .find(|b| b.first == first && b.last_seq() == first + n as i32 - 1)
        {
            return Ok(Some(b.info()));
        }
    }
    if epoch < current {
        return Err(Error::ProducerFenced {
            producer_id: id,
            epoch,
            current_epoch: current,
        });
    }
    let expected = if epoch > current {
        0
    } else {
        newest.last_seq() + 1
    };
    if first == expected {
        Ok(None)
    } else {
        Err(Error::OutOfOrderSequence {
            producer_id: id,
            expected,
            got: first,
        })
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Producer `p` sends its next batch of `n` records.
    Next {
        p: usize,
        n: u32,
    },
    /// Producer `p` resends the batch it sent `back` sends ago.
    Retry {
        p: usize,
        back: usize,
    },
    /// Producer `p` skips `skip` sequence numbers.
    Gap {
        p: usize,
        skip: i32,
    },
    /// Producer `p` sends with its previous epoch.
    OldEpoch {
        p: usize,
    },
    /// Producer `p` bumps its epoch and starts at sequence 0.
    Bump {
        p: usize,
    },
    /// A batch without a producer id.
    Plain,
    Reopen,
    /// Crash, with this random number for what survives.
    Crash(u64),
    /// Close or crash, damage the snapshot files (how: this number), reopen.
    DamageSnapshots(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0usize..3, 1u32..4).prop_map(|(p, n)| Op::Next { p, n }),
        5 => (0usize..3, 0usize..8).prop_map(|(p, back)| Op::Retry { p, back }),
        1 => (0usize..3, 1i32..3).prop_map(|(p, skip)| Op::Gap { p, skip }),
        1 => (0usize..3).prop_map(|p| Op::OldEpoch { p }),
        1 => (0usize..3).prop_map(|p| Op::Bump { p }),
        2 => Just(Op::Plain),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(Op::Crash),
        1 => any::<u64>().prop_map(Op::DamageSnapshots),
    ]
}

/// A producer's own view: its epoch, next sequence, and what it sent.
#[derive(Debug, Clone, Default)]
struct Client {
    epoch: i16,
    next: i32,
    sent: Vec<(i16, i32, u32)>,
}

fn lcg(r: &mut u64) -> u64 {
    *r = r
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *r >> 33
}

/// Drops the partition without closing it and loses a random part of what
/// was not synced (in memory) or a random tail of the active segment (on
/// disk: any cut, even below synced bytes, which the producer state must
/// follow too).
fn crash(env: &Env, p: Partition, mut rnd: u64) {
    let active = p.segments().unwrap().last().unwrap().clone();
    drop(p);
    match env {
        Env::Disk(_) => {
            let path = env
                .dir()
                .join(crate::segment::log_file_name(active.base_offset()));
            let len = std::fs::metadata(&path).unwrap().len();
            let keep = if rnd.is_multiple_of(3) {
                len
            } else {
                lcg(&mut rnd) % (len + 1)
            };
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(keep)
                .unwrap();
        }
        Env::Memory(m) => {
            m.crash(|_, synced, len| synced + lcg(&mut rnd) as usize % (len - synced + 1))
        }
    }
}

fn damage_snapshots(env: &Env, log: &[ModelBatch], end: u64, mut rnd: u64) {
    let snaps = env.snapshots();
    let pick = |r: &mut u64| snaps[lcg(r) as usize % snaps.len()];
    match lcg(&mut rnd) % 4 {
        0 if !snaps.is_empty() => env.remove_file(&file_name(pick(&mut rnd))),
        1 if !snaps.is_empty() => {
            let name = file_name(pick(&mut rnd));
            let mut bytes = env.read_file(&name);
            let i = lcg(&mut rnd) as usize % bytes.len();
            bytes[i] ^= 1 << (lcg(&mut rnd) % 8);
            env.write_file(&name, &bytes);
        }
        2 if !snaps.is_empty() => {
            let name = file_name(pick(&mut rnd));
            let bytes = env.read_file(&name);
            env.write_file(&name, &bytes[..lcg(&mut rnd) as usize % bytes.len()]);
        }
        _ => {
            // A valid snapshot beyond the end, of a history where every
            // producer known has a far higher epoch.
            let mut other = ProducerState::default();
            for b in log.iter().filter(|b| b.id >= 0) {
                let mut h = BatchHeader::decode_from(batch(b.id, 1000, 0, 1).as_bytes()).unwrap();
                h.base_offset = end;
                other.record(&h);
            }
            let at = end + 1 + lcg(&mut rnd) % 50;
            env.write_file(&file_name(at), &producer_snapshot::encode(at, &other));
        }
    }
}

fn run(env: Env, config: PartitionConfig, ops: Vec<Op>) -> std::result::Result<(), TestCaseError> {
    let mut p = env.open(&config).unwrap();
    let mut log: Vec<ModelBatch> = Vec::new();
    let mut clients = vec![Client::default(); 3];
    let mut plain = 0i32;
    let end = |log: &[ModelBatch]| log.last().map_or(0, |b| b.base + u64::from(b.n));
    let recovered =
        |p: &Partition, log: &mut Vec<ModelBatch>| -> std::result::Result<(), TestCaseError> {
            let hw = p.high_watermark();
            let keep = log
                .iter()
                .take_while(|b| b.base + u64::from(b.n) <= hw)
                .count();
            log.truncate(keep);
            prop_assert_eq!(hw, end(log), "recovery cut inside a batch");
            Ok(())
        };
    for op in ops {
        let (id, epoch, first, n) = match op {
            Op::Next { p: c, n } => {
                let cl = &mut clients[c];
                let s = (c as i64, cl.epoch, cl.next, n);
                cl.next += n as i32;
                cl.sent.push((cl.epoch, s.2, n));
                s
            }
            Op::Retry { p: c, back } => {
                let cl = &clients[c];
                let Some(&(e, f, n)) = cl.sent.iter().rev().nth(back) else {
                    continue;
                };
                (c as i64, e, f, n)
            }
            Op::Gap { p: c, skip } => (c as i64, clients[c].epoch, clients[c].next + skip, 1),
            Op::OldEpoch { p: c } => {
                if clients[c].epoch == 0 {
                    continue;
                }
                (c as i64, clients[c].epoch - 1, clients[c].next, 1)
            }
            Op::Bump { p: c } => {
                clients[c].epoch += 1;
                clients[c].next = 0;
                continue;
            }
            Op::Plain => {
                plain += 1;
                (-1, -1, plain, 1)
            }
            Op::Reopen => {
                p.close().unwrap();
                p = env.open(&config).unwrap();
                prop_assert_eq!(p.high_watermark(), end(&log));
                continue;
            }
            Op::Crash(rnd) => {
                crash(&env, p, rnd);
                p = env.open(&config).unwrap();
                recovered(&p, &mut log)?;
                continue;
            }
            Op::DamageSnapshots(rnd) => {
                if rnd % 2 == 0 {
                    p.close().unwrap();
                } else {
                    crash(&env, p, rnd / 2);
                }
                // The crash may have cut the log: damage against what is left.
                p = env.open(&config).unwrap();
                recovered(&p, &mut log)?;
                p.close().unwrap();
                damage_snapshots(&env, &log, end(&log), rnd);
                p = env.open(&config).unwrap();
                prop_assert_eq!(p.high_watermark(), end(&log));
                continue;
            }
        };
        let want = expect(&log, id, epoch, first, n);
        let got = if id < 0 {
            let v = format!("plain{plain}");
            p.append(&[Record::new(&v).timestamp(7)])
        } else {
            send(&p, id, epoch, first, n)
        };
        match (want, got) {
            (Ok(None), Ok(info)) => {
                prop_assert_eq!(info.base_offset, end(&log));
                log.push(ModelBatch {
                    id,
                    epoch,
                    first,
                    n,
                    base: info.base_offset,
                    max_timestamp: info.max_timestamp,
                });
            }
            (Ok(Some(original)), Ok(info)) => prop_assert_eq!(info, original),
            (Err(w), Err(g)) => prop_assert_eq!(w.to_string(), g.to_string()),
            (w, g) => {
                return Err(TestCaseError::fail(format!(
                    "{id}/{epoch}/{first}+{n}: expected {w:?}, got {g:?}"
                )))
            }
        }
        prop_assert_eq!(p.log_end_offset(), end(&log));
    }
    // The log holds each accepted batch once, in order.
    let mut want = Vec::new();
    for b in &log {
        if b.id < 0 {
            want.push(format!("plain{}", b.first));
            continue;
        }
        for i in 0..b.n {
            want.push(format!(
                "{}/{}/{}",
                b.id,
                b.epoch,
                i64::from(b.first) + i64::from(i)
            ));
        }
    }
    prop_assert_eq!(values(&p), want);
    Ok(())
}

fn config() -> impl Strategy<Value = PartitionConfig> {
    (1024u64..3000, any::<bool>()).prop_map(|(seg, always)| {
        PartitionConfig::default()
            .segment_bytes(seg)
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
    fn idempotence_on_disk_matches_model(config in config(), ops in proptest::collection::vec(op(), 1..100)) {
        run(Env::Disk(tempfile::tempdir().unwrap()), config, ops)?;
    }

    #[test]
    fn idempotence_in_memory_matches_model(config in config(), ops in proptest::collection::vec(op(), 1..100)) {
        run(Env::Memory(MemStorage::default()), config, ops)?;
    }
}
