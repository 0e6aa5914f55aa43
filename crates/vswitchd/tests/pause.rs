//! `controller(pause)` and `NXT_RESUME` against Open vSwitch 3.1: `ovs-ofctl monitor BRIDGE
//! resume` (which sends every paused packet-in straight back) on fvs-vswitchd and on
//! ovs-vswitchd, the same flows, the same frames injected with `netdev-dummy/receive`; the
//! monitors must print the same packet-ins (continuations included: stack, frozen actions
//! per table and cookie, action set, datapath port; only the bridge's UUID differs) and
//! the dummy ports must send the same frames. The flows pause inside a resubmit with values
//! pushed on the stack and registers set, resume into a second pause reached through
//! `goto_table` (so a continuation is frozen again from a resumed one), and pause in a
//! patch port's peer bridge; inside `clone`, with an action set, in a packet-out. Bad and
//! stale continuations get the same errors. fvs-ofctl's
//! `monitor ... resume` on fvs-vswitchd prints what ovs-ofctl's prints on ovs-vswitchd.

mod common;

use std::path::PathBuf;
use std::process::Child;
use std::thread::sleep;
use std::time::Duration;

use common::Fvs;
use common::openflow::Raw;
use fvs_openflow::wire::continuation::Continuation;
use fvs_openflow::wire::{AsyncMsg, Message, PacketInFormat, Role, RoleMsg, SwitchConfig, Version};
use fvs_test_support::cargo::package_bins;
use fvs_test_support::frames::pcap_frames_or_empty;
use fvs_test_support::{AddBridge, PrivateOvs, Switch, require_tool};

const UDP: &str = "0000000000020000000000010800450000140000000040110000c0a80001c0a80002";

/// Which program monitors.
#[derive(Clone, Copy)]
enum Tool {
    /// Open vSwitch's `ovs-ofctl`.
    OvsOfctl,
    /// This workspace's `fvs-ofctl`.
    FvsOfctl,
}

impl Tool {
    fn command(self) -> std::process::Command {
        match self {
            Self::OvsOfctl => require_tool("ovs-ofctl").command(),
            Self::FvsOfctl => std::process::Command::new(package_bins("fvs-cli").join("fvs-ofctl")),
        }
    }
}

/// `ovs-ofctl [OPTS] monitor BRIDGE resume` (or fvs-ofctl's), its output in a file; killed
/// on drop.
struct Monitor {
    child: Child,
    out: PathBuf,
}

impl Monitor {
    fn start(sw: &dyn Switch, tool: Tool, bridge: &str, opts: &[&str]) -> Self {
        let out = sw.dir().join(format!("{bridge}-monitor.out"));
        let file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = tool
            .command()
            .env("OVS_RUNDIR", sw.dir())
            .args(opts)
            .args(["monitor", &sw.mgmt_target(bridge), "resume"])
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
        // Until it has sent its settings.
        sleep(Duration::from_millis(700));
        Self { child, out }
    }

    /// What it printed, the bridge UUID and log lines masked.
    fn text(&self) -> String {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter(|l| !l.contains("|fatal_signal|"))
            .map(|l| match l.split_once("continuation.bridge=") {
                Some((head, _)) => format!("{head}continuation.bridge=UUID"),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dummy(sw: &dyn Switch, port: &str, no: u32) -> Vec<String> {
    vec![
        "type=dummy".to_owned(),
        format!("ofport_request={no}"),
        format!(
            "options:tx_pcap={}",
            sw.dir().join(format!("{port}.pcap")).display()
        ),
    ]
}

fn add_flows(sw: &dyn Switch, opts: &[&str], bridge: &str, flows: &str) {
    let file = sw.dir().join(format!("{bridge}.flows"));
    std::fs::write(&file, flows).unwrap_or_else(|e| panic!("{e}"));
    let target = sw.mgmt_target(bridge);
    let mut args = opts.to_vec();
    let f = file.display().to_string();
    args.extend(["add-flows", target.as_str(), f.as_str()]);
    sw.ofctl_ok(&args);
}

/// Pauses inside a resubmit (registers set, values on the stack), a second pause reached
/// through `goto_table` with an action set written, and the rest of both rules.
const BR0_FLOWS: &str = "\
table=0,in_port=1,cookie=0x11,actions=push:NXM_OF_ETH_SRC[],push:NXM_NX_REG0[0..3],load:0x5->NXM_NX_REG0[],resubmit(,1),mod_dl_src:00:00:00:00:00:aa,output:2
table=1,cookie=0x22,actions=mod_dl_dst:00:00:00:00:00:bb,controller(pause,userdata=01.02),load:0x9->NXM_NX_REG2[],resubmit(,2),pop:NXM_NX_REG3[],output:3
table=2,cookie=0x33,actions=resubmit(,3)
table=3,cookie=0x44,actions=controller(pause),output:NXM_NX_REG3[0..15],write_metadata:0x5
table=0,in_port=4,cookie=0x55,actions=load:0x3->NXM_NX_REG1[],output:10,output:2
";

/// The patch port's peer: pauses there, then goes on in its own bridge.
const BR1_FLOWS: &str = "\
table=0,in_port=11,cookie=0x66,actions=load:0x4->NXM_NX_REG4[],controller(pause),mod_nw_tos:16,output:12
";

/// Runs the scenario on `sw` with monitors using `opts`; returns the monitors' output,
/// the flows' counters and the frames each port sent.
fn run(sw: &dyn Switch, tool: Tool, opts: &[&str]) -> Vec<String> {
    let br0 = AddBridge::new("br0")
        .set(&["fail_mode=secure"])
        .port(
            "p1",
            &dummy(sw, "p1", 1)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .port(
            "p2",
            &dummy(sw, "p2", 2)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .port(
            "p3",
            &dummy(sw, "p3", 3)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .port(
            "p4",
            &dummy(sw, "p4", 4)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .port(
            "patch0",
            &["type=patch", "options:peer=patch1", "ofport_request=10"],
        );
    sw.vsctl_ok(&br0.args());
    let br1 = AddBridge::new("br1")
        .set(&["fail_mode=secure"])
        .port(
            "patch1",
            &["type=patch", "options:peer=patch0", "ofport_request=11"],
        )
        .port(
            "p5",
            &dummy(sw, "p5", 12)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
    sw.vsctl_ok(&br1.args());
    add_flows(sw, &[], "br0", BR0_FLOWS);
    add_flows(sw, &[], "br1", BR1_FLOWS);
    let m0 = Monitor::start(sw, tool, "br0", opts);
    let m1 = Monitor::start(sw, tool, "br1", opts);
    sw.appctl_ok(&["netdev-dummy/receive", "p1", UDP]);
    sleep(Duration::from_millis(800));
    sw.appctl_ok(&["netdev-dummy/receive", "p4", UDP]);
    sleep(Duration::from_millis(1200));
    let mut seen = vec![m0.text(), m1.text()];
    for b in ["br0", "br1"] {
        let flows = sw.ofctl_ok(&["dump-flows", &sw.mgmt_target(b)]);
        let masked: Vec<String> = flows
            .lines()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with("duration=") && !w.starts_with("idle_age="))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        seen.push(masked.join("\n"));
    }
    for p in ["p1", "p2", "p3", "p4", "p5"] {
        let frames = pcap_frames_or_empty(&sw.dir().join(format!("{p}.pcap")));
        seen.push(format!("{p}: {frames:02x?}"));
    }
    seen
}

/// Our switch monitored by `tool`, against Open vSwitch monitored by ovs-ofctl.
fn compare(tool: Tool, opts: &[&str]) {
    let fvs = Fvs::start("pause");
    let ours = run(fvs.private(), tool, opts);
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs, Tool::OvsOfctl, opts);
    drop(ovs);
    assert!(
        theirs[0].matches("NXT_RESUME").count() == 2 && theirs[1].contains("NXT_RESUME"),
        "the oracle's monitors printed\n{}\n{}",
        theirs[0],
        theirs[1]
    );
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t, "{opts:?}");
    }
}

#[test]
fn monitor_resume_continues_paused_packets_as_on_open_vswitch() {
    compare(Tool::OvsOfctl, &[]);
}

/// fvs-ofctl's `monitor ... resume` prints and resumes as ovs-ofctl's does.
#[test]
fn fvs_ofctl_monitor_resume_reads_and_resumes_as_ovs_ofctl() {
    compare(Tool::FvsOfctl, &[]);
    compare(Tool::FvsOfctl, &["-O", "OpenFlow13"]);
}

#[test]
fn monitor_resume_in_openflow13_continues_paused_packets_as_on_open_vswitch() {
    compare(Tool::OvsOfctl, &["-O", "OpenFlow13"]);
}

/// A pause inside `clone` (only the clone's rest is frozen, nothing after the clone runs),
/// a pause with an action set written (`goto_table` from OpenFlow 1.3), and a pause in a
/// packet-out's actions (no rule: cookie all ones).
const CORNER_FLOWS: &str = "\
table=0,in_port=1,actions=clone(mod_dl_src:00:00:00:00:00:aa,controller(pause),output:2),output:3
table=1,actions=controller(pause),load:0x1->NXM_NX_REG0[]
";

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn corners(sw: &dyn Switch, tool: Tool) -> Vec<String> {
    let port = |p: &str, no: u32| dummy(sw, p, no);
    let (c1, c2, c3) = (port("c1", 1), port("c2", 2), port("c3", 3));
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("c1", &strs(&c1))
            .port("c2", &strs(&c2))
            .port("c3", &strs(&c3))
            .args(),
    );
    let br = sw.mgmt_target("br0");
    add_flows(sw, &[], "br0", CORNER_FLOWS);
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-flow",
        &br,
        "table=0,in_port=3,actions=write_actions(output:2),goto_table:1",
    ]);
    let m = Monitor::start(sw, tool, "br0", &[]);
    sw.appctl_ok(&["netdev-dummy/receive", "c1", UDP]);
    sleep(Duration::from_millis(500));
    sw.appctl_ok(&["netdev-dummy/receive", "c3", UDP]);
    sleep(Duration::from_millis(500));
    sw.ofctl_ok(&[
        "packet-out",
        &br,
        &format!(
            "in_port=1 packet={UDP} actions=mod_dl_dst:00:00:00:00:00:cc,controller(pause),output:3"
        ),
    ]);
    sleep(Duration::from_millis(1000));
    let mut seen = vec![m.text()];
    for p in ["c1", "c2", "c3"] {
        let frames = pcap_frames_or_empty(&sw.dir().join(format!("{p}.pcap")));
        seen.push(format!("{p}: {frames:02x?}"));
    }
    seen
}

#[test]
fn pauses_in_clone_action_sets_and_packet_outs_resume_as_on_open_vswitch() {
    let fvs = Fvs::start("pausec");
    let ours = corners(fvs.private(), Tool::OvsOfctl);
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = corners(&ovs, Tool::OvsOfctl);
    drop(ovs);
    assert!(
        theirs[0].matches("NXT_RESUME").count() == 3,
        "the oracle's monitor printed\n{}",
        theirs[0]
    );
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t);
    }
}

/// A pause seen by monitors that asked for the standard and the `NXT_PACKET_IN` formats,
/// which cannot carry a continuation: a plain packet-in each, and the packet goes no
/// further.
fn other_formats(sw: &dyn Switch) -> Vec<String> {
    let d2 = dummy(sw, "d2", 2);
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("d1", &["type=dummy", "ofport_request=1"])
            .port("d2", &strs(&d2))
            .args(),
    );
    let br = sw.mgmt_target("br0");
    sw.ofctl_ok(&[
        "add-flow",
        &br,
        "in_port=1,actions=load:0x3->NXM_NX_REG0[],controller(pause),output:2",
    ]);
    let start = |opts: &[&str], name: &str| {
        let out = sw.dir().join(name);
        let file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = require_tool("ovs-ofctl")
            .command()
            .env("OVS_RUNDIR", sw.dir())
            .args(opts)
            .args(["monitor", &br, "65000"])
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
        Monitor { child, out }
    };
    let a = start(&["-P", "standard"], "standard.out");
    let b = start(&["-O", "OpenFlow13", "-P", "nxt_packet_in"], "nxt.out");
    sleep(Duration::from_millis(800));
    sw.appctl_ok(&["netdev-dummy/receive", "d1", UDP]);
    sleep(Duration::from_millis(1000));
    let frames = pcap_frames_or_empty(&sw.dir().join("d2.pcap"));
    vec![a.text(), b.text(), format!("d2: {frames:02x?}")]
}

#[test]
fn pauses_reach_standard_and_nxt_packet_in_monitors_as_on_open_vswitch() {
    let fvs = Fvs::start("pausef");
    let ours = other_formats(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = other_formats(&ovs);
    drop(ovs);
    assert!(
        theirs[0].contains("OFPT_PACKET_IN") && theirs[1].contains("NXT_PACKET_IN"),
        "the oracle: {theirs:#?}"
    );
    assert_eq!(ours, theirs);
}

/// Gets a paused packet-in on a raw connection, then sends back: a continuation with an
/// unknown bridge, none at all, one with an unknown property, the real one as a slave
/// (accepted: any role may resume), and the real one after the bridge was deleted and
/// created again (stale).
fn bad_resumes(sw: &dyn Switch, v: Version) -> Vec<String> {
    let br = || {
        AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
    };
    sw.vsctl_ok(&br().args());
    add_flows(
        sw,
        &["-O", "OpenFlow13"],
        "br0",
        "table=0,in_port=1,actions=controller(pause),output:2\n",
    );
    let mgmt = sw.dir().join("br0.mgmt");
    let mut raw = Raw::open(&mgmt, v);
    raw.ask(&Message::Async(AsyncMsg::SetPacketInFormat(
        PacketInFormat::Nxt2,
    )));
    raw.ask(&Message::SetConfig(SwitchConfig {
        flags: 0,
        miss_send_len: 0xffff,
    }));
    sw.appctl_ok(&["netdev-dummy/receive", "p1", UDP]);
    let pin = loop {
        match raw.recv() {
            Message::Async(AsyncMsg::PacketIn(p)) => break p,
            Message::EchoRequest(_) => {}
            other => panic!("expected a packet-in, got {other:?}"),
        }
    };
    let raw_cont = pin.continuation.clone().unwrap_or_default();
    let good = Continuation::decode(&raw_cont, v).unwrap_or_else(|e| panic!("{e:?}"));
    let mut seen = Vec::new();
    let resume = |c: Option<Vec<u8>>| {
        let mut p = pin.clone();
        p.continuation = c;
        Message::Async(AsyncMsg::Resume(p))
    };
    let mut other_bridge = good.clone();
    other_bridge.bridge ^= 1;
    let encoded = |c: &Continuation| c.encode(v).unwrap_or_else(|e| panic!("{e}"));
    seen.push(raw.ask(&resume(Some(encoded(&other_bridge)))));
    seen.push(raw.ask(&resume(None)));
    let mut unknown = encoded(&good);
    unknown.extend([0x81, 0x00, 0x00, 0x08, 0, 0, 0, 0]);
    seen.push(raw.ask(&resume(Some(unknown))));
    // A slave resuming a good continuation.
    let role = Message::RoleRequest(RoleMsg {
        role: Role::Slave,
        generation_id: Some(1),
    });
    raw.ask(&role);
    seen.push(raw.ask(&resume(Some(encoded(&good)))));
    drop(raw);
    sw.vsctl_ok(&["del-br", "br0"]);
    sw.vsctl_ok(&br().args());
    common::wait_for(&mgmt);
    let mut raw = Raw::open(&mgmt, v);
    seen.push(raw.ask(&resume(Some(raw_cont))));
    seen.into_iter().map(|s| s.join("; ")).collect()
}

#[test]
fn bad_and_stale_continuations_get_open_vswitchs_errors() {
    for v in [Version::Of10, Version::Of13] {
        let fvs = Fvs::start("badres");
        let ours = bad_resumes(fvs.private(), v);
        drop(fvs);
        let ovs = PrivateOvs::start();
        let theirs = bad_resumes(&ovs, v);
        drop(ovs);
        assert!(
            theirs.iter().filter(|t| t.starts_with("error")).count() >= 4,
            "{v:?}: the oracle answered {theirs:#?}"
        );
        assert_eq!(ours, theirs, "{v:?}");
    }
}
