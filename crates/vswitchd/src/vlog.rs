//! Logging with Open vSwitch's vlog model: per module and destination, a level; lines in the
//! `TIME|SEQ|MODULE|LEVEL|MESSAGE` form of ovs-vswitchd's log file.
//!
//! Only the levels and the `module:destination:level` syntax of `-v`/`vlog/set` are supported
//! (no patterns, no facility). The syslog destination is listed and settable so the syntax is
//! the same, but nothing is sent to syslog yet.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The modules that log, in `vlog/list` order. A module not listed here is not logged at
/// all, so every name passed to `Daemon::log` must be here.
pub const MODULES: &[&str] = &[
    "bridge",
    "connmgr",
    "controller",
    "dpif",
    "dpif_netdev",
    "fail_open",
    "manager",
    "mgmt",
    "netdev_linux",
    "netdev_vport",
    "ovsdb",
    "rconn",
    "reconcile",
    "stream_ssl",
    "unixctl",
    "vswitchd",
];

/// A level; the order is severity, `Off` lowest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing is logged.
    Off,
    /// Emergencies only.
    Emer,
    /// Errors.
    Err,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging.
    Dbg,
}

impl Level {
    const ALL: [Self; 6] = [
        Self::Off,
        Self::Emer,
        Self::Err,
        Self::Warn,
        Self::Info,
        Self::Dbg,
    ];

    /// The name `vlog/list` prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::Emer => "EMER",
            Self::Err => "ERR",
            Self::Warn => "WARN",
            Self::Info => "INFO",
            Self::Dbg => "DBG",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(word))
    }
}

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Standard error.
    Console,
    /// The system log (accepted, not yet written).
    Syslog,
    /// The log file, when `--log-file` is given.
    File,
}

impl Destination {
    const ALL: [Self; 3] = [Self::Console, Self::Syslog, Self::File];

    fn index(self) -> usize {
        match self {
            Self::Console => 0,
            Self::Syslog => 1,
            Self::File => 2,
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "console" => Some(Self::Console),
            "syslog" => Some(Self::Syslog),
            "file" => Some(Self::File),
            _ => None,
        }
    }
}

/// A `vlog/set` or `-v` argument that names nothing known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A word that is neither a destination, a level nor a module (ovs-vswitchd's wording).
    #[error("no destination, level, or module \"{0}\"")]
    Unknown(String),
}

/// Per module, one level per destination.
#[derive(Debug)]
pub struct Vlog {
    levels: Vec<[Level; 3]>,
    file: Option<(PathBuf, File)>,
    seq: u64,
}

impl Vlog {
    /// Every module at `console` for the console, off for syslog, INFO for the file.
    pub fn new(console: Level) -> Self {
        Self {
            levels: vec![[console, Level::Off, Level::Info]; MODULES.len()],
            file: None,
            seq: 0,
        }
    }

    /// Opens (appending) the log file.
    pub fn open_file(&mut self, path: &Path) -> std::io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        self.file = Some((path.to_owned(), f));
        Ok(())
    }

    /// Applies one spec: `:`-separated words, each a module, a destination, a level or
    /// `ANY`; what is not named means every module or destination, and the level defaults to
    /// DBG (as in vlog).
    pub fn set(&mut self, spec: &str) -> Result<(), SpecError> {
        let mut module = None;
        let mut dest = None;
        let mut level = Level::Dbg;
        for word in spec.split([':', ' ']).filter(|w| !w.is_empty()) {
            if word.eq_ignore_ascii_case("any") {
                continue;
            }
            if let Some(d) = Destination::parse(word) {
                dest = Some(d);
            } else if let Some(l) = Level::parse(word) {
                level = l;
            } else if let Some(m) = MODULES.iter().position(|m| *m == word) {
                module = Some(m);
            } else {
                return Err(SpecError::Unknown(word.to_owned()));
            }
        }
        for (i, levels) in self.levels.iter_mut().enumerate() {
            if module.is_some_and(|m| m != i) {
                continue;
            }
            for d in Destination::ALL {
                if dest.is_none_or(|want| want == d) {
                    levels[d.index()] = level;
                }
            }
        }
        Ok(())
    }

    /// Sets a destination's level in every module.
    pub fn set_destination(&mut self, dest: Destination, level: Level) {
        for levels in &mut self.levels {
            levels[dest.index()] = level;
        }
    }

    /// The `vlog/list` table.
    pub fn list(&self) -> String {
        let mut out = String::from(
            "                 console    syslog    file\n                 -------    ------    ------\n",
        );
        for (m, levels) in MODULES.iter().zip(&self.levels) {
            let _ = writeln!(
                out,
                "{m:<19}{:<11}{:<10}{}",
                levels[0].name(),
                levels[1].name(),
                levels[2].name()
            );
        }
        out
    }

    /// Logs `message` from `module` at `level` wherever that level is enabled.
    pub fn log(&mut self, module: &str, level: Level, message: &str) {
        let Some(i) = MODULES.iter().position(|m| *m == module) else {
            return;
        };
        let levels = self.levels[i];
        let to_console = level <= levels[0] && level != Level::Off;
        let to_file = level <= levels[2] && level != Level::Off && self.file.is_some();
        if !to_console && !to_file {
            return;
        }
        self.seq += 1;
        let line = format!(
            "{}|{:05}|{module}|{}|{message}\n",
            utc_now(),
            self.seq,
            level.name()
        );
        if to_console {
            eprint!("{line}");
        }
        if to_file && let Some((_, f)) = &mut self.file {
            // A full disk must not stop the switch; the line is lost.
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's method, for
/// days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_set_levels_as_vlog_does() {
        let mut v = Vlog::new(Level::Info);
        assert_eq!(v.set("bridge:file:dbg"), Ok(()));
        assert!(
            v.list()
                .contains("bridge             INFO       OFF       DBG\n")
        );
        assert_eq!(v.set("console:warn"), Ok(()));
        assert!(
            v.list()
                .contains("unixctl            WARN       OFF       INFO\n")
        );
        assert_eq!(
            v.set("nonsense").map_err(|e| e.to_string()),
            Err("no destination, level, or module \"nonsense\"".to_owned())
        );
    }

    /// The module names the daemon's sources log from: the string literal after `.log(` and
    /// the one in front of `, Level::` in the (module, level, line) tuples handed to it.
    fn modules_logged_from(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                modules_logged_from(&path, out);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let literal = |rest: &str| -> Option<String> {
                let rest = rest.trim_start().strip_prefix('"')?;
                let name = &rest[..rest.find('"')?];
                (!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                    .then(|| name.to_owned())
            };
            let file = path.display().to_string();
            for (i, _) in text.match_indices(".log(") {
                if let Some(name) = literal(&text[i + 5..]) {
                    out.push((file.clone(), name));
                }
            }
            for (i, _) in text.match_indices("\", Level::") {
                let start = text[..i].rfind("(\"").map_or(i, |s| s + 1);
                if let Some(name) = literal(&text[start..=i]) {
                    out.push((file.clone(), name));
                }
            }
        }
    }

    /// A module missing from [`MODULES`] is never logged, so every name the sources log
    /// from must be there (`stream_ssl`, `dpif_netdev` and `netdev_linux` once were not).
    #[test]
    fn every_module_logged_from_is_listed() {
        let mut found = Vec::new();
        modules_logged_from(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.len() > 10, "the scan finds too little: {found:?}");
        let missing: Vec<_> = found
            .iter()
            .filter(|(_, m)| !MODULES.contains(&m.as_str()))
            .collect();
        assert!(missing.is_empty(), "not in vlog::MODULES: {missing:?}");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
