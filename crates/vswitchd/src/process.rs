//! The process around the daemon: start-up, `--detach`, the pidfile, signals, and clean
//! exit (pidfile and sockets removed on SIGTERM, SIGINT or `exit`).
//!
//! `--detach` re-executes the program as a child in a new session (the workspace forbids
//! `unsafe`, so no bare `fork`); the child reports on a pipe when its sockets are ready, or why
//! it could not start, and the parent exits only then, so a script that runs
//! `fvs-vswitchd --detach` can use the sockets at once.
//!
//! Signals are blocked in every thread and taken by one thread with `sigwait`, which turns
//! them into an ordinary message to the main thread: no code runs in signal context.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use nix::sys::signal::{SigSet, Signal};

use crate::db::Db;
use crate::dirs::Dirs;
use crate::options::{self, DETACHED_CHILD, Options};
use crate::vlog::{Destination, Level, Vlog};
use crate::{Daemon, commands, reconcile_loop, unixctl};

/// What the detached child writes when it is ready.
const READY: &str = "ready";

/// Runs `fvs-vswitchd` with `args` (without the program name).
pub fn run(args: &[String]) -> ExitCode {
    let dirs = Dirs::from_env();
    let opts = match options::parse(args, &dirs) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fvs-vswitchd: {e} (use --help for help)");
            return ExitCode::from(1);
        }
    };
    if let Some(text) = &opts.info {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    if opts.detach && !opts.detached_child {
        return detach(args);
    }
    match start(&dirs, &opts) {
        Ok(running) => {
            if opts.detached_child {
                println!("{READY}");
            }
            running.wait_and_clean_up()
        }
        Err(e) => {
            if opts.detached_child {
                println!("{e}");
            } else {
                eprintln!("fvs-vswitchd: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The parent of `--detach`: starts the child and waits for its word.
fn detach(args: &[String]) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fvs-vswitchd: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let child = Command::new(exe)
        .args(args)
        .arg(DETACHED_CHILD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fvs-vswitchd: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim_end() == READY {
        return ExitCode::SUCCESS;
    }
    let _ = child.wait();
    let why = line.trim_end();
    eprintln!(
        "fvs-vswitchd: {}",
        if why.is_empty() {
            "the daemon exited during start-up"
        } else {
            why
        }
    );
    ExitCode::FAILURE
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory, the pidfile or the log file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A `-v` spec.
    #[error(transparent)]
    Verbose(#[from] crate::vlog::SpecError),
    /// Signal handling.
    #[error("signals: {0}")]
    Signals(#[from] nix::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A started daemon, its files to remove on exit.
struct Running {
    daemon: Arc<Daemon>,
    db: Db,
    exit: mpsc::Receiver<()>,
    files: Vec<PathBuf>,
}

fn start(dirs: &Dirs, opts: &Options) -> Result<Running, StartError> {
    if opts.detached_child {
        // A new session: no controlling terminal, no signals from the shell's job control.
        let _ = nix::unistd::setsid();
    }
    // Before any thread exists, so that every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block()?;

    let console = if opts.detached_child {
        Level::Off
    } else {
        Level::Info
    };
    let mut vlog = Vlog::new(console);
    for spec in &opts.verbose {
        vlog.set(spec)?;
    }
    if let Some(path) = &opts.log_file {
        vlog.open_file(path).map_err(io_err(path))?;
    } else {
        vlog.set_destination(Destination::File, Level::Off);
    }
    for dir in [&dirs.run, &dirs.db] {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }

    let (db, truncated) = Db::start(&dirs.conf_db(), fvs_vsctl::SCHEMA, &dirs.db_sock())?;
    let ctl = dirs.ctl();
    let ctl_listener = bind_unix(&ctl)?;
    let mut files = vec![dirs.db_sock(), ctl];
    if let Some(pidfile) = &opts.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id())).map_err(io_err(pidfile))?;
        files.push(pidfile.clone());
    }

    let (exit_tx, exit_rx) = mpsc::channel();
    let daemon = Arc::new(Daemon::new(vlog, exit_tx));
    daemon.set_db(db.clone());
    if let Some(t) = truncated {
        daemon.log(
            "ovsdb",
            Level::Warn,
            &format!("dropped a damaged tail of the database: {t}"),
        );
    }
    {
        let daemon = daemon.clone();
        thread::spawn(move || {
            if let Ok(sig) = signals.wait() {
                daemon.log("vswitchd", Level::Info, &format!("{sig}: exiting"));
                daemon.request_exit();
            }
        });
    }
    daemon
        .start_datapath(opts.enable_dummy)
        .map_err(io_err(Path::new("datapath thread")))?;
    daemon.mgmt().set_rundir(dirs.run.clone());
    {
        let (db, daemon) = (db.clone(), daemon.clone());
        thread::spawn(move || reconcile_loop(&db, &daemon));
    }
    crate::manager::spawn(&db, &daemon);
    {
        let (db, daemon) = (db.clone(), daemon.clone());
        thread::spawn(move || crate::datapath::stats::stats_loop(&db, &daemon));
    }
    unixctl::serve(ctl_listener, Arc::new(commands::table()), daemon.clone());
    daemon.log(
        "vswitchd",
        Level::Info,
        &format!("{} started", crate::version_text().trim_end()),
    );
    Ok(Running {
        daemon,
        db,
        exit: exit_rx,
        files,
    })
}

/// Binds a Unix socket, replacing a stale file no one listens on.
fn bind_unix(path: &Path) -> Result<UnixListener, StartError> {
    if path.exists() && UnixStream::connect(path).is_err() {
        std::fs::remove_file(path).map_err(io_err(path))?;
    }
    UnixListener::bind(path).map_err(io_err(path))
}

impl Running {
    fn wait_and_clean_up(self) -> ExitCode {
        // Every sender lives in the daemon, which lives as long as this: recv only returns
        // on a request to exit.
        let _ = self.exit.recv();
        // Every remote stops: the Manager rows' `punix:` sockets go with db.sock, and their
        // clients see the connection close rather than a vanished process.
        self.db.set_remotes(&[]);
        // Controller listeners close too, taking their `punix:` socket files with them.
        self.daemon.controllers().stop_all();
        // Kernel-offloaded flows go with the daemon: no filter outlives it.
        crate::datapath::offload::remove_all();
        let mgmt = self.daemon.mgmt().paths();
        for f in self.files.iter().chain(&mgmt) {
            let _ = std::fs::remove_file(f);
        }
        self.daemon.log("vswitchd", Level::Info, "exited");
        let _ = std::io::stdout().flush();
        ExitCode::SUCCESS
    }
}
