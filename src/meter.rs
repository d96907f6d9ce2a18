//! Metrics through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`, off by default), named after Kafka's where Kafka
//! has one, for the application's recorder (Prometheus, StatsD, ...).
//! Without the feature every type here is empty and every call does
//! nothing. The names are listed in `docs/OBSERVABILITY.md`.
//!
//! The hot paths hold handles registered once per partition, so an
//! append or a read costs an atomic add per metric, no lookup.

#[cfg(feature = "metrics")]
use std::path::Path;

/// A partition's metrics, labelled with its topic and partition number
/// (taken from its directory, `<log>/topics/<topic>/<partition>`).
pub(crate) struct PartitionMeters {
    #[cfg(feature = "metrics")]
    m: Handles,
}

#[cfg(feature = "metrics")]
struct Handles {
    records_in: metrics::Counter,
    bytes_in: metrics::Counter,
    records_out: metrics::Counter,
    bytes_out: metrics::Counter,
    sync_seconds: metrics::Histogram,
    sync_records: metrics::Histogram,
    log_start: metrics::Gauge,
    log_end: metrics::Gauge,
    size: metrics::Gauge,
    removed_bytes: metrics::Counter,
}

#[cfg(feature = "metrics")]
fn labels(dir: &Path) -> [(&'static str, String); 2] {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    [
        ("topic", name(dir.parent())),
        ("partition", name(Some(dir))),
    ]
}

impl PartitionMeters {
    /// The partition's handles, registered with the recorder installed
    /// now.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn new(dir: &std::path::Path) -> PartitionMeters {
        #[cfg(feature = "metrics")]
        {
            let l = labels(dir);
            PartitionMeters {
                m: Handles {
                    records_in: metrics::counter!("samsa_messages_in_total", &l),
                    bytes_in: metrics::counter!("samsa_bytes_in_total", &l),
                    records_out: metrics::counter!("samsa_messages_out_total", &l),
                    bytes_out: metrics::counter!("samsa_bytes_out_total", &l),
                    sync_seconds: metrics::histogram!("samsa_log_flush_seconds", &l),
                    sync_records: metrics::histogram!("samsa_log_flush_records", &l),
                    log_start: metrics::gauge!("samsa_log_start_offset", &l),
                    log_end: metrics::gauge!("samsa_log_end_offset", &l),
                    size: metrics::gauge!("samsa_log_size_bytes", &l),
                    removed_bytes: metrics::counter!("samsa_log_removed_bytes_total", &l),
                },
            }
        }
        #[cfg(not(feature = "metrics"))]
        PartitionMeters {}
    }

    /// The partition opened with `size` bytes of segment logs (called only
    /// with the feature: finding the size stats every segment).
    #[cfg(feature = "metrics")]
    pub fn opened(&self, size: u64, start: u64, end: u64) {
        self.m.size.set(size as f64);
        self.m.log_start.set(start as f64);
        self.m.log_end.set(end as f64);
    }

    /// A batch of `records` in `bytes` was appended; the log ends at `end`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn appended(&self, records: u32, bytes: usize, end: u64) {
        #[cfg(feature = "metrics")]
        {
            self.m.records_in.increment(u64::from(records));
            self.m.bytes_in.increment(bytes as u64);
            self.m.size.increment(bytes as f64);
            self.m.log_end.set(end as f64);
        }
    }

    /// A read returned `records` in `bytes`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn fetched(&self, records: usize, bytes: usize) {
        #[cfg(feature = "metrics")]
        {
            self.m.records_out.increment(records as u64);
            self.m.bytes_out.increment(bytes as u64);
        }
    }

    /// Runs `sync`, a sync of the log, recording how long it took and,
    /// if it succeeded, how many `records` it made durable (the appends it
    /// covered: a group commit's size). Without the feature it only runs
    /// `sync`: no clock is read on the append path.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn time_sync(
        &self,
        sync: impl FnOnce() -> crate::error::Result<()>,
        records: impl FnOnce() -> u64,
    ) -> crate::error::Result<()> {
        #[cfg(feature = "metrics")]
        {
            let started = std::time::Instant::now();
            let result = sync();
            self.m.sync_seconds.record(started.elapsed().as_secs_f64());
            if result.is_ok() {
                self.m.sync_records.record(records() as f64);
            }
            result
        }
        #[cfg(not(feature = "metrics"))]
        sync()
    }

    /// Retention, `delete_records` or compaction removed `bytes`; the log
    /// now starts at `start`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn removed(&self, bytes: u64, start: u64) {
        #[cfg(feature = "metrics")]
        {
            self.m.removed_bytes.increment(bytes);
            self.m.size.decrement(bytes as f64);
            self.m.log_start.set(start as f64);
        }
    }
}

/// A consumer group's new generation is in force.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn rebalanced(group: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("samsa_group_rebalances_total", "group" => group.to_owned()).increment(1);
}

/// A consumer of `group` is `lag` offsets behind on `topic`/`partition`
/// (Kafka's consumer `records-lag`). Only with the feature: finding the
/// lag costs a look at every assigned partition, which its caller skips
/// without it.
#[cfg(feature = "metrics")]
pub(crate) fn consumer_lag(group: &str, topic: &str, partition: u32, lag: u64) {
    metrics::gauge!(
        "samsa_consumer_records_lag",
        "group" => group.to_owned(),
        "topic" => topic.to_owned(),
        "partition" => partition.to_string()
    )
    .set(lag as f64);
}
