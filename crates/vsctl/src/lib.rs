//! `fvs-vsctl` speaks ovs-vsctl(8)'s command language to an OVSDB server over JSON-RPC, and
//! this crate holds ferrovs's own `Open_vSwitch` schema.
//!
//! # The schema
//!
//! [`SCHEMA`] (`schema/vswitch.ovsschema`) is written for ferrovs from the documentation of the
//! Open vSwitch database (ovs-vswitchd.conf.db(5)): the 19 tables ovs-vsctl and ovsdbapp read
//! and write, with the column names, types, constraints, `isRoot`, `maxRows` and indexes that
//! those clients expect. Its version, `8.3.1`, says which Open vSwitch schema it is
//! compatible with (Open vSwitch 3.1's): clients compare versions to decide which columns
//! exist. It is a plain file rather than Rust data so that any OVSDB server, ours or Open
//! vSwitch's `ovsdb-server`, can load it unchanged, and so the oracle tests can serve it from
//! a real `ovsdb-server` and run real `ovs-vsctl` against it.
//!
//! # The client
//!
//! One run of fvs-vsctl is one transaction, as with ovs-vsctl:
//!
//! 1. connect (`--db`: `unix:PATH`, `tcp:IP[:PORT]` or `ssl:IP[:PORT]` with `-p`/`-c`/`-C`
//!    as ovs-vsctl takes them, default `unix:$FVS_RUNDIR/db.sock`), read the schema and every table
//!    ([`db::Db`]; for runs of bridge commands only, just the port and interface columns
//!    they read, [`db::NARROW`]);
//! 2. run the commands (separated by `--`) against that copy, each seeing the effects of the
//!    ones before ([`commands`]);
//! 3. send the difference as one transaction, with `wait` operations for the columns the
//!    commands' decisions depended on; if another client changed them meanwhile, start again;
//! 4. unless `--no-wait`, when the transaction changed something, increment `next_cfg` and wait
//!    until the switch reports `cur_cfg` at least as large, with a `wait` the server holds
//!    until `cur_cfg` changes (as ovs-vsctl does, this waits for `--timeout` seconds,
//!    forever by default, when no switch is running);
//! 5. print each command's output (`--oneline` puts each on one line).
//!
//! Error messages and exit codes are ovs-vsctl's (1 for errors, 2 for a `br-exists` that
//! fails), with the program name `fvs-vsctl`. `--timeout=SECS` ends the program as it ends
//! ovs-vsctl, wherever it is waiting (to connect, for a reply, for `cur_cfg`, in
//! `wait-until`): "terminating with signal 14 (Alarm clock)" on stderr and death by
//! `SIGALRM` ([`Exit::Alarm`]; the binary raises the signal).

pub mod commands;
pub mod db;
pub mod error;
pub mod jsonrpc;
pub mod output;
pub mod text;

use std::io::Write;

pub use commands::{ALARM_MESSAGE, Exit, run, timeout};
pub use error::VsctlError;

/// ferrovs's `Open_vSwitch` schema.
pub const SCHEMA: &str = include_str!("../schema/vswitch.ovsschema");

/// Writes `fvs-vsctl: MESSAGE` to `err`.
pub(crate) fn report(err: &mut dyn Write, e: &VsctlError) {
    // Nothing sensible remains to be done if stderr is gone.
    let _ = writeln!(err, "fvs-vsctl: {e}");
}
