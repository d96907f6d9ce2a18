//! Filling a log of 1 KiB records on any backend, for the workloads that
//! reopen, recover or watch memory; and opening one again.

use crate::clog::{self, Clog};
use crate::raw::{self, Segmented};
use crate::results::Entry;
use crate::samsa_side::{self, Client};
use crate::sqlite;
use commitlog::CommitLog;
use rusqlite::Connection;
use samsa_log::partition::SyncPolicy;
use samsa_log::producer::ProducerConfig;
use samsa_log::Partition;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes of every value of these logs.
pub const VALUE: usize = 1024;

/// A log being filled, kept open.
pub enum Filling {
    /// samsa through `Partition`.
    Samsa(Partition),
    /// samsa through `Producer`.
    Client(Client),
    /// The floor, in segment files.
    Raw(Segmented),
    /// commitlog.
    Commitlog(Clog),
    /// SQLite.
    Sqlite(Connection),
}

impl Filling {
    /// Closes the log cleanly (samsa: `close`, which syncs and writes its
    /// clean-shutdown marker; the floor: flush; commitlog: drop; SQLite:
    /// close, which checkpoints the WAL into the database).
    pub fn close(self) {
        match self {
            Filling::Samsa(p) => p.close().expect("close samsa"),
            Filling::Client(c) => {
                c.producer.close().expect("close producer");
                c.log.close().expect("close samsa log");
            }
            Filling::Raw(r) => r.finish(),
            Filling::Commitlog(mut c) => c.log.flush().expect("flush commitlog"),
            Filling::Sqlite(conn) => conn.close().map_err(|(_, e)| e).expect("close sqlite"),
        }
    }
}

/// Fills a new log of `entry` in `dir` with `bytes` of 1 KiB values,
/// `batch` records per call (the producer sends one at a time and flushes
/// at the end), rolling segments at `segment_bytes`. Everything appended
/// is handed to the OS, nothing synced. Returns the open log and the
/// number of records.
pub fn fill(
    entry: Entry,
    dir: &Path,
    bytes: u64,
    segment_bytes: u64,
    batch: usize,
) -> (Filling, u64) {
    let values: Vec<Vec<u8>> = vec![vec![0x5a; VALUE]; batch];
    let calls = bytes.div_ceil((VALUE * batch) as u64);
    let count = calls * batch as u64;
    let filling = match entry {
        Entry::Samsa => {
            let config = samsa_side::os_config().segment_bytes(segment_bytes);
            let p = Partition::open(dir, config).expect("open samsa");
            let records: Vec<samsa_log::Record<'_>> =
                values.iter().map(samsa_log::Record::new).collect();
            for _ in 0..calls {
                p.append(&records).expect("samsa append");
            }
            Filling::Samsa(p)
        }
        Entry::SamsaClient => {
            let c = Client::open(dir, SyncPolicy::Os, ProducerConfig::default());
            for _ in 0..calls {
                for v in &values {
                    let d = c
                        .producer
                        .send(samsa_side::TOPIC, samsa_log::Record::new(v))
                        .expect("send");
                    std::hint::black_box(&d);
                }
            }
            c.producer.flush().expect("producer flush");
            Filling::Client(c)
        }
        Entry::SamsaTxn => unreachable!("no workload fills a log in transactions here"),
        Entry::Raw => {
            let mut r = Segmented::create(dir, segment_bytes);
            for _ in 0..calls {
                for v in &values {
                    r.append(v);
                }
            }
            r.flush();
            Filling::Raw(r)
        }
        Entry::Commitlog => {
            std::fs::create_dir_all(dir).expect("create dir");
            let mut c = Clog::open(dir, segment_bytes as usize);
            for _ in 0..calls {
                c.append_values(&values);
            }
            Filling::Commitlog(c)
        }
        Entry::Sqlite => {
            std::fs::create_dir_all(dir).expect("create dir");
            let mut conn = sqlite::open(dir, false);
            for _ in 0..calls {
                sqlite::insert(&mut conn, &values);
            }
            Filling::Sqlite(conn)
        }
    };
    (filling, count)
}

/// What [`open`] saw.
pub struct Opened {
    /// From the open call to the log being ready to append.
    pub took: Duration,
    /// Peak RSS of the process (KiB) just after the open, before the
    /// records are counted.
    pub hwm_kib: u64,
    /// Records in the log.
    pub count: u64,
}

/// Opens the log of `entry` in `dir` as an application would before its
/// next append, timed, and notes the peak RSS; then (untimed) counts its
/// records and closes it. `recover`: the floor scans its newest segment
/// (the others recover, or skip recovery, by themselves).
pub fn open(entry: Entry, dir: &Path, segment_bytes: u64, recover: bool) -> Opened {
    let hwm = || crate::child::status_kib("VmHWM");
    let (took, hwm_kib, count) = match entry {
        Entry::SamsaClient | Entry::SamsaTxn => {
            unreachable!("logs are reopened through Partition")
        }
        Entry::Samsa => {
            let config = samsa_side::os_config().segment_bytes(segment_bytes);
            let start = Instant::now();
            let p = Partition::open(dir, config).expect("reopen samsa");
            let took = start.elapsed();
            let hwm = hwm();
            let n = p.high_watermark();
            p.close().expect("close samsa");
            (took, hwm, n)
        }
        Entry::Raw => {
            let start = Instant::now();
            let file = raw::open(dir, recover);
            let took = start.elapsed();
            let hwm = hwm();
            drop(file);
            let n = raw::segments(dir).iter().map(|s| raw::count(s)).sum();
            (took, hwm, n)
        }
        Entry::Commitlog => {
            let start = Instant::now();
            let log = CommitLog::new(clog::options(dir, segment_bytes as usize))
                .expect("reopen commitlog");
            let took = start.elapsed();
            (took, hwm(), log.next_offset())
        }
        Entry::Sqlite => {
            let start = Instant::now();
            let conn = sqlite::open(dir, false);
            let n = sqlite::last_id(&conn);
            (start.elapsed(), hwm(), n)
        }
    };
    Opened {
        took,
        hwm_kib,
        count,
    }
}
