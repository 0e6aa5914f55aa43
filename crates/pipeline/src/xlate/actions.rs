//! Executing the shared [`Action`] model during translation.
//!
//! Every variant of [`fvs_openflow::Action`] is handled here, by an exhaustive `match`, so a new
//! variant cannot be forgotten. Each one is either **executed** or **not executed yet**:
//!
//! | executed | not executed yet (the trace says so, the packet goes on unchanged) |
//! |---|---|
//! | `output`, `NORMAL`, `FLOOD`, `ALL`, `IN_PORT`, `LOCAL`, `CONTROLLER`, `controller(...)`, `output(port=,max_len=)`, `output:SUBFIELD` | `enqueue`, `set_queue`, `pop_queue` (no QoS model) |
//! | `resubmit`, `goto_table`, `clone`, `exit`, `group` (see [`super::group`]) | `resubmit(,,ct)` (no connection tracker) |
//! | `mod_vlan_vid`, `mod_vlan_pcp`, `strip_vlan`/`pop_vlan`, `push_vlan` | `bundle`, `multipath` (no bundles) |
//! | `mod_dl_src/dst`, `mod_nw_src/dst`, `mod_nw_tos`, `mod_nw_ecn`, `mod_nw_ttl`, `mod_tp_src/dst`, `dec_ttl` | MPLS actions, `encap`, `decap` (no MPLS/NSH in the datapath model) |
//! | `set_field`, `load`, `move`, `set_tunnel`, `push`, `pop`, `write_metadata` | `ct`, `nat`, `ct_clear`, `sample`, `fin_timeout`, `check_pkt_larger`, `conjunction` |
//! | `learn` (without `limit`), `note`, `write_actions`, `clear_actions` | |
//! | `meter` (the datapath action `meter(N)` of the bridge's meter, see [`crate::meter`]) | |
//! | `controller(pause)` (freezes the rest, see [`super::freeze`]) | |
//!
//! "Not executed yet" is a trace line of the form ` >> ACTION is not executed by ferrovs yet,
//! skipped`; translation never panics on any action.

use super::{Ctx, MAX_DEPTH, SideEffect, get};
use crate::bits::{self, low_mask, mark, mark_field, read, set_masked, write};
use crate::text::{format_action, format_actions};
use crate::trace::{Node, NodeKind};
use fvs_flow::{Field, FlowKey, Match, PortNo};
use fvs_openflow::action::{Controller, PacketInReason, SetFieldSpelling};
use fvs_openflow::{Action, FlowMod, FlowModCommand, Learn, LearnSpec, LearnSrc, Output, SetField};

const ETH_TYPE_IPV4: u128 = 0x0800;
const ETH_TYPE_IPV6: u128 = 0x86dd;

impl Ctx<'_> {
    /// Runs a rule's action list (or a nested list) in bridge `b`, current table `table`.
    pub(super) fn actions(
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
        for (i, action) in actions.iter().enumerate() {
            if self.dropped || self.exit {
                return;
            }
            out.push(Node::new(NodeKind::Action, format_action(action)));
            let go_on = self.execute(b, table, action, flow, out);
            if self.is_freezing() {
                // A pause ran (here or in a resubmit): what is left is frozen, not run.
                self.unroll(actions.get(i + 1..).unwrap_or_default());
                return;
            }
            if !go_on {
                return;
            }
        }
    }

    /// Executes one action; false when the rest of the list must not run.
    fn execute(
        &mut self,
        b: usize,
        table: u8,
        action: &Action,
        flow: &mut FlowKey,
        out: &mut Vec<Node>,
    ) -> bool {
        match action {
            Action::Output(o) => self.output(b, o.port, o.max_len, flow, out),
            // The meter that enforces it, in the datapath; a flow-mod can name only a meter
            // that exists, and deleting one deletes its flows, so it is there.
            Action::Meter(m) => {
                if let Some(meter) = self.bridges.get(b).and_then(|br| br.meters().get(*m)) {
                    self.dp.push(crate::dpif::DpAction::Meter(meter.dp));
                }
            }
            Action::OutputTrunc { port, max_len } => {
                self.dp.push(crate::dpif::DpAction::Trunc(*max_len));
                self.output(b, *port, 0, flow, out);
            }
            Action::OutputReg { src, max_len } => {
                mark(&mut self.wc, src);
                let v = read(flow, src);
                let port = PortNo::from_of10(u16::try_from(v & 0xffff).unwrap_or(u16::MAX));
                out.push(Node::new(
                    NodeKind::Detail,
                    format!("output port is {port}"),
                ));
                self.output(b, port, *max_len, flow, out);
            }
            Action::Controller(c) if c.pause => {
                self.pause(reason_code(c), c.controller_id, c.userdata.clone(), flow);
            }
            Action::Controller(c) => {
                self.controller_to(
                    reason_code(c),
                    c.max_len,
                    c.controller_id,
                    c.userdata.clone(),
                    c.meter_id,
                    flow,
                );
            }
            Action::Resubmit(r) => {
                if r.ct {
                    not_executed(out, action);
                } else {
                    let t = r.table.map_or(table, |t| t.0);
                    self.resubmit(b, Some(r.in_port), t, flow, out);
                }
            }
            Action::GotoTable(t) => {
                self.resubmit(b, None, t.0, flow, out);
                return false;
            }
            Action::Clone(inner) => self.clone_actions(b, table, inner, flow, out),
            Action::Group(g) => self.group(b, table, *g, flow, out),
            Action::Exit => self.exit = true,
            Action::SetVlanVid {
                vid,
                push_if_needed,
            } => {
                let tci = get(flow, Field::VlanTci);
                mark_field(&mut self.wc, Field::VlanTci, 0x1fff);
                if tci & bits::VLAN_CFI != 0 || *push_if_needed {
                    let pcp = if tci & bits::VLAN_CFI != 0 {
                        tci & 0xe000
                    } else {
                        0
                    };
                    let tci = pcp | bits::VLAN_CFI | u128::from(*vid & 0xfff);
                    flow.set(Field::VlanTci.loc(), tci);
                }
            }
            Action::SetVlanPcp {
                pcp,
                push_if_needed,
            } => {
                let tci = get(flow, Field::VlanTci);
                mark_field(&mut self.wc, Field::VlanTci, 0xf000);
                if tci & bits::VLAN_CFI != 0 || *push_if_needed {
                    let vid = if tci & bits::VLAN_CFI != 0 {
                        tci & 0xfff
                    } else {
                        0
                    };
                    let tci = (u128::from(*pcp & 7) << 13) | bits::VLAN_CFI | vid;
                    flow.set(Field::VlanTci.loc(), tci);
                }
            }
            Action::PopVlan(_) => flow.set(Field::VlanTci.loc(), 0),
            Action::PushVlan(_) => {
                // The flow key holds one tag; pushing onto an untagged frame gives VID 0,
                // PCP 0, and a tagged frame keeps the values it had.
                let tci = get(flow, Field::VlanTci);
                flow.set(Field::VlanTci.loc(), tci | bits::VLAN_CFI);
            }
            Action::SetEthSrc(m) => self.rewrite(flow, Field::EthSrc, m.to_u128(), u128::MAX),
            Action::SetEthDst(m) => self.rewrite(flow, Field::EthDst, m.to_u128(), u128::MAX),
            Action::SetIpv4Src(a) => {
                if self.is_ipv4(flow) {
                    let v = u128::from(u32::from(*a));
                    self.rewrite(flow, Field::Ipv4Src, v, u128::MAX);
                }
            }
            Action::SetIpv4Dst(a) => {
                if self.is_ipv4(flow) {
                    let v = u128::from(u32::from(*a));
                    self.rewrite(flow, Field::Ipv4Dst, v, u128::MAX);
                }
            }
            Action::SetIpTos(tos) => {
                if self.is_ip(flow) {
                    self.rewrite(flow, Field::NwTos, u128::from(*tos), 0xfc);
                }
            }
            Action::SetIpEcn(ecn) => {
                if self.is_ip(flow) {
                    self.rewrite(flow, Field::NwTos, u128::from(*ecn), 0x03);
                }
            }
            Action::SetIpTtl(ttl) => {
                if self.is_ip(flow) {
                    self.rewrite(flow, Field::NwTtl, u128::from(*ttl), u128::MAX);
                }
            }
            Action::SetL4SrcPort(p) => {
                if self.is_l4(flow) {
                    self.rewrite(flow, Field::TcpSrc, u128::from(*p), u128::MAX);
                }
            }
            Action::SetL4DstPort(p) => {
                if self.is_l4(flow) {
                    self.rewrite(flow, Field::TcpDst, u128::from(*p), u128::MAX);
                }
            }
            Action::DecTtl { .. } => return self.dec_ttl(flow, out),
            Action::SetField(s) => self.set_field(s, flow),
            Action::Move { src, dst } => {
                mark(&mut self.wc, src);
                mark(&mut self.wc, dst);
                let v = read(flow, src);
                write(flow, dst, v);
                out.push(now_is(dst, flow));
            }
            Action::SetTunnel { id, .. } => flow.set(Field::TunId.loc(), u128::from(*id)),
            Action::StackPush(src) => {
                mark(&mut self.wc, src);
                let v = super::StackValue::new(read(flow, src), src.n_bits);
                self.stack.push(v);
            }
            Action::StackPop(dst) => match self.stack.pop().map(|v| v.value) {
                Some(v) => {
                    mark(&mut self.wc, dst);
                    write(flow, dst, v);
                    out.push(now_is(dst, flow));
                }
                None => out.push(Node::new(NodeKind::Warn, "stack underflow, pop ignored")),
            },
            Action::WriteMetadata { value, mask } => {
                let (v, m) = (u128::from(*value), u128::from(*mask));
                set_masked(flow, Field::Metadata, v, m);
            }
            Action::Learn(l) => self.learn(b, l, flow, out),
            Action::Note(_) => {}
            Action::ClearActions => {
                let mut was = std::mem::take(&mut self.action_set);
                was.sort_by_key(set_order);
                self.actset_output = None;
                flow.set(Field::ActsetOutput.loc(), u128::from(PortNo::UNSET.0));
                out.push(Node::new(
                    NodeKind::Detail,
                    format!("action set was: {}", format_actions(&was)),
                ));
            }
            Action::WriteActions(list) => {
                for a in list {
                    // The action set holds at most one action of each kind (one write per
                    // field): a later write replaces an earlier one.
                    self.action_set.retain(|old| set_slot(old) != set_slot(a));
                    self.action_set.push(a.clone());
                    if let Action::Output(o) = a {
                        self.actset_output = Some(o.port);
                        // Later tables may match it (`actset_output=P`).
                        flow.set(Field::ActsetOutput.loc(), u128::from(o.port.0));
                    }
                }
                let mut set = self.action_set.clone();
                set.sort_by_key(set_order);
                out.push(Node::new(
                    NodeKind::Detail,
                    format!("action set is: {}", format_actions(&set)),
                ));
            }
            Action::Enqueue { .. }
            | Action::SetQueue(_)
            | Action::PopQueue
            | Action::Bundle(_)
            | Action::Multipath(_)
            | Action::PushMpls(_)
            | Action::PopMpls(_)
            | Action::SetMplsLabel(_)
            | Action::SetMplsTc(_)
            | Action::SetMplsTtl(_)
            | Action::DecMplsTtl
            | Action::Encap(_)
            | Action::Decap { .. }
            | Action::Ct(_)
            | Action::Nat(_)
            | Action::CtClear
            | Action::Sample(_)
            | Action::FinTimeout { .. }
            | Action::CheckPktLarger { .. }
            | Action::Conjunction { .. } => not_executed(out, action),
        }
        true
    }

    /// `clone(...)`: the actions see a copy of the flow; the original continues unchanged.
    fn clone_actions(
        &mut self,
        b: usize,
        table: u8,
        inner: &[Action],
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) {
        if self.depth >= MAX_DEPTH {
            out.push(Node::new(
                NodeKind::Error,
                format!("over max translation depth {MAX_DEPTH}"),
            ));
            self.dropped = true;
            self.failure = Some(super::RECURSION_TOO_DEEP);
            return;
        }
        let mut copy = *flow;
        let saved_exit = self.exit;
        self.depth += 1;
        self.actions(b, table, inner, &mut copy, out);
        self.depth -= 1;
        self.exit = saved_exit;
        if self.is_freezing() {
            // A pause inside `clone` freezes only the clone's own actions, and nothing
            // after the clone runs, as in Open vSwitch.
            self.finish_freezing(b, &copy);
            self.exit = true;
        }
    }

    /// Runs and empties the action set at the end of a bridge's pipeline, in OpenFlow's
    /// order: tag pops, pushes, TTL decrement, field writes, then the output. The trace shows
    /// it as a pseudo-table `--` inside the first table's node, as Open vSwitch does.
    pub(super) fn run_action_set(&mut self, b: usize, flow: &mut FlowKey, out: &mut Vec<Node>) {
        // A paused pipeline's action set travels in the continuation.
        if self.action_set.is_empty() || self.dropped || self.is_freezing() {
            return;
        }
        let mut set = std::mem::take(&mut self.action_set);
        set.sort_by_key(set_order);
        let mut node = Node::new(NodeKind::Table, "--. Executing action set:");
        self.exit = false;
        let saved = std::mem::replace(&mut self.in_action_set, true);
        self.actions(b, 0, &set, flow, &mut node.children);
        self.in_action_set = saved;
        match out.last_mut() {
            Some(first_table) => first_table.children.push(node),
            None => out.push(node),
        }
    }

    /// A header rewrite: writes `value` under `mask` into `field` and marks those bits as
    /// deciding the result, as Open vSwitch does for the datapath's masked set actions.
    fn rewrite(&mut self, flow: &mut FlowKey, field: Field, value: u128, mask: u128) {
        set_masked(flow, field, value, mask);
        mark_field(
            &mut self.wc,
            field,
            mask & field.loc().full_mask().get(field.loc()),
        );
    }

    fn is_ipv4(&mut self, flow: &FlowKey) -> bool {
        get(flow, Field::EthType) == ETH_TYPE_IPV4
    }

    fn is_ip(&mut self, flow: &FlowKey) -> bool {
        matches!(get(flow, Field::EthType), ETH_TYPE_IPV4 | ETH_TYPE_IPV6)
    }

    /// IP with a transport header whose ports the `mod_tp_*` actions can rewrite.
    fn is_l4(&mut self, flow: &FlowKey) -> bool {
        if !self.is_ip(flow) {
            return false;
        }
        mark_field(&mut self.wc, Field::IpProto, 0xff);
        matches!(get(flow, Field::IpProto), 6 | 17 | 132)
    }

    /// `dec_ttl`: false (stop) when the TTL runs out and the packet goes to the controller.
    fn dec_ttl(&mut self, flow: &mut FlowKey, out: &mut Vec<Node>) -> bool {
        if !self.is_ip(flow) {
            return true;
        }
        mark_field(&mut self.wc, Field::NwTtl, 0xff);
        let ttl = get(flow, Field::NwTtl);
        if ttl > 1 {
            flow.set(Field::NwTtl.loc(), ttl - 1);
            true
        } else {
            let ip = if get(flow, Field::EthType) == ETH_TYPE_IPV6 {
                "IPv6"
            } else {
                "IPv4"
            };
            out.push(Node::new(
                NodeKind::Warn,
                format!("{ip} decrement TTL exception"),
            ));
            // The whole packet goes to the controller(s) with reason invalid_ttl.
            self.controller(2, u16::MAX, flow);
            false
        }
    }

    /// `set_field` and `load`: a masked write. VLAN VID/PCP writes change only a frame that
    /// has a tag (a tag is added by `push_vlan`, not by a field write).
    fn set_field(&mut self, s: &SetField, flow: &mut FlowKey) {
        let tagged = get(flow, Field::VlanTci) & bits::VLAN_CFI != 0;
        if matches!(
            s.field,
            Field::VlanVid | Field::VlanPcp | Field::DlVlan | Field::DlVlanPcp
        ) && !tagged
        {
            return;
        }
        // Marks on registers and metadata are harmless: the megaflow leaves them out.
        self.rewrite(flow, s.field, s.value, s.mask);
    }

    /// `learn`: builds the flow-mod the template describes from this packet.
    fn learn(&mut self, b: usize, l: &Learn, flow: &FlowKey, out: &mut Vec<Node>) {
        let mut m = Match::CATCHALL;
        let mut actions = Vec::new();
        for spec in &l.specs {
            match spec {
                LearnSpec::Match { dst, src } => {
                    let v = self.learn_value(src, flow);
                    write(&mut m.key, dst, v);
                    mark(&mut m.mask, dst);
                }
                LearnSpec::Load { dst, src } => {
                    let v = self.learn_value(src, flow);
                    actions.push(Action::SetField(SetField {
                        field: dst.field,
                        value: (v & low_mask(dst.n_bits)) << dst.ofs,
                        mask: low_mask(dst.n_bits) << dst.ofs,
                        spelling: SetFieldSpelling::Load,
                    }));
                }
                LearnSpec::Output { src } => {
                    let v = self.learn_value(&LearnSrc::Field(*src), flow);
                    let port = PortNo::from_of10(u16::try_from(v & 0xffff).unwrap_or(u16::MAX));
                    actions.push(Action::Output(Output { port, max_len: 0 }));
                }
            }
        }
        m.key = m.key.and(&m.mask);
        if l.limit != 0 || l.result_dst.is_some() {
            out.push(Node::new(
                NodeKind::Warn,
                "learn limit and result_dst are not executed by ferrovs yet, ignored",
            ));
        }
        let mut fm = FlowMod::new(FlowModCommand::ModifyStrict);
        fm.table = Some(l.table);
        fm.r#match = m;
        fm.priority = l.priority;
        fm.cookie = l.cookie;
        fm.new_cookie = Some(l.cookie);
        fm.idle_timeout = l.idle_timeout;
        fm.hard_timeout = l.hard_timeout;
        fm.flags.send_flow_rem = l.flags.send_flow_rem;
        fm.actions = actions;
        if self.side_effects {
            let mut text = format!(
                "table={} {} priority={}",
                l.table.0,
                crate::text::format_match(&m),
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

    /// A learn source's value: packet bits (which then decided the result) or a constant.
    fn learn_value(&mut self, src: &LearnSrc, flow: &FlowKey) -> u128 {
        match src {
            LearnSrc::Field(sf) => {
                mark(&mut self.wc, sf);
                read(flow, sf)
            }
            LearnSrc::Immediate(v) => *v,
        }
    }
}

/// The ` -> FIELD is now VALUE` line `move` and `pop` leave in a trace.
fn now_is(dst: &fvs_flow::Subfield, flow: &FlowKey) -> Node {
    let v = read(flow, dst);
    let v = if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    };
    Node::new(NodeKind::Detail, format!("{dst} is now {v}"))
}

/// The trace line for an action the pipeline does not execute yet.
fn not_executed(out: &mut Vec<Node>, action: &Action) {
    let text = format_action(action);
    let name = text
        .split([':', '(', ','])
        .next()
        .unwrap_or(text.as_str())
        .to_owned();
    out.push(Node::new(
        NodeKind::Warn,
        format!("{name} is not executed by ferrovs yet, skipped"),
    ));
}

/// The OpenFlow packet-in reason code of a `controller(...)` action.
fn reason_code(c: &Controller) -> u8 {
    match c.reason {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
        PacketInReason::ActionSet => 3,
        PacketInReason::Group => 4,
        PacketInReason::PacketOut => 5,
        // The datapath's codes for Open vSwitch's internal misses are the same numbers.
        PacketInReason::Internal(n) => n,
    }
}

/// Which slot of the action set an action occupies: its kind, and for field writes the field.
#[derive(PartialEq, Eq)]
enum Slot {
    Kind(std::mem::Discriminant<Action>),
    Field(Field),
}

fn set_slot(a: &Action) -> Slot {
    match a {
        Action::SetField(s) => Slot::Field(s.field),
        other => Slot::Kind(std::mem::discriminant(other)),
    }
}

/// Position in the action set's execution order (OpenFlow 1.3 §5.10).
fn set_order(a: &Action) -> u8 {
    match a {
        Action::PopVlan(_) | Action::PopMpls(_) => 0,
        Action::PushMpls(_) => 1,
        Action::PushVlan(_) => 2,
        Action::DecTtl { .. } | Action::DecMplsTtl => 3,
        Action::Group(_) => 6,
        Action::Output(_)
        | Action::OutputTrunc { .. }
        | Action::OutputReg { .. }
        | Action::Controller(_)
        | Action::Enqueue { .. } => 7,
        Action::SetQueue(_) | Action::PopQueue => 5,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_set_runs_pops_before_writes_before_output() {
        let out = Action::Output(Output {
            port: PortNo(1),
            max_len: 0,
        });
        let pop = Action::PopVlan(fvs_openflow::action::PopVlanSpelling::StripVlan);
        let set = Action::SetTunnel {
            id: 1,
            spelling: fvs_openflow::action::SetTunnelSpelling::SetTunnel,
        };
        let mut v = [out.clone(), set.clone(), pop.clone()];
        v.sort_by_key(set_order);
        assert_eq!(v, [pop, set, out]);
    }

    #[test]
    fn field_writes_share_a_slot_only_for_the_same_field() {
        let w = |field| {
            Action::SetField(SetField {
                field,
                value: 1,
                mask: 1,
                spelling: SetFieldSpelling::SetField,
            })
        };
        assert!(set_slot(&w(Field::Reg0)) == set_slot(&w(Field::Reg0)));
        assert!(set_slot(&w(Field::Reg0)) != set_slot(&w(Field::Reg1)));
    }
}
