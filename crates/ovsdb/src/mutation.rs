//! Mutations (RFC 7047 §5.1 `<mutation>`): `[column, mutator, value]` changes to a value.
//!
//! Arithmetic mutators (`+=`, `-=`, `*=`, `/=`, `%=`) apply to integer and real columns that
//! are not maps, element by element (`%=` to integers only); `insert` and `delete` apply to
//! sets and maps. The operand is read without size limits and checked only once combined with
//! the stored value: the result must satisfy the column's constraints and size range.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::atom::{Atom, AtomicType, Symbols};
use crate::datum::{ColumnType, Datum};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{TableSchema, column_triple};

/// A mutator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`.
    Add,
    /// `-=`.
    Subtract,
    /// `*=`.
    Multiply,
    /// `/=`.
    Divide,
    /// `%=`.
    Remainder,
    /// `insert`.
    Insert,
    /// `delete`.
    Delete,
}

impl Mutator {
    /// Parses a mutator name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "+=" => Self::Add,
            "-=" => Self::Subtract,
            "*=" => Self::Multiply,
            "/=" => Self::Divide,
            "%=" => Self::Remainder,
            "insert" => Self::Insert,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    /// The mutator's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "+=",
            Self::Subtract => "-=",
            Self::Multiply => "*=",
            Self::Divide => "/=",
            Self::Remainder => "%=",
            Self::Insert => "insert",
            Self::Delete => "delete",
        }
    }
}

/// One parsed mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// The column changed.
    pub column: String,
    /// How.
    pub mutator: Mutator,
    /// The operand: one atom for arithmetic, a set or map for `insert`/`delete`.
    pub value: Datum,
}

impl Mutation {
    /// Parses a `mutations` array for `table`.
    pub fn list_from_json(
        table: &TableSchema,
        json: &Value,
        symbols: &mut dyn Symbols,
    ) -> Result<Vec<Self>> {
        let list = json
            .as_array()
            .ok_or_else(|| Error::syntax(json, "\"mutations\" must be an array"))?;
        list.iter()
            .map(|m| Self::from_json(table, m, symbols))
            .collect()
    }

    fn from_json(table: &TableSchema, json: &Value, symbols: &mut dyn Symbols) -> Result<Self> {
        let (column, mutator, value) =
            column_triple(json, "mutation must be [column, mutator, value]")?;
        let schema = table.column_in(column, json)?;
        if !schema.mutable {
            return Err(Error::constraint(format!(
                "Cannot mutate immutable column {column} in table {}.",
                table.name
            ))
            .with_syntax(json));
        }
        let mutator = Mutator::from_name(mutator)
            .ok_or_else(|| Error::syntax(json, format!("Unknown mutator \"{mutator}\".")))?;
        let ty = &schema.ty;
        let mismatch = || {
            Error::syntax(
                json,
                format!(
                    "Type mismatch: \"{}\" operator may not be applied to column {column} of type {}.",
                    mutator.name(),
                    ty.describe()
                ),
            )
        };
        let value = match mutator {
            Mutator::Add
            | Mutator::Subtract
            | Mutator::Multiply
            | Mutator::Divide
            | Mutator::Remainder => {
                let numeric = match ty.key.atomic {
                    AtomicType::Integer => true,
                    AtomicType::Real => mutator != Mutator::Remainder,
                    _ => false,
                };
                if !numeric || ty.is_map() {
                    return Err(mismatch());
                }
                let atom = Atom::from_json(ty.key.atomic, value, Some(symbols))?;
                Datum::scalar(atom)
            }
            Mutator::Insert | Mutator::Delete => {
                if ty.is_scalar() {
                    return Err(mismatch());
                }
                let operand = ty.any_size();
                match (mutator, &ty.value) {
                    // A map's entries may be deleted by key alone: the operand is then a set.
                    (Mutator::Delete, Some(_)) if !is_tagged_map(value) => {
                        let keys = ColumnType {
                            value: None,
                            ..operand
                        };
                        Datum::from_json(&keys, value, Some(symbols))?
                    }
                    _ => Datum::from_json(&operand, value, Some(symbols))?,
                }
            }
        };
        Ok(Self {
            column: column.to_owned(),
            mutator,
            value,
        })
    }

    /// Applies the mutation to `current`, the column's value, checking the result against the
    /// column type `ty`.
    pub fn apply(&self, ty: &ColumnType, current: &Datum) -> Result<Datum> {
        let result = match (self.mutator, current, &self.value) {
            (Mutator::Insert, Datum::Set(s), Datum::Set(v)) => {
                Datum::Set(s.union(v).cloned().collect())
            }
            (Mutator::Insert, Datum::Map(m), Datum::Map(v)) => {
                let mut new = m.clone();
                for (k, val) in v {
                    new.entry(k.clone()).or_insert_with(|| val.clone());
                }
                Datum::Map(new)
            }
            (Mutator::Delete, Datum::Set(s), Datum::Set(v)) => {
                Datum::Set(s.difference(v).cloned().collect())
            }
            (Mutator::Delete, Datum::Map(m), Datum::Set(keys)) => Datum::Map(
                m.iter()
                    .filter(|(k, _)| !keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            (Mutator::Delete, Datum::Map(m), Datum::Map(v)) => Datum::Map(
                m.iter()
                    .filter(|(k, val)| v.get(k) != Some(val))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            (_, Datum::Set(s), Datum::Set(v)) if v.len() == 1 => {
                let operand = v
                    .iter()
                    .next()
                    .ok_or_else(|| Error::syntax(&Value::Null, "empty operand"))?;
                let mut out = BTreeSet::new();
                for atom in s {
                    let r = arithmetic(self.mutator, atom, operand)?;
                    if !out.insert(r) {
                        return Err(Error::constraint(format!(
                            "Result of \"{}\" operation contains duplicate.",
                            self.mutator.name()
                        )));
                    }
                }
                Datum::Set(out)
            }
            _ => {
                return Err(Error::syntax(
                    &Value::Null,
                    "mutation operand does not fit the column",
                ));
            }
        };
        result.check(ty)?;
        if !result.size_ok(ty) {
            return Err(Error::constraint(format!(
                "Attempted to store {} elements in {} column {}.",
                result.len(),
                ty.describe(),
                self.column
            )));
        }
        Ok(result)
    }
}

fn is_tagged_map(json: &Value) -> bool {
    matches!(json.as_array().and_then(|a| a.first()), Some(Value::String(t)) if t == "map")
}

fn arithmetic(mutator: Mutator, a: &Atom, b: &Atom) -> Result<Atom> {
    let out_of_range = || {
        Error::new(
            ErrorKind::RangeError,
            format!(
                "Result of \"{}\" operation is out of range.",
                mutator.name()
            ),
        )
    };
    let division_by_zero = || Error::new(ErrorKind::DomainError, "Division by zero.");
    match (a, b) {
        (Atom::Integer(x), Atom::Integer(y)) => {
            let r = match mutator {
                Mutator::Add => x.checked_add(*y),
                Mutator::Subtract => x.checked_sub(*y),
                Mutator::Multiply => x.checked_mul(*y),
                Mutator::Divide if *y == 0 => return Err(division_by_zero()),
                Mutator::Divide => x.checked_div(*y),
                Mutator::Remainder if *y == 0 => return Err(division_by_zero()),
                Mutator::Remainder => x.checked_rem(*y),
                Mutator::Insert | Mutator::Delete => None,
            };
            r.map(Atom::Integer).ok_or_else(out_of_range)
        }
        (Atom::Real(x), Atom::Real(y)) => {
            let r = match mutator {
                Mutator::Add => x + y,
                Mutator::Subtract => x - y,
                Mutator::Multiply => x * y,
                Mutator::Divide if *y == 0.0 => return Err(division_by_zero()),
                Mutator::Divide => x / y,
                Mutator::Remainder | Mutator::Insert | Mutator::Delete => {
                    return Err(out_of_range());
                }
            };
            if r.is_finite() {
                Ok(Atom::Real(r))
            } else {
                Err(out_of_range())
            }
        }
        _ => Err(out_of_range()),
    }
}
