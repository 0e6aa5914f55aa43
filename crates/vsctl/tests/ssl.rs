//! `fvs-vsctl --db=ssl:IP:PORT -p KEY -c CERT -C CA` next to `ovs-vsctl` with the same
//! options, both against Open vSwitch's own `ovsdb-server` listening on `pssl:` with
//! certificates made by `ovs-pki` at test time: the same output, the same refusals.
//!
//! Needs `ovs-pki`, `ovsdb-tool`, `ovsdb-server` and `ovs-vsctl`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fvs_test_support::{KeyPair, Pki, TempDir, VSWITCH_SCHEMA, require_tool, run};

/// Open vSwitch's ovsdb-server on `pssl:PORT:127.0.0.1`, stopped by its pid on drop.
struct PsslServer {
    dir: TempDir,
    port: u16,
}

impl PsslServer {
    fn start(pki: &Pki) -> Self {
        Self::start_with_chain(pki, false)
    }

    /// With `send_ca`, the server sends `switchca` after its own certificate
    /// (`--peer-ca-cert`), so clients can bootstrap from it.
    fn start_with_chain(pki: &Pki, send_ca: bool) -> Self {
        let dir = TempDir::new("vssl");
        let db = dir.join("conf.db");
        run(require_tool("ovsdb-tool")
            .command()
            .arg("create")
            .arg(&db)
            .arg(VSWITCH_SCHEMA))
        .unwrap_or_else(|e| panic!("{e}"));
        let sw = pki.switch("srv");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        run(require_tool("ovsdb-server")
            .command()
            .arg(format!("--remote=pssl:{port}:127.0.0.1"))
            .arg(format!("--private-key={}", sw.private_key.display()))
            .arg(format!("--certificate={}", sw.certificate.display()))
            .arg(format!("--ca-cert={}", pki.controllerca().display()))
            .args(send_ca.then(|| format!("--peer-ca-cert={}", pki.switchca().display())))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .arg(format!("--unixctl={}", dir.join("ctl").display()))
            .arg(format!("--log-file={}", dir.join("log").display()))
            .args(["--detach", "--no-chdir"])
            .arg(&db))
        .unwrap_or_else(|e| panic!("{e}"));
        let server = Self { dir, port };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "ovsdb-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn db(&self) -> String {
        format!("--db=ssl:127.0.0.1:{}", self.port)
    }
}

impl Drop for PsslServer {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(self.dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tls(kp: &KeyPair, ca: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        kp.private_key.display().to_string(),
        format!("--certificate={}", kp.certificate.display()),
        "-C".into(),
        ca.display().to_string(),
    ]
}

/// Status, stdout and stderr's last line (program name masked) of one tool.
fn vsctl(program: &Path, args: &[String]) -> (bool, String, String) {
    let out = Command::new(program)
        .arg("--timeout=10")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    let last = last
        .strip_prefix("ovs-vsctl: ")
        .or_else(|| last.strip_prefix("fvs-vsctl: "))
        .unwrap_or(last);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        last.to_owned(),
    )
}

fn programs() -> (PathBuf, PathBuf) {
    (
        require_tool("ovs-vsctl").path().to_owned(),
        PathBuf::from(env!("CARGO_BIN_EXE_fvs-vsctl")),
    )
}

#[test]
fn fvs_vsctl_over_ssl_reads_and_writes_as_ovs_vsctl_does() {
    let pki = Pki::new("vsp");
    let server = PsslServer::start(&pki);
    let (theirs, ours) = programs();
    let good = tls(&pki.controller("mgr"), &pki.switchca());
    let with = |words: &[&str]| {
        let mut a = good.clone();
        a.push(server.db());
        a.extend(words.iter().map(|s| (*s).to_owned()));
        a
    };
    let (ok, _, err) = vsctl(&theirs, &with(&["--no-wait", "init"]));
    assert!(ok, "{err}");
    let (ok, _, err) = vsctl(&ours, &with(&["--no-wait", "add-br", "br0"]));
    assert!(ok, "fvs-vsctl add-br over TLS: {err}");
    let (ok, _, err) = vsctl(
        &theirs,
        &with(&["--no-wait", "add-port", "br0", "p1", "tag=5"]),
    );
    assert!(ok, "{err}");
    for words in [
        &["show"][..],
        &["list-br"],
        &["list-ports", "br0"],
        &["get", "port", "p1", "tag"],
        &["--columns=name", "list", "bridge"],
    ] {
        let want = vsctl(&theirs, &with(words));
        assert!(want.0, "ovs-vsctl {words:?}: {}", want.2);
        assert_eq!(vsctl(&ours, &with(words)), want, "{words:?}");
    }
}

#[test]
fn missing_files_and_strangers_fail_as_with_ovs_vsctl() {
    let pki = Pki::new("vsq");
    let stranger = Pki::new("vsr");
    let server = PsslServer::start(&pki);
    let (theirs, ours) = programs();
    let cases = [
        // No TLS options at all.
        Vec::new(),
        // A client certificate from another CA.
        tls(&stranger.controller("bad"), &pki.switchca()),
        // A client that does not trust the server's CA.
        tls(&pki.controller("mgr"), &stranger.switchca()),
    ];
    for (i, mut args) in cases.into_iter().enumerate() {
        args.push(server.db());
        args.push("list-br".into());
        let want = vsctl(&theirs, &args);
        assert!(!want.0, "case {i}: ovs-vsctl got in");
        let got = vsctl(&ours, &args);
        assert!(!got.0, "case {i}: fvs-vsctl got in");
        // A refused client certificate reaches ovs-vsctl as an alert (EIO) or a closed
        // socket (EPIPE), whichever it meets first: the message is compared without it.
        let unraced = |r: &(bool, String, String)| match r.2.split_once(" (") {
            Some((msg, why)) if why == "Broken pipe)" || why == "Input/output error)" => {
                (r.0, r.1.clone(), format!("{msg} (EPIPE or EIO)"))
            }
            _ => r.clone(),
        };
        assert_eq!(unraced(&got), unraced(&want), "case {i}");
    }
}

/// A PEM file's base64 body (without the text `ovs-pki` writes before it).
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

#[test]
fn bootstrap_ca_cert_takes_the_servers_ca_as_ovs_vsctl_does() {
    let pki = Pki::new("vsb");
    let server = PsslServer::start_with_chain(&pki, true);
    let (theirs, ours) = programs();
    let mgr = pki.controller("mgr");
    let mut seen = Vec::new();
    for (name, program) in [("theirs", &theirs), ("ours", &ours)] {
        let ca = server.dir.join(format!("{name}-ca.pem"));
        let args = vec![
            "-p".to_owned(),
            mgr.private_key.display().to_string(),
            "-c".to_owned(),
            mgr.certificate.display().to_string(),
            format!("--bootstrap-ca-cert={}", ca.display()),
            server.db(),
            // No ovs-vswitchd bumps cur_cfg: the run that creates the Open_vSwitch row
            // must not wait for it.
            "--no-wait".to_owned(),
            "list-br".to_owned(),
        ];
        // The first run saves the CA and fails; the second is verified with it.
        let first = vsctl(program, &args);
        let saved = pem_body(&ca) == pem_body(&pki.switchca());
        let second = vsctl(program, &args);
        seen.push((first, saved, second));
    }
    assert!(seen[0].1, "ovs-vsctl did not save the CA: {seen:?}");
    assert!(seen[0].2.0, "{seen:?}");
    assert_eq!(seen[1], seen[0]);
}
