//! A namespace lab for root tests: fvs-vswitchd in a network namespace of its own with one
//! bridge whose rule is NORMAL and two `system` ports, veth ends whose peers (`eth0`) sit in
//! two "host" namespaces, A (10.77.0.1) and B (10.77.0.2). Offloads are left as the kernel
//! sets them on veth (checksum and segmentation offload on), as on a real host.
//!
//! Needs root (CI runs as root); [`Lab::start`] fails with a message saying so otherwise.
//! Every namespace is deleted (taking its veth ends with it) and every process the lab
//! started is killed by its pid, by `Drop`, even when an assertion fails.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{TempDir, require_tool};

/// Host A's address.
pub const A_IP: &str = "10.77.0.1";
/// Host B's address.
pub const B_IP: &str = "10.77.0.2";

/// Runs a command; returns success and the combined output.
pub fn run(cmd: &mut Command) -> (bool, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Runs `ip` with `args`, which must succeed.
pub fn ip(args: &[&str]) {
    let (ok, out) = run(require_tool("ip").command().args(args));
    assert!(ok, "ip {args:?}: {out}");
}

/// The namespaces, the daemon and helper processes; cleaned up on drop.
pub struct Lab {
    /// The switch's namespace.
    pub sw: String,
    /// Host A's namespace.
    pub a: String,
    /// Host B's namespace.
    pub b: String,
    namespaces: Vec<String>,
    /// The daemon first; `None` once waited for.
    children: Vec<Option<Child>>,
    dir: TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            let _ = require_tool("ip")
                .command()
                .args(["netns", "del", ns])
                .output();
        }
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

impl Lab {
    /// Builds the namespaces (named `<tag><n><pid>`), starts the daemon and makes bridge
    /// `br0` with ports `p-a` and `p-b`.
    pub fn start(tag: &str) -> Self {
        let (_, uid) = run(Command::new("id").arg("-u"));
        assert!(
            uid.trim() == "0",
            "this test needs root (CI runs as root): it makes network namespaces and veth pairs"
        );
        let pid = std::process::id();
        let mut lab = Self {
            sw: format!("{tag}s{pid}"),
            a: format!("{tag}a{pid}"),
            b: format!("{tag}b{pid}"),
            namespaces: Vec::new(),
            children: Vec::new(),
            dir: TempDir::new(tag),
        };
        for ns in [lab.sw.clone(), lab.a.clone(), lab.b.clone()] {
            ip(&["netns", "add", &ns]);
            lab.namespaces.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        for (host, port, addr) in [
            (lab.a.clone(), "p-a", format!("{A_IP}/24")),
            (lab.b.clone(), "p-b", format!("{B_IP}/24")),
        ] {
            ip(&[
                "-n", &lab.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", &host,
            ]);
            ip(&["-n", &lab.sw, "link", "set", port, "up"]);
            ip(&["-n", &host, "addr", "add", &addr, "dev", "eth0"]);
            ip(&["-n", &host, "link", "set", "eth0", "up"]);
        }
        let child = require_tool("ip")
            .command()
            .args(["netns", "exec", &lab.sw, env!("CARGO_BIN_EXE_fvs-vswitchd")])
            .env("FVS_RUNDIR", lab.dir.path())
            .env("FVS_DBDIR", lab.dir.path())
            .env("FVS_LOGDIR", lab.dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fvs-vswitchd: {e}"));
        lab.children.push(Some(child));
        wait_for(&lab.dir.path().join("db.sock"));
        wait_for(&lab.dir.path().join("fvs-vswitchd.ctl"));
        lab.vsctl(&[
            "add-br", "br0", "--", "add-port", "br0", "p-a", "--", "add-port", "br0", "p-b",
        ]);
        lab
    }

    /// The lab's private directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// True while the daemon runs.
    pub fn daemon_alive(&mut self) -> bool {
        self.children
            .first_mut()
            .and_then(Option::as_mut)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Runs `ovs-vsctl` against the daemon's database; must succeed.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.dir.path().join("db.sock").display());
        let (ok, out) = run(require_tool("ovs-vsctl")
            .command()
            .arg(db)
            .arg("--timeout=10")
            .args(args));
        assert!(ok, "ovs-vsctl {args:?}: {out}");
        out
    }

    /// Runs `fvs-appctl`; must succeed.
    pub fn appctl(&self, args: &[&str]) -> String {
        let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_fvs-appctl"))
            .env("FVS_RUNDIR", self.dir.path())
            .args(args));
        assert!(ok, "fvs-appctl {args:?}: {out}");
        out
    }

    /// `count` pings from `ns` to `to`, 0.2 s apart.
    pub fn ping(&self, ns: &str, to: &str, count: u32) -> (bool, String) {
        run(require_tool("ip").command().args([
            "netns",
            "exec",
            ns,
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            to,
        ]))
    }

    /// A command run inside namespace `ns`.
    pub fn in_ns(&self, ns: &str, program: &str) -> Command {
        let mut c = require_tool("ip").command();
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Starts a process that the lab kills on drop.
    pub fn spawn(&mut self, mut cmd: Command) -> usize {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.children.push(Some(child));
        self.children.len() - 1
    }

    /// Waits for a process started by [`Lab::spawn`] and returns success and its output.
    pub fn wait(&mut self, i: usize, limit: Duration) -> (bool, String) {
        let deadline = Instant::now() + limit;
        let Some(mut c) = self.children.get_mut(i).and_then(Option::take) else {
            return (false, format!("no process {i}"));
        };
        loop {
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(50)),
                _ => {
                    let _ = c.kill();
                    break;
                }
            }
        }
        let Ok(o) = c.wait_with_output() else {
            return (false, String::from("no output"));
        };
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
}
