//! Removing what samsa wrote, and nothing else.
//!
//! samsa runs inside other people's processes and may be pointed at a
//! directory that holds their files. So it never removes a tree
//! recursively: it walks it with a description of the names it writes at
//! each level ([`OwnNames`]), removes those, and removes a directory only
//! once it is empty. Anything else is left where it is and reported.

use super::Storage;
use std::io;
use std::path::{Path, PathBuf};

/// The names samsa writes at one level of its directory tree.
pub(crate) trait OwnNames {
    /// Whether a file called `name` here is one samsa writes.
    fn file(&self, name: &str) -> bool;
    /// If a directory called `name` here is one samsa makes, what it holds.
    fn dir(&self, name: &str) -> Option<&dyn OwnNames>;
}

/// Removes from `dir` every file and directory `names` says samsa wrote
/// (recursively), then `dir` itself if nothing is left in it. Every path
/// left in place because samsa did not write it is added to `foreign`;
/// returns whether `dir` is gone.
pub(crate) fn prune(
    storage: &(impl Storage + ?Sized),
    dir: &Path,
    names: &dyn OwnNames,
    foreign: &mut Vec<PathBuf>,
) -> io::Result<bool> {
    let mut kept = false;
    for name in storage.list(dir)? {
        let path = dir.join(&name);
        if names.file(&name) {
            match storage.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else {
            foreign.push(path);
            kept = true;
        }
    }
    for name in storage.list_dirs(dir)? {
        let path = dir.join(&name);
        match names.dir(&name) {
            Some(inner) => kept |= !prune(storage, &path, inner, foreign)?,
            None => {
                foreign.push(path);
                kept = true;
            }
        }
    }
    if kept {
        return Ok(false);
    }
    match storage.remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        // Something the listing does not show (a symlink, a socket, a
        // file created meanwhile): not samsa's, so the directory stays.
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
            foreign.push(dir.to_path_buf());
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{FsStorage, MemStorage};

    /// `*.own` files, and `d*` directories holding the same.
    struct Own;

    impl OwnNames for Own {
        fn file(&self, name: &str) -> bool {
            name.ends_with(".own")
        }
        fn dir(&self, name: &str) -> Option<&dyn OwnNames> {
            name.starts_with('d').then_some(&Own as &dyn OwnNames)
        }
    }

    fn tree(storage: &dyn Storage, root: &Path) {
        storage.create_dir_all(&root.join("d1/d2")).unwrap();
        storage.create_dir_all(&root.join("d3/other")).unwrap();
        storage.create_dir_all(&root.join("d4")).unwrap();
        for f in [
            "a.own",
            "d1/b.own",
            "d1/d2/c.own",
            "d3/e.own",
            "d3/keep.txt",
            "d3/other/x.own",
            "d4/f.own",
        ] {
            storage
                .open(&root.join(f), true)
                .unwrap()
                .write_all_at(b"data", 0)
                .unwrap();
        }
    }

    fn check(storage: &dyn Storage, root: &Path) {
        tree(storage, root);
        let mut foreign = Vec::new();
        let gone = prune(storage, root, &Own, &mut foreign).unwrap();
        assert!(!gone);
        foreign.sort();
        assert_eq!(
            foreign,
            [root.join("d3/keep.txt"), root.join("d3/other")],
            "what samsa did not write is reported"
        );
        // Kept byte for byte: the foreign file, and the own file inside a
        // directory samsa does not make.
        for kept in ["d3/keep.txt", "d3/other/x.own"] {
            let f = storage.open(&root.join(kept), false).unwrap();
            assert_eq!(crate::storage::read_all(&*f).unwrap(), b"data");
        }
        for gone in ["a.own", "d1/b.own", "d3/e.own", "d4/f.own"] {
            assert!(!storage.exists(&root.join(gone)), "{gone}");
        }
        assert!(!storage.dir_exists(&root.join("d1")));
        assert!(!storage.dir_exists(&root.join("d4")));
        assert!(storage.dir_exists(&root.join("d3")));

        // With nothing foreign left, the whole tree goes.
        storage.remove_file(&root.join("d3/keep.txt")).unwrap();
        storage.remove_file(&root.join("d3/other/x.own")).unwrap();
        storage.remove_dir(&root.join("d3/other")).unwrap();
        let mut foreign = Vec::new();
        assert!(prune(storage, root, &Own, &mut foreign).unwrap());
        assert!(foreign.is_empty());
        assert!(!storage.dir_exists(root));
    }

    #[test]
    fn only_own_names_are_removed_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        check(&FsStorage, &tmp.path().join("root"));
    }

    #[test]
    fn only_own_names_are_removed_in_memory() {
        check(&MemStorage::default(), Path::new("/m/root"));
    }

    #[test]
    fn a_symlink_keeps_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("d");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("link.own")).unwrap();
        let mut foreign = Vec::new();
        assert!(!prune(&FsStorage, &root, &Own, &mut foreign).unwrap());
        assert_eq!(foreign, std::slice::from_ref(&root));
        assert!(root.join("link.own").symlink_metadata().is_ok());
    }
}
