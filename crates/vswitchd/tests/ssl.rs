//! `ssl:` and `pssl:` in fvs-vswitchd, each run next to Open vSwitch 3.1 configured alike,
//! with certificates made by `ovs-pki` at test time (switch certificates trust
//! `controllerca`, controllers trust `switchca`, as `ovs-pki` sets them up):
//!
//! - a `pssl:` Controller: real `ovs-ofctl -p -c -C show/dump-flows ssl:127.0.0.1:PORT`
//!   prints the same as against ovs-vswitchd; a client with a certificate from another CA
//!   is refused, one that sends garbage instead of a TLS hello is dropped and the next
//!   client is served;
//! - an `ssl:` Controller: an os-ken application listening for TLS (its own OpenSSL) sees
//!   the same switch and the same packet-ins as from ovs-vswitchd, and the Controller rows
//!   agree; without an `SSL` row, with a private key file that holds no key, and with a
//!   controller from another CA, the rows' `status` says what Open vSwitch's says;
//! - `bootstrap_ca_cert`: without a CA file the switch takes its controller's CA (sent
//!   after the controller's own certificate), saves it and verifies with it from then on;
//! - a `pssl:` Manager: `ovs-vsctl --db=ssl:...` and `ovsdb-client` read over TLS what they
//!   read over the Unix socket; strangers are refused.
//!
//! Needs Open vSwitch's tools (`ovs-pki` from openvswitch-common), the system Python and
//! os-ken 4.2.2 in `FVS_OSKEN_PATH` (as scripts/test.sh installs it).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::{AddBridge, KeyPair, Pki, Switch, TempDir, require_tool};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn wait_for_port(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        sleep(Duration::from_millis(50));
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `-p KEY -c CERT -C CA`, as the Open vSwitch tools take them.
fn tls_args(kp: &KeyPair, ca: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        path(&kp.private_key),
        "-c".into(),
        path(&kp.certificate),
        "-C".into(),
        path(ca),
    ]
}

/// `ovs-vsctl set-ssl` with a switch key pair from `pki`, trusting `ca`.
fn set_ssl(sw: &dyn Switch, kp: &KeyPair, ca: &Path) {
    sw.vsctl_ok(&[
        "set-ssl",
        &path(&kp.private_key),
        &path(&kp.certificate),
        &path(ca),
    ]);
}

/// Status, stdout and stderr of an Open vSwitch tool.
fn tool(name: &str, args: &[String]) -> (bool, String, String) {
    let out = require_tool(name)
        .command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Flow durations and idle ages vary between runs (the switches run one after the other, so
/// a flow's idle age may cross a second on one and not on the other).
fn mask_durations(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split(", ")
                .map(|f| {
                    if f.trim_start().starts_with("duration=") {
                        "duration=?"
                    } else if f.starts_with("idle_age=") {
                        "idle_age=?"
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bridge both switches get: fixed datapath id and MAC, and one port per transaction
/// (Open vSwitch numbers the dummy devices of one transaction in its hash table's order), so
/// `show` compares as it is.
fn add_bridge(sw: &dyn Switch, fail_mode: &str) -> PathBuf {
    let pcap = sw.dir().join("p2.pcap");
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                &format!("fail_mode={fail_mode}"),
                "other_config:datapath-id=0000000000000abc",
                "other_config:hwaddr=\"aa:55:aa:55:00:01\"",
            ])
            .args(),
    );
    let tx_pcap = format!("options:tx_pcap={}", pcap.display());
    for (port, settings) in [
        ("p1", &["type=dummy", "ofport_request=1"][..]),
        ("p2", &["type=dummy", "ofport_request=2", &tx_pcap]),
    ] {
        let mut args = vec!["add-port", "br0", port, "--", "set", "interface", port];
        args.extend_from_slice(settings);
        sw.vsctl_ok(&args);
    }
    pcap
}

/// One switch behind a `pssl:` Controller, read by `ovs-ofctl` over TLS; what it printed,
/// step by step.
fn pssl_controller_run(sw: &dyn Switch, pki: &Pki, stranger: &Pki) -> Vec<String> {
    add_bridge(sw, "secure");
    set_ssl(sw, &pki.switch("sw"), &pki.controllerca());
    let port = free_port();
    sw.vsctl_ok(&["set-controller", "br0", &format!("pssl:{port}:127.0.0.1")]);
    wait_for_port(port);
    sw.ofctl_ok(&["add-flow", "br0", "priority=5,ip,actions=drop"]);
    sw.ofctl_ok(&["add-flow", "br0", "priority=7,in_port=1,actions=output:2"]);
    let target = format!("ssl:127.0.0.1:{port}");
    let ctl = tls_args(&pki.controller("ctl"), &pki.switchca());
    let mut seen = Vec::new();
    let ofctl = |tls: &[String], cmd: &[&str]| {
        let mut args = tls.to_vec();
        args.extend(cmd.iter().map(|s| (*s).to_owned()));
        args.push(target.clone());
        tool("ovs-ofctl", &args)
    };
    for cmd in [
        &["show"][..],
        &["-O", "OpenFlow13", "show"],
        &["dump-flows"],
        &["-O", "OpenFlow13", "dump-flows"],
        &["dump-ports-desc"],
    ] {
        let (ok, out, err) = ofctl(&ctl, cmd);
        assert!(ok, "ovs-ofctl {cmd:?} {target}: {err}");
        seen.push(mask_durations(&out));
    }
    // A controller certificate from another CA.
    let intruder = tls_args(&stranger.controller("intruder"), &pki.switchca());
    let (ok, out, _) = ofctl(&intruder, &["show"]);
    assert!(!ok, "a stranger was served: {out}");
    seen.push(format!("stranger served: {ok}"));
    // Garbage instead of a TLS hello, from a client that then waits: dropped.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    garbage
        .write_all(b"\x01\x00\x00\x08\x00\x00\x00\x01 not TLS at all\r\n")
        .expect("write");
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let answered = garbage.read(&mut buf).unwrap_or(0);
    seen.push(format!(
        "garbage client dropped: {}",
        answered < 8 || buf[0] != 1
    ));
    // The next client is served as before.
    let (ok, out, err) = ofctl(&ctl, &["dump-flows"]);
    assert!(ok, "after the garbage: {err}");
    seen.push(mask_durations(&out));
    seen
}

#[test]
fn ovs_ofctl_over_ssl_sees_fvs_vswitchd_as_it_sees_ovs_vswitchd() {
    let pki = Pki::new("sslv");
    let stranger = Pki::new("sslw");
    let (ours, theirs) =
        common::ours_then_theirs("sslc", |sw| pssl_controller_run(sw, &pki, &stranger));
    assert!(theirs[0].contains("dpid:0000000000000abc"), "{}", theirs[0]);
    assert!(theirs[2].contains("priority=7,in_port=1"), "{}", theirs[2]);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "step {i}");
    }
    assert_eq!(ours.len(), theirs.len());
}

/// The system Python with os-ken on its path (scripts/test.sh installs it).
fn python() -> Command {
    let dir = std::env::var_os("FVS_OSKEN_PATH").map_or_else(
        || PathBuf::from("/usr/local/lib/ferrovs-test/os-ken"),
        PathBuf::from,
    );
    let check = Command::new("/usr/bin/python3")
        .env("PYTHONPATH", &dir)
        .args(["-c", "import os_ken"])
        .output()
        .unwrap_or_else(|e| panic!("/usr/bin/python3: {e}"));
    assert!(
        check.status.success(),
        "this test needs os-ken in {}: /usr/bin/python3 -m pip install --target DIR os-ken==4.2.2, as scripts/test.sh does",
        dir.display()
    );
    let mut c = Command::new("/usr/bin/python3");
    c.env("PYTHONPATH", dir);
    c
}

/// The controller test's os-ken application, listening for TLS; killed by its pid on drop.
struct TlsApp {
    // Fields drop in order: the application is killed (`Drop`) before its directory goes.
    child: Child,
    log: PathBuf,
    port: u16,
    _dir: TempDir,
}

impl TlsApp {
    /// Starts the application in a directory of its own, with key pair `kp` and trusting
    /// `ca`, and waits until it listens.
    fn start(kp: &KeyPair, ca: &Path) -> Self {
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/osken/app.py");
        let dir = TempDir::new("sslapp");
        let port = free_port();
        let log = dir.path().join("osken.log");
        let child = python()
            .arg(&app)
            .arg("127.0.0.1")
            // The plain port is not listened on when TLS is configured.
            .arg(free_port().to_string())
            .arg(&log)
            .args(["--ofp-ssl-listen-port", &port.to_string()])
            .args(["--ctl-privkey", &path(&kp.private_key)])
            .args(["--ctl-cert", &path(&kp.certificate)])
            .args(["--ca-certs", &path(ca)])
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("osken.err"))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the os-ken application: {e}"));
        let app = Self {
            child,
            log,
            port,
            _dir: dir,
        };
        wait_for_port(port);
        app
    }

    fn target(&self) -> String {
        format!("ssl:127.0.0.1:{}", self.port)
    }

    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &serde_json::Value| e["event"] != "listening")
            .collect()
    }

    fn wait_for(&self, done: impl Fn(&[serde_json::Value]) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.events()) {
            assert!(
                Instant::now() < deadline,
                "the os-ken application never got to {what}; its log: {:?}",
                self.events()
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TlsApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP frame from port 1: the application's rules send it to the controller.
fn udp_frame() -> Vec<u8> {
    let payload = b"over tls";
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
    ];
    ip[2..4].copy_from_slice(&u16::try_from(ip_len).expect("len").to_be_bytes());
    let c = fvs_test_support::frames::ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend(1234u16.to_be_bytes());
    f.extend(80u16.to_be_bytes());
    f.extend(u16::try_from(udp_len).expect("len").to_be_bytes());
    f.extend([0, 0]);
    f.extend(payload);
    f
}

/// The Controller row's `is_connected` and its `status` keys `state` and `last_error`, once
/// `done` holds of them (or after 20 s). The status map is read in one command: its keys
/// are written together.
fn controller_row(sw: &dyn Switch, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = sw.vsctl_ok(&[
            "--columns=is_connected,status",
            "--format=json",
            "list",
            "controller",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let row = &v["data"][0];
        let status: std::collections::BTreeMap<String, String> = row[1][1]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
            .collect();
        let key = |k: &str| status.get(k).cloned().unwrap_or_default();
        let text = format!(
            "is_connected={} state={} last_error={}",
            row[0],
            key("state"),
            key("last_error")
        );
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        sleep(Duration::from_millis(200));
    }
}

/// Points `br0`'s controller at an application with key pair `kp` trusting `ca` that the
/// switch must not reach (its TLS setup or the application's certificate is wrong): the
/// Controller row once the switch has tried, after checking that the application saw
/// nothing; the controller is removed again.
fn unreached_controller(sw: &dyn Switch, kp: &KeyPair, ca: &Path) -> String {
    let app = TlsApp::start(kp, ca);
    sw.vsctl_ok(&["set-controller", "br0", &app.target()]);
    let row = controller_row(sw, |r| {
        !r.ends_with("last_error=") && !r.contains("state= ")
    });
    assert!(
        app.events().is_empty(),
        "the switch got through: {:?}",
        app.events()
    );
    sw.vsctl_ok(&["del-controller", "br0"]);
    row
}

/// One switch connecting out with `ssl:`: first without an `SSL` row, then with a private
/// key file that holds no key, then to an application whose certificate comes from another
/// CA, then to a trusted one.
fn ssl_controller_run(sw: &dyn Switch, pki: &Pki, stranger: &Pki) -> Vec<String> {
    let pcap = add_bridge(sw, "secure");
    let mut seen = Vec::new();

    // No SSL row: nothing to connect with.
    seen.push(unreached_controller(
        sw,
        &pki.controller("ctl"),
        &pki.switchca(),
    ));

    // A private key file that holds no key.
    let junk = sw.dir().join("junk-privkey.pem");
    std::fs::write(&junk, "not a key\n").expect("junk key");
    let kp = pki.switch("sw");
    // A certificate file of its own: Open vSwitch re-reads key and certificate only when
    // both file names change, and the next step must reach it.
    let junk_cert = sw.dir().join("junk-cert.pem");
    std::fs::copy(&kp.certificate, &junk_cert).expect("certificate copy");
    set_ssl(
        sw,
        &KeyPair {
            private_key: junk,
            certificate: junk_cert,
        },
        &pki.controllerca(),
    );
    seen.push(unreached_controller(
        sw,
        &pki.controller("ctl"),
        &pki.switchca(),
    ));

    // A controller the switch cannot trust.
    set_ssl(sw, &kp, &pki.controllerca());
    seen.push(unreached_controller(
        sw,
        &stranger.controller("bad"),
        &pki.switchca(),
    ));

    // The trusted controller: flows, a packet-in and its packet-out.
    let app = TlsApp::start(&pki.controller("ctl"), &pki.switchca());
    sw.vsctl_ok(&["set-controller", "br0", &app.target()]);
    app.wait_for(
        |l| l.iter().any(|e| e["event"] == "ready"),
        "its barrier reply",
    );
    // Connected and active; `last_error` is left out here: it keeps the error of an earlier
    // attempt, and whether the switch's first attempt raced the application's start is up
    // to the scheduler, for either switch.
    let row = controller_row(sw, |r| r.contains("is_connected=true"));
    seen.push(
        row.split(" last_error=")
            .next()
            .unwrap_or_default()
            .to_owned(),
    );
    sw.receive("p1", &udp_frame())
        .unwrap_or_else(|e| panic!("netdev-dummy/receive: {e}"));
    app.wait_for(
        |l| l.iter().any(|e| e["event"] == "packet_in"),
        "the packet-in",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while fvs_test_support::frames::pcap_frames_or_empty(&pcap).is_empty()
        && Instant::now() < deadline
    {
        sleep(Duration::from_millis(50));
    }
    seen.push(format!(
        "sent: {:?}",
        fvs_test_support::frames::pcap_frames_or_empty(&pcap)
    ));
    seen.extend(app.events().iter().map(ToString::to_string));
    seen.push(mask_durations(&sw.ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "dump-flows",
        "br0",
    ])));
    seen
}

#[test]
fn fvs_vswitchd_connects_out_over_ssl_as_ovs_vswitchd_does() {
    let pki = Pki::new("sslp");
    let stranger = Pki::new("sslq");
    let (ours, theirs) =
        common::ours_then_theirs("sslo", |sw| ssl_controller_run(sw, &pki, &stranger));
    assert!(theirs[3].contains("is_connected=true"), "{theirs:?}");
    assert!(theirs.iter().any(|l| l.contains("packet_in")), "{theirs:?}");
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "step {i}");
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn a_pssl_manager_serves_ovs_vsctl_and_ovsdb_client_over_tls() {
    let pki = Pki::new("sslm");
    let stranger = Pki::new("ssln");
    let fvs = Fvs::start("sslm");
    let sw = fvs.private();
    add_bridge(sw, "standalone");
    set_ssl(sw, &pki.switch("sw"), &pki.controllerca());
    let port = free_port();
    sw.vsctl_ok(&["set-manager", &format!("pssl:{port}:127.0.0.1")]);
    wait_for_port(port);
    let db = format!("--db=ssl:127.0.0.1:{port}");
    let good = tls_args(&pki.controller("mgr"), &pki.switchca());

    let vsctl = |tls: &[String], args: &[&str]| {
        let mut all = tls.to_vec();
        all.push(db.clone());
        all.push("--timeout=10".into());
        all.extend(args.iter().map(|s| (*s).to_owned()));
        tool("ovs-vsctl", &all)
    };
    let (ok, over_tls, err) = vsctl(&good, &["show"]);
    assert!(ok, "ovs-vsctl over TLS: {err}");
    assert_eq!(over_tls, sw.vsctl_ok(&["show"]));
    assert!(over_tls.contains("Manager \"pssl:"), "{over_tls}");

    // A write over TLS reaches the switch.
    let (ok, _, err) = vsctl(
        &good,
        &[
            "add-port",
            "br0",
            "p3",
            "--",
            "set",
            "interface",
            "p3",
            "type=dummy",
        ],
    );
    assert!(ok, "{err}");
    assert!(sw.vsctl_ok(&["list-ports", "br0"]).contains("p3"));

    let mut client_args = good.clone();
    client_args.extend(["list-dbs".into(), format!("ssl:127.0.0.1:{port}")]);
    let (ok, out, err) = tool("ovsdb-client", &client_args);
    assert!(ok, "{err}");
    assert_eq!(out, "Open_vSwitch\n_Server\n");

    // Garbage instead of a hello, then a stranger: both refused, the next client served.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    garbage
        .write_all(br#"{"id":1,"method":"list_dbs","params":[]}"#)
        .expect("write");
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let n = garbage.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("Open_vSwitch"),
        "a plain-text client was served"
    );
    let intruder = tls_args(&stranger.controller("intruder"), &pki.switchca());
    let (ok, out, _) = vsctl(&intruder, &["show"]);
    assert!(!ok, "a stranger was served: {out}");
    let (ok, _, err) = vsctl(&good, &["list-br"]);
    assert!(ok, "after the refusals: {err}");

    // The Manager row: listening, with its port.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = String::new();
    while !status.contains("bound_port") && Instant::now() < deadline {
        status = sw.vsctl_ok(&[
            "get",
            "manager",
            &format!("pssl:{port}:127.0.0.1"),
            "status",
        ]);
        sleep(Duration::from_millis(200));
    }
    assert!(
        status.contains(&format!("bound_port=\"{port}\"")),
        "{status}"
    );
}

/// A PEM file's base64 body without line breaks (and without the text `ovs-pki` writes
/// before it): the same certificate reads the same whoever wrote the file.
fn pem_body(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut inside = false;
    let mut body = String::new();
    for l in text.lines() {
        if l.starts_with("-----BEGIN") {
            inside = true;
        } else if l.starts_with("-----END") {
            inside = false;
        } else if inside {
            body.push_str(l.trim());
        }
    }
    body
}

/// `bootstrap_ca_cert`: the switch has no CA file yet; its controller sends its CA after its
/// own certificate. The first connection saves the CA and is dropped, the next one is
/// verified against it.
fn bootstrap_run(sw: &dyn Switch, pki: &Pki) -> Vec<String> {
    add_bridge(sw, "secure");
    let kp = pki.switch("sw");
    let saved = sw.dir().join("bootstrapped-ca.pem");
    sw.vsctl_ok(&[
        "--",
        "--bootstrap",
        "set-ssl",
        &path(&kp.private_key),
        &path(&kp.certificate),
        &path(&saved),
    ]);
    let dir = TempDir::new("sslboot");
    let ctl = pki.controller("ctl");
    let chain = dir.join("ctl-chain.pem");
    let mut text = std::fs::read_to_string(&ctl.certificate).expect("cert");
    text.push_str(&std::fs::read_to_string(pki.controllerca()).expect("ca"));
    std::fs::write(&chain, text).expect("chain");
    let app = TlsApp::start(
        &KeyPair {
            private_key: ctl.private_key,
            certificate: chain,
        },
        &pki.switchca(),
    );
    sw.vsctl_ok(&["set-controller", "br0", &app.target()]);
    app.wait_for(
        |l| l.iter().any(|e| e["event"] == "ready"),
        "its barrier reply",
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&saved).expect("saved CA").permissions(),
    );
    vec![
        controller_row(sw, |r| r.contains("is_connected=true")),
        format!(
            "saved the controller CA: {}",
            pem_body(&saved) == pem_body(&pki.controllerca())
        ),
        format!("mode {:o}", mode & 0o777),
    ]
}

#[test]
fn bootstrap_ca_cert_takes_the_controllers_ca_as_ovs_vswitchd_does() {
    let pki = Pki::new("sslb");
    let (ours, theirs) = common::ours_then_theirs("sslb", |sw| bootstrap_run(sw, &pki));
    assert!(theirs[0].contains("is_connected=true"), "{theirs:?}");
    assert_eq!(theirs[1], "saved the controller CA: true");
    assert_eq!(ours, theirs);
}
