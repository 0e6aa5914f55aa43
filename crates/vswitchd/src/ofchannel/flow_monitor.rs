//! One connection's flow monitors: which changes to the bridge's tables it asked to hear of,
//! and the updates each change becomes for it.
//!
//! # How changes reach a monitor
//!
//! While any connection of a bridge has a monitor, the bridge records every change to its
//! tables ([`Bridge::set_journal`]), whatever its source: flow-mods and bundles from any
//! connection, `learn` (in upcalls and in the datapath's revalidation), timeouts, deletes.
//! Whoever changed the tables takes the changes right away, under the switch's lock:
//!
//! - a connection's own flow-mod: the channel takes the changes it caused, turns them into
//!   updates for its own monitors at once (so they precede the replies to later requests,
//!   such as a barrier) and publishes them to the bridge's other connections; anything taken
//!   *before* applying the flow-mod was someone else's (a `learn` not yet reported) and is
//!   published to every connection;
//! - the datapath thread takes what revalidation (expiry, `learn`) changed and publishes it.
//!
//! Publication goes through the connection manager's dispatcher, which delivers each bridge's
//! events to every connection in order ([`super::Channel::send_async`]), one message per
//! operation (a flow-mod's changes together, each expiry alone), as Open vSwitch sends them.
//! Another connection hears of a change shortly after it is made, not before that
//! connection's next reply: only the connection that made it is told in line with its own
//! replies.
//!
//! Once on, a bridge's journal stays on: everything recorded is taken within one
//! revalidation period (200 ms) at most, so it never grows beyond what that period changes.
//! ferrovs's tables have no size limit, so no rule is ever evicted (Open vSwitch's
//! `reason=eviction`).
//!
//! # Open vSwitch's rules, kept here
//!
//! - A change is reported to a monitor when its kind is asked for (`add`, `delete`,
//!   `modify`), its table is the monitor's (or the monitor has none), it outputs to the
//!   monitor's `out_port` (if any), and the monitor's match covers the rule's loosely (as a
//!   flow statistics request selects).
//! - Several monitors matching one change make one update, with actions when any of them
//!   asked for actions.
//! - A change the connection itself caused is reported in full only to monitors with `own`;
//!   otherwise the flow-mod's changes become one abbreviated update carrying its xid.
//! - Errors: a monitor id already in use is `OFPMOFC_MONITOR_EXISTS`; a cancel or 1.4
//!   modify of an unknown id `OFPMOFC_UNKNOWN_MONITOR`. Any table number is accepted, as
//!   Open vSwitch accepts it. A request is applied whole or not at all.
//!
//! # Flow control
//!
//! When the connection's unsent output exceeds [`BACKLOG_MAX`] bytes as an update is to be
//! queued, the channel sends `PAUSED` and drops updates from then on, remembering which rules
//! were added or modified meanwhile (the one whose update was dropped first included); once
//! everything queued has been written, it lists those of them its monitors cover that still
//! exist, as `ADDED` (the re-sync), and sends `RESUMED`, as Open vSwitch does (rules deleted
//! during the pause are not reported). 128 KiB is Open vSwitch's own threshold.
//!
//! "Unsent" is what the channel holds plus what the connection's output queue has not yet
//! handed to the socket ([`crate::outbox`], told to the channel before it is given
//! anything, [`super::Channel::set_output_backlog`]), as Open vSwitch counts its rconn
//! queue. Bytes already in the socket's buffer are not counted, nor are they by Open
//! vSwitch: a peer that stops reading first fills the socket's buffer, then the queue. The
//! re-sync is sent at the connection's next read or read timeout once the queue is empty.

use std::collections::{BTreeMap, HashSet};

use fvs_flow::{Match, PortNo};
use fvs_openflow::TableId;
use fvs_openflow::wire::FlowRemovedReason;
use fvs_openflow::wire::OfpError;
use fvs_openflow::wire::flow_monitor::{
    FlowMonitorRequest, FlowUpdate, FlowUpdateEvent, FlowUpdateFull, MonitorCommand, MonitorFlags,
    MonitorId,
};
use fvs_pipeline::bridge::{Bridge, ChangeKind, TableChange};
use fvs_pipeline::rule::{RemovedReason, Rule};

/// The most bytes of unsent output a connection may have when an update is queued before
/// its monitors pause (Open vSwitch's threshold).
pub const BACKLOG_MAX: usize = 128 * 1024;

/// One monitor's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Monitor {
    flags: MonitorFlags,
    out_port: PortNo,
    table: Option<TableId>,
    r#match: Match,
}

impl Monitor {
    fn of(r: &FlowMonitorRequest) -> Self {
        Self {
            flags: r.flags,
            out_port: r.out_port,
            table: r.table,
            r#match: r.r#match,
        }
    }

    /// Whether the monitor covers `rule` in `table` (kinds aside).
    fn covers(&self, table: u8, rule: &Rule) -> bool {
        let m = &self.r#match;
        self.table.is_none_or(|t| t.0 == table)
            && (self.out_port == PortNo::ANY || rule.outputs_to(self.out_port))
            && m.mask.is_subset_of(&rule.r#match.mask)
            && rule.r#match.key.and(&m.mask) == m.key
    }

    fn wants(&self, kind: ChangeKind) -> bool {
        match kind {
            ChangeKind::Added => self.flags.add,
            ChangeKind::Modified => self.flags.modify,
            ChangeKind::Removed(_) => self.flags.delete,
        }
    }
}

/// A connection's monitors.
#[derive(Debug, Default)]
pub struct Monitors {
    by_id: BTreeMap<MonitorId, Monitor>,
    paused: bool,
    /// The rules (table, priority, match) added or modified while paused.
    changed: HashSet<(u8, u16, Match)>,
}

fn reason(r: RemovedReason) -> FlowRemovedReason {
    match r {
        RemovedReason::IdleTimeout => FlowRemovedReason::IdleTimeout,
        RemovedReason::HardTimeout => FlowRemovedReason::HardTimeout,
        RemovedReason::Delete => FlowRemovedReason::Delete,
        RemovedReason::GroupDelete => FlowRemovedReason::GroupDelete,
        RemovedReason::MeterDelete => FlowRemovedReason::MeterDelete,
    }
}

fn full(event: FlowUpdateEvent, table: u8, rule: &Rule, actions: bool) -> FlowUpdate {
    FlowUpdate::Full(Box::new(FlowUpdateFull {
        event,
        table: TableId(table),
        priority: rule.priority,
        idle_timeout: rule.idle_timeout,
        hard_timeout: rule.hard_timeout,
        cookie: rule.cookie,
        r#match: rule.r#match,
        actions: actions.then(|| rule.actions.clone()),
    }))
}

impl Monitors {
    /// No monitors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the connection has no monitors.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether updates are paused (`PAUSED` sent, `RESUMED` not yet).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Marks the monitors paused.
    pub fn pause(&mut self) {
        self.paused = true;
        self.changed.clear();
    }

    /// Remembers the rules `changes` added or modified during the pause, for the re-sync.
    pub fn note_paused_changes(&mut self, changes: &[TableChange]) {
        for c in changes {
            if matches!(c.kind, ChangeKind::Added | ChangeKind::Modified) {
                self.changed
                    .insert((c.table, c.rule.priority, c.rule.r#match));
            }
        }
    }

    /// Applies a request's records (add, 1.4's modify and delete) all or none; returns the
    /// initial listing for the monitors that asked for one.
    pub fn request(
        &mut self,
        reqs: &[FlowMonitorRequest],
        bridge: Option<&Bridge>,
    ) -> Result<Vec<FlowUpdate>, OfpError> {
        let mut next = self.by_id.clone();
        let mut listed: Vec<MonitorId> = Vec::new();
        for r in reqs {
            // Every table number is accepted, as Open vSwitch accepts them (a table the
            // bridge does not have simply never changes).
            match r.command {
                MonitorCommand::Add => {
                    if next.insert(r.id, Monitor::of(r)).is_some() {
                        return Err(OfpError::MonitorExists);
                    }
                }
                MonitorCommand::Modify => {
                    if next.insert(r.id, Monitor::of(r)).is_none() {
                        return Err(OfpError::MonitorUnknown);
                    }
                }
                MonitorCommand::Delete => {
                    if next.remove(&r.id).is_none() {
                        return Err(OfpError::MonitorUnknown);
                    }
                }
            }
            if r.command != MonitorCommand::Delete && r.flags.initial {
                listed.push(r.id);
            }
        }
        self.by_id = next;
        let Some(bridge) = bridge else {
            return Ok(Vec::new());
        };
        let monitors: Vec<&Monitor> = listed.iter().filter_map(|id| self.by_id.get(id)).collect();
        Ok(listing(
            &monitors,
            bridge,
            FlowUpdateEvent::Initial,
            |_, _| true,
        ))
    }

    /// Ends monitor `id`.
    pub fn cancel(&mut self, id: MonitorId) -> Result<(), OfpError> {
        self.by_id
            .remove(&id)
            .map(|_| ())
            .ok_or(OfpError::MonitorUnknown)
    }

    /// The updates `changes` make for these monitors; `own_xid` is the xid of this
    /// connection's flow-mod that caused them, if it did.
    pub fn updates(&self, changes: &[TableChange], own_xid: Option<u32>) -> Vec<FlowUpdate> {
        let mut out = Vec::new();
        let mut abbreviated = false;
        for c in changes {
            let matching: Vec<&Monitor> = self
                .by_id
                .values()
                .filter(|m| m.wants(c.kind) && m.covers(c.table, &c.rule))
                .collect();
            if matching.is_empty() {
                continue;
            }
            if let Some(xid) = own_xid
                && !matching.iter().any(|m| m.flags.own)
            {
                if !abbreviated {
                    abbreviated = true;
                    out.push(FlowUpdate::Abbrev { xid });
                }
                continue;
            }
            let event = match c.kind {
                ChangeKind::Added => FlowUpdateEvent::Added,
                ChangeKind::Modified => FlowUpdateEvent::Modified,
                ChangeKind::Removed(r) => FlowUpdateEvent::Deleted(reason(r)),
            };
            let actions = matching.iter().any(|m| m.flags.actions);
            out.push(full(event, c.table, &c.rule, actions));
        }
        out
    }

    /// The re-sync after a pause: every flow added or modified during the pause that some
    /// monitor covers, as added. Clears the pause.
    pub fn resync(&mut self, bridge: Option<&Bridge>) -> Vec<FlowUpdate> {
        self.paused = false;
        let changed = std::mem::take(&mut self.changed);
        let Some(bridge) = bridge else {
            return Vec::new();
        };
        let monitors: Vec<&Monitor> = self.by_id.values().collect();
        listing(&monitors, bridge, FlowUpdateEvent::Added, |table, rule| {
            changed.contains(&(table, rule.priority, rule.r#match))
        })
    }
}

/// `changes` cut into the operations that made them ([`TableChange::op`]), in order.
pub fn by_operation(changes: Vec<TableChange>) -> Vec<Vec<TableChange>> {
    let mut out: Vec<Vec<TableChange>> = Vec::new();
    for c in changes {
        match out.last_mut() {
            Some(cur) if cur.last().is_some_and(|l| l.op == c.op) => cur.push(c),
            _ => out.push(vec![c]),
        }
    }
    out
}

/// Every rule of `bridge` some of `monitors` covers, once, as `event`.
fn listing(
    monitors: &[&Monitor],
    bridge: &Bridge,
    event: FlowUpdateEvent,
    wanted: impl Fn(u8, &Rule) -> bool,
) -> Vec<FlowUpdate> {
    if monitors.is_empty() {
        return Vec::new();
    }
    bridge
        .rules()
        .into_iter()
        .filter(|(table, rule)| wanted(*table, rule))
        .filter_map(|(table, rule)| {
            let matching: Vec<&&Monitor> =
                monitors.iter().filter(|m| m.covers(table, rule)).collect();
            (!matching.is_empty())
                .then(|| full(event, table, rule, matching.iter().any(|m| m.flags.actions)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::FlowModCommand;
    use fvs_openflow::text::parse_flow_mod;
    use fvs_pipeline::bridge::FailMode;
    use fvs_pipeline::clock::Millis;

    fn bridge(flows: &[&str]) -> Bridge {
        let mut b = Bridge::new("br0", FailMode::Secure, Millis(0));
        b.set_journal(true);
        for f in flows {
            let (fm, _) = parse_flow_mod(f, FlowModCommand::Add).expect("parses");
            b.flow_mod(&fm, Millis(0)).expect("applies");
        }
        b
    }

    fn req(id: u32, flags: MonitorFlags, filter: &str) -> FlowMonitorRequest {
        // A monitor's filter is a match; the flow-mod parser wants actions after it.
        let text = if filter.is_empty() {
            "actions=drop".to_owned()
        } else {
            format!("{filter},actions=drop")
        };
        let (fm, _) = parse_flow_mod(&text, FlowModCommand::Add).expect("parses");
        FlowMonitorRequest {
            r#match: fm.r#match,
            table: fm.table,
            ..FlowMonitorRequest::new(MonitorId(id), flags)
        }
    }

    #[test]
    fn initial_listing_covers_matching_flows_and_duplicates_are_refused() {
        let b = bridge(&[
            "priority=5,ip,actions=output:1",
            "priority=1,arp,actions=drop",
        ]);
        let mut m = Monitors::new();
        let l = m
            .request(&[req(1, MonitorFlags::ALL, "ip")], Some(&b))
            .expect("ok");
        assert_eq!(l.len(), 1);
        assert_eq!(
            m.request(&[req(1, MonitorFlags::ALL, "")], Some(&b)),
            Err(OfpError::MonitorExists)
        );
        assert_eq!(m.cancel(MonitorId(2)), Err(OfpError::MonitorUnknown));
        assert_eq!(m.cancel(MonitorId(1)), Ok(()));
        assert!(m.is_empty());
    }

    #[test]
    fn own_changes_are_abbreviated_once_unless_own_is_asked() {
        let mut b = bridge(&[]);
        let mut m = Monitors::new();
        let not_own = MonitorFlags {
            own: false,
            ..MonitorFlags::ALL
        };
        m.request(&[req(1, not_own, "")], Some(&b)).expect("ok");
        for f in [
            "priority=5,ip,actions=output:1",
            "priority=6,ip,actions=output:1",
        ] {
            let (fm, _) = parse_flow_mod(f, FlowModCommand::Add).expect("parses");
            b.flow_mod(&fm, Millis(0)).expect("applies");
        }
        let changes = b.take_changes();
        assert_eq!(changes.len(), 2);
        assert_eq!(
            m.updates(&changes, Some(7)),
            vec![FlowUpdate::Abbrev { xid: 7 }]
        );
        assert_eq!(m.updates(&changes, None).len(), 2);
    }
}
