//! Oracle tests closing the loop: `fvs-ofctl` managing **fvs-vswitchd** must look, to a user,
//! exactly like `ovs-ofctl` managing a real `ovs-vswitchd`.
//!
//! Both switches get the seed's br-tun (secure, a patch port and a GRE tunnel) through real
//! `ovs-vsctl`. The same command sequence then runs through `ovs-ofctl` against the real
//! switch (the reference) and through `fvs-ofctl` against fvs-vswitchd. After every command
//! the exit status, standard output and standard error must agree (program name,
//! transaction ids and each instance's directory normalised, as in `switch.rs`), and so must
//! the flow tables as each daemon's own `bridge/dump-flows` prints them (durations dropped,
//! the real switch's hidden table-254 rules filtered, lines sorted).
//!
//! # Finding fvs-vswitchd
//!
//! Cargo sets `CARGO_BIN_EXE_*` only for the binaries of the package under test, and a
//! dev-dependency on `fvs-vswitchd` builds only its library. So the binaries are taken from
//! next to this test executable (`<target>/<profile>/deps/vswitchd-…` → `<target>/<profile>/`)
//! after `cargo build -p fvs-vswitchd --bins` into that same target directory, run once per
//! test process (with `$CARGO` when Cargo runs the test; a no-op when they are current, and it
//! keeps a stale daemon from being tested). The dev-dependency is there so
//! that `cargo test -p fvs-cli` at least keeps the daemon's library compiling.
//!
//! `ovs-ofctl`, `ovs-vsctl`, `ovs-appctl` and `ovs-vswitchd` must be installed (CI installs
//! `openvswitch-switch`); without them these tests fail.

use fvs_test_support::cargo::package_bins;
use fvs_test_support::{
    AddBridge, PrivateFvs, PrivateOvs, SEED_BR_TUN_FLOWS_PATH, SEED_BR_TUN_VSCTL, TempDir,
    require_tool,
};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The OpenFlow versions the command sequence uses, set on the seed's br-tun after it is built.
const PROTOCOLS: &[&str] = &[
    "set",
    "bridge",
    "br-tun",
    "protocols=OpenFlow10,OpenFlow13,OpenFlow14",
];

/// An fvs-vswitchd with `--enable-dummy` and every directory private, killed by its own pid
/// on drop; fvs-vswitchd's binaries are built first into this test's own profile (Cargo
/// gives a test only its own package's binaries, and one merely found there could be older
/// than the daemon's sources).
struct Fvs(PrivateFvs);

impl Fvs {
    fn start() -> Self {
        let bins = package_bins("fvs-vswitchd");
        Self(
            PrivateFvs::builder(bins.join("fvs-vswitchd"))
                .appctl(bins.join("fvs-appctl"))
                .tag("fvs-cli")
                .start(),
        )
    }

    fn dir(&self) -> &Path {
        self.0.dir()
    }

    fn vsctl(&self, args: &[&str]) {
        if let Err(e) = self.0.vsctl(args) {
            panic!("ovs-vsctl {args:?}: {e}");
        }
    }

    /// `fvs-appctl bridge/dump-flows BRIDGE`.
    fn dump_flows(&self, bridge: &str) -> String {
        self.0
            .appctl(&["bridge/dump-flows", bridge])
            .unwrap_or_else(|e| panic!("fvs-appctl bridge/dump-flows: {e}"))
    }
}

/// One command's observable result.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The same outcome with `f` applied to both its outputs: how a test blanks what may
    /// differ between runs (durations, listing order) before comparing.
    fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        Self {
            status: self.status,
            stdout: f(&self.stdout),
            stderr: f(&self.stderr),
        }
    }
}

/// Replaces `xid=0x…` with `xid=X`, the program name with `ofctl` and `dir` with `DIR`.
fn normalise(text: &str, program: &str, dir: &Path) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("xid=0x") {
        out.push_str(&rest[..i]);
        out.push_str("xid=X");
        rest = rest[i + 6..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out.replace(&format!("{program}:"), "ofctl:")
        .replace(&dir.display().to_string(), "DIR")
}

fn run(program: &Path, dir: &Path, args: &[String]) -> Outcome {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Outcome {
        status: out.status.code(),
        stdout: normalise(&String::from_utf8_lossy(&out.stdout), &name, dir),
        stderr: normalise(&String::from_utf8_lossy(&out.stderr), &name, dir),
    }
}

/// `bridge/dump-flows` without durations, without Open vSwitch's hidden table-254 rules,
/// sorted.
fn table(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .filter(|l| !l.starts_with("table_id=254"))
        .map(|l| {
            l.split(", ")
                .filter(|part| !part.starts_with("duration="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    v.sort();
    v
}

/// br-tun's address, so that its `LOCAL` port and datapath ID read the same on both switches.
const BR_TUN_HWADDR: &[&str] = &[
    "set",
    "bridge",
    "br-tun",
    "other_config:hwaddr=\"02:00:00:00:0a:01\"",
];

/// The two switches with br-tun built on each.
fn switches() -> (PrivateOvs, Fvs) {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start();
    for cmd in SEED_BR_TUN_VSCTL.iter().chain([&PROTOCOLS, &BR_TUN_HWADDR]) {
        ovs.vsctl(cmd)
            .unwrap_or_else(|e| panic!("ovs-vsctl {cmd:?}: {e}"));
        fvs.vsctl(cmd);
    }
    (ovs, fvs)
}

/// [`switches`] with br-tun speaking every OpenFlow version ovs-ofctl's commands are run in.
fn switches_speaking_all() -> (PrivateOvs, Fvs) {
    let (ovs, fvs) = switches();
    let all = [
        "set",
        "bridge",
        "br-tun",
        "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15",
    ];
    ovs.vsctl(&all).unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
    fvs.vsctl(&all);
    (ovs, fvs)
}

/// The versions commands are run in: the default (OpenFlow 1.0) and `-O` each later one.
const VERSIONS: [Option<&str>; 4] = [
    None,
    Some("OpenFlow13"),
    Some("OpenFlow14"),
    Some("OpenFlow15"),
];

/// `args` after `-O VERSION` when there is a version.
fn with_version<'a>(version: Option<&'a str>, args: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = version.map(|o| vec!["-O", o]).unwrap_or_default();
    v.extend_from_slice(args);
    v
}

/// Open vSwitch's `ovs-ofctl` and this package's `fvs-ofctl`.
fn ofctls() -> (std::path::PathBuf, &'static Path) {
    (
        require_tool("ovs-ofctl").path().to_path_buf(),
        Path::new(env!("CARGO_BIN_EXE_fvs-ofctl")),
    )
}

/// Runs `steps` (arguments, `TARGET` standing for br-tun's management socket) through
/// ovs-ofctl against the real switch and fvs-ofctl against fvs-vswitchd; asserts equal
/// outcomes and flow tables after each. Returns the reference outcomes and tables.
fn compare(ovs: &PrivateOvs, fvs: &Fvs, steps: &[Vec<&str>]) -> Vec<(Outcome, Vec<String>)> {
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let mut seen = Vec::new();
    for args in steps {
        let expand = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        let want = run(&ovs_ofctl, ovs.dir(), &expand(ovs.dir()));
        let got = run(fvs_ofctl, fvs.dir(), &expand(fvs.dir()));
        assert_eq!(got, want, "fvs-ofctl {args:?} against fvs-vswitchd");
        let real = table(
            &ovs.appctl(&["bridge/dump-flows", "br-tun"])
                .unwrap_or_else(|e| panic!("ovs-appctl bridge/dump-flows: {e}")),
        );
        assert_eq!(
            table(&fvs.dump_flows("br-tun")),
            real,
            "flow tables after {args:?}"
        );
        seen.push((want, real));
    }
    seen
}

#[test]
fn fvs_ofctl_manages_fvs_vswitchd_as_ovs_ofctl_manages_ovs_vswitchd() {
    let (ovs, fvs) = switches();
    let seed = Path::new(SEED_BR_TUN_FLOWS_PATH).to_path_buf();
    let seed = seed.display().to_string();
    let steps: Vec<Vec<&str>> = vec![
        vec!["add-flows", "TARGET", &seed],
        vec![
            "add-flow",
            "TARGET",
            "table=4,priority=1,tun_id=0x2,actions=mod_vlan_vid:2,resubmit(,10)",
        ],
        // Refused by the switch: an overlap (with `priority=1,in_port=1`), in both OpenFlow 1.0
        // and 1.3 wording. (An identical match is no overlap: it replaces the flow.)
        vec![
            "add-flow",
            "TARGET",
            "table=0,priority=1,ip,check_overlap,actions=drop",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-flow",
            "TARGET",
            "table=0,priority=1,ip,check_overlap,actions=drop",
        ],
        vec![
            "mod-flows",
            "TARGET",
            "table=22,dl_vlan=1,actions=strip_vlan,set_tunnel:0x1,output:2",
        ],
        vec![
            "--strict",
            "mod-flows",
            "TARGET",
            "table=0,priority=0,actions=resubmit(,4)",
        ],
        vec![
            "--strict",
            "del-flows",
            "TARGET",
            "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ],
        vec!["-O", "OpenFlow13", "del-flows", "TARGET", "table=3"],
        // Refused by the program itself.
        vec!["add-flow", "TARGET", "priority=x,actions=drop"],
    ];
    let seen = compare(&ovs, &fvs, &steps);
    // The sequence did what it means to: the seed went in, the overlap was refused, the
    // strict delete took one flow and left the table otherwise populated.
    assert!(
        seen[0].1.iter().any(|l| l.contains("learn(")),
        "{:?}",
        seen[0].1
    );
    assert!(
        seen[2].0.stderr.contains("OFPFMFC_OVERLAP"),
        "{:?}",
        seen[2].0
    );
    assert!(seen[3].0.stderr.contains("(OF1.3)"), "{:?}", seen[3].0);
    assert_eq!(seen[6].1.len() + 1, seen[5].1.len());
    assert_eq!(seen[8].0.status, Some(1));
    assert!(seen.last().is_some_and(|s| s.1.len() > 5));
}

/// Output with the patch ports' addresses (which end their lines) masked: both switches give
/// a patch port a random one. Every other address and the datapath ID must match.
fn mask_ids(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("addr:") {
            Some(at) if l.contains("(patch-") => format!("{}addr:X", &l[..at]),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `PROGRAM show unix:DIR/br-tun.mgmt` with `extra` options: status, stdout, stderr (raw:
/// transaction ids are compared as printed).
fn show(program: &Path, dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
    let out = Command::new(program)
        .args(extra)
        .args(["show", &target])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fvs_ofctl_show_prints_as_ovs_ofctl_show() {
    let (ovs, fvs) = switches();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let want = show(&ovs_ofctl, ovs.dir(), &[]);
    assert_eq!(want.0, Some(0), "ovs-ofctl show: {}", want.2);
    // Same switch: byte for byte, transaction ids included.
    assert_eq!(
        show(fvs_ofctl, ovs.dir(), &[]),
        want,
        "fvs-ofctl show against ovs-vswitchd"
    );
    // fvs-vswitchd: only the patch port's random address may differ.
    let got = show(fvs_ofctl, fvs.dir(), &[]);
    assert_eq!(
        (got.0, mask_ids(&got.1), got.2),
        (want.0, mask_ids(&want.1), want.2.clone()),
        "fvs-ofctl show against fvs-vswitchd"
    );
    // What a user sees: the ports, LOCAL last, and the configuration.
    let lines: Vec<&str> = want.1.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with(" 1(patch-int): addr:")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(" 2(gre-0a000115): addr:"))
    );
    assert!(lines.iter().any(|l| l.starts_with(" LOCAL(br-tun): addr:")));
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("OFPT_GET_CONFIG_REPLY"))
    );
    // OpenFlow 1.3: the ports come from a port description reply.
    let of13 = ["-O", "OpenFlow13"];
    let want = show(&ovs_ofctl, ovs.dir(), &of13);
    assert_eq!(show(fvs_ofctl, ovs.dir(), &of13), want);
    let got = show(fvs_ofctl, fvs.dir(), &of13);
    assert_eq!(
        (got.0, mask_ids(&got.1), got.2),
        (want.0, mask_ids(&want.1), want.2.clone())
    );
    assert!(
        want.1
            .contains("OFPST_PORT_DESC reply (OF1.3) (xid=0x3):\n 1(patch-int)")
    );
}

/// Port and table output with what legitimately differs between two switches masked: patch
/// ports' random addresses, durations, Open vSwitch's `BUNDLES` capability (ferrovs has
/// no bundles yet), the custom counters Open vSwitch's dummy devices make up
/// (`CUSTOM Statistics`), and the order of port statistics, which is Open vSwitch's hash
/// table's (the blocks are sorted).
fn mask_switch(text: &str) -> String {
    let masked = mask_ids(text);
    let mut lines: Vec<String> = Vec::new();
    let mut in_custom = false;
    for l in masked.lines() {
        if l == "           CUSTOM Statistics" {
            in_custom = true;
            continue;
        }
        if in_custom && l.starts_with("                      ") {
            continue;
        }
        in_custom = false;
        let l = match l.find("duration=") {
            Some(at) if l.ends_with('s') => format!("{}duration=D", &l[..at]),
            _ => l.strip_suffix(" BUNDLES").unwrap_or(l).to_owned(),
        };
        lines.push(l);
    }
    // Sort each reply's port statistics blocks (a "  port" line and its continuation lines).
    let mut out: Vec<String> = Vec::new();
    let mut blocks: Vec<Vec<String>> = Vec::new();
    let flush = |blocks: &mut Vec<Vec<String>>, out: &mut Vec<String>| {
        blocks.sort();
        out.extend(blocks.drain(..).flatten());
    };
    for l in lines {
        if l.starts_with("  port ") {
            blocks.push(vec![l]);
        } else if l.starts_with("           ") && !blocks.is_empty() {
            if let Some(b) = blocks.last_mut() {
                b.push(l);
            }
        } else {
            flush(&mut blocks, &mut out);
            out.push(l);
        }
    }
    flush(&mut blocks, &mut out);
    out.join("\n")
}

#[test]
fn port_and_table_commands_read_on_both_switches_as_on_ovs_vswitchd() {
    let (ovs, fvs) = switches_speaking_all();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let seed = SEED_BR_TUN_FLOWS_PATH.to_string();
    // The seed's flows, so that table statistics count something.
    for dir in [ovs.dir(), fvs.dir()] {
        let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
        let out = run(&ovs_ofctl, dir, &["add-flows".into(), target, seed.clone()]);
        assert_eq!(out.status, Some(0), "add-flows: {}", out.stderr);
    }
    let mut steps: Vec<Vec<&str>> = Vec::new();
    for o in VERSIONS {
        let with = |args: &[&'static str]| with_version(o, args);
        for args in [
            &["show", "TARGET"][..],
            &["dump-ports-desc", "TARGET"],
            &["dump-tables", "TARGET"],
            &["dump-ports", "TARGET"],
            &["dump-ports", "TARGET", "2"],
            &["dump-ports", "TARGET", "patch-int"],
            &["dump-ports", "TARGET", "nonesuch"],
            &["set-frags", "TARGET", "drop"],
            &["get-frags", "TARGET"],
            &["set-frags", "TARGET", "reassemble"],
            &["set-frags", "TARGET", "nx-match"],
            &["set-frags", "TARGET", "normal"],
            &["get-frags", "TARGET"],
            &["mod-port", "TARGET", "2", "down"],
            &["mod-port", "TARGET", "patch-int", "down"],
            &["mod-port", "TARGET", "patch-int", "no-receive"],
            &["mod-port", "TARGET", "gre-0a000115", "no-packet-in"],
            &["dump-ports-desc", "TARGET"],
            &["show", "TARGET"],
            &["mod-port", "TARGET", "2", "up"],
            &["mod-port", "TARGET", "patch-int", "receive"],
            &["mod-port", "TARGET", "gre-0a000115", "packet-in"],
            &["mod-port", "TARGET", "LOCAL", "up"],
            &["mod-port", "TARGET", "9", "up"],
            &["mod-port", "TARGET", "1", "sideways"],
            &["dump-ports-desc", "TARGET"],
        ] {
            steps.push(with(args));
        }
    }
    let expand = |dir: &Path, args: &[&str]| -> Vec<String> {
        let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
        args.iter().map(|a| a.replace("TARGET", &target)).collect()
    };
    let mut downs = 0;
    for args in &steps {
        let want = run(&ovs_ofctl, ovs.dir(), &expand(ovs.dir(), args));
        // fvs-ofctl against the same Open vSwitch: the same text, durations aside.
        let got = run(fvs_ofctl, ovs.dir(), &expand(ovs.dir(), args));
        let same = |o: &Outcome| {
            (
                o.status,
                mask_switch(&o.stdout).replace(" BUNDLES", ""),
                o.stderr.clone(),
            )
        };
        assert_eq!(
            same(&got),
            same(&want),
            "fvs-ofctl {args:?} against ovs-vswitchd"
        );
        // ovs-ofctl and fvs-ofctl against fvs-vswitchd: what ovs-ofctl prints for Open
        // vSwitch, with the switch-specific values masked.
        let masked = |o: &Outcome| (o.status, mask_switch(&o.stdout), o.stderr.clone());
        for program in [ovs_ofctl.as_path(), fvs_ofctl] {
            let got = run(program, fvs.dir(), &expand(fvs.dir(), args));
            assert_eq!(
                masked(&got),
                masked(&want),
                "{} {args:?} against fvs-vswitchd",
                program.display()
            );
        }
        downs += want.stdout.matches("PORT_DOWN").count();
    }
    // The sequence did what it means to: ports went down (a patch port cannot) and came up.
    assert!(downs >= 4, "{downs}");
}

/// Runs `steps` through `programs` (each step once per program, so steps must be
/// idempotent when several are given) against fvs-vswitchd, and ovs-ofctl then every other
/// program against ovs-vswitchd; compares every outcome and flow table with ovs-ofctl's
/// against ovs-vswitchd, as [`compare`] does.
fn compare_programs(
    ovs: &PrivateOvs,
    fvs: &Fvs,
    programs: &[&Path],
    steps: &[Vec<&str>],
) -> Vec<(Outcome, Vec<String>)> {
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let mut seen = Vec::new();
    for args in steps {
        let expand = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        let want = run(&ovs_ofctl, ovs.dir(), &expand(ovs.dir()));
        let real = table(
            &ovs.appctl(&["bridge/dump-flows", "br-tun"])
                .unwrap_or_else(|e| panic!("ovs-appctl bridge/dump-flows: {e}")),
        );
        for program in programs.iter().filter(|p| **p != ovs_ofctl.as_path()) {
            let got = run(program, ovs.dir(), &expand(ovs.dir()));
            assert_eq!(
                got,
                want,
                "{} {args:?} against ovs-vswitchd",
                program.display()
            );
            let after = table(
                &ovs.appctl(&["bridge/dump-flows", "br-tun"])
                    .unwrap_or_else(|e| panic!("ovs-appctl bridge/dump-flows: {e}")),
            );
            assert_eq!(
                after,
                real,
                "ovs-vswitchd's tables after {} {args:?}",
                program.display()
            );
        }
        for program in programs {
            let got = run(program, fvs.dir(), &expand(fvs.dir()));
            assert_eq!(
                got,
                want,
                "{} {args:?} against fvs-vswitchd",
                program.display()
            );
            assert_eq!(
                table(&fvs.dump_flows("br-tun")),
                real,
                "flow tables after {} {args:?}",
                program.display()
            );
        }
        seen.push((want, real));
    }
    seen
}

#[test]
fn bundles_apply_all_or_nothing_as_on_ovs_vswitchd() {
    let (ovs, fvs) = switches();
    let dir = TempDir::new("fvs-cli-bundle");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p.display().to_string()
    };
    // Two flows overlapping each other: accepted, each is checked against the tables as
    // they were before the bundle.
    let ok = write(
        "ok.flows",
        "table=6,priority=1,actions=drop\ntable=6,priority=2,ip,check_overlap,actions=drop\ntable=6,priority=2,ip,nw_src=1.2.3.4,check_overlap,actions=drop\n",
    );
    // Table 254 is refused when the flow is added to the bundle: nothing is applied.
    let hidden = write(
        "hidden.flows",
        "table=7,priority=1,actions=drop\ntable=254,priority=2,actions=drop\n",
    );
    let seed = SEED_BR_TUN_FLOWS_PATH.to_string();
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let steps: Vec<Vec<&str>> = vec![
        vec!["--bundle", "add-flows", "TARGET", &seed],
        vec!["--bundle", "add-flows", "TARGET", &ok],
        vec![
            "-O",
            "OpenFlow13",
            "--bundle",
            "add-flows",
            "TARGET",
            &hidden,
        ],
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-flows",
            "TARGET",
            &hidden,
        ],
        // An overlap with a flow already there fails the commit: two errors, nothing applied.
        vec![
            "--bundle",
            "add-flow",
            "TARGET",
            "table=6,priority=2,ip,nw_src=1.2.3.0/24,check_overlap,actions=drop",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "--bundle",
            "mod-flows",
            "TARGET",
            "table=6,actions=output:1",
        ],
        vec!["--bundle", "del-flows", "TARGET", "table=6,ip"],
        vec!["--bundle", "replace-flows", "TARGET", &ok],
        vec!["diff-flows", "TARGET", &seed],
        vec![
            "-O",
            "OpenFlow13",
            "--bundle",
            "replace-flows",
            "TARGET",
            &ok,
        ],
    ];
    let fvs_ofctl = Path::new(env!("CARGO_BIN_EXE_fvs-ofctl"));
    let seen = compare_programs(&ovs, &fvs, &[ovs_ofctl.as_path(), fvs_ofctl], &steps);
    assert!(seen[0].1.iter().any(|l| l.contains("learn(")));
    assert!(seen[2].0.stderr.contains("OFPBRC_EPERM"), "{:?}", seen[2].0);
    assert!(!seen[2].1.iter().any(|l| l.contains("table_id=7")));
    assert!(
        seen[4].0.stderr.contains("OFPBFC_MSG_FAILED"),
        "{:?}",
        seen[4].0
    );
    assert_eq!(seen[7].1.len(), 3, "{:?}", seen[7].1);
}

#[test]
fn dump_flows_filters_select_as_on_ovs_vswitchd() {
    let (ovs, fvs) = switches_speaking_all();
    let dir = TempDir::new("fvs-cli-filter");
    let flows = dir.path().join("filter.flows");
    // Flows that say something of the frame (Ethernet, VLAN, IP, TCP/UDP) and flows that
    // match only metadata (input port, tunnel id, register).
    std::fs::write(
        &flows,
        "table=0,priority=9,tcp,in_port=1,tp_dst=80,actions=drop\n\
         table=0,priority=8,udp,in_port=1,tp_dst=80,actions=drop\n\
         table=0,priority=1,in_port=1,actions=drop\n\
         table=30,priority=20,dl_src=00:00:00:00:00:01,actions=drop\n\
         table=30,priority=21,ip,actions=drop\n\
         table=30,priority=22,dl_vlan=5,actions=drop\n\
         table=30,priority=23,tun_id=5,actions=drop\n\
         table=30,priority=24,reg0=5,actions=drop\n\
         table=30,priority=26,arp,actions=drop\n",
    )
    .unwrap_or_else(|e| panic!("{}: {e}", flows.display()));
    let flows = flows.display().to_string();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let mut steps: Vec<Vec<&str>> = vec![vec!["add-flows", "TARGET", &flows]];
    for o in VERSIONS {
        // A field without its prerequisites (tcp_dst without tcp) is left out of the request,
        // which then asks for Ethernet packets: the metadata-only flows are not listed.
        for filter in [
            "in_port=1,tcp_dst=80",
            "table=30,tcp_dst=80",
            "table=30,nw_src=1.2.3.4",
            "ip,tcp_dst=80",
            "table=30,in_port=2,tcp_flags=+syn",
            "table=30",
            "in_port=1",
        ] {
            // Sorted: Open vSwitch lists flows of one table in its classifier's order.
            steps.push(with_version(
                o,
                &["--no-stats", "--rsort", "dump-flows", "TARGET", filter],
            ));
        }
    }
    // Sorting by a field: flows that match it by value, the others after them (by priority
    // here; Open vSwitch leaves some ties in no defined order, which these flows avoid).
    for sort in [
        &["--sort=in_port"][..],
        &["--rsort=in_port"],
        &["--sort=dl_src", "--rsort=priority"],
        &["--sort=nonesuch"],
    ] {
        let mut v = vec!["--no-stats"];
        v.extend_from_slice(sort);
        v.extend(["dump-flows", "TARGET"]);
        steps.push(v);
    }
    // Flows added in OpenFlow 1.3 (mod_vlan_vid travels as push_vlan and set_field) dumped
    // in 1.0: push_vlan has no 1.0 form and reads back as mod_vlan_vid.
    let seed = SEED_BR_TUN_FLOWS_PATH.to_string();
    steps.push(vec!["-O", "OpenFlow13", "add-flows", "TARGET", &seed]);
    steps.push(vec![
        "--no-stats",
        "--rsort",
        "dump-flows",
        "TARGET",
        "table=3",
    ]);
    let seen = compare_programs(&ovs, &fvs, &[&ovs_ofctl, fvs_ofctl], &steps);
    assert!(
        seen[seen.len() - 1]
            .0
            .stdout
            .contains("actions=mod_vlan_vid:1,resubmit(,10)"),
        "{}",
        seen[seen.len() - 1].0.stdout
    );
    let listed = |i: usize| seen[i].0.stdout.lines().count();
    // in_port=1,tcp_dst=80: the TCP and UDP flows, not `in_port=1` alone.
    assert_eq!(listed(1), 2, "{}", seen[1].0.stdout);
    // table=30,tcp_dst=80: the four frame flows, not tun_id=5 or reg0=5.
    assert_eq!(listed(2), 4, "{}", seen[2].0.stdout);
    assert_eq!(listed(6), 6, "{}", seen[6].0.stdout);
}

/// `dump-table-features` output without the field lists (which name the fields each switch
/// supports: Open vSwitch knows more than ferrovs's registry).
fn features_shape(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(": ") {
            Some((k, _))
                if [
                    "supported on Set-Field",
                    "arbitrary mask",
                    "exact match or wildcard",
                ]
                .contains(&k.trim()) =>
            {
                k.to_string()
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn table_features_read_alike_through_both_programs() {
    let (ovs, fvs) = switches_speaking_all();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    for o in VERSIONS {
        let args = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
            with_version(o, &["dump-table-features", &target])
                .into_iter()
                .map(String::from)
                .collect()
        };
        let want = run(&ovs_ofctl, fvs.dir(), &args(fvs.dir()));
        // fvs-ofctl prints fvs-vswitchd's honest reply exactly as ovs-ofctl does.
        assert_eq!(run(fvs_ofctl, fvs.dir(), &args(fvs.dir())), want, "{o:?}");
        // Against Open vSwitch and ferrovs alike, everything but the supported fields agrees.
        let real = run(&ovs_ofctl, ovs.dir(), &args(ovs.dir()));
        assert_eq!(
            (real.status, features_shape(&real.stdout), &real.stderr),
            (want.status, features_shape(&want.stdout), &want.stderr),
            "{o:?}"
        );
        if o.is_some() {
            assert!(
                want.stdout.contains("  tables 1...252: ditto"),
                "{}",
                want.stdout
            );
            assert!(want.stdout.contains("reg0...reg15"), "{}", want.stdout);
        } else {
            assert!(
                want.stderr.contains("needs OpenFlow 1.3"),
                "{}",
                want.stderr
            );
        }
    }
}

#[test]
fn port_names_read_and_print_as_ovs_ofctl_does() {
    let (ovs, fvs) = switches();
    let dir = TempDir::new("fvs-cli-names");
    let flows = dir.path().join("names.flows");
    std::fs::write(
        &flows,
        "table=6,priority=3,in_port=patch-int,actions=output:\"gre-0a000115\",resubmit(patch-int,7)\n\
         table=6,priority=2,in_port=\"gre-0a000115\",actions=enqueue:patch-int:3\n",
    )
    .unwrap_or_else(|e| panic!("{}: {e}", flows.display()));
    let flows = flows.display().to_string();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "add-flow",
            "TARGET",
            "table=5,priority=4,in_port=gre-0a000115,actions=output:patch-int",
        ],
        vec!["add-flows", "TARGET", &flows],
        vec!["-O", "OpenFlow13", "add-flows", "TARGET", &flows],
        // An unknown name is refused after asking the switch.
        vec!["add-flow", "TARGET", "in_port=nonesuch,actions=drop"],
        vec![
            "--no-stats",
            "--rsort",
            "dump-flows",
            "TARGET",
            "in_port=patch-int",
        ],
        vec!["--names", "--no-stats", "--rsort", "dump-flows", "TARGET"],
        vec![
            "--no-names",
            "--no-stats",
            "--rsort",
            "dump-flows",
            "TARGET",
        ],
        vec![
            "-O",
            "OpenFlow14",
            "--names",
            "--no-stats",
            "--rsort",
            "dump-flows",
            "TARGET",
            "table=6",
        ],
        vec!["dump-aggregate", "TARGET", "in_port=gre-0a000115"],
    ];
    let seen = compare_programs(&ovs, &fvs, &[&ovs_ofctl, fvs_ofctl], &steps);
    assert!(
        seen[0].1.iter().any(|l| l.contains("in_port=2")),
        "{:?}",
        seen[0].1
    );
    assert_eq!(seen[3].0.status, Some(1));
    // (The OpenFlow 1.3 add replaced the enqueue with 1.3's set_queue, output, pop_queue.)
    assert!(
        seen[5].0.stdout.contains(
            "in_port=\"gre-0a000115\" actions=set_queue:3,output:\"patch-int\",pop_queue"
        ),
        "{}",
        seen[5].0.stdout
    );
    assert!(
        seen[6]
            .0
            .stdout
            .contains("in_port=2 actions=set_queue:3,output:1,pop_queue"),
        "{}",
        seen[6].0.stdout
    );
}

#[test]
fn probe_and_ping_answer_as_on_ovs_vswitchd() {
    let (ovs, fvs) = switches();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    // Round-trip times differ by nature.
    let timeless = |o: Outcome| Outcome {
        stdout: o
            .stdout
            .lines()
            .map(|l| l.split(" time=").next().unwrap_or(l).to_string() + "\n")
            .collect(),
        ..o
    };
    for args in [
        &["probe", "TARGET"][..],
        &["ping", "TARGET"],
        &["-O", "OpenFlow13", "ping", "TARGET", "1"],
        &["ping", "TARGET", "0"],
        &["ping", "TARGET", "65600"],
    ] {
        let expand = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        // Targets print as given: masked like the directories.
        let want = timeless(run(&ovs_ofctl, ovs.dir(), &expand(ovs.dir())));
        for program in [ovs_ofctl.as_path(), fvs_ofctl] {
            let got = timeless(run(program, fvs.dir(), &expand(fvs.dir())));
            assert_eq!(got, want, "{} {args:?}", program.display());
        }
        assert_eq!(
            timeless(run(fvs_ofctl, ovs.dir(), &expand(ovs.dir()))),
            want,
            "fvs-ofctl {args:?} against ovs-vswitchd"
        );
        if args[0] == "ping" && args.len() == 2 {
            assert_eq!(want.stdout.lines().count(), 10, "{}", want.stdout);
            assert!(
                want.stdout
                    .starts_with("64 bytes from unix:DIR/br-tun.mgmt: xid=")
            );
        }
    }
}

/// A TCP port free on the loopback address now (released for the switch to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

#[test]
fn tcp_targets_work_as_unix_ones() {
    let (ovs, fvs) = switches();
    let (p_ovs, p_fvs) = (free_port(), free_port());
    ovs.vsctl(&[
        "set-controller",
        "br-tun",
        &format!("ptcp:{p_ovs}:127.0.0.1"),
    ])
    .unwrap_or_else(|e| panic!("ovs-vsctl set-controller: {e}"));
    fvs.vsctl(&[
        "set-controller",
        "br-tun",
        &format!("ptcp:{p_fvs}:127.0.0.1"),
    ]);
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let tcp = |port: u16| format!("tcp:127.0.0.1:{port}");
    // The listeners come up with the reconfiguration: wait for both.
    for port in [p_ovs, p_fvs] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for args in [
        &["add-flow", "TARGET", "table=3,priority=7,tcp,actions=drop"][..],
        &["--no-stats", "dump-flows", "TARGET"],
        &["-O", "OpenFlow13", "dump-ports-desc", "TARGET"],
        &["get-frags", "TARGET"],
    ] {
        let on = |port: u16| -> Vec<String> {
            args.iter()
                .map(|a| a.replace("TARGET", &tcp(port)))
                .collect()
        };
        let strip = |o: Outcome, port: u16| Outcome {
            stdout: mask_ids(&o.stdout.replace(&port.to_string(), "PORT")),
            stderr: o.stderr.replace(&port.to_string(), "PORT"),
            ..o
        };
        let want = strip(run(&ovs_ofctl, ovs.dir(), &on(p_ovs)), p_ovs);
        assert_eq!(want.status, Some(0), "{args:?}: {}", want.stderr);
        for program in [ovs_ofctl.as_path(), fvs_ofctl] {
            let got = strip(run(program, fvs.dir(), &on(p_fvs)), p_fvs);
            assert_eq!(got, want, "{} {args:?} over TCP", program.display());
        }
        let got = strip(run(fvs_ofctl, ovs.dir(), &on(p_ovs)), p_ovs);
        assert_eq!(got, want, "fvs-ofctl {args:?} over TCP to ovs-vswitchd");
    }
}

/// Starts `ovs-ofctl monitor TARGET 65534` on `dir`'s br-tun; what it printed, once stopped,
/// by [`stop_monitor`].
fn start_monitor(dir: &Path) -> Child {
    let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
    require_tool("ovs-ofctl")
        .command()
        .args(["monitor", &target, "65534"])
        // Its own control socket goes to the private directory.
        .env("OVS_RUNDIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start ovs-ofctl monitor: {e}"))
}

fn stop_monitor(mut child: Child) -> String {
    // Only this child, by its own pid; SIGTERM, which ovs-ofctl answers by flushing its
    // output and exiting (SIGKILL would lose what stdio still buffers).
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
    // The monitor prints what it receives on standard error, along with its own log lines.
    let printed: String =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let messages: Vec<&str> = printed.lines().filter(|l| !l.contains('|')).collect();
    mask_ids(&messages.join("\n"))
}

#[test]
fn port_mods_are_announced_as_on_ovs_vswitchd() {
    let (ovs, fvs) = switches();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let mut printed = Vec::new();
    for (dir, program) in [
        (ovs.dir(), ovs_ofctl.as_path()),
        (fvs.dir(), ovs_ofctl.as_path()),
        (fvs.dir(), fvs_ofctl),
    ] {
        let monitor = start_monitor(dir);
        // The monitor is connected once it has asked for its settings; a moment is enough.
        std::thread::sleep(Duration::from_millis(500));
        let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
        for (port, action) in [
            ("2", "down"),
            ("2", "up"),
            ("1", "no-flood"),
            ("1", "flood"),
            ("patch-int", "down"),
            ("gre-0a000115", "no-receive"),
            ("gre-0a000115", "receive"),
        ] {
            let out = run(
                program,
                dir,
                &[
                    "mod-port".to_string(),
                    target.clone(),
                    port.to_string(),
                    action.to_string(),
                ],
            );
            assert_eq!(
                out.status,
                Some(0),
                "mod-port {port} {action}: {}",
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        printed.push(stop_monitor(monitor));
    }
    assert!(
        printed[0].matches("OFPT_PORT_STATUS").count() >= 8,
        "{}",
        printed[0]
    );
    assert_eq!(printed[1], printed[0], "ovs-ofctl mod-port on fvs-vswitchd");
    assert_eq!(printed[2], printed[0], "fvs-ofctl mod-port on fvs-vswitchd");
}

/// A UDP frame from 00:00:00:00:00:01 (192.168.0.1:1) to broadcast (192.168.0.2:2).
const UDP_FRAME: &str =
    "ffffffffffff00000000000108004500001c000100004011f97ac0a80001c0a80002000100020008fff7";
/// An ICMP echo request between the same hosts.
const ICMP_FRAME: &str = "ffffffffffff000000000001080045000054000100004001f957c0a80001c0a800020800f7ff0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
/// A TCP SYN between the same hosts.
const TCP_FRAME: &str = "ffffffffffff000000000001080045000028000100004006f976c0a80001c0a80002000100020000000000000000500220001234000000000000";

/// Adds br0 with dummy ports p1 (1) and p2 (2), each writing what it sends to `pN.pcap` in
/// `dir`, through `vsctl`.
fn packet_bridge(dir: &Path, vsctl: impl Fn(&[&str])) {
    vsctl(
        &AddBridge::new("br0")
            .set(&[
                "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15",
                "other_config:hwaddr=\"02:00:00:00:0b:01\"",
            ])
            .args(),
    );
    // One port per transaction: Open vSwitch numbers the dummy devices of one transaction in
    // its hash table's order.
    for (p, n) in [("p1", "1"), ("p2", "2")] {
        let pcap = format!(
            "options:tx_pcap={}",
            dir.join(format!("{p}.pcap")).display()
        );
        let request = format!("ofport_request={n}");
        let interface = ["--", "set", "interface", p, "type=dummy", &pcap, &request];
        vsctl(&[&["add-port", "br0", p][..], &interface].concat());
    }
}

/// Both switches with [`packet_bridge`]'s br0.
fn packet_bridges() -> (PrivateOvs, Fvs) {
    let ovs = PrivateOvs::start();
    packet_bridge(ovs.dir(), |args| {
        ovs.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
    });
    let fvs = Fvs::start();
    packet_bridge(fvs.dir(), |args| fvs.vsctl(args));
    (ovs, fvs)
}

/// The frames a dummy port has sent, in hex, once `n` of them are there (or after a few
/// seconds, with what there is).
fn sent_frames(pcap: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frames = fvs_test_support::frames::pcap_frames_or_empty(pcap);
        if frames.len() >= n || Instant::now() > deadline {
            return frames
                .iter()
                .map(|f| fvs_test_support::frames::hex(f))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn packet_outs_leave_the_ports_they_name_as_on_ovs_vswitchd() {
    let (ovs, fvs) = packet_bridges();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    // Each step: arguments (TARGET for br0's socket) and how many frames p1 and p2 have sent
    // in all once it is done.
    let bare = format!("packet={UDP_FRAME}");
    let udp_as_po = format!("in_port=1,packet={UDP_FRAME},actions=output:2");
    let named = format!("in_port=p1 reg0=5 tun_id=0x3 packet={ICMP_FRAME} actions=output:p2");
    let steps: Vec<(Vec<&str>, usize, usize)> = vec![
        (
            vec!["packet-out", "TARGET", "1", "output:2", UDP_FRAME],
            0,
            1,
        ),
        (
            vec![
                "-O",
                "OpenFlow13",
                "packet-out",
                "TARGET",
                "p1",
                "output:p2",
                ICMP_FRAME,
                TCP_FRAME,
            ],
            0,
            3,
        ),
        (
            vec!["-O", "OpenFlow15", "packet-out", "TARGET", &udp_as_po],
            0,
            4,
        ),
        (
            vec!["-O", "OpenFlow15", "packet-out", "TARGET", &named],
            0,
            5,
        ),
        (
            vec!["-O", "OpenFlow14", "packet-out", "TARGET", &udp_as_po],
            0,
            6,
        ),
        (
            vec![
                "packet-out",
                "TARGET",
                "LOCAL",
                "output:1,output:2",
                UDP_FRAME,
            ],
            1,
            7,
        ),
        (
            vec!["packet-out", "TARGET", "2", "in_port", TCP_FRAME],
            1,
            8,
        ),
        (vec!["packet-out", "TARGET", &bare], 1, 8),
        // Refused before anything is sent.
        (vec!["packet-out", "TARGET", "1", "output:2", "zz"], 1, 8),
        (vec!["packet-out", "TARGET", "1", "output:2", "0011"], 1, 8),
        (vec!["packet-out", "TARGET", "1", "bogus", UDP_FRAME], 1, 8),
        (
            vec!["packet-out", "TARGET", "nosuch", "output:2", UDP_FRAME],
            1,
            8,
        ),
        (vec!["packet-out", "TARGET", "1", "output:2"], 1, 8),
        (
            vec!["packet-out", "TARGET", "1", "meter:1", UDP_FRAME],
            1,
            8,
        ),
        (
            vec!["packet-out", "TARGET", "1", "goto_table:1", UDP_FRAME],
            1,
            8,
        ),
        (
            vec!["packet-out", "TARGET", "1", "write_metadata:1", UDP_FRAME],
            1,
            8,
        ),
        (
            vec!["packet-out", "TARGET", "in_port=1,actions=output:2"],
            1,
            8,
        ),
        (
            vec![
                "packet-out",
                "TARGET",
                "in_port=1,foo=1,packet=00,actions=output:2",
            ],
            1,
            8,
        ),
        (
            vec![
                "packet-out",
                "TARGET",
                "in_port=nosuch,packet=00,actions=output:2",
            ],
            1,
            8,
        ),
        (
            vec![
                "packet-out",
                "TARGET",
                "in_port=1,packet=zz,actions=output:2",
            ],
            1,
            8,
        ),
    ];
    for (args, p1, p2) in &steps {
        let on = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br0.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        let want = run(&ovs_ofctl, ovs.dir(), &on(ovs.dir()));
        for (program, dir) in [
            (fvs_ofctl, fvs.dir()),
            (ovs_ofctl.as_path(), fvs.dir()),
            (fvs_ofctl, ovs.dir()),
        ] {
            let got = run(program, dir, &on(dir));
            assert_eq!(
                got,
                want,
                "{} {args:?} on {}",
                program.display(),
                dir.display()
            );
        }
        // Each switch served two of the four runs.
        for dir in [ovs.dir(), fvs.dir()] {
            assert_eq!(
                sent_frames(&dir.join("p1.pcap"), 2 * p1).len(),
                2 * p1,
                "frames out of p1 after {args:?} ({})",
                dir.display()
            );
            assert_eq!(
                sent_frames(&dir.join("p2.pcap"), 2 * p2).len(),
                2 * p2,
                "frames out of p2 after {args:?} ({})",
                dir.display()
            );
        }
    }
    // Refused by the switch (no group 5 on either): the error and the quoted packet-out
    // with its summary line, through both programs on both switches.
    for frame in [UDP_FRAME, TCP_FRAME, ICMP_FRAME] {
        let on = |dir: &Path| -> Vec<String> {
            let target = format!("unix:{}", dir.join("br0.mgmt").display());
            [
                "-O",
                "OpenFlow13",
                "packet-out",
                &target,
                "1",
                "clone(group:5)",
                frame,
            ]
            .iter()
            .map(ToString::to_string)
            .collect()
        };
        let want = run(&ovs_ofctl, ovs.dir(), &on(ovs.dir()));
        assert!(want.stderr.contains("OFPBAC_BAD_OUT_GROUP"), "{want:?}");
        for (program, dir) in [
            (fvs_ofctl, fvs.dir()),
            (ovs_ofctl.as_path(), fvs.dir()),
            (fvs_ofctl, ovs.dir()),
        ] {
            let got = run(program, dir, &on(dir));
            assert_eq!(
                got,
                want,
                "{} group on {}",
                program.display(),
                dir.display()
            );
        }
    }
    // The frames themselves: each went out as it was given, in order, on both switches.
    for port in ["p1", "p2"] {
        let real = sent_frames(&ovs.dir().join(format!("{port}.pcap")), 0);
        assert_eq!(
            sent_frames(&fvs.dir().join(format!("{port}.pcap")), 0),
            real,
            "{port}"
        );
    }
    let p2 = sent_frames(&ovs.dir().join("p2.pcap"), 0);
    assert_eq!(p2[0], UDP_FRAME);
    assert_eq!(p2[1], UDP_FRAME);
    assert_eq!(&p2[2..6], &[ICMP_FRAME, TCP_FRAME, ICMP_FRAME, TCP_FRAME]);
}

/// Starts `PROGRAM [PROTOCOLS] monitor unix:DIR/br0.mgmt 65534` (ovs-ofctl's own control socket in
/// `dir`); stopped by [`stop_monitor`].
fn start_br0_monitor(program: &Path, dir: &Path, protocols: &[&str]) -> Child {
    let target = format!("unix:{}", dir.join("br0.mgmt").display());
    Command::new(program)
        .args(protocols)
        .args(["monitor", &target, "65534"])
        .env("OVS_RUNDIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} monitor: {e}", program.display()))
}

/// Flow ages masked.
fn mask_monitor(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut l = line.to_string();
        if let Some(i) = l.find(" duration") {
            let end = l[i + 9..].find(' ').map_or(l.len(), |e| i + 9 + e);
            l.replace_range(i + 9..end, "D");
        }
        out.push(l);
    }
    out.join("\n")
}

#[test]
fn monitors_print_asynchronous_messages_as_ovs_ofctl_monitor() {
    monitors_print_alike(&[]);
}

#[test]
fn openflow13_monitors_print_asynchronous_messages_as_ovs_ofctl_monitor() {
    monitors_print_alike(&["-O", "OpenFlow13"]);
}

#[test]
fn openflow15_monitors_print_asynchronous_messages_as_ovs_ofctl_monitor() {
    monitors_print_alike(&["-O", "OpenFlow15"]);
}

/// Both monitors (with `protocols`) on both switches while packet-ins, a flow-removed and
/// port-statuses happen: all four print what ovs-ofctl prints on ovs-vswitchd.
fn monitors_print_alike(protocols: &[&str]) {
    let (ovs, fvs) = packet_bridges();
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let ovs_appctl = require_tool("ovs-appctl").path().to_path_buf();
    let fvs_ofctl = Path::new(env!("CARGO_BIN_EXE_fvs-ofctl"));
    let mut printed = Vec::new();
    for (dir, ctl, vsctl) in [
        (
            ovs.dir(),
            ovs.vswitchd_ctl(),
            Box::new(|args: &[&str]| {
                ovs.vsctl(args)
                    .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
            }) as Box<dyn Fn(&[&str])>,
        ),
        (
            fvs.dir(),
            fvs.dir().join("fvs-vswitchd.ctl"),
            Box::new(|args: &[&str]| fvs.vsctl(args)),
        ),
    ] {
        let monitors = [
            start_br0_monitor(&ovs_ofctl, dir, protocols),
            start_br0_monitor(fvs_ofctl, dir, protocols),
        ];
        std::thread::sleep(Duration::from_millis(500));
        let target = format!("unix:{}", dir.join("br0.mgmt").display());
        let ofctl = |args: &[&str]| {
            let mut full = vec![args[0], target.as_str()];
            full.extend_from_slice(&args[1..]);
            let out = run(
                &ovs_ofctl,
                dir,
                &full.iter().map(ToString::to_string).collect::<Vec<_>>(),
            );
            assert_eq!(out.status, Some(0), "{args:?}: {}", out.stderr);
            std::thread::sleep(Duration::from_millis(200));
        };
        // Packet-ins: a rule's controller action on a frame received on p1, with a cookie
        // and in a later table; a packet-out's.
        ofctl(&["add-flow", "in_port=1,actions=resubmit(,3)"]);
        ofctl(&[
            "add-flow",
            "cookie=0x42,table=3,actions=load:5->NXM_NX_REG0[],controller",
        ]);
        let out = Command::new(&ovs_appctl)
            .args(["-t"])
            .arg(&ctl)
            .args(["netdev-dummy/receive", "p1", UDP_FRAME])
            .output()
            .unwrap_or_else(|e| panic!("ovs-appctl: {e}"));
        assert!(out.status.success(), "netdev-dummy/receive: {out:?}");
        std::thread::sleep(Duration::from_millis(200));
        ofctl(&["packet-out", "2", "controller", TCP_FRAME]);
        ofctl(&["packet-out", "LOCAL", "controller:max_len=20", ICMP_FRAME]);
        // Flow-removed: a rule that asked for it, deleted.
        ofctl(&[
            "add-flow",
            "priority=5,send_flow_rem,idle_timeout=50,tcp,actions=drop",
        ]);
        ofctl(&["del-flows", "tcp"]);
        // Port-status: a port added, taken down, deleted.
        vsctl(&[
            "add-port",
            "br0",
            "p3",
            "--",
            "set",
            "interface",
            "p3",
            "type=dummy",
            "ofport_request=3",
        ]);
        std::thread::sleep(Duration::from_millis(300));
        ofctl(&["mod-port", "p3", "down"]);
        vsctl(&["del-port", "br0", "p3"]);
        std::thread::sleep(Duration::from_millis(500));
        for m in monitors {
            printed.push(mask_monitor(&stop_monitor(m)));
        }
    }
    let want = &printed[0];
    for needle in [
        "NXT_PACKET_IN2",
        "cookie=0x42",
        "table_id=3",
        "reg0=0x5",
        "FLOW_REMOVED",
        "ADD: 3(p3)",
        "DEL: 3(p3)",
    ] {
        assert!(want.contains(needle), "no {needle} in:\n{want}");
    }
    for (i, what) in [
        (1, "fvs-ofctl monitor on ovs-vswitchd"),
        (2, "ovs-ofctl monitor on fvs-vswitchd"),
        (3, "fvs-ofctl monitor on fvs-vswitchd"),
    ] {
        assert_eq!(&printed[i], want, "{what}");
    }
}

#[test]
fn port_statistics_count_the_frames_that_crossed_ports_as_on_ovs_vswitchd() {
    let (ovs, fvs) = packet_bridges();
    let ovs_ofctl = require_tool("ovs-ofctl").path().to_path_buf();
    let ovs_appctl = require_tool("ovs-appctl").path().to_path_buf();
    let fvs_ofctl = Path::new(env!("CARGO_BIN_EXE_fvs-ofctl"));
    let mut dumps = Vec::new();
    for (dir, ctl) in [
        (ovs.dir(), ovs.vswitchd_ctl()),
        (fvs.dir(), fvs.dir().join("fvs-vswitchd.ctl")),
    ] {
        let target = format!("unix:{}", dir.join("br0.mgmt").display());
        let ofctl = |args: &[&str]| {
            let mut full: Vec<String> = vec![args[0].to_string(), target.clone()];
            full.extend(args[1..].iter().map(ToString::to_string));
            let out = run(&ovs_ofctl, dir, &full);
            assert_eq!(out.status, Some(0), "{args:?}: {}", out.stderr);
        };
        // p1 → p2 for every frame received on p1; three in, three out, and one more out of
        // p1 by packet-out.
        ofctl(&["add-flow", "in_port=1,actions=output:2"]);
        for frame in [UDP_FRAME, TCP_FRAME, ICMP_FRAME] {
            let out = Command::new(&ovs_appctl)
                .arg("-t")
                .arg(&ctl)
                .args(["netdev-dummy/receive", "p1", frame])
                .output()
                .unwrap_or_else(|e| panic!("ovs-appctl: {e}"));
            assert!(out.status.success(), "netdev-dummy/receive: {out:?}");
        }
        ofctl(&["packet-out", "LOCAL", "output:1", UDP_FRAME]);
        assert_eq!(
            sent_frames(&dir.join("p2.pcap"), 3).len(),
            3,
            "p2 in {}",
            dir.display()
        );
        let mut seen = Vec::new();
        for program in [ovs_ofctl.as_path(), fvs_ofctl] {
            for args in [
                vec!["dump-ports".to_string(), target.clone()],
                vec!["dump-ports".to_string(), target.clone(), "2".to_string()],
                vec![
                    "-O".to_string(),
                    "OpenFlow13".to_string(),
                    "dump-ports".to_string(),
                    target.clone(),
                    "1".to_string(),
                ],
            ] {
                let out = run(program, dir, &args);
                assert_eq!(out.status, Some(0), "{args:?}: {}", out.stderr);
                seen.push(sort_port_blocks(&mask_durations(&out.stdout)));
            }
        }
        dumps.push(seen);
    }
    let want = &dumps[0];
    assert!(want[1].contains("tx pkts=3"), "{}", want[1]);
    assert_eq!(&dumps[1], want, "dump-ports on fvs-vswitchd");
}

/// A port statistics reply with its ports' blocks (a `  port N:` line and the lines
/// after it) sorted: Open vSwitch lists ports in its hash table's order.
fn sort_port_blocks(text: &str) -> String {
    let mut head = String::new();
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("  port ") {
            blocks.push(String::new());
        }
        let at = blocks.last_mut().unwrap_or(&mut head);
        at.push_str(line);
        at.push('\n');
    }
    blocks.sort();
    head + &blocks.concat()
}

/// `duration=1.234s` → `duration=Ds`.
fn mask_durations(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("duration=") {
        out.push_str(&rest[..i + 9]);
        rest = rest[i + 9..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        out.push('D');
    }
    out.push_str(rest);
    out
}

/// Reads one OpenFlow message from `s`.
fn read_message(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut msg = vec![0u8; 8];
    s.read_exact(&mut msg)
        .unwrap_or_else(|e| panic!("controller read: {e}"));
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    msg.resize(len.max(8), 0);
    s.read_exact(&mut msg[8..])
        .unwrap_or_else(|e| panic!("controller read: {e}"));
    msg
}

/// An OpenFlow 1.0 message of `kind` with `xid` and `body`.
fn of10(kind: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + body.len()).unwrap_or(u16::MAX);
    let mut m = vec![1, kind];
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[test]
fn snoopers_see_the_controller_conversation_as_on_ovs_vswitchd() {
    use std::io::Write;
    let (ovs, fvs) = packet_bridges();
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let mut printed: Vec<Vec<String>> = Vec::new();
    for (dir, vsctl) in [
        (
            ovs.dir(),
            Box::new(|args: &[&str]| {
                ovs.vsctl(args)
                    .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
            }) as Box<dyn Fn(&[&str])>,
        ),
        (fvs.dir(), Box::new(|args: &[&str]| fvs.vsctl(args))),
    ] {
        // No controller yet: the snooper is turned away.
        let snoop_target = format!("unix:{}", dir.join("br0.snoop").display());
        let mut refusals = Vec::new();
        for program in [ovs_ofctl.as_path(), fvs_ofctl] {
            let refused = run(program, dir, &["snoop".into(), snoop_target.clone()]);
            refusals.push(format!("{refused:?}"));
        }
        // A controller of our own: it listens, the bridge connects to it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("controller listen: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("controller address: {e}"))
            .port();
        vsctl(&["set-controller", "br0", &format!("tcp:127.0.0.1:{port}")]);
        let (mut c, _) = listener
            .accept()
            .unwrap_or_else(|e| panic!("controller accept: {e}"));
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        let send = |c: &mut std::net::TcpStream, m: &[u8]| {
            c.write_all(m)
                .unwrap_or_else(|e| panic!("controller write: {e}"));
        };
        // Hellos (not shown to snoopers), then requests, each answered before the next.
        send(&mut c, &of10(0, 1, &[]));
        assert_eq!(read_message(&mut c)[1], 0, "the switch's hello");
        // The controller connection is up once the switch answers an echo.
        send(&mut c, &of10(2, 9, b""));
        assert_eq!(read_message(&mut c)[1], 3, "an echo reply");
        let snoopers: Vec<Child> = [ovs_ofctl.as_path(), fvs_ofctl]
            .iter()
            .map(|program| {
                Command::new(program)
                    .args(["snoop", &snoop_target])
                    .env("OVS_RUNDIR", dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {} snoop: {e}", program.display()))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        for (kind, xid, body, reply) in [
            (5u8, 2u32, &b""[..], 6u8), // features
            (2, 3, &b"abcd"[..], 3),    // echo
            (7, 4, &b""[..], 8),        // get-config
            (18, 5, &b""[..], 19),      // barrier
        ] {
            send(&mut c, &of10(kind, xid, body));
            loop {
                let m = read_message(&mut c);
                if m[1] == reply {
                    break;
                }
            }
        }
        // A port-status the switch sends on its own.
        let target = format!("unix:{}", dir.join("br0.mgmt").display());
        let out = run(
            &ovs_ofctl,
            dir,
            &["mod-port".into(), target, "p2".into(), "no-flood".into()],
        );
        assert_eq!(out.status, Some(0), "mod-port: {}", out.stderr);
        let m = read_message(&mut c);
        assert_eq!(m[1], 12, "a port-status");
        std::thread::sleep(Duration::from_millis(300));
        printed.push(refusals);
        printed.push(
            snoopers
                .into_iter()
                .map(|s| mask_switch(&stop_monitor(s)))
                .collect(),
        );
        vsctl(&["del-controller", "br0"]);
    }
    // Per switch (the real one first): the refusals without a controller, then what each
    // program printed of the conversation. A refused snooper fails writing its hello or
    // reading the switch's, whichever the race makes first.
    for refused in printed[0].iter().chain(&printed[2]) {
        assert!(
            refused.contains("status: Some(1)")
                && refused.contains("DIR/br0.snoop")
                && (refused.contains("(Broken pipe)")
                    || refused.contains("(Connection reset by peer)")),
            "{refused}"
        );
    }
    let want = &printed[1][0];
    for needle in [
        "OFPT_FEATURES_REPLY",
        "OFPT_ECHO_REPLY",
        "OFPT_GET_CONFIG_REPLY",
        "OFPT_BARRIER_REPLY",
        "OFPT_PORT_STATUS",
    ] {
        assert!(want.contains(needle), "no {needle} in:\n{want}");
    }
    assert!(!want.contains("OFPT_HELLO"), "{want}");
    assert_eq!(&printed[1][1], want, "fvs-ofctl snoop on ovs-vswitchd");
    assert_eq!(&printed[3][0], want, "ovs-ofctl snoop on fvs-vswitchd");
    assert_eq!(&printed[3][1], want, "fvs-ofctl snoop on fvs-vswitchd");
}

/// Runs `steps` (arguments, `TARGET` standing for br-tun's management socket) in order
/// through each program on each switch, each time after `reset` (run by ovs-ofctl, which must
/// succeed) has emptied the table under test, and passes every outcome through `listing`.
/// ovs-ofctl on ovs-vswitchd gives the reference, which `check_reference` looks at first so
/// that a surprise in Open vSwitch shows as one; every other pairing must match it step by
/// step.
fn compare_sequences(
    (ovs, fvs): (&PrivateOvs, &Fvs),
    steps: &[Vec<&str>],
    reset: &[&str],
    listing: fn(Outcome) -> Outcome,
    check_reference: impl FnOnce(&[Outcome]),
) {
    let (ovs_ofctl, fvs_ofctl) = ofctls();
    let sequence = |program: &Path, dir: &Path| -> Vec<Outcome> {
        let target = format!("unix:{}", dir.join("br-tun.mgmt").display());
        let expand = |args: &[&str]| -> Vec<String> {
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        assert_eq!(run(&ovs_ofctl, dir, &expand(reset)).status, Some(0));
        steps
            .iter()
            .map(|args| listing(run(program, dir, &expand(args))))
            .collect()
    };
    let want = sequence(&ovs_ofctl, ovs.dir());
    check_reference(&want);
    for (program, dir) in [
        (fvs_ofctl, fvs.dir()),
        (ovs_ofctl.as_path(), fvs.dir()),
        (fvs_ofctl, ovs.dir()),
    ] {
        let got = sequence(program, dir);
        for ((args, g), w) in steps.iter().zip(&got).zip(&want) {
            assert_eq!(g, w, "{} {args:?} on {}", program.display(), dir.display());
        }
    }
}

/// `outcome` with durations blanked and the lines of each listing sorted (Open vSwitch lists
/// groups in hash order, ferrovs by number).
fn group_listing(o: Outcome) -> Outcome {
    o.map_text(|s| {
        let mut blocks: Vec<Vec<String>> = Vec::new();
        for line in s.lines() {
            let line = line
                .split(',')
                .map(|f| {
                    if f.starts_with("duration=") {
                        "duration=X"
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            if line.starts_with(' ')
                && let Some(b) = blocks.last_mut()
            {
                b.push(line);
                continue;
            }
            blocks.push(vec![line]);
        }
        blocks
            .into_iter()
            .map(|mut b| {
                b[1..].sort();
                b.join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn group_commands_read_and_write_as_ovs_ofctl_on_ovs_vswitchd() {
    let (ovs, fvs) = switches_speaking_all();
    // add-groups reads one group per line, skipping comments and blank lines.
    let files = TempDir::new("fvs-cli-groups");
    let groups_file = files.path().join("groups.txt");
    std::fs::write(
        &groups_file,
        "# two groups\ngroup_id=50,type=all,bucket=output:1\n\ngroup_id=51,type=indirect,bucket=output:1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let groups_file = groups_file.display().to_string();
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "TARGET",
            "group_id=1,type=all,bucket=output:1,bucket=mod_vlan_vid:5,output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "TARGET",
            "group_id=1,type=all,bucket=output:1",
        ],
        vec![
            "add-group",
            "TARGET",
            "group_id=2,type=select,bucket=weight:5,output:1,bucket=actions=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "TARGET",
            "group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_group:1,output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "TARGET",
            "group_id=4,type=indirect,bucket=output:1,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "TARGET",
            "group_id=4,type=bogus",
        ],
        vec!["-O", "OpenFlow13", "add-group", "TARGET", "type=all"],
        vec![
            "-O",
            "OpenFlow13",
            "add-group",
            "TARGET",
            "group_id=4,type=ff,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "mod-group",
            "TARGET",
            "group_id=9,type=all,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "--may-create",
            "mod-group",
            "TARGET",
            "group_id=9,type=indirect,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "insert-buckets",
            "TARGET",
            "group_id=2,command_bucket_id=first,bucket=bucket_id:7,output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "insert-buckets",
            "TARGET",
            "group_id=2,command_bucket_id=last,bucket=bucket_id:7,output:1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "insert-buckets",
            "TARGET",
            "group_id=2,command_bucket_id=last,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "remove-buckets",
            "TARGET",
            "group_id=2,command_bucket_id=1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "remove-buckets",
            "TARGET",
            "group_id=2,command_bucket_id=44",
        ],
        vec!["add-flow", "TARGET", "priority=3,actions=group:2"],
        vec!["dump-groups", "TARGET"],
        vec!["-O", "OpenFlow13", "dump-groups", "TARGET"],
        vec!["-O", "OpenFlow15", "dump-groups", "TARGET", "2"],
        vec!["dump-group-stats", "TARGET"],
        vec![
            "-O",
            "OpenFlow13",
            "dump-group-stats",
            "TARGET",
            "group_id=2",
        ],
        vec!["-O", "OpenFlow15", "dump-group-stats", "TARGET"],
        vec!["-O", "OpenFlow13", "del-groups", "TARGET", "group_id=2"],
        vec!["-O", "OpenFlow13", "dump-flows", "TARGET", "priority=3"],
        vec!["del-groups", "TARGET"],
        vec!["-O", "OpenFlow13", "dump-groups", "TARGET"],
        vec!["dump-group-features", "TARGET"],
        vec!["-O", "OpenFlow13", "dump-group-features", "TARGET"],
        vec!["-O", "OpenFlow15", "dump-group-features", "TARGET"],
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-group",
            "TARGET",
            "group_id=30,type=all,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-group",
            "TARGET",
            "group_id=30,type=all,bucket=output:1",
        ],
        vec!["-O", "OpenFlow14", "dump-groups", "TARGET"],
        vec!["-O", "OpenFlow13", "add-groups", "TARGET", &groups_file],
        vec!["-O", "OpenFlow13", "add-groups", "TARGET", &groups_file],
        vec!["-O", "OpenFlow13", "dump-groups", "TARGET"],
        // Open vSwitch's selection methods, in the versions that carry them.
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "TARGET",
            "group_id=60,type=select,selection_method=hash,selection_method_param=3,\
             fields(tcp_dst,ip_src=255.255.0.0),bucket=output:1",
        ],
        vec![
            "add-group",
            "TARGET",
            "group_id=61,type=select,selection_method=dp_hash,bucket=output:1",
        ],
        vec![
            "-O",
            "OpenFlow15",
            "add-group",
            "TARGET",
            "group_id=62,type=select,fields(ip_dst),bucket=output:1",
        ],
        vec!["-O", "OpenFlow15", "dump-groups", "TARGET"],
        vec!["dump-groups", "TARGET"],
    ];
    // The whole sequence from an empty group table.
    compare_sequences(
        (&ovs, &fvs),
        &steps,
        &["del-groups", "TARGET"],
        group_listing,
        |want| {
            assert!(
                want[1].stdout.is_empty() && want[1].stderr.contains("OFPGMFC_GROUP_EXISTS"),
                "{:?}",
                want[1]
            );
            assert!(
                want[16].stdout.contains("group_id=2,type=select"),
                "{:?}",
                want[16]
            );
        },
    );
}

/// `outcome` with durations blanked and the entries of each meter listing sorted (Open
/// vSwitch lists meters in hash order, ferrovs by number): entries are separated by blank
/// lines in configuration replies and start with `meter:` in statistics replies; flow
/// listings' lines are sorted too.
fn meter_listing(o: Outcome) -> Outcome {
    o.map_text(|s| {
        let mut entries: Vec<String> = Vec::new();
        let mut head = String::new();
        for line in s.lines() {
            let line: String = line
                .split(' ')
                .map(|w| {
                    if w.starts_with("duration:") {
                        "duration:X"
                    } else if w.starts_with("duration=") {
                        "duration=X,"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            // Flow statistics lines are entries too: Open vSwitch lists them in its
            // classifier's order.
            let starts = line.starts_with("meter=")
                || line.starts_with("meter:")
                || line.starts_with(" cookie=");
            if starts || line.is_empty() {
                if starts {
                    entries.push(line);
                }
            } else if let Some(e) = entries.last_mut() {
                e.push('\n');
                e.push_str(&line);
            } else {
                head.push_str(&line);
                head.push('\n');
            }
        }
        entries.sort();
        head + &entries.join("\n")
    })
}

#[test]
fn meter_commands_read_and_write_as_ovs_ofctl_on_ovs_vswitchd() {
    let (ovs, fvs) = switches_speaking_all();
    let o13 = |args: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["-O", "OpenFlow13"];
        v.extend_from_slice(args);
        v
    };
    let nine_bands = "meter=3,pktps,bands=type=drop,rate=5,type=drop,rate=6,type=drop,rate=7,type=drop,rate=8,type=drop,rate=9,type=drop,rate=10,type=drop,rate=11,type=drop,rate=12,type=drop,rate=13";
    let burst = "meter=1,pktps,burst,stats,bands=type=drop,rate=10,burst_size=5";
    let steps: Vec<Vec<&str>> = vec![
        // OpenFlow 1.0 (ovs-ofctl's default) has no meters.
        vec!["add-meter", "TARGET", burst],
        o13(&["add-meter", "TARGET", burst]),
        o13(&["add-meter", "TARGET", burst]),
        o13(&[
            "add-meter",
            "TARGET",
            "meter=2,kbps,bands=type=drop,rate=1000",
        ]),
        o13(&[
            "add-meter",
            "TARGET",
            "meter=262145 pktps bands=type=drop rate=5",
        ]),
        // Refused by the switch: a band the datapath cannot do, both units, `all`, 9 bands.
        o13(&[
            "add-meter",
            "TARGET",
            "meter=3,kbps,bands=type=dscp_remark,rate=1000,prec_level=1",
        ]),
        o13(&[
            "add-meter",
            "TARGET",
            "meter=5,kbps,pktps,bands=type=drop,rate=5",
        ]),
        o13(&[
            "add-meter",
            "TARGET",
            "meter=all,pktps,bands=type=drop,rate=5",
        ]),
        o13(&["add-meter", "TARGET", nine_bands]),
        // Refused by the programs.
        o13(&[
            "add-meter",
            "TARGET",
            "meter=0,pktps,bands=type=drop,rate=5",
        ]),
        o13(&[
            "add-meter",
            "TARGET",
            "meter=4,pktps,bands=type=drop,rate=5,burst_size=3",
        ]),
        o13(&["add-meter", "TARGET", "meter=4,bands=type=drop,rate=5"]),
        o13(&["del-meters", "TARGET", "meter=1,pktps"]),
        vec![
            "-O",
            "OpenFlow14",
            "mod-meter",
            "TARGET",
            "meter=2,pktps,bands=type=drop,rate=5",
        ],
        vec![
            "-O",
            "OpenFlow14",
            "mod-meter",
            "TARGET",
            "meter=9,pktps,bands=type=drop,rate=5",
        ],
        // Flows may name existing meters only, in 1.3's instruction and 1.5's action.
        o13(&[
            "add-flow",
            "TARGET",
            "priority=5,in_port=1,actions=meter:7,output:2",
        ]),
        o13(&[
            "add-flow",
            "TARGET",
            "priority=5,in_port=1,actions=meter:1,output:2",
        ]),
        vec![
            "-O",
            "OpenFlow15",
            "add-flow",
            "TARGET",
            "priority=6,in_port=1,actions=meter:2,output:2",
        ],
        o13(&["dump-flows", "TARGET", "in_port=1"]),
        vec!["-O", "OpenFlow15", "dump-flows", "TARGET", "in_port=1"],
        o13(&["dump-meters", "TARGET"]),
        vec!["-O", "OpenFlow15", "dump-meters", "TARGET", "meter=1"],
        vec!["-O", "OpenFlow14", "dump-meter", "TARGET", "meter=5"],
        o13(&["meter-stats", "TARGET"]),
        vec!["-O", "OpenFlow15", "meter-stats", "TARGET", "meter=2"],
        o13(&["meter-stats", "TARGET", "meter=5"]),
        vec!["meter-features", "TARGET"],
        o13(&["meter-features", "TARGET"]),
        vec!["-O", "OpenFlow15", "meter-features", "TARGET"],
        // --bundle does not apply to meters: the meter-mod goes as it is.
        vec![
            "-O",
            "OpenFlow14",
            "--bundle",
            "add-meter",
            "TARGET",
            "meter=8,pktps,bands=type=drop,rate=5",
        ],
        o13(&["meter-stats", "TARGET", "meter=controller"]),
        o13(&["del-meters", "TARGET", "meter=slowpath,meter=8"]),
        // Deleting a meter deletes the flows that name it.
        o13(&["del-meter", "TARGET", "meter=1"]),
        o13(&["del-meters", "TARGET", "meter=9"]),
        o13(&["dump-flows", "TARGET", "in_port=1"]),
        o13(&["del-meters", "TARGET"]),
        o13(&["dump-meters", "TARGET"]),
        o13(&["dump-flows", "TARGET", "in_port=1"]),
    ];
    // The whole sequence from an empty meter table.
    compare_sequences(
        (&ovs, &fvs),
        &steps,
        &["-O", "OpenFlow13", "del-meters", "TARGET"],
        meter_listing,
        |want| {
            assert!(
                want[2].stderr.contains("OFPMMFC_METER_EXISTS"),
                "{:?}",
                want[2]
            );
            assert!(
                want[20].stdout.contains("meter=1 pktps burst stats bands="),
                "{:?}",
                want[20]
            );
            assert!(
                !want[34].stdout.contains("priority=5") && want[34].stdout.contains("priority=6"),
                "{:?}",
                want[34]
            );
        },
    );
}
