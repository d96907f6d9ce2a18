//! A storage that refuses every change: the fence around a read-only open
//! of a log another process owns. Files are opened for reading only (on
//! disk, without write access), and every call that would create, write,
//! truncate, sync, rename, remove or lock fails with `PermissionDenied`,
//! so no code path of a read-only log can change the owner's files, not
//! even by mistake.

use super::{DirLock, SharedBytes, Storage, StorageFile};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Wraps a storage, passing reads through and refusing changes.
#[derive(Debug, Clone)]
pub(crate) struct ReadOnlyStorage(pub Arc<dyn Storage>);

#[derive(Debug)]
struct ReadOnlyFile(Arc<dyn StorageFile>);

fn refused(what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{what} {}: the log is open read-only", path.display()),
    )
}

impl Storage for ReadOnlyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        Err(refused("create", dir))
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        if create && !self.0.exists(path) {
            return Err(refused("create", path));
        }
        Ok(Arc::new(ReadOnlyFile(self.0.open_read_only(path)?)))
    }

    fn open_read_only(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        self.open(path, false)
    }

    fn exists(&self, path: &Path) -> bool {
        self.0.exists(path)
    }

    fn len_of(&self, path: &Path) -> io::Result<u64> {
        self.0.len_of(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        Err(refused("remove", path))
    }

    fn rename(&self, from: &Path, _to: &Path) -> io::Result<()> {
        Err(refused("rename", from))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.list(dir)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.list_dirs(dir)
    }

    fn dir_exists(&self, path: &Path) -> bool {
        self.0.dir_exists(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        Err(refused("remove", dir))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        Err(refused("sync", dir))
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        Err(refused("lock", dir))
    }
}

impl StorageFile for ReadOnlyFile {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, pos)
    }

    fn write_all_at(&self, _buf: &[u8], _pos: u64) -> io::Result<()> {
        Err(refused("write", Path::new("a file")))
    }

    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn set_len(&self, _len: u64) -> io::Result<()> {
        Err(refused("truncate", Path::new("a file")))
    }

    fn allocate(&self, _pos: u64, _len: u64) -> io::Result<()> {
        Err(refused("allocate", Path::new("a file")))
    }

    fn sync_data(&self) -> io::Result<()> {
        Err(refused("sync", Path::new("a file")))
    }

    fn map_immutable(&self) -> io::Result<SharedBytes> {
        // A map of a file the owner may still truncate could fault
        // (SIGBUS); a read-only log reads with pread only.
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a read-only log does not map files",
        ))
    }
}
