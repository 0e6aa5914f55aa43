//! Port configuration acted on: `ovs-ofctl mod-port` with `no-receive`, `no-forward` and
//! `no-flood` on fvs-vswitchd (`--enable-dummy`), side by side with Open vSwitch 3.1's
//! `ovs-vswitchd --enable-dummy=override` given the same commands and frames.
//!
//! One bridge, four dummy ports with `tx_pcap`, `NORMAL` in table 0. With p1 `NO_RECV`, p2
//! `NO_FWD` and p3 `NO_FLOOD`: p1's frames are counted by the rule and dropped, except a
//! spanning-tree frame (which only `NO_RECV_STP` stops); floods leave p2 and p3 out; a
//! unicast to a MAC learned on p3 still goes there, one to p2 does not. Then the flags are
//! cleared and the same frames sent again: the megaflows the first round installed must not
//! survive the port-mods. Last, explicit `FLOOD` and `ALL` actions (`ALL` ignores
//! `NO_FLOOD`, neither reaches a `NO_FWD` port). Every port must have sent the same frames,
//! and the port and rule counters must be the same.

mod common;

use common::Fvs;
use fvs_test_support::frames::{hex, pcap_frames_or_empty};
use fvs_test_support::{AddBridge, PrivateOvs, Switch};

const PORTS: [&str; 4] = ["p1", "p2", "p3", "p4"];

fn mac(n: u8) -> [u8; 6] {
    [0xfa, 0x16, 0x3e, 0, 0, n]
}

/// An ARP request from host `n` (MAC `mac(n)`, 192.168.0.n) to `dst`.
fn arp(n: u8, dst: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&mac(n));
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac(n));
    f.extend_from_slice(&[192, 168, 0, n]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[192, 168, 0, 99]);
    f
}

/// A spanning-tree BPDU from host `n`: 802.3 (a length, not an EtherType) to
/// 01:80:c2:00:00:00 with an LLC header and a short configuration BPDU.
fn bpdu(n: u8) -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0];
    f.extend_from_slice(&mac(n));
    let body = [0x42, 0x42, 0x03, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    f.extend_from_slice(&body);
    f.resize(60, 0);
    f
}

/// An IPv4 frame (protocol 253, experimental) from host `n` to the broadcast address.
fn ipv4(n: u8) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac(n));
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 253, 0, 0, 192, 168, 0, n, 255, 255, 255, 255,
    ];
    let c = fvs_test_support::frames::ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0; 8]);
    f
}

fn build(sw: &dyn Switch) {
    let mut br = AddBridge::new("br0").set(&["fail_mode=secure"]);
    for (i, p) in PORTS.iter().enumerate() {
        let pcap = format!(
            "options:tx_pcap={}",
            sw.dir().join(format!("{p}.pcap")).display()
        );
        let req = format!("ofport_request={}", i + 1);
        br = br.port(p, &[&pcap, &req]);
    }
    sw.vsctl_ok(&br.args());
    sw.ofctl_ok(&["add-flow", "br0", "priority=0,actions=NORMAL"]);
    // Spanning-tree frames go to p4, so that p1's NO_RECV exemption shows.
    sw.ofctl_ok(&[
        "add-flow",
        "br0",
        "priority=20,dl_dst=01:80:c2:00:00:00,actions=output:4",
    ]);
}

/// Port-mods, then a wait until the datapath's flows are revalidated (Open vSwitch does that
/// in the background, so a frame right after a port-mod could meet a stale megaflow there).
fn mod_ports(sw: &dyn Switch, mods: &[(&str, &str)]) {
    for (port, action) in mods {
        sw.ofctl_ok(&["mod-port", "br0", port, action]);
    }
    sw.appctl_ok(&["revalidator/wait"]);
}

fn receive(sw: &dyn Switch, port: &str, frame: &[u8]) {
    sw.appctl_ok(&["netdev-dummy/receive", port, &hex(frame)]);
}

/// The frames of one round: p1's broadcast and BPDU, MACs learned on p2 and p3, a flood
/// from p4, and unicasts from p4 to p2's and p3's MACs.
fn round(sw: &dyn Switch) {
    receive(sw, "p1", &arp(1, [0xff; 6]));
    receive(sw, "p1", &bpdu(1));
    receive(sw, "p2", &arp(2, [0xff; 6]));
    receive(sw, "p3", &arp(3, [0xff; 6]));
    receive(sw, "p4", &arp(4, [0xff; 6]));
    receive(sw, "p4", &arp(4, mac(2)));
    receive(sw, "p4", &arp(4, mac(3)));
}

/// Runs the whole scenario on `sw`.
fn scenario(sw: &dyn Switch) {
    build(sw);
    mod_ports(
        sw,
        &[
            ("p1", "no-receive"),
            ("p2", "no-forward"),
            ("p3", "no-flood"),
        ],
    );
    // Twice: the second time from the megaflows the first installed. Statistics are taken
    // before the next port-mod (see `patch_scenario`).
    round(sw);
    round(sw);
    sw.appctl_ok(&["revalidator/wait"]);
    // Cleared: the same frames must now be forwarded, whatever the datapath cached.
    mod_ports(sw, &[("p1", "receive"), ("p2", "forward"), ("p3", "flood")]);
    round(sw);
    sw.appctl_ok(&["revalidator/wait"]);
    // Explicit FLOOD and ALL, with the flags back.
    mod_ports(sw, &[("p2", "no-forward"), ("p3", "no-flood")]);
    sw.ofctl_ok(&["add-flow", "br0", "priority=30,ip,in_port=4,actions=FLOOD"]);
    sw.ofctl_ok(&["add-flow", "br0", "priority=30,ip,in_port=1,actions=ALL"]);
    receive(sw, "p4", &ipv4(4));
    receive(sw, "p1", &ipv4(1));
    sw.appctl_ok(&["revalidator/wait"]);
}

/// `dump-ports` as one sorted line per port (the reply's port order is a hash order).
fn port_counters(sw: &dyn Switch) -> Vec<String> {
    let out = sw.ofctl_ok(&["dump-ports", "br0"]);
    let mut ports: Vec<String> = Vec::new();
    for line in out.lines().skip(1) {
        if line.trim_start().starts_with("port") {
            ports.push(line.trim().to_owned());
        } else if let Some(last) = ports.last_mut() {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    ports.sort();
    ports
}

/// `dump-flows` without durations and ages, sorted.
fn rule_counters(sw: &dyn Switch) -> Vec<String> {
    let out = sw.ofctl_ok(&["dump-flows", "br0"]);
    let mut rules: Vec<String> = out
        .lines()
        .filter(|l| l.contains("actions="))
        .map(|l| {
            l.split(", ")
                .filter(|f| {
                    let f = f.trim_start();
                    !f.starts_with("duration=") && !f.starts_with("idle_age=")
                })
                .collect::<Vec<_>>()
                .join(", ")
                .trim()
                .to_owned()
        })
        .collect();
    rules.sort();
    rules
}

#[test]
fn no_recv_no_fwd_and_no_flood_act_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("pcfg");
    let fvs = fvs.private();
    scenario(&ovs);
    scenario(fvs);

    for p in PORTS {
        let file = format!("{p}.pcap");
        let theirs = pcap_frames_or_empty(&ovs.dir().join(&file));
        let ours = pcap_frames_or_empty(&fvs.dir().join(&file));
        assert_eq!(
            ours.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            theirs.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            "frames sent by {p}"
        );
    }
    // What the scenario is about, whatever both switches do: p2 got nothing while it had
    // NO_FWD, and p4 got p1's BPDUs though p1 had NO_RECV.
    let p4 = pcap_frames_or_empty(&fvs.dir().join("p4.pcap"));
    assert_eq!(
        p4.iter().filter(|f| **f == bpdu(1)).count(),
        3,
        "BPDUs at p4"
    );
    let p2 = pcap_frames_or_empty(&fvs.dir().join("p2.pcap"));
    assert_eq!(p2.len(), 4, "p2 sends only in the round without NO_FWD");

    assert_eq!(port_counters(fvs), port_counters(&ovs), "dump-ports");
    assert_eq!(rule_counters(fvs), rule_counters(&ovs), "dump-flows");
}

/// Patch ports obey their configuration too: an output to a patch port with `NO_FWD` never
/// reaches the peer bridge, and a frame crossing into a bridge through a peer with `NO_RECV`
/// is dropped before the peer bridge looks it up (its rules count nothing).
fn patch_scenario(sw: &dyn Switch) {
    let pcap = |p: &str| {
        format!(
            "options:tx_pcap={}",
            sw.dir().join(format!("{p}.pcap")).display()
        )
    };
    for (br, patch, peer, port, no) in [
        ("br0", "pa", "pb", "p1", "1"),
        ("br1", "pb", "pa", "p3", "3"),
    ] {
        sw.vsctl_ok(&["add-br", br, "--", "set", "bridge", br, "fail_mode=secure"]);
        let peer_opt = format!("options:peer={peer}");
        sw.vsctl_ok(&[
            "add-port",
            br,
            patch,
            "--",
            "set",
            "interface",
            patch,
            "type=patch",
            &peer_opt,
            "ofport_request=9",
        ]);
        let req = format!("ofport_request={no}");
        sw.vsctl_ok(&[
            "add-port",
            br,
            port,
            "--",
            "set",
            "interface",
            port,
            &pcap(port),
            &req,
        ]);
        sw.ofctl_ok(&["add-flow", br, "priority=0,actions=NORMAL"]);
    }
    let frame = arp(1, [0xff; 6]);
    let mod_port = |br: &str, port: &str, action: &str| {
        sw.ofctl_ok(&["mod-port", br, port, action]);
        sw.appctl_ok(&["revalidator/wait"]);
    };
    // Each frame's statistics are taken before the next port-mod: Open vSwitch credits a
    // cached flow's packets to the rules of its translation at the time it collects them.
    let send = || {
        receive(sw, "p1", &frame);
        sw.appctl_ok(&["revalidator/wait"]);
    };
    send();
    mod_port("br0", "pa", "no-forward");
    send();
    mod_port("br0", "pa", "forward");
    mod_port("br1", "pb", "no-receive");
    send();
    mod_port("br1", "pb", "receive");
    send();
}

#[test]
fn patch_ports_obey_no_fwd_and_no_recv_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("pcfp");
    let fvs = fvs.private();
    patch_scenario(&ovs);
    patch_scenario(fvs);
    let sent = |sw: &dyn Switch| pcap_frames_or_empty(&sw.dir().join("p3.pcap"));
    assert_eq!(sent(fvs), sent(&ovs), "frames sent by p3");
    assert_eq!(
        sent(fvs).len(),
        2,
        "the frames sent while the patch was open"
    );
    for br in ["br0", "br1"] {
        let flows = |sw: &dyn Switch| {
            let mut v: Vec<String> = sw
                .ofctl_ok(&["dump-flows", br])
                .lines()
                .filter(|l| l.contains("actions="))
                .map(|l| {
                    l.split(", ")
                        .filter(|f| {
                            !f.trim_start().starts_with("duration=") && !f.starts_with("idle_age=")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(flows(fvs), flows(&ovs), "{br}'s rules");
    }
}
