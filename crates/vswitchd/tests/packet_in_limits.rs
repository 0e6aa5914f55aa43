//! What limits packet-ins, against Open vSwitch 3.1.
//!
//! - `controller_rate_limit`/`controller_burst_limit`: a controller of ours (a Unix socket
//!   in the switch's run directory, `unix:` target) is sent 100 packet-ins at once with a
//!   limit of 100 per second and a burst of 25; it must receive about as many as from
//!   ovs-vswitchd (the burst at once, then the queued burst at the rate, the rest dropped),
//!   and the Controller row's `status` must carry the same `packet-in-*` counters.
//! - `NO_PACKET_IN` (`ovs-ofctl mod-port ... no-packet-in`): Open vSwitch 3.1 records it and
//!   shows it, but still sends the port's packet-ins (explicit `controller` actions and
//!   table misses alike); so does fvs-vswitchd.
//! - Which bridge's controllers: a `controller` action in a patch port's peer bridge sends
//!   the packet-in to the peer's controllers, not to those of the bridge it came in on.

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::openflow::Peer;
use fvs_test_support::{AddBridge, Switch, require_tool};

/// A UDP frame from 192.168.0.1 to 192.168.`i`.2 (distinct frames, distinct flows).
fn frame(i: u32) -> String {
    format!(
        "0000000000020000000000010800450000140000000040110000c0a80001c0a8{:02x}02",
        i % 250
    )
}

/// The Controller row's `status` as a map.
fn status(sw: &dyn Switch) -> BTreeMap<String, String> {
    let text = sw.vsctl_ok(&["get", "controller", "br0", "status"]);
    text.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// 100 packet-ins at once through a controller limited to 100/s with a burst of 25: how
/// many arrive, and the `packet-in-*` status counters.
fn rate_limited(sw: &dyn Switch) -> (usize, BTreeMap<String, String>) {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .args(),
    );
    sw.ofctl_ok(&[
        "add-flow",
        &sw.mgmt_target("br0"),
        "in_port=1,actions=controller",
    ]);
    let mut c = Peer::controller(
        sw,
        &["controller_rate_limit=100", "controller_burst_limit=25"],
    );
    let mut args = vec!["netdev-dummy/receive".to_owned(), "p1".to_owned()];
    args.extend((0..100).map(frame));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.appctl_ok(&args);
    let n = c.read_for(Duration::from_millis(1500)).packet_ins;
    // Open vSwitch refreshes the row's statistics every few seconds: wait for them (the
    // controller keeps answering probes meanwhile).
    let start = Instant::now();
    let counters = loop {
        let counters: BTreeMap<String, String> = status(sw)
            .into_iter()
            .filter(|(k, _)| k.starts_with("packet-in-"))
            .collect();
        let settled = counters
            .get("packet-in-miss-bypassed")
            .is_some_and(|v| v != "0")
            && counters
                .get("packet-in-miss-backlog")
                .is_some_and(|v| v == "0");
        if settled || start.elapsed() > Duration::from_secs(15) {
            break counters;
        }
        c.read_for(Duration::from_millis(500));
    };
    (n, counters)
}

#[test]
fn controller_rate_limit_lets_through_and_counts_as_open_vswitch_does() {
    let ((ours, our_status), (theirs, their_status)) =
        common::ours_then_theirs("rate", rate_limited);
    assert!(
        (40..=60).contains(&theirs),
        "the oracle's controller got {theirs} packet-ins"
    );
    assert!(
        ours.abs_diff(theirs) <= 5,
        "ours got {ours} packet-ins, Open vSwitch's {theirs}"
    );
    assert_eq!(
        our_status.keys().collect::<Vec<_>>(),
        their_status.keys().collect::<Vec<_>>()
    );
    for (k, t) in &their_status {
        let t: i64 = t.parse().unwrap_or(-1);
        let o: i64 = our_status
            .get(k)
            .and_then(|o| o.parse().ok())
            .unwrap_or(-100);
        assert!(
            (o - t).abs() <= 5,
            "{k}: ours {o}, Open vSwitch's {t}\nours {our_status:?}\ntheirs {their_status:?}"
        );
    }
}

/// `ovs-ofctl monitor br0 65000` on `sw`; killed on drop.
struct Monitor {
    child: Child,
    out: std::path::PathBuf,
}

impl Monitor {
    fn start(sw: &dyn Switch) -> Self {
        Self::on(sw, "br0")
    }

    fn on(sw: &dyn Switch, bridge: &str) -> Self {
        let out = sw.dir().join(format!("{bridge}-monitor.out"));
        let file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = require_tool("ovs-ofctl")
            .command()
            .env("OVS_RUNDIR", sw.dir())
            .args(["monitor", &sw.mgmt_target(bridge), "65000"])
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
        sleep(Duration::from_millis(700));
        Self { child, out }
    }

    fn packet_ins(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("PACKET_IN"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ARP: &str =
    "ffffffffffff00000000000108060001080006040001000000000001c0a80001000000000000c0a80002";

fn no_packet_in(sw: &dyn Switch) -> Vec<String> {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .port("p2", &["type=dummy", "ofport_request=2"])
            .args(),
    );
    let br = sw.mgmt_target("br0");
    sw.ofctl_ok(&["mod-port", &br, "p1", "no-packet-in"]);
    sw.ofctl_ok(&["add-flow", &br, "ip,actions=controller"]);
    let m = Monitor::start(sw);
    for port in ["p1", "p2"] {
        // An explicit controller action, then a table miss (to an OpenFlow 1.0 monitor).
        sw.appctl_ok(&["netdev-dummy/receive", port, &frame(1)]);
        sw.appctl_ok(&["netdev-dummy/receive", port, ARP]);
    }
    sleep(Duration::from_millis(800));
    let mut seen = m.packet_ins();
    let desc = sw.ofctl_ok(&["dump-ports-desc", &br]);
    seen.extend(
        desc.lines()
            .filter(|l| l.contains("config:"))
            .map(str::to_owned),
    );
    seen
}

#[test]
fn no_packet_in_is_shown_and_packet_ins_still_go_as_on_open_vswitch() {
    let (ours, theirs) = common::ours_then_theirs("nopin", no_packet_in);
    assert!(
        theirs.iter().any(|l| l.contains("NO_PACKET_IN"))
            && theirs.iter().filter(|l| l.contains("PACKET_IN2")).count() == 4,
        "the oracle: {theirs:#?}"
    );
    assert_eq!(ours, theirs);
}

/// A `controller` action in `br1`, reached from `br0` through a patch port: what each
/// bridge's monitor gets.
fn through_patch(sw: &dyn Switch) -> Vec<Vec<String>> {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .port(
                "patch0",
                &["type=patch", "options:peer=patch1", "ofport_request=10"],
            )
            .args(),
    );
    sw.vsctl_ok(
        &AddBridge::new("br1")
            .set(&["fail_mode=secure"])
            .port(
                "patch1",
                &["type=patch", "options:peer=patch0", "ofport_request=11"],
            )
            .args(),
    );
    sw.ofctl_ok(&[
        "add-flow",
        &sw.mgmt_target("br0"),
        "in_port=1,actions=output:10",
    ]);
    sw.ofctl_ok(&[
        "add-flow",
        &sw.mgmt_target("br1"),
        "in_port=11,actions=load:0x7->NXM_NX_REG1[],controller",
    ]);
    let m0 = Monitor::on(sw, "br0");
    let m1 = Monitor::on(sw, "br1");
    sw.appctl_ok(&["netdev-dummy/receive", "p1", &frame(1)]);
    sleep(Duration::from_millis(800));
    vec![m0.packet_ins(), m1.packet_ins()]
}

#[test]
fn packet_ins_from_a_patch_peer_go_to_the_peers_controllers_as_on_open_vswitch() {
    let (ours, theirs) = common::ours_then_theirs("peer", through_patch);
    assert!(
        theirs[0].is_empty() && theirs[1].len() == 1,
        "the oracle: {theirs:#?}"
    );
    assert_eq!(ours, theirs);
}
