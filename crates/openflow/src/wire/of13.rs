//! Action lists in every version, OpenFlow 1.1+'s own actions (`OFPAT_*`), and instructions
//! (`OFPIT_*`).
//!
//! An action list is encoded action by action: first the version's own action for it
//! (OpenFlow 1.0's in [`super::of10`], 1.1+'s here), else a Nicira extension
//! ([`super::nx`]). The model's instruction variants (`meter`, `clear_actions`,
//! `write_actions`, `write_metadata`, `goto_table`) become instructions in 1.1+, and every
//! other action goes into one `apply_actions` instruction, in the order OpenFlow requires.

use super::buf::{Put, Reader};
use super::error::NX_VENDOR_ID;
use super::oxm::{self, Flavor};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::{Action, Output, PopVlanSpelling, SetField, SetFieldSpelling};
use crate::types::{GroupId, MeterId, PortNo, QueueId, TableId, field_width, low_mask};
use fvs_flow::Field;

/// `OFPAT_*` action types of OpenFlow 1.1+ (1.3 numbering).
mod at {
    pub(super) const OUTPUT: u16 = 0;
    pub(super) const SET_MPLS_TTL: u16 = 15;
    pub(super) const DEC_MPLS_TTL: u16 = 16;
    pub(super) const PUSH_VLAN: u16 = 17;
    pub(super) const POP_VLAN: u16 = 18;
    pub(super) const PUSH_MPLS: u16 = 19;
    pub(super) const POP_MPLS: u16 = 20;
    pub(super) const SET_QUEUE: u16 = 21;
    pub(super) const GROUP: u16 = 22;
    pub(super) const SET_NW_TTL: u16 = 23;
    pub(super) const DEC_NW_TTL: u16 = 24;
    pub(super) const SET_FIELD: u16 = 25;
    pub(super) const COPY_FIELD: u16 = 28;
    pub(super) const METER: u16 = 29;
    pub(super) const EXPERIMENTER: u16 = 0xffff;
}

/// `OFPIT_*` instruction types.
mod it {
    pub(super) const GOTO_TABLE: u16 = 1;
    pub(super) const WRITE_METADATA: u16 = 2;
    pub(super) const WRITE_ACTIONS: u16 = 3;
    pub(super) const APPLY_ACTIONS: u16 = 4;
    pub(super) const CLEAR_ACTIONS: u16 = 5;
    pub(super) const METER: u16 = 6;
}

fn unencodable(a: &Action, v: Version) -> EncodeError {
    EncodeError::Action {
        action: a.ovs_name(),
        version: v,
    }
}

/// Writes a list of actions (no instructions) in `v`.
pub(crate) fn put_actions(
    out: &mut Vec<u8>,
    list: &[Action],
    v: Version,
) -> Result<(), EncodeError> {
    for a in list {
        let done = if v == Version::Of10 {
            super::of10::put_action(out, a)
        } else {
            put_action(out, a, v)?
        };
        if !done && !super::nx::put_action(out, a, v)? {
            return Err(unencodable(a, v));
        }
    }
    Ok(())
}

fn simple(out: &mut Vec<u8>, t: u16) {
    out.put_u16(t);
    out.put_u16(8);
}

fn set_field(
    out: &mut Vec<u8>,
    field: Field,
    value: u128,
    mask: Option<u128>,
    v: Version,
) -> Result<(), EncodeError> {
    let h = oxm::header_for(field, Flavor::Oxm(v)).ok_or(EncodeError::Field {
        field: field.name(),
        version: v,
    })?;
    let at = out.len();
    out.put_u16(at::SET_FIELD);
    out.put_u16(0);
    oxm::put_entry(out, h, value, mask);
    out.pad_to_rel(at);
    let len = out.len() - at;
    out.set_u16(at + 2, len as u16);
    Ok(())
}

trait PadRel {
    fn pad_to_rel(&mut self, at: usize);
}

impl PadRel for Vec<u8> {
    fn pad_to_rel(&mut self, at: usize) {
        let len = self.len() - at;
        self.put_zeros(len.next_multiple_of(8) - len);
    }
}

/// Writes `a` as an OpenFlow 1.1+ action; `Ok(false)` when only an extension carries it.
fn put_action(out: &mut Vec<u8>, a: &Action, v: Version) -> Result<bool, EncodeError> {
    match a {
        Action::Output(o) => {
            out.put_u16(at::OUTPUT);
            out.put_u16(16);
            out.put_u32(o.port.0);
            out.put_u16(o.max_len);
            out.put_zeros(6);
        }
        Action::Group(g) => {
            simple(out, at::GROUP);
            out.put_u32(g.0);
        }
        Action::SetQueue(q) => {
            simple(out, at::SET_QUEUE);
            out.put_u32(q.0);
        }
        Action::PushVlan(e) | Action::PushMpls(e) | Action::PopMpls(e) => {
            simple(
                out,
                match a {
                    Action::PushVlan(_) => at::PUSH_VLAN,
                    Action::PushMpls(_) => at::PUSH_MPLS,
                    _ => at::POP_MPLS,
                },
            );
            out.put_u16(*e);
            out.put_u16(0);
        }
        Action::PopVlan(_) => {
            simple(out, at::POP_VLAN);
            out.put_u32(0);
        }
        Action::SetMplsTtl(t) | Action::SetIpTtl(t) => {
            let ty = if matches!(a, Action::SetMplsTtl(_)) {
                at::SET_MPLS_TTL
            } else {
                at::SET_NW_TTL
            };
            simple(out, ty);
            out.put_u8(*t);
            out.put_zeros(3);
        }
        Action::Meter(m) if v >= Version::Of15 => {
            simple(out, at::METER);
            out.put_u32(m.0);
        }
        Action::DecMplsTtl => {
            simple(out, at::DEC_MPLS_TTL);
            out.put_u32(0);
        }
        Action::DecTtl {
            controller_ids: None,
        } => {
            simple(out, at::DEC_NW_TTL);
            out.put_u32(0);
        }
        Action::SetField(sf) if v >= Version::Of12 => {
            let full = low_mask(field_width(sf.field));
            let masked = sf.mask & full != full;
            if v < Version::Of15 && (sf.spelling == SetFieldSpelling::Load || masked) {
                return Ok(false);
            }
            set_field(
                out,
                sf.field,
                sf.value & sf.mask,
                masked.then_some(sf.mask & full),
                v,
            )?;
        }
        // Header rewrites without their own action in 1.2+ travel as `set_field`.
        Action::SetEthSrc(m) if v >= Version::Of12 => {
            set_field(out, Field::EthSrc, m.to_u128(), None, v)?
        }
        Action::SetEthDst(m) if v >= Version::Of12 => {
            set_field(out, Field::EthDst, m.to_u128(), None, v)?
        }
        Action::SetIpv4Src(ip) if v >= Version::Of12 => {
            set_field(out, Field::Ipv4Src, u128::from(u32::from(*ip)), None, v)?;
        }
        Action::SetIpv4Dst(ip) if v >= Version::Of12 => {
            set_field(out, Field::Ipv4Dst, u128::from(u32::from(*ip)), None, v)?;
        }
        // OpenFlow 1.5's own `move` (Nicira's `NXAST_REG_MOVE` serves 1.0 to 1.4).
        Action::Move { src, dst } if v >= Version::Of15 => {
            let at = out.len();
            out.put_u16(at::COPY_FIELD);
            out.put_u16(0);
            out.put_u16(src.n_bits);
            out.put_u16(src.ofs);
            out.put_u16(dst.ofs);
            out.put_u16(0);
            for sf in [src, dst] {
                let h = oxm::header_for(sf.field, Flavor::Oxm(v)).ok_or(EncodeError::Field {
                    field: sf.field.name(),
                    version: v,
                })?;
                oxm::put_header(out, h);
            }
            out.pad_to_rel(at);
            let len = out.len() - at;
            out.set_u16(at + 2, len as u16);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Reads an action list of version `v`.
pub(crate) fn pull_actions(bytes: &[u8], v: Version) -> Result<Vec<Action>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        let bad_len = |what: String| DecodeError::new(OfpError::ActionBadLen, what);
        let (Ok(t), Ok(len)) = (r.peek_u16(0), r.peek_u16(2)) else {
            return Err(bad_len("action header is truncated".into()));
        };
        let len = usize::from(len);
        if len < 8 || len % 8 != 0 || len > r.len() {
            return Err(bad_len(format!("action type {t} has length {len}")));
        }
        let mut a = r.take(len).map_err(|_| bad_len("action".into()))?;
        a.skip(4).map_err(|_| bad_len("action".into()))?;
        let action = if t == at::EXPERIMENTER {
            let vendor = a.u32().map_err(|_| bad_len("vendor action".into()))?;
            if vendor != NX_VENDOR_ID {
                return Err(DecodeError::new(
                    OfpError::ActionBadVendor,
                    format!("action vendor {vendor:#x}"),
                ));
            }
            super::nx::pull_action(&mut a, v)?
        } else if v == Version::Of10 {
            super::of10::pull_action(t, &mut a)?
        } else {
            pull_action(t, &mut a, v)?
        };
        out.push(action);
    }
    Ok(out)
}

fn pull_action(t: u16, r: &mut Reader<'_>, v: Version) -> Result<Action, DecodeError> {
    let e = |_| DecodeError::new(OfpError::ActionBadLen, format!("action type {t}"));
    let need = |n: usize| {
        if r.len() == n {
            Ok(())
        } else {
            Err(DecodeError::new(
                OfpError::ActionBadLen,
                format!("action type {t} has {} bytes of body", r.len()),
            ))
        }
    };
    Ok(match t {
        at::OUTPUT => {
            need(12)?;
            Action::Output(Output {
                port: PortNo(r.u32().map_err(e)?),
                max_len: r.u16().map_err(e)?,
            })
        }
        at::GROUP => {
            need(4)?;
            Action::Group(GroupId(r.u32().map_err(e)?))
        }
        at::SET_QUEUE => {
            need(4)?;
            Action::SetQueue(QueueId(r.u32().map_err(e)?))
        }
        at::PUSH_VLAN | at::PUSH_MPLS | at::POP_MPLS => {
            need(4)?;
            let et = r.u16().map_err(e)?;
            match t {
                at::PUSH_VLAN => {
                    if et != 0x8100 && et != 0x88a8 {
                        return Err(DecodeError::new(
                            OfpError::ActionBadArgument,
                            "push_vlan ethertype",
                        ));
                    }
                    Action::PushVlan(et)
                }
                at::PUSH_MPLS => Action::PushMpls(et),
                _ => Action::PopMpls(et),
            }
        }
        at::POP_VLAN => Action::PopVlan(PopVlanSpelling::PopVlan),
        at::METER if v >= Version::Of15 => {
            need(4)?;
            Action::Meter(MeterId(r.u32().map_err(e)?))
        }
        at::SET_MPLS_TTL => Action::SetMplsTtl(r.u8().map_err(e)?),
        at::SET_NW_TTL => Action::SetIpTtl(r.u8().map_err(e)?),
        at::DEC_MPLS_TTL => Action::DecMplsTtl,
        at::DEC_NW_TTL => Action::DecTtl {
            controller_ids: None,
        },
        at::SET_FIELD if v >= Version::Of12 => {
            let entry = oxm::pull_entry(r).map_err(|mut err| {
                err.error = match err.error {
                    OfpError::MatchBadLen => OfpError::ActionBadSetLen,
                    _ => OfpError::ActionBadSetType,
                };
                err
            })?;
            if entry.mask.is_some() && v < Version::Of15 {
                return Err(DecodeError::new(
                    OfpError::ActionBadSetArgument,
                    "masked set_field before OpenFlow 1.5",
                ));
            }
            let full = low_mask(field_width(entry.field));
            Action::SetField(SetField {
                field: entry.field,
                value: entry.value,
                mask: entry.mask.unwrap_or(full),
                spelling: SetFieldSpelling::SetField,
            })
        }
        at::COPY_FIELD if v >= Version::Of15 => {
            let n_bits = r.u16().map_err(e)?;
            let src_ofs = r.u16().map_err(e)?;
            let dst_ofs = r.u16().map_err(e)?;
            r.skip(2).map_err(e)?;
            let (src, _, _) = oxm::pull_header(r)?;
            let (dst, _, _) = oxm::pull_header(r)?;
            let sub = |field: Field, ofs: u16| {
                if n_bits == 0 || u32::from(ofs) + u32::from(n_bits) > u32::from(field_width(field))
                {
                    Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        "copy_field outside its field",
                    ))
                } else {
                    Ok(crate::types::Subfield { field, ofs, n_bits })
                }
            };
            Action::Move {
                src: sub(src, src_ofs)?,
                dst: sub(dst, dst_ofs)?,
            }
        }
        _ => {
            return Err(DecodeError::new(
                OfpError::ActionBadType,
                format!("action type {t} in {v}"),
            ));
        }
    })
}

/// Writes the model's actions as OpenFlow 1.1+ instructions.
pub(crate) fn put_instructions(
    out: &mut Vec<u8>,
    list: &[Action],
    v: Version,
) -> Result<(), EncodeError> {
    let is_instruction = |a: &Action| {
        matches!(
            a,
            Action::Meter(_)
                | Action::ClearActions
                | Action::WriteActions(_)
                | Action::WriteMetadata { .. }
                | Action::GotoTable(_)
        )
    };
    let apply: Vec<Action> = list
        .iter()
        .filter(|a| !is_instruction(a))
        .cloned()
        .collect();
    // OpenFlow 1.5 replaced the meter instruction by a meter action (first in apply-actions).
    let meters: Vec<Action> = list
        .iter()
        .filter(|a| matches!(a, Action::Meter(_)))
        .cloned()
        .collect();
    let apply: Vec<Action> = if v >= Version::Of15 {
        meters.iter().cloned().chain(apply).collect()
    } else {
        apply
    };
    for a in meters.iter().filter(|_| v < Version::Of15) {
        if let Action::Meter(m) = a {
            out.put_u16(it::METER);
            out.put_u16(8);
            out.put_u32(m.0);
        }
    }
    let with_actions = |out: &mut Vec<u8>, t: u16, actions: &[Action]| -> Result<(), EncodeError> {
        let at = out.len();
        out.put_u16(t);
        out.put_u16(0);
        out.put_u32(0);
        put_actions(out, actions, v)?;
        let len = out.len() - at;
        out.set_u16(at + 2, len as u16);
        Ok(())
    };
    if !apply.is_empty() {
        with_actions(out, it::APPLY_ACTIONS, &apply)?;
    }
    for a in list {
        match a {
            Action::ClearActions => {
                out.put_u16(it::CLEAR_ACTIONS);
                out.put_u16(8);
                out.put_u32(0);
            }
            Action::WriteActions(w) => with_actions(out, it::WRITE_ACTIONS, w)?,
            Action::WriteMetadata { value, mask } => {
                out.put_u16(it::WRITE_METADATA);
                out.put_u16(24);
                out.put_u32(0);
                out.put_u64(*value);
                out.put_u64(*mask);
            }
            Action::GotoTable(t) => {
                out.put_u16(it::GOTO_TABLE);
                out.put_u16(8);
                out.put_u8(t.0);
                out.put_zeros(3);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads OpenFlow 1.1+ instructions into the model's action list.
pub(crate) fn pull_instructions(bytes: &[u8], v: Version) -> Result<Vec<Action>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut seen: Vec<u16> = Vec::new();
    let (mut meter, mut apply, mut clear, mut write, mut meta, mut goto) =
        (None, Vec::new(), None, None, None, None);
    while !r.is_empty() {
        let bad = |what: String| DecodeError::new(OfpError::InstBadLen, what);
        let (Ok(t), Ok(len)) = (r.peek_u16(0), r.peek_u16(2)) else {
            return Err(bad("instruction header is truncated".into()));
        };
        let len = usize::from(len);
        if len < 8 || len % 8 != 0 || len > r.len() {
            return Err(bad(format!("instruction type {t} has length {len}")));
        }
        let mut body = r.take(len).map_err(|_| bad("instruction".into()))?;
        body.skip(4).map_err(|_| bad("instruction".into()))?;
        if seen.contains(&t) {
            return Err(DecodeError::new(
                OfpError::InstDup,
                format!("instruction type {t} twice"),
            ));
        }
        seen.push(t);
        let e = |_| DecodeError::new(OfpError::InstBadLen, format!("instruction type {t}"));
        match t {
            it::GOTO_TABLE if len == 8 => {
                goto = Some(Action::GotoTable(TableId(body.u8().map_err(e)?)))
            }
            it::WRITE_METADATA if len == 24 => {
                body.skip(4).map_err(e)?;
                meta = Some(Action::WriteMetadata {
                    value: body.u64().map_err(e)?,
                    mask: body.u64().map_err(e)?,
                });
            }
            it::WRITE_ACTIONS | it::APPLY_ACTIONS => {
                body.skip(4).map_err(e)?;
                let list = pull_actions(body.rest(), v)?;
                if t == it::APPLY_ACTIONS {
                    apply = list;
                } else {
                    write = Some(Action::WriteActions(list));
                }
            }
            it::CLEAR_ACTIONS if len == 8 => clear = Some(Action::ClearActions),
            it::METER if len == 8 => meter = Some(Action::Meter(MeterId(body.u32().map_err(e)?))),
            it::GOTO_TABLE | it::WRITE_METADATA | it::CLEAR_ACTIONS | it::METER => {
                return Err(DecodeError::new(
                    OfpError::InstBadLen,
                    format!("instruction type {t} has length {len}"),
                ));
            }
            _ => {
                return Err(DecodeError::new(
                    OfpError::InstUnknown,
                    format!("instruction type {t}"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    out.extend(meter);
    out.extend(apply);
    out.extend(clear);
    out.extend(write);
    out.extend(meta);
    out.extend(goto);
    Ok(out)
}
