//! Flows on the newer match fields (packet type, `dp_hash`, `actset_output`, the
//! connection-tracking tuple) added with Open vSwitch's `ovs-ofctl add-flow` to fvs-vswitchd
//! and to ovs-vswitchd: each switch accepts or refuses each flow alike (same error), and
//! `dump-flows` prints the same table afterwards, in OpenFlow 1.0 (NXM), 1.3 and 1.5.

use fvs_test_support::{PrivateFvs, PrivateOvs, Switch, ToolError};

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
