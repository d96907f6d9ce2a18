//! Storage in memory: the backend of in-memory partitions, and a model of
//! a disk for tests, which keeps each file's synced length apart from what
//! was merely written so that a simulated crash can drop unsynced bytes.

use super::{DirLock, SharedBytes, Storage, StorageFile};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file system in memory. Clones share the same files.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemStorage {
    inner: Arc<Mutex<MemTree>>,
}

#[derive(Debug, Default)]
struct MemTree {
    dirs: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, Arc<MemFile>>,
    locks: BTreeSet<PathBuf>,
}

#[derive(Debug, Default)]
struct MemFile {
    state: Mutex<FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    data: Vec<u8>,
    /// Bytes below this length have been synced.
    synced_len: usize,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

pub(super) fn not_empty(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::DirectoryNotEmpty,
        format!("{} is not empty", dir.display()),
    )
}

impl MemStorage {
    /// Simulates power loss: every file keeps its synced bytes and a
    /// `choose`-picked prefix of its unsynced ones. `choose(path, synced,
    /// len)` returns the length to keep, clamped to `synced..=len`.
    #[cfg(test)]
    pub(crate) fn crash(&self, mut choose: impl FnMut(&Path, usize, usize) -> usize) {
        let tree = self.inner.lock();
        for (path, file) in &tree.files {
            let mut st = file.state.lock();
            let keep =
                choose(path, st.synced_len, st.data.len()).clamp(st.synced_len, st.data.len());
            st.data.truncate(keep);
        }
    }
}

#[cfg(test)]
impl MemStorage {
    /// How many bytes of the file at `path` are synced, and its length.
    pub(crate) fn sync_state(&self, path: &Path) -> Option<(usize, usize)> {
        let tree = self.inner.lock();
        let st = tree.files.get(path)?.state.lock();
        Some((st.synced_len, st.data.len()))
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut tree = self.inner.lock();
        for a in dir.ancestors() {
            tree.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let mut tree = self.inner.lock();
        if let Some(f) = tree.files.get(path) {
            return Ok(f.clone());
        }
        let parent = path.parent().unwrap_or(Path::new(""));
        if !create || !tree.dirs.contains(parent) {
            return Err(not_found(path));
        }
        let f = Arc::new(MemFile::default());
        tree.files.insert(path.to_path_buf(), f.clone());
        Ok(f)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.lock().files.contains_key(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner
            .lock()
            .files
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut tree = self.inner.lock();
        if let Some(f) = tree.files.remove(from) {
            tree.files.insert(to.to_path_buf(), f);
            return Ok(());
        }
        if !tree.dirs.contains(from) {
            return Err(not_found(from));
        }
        if tree.dirs.contains(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        let moved = |p: &Path| to.join(p.strip_prefix(from).expect("filtered by prefix"));
        let dirs: Vec<PathBuf> = tree
            .dirs
            .iter()
            .filter(|d| d.starts_with(from))
            .cloned()
            .collect();
        for d in dirs {
            tree.dirs.remove(&d);
            tree.dirs.insert(moved(&d));
        }
        let files: Vec<PathBuf> = tree
            .files
            .keys()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for p in files {
            let f = tree.files.remove(&p).expect("listed just now");
            tree.files.insert(moved(&p), f);
        }
        Ok(())
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let tree = self.inner.lock();
        if !tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(tree
            .dirs
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn dir_exists(&self, path: &Path) -> bool {
        self.inner.lock().dirs.contains(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut tree = self.inner.lock();
        if !tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let inside = |p: &Path| p.parent() == Some(dir);
        if tree.dirs.iter().any(|d| inside(d)) || tree.files.keys().any(|f| inside(f)) {
            return Err(not_empty(dir));
        }
        tree.dirs.remove(dir);
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let tree = self.inner.lock();
        if !tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(tree
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let mut tree = self.inner.lock();
        if !tree.locks.insert(dir.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(DirLock(Box::new(MemLock {
            storage: self.clone(),
            dir: dir.to_path_buf(),
        }))))
    }
}

struct MemLock {
    storage: MemStorage,
    dir: PathBuf,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.storage.inner.lock().locks.remove(&self.dir);
    }
}

impl StorageFile for MemFile {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let st = self.state.lock();
        let start = usize::try_from(pos).map_err(io::Error::other)?;
        match start
            .checked_add(buf.len())
            .and_then(|end| st.data.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        let start = usize::try_from(pos).map_err(io::Error::other)?;
        let end = start + buf.len();
        if start == st.data.len() {
            // An append, the common case: copy once, without zero-filling
            // the new bytes first.
            st.data.extend_from_slice(buf);
        } else {
            if st.data.len() < end {
                st.data.resize(end, 0);
            }
            st.data[start..end].copy_from_slice(buf);
        }
        // Overwriting synced bytes makes them unsynced again.
        st.synced_len = st.synced_len.min(start);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.state.lock().data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        let len = usize::try_from(len).map_err(io::Error::other)?;
        st.data.resize(len, 0);
        st.synced_len = st.synced_len.min(len);
        Ok(())
    }

    fn allocate(&self, _pos: u64, _len: u64) -> io::Result<()> {
        // Nothing to reserve in memory, and zeros here would be real memory.
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.state.lock();
        st.synced_len = st.data.len();
        Ok(())
    }

    fn map_immutable(&self) -> io::Result<SharedBytes> {
        Ok(SharedBytes::Heap(Arc::from(
            self.state.lock().data.as_slice(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_bytes_and_drops_a_chosen_part_of_the_rest() {
        let m = MemStorage::default();
        m.create_dir_all(Path::new("/d")).unwrap();
        let f = m.open(Path::new("/d/f"), true).unwrap();
        f.write_all_at(b"durable", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"-volatile", 7).unwrap();
        m.crash(|_, synced, len| {
            assert_eq!((synced, len), (7, 16));
            0
        });
        assert_eq!(super::super::read_all(&*f).unwrap(), b"durable");
    }
}
