//! A peer that stops reading, against Open vSwitch 3.1.
//!
//! - A controller (ours: a Unix socket in the switch's run directory, `unix:` target,
//!   `controller_queue_size=20`) stops reading while 1,500 frames each make a packet-in,
//!   and sends an echo request now and then. Meanwhile the switch keeps forwarding (the
//!   flow's counters, read by `ovs-ofctl dump-flows` on another connection, which is
//!   served), the controller stays connected for longer than the old write timeout, and
//!   once it reads again it gets every echo reply and about as many packet-ins as from
//!   ovs-vswitchd: what the socket's buffer held, plus the queue's 20; the rest are dropped and
//!   counted as `rconn_overflow` in `coverage/show` on both.
//! - A flow monitor whose reader stalls while thousands of flows are added gets `PAUSED` at
//!   about the same place as from ovs-vswitchd; once it reads again, the re-listing of
//!   every flow added since the pause, and `RESUMED`, as from ovs-vswitchd.
//! - A peer that sends echo requests and never reads the replies can send about as many
//!   before its socket is full as to ovs-vswitchd: both stop reading requests while 100
//!   replies wait.

mod common;

use std::io::{ErrorKind, Write};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::openflow::{Peer, Seen};
use fvs_openflow::wire::flow_monitor::{
    FlowMonitorMsg, FlowMonitorRequest, MonitorFlags, MonitorId,
};
use fvs_openflow::wire::{self, Message, Version};
use fvs_test_support::{AddBridge, Switch};

/// A 1,000-byte UDP frame from 192.168.0.1 to 192.168.`i`.2.
fn frame(i: u32) -> String {
    let head = format!(
        "0000000000020000000000010800450003da0000000040110000c0a80001c0a8{:02x}02",
        i % 250
    );
    let pad = "00".repeat(1000 - head.len() / 2);
    format!("{head}{pad}")
}

/// `coverage/show`'s `rconn_overflow` total (0 when it was never hit).
fn overflows(sw: &dyn Switch) -> u64 {
    let text = sw.appctl_ok(&["coverage/show"]);
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("rconn_overflow")?;
            let total = rest.split("total:").nth(1)?;
            total.trim().parse().ok()
        })
        .unwrap_or(0)
}

/// The `n_packets` of `sw`'s only flow in table 0.
fn flow_packets(sw: &dyn Switch) -> u64 {
    let text = sw.ofctl_ok(&["dump-flows", &sw.mgmt_target("br0")]);
    text.split([' ', ','])
        .find_map(|w| w.strip_prefix("n_packets="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no n_packets in {text}"))
}

const FRAMES: u32 = 1500;
const BATCH: u32 = 50;

/// What the stalled controller saw: (packet-ins and echo replies once it read again,
/// echo requests it sent, the flow's packets counted during the stall, packet-ins dropped
/// as `coverage/show` counts them).
fn stalled_controller(sw: &dyn Switch) -> (Seen, usize, u64, u64) {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .port("p2", &["type=dummy", "ofport_request=2"])
            .args(),
    );
    let mut c = Peer::controller(sw, &["controller_queue_size=20"]);
    // After the first controller came, which flushes the tables.
    sw.ofctl_ok(&[
        "add-flow",
        &sw.mgmt_target("br0"),
        "in_port=1,actions=output:2,controller",
    ]);
    // The stall: nothing is read from here on.
    let stall = Instant::now();
    let mut echoes = 0;
    for b in 0..FRAMES / BATCH {
        let mut args = vec!["netdev-dummy/receive".to_owned(), "p1".to_owned()];
        args.extend((b * BATCH..(b + 1) * BATCH).map(frame));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sw.appctl_ok(&args);
        echoes += 1;
        c.send(&Message::EchoRequest(vec![]), 1000 + echoes);
    }
    // Longer than the 5 s a write used to be allowed to block.
    while stall.elapsed() < Duration::from_secs(7) {
        sleep(Duration::from_secs(1));
        echoes += 1;
        c.send(&Message::EchoRequest(vec![]), 1000 + echoes);
    }
    let packets = flow_packets(sw);
    assert_eq!(
        sw.vsctl_ok(&["get", "controller", "br0", "is_connected"])
            .trim(),
        "true",
        "the stalled controller stays connected"
    );
    let read = c.read_for(Duration::from_secs(3));
    (
        read,
        usize::try_from(echoes).unwrap_or(0),
        packets,
        overflows(sw),
    )
}

#[test]
fn a_stalled_controller_keeps_its_replies_and_queue_size_packet_ins_as_on_open_vswitch() {
    let (
        (ours, our_echoes, our_packets, our_dropped),
        (theirs, their_echoes, their_packets, their_dropped),
    ) = common::ours_then_theirs("slowc", stalled_controller);
    eprintln!("ours {ours:?}, Open vSwitch's {theirs:?}");
    eprintln!("packets: ours {our_packets}, Open vSwitch's {their_packets}");
    eprintln!("dropped: ours {our_dropped}, Open vSwitch's {their_dropped}");
    // Open vSwitch sometimes loses some of the frames netdev-dummy/receive hands it at
    // once on their way to its slow path; ferrovs none.
    assert!(their_packets > u64::from(FRAMES) / 2, "the oracle forwards");
    assert_eq!(
        our_packets,
        u64::from(FRAMES),
        "the switch keeps forwarding"
    );
    assert_eq!(theirs.echo_replies, their_echoes, "the oracle answers all");
    assert_eq!(
        ours.echo_replies, our_echoes,
        "every echo request is answered"
    );
    assert!(
        theirs.packet_ins < usize::try_from(FRAMES).unwrap_or(0) / 2,
        "the oracle dropped most: {theirs:?}"
    );
    // What the socket's buffer holds, plus the queue: the same sizes on both.
    assert!(
        ours.packet_ins.abs_diff(theirs.packet_ins) <= 5,
        "ours got {} packet-ins, Open vSwitch's controller {}",
        ours.packet_ins,
        theirs.packet_ins
    );
    // Every packet-in is either received or counted as dropped, on both.
    assert_eq!(
        their_dropped + u64::try_from(theirs.packet_ins).unwrap_or(0),
        their_packets,
        "the oracle's rconn_overflow"
    );
    assert_eq!(
        our_dropped + u64::try_from(ours.packet_ins).unwrap_or(0),
        our_packets,
        "rconn_overflow in coverage/show"
    );
}

/// What a flow monitor that stalled while 4,000 flows were added read once it resumed.
fn stalled_monitor(sw: &dyn Switch) -> Seen {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .args(),
    );
    let target = sw.mgmt_target("br0");
    let mut m = Peer::client(sw, "br0");
    let req = FlowMonitorRequest::new(MonitorId(1), MonitorFlags::ALL);
    m.send(&Message::FlowMonitor(FlowMonitorMsg::Request(vec![req])), 7);
    let initial = m.read_for(Duration::from_millis(500));
    assert_eq!(initial.monitor, ["UPDATE 0"], "the empty initial listing");
    // The stall: 4,000 flows, each an update of about 100 bytes, in batches.
    let file = sw.dir().join("flows.txt");
    let flows: String = (0..4000u32)
        .map(|i| {
            format!(
                "priority=100,ip,nw_src=10.{}.{}.1,nw_dst=10.0.0.2,actions=mod_nw_tos:4,output:1\n",
                i / 250,
                i % 250
            )
        })
        .collect();
    std::fs::write(&file, flows).unwrap_or_else(|e| panic!("{e}"));
    sw.ofctl_ok(&["add-flows", &target, &file.to_string_lossy()]);
    sleep(Duration::from_secs(1));
    m.read_for(Duration::from_secs(4))
}

#[test]
fn a_stalled_flow_monitor_pauses_and_resumes_with_a_relisting_as_on_open_vswitch() {
    let (ours, theirs) = common::ours_then_theirs("slowm", stalled_monitor);
    let shape = |r: &Seen| -> (bool, Option<usize>, usize) {
        let paused = r.monitor.iter().position(|m| m == "PAUSED");
        let resumed = r.monitor.iter().position(|m| m == "RESUMED");
        // The flows re-listed between PAUSED and RESUMED.
        let relisted = match (paused, resumed) {
            (Some(p), Some(q)) if p < q => r.monitor[p + 1..q]
                .iter()
                .filter_map(|m| m.strip_prefix("UPDATE "))
                .filter_map(|n| n.parse::<usize>().ok())
                .sum(),
            _ => 0,
        };
        (
            paused.is_some(),
            resumed.map(|q| r.monitor.len() - q - 1),
            relisted,
        )
    };
    // For the log: runs of single updates counted.
    let summary = |r: &Seen| {
        let mut out: Vec<(String, usize)> = Vec::new();
        for m in &r.monitor {
            match out.last_mut() {
                Some((last, n)) if last == m => *n += 1,
                _ => out.push((m.clone(), 1)),
            }
        }
        out
    };
    eprintln!("ours {:?}\ntheirs {:?}", summary(&ours), summary(&theirs));
    let (t_paused, t_after, t_relisted) = shape(&theirs);
    assert!(t_paused, "the oracle paused: {:?}", theirs.monitor.len());
    assert_eq!(t_after, Some(0), "the oracle ends with RESUMED");
    let t_before = theirs
        .monitor
        .iter()
        .take_while(|m| *m != "PAUSED")
        .filter_map(|m| m.strip_prefix("UPDATE "))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum::<usize>();
    assert_eq!(
        t_before + t_relisted,
        4000,
        "the oracle reports each flow once: before the pause, or in the re-listing"
    );
    let (o_paused, o_after, o_relisted) = shape(&ours);
    let o_before = ours
        .monitor
        .iter()
        .take_while(|m| *m != "PAUSED")
        .filter_map(|m| m.strip_prefix("UPDATE "))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum::<usize>();
    assert!(o_paused, "PAUSED was sent");
    assert_eq!(o_after, Some(0), "RESUMED ends what was sent");
    assert_eq!(o_before + o_relisted, 4000, "each flow reported once");
    // The pause comes at the same backlog, give or take a few updates' bytes.
    assert!(
        o_before.abs_diff(t_before) <= 16,
        "paused after {o_before} updates, Open vSwitch after {t_before}"
    );
}

/// How many echo requests a peer that never reads can send before its socket is full
/// (at most 200,000): a switch that stops reading requests while 100 replies wait makes it
/// block after a few thousand.
fn requests_until_blocked(sw: &dyn Switch) -> usize {
    sw.vsctl_ok(&AddBridge::new("br0").args());
    let mut p = Peer::client(sw, "br0");
    p.read_for(Duration::from_millis(300));
    let echo = wire::encode(
        &Message::EchoRequest(vec![]),
        Version::Of10.default_protocol(),
        7,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    p.s.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
    let mut sent = 0;
    // Blocked for a second on end: the switch stopped reading.
    let mut blocked_since: Option<Instant> = None;
    while sent < 200_000 {
        match p.s.write(&echo) {
            Ok(n) => {
                assert_eq!(n, echo.len(), "a whole message at a time");
                sent += 1;
                blocked_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(1) {
                    break;
                }
                sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}

#[test]
fn a_peer_that_never_reads_replies_is_read_no_further_as_on_open_vswitch() {
    let (ours, theirs) = common::ours_then_theirs("slowr", requests_until_blocked);
    eprintln!("echo requests sent: ours {ours}, Open vSwitch's {theirs}");
    assert!(theirs < 200_000, "the oracle stops reading");
    // The sockets' buffers in both directions and the 100 queued replies; ferrovs handles
    // all that one read brings before it looks at the replies again (Open vSwitch 50
    // messages at a time), so it may take a few hundred more.
    assert!(
        ours >= theirs / 2 && ours <= theirs * 2 + 100,
        "ours took {ours} requests, Open vSwitch {theirs}"
    );
}
