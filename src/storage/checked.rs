//! The storage seam with samsa's errors, so that a call site is `?`.
//!
//! [`Storage`] and [`StorageFile`] return bare `io::Result`s: they are what
//! the real files, the memory storage and the fault-injecting test doubles
//! implement, and an `io::Error` alone does not say which file failed.
//! [`CheckedStorage`] (implemented for every storage) and [`NamedFile`] (a
//! file with its path) make the same calls, each failure an
//! [`Error::Io`] naming the operation and the path. A method's name says
//! its operation: `stat` fails as `"stat"`, `fsync_directory` as
//! `"fsync directory"`, `list_files` and `list_directories` as `"list"`,
//! `create_file` as `"create"`.

use super::{prune, read_all, write_atomic, DirLock, OwnNames, Storage, StorageFile};
use crate::error::{Error, Result};
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// [`Storage`] whose failures are [`Error::Io`] naming the operation and
/// the path. Implemented for every storage; nothing implements it by hand.
pub(crate) trait CheckedStorage: Storage {
    /// Creates `dir` and its parents ([`Storage::create_dir_all`]);
    /// `"create directory"`.
    fn create_directory(&self, dir: &Path) -> Result<()> {
        self.create_dir_all(dir)
            .map_err(|e| Error::io("create directory", dir, e))
    }

    /// Opens the file at `path`, which must exist; `"open"`.
    fn open_file<'p>(&self, path: &'p Path) -> Result<NamedFile<'p>> {
        let file = self
            .open(path, false)
            .map_err(|e| Error::io("open", path, e))?;
        Ok(NamedFile::new(file, path))
    }

    /// Opens the file at `path`, `None` if there is none; `"open"`.
    fn open_if_exists<'p>(&self, path: &'p Path) -> Result<Option<NamedFile<'p>>> {
        match self.open(path, false) {
            Ok(file) => Ok(Some(NamedFile::new(file, path))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("open", path, e)),
        }
    }

    /// Opens the file at `path`, creating it if there is none; `"open"`:
    /// for a file expected to be there.
    fn open_or_create<'p>(&self, path: &'p Path) -> Result<NamedFile<'p>> {
        let file = self
            .open(path, true)
            .map_err(|e| Error::io("open", path, e))?;
        Ok(NamedFile::new(file, path))
    }

    /// Creates the file at `path`, or opens the one there (as it is: the
    /// caller truncates it if it must); `"create"`: for a new file.
    fn create_file<'p>(&self, path: &'p Path) -> Result<NamedFile<'p>> {
        let file = self
            .open(path, true)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(NamedFile::new(file, path))
    }

    /// The length of the file at `path` ([`Storage::len_of`]); `"stat"`.
    fn stat(&self, path: &Path) -> Result<u64> {
        self.len_of(path).map_err(|e| Error::io("stat", path, e))
    }

    /// Removes the file at `path` ([`Storage::remove_file`]); `"remove"`.
    fn remove(&self, path: &Path) -> Result<()> {
        self.remove_file(path)
            .map_err(|e| Error::io("remove", path, e))
    }

    /// Removes the file at `path` if there is one; `"remove"`.
    fn remove_if_exists(&self, path: &Path) -> Result<()> {
        match self.remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
            _ => Ok(()),
        }
    }

    /// Renames `from` to `to` ([`Storage::rename`]); `"rename"`, naming
    /// `from`.
    fn rename_file(&self, from: &Path, to: &Path) -> Result<()> {
        self.rename(from, to)
            .map_err(|e| Error::io("rename", from, e))
    }

    /// Names of the files in `dir` ([`Storage::list`]); `"list"`.
    fn list_files(&self, dir: &Path) -> Result<Vec<String>> {
        self.list(dir).map_err(|e| Error::io("list", dir, e))
    }

    /// Names of the directories in `dir` ([`Storage::list_dirs`]);
    /// `"list"`.
    fn list_directories(&self, dir: &Path) -> Result<Vec<String>> {
        self.list_dirs(dir).map_err(|e| Error::io("list", dir, e))
    }

    /// Makes `dir`'s entries durable ([`Storage::sync_dir`]);
    /// `"fsync directory"`.
    fn fsync_directory(&self, dir: &Path) -> Result<()> {
        self.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))
    }

    /// Takes `dir`'s lock ([`Storage::lock_dir`]), `None` if another owner
    /// holds it; `"lock"`.
    fn lock(&self, dir: &Path) -> Result<Option<DirLock>> {
        self.lock_dir(dir).map_err(|e| Error::io("lock", dir, e))
    }

    /// Replaces `name` in `dir` with `bytes` atomically and durably
    /// ([`write_atomic`]); `"write"`, naming `dir/name`.
    fn write_atomically(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(self, dir, name, bytes).map_err(|e| Error::io("write", dir.join(name), e))
    }

    /// Removes what samsa wrote in `dir` ([`prune`](fn@super::prune));
    /// `"remove"`, naming `dir`. Returns whether `dir` is gone.
    fn prune(&self, dir: &Path, names: &dyn OwnNames, foreign: &mut Vec<PathBuf>) -> Result<bool> {
        prune(self, dir, names, foreign).map_err(|e| Error::io("remove", dir, e))
    }
}

impl<S: Storage + ?Sized> CheckedStorage for S {}

/// A [`StorageFile`] with its path: every call's failure is an
/// [`Error::Io`] naming the operation and the path. Holds the file as an
/// `Arc` (as opened) or a reference (`NamedFile<&dyn StorageFile>`), and
/// borrows the path, so naming a file allocates nothing.
#[derive(Debug, Clone)]
pub(crate) struct NamedFile<'p, F = Arc<dyn StorageFile>> {
    file: F,
    path: &'p Path,
}

impl<'p, F> NamedFile<'p, F>
where
    F: Deref,
    F::Target: StorageFile,
{
    /// `file`, named `path` in its errors.
    pub fn new(file: F, path: &'p Path) -> Self {
        NamedFile { file, path }
    }

    /// The file, for calls that report their own errors.
    pub fn raw(&self) -> &F::Target {
        &self.file
    }

    /// The file, without its name.
    pub fn into_raw(self) -> F {
        self.file
    }

    /// Runs `read`, reads of the file by an `io`-level helper; its failure
    /// is `"read"`.
    pub fn reading<T>(&self, read: impl FnOnce(&F::Target) -> io::Result<T>) -> Result<T> {
        read(&self.file).map_err(|e| Error::io("read", self.path, e))
    }

    /// Fills `buf` from `pos` ([`StorageFile::read_exact_at`]); `"read"`.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| Error::io("read", self.path, e))
    }

    /// The whole file ([`read_all`]); `"read"`.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        read_all(&*self.file).map_err(|e| Error::io("read", self.path, e))
    }

    /// Writes all of `buf` at `pos` ([`StorageFile::write_all_at`]);
    /// `"write"`.
    pub fn write_at(&self, buf: &[u8], pos: u64) -> Result<()> {
        self.file
            .write_all_at(buf, pos)
            .map_err(|e| Error::io("write", self.path, e))
    }

    /// The file's length ([`StorageFile::len`]); `"stat"`.
    pub fn stat(&self) -> Result<u64> {
        self.file.len().map_err(|e| Error::io("stat", self.path, e))
    }

    /// Cuts or extends the file to `len` ([`StorageFile::set_len`]);
    /// `"truncate"`.
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("truncate", self.path, e))
    }

    /// Makes the file's data durable ([`StorageFile::sync_data`]);
    /// `"fdatasync"`.
    pub fn fdatasync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync", self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemStorage, SharedBytes};
    use std::fmt::Debug;

    /// Fails every call.
    #[derive(Debug)]
    struct Broken;

    fn broken<T>() -> io::Result<T> {
        Err(io::Error::other("broken"))
    }

    impl Storage for Broken {
        fn create_dir_all(&self, _: &Path) -> io::Result<()> {
            broken()
        }
        fn open(&self, _: &Path, _: bool) -> io::Result<Arc<dyn StorageFile>> {
            broken()
        }
        fn exists(&self, _: &Path) -> bool {
            false
        }
        fn len_of(&self, _: &Path) -> io::Result<u64> {
            broken()
        }
        fn remove_file(&self, _: &Path) -> io::Result<()> {
            broken()
        }
        fn rename(&self, _: &Path, _: &Path) -> io::Result<()> {
            broken()
        }
        fn list(&self, _: &Path) -> io::Result<Vec<String>> {
            broken()
        }
        fn list_dirs(&self, _: &Path) -> io::Result<Vec<String>> {
            broken()
        }
        fn dir_exists(&self, _: &Path) -> bool {
            false
        }
        fn remove_dir(&self, _: &Path) -> io::Result<()> {
            broken()
        }
        fn sync_dir(&self, _: &Path) -> io::Result<()> {
            broken()
        }
        fn lock_dir(&self, _: &Path) -> io::Result<Option<DirLock>> {
            broken()
        }
    }

    impl StorageFile for Broken {
        fn read_exact_at(&self, _: &mut [u8], _: u64) -> io::Result<()> {
            broken()
        }
        fn write_all_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            broken()
        }
        fn len(&self) -> io::Result<u64> {
            broken()
        }
        fn set_len(&self, _: u64) -> io::Result<()> {
            broken()
        }
        fn allocate(&self, _: u64, _: u64) -> io::Result<()> {
            broken()
        }
        fn sync_data(&self) -> io::Result<()> {
            broken()
        }
        fn map_immutable(&self) -> io::Result<SharedBytes> {
            broken()
        }
    }

    /// The op and path of an `Error::Io`, after checking its message.
    fn failure<T: Debug>(result: Result<T>) -> (&'static str, PathBuf) {
        let e = result.unwrap_err();
        let text = e.to_string();
        match e {
            Error::Io { op, path, source } => {
                assert_eq!(source.to_string(), "broken");
                assert_eq!(
                    text,
                    format!("I/O error during {op} on {}: broken", path.display())
                );
                (op, path)
            }
            other => panic!("not an I/O error: {other:?}"),
        }
    }

    #[test]
    fn every_storage_call_names_its_op_and_path() {
        let s: &dyn Storage = &Broken;
        let (d, f, to) = (Path::new("/d"), Path::new("/d/f"), Path::new("/d/g"));
        let cases: [(Result<()>, &str, &Path); 15] = [
            (s.create_directory(d), "create directory", d),
            (s.open_file(f).map(drop), "open", f),
            (s.open_if_exists(f).map(drop), "open", f),
            (s.open_or_create(f).map(drop), "open", f),
            (s.create_file(f).map(drop), "create", f),
            (s.stat(f).map(drop), "stat", f),
            (s.remove(f), "remove", f),
            (s.remove_if_exists(f), "remove", f),
            (s.rename_file(f, to), "rename", f),
            (s.list_files(d).map(drop), "list", d),
            (s.list_directories(d).map(drop), "list", d),
            (s.fsync_directory(d), "fsync directory", d),
            (s.lock(d).map(drop), "lock", d),
            (s.write_atomically(d, "f", b"x"), "write", f),
            (s.prune(d, &Nothing, &mut Vec::new()).map(drop), "remove", d),
        ];
        for (i, (result, op, path)) in cases.into_iter().enumerate() {
            assert_eq!(failure(result), (op, path.to_path_buf()), "case {i}");
        }
    }

    #[test]
    fn every_file_call_names_its_op_and_path() {
        let p = Path::new("/d/00000000000000000000.log");
        let owned = NamedFile::new(Arc::new(Broken) as Arc<dyn StorageFile>, p);
        let borrowed = NamedFile::new(&Broken as &dyn StorageFile, p);
        let cases: [(Result<()>, &str); 8] = [
            (owned.read_at(&mut [0; 4], 0), "read"),
            (owned.read_all().map(drop), "read"),
            (owned.write_at(b"x", 0), "write"),
            (owned.stat().map(drop), "stat"),
            (owned.truncate(0), "truncate"),
            (owned.fdatasync(), "fdatasync"),
            (owned.reading(|f| f.len()).map(drop), "read"),
            (borrowed.fdatasync(), "fdatasync"),
        ];
        for (i, (result, op)) in cases.into_iter().enumerate() {
            assert_eq!(failure(result), (op, p.to_path_buf()), "case {i}");
        }
    }

    #[test]
    fn missing_files_are_none_or_already_removed() {
        let m = MemStorage::default();
        let d = Path::new("/m");
        m.create_directory(d).unwrap();
        let f = d.join("f");
        assert!(m.open_if_exists(&f).unwrap().is_none());
        m.remove_if_exists(&f).unwrap();
        let e = m.open_file(&f).unwrap_err();
        assert!(
            matches!(&e, Error::Io { op: "open", source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{e:?}"
        );
        let file = m.create_file(&f).unwrap();
        file.write_at(b"abc", 0).unwrap();
        file.fdatasync().unwrap();
        assert_eq!(
            m.open_if_exists(&f).unwrap().unwrap().read_all().unwrap(),
            b"abc"
        );
        m.remove_if_exists(&f).unwrap();
        assert!(!m.exists(&f));
    }

    /// Owns no names.
    struct Nothing;

    impl OwnNames for Nothing {
        fn file(&self, _: &str) -> bool {
            false
        }
        fn dir(&self, _: &str) -> Option<&dyn OwnNames> {
            None
        }
    }
}
