//! Compaction: the compacted file holds what the log held, as Open vSwitch's `ovsdb-tool`
//! reads it (and as `ovsdb-tool compact` would have written it), and no acknowledged
//! transaction is lost to a compaction, whether the server then restarts, crashes, or is
//! killed while compacting under a stream of writes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Ours, insert_shelf as insert, run, schema, stored_numbers, temp_dir, write_schema};
use fvs_ovsdb::log::read_records;
use fvs_ovsdb_server::{CompactionPolicy, Config, Handle, Local, Remote, Server};
use fvs_test_support::require_tool;
use serde_json::{Value, json};

/// Options that make the server compact whenever its file has grown at all.
fn compact_eagerly() -> Vec<String> {
    [
        "--compact-min-interval=0",
        "--compact-min-records=0",
        "--compact-min-size=0",
        "--compact-growth=1",
    ]
    .map(String::from)
    .to_vec()
}

fn select_all() -> Value {
    json!(["Shop",
        {"op": "select", "table": "Shelf", "where": []},
        {"op": "select", "table": "Item", "where": []}])
}

/// `ovsdb-tool query` of every row, `_version` (not kept in files) dropped, rows sorted.
fn tool_query(db: &Path) -> Value {
    let out = run(require_tool("ovsdb-tool")
        .command()
        .arg("query")
        .arg(db)
        .arg(select_all().to_string()));
    let v: Value = serde_json::from_str(out.trim()).expect("ovsdb-tool query prints JSON");
    comparable(&v)
}

fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    for result in v.as_array_mut().into_iter().flatten() {
        if let Some(rows) = result["rows"].as_array_mut() {
            for r in rows.iter_mut() {
                if let Some(o) = r.as_object_mut() {
                    o.remove("_version");
                }
            }
            rows.sort_by_key(|r| r["_uuid"].to_string());
        }
    }
    v
}

fn show_log(db: &Path) -> String {
    run(require_tool("ovsdb-tool").command().arg("show-log").arg(db))
}

fn records(log: &str) -> usize {
    log.lines().filter(|l| l.starts_with("record ")).count()
}

/// A request on an in-process connection; its reply.
fn call(c: &Local, id: u64, method: &str, params: Value) -> Value {
    c.send(json!({"method": method, "params": params, "id": id}))
        .expect("valid request");
    loop {
        let m = c
            .recv_timeout(Duration::from_secs(10))
            .expect("a reply in time");
        if m["id"] == json!(id) {
            return m;
        }
    }
}

fn serve_in_process(dir: &Path) -> Handle {
    let server = Server::open(&Config {
        db: dir.join("db"),
        schema: Some(dir.join("schema.ovsschema")),
        remotes: vec![Remote::Unix(dir.join("db.sock"))],
    })
    .expect("open");
    // Only the explicit compaction below.
    server.set_compaction_policy(CompactionPolicy::NEVER);
    server.start()
}

#[test]
fn explicit_compaction_keeps_what_ovsdb_tool_sees() {
    let dir = temp_dir("compact");
    write_schema(&dir, &schema());
    let handle = serve_in_process(&dir);
    let c = handle.connect();
    let mut id = 0;
    let mut txn = |ops: Value| {
        id += 1;
        let reply = call(&c, id, "transact", ops);
        assert!(
            reply["result"]
                .as_array()
                .is_some_and(|r| r.iter().all(|o| o.get("error").is_none())),
            "{reply}"
        );
    };
    for n in 0..20 {
        txn(json!(["Shop",
            {"op": "insert", "table": "Item", "uuid-name": "i", "row": {"label": format!("i{n}"), "count": n}},
            {"op": "insert", "table": "Shelf", "row": {"name": format!("s{n}"), "n": n,
                "tags": ["set", ["a", format!("t{n}")]], "ids": ["map", [["k", format!("v{n}")]]],
                "items": ["named-uuid", "i"], "price": 1.5}},
            {"op": "comment", "comment": format!("shelf {n}")}]));
    }
    for n in 0..20 {
        txn(json!(["Shop",
            {"op": "mutate", "table": "Shelf", "where": [["n", "==", n]],
                "mutations": [["tags", "delete", "a"], ["ids", "insert", ["map", [["x", "y"]]]]]},
            {"op": "update", "table": "Shelf", "where": [["n", "==", n]], "row": {"open": true, "note": "n"}}]));
    }
    txn(json!(["Shop", {"op": "delete", "table": "Shelf", "where": [["n", "<", 5]]}]));

    let db = dir.join("db");
    let before = tool_query(&db);
    let len_before = std::fs::metadata(&db).expect("db").len();
    assert_eq!(records(&show_log(&db)), 42, "schema and 41 commits");
    // What Open vSwitch's own compaction makes of the same file.
    let theirs = dir.join("theirs.db");
    std::fs::copy(&db, &theirs).expect("copy");
    run(require_tool("ovsdb-tool")
        .command()
        .arg("compact")
        .arg(&theirs));

    handle.compact().expect("compact");

    let log = show_log(&db);
    assert_eq!(records(&log), 2, "schema and one snapshot:\n{log}");
    assert!(log.contains("\"compacting database online\""), "{log}");
    assert_eq!(tool_query(&db), before, "the same rows after compaction");
    assert!(std::fs::metadata(&db).expect("db").len() < len_before);
    // The snapshot holds exactly the rows and columns `ovsdb-tool compact` keeps.
    let tables = |file: &Path| -> Value {
        let contents = read_records(&std::fs::read(file).expect("read"));
        assert_eq!(contents.tail_error, None);
        assert_eq!(contents.records.len(), 2);
        contents.records[1]
            .as_object()
            .expect("object")
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    assert_eq!(tables(&db), tables(&theirs));

    // Commits go on into the new file, and the server's own view agrees with the file's.
    txn(json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "after", "n": 99}}]));
    let log = show_log(&db);
    assert_eq!(records(&log), 3, "{log}");
    let ours = comparable(&call(&c, 1000, "transact", select_all())["result"]);
    assert_eq!(tool_query(&db), ours);
    assert!(
        ours[0]["rows"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["name"] == "after")),
        "{ours}"
    );
    // No temporary file is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(&*dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Waits until the server has compacted its file on its own.
fn wait_for_compaction(db: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = show_log(db);
        if log.contains("\"compacting database online\"") {
            return log;
        }
        assert!(Instant::now() < deadline, "no compaction:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_crash_after_compaction_recovers_everything() {
    let dir = temp_dir("compact-crash");
    write_schema(&dir, &schema());
    let db = dir.join("db");
    let mut ours = Ours::start(&dir, &compact_eagerly());
    let mut c = ours.connect();
    for n in 0..10 {
        let (reply, _) = c.call("transact", insert(n));
        assert!(reply["result"][0]["uuid"].is_array(), "{reply}");
    }
    wait_for_compaction(&db);
    for n in 10..15 {
        let (reply, _) = c.call("transact", insert(n));
        assert!(reply["result"][0]["uuid"].is_array(), "{reply}");
    }
    ours.kill9();
    // Open vSwitch reads the file as it was left.
    let theirs = tool_query(&db);
    let ours = Ours::start(&dir, &[]);
    assert_eq!(stored_numbers(&ours), (0..15).collect());
    assert_eq!(theirs[0]["rows"].as_array().map(Vec::len), Some(15));
}

#[test]
fn kill_9_while_compacting_under_load_keeps_every_acknowledged_transaction() {
    let dir = temp_dir("compact-kill9");
    write_schema(&dir, &schema());
    let db = dir.join("db");
    let mut ours = Ours::start(&dir, &compact_eagerly());
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    // Four clients insert and update as fast as they can while the server compacts every
    // 50 ms; each records what the server acknowledged.
    for w in 0..4u64 {
        let mut c = ours.connect();
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let n = w * 1_000_000 + i;
                let mut ops = insert(n);
                if let Some(list) = ops.as_array_mut()
                    && i > 0
                {
                    // Rewriting an earlier row too makes the log grow faster than the data.
                    list.push(json!({"op": "update", "table": "Shelf",
                        "where": [["n", "==", n - 1]], "row": {"tags": ["set", ["x", "y"]]}}));
                }
                if !c.try_send(&json!({"method": "transact", "params": ops, "id": n})) {
                    return;
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
    // Let several compactions happen, then kill in the middle of whatever is going on.
    wait_for_compaction(&db);
    std::thread::sleep(Duration::from_millis(600));
    ours.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() > 10, "too few transactions: {}", acked.len());
    let log = show_log(&db);
    assert!(log.contains("\"compacting database online\""), "{log}");
    let ours = Ours::start(&dir, &[]);
    let stored = stored_numbers(&ours);
    let missing: Vec<&u64> = acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(stored.len() <= acked.len() + 4);
    // And what the server recovered is what Open vSwitch reads in the file.
    drop(ours);
    let theirs = tool_query(&db);
    assert_eq!(
        theirs[0]["rows"].as_array().map(Vec::len),
        Some(stored.len())
    );
}
