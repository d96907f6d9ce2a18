//! With the `metrics` feature, samsa's metrics reach the application's
//! recorder (here a small one that keeps them): appends and reads counted
//! in records and bytes, sync times, log start and end offsets, bytes
//! removed by retention, consumer lag, rebalances; labelled with the
//! topic and partition (or group).

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig};
use samsa_log::partition::SyncPolicy;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

#[derive(Default)]
struct Store {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

#[derive(Clone, Default)]
struct Keeper(Arc<Store>);

/// `name{label=value,...}`, labels in order.
fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Keeper {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = self
            .0
            .counters
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone();
        Counter::from_arc(c)
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let g = self
            .0
            .gauges
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone();
        Gauge::from_arc(g)
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let h = self
            .0
            .histograms
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone();
        Histogram::from_arc(h)
    }
}

impl Keeper {
    fn counter(&self, key: &str) -> u64 {
        let c = self.0.counters.lock().unwrap();
        c.get(key)
            .unwrap_or_else(|| panic!("no counter {key} among {:?}", c.keys()))
            .load(Ordering::Relaxed)
    }
    fn gauge(&self, key: &str) -> f64 {
        let g = self.0.gauges.lock().unwrap();
        f64::from_bits(
            g.get(key)
                .unwrap_or_else(|| panic!("no gauge {key} among {:?}", g.keys()))
                .load(Ordering::Relaxed),
        )
    }
    fn sum(&self, key: &str) -> f64 {
        let h = self.0.histograms.lock().unwrap();
        let samples = h.get(key).unwrap_or_else(|| panic!("no histogram {key}"));
        let total = samples.0.lock().unwrap().iter().sum();
        total
    }

    fn samples(&self, key: &str) -> usize {
        let h = self.0.histograms.lock().unwrap();
        let samples = h
            .get(key)
            .unwrap_or_else(|| panic!("no histogram {key} among {:?}", h.keys()));
        let n = samples.0.lock().unwrap().len();
        n
    }
}

#[test]
fn operators_can_watch_the_log_through_their_recorder() {
    let keeper = Keeper::default();
    metrics::set_global_recorder(keeper.clone()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::builder()
        .sync(SyncPolicy::Always)
        .maintenance_interval(None)
        .open(tmp.path())
        .unwrap();
    let t = log
        .create_topic(
            "t",
            TopicConfig::default()
                .segment_bytes(1024)
                .retention_bytes(Some(2048)),
        )
        .unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..50 {
        p.append(&[Record::new(format!("value {i:04}"))]).unwrap();
    }
    let tp = "{partition=0,topic=t}";
    assert_eq!(keeper.counter(&format!("samsa_messages_in_total{tp}")), 50);
    assert!(keeper.counter(&format!("samsa_bytes_in_total{tp}")) > 50 * 10);
    assert_eq!(keeper.gauge(&format!("samsa_log_end_offset{tp}")), 50.0);
    // One sync an append, under SyncPolicy::Always.
    assert!(keeper.samples(&format!("samsa_log_flush_seconds{tp}")) >= 50);
    assert_eq!(
        keeper.sum(&format!("samsa_log_flush_records{tp}")),
        50.0,
        "each record made durable by exactly one sync"
    );

    let on_disk = |p: &samsa_log::Partition| -> f64 {
        p.segments()
            .unwrap()
            .iter()
            .map(|s| s.size_bytes())
            .sum::<u64>() as f64
    };
    assert_eq!(
        keeper.gauge(&format!("samsa_log_size_bytes{tp}")),
        on_disk(&p)
    );
    log.maintain().unwrap();
    assert!(keeper.counter(&format!("samsa_log_removed_bytes_total{tp}")) > 0);
    assert_eq!(
        keeper.gauge(&format!("samsa_log_size_bytes{tp}")),
        on_disk(&p),
        "retention's bytes are gone from the size"
    );
    let start = p.log_start_offset();
    assert!(start > 0);
    assert_eq!(
        keeper.gauge(&format!("samsa_log_start_offset{tp}")),
        start as f64
    );

    // A group member reads 10 of what is left: fetched records, its lag,
    // and the rebalance that let it in.
    let mut c = log
        .consumer(
            ConsumerConfig::new("g")
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .max_poll_records(10),
        )
        .unwrap();
    c.subscribe(&["t"]).unwrap();
    let mut read = 0;
    while read == 0 {
        read = c.poll(Duration::from_millis(50)).unwrap().len();
    }
    assert_eq!(read, 10);
    assert!(keeper.counter(&format!("samsa_messages_out_total{tp}")) >= 10);
    let lag = keeper.gauge("samsa_consumer_records_lag{group=g,partition=0,topic=t}");
    assert_eq!(lag, (50 - start - 10) as f64);
    assert_eq!(keeper.counter("samsa_group_rebalances_total{group=g}"), 1);
    c.close().unwrap();

    // A reopened log starts its gauges from what it finds.
    let size = on_disk(&p);
    drop(p);
    log.close().unwrap();
    let log = Log::builder()
        .sync(SyncPolicy::Always)
        .maintenance_interval(None)
        .open(tmp.path())
        .unwrap();
    assert_eq!(keeper.gauge(&format!("samsa_log_size_bytes{tp}")), size);
    assert_eq!(
        keeper.gauge(&format!("samsa_log_start_offset{tp}")),
        start as f64
    );
    assert_eq!(keeper.gauge(&format!("samsa_log_end_offset{tp}")), 50.0);
    log.close().unwrap();
}
