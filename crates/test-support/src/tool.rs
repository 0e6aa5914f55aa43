//! Finding and running Open vSwitch's programs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// What a test prints when Open vSwitch is missing. Tests fail rather than skip: CI installs
/// these packages, so a missing tool is a broken environment, not an optional feature.
pub const INSTALL_HINT: &str = "the oracle tests need Open vSwitch 3.1 \
     (Debian/Ubuntu: apt-get install openvswitch-switch openvswitch-common); \
     they fail rather than skip";

/// Directories searched after PATH: Debian installs the daemons (`ovsdb-server`,
/// `ovs-vswitchd`) in `/usr/sbin`, which ordinary users often lack on PATH.
const EXTRA_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"];

/// An Open vSwitch program found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    name: String,
    path: PathBuf,
}

impl Tool {
    /// Looks for `name` on PATH, then in the sbin directories; `None` when it is not installed.
    #[must_use]
    pub fn find(name: &str) -> Option<Self> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(EXTRA_DIRS.iter().map(PathBuf::from))
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .map(|path| Self {
                name: name.to_owned(),
                path,
            })
    }

    /// The program's name, as asked for (`ovs-ofctl`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was found.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A [`Command`] for this program, with no arguments yet.
    #[must_use]
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }

    /// Runs the program with `args`; stdout on success.
    ///
    /// # Errors
    ///
    /// [`ToolError`] when it cannot be started or exits unsuccessfully.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String, ToolError> {
        run(self.command().args(args))
    }
}

/// Finds `name` or panics with [`INSTALL_HINT`] (module docs: tests fail, never skip).
///
/// # Panics
///
/// When `name` is not installed.
#[must_use]
pub fn require_tool(name: &str) -> Tool {
    Tool::find(name).unwrap_or_else(|| panic!("{name} is not installed: {INSTALL_HINT}"))
}

/// What `ovs-ofctl ofp-print HEX` prints for OpenFlow message `bytes`: Open vSwitch's own
/// decoding, stdout followed by stderr (where it reports what it could not parse, which a
/// test wants to see as much as the decoding).
///
/// # Panics
///
/// When `ovs-ofctl` is not installed (with [`INSTALL_HINT`]) or cannot be run.
#[must_use]
pub fn ofp_print(bytes: &[u8]) -> String {
    let out = require_tool("ovs-ofctl")
        .command()
        .arg("ofp-print")
        .arg(crate::frames::hex(bytes))
        .output()
        .unwrap_or_else(|e| panic!("cannot run ovs-ofctl: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// The system Python every test that runs Python uses (Debian's, where its packages such as
/// `python3-openvswitch` install their modules).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Fails the test, saying which Debian package to install, unless [`SYSTEM_PYTHON`] can
/// import `module` (such as `ovs.db.idl` from `python3-openvswitch`).
///
/// # Panics
///
/// When the module cannot be imported.
pub fn require_python_module(module: &str, package: &str) {
    let ok = std::process::Command::new(SYSTEM_PYTHON)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{SYSTEM_PYTHON} cannot import {module}: install Debian's {package} \
         (apt-get install {package}; scripts/test.sh does it when run as root)"
    );
}

/// Why running a program did not give its output.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The program is not installed.
    #[error("{name} is not installed: {INSTALL_HINT}")]
    NotInstalled {
        /// The program asked for.
        name: String,
    },
    /// The program could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("{command} failed ({status}):\n{stderr}{}", stdout_note(stdout))]
    Failed {
        /// The command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stdout.
        stdout: String,
        /// What it printed on stderr (usually the reason).
        stderr: String,
    },
}

impl ToolError {
    /// The failed program's stderr; empty for errors where it never ran.
    #[must_use]
    pub fn stderr(&self) -> &str {
        match self {
            Self::Failed { stderr, .. } => stderr,
            Self::NotInstalled { .. } | Self::Spawn { .. } => "",
        }
    }
}

fn stdout_note(stdout: &str) -> String {
    if stdout.is_empty() {
        String::new()
    } else {
        format!("stdout:\n{stdout}")
    }
}

/// Runs `cmd`; its stdout on success, a [`ToolError`] with its stderr otherwise.
///
/// # Errors
///
/// [`ToolError::Spawn`] or [`ToolError::Failed`].
pub fn run(cmd: &mut Command) -> Result<String, ToolError> {
    let command = describe(cmd);
    let out = cmd.output().map_err(|source| ToolError::Spawn {
        command: command.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(ToolError::Failed {
            command,
            status: out.status,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// `program arg arg…`, for messages.
fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let _ = write!(s, " {}", arg.to_string_lossy());
    }
    s
}
