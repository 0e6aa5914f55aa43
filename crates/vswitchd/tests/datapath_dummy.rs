//! Packets through fvs-vswitchd's datapath without root (`--enable-dummy`), side by side with
//! Open vSwitch 3.1's `ovs-vswitchd --enable-dummy=override` given the same commands.
//!
//! The network is the seed's compute node: br-int (secure, NORMAL) with two VM ports on VLAN 1
//! and one on VLAN 2, patched to br-tun with the seed's flows and GRE port. Frames enter with
//! `netdev-dummy/receive` and leave through each VM port's `tx_pcap`. On both switches:
//! a VM's broadcast ARP floods to its own VLAN only and to the tunnel; then a frame from the
//! far host arrives (on ferrovs as a real GRE frame on the tunnel's underlay, decapsulated by
//! the datapath; on Open vSwitch, whose dummy datapath has no tunnel underlay, as
//! `ofproto/trace -generate`), which makes br-tun learn the table-20 rule; then the VM's
//! unicasts to the far host hit that learned rule from the megaflow cache. The VM ports must
//! have sent the same frames, `dpif/show` must list the same ports with the same numbers,
//! and br-tun's rules must have the same counters and the same learned rule.

mod common;

use std::path::Path;

use common::{Fvs, ofctl};
use fvs_test_support::frames::{hex, ipv4_checksum, pcap_frames, pcap_frames_or_empty};
use fvs_test_support::{
    AddBridge, PrivateOvs, SEED_BR_TUN_FLOWS_PATH, SEED_BR_TUN_VSCTL, require_tool,
};

const MAC_A: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x01];
const MAC_B: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x02];
const IP_A: [u8; 4] = [192, 168, 0, 1];
const IP_B: [u8; 4] = [192, 168, 0, 2];

/// An ARP frame: a request (broadcast) or a reply.
fn arp(src: [u8; 6], dst: [u8; 6], op: u16, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&src);
    f.extend_from_slice(&spa);
    f.extend_from_slice(if op == 1 { &[0; 6] } else { &dst });
    f.extend_from_slice(&tpa);
    f
}

/// `inner` in GRE (Ethernet payload, key `key`) from 10.0.1.21 to 10.0.1.31, as the far
/// host's switch would send it.
fn gre(inner: &[u8], key: u32) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xaa, 0x55, 0xaa, 0x55, 0, 0x31]);
    f.extend_from_slice(&[0xaa, 0x55, 0xaa, 0x55, 0, 0x21]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + inner.len()) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 47, 0, 0, 10, 0, 1, 21, 10, 0, 1, 31,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x20, 0x00, 0x65, 0x58]);
    f.extend_from_slice(&key.to_be_bytes());
    f.extend_from_slice(inner);
    f
}

/// The commands that build the network, with `dir` for the pcap files.
fn setup(dir: &Path) -> Vec<Vec<String>> {
    let pcap = |n: &str| {
        format!(
            "options:tx_pcap={}",
            dir.join(format!("{n}.pcap")).display()
        )
    };
    let mut cmds: Vec<Vec<String>> = vec![
        vec![
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "fail_mode=secure",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "add-port",
            "br-int",
            "patch-tun",
            "--",
            "set",
            "interface",
            "patch-tun",
            "type=patch",
            "options:peer=patch-int",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
    ];
    for (vm, tag) in [("vm1", "1"), ("vm2", "1"), ("vm3", "2")] {
        cmds.push(
            [
                "add-port",
                "br-int",
                vm,
                &format!("tag={tag}"),
                "--",
                "set",
                "interface",
                vm,
                &pcap(vm),
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        );
    }
    for c in SEED_BR_TUN_VSCTL {
        cmds.push(c.iter().map(|s| (*s).to_owned()).collect());
    }
    cmds
}

/// `ovs-ofctl dump-flows` lines without the parts that depend on timing.
fn normalized(dump: &str) -> Vec<String> {
    let mut out: Vec<String> = dump
        .lines()
        .filter(|l| l.contains("actions="))
        .map(|l| {
            l.split(", ")
                .filter(|f| {
                    !f.trim_start().starts_with("duration=")
                        && !f.starts_with("idle_age=")
                        && !f.starts_with("hard_age=")
                })
                .collect::<Vec<_>>()
                .join(", ")
                .trim()
                .to_owned()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn seed_network_forwards_counts_and_learns_like_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("dpd");
    let ovs_run = |r: Result<String, fvs_test_support::ToolError>, what: &str| {
        r.unwrap_or_else(|e| panic!("Open vSwitch: {what}: {e}"))
    };

    // The network on both.
    for c in setup(ovs.dir()) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        ovs_run(ovs.vsctl(&args), "ovs-vsctl");
    }
    for c in setup(fvs.dir()) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        fvs.vsctl(&args);
    }
    let normal = "priority=0,actions=NORMAL";
    ovs_run(ovs.ofctl(&["add-flow", "br-int", normal]), "add-flow");
    ovs_run(
        ovs.ofctl(&["add-flows", "br-tun", SEED_BR_TUN_FLOWS_PATH]),
        "add-flows",
    );
    let target = |b: &str| format!("unix:{}", fvs.mgmt(b).display());
    for (b, cmd, arg) in [
        ("br-int", "add-flow", normal),
        ("br-tun", "add-flows", SEED_BR_TUN_FLOWS_PATH),
    ] {
        let (ok, _, err) = ofctl(&[], cmd, &target(b), &[arg]);
        assert!(ok, "ovs-ofctl {cmd} {b} against fvs-vswitchd: {err}");
    }
    let fvs_app = |args: &[&str]| {
        let (ok, out, err) = fvs.appctl(args);
        assert!(ok, "fvs-appctl {args:?}: {err}");
        out
    };

    // Same ports, same numbers.
    let show_ovs = ovs_run(ovs.appctl(&["dpif/show"]), "dpif/show");
    let show_fvs = fvs_app(&["dpif/show"]);
    let tail = |s: &str| s.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(tail(&show_fvs), tail(&show_ovs), "dpif/show");
    // The datapath's own view; ferrovs's tunnel underlay device has no Open vSwitch twin.
    let dp_ovs = ovs_run(ovs.appctl(&["dpctl/show"]), "dpctl/show");
    let dp_fvs = fvs_app(&["dpctl/show"]);
    let ours: Vec<&str> = dp_fvs
        .lines()
        .filter(|l| !l.contains("/underlay"))
        .collect();
    assert_eq!(ours, dp_ovs.lines().collect::<Vec<_>>(), "dpctl/show");

    // 1. VM A broadcasts an ARP request, three times (the second and third hit the
    // megaflow the first one installed).
    let request = arp(MAC_A, [0xff; 6], 1, IP_A, IP_B);
    for _ in 0..3 {
        ovs_run(
            ovs.appctl(&["netdev-dummy/receive", "vm1", &hex(&request)]),
            "receive",
        );
        fvs_app(&["netdev-dummy/receive", "vm1", &hex(&request)]);
    }
    let flows = fvs_app(&["dpif/dump-flows", "br-int"]);
    assert!(
        flows.lines().any(|l| l.contains("packets:2,")),
        "the broadcast's megaflow counts the two cached packets:\n{flows}"
    );
    // The same megaflow as Open vSwitch's: match and counters (the actions differ in form:
    // ferrovs's tunnel vport takes an explicit set(tunnel(...)), and the flood order differs).
    let theirs = ovs_run(
        ovs.appctl(&["dpif/dump-flows", "br-int"]),
        "dpif/dump-flows",
    );
    let head = |s: &str| -> Vec<String> {
        s.lines()
            .filter_map(|l| l.split(", used:").next())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(head(&flows), head(&theirs), "megaflows of br-int");

    // 2. The far host's VM B answers through the tunnel.
    let reply = arp(MAC_B, MAC_A, 2, IP_B, IP_A);
    ovs_run(
        ovs.appctl(&[
            "ofproto/trace",
            "br-tun",
            "in_port=2,tun_id=0x1,tun_src=10.0.1.21,tun_dst=10.0.1.31,arp,arp_op=2,\
             dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:01",
            "-generate",
        ]),
        "ofproto/trace -generate",
    );
    fvs_app(&[
        "netdev-dummy/receive",
        "gre_sys/underlay",
        &hex(&gre(&reply, 1)),
    ]);
    assert_eq!(
        pcap_frames(&fvs.dir().join("vm1.pcap")),
        vec![reply.clone()],
        "the decapsulated reply reaches VM A untagged, and only VM A"
    );

    // 3. VM A sends to B three times: br-int knows B behind the patch port, br-tun's
    // learned rule sends it into the tunnel.
    let unicast = arp(MAC_A, MAC_B, 1, IP_A, IP_B);
    for _ in 0..3 {
        ovs_run(
            ovs.appctl(&["netdev-dummy/receive", "vm1", &hex(&unicast)]),
            "receive",
        );
        fvs_app(&["netdev-dummy/receive", "vm1", &hex(&unicast)]);
    }
    ovs_run(ovs.appctl(&["revalidator/wait"]), "revalidator/wait");
    fvs_app(&["revalidator/wait"]);

    // What the VM ports sent.
    for vm in ["vm2", "vm3"] {
        assert_eq!(
            pcap_frames(&fvs.dir().join(format!("{vm}.pcap"))),
            pcap_frames(&ovs.dir().join(format!("{vm}.pcap"))),
            "{vm} sent different frames"
        );
    }
    assert_eq!(
        pcap_frames(&fvs.dir().join("vm2.pcap")),
        vec![request.clone(); 3],
        "VLAN 1's other VM gets the broadcasts"
    );
    assert!(
        pcap_frames(&fvs.dir().join("vm3.pcap")).is_empty(),
        "VLAN 2 hears nothing"
    );

    // br-tun's counters and learned rule. The ingress path (table 0 in_port=2, tables 3 and
    // 10) is left out: Open vSwitch's trace does not count.
    let ours = ofctl(&[], "dump-flows", &target("br-tun"), &[]).1;
    let theirs = ovs_run(ovs.ofctl(&["dump-flows", "br-tun"]), "dump-flows");
    let keep = |l: &String| {
        !(l.contains("in_port=2") || l.contains("table=3,") || l.contains("table=10,"))
    };
    let ours_n: Vec<String> = normalized(&ours).into_iter().filter(keep).collect();
    let theirs_n: Vec<String> = normalized(&theirs).into_iter().filter(keep).collect();
    assert_eq!(ours_n, theirs_n, "br-tun's rules:\n{ours}\nvs\n{theirs}");
    let learned = ours_n
        .iter()
        .find(|l| l.contains("table=20") && l.contains("hard_timeout=300"))
        .unwrap_or_else(|| panic!("no learned rule in table 20:\n{ours}"));
    assert!(
        learned.contains("n_packets=3,")
            && learned.contains("dl_dst=fa:16:3e:00:00:02")
            && learned.contains("load:0x1->NXM_NX_TUN_ID[]"),
        "{learned}"
    );
    // On ferrovs the ingress path counted the one GRE frame.
    let ingress = normalized(&ours)
        .into_iter()
        .find(|l| l.contains("table=10,"))
        .unwrap_or_default();
    assert!(ingress.contains("n_packets=1,"), "{ingress}");

    // The unicast's encapsulated copies left through the tunnel's underlay: GRE, key 1.
    let (ok, out, err) = fvs.appctl(&["dpctl/dump-flows"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("set(tunnel(tun_id=0x1,src=10.0.1.31,dst=10.0.1.21"),
        "{out}"
    );
    let (ok, out, _) = fvs.appctl(&["coverage/show"]);
    assert!(ok && out.contains("upcall_handled"), "{out}");
}

#[test]
fn bad_packets_and_ports_are_refused_with_open_vswitch_words() {
    let fvs = Fvs::start("dpe");
    fvs.vsctl(&["add-br", "br0", "--", "add-port", "br0", "p1"]);
    let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "nosuch", "ffffffffffff"]);
    assert!(!ok && err.contains("no such dummy netdev"), "{err}");
    let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", "eth(src=1)"]);
    assert!(!ok && err.contains("eth(src=1)"), "{err}");
    let (ok, out, err) = fvs.appctl(&["fdb/flush", "nosuch"]);
    assert!(!ok && err.contains("no such bridge"), "{out}{err}");
    let (ok, out, _) = fvs.appctl(&["fdb/flush", "br0"]);
    assert!(ok && out == "table successfully flushed\n", "{out}");
    // A runt and a truncated IPv4 header: dropped or forwarded, never a crash.
    for frame in ["ffffffffffff", "ffffffffffff0000000000010800450000"] {
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", frame]);
        assert!(ok, "{frame}: {err}");
    }
    // The runt never reaches the caches (it is counted as datapath_drop_rx_invalid_packet,
    // as Open vSwitch counts it); the truncated IPv4 frame misses and is forwarded as L2.
    let (ok, out, _) = fvs.appctl(&["dpif/show"]);
    assert!(
        ok && out.starts_with("system@ovs-system: hit:0 missed:1\n"),
        "{out}"
    );
}

#[test]
fn interface_rows_report_counters_and_link_state_like_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("dps");
    let build = [
        "add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2",
    ];
    ovs.vsctl(&build)
        .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
    fvs.vsctl(&build);
    let request = hex(&arp(MAC_A, [0xff; 6], 1, IP_A, IP_B));
    for _ in 0..2 {
        ovs.appctl(&["netdev-dummy/receive", "p1", &request])
            .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &request]);
        assert!(ok, "{err}");
    }
    let columns = [
        ("p1", "statistics:rx_packets"),
        ("p1", "statistics:rx_bytes"),
        ("p2", "statistics:tx_packets"),
        ("p2", "statistics:tx_bytes"),
        ("p1", "link_state"),
        ("p1", "admin_state"),
        ("p1", "mtu"),
        ("p2", "ifindex"),
    ];
    let read_fvs = || -> Vec<String> {
        columns
            .iter()
            .map(|(i, c)| {
                require_tool("ovs-vsctl")
                    .command()
                    .arg(format!("--db={}", fvs.db()))
                    .args(["--if-exists", "get", "interface", i, c])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default()
            })
            .collect()
    };
    let read_ovs = || -> Vec<String> {
        columns
            .iter()
            .map(|(i, c)| {
                ovs.vsctl(&["--if-exists", "get", "interface", i, c])
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            })
            .collect()
    };
    // Both write every 5 seconds; wait for the counters to show the two frames.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut ours, mut theirs) = (read_fvs(), read_ovs());
    while (ours.first().map(String::as_str) != Some("2")
        || theirs.first().map(String::as_str) != Some("2"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(250));
        ours = read_fvs();
        theirs = read_ovs();
    }
    assert_eq!(ours, theirs, "{columns:?}");
    assert_eq!(ours[0], "2", "{ours:?}");
}

#[test]
fn rules_expire_by_their_timeouts_and_use_keeps_an_idle_rule() {
    let fvs = Fvs::start("dpx");
    fvs.vsctl(&[
        "add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2",
    ]);
    let target = format!("unix:{}", fvs.mgmt("br0").display());
    for flow in [
        "priority=5,hard_timeout=1,dl_type=0x88b5,actions=drop",
        "priority=5,idle_timeout=2,dl_type=0x88b6,actions=drop",
    ] {
        let (ok, _, err) = ofctl(&[], "add-flow", &target, &[flow]);
        assert!(ok, "{err}");
    }
    // Keep the idle-timeout rule busy for three seconds: cached packets count as use.
    let busy = "ffffffffffff02000000000188b6";
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", busy]);
        assert!(ok, "{err}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (_, flows, _) = ofctl(&[], "dump-flows", &target, &[]);
    assert!(
        !flows.contains("0x88b5"),
        "the hard timeout of 1 s has passed:\n{flows}"
    );
    assert!(
        flows.contains("idle_timeout=2") && flows.contains("0x88b6"),
        "a rule in use does not idle out:\n{flows}"
    );
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let (_, flows, _) = ofctl(&[], "dump-flows", &target, &[]);
    assert!(!flows.contains("0x88b6"), "idle for 3 s:\n{flows}");
}

#[test]
fn trace_with_a_packet_reads_its_headers_and_learns_like_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("dpt");
    // Numbers pinned: ports made in one transaction are numbered in no particular order.
    let build = AddBridge::new("br0")
        .port("p1", &["ofport_request=1"])
        .port("p2", &["ofport_request=2"]);
    let build = build.args();
    ovs.vsctl(&build)
        .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
    fvs.vsctl(&build);
    let packet = hex(&arp(MAC_A, [0xff; 6], 1, IP_A, IP_B));
    let reply = hex(&arp(MAC_B, MAC_A, 2, IP_B, IP_A));
    for (port, p) in [("in_port=1", &packet), ("in_port=2", &reply)] {
        let theirs = ovs
            .appctl(&["ofproto/trace", "br0", port, p])
            .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
        let (ok, ours, err) = fvs.appctl(&["ofproto/trace", "br0", port, p]);
        assert!(ok, "{err}");
        assert_eq!(
            flood_order_free(&ours),
            flood_order_free(&theirs),
            "ofproto/trace br0 {port} PACKET"
        );
    }
    // The datapath form, as dpctl/dump-flows prints a megaflow, with and without the
    // datapath's name.
    let odp = "in_port(1),eth(src=fa:16:3e:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),\
               arp(sip=192.168.0.1,tip=192.168.0.2,op=1,sha=fa:16:3e:00:00:01,tha=00:00:00:00:00:00)";
    for args in [
        vec!["ofproto/trace", odp],
        vec!["ofproto/trace", "ovs-system", odp],
    ] {
        let theirs = ovs
            .appctl(&args)
            .unwrap_or_else(|e| panic!("Open vSwitch: {e}"));
        let (ok, ours, err) = fvs.appctl(&args);
        assert!(ok, "{err}");
        assert_eq!(
            flood_order_free(&ours),
            flood_order_free(&theirs),
            "{args:?}"
        );
    }
    let wrong = ["ofproto/trace", "system@ovs-system", odp];
    let theirs = ovs.appctl(&wrong).err().map(|e| e.stderr().to_owned());
    let (ok, _, ours) = fvs.appctl(&wrong);
    // The error itself; the second line names each program's own control socket.
    let first = |s: &str| s.lines().next().unwrap_or_default().to_owned();
    assert!(!ok, "{ours}");
    assert_eq!(theirs.map(|t| first(&t)), Some(first(&ours)));
    // The packets' side effects: both MACs learned.
    let (ok, fdb, _) = fvs.appctl(&["fdb/show", "br0"]);
    assert!(
        ok && fdb.contains("fa:16:3e:00:00:01") && fdb.contains("fa:16:3e:00:00:02"),
        "{fdb}"
    );
}

/// `text` with a flood's outputs in port order: Open vSwitch floods its ports in the order of
/// a hash table, which differs from run to run, so only the set of outputs can be compared.
fn flood_order_free(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("Datapath actions: ") {
            Some(actions) if actions.split(',').all(|a| a.parse::<u32>().is_ok()) => {
                let mut ports: Vec<u32> =
                    actions.split(',').filter_map(|a| a.parse().ok()).collect();
                ports.sort_unstable();
                let ports: Vec<String> = ports.iter().map(u32::to_string).collect();
                format!("Datapath actions: {}", ports.join(","))
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn malformed_frames_on_every_port_kind_leave_the_switch_working() {
    let fvs = Fvs::start("dpm");
    fvs.vsctl(&[
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "p1",
        "--",
        "add-port",
        "br0",
        "p2",
        "--",
        "set",
        "interface",
        "p2",
        &format!("options:tx_pcap={}", fvs.dir().join("p2.pcap").display()),
        "--",
        "add-port",
        "br0",
        "gre0",
        "--",
        "set",
        "interface",
        "gre0",
        "type=gre",
        "options:remote_ip=10.0.1.21",
        "options:local_ip=10.0.1.31",
        "options:key=flow",
    ]);
    let mut rng = Rng(0x5eed_f00d_1234_5678);
    let valid = arp(MAC_A, [0xff; 6], 1, IP_A, IP_B);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for i in 0..400usize {
        let f = match i % 8 {
            // Pure noise, runts included.
            0 => {
                let n = 1 + (rng.next() % 80) as usize;
                rng.bytes(n)
            }
            // A valid Ethernet header over noise with a claimed EtherType.
            1 | 2 => {
                let mut f = valid[..12].to_vec();
                let ty: [[u8; 2]; 6] = [
                    [0x08, 0x00],
                    [0x86, 0xdd],
                    [0x81, 0x00],
                    [0x88, 0xa8],
                    [0x08, 0x06],
                    [0x88, 0x47],
                ];
                f.extend_from_slice(&ty[(rng.next() % 6) as usize]);
                let n = (rng.next() % 60) as usize;
                f.extend(rng.bytes(n));
                f
            }
            // IPv4 with a lying header length or total length.
            3 => {
                let mut f = valid[..12].to_vec();
                f.extend_from_slice(&[0x08, 0x00]);
                f.push(0x40 | (rng.next() % 16) as u8);
                let n = 1 + (rng.next() % 40) as usize;
                f.extend(rng.bytes(n));
                f
            }
            // Stacked VLAN tags, then a truncated IPv4 header.
            4 => {
                let mut f = valid[..12].to_vec();
                for _ in 0..(1 + rng.next() % 5) {
                    f.extend_from_slice(&[0x81, 0x00, 0x00, (rng.next() % 4) as u8]);
                }
                f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
                f
            }
            // GRE from the tunnel's peer with a damaged or foreign payload.
            5 | 6 => {
                let n = (rng.next() % 30) as usize;
                let mut inner = rng.bytes(n);
                if i % 16 == 5 {
                    inner = valid[..(rng.next() % 14) as usize].to_vec();
                }
                let mut g = gre(&inner, rng.next() as u32);
                let at = 34 + (rng.next() % 8) as usize;
                if let Some(b) = g.get_mut(at) {
                    *b ^= 0xff;
                }
                g
            }
            // A jumbo frame of noise behind a real header.
            _ => {
                let mut f = valid[..14].to_vec();
                f.extend(rng.bytes(9000));
                f
            }
        };
        frames.push(f);
    }
    for (k, chunk) in frames.chunks(20).enumerate() {
        let port = ["p1", "gre_sys/underlay", "p2"][k % 3];
        let mut args = vec!["netdev-dummy/receive".to_owned(), port.to_owned()];
        args.extend(chunk.iter().map(|f| hex(f)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = fvs.appctl(&args);
        assert!(ok, "chunk {k} on {port}: {err}");
    }
    // Still switching: a good broadcast from p1 reaches p2.
    let before = pcap_frames_or_empty(&fvs.dir().join("p2.pcap"));
    let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &hex(&valid)]);
    assert!(ok, "{err}");
    let after = pcap_frames_or_empty(&fvs.dir().join("p2.pcap"));
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the good frame was forwarded"
    );
    assert_eq!(after.last(), Some(&valid));
    let (ok, out, err) = fvs.appctl(&["coverage/show"]);
    assert!(ok && out.contains("upcall_handled"), "{out}{err}");
}

/// The `upcall_handled` count of `coverage/show`.
fn upcalls(fvs: &Fvs) -> u64 {
    let (ok, out, err) = fvs.appctl(&["coverage/show"]);
    assert!(ok, "{err}");
    out.lines()
        .find(|l| l.starts_with("upcall_handled"))
        .and_then(|l| l.split("total: ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flow_mod_revalidates_cached_megaflows_in_place_and_idle_ones_expire() {
    let fvs = Fvs::start("dpr");
    let tx_pcap = format!("options:tx_pcap={}", fvs.dir().join("p2.pcap").display());
    let bridge = AddBridge::new("br0")
        .port("p1", &["ofport_request=1"])
        .port("p2", &[&tx_pcap]);
    fvs.vsctl(&bridge.args());
    let frame = hex(&arp(MAC_A, [0xff; 6], 1, IP_A, IP_B));
    let send = || {
        let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", "p1", &frame]);
        assert!(ok, "{err}");
    };
    let dump = || {
        let (ok, out, err) = fvs.appctl(&["dpctl/dump-flows"]);
        assert!(ok, "{err}");
        out
    };
    send();
    send();
    assert_eq!(
        pcap_frames(&fvs.dir().join("p2.pcap")).len(),
        2,
        "NORMAL floods"
    );
    let misses = upcalls(&fvs);
    assert_eq!(misses, 1, "the second frame hit the megaflow");

    // A rule that drops p1's frames: the cached megaflow gets the new actions without being
    // flushed, so the next frame is dropped by the cache, not by a new upcall.
    let target = format!("unix:{}", fvs.mgmt("br0").display());
    let (ok, _, err) = ofctl(
        &[],
        "add-flow",
        &target,
        &["priority=10,in_port=1,actions=drop"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = fvs.appctl(&["revalidator/wait"]);
    assert!(ok, "{err}");
    let flows = dump();
    assert!(
        flows.lines().filter(|l| l.contains("in_port(")).count() == 1
            && flows.contains("actions:drop"),
        "{flows}"
    );
    send();
    assert_eq!(
        pcap_frames(&fvs.dir().join("p2.pcap")).len(),
        2,
        "dropped now"
    );
    assert_eq!(upcalls(&fvs), misses, "revalidated in place, no new upcall");
    let flows = dump();
    assert!(flows.contains("packets:2,"), "{flows}");

    // Unused for Open vSwitch's max-idle (10 s), the megaflow goes.
    std::thread::sleep(std::time::Duration::from_millis(10_600));
    let (ok, _, err) = fvs.appctl(&["revalidator/wait"]);
    assert!(ok, "{err}");
    let flows = dump();
    assert!(
        !flows.contains("in_port("),
        "idle megaflow still cached:\n{flows}"
    );
}

#[test]
fn flow_limit_and_max_idle_from_other_config_bound_the_megaflow_cache() {
    let fvs = Fvs::start("dpl");
    fvs.vsctl(&[
        "add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2",
    ]);
    fvs.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:flow-limit=4",
        "other_config:max-idle=1000",
    ]);
    // The limits reach the datapath within one statistics interval (5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (ok, out, err) = fvs.appctl(&["upcall/show"]);
        assert!(ok, "{err}");
        if out.contains("(limit 4)") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Twelve sources, twelve megaflows; revalidation keeps the four most recently used.
    let frames: Vec<String> = (1..=12u8)
        .map(|i| hex(&arp([2, 0, 0, 0, 0, i], [0xff; 6], 1, IP_A, IP_B)))
        .collect();
    let mut args = vec!["netdev-dummy/receive", "p1"];
    args.extend(frames.iter().map(String::as_str));
    let (ok, _, err) = fvs.appctl(&args);
    assert!(ok, "{err}");
    let count = || {
        let (ok, out, err) = fvs.appctl(&["dpctl/dump-flows"]);
        assert!(ok, "{err}");
        out.lines().filter(|l| l.contains("in_port(")).count()
    };
    let (ok, _, err) = fvs.appctl(&["revalidator/wait"]);
    assert!(ok, "{err}");
    assert!(count() <= 4, "{} megaflows over a limit of 4", count());
    let (_, cov, _) = fvs.appctl(&["coverage/show"]);
    assert!(cov.contains("revalidate_flow_evicted"), "{cov}");
    // max-idle=1000: a second and a half later they are all gone.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (ok, _, err) = fvs.appctl(&["revalidator/wait"]);
    assert!(ok, "{err}");
    assert_eq!(count(), 0);
}
