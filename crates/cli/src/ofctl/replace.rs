//! `replace-flows SWITCH FILE` and `diff-flows SOURCE1 SOURCE2`: two flow tables compared
//! flow by flow, as ovs-ofctl compares them.
//!
//! # Flows and versions
//!
//! A flow is identified by its table, priority and match; what else it says — cookie,
//! timeouts, importance, actions — is its *version*. Two sources differ where a flow is in
//! one only, or in both with different versions. A source is a flow file (as `add-flows`
//! reads it, `-` for standard input) when such a file exists, otherwise a switch, whose flows
//! are dumped.
//!
//! # replace-flows
//!
//! The file's flows are parsed first; the protocol is then the first flow-dump protocol
//! (OpenFlow 1.5 to 1.1, 1.0 with NXM, plain 1.0) that can carry them all, and the switch's
//! flows are dumped and the changes sent in it. Dump protocols have no table-id variants, so
//! an OpenFlow 1.0 session cannot replace flows outside table 0 (ovs-ofctl says the switch
//! supports none of the usable flow formats), exactly as with ovs-ofctl. Then, table by table, higher priorities first, a flow only
//! on the switch is deleted (`DEL_STRICT`) and a flow only in the file or in a different
//! version is added (an add replaces the switch's version). With `--bundle` all of it is one
//! bundle.
//!
//! # diff-flows
//!
//! Prints `-FLOW` for the first source's version and `+FLOW` for the second's, in the same
//! order, each as `[table=N ]priority=P[,MATCH][ cookie=C][ idle_timeout=T][ hard_timeout=T]
//! [ importance=I] actions=ACTIONS`; the exit status is 2 when the sources differ, as
//! ovs-ofctl's.

use super::dump::{open_for_dump, read_flows};
use super::flows::{bundle_protocols, transact_flow_mods};
use super::{CmdError, Options};
use fvs_flow::text::format_match;
use fvs_flow::{Match, Protocols};
use fvs_openflow::action::Action;
use fvs_openflow::text::{format_actions, parse_flow_mod_line};
use fvs_openflow::types::{Cookie, TableId};
use fvs_openflow::wire::FlowStats;
use fvs_openflow::{FlowMod, FlowModCommand};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What identifies a flow: table, priority (highest first) and match (by its text, which is
/// canonical).
type Key = (u8, Reverse<u16>, String);

/// What else a flow says.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    table: u8,
    priority: u16,
    r#match: Match,
    cookie: Cookie,
    idle_timeout: u16,
    hard_timeout: u16,
    importance: u16,
    actions: Vec<Action>,
    /// The flow-mod a file's version was read from (adds send it as written, flags and all).
    source: Option<FlowMod>,
}

impl Version {
    fn key(&self) -> Key {
        let mut m = self.r#match;
        m.normalize();
        let mut text = String::new();
        format_match(&m, u32::from(self.priority), &mut text);
        (self.table, Reverse(self.priority), text)
    }

    /// Equal versions: everything but the identity agrees.
    fn same(&self, other: &Self) -> bool {
        (
            self.cookie,
            self.idle_timeout,
            self.hard_timeout,
            self.importance,
            &self.actions,
        ) == (
            other.cookie,
            other.idle_timeout,
            other.hard_timeout,
            other.importance,
            &other.actions,
        )
    }

    fn from_flow_mod(fm: &FlowMod) -> Self {
        Self {
            table: fm.table.map_or(0, |t| t.0),
            priority: fm.priority,
            r#match: fm.r#match,
            cookie: fm.new_cookie.unwrap_or(fm.cookie),
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            importance: fm.importance,
            actions: fm.actions.clone(),
            source: Some(FlowMod {
                command: FlowModCommand::Add,
                ..fm.clone()
            }),
        }
    }

    fn from_stats(f: &FlowStats) -> Self {
        Self {
            table: f.table.0,
            priority: f.priority,
            r#match: f.r#match,
            cookie: f.cookie,
            idle_timeout: f.idle_timeout,
            hard_timeout: f.hard_timeout,
            importance: f.importance,
            actions: f.actions.clone(),
            source: None,
        }
    }

    /// The flow-mod that puts this version on a switch (`Add`) or deletes it
    /// (`DeleteStrict`).
    fn flow_mod(&self, command: FlowModCommand) -> FlowMod {
        if command == FlowModCommand::Add
            && let Some(fm) = &self.source
        {
            return fm.clone();
        }
        let mut fm = FlowMod {
            table: Some(TableId(self.table)),
            priority: self.priority,
            r#match: self.r#match,
            ..FlowMod::new(command)
        };
        if command == FlowModCommand::Add {
            fm.cookie = self.cookie;
            fm.idle_timeout = self.idle_timeout;
            fm.hard_timeout = self.hard_timeout;
            fm.importance = self.importance;
            fm.actions = self.actions.clone();
        }
        fm
    }

    /// ovs-ofctl's line for this version in `diff-flows`.
    fn format(&self, out: &mut String) {
        if self.table != 0 {
            let _ = write!(out, "table={} ", self.table);
        }
        let mut m = self.r#match;
        m.normalize();
        let mut text = String::new();
        format_match(&m, u32::from(self.priority), &mut text);
        out.push_str(&text);
        if self.cookie.0 != 0 {
            let _ = write!(out, " cookie={:#x}", self.cookie.0);
        }
        if self.idle_timeout != 0 {
            let _ = write!(out, " idle_timeout={}", self.idle_timeout);
        }
        if self.hard_timeout != 0 {
            let _ = write!(out, " hard_timeout={}", self.hard_timeout);
        }
        if self.importance != 0 {
            let _ = write!(out, " importance={}", self.importance);
        }
        out.push_str(" actions=");
        format_actions(&self.actions, out);
    }
}

/// A flow file's flows, and the protocols able to carry all of them.
fn read_file(path: &str) -> Result<(Vec<FlowMod>, Protocols), CmdError> {
    let contents = if path == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CmdError::Fatal(format!("-: read failed ({e})")))?
    } else {
        std::fs::read_to_string(path).map_err(|e| {
            CmdError::Fatal(format!("{path}: open failed ({})", super::os_error(&e)))
        })?
    };
    let mut fms = Vec::new();
    let mut usable = Protocols::ANY;
    for (i, raw) in contents.lines().enumerate() {
        if let Some(parsed) = parse_flow_mod_line(raw) {
            let (fm, u) = parsed.map_err(|e| CmdError::Fatal(format!("{path}:{}: {e}", i + 1)))?;
            usable = usable.and(u);
            fms.push(fm);
        }
    }
    Ok((fms, usable))
}

fn by_key(versions: impl IntoIterator<Item = Version>) -> BTreeMap<Key, Version> {
    versions.into_iter().map(|v| (v.key(), v)).collect()
}

/// `replace-flows SWITCH FILE`.
pub(super) fn replace_flows(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let (Some(target), Some(path)) = (args.first(), args.get(1)) else {
        return Err(CmdError::Fatal("missing arguments".into()));
    };
    let (fms, usable) = read_file(path)?;
    let allowed = if opts.bundle {
        bundle_protocols(opts.allowed)
    } else {
        opts.allowed
    };
    // As ovs-ofctl: the protocol is the one the switch's flows are dumped in, chosen among
    // the dump protocols (which have no table-id variants) that can carry the file's flows.
    let opts = Options {
        allowed,
        ..opts.clone()
    };
    let mut conn = open_for_dump(&opts, target, usable, false)?;
    let on_switch = by_key(read_flows(&mut conn)?.iter().map(Version::from_stats));
    let in_file = by_key(fms.iter().map(Version::from_flow_mod));
    let mut keys: Vec<&Key> = on_switch.keys().chain(in_file.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut mods = Vec::new();
    for k in keys {
        match (on_switch.get(k), in_file.get(k)) {
            (Some(old), None) => mods.push(old.flow_mod(FlowModCommand::DeleteStrict)),
            (old, Some(new)) if old.is_none_or(|o| !o.same(new)) => {
                mods.push(new.flow_mod(FlowModCommand::Add));
            }
            _ => {}
        }
    }
    transact_flow_mods(&mut conn, &mods, opts.bundle)
}

/// A source's flows: a file's when `source` is an existing file (or `-`), else a switch's.
fn read_source(opts: &Options, source: &str) -> Result<Vec<Version>, CmdError> {
    if source == "-" || std::path::Path::new(source).is_file() {
        let (fms, _) = read_file(source)?;
        return Ok(fms.iter().map(Version::from_flow_mod).collect());
    }
    let mut conn = open_for_dump(opts, source, Protocols::ANY, false)?;
    Ok(read_flows(&mut conn)?
        .iter()
        .map(Version::from_stats)
        .collect())
}

/// `diff-flows SOURCE1 SOURCE2`.
pub(super) fn diff_flows(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
        return Err(CmdError::Fatal("missing arguments".into()));
    };
    let first = by_key(read_source(opts, a)?);
    let second = by_key(read_source(opts, b)?);
    let mut keys: Vec<&Key> = first.keys().chain(second.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut differ = false;
    for k in keys {
        let (x, y) = (first.get(k), second.get(k));
        if let (Some(x), Some(y)) = (x, y)
            && x.same(y)
        {
            continue;
        }
        differ = true;
        for (sign, v) in [('-', x), ('+', y)] {
            if let Some(v) = v {
                out.push(sign);
                v.format(out);
                out.push('\n');
            }
        }
    }
    if differ {
        return Err(CmdError::Status(2));
    }
    Ok(())
}
