//! Scratch directories and file-system facts: free space, bytes a
//! directory holds, copies.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tempfile::TempDir;

/// A fresh directory under `base`, removed when dropped.
pub fn dir_in(base: &Path) -> TempDir {
    tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(base)
        .expect("create a scratch directory")
}

/// Bytes free for an unprivileged writer on the file system of `path`.
pub fn free_bytes(path: &Path) -> u64 {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: statvfs is plain old data, valid all zeros; `c` is a
    // NUL-terminated path and `s` a live statvfs for the call to fill.
    let (rc, s) = unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s), s)
    };
    assert_eq!(rc, 0, "statvfs {}", path.display());
    s.f_bavail * s.f_frsize
}

/// Bytes the files under `dir` (recursively) have allocated on disk
/// (`st_blocks`, as `du` counts them: a preallocated but unwritten sparse
/// tail is not counted, a written or fallocated one is).
pub fn allocated_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("list") {
        let e = e.expect("entry");
        let m = e.metadata().expect("stat");
        if m.is_dir() {
            total += allocated_bytes(&e.path());
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}

/// Number of files under `dir` (recursively) whose name ends with `suffix`.
pub fn count_files(dir: &Path, suffix: &str) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("list") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            n += count_files(&e.path(), suffix);
        } else if e.file_name().to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    n
}

/// Copies the tree `from` into the new directory `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for e in std::fs::read_dir(from).expect("list") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}
