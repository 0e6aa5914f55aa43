//! `normalize_for(protocol)`: what a flow-mod looks like after a round trip through the wire
//! encoding of a protocol, which is what `ovs-ofctl parse-flow` prints.
//!
//! ovs-ofctl encodes the parsed flow for the chosen protocol and prints the decoded message,
//! so each version's encoding choices show up in the text: OpenFlow 1.0 has no `set_field`
//! (it becomes a legacy action such as `mod_nw_src`, or an NXM `load`), OpenFlow 1.2+ has no
//! `mod_dl_src` (it becomes `set_field`), a masked `set_field` before 1.5 travels as `load`,
//! and so on. This module states those rules directly on the model. It stands in for the real
//! wire codecs until they exist, and will then be checked against (or replaced by) an
//! encode-decode round trip.
//!
//! # The rules (each found with the oracle)
//!
//! | Model | OpenFlow 1.0 (+NXM) | 1.1 | 1.2 – 1.4 | 1.5 |
//! |---|---|---|---|---|
//! | pop VLAN | `strip_vlan` | `pop_vlan` | `pop_vlan` | `pop_vlan` |
//! | `mod_vlan_vid` / `pcp` | as is | `push_vlan` if untagged, `set_vlan_*` | `push_vlan` if untagged, `set_field` (VID with 0x1000) | same |
//! | `set_field`, unmasked | legacy action (`mod_dl_*`, `mod_nw_*`, `mod_tp_*`, `mod_vlan_*`, `strip_vlan`) or `load` | legacy (incl. `mod_nw_ecn`) or `load` | `set_field` | `set_field` |
//! | `set_field`, masked | as above | as above | `load` | `set_field` with mask |
//! | `load` | `load` | `load` | `load` | `set_field` |
//! | `mod_dl_*`, `mod_nw_src/dst/tos/ecn`, `mod_tp_*`, `set_tunnel*`, `set_mpls_label/tc` | as is (`mod_nw_ecn`/`mod_nw_ttl` as `load`) | as is | `set_field` | `set_field` |
//! | `push_vlan` | dropped (`mod_vlan_*` push a tag themselves) | as is | as is | as is |
//! | `enqueue` | as is | `set_queue,output,pop_queue` | same | same |
//! | `goto_table` | `resubmit(,T)` | as is | as is | as is |
//! | `clear_actions`, `write_actions`, `meter` | dropped | as is | as is | as is |
//! | `note` | zero-padded to the 8-byte action boundary, every version | | | |
//! | `load` wider than 64 bits | split into 64-bit loads, every version | | | |
//! | match on `vlan_tci` | as is | as is | PCP bits kept only with a present tag | same |
//! | table | none without the table-id extension; "no table" shown as 255 with it | 0 when none | same | same |
//! | `importance` | dropped | dropped | dropped before 1.4 | kept |
//! | `reset_counts` / `no_*_counts` | dropped | dropped | from 1.2 / 1.3 | kept |

use crate::action::{Action, PopVlanSpelling, SetField, SetFieldSpelling};
use crate::check::PacketView;
use crate::flow_mod::FlowMod;
use crate::protocol::Protocol;
use crate::types::{PortNo, field_width, low_mask};
use crate::{Output, Resubmit};
use fvs_flow::matching::ip_proto;
use fvs_flow::{Field, Match};

/// The flow-mod as it reads after encoding for `protocol` and decoding again.
pub fn normalize_flow_mod(fm: &FlowMod, protocol: Protocol) -> FlowMod {
    let mut out = fm.clone();
    out.actions = normalize_for(&fm.actions, &fm.r#match, protocol);
    if protocol.version() >= 3 {
        out.r#match = oxm_vlan(&fm.r#match);
    }
    if !protocol.has_table_id() {
        out.table = None;
    }
    if protocol.version() < 5 {
        out.importance = 0;
    }
    if protocol.version() < 3 {
        out.flags.reset_counts = false;
    }
    if protocol.version() < 4 {
        out.flags.no_packet_counts = false;
        out.flags.no_byte_counts = false;
    }
    out
}

/// OXM has no `vlan_tci`: it carries `vlan_vid` (12 bits plus the "present" bit) and
/// `vlan_pcp`, and `vlan_pcp` only for a flow that matches a present tag. A TCI match comes
/// back with the priority bits dropped unless the tag is matched as present.
fn oxm_vlan(m: &Match) -> Match {
    const CFI: u128 = 0x1000;
    const VID_AND_CFI: u128 = 0x1fff;
    const PCP: u128 = 0xe000;
    let (value, mask) = m.get(Field::VlanTci);
    let mut new_mask = mask & VID_AND_CFI;
    if mask & CFI != 0 && value & CFI != 0 {
        new_mask |= mask & PCP;
    }
    if new_mask == mask {
        return *m;
    }
    let mut out = *m;
    out.set_masked(Field::VlanTci, value & new_mask, new_mask);
    out
}

/// The action list as it reads after encoding for `protocol` and decoding again. `m` is the
/// flow's match, which some encodings consult (whether a VLAN tag must be pushed, whether a
/// port rewrite is TCP or UDP).
pub fn normalize_for(actions: &[Action], m: &Match, protocol: Protocol) -> Vec<Action> {
    let mut view = PacketView::from_match(m);
    let mut out = Vec::with_capacity(actions.len());
    normalize_list(actions, &mut view, protocol, &mut out);
    out
}

fn normalize_list(
    actions: &[Action],
    view: &mut PacketView,
    protocol: Protocol,
    out: &mut Vec<Action>,
) {
    for a in actions {
        normalize_one(a, view, protocol, out);
        view.apply(a);
    }
}

fn set_field(field: Field, value: u128) -> Action {
    Action::SetField(SetField {
        field,
        value,
        mask: low_mask(field_width(field)),
        spelling: SetFieldSpelling::SetField,
    })
}

fn normalize_one(a: &Action, view: &PacketView, protocol: Protocol, out: &mut Vec<Action>) {
    let version = protocol.version();
    match a {
        Action::PopVlan(_) => out.push(Action::PopVlan(if version == 1 {
            PopVlanSpelling::StripVlan
        } else {
            PopVlanSpelling::PopVlan
        })),
        Action::SetField(sf) => normalize_set_field(sf, version, view, out),
        // OpenFlow 1.0 has no push_vlan: its mod_vlan_vid/mod_vlan_pcp push a tag when the
        // packet has none, so Open vSwitch writes nothing for it (a rule added in 1.1+ as
        // `push_vlan,set_field:...->vlan_vid` reads `mod_vlan_vid` in 1.0).
        Action::PushVlan(_) if version == 1 => {}
        Action::SetVlanVid {
            vid,
            push_if_needed,
        } => match version {
            1 => out.push(Action::SetVlanVid {
                vid: *vid,
                push_if_needed: true,
            }),
            _ => {
                if *push_if_needed && !view.has_vlan() {
                    out.push(Action::PushVlan(0x8100));
                }
                if version == 2 {
                    out.push(Action::SetVlanVid {
                        vid: *vid,
                        push_if_needed: false,
                    });
                } else {
                    out.push(set_field(Field::VlanVid, u128::from(*vid | 0x1000)));
                }
            }
        },
        Action::SetVlanPcp {
            pcp,
            push_if_needed,
        } => match version {
            1 => out.push(Action::SetVlanPcp {
                pcp: *pcp,
                push_if_needed: true,
            }),
            _ => {
                if *push_if_needed && !view.has_vlan() {
                    out.push(Action::PushVlan(0x8100));
                }
                if version == 2 {
                    out.push(Action::SetVlanPcp {
                        pcp: *pcp,
                        push_if_needed: false,
                    });
                } else {
                    out.push(set_field(Field::VlanPcp, u128::from(*pcp)));
                }
            }
        },
        Action::SetEthSrc(mac) if version >= 3 => out.push(set_field(Field::EthSrc, mac.to_u128())),
        Action::SetEthDst(mac) if version >= 3 => out.push(set_field(Field::EthDst, mac.to_u128())),
        Action::SetIpv4Src(ip) if version >= 3 => {
            out.push(set_field(Field::Ipv4Src, u128::from(u32::from(*ip))));
        }
        Action::SetIpv4Dst(ip) if version >= 3 => {
            out.push(set_field(Field::Ipv4Dst, u128::from(u32::from(*ip))));
        }
        Action::SetIpTos(tos) if version >= 3 => {
            out.push(set_field(Field::IpDscp, u128::from(tos >> 2)))
        }
        Action::SetIpEcn(ecn) if version >= 3 => {
            out.push(set_field(Field::IpEcn, u128::from(*ecn)))
        }
        Action::SetL4SrcPort(p) if version >= 3 => {
            out.push(set_field(l4_field(view, true), u128::from(*p)));
        }
        Action::SetL4DstPort(p) if version >= 3 => {
            out.push(set_field(l4_field(view, false), u128::from(*p)));
        }
        Action::SetTunnel { id, .. } if version >= 3 => {
            out.push(set_field(Field::TunId, u128::from(*id)))
        }
        Action::SetMplsLabel(l) if version >= 3 => {
            out.push(set_field(Field::MplsLabel, u128::from(*l)))
        }
        Action::SetMplsTc(t) if version >= 3 => out.push(set_field(Field::MplsTc, u128::from(*t))),
        Action::Enqueue { port, queue } if version >= 2 => {
            out.push(Action::SetQueue(*queue));
            out.push(Action::Output(Output {
                port: *port,
                max_len: 0,
            }));
            out.push(Action::PopQueue);
        }
        Action::GotoTable(t) if version == 1 => out.push(Action::Resubmit(Resubmit {
            in_port: PortNo::IN_PORT,
            table: Some(*t),
            ct: false,
        })),
        // Notes travel padded so that the action is a multiple of 8 bytes long (10 bytes of
        // header before the note's own bytes).
        Action::Note(bytes) => {
            let padded = (bytes.len() + 10).div_ceil(8) * 8 - 10;
            let mut b = bytes.clone();
            b.resize(padded, 0);
            out.push(Action::Note(b));
        }
        // OpenFlow 1.0 has no TTL action; Nicira's `load` carries it.
        Action::SetIpTtl(ttl) if version == 1 => out.push(Action::SetField(SetField {
            field: Field::NwTtl,
            value: u128::from(*ttl),
            mask: low_mask(field_width(Field::NwTtl)),
            spelling: SetFieldSpelling::Load,
        })),
        // OpenFlow 1.0 has no ECN action; Nicira's `load` carries it.
        Action::SetIpEcn(ecn) if version == 1 => out.push(Action::SetField(SetField {
            field: Field::IpEcn,
            value: u128::from(*ecn),
            mask: low_mask(field_width(Field::IpEcn)),
            spelling: SetFieldSpelling::Load,
        })),
        // OpenFlow 1.0 has no instructions beyond what NXM extensions emulate; these vanish.
        Action::ClearActions | Action::WriteActions(_) | Action::Meter(_) if version == 1 => {}
        Action::Clone(list) => {
            let mut inner = *view;
            let mut v = Vec::new();
            normalize_list(list, &mut inner, protocol, &mut v);
            out.push(Action::Clone(v));
        }
        Action::WriteActions(list) => {
            let mut inner = *view;
            let mut v = Vec::new();
            normalize_list(list, &mut inner, protocol, &mut v);
            out.push(Action::WriteActions(v));
        }
        Action::Ct(ct) => {
            let mut inner = *view;
            let mut v = Vec::new();
            normalize_list(&ct.actions, &mut inner, protocol, &mut v);
            let mut ct = ct.clone();
            ct.actions = v;
            out.push(Action::Ct(ct));
        }
        other => out.push(other.clone()),
    }
}

/// The L4 port field a `mod_tp_src`/`mod_tp_dst` rewrites, from the flow's IP protocol.
fn l4_field(view: &PacketView, src: bool) -> Field {
    match (view.ip_proto(), src) {
        (Some(ip_proto::UDP), true) => Field::UdpSrc,
        (Some(ip_proto::UDP), false) => Field::UdpDst,
        (Some(ip_proto::SCTP), true) => Field::SctpSrc,
        (Some(ip_proto::SCTP), false) => Field::SctpDst,
        (_, true) => Field::TcpSrc,
        (_, false) => Field::TcpDst,
    }
}

/// `set_field` / `load` for one version (see the module docs).
fn normalize_set_field(sf: &SetField, version: u8, view: &PacketView, out: &mut Vec<Action>) {
    let full = low_mask(field_width(sf.field)) == sf.mask;
    let as_load = Action::SetField(SetField {
        spelling: SetFieldSpelling::Load,
        ..*sf
    });
    let as_set_field = Action::SetField(SetField {
        spelling: SetFieldSpelling::SetField,
        ..*sf
    });
    if version >= 6 {
        out.push(as_set_field);
        return;
    }
    if sf.spelling == SetFieldSpelling::Load {
        out.push(as_load);
        return;
    }
    if version >= 3 {
        out.push(if full { as_set_field } else { as_load });
        return;
    }
    // OpenFlow 1.0 and 1.1: the legacy action for the field if there is one, else NXM `load`.
    let v = sf.value;
    let legacy = match sf.field {
        Field::VlanTci if version == 1 => {
            if v & 0x1000 != 0 {
                out.push(Action::SetVlanVid {
                    vid: (v & 0xfff) as u16,
                    push_if_needed: true,
                });
                out.push(Action::SetVlanPcp {
                    pcp: ((v >> 13) & 7) as u8,
                    push_if_needed: true,
                });
            } else {
                out.push(Action::PopVlan(PopVlanSpelling::StripVlan));
            }
            return;
        }
        Field::VlanTci => {
            if v & 0x1000 != 0 {
                if !view.has_vlan() {
                    out.push(Action::PushVlan(0x8100));
                }
                out.push(Action::SetVlanVid {
                    vid: (v & 0xfff) as u16,
                    push_if_needed: false,
                });
                out.push(Action::SetVlanPcp {
                    pcp: ((v >> 13) & 7) as u8,
                    push_if_needed: false,
                });
            } else {
                out.push(Action::PopVlan(PopVlanSpelling::PopVlan));
            }
            return;
        }
        Field::VlanVid => Action::SetVlanVid {
            vid: (v & 0xfff) as u16,
            push_if_needed: version == 1,
        },
        Field::VlanPcp => Action::SetVlanPcp {
            pcp: (v & 7) as u8,
            push_if_needed: version == 1,
        },
        Field::EthSrc => Action::SetEthSrc(crate::EthAddr::from_u128(v)),
        Field::EthDst => Action::SetEthDst(crate::EthAddr::from_u128(v)),
        Field::Ipv4Src => Action::SetIpv4Src((v as u32).into()),
        Field::Ipv4Dst => Action::SetIpv4Dst((v as u32).into()),
        Field::NwTos => Action::SetIpTos(v as u8),
        Field::IpDscp => Action::SetIpTos((v as u8) << 2),
        Field::IpEcn if version == 2 => Action::SetIpEcn(v as u8),
        Field::TcpSrc | Field::UdpSrc => Action::SetL4SrcPort(v as u16),
        Field::TcpDst | Field::UdpDst => Action::SetL4DstPort(v as u16),
        _ => as_load,
    };
    out.push(legacy);
}
