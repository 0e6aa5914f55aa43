//! The frame arithmetic of native UDP tunnels' segmentation offload: joining a native VXLAN
//! or Geneve tunnel's outer packets into one `GSO_UDP_L4` frame on send, and the checks a
//! received offloaded frame passes before it is split. Why and when is the parent module's
//! "Runs of outer packets" section; this module only knows bytes.
//!
//! A run is a frame whose outer headers (untagged Ethernet, IPv4 without options, UDP) are
//! those of its first datagram, followed by the datagrams' UDP payloads back to back (each a
//! VXLAN or Geneve header and one inner frame), with a virtio-net header that asks for UDP
//! segmentation: `gso_size` the first payload's length, `NEEDS_CSUM` with the checksum
//! starting at the UDP header, the UDP checksum field holding the (uncomplemented) sum of
//! the pseudo-header over the whole UDP length, which is what Linux's UDP segmentation
//! starts from when it computes each datagram's checksum. The IPv4 total length, header
//! checksum and UDP length describe the whole frame; Linux rewrites them per datagram.

use fvs_netdev::{GsoType, Packet, VnetFlags, VnetHdr};
use fvs_packet::checksum;
use std::net::Ipv4Addr;

use super::RouteMtu;

const ETH_TYPE_IPV4: [u8; 2] = [0x08, 0x00];
const IP_AT: usize = 14;
const IPV4_LEN: usize = 20;
const UDP_AT: usize = IP_AT + IPV4_LEN;
const UDP_LEN: usize = 8;
/// Ethernet, IPv4 without options and UDP: the headers a run carries once.
const HEADERS: usize = UDP_AT + UDP_LEN;
/// The UDP checksum's offset in the UDP header.
const UDP_CSUM: u16 = 6;
const PROTO_UDP: u8 = 17;
/// IPv4 "don't fragment": the only fragment bit a datagram of a run may carry.
const IPV4_DF: u16 = 0x4000;
/// The largest IPv4 datagram, which a run may not outgrow before segmentation.
const IPV4_MAX: usize = 65_535;
/// Most datagrams one run carries: Linux's limit for a UDP segmentation request
/// (`UDP_MAX_SEGMENTS` on the kernels ferrovs runs on).
pub(crate) const MAX_SEGMENTS: usize = 64;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// The UDP payload length of an outer frame a run can carry: untagged Ethernet, a 20-byte
/// IPv4 header with no fragment bits but DF, UDP whose length agrees with the IPv4 header's
/// and the frame's, a non-empty payload. `None` for anything else.
fn udp_payload(frame: &[u8]) -> Option<usize> {
    let ip = frame.get(IP_AT..IP_AT + IPV4_LEN)?;
    if frame.get(12..14)? != ETH_TYPE_IPV4 || ip[0] != 0x45 || ip[9] != PROTO_UDP {
        return None;
    }
    if be16(ip, 6) & !IPV4_DF != 0 {
        return None;
    }
    let total = usize::from(be16(ip, 2));
    let udp_len = usize::from(be16(frame.get(..HEADERS)?, UDP_AT + 4));
    if IP_AT + total != frame.len() || udp_len + IPV4_LEN != total || udp_len <= UDP_LEN {
        return None;
    }
    Some(udp_len - UDP_LEN)
}

/// Whether two outer frames belong in one run as far as their headers go: the same
/// Ethernet header, TOS, DF bit, TTL, addresses and UDP ports (lengths, identification and
/// checksums may differ: segmentation writes them per datagram).
fn same_headers(a: &[u8], b: &[u8]) -> bool {
    let eq = |from: usize, to: usize| a.get(from..to) == b.get(from..to) && a.len() >= to;
    eq(0, IP_AT + 2) && eq(IP_AT + 6, IP_AT + 10) && eq(IP_AT + 12, UDP_AT + 4)
}

/// Whether `seg`, one finished outer frame, may join `run`, the frame queued right before it
/// on the same port (a single outer frame, or already a run): equal headers
/// ([`same_headers`]); a payload no longer than the run's segment size, where every datagram
/// so far had exactly that size (a shorter one ends a run, as Linux cuts all but the last
/// datagram to `gso_size`); each datagram within `mtu`; at most [`MAX_SEGMENTS`] datagrams
/// and a 64 KiB IPv4 datagram in all.
pub(crate) fn can_join(run: &Packet, seg: &Packet, mtu: RouteMtu) -> bool {
    if !seg.vnet().is_none() {
        return false;
    }
    let (r, s) = (run.data(), seg.data());
    let (Some(have), Some(add)) = (udp_payload(r), udp_payload(s)) else {
        return false;
    };
    let v = run.vnet();
    let size = if v.is_none() {
        have
    } else if v.gso_type.kind() == GsoType::UDP_L4 && v.gso_size != 0 {
        usize::from(v.gso_size)
    } else {
        return false;
    };
    let fits_mtu = u32::try_from(IPV4_LEN + UDP_LEN + size).is_ok_and(|l| l <= mtu.0);
    have % size == 0
        && add <= size
        && have / size < MAX_SEGMENTS
        && fits_mtu
        && r.len() - IP_AT + add <= IPV4_MAX
        && same_headers(r, s)
        && s.len() == HEADERS + add
}

/// Appends `seg`'s UDP payload to `run` and makes `run` a `GSO_UDP_L4` frame (see the module
/// docs); false, with `run` unchanged, when its buffer has no room. The caller checked
/// [`can_join`].
pub(crate) fn join(run: &mut Packet, seg: &[u8]) -> bool {
    let Some(payload) = seg.get(HEADERS..) else {
        return false;
    };
    let v = run.vnet();
    let size = if v.is_none() {
        run.len().saturating_sub(HEADERS)
    } else {
        usize::from(v.gso_size)
    };
    let Ok(gso_size) = u16::try_from(size) else {
        return false;
    };
    if !run.append(payload) {
        return false;
    }
    let d = run.data_mut();
    let total = d.len() - IP_AT;
    let udp_len = total - IPV4_LEN;
    // Both below 64 KiB: `can_join` bounded the IPv4 datagram.
    put16(d, IP_AT + 2, total as u16);
    put16(d, IP_AT + 10, 0);
    let c = checksum::checksum(&d[IP_AT..UDP_AT]);
    put16(d, IP_AT + 10, c);
    put16(d, UDP_AT + 4, udp_len as u16);
    let addr = |at: usize| Ipv4Addr::new(d[at], d[at + 1], d[at + 2], d[at + 3]);
    let pseudo = checksum::pseudo_header_v4(
        addr(IP_AT + 12),
        addr(IP_AT + 16),
        PROTO_UDP,
        udp_len as u16,
    );
    put16(d, UDP_AT + usize::from(UDP_CSUM), pseudo.fold());
    run.set_vnet(VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType::UDP_L4,
        hdr_len: HEADERS as u16,
        gso_size,
        csum_start: UDP_AT as u16,
        csum_offset: UDP_CSUM,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_netdev::PacketBatch;

    const MTU: RouteMtu = RouteMtu(1500);

    /// An outer VXLAN-like frame: 42 bytes of headers, then `payload` bytes of `fill`.
    fn outer(payload: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![fill; HEADERS + payload];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ETH_TYPE_IPV4);
        let ip = &mut f[IP_AT..UDP_AT];
        ip.fill(0);
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((IPV4_LEN + UDP_LEN + payload) as u16).to_be_bytes());
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = PROTO_UDP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let u = &mut f[UDP_AT..HEADERS];
        u[..4].copy_from_slice(&[0x9c, 0x40, 0x12, 0xb5]);
        u[4..6].copy_from_slice(&((UDP_LEN + payload) as u16).to_be_bytes());
        u[6..8].fill(0);
        f
    }

    fn batch_of(frames: &[Vec<u8>]) -> PacketBatch {
        let mut b = PacketBatch::new(frames.len(), fvs_netdev::batch::GSO_FRAME_CAPACITY);
        for f in frames {
            assert!(b.push(f).is_ok());
        }
        b
    }

    #[test]
    fn equal_datagrams_join_and_a_shorter_one_ends_the_run() {
        let mut b = batch_of(&[outer(1000, 1), outer(1000, 2), outer(600, 3), outer(500, 4)]);
        let [run, rest @ ..] = b.packets_mut() else {
            panic!("four packets")
        };
        for seg in &rest[..2] {
            assert!(can_join(run, seg, MTU));
            assert!(join(run, seg.data()));
        }
        assert!(
            !can_join(run, &rest[2], MTU),
            "the run ended with a short datagram"
        );
        let d = run.data();
        assert_eq!(d.len(), HEADERS + 2600);
        assert_eq!(usize::from(be16(d, IP_AT + 2)), IPV4_LEN + UDP_LEN + 2600);
        assert_eq!(usize::from(be16(d, UDP_AT + 4)), UDP_LEN + 2600);
        assert!(checksum::verifies(&d[IP_AT..UDP_AT]));
        assert_eq!(&d[HEADERS + 1000..HEADERS + 1002], &[2, 2]);
        assert_eq!(&d[HEADERS + 2000..HEADERS + 2002], &[3, 3]);
        let v = run.vnet();
        assert_eq!(v.gso_type, GsoType::UDP_L4);
        assert_eq!((v.gso_size, v.hdr_len), (1000, 42));
        assert_eq!((v.csum_start, v.csum_offset), (34, 6));
        let pseudo = checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            PROTO_UDP,
            (UDP_LEN + 2600) as u16,
        );
        assert_eq!(be16(d, UDP_AT + 6), pseudo.fold());
    }

    #[test]
    fn datagrams_that_differ_or_do_not_fit_stay_apart() {
        let mut other_port = outer(1000, 2);
        other_port[UDP_AT] ^= 1;
        let mut fragment = outer(1000, 2);
        fragment[IP_AT + 6] = 0x20;
        let frames = [
            outer(1000, 1),
            outer(1200, 2),
            other_port,
            fragment,
            outer(1000, 5),
        ];
        let b = batch_of(&frames);
        let p = b.packets();
        assert!(!can_join(&p[0], &p[1], MTU), "longer than the run's size");
        assert!(!can_join(&p[0], &p[2], MTU), "another UDP source port");
        assert!(!can_join(&p[0], &p[3], MTU), "a fragment");
        assert!(can_join(&p[0], &p[4], MTU));
        assert!(
            !can_join(&p[0], &p[4], RouteMtu(1000)),
            "a datagram over the route's MTU"
        );
        assert!(!can_join(&p[0], &p[4], RouteMtu(0)), "MTU unknown");
    }

    #[test]
    fn a_run_stops_at_the_segment_limit() {
        let frames: Vec<Vec<u8>> = (0..=MAX_SEGMENTS).map(|_| outer(100, 7)).collect();
        let mut b = batch_of(&frames);
        let [run, rest @ ..] = b.packets_mut() else {
            panic!("packets")
        };
        let joined = rest
            .iter()
            .take_while(|s| can_join(run, s, MTU) && join(run, s.data()))
            .count();
        assert_eq!(joined, MAX_SEGMENTS - 1);
    }
}
