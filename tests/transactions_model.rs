//! Proptest: random interleavings of transactional and plain sends against
//! a model of Kafka's transactions (KIP-98), on disk and in memory, with a
//! [`ManualClock`] and no maintenance thread, so that transaction timeouts
//! happen exactly when the model says.
//!
//! Two transactional ids, so two transactions may be open at once. The
//! operations: `begin_transaction`, sends of distinct values to chosen
//! partitions of two topics, `flush`, `send_offsets_to_transaction` for a
//! group (in range, and past the input's end), `commit_transaction`,
//! `abort_transaction`; sends and flushes of a plain idempotent producer;
//! the clock moved on and `Log::maintain` run (a transaction open longer
//! than its timeout is aborted, its producer fenced); `init_transactions`
//! again; a new producer of an id, the old one left running as a zombie
//! whose calls are tried too; every producer and the log closed, or
//! dropped without a close (a crash), and the directory opened again (in
//! memory, only the producers restart). Producers linger a minute, so
//! records land only at a flush, a commit, an abort, an
//! `init_transactions` or a close: the model knows every offset.
//!
//! Checked after every operation, per partition:
//! - the high watermark and the last stable offset (the first offset of
//!   the earliest transaction still open there, else the high watermark);
//! - a `read_uncommitted` consumer reads every record that landed (of
//!   open, committed and aborted transactions, and plain ones) at the
//!   model's offsets (each transaction marker takes one), and ends at the
//!   high watermark;
//! - a `read_committed` consumer reads exactly the plain records and those
//!   of committed transactions below the last stable offset (so nothing
//!   from an open transaction's first record on, plain or not), and ends
//!   at the last stable offset;
//! - the group's committed offsets are those of committed transactions.
//!
//! Each call's result is checked too: calls out of order are
//! [`Error::TransactionState`]; once the log ended a producer's transaction
//! (its timeout, or a newer producer of the id), its commit fails with
//! [`Error::ProducerFenced`] and nothing it sent lands; `maintain` reports
//! exactly the timeouts the model expects. Where Kafka allows two answers,
//! either passes: an abort after the log timed the transaction out may
//! succeed (KIP-588: the producer carries on at a new epoch) or fail
//! fenced; an offset past the input's end may be refused by
//! `send_offsets_to_transaction` (as samsa's plain commits refuse it) or
//! taken and committed with the transaction. And `init_transactions` on a
//! producer holding records the log will refuse may first return their
//! error; called again, it must succeed.
//!
//! Bugs this test found, fixed since; at the end of the file, for each,
//! the shrunk proptest case (`model_case_*`) and a plain test of the API
//! (the proptests replay them too, first, through the seeds in
//! `transactions_model.proptest-regressions`):
//! - a zombie's `abort_transaction` succeeded once one of its batches was
//!   refused: it took a new epoch of the id, fencing the current producer
//!   and aborting its open transaction;
//! - `send_offsets_to_transaction` took an offset past the input
//!   partition's end, and the commit then failed after its decision and
//!   markers, for good: the transactional id was wedged.
//!
//! Cases: 24 per storage by default; `SAMSA_PROPTEST_CASES` overrides.

use proptest::prelude::*;
use samsa_log::clock::{Clock, ManualClock};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::group::{ConsumerGroupMetadata, OffsetAndMetadata};
use samsa_log::producer::ProducerConfig;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Producer, Record, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The output partitions, as (topic, partition); an operation names one
/// by its index here.
const PARTITIONS: [(&str, u32); 5] = [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2)];
/// The topic whose consumption the transactions commit offsets for.
const INPUT: &str = "in";
const INPUT_PARTITIONS: u32 = 2;
/// Records in each input partition: offsets up to this are in range.
const INPUT_RECORDS: u64 = 3;
const GROUP: &str = "g";
const TXN_IDS: [&str; 2] = ["tx-a", "tx-b"];
/// The producers' `transaction_timeout`, in the manual clock's ms.
const TIMEOUT_MS: i64 = 100;
/// Longer than any case: a record lands only when the test says.
const LINGER: Duration = Duration::from_secs(60);
/// Where the manual clock starts.
const START_MS: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum TxnOp {
    Begin,
    /// A send to `PARTITIONS[to]`; with `begin`, between transactions,
    /// `begin_transaction` first (so most sends go into a transaction);
    /// with `flush`, a flush after.
    Send {
        to: usize,
        begin: bool,
        flush: bool,
    },
    Flush,
    SendOffsets {
        partition: u32,
        offset: u64,
    },
    Commit,
    Abort,
}

#[derive(Debug, Clone)]
enum Op {
    /// A call of the current producer of `TXN_IDS[id]`, or of its zombie
    /// (an older producer of the id, fenced), if there is one.
    Txn {
        id: usize,
        zombie: bool,
        op: TxnOp,
    },
    /// A send of the plain producer to `PARTITIONS[to]`; with `flush`, a
    /// flush after.
    SendPlain {
        to: usize,
        flush: bool,
    },
    FlushPlain,
    /// The clock moves `ms` on, then `Log::maintain`.
    Tick(i64),
    /// `init_transactions` again on the current producer of an id.
    InitAgain(usize),
    /// A new producer of an id; the current one becomes its zombie.
    NewProducer(usize),
    /// Producers and log closed (or, for a crash, dropped) and opened
    /// again; in memory, only the producers.
    Reopen {
        crash: bool,
    },
}

/// A partition index: the first more often, so that transactions often
/// meet on a partition.
fn to() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0), 3 => 0..PARTITIONS.len()]
}

fn send() -> impl Strategy<Value = TxnOp> {
    (
        to(),
        proptest::bool::weighted(0.8),
        proptest::bool::weighted(0.5),
    )
        .prop_map(|(to, begin, flush)| TxnOp::Send { to, begin, flush })
}

fn send_offsets(offsets: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = TxnOp> {
    (0..INPUT_PARTITIONS, offsets)
        .prop_map(|(partition, offset)| TxnOp::SendOffsets { partition, offset })
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        3 => Just(TxnOp::Begin),
        10 => send(),
        2 => Just(TxnOp::Flush),
        3 => send_offsets(0..=INPUT_RECORDS),
        1 => send_offsets(INPUT_RECORDS + 1..=INPUT_RECORDS + 2),
        5 => Just(TxnOp::Commit),
        2 => Just(TxnOp::Abort),
    ]
}

/// A zombie mostly tries to finish what it had begun.
fn zombie_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        1 => Just(TxnOp::Begin),
        3 => send(),
        1 => Just(TxnOp::Flush),
        1 => send_offsets(0..=INPUT_RECORDS),
        1 => Just(TxnOp::Commit),
        2 => Just(TxnOp::Abort),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..TXN_IDS.len();
    prop_oneof![
        24 => (id.clone(), txn_op()).prop_map(|(id, op)| Op::Txn { id, zombie: false, op }),
        4 => (id.clone(), zombie_op()).prop_map(|(id, op)| Op::Txn { id, zombie: true, op }),
        4 => (to(), proptest::bool::weighted(0.7))
            .prop_map(|(to, flush)| Op::SendPlain { to, flush }),
        2 => Just(Op::FlushPlain),
        4 => prop_oneof![
            3 => 0..TIMEOUT_MS / 2,
            1 => Just(TIMEOUT_MS - 1),
            1 => Just(TIMEOUT_MS),
            2 => TIMEOUT_MS..TIMEOUT_MS * 2,
        ]
        .prop_map(Op::Tick),
        1 => id.clone().prop_map(Op::InitAgain),
        2 => id.prop_map(Op::NewProducer),
        1 => any::<bool>().prop_map(|crash| Op::Reopen { crash }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 10..40)
}

/// One offset of an output partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Plain(u64),
    /// A record of the model's transaction `txn`.
    Txn {
        value: u64,
        txn: usize,
    },
    /// A commit or abort marker.
    Marker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Open,
    Committed,
    Aborted,
}

/// Where a transactional producer stands, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Between transactions.
    Ready,
    /// A transaction is open, and the log agrees.
    Open,
    /// The producer believes a transaction open, but the log ended it (a
    /// timeout, or a newer producer of the id): nothing it sends lands.
    Doomed,
    /// A batch of a doomed transaction was refused: only an abort may go
    /// on (and may fail).
    Failed,
    /// Fenced for good: only `init_transactions` helps.
    Fenced,
}

/// A transactional producer and the model of it.
struct Client {
    producer: Producer,
    /// Whether it holds the id's current epoch (a zombie does not).
    current: bool,
    stage: Stage,
    /// The model's transaction, while `Open`.
    txn: usize,
    /// Sent, not landed yet: (partition index, value).
    buffered: Vec<(usize, u64)>,
    /// Partitions the log knows the open transaction writes to: each gets
    /// a marker when it ends.
    partitions: BTreeSet<usize>,
    /// Input partition -> offset, committed if the transaction commits.
    offsets: BTreeMap<u32, u64>,
    /// When the log learnt of the open transaction (its timeout counts
    /// from here).
    registered_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Stats {
    committed: u32,
    aborted: u32,
    timed_out: u32,
    refused: u32,
    reopened: u32,
    /// Records that landed in a transaction.
    txn_records: u32,
    plain_records: u32,
    /// Records sent in a transaction the log had ended: they never land.
    lost_records: u32,
    /// Checks where a plain record was held back by an open transaction.
    held_back: u32,
    /// Checks with two transactions open on one partition.
    both_open: u32,
    zombie_calls: u32,
    /// Aborts after a timeout that carried on at a new epoch.
    recovered: u32,
}

struct World {
    what: &'static str,
    dir: Option<PathBuf>,
    clock: Arc<ManualClock>,
    log: Option<Log>,
    plain: Option<Producer>,
    plain_buffered: Vec<(usize, u64)>,
    /// The current producer of each id (taken out while it is used).
    clients: Vec<Option<Client>>,
    zombies: Vec<Option<Client>>,
    group: ConsumerGroupMetadata,
    parts: Vec<Vec<Entry>>,
    outcomes: Vec<Outcome>,
    /// The group's committed offsets on the input partitions.
    committed: BTreeMap<u32, u64>,
    next_value: u64,
    trace: Vec<String>,
    stats: Stats,
}

fn open_log(clock: &Arc<ManualClock>, dir: Option<&PathBuf>) -> Result<Log> {
    let builder = Log::builder()
        .clock(clock.clone())
        .maintenance_interval(None);
    match dir {
        Some(dir) => builder.open(dir),
        None => builder.in_memory(),
    }
}

fn plain_producer(log: &Log) -> Producer {
    log.producer_with(ProducerConfig::default().linger(LINGER))
        .unwrap()
}

fn record(value: u64, partition: u32) -> Record<'static> {
    Record::new(value.to_string()).partition(partition)
}

impl World {
    fn fail(&self, msg: String) -> ! {
        let tail = self.trace.len().saturating_sub(60);
        panic!(
            "{}: {msg}\nlast operations:\n  {}\nstats: {:?}",
            self.what,
            self.trace[tail..].join("\n  "),
            self.stats
        );
    }

    fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    fn log(&self) -> &Log {
        self.log.as_ref().expect("the log is open")
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn value(&mut self) -> u64 {
        self.next_value += 1;
        self.next_value
    }

    /// A new producer of `TXN_IDS[id]`, after `init_transactions`.
    fn new_client(&self, id: usize) -> Client {
        let producer = self
            .log()
            .producer_with(
                ProducerConfig::default()
                    .transactional_id(TXN_IDS[id])
                    .linger(LINGER)
                    .transaction_timeout(Duration::from_millis(TIMEOUT_MS as u64)),
            )
            .unwrap_or_else(|e| self.fail(format!("transactional producer: {e}")));
        if let Err(e) = producer.init_transactions() {
            self.fail(format!("init_transactions of a new producer: {e:?}"));
        }
        Client {
            producer,
            current: true,
            stage: Stage::Ready,
            txn: usize::MAX,
            buffered: Vec::new(),
            partitions: BTreeSet::new(),
            offsets: BTreeMap::new(),
            registered_ms: None,
        }
    }

    fn expect_ok<T>(&self, call: &str, r: Result<T>) -> T {
        r.unwrap_or_else(|e| self.fail(format!("{call}: {e:?}, expected Ok")))
    }

    fn expect_state(&mut self, call: &str, r: Result<()>) {
        if !matches!(r, Err(Error::TransactionState { .. })) {
            self.fail(format!("{call}: {r:?}, expected TransactionState"));
        }
        self.stats.refused += 1;
    }

    fn expect_fenced(&mut self, call: &str, r: Result<()>) {
        if !matches!(r, Err(Error::ProducerFenced { .. })) {
            self.fail(format!("{call}: {r:?}, expected ProducerFenced"));
        }
        self.stats.refused += 1;
    }

    /// The client's buffered records land, in its open transaction.
    fn land(&mut self, c: &mut Client) {
        let now = self.now();
        for (i, value) in c.buffered.drain(..) {
            self.stats.txn_records += 1;
            self.parts[i].push(Entry::Txn { value, txn: c.txn });
            c.partitions.insert(i);
            c.registered_ms.get_or_insert(now);
        }
    }

    fn land_plain(&mut self) {
        for (i, value) in std::mem::take(&mut self.plain_buffered) {
            self.stats.plain_records += 1;
            self.parts[i].push(Entry::Plain(value));
        }
    }

    /// The records the client buffered can never land.
    fn lose(&mut self, c: &mut Client) {
        self.stats.lost_records += c.buffered.len() as u32;
        c.buffered.clear();
    }

    /// The log ends the client's open transaction: a marker on each of its
    /// partitions; with a commit, its offsets are committed.
    fn end(&mut self, c: &mut Client, commit: bool) {
        for &i in &c.partitions {
            self.parts[i].push(Entry::Marker);
        }
        if commit {
            self.committed
                .extend(c.offsets.iter().map(|(&p, &o)| (p, o)));
            self.stats.committed += 1;
        } else {
            self.stats.aborted += 1;
        }
        self.outcomes[c.txn] = if commit {
            Outcome::Committed
        } else {
            Outcome::Aborted
        };
        c.partitions.clear();
        c.offsets.clear();
        c.registered_ms = None;
    }

    /// The client is at `stage`, with no transaction (what it buffered is
    /// lost).
    fn reset(&mut self, c: &mut Client, stage: Stage) {
        self.lose(c);
        c.stage = stage;
        c.partitions.clear();
        c.offsets.clear();
        c.registered_ms = None;
    }

    fn apply(&mut self, op: &Op) {
        self.note(format!("{op:?}"));
        match op {
            Op::Txn { id, zombie, op } => {
                let slot = if *zombie {
                    &mut self.zombies[*id]
                } else {
                    &mut self.clients[*id]
                };
                match slot.take() {
                    Some(mut c) => {
                        self.stats.zombie_calls += u32::from(*zombie);
                        self.txn_op(&mut c, op);
                        let who = if *zombie { "zombie" } else { "producer" };
                        self.note(format!("  {who} now {:?}", c.stage));
                        if *zombie {
                            self.zombies[*id] = Some(c);
                        } else {
                            self.clients[*id] = Some(c);
                        }
                    }
                    None => self.note("  no zombie".into()),
                }
            }
            Op::SendPlain { to, flush } => {
                let value = self.value();
                let r = self
                    .plain
                    .as_ref()
                    .unwrap()
                    .send(PARTITIONS[*to].0, record(value, PARTITIONS[*to].1));
                let _ = self.expect_ok("plain send", r);
                self.plain_buffered.push((*to, value));
                if *flush {
                    self.flush_plain();
                }
            }
            Op::FlushPlain => self.flush_plain(),
            Op::Tick(ms) => self.tick(*ms),
            Op::InitAgain(id) => {
                let mut c = self.clients[*id].take().unwrap();
                self.init_again(&mut c);
                self.clients[*id] = Some(c);
            }
            Op::NewProducer(id) => self.new_producer(*id),
            Op::Reopen { crash } => self.reopen(*crash),
        }
        self.check();
    }

    fn flush_plain(&mut self) {
        let r = self.plain.as_ref().unwrap().flush();
        self.expect_ok("plain flush", r);
        self.land_plain();
    }

    fn txn_op(&mut self, c: &mut Client, op: &TxnOp) {
        match op {
            TxnOp::Begin => {
                let r = c.producer.begin_transaction();
                if c.stage != Stage::Ready {
                    return self.expect_state("begin_transaction", r);
                }
                self.expect_ok("begin_transaction", r);
                if c.current {
                    c.stage = Stage::Open;
                    c.txn = self.outcomes.len();
                    self.outcomes.push(Outcome::Open);
                } else {
                    // A zombie's transaction is over before it begins.
                    c.stage = Stage::Doomed;
                }
            }
            TxnOp::Send { to, begin, flush } => {
                if *begin && c.stage == Stage::Ready {
                    self.txn_op(c, &TxnOp::Begin);
                }
                let value = self.value();
                let (topic, partition) = PARTITIONS[*to];
                let r = c.producer.send(topic, record(value, partition)).map(drop);
                match c.stage {
                    Stage::Open | Stage::Doomed => {
                        self.expect_ok("send", r);
                        c.buffered.push((*to, value));
                    }
                    _ => self.expect_state("send", r),
                }
                if *flush {
                    self.txn_op(c, &TxnOp::Flush);
                }
            }
            TxnOp::Flush => {
                let r = c.producer.flush();
                if c.stage == Stage::Open {
                    self.expect_ok("flush", r);
                    self.land(c);
                } else if !c.buffered.is_empty() {
                    self.expect_fenced("flush of a transaction the log ended", r);
                    self.lose(c);
                    if c.stage == Stage::Doomed {
                        c.stage = Stage::Failed;
                    }
                } else {
                    self.expect_ok("flush with nothing buffered", r);
                }
            }
            TxnOp::SendOffsets { partition, offset } => {
                let offsets = [(
                    (INPUT.to_owned(), *partition),
                    OffsetAndMetadata::new(*offset),
                )];
                let r = c
                    .producer
                    .send_offsets_to_transaction(&offsets, &self.group);
                // Kafka takes any offset here; samsa's plain commits refuse
                // one past the end. Either will do, but one taken must be
                // committed with the transaction.
                let refused_past_end =
                    *offset > INPUT_RECORDS && matches!(r, Err(Error::OffsetOutOfRange { .. }));
                match c.stage {
                    Stage::Open | Stage::Doomed if refused_past_end => self.stats.refused += 1,
                    Stage::Open => {
                        self.expect_ok("send_offsets_to_transaction", r);
                        c.offsets.insert(*partition, *offset);
                        c.registered_ms.get_or_insert(self.now());
                    }
                    Stage::Doomed => {
                        self.expect_fenced("send_offsets_to_transaction, transaction ended", r);
                        c.stage = Stage::Fenced;
                    }
                    _ => self.expect_state("send_offsets_to_transaction", r),
                }
            }
            TxnOp::Commit => {
                let r = c.producer.commit_transaction();
                match c.stage {
                    Stage::Open => {
                        self.expect_ok("commit_transaction", r);
                        self.land(c);
                        self.end(c, true);
                        self.reset(c, Stage::Ready);
                    }
                    Stage::Doomed => {
                        self.expect_fenced("commit of a transaction the log ended", r);
                        self.reset(c, Stage::Fenced);
                    }
                    _ => self.expect_state("commit_transaction", r),
                }
            }
            TxnOp::Abort => {
                let r = c.producer.abort_transaction();
                // Whether a batch of the ended transaction was refused, at
                // this abort's flush or before: the abort may then go on at
                // a new epoch.
                let refused = c.stage == Stage::Failed || !c.buffered.is_empty();
                match c.stage {
                    Stage::Open => {
                        self.expect_ok("abort_transaction", r);
                        self.land(c);
                        self.end(c, false);
                        self.reset(c, Stage::Ready);
                    }
                    Stage::Doomed | Stage::Failed if refused && r.is_ok() => {
                        if !c.current {
                            self.fail(
                                "a zombie's abort_transaction succeeded: it took a new epoch \
                                 of the id, fencing the current producer"
                                    .into(),
                            );
                        }
                        // KIP-588: after a timeout, the producer carries on
                        // at a new epoch.
                        self.stats.recovered += 1;
                        self.reset(c, Stage::Ready);
                    }
                    Stage::Doomed => {
                        self.expect_fenced("abort of a transaction the log ended", r);
                        self.reset(c, Stage::Fenced);
                    }
                    Stage::Failed => {
                        self.expect_state("abort after a refused batch", r);
                        self.reset(c, Stage::Fenced);
                    }
                    Stage::Ready | Stage::Fenced => self.expect_state("abort_transaction", r),
                }
            }
        }
    }

    /// `init_transactions` on a current producer: what it sent lands (if
    /// its transaction is still open), then the log aborts that transaction.
    fn init_again(&mut self, c: &mut Client) {
        let r = c.producer.init_transactions();
        if c.stage == Stage::Open {
            self.expect_ok("init_transactions", r);
            self.land(c);
            self.end(c, false);
        } else if !c.buffered.is_empty() && r.is_err() {
            // Its flush may report the error of the lost records; a
            // second call then takes the new epoch.
            self.expect_fenced("init_transactions with lost records", r);
            let again = c.producer.init_transactions();
            self.expect_ok("init_transactions, again", again);
        } else {
            self.expect_ok("init_transactions", r);
        }
        self.reset(c, Stage::Ready);
    }

    fn new_producer(&mut self, id: usize) {
        self.drop_zombie(id);
        let fresh = self.new_client(id);
        let mut old = self.clients[id].replace(fresh).unwrap();
        if old.stage == Stage::Open {
            self.end(&mut old, false);
            old.stage = Stage::Doomed;
        }
        old.current = false;
        self.zombies[id] = Some(old);
    }

    /// The zombie of `id` goes; dropped, it delivers nothing: it is
    /// fenced.
    fn drop_zombie(&mut self, id: usize) {
        if let Some(mut z) = self.zombies[id].take() {
            self.lose(&mut z);
        }
    }

    fn tick(&mut self, ms: i64) {
        self.clock.advance(ms);
        let now = self.now();
        let report = self.log().maintain();
        let report = self.expect_ok("maintain", report);
        let mut expired = 0;
        for id in 0..TXN_IDS.len() {
            let mut c = self.clients[id].take().unwrap();
            if c.stage == Stage::Open && c.registered_ms.is_some_and(|t| now - t >= TIMEOUT_MS) {
                self.end(&mut c, false);
                c.stage = Stage::Doomed;
                self.stats.timed_out += 1;
                expired += 1;
            }
            self.clients[id] = Some(c);
        }
        if report.transactions_aborted != expired {
            self.fail(format!(
                "maintain aborted {} transactions, expected {expired}",
                report.transactions_aborted
            ));
        }
    }

    fn reopen(&mut self, crash: bool) {
        for id in 0..TXN_IDS.len() {
            self.drop_zombie(id);
        }
        // Closed or dropped, the producers deliver what they buffered.
        let plain = self.plain.take().unwrap();
        if crash {
            drop(plain);
        } else {
            let r = plain.close();
            self.expect_ok("plain close", r);
        }
        self.land_plain();
        let mut left_open = Vec::new();
        for id in 0..TXN_IDS.len() {
            let mut c = self.clients[id].take().unwrap();
            let lost = c.stage != Stage::Open && !c.buffered.is_empty();
            if c.stage == Stage::Open {
                self.land(&mut c);
            }
            self.lose(&mut c);
            if crash {
                drop(c.producer);
            } else if lost {
                let r = c.producer.close();
                self.expect_fenced("close with lost records", r);
            } else {
                let r = c.producer.close();
                self.expect_ok("close", r);
            }
            if c.stage == Stage::Open {
                left_open.push((c.txn, c.partitions));
            }
        }
        // Transactions left open are aborted at the next open (on disk) or
        // by the next producer of the id (in memory).
        for (txn, partitions) in left_open {
            for i in partitions {
                self.parts[i].push(Entry::Marker);
            }
            self.outcomes[txn] = Outcome::Aborted;
            self.stats.aborted += 1;
        }
        if let Some(dir) = self.dir.clone() {
            let log = self.log.take().unwrap();
            if !crash {
                let r = log.close();
                self.expect_ok("log close", r);
            }
            drop(log);
            let log = open_log(&self.clock, Some(&dir))
                .unwrap_or_else(|e| self.fail(format!("reopen: {e:?}")));
            self.log = Some(log);
            self.stats.reopened += 1;
        }
        self.plain = Some(plain_producer(self.log()));
        for id in 0..TXN_IDS.len() {
            self.clients[id] = Some(self.new_client(id));
        }
    }

    fn is_open(&self, e: &Entry) -> bool {
        matches!(e, Entry::Txn { txn, .. } if self.outcomes[*txn] == Outcome::Open)
    }

    /// The last stable offset of `PARTITIONS[i]`.
    fn lso(&self, i: usize) -> u64 {
        let entries = &self.parts[i];
        let first_open = entries.iter().position(|e| self.is_open(e));
        first_open.unwrap_or(entries.len()) as u64
    }

    /// What a consumer at `isolation` reads from the start: per partition,
    /// (offset, value); and where it ends.
    fn read(&self, isolation: IsolationLevel) -> (Vec<Vec<(u64, u64)>>, Vec<u64>) {
        let mut c = self
            .log()
            .consumer(
                ConsumerConfig::default()
                    .auto_offset_reset(AutoOffsetReset::Earliest)
                    .isolation_level(isolation),
            )
            .unwrap();
        c.assign(&PARTITIONS).unwrap();
        let mut out = vec![Vec::new(); PARTITIONS.len()];
        loop {
            let records = c
                .poll(Duration::ZERO)
                .unwrap_or_else(|e| self.fail(format!("{isolation:?} poll: {e:?}")));
            if records.is_empty() {
                break;
            }
            for r in records.iter() {
                let i = PARTITIONS
                    .iter()
                    .position(|&(t, p)| t == r.topic() && p == r.partition())
                    .unwrap_or_else(|| self.fail(format!("a record of {}", r.topic())));
                let value = r
                    .value()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| self.fail(format!("unreadable value at {}", r.offset())));
                out[i].push((r.offset(), value));
            }
        }
        let ends = PARTITIONS
            .iter()
            .map(|&(t, p)| c.position(t, p).unwrap())
            .collect();
        (out, ends)
    }

    fn check(&mut self) {
        let n = PARTITIONS.len();
        let (mut uncommitted, mut committed) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let hwms: Vec<u64> = self.parts.iter().map(|p| p.len() as u64).collect();
        let lsos: Vec<u64> = (0..n).map(|i| self.lso(i)).collect();
        for (i, &(topic, partition)) in PARTITIONS.iter().enumerate() {
            let p = self
                .log()
                .topic(topic)
                .unwrap()
                .partition(partition)
                .unwrap();
            let got = (p.high_watermark(), p.last_stable_offset());
            if got != (hwms[i], lsos[i]) {
                self.fail(format!(
                    "{topic}/{partition}: (high watermark, last stable offset) {got:?}, \
                     expected {:?}\n  model: {:?}",
                    (hwms[i], lsos[i]),
                    self.parts[i]
                ));
            }
            for (offset, e) in (0..).zip(&self.parts[i]) {
                let (value, visible) = match *e {
                    Entry::Plain(v) => (v, true),
                    Entry::Txn { value, txn } => (value, self.outcomes[txn] == Outcome::Committed),
                    Entry::Marker => continue,
                };
                uncommitted[i].push((offset, value));
                if visible && offset < lsos[i] {
                    committed[i].push((offset, value));
                }
            }
        }
        for (isolation, want, want_ends) in [
            (IsolationLevel::ReadUncommitted, &uncommitted, &hwms),
            (IsolationLevel::ReadCommitted, &committed, &lsos),
        ] {
            let (got, ends) = self.read(isolation);
            for (i, (topic, partition)) in PARTITIONS.iter().enumerate() {
                if got[i] != want[i] {
                    self.fail(format!(
                        "{isolation:?} read of {topic}/{partition}: {:?}, expected {:?}\n  \
                         model: {:?}",
                        got[i], want[i], self.parts[i]
                    ));
                }
                if ends[i] != want_ends[i] {
                    self.fail(format!(
                        "{isolation:?} consumer of {topic}/{partition} ends at {}, expected {}",
                        ends[i], want_ends[i]
                    ));
                }
            }
        }
        for p in 0..INPUT_PARTITIONS {
            let got = self
                .log()
                .group(GROUP)
                .committed(INPUT, p)
                .map(|o| o.offset);
            let want = self.committed.get(&p).copied();
            if got != want {
                self.fail(format!(
                    "{GROUP} committed {got:?} on {INPUT}/{p}, expected {want:?}"
                ));
            }
        }
        // What the case reached, for the summary.
        for (i, entries) in self.parts.iter().enumerate() {
            let after = &entries[lsos[i] as usize..];
            self.stats.held_back += u32::from(after.iter().any(|e| matches!(e, Entry::Plain(_))));
            let open: BTreeSet<usize> = after
                .iter()
                .filter_map(|e| match e {
                    Entry::Txn { txn, .. } if self.outcomes[*txn] == Outcome::Open => Some(*txn),
                    _ => None,
                })
                .collect();
            self.stats.both_open += u32::from(open.len() > 1);
        }
    }
}

fn run(on_disk: bool, ops: &[Op]) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let dir = on_disk.then(|| tmp.path().join("log"));
    let log = open_log(&clock, dir.as_ref()).unwrap();
    let mut topics: BTreeMap<&str, u32> = BTreeMap::new();
    for (t, p) in PARTITIONS {
        let n = topics.entry(t).or_default();
        *n = (*n).max(p + 1);
    }
    for (t, n) in topics {
        log.create_topic(t, TopicConfig::default().partitions(n))
            .unwrap();
    }
    log.create_topic(INPUT, TopicConfig::default().partitions(INPUT_PARTITIONS))
        .unwrap();
    let setup = log.producer();
    for p in 0..INPUT_PARTITIONS {
        for i in 0..INPUT_RECORDS {
            let _ = setup.send(INPUT, record(i, p)).unwrap();
        }
    }
    setup.close().unwrap();
    // It holds the log: a crash must leave nothing of it open.
    drop(setup);
    // A consumer of the group with assigned partitions: its offsets are
    // taken while the group has no members.
    let mut consumer = log.consumer(ConsumerConfig::new(GROUP)).unwrap();
    consumer.assign(&[(INPUT, 0), (INPUT, 1)]).unwrap();
    let group = consumer.group_metadata().unwrap();
    drop(consumer);
    let mut world = World {
        what: if on_disk { "disk" } else { "memory" },
        dir,
        clock,
        plain: Some(plain_producer(&log)),
        log: Some(log),
        plain_buffered: Vec::new(),
        clients: TXN_IDS.iter().map(|_| None).collect(),
        zombies: TXN_IDS.iter().map(|_| None).collect(),
        group,
        parts: vec![Vec::new(); PARTITIONS.len()],
        outcomes: Vec::new(),
        committed: BTreeMap::new(),
        next_value: 0,
        trace: Vec::new(),
        stats: Stats::default(),
    };
    for id in 0..TXN_IDS.len() {
        world.clients[id] = Some(world.new_client(id));
    }
    for op in ops {
        world.apply(op);
    }
    if on_disk {
        world.apply(&Op::Reopen { crash: false });
    }
    let offsets: usize = world.parts.iter().map(Vec::len).sum();
    eprintln!(
        "{} {} ops, {offsets} offsets: {:?}",
        world.what,
        ops.len(),
        world.stats
    );
}

fn config() -> ProptestConfig {
    let cases = std::env::var("SAMSA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    ProptestConfig {
        cases,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn transactions_model_in_memory(ops in ops()) {
        run(false, &ops);
    }

    #[test]
    fn transactions_model_on_disk(ops in ops()) {
        run(true, &ops);
    }
}

// Bugs the model above found (fixed): the proptest cases that found them
// (shrunk), then plain tests of each.

/// The shrunk proptest case of
/// `a_zombies_abort_does_not_fence_the_current_producer`: a producer with
/// a record still buffered is replaced, then aborts (the abort's flush is
/// refused at the partition).
#[test]
fn model_case_a_zombies_abort() {
    let txn = |zombie, op| Op::Txn { id: 0, zombie, op };
    let send = |begin, flush| TxnOp::Send {
        to: 0,
        begin,
        flush,
    };
    run(
        false,
        &[
            txn(false, send(true, true)),
            txn(false, send(false, false)),
            Op::NewProducer(0),
            txn(true, TxnOp::Abort),
        ],
    );
}

/// The shrunk proptest case of
/// `an_offset_past_the_end_does_not_wedge_the_transaction`.
#[test]
fn model_case_an_offset_past_the_end() {
    let txn = |op| Op::Txn {
        id: 0,
        zombie: false,
        op,
    };
    let past_end = TxnOp::SendOffsets {
        partition: 0,
        offset: INPUT_RECORDS + 1,
    };
    run(
        false,
        &[txn(TxnOp::Begin), txn(past_end), txn(TxnOp::Commit)],
    );
}

/// A transactional producer of `id`, after `init_transactions`.
fn transactional(log: &Log, id: &str) -> Producer {
    let p = log
        .producer_with(ProducerConfig::default().transactional_id(id))
        .unwrap();
    p.init_transactions().unwrap();
    p
}

/// The values a `read_committed` consumer reads from `t`/0.
fn read_committed(log: &Log) -> Vec<String> {
    let mut c = log
        .consumer(
            ConsumerConfig::default()
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .isolation_level(IsolationLevel::ReadCommitted),
        )
        .unwrap();
    c.assign(&[("t", 0)]).unwrap();
    let mut out = Vec::new();
    loop {
        let r = c.poll(Duration::ZERO).unwrap();
        if r.is_empty() {
            return out;
        }
        out.extend(
            r.iter()
                .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned()),
        );
    }
}

/// Found by the model (fixed): the zombie's refused batch made its
/// transaction "abortable", and `abort_transaction` then took a new epoch
/// of the id (as for KIP-360) without asking whether the producer still
/// held the id: the zombie fenced the current producer, whose open
/// transaction was aborted and whose commit failed.
#[test]
fn a_zombies_abort_does_not_fence_the_current_producer() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    let zombie = transactional(&log, "tx");
    zombie.begin_transaction().unwrap();
    let _ = zombie.send("t", Record::new("zombie")).unwrap();
    zombie.flush().unwrap();
    let current = transactional(&log, "tx");
    current.begin_transaction().unwrap();
    let _ = current.send("t", Record::new("current")).unwrap();
    current.flush().unwrap();
    // The zombie's next batch to its partition is refused there.
    let _ = zombie.send("t", Record::new("late")).unwrap();
    let flushed = zombie.flush();
    assert!(
        matches!(flushed, Err(Error::ProducerFenced { .. })),
        "{flushed:?}"
    );
    let aborted = zombie.abort_transaction();
    assert!(aborted.is_err(), "the zombie's abort: {aborted:?}");
    current.commit_transaction().unwrap();
    assert_eq!(read_committed(&log), ["current"]);
}

/// Found by the model (fixed): `send_offsets_to_transaction` took an
/// offset past the end of the input partition, and the commit checked it
/// only when it wrote the offsets, after the commit was decided and its
/// markers written: `commit_transaction` failed with `OffsetOutOfRange`,
/// and so did every retry, `abort_transaction` was refused as the commit
/// was decided, `init_transactions` and `Log::maintain` failed the same
/// way, each retry wrote another marker, and the transaction's records
/// were visible to
/// `read_committed` readers though its commit never succeeded. Either
/// answer below would do: refused up front, as a plain commit is, or taken
/// and committed (Kafka checks no range).
#[test]
fn an_offset_past_the_end_does_not_wedge_the_transaction() {
    let log = Log::in_memory();
    log.create_topic("t", TopicConfig::default()).unwrap();
    log.create_topic("in", TopicConfig::default()).unwrap();
    let input = log.topic("in").unwrap().partition(0).unwrap();
    input.append(&[Record::new("input")]).unwrap();
    let p = transactional(&log, "tx");
    p.begin_transaction().unwrap();
    let _ = p.send("t", Record::new("out")).unwrap();
    let group = ConsumerGroupMetadata {
        group_id: "g".into(),
        member_id: None,
        generation: 0,
    };
    let past_end = [(("in".to_owned(), 0), OffsetAndMetadata::new(5))];
    let taken = match p.send_offsets_to_transaction(&past_end, &group) {
        Ok(()) => true,
        Err(Error::OffsetOutOfRange { .. }) => false,
        other => panic!("send_offsets_to_transaction: {other:?}"),
    };
    let committed = p.commit_transaction();
    assert!(committed.is_ok(), "commit_transaction: {committed:?}");
    assert_eq!(
        log.group("g").committed("in", 0).map(|o| o.offset),
        taken.then_some(5)
    );
    // The id goes on.
    p.begin_transaction().unwrap();
    p.abort_transaction().unwrap();
    log.maintain().unwrap();
    assert_eq!(read_committed(&log), ["out"]);
}
