//! Network namespaces and veth pairs for root tests, removed even when a test fails.
//!
//! A network test plays its hosts and VMs as namespaces joined by veth pairs, with addresses
//! only inside those namespaces and no route out, so it never touches the host's network.
//! [`Netns`] is one namespace, deleted on drop (which takes the veth ends in it along);
//! [`Lab`] owns several plus the processes started in them, killed by their own pids on drop
//! before the namespaces go; [`Capture`] is tcpdump on one of their devices. Names must be
//! unique on the machine: callers build them from a short tag of their own and the test's pid
//! ([`unique_name`]).
//!
//! Everything here needs root. [`require_root`] fails the test with a message saying so: CI
//! runs as root, and a skipped network test proves nothing.

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::require_tool;

/// Fails the test unless it runs as root.
///
/// # Panics
///
/// When the effective user is not root.
pub fn require_root() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        uid == "0",
        "this test needs root (CI runs as root): it makes network namespaces and veth pairs"
    );
}

/// `TAG ROLE PID`: a namespace name unique to this test process.
#[must_use]
pub fn unique_name(tag: &str, role: &str) -> String {
    format!("{tag}{role}{}", std::process::id())
}

/// Runs `cmd`; whether it succeeded and its stdout followed by its stderr (a failure to start
/// is a failure, its reason the output).
pub fn run_combined(cmd: &mut Command) -> (bool, String) {
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

/// `ip ARGS`, which must succeed; its output.
///
/// # Panics
///
/// When `ip` fails, with its complaint.
pub fn ip(args: &[&str]) -> String {
    let (ok, out) = run_combined(require_tool("ip").command().args(args));
    assert!(ok, "ip {args:?}: {out}");
    out
}

/// A network namespace with its loopback up; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` (replacing a stale one of a crashed earlier run of the same
    /// pid, which cannot be anyone else's) and brings `lo` up.
    ///
    /// # Panics
    ///
    /// When `ip netns add` fails (not root, or the name is taken).
    #[must_use]
    pub fn new(name: &str) -> Self {
        let _ = run_combined(require_tool("ip").command().args(["netns", "del", name]));
        ip(&["netns", "add", name]);
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`, which must succeed; its output.
    ///
    /// # Panics
    ///
    /// When `ip` fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A [`Command`] running `program` inside the namespace.
    #[must_use]
    pub fn command(&self, program: &str) -> Command {
        in_netns(&self.name, program)
    }

    /// `ARGS` run inside the namespace, which must succeed; its combined output.
    ///
    /// # Panics
    ///
    /// When the command fails.
    pub fn exec(&self, args: &[&str]) -> String {
        exec(&self.name, args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_combined(
            require_tool("ip")
                .command()
                .args(["netns", "del", &self.name]),
        );
    }
}

/// A [`Command`] running `program` inside namespace `ns` (by name, for namespaces a [`Lab`]
/// owns).
#[must_use]
pub fn in_netns(ns: &str, program: &str) -> Command {
    let mut c = require_tool("ip").command();
    c.args(["netns", "exec", ns, program]);
    c
}

/// `ARGS` run inside namespace `ns`, which must succeed; its combined output.
///
/// # Panics
///
/// When the command fails, with its output.
pub fn exec(ns: &str, args: &[&str]) -> String {
    let (ok, out) = run_combined(
        require_tool("ip")
            .command()
            .args(["netns", "exec", ns])
            .args(args),
    );
    assert!(ok, "in {ns}: {args:?}: {out}");
    out
}

/// A veth pair: `dev_a` in namespace `ns_a`, `dev_b` in `ns_b`, both up, no addresses.
///
/// # Panics
///
/// When `ip` fails (a name taken, or too long: 15 bytes at most).
pub fn veth(ns_a: &str, dev_a: &str, ns_b: &str, dev_b: &str) {
    ip(&[
        "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b,
    ]);
    ip(&["-n", ns_a, "link", "set", dev_a, "up"]);
    ip(&["-n", ns_b, "link", "set", dev_b, "up"]);
}

/// `count` pings from namespace `ns` to `to`, 0.2 s apart, two seconds' patience each:
/// whether all were answered, and ping's output.
pub fn ping(ns: &str, to: &str, count: u32) -> (bool, String) {
    run_combined(in_netns(ns, "ping").args(["-c", &count.to_string(), "-i", "0.2", "-W", "2", to]))
}

/// `tcpdump -l -nn -v -x` on device `dev` of namespace `ns`, listening (its filter in place)
/// by the time [`Capture::start`] returns, so nothing sent afterwards is missed. It stops after
/// `count` packets or `within`, whichever comes first (`timeout`, so a test whose packets
/// never come still ends); killed by its pid on drop if not finished.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
}

impl Capture {
    /// Starts the capture and waits for tcpdump's "listening on".
    ///
    /// # Panics
    ///
    /// When tcpdump is missing or exits before listening, with what it said.
    #[must_use]
    pub fn start(ns: &str, dev: &str, count: usize, filter: &str, within: Duration) -> Self {
        use std::io::{BufRead, BufReader};
        let _ = require_tool("tcpdump");
        let mut child = in_netns(ns, "timeout")
            .arg(within.as_secs().max(1).to_string())
            .args(["tcpdump", "-l", "-nn", "-v", "-x", "-i", dev])
            .args(["-c", &count.to_string(), filter])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tcpdump: {e}"));
        let mut line = String::new();
        if let Some(stderr) = child.stderr.take() {
            let mut reader = BufReader::new(stderr);
            while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("listening on") {
                line.clear();
            }
        }
        let capture = Self { child: Some(child) };
        assert!(
            line.contains("listening on"),
            "tcpdump did not start: {line}"
        );
        capture
    }

    /// Waits for tcpdump to end; what it printed on stdout.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.child
            .take()
            .and_then(|c| c.wait_with_output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Namespaces and the processes started in them; on drop the processes are killed (by their
/// own pids, the earliest first) and then the namespaces deleted.
#[derive(Debug, Default)]
pub struct Lab {
    /// `None` once waited for.
    children: Vec<Option<Child>>,
    namespaces: Vec<Netns>,
}

impl Lab {
    /// An empty lab; fails the test unless it runs as root.
    ///
    /// # Panics
    ///
    /// When not root.
    #[must_use]
    pub fn new() -> Self {
        require_root();
        Self::default()
    }

    /// Creates namespace `name` (see [`Netns::new`]), owned by the lab; returns its name.
    pub fn add_netns(&mut self, name: &str) -> String {
        self.namespaces.push(Netns::new(name));
        name.to_owned()
    }

    /// Starts `cmd` with piped output; the lab kills it on drop. Its index for [`Lab::wait`].
    ///
    /// # Panics
    ///
    /// When it cannot start.
    pub fn spawn(&mut self, mut cmd: Command) -> usize {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.children.push(Some(child));
        self.children.len() - 1
    }

    /// Adopts a process the caller started; the lab kills it on drop.
    pub fn adopt(&mut self, child: Child) -> usize {
        self.children.push(Some(child));
        self.children.len() - 1
    }

    /// Whether process `i` is still running.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.children
            .get_mut(i)
            .and_then(Option::as_mut)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits up to `limit` for process `i` (killing it then); whether it succeeded and its
    /// stdout followed by its stderr.
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

impl Drop for Lab {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // `self.namespaces` is dropped next: each namespace is deleted.
    }
}
