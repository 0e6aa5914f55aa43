//! Random and mangled frames through the seed's compute node (br-int, br-tun, the GRE port
//! and its underlay), with the pipeline as the slow path: `process_batch` must never panic,
//! whatever the bytes or the offload header, and a good frame must still cross afterwards.

mod common;

use common::{Host, UNDERLAY, VM1, VM2, udp_frame};
use fvs_netdev::{GsoType, VnetFlags, VnetHdr};
use fvs_packet::tunnel::{TunnelPorts, decapsulate};
use proptest::prelude::*;
use std::net::Ipv4Addr;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 31);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
const MAC_A: u64 = 0xfa16_3e00_0001;
const MAC_B: u64 = 0xfa16_3e00_0002;

/// A good frame as host B's tunnel would send it to host A: GRE key 1 around a VM frame.
fn gre_from_b() -> Vec<u8> {
    let mut b = Host::new(B_IP, A_IP);
    b.receive(VM1, &udp_frame(MAC_B, MAC_A, 7));
    b.sent(UNDERLAY)
        .into_iter()
        .next()
        .expect("B floods into the tunnel")
}

/// What a test case injects.
#[derive(Clone, Debug)]
enum Input {
    /// Arbitrary bytes.
    Random(Vec<u8>),
    /// A good VM frame with bytes overwritten and a length cut.
    MangledVm(Vec<(usize, u8)>, usize),
    /// A good GRE frame from the far host with bytes overwritten and a length cut.
    MangledGre(Vec<(usize, u8)>, usize),
}

fn input() -> impl Strategy<Value = Input> {
    let edits = proptest::collection::vec((0usize..120, any::<u8>()), 0..6);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Input::Random),
        (edits.clone(), 0usize..80).prop_map(|(e, c)| Input::MangledVm(e, c)),
        (edits, 0usize..130).prop_map(|(e, c)| Input::MangledGre(e, c)),
    ]
}

fn mangle(mut f: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, v) in edits {
        if let Some(b) = f.get_mut(at) {
            *b = v;
        }
    }
    f.truncate(cut.max(1));
    f
}

fn vnet() -> impl Strategy<Value = VnetHdr> {
    (
        0u8..4,
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        0u16..200,
        0u16..40,
    )
        .prop_map(
            |(flags, gso, hdr_len, gso_size, csum_start, csum_offset)| VnetHdr {
                flags: VnetFlags(flags),
                gso_type: GsoType(gso % 7),
                hdr_len,
                gso_size,
                csum_start,
                csum_offset,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn nothing_panics_and_good_frames_still_cross(
        inputs in proptest::collection::vec((input(), 0usize..3, prop::option::of(vnet())), 1..6),
    ) {
        let gre = gre_from_b();
        let mut a = Host::new(A_IP, B_IP);
        for (inp, port, offload) in &inputs {
            let frame = match inp {
                Input::Random(b) => b.clone(),
                Input::MangledVm(e, c) => mangle(udp_frame(MAC_A, MAC_B, 9), e, *c),
                Input::MangledGre(e, c) => mangle(gre.clone(), e, *c),
            };
            let port = [VM1, VM2, UNDERLAY][*port];
            a.handles[&port].inject_with_vnet(&frame, offload.unwrap_or(VnetHdr::NONE));
            a.poll(port);
        }
        let _ = a.sent(UNDERLAY);
        // A good frame still goes out through the tunnel.
        a.receive(VM1, &udp_frame(MAC_A, MAC_B, 1000));
        let out = a.sent(UNDERLAY);
        prop_assert!(!out.is_empty(), "nothing reached the underlay after {inputs:?}");
        for f in out {
            let d = decapsulate(&f, TunnelPorts::default());
            prop_assert!(d.is_ok(), "bad GRE frame after {inputs:?}");
        }
    }
}
