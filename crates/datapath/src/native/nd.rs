//! IPv6 neighbour discovery for native tunnels: what ARP is to an IPv4 underlay.
//!
//! - **Snooping** ([`snoop`]): an ICMPv6 Neighbor Advertisement the bridge delivers to an
//!   endpoint, addressed to one of its addresses or to a multicast group, teaches its target
//!   address at its Target Link-Layer Address option's MAC; a Neighbor Solicitation for one
//!   of the endpoint's addresses teaches its sender at its Source Link-Layer Address option's
//!   MAC (a neighbour asking for us is about to be talked to). Messages without the option,
//!   with a hop limit other than 255 (RFC 4861 §7.1: they did not come from the link), a bad
//!   ICMPv6 checksum or from the unspecified address (duplicate address detection) teach
//!   nothing.
//! - **Soliciting** ([`solicitation`]): for a next hop whose MAC is unknown, a Neighbor
//!   Solicitation from the internal port's MAC and address to the target's solicited-node
//!   multicast group, with our Source Link-Layer Address option, so the neighbour can answer
//!   at once (RFC 4861 §7.2.2).
//!
//! Only messages straight after the IPv6 header are read: RFC 4861 messages carry no
//! extension headers in practice, and one with them is left to the host. fvs-packet's
//! readers and writers (`ipv6`, `icmpv6`, `nd`) do the byte work.

use std::net::{IpAddr, Ipv6Addr};

use fvs_packet::MacAddr;
use fvs_packet::ethernet::{self, EtherType, EthernetRepr, EthernetView};
use fvs_packet::icmpv6::{self, Icmpv6Repr, Icmpv6View};
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv6::{self, Ipv6Repr, Ipv6View};
use fvs_packet::nd::{NdKind, NdRepr};

/// Ethernet header, IPv6 header, ICMPv6 header and reserved word, target, one MAC option.
pub(crate) const NS_FRAME_LEN: usize = ETH + ipv6::HEADER_LEN + icmpv6::HEADER_LEN + 16 + 8;
const ETH: usize = ethernet::HEADER_LEN;
/// RFC 4861's hop limit for every neighbour discovery message.
const ND_HOP_LIMIT: u8 = 255;

/// What a neighbour discovery message delivered to an endpoint with addresses `addrs`
/// teaches: an address and its MAC. `None` for anything else, including every frame that
/// is not IPv6 ICMPv6.
pub(crate) fn snoop(frame: &[u8], addrs: &[IpAddr]) -> Option<(IpAddr, MacAddr)> {
    let eth = EthernetView::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv6 {
        return None;
    }
    let ip = Ipv6View::new_checked(frame.get(ETH..)?).ok()?;
    let ip = Ipv6Repr::parse(&ip).ok()?;
    if ip.next_header != IpProtocol::Icmpv6 || ip.hop_limit != ND_HOP_LIMIT {
        return None;
    }
    if ip.src.is_unspecified() {
        return None;
    }
    let at = ETH + ipv6::HEADER_LEN;
    let body = frame.get(at..at + ip.payload_len)?;
    // Parsing verifies the checksum.
    let icmp = Icmpv6View::new_checked(body).ok()?;
    let msg = Icmpv6Repr::parse(&icmp, ip.src, ip.dst).ok()?;
    let kind = NdKind::from_icmpv6(msg.msg_type, msg.code)?;
    let nd = NdRepr::parse(&msg.data).ok()?;
    let ours = |a: Ipv6Addr| addrs.contains(&IpAddr::V6(a));
    match kind {
        NdKind::Advert if ours(ip.dst) || ip.dst.is_multicast() => {
            Some((nd.target.into(), nd.tll.filter(|m| !m.is_zero())?))
        }
        NdKind::Solicit if ours(nd.target) => {
            Some((ip.src.into(), nd.sll.filter(|m| !m.is_zero())?))
        }
        _ => None,
    }
}

/// The solicited-node multicast group of `target` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX with
/// the target's low 24 bits.
fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from_bits(0xff02_0000_0000_0000_0000_0001_ff00_0000 | (target.to_bits() & 0xff_ffff))
}

/// A Neighbor Solicitation for `target` from `mac`/`src` (see the module docs).
pub(crate) fn solicitation(mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> [u8; NS_FRAME_LEN] {
    let group = solicited_node(target);
    let g = group.octets();
    let msg = NdRepr {
        target,
        sll: Some(mac),
        tll: None,
    }
    .to_icmpv6(NdKind::Solicit, 0);
    let mut f = [0u8; NS_FRAME_LEN];
    // The group's MAC is 33:33 then the group's low 32 bits (RFC 2464 §7).
    EthernetRepr {
        dst: MacAddr([0x33, 0x33, g[12], g[13], g[14], g[15]]),
        src: mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut f);
    Ipv6Repr {
        src,
        dst: group,
        next_header: IpProtocol::Icmpv6,
        payload_len: msg.buffer_len(),
        hop_limit: ND_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    msg.emit(&mut f[ETH + ipv6::HEADER_LEN..], src, group);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_packet::icmpv6::TYPE_NEIGHBOR_SOLICIT;

    const ME: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x97, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x97, 0, 0, 0, 0, 0x12, 0x3456);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const THEIRS: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn a_solicitation_is_a_valid_ns_to_the_solicited_node_group() {
        let f = solicitation(MAC, ME, PEER);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        let dst: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!(&f[38..54], &dst.octets());
        // fvs-packet's own reader agrees: a checksum that verifies, the target, our MAC.
        let icmp = Icmpv6View::new_checked(&f[54..]).unwrap();
        assert!(icmp.verify_checksum(ME, dst));
        let repr = Icmpv6Repr::parse(&icmp, ME, dst).unwrap();
        assert_eq!(repr.msg_type, TYPE_NEIGHBOR_SOLICIT);
        let nd = NdRepr::parse(icmp.data()).unwrap();
        assert_eq!(nd.target, PEER);
        assert_eq!(nd.sll, Some(MAC));
        // And the far end, answering, would teach us nothing from our own NS: it is for
        // PEER, not for us.
        assert_eq!(snoop(&f, &[ME.into()]), None);
        assert_eq!(snoop(&f, &[PEER.into()]), Some((ME.into(), MAC)));
    }

    /// A Neighbor Advertisement from PEER to `dst` for `target`, with a TLL option.
    fn advert(dst: Ipv6Addr, target: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let nd = NdRepr {
            target,
            sll: None,
            tll: Some(THEIRS),
        };
        let icmp = nd.to_icmpv6(NdKind::Advert, 0x6000_0000);
        let mut f = vec![0u8; ETH + ipv6::HEADER_LEN + icmp.buffer_len()];
        EthernetRepr {
            dst: MAC,
            src: THEIRS,
            ethertype: EtherType::Ipv6,
        }
        .emit(&mut f);
        Ipv6Repr {
            src: PEER,
            dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: icmp.buffer_len(),
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut f[ETH..]);
        icmp.emit(&mut f[54..], PEER, dst);
        f
    }

    #[test]
    fn advertisements_to_us_teach_their_target() {
        let na = advert(ME, PEER, 255);
        assert_eq!(snoop(&na, &[ME.into()]), Some((PEER.into(), THEIRS)));
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        let unsolicited = advert(all_nodes, PEER, 255);
        assert_eq!(
            snoop(&unsolicited, &[ME.into()]),
            Some((PEER.into(), THEIRS))
        );
        // Not to us, from off-link, or damaged: nothing.
        assert_eq!(snoop(&na, &[PEER.into()]), None);
        assert_eq!(snoop(&advert(ME, PEER, 64), &[ME.into()]), None);
        let mut broken = na.clone();
        *broken.last_mut().unwrap() ^= 1;
        assert_eq!(snoop(&broken, &[ME.into()]), None);
        for cut in 0..na.len() {
            assert_eq!(snoop(&na[..cut], &[ME.into()]), None, "cut at {cut}");
        }
    }
}
