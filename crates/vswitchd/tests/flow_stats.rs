//! Real `ovs-ofctl dump-flows`, `dump-aggregate` and `dump-desc` against fvs-vswitchd's
//! br-tun print what they print against a real ovs-vswitchd (Open vSwitch 3.1,
//! `--enable-dummy=override`) holding the same flows: the seed's br-tun flows, loaded with
//! `ovs-ofctl add-flows`. Durations and ages are normalised; the description's text differs
//! by nature, its layout must not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{PrivateOvs, TempDir, require_tool};

/// The seed's br-tun flows as a real `ovs-ofctl dump-flows` printed them; `add-flows` reads
/// that format back (it ignores the statistics).
const SEED_FLOWS: &str = include_str!("../../../examples/seed/br-tun.flows");

/// An fvs-vswitchd in the foreground with `--enable-dummy`, killed by its own pid on drop.
struct Fvs {
    dir: TempDir,
    child: Child,
}

impl Fvs {
    fn start() -> Self {
        let dir = TempDir::new("fvs-stats");
        let child = Command::new(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .arg("--enable-dummy")
            .env("FVS_RUNDIR", dir.path())
            .env("FVS_DBDIR", dir.path())
            .env("FVS_LOGDIR", dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fvs-vswitchd: {e}"));
        let fvs = Self { dir, child };
        wait_for(&fvs.dir.path().join("db.sock"));
        wait_for(&fvs.dir.path().join("fvs-vswitchd.ctl"));
        fvs
    }

    fn vsctl(&self, args: &[&str]) {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        let out = require_tool("ovs-vsctl")
            .command()
            .arg(db)
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn mgmt(&self, bridge: &str) -> PathBuf {
        self.dir.path().join(format!("{bridge}.mgmt"))
    }
}

impl Drop for Fvs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(path: &Path) {
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

/// `ovs-ofctl OPTS CMD TARGET ARGS`: success, stdout and stderr.
fn ofctl(opts: &[&str], cmd: &str, target: &str, args: &[&str]) -> (bool, String, String) {
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

/// Times vary between the two daemons: `duration`, `idle_age` and `hard_age` become
/// placeholders, as does the xid (ovs-ofctl's own counter, the same for both but not worth
/// depending on).
fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(", ")
                .map(|part| {
                    let lead = part.len() - part.trim_start().len();
                    let (indent, p) = part.split_at(lead);
                    for key in ["duration=", "idle_age=", "hard_age="] {
                        if p.starts_with(key) {
                            return format!("{indent}{key}N");
                        }
                    }
                    part.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The description's values differ by nature (manufacturer, software, datapath); the lines
/// and their order must not.
fn desc_layout(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_once(": ") {
            Some((k, _)) if !l.starts_with("OFPST_DESC") => format!("{k}: VALUE"),
            _ => l.to_string(),
        })
        .collect()
}

const BR_TUN: &[&[&str]] = &[
    &[
        "add-br",
        "br-tun",
        "--",
        "set",
        "bridge",
        "br-tun",
        "fail_mode=secure",
    ],
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
        "options:in_key=flow",
        "options:local_ip=10.0.1.31",
        "options:out_key=flow",
        "options:remote_ip=10.0.1.21",
    ],
];

#[test]
fn dump_flows_aggregate_and_desc_read_as_on_ovs_vswitchd() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start();
    for cmd in BR_TUN {
        ovs.vsctl(cmd).unwrap_or_else(|e| panic!("{e}"));
        fvs.vsctl(cmd);
    }
    let flows = fvs.dir.path().join("br-tun.flows");
    std::fs::write(&flows, SEED_FLOWS).unwrap_or_else(|e| panic!("{e}"));
    let flows = flows.display().to_string();
    let theirs = format!("unix:{}", ovs.dir().join("br-tun.mgmt").display());
    let ours = format!("unix:{}", fvs.mgmt("br-tun").display());
    for target in [&theirs, &ours] {
        let (ok, _, err) = ofctl(&[], "add-flows", target, &[&flows]);
        assert!(ok, "add-flows to {target}: {err}");
    }
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&[], "dump-flows", &[]),
        (&["-O", "OpenFlow13"], "dump-flows", &[]),
        (&["-O", "OpenFlow10"], "dump-flows", &[]),
        (&["-O", "OpenFlow14"], "dump-flows", &[]),
        (&[], "dump-flows", &["table=2"]),
        (&[], "dump-flows", &["dl_vlan=1"]),
        (&["-O", "OpenFlow13"], "dump-flows", &["table=22"]),
        (&[], "dump-flows", &["out_port=2"]),
        (&["--no-stats"], "dump-flows", &[]),
        (&[], "dump-aggregate", &[]),
        (&["-O", "OpenFlow13"], "dump-aggregate", &["table=0"]),
    ];
    for (opts, cmd, args) in cases {
        let t = ofctl(opts, cmd, &theirs, args);
        let u = ofctl(opts, cmd, &ours, args);
        assert!(
            t.0,
            "ovs-ofctl {opts:?} {cmd} {args:?} against ovs-vswitchd: {}",
            t.2
        );
        let t_out = normalise(&t.1);
        let u_out = normalise(&u.1);
        // Every case selects something: a header alone would compare equal too easily.
        let selected = if *cmd == "dump-flows" {
            t_out.lines().count() > 1
        } else {
            !t_out.contains("flow_count=0")
        };
        assert!(selected, "{t_out}");
        assert_eq!(
            (u.0, u_out, u.2.replace(&ours, "TARGET")),
            (t.0, t_out, t.2.replace(&theirs, "TARGET")),
            "ovs-ofctl {opts:?} {cmd} {args:?}"
        );
    }
    for opts in [&[][..], &["-O", "OpenFlow13"][..]] {
        let t = ofctl(opts, "dump-desc", &theirs, &[]);
        let u = ofctl(opts, "dump-desc", &ours, &[]);
        assert!(t.0 && u.0, "dump-desc {opts:?}: {} / {}", t.2, u.2);
        assert_eq!(desc_layout(&u.1), desc_layout(&t.1), "dump-desc {opts:?}");
    }
}
