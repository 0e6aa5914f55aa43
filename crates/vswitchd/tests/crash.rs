//! Crash safety of the embedded database: `kill -9` of fvs-vswitchd in the middle of a
//! stream of transactions from several clients. After the restart every acknowledged
//! transaction is there, none is half-applied, and the daemon rebuilds the same bridges with
//! the same OpenFlow port numbers.
//!
//! What survived is read from the file with Open vSwitch's own `ovsdb-tool` while the daemon
//! is down, so the check does not rely on our server's reading of its own file; port numbers
//! are compared through real `ovs-vsctl` and `ovs-ofctl show`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{PrivateFvs, TempDir, require_tool};
use serde_json::{Deserializer, Value, json};

/// Raw JSON-RPC writers; each also has a bridge of its own.
const WRITERS: u64 = 4;
/// Transactions a writer sends at most (the daemon is killed long before).
const PER_WRITER: u64 = 400;
/// Acknowledged transactions to wait for before the kill.
const ACKED_BEFORE_KILL: u64 = 200;

/// An fvs-vswitchd on `dir`, which outlives it, so that it can be killed (`kill9`, by its
/// own pid) and restarted on the same database.
fn start_daemon(dir: &Path) -> PrivateFvs {
    PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .dir(dir)
        .start()
}

fn db_target(dir: &Path) -> String {
    format!("unix:{}", dir.join("db.sock").display())
}

/// Real `ovs-vsctl`, waiting for the daemon (cur_cfg); must succeed.
fn vsctl(dir: &Path, args: &[&str]) -> String {
    let out = require_tool("ovs-vsctl")
        .command()
        .arg(format!("--db={}", db_target(dir)))
        .arg("--timeout=20")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
    assert!(
        out.status.success(),
        "ovs-vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Interface name → ofport, as `ovs-vsctl list Interface` shows them (unset ofports left out).
fn vsctl_ofports(dir: &Path) -> BTreeMap<String, i64> {
    vsctl(
        dir,
        &[
            "--format=csv",
            "--data=bare",
            "--no-headings",
            "--columns=name,ofport",
            "list",
            "Interface",
        ],
    )
    .lines()
    .filter_map(|l| {
        let (name, ofport) = l.split_once(',')?;
        Some((name.to_owned(), ofport.parse().ok()?))
    })
    .collect()
}

/// Port name → number from `ovs-ofctl show BRIDGE` (`LOCAL` as 65534, as in the database).
fn ofctl_ports(dir: &Path, bridge: &str) -> BTreeMap<String, i64> {
    let mgmt = format!("unix:{}", dir.join(format!("{bridge}.mgmt")).display());
    let out = require_tool("ovs-ofctl")
        .command()
        .args(["show", &mgmt])
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    assert!(
        out.status.success(),
        "ovs-ofctl show {bridge}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // ` 3(p3): addr:...` or ` LOCAL(br0): addr:...`
            let (number, rest) = l.trim_start().split_once('(')?;
            let (name, _) = rest.split_once("):")?;
            let number = if number == "LOCAL" {
                65534
            } else {
                number.parse().ok()?
            };
            Some((name.to_owned(), number))
        })
        .collect()
}

/// `ovsdb-tool query` on the database file: the rows of `table` (with `columns`).
fn file_rows(db: &Path, table: &str, columns: &[&str]) -> Vec<Value> {
    let query =
        json!(["Open_vSwitch", {"op": "select", "table": table, "where": [], "columns": columns}]);
    let out = require_tool("ovsdb-tool")
        .command()
        .arg("query")
        .arg(db)
        .arg(query.to_string())
        .output()
        .unwrap_or_else(|e| panic!("ovsdb-tool: {e}"));
    assert!(
        out.status.success(),
        "ovsdb-tool query: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ovsdb-tool prints JSON");
    v[0]["rows"].as_array().cloned().unwrap_or_default()
}

/// An OVSDB map datum as pairs.
fn map(v: &Value) -> BTreeMap<String, String> {
    v[1].as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv[0].as_str()?.to_owned(), kv[1].as_str()?.to_owned())))
        .collect()
}

/// An OVSDB set (or single atom) of uuids.
fn uuids(v: &Value) -> BTreeSet<String> {
    match v[0].as_str() {
        Some("uuid") => v[1].as_str().map(str::to_owned).into_iter().collect(),
        Some("set") => v[1]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| Some(u[1].as_str()?.to_owned()))
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn port_name(writer: u64, i: u64) -> String {
    format!("w{writer}p{i}")
}

fn bridge(writer: u64) -> String {
    format!("brw{writer}")
}

/// Writer `w`'s transaction `i`. Every fifth deletes the port added two transactions before
/// (`victim`, its Port row's uuid: the bridge's reference goes, and garbage collection takes
/// the Port and Interface rows); the others add a port (Interface row, Port row, the bridge's
/// `ports`) labelled with `i`. Either way the same transaction records `i` in
/// `Open_vSwitch`'s `external_ids:w<w>`, so a transaction applied in part shows as a counter
/// that disagrees with the ports.
fn transaction(w: u64, i: u64, victim: Option<&str>) -> Value {
    let key = format!("w{w}");
    let counter = json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [
        ["external_ids", "delete", ["set", [key]]],
        ["external_ids", "insert", ["map", [[key, i.to_string()]]]],
    ]});
    let br = bridge(w);
    if let Some(victim) = victim {
        return json!(["Open_vSwitch",
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", br]],
                "mutations": [["ports", "delete", ["uuid", victim]]]},
            counter,
        ]);
    }
    let name = port_name(w, i);
    let label = json!(["map", [["txn", i.to_string()]]]);
    json!(["Open_vSwitch",
        {"op": "insert", "table": "Interface", "uuid-name": "i",
            "row": {"name": name, "external_ids": label}},
        {"op": "insert", "table": "Port", "uuid-name": "p",
            "row": {"name": name, "interfaces": ["named-uuid", "i"], "external_ids": label}},
        {"op": "mutate", "table": "Bridge", "where": [["name", "==", br]],
            "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]},
        counter,
    ])
}

/// The ports writer `w`'s transactions `0..=last` leave.
fn expected_ports(w: u64, last: Option<u64>) -> BTreeSet<String> {
    let mut ports = BTreeSet::new();
    for i in last.map_or(0..0, |l| 0..l + 1) {
        if i % 5 == 4 {
            ports.remove(&port_name(w, i - 2));
        } else {
            ports.insert(port_name(w, i));
        }
    }
    ports
}

/// What one writer saw: its acknowledged transactions, and whether the daemon went away
/// under it (rather than the writer running out of work).
#[derive(Debug, Default)]
struct Seen {
    acked: Option<u64>,
    cut: bool,
}

/// Sends writer `w`'s transactions one after the other on one connection until the
/// connection breaks; counts acknowledgements in `acked_total`.
fn write_stream(dir: &Path, w: u64, acked_total: &AtomicU64) -> Seen {
    let mut seen = Seen::default();
    let Ok(mut sock) = UnixStream::connect(dir.join("db.sock")) else {
        seen.cut = true;
        return seen;
    };
    let Ok(reader) = sock.try_clone() else {
        seen.cut = true;
        return seen;
    };
    let mut replies = Deserializer::from_reader(BufReader::new(reader)).into_iter::<Value>();
    // Port row uuids by transaction, from the acknowledgements.
    let mut added: BTreeMap<u64, String> = BTreeMap::new();
    for i in 0..PER_WRITER {
        let victim = (i % 5 == 4).then(|| added.get(&(i - 2)).cloned()).flatten();
        assert_eq!(
            victim.is_some(),
            i % 5 == 4,
            "writer {w}: no uuid for port {}",
            i.saturating_sub(2)
        );
        let req =
            json!({"id": i, "method": "transact", "params": transaction(w, i, victim.as_deref())});
        if sock.write_all(req.to_string().as_bytes()).is_err() {
            seen.cut = true;
            return seen;
        }
        let reply = loop {
            match replies.next() {
                Some(Ok(v)) if v["id"] == json!(i) => break v,
                Some(Ok(_)) => {} // an echo or other message: not ours
                _ => {
                    seen.cut = true;
                    return seen;
                }
            }
        };
        let results = reply["result"].as_array().cloned().unwrap_or_default();
        assert!(
            !results.is_empty() && results.iter().all(|r| r.get("error").is_none()),
            "writer {w} transaction {i} failed: {reply}"
        );
        if let Some(uuid) = results.get(1).and_then(|r| r["uuid"][1].as_str()) {
            added.insert(i, uuid.to_owned());
        }
        seen.acked = Some(i);
        acked_total.fetch_add(1, Ordering::SeqCst);
    }
    seen
}

#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged_and_rebuilds_the_same_ports() {
    let tmp = TempDir::new("crash");
    let dir: PathBuf = tmp.path().to_owned();
    let mut daemon = start_daemon(&dir);

    // A configuration with holes in its port numbering (deleted ports), so that numbering
    // afresh after the restart would give different numbers.
    vsctl(&dir, &["add-br", "br0"]);
    for p in ["a1", "a2", "a3", "a4", "a5"] {
        vsctl(&dir, &["add-port", "br0", p]);
    }
    vsctl(
        &dir,
        &["del-port", "br0", "a2", "--", "del-port", "br0", "a4"],
    );
    vsctl(
        &dir,
        &[
            "add-port",
            "br0",
            "a6",
            "--",
            "set",
            "Interface",
            "a6",
            "ofport_request=40",
        ],
    );
    for w in 0..WRITERS {
        vsctl(&dir, &["add-br", &bridge(w)]);
    }

    // The stream: raw JSON-RPC writers, plus real ovs-vsctl adding ports one command at a time.
    let acked_total = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (dir, acked_total) = (dir.clone(), acked_total.clone());
        writers.push(std::thread::spawn(move || {
            write_stream(&dir, w, &acked_total)
        }));
    }
    let vsctl_acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let vsctl_writer = {
        let (dir, vsctl_acked, killed) = (dir.clone(), vsctl_acked.clone(), killed.clone());
        std::thread::spawn(move || {
            for i in 0..PER_WRITER {
                // Two rows in one command. (Not add-port: ovs-vsctl verifies every bridge's
                // `ports`, which the raw writers change all the time, and would retry for
                // ever.)
                let mut child = require_tool("ovs-vsctl")
                    .command()
                    .arg(format!("--db={}", db_target(&dir)))
                    .args(["--timeout=20", "--no-wait", "--id=@q", "create", "Queue"])
                    .arg(format!("other_config:n={i}"))
                    .args(["--", "create", "QoS", "type=linux-htb", "queues:0=@q"])
                    .arg(format!("external_ids:n={i}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
                // The command in flight at the kill would wait for a daemon until its
                // timeout: stop it (our own child, by pid); it was not acknowledged.
                let status = loop {
                    if let Some(status) = child.try_wait().expect("ovs-vsctl status") {
                        break Some(status);
                    }
                    if killed.load(Ordering::SeqCst) {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                    sleep(Duration::from_millis(5));
                };
                let Some(status) = status else { return };
                if !status.success() {
                    let mut why = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut why);
                    }
                    // Only the kill may stop ovs-vsctl.
                    assert!(
                        killed.load(Ordering::SeqCst),
                        "ovs-vsctl create QoS {i} failed before the kill: {why}"
                    );
                    return;
                }
                vsctl_acked.lock().expect("vsctl acked").push(i);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_total.load(Ordering::SeqCst) < ACKED_BEFORE_KILL
        || vsctl_acked.lock().expect("vsctl acked").len() < 3
    {
        assert!(Instant::now() < deadline, "the stream is too slow");
        sleep(Duration::from_millis(5));
    }
    killed.store(true, Ordering::SeqCst);
    daemon.kill9();
    let seen: Vec<Seen> = writers
        .into_iter()
        .map(|t| t.join().expect("writer"))
        .collect();
    vsctl_writer.join().expect("ovs-vsctl writer");
    assert!(
        seen.iter().all(|s| s.cut),
        "the kill came after a writer finished: {seen:?}"
    );

    // What the file holds, as Open vSwitch reads it.
    let db = dir.join("conf.db");
    let ovs = file_rows(&db, "Open_vSwitch", &["external_ids"]);
    assert_eq!(ovs.len(), 1, "{ovs:?}");
    let counters = map(&ovs[0]["external_ids"]);
    let ports = file_rows(
        &db,
        "Port",
        &["_uuid", "name", "interfaces", "external_ids"],
    );
    let ifaces = file_rows(
        &db,
        "Interface",
        &["_uuid", "name", "external_ids", "ofport"],
    );
    let bridges = file_rows(&db, "Bridge", &["name", "ports"]);
    let iface_by_uuid: BTreeMap<String, &Value> = ifaces
        .iter()
        .filter_map(|r| Some((r["_uuid"][1].as_str()?.to_owned(), r)))
        .collect();
    for (w, s) in seen.iter().enumerate() {
        let w = w as u64;
        let last: Option<u64> = counters.get(&format!("w{w}")).and_then(|v| v.parse().ok());
        // Acknowledged means there; at most the one transaction in flight may be there too.
        assert!(
            last >= s.acked && last <= s.acked.map_or(Some(0), |a| Some(a + 1)),
            "writer {w}: acknowledged up to {:?}, the file has up to {last:?}",
            s.acked
        );
        // All or nothing: the ports in the file are exactly those the counter's
        // transactions leave, each with its interface, its label and its bridge.
        let br = bridges
            .iter()
            .find(|b| b["name"] == json!(bridge(w)))
            .unwrap_or_else(|| panic!("bridge {} lost", bridge(w)));
        let members = uuids(&br["ports"]);
        let mut found = BTreeSet::new();
        for p in ports
            .iter()
            .filter(|p| p["_uuid"][1].as_str().is_some_and(|u| members.contains(u)))
        {
            let name = p["name"].as_str().expect("port name").to_owned();
            if name == bridge(w) {
                continue; // the bridge's own internal port
            }
            let label = map(&p["external_ids"]);
            let ifs = uuids(&p["interfaces"]);
            assert_eq!(ifs.len(), 1, "port {name} has interfaces {ifs:?}");
            let iface = ifs
                .iter()
                .next()
                .and_then(|u| iface_by_uuid.get(u))
                .unwrap_or_else(|| panic!("port {name}'s interface is missing"));
            assert_eq!(iface["name"], json!(name));
            assert_eq!(map(&iface["external_ids"]), label, "{name}");
            assert_eq!(
                label
                    .get("txn")
                    .map(|t| port_name(w, t.parse().unwrap_or(u64::MAX))),
                Some(name.clone())
            );
            found.insert(name);
        }
        assert_eq!(found, expected_ports(w, last), "writer {w}'s ports");
    }
    // No orphan: every Port in the file belongs to a bridge.
    let all_members: BTreeSet<String> = bridges.iter().flat_map(|b| uuids(&b["ports"])).collect();
    assert!(ports.iter().all(|p| {
        p["_uuid"][1]
            .as_str()
            .is_some_and(|u| all_members.contains(u))
    }));
    // ovs-vsctl's acknowledged commands are there, each with both of its rows.
    let queues: BTreeMap<String, String> = file_rows(&db, "Queue", &["_uuid", "other_config"])
        .iter()
        .filter_map(|r| {
            let n = map(&r["other_config"]).get("n")?.clone();
            Some((r["_uuid"][1].as_str()?.to_owned(), n))
        })
        .collect();
    let qos: BTreeSet<u64> = file_rows(&db, "QoS", &["queues", "external_ids"])
        .iter()
        .map(|r| {
            let n = map(&r["external_ids"])
                .get("n")
                .cloned()
                .unwrap_or_default();
            let queue = r["queues"][1][0][1][1].as_str().and_then(|u| queues.get(u));
            assert_eq!(queue, Some(&n), "QoS {n} without its queue: {r}");
            n.parse().unwrap_or(u64::MAX)
        })
        .collect();
    assert_eq!(qos.len(), queues.len(), "a queue without its QoS");
    let vsctl_acked: BTreeSet<u64> = vsctl_acked
        .lock()
        .expect("vsctl acked")
        .iter()
        .copied()
        .collect();
    assert!(
        vsctl_acked.is_subset(&qos) && qos.len() <= vsctl_acked.len() + 1,
        "ovs-vsctl acknowledged {vsctl_acked:?}, the file has {qos:?}"
    );
    // The port numbers the daemon had written back before it died.
    let numbered: BTreeMap<String, i64> = ifaces
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r["ofport"].as_i64()?)))
        .collect();
    for p in ["br0", "a1", "a3", "a5", "a6"] {
        assert!(
            numbered.contains_key(p),
            "{p} had no ofport before the kill: {numbered:?}"
        );
    }
    assert_eq!(numbered.get("a6"), Some(&40));
    eprintln!(
        "acknowledged before the kill: {seen:?}, {} by ovs-vsctl; {} interfaces numbered in the file",
        vsctl_acked.len(),
        numbered.len()
    );

    // The restart: the same bridges, and every port keeps its number.
    let _daemon = start_daemon(&dir);
    // Any change makes ovs-vsctl wait for the daemon to have applied the configuration.
    vsctl(
        &dir,
        &["set", "Open_vSwitch", ".", "external_ids:restarted=yes"],
    );
    let after = vsctl_ofports(&dir);
    for (name, ofport) in &numbered {
        assert_eq!(
            after.get(name),
            Some(ofport),
            "{name}'s ofport after the restart"
        );
    }
    let mut expected_bridges: Vec<String> = (0..WRITERS).map(bridge).collect();
    expected_bridges.push("br0".into());
    expected_bridges.sort();
    let listed: Vec<String> = vsctl(&dir, &["list-br"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, expected_bridges);
    for b in &expected_bridges {
        let on_the_wire = ofctl_ports(&dir, b);
        let in_db: BTreeMap<String, i64> = vsctl(&dir, &["list-ifaces", b])
            .lines()
            .chain(std::iter::once(b.as_str()))
            .map(|i| (i.to_owned(), *after.get(i).unwrap_or(&-1)))
            .collect();
        assert_eq!(
            on_the_wire, in_db,
            "ovs-ofctl show {b} against the database"
        );
    }
}
