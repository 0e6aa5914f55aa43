//! The `transact` method (RFC 7047 §4.1.3, §5.2): operations, then commit checks.
//!
//! Operations run in order against a private overlay of the database (the rows they touched,
//! as they now stand); the database itself is only read. The first failing operation ends the
//! transaction: the reply holds the results so far, then the error, then `null` for every
//! operation that did not run. When every operation succeeds, the commit checks run: weak
//! references to rows that are gone are dropped, unreferenced rows of non-root tables are
//! collected, then column sizes, `maxRows` and indexes are checked; a
//! failure there appends one error after the operations' results. (Strong references are
//! checked before collection, so a row that is about to be collected still counts.) Only a transaction that
//! passes everything yields a [`ChangeSet`], and the caller decides when to apply it.
//!
//! `wait` is the one operation that depends on time. Its result is either a failure now
//! ("timed out"), or [`Outcome::Blocked`]: the server keeps the request and runs it again when
//! the database changes or the deadline passes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::atom::{Atom, RefType, Symbols, parse_uuid, uuid_to_json};
use crate::condition::Condition;
use crate::datum::Datum;
use crate::db::{ChangeSet, Database, Row, RowChange};
use crate::error::{Error, ErrorKind, Result};
use crate::mutation::Mutation;
use crate::schema::{TableSchema, is_id};

/// What a transaction needs from the server around it.
pub struct Context<'a> {
    /// Milliseconds on the server's clock now.
    pub now_ms: u64,
    /// When the server first received this request (for `wait` timeouts).
    pub received_ms: u64,
    /// The locks this client holds (for `assert`).
    pub locks: &'a BTreeSet<String>,
    /// A source of fresh UUIDs for new rows and versions.
    pub new_uuid: &'a mut dyn FnMut() -> Uuid,
}

/// The result of running a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The reply's `result` array, and the changes to make durable and apply (empty when the
    /// transaction failed or changed nothing).
    Done {
        /// The `result` array.
        reply: Value,
        /// The committed changes.
        changes: ChangeSet,
    },
    /// A `wait` is not yet satisfied: retry when the database changes, or at `deadline_ms`
    /// (never, when `None`), when it then fails as "timed out" if still unsatisfied.
    Blocked {
        /// When the wait times out, on the server's clock.
        deadline_ms: Option<u64>,
    },
}

/// Runs a `transact` request's `params` (`[db-name, operation...]`) against `db`.
///
/// Errors here concern the request as a whole (not an array, wrong database); the server sends
/// them as the JSON-RPC `error`. Every other failure is inside the reply.
pub fn transact(db: &Database, params: &Value, ctx: &mut Context<'_>) -> Result<Outcome> {
    let (name, ops) = match params.as_array().map(Vec::as_slice) {
        Some([Value::String(name), ops @ ..]) => (name, ops),
        _ => {
            return Err(Error::syntax(
                params,
                "database name expected as first parameter",
            ));
        }
    };
    if *name != db.schema().name {
        return Err(Error::new(ErrorKind::UnknownDatabase, name.clone()));
    }
    let mut txn = Txn::new(db, ctx);
    let mut results = Vec::with_capacity(ops.len());
    let mut failed = false;
    for (i, op) in ops.iter().enumerate() {
        match txn.operation(op, i + 1, ops.len()) {
            Ok(Step::Result(r)) => results.push(r),
            Ok(Step::Blocked(deadline_ms)) => return Ok(Outcome::Blocked { deadline_ms }),
            Err(e) => {
                results.push(e.to_json());
                failed = true;
                break;
            }
        }
    }
    if failed {
        results.resize(ops.len(), Value::Null);
        return Ok(Outcome::Done {
            reply: Value::Array(results),
            changes: ChangeSet::default(),
        });
    }
    match txn.commit() {
        Ok(changes) => Ok(Outcome::Done {
            reply: Value::Array(results),
            changes,
        }),
        Err(e) => {
            results.push(e.to_json());
            Ok(Outcome::Done {
                reply: Value::Array(results),
                changes: ChangeSet::default(),
            })
        }
    }
}

enum Step {
    Result(Value),
    Blocked(Option<u64>),
}

/// Named UUIDs of one transaction: declared by `insert`, or first used by a reference.
struct SymbolTable<'a> {
    symbols: BTreeMap<String, (Uuid, bool)>,
    new_uuid: &'a mut dyn FnMut() -> Uuid,
}

impl Symbols for SymbolTable<'_> {
    fn resolve(&mut self, name: &str) -> Uuid {
        if let Some((u, _)) = self.symbols.get(name) {
            return *u;
        }
        let u = (self.new_uuid)();
        self.symbols.insert(name.to_owned(), (u, false));
        u
    }
}

struct Txn<'a, 'c> {
    db: &'a Database,
    /// Rows touched so far, as they now stand (`None`: deleted).
    overlay: BTreeMap<String, BTreeMap<Uuid, Option<Row>>>,
    symbols: SymbolTable<'c>,
    comments: Vec<String>,
    durable: bool,
    now_ms: u64,
    received_ms: u64,
    locks: &'c BTreeSet<String>,
}

impl<'a, 'c> Txn<'a, 'c> {
    fn new(db: &'a Database, ctx: &'c mut Context<'_>) -> Self {
        Self {
            db,
            overlay: BTreeMap::new(),
            symbols: SymbolTable {
                symbols: BTreeMap::new(),
                new_uuid: ctx.new_uuid,
            },
            comments: Vec::new(),
            durable: false,
            now_ms: ctx.now_ms,
            received_ms: ctx.received_ms,
            locks: ctx.locks,
        }
    }

    fn fresh_uuid(&mut self) -> Uuid {
        (self.symbols.new_uuid)()
    }

    fn operation(&mut self, op: &Value, index: usize, count: usize) -> Result<Step> {
        let prefix = format!("Parsing ovsdb operation {index} of {count} failed: ");
        let parse_err = |e: Error| e.prefixed(&prefix).with_syntax(op);
        let obj = match op {
            Value::Object(obj) => obj,
            _ => {
                return Err(Error::new(
                    ErrorKind::SyntaxError,
                    format!("{prefix}Object expected."),
                ));
            }
        };
        let name = match obj.get("op") {
            Some(Value::String(n)) => n.as_str(),
            Some(_) => return Err(parse_err(type_mismatch("op"))),
            None => return Err(parse_err(missing("op"))),
        };
        let allowed: &[&str] = match name {
            "insert" => &["op", "table", "row", "uuid-name", "uuid"],
            "select" => &["op", "table", "where", "columns"],
            "update" => &["op", "table", "where", "row"],
            "mutate" => &["op", "table", "where", "mutations"],
            "delete" => &["op", "table", "where"],
            "wait" => &[
                "op", "table", "where", "columns", "until", "rows", "timeout",
            ],
            "commit" => &["op", "durable"],
            "abort" => &["op"],
            "comment" => &["op", "comment"],
            "assert" => &["op", "lock"],
            _ => {
                return Err(parse_err(Error::new(
                    ErrorKind::SyntaxError,
                    format!("No operation \"{name}\""),
                )));
            }
        };
        if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(parse_err(Error::new(
                ErrorKind::SyntaxError,
                format!("Member '{extra}' is present but not allowed here."),
            )));
        }
        let table = if allowed.contains(&"table") {
            match obj.get("table") {
                Some(Value::String(t)) => match self.db.schema().table(t) {
                    Some(schema) => Some(schema),
                    None => {
                        return Err(parse_err(Error::new(
                            ErrorKind::SyntaxError,
                            format!("No table named {t}."),
                        )));
                    }
                },
                Some(_) => return Err(parse_err(type_mismatch("table"))),
                None => return Err(parse_err(missing("table"))),
            }
        } else {
            None
        };
        let required = |key: &str| obj.get(key).ok_or_else(|| parse_err(missing(key)));
        let schema = self.db.schema().clone();
        let table = table.and_then(|t| schema.table(&t.name));
        match (name, table) {
            ("insert", Some(t)) => self.insert(t, obj, &parse_err),
            ("select", Some(t)) => {
                let cond = Condition::from_json(t, required("where")?, &mut self.symbols)?;
                let columns = self.columns(t, obj.get("columns"))?;
                let rows = self
                    .matching(t, &cond)
                    .into_iter()
                    .map(|(u, r)| project(u, &r, &columns))
                    .collect();
                Ok(Step::Result(json!({ "rows": Value::Array(rows) })))
            }
            ("update", Some(t)) => {
                let cond = Condition::from_json(t, required("where")?, &mut self.symbols)?;
                let row_json = required("row")?;
                let values = self
                    .parse_row(t, row_json, true)
                    .map_err(|e| e.with_syntax(op))?;
                let matched = self.matching(t, &cond);
                let count = matched.len();
                for (uuid, mut row) in matched {
                    for (column, value) in &values {
                        row.columns.insert(column.clone(), value.clone());
                    }
                    self.put(&t.name, uuid, Some(row));
                }
                Ok(Step::Result(json!({ "count": count })))
            }
            ("mutate", Some(t)) => {
                let cond = Condition::from_json(t, required("where")?, &mut self.symbols)?;
                let mutations =
                    Mutation::list_from_json(t, required("mutations")?, &mut self.symbols)?;
                let matched = self.matching(t, &cond);
                let count = matched.len();
                for (uuid, mut row) in matched {
                    for m in &mutations {
                        let Some(column) = t.columns.get(&m.column) else {
                            continue;
                        };
                        let current = row
                            .columns
                            .get(&m.column)
                            .cloned()
                            .unwrap_or_else(|| column.ty.default_datum());
                        let new = m.apply(&column.ty, &current)?;
                        row.columns.insert(m.column.clone(), new);
                    }
                    self.put(&t.name, uuid, Some(row));
                }
                Ok(Step::Result(json!({ "count": count })))
            }
            ("delete", Some(t)) => {
                let cond = Condition::from_json(t, required("where")?, &mut self.symbols)?;
                let matched = self.matching(t, &cond);
                let count = matched.len();
                for (uuid, _) in matched {
                    self.put(&t.name, uuid, None);
                }
                Ok(Step::Result(json!({ "count": count })))
            }
            ("wait", Some(t)) => self.wait(t, obj, &parse_err),
            ("commit", _) => {
                match required("durable")? {
                    Value::Bool(b) => self.durable |= *b,
                    _ => return Err(parse_err(type_mismatch("durable"))),
                }
                Ok(Step::Result(json!({})))
            }
            ("abort", _) => Err(Error::new(ErrorKind::Aborted, "aborted by request")),
            ("comment", _) => match required("comment")? {
                Value::String(c) => {
                    self.comments.push(c.clone());
                    Ok(Step::Result(json!({})))
                }
                _ => Err(parse_err(type_mismatch("comment"))),
            },
            ("assert", _) => match required("lock")? {
                Value::String(lock) if self.locks.contains(lock) => Ok(Step::Result(json!({}))),
                Value::String(lock) => Err(Error::new(
                    ErrorKind::NotOwner,
                    format!("Asserted lock {lock} not held."),
                )),
                _ => Err(parse_err(type_mismatch("lock"))),
            },
            _ => Err(parse_err(missing("table"))),
        }
    }

    fn insert(
        &mut self,
        t: &TableSchema,
        obj: &Map<String, Value>,
        parse_err: &dyn Fn(Error) -> Error,
    ) -> Result<Step> {
        let explicit = match obj.get("uuid") {
            None => None,
            Some(v @ Value::String(s)) => match parse_uuid(s) {
                Some(u) => Some((u, v)),
                None => return Err(parse_err(type_mismatch("uuid"))),
            },
            Some(_) => return Err(parse_err(type_mismatch("uuid"))),
        };
        let name = match obj.get("uuid-name") {
            None => None,
            Some(v @ Value::String(s)) if is_id(s) => Some((s.clone(), v)),
            Some(_) => return Err(parse_err(type_mismatch("uuid-name"))),
        };
        let uuid = match (&name, explicit) {
            (Some((n, v)), explicit) => match self.symbols.symbols.get(n) {
                Some((_, true)) => {
                    return Err(Error::new(
                        ErrorKind::DuplicateUuidName,
                        "This \"uuid-name\" appeared on an earlier \"insert\" operation.",
                    )
                    .with_syntax(v));
                }
                Some((u, false)) => *u,
                None => match explicit {
                    Some((u, _)) => u,
                    None => self.fresh_uuid(),
                },
            },
            (None, Some((u, _))) => u,
            (None, None) => self.fresh_uuid(),
        };
        if let Some((u, v)) = explicit
            && (self.exists_or_deleted(&t.name, u))
        {
            return Err(Error::new(
                ErrorKind::DuplicateUuid,
                "This UUID would duplicate a UUID already present within the table or deleted within the same transaction.",
            )
            .with_syntax(v));
        }
        if let Some((n, _)) = name {
            self.symbols.symbols.insert(n, (uuid, true));
        }
        let values = match obj.get("row") {
            Some(row) => self.parse_row(t, row, false)?,
            None => BTreeMap::new(),
        };
        let version = self.fresh_uuid();
        let mut row = Row::new_default(t, version);
        row.columns.extend(values);
        self.put(&t.name, uuid, Some(row));
        Ok(Step::Result(json!({ "uuid": uuid_to_json(uuid) })))
    }

    fn wait(
        &mut self,
        t: &TableSchema,
        obj: &Map<String, Value>,
        parse_err: &dyn Fn(Error) -> Error,
    ) -> Result<Step> {
        let timeout = match obj.get("timeout") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(ms) => Some(ms),
                None => return Err(parse_err(type_mismatch("timeout"))),
            },
        };
        let cond = Condition::from_json(
            t,
            obj.get("where")
                .ok_or_else(|| parse_err(missing("where")))?,
            &mut self.symbols,
        )?;
        let columns = self.columns(t, obj.get("columns"))?;
        let equal = match obj.get("until") {
            Some(Value::String(u)) if u == "==" => true,
            Some(Value::String(u)) if u == "!=" => false,
            Some(_) => {
                return Err(parse_err(Error::new(
                    ErrorKind::SyntaxError,
                    "\"until\" must be \"==\" or \"!=\".",
                )));
            }
            None => return Err(parse_err(missing("until"))),
        };
        let rows_json = obj
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| parse_err(missing("rows")))?;
        let mut expected = BTreeSet::new();
        for r in rows_json {
            let parsed = self.parse_row(t, r, false)?;
            if let Some(extra) = parsed.keys().find(|c| !columns.contains(c)) {
                return Err(Error::syntax(
                    r,
                    format!("Row column {extra} is not among the \"columns\"."),
                ));
            }
            expected.insert(parsed.into_iter().collect::<Vec<_>>());
        }
        let actual: BTreeSet<Vec<(String, Datum)>> = self
            .matching(t, &cond)
            .into_iter()
            .map(|(u, row)| {
                columns
                    .iter()
                    .filter_map(|c| row.get(u, c).map(|d| (c.clone(), d)))
                    .collect()
            })
            .collect();
        if (actual == expected) == equal {
            return Ok(Step::Result(json!({})));
        }
        let deadline = timeout.map(|t| self.received_ms.saturating_add(t));
        match deadline {
            Some(d) if self.now_ms >= d => Err(Error::new(
                ErrorKind::TimedOut,
                "\"where\" clause test failed",
            )),
            _ => Ok(Step::Blocked(deadline)),
        }
    }

    /// Parses a `row` object: column values for an insert, update or wait.
    fn parse_row(
        &mut self,
        t: &TableSchema,
        json: &Value,
        for_update: bool,
    ) -> Result<BTreeMap<String, Datum>> {
        let obj = json
            .as_object()
            .ok_or_else(|| Error::syntax(json, "row must be an object"))?;
        let mut values = BTreeMap::new();
        for (name, value) in obj {
            let column = t.column_in(name, json)?;
            if for_update && !column.mutable {
                return Err(Error::constraint(format!(
                    "Cannot update immutable column {name} in table {}.",
                    t.name
                )));
            }
            if name.starts_with('_') {
                // `_uuid` and `_version` are not the client's to set; Open vSwitch ignores them.
                continue;
            }
            values.insert(
                name.clone(),
                Datum::from_json(&column.ty, value, Some(&mut self.symbols))?,
            );
        }
        Ok(values)
    }

    /// The `columns` member: the named columns, or all of them with `_uuid` and `_version`.
    fn columns(&self, t: &TableSchema, json: Option<&Value>) -> Result<Vec<String>> {
        let Some(json) = json else {
            let mut all = vec!["_uuid".to_owned(), "_version".to_owned()];
            all.extend(t.columns.keys().cloned());
            return Ok(all);
        };
        let list = json
            .as_array()
            .ok_or_else(|| Error::syntax(json, "\"columns\" must be an array"))?;
        list.iter()
            .map(|c| match c.as_str() {
                Some(name) if t.column(name).is_some() => Ok(name.to_owned()),
                _ => Err(Error::new(
                    ErrorKind::UnknownColumn,
                    format!("No column {c} in table {}.", t.name),
                )
                .with_syntax(c)),
            })
            .collect()
    }

    /// The rows of `t` that satisfy `cond`, as they stand in this transaction.
    fn matching(&self, t: &TableSchema, cond: &Condition) -> Vec<(Uuid, Row)> {
        if let Some(uuid) = cond.uuid() {
            return self
                .current(&t.name, uuid)
                .filter(|row| cond.matches(uuid, row))
                .map(|row| vec![(uuid, row.clone())])
                .unwrap_or_default();
        }
        self.uuids(&t.name)
            .into_iter()
            .filter_map(|u| {
                self.current(&t.name, u)
                    .filter(|row| cond.matches(u, row))
                    .map(|row| (u, row.clone()))
            })
            .collect()
    }

    fn current(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        match self.overlay.get(table).and_then(|rows| rows.get(&uuid)) {
            Some(state) => state.as_ref(),
            None => self.db.row(table, uuid),
        }
    }

    /// Every row UUID of `table` as it stands in this transaction.
    fn uuids(&self, table: &str) -> Vec<Uuid> {
        let mut set: BTreeSet<Uuid> = self
            .db
            .rows(table)
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        if let Some(rows) = self.overlay.get(table) {
            for (u, state) in rows {
                if state.is_some() {
                    set.insert(*u);
                } else {
                    set.remove(u);
                }
            }
        }
        set.into_iter().collect()
    }

    fn exists_or_deleted(&self, table: &str, uuid: Uuid) -> bool {
        self.db.row(table, uuid).is_some()
            || self
                .overlay
                .get(table)
                .is_some_and(|r| r.contains_key(&uuid))
    }

    fn put(&mut self, table: &str, uuid: Uuid, row: Option<Row>) {
        self.overlay
            .entry(table.to_owned())
            .or_default()
            .insert(uuid, row);
    }

    /// The commit checks, in Open vSwitch's order, yielding the change set.
    fn commit(mut self) -> Result<ChangeSet> {
        let schema = self.db.schema().clone();
        self.drop_unchanged();
        // References are checked before garbage collection, as in Open vSwitch: a row that is
        // about to be collected still counts as a referrer.
        self.check_references(&schema)?;
        self.collect(&schema)?;
        self.drop_unchanged();
        // New versions for rows that really changed.
        let modified: Vec<(String, Uuid)> = self
            .overlay
            .iter()
            .flat_map(|(t, rows)| {
                rows.iter()
                    .filter(|(u, state)| state.is_some() && self.db.row(t, **u).is_some())
                    .map(move |(u, _)| (t.clone(), *u))
            })
            .collect();
        for (t, u) in modified {
            let version = self.fresh_uuid();
            if let Some(Some(row)) = self.overlay.get_mut(&t).and_then(|rows| rows.get_mut(&u)) {
                row.version = version;
            }
        }
        self.check_sizes(&schema)?;
        self.check_limits(&schema)?;
        let mut changes = ChangeSet {
            tables: BTreeMap::new(),
            comment: (!self.comments.is_empty()).then(|| self.comments.join("\n")),
            durable: self.durable,
        };
        for (t, rows) in self.overlay {
            let mut out = BTreeMap::new();
            for (u, new) in rows {
                let old = self.db.row(&t, u).cloned();
                if old.is_none() && new.is_none() {
                    continue;
                }
                out.insert(u, RowChange { old, new });
            }
            if !out.is_empty() {
                changes.tables.insert(t, out);
            }
        }
        Ok(changes)
    }

    /// Forgets rows whose columns end up as they were, and rows inserted then deleted.
    fn drop_unchanged(&mut self) {
        let db = self.db;
        for (t, rows) in &mut self.overlay {
            rows.retain(|u, state| match (db.row(t, *u), state.as_ref()) {
                (Some(old), Some(new)) => old.columns != new.columns,
                (None, None) => false,
                _ => true,
            });
        }
    }

    /// Drops weak references to rows that are gone and deletes non-root rows that nothing
    /// strongly refers to any more, until neither finds anything to do.
    fn collect(&mut self, schema: &crate::schema::DatabaseSchema) -> Result<()> {
        loop {
            let mut changed = false;
            // Weak references: in every row that may hold one to a row of a table with deletions.
            let deleted_tables: BTreeSet<String> = self
                .overlay
                .iter()
                .filter(|(t, rows)| {
                    rows.iter()
                        .any(|(u, s)| s.is_none() && self.db.row(t, *u).is_some())
                })
                .map(|(t, _)| t.clone())
                .collect();
            for table in schema.tables.values() {
                let weak_cols: Vec<&String> = table
                    .columns
                    .iter()
                    .filter(|(_, c)| {
                        [Some(&c.ty.key), c.ty.value.as_ref()]
                            .into_iter()
                            .flatten()
                            .any(|b| matches!(b.reference(), Some((_, RefType::Weak))))
                    })
                    .map(|(n, _)| n)
                    .collect();
                if weak_cols.is_empty() {
                    continue;
                }
                // Rows touched here, plus all rows when a target table lost rows.
                let touches_target = table.columns.values().any(|c| {
                    [Some(&c.ty.key), c.ty.value.as_ref()]
                        .into_iter()
                        .flatten()
                        .any(|b| matches!(b.reference(), Some((target, RefType::Weak)) if deleted_tables.contains(target)))
                });
                let candidates: Vec<Uuid> = if touches_target {
                    self.uuids(&table.name)
                } else {
                    self.overlay
                        .get(&table.name)
                        .map(|r| {
                            r.iter()
                                .filter(|(_, s)| s.is_some())
                                .map(|(u, _)| *u)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                for u in candidates {
                    let Some(row) = self.current(&table.name, u) else {
                        continue;
                    };
                    let mut new = row.clone();
                    let mut dropped = false;
                    for col in &weak_cols {
                        let Some(cs) = table.columns.get(*col) else {
                            continue;
                        };
                        let Some(value) = new.columns.get_mut(*col) else {
                            continue;
                        };
                        let key_target = weak_target(&cs.ty.key);
                        let value_target = cs.ty.value.as_ref().and_then(weak_target);
                        let keep =
                            |atom: &Atom, target: Option<&str>| match (target, atom.as_uuid()) {
                                (Some(t), Some(r)) => self.current(t, r).is_some(),
                                _ => true,
                            };
                        let before = value.len();
                        *value = match value {
                            Datum::Set(s) => Datum::Set(
                                s.iter().filter(|a| keep(a, key_target)).cloned().collect(),
                            ),
                            Datum::Map(m) => Datum::Map(
                                m.iter()
                                    .filter(|(k, v)| keep(k, key_target) && keep(v, value_target))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                            ),
                        };
                        dropped |= value.len() != before;
                    }
                    if dropped {
                        self.put(&table.name, u, Some(new));
                        changed = true;
                    }
                }
            }
            // Garbage: rows of non-root tables that were inserted or lost a strong referrer.
            let mut candidates: BTreeSet<(String, Uuid)> = BTreeSet::new();
            for (t, rows) in &self.overlay {
                let Some(ts) = schema.table(t) else { continue };
                for (u, state) in rows {
                    let old = self.db.row(t, *u);
                    if old.is_none() && state.is_some() && !ts.is_root {
                        candidates.insert((t.clone(), *u));
                    }
                    if let Some(old) = old {
                        let new_refs = state
                            .as_ref()
                            .map(|r| strong_refs(ts, r))
                            .unwrap_or_default();
                        for r in strong_refs(ts, old) {
                            if !new_refs.contains(&r) {
                                candidates.insert(r);
                            }
                        }
                    }
                }
            }
            candidates.retain(|(t, u)| {
                schema.table(t).is_some_and(|ts| !ts.is_root) && self.current(t, *u).is_some()
            });
            if !candidates.is_empty() {
                let targets: BTreeSet<&str> = candidates.iter().map(|(t, _)| t.as_str()).collect();
                let referenced = self.strongly_referenced(schema, &targets);
                for (t, u) in candidates {
                    if !referenced.contains(&(t.clone(), u)) {
                        self.put(&t, u, None);
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    /// Every (table, row) in `targets` that some row strongly refers to, as things stand.
    fn strongly_referenced(
        &self,
        schema: &crate::schema::DatabaseSchema,
        targets: &BTreeSet<&str>,
    ) -> BTreeSet<(String, Uuid)> {
        let mut out = BTreeSet::new();
        for table in schema.tables.values() {
            let refers = table.columns.values().any(|c| {
                [Some(&c.ty.key), c.ty.value.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|b| matches!(b.reference(), Some((t, RefType::Strong)) if targets.contains(t)))
            });
            if !refers {
                continue;
            }
            for u in self.uuids(&table.name) {
                if let Some(row) = self.current(&table.name, u) {
                    out.extend(
                        strong_refs(table, row)
                            .into_iter()
                            .filter(|(t, _)| targets.contains(t.as_str())),
                    );
                }
            }
        }
        out
    }

    /// Strong references from changed rows must lead to rows that exist; rows deleted must not
    /// be strongly referenced any more.
    fn check_references(&self, schema: &crate::schema::DatabaseSchema) -> Result<()> {
        let mut deleted: BTreeSet<&str> = BTreeSet::new();
        for (t, rows) in &self.overlay {
            let Some(ts) = schema.table(t) else { continue };
            for (u, state) in rows {
                let Some(row) = state else {
                    deleted.insert(t);
                    continue;
                };
                for (column, c) in &ts.columns {
                    let Some(value) = row.columns.get(column) else {
                        continue;
                    };
                    let key_target = strong_target(&c.ty.key);
                    let value_target = c.ty.value.as_ref().and_then(strong_target);
                    let pairs: Vec<(&Atom, Option<&str>)> = match value {
                        Datum::Set(s) => s.iter().map(|a| (a, key_target)).collect(),
                        Datum::Map(m) => m
                            .iter()
                            .flat_map(|(k, v)| [(k, key_target), (v, value_target)])
                            .collect(),
                    };
                    for (atom, target) in pairs {
                        if let (Some(target), Some(r)) = (target, atom.as_uuid())
                            && self.current(target, r).is_none()
                        {
                            return Err(Error::new(
                                ErrorKind::ReferentialIntegrityViolation,
                                format!(
                                    "Table {t} column {column} row {u} references nonexistent row {r} in table {target}."
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if deleted.is_empty() {
            return Ok(());
        }
        // Unchanged rows may still point at deleted ones.
        let referenced = self.strongly_referenced(schema, &deleted);
        for (t, rows) in &self.overlay {
            for (u, state) in rows {
                if state.is_none() && referenced.contains(&(t.clone(), *u)) {
                    return Err(Error::new(
                        ErrorKind::ReferentialIntegrityViolation,
                        format!("cannot delete {t} row {u} because of remaining strong references"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every changed row's columns hold as many elements as their types allow.
    fn check_sizes(&self, schema: &crate::schema::DatabaseSchema) -> Result<()> {
        for (t, rows) in &self.overlay {
            let Some(ts) = schema.table(t) else { continue };
            for (u, row) in rows.iter().filter_map(|(u, s)| s.as_ref().map(|r| (u, r))) {
                for (column, c) in &ts.columns {
                    if let Some(value) = row.columns.get(column)
                        && !value.size_ok(&c.ty)
                    {
                        return Err(Error::constraint(format!(
                            "Table {t} column {column} row {u} holds {} elements, but its type is {}.",
                            value.len(),
                            c.ty.describe()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// `maxRows` and indexes of the tables this transaction changed.
    fn check_limits(&self, schema: &crate::schema::DatabaseSchema) -> Result<()> {
        for t in self.overlay.keys() {
            let Some(ts) = schema.table(t) else { continue };
            if ts.max_rows.is_none() && ts.indexes.is_empty() {
                continue;
            }
            let uuids = self.uuids(t);
            if let Some(max) = ts.max_rows
                && uuids.len() as u64 > max
            {
                return Err(Error::constraint(format!(
                    "Transaction causes \"{t}\" table to contain {} rows, greater than the schema-defined limit of {max} row(s).",
                    uuids.len()
                )));
            }
            for index in &ts.indexes {
                let mut seen: BTreeMap<Vec<Datum>, Uuid> = BTreeMap::new();
                for u in &uuids {
                    let Some(row) = self.current(t, *u) else {
                        continue;
                    };
                    let key: Vec<Datum> = index.iter().filter_map(|c| row.get(*u, c)).collect();
                    if let Some(other) = seen.insert(key, *u) {
                        return Err(Error::constraint(format!(
                            "Transaction causes multiple rows in \"{t}\" table to have identical values for index on columns {} (rows {other} and {u}).",
                            index.join(", ")
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The (table, row) pairs a row strongly refers to.
fn strong_refs(table: &TableSchema, row: &Row) -> BTreeSet<(String, Uuid)> {
    let mut out = BTreeSet::new();
    for (column, c) in &table.columns {
        let Some(value) = row.columns.get(column) else {
            continue;
        };
        let key_target = strong_target(&c.ty.key);
        let value_target = c.ty.value.as_ref().and_then(strong_target);
        let mut add = |atom: &Atom, target: Option<&str>| {
            if let (Some(t), Some(u)) = (target, atom.as_uuid()) {
                out.insert((t.to_owned(), u));
            }
        };
        match value {
            Datum::Set(s) => s.iter().for_each(|a| add(a, key_target)),
            Datum::Map(m) => m.iter().for_each(|(k, v)| {
                add(k, key_target);
                add(v, value_target);
            }),
        }
    }
    out
}

fn strong_target(b: &crate::atom::BaseType) -> Option<&str> {
    match b.reference() {
        Some((t, RefType::Strong)) => Some(t),
        _ => None,
    }
}

fn weak_target(b: &crate::atom::BaseType) -> Option<&str> {
    match b.reference() {
        Some((t, RefType::Weak)) => Some(t),
        _ => None,
    }
}

fn project(uuid: Uuid, row: &Row, columns: &[String]) -> Value {
    let obj: Map<String, Value> = columns
        .iter()
        .filter_map(|c| row.get(uuid, c).map(|d| (c.clone(), d.to_json())))
        .collect();
    Value::Object(obj)
}

fn missing(member: &str) -> Error {
    Error::new(
        ErrorKind::SyntaxError,
        format!("Required '{member}' member is missing."),
    )
}

fn type_mismatch(member: &str) -> Error {
    Error::new(
        ErrorKind::SyntaxError,
        format!("Type mismatch for member '{member}'."),
    )
}
