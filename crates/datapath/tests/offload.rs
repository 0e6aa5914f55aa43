//! Offloads through the datapath: a TSO super-frame with a partial checksum crosses unsplit to
//! a device that carries virtio-net headers, is segmented (with complete checksums) for a
//! device without them, and is segmented before encapsulation into a GRE tunnel.

use fvs_datapath::port::{PortKind, TunnelKeyMode, TunnelVport};
use fvs_datapath::{Datapath, Upcall};
use fvs_flow::FlowKey;
use fvs_netdev::dummy::DummyHandle;
use fvs_netdev::{GsoType, PacketBatch, VnetHdr};
use fvs_packet::checksum;
use fvs_packet::tunnel::{TunnelPorts, TunnelProtocol, decapsulate};
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort, TunnelKey};
use std::net::Ipv4Addr;
use superframe::{HEADERS, MSS, add_dummy, joined_payloads, payload, superframe, valid_tcp4};

mod superframe;

const IN: DpPort = DpPort(1);
const FULL: DpPort = DpPort(2);
const PLAIN: DpPort = DpPort(3);
const UNDERLAY: DpPort = DpPort(4);
const GRE: DpPort = DpPort(5);
struct Setup {
    dp: Datapath,
    input: DummyHandle,
    full: DummyHandle,
    plain: DummyHandle,
    underlay: DummyHandle,
}

fn setup() -> Setup {
    let mut dp = Datapath::new();
    let mut add = |no: DpPort, name: &str, vnet: bool| add_dummy(&mut dp, no, name, vnet);
    let input = add(IN, "in", true);
    let full = add(FULL, "full", true);
    let plain = add(PLAIN, "plain", false);
    let underlay = add(UNDERLAY, "eth0", true);
    let v = TunnelVport::new(
        TunnelProtocol::Gre,
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 2),
        TunnelKeyMode::Flow,
        UNDERLAY,
    );
    dp.add_port(GRE, "gre", PortKind::Tunnel(v))
        .expect("underlay exists");
    Setup {
        dp,
        input,
        full,
        plain,
        underlay,
    }
}

/// Sends one packet through with `actions`.
fn run(s: &mut Setup, frame: &[u8], vnet: VnetHdr, actions: Vec<DpAction>) {
    s.input.inject_with_vnet(frame, vnet);
    let mut up =
        |_: &FlowKey, _: &fvs_netdev::Packet| Upcall::new(DpActions(actions.clone()), FlowKey::ALL);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    assert_eq!(s.dp.poll(IN, &mut batch, &mut up).ok(), Some(1));
}

/// `vnet` asking for the checksum only: the super-frame's partial checksum without
/// segmentation.
fn checksum_only(vnet: VnetHdr) -> VnetHdr {
    VnetHdr {
        gso_type: GsoType::NONE,
        gso_size: 0,
        ..vnet
    }
}

/// The TCP sequence number of an Ethernet/IPv4/TCP frame without IP options.
fn tcp_seq(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[38], frame[39], frame[40], frame[41]])
}

#[test]
fn superframe_crosses_unsplit_to_a_device_with_offloads() {
    let mut s = setup();
    let (f, vnet) = superframe(40_000);
    run(&mut s, &f, vnet, vec![DpAction::Output(FULL)]);
    let sent = s.full.take_sent();
    assert_eq!(sent.len(), 1, "one super-frame, not segments");
    assert_eq!(sent[0].data, f);
    assert_eq!(sent[0].vnet, vnet, "offload state travels with it");
    let st = s.dp.stats();
    assert_eq!((st.soft_segmented, st.soft_checksummed), (0, 0));
}

#[test]
fn superframe_is_segmented_for_a_device_without_offloads() {
    let mut s = setup();
    let n = 40_000;
    let (f, vnet) = superframe(n);
    run(
        &mut s,
        &f,
        vnet,
        vec![DpAction::Output(PLAIN), DpAction::Output(FULL)],
    );
    let sent = s.plain.take_sent();
    assert_eq!(
        sent.len(),
        n.div_ceil(MSS),
        "more segments than one output batch holds"
    );
    for (i, seg) in sent.iter().enumerate() {
        assert!(seg.vnet.is_none());
        assert!(valid_tcp4(&seg.data), "segment {i} checksums");
        assert_eq!(tcp_seq(&seg.data), 1000 + (i * MSS) as u32);
    }
    assert_eq!(
        joined_payloads(sent.iter().map(|s| &s.data[..])),
        payload(&f)
    );
    assert_eq!(
        s.full.take_sent().len(),
        1,
        "the next output still gets the super-frame"
    );
    assert_eq!(s.dp.stats().soft_segmented, 1);
    assert_eq!(s.dp.stats().offload_dropped, 0);
}

#[test]
fn partial_checksum_is_completed_for_a_device_without_offloads() {
    let mut s = setup();
    let (f, vnet) = superframe(500);
    let vnet = checksum_only(vnet);
    run(&mut s, &f, vnet, vec![DpAction::Output(PLAIN)]);
    let sent = s.plain.take_sent();
    assert_eq!(sent.len(), 1);
    assert!(valid_tcp4(&sent[0].data));
    assert!(!valid_tcp4(&f), "the input's checksum was partial");
    assert_eq!(s.dp.stats().soft_checksummed, 1);
}

#[test]
fn address_and_port_rewrites_keep_a_partial_checksum_right() {
    let mut s = setup();
    let (f, vnet) = superframe(700);
    let csum_only = checksum_only(vnet);
    let (nsrc, ndst) = (Ipv4Addr::new(172, 16, 9, 1), Ipv4Addr::new(192, 168, 44, 7));
    let actions = vec![
        DpAction::SetIpv4 {
            src: Some(nsrc),
            dst: Some(ndst),
            tos: None,
            ttl: Some(9),
        },
        DpAction::SetL4Ports {
            proto: "tcp",
            src: Some(1111),
            dst: Some(2222),
        },
        DpAction::Output(PLAIN),
    ];
    // Checksum-only and TSO: both finished in software after the rewrites.
    for v in [csum_only, vnet] {
        run(&mut s, &f, v, actions.clone());
        let sent = s.plain.take_sent();
        assert!(!sent.is_empty());
        for seg in sent {
            let d = &seg.data;
            assert_eq!(&d[26..34], &[172, 16, 9, 1, 192, 168, 44, 7]);
            assert_eq!(&d[34..38], &[0x04, 0x57, 0x08, 0xae]);
            let pseudo = checksum::pseudo_header_v4(nsrc, ndst, 6, (d.len() - 34) as u16);
            assert!(checksum::verifies(&d[14..34]), "IPv4 header checksum");
            assert_eq!(pseudo.add_bytes(&d[34..]).fold(), 0xffff, "TCP checksum");
        }
    }
}

#[test]
fn superframe_is_segmented_before_encapsulation() {
    let mut s = setup();
    let n = 10_000;
    let (f, vnet) = superframe(n);
    let key = TunnelKey {
        tun_id: 0x1,
        src: Ipv4Addr::new(192, 168, 0, 1).into(),
        dst: Ipv4Addr::new(192, 168, 0, 2).into(),
        tos: 0,
        ttl: 64,
        df: true,
        key: true,
        csum: false,
    };
    run(
        &mut s,
        &f,
        vnet,
        vec![DpAction::SetTunnel(key), DpAction::Output(GRE)],
    );
    let sent = s.underlay.take_sent();
    assert_eq!(sent.len(), n.div_ceil(MSS));
    let mut inners = Vec::new();
    for outer in &sent {
        assert!(outer.vnet.is_none(), "the underlay gets finished packets");
        let d = decapsulate(&outer.data, TunnelPorts::default()).expect("GRE decapsulates");
        assert_eq!(d.metadata.tun_id, 1);
        assert!(valid_tcp4(d.inner), "inner segment checksums");
        assert!(d.inner.len() <= HEADERS + MSS);
        inners.push(d.inner.to_vec());
    }
    assert_eq!(
        joined_payloads(inners.iter().map(Vec::as_slice)),
        payload(&f)
    );
}

#[test]
fn a_superframe_that_cannot_be_segmented_is_dropped_and_counted() {
    let mut s = setup();
    let (mut f, vnet) = superframe(5000);
    f[34 + 12] = 2 << 4; // TCP data offset 2: no header to copy.
    run(&mut s, &f, vnet, vec![DpAction::Output(PLAIN)]);
    assert!(s.plain.take_sent().is_empty());
    assert_eq!(s.dp.stats().offload_dropped, 1);
}

/// A `userspace(...)` action (a packet-in) with only the parameters the datapath reads.
fn to_controller() -> DpAction {
    DpAction::Userspace {
        reason: 1,
        max_len: u16::MAX,
        cookie: 0,
        table: 0,
        flow: Box::new(FlowKey::ZERO),
        controller_id: 0,
        userdata: None,
        meter: None,
        continuation: None,
        bridge: String::new(),
    }
}

#[test]
fn a_superframe_goes_to_the_controller_as_its_segments() {
    let mut s = setup();
    let n = 10_000;
    let (f, vnet) = superframe(n);
    run(
        &mut s,
        &f,
        vnet,
        vec![to_controller(), DpAction::Output(FULL)],
    );
    let up = s.dp.take_userspace();
    assert_eq!(up.len(), n.div_ceil(MSS), "one packet-in per segment");
    for (i, p) in up.iter().enumerate() {
        assert!(p.frame.len() <= HEADERS + MSS, "segment {i} too long");
        assert!(valid_tcp4(&p.frame), "segment {i} checksums");
        assert_eq!(tcp_seq(&p.frame), 1000 + (i * MSS) as u32, "segment {i}");
        assert_eq!(p.key, up[0].key, "every segment keeps the packet's key");
    }
    assert_eq!(
        joined_payloads(up.iter().map(|p| &p.frame[..])),
        payload(&f)
    );
    assert_eq!(
        s.full.take_sent().len(),
        1,
        "the output after it still gets the super-frame"
    );
    assert_eq!(s.dp.stats().soft_segmented, 1);
}

#[test]
fn a_partial_checksum_is_completed_for_the_controller() {
    let mut s = setup();
    let (f, vnet) = superframe(500);
    let vnet = checksum_only(vnet);
    run(&mut s, &f, vnet, vec![to_controller()]);
    let up = s.dp.take_userspace();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].frame.len(), f.len());
    assert!(valid_tcp4(&up[0].frame));
    assert!(!valid_tcp4(&f), "the input's checksum was partial");
}

#[test]
fn a_superframe_that_cannot_be_segmented_never_reaches_the_controller() {
    let mut s = setup();
    let (mut f, vnet) = superframe(5000);
    f[34 + 12] = 2 << 4; // TCP data offset 2: no header to copy.
    run(&mut s, &f, vnet, vec![to_controller()]);
    assert!(s.dp.take_userspace().is_empty());
    assert_eq!(s.dp.stats().offload_dropped, 1);
}
