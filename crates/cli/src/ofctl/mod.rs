//! `fvs-ofctl`: ovs-ofctl's command line over ferrovs's libraries.
//!
//! # Structure
//!
//! [`run`] parses global options (`-O`/`--protocols`), then dispatches on the command name
//! through `COMMANDS`, a table of name, argument counts and handler. A handler gets the
//! parsed [`Options`], its arguments, and an output buffer, and returns a [`CmdError`]:
//! `Fatal(message)`, which [`run`] prints as `fvs-ofctl: message` on stderr with exit status
//! 1 as ovs-ofctl does, or `Printed(text)` (an error reply from the switch, printed as is,
//! status 1).
//!
//! Switch commands go through [`conn`] (targets, hello negotiation, protocol choice,
//! barriers); [`flows`] holds the flow-table commands, [`dump`] the flow, aggregate and description
//! statistics, [`show`] the features and ports, `ports` port descriptions, statistics and
//! `mod-port`, `tables` table statistics and fragment handling, `replace` `replace-flows`
//! and `diff-flows`, `packet_out` `packet-out`, `groups` the group table's commands, `meters` the meter table's, `monitor` `monitor` (`watch` its flow monitors), `snoop` `snoop` (with [`packet`] for hex packets and their
//! summary lines). Every printer starts a message's text with `heading`'s
//! `NAME (OF1.x) (xid=0x..):`. Listings that may come in several parts (flows, ports,
//! tables and their features, groups, meters) are read through `multipart`, which alone
//! reads the parts' "more" flag and prints ` flags=[more]` after every part's heading but
//! the last (`watch` still reads its flow monitor's initial listing itself). `--bundle` (in `flows`) sends flow-table changes as one bundle. Adding a command means adding a row and a
//! handler.
//!
//! Standard output is only written once a command has finished (or failed): ovs-ofctl prints
//! some lines before failing (`usable protocols: ...` before `no usable protocol`), so
//! handlers write into a buffer that is flushed in both cases. `monitor` alone prints as it
//! goes: its flow monitors' listings on standard output, everything else on standard error.

pub mod conn;
pub mod dump;
mod echo;
mod features;
mod flows;
mod groups;
mod heading;
mod meters;
mod monitor;
mod multipart;
mod names;
pub mod packet;
mod packet_out;
mod parse;
mod ports;
mod replace;
mod show;
mod snoop;
mod tables;
mod tables11;
mod watch;

use fvs_flow::Protocols;
use fvs_openflow::protocol::protocols_for_version_name;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Global options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Protocols the user allows (`-O OpenFlow13`); OpenFlow 1.0 (with NXM) by default.
    pub allowed: Protocols,
    /// `--strict`: mod-flows and del-flows touch only the flow with exactly this match and
    /// priority.
    pub strict: bool,
    /// `--timeout=SECS` (`-t`): bounds every read and write on the connection.
    pub timeout: Option<Duration>,
    /// Statistics in flow dumps (`--no-stats` turns them off).
    pub show_stats: bool,
    /// `--sort[=FIELD]` / `--rsort[=FIELD]` for `dump-flows`.
    pub sort: Vec<dump::Sort>,
    /// `--bundle`: flow-table changes are applied all together or not at all.
    pub bundle: bool,
    /// `--names` (`Some(true)`) / `--no-names` (`Some(false)`): ports printed by name or
    /// number; by default, by name when standard output is a terminal.
    pub names: Option<bool>,
    /// `--may-create`: `mod-group` adds the group when it does not exist.
    pub may_create: bool,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// A fatal error: printed as `fvs-ofctl: MESSAGE`.
    #[error("{0}")]
    Fatal(String),
    /// Text to print on standard error as it is (an error reply from the switch).
    #[error("{0}")]
    Printed(String),
    /// Nothing more to print, but this exit status (`diff-flows`: 2 when the flows differ).
    #[error("exit status {0}")]
    Status(u8),
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        Self::Fatal(s)
    }
}

impl From<conn::ConnError> for CmdError {
    fn from(e: conn::ConnError) -> Self {
        Self::Fatal(e.to_string())
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allowed: Protocols::OF10_STD_ANY.or(Protocols::NXM_ANY),
            strict: false,
            timeout: None,
            show_stats: true,
            sort: Vec::new(),
            bundle: false,
            names: None,
            may_create: false,
        }
    }
}

/// A command handler: options, arguments, standard output buffer; `Err` is a fatal message.
type Handler = fn(&Options, &[String], &mut String) -> Result<(), CmdError>;

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
    Command {
        name: "add-flow",
        min_args: 2,
        max_args: 2,
        handler: flows::add_flow,
    },
    Command {
        name: "add-flows",
        min_args: 2,
        max_args: 2,
        handler: flows::add_flows,
    },
    Command {
        name: "mod-flows",
        min_args: 2,
        max_args: 2,
        handler: flows::mod_flows,
    },
    Command {
        name: "del-flows",
        min_args: 1,
        max_args: 2,
        handler: flows::del_flows,
    },
    Command {
        name: "replace-flows",
        min_args: 2,
        max_args: 2,
        handler: replace::replace_flows,
    },
    Command {
        name: "diff-flows",
        min_args: 2,
        max_args: 2,
        handler: replace::diff_flows,
    },
    Command {
        name: "dump-flows",
        min_args: 1,
        max_args: 2,
        handler: dump::dump_flows,
    },
    Command {
        name: "dump-aggregate",
        min_args: 1,
        max_args: 2,
        handler: dump::dump_aggregate,
    },
    Command {
        name: "dump-desc",
        min_args: 1,
        max_args: 1,
        handler: dump::dump_desc,
    },
    Command {
        name: "probe",
        min_args: 1,
        max_args: 1,
        handler: echo::probe,
    },
    Command {
        name: "ping",
        min_args: 1,
        max_args: 2,
        handler: echo::ping,
    },
    Command {
        name: "monitor",
        min_args: 1,
        max_args: 3,
        handler: monitor::monitor,
    },
    Command {
        name: "packet-out",
        min_args: 2,
        max_args: usize::MAX,
        handler: packet_out::packet_out,
    },
    Command {
        name: "snoop",
        min_args: 1,
        max_args: 1,
        handler: snoop::snoop,
    },
    Command {
        name: "show",
        min_args: 1,
        max_args: 1,
        handler: show::show,
    },
    Command {
        name: "dump-ports-desc",
        min_args: 1,
        max_args: 2,
        handler: ports::dump_ports_desc,
    },
    Command {
        name: "dump-ports",
        min_args: 1,
        max_args: 2,
        handler: ports::dump_ports,
    },
    Command {
        name: "mod-port",
        min_args: 3,
        max_args: 3,
        handler: ports::mod_port,
    },
    Command {
        name: "dump-tables",
        min_args: 1,
        max_args: 1,
        handler: tables::dump_tables,
    },
    Command {
        name: "dump-table-features",
        min_args: 1,
        max_args: 1,
        handler: features::dump_table_features,
    },
    Command {
        name: "add-group",
        min_args: 2,
        max_args: 2,
        handler: groups::add_group,
    },
    Command {
        name: "add-groups",
        min_args: 2,
        max_args: 2,
        handler: groups::add_groups,
    },
    Command {
        name: "mod-group",
        min_args: 2,
        max_args: 2,
        handler: groups::mod_group,
    },
    Command {
        name: "del-groups",
        min_args: 1,
        max_args: 2,
        handler: groups::del_groups,
    },
    Command {
        name: "insert-buckets",
        min_args: 1,
        max_args: 2,
        handler: groups::insert_buckets,
    },
    Command {
        name: "remove-buckets",
        min_args: 1,
        max_args: 2,
        handler: groups::remove_buckets,
    },
    Command {
        name: "dump-groups",
        min_args: 1,
        max_args: 2,
        handler: groups::dump_groups,
    },
    Command {
        name: "dump-group-stats",
        min_args: 1,
        max_args: 2,
        handler: groups::dump_group_stats,
    },
    Command {
        name: "dump-group-features",
        min_args: 1,
        max_args: 1,
        handler: groups::dump_group_features,
    },
    Command {
        name: "add-meter",
        min_args: 2,
        max_args: 2,
        handler: meters::add_meter,
    },
    Command {
        name: "mod-meter",
        min_args: 2,
        max_args: 2,
        handler: meters::mod_meter,
    },
    Command {
        name: "del-meter",
        min_args: 1,
        max_args: 2,
        handler: meters::del_meters,
    },
    Command {
        name: "del-meters",
        min_args: 1,
        max_args: 2,
        handler: meters::del_meters,
    },
    Command {
        name: "dump-meter",
        min_args: 1,
        max_args: 2,
        handler: meters::dump_meters,
    },
    Command {
        name: "dump-meters",
        min_args: 1,
        max_args: 2,
        handler: meters::dump_meters,
    },
    Command {
        name: "meter-stats",
        min_args: 1,
        max_args: 2,
        handler: meters::meter_stats,
    },
    Command {
        name: "meter-features",
        min_args: 1,
        max_args: 1,
        handler: meters::meter_features,
    },
    Command {
        name: "get-frags",
        min_args: 1,
        max_args: 1,
        handler: tables::get_frags,
    },
    Command {
        name: "set-frags",
        min_args: 2,
        max_args: 2,
        handler: tables::set_frags,
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
        Err(CmdError::Fatal(message)) => {
            let _ = writeln!(stderr, "fvs-ofctl: {message}");
            1
        }
        Err(CmdError::Printed(text)) => {
            let _ = stderr.write_all(text.as_bytes());
            1
        }
        Err(CmdError::Status(status)) => status,
    }
}

/// `-p FILE`, `--private-key[=]FILE`, `-c`/`--certificate`, `-C`/`--ca-cert`: which TLS
/// file and its name, or `None` when `arg` is another option.
fn ssl_option(
    arg: &str,
    args: &mut impl Iterator<Item = String>,
) -> Result<Option<(fvs_tls::FileRole, std::path::PathBuf)>, CmdError> {
    use fvs_tls::FileRole;
    const SSL: [(&str, &str, FileRole); 3] = [
        ("-p", "--private-key", FileRole::PrivateKey),
        ("-c", "--certificate", FileRole::Certificate),
        ("-C", "--ca-cert", FileRole::CaCert),
    ];
    for (short, long, role) in SSL {
        if let Some(v) = arg.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
            return Ok(Some((role, v.into())));
        }
        if arg == short || arg == long {
            let v = args
                .next()
                .ok_or_else(|| format!("option '{arg}' requires an argument"))?;
            return Ok(Some((role, v.into())));
        }
    }
    Ok(None)
}

fn run_to(args: impl IntoIterator<Item = String>, out: &mut String) -> Result<(), CmdError> {
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
        } else if arg == "--strict" {
            opts.strict = true;
        } else if arg == "--may-create" {
            opts.may_create = true;
        } else if arg == "--bundle" {
            opts.bundle = true;
        } else if arg == "--names" || arg == "--no-names" {
            opts.names = Some(arg == "--names");
        } else if arg == "--no-stats" {
            opts.show_stats = false;
        } else if arg == "--sort" || arg == "--rsort" {
            opts.sort.push(dump::Sort::parse(arg == "--rsort", None)?);
        } else if let Some(v) = arg.strip_prefix("--sort=") {
            opts.sort.push(dump::Sort::parse(false, Some(v))?);
        } else if let Some(v) = arg.strip_prefix("--rsort=") {
            opts.sort.push(dump::Sort::parse(true, Some(v))?);
        } else if let Some(v) = arg.strip_prefix("--timeout=") {
            opts.timeout = Some(parse_timeout(v)?);
        } else if arg == "-t" || arg == "--timeout" {
            let v = args
                .next()
                .ok_or_else(|| format!("option '{arg}' requires an argument"))?;
            opts.timeout = Some(parse_timeout(&v)?);
        } else if let Some(file) = ssl_option(&arg, &mut args)? {
            // -p/-c/-C: the process's TLS files, as ovs-ofctl's stream_ssl options.
            conn::set_tls_file(file.0, file.1);
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unrecognized option '{arg}'").into());
        } else {
            positional.push(arg);
        }
    }
    let Some((name, rest)) = positional.split_first() else {
        return Err(CmdError::Fatal(
            "missing command name; use --help for help".to_string(),
        ));
    };
    let cmd = COMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("unknown command '{name}'; use --help for help"))?;
    if rest.len() < cmd.min_args {
        return Err(CmdError::Fatal(format!(
            "'{}' command requires at least {} arguments",
            cmd.name, cmd.min_args
        )));
    }
    if rest.len() > cmd.max_args {
        return Err(CmdError::Fatal(format!(
            "'{}' command takes at most {} arguments",
            cmd.name, cmd.max_args
        )));
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

/// `--timeout` seconds: a positive integer, as ovs-ofctl requires.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
        _ => Err(format!("value {s} on -t or --timeout is invalid")),
    }
}

/// ovs-ofctl's wording of an I/O error ("No such file or directory"): the C library's text
/// without Rust's " (os error N)".
pub(crate) fn os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
