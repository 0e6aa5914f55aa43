//! Real packets (root): fvs-vswitchd in a network namespace of its own with one bridge whose
//! rule is NORMAL and two `system` ports, veth ends whose peers sit in two "host"
//! namespaces. Ping works both ways, the datapath caches megaflows whose counters rise, and
//! the NORMAL rule counts the packets the cache forwarded.
//!
//! CI runs as root; without root this test fails with a message saying so. Every namespace
//! is deleted (taking its veth ends with it) and the daemon killed by its pid, by a guard,
//! even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{TempDir, require_tool};

/// Runs a command; returns success and the combined output.
fn run(cmd: &mut Command) -> (bool, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

fn ip(args: &[&str]) {
    let (ok, out) = run(require_tool("ip").command().args(args));
    assert!(ok, "ip {args:?}: {out}");
}

/// The namespaces and the daemon, cleaned up on drop.
struct Lab {
    namespaces: Vec<String>,
    daemon: Option<Child>,
    dir: TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            let _ = require_tool("ip")
                .command()
                .args(["netns", "del", ns])
                .output();
        }
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        sleep(Duration::from_millis(20));
    }
}

impl Lab {
    fn ctl(&self) -> PathBuf {
        self.dir.path().join("fvs-vswitchd.ctl")
    }

    fn vsctl(&self, args: &[&str]) {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        let (ok, out) = run(require_tool("ovs-vsctl")
            .command()
            .arg(db)
            .arg("--timeout=10")
            .args(args));
        assert!(ok, "ovs-vsctl {args:?}: {out}");
    }

    /// `ovs-vsctl get TABLE RECORD COLUMN`, trimmed.
    fn get(&self, table: &str, record: &str, column: &str) -> String {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        let (ok, out) = run(require_tool("ovs-vsctl")
            .command()
            .arg(db)
            .args(["get", table, record, column]));
        assert!(ok, "ovs-vsctl get {table} {record} {column}: {out}");
        out.trim().to_owned()
    }

    fn appctl(&self, args: &[&str]) -> String {
        let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_fvs-appctl"))
            .env("FVS_RUNDIR", self.dir.path())
            .args(args));
        assert!(ok, "fvs-appctl {args:?}: {out}");
        out
    }

    fn ping(&self, ns: &str, to: &str) -> (bool, String) {
        run(require_tool("ip").command().args([
            "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", to,
        ]))
    }
}

/// The `n_packets` of the NORMAL rule in `bridge/dump-flows` output.
fn normal_packets(dump: &str) -> u64 {
    dump.lines()
        .find(|l| l.contains("actions=NORMAL"))
        .and_then(|l| l.split("n_packets=").nth(1))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no NORMAL rule with a count in:\n{dump}"))
}

#[test]
fn ping_crosses_a_normal_bridge_between_two_namespaces_both_ways() {
    let (_, uid) = run(Command::new("id").arg("-u"));
    assert!(
        uid.trim() == "0",
        "this test needs root (CI runs as root): it makes network namespaces and veth pairs"
    );
    let _ = require_tool("ping");
    let pid = std::process::id();
    let (sw, a, b) = (
        format!("h3sw{pid}"),
        format!("h3a{pid}"),
        format!("h3b{pid}"),
    );
    let mut lab = Lab {
        namespaces: Vec::new(),
        daemon: None,
        dir: TempDir::new("dpv"),
    };
    for ns in [&sw, &a, &b] {
        ip(&["netns", "add", ns]);
        lab.namespaces.push(ns.clone());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    for (host, port, peer, addr) in [
        (&a, "p-a", "eth0", "10.77.0.1/24"),
        (&b, "p-b", "eth0", "10.77.0.2/24"),
    ] {
        ip(&[
            "-n", &sw, "link", "add", port, "type", "veth", "peer", "name", peer, "netns", host,
        ]);
        ip(&["-n", &sw, "link", "set", port, "up"]);
        ip(&["-n", host, "addr", "add", addr, "dev", peer]);
        ip(&["-n", host, "link", "set", peer, "up"]);
    }

    let child = require_tool("ip")
        .command()
        .args(["netns", "exec", &sw, env!("CARGO_BIN_EXE_fvs-vswitchd")])
        .env("FVS_RUNDIR", lab.dir.path())
        .env("FVS_DBDIR", lab.dir.path())
        .env("FVS_LOGDIR", lab.dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start fvs-vswitchd: {e}"));
    lab.daemon = Some(child);
    wait_for(&lab.dir.path().join("db.sock"));
    wait_for(&lab.ctl());
    lab.vsctl(&[
        "add-br", "br0", "--", "add-port", "br0", "p-a", "--", "add-port", "br0", "p-b",
    ]);
    let show = lab.appctl(&["dpif/show"]);
    for want in ["br0 65534/", "p-a 1/", "p-b 2/", "(system)", "(internal)"] {
        assert!(show.contains(want), "dpif/show lacks {want:?}:\n{show}");
    }

    let (ok, out) = lab.ping(&a, "10.77.0.2");
    assert!(ok, "A cannot ping B through the bridge:\n{out}");
    let cached = |flows: &str| -> u64 {
        flows
            .lines()
            .filter_map(|l| l.split("packets:").nth(1))
            .filter_map(|r| r.split(',').next())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    };
    let flows = lab.appctl(&["dpif/dump-flows", "br0"]);
    let before = cached(&flows);
    assert!(
        before > 0,
        "the pings' later packets must hit cached megaflows:\n{flows}"
    );
    lab.appctl(&["revalidator/wait"]);
    let normal_before = normal_packets(&lab.appctl(&["bridge/dump-flows", "br0"]));

    let (ok, out) = lab.ping(&b, "10.77.0.1");
    assert!(ok, "B cannot ping A through the bridge:\n{out}");
    let flows = lab.appctl(&["dpif/dump-flows", "br0"]);
    assert!(
        cached(&flows) > before,
        "megaflow counters did not rise ({before} before):\n{flows}"
    );
    lab.appctl(&["revalidator/wait"]);
    let normal_after = normal_packets(&lab.appctl(&["bridge/dump-flows", "br0"]));
    assert!(
        normal_after >= normal_before + 6,
        "NORMAL counted {normal_before} then {normal_after}: three echo requests and three \
         replies must add at least 6 packets"
    );
    let fdb = lab.appctl(&["fdb/show", "br0"]);
    assert!(fdb.lines().count() >= 3, "both hosts' MACs learned:\n{fdb}");

    // A port added before its device exists reports Open vSwitch's error, then comes up by
    // itself once the device appears.
    let c = format!("h3c{pid}");
    ip(&["netns", "add", &c]);
    lab.namespaces.push(c.clone());
    lab.vsctl(&["add-port", "br0", "p-c"]);
    let error = lab.get("interface", "p-c", "error");
    assert_eq!(
        error, "\"could not open network device p-c (No such device)\"",
        "error column"
    );
    ip(&[
        "-n", &sw, "link", "add", "p-c", "type", "veth", "peer", "name", "eth0", "netns", &c,
    ]);
    ip(&["-n", &sw, "link", "set", "p-c", "up"]);
    ip(&["-n", &c, "addr", "add", "10.77.0.3/24", "dev", "eth0"]);
    ip(&["-n", &c, "link", "set", "eth0", "up"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while lab.get("interface", "p-c", "ofport") == "-1" {
        assert!(Instant::now() < deadline, "p-c never got its device");
        sleep(Duration::from_millis(200));
    }
    assert_eq!(lab.get("interface", "p-c", "error"), "[]");
    let (ok, out) = lab.ping(&c, "10.77.0.1");
    assert!(ok, "the late port does not forward:\n{out}");
}
