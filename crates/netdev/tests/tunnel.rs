//! The kernel-stack tunnel underlay between two "hosts": network namespaces joined by a veth
//! underlay (10.0.1.31 and 10.0.1.21, no route out). Frames encapsulated with fvs-packet
//! leave through one host's IP stack and arrive, decapsulated, on the other side.
//!
//! - VXLAN interoperates with Linux's own `vxlan` device: an ICMP echo request sent into it
//!   comes back as the kernel's echo reply, encapsulated by Linux.
//! - GRE and Geneve run between two ferrovs underlays (this kernel has no `gretap` or
//!   `geneve` module, so Linux cannot be the far end; `ip link add type gretap` fails with
//!   "Unknown device type"); the wire is checked with tcpdump.
//! - Malformed tunnel packets and jumbo datagrams arriving from the network are dropped and
//!   counted, and good traffic behind them still passes.
//!
//! These tests need root (CI runs as root) and fail, not skip, without it. Each namespace is
//! `fvs-h4t-<pid>-<tag>` and is deleted by a drop guard even when the test fails.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use fvs_netdev::tunnel::{KernelTunnel, UnderlayConfig, route_source};
use fvs_netdev::{Netdev, PacketBatch, netns};
use fvs_packet::checksum;
use fvs_packet::ethernet::MacAddr;
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv4::Ipv4Repr;
use fvs_packet::tunnel::{Encap, TunnelPorts, TunnelProtocol, decapsulate, encapsulate};
use fvs_test_support::netns::{Capture, Netns, exec, require_root, veth};

const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 31);
const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
const VM_A: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const VM_B: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0x77, 1]);
const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0x77, 2]);

/// Two namespaces joined by a veth pair `ul0` (10.0.1.31 in `a`) ↔ `ul0` (10.0.1.21 in `b`).
struct Hosts {
    a: String,
    b: String,
    /// Deleted on drop.
    _namespaces: [Netns; 2],
}

impl Hosts {
    fn new(tag: &str) -> Self {
        require_root();
        let pid = std::process::id();
        let a = Netns::new(&format!("fvs-h4t-{pid}-{tag}a"));
        let b = Netns::new(&format!("fvs-h4t-{pid}-{tag}b"));
        for ns in [&a, &b] {
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        }
        veth(a.name(), "ul0", b.name(), "ul0");
        for (ns, ip) in [(&a, "10.0.1.31/24"), (&b, "10.0.1.21/24")] {
            ns.ip(&["addr", "add", ip, "dev", "ul0"]);
        }
        Self {
            a: a.name().to_owned(),
            b: b.name().to_owned(),
            _namespaces: [a, b],
        }
    }

    fn open(ns: &str, config: UnderlayConfig) -> KernelTunnel {
        let _in_ns = netns::enter(ns).expect("enter namespace");
        KernelTunnel::open(config).expect("open the kernel tunnel underlay")
    }

    /// Underlays on both hosts: A lets the kernel choose its source address; B receives on
    /// its address only.
    fn open_pair(&self, protocol: TunnelProtocol) -> (KernelTunnel, KernelTunnel) {
        let a = Self::open(&self.a, UnderlayConfig::new(protocol));
        let b = Self::open(
            &self.b,
            UnderlayConfig {
                local_ip: HOST_B,
                ..UnderlayConfig::new(protocol)
            },
        );
        (a, b)
    }

    /// Hosts where B is Linux's VXLAN `vx0` (VNI 1 to host A, VM B's addresses on it, VM
    /// A's MAC pinned), and A's VXLAN underlay.
    fn with_linux_vxlan_at_b(tag: &str) -> (Self, KernelTunnel) {
        let hosts = Self::new(tag);

        for args in [
            &[
                "ip",
                "link",
                "add",
                "vx0",
                "type",
                "vxlan",
                "id",
                "1",
                "remote",
                "10.0.1.31",
                "local",
                "10.0.1.21",
                "dstport",
                "4789",
                "dev",
                "ul0",
            ][..],
            &[
                "ip",
                "link",
                "set",
                "vx0",
                "address",
                "02:00:00:00:77:02",
                "up",
            ],
            &["ip", "addr", "add", "192.168.77.2/24", "dev", "vx0"],
            &[
                "ip",
                "neigh",
                "add",
                "192.168.77.1",
                "lladdr",
                "02:00:00:00:77:01",
                "dev",
                "vx0",
            ],
        ] {
            exec(&hosts.b, args);
        }
        let a = Self::open(&hosts.a, UnderlayConfig::new(TunnelProtocol::Vxlan));
        (hosts, a)
    }
}

/// An Ethernet frame with an ICMP echo request (or reply) from `src` to `dst`.
fn icmp_echo(
    (src_mac, src): (MacAddr, Ipv4Addr),
    (dst_mac, dst): (MacAddr, Ipv4Addr),
    request: bool,
    seq: u16,
) -> Vec<u8> {
    let mut icmp = vec![if request { 8 } else { 0 }, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"ferrovs tunnel test payload");
    let c = checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![0u8; 14 + 20];
    f[..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src,
        dst,
        protocol: IpProtocol::Icmp,
        tos: 0,
        ttl: 64,
        ident: seq,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        options: Vec::new(),
        payload_len: icmp.len(),
    }
    .emit(&mut f[14..]);
    f.extend_from_slice(&icmp);
    f
}

/// The encapsulation from `src` to `dst` with key `key` and UDP source port `udp_src` (the
/// outer Ethernet addresses are the underlay's to fill in).
fn encap_to(
    protocol: TunnelProtocol,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    key: u64,
    udp_src: u16,
) -> Encap {
    let mut e = Encap::new(protocol, MacAddr::ZERO, MacAddr::ZERO, src, dst, Some(key));
    e.udp_src = udp_src;
    e
}

/// The outer frame for `inner` from `src` to `dst` with key `key`.
fn encap(
    protocol: TunnelProtocol,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    key: u64,
    inner: &[u8],
) -> Vec<u8> {
    encapsulate(&encap_to(protocol, (src, dst), key, 40000), inner).expect("encapsulate")
}

fn send(dev: &mut dyn Netdev, frames: &[Vec<u8>]) -> usize {
    let mut batch = PacketBatch::new(32, 2048);
    for f in frames {
        batch.push(f).unwrap();
    }
    dev.send_batch(&batch).expect("send_batch")
}

/// Receives until `want` frames arrived or 5 seconds passed.
fn receive(dev: &mut dyn Netdev, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = PacketBatch::new(32, 2048);
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        batch.clear();
        if dev.recv_batch(&mut batch).expect("recv_batch") == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        got.extend(batch.iter().map(|p| p.data().to_vec()));
    }
    got
}

/// Checks that `inner` is VM B's echo reply to VM A's request `seq` (as Linux builds it: the
/// IP identification and flags are the kernel's, so only what the reply must echo is compared).
fn assert_echo_reply(inner: &[u8], seq: u16) {
    assert_eq!(&inner[..6], &MAC_A.0, "Ethernet destination");
    assert_eq!(&inner[6..12], &MAC_B.0, "Ethernet source");
    assert_eq!(&inner[12..14], &[0x08, 0x00], "EtherType");
    assert_eq!(&inner[26..30], &VM_B.octets(), "IP source");
    assert_eq!(&inner[30..34], &VM_A.octets(), "IP destination");
    assert_eq!(inner[23], 1, "IP protocol");
    let request = icmp_echo((MAC_A, VM_A), (MAC_B, VM_B), true, seq);
    assert_eq!(inner[34], 0, "ICMP type echo reply");
    assert_eq!(
        &inner[38..],
        &request[38..],
        "identifier, sequence and data echoed"
    );
}

fn ports(config: UnderlayConfig) -> TunnelPorts {
    match config.protocol {
        TunnelProtocol::Vxlan => TunnelPorts {
            vxlan: config.dst_port,
            geneve: 0,
        },
        _ => TunnelPorts {
            vxlan: 0,
            geneve: config.dst_port,
        },
    }
}

#[test]
fn vxlan_interoperates_with_a_linux_vxlan_device() {
    let (_hosts, mut a) = Hosts::with_linux_vxlan_at_b("vx");
    assert_eq!(a.name(), "vxlan_sys_4789");

    let request = icmp_echo((MAC_A, VM_A), (MAC_B, VM_B), true, 7);
    let outer = encap(TunnelProtocol::Vxlan, HOST_A, HOST_B, 1, &request);
    assert_eq!(send(&mut a, &[outer]), 1);
    let got = receive(&mut a, 1);
    assert_eq!(got.len(), 1, "no reply from Linux's vxlan device");
    let d = decapsulate(&got[0], ports(a.config())).expect("the reply decapsulates");
    let md = &d.metadata;
    assert_eq!((md.protocol, md.tun_id), (TunnelProtocol::Vxlan, 1));
    assert_eq!(
        (md.src, md.dst, md.udp_dst),
        (IpAddr::V4(HOST_B), IpAddr::V4(HOST_A), 4789)
    );
    assert_echo_reply(d.inner, 7);
    let stats = a.stats();
    assert_eq!(
        (stats.tx_packets, stats.rx_packets, stats.rx_errors),
        (1, 1, 0)
    );
}

/// A request from A to B and a reply from B to A between two ferrovs underlays; what B's
/// underlay showed on the wire.
fn round_trip(protocol: TunnelProtocol, filter: &str) -> String {
    let hosts = Hosts::new(&format!("{protocol:?}").to_lowercase()[..2]);
    let (mut a, mut b) = hosts.open_pair(protocol);
    let capture = Capture::start(&hosts.b, "ul0", 2, filter, Duration::from_secs(10));
    let request = icmp_echo((MAC_A, VM_A), (MAC_B, VM_B), true, 1);
    let outer = encap(protocol, Ipv4Addr::UNSPECIFIED, HOST_B, 1, &request);
    assert_eq!(send(&mut a, &[outer]), 1);
    let got = receive(&mut b, 1);
    assert_eq!(got.len(), 1, "nothing arrived at host B");
    let d = decapsulate(&got[0], ports(b.config())).expect("decapsulates at B");
    assert_eq!(d.inner, &request[..]);
    let md = &d.metadata;
    assert_eq!((md.protocol, md.tun_id), (protocol, 1));
    assert_eq!(
        (md.src, md.dst),
        (IpAddr::V4(HOST_A), IpAddr::V4(HOST_B)),
        "the kernel filled in A's address"
    );
    assert_eq!(md.ttl, 64);

    let reply = icmp_echo((MAC_B, VM_B), (MAC_A, VM_A), false, 1);
    assert_eq!(
        send(&mut b, &[encap(protocol, HOST_B, HOST_A, 1, &reply)]),
        1
    );
    let got = receive(&mut a, 1);
    assert_eq!(got.len(), 1, "nothing came back to host A");
    let d = decapsulate(&got[0], ports(a.config())).expect("decapsulates at A");
    assert_eq!(d.inner, &reply[..]);
    assert_eq!(
        (d.metadata.src, d.metadata.dst),
        (IpAddr::V4(HOST_B), IpAddr::V4(HOST_A))
    );
    capture.finish()
}

#[test]
fn gre_carries_ethernet_with_its_key_between_two_hosts() {
    let wire = round_trip(TunnelProtocol::Gre, "ip proto 47");
    // The K flag, protocol 0x6558 (Ethernet), key 1: the GRE header at offset 20 of the
    // packet tcpdump dumps in hex.
    assert_eq!(
        wire.matches("0x0010:  0a00 0115 2000 6558 0000 0001")
            .count()
            + wire
                .matches("0x0010:  0a00 011f 2000 6558 0000 0001")
                .count(),
        2,
        "tcpdump on the underlay:\n{wire}"
    );
    assert!(
        wire.contains("10.0.1.31 > 10.0.1.21: GREv0, Flags [key present], key=0x1"),
        "{wire}"
    );
    assert!(
        wire.contains("10.0.1.21 > 10.0.1.31: GREv0, Flags [key present], key=0x1"),
        "{wire}"
    );
}

#[test]
fn geneve_carries_ethernet_with_its_vni_between_two_hosts() {
    let wire = round_trip(TunnelProtocol::Geneve, "udp port 6081");
    assert_eq!(
        wire.matches("Geneve, Flags [none], vni 0x1").count(),
        2,
        "tcpdump on the underlay:\n{wire}"
    );
    // Protocol 0x6558 (Ethernet) and VNI 1: the end of the 0x0010 line and the start of the
    // 0x0020 line of tcpdump's hex dump.
    assert_eq!(
        wire.matches("0000 6558\n\t0x0020:  0000 0100").count(),
        2,
        "{wire}"
    );
}

#[test]
fn malformed_and_jumbo_packets_from_the_network_are_dropped_and_counted() {
    let hosts = Hosts::new("bad");
    let mut vx = Hosts::open(&hosts.a, UnderlayConfig::new(TunnelProtocol::Vxlan));
    let mut gre = Hosts::open(&hosts.a, UnderlayConfig::new(TunnelProtocol::Gre));
    let mut b_gre = Hosts::open(&hosts.b, UnderlayConfig::new(TunnelProtocol::Gre));
    let udp = {
        let _in_b = netns::enter(&hosts.b).expect("enter namespace");
        UdpSocket::bind("10.0.1.21:0").expect("UDP socket in host B")
    };
    let good = encap(
        TunnelProtocol::Vxlan,
        HOST_B,
        HOST_A,
        5,
        &icmp_echo((MAC_B, VM_B), (MAC_A, VM_A), true, 2),
    );
    let good_payload = &good[14 + 28..];
    let mut no_i_flag = good_payload.to_vec();
    no_i_flag[0] = 0;
    // A runt, a VXLAN header without its I flag, a 9000-byte datagram (fragmented on the
    // veth and reassembled by A's kernel: larger than the 2048-byte buffers), then a good one.
    for datagram in [
        &[0x08, 0, 0][..],
        &no_i_flag,
        &vec![0x08; 9000],
        good_payload,
    ] {
        udp.send_to(datagram, "10.0.1.31:4789").expect("send_to");
    }
    let got = receive(&mut vx, 1);
    assert_eq!(
        got.len(),
        1,
        "the good datagram behind the bad ones arrives"
    );
    let d = decapsulate(&got[0], ports(vx.config())).unwrap();
    assert_eq!(d.metadata.tun_id, 5);
    let drops = vx.drops();
    assert_eq!(
        (drops.malformed, drops.oversized, drops.runts),
        (2, 1, 0),
        "{drops:?}"
    );
    assert_eq!(vx.stats().rx_errors, 3);

    // GRE version 1 (PPTP), and a GRE frame with a 6-byte inner "frame", then a good one.
    let good = encap(
        TunnelProtocol::Gre,
        HOST_B,
        HOST_A,
        9,
        &icmp_echo((MAC_B, VM_B), (MAC_A, VM_A), true, 3),
    );
    let mut v1 = good.clone();
    v1[14 + 20 + 1] |= 1;
    let runt = encap(TunnelProtocol::Gre, HOST_B, HOST_A, 9, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(send(&mut b_gre, &[v1, runt, good.clone()]), 3);
    let got = receive(&mut gre, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0][14..],
        good[14..],
        "the good frame arrives as it was sent"
    );
    let drops = gre.drops();
    assert_eq!((drops.malformed, drops.runts), (1, 1), "{drops:?}");
}

#[test]
fn the_route_gives_the_local_address() {
    let hosts = Hosts::new("rt");
    let _in_a = netns::enter(&hosts.a).expect("enter namespace");
    assert_eq!(route_source(HOST_B).expect("route to host B"), HOST_A);
    let err = route_source(Ipv4Addr::new(192, 0, 2, 1)).expect_err("no route out");
    assert!(err.to_string().contains("route to 192.0.2.1"), "{err}");
}

/// Frames still carrying offload work: a pending inner checksum is finished before the
/// outer packet leaves (the far end sees a valid UDP checksum); a GSO super-frame, which a
/// raw socket cannot segment, is dropped and counted.
#[test]
fn a_pending_inner_checksum_is_finished_and_gso_frames_are_dropped() {
    use fvs_netdev::{GsoType, VnetFlags, VnetHdr};
    let hosts = Hosts::new("ck");
    let mut a = Hosts::open(&hosts.a, UnderlayConfig::new(TunnelProtocol::Gre));
    let mut b = Hosts::open(&hosts.b, UnderlayConfig::new(TunnelProtocol::Gre));
    // Inner: Ethernet, IPv4 VM A → VM B, UDP 1000 → 2000 with the pseudo-header sum in its
    // checksum field, as a sender with checksum offload leaves it.
    let payload = b"checksum me, please";
    let udp_len = 8 + payload.len();
    let mut inner = vec![0u8; 14 + 20];
    inner[..6].copy_from_slice(&MAC_B.0);
    inner[6..12].copy_from_slice(&MAC_A.0);
    inner[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src: VM_A,
        dst: VM_B,
        protocol: IpProtocol::Udp,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Vec::new(),
        payload_len: udp_len,
    }
    .emit(&mut inner[14..]);
    let pseudo = checksum::pseudo_header_v4(VM_A, VM_B, 17, udp_len as u16).fold();
    inner.extend_from_slice(&1000u16.to_be_bytes());
    inner.extend_from_slice(&2000u16.to_be_bytes());
    inner.extend_from_slice(&(udp_len as u16).to_be_bytes());
    inner.extend_from_slice(&pseudo.to_be_bytes());
    inner.extend_from_slice(payload);
    let outer = encap(TunnelProtocol::Gre, HOST_A, HOST_B, 1, &inner);
    let udp_at = outer.len() - udp_len;
    let mut batch = PacketBatch::new(4, 2048);
    batch
        .push_with_vnet(
            &outer,
            VnetHdr {
                flags: VnetFlags::NEEDS_CSUM,
                csum_start: udp_at as u16,
                csum_offset: 6,
                ..VnetHdr::NONE
            },
        )
        .unwrap();
    batch
        .push_with_vnet(
            &outer,
            VnetHdr {
                gso_type: GsoType::TCPV4,
                gso_size: 1400,
                ..VnetHdr::NONE
            },
        )
        .unwrap();
    assert_eq!(a.send_batch(&batch).expect("send_batch"), 1);
    assert_eq!((a.stats().tx_packets, a.stats().tx_dropped), (1, 1));

    let got = receive(&mut b, 1);
    assert_eq!(got.len(), 1);
    let d = decapsulate(&got[0], TunnelPorts::default()).expect("decapsulates");
    let udp = &d.inner[14 + 20..];
    assert_eq!(udp.len(), udp_len);
    assert_ne!(
        &udp[6..8],
        &pseudo.to_be_bytes(),
        "the checksum was filled in"
    );
    let sum = checksum::pseudo_header_v4(VM_A, VM_B, 17, udp_len as u16).add_bytes(udp);
    assert_eq!(sum.fold(), 0xffff, "the inner UDP checksum verifies");
}

/// `count` inner frames of `len` bytes (the last `last_len`), each numbered in its payload.
fn numbered_frames(count: usize, len: usize, last_len: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let n = if i + 1 == count { last_len } else { len };
            let mut f = vec![0u8; n];
            f[..6].copy_from_slice(&MAC_B.0);
            f[6..12].copy_from_slice(&MAC_A.0);
            f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
            for (j, b) in f[14..].iter_mut().enumerate() {
                *b = (i * 7 + j) as u8;
            }
            f
        })
        .collect()
}

/// A run of outer frames to one remote with one source port (what a TCP stream through a
/// VXLAN or Geneve vport queues) leaves host A as one `UDP_SEGMENT` send and reaches host B,
/// whose socket has `UDP_GRO`, as one coalesced buffer that the underlay splits back into
/// the outer packets, in order, each with the sender's TOS and TTL; the short last frame
/// included.
fn a_run_goes_as_one_send_and_arrives_split(protocol: TunnelProtocol) {
    let hosts = Hosts::new(&format!("{protocol:?}").to_lowercase()[..1]);
    let (mut a, mut b) = hosts.open_pair(protocol);
    let inner = numbered_frames(20, 1400, 333);
    let outer: Vec<Vec<u8>> = inner
        .iter()
        .map(|f| {
            let mut e = encap_to(protocol, (HOST_A, HOST_B), 5, 40001);
            e.tos = 0x20;
            e.ttl = 17;
            encapsulate(&e, f).expect("encapsulate")
        })
        .collect();
    assert_eq!(send(&mut a, &outer), 20);
    let sent = a.udp_offload_stats();
    assert_eq!((sent.gso_sends, sent.gso_segments), (1, 20), "{sent:?}");
    assert_eq!(a.stats().tx_packets, 20);

    let got = receive(&mut b, 20);
    assert_eq!(got.len(), 20, "host B received {} of 20", got.len());
    for (i, (frame, want)) in got.iter().zip(&inner).enumerate() {
        let d = decapsulate(frame, ports(b.config())).expect("decapsulates at B");
        assert_eq!(d.inner, &want[..], "frame {i} arrived intact and in order");
        let md = &d.metadata;
        assert_eq!(
            (md.tun_id, md.src, md.dst),
            (5, IpAddr::V4(HOST_A), IpAddr::V4(HOST_B))
        );
        assert_eq!((md.udp_src, md.tos, md.ttl), (40001, 0x20, 17));
    }
    let rx = b.udp_offload_stats();
    assert_eq!(rx.gro_segments, 20, "{rx:?}");
    assert!(rx.gro_buffers >= 1, "{rx:?}");
    assert_eq!(b.stats().rx_errors, 0);

    // Two flows (source ports) interleaved in one batch: one run each, each flow in order.
    let interleaved: Vec<(u16, Vec<u8>)> = numbered_frames(10, 900, 900)
        .into_iter()
        .enumerate()
        .map(|(i, f)| (40010 + (i % 2) as u16, f))
        .collect();
    let outer2: Vec<Vec<u8>> = interleaved
        .iter()
        .map(|(port, f)| {
            encapsulate(&encap_to(protocol, (HOST_A, HOST_B), 5, *port), f).expect("encapsulate")
        })
        .collect();
    assert_eq!(send(&mut a, &outer2), 10);
    assert_eq!(a.udp_offload_stats().gso_sends, 3, "one run per flow");
    let got = receive(&mut b, 10);
    assert_eq!(got.len(), 10);
    for port in [40010, 40011] {
        let sent: Vec<&Vec<u8>> = interleaved
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, f)| f)
            .collect();
        let arrived: Vec<Vec<u8>> = got
            .iter()
            .map(|f| decapsulate(f, ports(b.config())).expect("decapsulates"))
            .filter(|d| d.metadata.udp_src == port)
            .map(|d| d.inner.to_vec())
            .collect();
        assert_eq!(arrived.len(), 5);
        assert!(
            arrived.iter().zip(&sent).all(|(x, y)| x == *y),
            "flow {port} arrived in order"
        );
    }

    // With UDP_SEGMENT off, the same frames go one raw send each and arrive alike.
    a.set_udp_gso(false);
    assert_eq!(send(&mut a, &outer), 20);
    assert_eq!(a.udp_offload_stats().gso_sends, 3);
    let got = receive(&mut b, 20);
    assert_eq!(got.len(), 20);
    assert_eq!(b.udp_offload_stats().gro_segments, 30, "nothing coalesced");
}

#[test]
fn a_vxlan_run_goes_as_one_send_and_arrives_split() {
    a_run_goes_as_one_send_and_arrives_split(TunnelProtocol::Vxlan);
}

#[test]
fn a_geneve_run_goes_as_one_send_and_arrives_split() {
    a_run_goes_as_one_send_and_arrives_split(TunnelProtocol::Geneve);
}

/// Linux's own VXLAN device receives a `UDP_SEGMENT` run as separate packets: eight echo
/// requests sent as one run get eight replies.
#[test]
fn linux_vxlan_answers_every_request_of_a_run() {
    let (_hosts, mut a) = Hosts::with_linux_vxlan_at_b("vr");
    let outer: Vec<Vec<u8>> = (1..=8)
        .map(|seq| {
            let request = icmp_echo((MAC_A, VM_A), (MAC_B, VM_B), true, seq);
            encap(TunnelProtocol::Vxlan, HOST_A, HOST_B, 1, &request)
        })
        .collect();
    assert_eq!(send(&mut a, &outer), 8);
    assert_eq!(a.udp_offload_stats().gso_sends, 1);
    let got = receive(&mut a, 8);
    assert_eq!(got.len(), 8, "Linux answered {} of 8 requests", got.len());
    let mut seqs: Vec<u16> = got
        .iter()
        .map(|f| {
            let d = decapsulate(f, ports(a.config())).expect("the reply decapsulates");
            let icmp = &d.inner[14 + 20..];
            u16::from_be_bytes([icmp[6], icmp[7]])
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<u16>>());
}

/// A run's outer IPv4 header carries the frames' DF bit, TOS and TTL, however they change
/// from run to run on one source (tcpdump on host B's end of the veth, which receives each
/// run whole: one frame per run).
#[test]
fn df_tos_and_ttl_of_a_run_reach_the_wire() {
    let hosts = Hosts::new("df");
    let mut a = Hosts::open(&hosts.a, UnderlayConfig::new(TunnelProtocol::Vxlan));
    let _b = Hosts::open(&hosts.b, UnderlayConfig::new(TunnelProtocol::Vxlan));
    let run = |df: bool, tos: u8, ttl: u8| -> Vec<Vec<u8>> {
        numbered_frames(3, 200, 200)
            .iter()
            .map(|f| {
                let mut e = encap_to(TunnelProtocol::Vxlan, (HOST_A, HOST_B), 1, 40020);
                e.dont_frag = df;
                e.tos = tos;
                e.ttl = ttl;
                encapsulate(&e, f).expect("encapsulate")
            })
            .collect()
    };
    let capture = Capture::start(&hosts.b, "ul0", 2, "udp port 4789", Duration::from_secs(10));
    assert_eq!(send(&mut a, &run(false, 0x20, 17)), 3);
    assert_eq!(send(&mut a, &run(true, 0x03, 99)), 3);
    assert_eq!(a.udp_offload_stats().gso_sends, 2);
    let wire = capture.finish();
    assert!(
        wire.contains("tos 0x20, ttl 17,") && wire.contains("offset 0, flags [none], proto UDP"),
        "the first run without DF:\n{wire}"
    );
    assert!(
        wire.contains("tos 0x3,CE, ttl 99,") && wire.contains("offset 0, flags [DF], proto UDP"),
        "the second run with DF and a congestion mark:\n{wire}"
    );
}
