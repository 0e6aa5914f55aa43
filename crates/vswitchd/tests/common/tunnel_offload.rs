//! The kernel-offload check of a native tunnel between two ferrovs hosts, for every
//! underlay the two-host tests build (IPv4, IPv6): what must hold once the pair is up is the
//! same whatever the outer header.

use std::time::Duration;

use fvs_test_support::PrivateFvs;
use fvs_test_support::netns::{self, Capture};

use super::{tc_filters, tcp_transfer};

/// How long the capture on the underlay waits for its packets.
const CAPTURE_WITHIN: Duration = Duration::from_secs(15);

/// Two ferrovs hosts joined by a native tunnel, each with a VM, and how the test reads them.
pub(crate) struct OffloadCase<'a> {
    /// The namespaces of hosts A and B (their VMs' devices are `tap1`, the underlay `eth1`).
    pub(crate) hosts: (&'a str, &'a str),
    /// The VMs' namespaces, A's and B's.
    pub(crate) vms: (&'a str, &'a str),
    /// VM B's MAC and IPv4 address.
    pub(crate) vm_b: (&'a str, &'a str),
    /// The switches of hosts A and B.
    pub(crate) switches: (&'a PrivateFvs, &'a PrivateFvs),
    /// The tcpdump filter for the tunnel's packets on B's `eth1`.
    pub(crate) wire_filter: &'a str,
    /// Checks the capture (tcpdump -v -x) shows what the tunnel must carry.
    pub(crate) check_wire: &'a dyn Fn(&str),
    /// What host B's decapsulating megaflow prints (from `tunnel(` on).
    pub(crate) decap_flow: &'a str,
    /// The learned table-20 rule for a MAC on a switch, and its `n_packets`, after a
    /// revalidation pass.
    pub(crate) learned: &'a dyn Fn(&PrivateFvs, &str) -> (String, u64),
    /// The tunnel's name in failure messages.
    pub(crate) what: &'a str,
}

/// The `total` of one counter in `coverage/show` (0 when it never hit).
pub(crate) fn coverage(f: &PrivateFvs, name: &str) -> u64 {
    f.appctl(&["coverage/show"])
        .unwrap_or_default()
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split("total:").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn appctl(f: &PrivateFvs, args: &[&str]) -> String {
    f.appctl(args)
        .unwrap_or_else(|e| panic!("fvs-appctl {args:?}: {e}"))
}

fn set_offload(f: &PrivateFvs, on: bool) {
    let setting = format!("other_config:hw-offload={on}");
    f.vsctl(&["set", "Open_vSwitch", ".", &setting])
        .unwrap_or_else(|e| panic!("ovs-vsctl set {setting}: {e}"));
}

/// Kernel offload of the case's tunnel (`other_config:hw-offload=true` on both hosts): the
/// megaflows a VM's packets cross are forwarded by eBPF filters that push and strip the
/// outer headers. The VMs still ping across and the underlay carries the tunnel, but neither
/// switch encapsulates or takes in a tunnel packet itself (`native_tnl_sent`,
/// `native_tnl_received` hardly move); `dpctl/dump-flows -m` shows the tunnel megaflows
/// `offloaded:yes`; the learned table-20 rule counts the kernel's packets; 8 MB of TCP
/// arrive intact (the VMs keep TSO: super-frames cross whole); turning offload off removes
/// the filters and the switch carries the tunnel again.
pub(crate) fn assert_tunnel_offloaded(net: &mut netns::Lab, c: &OffloadCase<'_>) {
    let ((a, b), (vm_a, vm_b), (fa, fb)) = (c.hosts, c.vms, c.switches);
    let what = c.what;
    for f in [fa, fb] {
        set_offload(f, true);
    }
    // The first packets may find no neighbour: the switch drops them and asks.
    let (ok, out) = netns::ping(vm_a, c.vm_b.1, 5);
    assert!(ok, "ping over {what} with offload on:\n{out}");
    // Two passes: one caches the megaflows' chains, the next finds them all.
    for f in [fa, fb] {
        appctl(f, &["revalidator/wait"]);
        appctl(f, &["revalidator/wait"]);
    }
    let offloaded = |f: &PrivateFvs| appctl(f, &["dpctl/dump-flows", "-m", "type=offloaded"]);
    let (ofa, ofb) = (offloaded(fa), offloaded(fb));
    assert!(
        ofa.contains("set(tunnel(tun_id=0x1") && ofa.contains("offloaded:yes"),
        "host A's encapsulating megaflow is not offloaded:\n{ofa}\n{}",
        appctl(fa, &["dpctl/dump-flows", "-m"])
    );
    assert!(
        ofb.contains(c.decap_flow) && ofb.contains("offloaded:yes"),
        "host B's decapsulating megaflow ({}) is not offloaded:\n{ofb}\n{}",
        c.decap_flow,
        appctl(fb, &["dpctl/dump-flows", "-m"])
    );
    assert!(
        tc_filters(a, "tap1").contains("ferrovs_encap"),
        "no encapsulation filter on host A's tap1"
    );
    assert!(
        tc_filters(b, "eth1").contains("ferrovs_decap"),
        "no decapsulation filter on host B's eth1"
    );

    let capture = Capture::start(b, "eth1", 4, c.wire_filter, CAPTURE_WITHIN);
    let sent = coverage(fa, "native_tnl_sent");
    let received = coverage(fb, "native_tnl_received");
    let (_, before) = (c.learned)(fa, c.vm_b.0);
    let n = 20;
    let (ok, out) = netns::ping(vm_a, c.vm_b.1, n);
    assert!(ok, "ping through the kernel's filters failed:\n{out}");
    (c.check_wire)(&capture.finish());
    let by_switch = coverage(fa, "native_tnl_sent") - sent;
    assert!(
        by_switch < u64::from(n) / 4,
        "host A's switch encapsulated {by_switch} of {n} packets itself"
    );
    let by_switch = coverage(fb, "native_tnl_received") - received;
    assert!(
        by_switch < u64::from(n) / 4,
        "host B's switch took in {by_switch} of {n} packets itself"
    );
    let (rule, after) = (c.learned)(fa, c.vm_b.0);
    assert!(
        after >= before + u64::from(n),
        "the learned rule counted {} of the kernel's {n} packets: {rule}",
        after - before
    );

    tcp_transfer(
        net,
        (vm_a, vm_b, c.vm_b.1),
        8 << 20,
        &format!("offloaded {what}"),
    );

    for f in [fa, fb] {
        set_offload(f, false);
        appctl(f, &["revalidator/wait"]);
    }
    assert!(
        !tc_filters(a, "tap1").contains("bpf"),
        "host A kept its filters"
    );
    assert!(
        !tc_filters(b, "eth1").contains("bpf"),
        "host B kept its filters"
    );
    let sent = coverage(fa, "native_tnl_sent");
    let (ok, out) = netns::ping(vm_a, c.vm_b.1, 3);
    assert!(ok, "ping with offload off again:\n{out}");
    assert!(
        coverage(fa, "native_tnl_sent") > sent,
        "the switch carries the tunnel again"
    );
}
