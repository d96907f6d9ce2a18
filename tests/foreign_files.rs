//! Fault: a log pointed at a directory that holds someone else's files.
//!
//! samsa never deletes, moves or rewrites a file it did not write. A
//! directory that is neither empty nor samsa's is refused with
//! `Error::ForeignDirectory` naming it, and nothing in it changes (not
//! even a lock file appears). Inside a samsa log, files samsa did not write
//! at every level (the root, `topics/`, a topic, a partition, `deleted/`,
//! and a half-created topic or partition samsa would otherwise clear) are
//! left byte for byte and reported by `Log::foreign_files`, across opens,
//! topic deletion and re-creation.

use samsa_log::partition::PartitionConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Partition, Record};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every file below `dir` with its bytes, and every directory (as `None`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    p
}

/// The files of the issue that reported samsa deleting them: another
/// program's files in a directory a service was pointed at.
const THEIRS: [&str; 4] = [
    "deleted/important.txt",
    "topics/notes/2024/january.txt",
    "topics/my.data/0/keep.log",
    "topics/my.data/0/keep.txt",
];

#[test]
fn a_directory_of_someone_elses_files_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    for (i, rel) in THEIRS.iter().enumerate() {
        put(&dir, rel, format!("theirs {i}").as_bytes());
    }
    let before = snapshot(&dir);
    for attempt in 0..2 {
        let err = Log::open(&dir).unwrap_err();
        match &err {
            Error::ForeignDirectory { path, reason } => {
                assert_eq!(path, &dir);
                assert!(reason.contains("meta.properties"), "{reason}");
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
        assert!(err.to_string().contains(&*dir.to_string_lossy()), "{err}");
        let err = Partition::open(&dir, PartitionConfig::default()).unwrap_err();
        assert!(matches!(err, Error::ForeignDirectory { .. }), "{err}");
        // Not one byte changed, and no lock file appeared.
        assert_eq!(snapshot(&dir), before, "attempt {attempt}");
    }
    // A partition directory holding a file samsa did not write: the same.
    let pdir = tmp.path().join("p");
    put(&pdir, "00000000000000000000.log", b"");
    put(&pdir, "notes.txt", b"mine");
    let before = snapshot(&pdir);
    let err = Partition::open(&pdir, PartitionConfig::default()).unwrap_err();
    assert!(matches!(err, Error::ForeignDirectory { .. }), "{err}");
    assert_eq!(snapshot(&pdir), before);
    // A file where the directory should be.
    let file = put(tmp.path(), "plain", b"x");
    assert!(matches!(
        Log::open(&file),
        Err(Error::ForeignDirectory { .. })
    ));
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn foreign_files_inside_a_log_survive_every_clean_up_and_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Log::open(&dir).unwrap();
        let t = log
            .create_topic("orders", TopicConfig::default().partitions(2))
            .unwrap();
        t.partition(0)
            .unwrap()
            .append(&[Record::new(b"a")])
            .unwrap();
        log.create_topic("doomed", TopicConfig::default()).unwrap();
        assert!(log.foreign_files().is_empty());
        log.close().unwrap();
    }
    // Someone else's files at every level, including where samsa clears
    // up: a topic directory without metadata (a creation cut short), a
    // partition directory past the topic's count (growth cut short), a
    // deleted topic's leftover, and a topic about to be deleted.
    let theirs = [
        "README",
        "backup/orders.tar",
        "topics/notes.txt",
        "topics/Not a topic!/x",
        "topics/orders/owner.txt",
        "topics/orders/extra/y",
        "topics/orders/0/mine.bin",
        "topics/orders/0/00000000000000000000.log.bak",
        "topics/orders/7/z.txt",
        "topics/half/0/w.txt",
        "topics/doomed/0/keep.txt",
        "topics/notes/2024/january.txt",
        "topics/my.data/0/keep.log",
        "topics/my.data/0/keep.txt",
        "deleted/important.txt",
        "deleted/9/topic.properties.keep",
        "deleted/x/y",
    ];
    for (i, rel) in theirs.iter().enumerate() {
        put(&dir, rel, format!("theirs {i}: {rel}").as_bytes());
    }
    // samsa's own leftovers around them, which it does clear.
    let ours = [
        "topics/half/0/00000000000000000000.log",
        "topics/orders/7/00000000000000000000.log",
        "deleted/9/0/00000000000000000000.log",
    ];
    for rel in ours {
        put(&dir, rel, b"");
    }
    // The deleted topic's foreign file moves with its directory (below).
    let doomed = "topics/doomed/0/keep.txt";
    let check = |log: &Log, when: &str, deleted: bool| {
        for (i, rel) in theirs.iter().enumerate() {
            if deleted && *rel == doomed {
                continue;
            }
            let got =
                fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{when}: {rel} is gone: {e}"));
            assert_eq!(
                got,
                format!("theirs {i}: {rel}").into_bytes(),
                "{when}: {rel}"
            );
        }
        let reported = log.foreign_files();
        for rel in theirs.iter().filter(|r| !deleted || **r != doomed) {
            let path = dir.join(rel);
            assert!(
                reported.iter().any(|r| path.starts_with(r)),
                "{when}: {rel} not reported in {reported:?}"
            );
        }
        // Nothing of samsa's own is reported.
        assert!(
            reported
                .iter()
                .all(|r| !r.ends_with("meta.properties") && !r.ends_with(".lock")),
            "{reported:?}"
        );
    };
    let log = Log::open(&dir).unwrap();
    check(&log, "first open", false);
    for rel in ours {
        assert!(!dir.join(rel).exists(), "samsa's own leftover {rel} stays");
    }
    assert_eq!(log.topics(), ["doomed", "orders"]);
    let p0 = log.topic("orders").unwrap().partition(0).unwrap();
    assert_eq!(
        p0.read(0, 100).unwrap().iter().next().unwrap().value(),
        Some(&b"a"[..])
    );

    // Deleting a topic whose directory holds a foreign file removes
    // samsa's files and keeps the stranger: it moves with the topic's
    // directory into `deleted/`, and stays there.
    log.delete_topic("doomed").unwrap();
    let kept: Vec<_> = walk(&dir.join("deleted"))
        .into_iter()
        .filter(|p| p.ends_with("keep.txt"))
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "the foreign file of the deleted topic is kept"
    );
    assert_eq!(
        fs::read(&kept[0]).unwrap(),
        format!("theirs 10: {doomed}").into_bytes()
    );
    assert!(walk(&dir.join("deleted"))
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".log")));
    // A topic of a name whose directory holds someone's files cannot be
    // created over them.
    let err = log
        .create_topic("notes", TopicConfig::default())
        .unwrap_err();
    assert!(matches!(err, Error::ForeignDirectory { .. }), "{err}");
    assert!(log.create_topic("doomed", TopicConfig::default()).is_ok());
    log.close().unwrap();

    let log = Log::open(&dir).unwrap();
    check(&log, "second open", true);
    let moved = walk(&dir.join("deleted"))
        .into_iter()
        .find(|p| p.ends_with("keep.txt"))
        .unwrap();
    assert!(
        log.foreign_files().contains(&moved),
        "{moved:?} not reported"
    );
    log.close().unwrap();
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(p, _)| dir.join(p))
        .collect()
}

#[test]
fn a_log_written_before_identity_files_opens_and_gets_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Log::open(&dir).unwrap();
        log.create_topic("t", TopicConfig::default()).unwrap();
        log.producer()
            .send("t", Record::new(b"old"))
            .unwrap()
            .wait()
            .unwrap();
        log.close().unwrap();
    }
    // As samsa 0.1 left it: a lock file per partition, no identity, no
    // topic id.
    fs::remove_file(dir.join("meta.properties")).unwrap();
    fs::write(dir.join("topics/t/0/.lock"), b"").unwrap();
    let props = dir.join("topics/t/topic.properties");
    let text = fs::read_to_string(&props).unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("topic.id=") && !l.starts_with("crc="))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(
        &props,
        format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes())),
    )
    .unwrap();

    let log = Log::open(&dir).unwrap();
    assert!(dir.join("meta.properties").exists());
    let id = log.topic("t").unwrap().id();
    let r = log
        .topic("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .read(0, 100)
        .unwrap();
    assert_eq!(r.iter().next().unwrap().value(), Some(&b"old"[..]));
    log.close().unwrap();
    // The id given then is kept.
    let log = Log::open(&dir).unwrap();
    assert_eq!(log.topic("t").unwrap().id(), id);
    assert!(log.foreign_files().is_empty(), "{:?}", log.foreign_files());
}
