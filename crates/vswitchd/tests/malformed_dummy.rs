//! Malformed frames on dummy ports (no root), side by side with Open vSwitch 3.1's
//! `ovs-vswitchd --enable-dummy=override`: one NORMAL bridge, frames of every bad kind read
//! from port p1's `rx_pcap` (runts, truncated and inconsistent IPv4/IPv6/TCP/UDP/ARP headers,
//! bad VLAN stacks, a jumbo frame) with a good frame between them. Both switches must send
//! the same frames out of p2 (a switch forwards what it cannot parse further as L2 and drops
//! what is not even Ethernet), the good frames must all get through, and ferrovs must count
//! what it dropped and stay up. Bogus tunnel frames on a tunnel's underlay and oversized
//! frames, which the Open vSwitch dummy has no counterpart for, are checked on ferrovs alone.

mod common;
mod malformed;

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Fvs, ofctl};
use fvs_netdev::pcap::PcapWriter;
use fvs_test_support::frames::{hex, pcap_frames};
use fvs_test_support::{AddBridge, PrivateOvs};
use malformed::{good, malformed};

/// Waits until `path` holds at least `n` frames and stops growing.
fn settled(path: &Path, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = usize::MAX;
    loop {
        let f = pcap_frames(path);
        if (f.len() >= n && f.len() == last) || Instant::now() > deadline {
            return f;
        }
        last = f.len();
        sleep(Duration::from_millis(200));
    }
}

fn build(dir: &Path, rx_pcap: Option<&Path>) -> Vec<String> {
    let tx = format!("options:tx_pcap={}", dir.join("p2.pcap").display());
    let mut b = AddBridge::new("br0")
        .port("p1", &["ofport_request=1"])
        .port("p2", &["ofport_request=2", &tx]);
    if let Some(rx) = rx_pcap {
        b = b.port("p3", &[&format!("options:rx_pcap={}", rx.display())]);
    }
    b.args().into_iter().map(String::from).collect()
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
        pcap_frames(&fvs.dir().join("p2.pcap")).contains(&good(200)),
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
