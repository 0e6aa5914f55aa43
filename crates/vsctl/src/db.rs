//! A client-side copy of the database and the transaction that turns edits of it into
//! RFC 7047 operations.
//!
//! fvs-vsctl reads every table once (one `transact` of `select`s), lets the commands read and
//! edit that copy, then sends the difference: `insert` for new rows (with `uuid-name`s, so rows
//! can refer to each other before the server has given them UUIDs), `update` of the changed
//! columns only, `delete`, and before them a `wait` for every column a command's decision
//! depended on ("verify"), so a concurrent change makes the server refuse the transaction and
//! fvs-vsctl starts over, as ovs-vsctl does.
//!
//! New rows get temporary UUIDs from a reserved range until the reply names the real ones;
//! [`Db::commit_ops`] and [`Db::real_uuid`] translate.

use std::collections::{BTreeMap, BTreeSet};

use fvs_ovsdb::{DatabaseSchema, Datum, TableSchema};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::VsctlError;

/// A row: every column of its table, by name.
pub type Row = BTreeMap<String, Datum>;

/// The database as fetched, and as edited since.
#[derive(Debug, Clone)]
pub struct Db {
    /// The server's schema.
    pub schema: DatabaseSchema,
    base: BTreeMap<String, BTreeMap<Uuid, Row>>,
    cur: BTreeMap<String, BTreeMap<Uuid, Row>>,
    verified: BTreeSet<(String, Uuid, String)>,
    next_temp: u64,
    wrote: bool,
    /// Bumped by every edit, so that what is derived from the copy can be cached.
    generation: u64,
}

/// The columns of the two tables that grow with the switch (a port and an interface per
/// port) that the bridge commands (add-port, show, del-br, ...) read. A run of only such
/// commands fetches just these: with a thousand ports, every column of every interface is
/// most of the database, and fetching it most of an add-port's time. A column not fetched
/// reads as its default in the copy, identically before and after the commands, so it is
/// never part of the transaction. The database commands (list, set, ...) and emer-reset
/// fetch everything.
pub const NARROW: &[(&str, &[&str])] = &[
    (
        "Port",
        &[
            "name",
            "interfaces",
            "fake_bridge",
            "tag",
            "trunks",
            "external_ids",
        ],
    ),
    (
        "Interface",
        &["name", "type", "options", "error", "bfd_status"],
    ),
];

/// The first 8 bytes of temporary UUIDs; no server generates this prefix (it is not a valid
/// version-4 UUID), so temporary and real UUIDs cannot collide.
const TEMP_PREFIX: u64 = 0xffff_ffff_ffff_0000;

impl Db {
    /// The `select` of every table, to send as one transaction: every column, or with
    /// `narrow`, only the columns of `Port` and `Interface` that [`NARROW`] names.
    pub fn fetch_ops(schema: &DatabaseSchema, narrow: bool) -> Value {
        let mut ops = vec![Value::String(schema.name.clone())];
        for table in schema.tables.values() {
            let columns =
                NARROW
                    .iter()
                    .find(|(t, _)| narrow && *t == table.name)
                    .map(|(_, cols)| {
                        std::iter::once("_uuid")
                            .chain(cols.iter().copied().filter(|c| table.column(c).is_some()))
                            .collect::<Vec<_>>()
                    });
            ops.push(match columns {
                Some(columns) => {
                    json!({"op": "select", "table": table.name, "where": [], "columns": columns})
                }
                None => json!({"op": "select", "table": table.name, "where": []}),
            });
        }
        Value::Array(ops)
    }

    /// Builds the copy from the reply to [`Db::fetch_ops`].
    pub fn from_reply(schema: DatabaseSchema, reply: &Value) -> Result<Self, VsctlError> {
        let results = reply
            .as_array()
            .ok_or_else(|| VsctlError::Protocol("transact reply is not an array".into()))?;
        let mut tables = BTreeMap::new();
        for (table, result) in schema.tables.values().zip(results) {
            if let Some(err) = result.get("error") {
                return Err(VsctlError::Transaction(format!("{err}")));
            }
            let rows = result
                .get("rows")
                .and_then(Value::as_array)
                .ok_or_else(|| VsctlError::Protocol("select reply without rows".into()))?;
            let mut map = BTreeMap::new();
            for json_row in rows {
                let (uuid, row) = read_row(table, json_row)?;
                map.insert(uuid, row);
            }
            tables.insert(table.name.clone(), map);
        }
        Ok(Self {
            schema,
            base: tables.clone(),
            cur: tables,
            verified: BTreeSet::new(),
            next_temp: 0,
            wrote: false,
            generation: 0,
        })
    }

    /// Inserts a row with every column at its default; returns its temporary UUID.
    pub fn insert(&mut self, table: &str) -> Uuid {
        self.wrote = true;
        self.generation += 1;
        self.next_temp += 1;
        let uuid = Uuid::from_u64_pair(TEMP_PREFIX, self.next_temp);
        let row = self
            .schema
            .table(table)
            .map(|t| {
                t.columns
                    .values()
                    .filter(|c| !c.name.starts_with('_'))
                    .map(|c| (c.name.clone(), c.ty.default_datum()))
                    .collect()
            })
            .unwrap_or_default();
        self.cur
            .entry(table.to_owned())
            .or_default()
            .insert(uuid, row);
        uuid
    }

    /// Sets a column.
    pub fn set(&mut self, table: &str, uuid: Uuid, column: &str, value: Datum) {
        self.wrote = true;
        self.generation += 1;
        if let Some(row) = self.cur.get_mut(table).and_then(|t| t.get_mut(&uuid)) {
            row.insert(column.to_owned(), value);
        }
    }

    /// Deletes a row.
    pub fn delete(&mut self, table: &str, uuid: Uuid) {
        self.wrote = true;
        self.generation += 1;
        if let Some(t) = self.cur.get_mut(table) {
            t.remove(&uuid);
        }
    }

    /// Records that the transaction depends on a column's current value.
    pub fn verify(&mut self, table: &str, uuid: Uuid, column: &str) {
        if self.base.get(table).is_some_and(|t| t.contains_key(&uuid)) {
            self.verified
                .insert((table.to_owned(), uuid, column.to_owned()));
        }
    }

    /// The rows of a table, in UUID order.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (Uuid, &Row)> {
        self.cur
            .get(table)
            .into_iter()
            .flatten()
            .map(|(u, r)| (*u, r))
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        self.cur.get(table).and_then(|t| t.get(&uuid))
    }

    /// One column of a row (an empty set if the row or column is missing).
    pub fn get(&self, table: &str, uuid: Uuid, column: &str) -> Datum {
        self.row(table, uuid)
            .and_then(|r| r.get(column))
            .cloned()
            .unwrap_or_else(|| Datum::Set(BTreeSet::new()))
    }

    /// A table's schema.
    pub fn table_schema(&self, table: &str) -> Option<&TableSchema> {
        self.schema.table(table)
    }

    /// Changes with every edit of the copy (and only then).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether any command wrote (even a value equal to the old one).
    pub fn wrote(&self) -> bool {
        self.wrote
    }

    /// Whether the edits change the database.
    pub fn changed(&self) -> bool {
        self.base != self.cur
    }

    /// The name a new row goes by in the transaction.
    fn uuid_name(uuid: Uuid) -> String {
        format!("row{}", uuid.simple())
    }

    /// Whether a UUID is one of this client's temporary ones.
    pub fn is_temp(uuid: Uuid) -> bool {
        uuid.as_u64_pair().0 == TEMP_PREFIX
    }

    /// The operations that make the server's database equal to the edited copy (after the
    /// `wait`s), without the database name.
    pub fn commit_ops(&self) -> Vec<Value> {
        let mut ops = Vec::new();
        for (table, uuid, column) in &self.verified {
            let value = self
                .base
                .get(table)
                .and_then(|t| t.get(uuid))
                .and_then(|r| r.get(column));
            if let Some(value) = value {
                ops.push(json!({
                    "op": "wait", "table": table, "timeout": 0, "until": "==",
                    "where": [["_uuid", "==", ["uuid", uuid.hyphenated().to_string()]]],
                    "columns": [column], "rows": [{column: value.to_json()}],
                }));
            }
        }
        for (table, rows) in &self.cur {
            let base = self.base.get(table);
            let schema = self.schema.table(table);
            for (uuid, row) in rows {
                match base.and_then(|b| b.get(uuid)) {
                    None => {
                        let mut obj = serde_json::Map::new();
                        for (col, datum) in row {
                            let default = schema
                                .and_then(|s| s.column(col))
                                .map(|c| c.ty.default_datum());
                            if default.as_ref() != Some(datum) {
                                obj.insert(col.clone(), self.to_json(datum));
                            }
                        }
                        ops.push(json!({"op": "insert", "table": table,
                            "uuid-name": Self::uuid_name(*uuid), "row": obj}));
                    }
                    Some(old) => {
                        let mut obj = serde_json::Map::new();
                        for (col, datum) in row {
                            if old.get(col) != Some(datum) {
                                obj.insert(col.clone(), self.to_json(datum));
                            }
                        }
                        if !obj.is_empty() {
                            ops.push(json!({"op": "update", "table": table,
                                "where": [["_uuid", "==", ["uuid", uuid.hyphenated().to_string()]]],
                                "row": obj}));
                        }
                    }
                }
            }
        }
        for (table, rows) in &self.base {
            for uuid in rows.keys() {
                if !self.cur.get(table).is_some_and(|t| t.contains_key(uuid)) {
                    ops.push(json!({"op": "delete", "table": table,
                        "where": [["_uuid", "==", ["uuid", uuid.hyphenated().to_string()]]]}));
                }
            }
        }
        ops
    }

    /// The temporary UUIDs of inserted rows, in the order their `insert`s appear in
    /// [`Db::commit_ops`].
    pub fn inserted(&self) -> Vec<Uuid> {
        let mut out = Vec::new();
        for (table, rows) in &self.cur {
            let base = self.base.get(table);
            out.extend(
                rows.keys()
                    .filter(|u| !base.is_some_and(|b| b.contains_key(u))),
            );
        }
        out
    }

    /// A datum's JSON with references to new rows written as `named-uuid`s.
    fn to_json(&self, datum: &Datum) -> Value {
        let mut json = datum.to_json();
        name_temps(&mut json);
        json
    }
}

/// The reply's UUID for each temporary one, read from the `insert` results.
pub fn real_uuids(db: &Db, ops: &[Value], results: &[Value]) -> BTreeMap<Uuid, Uuid> {
    let temps = db.inserted();
    let mut map = BTreeMap::new();
    let mut temp_iter = temps.into_iter();
    for (op, result) in ops.iter().zip(results) {
        if op.get("op").and_then(Value::as_str) != Some("insert") {
            continue;
        }
        let Some(temp) = temp_iter.next() else { break };
        let real = result
            .get("uuid")
            .and_then(|u| u.get(1))
            .and_then(Value::as_str)
            .and_then(fvs_ovsdb::atom::parse_uuid);
        if let Some(real) = real {
            map.insert(temp, real);
        }
    }
    map
}

/// Rewrites `["uuid", temp]` as `["named-uuid", name]` throughout a JSON value.
fn name_temps(json: &mut Value) {
    if let Value::Array(items) = json {
        if let [Value::String(tag), Value::String(text)] = items.as_slice()
            && tag == "uuid"
            && let Some(u) = fvs_ovsdb::atom::parse_uuid(text)
            && Db::is_temp(u)
        {
            *json = json!(["named-uuid", Db::uuid_name(u)]);
            return;
        }
        items.iter_mut().for_each(name_temps);
    }
}

/// Reads one row of a `select` result, filling columns the server left out with defaults.
fn read_row(table: &TableSchema, json: &Value) -> Result<(Uuid, Row), VsctlError> {
    let bad = |what: &str| VsctlError::Protocol(format!("{}: {what}", table.name));
    let obj = json
        .as_object()
        .ok_or_else(|| bad("row is not an object"))?;
    let uuid = obj
        .get("_uuid")
        .and_then(|u| u.get(1))
        .and_then(Value::as_str)
        .and_then(fvs_ovsdb::atom::parse_uuid)
        .ok_or_else(|| bad("row without _uuid"))?;
    let mut row = Row::new();
    for col in table.columns.values().filter(|c| !c.name.starts_with('_')) {
        let datum = match obj.get(&col.name) {
            Some(v) => Datum::from_json(&col.ty.any_size(), v, None)
                .map_err(|e| bad(&format!("column {}: {e}", col.name)))?,
            None => col.ty.default_datum(),
        };
        row.insert(col.name.clone(), datum);
    }
    Ok((uuid, row))
}
