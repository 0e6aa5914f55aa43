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
//! MACs, VLAN tags and EtherType), IPv4 without options or fragmentation, TCP, and:
//! - the same addresses, TOS, TTL and DF, ports, acknowledgement number, window, header
//!   length and option bytes (timestamps included);
//! - the segment starts where the frame's payload ends (sequence numbers);
//! - the frame so far is only full segments of one size (the first segment's payload sets
//!   `gso_size`) and carries only ACK; the segment carries ACK, or ACK and PSH (which ends
//!   the frame), and at most `gso_size` bytes (a shorter one ends the frame too);
//! - its TCP checksum verifies (the super-frame leaves with a partial checksum, which the
//!   receiving stack trusts, so a corrupted segment must not hide in it), as does the first
//!   segment's when the frame is made;
//! - the IPv4 total length stays within 65,535 and the buffer has room.
//!
//! The result: the first segment's headers, the payloads in order, IPv4 total length and
//! header checksum updated, the virtio-net header `GSO_TCPV4` with `gso_size`, and a partial
//! checksum (the pseudo-header's sum over the whole TCP length, as a TSO sender leaves it).
//! Segmenting it again (another device, or `fvs_datapath::offload`) gives back the same
//! segments, up to the IPv4 identification.
//!
//! Only frames that arrived through a tunnel are coalesced, only towards a device with
//! virtio-net headers, and never across `trunc` or into a tunnel; anything else, and any
//! segment that breaks a rule, is queued as it is.

use fvs_netdev::{GsoType, Packet, VnetFlags, VnetHdr};
use fvs_packet::checksum;
use std::net::Ipv4Addr;

const ETH_TYPE_IPV4: u16 = 0x0800;
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

/// Where one TCP/IPv4 frame's headers are.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// The IPv4 header.
    l3: usize,
    /// The TCP header.
    l4: usize,
    /// The payload (the end of the TCP header).
    payload: usize,
}

impl Layout {
    /// The layout of a frame that is exactly Ethernet (+ VLAN tags) + IPv4 (no options, not
    /// a fragment) + TCP with no bytes behind the IPv4 datagram.
    fn of(frame: &[u8]) -> Option<Self> {
        let mut at = MACS_LEN;
        loop {
            let ty = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
            if VLAN_TPIDS.contains(&ty) {
                at += 4;
                continue;
            }
            if ty != ETH_TYPE_IPV4 {
                return None;
            }
            break;
        }
        let l3 = at + 2;
        let ip = frame.get(l3..l3 + IPV4_LEN)?;
        if ip[0] != 0x45
            || ip[9] != PROTO_TCP
            || be16(ip, 6) & IPV4_FRAG_BITS != 0
            || l3 + usize::from(be16(ip, 2)) != frame.len()
        {
            return None;
        }
        let l4 = l3 + IPV4_LEN;
        let doff = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
        let payload = l4 + doff;
        if doff < TCP_MIN || payload > frame.len() {
            return None;
        }
        Some(Self { l3, l4, payload })
    }

    fn addrs(&self, frame: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
        let a = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
        (a(self.l3 + 12), a(self.l3 + 16))
    }

    /// True when the TCP checksum of a complete frame verifies.
    fn tcp_checksum_ok(&self, frame: &[u8]) -> bool {
        let (src, dst) = self.addrs(frame);
        let tcp = &frame[self.l4..];
        let Ok(len) = u16::try_from(tcp.len()) else {
            return false;
        };
        checksum::pseudo_header_v4(src, dst, PROTO_TCP, len)
            .add_bytes(tcp)
            .checksum()
            == 0
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
    let gso_size = if v.is_none() {
        payload
    } else if v.flags.contains(VnetFlags::NEEDS_CSUM)
        && v.gso_type == GsoType::TCPV4
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
        && a.payload - a.l4 == b.payload - b.l4
        && gso_size != 0
        && payload.is_multiple_of(gso_size)
        && n != 0
        && n <= gso_size
        && f.len() - a.l3 + n <= usize::from(u16::MAX)
        // Ethernet and VLAN headers.
        && same(0..a.l3, 0..b.l3)
        // TOS; TTL and protocol; addresses; DF.
        && f[a.l3 + 1] == seg[b.l3 + 1]
        && same(a.l3 + 8..a.l3 + 10, b.l3 + 8..b.l3 + 10)
        && same(a.l3 + 12..a.l3 + 20, b.l3 + 12..b.l3 + 20)
        && f[a.l3 + 6] & IPV4_DF == seg[b.l3 + 6] & IPV4_DF
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
    // IPv4 total length and header checksum.
    let total = (d.len() - a.l3) as u16;
    d[a.l3 + 2..a.l3 + 4].copy_from_slice(&total.to_be_bytes());
    d[a.l3 + 10..a.l3 + 12].fill(0);
    let c = checksum::checksum(&d[a.l3..a.l3 + IPV4_LEN]);
    d[a.l3 + 10..a.l3 + 12].copy_from_slice(&c.to_be_bytes());
    // The partial checksum: the pseudo-header's sum over the whole TCP length.
    let (src, dst) = a.addrs(d);
    let tcp_len = (d.len() - a.l4) as u16;
    let partial = checksum::pseudo_header_v4(src, dst, PROTO_TCP, tcp_len).fold();
    let at = a.l4 + usize::from(TCP_CSUM);
    d[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    last.set_vnet(VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType::TCPV4,
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
