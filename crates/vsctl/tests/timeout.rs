//! `--timeout`: fvs-vsctl ends as ovs-vsctl 3.1 does when its time is up — a message on
//! stderr and death by `SIGALRM` — wherever it waits: for a switch that never advances
//! `cur_cfg` (a database with no daemon), in `wait-until`, for a server that accepts and
//! never answers, and for a missing socket under `--retry` (without it, an ordinary error
//! at once, for both).
//!
//! Both programs run side by side against the same real `ovsdb-server` (Open vSwitch's tools
//! are required; the test fails if they are missing).

use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fvs_test_support::{PrivateOvsdb, TempDir, require_tool};

const OUR_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/vswitch.ovsschema");

/// How a run ended, in a form both programs can be compared by.
#[derive(Debug, PartialEq, Eq)]
struct Ending {
    /// Exit status, or the signal that ended it.
    status: String,
    /// Stderr, with the program name and Open vSwitch's log prefix taken off.
    stderr: String,
}

fn run(program: &Path, db: &str, args: &[&str]) -> (Ending, Duration) {
    let started = Instant::now();
    let out = Command::new(program)
        .arg(format!("--db={db}"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let elapsed = started.elapsed();
    let status = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown".to_owned(),
    };
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            let l = l
                .strip_prefix("ovs-vsctl: ")
                .or_else(|| l.strip_prefix("fvs-vsctl: "))
                .unwrap_or(l);
            // `TIME|SEQ|fatal_signal|WARN|message`
            match l.find("|WARN|") {
                Some(at) => l[at + "|WARN|".len()..].to_owned(),
                None => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (Ending { status, stderr }, elapsed)
}

/// Runs `args` through both programs and requires the same ending, and, when it is the
/// alarm, that it came after the timeout and not much later. `{p}` in an argument becomes
/// `o` for ovs-vsctl and `f` for fvs-vsctl, so that both can make a bridge of their own.
fn compare(db: &str, args: &[&str]) -> Ending {
    let ovs = require_tool("ovs-vsctl").path().to_owned();
    let fvs = PathBuf::from(env!("CARGO_BIN_EXE_fvs-vsctl"));
    let with = |p: &str| -> Vec<String> { args.iter().map(|a| a.replace("{p}", p)).collect() };
    let (o, f) = (with("o"), with("f"));
    let (o, f): (Vec<&str>, Vec<&str>) = (
        o.iter().map(String::as_str).collect(),
        f.iter().map(String::as_str).collect(),
    );
    let (want, _) = run(&ovs, db, &o);
    let (got, took) = run(&fvs, db, &f);
    assert_eq!(got, want, "{args:?}");
    if want.status == "signal 14" {
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(5),
            "{args:?}: fvs-vsctl took {took:?}"
        );
    }
    want
}

#[test]
fn timeout_ends_as_ovs_vsctl_ends() {
    let server = PrivateOvsdb::start(OUR_SCHEMA);
    let db = server.target();
    let init = Command::new(env!("CARGO_BIN_EXE_fvs-vsctl"))
        .arg(format!("--db={db}"))
        .args(["--no-wait", "init"])
        .status()
        .expect("fvs-vsctl init");
    assert!(init.success());

    // No switch runs: cur_cfg never follows next_cfg.
    let e = compare(&db, &["--timeout=1", "add-br", "br0{p}"]);
    assert_eq!(e.status, "signal 14");
    assert_eq!(e.stderr, "terminating with signal 14 (Alarm clock)");
    compare(&db, &["-t", "1", "add-br", "br1{p}"]);
    compare(&db, &["--timeout=1", "wait-until", "Bridge", "nosuch"]);
    compare(
        &db,
        &[
            "--timeout=1",
            "wait-until",
            "Open_vSwitch",
            ".",
            "cur_cfg=1000",
        ],
    );
    // With nothing to wait for, the timeout does not matter.
    let e = compare(&db, &["--timeout=1", "--no-wait", "add-br", "br2{p}"]);
    assert_eq!(e.status, "exit 0");
    compare(&db, &["--timeout=1", "list-br"]);

    // A server that accepts and never answers.
    let dir = TempDir::new("mute");
    let mute = dir.path().join("mute.sock");
    let _listener = UnixListener::bind(&mute).expect("bind");
    let e = compare(
        &format!("unix:{}", mute.display()),
        &["--timeout=1", "show"],
    );
    assert_eq!(e.status, "signal 14");

    // No server at all: an error at once.
    let missing = format!("unix:{}", dir.path().join("nosock").display());
    let e = compare(&missing, &["--timeout=1", "show"]);
    assert_eq!(e.status, "exit 1");
    // Unless told to keep trying: then the alarm ends it.
    let e = compare(&missing, &["--retry", "--timeout=1", "show"]);
    assert_eq!(e.status, "signal 14");
}
