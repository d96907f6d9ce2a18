//! The simulated disk's own tests: its model, replay and faults.

use super::super::read_all;
use super::image::SECTOR;
use super::*;

fn file(disk: &SimDisk, path: &str) -> Arc<dyn StorageFile> {
    disk.create_dir_all(Path::new("/d")).unwrap();
    disk.open(Path::new(path), true).unwrap()
}

#[test]
fn power_loss_keeps_synced_data_and_drops_unsynced_data() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.sync_dir(Path::new("/d")).unwrap();
    f.write_all_at(b"durable", 0).unwrap();
    f.sync_data().unwrap();
    f.write_all_at(b"-volatile", 7).unwrap();
    let after = disk.power_loss(Damage::DropAll);
    assert_eq!(after.contents(Path::new("/d/f")).unwrap(), b"durable");
    let all = disk.power_loss(Damage::KeepAll);
    assert_eq!(
        all.contents(Path::new("/d/f")).unwrap(),
        b"durable-volatile"
    );
}

#[test]
fn a_file_whose_directory_entry_was_not_synced_may_vanish() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    f.write_all_at(b"data", 0).unwrap();
    f.sync_data().unwrap();
    assert!(disk
        .power_loss(Damage::DropAll)
        .contents(Path::new("/d/f"))
        .is_none());
    disk.sync_dir(Path::new("/d")).unwrap();
    assert_eq!(
        disk.power_loss(Damage::DropAll)
            .contents(Path::new("/d/f"))
            .unwrap(),
        b"data"
    );
}

#[test]
fn seeded_damage_tears_writes_at_sector_granularity_and_replays() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.sync_dir(Path::new("/d")).unwrap();
    let data: Vec<u8> = (0..4 * SECTOR as usize)
        .map(|i| (i % 251) as u8 + 1)
        .collect();
    f.write_all_at(&data, 0).unwrap();
    let mut shapes = BTreeSet::new();
    for seed in 0..64 {
        let image = disk
            .power_loss(Damage::Seeded(seed))
            .contents(Path::new("/d/f"))
            .unwrap();
        assert_eq!(
            image,
            disk.power_loss(Damage::Seeded(seed))
                .contents(Path::new("/d/f"))
                .unwrap(),
            "seed {seed} replays"
        );
        // Every sector is either all there or all zeros.
        let mut shape = Vec::new();
        for (i, sector) in image.chunks(SECTOR as usize).enumerate() {
            let original = &data[i * SECTOR as usize..][..sector.len()];
            let kept = sector == original;
            assert!(kept || sector.iter().all(|&b| b == 0), "seed {seed}");
            shape.push(kept);
        }
        shapes.insert(shape);
    }
    // Lost, whole, grown-without-data and several torn shapes all occur.
    assert!(shapes.contains(&vec![]));
    assert!(shapes.contains(&vec![true; 4]));
    assert!(shapes.contains(&vec![false; 4]));
    assert!(shapes.len() > 5, "{shapes:?}");
}

#[test]
fn a_sector_holds_one_version_never_a_later_write_without_an_earlier_one() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.sync_dir(Path::new("/d")).unwrap();
    // Two writes sharing sector 0; the second also fills sector 1.
    f.write_all_at(&[1; 300], 0).unwrap();
    f.write_all_at(&[2; 600], 300).unwrap();
    let first: Vec<u8> = [1; 300].into_iter().chain([0; 212]).collect();
    let both: Vec<u8> = [1; 300].into_iter().chain([2; 212]).collect();
    for seed in 0..64 {
        let image = disk
            .power_loss(Damage::Seeded(seed))
            .contents(Path::new("/d/f"))
            .unwrap();
        if let Some(sector) = image.get(..512) {
            assert!(
                sector == first || sector == both || sector.iter().all(|&b| b == 0),
                "seed {seed}: sector 0 is no version of the file"
            );
        }
    }
}

#[test]
fn faults_hit_the_chosen_operation_once_or_from_then_on() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.inject(Fault {
        on: OpClass::Write,
        nth: 1,
        kind: io::ErrorKind::StorageFull,
        persist: false,
    });
    f.write_all_at(b"a", 0).unwrap();
    let err = f.write_all_at(b"bbbb", 1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    // A short write: half of it reached the file.
    assert_eq!(read_all(&*f).unwrap(), b"abb");
    f.write_all_at(b"c", 3).unwrap();
    disk.inject(Fault {
        on: OpClass::Sync,
        nth: 0,
        kind: io::ErrorKind::Other,
        persist: true,
    });
    assert!(f.sync_data().is_err());
    assert!(f.sync_data().is_err());
    disk.heal();
    f.sync_data().unwrap();
    assert_eq!(disk.ops_of(OpClass::Sync), 3);
}

#[test]
fn a_failed_fsync_loses_the_unsynced_writes_for_good() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.sync_dir(Path::new("/d")).unwrap();
    f.write_all_at(b"lost", 0).unwrap();
    disk.inject(Fault {
        on: OpClass::Sync,
        nth: 1,
        kind: io::ErrorKind::Other,
        persist: false,
    });
    assert!(f.sync_data().is_err());
    // Reads still see it; the next fsync succeeds; the disk never
    // gets it.
    assert_eq!(read_all(&*f).unwrap(), b"lost");
    f.sync_data().unwrap();
    let after = disk.power_loss(Damage::KeepAll);
    assert_eq!(after.contents(Path::new("/d/f")).unwrap(), b"");
}

#[test]
fn after_the_power_cut_nothing_changes() {
    let disk = SimDisk::new();
    let f = file(&disk, "/d/f");
    disk.sync_dir(Path::new("/d")).unwrap();
    let at = disk.ops();
    disk.cut_power_at(at + 1);
    f.write_all_at(b"kept in cache", 0).unwrap();
    assert!(f.write_all_at(b"never", 100).is_err());
    assert!(disk.open(Path::new("/d/g"), true).is_err());
    assert!(disk.trace().contains("FAILED"));
    assert_eq!(read_all(&*f).unwrap(), b"kept in cache");
    let after = disk.power_loss(Damage::KeepAll);
    assert_eq!(after.files(), [PathBuf::from("/d/f")]);
    assert_eq!(after.contents(Path::new("/d/f")).unwrap(), b"kept in cache");
}

#[test]
fn directory_changes_survive_in_order() {
    let disk = SimDisk::new();
    disk.create_dir_all(Path::new("/d")).unwrap();
    disk.sync_dir(Path::new("/d")).unwrap();
    for name in ["a", "b", "c", "d"] {
        disk.open(&Path::new("/d").join(name), true).unwrap();
    }
    for seed in 0..32 {
        let files = disk.power_loss(Damage::Seeded(seed)).files();
        let expected: Vec<PathBuf> = ["a", "b", "c", "d"][..files.len()]
            .iter()
            .map(|n| Path::new("/d").join(n))
            .collect();
        assert_eq!(files, expected, "a prefix, seed {seed}");
    }
}
