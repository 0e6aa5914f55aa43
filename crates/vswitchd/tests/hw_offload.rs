//! Kernel flow offload (`other_config:hw-offload=true`, root): two hosts on veth ports of one
//! NORMAL bridge. With offload off nothing is installed; with it on, ping and a TCP transfer
//! work, `tc -s filter show` lists ferrovs's `u32` filters redirecting with rising counters,
//! `dpctl/dump-flows -m` marks their megaflows `offloaded:yes, dp:tc` (`type=` filters them),
//! the kernel's packets reach the rule's `n_packets`, a flow-mod that drops takes effect (the
//! filters go), turning offload off removes them, and the daemon leaves none when it exits.

mod common;
mod lab;

use std::time::{Duration, Instant};

use common::{TCP_CLIENT, TCP_SERVER};
use lab::{A_IP, B_IP, Lab};

/// `tc -s filter show dev DEV ingress` in the switch's namespace.
fn filters(lab: &Lab, dev: &str) -> String {
    let mut cmd = lab.in_ns(&lab.sw, "tc");
    cmd.args(["-s", "filter", "show", "dev", dev, "ingress"]);
    let (ok, out) = lab::run(&mut cmd);
    assert!(ok, "tc filter show failed: {out}");
    out
}

/// Packets the filters on `dev` redirected (the sum of their `Sent ... pkt` lines).
fn redirected(lab: &Lab, dev: &str) -> u64 {
    filters(lab, dev)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Sent "))
        .filter_map(|l| {
            l.split(" bytes ")
                .nth(1)?
                .split(" pkt")
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `n_packets` of the bridge's NORMAL rule, from `ovs-ofctl dump-flows`.
fn normal_packets(lab: &Lab) -> u64 {
    let ofctl = fvs_test_support::require_tool("ovs-ofctl");
    let target = format!("unix:{}", lab.dir().join("br0.mgmt").display());
    let (ok, out) = lab::run(ofctl.command().args(["dump-flows", &target]));
    assert!(ok, "ovs-ofctl dump-flows failed: {out}");
    out.lines()
        .filter(|l| l.contains("actions=NORMAL"))
        .filter_map(|l| {
            l.split("n_packets=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn ofctl(lab: &Lab, args: &[&str]) {
    let ofctl = fvs_test_support::require_tool("ovs-ofctl");
    let target = format!("unix:{}", lab.dir().join("br0.mgmt").display());
    let mut all = vec![args[0], target.as_str()];
    all.extend_from_slice(&args[1..]);
    let (ok, out) = lab::run(ofctl.command().args(&all));
    assert!(ok, "ovs-ofctl {args:?} failed: {out}");
}

/// A revalidation pass on every datapath thread (installs and removes filters).
fn revalidate(lab: &Lab) {
    lab.appctl(&["revalidator/wait"]);
}

fn transfer(lab: &mut Lab, bytes: usize) {
    let py = lab::python3();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let mut server = lab.in_ns(&b, &py);
    server.args(["-c", TCP_SERVER, B_IP]);
    let server = lab.spawn(server);
    let mut client = lab.in_ns(&a, &py);
    client.args(["-c", TCP_CLIENT, B_IP, &bytes.to_string(), "5"]);
    let client = lab.spawn(client);
    let (ok, sent) = lab.wait(client, Duration::from_secs(60));
    assert!(ok, "the client failed: {sent}");
    let (ok, received) = lab.wait(server, Duration::from_secs(30));
    assert!(ok, "the server failed: {received}");
    assert!(
        sent.trim().starts_with(&format!("{bytes} ")),
        "client: {sent}"
    );
    assert_eq!(received.trim(), sent.trim(), "the data must arrive intact");
}

#[test]
fn simple_megaflows_are_forwarded_by_tc_while_hw_offload_is_on() {
    let mut lab = Lab::start("h7hw");
    let (a, b) = (lab.a.clone(), lab.b.clone());

    // Off by default: nothing installed.
    let (ok, out) = lab.ping(&a, B_IP, 3);
    assert!(ok, "A cannot ping B:\n{out}");
    revalidate(&lab);
    assert!(
        !filters(&lab, "p-a").contains("u32"),
        "{}",
        filters(&lab, "p-a")
    );

    lab.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"]);
    let (ok, out) = lab.ping(&a, B_IP, 3);
    assert!(ok, "A cannot ping B with offload on:\n{out}");
    revalidate(&lab);
    let shown = filters(&lab, "p-a");
    assert!(
        shown.contains("Egress Redirect to device p-b"),
        "no filter on p-a redirects to p-b:\n{shown}\n{}",
        lab.appctl(&["dpctl/dump-flows", "-m"])
    );
    assert!(filters(&lab, "p-b").contains("Egress Redirect to device p-a"));
    let flows = lab.appctl(&["dpctl/dump-flows", "-m"]);
    assert!(
        flows.contains(", offloaded:yes, dp:tc, actions:"),
        "{flows}"
    );
    // As Open vSwitch: dpif/dump-flows says nothing of offloads, even with -m.
    let dpif = lab.appctl(&["dpif/dump-flows", "-m", "br0"]);
    assert!(!dpif.contains("dp:"), "{dpif}");
    let offloaded = lab.appctl(&["dpctl/dump-flows", "type=offloaded"]);
    let in_ovs = lab.appctl(&["dpctl/dump-flows", "-m", "type=ovs"]);
    assert!(offloaded.lines().count() > 1, "{offloaded}");
    assert!(!in_ovs.contains("offloaded:yes"), "{in_ovs}");
    let err = lab
        .in_ns(&lab.sw, env!("CARGO_BIN_EXE_fvs-appctl"))
        .env("FVS_RUNDIR", lab.dir())
        .args(["dpctl/dump-flows", "type=bogus"])
        .output()
        .expect("fvs-appctl");
    assert!(
        String::from_utf8_lossy(&err.stderr)
            .contains("Failed to parse type (bogus) (Invalid argument)")
    );

    // Traffic through the kernel reaches tc's counters and the rule's statistics.
    let (tc_before, rule_before) = (redirected(&lab, "p-a"), normal_packets(&lab));
    let (ok, out) = lab.ping(&a, B_IP, 5);
    assert!(ok, "{out}");
    // The switch's socket skips what the filters take: nothing is forwarded twice.
    assert!(
        !out.contains("DUP!"),
        "duplicated replies:\n{out}\n{}\n{}",
        filters(&lab, "p-a"),
        lab::run(lab.in_ns(&lab.sw, "ss").args(["-0", "-b", "-p", "-a"])).1
    );
    transfer(&mut lab, 8 << 20);
    revalidate(&lab);
    let tc_after = redirected(&lab, "p-a");
    let rule_after = normal_packets(&lab);
    assert!(
        tc_after >= tc_before + 5,
        "tc counted {tc_before} then {tc_after}"
    );
    assert!(
        rule_after - rule_before >= tc_after - tc_before,
        "n_packets rose by {} but tc forwarded {}",
        rule_after - rule_before,
        tc_after - tc_before
    );
    let coverage = lab.appctl(&["coverage/show"]);
    assert!(coverage.contains("offload_tc_installed"), "{coverage}");

    // A flow-mod that drops: the filters go and the drop holds.
    ofctl(&lab, &["add-flow", "priority=100,ip,actions=drop"]);
    revalidate(&lab);
    let (ok, _) = lab.ping(&a, B_IP, 2);
    assert!(
        !ok,
        "a dropped flow must not be forwarded by a filter left behind"
    );
    assert!(
        !filters(&lab, "p-a").contains("Redirect"),
        "{}",
        filters(&lab, "p-a")
    );
    ofctl(&lab, &["del-flows", "--strict", "priority=100,ip"]);
    let (ok, out) = lab.ping(&b, A_IP, 3);
    assert!(ok, "{out}");
    revalidate(&lab);
    assert!(filters(&lab, "p-b").contains("Redirect"));

    // Off again: every filter goes, traffic still flows.
    lab.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=false"]);
    revalidate(&lab);
    for dev in ["p-a", "p-b"] {
        assert!(
            !filters(&lab, dev).contains("u32"),
            "{}",
            filters(&lab, dev)
        );
    }
    let (ok, out) = lab.ping(&a, B_IP, 2);
    assert!(ok, "{out}");

    // On, then the daemon exits: no filter outlives it.
    lab.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"]);
    let (ok, out) = lab.ping(&a, B_IP, 2);
    assert!(ok, "{out}");
    revalidate(&lab);
    assert!(filters(&lab, "p-a").contains("Redirect"));
    let _ = lab.appctl(&["exit"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab.daemon_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!lab.daemon_alive(), "the daemon did not exit");
    for dev in ["p-a", "p-b"] {
        assert!(
            !filters(&lab, dev).contains("u32"),
            "{}",
            filters(&lab, dev)
        );
    }
}

#[test]
fn filters_a_crashed_daemon_left_are_removed_and_others_kept() {
    let mut lab = Lab::start("h7st");
    let host = lab.add_netns("c");
    fvs_test_support::netns::veth(&lab.sw, "p-c", &host, "eth0");
    let tc = |args: &[&str]| {
        let mut cmd = lab.in_ns(&lab.sw, "tc");
        let (ok, out) = lab::run(cmd.args(args));
        assert!(ok, "tc {args:?}: {out}");
    };
    // What a daemon killed with offload on leaves (a priority in ferrovs's range), and a
    // filter of somebody else's.
    tc(&["qdisc", "add", "dev", "p-c", "ingress"]);
    for pref in ["61500", "10"] {
        tc(&[
            "filter", "add", "dev", "p-c", "ingress", "pref", pref, "protocol", "ip", "u32",
            "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "p-a",
        ]);
    }
    lab.vsctl(&["add-port", "br0", "p-c"]);
    revalidate(&lab);
    let shown = filters(&lab, "p-c");
    assert!(
        !shown.contains("pref 61500"),
        "the stale filter stays:\n{shown}"
    );
    assert!(
        shown.contains("pref 10 "),
        "somebody else's filter went:\n{shown}"
    );
    let coverage = lab.appctl(&["coverage/show"]);
    assert!(
        coverage
            .lines()
            .any(|l| l.starts_with("offload_tc_stale_removed") && l.contains("total: 1")),
        "{coverage}"
    );
}

#[test]
fn two_datapath_threads_share_the_devices_filters() {
    let lab = Lab::start("h7mt");
    let a = lab.a.clone();
    lab.vsctl(&["set", "Open_vSwitch", ".", "other_config:hw-offload=true"]);
    // One thread per core, one port each: each installs the filters of the megaflows of the
    // port it reads.
    lab.vsctl(&["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x3"]);
    let (ok, out) = lab.ping(&a, B_IP, 3);
    assert!(ok, "{out}");
    revalidate(&lab);
    for (dev, to) in [("p-a", "p-b"), ("p-b", "p-a")] {
        let shown = filters(&lab, dev);
        assert!(
            shown.contains(&format!("Redirect to device {to}")),
            "{shown}"
        );
    }
    let (ok, out) = lab.ping(&a, B_IP, 5);
    assert!(ok && !out.contains("DUP!"), "{out}");
    // Back to one thread: the old threads take their filters (and the sockets' programs)
    // along, the new one offloads again; nothing is lost or doubled meanwhile.
    lab.vsctl(&[
        "remove",
        "Open_vSwitch",
        ".",
        "other_config",
        "pmd-cpu-mask",
    ]);
    let (ok, out) = lab.ping(&a, B_IP, 5);
    assert!(ok && !out.contains("DUP!"), "{out}");
    revalidate(&lab);
    let (ok, out) = lab.ping(&a, B_IP, 5);
    assert!(ok && !out.contains("DUP!"), "{out}");
    assert!(filters(&lab, "p-a").contains("Redirect to device p-b"));
}
