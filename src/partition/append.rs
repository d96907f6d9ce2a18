//! The write path of a partition: appends (one batch each, checked
//! against the producer state), rolls, group-committed syncs, flush.
//!
//! One writer at a time holds the writer lock to write; syncs run outside
//! it (see `sync`). A failed sync makes the partition recover before the
//! next write (see `recovery`); the clean-shutdown marker is voided before
//! the first one after open.

use super::{open, Partition, SyncPolicy, SyncTicket, TimestampType, Writer};
use crate::batch::{
    give_back, spare_buffer, BatchBuilder, BatchHeader, EncodedBatch, ProducerFields,
};
use crate::compression::{Compression, Levels};
use crate::error::{Error, Result};
use crate::partition::producer_state::Verdict;
use crate::partition::AppendInfo;
use crate::record::Record;
use crate::segment::SegmentWriter;
use crate::storage::CheckedStorage;
use std::sync::atomic::Ordering;

impl Partition {
    /// Appends `records` as one batch and returns their offsets once the
    /// sync policy is met. A record over `max_record_bytes` fails the whole
    /// append with [`Error::RecordTooLarge`], and nothing is written.
    ///
    /// The partitions of internal topics (`__consumer_offsets`) are written
    /// by samsa only: appending to one is [`Error::InvalidTopicName`].
    pub fn append(&self, records: &[Record<'_>]) -> Result<AppendInfo> {
        if self.shared.internal.load(Ordering::Relaxed) {
            return Err(Error::InvalidTopicName {
                name: self.topic_name(),
                reason: "internal topics are written by samsa only",
            });
        }
        self.check_keys(records)?;
        self.append_records(records)
    }

    /// [`Self::append`] without the internal-topic check: samsa's own
    /// writes to its internal topics.
    pub(crate) fn append_records(&self, records: &[Record<'_>]) -> Result<AppendInfo> {
        if records.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let now = self.now_ms();
        // Room for as many records as the first with its framing: the
        // batch buffer is allocated once when records are alike (the
        // usual batch), and grows by doubling when they are not. A pass
        // over every record to size it exactly cost more than it saved.
        let estimate = records
            .len()
            .saturating_mul(estimated_size(&records[0]))
            .min(self.shared.config.segment_bytes as usize);
        // Encoded in a buffer of the thread's earlier batches or reads:
        // a fresh one costs an allocation and, at this size, fresh pages.
        let mut builder = BatchBuilder::in_buffer(
            spare_buffer(BatchHeader::SIZE + estimate),
            self.shared.config.max_record_bytes as usize,
            estimate,
        );
        for r in records {
            builder.push(r, now)?;
        }
        let mut batch = self.stored(
            builder.finish(ProducerFields::NONE),
            Compression::None,
            None,
        )?;
        let (info, sync) = self.write_encoded(&mut batch, now)?;
        give_back(batch.into_buffer());
        if let Some(target) = sync {
            self.sync_through(target)?;
        }
        Ok(info)
    }

    /// `batch` as the topic stores it: compressed with the topic's
    /// `compression_type`, or, for `producer`, with `sent` (the producer's
    /// codec, at its `levels`; the topic's levels otherwise). A batch
    /// whose records take more than `max_record_bytes` is stored as it is,
    /// so that every compressed batch decompresses within that bound.
    pub(crate) fn stored(
        &self,
        batch: EncodedBatch,
        sent: Compression,
        levels: Option<Levels>,
    ) -> Result<EncodedBatch> {
        let config = &self.shared.config;
        let (codec, levels) = match config.compression_type.codec() {
            Some(codec) => (codec, None),
            None => (sent, levels),
        };
        let records = batch.as_bytes().len() - BatchHeader::SIZE;
        if codec == Compression::None || records > config.max_record_bytes as usize {
            return Ok(batch);
        }
        let levels = levels.unwrap_or(Levels {
            gzip: config.compression_gzip_level,
            zstd: config.compression_zstd_level,
        });
        batch
            .compressed(codec, levels)
            .map_err(|e| Error::InvalidConfig(format!("{}: {e}", self.shared.dir.display())))
    }

    /// Appends one batch encoded by a [`BatchBuilder`]; the log assigns its
    /// base offset.
    ///
    /// A batch with a producer id (`>= 0`) is checked against the
    /// partition's producer state first, as Kafka's log does: a retry of one
    /// of the producer's last five batches is not written again, and the
    /// answer is the original append's; an older epoch is
    /// [`Error::ProducerFenced`]; a batch that does not continue the
    /// producer's sequence is [`Error::OutOfOrderSequence`]. Neither error
    /// writes anything.
    pub(crate) fn append_encoded(&self, mut batch: EncodedBatch, now: i64) -> Result<AppendInfo> {
        let (info, sync) = self.write_encoded(&mut batch, now)?;
        if let Some(target) = sync {
            self.sync_through(target)?;
        }
        Ok(info)
    }

    /// The first half of [`Self::append_encoded`]: writes the batch (or
    /// finds it a duplicate) and returns where it landed, plus the offset
    /// the caller must then pass to [`Self::sync_through`] before the append
    /// counts as done under the sync policy, if any. A producer writes its
    /// next batch while the previous one syncs, so concurrent senders share
    /// fsyncs. The batch is borrowed, so the very same batch (same producer
    /// sequence) can be retried after an error.
    pub(crate) fn write_encoded(
        &self,
        batch: &mut EncodedBatch,
        now: i64,
    ) -> Result<(AppendInfo, Option<SyncTicket>)> {
        let s = &*self.shared;
        let len = batch.as_bytes().len();
        // Not I/O: a caller's bad input, named by hand as such.
        let mut h = BatchHeader::decode_from(batch.as_bytes())
            .map_err(|e| Error::InvalidConfig(format!("encoded batch is malformed: {e}")))?;
        if len as u64 > s.config.segment_bytes {
            return Err(Error::BatchTooLarge {
                size: len,
                max: s.config.segment_bytes,
            });
        }
        if let Some(injected) = s.faults.take_append(|| self.topic_name()) {
            return Err(injected);
        }
        self.recover_if_failed()?;
        let mut w = s.writer.lock();
        self.ensure_open()?;
        if s.commit.is_failed() {
            if let Some(failure) = s.commit.failure() {
                // Failed again since the recovery above: the next call
                // recovers.
                return Err(failure);
            }
        }
        self.take_marker(&mut w)?;
        if let Verdict::Duplicate(original) = w.producers.check(&h)? {
            // The original may still be waiting for its sync: answer a
            // retry no sooner than the original append would have been.
            let sync = (s.config.sync == SyncPolicy::Always)
                .then(|| s.commit.ticket(original.last_offset + 1));
            return Ok((original, sync));
        }
        if self.should_roll(&w, &h, len, now) {
            self.roll(&mut w)?;
        }
        if s.config.timestamp_type == TimestampType::LogAppendTime {
            // Stamped under the writer lock, so append times never go
            // backwards along the offsets.
            let ts = s.clock.now_ms().max(w.last_append_ms);
            w.last_append_ms = ts;
            batch.set_log_append_time(ts);
            h.base_timestamp = ts;
            h.max_timestamp = ts;
        }
        let base = w.next_offset;
        batch.assign_base_offset(base);
        h.base_offset = base;
        let marker = match h.is_control() {
            // Built by samsa (`append_marker`): it decodes.
            true => crate::batch::BatchView::trusted(batch.as_bytes())
                .and_then(|v| crate::batch::ControlMarker::decode(&v).ok()),
            false => None,
        };
        if h.is_control() && marker.is_none() {
            return Err(Error::InvalidConfig(
                "a control batch without a marker record".into(),
            ));
        }
        w.active.append(batch.as_bytes(), &h)?;
        let ended = w.producers.apply(&h, marker.map(|m| m.kind));
        if let Some(t) = ended.filter(|t| t.kind == crate::batch::ControlType::Abort) {
            s.aborted.write().push(crate::batch::AbortedTxn {
                producer_id: t.producer_id,
                first_offset: t.first_offset,
                last_offset: t.last_offset,
            });
        }
        s.first_unstable.store(
            w.producers.first_unstable_offset().unwrap_or(u64::MAX),
            Ordering::Release,
        );
        let next = h.next_offset();
        w.next_offset = next;
        w.unsynced_bytes += len as u64;
        w.active_since_ms.get_or_insert(now);
        s.log_end.store(next, Ordering::Release);
        let sync = match s.config.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval { ms, bytes } => {
                self.publish(&w);
                (bytes > 0 && w.unsynced_bytes >= bytes)
                    || (ms > 0 && now - w.last_sync_ms >= ms as i64)
            }
            SyncPolicy::Os => {
                self.publish(&w);
                false
            }
        };
        let ticket = sync.then(|| s.commit.ticket(next));
        drop(w);
        s.meters.appended(h.record_count, len, next);
        let info = AppendInfo {
            base_offset: base,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
        };
        Ok((info, ticket))
    }

    /// Where producer `producer_id` left this partition: its epoch and the
    /// next sequence number it should use.
    pub(crate) fn resume_producer(&self, producer_id: i64) -> (i16, i32) {
        self.shared.writer.lock().producers.resume(producer_id)
    }

    /// Lets readers see everything written so far.
    pub(super) fn publish(&self, w: &Writer) {
        w.active.publish();
        self.advance_high_watermark(w.next_offset);
    }

    /// Moves the high watermark to `next` (never back) and wakes readers
    /// waiting for records.
    pub(super) fn advance_high_watermark(&self, next: u64) {
        if self.shared.high_watermark.fetch_max(next, Ordering::AcqRel) < next {
            self.shared.signal.notify();
        }
    }

    fn should_roll(&self, w: &Writer, h: &BatchHeader, len: usize, now: i64) -> bool {
        let seg = &w.active;
        let size = seg.written();
        if size == 0 {
            return false;
        }
        let c = &self.shared.config;
        let last_relative = w.next_offset + u64::from(h.last_offset_delta) - seg.base_offset();
        size + len as u64 > c.segment_bytes
            || last_relative > u64::from(u32::MAX)
            || w.active_since_ms
                .is_some_and(|t| now.saturating_sub(t) >= c.segment_ms as i64)
            || seg.indexes_full(c.index_max_bytes as usize)
    }

    /// Seals the active segment (indexes written, log synced) and starts a
    /// new one. Every segment but the last is therefore durable, which is
    /// why recovery scans only the last.
    ///
    /// A failed write (an index file, the new segment's file) changes
    /// nothing the writer relies on: the segment stays active, and the
    /// next append tries the roll again. A failed sync fails the partition
    /// (see `recovery`): what reached the disk is then unknown.
    ///
    /// In between, it snapshots the producer state as of the new segment's
    /// base offset, as Kafka does at roll, so a recovery reads the headers
    /// of the active segment only.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let s = &*self.shared;
        w.active.write_indexes()?;
        self.write_txn_index(w.active.state())?;
        self.synced(w.active.trim_and_sync())?;
        self.publish(w);
        s.commit.mark_durable(w.next_offset);
        self.snapshot_producers(w);
        let seg = SegmentWriter::create(
            &s.files,
            &s.dir,
            w.next_offset,
            s.config.index_interval_bytes,
        )?;
        if s.config.sync != SyncPolicy::Os {
            self.synced(s.files.storage.fsync_directory(&s.dir))?;
        }
        let fresh = seg.state().clone();
        // The writer of the old segment goes with its sealing: nothing can
        // append to it any more.
        std::mem::replace(&mut w.active, seg).seal();
        crate::observe::debug!(dir = %s.dir.display(), base_offset = w.next_offset, "segment rolled");
        s.segments.write().push(fresh);
        w.active_since_ms = None;
        Ok(())
    }

    /// Passes a sync's result on, failing the partition if it failed.
    pub(super) fn synced<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            crate::observe::error!(
                dir = %self.shared.dir.display(),
                error = %e,
                "sync failed: the partition acknowledges nothing until it recovers"
            );
            self.shared.commit.fail(e);
        }
        result
    }

    /// Waits until every offset below the ticket's is durable, leading a
    /// sync if none is running (group commit).
    pub(crate) fn sync_through(&self, ticket: SyncTicket) -> Result<()> {
        let s = &*self.shared;
        s.commit.wait(ticket, || {
            let (seg, size, next) = {
                let mut w = s.writer.lock();
                w.unsynced_bytes = 0;
                w.last_sync_ms = s.clock.now_ms();
                (w.active.state().clone(), w.active.written(), w.next_offset)
            };
            // The records this sync makes durable: the group commit's size.
            s.meters
                .time_sync(|| seg.sync(), || next.saturating_sub(self.high_watermark()))?;
            seg.publish(size);
            self.advance_high_watermark(next);
            Ok(next)
        })
    }

    /// Makes everything appended so far durable, whatever the sync policy.
    /// A partition whose sync failed recovers first (see
    /// [`Partition::reopen`]).
    pub fn flush(&self) -> Result<()> {
        self.ensure_open()?;
        self.recover_if_failed()?;
        let ticket = {
            let _w = self.shared.writer.lock();
            self.shared.commit.ticket(self.log_end_offset())
        };
        self.sync_through(ticket)
    }

    /// Voids the clean-shutdown marker (durably), if it is still intact:
    /// the active segment is about to change.
    pub(super) fn take_marker(&self, w: &mut Writer) -> Result<()> {
        if w.marker {
            let s = &*self.shared;
            open::void_marker(&*s.files.storage, &s.dir)?;
            w.marker = false;
        }
        Ok(())
    }

    /// Writes a snapshot of the producer state as of the log end (at a
    /// roll; a close puts it in the marker). It is derived data (open can
    /// replay the log instead), so a failure to write it is not an error,
    /// as for a rebuilt index.
    pub(super) fn snapshot_producers(&self, w: &mut Writer) {
        let s = &*self.shared;
        let _ = w
            .snapshots
            .write(&*s.files.storage, &s.dir, w.next_offset, &w.producers);
    }
}

/// A record's payload plus a generous allowance for its framing.
fn estimated_size(r: &Record<'_>) -> usize {
    let headers: usize = r
        .headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 4)
        .sum();
    r.value.as_deref().map_or(0, <[u8]>::len)
        + r.key.as_deref().map_or(0, <[u8]>::len)
        + headers
        + 12
}
