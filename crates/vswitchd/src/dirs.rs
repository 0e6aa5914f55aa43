//! Where the daemon keeps its files: `FVS_RUNDIR`, `FVS_DBDIR`, `FVS_LOGDIR`, with the defaults
//! Open vSwitch's own locations have under ferrovs names.

use std::path::PathBuf;

/// The three directories, read once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Sockets and the pidfile (`FVS_RUNDIR`, default `/var/run/ferrovs`).
    pub run: PathBuf,
    /// The database file (`FVS_DBDIR`, default `/etc/ferrovs`).
    pub db: PathBuf,
    /// Log files (`FVS_LOGDIR`, default `/var/log/ferrovs`).
    pub log: PathBuf,
}

impl Dirs {
    /// The directories the environment names, or the defaults.
    pub fn from_env() -> Self {
        let dir = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            run: dir("FVS_RUNDIR", "/var/run/ferrovs"),
            db: dir("FVS_DBDIR", "/etc/ferrovs"),
            log: dir("FVS_LOGDIR", "/var/log/ferrovs"),
        }
    }

    /// `db.sock`, the OVSDB socket.
    pub fn db_sock(&self) -> PathBuf {
        self.run.join("db.sock")
    }

    /// `conf.db`, the database file.
    pub fn conf_db(&self) -> PathBuf {
        self.db.join("conf.db")
    }

    /// `fvs-vswitchd.ctl`, the control socket.
    pub fn ctl(&self) -> PathBuf {
        self.run.join("fvs-vswitchd.ctl")
    }

    /// `fvs-vswitchd.pid`, the default pidfile.
    pub fn pidfile(&self) -> PathBuf {
        self.run.join("fvs-vswitchd.pid")
    }

    /// `fvs-vswitchd.log`, the default log file.
    pub fn logfile(&self) -> PathBuf {
        self.log.join("fvs-vswitchd.log")
    }
}
