//! ovs-ofctl's group syntax: `group_id=1,type=select,bucket=weight:5,output:1,bucket=...` for
//! `add-group`, `mod-group`, `del-groups`, `insert-buckets` and `remove-buckets`, and the
//! lines `dump-groups` and `dump-group-stats` print.
//!
//! # Parsing
//!
//! Group keys (`group_id`, `type`, `command_bucket_id`, and Open vSwitch's
//! `selection_method`, `selection_method_param` and `fields(...)`) come first; the first top-level
//! `bucket=` starts the buckets, each running to the next `bucket=`. A bucket's leading
//! `bucket_id:N`, `weight:N`, `watch_port:N`, `watch_group:N` (`=` works too) are its
//! properties, `actions=` or the first other token starts its actions. Errors use ovs-ofctl's
//! wording. A select group's bucket weighs 1 unless it says otherwise, any other group's 0.
//!
//! # Printing
//!
//! A bucket prints `bucket_id:N` where the version carries ids, its weight when it is not the
//! type's default (1 for select, 0 otherwise), its watches when set, then `actions=…`. A
//! selection method follows the type: `selection_method=NAME`, its parameter when not 0, and
//! `fields=F` for one field or `fields(F,G=MASK)` for more, a mask shown only when it is not
//! the whole field.

use super::parse::parse_actions;
use crate::group::{
    Bucket, BucketId, GroupDesc, GroupMod, GroupModCommand, GroupStats, GroupType, SelectionMethod,
};
use crate::types::{GroupId, PortNo};
use fvs_flow::{Field, Match, Protocols};
use std::fmt::Write as _;

/// Why group text was refused (ovs-ofctl's wording).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupParseError {
    /// No `group_id=`.
    #[error("must specify a group_id")]
    NoGroupId,
    /// No `type=` where one is needed.
    #[error("must specify a type")]
    NoType,
    /// A number that is not one.
    #[error("invalid numeric format {0}")]
    BadNumber(String),
    /// An unknown group type.
    #[error("invalid group type {0}")]
    BadType(String),
    /// An unknown group key.
    #[error("unknown keyword {0}")]
    UnknownKeyword(String),
    /// A bad bucket weight.
    #[error("invalid weight \"{0}\"")]
    BadWeight(String),
    /// A bad bucket id or command bucket id.
    #[error("invalid bucket_id \"{0}\"")]
    BadBucketId(String),
    /// A bad watch port.
    #[error("{0}: watch_port is not valid")]
    BadWatchPort(String),
    /// A bad watch group.
    #[error("invalid watch_group id {0}")]
    BadWatchGroup(String),
    /// An insert-bucket without `command_bucket_id`.
    #[error("must specify a command bucket id")]
    NoCommandBucketId,
    /// `fields` without `selection_method=hash`.
    #[error("fields may only be specified with \"selection_method=hash\"")]
    FieldsWithoutHash,
    /// `selection_method_param` without `selection_method`.
    #[error("selection_method_param is only allowed with \"selection_method\"")]
    ParamWithoutMethod,
    /// A selection method name longer than the property holds.
    #[error(
        "selection method is longer than {} bytes",
        crate::group::SelectionMethod::MAX_NAME_LEN
    )]
    MethodTooLong,
    /// A name in `fields(...)` that is no field.
    #[error("{0}: unknown field")]
    UnknownField(String),
    /// A field's mask in `fields(...)` that does not parse.
    #[error("{0}")]
    BadFieldMask(String),
    /// A bad `selection_method_param`.
    #[error("invalid selection_method_param {0}")]
    BadParam(String),
    /// A bucket without actions.
    #[error("bucket must specify actions")]
    NoActions,
    /// An indirect group with more than one bucket.
    #[error("Indirect groups can have at most one bucket.")]
    IndirectBuckets,
    /// A fast-failover bucket that watches nothing.
    #[error("fast failover bucket requires watch_port or watch_group")]
    FailoverWatch,
    /// The actions did not parse.
    #[error("{0}")]
    Actions(String),
}

/// Splits at top-level commas (outside parentheses), keeping each piece's text.
fn top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn number(s: &str) -> Result<u32, GroupParseError> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| GroupParseError::BadNumber(s.to_owned()))
}

/// Splits `key=value` or `key:value`.
fn key_value(t: &str) -> (&str, Option<&str>) {
    match t.find(['=', ':']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    }
}

/// Parses `s` as a group-mod with `command`. `usable` narrows to the protocols that can carry
/// the actions.
pub fn parse_group_mod(
    s: &str,
    command: GroupModCommand,
    usable: &mut Protocols,
) -> Result<GroupMod, GroupParseError> {
    let pieces = top_level(s);
    let first_bucket = pieces
        .iter()
        .position(|p| key_value(p).0 == "bucket")
        .unwrap_or(pieces.len());
    let mut group_id = None;
    let mut group_type = None;
    let mut command_bucket_id = None;
    let (mut method, mut param, mut fields) = (None, None, None);
    for p in &pieces[..first_bucket] {
        if let Some(list) = p.strip_prefix("fields(").and_then(|l| l.strip_suffix(')')) {
            fields = Some(parse_fields(list)?);
            continue;
        }
        match key_value(p) {
            ("selection_method", Some(v)) => {
                if v.len() > SelectionMethod::MAX_NAME_LEN {
                    return Err(GroupParseError::MethodTooLong);
                }
                method = Some(v.to_owned());
            }
            ("selection_method_param", Some(v)) => {
                let n = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                param = Some(n.map_err(|_| GroupParseError::BadParam(v.to_owned()))?);
            }
            ("fields", Some(v)) => fields = Some(parse_fields(v)?),
            ("group_id", Some(v)) => {
                group_id = Some(match v {
                    "all" => GroupId::ALL,
                    "any" => GroupId::ANY,
                    _ => GroupId(number(v)?),
                });
            }
            ("type", Some(v)) => {
                group_type = Some(match v {
                    "all" => GroupType::All,
                    "select" => GroupType::Select,
                    "indirect" => GroupType::Indirect,
                    "fast_failover" | "ff" => GroupType::FastFailover,
                    _ => return Err(GroupParseError::BadType(v.to_owned())),
                });
            }
            ("command_bucket_id", Some(v)) => command_bucket_id = Some(bucket_id(v)?),
            (k, _) => return Err(GroupParseError::UnknownKeyword(k.to_owned())),
        }
    }
    let group_id = match (group_id, command) {
        (Some(g), _) => g,
        (None, GroupModCommand::Delete) => GroupId::ALL,
        (None, _) => return Err(GroupParseError::NoGroupId),
    };
    let needs_type = matches!(
        command,
        GroupModCommand::Add | GroupModCommand::Modify | GroupModCommand::AddOrMod
    );
    let group_type = match group_type {
        Some(t) => t,
        None if needs_type => return Err(GroupParseError::NoType),
        None => GroupType::All,
    };
    let mut buckets = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for p in &pieces[first_bucket..] {
        match key_value(p) {
            ("bucket", v) => {
                if let Some(b) = current.take() {
                    buckets.push(b);
                }
                current = Some(v.filter(|v| !v.is_empty()).into_iter().collect());
            }
            _ => {
                if let Some(b) = current.as_mut() {
                    b.push(p);
                }
            }
        }
    }
    buckets.extend(current);
    let mut parsed = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let mut bk = parse_bucket(b, group_type, usable)?;
        if bk.bucket_id == BucketId::ALL {
            bk.bucket_id = BucketId(u32::try_from(i).unwrap_or(u32::MAX));
        }
        parsed.push(bk);
    }
    if group_type == GroupType::Indirect && parsed.len() > 1 {
        return Err(GroupParseError::IndirectBuckets);
    }
    if command == GroupModCommand::InsertBucket && command_bucket_id.is_none() {
        return Err(GroupParseError::NoCommandBucketId);
    }
    if fields.is_some() && method.as_deref() != Some("hash") {
        return Err(GroupParseError::FieldsWithoutHash);
    }
    if param.is_some() && method.is_none() {
        return Err(GroupParseError::ParamWithoutMethod);
    }
    let selection = method.map(|name| SelectionMethod {
        name,
        param: param.unwrap_or(0),
        fields: fields.unwrap_or_default(),
    });
    Ok(GroupMod {
        command,
        group_type,
        group_id,
        command_bucket_id: command_bucket_id.unwrap_or(BucketId::ALL),
        buckets: parsed,
        has_bucket_ids: true,
        selection,
    })
}

/// The fields of `fields(a,b=MASK)` or `fields=a`, each with its mask (all its bits unless
/// one is given, in the field's own syntax), in the registry's order as a switch keeps them.
fn parse_fields(list: &str) -> Result<Vec<(Field, u128)>, GroupParseError> {
    let mut out: Vec<(Field, u128)> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, mask) = match item.split_once('=') {
            Some((n, m)) => (n, Some(m)),
            None => (item, None),
        };
        let field =
            Field::from_name(name).ok_or_else(|| GroupParseError::UnknownField(name.to_owned()))?;
        let mut m = Match::CATCHALL;
        let mut usable = Protocols::ANY;
        let mask = match mask {
            Some(text) => {
                fvs_flow::text::parse_match_field(&mut m, name, Some(text), &mut usable)
                    .map_err(|e| GroupParseError::BadFieldMask(e.to_string()))?;
                m.get(field).0
            }
            None => all_bits(field),
        };
        out.retain(|(f, _)| *f != field);
        out.push((field, mask));
    }
    out.sort_by_key(|(f, _)| *f);
    Ok(out)
}

/// Every bit of `field`, right-aligned.
fn all_bits(field: Field) -> u128 {
    let mut m = Match::CATCHALL;
    m.set_masked(field, u128::MAX, u128::MAX);
    m.get(field).1
}

/// Writes `,selection_method=...` (and its parameter and fields) when the group has one.
fn format_selection(sel: Option<&SelectionMethod>, out: &mut String) {
    let Some(sel) = sel else {
        return;
    };
    let _ = write!(out, ",selection_method={}", sel.name);
    if sel.param != 0 {
        let _ = write!(out, ",selection_method_param={}", sel.param);
    }
    let one = |out: &mut String, (field, mask): &(Field, u128)| {
        out.push_str(field.name());
        if *mask != all_bits(*field) {
            out.push('=');
            fvs_flow::text::format_field_value(*field, *mask, out);
        }
    };
    match sel.fields.as_slice() {
        [] => {}
        [only] => {
            out.push_str(",fields=");
            one(out, only);
        }
        many => {
            out.push_str(",fields(");
            for (i, f) in many.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                one(out, f);
            }
            out.push(')');
        }
    }
}

fn bucket_id(v: &str) -> Result<BucketId, GroupParseError> {
    Ok(match v {
        "first" => BucketId::FIRST,
        "last" => BucketId::LAST,
        "all" => BucketId::ALL,
        _ => match v.parse::<u32>() {
            Ok(n) if n <= BucketId::MAX.0 => BucketId(n),
            _ => return Err(GroupParseError::BadBucketId(v.to_owned())),
        },
    })
}

/// One bucket's pieces (already split at top-level commas). Its id is `ALL` when the text
/// gave none (the caller numbers it).
fn parse_bucket(
    pieces: &[&str],
    ty: GroupType,
    usable: &mut Protocols,
) -> Result<Bucket, GroupParseError> {
    let mut bk = Bucket::new(Vec::new());
    bk.bucket_id = BucketId::ALL;
    bk.weight = u16::from(ty == GroupType::Select);
    let mut actions: Option<String> = None;
    for p in pieces {
        if let Some(a) = actions.as_mut() {
            a.push(',');
            a.push_str(p);
            continue;
        }
        match key_value(p) {
            ("bucket_id", Some(v)) => bk.bucket_id = bucket_id(v)?,
            ("weight", Some(v)) => {
                bk.weight = v
                    .parse()
                    .map_err(|_| GroupParseError::BadWeight(v.to_owned()))?;
            }
            ("watch_port", Some(v)) => {
                bk.watch_port = PortNo(
                    v.parse()
                        .map_err(|_| GroupParseError::BadWatchPort(v.to_owned()))?,
                );
            }
            ("watch_group", Some(v)) => {
                bk.watch_group = GroupId(
                    v.parse()
                        .map_err(|_| GroupParseError::BadWatchGroup(v.to_owned()))?,
                );
            }
            ("actions", Some(v)) => actions = Some(v.to_owned()),
            _ => actions = Some((*p).to_owned()),
        }
    }
    let text = actions.ok_or(GroupParseError::NoActions)?;
    bk.actions =
        parse_actions(&text, usable).map_err(|e| GroupParseError::Actions(e.to_string()))?;
    if ty == GroupType::FastFailover
        && bk.watch_port == PortNo::ANY
        && bk.watch_group == GroupId::ANY
    {
        return Err(GroupParseError::FailoverWatch);
    }
    Ok(bk)
}

/// ovs-ofctl's name for a group type (`ff` for fast failover).
pub fn type_name(t: GroupType) -> &'static str {
    match t {
        GroupType::FastFailover => "ff",
        t => t.name(),
    }
}

/// Writes `bucket=...` for each bucket.
pub fn format_buckets(buckets: &[Bucket], ty: GroupType, with_ids: bool, out: &mut String) {
    let default_weight = u16::from(ty == GroupType::Select);
    for bk in buckets {
        out.push_str(",bucket=");
        if with_ids {
            let _ = write!(out, "bucket_id:{},", bk.bucket_id.0);
        }
        if bk.weight != default_weight {
            let _ = write!(out, "weight:{},", bk.weight);
        }
        if bk.watch_port != PortNo::ANY {
            let _ = write!(out, "watch_port:{},", bk.watch_port);
        }
        if bk.watch_group != GroupId::ANY {
            let _ = write!(out, "watch_group:{},", bk.watch_group.0);
        }
        out.push_str("actions=");
        super::format_actions(&bk.actions, out);
    }
}

/// A group as `dump-groups` prints it (without the leading space).
pub fn format_group_desc(d: &GroupDesc, with_ids: bool, out: &mut String) {
    let _ = write!(
        out,
        "group_id={},type={}",
        d.group_id.0,
        type_name(d.group_type)
    );
    format_selection(d.selection.as_ref(), out);
    format_buckets(&d.buckets, d.group_type, with_ids, out);
}

/// A group-mod's body as ovs-ofctl prints a quoted one (` ADD group_id=…`).
pub fn format_group_mod(gm: &GroupMod, with_ids: bool, out: &mut String) {
    let cmd = match gm.command {
        GroupModCommand::Add => "ADD",
        GroupModCommand::Modify => "MOD",
        GroupModCommand::Delete => "DEL",
        GroupModCommand::AddOrMod => "ADD_OR_MOD",
        GroupModCommand::InsertBucket => "INSERT_BUCKET",
        GroupModCommand::RemoveBucket => "REMOVE_BUCKET",
    };
    let _ = write!(out, " {cmd} ");
    if matches!(
        gm.command,
        GroupModCommand::InsertBucket | GroupModCommand::RemoveBucket
    ) {
        let cb = match gm.command_bucket_id {
            BucketId::FIRST => "first".to_owned(),
            BucketId::LAST => "last".to_owned(),
            BucketId::ALL => "all".to_owned(),
            BucketId(n) => n.to_string(),
        };
        let _ = write!(out, "command_bucket_id:{cb},");
    }
    let _ = write!(out, "group_id={}", gm.group_id.0);
    if !matches!(
        gm.command,
        GroupModCommand::InsertBucket | GroupModCommand::RemoveBucket
    ) {
        let _ = write!(out, ",type={}", type_name(gm.group_type));
    }
    format_selection(gm.selection.as_ref(), out);
    format_buckets(&gm.buckets, gm.group_type, with_ids, out);
}

/// A group's statistics as `dump-group-stats` prints them (without the leading space);
/// `with_duration` for the versions that carry it.
pub fn format_group_stats(s: &GroupStats, with_duration: bool, out: &mut String) {
    let _ = write!(out, "group_id={},", s.group_id.0);
    if with_duration {
        let _ = write!(
            out,
            "duration={}.{:03}s,",
            s.duration_sec,
            s.duration_nsec / 1_000_000
        );
    }
    let _ = write!(
        out,
        "ref_count={},packet_count={},byte_count={}",
        s.ref_count, s.counters.packets, s.counters.bytes
    );
    for (i, c) in s.buckets.iter().enumerate() {
        let _ = write!(
            out,
            ",bucket{i}:packet_count={},byte_count={}",
            c.packets, c.bytes
        );
    }
}
