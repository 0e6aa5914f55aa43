//! A bridge: ports, 254 OpenFlow tables, a MAC table, and flow-mod semantics.
//!
//! Flow-mod rules follow Open vSwitch (checked against ovs-vswitchd 3.1):
//!
//! - **add** with the same match and priority as an existing rule replaces it outright: new
//!   actions, cookie, timeouts, and counters and `duration` start from zero.
//! - **modify** changes the actions of every rule the flow-mod's match *subsumes* (non-strict)
//!   or of the one rule with exactly that match and priority (strict), keeping counters (unless
//!   `reset_counts`) and `duration`, restarting the hard timeout. A cookie given without a mask
//!   becomes the rules' new cookie. When nothing matches and no cookie mask filters, a modify
//!   adds the rule (OpenFlow 1.0 behaviour; `learn` relies on it).
//! - **delete** removes the subsumed (or exactly matching) rules; `cookie/mask` and `out_port`
//!   narrow the selection; table 255 means every table.

use crate::action::Action;
use crate::clock::Millis;
use crate::mac_table::MacTable;
use crate::port::{OfPort, Port};
use crate::rule::{RemovedReason, Rule, RuleFlags, RuleStats};
use fvs_classifier::{Classifier, RuleId};
use fvs_flow::FlowKey;
use std::collections::BTreeMap;

/// Number of OpenFlow tables per bridge.
pub const N_TABLES: usize = 254;
/// The table id that means "all tables" in modify and delete.
pub const ALL_TABLES: u8 = 255;

/// What a bridge does with a packet no rule matches, and what it starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// A new bridge gets one rule, `priority=0 actions=NORMAL`, so it switches like a learning
    /// bridge until a controller installs something else.
    Standalone,
    /// A new bridge has no rules: it forwards nothing until flows are added.
    Secure,
}

/// A flow-mod command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `add-flow`.
    Add,
    /// `mod-flows`.
    Modify,
    /// `mod-flows --strict`.
    ModifyStrict,
    /// `del-flows`.
    Delete,
    /// `del-flows --strict`.
    DeleteStrict,
}

/// A flow-mod, as the pipeline applies it.
// TODO(a4): accept fvs_openflow::FlowMod once it lands; this mirrors its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// What to do.
    pub command: Command,
    /// Table id; [`ALL_TABLES`] for modify/delete in every table.
    pub table: u8,
    /// Match value.
    pub key: FlowKey,
    /// Match mask.
    pub mask: FlowKey,
    /// Priority.
    pub priority: u16,
    /// Cookie for added rules (and new cookie for modified ones when `cookie_mask` is zero).
    pub cookie: u64,
    /// Only rules whose cookie matches `cookie` under this mask are modified or deleted.
    pub cookie_mask: u64,
    /// Idle timeout, seconds.
    pub idle_timeout: u16,
    /// Hard timeout, seconds.
    pub hard_timeout: u16,
    /// Flags.
    pub flags: RuleFlags,
    /// Refuse an add that overlaps a rule of the same priority.
    pub check_overlap: bool,
    /// Modify/delete only rules that output to this port.
    pub out_port: Option<OfPort>,
    /// Actions.
    pub actions: Vec<Action>,
}

impl FlowMod {
    /// An add of `actions` under `key`/`mask` at `priority` in `table`, everything else default.
    pub fn add(
        table: u8,
        key: FlowKey,
        mask: FlowKey,
        priority: u16,
        actions: Vec<Action>,
    ) -> Self {
        Self {
            command: Command::Add,
            table,
            key: key.and(&mask),
            mask,
            priority,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: RuleFlags::default(),
            check_overlap: false,
            out_port: None,
            actions,
        }
    }
}

/// Why a flow-mod was refused (each maps to an OpenFlow error reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    /// The table id is not one of this bridge's tables.
    #[error("OFPBRC_BAD_TABLE_ID: table {0} does not exist")]
    BadTableId(u8),
    /// `check_overlap` found a rule of the same priority that matches some of the same packets.
    #[error("OFPFMFC_OVERLAP: the flow overlaps an existing flow of the same priority")]
    Overlap,
}

/// A rule that left a table, for flow-removed messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Table it was in.
    pub table: u8,
    /// The rule as it was.
    pub rule: Rule,
    /// Why it left.
    pub reason: RemovedReason,
}

/// A bridge.
pub struct Bridge {
    /// Bridge name.
    pub name: String,
    /// Fail mode.
    pub fail_mode: FailMode,
    /// Ports by OpenFlow number.
    pub ports: BTreeMap<OfPort, Port>,
    /// The MAC table NORMAL learns into.
    pub mac: MacTable,
    tables: Vec<Classifier<Rule>>,
}

impl Bridge {
    /// A bridge with no ports; a standalone one starts with `priority=0 actions=NORMAL`.
    pub fn new(name: &str, fail_mode: FailMode, now: Millis) -> Self {
        let mut b = Self {
            name: name.to_owned(),
            fail_mode,
            ports: BTreeMap::new(),
            mac: MacTable::default(),
            tables: (0..N_TABLES).map(|_| Classifier::new()).collect(),
        };
        if fail_mode == FailMode::Standalone {
            let normal = vec![Action::Output {
                port: OfPort::NORMAL,
                max_len: 0,
            }];
            let fm = FlowMod::add(0, FlowKey::ZERO, FlowKey::ZERO, 0, normal);
            // Table 0 exists and an add without check_overlap cannot fail.
            let _ = b.flow_mod(&fm, now);
        }
        b
    }

    /// Adds (or replaces) a port.
    pub fn add_port(&mut self, port: Port) {
        self.ports.insert(port.ofport, port);
    }

    /// Applies a flow-mod; returns the rules it removed (for flow-removed messages).
    pub fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError> {
        let valid = usize::from(fm.table) < N_TABLES
            || (fm.table == ALL_TABLES && !matches!(fm.command, Command::Add));
        if !valid {
            return Err(FlowModError::BadTableId(fm.table));
        }
        match fm.command {
            Command::Add => self.add(fm, now).map(|()| Vec::new()),
            Command::Modify | Command::ModifyStrict => self.modify(fm, now).map(|()| Vec::new()),
            Command::Delete | Command::DeleteStrict => Ok(self.delete(fm)),
        }
    }

    /// Removes the rules whose idle or hard timeout has passed at `now`, and ages the MAC table.
    pub fn expire(&mut self, now: Millis) -> Vec<Removed> {
        self.mac.expire(now);
        let mut out = Vec::new();
        for (t, table) in self.tables.iter_mut().enumerate() {
            let dead: Vec<(RuleId, RemovedReason)> = table
                .iter()
                .filter_map(|(id, _, _, _, r)| r.expired(now).map(|why| (id, why)))
                .collect();
            for (id, reason) in dead {
                if let Some(rule) = table.remove(id) {
                    out.push(Removed {
                        table: table_id(t),
                        rule,
                        reason,
                    });
                }
            }
        }
        out
    }

    /// Mutable access to a rule (for statistics).
    pub fn rule_mut(&mut self, table: u8, id: RuleId) -> Option<&mut Rule> {
        self.tables.get_mut(usize::from(table))?.get_mut(id)
    }

    fn add(&mut self, fm: &FlowMod, now: Millis) -> Result<(), FlowModError> {
        let key = fm.key.and(&fm.mask);
        let table = self
            .tables
            .get_mut(usize::from(fm.table))
            .ok_or(FlowModError::BadTableId(fm.table))?;
        if fm.check_overlap {
            let overlaps = table.iter().any(|(_, k, m, p, _)| {
                p == u32::from(fm.priority)
                    && k.words
                        .iter()
                        .zip(m.words.iter())
                        .zip(key.words.iter().zip(fm.mask.words.iter()))
                        .all(|((k1, m1), (k2, m2))| (k1 ^ k2) & m1 & m2 == 0)
            });
            if overlaps {
                return Err(FlowModError::Overlap);
            }
        }
        if let Some(old) = table.find_exact(&key, &fm.mask, u32::from(fm.priority)) {
            table.remove(old);
        }
        let rule = Rule {
            key,
            mask: fm.mask,
            priority: fm.priority,
            cookie: fm.cookie,
            actions: fm.actions.clone(),
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            stats: RuleStats {
                created: now,
                modified: now,
                used: now,
                ..RuleStats::default()
            },
        };
        table.insert(key, fm.mask, u32::from(fm.priority), rule);
        Ok(())
    }

    fn modify(&mut self, fm: &FlowMod, now: Millis) -> Result<(), FlowModError> {
        let selected = self.select(fm, fm.command == Command::ModifyStrict);
        if selected.is_empty() {
            if fm.cookie_mask == 0 && fm.table != ALL_TABLES {
                return self.add(fm, now);
            }
            return Ok(());
        }
        for (t, id) in selected {
            if let Some(rule) = self.rule_mut(t, id) {
                rule.actions.clone_from(&fm.actions);
                if fm.cookie_mask == 0 {
                    rule.cookie = fm.cookie;
                }
                if fm.flags.reset_counts {
                    rule.stats.packets = 0;
                    rule.stats.bytes = 0;
                }
                rule.stats.modified = now;
            }
        }
        Ok(())
    }

    fn delete(&mut self, fm: &FlowMod) -> Vec<Removed> {
        let selected = self.select(fm, fm.command == Command::DeleteStrict);
        let mut out = Vec::new();
        for (t, id) in selected {
            if let Some(rule) = self
                .tables
                .get_mut(usize::from(t))
                .and_then(|tab| tab.remove(id))
            {
                out.push(Removed {
                    table: t,
                    rule,
                    reason: RemovedReason::Delete,
                });
            }
        }
        out
    }

    /// The rules a modify or delete applies to.
    fn select(&self, fm: &FlowMod, strict: bool) -> Vec<(u8, RuleId)> {
        let key = fm.key.and(&fm.mask);
        let mut out = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            let t = table_id(t);
            if fm.table != ALL_TABLES && fm.table != t {
                continue;
            }
            for (id, k, m, p, rule) in table.iter() {
                let by_match = if strict {
                    *k == key && *m == fm.mask && p == u32::from(fm.priority)
                } else {
                    fm.mask.is_subset_of(m) && k.and(&fm.mask) == key
                };
                let by_cookie = (rule.cookie ^ fm.cookie) & fm.cookie_mask == 0;
                let by_port = fm.out_port.is_none_or(|p| rule.outputs_to(p));
                if by_match && by_cookie && by_port {
                    out.push((t, id));
                }
            }
        }
        out
    }

    /// The rule in `table` that `flow` hits, adding the bits the lookup consulted to `wc`.
    pub fn lookup(&self, table: u8, flow: &FlowKey, wc: &mut FlowKey) -> Option<(RuleId, &Rule)> {
        self.tables.get(usize::from(table))?.lookup_wc(flow, wc)
    }

    /// The port with OpenFlow number `ofport`.
    pub fn port(&self, ofport: OfPort) -> Option<&Port> {
        self.ports.get(&ofport)
    }

    /// The port named `name`.
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    /// Every rule as (table, rule), tables in order, higher priorities first.
    pub fn rules(&self) -> Vec<(u8, &Rule)> {
        let mut out = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            let mut rules: Vec<&Rule> = table.iter().map(|(_, _, _, _, r)| r).collect();
            rules.sort_by(|a, b| {
                b.priority
                    .cmp(&a.priority)
                    .then_with(|| a.match_text().cmp(&b.match_text()))
            });
            out.extend(rules.into_iter().map(|r| (table_id(t), r)));
        }
        out
    }

    /// `ovs-ofctl dump-flows` lines, for one table or all.
    pub fn dump_flows(&self, table: Option<u8>, now: Millis) -> Vec<String> {
        self.rules()
            .into_iter()
            .filter(|(t, _)| table.is_none_or(|want| want == *t))
            .map(|(t, r)| r.dump_line(t, now))
            .collect()
    }
}

/// Table indices are below [`N_TABLES`], so they fit a `u8`.
fn table_id(index: usize) -> u8 {
    u8::try_from(index).unwrap_or(u8::MAX)
}
