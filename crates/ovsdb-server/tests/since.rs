//! `monitor_cond_since` and transaction ids, message by message against Open vSwitch's
//! `ovsdb-server`, plus the protocol errors around monitors with Open vSwitch's wording.
//!
//! Open vSwitch keeps a transaction history only for clustered databases (a standalone one
//! always answers "not found"), so the oracle here serves a one-server cluster; ferrovs keeps
//! the history for its standalone database, bounded by the same rule. Inserts name their
//! row UUIDs, so both servers hold the same rows; the transaction ids (random on both
//! sides) are compared by where they appear: each distinct id is renamed `<txn-N>` in order
//! of first appearance, so "the id this reply returns is the one that notification carried"
//! is checked too.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Client, Layout, Ours, TheirsChild, schema, temp_dir, write_schema};
use serde_json::{Value, json};

/// Open vSwitch's `ovsdb-server` serving a one-server clustered database made from the
/// test schema; killed (by its pid) on drop.
struct Clustered {
    server: TheirsChild,
}

impl Clustered {
    fn start() -> Self {
        let server = TheirsChild::start("since-theirs", Layout::Clustered, |dir| {
            format!("punix:{}", dir.join("db.sock").display())
        });
        let me = Self { server };
        me.wait_for_leader();
        me
    }

    fn socket(&self) -> PathBuf {
        self.server.dir.join("db.sock")
    }

    /// A one-server cluster elects itself quickly; transactions before that would fail.
    fn wait_for_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                let mut c = Client::connect(&self.socket());
                let (reply, _) = c.call(
                    "transact",
                    json!(["_Server", {"op": "select", "table": "Database",
                        "where": [["name", "==", "Shop"]], "columns": ["leader"]}]),
                );
                if reply["result"][0]["rows"][0]["leader"] == json!(true) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the cluster elected no leader");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const ZERO: &str = "00000000-0000-0000-0000-000000000000";

fn row(n: u128) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

/// The script: `a` monitors, `b` writes, `c` resumes from ids `a` saw. Returns everything
/// the three connections received, in order.
fn script(socket: &Path) -> Vec<Value> {
    let mut a = Client::connect(socket);
    let mut b = Client::connect(socket);
    let mut c = Client::connect(socket);
    let mut seen = Vec::new();
    let columns = json!({"Shelf": [{"columns": ["name", "n", "tags"]}]});

    let (reply, notes) = a.call("monitor_cond_since", json!(["Shop", "m", columns, ZERO]));
    seen.push(json!({"a": reply, "before": notes}));
    let mut txn_ids = Vec::new();
    // `b` commits; `a` gets the update3 with the commit's id.
    let write = |b: &mut Client,
                 a: &mut Client,
                 seen: &mut Vec<Value>,
                 ids: &mut Vec<Value>,
                 ops: Value| {
        let mut params = vec![json!("Shop")];
        params.extend(ops.as_array().cloned().unwrap_or_default());
        let (reply, _) = b.call("transact", Value::Array(params));
        let update = a.next_message().expect("an update3");
        ids.push(update["params"][1].clone());
        seen.push(json!({"b": reply, "a": update}));
    };
    let insert = |n: u128, name: &str, tags: Value| {
        json!({"op": "insert", "table": "Shelf", "uuid": row(n),
            "row": {"name": name, "n": n as u64, "tags": tags}})
    };
    let update = |n: u128, new: u64| {
        json!({"op": "update", "table": "Shelf", "where": [["_uuid", "==", ["uuid", row(n)]]],
            "row": {"n": new}})
    };

    // (Open vSwitch trims its history from its main loop, not at each commit, so when a
    // database as small as this one has outgrown it depends on timing: not compared.)
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([insert(1, "s1", json!(["set", []]))]),
    );
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([update(1, 10)]),
    );
    // A database that outweighs the commits keeps them all.
    let many: Vec<String> = (0..300).map(|i| format!("tag{i}")).collect();
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([insert(2, "big", json!(["set", many]))]),
    );
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([insert(3, "s3", json!("x"))]),
    );
    let after_s3 = txn_ids.len() - 1;
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([update(3, 30), update(1, 11)]),
    );
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([insert(4, "s4", json!(["set", []]))]),
    );
    write(
        &mut b,
        &mut a,
        &mut seen,
        &mut txn_ids,
        json!([{"op": "delete", "table": "Shelf", "where": [["name", "==", "s4"]]}]),
    );
    let newest = txn_ids.len() - 1;

    for (label, last, cols) in [
        ("since s3", txn_ids[after_s3].clone(), columns.clone()),
        ("newest", txn_ids[newest].clone(), columns.clone()),
        ("unknown", json!(row(99)), columns.clone()),
        ("zero", json!(ZERO), columns.clone()),
        (
            "since s3, n < 20",
            txn_ids[after_s3].clone(),
            json!({"Shelf": [{"columns": ["name", "n"], "where": [["n", "<", 20]]}]}),
        ),
    ] {
        let (reply, notes) = c.call("monitor_cond_since", json!(["Shop", label, cols, last]));
        seen.push(json!({"c": reply, "before": notes, "why": label}));
    }
    // A condition change on `update3` monitors carries the newest id.
    let (reply, notes) = a.call(
        "monitor_cond_change",
        json!(["m", "m2", {"Shelf": [{"where": [["n", ">", 10]]}]}]),
    );
    seen.push(json!({"a": reply, "before": notes}));

    // The errors around monitors, with Open vSwitch's wording.
    for (method, params) in [
        (
            "monitor_cond_since",
            json!(["Shop", "e1", columns, ZERO, 5]),
        ),
        ("monitor_cond_since", json!(["Shop", "e2", columns])),
        ("monitor_cond_since", json!(["Shop", "e3", columns, 5])),
        (
            "monitor_cond_since",
            json!(["Shop", "e4", columns, "not-a-uuid"]),
        ),
        ("monitor_cond_since", json!(["Nope", "e5", columns, ZERO])),
        ("monitor_cond_since", json!(["Shop", "m2", columns, ZERO])),
        ("monitor", json!(["Shop", "e6", columns, "ignored"])),
        ("monitor_cond_change", json!(["nosuch", "nosuch", {}])),
        ("monitor_cond_change", json!(["m2", "m2"])),
        ("monitor_cancel", json!(["nosuch"])),
        ("monitor_cancel", json!([])),
        ("get_schema", json!(["Nope"])),
        ("get_schema", json!([])),
        ("transact", json!([])),
        ("transact", json!(["Nope"])),
        ("lock", json!([])),
        ("lock", json!([1])),
        ("steal", json!(["a", "b"])),
    ] {
        let (reply, _) = a.call(method, params.clone());
        seen.push(json!({"method": method, "params": params, "reply": reply}));
    }
    seen
}

/// Renames every UUID that is not one of the scripted row UUIDs (transaction ids, and the
/// id a server reports before any transaction) by order of first appearance.
fn canonical(v: &Value, names: &mut BTreeMap<String, String>) -> Value {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    match v {
        Value::String(s)
            if is_uuid(s) && s != ZERO && !s.ends_with("-0000-4000-8000-000000000000") =>
        {
            let n = names.len();
            Value::String(
                names
                    .entry(s.clone())
                    .or_insert_with(|| format!("<txn-{n}>"))
                    .clone(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| canonical(x, names)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), canonical(x, names)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn monitor_cond_since_resumes_as_ovsdb_server_does() {
    let theirs = Clustered::start();
    let dir = temp_dir("since-ours");
    write_schema(&dir, &schema());
    let ours = Ours::start_owned(dir, &[]);
    let expected = script(&theirs.socket());
    let actual = script(&ours.dir.join("db.sock"));
    // The very first id: Open vSwitch's cluster already has one (its creation), ferrovs's
    // fresh database has none and says so with the zero UUID. Clients only ever hand it
    // back, and both servers then answer "not found".
    let (mut expected, mut actual) = (expected, actual);
    let first_id = |seen: &mut [Value]| seen[0]["a"]["result"][1].take();
    assert_eq!(first_id(&mut actual), json!(ZERO));
    assert!(first_id(&mut expected).is_string());
    let (mut e_names, mut a_names) = (BTreeMap::new(), BTreeMap::new());
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        let e = canonical(e, &mut e_names);
        let a = canonical(a, &mut a_names);
        assert_eq!(a, e, "step {i} differs from ovsdb-server");
    }
    assert_eq!(actual.len(), expected.len());
}
