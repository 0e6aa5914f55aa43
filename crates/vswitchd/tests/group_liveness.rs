//! Fast-failover liveness against Open vSwitch 3.1: a bucket's `watch_port` is live when the
//! port is neither administratively down nor without its link, and its `watch_group` when
//! that group has a live bucket.
//!
//! Without root, dummy devices are brought down and up with
//! `netdev-dummy/set-admin-state` on both switches; after each step the ports' configuration
//! and state (`ovs-ofctl show`), `ofproto/trace` through the groups and the frames each port
//! sent (`tx_pcap`) must read the same. The same flows' frames are sent before and after each
//! step, so a megaflow cached before a change that still sent the old way would show as a
//! frame on the wrong port. The port-status messages OpenFlow 1.0 and 1.3 monitors receive
//! meanwhile must read the same too.
//!
//! As root, a veth end loses its carrier (its peer goes down) while staying administratively
//! up: `ovs-ofctl show` (`LINK_DOWN` without `PORT_DOWN`) and `ofproto/trace` must read the
//! same on both switches, each run in turn in one network namespace, before, during and
//! after, and so must the port-status messages an OpenFlow 1.3 monitor receives.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::frames::{hex, pcap_frames_or_empty};
use fvs_test_support::netns::{self, exec};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch};

/// Ports `p1`..`p5` as OpenFlow ports 1..5, each writing what it sends to `pN.pcap`;
/// group 4 fails over from port 1 to port 2, group 5 uses port 1 while group 4 is live and
/// port 4 after, group 6 uses port 1 while port 1 *or* group 7 (port 2) is live; frames from
/// port 3 go to group 4 (ARP) and group 5 (IPv4), frames from port 5 to group 6.
fn setup(sw: &dyn Switch) {
    let dir = sw.dir();
    let pcaps: Vec<String> = (1..=5)
        .map(|n| {
            format!(
                "options:tx_pcap={}",
                dir.join(format!("p{n}.pcap")).display()
            )
        })
        .collect();
    let mut bridge = AddBridge::new("br0").set(&["fail_mode=secure", "protocols=OpenFlow13"]);
    for (i, pcap) in pcaps.iter().enumerate() {
        let request = format!("ofport_request={}", i + 1);
        bridge = bridge.port(&format!("p{}", i + 1), &[&request, pcap]);
    }
    sw.vsctl_ok(&bridge.args());
    for g in [
        "group_id=4,type=fast_failover,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2",
        "group_id=5,type=fast_failover,bucket=watch_group:4,output:1,bucket=watch_port:4,output:4",
        "group_id=7,type=fast_failover,bucket=watch_port:2,output:2",
        "group_id=6,type=fast_failover,bucket=watch_port:1,watch_group:7,output:1,\
         bucket=watch_port:4,output:4",
    ] {
        sw.ofctl_ok(&["-O", "OpenFlow13", "add-group", "br0", g]);
    }
    for f in [
        "in_port=3,arp,actions=group:4",
        "in_port=3,ip,actions=group:5",
        "in_port=5,actions=group:6",
    ] {
        sw.ofctl_ok(&["-O", "OpenFlow13", "add-flow", "br0", f]);
    }
}

/// A broadcast ARP request from 10.0.0.3 for 10.0.0.9.
fn arp() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0, 0, 0, 0, 3, 0x08, 0x06]);
    f.extend([0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend([0x02, 0, 0, 0, 0, 3, 10, 0, 0, 3]);
    f.extend([0, 0, 0, 0, 0, 0, 10, 0, 0, 9]);
    f.resize(60, 0);
    f
}

/// A UDP datagram from 10.0.0.3 to 10.0.0.9, `tag` in its source port so each step's frames
/// tell apart.
fn udp(tag: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 3, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 3, 10, 0, 0, 9,
    ];
    let c = fvs_test_support::frames::ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend(tag.to_be_bytes());
    f.extend([0, 53, 0, 8, 0, 0]);
    f.resize(60, 0);
    f
}

/// What one step shows: the ports' lines of `ovs-ofctl show`, the two traces, and how many
/// frames each port has sent so far.
#[derive(Debug, PartialEq)]
struct Step {
    show: Vec<String>,
    traces: Vec<String>,
    sent: Vec<(String, usize)>,
}

fn step(sw: &dyn Switch, tag: u16) -> Step {
    // The megaflows of the step before may still be cached: these frames hit them.
    sw.appctl_ok(&["netdev-dummy/receive", "p3", &hex(&arp())]);
    sw.appctl_ok(&["netdev-dummy/receive", "p3", &hex(&udp(tag))]);
    sw.appctl_ok(&["netdev-dummy/receive", "p5", &hex(&udp(tag))]);
    sw.appctl_ok(&["revalidator/wait"]);
    let show = sw
        .ofctl_ok(&["-O", "OpenFlow13", "show", "br0"])
        .lines()
        .filter(|l| l.contains("config:") || l.contains("state:") || l.contains("(p"))
        .map(|l| l.split(": addr:").next().unwrap_or(l).to_owned())
        .collect();
    let traces = [
        "in_port=3,arp",
        "in_port=3,udp,nw_src=10.0.0.3,nw_dst=10.0.0.9",
        "in_port=5,udp,nw_src=10.0.0.3,nw_dst=10.0.0.9",
    ]
    .iter()
    .map(|flow| sw.appctl_ok(&["ofproto/trace", "br0", flow]))
    .collect();
    let sent = (1..=5)
        .map(|n| {
            let port = format!("p{n}");
            let frames = pcap_frames_or_empty(&sw.dir().join(format!("{port}.pcap")));
            (port, frames.len())
        })
        .collect();
    Step { show, traces, sent }
}

/// Runs the steps on `sw`: all up, p1 down, p1 and p2 down, both up again.
fn run(sw: &dyn Switch) -> Vec<Step> {
    setup(sw);
    let mut steps = vec![step(sw, 1)];
    for (i, change) in [
        &["p1", "down"][..],
        &["p2", "down"],
        &["up"], // every dummy device
    ]
    .iter()
    .enumerate()
    {
        let mut args = vec!["netdev-dummy/set-admin-state"];
        args.extend_from_slice(change);
        assert_eq!(sw.appctl_ok(&args).trim(), "OK");
        let tag = u16::try_from(i + 2).unwrap_or(u16::MAX);
        steps.push(step(sw, tag));
    }
    steps
}

#[test]
fn fast_failover_follows_admin_and_link_state_as_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("gliv");
    let theirs = run(&ovs);
    let ours = run(fvs.private());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.show, t.show, "ovs-ofctl show after step {i}");
        assert_eq!(o.traces, t.traces, "ofproto/trace after step {i}");
        assert_eq!(o.sent, t.sent, "frames sent after step {i}");
    }
    assert_eq!(ours.len(), theirs.len());
    // The steps did exercise liveness. Each step sends an ARP frame (group 4) and a UDP one
    // (group 5) from p3 and a UDP one (group 6) from p5. All up: all three leave by p1.
    // p1 down: ARP fails over to p2; group 5 still trusts group 4 (its bucket on p2 is live)
    // and group 6 group 7, so both still send to p1 (a down dummy device still takes frames,
    // in both switches). p1 and p2 down: ARP is dropped, groups 5 and 6 move to p4. All up
    // again: p1 takes all three.
    let sent = |i: usize| -> Vec<usize> { theirs[i].sent.iter().map(|(_, n)| *n).collect() };
    assert_eq!(sent(0), [3, 0, 0, 0, 0]);
    assert_eq!(sent(1), [5, 1, 0, 0, 0]);
    assert_eq!(sent(2), [5, 1, 0, 2, 0]);
    assert_eq!(sent(3), [8, 1, 0, 2, 0]);
    assert!(
        theirs[1].traces[0].contains("not live due to port 1"),
        "{}",
        theirs[1].traces[0]
    );
    assert!(
        theirs[1].show.iter().any(|l| l.contains("LINK_DOWN")),
        "{:?}",
        theirs[1].show
    );
}

/// The veth ports' configuration and state lines of `ovs-ofctl show` and the trace through
/// group 4, once `port`'s state line reads `want` (waited for up to 5 s: both switches learn a
/// link's change from the kernel in their own time). The bridge's internal port is left out:
/// Open vSwitch shows a device that is administratively down as `PORT_DOWN` too, and ferrovs
/// keeps only whether a link is up.
fn link_step(sw: &dyn Switch, port: &str, want: &str) -> (Vec<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listing = sw.ofctl_ok(&["-O", "OpenFlow13", "show", "br0"]);
        let mut show = Vec::new();
        let mut veth = false;
        for l in listing.lines() {
            if l.contains("): addr:") {
                veth = l.contains("(e");
                if veth {
                    show.push(l.split(": addr:").next().unwrap_or(l).to_owned());
                }
            } else if veth && (l.contains("config:") || l.contains("state:")) {
                show.push(l.to_owned());
            }
        }
        let state = show
            .iter()
            .skip_while(|l| !l.contains(&format!("({port})")))
            .find(|l| l.contains("state:"))
            .map(|l| l.trim().to_owned());
        if state.as_deref() == Some(want) || Instant::now() >= deadline {
            // Datapath port numbers are each switch's own: the trace is compared without them.
            let trace = sw
                .appctl_ok(&["ofproto/trace", "br0", "in_port=3,arp"])
                .lines()
                .filter(|l| !l.starts_with("Datapath actions:"))
                .collect::<Vec<_>>()
                .join("\n");
            return (show, trace);
        }
        sleep(Duration::from_millis(100));
    }
}

/// Group 4 over the veth ends `e1` and `e2` (OpenFlow ports 1 and 2), fed from `e3`: the
/// steps with every link up, with `e1`'s peer down (so `e1` loses its carrier while staying
/// administratively up), and with it up again.
fn link_run(sw: &dyn Switch, ns: &str) -> Vec<(Vec<String>, String)> {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                "datapath_type=netdev",
                "fail_mode=secure",
                "protocols=OpenFlow13",
            ])
            .port("e1", &["ofport_request=1"])
            .port("e2", &["ofport_request=2"])
            .port("e3", &["ofport_request=3"])
            .args(),
    );
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-group",
        "br0",
        "group_id=4,type=fast_failover,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2",
    ]);
    sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-flow",
        "br0",
        "in_port=3,actions=group:4",
    ]);
    let mut steps = vec![link_step(sw, "e1", "state:      LIVE")];
    let monitor = common::OfctlMonitor::start(
        sw.dir(),
        &["-O", "OpenFlow13"],
        &sw.mgmt_target("br0"),
        &["65000"],
        "mlink",
    );
    sleep(Duration::from_millis(700));
    exec(ns, &["ip", "link", "set", "e1p", "down"]);
    steps.push(link_step(sw, "e1", "state:      LINK_DOWN"));
    exec(ns, &["ip", "link", "set", "e1p", "up"]);
    steps.push(link_step(sw, "e1", "state:      LIVE"));
    sleep(Duration::from_millis(500));
    // The port-status messages, each as its port line, configuration and state.
    let announced: Vec<String> = monitor
        .text()
        .lines()
        .filter(|l| l.contains("PORT_STATUS") || l.contains("config:") || l.contains("state:"))
        .map(|l| l.split(": addr:").next().unwrap_or(l).to_owned())
        .collect();
    steps.push((announced, String::new()));
    sw.vsctl_ok(&["del-br", "br0"]);
    steps
}

#[test]
fn fast_failover_follows_a_veth_link_as_open_vswitch() {
    let mut lab = netns::Lab::new();
    let ns = lab.add_netns(&netns::unique_name("gl", "h"));
    for dev in ["e1", "e2", "e3"] {
        let peer = format!("{dev}p");
        exec(
            &ns,
            &[
                "ip", "link", "add", dev, "type", "veth", "peer", "name", &peer,
            ],
        );
        exec(&ns, &["ip", "link", "set", dev, "up"]);
        exec(&ns, &["ip", "link", "set", &peer, "up"]);
    }
    // One switch at a time owns the devices.
    let theirs = {
        let ovs = PrivateOvs::start_in_netns(&ns);
        link_run(&ovs, &ns)
    };
    let ours = {
        let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .dummy(false)
            .netns(&ns)
            .tag("glink")
            .start();
        link_run(&fvs, &ns)
    };
    for (i, ((our_show, our_trace), (their_show, their_trace))) in
        ours.iter().zip(&theirs).enumerate()
    {
        assert_eq!(
            our_show, their_show,
            "ovs-ofctl show (or monitor) after step {i}"
        );
        assert_eq!(our_trace, their_trace, "ofproto/trace after step {i}");
    }
    assert_eq!(ours.len(), theirs.len());
    // The carrier alone took e1 down: administratively it stayed up.
    let (show, trace) = &theirs[1];
    assert!(
        show.iter().any(|l| l.trim() == "state:      LINK_DOWN"),
        "{show:?}"
    );
    assert!(!show.iter().any(|l| l.contains("PORT_DOWN")), "{show:?}");
    assert!(
        trace.contains("bucket 0: not live due to port 1"),
        "{trace}"
    );
    assert!(trace.contains("using bucket 1"), "{trace}");
    assert!(theirs[2].1.contains("using bucket 0"), "{}", theirs[2].1);
    // The link's going down and coming up were announced (three port-status messages).
    let announced = &theirs[3].0;
    assert_eq!(
        announced
            .iter()
            .filter(|l| l.contains("PORT_STATUS"))
            .count(),
        3,
        "{announced:?}"
    );
}

/// The port-status messages monitors in OpenFlow 1.0 and 1.3 print while `p1` is brought
/// down and up with `netdev-dummy/set-admin-state` (and a second `down` that changes nothing).
fn admin_state_announcements(sw: &dyn Switch) -> Vec<String> {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure", "protocols=OpenFlow10,OpenFlow13"])
            .port("p1", &["ofport_request=1"])
            .args(),
    );
    let target = sw.mgmt_target("br0");
    let monitors = [
        common::OfctlMonitor::start(sw.dir(), &[], &target, &["65000"], "m10"),
        common::OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow13"], &target, &["65000"], "m13"),
    ];
    sleep(Duration::from_millis(700));
    for state in ["down", "down", "up"] {
        sw.appctl_ok(&["netdev-dummy/set-admin-state", "p1", state]);
        sleep(Duration::from_millis(300));
    }
    sleep(Duration::from_millis(500));
    monitors
        .iter()
        .map(|m| {
            m.text()
                .lines()
                .skip_while(|l| !l.contains("PORT_STATUS"))
                .filter(|l| !l.contains("fatal_signal"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[test]
fn set_admin_state_announces_the_port_as_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("gadm");
    let theirs = admin_state_announcements(&ovs);
    let ours = admin_state_announcements(fvs.private());
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs[1].matches("OFPT_PORT_STATUS").count(),
        3,
        "{}",
        theirs[1]
    );
    assert!(theirs[1].contains("PORT_DOWN"), "{}", theirs[1]);
}
