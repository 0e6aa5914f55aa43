//! The durable log: OVSDB's standalone database file format, so `ovsdb-tool` can read ours.
//!
//! A file is a sequence of records. Each is a header line `OVSDB JSON <length> <sha1>` followed
//! by `<length>` bytes: one JSON value and a newline, whose SHA-1 (hex) the header carries. The
//! first record is the schema; every later one is a committed transaction:
//!
//! ```text
//! {"<table>": {"<row uuid>": {"<column>": <value>...} | null ...}...,
//!  "_date": <ms since the epoch>, "_comment": "<text>", "_is_diff": true}
//! ```
//!
//! An inserted row lists its columns that differ from their defaults; a modified row lists the
//! columns that changed, maps and sets of more than one element as a [`Datum::diff`] (what to
//! toggle), other columns as their new value; a deleted row is `null`. Ephemeral columns are
//! not written, as in Open vSwitch.
//!
//! Compaction replaces a file by two records: the schema and a snapshot holding the whole
//! database as one transaction of inserts ([`snapshot_record`]), which `ovsdb-tool` reads like
//! any other file.
//!
//! Writing and reading are functions over bytes: the caller owns the file, the fsync and the
//! clock. Reading stops at the first record that is cut short or damaged and says where, so a
//! server can truncate a torn tail left by a crash and carry on.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::atom::parse_uuid;
use crate::datum::{ColumnType, Datum, MaxSize};
use crate::db::{ChangeSet, Database, Row, RowChange};
use crate::schema::{DatabaseSchema, TableSchema};

/// The header's magic for standalone (non-clustered) files.
const MAGIC: &str = "OVSDB JSON";

/// Longest header line we accept: the magic, a length and 40 hex digits fit with room to spare.
const MAX_HEADER: usize = 128;

/// Why reading a log stopped early, or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The file ends inside a record (a write cut short by a crash).
    #[error("record at offset {offset} is truncated")]
    Truncated {
        /// Where the record starts.
        offset: usize,
    },
    /// A header line is not `OVSDB JSON <length> <sha1>`.
    #[error("record at offset {offset} has a bad header")]
    BadHeader {
        /// Where the record starts.
        offset: usize,
    },
    /// The record's bytes do not match the header's SHA-1.
    #[error("record at offset {offset} fails its SHA-1 check")]
    BadChecksum {
        /// Where the record starts.
        offset: usize,
    },
    /// The record's bytes are not one JSON value.
    #[error("record at offset {offset} is not valid JSON")]
    BadJson {
        /// Where the record starts.
        offset: usize,
    },
    /// The first record is not a valid schema.
    #[error("the log's schema is invalid: {0}")]
    BadSchema(String),
    /// A transaction record does not fit the schema.
    #[error("record {index} does not fit the schema: {reason}")]
    BadRecord {
        /// Index of the record (0 is the schema).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file has no records.
    #[error("the log is empty")]
    Empty,
}

/// The records read from a log, and where and why reading stopped if it stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct LogContents {
    /// The records, in order.
    pub records: Vec<Value>,
    /// Where each record ends (the offset just past it), in the same order.
    pub ends: Vec<usize>,
    /// Length of the prefix holding exactly `records`: truncate to this to drop a bad tail.
    pub valid_len: usize,
    /// The problem with the record after the last good one, if there is one.
    pub tail_error: Option<LogError>,
}

/// Encodes one record: header line, JSON, newline.
pub fn encode_record(json: &Value) -> Vec<u8> {
    let mut body = json.to_string().into_bytes();
    body.push(b'\n');
    let digest = sha1_smol::Sha1::from(&body).digest().to_string();
    let mut out = format!("{MAGIC} {} {digest}\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Writes one record to `out`. The caller flushes and syncs.
pub fn write_record(out: &mut dyn Write, json: &Value) -> io::Result<()> {
    out.write_all(&encode_record(json))
}

/// The record for a committed transaction, or `None` when it changed nothing that is written
/// (only ephemeral columns, or nothing at all).
pub fn change_record(schema: &DatabaseSchema, changes: &ChangeSet, date_ms: u64) -> Option<Value> {
    let mut record = Map::new();
    for (table, rows) in &changes.tables {
        let Some(ts) = schema.table(table) else {
            continue;
        };
        let mut out = Map::new();
        for (uuid, change) in rows {
            if let Some(row) = row_record(ts, change.old.as_ref(), change.new.as_ref()) {
                out.insert(uuid.hyphenated().to_string(), row);
            }
        }
        if !out.is_empty() {
            record.insert(table.clone(), Value::Object(out));
        }
    }
    if record.is_empty() {
        return None;
    }
    record.insert("_date".into(), Value::from(date_ms));
    if let Some(c) = &changes.comment {
        record.insert("_comment".into(), Value::from(c.as_str()));
    }
    record.insert("_is_diff".into(), Value::Bool(true));
    Some(Value::Object(record))
}

/// The `_comment` Open vSwitch's server puts on the snapshot it writes when it compacts a
/// database it is serving.
pub const ONLINE_COMPACTION_COMMENT: &str = "compacting database online";

/// The record that holds a whole database as one transaction: every row an insert listing
/// its columns that differ from their defaults (ephemeral columns left out, as in every
/// record). A compacted file is the schema record followed by this one; replaying the pair
/// gives back `db` (row `_version`s aside, which no file keeps). Open vSwitch's server marks
/// its online snapshots `_is_diff` too, which changes nothing for inserts.
pub fn snapshot_record(db: &Database, date_ms: u64, comment: &str) -> Value {
    let mut record = Map::new();
    for (table, ts) in &db.schema().tables {
        let mut out = Map::new();
        for (uuid, row) in db.rows(table).into_iter().flatten() {
            if let Some(json) = row_record(ts, None, Some(row)) {
                out.insert(uuid.hyphenated().to_string(), json);
            }
        }
        if !out.is_empty() {
            record.insert(table.clone(), Value::Object(out));
        }
    }
    record.insert("_date".into(), Value::from(date_ms));
    record.insert("_is_diff".into(), Value::Bool(true));
    record.insert("_comment".into(), Value::from(comment));
    Value::Object(record)
}

fn row_record(ts: &TableSchema, old: Option<&Row>, new: Option<&Row>) -> Option<Value> {
    let new = match new {
        None => return Some(Value::Null),
        Some(new) => new,
    };
    let mut obj = Map::new();
    for (name, column) in ts.columns.iter().filter(|(_, c)| !c.ephemeral) {
        let Some(value) = new.columns.get(name) else {
            continue;
        };
        match old {
            None if *value != column.ty.default_datum() => {
                obj.insert(name.clone(), value.to_json());
            }
            Some(old) => match old.columns.get(name) {
                Some(before) if before == value => {}
                Some(before) if written_as_diff(&column.ty) => {
                    obj.insert(name.clone(), before.diff(value).to_json());
                }
                _ => {
                    obj.insert(name.clone(), value.to_json());
                }
            },
            None => {}
        }
    }
    // A new row is written even with all defaults; a modified one only if something shows.
    (old.is_none() || !obj.is_empty()).then_some(Value::Object(obj))
}

/// Maps and sets that may hold more than one element are logged as differences.
fn written_as_diff(ty: &ColumnType) -> bool {
    ty.is_map() || ty.max != MaxSize::Limited(1)
}

/// Reads records from the start of `bytes`, stopping at the first damaged one.
pub fn read_records(bytes: &[u8]) -> LogContents {
    let mut records = Vec::new();
    let mut ends = Vec::new();
    let mut offset = 0;
    let tail_error = loop {
        if offset == bytes.len() {
            break None;
        }
        match read_one(bytes, offset) {
            Ok((json, next)) => {
                records.push(json);
                ends.push(next);
                offset = next;
            }
            Err(e) => break Some(e),
        }
    };
    LogContents {
        records,
        ends,
        valid_len: offset,
        tail_error,
    }
}

fn read_one(bytes: &[u8], offset: usize) -> Result<(Value, usize), LogError> {
    let rest = &bytes[offset..];
    let window = &rest[..rest.len().min(MAX_HEADER)];
    let Some(eol) = window.iter().position(|&b| b == b'\n') else {
        return Err(
            if rest.len() < MAX_HEADER
                && MAGIC
                    .as_bytes()
                    .starts_with(&rest[..rest.len().min(MAGIC.len())])
            {
                LogError::Truncated { offset }
            } else {
                LogError::BadHeader { offset }
            },
        );
    };
    let header = std::str::from_utf8(&window[..eol]).map_err(|_| LogError::BadHeader { offset })?;
    let (length, digest) = header
        .strip_prefix(MAGIC)
        .and_then(|h| h.strip_prefix(' '))
        .and_then(|h| h.split_once(' '))
        .and_then(|(len, sha)| Some((len.parse::<usize>().ok()?, sha)))
        .filter(|(_, sha)| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(LogError::BadHeader { offset })?;
    let start = eol + 1;
    let body = rest
        .get(start..start.saturating_add(length))
        .filter(|b| b.len() == length)
        .ok_or(LogError::Truncated { offset })?;
    if sha1_smol::Sha1::from(body).digest().to_string() != digest.to_ascii_lowercase() {
        return Err(LogError::BadChecksum { offset });
    }
    let json = serde_json::from_slice(body).map_err(|_| LogError::BadJson { offset })?;
    Ok((json, offset + start + length))
}

/// Rebuilds a database from a log's records: the schema, then each transaction in turn.
/// `new_uuid` supplies `_version`s, which the log does not keep.
pub fn replay(records: &[Value], new_uuid: &mut dyn FnMut() -> Uuid) -> Result<Database, LogError> {
    let (first, rest) = records.split_first().ok_or(LogError::Empty)?;
    let schema =
        DatabaseSchema::from_json(first).map_err(|e| LogError::BadSchema(e.to_string()))?;
    let mut db = Database::new(Arc::new(schema));
    for (i, record) in rest.iter().enumerate() {
        let changes =
            record_changes(&db, record, new_uuid).map_err(|reason| LogError::BadRecord {
                index: i + 1,
                reason,
            })?;
        db.apply(&changes);
    }
    Ok(db)
}

/// The change set a transaction record stands for, against `db` as it is before it.
pub fn record_changes(
    db: &Database,
    record: &Value,
    new_uuid: &mut dyn FnMut() -> Uuid,
) -> Result<ChangeSet, String> {
    let obj = record.as_object().ok_or("record is not an object")?;
    let is_diff = obj.get("_is_diff") == Some(&Value::Bool(true));
    let mut changes = ChangeSet {
        comment: obj
            .get("_comment")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..ChangeSet::default()
    };
    for (table, rows) in obj.iter().filter(|(k, _)| !k.starts_with('_')) {
        let ts = db
            .schema()
            .table(table)
            .ok_or_else(|| format!("no table {table}"))?;
        let rows = rows
            .as_object()
            .ok_or_else(|| format!("table {table} is not an object"))?;
        let mut out = BTreeMap::new();
        for (key, value) in rows {
            let uuid = parse_uuid(key).ok_or_else(|| format!("bad row uuid {key}"))?;
            let old = db.row(table, uuid).cloned();
            let new = match value {
                Value::Null => None,
                Value::Object(columns) => {
                    let mut row = old
                        .clone()
                        .unwrap_or_else(|| Row::new_default(ts, Uuid::nil()));
                    row.version = new_uuid();
                    for (name, v) in columns {
                        let column = ts
                            .columns
                            .get(name)
                            .ok_or_else(|| format!("no column {name} in {table}"))?;
                        let modified = old.is_some();
                        let datum = if modified && is_diff && written_as_diff(&column.ty) {
                            let diff = Datum::from_json(&column.ty.any_size(), v, None)
                                .map_err(|e| e.to_string())?;
                            let base = row
                                .columns
                                .get(name)
                                .cloned()
                                .unwrap_or_else(|| column.ty.default_datum());
                            base.apply_diff(&diff)
                        } else {
                            Datum::from_json(&column.ty, v, None).map_err(|e| e.to_string())?
                        };
                        row.columns.insert(name.clone(), datum);
                    }
                    Some(row)
                }
                _ => return Err(format!("row {key} is neither an object nor null")),
            };
            out.insert(uuid, RowChange { old, new });
        }
        changes.tables.insert(table.clone(), out);
    }
    Ok(changes)
}
