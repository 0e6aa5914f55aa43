//! Native tunnels in the datapath alone (dummy devices, no root): a tunnel vport whose
//! destination the control plane marked native sends through a bridge's internal port and
//! takes its packets back from there, never through its underlay; ARP (IPv4) or neighbour
//! discovery (IPv6) fills the next hop.

use std::net::{Ipv4Addr, Ipv6Addr};

use fvs_datapath::chain::{DecapChain, EncapChain};
use fvs_datapath::native::{Endpoint, NativeConfig, NativeHop, RouteMtu};
use fvs_datapath::offload::Plan;
use fvs_datapath::port::{PortKind, TunnelKeyMode, TunnelVport};
use fvs_datapath::{Datapath, Upcall};
use fvs_flow::{FlowKey, PortNo};
use fvs_netdev::dummy::DummyHandle;
use fvs_netdev::{GsoType, MacAddr, PacketBatch, VnetFlags};
use fvs_packet::ethernet::{EtherType, EthernetRepr};
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv6::Ipv6Repr;
use fvs_packet::nd::{NdKind, NdRepr};
use fvs_packet::tunnel::{Encap, TunnelProtocol, decapsulate, encapsulate};
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort, TunnelKey};
use superframe::{MSS, add_dummy, joined_payloads, payload, superframe, valid_tcp4};

mod superframe;

const VM: DpPort = DpPort(1);
const BR_PHY: DpPort = DpPort(2);
const ETH1: DpPort = DpPort(3);
const UNDERLAY: DpPort = DpPort(4);
const GRE: DpPort = DpPort(5);
const HERE: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const THERE: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 2);
const MY_MAC: MacAddr = MacAddr([2, 0x97, 0, 0, 0, 1]);
const THEIR_MAC: MacAddr = MacAddr([2, 0x97, 0, 0, 0, 2]);

struct Host {
    dp: Datapath,
    vm: DummyHandle,
    br_phy: DummyHandle,
    eth1: DummyHandle,
    underlay: DummyHandle,
}

/// One host: a VM port, br-phy's internal port, the NIC, and a GRE vport with its underlay;
/// the "pipeline" sends the VM's frames into the tunnel (key 1), br-phy's out of the NIC,
/// the NIC's to br-phy, and the tunnel's to the VM.
fn host() -> Host {
    host_with(TunnelProtocol::Gre, false)
}

/// [`host`] with a `protocol` vport (still port `GRE`), the NIC carrying virtio-net headers
/// or not (`nic_offloads`), and a jumbo underlay (MTU 9000) for the native hop.
fn host_with(protocol: TunnelProtocol, nic_offloads: bool) -> Host {
    let mut dp = Datapath::new();
    // The VM's port hands over TSO super-frames; the others carry finished packets.
    let mut add = |no: DpPort, name: &str| {
        add_dummy(&mut dp, no, name, no == VM || (no == ETH1 && nic_offloads))
    };
    let vm = add(VM, "vm");
    let br_phy = add(BR_PHY, "br-phy");
    let eth1 = add(ETH1, "eth1");
    let underlay = add(UNDERLAY, "gre_sys/underlay");
    let v = TunnelVport::new(
        protocol,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        TunnelKeyMode::Flow,
        UNDERLAY,
    );
    dp.add_port(GRE, "gre_sys", PortKind::Tunnel(v))
        .expect("underlay exists");
    let mut config = NativeConfig::default();
    config.hops.insert(
        THERE.into(),
        NativeHop {
            port: BR_PHY,
            eth_src: MY_MAC,
            eth_dst: None,
            src: HERE.into(),
            next_hop: THERE.into(),
            mtu: RouteMtu(9000),
        },
    );
    config.endpoints.insert(
        BR_PHY,
        Endpoint {
            mac: MY_MAC,
            addrs: vec![HERE.into()],
            bridge: "br-phy".to_owned(),
        },
    );
    dp.set_native(config);
    Host {
        dp,
        vm,
        br_phy,
        eth1,
        underlay,
    }
}

fn pipeline(k: &FlowKey, _: &fvs_netdev::Packet) -> Upcall {
    let in_port = k.get(fvs_flow::Field::InPort.loc()) as u32;
    let actions = match DpPort(in_port) {
        VM => vec![
            DpAction::SetTunnel(TunnelKey {
                tun_id: 1,
                src: Ipv4Addr::UNSPECIFIED.into(),
                dst: THERE.into(),
                tos: 0,
                ttl: 64,
                df: true,
                key: true,
                csum: false,
            }),
            DpAction::Output(GRE),
        ],
        BR_PHY => vec![DpAction::Output(ETH1)],
        ETH1 => vec![DpAction::Output(BR_PHY)],
        GRE => vec![DpAction::Output(VM)],
        _ => vec![],
    };
    Upcall::new(DpActions(actions), FlowKey::ALL)
}

fn inner() -> Vec<u8> {
    let mut f = vec![0x5a; 98];
    f[..6].copy_from_slice(&[2, 0x97, 1, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0x97, 1, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

fn arp_reply() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&MY_MAC.0);
    f[6..12].copy_from_slice(&THEIR_MAC.0);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f[22..28].copy_from_slice(&THEIR_MAC.0);
    f[28..32].copy_from_slice(&THERE.octets());
    f[32..38].copy_from_slice(&MY_MAC.0);
    f[38..42].copy_from_slice(&HERE.octets());
    f
}

fn receive(h: &mut Host, port: DpPort, handle_of: impl Fn(&Host) -> &DummyHandle, f: &[u8]) {
    handle_of(h).inject(f);
    let mut batch = PacketBatch::new(8, 9400);
    let mut up = pipeline;
    assert_eq!(h.dp.poll(port, &mut batch, &mut up).ok(), Some(1));
}

#[test]
fn a_native_tunnel_arps_then_sends_and_receives_through_the_bridge() {
    let mut h = host();
    // No neighbour yet: the packet is dropped and an ARP request for the peer leaves the NIC.
    receive(&mut h, VM, |h| &h.vm, &inner());
    let sent = h.eth1.take_sent();
    assert_eq!(sent.len(), 1, "one ARP request");
    let arp = &sent[0].data;
    assert_eq!(&arp[..6], &[0xff; 6]);
    assert_eq!(&arp[6..12], &MY_MAC.0);
    assert_eq!(&arp[12..14], &[0x08, 0x06]);
    assert_eq!(&arp[20..22], &[0, 1], "a request");
    assert_eq!(&arp[28..32], &HERE.octets());
    assert_eq!(&arp[38..42], &THERE.octets());
    assert_eq!(h.dp.stats().native_no_neighbour, 1);
    assert!(h.underlay.take_sent().is_empty(), "not through the host");

    // The reply reaches the host and is snooped.
    receive(&mut h, ETH1, |h| &h.eth1, &arp_reply());
    assert_eq!(
        h.br_phy.take_sent().len(),
        1,
        "the host gets the ARP reply too"
    );
    let snooped = h.dp.take_snooped();
    assert_eq!(snooped.len(), 1);
    assert_eq!((snooped[0].ip, snooped[0].mac), (THERE.into(), THEIR_MAC));

    // Now the packet leaves the NIC in GRE, with the bridge's addresses.
    receive(&mut h, VM, |h| &h.vm, &inner());
    let sent = h.eth1.take_sent();
    assert_eq!(sent.len(), 1);
    let outer = &sent[0].data;
    assert_eq!(&outer[..6], &THEIR_MAC.0);
    assert_eq!(&outer[6..12], &MY_MAC.0);
    let d = decapsulate(outer, Default::default()).expect("a GRE packet");
    assert_eq!(d.metadata.src, HERE);
    assert_eq!(d.metadata.dst, THERE);
    assert_eq!(d.metadata.tun_id, 1);
    assert_eq!(d.inner, &inner()[..]);
    // The outer IPv4 header checksum is right (the kernel fills nothing in here).
    assert_eq!(fvs_packet::checksum::checksum(&outer[14..34]), 0);
    assert!(h.underlay.take_sent().is_empty());
    assert!(h.br_phy.take_sent().is_empty());

    // The peer's packet comes in on the NIC and reaches the VM, not the host.
    let e = Encap::new(TunnelProtocol::Gre, THEIR_MAC, MY_MAC, THERE, HERE, Some(1));
    let back = encapsulate(&e, &inner()).expect("encapsulates");
    receive(&mut h, ETH1, |h| &h.eth1, &back);
    let got = h.vm.take_sent();
    assert_eq!(got.len(), 1, "decapsulated to the VM");
    assert_eq!(got[0].data, inner());
    assert!(h.br_phy.take_sent().is_empty(), "the host never sees it");
    let s = h.dp.stats();
    assert_eq!((s.native_sent, s.native_received), (1, 1));
    assert_eq!(s.recirc_dropped, 0);
}

#[test]
fn a_tunnel_routed_into_itself_is_dropped_not_spun() {
    let mut h = host();
    h.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    // A pipeline that sends br-phy's frames back into the tunnel: each pass re-enters.
    let mut up = |k: &FlowKey, _: &fvs_netdev::Packet| {
        let in_port = k.get(fvs_flow::Field::InPort.loc()) as u32;
        let mut u = pipeline(k, &fvs_netdev::Packet::new(64));
        if DpPort(in_port) == BR_PHY {
            u = pipeline(
                &fvs_flow::extract::extract(&inner(), PortNo(VM.0), None),
                &fvs_netdev::Packet::new(64),
            );
        }
        u
    };
    h.vm.inject(&inner());
    let mut batch = PacketBatch::new(8, 9400);
    assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
    assert!(h.eth1.take_sent().is_empty());
    assert_eq!(
        h.dp.stats().recirc_dropped,
        1,
        "dropped after the last pass"
    );
}

#[test]
fn a_super_frame_leaves_a_native_tunnel_in_finished_segments() {
    let mut h = host();
    h.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    let n = 10_000;
    let (f, vnet) = superframe(n);
    h.vm.inject_with_vnet(&f, vnet);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
    let sent = h.eth1.take_sent();
    assert_eq!(sent.len(), n.div_ceil(MSS), "one outer packet per segment");
    for outer in &sent {
        assert!(outer.vnet.is_none(), "the NIC gets finished packets");
        assert_eq!(&outer.data[..6], &THEIR_MAC.0);
    }
    let outers: Vec<Vec<u8>> = sent.into_iter().map(|s| s.data).collect();
    assert_eq!(inner_payloads(&outers), payload(&f));
    assert_eq!(h.dp.stats().soft_segmented, 1);
    assert_eq!(h.dp.stats().recirc_dropped, 0);
}

/// The payloads of the TCP segments inside a list of finished outer frames (GRE or VXLAN,
/// from HERE to THERE with key 1), one after another.
fn inner_payloads(outers: &[Vec<u8>]) -> Vec<u8> {
    let inners = outers.iter().map(|outer| {
        let d = decapsulate(outer, Default::default()).expect("decapsulates");
        assert_eq!(
            (d.metadata.src, d.metadata.dst),
            (HERE.into(), THERE.into())
        );
        assert_eq!(d.metadata.tun_id, 1);
        assert!(valid_tcp4(d.inner), "inner segment checksums");
        d.inner
    });
    joined_payloads(inners)
}

/// Cuts a `GSO_UDP_L4` frame into its datagrams, as the kernel would on the wire.
fn segment(frame: &[u8], vnet: fvs_netdev::VnetHdr) -> Vec<Vec<u8>> {
    let plan = Plan::new(frame, vnet).expect("a UDP segmentation frame");
    let mut out = PacketBatch::new(plan.segments(), 9400);
    (0..plan.segments())
        .map(|i| plan.push(frame, i, &mut out).expect("room").data().to_vec())
        .collect()
}

#[test]
fn a_super_frame_leaves_native_vxlan_as_one_udp_segmentation_frame() {
    let mut h = host_with(TunnelProtocol::Vxlan, true);
    h.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    let n = 20_000;
    let (f, vnet) = superframe(n);
    let segments = n.div_ceil(MSS);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    // First pass: br-phy's megaflow is not cached yet, so nothing says the run would leave
    // whole: single outer packets, which install it.
    h.vm.inject_with_vnet(&f, vnet);
    assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
    let singles: Vec<Vec<u8>> = h.eth1.take_sent().into_iter().map(|s| s.data).collect();
    assert_eq!(singles.len(), segments);
    assert_eq!(inner_payloads(&singles), payload(&f));
    assert_eq!(h.dp.stats().native_gso_frames, 0);

    // Second pass: one frame for the NIC, with UDP segmentation asked of the kernel.
    h.vm.inject_with_vnet(&f, vnet);
    assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
    let sent = h.eth1.take_sent();
    assert_eq!(sent.len(), 1, "one frame for the whole run");
    let run = &sent[0];
    let v = run.vnet;
    assert_eq!(v.gso_type.kind(), GsoType::UDP_L4);
    assert!(v.flags.contains(VnetFlags::NEEDS_CSUM));
    assert_eq!((v.csum_start, v.csum_offset), (34, 6));
    let first_payload = singles[0].len() - 42;
    assert_eq!(usize::from(v.gso_size), first_payload);
    assert_eq!(&run.data[..6], &THEIR_MAC.0);
    // The kernel's cut gives back the single packets, but for the outer UDP checksum
    // (computed here; the singles have none with csum=false).
    let cut = segment(&run.data, v);
    assert_eq!(cut.len(), segments);
    for (c, s) in cut.iter().zip(&singles) {
        assert_eq!(c.len(), s.len());
        // Identification and header checksum aside (the cut numbers datagrams, as Linux
        // does).
        for (from, to) in [(0, 18), (20, 24), (26, 40)] {
            assert_eq!(
                &c[from..to],
                &s[from..to],
                "outer headers up to the UDP checksum"
            );
        }
        assert_eq!(&c[42..], &s[42..], "tunnel header and inner frame");
        assert_eq!(
            &s[40..42],
            &[0, 0],
            "a single packet sent alone has no checksum"
        );
    }
    let s = h.dp.stats();
    assert_eq!(
        (s.native_gso_frames, s.native_gso_segments),
        (1, segments as u64)
    );
    assert_eq!(s.native_sent, 2 * segments as u64);
    assert_eq!(s.recirc_dropped, 0);
}

#[test]
fn a_nic_without_offloads_gets_single_vxlan_packets() {
    let mut h = host_with(TunnelProtocol::Vxlan, false);
    h.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    let (f, vnet) = superframe(10_000);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    for _ in 0..2 {
        h.vm.inject_with_vnet(&f, vnet);
        assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
        let sent = h.eth1.take_sent();
        assert_eq!(sent.len(), 10_000_usize.div_ceil(MSS));
        assert!(sent.iter().all(|s| s.vnet.is_none()));
    }
    assert_eq!(h.dp.stats().native_gso_frames, 0);
}

/// The far end's view of a run: the frame host A sent, with addresses and MACs swapped so
/// it is addressed to this host.
fn incoming_run() -> (Vec<u8>, fvs_netdev::VnetHdr, usize) {
    let mut a = host_with(TunnelProtocol::Vxlan, true);
    a.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    let (f, vnet) = superframe(20_000);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    for _ in 0..2 {
        a.vm.inject_with_vnet(&f, vnet);
        assert_eq!(a.dp.poll(VM, &mut batch, &mut up).ok(), Some(1));
    }
    let sent = a.eth1.take_sent();
    let run = sent.last().expect("a run");
    let mut d = run.data.clone();
    // Swapping the addresses leaves every checksum and partial sum as it was.
    let (src, dst) = (d[26..30].to_vec(), d[30..34].to_vec());
    d[26..30].copy_from_slice(&dst);
    d[30..34].copy_from_slice(&src);
    d[..6].copy_from_slice(&MY_MAC.0);
    d[6..12].copy_from_slice(&THEIR_MAC.0);
    (d, run.vnet, payload(&f).len())
}

#[test]
fn a_received_run_is_split_and_each_datagram_decapsulated() {
    let (run, vnet, payload_len) = incoming_run();
    let segments = segment(&run, vnet).len();
    let mut b = host_with(TunnelProtocol::Vxlan, true);
    b.eth1.inject_with_vnet(&run, vnet);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    assert_eq!(b.dp.poll(ETH1, &mut batch, &mut up).ok(), Some(1));
    assert!(b.br_phy.take_sent().is_empty(), "the host never sees it");
    let got = b.vm.take_sent();
    let total: usize = got.iter().map(|g| payload(&g.data).len()).sum();
    assert_eq!(total, payload_len, "every segment reached the VM");
    let s = b.dp.stats();
    assert_eq!(s.native_rx_gso_frames, 1);
    assert_eq!(s.native_rx_gso_segments, segments as u64);
    assert_eq!(s.native_received, segments as u64);
    assert_eq!(s.native_malformed, 0);
    assert!(s.coalesced > 0, "the inner TCP is coalesced for the VM");
}

#[test]
fn bad_and_short_datagrams_inside_a_received_run_are_dropped_and_counted() {
    let (mut run, vnet, _) = incoming_run();
    let size = usize::from(vnet.gso_size);
    let segments = segment(&run, vnet).len();
    // The third datagram's VXLAN header loses its I flag; a 4-byte datagram (shorter than
    // a VXLAN header) ends the run, behind a last datagram padded to full size.
    run[42 + 2 * size] = 0;
    let last = (run.len() - 42) % size;
    if last != 0 {
        run.resize(run.len() + size - last, 0);
    }
    run.extend_from_slice(&[8, 0, 0, 0]);
    let mut b = host_with(TunnelProtocol::Vxlan, true);
    b.eth1.inject_with_vnet(&run, vnet);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    assert_eq!(b.dp.poll(ETH1, &mut batch, &mut up).ok(), Some(1));
    let s = b.dp.stats();
    assert_eq!(s.native_malformed, 2, "the bad and the short datagram");
    assert_eq!(s.native_rx_gso_segments, segments as u64 - 1);
    assert!(
        !b.vm.take_sent().is_empty(),
        "the good datagrams still arrive"
    );
    assert!(b.br_phy.take_sent().is_empty());
}

const HERE6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x97, 0, 0, 0, 0, 0, 1);
const THERE6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x97, 0, 0, 0, 0, 0, 2);

/// [`host_with`] over an IPv6 underlay: the hop and the endpoint's address are IPv6.
fn host_v6(protocol: TunnelProtocol) -> Host {
    let mut h = host_with(protocol, false);
    let mut config = NativeConfig::default();
    config.hops.insert(
        THERE6.into(),
        NativeHop {
            port: BR_PHY,
            eth_src: MY_MAC,
            eth_dst: None,
            src: HERE6.into(),
            next_hop: THERE6.into(),
            mtu: RouteMtu(9000),
        },
    );
    config.endpoints.insert(
        BR_PHY,
        Endpoint {
            mac: MY_MAC,
            addrs: vec![HERE6.into()],
            bridge: "br-phy".to_owned(),
        },
    );
    h.dp.set_native(config);
    h
}

/// [`pipeline`], the VM's frames going to THERE6.
fn pipeline6(k: &FlowKey, p: &fvs_netdev::Packet) -> Upcall {
    let mut u = pipeline(k, p);
    if k.get(fvs_flow::Field::InPort.loc()) == u128::from(VM.0) {
        u = Upcall::new(
            DpActions(vec![
                DpAction::SetTunnel(TunnelKey {
                    tun_id: 1,
                    src: Ipv6Addr::UNSPECIFIED.into(),
                    dst: THERE6.into(),
                    tos: 0xb8,
                    ttl: 17,
                    df: true,
                    key: true,
                    csum: false,
                }),
                DpAction::Output(GRE),
            ]),
            FlowKey::ALL,
        );
    }
    u
}

fn receive6(h: &mut Host, port: DpPort, handle_of: impl Fn(&Host) -> &DummyHandle, f: &[u8]) {
    handle_of(h).inject(f);
    let mut batch = PacketBatch::new(8, 9400);
    let mut up = pipeline6;
    assert_eq!(h.dp.poll(port, &mut batch, &mut up).ok(), Some(1));
}

/// The peer's Neighbor Advertisement for THERE6, to HERE6, with its MAC in the target
/// link-layer address option.
fn neighbor_advert() -> Vec<u8> {
    let nd = NdRepr {
        target: THERE6,
        sll: None,
        tll: Some(THEIR_MAC),
    };
    // Solicited and override.
    let icmp = nd.to_icmpv6(NdKind::Advert, 0x6000_0000);
    let mut f = vec![0u8; 14 + 40 + icmp.buffer_len()];
    EthernetRepr {
        dst: MY_MAC,
        src: THEIR_MAC,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut f);
    Ipv6Repr {
        src: THERE6,
        dst: HERE6,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[14..]);
    icmp.emit(&mut f[54..], THERE6, HERE6);
    f
}

#[test]
fn a_native_ipv6_tunnel_solicits_then_sends_and_receives_through_the_bridge() {
    for protocol in [TunnelProtocol::Gre, TunnelProtocol::Vxlan] {
        let mut h = host_v6(protocol);
        // No neighbour: dropped, and a Neighbor Solicitation leaves the NIC.
        receive6(&mut h, VM, |h| &h.vm, &inner());
        let sent = h.eth1.take_sent();
        assert_eq!(sent.len(), 1, "one solicitation");
        let ns = &sent[0].data;
        assert_eq!(
            &ns[..6],
            &[0x33, 0x33, 0xff, 0, 0, 2],
            "solicited-node group"
        );
        assert_eq!(&ns[12..14], &[0x86, 0xdd]);
        assert_eq!(ns[54], 135, "ICMPv6 neighbor solicitation");
        assert_eq!(&ns[62..78], &THERE6.octets(), "for the next hop");
        assert_eq!(&ns[22..38], &HERE6.octets(), "from our address");
        assert_eq!(h.dp.stats().native_no_neighbour, 1);
        assert!(h.underlay.take_sent().is_empty(), "not through the host");

        // The advertisement reaches the host and is snooped.
        receive6(&mut h, ETH1, |h| &h.eth1, &neighbor_advert());
        assert_eq!(h.br_phy.take_sent().len(), 1, "the host gets it too");
        let snooped = h.dp.take_snooped();
        assert_eq!(snooped.len(), 1);
        assert_eq!((snooped[0].ip, snooped[0].mac), (THERE6.into(), THEIR_MAC));

        // Now the packet leaves in an IPv6 outer header: hop limit from ttl, traffic
        // class from tos, flow label 0, a UDP checksum even with csum=false (as Open
        // vSwitch 3.1 sends it).
        receive6(&mut h, VM, |h| &h.vm, &inner());
        let sent = h.eth1.take_sent();
        assert_eq!(sent.len(), 1);
        let outer = &sent[0].data;
        assert_eq!(&outer[..6], &THEIR_MAC.0);
        assert_eq!(&outer[12..14], &[0x86, 0xdd]);
        assert_eq!(&outer[14..18], &[0x6b, 0x80, 0, 0]);
        assert_eq!(outer[21], 17);
        if protocol == TunnelProtocol::Vxlan {
            assert_ne!(&outer[60..62], &[0, 0], "a UDP checksum");
        }
        let d = decapsulate(outer, Default::default()).expect("decapsulates");
        assert_eq!(
            (d.metadata.src, d.metadata.dst),
            (HERE6.into(), THERE6.into())
        );
        assert_eq!(d.metadata.protocol, protocol);
        assert_eq!(d.inner, &inner()[..]);

        // The peer's packet comes in on the NIC and reaches the VM, not the host.
        let e = Encap::new(protocol, THEIR_MAC, MY_MAC, THERE6, HERE6, Some(1));
        let back = encapsulate(&e, &inner()).expect("encapsulates");
        receive6(&mut h, ETH1, |h| &h.eth1, &back);
        let got = h.vm.take_sent();
        assert_eq!(got.len(), 1, "decapsulated to the VM");
        assert_eq!(got[0].data, inner());
        assert!(h.br_phy.take_sent().is_empty(), "the host never sees it");
        let s = h.dp.stats();
        assert_eq!((s.native_sent, s.native_received), (1, 1));
        // The received packet's megaflow names its outer IPv6 addresses as Open vSwitch
        // prints them.
        let flows = h.dp.dump_flows();
        assert!(
            flows.contains(&format!(
                "tunnel(tun_id=0x1,ipv6_src={THERE6},ipv6_dst={HERE6}),"
            )),
            "{flows}"
        );
    }
}

#[test]
fn malformed_outer_ipv6_to_an_endpoint_is_dropped_and_counted() {
    let mut h = host_v6(TunnelProtocol::Vxlan);
    let e = Encap::new(
        TunnelProtocol::Vxlan,
        THEIR_MAC,
        MY_MAC,
        THERE6,
        HERE6,
        Some(1),
    );
    let good = encapsulate(&e, &inner()).expect("encapsulates");
    // A payload length one byte past the frame.
    let mut long = good.clone();
    let plen = u16::from_be_bytes([long[18], long[19]]) + 1;
    long[18..20].copy_from_slice(&plen.to_be_bytes());
    // A destination options header that claims 64 bytes more than the packet carries.
    let mut ext = good[..54].to_vec();
    ext[20] = 60;
    ext[18..20].copy_from_slice(&8u16.to_be_bytes());
    ext.extend_from_slice(&[17, 8, 1, 4, 0, 0, 0, 0]);
    for (i, bad) in [long, ext].iter().enumerate() {
        receive6(&mut h, ETH1, |h| &h.eth1, bad);
        assert_eq!(h.dp.stats().native_malformed, i as u64 + 1, "case {i}");
        assert!(h.vm.take_sent().is_empty(), "case {i}: nothing inside");
        assert!(h.br_phy.take_sent().is_empty(), "case {i}: not to the host");
    }
    // Good traffic still flows.
    receive6(&mut h, ETH1, |h| &h.eth1, &good);
    assert_eq!(h.vm.take_sent().len(), 1);
}

#[test]
fn consecutive_packets_of_one_flow_in_a_batch_make_one_run() {
    let mut h = host_with(TunnelProtocol::Vxlan, true);
    h.dp.learn_neighbour(THERE.into(), THEIR_MAC);
    // A VM without TSO: the stream arrives as MSS-sized segments, one frame each; the last
    // carries PSH, which changes the flow key but not the outer flow.
    let (f, vnet) = superframe(8 * MSS);
    let singles = segment(&f, vnet);
    let mut batch = PacketBatch::new(16, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    let mut rounds = Vec::new();
    for _ in 0..2 {
        for s in &singles {
            h.vm.inject(s);
        }
        assert_eq!(h.dp.poll(VM, &mut batch, &mut up).ok(), Some(singles.len()));
        rounds.push(h.eth1.take_sent());
    }
    // The first batch installs br-phy's megaflow; the second finds it and makes a run.
    assert_eq!(rounds[0].len(), singles.len());
    assert_eq!(rounds[1].len(), 1, "one run for the batch");
    let run = &rounds[1][0];
    assert_eq!(run.vnet.gso_type.kind(), GsoType::UDP_L4);
    let cut = segment(&run.data, run.vnet);
    assert_eq!(inner_payloads(&cut), payload(&f));
    assert_eq!(h.dp.stats().native_gso_segments, singles.len() as u64);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Offloaded frames mangled anywhere (bytes, length, virtio-net header) that reach a
    /// native endpoint never panic the datapath, and a good run still crosses afterwards.
    #[test]
    fn mangled_runs_at_an_endpoint_never_panic(
        flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 0..8),
        cut in 0usize..4096,
        gso_size in proptest::prelude::any::<u16>(),
        csum_start in 0u16..128,
        csum_offset in 0u16..16,
        flags in 0u8..4,
    ) {
        let (good, vnet, _) = incoming_run();
        let mut bad = good.clone();
        for (at, b) in flips {
            let at = at % bad.len();
            bad[at] ^= b;
        }
        bad.truncate(bad.len().saturating_sub(cut));
        let mangled = fvs_netdev::VnetHdr {
            flags: VnetFlags(flags),
            gso_size,
            csum_start,
            csum_offset,
            ..vnet
        };
        let mut b = host_with(TunnelProtocol::Vxlan, true);
        let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
        let mut up = pipeline;
        b.eth1.inject_with_vnet(&bad, mangled);
        b.eth1.inject_with_vnet(&good, vnet);
        proptest::prop_assert_eq!(b.dp.poll(ETH1, &mut batch, &mut up).ok(), Some(2));
        let s = b.dp.stats();
        proptest::prop_assert!(s.native_rx_gso_frames >= 1, "the good run was split");
        proptest::prop_assert!(!b.vm.take_sent().is_empty());
    }
}

#[test]
fn a_run_claiming_more_datagrams_than_any_sender_makes_is_dropped_and_counted() {
    let (run, vnet, _) = incoming_run();
    // 20 kB cut into 16-byte datagrams: over a thousand.
    let tiny = fvs_netdev::VnetHdr {
        gso_size: 16,
        ..vnet
    };
    let mut b = host_with(TunnelProtocol::Vxlan, true);
    b.eth1.inject_with_vnet(&run, tiny);
    let mut batch = PacketBatch::new(4, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut up = pipeline;
    assert_eq!(b.dp.poll(ETH1, &mut batch, &mut up).ok(), Some(1));
    let s = b.dp.stats();
    assert_eq!((s.native_malformed, s.native_received), (1, 0));
    assert!(b.vm.take_sent().is_empty());
    assert!(b.br_phy.take_sent().is_empty(), "nor does the host get it");
}

/// The encapsulation and decapsulation chains the host's megaflows head.
fn chains(h: &Host) -> (Vec<EncapChain>, Vec<DecapChain>) {
    let flows: Vec<(FlowKey, FlowKey, DpActions)> =
        h.dp.megaflows()
            .map(|(_, k, m, v)| (*k, *m, v.actions.clone()))
            .collect();
    let encap = flows
        .iter()
        .filter_map(|(k, _, a)| h.dp.encap_chain(k, a))
        .collect();
    let decap = flows
        .iter()
        .flat_map(|(k, m, a)| h.dp.decap_chains(k, m, a))
        .collect();
    (encap, decap)
}

/// The megaflow pairs a native GRE packet crosses are tunnel chains for kernel offload: the
/// VM's and br-phy's once the neighbour is known, with the outer header the datapath itself
/// writes (but for the IPv4 total length and checksum, done per packet), and the NIC's and
/// the vport's, pinned to the outer source, destination and key.
#[test]
fn native_gre_megaflow_pairs_are_tunnel_chains() {
    let mut h = host();
    receive(&mut h, VM, |h| &h.vm, &inner());
    let _ = h.eth1.take_sent();
    assert!(
        chains(&h).0.is_empty(),
        "no chain while the neighbour is unknown"
    );
    receive(&mut h, ETH1, |h| &h.eth1, &arp_reply());
    let _ = (h.br_phy.take_sent(), h.dp.take_snooped());
    receive(&mut h, VM, |h| &h.vm, &inner());
    let sent = h.eth1.take_sent();
    let outer = &sent[0].data;
    let e = Encap::new(TunnelProtocol::Gre, THEIR_MAC, MY_MAC, THERE, HERE, Some(1));
    let back = encapsulate(&e, &inner()).expect("encapsulates");
    receive(&mut h, ETH1, |h| &h.eth1, &back);
    assert_eq!(h.vm.take_sent().len(), 1);

    let (encap, decap) = chains(&h);
    assert_eq!(encap.len(), 1, "one encapsulation chain: {encap:?}");
    assert_eq!(decap.len(), 1, "one decapsulation chain: {decap:?}");
    let (c, d) = (&encap[0], &decap[0]);
    assert_partners(&h, c, d, 0x0800);
    assert_eq!(
        c.header.len(),
        14 + 20 + 8,
        "Ethernet, IPv4, GRE with a key"
    );
    let same =
        |r: std::ops::Range<usize>| assert_eq!(c.header[r.clone()], outer[r.clone()], "{r:?}");
    same(0..16); // Ethernet, IPv4 version, header length and TOS
    same(18..24); // identification, flags, TTL, protocol
    same(26..42); // addresses, GRE flags, protocol and key
    assert_eq!(
        (d.pin.src, d.pin.dst, d.pin.key, d.pin.outer_len()),
        (THERE.into(), HERE.into(), Some(1), 42)
    );
}

/// The chains of a VM's packets out of and into the NIC: their ports, and their partners
/// br-phy's megaflow for the outer frames (EtherType `outer_type`) and the NIC's megaflow.
#[track_caller]
fn assert_partners(h: &Host, c: &EncapChain, d: &DecapChain, outer_type: u128) {
    assert_eq!((c.in_port, c.out_port), (VM, ETH1));
    assert_eq!((d.in_port, d.out_port), (ETH1, VM));
    let in_port = |k: &FlowKey| k.get(fvs_flow::Field::InPort.loc());
    assert!(
        h.dp.megaflows().any(|(id, k, ..)| id == c.outer_flow
            && in_port(k) == u128::from(BR_PHY.0)
            && k.get(fvs_flow::Field::EthType.loc()) == outer_type),
        "the partner is br-phy's megaflow for the outer frames"
    );
    assert!(
        h.dp.megaflows().any(|(id, k, _, v)| id == d.outer_flow
            && in_port(k) == u128::from(ETH1.0)
            && v.actions == DpActions(vec![DpAction::Output(BR_PHY)])),
        "the partner is the NIC's megaflow"
    );
}

/// Over an IPv6 underlay GRE makes the same chains: the encapsulation's header is the IPv6
/// one the datapath writes (traffic class from tos, flow label 0, hop limit from ttl, next
/// header GRE), the decapsulation is pinned to the IPv6 source and destination; VXLAN over
/// IPv6 makes only the decapsulation chain (the UDP checksum it sends stays with the
/// switch).
#[test]
fn native_ipv6_megaflow_pairs_are_tunnel_chains_but_udp_sends_none() {
    for protocol in [TunnelProtocol::Gre, TunnelProtocol::Vxlan] {
        let mut h = host_v6(protocol);
        receive6(&mut h, VM, |h| &h.vm, &inner());
        let _ = h.eth1.take_sent();
        assert!(
            chains(&h).0.is_empty(),
            "no chain while the neighbour is unknown"
        );
        receive6(&mut h, ETH1, |h| &h.eth1, &neighbor_advert());
        let _ = (h.br_phy.take_sent(), h.dp.take_snooped());
        receive6(&mut h, VM, |h| &h.vm, &inner());
        let sent = h.eth1.take_sent();
        assert_eq!(sent.len(), 1, "{protocol:?} sent natively");
        let outer = sent[0].data.clone();
        let e = Encap::new(protocol, THEIR_MAC, MY_MAC, THERE6, HERE6, Some(1));
        let back = encapsulate(&e, &inner()).expect("encapsulates");
        receive6(&mut h, ETH1, |h| &h.eth1, &back);
        assert_eq!(h.vm.take_sent().len(), 1, "{protocol:?} received natively");

        let (encap, decap) = chains(&h);
        if protocol == TunnelProtocol::Vxlan {
            assert!(
                encap.is_empty(),
                "VXLAN over IPv6 sends a checksum: {encap:?}"
            );
            // Received, it decapsulates by a chain (datagrams without a checksum).
            assert_eq!(decap.len(), 1, "one decapsulation chain: {decap:?}");
            assert_eq!(
                (
                    decap[0].pin.dst,
                    decap[0].pin.udp_dst,
                    decap[0].pin.outer_len()
                ),
                (HERE6.into(), 4789, 14 + 40 + 8 + 8)
            );
            continue;
        }
        assert_eq!(encap.len(), 1, "one encapsulation chain: {encap:?}");
        assert_eq!(decap.len(), 1, "one decapsulation chain: {decap:?}");
        let (c, d) = (&encap[0], &decap[0]);
        assert_partners(&h, c, d, 0x86dd);
        assert_eq!(
            c.header.len(),
            14 + 40 + 8,
            "Ethernet, IPv6, GRE with a key"
        );
        let same =
            |r: std::ops::Range<usize>| assert_eq!(c.header[r.clone()], outer[r.clone()], "{r:?}");
        same(0..18); // Ethernet, IPv6 version, traffic class and flow label
        same(20..62); // next header, hop limit, addresses, GRE flags, protocol and key
        assert_eq!(&c.header[14..18], &[0x6b, 0x80, 0, 0], "traffic class 0xb8");
        assert_eq!((c.header[20], c.header[21]), (47, 17), "GRE, hop limit 17");
        assert_eq!(&c.header[54..62], &[0x20, 0, 0x65, 0x58, 0, 0, 0, 1]);
        assert_eq!(
            (d.pin.src, d.pin.dst, d.pin.key, d.pin.outer_len()),
            (THERE6.into(), HERE6.into(), Some(1), 14 + 40 + 8)
        );
    }
}
