//! Manager rows: fvs-vswitchd serves its database on the remotes `manager_options` names,
//! live as they change, and writes back `is_connected` and `status` as Open vSwitch's
//! ovsdb-server does when it runs with `--remote=db:Open_vSwitch,Open_vSwitch,manager_options`.
//!
//! The oracle is a private ovsdb-server given that remote (`ovsdb-server/add-remote`); both
//! sides are driven by real `ovs-vsctl` and compared scenario by scenario, with port numbers
//! and second counts masked. Everything listens on loopback, on ports the system picks.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::{PrivateOvsdb, require_tool};
use serde_json::Value;

const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Each Manager's target, `is_connected` and `status` (ports and seconds masked).
type Managers = BTreeMap<String, (bool, BTreeMap<String, String>)>;

/// One side: a database that ovs-vsctl reaches at `db`.
struct Side {
    name: &'static str,
    db: String,
}

impl Side {
    /// `ovs-vsctl --no-wait ARGS` against this side; must succeed; stdout.
    fn vsctl(&self, args: &[&str]) -> String {
        vsctl_at(&self.db, args)
            .unwrap_or_else(|e| panic!("{}: ovs-vsctl {args:?}: {e}", self.name))
    }

    /// Each Manager's target, `is_connected` and `status`, ports and seconds masked.
    fn managers(&self) -> Managers {
        let out = self.vsctl(&[
            "--format=json",
            "--columns=target,is_connected,status",
            "list",
            "Manager",
        ]);
        let v: Value = serde_json::from_str(&out).expect("ovs-vsctl prints JSON");
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                let target = mask_target(row[0].as_str().unwrap_or_default());
                let connected = row[1].as_bool().unwrap_or(false);
                let status: BTreeMap<String, String> = row[2][1]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|kv| {
                        let k = kv[0].as_str().unwrap_or_default().to_owned();
                        let v = kv[1].as_str().unwrap_or_default();
                        let v = match k.as_str() {
                            "bound_port" => "PORT".to_owned(),
                            k if k.starts_with("sec_since") => "N".to_owned(),
                            _ => v.to_owned(),
                        };
                        (k, v)
                    })
                    .collect();
                (target, (connected, status))
            })
            .collect()
    }

    /// The port a `ptcp:0:127.0.0.1` manager is bound to, once its status says.
    fn bound_port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.vsctl(&["get", "Manager", "ptcp:0:127.0.0.1", "status"]);
            if let Some(p) = out
                .split("bound_port=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|p| p.parse().ok())
            {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no bound_port: {out}",
                self.name
            );
            sleep(Duration::from_millis(100));
        }
    }
}

fn vsctl_at(db: &str, args: &[&str]) -> Result<String, String> {
    let out = require_tool("ovs-vsctl")
        .command()
        .arg(format!("--db={db}"))
        .args(["--timeout=10", "--no-wait"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `tcp:127.0.0.1:41234` → `tcp:127.0.0.1:PORT` (each side has its own ports).
fn mask_target(t: &str) -> String {
    match t.strip_prefix("tcp:").and_then(|r| r.rsplit_once(':')) {
        Some((ip, port)) if port != "1" => format!("tcp:{ip}:PORT"),
        _ => t.to_owned(),
    }
}

/// A private ovsdb-server serving Open vSwitch's schema with the Manager remotes, as the
/// Debian service starts it.
fn oracle() -> PrivateOvsdb {
    let db = PrivateOvsdb::start(OVS_SCHEMA);
    db.appctl(&[
        "ovsdb-server/add-remote",
        "db:Open_vSwitch,Open_vSwitch,manager_options",
    ])
    .unwrap_or_else(|e| panic!("add-remote: {e}"));
    db
}

/// Waits until `check` holds on both sides' managers, the oracle first; then they must be
/// equal. Returns what they show.
fn agree(ovs: &Side, fvs: &Side, what: &str, check: impl Fn(&Managers) -> bool) -> Managers {
    let deadline = Instant::now() + Duration::from_secs(15);
    let want = loop {
        let m = ovs.managers();
        if check(&m) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: ovsdb-server never got there: {m:?}"
        );
        sleep(Duration::from_millis(100));
    };
    loop {
        let got = fvs.managers();
        if got == want {
            eprintln!("{what}: both show {got:?}");
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}:\n  ovsdb-server: {want:?}\n  fvs-vswitchd: {got:?}"
        );
        sleep(Duration::from_millis(100));
    }
}

fn connected(target: &'static str) -> impl Fn(&Managers) -> bool {
    move |m| m.get(target).is_some_and(|(c, _)| *c)
}

fn disconnected_with(target: &'static str, key: &'static str) -> impl Fn(&Managers) -> bool {
    move |m| {
        m.get(target)
            .is_some_and(|(c, s)| !*c && s.contains_key(key))
    }
}

/// A listener standing in for a manager that the server connects to; keeps what it accepts.
struct FakeManager {
    listener: TcpListener,
}

impl FakeManager {
    fn new() -> Self {
        Self {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind loopback"),
        }
    }

    fn target(&self) -> String {
        format!("tcp:{}", self.listener.local_addr().expect("addr"))
    }

    /// The server's connection, once it comes.
    fn accept(&self) -> TcpStream {
        self.listener.accept().expect("accept").0
    }
}

#[test]
fn manager_status_matches_ovsdb_server() {
    let ovsdb = oracle();
    let fvsd = Fvs::start("mgr");
    let ovs = Side {
        name: "ovsdb-server",
        db: ovsdb.target(),
    };
    let fvs = Side {
        name: "fvs-vswitchd",
        db: fvsd.db(),
    };
    ovs.vsctl(&["init"]);

    // A listener, idle. No probes (the test's clients stay silent), set in the same
    // transaction so that no connection is accepted with the default.
    for s in [&ovs, &fvs] {
        s.vsctl(&["--inactivity-probe=0", "set-manager", "ptcp:0:127.0.0.1"]);
    }
    agree(&ovs, &fvs, "idle listener", |m| {
        m.get("ptcp:0:127.0.0.1")
            .is_some_and(|(_, s)| s.contains_key("bound_port"))
    });

    // One client, then two.
    let one: Vec<TcpStream> = [&ovs, &fvs]
        .iter()
        .map(|s| TcpStream::connect(("127.0.0.1", s.bound_port())).expect("connect"))
        .collect();
    agree(&ovs, &fvs, "one client", connected("ptcp:0:127.0.0.1"));
    let two: Vec<TcpStream> = [&ovs, &fvs]
        .iter()
        .map(|s| TcpStream::connect(("127.0.0.1", s.bound_port())).expect("connect"))
        .collect();
    agree(&ovs, &fvs, "two clients", |m| {
        m.get("ptcp:0:127.0.0.1")
            .is_some_and(|(_, s)| s.contains_key("n_connections"))
    });
    drop(one);
    drop(two);
    agree(&ovs, &fvs, "clients gone", |m| {
        m.get("ptcp:0:127.0.0.1")
            .is_some_and(|(c, s)| !*c && !s.contains_key("n_connections"))
    });

    // A manager the server connects to: connected, then gone.
    let managers = [FakeManager::new(), FakeManager::new()];
    let mut accepted = Vec::new();
    for (s, m) in [&ovs, &fvs].iter().zip(&managers) {
        s.vsctl(&["--inactivity-probe=0", "set-manager", &m.target()]);
        accepted.push(m.accept());
    }
    agree(
        &ovs,
        &fvs,
        "active, connected",
        connected("tcp:127.0.0.1:PORT"),
    );
    drop(accepted);
    drop(managers);
    agree(
        &ovs,
        &fvs,
        "active, dropped",
        disconnected_with("tcp:127.0.0.1:PORT", "sec_since_disconnect"),
    );

    // A manager that is not there.
    for s in [&ovs, &fvs] {
        s.vsctl(&["set-manager", "tcp:127.0.0.1:1"]);
    }
    let m = agree(&ovs, &fvs, "active, refused", |m| {
        m.get("tcp:127.0.0.1:1")
            .is_some_and(|(_, s)| s.contains_key("state"))
    });
    assert_eq!(
        m["tcp:127.0.0.1:1"].1.get("state").map(String::as_str),
        Some("BACKOFF")
    );
}

#[test]
fn set_manager_serves_the_database_live_and_del_manager_closes_it() {
    let fvsd = Fvs::start("mgrlive");
    fvsd.vsctl(&["add-br", "br0"]);
    fvsd.vsctl(&["add-port", "br0", "p1"]);
    fvsd.vsctl(&["set-manager", "ptcp:0:127.0.0.1"]);
    let fvs = Side {
        name: "fvs-vswitchd",
        db: fvsd.db(),
    };
    let port = fvs.bound_port();
    let tcp = format!("tcp:127.0.0.1:{port}");

    // The same database over TCP as over the daemon's socket (the connection itself may
    // show in the manager's is_connected).
    let strip = |s: String| -> String {
        s.lines()
            .filter(|l| !l.contains("is_connected"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let over_tcp = strip(vsctl_at(&tcp, &["show"]).expect("ovs-vsctl show over TCP"));
    let over_unix = strip(fvs.vsctl(&["show"]));
    assert_eq!(over_tcp, over_unix);
    assert!(over_tcp.contains("Port p1"), "{over_tcp}");
    // Writes over TCP are as good as any.
    vsctl_at(&tcp, &["br-set-external-id", "br0", "via", "tcp"]).expect("write over TCP");
    assert_eq!(
        fvs.vsctl(&["br-get-external-id", "br0", "via"]).trim(),
        "tcp"
    );

    // The manager's inactivity probe applies to its connections: a silent client gets
    // Open vSwitch's echo request, and is dropped when it does not answer.
    fvs.vsctl(&[
        "set",
        "Manager",
        "ptcp:0:127.0.0.1",
        "inactivity_probe=1000",
    ]);
    // The new probe applies to connections accepted once the daemon has seen the change,
    // which is not ordered with ovs-vsctl's return: a connection that gets its first echo
    // late was accepted before, and the next one is tried.
    let mut probed = false;
    for _ in 0..5 {
        let silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        silent
            .set_read_timeout(Some(Duration::from_secs(12)))
            .expect("timeout");
        let started = Instant::now();
        let mut reader = BufReader::new(silent.try_clone().expect("clone"));
        let mut first = Vec::new();
        reader
            .read_until(b'}', &mut first)
            .expect("an echo request");
        let text = String::from_utf8_lossy(&first);
        assert!(text.contains("\"echo\""), "{text}");
        if started.elapsed() > Duration::from_secs(3) {
            continue;
        }
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "a silent client is dropped after two intervals, not {:?}",
            started.elapsed()
        );
        probed = true;
        break;
    }
    assert!(
        probed,
        "no connection got the manager's 1 s inactivity probe"
    );

    // del-manager closes the listener and the connections it accepted.
    let mut held = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    held.write_all(br#"{"id":1,"method":"echo","params":[]}"#)
        .expect("write");
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    assert!(held.read(&mut buf).expect("echo reply") > 0);
    fvsd.vsctl(&["del-manager"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match held.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(
                Instant::now() < deadline,
                "still connected after del-manager"
            ),
        }
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port still listens after del-manager"
    );
    assert_eq!(fvs.vsctl(&["get-manager"]), "");

    // A Unix socket manager: there while configured, gone after del-manager.
    let sock = fvsd.dir().join("m.sock");
    let target = format!("punix:{}", sock.display());
    fvsd.vsctl(&["set-manager", &target]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let unix = format!("unix:{}", sock.display());
    while vsctl_at(&unix, &["br-exists", "br0"]).is_err() {
        assert!(Instant::now() < deadline, "{target} never served");
        sleep(Duration::from_millis(50));
    }
    fvsd.vsctl(&["del-manager"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sock.exists() {
        assert!(
            Instant::now() < deadline,
            "{} left after del-manager",
            sock.display()
        );
        sleep(Duration::from_millis(50));
    }
}

/// `ovs-appctl -t CTL ARGS`: exit status, stdout, stderr with CTL's path masked.
fn appctl(ctl: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = require_tool("ovs-appctl")
        .command()
        .arg("-t")
        .arg(ctl)
        .args(args)
        .output()
        .expect("ovs-appctl runs");
    let mask = |s: &[u8]| String::from_utf8_lossy(s).replace(&ctl.display().to_string(), "CTL");
    (out.status.code(), mask(&out.stdout), mask(&out.stderr))
}

#[test]
fn the_embedded_server_answers_ovsdb_server_appctl_commands() {
    let ovsdb = oracle();
    let fvsd = Fvs::start("mgrctl");
    let ovs_ctl = ovsdb.dir().join("ovsdb-server.ctl");
    let fvs_ctl = fvsd.ctl();
    fvsd.vsctl(&["add-br", "br0"]);
    for i in 0..20 {
        fvsd.vsctl(&["add-port", "br0", &format!("p{i}")]);
    }
    fvsd.vsctl(&["set-manager", "ptcp:0:127.0.0.1"]);

    // The same answers, each side's directory masked.
    let masked = |(code, out, err): (Option<i32>, String, String), dir: &std::path::Path| {
        let d = dir.display().to_string();
        (code, out.replace(&d, "DIR"), err.replace(&d, "DIR"))
    };
    for args in [
        &["ovsdb-server/list-dbs"][..],
        &["ovsdb-server/list-remotes"],
        &["ovsdb-server/compact", "nosuch"],
        &["ovsdb-server/compact", "_Server"],
        &["ovsdb-server/add-remote", "foo"],
        &["ovsdb-server/add-remote", "db:nosuch,x,y"],
        &["ovsdb-server/list-remotes"],
        &["ovsdb-server/remove-remote", "foo"],
        &["ovsdb-server/remove-remote", "foo"],
        &["ovsdb-server/list-remotes"],
    ] {
        assert_eq!(
            masked(appctl(&fvs_ctl, args), fvsd.dir()),
            masked(appctl(&ovs_ctl, args), ovsdb.dir()),
            "ovs-appctl {args:?}"
        );
    }

    // A remote added at run time is served at once, and goes when removed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let remote = format!("ptcp:{port}:127.0.0.1");
    let (code, _, err) = appctl(&fvs_ctl, &["ovsdb-server/add-remote", &remote]);
    assert_eq!(code, Some(0), "{err}");
    let tcp = format!("tcp:127.0.0.1:{port}");
    vsctl_at(&tcp, &["br-exists", "br0"]).expect("served on the added remote");
    let (code, _, err) = appctl(&fvs_ctl, &["ovsdb-server/remove-remote", &remote]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "{remote} still listens after remove-remote"
    );

    // Compaction leaves the schema and one snapshot, with everything in it.
    let fvs = Side {
        name: "fvs-vswitchd",
        db: fvsd.db(),
    };
    let before = fvs.vsctl(&["show"]);
    let records = |db: &std::path::Path| {
        let out = require_tool("ovsdb-tool")
            .command()
            .arg("show-log")
            .arg(db)
            .output()
            .expect("ovsdb-tool runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("record "))
            .count()
    };
    let conf = fvsd.dir().join("conf.db");
    assert!(records(&conf) > 20, "the log before compaction");
    let (code, out, err) = appctl(&fvs_ctl, &["ovsdb-server/compact"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    assert_eq!(records(&conf), 2, "schema and snapshot after compaction");
    let strip = |s: String| -> String {
        s.lines()
            .filter(|l| !l.contains("is_connected"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(fvs.vsctl(&["show"])), strip(before));
    fvsd.vsctl(&["add-port", "br0", "after"]);
    assert!(fvs.vsctl(&["list-ports", "br0"]).contains("after"));
}
