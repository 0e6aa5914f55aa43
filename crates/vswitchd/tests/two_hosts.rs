//! The seed's network for real (root): two compute hosts as network namespaces joined by a
//! veth underlay (10.0.1.31 and 10.0.1.21, no route out), each running fvs-vswitchd with
//! the seed's br-int and br-tun, and VMs as namespaces on veth pairs into br-int.
//!
//! Each host: br-int (`fail_mode=secure`, one `priority=1,actions=NORMAL` rule as Neutron's
//! OVS agent installs it), br-tun (secure) with the seed's flows verbatim from
//! `examples/seed/br-tun.flows`, the patch pair `patch-tun`/`patch-int`, and a tunnel port
//! named as Neutron names it (`gre-0a000115` on 10.0.1.31) with the seed's options
//! (`remote_ip`, `local_ip`, `in_key=flow`, `out_key=flow`, `df_default=true`). Two tenant
//! networks: VMs on tag 1 (tun_id 0x1, the seed's) and on tag 2, for which the test adds the
//! two br-tun flows Neutron adds for a second network (`table=3 tun_id=0x2 →
//! mod_vlan_vid:2` and `table=22 dl_vlan=2 → set_tunnel:0x2`). All four VMs share one
//! subnet, so only the switch keeps the networks apart.
//!
//! What must hold, for GRE, VXLAN and Geneve alike: VMs of one network ping each other
//! across the tunnel; tcpdump on the underlay sees the tunnel protocol with key 1 carrying
//! Ethernet (GRE protocol 0x6558); `fvs-ofctl dump-flows br-tun table=20` shows the rule
//! `learn` made, with `hard_timeout=300`, and its `n_packets` rises with more traffic; a VM
//! of one network cannot reach the other network's VM.
//!
//! Interoperation: VXLAN with Linux's own `vxlan` device as the far end. Linux `gretap` (and
//! `geneve`) is impossible on this kernel (no GRE or Geneve module: `ip link add type gretap`
//! answers "Unknown device type"), so GRE interoperates with real Open vSwitch 3.1 instead,
//! and so do VXLAN and Geneve (userspace datapath, `datapath_type=netdev`, in the far host's
//! namespace, with `br-phy` holding the underlay NIC and the neighbour pinned by
//! `tnl/arp/set`, as its userspace tunnels need).
//!
//! Native tunnels: with Open vSwitch's userspace layout (eth1 in br-phy, the tunnel address
//! on br-phy's internal port) ferrovs carries GRE and VXLAN through br-phy itself: the VMs
//! ping, the neighbours are learned from ARP (`tnl/arp/show`, and again after
//! `tnl/arp/flush`), the receiving host's IP layer sees none of the tunnel packets, a more
//! specific route through another device takes the tunnel off br-phy and its removal brings
//! it back, and ferrovs's native GRE and VXLAN interoperate with Open vSwitch's. Native
//! VXLAN and Geneve carry 8 MB of TCP from VMs that keep TSO intact, their outer packets
//! leaving host A's eth1 in `GSO_UDP_L4` runs and split by host B's endpoint (coverage
//! counters), with host B's IP layer out of the way; datagrams host B's kernel coalesced
//! (GRO) are split the same way; and the same stream reaches Open vSwitch's native VXLAN
//! intact, the runs cut by the kernel (`tx off`, as Open vSwitch's documentation asks).
//!
//! Malformed tunnel packets from the network (bogus GRE versions, flags and protocols, bad
//! checksums, truncated headers, runts, a fragmented 20 kB datagram) are dropped and counted
//! (`coverage/show`), and the VMs' traffic behind them still crosses; so are a bad and a
//! short datagram inside a run that reaches a native endpoint.
//!
//! CI runs as root; without root these tests fail with a message saying so. Every namespace
//! (taking its veth ends with it) is deleted and every daemon killed by its own pid, by a
//! guard, even when an assertion fails. `tcpdump`, `ping`, `ip`, `ethtool`, `python3` (its
//! raw sockets send the malformed GRE and the malformed run) and Open vSwitch must be
//! installed.

mod common;

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::learned_rule;
use common::tunnel_offload::{self, OffloadCase, assert_tunnel_offloaded};
use fvs_test_support::cargo::package_bins;
use fvs_test_support::netns::{self, Capture, exec, ip, run_combined, veth};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, SEED_BR_TUN_FLOWS_PATH, require_tool};

/// Host A's underlay address (the seed's compute node).
const IP_A: &str = "10.0.1.31";
/// Host B's underlay address (the seed's remote end).
const IP_B: &str = "10.0.1.21";

/// How long a tcpdump capture waits for its packets.
const CAPTURE_WITHIN: Duration = Duration::from_secs(15);

/// The flows Neutron adds to br-tun for a second network (local VLAN 2, tun_id 0x2), in the
/// seed's form.
const NETWORK_2_FLOWS: &[&str] = &[
    "table=3,priority=1,tun_id=0x2,actions=mod_vlan_vid:2,resubmit(,10)",
    "table=22,dl_vlan=2,actions=strip_vlan,set_tunnel:0x2,output:2",
];

/// Namespaces, deleted on drop (taking their veth ends with them).
struct Lab {
    net: netns::Lab,
}

impl Lab {
    fn new() -> Self {
        let net = netns::Lab::new();
        for tool in ["ping", "tcpdump", "ovs-vsctl"] {
            let _ = require_tool(tool);
        }
        Self { net }
    }

    /// A fresh namespace `h4<tag><pid>` with loopback up and IPv6 off (no router
    /// solicitations on our links).
    fn namespace(&mut self, tag: &str) -> String {
        let ns = self.net.add_netns(&netns::unique_name("h4", tag));
        exec(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        exec(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        );
        ns
    }

    /// Two hosts joined by the underlay veth `eth1`, addressed as the seed's.
    fn hosts(&mut self, tag: &str) -> (String, String) {
        let a = self.namespace(&format!("{tag}A"));
        let b = self.namespace(&format!("{tag}B"));
        veth(&a, "eth1", &b, "eth1");
        for (ns, addr) in [(&a, IP_A), (&b, IP_B)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth1",
            ]);
        }
        (a, b)
    }

    /// A VM: a namespace whose `eth0` (MAC `mac`, address `addr`/24, MTU 1400 to leave room
    /// for the tunnel headers) is the peer of `port` in `host`.
    fn vm(&mut self, tag: &str, host: &str, port: &str, mac: &str, addr: &str) -> String {
        let vm = self.namespace(tag);
        veth(host, port, &vm, "eth0");
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

    /// fvs-vswitchd inside `host`, in a private directory.
    fn fvs(&mut self, host: &str, tag: &str) -> Fvs {
        let inner = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .dummy(false)
            .netns(host)
            .tag(tag)
            .start();
        Fvs { inner }
    }
}

/// One fvs-vswitchd (killed by its pid on drop) and the clients that talk to it.
struct Fvs {
    inner: PrivateFvs,
}

impl Fvs {
    /// Real `ovs-vsctl` against this daemon's database; must succeed.
    fn vsctl(&self, args: &[&str]) -> String {
        self.inner
            .vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"))
    }

    /// `fvs-ofctl ARGS` with this daemon's run directory; must succeed.
    fn ofctl(&self, args: &[&str]) -> String {
        fvs_ofctl(&self.inner, args)
    }

    /// `fvs-appctl ARGS`; must succeed.
    fn appctl(&self, args: &[&str]) -> String {
        self.inner
            .appctl(args)
            .unwrap_or_else(|e| panic!("fvs-appctl {args:?}: {e}"))
    }

    /// Open vSwitch's userspace-tunnel layout on `host` ([`br_phy`]) with this switch.
    fn br_phy(&self, host: &str, addr: &str, hwaddr: &str) {
        br_phy(host, addr, hwaddr, &[], &|a| {
            self.vsctl(a);
        });
    }

    /// The seed's compute node from `local` to `remote` over a `kind` tunnel, with VM ports
    /// `tap1` (tag 1) and `tap2` (tag 2) on br-int. An empty `local` leaves `local_ip` out.
    fn build_seed(&self, kind: &str, local: &str, remote: &str) -> String {
        let port = neutron_port_name(kind, remote);
        self.vsctl(&AddBridge::new("br-int").set(&["fail_mode=secure"]).args());
        self.vsctl(&[
            "add-port",
            "br-int",
            "patch-tun",
            "--",
            "set",
            "interface",
            "patch-tun",
            "type=patch",
            "options:peer=patch-int",
        ]);
        self.vsctl(&["add-port", "br-int", "tap1", "tag=1"]);
        self.vsctl(&["add-port", "br-int", "tap2", "tag=2"]);
        self.ofctl(&["add-flow", "br-int", "priority=1,actions=NORMAL"]);
        self.vsctl(&AddBridge::new("br-tun").set(&["fail_mode=secure"]).args());
        self.vsctl(&[
            "add-port",
            "br-tun",
            "patch-int",
            "--",
            "set",
            "interface",
            "patch-int",
            "type=patch",
            "options:peer=patch-tun",
        ]);
        let kind_arg = format!("type={kind}");
        let local_arg = format!("options:local_ip={local}");
        let remote_arg = format!("options:remote_ip={remote}");
        let mut args = vec![
            "add-port",
            "br-tun",
            &port,
            "--",
            "set",
            "interface",
            &port,
            &kind_arg,
            "options:df_default=true",
            "options:in_key=flow",
            "options:out_key=flow",
            &remote_arg,
        ];
        if !local.is_empty() {
            args.push(&local_arg);
        }
        self.vsctl(&args);
        // The seed's flows name the patch port 1 and the tunnel 2.
        assert_eq!(
            self.vsctl(&["get", "interface", "patch-int", "ofport"])
                .trim(),
            "1"
        );
        assert_eq!(
            self.vsctl(&["get", "interface", &port, "ofport"]).trim(),
            "2"
        );
        assert_eq!(
            self.vsctl(&["get", "interface", &port, "error"]).trim(),
            "[]"
        );
        self.ofctl(&["add-flows", "br-tun", SEED_BR_TUN_FLOWS_PATH]);
        for flow in NETWORK_2_FLOWS {
            self.ofctl(&["add-flow", "br-tun", flow]);
        }
        port
    }

    /// The learned table-20 rule for `mac` (in `fvs-ofctl dump-flows br-tun table=20`) and
    /// its `n_packets`, after the revalidator has credited the cached traffic.
    fn learned(&self, mac: &str) -> (String, u64) {
        learned_on(&self.inner, mac)
    }
}

/// `fvs-ofctl ARGS` with the run directory of daemon `f`; must succeed.
fn fvs_ofctl(f: &PrivateFvs, args: &[&str]) -> String {
    let fvs_ofctl = package_bins("fvs-cli").join("fvs-ofctl");
    let (ok, out) = run_combined(
        Command::new(fvs_ofctl)
            .env("FVS_RUNDIR", f.dir())
            .args(args),
    );
    assert!(ok, "fvs-ofctl {args:?}: {out}");
    out
}

/// [`Fvs::learned`] on the daemon underneath.
fn learned_on(f: &PrivateFvs, mac: &str) -> (String, u64) {
    f.appctl(&["revalidator/wait"])
        .unwrap_or_else(|e| panic!("fvs-appctl revalidator/wait: {e}"));
    learned_rule(&fvs_ofctl(f, &["dump-flows", "br-tun", "table=20"]), mac)
}

/// br-phy's MACs on hosts A and B in the native layouts (`other_config:hwaddr`).
const BR_PHY_MAC_A: &str = "02:00:0a:00:01:1f";
const BR_PHY_MAC_B: &str = "02:00:0a:00:01:15";

/// Open vSwitch's userspace-tunnel layout on `host`, for either switch (`vsctl`): the
/// underlay NIC `eth1` in bridge `br-phy` (MAC `hwaddr`, more bridge `settings`), and the
/// host's tunnel address `addr` moved from eth1 to br-phy's internal port, which is up.
fn br_phy(host: &str, addr: &str, hwaddr: &str, settings: &[&str], vsctl: &dyn Fn(&[&str])) {
    ip(&["-n", host, "addr", "flush", "dev", "eth1"]);
    let hw = format!("other_config:hwaddr={hwaddr}");
    let mut set = vec![hw.as_str()];
    set.extend_from_slice(settings);
    vsctl(&AddBridge::new("br-phy").set(&set).port("eth1", &[]).args());
    ip(&[
        "-n",
        host,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        "br-phy",
    ]);
    ip(&["-n", host, "link", "set", "br-phy", "up"]);
}

/// Asserts that `tnl/arp/show` on `f` lists `ip` at `mac` on br-phy.
fn assert_neighbour(f: &Fvs, ip: &str, mac: &str) {
    let shown = f.appctl(&["tnl/arp/show"]);
    assert!(
        shown.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w == [ip, mac, "br-phy"]
        }),
        "tnl/arp/show lacks {ip} at {mac}:\n{shown}"
    );
}

/// `Ip: InReceives` of `/proc/net/snmp` in namespace `ns`: IPv4 packets its kernel took in.
fn ip_in_receives(ns: &str) -> u64 {
    let snmp = exec(ns, &["cat", "/proc/net/snmp"]);
    let mut ip_lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
    let (Some(names), Some(values)) = (ip_lines.next(), ip_lines.next()) else {
        panic!("no Ip lines in /proc/net/snmp:\n{snmp}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "InReceives")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no InReceives in /proc/net/snmp:\n{snmp}"))
}

/// Neutron's name for a tunnel port: the type, a dash, the remote address in hex.
fn neutron_port_name(kind: &str, remote: &str) -> String {
    let ip: std::net::Ipv4Addr = remote.parse().expect("an IPv4 address");
    format!("{kind}-{:08x}", u32::from(ip))
}

/// `ping` from `vm` to `to` (`count` echo requests 0.2 s apart): success and output.
fn ping(vm: &str, to: &str, count: u32) -> (bool, String) {
    netns::ping(vm, to, count)
}

/// The VMs' MACs and addresses: network 1 on tag 1, network 2 on tag 2, one subnet.
const VM1A: (&str, &str) = ("fa:16:3e:00:01:0a", "10.10.1.1");
const VM1B: (&str, &str) = ("fa:16:3e:00:01:0b", "10.10.1.2");
const VM2A: (&str, &str) = ("fa:16:3e:00:02:0a", "10.10.1.11");
const VM2B: (&str, &str) = ("fa:16:3e:00:02:0b", "10.10.1.12");

/// What the capture on the underlay must show for one tunnel protocol: the tcpdump filter,
/// and a check of its output that the packets carry Ethernet with key `key`.
fn wire_check(kind: &str) -> &'static str {
    match kind {
        "gre" => "ip proto 47",
        "vxlan" => "udp port 4789",
        _ => "udp port 6081",
    }
}

/// Asserts that `wire` (tcpdump -v -x) shows `kind` packets with key 1 carrying Ethernet.
fn assert_key_1_carrying_ethernet(kind: &str, wire: &str) {
    match kind {
        "gre" => {
            assert!(
                wire.contains("GREv0, Flags [key present], key=0x1"),
                "{wire}"
            );
            // Behind the 20-byte IPv4 header: the K flag, protocol 0x6558 (Ethernet), key 1.
            assert!(
                wire.contains(" 2000 6558 0000 0001"),
                "GRE must carry Ethernet:\n{wire}"
            );
        }
        "vxlan" => assert!(wire.contains("VXLAN, flags [I] (0x08), vni 1"), "{wire}"),
        _ => {
            assert!(wire.contains("Geneve, Flags [none], vni 0x1"), "{wire}");
            assert!(
                wire.contains(" 6558\n"),
                "Geneve must carry Ethernet:\n{wire}"
            );
        }
    }
}

/// Two ferrovs hosts running the seed over a `kind` tunnel, each with a VM on either
/// network; what the tests then use of it.
struct SeedPair {
    b: String,
    vm1a: String,
    vm2a: String,
    vm1b: String,
    fa: Fvs,
    fb: Fvs,
    /// Host A's tunnel port, named as Neutron names it.
    port_a: String,
}

/// Builds a [`SeedPair`]: hosts `TAGA`/`TAGB`, VMs `TAG1a`, `TAG2a`, `TAG1b`, `TAG2b`, and a
/// switch on each host; host A's `local_ip` is `local_a` (empty: none).
fn seed_pair(lab: &mut Lab, kind: &str, tag: &str, local_a: &str) -> SeedPair {
    let (a, b) = lab.hosts(tag);
    let vm1a = lab.vm(&format!("{tag}1a"), &a, "tap1", VM1A.0, VM1A.1);
    let vm2a = lab.vm(&format!("{tag}2a"), &a, "tap2", VM2A.0, VM2A.1);
    let vm1b = lab.vm(&format!("{tag}1b"), &b, "tap1", VM1B.0, VM1B.1);
    lab.vm(&format!("{tag}2b"), &b, "tap2", VM2B.0, VM2B.1);
    let fa = lab.fvs(&a, &format!("{tag}a"));
    let fb = lab.fvs(&b, &format!("{tag}b"));
    let port_a = fa.build_seed(kind, local_a, IP_B);
    fb.build_seed(kind, IP_B, IP_A);
    SeedPair {
        b,
        vm1a,
        vm2a,
        vm1b,
        fa,
        fb,
        port_a,
    }
}

/// The whole two-host scenario over a `kind` tunnel (see the module docs).
fn two_hosts(kind: &str, tag: &str) {
    let mut lab = Lab::new();
    let SeedPair {
        b,
        vm1a,
        vm2a,
        vm1b,
        fa,
        fb,
        port_a,
        ..
    } = seed_pair(&mut lab, kind, tag, IP_A);
    assert_eq!(port_a, format!("{kind}-0a000115"));

    // Network 1 across the tunnel, watched on host B's underlay NIC.
    let capture = Capture::start(&b, "eth1", 4, wire_check(kind), CAPTURE_WITHIN);
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(
        ok,
        "VM 1a cannot ping VM 1b across the {kind} tunnel:\n{out}"
    );
    assert_key_1_carrying_ethernet(kind, &capture.finish());

    // Host A learned where VM 1b is: a table-20 rule with the seed's hard timeout, whose
    // counter rises as more traffic uses it.
    let (rule, before) = fa.learned(VM1B.0);
    for want in [
        "hard_timeout=300",
        "priority=1,vlan_tci=0x0001/0x0fff",
        "load:0->NXM_OF_VLAN_TCI[]",
        "load:0x1->NXM_NX_TUN_ID[]",
        "output:2",
    ] {
        assert!(rule.contains(want), "learned rule lacks {want:?}: {rule}");
    }
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(ok, "second ping failed:\n{out}");
    let (_, after) = fa.learned(VM1B.0);
    assert!(
        after >= before + 3,
        "the learned rule counted {before} then {after} packets"
    );
    // Host B learned VM 1a the same way.
    let (rule_b, _) = fb.learned(VM1A.0);
    assert!(rule_b.contains("hard_timeout=300"), "{rule_b}");

    // Network 2 works on its own tunnel key...
    let (ok, out) = ping(&vm2a, VM2B.1, 2);
    assert!(ok, "VM 2a cannot ping VM 2b (tag 2, tun_id 0x2):\n{out}");
    let (rule2, _) = fa.learned(VM2B.0);
    assert!(rule2.contains("load:0x2->NXM_NX_TUN_ID[]"), "{rule2}");
    // ...and the networks cannot reach each other, though they share a subnet.
    let (ok, out) = ping(&vm1a, VM2B.1, 2);
    assert!(!ok, "network 1 reached network 2's VM:\n{out}");
    let (ok, out) = ping(&vm1b, VM2A.1, 2);
    assert!(!ok, "network 1 reached network 2's VM:\n{out}");
}

/// Two ferrovs hosts in Open vSwitch's userspace-tunnel layout (eth1 in br-phy, the tunnel
/// address on br-phy's internal port, no address on eth1) with the seed's bridges over a
/// native `kind` tunnel, and VMs 1a and 1b; VM 1a has pinged VM 1b (the first packets find
/// no neighbour: ferrovs drops them and asks by ARP).
struct NativePair {
    a: String,
    b: String,
    vm1a: String,
    vm1b: String,
    fa: Fvs,
    fb: Fvs,
}

fn native_pair(lab: &mut Lab, kind: &str, tag: &str) -> NativePair {
    let (a, b) = lab.hosts(tag);
    let vm1a = lab.vm(&format!("{tag}1a"), &a, "tap1", VM1A.0, VM1A.1);
    let vm1b = lab.vm(&format!("{tag}1b"), &b, "tap1", VM1B.0, VM1B.1);
    let fa = lab.fvs(&a, &format!("{tag}a"));
    let fb = lab.fvs(&b, &format!("{tag}b"));
    fa.br_phy(&a, IP_A, BR_PHY_MAC_A);
    fb.br_phy(&b, IP_B, BR_PHY_MAC_B);
    fa.build_seed(kind, IP_A, IP_B);
    fb.build_seed(kind, IP_B, IP_A);
    let (ok, out) = ping(&vm1a, VM1B.1, 5);
    assert!(ok, "VM 1a cannot ping VM 1b across native {kind}:\n{out}");
    NativePair {
        a,
        b,
        vm1a,
        vm1b,
        fa,
        fb,
    }
}

/// Open vSwitch's userspace-tunnel layout with ferrovs on both hosts: eth1 in br-phy, the
/// tunnel address on br-phy's internal port, no address on eth1. The tunnels are native:
/// the VMs ping across a `kind` tunnel with key 1, the neighbours are learned from ARP
/// (`tnl/arp/show`), and the receiving host's IP layer never sees the tunnel packets (its
/// `Ip: InReceives` hardly moves while dozens of them arrive).
fn native_two_hosts(kind: &str, tag: &str) {
    let mut lab = Lab::new();
    let NativePair {
        a,
        b,
        vm1a,
        vm1b,
        fa,
        fb,
    } = native_pair(&mut lab, kind, tag);
    assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);
    assert_neighbour(&fb, IP_A, BR_PHY_MAC_A);

    let capture = Capture::start(&b, "eth1", 4, wire_check(kind), CAPTURE_WITHIN);
    let before = ip_in_receives(&b);
    let received = coverage(&fb, "native_tnl_received");
    let n = 20;
    let (ok, out) = ping(&vm1a, VM1B.1, n);
    assert!(ok, "second ping failed:\n{out}");
    assert_key_1_carrying_ethernet(kind, &capture.finish());
    let taken = coverage(&fb, "native_tnl_received") - received;
    assert!(
        taken >= u64::from(n),
        "host B took {taken} tunnel packets from br-phy"
    );
    let seen = ip_in_receives(&b) - before;
    assert!(
        seen < u64::from(n) / 4,
        "host B's IP layer received {seen} packets while {taken} tunnel packets arrived:\n{}",
        fb.appctl(&["coverage/show"])
    );
    assert!(
        coverage(&fa, "native_tnl_neigh_miss") >= 1,
        "the first packet found no neighbour"
    );
    let (rule, _) = fa.learned(VM1B.0);
    assert!(rule.contains("load:0x1->NXM_NX_TUN_ID[]"), "{rule}");
    let (ok, _) = ping(&vm1b, VM1A.1, 2);
    assert!(ok, "VM 1b cannot ping back");
    // A flushed neighbour is asked for again, and the tunnel carries on.
    let misses = coverage(&fa, "native_tnl_neigh_miss");
    assert_eq!(fa.appctl(&["tnl/arp/flush"]), "OK\n");
    let (ok, out) = ping(&vm1a, VM1B.1, 5);
    assert!(ok, "no ping after tnl/arp/flush:\n{out}");
    assert!(coverage(&fa, "native_tnl_neigh_miss") > misses);
    assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);

    // A more specific route through another device takes the tunnel off br-phy (to the
    // host's stack, where this route leads nowhere); removing it brings it back.
    veth(&a, "alt0", &a, "alt1");
    let host_route = format!("{IP_B}/32");
    ip(&["-n", &a, "route", "add", &host_route, "dev", "alt0"]);
    sleep(ROUTE_FOLLOWED);
    let sent = coverage(&fa, "native_tnl_sent");
    let _ = ping(&vm1a, VM1B.1, 3);
    assert_eq!(
        coverage(&fa, "native_tnl_sent"),
        sent,
        "the tunnel stayed native though the route left br-phy"
    );
    ip(&["-n", &a, "route", "del", &host_route]);
    sleep(ROUTE_FOLLOWED);
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(
        ok,
        "no ping once the route leads through br-phy again:\n{out}"
    );
    assert!(coverage(&fa, "native_tnl_sent") > sent);
}

/// How long ferrovs may take to follow a route change (it looks every second).
const ROUTE_FOLLOWED: Duration = Duration::from_millis(2500);

#[test]
fn native_gre_between_two_fvs_hosts() {
    native_two_hosts("gre", "ng");
}

#[test]
fn native_vxlan_between_two_fvs_hosts() {
    native_two_hosts("vxlan", "nv");
}

#[test]
fn gre_between_two_fvs_hosts() {
    two_hosts("gre", "g");
}

#[test]
fn vxlan_between_two_fvs_hosts() {
    two_hosts("vxlan", "v");
}

#[test]
fn geneve_between_two_fvs_hosts() {
    two_hosts("geneve", "n");
}

/// Host A runs fvs-vswitchd with VM 1a; the caller has built the far end, host B, with VM 1b
/// on network 1 behind it. VM 1a pings VM 1b; the capture on A's underlay and A's learned
/// rule are checked as in [`two_hosts`]. Host A's switch and VM 1a's namespace are
/// returned, to run on while the caller looks at the far end.
fn fvs_against(kind: &str, tag: &str, lab: &mut Lab, a: &str, native: bool) -> (Fvs, String) {
    let vm1a = lab.vm(&format!("{tag}1a"), a, "tap1", VM1A.0, VM1A.1);
    lab.vm(&format!("{tag}2a"), a, "tap2", VM2A.0, VM2A.1);
    let fa = lab.fvs(a, &format!("{tag}a"));
    if native {
        fa.br_phy(a, IP_A, BR_PHY_MAC_A);
    }
    fa.build_seed(kind, IP_A, IP_B);
    let capture = Capture::start(a, "eth1", 4, wire_check(kind), CAPTURE_WITHIN);
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(ok, "VM 1a cannot ping VM 1b behind the far end:\n{out}");
    assert_key_1_carrying_ethernet(kind, &capture.finish());
    let (rule, before) = fa.learned(VM1B.0);
    assert!(rule.contains("hard_timeout=300"), "{rule}");
    assert!(rule.contains("load:0x1->NXM_NX_TUN_ID[]"), "{rule}");
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(ok, "second ping failed:\n{out}");
    let (_, after) = fa.learned(VM1B.0);
    assert!(
        after >= before + 3,
        "learned rule counted {before} then {after}"
    );
    (fa, vm1a)
}

#[test]
fn vxlan_interoperates_with_a_linux_vxlan_device() {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("x");
    // Host B: Linux's VXLAN (VNI 1 = network 1's tun_id) bridged with VM 1b's port.
    exec(
        &b,
        &[
            "ip", "link", "add", "vx0", "type", "vxlan", "id", "1", "remote", IP_A, "local", IP_B,
            "dstport", "4789", "dev", "eth1",
        ],
    );
    exec(&b, &["ip", "link", "add", "br0", "type", "bridge"]);
    lab.vm("x1b", &b, "tap1", VM1B.0, VM1B.1);
    for port in ["vx0", "tap1"] {
        exec(&b, &["ip", "link", "set", port, "master", "br0"]);
        exec(&b, &["ip", "link", "set", port, "up"]);
    }
    exec(&b, &["ip", "link", "set", "br0", "up"]);
    let _on = fvs_against("vxlan", "x", &mut lab, &a, false);
}

/// Host B runs Open vSwitch 3.1's userspace datapath with the seed's bridges over a `kind`
/// tunnel; host A runs ferrovs.
fn open_vswitch_far_end(kind: &str, tag: &str, native_a: bool) {
    let mut lab = Lab::new();
    let port = neutron_port_name(kind, IP_A);
    let (a, b) = lab.hosts(tag);
    // Open vSwitch's userspace datapath reads host B's eth1 with a packet socket and takes
    // what it finds as final, so (as its documentation asks of a veth) host A's end has no
    // transmit checksum offload: the kernel then checksums and cuts ferrovs's UDP_SEGMENT
    // runs before the veth instead of handing them over whole with checksums unfinished.
    let _ = require_tool("ethtool");
    exec(&a, &["ethtool", "-K", "eth1", "tx", "off"]);
    // Host B: Open vSwitch's userspace datapath. Its tunnels leave through br-phy, which
    // holds the underlay NIC and the host's tunnel address; the neighbour is pinned.
    let vm1b = lab.vm(&format!("{tag}1b"), &b, "tap1", VM1B.0, VM1B.1);
    let ovs = PrivateOvs::start_in_netns(&b);
    let vsctl = |args: &[&str]| {
        ovs.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"))
    };
    let ofctl = |args: &[&str]| {
        ovs.ofctl(args)
            .unwrap_or_else(|e| panic!("ovs-ofctl {args:?}: {e}"))
    };
    br_phy(&b, IP_B, BR_PHY_MAC_B, &["datapath_type=netdev"], &|a| {
        vsctl(a);
    });
    let br_int = AddBridge::new("br-int")
        .set(&["datapath_type=netdev", "fail_mode=secure"])
        .port("patch-tun", &["type=patch", "options:peer=patch-int"])
        .port_with("tap1", &["tag=1"], &[]);
    vsctl(&br_int.args());
    let kind_arg = format!("type={kind}");
    let br_tun = AddBridge::new("br-tun")
        .set(&["datapath_type=netdev", "fail_mode=secure"])
        .port(
            "patch-int",
            &["type=patch", "options:peer=patch-tun", "ofport_request=1"],
        )
        .port(
            &port,
            &[
                &kind_arg,
                "ofport_request=2",
                "options:df_default=true",
                "options:in_key=flow",
                "options:local_ip=10.0.1.21",
                "options:out_key=flow",
                "options:remote_ip=10.0.1.31",
            ],
        );
    vsctl(&br_tun.args());
    let mgmt = |br: &str| format!("unix:{}", ovs.dir().join(format!("{br}.mgmt")).display());
    ofctl(&["add-flow", &mgmt("br-int"), "priority=1,actions=NORMAL"]);
    ofctl(&["add-flows", &mgmt("br-tun"), SEED_BR_TUN_FLOWS_PATH]);
    // Host A's outer frames come from eth1, or from its own br-phy when native.
    let a_mac = if native_a {
        BR_PHY_MAC_A.to_owned()
    } else {
        exec(&a, &["cat", "/sys/class/net/eth1/address"])
    };
    ovs.appctl(&["tnl/arp/set", "br-phy", IP_A, a_mac.trim()])
        .unwrap_or_else(|e| panic!("ovs-appctl tnl/arp/set: {e}"));
    let (fa, vm1a) = fvs_against(kind, tag, &mut lab, &a, native_a);
    if native_a {
        // Open vSwitch answered ferrovs's ARP request for its address: ferrovs learned it.
        assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);
        assert!(
            coverage(&fa, "native_tnl_sent") >= 3,
            "{}",
            fa.appctl(&["coverage/show"])
        );
        assert!(coverage(&fa, "native_tnl_received") >= 3);
    }
    // Open vSwitch learned VM 1a behind the tunnel from ferrovs's packets, key 1 included.
    let learned = ofctl(&["dump-flows", &mgmt("br-tun"), "table=20"]);
    assert!(
        learned
            .lines()
            .any(|l| l.contains(&format!("dl_dst={}", VM1A.0))
                && l.contains("load:0x1->NXM_NX_TUN_ID[]")
                && l.contains("hard_timeout=300")),
        "Open vSwitch's br-tun did not learn VM 1a:\n{learned}"
    );
    if native_a && kind != "gre" {
        // A TCP stream from a VM keeping TSO: ferrovs sends runs of outer packets into
        // eth1, which (with `tx off`) the kernel cuts and checksums before the veth, so
        // Open vSwitch's packet socket gets ordinary packets and the data arrives intact.
        // VM 1b's own packets (the acknowledgements) must be finished before Open vSwitch
        // 3.1 reads them, which cannot complete a partial checksum: its end has `tx off`.
        exec(&vm1b, &["ethtool", "-K", "eth0", "tx", "off"]);
        tcp_transfer(&mut lab, &vm1a, &vm1b, kind);
        assert!(
            coverage(&fa, "native_tnl_gso_frames") > 0,
            "host A sent no runs:\n{}",
            fa.appctl(&["coverage/show"])
        );
    }
}

#[test]
fn gre_interoperates_with_open_vswitch() {
    open_vswitch_far_end("gre", "o", false);
}

/// Both ends native: ferrovs's br-phy on host A, Open vSwitch's on host B.
#[test]
fn native_gre_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end("gre", "nm", true);
}

/// Both ends native over VXLAN: ferrovs's runs of outer packets reach Open vSwitch's
/// packet socket already cut and checksummed, as host A's eth1 has `tx off`.
#[test]
fn native_vxlan_interoperates_with_open_vswitch_native() {
    open_vswitch_far_end("vxlan", "nx", true);
}

#[test]
fn vxlan_interoperates_with_open_vswitch() {
    open_vswitch_far_end("vxlan", "p", false);
}

#[test]
fn geneve_interoperates_with_open_vswitch() {
    open_vswitch_far_end("geneve", "q", false);
}

/// Sends raw GRE payloads (GRE header and what follows) from `ns` to `dst` through the
/// kernel's own IPv4 stack (which fragments what exceeds the MTU), with Python's raw socket.
fn send_raw_gre(ns: &str, dst: &str, payloads: &[Vec<u8>]) {
    let hex: Vec<String> = payloads
        .iter()
        .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)\n\
         for h in {hex:?}:\n    s.sendto(bytes.fromhex(h), ('{dst}', 0))\n"
    );
    exec(ns, &["python3", "-c", &script]);
}

/// The `total` of one counter in `coverage/show` (0 when it never hit).
fn coverage(f: &Fvs, name: &str) -> u64 {
    tunnel_offload::coverage(&f.inner, name)
}

/// Malformed GRE from the network reaches host A's underlay: every packet is dropped and
/// counted (`netdev_rx_error` in `coverage/show`), the daemon lives on and the VMs' traffic
/// behind the garbage still crosses the tunnel.
#[test]
fn malformed_tunnel_packets_are_dropped_and_counted() {
    let mut lab = Lab::new();
    let SeedPair {
        b,
        vm1a,
        fa,
        fb: _fb,
        ..
    } = seed_pair(&mut lab, "gre", "m", IP_A);
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(ok, "the tunnel works before the garbage:\n{out}");
    let errors_before = coverage(&fa, "netdev_rx_error");

    // A broadcast ARP frame as the inner frame of the good-looking parts.
    let mut inner = vec![0xff; 6];
    inner.extend_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0b, 0x08, 0x06]);
    inner.extend_from_slice(&[0; 28]);
    let gre = |flags: [u8; 2], proto: [u8; 2], body: &[u8]| {
        let mut p = flags.to_vec();
        p.extend_from_slice(&proto);
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(body);
        p
    };
    let garbage = vec![
        gre([0x20, 0x01], [0x65, 0x58], &inner), // GRE version 1 (PPTP)
        gre([0x60, 0x00], [0x65, 0x58], &inner), // routing present
        gre([0x20, 0x00], [0x08, 0x00], &inner), // IPv4, not Ethernet, inside
        gre([0xa0, 0x00], [0x65, 0x58], &inner), // a checksum that does not verify
        vec![0x20, 0x00],                        // truncated GRE header
        vec![],                                  // nothing at all
        gre([0x20, 0x00], [0x65, 0x58], &[1, 2, 3]), // a 3-byte "frame"
        // A 20 kB datagram (fragmented on the wire, reassembled by host A's kernel) whose
        // header is bogus: jumbo packets get the same checks.
        gre([0x20, 0x01], [0x65, 0x58], &vec![0x5a; 20_000]),
    ];
    let n = garbage.len() as u64;
    send_raw_gre(&b, IP_A, &garbage);
    // The counters are read from the datapath thread: wait for them to show all of it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while coverage(&fa, "netdev_rx_error") < errors_before + n && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let errors = coverage(&fa, "netdev_rx_error") - errors_before;
    assert_eq!(errors, n, "every malformed packet counted once");
    let (ok, out) = ping(&vm1a, VM1B.1, 3);
    assert!(ok, "traffic still crosses after the garbage:\n{out}");
    let (rule, _) = fa.learned(VM1B.0);
    assert!(rule.contains("hard_timeout=300"), "{rule}");
}

/// A tunnel port without `local_ip`: the kernel gives the outer packets the route's source
/// address, and the port receives on any local address.
#[test]
fn a_tunnel_without_local_ip_uses_the_route_s_source() {
    let mut lab = Lab::new();
    let SeedPair {
        b,
        vm1a,
        fa,
        fb: _fb,
        ..
    } = seed_pair(&mut lab, "gre", "l", "");
    let capture = Capture::start(&b, "eth1", 2, "ip proto 47", CAPTURE_WITHIN);
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(ok, "VM 1a cannot ping VM 1b:\n{out}");
    let wire = capture.finish();
    assert!(
        wire.contains("10.0.1.31 > 10.0.1.21: GREv0"),
        "host A's packets leave from its route's source address:\n{wire}"
    );
    let (rule, _) = fa.learned(VM1B.0);
    assert!(rule.contains("output:2"), "{rule}");
}

/// 8 MB of TCP from VM 1a to VM 1b across a `kind` tunnel arrive intact (byte count and
/// SHA-256), while the receiving host coalesces the decapsulated segments into super-frames
/// for the VM's port (`tunnel_gro_coalesced`). Returns the two switches for further checks.
fn tcp_across(kind: &str, tag: &str, lab: &mut Lab) -> (Fvs, Fvs) {
    let _ = require_tool("python3");
    let SeedPair {
        vm1a, vm1b, fa, fb, ..
    } = seed_pair(lab, kind, tag, IP_A);
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(ok, "VM 1a cannot ping VM 1b:\n{out}");
    tcp_transfer(lab, &vm1a, &vm1b, kind);
    let merged = coverage(&fb, "tunnel_gro_coalesced");
    assert!(
        merged > 0,
        "host B coalesced no segments:\n{}",
        fb.appctl(&["coverage/show"])
    );
    (fa, fb)
}

/// 8 MB of TCP from `vm1a` to `vm1b` (VM 1b's address) arrive intact: byte count and
/// SHA-256 agree on both ends.
fn tcp_transfer(lab: &mut Lab, vm1a: &str, vm1b: &str, kind: &str) {
    common::tcp_transfer(&mut lab.net, (vm1a, vm1b, VM1B.1), 8 << 20, kind);
}

#[test]
fn tcp_across_gre_arrives_intact_through_receive_coalescing() {
    let mut lab = Lab::new();
    tcp_across("gre", "t", &mut lab);
}

/// Over VXLAN and Geneve the stream's outer packets also leave host A in `UDP_SEGMENT`
/// sends and reach host B's underlay in coalesced buffers (`tunnel_udp_gso_sends`,
/// `tunnel_udp_gro_segments`), and most of them went that way.
fn tcp_across_udp_offloads(kind: &str, tag: &str) {
    let mut lab = Lab::new();
    let (fa, fb) = tcp_across(kind, tag, &mut lab);
    let sends = coverage(&fa, "tunnel_udp_gso_sends");
    let segments = coverage(&fa, "tunnel_udp_gso_segments");
    assert!(
        sends > 0 && segments >= 2 * sends,
        "host A sent no UDP_SEGMENT runs:\n{}",
        fa.appctl(&["coverage/show"])
    );
    // 8 MB in segments of at most 1450 bytes: at least 5,800 outer packets.
    assert!(
        segments > 2_900,
        "only {segments} outer packets went in runs:\n{}",
        fa.appctl(&["coverage/show"])
    );
    let split = coverage(&fb, "tunnel_udp_gro_segments");
    assert!(
        split > 0 && coverage(&fb, "tunnel_udp_gro_buffers") > 0,
        "host B received no coalesced buffers:\n{}",
        fb.appctl(&["coverage/show"])
    );
    assert_eq!(coverage(&fb, "netdev_rx_error"), 0);
}

/// 8 MB of TCP across a native `kind` tunnel (both hosts in Open vSwitch's br-phy layout)
/// arrive intact. The VMs keep TSO (a veth's default), so host A cuts super-frames before
/// encapsulating and sends the outer packets into br-phy as `GSO_UDP_L4` runs, which leave
/// eth1 whole (`native_tnl_gso_frames`); the veth carries them unsegmented to host B,
/// whose native endpoint splits them (`native_tnl_rx_gso_frames`) before its host sees
/// anything.
fn native_tcp_in_runs(kind: &str, tag: &str) {
    let _ = require_tool("python3");
    let mut lab = Lab::new();
    let NativePair {
        a: _a,
        b,
        vm1a,
        vm1b,
        fa,
        fb,
    } = native_pair(&mut lab, kind, tag);
    let host_b_before = ip_in_receives(&b);
    tcp_transfer(&mut lab, &vm1a, &vm1b, kind);
    let show = |f: &Fvs| f.appctl(&["coverage/show"]);
    let frames = coverage(&fa, "native_tnl_gso_frames");
    let segments = coverage(&fa, "native_tnl_gso_segments");
    assert!(
        frames > 0 && segments >= 2 * frames,
        "host A sent no runs:\n{}",
        show(&fa)
    );
    // 8 MB in inner segments of at most 1400 bytes: at least 6,000 outer packets.
    assert!(
        segments > 3_000,
        "only {segments} outer packets went in runs:\n{}",
        show(&fa)
    );
    let split = coverage(&fb, "native_tnl_rx_gso_segments");
    assert!(
        coverage(&fb, "native_tnl_rx_gso_frames") > 0 && split > 3_000,
        "host B split {split} tunnel packets out of runs:\n{}",
        show(&fb)
    );
    assert_eq!(coverage(&fb, "native_tnl_rx_error"), 0, "{}", show(&fb));
    // The inner TCP segments split out of the runs are coalesced again for VM 1b's port.
    assert!(
        coverage(&fb, "tunnel_gro_coalesced") > 0,
        "host B coalesced no segments:\n{}",
        show(&fb)
    );
    let seen = ip_in_receives(&b) - host_b_before;
    assert!(
        seen < 1_000,
        "host B's IP layer received {seen} packets during the transfer"
    );
}

#[test]
fn native_vxlan_tcp_goes_in_udp_segmentation_runs() {
    native_tcp_in_runs("vxlan", "nr");
}

#[test]
fn native_geneve_tcp_goes_in_udp_segmentation_runs() {
    native_tcp_in_runs("geneve", "ns");
}

/// `python3 -c SEND_RUN DEV OUTER_DST_MAC OUTER_SRC_MAC OUTER_SRC OUTER_DST INNER_DST_MAC
/// INNER_SRC_MAC INNER_SRC INNER_DST`: sends on DEV, through a packet socket with virtio-net
/// headers, one VXLAN (VNI 1) frame asking for UDP segmentation (`GSO_UDP_L4`, 200-byte
/// datagrams, the checksum left partial as Linux leaves it): four good datagrams, each an
/// inner UDP packet to port 7777 saying `run0000N`, a datagram whose VXLAN header lacks the
/// I flag between the second and third, and a 4-byte datagram at the end.
const SEND_RUN: &str = r#"
import socket, struct, sys
dev, odst, osrc, oip_src, oip_dst, idst, isrc, iip_src, iip_dst = sys.argv[1:10]
SIZE = 200
def fold(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return s
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip4 = socket.inet_aton
def ipv4(src, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, 17, 0,
                    ip4(src), ip4(dst))
    return h[:10] + struct.pack("!H", 0xffff ^ fold(h)) + h[12:] + payload
def datagram(tag, flags=0x08):
    body = b"run%05d" % tag
    udp = struct.pack("!HHHH", 7777, 7777, 8 + len(body), 0) + body
    inner = mac(idst) + mac(isrc) + b"\x08\x00" + ipv4(iip_src, iip_dst, udp)
    d = bytes([flags, 0, 0, 0, 0, 0, 1, 0]) + inner
    return d + b"\0" * (SIZE - len(d))
payload = b"".join([datagram(0), datagram(1), datagram(8, flags=0), datagram(2),
                    datagram(3), b"\x08\0\0\0"])
udp_len = 8 + len(payload)
pseudo = fold(ip4(oip_src) + ip4(oip_dst) + struct.pack("!BBH", 0, 17, udp_len))
udp = struct.pack("!HHHH", 40000, 4789, udp_len, pseudo) + payload
frame = mac(odst) + mac(osrc) + b"\x08\x00" + ipv4(oip_src, oip_dst, udp)
# struct virtio_net_hdr: NEEDS_CSUM, GSO_UDP_L4, hdr_len, gso_size, csum_start, csum_offset.
vnet = struct.pack("=BBHHHH", 1, 5, 42, SIZE, 34, 6)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.bind((dev, 0))
s.send(vnet + frame)
"#;

/// `python3 -c RECEIVE_TAGS ADDR`: prints, sorted, the payloads of the UDP datagrams that
/// reach `ADDR:7777` until none has come for two seconds (ten at most to wait for the first).
const RECEIVE_TAGS: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7777))
s.settimeout(10)
got = []
try:
    while True:
        got.append(s.recv(100).decode())
        s.settimeout(2)
except socket.timeout:
    pass
print(" ".join(sorted(got)))
"#;

/// A run of VXLAN datagrams with a bad and a short one inside reaches a native endpoint
/// (host B's br-phy) as one offloaded frame: the endpoint splits it, the four good datagrams
/// reach VM 1b, the bad and the short one are dropped and counted (`native_tnl_rx_error`).
#[test]
fn malformed_datagrams_inside_a_native_run_are_dropped_and_counted() {
    let _ = require_tool("python3");
    let mut lab = Lab::new();
    let NativePair {
        a,
        b: _b,
        vm1a,
        vm1b,
        fa: _fa,
        fb,
    } = native_pair(&mut lab, "vxlan", "nm2");
    let before = |name: &str| coverage(&fb, name);
    let (errors, frames, segments) = (
        before("native_tnl_rx_error"),
        before("native_tnl_rx_gso_frames"),
        before("native_tnl_rx_gso_segments"),
    );
    let receiver = lab.net.spawn({
        let mut c = netns::in_netns(&vm1b, "python3");
        c.args(["-c", RECEIVE_TAGS, VM1B.1]);
        c
    });
    sleep(Duration::from_millis(500));
    // Host A's eth1 stands for the wire: the frame leaves it as the switch's runs do.
    exec(
        &a,
        &[
            "python3",
            "-c",
            SEND_RUN,
            "eth1",
            BR_PHY_MAC_B,
            BR_PHY_MAC_A,
            IP_A,
            IP_B,
            VM1B.0,
            VM1A.0,
            VM1A.1,
            VM1B.1,
        ],
    );
    let (ok, tags) = lab.net.wait(receiver, Duration::from_secs(20));
    assert!(ok, "the receiver failed: {tags}");
    let show = || fb.appctl(&["coverage/show"]);
    assert_eq!(
        tags.trim(),
        "run00000 run00001 run00002 run00003",
        "the good datagrams reach VM 1b:\n{}",
        show()
    );
    assert_eq!(
        coverage(&fb, "native_tnl_rx_error") - errors,
        2,
        "{}",
        show()
    );
    assert_eq!(
        coverage(&fb, "native_tnl_rx_gso_frames") - frames,
        1,
        "{}",
        show()
    );
    assert_eq!(
        coverage(&fb, "native_tnl_rx_gso_segments") - segments,
        4,
        "{}",
        show()
    );
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(ok, "traffic still crosses:\n{out}");
}

/// Datagrams host B's kernel coalesced (GRO on its eth1, for the UDP socket ferrovs's
/// host-path underlay holds on the VXLAN port) reach the native endpoint as one frame with a
/// `GSO_UDP_L4` header and are split there as runs are. Host A's eth1 has `tx off`, so its
/// runs are cut into single packets before the veth and all coalescing is the kernel's.
#[test]
fn kernel_coalesced_datagrams_are_split_at_a_native_endpoint() {
    let _ = require_tool("python3");
    let _ = require_tool("ethtool");
    let mut lab = Lab::new();
    let NativePair {
        a,
        b,
        vm1a,
        vm1b,
        fa: _fa,
        fb,
    } = native_pair(&mut lab, "vxlan", "ng2");
    exec(&a, &["ethtool", "-K", "eth1", "tx", "off"]);
    exec(&b, &["ethtool", "-K", "eth1", "gro", "on"]);
    tcp_transfer(&mut lab, &vm1a, &vm1b, "vxlan");
    let show = fb.appctl(&["coverage/show"]);
    assert!(
        coverage(&fb, "native_tnl_rx_gso_frames") > 0,
        "no coalesced frames reached host B's endpoint:\n{show}"
    );
    assert_eq!(coverage(&fb, "native_tnl_rx_error"), 0, "{show}");
}

#[test]
fn tcp_across_vxlan_goes_in_udp_segmentation_runs() {
    tcp_across_udp_offloads("vxlan", "u");
}

#[test]
fn tcp_across_geneve_goes_in_udp_segmentation_runs() {
    tcp_across_udp_offloads("geneve", "w");
}

/// The Internet checksum of `data` (RFC 1071), for the frames the next test builds.
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// GRE with a checksum and key 1 around an Ethernet frame from VM 1b to VM 1a carrying an
/// ICMP echo request with IPv4 TOS `tos` and sequence number `seq`.
fn gre_echo_to_vm1a(tos: u8, seq: u16) -> Vec<u8> {
    let mac = |m: &str| -> Vec<u8> {
        m.split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("a MAC"))
            .collect()
    };
    let ip = |a: &str| -> [u8; 4] { a.parse::<std::net::Ipv4Addr>().expect("IPv4").octets() };
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(&[0x5a; 32]);
    let c = inet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ipv4 = vec![0x45, tos];
    ipv4.extend_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ipv4.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    ipv4.extend_from_slice(&ip(VM1B.1));
    ipv4.extend_from_slice(&ip(VM1A.1));
    let c = inet_checksum(&ipv4);
    ipv4[10..12].copy_from_slice(&c.to_be_bytes());
    let mut frame = mac(VM1A.0);
    frame.extend_from_slice(&mac(VM1B.0));
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ipv4);
    frame.extend_from_slice(&icmp);
    // C and K flags, Ethernet inside, checksum (filled below) and reserved, key 1.
    let mut gre = vec![0xa0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 1];
    gre.extend_from_slice(&frame);
    let c = inet_checksum(&gre);
    gre[4..6].copy_from_slice(&c.to_be_bytes());
    gre
}

/// Decapsulation follows RFC 6040 as Open vSwitch does: an outer Congestion Experienced
/// mark reaches an ECN-capable inner packet (ECT(0) becomes CE), and a packet that is not
/// ECN-capable is dropped and counted (`datapath_drop_tunnel_ecn`). Both arrive as GRE with
/// a checksum, which host A verifies.
#[test]
fn an_outer_congestion_mark_reaches_the_vm_or_drops_a_not_ect_packet() {
    let _ = require_tool("python3");
    let mut lab = Lab::new();
    let SeedPair {
        b,
        vm1a,
        fa,
        fb: _fb,
        ..
    } = seed_pair(&mut lab, "gre", "e", IP_A);
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(ok, "VM 1a cannot ping VM 1b:\n{out}");
    let capture = Capture::start(
        &vm1a,
        "eth0",
        1,
        &format!("icmp[icmptype] == 8 and src host {}", VM1B.1),
        CAPTURE_WITHIN,
    );
    let hex = |p: Vec<u8>| -> String { p.iter().map(|b| format!("{b:02x}")).collect() };
    // Outer TOS 0x03 (CE) on both: ECT(0) inside, then not-ECT inside.
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)\n\
         s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 3)\n\
         for h in ['{}', '{}']:\n    s.sendto(bytes.fromhex(h), ('{IP_A}', 0))\n",
        hex(gre_echo_to_vm1a(0x02, 1)),
        hex(gre_echo_to_vm1a(0x00, 2)),
    );
    exec(&b, &["python3", "-c", &script]);
    let seen = capture.finish();
    assert!(
        seen.contains("tos 0x3") && seen.contains("seq 1"),
        "the ECT(0) packet must reach VM 1a marked CE:\n{seen}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while coverage(&fa, "datapath_drop_tunnel_ecn") < 1 && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    assert_eq!(
        coverage(&fa, "datapath_drop_tunnel_ecn"),
        1,
        "the not-ECT packet under a CE mark must be dropped and counted"
    );
}

/// `remote_ip=flow` and `key=flow` on host A: its flow names the far end and key
/// (`set_field:...->tun_dst`, `->tun_id`) and matches the sender on receive (`tun_src`);
/// host B has an ordinary GRE port with key 5. The VMs ping each other both ways, and a flow
/// on A that matches another `tun_src` sees nothing.
#[test]
fn a_remote_ip_flow_port_sends_where_the_flow_says_and_receives_from_anyone() {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("f");
    let vm_a = lab.vm("fva", &a, "tap1", VM1A.0, VM1A.1);
    let vm_b = lab.vm("fvb", &b, "tap1", VM1B.0, VM1B.1);
    let fa = lab.fvs(&a, "fa");
    let fb = lab.fvs(&b, "fb");
    for (f, tunnel) in [
        (
            &fa,
            ["options:remote_ip=flow", "options:key=flow"].as_slice(),
        ),
        (
            &fb,
            ["options:remote_ip=10.0.1.31", "options:key=5"].as_slice(),
        ),
    ] {
        f.vsctl(&["add-br", "br0"]);
        f.vsctl(&[
            "add-port",
            "br0",
            "tap1",
            "--",
            "set",
            "interface",
            "tap1",
            "ofport_request=1",
        ]);
        let mut args = vec![
            "add-port",
            "br0",
            "tun",
            "--",
            "set",
            "interface",
            "tun",
            "type=gre",
            "ofport_request=2",
        ];
        args.extend_from_slice(tunnel);
        f.vsctl(&args);
        let error = f.vsctl(&["get", "interface", "tun", "error"]);
        assert_eq!(error.trim(), "[]");
        f.ofctl(&["del-flows", "br0"]);
    }
    fa.ofctl(&[
        "add-flow",
        "br0",
        "in_port=1,actions=set_field:10.0.1.21->tun_dst,set_field:0x5->tun_id,output:2",
    ]);
    fa.ofctl(&[
        "add-flow",
        "br0",
        "in_port=2,tun_src=10.0.1.21,tun_id=0x5,actions=output:1",
    ]);
    fa.ofctl(&[
        "add-flow",
        "br0",
        "priority=10,in_port=2,tun_src=10.0.1.99,actions=drop",
    ]);
    fb.ofctl(&["add-flow", "br0", "actions=NORMAL"]);
    let (ok, out) = ping(&vm_a, VM1B.1, 3);
    assert!(
        ok,
        "VM a cannot reach VM b through the remote_ip=flow port:\n{out}"
    );
    let (ok, out) = ping(&vm_b, VM1A.1, 3);
    assert!(
        ok,
        "VM b cannot reach VM a through the remote_ip=flow port:\n{out}"
    );
    let flows = fa.ofctl(&["dump-flows", "br0"]);
    let packets = |needle: &str| -> u64 {
        flows
            .lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.split("n_packets=").nth(1))
            .and_then(|n| n.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(packets("tun_src=10.0.1.21") >= 6, "{flows}");
    assert_eq!(packets("tun_src=10.0.1.99"), 0, "{flows}");
}

/// An address of host B's br-phy that host A's kernel has no route to: only a user route
/// (`ovs/route/add`) leads there.
const FAR_B: &str = "10.0.9.21";

/// A `remote_ip=flow` GRE port on host A whose flow sets `tun_dst` to [`FAR_B`], which only
/// a user route through br-phy reaches: without the route nothing crosses (the host's stack
/// has no route either); with it, the datapath routes the flow's destination on its first
/// packet, natively through br-phy, and the VMs ping across (host B's tunnel back to A is a
/// fixed one); deleting the route stops it again.
#[test]
fn flow_chosen_destination_goes_native_by_a_user_route() {
    let mut lab = Lab::new();
    let (a, b) = lab.hosts("fr");
    let vm1a = lab.vm("fr1a", &a, "tap1", VM1A.0, VM1A.1);
    let vm1b = lab.vm("fr1b", &b, "tap1", VM1B.0, VM1B.1);
    let fa = lab.fvs(&a, "fra");
    let fb = lab.fvs(&b, "frb");
    fa.br_phy(&a, IP_A, BR_PHY_MAC_A);
    fb.br_phy(&b, IP_B, BR_PHY_MAC_B);
    ip(&[
        "-n",
        &b,
        "addr",
        "add",
        &format!("{FAR_B}/32"),
        "dev",
        "br-phy",
    ]);
    for (f, remote) in [(&fa, "flow"), (&fb, IP_A)] {
        let remote_ip = format!("options:remote_ip={remote}");
        f.vsctl(
            &AddBridge::new("br-int")
                .set(&["fail_mode=secure"])
                .port("tap1", &["ofport_request=1"])
                .port("gre0", &["type=gre", &remote_ip, "ofport_request=2"])
                .args(),
        );
        f.ofctl(&["add-flow", "br-int", "in_port=2,actions=output:1"]);
    }
    fa.ofctl(&[
        "add-flow",
        "br-int",
        &format!("in_port=1,actions=set_field:{FAR_B}->tun_dst,output:2"),
    ]);
    fb.ofctl(&["add-flow", "br-int", "in_port=1,actions=output:2"]);

    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(!ok, "VM 1a reached VM 1b with no route to {FAR_B}:\n{out}");
    assert_eq!(coverage(&fa, "native_tnl_sent"), 0);
    // VM 1a's failed ARP entry would answer the next pings itself.
    ip(&["-n", &vm1a, "neigh", "flush", "all"]);

    assert_eq!(
        fa.appctl(&["ovs/route/add", "10.0.9.0/24", "br-phy", IP_B]),
        "OK\n"
    );
    assert_eq!(
        fa.appctl(&["ovs/route/lookup", FAR_B]),
        format!("src {IP_A}\ngateway {IP_B}\ndev br-phy\n")
    );
    let capture = Capture::start(
        &b,
        "eth1",
        2,
        &format!("ip proto 47 and dst host {FAR_B}"),
        CAPTURE_WITHIN,
    );
    let (ok, out) = ping(&vm1a, VM1B.1, 5);
    assert!(
        ok,
        "VM 1a cannot ping VM 1b by the user route:\n{out}\n{}",
        fa.appctl(&["coverage/show"])
    );
    let seen = capture.finish();
    assert!(
        seen.contains(FAR_B),
        "no GRE to {FAR_B} on B's eth1:\n{seen}"
    );
    assert!(
        coverage(&fa, "native_tnl_sent") >= 3,
        "{}",
        fa.appctl(&["coverage/show"])
    );
    assert_neighbour(&fa, IP_B, BR_PHY_MAC_B);
    let (ok, out) = ping(&vm1b, VM1A.1, 2);
    assert!(
        ok,
        "VM 1b cannot ping back:
{out}"
    );

    assert_eq!(fa.appctl(&["ovs/route/del", "10.0.9.0/24"]), "OK\n");
    let (ok, out) = ping(&vm1a, VM1B.1, 2);
    assert!(!ok, "VM 1a still reached VM 1b without the route:\n{out}");
}

/// Kernel offload of a native `kind` tunnel ([`assert_tunnel_offloaded`]): the underlay
/// carries `kind` with key 1 and Ethernet inside.
fn native_tunnel_offloaded(kind: &str, tag: &str) {
    let _ = require_tool("python3");
    let _ = require_tool("tc");
    let mut lab = Lab::new();
    let p = native_pair(&mut lab, kind, tag);
    let check_wire = |wire: &str| assert_key_1_carrying_ethernet(kind, wire);
    let case = OffloadCase {
        hosts: (&p.a, &p.b),
        vms: (&p.vm1a, &p.vm1b),
        vm_b: VM1B,
        switches: (&p.fa.inner, &p.fb.inner),
        wire_filter: wire_check(kind),
        check_wire: &check_wire,
        decap_flow: "tunnel(tun_id=0x1",
        learned: &learned_on,
        what: kind,
    };
    assert_tunnel_offloaded(&mut lab.net, &case);
}

#[test]
fn native_gre_is_offloaded_to_the_kernel() {
    native_tunnel_offloaded("gre", "hg");
}

#[test]
fn native_vxlan_is_offloaded_to_the_kernel() {
    native_tunnel_offloaded("vxlan", "hv");
}

#[test]
fn native_geneve_is_offloaded_to_the_kernel() {
    native_tunnel_offloaded("geneve", "hn");
}
