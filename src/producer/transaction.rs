//! A transactional producer (Kafka's `KafkaProducer` with a
//! `transactional.id`): `init_transactions`, then transactions of sends
//! to any topics and partitions, and of consumer offsets, each committed
//! or aborted as one.

use super::{Producer, Shared};
use crate::error::{Error, Result};
use crate::group::{ConsumerGroupMetadata, OffsetAndMetadata};
use std::collections::HashSet;

/// Where the producer's transactions stand.
#[derive(Debug, Default)]
pub(crate) struct TxnClient {
    stage: Stage,
    /// The partitions the open transaction has told the coordinator of.
    partitions: HashSet<(String, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Stage {
    /// `init_transactions` not called yet.
    #[default]
    Uninitialized,
    /// Between transactions.
    Ready,
    /// A transaction is open.
    Open,
    /// A send of the open transaction failed: it can only be aborted
    /// (Kafka's abortable error), so that a commit never leaves part of it
    /// out.
    Abortable,
    /// A newer producer of the transactional id took over: every call
    /// fails.
    Fenced,
}

impl Producer {
    /// Kafka's `initTransactions`: registers the producer's transactional
    /// id with the log and takes its producer id at a new epoch. Any older
    /// producer with the same id is fenced from then on (its sends and
    /// commits fail with [`Error::ProducerFenced`]), and a transaction it
    /// left open is aborted (or finished, if its commit was decided).
    /// Needs [`ProducerConfig::transactional_id`](super::ProducerConfig::transactional_id).
    pub fn init_transactions(&self) -> Result<()> {
        self.handle.shared.transactional_id()?;
        // Nothing of an earlier epoch may be written after the new one.
        self.flush()?;
        self.take_new_epoch(None)
    }

    /// Takes the id's next epoch from the coordinator (which ends what the
    /// id's transaction left open) and starts the sequences afresh. With
    /// `holder`, only if this producer still holds the id at that epoch.
    fn take_new_epoch(&self, holder: Option<(i64, i16)>) -> Result<()> {
        let s = &*self.handle.shared;
        let id = s.transactional_id()?;
        let log = &s.log;
        let timeout = u64::try_from(s.config.transaction_timeout.as_millis()).unwrap_or(u64::MAX);
        let identity = s.fenced_on_error(log.txns().init(
            log.registry(),
            log.offset_store(),
            id,
            timeout,
            holder,
            super::fresh_producer_id,
        ))?;
        *s.identity.lock() = Some(identity);
        // Sequences start afresh with the epoch.
        s.sequences.lock().clear();
        let mut txn = s.txn.lock();
        txn.stage = Stage::Ready;
        txn.partitions.clear();
        Ok(())
    }

    /// Kafka's `beginTransaction`: what is sent from now until the commit
    /// or abort is one transaction.
    pub fn begin_transaction(&self) -> Result<()> {
        let s = &*self.handle.shared;
        let id = s.transactional_id()?;
        let mut txn = s.txn.lock();
        match txn.stage {
            Stage::Ready => {
                txn.stage = Stage::Open;
                txn.partitions.clear();
                Ok(())
            }
            other => Err(state_error(id, other, "begin_transaction")),
        }
    }

    /// Kafka's `sendOffsetsToTransaction`: `offsets` become the group's
    /// committed offsets if and only if the open transaction commits (the
    /// consume-transform-produce loop's exactly-once). `group` is the
    /// consumer's [`group_metadata`](crate::Consumer::group_metadata): as
    /// with the consumer's own commits (KIP-447), a member evicted since
    /// gets [`Error::RebalanceInProgress`], one that no longer owns a
    /// partition [`Error::NotAssigned`], and a consumer outside the group's
    /// membership [`Error::GroupNotEmpty`] while the group has members.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[((String, u32), OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let s = &*self.handle.shared;
        let id = s.transactional_id()?;
        let stage = s.txn.lock().stage;
        if stage != Stage::Open {
            return Err(state_error(id, stage, "send_offsets_to_transaction"));
        }
        let identity = s.current_identity(id)?;
        let log = &s.log;
        let partitions: Vec<(String, u32)> = offsets.iter().map(|(tp, _)| tp.clone()).collect();
        let coordinator = log.coordinator();
        match &group.member_id {
            Some(member) => coordinator.commit_with(
                &group.group_id,
                member,
                group.generation,
                &partitions,
                || (),
            )?,
            None => coordinator.commit_if_empty(&group.group_id, || ())?,
        }
        s.fenced_on_error(log.txns().add_offsets(
            log.registry(),
            id,
            identity,
            &group.group_id,
            offsets,
        ))
    }

    /// Kafka's `commitTransaction`: delivers everything sent in the
    /// transaction, then commits it: its records become visible to
    /// `read_committed` consumers, its offsets are committed, all at once.
    /// If a send failed, nothing is committed: the error comes back, and
    /// the transaction must be aborted (every call but
    /// [`abort_transaction`](Self::abort_transaction) fails with
    /// [`Error::TransactionState`] until then). If the commit itself fails
    /// on an I/O error, call it again once the cause clears: a decided
    /// commit is carried out, never undone (an abort then fails with
    /// [`Error::TransactionState`]); a log whose producer gives up carries
    /// it out when the transaction's timeout passes, or at its next open.
    pub fn commit_transaction(&self) -> Result<()> {
        self.end_transaction(true)
    }

    /// Kafka's `abortTransaction`: delivers what was sent (so nothing of
    /// it lands after the marker), then aborts the transaction: no
    /// `read_committed` consumer ever sees its records, and its offsets
    /// are not committed.
    pub fn abort_transaction(&self) -> Result<()> {
        self.end_transaction(false)
    }

    fn end_transaction(&self, commit: bool) -> Result<()> {
        let s = &*self.handle.shared;
        let id = s.transactional_id()?;
        let stage = s.txn.lock().stage;
        let call = if commit {
            "commit_transaction"
        } else {
            "abort_transaction"
        };
        if !(stage == Stage::Open || (stage == Stage::Abortable && !commit)) {
            return Err(state_error(id, stage, call));
        }
        let flushed = self.flush();
        // A batch that failed made the transaction abortable before the
        // flush saw it done.
        if s.txn.lock().stage == Stage::Abortable {
            if commit {
                // Nothing is committed; the caller aborts.
                s.fenced_on_error(flushed)?;
                return Err(state_error(id, Stage::Abortable, call));
            }
            // A failed batch may have left a gap in a partition's
            // sequence: the abort is made at a new epoch, whose sequences
            // start afresh (Kafka's KIP-360), if the producer still holds
            // the id: a zombie's abort fences it, and no one else.
            let identity = s.current_identity(id)?;
            return self.take_new_epoch(Some(identity));
        }
        let identity = s.current_identity(id)?;
        let log = &s.log;
        s.fenced_on_error(log.txns().end(
            log.registry(),
            log.offset_store(),
            id,
            identity,
            commit,
        ))?;
        let mut txn = s.txn.lock();
        txn.stage = Stage::Ready;
        txn.partitions.clear();
        Ok(())
    }
}

impl Shared {
    fn transactional_id(&self) -> Result<&str> {
        self.config
            .transactional_id
            .as_deref()
            .ok_or_else(|| Error::InvalidConfig("the producer has no transactional_id".into()))
    }

    /// The producer id and epoch `init_transactions` took.
    fn current_identity(&self, id: &str) -> Result<(i64, i16)> {
        self.identity.lock().ok_or_else(|| Error::TransactionState {
            transactional_id: id.to_owned(),
            reason: "init_transactions was not called",
        })
    }

    /// After a batch failed with `error`: the open transaction can only
    /// be aborted, or, if the log fenced the producer, nothing can.
    pub(super) fn transaction_failed(&self, error: &Error) {
        let mut txn = self.txn.lock();
        if let Error::ProducerFenced { .. } = error {
            txn.stage = Stage::Fenced;
        } else if txn.stage == Stage::Open {
            txn.stage = Stage::Abortable;
        }
    }

    /// Passes `result` on; a fencing makes the producer fenced for good.
    fn fenced_on_error<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(Error::ProducerFenced { .. }) = &result {
            crate::observe::warning!(
                transactional_id = self.config.transactional_id.as_deref().unwrap_or_default(),
                "producer fenced: a newer producer of its transactional id took over"
            );
            self.txn.lock().stage = Stage::Fenced;
        }
        result
    }

    /// Refuses a send of a transactional producer outside a transaction.
    pub(super) fn check_send(&self) -> Result<()> {
        let Some(id) = self.config.transactional_id.as_deref() else {
            return Ok(());
        };
        match self.txn.lock().stage {
            Stage::Open => Ok(()),
            other => Err(state_error(id, other, "send")),
        }
    }

    /// Tells the coordinator the open transaction writes to
    /// `topic`/`partition`, once per transaction (on the appender's
    /// thread, before the batch is written).
    pub(super) fn add_to_transaction(&self, topic: &str, partition: u32) -> Result<()> {
        let id = self.transactional_id()?;
        let key = (topic.to_owned(), partition);
        if self.txn.lock().partitions.contains(&key) {
            return Ok(());
        }
        let identity = self.current_identity(id)?;
        let log = &self.log;
        self.fenced_on_error(log.txns().add_partitions(
            log.registry(),
            id,
            identity,
            std::slice::from_ref(&key),
        ))?;
        self.txn.lock().partitions.insert(key);
        Ok(())
    }
}

/// The error for `call` in `stage`.
fn state_error(id: &str, stage: Stage, call: &'static str) -> Error {
    let reason = match (stage, call) {
        (Stage::Uninitialized, _) => "call init_transactions first",
        (Stage::Fenced, _) => "fenced by a newer producer with the same transactional id",
        (Stage::Abortable, _) => "a send of the transaction failed: call abort_transaction",
        (Stage::Open, "begin_transaction") => "a transaction is already open",
        (Stage::Ready, "send") => "sends of a transactional producer need begin_transaction",
        (Stage::Ready, _) => "no transaction is open",
        (Stage::Open, _) => "the call does not fit an open transaction",
    };
    Error::TransactionState {
        transactional_id: id.to_owned(),
        reason,
    }
}
