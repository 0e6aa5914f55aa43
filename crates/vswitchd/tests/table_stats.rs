//! Table statistics as Open vSwitch 3.1 keeps them, side by side with
//! `ovs-vswitchd --enable-dummy=override` given the same commands and frames: every packet
//! counts a lookup in each table it is looked up in (table 0, and the tables `resubmit`
//! reaches) and a match when a rule matched — the packet that made the datapath ask and the
//! ones its cached megaflow forwarded alike. Real `ovs-ofctl dump-tables` must print the same
//! in every version, OpenFlow 1.1 and 1.2's table abilities included, and `ovs-ofctl show` in
//! 1.1 and 1.2 the same capabilities and port states.

mod common;

use common::Fvs;
use fvs_test_support::frames::hex;
use fvs_test_support::{AddBridge, PrivateOvs, Switch};

/// A broadcast ARP request from host `n`.
fn arp(n: u8) -> Vec<u8> {
    let mac = [0xfa, 0x16, 0x3e, 0, 0, n];
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[192, 168, 0, n, 0, 0, 0, 0, 0, 0, 192, 168, 0, 99]);
    f
}

fn scenario(sw: &dyn Switch) {
    let mut br = AddBridge::new("br0").set(&["fail_mode=secure"]);
    for n in 1..=4 {
        br = br.port(&format!("p{n}"), &[&format!("ofport_request={n}")]);
    }
    sw.vsctl_ok(&br.args());
    for f in [
        "priority=50,in_port=4,actions=resubmit(,1),resubmit(,2)",
        "table=2,priority=1,actions=drop",
        "priority=10,in_port=1,actions=output:2",
    ] {
        sw.ofctl_ok(&["add-flow", "br0", f]);
    }
    // Three from p4 (one upcall, two from the megaflow), two misses from p3, two from p1.
    for (port, n, times) in [("p4", 4, 3), ("p3", 3, 2), ("p1", 1, 2)] {
        for _ in 0..times {
            sw.appctl_ok(&["netdev-dummy/receive", port, &hex(&arp(n))]);
        }
    }
    sw.appctl_ok(&["revalidator/wait"]);
}

/// `dump-tables` in `version` (none: ovs-ofctl's default).
fn dump_tables(sw: &dyn Switch, version: Option<&str>) -> String {
    let mut args = Vec::new();
    if let Some(v) = version {
        args.extend(["-O", v]);
    }
    args.extend(["dump-tables", "br0"]);
    sw.ofctl_ok(&args)
}

/// The counter lines only (for the versions whose feature listings come from table
/// features, which another test compares).
fn counters(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("table ") || l.contains("active="))
        .map(str::to_owned)
        .collect()
}

/// `show` with the datapath id and the ports' addresses masked (they differ by design).
fn show(sw: &dyn Switch, version: &str) -> String {
    let out = sw.ofctl_ok(&["-O", version, "show", "br0"]);
    out.lines()
        .map(|l| {
            let l = match l.find("dpid:") {
                Some(i) => format!("{}dpid:D", &l[..i]),
                None => l.to_owned(),
            };
            match l.find("addr:") {
                Some(i) => format!("{}addr:A", &l[..i]),
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn table_statistics_count_and_print_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("tst");
    let fvs = fvs.private();
    scenario(&ovs);
    scenario(fvs);

    for v in [
        None,
        Some("OpenFlow10"),
        Some("OpenFlow11"),
        Some("OpenFlow12"),
    ] {
        assert_eq!(
            dump_tables(fvs, v),
            dump_tables(&ovs, v),
            "dump-tables in {v:?}"
        );
    }
    for v in ["OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        assert_eq!(
            counters(&dump_tables(fvs, Some(v))),
            counters(&dump_tables(&ovs, Some(v))),
            "dump-tables counters in {v}"
        );
    }
    for v in ["OpenFlow11", "OpenFlow12"] {
        assert_eq!(show(fvs, v), show(&ovs, v), "show in {v}");
    }
    // What the comparison is about: 7 frames looked up in table 0, 5 matched; 3 each in
    // tables 1 (missed) and 2 (matched).
    let ours = dump_tables(fvs, None);
    for want in [
        "active=2, lookup=7, matched=5",
        "active=0, lookup=3, matched=0",
        "active=1, lookup=3, matched=3",
    ] {
        assert!(ours.contains(want), "{want} in\n{ours}");
    }
}
