//! `fvs-ovsdb-server [--db FILE | FILE] [--schema FILE] [--remote REMOTE]... [--pidfile FILE]`
//!
//! Defaults: the database `$FVS_DBDIR/conf.db`, the remote `punix:$FVS_RUNDIR/db.sock`.

use std::path::PathBuf;
use std::process::ExitCode;

use fvs_ovsdb_server::{Config, Remote, Server};

fn usage() -> &'static str {
    "usage: fvs-ovsdb-server [--db FILE | FILE] [--schema FILE] [--remote punix:PATH|ptcp:PORT[:IP]]... [--pidfile FILE]"
}

fn parse(args: &[String]) -> Result<(Config, Option<PathBuf>), String> {
    let mut db = None;
    let mut schema = None;
    let mut remotes = Vec::new();
    let mut pidfile = None;
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
    Ok((
        Config {
            db,
            schema,
            remotes,
        },
        pidfile,
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, pidfile) = match parse(&args) {
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
