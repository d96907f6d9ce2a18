//! The production storage: real files, positioned I/O.

use super::{DirLock, SharedBytes, Storage, StorageFile};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files and directories on the local file system.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FsStorage;

#[derive(Debug)]
struct FsFile {
    file: File,
    path: PathBuf,
}

impl Storage for FsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .mode(0o600)
            .open(path)?;
        Ok(Arc::new(FsFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn open_read_only(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new().read(true).open(path)?;
        Ok(Arc::new(FsFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn len_of(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn dir_exists(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(".lock"))?;
        // An advisory lock on an open file: the kernel drops it when the
        // process dies, so a crashed owner never leaves a stale lock.
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock(Box::new(FsLock(file))))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// An advisory lock released explicitly on drop: a child process forked
/// by any thread holds a copy of the descriptor until it execs, and closing
/// our copy alone would leave the lock held through that one.
struct FsLock(File);

impl Drop for FsLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl StorageFile for FsFile {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, pos)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    #[cfg(target_os = "linux")]
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        // Mode 0: blocks reserved and the size extended, so an fdatasync
        // after a write inside the range has no size or block map to
        // write, only the data. (`KEEP_SIZE` would leave the size to grow
        // with every append, which an fdatasync must then journal.)
        rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), pos, len)
            .map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn allocate(&self, _pos: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn map_immutable(&self) -> io::Result<SharedBytes> {
        SharedBytes::map_immutable_file(&self.file)
            .map_err(|e| io::Error::new(e.kind(), format!("map {}: {e}", self.path.display())))
    }

    fn map_sealed(&self) -> io::Result<Option<SharedBytes>> {
        self.map_immutable().map(Some)
    }
}
