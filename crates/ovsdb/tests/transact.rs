//! Transactions, run side by side with `ovsdb-tool transact` on the same schema: every reply
//! and the final contents must agree (UUIDs aside, which each side makes up).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use fvs_ovsdb::{Context, Database, DatabaseSchema, ErrorKind, Outcome, transact};
use fvs_test_support::{TempDir, Tool, require_tool};
use serde_json::{Value, json};
use uuid::Uuid;

/// Our side of the comparison: a database and a UUID counter.
struct Ours {
    db: Database,
    next: u128,
}

impl Ours {
    fn new() -> Self {
        let schema = DatabaseSchema::from_json(&common::test_schema()).unwrap();
        Self {
            db: Database::new(Arc::new(schema)),
            next: 1,
        }
    }

    fn run_at(&mut self, ops: &Value, now_ms: u64, locks: &BTreeSet<String>) -> Outcome {
        let mut next = self.next;
        let mut fresh = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let mut ctx = Context {
            now_ms,
            received_ms: 0,
            locks,
            new_uuid: &mut fresh,
        };
        let out = transact(&self.db, ops, &mut ctx).expect("request-level success");
        self.next = next;
        if let Outcome::Done { changes, .. } = &out {
            self.db.apply(changes);
        }
        out
    }

    fn run(&mut self, ops: &Value) -> Value {
        match self.run_at(ops, 0, &BTreeSet::new()) {
            Outcome::Done { reply, .. } => reply,
            Outcome::Blocked { .. } => panic!("unexpectedly blocked: {ops}"),
        }
    }
}

/// Open vSwitch's side: a database file and `ovsdb-tool transact`.
struct Theirs {
    tool: Tool,
    db: std::path::PathBuf,
    /// Holds the database file; removed on drop.
    _dir: TempDir,
}

impl Theirs {
    fn new(tag: &str) -> Self {
        let tool = require_tool("ovsdb-tool");
        let dir = TempDir::new(tag);
        let schema = dir.join("switch.ovsschema");
        std::fs::write(&schema, common::test_schema().to_string()).unwrap();
        let db = dir.join("db");
        common::run(tool.command().arg("create").arg(&db).arg(&schema));
        Self {
            tool,
            db,
            _dir: dir,
        }
    }

    fn run(&self, ops: &Value) -> Value {
        let out = self
            .tool
            .command()
            .arg("transact")
            .arg(&self.db)
            .arg(ops.to_string())
            .output()
            .unwrap();
        // ovsdb-tool exits non-zero when the transaction fails but still prints the reply.
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("ovsdb-tool reply {text:?}: {e}"))
    }

    fn query(&self, ops: &Value) -> Value {
        let out = common::run(
            self.tool
                .command()
                .arg("query")
                .arg(&self.db)
                .arg(ops.to_string()),
        );
        serde_json::from_str(out.trim()).unwrap()
    }
}

/// Replaces every UUID with a placeholder and sorts select results, so replies that differ
/// only in made-up UUIDs and row order compare equal. Error details are kept only for the
/// tags whose wording we follow exactly.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "uuid" => json!(["uuid", "*"]),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) if o.contains_key("error") => {
            let mut out = serde_json::Map::new();
            out.insert("error".into(), o["error"].clone());
            let exact = [
                "syntax error",
                "unknown column",
                "duplicate uuid-name",
                "domain error",
                "range error",
                "aborted",
                "not owner",
                "timed out",
            ];
            if exact.contains(&o["error"].as_str().unwrap_or_default()) {
                out.insert("details".into(), o["details"].clone());
            }
            Value::Object(out)
        }
        Value::Object(o) => {
            let mut out: serde_json::Map<String, Value> = o
                .iter()
                .filter(|(k, _)| *k != "_version")
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect();
            if let Some(Value::Array(rows)) = out.get_mut("rows") {
                rows.sort_by_key(|r| r.to_string());
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn both(ours: &mut Ours, theirs: &Theirs, ops: Value) -> Value {
    let mine = ours.run(&ops);
    let reference = theirs.run(&ops);
    assert_eq!(
        normalize(&mine),
        normalize(&reference),
        "transaction {ops}\nours:   {mine}\ntheirs: {reference}"
    );
    mine
}

fn dump_all(ours: &mut Ours, theirs: &Theirs) {
    let mut ops = vec![json!("Switch")];
    for t in ["Root", "Bridge", "Port", "Lone"] {
        ops.push(json!({"op": "select", "table": t, "where": []}));
    }
    let ops = Value::Array(ops);
    // `ovsdb-tool` reads the file afresh each time, and ephemeral columns are not written to
    // it, so they are compared only inside transactions.
    let strip = |mut v: Value| {
        if let Some(port_rows) = v[2]["rows"].as_array_mut() {
            port_rows.iter_mut().for_each(|r| {
                r.as_object_mut().map(|o| o.remove("stats"));
            });
        }
        v
    };
    let mine = strip(ours.run(&ops));
    let reference = strip(theirs.query(&ops));
    assert_eq!(
        normalize(&mine),
        normalize(&reference),
        "contents\nours:   {mine}\ntheirs: {reference}"
    );
}

fn db(ops: Value) -> Value {
    let mut all = vec![json!("Switch")];
    all.extend(ops.as_array().unwrap().iter().cloned());
    Value::Array(all)
}

#[test]
fn transactions_agree_with_ovsdb_tool() {
    let mut ours = Ours::new();
    let theirs = Theirs::new("txn");
    let steps = [
        // Build: a root, a bridge with two ports, references by name within the transaction.
        json!([
            {"op": "insert", "table": "Root", "row": {"bridges": ["named-uuid", "br"]}},
            {"op": "insert", "table": "Bridge", "uuid-name": "br",
             "row": {"name": "br-int", "ports": ["set", [["named-uuid", "p1"], ["named-uuid", "p2"]]],
                     "mirror": ["named-uuid", "p1"], "external_ids": ["map", [["k", "v"]]]}},
            {"op": "insert", "table": "Port", "uuid-name": "p1", "row": {"name": "p1", "tag": 5, "peer": ["named-uuid", "p2"]}},
            {"op": "insert", "table": "Port", "uuid-name": "p2", "row": {"name": "p2", "weight": 1.5, "peer": ["named-uuid", "p1"]}},
            {"op": "comment", "comment": "build"}
        ]),
        // A non-root row that nothing references is collected at once.
        json!([{"op": "insert", "table": "Port", "row": {"name": "orphan"}}]),
        json!([{"op": "select", "table": "Port", "where": [["name", "==", "orphan"]]}]),
        // Selects with each function and projected columns.
        json!([
            {"op": "select", "table": "Port", "where": [["tag", "<", 6]], "columns": ["name"]},
            {"op": "select", "table": "Port", "where": [["tag", ">=", 6]], "columns": ["name"]},
            {"op": "select", "table": "Port", "where": [["weight", ">", 1]], "columns": ["name", "weight"]},
            {"op": "select", "table": "Port", "where": [["name", "!=", "p1"]], "columns": ["name"]},
            {"op": "select", "table": "Bridge", "where": [["external_ids", "includes", ["map", [["k", "v"]]]]], "columns": ["name"]},
            {"op": "select", "table": "Bridge", "where": [["external_ids", "excludes", ["map", [["k", "v"]]]]], "columns": ["name"]},
            {"op": "select", "table": "Port", "where": [["tag", "==", ["set", []]]], "columns": ["name"]}
        ]),
        // Mutations of every kind.
        json!([
            {"op": "mutate", "table": "Port", "where": [["name", "==", "p1"]], "mutations": [["tag", "+=", 10], ["tag", "*=", 3], ["tag", "-=", 1], ["tag", "/=", 2], ["tag", "%=", 7]]},
            {"op": "mutate", "table": "Port", "where": [["name", "==", "p2"]], "mutations": [["weight", "*=", 2], ["stats", "insert", ["map", [["rx", 1], ["tx", 2]]]], ["stats", "delete", ["map", [["rx", 1]]]]]},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["external_ids", "insert", ["map", [["k", "ignored"], ["a", "b"]]]], ["flood_vlans", "insert", ["set", [1, 2, 3]]]]},
            {"op": "select", "table": "Port", "where": [], "columns": ["name", "tag", "weight", "stats"]},
            {"op": "select", "table": "Bridge", "where": [], "columns": ["external_ids", "flood_vlans"]}
        ]),
        json!([
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["external_ids", "delete", ["set", ["a"]]], ["external_ids", "delete", ["map", [["k", "wrong"]]]], ["flood_vlans", "delete", 2]]},
            {"op": "select", "table": "Bridge", "where": [], "columns": ["external_ids", "flood_vlans"]}
        ]),
        // Failures: each leaves the database as it was.
        json!([{"op": "mutate", "table": "Port", "where": [], "mutations": [["tag", "/=", 0]]}]),
        json!([{"op": "mutate", "table": "Bridge", "where": [], "mutations": [["flood_vlans", "+=", 4095]]}]),
        json!([{"op": "mutate", "table": "Bridge", "where": [], "mutations": [["flood_vlans", "insert", ["set", [7, 8, 9]]]]}]),
        json!([{"op": "mutate", "table": "Bridge", "where": [], "mutations": [["name", "insert", "x"]]}]),
        json!([{"op": "mutate", "table": "Port", "where": [], "mutations": [["name", "+=", 1]]}]),
        json!([{"op": "mutate", "table": "Port", "where": [], "mutations": [["nope", "+=", 1]]}]),
        json!([{"op": "update", "table": "Bridge", "where": [], "row": {"name": "renamed"}}]),
        json!([{"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "open"}}]),
        json!([{"op": "update", "table": "Port", "where": [], "row": {"tag": "x"}}]),
        json!([{"op": "update", "table": "Port", "where": [], "row": {"zz": 1}}]),
        json!([{"op": "insert", "table": "Bridge", "row": {"name": "br-int"}}, {"op": "insert", "table": "Root", "row": {"bridges": ["named-uuid", "nope"]}}]),
        json!([{"op": "insert", "table": "Root", "row": {}}]),
        json!([{"op": "insert", "table": "Lone", "row": {"n": 1}}]),
        json!([{"op": "delete", "table": "Port", "where": [["name", "==", "p2"]]}]),
        json!([{"op": "insert", "table": "Port", "row": {}}, {"op": "abort"}, {"op": "comment", "comment": "never"}]),
        json!([{"op": "insert", "table": "Port", "uuid-name": "a", "row": {}}, {"op": "insert", "table": "Port", "uuid-name": "a", "row": {}}]),
        json!([{"op": "assert", "lock": "mine"}]),
        json!([{"op": "bogus"}]),
        json!([{"op": "select", "table": "Nope", "where": []}]),
        json!([{"op": "select", "table": "Port"}]),
        json!([{"op": "select", "table": "Port", "where": [["name", "~", "x"]]}]),
        json!([{"op": "select", "table": "Port", "where": [["name", "<", "x"]]}]),
        json!([{"op": "wait", "table": "Port", "where": [], "columns": ["name"], "until": "==", "rows": [], "timeout": 0}]),
        json!([{"op": "insert", "table": "Port", "row": {"name": ["set", ["a", "b"]]}}]),
        json!([{"op": "insert", "table": "Bridge", "row": {"name": "b", "flood_vlans": ["set", [1, 1]]}}]),
        json!([1]),
        // Successes after failures.
        json!([{"op": "wait", "table": "Port", "where": [["name", "==", "p1"]], "columns": ["name"], "until": "==", "rows": [{"name": "p1"}], "timeout": 0}]),
        json!([{"op": "wait", "table": "Port", "where": [], "columns": ["name"], "until": "!=", "rows": [], "timeout": 0}]),
        json!([{"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "secure", "external_ids": ["map", [["x", "y"]]]}}, {"op": "commit", "durable": false}]),
        // Dropping a port from the bridge: it is collected, its weak references vanish
        // (p2's peer is min 1, so that must fail), then the valid variant.
        json!([{"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "delete", ["set", []]]]}]),
        json!([{"op": "update", "table": "Port", "where": [["name", "==", "p2"]], "row": {"peer": ["named-uuid", "x"]}}]),
        json!([
            {"op": "insert", "table": "Port", "uuid-name": "p3", "row": {"name": "p3"}},
            {"op": "update", "table": "Port", "where": [["name", "==", "p3"]], "row": {"peer": ["named-uuid", "p3"]}},
            {"op": "update", "table": "Port", "where": [["name", "!=", "p3"]], "row": {"peer": ["named-uuid", "p3"]}},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "insert", ["named-uuid", "p3"]]]}
        ]),
        json!([{"op": "select", "table": "Bridge", "where": [], "columns": ["mirror"]}]),
        json!([{"op": "delete", "table": "Port", "where": [["name", "==", "p1"]]}]),
        json!([{"op": "select", "table": "Bridge", "where": [], "columns": ["mirror"]}]),
        // Index: a second bridge with the same name fails; another name is fine.
        json!([{"op": "insert", "table": "Bridge", "uuid-name": "b2", "row": {"name": "br-int"}}, {"op": "mutate", "table": "Root", "where": [], "mutations": [["bridges", "insert", ["named-uuid", "b2"]]]}]),
        json!([{"op": "insert", "table": "Bridge", "uuid-name": "b2", "row": {"name": "br-ex"}}, {"op": "mutate", "table": "Root", "where": [], "mutations": [["bridges", "insert", ["named-uuid", "b2"]]]}]),
        // Deleting the root collects everything below it.
        json!([{"op": "delete", "table": "Root", "where": []}]),
    ];
    for step in steps {
        both(&mut ours, &theirs, db(step));
        dump_all(&mut ours, &theirs);
    }
}

#[test]
fn failed_transactions_change_nothing() {
    let mut ours = Ours::new();
    ours.run(&db(
        json!([{"op": "insert", "table": "Root", "row": {"next_cfg": 1}}]),
    ));
    let before = ours.db.rows("Root").unwrap().clone();
    let reply = ours.run(&db(json!([
        {"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "+=", 1]]},
        {"op": "insert", "table": "Bridge", "row": {"name": "x"}},
        {"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "/=", 0]]},
        {"op": "comment", "comment": "not reached"}
    ])));
    assert_eq!(reply[0], json!({"count": 1}));
    assert_eq!(reply[2]["error"], "domain error");
    assert_eq!(reply[3], Value::Null);
    assert_eq!(reply.as_array().unwrap().len(), 4);
    assert_eq!(ours.db.rows("Root").unwrap(), &before);
    assert!(ours.db.rows("Bridge").unwrap().is_empty());
}

#[test]
fn change_sets_carry_old_and_new_rows() {
    let mut ours = Ours::new();
    let locks = BTreeSet::new();
    let out = ours.run_at(
        &db(json!([
            {"op": "insert", "table": "Root", "row": {"next_cfg": 1, "bridges": ["named-uuid", "b"]}},
            {"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {"name": "br0"}},
            {"op": "comment", "comment": "one"}, {"op": "comment", "comment": "two"},
            {"op": "commit", "durable": true}
        ])),
        0,
        &locks,
    );
    let Outcome::Done { changes, .. } = out else {
        panic!("blocked")
    };
    assert_eq!(changes.comment.as_deref(), Some("one\ntwo"));
    assert!(changes.durable);
    assert_eq!(changes.tables["Root"].len(), 1);
    assert!(
        changes.tables["Bridge"]
            .values()
            .all(|c| c.old.is_none() && c.new.is_some())
    );
    let out = ours.run_at(
        &db(json!([{"op": "update", "table": "Root", "where": [], "row": {"next_cfg": 2}}])),
        0,
        &locks,
    );
    let Outcome::Done { changes, .. } = out else {
        panic!("blocked")
    };
    let change = changes.tables["Root"].values().next().unwrap();
    let (old, new) = (change.old.as_ref().unwrap(), change.new.as_ref().unwrap());
    assert_eq!(old.columns["next_cfg"].to_json(), json!(1));
    assert_eq!(new.columns["next_cfg"].to_json(), json!(2));
    assert_ne!(old.version, new.version, "_version changes with the row");
    // Writing the same value again changes nothing at all.
    let out = ours.run_at(
        &db(json!([{"op": "update", "table": "Root", "where": [], "row": {"next_cfg": 2}}])),
        0,
        &locks,
    );
    let Outcome::Done { changes, reply } = out else {
        panic!("blocked")
    };
    assert_eq!(reply, json!([{"count": 1}]));
    assert!(changes.is_empty());
}

#[test]
fn wait_blocks_until_its_deadline_then_times_out() {
    let mut ours = Ours::new();
    let locks = BTreeSet::new();
    let wait = db(
        json!([{"op": "wait", "table": "Root", "where": [], "columns": ["next_cfg"], "until": "==", "rows": [{"next_cfg": 3}], "timeout": 1000}]),
    );
    assert_eq!(
        ours.run_at(&wait, 10, &locks),
        Outcome::Blocked {
            deadline_ms: Some(1000)
        }
    );
    let Outcome::Done { reply, .. } = ours.run_at(&wait, 1000, &locks) else {
        panic!("still blocked")
    };
    assert_eq!(reply[0]["error"], "timed out");
    let forever = db(
        json!([{"op": "wait", "table": "Root", "where": [], "columns": ["next_cfg"], "until": "!=", "rows": [], "timeout": null}]),
    );
    // A null timeout is not a number: a syntax error, as the RFC wants an integer.
    let Outcome::Done { reply, .. } = ours.run_at(&forever, 0, &locks) else {
        panic!("blocked")
    };
    assert_eq!(reply[0]["error"], "syntax error");
    let no_timeout = db(
        json!([{"op": "wait", "table": "Root", "where": [], "columns": ["next_cfg"], "until": "!=", "rows": []}]),
    );
    assert_eq!(
        ours.run_at(&no_timeout, 5, &locks),
        Outcome::Blocked { deadline_ms: None }
    );
    ours.run(&db(
        json!([{"op": "insert", "table": "Root", "row": {"next_cfg": 3}}]),
    ));
    let Outcome::Done { reply, .. } = ours.run_at(&wait, 20, &locks) else {
        panic!("blocked")
    };
    assert_eq!(reply, json!([{}]));
}

#[test]
fn assert_checks_the_callers_locks() {
    let mut ours = Ours::new();
    let locks = BTreeSet::from(["mine".to_string()]);
    let Outcome::Done { reply, .. } =
        ours.run_at(&db(json!([{"op": "assert", "lock": "mine"}])), 0, &locks)
    else {
        panic!("blocked")
    };
    assert_eq!(reply, json!([{}]));
    let reply = ours.run(&db(json!([{"op": "assert", "lock": "mine"}])));
    assert_eq!(reply[0]["error"], "not owner");
}

#[test]
fn request_level_errors() {
    let ours = Ours::new();
    let locks = BTreeSet::new();
    let mut fresh = Uuid::nil;
    let mut ctx = Context {
        now_ms: 0,
        received_ms: 0,
        locks: &locks,
        new_uuid: &mut fresh,
    };
    assert_eq!(
        transact(&ours.db, &json!(["Nope"]), &mut ctx)
            .unwrap_err()
            .kind,
        ErrorKind::UnknownDatabase
    );
    assert_eq!(
        transact(&ours.db, &json!([]), &mut ctx).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
    assert_eq!(
        transact(&ours.db, &json!({}), &mut ctx).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
}
