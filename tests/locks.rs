//! Fault: a directory's owner is another process, which is then killed
//! with SIGKILL (kill -9) in the middle of appending.
//!
//! While a child process holds `Log::open(dir)` (or `Partition::open(dir)`)
//! and appends, this process gets `Error::Locked { path }` for that
//! directory through every way in (`Log::open`, `Partition::open` of a
//! partition directory inside the log, which takes the log's lock), and
//! `Error::ForeignDirectory` opening it as the other kind; the refused
//! opens change no file name, and the owner keeps appending. Once the
//! owner is killed and reaped, the lock is free at once, with no stale lock
//! file to clean up, even while a process the owner started lives on, and
//! every append the owner acknowledged is there. Several processes racing
//! to open one directory: exactly one owns it.
//!
//! The child is this test binary re-run with `--exact lock_holder_child`
//! and its role in environment variables, as in the kill -9 tests.

mod common;

use common::{ChildProc, NoLine};
use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Partition, Record};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHILD_TEST: &str = "lock_holder_child";
const ENV_DIR: &str = "SAMSA_LOCKS_CHILD_DIR";
/// `log`, `partition`, or `race` (open the log and report, holding it if
/// it got it).
const ENV_ROLE: &str = "SAMSA_LOCKS_CHILD_ROLE";
/// Set when the child should first start a long-lived process of its own.
const ENV_GRANDCHILD: &str = "SAMSA_LOCKS_CHILD_GRANDCHILD";
const TOPIC: &str = "t";
const TIMEOUT: Duration = Duration::from_secs(60);

fn value(offset: u64) -> String {
    format!("r{offset}")
}

/// Not a test of its own: the child process of the tests below (a no-op
/// otherwise). Opens the directory as its role says, prints `HOLDING`, and
/// appends `r<offset>` records forever, printing `ACK <offset>` after each.
#[test]
fn lock_holder_child() {
    let Some(dir) = std::env::var_os(ENV_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let role = std::env::var(ENV_ROLE).unwrap();
    if std::env::var_os(ENV_GRANDCHILD).is_some() {
        // Outlives this process; stdio not inherited, so it keeps no pipe
        // of the parent's open.
        #[expect(
            clippy::zombie_processes,
            reason = "it must outlive this process, which is killed, not reaped"
        )]
        let g = std::process::Command::new("sleep")
            .arg("60")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        println!("\nGRANDCHILD {}", g.id());
    }
    let partition = match role.as_str() {
        "log" => {
            let log = Log::builder().sync(SyncPolicy::Always).open(&dir).unwrap();
            let t = match log.topic(TOPIC) {
                Ok(t) => t,
                Err(_) => log.create_topic(TOPIC, TopicConfig::default()).unwrap(),
            };
            // The log stays open: leaked, as a process killed holds it.
            std::mem::forget(log);
            t.partition(0).unwrap()
        }
        "partition" => Partition::open(&dir, PartitionConfig::default()).unwrap(),
        "race" => {
            match Log::open(&dir) {
                Ok(log) => {
                    println!("\nOWNER");
                    std::mem::forget(log);
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                Err(Error::Locked { .. }) => println!("\nLOCKED"),
                Err(e) => println!("\nERROR {e}"),
            }
            return;
        }
        other => panic!("unknown role {other}"),
    };
    println!("\nHOLDING {}", partition.high_watermark());
    loop {
        let at = partition.log_end_offset();
        let info = partition.append(&[Record::new(value(at))]).unwrap();
        println!("ACK {}", info.base_offset);
    }
}

/// A child holding `dir` in `role`, once it has said so and acknowledged
/// at least one append.
struct Holder {
    child: ChildProc,
    max_acked: Option<u64>,
    grandchild: Option<u32>,
}

impl Holder {
    fn start(dir: &Path, role: &str, grandchild: bool) -> Holder {
        let mut envs = vec![
            (ENV_DIR, dir.display().to_string()),
            (ENV_ROLE, role.to_owned()),
        ];
        if grandchild {
            envs.push((ENV_GRANDCHILD, "1".to_owned()));
        }
        let mut h = Holder {
            child: ChildProc::spawn(CHILD_TEST, &envs),
            max_acked: None,
            grandchild: None,
        };
        let mut holding = false;
        while !holding || h.max_acked.is_none() {
            let line = h.line();
            holding |= line.starts_with("HOLDING");
        }
        h
    }

    /// The next line, noting acknowledgements and the grandchild.
    fn line(&mut self) -> String {
        let line = match self.child.next_line(TIMEOUT) {
            Ok(line) => line,
            Err(NoLine::Ended) => panic!("the holder exited"),
            Err(NoLine::Timeout) => panic!("the holder is stuck"),
        };
        note(&line, &mut self.max_acked, &mut self.grandchild);
        line
    }

    /// Waits for `n` more acknowledgements: the owner still works.
    fn acks(&mut self, n: u64) {
        let start = self.max_acked;
        while self.max_acked.map_or(0, |m| m + 1) < start.map_or(0, |m| m + 1) + n {
            self.line();
        }
    }

    /// SIGKILL, reaped; returns the last acknowledged offset and the
    /// grandchild's id.
    fn kill(self) -> (u64, Option<u32>) {
        let Holder {
            child,
            mut max_acked,
            mut grandchild,
        } = self;
        let (status, rest, _stderr) = child.kill();
        assert!(!status.success(), "the holder was not killed: {status}");
        for line in rest {
            note(&line, &mut max_acked, &mut grandchild);
        }
        (max_acked.unwrap(), grandchild)
    }
}

/// Notes an acknowledgement or the grandchild's id from a holder's line.
fn note(line: &str, max_acked: &mut Option<u64>, grandchild: &mut Option<u32>) {
    if let Some(o) = line.strip_prefix("ACK ") {
        let o = o.parse().unwrap();
        assert!(*max_acked < Some(o), "acknowledgements went backwards");
        *max_acked = Some(o);
    } else if let Some(pid) = line.strip_prefix("GRANDCHILD ") {
        *grandchild = Some(pid.parse().unwrap());
    }
}

/// Every file and directory name below `dir`, relative, sorted.
fn names(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_locked<T: std::fmt::Debug>(r: samsa_log::Result<T>, dir: &Path, what: &str) {
    match r {
        Err(Error::Locked { path }) => {
            assert_eq!(path, dir, "{what}: the error names the directory")
        }
        other => panic!(
            "{what}: expected Locked for {}, got {other:?}",
            dir.display()
        ),
    }
}

/// A samsa directory of the other kind: refused as such, locked or not.
fn assert_foreign<T: std::fmt::Debug>(r: samsa_log::Result<T>, dir: &Path, what: &str) {
    match r {
        Err(Error::ForeignDirectory { path, reason }) => {
            assert_eq!(path, dir, "{what}: the error names the directory");
            assert!(reason.contains("samsa"), "{what}: {reason}");
        }
        other => panic!(
            "{what}: expected ForeignDirectory for {}, got {other:?}",
            dir.display()
        ),
    }
}

/// Whether process `pid` still exists (signal 0 checks without sending).
fn alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Checks the partition holds `r<offset>` at every offset, through at
/// least `acked`.
fn assert_intact(p: &Partition, acked: u64, what: &str) {
    let hw = p.high_watermark();
    assert!(
        hw > acked,
        "{what}: acknowledged offset {acked} lost: HW {hw}"
    );
    let mut at = 0;
    while at < hw {
        let r = p.read(at, 1 << 20).unwrap();
        assert!(!r.is_empty(), "{what}: read at {at} is empty");
        for rec in &r {
            assert_eq!(rec.offset(), at, "{what}");
            assert_eq!(
                rec.value(),
                Some(value(at).as_bytes()),
                "{what}: offset {at}"
            );
            at += 1;
        }
    }
}

/// Fault: another process owns the log directory, then is killed.
#[test]
fn a_log_owned_by_another_process_is_locked_until_the_owner_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let partition_dir = dir.join("topics").join(TOPIC).join("0");
    for round in 0..3 {
        let what = format!("round {round}");
        // In round 1 the owner has started a process that outlives it.
        let mut h = Holder::start(&dir, "log", round == 1);
        let before = names(&dir);
        assert_locked(Log::open(&dir), &dir, &what);
        assert_locked(Log::builder().sync(SyncPolicy::Os).open(&dir), &dir, &what);
        // Not a partition directory, locked or not.
        assert_foreign(
            Partition::open(&dir, PartitionConfig::default()),
            &dir,
            &format!("{what}: Partition::open of the log directory"),
        );
        // A log's partition opens under the log's lock.
        assert_locked(
            Partition::open(&partition_dir, PartitionConfig::default()),
            &dir,
            &format!("{what}: Partition::open of a partition the log holds"),
        );
        // The refused opens created or removed nothing, and the owner
        // goes on appending.
        h.acks(3);
        assert_eq!(
            names(&dir),
            before,
            "{what}: a refused open changed the tree"
        );

        let (acked, grandchild) = h.kill();
        if let Some(g) = grandchild {
            assert!(alive(g), "{what}: the owner's own child should outlive it");
        }
        // Free at once: the kernel dropped the lock with the owner.
        let log = Log::open(&dir).unwrap_or_else(|e| panic!("{what}: open after kill: {e}"));
        assert_eq!(log.topics(), [TOPIC], "{what}");
        assert_intact(
            &log.topic(TOPIC).unwrap().partition(0).unwrap(),
            acked,
            &what,
        );
        if let Some(g) = grandchild {
            assert!(alive(g), "{what}: the owner's child was still alive");
            // Started by this test (through the holder): end it by its id.
            let _ = std::process::Command::new("kill")
                .args(["-9", &g.to_string()])
                .status();
        }
        // Dropped without close in the middle round: the next owner
        // recovers again.
        if round == 1 {
            drop(log);
        } else {
            log.close().unwrap();
        }
    }
}

/// Fault: another process owns a partition directory, then is killed.
#[test]
fn a_partition_owned_by_another_process_is_locked_until_the_owner_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    for round in 0..3 {
        let what = format!("round {round}");
        let mut h = Holder::start(&dir, "partition", false);
        let before = names(&dir);
        assert_locked(
            Partition::open(&dir, PartitionConfig::default()),
            &dir,
            &what,
        );
        assert_locked(
            Partition::open(&dir, PartitionConfig::default().sync(SyncPolicy::Os)),
            &dir,
            &what,
        );
        assert_foreign(
            Log::open(&dir),
            &dir,
            &format!("{what}: Log::open of a partition directory"),
        );
        h.acks(3);
        assert_eq!(
            names(&dir),
            before,
            "{what}: a refused open changed the tree"
        );
        let (acked, _) = h.kill();
        let p = Partition::open(&dir, PartitionConfig::default())
            .unwrap_or_else(|e| panic!("{what}: open after kill: {e}"));
        assert_intact(&p, acked, &what);
        // The recovered partition takes appends at the next offset.
        let hw = p.high_watermark();
        let info = p.append(&[Record::new(value(hw))]).unwrap();
        assert_eq!(info.base_offset, hw, "{what}");
        p.close().unwrap();
    }
}

/// Fault: several processes open one directory at the same moment.
#[test]
fn of_several_processes_racing_to_open_a_directory_exactly_one_owns_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    for round in 0..3 {
        let children: Vec<ChildProc> = (0..4)
            .map(|_| {
                ChildProc::spawn(
                    CHILD_TEST,
                    &[
                        (ENV_DIR, dir.display().to_string()),
                        (ENV_ROLE, "race".to_owned()),
                    ],
                )
            })
            .collect();
        let mut outcomes = Vec::new();
        for c in &children {
            loop {
                match c.next_line(TIMEOUT) {
                    Ok(l)
                        if ["OWNER", "LOCKED"].contains(&l.as_str()) || l.starts_with("ERROR") =>
                    {
                        outcomes.push(l);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => panic!("round {round}: a racer printed no outcome: {e:?}"),
                }
            }
        }
        outcomes.sort();
        assert_eq!(
            outcomes,
            ["LOCKED", "LOCKED", "LOCKED", "OWNER"],
            "round {round}"
        );
        assert_locked(Log::open(&dir), &dir, &format!("round {round}"));
        for c in children {
            c.kill();
        }
        Log::open(&dir)
            .unwrap_or_else(|e| panic!("round {round}: open after the owner died: {e}"))
            .close()
            .unwrap();
    }
}
