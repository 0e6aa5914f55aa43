//! Group references to a group that does not exist, answered by fvs-vswitchd as by Open
//! vSwitch 3.1: a flow-mod that adds or modifies flows with `group:N` (also nested in
//! `clone`), the same flow-mod inside a bundle, and a packet-out with `group:N` are all
//! refused with `OFPBAC_BAD_OUT_GROUP`, in OpenFlow 1.0 (where the action travels as a Nicira
//! extension) and 1.3; in a bundle the refusal comes at commit, with `OFPBFC_MSG_FAILED` for
//! the commit. Once the group exists, both switches accept the flow.
//!
//! Each case runs Open vSwitch's own `ovs-ofctl` against both switches and compares its exit
//! status and stderr (the error reply as ovs-ofctl prints it, with the quoted request).

mod common;

use common::{Fvs, ofctl_outcome as ofctl};
use fvs_test_support::{PrivateOvs, Switch};

/// A broadcast Ethernet frame of 60 bytes (ARP type, zero payload), for packet-outs.
const FRAME: &str = "ffffffffffff0000000000010806\
    000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// The group bridge with one flow the refused mods would change.
fn setup(sw: &dyn Switch) {
    common::add_group_bridge(sw);
    sw.ofctl_ok(&["add-flow", "br0", "priority=5,ip,actions=output:1"]);
}

#[test]
fn references_to_a_missing_group_are_refused_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("mgrp");
    let fvs = fvs.private();
    setup(&ovs);
    setup(fvs);
    let packet_out = format!("in_port=LOCAL,packet={FRAME},actions=group:9");
    let cases: Vec<Vec<&str>> = vec![
        vec!["add-flow", "br0", "actions=group:9"],
        vec!["-O", "OpenFlow13", "add-flow", "br0", "actions=group:9"],
        vec!["add-flow", "br0", "priority=7,actions=clone(group:9)"],
        vec!["mod-flows", "br0", "ip,actions=group:9"],
        vec!["-O", "OpenFlow13", "mod-flows", "br0", "ip,actions=group:9"],
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-flow",
            "br0",
            "actions=group:9",
        ],
        vec!["packet-out", "br0", &packet_out],
        vec!["-O", "OpenFlow13", "packet-out", "br0", &packet_out],
    ];
    for args in &cases {
        let want = ofctl(&ovs, args);
        let got = ofctl(fvs, args);
        assert_eq!(got, want, "ovs-ofctl {args:?}");
    }
    // The group references are refused by Open vSwitch itself, not by ovs-ofctl.
    let (ok, stderr) = ofctl(&ovs, &cases[1]);
    assert!(!ok && stderr.contains("OFPBAC_BAD_OUT_GROUP"), "{stderr}");
    // Nothing refused was added or changed: the one flow still outputs to port 1.
    let flows = |sw: &dyn Switch| -> Vec<String> {
        sw.ofctl_ok(&["--no-stats", "dump-flows", "br0"])
            .lines()
            .filter(|l| l.contains("actions="))
            .map(|l| l.trim().to_owned())
            .collect()
    };
    assert_eq!(flows(fvs), flows(&ovs));
    assert_eq!(flows(&ovs), ["priority=5,ip actions=output:1"]);
    // Once the group exists, both switches accept the flow that names it.
    for sw in [&ovs as &dyn Switch, fvs] {
        let add_group = [
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=9,type=all,bucket=output:1",
        ];
        assert_eq!(ofctl(sw, &add_group), (true, String::new()));
        assert_eq!(ofctl(sw, &cases[1]), (true, String::new()));
    }
    assert_eq!(flows(fvs), flows(&ovs));
}
