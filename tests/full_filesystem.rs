//! Fault: a real file system fills up (ENOSPC), not a simulated one.
//!
//! A small tmpfs, and a small ext4 image on a loop device, are mounted on
//! a temporary directory (this needs root and `mount`; CI runs as root on
//! the project's machine). On each:
//! 1. a producer sends until the disk is full: its deliveries then fail
//!    with a typed I/O error naming the cause (ENOSPC), never a panic;
//! 2. at 0 bytes free, `delete_records` to a segment boundary and
//!    `delete_topic` free space (they write nothing before they delete);
//! 3. once space is back the same producer's sends are acknowledged again,
//!    with no reopen (the partitions recover in-process);
//! 4. every record acknowledged (and not deleted on purpose) reads back,
//!    in the running log and after a close and reopen.
//!
//! Where mounting is refused (not root, no `mount`, no loop devices, no
//! `mkfs.ext4`), the test prints `SKIPPED: ...` with the reason and
//! returns; the simulated full-disk tests (`src/log/full_disk_tests.rs`)
//! cover the same paths everywhere.

use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A file system mounted on a temporary directory, unmounted on drop.
struct Mounted {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    image: Option<PathBuf>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{cmd:?}: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{cmd:?}: {e}")),
    }
}

fn mount_tmpfs() -> Result<Mounted, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("mnt");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs"])
        .arg(&dir))?;
    Ok(Mounted {
        _tmp: tmp,
        dir,
        image: None,
    })
}

fn mount_ext4() -> Result<Mounted, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("mnt");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let image = tmp.path().join("fs.ext4");
    let file = std::fs::File::create(&image).map_err(|e| e.to_string())?;
    file.set_len(16 << 20).map_err(|e| e.to_string())?;
    drop(file);
    // No blocks reserved for root: the test runs as root and must fill it.
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0"])
        .arg(&image))?;
    run(Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(&image)
        .arg(&dir))?;
    Ok(Mounted {
        _tmp: tmp,
        dir,
        image: Some(image),
    })
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

fn value(topic: &str, i: u64) -> Vec<u8> {
    let mut v = format!("{topic}-{i:08}-").into_bytes();
    v.resize(1000, b'x');
    v
}

fn is_enospc(e: &Error) -> bool {
    let text = e.to_string();
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
        || text.contains("No space left")
        || text.contains("StorageFull")
}

/// Every record of `topic`/0 from its log start: offset and value.
fn contents(log: &Log, topic: &str) -> Vec<(u64, Vec<u8>)> {
    let p = log.topic(topic).unwrap().partition(0).unwrap();
    let mut out = Vec::new();
    let mut at = p.log_start_offset();
    while at < p.high_watermark() {
        let r = p.read(at, 1 << 20).unwrap();
        out.extend(r.iter().map(|r| (r.offset(), r.value().unwrap().to_vec())));
        at = r.next_offset();
    }
    out
}

fn fill_free_and_recover(what: &str, dir: &Path) {
    let log_dir = dir.join("log");
    let log = Log::builder()
        .sync(SyncPolicy::Always)
        .maintenance_interval(None)
        .open(&log_dir)
        .unwrap();
    let config = TopicConfig::default().segment_bytes(64 << 10);
    log.create_topic("big", config.clone()).unwrap();
    log.create_topic("filler", config).unwrap();
    let producer = log
        .producer_with(
            ProducerConfig::default()
                .linger(Duration::ZERO)
                .retries(2)
                .retry_backoff(Duration::from_millis(1)),
        )
        .unwrap();

    // 1. Until the disk is full: acknowledged offsets, per topic.
    let mut acked: Vec<(String, u64)> = Vec::new();
    let mut refused = 0;
    let mut i = 0u64;
    while refused < 20 {
        for topic in ["filler", "big"] {
            let v = value(topic, i);
            let outcome = producer.send(topic, Record::new(&v)).and_then(|d| d.wait());
            match outcome {
                Ok(md) => acked.push((topic.to_owned(), md.offset)),
                Err(e) => {
                    assert!(is_enospc(&e), "{what}: not a typed ENOSPC: {e:?}");
                    assert!(
                        e.to_string().contains(&*log_dir.to_string_lossy()),
                        "{what}: {e}"
                    );
                    refused += 1;
                }
            }
        }
        i += 1;
        assert!(i < 100_000, "{what}: never filled");
    }
    // The flush reports (and clears) the errors the refused batches met.
    assert!(
        producer.flush().is_err(),
        "{what}: the refusals were reported"
    );
    let full = free_bytes(dir);
    let big_acked = acked.iter().filter(|(t, _)| t == "big").count();
    assert!(
        big_acked > 100,
        "{what}: {big_acked} acknowledged before full"
    );

    // 2. At (about) 0 bytes free, freeing space works.
    let big = log.topic("big").unwrap().partition(0).unwrap();
    let bases: Vec<u64> = big
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.base_offset())
        .collect();
    assert!(bases.len() > 2, "{what}: {bases:?}");
    let boundary = bases[bases.len() / 2];
    let deleted = log.delete_records("big", 0, boundary).unwrap();
    assert!(deleted.segments > 0, "{what}: {deleted:?}");
    log.delete_topic("filler").unwrap();
    let freed = free_bytes(dir);
    assert!(
        freed > full + (256 << 10),
        "{what}: {full} -> {freed} bytes free"
    );

    // 3. The same producer goes on, no reopen.
    let mut after = Vec::new();
    for j in 0..50u64 {
        let v = value("big", 1_000_000 + j);
        let md = producer
            .send("big", Record::new(&v))
            .and_then(|d| d.wait())
            .unwrap_or_else(|e| panic!("{what}: send {j} after space came back: {e}"));
        after.push(md.offset);
    }
    assert!(log.health().is_healthy(), "{what}: {:?}", log.health());
    producer.close().unwrap();

    // 4. Nothing acknowledged lost (but what was deleted on purpose).
    let check = |log: &Log, when: &str| {
        let got = contents(log, "big");
        let by_offset: std::collections::BTreeMap<u64, Vec<u8>> = got.into_iter().collect();
        let mut n = 0;
        for (k, (topic, offset)) in acked.iter().enumerate() {
            if topic != "big" || *offset < boundary {
                continue;
            }
            assert!(
                by_offset.contains_key(offset),
                "{what} {when}: acknowledged {offset} lost"
            );
            let v = &by_offset[offset];
            assert!(v.starts_with(b"big-"), "{what} {when}: {k}");
            n += 1;
        }
        for o in &after {
            assert_eq!(
                by_offset[o],
                value("big", 1_000_000 + (o - after[0])),
                "{what} {when}"
            );
        }
        n
    };
    let kept = check(&log, "running");
    log.close().unwrap();
    let log = Log::open(&log_dir).unwrap();
    assert_eq!(check(&log, "reopened"), kept);
    assert_eq!(log.topics(), ["big"]);
    log.close().unwrap();
    println!(
        "full_filesystem {what}: {} acknowledged before full ({big_acked} on big), {refused} \
         refused with ENOSPC, {} bytes freed at 0 free, 50 acknowledged after, {kept} kept \
         records checked twice",
        acked.len(),
        freed - full
    );
}

#[test]
fn a_full_tmpfs_loses_nothing_and_recovers_in_process() {
    match mount_tmpfs() {
        Ok(m) => fill_free_and_recover("tmpfs", &m.dir),
        Err(why) => println!("SKIPPED: cannot mount a tmpfs (needs root): {why}"),
    }
}

#[test]
fn a_full_ext4_loses_nothing_and_recovers_in_process() {
    match mount_ext4() {
        Ok(m) => fill_free_and_recover("ext4", &m.dir),
        Err(why) => println!(
            "SKIPPED: cannot make and mount an ext4 image (needs root, mkfs.ext4, a loop device): {why}"
        ),
    }
}
