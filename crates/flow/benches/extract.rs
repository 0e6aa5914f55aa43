//! Flow extraction throughput: frames per second for the frames a switch sees most.
//!
//! `tcp4_64b` is a minimal TCP/IPv4 frame, `vlan_tcp4` the same with an 802.1Q tag, and
//! `gre_inner` extracts the inner frame of a GRE-encapsulated one after decapsulation (as
//! br-tun does for traffic from another host).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fvs_flow::PortNo;
use fvs_flow::extract::extract;
use fvs_packet::ethernet::{EtherType, EthernetRepr, MacAddr};
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv4::Ipv4Repr;
use fvs_packet::tcp::{TcpFlags, TcpRepr};
use fvs_packet::tunnel::{self, Encap, TunnelPorts, TunnelProtocol};
use fvs_packet::vlan::{Tci, VlanRepr};

fn tcp_frame(vlan: bool) -> Vec<u8> {
    let tag = if vlan { 4 } else { 0 };
    let mut f = vec![0u8; 14 + tag + 20 + 20];
    EthernetRepr {
        dst: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]),
        src: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]),
        ethertype: if vlan {
            EtherType::Vlan
        } else {
            EtherType::Ipv4
        },
    }
    .emit(&mut f);
    if vlan {
        VlanRepr {
            tci: Tci::new(0, false, 1),
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut f[14..]);
    }
    Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol: IpProtocol::Tcp,
        tos: 0,
        ttl: 64,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: vec![],
        payload_len: 20,
    }
    .emit(&mut f[14 + tag..]);
    TcpRepr {
        src_port: 43210,
        dst_port: 80,
        seq: 1,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: vec![],
    }
    .emit(&mut f[34 + tag..]);
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(1));
    let tcp = tcp_frame(false);
    g.bench_function("tcp4_64b", |b| {
        b.iter(|| extract(black_box(&tcp), PortNo(1), None));
    });
    let tagged = tcp_frame(true);
    g.bench_function("vlan_tcp4", |b| {
        b.iter(|| extract(black_box(&tagged), PortNo(1), None));
    });
    let outer = tunnel::encapsulate(
        &Encap::new(
            TunnelProtocol::Gre,
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 1, 31),
            Ipv4Addr::new(10, 0, 1, 21),
            Some(1),
        ),
        &tcp,
    )
    .expect("a small frame fits in a tunnel");
    g.bench_function("gre_inner", |b| {
        b.iter(|| {
            let d = tunnel::decapsulate(black_box(&outer), TunnelPorts::default())
                .expect("the frame was built by encapsulate");
            extract(d.inner, PortNo(3), Some(&d.metadata))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
