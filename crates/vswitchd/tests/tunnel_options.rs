//! Oracle test of `fvs_vswitchd::tunnel_config` (root): the same tunnel interfaces, with good,
//! odd and bad options, are added to Open vSwitch 3.1 (userspace datapath, inside a network
//! namespace of its own so its devices touch nothing else), and for each one ferrovs's reading
//! must agree with Open vSwitch's: the `error` column's text when the port is refused, and
//! otherwise the options `ovs-appctl dpif/show` prints (which shows how every value was read:
//! `key=010` as 8, `ttl=300` as 44, defaults left out).
//!
//! CI runs as root; without root this test fails saying so. The namespace is deleted and the
//! daemons are stopped by their own pid files, by a guard, even when an assertion fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use fvs_test_support::{TempDir, VSWITCH_SCHEMA, require_tool};
use fvs_vswitchd::tunnel_config;

/// Interfaces to add: type and options. Each has its own `remote_ip` where it has one, so
/// no two of them claim the same traffic.
const CASES: &[(&str, &[(&str, &str)])] = &[
    (
        "gre",
        &[
            ("df_default", "true"),
            ("in_key", "flow"),
            ("local_ip", "10.0.1.31"),
            ("out_key", "flow"),
            ("remote_ip", "10.0.2.1"),
        ],
    ),
    (
        "vxlan",
        &[
            ("remote_ip", "10.0.2.2"),
            ("dst_port", "8472"),
            ("key", "5"),
        ],
    ),
    ("vxlan", &[("remote_ip", "10.0.2.3"), ("dst_port", "4789")]),
    (
        "geneve",
        &[
            ("remote_ip", "10.0.2.4"),
            ("in_key", "flow"),
            ("out_key", "7"),
        ],
    ),
    ("gre", &[("remote_ip", "10.0.2.5"), ("in_key", "flow")]),
    ("gre", &[("remote_ip", "10.0.2.6"), ("key", "010")]),
    ("gre", &[("remote_ip", "10.0.2.7"), ("key", "0x1f")]),
    ("gre", &[("remote_ip", "10.0.2.8"), ("key", "abc")]),
    ("gre", &[("remote_ip", "10.0.2.9"), ("ttl", "300")]),
    ("gre", &[("remote_ip", "10.0.2.10"), ("ttl", "7")]),
    ("gre", &[("remote_ip", "10.0.2.11"), ("ttl", "inherit")]),
    ("gre", &[("remote_ip", "10.0.2.12"), ("tos", "0x10")]),
    ("gre", &[("remote_ip", "10.0.2.13"), ("tos", "inherit")]),
    ("gre", &[("remote_ip", "10.0.2.14"), ("tos", "300")]),
    (
        "gre",
        &[("remote_ip", "10.0.2.15"), ("df_default", "false")],
    ),
    (
        "gre",
        &[("remote_ip", "10.0.2.16"), ("df_default", "maybe")],
    ),
    ("gre", &[("remote_ip", "10.0.2.17"), ("csum", "true")]),
    ("gre", &[("remote_ip", "10.0.2.18"), ("csum", "yes")]),
    (
        "gre",
        &[("remote_ip", "10.0.2.19"), ("egress_pkt_mark", "5")],
    ),
    ("gre", &[("remote_ip", "10.0.2.20"), ("seq", "true")]),
    ("gre", &[("remote_ip", "10.0.2.21"), ("local_ip", "bogus")]),
    ("gre", &[("remote_ip", "10.0.2.22"), ("foo", "bar")]),
    ("gre", &[("remote_ip", "10.0.2.23"), ("dst_port", "4789")]),
    (
        "vxlan",
        &[("remote_ip", "10.0.2.24"), ("key", "99999999999")],
    ),
    (
        "geneve",
        &[
            ("remote_ip", "10.0.2.25"),
            ("dst_port", "7000"),
            ("key", "flow"),
        ],
    ),
    ("gre", &[]),
    ("vxlan", &[("remote_ip", "bogus")]),
    ("geneve", &[("local_ip", "10.0.1.31")]),
    ("gre", &[("remote_ip", "10.0.2.26"), ("local_ip", "flow")]),
];

/// Open vSwitch in a namespace and a private directory; stopped and deleted on drop.
struct Ovs {
    ns: String,
    dir: TempDir,
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for pidfile in ["ovs-vswitchd.pid", "ovsdb-server.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pidfile)) {
                let pid = pid.trim();
                if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                    let _ = Command::new("kill").arg(pid).status();
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Ovs {
    fn start() -> Self {
        let uid = run(Command::new("id").arg("-u"));
        assert_eq!(uid.trim(), "0", "this test needs root (CI runs as root)");
        let ns = format!("h4opt{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        run(Command::new("ip").args(["netns", "add", &ns]));
        let ovs = Self {
            ns,
            dir: TempDir::new("h4opt"),
        };
        let d = ovs.dir.path();
        run(require_tool("ovsdb-tool")
            .command()
            .arg("create")
            .arg(d.join("conf.db"))
            .arg(VSWITCH_SCHEMA));
        run(ovs
            .env(require_tool("ovsdb-server").command())
            .arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .args(["--detach", "--no-chdir"]));
        ovs.vsctl(&["--no-wait", "init"]);
        run(ovs
            .env(require_tool("ip").command())
            .args(["netns", "exec", &ovs.ns])
            .arg(require_tool("ovs-vswitchd").path())
            .arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovs-vswitchd.log").display()
            ))
            .arg(format!("--unixctl={}", ovs.ctl().display()))
            .args(["--detach", "--no-chdir"]));
        ovs
    }

    /// `cmd` pointed at this instance's directory for everything Open vSwitch looks up.
    fn env(&self, mut cmd: Command) -> Command {
        let d = self.dir.path();
        cmd.env("OVS_RUNDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_SYSCONFDIR", d);
        cmd
    }

    fn ctl(&self) -> PathBuf {
        self.dir.path().join("ovs-vswitchd.ctl")
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        run(self
            .env(require_tool("ovs-vsctl").command())
            .arg(db)
            .arg("--timeout=10")
            .args(args))
    }

    /// `ovs-vsctl add-port` without requiring success: a refused port still gets its row.
    fn add_port(&self, name: &str, kind: &str, options: &[(&str, &str)]) {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        let mut cmd = self.env(require_tool("ovs-vsctl").command());
        cmd.arg(db).arg("--timeout=10").args([
            "add-port",
            "br0",
            name,
            "--",
            "set",
            "interface",
            name,
            &format!("type={kind}"),
        ]);
        for (k, v) in options {
            cmd.arg(format!("options:{k}={v}"));
        }
        let _ = cmd.output();
    }
}

/// An OVSDB string as `ovs-vsctl get` prints it (`"..."` with C escapes, or `[]`), read back.
fn ovsdb_string(text: &str) -> Option<String> {
    let t = text.trim();
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    Some(
        inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\"),
    )
}

/// The `(...)` part of each port's line in `dpif/show`, by port name.
fn dpif_options(show: &str) -> BTreeMap<String, String> {
    show.lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?;
            let open = l.find('(')?;
            let close = l.rfind(')')?;
            Some((name.to_owned(), l[open + 1..close].to_owned()))
        })
        .collect()
}

#[test]
fn tunnel_options_are_read_as_open_vswitch_reads_them() {
    let ovs = Ovs::start();
    ovs.vsctl(&[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "datapath_type=netdev",
    ]);
    for (i, (kind, options)) in CASES.iter().enumerate() {
        ovs.add_port(&format!("t{i}"), kind, options);
    }
    // Each `ovs-vsctl add-port` returned once the daemon had applied it (cur_cfg).
    let ctl = ovs.ctl();
    let show = run(ovs
        .env(require_tool("ovs-appctl").command())
        .arg("-t")
        .arg(&ctl)
        .arg("dpif/show"));
    let shown = dpif_options(&show);
    let mut compared = 0;
    for (i, (kind, options)) in CASES.iter().enumerate() {
        let name = format!("t{i}");
        let map: BTreeMap<String, String> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let ours = tunnel_config::parse(&name, kind, &map);
        let error = ovsdb_string(&ovs.vsctl(&["get", "interface", &name, "error"]));
        match (&ours, error) {
            (Err(mine), Some(theirs)) => assert_eq!(mine, &theirs, "{name} {kind} {options:?}"),
            (Ok((t, _)), None) => assert_eq!(
                Some(&t.dpif_options()),
                shown.get(&name),
                "{name} {kind} {options:?}:\n{show}"
            ),
            (ours, theirs) => panic!(
                "{name} {kind} {options:?}: ferrovs reads {ours:?}, Open vSwitch's error is {theirs:?}"
            ),
        }
        compared += 1;
    }
    assert_eq!(compared, CASES.len());
}
