//! Oracle test of the Interface rows' `status` column (no root): fvs-vswitchd with
//! `--enable-dummy` and Open vSwitch 3.1's `ovs-vswitchd --enable-dummy=override` are given
//! the same bridges and interfaces of every type a compute node uses without root (dummy
//! devices, internal ports, a patch pair, gre and vxlan tunnels), then a client writes a
//! value of its own into each interface's `status`. Open vSwitch owns that column and
//! rewrites it at its next round; after that, `ovs-vsctl get Interface NAME status` must print
//! the same on both switches for every interface.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::PrivateOvs;

/// The interfaces the test checks.
const IFACES: &[&str] = &["br0", "br1", "p1", "p2", "i1", "pa", "pb", "g1", "vx"];

/// The key a client writes into every `status`, which the switch must replace.
const FOREIGN: &str = "status:written-by=client";

/// The commands that build both switches.
const BUILD: &[&str] = &[
    "add-br",
    "br0",
    "--",
    "add-br",
    "br1",
    "--",
    "add-port",
    "br0",
    "p1",
    "--",
    "add-port",
    "br0",
    "p2",
    "--",
    "set",
    "interface",
    "p2",
    "type=dummy",
    "--",
    "add-port",
    "br0",
    "i1",
    "--",
    "set",
    "interface",
    "i1",
    "type=internal",
    "--",
    "add-port",
    "br0",
    "pa",
    "--",
    "set",
    "interface",
    "pa",
    "type=patch",
    "options:peer=pb",
    "--",
    "add-port",
    "br1",
    "pb",
    "--",
    "set",
    "interface",
    "pb",
    "type=patch",
    "options:peer=pa",
    "--",
    "add-port",
    "br0",
    "g1",
    "--",
    "set",
    "interface",
    "g1",
    "type=gre",
    "options:remote_ip=10.0.2.1",
    "--",
    "add-port",
    "br0",
    "vx",
    "--",
    "set",
    "interface",
    "vx",
    "type=vxlan",
    "options:remote_ip=10.0.2.2",
];

/// Every checked interface's `status`, as `ovs-vsctl get` prints it, read with `get`.
fn statuses(get: impl Fn(&[&str]) -> String) -> Vec<(String, String)> {
    IFACES
        .iter()
        .map(|i| {
            let out = get(&["get", "interface", i, "status"]);
            ((*i).to_owned(), out.trim().to_owned())
        })
        .collect()
}

/// Whether no status still holds the client's key.
fn rewritten(s: &[(String, String)]) -> bool {
    s.iter().all(|(_, v)| !v.contains("written-by"))
}

#[test]
fn interface_status_matches_open_vswitch_and_is_owned_by_the_switch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("ist");
    ovs.vsctl(BUILD)
        .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
    fvs.vsctl(BUILD);
    for i in IFACES {
        let args = ["set", "interface", i, FOREIGN];
        ovs.vsctl(&args)
            .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
        fvs.vsctl(&args);
    }
    let ovs_get = |a: &[&str]| ovs.vsctl(a).unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
    let fvs_get = |a: &[&str]| {
        fvs.private()
            .vsctl(a)
            .unwrap_or_else(|e| panic!("ferrovs: {e}"))
    };
    // Both rewrite the column at their status rounds (every 5 seconds); wait for both.
    let deadline = Instant::now() + Duration::from_secs(25);
    let (mut theirs, mut ours) = (statuses(ovs_get), statuses(fvs_get));
    while !(rewritten(&theirs) && rewritten(&ours)) && Instant::now() < deadline {
        sleep(Duration::from_millis(250));
        theirs = statuses(ovs_get);
        ours = statuses(fvs_get);
    }
    assert!(
        rewritten(&theirs),
        "Open vSwitch kept the client's key: {theirs:?}"
    );
    assert_eq!(ours, theirs);
}
