//! Flow-mod text: `ovs-ofctl add-flow` / `parse-flow` syntax, the add-flows file syntax, and
//! the one-line form ovs-ofctl prints for a flow-mod message.
//!
//! A flow is a comma/space list of keywords (`table`, `priority`, `cookie`, timeouts, flags),
//! match fields (handed to `fvs-flow`'s match parser) and the mandatory `actions=...`, which
//! runs to the end of the line. Parsing also computes the *usable protocols*: the set of
//! OpenFlow variants able to carry everything the flow says (the match fields and their masks,
//! a non-default table, a cookie mask, the flags, and the actions with their consistency
//! against the match).

use super::kv::KeyValues;
use super::value::{parse_port, parse_u8, parse_u16, parse_u32, parse_u64};
use super::{ActionParseError, format_actions, parse_actions};
use crate::check::{CheckError, check_actions};
use crate::flow_mod::{FlowMod, FlowModCommand};
use crate::protocol::Protocol;
use crate::types::{Cookie, GroupId, PortNo, TableId};
use core::fmt::Write as _;
use fvs_flow::text::{MatchParseError, format_match, parse_match_field};
use fvs_flow::{Protocols, Shorthand, usable_protocols};

/// Why a flow did not parse. The display text is ovs-ofctl's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowParseError {
    /// No `actions=` part (where one is required).
    #[error("must specify an action")]
    MissingActions,
    /// A keyword that needs a value was given without one.
    #[error("field {0} missing value")]
    MissingValue(String),
    /// A word that is no keyword, field or shorthand.
    #[error("unknown keyword {0}")]
    UnknownKeyword(String),
    /// `table=` with something other than a number 0..=255.
    #[error("unknown table \"{0}\"")]
    BadTable(String),
    /// A cookie mask on an add.
    #[error("flow additions cannot use a cookie mask")]
    CookieMaskOnAdd,
    /// `cookie=` (setting a cookie) on a delete.
    #[error("cannot set cookie")]
    CannotSetCookie,
    /// `out_port=` with a bad port.
    #[error("{0} is not a valid OpenFlow port")]
    BadOutPort(String),
    /// A keyword value that is not a number of the right size.
    #[error(transparent)]
    Number(ActionParseError),
    /// A match field did not parse.
    #[error(transparent)]
    Match(#[from] MatchParseError),
    /// The actions did not parse.
    #[error(transparent)]
    Actions(#[from] ActionParseError),
    /// The actions do not go with the match.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// An add-flows line starts with a command keyword that does not exist.
    #[error("{0}: unknown flow_mod command")]
    UnknownCommand(String),
}

/// Parses one flow as `ovs-ofctl add-flow` (and `parse-flow`) reads it, for `command`.
/// Returns the flow-mod and the protocols able to carry it.
pub fn parse_flow_mod(
    text: &str,
    command: FlowModCommand,
) -> Result<(FlowMod, Protocols), FlowParseError> {
    let mut fm = FlowMod::new(command);
    let mut usable = Protocols::ANY;
    let needs_actions = matches!(
        command,
        FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict
    );
    // Everything after the first "action...=" is the action list (ovs-ofctl looks for the
    // substring "action", then the next '=').
    let (match_part, actions_part) = match text.find("action") {
        Some(i) => match text[i..].find('=') {
            Some(j) => (&text[..i], Some(&text[i + j + 1..])),
            None => (&text[..i], None),
        },
        None => (text, None),
    };
    if needs_actions && actions_part.is_none() {
        return Err(FlowParseError::MissingActions);
    }
    for (name, value) in KeyValues::new(match_part) {
        parse_keyword(&mut fm, name, value, &mut usable)?;
    }
    usable = usable.and(usable_protocols(&fm.r#match));
    if let Some(actions) = actions_part {
        // The actions narrow their own set, intersected afterwards (a nested `clone` restarts
        // the actions' set, never the match's).
        let mut action_usable = Protocols::ANY;
        fm.actions = parse_actions(actions, &mut action_usable)?;
        usable = usable.and(action_usable);
        check_actions(&fm.actions, &fm.r#match, fm.table.map(|t| t.0), &mut usable)?;
    }
    Ok((fm, usable))
}

/// Parses a line of an `add-flows` file: an optional leading command keyword (`add`,
/// `modify`, `modify_strict`, `delete`, `delete_strict`), then a flow. Returns `None` for
/// blank lines and `#` comments.
pub fn parse_flow_mod_line(line: &str) -> Option<Result<(FlowMod, Protocols), FlowParseError>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (first, rest) = match line.find([' ', '\t', ',']) {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let command = match first {
        "add" => Some(FlowModCommand::Add),
        "modify" => Some(FlowModCommand::Modify),
        "modify_strict" => Some(FlowModCommand::ModifyStrict),
        "delete" => Some(FlowModCommand::Delete),
        "delete_strict" => Some(FlowModCommand::DeleteStrict),
        _ => None,
    };
    Some(match command {
        Some(c) => parse_flow_mod(rest, c),
        None => parse_flow_mod(line, FlowModCommand::Add),
    })
}

/// Applies one `name[=value]` of the non-action part.
fn parse_keyword(
    fm: &mut FlowMod,
    name: &str,
    value: &str,
    usable: &mut Protocols,
) -> Result<(), FlowParseError> {
    let num = FlowParseError::Number;
    let of13_up = Protocols(Protocols::OF13_OXM.0 | Protocols::OF14_OXM.0 | Protocols::OF15_OXM.0);
    let of12_up = Protocols(Protocols::OF12_OXM.0 | of13_up.0);
    let allows_flags = matches!(
        fm.command,
        FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict
    );
    if Shorthand::from_name(name).is_some() && value.is_empty() {
        parse_match_field(&mut fm.r#match, name, None, usable)?;
        return Ok(());
    }
    match name {
        "send_flow_rem" if allows_flags => fm.flags.send_flow_rem = true,
        "check_overlap" if allows_flags => fm.flags.check_overlap = true,
        "reset_counts" if allows_flags => {
            fm.flags.reset_counts = true;
            *usable = usable.and(of12_up);
        }
        "no_packet_counts" if allows_flags => {
            fm.flags.no_packet_counts = true;
            *usable = usable.and(of13_up);
        }
        "no_byte_counts" if allows_flags => {
            fm.flags.no_byte_counts = true;
            *usable = usable.and(of13_up);
        }
        "no_readonly_table" | "allow_hidden_fields" => {}
        _ if fvs_flow::Field::from_name(name).is_some() => {
            parse_match_field(&mut fm.r#match, name, Some(value), usable)?;
        }
        _ if value.is_empty() => return Err(FlowParseError::MissingValue(name.to_string())),
        "table" => {
            let t = parse_u8(value, "table")
                .map_err(|_| FlowParseError::BadTable(value.to_string()))?;
            if t != TableId::ALL_RAW {
                fm.table = Some(TableId(t));
                *usable = usable.and(Protocols(
                    Protocols::OF10_STD_TID.0
                        | Protocols::OF10_NXM_TID.0
                        | Protocols::OF11_STD.0
                        | Protocols::OXM_ANY.0,
                ));
            }
        }
        "out_port" if !allows_flags || fm.command != FlowModCommand::Add => {
            fm.out_port =
                parse_port(value).map_err(|_| FlowParseError::BadOutPort(value.to_string()))?;
        }
        "out_group" if !allows_flags || fm.command != FlowModCommand::Add => {
            *usable = usable.and(Protocols(Protocols::OF11_STD.0 | Protocols::OXM_ANY.0));
            fm.out_group = GroupId(parse_u32(value).map_err(num)?);
        }
        "priority" => fm.priority = parse_u16(value, "priority").map_err(num)?,
        "idle_timeout" if allows_flags => {
            fm.idle_timeout = parse_u16(value, "idle_timeout").map_err(num)?;
        }
        "hard_timeout" if allows_flags => {
            fm.hard_timeout = parse_u16(value, "hard_timeout").map_err(num)?;
        }
        "importance" if allows_flags => {
            fm.importance = parse_u16(value, "importance").map_err(num)?;
        }
        "cookie" => match value.split_once('/') {
            Some((v, m)) => {
                if fm.command == FlowModCommand::Add {
                    return Err(FlowParseError::CookieMaskOnAdd);
                }
                fm.cookie = Cookie(parse_u64(v).map_err(num)?);
                fm.cookie_mask = Cookie(parse_u64(m).map_err(num)?);
                if fm.cookie_mask.0 != 0 {
                    *usable = usable.and(Protocols(
                        Protocols::NXM_ANY.0 | Protocols::OF11_STD.0 | Protocols::OXM_ANY.0,
                    ));
                }
            }
            None => {
                if !allows_flags {
                    return Err(FlowParseError::CannotSetCookie);
                }
                let c = Cookie(parse_u64(value).map_err(num)?);
                fm.new_cookie = Some(c);
                if fm.command == FlowModCommand::Add {
                    fm.cookie = c;
                }
            }
        },
        // Statistics that dump-flows prints; ignored so its output can be fed back.
        "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
        _ => return Err(FlowParseError::UnknownKeyword(name.to_string())),
    }
    Ok(())
}

/// Appends the text ovs-ofctl prints for a flow-mod message (after `normalize_flow_mod`),
/// including the message header: `OFPT_FLOW_MOD (OF1.3) (xid=0x1): ADD priority=1 actions=drop`.
pub fn format_flow_mod(fm: &FlowMod, protocol: Protocol, xid: u32, out: &mut String) {
    let msg = if protocol.is_nxm() {
        "NXT_FLOW_MOD"
    } else {
        "OFPT_FLOW_MOD"
    };
    out.push_str(msg);
    match protocol.version() {
        1 => {}
        v => {
            let _ = write!(out, " (OF1.{})", v - 1);
        }
    }
    let _ = write!(out, " (xid={xid:#x}): ");
    out.push_str(match fm.command {
        FlowModCommand::Add => "ADD",
        FlowModCommand::Modify => "MOD",
        FlowModCommand::ModifyStrict => "MOD_STRICT",
        FlowModCommand::Delete => "DEL",
        FlowModCommand::DeleteStrict => "DEL_STRICT",
    });
    // OpenFlow 1.0's table-id extension carries "no table" as 255, which the decoded message
    // shows; OpenFlow 1.1+ adds without a table go to table 0, which is not shown.
    match fm.table {
        Some(t) if t.0 != 0 => {
            let _ = write!(out, " table:{}", t.0);
        }
        None if protocol.is_of10() && protocol.has_table_id() => {
            let _ = write!(out, " table:{}", TableId::ALL_RAW);
        }
        _ => {}
    }
    out.push(' ');
    let mut m = fm.r#match;
    m.normalize();
    format_match(&m, u32::from(fm.priority), out);
    if !out.ends_with(' ') {
        out.push(' ');
    }
    if let Some(c) = fm.new_cookie.filter(|c| c.0 != 0 && c.0 != u64::MAX) {
        let _ = write!(out, "cookie:{:#x} ", c.0);
    }
    if fm.cookie_mask.0 != 0 {
        let _ = write!(out, "cookie:{:#x}/{:#x} ", fm.cookie.0, fm.cookie_mask.0);
    }
    if fm.idle_timeout != 0 {
        let _ = write!(out, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(out, "hard:{} ", fm.hard_timeout);
    }
    if fm.importance != 0 {
        let _ = write!(out, "importance:{} ", fm.importance);
    }
    if let Some(b) = fm.buffer_id {
        let _ = write!(out, "buf:{b:#x} ");
    }
    if fm.out_port != PortNo::ANY {
        let _ = write!(out, "out_port:{} ", fm.out_port);
    }
    if fm.out_group != GroupId::ANY {
        let _ = write!(out, "out_group:{} ", fm.out_group.0);
    }
    let flags = [
        (fm.flags.send_flow_rem, "send_flow_rem"),
        (fm.flags.check_overlap, "check_overlap"),
        (fm.flags.reset_counts, "reset_counts"),
        (fm.flags.no_packet_counts, "no_packet_counts"),
        (fm.flags.no_byte_counts, "no_byte_counts"),
    ];
    for (set, name) in flags {
        if set {
            out.push_str(name);
            out.push(' ');
        }
    }
    out.push_str("actions=");
    format_actions(&fm.actions, out);
}
