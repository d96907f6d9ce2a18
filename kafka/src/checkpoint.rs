//! A transfer's checkpoint: where each partition's copy stands, and the
//! group offsets it translates, in a small text file written whole (temp
//! file, sync, rename), so an interrupted transfer resumes where the last
//! checkpoint left it and never copies a record twice.
//!
//! ```text
//! samsa-transfer 1
//! topic orders
//! partition 0 120 120
//! group billing 0 100 100
//! group audit 0 130 -
//! done
//! ```
//!
//! A `partition` line is the partition, the next source offset to copy
//! (`-` before the first record) and the destination's end after the
//! records copied so far. A `group` line is a group's committed offset on
//! the source, and its translation on the destination once known (`-`
//! until then). `done` ends a transfer whose group offsets were set.

use samsa_log::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One partition's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionState {
    pub source_next: Option<u64>,
    pub dest_next: u64,
}

/// A group's committed offset of one partition, and its translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupOffset {
    pub group: String,
    pub partition: u32,
    pub source: u64,
    pub dest: Option<u64>,
}

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub topic: String,
    pub partitions: Vec<PartitionState>,
    pub groups: Vec<GroupOffset>,
    pub done: bool,
}

/// The first line of every checkpoint.
const MAGIC: &str = "samsa-transfer 1";

fn io(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_path_buf(),
        source: std::sync::Arc::new(e),
    }
}

fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!("transfer checkpoint {}: {why}", path.display()))
}

impl Checkpoint {
    /// The checkpoint at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read checkpoint", path, e)),
        };
        Self::parse(&text).map(Some).map_err(|why| bad(path, why))
    }

    fn parse(text: &str) -> std::result::Result<Checkpoint, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not a samsa transfer checkpoint (version 1)".into());
        }
        let num = |s: &str| s.parse::<u64>().map_err(|_| format!("not a number: {s:?}"));
        let opt = |s: &str| if s == "-" { Ok(None) } else { num(s).map(Some) };
        let mut cp = Checkpoint {
            topic: String::new(),
            partitions: Vec::new(),
            groups: Vec::new(),
            done: false,
        };
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["topic", t] => cp.topic = (*t).to_owned(),
                ["partition", p, s, d] => {
                    if num(p)? != cp.partitions.len() as u64 {
                        return Err(format!("partition {p} out of order"));
                    }
                    cp.partitions.push(PartitionState {
                        source_next: opt(s)?,
                        dest_next: num(d)?,
                    });
                }
                ["group", g, p, s, d] => cp.groups.push(GroupOffset {
                    group: (*g).to_owned(),
                    partition: u32::try_from(num(p)?).map_err(|e| e.to_string())?,
                    source: num(s)?,
                    dest: opt(d)?,
                }),
                ["done"] => cp.done = true,
                _ => return Err(format!("unreadable line {line:?}")),
            }
        }
        if cp.topic.is_empty() {
            return Err("no topic line".into());
        }
        Ok(cp)
    }

    fn render(&self) -> String {
        let opt = |o: Option<u64>| o.map_or("-".to_owned(), |v| v.to_string());
        let mut s = format!("{MAGIC}\ntopic {}\n", self.topic);
        for (p, st) in self.partitions.iter().enumerate() {
            s += &format!("partition {p} {} {}\n", opt(st.source_next), st.dest_next);
        }
        for g in &self.groups {
            s += &format!(
                "group {} {} {} {}\n",
                g.group,
                g.partition,
                g.source,
                opt(g.dest)
            );
        }
        if self.done {
            s += "done\n";
        }
        s
    }

    /// Writes the checkpoint to `path` whole: a crash leaves the old one
    /// or this one. (`path` itself was read first by [`Self::load`], which
    /// refuses a file that is not a checkpoint; the temp file beside it is
    /// replaced only if it is one of ours, left by a crash.)
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let head = std::fs::File::open(&tmp).and_then(|f| {
            use std::io::Read;
            let mut head = Vec::new();
            f.take(MAGIC.len() as u64).read_to_end(&mut head)?;
            Ok(head)
        });
        match head {
            Ok(head) if head != MAGIC.as_bytes() => {
                return Err(bad(
                    &tmp,
                    "exists and is not a samsa transfer checkpoint: not replaced",
                ))
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("read checkpoint", &tmp, e))
            }
            _ => {}
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| io("write checkpoint", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_did_not_write() {
        let cp = Checkpoint {
            topic: "orders".into(),
            partitions: vec![
                PartitionState {
                    source_next: None,
                    dest_next: 0,
                },
                PartitionState {
                    source_next: Some(17),
                    dest_next: 12,
                },
            ],
            groups: vec![GroupOffset {
                group: "billing".into(),
                partition: 1,
                source: 5,
                dest: Some(3),
            }],
            done: true,
        };
        assert_eq!(Checkpoint::parse(&cp.render()), Ok(cp.clone()));
        assert!(Checkpoint::parse("hello\n").is_err());
        assert!(Checkpoint::parse("samsa-transfer 1\ntopic t\npartition 1 - 0\n").is_err());
        assert!(Checkpoint::parse("samsa-transfer 1\ntopic t\npartition 0 x 0\n").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        cp.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(cp.clone()));
        // Someone else's file where the temp file goes is left alone.
        let tmp = dir.path().join("cp.tmp");
        std::fs::write(&tmp, b"not ours").unwrap();
        assert!(cp.save(&path).is_err());
        assert_eq!(std::fs::read(&tmp).unwrap(), b"not ours");
        // Ours, left by a crash, is replaced.
        std::fs::write(&tmp, b"samsa-transfer 1\ntopic ord").unwrap();
        cp.save(&path).unwrap();
        assert!(!tmp.exists());
    }
}
