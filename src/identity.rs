//! Whose directory this is: the identity file, `meta.properties`, written
//! when samsa makes a log directory (or a partition directory opened on
//! its own), as Kafka marks its log directories.
//!
//! samsa opens a directory only if it is missing or empty (and then writes
//! the file), holds the file (and is of the kind asked for), or holds
//! nothing but samsa's own names and a sign that samsa made it: for a log,
//! a `.lock` (a log written before the file existed) or the file's temp
//! copy (a creation cut short); for a partition, any of its files. Anything else is [`Error::ForeignDirectory`] and is
//! left exactly as it was: pointing a service at the wrong directory must
//! never cost its owner a file.
//!
//! ```text
//! # samsa: a log directory. samsa removes nothing here it did not write.
//! format=1
//! kind=log
//! directory.id=<22 characters, as Kafka writes a Uuid>
//! crc=<crc-32 of the lines above, 8 hex digits>
//! ```

use crate::error::{Error, Result};
use crate::properties;
use crate::storage::{CheckedStorage, OwnNames, Storage};
use std::path::Path;

/// File name of the identity file.
pub(crate) const FILE_NAME: &str = "meta.properties";

/// The lock file `FsStorage::lock_dir` creates in a directory it locks.
pub(crate) const LOCK_FILE: &str = ".lock";

const FORMAT: &str = "1";

/// What a samsa directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirKind {
    /// A log directory (`Log::open`).
    Log,
    /// A partition directory opened on its own (`Partition::open`).
    Partition,
}

impl DirKind {
    fn name(self) -> &'static str {
        match self {
            DirKind::Log => "log",
            DirKind::Partition => "partition",
        }
    }
}

/// The contents of an identity file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub kind: DirKind,
    /// Random, given when the directory was made.
    pub id: u128,
}

fn encode(identity: &Identity) -> String {
    properties::encode(
        &format!(
            "samsa: a {} directory. samsa removes nothing here it did not write.",
            identity.kind.name()
        ),
        &[
            ("format", FORMAT.into()),
            ("kind", identity.kind.name().into()),
            ("directory.id", crate::id::encode(identity.id)),
        ],
    )
}

fn decode(bytes: &[u8], path: &Path) -> Result<Identity> {
    let mut f = properties::decode(bytes, path)?;
    if f.take("format")? != FORMAT {
        return Err(f.corrupt("unknown identity format"));
    }
    let kind = match f.take("kind")? {
        "log" => DirKind::Log,
        "partition" => DirKind::Partition,
        other => return Err(f.corrupt(format!("unknown kind {other:?}"))),
    };
    let id = f.take("directory.id")?;
    let id = crate::id::decode(id).ok_or_else(|| f.corrupt(format!("bad directory.id {id:?}")))?;
    f.finish()?;
    Ok(Identity { kind, id })
}

/// How a directory stands before samsa takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Missing, or empty: samsa makes it.
    Fresh,
    /// samsa's, of the kind asked for.
    Ours(Identity),
    /// Holding only names samsa writes, and a sign that samsa made it
    /// (see the module docs), but no identity file: made before identity
    /// files, by a creation cut short, or a log's partition directory.
    Legacy,
}

/// Looks at `dir` without changing anything: whether samsa may take it as
/// a directory of `kind`, whose own names are `own`. A directory holding
/// anything else is [`Error::ForeignDirectory`]; a damaged identity file
/// is [`Error::Corrupt`].
pub(crate) fn inspect(
    storage: &dyn Storage,
    dir: &Path,
    kind: DirKind,
    own: &dyn OwnNames,
) -> Result<Found> {
    if !storage.dir_exists(dir) {
        if storage.exists(dir) {
            return Err(foreign(dir, "it is a file, not a directory".into()));
        }
        return Ok(Found::Fresh);
    }
    let files = storage.list_files(dir)?;
    let dirs = storage.list_directories(dir)?;
    if let Some(identity) = read(storage, dir)? {
        if identity.kind != kind {
            return Err(foreign(
                dir,
                format!(
                    "it is a samsa {} directory, not a {} directory",
                    identity.kind.name(),
                    kind.name()
                ),
            ));
        }
        return Ok(Found::Ours(identity));
    }
    if files.is_empty() && dirs.is_empty() {
        return Ok(Found::Fresh);
    }
    let strangers: Vec<&str> = files
        .iter()
        .filter(|f| !own.file(f))
        .chain(dirs.iter().filter(|d| own.dir(d).is_none()))
        .map(String::as_str)
        .collect();
    // samsa's own names only, and a sign that samsa was here: in a log
    // directory, its lock file (samsa 0.1) or the temp file of an identity
    // write cut short; in a partition directory, any of its files (their
    // names are samsa's alone: a segment's 20-digit base offset, ...),
    // so a log's partition directory copied out opens on its own.
    let tmp = format!("{FILE_NAME}.tmp");
    let sign = |f: &String| match kind {
        DirKind::Log => *f == LOCK_FILE || *f == tmp,
        DirKind::Partition => own.file(f),
    };
    if strangers.is_empty() && files.iter().any(sign) {
        return Ok(Found::Legacy);
    }
    let mut shown: Vec<&str> = if strangers.is_empty() {
        files.iter().chain(&dirs).map(String::as_str).collect()
    } else {
        strangers
    };
    shown.sort_unstable();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    Err(foreign(
        dir,
        format!(
            "it is not empty and has no {FILE_NAME} (it holds {shown:?}{})",
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    ))
}

/// The identity file in `dir`, if there is one.
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Identity>> {
    let path = dir.join(FILE_NAME);
    if !storage.exists(&path) {
        return Ok(None);
    }
    decode(&properties::read(storage, &path)?, &path).map(Some)
}

fn foreign(dir: &Path, reason: String) -> Error {
    Error::ForeignDirectory {
        path: dir.to_path_buf(),
        reason,
    }
}

/// Takes `dir` as samsa's, as [`inspect`] found it: writes the identity
/// file unless it is there already. The caller holds the directory's lock.
pub(crate) fn claim(
    storage: &dyn Storage,
    dir: &Path,
    kind: DirKind,
    found: Found,
) -> Result<Identity> {
    match found {
        Found::Ours(identity) => Ok(identity),
        Found::Fresh | Found::Legacy => {
            let identity = Identity {
                kind,
                id: crate::id::random_u128(),
            };
            properties::write(storage, dir, FILE_NAME, &encode(&identity))?;
            Ok(identity)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    struct Own;
    impl OwnNames for Own {
        fn file(&self, name: &str) -> bool {
            name == LOCK_FILE || name == "own"
        }
        fn dir(&self, name: &str) -> Option<&dyn OwnNames> {
            (name == "sub").then_some(&Own as &dyn OwnNames)
        }
    }

    #[test]
    fn fresh_ours_legacy_and_foreign() {
        let m = MemStorage::default();
        let dir = Path::new("/d");
        let found = inspect(&m, dir, DirKind::Log, &Own).unwrap();
        assert_eq!(found, Found::Fresh);
        m.create_dir_all(dir).unwrap();
        assert_eq!(inspect(&m, dir, DirKind::Log, &Own).unwrap(), Found::Fresh);

        m.open(&dir.join("own"), true).unwrap();
        let err = inspect(&m, dir, DirKind::Log, &Own).unwrap_err();
        assert!(
            matches!(err, Error::ForeignDirectory { .. }),
            "no lock: {err}"
        );
        m.open(&dir.join(LOCK_FILE), true).unwrap();
        assert_eq!(inspect(&m, dir, DirKind::Log, &Own).unwrap(), Found::Legacy);

        m.create_dir_all(&dir.join("theirs")).unwrap();
        let err = inspect(&m, dir, DirKind::Log, &Own).unwrap_err();
        assert!(err.to_string().contains("theirs"), "{err}");

        let id = claim(&m, dir, DirKind::Log, Found::Legacy).unwrap();
        assert_eq!(
            inspect(&m, dir, DirKind::Log, &Own).unwrap(),
            Found::Ours(id)
        );
        let err = inspect(&m, dir, DirKind::Partition, &Own).unwrap_err();
        assert!(err.to_string().contains("samsa log directory"), "{err}");
    }

    #[test]
    fn a_damaged_identity_is_corrupt() {
        let text = encode(&Identity {
            kind: DirKind::Partition,
            id: 7,
        });
        let p = Path::new("meta.properties");
        assert_eq!(decode(text.as_bytes(), p).unwrap().id, 7);
        for i in 0..text.len() {
            let mut b = text.clone().into_bytes();
            b[i] ^= 2;
            assert!(
                matches!(decode(&b, p), Err(Error::Corrupt { .. })),
                "flip at {i}"
            );
        }
    }
}
