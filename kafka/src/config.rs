//! Where a cluster is, and samsa's settings as Kafka's.

use rdkafka::config::ClientConfig;
use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use samsa_log::producer::{Acks, Compression, ProducerConfig};
use std::time::Duration;

/// A Kafka cluster to connect to, and any librdkafka property to set
/// beside those mapped from samsa's configs (they win over the mapped
/// ones).
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port` pairs, comma-separated.
    pub bootstrap_servers: String,
    /// Further librdkafka properties (`security.protocol`, ...).
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    /// The cluster at `bootstrap_servers`.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            properties: Vec::new(),
        }
    }

    /// Sets a librdkafka property.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// A client config with the bootstrap servers, `mapped`, then the
    /// extra properties.
    pub(crate) fn client(&self, mapped: &[(&str, String)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in mapped {
            c.set(*k, v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// samsa's producer settings as Kafka's.
pub(crate) fn producer(config: &ProducerConfig) -> Vec<(&'static str, String)> {
    let acks = match config.acks {
        Acks::None => "0",
        Acks::Leader => "1",
        _ => "all",
    };
    let compression = match config.compression {
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
        _ => "none",
    };
    let mut out = vec![
        ("acks", acks.to_owned()),
        ("linger.ms", ms(config.linger)),
        ("enable.idempotence", config.idempotence.to_string()),
        (
            "batch.size",
            config.batch_bytes.min(i32::MAX as usize).to_string(),
        ),
        ("compression.type", compression.to_owned()),
        ("message.send.max.retries", config.retries.to_string()),
        ("retry.backoff.ms", ms(config.retry_backoff)),
        // Keyed records land where samsa's default partitioner (Kafka's
        // Java client's murmur2) puts them; librdkafka's default hashes
        // with CRC32.
        ("partitioner", "murmur2_random".to_owned()),
    ];
    if let Some(id) = &config.transactional_id {
        out.push(("transactional.id", id.clone()));
        out.push(("transaction.timeout.ms", ms(config.transaction_timeout)));
    }
    out
}

/// samsa's consumer settings as Kafka's.
pub(crate) fn consumer(config: &ConsumerConfig) -> Vec<(&'static str, String)> {
    let reset = match config.auto_offset_reset {
        AutoOffsetReset::Earliest => "earliest",
        AutoOffsetReset::Latest => "latest",
        _ => "error",
    };
    let isolation = match config.isolation_level {
        IsolationLevel::ReadCommitted => "read_committed",
        _ => "read_uncommitted",
    };
    // librdkafka takes assignors of one protocol only, where samsa (as
    // Kafka's Java client, whose default is `range` then
    // `cooperative-sticky`) may list both kinds: the first one's kind wins.
    let names: Vec<&str> = config.assignors.iter().map(|a| a.name()).collect();
    let cooperative = names.first() == Some(&"cooperative-sticky");
    let strategies: Vec<&str> = names
        .into_iter()
        .filter(|n| {
            if cooperative {
                *n == "cooperative-sticky"
            } else {
                ["range", "roundrobin"].contains(n)
            }
        })
        .collect();
    let mut out = vec![
        ("enable.auto.commit", config.enable_auto_commit.to_string()),
        ("auto.commit.interval.ms", ms(config.auto_commit_interval)),
        ("auto.offset.reset", reset.to_owned()),
        ("isolation.level", isolation.to_owned()),
        ("session.timeout.ms", ms(config.session_timeout)),
        ("max.poll.interval.ms", ms(config.max_poll_interval)),
        (
            "max.partition.fetch.bytes",
            config.max_partition_fetch_bytes.to_string(),
        ),
    ];
    if let Some(g) = &config.group_id {
        out.push(("group.id", g.clone()));
    }
    if let Some(i) = &config.group_instance_id {
        out.push(("group.instance.id", i.clone()));
    }
    if !strategies.is_empty() {
        out.push(("partition.assignment.strategy", strategies.join(",")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(m: &'a [(&str, String)], k: &str) -> Option<&'a str> {
        m.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn producer_settings_map_to_kafkas() {
        let c = ProducerConfig::default()
            .acks(Acks::Leader)
            .linger(Duration::from_millis(7))
            .transactional_id("tx");
        let m = producer(&c);
        assert_eq!(get(&m, "acks"), Some("1"));
        assert_eq!(get(&m, "linger.ms"), Some("7"));
        assert_eq!(get(&m, "transactional.id"), Some("tx"));
        assert_eq!(get(&m, "partitioner"), Some("murmur2_random"));
    }

    #[test]
    fn consumer_settings_map_to_kafkas() {
        let c = ConsumerConfig::new("g")
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .isolation_level(IsolationLevel::ReadCommitted);
        let m = consumer(&c);
        assert_eq!(get(&m, "group.id"), Some("g"));
        assert_eq!(get(&m, "auto.offset.reset"), Some("earliest"));
        assert_eq!(get(&m, "isolation.level"), Some("read_committed"));
        // samsa's default (Kafka's): range, then cooperative-sticky; one
        // protocol for librdkafka.
        assert_eq!(get(&m, "partition.assignment.strategy"), Some("range"));
    }

    #[test]
    fn extra_properties_win() {
        let k = KafkaConfig::new("b:1").set("acks", "0");
        let c = k.client(&[("acks", "all".to_owned())]);
        assert_eq!(c.get("acks"), Some("0"));
        assert_eq!(c.get("bootstrap.servers"), Some("b:1"));
    }
}
