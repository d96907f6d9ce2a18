//! A storage that fails chosen operations, for tests of error paths: wraps
//! another storage and, while a fault is armed, fails every matching call
//! with the given error kind.

use super::{DirLock, SharedBytes, Storage, StorageFile};
use parking_lot::Mutex;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Which operation a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Write,
    Sync,
    /// Opening a file that does not exist yet (as EMFILE or ENOSPC would
    /// fail it).
    Create,
}

#[derive(Debug, Default)]
struct Faults {
    /// The operation, the error, and the end of the paths it hits (empty:
    /// every path).
    armed: Vec<(Op, io::ErrorKind, String)>,
}

/// Wraps a storage; [`FaultyStorage::arm`] makes operations fail.
#[derive(Debug, Clone)]
pub(crate) struct FaultyStorage {
    inner: Arc<dyn Storage>,
    faults: Arc<Mutex<Faults>>,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    faults: Arc<Mutex<Faults>>,
    path: String,
}

impl FaultyStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        FaultyStorage {
            inner,
            faults: Arc::default(),
        }
    }

    /// From now on, every `op` fails with `kind`.
    pub fn arm(&self, op: Op, kind: io::ErrorKind) {
        self.arm_on(op, kind, "");
    }

    /// From now on, every `op` on a path ending in `suffix` fails with
    /// `kind`.
    pub fn arm_on(&self, op: Op, kind: io::ErrorKind, suffix: &str) {
        self.faults.lock().armed.push((op, kind, suffix.to_owned()));
    }

    /// Clears every fault.
    pub fn disarm(&self) {
        self.faults.lock().armed.clear();
    }
}

fn check(faults: &Mutex<Faults>, op: Op, path: &str) -> io::Result<()> {
    let faults = faults.lock();
    let hit = faults
        .armed
        .iter()
        .find(|(o, _, suffix)| *o == op && path.ends_with(suffix.as_str()));
    match hit {
        Some((_, kind, _)) => Err(io::Error::new(*kind, format!("injected {op:?} fault"))),
        None => Ok(()),
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        if create && !self.inner.exists(path) {
            check(&self.faults, Op::Create, &text(path))?;
        }
        Ok(Arc::new(FaultyFile {
            inner: self.inner.open(path, create)?,
            faults: self.faults.clone(),
            path: text(path),
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dirs(dir)
    }

    fn dir_exists(&self, path: &Path) -> bool {
        self.inner.dir_exists(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        check(&self.faults, Op::Sync, &text(dir))?;
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        self.inner.lock_dir(dir)
    }
}

impl StorageFile for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, pos)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        if let Err(e) = check(&self.faults, Op::Write, &self.path) {
            // Like a real short write: part of the data reaches the file.
            self.inner.write_all_at(&buf[..buf.len() / 2], pos)?;
            return Err(e);
        }
        self.inner.write_all_at(buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        self.inner.allocate(pos, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        check(&self.faults, Op::Sync, &self.path)?;
        self.inner.sync_data()
    }

    fn map_immutable(&self) -> io::Result<SharedBytes> {
        self.inner.map_immutable()
    }
}
