//! A private Open vSwitch `ovsdb-server`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::{private_env, stop, wait_for_socket};
use crate::{TempDir, Tool, ToolError, require_tool};

/// Open vSwitch's `ovsdb-server` serving a database created from a schema, in its own
/// [`TempDir`]; killed (by the pid in its own pid file) and removed on drop.
///
/// Layout of [`PrivateOvsdb::dir`]: `conf.db`, `db.sock` (the JSON-RPC remote),
/// `ovsdb-server.pid`, `ovsdb-server.ctl` (its `ovs-appctl` target), `ovsdb-server.log`.
#[derive(Debug)]
pub struct PrivateOvsdb {
    dir: TempDir,
}

impl PrivateOvsdb {
    /// Creates a database from `schema` with `ovsdb-tool create` and serves it; returns once
    /// the server accepts connections.
    ///
    /// # Panics
    ///
    /// When `ovsdb-tool` or `ovsdb-server` is missing (with [`crate::INSTALL_HINT`]) or fails.
    #[must_use]
    pub fn start(schema: impl AsRef<Path>) -> Self {
        Self::start_in(TempDir::new("ovsdb"), schema.as_ref())
    }

    /// [`PrivateOvsdb::start`] in a directory the caller made (shared with `ovs-vswitchd`).
    pub(crate) fn start_in(dir: TempDir, schema: &Path) -> Self {
        let tool = require_tool("ovsdb-tool");
        let server = require_tool("ovsdb-server");
        // From here on, Drop stops whatever got started and removes the directory.
        let db = Self { dir };
        let d = db.dir.path();
        crate::run(
            tool.command()
                .arg("create")
                .arg(d.join("conf.db"))
                .arg(schema),
        )
        .unwrap_or_else(|e| panic!("cannot create the private database: {e}"));
        crate::run(
            private_env(&mut server.command(), d)
                .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
                .arg(format!(
                    "--pidfile={}",
                    d.join("ovsdb-server.pid").display()
                ))
                .arg(format!(
                    "--unixctl={}",
                    d.join("ovsdb-server.ctl").display()
                ))
                .arg(format!(
                    "--log-file={}",
                    d.join("ovsdb-server.log").display()
                ))
                .arg("--detach")
                .arg("--no-chdir")
                .arg(d.join("conf.db")),
        )
        .unwrap_or_else(|e| panic!("cannot start the private ovsdb-server: {e}"));
        wait_for_socket(&db.socket());
        db
    }

    /// The instance's private directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's Unix socket.
    #[must_use]
    pub fn socket(&self) -> PathBuf {
        self.dir.join("db.sock")
    }

    /// The server as an OVSDB remote: `unix:DIR/db.sock`.
    #[must_use]
    pub fn target(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    /// A [`Command`] for the Open vSwitch program `tool`, its environment pointed at this
    /// instance's directory (crate docs).
    ///
    /// # Errors
    ///
    /// [`ToolError::NotInstalled`].
    pub fn command(&self, tool: &str) -> Result<Command, ToolError> {
        let found = Tool::find(tool).ok_or_else(|| ToolError::NotInstalled {
            name: tool.to_owned(),
        })?;
        let mut cmd = found.command();
        private_env(&mut cmd, self.dir());
        Ok(cmd)
    }

    /// Runs `tool args` in this instance's environment; its stdout.
    ///
    /// # Errors
    ///
    /// [`ToolError`] when it is missing, cannot start or fails.
    pub fn run(&self, tool: &str, args: &[&str]) -> Result<String, ToolError> {
        crate::run(self.command(tool)?.args(args))
    }

    /// `ovs-appctl -t DIR/ovsdb-server.ctl ARGS` (such as `ovsdb-server/add-remote`).
    ///
    /// # Errors
    ///
    /// [`ToolError`] with ovs-appctl's complaint.
    pub fn appctl(&self, args: &[&str]) -> Result<String, ToolError> {
        let target = self.dir().join("ovsdb-server.ctl").display().to_string();
        let mut all = vec!["-t", target.as_str()];
        all.extend_from_slice(args);
        self.run("ovs-appctl", &all)
    }
}

impl Drop for PrivateOvsdb {
    fn drop(&mut self) {
        stop(&self.dir.join("ovsdb-server.pid"));
        // `self.dir` is dropped next and removes the directory.
    }
}
