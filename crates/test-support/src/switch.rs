//! [`Switch`]: the steps a comparison test runs on ferrovs's switch and on Open vSwitch's
//! alike, so one function can take either (`&dyn Switch`) and run them on both.
//!
//! The clients are Open vSwitch's own programs against both daemons (`ovs-vsctl` on the
//! database, `ovs-ofctl` on a bridge's management socket), which is the point: ferrovs must
//! answer them as `ovs-vswitchd` does. Only `appctl` differs per switch (`ovs-appctl -t`, or
//! ferrovs's `fvs-appctl` when the test names it).

use std::path::Path;

use crate::{ToolError, frames::hex};

/// One running switch with its database (see the module docs). The `_ok` forms fail the
/// test with the program's complaint instead of returning it.
pub trait Switch {
    /// The switch's private directory: run, database and log directory, and a place for
    /// scratch files such as pcaps.
    fn dir(&self) -> &Path;

    /// The database as an OVSDB remote, `unix:DIR/db.sock`.
    fn db_target(&self) -> String;

    /// Runs Open vSwitch program `tool` with `args` in this switch's environment; its stdout.
    ///
    /// # Errors
    ///
    /// [`ToolError`] when it is missing, cannot start or fails.
    fn run(&self, tool: &str, args: &[&str]) -> Result<String, ToolError>;

    /// The switch's appctl, `args` after the target; its stdout.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with the program's complaint.
    fn appctl(&self, args: &[&str]) -> Result<String, ToolError>;

    /// `ovs-vsctl --db=TARGET --timeout=10 ARGS`; without `--no-wait` it returns once the
    /// switch has applied the change.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-vsctl's complaint.
    fn vsctl(&self, args: &[&str]) -> Result<String, ToolError> {
        let db = format!("--db={}", self.db_target());
        let mut all = vec![db.as_str(), "--timeout=10"];
        all.extend_from_slice(args);
        self.run("ovs-vsctl", &all)
    }

    /// `ovs-ofctl ARGS`; a bridge name finds its management socket through `OVS_RUNDIR`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-ofctl's complaint.
    fn ofctl(&self, args: &[&str]) -> Result<String, ToolError> {
        self.run("ovs-ofctl", args)
    }

    /// [`Switch::vsctl`], failing the test with ovs-vsctl's complaint.
    ///
    /// # Panics
    ///
    /// When ovs-vsctl fails.
    fn vsctl_ok(&self, args: &[&str]) -> String {
        self.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"))
    }

    /// [`Switch::ofctl`], failing the test with ovs-ofctl's complaint.
    ///
    /// # Panics
    ///
    /// When ovs-ofctl fails.
    fn ofctl_ok(&self, args: &[&str]) -> String {
        self.ofctl(args)
            .unwrap_or_else(|e| panic!("ovs-ofctl {args:?}: {e}"))
    }

    /// [`Switch::appctl`], failing the test with the complaint.
    ///
    /// # Panics
    ///
    /// When appctl fails.
    fn appctl_ok(&self, args: &[&str]) -> String {
        self.appctl(args)
            .unwrap_or_else(|e| panic!("appctl {args:?}: {e}"))
    }

    /// `bridge`'s management socket as an OpenFlow target, `unix:DIR/BRIDGE.mgmt`.
    fn mgmt_target(&self, bridge: &str) -> String {
        format!(
            "unix:{}",
            self.dir().join(format!("{bridge}.mgmt")).display()
        )
    }

    /// `netdev-dummy/receive PORT HEX`: `frame` arrives on dummy port `port`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with appctl's complaint.
    fn receive(&self, port: &str, frame: &[u8]) -> Result<(), ToolError> {
        self.appctl(&["netdev-dummy/receive", port, &hex(frame)])
            .map(drop)
    }
}
