//! OVSDB values in ovs-vsctl's text: how `set`, `add`, `find` and `create` read them and how
//! `get`, `list` and `show` print them.
//!
//! Reading: an optional `[...]` (sets) or `{...}` (maps), elements separated by commas or
//! spaces, map entries `key=value`. An atom is a JSON string in double quotes or a bare token
//! that ends at one of `:=, []{}!<>`; so a value holding such a character must be quoted
//! (`target="tcp:1.2.3.4:6653"`). A UUID atom may be `@name`, a name given by `--id`.
//!
//! Printing: strings are bare when they look like identifiers (a letter or `_`, then letters, digits,
//! `_`, `-` or `.`), and are not `true`, `false` or a UUID; otherwise they are JSON strings.
//! Sets print in brackets unless the column holds at most one value and has one, maps in
//! braces.

use std::collections::{BTreeMap, BTreeSet};

use fvs_ovsdb::{Atom, AtomicType, BaseType, ColumnType, Datum, MaxSize};
use uuid::Uuid;

use crate::error::VsctlError;

/// Characters that end a bare token.
const DELIMITERS: &str = ":=, []{}!<>";

/// Whether `c` ends a bare token.
pub fn is_delimiter(c: char) -> bool {
    DELIMITERS.contains(c)
}

/// Resolves `@name` references of `--id` to UUIDs.
pub trait SymbolTable {
    /// The UUID `name` (with its `@`) stands for, if it is defined.
    fn lookup(&mut self, name: &str) -> Option<Uuid>;
}

/// Reads a token at the start of `s`: a JSON string or a bare run up to a delimiter. Returns
/// the token's text and the rest of `s`.
pub fn parse_token(s: &str) -> Result<(String, &str), VsctlError> {
    if let Some(body) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                let quoted = &s[..i + 2];
                let text: String = serde_json::from_str(quoted)
                    .map_err(|_| VsctlError::BadValue(format!("{s}: invalid quoted string")))?;
                return Ok((text, &body[i + 1..]));
            }
        }
        return Err(VsctlError::BadValue(format!(
            "{s}: missing quote at end of quoted string"
        )));
    }
    let end = s
        .find(|c: char| is_delimiter(c) || c.is_whitespace())
        .unwrap_or(s.len());
    Ok((s[..end].to_owned(), &s[end..]))
}

/// Reads one atom of type `base` from a token's text.
pub fn parse_atom(
    base: &BaseType,
    text: &str,
    symbols: &mut dyn SymbolTable,
) -> Result<Atom, VsctlError> {
    let atom = match base.atomic {
        AtomicType::Integer => match text.parse::<i64>() {
            Ok(i) => Atom::Integer(i),
            Err(_) => {
                return Err(VsctlError::BadValue(format!(
                    "\"{text}\" is not a valid integer or range"
                )));
            }
        },
        AtomicType::Real => match text.parse::<f64>() {
            Ok(r) if r.is_finite() => Atom::Real(r),
            _ => {
                return Err(VsctlError::BadValue(format!(
                    "\"{text}\" is not a valid real number"
                )));
            }
        },
        AtomicType::Boolean => match text {
            "true" => Atom::Boolean(true),
            "false" => Atom::Boolean(false),
            _ => {
                return Err(VsctlError::BadValue(format!(
                    "\"{text}\" is not a valid boolean (use \"true\" or \"false\")"
                )));
            }
        },
        AtomicType::String => Atom::String(text.to_owned()),
        AtomicType::Uuid => {
            if text.starts_with('@') {
                match symbols.lookup(text) {
                    Some(u) => Atom::Uuid(u),
                    None => {
                        return Err(VsctlError::BadValue(format!(
                            "row id \"{text}\" is referenced but never created (e.g. with \"-- --id={text} create ...\")"
                        )));
                    }
                }
            } else {
                match fvs_ovsdb::atom::parse_uuid(text) {
                    Some(u) => Atom::Uuid(u),
                    None => {
                        return Err(VsctlError::BadValue(format!(
                            "\"{text}\" is not a valid UUID"
                        )));
                    }
                }
            }
        }
    };
    if let Some(allowed) = &base.enumeration
        && !allowed.contains(&atom)
    {
        let list: Vec<String> = allowed.iter().map(atom_to_string).collect();
        return Err(VsctlError::BadValue(format!(
            "constraint violation: {} is not one of the allowed values ([{}])",
            atom_to_string(&atom),
            list.join(", ")
        )));
    }
    // The core's other errors read as ovs-vsctl prints them: "constraint violation: ...".
    base.check(&atom)
        .map_err(|e| VsctlError::BadValue(e.to_string()))?;
    Ok(atom)
}

/// Reads one atom from the whole of `text`, as ovs-vsctl reads the value of `set`'s
/// `COLUMN:KEY=VALUE`: delimiters are part of a bare string there
/// (`other_config:hwaddr=00:11:22:33:44:55`), and a quoted one must end at the end.
pub fn parse_whole_atom(
    base: &BaseType,
    text: &str,
    symbols: &mut dyn SymbolTable,
) -> Result<Atom, VsctlError> {
    if base.atomic != AtomicType::String {
        return parse_atom(base, text, symbols);
    }
    if text.is_empty() {
        return Err(VsctlError::BadValue(
            "An empty string is not valid as input; use \"\" to represent the empty string".into(),
        ));
    }
    if text.starts_with('"') {
        let (unquoted, rest) = parse_token(text)?;
        if !rest.is_empty() {
            return Err(VsctlError::BadValue(format!(
                "{text}: missing quote at end of quoted string"
            )));
        }
        return parse_atom(base, &unquoted, symbols);
    }
    parse_atom(base, text, symbols)
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start()
}

/// Reads a whole datum of type `ty` (the size range is checked too).
pub fn parse_datum(
    ty: &ColumnType,
    s: &str,
    symbols: &mut dyn SymbolTable,
) -> Result<Datum, VsctlError> {
    let is_map = ty.is_map();
    let mut p = skip_spaces(s);
    let end_delim = if p.starts_with(if is_map { '{' } else { '[' }) {
        p = skip_spaces(&p[1..]);
        Some(if is_map { '}' } else { ']' })
    } else if p.is_empty() {
        return Err(VsctlError::BadValue(
            if is_map {
                "use \"{}\" to specify the empty map"
            } else {
                "use \"[]\" to specify the empty set"
            }
            .to_owned(),
        ));
    } else {
        None
    };
    let mut set = BTreeSet::new();
    let mut map = BTreeMap::new();
    while let Some(c) = p.chars().next() {
        if Some(c) == end_delim {
            break;
        }
        if is_delimiter(c) {
            return Err(VsctlError::BadValue(format!(
                "{s}: unexpected \"{c}\" parsing {}",
                english(ty)
            )));
        }
        let (key_text, rest) = parse_token(p)?;
        let key = parse_atom(&ty.key, &key_text, symbols)?;
        p = rest;
        if let Some(value_type) = &ty.value {
            p = skip_spaces(p);
            match p.strip_prefix('=') {
                Some(rest) => p = rest,
                None => {
                    let at = p.chars().next().map(String::from).unwrap_or_default();
                    return Err(VsctlError::BadValue(format!(
                        "{s}: syntax error at \"{at}\" expecting \"=\""
                    )));
                }
            }
            let (value_text, rest) = parse_token(p)?;
            let value = parse_atom(value_type, &value_text, symbols)?;
            p = rest;
            if map.insert(key, value).is_some() {
                return Err(VsctlError::BadValue(format!(
                    "{s}: map contains duplicate key"
                )));
            }
        } else if !set.insert(key) {
            return Err(VsctlError::BadValue(format!(
                "{s}: set contains duplicate value"
            )));
        }
        p = skip_spaces(p);
        if let Some(rest) = p.strip_prefix(',') {
            p = skip_spaces(rest);
        }
    }
    match end_delim {
        Some(d) => match p.strip_prefix(d) {
            Some(rest) if skip_spaces(rest).is_empty() => {}
            Some(_) => {
                return Err(VsctlError::BadValue(format!(
                    "{s}: trailing garbage after \"{d}\""
                )));
            }
            None => {
                return Err(VsctlError::BadValue(format!(
                    "{s}: missing \"{d}\" at end of data"
                )));
            }
        },
        None if !p.is_empty() => {
            return Err(VsctlError::BadValue(format!("{s}: trailing garbage")));
        }
        None => {}
    }
    let datum = if is_map {
        Datum::Map(map)
    } else {
        Datum::Set(set)
    };
    let n = datum.len() as u64;
    if n < ty.min {
        return Err(VsctlError::BadValue(format!(
            "{s}: {n} values specified but the minimum number is {}",
            ty.min
        )));
    }
    if let MaxSize::Limited(max) = ty.max
        && n > max
    {
        return Err(VsctlError::BadValue(format!(
            "{s}: {n} values specified but the maximum number is {max}"
        )));
    }
    Ok(datum)
}

/// The type in the words of ovs-vsctl's parse errors.
fn english(ty: &ColumnType) -> String {
    let key = ty.key.atomic.name();
    match &ty.value {
        Some(v) => format!("map of {key}-{} pairs", v.atomic.name()),
        None if ty.max == MaxSize::Limited(1) => key.to_owned(),
        None => format!("set of {key}s"),
    }
}

/// Whether a string must be quoted to read back as itself.
fn needs_quotes(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return true,
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
        return true;
    }
    s == "true" || s == "false" || fvs_ovsdb::atom::parse_uuid(s).is_some()
}

/// An atom as `get` and `list` print it.
pub fn atom_to_string(atom: &Atom) -> String {
    match atom {
        Atom::String(s) if needs_quotes(s) => serde_json::Value::String(s.clone()).to_string(),
        Atom::String(s) => s.clone(),
        Atom::Real(r) => real_to_string(*r),
        other => other.to_string(),
    }
}

/// An atom with strings unquoted (`--data=bare`).
pub fn atom_to_bare(atom: &Atom) -> String {
    match atom {
        Atom::String(s) => s.clone(),
        Atom::Real(r) => real_to_string(*r),
        other => other.to_string(),
    }
}

/// Reals as C's `%.*g` with 17 significant digits prints them, shortest form that reads back.
fn real_to_string(r: f64) -> String {
    format!("{r}")
}

/// A datum as `get` and `list` print it.
pub fn datum_to_string(ty: &ColumnType, datum: &Datum) -> String {
    let bracket = ty.max != MaxSize::Limited(1) || datum.is_empty();
    let body = match datum {
        Datum::Set(s) => s.iter().map(atom_to_string).collect::<Vec<_>>().join(", "),
        Datum::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{}={}", atom_to_string(k), atom_to_string(v)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    match (bracket, datum) {
        (false, _) => body,
        (true, Datum::Map(_)) => format!("{{{body}}}"),
        (true, Datum::Set(_)) if ty.is_map() => format!("{{{body}}}"),
        (true, Datum::Set(_)) => format!("[{body}]"),
    }
}

/// A datum with `--data=bare`: elements separated by spaces, map entries `key=value`.
pub fn datum_to_bare(datum: &Datum) -> String {
    match datum {
        Datum::Set(s) => s.iter().map(atom_to_bare).collect::<Vec<_>>().join(" "),
        Datum::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{}={}", atom_to_bare(k), atom_to_bare(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSymbols;
    impl SymbolTable for NoSymbols {
        fn lookup(&mut self, _: &str) -> Option<Uuid> {
            None
        }
    }

    fn map_type() -> ColumnType {
        ColumnType {
            key: BaseType::new(AtomicType::String),
            value: Some(BaseType::new(AtomicType::String)),
            min: 0,
            max: MaxSize::Unlimited,
        }
    }

    #[test]
    fn strings_that_look_like_numbers_or_keywords_are_quoted() {
        let ty = map_type();
        let d = parse_datum(&ty, "{b=\"10.0.1.31\", a=flow, c=\"true\"}", &mut NoSymbols).unwrap();
        assert_eq!(
            datum_to_string(&ty, &d),
            "{a=flow, b=\"10.0.1.31\", c=\"true\"}"
        );
        assert_eq!(datum_to_bare(&d), "a=flow b=10.0.1.31 c=true");
    }

    #[test]
    fn bare_token_stops_at_a_colon() {
        let ty = ColumnType::scalar(BaseType::new(AtomicType::String));
        let err = parse_datum(&ty, "tcp:1.2.3.4", &mut NoSymbols).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tcp:1.2.3.4: unexpected \":\" parsing string"
        );
    }
}
