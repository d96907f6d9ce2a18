//! The storage seam: every byte samsa reads or writes goes through these
//! two traits, so tests can swap real files for memory or for a storage
//! that fails, tears or drops writes. The code above calls them through
//! [`CheckedStorage`] and [`NamedFile`] (`checked`), whose errors name the
//! operation and the path.

mod budget;
mod checked;
#[cfg(test)]
pub(crate) mod faulty;
mod fs;
mod mem;
mod mmap;
mod prune;
mod read_only;
#[cfg(test)]
pub(crate) mod sim;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub(crate) use budget::{Evictable, FileBudget, Slot};
pub(crate) use checked::{CheckedStorage, NamedFile};
pub(crate) use fs::FsStorage;
pub(crate) use mem::MemStorage;
pub(crate) use mmap::SharedBytes;
pub(crate) use prune::{prune, OwnNames};
pub(crate) use read_only::ReadOnlyStorage;

/// A directory tree of files.
pub(crate) trait Storage: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents (owner-only permissions).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens a file for reading and writing; creates it (owner-only) when
    /// `create` is set and it does not exist.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>>;
    /// Opens a file for reading only (on disk, without asking for write
    /// access): for a log open read-only beside its owner.
    fn open_read_only(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        self.open(path, false)
    }
    /// Whether a file exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// The length of the file at `path`, without keeping it open.
    fn len_of(&self, path: &Path) -> io::Result<u64> {
        self.open(path, false)?.len()
    }
    /// Removes a file. Open handles keep working on its data.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from` (files), or moves a directory
    /// to a new name that does not exist yet.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Names of the files directly inside `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Names of the directories directly inside `dir`.
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether a directory exists at `path`.
    fn dir_exists(&self, path: &Path) -> bool;
    /// Removes an empty directory (an error if it is not empty). samsa
    /// removes directories only this way, after removing the files it
    /// wrote inside them (see [`prune`]): anything else keeps the
    /// directory in place.
    fn remove_dir(&self, dir: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of `dir`, held until the guard drops.
    /// `Ok(None)` when another owner holds it.
    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>>;
}

/// One open file.
pub(crate) trait StorageFile: Send + Sync + fmt::Debug {
    /// Fills `buf` from `pos`; `UnexpectedEof` if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Writes all of `buf` at `pos`.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk space for bytes `pos..pos + len`, extending the file
    /// with zeros to `pos + len` if it is shorter, so that later writes
    /// inside it change no metadata an fdatasync would have to write
    /// (`fallocate`). May do nothing (in memory, or where the file system
    /// cannot): callers never rely on the length it leaves, only on what
    /// they wrote.
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// A read-only view of the whole file. Only for files that never shrink
    /// or change again (sealed index files): see [`SharedBytes`].
    fn map_immutable(&self) -> io::Result<SharedBytes>;
    /// A read-only map of a sealed segment's log, which reads borrow
    /// instead of copying; only for a file that never shrinks or changes
    /// again (see [`SharedBytes`]). `None` where a map would cost a copy
    /// (in memory) or where reads must go through
    /// [`Self::read_exact_at`] (a storage that injects faults, a log open
    /// read-only beside an owner that may still truncate its files).
    fn map_sealed(&self) -> io::Result<Option<SharedBytes>> {
        Ok(None)
    }
}

/// Holds a directory lock until dropped.
pub(crate) struct DirLock(
    #[expect(dead_code, reason = "held only so that dropping it releases the lock")]
    Box<dyn Send + Sync>,
);

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

/// Writes `name` in `dir` so that after a crash it holds either its old
/// content or `bytes`, never a mix: temp file, sync, rename, sync directory.
pub(crate) fn write_atomic(
    storage: &(impl Storage + ?Sized),
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let file = storage.open(&tmp, true)?;
    file.set_len(0)?;
    file.write_all_at(bytes, 0)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&tmp, &dir.join(name))?;
    storage.sync_dir(dir)
}

/// Writes `bytes` as the whole file at `path` (created if needed), in
/// place and without a sync: only for files whose damage their reader
/// detects (a CRC or trailer) and survives (derived data, hints). The file
/// is cut only if it was longer: a truncate costs more than the write on
/// most file systems (ext4 also flushes a file truncated to zero when it
/// is closed). Errors name the operation.
pub(crate) fn write_unsynced(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> crate::error::Result<()> {
    let file = storage.create_file(path)?;
    file.write_at(bytes, 0)?;
    if file.stat()? > bytes.len() as u64 {
        file.truncate(bytes.len() as u64)?;
    }
    Ok(())
}

/// Reads a whole small file.
pub(crate) fn read_all(file: &(impl StorageFile + ?Sized)) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.len()?).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same contract checks for every implementation.
    fn contract(storage: &dyn Storage, dir: &Path) {
        storage.create_dir_all(dir).unwrap();
        let a = dir.join("a");
        assert!(!storage.exists(&a));
        assert!(storage.open(&a, false).is_err());
        let f = storage.open(&a, true).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.write_all_at(b"J", 0).unwrap();
        assert_eq!(f.len().unwrap(), 5);
        let mut buf = [0u8; 5];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"Jello");
        let mut long = [0u8; 6];
        assert_eq!(
            f.read_exact_at(&mut long, 0).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        f.set_len(2).unwrap();
        f.set_len(4).unwrap();
        assert_eq!(read_all(&*f).unwrap(), b"Je\0\0");
        f.sync_data().unwrap();
        assert_eq!(&*f.map_immutable().unwrap(), b"Je\0\0");

        write_atomic(storage, dir, "b", b"one").unwrap();
        write_atomic(storage, dir, "b", b"two!").unwrap();
        let b = storage.open(&dir.join("b"), false).unwrap();
        assert_eq!(read_all(&*b).unwrap(), b"two!");
        let mut names = storage.list(dir).unwrap();
        names.sort();
        assert_eq!(names, ["a", "b"]);

        let sub = dir.join("sub");
        storage.create_dir_all(&sub.join("deeper")).unwrap();
        storage.open(&sub.join("x"), true).unwrap();
        assert!(storage.dir_exists(&sub));
        assert_eq!(storage.list_dirs(dir).unwrap(), ["sub"]);
        storage.rename(&sub, &dir.join("moved")).unwrap();
        assert!(!storage.dir_exists(&sub));
        assert!(storage.exists(&dir.join("moved").join("x")));
        assert!(storage.dir_exists(&dir.join("moved").join("deeper")));
        let moved = dir.join("moved");
        assert!(storage.remove_dir(&moved).is_err(), "not empty");
        storage.remove_file(&moved.join("x")).unwrap();
        storage.remove_dir(&moved.join("deeper")).unwrap();
        storage.remove_dir(&moved).unwrap();
        assert!(storage.list_dirs(dir).unwrap().is_empty());
        assert!(!storage.dir_exists(&moved));

        storage.rename(&a, &dir.join("c")).unwrap();
        assert!(!storage.exists(&a));
        storage.remove_file(&dir.join("c")).unwrap();
        // A removed file's open handle still reads its data.
        assert_eq!(read_all(&*f).unwrap(), b"Je\0\0");
        assert_eq!(storage.list(dir).unwrap(), ["b"]);

        let lock = storage.lock_dir(dir).unwrap();
        assert!(lock.is_some());
        assert!(storage.lock_dir(dir).unwrap().is_none());
        drop(lock);
        assert!(storage.lock_dir(dir).unwrap().is_some());
    }

    #[test]
    fn files_keep_the_contract() {
        let tmp = tempfile::tempdir().unwrap();
        contract(&FsStorage, &tmp.path().join("d"));
    }

    #[test]
    fn memory_keeps_the_contract() {
        contract(&MemStorage::default(), Path::new("/mem/d"));
    }

    #[test]
    fn the_simulated_disk_keeps_the_contract() {
        contract(&sim::SimDisk::new(), Path::new("/sim/d"));
    }
}
