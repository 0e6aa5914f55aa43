//! Offloads on real devices (root): two namespaces on veth ports of one NORMAL bridge, with
//! the veth offloads left on (checksum offload and TSO, the kernel's defaults). The hosts'
//! TCP then hands the switch 64 KiB super-frames with partial checksums; a TCP transfer of
//! several megabytes must arrive intact (same SHA-256 both ends) and quickly, which needs the
//! virtio-net headers on AF_PACKET (without them a super-frame does not fit a receive buffer
//! and a partial checksum reaches the peer wrong, as with Open vSwitch 3.1's userspace
//! datapath without `userspace-tso-enable`). The megaflows' byte counts prove super-frames
//! crossed whole.

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

    // Super-frames crossed whole: some megaflow averages more bytes per packet than any
    // 1500-byte-MTU frame can hold.
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
    let coverage = lab.appctl(&["coverage/show"]);
    assert!(
        !coverage.contains("netdev_soft_seg_drops"),
        "nothing may be dropped for offloads:\n{coverage}"
    );

    let (ok, out) = lab.ping(&lab.b, A_IP, 2);
    assert!(ok, "B cannot ping A after the transfer:\n{out}");
}
