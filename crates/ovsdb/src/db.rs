//! The in-memory database and the change sets that transactions produce.
//!
//! A [`Database`] is a schema plus, per table, rows by UUID. Every row holds a value for every
//! column the schema declares (defaults included), so readers never special-case absence.
//!
//! A transaction never changes a database directly: it yields a [`ChangeSet`] (old and new
//! version of each row it touched) that the caller first makes durable and then applies with
//! [`Database::apply`]. Monitors and the log are computed from the same change set.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::datum::Datum;
use crate::schema::{DatabaseSchema, TableSchema};

/// One row's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `_version`: changes whenever the row's columns do.
    pub version: Uuid,
    /// Every declared column's value.
    pub columns: BTreeMap<String, Datum>,
}

impl Row {
    /// A row of `table` with every column at its default.
    pub fn new_default(table: &TableSchema, version: Uuid) -> Self {
        let columns = table
            .columns
            .iter()
            .map(|(n, c)| (n.clone(), c.ty.default_datum()))
            .collect();
        Self { version, columns }
    }

    /// How many values the row holds: the elements of every column (a map's pairs count
    /// once each). The measure Open vSwitch bounds its transaction history by.
    pub fn n_atoms(&self) -> usize {
        self.columns.values().map(Datum::len).sum()
    }

    /// A column's value, including `_uuid` (given by the caller, who knows the key) and
    /// `_version`.
    pub fn get(&self, uuid: Uuid, column: &str) -> Option<Datum> {
        match column {
            "_uuid" => Some(Datum::scalar(crate::Atom::Uuid(uuid))),
            "_version" => Some(Datum::scalar(crate::Atom::Uuid(self.version))),
            _ => self.columns.get(column).cloned(),
        }
    }
}

/// The rows of one table.
pub type Rows = BTreeMap<Uuid, Row>;

/// A schema and its data.
#[derive(Debug, Clone)]
pub struct Database {
    schema: Arc<DatabaseSchema>,
    tables: BTreeMap<String, Rows>,
}

impl Database {
    /// An empty database.
    pub fn new(schema: Arc<DatabaseSchema>) -> Self {
        let tables = schema
            .tables
            .keys()
            .map(|n| (n.clone(), Rows::new()))
            .collect();
        Self { schema, tables }
    }

    /// Applies a committed change set: the caller has made it durable first.
    pub fn apply(&mut self, changes: &ChangeSet) {
        for (table, rows) in &changes.tables {
            let Some(stored) = self.tables.get_mut(table) else {
                continue;
            };
            for (uuid, change) in rows {
                match &change.new {
                    Some(row) => {
                        stored.insert(*uuid, row.clone());
                    }
                    None => {
                        stored.remove(uuid);
                    }
                }
            }
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }

    /// A table's rows.
    pub fn rows(&self, table: &str) -> Option<&Rows> {
        self.tables.get(table)
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(&uuid)
    }

    /// How many rows the database holds, over all tables.
    pub fn n_rows(&self) -> usize {
        self.tables.values().map(BTreeMap::len).sum()
    }

    /// How many values the database holds ([`Row::n_atoms`] over every row).
    pub fn n_atoms(&self) -> usize {
        self.tables
            .values()
            .flat_map(BTreeMap::values)
            .map(Row::n_atoms)
            .sum()
    }
}

/// What a committed transaction did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    /// Per table, per row: the old and new versions. Rows the transaction left as they were
    /// do not appear.
    pub tables: BTreeMap<String, BTreeMap<Uuid, RowChange>>,
    /// The `comment` operations' texts, joined by newlines.
    pub comment: Option<String>,
    /// Whether a `commit` operation asked for durability.
    pub durable: bool,
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }

    /// Folds `later` (committed after `self`) into `self`, so that `self` goes from the
    /// state before both straight to the state after both: each row keeps its first `old`
    /// and takes the last `new`, and a row inserted and then deleted disappears. Monitors
    /// computed from the result describe both commits as one (what `monitor_cond_since`
    /// sends a client that missed several). Comments and `durable` are not carried over.
    pub fn compose(&mut self, later: &Self) {
        for (table, rows) in &later.tables {
            let mine = self.tables.entry(table.clone()).or_default();
            for (uuid, change) in rows {
                match mine.get_mut(uuid) {
                    Some(earlier) => {
                        earlier.new.clone_from(&change.new);
                        if earlier.old.is_none() && earlier.new.is_none() {
                            mine.remove(uuid);
                        }
                    }
                    None => {
                        mine.insert(*uuid, change.clone());
                    }
                }
            }
        }
        self.tables.retain(|_, rows| !rows.is_empty());
    }

    /// How many rows the change set touches.
    pub fn rows(&self) -> usize {
        self.tables.values().map(BTreeMap::len).sum()
    }

    /// Its size in values: the atoms of every old and every new row it holds.
    pub fn n_atoms(&self) -> usize {
        self.tables
            .values()
            .flat_map(BTreeMap::values)
            .map(|c| {
                c.old.as_ref().map_or(0, Row::n_atoms) + c.new.as_ref().map_or(0, Row::n_atoms)
            })
            .sum()
    }

    /// By how much applying it changes the database's [`Database::n_atoms`].
    pub fn atoms_delta(&self) -> isize {
        let count = |r: &Option<Row>| r.as_ref().map_or(0, Row::n_atoms);
        self.tables
            .values()
            .flat_map(BTreeMap::values)
            .map(|c| count(&c.new).cast_signed() - count(&c.old).cast_signed())
            .sum()
    }
}

/// One row's change: insert (`old` is `None`), delete (`new` is `None`) or modify.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The row before the transaction.
    pub old: Option<Row>,
    /// The row after it.
    pub new: Option<Row>,
}
