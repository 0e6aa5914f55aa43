//! Starting detached Open vSwitch daemons and stopping exactly them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Points Open vSwitch's programs at `dir` for everything they would otherwise look for in
/// the system's directories (database, sockets, pid files, logs, configuration).
pub(crate) fn private_env<'c>(cmd: &'c mut Command, dir: &Path) -> &'c mut Command {
    cmd.env("OVS_RUNDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_SYSCONFDIR", dir)
}

/// Stops the daemon whose pid is in `pidfile`, if any, and waits (briefly) for it to exit so
/// its directory can be removed.
///
/// Only a pid read from our own pid file is ever signalled, never a process found by name:
/// other tests, and perhaps the host, run the same programs.
pub(crate) fn stop(pidfile: &Path) {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return; // never started (or failed before writing it)
    };
    let pid = text.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let _ = Command::new("kill").arg(pid).status();
    let deadline = Instant::now() + Duration::from_secs(1);
    while is_running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `sock` accepts connections.
///
/// # Panics
///
/// After ten seconds without a listener.
pub(crate) fn wait_for_socket(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {} after 10 s",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` exists and has not exited. A detached daemon's parent is init, which
/// in a container may never reap it: an exited daemon can linger as a zombie (state `Z`),
/// which is as good as gone.
#[must_use]
pub fn is_running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")) else {
        return false;
    };
    // `PID (COMM) STATE ...`; COMM may itself contain parentheses, so split at the last one.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
}
