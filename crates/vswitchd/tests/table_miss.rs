//! Where a table miss goes while OpenFlow clients come and go.
//!
//! Open vSwitch sends a table miss to the controller while any connection without a
//! controller id speaks OpenFlow 1.0–1.2 (or has not said which yet) — `ovs-ofctl` on the
//! management socket included — and drops it otherwise. A client that has just exited must
//! not count: scripts run `ovs-ofctl add-flow` and at once `ofproto/trace`, and expect the
//! trace to show what the tables do, not a packet-in to a client that is gone. Open vSwitch,
//! one loop, notices the hang-up before it answers the next command; ferrovs's connections
//! have threads of their own that may notice it later, which once made such a trace show
//! the miss going to the controller.
//!
//! The test opens a bare connection (a hello, nothing more) to the bridge's management
//! socket, waits until a traced miss goes to the controller, closes it, and traces again at
//! once: many times over, on ferrovs and on Open vSwitch, and the answers must agree.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch};

/// An OpenFlow 1.0 hello (version 1, type 0, length 8, xid 1).
const HELLO_OF10: [u8; 8] = [1, 0, 0, 8, 0, 0, 0, 1];

/// How many times each switch sees a client come and go.
const ROUNDS: usize = 25;

/// The datapath actions `ofproto/trace` gives a packet no rule matches. The controller
/// action's `recirc_id` is blanked: Open vSwitch draws a new one for every translation
/// that sends to the controller, ferrovs prints 0 (a difference of its own, not this
/// test's subject).
fn traced_miss(sw: &dyn Switch) -> String {
    let trace = sw.appctl_ok(&["ofproto/trace", "br0", "in_port=1,dl_dst=00:00:00:00:00:02"]);
    let actions = trace
        .lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("no datapath actions in the trace:\n{trace}"));
    match actions.split_once("recirc_id=") {
        Some((head, tail)) => {
            let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{head}recirc_id=N{rest}")
        }
        None => actions.to_owned(),
    }
}

/// The traced miss with a client connected, and right after it left.
fn miss_with_client_and_after(sw: &dyn Switch) -> (String, String) {
    let path = sw
        .mgmt_target("br0")
        .strip_prefix("unix:")
        .map(str::to_owned)
        .expect("a unix: management target");
    let mut client = UnixStream::connect(&path).expect("connect to the management socket");
    client.write_all(&HELLO_OF10).expect("send hello");
    // The switch registers the connection in its own time: wait until misses go to it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let with_client = loop {
        let actions = traced_miss(sw);
        if actions != "drop" || Instant::now() > deadline {
            break actions;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(client);
    (with_client, traced_miss(sw))
}

#[test]
fn a_miss_stops_going_to_a_client_the_moment_it_hangs_up_as_on_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("tmiss")
        .start();
    let ports = AddBridge::new("br0")
        .port("p1", &["ofport_request=1"])
        .port("p2", &["ofport_request=2"]);
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&ports.args());
        sw.ofctl_ok(&["del-flows", "br0"]);
    }
    let mut seen = Vec::new();
    for sw in [&ovs as &dyn Switch, &fvs] {
        // No client: the miss is dropped.
        let alone = traced_miss(sw);
        let rounds: Vec<(String, String)> = (0..ROUNDS)
            .map(|_| miss_with_client_and_after(sw))
            .collect();
        seen.push((alone, rounds));
    }
    let (ovs_alone, ovs_rounds) = &seen[0];
    let (fvs_alone, fvs_rounds) = &seen[1];
    assert_eq!(ovs_alone, "drop", "Open vSwitch without a client");
    assert_eq!(fvs_alone, ovs_alone, "without a client");
    for (round, (fvs_round, ovs_round)) in fvs_rounds.iter().zip(ovs_rounds).enumerate() {
        assert!(
            ovs_round.0.contains("controller("),
            "Open vSwitch with a client (round {round}): {}",
            ovs_round.0
        );
        assert_eq!(
            fvs_round, ovs_round,
            "round {round}: (with a client, after it)"
        );
    }
}
