//! Atoms and base types: the scalar values of OVSDB and the constraints a column puts on them.
//!
//! An atom is one integer, real, boolean, string or UUID. A base type names an atomic type and
//! optionally constrains it: a range for numbers, a length range for strings, an enumeration,
//! or for UUIDs the table they refer to and whether the reference is strong or weak.
//!
//! Atoms order totally (integers and reals numerically, strings bytewise, UUIDs by their
//! text), which is what makes a [`crate::Datum`]'s sorted order canonical.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The five atomic types of RFC 7047 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AtomicType {
    /// 64-bit signed integer.
    Integer,
    /// IEEE 754 double.
    Real,
    /// `true` or `false`.
    Boolean,
    /// UTF-8 string.
    String,
    /// 128-bit UUID, possibly a reference to a row.
    Uuid,
}

impl AtomicType {
    /// The type's name in schemas.
    pub fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Real => "real",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Uuid => "uuid",
        }
    }

    /// Parses a type name from a schema.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "integer" => Self::Integer,
            "real" => Self::Real,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            "uuid" => Self::Uuid,
            _ => return None,
        })
    }

    /// The value a column of this type holds when nothing was written to it.
    pub fn default_atom(self) -> Atom {
        match self {
            Self::Integer => Atom::Integer(0),
            Self::Real => Atom::Real(0.0),
            Self::Boolean => Atom::Boolean(false),
            Self::String => Atom::String(String::new()),
            Self::Uuid => Atom::Uuid(Uuid::nil()),
        }
    }
}

/// One scalar value.
#[derive(Debug, Clone)]
pub enum Atom {
    /// An integer.
    Integer(i64),
    /// A real; never NaN, because JSON cannot carry one and arithmetic that makes one fails.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// A string.
    String(String),
    /// A UUID.
    Uuid(Uuid),
}

impl Atom {
    /// The atom's type.
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Self::Integer(_) => AtomicType::Integer,
            Self::Real(_) => AtomicType::Real,
            Self::Boolean(_) => AtomicType::Boolean,
            Self::String(_) => AtomicType::String,
            Self::Uuid(_) => AtomicType::Uuid,
        }
    }

    /// The UUID, if this is one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Self::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// Reads an atom of type `ty` from its JSON form. `["named-uuid", name]` is accepted only
    /// when `symbols` is given, that is, inside a transaction.
    pub fn from_json(
        ty: AtomicType,
        json: &Value,
        symbols: Option<&mut dyn Symbols>,
    ) -> Result<Self> {
        let atom = match (ty, json) {
            (AtomicType::Integer, Value::Number(n)) => match n.as_i64() {
                Some(i) => Self::Integer(i),
                None => return Err(Error::syntax(json, "expected integer")),
            },
            (AtomicType::Real, Value::Number(n)) => match n.as_f64() {
                Some(r) if r.is_finite() => Self::Real(r),
                _ => return Err(Error::syntax(json, "expected real")),
            },
            (AtomicType::Boolean, Value::Bool(b)) => Self::Boolean(*b),
            (AtomicType::String, Value::String(s)) => Self::String(s.clone()),
            (AtomicType::Uuid, Value::Array(a)) => match a.as_slice() {
                [Value::String(tag), Value::String(text)] if tag == "uuid" => {
                    match parse_uuid(text) {
                        Some(u) => Self::Uuid(u),
                        None => {
                            return Err(Error::syntax(
                                json,
                                format!("\"{text}\" is not a valid UUID"),
                            ));
                        }
                    }
                }
                [Value::String(tag), Value::String(name)] if tag == "named-uuid" => match symbols {
                    Some(symbols) => Self::Uuid(symbols.resolve(name)),
                    None => {
                        return Err(Error::syntax(
                            json,
                            "named-uuid is only allowed in transactions",
                        ));
                    }
                },
                _ => return Err(Error::syntax(json, "expected uuid")),
            },
            (ty, _) => return Err(Error::syntax(json, format!("expected {}", ty.name()))),
        };
        Ok(atom)
    }

    /// The atom's JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Integer(i) => Value::from(*i),
            Self::Real(r) => real_to_json(*r),
            Self::Boolean(b) => Value::Bool(*b),
            Self::String(s) => Value::String(s.clone()),
            Self::Uuid(u) => uuid_to_json(*u),
        }
    }
}

/// `["uuid", "<text>"]`.
pub fn uuid_to_json(u: Uuid) -> Value {
    Value::Array(vec![
        Value::from("uuid"),
        Value::String(u.hyphenated().to_string()),
    ])
}

/// Reals that hold a whole number are written without a fraction, as Open vSwitch does, so
/// `1.0` is `1`; others take the shortest form that reads back exactly.
fn real_to_json(r: f64) -> Value {
    // Exactly representable as i64 and whole: print as an integer.
    if r.fract() == 0.0 && r.abs() < 9.007_199_254_740_992e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(r as i64);
    }
    serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
}

/// Parses the 36-character hyphenated UUID form OVSDB uses, and only that form.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Atom {}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Integer(a), Self::Integer(b)) => a.cmp(b),
            (Self::Real(a), Self::Real(b)) => a.total_cmp(b),
            (Self::Boolean(a), Self::Boolean(b)) => a.cmp(b),
            (Self::String(a), Self::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Self::Uuid(a), Self::Uuid(b)) => a.cmp(b),
            // Atoms of one datum share a type; across types, order by type so Ord stays total.
            (a, b) => a.atomic_type().cmp(&b.atomic_type()),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(i) => write!(f, "{i}"),
            Self::Real(r) => write!(f, "{r}"),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::String(s) => write!(f, "{}", Value::String(s.clone())),
            Self::Uuid(u) => write!(f, "{u}"),
        }
    }
}

/// Resolves `["named-uuid", name]` inside a transaction. A name used before the `insert`
/// that declares it still gets a UUID: if no insert ever claims it, the reference dangles
/// and the commit fails with a referential integrity violation, as in Open vSwitch.
pub trait Symbols {
    /// The UUID that `name` stands for in this transaction.
    fn resolve(&mut self, name: &str) -> Uuid;
}

/// Whether a reference keeps its target alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RefType {
    /// The target may not be deleted while referenced.
    #[default]
    Strong,
    /// The reference disappears when its target is deleted.
    Weak,
}

/// An atomic type with its constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    /// The atomic type.
    pub atomic: AtomicType,
    /// The allowed values, when the schema enumerates them.
    pub enumeration: Option<BTreeSet<Atom>>,
    /// The type-specific constraint.
    pub constraint: Constraint,
}

/// The constraints each atomic type may carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Constraint {
    /// No constraint.
    #[default]
    None,
    /// `minInteger`/`maxInteger`, inclusive.
    Integer {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// `minReal`/`maxReal`, inclusive.
    Real {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// `minLength`/`maxLength` in Unicode characters, inclusive.
    String {
        /// Shortest allowed length.
        min_len: u64,
        /// Longest allowed length.
        max_len: u64,
    },
    /// `refTable`/`refType`.
    Reference {
        /// The table the UUID names a row of.
        table: String,
        /// Strong or weak.
        ref_type: RefType,
    },
}

impl BaseType {
    /// An unconstrained base type.
    pub fn new(atomic: AtomicType) -> Self {
        Self {
            atomic,
            enumeration: None,
            constraint: Constraint::None,
        }
    }

    /// The table this type refers to and how, if it is a reference.
    pub fn reference(&self) -> Option<(&str, RefType)> {
        match &self.constraint {
            Constraint::Reference { table, ref_type } => Some((table, *ref_type)),
            _ => None,
        }
    }

    /// Reads a base type: a type name or an object with `type` and constraint members.
    pub fn from_json(json: &Value) -> Result<Self> {
        let obj = match json {
            Value::String(name) => {
                return AtomicType::from_name(name)
                    .map(Self::new)
                    .ok_or_else(|| Error::syntax(json, format!("unknown atomic type \"{name}\"")));
            }
            Value::Object(obj) => obj,
            _ => {
                return Err(Error::syntax(
                    json,
                    "base type must be a string or an object",
                ));
            }
        };
        let atomic = match obj.get("type") {
            Some(Value::String(name)) => AtomicType::from_name(name)
                .ok_or_else(|| Error::syntax(json, format!("unknown atomic type \"{name}\"")))?,
            _ => return Err(Error::syntax(json, "base type needs a \"type\" string")),
        };
        for key in obj.keys() {
            let allowed = match key.as_str() {
                "type" | "enum" => true,
                "minInteger" | "maxInteger" => atomic == AtomicType::Integer,
                "minReal" | "maxReal" => atomic == AtomicType::Real,
                "minLength" | "maxLength" => atomic == AtomicType::String,
                "refTable" | "refType" => atomic == AtomicType::Uuid,
                _ => false,
            };
            if !allowed {
                return Err(Error::syntax(
                    json,
                    format!(
                        "member \"{key}\" is not allowed in a base type of {}",
                        atomic.name()
                    ),
                ));
            }
        }
        let constraint = match atomic {
            AtomicType::Integer
                if obj.contains_key("minInteger") || obj.contains_key("maxInteger") =>
            {
                let min = opt_i64(json, obj, "minInteger")?.unwrap_or(i64::MIN);
                let max = opt_i64(json, obj, "maxInteger")?.unwrap_or(i64::MAX);
                if min > max {
                    return Err(Error::syntax(json, "minInteger exceeds maxInteger"));
                }
                Constraint::Integer { min, max }
            }
            AtomicType::Real if obj.contains_key("minReal") || obj.contains_key("maxReal") => {
                let min = opt_f64(json, obj, "minReal")?.unwrap_or(f64::MIN);
                let max = opt_f64(json, obj, "maxReal")?.unwrap_or(f64::MAX);
                if min > max {
                    return Err(Error::syntax(json, "minReal exceeds maxReal"));
                }
                Constraint::Real { min, max }
            }
            AtomicType::String
                if obj.contains_key("minLength") || obj.contains_key("maxLength") =>
            {
                let min_len = opt_u64(json, obj, "minLength")?.unwrap_or(0);
                let max_len = opt_u64(json, obj, "maxLength")?.unwrap_or(u64::MAX);
                if min_len > max_len {
                    return Err(Error::syntax(json, "minLength exceeds maxLength"));
                }
                Constraint::String { min_len, max_len }
            }
            AtomicType::Uuid => match obj.get("refTable") {
                Some(Value::String(table)) => {
                    let ref_type = match obj.get("refType") {
                        None => RefType::Strong,
                        Some(Value::String(s)) if s == "strong" => RefType::Strong,
                        Some(Value::String(s)) if s == "weak" => RefType::Weak,
                        Some(_) => {
                            return Err(Error::syntax(
                                json,
                                "refType must be \"strong\" or \"weak\"",
                            ));
                        }
                    };
                    Constraint::Reference {
                        table: table.clone(),
                        ref_type,
                    }
                }
                Some(_) => return Err(Error::syntax(json, "refTable must be a string")),
                None if obj.contains_key("refType") => {
                    return Err(Error::syntax(json, "refType without refTable"));
                }
                None => Constraint::None,
            },
            _ => Constraint::None,
        };
        let enumeration = match obj.get("enum") {
            None => None,
            Some(e) => {
                // The enumeration is a set of atoms of this type, in datum syntax.
                let unconstrained = Self::new(atomic);
                let set = crate::datum::parse_set_atoms(&unconstrained, e, None)?;
                Some(set)
            }
        };
        Ok(Self {
            atomic,
            enumeration,
            constraint,
        })
    }

    /// The base type's JSON form: the bare type name when unconstrained.
    pub fn to_json(&self) -> Value {
        if self.enumeration.is_none() && self.constraint == Constraint::None {
            return Value::from(self.atomic.name());
        }
        let mut obj = Map::new();
        obj.insert("type".into(), Value::from(self.atomic.name()));
        if let Some(e) = &self.enumeration {
            obj.insert("enum".into(), crate::datum::set_to_json(e));
        }
        match &self.constraint {
            Constraint::None => {}
            Constraint::Integer { min, max } => {
                if *min != i64::MIN {
                    obj.insert("minInteger".into(), Value::from(*min));
                }
                if *max != i64::MAX {
                    obj.insert("maxInteger".into(), Value::from(*max));
                }
            }
            Constraint::Real { min, max } => {
                if *min != f64::MIN {
                    obj.insert("minReal".into(), real_to_json(*min));
                }
                if *max != f64::MAX {
                    obj.insert("maxReal".into(), real_to_json(*max));
                }
            }
            Constraint::String { min_len, max_len } => {
                if *min_len != 0 {
                    obj.insert("minLength".into(), Value::from(*min_len));
                }
                if *max_len != u64::MAX {
                    obj.insert("maxLength".into(), Value::from(*max_len));
                }
            }
            Constraint::Reference { table, ref_type } => {
                obj.insert("refTable".into(), Value::from(table.as_str()));
                if *ref_type == RefType::Weak {
                    obj.insert("refType".into(), Value::from("weak"));
                }
            }
        }
        Value::Object(obj)
    }

    /// Checks an atom of this type against the constraints (the type itself was checked when
    /// the atom was read). References are checked at commit, not here.
    pub fn check(&self, atom: &Atom) -> Result<()> {
        if let Some(allowed) = &self.enumeration
            && !allowed.contains(atom)
        {
            let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            return Err(Error::constraint(format!(
                "{atom} is not one of the allowed values ([{}])",
                list.join(", ")
            )));
        }
        match (&self.constraint, atom) {
            (Constraint::Integer { min, max }, Atom::Integer(i)) if i < min || i > max => {
                Err(Error::constraint(format!(
                    "{i} is not in the valid range {min} to {max} (inclusive)"
                )))
            }
            (Constraint::Real { min, max }, Atom::Real(r)) if r < min || r > max => {
                Err(Error::constraint(format!(
                    "{r} is not in the valid range {min} to {max} (inclusive)"
                )))
            }
            (Constraint::String { min_len, max_len }, Atom::String(s)) => {
                let len = s.chars().count() as u64;
                if len < *min_len {
                    Err(Error::constraint(format!(
                        "{atom} length {len} is less than minimum allowed length {min_len}"
                    )))
                } else if len > *max_len {
                    Err(Error::constraint(format!(
                        "{atom} length {len} is greater than maximum allowed length {max_len}"
                    )))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The same type without its constraints: used for operands that are checked only after
    /// an operation combines them with stored data.
    pub fn unconstrained(&self) -> Self {
        Self::new(self.atomic)
    }
}

fn opt_i64(json: &Value, obj: &Map<String, Value>, key: &str) -> Result<Option<i64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::syntax(json, format!("\"{key}\" must be an integer"))),
    }
}

fn opt_u64(json: &Value, obj: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Error::syntax(json, format!("\"{key}\" must be a non-negative integer"))
        }),
    }
}

fn opt_f64(json: &Value, obj: &Map<String, Value>, key: &str) -> Result<Option<f64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| Error::syntax(json, format!("\"{key}\" must be a number"))),
    }
}
