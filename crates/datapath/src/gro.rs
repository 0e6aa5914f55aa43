//! Receive coalescing for tunnels: consecutive TCP segments of one flow, decapsulated from
//! one receive batch and bound for the same device, leave as one TSO super-frame.
//!
//! # Why
//!
//! A tunnel's underlay carries TCP as MTU-sized outer packets whatever the VMs' offloads
//! (the kernel-stack underlay cannot segment GRE or receive it coalesced), so without this
//! every 1450-byte segment would cost one slot in a send to the VM's port and one pass
//! through the VM's TCP stack. A device that takes virtio-net headers (TAP, AF_PACKET with
//! `PACKET_VNET_HDR`) accepts a super-frame instead, and a local stack behind it takes it
//! whole, as it takes what a NIC's GRO made: that is what Linux's own tunnels get from GRO
//! on the decapsulated packets.
//!
//! # Rules (those of Linux's TCP GRO, stricter where simpler)
//!
//! A segment joins the frame queued last on the output batch when both are Ethernet (same
//! MACs, VLAN tags and EtherType), IPv4 without options or fragmentation or IPv6 without
//! extension headers, TCP, and:
//! - the same addresses, TOS (traffic class and flow label), TTL (hop limit) and DF, ports,
//!   acknowledgement number, window, header length and option bytes (timestamps included);
//! - the segment starts where the frame's payload ends (sequence numbers);
//! - the frame so far is only full segments of one size (the first segment's payload sets
//!   `gso_size`) and carries only ACK; the segment carries ACK, or ACK and PSH (which ends
//!   the frame), and at most `gso_size` bytes (a shorter one ends the frame too);
//! - its TCP checksum verifies (the super-frame leaves with a partial checksum, which the
//!   receiving stack trusts, so a corrupted segment must not hide in it), as does the first
//!   segment's when the frame is made;
//! - the IP length stays within 65,535 and the buffer has room.
//!
//! The result: the first segment's headers, the payloads in order, the IPv4 total length and
//! header checksum or the IPv6 payload length updated, the virtio-net header `GSO_TCPV4` or
//! `GSO_TCPV6` with `gso_size`, and a partial checksum (the pseudo-header's sum over the
//! whole TCP length, as a TSO sender leaves it).
//! Segmenting it again (another device, or `fvs_datapath::offload`) gives back the same
//! segments, up to the IPv4 identification.
//!
//! Only frames that arrived through a tunnel are coalesced, only towards a device with
//! virtio-net headers, and never across `trunc` or into a tunnel; anything else, and any
//! segment that breaks a rule, is queued as it is.

use fvs_netdev::{GsoType, Packet, VnetFlags, VnetHdr};
use fvs_packet::checksum::{self, Sum};
use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const IPV6_LEN: usize = 40;
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const MACS_LEN: usize = 12;
const IPV4_LEN: usize = 20;
const TCP_MIN: usize = 20;
const PROTO_TCP: u8 = 6;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// The TCP checksum's offset in the TCP header.
const TCP_CSUM: u16 = 16;
/// IPv4 "more fragments" and fragment offset bits.
const IPV4_FRAG_BITS: u16 = 0x3fff;
/// IPv4 "don't fragment".
const IPV4_DF: u8 = 0x40;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Where one TCP/IP frame's headers are.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// IPv6 (else IPv4).
    v6: bool,
    /// The IP header.
    l3: usize,
    /// The TCP header.
    l4: usize,
    /// The payload (the end of the TCP header).
    payload: usize,
}

impl Layout {
    /// The layout of a frame that is exactly Ethernet (+ VLAN tags) + IPv4 (no options, not
    /// a fragment) or IPv6 (no extension headers) + TCP, with no bytes behind the datagram.
    fn of(frame: &[u8]) -> Option<Self> {
        let mut at = MACS_LEN;
        let ty = loop {
            let ty = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
            if VLAN_TPIDS.contains(&ty) {
                at += 4;
                continue;
            }
            break ty;
        };
        let l3 = at + 2;
        let (v6, l4) = match ty {
            ETH_TYPE_IPV4 => {
                let ip = frame.get(l3..l3 + IPV4_LEN)?;
                if ip[0] != 0x45
                    || ip[9] != PROTO_TCP
                    || be16(ip, 6) & IPV4_FRAG_BITS != 0
                    || l3 + usize::from(be16(ip, 2)) != frame.len()
                {
                    return None;
                }
                (false, l3 + IPV4_LEN)
            }
            ETH_TYPE_IPV6 => {
                let ip = frame.get(l3..l3 + IPV6_LEN)?;
                if ip[0] >> 4 != 6
                    || ip[6] != PROTO_TCP
                    || l3 + IPV6_LEN + usize::from(be16(ip, 4)) != frame.len()
                {
                    return None;
                }
                (true, l3 + IPV6_LEN)
            }
            _ => return None,
        };
        let doff = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
        let payload = l4 + doff;
        if doff < TCP_MIN || payload > frame.len() {
            return None;
        }
        Some(Self {
            v6,
            l3,
            l4,
            payload,
        })
    }

    /// The pseudo-header's sum for a TCP length of `len` bytes.
    fn pseudo_header(&self, frame: &[u8], len: u16) -> Sum {
        let ip = &frame[self.l3..];
        if self.v6 {
            let a = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&ip[at..at + 16]);
                Ipv6Addr::from(o)
            };
            checksum::pseudo_header_v6(a(8), a(24), PROTO_TCP, u32::from(len))
        } else {
            let a = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
            checksum::pseudo_header_v4(a(12), a(16), PROTO_TCP, len)
        }
    }

    /// The IP header bytes that must be equal for two segments to merge (everything but
    /// the lengths, the IPv4 identification and checksum): as (start, end) offsets from the
    /// IP header, and the DF byte's mask for IPv4.
    fn same_ip_fields(&self) -> &'static [(usize, usize)] {
        if self.v6 {
            // Version, traffic class, flow label; next header, hop limit, addresses.
            &[(0, 4), (6, 40)]
        } else {
            // Version/IHL and TOS; TTL and protocol; addresses.
            &[(0, 2), (8, 10), (12, 20)]
        }
    }

    /// True when the TCP checksum of a complete frame verifies.
    fn tcp_checksum_ok(&self, frame: &[u8]) -> bool {
        let tcp = &frame[self.l4..];
        let Ok(len) = u16::try_from(tcp.len()) else {
            return false;
        };
        self.pseudo_header(frame, len).add_bytes(tcp).checksum() == 0
    }
}

/// Appends TCP segment `seg` to `last` (the frame queued last for the same device) when the
/// module's rules allow; true when it did, and `seg` needs no slot of its own.
pub(crate) fn merge(last: &mut Packet, seg: &[u8]) -> bool {
    let v = last.vnet();
    let (Some(a), Some(b)) = (Layout::of(last.data()), Layout::of(seg)) else {
        return false;
    };
    let f = last.data();
    let payload = f.len() - a.payload;
    let gso_type = if a.v6 { GsoType::TCPV6 } else { GsoType::TCPV4 };
    let gso_size = if v.is_none() {
        payload
    } else if v.flags.contains(VnetFlags::NEEDS_CSUM)
        && v.gso_type == gso_type
        && usize::from(v.csum_start) == a.l4
        && v.gso_size != 0
    {
        usize::from(v.gso_size)
    } else {
        return false;
    };
    let n = seg.len() - b.payload;
    let same = |r: std::ops::Range<usize>, s: std::ops::Range<usize>| f.get(r) == seg.get(s);
    let ok = a.l3 == b.l3
        && a.v6 == b.v6
        && a.payload - a.l4 == b.payload - b.l4
        && gso_size != 0
        && payload.is_multiple_of(gso_size)
        && n != 0
        && n <= gso_size
        // IPv4's total length counts its header, IPv6's payload length does not.
        && f.len() - if a.v6 { a.l4 } else { a.l3 } + n <= usize::from(u16::MAX)
        // Ethernet and VLAN headers; the IP fields that identify the flow.
        && same(0..a.l3, 0..b.l3)
        && a
            .same_ip_fields()
            .iter()
            .all(|&(from, to)| same(a.l3 + from..a.l3 + to, b.l3 + from..b.l3 + to))
        && (a.v6 || f[a.l3 + 6] & IPV4_DF == seg[b.l3 + 6] & IPV4_DF)
        // Ports; acknowledgement; window; options.
        && same(a.l4..a.l4 + 4, b.l4..b.l4 + 4)
        && same(a.l4 + 8..a.l4 + 12, b.l4 + 8..b.l4 + 12)
        && same(a.l4 + 14..a.l4 + 16, b.l4 + 14..b.l4 + 16)
        && same(a.l4 + TCP_MIN..a.payload, b.l4 + TCP_MIN..b.payload)
        && f[a.l4 + 13] == TCP_ACK
        && matches!(seg[b.l4 + 13], TCP_ACK | 0x18)
        && be32(f, a.l4 + 4).wrapping_add(payload as u32) == be32(seg, b.l4 + 4)
        && b.tcp_checksum_ok(seg)
        && (!v.is_none() || a.tcp_checksum_ok(f));
    if !ok || !last.append(&seg[b.payload..]) {
        return false;
    }
    let push = seg[b.l4 + 13] & TCP_PSH;
    let d = last.data_mut();
    d[a.l4 + 13] |= push;
    if a.v6 {
        let payload_len = (d.len() - a.l4) as u16;
        d[a.l3 + 4..a.l3 + 6].copy_from_slice(&payload_len.to_be_bytes());
    } else {
        // IPv4 total length and header checksum.
        let total = (d.len() - a.l3) as u16;
        d[a.l3 + 2..a.l3 + 4].copy_from_slice(&total.to_be_bytes());
        d[a.l3 + 10..a.l3 + 12].fill(0);
        let c = checksum::checksum(&d[a.l3..a.l3 + IPV4_LEN]);
        d[a.l3 + 10..a.l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    // The partial checksum: the pseudo-header's sum over the whole TCP length.
    let tcp_len = (d.len() - a.l4) as u16;
    let partial = a.pseudo_header(d, tcp_len).fold();
    let at = a.l4 + usize::from(TCP_CSUM);
    d[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    last.set_vnet(VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type,
        hdr_len: a.payload as u16,
        gso_size: gso_size as u16,
        csum_start: a.l4 as u16,
        csum_offset: TCP_CSUM,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::Plan;
    use fvs_netdev::PacketBatch;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 97, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 97, 1, 2);

    /// A TCP/IPv4 segment with correct checksums: `seq`, `flags`, `len` payload bytes
    /// (a pattern that depends on the sequence number, so order mistakes show).
    fn segment(seq: u32, flags: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 32 + len];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (20 + 32 + len) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[18..20].copy_from_slice(&(seq as u16).to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = PROTO_TCP;
        f[26..30].copy_from_slice(&SRC.octets());
        f[30..34].copy_from_slice(&DST.octets());
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let t = 34;
        f[t..t + 4].copy_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        f[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        f[t + 8..t + 12].copy_from_slice(&7u32.to_be_bytes());
        f[t + 12] = 8 << 4;
        f[t + 13] = flags;
        f[t + 14..t + 16].copy_from_slice(&502u16.to_be_bytes());
        // NOP, NOP, timestamps.
        f[t + 20..t + 32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        for (i, b) in f[t + 32..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        let sum = checksum::pseudo_header_v4(SRC, DST, PROTO_TCP, (32 + len) as u16)
            .add_bytes(&f[t..])
            .checksum();
        f[t + 16..t + 18].copy_from_slice(&sum.to_be_bytes());
        f
    }

    /// Queues the segments as the datapath would, merging where allowed.
    fn coalesce(segments: &[Vec<u8>]) -> PacketBatch {
        let mut out = PacketBatch::new(8, fvs_netdev::batch::GSO_FRAME_CAPACITY);
        for s in segments {
            let merged = out.packets_mut().last_mut().is_some_and(|l| merge(l, s));
            if !merged {
                out.push(s).unwrap();
            }
        }
        out
    }

    /// Segments a queued frame again, as a device without offloads would get it.
    fn resegment(p: &Packet) -> Vec<Vec<u8>> {
        let plan = Plan::new(p.data(), p.vnet()).unwrap();
        let mut out = PacketBatch::new(64, 2048);
        for i in 0..plan.segments() {
            plan.push(p.data(), i, &mut out).unwrap();
        }
        out.iter().map(|q| q.data().to_vec()).collect()
    }

    /// Equal up to the IPv4 identification and header checksum (segmentation numbers them
    /// from the first).
    fn same_but_ip_id(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a[..18] == b[..18] && a[20..24] == b[20..24] && a[26..] == b[26..]
    }

    #[test]
    fn consecutive_segments_become_one_super_frame_that_segments_back() {
        let segs: Vec<Vec<u8>> = (0..5)
            .map(|i| segment(1000 + i * 1400, if i == 4 { 0x18 } else { 0x10 }, 1400))
            .collect();
        let out = coalesce(&segs);
        assert_eq!(out.len(), 1);
        let p = &out.packets()[0];
        let v = p.vnet();
        assert_eq!(
            (v.gso_type, v.gso_size, v.csum_start),
            (GsoType::TCPV4, 1400, 34)
        );
        assert_eq!(v.hdr_len, 14 + 20 + 32);
        assert_eq!(p.len(), 14 + 20 + 32 + 5 * 1400);
        assert!(checksum::verifies(&p.data()[14..34]));
        let back = resegment(p);
        assert_eq!(back.len(), 5);
        for (got, want) in back.iter().zip(&segs) {
            assert!(same_but_ip_id(got, want), "a segment came back different");
            assert!(Layout::of(got).unwrap().tcp_checksum_ok(got));
        }
    }

    /// `segment` as IPv6 (traffic class 0, flow label 0x12345).
    fn segment_v6(seq: u32, flags: u8, len: usize) -> Vec<u8> {
        let v4 = segment(seq, flags, len);
        let tcp = &v4[34..];
        let src: Ipv6Addr = "fd00::1".parse().unwrap();
        let dst: Ipv6Addr = "fd00::2".parse().unwrap();
        let mut f = v4[..12].to_vec();
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0x01, 0x23, 0x45]);
        f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[PROTO_TCP, 64]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(tcp);
        let t = 14 + 40;
        f[t + 16..t + 18].fill(0);
        let sum = checksum::pseudo_header_v6(src, dst, PROTO_TCP, tcp.len() as u32)
            .add_bytes(&f[t..])
            .checksum();
        f[t + 16..t + 18].copy_from_slice(&sum.to_be_bytes());
        f
    }

    #[test]
    fn ipv6_segments_coalesce_and_segment_back() {
        let segs: Vec<Vec<u8>> = (0..4).map(|i| segment_v6(i * 1200, 0x10, 1200)).collect();
        let out = coalesce(&segs);
        assert_eq!(out.len(), 1);
        let p = &out.packets()[0];
        assert_eq!(
            (p.vnet().gso_type, p.vnet().gso_size),
            (GsoType::TCPV6, 1200)
        );
        let back = resegment(p);
        assert_eq!(back, segs, "IPv6 segments come back byte for byte");
        // Another flow label is another flow.
        let mut other = segment_v6(1200, 0x10, 1200);
        other[17] ^= 1;
        assert_eq!(coalesce(&[segment_v6(0, 0x10, 1200), other]).len(), 2);
    }

    #[test]
    fn a_short_or_pushed_segment_ends_the_frame() {
        let out = coalesce(&[
            segment(0, 0x10, 1000),
            segment(1000, 0x10, 600),
            segment(1600, 0x10, 1000),
        ]);
        assert_eq!(out.len(), 2);
        let out = coalesce(&[segment(0, 0x18, 1000), segment(1000, 0x10, 1000)]);
        assert_eq!(out.len(), 2);
        // A segment longer than the first one's payload cannot join.
        let out = coalesce(&[segment(0, 0x10, 500), segment(500, 0x10, 1000)]);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn gaps_other_flags_and_bad_checksums_are_not_merged() {
        // A gap in the sequence numbers.
        assert_eq!(
            coalesce(&[segment(0, 0x10, 100), segment(101, 0x10, 100)]).len(),
            2
        );
        // FIN, SYN, a pure ACK.
        for flags in [0x11, 0x02] {
            assert_eq!(
                coalesce(&[segment(0, 0x10, 100), segment(100, flags, 100)]).len(),
                2
            );
        }
        assert_eq!(
            coalesce(&[segment(0, 0x10, 100), segment(100, 0x10, 0)]).len(),
            2
        );
        // Another acknowledgement number.
        let mut s = segment(100, 0x10, 100);
        s[34 + 11] ^= 1;
        assert_eq!(coalesce(&[segment(0, 0x10, 100), s]).len(), 2);
        // A corrupted payload byte.
        let mut s = segment(100, 0x10, 100);
        *s.last_mut().unwrap() ^= 0xff;
        assert_eq!(coalesce(&[segment(0, 0x10, 100), s]).len(), 2);
        // Other addresses.
        let mut s = segment(100, 0x10, 100);
        s[33] = 9;
        assert_eq!(coalesce(&[segment(0, 0x10, 100), s]).len(), 2);
    }

    #[test]
    fn non_tcp_and_runts_are_left_alone() {
        let mut udp = segment(0, 0x10, 100);
        udp[23] = 17;
        assert_eq!(coalesce(&[udp.clone(), udp]).len(), 2);
        assert_eq!(coalesce(&[vec![0; 20], vec![0; 20]]).len(), 2);
        let s = segment(0, 0x10, 100);
        assert_eq!(coalesce(&[s[..50].to_vec(), s[..50].to_vec()]).len(), 2);
    }
}
