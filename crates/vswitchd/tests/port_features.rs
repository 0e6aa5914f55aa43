//! Oracle tests of ports' features and speeds in OpenFlow port descriptions (root): Open
//! vSwitch 3.1's `ovs-vswitchd` and fvs-vswitchd, each in a network namespace of its own,
//! get a bridge with a veth port (system), an internal port (TAP), a patch port and GRE and
//! VXLAN tunnel ports; `ovs-ofctl show` and `dump-ports-desc` in OpenFlow 1.0, 1.3 and 1.4
//! must read the same on both (TAP and veth: `current: 10GB-FD COPPER`, 10000 Mb/s now;
//! the others nothing). With `--enable-dummy` every port is a dummy device with no features,
//! on both. The port-status messages of a port's arrival carry its features too.
//!
//! Only the addresses (random per switch) and the datapath id made from the bridge's are
//! replaced by placeholders. Namespaces are deleted and both daemons killed by their own
//! pids, by guards, even when an assertion fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::OfctlMonitor;
use fvs_test_support::netns::{self, exec};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch, TempDir};

/// The commands whose outputs are compared.
const VIEWS: [&[&str]; 4] = [
    &["show", "br0"],
    &["-O", "OpenFlow10", "dump-ports-desc", "br0"],
    &["-O", "OpenFlow13", "dump-ports-desc", "br0"],
    &["-O", "OpenFlow14", "dump-ports-desc", "br0"],
];

/// `text` with every `addr:xx:xx:xx:xx:xx:xx` and the `dpid:` value replaced by placeholders.
fn masked(text: &str) -> String {
    text.lines()
        .map(|l| {
            if let Some((head, _)) = l.split_once("addr:") {
                format!("{head}addr:<mac>")
            } else if let Some((head, _)) = l.split_once("dpid:") {
                format!("{head}dpid:<dpid>")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ports every test adds (after `br0`), as `ovs-vsctl` arguments; `veth` is the name of
/// a device that exists in the switch's namespace, when there is one.
fn add_ports(sw: &dyn Switch, veth: Option<&str>) {
    let mut steps: Vec<Vec<String>> = Vec::new();
    if let Some(v) = veth {
        steps.push(["add-port", "br0", v].map(str::to_owned).to_vec());
    }
    steps.extend([
        common::add_port_args("p1", "internal", &[]),
        common::add_port_args("pa", "patch", &[("peer", "pb")]),
        common::add_port_args("gre0", "gre", &[("remote_ip", "192.0.2.9")]),
        common::add_port_args("vx0", "vxlan", &[("remote_ip", "192.0.2.8")]),
    ]);
    for s in steps {
        let args: Vec<&str> = s.iter().map(String::as_str).collect();
        sw.vsctl(&args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {s:?}: {e}"));
    }
}

/// Each view of both switches, masked, compared line by line at `stage`; a link's state
/// may take a moment to reach a switch, so they are read again for up to 5 s until they
/// agree.
fn compare(ovs: &dyn Switch, fvs: &dyn Switch, stage: &str) {
    for view in VIEWS {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let theirs = masked(&ovs.ofctl_ok(view));
            let ours = masked(&fvs.ofctl_ok(view));
            if ours == theirs {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{stage}: ovs-ofctl {view:?}: ferrovs\n{ours}\nOpen vSwitch\n{theirs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What the port-status messages a monitor printed say of each port's features: per port,
/// every distinct `current:` ... `speed:` line its messages carried. (The messages' sequence
/// is not compared here: a device that starts down is announced by Open vSwitch with one
/// `ADD` already down, by ferrovs with an `ADD` then a `MODIFY`.)
/// Only messages whose line names `reason` (`DEL`, say) count when it is given.
fn port_status_features(
    m: &OfctlMonitor,
    reason: Option<&str>,
) -> BTreeMap<String, BTreeSet<String>> {
    let text = m.text();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut port = None;
    for l in text.lines() {
        if l.contains("PORT_STATUS") && reason.is_some_and(|r| !l.contains(r)) {
            port = None;
        } else if l.contains("PORT_STATUS") {
            // `... ADD: 1(ve0): addr:...`: the name is in the parentheses before `addr:`.
            let name = l
                .rsplit_once("): addr:")
                .and_then(|(head, _)| head.rsplit_once('('))
                .map_or("?", |(_, name)| name)
                .to_owned();
            out.entry(name.clone()).or_default();
            port = Some(name);
        } else if !l.starts_with(' ') {
            port = None;
        } else if let Some(p) = &port {
            let t = l.trim();
            let feature = ["current:", "advertised:", "supported:", "peer:", "speed:"]
                .iter()
                .any(|k| t.starts_with(k));
            if feature {
                out.entry(p.clone()).or_default().insert(t.to_owned());
            }
        }
    }
    out
}

#[test]
fn real_ports_report_their_drivers_speed_as_in_open_vswitch() {
    let mut lab = netns::Lab::new();
    let theirs = lab.add_netns(&netns::unique_name("pfeat", "o"));
    let ours = lab.add_netns(&netns::unique_name("pfeat", "f"));
    for ns in [&theirs, &ours] {
        exec(ns, &["ip", "link", "set", "lo", "up"]);
        exec(
            ns,
            &[
                "ip", "link", "add", "ve0", "type", "veth", "peer", "name", "ve1",
            ],
        );
    }
    let ovs = PrivateOvs::start_in_netns(&theirs);
    let home = TempDir::new("pfeat");
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(&ours)
        .dir(home.path())
        .start();
    let both = [&ovs as &dyn Switch, &fvs];
    for sw in both {
        sw.vsctl_ok(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
    }
    let monitors: Vec<[OfctlMonitor; 2]> = both
        .iter()
        .map(|sw| {
            let target = sw.mgmt_target("br0");
            [
                OfctlMonitor::start(sw.dir(), &[], &target, &["65000"], "pf10"),
                OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow14"], &target, &["65000"], "pf14"),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    for sw in both {
        add_ports(sw, Some("ve0"));
    }
    std::thread::sleep(Duration::from_millis(1000));
    // OpenFlow 1.0's monitor, then 1.4's, of each switch.
    for (theirs_m, ours_m) in monitors[0].iter().zip(&monitors[1]) {
        let theirs = port_status_features(theirs_m, None);
        let mut ours = port_status_features(ours_m, None);
        // Which ports get messages is not this test's subject (ferrovs may announce the
        // bridge's own port when its address follows a new port's): the features of the
        // ports both announce are.
        ours.retain(|port, _| theirs.contains_key(port));
        assert!(
            theirs
                .get("p1")
                .is_some_and(|f| f.contains("current:    10GB-FD COPPER")),
            "Open vSwitch's port-status messages: {theirs:?}; monitor: {}",
            theirs_m.text()
        );
        assert_eq!(
            ours, theirs,
            "port-status messages: ferrovs, then Open vSwitch"
        );
    }
    // The measured facts this test stands on, so that a change of the oracle is noticed.
    let of13 = ovs.ofctl_ok(VIEWS[2]);
    assert!(
        of13.contains("current:    10GB-FD COPPER"),
        "Open vSwitch's veth and TAP ports: {of13}"
    );
    compare(&ovs, &fvs, "ports added");
    // Taking the veth's link up changes nothing its driver says.
    for ns in [&theirs, &ours] {
        exec(ns, &["ip", "link", "set", "ve1", "up"]);
        exec(ns, &["ip", "link", "set", "ve0", "up"]);
    }
    compare(&ovs, &fvs, "veth up");
    // A deleted port is described as it was, features and speed included.
    for sw in both {
        sw.vsctl_ok(&["del-port", "br0", "p1"]);
    }
    std::thread::sleep(Duration::from_millis(1000));
    for (theirs_m, ours_m) in monitors[0].iter().zip(&monitors[1]) {
        let theirs = port_status_features(theirs_m, Some("DEL"));
        let ours = port_status_features(ours_m, Some("DEL"));
        assert!(
            theirs
                .get("p1")
                .is_some_and(|f| f.contains("current:    10GB-FD COPPER")),
            "Open vSwitch's DELETE: {theirs:?}; monitor: {}",
            theirs_m.text()
        );
        assert_eq!(
            ours, theirs,
            "DELETE port-status: ferrovs, then Open vSwitch"
        );
    }
}

#[test]
fn dummy_ports_have_no_features_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .start();
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
        add_ports(sw, None);
        sw.vsctl_ok(&["add-port", "br0", "d0"]);
    }
    compare(&ovs, &fvs, "dummy ports");
}
