//! Interface and bridge addresses and the datapath ID: fvs-vswitchd `--enable-dummy` hands
//! out the ones ovs-vswitchd `--enable-dummy=override` (Open vSwitch 3.1) does, given the same
//! `ovs-vsctl` commands one at a time — the dummy devices' counted addresses, `hwaddr` on the
//! bridge's own port, `datapath-id` and the ID derived from the address.

mod common;

use common::Fvs;
use fvs_test_support::{PrivateOvs, require_tool};

/// Both switches' answer to the same `ovs-vsctl` command (which must succeed on both).
fn both(ovs: &PrivateOvs, fvs: &Fvs, args: &[&str]) -> (String, String) {
    let theirs = ovs
        .vsctl(args)
        .unwrap_or_else(|e| panic!("ovs-vsctl {args:?} on ovs-vswitchd: {e}"));
    let ours = fvs
        .private()
        .vsctl(args)
        .unwrap_or_else(|e| panic!("ovs-vsctl {args:?} on fvs-vswitchd: {e}"));
    (theirs, ours)
}

/// Asserts that `column` of `table` row `row` reads the same on both switches, and returns it.
fn same(ovs: &PrivateOvs, fvs: &Fvs, table: &str, row: &str, column: &str) -> String {
    let (theirs, ours) = both(ovs, fvs, &["get", table, row, column]);
    assert_eq!(ours, theirs, "{table} {row} {column}");
    theirs.trim().to_owned()
}

#[test]
fn interface_addresses_and_datapath_ids_follow_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-mac");
    let run = |args: &[&str]| {
        both(&ovs, &fvs, args);
    };
    // One change per transaction: Open vSwitch numbers the ports of one transaction in its
    // hash table's order.
    run(&["add-br", "br0"]);
    run(&["add-port", "br0", "p1"]);
    assert_eq!(
        same(&ovs, &fvs, "interface", "p1", "mac_in_use"),
        "\"aa:55:aa:55:00:0f\""
    );
    let typed = |name: &str, kind: &str, options: &[(&str, &str)]| {
        let args = common::add_port_args(name, kind, options);
        run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    typed("i1", "internal", &[]);
    typed("g1", "gre", &[("remote_ip", "192.0.2.1")]);
    run(&["add-port", "br0", "p2"]);
    let first = same(&ovs, &fvs, "interface", "p2", "mac_in_use");
    // Deleted and added again: a new device, a new address.
    run(&["del-port", "p2"]);
    run(&["add-port", "br0", "p2"]);
    let again = same(&ovs, &fvs, "interface", "p2", "mac_in_use");
    assert_ne!(first, again);
    // A second bridge's own interface takes one number.
    run(&["add-br", "br1"]);
    run(&["add-port", "br1", "q1"]);
    for name in ["p1", "i1", "g1", "p2", "q1"] {
        same(&ovs, &fvs, "interface", name, "mac_in_use");
    }
    // In one transaction, an interface that requests its number goes ahead of the others
    // (whose order among themselves is Open vSwitch's hash table's).
    run(&[
        "add-br",
        "br2",
        "--",
        "add-port",
        "br2",
        "r1",
        "--",
        "add-port",
        "br2",
        "r2",
        "--",
        "set",
        "interface",
        "r2",
        "ofport_request=7",
    ]);
    assert_eq!(
        same(&ovs, &fvs, "interface", "r2", "mac_in_use"),
        "\"aa:55:aa:55:00:16\""
    );

    // The bridge's address: random (locally administered) until hwaddr names one.
    let (theirs, ours) = both(&ovs, &fvs, &["get", "interface", "br0", "mac_in_use"]);
    for (who, mac) in [("ovs", &theirs), ("fvs", &ours)] {
        let first = u8::from_str_radix(&mac.trim().trim_matches('"')[..2], 16).unwrap_or(0);
        assert_eq!(first & 0x03, 0x02, "{who}: br0 {mac}");
    }
    let random_dpid = both(&ovs, &fvs, &["get", "bridge", "br0", "datapath_id"]);
    for hwaddr in [
        "00:11:22:33:44:55",
        "0:1:2:3:4:5",
        "02:00:00:00:00:01",
        "00:11:22:33:44:5F",
    ] {
        run(&[
            "set",
            "bridge",
            "br0",
            &format!("other_config:hwaddr=\"{hwaddr}\""),
        ]);
        same(&ovs, &fvs, "interface", "br0", "mac_in_use");
        same(&ovs, &fvs, "bridge", "br0", "datapath_id");
    }
    // Unusable: each switch goes back to its own bridge's random address.
    for hwaddr in ["01:00:00:00:00:01", "00:00:00:00:00:00", "garbage"] {
        run(&[
            "set",
            "bridge",
            "br0",
            &format!("other_config:hwaddr=\"{hwaddr}\""),
        ]);
        assert_eq!(
            both(&ovs, &fvs, &["get", "bridge", "br0", "datapath_id"]),
            random_dpid,
            "hwaddr={hwaddr}"
        );
    }
    run(&[
        "set",
        "bridge",
        "br0",
        "other_config:hwaddr=\"00:11:22:33:44:55\"",
    ]);
    for id in [
        "00000000000000AB",
        "0xab",
        "0X2",
        "0000000000000000",
        "1",
        "0x+5",
    ] {
        run(&[
            "set",
            "bridge",
            "br0",
            &format!("other_config:datapath-id=\"{id}\""),
        ]);
        same(&ovs, &fvs, "bridge", "br0", "datapath_id");
    }
    run(&["remove", "bridge", "br0", "other_config", "datapath-id"]);
    assert_eq!(
        same(&ovs, &fvs, "bridge", "br0", "datapath_id"),
        "\"0000001122334455\""
    );

    // What an OpenFlow controller sees: the same features reply, byte for byte.
    let show = |target: String| {
        let out = require_tool("ovs-ofctl")
            .command()
            .args(["show", &target])
            .output()
            .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
        assert!(out.status.success(), "ovs-ofctl show {target}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let want = show(format!("unix:{}", ovs.dir().join("br0.mgmt").display()));
    assert!(want.contains("dpid:0000001122334455"), "{want}");
    assert!(
        want.contains("LOCAL(br0): addr:00:11:22:33:44:55"),
        "{want}"
    );
    assert_eq!(show(format!("unix:{}", fvs.mgmt("br0").display())), want);
}

/// Whether an `ovs-ofctl monitor` child has ended within `limit`.
fn ended_within(child: &mut std::process::Child, limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A changed datapath ID cannot be announced in OpenFlow, so Open vSwitch drops the bridge's
/// connections (controllers reconnect and learn it): an `ovs-ofctl monitor` on the bridge
/// ends. A change that leaves the ID alone keeps them; so does the ID's first value.
#[test]
fn a_changed_datapath_id_drops_the_bridge_s_connections_as_in_open_vswitch() {
    let ofctl = require_tool("ovs-ofctl");
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-dpid");
    both(
        &ovs,
        &fvs,
        &["add-br", "br0", "--", "add-port", "br0", "p1"],
    );
    // ovs-ofctl monitor serves appctl in OVS_RUNDIR: the switch's own directory.
    let monitor = |(dir, target): (&std::path::Path, String)| {
        ofctl
            .command()
            .env("OVS_RUNDIR", dir)
            .args(["monitor", &target])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start ovs-ofctl monitor")
    };
    let targets = [
        (
            ovs.dir(),
            fvs_test_support::Switch::mgmt_target(&ovs, "br0"),
        ),
        (fvs.dir(), fvs.private().mgmt_target("br0")),
    ];
    let mut monitors: Vec<_> = targets.into_iter().map(monitor).collect();
    let mut outcome = Vec::new();
    // Nothing about the ID changes: the monitors stay.
    both(
        &ovs,
        &fvs,
        &["set", "bridge", "br0", "other_config:foo=bar"],
    );
    let short = std::time::Duration::from_millis(1500);
    outcome.push((
        "an unrelated change",
        monitors
            .iter_mut()
            .map(|m| ended_within(m, short))
            .collect::<Vec<_>>(),
    ));
    // A new datapath ID: both monitors end.
    both(
        &ovs,
        &fvs,
        &[
            "set",
            "bridge",
            "br0",
            "other_config:datapath-id=0000000000000042",
        ],
    );
    let long = std::time::Duration::from_secs(5);
    outcome.push((
        "a new datapath-id",
        monitors.iter_mut().map(|m| ended_within(m, long)).collect(),
    ));
    for m in &mut monitors {
        let _ = m.kill();
        let _ = m.wait();
    }
    assert_eq!(
        outcome,
        vec![
            ("an unrelated change", vec![false, false]),
            ("a new datapath-id", vec![true, true]),
        ],
        "whether each monitor ended (Open vSwitch, ferrovs)"
    );
    same(&ovs, &fvs, "bridge", "br0", "datapath_id");
}
