//! The consumer: pulls records from assigned partitions, keeping its own
//! position on each, and blocks in `poll` until records arrive, woken by
//! the appends themselves (no sleeping loop).
//!
//! A consumer reads partitions the application assigns (Kafka's
//! `assign`), or joins a group (`subscribe`) whose assignor shares the
//! topics' partitions among its members; see [`crate::group`].

mod config;
mod group;
mod records;
mod recv;

pub use crate::offset::Offset;
pub use crate::partition::IsolationLevel;
pub use config::{AutoOffsetReset, ConsumerConfig};
pub use group::RebalanceListener;
pub use records::{ConsumerRecord, ConsumerRecords, ConsumerRecordsIter};
pub use recv::{CommitFuture, ConsumerCloseFuture, RecordStream, Recv, RecvBatch};

use crate::batch::RecordsCursor;
use crate::error::{Error, Result};
use crate::group::committer::Completion;
use crate::log::Log;
use crate::partition::Partition;
use crate::record::OwnedRecord;
use records::PartitionRecords;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads records from a log's partitions: Kafka's `KafkaConsumer`, with
/// partitions assigned by the application.
///
/// ```
/// use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
/// use samsa_log::topic::TopicConfig;
/// use samsa_log::{Log, Record};
/// use std::time::Duration;
///
/// # fn main() -> samsa_log::Result<()> {
/// let log = Log::in_memory();
/// log.create_topic("orders", TopicConfig::default().partitions(2))?;
/// log.producer().send("orders", Record::new(b"book").partition(1))?.wait()?;
///
/// let mut consumer = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest))?;
/// consumer.assign(&[("orders", 0), ("orders", 1)])?;
/// let records = consumer.poll(Duration::from_millis(100))?;
/// for r in &records {
///     assert_eq!((r.topic(), r.partition(), r.offset()), ("orders", 1, 0));
/// }
/// assert_eq!(consumer.position("orders", 1)?, 1);
/// # Ok(())
/// # }
/// ```
pub struct Consumer {
    log: Log,
    config: ConsumerConfig,
    assigned: Vec<Assigned>,
    /// Where the next poll starts among the assigned partitions, so every
    /// partition gets its turn first.
    turn: usize,
    /// Group membership, after `subscribe`.
    membership: Option<group::Membership>,
    listener: Option<Box<dyn RebalanceListener>>,
    /// When the consumer last committed, by the log's clock (ms).
    last_commit: i64,
    closed: bool,
    /// Records fetched for `recv` and not yet handed out. Positions move
    /// as each is handed out, so this is a cache: dropping it (as every
    /// change of assignment, position or pause does) skips nothing.
    fetched: Option<Fetched>,
    /// An auto-commit being written on the commit thread (async code).
    committing: Option<Completion<()>>,
    /// A revocation waiting for its commit on the commit thread.
    revoking: Option<group::Revoking>,
    /// Marked as waiting in an async poll at the coordinator.
    waiting: bool,
}

/// A fetch `recv` hands out one record at a time, each copied out only
/// then (so it holds no more than the fetch's own buffers).
struct Fetched {
    records: ConsumerRecords,
    /// Per part: its partition's index in `assigned`, and where `fetch`
    /// left the position (past the last record and any compacted gap).
    ends: Vec<(usize, u64)>,
    /// The part being handed out, how many of its records were, and where
    /// its iteration stands.
    part: usize,
    taken: usize,
    cursor: RecordsCursor,
}

struct Assigned {
    topic: Arc<str>,
    partition: u32,
    handle: Partition,
    /// The next offset to return; `None` until first needed.
    position: Option<u64>,
    paused: bool,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("config", &self.config)
            .field("assignment", &self.assignment())
            .finish_non_exhaustive()
    }
}

impl Log {
    /// A consumer of this log's topics.
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        Ok(Consumer {
            log: self.clone(),
            config,
            assigned: Vec::new(),
            turn: 0,
            membership: None,
            listener: None,
            last_commit: self.now_ms(),
            closed: false,
            fetched: None,
            committing: None,
            revoking: None,
            waiting: false,
        })
    }
}

impl Consumer {
    /// Reads from exactly these partitions from now on (Kafka's `assign`).
    /// Partitions kept from the previous assignment keep their position;
    /// an unknown topic or partition is an error and changes nothing.
    pub fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        if self.membership.is_some() {
            return Err(Error::InvalidConfig(
                "a subscribed consumer cannot also assign partitions".into(),
            ));
        }
        let mut next = Vec::with_capacity(partitions.len());
        for &(topic, partition) in partitions {
            if next
                .iter()
                .any(|a: &Assigned| &*a.topic == topic && a.partition == partition)
            {
                continue;
            }
            let kept = self
                .assigned
                .iter()
                .find(|a| &*a.topic == topic && a.partition == partition);
            // A new partition starts at the group's committed offset, if any.
            let committed = || {
                let group = self.config.group_id.as_deref()?;
                self.log
                    .committed(group, topic, partition)
                    .map(|o| o.offset)
            };
            next.push(Assigned {
                topic: Arc::from(topic),
                partition,
                handle: self.log.topic(topic)?.partition(partition)?,
                position: kept.map_or_else(committed, |a| a.position),
                paused: kept.is_some_and(|a| a.paused),
            });
        }
        self.set_assigned(next);
        Ok(())
    }

    /// Replaces the assigned partitions (dropping what was fetched for
    /// `recv` from the old ones).
    fn set_assigned(&mut self, assigned: Vec<Assigned>) {
        self.assigned = assigned;
        self.turn = 0;
        self.fetched = None;
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<(String, u32)> {
        self.assigned
            .iter()
            .map(|a| (a.topic.to_string(), a.partition))
            .collect()
    }

    /// The assigned partition, or why there is none: the topic or the
    /// partition does not exist (with the topic's partition count), or it
    /// is not assigned to this consumer.
    fn find(&mut self, topic: &str, partition: u32) -> Result<&mut Assigned> {
        let at = self
            .assigned
            .iter()
            .position(|a| &*a.topic == topic && a.partition == partition);
        match at {
            Some(i) => Ok(&mut self.assigned[i]),
            None => {
                // Err if the topic or the partition does not exist.
                self.log.topic(topic)?.partition(partition)?;
                Err(Error::NotAssigned {
                    topic: topic.to_owned(),
                    partition,
                })
            }
        }
    }

    /// The offset of the next record `poll` returns from this partition,
    /// resolving `auto_offset_reset` if there is no position yet.
    pub fn position(&mut self, topic: &str, partition: u32) -> Result<u64> {
        let (reset, isolation) = (self.config.auto_offset_reset, self.config.isolation_level);
        let a = self.find(topic, partition)?;
        resolve(a, reset, isolation)
    }

    /// How many offsets this consumer is behind on an assigned partition:
    /// from its position to the end it may read, the high watermark or,
    /// under `ReadCommitted`, the last stable offset (Kafka's
    /// `currentLag`). Offsets of markers and aborted records in between
    /// count, as in Kafka.
    pub fn current_lag(&mut self, topic: &str, partition: u32) -> Result<u64> {
        let isolation = self.config.isolation_level;
        let position = self.position(topic, partition)?;
        let a = self.find(topic, partition)?;
        Ok(a.handle.end_offset(isolation).saturating_sub(position))
    }

    /// Moves the position on an assigned partition. [`Offset::ShiftBy`]
    /// moves from the current position (resolving `auto_offset_reset`
    /// first if there is none), clamped to the partition's range.
    pub fn seek(&mut self, topic: &str, partition: u32, offset: Offset) -> Result<()> {
        let (reset, isolation) = (self.config.auto_offset_reset, self.config.isolation_level);
        self.fetched = None;
        let a = self.find(topic, partition)?;
        let target = match offset {
            Offset::Earliest => a.handle.log_start_offset(),
            Offset::Latest => a.handle.end_offset(isolation),
            Offset::At(n) => n,
            Offset::Timestamp(ms) => a
                .handle
                .offset_for_timestamp(ms)?
                .map_or_else(|| a.handle.high_watermark(), |t| t.offset),
            Offset::ShiftBy(by) => resolve(a, reset, isolation)?
                .saturating_add_signed(by)
                .clamp(a.handle.log_start_offset(), a.handle.high_watermark()),
        };
        a.position = Some(target);
        Ok(())
    }

    /// Stops returning records from these partitions until resumed; their
    /// positions stay.
    pub fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.set_paused(partitions, true)
    }

    /// Returns records from these paused partitions again.
    pub fn resume(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.set_paused(partitions, false)
    }

    fn set_paused(&mut self, partitions: &[(&str, u32)], paused: bool) -> Result<()> {
        for &(t, p) in partitions {
            self.find(t, p)?;
        }
        self.fetched = None;
        for &(t, p) in partitions {
            self.find(t, p)?.paused = paused;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<(String, u32)> {
        self.assigned
            .iter()
            .filter(|a| a.paused)
            .map(|a| (a.topic.to_string(), a.partition))
            .collect()
    }

    /// Returns records from the assigned, unpaused partitions: whatever is
    /// there now, or, if nothing is, the first records appended within
    /// `timeout` (woken by the append, not by polling the disk). At most
    /// `max_poll_records`; partitions take turns coming first, so none
    /// starves. An empty result means the timeout passed.
    ///
    /// A group member follows its group here: it gives up partitions a
    /// rebalance asks for and takes new ones, running its
    /// [`RebalanceListener`]; and with auto-commit on, it commits what
    /// earlier polls returned every `auto_commit_interval`.
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        if self.closed {
            return Err(Error::Closed {
                path: self.log.dir().to_path_buf(),
            });
        }
        if let Some(group) = &self.config.group_id {
            if let Some(injected) = self.log.armed_faults().take_poll(group) {
                return Err(injected);
            }
        }
        // Records fetched for `recv` are fetched again (their positions did
        // not move), then returned here.
        self.fetched = None;
        self.check_committing()?;
        let deadline = Instant::now() + timeout;
        let signal = self.log.signal().clone();
        loop {
            // Registered before looking, so an append (or a rebalance) after
            // the look wakes the wait below.
            let waiting = signal.register();
            if self.membership.is_some() {
                self.sync_group()?;
                self.maybe_auto_commit()?;
            }
            let records = self.fetch()?;
            let now = Instant::now();
            if !records.is_empty() || now >= deadline {
                self.meter_lag();
                return Ok(records);
            }
            // A member waiting for records stays alive in its group.
            let wake = match self.membership {
                Some(_) => deadline.min(now + self.config.max_poll_interval / 2),
                None => deadline,
            };
            waiting.wait_until(wake);
        }
    }

    /// Reports each assigned partition's lag (Kafka's `records-lag`) to
    /// the metrics recorder (feature `metrics`; nothing otherwise).
    fn meter_lag(&self) {
        #[cfg(feature = "metrics")]
        {
            let group = self.config.group_id.as_deref().unwrap_or_default();
            for a in &self.assigned {
                if let Some(position) = a.position {
                    let end = a.handle.end_offset(self.config.isolation_level);
                    crate::meter::consumer_lag(
                        group,
                        &a.topic,
                        a.partition,
                        end.saturating_sub(position),
                    );
                }
            }
        }
    }

    /// Commits (with auto-commit on) and leaves the group. Dropping a
    /// consumer does the same, ignoring errors.
    pub fn close(mut self) -> Result<()> {
        self.shut()
    }

    fn shut(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        let committed = if self.membership.is_some() || self.config.group_id.is_some() {
            match self.auto_commit_now() {
                Err(Error::RebalanceInProgress { .. } | Error::NotAssigned { .. }) => Ok(()),
                other => other,
            }
        } else {
            Ok(())
        };
        self.leave();
        committed
    }

    /// Moves assigned partitions of a deleted topic to the topic created
    /// since under its name, if any, as a Kafka consumer does on a
    /// metadata refresh: a new incarnation, read from the group's committed
    /// offset on it or by `auto_offset_reset` (its old position meant
    /// nothing there). Partitions of a deleted topic not created again
    /// return nothing.
    fn follow_incarnations(&mut self) {
        if self.assigned.iter().any(|a| a.handle.is_deleted()) {
            self.fetched = None;
        }
        for a in self.assigned.iter_mut().filter(|a| a.handle.is_deleted()) {
            let Ok(handle) = self
                .log
                .topic(&a.topic)
                .and_then(|t| t.partition(a.partition))
            else {
                continue;
            };
            a.handle = handle;
            a.position = self
                .config
                .group_id
                .as_deref()
                .and_then(|g| self.log.committed(g, &a.topic, a.partition))
                .map(|o| o.offset);
        }
    }

    /// Fetches the next records for `recv` into `fetched`; positions stay
    /// where they were, and move as each record is handed out.
    fn fill(&mut self) -> Result<()> {
        let records = self.fetch()?;
        let mut ends = Vec::with_capacity(records.parts.len());
        for part in &records.parts {
            // Every part is of an assigned partition, and holds a record.
            let at = self
                .assigned
                .iter()
                .position(|a| a.topic == part.topic && a.partition == part.partition)
                .unwrap_or(usize::MAX);
            let first = part.records.iter().next().map(|r| r.offset());
            if let (Some(a), Some(_)) = (self.assigned.get_mut(at), first) {
                ends.push((at, a.position.unwrap_or(0)));
                a.position = first;
            } else {
                ends.push((at, 0));
            }
        }
        if !records.is_empty() {
            self.fetched = Some(Fetched {
                records,
                ends,
                part: 0,
                taken: 0,
                cursor: RecordsCursor::default(),
            });
        }
        Ok(())
    }

    /// The next fetched record, moving its partition's position past it.
    fn take_buffered(&mut self) -> Option<OwnedRecord> {
        let Some(f) = &mut self.fetched else {
            return None;
        };
        loop {
            let Some(part) = f.records.parts.get(f.part) else {
                self.fetched = None;
                return None;
            };
            if f.taken < part.take {
                if let Some(r) = part.records.next_at(&mut f.cursor) {
                    f.taken += 1;
                    let (at, end) = f.ends[f.part];
                    let next = if f.taken == part.take {
                        end
                    } else {
                        r.offset() + 1
                    };
                    if let Some(a) = self.assigned.get_mut(at) {
                        a.position = Some(next);
                    }
                    return Some(OwnedRecord::copy_of(&part.topic, part.partition, &r));
                }
            }
            f.part += 1;
            f.taken = 0;
            f.cursor = RecordsCursor::default();
        }
    }

    /// One pass over the assigned partitions, starting at this poll's turn.
    fn fetch(&mut self) -> Result<ConsumerRecords> {
        self.follow_incarnations();
        let n = self.assigned.len();
        let mut out = ConsumerRecords::default();
        let mut left = self.config.max_poll_records;
        let start = self.turn;
        self.turn = if n == 0 { 0 } else { (self.turn + 1) % n };
        for i in 0..n {
            if left == 0 {
                break;
            }
            let a = &mut self.assigned[(start + i) % n];
            if a.paused || a.handle.is_deleted() {
                continue;
            }
            let Some(records) = read(
                a,
                self.config.auto_offset_reset,
                self.config.isolation_level,
                self.config.max_partition_fetch_bytes,
            )?
            else {
                continue;
            };
            let take = records.len().min(left);
            // The whole read fits: the next position is where the read ends
            // (past any compacted gap). Only a cut-short read is walked.
            let next = if take == records.len() {
                Some(records.next_offset())
            } else {
                records.iter().take(take).last().map(|r| r.offset() + 1)
            };
            if let (Some(next), true) = (next, take > 0) {
                a.position = Some(next);
                left -= take;
                out.parts.push(PartitionRecords {
                    topic: a.topic.clone(),
                    partition: a.partition,
                    records,
                    take,
                });
            }
        }
        Ok(out)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.shut();
        // After `close_async` (which commits on the commit thread and
        // leaves when that is done): leave if it was dropped first.
        self.leave();
    }
}

/// The position on `a`, set by `reset` if it has none: `Latest` is the end
/// a reader at `isolation` may read (the last stable offset for
/// `ReadCommitted`, as Kafka's `ListOffsets` gives it).
fn resolve(a: &mut Assigned, reset: AutoOffsetReset, isolation: IsolationLevel) -> Result<u64> {
    if let Some(p) = a.position {
        return Ok(p);
    }
    let p = match reset {
        AutoOffsetReset::Earliest => a.handle.log_start_offset(),
        AutoOffsetReset::Latest => a.handle.end_offset(isolation),
        AutoOffsetReset::None => {
            return Err(Error::NoOffset {
                topic: a.topic.to_string(),
                partition: a.partition,
            })
        }
    };
    a.position = Some(p);
    Ok(p)
}

/// Reads from `a`'s position; a position outside the log is reset as
/// `reset` says (an error under `AutoOffsetReset::None`). `None` when there
/// is nothing new.
fn read(
    a: &mut Assigned,
    reset: AutoOffsetReset,
    isolation: IsolationLevel,
    max_bytes: usize,
) -> Result<Option<crate::record::Records>> {
    // A reset or a run of compacted-away offsets moves the position; the
    // log start can move again meanwhile, so a few tries, then give up for
    // this poll rather than spin.
    for _ in 0..3 {
        let position = resolve(a, reset, isolation)?;
        let read = match isolation {
            IsolationLevel::ReadUncommitted => {
                if position == a.handle.high_watermark() {
                    return Ok(None);
                }
                a.handle.read(position, max_bytes)
            }
            IsolationLevel::ReadCommitted => {
                // Nothing past the last stable offset; a marker that ends
                // the open transaction wakes the waiting poll.
                if position >= a.handle.last_stable_offset() {
                    return Ok(None);
                }
                a.handle.read_committed(position, max_bytes)
            }
        };
        match read {
            Ok(r) if r.is_empty() => a.position = Some(r.next_offset()),
            Ok(r) => return Ok(Some(r)),
            Err(Error::OffsetOutOfRange { start, .. }) if reset != AutoOffsetReset::None => {
                a.position = Some(if reset == AutoOffsetReset::Earliest {
                    start
                } else {
                    a.handle.end_offset(isolation)
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
