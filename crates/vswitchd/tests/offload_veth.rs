//! Offloads on real devices (root): two namespaces on veth ports of one NORMAL bridge, with
//! the veth offloads left on (checksum offload and TSO, the kernel's defaults). The hosts'
//! TCP then hands the switch 64 KiB super-frames with partial checksums; a TCP transfer of
//! several megabytes must arrive intact (same SHA-256 both ends) and quickly, which needs the
//! virtio-net headers on AF_PACKET (without them a super-frame does not fit a receive buffer
//! and a partial checksum reaches the peer wrong, as with Open vSwitch 3.1's userspace
//! datapath without `userspace-tso-enable`). The megaflows' byte counts prove super-frames
//! crossed whole. A rule that also sends the transfer to a controller gives it one packet-in
//! per segment, never a super-frame.

mod common;
mod lab;

use std::time::Duration;

use common::{TCP_CLIENT, TCP_SERVER};
use lab::{A_IP, B_IP, Lab};

/// Bytes sent.
const TRANSFER: usize = 16 << 20;

/// Sends `bytes` over TCP from namespace `from` to a server at `to` in namespace `server_ns`;
/// asserts both ends saw the same bytes and SHA-256.
fn transfer(lab: &mut Lab, from: &str, server_ns: &str, to: &str, bytes: usize) {
    let py = lab::python3();
    let mut server = lab.in_ns(server_ns, &py);
    server.args(["-c", TCP_SERVER, to]);
    let server = lab.spawn(server);
    let mut client = lab.in_ns(from, &py);
    client.args(["-c", TCP_CLIENT, to, &bytes.to_string(), "7"]);
    let client = lab.spawn(client);
    let (ok, sent) = lab.wait(client, Duration::from_secs(60));
    assert!(ok, "the client in {from} failed: {sent}");
    let (ok, received) = lab.wait(server, Duration::from_secs(30));
    assert!(ok, "the server in {server_ns} failed: {received}");
    assert!(
        sent.trim().starts_with(&format!("{bytes} ")),
        "client: {sent}"
    );
    assert_eq!(
        received.trim(),
        sent.trim(),
        "the data from {from} to {to} must arrive intact (bytes and SHA-256)"
    );
}

/// Super-frames crossed whole: some megaflow averages more bytes per packet than any
/// 1500-byte-MTU frame can hold.
fn assert_superframes_crossed(lab: &Lab) {
    let flows = lab.appctl(&["dpif/dump-flows", "br0"]);
    let largest_average = flows
        .lines()
        .filter_map(|l| {
            let n = |k: &str| -> Option<u64> { l.split(k).nth(1)?.split(',').next()?.parse().ok() };
            Some(n("bytes:")? / n("packets:")?.max(1))
        })
        .max()
        .unwrap_or(0);
    assert!(
        largest_average > 1514,
        "no megaflow carried super-frames (largest average {largest_average} bytes):\n{flows}"
    );
}

#[test]
fn tcp_through_the_internal_port_with_offloads_crosses_intact() {
    // The switch's own stack on br0 (a TAP with virtio-net headers): its TCP hands the TAP
    // super-frames, which leave through an AF_PACKET port; B's come back the other way.
    let mut lab = Lab::start("h7i");
    let sw = lab.sw.clone();
    lab::ip(&["-n", &sw, "addr", "add", "10.77.0.254/24", "dev", "br0"]);
    lab::ip(&["-n", &sw, "link", "set", "br0", "up"]);
    let (ok, out) = lab.ping(&sw, B_IP, 2);
    assert!(ok, "the switch's own address cannot reach B:\n{out}");
    let b = lab.b.clone();
    transfer(&mut lab, &sw, &b, B_IP, 8 << 20);
    transfer(&mut lab, &b, &sw, "10.77.0.254", 8 << 20);
    let coverage = lab.appctl(&["coverage/show"]);
    assert!(
        !coverage.contains("netdev_soft_seg_drops"),
        "nothing may be dropped for offloads:\n{coverage}"
    );
}

#[test]
fn tcp_with_offloads_on_crosses_the_switch_intact() {
    let mut lab = Lab::start("h7o");
    let (ok, out) = lab.ping(&lab.a, B_IP, 2);
    assert!(ok, "A cannot ping B through the bridge:\n{out}");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    transfer(&mut lab, &a, &b, B_IP, TRANSFER);

    assert_superframes_crossed(&lab);
    let coverage = lab.appctl(&["coverage/show"]);
    assert!(
        !coverage.contains("netdev_soft_seg_drops"),
        "nothing may be dropped for offloads:\n{coverage}"
    );

    let (ok, out) = lab.ping(&lab.b, A_IP, 2);
    assert!(ok, "B cannot ping A after the transfer:\n{out}");
}

/// A rule that forwards TCP and sends it to the controller too: the controller (Open vSwitch's
/// own `ovs-ofctl monitor`) gets each super-frame the hosts' TSO hands the switch as its
/// segments, no packet-in longer than a wire frame (14 + 1500 bytes), as Open vSwitch's
/// kernel datapath hands GSO packets to userspace one segment at a time (Open vSwitch 3.1's
/// userspace datapath with `userspace-tso-enable` sends them whole: see
/// `fvs_datapath::offload::wire_frames` for the choice); the transfer itself still crosses
/// intact, as super-frames.
#[test]
fn tcp_super_frames_reach_the_controller_as_segments() {
    let mut lab = Lab::start("h6g");
    let (ok, out) = lab.ping(&lab.a, B_IP, 2);
    assert!(ok, "A cannot ping B through the bridge:\n{out}");
    let target = format!("unix:{}", lab.dir().join("br0.mgmt").display());
    let rule = format!("priority=100,tcp,nw_dst={B_IP},actions=NORMAL,controller:65535");
    let (ok, out, err) = common::ofctl(&[], "add-flow", &target, &[&rule]);
    assert!(ok, "add-flow {rule}: {out}{err}");
    let monitor = common::OfctlMonitor::start(&lab.dir(), &[], &target, &["65535"], "pin");
    // The monitor listens once it has sent its settings.
    std::thread::sleep(Duration::from_millis(500));
    let (a, b) = (lab.a.clone(), lab.b.clone());
    transfer(&mut lab, &a, &b, B_IP, 1 << 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_superframes_crossed(&lab);

    let text = monitor.text();
    let lengths: Vec<usize> = text
        .split("total_len=")
        .skip(1)
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    assert!(
        lengths.len() > 100,
        "{} packet-ins for a 1 MiB transfer:\n{text}",
        lengths.len()
    );
    assert!(
        longest <= 1514,
        "a packet-in of {longest} bytes: a super-frame reached the controller whole"
    );
    // Full-sized segments came up: the super-frames' payload reached the controller.
    assert!(
        lengths.iter().filter(|&&n| n > 1400).count() > 100,
        "too few full-sized segments among {lengths:?}"
    );
}
