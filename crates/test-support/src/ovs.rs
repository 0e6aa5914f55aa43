//! A private Open vSwitch: `ovsdb-server` and `ovs-vswitchd` with the dummy datapath.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::{private_env, stop};
use crate::{PrivateOvsdb, Switch, TempDir, ToolError, require_tool};

/// The `Open_vSwitch` schema Debian's package installs (read at test time, never copied).
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// The programs a [`PrivateOvs`] needs; all are checked when it starts, so a missing one
/// fails the test at once with the install hint.
const TOOLS: [&str; 6] = [
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-appctl",
    "ovs-ofctl",
];

/// A running private Open vSwitch: an initialised `Open_vSwitch` database and
/// `ovs-vswitchd --enable-dummy=override --disable-system`, so every bridge uses the
/// userspace `dummy` datapath and every interface is a dummy netdev (or, from
/// [`PrivateOvs::start_in_netns`], the real devices of a network namespace). No bridges yet.
///
/// Dropping it stops `ovs-vswitchd`, then `ovsdb-server` (each by the pid in its own pid
/// file) and removes the directory. Besides [`PrivateOvsdb`]'s files, the directory holds
/// `ovs-vswitchd.pid`, `ovs-vswitchd.ctl` (the [`PrivateOvs::appctl`] target),
/// `ovs-vswitchd.log` and each bridge's OpenFlow management socket `BRIDGE.mgmt`, which
/// `ovs-ofctl` finds through `OVS_RUNDIR`.
#[derive(Debug)]
pub struct PrivateOvs {
    db: PrivateOvsdb,
}

impl PrivateOvs {
    /// Starts the database and the switch.
    ///
    /// # Panics
    ///
    /// When a tool is missing (with [`crate::INSTALL_HINT`]) or a daemon fails to start.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts the database, and the switch inside network namespace `ns` (which the caller
    /// made, and which must outlive this instance) *without* the dummy datapath: bridges with
    /// `datapath_type=netdev` then use the namespace's real devices and its IP stack, as
    /// userspace tunnels need. The database stays outside; its Unix socket is a file, which
    /// every namespace sees.
    ///
    /// # Panics
    ///
    /// As [`PrivateOvs::start`]; also when `ip` is missing.
    #[must_use]
    pub fn start_in_netns(ns: &str) -> Self {
        Self::start_with(Some(ns))
    }

    fn start_with(netns: Option<&str>) -> Self {
        for tool in TOOLS {
            let _ = require_tool(tool);
        }
        let db = PrivateOvsdb::start_in(TempDir::new("ovs"), Path::new(VSWITCH_SCHEMA));
        // From here on, Drop stops whatever got started.
        let ovs = Self { db };
        ovs.vsctl(&["--no-wait", "init"])
            .unwrap_or_else(|e| panic!("cannot initialise the private database: {e}"));
        let d = ovs.dir();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = require_tool("ip").command();
                c.args(["netns", "exec", ns])
                    .arg(require_tool("ovs-vswitchd").path());
                private_env(&mut c, d);
                c
            }
            None => {
                let mut c = ovs
                    .command("ovs-vswitchd")
                    .unwrap_or_else(|e| panic!("{e}"));
                c.args(["--enable-dummy=override", "--disable-system"]);
                c
            }
        };
        cmd.arg(ovs.db.target())
            .arg(format!(
                "--pidfile={}",
                d.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovs-vswitchd.log").display()
            ))
            .args(["--detach", "--no-chdir"]);
        crate::run(&mut cmd)
            .unwrap_or_else(|e| panic!("cannot start the private ovs-vswitchd: {e}"));
        ovs
    }

    /// The instance's private directory (a place for scratch files too, such as flow files).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.db.dir()
    }

    /// The database server.
    #[must_use]
    pub fn ovsdb(&self) -> &PrivateOvsdb {
        &self.db
    }

    /// `ovs-vswitchd`'s control socket, the target of `ovs-appctl -t`.
    #[must_use]
    pub fn vswitchd_ctl(&self) -> PathBuf {
        self.dir().join("ovs-vswitchd.ctl")
    }

    /// A [`Command`] for `tool` in this instance's environment (see [`PrivateOvsdb::command`]).
    ///
    /// # Errors
    ///
    /// [`ToolError::NotInstalled`].
    pub fn command(&self, tool: &str) -> Result<Command, ToolError> {
        self.db.command(tool)
    }

    /// Runs `tool args` in this instance's environment; its stdout.
    ///
    /// # Errors
    ///
    /// [`ToolError`] when it cannot start or fails.
    pub fn run(&self, tool: &str, args: &[&str]) -> Result<String, ToolError> {
        self.db.run(tool, args)
    }

    /// [`Switch::vsctl`]: `ovs-vsctl --db=unix:DIR/db.sock --timeout=10 ARGS`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-vsctl's complaint.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, ToolError> {
        Switch::vsctl(self, args)
    }

    /// [`Switch::ofctl`]: `ovs-ofctl ARGS`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-ofctl's complaint.
    pub fn ofctl(&self, args: &[&str]) -> Result<String, ToolError> {
        Switch::ofctl(self, args)
    }

    /// `ovs-appctl -t DIR/ovs-vswitchd.ctl ARGS`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-appctl's complaint.
    pub fn appctl(&self, args: &[&str]) -> Result<String, ToolError> {
        let target = self.vswitchd_ctl().display().to_string();
        let mut all = vec!["-t", target.as_str()];
        all.extend_from_slice(args);
        self.run("ovs-appctl", &all)
    }
}

impl Switch for PrivateOvs {
    fn dir(&self) -> &Path {
        Self::dir(self)
    }

    fn db_target(&self) -> String {
        self.db.target()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String, ToolError> {
        Self::run(self, tool, args)
    }

    fn appctl(&self, args: &[&str]) -> Result<String, ToolError> {
        Self::appctl(self, args)
    }
}

impl Drop for PrivateOvs {
    fn drop(&mut self) {
        // The switch first: it is a client of the database.
        stop(&self.dir().join("ovs-vswitchd.pid"));
        // `self.db` is dropped next: ovsdb-server, then the directory.
    }
}
