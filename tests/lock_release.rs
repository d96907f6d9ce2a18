//! The directory lock is released at close even while other threads fork child processes.

use samsa_log::partition::PartitionConfig;
use samsa_log::{Error, Partition};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Fault: another thread of the owning process spawns child processes
/// while the partition is closed and reopened. A spawned child holds a copy
/// of every descriptor until it execs; the directory lock must not survive
/// close() through such a copy.
#[test]
fn reopen_after_close_is_not_locked_while_other_threads_spawn_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::process::Command::new("true").status().unwrap();
            }
        })
    };
    let mut locked = 0;
    for _ in 0..300 {
        match Partition::open(&dir, PartitionConfig::default()) {
            Ok(p) => p.close().unwrap(),
            Err(Error::Locked { .. }) => locked += 1,
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
    assert_eq!(
        locked, 0,
        "{locked} of 300 opens right after close() got Locked"
    );
}
