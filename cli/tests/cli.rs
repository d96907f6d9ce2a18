//! The `samsa` tool end to end, as an operator runs it: against a log
//! made by the library and held open by this process (its live owner),
//! reading read-only; listings as tables and as JSON; errors as one line
//! and exit status 1.

use samsa_log::consumer::ConsumerConfig;
use samsa_log::group::OffsetAndMetadata;
use samsa_log::record::Header;
use samsa_log::topic::TopicConfig;
use samsa_log::{Log, Record};
mod common;

use common::{samsa, stdout};
use std::path::Path;
use std::process::{Command, Output};

/// A live log: `orders` (2 partitions, 10 records, one with headers and a
/// binary value), `empty`, and group `billing` with a committed offset.
fn live_log(dir: &Path) -> Log {
    let log = Log::open(dir).unwrap();
    let orders = log
        .create_topic("orders", TopicConfig::default().partitions(2))
        .unwrap();
    log.create_topic("empty", TopicConfig::default()).unwrap();
    for i in 0..10u32 {
        let p = orders.partition(i % 2).unwrap();
        p.append(&[Record::new(format!("order {i}")).key(format!("k{i}"))])
            .unwrap();
    }
    orders
        .partition(0)
        .unwrap()
        .append(&[Record::new(&[0xffu8, 0x00][..]).headers(vec![Header::new("h", b"v")])])
        .unwrap();
    let mut c = log.consumer(ConsumerConfig::new("billing")).unwrap();
    c.commit_offsets(&[(("orders".to_owned(), 0), OffsetAndMetadata::new(2))])
        .unwrap();
    log
}

#[test]
fn topics_list_and_describe_a_live_log() {
    let tmp = tempfile::tempdir().unwrap();
    let _owner = live_log(tmp.path());
    let table = stdout(&samsa(tmp.path(), &["topics", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("TOPIC"));
    assert!(
        lines[1].starts_with("empty") && lines[2].starts_with("orders"),
        "{table}"
    );
    let orders: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(orders[..3], ["orders", "2", "11"], "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&samsa(tmp.path(), &["topics", "list", "--json"]))).unwrap();
    assert_eq!(json[1]["topic"], "orders");
    assert_eq!(json[1]["offsets"], 11);

    let d: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        tmp.path(),
        &["topics", "describe", "orders", "--json"],
    )))
    .unwrap();
    assert_eq!(d["partitions"][0]["end_offset"], 6);
    assert_eq!(d["partitions"][1]["end_offset"], 5);
    assert_eq!(d["settings"]["cleanup.policy"], "delete");
    let text = stdout(&samsa(tmp.path(), &["topics", "describe", "orders"]));
    assert!(
        text.contains("LOG-START-OFFSET") && text.contains("retention.ms"),
        "{text}"
    );
}

#[test]
fn consume_prints_records_as_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let _owner = live_log(tmp.path());
    let text = stdout(&samsa(
        tmp.path(),
        &[
            "consume",
            "orders",
            "-p",
            "1",
            "--from",
            "earliest",
            "--print-key",
        ],
    ));
    let want: Vec<String> = (0..10)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("k{i}\torder {i}"))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), want);
    // Latest (Kafka's default) prints nothing new; a limit stops early.
    assert_eq!(stdout(&samsa(tmp.path(), &["consume", "orders"])), "");
    let two = stdout(&samsa(
        tmp.path(),
        &["consume", "orders", "--from", "earliest", "-n", "2"],
    ));
    assert_eq!(two.lines().count(), 2);

    let json = stdout(&samsa(
        tmp.path(),
        &[
            "consume", "orders", "-p", "0", "--from", "5", "--format", "json",
        ],
    ));
    let r: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(r["offset"], 5);
    assert_eq!(r["partition"], 0);
    assert_eq!(r["value"], "\\xff\\x00", "binary escaped");
    assert_eq!(r["headers"][0]["key"], "h");
    assert_eq!(r["headers"][0]["value"], "v");
    assert!(r["timestamp"].as_i64().unwrap() > 0);
}

#[test]
fn groups_show_committed_offsets_lag_and_members() {
    let tmp = tempfile::tempdir().unwrap();
    let owner = live_log(tmp.path());
    assert_eq!(stdout(&samsa(tmp.path(), &["groups", "list"])), "billing\n");
    // A member of the owner's process takes both partitions.
    let mut member = owner
        .consumer(ConsumerConfig::new("billing").enable_auto_commit(false))
        .unwrap();
    member.subscribe(&["orders"]).unwrap();
    while member.assignment().len() < 2 {
        member.poll(std::time::Duration::from_millis(5)).unwrap();
    }
    let member_id = owner.group("billing").describe().unwrap().members[0]
        .member_id
        .clone();
    let json: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        tmp.path(),
        &["groups", "describe", "billing", "--json"],
    )))
    .unwrap();
    assert_eq!(json[0]["partition"], 0);
    assert_eq!(json[0]["committed_offset"], 2);
    assert_eq!(json[0]["end_offset"], 6);
    assert_eq!(json[0]["lag"], 4);
    assert_eq!(json[0]["consumer_id"], member_id.as_str());
    assert_eq!(json[1]["partition"], 1, "owned, with no commit yet");
    assert_eq!(json[1]["committed_offset"], serde_json::Value::Null);
    assert_eq!(json[1]["consumer_id"], member_id.as_str());
    let table = stdout(&samsa(tmp.path(), &["groups", "describe", "billing"]));
    assert!(table.starts_with("GROUP"), "{table}");
    assert!(table.contains(&member_id), "{table}");

    let members: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        tmp.path(),
        &["groups", "describe", "billing", "--members", "--json"],
    )))
    .unwrap();
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["member_id"], member_id.as_str());
    assert_eq!(members[0]["topics"][0], "orders");
    assert_eq!(members[0]["assignment"].as_array().unwrap().len(), 2);
    let state: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        tmp.path(),
        &["groups", "describe", "billing", "--state", "--json"],
    )))
    .unwrap();
    assert_eq!(state["state"], "Stable");
    assert_eq!(state["members"], 1);
    assert!(state["generation"].as_u64().unwrap() >= 1);
    let table = stdout(&samsa(
        tmp.path(),
        &["groups", "describe", "billing", "--state"],
    ));
    assert!(table.contains("Stable") && table.contains("ago"), "{table}");

    // The member leaves: the group is recorded empty.
    member.close().unwrap();
    let state: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        tmp.path(),
        &["groups", "describe", "billing", "--state", "--json"],
    )))
    .unwrap();
    assert_eq!(state["state"], "Empty");
    let unknown = samsa(tmp.path(), &["groups", "describe", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn errors_are_one_line_and_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let _owner = live_log(tmp.path());
    for args in [
        &["consume", "nope"][..],
        &["topics", "describe", "nope"],
        &["groups", "describe", "nobody"],
        &["consume", "orders", "--from", "yesterday"],
    ] {
        let o = samsa(tmp.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("samsa: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = samsa(&tmp.path().join("missing"), &["topics", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
}

fn samsa_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_samsa"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails early may not read its input: a broken pipe
    // here is its business.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn create_produce_reset_and_delete_on_a_log_no_one_holds() {
    let tmp = tempfile::tempdir().unwrap();
    drop(live_log(tmp.path()));
    let dir = tmp.path();
    stdout(&samsa(
        dir,
        &[
            "topics",
            "create",
            "events",
            "--partitions",
            "2",
            "-c",
            "retention.ms=60000",
            "-c",
            "cleanup.policy=compact",
        ],
    ));
    let d: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        dir,
        &["topics", "describe", "events", "--json"],
    )))
    .unwrap();
    assert_eq!(d["settings"]["retention.ms"], "60000");
    assert_eq!(d["settings"]["cleanup.policy"], "compact");
    assert_eq!(d["partitions"].as_array().unwrap().len(), 2);

    let sent = samsa_with_stdin(
        dir,
        &[
            "produce",
            "events",
            "--key-separator",
            ":",
            "-H",
            "source=cli",
            "-p",
            "1",
        ],
        "a:one\nb:two\nc:three\n",
    );
    assert!(stdout(&sent).contains("Sent 3"));
    let json = stdout(&samsa(
        dir,
        &[
            "consume", "events", "-p", "1", "--from", "earliest", "--format", "json",
        ],
    ));
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["key"], "b");
    assert_eq!(records[1]["value"], "two");
    assert_eq!(records[1]["headers"][0]["value"], "cli");

    assert!(stdout(&samsa(
        dir,
        &["topics", "add-partitions", "events", "--count", "1"]
    ))
    .contains("3 partitions"));
    stdout(&samsa(
        dir,
        &["topics", "alter", "events", "-c", "retention.ms=-1"],
    ));
    let d: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        dir,
        &["topics", "describe", "events", "--json"],
    )))
    .unwrap();
    assert_eq!(d["settings"]["retention.ms"], "-1");
    assert_eq!(
        d["settings"]["cleanup.policy"], "compact",
        "the others stay"
    );
    let bad = samsa(dir, &["topics", "alter", "events", "-c", "segment.bytes=1"]);
    assert_eq!(bad.status.code(), Some(1));

    // A dry run changes nothing; --execute does.
    let plan = stdout(&samsa(
        dir,
        &[
            "groups",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-earliest",
        ],
    ));
    assert!(plan.contains("Dry run"), "{plan}");
    let committed = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&stdout(&samsa(
            dir,
            &["groups", "describe", "billing", "--json"],
        )))
        .unwrap()
    };
    assert_eq!(committed(dir)[0]["committed_offset"], 2);
    let done: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        dir,
        &[
            "groups",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--shift-by",
            "-1",
            "--execute",
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(done[0]["from"], 2);
    assert_eq!(done[0]["to"], 1);
    assert_eq!(committed(dir)[0]["committed_offset"], 1);
    stdout(&samsa(dir, &["groups", "delete", "billing"]));
    assert_eq!(stdout(&samsa(dir, &["groups", "list"])), "");
    stdout(&samsa(dir, &["topics", "delete", "events"]));
    assert!(!stdout(&samsa(dir, &["topics", "list"])).contains("events"));
}

#[test]
fn changes_are_refused_while_the_owner_holds_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let _owner = live_log(tmp.path());
    for args in [
        &["topics", "create", "x"][..],
        &["topics", "delete", "orders"],
        &["groups", "delete", "billing"],
    ] {
        let o = samsa(tmp.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(err.contains("lock"), "{args:?}: {err}");
    }
    let o = samsa_with_stdin(tmp.path(), &["produce", "orders"], "x\n");
    assert_eq!(o.status.code(), Some(1));
    // Reading still works beside it.
    assert!(stdout(&samsa(tmp.path(), &["topics", "list"])).contains("orders"));
}

/// A log with sealed segments (small ones) in topic `rolled`, closed.
fn rolled_log(dir: &Path) -> std::path::PathBuf {
    let log = Log::open(dir).unwrap();
    let t = log
        .create_topic(
            "rolled",
            TopicConfig::default()
                .segment_bytes(1024)
                .index_interval_bytes(100),
        )
        .unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..60u32 {
        p.append(&[Record::new(format!("value {i}")).key(format!("k{i}"))])
            .unwrap();
    }
    let first = p.segments().unwrap()[0].files();
    log.close().unwrap();
    first.log
}

#[test]
fn dump_prints_batches_records_and_index_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let seg = rolled_log(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_samsa"))
        .args(["dump", "--print-data-log"])
        .arg(&seg)
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(text.starts_with("Dumping "), "{text}");
    let batches: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .collect();
    assert!(batches.len() > 3, "{text}");
    assert!(
        batches[0].starts_with("baseOffset: 0 lastOffset: 0 count: 1"),
        "{text}"
    );
    assert!(batches.iter().all(|b| b.ends_with("isvalid: true")));
    assert!(
        text.contains("| offset: 1 ") && text.contains("key: k1 payload: value 1"),
        "{text}"
    );

    let index = seg.with_extension("index");
    let o = Command::new(env!("CARGO_BIN_EXE_samsa"))
        .arg("dump")
        .arg(&index)
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("offset: ")),
        "{text}"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_samsa"))
        .arg("dump")
        .arg(tmp.path().join("meta.properties"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn verify_passes_an_intact_log_and_names_the_damage_in_another() {
    let tmp = tempfile::tempdir().unwrap();
    let seg = rolled_log(tmp.path());
    let ok = samsa(tmp.path(), &["verify"]);
    let text = stdout(&ok);
    assert!(text.starts_with("OK: "), "{text}");
    // A live owner does not make it fail.
    {
        let _owner = Log::open(tmp.path()).unwrap();
        assert!(stdout(&samsa(tmp.path(), &["verify"])).starts_with("OK: "));
    }
    // One byte flipped inside the first batch's records.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[70] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let bad = samsa(tmp.path(), &["verify"]);
    assert_eq!(bad.status.code(), Some(2));
    let text = String::from_utf8(bad.stdout).unwrap();
    assert!(
        text.contains(&format!("{}: damaged batch at byte 0", seg.display())),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("DAMAGED"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &String::from_utf8(samsa(tmp.path(), &["verify", "--json"]).stdout).unwrap(),
    )
    .unwrap();
    assert_eq!(json["ok"], false);
    // dump shows the batch as invalid.
    let o = Command::new(env!("CARGO_BIN_EXE_samsa"))
        .arg("dump")
        .arg(&seg)
        .output()
        .unwrap();
    assert!(stdout(&o)
        .lines()
        .nth(1)
        .unwrap()
        .ends_with("isvalid: false"));
}

#[test]
fn consume_from_a_timestamp_and_as_a_group_member() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let log = Log::open(dir).unwrap();
        let p = log
            .create_topic("ts", TopicConfig::default())
            .unwrap()
            .partition(0)
            .unwrap();
        for i in 0..10i64 {
            p.append(&[Record::new(format!("at {i}")).timestamp(5_000 + i * 100)])
                .unwrap();
        }
        log.close().unwrap();
    }
    let from = stdout(&samsa(dir, &["consume", "ts", "--from-timestamp", "5650"]));
    assert_eq!(from.lines().collect::<Vec<_>>(), ["at 7", "at 8", "at 9"]);
    assert_eq!(
        stdout(&samsa(dir, &["consume", "ts", "--from-timestamp", "9999"])),
        ""
    );

    // A member reads 4, commits them; the next run goes on from there.
    let first = stdout(&samsa(
        dir,
        &[
            "consume", "ts", "--group", "cli", "--from", "earliest", "-n", "4",
        ],
    ));
    assert_eq!(
        first.lines().collect::<Vec<_>>(),
        ["at 0", "at 1", "at 2", "at 3"]
    );
    let rest = stdout(&samsa(
        dir,
        &["consume", "ts", "--group", "cli", "--from", "earliest"],
    ));
    assert_eq!(rest.lines().count(), 6, "{rest}");
    assert!(rest.starts_with("at 4\n"), "{rest}");
    let lag: serde_json::Value = serde_json::from_str(&stdout(&samsa(
        dir,
        &["groups", "describe", "cli", "--json"],
    )))
    .unwrap();
    assert_eq!(lag[0]["committed_offset"], 10);
    assert_eq!(lag[0]["lag"], 0);
}

#[test]
fn produce_compressed_then_dump_and_consume_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = samsa(
        dir,
        &["topics", "create", "z", "-c", "compression.type=producer"],
    );
    assert!(o.status.success(), "{o:?}");
    let lines: String = (0..100)
        .map(|i| format!(r#"{{"n":{i},"event":"x"}}"#) + "\n")
        .collect();
    let o = samsa_with_stdin(dir, &["produce", "z", "--compression", "lz4"], &lines);
    assert!(o.status.success(), "{o:?}");
    let segment = dir.join("topics/z/0/00000000000000000000.log");
    let dump = stdout(&samsa(
        dir,
        &["dump", segment.to_str().unwrap(), "--print-data-log"],
    ));
    assert!(dump.contains("compresscodec: lz4"), "{dump}");
    assert!(dump.contains(r#"payload: {"n":99,"event":"x"}"#), "{dump}");
    let read = stdout(&samsa(dir, &["consume", "z", "--from", "earliest"]));
    assert_eq!(read, lines);
    let bad = samsa_with_stdin(dir, &["produce", "z", "--compression", "brotli"], "x\n");
    assert_eq!(bad.status.code(), Some(2), "clap refuses an unknown codec");
}
