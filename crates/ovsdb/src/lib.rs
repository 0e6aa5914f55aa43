//! `fvs-ovsdb` is the configuration database's core without I/O: OVSDB values, schemas,
//! transactions over an in-memory database, and the on-disk log format.
//!
//! # What it does
//!
//! RFC 7047 defines a database of typed tables and a JSON-RPC protocol to change it. The
//! server (in `fvs-vswitchd`, later) owns sockets, files and the clock; this crate owns the
//! meaning:
//!
//! - [`atom`] and [`datum`]: the values (atoms; sets and maps of them) with their constraints,
//!   and their JSON forms both ways.
//! - [`error`]: RFC 7047's error objects; every failure is data for a reply.
//! - [`schema`]: database schemas, with the implicit `_uuid` and `_version` columns.
//! - [`db`]: the in-memory database and the [`ChangeSet`] a transaction yields.
//! - [`transact`]: RFC 7047 transactions, with [`condition`]s and [`mutation`]s, referential
//!   integrity, garbage collection and the commit checks.
//! - [`monitor`]: monitors of all three dialects (`update`, `update2`, `update3`), computed
//!   from the same change sets.
//! - [`log`]: the standalone database file format of Open vSwitch (records with a SHA-1
//!   header), written and read over bytes, and replayed into a [`Database`].
//!
//! # Design
//!
//! - Values are canonical: a [`datum::Datum`] keeps its elements in sorted collections, so
//!   equality and JSON output do not depend on how a client ordered them.
//! - Nothing here reads a clock, opens a file or makes up a random number: time, storage and
//!   UUID generation are parameters, so every behaviour is reproducible in a test.
//! - No input panics. JSON from a client, a schema or a log file only ever produces an
//!   [`error::Error`].
//! - Open vSwitch 3.1 is the oracle: the tests run `ovsdb-tool`/`ovsdb-server` on the same
//!   input and compare.

pub mod atom;
pub mod condition;
pub mod datum;
pub mod db;
pub mod error;
pub mod log;
pub mod monitor;
pub mod mutation;
pub mod schema;
pub mod transact;

pub use atom::{Atom, AtomicType, BaseType, Constraint, RefType};
pub use datum::{ColumnType, Datum, MaxSize};
pub use db::{ChangeSet, Database, Row, RowChange};
pub use error::{Error, ErrorKind};
pub use monitor::{Dialect, Monitor};
pub use schema::{ColumnSchema, DatabaseSchema, TableSchema};
pub use transact::{Context, Outcome, transact};
