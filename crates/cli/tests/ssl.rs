//! Oracle tests: `fvs-ofctl` over `ssl:` against a real `ovs-vswitchd` listening on
//! `pssl:`, next to `ovs-ofctl` doing the same, with certificates made by `ovs-pki` at test
//! time. Outputs must be identical (transaction ids aside); a controller certificate from
//! another CA must be refused, and missing TLS files reported, as ovs-ofctl reports them.
//!
//! Needs `ovs-pki`, `ovs-ofctl`, `ovs-vsctl` and `ovs-vswitchd` (Debian's
//! `openvswitch-common` and `openvswitch-switch`); without them these tests fail.

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use fvs_test_support::{KeyPair, Pki, PrivateOvs};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// ovs-vswitchd with bridge br0 listening on `pssl:PORT:127.0.0.1` with the switch's
/// key pair, trusting `controllerca`.
fn ovs_with_pssl(pki: &Pki) -> (PrivateOvs, u16) {
    let ovs = PrivateOvs::start();
    let sw = pki.switch("sw");
    let port = free_port();
    ovs.vsctl(&["add-br", "br0"]).expect("add-br");
    ovs.vsctl(&[
        "set-ssl",
        &sw.private_key.display().to_string(),
        &sw.certificate.display().to_string(),
        &pki.controllerca().display().to_string(),
    ])
    .expect("set-ssl");
    ovs.vsctl(&["set-controller", "br0", &format!("pssl:{port}:127.0.0.1")])
        .expect("set-controller");
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "ovs-vswitchd never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ovs.ofctl(&["add-flow", "br0", "priority=5,ip,actions=drop"])
        .expect("add-flow");
    (ovs, port)
}

/// A run's exit status, stdout and stderr.
type Outcome = (Option<i32>, String, String);

/// Status, stdout and stderr of `program ARGS`, with ids, timestamps and the program's
/// name masked.
fn run(program: &str, args: &[String]) -> Outcome {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mask = |b: &[u8]| {
        let text = String::from_utf8_lossy(b)
            .replace("fvs-ofctl:", "ofctl:")
            .replace("ovs-ofctl:", "ofctl:");
        text.lines()
            .map(|l| {
                // Open vSwitch's log lines carry a timestamp and a sequence number first.
                let l = l.find("|stream_ssl|").map_or(l, |i| &l[i + 1..]);
                let l = match l.find("xid=0x") {
                    Some(i) => {
                        let end = l[i + 6..]
                            .find(|c: char| !c.is_ascii_hexdigit())
                            .map_or(l.len(), |e| i + 6 + e);
                        format!("{}xid=X{}", &l[..i], &l[end..])
                    }
                    None => l.to_owned(),
                };
                l.replace(" duration=", " duration=D")
                    .split(" duration=D")
                    .map(|p| p.split_once(',').map_or(p.to_owned(), |x| x.1.to_owned()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    (out.status.code(), mask(&out.stdout), mask(&out.stderr))
}

fn tls_args(kp: &KeyPair, ca: &std::path::Path) -> Vec<String> {
    vec![
        "-p".into(),
        kp.private_key.display().to_string(),
        format!("--certificate={}", kp.certificate.display()),
        "-C".into(),
        ca.display().to_string(),
    ]
}

fn both(args: &[String]) -> (Outcome, Outcome) {
    (
        run("ovs-ofctl", args),
        run(env!("CARGO_BIN_EXE_fvs-ofctl"), args),
    )
}

#[test]
fn fvs_ofctl_over_ssl_reads_ovs_vswitchd_as_ovs_ofctl_does() {
    let pki = Pki::new("sslo");
    let (_ovs, port) = ovs_with_pssl(&pki);
    let ctl = pki.controller("ctl");
    let target = format!("ssl:127.0.0.1:{port}");
    for cmd in [
        vec!["show"],
        vec!["-O", "OpenFlow13", "show"],
        vec!["dump-flows"],
        vec!["-O", "OpenFlow13", "dump-flows"],
        vec!["dump-ports-desc"],
    ] {
        let mut args = tls_args(&ctl, &pki.switchca());
        args.extend(cmd.iter().map(|s| (*s).to_owned()));
        args.push(target.clone());
        let (want, got) = both(&args);
        assert_eq!(want.0, Some(0), "ovs-ofctl {cmd:?}: {}", want.2);
        assert!(!want.1.is_empty());
        assert_eq!(got, want, "{cmd:?}");
    }
    // A change made over TLS shows over TLS.
    let mut add = tls_args(&ctl, &pki.switchca());
    add.extend([
        "add-flow".into(),
        target.clone(),
        "priority=7,arp,actions=NORMAL".into(),
    ]);
    let got = run(env!("CARGO_BIN_EXE_fvs-ofctl"), &add);
    assert_eq!(got.0, Some(0), "{}", got.2);
    let mut dump = tls_args(&ctl, &pki.switchca());
    dump.extend(["dump-flows".into(), target.clone()]);
    let (want, got) = both(&dump);
    assert!(
        want.1.contains("priority=7,arp actions=NORMAL"),
        "{}",
        want.1
    );
    assert_eq!(got, want);
}

#[test]
fn strangers_and_missing_files_fail_as_with_ovs_ofctl() {
    let pki = Pki::new("ssls");
    let stranger = Pki::new("sslx");
    let (_ovs, port) = ovs_with_pssl(&pki);
    let target = format!("ssl:127.0.0.1:{port}");

    // A controller certificate from another CA, which itself trusts the right switch CA.
    let intruder = stranger.controller("intruder");
    let mut args = tls_args(&intruder, &pki.switchca());
    args.extend(["show".into(), target.clone()]);
    let (want, got) = both(&args);
    assert_ne!(want.0, Some(0), "ovs-vswitchd let a stranger in");
    assert_eq!(got.0, want.0);
    assert!(got.1.is_empty(), "{}", got.1);
    let last = |s: &str| s.lines().last().unwrap_or_default().to_owned();
    // ovs-ofctl learns of the refusal writing its hello or reading the answer (TLS 1.3
    // finishes the client's handshake before the server checks its certificate): the
    // reason depends on that race, the message does not.
    let before_reason = |s: &str| last(s).split(" (").next().unwrap_or_default().to_owned();
    assert_eq!(
        before_reason(&got.2),
        before_reason(&want.2),
        "{}\n---\n{}",
        got.2,
        want.2
    );

    // A server from another CA: the right controller certificate, trusting the wrong CA.
    let ctl = pki.controller("ctl");
    let mut args = tls_args(&ctl, &stranger.switchca());
    args.extend(["show".into(), target.clone()]);
    let (want, got) = both(&args);
    assert_ne!(want.0, Some(0));
    assert_eq!(got.0, want.0);
    // ovs-ofctl meets the failed handshake either inside its open ("connecting to T (E)")
    // or, most often, waiting for the connection ("T: failed to connect to socket (E)"):
    // one form for both.
    let one_form = |s: &str| {
        let l = last(s);
        match l.strip_prefix("ofctl: connecting to ") {
            Some(rest) => {
                let (t, e) = rest.split_once(" (").unwrap_or((rest, ""));
                format!("ofctl: {t}: failed to connect to socket ({e}")
            }
            None => l,
        }
    };
    assert_eq!(
        one_form(&got.2),
        one_form(&want.2),
        "{}\n---\n{}",
        got.2,
        want.2
    );

    // No TLS options at all: every missing file logged, then "Protocol not available".
    let args = vec!["show".to_owned(), target.clone()];
    let (want, got) = both(&args);
    assert_eq!(got.0, want.0);
    let errs = |s: &str| {
        s.lines()
            .map(|l| l.rsplit('|').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(errs(&got.2), errs(&want.2), "{}\n---\n{}", got.2, want.2);
}
