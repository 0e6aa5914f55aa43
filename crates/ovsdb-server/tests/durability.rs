//! Durability: what a client was told is committed survives a restart and a `kill -9`, and
//! the file stays readable by Open vSwitch's `ovsdb-tool`.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Ours, insert_shelf as insert, run, schema, stored_numbers, temp_dir, write_schema};
use fvs_test_support::require_tool;
use serde_json::{Value, json};

#[test]
fn data_survives_a_restart_and_the_file_is_ovsdb_tools() {
    let dir = temp_dir("restart");
    write_schema(&dir, &schema());
    {
        let ours = Ours::start(&dir, &[]);
        let mut c = ours.connect();
        for n in 0..5 {
            let (reply, _) = c.call("transact", insert(n));
            assert!(reply["result"][0]["uuid"].is_array(), "{reply}");
        }
        let (reply, _) = c.call(
            "transact",
            json!(["Shop", {"op": "mutate", "table": "Shelf", "where": [["n", "==", 4]],
                "mutations": [["tags", "insert", ["set", ["t"]]]]}]),
        );
        assert_eq!(reply["result"], json!([{"count": 1}]));
    }
    let ours = Ours::start(&dir, &[]);
    assert_eq!(stored_numbers(&ours), (0..5).collect());
    let mut c = ours.connect();
    let (reply, _) = c.call(
        "transact",
        json!(["Shop", {"op": "select", "table": "Shelf", "where": [["n", "==", 4]], "columns": ["tags"]}]),
    );
    assert_eq!(reply["result"], json!([{"rows": [{"tags": "t"}]}]));
    // Open vSwitch reads the same file: the rows are there for ovsdb-tool too.
    let out = run(require_tool("ovsdb-tool")
        .command()
        .arg("query")
        .arg(dir.join("db"))
        .arg(
            json!(["Shop", {"op": "select", "table": "Shelf", "where": [], "columns": ["n"]}])
                .to_string(),
        ));
    let parsed: Value = serde_json::from_str(&out).expect("ovsdb-tool query prints JSON");
    assert_eq!(parsed[0]["rows"].as_array().map(Vec::len), Some(5));
}

#[test]
fn kill_9_keeps_every_acknowledged_transaction() {
    let dir = temp_dir("kill9");
    write_schema(&dir, &schema());
    let mut ours = Ours::start(&dir, &[]);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    // Four clients commit as fast as they can; each records what the server acknowledged.
    for w in 0..4u64 {
        let mut c = ours.connect();
        let acked = acked.clone();
        let sent = sent.clone();
        writers.push(std::thread::spawn(move || {
            for i in 0.. {
                let n = w * 1_000_000 + i;
                sent.fetch_add(1, Ordering::SeqCst);
                if !c.try_send(&json!({"method": "transact", "params": insert(n), "id": n})) {
                    return; // the server was killed between two transactions
                }
                match c.next_message() {
                    Some(reply) if reply["result"][0]["uuid"].is_array() => {
                        acked.lock().expect("acked").insert(n);
                    }
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(700));
    ours.kill9();
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(
        acked.len() > 10,
        "too few transactions before the kill: {}",
        acked.len()
    );
    let ours = Ours::start(&dir, &[]);
    let stored = stored_numbers(&ours);
    let missing: Vec<&u64> = acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // At most one transaction per client can be committed without its reply arriving.
    assert!(stored.len() <= acked.len() + 4);
}

#[test]
fn a_torn_tail_is_cut_and_the_rest_kept() {
    let dir = temp_dir("torn");
    write_schema(&dir, &schema());
    {
        let ours = Ours::start(&dir, &[]);
        let mut c = ours.connect();
        for n in 0..3 {
            c.call("transact", insert(n));
        }
    }
    // A crash in the middle of writing a record leaves half a header and body.
    let db = dir.join("db");
    let mut bytes = std::fs::read(&db).expect("read db");
    bytes
        .extend_from_slice(b"OVSDB JSON 200 0123456789abcdef0123456789abcdef01234567\n{\"Shelf\":");
    std::fs::write(&db, bytes).expect("tear db");
    let ours = Ours::start(&dir, &[]);
    assert_eq!(stored_numbers(&ours), (0..3).collect());
    let mut c = ours.connect();
    let (reply, _) = c.call("transact", insert(3));
    assert!(reply["result"][0]["uuid"].is_array(), "{reply}");
    drop(ours);
    // The repaired file holds every record, as Open vSwitch reads it.
    let log = run(require_tool("ovsdb-tool")
        .command()
        .arg("show-log")
        .arg(&db));
    assert_eq!(
        log.lines().filter(|l| l.starts_with("record ")).count(),
        5,
        "{log}"
    );
}
