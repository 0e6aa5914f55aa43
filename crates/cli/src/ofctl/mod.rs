//! `fvs-ofctl`: ovs-ofctl's command line over ferrovs's libraries.
//!
//! # Structure
//!
//! [`run`] parses global options (`-O`/`--protocols`), then dispatches on the command name
//! through `COMMANDS`, a table of name, argument counts and handler. A handler gets the
//! parsed [`Options`], its arguments, and an output buffer, and returns `Err(message)` for a
//! fatal error, which [`run`] prints as `fvs-ofctl: message` on stderr with exit status 1,
//! as ovs-ofctl does. Adding a command (`dump-flows`, `add-flow` against a switch) means adding
//! a row and a handler module.
//!
//! Standard output is only written once a command has finished (or failed): ovs-ofctl prints
//! some lines before failing (`usable protocols: ...` before `no usable protocol`), so
//! handlers write into a buffer that is flushed in both cases.

mod parse;

use fvs_flow::Protocols;
use fvs_openflow::protocol::protocols_for_version_name;
use std::io::Write;
use std::process::ExitCode;

/// Global options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Protocols the user allows (`-O OpenFlow13`); OpenFlow 1.0 (with NXM) by default.
    pub allowed: Protocols,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allowed: Protocols::OF10_STD_ANY.or(Protocols::NXM_ANY),
        }
    }
}

/// A command handler: options, arguments, standard output buffer; `Err` is a fatal message.
type Handler = fn(&Options, &[String], &mut String) -> Result<(), String>;

/// One command: its name, how many arguments it takes, and its handler.
struct Command {
    name: &'static str,
    min_args: usize,
    max_args: usize,
    handler: Handler,
}

/// Every command `fvs-ofctl` knows.
const COMMANDS: &[Command] = &[
    Command {
        name: "parse-flow",
        min_args: 1,
        max_args: 1,
        handler: parse::parse_flow,
    },
    Command {
        name: "parse-flows",
        min_args: 1,
        max_args: 1,
        handler: parse::parse_flows,
    },
];

/// Runs `fvs-ofctl` with `args` (without the program name), writing to the process's
/// standard output and error.
pub fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    ExitCode::from(run_with(args, &mut stdout, &mut stderr))
}

/// Runs `fvs-ofctl` with explicit output streams; returns the exit status.
pub fn run_with(
    args: impl IntoIterator<Item = String>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let mut out = String::new();
    let result = run_to(args, &mut out);
    // A closed stdout is not worth a second error; the exit status still says what happened.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    match result {
        Ok(()) => 0,
        Err(message) => {
            let _ = writeln!(stderr, "fvs-ofctl: {message}");
            1
        }
    }
}

fn run_to(args: impl IntoIterator<Item = String>, out: &mut String) -> Result<(), String> {
    let mut opts = Options::default();
    let mut positional: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if let Some(v) = arg.strip_prefix("--protocols=") {
            opts.allowed = parse_versions(v)?;
        } else if arg == "-O" || arg == "--protocols" {
            let v = args
                .next()
                .ok_or_else(|| format!("option '{arg}' requires an argument"))?;
            opts.allowed = parse_versions(&v)?;
        } else if let Some(v) = arg.strip_prefix("-O").filter(|v| !v.is_empty()) {
            opts.allowed = parse_versions(v)?;
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unrecognized option '{arg}'"));
        } else {
            positional.push(arg);
        }
    }
    let Some((name, rest)) = positional.split_first() else {
        return Err("missing command name; use --help for help".to_string());
    };
    let cmd = COMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("unknown command '{name}'; use --help for help"))?;
    if rest.len() < cmd.min_args {
        return Err(format!(
            "'{}' command requires at least {} arguments",
            cmd.name, cmd.min_args
        ));
    }
    if rest.len() > cmd.max_args {
        return Err(format!(
            "'{}' command takes at most {} arguments",
            cmd.name, cmd.max_args
        ));
    }
    (cmd.handler)(&opts, rest, out)
}

/// `OpenFlow10,OpenFlow13` → the union of those versions' protocols.
fn parse_versions(s: &str) -> Result<Protocols, String> {
    let mut set = Protocols::NONE;
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let p = protocols_for_version_name(name)
            .ok_or_else(|| format!("Unknown OpenFlow version: \"{name}\""))?;
        set = set.or(p);
    }
    if set.is_empty() {
        return Err(format!("{s}: no OpenFlow versions given"));
    }
    Ok(set)
}
