//! Translation: a flow entering a bridge becomes datapath actions, a megaflow mask, a trace,
//! and side effects.
//!
//! # Invariants
//!
//! - `wc` only ever gains bits: every table lookup adds what the classifier consulted, and
//!   actions that read packet fields (`learn`, `move`, `NORMAL`) add what they read.
//! - `base` is what the datapath packet looks like after the actions emitted so far; `flow` is
//!   what OpenFlow says it should look like. An output first commits the difference.
//! - Output to a patch port translates in the peer bridge on a copy of the flow whose
//!   `in_port` is the peer port and whose registers, metadata and tunnel metadata are zero, as
//!   in Open vSwitch; the copy is dropped on return, so changes made there do not leak back.
//!   Bits consulted there in those reset fields describe constants, not the packet, so they are
//!   taken back out of `wc`.
//! - Recursion is bounded like Open vSwitch: at most [`MAX_DEPTH`] nested resubmits or patch
//!   crossings and [`MAX_RESUBMITS`] resubmits in total; past either the packet is dropped.

use crate::action::{Action, LearnSpec, LearnSrc, Subfield, format_actions};
use crate::bridge::{Bridge, Command, FailMode, FlowMod};
use crate::clock::Millis;
use crate::dpif::{DpAction, DpActions, Mac, TunnelKey};
use crate::port::{OfPort, Port, PortKind, VlanRefusal};
use crate::rule::{Rule, RuleFlags};
use crate::text::{format_flow, format_megaflow};
use crate::trace::{Node, NodeKind, render};
use fvs_classifier::RuleId;
use fvs_flow::{Field, FlowKey};
use std::fmt;

/// Maximum nesting of resubmits (and patch-port crossings).
pub const MAX_DEPTH: usize = 64;
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
    /// NORMAL saw a source MAC.
    MacLearn {
        /// Bridge index.
        bridge: usize,
        /// VLAN.
        vlan: u16,
        /// Address.
        mac: Mac,
        /// Port it came in on.
        port: OfPort,
    },
}

/// The result of translating one flow.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The input flow.
    pub flow: FlowKey,
    /// The flow after the first bridge's actions.
    pub final_flow: FlowKey,
    /// The bits of the input flow that decided the outcome.
    pub megaflow: FlowKey,
    /// What the datapath must do.
    pub actions: DpActions,
    /// The trace tree (one bridge node per bridge entered).
    pub trace: Vec<Node>,
    /// Changes to apply to the switch.
    pub effects: Vec<SideEffect>,
}

impl fmt::Display for Translation {
    /// The `ovs-appctl ofproto/trace` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut body = String::new();
        render(&mut body, &self.trace, 0);
        writeln!(f, "Flow: {}", format_flow(&self.flow))?;
        f.write_str(&body)?;
        writeln!(f)?;
        if self.final_flow == self.flow {
            writeln!(f, "Final flow: unchanged")?;
        } else {
            writeln!(f, "Final flow: {}", format_flow(&self.final_flow))?;
        }
        writeln!(
            f,
            "Megaflow: {}",
            format_megaflow(&self.flow, &self.megaflow)
        )?;
        writeln!(f, "Datapath actions: {}", self.actions)
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
    };
    let mut f = *flow;
    let mut trace = Vec::new();
    if let Some(b) = bridges.get(bridge) {
        let mut node = Node::new(NodeKind::Bridge, format!("bridge(\"{}\")", b.name));
        ctx.bridge_input(bridge, &mut f, &mut node.children);
        trace.push(node);
    }
    let actions = if ctx.dropped {
        DpActions::default()
    } else {
        DpActions(ctx.dp)
    };
    Translation {
        flow: *flow,
        final_flow: f,
        megaflow: ctx.wc,
        actions,
        trace,
        effects: ctx.effects,
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
    dropped: bool,
}

fn get(k: &FlowKey, f: Field) -> u128 {
    k.get(f.loc())
}

fn mark(wc: &mut FlowKey, f: Field, bits: u128) {
    let old = wc.get(f.loc());
    wc.set(f.loc(), old | bits);
}

fn in_port(flow: &FlowKey) -> OfPort {
    OfPort(u32::try_from(get(flow, Field::InPort)).unwrap_or(u32::MAX))
}

fn mac_of(flow: &FlowKey, f: Field) -> Mac {
    Mac::from_u64(u64::try_from(get(flow, f)).unwrap_or(0))
}

/// The words a patch-port crossing resets: tunnel, metadata, registers, in_port.
const RESET_FIELDS: [Field; 13] = [
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::TunFlags,
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
        let mut wc = self.wc;
        if let Some((id, rule)) = bridge.lookup(0, flow, &mut wc) {
            self.wc = wc;
            self.hit(b, 0, id, rule, flow, out);
        } else {
            self.wc = wc;
            // A secure bridge without controllers falls through to a hidden drop rule that
            // Open vSwitch names `reg0=0x2`; otherwise the miss is a plain "No match".
            let text = match bridge.fail_mode {
                FailMode::Secure => " 0. reg0=0x2, priority 0",
                FailMode::Standalone => " 0. No match.",
            };
            let mut node = Node::new(NodeKind::Table, text);
            node.children.push(Node::new(NodeKind::Action, "drop"));
            out.push(node);
        }
    }

    /// Looks up `table` of `b` (for resubmit and goto_table).
    fn table(&mut self, b: usize, table: u8, flow: &mut FlowKey, out: &mut Vec<Node>) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        let mut wc = self.wc;
        let found = bridge.lookup(table, flow, &mut wc);
        self.wc = wc;
        match found {
            Some((id, rule)) => self.hit(b, table, id, rule, flow, out),
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
        let m = rule.match_text();
        let mut text = if m.is_empty() {
            format!("{table:2}. priority {}", rule.priority)
        } else {
            format!("{table:2}. {m}, priority {}", rule.priority)
        };
        if rule.cookie != 0 {
            text.push_str(&format!(", cookie {:#x}", rule.cookie));
        }
        self.effects.push(SideEffect::RuleHit {
            bridge: b,
            table,
            rule: id,
        });
        let mut node = Node::new(NodeKind::Table, text);
        self.actions(b, table, &rule.actions, flow, &mut node.children);
        out.push(node);
    }

    fn actions(
        &mut self,
        b: usize,
        table: u8,
        actions: &[Action],
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) {
        if actions.is_empty() {
            out.push(Node::new(NodeKind::Action, "drop"));
        }
        for action in actions {
            if self.dropped {
                return;
            }
            out.push(Node::new(NodeKind::Action, action.to_string()));
            match action {
                Action::Output { port, max_len } => self.output(b, *port, *max_len, flow, out),
                Action::Resubmit { port, table: t } => {
                    let t = t.unwrap_or(table);
                    self.resubmit(b, *port, t, flow, out);
                }
                Action::GotoTable(t) => {
                    self.resubmit(b, None, *t, flow, out);
                    return;
                }
                Action::SetVlanVid(vid) => {
                    let tci = get(flow, Field::VlanTci);
                    let pcp = if tci & 0x1000 != 0 { tci & 0xe000 } else { 0 };
                    flow.set(
                        Field::VlanTci.loc(),
                        pcp | 0x1000 | u128::from(*vid & 0xfff),
                    );
                }
                Action::SetVlanPcp(pcp) => {
                    let tci = get(flow, Field::VlanTci);
                    let vid = if tci & 0x1000 != 0 { tci & 0xfff } else { 0 };
                    flow.set(
                        Field::VlanTci.loc(),
                        (u128::from(*pcp & 7) << 13) | 0x1000 | vid,
                    );
                }
                Action::StripVlan | Action::PopVlan => flow.set(Field::VlanTci.loc(), 0),
                Action::PushVlan(_) => {
                    let tci = get(flow, Field::VlanTci);
                    flow.set(Field::VlanTci.loc(), tci | 0x1000);
                }
                Action::SetEthSrc(m) => flow.set(Field::EthSrc.loc(), u128::from(m.to_u64())),
                Action::SetEthDst(m) => flow.set(Field::EthDst.loc(), u128::from(m.to_u64())),
                Action::SetTunnel(id) => flow.set(Field::TunId.loc(), u128::from(*id)),
                Action::SetField { field, value } => set_field(flow, *field, *value),
                Action::Load { dst, value } => dst.write(flow, *value),
                Action::Move { src, dst } => {
                    src.mark(&mut self.wc);
                    let v = src.read(flow);
                    dst.write(flow, v);
                }
                Action::Learn(l) => self.learn(b, l, flow, out),
            }
        }
    }

    fn resubmit(
        &mut self,
        b: usize,
        port: Option<OfPort>,
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
        let saved_port = get(flow, Field::InPort);
        if let Some(p) = port.filter(|p| *p != OfPort::IN_PORT) {
            flow.set(Field::InPort.loc(), u128::from(p.0));
        }
        self.table(b, table, flow, out);
        flow.set(Field::InPort.loc(), saved_port);
        self.depth -= 1;
    }

    fn output(
        &mut self,
        b: usize,
        port: OfPort,
        max_len: u16,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        match port {
            OfPort::NORMAL => self.normal(b, flow, out),
            OfPort::FLOOD | OfPort::ALL => {
                let inp = in_port(flow);
                let targets: Vec<OfPort> =
                    bridge.ports.keys().copied().filter(|p| *p != inp).collect();
                for p in targets {
                    self.output_port(b, p, flow, out);
                }
            }
            OfPort::IN_PORT => self.output_port(b, in_port(flow), flow, out),
            OfPort::CONTROLLER => {
                let cookie = self.current_cookie();
                self.dp.push(DpAction::Userspace {
                    reason: 1,
                    max_len,
                    cookie,
                });
            }
            p if p == in_port(flow) => {
                out.push(Node::new(NodeKind::Warn, "skipping output to input port"));
            }
            p => self.output_port(b, p, flow, out),
        }
    }

    /// The cookie reported to controllers; rules are not tracked that finely yet.
    fn current_cookie(&self) -> u64 {
        0
    }

    /// Sends the packet as `flow` describes it to port `p` of bridge `b`.
    fn output_port(&mut self, b: usize, p: OfPort, flow: &FlowKey, out: &mut Vec<Node>) {
        let Some(port) = self.bridges.get(b).and_then(|br| br.port(p)) else {
            return;
        };
        match &port.kind {
            PortKind::Patch { peer } => self.patch(peer, flow, out),
            PortKind::Tunnel(cfg) => {
                out.push(Node::new(NodeKind::Detail, "output to kernel tunnel"));
                let key = TunnelKey {
                    tun_id: cfg
                        .out_key
                        .unwrap_or_else(|| u64::try_from(get(flow, Field::TunId)).unwrap_or(0)),
                    src: cfg.local_ip,
                    dst: cfg.remote_ip,
                    ttl: 64,
                    df: cfg.df_default,
                    key: true,
                };
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
            return;
        }
        let mut peer_flow = *flow;
        for f in RESET_FIELDS {
            peer_flow.set(f.loc(), 0);
        }
        peer_flow.set(Field::Xreg7.loc(), 0);
        peer_flow.set(Field::InPort.loc(), u128::from(pport.0));
        let saved_wc = self.wc;
        self.depth += 1;
        let name = self.bridges.get(pb).map_or("", |br| br.name.as_str());
        let mut node = Node::new(NodeKind::Bridge, format!("bridge(\"{name}\")"));
        self.bridge_input(pb, &mut peer_flow, &mut node.children);
        out.push(node);
        self.depth -= 1;
        for f in RESET_FIELDS.iter().copied().chain([Field::Xreg7]) {
            self.wc.set(f.loc(), saved_wc.get(f.loc()));
        }
    }

    /// Emits the datapath actions that make the packet look like `flow`.
    fn commit(&mut self, flow: &FlowKey) {
        let (src, dst) = (mac_of(flow, Field::EthSrc), mac_of(flow, Field::EthDst));
        let (bsrc, bdst) = (
            mac_of(&self.base, Field::EthSrc),
            mac_of(&self.base, Field::EthDst),
        );
        if src != bsrc || dst != bdst {
            self.dp.push(DpAction::SetEth {
                src: (src != bsrc).then_some(src),
                dst: (dst != bdst).then_some(dst),
            });
        }
        let tci = get(flow, Field::VlanTci);
        let btci = get(&self.base, Field::VlanTci);
        if tci != btci {
            // The datapath replaces a tag as a whole, so the whole TCI decided the result.
            mark(&mut self.wc, Field::VlanTci, 0xffff);
            if btci & 0x1000 != 0 {
                self.dp.push(DpAction::PopVlan);
            }
            if tci & 0x1000 != 0 {
                self.dp.push(DpAction::PushVlan {
                    vid: u16::try_from(tci & 0xfff).unwrap_or(0),
                    pcp: u8::try_from((tci >> 13) & 7).unwrap_or(0),
                });
            }
        }
        if get(&self.base, Field::EthType) == 0x0800 {
            let ipf = |k: &FlowKey, f: Field| {
                std::net::Ipv4Addr::from(u32::try_from(get(k, f)).unwrap_or(0))
            };
            let diff = |f: Field| get(flow, f) != get(&self.base, f);
            let byte = |f: Field| u8::try_from(get(flow, f)).unwrap_or(0);
            if diff(Field::Ipv4Src)
                || diff(Field::Ipv4Dst)
                || diff(Field::NwTos)
                || diff(Field::NwTtl)
            {
                self.dp.push(DpAction::SetIpv4 {
                    src: diff(Field::Ipv4Src).then(|| ipf(flow, Field::Ipv4Src)),
                    dst: diff(Field::Ipv4Dst).then(|| ipf(flow, Field::Ipv4Dst)),
                    tos: diff(Field::NwTos).then(|| byte(Field::NwTos)),
                    ttl: diff(Field::NwTtl).then(|| byte(Field::NwTtl)),
                });
            }
            let proto = match get(flow, Field::IpProto) {
                6 => Some("tcp"),
                17 => Some("udp"),
                132 => Some("sctp"),
                _ => None,
            };
            if let Some(proto) = proto
                && (diff(Field::TcpSrc) || diff(Field::TcpDst))
            {
                let port = |f: Field| u16::try_from(get(flow, f)).unwrap_or(0);
                self.dp.push(DpAction::SetL4Ports {
                    proto,
                    src: diff(Field::TcpSrc).then(|| port(Field::TcpSrc)),
                    dst: diff(Field::TcpDst).then(|| port(Field::TcpDst)),
                });
            }
        }
        if get(flow, Field::PktMark) != get(&self.base, Field::PktMark) {
            self.dp.push(DpAction::SetPktMark(
                u32::try_from(get(flow, Field::PktMark)).unwrap_or(0),
            ));
        }
        self.base = *flow;
    }

    fn learn(&mut self, b: usize, l: &crate::action::Learn, flow: &FlowKey, out: &mut Vec<Node>) {
        let (mut key, mut mask) = (FlowKey::ZERO, FlowKey::ZERO);
        let mut actions = Vec::new();
        let value_of = |src: &LearnSrc, wc: &mut FlowKey| match src {
            LearnSrc::Field(sf) => {
                sf.mark(wc);
                sf.read(flow)
            }
            LearnSrc::Imm(v) => *v,
        };
        for spec in &l.specs {
            match spec {
                LearnSpec::Match { dst, src } => {
                    let v = value_of(src, &mut self.wc);
                    dst.write(&mut key, v);
                    dst.mark(&mut mask);
                }
                LearnSpec::Load { dst, src } => {
                    let v = value_of(src, &mut self.wc);
                    actions.push(Action::Load {
                        dst: *dst,
                        value: v,
                    });
                }
                LearnSpec::Output { src } => {
                    let v = value_of(&LearnSrc::Field(*src), &mut self.wc);
                    actions.push(Action::Output {
                        port: OfPort(u32::try_from(v).unwrap_or(u32::MAX)),
                        max_len: 0,
                    });
                }
            }
        }
        let fm = FlowMod {
            command: Command::ModifyStrict,
            table: l.table,
            key: key.and(&mask),
            mask,
            priority: l.priority,
            cookie: l.cookie,
            cookie_mask: 0,
            idle_timeout: l.idle_timeout,
            hard_timeout: l.hard_timeout,
            flags: RuleFlags::default(),
            check_overlap: false,
            out_port: None,
            actions,
        };
        if self.side_effects {
            let mut text = format!(
                "table={} {} priority={}",
                l.table,
                crate::text::format_match(&fm.key, &fm.mask),
                l.priority
            );
            if l.idle_timeout != 0 {
                text.push_str(&format!(" idle={}", l.idle_timeout));
            }
            if l.hard_timeout != 0 {
                text.push_str(&format!(" hard={}", l.hard_timeout));
            }
            text.push_str(&format!(" actions={}", format_actions(&fm.actions)));
            out.push(Node::new(NodeKind::Detail, text));
            self.effects.push(SideEffect::Learn {
                bridge: b,
                flow_mod: Box::new(fm),
            });
        } else {
            out.push(Node::new(
                NodeKind::Warn,
                "suppressing side effects, so learn action ignored",
            ));
        }
    }

    /// The `NORMAL` action: VLAN-aware MAC learning and forwarding.
    fn normal(&mut self, b: usize, flow: &FlowKey, out: &mut Vec<Node>) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        mark(&mut self.wc, Field::EthSrc, u128::MAX);
        mark(&mut self.wc, Field::EthDst, u128::MAX);
        mark(&mut self.wc, Field::VlanTci, 0x1fff);
        let inp = in_port(flow);
        let Some(in_port) = bridge.port(inp) else {
            out.push(Node::new(NodeKind::Warn, "no input bundle, dropping"));
            return;
        };
        let tci = get(flow, Field::VlanTci);
        let vid = if tci & 0x1000 != 0 {
            u16::try_from(tci & 0xfff).unwrap_or(0)
        } else {
            0
        };
        let vlan = match in_port.vlan.input_vlan(vid) {
            Ok(v) => v,
            Err(why) => {
                let text = match why {
                    VlanRefusal::TaggedOnAccess { vid, tag } => format!(
                        "dropping VLAN {vid} tagged packet received on port {} configured as VLAN {tag} access port",
                        in_port.name
                    ),
                    VlanRefusal::NotTrunked { vid } => format!(
                        "dropping VLAN {vid} packet received on port {} not configured for trunking VLAN {vid}",
                        in_port.name
                    ),
                };
                out.push(Node::new(NodeKind::Error, text));
                out.push(Node::new(
                    NodeKind::Warn,
                    "disallowed VLAN VID for this input port, dropping",
                ));
                return;
            }
        };
        let src = mac_of(flow, Field::EthSrc);
        let dst = mac_of(flow, Field::EthDst);
        if !src.is_multicast() {
            if bridge.mac.lookup(vlan, src, self.now) != Some(inp) {
                out.push(Node::new(
                    NodeKind::Detail,
                    format!(
                        "learned that {src} is on port {} in VLAN {vlan}",
                        in_port.name
                    ),
                ));
            }
            self.effects.push(SideEffect::MacLearn {
                bridge: b,
                vlan,
                mac: src,
                port: inp,
            });
        }
        let learned = if dst.is_multicast() {
            None
        } else {
            bridge.mac.lookup(vlan, dst, self.now)
        };
        match learned {
            Some(p) if p == inp => {
                out.push(Node::new(
                    NodeKind::Detail,
                    "learned port is input port, dropping",
                ));
            }
            Some(p) => {
                out.push(Node::new(NodeKind::Detail, "forwarding to learned port"));
                if let Some(port) = bridge.port(p) {
                    self.normal_output(b, port, vlan, flow, out);
                }
            }
            None => {
                out.push(Node::new(
                    NodeKind::Detail,
                    "no learned MAC for destination, flooding",
                ));
                let targets: Vec<&Port> = bridge
                    .ports
                    .values()
                    .filter(|p| p.ofport != inp && p.vlan.carries(vlan))
                    .collect();
                for port in targets {
                    self.normal_output(b, port, vlan, flow, out);
                }
            }
        }
    }

    /// Sends a frame of VLAN `vlan` out of `port`, tagged or not as the port requires.
    fn normal_output(
        &mut self,
        b: usize,
        port: &Port,
        vlan: u16,
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) {
        let vid = port.vlan.output_vid(vlan);
        let pcp = get(flow, Field::VlanTci) & 0xe000;
        let tci = if vid != 0 || pcp != 0 {
            pcp | 0x1000 | u128::from(vid)
        } else {
            0
        };
        let mut f = *flow;
        f.set(Field::VlanTci.loc(), tci);
        self.output_port(b, port.ofport, &f, out);
    }
}

/// `set_field` on a whole field; VLAN VID/PCP views keep the tag present bit set.
fn set_field(flow: &mut FlowKey, field: Field, value: u128) {
    match field {
        Field::VlanVid | Field::DlVlan => {
            let tci = get(flow, Field::VlanTci);
            flow.set(
                Field::VlanTci.loc(),
                (tci & 0xe000) | 0x1000 | (value & 0xfff),
            );
        }
        Field::VlanPcp | Field::DlVlanPcp => {
            let tci = get(flow, Field::VlanTci);
            flow.set(
                Field::VlanTci.loc(),
                (tci & 0x0fff) | 0x1000 | ((value & 7) << 13),
            );
        }
        other => Subfield::whole(other).write(flow, value),
    }
}
