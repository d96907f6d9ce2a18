//! I/O faults on one partition, through a storage that fails chosen
//! operations: a failed write or file creation is an error the partition
//! goes on from once the cause clears; a failed sync makes it recover
//! in-process (see `recovery`), keeping what was durable; damage found by
//! that recovery poisons it until `reopen`.

use super::*;
use crate::storage::faulty::{FaultyStorage, Op};
use std::io::ErrorKind;

fn faulty(config: PartitionConfig) -> (MemStorage, FaultyStorage, Partition) {
    let mem = MemStorage::default();
    let faulty = FaultyStorage::new(Arc::new(mem.clone()));
    let p = Partition::open_with(Arc::new(faulty.clone()), Path::new("/p"), config).unwrap();
    (mem, faulty, p)
}

fn values(p: &Partition) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = p.log_start_offset();
    while at < p.high_watermark() {
        let r = p.read(at, 1 << 20).unwrap();
        out.extend(r.iter().map(|r| r.value().unwrap().to_vec()));
        at = r.next_offset();
    }
    out
}

fn is_io(e: &Error, want: &str) -> bool {
    matches!(e, Error::Io { op, .. } if *op == want)
}

#[test]
fn a_failed_fsync_is_recovered_in_process_keeping_what_was_durable() {
    let (mem, faulty, p) = faulty(PartitionConfig::default());
    p.append(&[Record::new(b"acked")]).unwrap();

    // Fault: fdatasync fails with EIO, and goes on failing for a while.
    faulty.arm(Op::Sync, ErrorKind::Other);
    let err = p.append(&[Record::new(b"never acknowledged")]).unwrap_err();
    assert!(is_io(&err, "fdatasync"), "{err}");
    assert!(
        err.to_string().contains("00000000000000000000.log"),
        "the error names the file: {err}"
    );
    match p.health() {
        PartitionHealth::Recovering { cause } => assert!(cause.contains("fdatasync"), "{cause}"),
        other => panic!("{other:?}"),
    }
    // While the cause lasts, every attempt to recover fails with it, named;
    // nothing is acknowledged, and the durable record stays readable.
    for _ in 0..3 {
        let err = p.append(&[Record::new(b"x")]).unwrap_err();
        assert!(is_io(&err, "fdatasync"), "{err}");
        assert!(matches!(p.flush(), Err(Error::Io { .. })));
    }
    assert_eq!(p.high_watermark(), 1);
    assert_eq!(values(&p), [b"acked".to_vec()]);

    // The cause clears: the next append recovers first, without a reopen.
    faulty.disarm();
    let info = p.append(&[Record::new(b"after")]).unwrap();
    assert_eq!(info.base_offset, 1, "the unacknowledged record is gone");
    assert_eq!(p.health(), PartitionHealth::Healthy);
    assert_eq!(values(&p), [b"acked".to_vec(), b"after".to_vec()]);
    let (synced, len) = mem
        .sync_state(&p.dir().join(crate::segment::log_file_name(0)))
        .unwrap();
    assert_eq!(synced, len, "what it acknowledged is synced");
    p.close().unwrap();

    // And the disk agrees after a reopen.
    let again =
        Partition::open_with(Arc::new(mem), Path::new("/p"), PartitionConfig::default()).unwrap();
    assert_eq!(values(&again), [b"acked".to_vec(), b"after".to_vec()]);
}

#[test]
fn under_weaker_policies_acknowledged_records_survive_a_failed_fsync() {
    for policy in [
        SyncPolicy::Os,
        SyncPolicy::Interval {
            ms: 0,
            bytes: 1 << 30,
        },
    ] {
        let (mem, faulty, p) = faulty(PartitionConfig::default().sync(policy));
        p.append(&[Record::new(b"a")]).unwrap();
        p.append(&[Record::new(b"b")]).unwrap();
        faulty.arm(Op::Sync, ErrorKind::Other);
        assert!(is_io(&p.flush().unwrap_err(), "fdatasync"), "{policy:?}");
        assert!(matches!(p.health(), PartitionHealth::Recovering { .. }));
        faulty.disarm();
        // Acknowledged when written: written again and synced by the
        // recovery, not dropped.
        p.append(&[Record::new(b"c")]).unwrap();
        p.flush().unwrap();
        assert_eq!(values(&p), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let (synced, len) = mem
            .sync_state(&p.dir().join(crate::segment::log_file_name(0)))
            .unwrap();
        assert_eq!(synced, len, "{policy:?}");
    }
}

#[test]
fn a_failed_fsync_at_a_roll_is_recovered_in_process() {
    let config = PartitionConfig::default()
        .segment_bytes(1024)
        .sync(SyncPolicy::Os);
    let (_, faulty, p) = faulty(config);
    p.append(&[Record::new(&[1u8; 700])]).unwrap();
    // Fault: sealing the full segment cannot sync its log.
    faulty.arm_on(Op::Sync, ErrorKind::Other, ".log");
    let err = p.append(&[Record::new(&[2u8; 700])]).unwrap_err();
    assert!(is_io(&err, "fdatasync"), "{err}");
    assert!(matches!(p.health(), PartitionHealth::Recovering { .. }));
    faulty.disarm();
    p.append(&[Record::new(b"x")]).unwrap();
    assert_eq!(p.health(), PartitionHealth::Healthy);
    p.append(&[Record::new(&[3u8; 700])]).unwrap();
    assert_eq!(values(&p), [vec![1u8; 700], b"x".to_vec(), vec![3u8; 700]]);
    assert_eq!(p.segments().unwrap().len(), 2, "the roll happened");
}

#[test]
fn a_failed_directory_sync_at_a_roll_is_recovered_in_process() {
    let config = PartitionConfig::default().segment_bytes(1024);
    let (_, faulty, p) = faulty(config);
    p.append(&[Record::new(&[1u8; 700])]).unwrap();
    // The new segment's directory entry is of unknown durability: recover.
    faulty.arm_on(Op::Sync, ErrorKind::Other, "/p");
    let err = p.append(&[Record::new(&[2u8; 700])]).unwrap_err();
    assert!(is_io(&err, "fsync directory"), "{err}");
    assert!(matches!(p.health(), PartitionHealth::Recovering { .. }));
    faulty.disarm();
    p.append(&[Record::new(&[3u8; 700])]).unwrap();
    assert_eq!(values(&p), [vec![1u8; 700], vec![3u8; 700]]);
    assert_eq!(p.health(), PartitionHealth::Healthy);
}

#[test]
fn index_files_are_derived_and_not_synced() {
    let config = PartitionConfig::default().segment_bytes(1024);
    let (_, faulty, p) = faulty(config);
    p.append(&[Record::new(&[1u8; 700])]).unwrap();
    // A sync of an index would fail: none is asked for.
    faulty.arm_on(Op::Sync, ErrorKind::Other, "index");
    p.append(&[Record::new(&[2u8; 700])]).unwrap();
    p.close().unwrap();
}

#[test]
fn no_file_at_a_roll_is_an_error_and_the_next_append_rolls() {
    let config = PartitionConfig::default().segment_bytes(1024);
    let (_, faulty, p) = faulty(config);
    p.append(&[Record::new(&[1u8; 700])]).unwrap();
    // Fault: the new segment's file cannot be created (EMFILE).
    faulty.arm(Op::Create, ErrorKind::Other);
    let err = p.append(&[Record::new(&[2u8; 700])]).unwrap_err();
    assert!(is_io(&err, "create"), "{err}");
    // Not a failed sync: nothing to recover from.
    assert_eq!(p.health(), PartitionHealth::Healthy);
    assert_eq!(p.segments().unwrap().len(), 1);
    faulty.disarm();
    p.append(&[Record::new(&[3u8; 700])]).unwrap();
    assert_eq!(values(&p), [vec![1u8; 700], vec![3u8; 700]]);
    assert_eq!(p.segments().unwrap().len(), 2);
}

#[test]
fn a_failed_write_takes_back_the_partial_batch_and_is_not_fatal() {
    let (_, faulty, p) = faulty(PartitionConfig::default().sync(SyncPolicy::Os));
    p.append(&[Record::new(b"first")]).unwrap();
    // Fault: the write fails with ENOSPC after half the batch reached the file.
    faulty.arm(Op::Write, ErrorKind::StorageFull);
    let err = p.append(&[Record::new(&[9u8; 300])]).unwrap_err();
    assert!(is_io(&err, "write"), "{err}");
    assert!(
        err.to_string().contains("00000000000000000000.log"),
        "{err}"
    );
    assert_eq!(p.high_watermark(), 1);
    assert_eq!(p.health(), PartitionHealth::Healthy);
    faulty.disarm();
    let info = p.append(&[Record::new(b"second")]).unwrap();
    assert_eq!(
        info.base_offset, 1,
        "no offset was used by the failed append"
    );
    assert_eq!(values(&p), [b"first".to_vec(), b"second".to_vec()]);
}

#[test]
fn damage_found_by_the_recovery_poisons_until_reopen() {
    let (mem, faulty, p) = faulty(PartitionConfig::default());
    for v in [b"one", b"two", b"six"] {
        p.append(&[Record::new(v)]).unwrap();
    }
    // Fault: bit rot in the first (durable) batch, then a failed sync.
    let path = p.dir().join(crate::segment::log_file_name(0));
    let file = mem.open(&path, false).unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 60).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], 60).unwrap();
    faulty.arm(Op::Sync, ErrorKind::Other);
    assert!(p.append(&[Record::new(b"x")]).is_err());
    faulty.disarm();
    // The recovery reads the segment again and finds the damage: it does
    // not "repair" acknowledged data away.
    let err = p.append(&[Record::new(b"x")]).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    match p.append(&[Record::new(b"x")]).unwrap_err() {
        Error::Poisoned { path, cause } => {
            assert_eq!(path, p.dir());
            assert!(cause.contains("corrupt"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.health(), PartitionHealth::Poisoned { .. }));
    // Fixed (here: the byte put back), a reopen brings it back, in-process.
    file.write_all_at(&byte, 60).unwrap();
    p.reopen().unwrap();
    assert_eq!(p.health(), PartitionHealth::Healthy);
    p.append(&[Record::new(b"seven")]).unwrap();
    assert_eq!(
        values(&p),
        [
            b"one".to_vec(),
            b"two".to_vec(),
            b"six".to_vec(),
            b"seven".to_vec()
        ]
    );
}

#[test]
fn reopening_a_healthy_partition_keeps_everything() {
    let (_, _, p) = faulty(PartitionConfig::default().sync(SyncPolicy::Os));
    p.append(&[Record::new(b"a")]).unwrap();
    p.reopen().unwrap();
    p.append(&[Record::new(b"b")]).unwrap();
    assert_eq!(values(&p), [b"a".to_vec(), b"b".to_vec()]);
    p.close().unwrap();
    assert!(matches!(p.reopen(), Err(Error::Closed { .. })));
}

/// Power cut at every operation of an in-process recovery (after a failed
/// fsync, on the simulated disk that drops a failed sync's writes for
/// good), and of the append that runs it: every damage variant reopens to
/// the acknowledged records, in order, and the append's record is there if
/// it was acknowledged; the record whose sync failed never comes back in
/// its place.
#[test]
fn power_loss_at_every_step_of_an_in_process_recovery() {
    use crate::storage::sim::{Damage, Fault, OpClass, SimDisk};

    let dir = Path::new("/p");
    // Returns the disk, and whether the recovering append was acknowledged.
    let run = |cut: Option<u64>| -> (SimDisk, bool, u64) {
        let disk = SimDisk::new();
        let p =
            Partition::open_with(Arc::new(disk.clone()), dir, PartitionConfig::default()).unwrap();
        p.append(&[Record::new(b"a")]).unwrap();
        p.append(&[Record::new(b"b")]).unwrap();
        disk.inject(Fault {
            on: OpClass::Sync,
            nth: disk.ops_of(OpClass::Sync),
            kind: ErrorKind::Other,
            persist: true,
        });
        assert!(p.append(&[Record::new(b"failed")]).is_err());
        disk.heal();
        let start = disk.ops();
        if let Some(k) = cut {
            disk.cut_power_at(start + k);
        }
        let acked = p.append(&[Record::new(b"d")]).is_ok();
        let steps = disk.ops() - start;
        (disk, acked, steps)
    };
    let (_, acked, steps) = run(None);
    assert!(acked);
    assert!(
        steps >= 4,
        "truncate, sync, directory sync, write, sync: {steps}"
    );
    let mut reopened = 0;
    for k in 0..=steps {
        let (disk, acked, _) = run(Some(k));
        for damage in [
            Damage::DropAll,
            Damage::KeepAll,
            Damage::Seeded(k),
            Damage::Seeded(k + 99),
        ] {
            let after = disk.power_loss(damage);
            let p = Partition::open_with(Arc::new(after), dir, PartitionConfig::default())
                .unwrap_or_else(|e| panic!("cut at step {k}, {damage:?}: {e}"));
            let got = values(&p);
            let want: &[&[u8]] = if acked {
                &[b"a", b"b", b"d"]
            } else {
                &[b"a", b"b"]
            };
            let ok = got.len() >= want.len()
                && got[..want.len()].iter().zip(want).all(|(g, w)| g == w)
                || (!acked && (got == [b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]));
            assert!(
                ok,
                "cut at step {k} of {steps}, {damage:?}, acked {acked}: {got:?}"
            );
            assert!(
                !got.contains(&b"failed".to_vec()),
                "cut at step {k}, {damage:?}: the record whose sync failed came back"
            );
            p.append(&[Record::new(b"next")]).unwrap();
            reopened += 1;
        }
    }
    assert!(reopened > 16);
}

/// The marker voided before the first append after an open stays voided:
/// an open after a crash finds nothing to void, so it writes nothing (here
/// a sync of the marker would fail).
#[test]
fn a_voided_marker_is_not_voided_again_at_open() {
    let (_, faulty, p) = faulty(PartitionConfig::default());
    p.append(&[Record::new(b"a")]).unwrap();
    p.close().unwrap();
    let reopen = || {
        Partition::open_with(
            Arc::new(faulty.clone()),
            Path::new("/p"),
            PartitionConfig::default(),
        )
    };
    let p = reopen().unwrap();
    p.append(&[Record::new(b"b")]).unwrap(); // voids the marker
    drop(p); // a crash: no close
    faulty.arm_on(Op::Sync, ErrorKind::Other, ".clean_shutdown");
    let p = reopen().unwrap();
    assert_eq!(values(&p), [b"a".to_vec(), b"b".to_vec()]);
}
