//! Oracle test of the tunnel neighbour cache's commands (no root): fvs-vswitchd with
//! `--enable-dummy` and Open vSwitch 3.1's `ovs-vswitchd --enable-dummy=override` are given
//! the same bridge and the same `tnl/arp/set` and `tnl/neigh/set` entries; `tnl/arp/show`,
//! `tnl/neigh/show`, `tnl/neigh/aging`, `tnl/arp/flush` and the errors for a bad address, a
//! bad MAC and a bad aging value must read the same on both.

mod common;

use common::{Fvs, appctl_outcome};
use fvs_test_support::PrivateOvs;

#[test]
fn neighbour_commands_read_as_open_vswitch_s() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("neigh");
    ovs.vsctl(&["add-br", "br-phy"])
        .unwrap_or_else(|e| panic!("ovs-vsctl add-br: {e}"));
    fvs.vsctl(&["add-br", "br-phy"]);
    let both = |args: &[&str]| -> (String, String) {
        (
            appctl_outcome(ovs.appctl(args)),
            appctl_outcome(fvs.private().appctl(args)),
        )
    };
    // One entry at a time, so Open vSwitch's hash order cannot differ from ours.
    let steps: &[&[&str]] = &[
        &["tnl/arp/show"],
        &["tnl/arp/set", "br-phy", "10.97.0.2", "02:97:00:00:00:02"],
        &["tnl/arp/show"],
        &["tnl/neigh/show"],
        &["tnl/neigh/set", "br-phy", "10.97.0.2", "aa:bb:cc:dd:ee:0f"],
        &["tnl/arp/show"],
        &["tnl/arp/set", "br-phy", "10.97.0.x", "02:97:00:00:00:02"],
        &["tnl/arp/set", "br-phy", "10.97.0.3", "02:97:00:00"],
        &["tnl/neigh/aging"],
        &["tnl/neigh/aging", "0"],
        &["tnl/arp/aging", "3601"],
        &["tnl/neigh/aging", "120"],
        &["tnl/arp/aging"],
        &["tnl/arp/flush"],
        &["tnl/neigh/show"],
    ];
    let mut shown = Vec::new();
    for args in steps {
        let (theirs, ours) = both(args);
        assert_eq!(ours, theirs, "{args:?}");
        shown.push(ours);
    }
    // Not two switches failing alike: the entry is listed and the bad input refused.
    assert!(shown[2].contains("10.97.0.2") && shown[2].contains("02:97:00:00:00:02"));
    assert!(shown[5].contains("aa:bb:cc:dd:ee:0f"), "{}", shown[5]);
    assert!(
        shown[6].starts_with("error: bad IP address"),
        "{}",
        shown[6]
    );
    assert!(shown[8].starts_with("900"), "{}", shown[8]);
}
