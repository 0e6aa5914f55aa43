//! Translation: a flow entering a bridge becomes datapath actions, a megaflow mask, a trace,
//! and side effects.
//!
//! # Invariants
//!
//! - `wc` only ever gains bits: every table lookup adds what the classifier consulted, and
//!   actions that read packet fields (`learn`, `move`, `NORMAL`) add what they read.
//! - `base` is what the datapath packet looks like after the actions emitted so far; `flow` is
//!   what OpenFlow says it should look like. An output first commits the difference
//!   ([`commit`]).
//! - Output to a patch port translates in the peer bridge on a copy of the flow whose
//!   `in_port` is the peer port and whose registers, metadata and tunnel metadata are zero, as
//!   in Open vSwitch; the copy is dropped on return, so changes made there do not leak back.
//!   Bits consulted there in those reset fields describe constants, not the packet, so they are
//!   taken back out of `wc`.
//! - Recursion is bounded like Open vSwitch: at most [`MAX_DEPTH`] nested resubmits or patch
//!   crossings and [`MAX_RESUBMITS`] resubmits in total; past either the packet is dropped.
//!
//! Rules hold the shared [`fvs_openflow::Action`]; [`actions`] says which variants are
//! executed and what happens to the others.

mod actions;
mod commit;
mod freeze;
mod group;
mod normal;
mod tunnel;

use crate::bits::{in_port, set_in_port};
use crate::bridge::Bridge;
use crate::clock::Millis;
use crate::dpif::{DpAction, DpActions, Mac, TunnelKey};
use crate::port::PortKind;
use crate::rule::Rule;
use crate::text::{format_flow, format_megaflow};
use crate::trace::{Node, NodeKind, render};
use fvs_classifier::RuleId;
use fvs_flow::extract::ETH_TYPE_NONE;
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_openflow::{Action, Cookie, FlowMod};
use std::fmt;

pub use freeze::{Frozen, StackValue, translate_resume};

/// The `userspace(controller(reason=...))` code of an `output:CONTROLLER` in a table-miss
/// rule, as Open vSwitch numbers it (after OpenFlow's reasons 0 to 5).
pub const REASON_EXPLICIT_MISS: u8 = 6;

/// The `userspace(controller(reason=...))` code of a table miss sent to the controllers,
/// as Open vSwitch numbers it ("implicit miss": no_match, to OpenFlow 1.0–1.2 only).
pub const REASON_IMPLICIT_MISS: u8 = 7;

/// The spanning-tree destination, 01:80:c2:00:00:00.
const STP_DST: u128 = 0x0180_c200_0000;

/// Maximum nesting of resubmits (and patch-port crossings).
pub const MAX_DEPTH: usize = 64;

/// Open vSwitch's words for a translation that went past [`MAX_DEPTH`].
pub(crate) const RECURSION_TOO_DEEP: &str = "Recursion too deep";
/// Maximum number of resubmits in one translation.
pub const MAX_RESUBMITS: usize = MAX_DEPTH * MAX_DEPTH;

/// A change translation asks for, applied by [`crate::switch::Switch::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideEffect {
    /// A rule was hit: count the packet, refresh its idle time.
    RuleHit {
        /// Bridge index in the switch.
        bridge: usize,
        /// Table.
        table: u8,
        /// Rule.
        rule: RuleId,
    },
    /// `learn` adds or refreshes a rule.
    Learn {
        /// Bridge index.
        bridge: usize,
        /// The flow-mod (a strict modify that adds when absent).
        flow_mod: Box<FlowMod>,
    },
    /// A table lookup found no rule: the table counts a lookup without a match (a
    /// [`SideEffect::RuleHit`] is a lookup with one).
    TableMiss {
        /// Bridge index.
        bridge: usize,
        /// Table.
        table: u8,
    },
    /// The hidden fail-open rule (ahead of table 0) was hit.
    FailOpenHit {
        /// Bridge index.
        bridge: usize,
    },
    /// A hidden in-band rule (ahead of table 0) was hit.
    InBandHit {
        /// Bridge index.
        bridge: usize,
        /// The rule's index in [`Bridge::in_band`].
        rule: usize,
    },
    /// NORMAL saw a source MAC.
    MacLearn {
        /// Bridge index.
        bridge: usize,
        /// VLAN.
        vlan: u16,
        /// Address.
        mac: Mac,
        /// Port it came in on.
        port: PortNo,
    },
    /// A group ran: count the packet for the group, and for the bucket at index `bucket`
    /// when one ran (one effect per bucket that ran; the group's own count has `None`).
    GroupHit {
        /// Bridge index.
        bridge: usize,
        /// The group.
        group: fvs_openflow::GroupId,
        /// The bucket's index in the group's bucket list, or `None` for the group itself.
        bucket: Option<usize>,
    },
}

/// The result of translating one flow.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The input flow.
    pub flow: FlowKey,
    /// The flow after the first bridge's actions.
    pub final_flow: FlowKey,
    /// The output port the first bridge's action set ended with (`write_actions(output:P)`),
    /// Open vSwitch's `actset_output` flow field: part of the final flow, though not printed.
    pub actset_output: Option<PortNo>,
    /// The bits of the input flow that decided the outcome.
    pub megaflow: FlowKey,
    /// What the datapath must do.
    pub actions: DpActions,
    /// The trace tree (one bridge node per bridge entered).
    pub trace: Vec<Node>,
    /// Changes to apply to the switch.
    pub effects: Vec<SideEffect>,
    /// Why translation failed and dropped the packet, in Open vSwitch's words (`Recursion
    /// too deep` past [`MAX_DEPTH`]); the trace's last line says so.
    pub failure: Option<&'static str>,
}

impl fmt::Display for Translation {
    /// The `ovs-appctl ofproto/trace` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut body = String::new();
        render(&mut body, &self.trace, 0);
        writeln!(f, "Flow: {}", format_flow(&self.flow))?;
        f.write_str(&body)?;
        writeln!(f)?;
        if self.final_flow == self.flow && self.actset_output.is_none() {
            writeln!(f, "Final flow: unchanged")?;
        } else {
            writeln!(f, "Final flow: {}", format_flow(&self.final_flow))?;
        }
        writeln!(
            f,
            "Megaflow: {}",
            format_megaflow(&self.flow, &self.megaflow)
        )?;
        writeln!(f, "Datapath actions: {}", self.actions)?;
        if let Some(why) = self.failure {
            writeln!(f, "Translation failed ({why}), packet is dropped.")?;
        }
        Ok(())
    }
}

/// Translates `flow` arriving at bridge `bridge` of `bridges`.
///
/// `side_effects` says whether the effects will be applied; it only changes what the trace says
/// about `learn` (Open vSwitch reports "suppressing side effects" when tracing without a packet).
pub fn translate(
    bridges: &[Bridge],
    bridge: usize,
    flow: &FlowKey,
    now: Millis,
    side_effects: bool,
) -> Translation {
    run(
        bridges,
        bridge,
        flow,
        now,
        side_effects,
        |ctx, b, f, out| {
            ctx.bridge_input(b, f, out);
        },
    )
}

/// Translates an OpenFlow packet-out: `actions` run on `flow` in bridge `bridge` without a
/// table lookup first (a `resubmit` in them reaches the tables), and the side effects are
/// reported for [`crate::switch::Switch::apply`] as for a received packet.
pub fn translate_actions(
    bridges: &[Bridge],
    bridge: usize,
    flow: &FlowKey,
    actions: &[Action],
    now: Millis,
) -> Translation {
    run(bridges, bridge, flow, now, true, |ctx, b, f, out| {
        // No rule runs these actions: packet-ins they send carry no cookie (all ones).
        ctx.cookie = Cookie(u64::MAX);
        ctx.in_packet_out = true;
        ctx.actions(b, 0, actions, f, out);
        ctx.run_action_set(b, f, out);
    })
}

/// One translation: `body` runs in a fresh context under the bridge's trace node.
fn run(
    bridges: &[Bridge],
    bridge: usize,
    flow: &FlowKey,
    now: Millis,
    side_effects: bool,
    body: impl FnOnce(&mut Ctx<'_>, usize, &mut FlowKey, &mut Vec<Node>),
) -> Translation {
    let mut ctx = Ctx {
        bridges,
        now,
        side_effects,
        wc: FlowKey::ZERO,
        base: *flow,
        base_tunnel: None,
        dp: Vec::new(),
        effects: Vec::new(),
        depth: 0,
        resubmits: 0,
        dropped: false,
        failure: None,
        exit: false,
        cookie: Cookie(0),
        in_miss_rule: false,
        table: 0,
        in_packet_out: false,
        in_action_set: false,
        stack: Vec::new(),
        action_set: Vec::new(),
        actset_output: None,
        freezing: None,
        bridge,
    };
    // The action set starts empty: rules matching `actset_output` see `UNSET` until a
    // `write_actions(output:P)` (the working flow carries it; see `Translation::actset_output`).
    let mut f = *flow;
    f.set(Field::ActsetOutput.loc(), u128::from(PortNo::UNSET.0));
    let mut trace = Vec::new();
    if let Some(b) = bridges.get(bridge) {
        let mut node = Node::new(NodeKind::Bridge, format!("bridge(\"{}\")", b.name));
        body(&mut ctx, bridge, &mut f, &mut node.children);
        ctx.finish_freezing(bridge, &f);
        trace.push(node);
    }
    let actions = if ctx.dropped {
        DpActions::default()
    } else {
        DpActions(ctx.dp)
    };
    // `actset_output` is the pipeline's own state, never the packet's: it leaves the final
    // flow (reported as `actset_output` instead) and the megaflow, since every packet enters
    // with the same `UNSET`.
    f.set(
        Field::ActsetOutput.loc(),
        flow.get(Field::ActsetOutput.loc()),
    );
    ctx.wc.set(Field::ActsetOutput.loc(), 0);
    Translation {
        flow: *flow,
        final_flow: f,
        actset_output: ctx.actset_output,
        megaflow: ctx.wc,
        actions,
        trace,
        effects: ctx.effects,
        failure: ctx.failure,
    }
}

struct Ctx<'a> {
    bridges: &'a [Bridge],
    now: Millis,
    side_effects: bool,
    wc: FlowKey,
    base: FlowKey,
    base_tunnel: Option<TunnelKey>,
    dp: Vec<DpAction>,
    effects: Vec<SideEffect>,
    depth: usize,
    resubmits: usize,
    /// Translation hit a limit: the packet is dropped whatever was emitted.
    dropped: bool,
    /// The limit's name for the trace ([`Translation::failure`]).
    failure: Option<&'static str>,
    /// `exit` ran: no more actions in this bridge's pipeline.
    exit: bool,
    /// Cookie of the rule whose actions are running (reported to controllers).
    cookie: Cookie,
    /// The rule whose actions are running is a table-miss rule (priority 0, matching
    /// everything): its `output:CONTROLLER` reports an explicit miss.
    in_miss_rule: bool,
    /// The table of the rule whose actions are running (reported to controllers).
    table: u8,
    /// Translating a packet-out: `output:CONTROLLER` reports reason `packet_out`.
    in_packet_out: bool,
    /// Running the action set: `output:CONTROLLER` reports reason `action_set`.
    in_action_set: bool,
    /// The `push`/`pop` stack.
    stack: Vec<StackValue>,
    /// The OpenFlow 1.1+ action set (`write_actions`), run when the bridge's pipeline ends.
    action_set: Vec<Action>,
    /// The action set's output port (kept after the set runs, like Open vSwitch's
    /// `actset_output`).
    actset_output: Option<PortNo>,
    /// `controller(pause)` ran: the rest of the actions are being frozen ([`freeze`]).
    freezing: Option<freeze::Freezing>,
    /// The bridge whose pipeline is running (a patch port's peer while there): its
    /// controllers get the packet-ins.
    bridge: usize,
}

/// The trace's line for a hit on `rule` in `table`.
fn table_line(table: u8, rule: &Rule) -> String {
    let m = rule.match_text();
    let mut text = if m.is_empty() {
        format!("{table:2}. priority {}", rule.priority)
    } else {
        format!("{table:2}. {m}, priority {}", rule.priority)
    };
    if rule.cookie.0 != 0 {
        text.push_str(&format!(", cookie {:#x}", rule.cookie.0));
    }
    text
}

fn get(k: &FlowKey, f: Field) -> u128 {
    k.get(f.loc())
}

fn mac_of(flow: &FlowKey, f: Field) -> Mac {
    Mac::from_u64(u64::try_from(get(flow, f)).unwrap_or(0))
}

/// The words a patch-port crossing resets besides the tunnel metadata ([`Field::TUNNEL`]):
/// metadata, in_port and the registers.
const RESET_FIELDS: [Field; 9] = [
    Field::Metadata,
    Field::InPort,
    Field::Xreg0,
    Field::Xreg1,
    Field::Xreg2,
    Field::Xreg3,
    Field::Xreg4,
    Field::Xreg5,
    Field::Xreg6,
];

impl Ctx<'_> {
    /// A packet enters `b`'s table 0.
    fn bridge_input(&mut self, b: usize, flow: &mut FlowKey, out: &mut Vec<Node>) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        let receives = self.may_receive(bridge, flow);
        if bridge.fail_open() {
            // The hidden fail-open rule matches everything, ahead of the tables.
            let text = format!(" 0. priority {}", crate::bridge::FAIL_OPEN_PRIORITY);
            let mut node = Node::new(NodeKind::Table, text);
            self.effects.push(SideEffect::FailOpenHit { bridge: b });
            if receives {
                self.output(b, PortNo::NORMAL, 0, flow, &mut node.children);
            }
            out.push(node);
            return;
        }
        if self.in_band(b, bridge, flow, out, receives) {
            return;
        }
        let mut wc = self.wc;
        match bridge.lookup(0, flow, &mut wc) {
            Some((id, rule)) if !receives => {
                // Counted by the rule, not executed.
                self.wc = wc;
                self.effects.push(SideEffect::RuleHit {
                    bridge: b,
                    table: 0,
                    rule: id,
                });
                out.push(Node::new(NodeKind::Table, table_line(0, rule)));
            }
            Some((id, rule)) => {
                self.wc = wc;
                self.hit(b, 0, id, rule, flow, out);
            }
            None if receives => {
                self.wc = wc;
                self.effects.push(SideEffect::TableMiss {
                    bridge: b,
                    table: 0,
                });
                self.miss(b, 0, flow, out);
            }
            None => {
                self.wc = wc;
                self.effects.push(SideEffect::TableMiss {
                    bridge: b,
                    table: 0,
                });
                out.push(Node::new(NodeKind::Table, " 0. No match."));
            }
        }
        self.run_action_set(b, flow, out);
    }

    /// In-band control's hidden rules, ahead of the tables ([`crate::in_band`]): true when
    /// one matched (and forwarded the packet with NORMAL). Every rule looked at adds the
    /// fields it matches on to the megaflow, as a classifier lookup would.
    fn in_band(
        &mut self,
        b: usize,
        bridge: &Bridge,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
        receives: bool,
    ) -> bool {
        for (i, rule) in bridge.in_band().iter().enumerate() {
            self.wc = self.wc.or(&rule.r#match.mask);
            if !rule.r#match.matches(flow) {
                continue;
            }
            let m = crate::text::format_match(&rule.r#match);
            let mut node = Node::new(
                NodeKind::Table,
                format!(" 0. {m}, priority {}", rule.priority),
            );
            self.effects
                .push(SideEffect::InBandHit { bridge: b, rule: i });
            if receives {
                node.children.push(Node::new(NodeKind::Action, "NORMAL"));
                self.output(b, PortNo::NORMAL, 0, flow, &mut node.children);
            }
            out.push(node);
            return true;
        }
        false
    }

    /// Whether the input port lets a frame in (Open vSwitch's `may_receive`): not when its
    /// `NO_RECV` is set (`NO_RECV_STP` for a spanning-tree frame). The table-0 lookup still
    /// happens and counts the frame; only the actions are skipped.
    fn may_receive(&mut self, bridge: &Bridge, flow: &FlowKey) -> bool {
        let Some(port) = bridge.port(in_port(flow)) else {
            return true;
        };
        let (plain, stp) = (port.config.no_recv(false), port.config.no_recv(true));
        if plain == stp {
            return !plain;
        }
        // The two bits differ, so whether the frame is a spanning-tree frame decides, and
        // the megaflow must say so: an 802.3 frame's destination is part of the answer.
        let is_stp = if get(flow, Field::EthType) == u128::from(ETH_TYPE_NONE) {
            crate::bits::mark_field(&mut self.wc, Field::EthDst, u128::MAX);
            get(flow, Field::EthDst) == STP_DST
        } else {
            false
        };
        !port.config.no_recv(is_stp)
    }

    /// A table miss where OpenFlow's table-miss behaviour applies (table 0, `goto_table`):
    /// a drop, or, when the bridge has a controller connection that wants misses
    /// ([`Bridge::miss_to_controller`]), a packet-in with Open vSwitch's internal reason
    /// "implicit miss" ([`REASON_IMPLICIT_MISS`]).
    fn miss(&mut self, b: usize, table: u8, flow: &FlowKey, out: &mut Vec<Node>) {
        let to_controller = self.bridges.get(b).is_some_and(Bridge::miss_to_controller);
        if to_controller {
            let mut node = Node::new(
                NodeKind::Table,
                format!("{table:2}. No match, and a \"packet-in\" is called for."),
            );
            node.children
                .push(Node::new(NodeKind::Action, "controller(reason=)"));
            out.push(node);
            let saved = (self.cookie, self.table);
            self.cookie = Cookie(0);
            self.table = table;
            self.controller(REASON_IMPLICIT_MISS, u16::MAX, flow);
            (self.cookie, self.table) = saved;
        } else {
            let mut node = Node::new(NodeKind::Table, format!("{table:2}. No match."));
            node.children.push(Node::new(NodeKind::Action, "drop"));
            out.push(node);
        }
    }

    /// Looks up `table` of `b` (for resubmit and goto_table); `table_miss` says whether
    /// OpenFlow's table-miss behaviour applies (`goto_table`) or a miss just drops
    /// (`resubmit`).
    fn table(
        &mut self,
        b: usize,
        table: u8,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
        table_miss: bool,
    ) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        let mut wc = self.wc;
        let found = bridge.lookup(table, flow, &mut wc);
        self.wc = wc;
        if found.is_none() {
            self.effects
                .push(SideEffect::TableMiss { bridge: b, table });
        }
        match found {
            Some((id, rule)) => self.hit(b, table, id, rule, flow, out),
            None if table_miss => self.miss(b, table, flow, out),
            None => {
                let mut node = Node::new(NodeKind::Table, format!("{table:2}. No match."));
                node.children.push(Node::new(NodeKind::Action, "drop"));
                out.push(node);
            }
        }
    }

    fn hit(
        &mut self,
        b: usize,
        table: u8,
        id: RuleId,
        rule: &Rule,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) {
        let text = table_line(table, rule);
        self.effects.push(SideEffect::RuleHit {
            bridge: b,
            table,
            rule: id,
        });
        let mut node = Node::new(NodeKind::Table, text);
        let saved_cookie = std::mem::replace(&mut self.cookie, rule.cookie);
        let is_miss = rule.priority == 0 && rule.r#match.mask.is_zero();
        let saved_miss = std::mem::replace(&mut self.in_miss_rule, is_miss);
        let saved_table = std::mem::replace(&mut self.table, table);
        self.actions(b, table, &rule.actions, flow, &mut node.children);
        self.cookie = saved_cookie;
        self.in_miss_rule = saved_miss;
        self.table = saved_table;
        out.push(node);
    }

    pub(super) fn resubmit(
        &mut self,
        b: usize,
        port: Option<PortNo>,
        table: u8,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) {
        if self.depth >= MAX_DEPTH {
            out.push(Node::new(
                NodeKind::Error,
                format!("over max translation depth {MAX_DEPTH}"),
            ));
            self.dropped = true;
            self.failure = Some(RECURSION_TOO_DEEP);
            return;
        }
        if self.resubmits >= MAX_RESUBMITS {
            out.push(Node::new(
                NodeKind::Error,
                format!("over {MAX_RESUBMITS} resubmit actions"),
            ));
            self.dropped = true;
            return;
        }
        self.resubmits += 1;
        self.depth += 1;
        let saved_port = in_port(flow);
        if let Some(p) = port.filter(|p| *p != PortNo::IN_PORT) {
            set_in_port(flow, p);
        }
        // goto_table (no port) honours the table-miss behaviour; resubmit does not.
        self.table(b, table, flow, out, port.is_none());
        set_in_port(flow, saved_port);
        self.depth -= 1;
    }

    /// Output to `port`, reserved or not (`output:`, `NORMAL`, `FLOOD`, …).
    pub(super) fn output(
        &mut self,
        b: usize,
        port: PortNo,
        max_len: u16,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        match port {
            PortNo::NORMAL => self.normal(b, flow, out),
            PortNo::FLOOD | PortNo::ALL => {
                let inp = in_port(flow);
                // FLOOD leaves out the ports with NO_FLOOD; ALL does not.
                let all = port == PortNo::ALL;
                let targets: Vec<PortNo> = bridge
                    .ports
                    .values()
                    .filter(|p| p.ofport != inp && (all || !p.config.no_flood()))
                    .map(|p| p.ofport)
                    .collect();
                for p in targets {
                    self.output_port(b, p, flow, out);
                }
            }
            PortNo::IN_PORT => self.output_port(b, in_port(flow), flow, out),
            // The reason as Open vSwitch picks it: packet_out (5) for a packet-out's
            // actions, action_set (3) in the action set, its internal "explicit miss" (6) in a
            // table-miss rule (no_match to OpenFlow 1.3+, action before), else action (1).
            PortNo::CONTROLLER => {
                let reason = if self.in_packet_out {
                    5
                } else if self.in_action_set {
                    3
                } else if self.in_miss_rule {
                    REASON_EXPLICIT_MISS
                } else {
                    1
                };
                self.controller(reason, max_len, flow);
            }
            p if p == in_port(flow) => {
                out.push(Node::new(NodeKind::Warn, "skipping output to input port"));
            }
            p => self.output_port(b, p, flow, out),
        }
    }

    /// A packet-in to the controller: the datapath hands the packet, as `flow` says it is now,
    /// to userspace.
    pub(super) fn controller(&mut self, reason: u8, max_len: u16, flow: &FlowKey) {
        self.controller_to(reason, max_len, 0, None, None, flow);
    }

    /// A packet-in for the connections with `controller_id`, carrying `userdata`, charged to
    /// meter `meter_id` (`controller(meter_id=N)`) or else to the bridge's `controller`
    /// meter, when the bridge has it (Open vSwitch keeps a flow naming a missing meter here,
    /// unmetered).
    pub(super) fn controller_to(
        &mut self,
        reason: u8,
        max_len: u16,
        controller_id: u16,
        userdata: Option<Vec<u8>>,
        meter_id: Option<fvs_openflow::MeterId>,
        flow: &FlowKey,
    ) {
        self.commit(flow);
        let meter = self.bridges.get(self.bridge).and_then(|b| {
            b.meters()
                .get(meter_id.unwrap_or(fvs_openflow::MeterId::CONTROLLER))
                .map(|m| m.dp)
        });
        self.dp.push(DpAction::Userspace {
            reason,
            max_len,
            cookie: self.cookie.0,
            table: self.table,
            flow: Box::new(*flow),
            controller_id,
            userdata,
            continuation: None,
            bridge: self
                .bridges
                .get(self.bridge)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            meter,
        });
    }

    /// Sends the packet as `flow` describes it to port `p` of bridge `b`.
    pub(super) fn output_port(&mut self, b: usize, p: PortNo, flow: &FlowKey, out: &mut Vec<Node>) {
        let Some(port) = self.bridges.get(b).and_then(|br| br.port(p)) else {
            return;
        };
        if port.config.no_fwd() {
            out.push(Node::new(
                NodeKind::Detail,
                "OFPPC_NO_FWD set, skipping output",
            ));
            return;
        }
        match &port.kind {
            PortKind::Patch { peer } => self.patch(peer, flow, out),
            PortKind::Tunnel(cfg) => {
                let key = match tunnel::tunnel_key(cfg, flow, &mut self.wc) {
                    Ok(key) => key,
                    Err(tunnel::NoTunnel::NoDestination) => {
                        out.push(Node::new(
                            NodeKind::Warn,
                            "native tunnel routing failed: no tun_dst for remote_ip=flow",
                        ));
                        return;
                    }
                };
                out.push(Node::new(NodeKind::Detail, "output to kernel tunnel"));
                if self.base_tunnel != Some(key) {
                    self.dp.push(DpAction::SetTunnel(key));
                    self.base_tunnel = Some(key);
                }
                self.commit(flow);
                if let Some(dp) = port.dp_port {
                    self.dp.push(DpAction::Output(dp));
                }
            }
            PortKind::Internal | PortKind::System => {
                self.commit(flow);
                if let Some(dp) = port.dp_port {
                    self.dp.push(DpAction::Output(dp));
                }
            }
        }
    }

    /// Continues in the bridge that owns the patch port named `peer`.
    fn patch(&mut self, peer: &str, flow: &FlowKey, out: &mut Vec<Node>) {
        let found = self.bridges.iter().enumerate().find_map(|(i, br)| {
            br.port_by_name(peer)
                .filter(|p| matches!(p.kind, PortKind::Patch { .. }))
                .map(|p| (i, p.ofport))
        });
        let Some((pb, pport)) = found else {
            return;
        };
        if self.depth >= MAX_DEPTH {
            out.push(Node::new(
                NodeKind::Error,
                format!("over max translation depth {MAX_DEPTH}"),
            ));
            self.dropped = true;
            self.failure = Some(RECURSION_TOO_DEEP);
            return;
        }
        let mut peer_flow = *flow;
        for f in Field::TUNNEL.into_iter().chain(RESET_FIELDS) {
            peer_flow.set(f.loc(), 0);
        }
        // The peer's pipeline starts with its own, empty, action set.
        peer_flow.set(Field::ActsetOutput.loc(), u128::from(PortNo::UNSET.0));
        peer_flow.set(Field::Xreg7.loc(), 0);
        set_in_port(&mut peer_flow, pport);
        // A peer that may not receive (`NO_RECV`) ends the crossing before any lookup, as in
        // Open vSwitch: the peer bridge shows in the trace, empty, and counts nothing.
        let bridges = self.bridges;
        if let Some(br) = bridges.get(pb)
            && !self.may_receive(br, &peer_flow)
        {
            out.push(Node::new(
                NodeKind::Bridge,
                format!("bridge(\"{}\")", br.name),
            ));
            return;
        }
        let saved_wc = self.wc;
        // The peer bridge runs its own pipeline: its own stack, action set and `exit`.
        let saved_stack = std::mem::take(&mut self.stack);
        let saved_set = std::mem::take(&mut self.action_set);
        let saved_actset_output = self.actset_output.take();
        let saved_exit = std::mem::replace(&mut self.exit, false);
        self.depth += 1;
        let name = self.bridges.get(pb).map_or("", |br| br.name.as_str());
        let mut node = Node::new(NodeKind::Bridge, format!("bridge(\"{name}\")"));
        let saved_bridge = std::mem::replace(&mut self.bridge, pb);
        self.bridge_input(pb, &mut peer_flow, &mut node.children);
        self.bridge = saved_bridge;
        // A pause in the peer bridge ends with its pipeline; this bridge's actions go on.
        self.finish_freezing(pb, &peer_flow);
        out.push(node);
        self.depth -= 1;
        self.stack = saved_stack;
        self.action_set = saved_set;
        self.actset_output = saved_actset_output;
        self.exit = saved_exit;
        for f in Field::TUNNEL
            .into_iter()
            .chain(RESET_FIELDS)
            .chain([Field::Xreg7])
        {
            self.wc.set(f.loc(), saved_wc.get(f.loc()));
        }
    }
}
