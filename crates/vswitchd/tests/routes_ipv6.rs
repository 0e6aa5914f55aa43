//! Oracle test of `ovs/route/show` and `ovs/route/lookup` with IPv6 routes (root): one
//! network namespace with a veth pair, IPv4 and IPv6 addresses, IPv6 routes through a
//! gateway, and IPv6 user routes added and deleted on both; Open vSwitch 3.1's
//! `ovs-vswitchd` and fvs-vswitchd both run inside it and must show the same routes of both
//! families (as sets of lines: Open vSwitch lists routes of
//! equal rank in hash order), ranked alike, and answer the same lookups. The namespace is
//! deleted and both daemons killed by their own pids, by guards, even when an assertion
//! fails.

mod common;

use std::collections::BTreeSet;

use common::appctl_outcome;
use fvs_test_support::netns::{self, exec};
use fvs_test_support::{PrivateFvs, PrivateOvs};

#[test]
fn ipv6_routes_read_as_open_vswitch_s() {
    let mut lab = netns::Lab::new();
    let ns = lab.add_netns(&netns::unique_name("r6", "h"));
    // Addresses usable at once, and no router advertisements adding routes of their own.
    for conf in ["all", "default"] {
        for (key, value) in [("accept_dad", "0"), ("accept_ra", "0"), ("autoconf", "0")] {
            let setting = format!("net.ipv6.conf.{conf}.{key}={value}");
            exec(&ns, &["sysctl", "-qw", &setting]);
        }
    }
    exec(
        &ns,
        &[
            "ip", "link", "add", "e1", "type", "veth", "peer", "name", "e2",
        ],
    );
    for dev in ["e1", "e2"] {
        exec(&ns, &["ip", "link", "set", dev, "up"]);
    }
    exec(&ns, &["ip", "addr", "add", "10.61.0.1/24", "dev", "e1"]);
    exec(
        &ns,
        &["ip", "addr", "add", "fd00:61::1/64", "dev", "e1", "nodad"],
    );
    exec(
        &ns,
        &["ip", "addr", "add", "fd00:63::1/56", "dev", "e2", "nodad"],
    );
    exec(
        &ns,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "fd00:62::/48",
            "via",
            "fd00:61::fe",
        ],
    );
    exec(
        &ns,
        &["ip", "-6", "route", "add", "default", "via", "fd00:63::fe"],
    );
    let ovs = PrivateOvs::start_in_netns(&ns);
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(&ns)
        .tag("routes6")
        .start();

    let theirs = appctl_outcome(ovs.appctl(&["ovs/route/show"]));
    let ours = appctl_outcome(fvs.appctl(&["ovs/route/show"]));
    let set = |s: &str| s.lines().map(str::to_owned).collect::<BTreeSet<String>>();
    assert_eq!(set(&ours), set(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    for want in [
        "Cached: fd00:62::/48 dev e1 GW fd00:61::fe SRC fd00:61::1",
        "Cached: ::/0 dev e2 GW fd00:63::fe SRC fd00:63::1",
        "Cached: fd00:61::1/128 dev e1 SRC fd00:61::1 local",
    ] {
        assert!(ours.contains(want), "{want}:\n{ours}");
    }
    // The same ranks line by line: Open vSwitch's order up to routes of equal rank.
    let rank = |l: &str| {
        let prefix = l.split_whitespace().nth(1).unwrap_or_default();
        let (addr, len) = prefix.split_once('/').unwrap_or_default();
        let len: u32 = len.parse().unwrap_or(0);
        let len = if addr.contains(':') { len } else { len + 96 };
        (l.ends_with(" local"), len)
    };
    let ranks = |s: &str| s.lines().skip(1).map(rank).collect::<Vec<_>>();
    assert_eq!(
        ranks(&ours),
        ranks(&theirs),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );

    // IPv6 user routes: added (through a gateway, or on a device's prefix), refused where
    // the device has no address for them, shown, looked up and deleted alike.
    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/add", "fd00:65::/64", "e1", "fd00:61::fe"][..],
            &["ovs/route/add", "fd00:66::1/64", "e2"],
            &["ovs/route/add", "fd00:67::/64", "e1", "pkt_mark=7"],
            &["ovs/route/add", "fd00:68::/64", "e2", "fd00:61::fe"],
            &["ovs/route/add", "fd00:69::/64", "e1", "bogus"],
            &["ovs/route/add", "fd00:6a::/200", "e1"],
        ],
    );
    let theirs = appctl_outcome(ovs.appctl(&["ovs/route/show"]));
    let ours = appctl_outcome(fvs.appctl(&["ovs/route/show"]));
    assert_eq!(set(&ours), set(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    assert!(
        ours.contains("User: fd00:65::/64 dev e1 GW fd00:61::fe SRC fd00:61::1"),
        "{ours}"
    );
    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/lookup", "fd00:65::5"][..],
            &["ovs/route/lookup", "fd00:66::5"],
            &["ovs/route/lookup", "fd00:67::5"],
            &["ovs/route/lookup", "fd00:67::5", "pkt_mark=7"],
            &["ovs/route/del", "fd00:65::/64"],
            &["ovs/route/del", "fd00:65::/64"],
            &["ovs/route/del", "fd00:67::/64"],
            &["ovs/route/lookup", "fd00:65::5"],
        ],
    );

    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/lookup", "fd00:62::5"][..],
            &["ovs/route/lookup", "fd00:61::9"],
            &["ovs/route/lookup", "fd00:63:0:ff::9"],
            &["ovs/route/lookup", "fd00:61::1"],
            &["ovs/route/lookup", "2001:db8::1"],
            &["ovs/route/lookup", "::1"],
            &["ovs/route/lookup", "10.61.0.7"],
            &["ovs/route/lookup", "fd00::zz"],
        ],
    );
}
