//! Flow monitors as Open vSwitch's own client sees them: `ovs-ofctl monitor BRIDGE watch:...`
//! on fvs-vswitchd and on ovs-vswitchd, configured alike, prints the same updates for the same
//! scripted changes: the initial listing, add-flow, mod-flows, a strict delete, a bundle, rules
//! expiring by their hard and idle timeouts, and a rule a `learn` action creates when a frame enters
//! through `netdev-dummy/receive`. Monitors in OpenFlow 1.0 and 1.1 (Nicira's form), 1.3 (ONF's),
//! 1.4 and 1.5 (`OFPMP_FLOW_MONITOR`), and with options (`!initial`, `table=`, a match,
//! `out_port=`, `!actions`, two monitors on one connection). A malformed monitor request gets the error Open vSwitch sends,
//! and the connection lives on.
//!
//! Durations differ between runs and are masked; each reply's updates are sorted, since
//! the order in which one delete or modify reports several rules is Open vSwitch's
//! classifier's hash order.

mod common;

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use common::{Fvs, OfctlMonitor};
use fvs_openflow::FlowModCommand;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::flow_monitor::{
    FlowMonitorMsg, FlowMonitorRequest, MonitorCommand, MonitorFlags, MonitorId,
};
use fvs_openflow::wire::{self, Hello, Message, Version};
use fvs_test_support::{
    PrivateOvs, SEED_BR_TUN_FLOWS_PATH, SEED_BR_TUN_VSCTL, Switch, ofp_print, require_tool,
};

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
fn ofctl_monitor(sw: &dyn Switch, opts: &[&str], watch: &str, name: &str) -> OfctlMonitor {
    // Several monitors on one connection: one argument each.
    let watches: Vec<&str> = watch.split(' ').collect();
    OfctlMonitor::start(sw.dir(), opts, &sw.mgmt_target("br0"), &watches, name)
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
                // `duration=1.5s` in flow statistics, `duration1.012s` in flow-removed messages.
                if w.starts_with("duration") && w.ends_with('s') {
                    "duration?"
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

const MONITORS: [(&[&str], &str, &str); 12] = [
    // Flow-removed messages too (a miss_send_len): they follow the monitor's updates.
    (&[], "65000 watch:!initial", "withfr"),
    (&["-O", "OpenFlow11"], "watch:", "of11"),
    (&[], "watch:", "of10"),
    (&["-O", "OpenFlow13"], "watch:", "of13"),
    (&["-O", "OpenFlow14"], "watch:", "of14"),
    (&["-O", "OpenFlow15"], "watch:", "of15"),
    (&[], "watch:!initial", "noinit"),
    (&["-O", "OpenFlow14"], "watch:table=1", "table"),
    (&[], "watch:tcp", "tcp"),
    (&["-O", "OpenFlow13"], "watch:out_port=2", "outport"),
    (&[], "watch:!actions,!own", "noact"),
    (&["-O", "OpenFlow14"], "watch:tcp watch:ip,!actions", "two"),
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
    std::fs::write(
        sw.dir().join("bundle.txt"),
        "priority=8,icmp,actions=output:3\ntable=1,priority=8,icmp,actions=output:2\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Present before the monitors start: their initial listing.
    ok(&[
        "add-flow",
        "br0",
        "priority=5,ip,send_flow_rem,actions=output:1",
    ]);
    ok(&["add-flow", "br0", "table=1,priority=3,arp,actions=output:2"]);
    let monitors: Vec<OfctlMonitor> = MONITORS
        .iter()
        .map(|(opts, watch, name)| ofctl_monitor(sw, opts, watch, name))
        .collect();
    sleep(Duration::from_millis(1000));
    ok(&[
        "add-flow",
        "br0",
        "priority=7,tcp,hard_timeout=1,send_flow_rem,actions=output:1",
    ]);
    ok(&[
        "add-flow",
        "br0",
        "priority=3,sctp,idle_timeout=2,actions=output:3",
    ]);
    ok(&["mod-flows", "br0", "ip,actions=output:2"]);
    // The same actions again change nothing; a new cookie alone is a modification.
    ok(&["mod-flows", "br0", "ip,actions=output:2"]);
    ok(&["mod-flows", "br0", "cookie=0x7,tcp,actions=output:2"]);
    ok(&["add-flow", "br0", "table=1,priority=4,tcp,actions=output:3"]);
    ok(&["--strict", "del-flows", "br0", "priority=5,ip"]);
    // Two flow-mods in one bundle: their changes come as one reply.
    ok(&[
        "-O",
        "OpenFlow14",
        "--bundle",
        "add-flows",
        "br0",
        &sw.dir().join("bundle.txt").to_string_lossy(),
    ]);
    ok(&[
        "add-flow",
        "br0",
        "priority=9,udp,actions=learn(table=2,priority=1,hard_timeout=60,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:3",
    ]);
    sw.appctl_ok(&["netdev-dummy/receive", "p1", FRAME]);
    // The timeouts pass, a second apart (two rules expiring in one pass of Open vSwitch's
    // would come in its order); revalidation (ours, and Open vSwitch's) reports them.
    sleep(Duration::from_millis(3500));
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

/// One OpenFlow session on `sw`'s br0 management socket in `version`: after the hellos,
/// sends each message, then a barrier, and returns every message received up to the
/// barrier's reply, as `ovs-ofctl ofp-print` prints it.
fn session(sw: &dyn Switch, version: Version, msgs: &[Vec<u8>]) -> Vec<String> {
    use std::io::{Read, Write};
    let path = sw.mgmt_target("br0");
    let path = path.strip_prefix("unix:").unwrap_or(&path).to_owned();
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .unwrap_or_else(|e| panic!("connect {path}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let send = |s: &mut std::os::unix::net::UnixStream, m: &Message, xid: u32| {
        let b = wire::encode(m, version.default_protocol(), xid).unwrap_or_else(|e| panic!("{e}"));
        s.write_all(&b).unwrap_or_else(|e| panic!("{e}"));
    };
    send(&mut s, &Message::Hello(Hello { bitmap: None }), 1);
    for m in msgs {
        s.write_all(m).unwrap_or_else(|e| panic!("{e}"));
        // One at a time, so that the switch answers in a settled order.
        sleep(Duration::from_millis(100));
    }
    send(&mut s, &Message::BarrierRequest, 0xbb);
    let mut got = Vec::new();
    let mut buf = Vec::new();
    loop {
        while buf.len() >= 8 {
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if len < 8 || buf.len() < len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..len).collect();
            let xid = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
            // The hello, and the barrier reply that ends the session.
            if msg[1] == 0 {
                continue;
            }
            if xid == 0xbb {
                return got;
            }
            // Without the timestamps of ovs-ofctl's own log lines.
            let text = ofp_print(&msg);
            let printed: Vec<&str> = text
                .lines()
                .map(|l| match l.split_once('|') {
                    Some((stamp, rest)) if stamp.ends_with('Z') => rest,
                    _ => l,
                })
                .collect();
            got.push(printed.join("\n"));
        }
        let mut chunk = [0u8; 4096];
        let n = s
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("reading: {e}"));
        assert!(n > 0, "the switch closed the connection; so far: {got:#?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn flow_mod(text: &str, version: Version, xid: u32) -> Vec<u8> {
    let (fm, _) = parse_flow_mod(text, FlowModCommand::Add).unwrap_or_else(|e| panic!("{e}"));
    // OpenFlow 1.0's standard flow-mod: the session never asked for NXM.
    let protocol = if version == Version::Of10 {
        Protocol::Of10Std
    } else {
        version.default_protocol()
    };
    wire::encode(&Message::FlowMod(Box::new(fm)), protocol, xid).unwrap_or_else(|e| panic!("{e}"))
}

fn monitor(version: Version, xid: u32, id: u32, own: bool) -> Vec<u8> {
    let flags = MonitorFlags {
        own,
        ..MonitorFlags::ALL
    };
    let req = FlowMonitorRequest::new(MonitorId(id), flags);
    let m = Message::FlowMonitor(FlowMonitorMsg::Request(vec![req]));
    wire::encode(&m, version.default_protocol(), xid).unwrap_or_else(|e| panic!("{e}"))
}

/// Opens bundle 1 (xid `xid`), adds one flow-mod per flow (the next xids), commits it.
fn bundle(version: Version, xid: u32, flows: &[&str]) -> Vec<Vec<u8>> {
    use fvs_openflow::wire::bundle::{
        BundleAdd, BundleCtrl, BundleCtrlType, BundleFlags, BundleMsg,
    };
    let p = version.default_protocol();
    let flags = BundleFlags::default();
    let ctrl = |r#type, xid| {
        let m = Message::Bundle(BundleMsg::Control(BundleCtrl {
            bundle_id: 1,
            r#type,
            flags,
        }));
        wire::encode(&m, p, xid).unwrap_or_else(|e| panic!("{e}"))
    };
    let mut out = vec![ctrl(BundleCtrlType::OpenRequest, xid)];
    let mut next = xid;
    for f in flows {
        next += 1;
        let m = Message::Bundle(BundleMsg::Add(BundleAdd {
            bundle_id: 1,
            flags,
            message: flow_mod(f, version, next),
        }));
        out.push(wire::encode(&m, p, next).unwrap_or_else(|e| panic!("{e}")));
    }
    out.push(ctrl(BundleCtrlType::CommitRequest, next + 1));
    out
}

/// Whether `printed` is an error that does not answer one of the session's requests by its
/// xid (all are below 0x100): Open vSwitch's bare answer to a failed monitor request, or
/// the bytes of some other buffer it sometimes sends in its place.
fn is_bare_error(printed: &str) -> bool {
    let Some(rest) = printed.strip_prefix("OFPT_ERROR") else {
        return false;
    };
    let xid = rest
        .split_once("(xid=0x")
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(x, _)| u64::from_str_radix(x, 16).ok());
    xid.is_none_or(|x| x == 0 || x >= 0x100)
}

/// `session` with every bare error (see [`is_bare_error`]) reduced to the fact that one came.
fn bare_errors(session: &[String]) -> Vec<String> {
    session
        .iter()
        .map(|m| {
            if is_bare_error(m) {
                "OFPT_ERROR without the request".to_owned()
            } else {
                m.clone()
            }
        })
        .collect()
}

/// The session every version runs: a monitor without `own`, this connection's own add (an
/// abbreviated update), the same monitor id again, a cancel of an unknown id, flags asking
/// for no change, a truncated
/// request, a second monitor with `own` (now the own change comes in full), a cancel, a
/// bundle (1.3+), another add; the barrier at the end shows the connection lived through the errors.
fn own_and_errors(sw: &dyn Switch, version: Version) -> Vec<String> {
    let mut truncated = monitor(version, 0x30, 5, true);
    truncated.truncate(truncated.len() - 4);
    let len = u16::try_from(truncated.len()).unwrap_or(u16::MAX);
    truncated[2..4].copy_from_slice(&len.to_be_bytes());
    let cancel = |id, xid| {
        wire::encode(
            &Message::FlowMonitor(FlowMonitorMsg::Cancel(MonitorId(id))),
            version.default_protocol(),
            xid,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut msgs = vec![
        monitor(version, 0x10, 1, false),
        flow_mod("priority=5,ip,actions=output:1", version, 0x11),
    ];
    // A monitor id in use, and a cancel of an unknown id (in 1.4+ a request too). Open
    // vSwitch 3.1 answers a failed monitor request with an error of xid 0 and no data, as
    // ferrovs does, but sometimes with bytes of other buffers instead (its header too): see
    // `bare_errors`.
    msgs.push(monitor(version, 0x12, 1, true));
    msgs.push(cancel(9, 0x13));
    // 1.4's modify replaces a monitor's settings, and lists again when asked.
    if version >= Version::Of14 {
        let req = FlowMonitorRequest {
            command: MonitorCommand::Modify,
            ..FlowMonitorRequest::new(MonitorId(1), MonitorFlags::ALL)
        };
        let m = Message::FlowMonitor(FlowMonitorMsg::Request(vec![req]));
        msgs.push(
            wire::encode(&m, version.default_protocol(), 0x18).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    // Flags that ask for no kind of change (refused like a monitor id in use).
    let initial_only = FlowMonitorRequest::new(
        MonitorId(6),
        MonitorFlags {
            initial: true,
            ..MonitorFlags::default()
        },
    );
    let m = Message::FlowMonitor(FlowMonitorMsg::Request(vec![initial_only]));
    msgs.push(wire::encode(&m, version.default_protocol(), 0x19).unwrap_or_else(|e| panic!("{e}")));
    msgs.extend([
        truncated,
        monitor(version, 0x14, 2, true),
        flow_mod("priority=6,tcp,actions=output:2", version, 0x15),
        cancel(2, 0x16),
    ]);
    // A bundle of two adds from this connection (OpenFlow 1.3's ONF bundles, 1.4's own).
    if version >= Version::Of13 {
        msgs.extend(bundle(
            version,
            0x40,
            &[
                "priority=9,icmp,actions=drop",
                "priority=9,arp,actions=drop",
            ],
        ));
    }
    msgs.extend([flow_mod("priority=7,udp,actions=output:2", version, 0x17)]);
    sw.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "fail_mode=secure",
    ]);
    let out = session(sw, version, &msgs);
    sw.vsctl_ok(&["del-br", "br0"]);
    out
}

#[test]
fn own_changes_and_bad_monitor_requests_are_answered_as_open_vswitch_answers() {
    let versions = [Version::Of10, Version::Of13, Version::Of14];
    let fvs = Fvs::start("fmown");
    let ours: Vec<Vec<String>> = versions
        .iter()
        .map(|v| own_and_errors(fvs.private(), *v))
        .collect();
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs: Vec<Vec<String>> = versions.iter().map(|v| own_and_errors(&ovs, *v)).collect();
    drop(ovs);
    for ((v, o), t) in versions.iter().zip(&ours).zip(&theirs) {
        if std::env::var_os("FVS_SHOW").is_some() {
            eprintln!("{v} ours: {o:#?}\ntheirs: {t:#?}");
        }
        // Ours are exactly Open vSwitch's stable answer: xid 0, the error, no data.
        let bare: Vec<&String> = o.iter().filter(|m| is_bare_error(m)).collect();
        let want: Vec<String> = {
            let names = if *v >= Version::Of14 {
                &[
                    "OFPMOFC_MONITOR_EXISTS",
                    "OFPMOFC_UNKNOWN_MONITOR",
                    "OFPMOFC_BAD_FLAGS",
                ][..]
            } else {
                &["OFPMOFC_MONITOR_EXISTS", "OFPMOFC_BAD_FLAGS"][..]
            };
            let tag = match v {
                Version::Of10 => String::new(),
                v => format!(" (OF1.{})", v.wire() - 1),
            };
            names
                .iter()
                .map(|n| format!("OFPT_ERROR{tag} (xid=0x0): {n}\nOpenFlow message is empty"))
                .collect()
        };
        assert_eq!(bare, want.iter().collect::<Vec<_>>(), "{v}: ours");
        let (o, t) = (bare_errors(o), bare_errors(t));
        assert!(
            t.iter().any(|m| m.contains("event=ABBREV xid=0x11")),
            "{v}: Open vSwitch sent no abbreviated update: {t:#?}"
        );
        assert_eq!(o, t, "{v}: fvs-vswitchd (left), ovs-vswitchd (right)");
    }
}

/// The seed's br-tun: its flows listed to a monitor, then the rule its table-10 `learn`
/// writes into table 20 when the far host's reply comes through the tunnel (a packet traced
/// with `-generate`, which runs the `learn` as a received packet would), a second such
/// packet (which only refreshes the rule: no update), then the learned rules deleted.
fn seed_learning(sw: &dyn Switch) -> Vec<(String, String)> {
    for c in SEED_BR_TUN_VSCTL {
        sw.vsctl_ok(c);
    }
    let target = sw.mgmt_target("br-tun");
    let (ok, out) = run_ofctl(
        sw.dir(),
        &target,
        &["add-flows", &target, SEED_BR_TUN_FLOWS_PATH],
    );
    assert!(ok, "add-flows: {out}");
    let specs = [
        ("watch:", "all"),
        ("watch:table=20", "t20"),
        ("watch:!initial,!actions", "bare"),
    ];
    let monitors: Vec<OfctlMonitor> = specs
        .iter()
        .map(|(watch, name)| {
            OfctlMonitor::start(sw.dir(), &[], &target, &[watch], &format!("seed-{name}"))
        })
        .collect();
    sleep(Duration::from_millis(1000));
    let reply = "in_port=2,tun_id=0x1,tun_src=10.0.1.21,tun_dst=10.0.1.31,arp,arp_op=2,\
                 dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:01";
    for _ in 0..2 {
        sw.appctl_ok(&["ofproto/trace", "br-tun", reply, "-generate"]);
        sleep(Duration::from_millis(600));
    }
    let (ok, out) = run_ofctl(sw.dir(), &target, &["del-flows", &target, "table=20"]);
    assert!(ok, "del-flows: {out}");
    sleep(Duration::from_millis(800));
    specs
        .iter()
        .zip(&monitors)
        .map(|((watch, _), m)| ((*watch).to_owned(), normalised(&m.text())))
        .collect()
}

#[test]
fn the_seed_br_tun_learning_is_reported_as_on_open_vswitch() {
    let fvs = Fvs::start("fmseed");
    let ours = seed_learning(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = seed_learning(&ovs);
    drop(ovs);
    for ((name, o), (_, t)) in ours.iter().zip(&theirs) {
        assert!(
            t.contains("event=ADDED table=20"),
            "{name}: Open vSwitch reported no learned rule:\n{t}"
        );
        assert_eq!(o, t, "{name}: fvs-vswitchd (left), ovs-vswitchd (right)");
    }
}
