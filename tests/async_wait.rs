//! Scenario: a task waits, without blocking its thread, for a partition
//! to reach an offset (`Partition::wait_for`, issue 15): ready at once
//! when the record is there, woken by the append that publishes it
//! otherwise (from another thread, with a minute's linger on nothing), and
//! a typed error when the partition closes meanwhile. On disk and in
//! memory.

mod common;

use common::block_on;
use samsa_log::topic::TopicConfig;
use samsa_log::{Error, Log, Record};
use std::time::Duration;

fn on_both(f: impl Fn(&str, Log)) {
    let tmp = tempfile::tempdir().unwrap();
    f("disk", Log::open(tmp.path().join("log")).unwrap());
    f("memory", Log::in_memory());
}

#[test]
fn a_task_waits_for_an_offset_and_is_woken_by_the_append() {
    on_both(|what, log| {
        let t = log.create_topic("t", TopicConfig::default()).unwrap();
        let p = t.partition(0).unwrap();
        p.append(&[Record::new(b"r0")]).unwrap();
        assert_eq!(block_on(p.wait_for(0)).unwrap(), 1, "{what}: ready at once");

        // Many tasks' worth of waits, each woken by an append made on
        // another thread after the wait began.
        for n in 1..20u64 {
            let appender = {
                let p = p.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    p.append(&[Record::new(format!("r{n}"))]).unwrap();
                })
            };
            let hw = block_on(p.wait_for(n)).unwrap();
            assert!(hw > n, "{what}: {hw} after waiting for {n}");
            let read = p.read(n, 1 << 20).unwrap();
            let first = read.iter().next().unwrap();
            assert_eq!(first.offset(), n, "{what}");
            appender.join().unwrap();
        }
        let stuck = {
            let p = p.clone();
            std::thread::spawn(move || block_on(p.wait_for(1_000)))
        };
        std::thread::sleep(Duration::from_millis(20));
        log.close().unwrap();
        let e = stuck.join().unwrap().unwrap_err();
        assert!(matches!(e, Error::Closed { .. }), "{what}: {e:?}");
    });
}
