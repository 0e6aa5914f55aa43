//! eBPF traffic-control filters that push and pop tunnel headers (`fvs_netdev::tc`'s
//! `add_bpf_filter`), on real veth pairs in a throw-away network namespace (root; CI runs as
//! root, and the tests fail without it).
//!
//! Each test has two pairs, `x0`–`x1` and `y0`–`y1`: frames sent into `x0` arrive on `x1`'s
//! ingress, where the filter under test redirects what it takes out of `y0`, so it is read
//! on `y1`. The outer headers are checked against the tunnel formats' own definitions (RFC
//! 791's header checksum computed here independently, GRE's and VXLAN's fields), never
//! against the filter's own code.

use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions};
use fvs_netdev::batch::GSO_FRAME_CAPACITY;
use fvs_netdev::tap::{Tap, TapOptions};
use fvs_netdev::tc::{self, BpfCount, Filter, PRIO_FIRST, Rewrite};
use fvs_netdev::{GsoType, Netdev, PacketBatch, VnetFlags, VnetHdr, netns};
use fvs_test_support::netns::{Netns, require_root, veth};

/// The VM's and the remote's Ethernet addresses (inner frame), and the tunnel ends' (outer).
const VM: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const REMOTE_VM: [u8; 6] = [2, 0, 0, 0, 0xa, 2];
const LOCAL_END: [u8; 6] = [2, 0, 0, 0, 0xb, 1];
const REMOTE_END: [u8; 6] = [2, 0, 0, 0, 0xb, 2];
const ALL: [u8; 6] = [0xff; 6];

/// A namespace with the two veth pairs, entered by the calling thread for as long as the lab
/// lives, with the devices' indexes.
struct Lab {
    _in: netns::NetnsGuard,
    ns: Netns,
    x1: u32,
    y0: u32,
}

impl Lab {
    fn new(tag: &str) -> Self {
        require_root();
        let ns = Netns::new(&format!("fvs-h1{tag}-{}", std::process::id()));
        veth(ns.name(), "x0", ns.name(), "x1");
        veth(ns.name(), "y0", ns.name(), "y1");
        let entered = netns::enter(ns.name()).expect("enter the namespace");
        let x1 = tc::ifindex("x1").expect("x1's index");
        let y0 = tc::ifindex("y0").expect("y0's index");
        assert!(tc::ensure_ingress(x1).expect("an ingress qdisc on x1"));
        Self {
            _in: entered,
            ns,
            x1,
            y0,
        }
    }

    fn open(&self, dev: &str, vnet_hdr: bool) -> AfPacket {
        let options = AfPacketOptions {
            vnet_hdr,
            ..AfPacketOptions::default()
        };
        AfPacket::open(dev, options).expect("AF_PACKET socket")
    }
}

/// Frames (with their virtio-net headers) whose destination is `dst`, received within
/// `wait`.
fn received(dev: &mut impl Netdev, dst: [u8; 6], wait: Duration) -> Vec<(Vec<u8>, VnetHdr)> {
    let mut got = Vec::new();
    let mut batch = PacketBatch::new(32, GSO_FRAME_CAPACITY);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        batch.clear();
        if dev.recv_batch(&mut batch).expect("recv_batch") == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        got.extend(
            batch
                .iter()
                .filter(|p| p.data().get(..6) == Some(&dst[..]))
                .map(|p| (p.data().to_vec(), p.vnet())),
        );
    }
    got
}

fn frames(dev: &mut AfPacket, dst: [u8; 6]) -> Vec<Vec<u8>> {
    received(dev, dst, Duration::from_millis(500))
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

fn send(dev: &mut AfPacket, frame: &[u8], vnet: VnetHdr) {
    let mut batch = PacketBatch::new(1, GSO_FRAME_CAPACITY);
    batch.push_with_vnet(frame, vnet).expect("a frame");
    assert_eq!(
        dev.send_batch(&batch).expect("send"),
        1,
        "{:?}",
        dev.stats()
    );
}

/// RFC 1071's sum, folded, of `bytes` (an even number).
fn sum16(bytes: &[u8]) -> u16 {
    let mut s: u32 = bytes
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// An IPv4 header (no options) with a correct checksum.
fn ipv4(total_len: u16, protocol: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, protocol, 0, 0];
    ip[2..4].copy_from_slice(&total_len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = !sum16(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip
}

/// The VM's frame: Ethernet + IPv4 (protocol 253, for experiments) + `payload` bytes.
fn vm_frame(src: [u8; 6], payload: usize) -> Vec<u8> {
    let mut f = REMOTE_VM.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(20 + payload).unwrap();
    f.extend_from_slice(&ipv4(ip_len, 253, [10, 0, 0, 1], [10, 0, 0, 2]));
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// The outer Ethernet + IPv4 header from the local tunnel end to the remote one, with junk
/// where the per-packet fields go (the filter must ignore it).
fn outer(protocol: u8) -> Vec<u8> {
    let mut h = REMOTE_END.to_vec();
    h.extend_from_slice(&LOCAL_END);
    h.extend_from_slice(&[0x08, 0x00]);
    let mut ip = ipv4(0, protocol, [192, 168, 1, 1], [192, 168, 1, 2]);
    ip[2..4].copy_from_slice(&[0xde, 0xad]);
    ip[10..12].copy_from_slice(&[0xbe, 0xef]);
    h.extend_from_slice(&ip);
    h
}

/// GRE with a key (flags 0x2000, protocol 0x6558 transparent Ethernet bridging, key 7).
fn gre_header() -> Vec<u8> {
    let mut h = outer(47);
    h.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7]);
    h
}

/// UDP to port 4789 and a VXLAN header with VNI 0x123456.
fn vxlan_header() -> Vec<u8> {
    let mut h = outer(17);
    h.extend_from_slice(&[0xc0, 0x00, 0x12, 0xb5, 0xaa, 0xaa, 0xbb, 0xbb]);
    h.extend_from_slice(&[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    h
}

/// The filter taking the VM's frames (by Ethernet source and destination, not fragments)
/// from x1 to y0.
fn vm_filter(lab: &Lab, rewrite: Rewrite) -> Filter {
    let mut keys = tc::ethernet_keys((REMOTE_VM, ALL), (VM, ALL));
    keys.push(tc::ipv4_not_fragment());
    Filter {
        prio: PRIO_FIRST + 1,
        protocol: 0x0800,
        keys,
        redirect: lab.y0,
        rewrite,
    }
}

/// The far end of a tunnel: a filter on y1's ingress that strips `header_len` bytes of outer
/// headers (sent from `LOCAL_END` to `REMOTE_END`) and redirects to device `to`.
fn far_decap(header_len: usize, to: &str) -> tc::BpfCounters {
    far_decap_of(0x0800, header_len, to)
}

/// [`far_decap`] for outer headers of EtherType `protocol`.
fn far_decap_of(protocol: u16, header_len: usize, to: &str) -> tc::BpfCounters {
    let y1 = tc::ifindex("y1").expect("y1's index");
    assert!(tc::ensure_ingress(y1).expect("an ingress qdisc on y1"));
    let decap = Filter {
        prio: PRIO_FIRST + 1,
        protocol,
        keys: tc::ethernet_keys((REMOTE_END, ALL), (LOCAL_END, ALL)),
        redirect: tc::ifindex(to).unwrap_or_else(|| panic!("{to}'s index")),
        rewrite: Rewrite::Decap {
            outer_len: u16::try_from(header_len).expect("a header length"),
        },
    };
    tc::add_bpf_filter(y1, &decap).expect("the decap filter")
}

/// A filter's counters: packets taken, their bytes (as they arrived), packets it failed.
#[track_caller]
fn assert_counts(c: &tc::BpfCounters, packets: u64, bytes: u64, failed: u64) {
    assert_eq!(
        c.read().expect("counters"),
        BpfCount {
            packets,
            bytes,
            failed
        }
    );
}

/// Checks `got` is `inner` behind `header` with the per-packet fields filled in.
fn assert_encapsulated(got: &[u8], header: &[u8], inner: &[u8]) {
    assert_eq!(got.len(), header.len() + inner.len(), "length");
    assert_eq!(&got[header.len()..], inner, "the inner frame intact");
    assert_eq!(
        &got[..16],
        &header[..16],
        "Ethernet header and IPv4's first word"
    );
    assert_eq!(
        &got[18..24],
        &header[18..24],
        "IPv4 id, fragment, TTL, protocol"
    );
    assert_eq!(&got[26..34], &header[26..34], "IPv4 addresses");
    let total = u16::from_be_bytes([got[16], got[17]]);
    assert_eq!(usize::from(total), got.len() - 14, "IPv4 total length");
    assert_eq!(sum16(&got[14..34]), 0xffff, "a valid IPv4 header checksum");
}

#[test]
fn gre_encapsulation_pushes_the_header_and_redirects() {
    let lab = Lab::new("ge");
    let (mut x0, mut x1, mut y1) = (
        lab.open("x0", false),
        lab.open("x1", false),
        lab.open("y1", false),
    );
    let header = gre_header();
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.clone(),
        },
    );
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    assert_eq!(
        tc::add_bpf_filter(lab.x1, &f)
            .expect_err("the same priority twice")
            .raw_os_error(),
        Some(libc::EEXIST)
    );

    let inner = vm_frame(VM, 100);
    send(&mut x0, &inner, VnetHdr::NONE);
    let got = frames(&mut y1, REMOTE_END);
    assert_eq!(got.len(), 1, "one encapsulated frame on y1");
    assert_encapsulated(&got[0], &header, &inner);
    assert_eq!(
        &got[0][34..42],
        &[0x20, 0, 0x65, 0x58, 0, 0, 0, 7],
        "GRE key 7, TEB"
    );
    assert_counts(&counters, 1, inner.len() as u64, 0);

    // An ARP frame between the same addresses is of another protocol than the filter's:
    // the filter does not see it, the stack does (x1's socket), y1 gets nothing.
    let mut arp = REMOTE_VM.to_vec();
    arp.extend_from_slice(&VM);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&VM);
    arp.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    arp.resize(60, 0);
    send(&mut x0, &arp, VnetHdr::NONE);
    assert_eq!(frames(&mut x1, REMOTE_VM).last(), Some(&arp), "ARP on x1");
    assert!(frames(&mut y1, REMOTE_END).is_empty(), "nothing on y1");
    assert!(frames(&mut y1, REMOTE_VM).is_empty(), "nothing on y1");
    assert_eq!(counters.read().expect("counters").packets, 1);

    // A full-size frame no longer fits y0's MTU once encapsulated: the filter takes it
    // (counted, not failed) and the veth drops it on transmit. Tunnel networks therefore
    // give their VMs an MTU smaller by the header (as Neutron does).
    let full = vm_frame(VM, 1500 - 20);
    send(&mut x0, &full, VnetHdr::NONE);
    assert!(frames(&mut y1, REMOTE_END).is_empty(), "too big for y0");
    assert_counts(&counters, 2, (inner.len() + full.len()) as u64, 0);

    // tc lists it as ferrovs's program, direct action, software only.
    let shown = lab
        .ns
        .exec(&["tc", "filter", "show", "dev", "x1", "ingress"]);
    assert!(
        shown.contains("pref 61441 bpf") && shown.contains("ferrovs_encap"),
        "{shown}"
    );
    assert!(
        shown.contains("direct-action") && shown.contains("skip_hw"),
        "{shown}"
    );
}

#[test]
fn keys_that_do_not_match_leave_the_packet_to_the_stack() {
    let lab = Lab::new("nm");
    let (mut x0, mut x1, mut y1) = (
        lab.open("x0", false),
        lab.open("x1", false),
        lab.open("y1", false),
    );
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: gre_header(),
        },
    );
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    // Another source; a fragment of the VM's; a frame of the VM's with a VLAN tag.
    let other = vm_frame([2, 0, 0, 0, 0xa, 9], 100);
    send(&mut x0, &other, VnetHdr::NONE);
    let mut fragment = vm_frame(VM, 100);
    fragment[20] = 0x20; // more fragments
    let sum = !sum16(&{
        let mut ip = fragment[14..34].to_vec();
        ip[10..12].fill(0);
        ip
    });
    fragment[24..26].copy_from_slice(&sum.to_be_bytes());
    send(&mut x0, &fragment, VnetHdr::NONE);
    let plain = vm_frame(VM, 100);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    tagged.extend_from_slice(&plain[12..]);
    send(&mut x0, &tagged, VnetHdr::NONE);
    let at_x1 = frames(&mut x1, REMOTE_VM);
    assert_eq!(
        at_x1,
        vec![other, fragment, tagged],
        "all reach x1's own socket"
    );
    assert!(
        frames(&mut y1, REMOTE_END).is_empty(),
        "none is encapsulated"
    );
    assert!(frames(&mut y1, REMOTE_VM).is_empty(), "none is redirected");
    assert_eq!(counters.read().expect("counters"), BpfCount::default());

    // The dump sees the filter (with zero counts: its counters are the program's), and
    // remove_all deletes it.
    let dumped = tc::dump_filters(lab.x1).expect("dump");
    assert_eq!(dumped.len(), 1, "{dumped:?}");
    assert_eq!(
        (
            dumped[0].prio,
            dumped[0].protocol,
            dumped[0].packets,
            dumped[0].bytes
        ),
        (f.prio, 0x0800, 0, 0)
    );
    assert_eq!(tc::remove_all(lab.x1).expect("remove_all"), 1);
    assert!(tc::dump_filters(lab.x1).expect("dump").is_empty());
    let shown = lab
        .ns
        .exec(&["tc", "filter", "show", "dev", "x1", "ingress"]);
    assert!(shown.trim().is_empty(), "{shown}");
    // The counters outlive the filter; they no longer move.
    send(&mut x0, &vm_frame(VM, 100), VnetHdr::NONE);
    assert!(frames(&mut y1, REMOTE_END).is_empty());
    assert_eq!(counters.read().expect("counters"), BpfCount::default());
}

#[test]
fn vxlan_encapsulation_fills_the_udp_length_and_zeroes_its_checksum() {
    let lab = Lab::new("vx");
    let (mut x0, mut y1) = (lab.open("x0", false), lab.open("y1", false));
    let header = vxlan_header();
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.clone(),
        },
    );
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    let inner = vm_frame(VM, 333);
    send(&mut x0, &inner, VnetHdr::NONE);
    let got = frames(&mut y1, REMOTE_END);
    assert_eq!(got.len(), 1, "one encapsulated frame on y1");
    let got = &got[0];
    assert_encapsulated(got, &header, &inner);
    assert_eq!(&got[34..38], &header[34..38], "UDP ports");
    let udp_len = u16::from_be_bytes([got[38], got[39]]);
    assert_eq!(usize::from(udp_len), got.len() - 34, "UDP length");
    assert_eq!(&got[40..42], &[0, 0], "no UDP checksum");
    assert_eq!(&got[42..50], &header[42..50], "VXLAN header");
    assert_counts(&counters, 1, inner.len() as u64, 0);
}

#[test]
fn an_ipv6_frame_is_encapsulated_over_ipv4_and_back() {
    let lab = Lab::new("v6");
    veth(lab.ns.name(), "z0", lab.ns.name(), "z1");
    let (mut x0, mut y1, mut z1) = (
        lab.open("x0", false),
        lab.open("y1", false),
        lab.open("z1", false),
    );
    let header = gre_header();
    let encap = Filter {
        protocol: 0x86dd,
        keys: tc::ethernet_keys((REMOTE_VM, ALL), (VM, ALL)),
        ..vm_filter(
            &lab,
            Rewrite::Encap {
                header: header.clone(),
            },
        )
    };
    let near = tc::add_bpf_filter(lab.x1, &encap).expect("the encap filter");
    let far = far_decap(header.len(), "z0");

    // An IPv6 header (next header 59, "no next header") and 64 bytes.
    let mut inner = REMOTE_VM.to_vec();
    inner.extend_from_slice(&VM);
    inner.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 64, 59, 64]);
    inner.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    inner.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    inner.extend((0..64).map(|i| i as u8));
    send(&mut x0, &inner, VnetHdr::NONE);
    let got = frames(&mut y1, REMOTE_END);
    assert_eq!(got.len(), 1, "one encapsulated frame on y1");
    assert_encapsulated(&got[0], &header, &inner);
    assert_eq!(
        frames(&mut z1, REMOTE_VM),
        vec![inner.clone()],
        "decapsulated"
    );
    assert_eq!(near.read().expect("counters").packets, 1);
    assert_eq!(far.read().expect("counters").packets, 1);
}

/// A VXLAN header with source port 0: each inner connection gets a port of its own from its
/// flow hash, in Linux's ephemeral range, the same for each of its packets.
#[test]
fn a_zero_udp_source_port_becomes_the_flows_own() {
    let lab = Lab::new("sp");
    let (mut x0, mut y1) = (lab.open("x0", false), lab.open("y1", false));
    let mut header = vxlan_header();
    header[34..36].fill(0);
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.clone(),
        },
    );
    let _counters = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    // Eight UDP connections (inner source ports 1000..1008), two packets each.
    let connection = |port: u16| {
        let mut f = REMOTE_VM.to_vec();
        f.extend_from_slice(&VM);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ipv4(20 + 8 + 4, 17, [10, 0, 0, 1], [10, 0, 0, 2]));
        f.extend_from_slice(&port.to_be_bytes());
        f.extend_from_slice(&[0x13, 0x88, 0, 12, 0, 0, 1, 2, 3, 4]);
        f
    };
    let mut rounds = Vec::new();
    for round in 0..2 {
        for port in 1000..1008 {
            send(&mut x0, &connection(port), VnetHdr::NONE);
        }
        let got = frames(&mut y1, REMOTE_END);
        assert_eq!(got.len(), 8, "round {round}");
        for (g, port) in got.iter().zip(1000..) {
            assert_encapsulated(g, &header[..34], &g[34..]);
            assert_eq!(&g[header.len()..], &connection(port)[..], "inner");
            assert_eq!(&g[36..38], &header[36..38], "destination port");
        }
        let ports: Vec<u16> = got
            .iter()
            .map(|g| u16::from_be_bytes([g[34], g[35]]))
            .collect();
        assert!(
            ports.iter().all(|p| (32768..=60999).contains(p)),
            "{ports:?}"
        );
        rounds.push(ports);
    }
    assert_eq!(rounds[0], rounds[1], "each connection keeps its port");
    let mut distinct = rounds[0].clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 1, "connections spread: {:?}", rounds[0]);
}

#[test]
fn decapsulation_hands_on_the_inner_frame_exactly() {
    let lab = Lab::new("de");
    let (mut x0, mut y1) = (lab.open("x0", false), lab.open("y1", false));
    // From the remote end to the local one, GRE (protocol 47 in the IPv4 header's third
    // word), key 7.
    let mut keys = tc::ethernet_keys((LOCAL_END, ALL), (REMOTE_END, ALL));
    keys.push(tc::ipv4_not_fragment());
    keys.push(tc::Key {
        at: 8,
        mask: 0x00ff_0000,
        value: 47 << 16,
    });
    keys.push(tc::Key {
        at: 24,
        mask: u32::MAX,
        value: 7,
    });
    let header_len = gre_header().len();
    let f = Filter {
        prio: PRIO_FIRST + 2,
        protocol: 0x0800,
        keys,
        redirect: lab.y0,
        rewrite: Rewrite::Decap {
            outer_len: u16::try_from(header_len).unwrap(),
        },
    };
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the decap filter");

    // The remote VM's frame as the remote end sends it.
    let mut inner = vm_frame(REMOTE_VM, 200);
    inner[..6].copy_from_slice(&VM);
    let mut outer = LOCAL_END.to_vec();
    outer.extend_from_slice(&REMOTE_END);
    outer.extend_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(20 + 8 + inner.len()).unwrap();
    outer.extend_from_slice(&ipv4(ip_len, 47, [192, 168, 1, 2], [192, 168, 1, 1]));
    outer.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7]);
    assert_eq!(outer.len(), header_len);
    let mut packet = outer.clone();
    packet.extend_from_slice(&inner);
    send(&mut x0, &packet, VnetHdr::NONE);
    assert_eq!(
        frames(&mut y1, VM),
        vec![inner.clone()],
        "the inner frame on y1"
    );
    assert_counts(&counters, 1, packet.len() as u64, 0);

    // Another key is not decapsulated.
    let mut other = packet.clone();
    other[41] = 8;
    send(&mut x0, &other, VnetHdr::NONE);
    assert!(frames(&mut y1, VM).is_empty());
    assert_eq!(counters.read().expect("counters").packets, 1);
}

#[test]
fn a_rewrite_that_fails_drops_and_counts_the_packet() {
    let lab = Lab::new("fa");
    let (mut x0, mut y1) = (lab.open("x0", false), lab.open("y1", false));
    // A decapsulation longer than the frames it takes: reading the inner Ethernet header
    // fails.
    let f = vm_filter(&lab, Rewrite::Decap { outer_len: 400 });
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the decap filter");
    let short = vm_frame(VM, 100);
    send(&mut x0, &short, VnetHdr::NONE);
    assert!(frames(&mut y1, REMOTE_VM).is_empty(), "dropped");
    assert_counts(&counters, 1, short.len() as u64, 1);
    // A filter the program cannot be: refused before the kernel is asked.
    let arp = Filter {
        protocol: 0x0806,
        prio: PRIO_FIRST + 3,
        ..vm_filter(&lab, Rewrite::Decap { outer_len: 50 })
    };
    let err = tc::add_bpf_filter(lab.x1, &arp).expect_err("not IPv4");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(
        tc::add_filter(lab.x1, &f)
            .expect_err("a u32 filter cannot rewrite")
            .raw_os_error(),
        Some(libc::EINVAL)
    );
}

/// An Ethernet + IPv4 + TCP frame of `len` bytes from the VM and the virtio-net header asking
/// for TSO in segments of `mss` (the TCP checksum field holds the pseudo-header's sum, as a
/// stack hands a frame to a TSO device).
fn tcp_super_frame(len: usize, mss: u16) -> (Vec<u8>, VnetHdr) {
    let mut f = REMOTE_VM.to_vec();
    f.extend_from_slice(&VM);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(len - 14).unwrap();
    f.extend_from_slice(&ipv4(ip_len, 6, [10, 0, 0, 1], [10, 0, 0, 2]));
    let tcp_len = ip_len - 20;
    let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 6];
    pseudo.extend_from_slice(&tcp_len.to_be_bytes());
    let mut tcp = vec![
        0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ];
    tcp.extend_from_slice(&sum16(&pseudo).to_be_bytes());
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

/// What the kernel does with a TSO super-frame a filter encapsulates: it crosses the veth
/// underlay whole, as one GSO frame whose segments keep the VM's segment size; a packet
/// socket with virtio-net headers on the far side reads it as a TCPv4 super-frame whose
/// checksum to complete is the inner TCP one. A decapsulation filter there (y1 to a third
/// pair z0–z1) hands the VM's super-frame on whole and unchanged.
#[test]
fn a_tso_super_frame_is_encapsulated_whole() {
    tso_crosses_whole("gs", &gre_header(), 0x0800, |out, header, frame| {
        assert_encapsulated(out, header, frame);
        assert_eq!(&out[34..42], &header[34..42], "GRE header");
    });
}

/// Sends a TSO super-frame through an encapsulation filter pushing `header` (of outer
/// EtherType `protocol`), checks the one frame on y1 with `check_outer` (frame, header,
/// inner) and the virtio-net header the far side reads, then decapsulates on y1 towards z0
/// and checks the VM's super-frame arrives unchanged.
fn tso_crosses_whole(
    tag: &str,
    header: &[u8],
    protocol: u16,
    check_outer: fn(&[u8], &[u8], &[u8]),
) {
    let lab = Lab::new(tag);
    veth(lab.ns.name(), "z0", lab.ns.name(), "z1");
    let (mut x0, mut y1) = (lab.open("x0", true), lab.open("y1", true));
    let mut z1 = lab.open("z1", true);
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.to_vec(),
        },
    );
    let counters = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    let (frame, vnet) = tcp_super_frame(20_000, 1448);
    send(&mut x0, &frame, vnet);
    let got = received(&mut y1, REMOTE_END, Duration::from_secs(1));
    let summary: Vec<(usize, VnetHdr)> = got.iter().map(|(f, v)| (f.len(), *v)).collect();
    assert_eq!(got.len(), 1, "one frame on y1: {summary:?}");
    let (out, v) = &got[0];
    // The inner headers intact (the TCP checksum is still the partial one).
    check_outer(out, header, &frame);
    assert_eq!(
        (v.gso_type.kind(), v.gso_size),
        (GsoType::TCPV4, 1448),
        "{v:?}"
    );
    assert!(v.flags.contains(VnetFlags::NEEDS_CSUM), "{v:?}");
    let inner_tcp = u16::try_from(header.len() + 34).unwrap();
    assert_eq!((v.csum_start, v.csum_offset), (inner_tcp, 16), "{v:?}");
    assert_counts(&counters, 1, frame.len() as u64, 0);

    // The far end: decapsulate on y1's ingress towards z0.
    let far = far_decap_of(protocol, header.len(), "z0");
    send(&mut x0, &frame, vnet);
    let got = received(&mut z1, REMOTE_VM, Duration::from_secs(1));
    let summary: Vec<(usize, VnetHdr)> = got.iter().map(|(f, v)| (f.len(), *v)).collect();
    assert_eq!(got.len(), 1, "one frame on z1: {summary:?}");
    assert_eq!(got[0].0, frame, "the VM's super-frame as it was sent");
    assert_eq!(got[0].1, vnet, "with the VM's offload request");
    assert_counts(&far, 1, (header.len() + frame.len()) as u64, 0);
}

/// A VM's device is often a TAP (a hypervisor's, with virtio-net headers and TSO on). This
/// kernel's `bpf_skb_adjust_room` leaves a decapsulated packet marked as encapsulated (newer
/// kernels take `BPF_F_ADJ_ROOM_DECAP_L4_GRE`/`_UDP` to clear it; this one refuses them), and
/// a TAP offers no segmentation for encapsulated packets, so the kernel cuts the VM's
/// super-frame into MSS-sized frames on the way into the TAP (checksums left partial for the
/// reader): correct, but not whole as on a veth.
#[test]
fn a_decapsulated_super_frame_reaches_a_tap_in_segments() {
    let lab = Lab::new("tp");
    let mut tap = Tap::open(
        "t0",
        TapOptions {
            vnet_hdr: true,
            up: true,
            persist: false,
        },
    )
    .expect("a TAP");
    lab.ns.ip(&["link", "set", "t0", "up"]);
    let (mut x0, mut y1) = (lab.open("x0", true), lab.open("y1", true));
    let header = gre_header();
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.clone(),
        },
    );
    let _near = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    let far = far_decap(header.len(), "t0");
    let (frame, vnet) = tcp_super_frame(20_000, 1448);
    send(&mut x0, &frame, vnet);
    let on_y1 = received(&mut y1, REMOTE_END, Duration::from_millis(500));
    assert_eq!(on_y1.len(), 1, "whole on the underlay");
    let got = received(&mut tap, REMOTE_VM, Duration::from_secs(1));
    let payload = &frame[54..];
    assert_eq!(got.len(), payload.len().div_ceil(1448), "segments");
    let mut joined = Vec::new();
    for (f, v) in &got {
        assert!(f.len() <= 54 + 1448, "{}", f.len());
        assert_eq!(&f[..14], &frame[..14], "the inner Ethernet header");
        assert_eq!(v.gso_type, GsoType::NONE, "{v:?}");
        assert!(v.flags.contains(VnetFlags::NEEDS_CSUM), "{v:?}");
        assert_eq!((v.csum_start, v.csum_offset), (34, 16), "{v:?}");
        joined.extend_from_slice(&f[54..]);
    }
    assert_eq!(joined, payload, "the payload, in order");
    assert_eq!(far.read().expect("counters").packets, 1, "one super-frame");
}

/// Ethernet + IPv6 from the local tunnel end (fd00:97::1) to the remote one (fd00:97::2):
/// traffic class 0xb8, flow label 0, GRE, hop limit 17, junk in the payload length (the
/// filter must fill it in); GRE with key 7 and Ethernet inside (RFC 2473's and RFC 2890's
/// fields, as an ip6gretap device sends them).
fn ip6gre_header() -> Vec<u8> {
    let mut h = REMOTE_END.to_vec();
    h.extend_from_slice(&LOCAL_END);
    h.extend_from_slice(&[0x86, 0xdd]);
    h.extend_from_slice(&[0x6b, 0x80, 0, 0, 0xde, 0xad, 47, 17]);
    for last in [1, 2] {
        h.extend_from_slice(&[0xfd, 0, 0, 0x97, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
    }
    h.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7]);
    h
}

/// Checks `got` is `inner` behind the IPv6 `header` with its payload length filled in: every
/// other byte exactly the header's.
#[track_caller]
fn assert_encapsulated_v6(got: &[u8], header: &[u8], inner: &[u8]) {
    assert_eq!(got.len(), header.len() + inner.len(), "length");
    assert_eq!(&got[header.len()..], inner, "the inner frame intact");
    assert_eq!(&got[..18], &header[..18], "Ethernet, IPv6's first word");
    assert_eq!(
        &got[20..header.len()],
        &header[20..],
        "the rest of IPv6, GRE"
    );
    let payload = u16::from_be_bytes([got[18], got[19]]);
    assert_eq!(
        usize::from(payload),
        got.len() - 14 - 40,
        "IPv6 payload length"
    );
}

/// GRE over IPv6 (ip6gretap's format): the VM's IPv4 frame leaves x1 behind the exact IPv6
/// and GRE headers, its payload length per packet; the far end strips them again (an IPv6
/// outer header, an IPv4 frame inside) and hands the frame on exactly.
#[test]
fn ip6gre_encapsulation_writes_the_ipv6_header_and_decapsulation_strips_it() {
    let lab = Lab::new("6g");
    veth(lab.ns.name(), "z0", lab.ns.name(), "z1");
    let (mut x0, mut y1, mut z1) = (
        lab.open("x0", false),
        lab.open("y1", false),
        lab.open("z1", false),
    );
    let header = ip6gre_header();
    let f = vm_filter(
        &lab,
        Rewrite::Encap {
            header: header.clone(),
        },
    );
    let near = tc::add_bpf_filter(lab.x1, &f).expect("the encap filter");
    for payload in [100, 1000] {
        let inner = vm_frame(VM, payload);
        send(&mut x0, &inner, VnetHdr::NONE);
        let got = frames(&mut y1, REMOTE_END);
        assert_eq!(got.len(), 1, "one encapsulated frame on y1");
        assert_encapsulated_v6(&got[0], &header, &inner);
    }
    assert_counts(
        &near,
        2,
        (vm_frame(VM, 100).len() + vm_frame(VM, 1000).len()) as u64,
        0,
    );

    let far = far_decap_of(0x86dd, header.len(), "z0");
    let inner = vm_frame(VM, 300);
    send(&mut x0, &inner, VnetHdr::NONE);
    assert_eq!(
        frames(&mut z1, REMOTE_VM),
        vec![inner.clone()],
        "decapsulated"
    );
    assert_counts(&far, 1, (header.len() + inner.len()) as u64, 0);
}

/// A TSO super-frame pushed behind an IPv6 outer header crosses the veth underlay whole,
/// as one GSO frame whose segments keep the VM's segment size (the kernel knows the outer
/// header is IPv6 and can cut it as GRE over IPv6), and comes out of the far end's
/// decapsulation exactly as the VM sent it.
#[test]
fn a_tso_super_frame_is_encapsulated_whole_over_ipv6() {
    tso_crosses_whole("6s", &ip6gre_header(), 0x86dd, assert_encapsulated_v6);
}
