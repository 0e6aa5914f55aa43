//! Native tunnels over an IPv6-only underlay (root): two hosts as network namespaces joined
//! by a veth (`eth1`), each with Open vSwitch's userspace-tunnel layout (eth1 in `br-phy`,
//! the host's only underlay address, `fd00:97::31` or `fd00:97::21`, on br-phy's internal
//! port; no IPv4 on the underlay at all), br-int with a VM on tag 1 and br-tun with the
//! seed's flows and a tunnel port whose `remote_ip` and `local_ip` are IPv6.
//!
//! What must hold:
//! - **ferrovs ↔ ferrovs**, GRE (`gre` and `ip6gre`) and VXLAN: the VMs ping across; the neighbours were found by
//!   neighbour discovery (`tnl/neigh/show` lists the peer's IPv6 address at its br-phy MAC);
//!   the underlay carries the protocol in IPv6 (tcpdump); host B took the tunnel packets
//!   from br-phy (`native_tnl_received`); after `tnl/neigh/flush` the peer is solicited
//!   again and the VMs still ping.
//! - **ferrovs ↔ Open vSwitch 3.1**, both native, VXLAN (with `csum` unset and with
//!   `csum=false`), GRE and `ip6gre`: the VMs ping; ferrovs's outer IPv6 header is Open vSwitch's (the
//!   first word: version, traffic class, flow label; next header and hop limit; a UDP
//!   checksum or none, GRE's flags), compared on captures of both directions; and
//!   `tnl/neigh/show` prints a neighbour set by `tnl/neigh/set` on both switches in one
//!   line form.
//! - **`remote_ip=flow`**: a flow setting `tun_ipv6_dst` sends native to that destination.
//! - **User routes**: an IPv6 `ovs/route/add` makes a tunnel native that the kernel cannot
//!   route.
//! - **Malformed outer IPv6** sent at host A's br-phy address (a payload length past the
//!   frame, an extension header cut short) is dropped and counted (`native_tnl_rx_error`),
//!   and the VMs still ping.
//! - **Kernel offload** (`hw-offload=true`): GRE over IPv6 is pushed and stripped by eBPF
//!   filters both ways (the switches see no tunnel packet, the megaflows are
//!   `offloaded:yes`, the learned rule counts the kernel's packets, TCP crosses), and the
//!   headers the kernel pushes for ferrovs are Open vSwitch 3.1's (compared as above, with
//!   Open vSwitch as the far end); VXLAN over IPv6 is decapsulated by the kernel only when
//!   it comes without a UDP checksum (Linux's VXLAN with `udp6zerocsumtx` as the far end);
//!   ferrovs's own VXLAN over IPv6, always checksummed, stays in the switches.
//!
//! Every namespace is deleted and every daemon killed by its own pid, by guards, even when an
//! assertion fails. `tcpdump`, `ping`, `ip`, `tc`, `python3` and Open vSwitch must be installed.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::tc_filters;
use common::tunnel_offload::{OffloadCase, assert_tunnel_offloaded, coverage};
use fvs_test_support::netns::{self, Capture, exec, ip, veth};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, SEED_BR_TUN_FLOWS_PATH, require_tool};

const IP_A: &str = "fd00:97::31";
const IP_B: &str = "fd00:97::21";
const BR_PHY_MAC_A: &str = "02:00:0a:00:01:1f";
const BR_PHY_MAC_B: &str = "02:00:0a:00:01:15";
const VM_A: (&str, &str) = ("fa:16:3e:00:01:0a", "10.10.1.1");
const VM_B: (&str, &str) = ("fa:16:3e:00:01:0b", "10.10.1.2");
const CAPTURE_WITHIN: Duration = Duration::from_secs(15);

/// Namespaces and the processes in them, removed on drop.
struct Lab {
    net: netns::Lab,
}

impl Lab {
    fn new() -> Self {
        for tool in ["ping", "tcpdump", "ovs-vsctl", "python3"] {
            let _ = require_tool(tool);
        }
        Self {
            net: netns::Lab::new(),
        }
    }

    /// A namespace `h6<tag><pid>` (IPv6 on, without duplicate address detection or router
    /// advertisements, so addresses work at once and nothing else talks).
    fn namespace(&mut self, tag: &str) -> String {
        let ns = self.net.add_netns(&netns::unique_name("h6", tag));
        for conf in ["all", "default"] {
            for (key, value) in [("accept_dad", "0"), ("accept_ra", "0"), ("autoconf", "0")] {
                exec(
                    &ns,
                    &[
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{conf}.{key}={value}"),
                    ],
                );
            }
        }
        ns
    }

    /// Two hosts joined by `eth1`, which carries no address of its own (it goes into br-phy).
    fn hosts(&mut self, tag: &str) -> (String, String) {
        let a = self.namespace(&format!("{tag}A"));
        let b = self.namespace(&format!("{tag}B"));
        veth(&a, "eth1", &b, "eth1");
        for ns in [&a, &b] {
            exec(ns, &["sysctl", "-qw", "net.ipv6.conf.eth1.disable_ipv6=1"]);
        }
        (a, b)
    }

    /// A VM: a namespace (IPv6 off) whose `eth0` is the peer of `tap1` in `host`.
    fn vm(&mut self, tag: &str, host: &str, (mac, addr): (&str, &str)) -> String {
        let vm = self.namespace(tag);
        exec(&vm, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        veth(host, "tap1", &vm, "eth0");
        ip(&[
            "-n", &vm, "link", "set", "eth0", "address", mac, "mtu", "1400", "up",
        ]);
        ip(&[
            "-n",
            &vm,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        vm
    }

    fn fvs(&mut self, host: &str, tag: &str) -> PrivateFvs {
        PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .dummy(false)
            .netns(host)
            .tag(tag)
            .start()
    }
}

/// The bridges of one host, for either switch (`vsctl` must succeed; `netdev` adds
/// `datapath_type=netdev`, which Open vSwitch's userspace datapath needs): br-phy with eth1
/// and the host's address `addr` on its internal port, br-int with `tap1` on tag 1, br-tun
/// with the patch port (1) and the `kind` tunnel port (2) from `local` to `remote` (more
/// interface settings in `extra`).
fn build(
    host: &str,
    kind: &str,
    (local, remote): (&str, &str),
    hwaddr: &str,
    netdev: bool,
    extra: &[&str],
    vsctl: &dyn Fn(&[&str]),
) {
    let dp: &[&str] = if netdev {
        &["datapath_type=netdev"]
    } else {
        &[]
    };
    let hw = format!("other_config:hwaddr={hwaddr}");
    let mut phy = vec![hw.as_str()];
    phy.extend_from_slice(dp);
    vsctl(&AddBridge::new("br-phy").set(&phy).port("eth1", &[]).args());
    ip(&[
        "-n",
        host,
        "addr",
        "add",
        &format!("{local}/64"),
        "dev",
        "br-phy",
        "nodad",
    ]);
    ip(&["-n", host, "link", "set", "br-phy", "up"]);
    let mut secure = vec!["fail_mode=secure"];
    secure.extend_from_slice(dp);
    let br_int = AddBridge::new("br-int")
        .set(&secure)
        .port("patch-tun", &["type=patch", "options:peer=patch-int"])
        .port_with("tap1", &["tag=1"], &[]);
    vsctl(&br_int.args());
    let (t, l, r) = (
        format!("type={kind}"),
        format!("options:local_ip={local}"),
        format!("options:remote_ip={remote}"),
    );
    let mut tun = vec![
        t.as_str(),
        "ofport_request=2",
        "options:in_key=flow",
        "options:out_key=flow",
        &l,
        &r,
    ];
    tun.extend_from_slice(extra);
    let br_tun = AddBridge::new("br-tun")
        .set(&secure)
        .port(
            "patch-int",
            &["type=patch", "options:peer=patch-tun", "ofport_request=1"],
        )
        .port("tun6", &tun);
    vsctl(&br_tun.args());
}

fn appctl(f: &PrivateFvs, args: &[&str]) -> String {
    f.appctl(args)
        .unwrap_or_else(|e| panic!("fvs-appctl {args:?}: {e}"))
}

/// [`seed_flows`] on a ferrovs host's br-int and br-tun (`ovs-ofctl` must succeed).
fn seed_fvs(f: &PrivateFvs) {
    let ofctl = |br: &str, args: &[&str]| {
        let mut full = vec![args[0], br];
        full.extend_from_slice(&args[1..]);
        f.ofctl(&full)
            .unwrap_or_else(|e| panic!("ovs-ofctl {full:?}: {e}"));
    };
    seed_flows(&ofctl, "br-int", "br-tun");
}

/// The seed's flows on br-int (NORMAL) and br-tun, through `ofctl` (target, flows).
fn seed_flows(ofctl: &dyn Fn(&str, &[&str]), br_int: &str, br_tun: &str) {
    ofctl(br_int, &["add-flow", "priority=1,actions=NORMAL"]);
    ofctl(br_tun, &["add-flows", SEED_BR_TUN_FLOWS_PATH]);
}

/// `tnl/neigh/show`'s line for `ip`, its words.
fn neighbour_line(shown: &str, ip: &str) -> Option<Vec<String>> {
    shown
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|w| w.first().map(String::as_str) == Some(ip))
}

/// The bytes of the first packet in tcpdump's `-x` output (the IP header on).
fn first_packet_bytes(dump: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut started = false;
    for line in dump.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("0x") {
            let Some((offset, hex)) = rest.split_once(':') else {
                continue;
            };
            if offset == "0000" && started {
                break;
            }
            started = true;
            for word in hex.split_whitespace() {
                for i in (0..word.len()).step_by(2) {
                    if let Some(b) = word
                        .get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        bytes.push(b);
                    }
                }
            }
        } else if started {
            break;
        }
    }
    bytes
}

/// Two ferrovs hosts joined by a native tunnel on the IPv6-only underlay, seeded, with a
/// VM each: what the tests use of them.
struct FvsPair {
    a: String,
    b: String,
    vm_a: String,
    vm_b: String,
    fa: PrivateFvs,
    fb: PrivateFvs,
}

/// Builds an [`FvsPair`] over a native `kind` tunnel: hosts `TAGA`/`TAGB`, VMs `TAGva`,
/// `TAGvb`.
fn fvs_pair(lab: &mut Lab, kind: &str, tag: &str) -> FvsPair {
    let (a, b) = lab.hosts(tag);
    let vm_a = lab.vm(&format!("{tag}va"), &a, VM_A);
    let vm_b = lab.vm(&format!("{tag}vb"), &b, VM_B);
    let fa = lab.fvs(&a, &format!("{tag}a"));
    let fb = lab.fvs(&b, &format!("{tag}b"));
    for (f, host, ends, mac) in [
        (&fa, &a, (IP_A, IP_B), BR_PHY_MAC_A),
        (&fb, &b, (IP_B, IP_A), BR_PHY_MAC_B),
    ] {
        build(host, kind, ends, mac, false, &[], &|args| {
            f.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        });
        assert_eq!(
            f.vsctl(&["get", "interface", "tun6", "error"])
                .unwrap_or_default()
                .trim(),
            "[]"
        );
        seed_fvs(f);
    }
    FvsPair {
        a,
        b,
        vm_a,
        vm_b,
        fa,
        fb,
    }
}

/// Two ferrovs hosts over a native `kind` tunnel on the IPv6-only underlay.
fn fvs_to_fvs(kind: &str, tag: &str, filter: &str) {
    let mut lab = Lab::new();
    let FvsPair {
        b, vm_a, fa, fb, ..
    } = fvs_pair(&mut lab, kind, tag);
    // The first packets find no neighbour: ferrovs drops them and solicits.
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 5);
    assert!(
        ok,
        "VM A cannot ping VM B across native {kind} over IPv6:\n{out}"
    );
    for (f, peer, mac) in [(&fa, IP_B, BR_PHY_MAC_B), (&fb, IP_A, BR_PHY_MAC_A)] {
        assert_neighbour(f, peer, mac);
    }
    assert!(coverage(&fa, "native_tnl_neigh_miss") >= 1);

    let capture = Capture::start(&b, "eth1", 4, filter, CAPTURE_WITHIN);
    let received = coverage(&fb, "native_tnl_received");
    let n = 10;
    let (ok, out) = netns::ping(&vm_a, VM_B.1, n);
    assert!(ok, "second ping failed:\n{out}");
    let wire = capture.finish();
    assert!(
        wire.contains(&format!("{IP_A} > {IP_B}")) || wire.contains(&format!("{IP_A}.")),
        "no IPv6 tunnel packets from A to B on the wire:\n{wire}"
    );
    let taken = coverage(&fb, "native_tnl_received") - received;
    assert!(
        taken >= u64::from(n),
        "host B took {taken} tunnel packets from br-phy"
    );
    // A flushed neighbour is solicited again, and the tunnel carries on.
    let misses = coverage(&fa, "native_tnl_neigh_miss");
    assert_eq!(appctl(&fa, &["tnl/neigh/flush"]), "OK\n");
    assert_eq!(
        neighbour_line(&appctl(&fa, &["tnl/neigh/show"]), IP_B),
        None
    );
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 5);
    assert!(ok, "no ping after tnl/neigh/flush:\n{out}");
    assert!(coverage(&fa, "native_tnl_neigh_miss") > misses);
    assert!(neighbour_line(&appctl(&fa, &["tnl/neigh/show"]), IP_B).is_some());
}

#[test]
fn native_gre_over_ipv6_between_two_fvs_hosts() {
    fvs_to_fvs("gre", "g", "ip6 proto 47");
}

/// Open vSwitch's `ip6gre` type: Ethernet over GRE over IPv6, as `gre` with IPv6 ends.
#[test]
fn native_ip6gre_between_two_fvs_hosts() {
    fvs_to_fvs("ip6gre", "i", "ip6 proto 47");
}

#[test]
fn native_vxlan_over_ipv6_between_two_fvs_hosts() {
    fvs_to_fvs("vxlan", "x", "ip6 and udp port 4789");
}

/// The learned table-20 rule for `mac` on `f`'s br-tun and its `n_packets`, after the
/// revalidator has credited the cached (and the kernel's) traffic.
fn learned(f: &PrivateFvs, mac: &str) -> (String, u64) {
    appctl(f, &["revalidator/wait"]);
    let dump = f
        .ofctl(&["dump-flows", "br-tun", "table=20"])
        .unwrap_or_else(|e| panic!("ovs-ofctl dump-flows: {e}"));
    common::learned_rule(&dump, mac)
}

/// Kernel offload of native GRE over the IPv6 underlay ([`assert_tunnel_offloaded`]): the
/// filters push and strip the outer IPv6 and GRE headers, and the underlay carries GRE over
/// IPv6 with key 1 and Ethernet inside.
#[test]
fn native_gre_over_ipv6_is_offloaded_to_the_kernel() {
    let _ = require_tool("tc");
    let mut lab = Lab::new();
    let p = fvs_pair(&mut lab, "gre", "k");
    let check_wire = |wire: &str| {
        assert!(
            wire.contains(&format!("{IP_A} > {IP_B}"))
                && wire.contains("GREv0, Flags [key present], key=0x1"),
            "no GRE over IPv6 with key 1 from A to B on the wire:\n{wire}"
        );
        // Behind the 40-byte IPv6 header: the K flag, protocol 0x6558 (Ethernet), key 1.
        assert!(
            wire.contains(" 2000 6558 0000 0001"),
            "GRE must carry Ethernet:\n{wire}"
        );
    };
    let decap_flow = format!("tunnel(tun_id=0x1,ipv6_src={IP_A},ipv6_dst={IP_B}");
    let case = OffloadCase {
        hosts: (&p.a, &p.b),
        vms: (&p.vm_a, &p.vm_b),
        vm_b: VM_B,
        switches: (&p.fa, &p.fb),
        wire_filter: "ip6 proto 47",
        check_wire: &check_wire,
        decap_flow: &decap_flow,
        learned: &learned,
        what: "GRE over IPv6",
    };
    assert_tunnel_offloaded(&mut lab.net, &case);
}

/// ferrovs native on host A, Open vSwitch 3.1's userspace datapath native on host B, over a
/// `kind` tunnel on the IPv6 underlay, both ports with the interface settings `extra`.
/// `filter` picks the tunnel packets on the wire; each switch's first packet is compared
/// with the other's: the IPv6 header's first word, next header and hop limit, and the UDP
/// checksum's presence or GRE's flags. With `offload`, ferrovs runs with `hw-offload=true`
/// and its tunnel packets are the kernel's filters' (checked: filters on tap1 and eth1, the
/// switch encapsulates hardly any of the compared ping's packets).
fn open_vswitch_far_end(kind: &str, tag: &str, extra: &[&str], filter: &str, offload: bool) {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts(tag);
    let vm_a = lab.vm(&format!("{tag}va"), &a, VM_A);
    lab.vm(&format!("{tag}vb"), &b, VM_B);
    let ovs = PrivateOvs::start_in_netns(&b);
    build(&b, kind, (IP_B, IP_A), BR_PHY_MAC_B, true, extra, &|args| {
        ovs.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
    });
    let mgmt = |br: &str| format!("unix:{}", ovs.dir().join(format!("{br}.mgmt")).display());
    let ovs_ofctl = |br: &str, args: &[&str]| {
        let target = mgmt(br);
        let mut full = vec![args[0], target.as_str()];
        full.extend_from_slice(&args[1..]);
        ovs.ofctl(&full)
            .unwrap_or_else(|e| panic!("ovs-ofctl {full:?}: {e}"));
    };
    seed_flows(&ovs_ofctl, "br-int", "br-tun");
    // Open vSwitch's neighbour is pinned, as in the IPv4 interoperation tests.
    ovs.appctl(&["tnl/neigh/set", "br-phy", IP_A, BR_PHY_MAC_A])
        .unwrap_or_else(|e| panic!("ovs-appctl tnl/neigh/set: {e}"));

    let fa = lab.fvs(&a, &format!("{tag}a"));
    build(
        &a,
        kind,
        (IP_A, IP_B),
        BR_PHY_MAC_A,
        false,
        extra,
        &|args| {
            fa.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        },
    );
    seed_fvs(&fa);
    if offload {
        fa.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"])
            .unwrap_or_else(|e| panic!("ovs-vsctl set hw-offload: {e}"));
    }

    // ferrovs solicits Open vSwitch's address; the kernel behind Open vSwitch's br-phy
    // answers.
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 5);
    assert!(ok, "VM A cannot ping VM B behind Open vSwitch:\n{out}");
    if offload {
        // Two passes: one caches the megaflows' chains, the next finds them all.
        appctl(&fa, &["revalidator/wait"]);
        appctl(&fa, &["revalidator/wait"]);
        assert!(
            tc_filters(&a, "tap1").contains("ferrovs_encap")
                && tc_filters(&a, "eth1").contains("ferrovs_decap"),
            "ferrovs's tunnel is not offloaded:\n{}",
            appctl(&fa, &["dpctl/dump-flows", "-m"])
        );
    }
    let sent = coverage(&fa, "native_tnl_sent");

    // Both directions on the wire: ours captured at B, theirs at A.
    let ours = Capture::start(
        &b,
        "eth1",
        1,
        &format!("{filter} and src host {IP_A}"),
        CAPTURE_WITHIN,
    );
    let theirs = Capture::start(
        &a,
        "eth1",
        1,
        &format!("{filter} and src host {IP_B}"),
        CAPTURE_WITHIN,
    );
    let n = 8;
    let (ok, out) = netns::ping(&vm_a, VM_B.1, n);
    assert!(ok, "second ping failed:\n{out}");
    let by_switch = coverage(&fa, "native_tnl_sent") - sent;
    if offload {
        assert!(
            by_switch < u64::from(n) / 4,
            "ferrovs encapsulated {by_switch} of {n} packets itself"
        );
    }
    let (ours, theirs) = (ours.finish(), theirs.finish());
    let (o, t) = (first_packet_bytes(&ours), first_packet_bytes(&theirs));
    assert!(
        o.len() >= 48 && t.len() >= 48,
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    // Version, traffic class and flow label; the next header and hop limit; then for UDP
    // whether there is a checksum, for GRE the flags (C: checksum, K: key) and protocol.
    let both = format!("ours:\n{ours}\ntheirs:\n{theirs}");
    assert_eq!(&o[..4], &t[..4], "first word; {both}");
    assert_eq!(o[6..8], t[6..8], "next header, hop limit; {both}");
    if kind.ends_with("gre") {
        assert_eq!(o[40..44], t[40..44], "GRE flags and protocol; {both}");
    } else {
        assert_eq!(
            (o[46] | o[47]) == 0,
            (t[46] | t[47]) == 0,
            "a UDP checksum in one and not the other; {both}"
        );
    }

    // ferrovs learned Open vSwitch's br-phy by neighbour discovery.
    assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);
    // (Offloaded, the kernel takes Open vSwitch's packets in instead.)
    assert!(offload || coverage(&fa, "native_tnl_received") >= 3);
    // An IPv6 neighbour set by hand reads back alike on both switches.
    let pinned = "fd00:97::99";
    for out in [
        appctl(
            &fa,
            &["tnl/neigh/set", "br-phy", pinned, "aa:55:aa:55:00:99"],
        ),
        ovs.appctl(&["tnl/neigh/set", "br-phy", pinned, "aa:55:aa:55:00:99"])
            .unwrap_or_default(),
    ] {
        assert_eq!(out, "OK\n");
    }
    let line = |shown: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(pinned))
            .map(str::to_owned)
    };
    let theirs_shown = ovs.appctl(&["tnl/neigh/show"]).unwrap_or_default();
    assert_eq!(
        line(&appctl(&fa, &["tnl/neigh/show"])),
        line(&theirs_shown),
        "{theirs_shown}"
    );
    assert!(line(&theirs_shown).is_some(), "{theirs_shown}");
}

#[test]
fn native_vxlan_over_ipv6_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end("vxlan", "o", &[], "ip6 and udp port 4789", false);
}

/// `csum=false` over IPv6: the two switches agree on the UDP checksum's presence (both still
/// send one: Open vSwitch 3.1's userspace tunnels checksum UDP over IPv6 whatever `csum`
/// says, and ferrovs does as it does).
#[test]
fn native_vxlan_over_ipv6_without_checksums_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end(
        "vxlan",
        "c",
        &["options:csum=false"],
        "ip6 and udp port 4789",
        false,
    );
}

#[test]
fn native_ip6gre_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end("ip6gre", "p", &[], "ip6 proto 47", false);
}

#[test]
fn native_gre_over_ipv6_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end("gre", "r", &[], "ip6 proto 47", false);
}

/// GRE over IPv6 offloaded on ferrovs's side: the outer IPv6 and GRE headers the kernel's
/// filter pushes are Open vSwitch's, and its decapsulation takes Open vSwitch's packets.
#[test]
fn offloaded_gre_over_ipv6_interoperates_with_open_vswitch_native() {
    let _ = require_tool("tc");
    open_vswitch_far_end("gre", "f", &[], "ip6 proto 47", true);
}

/// A `remote_ip=flow` VXLAN port on host A whose flow sets `tun_ipv6_dst`: the destination
/// is routed when its first packet asks, goes native through br-phy (neighbour discovery
/// included), and host B's fixed port answers back through it.
#[test]
fn a_remote_ip_flow_port_sends_native_to_the_ipv6_destination_the_flow_sets() {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("f");
    let vm_a = lab.vm("fva", &a, VM_A);
    lab.vm("fvb", &b, VM_B);
    let fa = lab.fvs(&a, "fa");
    let fb = lab.fvs(&b, "fb");
    for (f, host, addr, mac, remote) in [
        (&fa, &a, IP_A, BR_PHY_MAC_A, "flow"),
        (&fb, &b, IP_B, BR_PHY_MAC_B, IP_A),
    ] {
        let vsctl = |args: &[&str]| {
            f.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        };
        let hw = format!("other_config:hwaddr={mac}");
        vsctl(
            &AddBridge::new("br-phy")
                .set(&[&hw])
                .port("eth1", &[])
                .args(),
        );
        ip(&[
            "-n",
            host,
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            "br-phy",
            "nodad",
        ]);
        ip(&["-n", host, "link", "set", "br-phy", "up"]);
        let r = format!("options:remote_ip={remote}");
        let br = AddBridge::new("br-tun")
            .set(&["fail_mode=secure"])
            .port("tap1", &["ofport_request=1"])
            .port(
                "tunf",
                &["type=vxlan", "ofport_request=2", "options:key=flow", &r],
            );
        vsctl(&br.args());
        let to_peer = if remote == "flow" {
            format!(
                "in_port=1,actions=set_field:{IP_B}->tun_ipv6_dst,set_field:0x1->tun_id,output:2"
            )
        } else {
            "in_port=1,actions=set_field:0x1->tun_id,output:2".to_owned()
        };
        for flow in [to_peer.as_str(), "in_port=2,tun_id=0x1,actions=output:1"] {
            f.ofctl(&["add-flow", "br-tun", flow])
                .unwrap_or_else(|e| panic!("ovs-ofctl add-flow {flow}: {e}"));
        }
    }
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 6);
    assert!(
        ok,
        "VM A cannot ping VM B through the remote_ip=flow port:\n{out}"
    );
    let sent = coverage(&fa, "native_tnl_sent");
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 3);
    assert!(ok, "second ping failed:\n{out}");
    assert!(
        coverage(&fa, "native_tnl_sent") >= sent + 3,
        "the flow's destination went native:\n{}",
        appctl(&fa, &["coverage/show"])
    );
    assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);
}

/// Host A's kernel has no route to host B's second address (`fd00:98::21`, the far end of
/// A's tunnel); `ovs/route/add fd00:98::/64 br-phy fd00:97::21` gives ferrovs one, and the
/// tunnel goes native through it (the gateway found by neighbour discovery).
#[test]
fn an_ipv6_user_route_makes_a_tunnel_native() {
    const FAR_B: &str = "fd00:98::21";
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("u");
    let vm_a = lab.vm("uva", &a, VM_A);
    lab.vm("uvb", &b, VM_B);
    let fa = lab.fvs(&a, "ua");
    let fb = lab.fvs(&b, "ub");
    for (f, host, ends, mac) in [
        (&fa, &a, (IP_A, FAR_B), BR_PHY_MAC_A),
        (&fb, &b, (FAR_B, IP_A), BR_PHY_MAC_B),
    ] {
        // Host B's br-phy holds both of its addresses; its tunnel leaves from the second.
        let local = if ends.0 == FAR_B { IP_B } else { ends.0 };
        build(host, "vxlan", (local, ends.1), mac, false, &[], &|args| {
            f.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        });
        if ends.0 == FAR_B {
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("{FAR_B}/64"),
                "dev",
                "br-phy",
                "nodad",
            ]);
            let l = format!("options:local_ip={FAR_B}");
            f.vsctl(&["set", "interface", "tun6", &l])
                .unwrap_or_else(|e| panic!("ovs-vsctl set: {e}"));
        }
        seed_fvs(f);
    }
    let (ok, _) = netns::ping(&vm_a, VM_B.1, 2);
    assert!(!ok, "host A has no route to {FAR_B} yet");
    assert_eq!(
        appctl(&fa, &["ovs/route/add", "fd00:98::/64", "br-phy", IP_B]),
        "OK\n"
    );
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 6);
    assert!(ok, "VM A cannot ping VM B by the user route:\n{out}");
    assert!(coverage(&fa, "native_tnl_sent") >= 3);
    // The gateway's MAC was found by neighbour discovery.
    let shown = appctl(&fa, &["tnl/neigh/show"]);
    assert!(neighbour_line(&shown, IP_B).is_some(), "{shown}");
}

/// Asserts that `f`'s `tnl/neigh/show` has `ip` at `mac` on br-phy.
fn assert_neighbour(f: &PrivateFvs, ip: &str, mac: &str) {
    let shown = appctl(f, &["tnl/neigh/show"]);
    assert_eq!(
        neighbour_line(&shown, ip),
        Some(vec![ip.to_owned(), mac.to_owned(), "br-phy".to_owned()]),
        "{shown}"
    );
}

/// Sends raw Ethernet frames (hex) out of `dev` in `ns` with a packet socket.
fn send_frames(ns: &str, dev: &str, frames: &[Vec<u8>]) {
    let hex: Vec<String> = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('{dev}', 0))\n\
         for h in {hex:?}:\n    s.send(bytes.fromhex(h))\n"
    );
    exec(ns, &["python3", "-c", &script]);
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("a MAC"))
        .collect()
}

/// Malformed outer IPv6 from the network, addressed to host A's br-phy: dropped, counted
/// once each, and the tunnel carries on.
#[test]
fn malformed_outer_ipv6_is_dropped_and_counted() {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("m");
    let vm_a = lab.vm("mva", &a, VM_A);
    lab.vm("mvb", &b, VM_B);
    let fa = lab.fvs(&a, "ma");
    let fb = lab.fvs(&b, "mb");
    for (f, host, ends, mac) in [
        (&fa, &a, (IP_A, IP_B), BR_PHY_MAC_A),
        (&fb, &b, (IP_B, IP_A), BR_PHY_MAC_B),
    ] {
        build(host, "gre", ends, mac, false, &[], &|args| {
            f.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        });
        seed_fvs(f);
    }
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 5);
    assert!(ok, "the tunnel works before the garbage:\n{out}");
    let before = coverage(&fa, "native_tnl_rx_error");

    // Ethernet to A's br-phy, IPv6 from B to A, then what follows.
    let src: std::net::Ipv6Addr = IP_B.parse().expect("IPv6");
    let dst: std::net::Ipv6Addr = IP_A.parse().expect("IPv6");
    let frame = |next: u8, plen: u16, body: &[u8]| {
        let mut f = mac_bytes(BR_PHY_MAC_A);
        f.extend(mac_bytes(BR_PHY_MAC_B));
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&plen.to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(body);
        f
    };
    let gre = [0x20, 0x00, 0x65, 0x58, 0, 0, 0, 1];
    let mut inner = vec![0xff; 6];
    inner.extend_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0b, 0x08, 0x06]);
    inner.extend_from_slice(&[0; 28]);
    let mut gre_body = gre.to_vec();
    gre_body.extend_from_slice(&inner);
    // A destination options header claiming 64 bytes (length 7) ahead of GRE, with 8 there.
    let mut cut_ext = vec![47, 7, 1, 4, 0, 0, 0, 0];
    cut_ext.extend_from_slice(&gre);
    let garbage = vec![
        // A payload length 100 bytes past the frame.
        frame(47, (gre_body.len() + 100) as u16, &gre_body),
        frame(60, cut_ext.len() as u16, &cut_ext),
    ];
    let n = garbage.len() as u64;
    send_frames(&b, "eth1", &garbage);
    let deadline = Instant::now() + Duration::from_secs(5);
    while coverage(&fa, "native_tnl_rx_error") < before + n && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    assert_eq!(
        coverage(&fa, "native_tnl_rx_error") - before,
        n,
        "each malformed packet counted once:\n{}",
        appctl(&fa, &["coverage/show"])
    );
    let (ok, out) = netns::ping(&vm_a, VM_B.1, 3);
    assert!(ok, "traffic still crosses after the garbage:\n{out}");
}

/// Linux's VXLAN over IPv6 without UDP checksums (`udp6zerocsumtx`, VNI 1) on host A, as VM A
/// itself, and ferrovs with `hw-offload=true` on host B: the datagrams arrive without a
/// checksum (captured), which the switch would accept, so host B's kernel decapsulates them
/// (a filter on eth1, the vport's megaflow `offloaded:yes`, `native_tnl_received` hardly
/// moves); host B's answers, which carry a checksum, are sent by the switch, and the pings
/// cross. Offload off, the filter goes and the switch takes the tunnel in again.
#[test]
fn vxlan_over_ipv6_without_checksums_is_decapsulated_by_the_kernel() {
    let _ = require_tool("tc");
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("z");
    lab.vm("zvb", &b, VM_B);
    let fb = lab.fvs(&b, "zb");
    let vsctl = |args: &[&str]| {
        fb.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
    };
    build(&b, "vxlan", (IP_B, IP_A), BR_PHY_MAC_B, false, &[], &vsctl);
    seed_fvs(&fb);
    vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"]);
    // Host A: its address on eth1, and the VXLAN device with VM A's MAC and address.
    exec(&a, &["sysctl", "-qw", "net.ipv6.conf.eth1.disable_ipv6=0"]);
    ip(&[
        "-n",
        &a,
        "addr",
        "add",
        &format!("{IP_A}/64"),
        "dev",
        "eth1",
        "nodad",
    ]);
    ip(&[
        "-n",
        &a,
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "1",
        "remote",
        IP_B,
        "local",
        IP_A,
        "dstport",
        "4789",
        "udp6zerocsumtx",
        "udp6zerocsumrx",
    ]);
    ip(&[
        "-n", &a, "link", "set", "vx0", "address", VM_A.0, "mtu", "1400", "up",
    ]);
    ip(&[
        "-n",
        &a,
        "addr",
        "add",
        &format!("{}/24", VM_A.1),
        "dev",
        "vx0",
    ]);

    let (ok, out) = netns::ping(&a, VM_B.1, 5);
    assert!(ok, "Linux's VXLAN cannot reach VM B:\n{out}");
    appctl(&fb, &["revalidator/wait"]);
    appctl(&fb, &["revalidator/wait"]);
    let shown = appctl(&fb, &["dpctl/dump-flows", "-m", "type=offloaded"]);
    assert!(
        shown.contains(&format!(
            "tunnel(tun_id=0x1,ipv6_src={IP_A},ipv6_dst={IP_B}"
        )) && shown.contains("offloaded:yes"),
        "host B's decapsulating megaflow is not offloaded:\n{shown}\n{}",
        appctl(&fb, &["dpctl/dump-flows", "-m"])
    );
    assert!(
        tc_filters(&b, "eth1").contains("ferrovs_decap"),
        "no decapsulation filter on host B's eth1"
    );

    let capture = Capture::start(
        &b,
        "eth1",
        1,
        &format!("ip6 and udp port 4789 and src host {IP_A}"),
        CAPTURE_WITHIN,
    );
    let received = coverage(&fb, "native_tnl_received");
    let n = 20;
    let (ok, out) = netns::ping(&a, VM_B.1, n);
    assert!(ok, "ping through host B's filter failed:\n{out}");
    let wire = capture.finish();
    let bytes = first_packet_bytes(&wire);
    assert!(bytes.len() >= 48, "no VXLAN from A:\n{wire}");
    assert_eq!(&bytes[46..48], &[0, 0], "A sends no UDP checksum:\n{wire}");
    let by_switch = coverage(&fb, "native_tnl_received") - received;
    assert!(
        by_switch < u64::from(n) / 4,
        "host B's switch took in {by_switch} of {n} packets itself"
    );

    vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=false"]);
    appctl(&fb, &["revalidator/wait"]);
    assert!(
        !tc_filters(&b, "eth1").contains("bpf"),
        "host B kept its filter"
    );
    let received = coverage(&fb, "native_tnl_received");
    let (ok, out) = netns::ping(&a, VM_B.1, 3);
    assert!(ok, "ping with offload off again:\n{out}");
    assert!(
        coverage(&fb, "native_tnl_received") >= received + 3,
        "the switch takes the tunnel in again"
    );
}

/// VXLAN over IPv6 between two ferrovs hosts with `hw-offload=true`: the switches send every
/// datagram with a UDP checksum, which no filter can write (no encapsulation filter on host
/// A's tap1) or verify (host B's switch takes every one in, its decapsulation filter taking
/// only datagrams without one), and the VMs ping as without offload.
#[test]
fn vxlan_over_ipv6_with_checksums_stays_in_the_switch_under_offload() {
    let _ = require_tool("tc");
    let mut lab = Lab::new();
    let p = fvs_pair(&mut lab, "vxlan", "q");
    for f in [&p.fa, &p.fb] {
        f.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"])
            .unwrap_or_else(|e| panic!("ovs-vsctl set hw-offload: {e}"));
    }
    let (ok, out) = netns::ping(&p.vm_a, VM_B.1, 5);
    assert!(ok, "ping with offload on:\n{out}");
    for f in [&p.fa, &p.fb] {
        appctl(f, &["revalidator/wait"]);
        appctl(f, &["revalidator/wait"]);
    }
    assert!(
        !tc_filters(&p.a, "tap1").contains("bpf"),
        "an encapsulation filter for VXLAN over IPv6"
    );
    let (sent, received) = (
        coverage(&p.fa, "native_tnl_sent"),
        coverage(&p.fb, "native_tnl_received"),
    );
    let n = 10;
    let (ok, out) = netns::ping(&p.vm_a, VM_B.1, n);
    assert!(ok, "ping failed:\n{out}");
    assert!(coverage(&p.fa, "native_tnl_sent") >= sent + u64::from(n));
    assert!(
        coverage(&p.fb, "native_tnl_received") >= received + u64::from(n),
        "host B's switch must verify every checksummed datagram itself"
    );
}
