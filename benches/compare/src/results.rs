//! What was measured: per metric and per backend, one value a repetition.

use std::collections::BTreeMap;

/// One column of the comparison: a backend, or samsa through one of its
/// two public faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    /// samsa through `Partition` (the raw workloads).
    Samsa,
    /// samsa through `Producer` / `Consumer` (the end-to-end workloads).
    SamsaClient,
    /// samsa's transactions (issue 16): a `Producer` with a transactional
    /// id, a `Consumer` at `read_committed`. Compared with `SamsaClient`,
    /// the same API without them.
    SamsaTxn,
    /// The raw-file floor.
    Raw,
    /// The `commitlog` crate.
    Commitlog,
    /// SQLite (bundled, WAL) as a queue table.
    Sqlite,
}

impl Entry {
    /// The peers samsa is compared with, in table order.
    pub const PEERS: [Entry; 3] = [Entry::Raw, Entry::Commitlog, Entry::Sqlite];

    /// Short name, for JSON and command lines.
    pub fn key(self) -> &'static str {
        match self {
            Entry::Samsa => "samsa",
            Entry::SamsaClient => "samsa_client",
            Entry::SamsaTxn => "samsa_txn",
            Entry::Raw => "raw",
            Entry::Commitlog => "commitlog",
            Entry::Sqlite => "sqlite",
        }
    }

    /// The inverse of [`Entry::key`].
    pub fn parse(key: &str) -> Option<Entry> {
        [
            Entry::Samsa,
            Entry::SamsaClient,
            Entry::SamsaTxn,
            Entry::Raw,
            Entry::Commitlog,
            Entry::Sqlite,
        ]
        .into_iter()
        .find(|e| e.key() == key)
    }

    /// Name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Entry::Samsa => "samsa (Partition)",
            Entry::SamsaClient => "samsa (Producer/Consumer)",
            Entry::SamsaTxn => "samsa (transactional Producer / read_committed Consumer)",
            Entry::Raw => "raw floor",
            Entry::Commitlog => "commitlog",
            Entry::Sqlite => "SQLite",
        }
    }
}

/// `entries` rotated by `rep`, so that over the repetitions each backend
/// runs first, second, ...: machine drift hits all of them alike.
pub fn rotated(entries: &[Entry], rep: usize) -> Vec<Entry> {
    let mut v = entries.to_vec();
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(rep % n);
    }
    v
}

/// Values per (metric, entry), in the order of the repetitions.
#[derive(Debug, Default)]
pub struct Results {
    values: BTreeMap<(String, Entry), Vec<f64>>,
    /// Facts found while running (segment counts, sizes), for the notes.
    pub facts: BTreeMap<String, String>,
}

impl Results {
    /// Records one repetition's value of `metric` for `entry`.
    pub fn push(&mut self, metric: &str, entry: Entry, value: f64) {
        self.values
            .entry((metric.to_owned(), entry))
            .or_default()
            .push(value);
    }

    /// Every value of `metric` for `entry`, if it was measured.
    pub fn get(&self, metric: &str, entry: Entry) -> Option<&[f64]> {
        self.values
            .get(&(metric.to_owned(), entry))
            .map(Vec::as_slice)
    }

    /// Notes a fact for the report.
    pub fn fact(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.facts.insert(key.into(), value.into());
    }
}
