//! Idempotent appends: duplicates, gaps, fencing, and producer state that
//! survives clean reopens, crashes, segment rolls and damaged or missing
//! snapshot files. Every scenario runs on disk and in memory. The helpers
//! here serve the model test (`idempotence_model_tests`) too.

use super::producer_snapshot::{self, file_name};
use super::*;
use crate::batch::{BatchBuilder, BatchHeader, EncodedBatch, ProducerFields};

/// Where a scenario keeps its files.
pub(super) enum Env {
    Disk(tempfile::TempDir),
    Memory(MemStorage),
}

fn envs() -> [Env; 2] {
    [
        Env::Disk(tempfile::tempdir().unwrap()),
        Env::Memory(MemStorage::default()),
    ]
}

impl Env {
    pub(super) fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Env::Disk(_) => Arc::new(FsStorage),
            Env::Memory(m) => Arc::new(m.clone()),
        }
    }

    pub(super) fn dir(&self) -> PathBuf {
        match self {
            Env::Disk(t) => t.path().join("p"),
            Env::Memory(_) => PathBuf::from("/idem/p"),
        }
    }

    pub(super) fn open(&self, config: &PartitionConfig) -> Result<Partition> {
        Partition::open_with(self.storage(), &self.dir(), config.clone())
    }

    /// Stops without closing: on disk, what was written stays in the files
    /// (a killed process); in memory, every unsynced byte is lost (a power
    /// loss).
    fn crash(&self, p: Partition) {
        drop(p);
        if let Env::Memory(m) = self {
            m.crash(|_, synced, _| synced);
        }
    }

    pub(super) fn snapshots(&self) -> Vec<u64> {
        let names = self.storage().list(&self.dir()).unwrap();
        let mut v: Vec<u64> = names
            .iter()
            .filter_map(|n| producer_snapshot::parse_file_name(n))
            .collect();
        v.sort_unstable();
        v
    }

    pub(super) fn read_file(&self, name: &str) -> Vec<u8> {
        let f = self.storage().open(&self.dir().join(name), false).unwrap();
        crate::storage::read_all(&*f).unwrap()
    }

    pub(super) fn write_file(&self, name: &str, bytes: &[u8]) {
        let f = self.storage().open(&self.dir().join(name), true).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(bytes, 0).unwrap();
        f.sync_data().unwrap();
    }

    pub(super) fn remove_file(&self, name: &str) {
        self.storage().remove_file(&self.dir().join(name)).unwrap();
    }
}

/// A batch of `n` records from producer `(id, epoch)` with sequences from
/// `seq`; each value names its producer, epoch and sequence.
pub(super) fn batch(id: i64, epoch: i16, seq: i32, n: u32) -> EncodedBatch {
    let mut b = BatchBuilder::new(1 << 20, 64);
    for i in 0..n {
        let v = format!("{id}/{epoch}/{}", i64::from(seq) + i64::from(i));
        b.push(&Record::new(&v).timestamp(i64::from(seq) + 100), 0)
            .unwrap();
    }
    b.finish(ProducerFields {
        producer_id: id,
        producer_epoch: epoch,
        base_sequence: seq,
    })
}

pub(super) fn send(p: &Partition, id: i64, epoch: i16, seq: i32, n: u32) -> Result<AppendInfo> {
    p.append_encoded(batch(id, epoch, seq, n), p.now_ms())
}

/// Every value in the log, in offset order.
pub(super) fn values(p: &Partition) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = p.log_start_offset();
    while at < p.high_watermark() {
        let r = p.read(at, 1 << 20).unwrap();
        for rec in &r {
            out.push(String::from_utf8(rec.value().unwrap().to_vec()).unwrap());
        }
        at = r.next_offset();
    }
    out
}

fn out_of_order(r: Result<AppendInfo>) -> (i64, i32, i32) {
    match r {
        Err(Error::OutOfOrderSequence {
            producer_id,
            expected,
            got,
        }) => (producer_id, expected, got),
        other => panic!("expected OutOfOrderSequence, got {other:?}"),
    }
}

fn small() -> PartitionConfig {
    PartitionConfig::default().segment_bytes(1024)
}

#[test]
fn a_retried_batch_is_written_once_and_answered_with_its_offsets() {
    for env in envs() {
        let p = env.open(&PartitionConfig::default()).unwrap();
        p.append(&[Record::new(b"plain")]).unwrap();
        let first = send(&p, 1, 0, 0, 3).unwrap();
        assert_eq!((first.base_offset, first.last_offset), (1, 3));
        for _ in 0..3 {
            assert_eq!(send(&p, 1, 0, 0, 3).unwrap(), first);
        }
        assert_eq!(p.log_end_offset(), 4);
        let next = send(&p, 1, 0, 3, 1).unwrap();
        assert_eq!(next.base_offset, 4);
        assert_eq!(values(&p), ["plain", "1/0/0", "1/0/1", "1/0/2", "1/0/3"]);
    }
}

#[test]
fn a_retry_after_a_clean_reopen_or_a_crash_is_still_written_once() {
    for env in envs() {
        let config = PartitionConfig::default();
        let p = env.open(&config).unwrap();
        let a = send(&p, 7, 2, 0, 2).unwrap();
        let b = send(&p, 7, 2, 2, 2).unwrap();
        p.close().unwrap();

        let p = env.open(&config).unwrap();
        assert_eq!(send(&p, 7, 2, 0, 2).unwrap(), a);
        assert_eq!(send(&p, 7, 2, 2, 2).unwrap(), b);
        let c = send(&p, 7, 2, 4, 1).unwrap();
        env.crash(p);

        let p = env.open(&config).unwrap();
        assert_eq!(send(&p, 7, 2, 4, 1).unwrap(), c);
        assert_eq!(send(&p, 7, 2, 0, 2).unwrap(), a);
        assert_eq!(out_of_order(send(&p, 7, 2, 6, 1)), (7, 5, 6));
        env.crash(p);

        let p = env.open(&config).unwrap();
        assert_eq!(send(&p, 7, 2, 2, 2).unwrap(), b);
        assert_eq!(p.log_end_offset(), 5);
        assert_eq!(values(&p).len(), 5);
    }
}

#[test]
fn gaps_and_reordering_are_refused_and_write_nothing() {
    for env in envs() {
        let p = env.open(&PartitionConfig::default()).unwrap();
        assert_eq!(out_of_order(send(&p, 3, 0, 1, 1)), (3, 0, 1));
        send(&p, 3, 0, 0, 2).unwrap();
        assert_eq!(out_of_order(send(&p, 3, 0, 3, 1)), (3, 2, 3));
        // Overlapping the last batch without being it.
        assert_eq!(out_of_order(send(&p, 3, 0, 1, 2)), (3, 2, 1));
        assert_eq!(out_of_order(send(&p, 3, 0, 0, 1)), (3, 2, 0));
        assert_eq!(out_of_order(send(&p, 3, 0, -1, 1)), (3, 2, -1));
        assert_eq!(p.log_end_offset(), 2);
        assert_eq!(p.segments().unwrap()[0].size_bytes(), {
            let mut b = batch(3, 0, 0, 2);
            b.assign_base_offset(0);
            b.as_bytes().len() as u64
        });
        send(&p, 3, 0, 2, 1).unwrap();
        assert_eq!(values(&p), ["3/0/0", "3/0/1", "3/0/2"]);
    }
}

#[test]
fn an_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero() {
    for env in envs() {
        let config = PartitionConfig::default();
        let p = env.open(&config).unwrap();
        send(&p, 5, 1, 0, 1).unwrap();
        send(&p, 5, 1, 1, 1).unwrap();
        assert_eq!(out_of_order(send(&p, 5, 2, 2, 1)), (5, 0, 2));
        let bumped = send(&p, 5, 2, 0, 1).unwrap();
        for (epoch, seq) in [(1, 2), (1, 1), (0, 0)] {
            let err = send(&p, 5, epoch, seq, 1).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::ProducerFenced {
                        producer_id: 5,
                        epoch: e,
                        current_epoch: 2
                    } if e == epoch
                ),
                "{err}"
            );
        }
        p.close().unwrap();
        let p = env.open(&config).unwrap();
        assert!(matches!(
            send(&p, 5, 1, 2, 1),
            Err(Error::ProducerFenced { .. })
        ));
        assert_eq!(send(&p, 5, 2, 0, 1).unwrap(), bumped);
        send(&p, 5, 2, 1, 1).unwrap();
        assert_eq!(values(&p), ["5/1/0", "5/1/1", "5/2/0", "5/2/1"]);
    }
}

#[test]
fn interleaved_producers_keep_their_own_sequences() {
    for env in envs() {
        let config = small();
        let p = env.open(&config).unwrap();
        let mut infos = Vec::new();
        for round in 0..20 {
            for id in [10, 20, 30] {
                infos.push(((id, round), send(&p, id, 0, round * 2, 2).unwrap()));
            }
            p.append(&[Record::new(b"plain")]).unwrap();
        }
        env.crash(p);
        let p = env.open(&config).unwrap();
        for ((id, round), info) in &infos[infos.len() - 15..] {
            assert_eq!(send(&p, *id, 0, round * 2, 2).unwrap(), *info);
        }
        for id in [10, 20, 30] {
            assert_eq!(out_of_order(send(&p, id, 0, 0, 2)), (id, 40, 0));
            send(&p, id, 0, 40, 1).unwrap();
        }
        assert_eq!(values(&p).len(), 20 * 7 + 3);
    }
}

#[test]
fn only_the_last_five_batches_are_recognised_across_restarts() {
    for env in envs() {
        let config = small();
        let p = env.open(&config).unwrap();
        let infos: Vec<AppendInfo> = (0..8).map(|i| send(&p, 1, 0, i, 1).unwrap()).collect();
        let check = |p: &Partition| {
            for i in 3..8 {
                assert_eq!(send(p, 1, 0, i, 1).unwrap(), infos[i as usize]);
            }
            for i in 0..3 {
                assert_eq!(out_of_order(send(p, 1, 0, i, 1)), (1, 8, i));
            }
        };
        check(&p);
        p.close().unwrap();
        let p = env.open(&config).unwrap();
        check(&p);
        env.crash(p);
        let p = env.open(&config).unwrap();
        check(&p);
        assert_eq!(p.log_end_offset(), 8);
    }
}

#[test]
fn state_survives_many_segment_rolls_and_snapshots_are_pruned() {
    for env in envs() {
        let config = small();
        let p = env.open(&config).unwrap();
        let mut last = Vec::new();
        for i in 0..200 {
            last.push(send(&p, 9, 4, i * 3, 3).unwrap());
        }
        let segments = p.segments().unwrap();
        assert!(segments.len() > 10, "{}", segments.len());
        let snaps = env.snapshots();
        assert_eq!(
            snaps,
            segments[segments.len() - 2..]
                .iter()
                .map(|s| s.base_offset())
                .collect::<Vec<_>>()
        );
        env.crash(p);
        let p = env.open(&config).unwrap();
        for i in 195..200 {
            assert_eq!(send(&p, 9, 4, i * 3, 3).unwrap(), last[i as usize]);
        }
        send(&p, 9, 4, 600, 1).unwrap();
        p.close().unwrap();
        // The active segment is small: its close writes no snapshot, and
        // the newest roll snapshot plus its headers give the state.
        let snaps = env.snapshots();
        assert_eq!(snaps.len(), 2);
        assert!(*snaps.last().unwrap() < 601, "{snaps:?}");
        let p = env.open(&config).unwrap();
        assert_eq!(
            send(&p, 9, 4, 600, 1).unwrap().base_offset,
            600,
            "the last batch is known after the reopen"
        );
    }
}

/// A log of a few segments from two producers, closed; returns the last
/// append of each producer and the config.
fn closed_log(env: &Env) -> (PartitionConfig, [(i32, AppendInfo); 2]) {
    let config = small();
    let p = env.open(&config).unwrap();
    let mut last = [(
        0,
        AppendInfo {
            base_offset: 0,
            last_offset: 0,
            max_timestamp: 0,
        },
    ); 2];
    for i in 0..60 {
        for (k, id) in [1i64, 2].into_iter().enumerate() {
            last[k] = (i, send(&p, id, 0, i, 1).unwrap());
        }
    }
    assert!(p.segments().unwrap().len() > 4);
    p.close().unwrap();
    (config, last)
}

fn assert_state(p: &Partition, last: &[(i32, AppendInfo); 2]) {
    for (k, id) in [1i64, 2].into_iter().enumerate() {
        let (seq, info) = last[k];
        assert_eq!(send(p, id, 0, seq, 1).unwrap(), info, "producer {id}");
        assert_eq!(
            out_of_order(send(p, id, 0, seq + 2, 1)),
            (id, seq + 1, seq + 2)
        );
    }
}

#[test]
fn missing_snapshots_fall_back_to_replaying_the_log() {
    for env in envs() {
        let (config, last) = closed_log(&env);
        for o in env.snapshots() {
            env.remove_file(&file_name(o));
        }
        let p = env.open(&config).unwrap();
        assert_state(&p, &last);
        // The same after a crash, with no snapshot at all.
        env.crash(p);
        for o in env.snapshots() {
            env.remove_file(&file_name(o));
        }
        let p = env.open(&config).unwrap();
        assert_state(&p, &last);
    }
}

#[test]
fn a_damaged_snapshot_falls_back_to_an_older_one() {
    for env in envs() {
        let (config, last) = closed_log(&env);
        // Without the marker, which carries the state of a clean close,
        // open starts from the snapshots.
        env.remove_file(super::marker::FILE_NAME);
        let snaps = env.snapshots();
        assert_eq!(snaps.len(), 2);
        let newest = file_name(snaps[1]);
        let mut bytes = env.read_file(&newest);
        bytes[20] ^= 0x04;
        env.write_file(&newest, &bytes);
        let p = env.open(&config).unwrap();
        assert_eq!(env.snapshots(), [snaps[0]], "the damaged one is deleted");
        assert_state(&p, &last);
        env.crash(p);
        let p = env.open(&config).unwrap();
        assert_state(&p, &last);
    }
}

#[test]
fn a_cut_snapshot_and_a_missing_one_fall_back_to_the_whole_log() {
    for env in envs() {
        let (config, last) = closed_log(&env);
        let snaps = env.snapshots();
        let newest = file_name(*snaps.last().unwrap());
        let bytes = env.read_file(&newest);
        env.write_file(&newest, &bytes[..bytes.len() - 1]);
        env.remove_file(&file_name(snaps[0]));
        let p = env.open(&config).unwrap();
        assert_state(&p, &last);
    }
}

#[test]
fn a_snapshot_past_the_log_end_is_removed_and_not_used() {
    for env in envs() {
        let (config, last) = closed_log(&env);
        let end = *env.snapshots().last().unwrap();
        // A valid snapshot of another history, beyond the log's end: a
        // producer 1 whose epoch would fence every batch above.
        let mut other = ProducerState::default();
        let mut h = BatchHeader::decode_from(batch(1, 9, 0, 1).as_bytes()).unwrap();
        h.base_offset = end + 5;
        other.record(&h);
        let future = end + 10;
        env.write_file(
            &file_name(future),
            &producer_snapshot::encode(future, &other),
        );
        let p = env.open(&config).unwrap();
        assert!(!env.snapshots().contains(&future));
        assert_state(&p, &last);
        // Grow past it, crash: the state is still the log's.
        for i in 0..20 {
            send(&p, 3, 0, i, 1).unwrap();
        }
        env.crash(p);
        let p = env.open(&config).unwrap();
        assert_state(&p, &last);
        assert_eq!(out_of_order(send(&p, 3, 0, 0, 1)), (3, 20, 0));
    }
}

#[test]
fn a_crash_before_the_roll_snapshot_replays_the_sealed_segments() {
    for env in envs() {
        let config = small();
        let p = env.open(&config).unwrap();
        let mut infos = Vec::new();
        // Stop right after a roll, so the last five batches span the sealed
        // segment before the active one.
        loop {
            infos.push(send(&p, 1, 0, infos.len() as i32, 1).unwrap());
            let segs = p.segments().unwrap();
            if segs.len() >= 3 && segs.last().unwrap().base_offset() == infos.len() as u64 - 1 {
                break;
            }
            assert!(infos.len() < 1000, "no roll");
        }
        infos.push(send(&p, 1, 0, infos.len() as i32, 1).unwrap());
        env.crash(p);
        // Lose the snapshot taken at the last roll: open must replay the
        // sealed segment after the older one, then scan the active one.
        let snaps = env.snapshots();
        assert_eq!(snaps.len(), 2);
        env.remove_file(&file_name(snaps[1]));
        let p = env.open(&config).unwrap();
        let n = infos.len() as i32;
        for seq in n - 5..n {
            assert_eq!(send(&p, 1, 0, seq, 1).unwrap(), infos[seq as usize]);
        }
        assert_eq!(out_of_order(send(&p, 1, 0, n - 6, 1)), (1, n, n - 6));
    }
}

#[test]
fn a_clean_open_reads_no_batch_the_marker_carries_the_producers() {
    for env in envs() {
        let config = PartitionConfig::default();
        let p = env.open(&config).unwrap();
        let info = send(&p, 1, 0, 0, 2).unwrap();
        send(&p, 1, 0, 2, 2).unwrap();
        p.close().unwrap();
        // Damage the first batch's magic byte, keeping the file's size: an
        // open that read the headers would stumble on it.
        let log = crate::segment::log_file_name(0);
        let mut bytes = env.read_file(&log);
        bytes[12] = 0x7f;
        env.write_file(&log, &bytes);
        let p = env.open(&config).unwrap();
        assert_eq!(send(&p, 1, 0, 0, 2).unwrap(), info);
        p.close().unwrap();
        // Without the marker (which carries the state) and the snapshots,
        // open has to read the headers, and reports the damage instead of
        // guessing the producers' state.
        env.remove_file(super::marker::FILE_NAME);
        for o in env.snapshots() {
            env.remove_file(&file_name(o));
        }
        let err = env.open(&config).unwrap_err();
        assert!(matches!(err, Error::Corrupt { position: 0, .. }), "{err}");
    }
}

#[test]
fn a_duplicate_answers_with_the_original_log_append_time() {
    for env in envs() {
        let config = PartitionConfig::default().timestamp_type(TimestampType::LogAppendTime);
        let p = env.open(&config).unwrap();
        let info = send(&p, 1, 0, 0, 1).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert_eq!(send(&p, 1, 0, 0, 1).unwrap(), info);
        p.close().unwrap();
        let p = env.open(&config).unwrap();
        assert_eq!(send(&p, 1, 0, 0, 1).unwrap(), info);
    }
}

#[test]
fn concurrent_retries_are_written_once_and_all_get_the_same_answer() {
    for env in envs() {
        let p = env.open(&PartitionConfig::default()).unwrap();
        for seq in 0..20 {
            let answers: Vec<AppendInfo> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| send(&p, 1, 0, seq, 1).unwrap()))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
            assert_eq!(answers[0].base_offset, seq as u64);
        }
        assert_eq!(p.log_end_offset(), 20);
        assert_eq!(p.high_watermark(), 20);
    }
}

#[test]
fn refusals_on_a_closed_partition_come_first() {
    let p = Partition::in_memory(PartitionConfig::default()).unwrap();
    send(&p, 1, 0, 0, 1).unwrap();
    p.close().unwrap();
    assert!(matches!(send(&p, 1, 0, 0, 1), Err(Error::Closed { .. })));
}
