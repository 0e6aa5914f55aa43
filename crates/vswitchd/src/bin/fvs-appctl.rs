//! `fvs-appctl [-t TARGET] COMMAND [ARG...]`: runs a command of a running fvs-vswitchd (or
//! any daemon speaking Open vSwitch's unixctl protocol). TARGET is a socket path, or a
//! program name whose `NAME.ctl` is looked up in `FVS_RUNDIR`; the default is fvs-vswitchd.

use std::path::PathBuf;
use std::process::ExitCode;

use fvs_vswitchd::dirs::Dirs;
use fvs_vswitchd::unixctl::{CallError, call};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut target = None;
    while let Some(first) = args.first() {
        if first == "-t" || first == "--target" {
            if args.len() < 2 {
                eprintln!("fvs-appctl: {first} requires an argument");
                return ExitCode::from(1);
            }
            target = Some(args.remove(1));
            args.remove(0);
        } else if let Some(t) = first.strip_prefix("--target=") {
            target = Some(t.to_owned());
            args.remove(0);
        } else {
            break;
        }
    }
    let Some(command) = args.first().cloned() else {
        eprintln!("fvs-appctl: at least one non-option argument is required (use --help for help)");
        return ExitCode::from(1);
    };
    let dirs = Dirs::from_env();
    let path = match target {
        Some(t) if t.contains('/') => PathBuf::from(t),
        Some(t) => dirs.run.join(format!("{t}.ctl")),
        None => dirs.ctl(),
    };
    match call(&path, &command, &args[1..]) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(CallError::Server(e)) => {
            eprint!("{e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            eprintln!("fvs-appctl: {}: server returned an error", path.display());
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("fvs-appctl: cannot connect to \"{}\" ({e})", path.display());
            ExitCode::from(1)
        }
    }
}
