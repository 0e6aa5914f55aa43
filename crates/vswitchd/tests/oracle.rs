//! fvs-vswitchd driven by Open vSwitch's own tools, side by side with a real ovs-vswitchd
//! (Debian's Open vSwitch 3.1, `--enable-dummy=override`) given the same commands.
//!
//! Every daemon a test starts runs in its own temporary directories and is stopped by its
//! own pid when the test ends.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::{
    PrivateOvs, SEED_BR_TUN_FLOWS_PATH as SEED_FLOWS_PATH, SEED_BR_TUN_VSCTL as BR_TUN, TempDir,
    require_tool,
};

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// The seed's topology (WALKTHROUGH §1), one command at a time as the agent built it, plus a
/// patch port without a peer; each waits for the daemon (no `--no-wait`).
const SEED: &[&[&str]] = &[
    &[
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        "fail_mode=secure",
    ],
    &["add-port", "br-int", "qvo37b25c08-e8", "tag=1"],
    &[
        "add-port",
        "br-int",
        "patch-tun",
        "--",
        "set",
        "interface",
        "patch-tun",
        "type=patch",
        "options:peer=patch-int",
    ],
    &["add-port", "br-int", "qvo155845ae-5e", "tag=1"],
    &["add-br", "br-tun"],
    &[
        "add-port",
        "br-tun",
        "patch-int",
        "--",
        "set",
        "interface",
        "patch-int",
        "type=patch",
        "options:peer=patch-tun",
    ],
    &[
        "add-port",
        "br-tun",
        "gre-0a000115",
        "--",
        "set",
        "interface",
        "gre-0a000115",
        "type=gre",
        "options:df_default=true",
        "options:in_key=flow",
        "options:local_ip=10.0.1.31",
        "options:out_key=flow",
        "options:remote_ip=10.0.1.21",
    ],
    &[
        "add-port",
        "br-tun",
        "nopeer",
        "--",
        "set",
        "interface",
        "nopeer",
        "type=patch",
    ],
    &[
        "add-port",
        "br-tun",
        "reqd",
        "--",
        "set",
        "interface",
        "reqd",
        "ofport_request=7",
    ],
];

/// Runs the seed's commands with real ovs-vsctl; returns each one's success and stderr.
fn build(db: &str) -> Vec<(bool, String)> {
    SEED.iter()
        .map(|args| {
            let (ok, _, err) = run(require_tool("ovs-vsctl")
                .command()
                .arg(format!("--db={db}"))
                .arg("--timeout=20")
                .args(*args));
            (ok, err.replace("/var/log/openvswitch", "LOGDIR"))
        })
        .collect()
}

fn vsctl(db: &str, args: &[&str]) -> String {
    let (ok, out, err) = run(require_tool("ovs-vsctl")
        .command()
        .arg(format!("--db={db}"))
        .args(args));
    assert!(ok, "ovs-vsctl {args:?}: {err}");
    out
}

/// `show` as a tree with siblings sorted, the root UUID and version dropped.
fn show_tree(text: &str) -> Vec<String> {
    fn close(stack: &mut Vec<(usize, String, Vec<String>)>) {
        if let Some((_, head, mut children)) = stack.pop() {
            children.sort();
            let node = format!("{head}{{{}}}", children.join(";"));
            if let Some(parent) = stack.last_mut() {
                parent.2.push(node);
            }
        }
    }
    let mut stack: Vec<(usize, String, Vec<String>)> = vec![(0, String::new(), Vec::new())];
    for line in text.lines().skip(1) {
        if line.trim_start().starts_with("ovs_version:") {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        while stack.len() > 1 && stack.last().is_some_and(|(i, _, _)| *i >= indent) {
            close(&mut stack);
        }
        stack.push((indent, line.trim().to_owned(), Vec::new()));
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    let mut top = stack.pop().map(|s| s.2).unwrap_or_default();
    top.sort();
    top
}

/// Interface name → (ofport, error), from `list interface`.
fn interfaces(db: &str) -> BTreeMap<String, (String, String)> {
    let csv = vsctl(
        db,
        &[
            "--format=csv",
            "--no-headings",
            "--columns=name,ofport,error",
            "list",
            "interface",
        ],
    );
    csv.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ',');
            Some((
                f.next()?.to_owned(),
                (f.next()?.to_owned(), f.next()?.to_owned()),
            ))
        })
        .collect()
}

fn appctl(ctl: &Path, args: &[&str]) -> (bool, String, String) {
    run(require_tool("ovs-appctl")
        .command()
        .arg("-t")
        .arg(ctl)
        .args(args))
}

#[test]
fn real_ovs_vsctl_builds_the_seed_as_on_ovs_vswitchd() {
    let _ = require_tool("ovs-vsctl");
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs");
    let theirs = build(&ovs.ovsdb().target());
    let ours = build(&fvs.db());
    // The same commands succeed, and the one adding a patch port without a peer reports the
    // same error once the daemon has applied it.
    assert_eq!(ours, theirs);
    assert_eq!(
        show_tree(&vsctl(&fvs.db(), &["show"])),
        show_tree(&vsctl(&ovs.ovsdb().target(), &["show"]))
    );
    let (i_ours, i_theirs) = (interfaces(&fvs.db()), interfaces(&ovs.ovsdb().target()));
    assert_eq!(i_ours, i_theirs);
    assert_eq!(i_ours.get("reqd").map(|i| i.0.as_str()), Some("7"));
    assert_eq!(i_ours.get("br-int").map(|i| i.0.as_str()), Some("65534"));
    // Removing a port frees its number for the next one, as in Open vSwitch.
    for db in [ovs.ovsdb().target(), fvs.db()] {
        vsctl(&db, &["del-port", "br-int", "qvo37b25c08-e8"]);
        vsctl(&db, &["add-port", "br-int", "vm3"]);
    }
    assert_eq!(interfaces(&fvs.db()), interfaces(&ovs.ovsdb().target()));
    let dpid = vsctl(&fvs.db(), &["get", "bridge", "br-int", "datapath_id"]);
    assert_eq!(dpid.trim().trim_matches('"').len(), 16, "{dpid}");
}

#[test]
fn ovs_appctl_answers_as_on_ovs_vswitchd() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-appctl");
    for db in [ovs.ovsdb().target(), fvs.db()] {
        vsctl(
            &db,
            &[
                "add-br",
                "br-int",
                "--",
                "set",
                "bridge",
                "br-int",
                "fail_mode=secure",
            ],
        );
        vsctl(&db, &["add-port", "br-int", "p1"]);
        vsctl(&db, &["add-br", "br0"]);
        vsctl(&db, &["add-port", "br0", "p2"]);
    }
    let same = |args: &[&str]| {
        let theirs = appctl(&ovs.vswitchd_ctl(), args);
        let ours = appctl(&fvs.ctl(), args);
        let strip = |s: &str| {
            s.replace(&ovs.vswitchd_ctl().display().to_string(), "CTL")
                .replace(&fvs.ctl().display().to_string(), "CTL")
        };
        assert_eq!(
            (ours.0, ours.1, strip(&ours.2)),
            (theirs.0, theirs.1, strip(&theirs.2)),
            "ovs-appctl {args:?}"
        );
    };
    same(&["ofproto/trace", "br-int", "in_port=1"]);
    same(&[
        "ofproto/trace",
        "br0",
        "in_port=LOCAL,dl_dst=ff:ff:ff:ff:ff:ff",
    ]);
    same(&["fdb/show", "br0"]);
    same(&["no-such-command"]);
    same(&["fdb/show"]);
    same(&["vlog/set", "nonsense"]);
    // bridge/dump-flows: Open vSwitch adds hidden table-254 rules ferrovs does not have.
    let visible = |ctl: &Path| {
        let (_, out, _) = appctl(ctl, &["bridge/dump-flows", "br0"]);
        out.lines()
            .filter(|l| !l.starts_with("table_id=254"))
            .map(|l| l.split_once("s, ").map_or(l, |(_, rest)| rest).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(visible(&fvs.ctl()), visible(&ovs.vswitchd_ctl()));
    let (ok, out, _) = appctl(&fvs.ctl(), &["version"]);
    assert!(ok && out.starts_with("fvs-vswitchd (ferrovs) "), "{out}");
    let (ok, out, _) = appctl(&fvs.ctl(), &["list-commands"]);
    assert!(
        ok && out.starts_with("The available commands are:\n"),
        "{out}"
    );
    for cmd in [
        "ofproto/trace",
        "bridge/dump-flows",
        "fdb/show",
        "vlog/list",
        "vlog/set",
        "exit",
    ] {
        assert!(
            out.contains(&format!("  {cmd} ")),
            "{cmd} missing from {out}"
        );
    }
    let (ok, _, _) = appctl(&fvs.ctl(), &["vlog/set", "bridge:file:dbg"]);
    assert!(ok);
    let (_, out, _) = appctl(&fvs.ctl(), &["vlog/list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("bridge") && l.ends_with("DBG")),
        "{out}"
    );
}

#[test]
fn fvs_appctl_loads_flows_and_traces_them() {
    let fvs = Fvs::start("fvs-flows");
    for cmd in &BR_TUN[..2] {
        fvs.vsctl(cmd);
    }
    let flows = fvs.dir().join("flows.txt");
    let _ = std::fs::write(
        &flows,
        "table=0,in_port=1,actions=resubmit(,2)\ntable=2,actions=drop\n",
    );
    let appctl = |args: &[&str]| fvs.appctl(args);
    let flows = flows.display().to_string();
    let (ok, _, err) = appctl(&["bridge/add-flows", "br-tun", &flows]);
    assert!(ok, "{err}");
    let (ok, out, _) = appctl(&["ofproto/trace", "br-tun", "in_port=1"]);
    assert!(ok);
    assert!(
        out.contains(" 0. in_port=1, priority 32768\n    resubmit(,2)\n"),
        "{out}"
    );
    assert!(out.ends_with("Datapath actions: drop\n"), "{out}");
    let (ok, _, err) = appctl(&["fdb/show", "br-nope"]);
    assert!(!ok && err.contains("server returned an error"), "{err}");
}

#[test]
fn detached_daemon_writes_its_pidfile_and_cleans_up_on_exit() {
    let tmp = TempDir::new("detach");
    let dir = tmp.path();
    let (ok, _, err) = run(Command::new(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .args(["--enable-dummy", "--detach", "--pidfile", "--log-file"])
        .env("FVS_RUNDIR", dir)
        .env("FVS_DBDIR", dir)
        .env("FVS_LOGDIR", dir));
    assert!(ok, "{err}");
    // The parent returns once the sockets are ready.
    for f in [
        "db.sock",
        "fvs-vswitchd.ctl",
        "fvs-vswitchd.pid",
        "conf.db",
        "fvs-vswitchd.log",
    ] {
        assert!(dir.join(f).exists(), "{f} missing after --detach returned");
    }
    let pid: u32 = std::fs::read_to_string(dir.join("fvs-vswitchd.pid"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(pid > 0);
    let (ok, out, _) = appctl(&dir.join("fvs-vswitchd.ctl"), &["exit"]);
    if !ok {
        terminate(pid);
    }
    assert!(ok && out.is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.join("fvs-vswitchd.pid").exists() || dir.join("db.sock").exists() {
        assert!(Instant::now() < deadline, "pidfile or socket left behind");
        sleep(Duration::from_millis(20));
    }
    assert!(!dir.join("fvs-vswitchd.ctl").exists());
}

#[test]
fn trace_with_generate_learns_as_a_packet_would_and_a_plain_trace_does_not() {
    let fvs = Fvs::start("fvs-gen");
    for cmd in BR_TUN {
        fvs.vsctl(cmd);
    }
    let appctl = |args: &[&str]| fvs.appctl(args);
    let (ok, _, err) = appctl(&["bridge/add-flows", "br-tun", SEED_FLOWS_PATH]);
    assert!(ok, "{err}");
    let from_gre = "in_port=2,tun_id=0x1,dl_src=fa:16:3e:aa:aa:aa,dl_dst=fa:16:3e:fe:c7:87";
    let learned = "vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:aa:aa:aa";

    let (ok, out, err) = appctl(&["ofproto/trace", "br-tun", from_gre]);
    assert!(ok, "{err}");
    assert!(out.contains("resubmit(,10)"), "{out}");
    let (_, dump, _) = appctl(&["bridge/dump-flows", "br-tun"]);
    assert!(
        !dump.contains(learned),
        "a plain trace must not learn:\n{dump}"
    );

    let (ok, _, err) = appctl(&["ofproto/trace", "br-tun", from_gre, "-generate"]);
    assert!(ok, "{err}");
    let (_, dump, _) = appctl(&["bridge/dump-flows", "br-tun"]);
    let rule = dump
        .lines()
        .find(|l| l.contains(learned))
        .unwrap_or_else(|| panic!("-generate did not learn:\n{dump}"));
    assert!(
        rule.ends_with("actions=load:0->NXM_OF_VLAN_TCI[],load:0x1->NXM_NX_TUN_ID[],output:2"),
        "{rule}"
    );
    // As in Open vSwitch, -generate credits no rule statistics.
    assert!(!dump.contains("n_packets=1"), "{dump}");

    let (ok, _, err) = appctl(&["ofproto/trace", "br-tun", from_gre, "-bogus"]);
    assert!(!ok && err.contains("-bogus"), "{err}");
}
