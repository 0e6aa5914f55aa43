//! Conditions (RFC 7047 §5.1 `<condition>`): `[column, function, value]` tests on a row.
//!
//! `<`, `<=`, `>`, `>=` apply only to integer and real columns that hold at most one value (an
//! empty optional column satisfies none of them); `==`/`!=` compare whole values; `includes`
//! and `excludes` test whether all, respectively none, of the given elements (key-value pairs,
//! for a map) are present.

use serde_json::Value;
use uuid::Uuid;

use crate::atom::{Atom, AtomicType, Symbols};
use crate::datum::{ColumnType, Datum};
use crate::db::Row;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{TableSchema, column_triple};

/// A comparison function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `<`.
    Less,
    /// `<=`.
    LessOrEqual,
    /// `==`.
    Equal,
    /// `!=`.
    NotEqual,
    /// `>=`.
    GreaterOrEqual,
    /// `>`.
    Greater,
    /// `includes`.
    Includes,
    /// `excludes`.
    Excludes,
}

impl Function {
    /// Parses a function name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "<" => Self::Less,
            "<=" => Self::LessOrEqual,
            "==" => Self::Equal,
            "!=" => Self::NotEqual,
            ">=" => Self::GreaterOrEqual,
            ">" => Self::Greater,
            "includes" => Self::Includes,
            "excludes" => Self::Excludes,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            Self::Less | Self::LessOrEqual | Self::GreaterOrEqual | Self::Greater
        )
    }
}

/// One parsed clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The column tested (may be `_uuid` or `_version`).
    pub column: String,
    /// The function.
    pub function: Function,
    /// The operand.
    pub value: Datum,
}

/// A conjunction of clauses: a row matches when every clause holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    /// The clauses.
    pub clauses: Vec<Clause>,
}

impl Condition {
    /// Parses a `where` array for `table`.
    pub fn from_json(table: &TableSchema, json: &Value, symbols: &mut dyn Symbols) -> Result<Self> {
        let list = json
            .as_array()
            .ok_or_else(|| Error::syntax(json, "\"where\" must be an array of conditions"))?;
        let clauses = list
            .iter()
            .map(|c| parse_clause(table, c, symbols))
            .collect::<Result<_>>()?;
        Ok(Self { clauses })
    }

    /// The single UUID this condition pins `_uuid` to, if any: lets callers look the row up
    /// instead of scanning the table.
    pub fn uuid(&self) -> Option<Uuid> {
        self.clauses
            .iter()
            .find_map(|c| match (c.column.as_str(), c.function) {
                ("_uuid", Function::Equal) => c.value.as_scalar().and_then(Atom::as_uuid),
                _ => None,
            })
    }

    /// Whether the row (with UUID `uuid`) satisfies every clause.
    pub fn matches(&self, uuid: Uuid, row: &Row) -> bool {
        self.clauses.iter().all(|c| match row.get(uuid, &c.column) {
            Some(value) => evaluate(c.function, &value, &c.value),
            None => false,
        })
    }
}

fn parse_clause(table: &TableSchema, json: &Value, symbols: &mut dyn Symbols) -> Result<Clause> {
    let (column, function, value) =
        column_triple(json, "condition must be [column, function, value]")?;
    let schema = table.column_in(column, json)?;
    let function = Function::from_name(function).ok_or_else(|| {
        Error::new(
            ErrorKind::UnknownFunction,
            format!("No function named {function}."),
        )
    })?;
    let ty = &schema.ty;
    let value = if function.is_ordering() {
        let numeric = matches!(ty.key.atomic, AtomicType::Integer | AtomicType::Real);
        if !numeric || !(ty.is_scalar() || ty.is_optional_scalar()) {
            return Err(Error::syntax(json, type_mismatch(json, column, ty)));
        }
        Datum::from_json(&ColumnType::scalar(ty.key.clone()), value, Some(symbols))
            .map_err(|e| e.with_syntax(json))?
    } else {
        let operand_type = match function {
            Function::Includes | Function::Excludes => ty.any_size(),
            _ => ColumnType {
                min: 0,
                ..ty.clone()
            },
        };
        Datum::from_json(&operand_type, value, Some(symbols))?
    };
    Ok(Clause {
        column: column.to_owned(),
        function,
        value,
    })
}

fn type_mismatch(json: &Value, column: &str, ty: &ColumnType) -> String {
    let function = json.get(1).and_then(Value::as_str).unwrap_or_default();
    format!(
        "Type mismatch: \"{function}\" operator may not be applied to column {column} of type {}.",
        ty.describe()
    )
}

fn evaluate(function: Function, actual: &Datum, operand: &Datum) -> bool {
    match function {
        Function::Equal => actual == operand,
        Function::NotEqual => actual != operand,
        Function::Includes => includes(actual, operand),
        Function::Excludes => excludes(actual, operand),
        Function::Less | Function::LessOrEqual | Function::GreaterOrEqual | Function::Greater => {
            let (Some(a), Some(b)) = (actual.as_scalar(), operand.as_scalar()) else {
                return false;
            };
            let ord = compare_numbers(a, b);
            match function {
                Function::Less => ord.is_lt(),
                Function::LessOrEqual => ord.is_le(),
                Function::GreaterOrEqual => ord.is_ge(),
                _ => ord.is_gt(),
            }
        }
    }
}

fn compare_numbers(a: &Atom, b: &Atom) -> std::cmp::Ordering {
    match (a, b) {
        (Atom::Real(x), Atom::Real(y)) => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn includes(actual: &Datum, operand: &Datum) -> bool {
    match (actual, operand) {
        (Datum::Set(a), Datum::Set(o)) => o.is_subset(a),
        (Datum::Map(a), Datum::Map(o)) => o.iter().all(|(k, v)| a.get(k) == Some(v)),
        _ => false,
    }
}

fn excludes(actual: &Datum, operand: &Datum) -> bool {
    match (actual, operand) {
        (Datum::Set(a), Datum::Set(o)) => o.is_disjoint(a),
        (Datum::Map(a), Datum::Map(o)) => o.iter().all(|(k, v)| a.get(k) != Some(v)),
        _ => true,
    }
}
