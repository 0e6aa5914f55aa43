//! Flows on the newer match fields (packet type, `dp_hash`, `actset_output`, the
//! connection-tracking tuple) added with Open vSwitch's `ovs-ofctl add-flow` to fvs-vswitchd
//! and to ovs-vswitchd: each switch accepts or refuses each flow alike (same error), and
//! `dump-flows` prints the same table afterwards, in OpenFlow 1.0 (NXM), 1.3 and 1.5.

use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch, ToolError};

/// Flows to add, each alone on an empty table. Matching `dp_hash` or a nonzero `recirc_id`
/// is the switch's privilege (`OFPBRC_EPERM`). The tuple needs a connection state naming a
/// connection (`OFPBMC_BAD_PREREQ` otherwise) and, for addresses, the matching IP version
/// (`OFPBAC_MATCH_INCONSISTENT` otherwise).
const FLOWS: &[&str] = &[
    "packet_type=(0,0),ip,actions=drop",
    "packet_type=(1,0x800),nw_src=10.0.0.1,actions=drop",
    "recirc_id=0,packet_type=(0,0),actions=drop",
    "dp_hash=0x5/0xf,actions=drop",
    "dp_hash=0/0,actions=drop",
    "recirc_id=1,actions=drop",
    "actset_output=2,actions=drop",
    "ct_state=+est+trk,ip,ct_nw_src=10.0.0.0/8,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=22,actions=drop",
    "ct_state=+new+trk,ipv6,ct_ipv6_src=fd00::/64,ct_ipv6_dst=fd00::1,actions=drop",
    "ct_state=+trk-inv,ct_nw_proto=17,ct_tp_src=0x35/0xffff,actions=drop",
    "ip,ct_nw_src=10.0.0.1,actions=drop",
    "ct_state=+trk,ip,ct_nw_src=10.0.0.1,actions=drop",
    "ct_state=+est,ct_nw_src=10.0.0.1,actions=drop",
    "ct_state=+est,ip,ct_ipv6_src=::1,actions=drop",
    "ct_nw_proto=6,actions=drop",
];

/// What a switch made of one flow: the error ovs-ofctl printed, or the table after it.
fn outcome(sw: &dyn Switch, version: &str, flow: &str) -> Result<String, String> {
    sw.ofctl_ok(&["del-flows", "br0"]);
    match sw.ofctl(&["-O", version, "add-flow", "br0", flow]) {
        Ok(_) => Ok(sw.ofctl_ok(&["-O", version, "--no-stats", "dump-flows", "br0"])),
        Err(ToolError::Failed { stderr, .. }) => Err(stderr),
        Err(e) => panic!("ovs-ofctl add-flow {flow}: {e}"),
    }
}

#[test]
fn new_match_fields_are_accepted_refused_and_dumped_as_by_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("mfl")
        .start();
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&["add-br", "br0"]);
    }
    let mut accepted = 0;
    let mut refused = 0;
    for version in ["OpenFlow10", "OpenFlow13", "OpenFlow15"] {
        for flow in FLOWS {
            let theirs = outcome(&ovs, version, flow);
            let ours = outcome(&fvs, version, flow);
            assert_eq!(ours, theirs, "{flow} in {version}");
            match theirs {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
    }
    // Both kinds of outcome were compared, not just one.
    assert!(
        accepted >= 20 && refused >= 15,
        "{accepted} accepted, {refused} refused"
    );
}

/// A neighbor advertisement from fa:16:3e:11:22:33: R/S/O flags 0x60000000 in the word after
/// the checksum, then a target link-layer option (type 2) before a source one (type 1).
const NEIGHBOR_ADVERT: &str = "fa163e445566fa163e11223386dd6000000000283aff20010db80000000000000000\
    00000001fe80000000000000f8163efffe44556688000000600000002001\
    0db800000000000000000000009902010200000000020101fa163e112233";

#[test]
fn neighbor_discovery_reserved_word_and_option_type_match_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("mfn")
        .start();
    let ports = AddBridge::new("br0")
        .port("p1", &["ofport_request=1"])
        .port("p2", &["ofport_request=2"]);
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&ports.args());
    }
    let packet: String = NEIGHBOR_ADVERT.split_whitespace().collect();
    let mut hits = 0;
    for rule in [
        "nd_reserved=0x60000000",
        "nd_reserved=0",
        "nd_options_type=2",
        "nd_options_type=1",
        "nd_options_type=0",
    ] {
        let flow = format!("priority=10,icmp6,icmp_type=136,{rule},actions=output:2");
        let mut traces = Vec::new();
        for sw in [&ovs as &dyn Switch, &fvs] {
            sw.ofctl_ok(&["del-flows", "br0"]);
            sw.ofctl_ok(&["add-flow", "br0", &flow]);
            let trace = sw.appctl_ok(&["ofproto/trace", "br0", "in_port=1", &packet]);
            // The rule that matched (if any) and the datapath actions.
            let lines: Vec<String> = trace
                .lines()
                .filter(|l| l.contains("priority 10") || l.starts_with("Datapath actions"))
                .map(str::to_owned)
                .collect();
            traces.push(lines);
        }
        assert_eq!(traces[1], traces[0], "ofproto/trace with {rule}");
        hits += usize::from(traces[0].iter().any(|l| l.contains("priority 10")));
    }
    // The flags and the first option's type matched; the other values did not.
    assert_eq!(hits, 2);
}
