//! Monitors (RFC 7047 §4.1.5–4.1.7 and Open vSwitch's `monitor_cond` extensions): what a
//! client asked to watch, the initial contents it gets in the reply, and the notification
//! each committed [`ChangeSet`] produces for it.
//!
//! Three dialects share one model, [`Dialect`]:
//!
//! - `monitor` (RFC 7047): `table-updates`, each row as `{"old": ..., "new": ...}`. `new` holds
//!   every monitored column; on a modify, `old` holds only the monitored columns that changed.
//!   A modify that changes no monitored column sends nothing.
//! - `monitor_cond` (`update2`): `{"initial"|"insert": row}`, `{"delete": null}` or
//!   `{"modify": diff}`. Rows in `initial`/`insert` leave out columns at their default value;
//!   a modify lists only the changed columns, sets and maps as a [`crate::Datum::diff`] (the elements
//!   to toggle; for maps the changed keys with their new value and the removed keys with their
//!   old one), columns of at most one value as their new value. With a condition, a row that starts
//!   or stops matching is reported as an insert or a delete.
//! - `monitor_cond_since` (`update3`): `update2`'s row format, with a transaction id.
//!
//! A table may be given several request objects; each column then answers to the `select` of
//! the request that names it (a column named twice takes the union of both selects). A
//! `monitor_cond` condition is a list of clauses (`[column, function, value]`, `true` or
//! `false`) of which **any** must hold, and an empty list matches every row — the opposite
//! convention to a transaction's `where`, as Open vSwitch defines it. When several request
//! objects of one table carry conditions, the last one counts.
//!
//! Nothing here touches a socket: the server registers a [`Monitor`] per request, sends
//! [`Monitor::initial`] as the reply, and after each commit sends [`Monitor::update`]'s value
//! (when there is one) before the transaction's reply, as Open vSwitch does.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::atom::Symbols;
use crate::condition::Condition;
use crate::datum::{ColumnType, MaxSize};
use crate::db::{ChangeSet, Database, Row};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{DatabaseSchema, TableSchema};

/// Which monitor method created the monitor, and so which notification format it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `monitor`: `update` notifications with `old`/`new`.
    Monitor,
    /// `monitor_cond`: `update2` notifications.
    Cond,
    /// `monitor_cond_since`: `update3` notifications.
    CondSince,
}

impl Dialect {
    /// The method name that creates a monitor of this dialect.
    pub fn method(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Cond => "monitor_cond",
            Self::CondSince => "monitor_cond_since",
        }
    }

    /// The notification method's name.
    pub fn notification(self) -> &'static str {
        match self {
            Self::Monitor => "update",
            Self::Cond => "update2",
            Self::CondSince => "update3",
        }
    }

    fn is_v1(self) -> bool {
        self == Self::Monitor
    }
}

/// Which kinds of change a column is reported for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Select {
    /// Rows present when the monitor starts.
    pub initial: bool,
    /// Inserted rows.
    pub insert: bool,
    /// Deleted rows.
    pub delete: bool,
    /// Modified rows.
    pub modify: bool,
}

impl Select {
    /// Everything, the default.
    pub const ALL: Self = Self {
        initial: true,
        insert: true,
        delete: true,
        modify: true,
    };

    /// Nothing (where unions start).
    const NONE: Self = Self {
        initial: false,
        insert: false,
        delete: false,
        modify: false,
    };

    fn union(self, other: Self) -> Self {
        Self {
            initial: self.initial || other.initial,
            insert: self.insert || other.insert,
            delete: self.delete || other.delete,
            modify: self.modify || other.modify,
        }
    }

    fn has(self, kind: Kind) -> bool {
        match kind {
            Kind::Initial => self.initial,
            Kind::Insert => self.insert,
            Kind::Delete => self.delete,
            Kind::Modify => self.modify,
        }
    }

    fn from_json(json: &Value) -> Result<Self> {
        let obj = json
            .as_object()
            .ok_or_else(|| Error::syntax(json, "\"select\" must be an object"))?;
        let flag = |key: &str| match obj.get(key) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::syntax(v, format!("\"{key}\" must be a boolean"))),
        };
        Ok(Self {
            initial: flag("initial")?,
            insert: flag("insert")?,
            delete: flag("delete")?,
            modify: flag("modify")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    Insert,
    Delete,
    Modify,
}

impl Kind {
    fn v2_key(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Insert => "insert",
            Self::Delete => "delete",
            Self::Modify => "modify",
        }
    }
}

/// One clause of a monitor condition: a test on the row, or a constant.
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Constant(bool),
    Test(Condition),
}

/// What one table's monitoring covers.
#[derive(Debug, Clone, PartialEq)]
struct TableMonitor {
    /// The monitored columns, in the client's order, each with its select.
    columns: Vec<(String, Select)>,
    /// The union of the requests' selects. Kept apart from the columns because a request
    /// may name none (`"columns": []`): the client then learns which rows exist and no more
    /// (Open vSwitch's `ovs-vsctl` asks so for the `Open_vSwitch` row).
    select: Select,
    /// Clauses of which any must hold; `None` (or empty) matches every row.
    condition: Option<Vec<Clause>>,
}

impl TableMonitor {
    fn matches(&self, uuid: Uuid, row: &Row) -> bool {
        match &self.condition {
            None => true,
            Some(clauses) if clauses.is_empty() => true,
            Some(clauses) => clauses.iter().any(|c| match c {
                Clause::Constant(b) => *b,
                Clause::Test(cond) => cond.matches(uuid, row),
            }),
        }
    }

    fn selects(&self, kind: Kind) -> bool {
        self.select.has(kind)
    }
}

/// Named UUIDs mean nothing outside a transaction: a monitor condition naming one refers to
/// no row, so it resolves to the nil UUID, which no row has.
struct NoSymbols;

impl Symbols for NoSymbols {
    fn resolve(&mut self, _name: &str) -> Uuid {
        Uuid::nil()
    }
}

/// One client's monitor of one database.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    dialect: Dialect,
    tables: BTreeMap<String, TableMonitor>,
}

impl Monitor {
    /// Parses the `<monitor-requests>` object (`{table: request | [request...]}`) of a
    /// `monitor`, `monitor_cond` or `monitor_cond_since` request.
    pub fn from_json(schema: &DatabaseSchema, dialect: Dialect, requests: &Value) -> Result<Self> {
        let obj = requests
            .as_object()
            .ok_or_else(|| Error::syntax(requests, "monitor requests must be an object"))?;
        let mut tables = BTreeMap::new();
        for (name, request) in obj {
            let table = schema
                .table(name)
                .ok_or_else(|| Error::syntax(request, format!("no table named {name}")))?;
            let list = match request {
                Value::Array(list) => list.as_slice(),
                single => std::slice::from_ref(single),
            };
            let mut monitor = TableMonitor {
                columns: Vec::new(),
                select: Select::NONE,
                condition: None,
            };
            for r in list {
                parse_table_request(table, dialect, r, &mut monitor)?;
            }
            tables.insert(name.clone(), monitor);
        }
        Ok(Self { dialect, tables })
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The reply's `<table-updates>`/`<table-updates2>`: every row present now, as `initial`
    /// (or `new` for `monitor`), for the tables and columns that select `initial`.
    pub fn initial(&self, db: &Database) -> Value {
        let mut out = Map::new();
        for (name, tm) in &self.tables {
            if !tm.selects(Kind::Initial) {
                continue;
            }
            let Some(rows) = db.rows(name) else { continue };
            let Some(ts) = db.schema().table(name) else {
                continue;
            };
            let mut updates = Map::new();
            for (uuid, row) in rows {
                if !tm.matches(*uuid, row) {
                    continue;
                }
                if let Some(u) = self.row_update(ts, tm, *uuid, None, Some(row), Kind::Initial) {
                    updates.insert(uuid.hyphenated().to_string(), u);
                }
            }
            if !updates.is_empty() {
                out.insert(name.clone(), Value::Object(updates));
            }
        }
        Value::Object(out)
    }

    /// The `<table-updates>` a committed change set produces for this monitor, or `None` when
    /// it touches nothing the monitor covers.
    pub fn update(&self, schema: &DatabaseSchema, changes: &ChangeSet) -> Option<Value> {
        let mut out = Map::new();
        for (name, rows) in &changes.tables {
            let (Some(tm), Some(ts)) = (self.tables.get(name), schema.table(name)) else {
                continue;
            };
            let mut updates = Map::new();
            for (uuid, change) in rows {
                // With a condition, what the client sees is whether the row matches before and
                // after: entering the condition is an insert, leaving it a delete.
                let old = change.old.as_ref().filter(|r| tm.matches(*uuid, r));
                let new = change.new.as_ref().filter(|r| tm.matches(*uuid, r));
                let kind = match (old, new) {
                    (None, None) => continue,
                    (None, Some(_)) => Kind::Insert,
                    (Some(_), None) => Kind::Delete,
                    (Some(_), Some(_)) => Kind::Modify,
                };
                if let Some(u) = self.row_update(ts, tm, *uuid, old, new, kind) {
                    updates.insert(uuid.hyphenated().to_string(), u);
                }
            }
            if !updates.is_empty() {
                out.insert(name.clone(), Value::Object(updates));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// One row's `<row-update>` (or `<row-update2>`), `None` when nothing is to be said.
    fn row_update(
        &self,
        ts: &TableSchema,
        tm: &TableMonitor,
        uuid: Uuid,
        old: Option<&Row>,
        new: Option<&Row>,
        kind: Kind,
    ) -> Option<Value> {
        let columns: Vec<&str> = tm
            .columns
            .iter()
            .filter(|(_, s)| s.has(kind))
            .map(|(c, _)| c.as_str())
            .collect();
        // With no column to report, a row's appearance and disappearance are still news
        // (an empty `initial`/`insert`, a `delete`) if the table selects them; a
        // modification has nothing to show and is left out below.
        if columns.is_empty() && !tm.select.has(kind) {
            return None;
        }
        let value = |row: &Row, c: &str| row.get(uuid, c);
        if self.dialect.is_v1() {
            let full = |row: &Row| -> Value {
                Value::Object(
                    columns
                        .iter()
                        .filter_map(|c| value(row, c).map(|d| ((*c).to_owned(), d.to_json())))
                        .collect(),
                )
            };
            return match (kind, old, new) {
                (Kind::Initial | Kind::Insert, _, Some(n)) => Some(json!({ "new": full(n) })),
                (Kind::Delete, Some(o), _) => Some(json!({ "old": full(o) })),
                (Kind::Modify, Some(o), Some(n)) => {
                    let changed: Map<String, Value> = columns
                        .iter()
                        .filter_map(|c| match (value(o, c), value(n, c)) {
                            (Some(a), Some(b)) if a != b => Some(((*c).to_owned(), a.to_json())),
                            _ => None,
                        })
                        .collect();
                    (!changed.is_empty())
                        .then(|| json!({ "old": Value::Object(changed), "new": full(n) }))
                }
                _ => None,
            };
        }
        let body = match (kind, old, new) {
            (Kind::Initial | Kind::Insert, _, Some(n)) => Value::Object(
                columns
                    .iter()
                    .filter_map(|c| {
                        let d = value(n, c)?;
                        let ty = column_type(ts, c)?;
                        (d != ty.default_datum()).then(|| ((*c).to_owned(), d.to_json()))
                    })
                    .collect(),
            ),
            (Kind::Delete, _, _) => Value::Null,
            (Kind::Modify, Some(o), Some(n)) => {
                let diff: Map<String, Value> = columns
                    .iter()
                    .filter_map(|c| {
                        let (a, b) = (value(o, c)?, value(n, c)?);
                        if a == b {
                            return None;
                        }
                        let ty = column_type(ts, c)?;
                        let shown = if sent_as_diff(&ty) { a.diff(&b) } else { b };
                        Some(((*c).to_owned(), shown.to_json()))
                    })
                    .collect();
                if diff.is_empty() {
                    return None;
                }
                Value::Object(diff)
            }
            _ => return None,
        };
        let mut obj = Map::new();
        obj.insert(kind.v2_key().to_owned(), body);
        Some(Value::Object(obj))
    }

    /// `monitor_cond_change`: replaces the conditions (and, when given, the columns) of the
    /// named tables, returning the `update2` that brings the client from what it saw to what
    /// the new conditions show (rows leaving are deleted, rows entering inserted).
    pub fn change_conditions(&mut self, db: &Database, requests: &Value) -> Result<Value> {
        if self.dialect.is_v1() {
            return Err(Error::new(
                ErrorKind::NotSupported,
                "monitor_cond_change is only for conditional monitors",
            ));
        }
        let obj = requests
            .as_object()
            .ok_or_else(|| Error::syntax(requests, "monitor requests must be an object"))?;
        let mut out = Map::new();
        for (name, request) in obj {
            let ts = db
                .schema()
                .table(name)
                .ok_or_else(|| Error::syntax(request, format!("no table named {name}")))?;
            let Some(before) = self.tables.get(name).cloned() else {
                return Err(Error::syntax(
                    request,
                    format!("table {name} is not monitored"),
                ));
            };
            let mut after = TableMonitor {
                columns: Vec::new(),
                select: Select::NONE,
                condition: None,
            };
            let list = match request {
                Value::Array(list) => list.as_slice(),
                single => std::slice::from_ref(single),
            };
            for r in list {
                parse_table_request(ts, self.dialect, r, &mut after)?;
            }
            if after.columns.is_empty() || list.iter().all(|r| r.get("columns").is_none()) {
                after.columns.clone_from(&before.columns);
                after.select = before.select;
            }
            let mut updates = Map::new();
            for (uuid, row) in db.rows(name).into_iter().flatten() {
                let was = before.matches(*uuid, row);
                let is = after.matches(*uuid, row);
                let u = match (was, is) {
                    (false, true) => {
                        self.row_update(ts, &after, *uuid, None, Some(row), Kind::Insert)
                    }
                    (true, false) => {
                        self.row_update(ts, &before, *uuid, Some(row), None, Kind::Delete)
                    }
                    _ => None,
                };
                if let Some(u) = u {
                    updates.insert(uuid.hyphenated().to_string(), u);
                }
            }
            if !updates.is_empty() {
                out.insert(name.clone(), Value::Object(updates));
            }
            self.tables.insert(name.clone(), after);
        }
        Ok(Value::Object(out))
    }
}

/// Parses one `<monitor-request>` (or `<monitor-cond-request>`) into `tm`.
fn parse_table_request(
    table: &TableSchema,
    dialect: Dialect,
    json: &Value,
    tm: &mut TableMonitor,
) -> Result<()> {
    let obj = json
        .as_object()
        .ok_or_else(|| Error::syntax(json, "monitor request must be an object"))?;
    let allowed: &[&str] = if dialect.is_v1() {
        &["columns", "select"]
    } else {
        &["columns", "select", "where"]
    };
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::syntax(
            json,
            format!("Member '{extra}' is present but not allowed here."),
        ));
    }
    let select = match obj.get("select") {
        Some(s) => Select::from_json(s)?,
        None => Select::ALL,
    };
    let columns: Vec<String> = match obj.get("columns") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| match c.as_str() {
                Some(name) if table.column(name).is_some() && name != "_uuid" => {
                    Ok(name.to_owned())
                }
                _ => Err(Error::syntax(
                    c,
                    format!("{c} is not a valid column name in table {}", table.name),
                )),
            })
            .collect::<Result<_>>()?,
        Some(other) => return Err(Error::syntax(other, "\"columns\" must be an array")),
        // Every column, and `_version` (Open vSwitch reports it when no list is given).
        None => std::iter::once("_version".to_owned())
            .chain(table.columns.keys().cloned())
            .collect(),
    };
    tm.select = tm.select.union(select);
    for c in columns {
        match tm.columns.iter_mut().find(|(n, _)| *n == c) {
            Some((_, s)) => *s = s.union(select),
            None => tm.columns.push((c, select)),
        }
    }
    if let Some(w) = obj.get("where") {
        let list = w
            .as_array()
            .ok_or_else(|| Error::syntax(w, "\"where\" must be an array"))?;
        let clauses = list
            .iter()
            .map(|c| match c {
                Value::Bool(b) => Ok(Clause::Constant(*b)),
                other => {
                    Condition::from_json(table, &Value::Array(vec![other.clone()]), &mut NoSymbols)
                        .map(Clause::Test)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        tm.condition = Some(clauses);
    }
    Ok(())
}

fn column_type(ts: &TableSchema, column: &str) -> Option<ColumnType> {
    ts.column(column).map(|c| c.ty.clone())
}

/// Columns that `update2` reports as a difference: maps, and sets that may hold more than one
/// element. An optional value (at most one element) is sent as its new value, as Open vSwitch
/// does: `["set", []]` when it is cleared.
fn sent_as_diff(ty: &ColumnType) -> bool {
    ty.is_map() || ty.max != MaxSize::Limited(1)
}

/// The `update` (or `update2`) notification's params for a monitor: `[id, table-updates]`;
/// `update3` adds the transaction id.
pub fn notification_params(dialect: Dialect, id: &Value, last_txn: Uuid, updates: Value) -> Value {
    match dialect {
        Dialect::CondSince => json!([id, uuid_text(last_txn), updates]),
        _ => json!([id, updates]),
    }
}

fn uuid_text(u: Uuid) -> Value {
    Value::String(u.hyphenated().to_string())
}
