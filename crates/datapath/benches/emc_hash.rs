//! The exact-match cache's hash, before and after it stopped reading the whole key, in one
//! run: `before` is the hash ferrovs used until then (all 43 words, one dependent
//! multiply-and-rotate per word, then a final mix), kept here only as the reference;
//! `after` is `fvs_datapath::emc::hash_key`.
//!
//! Two keys, as extraction makes them: a 64-byte UDP frame from a VM port, and the same
//! frame received from a tunnel (tunnel fields set). Each iteration hashes a batch of 32
//! keys that differ in the UDP source port, as a datapath batch would.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fvs_datapath::emc::hash_key;
use fvs_flow::extract::extract;
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_packet::tunnel::{TunnelFlags, TunnelMetadata, TunnelProtocol};
use std::hint::black_box;
use std::net::Ipv4Addr;

/// The previous hash, the "before" of this benchmark.
fn whole_key_hash(k: &FlowKey) -> u64 {
    let mut h: u64 = 0;
    for w in k.words {
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// A 64-byte Ethernet/IPv4/UDP frame (without FCS).
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1000u16.to_be_bytes());
    f[36..38].copy_from_slice(&2000u16.to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    f
}

/// 32 keys of `frame()` with distinct UDP source ports.
fn keys(tunnel: Option<&TunnelMetadata>) -> Vec<FlowKey> {
    let base = extract(&frame(), PortNo(1), tunnel);
    (0..32u16)
        .map(|i| {
            let mut k = base;
            k.set(Field::UdpSrc.loc(), u128::from(1000 + i));
            k
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tunnel = TunnelMetadata {
        protocol: TunnelProtocol::Gre,
        tun_id: 1,
        src: Ipv4Addr::new(10, 0, 1, 21).into(),
        dst: Ipv4Addr::new(10, 0, 1, 31).into(),
        tos: 0,
        ttl: 64,
        flags: TunnelFlags(TunnelFlags::KEY),
        udp_src: 0,
        udp_dst: 0,
        geneve_options: Vec::new(),
    };
    for (name, ks) in [("vm_port", keys(None)), ("tunnel", keys(Some(&tunnel)))] {
        let mut g = c.benchmark_group(format!("emc_hash/{name}"));
        g.throughput(Throughput::Elements(ks.len() as u64));
        g.bench_function("before_whole_key", |b| {
            b.iter(|| {
                black_box(&ks)
                    .iter()
                    .fold(0u64, |a, k| a ^ whole_key_hash(k))
            });
        });
        g.bench_function("after_hashed_words", |b| {
            b.iter(|| black_box(&ks).iter().fold(0u64, |a, k| a ^ hash_key(k)));
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
