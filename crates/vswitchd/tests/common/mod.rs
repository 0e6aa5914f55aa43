//! The harness the fvs-vswitchd tests share: a daemon of this package in a private
//! directory, driven by Open vSwitch's own `ovs-vsctl` and `ovs-ofctl` and by this package's
//! `fvs-appctl`, plus the seed's br-tun as `ovs-vsctl` commands.
//!
//! Each test binary compiles this module for itself (`mod common;`) and uses part of it, so
//! what one binary leaves unused is not dead code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use fvs_test_support::{TempDir, require_tool};

/// An fvs-vswitchd in the foreground with `--enable-dummy`, its run, database and log
/// directories one private [`TempDir`]; killed by its own pid on drop (never by name, so
/// concurrent tests and other daemons are untouched).
pub(crate) struct Fvs {
    dir: TempDir,
    child: Child,
}

impl Fvs {
    /// Starts the daemon and waits until its database and control sockets exist.
    ///
    /// `tag` names the directory; keep it short, socket paths must fit in 108 bytes.
    pub(crate) fn start(tag: &str) -> Self {
        let dir = TempDir::new(tag);
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
        wait_for(&fvs.ctl());
        fvs
    }

    /// The daemon's private directory (run, database and log directory at once).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database's address as `ovs-vsctl --db=` takes it.
    pub(crate) fn db(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    /// The control socket `ovs-appctl -t` takes.
    pub(crate) fn ctl(&self) -> PathBuf {
        self.dir.path().join("fvs-vswitchd.ctl")
    }

    /// `bridge`'s OpenFlow management socket.
    pub(crate) fn mgmt(&self, bridge: &str) -> PathBuf {
        self.dir.path().join(format!("{bridge}.mgmt"))
    }

    /// Real `ovs-vsctl` against this daemon's database; the command must succeed.
    pub(crate) fn vsctl(&self, args: &[&str]) {
        let out = require_tool("ovs-vsctl")
            .command()
            .arg(format!("--db={}", self.db()))
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

    /// This package's `fvs-appctl ARGS` against this daemon: success, stdout and stderr.
    pub(crate) fn appctl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_fvs-appctl"))
            .env("FVS_RUNDIR", self.dir.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("fvs-appctl: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `bridge/dump-flows BRIDGE`, which must succeed.
    pub(crate) fn dump_flows(&self, bridge: &str) -> String {
        let (ok, out, err) = self.appctl(&["bridge/dump-flows", bridge]);
        assert!(ok, "{err}");
        out
    }
}

impl Drop for Fvs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 20 seconds for `path` to exist; a daemon that never makes it fails the test.
pub(crate) fn wait_for(path: &Path) {
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

/// Real `ovs-ofctl OPTS CMD TARGET ARGS`: success, stdout and stderr.
pub(crate) fn ofctl(
    opts: &[&str],
    cmd: &str,
    target: &str,
    args: &[&str],
) -> (bool, String, String) {
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
