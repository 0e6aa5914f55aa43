//! A bridge: ports, 254 OpenFlow tables, a MAC table, and flow-mod semantics.
//!
//! Flow-mod rules follow Open vSwitch (checked against ovs-vswitchd 3.1):
//!
//! - **add** with the same match and priority as an existing rule replaces it outright: new
//!   actions, cookie, timeouts, and counters and `duration` start from zero.
//! - **modify** changes the actions of every rule the flow-mod's match *subsumes* (non-strict)
//!   or of the one rule with exactly that match and priority (strict), keeping counters (unless
//!   `reset_counts`) and `duration`, restarting the hard timeout. A cookie given without a mask
//!   becomes the rules' new cookie (`new_cookie`). When nothing matches and no cookie mask filters, a modify
//!   adds the rule (OpenFlow 1.0 behaviour; `learn` relies on it).
//! - **delete** removes the subsumed (or exactly matching) rules; `cookie/mask` and `out_port`
//!   narrow the selection; no table (255 on the wire) means every table.
//!
//! Flow-mods are [`fvs_openflow::FlowMod`]s and rules hold [`fvs_openflow::Action`]s: the
//! pipeline has no flow or action model of its own.

use crate::clock::Millis;
use crate::group::{GroupTable, groups_named};
use crate::in_band::InBandRule;
use crate::mac_table::MacTable;
use crate::meter::{DpMeterId, MeterChange, MeterTable, meters_named};
use crate::port::{Port, PortConfig, PortState};
use crate::rule::{RemovedReason, Rule, RuleStats};
use fvs_classifier::{Classifier, RuleId};
use fvs_flow::{Field, FlowKey, Match, PortNo};
use fvs_openflow::{Action, FlowMod, FlowModCommand, Output, TableId};
use std::collections::BTreeMap;

/// Number of OpenFlow tables per bridge.
pub const N_TABLES: usize = 254;

/// What a bridge does with a packet no rule matches, and what it starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// A new bridge gets one rule, `priority=0 actions=NORMAL`, so it switches like a learning
    /// bridge until a controller installs something else.
    Standalone,
    /// A new bridge has no rules: it forwards nothing until flows are added.
    Secure,
}

/// An add of `actions` under `m` at `priority` in `table`, everything else as `ovs-ofctl`
/// defaults it.
pub fn add_flow(table: u8, m: Match, priority: u16, actions: Vec<Action>) -> FlowMod {
    let mut fm = FlowMod::new(FlowModCommand::Add);
    fm.table = Some(TableId(table));
    fm.r#match = m;
    fm.priority = priority;
    fm.actions = actions;
    fm
}

/// Why a flow-mod was refused (each maps to an OpenFlow error reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    /// The table id is not one of this bridge's tables.
    #[error("OFPBRC_BAD_TABLE_ID: table {} does not exist", .0.0)]
    BadTableId(TableId),
    /// `check_overlap` found a rule of the same priority that matches some of the same packets.
    #[error("OFPFMFC_OVERLAP: the flow overlaps an existing flow of the same priority")]
    Overlap,
    /// The rule matches the datapath's own recirculation state (`dp_hash`, or a nonzero
    /// `recirc_id`), which only the switch's hidden rules may do.
    #[error("OFPBRC_EPERM: only the switch may match dp_hash or a nonzero recirc_id")]
    InternalField,
    /// The actions name a meter the bridge does not have.
    #[error("OFPMMFC_INVALID_METER: meter {} does not exist", .0.0)]
    UnknownMeter(fvs_openflow::MeterId),
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

/// A change to a bridge's tables, as flow monitors report it (see [`Bridge::set_journal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableChange {
    /// The rule's table.
    pub table: u8,
    /// The rule as it is now (as it was, for a removal).
    pub rule: Rule,
    /// What happened to it.
    pub kind: ChangeKind,
    /// The operation that made it: changes with the same number came from one flow-mod (a
    /// rule's expiry is an operation of its own), which flow monitors report together.
    pub op: u64,
}

/// What happened to a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Added, or replaced by an add (Open vSwitch reports a replacing add as an add).
    Added,
    /// A modify changed its actions or its cookie (a modify that changes neither, such as
    /// a `learn` refreshing its rule, is no change).
    Modified,
    /// Removed, for this reason.
    Removed(RemovedReason),
}

/// One table's lookup counters.
#[derive(Clone, Copy, Debug, Default)]
struct TableCounts {
    lookups: u64,
    matched: u64,
}

/// A bridge.
pub struct Bridge {
    /// Bridge name.
    pub name: String,
    /// Fail mode.
    pub fail_mode: FailMode,
    /// Ports by OpenFlow number.
    pub ports: BTreeMap<PortNo, Port>,
    /// The MAC table NORMAL learns into.
    pub mac: MacTable,
    tables: Vec<Classifier<Rule>>,
    /// Bumped by every change to the tables that can change a translation (a rule added or
    /// removed, new actions): a cache of translations (the datapath's megaflows) compares it
    /// to know when to revalidate. A learn that only refreshes its rule leaves it alone.
    generation: u64,
    /// Each table's lookups and matches, the counters of table statistics: every packet
    /// looked up in a table counts, whether it came through an upcall or a cached megaflow
    /// (the datapath replays these), as Open vSwitch counts them. They outlive the rules.
    table_counts: Vec<TableCounts>,
    /// The hidden fail-open rule's counters, since the bridge last failed open.
    fail_open_stats: RuleStats,
    /// Open vSwitch's "fail open": a standalone bridge whose controllers have all been
    /// unreachable for a while forwards every packet with NORMAL, ahead of its tables (a
    /// hidden rule of priority [`FAIL_OPEN_PRIORITY`]).
    fail_open: bool,
    /// A controller connection wants table misses as packet-ins (see
    /// [`Self::miss_to_controller`]).
    miss_to_controller: bool,
    /// Table changes not yet taken ([`Self::take_changes`]); `None` while not recording.
    journal: Option<Vec<TableChange>>,
    /// The current operation's number ([`TableChange::op`]).
    op: u64,
    /// In-band control's hidden rules, highest priority first ([`crate::in_band`]).
    in_band: Vec<InBandRule>,
    /// The group table ([`Self::group_mod`] changes it).
    groups: GroupTable,
    /// The meter table ([`Self::meter_mod`] changes it).
    meters: MeterTable,
}

/// The priority of the hidden fail-open rule (above every OpenFlow priority).
pub const FAIL_OPEN_PRIORITY: u32 = 0x00f0_f0f0;

impl Bridge {
    /// A bridge with no ports; a standalone one starts with `priority=0 actions=NORMAL`.
    pub fn new(name: &str, fail_mode: FailMode, now: Millis) -> Self {
        let mut b = Self {
            name: name.to_owned(),
            fail_mode,
            ports: BTreeMap::new(),
            mac: MacTable::default(),
            tables: (0..N_TABLES).map(|_| Classifier::new()).collect(),
            table_counts: vec![TableCounts::default(); N_TABLES],
            fail_open_stats: RuleStats::default(),
            generation: 0,
            fail_open: false,
            miss_to_controller: false,
            journal: None,
            op: 0,
            in_band: Vec::new(),
            groups: GroupTable::default(),
            meters: MeterTable::default(),
        };
        if fail_mode == FailMode::Standalone {
            b.add_default_normal(now);
        }
        b
    }

    /// Adds `priority=0 actions=NORMAL` to table 0: a standalone bridge's rule while it has
    /// no controllers.
    pub fn add_default_normal(&mut self, now: Millis) {
        let normal = vec![Action::Output(Output {
            port: PortNo::NORMAL,
            max_len: 0,
        })];
        let fm = add_flow(0, Match::CATCHALL, 0, normal);
        // Table 0 exists and an add without check_overlap cannot fail.
        let _ = self.flow_mod(&fm, now);
    }

    /// Removes every rule, as Open vSwitch does when a bridge's controllers come or go or
    /// its fail mode changes without controllers.
    pub fn flush(&mut self, now: Millis) {
        let mut fm = FlowMod::new(FlowModCommand::Delete);
        fm.table = None;
        // A delete of every table cannot fail.
        let _ = self.flow_mod(&fm, now);
    }

    /// Whether a table miss (in table 0 or after `goto_table`) goes to the controllers: true
    /// while some OpenFlow connection of the bridge speaks OpenFlow 1.0 to 1.2 with
    /// controller id 0, as in Open vSwitch (1.3 made a miss drop unless a rule says
    /// otherwise).
    pub fn miss_to_controller(&self) -> bool {
        self.miss_to_controller
    }

    /// Sets [`Self::miss_to_controller`]; translations change, so the generation moves.
    pub fn set_miss_to_controller(&mut self, on: bool) {
        if self.miss_to_controller != on {
            self.miss_to_controller = on;
            self.generation += 1;
        }
    }

    /// Whether the bridge is failed open (see [`FAIL_OPEN_PRIORITY`]).
    pub fn fail_open(&self) -> bool {
        self.fail_open
    }

    /// Fails the bridge open or recovers it; translations change, so the generation moves.
    /// The hidden rule is new each time the bridge fails open: its counters start at zero.
    pub fn set_fail_open(&mut self, on: bool) {
        if self.fail_open != on {
            self.fail_open = on;
            self.generation += 1;
            self.fail_open_stats = RuleStats::default();
        }
    }

    /// In-band control's hidden rules, highest priority first.
    pub fn in_band(&self) -> &[InBandRule] {
        &self.in_band
    }

    /// Sets the in-band rules ([`crate::in_band::rules`]); a rule that stays keeps its
    /// counters and age. True when they changed (translations then change: the generation
    /// moves).
    pub fn set_in_band(&mut self, rules: Vec<InBandRule>) -> bool {
        let same = rules.len() == self.in_band.len()
            && rules
                .iter()
                .zip(&self.in_band)
                .all(|(a, b)| a.priority == b.priority && a.r#match == b.r#match);
        if same {
            return false;
        }
        let old = std::mem::take(&mut self.in_band);
        self.in_band = rules
            .into_iter()
            .map(|r| {
                old.iter()
                    .find(|o| o.priority == r.priority && o.r#match == r.r#match)
                    .cloned()
                    .unwrap_or(r)
            })
            .collect();
        self.generation += 1;
        true
    }

    /// Credits in-band rule `i` with `packets` of `bytes` in all.
    pub fn count_in_band(&mut self, i: usize, packets: u64, bytes: u64) {
        if let Some(r) = self.in_band.get_mut(i) {
            r.packets += packets;
            r.bytes += bytes;
        }
    }

    /// The hidden fail-open rule's counters (packets, bytes, last use).
    pub fn fail_open_stats(&self) -> &RuleStats {
        &self.fail_open_stats
    }

    /// Credits the hidden fail-open rule with `packets` of `bytes` in all, last at `used`,
    /// and table 0 with as many matched lookups.
    pub fn count_fail_open(&mut self, packets: u64, bytes: u64, used: Millis) {
        self.fail_open_stats.packets += packets;
        self.fail_open_stats.bytes += bytes;
        self.fail_open_stats.used = self.fail_open_stats.used.max(used);
        self.count_lookups(0, true, packets);
    }

    /// Counts `packets` lookups in `table`, matched or not.
    pub fn count_lookups(&mut self, table: u8, matched: bool, packets: u64) {
        if let Some(c) = self.table_counts.get_mut(usize::from(table)) {
            c.lookups += packets;
            if matched {
                c.matched += packets;
            }
        }
    }

    /// `table`'s (lookups, matches), as table statistics report them.
    pub fn table_counts(&self, table: u8) -> (u64, u64) {
        self.table_counts
            .get(usize::from(table))
            .map_or((0, 0), |c| (c.lookups, c.matched))
    }

    /// The tables' generation: equal values mean no rule was added, removed or given new
    /// actions in between.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Starts (or stops) recording every change to the tables, whatever its source
    /// (flow-mods, `learn`, expiry), for [`Self::take_changes`]: what flow monitors report.
    /// Whoever changes the tables while recording must take the changes, or they pile up.
    pub fn set_journal(&mut self, on: bool) {
        match (on, &self.journal) {
            (true, None) => self.journal = Some(Vec::new()),
            (false, _) => self.journal = None,
            (true, Some(_)) => {}
        }
    }

    /// Whether changes are being recorded.
    pub fn journaling(&self) -> bool {
        self.journal.is_some()
    }

    /// The changes recorded since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<TableChange> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn note(&mut self, table: u8, rule: &Rule, kind: ChangeKind) {
        if let Some(j) = self.journal.as_mut() {
            j.push(TableChange {
                table,
                rule: rule.clone(),
                kind,
                op: self.op,
            });
        }
    }

    /// Orders the changes recorded since `from` as Open vSwitch reports one flow-mod's:
    /// by table, higher priorities first.
    fn sort_changes_since(&mut self, from: usize) {
        if let Some(j) = self.journal.as_mut()
            && let Some(tail) = j.get_mut(from..)
        {
            tail.sort_by_key(|c| (c.table, std::cmp::Reverse(c.rule.priority)));
        }
    }

    fn journal_len(&self) -> usize {
        self.journal.as_ref().map_or(0, Vec::len)
    }

    /// Adds (or replaces) a port.
    pub fn add_port(&mut self, port: Port) {
        self.ports.insert(port.ofport, port);
    }

    /// Sets port `ofport`'s OpenFlow configuration (a port-mod); false when the bridge has no
    /// such port. Translations change with it, so the generation moves when it does.
    pub fn set_port_config(&mut self, ofport: PortNo, config: PortConfig) -> bool {
        let Some(p) = self.ports.get_mut(&ofport) else {
            return false;
        };
        if p.config != config {
            p.config = config;
            self.generation += 1;
        }
        true
    }

    /// Sets the link state of port `ofport` (what its device says); true when it changed.
    /// Fast-failover liveness follows it, so the generation moves with it and the
    /// datapath's megaflows are revalidated.
    pub fn set_port_link(&mut self, ofport: PortNo, down: bool) -> bool {
        let Some(p) = self.ports.get_mut(&ofport) else {
            return false;
        };
        let state = if down {
            PortState(p.state.0 | PortState::LINK_DOWN)
        } else {
            PortState(p.state.0 & !PortState::LINK_DOWN)
        };
        if p.state == state {
            return false;
        }
        p.state = state;
        self.generation += 1;
        true
    }

    /// Applies a flow-mod; returns the rules it removed (for flow-removed messages).
    ///
    /// A table of `None` is table 0 for an add and every table for a modify or delete.
    pub fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError> {
        self.op += 1;
        if let Some(t) = fm.table
            && usize::from(t.0) >= N_TABLES
        {
            return Err(FlowModError::BadTableId(t));
        }
        let m = &fm.r#match;
        let adds = !matches!(
            fm.command,
            FlowModCommand::Delete | FlowModCommand::DeleteStrict
        );
        if adds && (m.get(Field::DpHash).1 != 0 || m.get(Field::RecircId).0 != 0) {
            return Err(FlowModError::InternalField);
        }
        if adds {
            let mut named = Vec::new();
            meters_named(&fm.actions, &mut named);
            if let Some(missing) = named.into_iter().find(|id| self.meters.get(*id).is_none()) {
                return Err(FlowModError::UnknownMeter(missing));
            }
        }
        match fm.command {
            FlowModCommand::Add => self.add(fm, now).map(|()| Vec::new()),
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                self.modify(fm, now).map(|()| Vec::new())
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => Ok(self.delete(fm)),
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
                    self.generation += 1;
                    self.op += 1;
                    if let Some(j) = self.journal.as_mut() {
                        j.push(TableChange {
                            table: table_id(t),
                            rule: rule.clone(),
                            kind: ChangeKind::Removed(reason),
                            op: self.op,
                        });
                    }
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
        let m = fm.r#match;
        let table_id = fm.table.unwrap_or(TableId(0));
        let table = self
            .tables
            .get_mut(usize::from(table_id.0))
            .ok_or(FlowModError::BadTableId(table_id))?;
        let prio = u32::from(fm.priority);
        // An add whose match and priority equal an existing rule's replaces that rule, and
        // Open vSwitch skips the overlap check then: only a genuinely new rule can overlap.
        if let Some(old) = table.find_exact(&m.key, &m.mask, prio) {
            table.remove(old);
        } else if fm.flags.check_overlap {
            let overlaps = table.iter().any(|(_, k, mask, p, _)| {
                // Two matches overlap when they agree on every bit both care about.
                p == prio
                    && k.words
                        .iter()
                        .zip(mask.words.iter())
                        .zip(m.key.words.iter().zip(m.mask.words.iter()))
                        .all(|((k1, m1), (k2, m2))| (k1 ^ k2) & m1 & m2 == 0)
            });
            if overlaps {
                return Err(FlowModError::Overlap);
            }
        }
        let rule = Rule {
            r#match: m,
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
        if self.journal.is_some() {
            self.note(table_id.0, &rule, ChangeKind::Added);
        }
        // `table` was borrowed from `self.tables`; look it up again after the journal.
        if let Some(table) = self.tables.get_mut(usize::from(table_id.0)) {
            table.insert(m.key, m.mask, prio, rule);
        }
        self.generation += 1;
        Ok(())
    }

    fn modify(&mut self, fm: &FlowMod, now: Millis) -> Result<(), FlowModError> {
        let selected = self.select(fm, fm.command == FlowModCommand::ModifyStrict);
        if selected.is_empty() {
            if fm.cookie_mask.0 == 0 && fm.table.is_some() {
                // The added rule gets the cookie the modify would have set.
                let mut add = fm.clone();
                add.cookie = fm.new_cookie.unwrap_or(fm.cookie);
                return self.add(&add, now);
            }
            return Ok(());
        }
        let from = self.journal_len();
        for (t, id) in selected {
            if let Some(rule) = self.rule_mut(t, id) {
                let changed = rule.actions != fm.actions;
                let new_cookie = fm.new_cookie.is_some_and(|c| c != rule.cookie);
                rule.actions.clone_from(&fm.actions);
                if let Some(c) = fm.new_cookie {
                    rule.cookie = c;
                }
                let noted = (changed || new_cookie).then(|| rule.clone());
                if fm.flags.reset_counts {
                    rule.stats.packets = 0;
                    rule.stats.bytes = 0;
                }
                rule.stats.modified = now;
                if changed {
                    self.generation += 1;
                }
                if let Some(rule) = noted {
                    self.note(t, &rule, ChangeKind::Modified);
                }
            }
        }
        self.sort_changes_since(from);
        Ok(())
    }

    fn delete(&mut self, fm: &FlowMod) -> Vec<Removed> {
        let selected = self.select(fm, fm.command == FlowModCommand::DeleteStrict);
        let mut out = Vec::new();
        let from = self.journal_len();
        for (t, id) in selected {
            if let Some(rule) = self
                .tables
                .get_mut(usize::from(t))
                .and_then(|tab| tab.remove(id))
            {
                self.note(t, &rule, ChangeKind::Removed(RemovedReason::Delete));
                out.push(Removed {
                    table: t,
                    rule,
                    reason: RemovedReason::Delete,
                });
                self.generation += 1;
            }
        }
        self.sort_changes_since(from);
        out
    }

    /// The rules a modify or delete applies to.
    fn select(&self, fm: &FlowMod, strict: bool) -> Vec<(u8, RuleId)> {
        let m = fm.r#match;
        let out_port = (fm.out_port != PortNo::ANY).then_some(fm.out_port);
        let mut out = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            let t = table_id(t);
            if fm.table.is_some_and(|want| want.0 != t) {
                continue;
            }
            for (id, k, mask, p, rule) in table.iter() {
                let by_match = if strict {
                    *k == m.key && *mask == m.mask && p == u32::from(fm.priority)
                } else {
                    m.mask.is_subset_of(mask) && k.and(&m.mask) == m.key
                };
                let by_cookie = (rule.cookie.0 ^ fm.cookie.0) & fm.cookie_mask.0 == 0;
                let by_port = out_port.is_none_or(|p| rule.outputs_to(p));
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
    pub fn port(&self, ofport: PortNo) -> Option<&Port> {
        self.ports.get(&ofport)
    }

    /// The port named `name`.
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    /// The group table.
    pub fn groups(&self) -> &GroupTable {
        &self.groups
    }

    /// Applies a group-mod ([`crate::group`] has the rules); a deleted group takes the rules
    /// whose actions name it along (returned for flow-removed messages, with reason
    /// `group_delete`).
    /// Any change moves the generation: translations through a changed group are stale.
    pub fn group_mod(
        &mut self,
        gm: &fvs_openflow::group::GroupMod,
        now: Millis,
    ) -> Result<Vec<Removed>, fvs_openflow::wire::OfpError> {
        let deleted = self.groups.apply(gm, now)?;
        self.generation += 1;
        if deleted.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            self.remove_rules_naming(RemovedReason::GroupDelete, |actions| {
                let mut named = Vec::new();
                groups_named(actions, &mut named);
                named.iter().any(|g| deleted.contains(g))
            }),
        )
    }

    /// Removes the rules whose actions `doomed` picks, journaled and returned with `reason`.
    fn remove_rules_naming(
        &mut self,
        reason: RemovedReason,
        doomed: impl Fn(&[Action]) -> bool,
    ) -> Vec<Removed> {
        let mut out = Vec::new();
        for (t, table) in self.tables.iter_mut().enumerate() {
            let ids: Vec<RuleId> = table
                .iter()
                .filter(|(_, _, _, _, r)| doomed(&r.actions))
                .map(|(id, ..)| id)
                .collect();
            for id in ids {
                if let Some(rule) = table.remove(id) {
                    self.op += 1;
                    if let Some(j) = self.journal.as_mut() {
                        j.push(TableChange {
                            table: table_id(t),
                            rule: rule.clone(),
                            kind: ChangeKind::Removed(reason),
                            op: self.op,
                        });
                    }
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

    /// The meter table.
    pub fn meters(&self) -> &MeterTable {
        &self.meters
    }

    /// Applies a meter-mod ([`crate::meter`] has the rules); `allocate` gives a free datapath
    /// meter for a new meter. A deleted meter takes the rules whose actions name it along
    /// (returned for flow-removed messages, with reason `meter_delete`); the change tells the
    /// datapath which meters to configure and which to free. Any change moves the
    /// generation: translations through a changed meter are stale.
    pub fn meter_mod(
        &mut self,
        mm: &fvs_openflow::meter::MeterMod,
        now: Millis,
        allocate: impl FnOnce() -> Option<DpMeterId>,
    ) -> Result<(MeterChange, Vec<Removed>), fvs_openflow::wire::OfpError> {
        let change = self.meters.apply(mm, now, allocate)?;
        self.generation += 1;
        if change.deleted.is_empty() {
            return Ok((change, Vec::new()));
        }
        let removed = self.remove_rules_naming(RemovedReason::MeterDelete, |actions| {
            let mut named = Vec::new();
            meters_named(actions, &mut named);
            named
                .iter()
                .any(|m| change.deleted.iter().any(|(d, _)| d == m))
        });
        Ok((change, removed))
    }

    /// How many rules name meter `m` in their actions (a meter's `flow_count`).
    pub fn meter_flow_count(&self, m: fvs_openflow::MeterId) -> u32 {
        self.rules_naming(m, meters_named)
    }

    /// How many rules' actions name `id`, as `named` lists what actions name (the groups or
    /// the meters).
    fn rules_naming<T: PartialEq>(&self, id: T, named: fn(&[Action], &mut Vec<T>)) -> u32 {
        let n = self
            .tables
            .iter()
            .flat_map(|t| t.iter())
            .filter(|(_, _, _, _, r)| {
                let mut ids = Vec::new();
                named(&r.actions, &mut ids);
                ids.contains(&id)
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Credits group `g` (or its bucket at index `bucket`) with `packets` of `bytes` in all
    /// (group statistics; a translation's [`crate::xlate::SideEffect::GroupHit`]).
    pub fn count_group(
        &mut self,
        g: fvs_openflow::GroupId,
        bucket: Option<usize>,
        packets: u64,
        bytes: u64,
    ) {
        self.groups.count(g, bucket, packets, bytes);
    }

    /// How many rules name group `g` in their actions (a group's `ref_count`).
    pub fn group_ref_count(&self, g: fvs_openflow::GroupId) -> u32 {
        self.rules_naming(g, groups_named)
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

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::text::parse_flow_mod;

    #[test]
    fn generation_moves_when_translations_can_change_and_only_then() {
        let now = Millis::ZERO;
        let mut b = Bridge::new("br0", FailMode::Secure, now);
        let g0 = b.generation();
        let fm = |text: &str, cmd| {
            parse_flow_mod(text, cmd)
                .map(|(fm, _)| fm)
                .unwrap_or_else(|e| unreachable!("test flow {text}: {e}"))
        };
        let add = fm("priority=5,dl_vlan=1,actions=output:2", FlowModCommand::Add);
        assert!(b.flow_mod(&add, now).is_ok());
        let g1 = b.generation();
        assert!(g1 > g0, "a new rule");
        // A learn refresh: a strict modify with the same actions.
        let same = fm(
            "priority=5,dl_vlan=1,actions=output:2",
            FlowModCommand::ModifyStrict,
        );
        assert!(b.flow_mod(&same, now).is_ok());
        assert_eq!(b.generation(), g1, "same actions, same translations");
        let other = fm(
            "priority=5,dl_vlan=1,actions=output:3",
            FlowModCommand::ModifyStrict,
        );
        assert!(b.flow_mod(&other, now).is_ok());
        let g2 = b.generation();
        assert!(g2 > g1, "new actions");
        let del = fm("dl_vlan=1", FlowModCommand::Delete);
        assert!(b.flow_mod(&del, now).is_ok());
        assert!(b.generation() > g2, "a rule removed");
    }
}
