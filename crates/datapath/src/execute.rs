//! Header rewrites on a packet in place: VLAN push and pop, Ethernet, IPv4 and L4 fields with
//! incremental checksum updates (RFC 1624), and tunnel encapsulation into the headroom.
//!
//! Nothing here allocates or panics: a rewrite that does not fit the packet (a frame too
//! short for the header it names, a non-IPv4 packet under `set(ipv4(...))`) leaves the packet
//! unchanged and returns `false`, which the caller counts. Translation only emits a rewrite
//! when the flow key proves the header is there, so this happens only for a frame that
//! changed since it was keyed, which is a datapath bug.

use crate::port::{TunnelKeyMode, TunnelVport};
use fvs_netdev::{Packet, VnetFlags};
use fvs_packet::ethernet::{self, EtherType, EthernetRepr};
use fvs_packet::geneve::GeneveRepr;
use fvs_packet::gre::GreRepr;
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv4::{self, Ipv4Repr};
use fvs_packet::ipv6::{self, Ipv6Repr};
use fvs_packet::tunnel::TunnelProtocol;
use fvs_packet::udp::{self, UdpRepr};
use fvs_packet::vxlan::{self, Vni, VxlanRepr};
use fvs_pipeline::dpif::{Mac, TunnelKey};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;
const ETH_TYPE_IPV4: u16 = 0x0800;
const VLAN_HEADER_LEN: usize = 4;
const MACS_LEN: usize = 12;
const IP_PROTO_TCP: u8 = 6;
const IP_PROTO_UDP: u8 = 17;
/// TCP checksum offset within the TCP header.
const TCP_CSUM: usize = 16;
/// UDP checksum offset within the UDP header.
const UDP_CSUM: usize = 6;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// RFC 1624 eqn. 3: the checksum `csum` after a 16-bit word of the covered data changes from
/// `old` to `new`.
fn csum_replace16(csum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!csum) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

fn csum_replace32(csum: u16, old: u32, new: u32) -> u16 {
    let c = csum_replace16(csum, (old >> 16) as u16, (new >> 16) as u16);
    csum_replace16(c, old as u16, new as u16)
}

/// Offset of the L3 header and the EtherType after any VLAN tags.
fn l3(frame: &[u8]) -> Option<(usize, u16)> {
    let mut at = MACS_LEN;
    let mut ty = be16(frame, at)?;
    while ty == TPID_8021Q || ty == TPID_8021AD {
        at += VLAN_HEADER_LEN;
        ty = be16(frame, at)?;
    }
    Some((at + 2, ty))
}

/// Pushes an 802.1Q tag with this VLAN id and priority.
pub(crate) fn push_vlan(p: &mut Packet, vid: u16, pcp: u8) -> bool {
    let tci = (u16::from(pcp & 7) << 13) | (vid & 0x0fff);
    p.push_vlan(TPID_8021Q, tci)
}

/// Removes the outermost VLAN tag, if there is one.
pub(crate) fn pop_vlan(p: &mut Packet) -> bool {
    let d = p.data_mut();
    match be16(d, MACS_LEN) {
        Some(TPID_8021Q | TPID_8021AD) if d.len() >= MACS_LEN + VLAN_HEADER_LEN + 2 => {}
        _ => return false,
    }
    d.copy_within(0..MACS_LEN, VLAN_HEADER_LEN);
    // Offload offsets count from the frame's start, which moves 4 bytes on.
    let mut v = p.vnet();
    if v.flags.contains(VnetFlags::NEEDS_CSUM) {
        v.csum_start = v.csum_start.saturating_sub(VLAN_HEADER_LEN as u16);
    }
    if v.hdr_len != 0 {
        v.hdr_len = v.hdr_len.saturating_sub(VLAN_HEADER_LEN as u16);
    }
    p.set_vnet(v);
    p.pull(VLAN_HEADER_LEN)
}

/// Rewrites the Ethernet addresses given.
pub(crate) fn set_eth(frame: &mut [u8], src: Option<Mac>, dst: Option<Mac>) -> bool {
    if frame.len() < MACS_LEN {
        return false;
    }
    if let Some(d) = dst {
        frame[0..6].copy_from_slice(&d.0);
    }
    if let Some(s) = src {
        frame[6..12].copy_from_slice(&s.0);
    }
    true
}

/// Where an IPv4 packet's headers are: (IP header offset, IP header length, L4 protocol,
/// L4 offset if this is a first or only fragment).
fn ipv4_layout(frame: &[u8]) -> Option<(usize, usize, u8, Option<usize>)> {
    let (at, ty) = l3(frame)?;
    if ty != ETH_TYPE_IPV4 {
        return None;
    }
    let vihl = *frame.get(at)?;
    let hl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || hl < ipv4::MIN_HEADER_LEN || frame.len() < at + hl {
        return None;
    }
    let frag_off = be16(frame, at + 6)? & 0x1fff;
    let proto = frame[at + 9];
    Some((at, hl, proto, (frag_off == 0).then_some(at + hl)))
}

/// The L4 checksum offset for TCP, or for UDP when the checksum is in use.
fn l4_csum_at(frame: &[u8], proto: u8, l4: usize) -> Option<usize> {
    match proto {
        IP_PROTO_TCP if frame.len() >= l4 + 20 => Some(l4 + TCP_CSUM),
        IP_PROTO_UDP if frame.len() >= l4 + 8 && be16(frame, l4 + UDP_CSUM) != Some(0) => {
            Some(l4 + UDP_CSUM)
        }
        _ => None,
    }
}

fn fix_udp_zero(frame: &mut [u8], proto: u8, at: usize) {
    // In UDP a computed zero is sent as all ones: zero means "no checksum".
    if proto == IP_PROTO_UDP && be16(frame, at) == Some(0) {
        put16(frame, at, 0xffff);
    }
}

/// Rewrites IPv4 fields, keeping the IP header and the TCP/UDP pseudo-header checksums right.
pub(crate) fn set_ipv4(
    frame: &mut [u8],
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    tos: Option<(u8, u8)>,
    ttl: Option<u8>,
) -> bool {
    let Some((at, _hl, proto, l4)) = ipv4_layout(frame) else {
        return false;
    };
    let l4_csum = l4.and_then(|l4| l4_csum_at(frame, proto, l4));
    for (new, off) in [(src, 12), (dst, 16)] {
        let Some(new) = new else { continue };
        let old = u32::from_be_bytes([
            frame[at + off],
            frame[at + off + 1],
            frame[at + off + 2],
            frame[at + off + 3],
        ]);
        let new = new.to_bits();
        frame[at + off..at + off + 4].copy_from_slice(&new.to_be_bytes());
        let c = be16(frame, at + 10).unwrap_or(0);
        put16(frame, at + 10, csum_replace32(c, old, new));
        if let Some(cs) = l4_csum {
            let c = be16(frame, cs).unwrap_or(0);
            put16(frame, cs, csum_replace32(c, old, new));
            fix_udp_zero(frame, proto, cs);
        }
    }
    if tos.is_some() || ttl.is_some() {
        // TOS shares a word with the version/IHL byte, TTL with the protocol.
        let old_w0 = be16(frame, at).unwrap_or(0);
        let old_w4 = be16(frame, at + 8).unwrap_or(0);
        if let Some((v, m)) = tos {
            frame[at + 1] = (frame[at + 1] & !m) | (v & m);
        }
        if let Some(t) = ttl {
            frame[at + 8] = t;
        }
        let mut c = be16(frame, at + 10).unwrap_or(0);
        c = csum_replace16(c, old_w0, be16(frame, at).unwrap_or(0));
        c = csum_replace16(c, old_w4, be16(frame, at + 8).unwrap_or(0));
        put16(frame, at + 10, c);
    }
    true
}

/// ECN "Congestion Experienced", and the two ECN bits of a TOS / traffic class byte.
const ECN_CE: u8 = 0x03;
const ECN_MASK: u8 = 0x03;
const ETH_TYPE_IPV6: u16 = 0x86dd;

/// What decapsulation does with the outer header's ECN bits (RFC 6040's normal mode, as
/// Open vSwitch and Linux's tunnels do): a Congestion Experienced mark outside is copied
/// into an ECN-capable inner IP header (IPv4 checksum kept right); an inner packet that is
/// not ECN-capable cannot carry the mark, so the packet is dropped (`false`). Anything else
/// (no mark, not IP inside) passes unchanged.
pub(crate) fn decap_ecn(frame: &mut [u8], outer_tos: u8) -> bool {
    if outer_tos & ECN_MASK != ECN_CE {
        return true;
    }
    let Some((at, ty)) = l3(frame) else {
        return true;
    };
    let inner = match ty {
        ETH_TYPE_IPV4 => frame.get(at + 1).map(|tos| tos & ECN_MASK),
        // The traffic class straddles the first two bytes: its ECN bits are bits 4-5 of
        // the second.
        ETH_TYPE_IPV6 => frame.get(at + 1).map(|b| (b >> 4) & ECN_MASK),
        _ => None,
    };
    match (ty, inner) {
        (_, None) => true,
        (_, Some(0)) => false,
        (ETH_TYPE_IPV4, Some(_)) => set_ipv4(frame, None, None, Some((ECN_CE, ECN_MASK)), None),
        (_, Some(_)) => {
            frame[at + 1] |= ECN_CE << 4;
            true
        }
    }
}

/// Rewrites TCP, UDP or SCTP ports, keeping the TCP/UDP checksum right. (SCTP's CRC32c
/// is not incremental; rewriting SCTP ports is refused until it is recomputed.)
pub(crate) fn set_l4_ports(frame: &mut [u8], src: Option<u16>, dst: Option<u16>) -> bool {
    let Some((_, _, proto, Some(l4))) = ipv4_layout(frame) else {
        return false;
    };
    if !matches!(proto, IP_PROTO_TCP | IP_PROTO_UDP) || frame.len() < l4 + 4 {
        return false;
    }
    let cs = l4_csum_at(frame, proto, l4);
    for (new, off) in [(src, 0), (dst, 2)] {
        let Some(new) = new else { continue };
        let old = be16(frame, l4 + off).unwrap_or(0);
        put16(frame, l4 + off, new);
        if let Some(cs) = cs {
            let c = be16(frame, cs).unwrap_or(0);
            put16(frame, cs, csum_replace16(c, old, new));
            fix_udp_zero(frame, proto, cs);
        }
    }
    true
}

/// The outer headers' parameters for one packet: the vport's configuration, overridden by
/// the flow's `set(tunnel(...))` where it gave one.
pub(crate) fn encap_params(v: &TunnelVport, set: Option<&TunnelKey>) -> OuterParams {
    let key = match (v.out_key, set) {
        (TunnelKeyMode::None, _) => None,
        (TunnelKeyMode::Fixed(k), _) => Some(k),
        // `flags(key)` clear: no key field (GRE without K; VNI 0 for VXLAN and Geneve).
        (TunnelKeyMode::Flow, Some(t)) => t.key.then_some(t.tun_id),
        (TunnelKeyMode::Flow, None) => Some(0),
    };
    let unspecified = |a: IpAddr, d: IpAddr| if a.is_unspecified() { d } else { a };
    let dst = set.map_or(v.remote_ip, |t| unspecified(t.dst, v.remote_ip));
    let src = set.map_or(v.local_ip, |t| unspecified(t.src, v.local_ip));
    // The destination picks the family; a source of the other family is no source (the
    // route's, or the native hop's, fills it in).
    let src = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (IpAddr::V6(_), IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => src,
    };
    OuterParams {
        src,
        dst,
        ttl: set.map_or(v.ttl, |t| if t.ttl == 0 { v.ttl } else { t.ttl }),
        // A shared vport (TOS 0) takes each port's TOS from the flow's `set(tunnel(...))`.
        tos: set.map_or(v.tos, |t| if t.tos == 0 { v.tos } else { t.tos }),
        df: set.map_or(v.df_default, |t| t.df),
        csum: set.map_or(v.csum, |t| t.csum),
        key,
    }
}

/// Outer addresses, TTL, TOS, DF and key of one encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OuterParams {
    /// The outer source, of the destination's family (unspecified: to be filled in).
    pub(crate) src: IpAddr,
    /// The outer destination: what decides whether a native tunnel carries the packet, and
    /// whether the outer header is IPv4 or IPv6.
    pub(crate) dst: IpAddr,
    ttl: u8,
    tos: u8,
    df: bool,
    /// A tunnel checksum (GRE's C flag, a UDP checksum over IPv4).
    pub(crate) csum: bool,
    key: Option<u64>,
}

/// Encapsulates the packet in place: the outer headers go into the headroom, so the inner
/// frame is not copied. `entropy` seeds the VXLAN/Geneve UDP source port (a hash of the
/// inner flow, so one flow keeps one path through ECMP underlays).
pub(crate) fn encapsulate(p: &mut Packet, v: &TunnelVport, o: OuterParams, entropy: u32) -> bool {
    let inner_len = p.len();
    let tunnel_len = match v.protocol {
        TunnelProtocol::Gre => gre_repr(o.key, o.csum).buffer_len(),
        TunnelProtocol::Vxlan => udp::HEADER_LEN + vxlan::HEADER_LEN,
        TunnelProtocol::Geneve => udp::HEADER_LEN + fvs_packet::geneve::MIN_HEADER_LEN,
    };
    let ip_payload = tunnel_len + inner_len;
    let ip_len = match o.dst {
        IpAddr::V4(_) => ipv4::MIN_HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    };
    let total = ethernet::HEADER_LEN + ip_len + ip_payload;
    // IPv4's total length counts its header, IPv6's payload length does not.
    let length_field = if o.dst.is_ipv6() {
        ip_payload
    } else {
        ip_len + ip_payload
    };
    if length_field > usize::from(u16::MAX) {
        return false;
    }
    // Offloads still pending on the inner frame move with it.
    let mut vnet = p.vnet();
    let outer = (total - inner_len) as u16;
    if vnet.flags.contains(VnetFlags::NEEDS_CSUM) {
        vnet.csum_start = vnet.csum_start.saturating_add(outer);
    }
    if vnet.hdr_len != 0 {
        vnet.hdr_len = vnet.hdr_len.saturating_add(outer);
    }
    let Some(h) = p.prepend(total - inner_len) else {
        return false;
    };
    let protocol = match v.protocol {
        TunnelProtocol::Gre => IpProtocol::Gre,
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => IpProtocol::Udp,
    };
    let ip_at = ethernet::HEADER_LEN;
    let l4_at = ip_at + ip_len;
    match (o.src, o.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            EthernetRepr {
                dst: v.eth_dst,
                src: v.eth_src,
                ethertype: EtherType::Ipv4,
            }
            .emit(h);
            Ipv4Repr {
                src,
                dst,
                protocol,
                tos: o.tos,
                ttl: o.ttl,
                ident: 0,
                dont_frag: o.df,
                more_frags: false,
                frag_offset: 0,
                options: Vec::new(),
                payload_len: ip_payload,
            }
            .emit(&mut h[ip_at..]);
        }
        (src, dst) => {
            EthernetRepr {
                dst: v.eth_dst,
                src: v.eth_src,
                ethertype: EtherType::Ipv6,
            }
            .emit(h);
            // IPv6 has no DF (it never fragments on the way); the flow label stays 0, as Open
            // vSwitch 3.1's userspace tunnels send it.
            Ipv6Repr {
                src: v6_of(src),
                dst: v6_of(dst),
                next_header: protocol,
                payload_len: ip_payload,
                hop_limit: o.ttl,
                traffic_class: o.tos,
                flow_label: 0,
            }
            .emit(&mut h[ip_at..]);
        }
    }
    let vni = Vni::truncating(o.key.unwrap_or(0));
    match v.protocol {
        TunnelProtocol::Gre => gre_repr(o.key, o.csum).emit(&mut h[l4_at..]),
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => {
            UdpRepr {
                // The ephemeral range Linux uses for tunnel source ports.
                src_port: 32768 + (entropy % 28233) as u16,
                dst_port: v.dst_port,
                payload_len: ip_payload - udp::HEADER_LEN,
            }
            .emit(&mut h[l4_at..]);
            let at = l4_at + udp::HEADER_LEN;
            if v.protocol == TunnelProtocol::Vxlan {
                VxlanRepr { vni }.emit(&mut h[at..]);
            } else {
                GeneveRepr {
                    oam: false,
                    critical: false,
                    protocol: EtherType::TransparentEthernetBridging,
                    vni,
                    options: Vec::new(),
                }
                .emit(&mut h[at..]);
            }
        }
    }
    // Over IPv6, UDP tunnels always carry a checksum: Open vSwitch 3.1 computes it with
    // `csum` unset and with `csum=false` alike (seen on its wire), and Linux's own IPv6
    // tunnels drop zero-checksum UDP unless told otherwise. GRE follows `csum`.
    let udp_over_v6 = o.dst.is_ipv6() && v.protocol != TunnelProtocol::Gre;
    if o.csum || udp_over_v6 {
        // The inner frame is complete here (pending offloads are finished in software
        // before a tunnel), so the checksum covers its final bytes.
        fill_outer_checksum(&mut p.data_mut()[l4_at..], v.protocol, o.src, o.dst);
    }
    p.set_vnet(vnet);
    true
}

/// An address as IPv6 (the two ends are of one family once [`encap_params`] has run; a
/// stray IPv4 one is mapped rather than trusted to panic-free indexing).
fn v6_of(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Fills the tunnel header's checksum over `l4` (the GRE or UDP header and everything after
/// it). A source of 0.0.0.0 (no `local_ip`) is left for the underlay to fill in, which
/// then adjusts the UDP checksum (GRE's does not cover the IP header).
fn fill_outer_checksum(l4: &mut [u8], protocol: TunnelProtocol, src: IpAddr, dst: IpAddr) {
    match protocol {
        TunnelProtocol::Gre => {
            // The checksum field follows the flags and protocol words.
            let at = fvs_packet::gre::MIN_HEADER_LEN;
            put16(l4, at, 0);
            let c = fvs_packet::checksum::checksum(l4);
            put16(l4, at, c);
        }
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => {
            if let Ok(mut u) = udp::UdpView::new_checked(l4) {
                match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => u.fill_checksum_v4(s, d),
                    (s, d) => u.fill_checksum_v6(v6_of(s), v6_of(d)),
                }
            }
        }
    }
}

fn gre_repr(key: Option<u64>, csum: bool) -> GreRepr {
    GreRepr {
        protocol: EtherType::TransparentEthernetBridging,
        checksum: csum,
        // GRE keys are 32 bits; `tun_id` values above that cannot be sent.
        key: key.map(|k| k as u32),
        seq: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_packet::checksum;

    /// An Ethernet/IPv4/UDP frame with correct checksums, built with fvs-packet's reprs.
    fn udp_frame(tagged: bool) -> Vec<u8> {
        let payload = b"hello, tunnel";
        let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
        EthernetRepr {
            dst: fvs_packet::MacAddr([2, 0, 0, 0, 0, 2]),
            src: fvs_packet::MacAddr([2, 0, 0, 0, 0, 1]),
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut f);
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        Ipv4Repr {
            src,
            dst,
            protocol: IpProtocol::Udp,
            tos: 0,
            ttl: 64,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Vec::new(),
            payload_len: 8 + payload.len(),
        }
        .emit(&mut f[14..]);
        UdpRepr {
            src_port: 1000,
            dst_port: 53,
            payload_len: payload.len(),
        }
        .emit(&mut f[34..]);
        f[42..].copy_from_slice(payload);
        if let Ok(mut u) = fvs_packet::udp::UdpView::new_checked(&mut f[34..]) {
            u.fill_checksum_v4(src, dst);
        }
        if tagged {
            f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        }
        f
    }

    /// Checks both checksums of an untagged Ethernet/IPv4/UDP frame from scratch.
    fn checksums_ok(f: &[u8]) -> bool {
        let ip = &f[14..34];
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let l4 = &f[34..];
        let sum = checksum::pseudo_header_v4(src, dst, 17, l4.len() as u16).add_bytes(l4);
        checksum::verifies(ip) && sum.checksum() == 0
    }

    #[test]
    fn rewrites_keep_checksums_valid() {
        let mut f = udp_frame(false);
        assert!(checksums_ok(&f));
        assert!(set_ipv4(
            &mut f,
            Some(Ipv4Addr::new(192, 168, 7, 9)),
            Some(Ipv4Addr::new(172, 16, 0, 1)),
            Some((0xb8, 0xfc)),
            Some(3),
        ));
        assert!(set_l4_ports(&mut f, Some(4242), Some(8080)));
        assert_eq!(&f[26..30], &[192, 168, 7, 9]);
        assert_eq!(f[15], 0xb8);
        assert_eq!(f[22], 3);
        assert_eq!(be16(&f, 36), Some(8080));
        assert!(
            checksums_ok(&f),
            "incremental updates must match a full recomputation"
        );
    }

    #[test]
    fn vlan_push_and_pop_round_trip() {
        let f = udp_frame(false);
        let mut p = Packet::new(256);
        assert!(p.set_frame(&f).is_ok());
        assert!(!pop_vlan(&mut p), "an untagged frame has nothing to pop");
        assert!(push_vlan(&mut p, 5, 3));
        assert_eq!(
            p.data(),
            udp_frame(true)
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 14 { 0x60 } else { *b })
                .collect::<Vec<_>>()
                .as_slice()
        );
        assert!(pop_vlan(&mut p));
        assert_eq!(p.data(), f.as_slice());
    }

    #[test]
    fn congestion_experienced_outside_marks_or_drops_inside() {
        // ECT(0) inside: marked CE, checksum still right.
        let mut f = udp_frame(false);
        f[15] = 0x02;
        f[24..26].fill(0);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        assert!(decap_ecn(&mut f, 0x03));
        assert_eq!(f[15], 0x03);
        assert!(checksums_ok(&f));
        // Not ECN-capable inside: dropped. No CE outside: untouched.
        let mut f = udp_frame(false);
        assert!(!decap_ecn(&mut f, 0x03));
        let before = f.clone();
        assert!(decap_ecn(&mut f, 0x02));
        assert_eq!(f, before);
        // Not IP inside: passes.
        let mut arp = udp_frame(false);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(decap_ecn(&mut arp, 0x03));
    }

    #[test]
    fn ipv4_rewrite_under_a_vlan_tag_finds_the_header() {
        let mut f = udp_frame(true);
        assert!(set_ipv4(&mut f, None, None, None, Some(9)));
        assert_eq!(f[26], 9);
        assert!(
            !set_ipv4(&mut f[..20], None, None, None, Some(9)),
            "truncated frame"
        );
    }
}
