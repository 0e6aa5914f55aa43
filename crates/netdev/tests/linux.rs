//! Real devices in throw-away network namespaces. These tests need root (CI runs as root)
//! and fail, not skip, without it. Each test makes its own namespace `fvs-test-<pid>-<tag>`,
//! with addresses only inside it and no routes out, and a drop guard deletes it even when the
//! test fails.

use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions, BlockRing, FrameRing, RxPath};
use fvs_netdev::batch::GSO_FRAME_CAPACITY;
use fvs_netdev::tap::{Tap, TapOptions};
use fvs_netdev::{GsoType, LinkState, MacAddr, Netdev, PacketBatch, VnetFlags, VnetHdr, netns};
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

    /// `dev` opened with the default options (a receive ring).
    fn af_packet(&self, dev: &str, vnet_hdr: bool) -> AfPacket {
        self.af_packet_with(
            dev,
            AfPacketOptions {
                vnet_hdr,
                ..AfPacketOptions::default()
            },
        )
    }

    fn af_packet_with(&self, dev: &str, options: AfPacketOptions) -> AfPacket {
        let _in_ns = netns::enter(self.name()).expect("enter namespace");
        AfPacket::open(dev, options).expect("open with AF_PACKET")
    }
}

/// Every receive path (the `TPACKET_V2` and `TPACKET_V3` rings and `recvmmsg`), as (label,
/// options).
fn rx_paths(vnet_hdr: bool) -> [(&'static str, AfPacketOptions); 3] {
    let with = |rx| AfPacketOptions {
        vnet_hdr,
        rx,
        ..AfPacketOptions::default()
    };
    [
        ("TPACKET_V2", with(RxPath::Frames(FrameRing::DEFAULT))),
        ("TPACKET_V3", with(RxPath::Blocks(BlockRing::DEFAULT))),
        ("recvmmsg", with(RxPath::Recvmmsg)),
    ]
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
    for (path, options) in rx_paths(false) {
        let mut a = ns.af_packet_with("fvsa", options);
        let mut b = ns.af_packet_with("fvsb", options);
        assert!(
            ns.exec(&["ip", "-d", "link", "show", "fvsa"])
                .contains("promiscuity 1"),
            "{path}: AF_PACKET makes the port promiscuous"
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
        assert_eq!(got, frames, "{path}");
        assert!(
            receive_for(&mut b, 1, Duration::from_millis(200), experimental).is_empty(),
            "{path}: the sender does not read back its own frames"
        );
        assert_eq!(a.stats().rx_packets, 4, "{path}");
        assert_eq!(b.stats().tx_bytes, 60 + 61 + 200 + 1514, "{path}");
    }
}

#[test]
fn af_packet_keeps_vlan_tags_the_kernel_strips() {
    let ns = Namespace::new("vlan");
    ns.veth();
    for (path, options) in rx_paths(false).into_iter().chain(rx_paths(true)) {
        let mut a = ns.af_packet_with("fvsa", options);
        let mut b = ns.af_packet_with("fvsb", options);
        check_vlan_tags(&mut a, &mut b, path);
    }
}

fn check_vlan_tags(a: &mut AfPacket, b: &mut AfPacket, path: &str) {
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
    assert_eq!(send(b, &tagged), 3);
    let got = receive(a, 3, experimental);
    assert_eq!(
        got,
        tagged,
        "{path}, vnet_hdr {}: 802.1Q, 802.1ad and priority-only tags come back where they were",
        a.has_vnet_hdr()
    );
}

#[test]
fn af_packet_batch_of_1000_frames_all_arrive() {
    let ns = Namespace::new("burst");
    ns.veth();
    for (path, options) in rx_paths(false) {
        let mut a = ns.af_packet_with("fvsa", options);
        let mut b = ns.af_packet_with("fvsb", options);
        let frames: Vec<Vec<u8>> = (0..1000)
            .map(|i| frame(i, 60 + (i as usize % 100)))
            .collect();
        assert_eq!(send(&mut b, &frames), 1000);
        let got = receive(&mut a, 1000, experimental);
        assert_eq!(got.len(), 1000, "{path}: stats: {:?}", a.stats());
        assert_eq!(got, frames, "{path}: every frame once, in order");
        assert_eq!(a.stats().rx_dropped, 0, "{path}");
    }
}

/// Bytes of this process's memory mapped from `dev`'s socket: its receive ring.
fn ring_bytes(dev: &AfPacket) -> u64 {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let fd = dev
        .fd()
        .expect("an AF_PACKET device has a socket")
        .as_raw_fd();
    let inode = std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .expect("the socket's inode")
        .ino();
    let name = format!("socket:[{inode}]");
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .filter(|l| l.ends_with(&name))
        .filter_map(|l| {
            let (from, to) = l.split_whitespace().next()?.split_once('-')?;
            Some(u64::from_str_radix(to, 16).ok()? - u64::from_str_radix(from, 16).ok()?)
        })
        .sum()
}

/// The default ring pins 4 MiB of kernel memory per device (2048 slots of 2 KiB, measured to
/// forward as fast as twice as many); a ring of 512 slots, 1 MiB; `recvmmsg` none.
#[test]
fn af_packet_default_ring_is_4_mib() {
    let ns = Namespace::new("ringsize");
    ns.veth();
    let with = |rx| AfPacketOptions {
        rx,
        ..AfPacketOptions::default()
    };
    let default = ns.af_packet("fvsa", false);
    assert_eq!(ring_bytes(&default), 4 << 20);
    let small = ns.af_packet_with(
        "fvsa",
        with(RxPath::Frames(FrameRing {
            frames: 512,
            ..FrameRing::DEFAULT
        })),
    );
    assert_eq!(ring_bytes(&small), 1 << 20);
    let none = ns.af_packet_with("fvsa", with(RxPath::Recvmmsg));
    assert_eq!(ring_bytes(&none), 0);
}

/// A ring the kernel cannot allocate (100 million slots: its table of blocks alone is more
/// than the kernel allocates in one piece, so it refuses at once with `ENOMEM`, allocating
/// nothing) is reported as [`fvs_netdev::Error::RxRing`], the error a caller falls back on.
#[test]
fn af_packet_ring_the_kernel_refuses_is_its_own_error() {
    let ns = Namespace::new("ringnomem");
    ns.veth();
    let _in_ns = netns::enter(ns.name()).expect("enter namespace");
    let options = AfPacketOptions {
        rx: RxPath::Frames(FrameRing {
            frame_size: 2048,
            frames: 100_000_000,
        }),
        ..AfPacketOptions::default()
    };
    match AfPacket::open("fvsa", options) {
        Err(fvs_netdev::Error::RxRing { device, source, .. }) => {
            assert_eq!(device, "fvsa");
            assert_eq!(source.raw_os_error(), Some(libc::ENOMEM), "{source}");
        }
        other => panic!("expected a receive ring error, got {other:?}"),
    }
    let plain = AfPacketOptions {
        rx: RxPath::Recvmmsg,
        ..AfPacketOptions::default()
    };
    assert!(
        AfPacket::open("fvsa", plain).is_ok(),
        "recvmmsg needs no ring"
    );
}

/// A small ring that nobody reads fills up: the frames that found no room are counted as
/// dropped, and every frame is either received later or counted.
#[test]
fn af_packet_ring_counts_the_frames_it_had_no_room_for() {
    let ns = Namespace::new("ringfull");
    ns.veth();
    let small = [
        RxPath::Frames(FrameRing {
            frame_size: 512,
            frames: 64,
        }),
        RxPath::Blocks(BlockRing {
            block_size: 4096,
            blocks: 4,
            retire_ms: 1,
        }),
    ];
    for rx in small {
        let mut a = ns.af_packet_with(
            "fvsa",
            AfPacketOptions {
                rx,
                ..AfPacketOptions::default()
            },
        );
        let mut b = ns.af_packet("fvsb", false);
        check_ring_full(&mut a, &mut b, rx);
    }
}

fn check_ring_full(a: &mut AfPacket, b: &mut AfPacket, rx: RxPath) {
    let frames: Vec<Vec<u8>> = (0..1000).map(|i| frame(i, 200)).collect();
    assert_eq!(send(b, &frames), 1000);
    // Let the last block time out before reading anything.
    std::thread::sleep(Duration::from_millis(50));
    let got = receive_for(a, 1000, Duration::from_millis(500), experimental);
    let stats = a.stats();
    assert!(
        !got.is_empty() && got.len() <= 128,
        "{rx:?}: 16 KiB, or 64 slots rounded up to one 64 KiB block of 128, hold few 200-byte frames, got {}",
        got.len()
    );
    assert_eq!(
        got.len() as u64 + stats.rx_dropped,
        1000,
        "{rx:?}: received + dropped = sent ({stats:?})"
    );
    assert_eq!(
        got[..],
        frames[..got.len()],
        "{rx:?}: the first frames, in order, intact"
    );
}

/// A frame longer than a `TPACKET_V3` block arrives truncated in the ring: it is counted as a
/// receive error, never handed over cut, and the frames around it still arrive.
#[test]
fn af_packet_block_ring_rejects_frames_bigger_than_a_block() {
    let ns = Namespace::new("ringbig");
    ns.veth();
    ns.exec(&["ip", "link", "set", "fvsa", "mtu", "9000"]);
    ns.exec(&["ip", "link", "set", "fvsb", "mtu", "9000"]);
    let small = AfPacketOptions {
        rx: RxPath::Blocks(BlockRing {
            block_size: 8192,
            blocks: 4,
            retire_ms: 1,
        }),
        ..AfPacketOptions::default()
    };
    let mut a = ns.af_packet_with("fvsa", small);
    let mut b = ns.af_packet("fvsb", false);
    let frames = vec![frame(1, 100), frame(2, 9014), frame(3, 100)];
    let mut batch = PacketBatch::new(3, 9014);
    for f in &frames {
        batch.push(f).unwrap();
    }
    assert_eq!(b.send_batch(&batch).unwrap(), 3);
    let got = receive_for(&mut a, 2, Duration::from_secs(2), experimental);
    assert_eq!(got, [frames[0].clone(), frames[2].clone()]);
    assert_eq!(a.stats().rx_errors, 1, "{:?}", a.stats());
}

/// Jumbo frames and TSO super-frames (64 KiB, with their virtio-net header) arrive whole on
/// every receive path: in a `TPACKET_V3` block, or through the socket queue when they do not
/// fit a `TPACKET_V2` slot, in order with the small frames around them.
#[test]
fn af_packet_carries_jumbo_and_tso_frames_whole() {
    let ns = Namespace::new("ringtso");
    ns.veth();
    ns.exec(&["ip", "link", "set", "fvsa", "mtu", "9000"]);
    ns.exec(&["ip", "link", "set", "fvsb", "mtu", "9000"]);
    for (path, options) in rx_paths(true) {
        let mut a = ns.af_packet_with("fvsa", options);
        let mut b = ns.af_packet_with("fvsb", options);
        let jumbo = frame(9, 9014);
        let (tso, vnet) = tcp_super_frame(64_000, 1448);
        let mut batch = PacketBatch::new(6, GSO_FRAME_CAPACITY);
        batch.push(&frame(1, 60)).unwrap();
        batch.push(&jumbo).unwrap();
        batch.push(&jumbo).unwrap();
        batch.push(&frame(2, 60)).unwrap();
        batch.push_with_vnet(&tso, vnet).unwrap();
        batch.push(&frame(3, 60)).unwrap();
        assert_eq!(b.send_batch(&batch).unwrap(), 6, "{path}: {:?}", b.stats());

        // Ours: from 02:00:00:00:00:01 (the kernel's own frames, if any, are not).
        let ours = |f: &[u8]| f.get(6..12) == Some(&[2, 0, 0, 0, 0, 1][..]);
        let mut got = Vec::new();
        let mut rx = PacketBatch::new(32, GSO_FRAME_CAPACITY);
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 6 && Instant::now() < deadline {
            rx.clear();
            if a.recv_batch(&mut rx).unwrap() == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            got.extend(
                rx.iter()
                    .filter(|p| ours(p.data()))
                    .map(|p| (p.data().to_vec(), p.vnet())),
            );
        }
        let lens: Vec<usize> = got.iter().map(|(f, _)| f.len()).collect();
        assert_eq!(
            lens,
            [60, 9014, 9014, 60, 64_000, 60],
            "{path}: every frame whole, in order ({:?})",
            a.stats()
        );
        assert_eq!(got[1].0, jumbo, "{path}: the jumbo frames");
        assert_eq!(got[2].0, jumbo, "{path}: the jumbo frames");
        assert_eq!(got[4].0, tso, "{path}: one super-frame, not split");
        let v = got[4].1;
        assert_eq!(
            (v.gso_type.kind(), v.gso_size),
            (GsoType::TCPV4, 1448),
            "{path}: {v:?}"
        );
        assert!(v.flags.contains(VnetFlags::NEEDS_CSUM), "{path}: {v:?}");
        assert_eq!((v.csum_start, v.csum_offset), (34, 16), "{path}: {v:?}");
    }
}

/// An Ethernet + IPv4 + TCP frame of `len` bytes from 10.9.0.1:1000 to 10.9.0.2:2000 and the
/// virtio-net header that asks for TSO in segments of `mss` (TCP checksum left partial: the
/// pseudo-header sum in the field, as a stack hands it to a TSO device).
fn tcp_super_frame(len: usize, mss: u16) -> (Vec<u8>, VnetHdr) {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip_len = (len - 14) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let sum = !fold(
        ip.chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum(),
    );
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let tcp_len = u32::from(ip_len) - 20;
    let pseudo = fold(0x0a09 + 0x0001 + 0x0a09 + 0x0002 + 6 + tcp_len);
    let mut tcp = vec![
        0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ];
    tcp.extend_from_slice(&pseudo.to_be_bytes());
    tcp.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&tcp);
    f.extend((f.len()..len).map(|i| (i % 251) as u8));
    let vnet = VnetHdr {
        flags: VnetFlags::NEEDS_CSUM,
        gso_type: GsoType::TCPV4,
        hdr_len: 54,
        gso_size: mss,
        csum_start: 34,
        csum_offset: 16,
    };
    (f, vnet)
}

/// Folds a 32-bit one's-complement sum into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
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
        Tap::open(
            "fvstap0",
            TapOptions {
                vnet_hdr: false,
                up: true,
                persist: false,
            },
        )
        .expect("open TAP")
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
        Tap::open(
            "fvstap1",
            TapOptions {
                vnet_hdr: true,
                up: true,
                persist: false,
            },
        )
        .expect("open TAP")
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

/// The rtnetlink lookups answer what `ip route get` and `ip addr` say inside the namespace:
/// a connected destination (no gateway, the interface's address as source), one behind a
/// gateway, one of the host's own addresses, and no route at all.
#[test]
fn netlink_route_lookups_match_the_kernels_table() {
    use fvs_netdev::netlink::{ipv4_addresses, ipv4_routes, link_names, route_get};
    use fvs_netdev::poll::ifindex;
    use std::net::Ipv4Addr;
    let ns = Namespace::new("route");
    ns.veth();
    ns.exec(&["ip", "addr", "add", "10.61.0.1/24", "dev", "fvsa"]);
    ns.exec(&["ip", "route", "add", "10.62.0.0/16", "via", "10.61.0.254"]);
    let _in_ns = netns::enter(ns.name()).expect("enter namespace");
    let fvsa = ifindex("fvsa");
    assert_ne!(fvsa, 0);
    let direct = route_get(Ipv4Addr::new(10, 61, 0, 7)).expect("connected route");
    assert_eq!(direct.oif, fvsa);
    assert_eq!(direct.gateway, None);
    assert_eq!(direct.prefsrc, Some(Ipv4Addr::new(10, 61, 0, 1)));
    assert!(!direct.local);
    let routed = route_get(Ipv4Addr::new(10, 62, 3, 4)).expect("route via a gateway");
    assert_eq!(routed.oif, fvsa);
    assert_eq!(routed.gateway, Some(Ipv4Addr::new(10, 61, 0, 254)));
    assert_eq!(
        routed.next_hop(Ipv4Addr::new(10, 62, 3, 4)),
        Ipv4Addr::new(10, 61, 0, 254)
    );
    assert!(
        route_get(Ipv4Addr::new(10, 61, 0, 1))
            .expect("own address")
            .local
    );
    let none = route_get(Ipv4Addr::new(192, 0, 2, 1)).expect_err("no default route");
    assert_eq!(none.raw_os_error(), Some(libc::ENETUNREACH), "{none}");
    let addrs = ipv4_addresses().expect("address dump");
    assert!(
        addrs.iter().any(|a| a.ifindex == fvsa
            && a.addr == Ipv4Addr::new(10, 61, 0, 1)
            && a.prefix_len == 24),
        "{addrs:?}"
    );
    assert!(
        addrs.iter().any(|a| a.addr == Ipv4Addr::LOCALHOST),
        "{addrs:?}"
    );
    let routes = ipv4_routes().expect("route dump");
    let via = routes
        .iter()
        .find(|r| r.dst == Ipv4Addr::new(10, 62, 0, 0))
        .unwrap_or_else(|| panic!("no 10.62.0.0/16 in {routes:?}"));
    assert_eq!(via.prefix_len, 16);
    assert_eq!(via.route.gateway, Some(Ipv4Addr::new(10, 61, 0, 254)));
    assert!(
        routes
            .iter()
            .any(|r| r.dst == Ipv4Addr::new(10, 61, 0, 1) && r.prefix_len == 32 && r.route.local),
        "{routes:?}"
    );
    let names = link_names().expect("link dump");
    assert_eq!(names.get(&fvsa).map(String::as_str), Some("fvsa"));

    // A route change is announced; nothing else is.
    let mut changes = fvs_netdev::netlink::Changes::open().expect("subscribe");
    let quiet = Duration::from_millis(100);
    assert!(!changes.wait(quiet).expect("wait"), "no change yet");
    ns.exec(&["ip", "route", "add", "10.64.0.0/16", "via", "10.61.0.254"]);
    assert!(
        changes.wait(Duration::from_secs(2)).expect("wait"),
        "route added"
    );
    assert!(!changes.wait(quiet).expect("wait"), "all read");
}

/// The IPv6 twins of the rtnetlink lookups answer what `ip -6 route get` and `ip -6 addr`
/// say: a connected destination (the interface's address as source), one behind a
/// link-local gateway, one of the host's own addresses, no route at all; and a change of an
/// IPv6 route is announced.
#[test]
fn netlink_ipv6_route_lookups_match_the_kernels_table() {
    use fvs_netdev::netlink::{ipv6_addresses, ipv6_routes, route_get_v6};
    use fvs_netdev::poll::ifindex;
    use std::net::Ipv6Addr;
    let ns = Namespace::new("route6");
    for conf in ["all", "default"] {
        for (key, value) in [
            ("disable_ipv6", "0"),
            ("accept_dad", "0"),
            ("accept_ra", "0"),
        ] {
            let setting = format!("net.ipv6.conf.{conf}.{key}={value}");
            ns.exec(&["sysctl", "-qw", &setting]);
        }
    }
    ns.veth();
    ns.exec(&["ip", "addr", "add", "fd00:61::1/64", "dev", "fvsa", "nodad"]);
    ns.exec(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:62::/48",
        "via",
        "fe80::fe",
        "dev",
        "fvsa",
    ]);
    let _in_ns = netns::enter(ns.name()).expect("enter namespace");
    let fvsa = ifindex("fvsa");
    assert_ne!(fvsa, 0);
    let v6 = |s: &str| s.parse::<Ipv6Addr>().expect("an IPv6 address");
    let direct = route_get_v6(v6("fd00:61::7")).expect("connected route");
    assert_eq!((direct.oif, direct.gateway), (fvsa, None));
    assert_eq!(direct.prefsrc, Some(v6("fd00:61::1")));
    assert!(!direct.local);
    let routed = route_get_v6(v6("fd00:62::5")).expect("route via a gateway");
    assert_eq!((routed.oif, routed.gateway), (fvsa, Some(v6("fe80::fe"))));
    assert_eq!(routed.next_hop(v6("fd00:62::5")), v6("fe80::fe"));
    assert!(route_get_v6(v6("fd00:61::1")).expect("own address").local);
    let none = route_get_v6(v6("2001:db8::1")).expect_err("no default route");
    assert!(fvs_netdev::netlink::is_no_route(&none), "{none}");
    let addrs = ipv6_addresses().expect("address dump");
    assert!(
        addrs
            .iter()
            .any(|a| a.ifindex == fvsa && a.addr == v6("fd00:61::1") && a.prefix_len == 64),
        "{addrs:?}"
    );
    assert!(
        addrs
            .iter()
            .any(|a| a.ifindex == fvsa && a.addr.is_unicast_link_local()),
        "the link-local address is listed too: {addrs:?}"
    );
    let routes = ipv6_routes().expect("route dump");
    assert!(
        routes.iter().any(|r| r.dst == v6("fd00:62::")
            && r.prefix_len == 48
            && r.route.gateway == Some(v6("fe80::fe"))),
        "{routes:?}"
    );
    let mut changes = fvs_netdev::netlink::Changes::open().expect("subscribe");
    let quiet = Duration::from_millis(100);
    assert!(!changes.wait(quiet).expect("wait"), "no change yet");
    ns.exec(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:64::/48",
        "via",
        "fe80::fe",
        "dev",
        "fvsa",
    ]);
    assert!(
        changes.wait(Duration::from_secs(2)).expect("wait"),
        "IPv6 route added"
    );
}
