//! `dump_flows` against Open vSwitch 3.1: the same frames through a private ovs-vswitchd with
//! the dummy datapath and through a `Datapath` whose upcall answers with the megaflow that
//! Open vSwitch chose (same matched fields, same actions); `dpctl/dump-flows` and
//! `dump_flows` must print the same lines (ages aside, which depend on timing).

use fvs_datapath::port::PortKind;
use fvs_datapath::{Datapath, Upcall};
use fvs_flow::{Field, FlowKey};
use fvs_netdev::PacketBatch;
use fvs_netdev::dummy::Dummy;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort};
use fvs_test_support::AddBridge;
use fvs_test_support::frames::hex;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Ethernet/IPv4/TCP (SYN) from 10.0.0.1:1000 to 10.0.0.2:80, optionally tagged.
fn tcp_frame(vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[..12].copy_from_slice(&[0x50, 0x54, 0, 0, 0, 2, 0x50, 0x54, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let c = fvs_packet::checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&1000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = 0x02;
    if let Some(vid) = vlan {
        let tci = vid.to_be_bytes();
        f.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
    }
    f
}

fn normalise(dump: &str) -> BTreeSet<String> {
    dump.lines()
        .filter(|l| l.starts_with("recirc_id") || l.starts_with("tunnel"))
        .map(|l| {
            // `used:0.123s` depends on timing; keep only whether it was used.
            let mut out = String::new();
            for part in l.split(", ") {
                if part.starts_with("used:") && part != "used:never" {
                    out.push_str("used:SOMEs");
                } else {
                    out.push_str(part);
                }
                out.push_str(", ");
            }
            out.truncate(out.len() - 2);
            out
        })
        .collect()
}

#[test]
fn dump_flows_prints_like_open_vswitch() {
    let untagged = tcp_frame(None);
    let tagged = tcp_frame(Some(7));

    let ovs = fvs_test_support::PrivateOvs::start();
    let bridge = AddBridge::new("br0")
        .set(&["datapath_type=dummy", "fail-mode=secure"])
        .port("p1", &["type=dummy", "ofport_request=1"])
        .port("p2", &["type=dummy", "ofport_request=2"]);
    ovs.vsctl(&bridge.args()).expect("bridge");
    ovs.ofctl(&[
        "add-flow",
        "br0",
        "in_port=1,tcp,actions=mod_nw_src:1.2.3.4,mod_tp_dst:99,output:2",
    ])
    .expect("flow");
    ovs.ofctl(&[
        "add-flow",
        "br0",
        "priority=40000,in_port=1,dl_vlan=7,actions=strip_vlan,output:2",
    ])
    .expect("flow");
    for f in [&untagged, &untagged, &untagged, &tagged] {
        ovs.appctl(&["netdev-dummy/receive", "p1", &hex(f)])
            .expect("receive");
    }
    let dpif = ovs.appctl(&["dpif/show"]).expect("dpif/show");
    assert!(
        dpif.contains("p1 1/1:") && dpif.contains("p2 2/2:"),
        "{dpif}"
    );
    let expected = normalise(&ovs.appctl(&["dpctl/dump-flows"]).expect("dump"));
    assert_eq!(expected.len(), 2, "Open vSwitch installed: {expected:?}");

    let mut dp = Datapath::new();
    for (no, name) in [(1, "p1"), (2, "p2")] {
        let (d, _h) = Dummy::new(name);
        dp.add_port(DpPort(no), name, PortKind::Netdev(Box::new(d)))
            .expect("port");
    }
    // The megaflows Open vSwitch chose, field for field.
    let mut tcp_mask = FlowKey::ZERO;
    // Open vSwitch's datapath key always says whether there is a VLAN tag: no `vlan(...)`
    // attribute means "untagged", matched exactly.
    for f in [
        Field::InPort,
        Field::VlanTci,
        Field::EthType,
        Field::Ipv4Src,
        Field::IpProto,
        Field::IpFrag,
        Field::TcpDst,
    ] {
        tcp_mask.set(f.loc(), u128::MAX);
    }
    let mut vlan_mask = FlowKey::ZERO;
    for f in [Field::InPort, Field::VlanTci, Field::EthType, Field::IpFrag] {
        vlan_mask.set(f.loc(), u128::MAX);
    }
    let mut up = |k: &FlowKey, _: &fvs_netdev::Packet| {
        if k.get(Field::VlanTci.loc()) != 0 {
            Upcall {
                actions: DpActions(vec![DpAction::PopVlan, DpAction::Output(DpPort(2))]),
                mask: vlan_mask,
                cookie: 0,
            }
        } else {
            Upcall {
                actions: DpActions(vec![
                    DpAction::SetIpv4 {
                        src: Some(Ipv4Addr::new(1, 2, 3, 4)),
                        dst: None,
                        tos: None,
                        ttl: None,
                    },
                    DpAction::SetL4Ports {
                        proto: "tcp",
                        src: None,
                        dst: Some(99),
                    },
                    DpAction::Output(DpPort(2)),
                ]),
                mask: tcp_mask,
                cookie: 0,
            }
        }
    };
    let mut batch = PacketBatch::new(4, 2048);
    for f in [&untagged, &untagged, &untagged, &tagged] {
        batch.clear();
        batch.push(f).expect("room");
        dp.process_batch(DpPort(1), &mut batch, &mut up);
    }
    assert_eq!(normalise(&dp.dump_flows()), expected);
}
