//! Property: whatever the caches answer for a packet is what a fresh translation of that
//! packet's key says, for random traffic through the seed's switch (VM ports on br-int and
//! GRE frames with assorted keys from the underlay).

mod common;

use common::{Host, UNDERLAY, VM1, VM2, translate, udp_frame};
use fvs_flow::{Field, PortNo};
use fvs_packet::MacAddr;
use fvs_packet::tunnel::{Encap, TunnelPorts, TunnelProtocol, decapsulate, encapsulate};
use proptest::prelude::*;
use std::net::Ipv4Addr;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 31);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
const MACS: [u64; 4] = [
    0xfa16_3e00_0001,
    0xfa16_3e00_0002,
    0xffff_ffff_ffff,
    0x0100_5e00_0001,
];

#[derive(Clone, Debug)]
struct Pkt {
    /// 0, 1: VM ports; 2: from the tunnel.
    port: u8,
    tun_id: u64,
    src: usize,
    dst: usize,
    sport: u16,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (0u8..3, 0u64..3, 0usize..2, 0usize..4, 1u16..4).prop_map(|(port, tun_id, src, dst, sport)| {
        Pkt {
            port,
            tun_id,
            src,
            dst,
            sport,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cached_actions_equal_a_fresh_translation(pkts in proptest::collection::vec(pkt(), 1..24)) {
        let mut a = Host::new(A_IP, B_IP);
        // Learning off: the switch stays as it is, so a fresh translation is the reference.
        a.apply = false;
        for p in &pkts {
            let inner = udp_frame(MACS[p.src], MACS[p.dst], p.sport);
            let (port, frame) = match p.port {
                0 => (VM1, inner),
                1 => (VM2, inner),
                _ => {
                    let mut e = Encap::new(
                        TunnelProtocol::Gre,
                        MacAddr([2, 0, 0, 0, 0, 21]),
                        MacAddr([2, 0, 0, 0, 0, 31]),
                        B_IP,
                        A_IP,
                        Some(p.tun_id),
                    );
                    e.ttl = 64;
                    (UNDERLAY, encapsulate(&e, &inner).expect("small frame"))
                }
            };
            // The key the datapath computes for this frame.
            let key = if port == UNDERLAY {
                let d = decapsulate(&frame, TunnelPorts::default()).expect("valid GRE");
                fvs_flow::extract::extract(d.inner, PortNo(common::GRE.0), Some(&d.metadata))
            } else {
                fvs_flow::extract::extract(&frame, PortNo(port.0), None)
            };
            for _ in 0..2 {
                // Twice: the second time through the exact-match cache.
                a.receive(port, &frame);
                let cached = a.dp.cached_actions(&key).cloned();
                let fresh = translate(&mut a.switch, &a.map, &key, frame.len() as u64, a.now, false);
                prop_assert_eq!(cached, Some(fresh.actions), "key in_port {}", key.get(Field::InPort.loc()));
            }
        }
        prop_assert!(a.dp.stats().emc_hits >= pkts.len() as u64);
    }
}
