//! A namespace lab for root tests: fvs-vswitchd in a network namespace of its own with one
//! bridge whose rule is NORMAL and two `system` ports, veth ends whose peers (`eth0`) sit in
//! two "host" namespaces, A (10.77.0.1) and B (10.77.0.2). Offloads are left as the kernel
//! sets them on veth (checksum and segmentation offload on), as on a real host.
//!
//! Built from fvs-test-support's [`netns::Lab`] and [`PrivateFvs`]. Needs root (CI runs as
//! root); [`Lab::start`] fails with a message saying so otherwise. Every process the lab
//! started is killed by its pid and every namespace deleted (taking its veth ends with it),
//! by `Drop`, even when an assertion fails.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fvs_test_support::PrivateFvs;
pub use fvs_test_support::netns::ip;
use fvs_test_support::netns::{self, veth};

/// Host A's address.
pub const A_IP: &str = "10.77.0.1";
/// Host B's address.
pub const B_IP: &str = "10.77.0.2";

/// Runs a command; returns success and the combined output.
pub fn run(cmd: &mut Command) -> (bool, String) {
    netns::run_combined(cmd)
}

/// Python's path, for scripts run inside a namespace (`ip netns exec` wants a program it can
/// find; the tests' raw-socket senders are Python).
pub fn python3() -> String {
    fvs_test_support::require_tool("python3")
        .path()
        .display()
        .to_string()
}

/// The namespaces, the daemon and helper processes; cleaned up on drop.
pub struct Lab {
    /// The switch's namespace.
    pub sw: String,
    /// Host A's namespace.
    pub a: String,
    /// Host B's namespace.
    pub b: String,
    tag: String,
    // Fields drop in order: the daemon first, then the helpers and the namespaces.
    fvs: PrivateFvs,
    net: netns::Lab,
}

impl Lab {
    /// Builds the namespaces (named `<tag><n><pid>`), starts the daemon and makes bridge
    /// `br0` with ports `p-a` and `p-b`.
    pub fn start(tag: &str) -> Self {
        let mut net = netns::Lab::new();
        let sw = net.add_netns(&netns::unique_name(tag, "s"));
        let a = net.add_netns(&netns::unique_name(tag, "a"));
        let b = net.add_netns(&netns::unique_name(tag, "b"));
        for (host, port, addr) in [(&a, "p-a", A_IP), (&b, "p-b", B_IP)] {
            veth(&sw, port, host, "eth0");
            let cidr = format!("{addr}/24");
            ip(&["-n", host, "addr", "add", &cidr, "dev", "eth0"]);
        }
        let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
            .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
            .tag(tag)
            .dummy(false)
            .netns(&sw)
            .arg("--log-file")
            .start();
        let lab = Self {
            sw,
            a,
            b,
            tag: tag.to_owned(),
            fvs,
            net,
        };
        lab.vsctl(&[
            "add-br", "br0", "--", "add-port", "br0", "p-a", "--", "add-port", "br0", "p-b",
        ]);
        lab
    }

    /// Another namespace, `<tag><role><pid>`, deleted with the lab; its name.
    pub fn add_netns(&mut self, role: &str) -> String {
        self.net.add_netns(&netns::unique_name(&self.tag, role))
    }

    /// The lab's private directory.
    pub fn dir(&self) -> PathBuf {
        self.fvs.dir().to_path_buf()
    }

    /// The daemon's log file so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.fvs.dir().join("fvs-vswitchd.log")).unwrap_or_default()
    }

    /// True while the daemon runs.
    pub fn daemon_alive(&mut self) -> bool {
        self.fvs.is_alive()
    }

    /// Runs `ovs-vsctl` against the daemon's database; must succeed.
    pub fn vsctl(&self, args: &[&str]) -> String {
        self.fvs
            .vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"))
    }

    /// Runs `fvs-appctl`; must succeed.
    pub fn appctl(&self, args: &[&str]) -> String {
        self.fvs
            .appctl(args)
            .unwrap_or_else(|e| panic!("fvs-appctl {args:?}: {e}"))
    }

    /// `count` pings from `ns` to `to`, 0.2 s apart.
    pub fn ping(&self, ns: &str, to: &str, count: u32) -> (bool, String) {
        netns::ping(ns, to, count)
    }

    /// A command run inside namespace `ns`.
    pub fn in_ns(&self, ns: &str, program: &str) -> Command {
        netns::in_netns(ns, program)
    }

    /// Starts a process that the lab kills on drop.
    pub fn spawn(&mut self, cmd: Command) -> usize {
        self.net.spawn(cmd)
    }

    /// Waits for a process started by [`Lab::spawn`] and returns success and its output.
    pub fn wait(&mut self, i: usize, limit: Duration) -> (bool, String) {
        self.net.wait(i, limit)
    }
}
