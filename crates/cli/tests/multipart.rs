//! Oracle tests for listings too long for one message: a switch splits a long reply into
//! several multipart replies, every one but the last flagged "more". `fvs-ofctl` must read
//! every part and print each under its own heading (with ` flags=[more]` after all but the
//! last), as `ovs-ofctl` does: group and meter listings, port descriptions (`dump-ports-desc`
//! and `show`, whose OpenFlow 1.0 features reply then has no room for every port), port
//! statistics and flow statistics, in OpenFlow 1.0 and later versions.
//!
//! Both programs ask the same switch in the same state, so their output must agree line for
//! line once transaction ids (counted differently), durations and flow ages (the clock moves
//! between the two runs) are blanked. The reference must show more than one heading, or the
//! listing was not long enough to test anything. The port and flow listings are read from a
//! real `ovs-vswitchd` and from `fvs-vswitchd`, each with `--enable-dummy` in a private
//! directory.
//!
//! `ovs-ofctl`, `ovs-vsctl` and `ovs-vswitchd` must be installed; without them this fails.

use fvs_test_support::cargo::package_bins;
use fvs_test_support::{PrivateFvs, PrivateOvs, Switch, TempDir, require_tool};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Groups in the listing: a group with one bucket of one action is described in 40 bytes in
/// OpenFlow 1.3 (a little less in Open vSwitch's OpenFlow 1.0 form), so this many pass a
/// message's 64 KiB in every version.
const GROUPS: u32 = 3000;

/// Meters in the listing: a one-band meter's configuration takes 24 bytes, its statistics 56.
const METERS: u32 = 3000;

/// `text` with every `(xid=0x…):` as `(xid=X):`, every duration (`duration:…s` in meter
/// statistics, `duration=…s` in group, flow and port statistics) as `duration=X`, every flow's
/// `idle_age=…` as `idle_age=X`, and `hard_age=…, ` left out (a flow shows it only while it
/// differs from the duration, which the clock decides).
fn normalise(text: &str) -> String {
    let mut out = String::new();
    for word in without_hard_age(text).split_inclusive([' ', '\n', ',']) {
        let bare = word.trim_end_matches([' ', '\n', ',']);
        if bare.starts_with("(xid=0x") {
            out.push_str("(xid=X):");
        } else if bare.starts_with("duration:") || bare.starts_with("duration=") {
            out.push_str("duration=X");
        } else if bare.starts_with("idle_age=") {
            out.push_str("idle_age=X");
        } else {
            out.push_str(bare);
        }
        out.push_str(&word[bare.len()..]);
    }
    out
}

/// `text` without its flows' `hard_age=…, `.
fn without_hard_age(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("hard_age=") {
        out.push_str(&rest[..at]);
        rest = rest[at..].split_once(", ").map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

/// `program args` (the switch's management socket standing for `TARGET`): its status and
/// normalised standard output and error.
fn run(program: &Path, target: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(program)
        .args(args.iter().map(|a| a.replace("TARGET", target)))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status.code(),
        normalise(&String::from_utf8_lossy(&out.stdout)),
        normalise(&String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn long_group_and_meter_listings_print_every_part_as_ovs_ofctl() {
    let ovs = PrivateOvs::start();
    for cmd in [
        &["add-br", "br0"][..],
        &[
            "set",
            "bridge",
            "br0",
            "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
        ],
    ] {
        ovs.vsctl(cmd)
            .unwrap_or_else(|e| panic!("ovs-vsctl {cmd:?}: {e}"));
    }
    let target = format!("unix:{}", ovs.dir().join("br0.mgmt").display());

    let files = TempDir::new("fvs-cli-multipart");
    let groups = files.path().join("groups.txt");
    let mut text = String::new();
    for g in 1..=GROUPS {
        let _ = writeln!(text, "group_id={g},type=all,bucket=output:{g}");
    }
    std::fs::write(&groups, text).unwrap_or_else(|e| panic!("{e}"));
    let groups = groups.display().to_string();
    ovs.ofctl(&["-O", "OpenFlow13", "add-groups", &target, &groups])
        .unwrap_or_else(|e| panic!("ovs-ofctl add-groups: {e}"));
    for m in 1..=METERS {
        let meter = format!("meter={m},kbps,band=type=drop,rate={m}");
        ovs.ofctl(&["-O", "OpenFlow13", "add-meter", &target, &meter])
            .unwrap_or_else(|e| panic!("ovs-ofctl add-meter: {e}"));
    }

    for (args, heading) in [
        (&["dump-groups", "TARGET"][..], "NXST_GROUP_DESC reply"),
        (
            &["-O", "OpenFlow13", "dump-groups", "TARGET"],
            "OFPST_GROUP_DESC reply (OF1.3)",
        ),
        (
            &["-O", "OpenFlow15", "dump-groups", "TARGET"],
            "OFPST_GROUP_DESC reply (OF1.5)",
        ),
        (
            &["-O", "OpenFlow13", "dump-group-stats", "TARGET"],
            "OFPST_GROUP reply (OF1.3)",
        ),
        (
            &["-O", "OpenFlow13", "dump-meters", "TARGET"],
            "OFPST_METER_CONFIG reply (OF1.3)",
        ),
        (
            &["-O", "OpenFlow13", "meter-stats", "TARGET"],
            "OFPST_METER reply (OF1.3)",
        ),
    ] {
        assert_same_listing(&target, args, heading, "ovs-vswitchd");
    }
}

/// Runs `args` (`TARGET` standing for `target`) through ovs-ofctl and fvs-ofctl and asserts
/// the same status and text; ovs-ofctl's must show more than one part (`heading` is how each
/// part's heading starts), or the listing tested nothing.
fn assert_same_listing(target: &str, args: &[&str], heading: &str, switch: &str) {
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let fvs_ofctl = Path::new(env!("CARGO_BIN_EXE_fvs-ofctl"));
    let want = run(&ovs_ofctl, target, args);
    let parts = want.1.lines().filter(|l| l.starts_with(heading)).count();
    assert!(
        parts > 1,
        "{args:?} on {switch}: ovs-ofctl printed {parts} parts, the test needs a longer \
         listing:\n{}\n{}",
        want.1.lines().take(3).collect::<Vec<_>>().join("\n"),
        want.2
    );
    let got = run(fvs_ofctl, target, args);
    assert_eq!(got.0, want.0, "{args:?} on {switch}: exit status");
    assert_eq!(got.2, want.2, "{args:?} on {switch}: standard error");
    // Compared line by line first: a whole listing in a failure message is unreadable.
    for (n, (g, w)) in got.1.lines().zip(want.1.lines()).enumerate() {
        assert_eq!(g, w, "{args:?} on {switch}: line {}", n + 1);
    }
    assert_eq!(
        got.1.lines().count(),
        want.1.lines().count(),
        "{args:?} on {switch}: lines"
    );
}

/// Dummy ports on br0, the port bridge. A port's description takes 48 bytes in OpenFlow 1.0,
/// 64 in 1.3 and 72 in 1.4 (with its Ethernet property), its statistics 104 bytes or more, so
/// this many pass a message's 64 KiB in every version: the descriptions come in two parts,
/// and an OpenFlow 1.0 features reply has no room for them all.
const PORTS: u32 = 1400;

/// How long the switch may take to add [`PORTS`] ports.
const PORTS_WITHIN_SECS: u32 = 120;

/// Flows on br1, the flow bridge: a flow of an IPv4 prefix and one output prints in about 100
/// bytes in OpenFlow 1.0 with NXM (a little more from 1.3 on), so this many take three parts
/// or more.
const FLOWS: u32 = 2000;

/// A listing to compare: ovs-ofctl's arguments and how each part's heading starts in its
/// output.
type Listing = (Vec<String>, String);

/// `command` in OpenFlow 1.`minor` (`-O`; none: ovs-ofctl's default, OpenFlow 1.0), whose
/// parts' headings name `name`.
fn listing(minor: Option<u8>, command: &str, name: &str) -> Listing {
    let mut args: Vec<String> = Vec::new();
    let heading = match minor {
        None => format!("{name} reply (xid"),
        Some(m) => {
            args.extend(["-O".to_owned(), format!("OpenFlow1{m}")]);
            format!("{name} reply (OF1.{m})")
        }
    };
    args.extend([command.to_owned(), "TARGET".to_owned()]);
    (args, heading)
}

/// The port listings: `show` (OpenFlow 1.0's features reply cut short, and 1.3's port
/// descriptions), `dump-ports-desc` and `dump-ports` in every version.
fn port_listings() -> Vec<Listing> {
    let mut all = vec![
        listing(None, "show", "OFPST_PORT_DESC"),
        listing(Some(3), "show", "OFPST_PORT_DESC"),
    ];
    for minor in [None, Some(3), Some(4), Some(5)] {
        all.push(listing(minor, "dump-ports-desc", "OFPST_PORT_DESC"));
        all.push(listing(minor, "dump-ports", "OFPST_PORT"));
    }
    all
}

/// The flow listings: OpenFlow 1.0 (with NXM, as ovs-ofctl asks), 1.3 and 1.5.
fn flow_listings() -> Vec<Listing> {
    vec![
        listing(None, "dump-flows", "NXST_FLOW"),
        listing(Some(3), "dump-flows", "OFPST_FLOW"),
        listing(Some(5), "dump-flows", "OFPST_FLOW"),
    ]
}

/// Builds br1 with [`FLOWS`] flows and br0 with [`PORTS`] dummy ports (numbered as named,
/// all in one transaction) on `switch`; br0's and br1's management sockets as targets.
fn long_listings(switch: &dyn Switch) -> (String, String) {
    let protocols = "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15";
    let target = |bridge: &str| format!("unix:{}", switch.dir().join(bridge).display());
    // The flows first: fvs-vswitchd adds flows far more slowly once it has many ports.
    switch.vsctl_ok(&["add-br", "br1", "--", "set", "bridge", "br1", protocols]);
    let flows = switch.dir().join("flows.txt");
    let mut text = String::new();
    for f in 0..FLOWS {
        let _ = writeln!(
            text,
            "priority={},ip,nw_dst=10.{}.{}.0/24,actions=output:{}",
            f % 100,
            f / 256,
            f % 256,
            f % 5 + 1
        );
    }
    std::fs::write(&flows, text).unwrap_or_else(|e| panic!("{}: {e}", flows.display()));
    let flow_target = target("br1.mgmt");
    switch.ofctl_ok(&["add-flows", &flow_target, &flows.display().to_string()]);

    // One transaction, which may take longer than `Switch::vsctl`'s ten seconds on a busy
    // machine.
    let mut args = vec![
        format!("--db={}", switch.db_target()),
        format!("--timeout={PORTS_WITHIN_SECS}"),
    ];
    args.extend(["add-br", "br0", "--", "set", "bridge", "br0", protocols].map(String::from));
    for p in 1..=PORTS {
        args.extend(["--", "add-port", "br0"].map(String::from));
        args.push(format!("p{p}"));
        args.extend(["--", "set", "interface"].map(String::from));
        args.extend([
            format!("p{p}"),
            "type=dummy".into(),
            format!("ofport_request={p}"),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    switch
        .run("ovs-vsctl", &args)
        .unwrap_or_else(|e| panic!("ovs-vsctl add-br br0 with {PORTS} ports: {e}"));
    (target("br0.mgmt"), flow_target)
}

/// `port_listings` and every flow listing on `switch` through both programs.
fn assert_long_listings_read_alike(switch: &dyn Switch, name: &str, port_listings: &[Listing]) {
    let (ports, flows) = long_listings(switch);
    for (target, listings) in [(&ports, port_listings), (&flows, &flow_listings())] {
        for (args, heading) in listings {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_same_listing(target, &args, heading, name);
        }
    }
}

#[test]
fn long_port_and_flow_listings_on_ovs_vswitchd_print_every_part_as_ovs_ofctl() {
    let ovs = PrivateOvs::start();
    assert_long_listings_read_alike(&ovs, "ovs-vswitchd", &port_listings());
}

#[test]
fn long_port_and_flow_listings_on_fvs_vswitchd_print_every_part_as_ovs_ofctl() {
    let bins = package_bins("fvs-vswitchd");
    let fvs = PrivateFvs::builder(bins.join("fvs-vswitchd"))
        .tag("fvs-mp")
        .start();
    assert_long_listings_read_alike(&fvs, "fvs-vswitchd", &port_listings());
}
