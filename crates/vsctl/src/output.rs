//! ovs-vsctl's table output for `list` and `find`: `--format=list|table|csv|json`,
//! `--data=string|bare|json`, `--no-headings`, `--bare`.

use fvs_ovsdb::{ColumnType, Datum};
use serde_json::{Value, json};

use crate::text;

/// How rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `column : value` lines, rows separated by a blank line (the default).
    List,
    /// Aligned columns under a dashed heading.
    Table,
    /// Comma-separated values.
    Csv,
    /// `{"data": [...], "headings": [...]}`.
    Json,
}

/// How cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// As `get` prints values.
    String,
    /// Elements separated by spaces, nothing quoted.
    Bare,
    /// RFC 7047 JSON.
    Json,
}

/// The table style options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Layout.
    pub format: Format,
    /// Cell form.
    pub data: Data,
    /// Whether to print headings.
    pub headings: bool,
    /// `--pretty`: JSON output one member or element per line, indented.
    pub pretty: bool,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            format: Format::List,
            data: Data::String,
            headings: true,
            pretty: false,
        }
    }
}

/// One cell: the value and its column type.
pub type Cell = (ColumnType, Datum);

/// Renders rows of cells under `headings`.
pub fn render(style: Style, headings: &[String], rows: &[Vec<Cell>]) -> String {
    let cell_text = |(ty, d): &Cell| match style.data {
        Data::String => text::datum_to_string(ty, d),
        Data::Bare => text::datum_to_bare(d),
        Data::Json => json_cell(d).to_string(),
    };
    let mut out = String::new();
    match style.format {
        Format::List => {
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                for (h, cell) in headings.iter().zip(row) {
                    if style.headings {
                        out.push_str(&format!("{h:<20}: "));
                    }
                    out.push_str(&cell_text(cell));
                    out.push('\n');
                }
            }
        }
        Format::Table => {
            let texts: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(cell_text).collect())
                .collect();
            let mut widths: Vec<usize> = headings
                .iter()
                .map(|h| if style.headings { h.chars().count() } else { 0 })
                .collect();
            for row in &texts {
                for (w, t) in widths.iter_mut().zip(row) {
                    *w = (*w).max(t.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let n = cells.len();
                let mut s = String::new();
                for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                    if i + 1 < n {
                        s.push_str(&format!("{c:<w$} "));
                    } else {
                        s.push_str(c);
                    }
                }
                s.push('\n');
                s
            };
            if style.headings {
                out.push_str(&line(headings));
                let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&line(&dashes));
            }
            for row in &texts {
                out.push_str(&line(row));
            }
        }
        Format::Csv => {
            if style.headings {
                let hs: Vec<String> = headings.iter().map(|h| csv_quote(h)).collect();
                out.push_str(&hs.join(","));
                out.push('\n');
            }
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| csv_quote(&cell_text(c))).collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
        Format::Json => {
            let data: Vec<Value> = rows
                .iter()
                .map(|r| Value::Array(r.iter().map(|(_, d)| json_cell(d)).collect()))
                .collect();
            let mut obj = serde_json::Map::new();
            obj.insert("data".into(), Value::Array(data));
            // ovs-vsctl gives the headings in JSON even with --no-headings (and --bare).
            obj.insert("headings".into(), json!(headings));
            let obj = Value::Object(obj);
            if style.pretty {
                pretty_json(&obj, 0, &mut out);
            } else {
                out.push_str(&obj.to_string());
            }
            out.push('\n');
        }
    }
    out
}

/// Open vSwitch's pretty JSON: each member or element on its own line, two spaces deeper
/// than its container, and the closing bracket right after the last one.
fn pretty_json(v: &Value, indent: usize, out: &mut String) {
    let items: Vec<(Option<&String>, &Value)> = match v {
        Value::Array(a) if !a.is_empty() => a.iter().map(|e| (None, e)).collect(),
        Value::Object(o) if !o.is_empty() => o.iter().map(|(k, e)| (Some(k), e)).collect(),
        scalar => {
            out.push_str(&scalar.to_string());
            return;
        }
    };
    let (open, close) = if v.is_array() { ('[', ']') } else { ('{', '}') };
    out.push(open);
    let last = items.len() - 1;
    for (i, (key, e)) in items.into_iter().enumerate() {
        out.push('\n');
        out.push_str(&" ".repeat(indent + 2));
        if let Some(k) = key {
            out.push_str(&Value::String(k.clone()).to_string());
            out.push_str(": ");
        }
        pretty_json(e, indent + 2, out);
        if i != last {
            out.push(',');
        }
    }
    out.push(close);
}

/// A cell's JSON: an atom alone for one-element sets, `["set", [...]]` otherwise.
fn json_cell(d: &Datum) -> Value {
    match d {
        Datum::Set(s) if s.len() == 1 => d.to_json(),
        Datum::Set(s) => json!([
            "set",
            s.iter().map(fvs_ovsdb::Atom::to_json).collect::<Vec<_>>()
        ]),
        Datum::Map(_) => d.to_json(),
    }
}

/// Quotes a CSV field when it holds a comma, a quote, or a line break.
fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
