//! Oracle test for listings too long for one message: a real `ovs-vswitchd` splits a long
//! group or meter listing into several multipart replies, every one but the last flagged
//! "more". `fvs-ofctl` must read every part and print each under its own heading, as
//! `ovs-ofctl` does.
//!
//! Both programs ask the same switch in the same state, so their output must agree line for
//! line once transaction ids (counted differently) and meter durations (the clock moves
//! between the two runs) are blanked. The reference must show more than one heading, or the
//! listing was not long enough to test anything.
//!
//! `ovs-ofctl`, `ovs-vsctl` and `ovs-vswitchd` must be installed; without them this fails.

use fvs_test_support::{PrivateOvs, TempDir, require_tool};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Groups in the listing: a group with one bucket of one action is described in 40 bytes in
/// OpenFlow 1.3 (a little less in Open vSwitch's OpenFlow 1.0 form), so this many pass a
/// message's 64 KiB in every version.
const GROUPS: u32 = 3000;

/// Meters in the listing: a one-band meter's configuration takes 24 bytes, its statistics 56.
const METERS: u32 = 3000;

/// `text` with every `(xid=0x…):` as `(xid=X):` and every duration (`duration:…s` in meter
/// statistics, `duration=…s` in group statistics) as `duration=X`.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive([' ', '\n', ',']) {
        let bare = word.trim_end_matches([' ', '\n', ',']);
        if bare.starts_with("(xid=0x") {
            out.push_str("(xid=X):");
        } else if bare.starts_with("duration:") || bare.starts_with("duration=") {
            out.push_str("duration=X");
        } else {
            out.push_str(bare);
        }
        out.push_str(&word[bare.len()..]);
    }
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
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let fvs_ofctl = Path::new(env!("CARGO_BIN_EXE_fvs-ofctl"));
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
        let want = run(&ovs_ofctl, &target, args);
        let parts = want.1.lines().filter(|l| l.starts_with(heading)).count();
        assert!(
            parts > 1,
            "{args:?}: ovs-ofctl printed {parts} parts, the test needs a longer listing:\n{}\n{}",
            want.1.lines().take(3).collect::<Vec<_>>().join("\n"),
            want.2
        );
        let got = run(fvs_ofctl, &target, args);
        assert_eq!(got.0, want.0, "{args:?}: exit status");
        assert_eq!(got.2, want.2, "{args:?}: standard error");
        // Compared line by line first: a whole listing in a failure message is unreadable.
        for (n, (g, w)) in got.1.lines().zip(want.1.lines()).enumerate() {
            assert_eq!(g, w, "{args:?}: line {}", n + 1);
        }
        assert_eq!(
            got.1.lines().count(),
            want.1.lines().count(),
            "{args:?}: lines"
        );
    }
}
