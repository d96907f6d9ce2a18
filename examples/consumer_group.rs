//! Consumer groups: two members of group "billing" share a topic's
//! partitions, a second group "audit" reads the same records on its own,
//! then one billing member leaves and the other takes over its partitions.
//! Every rebalance is printed by the members' `RebalanceListener`, which
//! runs inside `poll` and commits before partitions are given up.
//!
//! Run with `cargo run --example consumer_group`.

use samsa_log::consumer::{AutoOffsetReset, ConsumerConfig, RebalanceListener};
use samsa_log::topic::TopicConfig;
use samsa_log::{Consumer, Log, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 4;
const CUSTOMERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

/// Prints a member's partition changes; commits before giving partitions
/// up, so the next owner starts where this one stopped.
struct PrintRebalance {
    member: &'static str,
}

impl RebalanceListener for PrintRebalance {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[(String, u32)]) {
        println!("  [{}] revoked  {:?}", self.member, numbers(partitions));
        if let Err(e) = consumer.commit() {
            println!("  [{}] commit before revoke failed: {e}", self.member);
        }
    }

    fn on_partitions_assigned(&mut self, _consumer: &mut Consumer, partitions: &[(String, u32)]) {
        println!("  [{}] assigned {:?}", self.member, numbers(partitions));
    }
}

/// A consumer and what it has processed: (partition, offset) of each record.
struct Member {
    name: &'static str,
    consumer: Consumer,
    processed: Vec<(u32, u64)>,
}

impl Member {
    fn new(log: &Log, group: &str, name: &'static str) -> samsa_log::Result<Self> {
        let config = ConsumerConfig::new(group)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false) // commit explicitly after processing
            .max_poll_records(8); // small batches, so the members interleave
        let mut consumer = log.consumer(config)?;
        consumer.subscribe_with(&[TOPIC], PrintRebalance { member: name })?;
        Ok(Member {
            name,
            consumer,
            processed: Vec::new(),
        })
    }

    /// One poll: follows the group (callbacks run here), processes what
    /// came back, commits it. Returns how many records it processed.
    fn poll_once(&mut self) -> samsa_log::Result<usize> {
        let batch = self.consumer.poll(Duration::from_millis(5))?;
        for r in &batch {
            // "Processing": here, remembering what was seen.
            self.processed.push((r.partition(), r.offset()));
        }
        if !batch.is_empty() {
            self.consumer.commit()?; // at-least-once: commit after processing
        }
        Ok(batch.len())
    }

    fn partitions(&self) -> Vec<u32> {
        numbers(&self.consumer.assignment())
    }
}

fn numbers(partitions: &[(String, u32)]) -> Vec<u32> {
    let mut v: Vec<u32> = partitions.iter().map(|(_, p)| *p).collect();
    v.sort_unstable();
    v
}

/// Polls the members in turn until `done` holds; gives up after 10 s.
fn poll_until(members: &mut [&mut Member], mut done: impl FnMut(&[&mut Member]) -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done(members) {
        assert!(Instant::now() < give_up, "the group did not settle in 10 s");
        for m in members.iter_mut() {
            m.poll_once().expect("poll");
        }
    }
}

/// Produces 5 orders for every customer, keyed by customer.
fn produce_wave(log: &Log, wave: u32) -> samsa_log::Result<()> {
    let producer = log.producer();
    for i in 0..5 {
        for customer in CUSTOMERS {
            let value = format!("wave {wave} order {i} of {customer}");
            let _delivery = producer.send(TOPIC, Record::new(&value).key(customer))?;
        }
    }
    producer.close() // flushes: everything is in the log
}

fn high_watermarks(log: &Log) -> samsa_log::Result<Vec<u64>> {
    Ok(log
        .topic(TOPIC)?
        .partitions()
        .iter()
        .map(|p| p.high_watermark())
        .collect())
}

/// Every (partition, offset) in the topic now.
fn all_records(log: &Log) -> samsa_log::Result<BTreeSet<(u32, u64)>> {
    let hw = high_watermarks(log)?;
    Ok((0..PARTITIONS)
        .flat_map(|p| (0..hw[p as usize]).map(move |o| (p, o)))
        .collect())
}

fn print_group(log: &Log, group: &str) -> samsa_log::Result<()> {
    let d = log.group(group).describe()?;
    println!(
        "  group({group}).describe(): state {}, generation {}, assignor {}",
        d.state,
        d.generation,
        d.assignor.as_deref().unwrap_or("-")
    );
    for m in &d.members {
        println!(
            "    member {} owns {:?}",
            m.member_id,
            numbers(&m.assignment)
        );
    }
    let lag = log.group(group).lag()?;
    let per: Vec<String> = lag
        .iter()
        .map(|l| format!("p{}: {}", l.partition, l.lag))
        .collect();
    let total: u64 = lag.iter().map(|l| l.lag).sum();
    println!("  lag({group}): {} (total {total})", per.join(", "));
    Ok(())
}

fn main() -> samsa_log::Result<()> {
    let log = Log::in_memory();
    log.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?;

    // 1. Group "billing" forms: the first member takes every partition;
    //    when the second joins, a rebalance splits them.
    println!("billing-1 joins group \"billing\"");
    let mut b1 = Member::new(&log, "billing", "billing-1")?;
    poll_until(&mut [&mut b1], |m| {
        m[0].partitions().len() == PARTITIONS as usize
    });
    println!("billing-2 joins group \"billing\"");
    let mut b2 = Member::new(&log, "billing", "billing-2")?;
    poll_until(&mut [&mut b1, &mut b2], |m| {
        !m[0].partitions().is_empty()
            && !m[1].partitions().is_empty()
            && m[0].partitions().len() + m[1].partitions().len() == PARTITIONS as usize
    });
    println!(
        "billing-1 owns {:?}, billing-2 owns {:?}",
        b1.partitions(),
        b2.partitions()
    );
    println!("(describe() below names them by member id: consumer-1, consumer-2)");
    let owned: BTreeSet<u32> = b1.partitions().into_iter().chain(b2.partitions()).collect();
    assert_eq!(
        owned.len(),
        PARTITIONS as usize,
        "each partition has one owner"
    );

    // 2. 40 keyed orders; the two members poll in turn and share them.
    produce_wave(&log, 1)?;
    println!(
        "produced 40 orders, per partition {:?}",
        high_watermarks(&log)?
    );
    let wave1 = all_records(&log)?;
    poll_until(&mut [&mut b1, &mut b2], |m| {
        m.iter().map(|m| m.processed.len()).sum::<usize>() >= wave1.len()
    });
    for m in [&b1, &b2] {
        println!(
            "{} processed {} records from partitions {:?}",
            m.name,
            m.processed.len(),
            m.processed.iter().map(|(p, _)| *p).collect::<BTreeSet<_>>()
        );
    }

    // 3. A second group reads the same records, independently.
    let mut audit = Member::new(&log, "audit", "audit-1")?;
    poll_until(&mut [&mut audit], |m| m[0].processed.len() >= wave1.len());
    println!(
        "audit-1 (group \"audit\") processed {} records from partitions {:?}",
        audit.processed.len(),
        audit.partitions()
    );

    // 4. More orders arrive; then billing-2 leaves before reading them.
    produce_wave(&log, 2)?;
    println!("produced 40 more orders; before billing-2 leaves:");
    print_group(&log, "billing")?;
    println!("billing-2 closes");
    let b2_processed = std::mem::take(&mut b2.processed);
    b2.consumer.close()?;

    // billing-1's next polls run the rebalance: the callbacks print it.
    let everything = all_records(&log)?;
    let left = everything.len() - wave1.len();
    let before = b1.processed.len();
    poll_until(&mut [&mut b1], |m| {
        m[0].partitions().len() == PARTITIONS as usize && m[0].processed.len() >= before + left
    });
    println!(
        "billing-1 now owns {:?} and processed {} more records",
        b1.partitions(),
        b1.processed.len() - before
    );
    println!("after the rebalance:");
    print_group(&log, "billing")?;
    poll_until(&mut [&mut audit], |m| {
        m[0].processed.len() >= everything.len()
    });

    // The key facts.
    let mut by_billing: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for r in b1.processed.iter().chain(&b2_processed) {
        *by_billing.entry(*r).or_default() += 1;
    }
    assert_eq!(
        by_billing.keys().copied().collect::<BTreeSet<_>>(),
        everything,
        "billing processed every record"
    );
    assert!(
        by_billing.values().all(|&n| n == 1),
        "committed before every handover, so no record was processed twice"
    );
    let by_audit: BTreeSet<(u32, u64)> = audit.processed.iter().copied().collect();
    assert_eq!(audit.processed.len(), everything.len());
    assert_eq!(by_audit, everything, "audit saw every record");
    assert_eq!(b1.partitions(), (0..PARTITIONS).collect::<Vec<_>>());
    let d = log.group("billing").describe()?;
    assert_eq!(d.members.len(), 1);
    assert_eq!(numbers(&d.members[0].assignment), b1.partitions());
    assert_eq!(
        log.group("billing")
            .lag()?
            .iter()
            .map(|l| l.lag)
            .sum::<u64>(),
        0
    );
    println!(
        "ok: billing processed all {} records once ({} by billing-1, {} by billing-2), \
         audit saw all {}, billing-1 owns every partition",
        everything.len(),
        b1.processed.len(),
        b2_processed.len(),
        audit.processed.len()
    );
    Ok(())
}
