//! Oracle test of `tnl/ports/show` (root): Open vSwitch 3.1's `ovs-vswitchd` (userspace
//! datapath) and fvs-vswitchd, each in a network namespace of its own, get the same bridges
//! and the same GRE, VXLAN (two on port 4789, one on 4790) and Geneve interfaces, then lose
//! one and get it back; the listing of shared tunnel ports and their reference counts must
//! read the same on both at every step. Datapath port numbers are each datapath's own (ours
//! match our `dpctl/show`), and ports made in one transaction are listed in creation order,
//! which Open vSwitch takes from a hash: lines are compared with the numbers masked, as
//! sets. `tnl/ports/show -v` (the receive rules, one per address of every device the
//! routing table leads through) is compared the same way, as the host's addresses, devices
//! and tunnel ports change. Namespaces are deleted and both daemons killed by their own
//! pids, by guards, even when an assertion fails.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::appctl_outcome;
use fvs_test_support::netns::{self, exec};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch};

/// The listing's first line, then its other lines with each `(NUMBER)` masked, as a set.
fn masked(listing: &str) -> (String, BTreeSet<String>) {
    let mut lines = listing.lines();
    let head = lines.next().unwrap_or_default().to_owned();
    let rest = lines
        .map(|l| match (l.find(" ("), l.find(") ")) {
            (Some(a), Some(b)) if a < b => format!("{} (#{}", &l[..a], &l[b..]),
            _ => l.to_owned(),
        })
        .collect();
    (head, rest)
}

/// Open vSwitch and fvs-vswitchd (real devices), each in a namespace of its own made in
/// `lab` (named after `tag`), its loopback up and the `prepare` commands run first; the
/// namespaces in that order.
fn start_both(
    lab: &mut netns::Lab,
    tag: &str,
    prepare: &[&[&str]],
) -> (PrivateOvs, PrivateFvs, [String; 2]) {
    let theirs_ns = lab.add_netns(&netns::unique_name(tag, "o"));
    let ours_ns = lab.add_netns(&netns::unique_name(tag, "f"));
    for ns in [&theirs_ns, &ours_ns] {
        exec(ns, &["ip", "link", "set", "lo", "up"]);
        for args in prepare {
            exec(ns, args);
        }
    }
    let ovs = PrivateOvs::start_in_netns(&theirs_ns);
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(&ours_ns)
        .tag(&format!("tnl{tag}"))
        .start();
    (ovs, fvs, [theirs_ns, ours_ns])
}

/// The same `ovs-vsctl` command on both switches.
fn vsctl_both(switches: [&dyn Switch; 2], args: &[&str]) {
    for sw in switches {
        sw.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
    }
}

#[test]
fn tunnel_ports_read_as_open_vswitch_s() {
    let mut lab = netns::Lab::new();
    let (ovs, fvs, _) = start_both(&mut lab, "tp", &[]);
    let switches: [&dyn Switch; 2] = [&ovs, &fvs];
    let vsctl = |args: &[&str]| vsctl_both(switches, args);
    // Ours (checked against our dpctl/show's numbers) and theirs, masked.
    let show = |args: &[&str]| -> (String, String) {
        let ours = appctl_outcome(fvs.appctl(args));
        let theirs = appctl_outcome(ovs.appctl(args));
        assert_eq!(
            masked(&ours),
            masked(&theirs),
            "ours:\n{ours}\ntheirs:\n{theirs}"
        );
        let dp = appctl_outcome(fvs.appctl(&["dpctl/show"]));
        for l in ours.lines().skip(1) {
            let mut w = l.split(' ');
            let (name, no) = (w.next().unwrap_or_default(), w.next().unwrap_or_default());
            let no = no.trim_matches(|c| c == '(' || c == ')');
            assert!(
                dp.lines()
                    .any(|d| d.trim().starts_with(&format!("port {no}: {name} "))),
                "{l} is not in dpctl/show:\n{dp}"
            );
        }
        (ours, theirs)
    };
    let (ours, theirs) = show(&["tnl/ports/show"]);
    assert_eq!(ours, theirs);
    assert_eq!(ours, "Listening ports:\n");

    for br in ["br0", "br1"] {
        vsctl(&AddBridge::new(br).set(&["datapath_type=netdev"]).args());
    }
    vsctl(
        &AddBridge::existing("br0")
            .port("g1", &["type=gre", "options:remote_ip=192.0.2.1"])
            .port("v1", &["type=vxlan", "options:remote_ip=192.0.2.2"])
            .port(
                "v2",
                &["type=vxlan", "options:remote_ip=192.0.2.3", "options:key=5"],
            )
            .args(),
    );
    vsctl(
        &AddBridge::existing("br1")
            .port(
                "v3",
                &[
                    "type=vxlan",
                    "options:remote_ip=flow",
                    "options:dst_port=4790",
                ],
            )
            .port("gn", &["type=geneve", "options:remote_ip=192.0.2.4"])
            .args(),
    );
    let (ours, _) = show(&["tnl/ports/show"]);
    for want in [
        "vxlan_sys_4789 (",
        ") ref_cnt=2",
        "gre_sys (",
        "vxlan_sys_4790 (",
        "genev_sys_6081 (",
    ] {
        assert!(ours.contains(want), "{want:?} missing:\n{ours}");
    }
    // An argument other than -v is ignored.
    show(&["tnl/ports/show", "x"]);

    vsctl(&["del-port", "v1"]);
    let (ours, _) = show(&["tnl/ports/show"]);
    assert!(!ours.contains("ref_cnt=2"), "{ours}");
    vsctl(
        &AddBridge::existing("br0")
            .port("v1", &["type=vxlan", "options:remote_ip=192.0.2.9"])
            .args(),
    );
    let (ours, _) = show(&["tnl/ports/show"]);
    assert!(ours.contains("ref_cnt=2"), "{ours}");
}

/// Under `--enable-dummy` (Open vSwitch's `--enable-dummy=override`) tunnels are dummy
/// devices: neither switch lists a listening port, with tunnel interfaces or without.
#[test]
fn dummy_tunnels_listen_nowhere_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("tnlpdummy")
        .start();
    let bridge = AddBridge::new("br0")
        .port("v1", &["type=vxlan", "options:remote_ip=192.0.2.2"])
        .port("g1", &["type=gre", "options:remote_ip=192.0.2.1"]);
    let switches: [&dyn Switch; 2] = [&ovs, &fvs];
    let shown: Vec<String> = switches
        .iter()
        .map(|sw| {
            sw.vsctl(&bridge.args())
                .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
            appctl_outcome(sw.appctl(&["tnl/ports/show"]))
        })
        .collect();
    assert_eq!(shown[1], shown[0]);
    assert_eq!(shown[1], "Listening ports:\n");
}

/// `tnl/ports/show -v` on both switches, each in its namespace, as the host's addresses
/// and devices and the tunnel ports change: the same lines (numbers masked, as sets) at
/// every step. The native-tunnel layout: addresses on `br-phy`'s internal device (whose
/// address `hwaddr` fixes, so both switches' lines name the same one), IPv4 and IPv6, a
/// veth device (no bridge's port) with an address of its own, and an address on `lo`, which is never
/// listed.
#[test]
fn verbose_listing_reads_as_open_vswitch_s() {
    let mut lab = netns::Lab::new();
    let (ovs, fvs, [theirs_ns, ours_ns]) = start_both(
        &mut lab,
        "tpv",
        &[&["ip", "addr", "add", "10.255.0.1/32", "dev", "lo"]],
    );
    let both_ns = [theirs_ns.clone(), ours_ns.clone()];
    let in_both = |args: &[&str]| {
        for ns in &both_ns {
            exec(ns, args);
        }
    };
    let switches: [&dyn Switch; 2] = [&ovs, &fvs];
    let vsctl = |args: &[&str]| vsctl_both(switches, args);
    // Waits (up to 10 s: Open vSwitch reads addresses and routes as the kernel announces
    // them) until both listings read the same; returns ours.
    let settled = |step: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ours = appctl_outcome(fvs.appctl(&["tnl/ports/show", "-v"]));
            let theirs = appctl_outcome(ovs.appctl(&["tnl/ports/show", "-v"]));
            if masked(&ours) == masked(&theirs) {
                return ours;
            }
            assert!(
                Instant::now() < deadline,
                "{step}:\nours:\n{ours}\ntheirs:\n{theirs}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(settled("no bridges"), "Listening ports:\n");

    vsctl(
        &AddBridge::new("br-phy")
            .set(&[
                "datapath_type=netdev",
                "other_config:hwaddr=02:00:00:00:31:01",
            ])
            .args(),
    );
    vsctl(
        &AddBridge::new("br-int")
            .set(&["datapath_type=netdev"])
            .args(),
    );
    in_both(&["ip", "link", "set", "br-phy", "up"]);
    in_both(&["ip", "addr", "add", "172.31.1.1/24", "dev", "br-phy"]);
    in_both(&[
        "ip",
        "addr",
        "add",
        "fd00:31::1/64",
        "dev",
        "br-phy",
        "nodad",
    ]);
    in_both(&[
        "ip",
        "link",
        "add",
        "d0",
        "address",
        "02:00:00:00:20:01",
        "type",
        "veth",
        "peer",
        "name",
        "d0x",
        "address",
        "02:00:00:00:20:02",
    ]);
    in_both(&["ip", "link", "set", "d0x", "up"]);
    in_both(&["ip", "link", "set", "d0", "up"]);
    in_both(&["ip", "addr", "add", "10.20.0.1/24", "dev", "d0"]);
    // Addresses but no tunnel port yet: nothing listens.
    assert_eq!(settled("no tunnel ports"), "Listening ports:\n");

    vsctl(
        &AddBridge::existing("br-int")
            .port("g1", &["type=gre", "options:remote_ip=172.31.1.2"])
            .port("v1", &["type=vxlan", "options:remote_ip=172.31.1.3"])
            .port(
                "v2",
                &[
                    "type=vxlan",
                    "options:remote_ip=172.31.1.4",
                    "options:dst_port=4790",
                ],
            )
            .port("gn", &["type=geneve", "options:remote_ip=fd00:31::2"])
            .args(),
    );
    let ours = settled("tunnel ports added");
    for want in [
        ": eth(dst=02:00:00:00:31:01),eth_type(0x0800),ipv4(dst=172.31.1.1,proto=47,frag=no)\n",
        ": eth(dst=02:00:00:00:31:01),eth_type(0x86dd),ipv6(dst=fd00:31::1,proto=17,frag=no),udp(dst=4790)\n",
        ": eth(dst=02:00:00:00:20:01),eth_type(0x0800),ipv4(dst=10.20.0.1,proto=17,frag=no),udp(dst=6081)\n",
        ": eth(dst=02:00:00:00:31:01),eth_type(0x86dd),ipv6(dst=fe80::ff:fe00:3101,proto=17,frag=no),udp(dst=4789)\n",
    ] {
        assert!(ours.contains(want), "{want:?} missing:\n{ours}");
    }
    assert!(!ours.contains("10.255.0.1"), "loopback listed:\n{ours}");
    assert!(!ours.contains("127.0.0.1"), "loopback listed:\n{ours}");

    // A second address, one removed, a port gone, a device down.
    in_both(&["ip", "addr", "add", "10.20.1.1/24", "dev", "d0"]);
    assert!(settled("an address added").contains("ipv4(dst=10.20.1.1,"));
    in_both(&["ip", "addr", "del", "10.20.0.1/24", "dev", "d0"]);
    assert!(!settled("an address removed").contains("ipv4(dst=10.20.0.1,"));
    vsctl(&["del-port", "gn"]);
    assert!(!settled("the Geneve port deleted").contains("genev_sys_6081"));
    // Down, the device loses its IPv6 addresses; its IPv4 one keeps a local route, so it
    // is still listed.
    in_both(&["ip", "link", "set", "d0", "down"]);
    let down = settled("a device down");
    assert!(!down.contains("fe80::ff:fe00:2001"), "{down}");
    assert!(down.contains("ipv4(dst=10.20.1.1,"), "{down}");
    // Its last address gone, it is no route's device any more.
    in_both(&["ip", "addr", "del", "10.20.1.1/24", "dev", "d0"]);
    let gone = settled("a device without addresses");
    assert!(!gone.contains("02:00:00:00:20:01"), "{gone}");
    assert!(gone.contains("ipv4(dst=172.31.1.1,"), "{gone}");
}
