//! Software offloads: finishing in the switch what a packet's virtio-net header left pending,
//! for the paths that cannot leave it to a device.
//!
//! # Design
//!
//! Devices opened with virtio-net headers (TAP with `IFF_VNET_HDR`, AF_PACKET with
//! `PACKET_VNET_HDR`) hand the switch TSO/GSO super-frames (up to 64 KiB, one TCP or UDP
//! header in front of many MSS of payload) and frames whose L4 checksum is still *partial*
//! (the field holds only the pseudo-header's sum, `csum_start`/`csum_offset` say where the
//! rest goes). The datapath forwards them as they are, header and all, to every device that
//! carries virtio-net headers too: the kernel or the peer finishes the work, if ever (a veth
//! into a local stack never checksums or segments at all). That is what makes TCP through
//! the switch fast, and it is also the only correct thing to do with such frames: sent raw,
//! a super-frame is oversized and a partial checksum is wrong on the wire.
//!
//! Where a path cannot take the header, the datapath finishes the work here, just before the
//! copy into that port's output batch:
//!
//! - a device without virtio-net headers (dummy and pcap ports, AF_PACKET or TAP opened
//!   without them, a tunnel's underlay);
//! - encapsulation into a tunnel: the inner frame is segmented (and checksummed) first and
//!   each segment is encapsulated on its own, so the outer packets are ordinary datagrams the
//!   underlay can route (no tunnel GSO: the kernel-stack underlay sends plain IP packets);
//! - `trunc`, which would cut a super-frame's header from its payload;
//! - a `userspace(...)` action (a packet-in): the slow path gets complete frames, a
//!   super-frame as one packet per segment, as Open vSwitch's kernel datapath hands a GSO
//!   packet to userspace (its userspace datapath sends it whole; [`wire_frames`] says why
//!   ferrovs follows the kernel).
//!
//! [`Plan::new`] reads the pending state from the frame and its header once; [`Plan::push`]
//! then writes segment `i` straight into an output batch slot (headers, then a slice of the
//! payload, no intermediate copy) and fixes it up as Linux's own software GSO would:
//!
//! - IPv4: total length, identification (the super-frame's id plus `i`), header checksum;
//!   IPv6: payload length;
//! - TCP: sequence number advanced by the payload before it; FIN and PSH only on the last
//!   segment, CWR only on the first; a full checksum;
//! - UDP (USO, `VIRTIO_NET_HDR_GSO_UDP_L4`): length and a full checksum (0 sent as 0xffff).
//!
//! A frame with only a partial checksum is one "segment": the checksum from `csum_start` to
//! the end is computed (the field's pseudo-header sum included, as the kernel's
//! `skb_checksum_help` does) and stored at `csum_start + csum_offset`.
//!
//! The header lengths come from the frame, not from the virtio-net header's `hdr_len`: the
//! kernel fills that with the length of the skb's linear part, which may include payload.
//!
//! UDP fragmentation offload (`VIRTIO_NET_HDR_GSO_UDP`, deprecated in Linux and never offered
//! by ferrovs's devices) would need IP fragmentation and is refused, as are frames whose
//! headers do not parse: the caller drops them and counts them (a switch must not emit a
//! super-frame on a wire, nor invent headers).

use fvs_netdev::{GsoType, Packet, PacketBatch, VnetFlags, VnetHdr};
use fvs_packet::checksum::{self, Sum};
use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;
/// VLAN TPIDs a super-frame may carry in front of its L3 header.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const MACS_LEN: usize = 12;
const IPV4_MIN: usize = 20;
const IPV6_LEN: usize = 40;
const TCP_MIN: usize = 20;
const UDP_LEN: usize = 8;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a packet's pending offloads cannot be finished in software.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    /// `csum_start + csum_offset` points outside the frame.
    #[error("checksum offsets {start}+{offset} outside a frame of {len} bytes")]
    BadChecksumOffsets {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The frame's length.
        len: usize,
    },
    /// A GSO type this module does not segment (UDP fragmentation offload, unknown types).
    #[error("GSO type {0:#04x} cannot be segmented in software")]
    UnsupportedGso(u8),
    /// A super-frame with a segment size of 0.
    #[error("GSO super-frame with gso_size 0")]
    ZeroGsoSize,
    /// The super-frame's headers do not parse as its GSO type says.
    #[error("GSO super-frame headers do not parse: {0}")]
    BadHeaders(&'static str),
    /// A segment is larger than the output batch's buffers, or the batch is full.
    #[error("segment does not fit the output batch")]
    NoRoom,
}

/// The network layer of a super-frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L3 {
    V4,
    V6,
}

/// The transport layer of a super-frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

/// Where a super-frame's headers are and how its payload is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gso {
    l3: L3,
    l3_at: usize,
    l4: L4,
    l4_at: usize,
    /// Ethernet through the TCP/UDP header: copied into every segment.
    hdr_len: usize,
    /// Payload bytes per segment.
    mss: usize,
    /// Payload bytes in the super-frame.
    payload: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Nothing pending: the frame goes as it is.
    AsIs,
    /// One frame whose checksum is to be completed.
    Checksum { start: usize, at: usize },
    /// A super-frame to segment.
    Segment(Gso),
}

/// How one packet becomes frames that need no offload: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan(Work);

impl Plan {
    /// Reads what `vnet` leaves pending on `frame` and where the headers are.
    pub fn new(frame: &[u8], vnet: VnetHdr) -> Result<Self, OffloadError> {
        let kind = vnet.gso_type.kind();
        if kind == GsoType::NONE {
            if !vnet.flags.contains(VnetFlags::NEEDS_CSUM) {
                return Ok(Self(Work::AsIs));
            }
            let start = usize::from(vnet.csum_start);
            let at = start + usize::from(vnet.csum_offset);
            if at + 2 > frame.len() {
                return Err(OffloadError::BadChecksumOffsets {
                    start: vnet.csum_start,
                    offset: vnet.csum_offset,
                    len: frame.len(),
                });
            }
            return Ok(Self(Work::Checksum { start, at }));
        }
        let (want_l3, l4) = match kind {
            GsoType::TCPV4 => (Some(L3::V4), L4::Tcp),
            GsoType::TCPV6 => (Some(L3::V6), L4::Tcp),
            GsoType::UDP_L4 => (None, L4::Udp),
            other => return Err(OffloadError::UnsupportedGso(other.0)),
        };
        if vnet.gso_size == 0 {
            return Err(OffloadError::ZeroGsoSize);
        }
        let bad = OffloadError::BadHeaders;
        let (l3_at, ethertype) = l3_offset(frame).ok_or(bad("truncated Ethernet header"))?;
        let l3 = match ethertype {
            ETH_TYPE_IPV4 => L3::V4,
            ETH_TYPE_IPV6 => L3::V6,
            _ => return Err(bad("not IPv4 or IPv6")),
        };
        if want_l3.is_some_and(|w| w != l3) {
            return Err(bad("IP version differs from the GSO type"));
        }
        let proto = match l4 {
            L4::Tcp => PROTO_TCP,
            L4::Udp => PROTO_UDP,
        };
        let l4_at = match l3 {
            L3::V4 => {
                let ip = frame
                    .get(l3_at..l3_at + IPV4_MIN)
                    .ok_or(bad("truncated IPv4"))?;
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                if ip[0] >> 4 != 4 || ihl < IPV4_MIN {
                    return Err(bad("bad IPv4 version or header length"));
                }
                if ip[9] != proto {
                    return Err(bad("IPv4 protocol differs from the GSO type"));
                }
                // A fragment cannot be segmented: only the first has the L4 header.
                if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                    return Err(bad("IPv4 fragment"));
                }
                l3_at + ihl
            }
            L3::V6 => {
                let ip = frame
                    .get(l3_at..l3_at + IPV6_LEN)
                    .ok_or(bad("truncated IPv6"))?;
                if ip[0] >> 4 != 6 {
                    return Err(bad("bad IPv6 version"));
                }
                // Behind extension headers, the kernel's csum_start is the only reliable
                // pointer to the L4 header; without extension headers it is right behind.
                if ip[6] == proto {
                    l3_at + IPV6_LEN
                } else if vnet.flags.contains(VnetFlags::NEEDS_CSUM)
                    && usize::from(vnet.csum_start) > l3_at + IPV6_LEN
                {
                    usize::from(vnet.csum_start)
                } else {
                    return Err(bad("IPv6 next header differs from the GSO type"));
                }
            }
        };
        let hdr_len = match l4 {
            L4::Tcp => {
                let doff = frame.get(l4_at + 12).ok_or(bad("truncated TCP header"))? >> 4;
                let doff = usize::from(doff) * 4;
                if doff < TCP_MIN {
                    return Err(bad("TCP data offset below 5"));
                }
                l4_at + doff
            }
            L4::Udp => l4_at + UDP_LEN,
        };
        if hdr_len > frame.len() {
            return Err(bad("headers longer than the frame"));
        }
        Ok(Self(Work::Segment(Gso {
            l3,
            l3_at,
            l4,
            l4_at,
            hdr_len,
            mss: usize::from(vnet.gso_size),
            payload: frame.len() - hdr_len,
        })))
    }

    /// True when nothing is pending: the frame can be forwarded as it is.
    pub fn is_as_is(&self) -> bool {
        self.0 == Work::AsIs
    }

    /// How many frames the packet becomes (at least 1).
    pub fn segments(&self) -> usize {
        match self.0 {
            Work::AsIs | Work::Checksum { .. } => 1,
            Work::Segment(g) => g.payload.div_ceil(g.mss).max(1),
        }
    }

    /// Appends frame `i` (`0 <= i < segments()`) of `frame` to `out`, complete, with no
    /// offload pending, and returns it. `frame` must be the frame the plan was made for.
    pub fn push<'b>(
        &self,
        frame: &[u8],
        i: usize,
        out: &'b mut PacketBatch,
    ) -> Result<&'b mut Packet, OffloadError> {
        match self.0 {
            Work::AsIs => out.push(frame).map_err(|_| OffloadError::NoRoom),
            Work::Checksum { start, at } => {
                let p = out.push(frame).map_err(|_| OffloadError::NoRoom)?;
                complete_checksum(p.data_mut(), start, at);
                Ok(p)
            }
            Work::Segment(g) => {
                let from = (i * g.mss).min(g.payload);
                let to = (from + g.mss).min(g.payload);
                let payload = &frame[g.hdr_len + from..g.hdr_len + to];
                let p = out
                    .push_parts(&frame[..g.hdr_len], payload)
                    .map_err(|_| OffloadError::NoRoom)?;
                let last = to == g.payload;
                fix_segment(p.data_mut(), &g, i, from, last);
                Ok(p)
            }
        }
    }
}

/// The frames a packet whose offloads may be pending becomes on its way to the slow path
/// (a `userspace(...)` action: a packet-in), each complete: a super-frame as its segments, a
/// partial checksum completed, any other packet as it is (one frame).
///
/// Open vSwitch does both, depending on its datapath. The kernel datapath, the one
/// deployments such as an OpenStack compute node run, segments a GSO packet it sends to
/// userspace (one upcall, so one packet-in, per segment). The userspace datapath of Open
/// vSwitch 3.1 with `userspace-tso-enable=true` sends the super-frame whole: a 1 MiB TCP
/// transfer through `actions=NORMAL,controller` gave `ovs-ofctl monitor` 13 packet-ins of
/// 65226 bytes. ferrovs does what the kernel datapath does, the sound choice: a controller
/// that parses the packet or sends it back out in a packet-out gets packets as a wire
/// would carry them, never a 64 KiB frame with no virtio-net header to say its checksum is
/// unfinished.
pub fn wire_frames(frame: &[u8], vnet: VnetHdr) -> Result<Vec<Vec<u8>>, OffloadError> {
    let plan = Plan::new(frame, vnet)?;
    if plan.is_as_is() {
        return Ok(vec![frame.to_vec()]);
    }
    // Slots as large as the largest frame the plan makes, not the super-frame.
    let largest = match plan.0 {
        Work::Segment(g) => g.hdr_len + g.mss.min(g.payload),
        Work::AsIs | Work::Checksum { .. } => frame.len(),
    };
    let mut out = PacketBatch::new(plan.segments(), largest);
    for i in 0..plan.segments() {
        plan.push(frame, i, &mut out)?;
    }
    Ok(out.iter().map(|p| p.data().to_vec()).collect())
}

/// What a header rewrite changes, as far as a pending (partial) L4 checksum is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Covered {
    /// Pseudo-header fields (IP addresses): the partial sum must follow them.
    PseudoHeader,
    /// Fields the device sums itself later (ports): the partial sum must not change.
    Payload,
}

/// Runs `rewrite`, a header rewrite whose incremental checksum update is written for a
/// complete checksum, on a packet whose L4 checksum may be partial.
///
/// A partial checksum field holds the pseudo-header's sum `P`, not its complement, so the
/// update must run the other way: complementing the field before and after turns RFC 1624's
/// update of a checksum into the update of a sum. A rewrite of covered payload (ports) must
/// leave `P` alone: the field is restored afterwards, since the device sums the new ports
/// when it completes the checksum.
pub(crate) fn rewrite_with_partial(
    p: &mut Packet,
    covered: Covered,
    rewrite: impl FnOnce(&mut [u8]) -> bool,
) -> bool {
    let v = p.vnet();
    let at = usize::from(v.csum_start) + usize::from(v.csum_offset);
    if !v.flags.contains(VnetFlags::NEEDS_CSUM) || at + 2 > p.len() {
        return rewrite(p.data_mut());
    }
    let d = p.data_mut();
    let saved = [d[at], d[at + 1]];
    if covered == Covered::PseudoHeader {
        d[at] = !d[at];
        d[at + 1] = !d[at + 1];
    }
    let ok = rewrite(d);
    match covered {
        Covered::PseudoHeader => {
            d[at] = !d[at];
            d[at + 1] = !d[at + 1];
        }
        Covered::Payload => d[at..at + 2].copy_from_slice(&saved),
    }
    ok
}

/// The virtio-net header to send a super-frame with: `hdr_len` set to the frame's real
/// header length (Ethernet through TCP/UDP).
///
/// AF_PACKET reports `hdr_len` as the length of the received skb's linear part, which can be
/// the whole 64 KiB super-frame; handed back on send, it makes the kernel allocate (and copy
/// into) one large linear buffer instead of a small head and page fragments, which costs
/// more than the copy itself. Frames whose headers do not parse keep their header as it was.
pub fn tidy_hdr_len(frame: &[u8], vnet: VnetHdr) -> VnetHdr {
    match Plan::new(frame, vnet) {
        Ok(Plan(Work::Segment(g))) => VnetHdr {
            hdr_len: u16::try_from(g.hdr_len).unwrap_or(vnet.hdr_len),
            ..vnet
        },
        _ => vnet,
    }
}

/// Finishes every pending offload of `p` in place, when that needs no segmentation: a
/// partial checksum is completed. Returns false (and leaves the packet alone) for a
/// super-frame or bad offsets.
pub fn finish_checksum_in_place(p: &mut Packet) -> bool {
    match Plan::new(p.data(), p.vnet()) {
        Ok(Plan(Work::AsIs)) => true,
        Ok(Plan(Work::Checksum { start, at })) => {
            complete_checksum(p.data_mut(), start, at);
            p.set_vnet(VnetHdr::NONE);
            true
        }
        _ => false,
    }
}

/// The L3 header's offset and EtherType behind any VLAN tags.
fn l3_offset(frame: &[u8]) -> Option<(usize, u16)> {
    let mut at = MACS_LEN;
    loop {
        let ty = be16(frame, at)?;
        if VLAN_TPIDS.contains(&ty) {
            at += 4;
        } else {
            return Some((at + 2, ty));
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Writes `v` at `at`; the callers have checked that the frame holds it.
fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Completes a partial checksum: the sum from `start` to the end of the frame (the field at
/// `at` holding the pseudo-header's sum) is folded, complemented and stored at `at`.
fn complete_checksum(frame: &mut [u8], start: usize, at: usize) {
    let c = !fold(sum_words(frame.get(start..).unwrap_or(&[])));
    // A computed 0 is sent as its equivalent 0xffff: to UDP, 0 means "no checksum".
    put16(frame, at, if c == 0 { 0xffff } else { c });
}

/// Fixes the headers of one segment copied from a super-frame (see the module docs).
fn fix_segment(d: &mut [u8], g: &Gso, i: usize, offset: usize, last: bool) {
    let len = d.len();
    match g.l3 {
        L3::V4 => {
            let ihl = g.l4_at - g.l3_at;
            put16(d, g.l3_at + 2, (len - g.l3_at) as u16);
            let id = be16(d, g.l3_at + 4).unwrap_or(0).wrapping_add(i as u16);
            put16(d, g.l3_at + 4, id);
            put16(d, g.l3_at + 10, 0);
            let c = checksum::checksum(&d[g.l3_at..g.l3_at + ihl]);
            put16(d, g.l3_at + 10, c);
        }
        L3::V6 => put16(d, g.l3_at + 4, (len - g.l3_at - IPV6_LEN) as u16),
    }
    let l4_len = len - g.l4_at;
    let csum_at = match g.l4 {
        L4::Tcp => {
            let seq = u32::from_be_bytes([
                d[g.l4_at + 4],
                d[g.l4_at + 5],
                d[g.l4_at + 6],
                d[g.l4_at + 7],
            ]);
            let seq = seq.wrapping_add(offset as u32);
            d[g.l4_at + 4..g.l4_at + 8].copy_from_slice(&seq.to_be_bytes());
            let flags = &mut d[g.l4_at + 13];
            if i > 0 {
                *flags &= !TCP_CWR;
            }
            if !last {
                *flags &= !(TCP_FIN | TCP_PSH);
            }
            g.l4_at + 16
        }
        L4::Udp => {
            put16(d, g.l4_at + 4, l4_len as u16);
            g.l4_at + 6
        }
    };
    put16(d, csum_at, 0);
    let proto = match g.l4 {
        L4::Tcp => PROTO_TCP,
        L4::Udp => PROTO_UDP,
    };
    let pseudo = match g.l3 {
        L3::V4 => {
            let a = |o: usize| Ipv4Addr::new(d[o], d[o + 1], d[o + 2], d[o + 3]);
            checksum::pseudo_header_v4(a(g.l3_at + 12), a(g.l3_at + 16), proto, l4_len as u16)
        }
        L3::V6 => {
            let a = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[o..o + 16]);
                Ipv6Addr::from(b)
            };
            checksum::pseudo_header_v6(a(g.l3_at + 8), a(g.l3_at + 24), proto, l4_len as u32)
        }
    };
    let c = pseudo.add16(fold(sum_words(&d[g.l4_at..]))).checksum();
    put16(d, csum_at, if c == 0 { 0xffff } else { c });
}

/// The ones' complement sum of `data` as 16-bit big-endian words, unfolded. Reads eight
/// bytes at a time: a 32-bit word is congruent to the sum of its two halves modulo 0xffff,
/// so summing 32-bit halves of each 64-bit load gives the same folded result, at a quarter of
/// the additions (this runs over every byte of a 64 KiB super-frame).
fn sum_words(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        // Each addition is below 2^33; 64 KiB of them stay far below 2^64.
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for c in &mut pairs {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds an unfolded sum to 16 bits (not complemented).
fn fold(sum: u64) -> u16 {
    Sum::new()
        .add32((sum >> 32) as u32)
        .add32(sum as u32)
        .fold()
}

#[cfg(test)]
mod tests;
