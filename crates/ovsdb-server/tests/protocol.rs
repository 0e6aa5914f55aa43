//! The protocol's edges, side by side with Open vSwitch's `ovsdb-server`: unknown methods,
//! malformed JSON, messages split across writes, locks, blocked waits and cancel.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Client, Ours, Theirs, schema, temp_dir, write_schema};
use serde_json::{Value, json};

fn both(tag: &str) -> (Theirs, Ours) {
    let t = temp_dir(&format!("{tag}-theirs"));
    let o = temp_dir(&format!("{tag}-ours"));
    write_schema(&t, &schema());
    write_schema(&o, &schema());
    (Theirs::start(&t), Ours::start_owned(o, &[]))
}

/// Everything a client sees for a script of requests on two connections, with each
/// request's reply and the notifications before it.
fn lock_script(a: &mut Client, b: &mut Client) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut step = |who: &str, c: &mut Client, method: &str, params: Value| {
        let (reply, notes) = c.call(method, params);
        seen.push(json!({"who": who, "reply": reply, "before": notes}));
    };
    step("a", a, "lock", json!(["L"]));
    step("a", a, "lock", json!(["L"]));
    step("b", b, "lock", json!(["L"]));
    step("b", b, "steal", json!(["L"]));
    step("b", b, "unlock", json!(["L"]));
    step("b", b, "steal", json!(["L"]));
    step("a", a, "lock", json!(["L"]));
    step("b", b, "unlock", json!(["L"]));
    step("a", a, "echo", json!(["after unlock"]));
    step(
        "a",
        a,
        "transact",
        json!(["Shop", {"op": "assert", "lock": "L"}]),
    );
    step(
        "b",
        b,
        "transact",
        json!(["Shop", {"op": "assert", "lock": "L"}]),
    );
    step("b", b, "no_such_method", json!([]));
    seen
}

/// Strips the `details` of errors: their wording is not what is compared here.
fn tags(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| *k != "details")
                .map(|(k, v)| (k.clone(), tags(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(tags).collect()),
        other => other.clone(),
    }
}

#[test]
fn locks_and_unknown_methods_as_ovsdb_server() {
    let (theirs, ours) = both("locks");
    let expected = lock_script(&mut theirs.connect(), &mut theirs.connect());
    let actual = lock_script(&mut ours.connect(), &mut ours.connect());
    assert_eq!(tags(&Value::Array(actual)), tags(&Value::Array(expected)));
}

fn wait_script(a: &mut Client, b: &mut Client) -> Vec<Value> {
    let wait = |timeout: u64| {
        json!(["Shop", {"op": "wait", "table": "Shelf", "where": [["name", "==", "w"]],
            "columns": ["n"], "until": "==", "rows": [{"n": 7}], "timeout": timeout}])
    };
    let mut seen = Vec::new();
    // Times out: nothing changes.
    seen.push(tags(&a.call("transact", wait(100)).0));
    // Blocks until another client's commit satisfies it.
    a.send(&json!({"method": "transact", "params": wait(10_000), "id": "w1"}));
    std::thread::sleep(Duration::from_millis(200));
    let (r, _) = b.call(
        "transact",
        json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "w", "n": 7}}]),
    );
    seen.push(json!(r["result"][0].get("uuid").is_some()));
    seen.push(a.next_message().unwrap_or(Value::Null));
    // Blocks, then is cancelled.
    a.send(&json!({"method": "transact", "params": wait(0), "id": "w2"}));
    let forever = json!(["Shop", {"op": "wait", "table": "Shelf", "where": [],
        "columns": ["n"], "until": "==", "rows": []}]);
    a.send(&json!({"method": "transact", "params": forever, "id": "w3"}));
    std::thread::sleep(Duration::from_millis(100));
    a.send(&json!({"method": "cancel", "params": ["w3"], "id": null}));
    seen.push(tags(&a.next_message().unwrap_or(Value::Null)));
    // Open vSwitch answers a cancelled request with nothing at all.
    a.stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    seen.push(tags(&a.next_message().unwrap_or(Value::Null)));
    seen
}

#[test]
fn blocked_waits_and_cancel_as_ovsdb_server() {
    let (theirs, ours) = both("wait");
    let expected = wait_script(&mut theirs.connect(), &mut theirs.connect());
    let actual = wait_script(&mut ours.connect(), &mut ours.connect());
    assert_eq!(actual, expected);
}

#[test]
fn garbage_closes_only_its_own_connection() {
    for (name, garbage) in [
        ("not json", &b"this is not json"[..]),
        ("bad nesting", &b"{\"method\": ]"[..]),
        ("not json-rpc", &b"[1, 2, 3]"[..]),
        ("binary", &[0xff, 0xfe, 0x00, 0x01][..]),
    ] {
        let (theirs, ours) = both("garbage");
        let mut closed = Vec::new();
        for target in [&theirs.dir, &ours.dir] {
            let sock = target.join("db.sock");
            let mut good = Client::connect(&sock);
            let mut bad = Client::connect(&sock);
            bad.stream.write_all(garbage).expect("send garbage");
            // The server drops the bad connection...
            closed.push(bad.next_message().is_none());
            // ...and serves the good one as before.
            let (reply, _) = good.call("echo", json!(["still here"]));
            assert_eq!(reply["result"], json!(["still here"]), "{name}");
            let (reply, _) = good.call(
                "transact",
                json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": name}}]),
            );
            assert!(reply["result"][0]["uuid"].is_array(), "{name}: {reply}");
        }
        assert_eq!(closed[1], closed[0], "{name}: closes as ovsdb-server does");
        assert!(closed[1], "{name}: the bad connection is closed");
    }
}

#[test]
fn messages_split_and_batched_arrive_whole() {
    let (_theirs, ours) = both("split");
    let mut c = ours.connect();
    let one = json!({"method": "echo", "params": ["split"], "id": 1}).to_string();
    for chunk in one.as_bytes().chunks(5) {
        c.stream.write_all(chunk).expect("write");
        c.stream.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        c.next_message().map(|m| m["result"].clone()),
        Some(json!(["split"]))
    );
    let batch = format!(
        "{}{}",
        json!({"method": "echo", "params": [1], "id": 2}),
        json!({"method": "list_dbs", "params": [], "id": 3})
    );
    c.stream.write_all(batch.as_bytes()).expect("write");
    assert_eq!(
        c.next_message().map(|m| m["result"].clone()),
        Some(json!([1]))
    );
    assert_eq!(
        c.next_message().map(|m| m["result"].clone()),
        Some(json!(["Shop", "_Server"]))
    );
}

#[test]
fn a_half_sent_transaction_changes_nothing() {
    let (_theirs, ours) = both("half");
    {
        let mut c = ours.connect();
        let full = json!({"method": "transact", "id": 1, "params":
            ["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "half"}}]})
        .to_string();
        c.stream
            .write_all(&full.as_bytes()[..full.len() - 3])
            .expect("write");
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut c = ours.connect();
    let (reply, _) = c.call(
        "transact",
        json!(["Shop", {"op": "select", "table": "Shelf", "where": [], "columns": ["name"]}]),
    );
    assert_eq!(reply["result"], json!([{"rows": []}]));
}
