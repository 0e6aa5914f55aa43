//! A private ferrovs switch: `fvs-vswitchd` in a directory of its own, shaped like
//! [`crate::PrivateOvs`] so that a test can run the same steps on both.
//!
//! This crate cannot name ferrovs's binaries (Cargo gives `CARGO_BIN_EXE_*` only to the tests
//! of the package that builds them), so the caller passes them:
//! `PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))`. Everything else is decided here
//! once: `FVS_RUNDIR`, `FVS_DBDIR` and `FVS_LOGDIR` all point at the private directory (the
//! daemon's embedded database socket `db.sock`, control socket `fvs-vswitchd.ctl` and each
//! bridge's `BRIDGE.mgmt` live there), and the Open vSwitch tools run with `OVS_RUNDIR` etc.
//! pointing there too, so `ovs-ofctl dump-flows br0` finds the bridge as it would on a host.
//!
//! The daemon runs in the foreground as our child, optionally inside a network namespace
//! (`ip netns exec` replaces itself with the daemon, so the child's pid is the daemon's).
//! Readiness is the database accepting a connection *and* the control socket existing: a
//! daemon that was killed leaves both files behind, so stale ones are removed before a start.
//! Drop kills exactly that child, by its pid, and removes the directory unless the caller
//! owns it ([`FvsBuilder::dir`], for restarting a daemon on the same database).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::daemon::private_env;
use crate::{Switch, TempDir, Tool, ToolError, require_tool};

/// How long a daemon may take to come up before the test fails. Generous: CI machines are
/// shared and a debug build starts slowly.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Where a [`PrivateFvs`] keeps its files: its own [`TempDir`], or a directory the caller owns.
#[derive(Debug)]
enum Home {
    Temp(TempDir),
    Borrowed(PathBuf),
}

impl Home {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(t) => t.path(),
            Self::Borrowed(p) => p,
        }
    }
}

/// How to start a [`PrivateFvs`]; from [`PrivateFvs::builder`].
#[derive(Debug, Clone)]
pub struct FvsBuilder {
    vswitchd: PathBuf,
    appctl: Option<PathBuf>,
    tag: String,
    dummy: bool,
    netns: Option<String>,
    dir: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl FvsBuilder {
    /// ferrovs's `fvs-appctl` for [`PrivateFvs::appctl`]; without it, Open vSwitch's
    /// `ovs-appctl -t fvs-vswitchd.ctl` is used.
    #[must_use]
    pub fn appctl(mut self, bin: impl Into<PathBuf>) -> Self {
        self.appctl = Some(bin.into());
        self
    }

    /// Names the private directory `fvs-TAG-…`; keep it short (socket paths fit 108 bytes).
    #[must_use]
    pub fn tag(mut self, tag: &str) -> Self {
        tag.clone_into(&mut self.tag);
        self
    }

    /// Whether to pass `--enable-dummy` (on by default: no host interface is touched).
    #[must_use]
    pub fn dummy(mut self, on: bool) -> Self {
        self.dummy = on;
        self
    }

    /// Runs the daemon inside network namespace `ns` (which the caller made).
    #[must_use]
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_owned());
        self
    }

    /// Uses `dir`, which the caller owns and which outlives the daemon (a restart after a
    /// kill finds its database there), instead of a fresh temporary directory.
    #[must_use]
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// One more command-line argument for `fvs-vswitchd`.
    #[must_use]
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// One more environment variable for `fvs-vswitchd` (such as a test-only hook).
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the daemon and returns once it is ready (module docs).
    ///
    /// # Panics
    ///
    /// When it cannot start, exits, or is not ready within 20 seconds.
    #[must_use]
    pub fn start(self) -> PrivateFvs {
        let home = match &self.dir {
            Some(d) => Home::Borrowed(d.clone()),
            None => Home::Temp(TempDir::new(&self.tag)),
        };
        let d = home.path().to_path_buf();
        // A killed daemon leaves its sockets behind; the new one must be waited for, not them.
        for f in ["db.sock", "fvs-vswitchd.ctl"] {
            let _ = std::fs::remove_file(d.join(f));
        }
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = require_tool("ip").command();
                c.args(["netns", "exec", ns]).arg(&self.vswitchd);
                c
            }
            None => Command::new(&self.vswitchd),
        };
        if self.dummy {
            cmd.arg("--enable-dummy");
        }
        cmd.args(&self.args)
            .env("FVS_RUNDIR", &d)
            .env("FVS_DBDIR", &d)
            .env("FVS_LOGDIR", &d)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.vswitchd.display()));
        let mut fvs = PrivateFvs {
            home,
            child,
            appctl: self.appctl,
            netns: self.netns,
        };
        fvs.wait_ready();
        fvs
    }
}

/// A running `fvs-vswitchd` with private directories; killed by its pid on drop (module docs).
#[derive(Debug)]
pub struct PrivateFvs {
    home: Home,
    child: Child,
    appctl: Option<PathBuf>,
    netns: Option<String>,
}

impl PrivateFvs {
    /// A builder for the daemon at `vswitchd` (`env!("CARGO_BIN_EXE_fvs-vswitchd")`).
    #[must_use]
    pub fn builder(vswitchd: impl Into<PathBuf>) -> FvsBuilder {
        FvsBuilder {
            vswitchd: vswitchd.into(),
            appctl: None,
            tag: "fvs".to_owned(),
            dummy: true,
            netns: None,
            dir: None,
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err()
            || !self.vswitchd_ctl().exists()
        {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "fvs-vswitchd exited before it was ready ({status}); its log is in {}",
                    self.dir().display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "fvs-vswitchd in {} was not ready within {READY_WITHIN:?}",
                self.dir().display()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// The private directory (run, database and log directory at once; a place for scratch
    /// files such as pcaps too).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.home.path()
    }

    /// The namespace the daemon runs in, if any.
    #[must_use]
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// The daemon's pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The embedded database's Unix socket.
    #[must_use]
    pub fn socket(&self) -> PathBuf {
        self.dir().join("db.sock")
    }

    /// The database as an OVSDB remote (`ovs-vsctl --db=`): `unix:DIR/db.sock`.
    #[must_use]
    pub fn target(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    /// The control socket, the target of `ovs-appctl -t`.
    #[must_use]
    pub fn vswitchd_ctl(&self) -> PathBuf {
        self.dir().join("fvs-vswitchd.ctl")
    }

    /// `bridge`'s OpenFlow management socket.
    #[must_use]
    pub fn mgmt(&self, bridge: &str) -> PathBuf {
        self.dir().join(format!("{bridge}.mgmt"))
    }

    /// `bridge`'s management socket as an OpenFlow target: `unix:DIR/BRIDGE.mgmt`.
    #[must_use]
    pub fn mgmt_target(&self, bridge: &str) -> String {
        Switch::mgmt_target(self, bridge)
    }

    /// Whether the daemon is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the daemon with SIGKILL (by its pid) and reaps it; the directory stays.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A [`Command`] for Open vSwitch program `tool` with this instance's environment.
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
        cmd.env("FVS_RUNDIR", self.dir());
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

    /// `fvs-appctl ARGS` (when the builder named it) or `ovs-appctl -t DIR/fvs-vswitchd.ctl
    /// ARGS`.
    ///
    /// # Errors
    ///
    /// [`ToolError`] with the program's complaint.
    pub fn appctl(&self, args: &[&str]) -> Result<String, ToolError> {
        match &self.appctl {
            Some(bin) => crate::run(Command::new(bin).env("FVS_RUNDIR", self.dir()).args(args)),
            None => {
                let target = self.vswitchd_ctl().display().to_string();
                let mut all = vec!["-t", target.as_str()];
                all.extend_from_slice(args);
                self.run("ovs-appctl", &all)
            }
        }
    }
}

impl Switch for PrivateFvs {
    fn dir(&self) -> &Path {
        Self::dir(self)
    }

    fn db_target(&self) -> String {
        self.target()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String, ToolError> {
        Self::run(self, tool, args)
    }

    fn appctl(&self, args: &[&str]) -> Result<String, ToolError> {
        Self::appctl(self, args)
    }
}

impl Drop for PrivateFvs {
    fn drop(&mut self) {
        self.kill9();
        // `self.home` is dropped next and removes a temporary directory.
    }
}
