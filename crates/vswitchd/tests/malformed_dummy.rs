//! Malformed frames on dummy ports (no root), side by side with Open vSwitch 3.1's
//! `ovs-vswitchd --enable-dummy=override`: one NORMAL bridge, frames of every bad kind read
//! from port p1's `rx_pcap` (runts, truncated and inconsistent IPv4/IPv6/TCP/UDP/ARP headers,
//! bad VLAN stacks, a jumbo frame) with a good frame between them. Both switches must send
//! the same frames out of p2 (a switch forwards what it cannot parse further as L2 and drops
//! what is not even Ethernet), the good frames must all get through, and ferrovs must count
//! what it dropped and stay up. Bogus tunnel frames on a tunnel's underlay and oversized
//! frames, which the Open vSwitch dummy has no counterpart for, are checked on ferrovs alone.

mod common;

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Fvs, ofctl};
use fvs_netdev::pcap::{PcapReader, PcapWriter};
use fvs_test_support::PrivateOvs;

const SRC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x01];
const BCAST: [u8; 6] = [0xff; 6];

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = BCAST.to_vec();
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (20 bytes unless `ihl` says otherwise in its first byte) with `proto`,
/// total length `total`, then `rest`.
fn ipv4(vihl: u8, total: u16, proto: u8, rest: &[u8]) -> Vec<u8> {
    let mut ip = vec![
        vihl, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(rest);
    eth(0x0800, &ip)
}

/// A good UDP datagram: what must keep flowing.
fn good(n: u8) -> Vec<u8> {
    let udp = [0x10, 0x00, 0x20, 0x00, 0x00, 0x0c, 0x00, 0x00, n, n, n, n];
    ipv4(0x45, 32, 17, &udp)
}

fn tcp(doff: u8, len: usize) -> Vec<u8> {
    let mut t = vec![0u8; len];
    if len > 12 {
        t[12] = doff << 4;
    }
    if len > 13 {
        t[13] = 0x02;
    }
    t
}

/// The malformed frames, each with a name for failure messages.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("1-byte runt", vec![0xff]),
        ("6-byte runt", BCAST.to_vec()),
        ("13-byte runt", eth(0x0800, &[])[..13].to_vec()),
        ("bare Ethernet header", eth(0x0800, &[])),
        ("IPv4 cut at 10 bytes", eth(0x0800, &[0x45; 10])),
        ("IPv4 IHL 3", ipv4(0x43, 40, 17, &[0; 20])),
        ("IPv4 IHL 15 beyond the frame", ipv4(0x4f, 40, 17, &[0; 10])),
        (
            "IPv4 version 6 in an IPv4 frame",
            ipv4(0x65, 40, 17, &[0; 20]),
        ),
        (
            "IPv4 total length beyond the frame",
            ipv4(0x45, 1400, 17, &[0; 20]),
        ),
        (
            "IPv4 total length below its header",
            ipv4(0x45, 10, 17, &[0; 20]),
        ),
        ("TCP data offset 2", ipv4(0x45, 40, 6, &tcp(2, 20))),
        (
            "TCP data offset 15 beyond the segment",
            ipv4(0x45, 40, 6, &tcp(15, 20)),
        ),
        ("TCP header cut at 5 bytes", ipv4(0x45, 25, 6, &tcp(5, 5))),
        (
            "UDP header cut at 4 bytes",
            ipv4(0x45, 24, 17, &[0x10, 0, 0x20, 0]),
        ),
        ("ICMP header cut at 1 byte", ipv4(0x45, 21, 1, &[8])),
        ("IPv4 later fragment", {
            let mut f = ipv4(0x45, 28, 17, &[0; 8]);
            f[20] = 0x00;
            f[21] = 0x10;
            f
        }),
        ("IPv6 cut at 30 bytes", eth(0x86dd, &[0x60; 30])),
        ("IPv6 payload length beyond the frame", {
            let mut h = vec![0x60, 0, 0, 0, 0x05, 0xdc, 17, 64];
            h.extend_from_slice(&[0xfd; 32]);
            h.extend_from_slice(&[0; 8]);
            eth(0x86dd, &h)
        }),
        ("IPv6 hop-by-hop header running off the end", {
            let mut h = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
            h.extend_from_slice(&[0xfd; 32]);
            h.extend_from_slice(&[17, 200, 0, 0, 0, 0, 0, 0]);
            eth(0x86dd, &h)
        }),
        (
            "ARP cut at 10 bytes",
            eth(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1, 0xfa, 0x16]),
        ),
        ("VLAN tag cut in half", eth(0x8100, &[0x00])),
        ("VLAN tag with nothing behind", eth(0x8100, &[0x00, 0x05])),
        (
            "802.1ad outer tag, inner tag cut",
            eth(0x88a8, &[0x00, 0x05, 0x81, 0x00, 0x00]),
        ),
        ("five stacked VLAN tags", {
            let mut p = Vec::new();
            for _ in 0..4 {
                p.extend_from_slice(&[0x00, 0x05, 0x81, 0x00]);
            }
            p.extend_from_slice(&[0x00, 0x05, 0x08, 0x00]);
            p.extend_from_slice(&good(9)[14..]);
            eth(0x8100, &p)
        }),
        ("VLAN-tagged IPv4 with IHL 2", {
            let mut p = vec![0x00, 0x05, 0x08, 0x00];
            p.extend_from_slice(&ipv4(0x42, 40, 6, &[0; 20])[14..]);
            eth(0x8100, &p)
        }),
        ("jumbo frame", {
            let payload = vec![0x5a; 9000 - 28];
            let mut udp = vec![0x10, 0, 0x20, 0];
            udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]);
            udp.extend_from_slice(&payload);
            ipv4(0x45, 9000, 17, &udp)
        }),
    ];
    // A frame of all zero bytes, and of all ones, as long as a minimum frame.
    v.push(("60 zero bytes", vec![0; 60]));
    v.push(("60 bytes of 0xff", vec![0xff; 60]));
    v
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    match PcapReader::open(path) {
        Ok(r) => r.filter_map(Result::ok).map(|r| r.data).collect(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Waits until `path` holds at least `n` frames and stops growing.
fn settled(path: &Path, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = usize::MAX;
    loop {
        let f = frames(path);
        if (f.len() >= n && f.len() == last) || Instant::now() > deadline {
            return f;
        }
        last = f.len();
        sleep(Duration::from_millis(200));
    }
}

fn build(dir: &Path, rx_pcap: Option<&Path>) -> Vec<String> {
    let tx = dir.join("p2.pcap");
    let mut v: Vec<String> = [
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "interface",
        "p1",
        "ofport_request=1",
        "--",
        "add-port",
        "br0",
        "p2",
        "--",
        "set",
        "interface",
        "p2",
        "ofport_request=2",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    v.push(format!("options:tx_pcap={}", tx.display()));
    if let Some(rx) = rx_pcap {
        v.extend(
            [
                "--",
                "add-port",
                "br0",
                "p3",
                "--",
                "set",
                "interface",
                "p3",
            ]
            .map(String::from),
        );
        v.push(format!("options:rx_pcap={}", rx.display()));
    }
    v
}

#[test]
fn malformed_frames_on_a_dummy_port_are_handled_like_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("h7m");
    let bad = malformed();
    let (runts, frames_in): (Vec<_>, Vec<_>) = bad.iter().partition(|(_, f)| f.len() < 14);
    assert!(runts.len() >= 3 && frames_in.len() > 20);

    // ferrovs also reads the runts from a capture on p3, as a real device could deliver them.
    let runt_file = fvs.dir().join("runts.pcap");
    let mut w = PcapWriter::create(&runt_file).unwrap_or_else(|e| panic!("{e}"));
    for (_, f) in &runts {
        w.write(Duration::ZERO, f).unwrap_or_else(|e| panic!("{e}"));
    }
    w.flush().unwrap_or_else(|e| panic!("{e}"));
    drop(w);

    // NORMAL is the default rule of a new bridge on both.
    let args = build(ovs.dir(), None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ovs.vsctl(&args)
        .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
    let args = build(fvs.dir(), Some(&runt_file));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fvs.vsctl(&args);

    // Open vSwitch's netdev-dummy/receive refuses a runt ("syntax error": too short for hex,
    // so it tries the flow syntax); ferrovs's hands it to the datapath, which must drop it.
    for (name, f) in &runts {
        let theirs = ovs.appctl(&["netdev-dummy/receive", "p1", &hex(f)]);
        assert!(theirs.is_err(), "Open vSwitch took the {name}");
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(f)]);
        assert!(ok, "{name}: {err}");
    }
    for (i, (name, f)) in frames_in.iter().enumerate() {
        for frame in [f.clone(), good(i as u8)] {
            ovs.appctl(&["netdev-dummy/receive", "p1", &hex(&frame)])
                .unwrap_or_else(|e| panic!("Open vSwitch took no {name}: {e}"));
            let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(&frame)]);
            assert!(ok, "{name}: {err}");
        }
    }

    let n = frames_in.len();
    let theirs = settled(&ovs.dir().join("p2.pcap"), n);
    let ours = settled(&fvs.dir().join("p2.pcap"), n);
    for (i, (name, _)) in frames_in.iter().enumerate() {
        assert!(
            ours.contains(&good(i as u8)),
            "the good frame after {name:?} did not get through"
        );
    }
    let name = |f: &Vec<u8>| {
        bad.iter()
            .find(|(_, b)| b == f)
            .map_or("a good frame", |(n, _)| *n)
    };
    let ours_names: Vec<&str> = ours.iter().map(name).collect();
    let theirs_names: Vec<&str> = theirs.iter().map(name).collect();
    assert_eq!(
        ours_names, theirs_names,
        "p2 must send what Open vSwitch's sends"
    );
    assert_eq!(ours, theirs, "byte for byte");

    // The partial VLAN tag's drop is explained as Open vSwitch explains it.
    for (name, f) in frames_in.iter().filter(|(n, _)| n.starts_with("VLAN tag")) {
        let theirs = ovs
            .appctl(&["ofproto/trace", "br0", "in_port=1", &hex(f)])
            .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
        let (ok, ours, err) = fvs.appctl(&["ofproto/trace", "br0", "in_port=1", &hex(f)]);
        assert!(ok, "{err}");
        assert_eq!(ours, theirs, "ofproto/trace of the {name}");
    }

    // ferrovs dropped and counted the runts from the capture, and lives on.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, cov, err) = fvs.appctl(&["coverage/show"]);
        assert!(ok, "{err}");
        let counted = cov
            .lines()
            .find(|l| l.starts_with("datapath_drop_rx_invalid_packet"))
            .and_then(|l| l.split("total: ").nth(1))
            .and_then(|n| n.trim().parse::<usize>().ok());
        // The runts from the command line and from the capture.
        if counted == Some(2 * runts.len()) {
            break;
        }
        assert!(Instant::now() < deadline, "runts are not counted:\n{cov}");
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        settled(&fvs.dir().join("p2.pcap"), n).len(),
        ours.len(),
        "no runt went out"
    );
    let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(&good(200))]);
    assert!(ok, "{err}");
    assert!(
        frames(&fvs.dir().join("p2.pcap")).contains(&good(200)),
        "still forwarding"
    );
    let (ok, flows, _) = ofctl(
        &[],
        "dump-flows",
        &format!("unix:{}", fvs.mgmt("br0").display()),
        &[],
    );
    assert!(ok && flows.contains("actions=NORMAL"), "{flows}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
