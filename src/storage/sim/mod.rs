//! A simulated disk for the reliability suite: every file has a "written"
//! image (what reads see) and a "synced" one (what survives power loss),
//! and the directory tree has both too. At a chosen I/O operation it can
//! fail that operation (EIO, ENOSPC, a failed fsync; once or from then on)
//! or cut the power; [`SimDisk::power_loss`] then builds the disk as found
//! after the reboot from the synced images plus a seeded choice of the
//! unsynced operations, torn at sector granularity.
//!
//! The model, stated so a test failure can be weighed against real disks:
//! - File data is durable once `sync_data` returns. Before that, each
//!   512-byte sector holds the content of any version of the file since
//!   the last sync (page-cache writeback may have written it at any
//!   moment, sector by sector), and the file's length is that of any
//!   version: sectors of the length that never arrived read as zeros.
//!   So a write may be lost, kept, torn, or leave only a grown size.
//! - A failed `sync_data` drops the file's unsynced writes for good while
//!   reads still see them, and the next sync succeeds without them, as
//!   Linux behaves after a failed writeback.
//! - Directory operations (create, rename, remove) reach the disk in the
//!   order they were made, as a journaled file system commits them; a
//!   power cut keeps some prefix of those made since the last `sync_dir`,
//!   which makes all of them durable. Syncing a file's data does not make
//!   its directory entry durable (POSIX does not promise it).

mod image;
mod tree;

use super::{DirLock, SharedBytes, Storage, StorageFile};
use image::{apply_data, survivor, write_at, DataOp, Inode, Rng};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tree::{apply, NsOp, Tree};

/// The kinds of operation a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpClass {
    /// Every operation that changes the disk, counted together.
    Any,
    /// `write_all_at` and `set_len`.
    Write,
    /// `sync_data` and `sync_dir`.
    Sync,
    /// Creating, renaming and removing files and directories.
    Namespace,
}

/// A fault: the `nth` operation of class `on` (counted from 0 since the
/// disk was made) fails with `kind`; with `persist`, so does every later
/// operation of that class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    pub on: OpClass,
    pub nth: u64,
    pub kind: io::ErrorKind,
    pub persist: bool,
}

/// Which unsynced operations survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// None: only what was synced.
    DropAll,
    /// All of them, as if the cache had been written back just in time.
    KeepAll,
    /// A choice drawn from this seed.
    Seeded(u64),
}

/// A simulated disk. Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimDisk {
    inner: Arc<Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    tree: Tree,
    synced_tree: Tree,
    pending_ns: Vec<NsOp>,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    locks: BTreeSet<PathBuf>,
    /// Operations so far: of any class, of writes, of syncs, of namespace.
    counts: [u64; 4],
    faults: Vec<Fault>,
    /// The operation (counted over all classes) at which the power is cut.
    crash_at: Option<u64>,
    trace: Vec<String>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn class_index(class: OpClass) -> usize {
    match class {
        OpClass::Any => 0,
        OpClass::Write => 1,
        OpClass::Sync => 2,
        OpClass::Namespace => 3,
    }
}

impl Disk {
    /// Counts an operation of `class` and decides whether it fails.
    fn begin(&mut self, class: OpClass, what: impl FnOnce() -> String) -> io::Result<()> {
        let any = self.counts[0];
        let nth = self.counts[class_index(class)];
        self.counts[0] += 1;
        self.counts[class_index(class)] += 1;
        let hit = self.faults.iter().find(|f| {
            let n = if f.on == OpClass::Any { any } else { nth };
            (f.on == OpClass::Any || f.on == class) && (n == f.nth || (f.persist && n > f.nth))
        });
        let outcome = if self.crash_at.is_some_and(|at| any >= at) {
            Err(io::Error::other("simulated power cut: the disk is gone"))
        } else if let Some(f) = hit {
            Err(io::Error::new(f.kind, format!("injected {:?}", f.kind)))
        } else {
            Ok(())
        };
        if self.trace.len() < 100_000 {
            let verdict = if outcome.is_err() { " FAILED" } else { "" };
            self.trace.push(format!("#{any} {}{verdict}", what()));
        }
        outcome
    }

    fn inode(&mut self, id: u64) -> &mut Inode {
        self.inodes.entry(id).or_default()
    }

    fn apply_ns(&mut self, op: NsOp) {
        apply(&mut self.tree, &op);
        self.pending_ns.push(op);
    }
}

impl SimDisk {
    /// An empty disk.
    pub(crate) fn new() -> Self {
        let disk = SimDisk::default();
        disk.inner
            .lock()
            .synced_tree
            .dirs
            .insert(PathBuf::from("/"));
        disk.inner.lock().tree.dirs.insert(PathBuf::from("/"));
        disk
    }

    /// Operations that changed (or tried to change) the disk so far.
    pub(crate) fn ops(&self) -> u64 {
        self.inner.lock().counts[0]
    }

    /// Operations of `class` so far.
    pub(crate) fn ops_of(&self, class: OpClass) -> u64 {
        self.inner.lock().counts[class_index(class)]
    }

    /// Arms a fault.
    pub(crate) fn inject(&self, fault: Fault) {
        self.inner.lock().faults.push(fault);
    }

    /// Disarms every fault: the disk works again.
    pub(crate) fn heal(&self) {
        self.inner.lock().faults.clear();
    }

    /// Cuts the power at operation `op` (over all classes): it and every
    /// later operation fail and change nothing.
    pub(crate) fn cut_power_at(&self, op: u64) {
        self.inner.lock().crash_at = Some(op);
    }

    /// The operations so far, one line each, for a failing test's report.
    pub(crate) fn trace(&self) -> String {
        self.inner.lock().trace.join("\n")
    }

    /// The disk as found after a power cut now: synced images, plus the
    /// unsynced operations `damage` keeps. The new disk has no faults and
    /// everything on it counts as synced.
    pub(crate) fn power_loss(&self, damage: Damage) -> SimDisk {
        let disk = self.inner.lock();
        let mut rng = Rng(match damage {
            Damage::Seeded(seed) => seed,
            _ => 0,
        });
        let mut tree = disk.synced_tree.clone();
        let kept = match damage {
            Damage::DropAll => 0,
            Damage::KeepAll => disk.pending_ns.len(),
            Damage::Seeded(_) => rng.below(disk.pending_ns.len() as u64 + 1) as usize,
        };
        for op in &disk.pending_ns[..kept] {
            apply(&mut tree, op);
        }
        let mut inodes = BTreeMap::new();
        for id in tree.files.values() {
            if inodes.contains_key(id) {
                continue;
            }
            let image = disk
                .inodes
                .get(id)
                .map(|i| survivor(i, damage, &mut rng))
                .unwrap_or_default();
            let inode = Inode {
                data: image.clone(),
                synced: image,
                pending: Vec::new(),
            };
            inodes.insert(*id, inode);
        }
        let after = Disk {
            synced_tree: tree.clone(),
            tree,
            inodes,
            next_inode: disk.next_inode,
            ..Disk::default()
        };
        SimDisk {
            inner: Arc::new(Mutex::new(after)),
        }
    }

    /// The written image of the file at `path`, if there is one.
    pub(crate) fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let disk = self.inner.lock();
        let id = disk.tree.files.get(path)?;
        Some(
            disk.inodes
                .get(id)
                .map(|i| i.data.clone())
                .unwrap_or_default(),
        )
    }

    /// Paths of every file, sorted.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.inner.lock().tree.files.keys().cloned().collect()
    }
}

impl Storage for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.inner.lock();
        disk.begin(OpClass::Namespace, || format!("mkdir -p {}", dir.display()))?;
        if !disk.tree.dirs.contains(dir) {
            disk.apply_ns(NsOp::MkdirAll(dir.to_path_buf()));
        }
        Ok(())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let mut disk = self.inner.lock();
        let id = match disk.tree.files.get(path) {
            Some(id) => *id,
            None if create => {
                disk.begin(OpClass::Namespace, || format!("create {}", path.display()))?;
                if !disk
                    .tree
                    .dirs
                    .contains(path.parent().unwrap_or(Path::new("/")))
                {
                    return Err(not_found(path));
                }
                let id = disk.next_inode;
                disk.next_inode += 1;
                disk.inode(id);
                disk.apply_ns(NsOp::Create(path.to_path_buf(), id));
                id
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            disk: self.inner.clone(),
            id,
            path: path.to_path_buf(),
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.lock().tree.files.contains_key(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.inner.lock();
        disk.begin(OpClass::Namespace, || format!("rm {}", path.display()))?;
        if !disk.tree.files.contains_key(path) {
            return Err(not_found(path));
        }
        disk.apply_ns(NsOp::Remove(path.to_path_buf()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.inner.lock();
        disk.begin(OpClass::Namespace, || {
            format!("mv {} {}", from.display(), to.display())
        })?;
        let is_file = disk.tree.files.contains_key(from);
        if !is_file && !disk.tree.dirs.contains(from) {
            return Err(not_found(from));
        }
        if !is_file && disk.tree.dirs.contains(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        disk.apply_ns(NsOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.inner.lock();
        if !disk.tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(names_in(disk.tree.files.keys(), dir))
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.inner.lock();
        if !disk.tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(names_in(disk.tree.dirs.iter(), dir))
    }

    fn dir_exists(&self, path: &Path) -> bool {
        self.inner.lock().tree.dirs.contains(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.inner.lock();
        disk.begin(OpClass::Namespace, || format!("rmdir {}", dir.display()))?;
        if !disk.tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let inside = |p: &Path| p.parent() == Some(dir);
        if disk.tree.dirs.iter().any(|d| inside(d)) || disk.tree.files.keys().any(|f| inside(f)) {
            return Err(super::mem::not_empty(dir));
        }
        disk.apply_ns(NsOp::RemoveDir(dir.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.inner.lock();
        disk.begin(OpClass::Sync, || format!("fsync dir {}", dir.display()))?;
        if !disk.tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        // A journal commit: every directory change so far is durable.
        disk.synced_tree = disk.tree.clone();
        disk.pending_ns.clear();
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let mut disk = self.inner.lock();
        if !disk.locks.insert(dir.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(DirLock(Box::new(SimLock {
            disk: self.inner.clone(),
            dir: dir.to_path_buf(),
        }))))
    }
}

fn names_in<'a>(paths: impl Iterator<Item = &'a PathBuf>, dir: &Path) -> Vec<String> {
    paths
        .filter(|p| p.parent() == Some(dir))
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect()
}

struct SimLock {
    disk: Arc<Mutex<Disk>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.disk.lock().locks.remove(&self.dir);
    }
}

#[derive(Debug)]
struct SimFile {
    disk: Arc<Mutex<Disk>>,
    id: u64,
    /// The name it was opened by, for the trace.
    path: PathBuf,
}

impl StorageFile for SimFile {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let data = &disk.inode(self.id).data;
        let start = usize::try_from(pos).map_err(io::Error::other)?;
        match start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let result = disk.begin(OpClass::Write, || {
            format!("write {} @{pos} +{}", self.path.display(), buf.len())
        });
        let written = match (&result, disk.crash_at.is_some_and(|at| disk.counts[0] > at)) {
            (Ok(()), _) => buf,
            // Power is cut: nothing reaches even the cache.
            (Err(_), true) => return result,
            // A failed write may still have written a part, as a short
            // write followed by an error does.
            (Err(_), false) => &buf[..buf.len() / 2],
        };
        if !written.is_empty() {
            let inode = disk.inode(self.id);
            write_at(&mut inode.data, pos, written);
            inode.pending.push(DataOp::Write(pos, written.to_vec()));
        }
        result
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.lock().inode(self.id).data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.begin(OpClass::Write, || {
            format!("truncate {} to {len}", self.path.display())
        })?;
        let inode = disk.inode(self.id);
        apply_data(&mut inode.data, &DataOp::SetLen(len));
        inode.pending.push(DataOp::SetLen(len));
        Ok(())
    }

    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        let end = pos.saturating_add(len);
        let mut disk = self.disk.lock();
        disk.begin(OpClass::Write, || {
            format!("fallocate {} to {end}", self.path.display())
        })?;
        // Like a file system's: the length grows to cover the range (as
        // a metadata change an fdatasync makes durable), never shrinks.
        let inode = disk.inode(self.id);
        if (inode.data.len() as u64) < end {
            apply_data(&mut inode.data, &DataOp::SetLen(end));
            inode.pending.push(DataOp::SetLen(end));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let result = disk.begin(OpClass::Sync, || format!("fsync {}", self.path.display()));
        let powered = disk.crash_at.is_none_or(|at| disk.counts[0] <= at);
        let inode = disk.inode(self.id);
        if result.is_err() {
            if powered {
                // As Linux does after a failed writeback: the pages are
                // marked clean, so reads still see the data but it will
                // never reach the disk, and the next fsync succeeds
                // without it ("fsyncgate").
                inode.pending.clear();
            }
            return result;
        }
        for op in std::mem::take(&mut inode.pending) {
            apply_data(&mut inode.synced, &op);
        }
        Ok(())
    }

    fn map_immutable(&self) -> io::Result<SharedBytes> {
        let mut disk = self.disk.lock();
        Ok(SharedBytes::Heap(Arc::from(
            disk.inode(self.id).data.as_slice(),
        )))
    }
}

#[cfg(test)]
mod tests;
