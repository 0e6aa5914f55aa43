//! `snoop SWITCH`: the OpenFlow conversation between a bridge and its controller, as the
//! bridge's snoop socket copies it.
//!
//! `SWITCH` is a bridge name (its `$FVS_RUNDIR/<bridge>.snoop`) or a `unix:` target. The
//! snooper says hello like any connection, then only reads: every copied message is printed
//! on standard error as ovs-ofctl prints it (the same printer as `monitor`), flushed as it
//! comes; copied echo requests are printed, never answered (they were the controller's or
//! the switch's). A switch that has no controller connection closes the socket at once,
//! which is the error the command then fails with.

use super::conn::{Conn, ConnError};
use super::monitor::format_received;
use super::{CmdError, Options};
use std::io::Write as _;
use std::path::PathBuf;

/// `snoop SWITCH`.
pub(super) fn snoop(opts: &Options, args: &[String], _out: &mut String) -> Result<(), CmdError> {
    let Some(name) = args.first() else {
        return Err(CmdError::Fatal("missing switch".into()));
    };
    let target = snoop_target(name)?;
    let mut conn = Conn::open(&target, opts.allowed, opts.timeout)?;
    conn.watch_only();
    loop {
        let received = conn.recv()?;
        let text = format_received(&received, conn.protocol());
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }
}

/// A bridge's snoop socket, or the target as given when it names a socket itself.
fn snoop_target(name: &str) -> Result<String, ConnError> {
    if name.contains(':') {
        return Ok(name.to_string());
    }
    let rundir =
        std::env::var("FVS_RUNDIR").unwrap_or_else(|_| super::conn::DEFAULT_RUNDIR.to_string());
    let path = PathBuf::from(rundir).join(format!("{name}.snoop"));
    if path.exists() {
        Ok(format!("unix:{}", path.display()))
    } else if std::path::Path::new(name).exists() {
        Ok(format!("unix:{name}"))
    } else {
        Err(ConnError::NotBridge(name.to_string()))
    }
}
