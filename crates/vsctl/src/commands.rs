//! The command line: global options, `--`-separated commands with their own options, and the
//! loop that fetches, runs, commits and prints.
//!
//! The bridge commands (add-br, add-port, ...) follow ovs-vsctl's model of the database:
//! bridges are the `Bridge` rows plus "fake bridges" (ports with `fake_bridge=true`, standing
//! for a VLAN of their parent); a port belongs to the fake bridge whose VLAN its `tag` names,
//! else to its real bridge. The model is recomputed from the copy of the database before each
//! command, so a command always sees the effects of the ones before it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use fvs_ovsdb::{Atom, ColumnType, DatabaseSchema, Datum};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{self, Db};
use crate::error::VsctlError;
use crate::jsonrpc::{Client, Remote};
use crate::output::{Data, Format, Style};
use crate::text::{self, SymbolTable};

/// Global options.
#[derive(Debug, Clone, Default)]
struct Options {
    db: Option<String>,
    timeout: Option<u64>,
    no_wait: bool,
    dry_run: bool,
    oneline: bool,
    /// `--retry`: keep trying to connect (until `--timeout`, if any).
    retry: bool,
    /// `-V`/`--version`: print the version and stop.
    version: bool,
    style: Style,
    /// `-p`/`--private-key`, `-c`/`--certificate`, `-C`/`--ca-cert`: for `--db=ssl:`.
    tls: std::sync::Arc<fvs_tls::TlsSource>,
}

/// One command: its name, options and arguments.
#[derive(Debug, Clone)]
struct Command {
    name: String,
    options: BTreeMap<String, Option<String>>,
    args: Vec<String>,
}

impl Command {
    fn has(&self, option: &str) -> bool {
        self.options.contains_key(option)
    }
}

/// How a run of fvs-vsctl ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit with this status.
    Code(u8),
    /// `--timeout` expired: ovs-vsctl writes [`ALARM_MESSAGE`] and is killed by `SIGALRM`
    /// then, and a program that mimics it ends the same way.
    Alarm,
}

/// What ovs-vsctl writes when its `--timeout` expires, before `SIGALRM` ends it.
pub const ALARM_MESSAGE: &str = "terminating with signal 14 (Alarm clock)";

/// The `--timeout` (`-t`) that `args` give, if any; `None` also when they do not parse
/// (the run itself reports that).
pub fn timeout(args: &[String]) -> Option<Duration> {
    let (options, _) = parse_command_line(args).ok()?;
    options.timeout.map(Duration::from_secs)
}

/// Runs fvs-vsctl with `args` (without the program name).
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let mut warnings = Vec::new();
    let result = run_inner(args, &mut warnings);
    for w in &warnings {
        // Nothing sensible remains to be done if stderr is gone.
        let _ = writeln!(err, "fvs-vsctl: {w}");
    }
    match result {
        Ok((text, code)) => {
            // A closed stdout is not worth a second error.
            let _ = out.write_all(text.as_bytes());
            Exit::Code(code)
        }
        // The caller writes ALARM_MESSAGE: a watchdog may be about to write it too.
        Err(VsctlError::Timeout(_)) => Exit::Alarm,
        Err(e) => {
            crate::report(err, &e);
            Exit::Code(1)
        }
    }
}

fn run_inner(args: &[String], warnings: &mut Vec<String>) -> Result<(String, u8), VsctlError> {
    let (options, commands) = match parse_command_line(args) {
        Err(VsctlError::Usage(_)) if args.iter().any(|a| a == "-V" || a == "--version") => {
            return Ok((version_text(), 0));
        }
        other => other?,
    };
    if options.version {
        return Ok((version_text(), 0));
    }
    for c in &commands {
        check_command(c)?;
    }
    let deadline = options
        .timeout
        .map(|t| (Instant::now() + Duration::from_secs(t), t));
    let target = match &options.db {
        Some(db) => db.clone(),
        None => {
            let rundir = std::env::var("FVS_RUNDIR").unwrap_or_else(|_| "/var/run/ferrovs".into());
            format!("unix:{rundir}/db.sock")
        }
    };
    let remote = Remote::parse(&target)?;
    let mut client = loop {
        match Client::connect(
            &remote,
            options.timeout.map(Duration::from_secs),
            &options.tls,
        ) {
            Ok(c) => break c,
            // The deadline (and the caller's alarm) ends the retries.
            Err(VsctlError::Connect { .. }) if options.retry => {
                check_deadline(deadline)?;
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    };
    let schema_json = client.call("get_schema", json!(["Open_vSwitch"]))?;
    let schema =
        DatabaseSchema::from_json(&schema_json).map_err(|e| VsctlError::Schema(e.to_string()))?;
    // The bridge commands read a known few columns of ports and interfaces (db::NARROW);
    // the database commands may read any.
    let narrow = commands.iter().all(|c| {
        !matches!(
            c.name.as_str(),
            "list"
                | "find"
                | "get"
                | "set"
                | "add"
                | "remove"
                | "clear"
                | "create"
                | "destroy"
                | "wait-until"
                | "emer-reset"
        )
    });
    loop {
        let reply = client.call("transact", Db::fetch_ops(&schema, narrow))?;
        let mut db = Db::from_reply(schema.clone(), &reply)?;
        let mut ctx = Ctx::new(&mut db, options.style);
        ctx.ensure_root();
        let mut outputs = Vec::new();
        let mut status = 0;
        let mut waiting = false;
        for c in &commands {
            let result = ctx.execute(c);
            *warnings = ctx.warnings.clone();
            let result = result?;
            match result {
                Outcome::Output(s) => outputs.push(s),
                Outcome::Exit(code) => {
                    status = code;
                    outputs.push(String::new());
                }
                Outcome::NotYet => {
                    waiting = true;
                    break;
                }
            }
        }
        if waiting {
            check_deadline(deadline)?;
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        if status != 0 {
            return Ok((join_outputs(&options, &outputs), status));
        }
        let symbols_unused = ctx.symbols.unused();
        if let Some(name) = symbols_unused {
            return Err(VsctlError::Command(format!(
                "row id \"{name}\" is referenced but never created (e.g. with \"-- --id={name} create ...\")"
            )));
        }
        let changed = db.changed();
        if !db.wrote() && !changed || options.dry_run {
            return Ok((join_outputs(&options, &outputs), 0));
        }
        let mut ops = db.commit_ops();
        let increment = !options.no_wait && db.wrote();
        let ovs_uuid = db.rows("Open_vSwitch").next().map(|(u, _)| u);
        if increment && let Some(ovs) = ovs_uuid.filter(|u| !Db::is_temp(*u)) {
            let w = json!([["_uuid", "==", ["uuid", ovs.hyphenated().to_string()]]]);
            ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": w,
                "mutations": [["next_cfg", "+=", 1]]}));
            ops.push(json!({"op": "select", "table": "Open_vSwitch", "where": w,
                "columns": ["next_cfg"]}));
        }
        ops.push(
            json!({"op": "comment", "comment": format!("fvs-vsctl: fvs-vsctl {}", args.join(" "))}),
        );
        let mut params = vec![Value::String(schema.name.clone())];
        params.extend(ops.iter().cloned());
        let results = client.call("transact", Value::Array(params))?;
        let results = results.as_array().cloned().unwrap_or_default();
        if let Some(e) = transaction_error(&results) {
            if e.get("error").and_then(Value::as_str) == Some("timed out") {
                // A verified column changed under us: start over, as ovs-vsctl does.
                check_deadline(deadline)?;
                continue;
            }
            return Err(VsctlError::Transaction(e.to_string()));
        }
        let real = db::real_uuids(&db, &ops, &results);
        let mut text = join_outputs(&options, &outputs);
        for (temp, real) in &real {
            text = text.replace(
                &temp.hyphenated().to_string(),
                &real.hyphenated().to_string(),
            );
        }
        if increment && changed {
            let next_cfg = results
                .iter()
                .rev()
                .find_map(|r| r.get("rows")?.get(0)?.get("next_cfg")?.as_i64());
            if let Some(next_cfg) = next_cfg {
                wait_for_cur_cfg(&mut client, &schema, next_cfg, deadline)?;
            }
        }
        return Ok((text, 0));
    }
}

/// Waits until the switch has caught up with `next_cfg` (`cur_cfg` at least as large).
///
/// Rather than polling, each round asks the server to hold a `wait` until `cur_cfg` differs
/// from what was last read: the server answers as soon as the switch commits its write-back
/// (or at the deadline), so the client returns at the moment the switch is done.
fn wait_for_cur_cfg(
    client: &mut Client,
    schema: &DatabaseSchema,
    next_cfg: i64,
    deadline: Option<(Instant, u64)>,
) -> Result<(), VsctlError> {
    loop {
        let reply = client.call(
            "transact",
            json!([schema.name, {"op": "select", "table": "Open_vSwitch", "where": [],
                "columns": ["cur_cfg"]}]),
        )?;
        let cur = reply
            .get(0)
            .and_then(|r| r.get("rows"))
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("cur_cfg"))
            .and_then(Value::as_i64);
        let Some(cur) = cur else {
            // No root row (a database being reset): look again shortly.
            check_deadline(deadline)?;
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if cur >= next_cfg {
            return Ok(());
        }
        check_deadline(deadline)?;
        let mut wait = json!({"op": "wait", "table": "Open_vSwitch", "where": [],
            "columns": ["cur_cfg"], "until": "!=", "rows": [{"cur_cfg": cur}]});
        if let Some((at, _)) = deadline {
            let left = at.saturating_duration_since(Instant::now()).as_millis();
            wait["timeout"] = json!(u64::try_from(left).unwrap_or(u64::MAX));
        }
        // A "timed out" result only means the deadline came; the loop says so.
        client.call("transact", json!([schema.name, wait]))?;
    }
}

fn check_deadline(deadline: Option<(Instant, u64)>) -> Result<(), VsctlError> {
    match deadline {
        Some((at, secs)) if Instant::now() >= at => Err(VsctlError::Timeout(secs)),
        _ => Ok(()),
    }
}

/// The first error object in a transaction's results.
fn transaction_error(results: &[Value]) -> Option<Value> {
    results
        .iter()
        .find(|r| r.get("error").is_some_and(|e| !e.is_null()))
        .cloned()
}

fn join_outputs(options: &Options, outputs: &[String]) -> String {
    let mut text = String::new();
    for o in outputs {
        if options.oneline {
            let trimmed = o.strip_suffix('\n').unwrap_or(o);
            text.push_str(&trimmed.replace('\n', "\\n"));
            text.push('\n');
        } else {
            text.push_str(o);
        }
    }
    text
}

/// `--version`'s text: the program, and the schema version it was made for.
fn version_text() -> String {
    let schema = serde_json::from_str::<Value>(crate::SCHEMA)
        .ok()
        .and_then(|s| s.get("version")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "fvs-vsctl (ferrovs) {}\nDB Schema {schema}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Splits the command line into global options and commands.
fn parse_command_line(args: &[String]) -> Result<(Options, Vec<Command>), VsctlError> {
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" || !arg.starts_with('-') {
            break;
        }
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let needs_value = matches!(
            name,
            "--db"
                | "--timeout"
                | "--format"
                | "--data"
                | "-t"
                | "-f"
                | "-d"
                | "-p"
                | "--private-key"
                | "-c"
                | "--certificate"
                | "-C"
                | "--ca-cert"
                | "--bootstrap-ca-cert"
        );
        let value = if needs_value && value.is_none() {
            i += 1;
            match args.get(i) {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(VsctlError::Usage(format!(
                        "option '{name}' requires an argument"
                    )));
                }
            }
        } else {
            value
        };
        let value_text = value.clone().unwrap_or_default();
        match name {
            "--db" => options.db = value,
            "-p" | "--private-key" => options
                .tls
                .set_file(fvs_tls::FileRole::PrivateKey, value.map(Into::into)),
            "-c" | "--certificate" => options
                .tls
                .set_file(fvs_tls::FileRole::Certificate, value.map(Into::into)),
            "-C" | "--ca-cert" => options
                .tls
                .set_file(fvs_tls::FileRole::CaCert, value.map(Into::into)),
            // The CA file to read, or to create from the server's chain when it is missing.
            "--bootstrap-ca-cert" => {
                options
                    .tls
                    .set_file(fvs_tls::FileRole::CaCert, value.map(Into::into));
                options.tls.set_bootstrap(true);
            }
            "--timeout" | "-t" => {
                options.timeout = Some(value_text.parse().map_err(|_| {
                    VsctlError::Usage(format!("value {value_text} on -t or --timeout is invalid"))
                })?);
            }
            "--no-wait" => options.no_wait = true,
            "--dry-run" => options.dry_run = true,
            "--oneline" => options.oneline = true,
            "--retry" => options.retry = true,
            "--pretty" => options.style.pretty = true,
            "-V" | "--version" => options.version = true,
            // Logging: fvs-vsctl logs nothing beyond its warnings on stderr.
            "--no-syslog" | "--verbose" | "--log-file" | "--syslog-method" | "--syslog-target" => {}
            v if v.starts_with("-v") => {}
            "--format" | "-f" => {
                options.style.format = match value_text.as_str() {
                    "list" => Format::List,
                    "table" => Format::Table,
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    other => {
                        return Err(VsctlError::Usage(format!(
                            "unknown output format \"{other}\""
                        )));
                    }
                };
            }
            "--data" | "-d" => {
                options.style.data = match value_text.as_str() {
                    "string" => Data::String,
                    "bare" => Data::Bare,
                    "json" => Data::Json,
                    other => {
                        return Err(VsctlError::Usage(format!(
                            "unknown cell format \"{other}\""
                        )));
                    }
                };
            }
            "--no-headings" | "--no-heading" => options.style.headings = false,
            "--bare" => {
                options.style.format = Format::List;
                options.style.data = Data::Bare;
                options.style.headings = false;
            }
            _ if is_command_option(name) => break,
            _ => return Err(VsctlError::Usage(format!("unrecognized option '{arg}'"))),
        }
        i += 1;
    }
    if options.style.format == Format::Json {
        options.style.data = Data::Json;
    }
    let mut commands = Vec::new();
    let rest = &args[i..];
    for group in rest.split(|a| a == "--") {
        if group.is_empty() {
            continue;
        }
        let mut opts = BTreeMap::new();
        let mut j = 0;
        while j < group.len() && group[j].starts_with("--") {
            let (n, v) = match group[j].split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (group[j].clone(), None),
            };
            opts.insert(n, v);
            j += 1;
        }
        let Some(name) = group.get(j) else {
            return Err(VsctlError::Usage(
                "missing command name (use --help for help)".into(),
            ));
        };
        commands.push(Command {
            name: name.clone(),
            options: opts,
            args: group[j + 1..].to_vec(),
        });
    }
    if commands.is_empty() {
        return Err(VsctlError::Usage(
            "missing command name (use --help for help)".into(),
        ));
    }
    Ok((options, commands))
}

fn is_command_option(name: &str) -> bool {
    matches!(
        name,
        "--may-exist"
            | "--if-exists"
            | "--id"
            | "--columns"
            | "--all"
            | "--real"
            | "--fake"
            | "--with-iface"
            | "--fake-iface"
            | "--inactivity-probe"
            | "--bootstrap"
    )
}

/// Command names, their argument counts and accepted options.
const COMMANDS: &[(&str, usize, usize, &[&str])] = &[
    ("init", 0, 0, &[]),
    ("show", 0, 0, &[]),
    ("emer-reset", 0, 0, &[]),
    ("add-br", 1, 3, &["--may-exist"]),
    ("del-br", 1, 1, &["--if-exists"]),
    ("list-br", 0, 0, &["--real", "--fake"]),
    ("br-exists", 1, 1, &[]),
    ("br-to-vlan", 1, 1, &[]),
    ("br-to-parent", 1, 1, &[]),
    ("br-set-external-id", 2, 3, &[]),
    ("br-get-external-id", 1, 2, &[]),
    ("list-ports", 1, 1, &[]),
    ("add-port", 2, usize::MAX, &["--may-exist"]),
    ("add-bond", 4, usize::MAX, &["--may-exist", "--fake-iface"]),
    ("add-bond-iface", 2, 2, &["--may-exist"]),
    ("del-bond-iface", 1, 2, &["--if-exists"]),
    ("comment", 0, usize::MAX, &[]),
    ("del-port", 1, 2, &["--if-exists", "--with-iface"]),
    ("port-to-br", 1, 1, &[]),
    ("list-ifaces", 1, 1, &[]),
    ("iface-to-br", 1, 1, &[]),
    ("get-controller", 1, 1, &[]),
    ("del-controller", 1, 1, &[]),
    ("set-controller", 1, usize::MAX, &["--inactivity-probe"]),
    ("get-fail-mode", 1, 1, &[]),
    ("del-fail-mode", 1, 1, &[]),
    ("set-fail-mode", 2, 2, &[]),
    ("get-manager", 0, 0, &[]),
    ("del-manager", 0, 0, &[]),
    ("set-manager", 1, usize::MAX, &["--inactivity-probe"]),
    ("get-ssl", 0, 0, &[]),
    ("del-ssl", 0, 0, &[]),
    ("set-ssl", 3, 3, &["--bootstrap"]),
    ("add-aa-mapping", 3, 3, &[]),
    ("del-aa-mapping", 3, 3, &[]),
    ("get-aa-mapping", 1, 1, &[]),
    ("list", 1, usize::MAX, &["--if-exists", "--columns"]),
    ("find", 1, usize::MAX, &["--columns"]),
    ("get", 2, usize::MAX, &["--if-exists", "--id"]),
    ("set", 3, usize::MAX, &["--if-exists"]),
    ("add", 4, usize::MAX, &["--if-exists"]),
    ("remove", 4, usize::MAX, &["--if-exists"]),
    ("clear", 3, usize::MAX, &["--if-exists"]),
    ("create", 2, usize::MAX, &["--id"]),
    ("destroy", 1, usize::MAX, &["--if-exists", "--all"]),
    ("wait-until", 2, usize::MAX, &[]),
];

fn check_command(c: &Command) -> Result<(), VsctlError> {
    let Some((_, min, max, opts)) = COMMANDS.iter().find(|(n, ..)| *n == c.name) else {
        return Err(VsctlError::UnknownCommand(c.name.clone()));
    };
    for o in c.options.keys() {
        if !opts.contains(&o.as_str()) {
            return Err(VsctlError::BadCommandOption {
                command: c.name.clone(),
                option: o.clone(),
            });
        }
    }
    if c.args.len() < *min {
        return Err(VsctlError::TooFewArguments {
            command: c.name.clone(),
            min: *min,
        });
    }
    if c.args.len() > *max {
        return Err(VsctlError::TooManyArguments {
            command: c.name.clone(),
            max: *max,
            dashed: c.args.iter().any(|a| a.starts_with('-')),
        });
    }
    Ok(())
}

/// What a command produced.
enum Outcome {
    /// Text to print.
    Output(String),
    /// Stop with this exit code (br-exists).
    Exit(u8),
    /// wait-until's condition does not hold yet.
    NotYet,
}

/// `--id=@name` symbols.
#[derive(Default)]
struct Symbols {
    defined: BTreeMap<String, Uuid>,
    referenced: BTreeSet<String>,
}

impl Symbols {
    /// A referenced symbol that no command defined.
    fn unused(&self) -> Option<String> {
        self.referenced
            .iter()
            .find(|n| !self.defined.contains_key(*n))
            .cloned()
    }
}

impl SymbolTable for Symbols {
    fn lookup(&mut self, name: &str) -> Option<Uuid> {
        self.referenced.insert(name.to_owned());
        self.defined.get(name).copied()
    }
}

/// A bridge as ovs-vsctl sees it: a real `Bridge` row, or a fake bridge (a VLAN of a parent).
#[derive(Debug, Clone)]
struct BridgeInfo {
    name: String,
    /// The `Bridge` row: the bridge itself, or a fake bridge's parent.
    row: Uuid,
    /// For a fake bridge, its parent's name and its VLAN.
    fake: Option<(String, i64, Uuid)>,
}

/// A port: its row, name and the bridge it belongs to.
#[derive(Debug, Clone)]
struct PortInfo {
    uuid: Uuid,
    name: String,
    bridge: String,
}

/// The bridge model of the current copy.
struct Model {
    bridges: BTreeMap<String, BridgeInfo>,
    ports: BTreeMap<String, PortInfo>,
    /// Interface name → (interface row, port name).
    ifaces: BTreeMap<String, (Uuid, String)>,
}

/// The state commands run in.
struct Ctx<'a> {
    db: &'a mut Db,
    /// The bridge model of the copy at a generation: rebuilding it costs a walk over every
    /// port and interface, and a long `--` chain of commands asks for it several times per
    /// command.
    model_cache: RefCell<Option<(u64, Rc<Model>)>>,
    /// Warnings for stderr, printed whether or not the run succeeds.
    warnings: Vec<String>,
    style: Style,
    symbols: Symbols,
}

fn str_atom(d: &Datum) -> Option<&str> {
    match d.as_scalar() {
        Some(Atom::String(s)) => Some(s),
        _ => None,
    }
}

fn int_atom(d: &Datum) -> Option<i64> {
    match d.as_scalar() {
        Some(Atom::Integer(i)) => Some(*i),
        _ => None,
    }
}

fn uuids(d: &Datum) -> Vec<Uuid> {
    d.atoms().filter_map(Atom::as_uuid).collect()
}

fn uuid_set(items: impl IntoIterator<Item = Uuid>) -> Datum {
    Datum::Set(items.into_iter().map(Atom::Uuid).collect())
}

fn string(s: &str) -> Datum {
    Datum::scalar(Atom::String(s.to_owned()))
}

impl<'a> Ctx<'a> {
    fn new(db: &'a mut Db, style: Style) -> Self {
        Self {
            db,
            model_cache: RefCell::new(None),
            warnings: Vec::new(),
            style,
            symbols: Symbols::default(),
        }
    }

    /// ovs-vsctl creates the root `Open_vSwitch` row whenever it is missing.
    fn ensure_root(&mut self) {
        if self.db.rows("Open_vSwitch").next().is_none() {
            self.db.insert("Open_vSwitch");
        }
    }

    fn ovs(&self) -> Uuid {
        self.db
            .rows("Open_vSwitch")
            .next()
            .map_or(Uuid::nil(), |(u, _)| u)
    }

    /// The bridge model of the copy as it is now.
    fn model(&self) -> Rc<Model> {
        let generation = self.db.generation();
        if let Some((g, m)) = &*self.model_cache.borrow()
            && *g == generation
        {
            return m.clone();
        }
        let m = Rc::new(self.build_model());
        *self.model_cache.borrow_mut() = Some((generation, m.clone()));
        m
    }

    /// Brings the cached model up to date after edits made since generation `before`, by
    /// `update` rather than by a rebuild. Only when the cache was current at `before` and no
    /// one else holds it; otherwise the next [`Ctx::model`] rebuilds it.
    fn patch_model(&self, before: u64, update: impl FnOnce(&mut Model)) {
        let mut cache = self.model_cache.borrow_mut();
        if let Some((generation, model)) = cache.as_mut()
            && *generation == before
            && let Some(model) = Rc::get_mut(model)
        {
            update(model);
            *generation = self.db.generation();
        } else {
            *cache = None;
        }
    }

    fn build_model(&self) -> Model {
        let db = &*self.db;
        let mut bridges = BTreeMap::new();
        let mut ports = BTreeMap::new();
        let mut ifaces = BTreeMap::new();
        let ovs = self.ovs();
        let bridge_rows = uuids(&db.get("Open_vSwitch", ovs, "bridges"));
        for &br in &bridge_rows {
            let Some(name) = db
                .row("Bridge", br)
                .and_then(|r| r.get("name"))
                .and_then(str_atom)
            else {
                continue;
            };
            bridges.insert(
                name.to_owned(),
                BridgeInfo {
                    name: name.to_owned(),
                    row: br,
                    fake: None,
                },
            );
            for p in uuids(&db.get("Bridge", br, "ports")) {
                let Some(row) = db.row("Port", p) else {
                    continue;
                };
                let fake = matches!(
                    row.get("fake_bridge").and_then(Datum::as_scalar),
                    Some(Atom::Boolean(true))
                );
                let tag = row.get("tag").and_then(int_atom);
                if let (true, Some(tag), Some(pname)) =
                    (fake, tag, row.get("name").and_then(str_atom))
                    && (0..=4095).contains(&tag)
                {
                    bridges.insert(
                        pname.to_owned(),
                        BridgeInfo {
                            name: pname.to_owned(),
                            row: br,
                            fake: Some((name.to_owned(), tag, p)),
                        },
                    );
                }
            }
        }
        for &br in &bridge_rows {
            let Some(brname) = db
                .row("Bridge", br)
                .and_then(|r| r.get("name"))
                .and_then(str_atom)
            else {
                continue;
            };
            for p in uuids(&db.get("Bridge", br, "ports")) {
                let Some(row) = db.row("Port", p) else {
                    continue;
                };
                let Some(pname) = row.get("name").and_then(str_atom) else {
                    continue;
                };
                if ports.contains_key(pname) {
                    continue;
                }
                let tag = row.get("tag").and_then(int_atom);
                let owner = bridges
                    .values()
                    .find(|b| {
                        b.fake
                            .as_ref()
                            .is_some_and(|(parent, vlan, _)| parent == brname && Some(*vlan) == tag)
                    })
                    .map_or(brname.to_owned(), |b| b.name.clone());
                ports.insert(
                    pname.to_owned(),
                    PortInfo {
                        uuid: p,
                        name: pname.to_owned(),
                        bridge: owner,
                    },
                );
                for i in uuids(
                    row.get("interfaces")
                        .unwrap_or(&Datum::Set(BTreeSet::new())),
                ) {
                    if let Some(iname) = db
                        .row("Interface", i)
                        .and_then(|r| r.get("name"))
                        .and_then(str_atom)
                    {
                        ifaces
                            .entry(iname.to_owned())
                            .or_insert((i, pname.to_owned()));
                    }
                }
            }
        }
        Model {
            bridges,
            ports,
            ifaces,
        }
    }

    fn execute(&mut self, c: &Command) -> Result<Outcome, VsctlError> {
        let a = &c.args;
        let out = match c.name.as_str() {
            "init" => String::new(),
            "show" => self.show(),
            "emer-reset" => self.emer_reset(),
            "add-br" => self.add_br(c)?,
            "del-br" => self.del_br(c)?,
            "list-br" => {
                let m = self.model();
                self.verify_bridges();
                let mut s = String::new();
                for b in m.bridges.values() {
                    let show = match b.fake {
                        Some(_) => !c.has("--real"),
                        None => !c.has("--fake"),
                    };
                    if show {
                        s.push_str(&b.name);
                        s.push('\n');
                    }
                }
                s
            }
            "br-exists" => {
                self.verify_bridges();
                if !self.model().bridges.contains_key(&a[0]) {
                    return Ok(Outcome::Exit(2));
                }
                String::new()
            }
            "br-to-vlan" => {
                let b = self.find_bridge(&a[0])?;
                format!("{}\n", b.fake.map_or(0, |(_, v, _)| v))
            }
            "br-to-parent" => {
                let b = self.find_bridge(&a[0])?;
                format!("{}\n", b.fake.map_or(b.name.clone(), |(p, _, _)| p))
            }
            "br-set-external-id" => {
                let b = self.find_bridge(&a[0])?;
                let (table, row, key) = match &b.fake {
                    None => ("Bridge", b.row, a[1].clone()),
                    Some((_, _, port)) => ("Port", *port, format!("fake-bridge-{}", a[1])),
                };
                let mut ids = self.map_of(table, row, "external_ids");
                match a.get(2) {
                    Some(v) => ids.insert(Atom::String(key), Atom::String(v.clone())),
                    None => ids.remove(&Atom::String(key)),
                };
                self.db.set(table, row, "external_ids", Datum::Map(ids));
                String::new()
            }
            "br-get-external-id" => {
                let b = self.find_bridge(&a[0])?;
                let (table, row, prefix) = match &b.fake {
                    None => ("Bridge", b.row, String::new()),
                    Some((_, _, port)) => ("Port", *port, "fake-bridge-".to_owned()),
                };
                let ids = self.map_of(table, row, "external_ids");
                let mut s = String::new();
                for (k, v) in &ids {
                    let (Atom::String(k), Atom::String(v)) = (k, v) else {
                        continue;
                    };
                    let Some(k) = k.strip_prefix(&prefix) else {
                        continue;
                    };
                    match a.get(1) {
                        Some(want) if want == k => s.push_str(&format!("{v}\n")),
                        Some(_) => {}
                        None => s.push_str(&format!("{k}={v}\n")),
                    }
                }
                s
            }
            "list-ports" => {
                let b = self.find_bridge(&a[0])?;
                let m = self.model();
                let mut s = String::new();
                for p in m.ports.values() {
                    if p.bridge == b.name && p.name != b.name {
                        s.push_str(&p.name);
                        s.push('\n');
                    }
                }
                s
            }
            "list-ifaces" => {
                let b = self.find_bridge(&a[0])?;
                let m = self.model();
                let mut s = String::new();
                for (iname, (_, pname)) in &m.ifaces {
                    if m.ports.get(pname).is_some_and(|p| p.bridge == b.name) && *iname != b.name {
                        s.push_str(iname);
                        s.push('\n');
                    }
                }
                s
            }
            "add-port" => {
                let columns = &a[2..];
                self.add_port(c, &a[0], &a[1], &[a[1].clone()], false, columns)?;
                String::new()
            }
            "add-bond" => {
                let fake_iface = c.has("--fake-iface");
                let mut ifaces = Vec::new();
                let mut columns = Vec::new();
                for x in &a[2..] {
                    if x.contains('=') {
                        columns.push(x.clone());
                    } else {
                        ifaces.push(x.clone());
                    }
                }
                if ifaces.len() < 2 {
                    return Err(VsctlError::Command(format!(
                        "add-bond requires at least 2 interfaces, but only {} were specified",
                        ifaces.len()
                    )));
                }
                self.add_port(c, &a[0], &a[1], &ifaces, fake_iface, &columns)?;
                String::new()
            }
            "del-port" => self.del_port(c)?,
            "add-bond-iface" => self.add_bond_iface(c)?,
            "del-bond-iface" => self.del_bond_iface(c)?,
            // Only for the database log, where ovs-vsctl's own comment says it all.
            "comment" => String::new(),
            "port-to-br" => {
                let m = self.model();
                match m.ports.get(&a[0]) {
                    Some(p) => format!("{}\n", p.bridge),
                    None => return Err(VsctlError::NoPort(a[0].clone())),
                }
            }
            "iface-to-br" => {
                let m = self.model();
                match m.ifaces.get(&a[0]).and_then(|(_, p)| m.ports.get(p)) {
                    Some(p) => format!("{}\n", p.bridge),
                    None => return Err(VsctlError::NoInterface(a[0].clone())),
                }
            }
            "get-fail-mode" => {
                let b = self.find_bridge(&a[0])?;
                let mode = self.db.get("Bridge", b.row, "fail_mode");
                str_atom(&mode)
                    .map(|m| format!("{m}\n"))
                    .unwrap_or_default()
            }
            "del-fail-mode" => {
                let b = self.find_bridge(&a[0])?;
                self.db
                    .set("Bridge", b.row, "fail_mode", Datum::Set(BTreeSet::new()));
                String::new()
            }
            "set-fail-mode" => {
                let b = self.find_bridge(&a[0])?;
                if a[1] != "standalone" && a[1] != "secure" {
                    return Err(VsctlError::Command(
                        "fail-mode must be \"standalone\" or \"secure\"".into(),
                    ));
                }
                self.db.set("Bridge", b.row, "fail_mode", string(&a[1]));
                String::new()
            }
            "get-controller" => {
                let b = self.find_bridge(&a[0])?;
                self.targets(self.db.get("Bridge", b.row, "controller"), "Controller")
            }
            "del-controller" => {
                let b = self.find_bridge(&a[0])?;
                for u in uuids(&self.db.get("Bridge", b.row, "controller")) {
                    self.db.delete("Controller", u);
                }
                self.db
                    .set("Bridge", b.row, "controller", Datum::Set(BTreeSet::new()));
                String::new()
            }
            "set-controller" => {
                let b = self.find_bridge(&a[0])?;
                for u in uuids(&self.db.get("Bridge", b.row, "controller")) {
                    self.db.delete("Controller", u);
                }
                let new = self.insert_targets(c, "Controller", &a[1..]);
                self.db.set("Bridge", b.row, "controller", uuid_set(new));
                String::new()
            }
            "get-manager" => {
                let ovs = self.ovs();
                self.targets(
                    self.db.get("Open_vSwitch", ovs, "manager_options"),
                    "Manager",
                )
            }
            "del-manager" => {
                let ovs = self.ovs();
                for u in uuids(&self.db.get("Open_vSwitch", ovs, "manager_options")) {
                    self.db.delete("Manager", u);
                }
                self.db.set(
                    "Open_vSwitch",
                    ovs,
                    "manager_options",
                    Datum::Set(BTreeSet::new()),
                );
                String::new()
            }
            "set-manager" => {
                let ovs = self.ovs();
                for u in uuids(&self.db.get("Open_vSwitch", ovs, "manager_options")) {
                    self.db.delete("Manager", u);
                }
                let new = self.insert_targets(c, "Manager", a);
                self.db
                    .set("Open_vSwitch", ovs, "manager_options", uuid_set(new));
                String::new()
            }
            "get-ssl" => self.get_ssl(),
            "del-ssl" => {
                let ovs = self.ovs();
                self.db.verify("Open_vSwitch", ovs, "ssl");
                for u in uuids(&self.db.get("Open_vSwitch", ovs, "ssl")) {
                    self.db.delete("SSL", u);
                }
                self.db.set("Open_vSwitch", ovs, "ssl", empty());
                String::new()
            }
            "set-ssl" => {
                let ovs = self.ovs();
                self.db.verify("Open_vSwitch", ovs, "ssl");
                for u in uuids(&self.db.get("Open_vSwitch", ovs, "ssl")) {
                    self.db.delete("SSL", u);
                }
                let u = self.db.insert("SSL");
                for (col, value) in ["private_key", "certificate", "ca_cert"].iter().zip(a) {
                    self.db.set("SSL", u, col, string(value));
                }
                let bootstrap = Datum::scalar(Atom::Boolean(c.has("--bootstrap")));
                self.db.set("SSL", u, "bootstrap_ca_cert", bootstrap);
                self.db.set("Open_vSwitch", ovs, "ssl", uuid_set([u]));
                String::new()
            }
            "add-aa-mapping" | "del-aa-mapping" | "get-aa-mapping" => self.aa_mapping(c)?,
            "list" => self.list(c)?,
            "find" => self.find(c)?,
            "get" => self.get(c)?,
            "set" => {
                let Some((table, row)) = self.record_or_skip(c)? else {
                    return Ok(Outcome::Output(String::new()));
                };
                for arg in &a[2..] {
                    self.set_column(&table, row, arg)?;
                }
                String::new()
            }
            "add" | "remove" => self.add_remove(c)?,
            "clear" => {
                let Some((table, row)) = self.record_or_skip(c)? else {
                    return Ok(Outcome::Output(String::new()));
                };
                for col in &a[2..] {
                    let (col, ty) = self.column(&table, col)?;
                    if ty.min > 0 {
                        return Err(VsctlError::Command(format!(
                            "\"clear\" operation cannot be applied to column {col} of table {table}, which is not allowed to be empty"
                        )));
                    }
                    self.db.set(&table, row, &col, ty.default_datum());
                }
                String::new()
            }
            "create" => self.create(c)?,
            "destroy" => self.destroy(c)?,
            "wait-until" => {
                let (table, _) = self.table(&a[0])?;
                let Some(row) = self.find_record(&table, &a[1])? else {
                    return Ok(Outcome::NotYet);
                };
                for cond in &a[2..] {
                    if !self.condition_holds(&table, row, cond)? {
                        return Ok(Outcome::NotYet);
                    }
                }
                String::new()
            }
            other => return Err(VsctlError::UnknownCommand(other.to_owned())),
        };
        Ok(Outcome::Output(out))
    }

    fn verify_bridges(&mut self) {
        let ovs = self.ovs();
        self.db.verify("Open_vSwitch", ovs, "bridges");
    }

    fn find_bridge(&mut self, name: &str) -> Result<BridgeInfo, VsctlError> {
        self.verify_bridges();
        self.model()
            .bridges
            .get(name)
            .cloned()
            .ok_or_else(|| VsctlError::NoBridge(name.to_owned()))
    }

    fn map_of(&self, table: &str, row: Uuid, column: &str) -> BTreeMap<Atom, Atom> {
        match self.db.get(table, row, column) {
            Datum::Map(m) => m,
            Datum::Set(_) => BTreeMap::new(),
        }
    }

    /// `add-bond-iface BOND IFACE`: one more interface in an existing port.
    fn add_bond_iface(&mut self, c: &Command) -> Result<String, VsctlError> {
        let (bond, iface) = (&c.args[0], &c.args[1]);
        self.verify_bridges();
        let m = self.model();
        let Some(port) = m.ports.get(bond).cloned() else {
            return Err(VsctlError::NoPort(bond.clone()));
        };
        if c.has("--may-exist") && m.ifaces.get(iface).is_some_and(|(_, p)| p == bond) {
            return Ok(String::new());
        }
        self.check_conflicts(iface, &format!("cannot create an interface named {iface}"))?;
        let row = self.db.insert("Interface");
        self.db.set("Interface", row, "name", string(iface));
        let mut ifaces = uuids(&self.db.get("Port", port.uuid, "interfaces"));
        ifaces.push(row);
        self.db
            .set("Port", port.uuid, "interfaces", uuid_set(ifaces));
        Ok(String::new())
    }

    /// `del-bond-iface [BOND] IFACE`: an interface out of its port, never the last one.
    fn del_bond_iface(&mut self, c: &Command) -> Result<String, VsctlError> {
        let iface = c.args.last().cloned().unwrap_or_default();
        self.verify_bridges();
        let m = self.model();
        let Some((row, owner)) = m.ifaces.get(&iface).cloned() else {
            if c.has("--if-exists") {
                return Ok(String::new());
            }
            return Err(VsctlError::NoInterface(iface));
        };
        let bond = match &c.args[..] {
            [bond, _] => bond.clone(),
            _ => owner.clone(),
        };
        let Some(port) = m.ports.get(&bond).cloned() else {
            return Err(VsctlError::NoPort(bond));
        };
        if owner != bond {
            return Err(VsctlError::Command(format!(
                "port {bond} does not have an interface {iface}"
            )));
        }
        let mut ifaces = uuids(&self.db.get("Port", port.uuid, "interfaces"));
        if ifaces.len() < 2 {
            return Err(VsctlError::Command(format!(
                "cannot delete last interface from port {bond}"
            )));
        }
        ifaces.retain(|u| *u != row);
        self.db
            .set("Port", port.uuid, "interfaces", uuid_set(ifaces));
        self.db.delete("Interface", row);
        Ok(String::new())
    }

    /// New Controller or Manager rows for `targets`, with the command's
    /// `--inactivity-probe` (milliseconds). A target whose type is not a stream type draws ovs-vsctl's
    /// warning, and is kept all the same.
    fn insert_targets(&mut self, c: &Command, table: &str, targets: &[String]) -> Vec<Uuid> {
        // ovs-vsctl reads the number as C's atoi does: leading digits, else 0.
        let probe = c
            .options
            .get("--inactivity-probe")
            .map(|v| atoi(v.as_deref().unwrap_or_default()));
        let mut new = Vec::new();
        for t in targets {
            if !is_stream_name(t) {
                self.warnings
                    .push(format!("target type \"{t}\" is possibly erroneous"));
            }
            let u = self.db.insert(table);
            self.db.set(table, u, "target", string(t));
            if let Some(ms) = probe {
                self.db.set(
                    table,
                    u,
                    "inactivity_probe",
                    Datum::scalar(Atom::Integer(ms)),
                );
            }
            new.push(u);
        }
        new
    }

    /// `get-ssl`: the SSL row, as ovs-vsctl prints it.
    fn get_ssl(&mut self) -> String {
        let ovs = self.ovs();
        self.db.verify("Open_vSwitch", ovs, "ssl");
        let Some(u) = uuids(&self.db.get("Open_vSwitch", ovs, "ssl"))
            .into_iter()
            .next()
        else {
            return String::new();
        };
        let text = |col: &str| {
            str_atom(&self.db.get("SSL", u, col))
                .unwrap_or_default()
                .to_owned()
        };
        let bootstrap = matches!(
            self.db.get("SSL", u, "bootstrap_ca_cert").as_scalar(),
            Some(Atom::Boolean(true))
        );
        format!(
            "Private key: {}\nCertificate: {}\nCA Certificate: {}\nBootstrap: {bootstrap}\n",
            text("private_key"),
            text("certificate"),
            text("ca_cert")
        )
    }

    /// `add-aa-mapping`, `del-aa-mapping`, `get-aa-mapping`: a bridge's Auto Attach
    /// I-SID → VLAN mappings. Adding keeps an existing mapping of the I-SID; deleting needs
    /// both numbers to match, as in ovs-vsctl.
    fn aa_mapping(&mut self, c: &Command) -> Result<String, VsctlError> {
        let a = &c.args;
        let b = self.find_bridge(&a[0])?;
        self.db.verify("Bridge", b.row, "auto_attach");
        let aa = uuids(&self.db.get("Bridge", b.row, "auto_attach"))
            .into_iter()
            .next();
        if c.name == "get-aa-mapping" {
            let Some(aa) = aa else {
                return Ok(String::new());
            };
            let mut pairs: Vec<(i64, i64)> = self
                .map_of("AutoAttach", aa, "mappings")
                .into_iter()
                .filter_map(|(k, v)| match (k, v) {
                    (Atom::Integer(k), Atom::Integer(v)) => Some((k, v)),
                    _ => None,
                })
                .collect();
            pairs.sort_unstable();
            return Ok(pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect());
        }
        let number = |s: &str| {
            s.parse::<u64>()
                .ok()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| VsctlError::Command(format!("Invalid argument {s}")))
        };
        let (isid, vlan) = (number(&a[1])?, number(&a[2])?);
        let (isid, vlan) = (Atom::Integer(isid), Atom::Integer(vlan));
        if c.name == "add-aa-mapping" {
            let aa = match aa {
                Some(aa) => aa,
                None => {
                    let aa = self.db.insert("AutoAttach");
                    self.db.set("Bridge", b.row, "auto_attach", uuid_set([aa]));
                    aa
                }
            };
            let mut m = self.map_of("AutoAttach", aa, "mappings");
            m.entry(isid).or_insert(vlan);
            self.db.set("AutoAttach", aa, "mappings", Datum::Map(m));
        } else if let Some(aa) = aa {
            let mut m = self.map_of("AutoAttach", aa, "mappings");
            if m.get(&isid) == Some(&vlan) {
                m.remove(&isid);
                self.db.set("AutoAttach", aa, "mappings", Datum::Map(m));
            }
        }
        Ok(String::new())
    }

    /// The sorted `target`s of Controller or Manager rows, one per line.
    fn targets(&self, refs: Datum, table: &str) -> String {
        let mut targets: Vec<String> = uuids(&refs)
            .into_iter()
            .filter_map(|u| str_atom(&self.db.get(table, u, "target")).map(str::to_owned))
            .collect();
        targets.sort();
        targets.iter().map(|t| format!("{t}\n")).collect()
    }

    /// Fails if a bridge, port or interface already has the name `name` (for a new `what`).
    fn check_conflicts(&self, name: &str, what: &str) -> Result<(), VsctlError> {
        let m = self.model();
        if m.bridges.contains_key(name) {
            return Err(VsctlError::Command(format!(
                "{what} because a bridge named {name} already exists"
            )));
        }
        if let Some(p) = m.ports.get(name) {
            return Err(VsctlError::Command(format!(
                "{what} because a port named {name} already exists on bridge {}",
                p.bridge
            )));
        }
        if let Some((_, p)) = m.ifaces.get(name) {
            let br = m.ports.get(p).map(|p| p.bridge.clone()).unwrap_or_default();
            return Err(VsctlError::Command(format!(
                "{what} because an interface named {name} already exists on bridge {br}"
            )));
        }
        Ok(())
    }

    fn add_br(&mut self, c: &Command) -> Result<String, VsctlError> {
        let a = &c.args;
        let name = &a[0];
        let (parent, vlan) = match a.len() {
            1 => (None, 0),
            3 => {
                let vlan: i64 = a[2].parse().unwrap_or(-1);
                if !(0..=4095).contains(&vlan) {
                    return Err(VsctlError::Command(format!(
                        "{}: vlan must be between 0 and 4095",
                        c.name
                    )));
                }
                (Some(a[1].clone()), vlan)
            }
            _ => {
                return Err(VsctlError::Command(
                    "'add-br' command takes exactly 1 or 3 arguments".into(),
                ));
            }
        };
        self.verify_bridges();
        let m = self.model();
        if c.has("--may-exist")
            && let Some(b) = m.bridges.get(name)
        {
            let cmdline = match &parent {
                None => format!("\"--may-exist add-br {name}\""),
                Some(p) => format!("\"--may-exist add-br {name} {p} {vlan}\""),
            };
            return match (&b.fake, &parent) {
                (Some((_, v, _)), None) => Err(VsctlError::Command(format!(
                    "{cmdline} but {name} is a VLAN bridge for VLAN {v}"
                ))),
                (None, Some(_)) => Err(VsctlError::Command(format!(
                    "{cmdline} but {name} is not a VLAN bridge"
                ))),
                (Some((bp, v, _)), Some(p)) => {
                    if bp != p {
                        Err(VsctlError::Command(format!(
                            "{cmdline} but {name} has the wrong parent {bp}"
                        )))
                    } else if *v != vlan {
                        Err(VsctlError::Command(format!(
                            "{cmdline} but {name} is a VLAN bridge for the wrong VLAN {v}"
                        )))
                    } else {
                        Ok(String::new())
                    }
                }
                (None, None) => Ok(String::new()),
            };
        }
        self.check_conflicts(name, &format!("cannot create a bridge named {name}"))?;
        let iface = self.db.insert("Interface");
        self.db.set("Interface", iface, "name", string(name));
        self.db.set("Interface", iface, "type", string("internal"));
        let port = self.db.insert("Port");
        self.db.set("Port", port, "name", string(name));
        self.db.set("Port", port, "interfaces", uuid_set([iface]));
        match parent {
            None => {
                let br = self.db.insert("Bridge");
                self.db.set("Bridge", br, "name", string(name));
                self.db.set("Bridge", br, "ports", uuid_set([port]));
                let ovs = self.ovs();
                let mut bridges = uuids(&self.db.get("Open_vSwitch", ovs, "bridges"));
                bridges.push(br);
                self.db
                    .set("Open_vSwitch", ovs, "bridges", uuid_set(bridges));
            }
            Some(p) => {
                let pb = match m.bridges.get(&p) {
                    Some(pb) if pb.fake.is_none() => pb.clone(),
                    Some(_) => {
                        return Err(VsctlError::Command(
                            "cannot create bridge with fake bridge as parent".to_owned(),
                        ));
                    }
                    None => {
                        return Err(VsctlError::Command(format!(
                            "parent bridge {p} does not exist"
                        )));
                    }
                };
                self.db.set(
                    "Port",
                    port,
                    "fake_bridge",
                    Datum::scalar(Atom::Boolean(true)),
                );
                self.db
                    .set("Port", port, "tag", Datum::scalar(Atom::Integer(vlan)));
                let mut ports = uuids(&self.db.get("Bridge", pb.row, "ports"));
                ports.push(port);
                self.db.set("Bridge", pb.row, "ports", uuid_set(ports));
            }
        }
        Ok(String::new())
    }

    /// Deletes a port row and its interfaces, and removes it from its bridge.
    fn delete_port(&mut self, br_row: Uuid, port: Uuid) {
        for i in uuids(&self.db.get("Port", port, "interfaces")) {
            self.db.delete("Interface", i);
        }
        let ports: Vec<Uuid> = uuids(&self.db.get("Bridge", br_row, "ports"))
            .into_iter()
            .filter(|p| *p != port)
            .collect();
        self.db.set("Bridge", br_row, "ports", uuid_set(ports));
        self.db.delete("Port", port);
    }

    fn del_br(&mut self, c: &Command) -> Result<String, VsctlError> {
        let name = &c.args[0];
        self.verify_bridges();
        let m = self.model();
        let Some(b) = m.bridges.get(name).cloned() else {
            if c.has("--if-exists") {
                return Ok(String::new());
            }
            return Err(VsctlError::NoBridge(name.clone()));
        };
        match &b.fake {
            None => {
                for p in uuids(&self.db.get("Bridge", b.row, "ports")) {
                    self.delete_port(b.row, p);
                }
                self.db.delete("Bridge", b.row);
                let ovs = self.ovs();
                let bridges: Vec<Uuid> = uuids(&self.db.get("Open_vSwitch", ovs, "bridges"))
                    .into_iter()
                    .filter(|u| *u != b.row)
                    .collect();
                self.db
                    .set("Open_vSwitch", ovs, "bridges", uuid_set(bridges));
            }
            Some(_) => {
                for p in m.ports.values().filter(|p| p.bridge == b.name) {
                    self.delete_port(b.row, p.uuid);
                }
            }
        }
        Ok(String::new())
    }

    fn add_port(
        &mut self,
        c: &Command,
        br_name: &str,
        port_name: &str,
        iface_names: &[String],
        fake_iface: bool,
        columns: &[String],
    ) -> Result<(), VsctlError> {
        self.verify_bridges();
        let m = self.model();
        if c.has("--may-exist")
            && let Some(p) = m.ports.get(port_name)
        {
            let cmdline = format!("\"--may-exist {} {br_name} {port_name}", c.name)
                + &if c.name == "add-bond" {
                    format!(" {}\"", iface_names.join(" "))
                } else {
                    "\"".to_owned()
                };
            if p.bridge != br_name {
                return Err(VsctlError::Command(format!(
                    "{cmdline} but {port_name} is actually attached to bridge {}",
                    p.bridge
                )));
            }
            let want: BTreeSet<&str> = iface_names.iter().map(String::as_str).collect();
            let have: BTreeSet<String> = m
                .ifaces
                .iter()
                .filter(|(_, (_, pn))| pn == port_name)
                .map(|(n, _)| n.clone())
                .collect();
            if have.iter().map(String::as_str).collect::<BTreeSet<_>>() != want {
                let have: Vec<String> = have.into_iter().collect();
                return Err(VsctlError::Command(format!(
                    "{cmdline} but {port_name} actually has interface(s) {}",
                    have.join(", ")
                )));
            }
            return Ok(());
        }
        self.check_conflicts(
            port_name,
            &format!("cannot create a port named {port_name}"),
        )?;
        for i in iface_names {
            self.check_conflicts(i, &format!("cannot create an interface named {i}"))?;
        }
        let b = m
            .bridges
            .get(br_name)
            .cloned()
            .ok_or_else(|| VsctlError::NoBridge(br_name.to_owned()))?;
        // The model is patched below rather than rebuilt: a long chain of add-ports on a
        // large bridge would otherwise walk every port once per command.
        drop(m);
        let before = self.db.generation();
        let mut ifaces = Vec::new();
        for i in iface_names {
            let u = self.db.insert("Interface");
            self.db.set("Interface", u, "name", string(i));
            ifaces.push(u);
        }
        let port = self.db.insert("Port");
        self.db.set("Port", port, "name", string(port_name));
        self.db
            .set("Port", port, "interfaces", uuid_set(ifaces.iter().copied()));
        if fake_iface {
            self.db.set(
                "Port",
                port,
                "bond_fake_iface",
                Datum::scalar(Atom::Boolean(true)),
            );
        }
        if let Some((_, vlan, _)) = &b.fake {
            self.db
                .set("Port", port, "tag", Datum::scalar(Atom::Integer(*vlan)));
        }
        for col in columns {
            self.set_column("Port", port, col)?;
        }
        let mut ports = uuids(&self.db.get("Bridge", b.row, "ports"));
        ports.push(port);
        self.db.set("Bridge", b.row, "ports", uuid_set(ports));
        if columns.is_empty() {
            // Without columns (which could set a tag or fake_bridge), the new port belongs to
            // the bridge it was added to and brings just its interfaces.
            let names: Vec<(String, Uuid)> = iface_names.iter().cloned().zip(ifaces).collect();
            self.patch_model(before, |m| {
                m.ports.insert(
                    port_name.to_owned(),
                    PortInfo {
                        uuid: port,
                        name: port_name.to_owned(),
                        bridge: br_name.to_owned(),
                    },
                );
                for (name, uuid) in names {
                    m.ifaces.entry(name).or_insert((uuid, port_name.to_owned()));
                }
            });
        }
        Ok(())
    }

    fn del_port(&mut self, c: &Command) -> Result<String, VsctlError> {
        let a = &c.args;
        let target = a.last().cloned().unwrap_or_default();
        self.verify_bridges();
        let m = self.model();
        let bridge = match a.len() {
            2 => Some(self.find_bridge(&a[0])?),
            _ => None,
        };
        let port = if c.has("--with-iface") {
            m.ports
                .get(&target)
                .or_else(|| m.ifaces.get(&target).and_then(|(_, p)| m.ports.get(p)))
        } else {
            m.ports.get(&target)
        };
        let Some(port) = port.cloned() else {
            if c.has("--if-exists") {
                return Ok(String::new());
            }
            return Err(VsctlError::NoPort(target));
        };
        if let Some(b) = &bridge
            && port.bridge != b.name
        {
            let owner = m.bridges.get(&port.bridge);
            let parent_has =
                owner.is_some_and(|o| o.fake.as_ref().is_some_and(|(p, _, _)| *p == b.name));
            if parent_has {
                return Err(VsctlError::Command(format!(
                    "bridge {} does not have a port {target} (although its child bridge {} does)",
                    b.name, port.bridge
                )));
            }
            return Err(VsctlError::Command(format!(
                "bridge {} does not have a port {target}",
                b.name
            )));
        }
        let br_row = m.bridges.get(&port.bridge).map_or(Uuid::nil(), |b| b.row);
        self.delete_port(br_row, port.uuid);
        Ok(String::new())
    }

    fn emer_reset(&mut self) -> String {
        let ovs = self.ovs();
        for col in ["manager_options", "ssl"] {
            for u in uuids(&self.db.get("Open_vSwitch", ovs, col)) {
                let table = if col == "ssl" { "SSL" } else { "Manager" };
                self.db.delete(table, u);
            }
            self.db
                .set("Open_vSwitch", ovs, col, Datum::Set(BTreeSet::new()));
        }
        let bridges: Vec<Uuid> = self.db.rows("Bridge").map(|(u, _)| u).collect();
        for br in bridges {
            for col in [
                "controller",
                "mirrors",
                "netflow",
                "sflow",
                "ipfix",
                "flood_vlans",
            ] {
                self.db.set("Bridge", br, col, Datum::Set(BTreeSet::new()));
            }
            self.db
                .set("Bridge", br, "fail_mode", Datum::Set(BTreeSet::new()));
            let keep: BTreeMap<Atom, Atom> = self
                .map_of("Bridge", br, "other_config")
                .into_iter()
                .filter(|(k, _)| *k == Atom::String("hwaddr".into()))
                .collect();
            self.db.set("Bridge", br, "other_config", Datum::Map(keep));
        }
        let ports: Vec<Uuid> = self.db.rows("Port").map(|(u, _)| u).collect();
        for p in ports {
            self.db
                .set("Port", p, "other_config", Datum::Map(BTreeMap::new()));
        }
        let ifaces: Vec<Uuid> = self.db.rows("Interface").map(|(u, _)| u).collect();
        for i in ifaces {
            self.db.set(
                "Interface",
                i,
                "ingress_policing_rate",
                Datum::scalar(Atom::Integer(0)),
            );
            self.db.set(
                "Interface",
                i,
                "ingress_policing_burst",
                Datum::scalar(Atom::Integer(0)),
            );
        }
        for table in ["Mirror", "NetFlow", "sFlow", "IPFIX", "Controller"] {
            let rows: Vec<Uuid> = self.db.rows(table).map(|(u, _)| u).collect();
            for r in rows {
                self.db.delete(table, r);
            }
        }
        String::new()
    }

    /// `show`: the tree ovs-vsctl prints.
    fn show(&self) -> String {
        let mut s = String::new();
        for (ovs, row) in self.db.rows("Open_vSwitch") {
            s.push_str(&format!("{ovs}\n"));
            for m in uuids(row.get("manager_options").unwrap_or(&empty())) {
                self.show_row(&mut s, "Manager", m, 1);
            }
            for b in uuids(row.get("bridges").unwrap_or(&empty())) {
                self.show_row(&mut s, "Bridge", b, 1);
            }
            self.show_column(&mut s, "Open_vSwitch", row, "ovs_version", 1);
        }
        s
    }

    fn show_row(&self, s: &mut String, table: &str, uuid: Uuid, depth: usize) {
        let Some(row) = self.db.row(table, uuid) else {
            return;
        };
        let (name_col, columns): (&str, &[&str]) = match table {
            "Manager" => ("target", &["is_connected"]),
            "Bridge" => (
                "name",
                &["controller", "fail_mode", "datapath_type", "ports"],
            ),
            "Controller" => ("target", &["is_connected"]),
            "Port" => ("name", &["tag", "trunks", "interfaces"]),
            _ => ("name", &["type", "options", "error", "bfd_status"]),
        };
        // Quoted only where it would not read back as itself ("ptcp:6640", "--x").
        let name = row.get(name_col).and_then(str_atom).unwrap_or_default();
        let printed = text::atom_to_string(&Atom::String(name.to_owned()));
        s.push_str(&format!("{}{table} {printed}\n", "    ".repeat(depth)));
        for col in columns {
            let child = match *col {
                "controller" => Some("Controller"),
                "ports" => Some("Port"),
                "interfaces" => Some("Interface"),
                _ => None,
            };
            match child {
                Some(t) => {
                    for u in uuids(row.get(*col).unwrap_or(&empty())) {
                        self.show_row(s, t, u, depth + 1);
                    }
                }
                None => self.show_column(s, table, row, col, depth + 1),
            }
        }
    }

    fn show_column(&self, s: &mut String, table: &str, row: &db::Row, col: &str, depth: usize) {
        let Some(ty) = self.column_type(table, col) else {
            return;
        };
        let Some(d) = row.get(col) else { return };
        if *d == ty.default_datum() {
            return;
        }
        s.push_str(&format!(
            "{}{col}: {}\n",
            "    ".repeat(depth),
            text::datum_to_string(&ty, d)
        ));
    }

    fn column_type(&self, table: &str, col: &str) -> Option<ColumnType> {
        self.db
            .table_schema(table)?
            .column(col)
            .map(|c| c.ty.clone())
    }
}

fn empty() -> Datum {
    Datum::Set(BTreeSet::new())
}

/// C's `atoi`: an optional sign and the digits that follow, 0 if there are none (and the
/// most negative or positive value on overflow, where C leaves it undefined).
fn atoi(text: &str) -> i64 {
    let t = text.trim_start();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for d in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if negative { -n } else { n }
}

/// Whether `target` names a connection method ovs-vsctl knows (`TYPE:ARGS` with an active
/// or passive stream type); others draw a warning from set-controller and set-manager.
fn is_stream_name(target: &str) -> bool {
    target
        .split_once(':')
        .is_some_and(|(kind, _)| matches!(kind, "tcp" | "unix" | "ssl" | "ptcp" | "punix" | "pssl"))
}

mod dbctl;
