//! Tunnel ports in a running `fvs-vswitchd` (root).
//!
//! - **Against Open vSwitch 3.1**: the same tunnel interfaces, added one by one to ferrovs and
//!   to `ovs-vswitchd` (each in a network namespace of its own), must get the same `error`
//!   column (a port that would receive the same traffic as an earlier one is refused with
//!   "File exists"), the same option text in `dpif/show`, and the same grouping into shared
//!   datapath ports (`vxlan` on port 4790 is not `vxlan` on 4789).
//! - **On the wire**, two hosts: ferrovs on host A and the Linux kernel's own `vxlan` device
//!   on host B, an independent implementation, over VXLAN on UDP port 4790 with key 5. A VM
//!   on A pings B through the tunnel; `tcpdump -v` on B's underlay shows the outer header with
//!   the port's `ttl` and `tos`; ferrovs's receive socket is bound to `local_ip`; and what B
//!   sends with key 6 does not reach the VM (Open vSwitch drops a key no port receives).
//!
//! CI runs as root; without root these tests fail saying so. Namespaces (named with the
//! test's pid) and daemons are removed by guards even when an assertion fails.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use fvs_test_support::netns::{self, Capture, Netns, require_root, unique_name, veth};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs};

/// An interface to add: name, type, options.
type PortCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Interfaces added in order.
const PORTS: &[PortCase] = &[
    ("a", "gre", &[("remote_ip", "10.0.0.1"), ("key", "5")]),
    // Same remote and receive key as `a`: refused.
    (
        "b",
        "gre",
        &[("remote_ip", "10.0.0.1"), ("in_key", "5"), ("out_key", "6")],
    ),
    ("c", "gre", &[("remote_ip", "10.0.0.1"), ("key", "6")]),
    ("d", "gre", &[("remote_ip", "10.0.0.1"), ("key", "flow")]),
    (
        "e",
        "vxlan",
        &[("remote_ip", "10.0.0.1"), ("dst_port", "4790")],
    ),
    // An unknown option: a warning in the log, the port works.
    ("f", "vxlan", &[("remote_ip", "10.0.0.1"), ("foo", "bar")]),
    (
        "g",
        "gre",
        &[
            ("remote_ip", "10.0.0.1"),
            ("key", "5"),
            ("local_ip", "10.0.0.9"),
        ],
    ),
    (
        "h",
        "gre",
        &[("remote_ip", "10.0.0.2"), ("ttl", "5"), ("tos", "0x10")],
    ),
    // No key and key 0 receive the same packets: refused.
    ("i", "gre", &[("remote_ip", "10.0.0.2"), ("key", "0")]),
    ("j", "geneve", &[("remote_ip", "10.0.0.3"), ("key", "flow")]),
    // The standard port spelled out: the same traffic as `f`, refused.
    (
        "k",
        "vxlan",
        &[("remote_ip", "10.0.0.1"), ("dst_port", "4789")],
    ),
    ("l", "gre", &[("remote_ip", "bogus")]),
];

/// What a switch made of the ports: per name, its `error` column and its `dpif/show` line's
/// datapath port and `(...)` text.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    errors: BTreeMap<String, String>,
    shown: BTreeMap<String, (String, String)>,
}

fn add_ports(vsctl: &dyn Fn(&[&str]) -> Result<String, String>) {
    vsctl(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args())
        .unwrap_or_else(|e| panic!("add-br: {e}"));
    for (name, kind, options) in PORTS {
        let args = common::add_port_args(name, kind, options);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A refused port still gets its row; ovs-vsctl says so and fails.
        let _ = vsctl(&args);
    }
}

fn outcome(vsctl: &dyn Fn(&[&str]) -> Result<String, String>, show: &str) -> Outcome {
    let mut errors = BTreeMap::new();
    for (name, _, _) in PORTS {
        let e = vsctl(&["get", "interface", name, "error"]).unwrap_or_else(|e| panic!("{e}"));
        errors.insert((*name).to_owned(), e.trim().to_owned());
    }
    let shown = show
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            let dp = words.next()?.split('/').nth(1)?.trim_end_matches(':');
            let text = &l[l.find('(')? + 1..l.rfind(')')?];
            Some((name.to_owned(), (dp.to_owned(), text.to_owned())))
        })
        .filter(|(n, _)| PORTS.iter().any(|(p, _, _)| p == n))
        .collect();
    Outcome { errors, shown }
}

/// The distinct `netdev_vport` warnings in a log file (the message, after the last `|`).
fn warnings(log: &std::path::Path) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display()));
    text.lines()
        .filter(|l| l.contains("|netdev_vport|WARN|"))
        .filter_map(|l| l.rsplit('|').next())
        .map(str::to_owned)
        .collect()
}

/// The status columns of tunnel interface `a` (numbers as `N`) and of the refused `b`, once
/// the first statistics round has written them (within 5 s of the port's creation).
fn tunnel_status(vsctl: &dyn Fn(&[&str]) -> Result<String, String>) -> Vec<String> {
    let columns = "statistics,admin_state,link_state,mtu,ifindex";
    let get = |name: &str| {
        vsctl(&["--columns", columns, "list", "interface", name]).unwrap_or_else(|e| panic!("{e}"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while get("a").contains("statistics          : {}") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    // The counters' values are not compared: the bridge's own port floods IPv6 neighbour
    // discovery to the tunnels, which Open vSwitch, finding no route, never counts, and
    // ferrovs counts as sent (the kernel's refusal is the underlay's tx_dropped).
    let shape = |text: String| -> String {
        let mut out = String::new();
        let mut in_number = false;
        for c in text.chars() {
            if c.is_ascii_digit() {
                if !in_number {
                    out.push('N');
                }
                in_number = true;
            } else {
                in_number = false;
                out.push(c);
            }
        }
        out
    };
    vec![shape(get("a")), shape(get("b"))]
}

/// Datapath port numbers differ between the two switches; which ports share one must not.
fn grouping(o: &Outcome) -> Vec<Vec<String>> {
    let mut by_dp: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, (dp, _)) in &o.shown {
        by_dp.entry(dp).or_default().push(name.clone());
    }
    let mut groups: Vec<Vec<String>> = by_dp.into_values().collect();
    groups.sort();
    groups
}

#[test]
fn tunnel_ports_errors_and_dpif_show_match_open_vswitch() {
    require_root();
    let ovs_ns = Netns::new(&unique_name("h10tp", "o"));
    let fvs_ns = Netns::new(&unique_name("h10tp", "f"));
    let theirs_stats;
    let theirs_log;
    let theirs = {
        let ovs = PrivateOvs::start_in_netns(ovs_ns.name());
        let vsctl = |a: &[&str]| ovs.vsctl(a).map_err(|e| e.to_string());
        add_ports(&vsctl);
        theirs_stats = tunnel_status(&vsctl);
        theirs_log = warnings(&ovs.dir().join("ovs-vswitchd.log"));
        let show = ovs.appctl(&["dpif/show"]).unwrap_or_else(|e| panic!("{e}"));
        outcome(&vsctl, &show)
    };
    let ours_stats;
    let ours_log;
    let ours = {
        let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .dummy(false)
            .netns(fvs_ns.name())
            .tag("h10tp")
            .arg("--log-file")
            .start();
        let vsctl = |a: &[&str]| fvs.vsctl(a).map_err(|e| e.to_string());
        add_ports(&vsctl);
        ours_stats = tunnel_status(&vsctl);
        ours_log = warnings(&fvs.dir().join("fvs-vswitchd.log"));
        let show = fvs.appctl(&["dpif/show"]).unwrap_or_else(|e| panic!("{e}"));
        outcome(&vsctl, &show)
    };
    assert_eq!(ours_stats, theirs_stats);
    // Open vSwitch repeats its warnings at every reconfiguration, ferrovs logs them once
    // per change of the options; each of Open vSwitch's is in ferrovs's log.
    assert!(
        theirs_log.contains("f: unknown vxlan argument 'foo'"),
        "{theirs_log:?}"
    );
    assert!(
        theirs_log.is_subset(&ours_log),
        "{ours_log:?} {theirs_log:?}"
    );
    assert_eq!(ours.errors, theirs.errors);
    for dup in ["b", "i", "k"] {
        assert!(
            theirs.errors[dup].contains("File exists"),
            "the oracle refuses {dup}: {:?}",
            theirs.errors
        );
    }
    let text = |o: &Outcome| -> BTreeMap<String, String> {
        o.shown
            .iter()
            .map(|(n, (_, t))| (n.clone(), t.clone()))
            .collect()
    };
    assert_eq!(text(&ours), text(&theirs));
    assert_eq!(grouping(&ours), grouping(&theirs));
    assert_eq!(theirs.shown.len(), PORTS.len() - 4, "{theirs:?}");
}

/// Host A's underlay address.
const IP_A: &str = "10.0.1.31";
/// Host B's underlay address.
const IP_B: &str = "10.0.1.21";

#[test]
fn vxlan_on_port_4790_with_key_ttl_and_tos_reaches_a_kernel_vxlan_host() {
    require_root();
    let host_a = Netns::new(&unique_name("h10vx", "a"));
    let host_b = Netns::new(&unique_name("h10vx", "b"));
    let vm = Netns::new(&unique_name("h10vx", "v"));
    // The underlay.
    veth(host_a.name(), "ul0", host_b.name(), "ul0");
    host_a.ip(&["addr", "add", &format!("{IP_A}/24"), "dev", "ul0"]);
    host_b.ip(&["addr", "add", &format!("{IP_B}/24"), "dev", "ul0"]);
    host_a.ip(&["link", "set", "ul0", "up"]);
    host_b.ip(&["link", "set", "ul0", "up"]);
    // The VM on host A, in 192.168.5.0/24 (key 5) and 192.168.6.0/24 (key 6).
    veth(vm.name(), "eth0", host_a.name(), "vm0");
    vm.ip(&["link", "set", "eth0", "mtu", "1400", "up"]);
    vm.ip(&["addr", "add", "192.168.5.1/24", "dev", "eth0"]);
    vm.ip(&["addr", "add", "192.168.6.1/24", "dev", "eth0"]);
    host_a.ip(&["link", "set", "vm0", "up"]);
    // Host B: the kernel's VXLAN devices on port 4790, VNI 5 and VNI 6.
    for (dev, vni, addr) in [
        ("vx5", "5", "192.168.5.2/24"),
        ("vx6", "6", "192.168.6.2/24"),
    ] {
        host_b.ip(&[
            "link", "add", dev, "type", "vxlan", "id", vni, "remote", IP_A, "local", IP_B,
            "dstport", "4790",
        ]);
        host_b.ip(&["link", "set", dev, "mtu", "1400", "up"]);
        host_b.ip(&["addr", "add", addr, "dev", dev]);
    }

    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(host_a.name())
        .tag("h10vx")
        .start();
    let vsctl = |a: &[&str]| fvs.vsctl(a).unwrap_or_else(|e| panic!("{a:?}: {e}"));
    vsctl(&["add-br", "br0"]);
    vsctl(&["add-port", "br0", "vm0"]);
    let remote = format!("options:remote_ip={IP_B}");
    let local = format!("options:local_ip={IP_A}");
    vsctl(&[
        "add-port",
        "br0",
        "vx",
        "--",
        "set",
        "interface",
        "vx",
        "type=vxlan",
        &remote,
        &local,
        "options:dst_port=4790",
        "options:key=5",
        "options:ttl=7",
        "options:tos=0x10",
    ]);
    let error = vsctl(&["get", "interface", "vx", "error"]);
    assert_eq!(error.trim(), "[]");

    // The receive socket is bound to local_ip on port 4790.
    let sockets = host_a.exec(&["ss", "-uln"]);
    assert!(
        sockets.contains(&format!("{IP_A}:4790")),
        "no socket on {IP_A}:4790:\n{sockets}"
    );

    // Key 5: the VM reaches B, and the outer header carries ttl 7 and tos 0x10.
    let capture = Capture::start(
        host_b.name(),
        "ul0",
        1,
        &format!("udp dst port 4790 and src host {IP_A}"),
        Duration::from_secs(15),
    );
    let (ok, out) = netns::ping(vm.name(), "192.168.5.2", 3);
    assert!(ok, "ping over VXLAN port 4790 failed:\n{out}");
    let seen = capture.finish();
    assert!(
        seen.contains("tos 0x10") && seen.contains("ttl 7,"),
        "the outer header does not carry the port's tos and ttl:\n{seen}"
    );
    // The interface's own statistics count the pings both ways (written back every 5 s).
    let stat = |text: &str, key: &str| -> u64 {
        text.split(['{', '}', ','])
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let stats = loop {
        let s = vsctl(&["get", "interface", "vx", "statistics"]);
        if (stat(&s, "rx_packets") >= 3 && stat(&s, "tx_packets") >= 3)
            || std::time::Instant::now() > deadline
        {
            break s;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        stat(&stats, "rx_packets") >= 3 && stat(&stats, "tx_packets") >= 3,
        "the tunnel interface's statistics miss the pings: {stats}"
    );
    assert!(stat(&stats, "rx_bytes") >= 3 * 98, "{stats}");

    // Key 6: no port receives it; nothing reaches the VM (its ARP requests go unanswered
    // here, so B's ping fails and the VM sees none of B's frames).
    let capture = Capture::start(
        vm.name(),
        "eth0",
        1,
        "arp or icmp and host 192.168.6.2",
        Duration::from_secs(4),
    );
    let (ok, out) = netns::ping(host_b.name(), "192.168.6.1", 2);
    assert!(!ok, "key 6 reached the VM through a key=5 port:\n{out}");
    let seen = capture.finish();
    assert!(
        !seen.contains("192.168.6.2"),
        "the VM saw key 6's frames:\n{seen}"
    );
}

/// GRE keys on the wire: a port without a key (or with `key=0`) sends no key field, as
/// Open vSwitch's documentation of `out_key` says ("0. Packets sent through the tunnel will
/// have no key"); a fixed key and `key=flow` send one. Seen by tcpdump on the far host.
#[test]
fn gre_sends_a_key_field_only_for_a_key() {
    require_root();
    let host_a = Netns::new(&unique_name("h10gk", "a"));
    let host_b = Netns::new(&unique_name("h10gk", "b"));
    let vm = Netns::new(&unique_name("h10gk", "v"));
    veth(host_a.name(), "ul0", host_b.name(), "ul0");
    host_a.ip(&["addr", "add", &format!("{IP_A}/24"), "dev", "ul0"]);
    for remote in ["10.0.1.21/24", "10.0.1.22/24", "10.0.1.23/24"] {
        host_b.ip(&["addr", "add", remote, "dev", "ul0"]);
    }
    host_a.ip(&["link", "set", "ul0", "up"]);
    host_b.ip(&["link", "set", "ul0", "up"]);
    veth(vm.name(), "eth0", host_a.name(), "vm0");
    vm.ip(&["link", "set", "eth0", "up"]);
    vm.ip(&["addr", "add", "192.168.7.1/24", "dev", "eth0"]);
    host_a.ip(&["link", "set", "vm0", "up"]);

    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(host_a.name())
        .tag("h10gk")
        .start();
    let vsctl = |a: &[&str]| fvs.vsctl(a).unwrap_or_else(|e| panic!("{a:?}: {e}"));
    vsctl(&["add-br", "br0"]);
    vsctl(&["add-port", "br0", "vm0"]);
    for (name, remote, key) in [
        ("nokey", "10.0.1.21", None),
        ("zero", "10.0.1.22", Some("0")),
        ("seven", "10.0.1.23", Some("7")),
    ] {
        let mut options = vec![("remote_ip", remote)];
        options.extend(key.map(|k| ("key", k)));
        let args = common::add_port_args(name, "gre", &options);
        vsctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    // Three copies of one flooded ARP request, one per tunnel.
    let capture = Capture::start(
        host_b.name(),
        "ul0",
        3,
        "proto gre",
        Duration::from_secs(15),
    );
    let _ = netns::ping(vm.name(), "192.168.7.2", 1);
    let seen = capture.finish();
    let line = |dst: &str| -> String {
        seen.lines()
            .skip_while(|l| !l.contains(&format!("> {dst}:")))
            .take(1)
            .collect()
    };
    for dst in ["10.0.1.21", "10.0.1.22"] {
        let l = line(dst);
        assert!(
            l.contains("GREv0") && !l.contains("key"),
            "to {dst}: a key field where none belongs:\n{seen}"
        );
    }
    assert!(
        line("10.0.1.23").contains("key=0x7"),
        "to 10.0.1.23: no key 7:\n{seen}"
    );
}
