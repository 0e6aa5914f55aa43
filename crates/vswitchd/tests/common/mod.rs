//! The harness the fvs-vswitchd tests share: a daemon of this package in a private
//! directory, driven by Open vSwitch's own `ovs-vsctl` and `ovs-ofctl` and by this package's
//! `fvs-appctl`, plus the seed's br-tun as `ovs-vsctl` commands.
//!
//! Each test binary compiles this module for itself (`mod common;`) and uses part of it, so
//! what one binary leaves unused is not dead code.
#![allow(dead_code)]

pub(crate) mod openflow;
pub(crate) mod tunnel_offload;

use std::io::ErrorKind;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch, ToolError, require_tool};

/// An fvs-vswitchd in the foreground with `--enable-dummy`, its run, database and log
/// directories one private directory; killed by its own pid on drop (never by name, so
/// concurrent tests and other daemons are untouched). A thin layer over
/// [`PrivateFvs`] whose commands must succeed.
pub(crate) struct Fvs {
    inner: PrivateFvs,
}

impl Fvs {
    /// Starts the daemon and waits until its database and control sockets are ready.
    ///
    /// `tag` names the directory; keep it short, socket paths must fit in 108 bytes.
    pub(crate) fn start(tag: &str) -> Self {
        let inner = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .tag(tag)
            .start();
        Self { inner }
    }

    /// The shared harness underneath, for steps a test runs on [`fvs_test_support::PrivateOvs`]
    /// alike.
    pub(crate) fn private(&self) -> &PrivateFvs {
        &self.inner
    }

    /// The daemon's private directory (run, database and log directory at once).
    pub(crate) fn dir(&self) -> &Path {
        self.inner.dir()
    }

    /// The database's address as `ovs-vsctl --db=` takes it.
    pub(crate) fn db(&self) -> String {
        self.inner.target()
    }

    /// The control socket `ovs-appctl -t` takes.
    pub(crate) fn ctl(&self) -> PathBuf {
        self.inner.vswitchd_ctl()
    }

    /// `bridge`'s OpenFlow management socket.
    pub(crate) fn mgmt(&self, bridge: &str) -> PathBuf {
        self.inner.mgmt(bridge)
    }

    /// Real `ovs-vsctl` against this daemon's database; the command must succeed.
    pub(crate) fn vsctl(&self, args: &[&str]) {
        if let Err(e) = self.inner.vsctl(args) {
            panic!("ovs-vsctl {args:?}: {e}");
        }
    }

    /// This package's `fvs-appctl ARGS` against this daemon: success, stdout and stderr.
    pub(crate) fn appctl(&self, args: &[&str]) -> (bool, String, String) {
        match self.inner.appctl(args) {
            Ok(out) => (true, out, String::new()),
            Err(ToolError::Failed { stdout, stderr, .. }) => (false, stdout, stderr),
            Err(e) => panic!("fvs-appctl: {e}"),
        }
    }

    /// `bridge/dump-flows BRIDGE`, which must succeed.
    pub(crate) fn dump_flows(&self, bridge: &str) -> String {
        let (ok, out, err) = self.appctl(&["bridge/dump-flows", bridge]);
        assert!(ok, "{err}");
        out
    }
}

/// Waits up to 20 seconds for `path` to exist; a daemon that never makes it fails the test.
pub(crate) fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        sleep(Duration::from_millis(20));
    }
}

/// Real `ovs-ofctl OPTS CMD TARGET ARGS`: success, stdout and stderr.
pub(crate) fn ofctl(
    opts: &[&str],
    cmd: &str,
    target: &str,
    args: &[&str],
) -> (bool, String, String) {
    let out = require_tool("ovs-ofctl")
        .command()
        .args(opts)
        .arg(cmd)
        .arg(target)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What one `ovs-ofctl ARGS` on `sw` gives, in a form both switches' answers compare in:
/// whether it succeeded, and its standard output (or, when it failed, its standard error)
/// with the switch's private directory written `DIR`.
pub(crate) fn ofctl_outcome(sw: &dyn Switch, args: &[&str]) -> (bool, String) {
    let dir = sw.dir().display().to_string();
    match sw.ofctl(args) {
        Ok(out) => (true, out.replace(&dir, "DIR")),
        Err(ToolError::Failed { stderr, .. }) => (false, stderr.replace(&dir, "DIR")),
        Err(e) => panic!("ovs-ofctl {args:?}: {e}"),
    }
}

/// The bridge the group tests start from: `br0`, `fail_mode=secure`, every OpenFlow
/// version from 1.0 to 1.5 (groups travel differently in each), and dummy ports `p1` and
/// `p2` as OpenFlow ports 1 and 2 for buckets to output to and watch.
pub(crate) fn add_group_bridge(sw: &dyn Switch) {
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&[
                "fail_mode=secure",
                "protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15",
            ])
            .port("p1", &["ofport_request=1"])
            .port("p2", &["ofport_request=2"])
            .args(),
    );
}

/// What one appctl call gives, in a form both switches' answers compare in: its output, or
/// `error: ` and the first line of its error.
pub(crate) fn appctl_outcome(r: Result<String, ToolError>) -> String {
    match r {
        Ok(out) => out,
        Err(ToolError::Failed { stderr, .. }) => {
            format!("error: {}", stderr.lines().next().unwrap_or_default())
        }
        Err(e) => panic!("{e}"),
    }
}

/// Asserts that each `appctl` command, in order, gets the same answer (or the same first
/// error line) from ferrovs and from Open vSwitch.
pub(crate) fn same_appctl_answers(fvs: &dyn Switch, ovs: &dyn Switch, commands: &[&[&str]]) {
    for args in commands {
        assert_eq!(
            appctl_outcome(fvs.appctl(args)),
            appctl_outcome(ovs.appctl(args)),
            "{args:?}"
        );
    }
}

/// `add-port br0 NAME -- set interface NAME type=KIND options:KEY=VALUE...`, as words for
/// `ovs-vsctl`, one interface per transaction.
pub(crate) fn add_port_args(name: &str, kind: &str, options: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = ["add-port", "br0", name, "--", "set", "interface", name]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
    args.push(format!("type={kind}"));
    args.extend(options.iter().map(|(k, v)| format!("options:{k}={v}")));
    args
}

/// Runs `run` on a fresh fvs-vswitchd (its directory named after `tag`), then on a fresh
/// ovs-vswitchd, each stopped before the next starts (they may use the same ports and
/// names); what each run returned, ours first.
pub(crate) fn ours_then_theirs<T>(tag: &str, run: impl Fn(&dyn Switch) -> T) -> (T, T) {
    let ours = {
        let fvs = Fvs::start(tag);
        run(fvs.private())
    };
    let theirs = {
        let ovs = PrivateOvs::start();
        run(&ovs)
    };
    (ours, theirs)
}

/// The switch's connection to a controller listening on `l` (a `unix:` Controller target),
/// waited for 10 s at most; returned blocking, as a controller in a test reads it.
pub(crate) fn accept_switch(l: &UnixListener) -> UnixStream {
    l.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let s = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the switch never connected"
                );
                sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    s.set_nonblocking(false).unwrap_or_else(|e| panic!("{e}"));
    s
}

/// A Python TCP sink for `python3 -c TCP_SERVER ADDR`: accepts one connection on
/// `ADDR:5001` and prints "<bytes> <sha256>" of what it received.
pub(crate) const TCP_SERVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
"#;

/// The matching source for `python3 -c TCP_CLIENT ADDR BYTES SEED`: connects to
/// `ADDR:5001` (retrying while the server starts), sends BYTES bytes of a pseudo-random
/// stream seeded with SEED and prints "<bytes> <sha256>", to compare with the server's line.
pub(crate) const TCP_CLIENT: &str = r#"
import hashlib, random, socket, sys, time
data = random.Random(int(sys.argv[3])).randbytes(int(sys.argv[2]))
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5001), timeout=30)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("cannot connect")
c.sendall(data)
c.shutdown(socket.SHUT_WR)
c.recv(1)
print(len(data), hashlib.sha256(data).hexdigest())
"#;

/// `bytes` bytes of TCP from VM namespace `from` to `to_addr` in VM namespace `to`
/// ([`TCP_SERVER`], [`TCP_CLIENT`] with seed 11, run by `net`) arrive intact: byte count and
/// SHA-256 agree on both ends; `what` names the path in the failure.
pub(crate) fn tcp_transfer(
    net: &mut fvs_test_support::netns::Lab,
    (from, to, to_addr): (&str, &str, &str),
    bytes: usize,
    what: &str,
) {
    use fvs_test_support::netns::in_netns;
    let bytes = bytes.to_string();
    let server = net.spawn({
        let mut c = in_netns(to, "python3");
        c.args(["-c", TCP_SERVER, to_addr]);
        c
    });
    let client = net.spawn({
        let mut c = in_netns(from, "python3");
        c.args(["-c", TCP_CLIENT, to_addr, &bytes, "11"]);
        c
    });
    let (ok, sent) = net.wait(client, Duration::from_secs(90));
    assert!(ok, "the client failed: {sent}");
    let (ok, received) = net.wait(server, Duration::from_secs(30));
    assert!(ok, "the server failed: {received}");
    assert!(sent.trim().starts_with(&format!("{bytes} ")), "{sent}");
    assert_eq!(
        received.trim(),
        sent.trim(),
        "the data must arrive intact over {what} (bytes and SHA-256)"
    );
}

/// The ingress filters on `dev` in namespace `ns` (`tc filter show`), one line each.
pub(crate) fn tc_filters(ns: &str, dev: &str) -> String {
    let (ok, out) = fvs_test_support::netns::run_combined(
        std::process::Command::new("tc").args(["-n", ns, "filter", "show", "dev", dev, "ingress"]),
    );
    assert!(ok, "tc filter show dev {dev}: {out}");
    out
}

/// The learned rule for `mac` in a `dump-flows br-tun table=20` listing (the seed's learned
/// rules match `dl_dst`), and its `n_packets`.
pub(crate) fn learned_rule(dump: &str, mac: &str) -> (String, u64) {
    let line = dump
        .lines()
        .find(|l| l.contains(&format!("dl_dst={mac}")))
        .unwrap_or_else(|| panic!("no learned rule for {mac} in table 20:\n{dump}"))
        .to_owned();
    let n = line
        .split("n_packets=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no n_packets in {line}"));
    (line, n)
}

/// `ovs-ofctl OPTS monitor TARGET ARGS...` in the background, run with `OVS_RUNDIR` set to
/// `dir` (where it makes its own control socket), its standard output and error together in
/// `dir/NAME.out`; killed by its own handle on drop.
pub(crate) struct OfctlMonitor {
    child: Child,
    out: PathBuf,
}

impl OfctlMonitor {
    /// Starts the monitor; it is listening only once it has sent its settings, which the
    /// caller waits for.
    pub(crate) fn start(
        dir: &Path,
        opts: &[&str],
        target: &str,
        args: &[&str],
        name: &str,
    ) -> Self {
        let out = dir.join(format!("{name}.out"));
        let file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        // ovs-ofctl monitor prints what it receives on stderr, unbuffered.
        let child = require_tool("ovs-ofctl")
            .command()
            .env("OVS_RUNDIR", dir)
            .args(opts)
            .args(["monitor", target])
            .args(args)
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("ovs-ofctl monitor: {e}"));
        Self { child, out }
    }

    /// What it has printed so far.
    pub(crate) fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

/// What monitors in OpenFlow 1.0, 1.3 and 1.4 on `sw`'s br0 print while `ovs-ofctl ARGS`
/// runs: the flow-removed lines (durations blanked), one string per monitor.
pub(crate) fn flow_removals_during(sw: &dyn Switch, args: &[&str]) -> Vec<String> {
    let target = sw.mgmt_target("br0");
    let monitors = [
        OfctlMonitor::start(sw.dir(), &[], &target, &["65000"], "m10"),
        OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow13"], &target, &["65000"], "m13"),
        OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow14"], &target, &["65000"], "m14"),
    ];
    sleep(Duration::from_millis(700));
    sw.ofctl_ok(args);
    sleep(Duration::from_millis(700));
    let blank = |l: &str| {
        l.split(' ')
            .map(|w| {
                if w.starts_with("duration") {
                    "duration?"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    monitors
        .iter()
        .map(|m| {
            m.text()
                .lines()
                .filter(|l| l.contains("FLOW_REMOVED"))
                .map(blank)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

impl Drop for OfctlMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
