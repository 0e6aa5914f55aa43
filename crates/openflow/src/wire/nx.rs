//! Nicira extension actions (`NXAST_*`): a vendor action header (type `0xffff`, length,
//! vendor `0x2320`, subtype) and a subtype-specific body, padded to a multiple of 8.
//!
//! Subfields travel as an NXM header plus `ofs_nbits` (`ofs << 6 | (n_bits - 1)`) or as
//! separate offset and width fields, depending on the action.

use super::buf::{Put, Reader, Truncated};
use super::error::NX_VENDOR_ID;
use super::oxm::{self, Flavor};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::{
    Action, Controller, Multipath, PacketInReason, Resubmit, SetField, SetFieldSpelling,
    SetTunnelSpelling,
};
use crate::ct::{Ct, CtZone, Nat, NatKind, NatPortSelection};
use crate::learn::{Learn, LearnFlags, LearnSpec, LearnSrc};
use crate::types::{
    Cookie, GroupId, MeterId, PortNo, QueueId, Subfield, TableId, field_width, low_mask,
};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `NXAST_*` subtypes.
mod st {
    pub(super) const RESUBMIT: u16 = 1;
    pub(super) const SET_TUNNEL: u16 = 2;
    pub(super) const SET_QUEUE: u16 = 4;
    pub(super) const POP_QUEUE: u16 = 5;
    pub(super) const REG_MOVE: u16 = 6;
    pub(super) const REG_LOAD: u16 = 7;
    pub(super) const NOTE: u16 = 8;
    pub(super) const SET_TUNNEL64: u16 = 9;
    pub(super) const MULTIPATH: u16 = 10;
    pub(super) const RESUBMIT_TABLE: u16 = 14;
    pub(super) const OUTPUT_REG: u16 = 15;
    pub(super) const LEARN: u16 = 16;
    pub(super) const EXIT: u16 = 17;
    pub(super) const DEC_TTL: u16 = 18;
    pub(super) const FIN_TIMEOUT: u16 = 19;
    pub(super) const CONTROLLER: u16 = 20;
    pub(super) const DEC_TTL_CNT_IDS: u16 = 21;
    pub(super) const WRITE_METADATA: u16 = 22;
    pub(super) const STACK_PUSH: u16 = 27;
    pub(super) const STACK_POP: u16 = 28;
    pub(super) const REG_LOAD2: u16 = 33;
    pub(super) const CONJUNCTION: u16 = 34;
    pub(super) const CT: u16 = 35;
    pub(super) const NAT: u16 = 36;
    pub(super) const CLONE: u16 = 42;
    pub(super) const CT_CLEAR: u16 = 43;
    pub(super) const RESUBMIT_TABLE_CT: u16 = 44;
    pub(super) const BUNDLE: u16 = 12;
    pub(super) const BUNDLE_LOAD: u16 = 13;
    pub(super) const SAMPLE: u16 = 29;
    pub(super) const CONTROLLER2: u16 = 37;
    pub(super) const SAMPLE2: u16 = 38;
    pub(super) const OUTPUT_TRUNC: u16 = 39;
    pub(super) const GROUP: u16 = 40;
    pub(super) const SAMPLE3: u16 = 41;
    pub(super) const LEARN2: u16 = 45;
    pub(super) const ENCAP: u16 = 46;
    pub(super) const DECAP: u16 = 47;
    pub(super) const CHECK_PKT_LARGER: u16 = 49;
}

/// `NXAC2PT_*`: the properties of `NXAST_CONTROLLER2`.
mod controller2 {
    pub(super) const MAX_LEN: u16 = 0;
    pub(super) const CONTROLLER_ID: u16 = 1;
    pub(super) const REASON: u16 = 2;
    pub(super) const USERDATA: u16 = 3;
    pub(super) const PAUSE: u16 = 4;
    pub(super) const METER_ID: u16 = 5;
}

/// `NX_LEARN_F_WRITE_RESULT`: learn2 writes whether it learned into `result_dst`.
const LEARN_F_WRITE_RESULT: u16 = 1 << 2;
/// `decap()`'s "whatever the next header is" packet type (namespace 0, type 0xfffe).
const PT_USE_NEXT_PROTO: u32 = 0xfffe;
/// Packet types `encap` produces: Ethernet (namespace 0), NSH and MPLS (namespace 1,
/// ethertypes).
const PT_ETH: u32 = 0;
const PT_NSH: u32 = 0x0001_894f;
const PT_MPLS: u32 = 0x0001_8847;
/// `encap(nsh(...))` property class and types.
const NSH_PROP_CLASS: u16 = 4;
const NSH_PROP_MD_TYPE: u8 = 1;
const NSH_PROP_TLV: u8 = 2;

/// Starts a Nicira action; returns its start offset for [`end`].
fn begin(out: &mut Vec<u8>, subtype: u16) -> usize {
    let at = out.len();
    out.put_u16(0xffff);
    out.put_u16(0);
    out.put_u32(NX_VENDOR_ID);
    out.put_u16(subtype);
    at
}

/// Pads the action to a multiple of 8 and fills in its length.
fn end(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at;
    out.put_zeros(len.next_multiple_of(8) - len);
    let len = out.len() - at;
    out.set_u16(at + 2, len as u16);
}

fn ofs_nbits(sf: &Subfield) -> u16 {
    (sf.ofs << 6) | (sf.n_bits.saturating_sub(1) & 0x3f)
}

fn nxm_header(sf: &Subfield, v: Version) -> Result<u32, EncodeError> {
    let h = oxm::header_for(sf.field, Flavor::Nxm).ok_or(EncodeError::Field {
        field: sf.field.name(),
        version: v,
    })?;
    Ok(u32::from(h.class) << 16 | u32::from(h.field) << 9 | u32::from(h.bytes))
}

fn pull_nxm_header(h: u32) -> Result<fvs_flow::Field, DecodeError> {
    oxm::field_for((h >> 16) as u16, ((h >> 9) & 0x7f) as u8, None).ok_or_else(|| {
        DecodeError::new(
            OfpError::ActionBadArgument,
            format!("unknown NXM header {h:#x}"),
        )
    })
}

/// A subfield from a header and `ofs_nbits`, checked against the field's width.
fn subfield(h: u32, ofs: u16, n_bits: u16) -> Result<Subfield, DecodeError> {
    let field = pull_nxm_header(h)?;
    let sf = Subfield { field, ofs, n_bits };
    if n_bits == 0 || u32::from(ofs) + u32::from(n_bits) > u32::from(field_width(field)) {
        return Err(DecodeError::new(
            OfpError::ActionBadArgument,
            format!(
                "subfield {}[{ofs}+{n_bits}] is outside the field",
                field.name()
            ),
        ));
    }
    Ok(sf)
}

fn sub_from_ofs_nbits(h: u32, on: u16) -> Result<Subfield, DecodeError> {
    subfield(h, on >> 6, (on & 0x3f) + 1)
}

/// Writes `a` as a Nicira action in `v`; `Ok(false)` when no Nicira action carries it.
pub(crate) fn put_action(out: &mut Vec<u8>, a: &Action, v: Version) -> Result<bool, EncodeError> {
    match a {
        Action::Resubmit(Resubmit { in_port, table, ct }) => {
            let of10_port = super::msg::port_to_of10(*in_port);
            if table.is_none() && !ct {
                let at = begin(out, st::RESUBMIT);
                out.put_u16(of10_port);
                end(out, at);
            } else {
                let at = begin(
                    out,
                    if *ct {
                        st::RESUBMIT_TABLE_CT
                    } else {
                        st::RESUBMIT_TABLE
                    },
                );
                out.put_u16(of10_port);
                out.put_u8(table.map_or(255, |t| t.0));
                end(out, at);
            }
        }
        Action::SetTunnel { id, spelling } => {
            if *spelling == SetTunnelSpelling::SetTunnel && *id <= u64::from(u32::MAX) {
                let at = begin(out, st::SET_TUNNEL);
                out.put_u16(0);
                out.put_u32(*id as u32);
                end(out, at);
            } else {
                let at = begin(out, st::SET_TUNNEL64);
                out.put_zeros(6);
                out.put_u64(*id);
                end(out, at);
            }
        }
        Action::PopQueue => {
            let at = begin(out, st::POP_QUEUE);
            end(out, at);
        }
        // OpenFlow 1.0 has no set_queue action of its own (1.1+ does: see of13).
        Action::SetQueue(q) if v == Version::Of10 => {
            let at = begin(out, st::SET_QUEUE);
            out.put_zeros(2);
            out.put_u32(q.0);
            end(out, at);
        }
        Action::Move { src, dst } => {
            let at = begin(out, st::REG_MOVE);
            out.put_u16(src.n_bits);
            out.put_u16(src.ofs);
            out.put_u16(dst.ofs);
            out.put_u32(nxm_header(src, v)?);
            out.put_u32(nxm_header(dst, v)?);
            end(out, at);
        }
        Action::SetField(sf) => put_load(out, sf, v)?,
        Action::Note(bytes) => {
            let at = begin(out, st::NOTE);
            out.extend_from_slice(bytes);
            end(out, at);
        }
        Action::Exit => {
            let at = begin(out, st::EXIT);
            end(out, at);
        }
        Action::DecTtl { controller_ids } => match controller_ids {
            None => {
                let at = begin(out, st::DEC_TTL);
                end(out, at);
            }
            Some(ids) => {
                let at = begin(out, st::DEC_TTL_CNT_IDS);
                out.put_u16(ids.len() as u16);
                out.put_zeros(4);
                for id in ids {
                    out.put_u16(*id);
                }
                end(out, at);
            }
        },
        Action::OutputReg { src, max_len } => {
            let at = begin(out, st::OUTPUT_REG);
            out.put_u16(ofs_nbits(src));
            out.put_u32(nxm_header(src, v)?);
            out.put_u16(*max_len);
            end(out, at);
        }
        Action::FinTimeout { idle, hard } => {
            let at = begin(out, st::FIN_TIMEOUT);
            out.put_u16(*idle);
            out.put_u16(*hard);
            end(out, at);
        }
        Action::Controller(c) if c.userdata.is_none() && !c.pause && c.meter_id.is_none() => {
            let at = begin(out, st::CONTROLLER);
            out.put_u16(c.max_len);
            out.put_u16(c.controller_id);
            out.put_u8(reason_code(c.reason));
            end(out, at);
        }
        // OpenFlow 1.0 has no group action of its own (1.1+ does: see of13).
        Action::Group(g) if v == Version::Of10 => {
            let at = begin(out, st::GROUP);
            out.put_zeros(2);
            out.put_u32(g.0);
            end(out, at);
        }
        Action::WriteMetadata { value, mask } if v == Version::Of10 => {
            let at = begin(out, st::WRITE_METADATA);
            out.put_zeros(6);
            out.put_u64(*value);
            out.put_u64(*mask);
            end(out, at);
        }
        Action::StackPush(sf) | Action::StackPop(sf) => {
            let push = matches!(a, Action::StackPush(_));
            let at = begin(out, if push { st::STACK_PUSH } else { st::STACK_POP });
            out.put_u16(sf.ofs);
            out.put_u32(nxm_header(sf, v)?);
            out.put_u16(sf.n_bits);
            end(out, at);
        }
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let at = begin(out, st::CONJUNCTION);
            out.put_u8(clause.saturating_sub(1));
            out.put_u8(*n_clauses);
            out.put_u32(*id);
            end(out, at);
        }
        Action::Multipath(mp) => {
            let at = begin(out, st::MULTIPATH);
            out.put_u16(hash_fields_code(mp.fields));
            out.put_u16(mp.basis);
            out.put_u16(0);
            out.put_u16(mp.algorithm as u16);
            out.put_u16(mp.max_link);
            out.put_u32(mp.arg);
            out.put_u16(0);
            out.put_u16(ofs_nbits(&mp.dst));
            out.put_u32(nxm_header(&mp.dst, v)?);
            end(out, at);
        }
        Action::Ct(ct) => put_ct(out, ct, v)?,
        Action::Nat(nat) => put_nat(out, nat),
        Action::CtClear => {
            let at = begin(out, st::CT_CLEAR);
            end(out, at);
        }
        Action::Clone(list) => {
            let at = begin(out, st::CLONE);
            out.put_zeros(6);
            super::of13::put_actions(out, list, v)?;
            end(out, at);
        }
        Action::Learn(l) => put_learn(out, l, v)?,
        Action::Controller(c) => put_controller2(out, c),
        Action::OutputTrunc { port, max_len } => {
            let at = begin(out, st::OUTPUT_TRUNC);
            out.put_u16(super::msg::port_to_of10(*port));
            out.put_u32(*max_len);
            end(out, at);
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            let at = begin(out, st::CHECK_PKT_LARGER);
            out.put_u16(*pkt_len);
            out.put_u16(dst.ofs);
            out.put_u32(nxm_header(dst, v)?);
            end(out, at);
        }
        Action::Sample(smp) => put_sample(out, smp),
        Action::Bundle(b) => {
            let at = begin(
                out,
                if b.dst.is_some() {
                    st::BUNDLE_LOAD
                } else {
                    st::BUNDLE
                },
            );
            out.put_u16(match b.algorithm {
                crate::action::BundleAlgorithm::ActiveBackup => 0,
                crate::action::BundleAlgorithm::Hrw => 1,
            });
            out.put_u16(hash_fields_code(b.fields));
            out.put_u16(b.basis);
            // Members are OpenFlow ports, named by NXM_OF_IN_PORT's header.
            out.put_u32(0x0000_0002);
            out.put_u16(u16::try_from(b.members.len()).unwrap_or(u16::MAX));
            match &b.dst {
                Some(d) => {
                    out.put_u16(ofs_nbits(d));
                    out.put_u32(nxm_header(d, v)?);
                }
                None => {
                    out.put_u16(0);
                    out.put_u32(0);
                }
            }
            out.put_zeros(4);
            for m in &b.members {
                out.put_u16(super::msg::port_to_of10(*m));
            }
            end(out, at);
        }
        Action::Encap(e) => put_encap(out, e),
        Action::Decap { packet_type } => {
            let at = begin(out, st::DECAP);
            out.put_zeros(2);
            out.put_u32(packet_type.map_or(PT_USE_NEXT_PROTO, |(ns, t)| {
                u32::from(ns) << 16 | u32::from(t)
            }));
            end(out, at);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The packet-in reason `controller` and `controller2` name by [`reason_code`]'s number;
/// Open vSwitch's internal reasons 6 and 7 pass through.
fn reason_from_code(n: u8) -> Result<PacketInReason, DecodeError> {
    match n {
        6 | 7 => Ok(PacketInReason::Internal(n)),
        _ => super::async_msg::standard_reason(n).ok_or_else(|| {
            DecodeError::new(OfpError::ActionBadArgument, format!("packet-in reason {n}"))
        }),
    }
}

fn reason_code(r: PacketInReason) -> u8 {
    match r {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
        PacketInReason::ActionSet => 3,
        PacketInReason::Group => 4,
        PacketInReason::PacketOut => 5,
        PacketInReason::Internal(n) => n,
    }
}

/// `multipath`'s and `bundle`'s hash fields, each at its wire number (`NX_HASH_FIELDS_*`).
const HASH_FIELDS: [crate::action::HashFields; 7] = {
    use crate::action::HashFields as H;
    [
        H::EthSrc,
        H::SymmetricL4,
        H::SymmetricL3L4,
        H::SymmetricL3L4Udp,
        H::NwSrc,
        H::NwDst,
        H::SymmetricL3,
    ]
};

fn hash_fields_code(f: crate::action::HashFields) -> u16 {
    HASH_FIELDS
        .iter()
        .position(|x| *x == f)
        .and_then(|i| u16::try_from(i).ok())
        .unwrap_or(0)
}

fn hash_fields_from_code(n: u16) -> Result<crate::action::HashFields, DecodeError> {
    HASH_FIELDS
        .get(usize::from(n))
        .copied()
        .ok_or_else(|| DecodeError::new(OfpError::ActionBadArgument, format!("hash fields {n}")))
}

/// `load` as `NXAST_REG_LOAD` (a contiguous mask over at most 64 bits) or `NXAST_REG_LOAD2`.
fn put_load(out: &mut Vec<u8>, sf: &SetField, v: Version) -> Result<(), EncodeError> {
    let width = field_width(sf.field);
    let mask = sf.mask & low_mask(width);
    let ofs = mask.trailing_zeros() as u16;
    let n_bits = (128 - mask.leading_zeros()) as u16 - ofs.min(128);
    let contiguous = mask != 0 && (mask >> ofs) == low_mask(n_bits);
    if contiguous && n_bits <= 64 && oxm::header_for(sf.field, Flavor::Nxm).is_some() {
        let dst = Subfield {
            field: sf.field,
            ofs,
            n_bits,
        };
        let at = begin(out, st::REG_LOAD);
        out.put_u16(ofs_nbits(&dst));
        out.put_u32(nxm_header(&dst, v)?);
        out.put_u64(((sf.value & mask) >> ofs) as u64);
        end(out, at);
    } else {
        let h = oxm::header_for(sf.field, Flavor::Nxm).ok_or(EncodeError::Field {
            field: sf.field.name(),
            version: v,
        })?;
        let at = begin(out, st::REG_LOAD2);
        let full = mask == low_mask(width);
        oxm::put_entry(out, h, sf.value & mask, (!full).then_some(mask));
        end(out, at);
    }
    Ok(())
}

fn put_ct(out: &mut Vec<u8>, ct: &Ct, v: Version) -> Result<(), EncodeError> {
    let at = begin(out, st::CT);
    let flags = u16::from(ct.commit) | u16::from(ct.force) << 1;
    out.put_u16(flags);
    match ct.zone {
        CtZone::Immediate(z) => {
            out.put_u32(0);
            out.put_u16(z);
        }
        CtZone::Field(sf) => {
            out.put_u32(nxm_header(&sf, v)?);
            out.put_u16(ofs_nbits(&sf));
        }
    }
    out.put_u8(ct.table.map_or(255, |t| t.0));
    out.put_zeros(3);
    out.put_u16(ct.alg.unwrap_or(0));
    super::of13::put_actions(out, &ct.actions, v)?;
    end(out, at);
    Ok(())
}

mod nat_flags {
    pub(super) const SRC: u16 = 1;
    pub(super) const DST: u16 = 2;
    pub(super) const PERSISTENT: u16 = 4;
    pub(super) const PROTO_HASH: u16 = 8;
    pub(super) const PROTO_RANDOM: u16 = 16;
    pub(super) const V4_MIN: u16 = 1;
    pub(super) const V4_MAX: u16 = 2;
    pub(super) const V6_MIN: u16 = 4;
    pub(super) const V6_MAX: u16 = 8;
    pub(super) const PORT_MIN: u16 = 16;
    pub(super) const PORT_MAX: u16 = 32;
}

fn put_nat(out: &mut Vec<u8>, nat: &Nat) {
    use nat_flags as f;
    let at = begin(out, st::NAT);
    out.put_u16(0);
    let mut flags = match nat.kind {
        Some(NatKind::Src) => f::SRC,
        Some(NatKind::Dst) => f::DST,
        None => 0,
    };
    if nat.persistent {
        flags |= f::PERSISTENT;
    }
    match nat.port_selection {
        Some(NatPortSelection::Hash) => flags |= f::PROTO_HASH,
        Some(NatPortSelection::Random) => flags |= f::PROTO_RANDOM,
        None => {}
    }
    out.put_u16(flags);
    let mut present = 0u16;
    let mut body = Vec::new();
    match nat.addrs {
        Some((IpAddr::V4(a), IpAddr::V4(b))) => {
            present |= f::V4_MIN;
            body.put_u32(u32::from(a));
            if a != b {
                present |= f::V4_MAX;
                body.put_u32(u32::from(b));
            }
        }
        Some((IpAddr::V6(a), IpAddr::V6(b))) => {
            present |= f::V6_MIN;
            body.extend_from_slice(&a.octets());
            if a != b {
                present |= f::V6_MAX;
                body.extend_from_slice(&b.octets());
            }
        }
        _ => {}
    }
    if let Some((a, b)) = nat.ports {
        present |= f::PORT_MIN;
        body.put_u16(a);
        if a != b {
            present |= f::PORT_MAX;
            body.put_u16(b);
        }
    }
    out.put_u16(present);
    out.extend_from_slice(&body);
    end(out, at);
}

/// `learn` as `NXAST_LEARN`, or `NXAST_LEARN2` when it has a limit or a result destination.
fn put_learn(out: &mut Vec<u8>, l: &Learn, v: Version) -> Result<(), EncodeError> {
    let learn2 = l.limit != 0 || l.result_dst.is_some();
    let at = begin(out, if learn2 { st::LEARN2 } else { st::LEARN });
    out.put_u16(l.idle_timeout);
    out.put_u16(l.hard_timeout);
    out.put_u16(l.priority);
    out.put_u64(l.cookie.0);
    let write_result = if l.result_dst.is_some() {
        LEARN_F_WRITE_RESULT
    } else {
        0
    };
    out.put_u16(
        u16::from(l.flags.send_flow_rem) | u16::from(l.flags.delete_learned) << 1 | write_result,
    );
    out.put_u8(l.table.0);
    out.put_u8(0);
    out.put_u16(l.fin_idle_timeout);
    out.put_u16(l.fin_hard_timeout);
    if learn2 {
        out.put_u32(l.limit);
        out.put_u16(l.result_dst.map_or(0, |d| d.ofs));
        out.put_zeros(2);
        if let Some(d) = &l.result_dst {
            out.put_u32(nxm_header(d, v)?);
        }
    }
    for spec in &l.specs {
        let (src, dst_type, dst, n_bits) = match spec {
            LearnSpec::Match { dst, src } => (Some(*src), 0u16, Some(*dst), dst.n_bits),
            LearnSpec::Load { dst, src } => (Some(*src), 1, Some(*dst), dst.n_bits),
            LearnSpec::Output { src } => (Some(LearnSrc::Field(*src)), 2, None, src.n_bits),
        };
        let src_type = u16::from(matches!(src, Some(LearnSrc::Immediate(_))));
        out.put_u16(src_type << 13 | dst_type << 11 | (n_bits & 0x3ff));
        match src {
            Some(LearnSrc::Field(sf)) => {
                out.put_u32(nxm_header(&sf, v)?);
                out.put_u16(sf.ofs);
            }
            Some(LearnSrc::Immediate(value)) => {
                let n = usize::from(n_bits).div_ceil(16) * 2;
                out.put_uint(value, n);
            }
            None => {}
        }
        if let Some(d) = dst {
            out.put_u32(nxm_header(&d, v)?);
            out.put_u16(d.ofs);
        }
    }
    end(out, at);
    Ok(())
}

/// `controller(...)` with options `NXAST_CONTROLLER` cannot carry: `NXAST_CONTROLLER2` with a
/// property for each value that is not the default, in Open vSwitch's order.
fn put_controller2(out: &mut Vec<u8>, c: &Controller) {
    let at = begin(out, st::CONTROLLER2);
    out.put_zeros(6);
    let prop = |out: &mut Vec<u8>, ty: u16, body: &[u8]| {
        let len = 4 + body.len();
        out.put_u16(ty);
        out.put_u16(len as u16);
        out.extend_from_slice(body);
        out.put_zeros(len.next_multiple_of(8) - len);
    };
    if c.max_len != u16::MAX {
        prop(out, controller2::MAX_LEN, &c.max_len.to_be_bytes());
    }
    if c.controller_id != 0 {
        prop(
            out,
            controller2::CONTROLLER_ID,
            &c.controller_id.to_be_bytes(),
        );
    }
    if c.reason != PacketInReason::Action {
        prop(out, controller2::REASON, &[reason_code(c.reason)]);
    }
    if let Some(u) = &c.userdata {
        prop(out, controller2::USERDATA, u);
    }
    if c.pause {
        prop(out, controller2::PAUSE, &[]);
    }
    if let Some(m) = c.meter_id {
        prop(out, controller2::METER_ID, &m.0.to_be_bytes());
    }
    end(out, at);
}

/// `encap(...)`: the new packet type, then (for NSH) its metadata type and TLVs as
/// properties.
fn put_encap(out: &mut Vec<u8>, e: &crate::action::Encap) {
    use crate::action::Encap;
    let at = begin(out, st::ENCAP);
    out.put_u16(0); // header size: the switch's choice
    out.put_u32(match e {
        Encap::Ethernet => PT_ETH,
        Encap::Nsh { .. } => PT_NSH,
        Encap::Mpls => PT_MPLS,
    });
    if let Encap::Nsh { md_type, tlvs } = e {
        if let Some(md) = md_type {
            out.put_u16(NSH_PROP_CLASS);
            out.put_u8(NSH_PROP_MD_TYPE);
            out.put_u8(5);
            out.put_u8(*md);
            out.put_zeros(3);
        }
        for (class, ty, value) in tlvs {
            let padded = value.len().next_multiple_of(8);
            out.put_u16(NSH_PROP_CLASS);
            out.put_u8(NSH_PROP_TLV);
            out.put_u8(u8::try_from(8 + padded).unwrap_or(u8::MAX));
            out.put_u16(*class);
            out.put_u8(*ty);
            out.put_u8(u8::try_from(value.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(value);
            out.put_zeros(padded - value.len());
        }
    }
    end(out, at);
}

/// `sample`: `NXAST_SAMPLE`, `NXAST_SAMPLE2` with a sampling port, `NXAST_SAMPLE3` with a
/// direction.
fn put_sample(out: &mut Vec<u8>, s: &crate::action::Sample) {
    use crate::action::SampleDirection as D;
    let subtype = match (s.direction, s.sampling_port) {
        (D::Ingress | D::Egress, _) => st::SAMPLE3,
        (D::Default, Some(_)) => st::SAMPLE2,
        (D::Default, None) => st::SAMPLE,
    };
    let at = begin(out, subtype);
    out.put_u16(s.probability);
    out.put_u32(s.collector_set_id);
    out.put_u32(s.obs_domain_id);
    out.put_u32(s.obs_point_id);
    if subtype != st::SAMPLE {
        out.put_u16(s.sampling_port.map_or(0xffff, super::msg::port_to_of10));
        if subtype == st::SAMPLE3 {
            out.put_u8(match s.direction {
                D::Default => 0,
                D::Ingress => 1,
                D::Egress => 2,
            });
        }
    }
    end(out, at);
}

fn err_len(what: &str) -> impl Fn(Truncated) -> DecodeError + '_ {
    move |_| DecodeError::new(OfpError::ActionBadLen, format!("{what} is truncated"))
}

fn must_be_zero(bytes: &[u8], what: &str) -> Result<(), DecodeError> {
    if bytes.iter().all(|b| *b == 0) {
        Ok(())
    } else {
        Err(DecodeError::new(
            OfpError::ActionMustBeZero,
            format!("{what}: padding is not zero"),
        ))
    }
}

/// Reads a Nicira action's body; `r` holds the action after the 10-byte vendor header.
pub(crate) fn pull_action(r: &mut Reader<'_>, v: Version) -> Result<Action, DecodeError> {
    let subtype = r.u16().map_err(err_len("Nicira action"))?;
    let t = err_len("Nicira action");
    let a = match subtype {
        st::RESUBMIT | st::RESUBMIT_TABLE | st::RESUBMIT_TABLE_CT => {
            let in_port = PortNo::from_of10(r.u16().map_err(&t)?);
            let table = r.u8().map_err(&t)?;
            let table = if subtype == st::RESUBMIT {
                None
            } else {
                (table != 255).then_some(TableId(table))
            };
            Action::Resubmit(Resubmit {
                in_port,
                table,
                ct: subtype == st::RESUBMIT_TABLE_CT,
            })
        }
        st::SET_TUNNEL => {
            r.skip(2).map_err(&t)?;
            Action::SetTunnel {
                id: u64::from(r.u32().map_err(&t)?),
                spelling: SetTunnelSpelling::SetTunnel,
            }
        }
        st::SET_TUNNEL64 => {
            r.skip(6).map_err(&t)?;
            Action::SetTunnel {
                id: r.u64().map_err(&t)?,
                spelling: SetTunnelSpelling::SetTunnel64,
            }
        }
        st::POP_QUEUE => Action::PopQueue,
        st::SET_QUEUE => {
            r.skip(2).map_err(&t)?;
            Action::SetQueue(QueueId(r.u32().map_err(&t)?))
        }
        st::REG_MOVE => {
            let n_bits = r.u16().map_err(&t)?;
            let src_ofs = r.u16().map_err(&t)?;
            let dst_ofs = r.u16().map_err(&t)?;
            let src = subfield(r.u32().map_err(&t)?, src_ofs, n_bits)?;
            let dst = subfield(r.u32().map_err(&t)?, dst_ofs, n_bits)?;
            Action::Move { src, dst }
        }
        st::REG_LOAD => {
            let on = r.u16().map_err(&t)?;
            let dst = sub_from_ofs_nbits(r.u32().map_err(&t)?, on)?;
            let value = u128::from(r.u64().map_err(&t)?);
            if value >> dst.n_bits != 0 {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "load value too wide",
                ));
            }
            Action::SetField(SetField {
                field: dst.field,
                value: value << dst.ofs,
                mask: low_mask(dst.n_bits) << dst.ofs,
                spelling: SetFieldSpelling::Load,
            })
        }
        st::REG_LOAD2 => {
            let e = oxm::pull_entry(r)?;
            let full = low_mask(field_width(e.field));
            Action::SetField(SetField {
                field: e.field,
                value: e.value,
                mask: e.mask.unwrap_or(full),
                spelling: SetFieldSpelling::Load,
            })
        }
        st::NOTE => Action::Note(r.rest().to_vec()),
        st::EXIT => Action::Exit,
        st::DEC_TTL => Action::DecTtl {
            controller_ids: None,
        },
        st::DEC_TTL_CNT_IDS => {
            let n = r.u16().map_err(&t)?;
            must_be_zero(r.bytes(4).map_err(&t)?, "dec_ttl")?;
            let mut ids = Vec::with_capacity(usize::from(n).min(r.len() / 2));
            for _ in 0..n {
                ids.push(r.u16().map_err(&t)?);
            }
            Action::DecTtl {
                controller_ids: Some(ids),
            }
        }
        st::OUTPUT_REG => {
            let on = r.u16().map_err(&t)?;
            let src = sub_from_ofs_nbits(r.u32().map_err(&t)?, on)?;
            let max_len = r.u16().map_err(&t)?;
            must_be_zero(r.rest(), "output_reg")?;
            Action::OutputReg { src, max_len }
        }
        st::FIN_TIMEOUT => Action::FinTimeout {
            idle: r.u16().map_err(&t)?,
            hard: r.u16().map_err(&t)?,
        },
        st::CONTROLLER => {
            let max_len = r.u16().map_err(&t)?;
            let controller_id = r.u16().map_err(&t)?;
            let reason = reason_from_code(r.u8().map_err(&t)?)?;
            let c = Controller {
                max_len,
                reason,
                controller_id,
                userdata: None,
                pause: false,
                meter_id: None,
            };
            // The plain forms are modelled as output to CONTROLLER (see `Action::Controller`).
            if reason == PacketInReason::Action && controller_id == 0 {
                Action::Output(crate::action::Output {
                    port: PortNo::CONTROLLER,
                    max_len,
                })
            } else {
                Action::Controller(c)
            }
        }
        st::GROUP => {
            must_be_zero(r.bytes(2).map_err(&t)?, "group")?;
            Action::Group(GroupId(r.u32().map_err(&t)?))
        }
        st::WRITE_METADATA => {
            must_be_zero(r.bytes(6).map_err(&t)?, "write_metadata")?;
            Action::WriteMetadata {
                value: r.u64().map_err(&t)?,
                mask: r.u64().map_err(&t)?,
            }
        }
        st::STACK_PUSH | st::STACK_POP => {
            let ofs = r.u16().map_err(&t)?;
            let h = r.u32().map_err(&t)?;
            let n_bits = r.u16().map_err(&t)?;
            let sf = subfield(h, ofs, n_bits)?;
            if subtype == st::STACK_PUSH {
                Action::StackPush(sf)
            } else {
                Action::StackPop(sf)
            }
        }
        st::CONJUNCTION => {
            let clause = r.u8().map_err(&t)?;
            let n_clauses = r.u8().map_err(&t)?;
            if !(2..=64).contains(&n_clauses) || clause >= n_clauses {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "conjunction clause",
                ));
            }
            Action::Conjunction {
                id: r.u32().map_err(&t)?,
                clause: clause + 1,
                n_clauses,
            }
        }
        st::MULTIPATH => {
            use crate::action::MultipathAlgorithm as A;
            let fields = hash_fields_from_code(r.u16().map_err(&t)?)?;
            let basis = r.u16().map_err(&t)?;
            r.skip(2).map_err(&t)?;
            let algorithm = match r.u16().map_err(&t)? {
                0 => A::ModuloN,
                1 => A::HashThreshold,
                2 => A::Hrw,
                3 => A::IterHash,
                n => {
                    return Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        format!("algorithm {n}"),
                    ));
                }
            };
            let max_link = r.u16().map_err(&t)?;
            let arg = r.u32().map_err(&t)?;
            r.skip(2).map_err(&t)?;
            let on = r.u16().map_err(&t)?;
            let dst = sub_from_ofs_nbits(r.u32().map_err(&t)?, on)?;
            Action::Multipath(Multipath {
                fields,
                basis,
                algorithm,
                max_link,
                arg,
                dst,
            })
        }
        st::CT => Action::Ct(Box::new(pull_ct(r, v)?)),
        st::NAT => Action::Nat(pull_nat(r)?),
        st::CT_CLEAR => Action::CtClear,
        st::CLONE => {
            r.skip(6).map_err(&t)?;
            Action::Clone(super::of13::pull_actions(r.rest(), v)?)
        }
        st::LEARN => Action::Learn(Box::new(pull_learn(r, false)?)),
        st::LEARN2 => Action::Learn(Box::new(pull_learn(r, true)?)),
        st::OUTPUT_TRUNC => Action::OutputTrunc {
            port: PortNo::from_of10(r.u16().map_err(&t)?),
            max_len: r.u32().map_err(&t)?,
        },
        st::CHECK_PKT_LARGER => {
            let pkt_len = r.u16().map_err(&t)?;
            let ofs = r.u16().map_err(&t)?;
            let dst = subfield(r.u32().map_err(&t)?, ofs, 1)?;
            Action::CheckPktLarger { pkt_len, dst }
        }
        st::SAMPLE | st::SAMPLE2 | st::SAMPLE3 => {
            use crate::action::{Sample, SampleDirection as D};
            let mut smp = Sample {
                probability: r.u16().map_err(&t)?,
                collector_set_id: r.u32().map_err(&t)?,
                obs_domain_id: r.u32().map_err(&t)?,
                obs_point_id: r.u32().map_err(&t)?,
                sampling_port: None,
                direction: D::Default,
            };
            if subtype != st::SAMPLE {
                let port = r.u16().map_err(&t)?;
                smp.sampling_port = (port != 0xffff).then(|| PortNo::from_of10(port));
            }
            if subtype == st::SAMPLE3 {
                smp.direction = match r.u8().map_err(&t)? {
                    0 => D::Default,
                    1 => D::Ingress,
                    2 => D::Egress,
                    n => {
                        return Err(DecodeError::new(
                            OfpError::ActionBadArgument,
                            format!("sample direction {n}"),
                        ));
                    }
                };
            }
            Action::Sample(smp)
        }
        st::BUNDLE | st::BUNDLE_LOAD => {
            use crate::action::{Bundle, BundleAlgorithm};
            let algorithm = match r.u16().map_err(&t)? {
                0 => BundleAlgorithm::ActiveBackup,
                1 => BundleAlgorithm::Hrw,
                n => {
                    return Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        format!("bundle algorithm {n}"),
                    ));
                }
            };
            let fields = hash_fields_from_code(r.u16().map_err(&t)?)?;
            let basis = r.u16().map_err(&t)?;
            let member_type = r.u32().map_err(&t)?;
            if member_type != 0x0000_0002 {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    format!("bundle member type {member_type:#x}"),
                ));
            }
            let n = r.u16().map_err(&t)?;
            let on = r.u16().map_err(&t)?;
            let dst_header = r.u32().map_err(&t)?;
            r.skip(4).map_err(&t)?;
            let dst = if subtype == st::BUNDLE_LOAD {
                Some(sub_from_ofs_nbits(dst_header, on)?)
            } else {
                None
            };
            let mut members = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                members.push(PortNo::from_of10(r.u16().map_err(&t)?));
            }
            Action::Bundle(Bundle {
                fields,
                basis,
                algorithm,
                members,
                dst,
            })
        }
        st::ENCAP => {
            use crate::action::Encap;
            r.skip(2).map_err(&t)?;
            let pt = r.u32().map_err(&t)?;
            let mut md_type = None;
            let mut tlvs = Vec::new();
            while r.len() >= 4 {
                let class = r.u16().map_err(&t)?;
                let ty = r.u8().map_err(&t)?;
                let len = usize::from(r.u8().map_err(&t)?);
                if class != NSH_PROP_CLASS || len < 4 {
                    // Zero padding ends the properties.
                    if class == 0 && ty == 0 && len == 0 {
                        must_be_zero(r.rest(), "encap")?;
                        break;
                    }
                    return Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        format!("encap property class {class:#x} type {ty} length {len}"),
                    ));
                }
                let mut body = r.take(len - 4).map_err(&t)?;
                let pad = (len.next_multiple_of(8) - len).min(r.len());
                r.skip(pad).map_err(&t)?;
                match ty {
                    NSH_PROP_MD_TYPE => md_type = Some(body.u8().map_err(&t)?),
                    NSH_PROP_TLV => {
                        let class = body.u16().map_err(&t)?;
                        let tlv_type = body.u8().map_err(&t)?;
                        let n = usize::from(body.u8().map_err(&t)?);
                        tlvs.push((class, tlv_type, body.bytes(n).map_err(&t)?.to_vec()));
                    }
                    _ => {
                        return Err(DecodeError::new(
                            OfpError::ActionBadArgument,
                            format!("encap NSH property {ty}"),
                        ));
                    }
                }
            }
            Action::Encap(match pt {
                PT_ETH => Encap::Ethernet,
                PT_NSH => Encap::Nsh { md_type, tlvs },
                PT_MPLS => Encap::Mpls,
                _ => {
                    return Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        format!("encap packet type {pt:#x}"),
                    ));
                }
            })
        }
        st::DECAP => {
            r.skip(2).map_err(&t)?;
            let pt = r.u32().map_err(&t)?;
            Action::Decap {
                packet_type: (pt != PT_USE_NEXT_PROTO).then_some(((pt >> 16) as u16, pt as u16)),
            }
        }
        st::CONTROLLER2 => Action::Controller(pull_controller2(r)?),
        _ => {
            return Err(DecodeError::new(
                OfpError::ActionBadVendorType,
                format!("Nicira action subtype {subtype}"),
            ));
        }
    };
    Ok(a)
}

fn pull_ct(r: &mut Reader<'_>, v: Version) -> Result<Ct, DecodeError> {
    let t = err_len("ct");
    let flags = r.u16().map_err(&t)?;
    let zone_src = r.u32().map_err(&t)?;
    let zone_val = r.u16().map_err(&t)?;
    let table = r.u8().map_err(&t)?;
    must_be_zero(r.bytes(3).map_err(&t)?, "ct")?;
    let alg = r.u16().map_err(&t)?;
    let zone = if zone_src == 0 {
        CtZone::Immediate(zone_val)
    } else {
        CtZone::Field(sub_from_ofs_nbits(zone_src, zone_val)?)
    };
    Ok(Ct {
        commit: flags & 1 != 0,
        force: flags & 2 != 0,
        zone,
        table: (table != 255).then_some(TableId(table)),
        alg: (alg != 0).then_some(alg),
        actions: super::of13::pull_actions(r.rest(), v)?,
    })
}

fn pull_nat(r: &mut Reader<'_>) -> Result<Nat, DecodeError> {
    use nat_flags as f;
    let t = err_len("nat");
    r.skip(2).map_err(&t)?;
    let flags = r.u16().map_err(&t)?;
    let present = r.u16().map_err(&t)?;
    let kind = match flags & (f::SRC | f::DST) {
        0 => None,
        f::SRC => Some(NatKind::Src),
        f::DST => Some(NatKind::Dst),
        _ => {
            return Err(DecodeError::new(
                OfpError::ActionBadArgument,
                "nat: both src and dst",
            ));
        }
    };
    let mut nat = Nat {
        kind,
        persistent: flags & f::PERSISTENT != 0,
        port_selection: if flags & f::PROTO_HASH != 0 {
            Some(NatPortSelection::Hash)
        } else if flags & f::PROTO_RANDOM != 0 {
            Some(NatPortSelection::Random)
        } else {
            None
        },
        ..Nat::default()
    };
    if present & f::V4_MIN != 0 {
        let a = Ipv4Addr::from(r.u32().map_err(&t)?);
        let b = if present & f::V4_MAX != 0 {
            Ipv4Addr::from(r.u32().map_err(&t)?)
        } else {
            a
        };
        nat.addrs = Some((IpAddr::V4(a), IpAddr::V4(b)));
    } else if present & f::V6_MIN != 0 {
        let a = Ipv6Addr::from(r.array::<16>().map_err(&t)?);
        let b = if present & f::V6_MAX != 0 {
            Ipv6Addr::from(r.array::<16>().map_err(&t)?)
        } else {
            a
        };
        nat.addrs = Some((IpAddr::V6(a), IpAddr::V6(b)));
    }
    if present & f::PORT_MIN != 0 {
        let a = r.u16().map_err(&t)?;
        let b = if present & f::PORT_MAX != 0 {
            r.u16().map_err(&t)?
        } else {
            a
        };
        nat.ports = Some((a, b));
    }
    Ok(nat)
}

/// `NXAST_CONTROLLER2`'s properties (after its padding) into the model.
fn pull_controller2(r: &mut Reader<'_>) -> Result<Controller, DecodeError> {
    let t = err_len("controller2");
    r.skip(6).map_err(&t)?;
    let mut c = Controller {
        max_len: u16::MAX,
        reason: PacketInReason::Action,
        controller_id: 0,
        userdata: None,
        pause: false,
        meter_id: None,
    };
    while r.len() >= 4 {
        let ty = r.u16().map_err(&t)?;
        let len = usize::from(r.u16().map_err(&t)?);
        if len < 4 {
            return Err(DecodeError::new(
                OfpError::ActionBadLen,
                format!("controller2 property length {len}"),
            ));
        }
        let mut body = r.take(len - 4).map_err(&t)?;
        let pad = (len.next_multiple_of(8) - len).min(r.len());
        r.skip(pad).map_err(&t)?;
        match ty {
            controller2::MAX_LEN => c.max_len = body.u16().map_err(&t)?,
            controller2::CONTROLLER_ID => c.controller_id = body.u16().map_err(&t)?,
            controller2::REASON => {
                c.reason = reason_from_code(body.u8().map_err(&t)?)?;
            }
            controller2::USERDATA => c.userdata = Some(body.rest().to_vec()),
            controller2::PAUSE => c.pause = true,
            controller2::METER_ID => c.meter_id = Some(MeterId(body.u32().map_err(&t)?)),
            _ => {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    format!("controller2 property {ty}"),
                ));
            }
        }
    }
    Ok(c)
}

fn pull_learn(r: &mut Reader<'_>, learn2: bool) -> Result<Learn, DecodeError> {
    let t = err_len("learn");
    let mut l = Learn {
        idle_timeout: r.u16().map_err(&t)?,
        hard_timeout: r.u16().map_err(&t)?,
        priority: r.u16().map_err(&t)?,
        cookie: Cookie(r.u64().map_err(&t)?),
        ..Learn::default()
    };
    let flags = r.u16().map_err(&t)?;
    l.flags = LearnFlags {
        send_flow_rem: flags & 1 != 0,
        delete_learned: flags & 2 != 0,
    };
    l.table = TableId(r.u8().map_err(&t)?);
    r.skip(1).map_err(&t)?;
    l.fin_idle_timeout = r.u16().map_err(&t)?;
    l.fin_hard_timeout = r.u16().map_err(&t)?;
    if learn2 {
        l.limit = r.u32().map_err(&t)?;
        let ofs = r.u16().map_err(&t)?;
        r.skip(2).map_err(&t)?;
        if flags & LEARN_F_WRITE_RESULT != 0 {
            l.result_dst = Some(subfield(r.u32().map_err(&t)?, ofs, 1)?);
        }
    }
    // Specs until the end or a zero header (the padding).
    while r.len() >= 2 {
        let h = r.u16().map_err(&t)?;
        if h == 0 {
            must_be_zero(r.rest(), "learn")?;
            break;
        }
        let n_bits = h & 0x3ff;
        let immediate = h & (1 << 13) != 0;
        let dst_type = (h >> 11) & 3;
        let src = if immediate {
            let n = usize::from(n_bits).div_ceil(16) * 2;
            LearnSrc::Immediate(r.uint(n).map_err(&t)?)
        } else {
            let hdr = r.u32().map_err(&t)?;
            let ofs = r.u16().map_err(&t)?;
            LearnSrc::Field(subfield(hdr, ofs, n_bits)?)
        };
        let spec = match dst_type {
            0 | 1 => {
                let hdr = r.u32().map_err(&t)?;
                let ofs = r.u16().map_err(&t)?;
                let dst = subfield(hdr, ofs, n_bits)?;
                if dst_type == 0 {
                    LearnSpec::Match { dst, src }
                } else {
                    LearnSpec::Load { dst, src }
                }
            }
            2 => match src {
                LearnSrc::Field(src) => LearnSpec::Output { src },
                LearnSrc::Immediate(_) => {
                    return Err(DecodeError::new(
                        OfpError::ActionBadArgument,
                        "learn output of a constant",
                    ));
                }
            },
            _ => {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "learn spec type 3",
                ));
            }
        };
        l.specs.push(spec);
    }
    Ok(l)
}
