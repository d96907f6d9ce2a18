//! Fault: hostile and edge-case topic names. A topic name becomes a path
//! component (`<dir>/topics/<name>`), so a name with `/`, `\`, NUL, `.` or
//! `..` (whole or embedded), more than 249 characters, non-ASCII look-alikes
//! (fullwidth solidus, one-dot leaders, right-to-left marks), whitespace,
//! an empty name, or samsa's reserved `__` prefix must be refused with
//! `Error::InvalidTopicName` by `create_topic`, and be an unknown topic
//! for `topic`, `delete_topic`, `add_partitions` and `Producer::send`,
//! with no path created anywhere: the whole tree around the log directory
//! is walked before and after. Names Kafka allows, up to 249 characters,
//! work and come back after a reopen. Everything runs on disk and, where
//! there is no file system to look at, in memory too.
//!
//! A proptest feeds arbitrary strings (and strings built from the risky
//! pieces) to `create_topic` against a model of the rule
//! (`[a-zA-Z0-9._-]{1,249}`, not `.` or `..`, not starting with `__`):
//! either the topic is created as exactly the directory
//! `<dir>/topics/<name>` and nothing outside it, or the call fails with
//! `InvalidTopicName` and the tree is unchanged. Cases: 64 by default;
//! set `SAMSA_PROPTEST_CASES` for more.
//!
//! Samsa's own internal topic `__consumer_offsets` is reserved too: users
//! may read it but not delete, grow or write it (through `Producer::send`,
//! `Partition::append`, `delete_topic` or `add_partitions`).

use proptest::prelude::*;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Every path below `root`, relative, sorted (symlinks not followed).
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `path` with `.` and `..` resolved lexically, as the kernel would walk
/// it if every directory on the way existed.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Names that must be refused, each with the reason it is risky.
fn hostile_names(abs_inside: &Path) -> Vec<String> {
    let mut v: Vec<String> = [
        // Empty and the directory entries.
        "",
        ".",
        "..",
        // Separators, whole and embedded.
        "/",
        "a/b",
        "a/",
        "/a",
        "\\",
        "a\\b",
        "..\\x",
        "\\..\\x",
        // Traversal.
        "../x",
        "../../x",
        "../../../x",
        "a/../../b",
        "./x",
        "x/.",
        "x/..",
        "../",
        "../topics/x",
        "../.lock",
        // NUL, whole and embedded, and other control characters.
        "\0",
        "a\0b",
        "\0..",
        "..\0",
        "a\tb",
        "a\nb",
        "x\r",
        "\u{7f}",
        // Whitespace and shell-ish characters.
        " ",
        "a b",
        " a",
        "a ",
        "a:b",
        "a*b",
        "a?b",
        "~",
        "$HOME",
        "a|b",
        "a\"b",
        "a<b>",
        // Non-ASCII, including look-alikes of `/` and `.`.
        "é",
        "e\u{301}",
        "日本",
        "🦀",
        "\u{202e}abc",
        "\u{200f}x",
        "a\u{feff}",
        "a／b",
        "a∕b",
        "a⁄b",
        "．．",
        "\u{2024}\u{2024}",
        "ａ",
        "Ω",
        // samsa's reserved prefix.
        "__",
        "___",
        "__x",
        "__consumer_offsets",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Deep traversal, past the root and back down.
    v.push("../".repeat(12) + "x");
    v.push("../".repeat(40) + "tmp/samsa-topic-escape");
    // An absolute path: `Path::join` would replace the base with it.
    v.push(abs_inside.display().to_string());
    // Too long: Kafka's limit is 249; then past NAME_MAX and PATH_MAX.
    for n in [250, 251, 255, 256, 1000, 5000] {
        v.push("x".repeat(n));
    }
    v.push("a.b-c_d".repeat(36)); // 252
                                  // Long non-ASCII: 249 characters, but more bytes.
    v.push("é".repeat(249));
    v.push("a".repeat(248) + "é");
    v
}

/// Names Kafka allows, including edges of the rule.
fn edge_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "a",
        "A",
        "0",
        "-",
        "_",
        "_a",
        "a_",
        "a__b",
        "a.b-c_d",
        "..a",
        ".a",
        "a..",
        "...",
        "....",
        "-rf",
        ".lock",
        "topics",
        "deleted",
        "topic.properties",
        "00000000000000000000.log",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(249));
    v.push("..".repeat(124) + "a");
    v.push("_".to_owned() + &"-".repeat(248));
    v
}

/// A log nested a few levels inside a temporary directory, so that
/// traversal out of it lands inside the walked tree.
struct Scene {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/c/d/log");
        std::fs::create_dir_all(tmp.path().join("sibling")).unwrap();
        Scene { tmp, dir }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }
}

fn is_invalid_name(r: &samsa_log::Result<impl std::fmt::Debug>, name: &str) -> bool {
    matches!(r, Err(Error::InvalidTopicName { name: n, .. }) if n == name)
}

/// For a name that names no topic: `topic`, `delete_topic`,
/// `add_partitions` and `send` refuse it, as unknown or as invalid (the
/// docs promise `UnknownTopic` for `topic`), naming it.
fn assert_lookups_refused(log: &Log, name: &str, what: &str) {
    let unknown = |r: samsa_log::Result<()>, op: &str| match r {
        Err(Error::UnknownTopic { name: n }) | Err(Error::InvalidTopicName { name: n, .. }) => {
            assert_eq!(n, name, "{what}: {op}: the error names the topic")
        }
        other => panic!("{what}: {op}({name:?}): expected UnknownTopic, got {other:?}"),
    };
    match log.topic(name) {
        Err(Error::UnknownTopic { name: n }) => assert_eq!(n, name, "{what}: topic"),
        other => panic!(
            "{what}: topic({name:?}): expected UnknownTopic, got {:?}",
            other.map(|t| t.name().to_owned())
        ),
    }
    unknown(log.delete_topic(name), "delete_topic");
    unknown(log.add_partitions(name, 1).map(drop), "add_partitions");
    let producer = log.producer();
    unknown(
        producer.send(name, Record::new(b"x")).map(drop),
        "Producer::send",
    );
    producer.close().unwrap();
}

/// Fault: every hostile name, on disk. Nothing is created anywhere around
/// the log, nor inside it, and lookups of the names find nothing.
#[test]
fn hostile_names_are_refused_on_disk_and_create_no_path() {
    let scene = Scene::new();
    let abs = scene.root().join("absolute-escape");
    let log = Log::open(&scene.dir).unwrap();
    log.create_topic("kept", TopicConfig::default()).unwrap();
    let topics_dir = scene.dir.join("topics");
    let before = tree(scene.root());
    for name in hostile_names(&abs) {
        let what = format!("name {name:?}");
        // Where the name would lead, resolved; remember whether it was
        // there before (a path outside the scene, like /tmp, may be).
        let target = normalize(&topics_dir.join(&name));
        let existed = target.exists();
        let r = log.create_topic(&name, TopicConfig::default().partitions(2));
        assert!(
            is_invalid_name(&r, &name),
            "{what}: expected InvalidTopicName, got {:?}",
            r.map(|t| t.name().to_owned())
        );
        assert_lookups_refused(&log, &name, &what);
        assert_eq!(tree(scene.root()), before, "{what}: the tree changed");
        if !existed {
            assert!(!target.exists(), "{what}: created {}", target.display());
        }
        assert_eq!(log.topics(), ["kept"], "{what}");
    }
    assert!(!abs.exists());
    // And after a reopen, still only the one topic.
    log.close().unwrap();
    let log = Log::open(&scene.dir).unwrap();
    assert_eq!(log.topics(), ["kept"]);
    // Beside the index files close wrote for the kept partition, nothing.
    let kept = Path::new("a/b/c/d/log/topics/kept/0");
    let outside = |t: Vec<PathBuf>| -> Vec<PathBuf> {
        t.into_iter().filter(|p| p.parent() != Some(kept)).collect()
    };
    assert_eq!(outside(tree(scene.root())), outside(before));
}

/// Fault: every hostile name, in memory (no file system to escape to, but
/// the same errors and no topic).
#[test]
fn hostile_names_are_refused_in_memory() {
    let log = Log::in_memory();
    log.create_topic("kept", TopicConfig::default()).unwrap();
    for name in hostile_names(Path::new("/samsa/absolute-escape")) {
        let what = format!("memory, name {name:?}");
        let r = log.create_topic(&name, TopicConfig::default());
        assert!(
            is_invalid_name(&r, &name),
            "{what}: expected InvalidTopicName, got {:?}",
            r.map(|t| t.name().to_owned())
        );
        assert_lookups_refused(&log, &name, &what);
        assert_eq!(log.topics(), ["kept"], "{what}");
    }
}

/// Fault: one name breaking each rule; the error says which rule.
#[test]
fn the_error_says_which_rule_a_name_breaks() {
    let log = Log::in_memory();
    for (name, words) in [
        ("", "empty"),
        ("x".repeat(250).as_str(), "249"),
        ("..", ".."),
        ("a/b", "[a-zA-Z0-9._-]"),
        ("__x", "__"),
    ] {
        match log.create_topic(name, TopicConfig::default()) {
            Err(e @ Error::InvalidTopicName { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(words), "{name:?}: {msg}");
            }
            other => panic!("{name:?}: {:?}", other.map(|t| t.name().to_owned())),
        }
    }
}

/// Fault: names at the edges of Kafka's rule, on disk: each is exactly the
/// directory `topics/<name>`, takes records, survives a clean and an
/// unclean reopen, and can be deleted and created again.
#[test]
fn edge_names_work_and_survive_reopen_on_disk() {
    let scene = Scene::new();
    let topics_dir = scene.dir.join("topics");
    let names = edge_names();
    {
        let log = Log::open(&scene.dir).unwrap();
        for name in &names {
            let before = tree(scene.root());
            let t = log
                .create_topic(name, TopicConfig::default().partitions(2))
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(t.name(), name);
            t.partition(1)
                .unwrap()
                .append(&[Record::new(name.as_bytes())])
                .unwrap();
            let here = topics_dir.join(name);
            assert!(here.is_dir(), "{name:?}: no directory {}", here.display());
            assert_eq!(here.parent(), Some(topics_dir.as_path()), "{name:?}");
            // Everything new is inside that directory.
            let new: Vec<PathBuf> = tree(scene.root())
                .into_iter()
                .filter(|p| !before.contains(p))
                .collect();
            let rel = here.strip_prefix(scene.root()).unwrap();
            assert!(new.iter().any(|p| p == rel), "{name:?}: {new:?}");
            assert!(
                new.iter().all(|p| p.starts_with(rel)),
                "{name:?}: created outside its directory: {new:?}"
            );
        }
        // Names differing only in case are different topics.
        assert_eq!(log.topic("a").unwrap().name(), "a");
        assert_eq!(log.topic("A").unwrap().name(), "A");
        log.close().unwrap();
    }
    let mut sorted = names.clone();
    sorted.sort();
    for clean in [true, false] {
        let log = Log::open(&scene.dir).unwrap();
        assert_eq!(log.topics(), sorted, "clean {clean}");
        for name in &names {
            let p = log.topic(name).unwrap().partition(1).unwrap();
            let r = p.read(0, 1 << 20).unwrap();
            let values: Vec<&[u8]> = r.iter().map(|r| r.value().unwrap()).collect();
            assert_eq!(values, [name.as_bytes()], "{name:?} after reopen");
        }
        if clean {
            log.close().unwrap();
        } // else: dropped, as after a crash.
    }
    // Delete each (through deleted/<n>) and create it again, empty.
    let log = Log::open(&scene.dir).unwrap();
    for name in &names {
        log.delete_topic(name)
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(!topics_dir.join(name).exists(), "{name:?}");
        let t = log.create_topic(name, TopicConfig::default()).unwrap();
        assert_eq!(t.partition(0).unwrap().high_watermark(), 0, "{name:?}");
    }
    log.close().unwrap();
    assert_eq!(Log::open(&scene.dir).unwrap().topics(), sorted);
}

/// Fault: the same edge names, in memory.
#[test]
fn edge_names_work_in_memory() {
    let log = Log::in_memory();
    let names = edge_names();
    for name in &names {
        let t = log.create_topic(name, TopicConfig::default()).unwrap();
        t.partition(0)
            .unwrap()
            .append(&[Record::new(name.as_bytes())])
            .unwrap();
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(log.topics(), sorted);
    for name in &names {
        let r = log
            .topic(name)
            .unwrap()
            .partition(0)
            .unwrap()
            .read(0, 1 << 20)
            .unwrap();
        assert_eq!(r.iter().next().unwrap().value(), Some(name.as_bytes()));
        log.delete_topic(name).unwrap();
    }
    assert!(log.topics().is_empty());
}

const INTERNAL: &str = "__consumer_offsets";

/// A log on disk with one committed offset, so `__consumer_offsets`
/// exists: group `g` has committed 1 on `t`/0.
fn log_with_a_commit(dir: &Path) -> Log {
    let log = Log::open(dir).unwrap();
    log.create_topic("t", TopicConfig::default()).unwrap();
    log.producer()
        .send("t", Record::new(b"x"))
        .unwrap()
        .wait()
        .unwrap();
    let mut c = log
        .consumer(ConsumerConfig::new("g").auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap();
    c.subscribe(&["t"]).unwrap();
    while c.poll(Duration::from_millis(100)).unwrap().is_empty() {}
    c.commit().unwrap();
    c.close().unwrap();
    assert_eq!(log.group("g").committed("t", 0).map(|o| o.offset), Some(1));
    assert!(log.topics().contains(&INTERNAL.to_owned()));
    log
}

/// Fault: a user sends a record to samsa's internal topic
/// `__consumer_offsets` (whose reserved name keeps users from creating
/// it). Kafka refuses appends to internal topics from clients; here one
/// record that is not a commit makes every later `Log::open` fail.
#[test]
fn a_record_sent_to_the_internal_offsets_topic_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = log_with_a_commit(&dir);
    let producer = log.producer();
    let sent = producer
        .send(INTERNAL, Record::new(b"not a commit"))
        .and_then(|d| d.wait());
    producer.close().unwrap();
    log.close().unwrap();
    let reopened = Log::open(&dir);
    assert!(
        matches!(sent, Err(Error::InvalidTopicName { .. })),
        "Producer::send to the internal topic: {sent:?}; then Log::open: {:?}",
        reopened.as_ref().map(|l| l.topics())
    );
    let log = reopened.unwrap();
    assert_eq!(log.group("g").committed("t", 0).map(|o| o.offset), Some(1));
}

/// Fault: a user deletes or grows samsa's internal topic
/// `__consumer_offsets`. Deleting it drops every group's committed offsets
/// at the next open while this process still reports them; Kafka refuses
/// to delete internal topics.
#[test]
fn the_internal_offsets_topic_cannot_be_deleted_or_grown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = log_with_a_commit(&dir);
    let grown = log.add_partitions(INTERNAL, 1);
    let deleted = log.delete_topic(INTERNAL);
    log.close().unwrap();
    let committed = Log::open(&dir)
        .unwrap()
        .group("g")
        .committed("t", 0)
        .map(|o| o.offset);
    assert!(
        matches!(grown, Err(Error::InvalidTopicName { .. }))
            && matches!(deleted, Err(Error::InvalidTopicName { .. })),
        "add_partitions: {grown:?}, delete_topic: {deleted:?}; committed after reopen: {committed:?}"
    );
    assert_eq!(committed, Some(1), "committed offset after reopen");
}

// ---- proptest ----

/// The rule as the docs state it.
fn valid_by_model(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
        && !name.starts_with("__")
}

fn cases() -> u32 {
    std::env::var("SAMSA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Arbitrary strings, strings of the allowed characters around the length
/// limit, and strings glued from risky pieces.
fn name() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        ".", "..", "/", "\\", "\0", "_", "__", "-", "a", "Z", "9", "é", "／", "．", " ", "x",
    ]);
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._-]{0,8}",
        "[a-zA-Z0-9._-]{245,252}",
        "[a-z._/-]{1,6}",
        prop::collection::vec(pieces, 1..8).prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Fault: arbitrary strings as topic names, on disk and in memory.
    #[test]
    fn create_topic_follows_the_rule_and_stays_in_its_directory(
        names in prop::collection::vec(name(), 1..6)
    ) {
        let scene = Scene::new();
        let topics_dir = scene.dir.join("topics");
        let disk = Log::open(&scene.dir).unwrap();
        let mem = Log::in_memory();
        let mut created = BTreeSet::new();
        for name in &names {
            let before = tree(scene.root());
            let valid = valid_by_model(name);
            let fresh = !created.contains(name);
            for (what, log) in [("disk", &disk), ("memory", &mem)] {
                let r = log.create_topic(name, TopicConfig::default());
                match (&r, valid, fresh) {
                    (Ok(t), true, true) => prop_assert_eq!(t.name(), name),
                    (Err(Error::TopicExists { .. }), true, false) => {}
                    (Err(Error::InvalidTopicName { name: n, .. }), false, _) => {
                        prop_assert_eq!(n, name)
                    }
                    _ => prop_assert!(
                        false,
                        "{}: {:?} (valid by the model: {}, new: {}): {:?}",
                        what, name, valid, fresh, r.map(|t| t.name().to_owned())
                    ),
                }
            }
            let after = tree(scene.root());
            if valid && fresh {
                created.insert(name.clone());
                let here = topics_dir.join(name);
                prop_assert!(here.is_dir());
                prop_assert_eq!(here.parent(), Some(topics_dir.as_path()));
                let rel = here.strip_prefix(scene.root()).unwrap();
                for p in after.iter().filter(|p| !before.contains(p)) {
                    prop_assert!(p.starts_with(rel), "{:?} created {:?}", name, p);
                }
                prop_assert!(before.iter().all(|p| after.contains(p)));
            } else {
                prop_assert_eq!(&after, &before, "{:?}", name);
            }
            let want: Vec<String> = created.iter().cloned().collect();
            prop_assert_eq!(disk.topics(), want.clone());
            prop_assert_eq!(mem.topics(), want);
        }
        disk.close().unwrap();
        let want: Vec<String> = created.iter().cloned().collect();
        prop_assert_eq!(Log::open(&scene.dir).unwrap().topics(), want);
    }
}

/// Fault: a user appends straight to a partition of the internal topic
/// (reachable through `Log::topic`, for reading). The append is refused,
/// and the committed offsets survive a reopen.
#[test]
fn a_direct_append_to_the_internal_offsets_topic_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = log_with_a_commit(&dir);
    let p = log.topic(INTERNAL).unwrap().partition(0).unwrap();
    let end = p.log_end_offset();
    let appended = p.append(&[Record::new(b"not a commit")]);
    assert!(
        matches!(appended, Err(Error::InvalidTopicName { .. })),
        "{appended:?}"
    );
    assert_eq!(p.log_end_offset(), end);
    // Reading it stays possible.
    assert!(!p.read(0, 1 << 20).unwrap().is_empty());
    log.close().unwrap();
    let log = Log::open(&dir).unwrap();
    assert_eq!(log.group("g").committed("t", 0).map(|o| o.offset), Some(1));
}
