//! The database commands that work on any table: list, find, get, set, add, remove, clear,
//! create, destroy, wait-until; with ovs-vsctl's rules for naming tables (any unique
//! case-insensitive prefix), columns, and records (a UUID, or a name that ovs-vsctl's
//! per-table rules look up, such as a bridge's name for its `Controller`s).

use std::collections::BTreeSet;

use fvs_ovsdb::{Atom, ColumnType, Datum, MaxSize};
use uuid::Uuid;

use super::{Command, Ctx, str_atom, uuids};
use crate::error::VsctlError;
use crate::output::{self, Cell};
use crate::text;

/// How a name finds a record in a table: by a column of the table itself, or through a
/// reference column of a row of another table found by name.
enum RowId {
    /// The table's own column holds the name.
    Own(&'static str),
    /// A row of `table` whose `name_col` is the name; its `ref_col` points at the record.
    Via {
        table: &'static str,
        name_col: &'static str,
        ref_col: &'static str,
    },
    /// The table has one row, named by anything (`.` by convention).
    Singleton,
}

fn row_ids(table: &str) -> &'static [RowId] {
    match table {
        "Open_vSwitch" => &[RowId::Singleton],
        "Bridge" | "Port" | "Interface" | "Mirror" | "Flow_Table" => &[RowId::Own("name")],
        "Manager" => &[RowId::Own("target")],
        "Controller" => &[RowId::Via {
            table: "Bridge",
            name_col: "name",
            ref_col: "controller",
        }],
        "NetFlow" => &[RowId::Via {
            table: "Bridge",
            name_col: "name",
            ref_col: "netflow",
        }],
        "sFlow" => &[RowId::Via {
            table: "Bridge",
            name_col: "name",
            ref_col: "sflow",
        }],
        "IPFIX" => &[RowId::Via {
            table: "Bridge",
            name_col: "name",
            ref_col: "ipfix",
        }],
        "QoS" => &[RowId::Via {
            table: "Port",
            name_col: "name",
            ref_col: "qos",
        }],
        "AutoAttach" => &[RowId::Via {
            table: "Bridge",
            name_col: "name",
            ref_col: "auto_attach",
        }],
        "SSL" => &[RowId::Via {
            table: "Open_vSwitch",
            name_col: "",
            ref_col: "ssl",
        }],
        _ => &[],
    }
}

impl Ctx<'_> {
    /// Resolves a table name: exact (any case) or a unique case-insensitive prefix.
    pub(super) fn table(&self, name: &str) -> Result<(String, ()), VsctlError> {
        let names: Vec<&String> = self.db.schema.tables.keys().collect();
        if let Some(t) = names.iter().find(|t| t.eq_ignore_ascii_case(name)) {
            return Ok(((*t).clone(), ()));
        }
        let lower = name.to_ascii_lowercase();
        let matches: Vec<&&String> = names
            .iter()
            .filter(|t| t.to_ascii_lowercase().starts_with(&lower))
            .collect();
        match matches.as_slice() {
            [one] => Ok(((**one).clone(), ())),
            [] => Err(VsctlError::UnknownTable(name.to_owned())),
            _ => Err(VsctlError::AmbiguousTable(name.to_owned())),
        }
    }

    /// Resolves a column name the same way.
    pub(super) fn column(
        &self,
        table: &str,
        name: &str,
    ) -> Result<(String, ColumnType), VsctlError> {
        let unknown = || VsctlError::UnknownColumn {
            table: table.to_owned(),
            column: name.to_owned(),
        };
        let schema = self.db.table_schema(table).ok_or_else(unknown)?;
        if let Some(c) = schema.columns.get(name) {
            return Ok((c.name.clone(), c.ty.clone()));
        }
        let lower = name.to_ascii_lowercase();
        let matches: Vec<_> = schema
            .columns
            .values()
            .filter(|c| c.name.to_ascii_lowercase().starts_with(&lower))
            .collect();
        match matches.as_slice() {
            [one] => Ok((one.name.clone(), one.ty.clone())),
            [] => Err(unknown()),
            _ => Err(VsctlError::Command(format!(
                "{table} contains more than one column whose name matches \"{name}\""
            ))),
        }
    }

    /// Finds a record by UUID or by name.
    pub(super) fn find_record(
        &mut self,
        table: &str,
        record: &str,
    ) -> Result<Option<Uuid>, VsctlError> {
        if let Some(u) = fvs_ovsdb::atom::parse_uuid(record)
            && self.db.row(table, u).is_some()
        {
            return Ok(Some(u));
        }
        if record.starts_with('@')
            && let Some(u) = self.symbols.defined.get(record)
        {
            return Ok(Some(*u));
        }
        for id in row_ids(table) {
            match id {
                RowId::Singleton => {
                    if let Some((u, _)) = self.db.rows(table).next() {
                        return Ok(Some(u));
                    }
                }
                RowId::Own(col) => {
                    let found: Vec<Uuid> = self
                        .db
                        .rows(table)
                        .filter(|(_, r)| r.get(*col).and_then(str_atom) == Some(record))
                        .map(|(u, _)| u)
                        .collect();
                    match found.as_slice() {
                        [one] => return Ok(Some(*one)),
                        [] => {}
                        _ => {
                            return Err(VsctlError::Command(format!(
                                "multiple rows in {table} match \"{record}\""
                            )));
                        }
                    }
                }
                RowId::Via {
                    table: via,
                    name_col,
                    ref_col,
                } => {
                    let owner = self.db.rows(via).find(|(_, r)| {
                        name_col.is_empty() || r.get(*name_col).and_then(str_atom) == Some(record)
                    });
                    if let Some((_, r)) = owner
                        && let Some(d) = r.get(*ref_col)
                    {
                        let refs = uuids(d);
                        if let [one] = refs.as_slice() {
                            return Ok(Some(*one));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// TABLE RECORD from a command's first two arguments; None if absent under --if-exists.
    pub(super) fn record_or_skip(
        &mut self,
        c: &Command,
    ) -> Result<Option<(String, Uuid)>, VsctlError> {
        let (table, ()) = self.table(&c.args[0])?;
        match self.find_record(&table, &c.args[1])? {
            Some(u) => Ok(Some((table, u))),
            None if c.has("--if-exists") => Ok(None),
            None => Err(VsctlError::NoRow {
                table,
                record: c.args[1].clone(),
            }),
        }
    }

    /// Parses `COLUMN[:KEY]` and the rest of the argument.
    fn column_key<'s>(
        &self,
        table: &str,
        arg: &'s str,
    ) -> Result<(String, ColumnType, Option<String>, &'s str), VsctlError> {
        let (col_text, rest) = text::parse_token(arg)?;
        if col_text.is_empty() {
            return Err(VsctlError::BadValue(format!("{arg}: missing column name")));
        }
        let (col, ty) = self.column(table, &col_text)?;
        match rest.strip_prefix(':') {
            Some(after) => {
                let (key, rest) = text::parse_token(after)?;
                Ok((col, ty, Some(key), rest))
            }
            None => Ok((col, ty, None, rest)),
        }
    }

    /// `set`'s `COLUMN[:KEY]=VALUE`.
    pub(super) fn set_column(
        &mut self,
        table: &str,
        row: Uuid,
        arg: &str,
    ) -> Result<(), VsctlError> {
        let (col, ty, key, rest) = self.column_key(table, arg)?;
        let Some(value) = rest.strip_prefix('=').filter(|v| !v.is_empty()) else {
            return Err(VsctlError::BadValue(format!(
                "{arg}: argument does not end in \"=\" followed by a value."
            )));
        };
        if self
            .db
            .table_schema(table)
            .and_then(|t| t.column(&col))
            .is_some_and(|c| !c.mutable)
            && self.db.row(table, row).is_some()
            && !crate::db::Db::is_temp(row)
        {
            return Err(VsctlError::Command(format!(
                "cannot modify read-only column {col} in table {table}"
            )));
        }
        match key {
            Some(key) => {
                let Some(vt) = &ty.value else {
                    return Err(VsctlError::BadValue(format!(
                        "cannot specify key to set for non-map column {col}"
                    )));
                };
                let k = text::parse_atom(&ty.key, &key, &mut self.symbols)?;
                let v = text::parse_whole_atom(vt, value, &mut self.symbols)?;
                let mut map = match self.db.get(table, row, &col) {
                    Datum::Map(m) => m,
                    Datum::Set(_) => Default::default(),
                };
                map.insert(k, v);
                self.db.set(table, row, &col, Datum::Map(map));
            }
            None => {
                let d = text::parse_datum(&ty, value, &mut self.symbols)?;
                self.db.set(table, row, &col, d);
            }
        }
        Ok(())
    }

    fn headings_and_columns(
        &self,
        table: &str,
        c: &Command,
    ) -> Result<Vec<(String, Option<ColumnType>)>, VsctlError> {
        let schema = self.db.table_schema(table);
        match c.options.get("--columns").cloned().flatten() {
            Some(list) => list
                .split(',')
                .map(|n| {
                    if n == "_uuid" {
                        Ok(("_uuid".to_owned(), None))
                    } else {
                        self.column(table, n).map(|(n, t)| (n, Some(t)))
                    }
                })
                .collect(),
            None => {
                let mut cols = vec![("_uuid".to_owned(), None)];
                if let Some(s) = schema {
                    cols.extend(
                        s.columns
                            .values()
                            .filter(|c| !c.name.starts_with('_'))
                            .map(|c| (c.name.clone(), Some(c.ty.clone()))),
                    );
                }
                Ok(cols)
            }
        }
    }

    fn render_rows(
        &self,
        table: &str,
        cols: &[(String, Option<ColumnType>)],
        rows: &[Uuid],
    ) -> String {
        let uuid_type = ColumnType::scalar(fvs_ovsdb::BaseType::new(fvs_ovsdb::AtomicType::Uuid));
        let headings: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
        let cells: Vec<Vec<Cell>> = rows
            .iter()
            .map(|u| {
                cols.iter()
                    .map(|(n, t)| match t {
                        None => (uuid_type.clone(), Datum::scalar(Atom::Uuid(*u))),
                        Some(t) => (t.clone(), self.db.get(table, *u, n)),
                    })
                    .collect()
            })
            .collect();
        output::render(self.style, &headings, &cells)
    }

    pub(super) fn list(&mut self, c: &Command) -> Result<String, VsctlError> {
        let (table, ()) = self.table(&c.args[0])?;
        let cols = self.headings_and_columns(&table, c)?;
        let rows: Vec<Uuid> = if c.args.len() > 1 {
            let mut rows = Vec::new();
            for r in &c.args[1..] {
                match self.find_record(&table, r)? {
                    Some(u) => rows.push(u),
                    None if c.has("--if-exists") => {}
                    None => {
                        return Err(VsctlError::NoRow {
                            table: table.clone(),
                            record: r.clone(),
                        });
                    }
                }
            }
            rows
        } else {
            self.db.rows(&table).map(|(u, _)| u).collect()
        };
        Ok(self.render_rows(&table, &cols, &rows))
    }

    pub(super) fn find(&mut self, c: &Command) -> Result<String, VsctlError> {
        let (table, ()) = self.table(&c.args[0])?;
        let cols = self.headings_and_columns(&table, c)?;
        let all: Vec<Uuid> = self.db.rows(&table).map(|(u, _)| u).collect();
        let mut rows = Vec::new();
        for u in all {
            let mut ok = true;
            for cond in &c.args[1..] {
                if !self.condition_holds(&table, u, cond)? {
                    ok = false;
                    break;
                }
            }
            if ok {
                rows.push(u);
            }
        }
        Ok(self.render_rows(&table, &cols, &rows))
    }

    /// Evaluates `COLUMN[:KEY] OP VALUE` on a row.
    pub(super) fn condition_holds(
        &mut self,
        table: &str,
        row: Uuid,
        cond: &str,
    ) -> Result<bool, VsctlError> {
        let (col, ty, key, rest) = self.column_key(table, cond)?;
        const OPS: &[&str] = &[
            "{>=}", "{<=}", "{!=}", "{=}", "{>}", "{<}", "!=", ">=", "<=", "=", ">", "<",
        ];
        let Some(op) = OPS.iter().find(|o| rest.starts_with(**o)) else {
            return Err(VsctlError::BadValue(format!("{cond}: missing operator")));
        };
        let value = &rest[op.len()..];
        let actual = self.db.get(table, row, &col);
        let (have, want) = match key {
            Some(key) => {
                let Some(vt) = &ty.value else {
                    return Err(VsctlError::BadValue(format!(
                        "cannot specify key to check for non-map column {col}"
                    )));
                };
                let k = text::parse_atom(&ty.key, &key, &mut self.symbols)?;
                let vty = ColumnType {
                    key: vt.clone(),
                    value: None,
                    min: 0,
                    max: MaxSize::Limited(1),
                };
                let want = text::parse_datum(&vty, value, &mut self.symbols)?;
                let have = match &actual {
                    Datum::Map(m) => m
                        .get(&k)
                        .cloned()
                        .map_or_else(|| Datum::Set(BTreeSet::new()), Datum::scalar),
                    Datum::Set(_) => Datum::Set(BTreeSet::new()),
                };
                (have, want)
            }
            None => {
                let loose = ty.any_size();
                (actual, text::parse_datum(&loose, value, &mut self.symbols)?)
            }
        };
        Ok(match *op {
            "=" | "{=}" => have == want,
            "!=" | "{!=}" => have != want,
            "<" => have < want,
            ">" => have > want,
            "<=" => have <= want,
            ">=" => have >= want,
            "{<=}" => is_subset(&want, &have),
            "{>=}" => is_subset(&have, &want),
            "{<}" => is_subset(&want, &have) && have != want,
            _ => is_subset(&have, &want) && have != want,
        })
    }

    pub(super) fn get(&mut self, c: &Command) -> Result<String, VsctlError> {
        let Some((table, row)) = self.record_or_skip(c)? else {
            return Ok(String::new());
        };
        if let Some(Some(id)) = c.options.get("--id") {
            self.symbols.defined.insert(id.clone(), row);
        }
        let mut out = String::new();
        for arg in &c.args[2..] {
            if arg == "_uuid" {
                out.push_str(&format!("{row}\n"));
                continue;
            }
            let (col, ty, key, _) = self.column_key(&table, arg)?;
            let d = self.db.get(&table, row, &col);
            match key {
                Some(key) => {
                    let Some(vt) = &ty.value else {
                        return Err(VsctlError::BadValue(format!(
                            "cannot specify key to get for non-map column {col}"
                        )));
                    };
                    let k = text::parse_atom(&ty.key, &key, &mut self.symbols)?;
                    let found = match &d {
                        Datum::Map(m) => m.get(&k).cloned(),
                        Datum::Set(_) => None,
                    };
                    match found {
                        Some(v) => {
                            let vty = ColumnType::scalar(vt.clone());
                            out.push_str(&text::datum_to_string(&vty, &Datum::scalar(v)));
                            out.push('\n');
                        }
                        None if c.has("--if-exists") => {}
                        None => {
                            return Err(VsctlError::Command(format!(
                                "no key \"{key}\" in {table} record \"{}\" column {col}",
                                c.args[1]
                            )));
                        }
                    }
                }
                None => {
                    out.push_str(&text::datum_to_string(&ty, &d));
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    pub(super) fn add_remove(&mut self, c: &Command) -> Result<String, VsctlError> {
        let Some((table, row)) = self.record_or_skip(c)? else {
            return Ok(String::new());
        };
        let (col, ty) = self.column(&table, &c.args[2])?;
        let mut d = self.db.get(&table, row, &col);
        let loose = ty.any_size();
        for value in &c.args[3..] {
            if c.name == "add" {
                let more = text::parse_datum(&loose, value, &mut self.symbols)?;
                d = match (d, more) {
                    (Datum::Set(mut a), Datum::Set(b)) => {
                        a.extend(b);
                        Datum::Set(a)
                    }
                    (Datum::Map(mut a), Datum::Map(b)) => {
                        for (k, v) in b {
                            a.entry(k).or_insert(v);
                        }
                        Datum::Map(a)
                    }
                    (a, _) => a,
                };
            } else {
                // For maps, a value may be keys alone or key=value pairs.
                let as_pairs = text::parse_datum(&loose, value, &mut self.symbols);
                d = match (d, as_pairs) {
                    (Datum::Set(mut a), Ok(Datum::Set(b))) => {
                        a.retain(|x| !b.contains(x));
                        Datum::Set(a)
                    }
                    (Datum::Map(mut a), Ok(Datum::Map(b))) => {
                        a.retain(|k, v| b.get(k) != Some(v));
                        Datum::Map(a)
                    }
                    (Datum::Map(mut a), Err(e)) => {
                        let kty = ColumnType {
                            key: ty.key.clone(),
                            value: None,
                            min: 0,
                            max: MaxSize::Unlimited,
                        };
                        let keys =
                            text::parse_datum(&kty, value, &mut self.symbols).map_err(|_| e)?;
                        if let Datum::Set(keys) = keys {
                            a.retain(|k, _| !keys.contains(k));
                        }
                        Datum::Map(a)
                    }
                    (_, Err(e)) => return Err(e),
                    (a, _) => a,
                };
            }
        }
        let n = d.len() as u64;
        let what = if ty.is_map() {
            "key-value pairs"
        } else {
            "values"
        };
        if let MaxSize::Limited(max) = ty.max
            && n > max
        {
            return Err(VsctlError::Command(format!(
                "\"{}\" operation would put {n} {what} in column {col} of table {table} but the maximum number is {max}",
                c.name
            )));
        }
        if n < ty.min {
            return Err(VsctlError::Command(format!(
                "\"{}\" operation would put {n} {what} in column {col} of table {table} but the minimum number is {}",
                c.name, ty.min
            )));
        }
        self.db.set(&table, row, &col, d);
        Ok(String::new())
    }

    pub(super) fn create(&mut self, c: &Command) -> Result<String, VsctlError> {
        let (table, ()) = self.table(&c.args[0])?;
        let row = self.db.insert(&table);
        let id = c.options.get("--id").cloned().flatten();
        let is_root = self.db.table_schema(&table).is_some_and(|t| t.is_root);
        if id.is_none() && !is_root {
            // The server collects an unreferenced row of a non-root table at commit.
            self.warnings.push(format!(
                "applying \"create\" command to table {table} without --id option will have no effect"
            ));
        }
        if let Some(id) = &id {
            self.symbols.defined.insert(id.clone(), row);
        }
        for arg in &c.args[1..] {
            self.set_column(&table, row, arg)?;
        }
        // ovs-vsctl prints the new row's UUID even when --id names it.
        Ok(format!("{row}\n"))
    }

    pub(super) fn destroy(&mut self, c: &Command) -> Result<String, VsctlError> {
        let (table, ()) = self.table(&c.args[0])?;
        if c.has("--all") {
            let rows: Vec<Uuid> = self.db.rows(&table).map(|(u, _)| u).collect();
            for r in rows {
                self.db.delete(&table, r);
            }
            return Ok(String::new());
        }
        for r in &c.args[1..] {
            match self.find_record(&table, r)? {
                Some(u) => self.db.delete(&table, u),
                None if c.has("--if-exists") => {}
                None => {
                    return Err(VsctlError::NoRow {
                        table: table.clone(),
                        record: r.clone(),
                    });
                }
            }
        }
        Ok(String::new())
    }
}

fn is_subset(small: &Datum, big: &Datum) -> bool {
    match (small, big) {
        (Datum::Set(a), Datum::Set(b)) => a.is_subset(b),
        (Datum::Map(a), Datum::Map(b)) => a.iter().all(|(k, v)| b.get(k) == Some(v)),
        (a, _) => a.is_empty(),
    }
}
