//! Packets per second through `Datapath::process_batch` on the cached path: a single
//! 64-byte flow forwarded to another port, and the same flow encapsulated in GRE.
//!
//! The output device is a sink that counts and discards, so the figures are the datapath's
//! own cost (keying, exact-match cache, actions, copying into output batches), not a
//! device's.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fvs_datapath::port::{PortKind, TunnelKeyMode, TunnelVport};
use fvs_datapath::{Datapath, Upcall};
use fvs_flow::{Field, FlowKey};
use fvs_netdev::{LinkState, MacAddr, Netdev, NetdevStats, PacketBatch};
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort, TunnelKey};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

/// A device that accepts and forgets every packet.
struct Sink {
    sent: u64,
}

impl Netdev for Sink {
    fn recv_batch(&mut self, _: &mut PacketBatch) -> fvs_netdev::Result<usize> {
        Ok(0)
    }
    fn send_batch(&mut self, batch: &PacketBatch) -> fvs_netdev::Result<usize> {
        self.sent += batch.len() as u64;
        Ok(batch.len())
    }
    fn set_mtu(&mut self, _: u32) -> fvs_netdev::Result<()> {
        Ok(())
    }
    fn set_mac(&mut self, _: MacAddr) -> fvs_netdev::Result<()> {
        Ok(())
    }
    fn name(&self) -> &str {
        "sink"
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    fn mtu(&self) -> fvs_netdev::Result<u32> {
        Ok(1500)
    }
    fn mac(&self) -> fvs_netdev::Result<MacAddr> {
        Ok(MacAddr([2, 0, 0, 0, 0, 1]))
    }
    fn link_state(&self) -> fvs_netdev::Result<LinkState> {
        Ok(LinkState::Up)
    }
    fn stats(&self) -> NetdevStats {
        NetdevStats {
            tx_packets: self.sent,
            ..NetdevStats::default()
        }
    }
    fn has_vnet_hdr(&self) -> bool {
        false
    }
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

fn datapath() -> Datapath {
    let mut dp = Datapath::new();
    for (no, name) in [(1, "in"), (2, "out")] {
        dp.add_port(
            DpPort(no),
            name,
            PortKind::Netdev(Box::new(Sink { sent: 0 })),
        )
        .expect("fresh port");
    }
    dp
}

fn run(c: &mut Criterion, name: &str, mut dp: Datapath, actions: DpActions) {
    let mut batch = PacketBatch::new(32, 2048);
    let f = frame();
    for _ in 0..32 {
        batch.push(&f).expect("batch has room");
    }
    let mut mask = FlowKey::ZERO;
    mask.set(Field::InPort.loc(), u128::MAX);
    mask.set(Field::EthType.loc(), u128::MAX);
    let mut up = |_: &FlowKey, _: &fvs_netdev::Packet| Upcall::new(actions.clone(), mask);
    // Warm the caches: the measured loop never upcalls.
    dp.process_batch(DpPort(1), &mut batch, &mut up);
    let mut g = c.benchmark_group("process_batch");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| dp.process_batch(DpPort(1), black_box(&mut batch), &mut up));
    });
    g.finish();
    assert_eq!(dp.stats().missed, 1, "the benchmark left the cached path");
}

fn forward(c: &mut Criterion) {
    run(
        c,
        "cached_64b_forward",
        datapath(),
        DpActions(vec![DpAction::Output(DpPort(2))]),
    );
}

fn gre(c: &mut Criterion) {
    let mut dp = datapath();
    let local = Ipv4Addr::new(10, 0, 1, 31);
    let remote = Ipv4Addr::new(10, 0, 1, 21);
    let v = TunnelVport::new(
        TunnelProtocol::Gre,
        local,
        remote,
        TunnelKeyMode::Flow,
        DpPort(2),
    );
    dp.add_port(DpPort(3), "gre", PortKind::Tunnel(v))
        .expect("fresh port");
    let actions = DpActions(vec![
        DpAction::SetTunnel(TunnelKey {
            tun_id: 1,
            src: local.into(),
            dst: remote.into(),
            tos: 0,
            ttl: 64,
            df: true,
            key: true,
            csum: false,
        }),
        DpAction::Output(DpPort(3)),
    ]);
    run(c, "cached_64b_gre_encap", dp, actions);
}

criterion_group!(benches, forward, gre);
criterion_main!(benches);
