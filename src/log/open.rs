//! Opening a log directory: whose it is, its lock, the clean-up of what
//! an interrupted creation or deletion left (samsa's own names only), and
//! the topics.

use super::{maintenance, Log, LogBuilder, LogInner};
use crate::error::{Error, Result};
use crate::group::Groups;
use crate::identity::{self, DirKind};
use crate::partition::{PartitionEnv, PartitionFiles};
use crate::registry::layout::{Graveyard, Root, Topics, DELETED_DIR, TOPICS_DIR};
use crate::registry::{write_properties, Registry};
use crate::segment::parse_log_file_name;
use crate::storage::{prune, CheckedStorage, FileBudget, OwnNames, Storage};
use crate::topic::{parse_partition_dir, partition_dir, properties, Topic, TopicFiles, TopicId};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Log {
    /// Opens the log in `dir` on `storage`: see [`Log::open`].
    pub(crate) fn open_with(
        storage: Arc<dyn Storage>,
        dir: &Path,
        options: LogBuilder,
    ) -> Result<Log> {
        options.default_topic.validate()?;
        // Whose directory it is, before anything is created in it.
        identity::inspect(&*storage, dir, DirKind::Log, &Root)?;
        storage.create_directory(dir)?;
        let lock = storage.lock(dir)?.ok_or_else(|| Error::Locked {
            path: dir.to_path_buf(),
        })?;
        // Again under the lock: another process may have made it meanwhile.
        let found = identity::inspect(&*storage, dir, DirKind::Log, &Root)?;
        identity::claim(&*storage, dir, DirKind::Log, found)?;

        let mut foreign = strangers(&*storage, dir, &Root)?;
        let topics_dir = dir.join(TOPICS_DIR);
        let deleted = dir.join(DELETED_DIR);
        for d in [&topics_dir, &deleted] {
            storage.create_directory(d)?;
        }
        let graves = clear_graveyard(&*storage, &deleted, &mut foreign)?;
        let env = PartitionEnv {
            storage: storage.clone(),
            signal: Arc::default(),
            clock: options.clock.clone(),
            budget: FileBudget::new(options.max_open_files),
            faults: Default::default(),
        };
        foreign.extend(strangers(&*storage, &topics_dir, &Topics)?);
        let mut topics = BTreeMap::new();
        let names = storage.list_directories(&topics_dir)?;
        for name in names.into_iter().filter(|n| Topics.dir(n).is_some()) {
            if let Some(t) = open_topic(&env, &topics_dir, &name, &options, &mut foreign)? {
                for p in t.partitions() {
                    foreign.extend_from_slice(p.foreign_files());
                }
                topics.insert(name, t);
            }
        }
        storage.fsync_directory(&topics_dir)?;
        foreign.sort();
        let registry = Arc::new(Registry::new(dir, env, options.sync, topics, graves));
        let log = Log {
            inner: Arc::new(LogInner {
                registry: registry.clone(),
                groups: Arc::new(Groups::new(registry)),
                options,
                lock: Mutex::new(Some(lock)),
                foreign,
                maintenance: maintenance::Maintenance::default(),
                txns: Default::default(),
            }),
        };
        #[cfg(feature = "test-util")]
        log.inner
            .registry
            .env()
            .faults
            .attach(Arc::new(super::GroupsOf(Arc::downgrade(&log.inner))));
        let registry = &log.inner.registry;
        let offsets = &log.inner.groups.offsets;
        offsets.load(registry)?;
        offsets.forget_missing_topics(registry);
        offsets.clamp_to_high_watermarks(registry)?;
        // Groups keep their generations; members the last owner had are
        // recorded gone.
        let groups = &log.inner.groups;
        crate::group::membership::load(registry, &groups.coordinator)?;
        let _ = groups.record_membership();
        // A transaction a crash left half done is finished (a decided
        // commit) or aborted, before anyone reads.
        log.inner.txns.load(registry)?;
        log.inner.txns.recover(registry, offsets)?;
        if let Some(interval) = log.inner.options.maintenance_interval {
            maintenance::Maintenance::start(&log.inner, interval)?;
        }
        crate::observe::info!(
            dir = %dir.display(),
            topics = registry.topics().len(),
            foreign_files = log.inner.foreign.len(),
            "log opened"
        );
        Ok(log)
    }
}

/// The entries of `dir` that are not among `own`'s names.
fn strangers(storage: &dyn Storage, dir: &Path, own: &dyn OwnNames) -> Result<Vec<PathBuf>> {
    let files = storage.list_files(dir)?;
    let dirs = storage.list_directories(dir)?;
    Ok(files
        .into_iter()
        .filter(|f| !own.file(f))
        .chain(dirs.into_iter().filter(|d| own.dir(d).is_none()))
        .map(|n| dir.join(n))
        .collect())
}

/// Removes what deletions cut short left in `deleted/` (they are no longer
/// part of the log: the rename out of `topics/` was their commit point),
/// samsa's files only, and returns the first counter no leftover uses.
fn clear_graveyard(
    storage: &dyn Storage,
    deleted: &Path,
    foreign: &mut Vec<PathBuf>,
) -> Result<u64> {
    foreign.extend(strangers(storage, deleted, &Graveyard)?);
    let mut next = 0;
    let graves = storage.list_directories(deleted)?;
    for name in graves {
        let Some(own) = Graveyard.dir(&name) else {
            continue;
        };
        let grave = deleted.join(&name);
        // A failure only leaves the files for the next open to remove.
        if !prune(storage, &grave, own, foreign).unwrap_or(false) {
            let n: u64 = name.parse().unwrap_or(u64::MAX - 1);
            next = next.max(n.saturating_add(1));
        }
    }
    Ok(next)
}

/// `Error::Corrupt` (naming the metadata file) if the partition directory
/// `pdir`, which the topic's metadata does not account for, holds records:
/// a creation or growth cut short never appended any, so the metadata is
/// what is damaged, and the records are not deleted on its word.
fn refuse_if_it_holds_records(storage: &dyn Storage, pdir: &Path, metadata: &Path) -> Result<()> {
    let names = storage.list_files(pdir)?;
    for name in names.iter().filter(|n| parse_log_file_name(n).is_some()) {
        let log = pdir.join(name);
        let len = storage.stat(&log)?;
        if len > 0 {
            return Err(Error::corrupt(
                metadata,
                0,
                format!(
                    "the topic metadata does not count partition {}, which holds records ({})",
                    pdir.display(),
                    log.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Opens the topic in `topics_dir/name`, or cleans up after a creation cut
/// short (`None`): samsa's files only; what else it finds is added to
/// `foreign` and left.
fn open_topic(
    env: &PartitionEnv,
    topics_dir: &Path,
    name: &str,
    options: &LogBuilder,
    foreign: &mut Vec<PathBuf>,
) -> Result<Option<Topic>> {
    let storage = &*env.storage;
    let dir = topics_dir.join(name);
    let path = dir.join(properties::FILE_NAME);
    let partition_dirs = || -> Result<Vec<(u32, PathBuf)>> {
        let names = storage.list_directories(&dir)?;
        Ok(names
            .iter()
            .filter_map(|n| parse_partition_dir(n).map(|p| (p, dir.join(n))))
            .collect())
    };
    if !storage.exists(&path) {
        // The metadata file is written last: without it the topic was never
        // created, and no record was ever appended to it; records mean the
        // file was lost, and the partitions are kept for the operator.
        for (_, pdir) in partition_dirs()? {
            refuse_if_it_holds_records(storage, &pdir, &path)?;
        }
        storage.prune(&dir, &TopicFiles, foreign)?;
        return Ok(None);
    }
    let stored = properties::decode(&crate::properties::read(storage, &path)?, &path)?;
    if stored.name != name {
        return Err(Error::corrupt(
            &path,
            0,
            format!(
                "metadata names topic {:?}, but its directory is {name:?}",
                stored.name
            ),
        ));
    }
    let config = stored.config;
    for file in storage.list_files(&dir)? {
        if file == properties::FILE_NAME {
            continue;
        }
        let at = dir.join(&file);
        if TopicFiles.file(&file) {
            // The temp file of a metadata write cut short.
            storage.remove(&at)?;
        } else {
            foreign.push(at);
        }
    }
    for d in storage.list_directories(&dir)? {
        if TopicFiles.dir(&d).is_none() {
            foreign.push(dir.join(d));
        }
    }
    // Partition directories past the count were made by an add_partitions
    // that did not reach its commit point: empty, never visible.
    for (p, pdir) in partition_dirs()? {
        if p >= config.partitions {
            refuse_if_it_holds_records(storage, &pdir, &path)?;
            storage.prune(&pdir, &PartitionFiles, foreign)?;
        }
    }
    for p in 0..config.partitions {
        let pdir = partition_dir(&dir, p);
        if !storage.dir_exists(&pdir) {
            return Err(Error::corrupt(
                &path,
                0,
                format!("partition {p} of {} is missing", config.partitions),
            ));
        }
    }
    let id = match stored.id {
        Some(id) => id,
        None => {
            // Written before topics had ids: it gets one now, for good.
            let id = TopicId::random();
            write_properties(storage, &dir, name, id, &config)?;
            id
        }
    };
    Topic::open(env, &dir, name, id, config, options.sync).map(Some)
}

#[cfg(test)]
mod tests {
    use crate::registry::layout::Root;
    use crate::storage::OwnNames;

    #[test]
    fn the_root_holds_topics_deleted_and_the_identity() {
        assert!(Root.dir("topics").is_some());
        assert!(Root.dir("deleted").is_some());
        assert!(Root.dir("other").is_none());
        assert!(Root.file("meta.properties"));
        assert!(Root.file(".lock"));
        assert!(!Root.file("notes.txt"));
    }
}
