//! Kernel forwarding with traffic control (`fvs_netdev::tc`) on real veth devices in a
//! throw-away network namespace (root; CI runs as root, and the test fails without it): a
//! filter redirects its flow from one device's ingress to another's transmit, the switch's
//! packet socket on the first device no longer sees that flow but still sees the rest,
//! `tc -s filter show` lists the filter with its counters, and removing ferrovs's filters
//! leaves none.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions};
use fvs_netdev::tc::{self, Filter, PRIO_FIRST};
use fvs_netdev::{Netdev, PacketBatch, netns};
use fvs_test_support::netns::{Netns, require_root, veth};

const ETH_EXPERIMENTAL: u16 = 0x88b5;

fn frame(src: u8, seq: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, src];
    f.extend_from_slice(&ETH_EXPERIMENTAL.to_be_bytes());
    f.extend_from_slice(&[seq; 46]);
    f
}

/// Frames of the experimental EtherType received within half a second.
fn received(dev: &mut AfPacket) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = PacketBatch::new(32, 2048);
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        batch.clear();
        if dev.recv_batch(&mut batch).expect("recv_batch") == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        got.extend(
            batch
                .iter()
                .map(|p| p.data().to_vec())
                .filter(|f| f.get(12..14) == Some(&ETH_EXPERIMENTAL.to_be_bytes()[..])),
        );
    }
    got
}

#[test]
fn a_filter_forwards_its_flow_in_the_kernel_and_hides_it_from_the_socket() {
    require_root();
    let ns = Netns::new(&format!("fvs-tc-{}", std::process::id()));
    veth(ns.name(), "tca", ns.name(), "tcb");
    veth(ns.name(), "tcc", ns.name(), "tcd");
    let _in = netns::enter(ns.name()).expect("enter namespace");
    let open = |dev: &str| AfPacket::open(dev, AfPacketOptions::default()).expect("AF_PACKET");
    let (mut a, mut b, mut d) = (open("tca"), open("tcb"), open("tcd"));
    let tcb = tc::ifindex("tcb").expect("tcb's index");
    let tcc = tc::ifindex("tcc").expect("tcc's index");
    assert!(tc::is_packet_socket(b.fd().expect("a socket")));

    assert!(tc::ensure_ingress(tcb).expect("ingress qdisc"));
    assert!(
        !tc::ensure_ingress(tcb).expect("ingress qdisc again"),
        "it is there already"
    );
    let all = [0xff; 6];
    let f = Filter {
        prio: PRIO_FIRST + 1,
        protocol: ETH_EXPERIMENTAL,
        keys: tc::ethernet_keys(([2, 0, 0, 0, 0, 2], all), ([2, 0, 0, 0, 0, 1], all)),
        redirect: tcc,
        rewrite: tc::Rewrite::None,
    };
    tc::add_filter(tcb, &f).expect("add the filter");
    tc::set_bypass(b.fd().expect("a socket").as_fd(), &[&f]).expect("socket program");

    let mut batch = PacketBatch::new(32, 2048);
    for seq in 0..3 {
        batch.push(&frame(1, seq)).unwrap();
    }
    batch.push(&frame(9, 9)).unwrap();
    a.send_batch(&batch).expect("send");

    let at_d = received(&mut d);
    let at_b = received(&mut b);
    assert_eq!(
        at_d,
        (0..3).map(|s| frame(1, s)).collect::<Vec<_>>(),
        "redirected to tcc"
    );
    assert_eq!(
        at_b,
        vec![frame(9, 9)],
        "the socket sees only the other flow"
    );

    let stats = tc::dump_filters(tcb).expect("dump");
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(
        (stats[0].prio, stats[0].protocol, stats[0].packets),
        (f.prio, f.protocol, 3)
    );
    // tc counts from the network header; the statistics count whole frames.
    assert_eq!(stats[0].bytes, 3 * 60);
    let shown = ns.exec(&["tc", "-s", "filter", "show", "dev", "tcb", "ingress"]);
    assert!(shown.contains("pref 61441 u32"), "{shown}");
    assert!(
        shown.contains("Egress Redirect to device tcc") && shown.contains("Sent 138 bytes 3 pkt"),
        "{shown}"
    );

    assert_eq!(tc::remove_all(tcb).expect("remove"), 1);
    tc::set_bypass(b.fd().expect("a socket").as_fd(), &[]).expect("no program");
    let shown = ns.exec(&["tc", "filter", "show", "dev", "tcb", "ingress"]);
    assert!(shown.trim().is_empty(), "{shown}");
    batch.clear();
    batch.push(&frame(1, 7)).unwrap();
    a.send_batch(&batch).expect("send");
    assert_eq!(received(&mut b), vec![frame(1, 7)], "back to the socket");
    assert!(received(&mut d).is_empty());
}
