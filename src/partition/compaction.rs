//! Log compaction of one partition (cleanup policy "compact"), as Kafka's
//! `LogCleaner` does it: keep at least the latest record of every key in
//! the sealed segments, drop tombstones once they are old enough, never
//! touch the active segment, never change an offset.
//!
//! A pass fills an offset map (each key's latest offset) from the dirty
//! part of the log (from the cleaner checkpoint on), then rewrites every
//! sealed segment from the log start to the map's end into new files
//! (`<base>.log.cleaned` and its indexes, each synced) and swaps each in by
//! rename. The cleaner checkpoint is written before any swap, so a crash
//! mid-pass leaves each segment either old or cleaned, both of which hold
//! every key's latest value; leftover `.cleaned` files are removed at open.
//! Like retention, a pass takes the maintenance lock, never the writer's;
//! readers holding a replaced segment keep reading its old files.

use super::{log_start, Partition};
use crate::cleaner::{
    clean_segment, CleanConfig, CleanedPaths, Filled, OffsetMap, PassTransactions, SegmentSource,
};
use crate::compression::Levels;
use crate::error::Result;
use crate::segment::SegmentState;
use crate::storage::CheckedStorage;
use std::path::PathBuf;
use std::sync::Arc;

/// How a compaction pass runs: Kafka's topic settings of the same names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionOptions {
    /// How long a tombstone (a key with no value) stays readable after
    /// its batch's newest timestamp (Kafka's `delete.retention.ms`,
    /// default 1 day), so consumers that are behind still see the delete.
    pub delete_retention_ms: u64,
    /// The least share of the sealed log's bytes that must be dirty (not
    /// yet compacted) for a pass to run (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// How long a record stays uncompacted after its segment's newest
    /// timestamp (default 0).
    pub min_compaction_lag_ms: u64,
    /// Memory for the key map (default 16 MiB): a log with more keys than
    /// fit is compacted over several passes.
    pub map_budget_bytes: usize,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            map_budget_bytes: 16 << 20,
        }
    }
}

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub segments: u64,
    /// Records read from them.
    pub records_in: u64,
    /// Records kept.
    pub records_out: u64,
    /// Bytes of their logs before the pass.
    pub bytes_in: u64,
    /// Bytes of the cleaned logs.
    pub bytes_out: u64,
}

impl Partition {
    /// Runs one compaction pass (see the module docs), if the dirty part
    /// of the log's sealed segments is at least
    /// `min_cleanable_dirty_ratio` of them. Records keep their offsets;
    /// readers see the gaps. The partition's own records are not checked
    /// for keys here (compacted topics refuse keyless ones on append);
    /// a keyless record already in the log is kept.
    pub fn compact(&self, options: CompactionOptions) -> Result<CompactionReport> {
        self.ensure_open()?;
        let s = &*self.shared;
        let _one_at_a_time = s.maintenance.lock();
        let now = self.now_ms();
        let segments = s.segments.read().clone();
        let lag_limit =
            now.saturating_sub(options.min_compaction_lag_ms.min(i64::MAX as u64) as i64);
        let mut cleanable: Vec<Arc<SegmentState>> = Vec::new();
        // Never past the last stable offset: a record of an open
        // transaction may yet be aborted, and must not supersede anything.
        let stable = self.last_stable_offset();
        for seg in &segments[..segments.len() - 1] {
            if seg.max_timestamp()?.is_some_and(|t| t > lag_limit) || seg.next_offset() > stable {
                break;
            }
            cleanable.push(seg.clone());
        }
        // Aborted transactions' records are dropped, and supersede nothing.
        let aborted = s.aborted.read().clone();
        if cleanable.is_empty() {
            return Ok(CompactionReport::default());
        }
        let first_dirty = log_start::read_kind(log_start::CLEANER, &*s.files.storage, &s.dir)?
            .unwrap_or(0)
            .max(self.log_start_offset());
        let mut total = 0u64;
        let mut dirty = 0u64;
        for seg in &cleanable {
            let size = seg.size()?;
            total += size;
            if seg.next_offset() > first_dirty {
                dirty += size;
            }
        }
        if dirty == 0 || (dirty as f64) < options.min_cleanable_dirty_ratio * total as f64 {
            return Ok(CompactionReport::default());
        }

        let max_records = s.config.max_record_bytes as usize;
        let mut map = OffsetMap::new(options.map_budget_bytes, first_dirty);
        for seg in cleanable
            .iter()
            .filter(|seg| seg.next_offset() > first_dirty)
        {
            if with_source(seg, max_records, |source| map.add_segment(source, &aborted))?
                == Filled::Full
            {
                break;
            }
        }
        let end = map.end_offset();
        // Before any swap: segments below `end` may from now on end early.
        log_start::write_kind(log_start::CLEANER, &*s.files.storage, &s.dir, end)?;

        let config = CleanConfig {
            delete_horizon_ms: now
                .saturating_sub(options.delete_retention_ms.min(i64::MAX as u64) as i64),
            index_interval_bytes: s.config.index_interval_bytes,
            compression: s.config.compression_type.codec(),
            levels: Levels {
                gzip: s.config.compression_gzip_level,
                zstd: s.config.compression_zstd_level,
            },
        };
        let mut done = CompactionReport::default();
        let mut txns = PassTransactions::new(&aborted);
        for seg in cleanable.iter().filter(|seg| seg.base_offset() < end) {
            let paths = Cleaned::of(seg);
            let stats = with_source(seg, max_records, |source| {
                clean_segment(
                    &*s.files.storage,
                    source,
                    &map,
                    &config,
                    &mut txns,
                    &paths.as_paths(),
                )
            })?;
            self.swap_in(seg)?;
            done.segments += 1;
            done.records_in += stats.records_in;
            done.records_out += stats.records_out;
            done.bytes_in += stats.bytes_in;
            done.bytes_out += stats.bytes_out;
        }
        s.files.storage.fsync_directory(&s.dir)?;
        s.meters.removed(
            done.bytes_in.saturating_sub(done.bytes_out),
            self.log_start_offset(),
        );
        crate::observe::info!(
            dir = %s.dir.display(),
            segments = done.segments,
            records_in = done.records_in,
            records_out = done.records_out,
            bytes_in = done.bytes_in,
            bytes_out = done.bytes_out,
            "compaction pass"
        );
        Ok(done)
    }

    /// Renames `seg`'s cleaned files into place and puts a new segment for
    /// them in the list. Readers holding `seg` keep its open log and its
    /// mapped indexes (opened here first, and pinned). The old index files go first,
    /// then the log is renamed (the commit point), then the indexes: a
    /// crash in between leaves a log without indexes, which are rebuilt.
    fn swap_in(&self, seg: &Arc<SegmentState>) -> Result<()> {
        let s = &*self.shared;
        // Readers holding the old segment go on reading its files, which
        // the renames below take away from their names.
        seg.pin()?;
        let cleaned = Cleaned::of(seg);
        let storage = &s.files.storage;
        for path in [&cleaned.index_target, &cleaned.time_index_target] {
            storage.remove_if_exists(path)?;
        }
        storage.rename_file(&cleaned.log, seg.log_path())?;
        storage.rename_file(&cleaned.index, &cleaned.index_target)?;
        storage.rename_file(&cleaned.time_index, &cleaned.time_index_target)?;
        let fresh = Arc::new(
            SegmentState::sealed(
                &s.files,
                &s.dir,
                seg.base_offset(),
                seg.next_offset(),
                s.config.index_interval_bytes,
            )
            .compacted(),
        );
        let mut segs = s.segments.write();
        if let Some(slot) = segs.iter_mut().find(|x| Arc::ptr_eq(x, seg)) {
            *slot = fresh;
        }
        Ok(())
    }
}

/// Runs `f` on a sealed segment's log as the cleaner reads it.
fn with_source<R>(
    seg: &SegmentState,
    max_record_bytes: usize,
    f: impl FnOnce(&SegmentSource<'_>) -> Result<R>,
) -> Result<R> {
    let file = seg.file()?;
    f(&SegmentSource {
        file: &*file,
        path: seg.log_path(),
        base_offset: seg.base_offset(),
        len: seg.size()?,
        max_record_bytes,
    })
}

/// The paths of a segment's cleaned files, and of the files they replace.
struct Cleaned {
    log: PathBuf,
    index: PathBuf,
    time_index: PathBuf,
    index_target: PathBuf,
    time_index_target: PathBuf,
}

impl Cleaned {
    fn of(seg: &SegmentState) -> Cleaned {
        let log = seg.log_path();
        let with = |ext: &str| log.with_extension(ext);
        Cleaned {
            log: with("log.cleaned"),
            index: with("index.cleaned"),
            time_index: with("timeindex.cleaned"),
            index_target: with("index"),
            time_index_target: with("timeindex"),
        }
    }

    fn as_paths(&self) -> CleanedPaths<'_> {
        CleanedPaths {
            log: &self.log,
            offset_index: &self.index,
            time_index: &self.time_index,
        }
    }
}
