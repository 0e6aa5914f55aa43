//! Oracle test of user routes (no root): fvs-vswitchd with `--enable-dummy` and Open
//! vSwitch 3.1's `ovs-vswitchd --enable-dummy=override` get the same bridges, the same
//! `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr` addresses and the same `ovs/route/add`, `ovs/route/del`,
//! `ovs/route/show` and `ovs/route/lookup` commands, good and bad; every reply and error must
//! read the same. Routes of one prefix length are listed in hash order by Open vSwitch, so
//! `ovs/route/show` is compared with each run of equal prefix lengths sorted.

mod common;

use common::{Fvs, appctl_outcome};
use fvs_test_support::PrivateOvs;

/// `ovs/route/show`'s lines with each run of one prefix length sorted.
fn by_rank(show: &str) -> Vec<String> {
    let len = |l: &str| {
        l.split_whitespace()
            .nth(1)
            .and_then(|p| p.split_once('/'))
            .map(|(_, n)| n.to_owned())
    };
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for l in show.lines() {
        if run.last().is_some_and(|r| len(r) != len(l)) {
            run.sort();
            out.append(&mut run);
        }
        run.push(l.to_owned());
    }
    run.sort();
    out.append(&mut run);
    out
}

#[test]
fn user_routes_read_as_open_vswitch_s() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("uroute");
    for br in ["br0", "br1"] {
        ovs.vsctl(&["add-br", br])
            .unwrap_or_else(|e| panic!("ovs-vsctl add-br: {e}"));
        fvs.vsctl(&["add-br", br]);
    }
    let both = |args: &[&str]| -> (String, String) {
        (
            appctl_outcome(ovs.appctl(args)),
            appctl_outcome(fvs.private().appctl(args)),
        )
    };
    let add = |s: &str| -> Vec<String> {
        ["ovs/route/add"]
            .into_iter()
            .chain(s.split(' '))
            .map(str::to_owned)
            .collect()
    };
    let words = |v: &[&str]| -> Vec<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    let mut steps: Vec<Vec<String>> = vec![
        words(&["ovs/route/show"]),
        // No address on br0 yet: no source address, no route.
        words(&["ovs/route/add", "10.1.0.0/16", "br0"]),
        words(&["netdev-dummy/ip4addr", "br0", "10.1.0.5/24"]),
        words(&["netdev-dummy/ip4addr", "br1", "10.2.0.9/16"]),
        words(&["netdev-dummy/ip4addr", "nope", "10.3.0.1/24"]),
        // IPv6: no address on br1 yet, then one; bad addresses and lengths.
        words(&["ovs/route/add", "2001:db8:1::/64", "br1"]),
        words(&["netdev-dummy/ip6addr", "br1", "2001:db8:1::9/64"]),
        words(&["netdev-dummy/ip6addr", "nope", "2001:db8:1::9/64"]),
        words(&["netdev-dummy/ip6addr", "br1", "zzz"]),
        words(&["netdev-dummy/ip6addr", "br1", "2001:db8:1::9/129"]),
        words(&["netdev-dummy/ip6addr", "br1", "2001:db8:1::9/x"]),
        words(&["netdev-dummy/ip6addr", "br1", "10.2.0.9/16"]),
    ];
    for s in [
        "10.1.0.0/16 br0",
        "10.2.0.0/16 br0 10.1.0.1",
        "10.3.0.0/16 br0 10.1.0.1 pkt_mark=5",
        "10.1.0.77/32 br0 pkt_mark=0x10",
        "10.2.5.0/24 br1",
        "10.1.0.1/32 br0 pkt_mark=-1",
        "10.1.0.0/255.255.255.128 br0",
        "0.0.0.0/0 br0 10.1.0.1",
        // Replaces 10.2.0.0/16 (the prefix is masked; the source comes from the gateway).
        "10.2.7.0/16 br0 10.1.0.2",
        // Errors, one bad token each.
        "10.4.0.7/16 br0 src=10.1.0.5",
        "10.5.0.0/16 nobr",
        "10.9.0.0/16 br0",
        "10.5.0.0/33 br0",
        "10.1.0/24 br0",
        "10.1.0.0/24x br0",
        "10.1.0.0/255.0.255.0 br0",
        "10.5.0.0/16 br0 bad",
        "10.5.0.0/16 br0 10.1.0.300",
        "10.5.0.0/16 br0 pkt_mark=x",
        "10.1.0.0/24 br0 10.1.0.1 10.1.0.2",
        "10.1.0.0/24 br0 pkt_mark=5 10.1.0.1",
        "10.1.0.0/24",
        "10.1.0.0/24 br0 10.1.0.1 pkt_mark=7 x",
        "::1/128 br0",
        "10.1.0.0/24 br0 ::1",
        // Through br1's IPv6 address; its IPv4 one stays.
        "2001:db8:1::/64 br1",
        "2001:db8:5::/64 br1 2001:db8:1::1",
        "10.2.8.0/24 br1",
    ] {
        steps.push(add(s));
    }
    for s in [
        &["ovs/route/show"][..],
        &["ovs/route/lookup", "10.3.1.1"],
        &["ovs/route/lookup", "10.3.1.1", "pkt_mark=5"],
        &["ovs/route/lookup", "10.1.1.1"],
        &["ovs/route/lookup", "10.1.0.9"],
        &["ovs/route/lookup", "10.2.5.1"],
        &["ovs/route/lookup", "10.2.6.1"],
        &["ovs/route/lookup", "10.9.9.9"],
        &["ovs/route/lookup", "10.1.0.77", "pkt_mark=16"],
        &["ovs/route/lookup", "10.1.0.77", "foo"],
        &["ovs/route/lookup", "10.1.0.5x"],
        &["ovs/route/lookup", "10.1.0.5/32"],
        &["ovs/route/lookup", "::1"],
        &["ovs/route/lookup", "2001:db8:5::9"],
        &["ovs/route/lookup", "2001:db8:1::7"],
        &["ovs/route/del", "10.3.0.0/16"],
        &["ovs/route/del", "10.3.0.0/16", "pkt_mark=5"],
        &["ovs/route/del", "10.3.0.0/16", "pkt_mark=5"],
        &["ovs/route/del", "bad"],
        &["ovs/route/del", "10.1.0.77/32", "x"],
        &["ovs/route/del", "10.1.0.77/32", "pkt_mark=16", "x"],
        &["ovs/route/del", "10.1.0.1", "pkt_mark=0xffffffff"],
        &["ovs/route/del", "0.0.0.0/0"],
        &["ovs/route/show"],
        &["ovs/route/lookup", "10.9.9.9"],
    ] {
        steps.push(words(s));
    }
    let mut shown = Vec::new();
    for args in &steps {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let (theirs, ours) = both(&words);
        if words == ["ovs/route/show"] {
            assert_eq!(
                by_rank(&ours),
                by_rank(&theirs),
                "ours:\n{ours}\ntheirs:\n{theirs}"
            );
        } else {
            assert_eq!(ours, theirs, "{words:?}");
        }
        shown.push((words.join(" "), ours));
    }
    // Not two switches failing alike: the routes are there and the bad tokens refused.
    let reply = |cmd: &str| {
        shown
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    // The table with every route added (the second listing).
    let full = shown
        .iter()
        .filter(|(c, _)| c == "ovs/route/show")
        .nth(1)
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    assert!(
        full.contains("User: 10.3.0.0/16 MARK 5 dev br0 GW 10.1.0.1 SRC 10.1.0.5"),
        "{full}"
    );
    assert!(
        full.contains("User: 10.2.0.0/16 dev br0 GW 10.1.0.2 SRC 10.1.0.5"),
        "{full}"
    );
    assert!(
        full.contains("User: 10.2.5.0/24 dev br1 SRC 10.2.0.9"),
        "{full}"
    );
    assert_eq!(
        reply("ovs/route/add 10.5.0.0/16 nobr"),
        "error: Error while inserting route."
    );
    assert_eq!(
        reply("ovs/route/add 10.1.0/24 br0"),
        "error: Invalid parameters"
    );
    assert_eq!(
        reply("ovs/route/lookup 10.2.5.1"),
        "src 10.2.0.9\ngateway ::\ndev br1\n"
    );
    assert_eq!(reply("ovs/route/del 10.3.0.0/16"), "error: Not found");
    assert!(
        full.contains("User: 2001:db8:5::/64 dev br1 GW 2001:db8:1::1 SRC 2001:db8:1::9"),
        "{full}"
    );
    assert!(
        full.contains("User: 10.2.8.0/24 dev br1 SRC 10.2.0.9"),
        "{full}"
    );
    assert_eq!(
        reply("netdev-dummy/ip6addr br1 2001:db8:1::9/129"),
        "error: 2001:db8:1::9/129: IPv6 network prefix bits not between 0 and 128, inclusive"
    );
}
