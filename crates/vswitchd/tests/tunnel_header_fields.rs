//! The outer headers ferrovs writes for the tunnel options that take values from the packet
//! or the flow, compared on the wire with Open vSwitch 3.1's (root).
//!
//! One topology per switch: host A runs the switch (ferrovs, or Open vSwitch's userspace
//! datapath with the underlay NIC in `br-phy` and the neighbour pinned, as its tunnels need),
//! host B only listens, with `tcpdump -x` on its end of the underlay. A VM on host A sends
//! one ping to each of four addresses whose MACs are pinned in its neighbour table, with
//! TOS 0xbb (DSCP 0x2e, ECN Congestion Experienced) and TTL 9; br0 sends each to its own
//! tunnel port:
//!
//! | port | type | options | flow |
//! |---|---|---|---|
//! | 1 | gre | `key=5 ttl=inherit tos=inherit csum=true` | |
//! | 2 | gre | `remote_ip=flow local_ip=flow key=flow` | `set_field` of `tun_dst`, `tun_src`, `tun_id` |
//! | 3 | vxlan | `key=7 tos=0x20 csum=true` | |
//! | 4 | geneve | `key=9 ttl=inherit csum=true` | |
//!
//! For each outer packet the test reads the header bytes itself (no ferrovs parser): TOS,
//! TTL, DF, protocol, addresses, GRE flags and key or the VNI, and whether a GRE or UDP
//! checksum is present and verifies. ferrovs's four must equal Open vSwitch's four, and
//! every checksum present must verify.
//!
//! CI runs as root; without root, or without tcpdump, ping or Open vSwitch, the test fails
//! saying so. Namespaces and daemons are removed by guards (daemons by their own pids) even
//! when an assertion fails.

use std::collections::BTreeMap;
use std::time::Duration;

use fvs_test_support::netns::{self, Capture, Netns, require_root, unique_name, veth};
use fvs_test_support::{PrivateFvs, PrivateOvs, Switch, require_tool};

/// Host A's underlay address.
const IP_A: &str = "10.0.1.31";
/// Host B's underlay addresses, one per tunnel port.
const REMOTES: [&str; 4] = ["10.0.1.21", "10.0.1.22", "10.0.1.23", "10.0.1.24"];
/// The VM's address, and the four it pings (MACs pinned, nobody answers).
const VM_IP: &str = "192.168.9.1";
const TARGETS: [(&str, &str); 4] = [
    ("192.168.9.11", "02:09:00:00:00:11"),
    ("192.168.9.12", "02:09:00:00:00:12"),
    ("192.168.9.13", "02:09:00:00:00:13"),
    ("192.168.9.14", "02:09:00:00:00:14"),
];

/// The tunnel ports: name, type, options.
const PORTS: [(&str, &str, &[&str]); 4] = [
    (
        "t1",
        "gre",
        &[
            "options:remote_ip=10.0.1.21",
            "options:key=5",
            "options:ttl=inherit",
            "options:tos=inherit",
            "options:csum=true",
        ],
    ),
    (
        "t2",
        "gre",
        &[
            "options:remote_ip=flow",
            "options:local_ip=flow",
            "options:key=flow",
        ],
    ),
    (
        "t3",
        "vxlan",
        &[
            "options:remote_ip=10.0.1.23",
            "options:key=7",
            "options:tos=0x20",
            "options:csum=true",
        ],
    ),
    (
        "t4",
        "geneve",
        &[
            "options:remote_ip=10.0.1.24",
            "options:key=9",
            "options:ttl=inherit",
            "options:csum=true",
        ],
    ),
];

/// br0's flows: VM port 10, tunnel ports 1–4.
const FLOWS: [&str; 4] = [
    "dl_dst=02:09:00:00:00:11,actions=output:1",
    "dl_dst=02:09:00:00:00:12,actions=set_field:10.0.1.22->tun_dst,set_field:10.0.1.31->tun_src,set_field:0x77->tun_id,output:2",
    "dl_dst=02:09:00:00:00:13,actions=output:3",
    "dl_dst=02:09:00:00:00:14,actions=output:4",
];

/// What one outer packet's headers say, read from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outer {
    tos: u8,
    ttl: u8,
    df: bool,
    protocol: u8,
    src: [u8; 4],
    /// GRE: flags and protocol words; UDP: destination port.
    tunnel: String,
    /// GRE key or VNI.
    key: Option<u32>,
    /// A GRE or UDP checksum is present.
    csum: bool,
    /// ... and verifies.
    csum_ok: bool,
}

/// The ones'-complement sum of `data` folded to 16 bits (RFC 1071).
fn sum16(data: &[u8], mut acc: u32) -> u16 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        acc += u32::from(word);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Reads an outer IPv4 packet (as tcpdump -x dumps it, from the IP header on).
fn read_outer(b: &[u8]) -> Option<Outer> {
    let ihl = usize::from(b.first()? & 0x0f) * 4;
    let l4 = b.get(ihl..)?;
    let protocol = b[9];
    let (tunnel, key, csum, csum_ok) = match protocol {
        47 => {
            let flags = u16::from_be_bytes([l4[0], l4[1]]);
            let c = flags & 0x8000 != 0;
            let k = flags & 0x2000 != 0;
            let key_at = 4 + if c { 4 } else { 0 };
            let key = k.then(|| {
                u32::from_be_bytes([l4[key_at], l4[key_at + 1], l4[key_at + 2], l4[key_at + 3]])
            });
            let ok = c && sum16(l4, 0) == 0xffff;
            (
                format!("gre flags={flags:#06x} proto={:02x}{:02x}", l4[2], l4[3]),
                key,
                c,
                ok,
            )
        }
        17 => {
            let dst_port = u16::from_be_bytes([l4[2], l4[3]]);
            let c = l4[6] != 0 || l4[7] != 0;
            // Pseudo-header: addresses, protocol, UDP length.
            let mut acc = 0u32;
            for w in b[12..20].chunks(2) {
                acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
            acc += 17 + l4.len() as u32;
            let ok = c && sum16(l4, acc) == 0xffff;
            let vni = u32::from_be_bytes([0, l4[12], l4[13], l4[14]]);
            (format!("udp dst={dst_port}"), Some(vni), c, ok)
        }
        _ => return None,
    };
    Some(Outer {
        tos: b[1],
        ttl: b[8],
        df: b[6] & 0x40 != 0,
        protocol,
        src: [b[12], b[13], b[14], b[15]],
        tunnel,
        key,
        csum,
        csum_ok,
    })
}

/// The packets of a `tcpdump -nn -v -x` capture, as bytes (each from its IP header).
fn dumped_packets(text: &str) -> Vec<Vec<u8>> {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("0x") {
            let Some((_, hex)) = rest.split_once(':') else {
                continue;
            };
            let Some(p) = packets.last_mut() else {
                continue;
            };
            for group in hex.split_whitespace() {
                for i in (0..group.len()).step_by(2) {
                    if let Some(Ok(byte)) = group.get(i..i + 2).map(|h| u8::from_str_radix(h, 16)) {
                        p.push(byte);
                    }
                }
            }
        } else if !line.starts_with(char::is_whitespace) && !line.is_empty() {
            packets.push(Vec::new());
        }
    }
    packets
}

/// The lab: host A (the switch), host B (the listener), the VM.
struct Lab {
    vm: Netns,
    host_b: Netns,
    host_a: Netns,
}

impl Lab {
    fn new(tag: &str) -> Self {
        require_root();
        for tool in ["tcpdump", "ping", "ovs-vswitchd"] {
            let _ = require_tool(tool);
        }
        let host_a = Netns::new(&unique_name(tag, "a"));
        let host_b = Netns::new(&unique_name(tag, "b"));
        let vm = Netns::new(&unique_name(tag, "v"));
        for ns in [&host_a, &host_b, &vm] {
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        }
        veth(host_a.name(), "ul0", host_b.name(), "ul0");
        for remote in REMOTES {
            host_b.ip(&["addr", "add", &format!("{remote}/24"), "dev", "ul0"]);
        }
        host_a.ip(&["link", "set", "ul0", "up"]);
        host_b.ip(&["link", "set", "ul0", "up"]);
        veth(vm.name(), "eth0", host_a.name(), "vm0");
        vm.ip(&["link", "set", "eth0", "mtu", "1400", "up"]);
        vm.ip(&["addr", "add", &format!("{VM_IP}/24"), "dev", "eth0"]);
        for (ip, mac) in TARGETS {
            vm.ip(&[
                "neigh",
                "replace",
                ip,
                "lladdr",
                mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ]);
        }
        host_a.ip(&["link", "set", "vm0", "up"]);
        Self { vm, host_b, host_a }
    }

    /// Adds br0 (with `extra` bridge settings), the VM port as 10 and the tunnels as 1–4,
    /// and the flows (through `mgmt`, the bridge's OpenFlow target).
    fn build(&self, sw: &dyn Switch, extra: &[&str], mgmt: &str) {
        let mut args = vec!["add-br", "br0"];
        if !extra.is_empty() {
            args.extend(["--", "set", "bridge", "br0"]);
            args.extend_from_slice(extra);
        }
        sw.vsctl_ok(&args);
        sw.vsctl_ok(&[
            "add-port",
            "br0",
            "vm0",
            "--",
            "set",
            "interface",
            "vm0",
            "ofport_request=10",
        ]);
        for (i, (name, kind, options)) in PORTS.iter().enumerate() {
            let kind = format!("type={kind}");
            let ofport = format!("ofport_request={}", i + 1);
            let mut args = vec!["add-port", "br0", name, "--", "set", "interface", name];
            args.push(&kind);
            args.push(&ofport);
            args.extend_from_slice(options);
            sw.vsctl_ok(&args);
            let error = sw.vsctl_ok(&["get", "interface", name, "error"]);
            assert_eq!(error.trim(), "[]", "{name}: {error}");
        }
        sw.ofctl_ok(&["del-flows", mgmt]);
        for flow in FLOWS {
            sw.ofctl_ok(&["add-flow", mgmt, flow]);
        }
    }

    /// Pings each target once (TOS 0xbb, TTL 9) and returns the outer packets host B saw,
    /// by outer destination address.
    fn capture(&self) -> BTreeMap<String, Outer> {
        let capture = Capture::start(
            self.host_b.name(),
            "ul0",
            TARGETS.len(),
            "ip proto 47 or udp",
            Duration::from_secs(20),
        );
        for (ip, _) in TARGETS {
            // Nobody answers: only the request matters, so the status is not.
            let _ = netns::run_combined(
                netns::in_netns(self.vm.name(), "ping")
                    .args(["-c", "1", "-W", "1", "-Q", "0xbb", "-t", "9", ip]),
            );
        }
        let text = capture.finish();
        let mut by_dst = BTreeMap::new();
        for p in dumped_packets(&text) {
            let Some(o) = read_outer(&p) else { continue };
            let dst = format!("{}.{}.{}.{}", p[16], p[17], p[18], p[19]);
            by_dst.insert(dst, o);
        }
        assert_eq!(
            by_dst.len(),
            TARGETS.len(),
            "expected one outer packet per tunnel:\n{text}"
        );
        by_dst
    }
}

fn ferrovs_outer_headers() -> BTreeMap<String, Outer> {
    let lab = Lab::new("h6hf");
    lab.host_a
        .ip(&["addr", "add", &format!("{IP_A}/24"), "dev", "ul0"]);
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(lab.host_a.name())
        .tag("h6hf")
        .start();
    lab.build(&fvs, &[], &fvs.mgmt_target("br0"));
    lab.capture()
}

fn open_vswitch_outer_headers() -> BTreeMap<String, Outer> {
    let lab = Lab::new("h6ho");
    let ovs = PrivateOvs::start_in_netns(lab.host_a.name());
    // Open vSwitch's userspace tunnels leave through br-phy, which holds the underlay NIC
    // and the tunnel address; the neighbours are pinned.
    ovs.vsctl_ok(&[
        "add-br",
        "br-phy",
        "--",
        "set",
        "bridge",
        "br-phy",
        "datapath_type=netdev",
        "other_config:hwaddr=02:00:0a:00:01:1f",
        "--",
        "add-port",
        "br-phy",
        "ul0",
    ]);
    lab.host_a
        .ip(&["addr", "add", &format!("{IP_A}/24"), "dev", "br-phy"]);
    lab.host_a.ip(&["link", "set", "br-phy", "up"]);
    let b_mac = lab.host_b.exec(&["cat", "/sys/class/net/ul0/address"]);
    for remote in REMOTES {
        ovs.appctl_ok(&["tnl/arp/set", "br-phy", remote, b_mac.trim()]);
    }
    let mgmt = format!("unix:{}", ovs.dir().join("br0.mgmt").display());
    lab.build(&ovs, &["datapath_type=netdev"], &mgmt);
    lab.capture()
}

#[test]
fn inherited_flow_given_and_checksummed_outer_headers_match_open_vswitch() {
    let ours = ferrovs_outer_headers();
    let theirs = open_vswitch_outer_headers();
    for (dst, o) in &ours {
        if o.csum {
            assert!(
                o.csum_ok,
                "ferrovs's checksum to {dst} does not verify: {o:?}"
            );
        }
    }
    for (dst, o) in &theirs {
        if o.csum {
            assert!(
                o.csum_ok,
                "Open vSwitch's checksum to {dst} does not verify: {o:?}"
            );
        }
    }
    assert_eq!(
        ours, theirs,
        "ferrovs (left) and Open vSwitch (right) differ"
    );
    // The test exercises what it says: inherited TTL, a checksum, a key from the flow.
    assert_eq!(
        theirs.get("10.0.1.21").map(|o| (o.ttl, o.csum)),
        Some((9, true))
    );
    assert_eq!(theirs.get("10.0.1.22").and_then(|o| o.key), Some(0x77));
}
