//! Appends records to a partition on disk, reads them back, looks one up
//! by timestamp, and reopens the log to show it survives.
//!
//! Run with `cargo run --example quickstart`.

use samsa::{Header, Partition, PartitionConfig, Record, SyncPolicy};

fn main() -> samsa::Result<()> {
    let dir = std::env::temp_dir().join(format!("samsa-quickstart-{}", std::process::id()));
    let config = PartitionConfig::default().sync(SyncPolicy::Always);
    let log = Partition::open(&dir, config.clone())?;
    println!("opened a partition in {}", dir.display());

    // One append is one batch: encoded once, one CRC, one write, one fsync.
    let trace = [Header::new("trace-id", b"7f3a")];
    let orders = [
        Record::new(b"{\"item\":\"book\",\"qty\":1}")
            .key(b"alice")
            .timestamp(1_000),
        Record::new(b"{\"item\":\"pen\",\"qty\":3}")
            .key(b"bob")
            .timestamp(2_000),
        Record::new(b"{\"item\":\"lamp\",\"qty\":1}")
            .key(b"alice")
            .timestamp(3_000)
            .headers(&trace),
    ];
    let info = log.append(&orders)?;
    println!(
        "appended {} records at offsets {}..={} (durable: SyncPolicy::Always)",
        orders.len(),
        info.base_offset,
        info.last_offset
    );
    let more = log.append(&[Record::new(b"{\"item\":\"mug\",\"qty\":2}")
        .key(b"carol")
        .timestamp(4_000)])?;
    println!("appended 1 record at offset {}", more.base_offset);

    println!("reading from offset 0:");
    for r in &log.read(0, 1 << 20)? {
        let headers: Vec<String> = r.headers().map(|h| h.key.to_string()).collect();
        println!(
            "  offset {} ts {} key {} value {} headers {:?}",
            r.offset(),
            r.timestamp(),
            String::from_utf8_lossy(r.key().unwrap_or_default()),
            String::from_utf8_lossy(r.value().unwrap_or_default()),
            headers
        );
    }

    if let Some(hit) = log.offset_for_timestamp(2_500)? {
        println!(
            "first record at or after ts 2500: offset {} (ts {})",
            hit.offset, hit.timestamp
        );
    }

    log.close()?;
    let log = Partition::open(&dir, config)?;
    println!(
        "reopened: log start offset {}, high watermark {}",
        log.log_start_offset(),
        log.high_watermark()
    );
    let from_two: Vec<u64> = log.read(2, 1 << 20)?.iter().map(|r| r.offset()).collect();
    println!("reading from offset 2 after reopen: offsets {from_two:?}");
    log.close()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
