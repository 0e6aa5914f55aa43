//! The `NORMAL` action: a VLAN-aware learning switch over the bridge's ports.
//!
//! The input port's VLAN role decides the frame's VLAN (or refuses it); the source MAC is
//! learned in that VLAN (as a side effect); the destination goes to its learned port, or is
//! flooded to every other port that carries the VLAN and is floodable (no `NO_FLOOD`), never
//! back out of the input port. Each output is tagged or untagged as the output port's role
//! requires; an output to a port with `NO_FWD` is skipped (`output_port`).

use super::{Ctx, SideEffect, get, mac_of};
use crate::bits::{in_port, mark_field};
use crate::port::{Port, VlanRefusal};
use crate::trace::{Node, NodeKind};
use fvs_flow::{Field, FlowKey};

const ETH_TYPE_ARP: u128 = 0x0806;
const ARP_OP_REQUEST: u128 = 1;
const BROADCAST: u128 = 0xffff_ffff_ffff;

impl Ctx<'_> {
    /// Open vSwitch asks of every frame NORMAL learns from whether it is a gratuitous ARP (a
    /// broadcast ARP reply, or a broadcast request for its own address), and its megaflows
    /// show the fields that question read: the ARP opcode of a broadcast ARP, and both
    /// addresses of a broadcast request.
    fn gratuitous_arp_bits(&mut self, flow: &FlowKey) {
        if get(flow, Field::EthType) != ETH_TYPE_ARP || get(flow, Field::EthDst) != BROADCAST {
            return;
        }
        mark_field(&mut self.wc, Field::ArpOp, u128::MAX);
        if get(flow, Field::ArpOp) == ARP_OP_REQUEST {
            mark_field(&mut self.wc, Field::ArpSpa, u128::MAX);
            mark_field(&mut self.wc, Field::ArpTpa, u128::MAX);
        }
    }

    /// The `NORMAL` action: VLAN-aware MAC learning and forwarding.
    pub(super) fn normal(&mut self, b: usize, flow: &FlowKey, out: &mut Vec<Node>) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        mark_field(&mut self.wc, Field::EthSrc, u128::MAX);
        mark_field(&mut self.wc, Field::EthDst, u128::MAX);
        mark_field(&mut self.wc, Field::VlanTci, 0x1fff);
        let inp = in_port(flow);
        let Some(in_port) = bridge.port(inp) else {
            out.push(Node::new(NodeKind::Warn, "no input bundle, dropping"));
            return;
        };
        // A VLAN EtherType without a whole tag behind it (extraction stopped there): the
        // frame's VLAN is unknowable, so it is dropped, as Open vSwitch does.
        mark_field(&mut self.wc, Field::EthType, u128::MAX);
        let ethertype = get(flow, Field::EthType);
        if get(flow, Field::VlanTci) & 0x1000 == 0 && (ethertype == 0x8100 || ethertype == 0x88a8) {
            out.push(Node::new(
                NodeKind::Error,
                format!(
                    "dropping packet with partial VLAN tag received on port {}",
                    in_port.name
                ),
            ));
            out.push(Node::new(NodeKind::Warn, "partial VLAN tag, dropping"));
            return;
        }
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
        self.gratuitous_arp_bits(flow);
        let src = mac_of(flow, Field::EthSrc);
        let dst = mac_of(flow, Field::EthDst);
        if !src.is_multicast() {
            // Open vSwitch reports learning only when it happens, i.e. with side effects.
            if self.side_effects && bridge.mac.lookup(vlan, src, self.now) != Some(inp) {
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
        } else if dst == src {
            // The source was just learned on the input port (the learning itself is a side
            // effect applied later, so the table does not show it yet).
            Some(inp)
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
                    .filter(|p| p.ofport != inp && p.vlan.carries(vlan) && !p.config.no_flood())
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
