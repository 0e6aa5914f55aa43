//! Column types and datums: every column value is a set of atoms or a map between atoms.
//!
//! A scalar column is a set of exactly one element; an optional one a set of zero or one.
//! [`Datum`] keeps its elements in a `BTreeSet`/`BTreeMap`, so the order is canonical and two
//! equal values compare equal regardless of how a client wrote them.
//!
//! JSON forms (RFC 7047 §5.1): a set is `["set", [atom...]]` but a one-element set is written
//! as the bare atom; a map is always `["map", [[key, value]...]]`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::atom::{Atom, BaseType, Symbols};
use crate::error::{Error, ErrorKind, Result};

/// The most elements a column may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MaxSize {
    /// At most this many (at least 1).
    Limited(u64),
    /// `"unlimited"`.
    Unlimited,
}

impl MaxSize {
    /// Whether `n` elements fit.
    pub fn allows(self, n: usize) -> bool {
        match self {
            Self::Limited(max) => (n as u64) <= max,
            Self::Unlimited => true,
        }
    }
}

/// A column's type: key type, optional value type (a map), and the size range.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    /// Type of the elements (of the keys, for a map).
    pub key: BaseType,
    /// Type of a map's values; `None` for sets and scalars.
    pub value: Option<BaseType>,
    /// Fewest elements: 0 or 1.
    pub min: u64,
    /// Most elements.
    pub max: MaxSize,
}

impl ColumnType {
    /// A scalar of `key`'s type: exactly one element.
    pub fn scalar(key: BaseType) -> Self {
        Self {
            key,
            value: None,
            min: 1,
            max: MaxSize::Limited(1),
        }
    }

    /// Whether this is a map.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// Whether this holds exactly one atom and is not a map.
    pub fn is_scalar(&self) -> bool {
        self.value.is_none() && self.min == 1 && self.max == MaxSize::Limited(1)
    }

    /// Whether this holds zero or one atom and is not a map.
    pub fn is_optional_scalar(&self) -> bool {
        self.value.is_none() && self.min == 0 && self.max == MaxSize::Limited(1)
    }

    /// The same element types, any number of elements: the type of operands such as a
    /// mutation's value or a condition's, whose size is checked after they are applied.
    pub fn any_size(&self) -> Self {
        Self {
            min: 0,
            max: MaxSize::Unlimited,
            ..self.clone()
        }
    }

    /// Reads a column type: an atomic type name, or `{"key", "value", "min", "max"}`.
    pub fn from_json(json: &Value) -> Result<Self> {
        let obj = match json {
            Value::String(_) => return Ok(Self::scalar(BaseType::from_json(json)?)),
            Value::Object(obj) => obj,
            _ => return Err(Error::syntax(json, "type must be a string or an object")),
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "key" | "value" | "min" | "max") {
                return Err(Error::syntax(
                    json,
                    format!("unknown member \"{key}\" in type"),
                ));
            }
        }
        let key = match obj.get("key") {
            Some(k) => BaseType::from_json(k)?,
            None => return Err(Error::syntax(json, "type needs a \"key\"")),
        };
        let value = obj.get("value").map(BaseType::from_json).transpose()?;
        let min = match obj.get("min") {
            None => 1,
            Some(Value::Number(n)) if matches!(n.as_u64(), Some(0 | 1)) => n.as_u64().unwrap_or(1),
            Some(_) => return Err(Error::syntax(json, "\"min\" must be 0 or 1")),
        };
        let max = match obj.get("max") {
            None => MaxSize::Limited(1),
            Some(Value::String(s)) if s == "unlimited" => MaxSize::Unlimited,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m) if m >= 1 => MaxSize::Limited(m),
                _ => return Err(Error::syntax(json, "\"max\" must be at least 1")),
            },
            Some(_) => {
                return Err(Error::syntax(
                    json,
                    "\"max\" must be a number or \"unlimited\"",
                ));
            }
        };
        Ok(Self {
            key,
            value,
            min,
            max,
        })
    }

    /// The type's JSON form, the bare base type for an unconstrained scalar.
    pub fn to_json(&self) -> Value {
        if self.is_scalar() {
            let key = self.key.to_json();
            if key.is_string() {
                return key;
            }
        }
        let mut obj = Map::new();
        obj.insert("key".into(), self.key.to_json());
        if let Some(v) = &self.value {
            obj.insert("value".into(), v.to_json());
        }
        if self.min != 1 {
            obj.insert("min".into(), Value::from(self.min));
        }
        match self.max {
            MaxSize::Limited(1) => {}
            MaxSize::Limited(m) => {
                obj.insert("max".into(), Value::from(m));
            }
            MaxSize::Unlimited => {
                obj.insert("max".into(), Value::from("unlimited"));
            }
        }
        Value::Object(obj)
    }

    /// The value of a column that nothing was written to: empty if `min` is 0, else the
    /// default atom (and, for a map, default value).
    pub fn default_datum(&self) -> Datum {
        if self.min == 0 {
            return match &self.value {
                Some(_) => Datum::Map(BTreeMap::new()),
                None => Datum::Set(BTreeSet::new()),
            };
        }
        let key = self.key.atomic.default_atom();
        match &self.value {
            Some(v) => Datum::Map(BTreeMap::from([(key, v.atomic.default_atom())])),
            None => Datum::Set(BTreeSet::from([key])),
        }
    }
}

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Datum {
    /// A set of atoms (scalars are one-element sets).
    Set(BTreeSet<Atom>),
    /// A map from atoms to atoms.
    Map(BTreeMap<Atom, Atom>),
}

impl Datum {
    /// A one-element set.
    pub fn scalar(atom: Atom) -> Self {
        Self::Set(BTreeSet::from([atom]))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::Set(s) => s.len(),
            Self::Map(m) => m.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The only element of a one-element set.
    pub fn as_scalar(&self) -> Option<&Atom> {
        match self {
            Self::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// Every atom, keys and values: used to find references.
    pub fn atoms(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Self::Set(s) => Box::new(s.iter()),
            Self::Map(m) => Box::new(m.iter().flat_map(|(k, v)| [k, v])),
        }
    }

    /// Reads a datum of type `ty`, checking atoms' types, constraints, and the size range.
    pub fn from_json(
        ty: &ColumnType,
        json: &Value,
        mut symbols: Option<&mut dyn Symbols>,
    ) -> Result<Self> {
        let datum = if let Some(value_type) = &ty.value {
            let pairs = match tagged(json, "map") {
                Some(pairs) => pairs,
                None => return Err(Error::syntax(json, "expected [\"map\", [...]]")),
            };
            let mut map = BTreeMap::new();
            for pair in pairs {
                let (k, v) = match pair.as_array().map(Vec::as_slice) {
                    Some([k, v]) => (k, v),
                    _ => return Err(Error::syntax(pair, "map element must be [key, value]")),
                };
                let k = Atom::from_json(ty.key.atomic, k, reborrow(&mut symbols))?;
                let v = Atom::from_json(value_type.atomic, v, reborrow(&mut symbols))?;
                ty.key.check(&k)?;
                value_type.check(&v)?;
                if map.insert(k, v).is_some() {
                    return Err(Error::new(
                        ErrorKind::OvsdbError,
                        "map contains duplicate key",
                    ));
                }
            }
            Self::Map(map)
        } else {
            let set = parse_set_atoms(&ty.key, json, symbols)?;
            Self::Set(set)
        };
        let n = datum.len();
        if (n as u64) < ty.min || !ty.max.allows(n) {
            let noun = type_noun(ty);
            let details = match ty.max {
                MaxSize::Limited(1) if ty.min == 1 => {
                    format!("{noun} must have exactly one member but {n} are present")
                }
                MaxSize::Limited(m) => format!(
                    "{noun} must have {} to {m} members but {n} are present",
                    ty.min
                ),
                MaxSize::Unlimited => format!(
                    "{noun} must have at least {} members but {n} are present",
                    ty.min
                ),
            };
            return Err(Error::syntax(json, details));
        }
        Ok(datum)
    }

    /// The datum's JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Set(s) if s.len() == 1 => s.iter().next().map_or(Value::Null, Atom::to_json),
            Self::Set(s) => set_to_json(s),
            Self::Map(m) => {
                let pairs = m
                    .iter()
                    .map(|(k, v)| Value::Array(vec![k.to_json(), v.to_json()]));
                Value::Array(vec![Value::from("map"), Value::Array(pairs.collect())])
            }
        }
    }

    /// Checks every element against the type's constraints and the size range; the caller
    /// says what to call the value in the error.
    pub fn check(&self, ty: &ColumnType) -> Result<()> {
        match self {
            Self::Set(s) => s.iter().try_for_each(|a| ty.key.check(a))?,
            Self::Map(m) => {
                for (k, v) in m {
                    ty.key.check(k)?;
                    if let Some(vt) = &ty.value {
                        vt.check(v)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the size is within the type's range.
    pub fn size_ok(&self, ty: &ColumnType) -> bool {
        (self.len() as u64) >= ty.min && ty.max.allows(self.len())
    }

    /// The difference that turns `self` into `new`, in the form OVSDB's log writes for sets
    /// and maps: for a set, the elements to toggle; for a map, the keys whose entry changes,
    /// each with its new value, or its old value when the key goes away.
    pub fn diff(&self, new: &Self) -> Self {
        match (self, new) {
            (Self::Set(old), Self::Set(new)) => {
                Self::Set(old.symmetric_difference(new).cloned().collect())
            }
            (Self::Map(old), Self::Map(new)) => {
                let mut diff = BTreeMap::new();
                for (k, v) in old {
                    if !new.contains_key(k) {
                        diff.insert(k.clone(), v.clone());
                    }
                }
                for (k, v) in new {
                    if old.get(k) != Some(v) {
                        diff.insert(k.clone(), v.clone());
                    }
                }
                Self::Map(diff)
            }
            // Kinds never differ within one column; a full replacement is the safe answer.
            _ => new.clone(),
        }
    }

    /// Applies a [`Datum::diff`] to `self`.
    pub fn apply_diff(&self, diff: &Self) -> Self {
        match (self, diff) {
            (Self::Set(old), Self::Set(d)) => {
                Self::Set(old.symmetric_difference(d).cloned().collect())
            }
            (Self::Map(old), Self::Map(d)) => {
                let mut new = old.clone();
                for (k, v) in d {
                    match old.get(k) {
                        Some(ov) if ov == v => {
                            new.remove(k);
                        }
                        _ => {
                            new.insert(k.clone(), v.clone());
                        }
                    }
                }
                Self::Map(new)
            }
            _ => diff.clone(),
        }
    }
}

/// `["set", [...]]` of atoms, for enumerations.
pub(crate) fn set_to_json(s: &BTreeSet<Atom>) -> Value {
    Value::Array(vec![
        Value::from("set"),
        Value::Array(s.iter().map(Atom::to_json).collect()),
    ])
}

/// Reads the elements of a set: `["set", [...]]` or one bare atom. Duplicates are an error,
/// as in Open vSwitch.
pub(crate) fn parse_set_atoms(
    base: &BaseType,
    json: &Value,
    mut symbols: Option<&mut dyn Symbols>,
) -> Result<BTreeSet<Atom>> {
    let mut set = BTreeSet::new();
    match tagged(json, "set") {
        Some(elements) => {
            for e in elements {
                let atom = Atom::from_json(base.atomic, e, reborrow(&mut symbols))?;
                base.check(&atom)?;
                if !set.insert(atom) {
                    return Err(Error::new(ErrorKind::OvsdbError, "set contains duplicate"));
                }
            }
        }
        None => {
            let atom = Atom::from_json(base.atomic, json, symbols)?;
            base.check(&atom)?;
            set.insert(atom);
        }
    }
    Ok(set)
}

/// The elements of `[tag, [...]]`, if `json` has that shape.
fn tagged<'a>(json: &'a Value, tag: &str) -> Option<&'a [Value]> {
    match json.as_array().map(Vec::as_slice) {
        Some([Value::String(t), Value::Array(elements)]) if t == tag => Some(elements),
        _ => None,
    }
}

fn reborrow<'a>(symbols: &'a mut Option<&mut dyn Symbols>) -> Option<&'a mut dyn Symbols> {
    match symbols {
        Some(s) => Some(&mut **s),
        None => None,
    }
}

fn type_noun(ty: &ColumnType) -> &'static str {
    if ty.is_map() { "map" } else { "set" }
}

impl ColumnType {
    /// The type in words, as error messages name it ("integer", "set of strings",
    /// "map from string to string").
    pub fn describe(&self) -> String {
        let key = self.key.atomic.name();
        match (&self.value, self.min, self.max) {
            (Some(v), _, _) => format!("map from {key} to {}", v.atomic.name()),
            (None, 1, MaxSize::Limited(1)) => key.to_owned(),
            (None, 0, MaxSize::Limited(1)) => format!("optional {key}"),
            (None, _, MaxSize::Unlimited) => format!("set of {key}s"),
            (None, _, MaxSize::Limited(m)) => format!("set of up to {m} {key}s"),
        }
    }
}
