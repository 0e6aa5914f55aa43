//! The on-disk log: files we write are read by `ovsdb-tool`, files `ovsdb-tool` writes are read
//! by us, and a torn or damaged tail is reported, not trusted.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use fvs_ovsdb::log::{
    LogError, ONLINE_COMPACTION_COMMENT, change_record, encode_record, read_records, replay,
    snapshot_record,
};
use fvs_ovsdb::{Context, Database, DatabaseSchema, Outcome, transact};
use fvs_test_support::{TempDir, Tool, require_tool};
use serde_json::{Value, json};
use uuid::Uuid;

fn select_all() -> Value {
    let mut ops = vec![json!("Switch")];
    for t in ["Root", "Bridge", "Port", "Lone"] {
        ops.push(json!({"op": "select", "table": t, "where": []}));
    }
    Value::Array(ops)
}

/// Drops `_version` (not kept in the file) and ephemeral `stats`, and sorts rows.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    for result in v.as_array_mut().into_iter().flatten() {
        if let Some(rows) = result["rows"].as_array_mut() {
            for r in rows.iter_mut() {
                let o = r.as_object_mut().unwrap();
                o.remove("_version");
                o.remove("stats");
            }
            rows.sort_by_key(|r| r["_uuid"].to_string());
        }
    }
    v
}

/// Runs a transaction on `db`; returns the change set.
fn run(db: &mut Database, next: &mut u128, ops: Value) -> fvs_ovsdb::ChangeSet {
    let locks = BTreeSet::new();
    let mut fresh = || {
        *next += 1;
        Uuid::from_u128(*next * 0x1000_0000_0001)
    };
    let mut ctx = Context {
        now_ms: 0,
        received_ms: 0,
        locks: &locks,
        new_uuid: &mut fresh,
    };
    let Outcome::Done { reply, changes } = transact(db, &ops, &mut ctx).unwrap() else {
        panic!("blocked")
    };
    assert!(
        !reply
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("error").is_some()),
        "{reply}"
    );
    db.apply(&changes);
    changes
}

fn query(tool: &Tool, file: &std::path::Path) -> Value {
    let out = common::run(
        tool.command()
            .arg("query")
            .arg(file)
            .arg(select_all().to_string()),
    );
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn ovsdb_tool_reads_the_log_we_write() {
    let tool = require_tool("ovsdb-tool");
    let dir = TempDir::new("logw");
    let file = dir.join("conf.db");
    let schema = DatabaseSchema::from_json(&common::test_schema()).unwrap();
    let mut db = Database::new(Arc::new(schema.clone()));
    let mut bytes = encode_record(&schema.to_json());
    let mut next = 0;
    let txns = [
        json!(["Switch",
            {"op": "insert", "table": "Root", "row": {"bridges": ["named-uuid", "br"], "next_cfg": 1}},
            {"op": "insert", "table": "Bridge", "uuid-name": "br", "row": {"name": "br-int", "ports": ["named-uuid", "p1"], "external_ids": ["map", [["a", "1"], ["b", "2"]]], "flood_vlans": ["set", [1, 2]]}},
            {"op": "insert", "table": "Port", "uuid-name": "p1", "row": {"name": "p1", "tag": 7, "weight": 0.25, "peer": ["named-uuid", "p1"], "stats": ["map", [["rx", 1]]]}},
            {"op": "comment", "comment": "ferrovs: add-br br-int"}]),
        json!(["Switch",
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["external_ids", "delete", ["set", ["a"]]], ["external_ids", "insert", ["map", [["c", "3"]]]], ["flood_vlans", "delete", 1], ["flood_vlans", "insert", ["set", [3, 4]]]]},
            {"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "secure"}},
            {"op": "update", "table": "Port", "where": [], "row": {"tag": ["set", []], "enabled": true}}]),
        json!(["Switch",
            {"op": "insert", "table": "Port", "uuid-name": "p2", "row": {"name": "p2", "peer": ["named-uuid", "p2"]}},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "insert", ["set", [["named-uuid", "p2"]]]], ["external_ids", "insert", ["map", [["b", "ignored"]]]]]},
            {"op": "update", "table": "Bridge", "where": [], "row": {"external_ids": ["map", [["b", "changed"], ["c", "3"]]]}}]),
        // Emptying the bridge collects p1 and p2.
        json!(["Switch", {"op": "update", "table": "Bridge", "where": [], "row": {"ports": ["set", []], "mirror": ["set", []]}}]),
        // Ephemeral only: no record.
        json!(["Switch", {"op": "insert", "table": "Port", "uuid-name": "p3", "row": {"name": "p3", "peer": ["named-uuid", "p3"]}}, {"op": "update", "table": "Bridge", "where": [], "row": {"ports": ["named-uuid", "p3"]}}]),
        json!(["Switch", {"op": "update", "table": "Port", "where": [], "row": {"stats": ["map", [["x", 1]]]}}]),
    ];
    let mut written = 0;
    for (i, ops) in txns.into_iter().enumerate() {
        let changes = run(&mut db, &mut next, ops);
        if let Some(record) = change_record(&schema, &changes, 1_700_000_000_000 + i as u64) {
            bytes.extend(encode_record(&record));
            written += 1;
        }
    }
    assert_eq!(written, 5, "the ephemeral-only change writes nothing");
    std::fs::write(&file, &bytes).unwrap();

    let log = common::run(tool.command().arg("show-log").arg(&file));
    assert!(
        log.contains("record 0: \"Switch\" schema, version=\"1.0.0\""),
        "{log}"
    );
    assert!(
        log.contains("record 5:") && !log.contains("record 6:"),
        "{log}"
    );
    assert!(log.contains("\"ferrovs: add-br br-int\""), "{log}");

    let ours = comparable(&run_select(&db));
    let theirs = comparable(&query(&tool, &file));
    assert_eq!(ours, theirs, "ovsdb-tool query sees what we have");

    // And our own reader gives back the same database.
    let contents = read_records(&bytes);
    assert_eq!(contents.tail_error, None);
    assert_eq!(contents.valid_len, bytes.len());
    let mut n = 0u128;
    let mut fresh = || {
        n += 1;
        Uuid::from_u128(n)
    };
    let back = replay(&contents.records, &mut fresh).unwrap();
    assert_eq!(comparable(&run_select(&back)), ours);

    // Compaction: our snapshot record holds exactly the rows and columns that `ovsdb-tool
    // compact` keeps of the same log, and a file of schema + snapshot reads the same.
    let compacted = dir.join("compacted.db");
    std::fs::write(&compacted, &bytes).unwrap();
    common::run(tool.command().arg("compact").arg(&compacted));
    let theirs = read_records(&std::fs::read(&compacted).unwrap());
    assert_eq!(theirs.tail_error, None);
    assert_eq!(theirs.records.len(), 2, "schema and one snapshot");
    let tables = |v: &Value| -> Value {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let snapshot = snapshot_record(&db, 1_700_000_000_100, ONLINE_COMPACTION_COMMENT);
    assert_eq!(tables(&snapshot), tables(&theirs.records[1]));
    let snap_file = dir.join("snapshot.db");
    let mut snap_bytes = encode_record(&schema.to_json());
    snap_bytes.extend(encode_record(&snapshot));
    std::fs::write(&snap_file, &snap_bytes).unwrap();
    assert_eq!(comparable(&query(&tool, &snap_file)), ours);
    let log = common::run(tool.command().arg("show-log").arg(&snap_file));
    assert!(
        log.contains("record 1:") && log.contains("\"compacting database online\""),
        "{log}"
    );
    assert!(!log.contains("record 2:"), "{log}");
}

fn run_select(db: &Database) -> Value {
    let locks = BTreeSet::new();
    let mut fresh = Uuid::nil;
    let mut ctx = Context {
        now_ms: 0,
        received_ms: 0,
        locks: &locks,
        new_uuid: &mut fresh,
    };
    match transact(db, &select_all(), &mut ctx).unwrap() {
        Outcome::Done { reply, .. } => reply,
        Outcome::Blocked { .. } => panic!("blocked"),
    }
}

#[test]
fn we_read_the_log_ovsdb_tool_writes() {
    let tool = require_tool("ovsdb-tool");
    let dir = TempDir::new("logr");
    let file = dir.join("conf.db");
    let schema_path = dir.join("switch.ovsschema");
    std::fs::write(&schema_path, common::test_schema().to_string()).unwrap();
    common::run(tool.command().arg("create").arg(&file).arg(&schema_path));
    for ops in [
        json!(["Switch",
            {"op": "insert", "table": "Root", "row": {"bridges": ["named-uuid", "br"]}},
            {"op": "insert", "table": "Bridge", "uuid-name": "br", "row": {"name": "br0", "ports": ["set", [["named-uuid", "p1"], ["named-uuid", "p2"]]], "mirror": ["named-uuid", "p2"], "external_ids": ["map", [["k", "v"], ["x", "y"]]]}},
            {"op": "insert", "table": "Port", "uuid-name": "p1", "row": {"name": "p1", "tag": 1, "peer": ["named-uuid", "p2"]}},
            {"op": "insert", "table": "Port", "uuid-name": "p2", "row": {"name": "p2", "weight": 2.5, "peer": ["named-uuid", "p1"]}},
            {"op": "comment", "comment": "hello"}]),
        json!(["Switch",
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["external_ids", "delete", ["set", ["k"]]], ["external_ids", "insert", ["map", [["z", "1"]]]], ["flood_vlans", "insert", ["set", [5, 6, 7]]]]},
            {"op": "update", "table": "Port", "where": [["name", "==", "p1"]], "row": {"tag": 2}}]),
        json!(["Switch",
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["flood_vlans", "delete", 6], ["external_ids", "delete", ["map", [["x", "y"]]]]]},
            {"op": "update", "table": "Port", "where": [["name", "==", "p1"]], "row": {"tag": ["set", []]}}]),
        // Emptying the bridge collects both ports and clears the weak mirror reference.
        json!(["Switch", {"op": "update", "table": "Bridge", "where": [], "row": {"ports": ["set", []]}}]),
        json!(["Switch", {"op": "update", "table": "Root", "where": [], "row": {"next_cfg": 9}}]),
        json!(["Switch", {"op": "delete", "table": "Root", "where": [["next_cfg", "==", 9]]}]),
    ] {
        let out = tool
            .command()
            .arg("transact")
            .arg(&file)
            .arg(ops.to_string())
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("\"error\""),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let bytes = std::fs::read(&file).unwrap();
    let contents = read_records(&bytes);
    assert_eq!(contents.tail_error, None);
    assert!(contents.records.len() >= 5, "schema and transactions");
    assert_eq!(contents.records[1]["_comment"], "hello");
    let mut n = 0u128;
    let mut fresh = || {
        n += 1;
        Uuid::from_u128(n)
    };
    let db = replay(&contents.records, &mut fresh).unwrap();
    // UUIDs included: the same rows as ovsdb-tool itself reads from the file.
    assert_eq!(
        comparable(&run_select(&db)),
        comparable(&query(&tool, &file))
    );
}

#[test]
fn a_torn_or_damaged_tail_is_reported_and_excluded() {
    let schema = DatabaseSchema::from_json(&common::test_schema()).unwrap();
    let first = encode_record(&schema.to_json());
    let second = encode_record(
        &json!({"Root": {"00000000-0000-0000-0000-000000000001": {"next_cfg": 3}}, "_date": 1, "_is_diff": true}),
    );
    let mut whole = first.clone();
    whole.extend(&second);
    let good = read_records(&whole);
    assert_eq!(good.records.len(), 2);
    let mut n = 0u128;
    let db = replay(&good.records, &mut || {
        n += 1;
        Uuid::from_u128(n)
    })
    .unwrap();
    assert_eq!(db.rows("Root").unwrap().len(), 1);

    // Every cut inside the second record leaves the first, and says where the tear is.
    for cut in first.len() + 1..whole.len() {
        let torn = read_records(&whole[..cut]);
        assert_eq!(torn.records.len(), 1, "cut at {cut}");
        assert_eq!(torn.valid_len, first.len());
        assert!(
            matches!(torn.tail_error, Some(LogError::Truncated { offset }) if offset == first.len()),
            "cut at {cut}: {:?}",
            torn.tail_error
        );
    }
    // A flipped byte in the body fails the SHA-1 check.
    let mut damaged = whole.clone();
    let last = damaged.len() - 3;
    damaged[last] ^= 0x01;
    let read = read_records(&damaged);
    assert_eq!(read.records.len(), 1);
    assert_eq!(
        read.tail_error,
        Some(LogError::BadChecksum {
            offset: first.len()
        })
    );
    // Garbage instead of a header.
    let mut garbage = first.clone();
    garbage.extend(b"not a header at all\n{}\n");
    assert_eq!(
        read_records(&garbage).tail_error,
        Some(LogError::BadHeader {
            offset: first.len()
        })
    );
    assert_eq!(replay(&[], &mut Uuid::nil).unwrap_err(), LogError::Empty);
}
