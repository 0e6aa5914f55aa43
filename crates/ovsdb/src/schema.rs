//! Database schemas (RFC 7047 §3.2): tables, their columns and types, root set, row limits and
//! indexes.
//!
//! Every table also has the two columns the RFC defines implicitly, `_uuid` (the row's
//! identity) and `_version` (a fresh UUID each time the row changes). They are not stored in
//! [`TableSchema::columns`] but answer to [`TableSchema::column`], since clients may select
//! and compare them like any other column; neither is mutable.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::atom::{AtomicType, BaseType};
use crate::datum::ColumnType;
use crate::error::{Error, ErrorKind, Result};

/// A database schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSchema {
    /// The database's name, such as `Open_vSwitch`.
    pub name: String,
    /// `x.y.z`.
    pub version: String,
    /// The optional checksum the schema carries about itself (not verified, as in OVS).
    pub cksum: Option<String>,
    /// The tables, by name.
    pub tables: BTreeMap<String, TableSchema>,
}

/// A table's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// The table's name.
    pub name: String,
    /// The columns the schema declares, by name (without `_uuid` and `_version`).
    pub columns: BTreeMap<String, ColumnSchema>,
    /// Whether rows live on their own; rows of other tables are deleted once nothing
    /// strongly refers to them.
    pub is_root: bool,
    /// The most rows the table may hold.
    pub max_rows: Option<u64>,
    /// Sets of columns whose values, taken together, no two rows may share.
    pub indexes: Vec<Vec<String>>,
}

/// A column's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    /// The column's name.
    pub name: String,
    /// The column's type.
    pub ty: ColumnType,
    /// Whether `update` and `mutate` may change it after insertion.
    pub mutable: bool,
    /// Whether the value need not survive a restart (stored all the same by us).
    pub ephemeral: bool,
}

/// `_uuid`'s schema.
pub static UUID_COLUMN: LazyLock<ColumnSchema> = LazyLock::new(|| implicit("_uuid"));
/// `_version`'s schema.
pub static VERSION_COLUMN: LazyLock<ColumnSchema> = LazyLock::new(|| implicit("_version"));

fn implicit(name: &str) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        ty: ColumnType::scalar(BaseType::new(AtomicType::Uuid)),
        mutable: false,
        ephemeral: false,
    }
}

impl DatabaseSchema {
    /// Reads a schema, checking names, types, references between tables and indexes.
    pub fn from_json(json: &Value) -> Result<Self> {
        let obj = object(json, "database schema")?;
        only_members(json, obj, &["name", "version", "cksum", "tables"])?;
        let name = match obj.get("name") {
            Some(Value::String(n)) if is_id(n) => n.clone(),
            _ => {
                return Err(Error::syntax(
                    json,
                    "database schema needs a \"name\" that is an identifier",
                ));
            }
        };
        let version = match obj.get("version") {
            Some(Value::String(v)) if is_version(v) => v.clone(),
            Some(v) => return Err(Error::syntax(v, "schema version must be x.y.z")),
            None => return Err(Error::syntax(json, "database schema needs a \"version\"")),
        };
        let cksum = match obj.get("cksum") {
            None => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(c) => return Err(Error::syntax(c, "\"cksum\" must be a string")),
        };
        let tables_json = match obj.get("tables") {
            Some(Value::Object(t)) => t,
            _ => {
                return Err(Error::syntax(
                    json,
                    "database schema needs a \"tables\" object",
                ));
            }
        };
        let mut tables = BTreeMap::new();
        for (tname, tjson) in tables_json {
            if !is_id(tname) || tname.starts_with('_') {
                return Err(Error::syntax(
                    tjson,
                    format!("invalid table name \"{tname}\""),
                ));
            }
            let table = TableSchema::from_json(tname, tjson)
                .map_err(|e| e.prefixed(&format!("table {tname}: ")))?;
            tables.insert(tname.clone(), table);
        }
        // An old schema without any root table means every table is a root (OVS compatibility).
        if !tables.values().any(|t: &TableSchema| t.is_root) {
            tables.values_mut().for_each(|t| t.is_root = true);
        }
        for table in tables.values() {
            for column in table.columns.values() {
                for base in [Some(&column.ty.key), column.ty.value.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if let Some((target, _)) = base.reference()
                        && !tables.contains_key(target)
                    {
                        return Err(Error::syntax(
                            json,
                            format!(
                                "column {} in table {} refers to undefined table {target}",
                                column.name, table.name
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Self {
            name,
            version,
            cksum,
            tables,
        })
    }

    /// The schema's JSON form, as `get_schema` returns it and the log's first record holds.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), Value::from(self.name.as_str()));
        obj.insert("version".into(), Value::from(self.version.as_str()));
        if let Some(c) = &self.cksum {
            obj.insert("cksum".into(), Value::from(c.as_str()));
        }
        // As Open vSwitch writes it: `isRoot` only where it differs from the default, and
        // the default is root when every table is (a schema with no root table at all has
        // become one where every table is).
        let all_root = self.tables.values().all(|t| t.is_root);
        let tables = self
            .tables
            .iter()
            .map(|(n, t)| (n.clone(), t.to_json(all_root)))
            .collect();
        obj.insert("tables".into(), Value::Object(tables));
        Value::Object(obj)
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}

impl TableSchema {
    fn from_json(name: &str, json: &Value) -> Result<Self> {
        let obj = object(json, "table schema")?;
        only_members(json, obj, &["columns", "isRoot", "maxRows", "indexes"])?;
        let columns_json = match obj.get("columns") {
            Some(Value::Object(c)) if !c.is_empty() => c,
            _ => {
                return Err(Error::syntax(
                    json,
                    "table needs a non-empty \"columns\" object",
                ));
            }
        };
        let mut columns = BTreeMap::new();
        for (cname, cjson) in columns_json {
            if !is_id(cname) || cname.starts_with('_') {
                return Err(Error::syntax(
                    cjson,
                    format!("invalid column name \"{cname}\""),
                ));
            }
            let column = ColumnSchema::from_json(cname, cjson)
                .map_err(|e| e.prefixed(&format!("column {cname}: ")))?;
            columns.insert(cname.clone(), column);
        }
        let is_root = match obj.get("isRoot") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(Error::syntax(v, "\"isRoot\" must be a boolean")),
        };
        let max_rows = match obj.get("maxRows") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(n),
                _ => return Err(Error::syntax(v, "\"maxRows\" must be a positive integer")),
            },
        };
        let mut indexes = Vec::new();
        if let Some(ijson) = obj.get("indexes") {
            let list = ijson
                .as_array()
                .ok_or_else(|| Error::syntax(ijson, "\"indexes\" must be an array"))?;
            for index in list {
                let cols = index.as_array().filter(|c| !c.is_empty()).ok_or_else(|| {
                    Error::syntax(index, "an index is a non-empty array of column names")
                })?;
                let mut names = Vec::new();
                for c in cols {
                    let cname = c.as_str().unwrap_or_default();
                    let column = match columns.get(cname) {
                        Some(col) => col,
                        None if cname == "_uuid" || cname == "_version" => &*UUID_COLUMN,
                        None => {
                            return Err(Error::syntax(
                                c,
                                format!("index names unknown column {c}"),
                            ));
                        }
                    };
                    if column.ephemeral {
                        return Err(Error::syntax(
                            c,
                            format!("ephemeral column {cname} may not be indexed"),
                        ));
                    }
                    names.push(cname.to_owned());
                }
                indexes.push(names);
            }
        }
        Ok(Self {
            name: name.into(),
            columns,
            is_root,
            max_rows,
            indexes,
        })
    }

    fn to_json(&self, default_is_root: bool) -> Value {
        let mut obj = Map::new();
        let columns = self
            .columns
            .iter()
            .map(|(n, c)| (n.clone(), c.to_json()))
            .collect();
        obj.insert("columns".into(), Value::Object(columns));
        if self.is_root != default_is_root {
            obj.insert("isRoot".into(), Value::Bool(self.is_root));
        }
        if let Some(m) = self.max_rows {
            obj.insert("maxRows".into(), Value::from(m));
        }
        if !self.indexes.is_empty() {
            let idx = self
                .indexes
                .iter()
                .map(|i| Value::from(i.clone()))
                .collect();
            obj.insert("indexes".into(), Value::Array(idx));
        }
        Value::Object(obj)
    }

    /// A column by name, including `_uuid` and `_version`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        match name {
            "_uuid" => Some(&UUID_COLUMN),
            "_version" => Some(&VERSION_COLUMN),
            _ => self.columns.get(name),
        }
    }

    /// A column named by a client in `json`, or the error ovsdb-server gives for an unknown one
    /// (`unknown column`, "No column NAME in table TABLE.", with `json` as the syntax).
    pub fn column_in(&self, name: &str, json: &Value) -> Result<&ColumnSchema> {
        self.column(name).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownColumn,
                format!("No column {name} in table {}.", self.name),
            )
            .with_syntax(json)
        })
    }
}

/// The `[column, operator, value]` triple that conditions and mutations share, or a syntax error
/// saying `shape` (e.g. "condition must be [column, function, value]").
pub(crate) fn column_triple<'a>(
    json: &'a Value,
    shape: &str,
) -> Result<(&'a str, &'a str, &'a Value)> {
    match json.as_array().map(Vec::as_slice) {
        Some([Value::String(column), Value::String(operator), value]) => {
            Ok((column, operator, value))
        }
        _ => Err(Error::syntax(json, shape)),
    }
}

impl ColumnSchema {
    fn from_json(name: &str, json: &Value) -> Result<Self> {
        let obj = object(json, "column schema")?;
        only_members(json, obj, &["type", "mutable", "ephemeral"])?;
        let ty = match obj.get("type") {
            Some(t) => ColumnType::from_json(t)?,
            None => return Err(Error::syntax(json, "column needs a \"type\"")),
        };
        let flag = |key: &str, default: bool| match obj.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::syntax(v, format!("\"{key}\" must be a boolean"))),
        };
        Ok(Self {
            name: name.into(),
            ty,
            mutable: flag("mutable", true)?,
            ephemeral: flag("ephemeral", false)?,
        })
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), self.ty.to_json());
        if !self.mutable {
            obj.insert("mutable".into(), Value::Bool(false));
        }
        if self.ephemeral {
            obj.insert("ephemeral".into(), Value::Bool(true));
        }
        Value::Object(obj)
    }
}

/// RFC 7047's `<id>`: a letter or underscore, then letters, digits and underscores.
pub fn is_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn object<'a>(json: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    json.as_object()
        .ok_or_else(|| Error::syntax(json, format!("{what} must be an object")))
}

fn only_members(json: &Value, obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::syntax(
            json,
            format!("member \"{k}\" is not allowed here"),
        )),
        None => Ok(()),
    }
}
