//! The group table against Open vSwitch 3.1: the same `ovs-ofctl` commands (add-group,
//! mod-group with and without `--may-create`, insert-buckets, remove-buckets, del-groups,
//! dump-groups, dump-group-stats) run against a private ovs-vswitchd and fvs-vswitchd in
//! OpenFlow 1.0 (Nicira's group messages), 1.1, 1.3 and 1.5, and their exit status, stdout
//! and stderr are compared. Open vSwitch lists groups in hash order and ferrovs by number, so
//! the listed lines are compared sorted; durations differ and are blanked.

mod common;

use common::Fvs;
use common::add_group_bridge;
use fvs_test_support::{PrivateOvs, Switch, TempDir};

/// `ovs-ofctl ARGS` on `sw` as [`common::ofctl_outcome`] gives it, log times and durations blanked and
/// the listing's lines (after the first) sorted.
fn ofctl(sw: &dyn Switch, args: &[&str]) -> (bool, String) {
    let (ok, text) = common::ofctl_outcome(sw, args);
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            // ovs-ofctl's own log lines start with the time: `2026-01-02T03:04:05Z|...`.
            let l = match l.get(..21) {
                Some(t) if t.ends_with("Z|") && t.starts_with(|c: char| c.is_ascii_digit()) => {
                    &l[20..]
                }
                _ => l,
            };
            // duration=1.234s -> duration=X
            match l.find("duration=") {
                Some(i) => {
                    let end = l[i..].find(',').map_or(l.len(), |j| i + j);
                    format!("{}duration=X{}", &l[..i], &l[end..])
                }
                None => l.to_owned(),
            }
        })
        .collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    (ok, lines.join("\n"))
}

/// Open vSwitch and ferrovs (its directory named after `tag`), each with the group bridge.
fn group_switches(tag: &str) -> (PrivateOvs, Fvs) {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start(tag);
    add_group_bridge(&ovs);
    add_group_bridge(fvs.private());
    (ovs, fvs)
}

fn compare(ovs: &dyn Switch, fvs: &dyn Switch, args: &[&str]) -> (bool, String) {
    let want = ofctl(ovs, args);
    let got = ofctl(fvs, args);
    assert_eq!(got, want, "ovs-ofctl {args:?}");
    // A case ovs-ofctl refuses itself would compare nothing.
    assert!(
        !want.1.contains("unknown keyword") && !want.1.contains("unknown command"),
        "ovs-ofctl {args:?}: {}",
        want.1
    );
    want
}

#[test]
fn group_mods_and_group_dumps_match_open_vswitch() {
    let (ovs, fvs) = group_switches("grp");
    let fvs = fvs.private();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=1,type=all,bucket=output:1,bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=1,type=all,bucket=output:2",
        ],
        vec![
            "add-group",
            "br0",
            "group_id=2,type=select,bucket=weight:5,output:1,bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow11",
            "add-group",
            "br0",
            "group_id=3,type=indirect,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=4,type=fast_failover,bucket=watch_port:1,output:1,bucket=watch_port:2,watch_group:1,output:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=5,type=indirect",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=6,type=all,bucket=group:6",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "mod-group",
            "br0",
            "group_id=7,type=all,bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "--may-create",
            "mod-group",
            "br0",
            "group_id=7,type=all,bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "mod-group",
            "br0",
            "group_id=1,type=select,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "insert-buckets",
            "br0",
            "group_id=2,command_bucket_id=first,bucket=bucket_id:7,output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "insert-buckets",
            "br0",
            "group_id=2,command_bucket_id=last,bucket=bucket_id:7,output:1",
        ],
        vec![
            "insert-buckets",
            "br0",
            "group_id=2,command_bucket_id=last,bucket=bucket_id:9,output:2",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "remove-buckets",
            "br0",
            "group_id=2,command_bucket_id=1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "remove-buckets",
            "br0",
            "group_id=2,command_bucket_id=44",
        ],
        vec!["dump-groups", "br0"],
        vec!["-O", "OpenFlow11", "dump-groups", "br0"],
        vec!["-O", "OpenFlow13", "dump-groups", "br0"],
        vec!["-O", "OpenFlow15", "dump-groups", "br0"],
        vec!["-O", "OpenFlow15", "dump-groups", "br0", "2"],
        // Flows naming groups: accepted when the group exists; ref_count counts them.
        vec![
            "-O",
            "OpenFlow13",
            "add-flow",
            "br0",
            "priority=5,ip,actions=group:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-flow",
            "br0",
            "priority=6,arp,actions=clone(group:1),group:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-flow",
            "br0",
            "priority=7,arp,actions=group:77",
        ],
        vec!["dump-group-stats", "br0"],
        vec!["-O", "OpenFlow11", "dump-group-stats", "br0"],
        vec!["-O", "OpenFlow13", "dump-group-stats", "br0"],
        vec!["-O", "OpenFlow15", "dump-group-stats", "br0", "group_id=1"],
        // Deleting a group deletes the flows naming it.
        vec!["-O", "OpenFlow13", "del-groups", "br0", "group_id=1"],
        vec!["-O", "OpenFlow13", "--no-stats", "dump-flows", "br0"],
        vec!["-O", "OpenFlow13", "del-groups", "br0", "group_id=77"],
        vec!["-O", "OpenFlow13", "dump-group-stats", "br0"],
        vec!["del-groups", "br0"],
        vec!["-O", "OpenFlow15", "dump-groups", "br0"],
        vec!["-O", "OpenFlow13", "--no-stats", "dump-flows", "br0"],
        vec!["dump-group-features", "br0"],
        vec!["-O", "OpenFlow11", "dump-group-features", "br0"],
        vec!["-O", "OpenFlow13", "dump-group-features", "br0"],
        vec!["-O", "OpenFlow15", "dump-group-features", "br0"],
    ];
    for args in &cases {
        compare(&ovs, fvs, args);
    }
    // Group-mods in bundles (OpenFlow 1.4): alone, refused when the group exists, and mixed
    // with flow-mods (`ovs-ofctl bundle`), where a flow may name a group the bundle adds
    // first, and a failure leaves nothing of the bundle behind.
    let dir = TempDir::new("grp-bundle");
    let good = dir.path().join("good.txt");
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &good,
        "group add group_id=21,type=all,bucket=output:1\nflow add priority=9,actions=group:21\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &bad,
        "group add group_id=22,type=all,bucket=output:1\nflow add priority=10,actions=group:99\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (good, bad) = (good.display().to_string(), bad.display().to_string());
    let bundles: Vec<Vec<&str>> = vec![
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-group",
            "br0",
            "group_id=20,type=all,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-group",
            "br0",
            "group_id=20,type=all,bucket=output:1",
        ],
        vec!["-O", "OpenFlow14", "bundle", "br0", &good],
        vec!["-O", "OpenFlow14", "bundle", "br0", &bad],
        vec!["-O", "OpenFlow14", "dump-groups", "br0"],
        vec!["-O", "OpenFlow14", "--no-stats", "dump-flows", "br0"],
    ];
    for args in &bundles {
        compare(&ovs, fvs, args);
    }
    // The cases above really exercised groups: a listing and the refusals were there.
    let (ok, listing) = ofctl(
        &ovs,
        &[
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=1,type=all,bucket=output:1",
        ],
    );
    assert!(ok, "{listing}");
    let (ok, err) = ofctl(
        &ovs,
        &[
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=1,type=all,bucket=output:1",
        ],
    );
    assert!(!ok && err.contains("OFPGMFC_GROUP_EXISTS"), "{err}");
    let (ok, err) = ofctl(
        fvs,
        &[
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=1,type=all,bucket=output:1",
        ],
    );
    assert!(ok, "{err}");
    let (_, dump) = ofctl(fvs, &["-O", "OpenFlow13", "dump-groups", "br0"]);
    assert!(
        dump.contains("group_id=1,type=all,bucket=actions=output:1"),
        "{dump}"
    );
}

/// What monitors in OpenFlow 1.0, 1.3 and 1.4 print when a group is deleted with a flow naming it
/// (`send_flow_rem`): the flow-removed lines, durations blanked.
fn group_delete_removals(sw: &dyn Switch) -> Vec<String> {
    add_group_bridge(sw);
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow14",
        "add-group",
        "br0",
        "group_id=40,type=all,bucket=output:1",
    ]);
    sw.ofctl_ok(&[
        "add-flow",
        "br0",
        "priority=40,send_flow_rem,actions=group:40",
    ]);
    common::flow_removals_during(
        sw,
        &["-O", "OpenFlow14", "del-groups", "br0", "group_id=40"],
    )
}

#[test]
fn deleting_a_group_removes_its_flows_with_reason_group_delete_as_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("grprm");
    let theirs = group_delete_removals(&ovs);
    let ours = group_delete_removals(fvs.private());
    assert_eq!(ours, theirs);
    assert!(theirs[0].is_empty(), "{theirs:?}");
    assert!(theirs[2].contains("reason=group_delete"), "{theirs:?}");
}

/// Open vSwitch's selection methods of select groups (`selection_method`,
/// `selection_method_param`, `fields`): carried by OpenFlow 1.5's group-mods and the Nicira
/// group-mod of OpenFlow 1.0 and shown by their group descriptions, dropped by the versions
/// in between, refused for a method the switch does not know or a group that is not a select
/// group.
#[test]
fn selection_methods_match_open_vswitch() {
    let (ovs, fvs) = group_switches("grpsel");
    let fvs = fvs.private();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=1,type=select,selection_method=hash,\
             fields(tcp_src=0xff00,ip_dst,eth_src),bucket=output:1,bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=2,type=select,selection_method=hash,fields=ip_src=255.255.0.0,\
             bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=3,type=select,selection_method=dp_hash,selection_method_param=7,\
             bucket=output:1",
        ],
        vec![
            "add-group",
            "br0",
            "group_id=4,type=select,selection_method=hash,fields(in_port,eth_type),\
             bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=5,type=select,selection_method=hash,fields(ip_dst),bucket=output:2",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=6,type=select,selection_method=foo,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=7,type=all,selection_method=hash,bucket=output:1",
        ],
        vec![
            "add-group",
            "br0",
            "group_id=8,type=select,selection_method=foo,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "mod-group",
            "br0",
            "group_id=3,type=select,selection_method=hash,selection_method_param=0x10,\
             fields=nw_proto,bucket=output:2",
        ],
        vec!["dump-groups", "br0"],
        vec!["-O", "OpenFlow13", "dump-groups", "br0"],
        vec!["-O", "OpenFlow15", "dump-groups", "br0"],
    ];
    for args in &cases {
        compare(&ovs, fvs, args);
    }
    let (_, dump) = ofctl(fvs, &["-O", "OpenFlow15", "dump-groups", "br0"]);
    assert!(
        dump.contains(
            "group_id=1,type=select,selection_method=hash,fields(eth_src,ip_dst,tcp_src=65280),"
        ),
        "{dump}"
    );
    let (ok, err) = ofctl(&ovs, &cases[5]);
    assert!(!ok && err.contains("OFPBPC_BAD_VALUE"), "{err}");
}

/// What a trace through a `selection_method=hash` group shows that both switches must share:
/// the megaflow (exactly the hashed fields un-wildcarded) and one score line per bucket
/// (their values and so the bucket chosen come from each switch's own hash).
fn hash_trace_shape(trace: &str) -> (String, usize) {
    let megaflow = trace
        .lines()
        .find(|l| l.starts_with("Megaflow: "))
        .unwrap_or_default()
        .to_owned();
    let scores = trace.lines().filter(|l| l.contains(": score ")).count();
    (megaflow, scores)
}

/// The bucket a trace used.
fn used_bucket(trace: &str) -> String {
    trace
        .lines()
        .find_map(|l| l.trim().strip_prefix("-> using bucket "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hash_selection_hashes_exactly_its_fields_as_open_vswitch() {
    let (ovs, fvs) = group_switches("grphash");
    let sw = fvs.private();
    for s in [&ovs as &dyn Switch, sw] {
        s.ofctl_ok(&[
            "-O",
            "OpenFlow15",
            "add-group",
            "br0",
            "group_id=1,type=select,selection_method=hash,fields(ip_dst=255.255.255.0,tcp_dst),\
             bucket=output:1,bucket=output:2",
        ]);
        s.ofctl_ok(&["add-flow", "br0", "in_port=LOCAL,tcp,actions=group:1"]);
    }
    let flow = |src: u8, dst: u8, port: u16| {
        format!("in_port=LOCAL,tcp,nw_src=10.0.0.{src},nw_dst=10.0.{dst}.9,tp_src=99,tp_dst={port}")
    };
    let trace = |s: &dyn Switch, f: &str| s.appctl_ok(&["ofproto/trace", "br0", f]);
    for f in [flow(1, 1, 80), flow(2, 7, 443)] {
        let theirs = trace(&ovs, &f);
        let ours = trace(sw, &f);
        assert_eq!(hash_trace_shape(&ours), hash_trace_shape(&theirs), "{f}");
        assert_eq!(hash_trace_shape(&theirs).1, 2, "{theirs}");
    }
    // Only the hashed bits choose: another source address or source port, or another last
    // byte of the destination, takes the same bucket; across destinations both are used.
    let base = used_bucket(&trace(sw, &flow(1, 1, 80)));
    assert!(!base.is_empty());
    assert_eq!(used_bucket(&trace(sw, &flow(5, 1, 80))), base);
    let other_last_byte = flow(1, 1, 80).replace(".9,", ".200,");
    assert_eq!(used_bucket(&trace(sw, &other_last_byte)), base);
    let used: std::collections::BTreeSet<String> = (0..16)
        .map(|d| used_bucket(&trace(sw, &flow(1, d, 80))))
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
}
