//! Malformed frames on real ports (root): the namespace lab's NORMAL bridge with two veth
//! `system` ports and, on a second bridge, GRE, VXLAN and Geneve ports whose tunnel address
//! is on br0's internal port (so they are native tunnels: their packets are taken from br0
//! before the host sees them, and what does not parse goes on to the host's own underlay
//! sockets). While host A pings host B through the switch, A writes every kind of malformed
//! frame into its veth with a raw `AF_PACKET` socket (and jumbo frames, its veth and the
//! switch's port allowing 9000 bytes while B's side allows 1500), and sends bogus GRE, VXLAN
//! and Geneve packets to the switch's tunnel endpoint. The daemon must stay up, the pings
//! must keep getting answers during and after, what cannot go out is counted (jumbo frames
//! towards B: `tx_dropped`/`tx_errors`; bogus tunnel packets: the underlays' `rx_errors` or
//! the native endpoint's `native_tnl_rx_error`), and the frames a switch forwards as L2
//! reach B.
//!
//! (Runts cannot be written into a veth: the kernel refuses frames shorter than an Ethernet
//! header; the dummy-port tests inject them.)

mod lab;
mod malformed;

use std::time::Duration;

use fvs_test_support::frames::hex;
use lab::{B_IP, Lab, ip};

/// The switch's own address, on br0's internal port: the tunnels' local endpoint.
const SW_IP: &str = "10.77.0.254";

/// Writes each hex frame of argv[2:] `argv[1]` times into eth0 with a raw AF_PACKET socket;
/// prints how many went out and how many the kernel refused.
const RAW_SENDER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frames = [bytes.fromhex(h) for h in sys.argv[2:]]
sent = refused = 0
for _ in range(int(sys.argv[1])):
    for f in frames:
        try:
            s.send(f)
            sent += 1
        except OSError:
            refused += 1
print(sent, refused)
"#;

/// Sends bogus tunnel packets to argv[1]: GRE with a bad version, routing present, a
/// non-Ethernet protocol, truncated; VXLAN without its I flag, truncated; Geneve with a bad
/// version, an option length beyond the packet, an inner runt.
const TUNNEL_JUNK: &str = r#"
import socket, sys
dst = sys.argv[1]
gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
inner = bytes(range(60))
gres = [
    b"\x00\x07\x65\x58" + inner,            # version 7
    b"\x40\x00\x65\x58" + inner,            # routing present
    b"\x20\x00\x08\x00\x00\x00\x00\x01" + inner,  # keyed, payload IPv4 not Ethernet
    b"\x20\x00\x65\x58\x00\x00",            # key cut short
    b"\x20",                                 # one byte
    b"\x20\x00\x65\x58\x00\x00\x00\x01" + b"\x01\x02\x03",  # inner runt
]
vxlans = [
    b"\x00\x00\x00\x00\x00\x00\x01\x00" + inner,  # I flag clear
    b"\x08\x00\x00",                              # truncated
    b"\x08\x00\x00\x00\x00\x00\x01\x00" + b"\x01",  # inner runt
]
genevs = [
    b"\xc0\x00\x65\x58\x00\x00\x01\x00" + inner,  # version 3
    b"\x3f\x00\x65\x58\x00\x00\x01\x00" + inner[:8],  # options longer than the packet
    b"\x00\x00\x65\x58\x00\x00\x01\x00" + b"\x01\x02",  # inner runt
    b"\x00",
]
n = 0
for _ in range(int(sys.argv[2])):
    for p in gres:
        gre.sendto(p, (dst, 0)); n += 1
    for p in vxlans:
        udp.sendto(p, (dst, 4789)); n += 1
    for p in genevs:
        udp.sendto(p, (dst, 6081)); n += 1
print(n)
"#;

/// A counter of `coverage/show` (0 when not shown).
fn coverage(lab: &Lab, name: &str) -> u64 {
    lab.appctl(&["coverage/show"])
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split("total: ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Packets host `ns`'s eth0 has received.
fn rx_packets(lab: &Lab, ns: &str) -> u64 {
    let (ok, out) = lab::run(
        lab.in_ns(ns, "cat")
            .arg("/sys/class/net/eth0/statistics/rx_packets"),
    );
    assert!(ok, "{out}");
    out.trim().parse().unwrap_or(0)
}

/// Ping's "N received".
fn received(ping: &str) -> u32 {
    ping.split(" received")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn malformed_frames_on_veth_and_tunnel_ports_leave_the_switch_working() {
    let mut lab = Lab::start("h7m");
    let (sw, a, b) = (lab.sw.clone(), lab.a.clone(), lab.b.clone());
    // Jumbo frames may enter from A but not leave towards B.
    ip(&["-n", &a, "link", "set", "eth0", "mtu", "9000"]);
    ip(&["-n", &sw, "link", "set", "p-a", "mtu", "9000"]);
    // The switch's own address, for the tunnels' underlay.
    ip(&[
        "-n",
        &sw,
        "addr",
        "add",
        &format!("{SW_IP}/24"),
        "dev",
        "br0",
    ]);
    ip(&["-n", &sw, "link", "set", "br0", "up"]);
    lab.vsctl(&[
        "add-br",
        "br1",
        "--",
        "add-port",
        "br1",
        "gre0",
        "--",
        "set",
        "interface",
        "gre0",
        "type=gre",
        "options:remote_ip=10.77.0.1",
        "--",
        "add-port",
        "br1",
        "vx0",
        "--",
        "set",
        "interface",
        "vx0",
        "type=vxlan",
        "options:remote_ip=10.77.0.1",
        "--",
        "add-port",
        "br1",
        "gen0",
        "--",
        "set",
        "interface",
        "gen0",
        "type=geneve",
        "options:remote_ip=10.77.0.1",
    ]);
    let show = lab.appctl(&["dpif/show"]);
    for want in ["gre0", "vx0", "gen0", "p-a", "p-b"] {
        assert!(show.contains(want), "dpif/show lacks {want}:\n{show}");
    }
    let (ok, out) = lab.ping(&a, SW_IP, 2);
    assert!(ok, "A cannot reach the switch's own address:\n{out}");

    let bad: Vec<(&str, Vec<u8>)> = malformed::malformed()
        .into_iter()
        .filter(|(_, f)| f.len() >= 14)
        .collect();
    let tx_before = coverage(&lab, "netdev_tx_dropped") + coverage(&lab, "netdev_tx_error");
    // The switch's address is on br0's internal port, so its tunnels are native: bogus
    // tunnel packets whose headers do not parse go on to the host and its underlay sockets
    // (`netdev_rx_error`); those that parse but carry a runt are dropped at the endpoint
    // (`native_tnl_rx_error`). Either way, each is counted once.
    let rx_errors =
        |lab: &Lab| coverage(lab, "netdev_rx_error") + coverage(lab, "native_tnl_rx_error");
    let rx_err_before = rx_errors(&lab);
    let b_before = rx_packets(&lab, &b);

    // Pings from A to B all along.
    let mut ping = lab.in_ns(&a, "ping");
    ping.args(["-c", "40", "-i", "0.1", "-W", "2", B_IP]);
    let ping = lab.spawn(ping);

    let py = lab::python3();
    let mut raw = lab.in_ns(&a, &py);
    raw.args(["-c", RAW_SENDER, "20"]);
    raw.args(bad.iter().map(|(_, f)| hex(f)));
    let raw = lab.spawn(raw);
    let mut junk = lab.in_ns(&a, &py);
    junk.args(["-c", TUNNEL_JUNK, SW_IP, "20"]);
    let junk = lab.spawn(junk);

    let (ok, raw_out) = lab.wait(raw, Duration::from_secs(60));
    assert!(ok, "raw sender: {raw_out}");
    let (ok, junk_out) = lab.wait(junk, Duration::from_secs(60));
    assert!(ok, "tunnel junk sender: {junk_out}");
    let (_, ping_out) = lab.wait(ping, Duration::from_secs(60));

    assert!(lab.daemon_alive(), "fvs-vswitchd died");
    let sent: u64 = raw_out
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        sent >= 20 * (bad.len() as u64 - 1),
        "the kernel refused too many of A's frames: {raw_out}"
    );
    assert!(
        received(&ping_out) >= 38,
        "pings through the switch were lost while it took malformed frames:\n{ping_out}"
    );
    let (ok, out) = lab.ping(&a, B_IP, 3);
    assert!(ok, "A cannot ping B afterwards:\n{out}");
    let (ok, out) = lab.ping(&b, SW_IP, 2);
    assert!(ok, "B cannot reach the switch's address afterwards:\n{out}");

    // What a switch forwards as L2 reached B: all but the two partial VLAN tags, the frame
    // whose destination is its source, and the jumbo frame (the dummy-port test checks the
    // same choices against Open vSwitch, frame by frame).
    let forwarded = 20 * (bad.len() as u64 - 4);
    let b_after = rx_packets(&lab, &b);
    assert!(
        b_after >= b_before + forwarded,
        "B received {} packets, expected at least {forwarded}",
        b_after - b_before
    );

    // What could not go out, and the bogus tunnel packets, were counted.
    lab.appctl(&["revalidator/wait"]);
    let tx_after = coverage(&lab, "netdev_tx_dropped") + coverage(&lab, "netdev_tx_error");
    assert!(
        tx_after >= tx_before + 20,
        "the 20 jumbo frames towards B's 1500-byte port must be counted as dropped or failed \
         ({tx_before} before, {tx_after} after):\n{}",
        lab.appctl(&["coverage/show"])
    );
    let rx_err_after = rx_errors(&lab);
    assert!(
        rx_err_after >= rx_err_before + 20 * 13,
        "every bogus tunnel packet counted by its underlay or the native endpoint \
         ({rx_err_before} before, \
         {rx_err_after} after):\n{}",
        lab.appctl(&["coverage/show"])
    );
}
