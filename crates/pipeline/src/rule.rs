//! A rule in an OpenFlow table: match, priority, cookie, actions, timeouts, statistics.

use crate::clock::Millis;
use crate::text::{format_actions, format_flow_head, format_match};
use fvs_flow::{Match, PortNo};
use fvs_openflow::{Action, Cookie, FlowModFlags};

/// Packet and byte counters plus the times the ages are computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Packets that hit the rule.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// When the rule was added (`duration`).
    pub created: Millis,
    /// When it was last added or modified (`hard_age`; hard timeouts count from here).
    pub modified: Millis,
    /// When a packet last hit it (`idle_age`; idle timeouts count from here).
    pub used: Millis,
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Which packets it matches.
    pub r#match: Match,
    /// Priority.
    pub priority: u16,
    /// Opaque controller-chosen id.
    pub cookie: Cookie,
    /// What a hit does.
    pub actions: Vec<Action>,
    /// Seconds without a hit before removal (0 = never).
    pub idle_timeout: u16,
    /// Seconds after the last add/modify before removal (0 = never).
    pub hard_timeout: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// Statistics.
    pub stats: RuleStats,
}

/// Why a rule left its table (the `reason` of a flow-removed message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedReason {
    /// Idle timeout.
    IdleTimeout,
    /// Hard timeout.
    HardTimeout,
    /// A delete flow-mod.
    Delete,
    /// The group the rule's actions name was deleted.
    GroupDelete,
    /// A meter its actions name was deleted (`OFPRR_METER_DELETE`).
    MeterDelete,
}

impl Rule {
    /// The match in `ovs-ofctl` syntax (no priority).
    pub fn match_text(&self) -> String {
        format_match(&self.r#match)
    }

    /// Why the rule has expired at `now`, if it has.
    pub fn expired(&self, now: Millis) -> Option<RemovedReason> {
        let hard = u64::from(self.hard_timeout) * 1000;
        let idle = u64::from(self.idle_timeout) * 1000;
        if self.hard_timeout != 0 && now.since(self.stats.modified) >= hard {
            Some(RemovedReason::HardTimeout)
        } else if self.idle_timeout != 0 && now.since(self.stats.used) >= idle {
            Some(RemovedReason::IdleTimeout)
        } else {
            None
        }
    }

    /// True when the rule outputs to `port` (the `out_port` filter of modify and delete).
    pub fn outputs_to(&self, port: PortNo) -> bool {
        outputs_to(&self.actions, port)
    }

    /// One line of `ovs-ofctl dump-flows` for this rule in table `table` at `now`.
    pub fn dump_line(&self, table: u8, now: Millis) -> String {
        let s = &self.stats;
        let dur = now.since(s.created);
        let mut line = format!(
            " cookie={:#x}, duration={}.{:03}s, table={table}, n_packets={}, n_bytes={}, ",
            self.cookie.0,
            dur / 1000,
            dur % 1000,
            s.packets,
            s.bytes
        );
        if self.idle_timeout != 0 {
            line.push_str(&format!("idle_timeout={}, ", self.idle_timeout));
        }
        if self.hard_timeout != 0 {
            line.push_str(&format!("hard_timeout={}, ", self.hard_timeout));
        }
        line.push_str(&format!("idle_age={}, ", now.secs_since(s.used)));
        if s.modified != s.created {
            line.push_str(&format!("hard_age={}, ", now.secs_since(s.modified)));
        }
        let head = format_flow_head(&self.r#match, self.priority);
        if head.is_empty() {
            line.push_str(&format!("actions={}", format_actions(&self.actions)));
        } else {
            line.push_str(&format!("{head} actions={}", format_actions(&self.actions)));
        }
        line
    }
}

/// True when `actions` (including nested lists) send packets to `port`, which is what OpenFlow's
/// `out_port` filter looks for.
fn outputs_to(actions: &[Action], port: PortNo) -> bool {
    let is = |p: PortNo| p == port;
    actions.iter().any(|a| match a {
        Action::Output(o) => is(o.port),
        Action::OutputTrunc { port: p, .. } | Action::Enqueue { port: p, .. } => is(*p),
        Action::Controller(_) => port == PortNo::CONTROLLER,
        Action::Clone(inner) | Action::WriteActions(inner) => outputs_to(inner, port),
        // Ports reached indirectly (a register's value, a group, a bundle member) are not
        // known until a packet arrives, so `out_port` does not see them, as in Open vSwitch.
        _ => false,
    })
}
