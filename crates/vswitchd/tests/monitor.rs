//! Asynchronous messages as Open vSwitch's own client sees them: `ovs-ofctl monitor BRIDGE
//! 65000` (a management connection that asks for asynchronous messages by setting a
//! `miss_send_len`) on fvs-vswitchd and on ovs-vswitchd prints the same flow-removed
//! messages (a delete, a hard timeout), port-status messages (ports added and deleted
//! through the database) and packet-ins (a packet-out whose action is `controller`), in
//! OpenFlow 1.0 (standard and NXM flow formats), 1.3, 1.4 and 1.5. `ovs-ofctl packet-out` is
//! accepted or refused alike.
//!
//! Durations and MAC addresses differ between any two runs and are masked.

mod common;

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use common::{Fvs, OfctlMonitor};
use fvs_test_support::{AddBridge, PrivateOvs, Switch, require_tool};

/// `ovs-ofctl` on `sw` with `br0` standing for the bridge's management target; success and
/// stdout plus stderr.
fn ofctl(sw: &dyn Switch, args: &[&str]) -> (bool, String) {
    run_ofctl(sw.dir(), &sw.mgmt_target("br0"), args)
}

fn run_ofctl(dir: &Path, target: &str, args: &[&str]) -> (bool, String) {
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "br0" { target } else { a })
        .collect();
    let out = require_tool("ovs-ofctl")
        .command()
        // ovs-ofctl makes its own control socket in OVS_RUNDIR.
        .env("OVS_RUNDIR", dir)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // Log lines' timestamps ("2026-...Z|00001|module|...") differ between runs.
    let text = text
        .lines()
        .map(|l| match l.split_once('|') {
            Some((stamp, rest)) if stamp.ends_with('Z') && stamp.contains('T') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    (out.status.success(), text)
}

/// `ovs-ofctl [-O VERSION] monitor br0 65000`, its output in a file; killed on drop.
fn monitor(sw: &dyn Switch, opts: &[&str], name: &str) -> OfctlMonitor {
    let m = OfctlMonitor::start(sw.dir(), opts, &sw.mgmt_target("br0"), &["65000"], name);
    // Until it has sent its settings (its barrier replies are not printed).
    sleep(Duration::from_millis(700));
    m
}

/// Masks what differs between any two runs: durations; and sorts each run
/// of consecutive flow-removed lines, since the order in which one delete reports its rules
/// is Open vSwitch's classifier's hash order.
fn masked(text: &str) -> String {
    let mut lines: Vec<String> = masked_lines(text).lines().map(str::to_owned).collect();
    let is_fr = |l: &String| l.contains("FLOW_REMOVED");
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        while i < lines.len() && is_fr(&lines[i]) {
            i += 1;
        }
        lines[start..i].sort();
        i = i.max(start + 1);
    }
    lines.join("\n")
}

fn masked_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    if let Some(rest) = w.strip_prefix("duration")
                        && rest.ends_with('s')
                    {
                        return "duration?".to_owned();
                    }
                    w.to_owned()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

const PACKET: &str = "0000000000020000000000010800450000140000000040110000c0a80001c0a80002";

/// The scenario, with monitors in OpenFlow 1.0 (standard and NXM flow formats), 1.3, 1.4, 1.5.
fn run(sw: &dyn Switch) -> Vec<String> {
    // One port per transaction: Open vSwitch numbers the dummy devices of one transaction in
    // its hash table's order, and the port-status messages show their addresses.
    let add_port = |name: &str, no: &str| {
        let mut args = common::add_port_args(name, "dummy", &[]);
        args.push(format!("ofport_request={no}"));
        sw.vsctl_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    let hwaddr = "other_config:hwaddr=\"02:00:00:00:0c:01\"";
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure", hwaddr])
            .args(),
    );
    for (n, no) in [("p1", "1"), ("p2", "2"), ("p3", "3")] {
        add_port(n, no);
    }
    let monitors = [
        monitor(sw, &[], "of10"),
        monitor(sw, &["-O", "OpenFlow13"], "of13"),
        monitor(sw, &["-O", "OpenFlow14"], "of14"),
        monitor(sw, &["-O", "OpenFlow15"], "of15"),
    ];
    // A monitor whose session switched to NXM flows first (flow-removed as NXT_FLOW_REMOVED).
    let nxm = monitor(sw, &["-F", "nxm"], "nxm");
    let ok = |args: &[&str]| {
        let (ok, out) = ofctl(sw, args);
        assert!(ok, "ovs-ofctl {args:?}: {out}");
    };
    ok(&[
        "add-flow",
        "br0",
        "priority=5,ip,send_flow_rem actions=drop",
    ]);
    ok(&[
        "add-flow",
        "br0",
        "priority=6,ip,nw_dst=1.2.3.4,idle_timeout=60,cookie=0x42,send_flow_rem actions=drop",
    ]);
    ok(&["add-flow", "br0", "priority=7,arp actions=drop"]);
    ok(&["-O", "OpenFlow13", "del-flows", "br0", "ip"]);
    ok(&[
        "add-flow",
        "br0",
        "table=3,priority=8,tcp,hard_timeout=1,send_flow_rem actions=drop",
    ]);
    sleep(Duration::from_millis(2500));
    add_port("p4", "4");
    sw.vsctl_ok(&["del-port", "br0", "p3"]);
    // A port-mod: the other connections (the monitors) hear of it.
    ok(&["mod-port", "br0", "p1", "down"]);
    ok(&["mod-port", "br0", "p1", "down"]);
    ok(&["mod-port", "br0", "p2", "no-flood"]);
    ok(&[
        "packet-out",
        "br0",
        &format!("in_port=1 packet={PACKET} actions=controller"),
    ]);
    ok(&[
        "-O",
        "OpenFlow13",
        "packet-out",
        "br0",
        &format!("in_port=2 packet={PACKET} actions=output:CONTROLLER"),
    ]);
    // controller(...) with userdata, an explicit reason, a truncation, another
    // controller id (which no monitor has).
    ok(&[
        "packet-out",
        "br0",
        &format!(
            "in_port=1 packet={PACKET} actions=controller(userdata=01.02.03,reason=no_match,max_len=20)"
        ),
    ]);
    ok(&[
        "packet-out",
        "br0",
        &format!("in_port=1 packet={PACKET} actions=controller(id=3)"),
    ]);
    sleep(Duration::from_millis(1000));
    monitors
        .iter()
        .chain(std::iter::once(&nxm))
        .map(|m| masked(&m.text()))
        .collect()
}

#[test]
fn monitor_prints_the_same_asynchronous_messages_as_on_open_vswitch() {
    let fvs = Fvs::start("mon");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    if std::env::var_os("FVS_KEEP").is_some() {
        for n in ["of10", "nxm"] {
            eprintln!(
                "{n}: {:?}",
                std::fs::read_to_string(ovs.dir().join(format!("{n}.err")))
            );
        }
    }
    drop(ovs);
    for (name, (o, t)) in [
        "OpenFlow 1.0",
        "OpenFlow 1.3",
        "OpenFlow 1.4",
        "OpenFlow 1.5",
        "NXM",
    ]
    .iter()
    .zip(ours.iter().zip(&theirs))
    {
        assert!(
            t.contains("FLOW_REMOVED") && t.contains("PORT_STATUS") && t.contains("PACKET_IN"),
            "{name}: the oracle's monitor printed\n{t}"
        );
        assert_eq!(o, t, "{name} monitor");
    }
}

/// Packet-outs good and bad, in several versions: the same exit status and messages.
#[test]
fn packet_out_is_accepted_and_refused_as_on_open_vswitch() {
    let cases: Vec<Vec<String>> = vec![
        vec![format!("in_port=1 packet={PACKET} actions=output:2")],
        vec![
            "-O".into(),
            "OpenFlow13".into(),
            format!("in_port=LOCAL packet={PACKET} actions=drop"),
        ],
        vec![
            "-O".into(),
            "OpenFlow15".into(),
            format!("in_port=CONTROLLER packet={PACKET} actions=output:1,output:2"),
        ],
        vec![
            "-O".into(),
            "OpenFlow13".into(),
            format!("in_port=1 packet={PACKET} actions=output:65300"),
        ],
        vec![format!("in_port=1 packet={PACKET} actions=resubmit(,3)")],
        vec![format!("in_port=70000 packet={PACKET} actions=drop")],
    ];
    let collect = |sw: &dyn Switch| -> Vec<(bool, String)> {
        sw.vsctl_ok(
            &AddBridge::new("br0")
                .set(&["fail_mode=secure"])
                .port("p1", &["type=dummy", "ofport_request=1"])
                .args(),
        );
        cases
            .iter()
            .map(|c| {
                let (opts, rest) = c.split_at(c.len() - 1);
                let mut args: Vec<&str> = opts.iter().map(String::as_str).collect();
                args.extend(["packet-out", "br0", rest[0].as_str()]);
                ofctl(sw, &args)
            })
            .collect()
    };
    let fvs = Fvs::start("pout");
    let ours = collect(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = collect(&ovs);
    drop(ovs);
    assert!(theirs[0].0, "{theirs:?}");
    assert_eq!(ours, theirs);
}

/// Table misses reach OpenFlow 1.0 connections and not 1.3 ones: with an OpenFlow 1.0
/// monitor connected, a miss in table 0 and after `goto_table` is a packet-in (reason
/// `no_match`, the missed table), a miss after `resubmit` is not, and `ofproto/trace` says
/// so; an OpenFlow 1.3 monitor sees none of them.
#[test]
fn table_misses_go_to_openflow10_connections_as_on_open_vswitch() {
    const ARP: &str =
        "ffffffffffff00000000000108060001080006040001000000000001c0a80001000000000000c0a80002";
    let run = |sw: &dyn Switch, appctl: &dyn Fn(&[&str]) -> String| -> Vec<String> {
        sw.vsctl_ok(
            &AddBridge::new("br0")
                .set(&["fail_mode=secure"])
                .port("p1", &["type=dummy", "ofport_request=1"])
                .args(),
        );
        let of10 = monitor(sw, &[], "miss10");
        let of13 = monitor(sw, &["-O", "OpenFlow13"], "miss13");
        let mut seen = Vec::new();
        let trace = |seen: &mut Vec<String>| {
            let t = appctl(&["ofproto/trace", "br0", "in_port=1"]);
            // The tables' part: the datapath actions' details differ (recirculation ids).
            let tables = t
                .split("\nFinal flow")
                .next()
                .unwrap_or_default()
                .to_owned();
            seen.push(tables);
        };
        trace(&mut seen);
        appctl(&["netdev-dummy/receive", "p1", ARP]);
        let (ok, out) = ofctl(sw, &["add-flow", "br0", "priority=1,actions=resubmit(,6)"]);
        assert!(ok, "{out}");
        trace(&mut seen);
        appctl(&["netdev-dummy/receive", "p1", ARP]);
        let (ok, out) = ofctl(
            sw,
            &[
                "-O",
                "OpenFlow13",
                "add-flow",
                "br0",
                "priority=1,actions=goto_table:5",
            ],
        );
        assert!(ok, "{out}");
        trace(&mut seen);
        appctl(&["netdev-dummy/receive", "p1", ARP]);
        sleep(Duration::from_millis(1000));
        seen.push(masked(&of10.text()));
        seen.push(masked(&of13.text()));
        seen
    };
    let fvs = Fvs::start("miss");
    let ours = run(fvs.private(), &|args| {
        let (ok, out, err) = fvs.appctl(args);
        assert!(ok, "fvs-appctl {args:?}: {err}");
        out
    });
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs, &|args| {
        ovs.appctl(args)
            .unwrap_or_else(|e| panic!("ovs-appctl {args:?}: {e}"))
    });
    drop(ovs);
    assert!(theirs[0].contains("packet-in"), "{theirs:?}");
    assert_eq!(ours, theirs);
}
