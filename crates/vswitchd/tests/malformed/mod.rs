//! Malformed frames shared by the malformed-frame tests: every kind a switch port may be
//! handed, each with a name for failure messages, and a good frame to keep between them.
#![allow(dead_code, unreachable_pub)]

use fvs_test_support::frames::ipv4_checksum;

pub const SRC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x01];
pub const BCAST: [u8; 6] = [0xff; 6];

pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = BCAST.to_vec();
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 header (20 bytes unless `ihl` says otherwise in its first byte) with `proto`,
/// total length `total`, then `rest`.
pub fn ipv4(vihl: u8, total: u16, proto: u8, rest: &[u8]) -> Vec<u8> {
    let mut ip = vec![
        vihl, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(rest);
    eth(0x0800, &ip)
}

/// A good UDP datagram: what must keep flowing.
pub fn good(n: u8) -> Vec<u8> {
    let udp = [0x10, 0x00, 0x20, 0x00, 0x00, 0x0c, 0x00, 0x00, n, n, n, n];
    ipv4(0x45, 32, 17, &udp)
}

pub fn tcp(doff: u8, len: usize) -> Vec<u8> {
    let mut t = vec![0u8; len];
    if len > 12 {
        t[12] = doff << 4;
    }
    if len > 13 {
        t[13] = 0x02;
    }
    t
}

/// The malformed frames, each with a name for failure messages.
pub fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("1-byte runt", vec![0xff]),
        ("6-byte runt", BCAST.to_vec()),
        ("13-byte runt", eth(0x0800, &[])[..13].to_vec()),
        ("bare Ethernet header", eth(0x0800, &[])),
        ("IPv4 cut at 10 bytes", eth(0x0800, &[0x45; 10])),
        ("IPv4 IHL 3", ipv4(0x43, 40, 17, &[0; 20])),
        ("IPv4 IHL 15 beyond the frame", ipv4(0x4f, 40, 17, &[0; 10])),
        (
            "IPv4 version 6 in an IPv4 frame",
            ipv4(0x65, 40, 17, &[0; 20]),
        ),
        (
            "IPv4 total length beyond the frame",
            ipv4(0x45, 1400, 17, &[0; 20]),
        ),
        (
            "IPv4 total length below its header",
            ipv4(0x45, 10, 17, &[0; 20]),
        ),
        ("TCP data offset 2", ipv4(0x45, 40, 6, &tcp(2, 20))),
        (
            "TCP data offset 15 beyond the segment",
            ipv4(0x45, 40, 6, &tcp(15, 20)),
        ),
        ("TCP header cut at 5 bytes", ipv4(0x45, 25, 6, &tcp(5, 5))),
        (
            "UDP header cut at 4 bytes",
            ipv4(0x45, 24, 17, &[0x10, 0, 0x20, 0]),
        ),
        ("ICMP header cut at 1 byte", ipv4(0x45, 21, 1, &[8])),
        ("IPv4 later fragment", {
            let mut f = ipv4(0x45, 28, 17, &[0; 8]);
            f[20] = 0x00;
            f[21] = 0x10;
            f
        }),
        ("IPv6 cut at 30 bytes", eth(0x86dd, &[0x60; 30])),
        ("IPv6 payload length beyond the frame", {
            let mut h = vec![0x60, 0, 0, 0, 0x05, 0xdc, 17, 64];
            h.extend_from_slice(&[0xfd; 32]);
            h.extend_from_slice(&[0; 8]);
            eth(0x86dd, &h)
        }),
        ("IPv6 hop-by-hop header running off the end", {
            let mut h = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
            h.extend_from_slice(&[0xfd; 32]);
            h.extend_from_slice(&[17, 200, 0, 0, 0, 0, 0, 0]);
            eth(0x86dd, &h)
        }),
        (
            "ARP cut at 10 bytes",
            eth(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1, 0xfa, 0x16]),
        ),
        ("VLAN tag cut in half", eth(0x8100, &[0x00])),
        ("VLAN tag with nothing behind", eth(0x8100, &[0x00, 0x05])),
        (
            "802.1ad outer tag, inner tag cut",
            eth(0x88a8, &[0x00, 0x05, 0x81, 0x00, 0x00]),
        ),
        ("five stacked VLAN tags", {
            let mut p = Vec::new();
            for _ in 0..4 {
                p.extend_from_slice(&[0x00, 0x05, 0x81, 0x00]);
            }
            p.extend_from_slice(&[0x00, 0x05, 0x08, 0x00]);
            p.extend_from_slice(&good(9)[14..]);
            eth(0x8100, &p)
        }),
        ("VLAN-tagged IPv4 with IHL 2", {
            let mut p = vec![0x00, 0x05, 0x08, 0x00];
            p.extend_from_slice(&ipv4(0x42, 40, 6, &[0; 20])[14..]);
            eth(0x8100, &p)
        }),
        ("jumbo frame", {
            let payload = vec![0x5a; 9000 - 28];
            let mut udp = vec![0x10, 0, 0x20, 0];
            udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]);
            udp.extend_from_slice(&payload);
            ipv4(0x45, 9000, 17, &udp)
        }),
    ];
    // A frame of all zero bytes, and of all ones, as long as a minimum frame.
    v.push(("60 zero bytes", vec![0; 60]));
    v.push(("60 bytes of 0xff", vec![0xff; 60]));
    v
}
