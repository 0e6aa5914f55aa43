//! Real packets (root): fvs-vswitchd in a network namespace of its own with one bridge whose
//! rule is NORMAL and two `system` ports, veth ends whose peers sit in two "host"
//! namespaces. Ping works both ways, the datapath caches megaflows whose counters rise, and
//! the NORMAL rule counts the packets the cache forwarded.
//!
//! The namespace lab is the shared one (`lab/mod.rs`). CI runs as root; without root this
//! test fails with a message saying so. Every namespace is deleted (taking its veth ends with
//! it) and the daemon killed by its pid, by a guard, even when an assertion fails.

mod lab;

use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::netns::{ip, veth};
use fvs_test_support::require_tool;
use lab::{A_IP, B_IP, Lab};

/// `ovs-vsctl get TABLE RECORD COLUMN`, trimmed.
fn get(lab: &Lab, table: &str, record: &str, column: &str) -> String {
    lab.vsctl(&["get", table, record, column]).trim().to_owned()
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
    let _ = require_tool("ping");
    let mut lab = Lab::start("h3");
    let show = lab.appctl(&["dpif/show"]);
    for want in ["br0 65534/", "p-a 1/", "p-b 2/", "(system)", "(internal)"] {
        assert!(show.contains(want), "dpif/show lacks {want:?}:\n{show}");
    }

    let (ok, out) = lab.ping(&lab.a, B_IP, 3);
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

    let (ok, out) = lab.ping(&lab.b, A_IP, 3);
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
    let c = lab.add_netns("c");
    lab.vsctl(&["add-port", "br0", "p-c"]);
    let error = get(&lab, "interface", "p-c", "error");
    assert_eq!(
        error, "\"could not open network device p-c (No such device)\"",
        "error column"
    );
    veth(&lab.sw, "p-c", &c, "eth0");
    ip(&["-n", &c, "addr", "add", "10.77.0.3/24", "dev", "eth0"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&lab, "interface", "p-c", "ofport") == "-1" {
        assert!(Instant::now() < deadline, "p-c never got its device");
        sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&lab, "interface", "p-c", "error"), "[]");
    let (ok, out) = lab.ping(&c, A_IP, 3);
    assert!(ok, "the late port does not forward:\n{out}");
}

/// Every AF_PACKET receive path (`options:rx-path`: the default `TPACKET_V2` ring, the
/// `TPACKET_V3` ring, `recvmmsg`) forwards both ways, and a value that is none of them lands
/// in the interface's `error` column, naming it.
#[test]
fn every_receive_path_forwards_and_a_bad_one_is_reported() {
    let _ = require_tool("ping");
    let lab = Lab::start("rxp");
    for path in ["tpacket-v3", "recvmmsg", "tpacket-v2"] {
        lab.vsctl(&["del-port", "br0", "p-a", "--", "del-port", "br0", "p-b"]);
        let opt = format!("options:rx-path={path}");
        lab.vsctl(&[
            "add-port",
            "br0",
            "p-a",
            "--",
            "set",
            "interface",
            "p-a",
            &opt,
            "--",
            "add-port",
            "br0",
            "p-b",
            "--",
            "set",
            "interface",
            "p-b",
            &opt,
        ]);
        for port in ["p-a", "p-b"] {
            let deadline = Instant::now() + Duration::from_secs(15);
            while get(&lab, "interface", port, "ofport") == "-1" {
                assert!(Instant::now() < deadline, "{path}: {port} never came up");
                sleep(Duration::from_millis(100));
            }
            assert_eq!(get(&lab, "interface", port, "error"), "[]", "{path}");
        }
        let (ok, out) = lab.ping(&lab.a, B_IP, 3);
        assert!(ok, "{path}: A cannot ping B:\n{out}");
        let (ok, out) = lab.ping(&lab.b, A_IP, 3);
        assert!(ok, "{path}: B cannot ping A:\n{out}");
    }
    lab.vsctl(&[
        "add-port",
        "br0",
        "p-c",
        "--",
        "set",
        "interface",
        "p-c",
        "options:rx-path=mmap",
    ]);
    let error = get(&lab, "interface", "p-c", "error");
    assert!(
        error.contains("rx-path") && error.contains("mmap"),
        "error column: {error}"
    );
}

/// `options:rx-ring-slots` past ferrovs's bound (65536 slots; 100000000 would be a 200 GB
/// ring) keeps the port from opening, with the value named in its `error` column, and costs
/// the other port nothing; a value within the bound opens it and traffic flows. (No ring
/// within the bound fails on demand, so the fallback to `recvmmsg` when the kernel cannot
/// allocate one is a unit test of the ports module.)
#[test]
fn rx_ring_slots_past_the_bound_are_the_ports_error() {
    let _ = require_tool("ping");
    let lab = Lab::start("rxn");
    lab.vsctl(&["set", "interface", "p-a", "options:rx-ring-slots=100000000"]);
    let error = get(&lab, "interface", "p-a", "error");
    assert!(
        error.contains("p-a: options:rx-ring-slots:")
            && error.contains("100000000")
            && error.contains("is not a number of slots from 1 to 65536"),
        "error column: {error}"
    );
    assert_eq!(get(&lab, "interface", "p-a", "ofport"), "-1");
    assert_eq!(get(&lab, "interface", "p-b", "error"), "[]");
    assert_ne!(get(&lab, "interface", "p-b", "ofport"), "-1");

    lab.vsctl(&["set", "interface", "p-a", "options:rx-ring-slots=1024"]);
    assert_eq!(get(&lab, "interface", "p-a", "error"), "[]");
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&lab, "interface", "p-a", "ofport") == "-1" {
        assert!(Instant::now() < deadline, "p-a never came up");
        sleep(Duration::from_millis(100));
    }
    let (ok, out) = lab.ping(&lab.a, B_IP, 3);
    assert!(ok, "A cannot ping B with a 1024-slot ring:\n{out}");
    let (ok, out) = lab.ping(&lab.b, A_IP, 3);
    assert!(ok, "B cannot ping A with a 1024-slot ring:\n{out}");
}
