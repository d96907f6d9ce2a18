//! A tour on disk: a log directory with a keyed, multi-partition topic fed
//! by a producer; then one partition used directly: append, read, look up
//! by time, reopen.
//!
//! Run with `cargo run --example quickstart`.

use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::record::Header;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Partition, Record};

fn main() -> samsa_log::Result<()> {
    let dir = std::env::temp_dir().join(format!("samsa-quickstart-{}", std::process::id()));

    // 1. A log directory, a topic of 3 partitions, a producer.
    let log = Log::open(dir.join("log"))?;
    log.create_topic("orders", TopicConfig::default().partitions(3))?;
    let producer = log.producer();
    let mut deliveries = Vec::new();
    for (customer, item) in [
        ("alice", "book"),
        ("bob", "pen"),
        ("alice", "lamp"),
        ("carol", "mug"),
    ] {
        let value = format!("{customer} ordered a {item}");
        // send() buffers the record and returns at once; the key picks the
        // partition (Kafka's murmur2), so one customer's orders stay in order.
        deliveries.push(producer.send("orders", Record::new(&value).key(customer))?);
    }
    for d in deliveries {
        let md = d.wait()?; // appended and synced (acks=all, SyncPolicy::Always)
        println!(
            "produced to {}/{} at offset {}",
            md.topic, md.partition, md.offset
        );
    }
    let orders = log.topic("orders")?;
    for (p, partition) in orders.partitions().iter().enumerate() {
        for r in &partition.read(0, 1 << 20)? {
            println!(
                "  partition {p} offset {} key {} value {:?}",
                r.offset(),
                String::from_utf8_lossy(r.key().unwrap_or_default()),
                String::from_utf8_lossy(r.value().unwrap_or_default())
            );
        }
    }
    producer.close()?;
    log.close()?;

    // 2. One partition log on its own: the layer below topics.
    let config = PartitionConfig::default().sync(SyncPolicy::Always);
    let partition = Partition::open(dir.join("partition"), config.clone())?;
    println!("opened a partition in {}", partition.dir().display());

    // One append is one batch: encoded once, one CRC, one write, one fsync.
    let trace = [Header::new("trace-id", b"7f3a")];
    let batch = [
        Record::new(b"first").key(b"a").timestamp(1_000),
        Record::new(b"second").key(b"b").timestamp(2_000),
        Record::new(b"third").timestamp(3_000).headers(&trace),
    ];
    let info = partition.append(&batch)?;
    println!(
        "appended {} records at offsets {}..={}",
        batch.len(),
        info.base_offset,
        info.last_offset
    );
    for r in &partition.read(1, 1 << 20)? {
        let headers: Vec<&str> = r.headers().map(|h| h.key).collect();
        println!(
            "  offset {} ts {} value {:?} headers {headers:?}",
            r.offset(),
            r.timestamp(),
            String::from_utf8_lossy(r.value().unwrap_or_default())
        );
    }
    if let Some(hit) = partition.offset_for_timestamp(2_500)? {
        println!(
            "first record at or after ts 2500: offset {} (ts {})",
            hit.offset, hit.timestamp
        );
    }
    partition.close()?;
    let partition = Partition::open(dir.join("partition"), config)?;
    println!(
        "reopened: log start offset {}, high watermark {}",
        partition.log_start_offset(),
        partition.high_watermark()
    );
    partition.close()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
