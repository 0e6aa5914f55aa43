//! Monitors against Open vSwitch's `ovsdb-server`: the same monitor requests and the same
//! transactions go to a real server and to [`Monitor`]; the initial replies and every
//! `update`/`update2`/`update3` notification must be the same JSON.
//!
//! Inserts name their row UUIDs explicitly, so both sides hold the same rows; only `_version`
//! (a fresh random UUID on each side) is masked.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use fvs_ovsdb::monitor::{Dialect, Monitor, notification_params};
use fvs_ovsdb::{Database, DatabaseSchema, Outcome, transact};
use serde_json::{Value, json};
use uuid::Uuid;

use fvs_test_support::{PrivateOvsdb, TempDir};

/// A real `ovsdb-server` on a private directory, killed (by its own pid) on drop.
struct OvsServer {
    db: PrivateOvsdb,
}

impl OvsServer {
    fn start(tag: &str, schema: &Value) -> Self {
        let dir = TempDir::new(tag);
        let schema_path = dir.join("schema.ovsschema");
        std::fs::write(&schema_path, schema.to_string()).expect("write schema");
        Self {
            db: PrivateOvsdb::start(&schema_path),
        }
    }

    fn connect(&self) -> Client {
        let stream = UnixStream::connect(self.db.socket()).expect("connect ovsdb-server");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client {
            stream,
            buf: Vec::new(),
            next_id: 0,
        }
    }
}

/// A minimal JSON-RPC client: sends a request, collects notifications until its reply.
struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Client {
    fn next_message(&mut self) -> Value {
        loop {
            let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match de.next() {
                Some(Ok(v)) => {
                    let used = de.byte_offset();
                    self.buf.drain(..used);
                    return v;
                }
                Some(Err(e)) if !e.is_eof() => panic!("bad JSON from ovsdb-server: {e}"),
                _ => {
                    let mut chunk = [0u8; 65536];
                    let n = self
                        .stream
                        .read(&mut chunk)
                        .expect("read from ovsdb-server");
                    assert!(n > 0, "ovsdb-server closed the connection");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    /// Sends `method(params)`; returns the reply and the notifications that came before it.
    fn call(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"method": method, "params": params, "id": id});
        self.stream
            .write_all(msg.to_string().as_bytes())
            .expect("write to ovsdb-server");
        let mut notes = Vec::new();
        loop {
            let m = self.next_message();
            if m.get("id") == Some(&json!(id)) {
                return (m, notes);
            }
            notes.push(m);
        }
    }
}

fn schema() -> Value {
    json!({
        "name": "Mon",
        "version": "1.0.0",
        "tables": {
            "Box": {
                "isRoot": true,
                "columns": {
                    "name": {"type": "string"},
                    "n": {"type": "integer"},
                    "opt": {"type": {"key": "string", "min": 0, "max": 1}},
                    "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                    "two": {"type": {"key": "integer", "min": 1, "max": 2}},
                    "ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                    "item": {"type": {"key": {"type": "uuid", "refTable": "Item"}, "min": 0, "max": "unlimited"}}
                }
            },
            "Item": {
                "columns": {
                    "v": {"type": "integer"},
                    "flag": {"type": "boolean"}
                }
            }
        }
    })
}

fn u(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

/// The monitors both sides get: every dialect, column lists, selects, several request objects
/// for one table, and conditions that rows enter and leave.
fn monitors() -> Vec<(Dialect, &'static str, Value)> {
    vec![
        (Dialect::Monitor, "all-v1", json!({"Box": {}, "Item": {}})),
        (
            Dialect::Monitor,
            "some-v1",
            json!({"Box": [
                {"columns": ["n", "tags"], "select": {"initial": false, "modify": true, "insert": true, "delete": false}},
                {"columns": ["ids"], "select": {"initial": true, "modify": false}}
            ]}),
        ),
        (Dialect::Cond, "all-v2", json!({"Box": [{}], "Item": [{}]})),
        (
            Dialect::Cond,
            "cond-v2",
            json!({"Box": [{"columns": ["name", "n", "opt", "tags", "two", "ids"],
                            "where": [["n", "<", 10], ["name", "==", "pinned"]]}],
                   "Item": [{"where": [false]}]}),
        ),
        (
            Dialect::Cond,
            "select-v2",
            json!({"Box": [{"columns": ["n"], "select": {"insert": false, "delete": false}}]}),
        ),
        (
            Dialect::CondSince,
            "since",
            json!({"Box": [{"columns": ["name", "tags", "ids"]}]}),
        ),
        // No columns: which rows exist, nothing more (ovs-vsctl's monitor of Open_vSwitch).
        (Dialect::Monitor, "none-v1", json!({"Box": {"columns": []}})),
        (
            Dialect::CondSince,
            "none-since",
            json!({"Box": [{"columns": []}], "Item": [{"columns": [], "select": {"insert": false}}]}),
        ),
    ]
}

fn transactions() -> Vec<Value> {
    let ins =
        |id: u32, row: Value| json!({"op": "insert", "table": "Box", "uuid": u(id), "row": row});
    let upd = |id: u32, row: Value| json!({"op": "update", "table": "Box", "where": [["_uuid", "==", ["uuid", u(id)]]], "row": row});
    vec![
        json!([ins(
            2,
            json!({"name": "b", "n": 20, "tags": ["set", ["x"]]})
        )]),
        json!([
            ins(3, json!({"name": "c"})),
            upd(1, json!({"n": 2, "opt": "o"}))
        ]),
        json!([upd(
            1,
            json!({"opt": ["set", []], "tags": ["set", ["a", "z"]], "ids": ["map", [["k", "v2"], ["new", "1"]]]})
        )]),
        json!([upd(1, json!({"two": ["set", [1, 2]]}))]),
        json!([upd(1, json!({"two": 7}))]),
        json!([upd(2, json!({"n": 5}))]),
        json!([upd(3, json!({"n": 50}))]),
        json!([upd(3, json!({"name": "pinned"}))]),
        json!([{"op": "mutate", "table": "Box", "where": [], "mutations": [["n", "+=", 1]]}]),
        json!([{"op": "insert", "table": "Item", "uuid": u(100), "row": {"v": 1}},
               upd(2, json!({"item": ["set", [["uuid", u(100)]]]}))]),
        json!([{"op": "update", "table": "Item", "where": [], "row": {"flag": true}}]),
        json!([upd(2, json!({"item": ["set", []]}))]),
        json!([upd(1, json!({"n": 3}))]),
        json!([{"op": "delete", "table": "Box", "where": [["name", "!=", "pinned"]]}]),
    ]
}

/// Replaces every `_version` value, which differs between servers by design.
fn mask(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = if k == "_version" {
                        json!("<version>")
                    } else {
                        mask(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
        other => other.clone(),
    }
}

#[test]
fn monitors_match_ovsdb_server() {
    let schema_json = schema();
    let oracle = OvsServer::start("monitor", &schema_json);
    let mut client = oracle.connect();

    let schema = Arc::new(DatabaseSchema::from_json(&schema_json).expect("schema"));
    let mut db = Database::new(schema.clone());
    let locks = BTreeSet::new();
    let mut counter = 0u128;
    let mut fresh = move || {
        counter += 1;
        Uuid::from_u128(0xf000_0000_0000_4000_8000_0000_0000_0000 | counter)
    };
    let mut run_ours = |db: &mut Database, ops: &Value| {
        let mut params = vec![json!("Mon")];
        params.extend(ops.as_array().cloned().unwrap_or_default());
        let mut ctx = fvs_ovsdb::Context {
            now_ms: 0,
            received_ms: 0,
            locks: &locks,
            new_uuid: &mut fresh,
        };
        match transact(db, &Value::Array(params), &mut ctx).expect("transact") {
            Outcome::Done { reply, changes } => {
                db.apply(&changes);
                (reply, changes)
            }
            Outcome::Blocked { .. } => panic!("no waits here"),
        }
    };

    // A first row before the monitors start, so their initial replies have something.
    let first = json!([{"op": "insert", "table": "Box", "uuid": u(1),
        "row": {"name": "a", "n": 1, "tags": ["set", ["a", "b"]], "ids": ["map", [["k", "v"], ["x", "y"]]]}}]);
    let (reply, _) = client.call(
        "transact",
        json!(["Mon"])
            .as_array()
            .map(|a| {
                let mut p = a.clone();
                p.extend(first.as_array().cloned().unwrap_or_default());
                Value::Array(p)
            })
            .unwrap_or_default(),
    );
    let (ours, _) = run_ours(&mut db, &first);
    assert_eq!(reply["result"], ours, "first insert");

    let mut ours_monitors = Vec::new();
    for (dialect, id, requests) in monitors() {
        let mut params = vec![json!("Mon"), json!(id), requests.clone()];
        if dialect == Dialect::CondSince {
            params.push(json!(Uuid::nil().hyphenated().to_string()));
        }
        let (reply, notes) = client.call(dialect.method(), Value::Array(params));
        assert!(notes.is_empty(), "no notification before a monitor reply");
        let monitor = Monitor::from_json(&schema, dialect, &requests).expect("our monitor parses");
        let initial = monitor.initial(&db);
        let expected_reply = if dialect == Dialect::CondSince {
            json!([false, Uuid::nil().hyphenated().to_string(), initial])
        } else {
            initial
        };
        assert_eq!(
            mask(&reply["result"]),
            mask(&expected_reply),
            "initial reply of monitor {id}"
        );
        ours_monitors.push((id, monitor));
    }

    for (i, ops) in transactions().iter().enumerate() {
        let mut params = vec![json!("Mon")];
        params.extend(ops.as_array().cloned().unwrap_or_default());
        let (reply, notes) = client.call("transact", Value::Array(params));
        let (our_reply, changes) = run_ours(&mut db, ops);
        assert_eq!(
            reply["result"], our_reply,
            "reply to transaction {i}: {ops}"
        );

        let theirs: BTreeMap<String, Value> = notes
            .iter()
            .map(|n| {
                let id = n["params"][0].as_str().unwrap_or_default().to_owned();
                (
                    id,
                    json!({"method": n["method"], "params": mask(&n["params"])}),
                )
            })
            .collect();
        let mine: BTreeMap<String, Value> = ours_monitors
            .iter()
            .filter_map(|(id, m)| {
                let updates = m.update(&schema, &changes)?;
                let params = notification_params(m.dialect(), &json!(id), Uuid::nil(), updates);
                Some((
                    (*id).to_owned(),
                    json!({"method": m.dialect().notification(), "params": mask(&params)}),
                ))
            })
            .collect();
        assert_eq!(theirs, mine, "notifications for transaction {i}: {ops}");
    }

    // monitor_cond_change: the new condition's rows enter, the old one's leave.
    let add =
        json!([{"op": "insert", "table": "Box", "uuid": u(7), "row": {"name": "late", "n": 70}}]);
    let mut params = vec![json!("Mon")];
    params.extend(add.as_array().cloned().unwrap_or_default());
    client.call("transact", Value::Array(params));
    let (_, changes) = run_ours(&mut db, &add);
    for (_, m) in &ours_monitors {
        let _ = m.update(&schema, &changes);
    }
    let change = json!({"Box": [{"where": [["n", ">", 60]]}]});
    let (reply, notes) = client.call("monitor_cond_change", json!(["cond-v2", "cond-v2", change]));
    let (_, cond) = ours_monitors
        .iter_mut()
        .find(|(id, _)| *id == "cond-v2")
        .expect("cond-v2 exists");
    let updates = cond.change_conditions(&db, &change).expect("change parses");
    let theirs: Vec<Value> = notes.iter().map(|n| n["params"].clone()).collect();
    let mine: Vec<Value> = if updates.as_object().is_some_and(|o| !o.is_empty()) {
        vec![json!(["cond-v2", updates])]
    } else {
        Vec::new()
    };
    assert_eq!(reply["result"], json!({}), "monitor_cond_change reply");
    assert!(!theirs.is_empty(), "the change moves rows in and out");
    assert_eq!(theirs, mine, "monitor_cond_change notification");
}
