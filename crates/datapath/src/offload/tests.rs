//! Software segmentation and checksum completion, checked from scratch by fvs-packet's plain
//! checksum and independently by `tcpdump -vv` reading the segments from a pcap file.

use super::*;
use fvs_netdev::pcap::PcapWriter;
use fvs_test_support::{TempDir, require_tool};
use proptest::prelude::*;
use std::time::Duration;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [10, 0, 0, 2];
const SEQ: u32 = 0xfff0_0000;
const IP_ID: u16 = 0xfffe;

/// A payload that tells its bytes apart.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn ethernet(vlan: Option<u16>, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&MAC_A);
    if let Some(tci) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// A TCP header with a timestamp option (32 bytes), checksum field zero.
fn tcp_header(flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 32];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5201u16.to_be_bytes());
    t[4..8].copy_from_slice(&SEQ.to_be_bytes());
    t[8..12].copy_from_slice(&7u32.to_be_bytes());
    t[12] = 8 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&512u16.to_be_bytes());
    // NOP, NOP, timestamps.
    t[20..24].copy_from_slice(&[1, 1, 8, 10]);
    t[24..28].copy_from_slice(&1234u32.to_be_bytes());
    t[28..32].copy_from_slice(&5678u32.to_be_bytes());
    t
}

/// What Linux hands over for a partial checksum: the pseudo-header's folded sum, not
/// complemented, in the checksum field.
fn partial(pseudo: Sum) -> u16 {
    pseudo.fold()
}

/// An IPv4 TCP super-frame as a TSO sender gives it, with its virtio-net header.
fn tcp4_superframe(vlan: Option<u16>, flags: u8, n: usize, mss: u16) -> (Vec<u8>, VnetHdr) {
    let mut f = ethernet(vlan, ETH_TYPE_IPV4);
    let l3 = f.len();
    let l4_len = 32 + n;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_TCP, 0, 0];
    ip[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&IP_ID.to_be_bytes());
    ip.extend_from_slice(&V4_SRC);
    ip.extend_from_slice(&V4_DST);
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let l4 = f.len();
    let mut tcp = tcp_header(flags);
    let pseudo = checksum::pseudo_header_v4(V4_SRC.into(), V4_DST.into(), PROTO_TCP, l4_len as u16);
    tcp[16..18].copy_from_slice(&partial(pseudo).to_be_bytes());
    f.extend_from_slice(&tcp);
    f.extend_from_slice(&payload(n));
    let vnet = VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType::TCPV4,
        // What AF_PACKET reports: the skb's linear part, here more than the headers.
        hdr_len: (l4 + 32 + 100) as u16,
        gso_size: mss,
        csum_start: l4 as u16,
        csum_offset: 16,
    };
    assert_eq!(l3 + 20, l4);
    (f, vnet)
}

fn v6(last: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(last))
}

/// An IPv6 TCP super-frame.
fn tcp6_superframe(vlan: Option<u16>, flags: u8, n: usize, mss: u16) -> (Vec<u8>, VnetHdr) {
    let mut f = ethernet(vlan, ETH_TYPE_IPV6);
    let l4_len = 32 + n;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4_len as u16).to_be_bytes());
    f.extend_from_slice(&[PROTO_TCP, 64]);
    f.extend_from_slice(&v6(1).octets());
    f.extend_from_slice(&v6(2).octets());
    let l4 = f.len();
    let mut tcp = tcp_header(flags);
    let pseudo = checksum::pseudo_header_v6(v6(1), v6(2), PROTO_TCP, l4_len as u32);
    tcp[16..18].copy_from_slice(&partial(pseudo).to_be_bytes());
    f.extend_from_slice(&tcp);
    f.extend_from_slice(&payload(n));
    let vnet = VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType(GsoType::TCPV6.0 | GsoType::ECN_BIT),
        hdr_len: l4 as u16 + 32,
        gso_size: mss,
        csum_start: l4 as u16,
        csum_offset: 16,
    };
    (f, vnet)
}

/// An IPv4 UDP frame of `n` payload bytes with a partial checksum; `gso` asks for USO.
fn udp4(n: usize, gso: Option<u16>) -> (Vec<u8>, VnetHdr) {
    let mut f = ethernet(None, ETH_TYPE_IPV4);
    let l4_len = 8 + n;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, PROTO_UDP, 0, 0];
    ip[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&IP_ID.to_be_bytes());
    ip.extend_from_slice(&V4_SRC);
    ip.extend_from_slice(&V4_DST);
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let pseudo = checksum::pseudo_header_v4(V4_SRC.into(), V4_DST.into(), PROTO_UDP, l4_len as u16);
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&(l4_len as u16).to_be_bytes());
    f.extend_from_slice(&partial(pseudo).to_be_bytes());
    f.extend_from_slice(&payload(n));
    let vnet = VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: if gso.is_some() {
            GsoType::UDP_L4
        } else {
            GsoType::NONE
        },
        hdr_len: 42,
        gso_size: gso.unwrap_or(0),
        csum_start: 34,
        csum_offset: 6,
    };
    (f, vnet)
}

/// Segments `frame` into a fresh batch and returns the frames.
fn segment(frame: &[u8], vnet: VnetHdr) -> Vec<Vec<u8>> {
    let plan = Plan::new(frame, vnet).expect("plan");
    let mut out = PacketBatch::new(plan.segments(), 9216);
    for i in 0..plan.segments() {
        let p = plan.push(frame, i, &mut out).expect("segment fits");
        assert!(p.vnet().is_none(), "segments carry no offload");
    }
    out.iter().map(|p| p.data().to_vec()).collect()
}

/// Checks a segment's IP and L4 checksums from scratch; returns (l4 offset, l4 bytes).
fn assert_checksums(seg: &[u8], l3: usize) -> usize {
    let v4 = seg[l3] >> 4 == 4;
    let (l4, proto, pseudo) = if v4 {
        let ip = &seg[l3..l3 + 20];
        assert!(checksum::verifies(ip), "IPv4 header checksum");
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            seg.len() - l3
        );
        let l4 = l3 + 20;
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let len = (seg.len() - l4) as u16;
        (l4, ip[9], checksum::pseudo_header_v4(src, dst, ip[9], len))
    } else {
        let ip = &seg[l3..l3 + 40];
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[4], ip[5]])),
            seg.len() - l3 - 40
        );
        let l4 = l3 + 40;
        let len = (seg.len() - l4) as u32;
        (
            l4,
            ip[6],
            checksum::pseudo_header_v6(v6(1), v6(2), ip[6], len),
        )
    };
    assert_eq!(
        pseudo.add_bytes(&seg[l4..]).fold(),
        0xffff,
        "L4 (protocol {proto}) checksum of a {}-byte segment",
        seg.len()
    );
    l4
}

fn tcp_seq(seg: &[u8], l4: usize) -> u32 {
    u32::from_be_bytes([seg[l4 + 4], seg[l4 + 5], seg[l4 + 6], seg[l4 + 7]])
}

/// Writes frames to a pcap file and returns `tcpdump -vv -nn -r`'s text.
fn tcpdump(frames: &[Vec<u8>]) -> String {
    let tool = require_tool("tcpdump");
    let dir = TempDir::new("offload");
    let path = dir.path().join("segments.pcap");
    let mut w = PcapWriter::create(&path).expect("pcap file");
    for f in frames {
        w.write(Duration::ZERO, f).expect("pcap write");
    }
    w.flush().expect("pcap flush");
    drop(w);
    let out = tool
        .command()
        .args(["-vv", "-nn", "-e", "-r"])
        .arg(&path)
        .output()
        .expect("tcpdump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tcpdump's verdicts: every TCP checksum "(correct)", every UDP one "[udp sum ok]", no
/// IPv4 "bad cksum".
fn assert_tcpdump_happy(text: &str, segments: usize) {
    let good = text.matches("(correct)").count() + text.matches("[udp sum ok]").count();
    assert_eq!(good, segments, "{text}");
    assert!(!text.contains("incorrect"), "{text}");
    assert!(!text.contains("bad cksum"), "{text}");
}

#[test]
fn tcp4_superframe_becomes_valid_segments() {
    let flags = TCP_CWR | TCP_PSH | TCP_FIN | 0x10;
    let n = 3 * 1448 + 500;
    let (f, vnet) = tcp4_superframe(None, flags, n, 1448);
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 4);
    let mut data = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let l4 = assert_checksums(s, 14);
        let id = u16::from_be_bytes([s[18], s[19]]);
        assert_eq!(
            id,
            IP_ID.wrapping_add(i as u16),
            "IP ids count up (and wrap)"
        );
        assert_eq!(tcp_seq(s, l4), SEQ.wrapping_add((i * 1448) as u32));
        let last = i == segs.len() - 1;
        let f = s[l4 + 13];
        assert_eq!(f & TCP_CWR != 0, i == 0, "CWR only on the first");
        assert_eq!(
            f & (TCP_FIN | TCP_PSH),
            if last { TCP_FIN | TCP_PSH } else { 0 }
        );
        assert_eq!(f & 0x10, 0x10, "ACK on every segment");
        assert_eq!(s.len(), 14 + 20 + 32 + if last { 500 } else { 1448 });
        data.extend_from_slice(&s[l4 + 32..]);
    }
    assert_eq!(data, payload(n), "the payload, in order, nothing lost");
    let text = tcpdump(&segs);
    assert_tcpdump_happy(&text, 4);
    assert!(text.contains("seq 4293918720:4293920168"), "{text}");
    assert!(text.contains("Flags [FP.]"), "{text}");
}

#[test]
fn tcp6_superframe_behind_a_vlan_tag_becomes_valid_segments() {
    let n = 5 * 1000;
    let (f, vnet) = tcp6_superframe(Some(0x0064), 0x18, n, 1000);
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 5);
    for (i, s) in segs.iter().enumerate() {
        let l4 = assert_checksums(s, 18);
        assert_eq!(tcp_seq(s, l4), SEQ.wrapping_add((i * 1000) as u32));
        assert_eq!(s[l4 + 13] & TCP_PSH != 0, i == 4, "PSH only on the last");
    }
    let text = tcpdump(&segs);
    assert_tcpdump_happy(&text, 5);
    assert_eq!(text.matches("vlan 100").count(), 5, "{text}");
}

#[test]
fn udp_segmentation_gives_whole_datagrams() {
    let (f, vnet) = udp4(2500, Some(1000));
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        let l4 = assert_checksums(s, 14);
        let want = if i == 2 { 500 } else { 1000 };
        assert_eq!(
            usize::from(u16::from_be_bytes([s[l4 + 4], s[l4 + 5]])),
            8 + want
        );
    }
    let text = tcpdump(&segs);
    assert_tcpdump_happy(&text, 3);
}

#[test]
fn partial_checksum_is_completed_without_segmenting() {
    let (f, vnet) = udp4(333, None);
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 1);
    assert_checksums(&segs[0], 14);
    assert_eq!(segs[0].len(), f.len());
    assert_tcpdump_happy(&tcpdump(&segs), 1);

    let (f, vnet) = tcp4_superframe(None, 0x18, 100, 1448);
    let vnet = VnetHdr {
        gso_type: GsoType::NONE,
        gso_size: 0,
        ..vnet
    };
    let mut p = Packet::new(2048);
    p.set_frame(&f).expect("fits");
    p.set_vnet(vnet);
    assert!(finish_checksum_in_place(&mut p));
    assert!(p.vnet().is_none());
    assert_checksums(p.data(), 14);
}

#[test]
fn a_superframe_shorter_than_one_segment_is_one_frame() {
    let (f, vnet) = tcp4_superframe(None, 0x18, 10, 1448);
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 1);
    assert_checksums(&segs[0], 14);
    let (f, vnet) = tcp4_superframe(None, 0x11, 0, 1448);
    let segs = segment(&f, vnet);
    assert_eq!(segs.len(), 1, "a bare FIN still goes out");
    assert_eq!(segs[0][14 + 20 + 13] & TCP_FIN, TCP_FIN);
}

#[test]
fn frames_that_cannot_be_finished_are_refused() {
    let (f, vnet) = tcp4_superframe(None, 0x18, 3000, 1448);
    let ufo = VnetHdr {
        gso_type: GsoType::UDP,
        ..vnet
    };
    assert_eq!(Plan::new(&f, ufo), Err(OffloadError::UnsupportedGso(3)));
    let zero = VnetHdr {
        gso_size: 0,
        ..vnet
    };
    assert_eq!(Plan::new(&f, zero), Err(OffloadError::ZeroGsoSize));
    let mut bad_doff = f.clone();
    bad_doff[14 + 20 + 12] = 4 << 4;
    assert!(matches!(
        Plan::new(&bad_doff, vnet),
        Err(OffloadError::BadHeaders(_))
    ));
    let mut bad_ihl = f.clone();
    bad_ihl[14] = 0x43;
    assert!(Plan::new(&bad_ihl, vnet).is_err());
    assert!(Plan::new(&f[..40], vnet).is_err(), "truncated TCP header");
    let v6_type = VnetHdr {
        gso_type: GsoType::TCPV6,
        ..vnet
    };
    assert!(Plan::new(&f, v6_type).is_err(), "IPv4 frame, TCPv6 GSO");
    let csum_out = VnetHdr {
        gso_type: GsoType::NONE,
        csum_start: f.len() as u16 - 1,
        ..vnet
    };
    assert!(matches!(
        Plan::new(&f, csum_out),
        Err(OffloadError::BadChecksumOffsets { .. })
    ));
    // A segment larger than the output buffer is refused, not cut.
    let plan = Plan::new(&f, vnet).expect("plan");
    let mut small = PacketBatch::new(1, 100);
    assert!(matches!(
        plan.push(&f, 0, &mut small),
        Err(OffloadError::NoRoom)
    ));
}

#[test]
fn hdr_len_is_tidied_to_the_real_headers() {
    let (f, vnet) = tcp4_superframe(Some(7), 0x10, 5000, 1448);
    assert_eq!(
        vnet.hdr_len,
        14 + 4 + 20 + 32 + 100,
        "as AF_PACKET reports it"
    );
    let tidy = tidy_hdr_len(&f, vnet);
    assert_eq!(tidy.hdr_len, 14 + 4 + 20 + 32);
    assert_eq!(
        VnetHdr { hdr_len: 0, ..tidy },
        VnetHdr { hdr_len: 0, ..vnet }
    );
    let csum_only = VnetHdr {
        gso_type: GsoType::NONE,
        ..vnet
    };
    assert_eq!(tidy_hdr_len(&f, csum_only), csum_only);
}

#[test]
fn fast_sum_matches_the_plain_one() {
    for n in [0, 1, 2, 7, 8, 9, 15, 16, 17, 1501] {
        let d = payload(n);
        assert_eq!(
            fold(sum_words(&d)),
            Sum::new().add_bytes(&d).fold(),
            "{n} bytes"
        );
    }
}

proptest! {
    /// Arbitrary bytes behind an arbitrary virtio-net header never panic, and whatever is
    /// produced fits in the frame's own bytes plus one header copy per segment.
    #[test]
    fn arbitrary_input_never_panics(
        frame in proptest::collection::vec(any::<u8>(), 0..400),
        flags in 0u8..4,
        gso_type in prop_oneof![Just(0u8), Just(1), Just(3), Just(4), Just(5), Just(0x81), any::<u8>()],
        gso_size in prop_oneof![Just(0u16), 1u16..64, any::<u16>()],
        csum_start in 0u16..420,
        csum_offset in 0u16..40,
    ) {
        let vnet = VnetHdr {
            flags: VnetFlags(flags),
            gso_type: GsoType(gso_type),
            hdr_len: 0,
            gso_size,
            csum_start,
            csum_offset,
        };
        if let Ok(plan) = Plan::new(&frame, vnet) {
            let n = plan.segments().min(64);
            let mut out = PacketBatch::new(n, 512);
            for i in 0..n {
                let p = plan.push(&frame, i, &mut out);
                prop_assert!(p.is_ok());
            }
        }
    }
}
