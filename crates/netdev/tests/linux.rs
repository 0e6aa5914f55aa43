//! Real devices in throw-away network namespaces. These tests need root (CI runs as root)
//! and fail, not skip, without it. Each test makes its own namespace `fvs-test-<pid>-<tag>`,
//! with addresses only inside it and no routes out, and a drop guard deletes it even when the
//! test fails.

use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions};
use fvs_netdev::tap::{Tap, TapOptions};
use fvs_netdev::{LinkState, MacAddr, Netdev, PacketBatch, VnetFlags, netns};
use fvs_test_support::netns::{Netns, require_root, veth};

/// An EtherType for experiments (IEEE 802 local experimental), which no kernel stack answers.
const ETH_EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];

/// A network namespace deleted on drop, with IPv6 off.
struct Namespace {
    ns: Netns,
}

impl Namespace {
    fn new(tag: &str) -> Self {
        require_root();
        let ns = Self {
            ns: Netns::new(&format!("fvs-test-{}-{tag}", std::process::id())),
        };
        // IPv6 would send router solicitations and MLD reports onto our links.
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns
    }

    fn name(&self) -> &str {
        self.ns.name()
    }

    /// Runs a command inside the namespace; panics with its output if it fails.
    fn exec(&self, args: &[&str]) -> String {
        self.ns.exec(args)
    }

    /// A veth pair `fvsa` ↔ `fvsb` inside the namespace, both up.
    fn veth(&self) {
        veth(self.name(), "fvsa", self.name(), "fvsb");
    }

    fn af_packet(&self, dev: &str, vnet_hdr: bool) -> AfPacket {
        let _in_ns = netns::enter(self.name()).expect("enter namespace");
        AfPacket::open(dev, AfPacketOptions { vnet_hdr }).expect("open with AF_PACKET")
    }
}

/// A frame from 02:..:01 to 02:..:02 with the experimental EtherType, `seq` in its payload.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ETH_EXPERIMENTAL);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend((f.len()..len).map(|i| i as u8));
    f
}

/// Receives until `want` frames matching `keep` arrived or 5 seconds passed.
fn receive(dev: &mut dyn Netdev, want: usize, keep: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    receive_for(dev, want, Duration::from_secs(5), keep)
}

/// Receives until `want` frames matching `keep` arrived or `wait` passed.
fn receive_for(
    dev: &mut dyn Netdev,
    want: usize,
    wait: Duration,
    keep: impl Fn(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = PacketBatch::new(32, 2048);
    let deadline = Instant::now() + wait;
    while got.len() < want && Instant::now() < deadline {
        batch.clear();
        if dev.recv_batch(&mut batch).expect("recv_batch") == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        got.extend(batch.iter().map(|p| p.data().to_vec()).filter(|f| keep(f)));
    }
    got
}

fn experimental(f: &[u8]) -> bool {
    let at = if f.get(12..14) == Some(&ETH_EXPERIMENTAL[..]) {
        12
    } else {
        16
    };
    f.get(at..at + 2) == Some(&ETH_EXPERIMENTAL[..]) || f.get(20..22) == Some(&ETH_EXPERIMENTAL[..])
}

fn send(dev: &mut dyn Netdev, frames: &[Vec<u8>]) -> usize {
    let mut batch = PacketBatch::new(32, 2048);
    let mut sent = 0;
    for chunk in frames.chunks(32) {
        batch.clear();
        for f in chunk {
            batch.push(f).unwrap();
        }
        sent += dev.send_batch(&batch).expect("send_batch");
    }
    sent
}

#[test]
fn af_packet_carries_frames_intact_and_is_promiscuous() {
    let ns = Namespace::new("intact");
    ns.veth();
    let mut a = ns.af_packet("fvsa", false);
    let mut b = ns.af_packet("fvsb", false);
    assert!(
        ns.exec(&["ip", "-d", "link", "show", "fvsa"])
            .contains("promiscuity 1"),
        "AF_PACKET makes the port promiscuous"
    );
    assert_eq!(a.link_state().unwrap(), LinkState::Up);
    assert_eq!(a.mtu().unwrap(), 1500);

    let frames: Vec<Vec<u8>> = [60, 61, 200, 1514]
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(i as u32, len))
        .collect();
    assert_eq!(send(&mut b, &frames), frames.len());
    let got = receive(&mut a, frames.len(), experimental);
    assert_eq!(got, frames);
    assert!(
        receive_for(&mut b, 1, Duration::from_millis(200), experimental).is_empty(),
        "the sender does not read back its own frames"
    );
    assert_eq!(a.stats().rx_packets, 4);
    assert_eq!(b.stats().tx_bytes, 60 + 61 + 200 + 1514);
}

#[test]
fn af_packet_keeps_vlan_tags_the_kernel_strips() {
    let ns = Namespace::new("vlan");
    ns.veth();
    let mut a = ns.af_packet("fvsa", false);
    let mut b = ns.af_packet("fvsb", false);
    let mut tagged = Vec::new();
    for (tpid, tci) in [
        ([0x81, 0x00], [0x20, 0x64]),
        ([0x88, 0xa8], [0x00, 0x0a]),
        ([0x81, 0x00], [0xe0, 0x00]),
    ] {
        let mut f = frame(7, 64);
        f.splice(12..12, tpid.into_iter().chain(tci));
        tagged.push(f);
    }
    assert_eq!(send(&mut b, &tagged), 3);
    let got = receive(&mut a, 3, experimental);
    assert_eq!(
        got, tagged,
        "802.1Q, 802.1ad and priority-only tags come back where they were"
    );
}

#[test]
fn af_packet_batch_of_1000_frames_all_arrive() {
    let ns = Namespace::new("burst");
    ns.veth();
    let mut a = ns.af_packet("fvsa", false);
    let mut b = ns.af_packet("fvsb", false);
    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|i| frame(i, 60 + (i as usize % 100)))
        .collect();
    assert_eq!(send(&mut b, &frames), 1000);
    let got = receive(&mut a, 1000, experimental);
    assert_eq!(got.len(), 1000, "stats: {:?}", a.stats());
    assert_eq!(got, frames, "every frame once, in order");
    assert_eq!(a.stats().rx_dropped, 0);
}

#[test]
fn af_packet_sees_what_the_kernel_sends() {
    let ns = Namespace::new("kernel");
    ns.veth();
    let mut a = ns.af_packet("fvsa", false);
    ns.exec(&["ip", "addr", "add", "10.250.0.1/24", "dev", "fvsb"]);
    // A datagram to a neighbour nobody answers for: the kernel's ARP request is what we want.
    ns.exec(&["bash", "-c", "echo hello > /dev/udp/10.250.0.2/9"]);
    let arp = receive(&mut a, 1, |f| f.get(12..14) == Some(&[0x08, 0x06][..]));
    assert!(!arp.is_empty(), "no ARP request from the kernel arrived");
    let f = &arp[0];
    assert_eq!(&f[..6], &[0xff; 6], "broadcast");
    assert_eq!(&f[20..22], &[0, 1], "ARP request");
    assert_eq!(&f[28..32], &[10, 250, 0, 1], "sender IP");
    assert_eq!(&f[38..42], &[10, 250, 0, 2], "target IP");
}

#[test]
fn af_packet_with_vnet_headers_reports_partial_checksums() {
    let ns = Namespace::new("csum");
    ns.veth();
    let mut a = ns.af_packet("fvsa", true);
    ns.exec(&["ip", "addr", "add", "10.252.0.1/24", "dev", "fvsb"]);
    ns.exec(&[
        "ip",
        "neigh",
        "add",
        "10.252.0.2",
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        "fvsb",
    ]);
    // veth offloads transmit checksums, so the kernel's UDP datagram leaves with the checksum
    // still to be computed; the virtio-net header must say where.
    ns.exec(&["bash", "-c", "echo hello > /dev/udp/10.252.0.2/9"]);
    let mut batch = PacketBatch::new(32, 2048);
    let deadline = Instant::now() + Duration::from_secs(5);
    let udp = loop {
        assert!(
            Instant::now() < deadline,
            "no UDP datagram from the kernel arrived"
        );
        batch.clear();
        a.recv_batch(&mut batch).unwrap();
        if let Some(p) = batch.iter().find(|p| {
            p.data().get(12..14) == Some(&[0x08, 0x00][..]) && p.data().get(23) == Some(&17)
        }) {
            break p.clone();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(&udp.data()[42..48], b"hello\n");
    let vnet = udp.vnet();
    assert!(vnet.flags.contains(VnetFlags::NEEDS_CSUM), "{vnet:?}");
    assert_eq!(
        (vnet.csum_start, vnet.csum_offset),
        (34, 6),
        "UDP checksum field behind 14 + 20 bytes"
    );
}

#[test]
fn af_packet_with_vnet_headers_carries_plain_frames() {
    let ns = Namespace::new("vnet");
    ns.veth();
    let mut a = ns.af_packet("fvsa", true);
    let mut b = ns.af_packet("fvsb", true);
    assert!(a.has_vnet_hdr());
    let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 100)).collect();
    assert_eq!(send(&mut b, &frames), 10);
    assert_eq!(receive(&mut a, 10, experimental), frames);
}

#[test]
fn tap_carries_frames_both_ways() {
    let ns = Namespace::new("tap");
    let mut tap = {
        let _in_ns = netns::enter(ns.name()).expect("enter namespace");
        Tap::open("fvstap0", TapOptions::default()).expect("open TAP")
    };
    let mac = MacAddr([0x02, 0xfe, 0, 0, 0, 0x10]);
    tap.set_mac(mac).unwrap();
    tap.set_mtu(9000).unwrap();
    assert_eq!(tap.mac().unwrap(), mac);
    assert_eq!(tap.mtu().unwrap(), 9000);
    let shown = ns.exec(&["ip", "link", "show", "fvstap0"]);
    assert!(
        shown.contains("mtu 9000") && shown.contains("02:fe:00:00:00:10"),
        "{shown}"
    );
    ns.exec(&["ip", "addr", "add", "10.251.0.1/24", "dev", "fvstap0"]);

    // We ask the kernel, through the TAP, who has 10.251.0.1; it must answer through the TAP.
    let peer = [0x02, 0xfe, 0, 0, 0, 0x20];
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&peer);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    arp.extend_from_slice(&peer);
    arp.extend_from_slice(&[10, 251, 0, 2]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 251, 0, 1]);
    arp.resize(60, 0);
    assert_eq!(send(&mut tap, &[arp]), 1);
    let replies = receive(&mut tap, 1, |f| {
        f.get(12..14) == Some(&[0x08, 0x06][..]) && f.get(20..22) == Some(&[0, 2][..])
    });
    assert!(!replies.is_empty(), "no ARP reply came out of the TAP");
    let r = &replies[0];
    assert_eq!(&r[..6], &peer, "to the asker");
    assert_eq!(&r[6..12], &mac.0, "from the TAP's address");
    assert_eq!(&r[28..32], &[10, 251, 0, 1]);
    assert_eq!(tap.stats().tx_packets, 1);
    assert!(tap.stats().rx_packets >= 1);
}

#[test]
fn tap_with_vnet_headers_receives_partial_checksums() {
    let ns = Namespace::new("tapvnet");
    let mut tap = {
        let _in_ns = netns::enter(ns.name()).expect("enter namespace");
        Tap::open("fvstap1", TapOptions { vnet_hdr: true }).expect("open TAP")
    };
    assert!(tap.has_vnet_hdr());
    ns.exec(&["ip", "addr", "add", "10.253.0.1/24", "dev", "fvstap1"]);
    ns.exec(&[
        "ip",
        "neigh",
        "add",
        "10.253.0.2",
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        "fvstap1",
    ]);
    // TUNSETOFFLOAD said we take partial checksums, so the kernel leaves the UDP checksum to us
    // and says where it goes.
    ns.exec(&["bash", "-c", "echo hello > /dev/udp/10.253.0.2/9"]);
    let mut batch = PacketBatch::new(8, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let deadline = Instant::now() + Duration::from_secs(5);
    let udp = loop {
        assert!(
            Instant::now() < deadline,
            "no UDP datagram came out of the TAP"
        );
        batch.clear();
        tap.recv_batch(&mut batch).unwrap();
        if let Some(p) = batch.iter().find(|p| {
            p.data().get(12..14) == Some(&[0x08, 0x00][..]) && p.data().get(23) == Some(&17)
        }) {
            break p.clone();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(&udp.data()[42..48], b"hello\n");
    let vnet = udp.vnet();
    assert!(vnet.flags.contains(VnetFlags::NEEDS_CSUM), "{vnet:?}");
    assert_eq!((vnet.csum_start, vnet.csum_offset), (34, 6));
}
