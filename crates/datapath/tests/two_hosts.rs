//! The seed's two-host network in memory: VMs on br-int of host A reach VMs on host B through
//! br-tun and a GRE tunnel with key 1, over an underlay this test carries by hand.

mod common;

use common::{Host, UNDERLAY, VM1, VM2, udp_frame};
use fvs_packet::tunnel::{TunnelPorts, TunnelProtocol, decapsulate};
use std::net::Ipv4Addr;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 31);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
const MAC_A: u64 = 0xfa16_3e00_0001;
const MAC_B: u64 = 0xfa16_3e00_0002;

/// Moves every frame host `from` sent on its underlay into host `to`'s underlay; returns them.
fn carry(from: &Host, to: &mut Host) -> Vec<Vec<u8>> {
    let frames = from.sent(UNDERLAY);
    for f in &frames {
        to.handles[&UNDERLAY].inject(f);
    }
    to.poll(UNDERLAY);
    frames
}

#[test]
fn vm_traffic_crosses_the_gre_tunnel_and_replies_are_unicast() {
    let mut a = Host::new(A_IP, B_IP);
    let mut b = Host::new(B_IP, A_IP);
    let request = udp_frame(MAC_A, MAC_B, 1000);

    // VM on A, unknown destination: br-int floods, br-tun floods to the tunnel (the seed's
    // table 22 outputs to the GRE port twice).
    a.receive(VM1, &request);
    let wire = carry(&a, &mut b);
    assert!(!wire.is_empty(), "nothing reached the underlay");
    for f in &wire {
        let d = decapsulate(f, TunnelPorts::default()).expect("a valid GRE frame");
        assert_eq!(d.metadata.protocol, TunnelProtocol::Gre);
        assert_eq!(d.metadata.tun_id, 1, "GRE key 1 for VLAN 1");
        assert_eq!((d.metadata.src, d.metadata.dst), (A_IP.into(), B_IP.into()));
        assert_eq!(
            d.inner,
            request.as_slice(),
            "the inner frame leaves br-tun untagged"
        );
    }
    // On B it arrives untagged on the VM ports of VLAN 1.
    for vm in [VM1, VM2] {
        let got = b.sent(vm);
        assert!(
            !got.is_empty() && got.iter().all(|f| f == &request),
            "VM port {vm} on host B got {got:?}"
        );
    }
    assert!(
        a.sent(VM2).iter().all(|f| f == &request),
        "local flood on A is untagged too"
    );

    // The same packet again: the megaflow cache answers, no upcall.
    let upcalls = a.upcalls;
    a.receive(VM1, &request);
    assert_eq!(
        a.upcalls, upcalls,
        "second identical packet went to the slow path"
    );
    assert!(a.dp.stats().emc_hits >= 1);
    assert_eq!(carry(&a, &mut b).len(), wire.len());
    let dump = a.dp.dump_flows();
    assert!(
        dump.lines()
            .any(|l| l.starts_with("recirc_id(0),in_port(37),") && l.contains("packets:1,")),
        "{dump}"
    );

    // B's br-tun learned where MAC_A lives: the reply goes out once, by unicast, and does
    // not flood B's other VM port.
    let learned = b
        .switch
        .bridge("br-tun")
        .expect("br-tun")
        .dump_flows(Some(20), b.now);
    assert!(
        learned
            .iter()
            .any(|l| l.contains("hard_timeout=300") && l.contains("dl_dst=fa:16:3e:00:00:01")),
        "{learned:?}"
    );
    // Forget what the second request delivered.
    for h in [&a, &b] {
        for vm in [VM1, VM2] {
            h.sent(vm);
        }
    }
    let reply = udp_frame(MAC_B, MAC_A, 5001);
    b.receive(VM1, &reply);
    assert!(b.sent(VM2).is_empty(), "the reply was flooded on host B");
    let back = carry(&b, &mut a);
    assert_eq!(back.len(), 1, "unicast through the learned rule: one copy");
    let d = decapsulate(&back[0], TunnelPorts::default()).expect("GRE");
    assert_eq!(
        (d.metadata.tun_id, d.metadata.src, d.metadata.dst),
        (1, B_IP.into(), A_IP.into())
    );
    assert_eq!(a.sent(VM1), vec![reply.clone()]);
    assert!(a.sent(VM2).is_empty(), "A's br-int knows MAC_A: no flood");
}

#[test]
fn flush_and_revalidate_drop_megaflows() {
    let mut a = Host::new(A_IP, B_IP);
    a.receive(VM1, &udp_frame(MAC_A, MAC_B, 1));
    a.receive(VM2, &udp_frame(MAC_B, MAC_A, 1));
    let n = a.dp.n_flows();
    assert!(n >= 2);
    let removed = a.dp.revalidate(|mask, key, _| {
        let _ = mask;
        key.get(fvs_flow::Field::InPort.loc()) != u128::from(VM2.0)
    });
    assert_eq!(removed, 1);
    assert_eq!(a.dp.n_flows(), n - 1);
    let before = a.upcalls;
    a.receive(VM2, &udp_frame(MAC_B, MAC_A, 1));
    assert_eq!(
        a.upcalls,
        before + 1,
        "a removed megaflow must not be served by the EMC"
    );
    a.dp.flush();
    assert_eq!(a.dp.n_flows(), 0);
    assert!(a.dp.dump_flows().is_empty());
}
