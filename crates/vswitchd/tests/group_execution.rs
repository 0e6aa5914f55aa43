//! Groups executed by fvs-vswitchd as by Open vSwitch 3.1: `ofproto/trace` through an
//! `all` group (each bucket on its own copy of the packet), an `indirect` group chained to
//! it, and a `fast_failover` group (a bucket watching a port that does not exist is skipped)
//! reads the same on both switches, and frames received on a dummy port or sent by a
//! packet-out leave through the buckets' ports (`tx_pcap`) the same, counted the same in
//! `dump-group-stats` (group and bucket packets and bytes, `ref_count`). Open vSwitch's select groups recirculate through the
//! datapath's hash (`hash(sym_l4(0)),recirc(...)`), ferrovs's hash in translation, so select
//! groups are checked on ferrovs alone: weight 0 is never chosen, every other bucket is, one
//! flow always takes the same bucket, and a group change takes effect on cached flows.

mod common;

use common::Fvs;
use fvs_test_support::frames::{hex, pcap_frames_or_empty};
use fvs_test_support::{AddBridge, PrivateOvs, Switch};
use std::path::Path;

fn setup(sw: &dyn Switch, dir: &Path) {
    let pcap = |n: &str| {
        format!(
            "options:tx_pcap={}",
            dir.join(format!("{n}.pcap")).display()
        )
    };
    let (p1, p2, p3) = (pcap("p1"), pcap("p2"), pcap("p3"));
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                "fail_mode=secure",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
            ])
            .port("p1", &["ofport_request=1", &p1])
            .port("p2", &["ofport_request=2", &p2])
            .port("p3", &["ofport_request=3", &p3])
            .args(),
    );
    for g in [
        "group_id=1,type=all,bucket=output:1,bucket=mod_vlan_vid:5,output:2",
        "group_id=3,type=indirect,bucket=group:1",
        "group_id=4,type=fast_failover,bucket=watch_port:5,output:1,bucket=watch_port:2,output:2",
    ] {
        sw.ofctl_ok(&["-O", "OpenFlow13", "add-group", "br0", g]);
    }
    for f in [
        "in_port=3,tcp,actions=group:1",
        "in_port=3,icmp,actions=group:3",
        "in_port=3,arp,actions=group:4",
    ] {
        sw.ofctl_ok(&["-O", "OpenFlow13", "add-flow", "br0", f]);
    }
}

/// An Ethernet + IPv4 frame with protocol `proto` and an 8-byte zero payload header (ports
/// 0), addresses fixed.
fn ipv4(proto: u8, sport: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let l4_len: u16 = if proto == 6 { 20 } else { 8 };
    let total = 20 + l4_len;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = fvs_test_support::frames::ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut l4 = vec![0u8; usize::from(l4_len)];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    if proto == 6 {
        l4[12] = 0x50;
    } else if proto == 17 {
        l4[4..6].copy_from_slice(&8u16.to_be_bytes());
    }
    f.extend_from_slice(&l4);
    f
}

#[test]
fn all_indirect_and_fast_failover_groups_run_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("gx");
    let fvs_sw = fvs.private();
    setup(&ovs, ovs.dir());
    setup(fvs_sw, fvs_sw.dir());
    for flow in ["in_port=3,tcp", "in_port=3,icmp", "in_port=3,arp"] {
        let theirs = ovs.appctl_ok(&["ofproto/trace", "br0", flow]);
        let (ok, ours, err) = fvs.appctl(&["ofproto/trace", "br0", flow]);
        assert!(ok, "{err}");
        assert_eq!(ours, theirs, "ofproto/trace br0 {flow}");
        assert!(ours.contains("    bucket "), "{ours}");
    }
    // Frames: a TCP one through the all group, an ICMP one through indirect -> all.
    let tcp = ipv4(6, 1000);
    let icmp = ipv4(1, 0);
    for f in [&tcp, &icmp] {
        ovs.appctl_ok(&["netdev-dummy/receive", "p3", &hex(f)]);
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p3", &hex(f)]);
        assert!(ok, "{err}");
    }
    // A packet-out through the all group.
    let po = format!("in_port=3,packet={},actions=group:1", hex(&ipv4(17, 7)));
    for sw in [&ovs as &dyn Switch, fvs_sw] {
        sw.ofctl_ok(&["-O", "OpenFlow13", "packet-out", "br0", &po]);
    }
    ovs.appctl_ok(&["revalidator/wait"]);
    let _ = fvs.appctl(&["revalidator/wait"]);
    for port in ["p1", "p2", "p3"] {
        let theirs = pcap_frames_or_empty(&ovs.dir().join(format!("{port}.pcap")));
        let ours = pcap_frames_or_empty(&fvs_sw.dir().join(format!("{port}.pcap")));
        assert_eq!(ours, theirs, "frames sent on {port}");
    }
    // Group and bucket counters, as dump-group-stats lists them (durations blanked, lines
    // sorted: Open vSwitch lists groups in hash order).
    let stats = |sw: &dyn Switch| -> Vec<String> {
        let out = sw.ofctl_ok(&["-O", "OpenFlow13", "dump-group-stats", "br0"]);
        let mut lines: Vec<String> = out
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .filter(|f| !f.starts_with("duration="))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(stats(fvs_sw), stats(&ovs));
    assert!(
        stats(fvs_sw)
            .iter()
            .any(|l| l.starts_with(" group_id=1,ref_count=1,packet_count=3")),
        "{:?}",
        stats(fvs_sw)
    );
    // With p2 down (port-mod), the fast-failover group has no live bucket left.
    ovs.ofctl_ok(&["mod-port", "br0", "p2", "down"]);
    fvs_sw.ofctl_ok(&["mod-port", "br0", "p2", "down"]);
    let theirs = ovs.appctl_ok(&["ofproto/trace", "br0", "in_port=3,arp"]);
    let (ok, ours, err) = fvs.appctl(&["ofproto/trace", "br0", "in_port=3,arp"]);
    assert!(ok, "{err}");
    assert_eq!(ours, theirs, "ofproto/trace with the watched port down");
    assert!(ours.contains("not live due to port 2"), "{ours}");
    let p1 = pcap_frames_or_empty(&fvs_sw.dir().join("p1.pcap"));
    assert_eq!(
        p1,
        vec![tcp.clone(), icmp.clone(), ipv4(17, 7)],
        "bucket 0 sends each frame unchanged"
    );
    let p2 = pcap_frames_or_empty(&fvs_sw.dir().join("p2.pcap"));
    assert_eq!(p2.len(), 3, "bucket 1 sends each frame tagged");
    assert_eq!(&p2[0][12..16], &[0x81, 0x00, 0x00, 0x05]);
}

/// The `Datapath actions:` line of a trace.
fn dp_actions(trace: &str) -> String {
    trace
        .lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn select_groups_honour_weights_stick_to_a_flow_and_follow_group_changes() {
    let fvs = Fvs::start("gsel");
    let sw = fvs.private();
    let dir = sw.dir();
    let pcap = |n: &str| {
        format!(
            "options:tx_pcap={}",
            dir.join(format!("{n}.pcap")).display()
        )
    };
    let (p2, p3) = (pcap("p2"), pcap("p3"));
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["ofport_request=1"])
            .port("p2", &["ofport_request=2", &p2])
            .port("p3", &["ofport_request=3", &p3])
            .args(),
    );
    // Bucket 0 weighs nothing: its VLAN 7 tag must never appear.
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-group",
        "br0",
        "group_id=2,type=select,bucket=weight:0,mod_vlan_vid:7,output:2,\
         bucket=weight:1,output:2,bucket=weight:3,output:3",
    ]);
    sw.ofctl_ok(&["add-flow", "br0", "in_port=1,udp,actions=group:2"]);

    // One flow always picks the same bucket, and the megaflow keeps the hashed ports.
    let flow = "in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=80";
    let (ok, first, err) = fvs.appctl(&["ofproto/trace", "br0", flow]);
    assert!(ok, "{err}");
    let (_, again, _) = fvs.appctl(&["ofproto/trace", "br0", flow]);
    assert_eq!(dp_actions(&first), dp_actions(&again));
    let megaflow = first
        .lines()
        .find(|l| l.starts_with("Megaflow: "))
        .unwrap_or_default();
    assert!(
        megaflow.contains("tp_src=1000") && megaflow.contains("nw_src=10.0.0.1"),
        "the hashed fields are in the megaflow: {first}"
    );

    // 64 flows: bucket 0 never, both others some, the heavier one more.
    let n = 64u16;
    for sport in 0..n {
        let f = ipv4(17, 2000 + sport);
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(&f)]);
        assert!(ok, "{err}");
    }
    let _ = fvs.appctl(&["revalidator/wait"]);
    let on2 = pcap_frames_or_empty(&dir.join("p2.pcap"));
    let on3 = pcap_frames_or_empty(&dir.join("p3.pcap"));
    assert!(
        on2.iter().all(|f| f[12..14] != [0x81, 0x00]),
        "a weight-0 bucket is never chosen"
    );
    assert_eq!(
        on2.len() + on3.len(),
        usize::from(n),
        "each frame leaves once"
    );
    assert!(
        !on2.is_empty() && on3.len() > on2.len(),
        "weights 1:3 split {}:{}",
        on2.len(),
        on3.len()
    );

    // The bucket counters say the same, cached packets included.
    let out = sw.ofctl_ok(&["-O", "OpenFlow13", "dump-group-stats", "br0", "group_id=2"]);
    let want = format!(
        "packet_count={n},byte_count={},bucket0:packet_count=0,byte_count=0,\
         bucket1:packet_count={},byte_count={},bucket2:packet_count={},byte_count={}",
        usize::from(n) * 42,
        on2.len(),
        on2.len() * 42,
        on3.len(),
        on3.len() * 42
    );
    assert!(out.contains(&want), "{out}\nwanted {want}");

    // A group change reaches flows already cached: with the heavy bucket at weight 0 every
    // frame, including the ones seen before, leaves on p2.
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "mod-group",
        "br0",
        "group_id=2,type=select,bucket=weight:1,output:2,bucket=weight:0,output:3",
    ]);
    for sport in 0..n {
        let f = ipv4(17, 2000 + sport);
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(&f)]);
        assert!(ok, "{err}");
    }
    let _ = fvs.appctl(&["revalidator/wait"]);
    assert_eq!(pcap_frames_or_empty(&dir.join("p3.pcap")).len(), on3.len());
    assert_eq!(
        pcap_frames_or_empty(&dir.join("p2.pcap")).len(),
        on2.len() + usize::from(n)
    );
}

#[test]
fn a_group_naming_itself_stops_at_the_depth_limit_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("gloop");
    let fvs_sw = fvs.private();
    for sw in [&ovs as &dyn Switch, fvs_sw] {
        sw.vsctl_ok(
            &AddBridge::new("br0")
                .set(&["fail_mode=secure"])
                .port("p3", &["ofport_request=3"])
                .args(),
        );
        sw.ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "add-group",
            "br0",
            "group_id=70,type=all,bucket=group:70",
        ]);
        sw.ofctl_ok(&["add-flow", "br0", "in_port=3,actions=group:70"]);
    }
    let theirs = ovs.appctl_ok(&["ofproto/trace", "br0", "in_port=3"]);
    let (ok, ours, err) = fvs.appctl(&["ofproto/trace", "br0", "in_port=3"]);
    assert!(ok, "{err}");
    assert_eq!(ours, theirs);
    assert!(ours.contains("Datapath actions: drop"), "{ours}");
}
