//! Flow extraction: the [`FlowKey`] of a received frame, as Open vSwitch's datapath computes
//! it.
//!
//! [`extract`] reads the frame layer by layer with `fvs-packet`'s views and fills every key
//! field the frame carries, plus `in_port` and the tunnel fields given by the caller. The
//! rules are Open vSwitch's (checked against it by the oracle test in `tests/extract_oracle.rs`):
//!
//! - **VLAN.** One tag (TPID 0x8100 or 0x88a8) is read, as Open vSwitch does with its default
//!   `vlan-limit` of 1: its TCI, with the 0x1000 "present" bit forced on, is `vlan_tci`, and
//!   `eth_type` is the EtherType after it — 0x8100 for a double-tagged frame.
//! - **802.3.** A length (< 0x0600) instead of an EtherType gives `eth_type` 0x05ff, unless an
//!   LLC/SNAP header with OUI 0 follows, whose EtherType (if ≥ 0x0600) is used instead.
//! - **MPLS.** `mpls_lse` is the top label stack entry; nothing after the stack is read.
//! - **ARP/RARP.** Only Ethernet/IPv4 ARP fills the ARP fields; `arp_op` holds the low 8 bits
//!   of the opcode, or 0 if the opcode does not fit in 8 bits.
//! - **IPv4.** `ip_frag` has bit 0 ("yes") for any fragment (MF set or offset ≠ 0) and bit 1
//!   ("later") for a non-zero offset. Later fragments have no L4 fields.
//! - **IPv6.** Extension headers are skipped; a fragment header counts only if its offset or
//!   flags are non-zero; for a later fragment `ip_proto` is 44 (the fragment header), as in
//!   Open vSwitch. `ipv6_label` is the flow label and `nw_tos` the traffic class.
//! - **L4.** TCP (ports and the 12 flag bits; only with a sane data offset), UDP, SCTP
//!   ports; ICMPv4, IGMP and ICMPv6 type and code in `tp_src`/`tp_dst`; for a neighbor
//!   solicitation or advertisement (code 0), `nd_target`, `nd_sll` and `nd_tll`, the 32 bits
//!   after the checksum as `nd_reserved` (an advertisement's flags) and the type of the first
//!   option as `nd_options_type`.
//!
//! # Truncated and malformed frames
//!
//! Extraction never panics and never fails: a layer that is truncated or malformed stops
//! extraction, and the fields of that layer and every later one stay zero. Exactly:
//!
//! - Shorter than 14 bytes: only `in_port` and the tunnel fields.
//! - A VLAN tag without its TCI and next EtherType: `eth_type` is the tag's TPID and
//!   `vlan_tci` stays 0 for that tag.
//! - 802.3 with fewer than 8 bytes after the length: `eth_type` 0x05ff.
//! - MPLS with fewer than 4 bytes: `mpls_lse` 0.
//! - ARP shorter than 28 bytes, or not Ethernet/IPv4: no ARP fields.
//! - IPv4 whose header (IHL) or total length does not fit, or IHL < 5 or total length < IHL:
//!   no L3 fields at all (`nw_proto`, `nw_ttl`, `nw_tos` and `ip_frag` are 0 too).
//! - IPv6 with fewer than 40 bytes or a payload length past the end: no L3 fields. An
//!   extension header that does not fit: the addresses are set; `ipv6_label`, `nw_proto`,
//!   `nw_tos`, `nw_ttl` and `ip_frag` stay 0.
//! - L4 headers shorter than their fixed part (TCP 20 bytes and its data offset, UDP 8,
//!   SCTP 12, ICMP/IGMP/ICMPv6 8), counted within the IP payload: no L4 fields.
//! - Neighbor discovery with a truncated target, or a second non-zero link-layer address of
//!   one kind: `nd_target`, `nd_sll`, `nd_tll` stay 0; type and code are set. An option of
//!   length zero or running past the end ends the options: what came before it is kept.
//!
//! Bytes beyond the IP total length (Ethernet padding) are never read as L4.

use std::net::IpAddr;

use fvs_packet::arp::ArpView;
use fvs_packet::ethernet::{self, EtherType, EthernetView};
use fvs_packet::icmpv6;
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv4::Ipv4View;
use fvs_packet::ipv6::{self, Ipv6View};
use fvs_packet::mpls::Lse;
use fvs_packet::nd::{NdKind, NdRepr};
use fvs_packet::tcp::TcpView;
use fvs_packet::tunnel::{TunnelFlags, TunnelMetadata};
use fvs_packet::vlan::VlanView;

use crate::field::Field;
use crate::key::FlowKey;
use crate::matching::{frag, vlan};
use crate::port::PortNo;

/// The `eth_type` Open vSwitch gives an 802.3 frame without an LLC/SNAP EtherType.
pub const ETH_TYPE_NONE: u16 = 0x05ff;

/// How many VLAN tags are read: Open vSwitch's default `vlan-limit` (the key has room for
/// one TCI).
const MAX_VLAN_TAGS: usize = 1;

/// LLC/SNAP header: DSAP 0xaa, SSAP 0xaa, control 3, OUI 00-00-00, then an EtherType.
const LLC_SNAP_PREFIX: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
const LLC_SNAP_LEN: usize = 8;

/// The flow key of `frame`, received on `in_port`, with `tunnel`'s metadata if it came out
/// of a tunnel. See the module docs for what is read and what a truncated frame leaves.
pub fn extract(frame: &[u8], in_port: PortNo, tunnel: Option<&TunnelMetadata>) -> FlowKey {
    let mut key = Key(FlowKey::ZERO);
    key.set(Field::InPort, u128::from(in_port.0));
    if let Some(t) = tunnel {
        key.set(Field::TunId, u128::from(t.tun_id));
        // An IPv6 underlay fills the IPv6 tunnel fields instead, as Open vSwitch does.
        match (t.src, t.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                key.set(Field::TunSrc, u128::from(src.to_bits()));
                key.set(Field::TunDst, u128::from(dst.to_bits()));
            }
            (src, dst) => {
                key.set(Field::TunIpv6Src, v6_bits(src));
                key.set(Field::TunIpv6Dst, v6_bits(dst));
            }
        }
        key.set(
            Field::TunFlags,
            u128::from(t.flags.0 & TunnelFlags::PUBLIC_MASK),
        );
    }
    key.l2(frame);
    key.0
}

/// An address as IPv6 bits (an IPv4 one mapped, though both ends are always of one family).
fn v6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// A key being filled; one method per layer, each handing its payload to the next.
struct Key(FlowKey);

impl Key {
    fn set(&mut self, field: Field, value: u128) {
        self.0.set(field.loc(), value);
    }

    fn l2(&mut self, frame: &[u8]) {
        let Ok(eth) = EthernetView::new_checked(frame) else {
            return;
        };
        self.set(Field::EthSrc, u128::from(eth.src().to_u64()));
        self.set(Field::EthDst, u128::from(eth.dst().to_u64()));
        let mut ethertype = eth.ethertype();
        let mut rest = &frame[ethernet::HEADER_LEN..];
        for n in 0..MAX_VLAN_TAGS {
            if !ethertype.is_vlan() {
                break;
            }
            let Ok(tag) = VlanView::new_checked(rest) else {
                break;
            };
            if n == 0 {
                self.set(Field::VlanTci, u128::from(tag.tci().0 | vlan::CFI));
            }
            ethertype = tag.ethertype();
            rest = &rest[fvs_packet::vlan::HEADER_LEN..];
        }
        if ethertype.is_length() {
            ethertype = EtherType::from(ETH_TYPE_NONE);
            if rest.len() >= LLC_SNAP_LEN && rest[..LLC_SNAP_PREFIX.len()] == LLC_SNAP_PREFIX {
                let inner = u16::from_be_bytes([rest[6], rest[7]]);
                if inner >= EtherType::MIN_TYPE {
                    ethertype = EtherType::from(inner);
                    rest = &rest[LLC_SNAP_LEN..];
                }
            }
        }
        self.set(Field::EthType, u128::from(u16::from(ethertype)));
        match ethertype {
            EtherType::Ipv4 => self.ipv4(rest),
            EtherType::Ipv6 => self.ipv6(rest),
            EtherType::Arp | EtherType::Rarp => self.arp(rest),
            EtherType::MplsUnicast | EtherType::MplsMulticast => {
                if let Ok(lse) = Lse::parse(rest) {
                    self.set(Field::MplsLabel, u128::from(lse.label()));
                    self.set(Field::MplsTc, u128::from(lse.tc()));
                    self.set(Field::MplsBos, u128::from(lse.bos()));
                    self.set(Field::MplsTtl, u128::from(lse.ttl()));
                }
            }
            _ => {}
        }
    }

    fn arp(&mut self, bytes: &[u8]) {
        let Ok(arp) = ArpView::new_checked(bytes) else {
            return;
        };
        if !arp.is_ethernet_ipv4() {
            return;
        }
        let op = u16::from(arp.operation());
        self.set(Field::ArpOp, if op <= 0xff { u128::from(op) } else { 0 });
        self.set(Field::ArpSpa, u128::from(arp.spa().to_bits()));
        self.set(Field::ArpTpa, u128::from(arp.tpa().to_bits()));
        self.set(Field::ArpSha, u128::from(arp.sha().to_u64()));
        self.set(Field::ArpTha, u128::from(arp.tha().to_u64()));
    }

    fn ipv4(&mut self, bytes: &[u8]) {
        let Ok(ip) = Ipv4View::new_checked(bytes) else {
            return;
        };
        self.set(Field::Ipv4Src, u128::from(ip.src().to_bits()));
        self.set(Field::Ipv4Dst, u128::from(ip.dst().to_bits()));
        let mut frag_bits = 0;
        if ip.is_fragment() {
            frag_bits = frag::ANY;
            if ip.frag_offset() != 0 {
                frag_bits |= frag::LATER;
            }
        }
        let protocol = ip.protocol();
        self.nw_misc(protocol, ip.tos(), ip.ttl(), frag_bits);
        if frag_bits & frag::LATER == 0 {
            let payload = &bytes[ip.header_len()..ip.total_len()];
            self.l4(protocol, payload, false);
        }
    }

    fn ipv6(&mut self, bytes: &[u8]) {
        let Ok(ip) = Ipv6View::new_checked(bytes) else {
            return;
        };
        self.set(Field::Ipv6Src, ip.src().to_bits());
        self.set(Field::Ipv6Dst, ip.dst().to_bits());
        let payload = &bytes[ipv6::HEADER_LEN..ipv6::HEADER_LEN + ip.payload_len()];
        let Ok(upper) = ipv6::upper_layer(ip.next_header(), payload) else {
            return;
        };
        self.set(Field::Ipv6Label, u128::from(ip.flow_label()));
        let mut protocol = upper.protocol;
        let mut frag_bits = 0;
        // A fragment header with offset, M flag and reserved bits all zero (an "atomic
        // fragment") does not make the packet a fragment.
        if let Some(f) = upper.fragment.filter(|f| f.offset != 0 || f.more_frags) {
            frag_bits = frag::ANY;
            if f.offset != 0 {
                frag_bits |= frag::LATER;
                protocol = IpProtocol::Ipv6Frag;
            }
        }
        self.nw_misc(protocol, ip.traffic_class(), ip.hop_limit(), frag_bits);
        if frag_bits & frag::LATER == 0 {
            self.l4(
                protocol,
                payload.get(upper.offset..).unwrap_or_default(),
                true,
            );
        }
    }

    fn nw_misc(&mut self, protocol: IpProtocol, tos: u8, ttl: u8, frag_bits: u8) {
        self.set(Field::IpProto, u128::from(u8::from(protocol)));
        self.set(Field::NwTos, u128::from(tos));
        self.set(Field::NwTtl, u128::from(ttl));
        self.set(Field::IpFrag, u128::from(frag_bits));
    }

    /// The transport header in `payload` (already limited to the IP payload).
    fn l4(&mut self, protocol: IpProtocol, payload: &[u8], is_ipv6: bool) {
        match protocol {
            IpProtocol::Tcp => {
                if let Ok(tcp) = TcpView::new_checked(payload) {
                    self.ports(tcp.src_port(), tcp.dst_port());
                    self.set(Field::TcpFlags, u128::from(tcp.flags().0));
                }
            }
            IpProtocol::Udp | IpProtocol::Sctp => {
                let need = if protocol == IpProtocol::Udp {
                    fvs_packet::udp::HEADER_LEN
                } else {
                    fvs_packet::sctp::HEADER_LEN
                };
                if let [s0, s1, d0, d1, ..] = *payload
                    && payload.len() >= need
                {
                    self.ports(u16::from_be_bytes([s0, s1]), u16::from_be_bytes([d0, d1]));
                }
            }
            IpProtocol::Icmp | IpProtocol::Igmp if !is_ipv6 => {
                if let [msg_type, code, ..] = *payload
                    && payload.len() >= fvs_packet::icmp::HEADER_LEN
                {
                    self.ports(u16::from(msg_type), u16::from(code));
                }
            }
            IpProtocol::Icmpv6 if is_ipv6 => {
                let Ok(icmp) = icmpv6::Icmpv6View::new_checked(payload) else {
                    return;
                };
                self.ports(u16::from(icmp.msg_type()), u16::from(icmp.code()));
                if NdKind::from_icmpv6(icmp.msg_type(), icmp.code()).is_some()
                    && let Ok(nd) = NdRepr::parse(&payload[icmpv6::HEADER_LEN..])
                {
                    self.set(Field::NdTarget, nd.target.to_bits());
                    let mac =
                        |m: Option<fvs_packet::MacAddr>| u128::from(m.unwrap_or_default().to_u64());
                    self.set(Field::NdSll, mac(nd.sll));
                    self.set(Field::NdTll, mac(nd.tll));
                    // The 32 bits after the checksum: reserved in a solicitation, the
                    // R/S/O flags and reserved bits in an advertisement.
                    if let Some(r) = payload.get(4..8) {
                        let r = u32::from_be_bytes([r[0], r[1], r[2], r[3]]);
                        self.set(Field::NdReserved, u128::from(r));
                    }
                    let options = &payload[icmpv6::HEADER_LEN..];
                    if let Some(&t) = options.get(16) {
                        self.set(Field::NdOptionsType, u128::from(t));
                    }
                }
            }
            _ => {}
        }
    }

    fn ports(&mut self, src: u16, dst: u16) {
        self.set(Field::TcpSrc, u128::from(src));
        self.set(Field::TcpDst, u128::from(dst));
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use fvs_packet::tunnel::{TunnelMetadata, TunnelProtocol};

    use super::*;

    #[test]
    fn a_runt_frame_has_only_metadata() {
        let k = extract(&[0xff; 13], PortNo(5), None);
        let mut want = FlowKey::ZERO;
        want.set(Field::InPort.loc(), 5);
        assert_eq!(k, want);
    }

    #[test]
    fn tunnel_metadata_fills_the_tunnel_fields_with_public_flags_only() {
        let md = TunnelMetadata {
            protocol: TunnelProtocol::Geneve,
            tun_id: 0x2,
            src: Ipv4Addr::new(10, 0, 1, 31).into(),
            dst: Ipv4Addr::new(10, 0, 1, 21).into(),
            tos: 0,
            ttl: 64,
            flags: TunnelFlags(TunnelFlags::OAM | TunnelFlags::KEY | TunnelFlags::DONT_FRAGMENT),
            udp_src: 1,
            udp_dst: 6081,
            geneve_options: vec![],
        };
        let k = extract(&[], PortNo(3), Some(&md));
        assert_eq!(k.get(Field::TunId.loc()), 2);
        assert_eq!(k.get(Field::TunSrc.loc()), 0x0a00_011f);
        assert_eq!(k.get(Field::TunDst.loc()), 0x0a00_0115);
        assert_eq!(k.get(Field::TunFlags.loc()), 1);
        assert_eq!(k.get(Field::InPort.loc()), 3);
    }

    #[test]
    fn a_tagged_frame_sets_the_present_bit() {
        // dst, src, 802.1Q with PCP 2 / VID 0x123, then an EtherType with nothing after it.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x41, 0x23, 0x88, 0xcc]);
        let k = extract(&f, PortNo(1), None);
        assert_eq!(k.get(Field::VlanTci.loc()), 0x5123);
        assert_eq!(k.get(Field::EthType.loc()), 0x88cc);
    }
}
