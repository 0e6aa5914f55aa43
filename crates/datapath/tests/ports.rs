//! Ports coming and going under a running datapath, and packets the slow path executes
//! itself (packet-out).

use fvs_datapath::port::PortKind;
use fvs_datapath::{Datapath, DatapathError, Upcall};
use fvs_flow::{FlowKey, PortNo};
use fvs_netdev::PacketBatch;
use fvs_netdev::dummy::Dummy;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort};

fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

#[test]
fn removing_a_port_flushes_the_caches_and_frees_the_number() {
    let mut dp = Datapath::new();
    let (a, ha) = Dummy::new("a");
    let (b, hb) = Dummy::new("b");
    dp.add_port(DpPort(1), "a", PortKind::Netdev(Box::new(a)))
        .expect("free number");
    dp.add_port(DpPort(7), "b", PortKind::Netdev(Box::new(b)))
        .expect("free number");
    let mut up = |_: &FlowKey, _: &fvs_netdev::Packet| Upcall {
        actions: DpActions(vec![DpAction::Output(DpPort(7))]),
        mask: FlowKey::ALL,
        cookie: 42,
    };
    let mut batch = PacketBatch::new(4, 2048);
    ha.inject(&frame());
    assert_eq!(dp.poll(DpPort(1), &mut batch, &mut up).ok(), Some(1));
    assert_eq!(hb.take_sent().len(), 1, "forwarded to b");
    let cookies: Vec<u64> = dp.megaflows().map(|(_, _, _, m)| m.cookie).collect();
    assert_eq!(cookies, [42], "the megaflow keeps the upcall's cookie");

    assert_eq!(
        dp.remove_port(DpPort(3)),
        Err(DatapathError::NoSuchPort(DpPort(3)))
    );
    assert_eq!(dp.remove_port(DpPort(7)), Ok(()));
    assert_eq!(dp.n_flows(), 0, "megaflows may name the removed port");
    assert_eq!(
        dp.ports().map(|(n, name, _)| (n, name)).collect::<Vec<_>>(),
        [(DpPort(1), "a")]
    );
    let (c, _) = Dummy::new("c");
    assert!(
        dp.add_port(DpPort(7), "c", PortKind::Netdev(Box::new(c)))
            .is_ok(),
        "the number is free again"
    );
}

#[test]
fn execute_runs_actions_on_one_frame_without_touching_the_caches() {
    let mut dp = Datapath::new();
    let (a, ha) = Dummy::new("a");
    dp.add_port(DpPort(2), "a", PortKind::Netdev(Box::new(a)))
        .expect("free number");
    let key = fvs_flow::extract::extract(&frame(), PortNo(0), None);
    let actions = DpActions(vec![
        DpAction::PushVlan { vid: 5, pcp: 0 },
        DpAction::Output(DpPort(2)),
        DpAction::Output(DpPort(9)),
    ]);
    assert_eq!(
        dp.execute(&frame(), &key, &actions),
        1,
        "port 9 does not exist"
    );
    let sent = ha.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0].data[12..16], &[0x81, 0x00, 0x00, 0x05]);
    assert_eq!(dp.n_flows(), 0);
}
