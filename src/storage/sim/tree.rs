//! The simulated disk's directory tree: which names point at which files,
//! and the directory operations that change it, replayed at a power cut.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub(super) struct Tree {
    pub files: BTreeMap<PathBuf, u64>,
    pub dirs: BTreeSet<PathBuf>,
}

#[derive(Debug, Clone)]
pub(super) enum NsOp {
    MkdirAll(PathBuf),
    Create(PathBuf, u64),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
    /// Removes an empty directory.
    RemoveDir(PathBuf),
}

/// Applies a directory operation that was checked against `tree` (or, at a
/// power cut, one that was checked against the tree it was made on).
pub(super) fn apply(tree: &mut Tree, op: &NsOp) {
    match op {
        NsOp::MkdirAll(dir) => {
            for a in dir.ancestors() {
                tree.dirs.insert(a.to_path_buf());
            }
        }
        NsOp::Create(path, id) => {
            tree.files.insert(path.clone(), *id);
        }
        NsOp::Remove(path) => {
            tree.files.remove(path);
        }
        NsOp::Rename(from, to) => {
            if let Some(id) = tree.files.remove(from) {
                tree.files.insert(to.clone(), id);
                return;
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
            let files: Vec<(PathBuf, u64)> = tree
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(from))
                .map(|(p, id)| (p.clone(), *id))
                .collect();
            for (p, id) in files {
                tree.files.remove(&p);
                tree.files.insert(moved(&p), id);
            }
        }
        NsOp::RemoveDir(dir) => {
            tree.dirs.remove(dir);
        }
    }
}
