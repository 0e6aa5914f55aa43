//! ovs-vswitchd's command line, as far as ferrovs supports it.

use std::path::PathBuf;

use crate::dirs::Dirs;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--detach`: run in the background once the sockets are ready.
    pub detach: bool,
    /// `--pidfile[=FILE]`.
    pub pidfile: Option<PathBuf>,
    /// `--log-file[=FILE]`.
    pub log_file: Option<PathBuf>,
    /// `-v`/`--verbose[=SPEC]`, in order.
    pub verbose: Vec<String>,
    /// `--enable-dummy[=...]`: every port is a dummy port.
    pub enable_dummy: bool,
    /// Internal: this process is the detached child of `--detach`.
    pub detached_child: bool,
    /// `--help` or `--version` was asked for: the text to print.
    pub info: Option<String>,
}

/// Internal marker for the re-executed child of `--detach`.
pub const DETACHED_CHILD: &str = "--detached-child";

/// A bad command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// An option this program does not have.
    #[error("unrecognized option '{0}'")]
    Unknown(String),
    /// An argument that is not an option: the database is embedded.
    #[error("{0}: the database is embedded in fvs-vswitchd (no DATABASE argument)")]
    Database(String),
}

/// The usage text.
pub const USAGE: &str = "\
fvs-vswitchd: ferrovs's switch daemon, with its configuration database embedded
usage: fvs-vswitchd [OPTIONS]
  --detach              run in background once the sockets are ready
  --pidfile[=FILE]      create pidfile (default $FVS_RUNDIR/fvs-vswitchd.pid)
  --log-file[=FILE]     log to FILE (default $FVS_LOGDIR/fvs-vswitchd.log)
  -v, --verbose[=SPEC]  set logging levels (MODULE:DESTINATION:LEVEL)
  --enable-dummy        make every port a dummy port
  -h, --help            display this help message
  -V, --version         display version information
Directories: FVS_RUNDIR (db.sock, fvs-vswitchd.ctl), FVS_DBDIR (conf.db), FVS_LOGDIR.
";

/// Parses the arguments (without the program name).
pub fn parse(args: &[String], dirs: &Dirs) -> Result<Options, OptionsError> {
    let mut o = Options {
        detach: false,
        pidfile: None,
        log_file: None,
        verbose: Vec::new(),
        enable_dummy: false,
        detached_child: false,
        info: None,
    };
    for arg in args {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        match name {
            "--detach" => o.detach = true,
            "--pidfile" => o.pidfile = Some(value.map_or_else(|| dirs.pidfile(), PathBuf::from)),
            "--log-file" => o.log_file = Some(value.map_or_else(|| dirs.logfile(), PathBuf::from)),
            "--verbose" => o.verbose.push(value.unwrap_or("").to_owned()),
            "--enable-dummy" => o.enable_dummy = true,
            "--no-chdir" | "--monitor" | "--disable-system" | "--mlockall" => {}
            DETACHED_CHILD => o.detached_child = true,
            "-h" | "--help" => o.info = Some(USAGE.to_owned()),
            "-V" | "--version" => o.info = Some(crate::version_text()),
            _ if name.starts_with("-v") => o.verbose.push(arg[2..].to_owned()),
            _ if name.starts_with('-') => return Err(OptionsError::Unknown(arg.clone())),
            _ => return Err(OptionsError::Database(arg.clone())),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Dirs {
        Dirs {
            run: "/r".into(),
            db: "/d".into(),
            log: "/l".into(),
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_come_from_the_directories() {
        let o = parse(
            &args(&[
                "--pidfile",
                "--log-file",
                "-vdbg",
                "--verbose=bridge:file:warn",
            ]),
            &dirs(),
        );
        let o = o.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.pidfile, Some(PathBuf::from("/r/fvs-vswitchd.pid")));
        assert_eq!(o.log_file, Some(PathBuf::from("/l/fvs-vswitchd.log")));
        assert_eq!(
            o.verbose,
            vec!["dbg".to_owned(), "bridge:file:warn".to_owned()]
        );
        assert!(!o.detach);
    }

    #[test]
    fn bad_options_are_named() {
        assert_eq!(
            parse(&args(&["--frobnicate"]), &dirs()).map_err(|e| e.to_string()),
            Err("unrecognized option '--frobnicate'".to_owned())
        );
    }
}
