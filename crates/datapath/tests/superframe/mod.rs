//! A TCP super-frame as a TSO sender hands it over, a check of finished segments, and the
//! dummy ports that carry them: shared by the offload and native-tunnel tests.

use fvs_datapath::Datapath;
use fvs_datapath::port::PortKind;
use fvs_netdev::dummy::{Dummy, DummyHandle};
use fvs_netdev::{GsoType, Netdev, VnetFlags, VnetHdr};
use fvs_packet::checksum;
use fvs_pipeline::dpif::DpPort;
use std::net::Ipv4Addr;

pub(crate) const MSS: usize = 1448;
pub(crate) const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(crate) const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The headers in front of the TCP payload of a super-frame and of each of its segments:
/// Ethernet, IPv4 and TCP, without options.
pub(crate) const HEADERS: usize = 14 + 20 + 20;

/// Adds dummy port `no` named `name` to `dp`; with `vnet` it hands over (and takes) frames
/// with virtio-net headers, such as TSO super-frames. Its MTU of 9000 leaves room for the
/// outer headers of encapsulated full-sized segments.
pub(crate) fn add_dummy(dp: &mut Datapath, no: DpPort, name: &str, vnet: bool) -> DummyHandle {
    let (mut d, h) = Dummy::new(name);
    d.set_vnet_hdr(vnet);
    d.set_mtu(9000).expect("dummy takes any MTU");
    dp.add_port(no, name, PortKind::Netdev(Box::new(d)))
        .expect("free number");
    h
}

/// An IPv4 TCP super-frame of `n` payload bytes as a TSO sender hands it over: the TCP
/// checksum field holds the pseudo-header's sum only.
pub(crate) fn superframe(n: usize) -> (Vec<u8>, VnetHdr) {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let l4_len = 20 + n;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    ip.extend_from_slice(&SRC.octets());
    ip.extend_from_slice(&DST.octets());
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;
    let pseudo = checksum::pseudo_header_v4(SRC, DST, 6, l4_len as u16);
    tcp[16..18].copy_from_slice(&pseudo.fold().to_be_bytes());
    f.extend_from_slice(&tcp);
    f.extend((0..n).map(|i| (i % 253) as u8));
    let vnet = VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType::TCPV4,
        hdr_len: HEADERS as u16,
        gso_size: MSS as u16,
        csum_start: 34,
        csum_offset: 16,
    };
    (f, vnet)
}

/// True when an Ethernet/IPv4/TCP frame's IP and TCP checksums verify from scratch.
pub(crate) fn valid_tcp4(f: &[u8]) -> bool {
    let ip = &f[14..34];
    let l4 = &f[34..];
    let pseudo = checksum::pseudo_header_v4(SRC, DST, 6, l4.len() as u16);
    checksum::verifies(ip)
        && usize::from(u16::from_be_bytes([ip[2], ip[3]])) == f.len() - 14
        && pseudo.add_bytes(l4).fold() == 0xffff
}

/// The TCP payload of a super-frame or of one of its segments.
pub(crate) fn payload(frame: &[u8]) -> &[u8] {
    &frame[HEADERS..]
}

/// The payloads of `segments` one after another: a super-frame's payload when they are its
/// segments, in order.
pub(crate) fn joined_payloads<'a>(segments: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    segments.into_iter().flat_map(payload).copied().collect()
}
