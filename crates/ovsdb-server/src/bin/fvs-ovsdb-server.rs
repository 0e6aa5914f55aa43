//! `fvs-ovsdb-server [--db FILE | FILE] [--schema FILE] [--remote REMOTE]... [--pidfile FILE]
//! [--inactivity-probe MS] [--compact-min-interval MS] [--compact-min-records N]
//! [--compact-min-size BYTES] [--compact-growth N] [--compact-max-interval MS]
//! [-p|--private-key FILE] [-c|--certificate FILE] [-C|--ca-cert FILE]`
//!
//! Defaults: the database `$FVS_DBDIR/conf.db`, the remote `punix:$FVS_RUNDIR/db.sock`.
//! REMOTE is `punix:PATH`, `ptcp:PORT[:IP]`, `pssl:[PORT][:IP]` (listen), `unix:PATH`,
//! `tcp:IP:PORT` or `ssl:IP[:PORT]` (connect out, reconnecting with backoff). The TLS
//! remotes use the files `-p`, `-c` and `-C` name, as ovsdb-server's do (file names only:
//! not its `db:` references).
//!
//! The last options are ferrovs's own (Open vSwitch's server takes them from a `Manager` row
//! or builds them in): `--inactivity-probe` sets the probe interval of the remotes given
//! here (0 disables; by default 5 s for TCP, none for Unix sockets), and the `--compact-*`
//! options change when the file is compacted on its own
//! (`fvs_ovsdb_server::CompactionPolicy`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fvs_ovsdb_server::{CompactionPolicy, Config, Remote, RemoteConfig, Server};

fn usage() -> &'static str {
    "usage: fvs-ovsdb-server [--db FILE | FILE] [--schema FILE] [--remote punix:PATH|ptcp:PORT[:IP]|unix:PATH|tcp:IP:PORT]... [--pidfile FILE] [--inactivity-probe MS] [--compact-min-interval MS] [--compact-min-records N] [--compact-min-size BYTES] [--compact-growth N] [--compact-max-interval MS] [-p FILE] [-c FILE] [-C FILE]"
}

/// Everything the command line says.
struct Options {
    config: Config,
    pidfile: Option<PathBuf>,
    probe: Option<Duration>,
    compaction: CompactionPolicy,
    /// `-p`, `-c`, `-C`.
    tls: [Option<PathBuf>; 3],
}

fn number(name: &str, text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("{name}: \"{text}\" is not a non-negative integer"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut db = None;
    let mut schema = None;
    let mut remotes = Vec::new();
    let mut pidfile = None;
    let mut probe = None;
    let mut compaction = CompactionPolicy::default();
    let mut tls: [Option<PathBuf>; 3] = Default::default();
    let ms = Duration::from_millis;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name}: missing argument"))
        };
        match name {
            "--db" => db = Some(PathBuf::from(value()?)),
            "--schema" => schema = Some(PathBuf::from(value()?)),
            "--remote" => remotes.push(Remote::parse(&value()?).map_err(|e| e.to_string())?),
            "--pidfile" => pidfile = Some(PathBuf::from(value()?)),
            "--inactivity-probe" => probe = Some(ms(number(name, &value()?)?)),
            "--compact-min-interval" => compaction.min_interval = ms(number(name, &value()?)?),
            "--compact-max-interval" => compaction.max_interval = ms(number(name, &value()?)?),
            "--compact-min-records" => compaction.min_records = number(name, &value()?)?,
            "--compact-min-size" => compaction.min_size = number(name, &value()?)?,
            "--compact-growth" => compaction.growth_factor = number(name, &value()?)?,
            "-p" | "--private-key" => tls[0] = Some(PathBuf::from(value()?)),
            "-c" | "--certificate" => tls[1] = Some(PathBuf::from(value()?)),
            "-C" | "--ca-cert" => tls[2] = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(usage().to_owned()),
            other if other.starts_with('-') => return Err(format!("{other}: unknown option")),
            file => db = Some(PathBuf::from(file)),
        }
    }
    let dir = |var: &str| std::env::var_os(var).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let db = db.unwrap_or_else(|| dir("FVS_DBDIR").join("conf.db"));
    if remotes.is_empty() {
        remotes.push(Remote::Unix(dir("FVS_RUNDIR").join("db.sock")));
    }
    Ok(Options {
        config: Config {
            db,
            schema,
            remotes,
        },
        pidfile,
        probe,
        compaction,
        tls,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Options {
        config,
        pidfile,
        probe,
        compaction,
        tls: [key, cert, ca],
    } = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fvs-ovsdb-server: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::open(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fvs-ovsdb-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.set_compaction_policy(compaction);
    server.tls().set(key, cert, ca);
    if let Some(probe) = probe {
        let remotes: Vec<RemoteConfig> = config
            .remotes
            .iter()
            .map(|r| RemoteConfig {
                inactivity_probe: Some(probe),
                ..r.clone().into()
            })
            .collect();
        // The same remotes, already bound: only their options change.
        if let Some(e) = server.handle().set_remotes(&remotes).first() {
            eprintln!("fvs-ovsdb-server: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(e) = &server.truncated {
        eprintln!(
            "fvs-ovsdb-server: {}: dropped a damaged tail ({e})",
            config.db.display()
        );
    }
    if let Some(p) = pidfile
        && let Err(e) = std::fs::write(&p, format!("{}\n", std::process::id()))
    {
        eprintln!("fvs-ovsdb-server: {}: {e}", p.display());
        return ExitCode::FAILURE;
    }
    server.run();
    ExitCode::SUCCESS
}
