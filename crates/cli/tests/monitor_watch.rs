//! `fvs-ofctl monitor BRIDGE watch:[SPEC]` against ovs-vswitchd (and against fvs-vswitchd)
//! prints what `ovs-ofctl monitor` prints there: the initial listing on standard output, the
//! updates for the same flow changes on standard error, in OpenFlow 1.0 and 1.1 (Nicira's
//! form), 1.3 (ONF's) and 1.4/1.5, with options (`!initial`, `table=`, a match, a port by
//! name, `out_port=`, `!actions`) and port names (`--names`). Bad specs fail with ovs-ofctl's
//! words.
//!
//! Transaction ids differ (ovs-ofctl counts the connections it opened to learn names) and are
//! masked; so are log timestamps.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use fvs_test_support::cargo::package_bins;
use fvs_test_support::{PrivateFvs, PrivateOvs, Switch, require_tool};

/// Both programs, each as a `Command` with `OVS_RUNDIR` set to the switch's directory.
fn program(name: &str, dir: &Path) -> Command {
    let mut c = if name == "ovs" {
        require_tool("ovs-ofctl").command()
    } else {
        Command::new(env!("CARGO_BIN_EXE_fvs-ofctl"))
    };
    c.env("OVS_RUNDIR", dir);
    c
}

/// A running monitor whose standard output and error go to files; killed on drop.
struct Monitor {
    child: Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Monitor {
    fn start(prog: &str, ovs: &dyn Switch, args: &[&str], name: &str) -> Self {
        let out = ovs.dir().join(format!("{prog}-{name}.out"));
        let err = ovs.dir().join(format!("{prog}-{name}.err"));
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("{e}"));
        let target = ovs.mgmt_target("br0");
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "br0" { target.as_str() } else { a })
            .collect();
        let child = program(prog, ovs.dir())
            .args(&args)
            .stdout(file(&out))
            .stderr(file(&err))
            .spawn()
            .unwrap_or_else(|e| panic!("{prog} monitor: {e}"));
        Self { child, out, err }
    }

    fn texts(&self) -> (String, String) {
        let read = |p: &Path| normalised(&std::fs::read_to_string(p).unwrap_or_default());
        (read(&self.out), read(&self.err))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Masks xids and log timestamps; drops the line a killed ovs-ofctl logs.
fn normalised(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("terminating with signal"))
        .map(|l| match l.find("(xid=0x") {
            Some(at) => {
                let end = l[at..].find(')').map_or(l.len(), |e| at + e + 1);
                format!("{}(xid=?){}", &l[..at], &l[end..])
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const CASES: [(&[&str], &str); 10] = [
    (&["monitor", "br0", "watch:in_port=p2"], "inport"),
    (&["-O", "OpenFlow11", "monitor", "br0", "watch:"], "of11"),
    (&["monitor", "br0", "watch:"], "of10"),
    (&["-O", "OpenFlow13", "monitor", "br0", "watch:"], "of13"),
    (&["-O", "OpenFlow14", "monitor", "br0", "watch:"], "of14"),
    (
        &["-O", "OpenFlow15", "monitor", "br0", "watch:!initial"],
        "of15",
    ),
    (&["monitor", "br0", "watch:table=1"], "table"),
    (&["monitor", "br0", "watch:tcp,!actions"], "tcp"),
    (&["--names", "monitor", "br0", "watch:out_port=2"], "names"),
    (
        &["--no-names", "monitor", "br0", "65000", "watch:ip"],
        "misslen",
    ),
];

fn ofctl(ovs: &dyn Switch, args: &[&str]) {
    let target = ovs.mgmt_target("br0");
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "br0" { target.as_str() } else { a })
        .collect();
    let out = program("ovs", ovs.dir())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "ovs-ofctl {args:?}: {out:?}");
}

/// The scenario on `ovs` (either switch): every case run by both programs side by side.
fn compare_on(ovs: &dyn Switch) {
    let mut vsctl = vec![
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "fail_mode=secure",
    ];
    for (p, no) in [("p1", "1"), ("p2", "2")] {
        vsctl.extend([
            "--",
            "add-port",
            "br0",
            p,
            "--",
            "set",
            "interface",
            p,
            "type=dummy",
        ]);
        vsctl.push(if no == "1" {
            "ofport_request=1"
        } else {
            "ofport_request=2"
        });
    }
    ovs.vsctl_ok(&vsctl);
    ofctl(ovs, &["add-flow", "br0", "priority=5,ip,actions=output:1"]);
    ofctl(
        ovs,
        &["add-flow", "br0", "table=1,priority=3,arp,actions=output:2"],
    );
    let monitors: Vec<(Monitor, Monitor)> = CASES
        .iter()
        .map(|(args, name)| {
            (
                Monitor::start("ovs", ovs, args, name),
                Monitor::start("fvs", ovs, args, name),
            )
        })
        .collect();
    sleep(Duration::from_millis(1500));
    ofctl(
        ovs,
        &[
            "add-flow",
            "br0",
            "priority=7,tcp,idle_timeout=30,actions=output:2",
        ],
    );
    ofctl(ovs, &["mod-flows", "br0", "ip,actions=output:2"]);
    ofctl(
        ovs,
        &[
            "add-flow",
            "br0",
            "table=1,priority=4,cookie=0x9,tcp,actions=output:1",
        ],
    );
    ofctl(ovs, &["--strict", "del-flows", "br0", "priority=5,ip"]);
    ofctl(ovs, &["del-flows", "br0", "table=1"]);
    sleep(Duration::from_millis(800));
    for ((theirs, ours), (_, name)) in monitors.iter().zip(CASES) {
        let (t_out, t_err) = theirs.texts();
        let (o_out, o_err) = ours.texts();
        assert!(t_out.contains("FLOW_MONITOR reply"), "{name}: {t_out}");
        assert_eq!(
            o_out, t_out,
            "{name}: standard output, fvs-ofctl (left), ovs-ofctl (right)"
        );
        assert_eq!(
            o_err, t_err,
            "{name}: standard error, fvs-ofctl (left), ovs-ofctl (right)"
        );
    }
}

#[test]
fn fvs_ofctl_monitor_watch_prints_what_ovs_ofctl_prints() {
    let ovs = PrivateOvs::start();
    compare_on(&ovs);
}

#[test]
fn against_fvs_vswitchd_too() {
    let bins = package_bins("fvs-vswitchd");
    let fvs = PrivateFvs::builder(bins.join("fvs-vswitchd"))
        .appctl(bins.join("fvs-appctl"))
        .tag("fvs-watch")
        .start();
    compare_on(&fvs);
}

#[test]
fn bad_watch_specs_fail_as_with_ovs_ofctl() {
    let ovs = PrivateOvs::start();
    ovs.vsctl_ok(&["add-br", "br0"]);
    for spec in [
        "watch:foo=1",
        "watch:tcp,foo=1",
        "watch:!bogus",
        "watch:tcp,tp_dst=x",
        "watch:table=x",
        "bogus",
    ] {
        let run = |prog: &str| {
            let out = program(prog, ovs.dir())
                .args(["monitor", &ovs.mgmt_target("br0"), spec])
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            let err = String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| !l.contains("|WARN|"))
                .map(|l| l.replacen("fvs-ofctl:", "ovs-ofctl:", 1))
                .collect::<Vec<_>>()
                .join("\n");
            (out.status.code(), err)
        };
        assert_eq!(run("fvs"), run("ovs"), "{spec}");
    }
}
