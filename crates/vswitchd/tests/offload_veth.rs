//! Offloads on real devices (root): two namespaces on veth ports of one NORMAL bridge, with
//! the veth offloads left on (checksum offload and TSO, the kernel's defaults). The hosts'
//! TCP then hands the switch 64 KiB super-frames with partial checksums; a TCP transfer of
//! several megabytes must arrive intact (same SHA-256 both ends) and quickly, which needs the
//! virtio-net headers on AF_PACKET (without them a super-frame does not fit a receive buffer
//! and a partial checksum reaches the peer wrong, as with Open vSwitch 3.1's userspace
//! datapath without `userspace-tso-enable`). The megaflows' byte counts prove super-frames
//! crossed whole.

mod lab;

use std::time::Duration;

use lab::{A_IP, B_IP, Lab};

/// Bytes sent.
const TRANSFER: usize = 16 << 20;

/// Receives one connection on port 5001 and prints "<bytes> <sha256>".
const SERVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
"#;

/// Connects to port 5001 (retrying while the server starts), sends `argv[2]` bytes of a
/// seeded pseudo-random stream and prints "<bytes> <sha256>".
const CLIENT: &str = r#"
import hashlib, random, socket, sys, time
data = random.Random(7).randbytes(int(sys.argv[2]))
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5001), timeout=30)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("cannot connect")
c.sendall(data)
c.shutdown(socket.SHUT_WR)
c.recv(1)
print(len(data), hashlib.sha256(data).hexdigest())
"#;

fn python() -> String {
    fvs_test_support::require_tool("python3")
        .path()
        .display()
        .to_string()
}

#[test]
fn tcp_with_offloads_on_crosses_the_switch_intact() {
    let mut lab = Lab::start("h7o");
    let (ok, out) = lab.ping(&lab.a, B_IP, 2);
    assert!(ok, "A cannot ping B through the bridge:\n{out}");
    let py = python();

    let mut server = lab.in_ns(&lab.b, &py);
    server.args(["-c", SERVER, B_IP]);
    let server = lab.spawn(server);
    let mut client = lab.in_ns(&lab.a, &py);
    client.args(["-c", CLIENT, B_IP, &TRANSFER.to_string()]);
    let client = lab.spawn(client);

    let (ok, sent) = lab.wait(client, Duration::from_secs(60));
    assert!(ok, "the client failed: {sent}");
    let (ok, received) = lab.wait(server, Duration::from_secs(30));
    assert!(ok, "the server failed: {received}");
    assert!(
        sent.trim().starts_with(&format!("{TRANSFER} ")),
        "client: {sent}"
    );
    assert_eq!(
        received.trim(),
        sent.trim(),
        "the data must arrive intact (bytes and SHA-256)"
    );

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
