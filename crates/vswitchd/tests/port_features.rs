//! Oracle tests of ports' features and speeds in OpenFlow port descriptions (root): Open
//! vSwitch 3.1's `ovs-vswitchd` and fvs-vswitchd, each in a network namespace of its own,
//! get a bridge with a veth port (system), an internal port (TAP), a patch port and GRE and
//! VXLAN tunnel ports; `ovs-ofctl show` and `dump-ports-desc` in OpenFlow 1.0, 1.3 and 1.4
//! must read the same on both (TAP and veth: `current: 10GB-FD COPPER`, 10000 Mb/s now;
//! the others nothing). With `--enable-dummy` every port is a dummy device with no features,
//! on both.
//!
//! Only the addresses (random per switch) and the datapath id made from the bridge's are
//! replaced by placeholders. Namespaces are deleted and both daemons killed by their own
//! pids, by guards, even when an assertion fails.

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
    let mut steps: Vec<Vec<&str>> = Vec::new();
    if let Some(v) = veth {
        steps.push(vec!["add-port", "br0", v]);
    }
    steps.extend([
        vec![
            "add-port",
            "br0",
            "p1",
            "--",
            "set",
            "interface",
            "p1",
            "type=internal",
        ],
        vec![
            "add-port",
            "br0",
            "pa",
            "--",
            "set",
            "interface",
            "pa",
            "type=patch",
            "options:peer=pb",
        ],
        vec![
            "add-port",
            "br0",
            "gre0",
            "--",
            "set",
            "interface",
            "gre0",
            "type=gre",
            "options:remote_ip=192.0.2.9",
        ],
        vec![
            "add-port",
            "br0",
            "vx0",
            "--",
            "set",
            "interface",
            "vx0",
            "type=vxlan",
            "options:remote_ip=192.0.2.8",
        ],
    ]);
    for s in steps {
        sw.vsctl(&s)
            .unwrap_or_else(|e| panic!("ovs-vsctl {s:?}: {e}"));
    }
}

/// Each view of both switches, masked, compared line by line.
fn compare(ovs: &dyn Switch, fvs: &dyn Switch) {
    for view in VIEWS {
        let theirs = masked(&ovs.ofctl_ok(view));
        let ours = masked(&fvs.ofctl_ok(view));
        assert_eq!(
            ours, theirs,
            "ovs-ofctl {view:?}: ferrovs, then Open vSwitch"
        );
    }
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
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
        add_ports(sw, Some("ve0"));
    }
    // The measured facts this test stands on, so that a change of the oracle is noticed.
    let of13 = ovs.ofctl_ok(VIEWS[2]);
    assert!(
        of13.contains("current:    10GB-FD COPPER"),
        "Open vSwitch's veth and TAP ports: {of13}"
    );
    compare(&ovs, &fvs);
    // Taking the veth's link up changes nothing its driver says.
    for ns in [&theirs, &ours] {
        exec(ns, &["ip", "link", "set", "ve1", "up"]);
        exec(ns, &["ip", "link", "set", "ve0", "up"]);
    }
    compare(&ovs, &fvs);
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
    compare(&ovs, &fvs);
}
