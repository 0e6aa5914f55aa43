//! Meters in the datapath, side by side with Open vSwitch 3.1's userspace datapath
//! (`--enable-dummy`, no root): a `pktps` meter and a `kbps` meter, each with a burst, limit
//! what a flow forwards between dummy ports, meter statistics count what entered and what
//! the drop band dropped, `ofproto/trace` reads the same, and deleting the meter deletes the
//! flow (announced, with reason `meter_delete`, to OpenFlow 1.4 controllers only). Two
//! datapath threads share one meter's bucket, and the `controller` meter limits packet-ins
//! without stopping the rest of a flow's actions.
//!
//! Not a timed test: the frames arrive in one `netdev-dummy/receive` call, far faster than
//! the meters' rates (one packet, or 8 kb, a second), so what passes is the burst, plus at
//! most one packet (or 8 kb) per second the test happens to take.

mod common;

use common::{appctl_outcome, ours_then_theirs};
use fvs_test_support::frames::{hex, ipv4_checksum, pcap_frames_or_empty};
use fvs_test_support::{AddBridge, Switch};

/// A UDP frame from 10.0.0.1 to 10.0.0.2 (60 bytes).
fn udp_frame() -> Vec<u8> {
    let mut f = vec![0x50, 0x54, 0, 0, 0, 7, 0x50, 0x54, 0, 0, 0, 5, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0, 1, 0, 2, 0, 26, 0, 0]);
    f.resize(60, 0);
    f
}

/// What one switch did: frames p2 sent, the meter statistics line's counters
/// (flow_count, packet_in_count, band packet_count), `ofproto/trace`'s text, and the flows
/// left after the meter's deletion.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    sent: usize,
    flow_count: u64,
    packet_in: u64,
    band_packets: u64,
    trace: String,
    flows_after_delete: String,
    /// Through the `kbps` meter: frames p2 sent, packets its band dropped.
    kbps_sent: usize,
    kbps_dropped: u64,
}

/// The number after `key:` in `text`.
fn counter(text: &str, key: &str) -> u64 {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

/// `meter-stats` of meter `id` once it has seen `n` packets (Open vSwitch's datapath may
/// still be at work when netdev-dummy/receive returns; a tenth of a second more lets the
/// last output leave), or as it is after 10 s.
fn settled_stats(ofctl: &dyn Fn(&[&str]) -> String, id: &str, n: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = ofctl(&["meter-stats", "br0", id]);
        if counter(&stats, "packet_in_count:") >= n || std::time::Instant::now() > deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            return stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

const BURST: usize = 5;
const FRAMES: usize = 30;
/// The 60-byte frames an 8 kb burst holds.
const KBPS_BURST: usize = 16;

fn run(sw: &dyn Switch) -> Seen {
    let pcap = sw.dir().join("p2.pcap");
    let tx = format!("options:tx_pcap={}", pcap.display());
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure", "protocols=OpenFlow13,OpenFlow15"])
            .port("p1", &["ofport_request=1"])
            .port("p2", &["ofport_request=2", &tx])
            .port("p3", &["ofport_request=3"])
            .args(),
    );
    let ofctl = |args: &[&str]| {
        let mut all = vec!["-O", "OpenFlow13"];
        all.extend_from_slice(args);
        sw.ofctl(&all)
            .unwrap_or_else(|e| panic!("ovs-ofctl {args:?}: {e}"))
    };
    ofctl(&[
        "add-meter",
        "br0",
        "meter=1,pktps,burst,stats,bands=type=drop,rate=1,burst_size=5",
    ]);
    ofctl(&["add-flow", "br0", "in_port=1,actions=meter:1,output:2"]);
    let frame = hex(&udp_frame());
    let mut args = vec!["netdev-dummy/receive", "p1"];
    args.extend(std::iter::repeat_n(frame.as_str(), FRAMES));
    let out = appctl_outcome(sw.appctl(&args));
    assert!(!out.starts_with("error"), "{out}");
    let stats = settled_stats(&ofctl, "meter=1", FRAMES as u64);
    let trace = appctl_outcome(sw.appctl(&[
        "ofproto/trace",
        "br0",
        "in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2",
    ]));
    ofctl(&["del-meter", "br0", "meter=1"]);
    let flows_after_delete = ofctl(&["dump-flows", "br0"]);
    let sent = pcap_frames_or_empty(&pcap).len();
    // 8 kb/s with a burst of 8 kb: 8000 bits are 16 frames of 60 bytes (480 bits).
    ofctl(&[
        "add-meter",
        "br0",
        "meter=2,kbps,burst,stats,bands=type=drop,rate=8,burst_size=8",
    ]);
    ofctl(&["add-flow", "br0", "in_port=3,actions=meter:2,output:2"]);
    let mut args = vec!["netdev-dummy/receive", "p3"];
    args.extend(std::iter::repeat_n(frame.as_str(), FRAMES));
    let out = appctl_outcome(sw.appctl(&args));
    assert!(!out.starts_with("error"), "{out}");
    let kbps_stats = settled_stats(&ofctl, "meter=2", FRAMES as u64);
    Seen {
        sent,
        kbps_sent: pcap_frames_or_empty(&pcap).len() - sent,
        kbps_dropped: counter(&kbps_stats, "packet_count:"),
        flow_count: counter(&stats, "flow_count:"),
        packet_in: counter(&stats, "packet_in_count:"),
        band_packets: counter(&stats, "packet_count:"),
        trace,
        flows_after_delete,
    }
}

#[test]
fn pktps_and_kbps_meters_pass_their_burst_and_count_as_open_vswitchs_datapath() {
    let (ours, theirs) = ours_then_theirs("meter", run);
    for (who, seen) in [("ferrovs", &ours), ("Open vSwitch", &theirs)] {
        assert!(
            (BURST..=BURST + 2).contains(&seen.sent),
            "{who} forwarded {} of {FRAMES} frames through a meter with a burst of {BURST}: {seen:?}",
            seen.sent
        );
        assert_eq!(seen.packet_in, FRAMES as u64, "{who}: {seen:?}");
        assert_eq!(
            seen.band_packets,
            FRAMES as u64 - seen.sent as u64,
            "{who}: the drop band counts what it dropped: {seen:?}"
        );
        assert_eq!(seen.flow_count, 1, "{who}: {seen:?}");
        assert!(
            (KBPS_BURST..=KBPS_BURST + 2).contains(&seen.kbps_sent),
            "{who} forwarded {} frames through a kbps meter with room for {KBPS_BURST}: {seen:?}",
            seen.kbps_sent
        );
        assert_eq!(
            seen.kbps_dropped,
            FRAMES as u64 - seen.kbps_sent as u64,
            "{who}: {seen:?}"
        );
    }
    assert_eq!(ours.trace, theirs.trace);
    assert!(
        theirs.trace.contains("    meter:1\n")
            && theirs.trace.ends_with("Datapath actions: meter(0),2\n"),
        "{}",
        theirs.trace
    );
    assert_eq!(ours.flows_after_delete, theirs.flows_after_delete);
    assert!(
        !ours.flows_after_delete.contains("meter"),
        "{}",
        ours.flows_after_delete
    );
}

/// What monitors in OpenFlow 1.0, 1.3 and 1.4 print when a meter is deleted with a flow
/// naming it (`send_flow_rem`): the flow-removed lines, durations blanked.
fn meter_delete_removals(sw: &dyn Switch) -> Vec<String> {
    common::add_group_bridge(sw);
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-meter",
        "br0",
        "meter=4,kbps,bands=type=drop,rate=100",
    ]);
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-flow",
        "br0",
        "priority=40,send_flow_rem,actions=meter:4,output:2",
    ]);
    common::flow_removals_during(sw, &["-O", "OpenFlow14", "del-meters", "br0"])
}

#[test]
fn deleting_a_meter_removes_its_flows_with_reason_meter_delete_as_open_vswitch() {
    let (ours, theirs) = ours_then_theirs("meterrm", meter_delete_removals);
    assert_eq!(ours, theirs);
    assert!(theirs[0].is_empty() && theirs[1].is_empty(), "{theirs:?}");
    assert!(theirs[2].contains("reason=meter_delete"), "{theirs:?}");
}

/// What a switch did with a `controller` meter of one packet a second (no burst: the bucket
/// holds one packet) and a flow sending each frame to the controller and to p2: packet-ins
/// an OpenFlow 1.3 monitor got, frames p2 sent, and the trace's datapath actions with
/// Open vSwitch's frozen-state number masked (ferrovs has none).
fn controller_meter(sw: &dyn Switch) -> (usize, usize, String) {
    let pcap = sw.dir().join("p2.pcap");
    let tx = format!("options:tx_pcap={}", pcap.display());
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure", "protocols=OpenFlow13"])
            .port("p1", &["ofport_request=1"])
            .port("p2", &["ofport_request=2", &tx])
            .args(),
    );
    let o13 = |args: &[&str]| {
        let mut all = vec!["-O", "OpenFlow13"];
        all.extend_from_slice(args);
        sw.ofctl_ok(&all);
    };
    o13(&[
        "add-meter",
        "br0",
        "meter=controller,pktps,bands=type=drop,rate=1",
    ]);
    o13(&["add-flow", "br0", "in_port=1,actions=controller,output:2"]);
    let target = sw.mgmt_target("br0");
    let monitor =
        common::OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow13"], &target, &["65000"], "pin");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let frame = hex(&udp_frame());
    let mut args = vec!["netdev-dummy/receive", "p1"];
    args.extend(std::iter::repeat_n(frame.as_str(), FRAMES));
    let out = appctl_outcome(sw.appctl(&args));
    assert!(!out.starts_with("error"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(700));
    // `NXT_PACKET_IN2` is what a monitor of either switch gets.
    let packet_ins = monitor.text().matches("PACKET_IN").count();
    let trace = appctl_outcome(sw.appctl(&["ofproto/trace", "br0", "in_port=1,udp"]));
    let actions = trace
        .lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("no datapath actions in {trace}"));
    let masked = match actions.split_once("recirc_id=") {
        Some((a, b)) => format!(
            "{a}recirc_id=N{}",
            b.trim_start_matches(|c: char| c.is_ascii_digit())
        ),
        None => actions.to_owned(),
    };
    (packet_ins, pcap_frames_or_empty(&pcap).len(), masked)
}

#[test]
fn the_controller_meter_limits_packet_ins_only_as_open_vswitchs() {
    let (ours, theirs) = ours_then_theirs("ctlmeter", controller_meter);
    assert_eq!(ours.2, theirs.2);
    assert!(
        theirs
            .2
            .starts_with("sample(sample=100.0%,actions(meter(0),userspace("),
        "{theirs:?}"
    );
    for (who, (packet_ins, sent, _)) in [("ferrovs", &ours), ("Open vSwitch", &theirs)] {
        assert_eq!(*sent, FRAMES, "{who}: every frame still goes to p2");
        assert!(
            (1..=3).contains(packet_ins),
            "{who}: {packet_ins} packet-ins through a controller meter of one packet"
        );
    }
}

/// Frames p2 forwarded, and the meter's input and band counts, when ports polled by two
/// different datapath threads (`pmd-cpu-mask=0x3`, `p1` on core 0 and `p3` on core 1) send
/// 10 frames each through flows charging one `pktps` meter with a burst of 5.
fn two_threads_one_meter(sw: &dyn Switch) -> (usize, u64, u64) {
    sw.vsctl_ok(&["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x3"]);
    let pcap = sw.dir().join("p2.pcap");
    let tx = format!("options:tx_pcap={}", pcap.display());
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                "datapath_type=netdev",
                "fail_mode=secure",
                "protocols=OpenFlow13",
            ])
            .port(
                "p1",
                &[
                    "type=dummy-pmd",
                    "ofport_request=1",
                    "other_config:pmd-rxq-affinity=0:0",
                ],
            )
            .port("p2", &["type=dummy-pmd", "ofport_request=2", &tx])
            .port(
                "p3",
                &[
                    "type=dummy-pmd",
                    "ofport_request=3",
                    "other_config:pmd-rxq-affinity=0:1",
                ],
            )
            .args(),
    );
    let o13 = |args: &[&str]| {
        let mut all = vec!["-O", "OpenFlow13"];
        all.extend_from_slice(args);
        sw.ofctl_ok(&all)
    };
    o13(&[
        "add-meter",
        "br0",
        "meter=1,pktps,burst,stats,bands=type=drop,rate=1,burst_size=5",
    ]);
    o13(&["add-flow", "br0", "in_port=1,actions=meter:1,output:2"]);
    o13(&["add-flow", "br0", "in_port=3,actions=meter:1,output:2"]);
    let frame = hex(&udp_frame());
    for port in ["p1", "p3"] {
        let mut args = vec!["netdev-dummy/receive", port];
        args.extend(std::iter::repeat_n(frame.as_str(), 10));
        let out = appctl_outcome(sw.appctl(&args));
        assert!(!out.starts_with("error"), "{out}");
    }
    // The threads work on their own: wait until the meter has seen all 20.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = o13(&["meter-stats", "br0", "meter=1"]);
        let input = counter(&stats, "packet_in_count:");
        if input == 20 || std::time::Instant::now() > deadline {
            return (
                pcap_frames_or_empty(&pcap).len(),
                input,
                counter(&stats, "packet_count:"),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn datapath_threads_share_one_meter_as_open_vswitchs_pmd_threads_do() {
    let (ours, theirs) = ours_then_theirs("pmdmeter", two_threads_one_meter);
    for (who, (sent, input, dropped)) in [("ferrovs", ours), ("Open vSwitch", theirs)] {
        assert!(
            (BURST..=BURST + 2).contains(&sent),
            "{who} forwarded {sent} of 20 frames from two threads through one meter with a burst of {BURST}"
        );
        assert_eq!(input, 20, "{who}");
        assert_eq!(dropped, 20 - sent as u64, "{who}");
    }
}

/// Meter counters (packets in, packets dropped) after 10 frames through a burst of 3, right
/// after `mod-meter` gives it a burst of 4, and after 10 more frames.
fn modified_meter(sw: &dyn Switch) -> Vec<(u64, u64)> {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure", "protocols=OpenFlow13"])
            .port("p1", &["ofport_request=1"])
            .port("p2", &["ofport_request=2"])
            .args(),
    );
    let o13 = |args: &[&str]| {
        let mut all = vec!["-O", "OpenFlow13"];
        all.extend_from_slice(args);
        sw.ofctl_ok(&all)
    };
    let meter =
        |burst: u32| format!("meter=2,pktps,burst,stats,bands=type=drop,rate=1,burst_size={burst}");
    o13(&["add-meter", "br0", &meter(3)]);
    o13(&["add-flow", "br0", "in_port=1,actions=meter:2,output:2"]);
    let frame = hex(&udp_frame());
    let send = || {
        let mut args = vec!["netdev-dummy/receive", "p1"];
        args.extend(std::iter::repeat_n(frame.as_str(), 10));
        let out = appctl_outcome(sw.appctl(&args));
        assert!(!out.starts_with("error"), "{out}");
    };
    // The counters once the meter has seen `n` packets (Open vSwitch's datapath may still be
    // at work when netdev-dummy/receive returns), or as they are after 10 s.
    let counts = |n: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let stats = o13(&["meter-stats", "br0", "meter=2"]);
            let seen = (
                counter(&stats, "packet_in_count:"),
                counter(&stats, "packet_count:"),
            );
            if seen.0 >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    send();
    let first = counts(10);
    o13(&["mod-meter", "br0", &meter(4)]);
    let modified = counts(0);
    send();
    vec![first, modified, counts(10)]
}

#[test]
fn mod_meter_starts_the_meter_afresh_as_open_vswitch() {
    let (ours, theirs) = ours_then_theirs("modmeter", modified_meter);
    for (who, seen) in [("ferrovs", &ours), ("Open vSwitch", &theirs)] {
        assert_eq!(seen[1], (0, 0), "{who}: counters restart: {seen:?}");
        // A full new bucket: 4 pass (one more if a second went by).
        assert!(
            seen[0].0 == 10 && (6..=7).contains(&seen[0].1),
            "{who}: {seen:?}"
        );
        assert!(
            seen[2].0 == 10 && (5..=6).contains(&seen[2].1),
            "{who}: {seen:?}"
        );
    }
}
