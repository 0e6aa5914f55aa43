//! The kinds of Controller targets, against Open vSwitch: `ptcp:` and `punix:` targets serve
//! `ovs-ofctl` as a management socket does (the same `show` and `dump-flows`), and an active
//! `tcp:` target is connected to, probed for inactivity, dropped when silent and connected
//! to again after the backoff, with the same messages and at the same pace as ovs-vswitchd
//! (to within a second: Open vSwitch keeps time in whole seconds there).

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_openflow::wire::{self, Message};
use fvs_test_support::{AddBridge, PrivateOvs, Switch, require_tool};

fn ofctl(args: &[&str]) -> String {
    let out = require_tool("ovs-ofctl")
        .command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// Masks durations. (Datapath ids and addresses are the same on both switches: the bridge's
/// `hwaddr` is set, and its one dummy port is numbered alike.)
fn masked(s: &str) -> String {
    s.split_inclusive(['\n', ' ', ','])
        .map(|w| {
            let (word, sep) = w.split_at(w.trim_end_matches(['\n', ' ', ',']).len());
            let word = if word.starts_with("duration=") {
                "duration=?"
            } else {
                word
            };
            format!("{word}{sep}")
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn bridge(sw: &dyn Switch) {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                "fail_mode=secure",
                "other_config:hwaddr=\"02:00:00:00:0d:01\"",
            ])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .args(),
    );
}

/// Waits until `target` accepts connections.
fn wait_connectable(target: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = if let Some(path) = target.strip_prefix("unix:") {
            std::os::unix::net::UnixStream::connect(path).is_ok()
        } else if let Some(addr) = target.strip_prefix("tcp:") {
            std::net::TcpStream::connect(addr).is_ok()
        } else {
            false
        };
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{target} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn passive_targets_serve_ovs_ofctl_as_on_open_vswitch() {
    let run = |sw: &dyn Switch| -> Vec<String> {
        bridge(sw);
        let port = free_port();
        // Open vSwitch allows punix: only as RUNDIR/BRIDGE.*.
        let sock = sw.dir().join("br0.ctl");
        sw.vsctl_ok(&[
            "set-controller",
            "br0",
            &format!("ptcp:{port}:127.0.0.1"),
            &format!("punix:{}", sock.display()),
        ]);
        let tcp = format!("tcp:127.0.0.1:{port}");
        let unix = format!("unix:{}", sock.display());
        wait_connectable(&tcp);
        wait_connectable(&unix);
        vec![
            masked(&ofctl(&["show", &tcp])),
            masked(&ofctl(&[
                "-O",
                "OpenFlow13",
                "add-flow",
                &unix,
                "priority=3,ip,actions=drop",
            ])),
            masked(&ofctl(&["-O", "OpenFlow13", "dump-flows", &tcp])),
            masked(&ofctl(&["dump-flows", &unix])),
        ]
    };
    let fvs = Fvs::start("pas");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    drop(ovs);
    assert!(theirs[0].contains("OFPT_FEATURES_REPLY"), "{theirs:?}");
    assert_eq!(ours, theirs);
}

/// What a controller that says hello and then nothing sees: its connections, and on each
/// the messages it receives, with the seconds since the first connection (rounded).
fn silent_controller(listener: &TcpListener, for_how_long: Duration) -> Vec<(u64, String)> {
    let start = Instant::now();
    let mut seen = Vec::new();
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first: Option<Instant> = None;
    while start.elapsed() < for_how_long {
        let Ok((mut s, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let t0 = *first.get_or_insert_with(Instant::now);
        let at = |t0: Instant| (t0.elapsed().as_millis() as u64 + 500) / 1000;
        seen.push((at(t0), "connected".to_owned()));
        s.set_nonblocking(false).unwrap_or_else(|e| panic!("{e}"));
        let hello = wire::encode(
            &Message::Hello(wire::Hello {
                bitmap: Some(wire::VersionBitmap::of(&[wire::Version::Of13])),
            }),
            wire::Version::Of13.default_protocol(),
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::io::Write::write_all(&mut s, &hello).unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = Vec::new();
        loop {
            if start.elapsed() >= for_how_long {
                return seen;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) => {
                    seen.push((at(t0), "closed".to_owned()));
                    break;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => continue,
            }
            while let Some(len) = wire::message_len(&buf) {
                if buf.len() < len || len < 8 {
                    break;
                }
                let msg: Vec<u8> = buf.drain(..len).collect();
                let what = match wire::decode(&msg) {
                    Ok((_, Message::Hello(_))) => "hello".to_owned(),
                    Ok((_, Message::EchoRequest(_))) => "echo request".to_owned(),
                    Ok((_, m)) => format!("{m:?}"),
                    Err(e) => format!("undecodable: {e}"),
                };
                seen.push((at(t0), what));
            }
        }
    }
    seen
}

#[test]
fn an_active_tcp_target_is_probed_dropped_and_reconnected_as_on_open_vswitch() {
    let run = |sw: &dyn Switch| -> Vec<(u64, String)> {
        bridge(sw);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let id = sw.vsctl_ok(&[
            "--id=@c",
            "create",
            "controller",
            &format!("target=\"tcp:127.0.0.1:{port}\""),
            "inactivity_probe=1000",
            "max_backoff=1000",
            "--",
            "set",
            "bridge",
            "br0",
            "controller=@c",
        ]);
        assert!(!id.trim().is_empty());
        // Open vSwitch probes every 5 s at the least.
        silent_controller(&listener, Duration::from_millis(11_800))
    };
    let fvs = Fvs::start("act");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    drop(ovs);
    assert!(
        theirs.iter().any(|(_, w)| w == "echo request"),
        "{theirs:?}"
    );
    let kinds = |v: &[(u64, String)]| v.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&ours), kinds(&theirs), "{ours:?}\n{theirs:?}");
    for ((a, _), (b, _)) in ours.iter().zip(&theirs) {
        assert!(a.abs_diff(*b) <= 1, "{ours:?}\n{theirs:?}");
    }
}

#[test]
fn a_punix_controller_socket_is_removed_on_exit_as_on_open_vswitch() {
    // Whether the socket file is there while the switch runs, and after `appctl exit`.
    let run = |sw: &dyn Switch| -> (bool, bool) {
        bridge(sw);
        let sock = sw.dir().join("br0.controller");
        sw.vsctl_ok(&[
            "set-controller",
            "br0",
            &format!("punix:{}", sock.display()),
        ]);
        wait_connectable(&format!("unix:{}", sock.display()));
        let before = sock.exists();
        sw.appctl(&["exit"]).expect("appctl exit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while sock.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        (before, sock.exists())
    };
    let fvs = Fvs::start("pux");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    drop(ovs);
    assert_eq!(theirs, (true, false), "Open vSwitch");
    assert_eq!(ours, theirs, "the punix: socket outlived the switch");
}

/// `bridge/dump-flows` of a standalone bridge whose controller cannot be reached, before
/// and after it fails open (15 s: three default inactivity probes), on both switches: the
/// hidden NORMAL rule is listed there, and only there (not by `ovs-ofctl dump-flows`).
/// Only hidden rules ferrovs has are compared: Open vSwitch's table-254 internal rules are
/// left out, and the controller is out-of-band so that neither has in-band rules.
#[test]
fn bridge_dump_flows_lists_the_hidden_fail_open_rule_as_on_open_vswitch() {
    let dead = format!("tcp:127.0.0.1:{}", free_port());
    let dump = |sw: &dyn Switch| -> String {
        let all = sw
            .appctl(&["bridge/dump-flows", "br0"])
            .expect("bridge/dump-flows");
        let kept: Vec<String> = all
            .lines()
            .filter(|l| !l.starts_with("table_id=254,"))
            .map(|l| {
                // Durations differ by when each switch failed open.
                let cut = l.find("n_packets").unwrap_or(0);
                l[cut..].to_owned()
            })
            .collect();
        kept.join("\n")
    };
    let setup = |sw: &dyn Switch| {
        sw.vsctl_ok(&["add-br", "br0", "--", "set-controller", "br0", &dead]);
        sw.vsctl_ok(&["set", "controller", "br0", "connection_mode=out-of-band"]);
    };
    let fvs = Fvs::start("fop");
    let ovs = PrivateOvs::start();
    // Both at once: each waits out the same 15 s.
    setup(fvs.private());
    setup(&ovs);
    let before = (dump(fvs.private()), dump(&ovs));
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed_open = |s: &str| s.contains("priority=15790320");
    while !(failed_open(&dump(fvs.private())) && failed_open(&dump(&ovs))) {
        assert!(Instant::now() < deadline, "no fail-open rule after 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = (dump(fvs.private()), dump(&ovs));
    let openflow = (
        fvs.private().ofctl_ok(&["--no-stats", "dump-flows", "br0"]),
        ovs.ofctl_ok(&["--no-stats", "dump-flows", "br0"]),
    );
    drop(fvs);
    drop(ovs);
    assert_eq!(before.1, "", "Open vSwitch before failing open");
    assert_eq!(
        after.1, "n_packets=0, n_bytes=0, priority=15790320,actions=NORMAL",
        "Open vSwitch after failing open"
    );
    assert_eq!(before.0, before.1, "before failing open");
    assert_eq!(after.0, after.1, "after failing open");
    assert_eq!(openflow.0, openflow.1, "ovs-ofctl dump-flows");
}
