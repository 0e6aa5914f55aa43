//! Oracle test of `ovs/route/show` and `ovs/route/lookup` (root): one network namespace with
//! a veth pair, an address, a route through a gateway and IPv6 off; Open vSwitch 3.1's
//! `ovs-vswitchd` and fvs-vswitchd both run inside it and must show the same routes (as sets
//! of lines: Open vSwitch lists routes of equal rank in hash order) and answer the same
//! lookups, errors included, before and after user routes through the namespace's devices
//! are added (`ovs/route/add`) and deleted. The namespace is deleted and both daemons
//! killed by their own pids, by guards, even when an assertion fails.

mod common;

use std::collections::BTreeSet;

use common::appctl_outcome;
use fvs_test_support::netns::{self, exec};
use fvs_test_support::{PrivateFvs, PrivateOvs};

#[test]
fn routes_read_as_open_vswitch_s() {
    let mut lab = netns::Lab::new();
    let ns = lab.add_netns(&netns::unique_name("rt", "h"));
    exec(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    exec(
        &ns,
        &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
    );
    exec(&ns, &["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"]);
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
    exec(&ns, &["ip", "addr", "add", "10.63.0.1/16", "dev", "e2"]);
    exec(
        &ns,
        &["ip", "route", "add", "10.62.0.0/16", "via", "10.61.0.254"],
    );
    let ovs = PrivateOvs::start_in_netns(&ns);
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(&ns)
        .tag("routes")
        .start();

    let theirs = appctl_outcome(ovs.appctl(&["ovs/route/show"]));
    let ours = appctl_outcome(fvs.appctl(&["ovs/route/show"]));
    assert_eq!(ours.lines().next(), Some("Route Table:"), "{ours}");
    assert_eq!(theirs.lines().next(), Some("Route Table:"), "{theirs}");
    let set = |s: &str| s.lines().map(str::to_owned).collect::<BTreeSet<String>>();
    assert_eq!(set(&ours), set(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    assert!(
        ours.contains("Cached: 10.62.0.0/16 dev e1 GW 10.61.0.254 SRC 10.61.0.1"),
        "{ours}"
    );
    // Local routes come first, then longer prefixes before shorter ones.
    let ranks: Vec<(bool, u8)> = ours
        .lines()
        .skip(1)
        .map(|l| {
            let prefix = l.split_whitespace().nth(1).unwrap_or_default();
            let len = prefix.split('/').nth(1).and_then(|n| n.parse().ok());
            (l.ends_with(" local"), len.unwrap_or(0))
        })
        .collect();
    let mut sorted = ranks.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ranks, sorted, "{ours}");

    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/lookup", "10.62.3.4"][..],
            &["ovs/route/lookup", "10.61.0.9"],
            &["ovs/route/lookup", "10.63.200.1"],
            &["ovs/route/lookup", "10.61.0.1"],
            &["ovs/route/lookup", "127.0.0.1"],
            &["ovs/route/lookup", "192.0.2.1"],
            &["ovs/route/lookup", "bad"],
        ],
    );

    // User routes through the kernel's devices: the source from the device's addresses, the
    // user route ranked among the cached ones, a missing device or address refused.
    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/add", "10.64.0.0/16", "e1", "10.61.0.254"][..],
            &["ovs/route/add", "10.63.9.0/24", "e2"],
            &["ovs/route/add", "10.65.0.0/16", "e1"],
            &["ovs/route/add", "10.65.0.0/16", "nodev", "10.61.0.254"],
            &["ovs/route/lookup", "10.64.1.1"],
            &["ovs/route/lookup", "10.63.9.7"],
            &["ovs/route/lookup", "10.63.8.7"],
        ],
    );
    let theirs = appctl_outcome(ovs.appctl(&["ovs/route/show"]));
    let ours = appctl_outcome(fvs.appctl(&["ovs/route/show"]));
    assert_eq!(set(&ours), set(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    assert!(
        ours.contains("User: 10.64.0.0/16 dev e1 GW 10.61.0.254 SRC 10.61.0.1"),
        "{ours}"
    );
    common::same_appctl_answers(
        &fvs,
        &ovs,
        &[
            &["ovs/route/del", "10.63.9.0/24"][..],
            &["ovs/route/lookup", "10.63.9.7"],
            &["ovs/route/del", "10.63.9.0/24"],
        ],
    );
}
