//! `pssl:` and `ssl:` remotes with Open vSwitch's `ovsdb-client` at the other end, with
//! certificates made by `ovs-pki` at test time: what a client reads over TLS is what it
//! reads over the Unix socket; a client from another CA, or one that speaks no TLS, is
//! refused while the others go on; the server connects out over TLS to a listening
//! `ovsdb-client`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ours, run, schema, temp_dir, write_schema};
use fvs_test_support::{KeyPair, Pki, require_tool};
use serde_json::json;

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_for_port(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tls_args(kp: &KeyPair, ca: &Path) -> Vec<String> {
    vec![
        format!("--private-key={}", kp.private_key.display()),
        format!("--certificate={}", kp.certificate.display()),
        format!("--ca-cert={}", ca.display()),
    ]
}

/// `ovsdb-client [TLS] COMMAND TARGET ARGS`: its status, stdout and stderr.
fn client(tls: &[String], cmd: &str, target: &str, args: &[&str]) -> (bool, String, String) {
    let out = require_tool("ovsdb-client")
        .command()
        .args(tls)
        .arg("--timeout=10")
        .arg(cmd)
        .arg(target)
        .args(args)
        .output()
        .expect("run ovsdb-client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Our server with a `pssl:` remote and the switch's key pair, trusting `controllerca`.
fn ours_with_pssl(pki: &Pki, tag: &str) -> (Ours, u16) {
    let dir = temp_dir(tag);
    write_schema(&dir, &schema());
    let sw = pki.switch("srv");
    let port = free_port();
    let mut extra = vec![format!("--remote=pssl:{port}:127.0.0.1")];
    extra.extend([
        "-p".to_owned(),
        sw.private_key.display().to_string(),
        "-c".to_owned(),
        sw.certificate.display().to_string(),
        "-C".to_owned(),
        pki.controllerca().display().to_string(),
    ]);
    let ours = Ours::start_owned(dir, &extra);
    wait_for_port(port);
    (ours, port)
}

#[test]
fn ovsdb_client_over_pssl_reads_and_writes_what_it_does_over_unix() {
    let pki = Pki::new("dbs1");
    let (ours, port) = ours_with_pssl(&pki, "ssl1");
    let ctl = pki.controller("cli");
    let tls = tls_args(&ctl, &pki.switchca());
    let ssl = format!("ssl:127.0.0.1:{port}");

    let txn = json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "tls", "n": 7}}]);
    let (ok, out, err) = client(&tls, "transact", &ssl, &[&txn.to_string()]);
    assert!(ok, "transact over TLS: {err}");
    assert!(out.contains("uuid"), "{out}");

    for cmd in ["list-dbs", "dump"] {
        let (ok, over_tls, err) = client(&tls, cmd, &ssl, &[]);
        assert!(ok, "{cmd} over TLS: {err}");
        let over_unix = run(require_tool("ovsdb-client")
            .command()
            .arg(cmd)
            .arg(ours.target()));
        assert_eq!(over_tls, over_unix, "{cmd}");
    }
    let (_, dump, _) = client(&tls, "dump", &ssl, &[]);
    assert!(dump.contains("tls"), "{dump}");
}

#[test]
fn strangers_and_plain_text_clients_are_refused_and_others_go_on() {
    let pki = Pki::new("dbs2");
    let stranger = Pki::new("dbs3");
    let (_ours, port) = ours_with_pssl(&pki, "ssl2");
    let ssl = format!("ssl:127.0.0.1:{port}");
    let good = tls_args(&pki.controller("cli"), &pki.switchca());

    // A client that stays connected throughout: a monitor.
    let mut monitor = require_tool("ovsdb-client")
        .command()
        .args(&good)
        .args(["monitor", &ssl, "Shop", "Shelf", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("monitor");

    // Plain JSON-RPC instead of a TLS hello: dropped without an answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(br#"{"id":0,"method":"list_dbs","params":[]}"#)
        .expect("write");
    let mut buf = [0u8; 512];
    let got = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..got]).contains("Shop"),
        "a plain-text client was served"
    );

    // A client certificate from another CA.
    let intruder = tls_args(&stranger.controller("intruder"), &pki.switchca());
    let (ok, out, _) = client(&intruder, "list-dbs", &ssl, &[]);
    assert!(!ok, "a stranger was served: {out}");
    // A client that does not trust the server's CA refuses the server.
    let suspicious = tls_args(&pki.controller("cli2"), &stranger.switchca());
    let (ok, _, _) = client(&suspicious, "list-dbs", &ssl, &[]);
    assert!(!ok, "a client trusted a server from another CA");

    // The good client and the monitor go on.
    let txn = json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "after"}}]);
    let (ok, _, err) = client(&good, "transact", &ssl, &[&txn.to_string()]);
    assert!(ok, "{err}");
    let mut seen = String::new();
    let mut stdout = monitor.stdout.take().expect("stdout");
    let until = Instant::now() + Duration::from_secs(10);
    while !seen.contains("after") && Instant::now() < until {
        let mut chunk = [0u8; 1024];
        match stdout.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    assert!(seen.contains("after"), "the monitor stopped: {seen}");
}

#[test]
fn an_ssl_remote_connects_out_to_a_listening_ovsdb_client() {
    let pki = Pki::new("dbs4");
    let dir = temp_dir("ssl3");
    write_schema(&dir, &schema());
    let sw = pki.switch("srv");
    let port = free_port();
    let extra = vec![
        format!("--remote=ssl:127.0.0.1:{port}"),
        format!("--private-key={}", sw.private_key.display()),
        format!("--certificate={}", sw.certificate.display()),
        format!("--ca-cert={}", pki.controllerca().display()),
    ];
    let _ours = Ours::start_owned(dir, &extra);
    // ovsdb-client listens and waits for the server to connect (backoff at most 8 s).
    let tls = tls_args(&pki.controller("cli"), &pki.switchca());
    let (ok, out, err) = client(&tls, "list-dbs", &format!("pssl:{port}:127.0.0.1"), &[]);
    assert!(ok, "{err}");
    assert_eq!(out, "Shop\n_Server\n");
}
