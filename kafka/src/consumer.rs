//! [`ConsumerClient`] and [`AsyncConsumerClient`] over rdkafka's
//! `StreamConsumer`.

use crate::config::{self, KafkaConfig};
use crate::error::{self, Context};
use crate::runtime::Shared;
use crate::worker::Worker;
use futures_channel::oneshot;
use futures_core::Stream;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, MessageStream, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset as KOffset, TopicPartitionList};
use samsa_log::client::{AsyncConsumerClient, ConsumerClient, PartitionListener};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, Offset};
use samsa_log::record::OwnedRecord;
use samsa_log::Result;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a call that asks the cluster (commit, committed offsets,
/// watermarks, offsets by time) waits for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls the listener from rdkafka's rebalance callbacks (which run inside
/// `poll` and `recv`, as samsa's do).
#[derive(Default)]
pub(crate) struct Listening {
    listener: Mutex<Option<Box<dyn PartitionListener>>>,
}

impl ClientContext for Listening {}

fn pairs(tpl: &TopicPartitionList) -> Vec<(String, u32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition() as u32))
        .collect()
}

impl Listening {
    /// Calls the listener, if there is one.
    fn tell(&self, call: impl FnOnce(&mut dyn PartitionListener)) {
        if let Some(l) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            call(l.as_mut());
        }
    }
}

impl ConsumerContext for Listening {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.tell(|l| l.on_revoked(&pairs(tpl)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.tell(|l| l.on_assigned(&pairs(tpl)));
        }
    }
}

/// The rdkafka consumer behind a [`KafkaConsumer`].
type Inner = StreamConsumer<Listening, Shared>;

/// A commit for the commit thread, and where its outcome goes.
type CommitJob = (TopicPartitionList, oneshot::Sender<Result<()>>);

/// A Kafka consumer behind [`ConsumerClient`] and [`AsyncConsumerClient`].
///
/// Besides librdkafka's own threads, it takes a thread of its own only
/// for [`AsyncConsumerClient::commit_async`] (on first use, ending with
/// the consumer), which runs the commits one after the other, as Kafka's
/// `commitAsync` orders them; the wake-ups of waiting futures run on the
/// adapter's one shared thread.
pub struct KafkaConsumer {
    inner: Arc<Inner>,
    max_poll_records: usize,
    reset: AutoOffsetReset,
    /// Partitions taken with `assign` (not through a group), whose seeks
    /// before the first fetch are made by assigning them again.
    manual: Vec<(String, u32)>,
    group: String,
    /// The commit thread, started by the first `commit_async`.
    commits: Worker<CommitJob>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group)
            .finish()
    }
}

fn tpl_of(partitions: &[(&str, u32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &(t, p) in partitions {
        tpl.add_partition(t, p as i32);
    }
    tpl
}

fn target(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

impl KafkaConsumer {
    /// A consumer of `kafka` with samsa's `config` mapped to Kafka's.
    pub fn new(kafka: &KafkaConfig, config: &ConsumerConfig) -> Result<Self> {
        let inner: Inner = kafka
            .client(&config::consumer(config))
            .create_with_context(Listening::default())
            .context("create consumer", &kafka.bootstrap_servers)?;
        Ok(KafkaConsumer {
            inner: Arc::new(inner),
            max_poll_records: config.max_poll_records.max(1),
            reset: config.auto_offset_reset,
            manual: Vec::new(),
            group: config.group_id.clone().unwrap_or_default(),
            commits: Worker::new("samsa-kafka-commit"),
        })
    }

    /// The rdkafka consumer, for what the traits do not cover (its group
    /// metadata for a transaction among them).
    pub fn inner(&self) -> &StreamConsumer<impl ConsumerContext, impl rdkafka::util::AsyncRuntime> {
        &*self.inner
    }

    /// The group's metadata, for offsets committed in a transaction.
    pub(crate) fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.inner.group_metadata()
    }

    /// The next message or error, waiting for it until `deadline` (none:
    /// `None`). A message's errors are the caller's; end-of-partition
    /// notices are skipped.
    fn next_until<'a>(
        stream: &mut MessageStream<'a, Listening>,
        deadline: Option<Instant>,
    ) -> Option<KafkaResult<BorrowedMessage<'a>>> {
        let mut delay = deadline.map(|d| futures_timer::Delay::new(d - Instant::now().min(d)));
        let mut next = |cx: &mut TaskContext<'_>| loop {
            match Pin::new(&mut *stream).poll_next(cx) {
                Poll::Ready(Some(Err(KafkaError::PartitionEOF(_)))) => continue,
                Poll::Ready(r) => return Poll::Ready(r),
                Poll::Pending => {
                    let waiting = delay
                        .as_mut()
                        .is_some_and(|d| Pin::new(d).poll(cx).is_pending());
                    return if waiting {
                        Poll::Pending
                    } else {
                        Poll::Ready(None)
                    };
                }
            }
        };
        match deadline {
            Some(_) => crate::runtime::block_on(poll_fn(next)),
            None => match next(&mut TaskContext::from_waker(Waker::noop())) {
                Poll::Ready(r) => r,
                Poll::Pending => None,
            },
        }
    }

    fn owned(m: &BorrowedMessage<'_>) -> OwnedRecord {
        let headers = m
            .headers()
            .map(|h| {
                (0..h.count())
                    .filter_map(|i| h.try_get(i))
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        OwnedRecord {
            topic: m.topic().to_owned(),
            partition: m.partition() as u32,
            offset: m.offset() as u64,
            timestamp: m.timestamp().to_millis().unwrap_or(-1),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// Where a partition's position goes when it has none yet: the
    /// committed offset, else the reset policy's end.
    fn resolved_position(&self, topic: &str, partition: u32) -> Result<u64> {
        if let Some(c) = self.committed_offset(topic, partition)? {
            return Ok(c);
        }
        let (low, high) = self
            .inner
            .fetch_watermarks(topic, partition as i32, REQUEST_TIMEOUT)
            .context("fetch watermarks", &target(topic, partition))?;
        Ok(match self.reset {
            AutoOffsetReset::Earliest => low as u64,
            _ => high as u64,
        })
    }

    fn committed_offset(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        let tpl = self
            .inner
            .committed_offsets(tpl_of(&[(topic, partition)]), REQUEST_TIMEOUT)
            .context("committed", &target(topic, partition))?;
        Ok(tpl
            .find_partition(topic, partition as i32)
            .and_then(|e| match e.offset() {
                KOffset::Offset(o) if o >= 0 => Some(o as u64),
                _ => None,
            }))
    }

    fn kafka_offset(&mut self, topic: &str, partition: u32, to: Offset) -> Result<KOffset> {
        Ok(match to {
            Offset::Earliest => KOffset::Beginning,
            Offset::Latest => KOffset::End,
            Offset::At(o) => KOffset::Offset(o as i64),
            Offset::Timestamp(ts) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition as i32, KOffset::Offset(ts))
                    .context("seek", &target(topic, partition))?;
                let found = self
                    .inner
                    .offsets_for_times(tpl, REQUEST_TIMEOUT)
                    .context("offsets for times", &target(topic, partition))?;
                match found
                    .find_partition(topic, partition as i32)
                    .map(|e| e.offset())
                {
                    Some(KOffset::Offset(o)) if o >= 0 => KOffset::Offset(o),
                    _ => KOffset::End,
                }
            }
            Offset::ShiftBy(by) => {
                // Relative moves count from the position.
                let here = self.position(topic, partition)? as i64;
                KOffset::Offset(here.saturating_add(by).max(0))
            }
        })
    }
}

impl ConsumerClient for KafkaConsumer {
    fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.manual.clear();
        self.inner
            .subscribe(topics)
            .context("subscribe", &topics.join(","))
    }

    fn subscribe_with(
        &mut self,
        topics: &[&str],
        listener: Box<dyn PartitionListener>,
    ) -> Result<()> {
        *self
            .inner
            .context()
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
        self.subscribe(topics)
    }

    fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .assign(&tpl_of(partitions))
            .context("assign", &self.group)?;
        self.manual = partitions.iter().map(|&(t, p)| (t.to_owned(), p)).collect();
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<(String, u32)>> {
        Ok(pairs(
            &self.inner.assignment().context("assignment", &self.group)?,
        ))
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<OwnedRecord>> {
        let mut out = Vec::new();
        let mut stream = self.inner.stream();
        // Wait for the first record, then take what is there already.
        let mut deadline = Some(Instant::now() + timeout);
        while out.len() < self.max_poll_records {
            match Self::next_until(&mut stream, deadline.take()) {
                None => break,
                Some(Ok(m)) => out.push(Self::owned(&m)),
                Some(Err(e)) => return Err(error::from_kafka("poll", &self.group, e)),
            }
        }
        Ok(out)
    }

    fn commit(&mut self) -> Result<()> {
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            // Nothing polled since the last commit: nothing to commit, as
            // samsa's commit of unchanged positions.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            r => r.context("commit", &self.group),
        }
    }

    fn commit_offsets(&mut self, offsets: &[(&str, u32, u64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for &(t, p, o) in offsets {
            tpl.add_partition_offset(t, p as i32, KOffset::Offset(o as i64))
                .context("commit", &target(t, p))?;
        }
        self.inner
            .commit(&tpl, CommitMode::Sync)
            .context("commit", &self.group)
    }

    fn committed(&mut self, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.committed_offset(topic, partition)
    }

    fn seek(&mut self, topic: &str, partition: u32, to: Offset) -> Result<()> {
        let offset = self.kafka_offset(topic, partition, to)?;
        match self
            .inner
            .seek(topic, partition as i32, offset, REQUEST_TIMEOUT)
        {
            Ok(()) => Ok(()),
            // Not fetched yet (a seek right after `assign`): librdkafka
            // seeks only partitions it fetches; assigning again with the
            // offset does what the seek asks.
            Err(_)
                if self
                    .manual
                    .iter()
                    .any(|(t, p)| t == topic && *p == partition) =>
            {
                let mut tpl = TopicPartitionList::new();
                for (t, p) in &self.manual {
                    let o = if t == topic && *p == partition {
                        offset
                    } else {
                        KOffset::Stored
                    };
                    tpl.add_partition_offset(t, *p as i32, o)
                        .context("seek", &target(t, *p))?;
                }
                self.inner
                    .assign(&tpl)
                    .context("seek", &target(topic, partition))
            }
            Err(e) => Err(error::from_kafka("seek", &target(topic, partition), e)),
        }
    }

    fn position(&mut self, topic: &str, partition: u32) -> Result<u64> {
        let tpl = self
            .inner
            .position()
            .context("position", &target(topic, partition))?;
        match tpl
            .find_partition(topic, partition as i32)
            .map(|e| e.offset())
        {
            Some(KOffset::Offset(o)) if o >= 0 => Ok(o as u64),
            Some(_) => {
                // Nothing consumed yet: librdkafka resolves the start only
                // when it first fetches, so records sent meanwhile could
                // be skipped by a `latest` reset. As Kafka's Java client
                // does, resolve it now and make the fetch start there.
                let at = self.resolved_position(topic, partition)?;
                ConsumerClient::seek(self, topic, partition, Offset::At(at))?;
                Ok(at)
            }
            None => Err(samsa_log::Error::NotAssigned {
                topic: topic.to_owned(),
                partition,
            }),
        }
    }

    fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .pause(&tpl_of(partitions))
            .context("pause", &self.group)
    }

    fn resume(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        self.inner
            .resume(&tpl_of(partitions))
            .context("resume", &self.group)
    }
}

impl KafkaConsumer {
    /// Hands a commit of every assigned partition's position to the commit
    /// thread (started on first use); `None` if no partition has a
    /// position to commit.
    fn start_commit(&mut self) -> Result<Option<oneshot::Receiver<Result<()>>>> {
        let positions = self.inner.position().context("commit_async", &self.group)?;
        let mut tpl = TopicPartitionList::new();
        for e in positions.elements() {
            if let KOffset::Offset(o) = e.offset() {
                if o >= 0 {
                    tpl.add_partition_offset(e.topic(), e.partition(), KOffset::Offset(o))
                        .context("commit_async", &target(e.topic(), e.partition() as u32))?;
                }
            }
        }
        if tpl.count() == 0 {
            return Ok(None);
        }
        let (done, outcome) = oneshot::channel();
        let consumer = Arc::clone(&self.inner);
        let group = self.group.clone();
        self.commits
            .submit((tpl, done), move |jobs| {
                // Ends when the consumer is dropped (the queue closes).
                for (tpl, done) in jobs {
                    let _ = done.send(
                        consumer
                            .commit(&tpl, CommitMode::Sync)
                            .context("commit", &group),
                    );
                }
            })
            .map_err(|e| {
                error::kafka(
                    "commit_async",
                    &self.group,
                    format!("no commit thread: {e}"),
                )
            })?;
        Ok(Some(outcome))
    }
}

impl AsyncConsumerClient for KafkaConsumer {
    async fn recv(&mut self) -> Result<OwnedRecord> {
        let mut stream = self.inner.stream();
        loop {
            match poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
                Some(Ok(m)) => return Ok(Self::owned(&m)),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(error::from_kafka("recv", &self.group, e)),
                // rdkafka's streams never end.
                None => return Err(error::kafka("recv", &self.group, "the stream ended")),
            }
        }
    }

    fn commit_async(&mut self) -> impl Future<Output = Result<()>> + Send + 'static {
        let started = self.start_commit();
        let group = self.group.clone();
        async move {
            match started? {
                None => Ok(()),
                Some(outcome) => outcome.await.unwrap_or_else(|_| {
                    Err(error::kafka(
                        "commit_async",
                        &group,
                        "the commit thread ended",
                    ))
                }),
            }
        }
    }
}
