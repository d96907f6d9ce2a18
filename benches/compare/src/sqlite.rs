//! SQLite (bundled through `rusqlite`) as a queue: one table
//! `q(id INTEGER PRIMARY KEY, v BLOB)` in WAL mode, the rowid as the
//! offset, one transaction per batch, prepared statements cached.
//! `synchronous=FULL` for durable runs (the WAL is synced at every commit),
//! `NORMAL` otherwise (synced only at checkpoints). Everything else is
//! SQLite's default (4 KiB pages, automatic checkpoints every 1,000 pages).

use crate::append::Appender;
use crate::check::Check;
use rusqlite::Connection;
use std::path::Path;

/// The database file's name in a backend directory.
pub const FILE: &str = "q.db";
const INSERT: &str = "INSERT INTO q (v) VALUES (?1)";

/// Opens (creating) the queue in `dir`: WAL, `synchronous` FULL if
/// `durable` else NORMAL, and the table.
pub fn open(dir: &Path, durable: bool) -> Connection {
    let conn = Connection::open(dir.join(FILE)).expect("open sqlite");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal", "sqlite refused WAL mode");
    let sync = if durable { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync};
         CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, v BLOB NOT NULL);"
    ))
    .expect("set up sqlite");
    conn
}

/// The queue's last offset: what a queue must learn when it opens.
pub fn last_id(conn: &Connection) -> u64 {
    conn.query_row("SELECT coalesce(max(id), 0) FROM q", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("max id") as u64
}

/// Inserts `values` in one transaction.
pub fn insert<V: AsRef<[u8]>>(conn: &mut Connection, values: impl IntoIterator<Item = V>) {
    let tx = conn.transaction().expect("begin");
    {
        let mut stmt = tx.prepare_cached(INSERT).expect("prepare insert");
        for v in values {
            stmt.execute([v.as_ref()]).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// The queue as an appender.
pub struct Sqlite {
    /// The connection.
    pub conn: Connection,
}

impl Appender for Sqlite {
    type Batch<'v> = Vec<&'v [u8]>;

    fn prepare(values: &[Vec<u8>]) -> Self::Batch<'_> {
        values.iter().map(Vec::as_slice).collect()
    }

    fn append_batch(&mut self, batch: &Self::Batch<'_>) {
        insert(&mut self.conn, batch.iter().copied());
    }

    fn append_one(&mut self, value: &[u8]) {
        // Autocommit: one transaction per record.
        let mut stmt = self.conn.prepare_cached(INSERT).expect("prepare insert");
        stmt.execute([value]).expect("insert");
    }

    fn finish(&mut self) {
        // Every transaction is committed (in the WAL, in the page cache).
    }
}

/// Reads the queue in id order, checking every value.
pub fn read_all(conn: &Connection) -> Check {
    let mut stmt = conn
        .prepare("SELECT v FROM q ORDER BY id")
        .expect("prepare select");
    let mut rows = stmt.query([]).expect("select");
    let mut check = Check::default();
    while let Some(row) = rows.next().expect("row") {
        check.add(row.get_ref(0).expect("v").as_blob().expect("blob"));
    }
    check
}
