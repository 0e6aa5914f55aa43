//! Flow monitors as Open vSwitch's own client sees them: `ovs-ofctl monitor BRIDGE watch:...`
//! on fvs-vswitchd and on ovs-vswitchd, configured alike, prints the same updates for the same
//! scripted changes: the initial listing, add-flow, mod-flows, a strict delete, a rule
//! expiring by its hard timeout, and a rule a `learn` action creates when a frame enters
//! through `netdev-dummy/receive`. Monitors in OpenFlow 1.0 (Nicira's form), 1.3 (ONF's),
//! 1.4 and 1.5 (`OFPMP_FLOW_MONITOR`), and with options (`!initial`, `table=`, a match,
//! `out_port=`, `!actions`). A malformed monitor request gets the error Open vSwitch sends,
//! and the connection lives on.
//!
//! Durations differ between runs and are masked; each reply's updates are sorted, since
//! the order in which one delete or modify reports several rules is Open vSwitch's
//! classifier's hash order.

mod common;

use std::path::Path;
use std::process::Child;
use std::thread::sleep;
use std::time::Duration;

use common::Fvs;
use fvs_test_support::{PrivateOvs, Switch, require_tool};

fn run_ofctl(dir: &Path, target: &str, args: &[&str]) -> (bool, String) {
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "br0" { target } else { a })
        .collect();
    let out = require_tool("ovs-ofctl")
        .command()
        .env("OVS_RUNDIR", dir)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `ovs-ofctl [OPTS] monitor br0 watch:SPEC`, its output in a file; killed on drop.
struct Monitor {
    child: Child,
    out: std::path::PathBuf,
}

impl Monitor {
    fn start(sw: &dyn Switch, opts: &[&str], watch: &str, name: &str) -> Self {
        let out = sw.dir().join(format!("{name}.out"));
        let file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = require_tool("ovs-ofctl")
            .command()
            .env("OVS_RUNDIR", sw.dir())
            .args(opts)
            .args(["monitor", &sw.mgmt_target("br0"), watch])
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
        Self { child, out }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Masks durations and log timestamps, and sorts the updates within each reply.
fn normalised(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut group: Vec<String> = Vec::new();
    let flush = |group: &mut Vec<String>, out: &mut Vec<String>| {
        group.sort();
        out.append(group);
    };
    for l in text.lines() {
        let l = match l.split_once('|') {
            Some((stamp, rest)) if stamp.ends_with('Z') && stamp.contains('T') => rest,
            _ => l,
        };
        let l = l
            .split(' ')
            .map(|w| {
                if w.starts_with("duration=") {
                    "duration=?"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        if l.starts_with(' ') {
            group.push(l);
        } else {
            flush(&mut group, &mut out);
            out.push(l);
        }
    }
    flush(&mut group, &mut out);
    out.join("\n")
}

/// A UDP frame from 00:00:00:00:00:01 to 00:00:00:00:00:02.
const FRAME: &str = "00000000000200000000000108004500001c0000000040110000c0a80001c0a80002\
                     0401040200080000";

const MONITORS: [(&[&str], &str, &str); 9] = [
    (&[], "watch:", "of10"),
    (&["-O", "OpenFlow13"], "watch:", "of13"),
    (&["-O", "OpenFlow14"], "watch:", "of14"),
    (&["-O", "OpenFlow15"], "watch:", "of15"),
    (&[], "watch:!initial", "noinit"),
    (&["-O", "OpenFlow14"], "watch:table=1", "table"),
    (&[], "watch:tcp", "tcp"),
    (&["-O", "OpenFlow13"], "watch:out_port=2", "outport"),
    (&[], "watch:!actions,!own", "noact"),
];

fn run(sw: &dyn Switch) -> Vec<(String, String)> {
    let mut args: Vec<String> = ["add-br", "br0", "--", "set", "bridge", "br0"]
        .map(String::from)
        .to_vec();
    args.push("fail_mode=secure".into());
    for (name, no) in [("p1", "1"), ("p2", "2"), ("p3", "3")] {
        args.extend(
            [
                "--",
                "add-port",
                "br0",
                name,
                "--",
                "set",
                "interface",
                name,
                "type=dummy",
            ]
            .map(String::from),
        );
        args.push(format!("ofport_request={no}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.vsctl_ok(&args);
    let ok = |args: &[&str]| {
        let (ok, out) = run_ofctl(sw.dir(), &sw.mgmt_target("br0"), args);
        assert!(ok, "ovs-ofctl {args:?}: {out}");
    };
    // Present before the monitors start: their initial listing.
    ok(&["add-flow", "br0", "priority=5,ip,actions=output:1"]);
    ok(&["add-flow", "br0", "table=1,priority=3,arp,actions=output:2"]);
    let monitors: Vec<Monitor> = MONITORS
        .iter()
        .map(|(opts, watch, name)| Monitor::start(sw, opts, watch, name))
        .collect();
    sleep(Duration::from_millis(1000));
    ok(&[
        "add-flow",
        "br0",
        "priority=7,tcp,hard_timeout=1,actions=output:1",
    ]);
    ok(&["mod-flows", "br0", "ip,actions=output:2"]);
    ok(&["add-flow", "br0", "table=1,priority=4,tcp,actions=output:3"]);
    ok(&["--strict", "del-flows", "br0", "priority=5,ip"]);
    ok(&[
        "add-flow",
        "br0",
        "priority=9,udp,actions=learn(table=2,priority=1,hard_timeout=60,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:3",
    ]);
    sw.appctl_ok(&["netdev-dummy/receive", "p1", FRAME]);
    // The hard timeout passes; revalidation (ours, and Open vSwitch's) reports it.
    sleep(Duration::from_millis(3000));
    ok(&["del-flows", "br0", "table=1"]);
    sleep(Duration::from_millis(800));
    MONITORS
        .iter()
        .zip(&monitors)
        .map(|((_, watch, name), m)| (format!("{name} {watch}"), normalised(&m.text())))
        .collect()
}

#[test]
fn ovs_ofctl_monitor_watch_prints_the_same_updates_as_on_open_vswitch() {
    let fvs = Fvs::start("fmon");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    drop(ovs);
    for ((name, o), (_, t)) in ours.iter().zip(&theirs) {
        assert!(
            t.contains("event="),
            "{name}: Open vSwitch printed no updates:\n{t}"
        );
        if std::env::var_os("FVS_SHOW").is_some() {
            eprintln!("== {name}\n{o}");
        }
        assert_eq!(
            o, t,
            "{name}: fvs-vswitchd (left) and ovs-vswitchd (right) differ"
        );
    }
}
