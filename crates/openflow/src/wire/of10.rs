//! OpenFlow 1.0's fixed structures: the 40-byte `ofp_match` with its wildcard bits, and the
//! OpenFlow 1.0 actions (`OFPAT10_*`).
//!
//! `ofp_match` cannot say everything a [`Match`] can; the conversions are lossy the way Open
//! vSwitch's are: VLAN matches travel as `dl_vlan`/`dl_vlan_pcp` (with `0xffff` for "no
//! tag"), `nw_tos` keeps only the DSCP bits, IP addresses only CIDR prefixes, and an ICMP
//! type and code travel in `tp_src` and `tp_dst`.

use super::buf::{Put, Reader};
use super::msg::port_to_of10;
use super::{DecodeError, OfpError};
use crate::action::{Action, Output, PopVlanSpelling};
use crate::types::{EthAddr, PortNo, QueueId};
use fvs_flow::matching::{eth_type, vlan};
use fvs_flow::{Field, Match};

/// Wildcard bits of `ofp_match.wildcards`.
mod fw {
    pub(super) const IN_PORT: u32 = 1 << 0;
    pub(super) const DL_VLAN: u32 = 1 << 1;
    pub(super) const DL_SRC: u32 = 1 << 2;
    pub(super) const DL_DST: u32 = 1 << 3;
    pub(super) const DL_TYPE: u32 = 1 << 4;
    pub(super) const NW_PROTO: u32 = 1 << 5;
    pub(super) const TP_SRC: u32 = 1 << 6;
    pub(super) const TP_DST: u32 = 1 << 7;
    pub(super) const NW_SRC_SHIFT: u32 = 8;
    pub(super) const NW_DST_SHIFT: u32 = 14;
    pub(super) const DL_VLAN_PCP: u32 = 1 << 20;
    pub(super) const NW_TOS: u32 = 1 << 21;
}

/// Length of `ofp_match`.
pub const MATCH_LEN: usize = 40;

/// The number of wildcarded low bits of an IPv4 mask, if it is a CIDR prefix mask.
fn wildcarded_bits(mask: u32) -> Option<u32> {
    let n = mask.leading_ones();
    (mask.checked_shl(n).unwrap_or(0) == 0).then_some(32 - n)
}

/// Writes `m` as an `ofp_match` (after dropping fields without prerequisites).
pub fn put_match(out: &mut Vec<u8>, m: &Match) {
    let mut m = *m;
    m.normalize();
    let mut wc = 0u32;
    let exact = |f: Field| m.get(f).1 != 0;
    let in_port = if exact(Field::InPort) {
        port_to_of10(PortNo(m.get(Field::InPort).0 as u32))
    } else {
        wc |= fw::IN_PORT;
        0
    };
    // VLAN: no match, "no tag", or vid and/or pcp (each only when its bits are matched).
    let (tci, tci_mask) = m.get(Field::VlanTci);
    let (tci, tci_mask) = (tci as u16, tci_mask as u16);
    let (mut dl_vlan, mut dl_vlan_pcp) = (0u16, 0u8);
    if tci_mask == 0 {
        wc |= fw::DL_VLAN | fw::DL_VLAN_PCP;
    } else if tci_mask & vlan::CFI != 0 && tci & vlan::CFI == 0 {
        dl_vlan = vlan::OFP10_NONE;
        wc |= fw::DL_VLAN_PCP;
    } else {
        if tci_mask & vlan::VID_MASK == 0 {
            wc |= fw::DL_VLAN;
        } else {
            dl_vlan = tci & vlan::VID_MASK;
        }
        if tci_mask & vlan::PCP_MASK == 0 {
            wc |= fw::DL_VLAN_PCP;
        } else {
            dl_vlan_pcp = (tci >> 13) as u8;
        }
    }
    let mut get = |f: Field, bit: u32| {
        let (v, mk) = m.get(f);
        if mk == 0 {
            wc |= bit;
            0
        } else {
            v
        }
    };
    let dl_src = get(Field::EthSrc, fw::DL_SRC);
    let dl_dst = get(Field::EthDst, fw::DL_DST);
    let dl_type = get(Field::EthType, fw::DL_TYPE) as u16;
    let nw_tos = (get(Field::NwTos, fw::NW_TOS) as u8) & 0xfc;
    let nw_proto = get(Field::IpProto, fw::NW_PROTO) as u8;
    let tp_src = get(Field::TcpSrc, fw::TP_SRC) as u16;
    let tp_dst = get(Field::TcpDst, fw::TP_DST) as u16;
    let mut addr = |f: Field, shift: u32| {
        let (v, mk) = m.get(f);
        let n = wildcarded_bits(mk as u32).unwrap_or(0);
        wc |= n.min(32) << shift;
        v as u32
    };
    let nw_src = addr(Field::Ipv4Src, fw::NW_SRC_SHIFT);
    let nw_dst = addr(Field::Ipv4Dst, fw::NW_DST_SHIFT);
    out.put_u32(wc);
    out.put_u16(in_port);
    out.extend_from_slice(&EthAddr::from_u128(dl_src).0);
    out.extend_from_slice(&EthAddr::from_u128(dl_dst).0);
    out.put_u16(dl_vlan);
    out.put_u8(dl_vlan_pcp);
    out.put_u8(0);
    out.put_u16(dl_type);
    out.put_u8(nw_tos);
    out.put_u8(nw_proto);
    out.put_u16(0);
    out.put_u32(nw_src);
    out.put_u32(nw_dst);
    out.put_u16(tp_src);
    out.put_u16(tp_dst);
}

/// Reads an `ofp_match`.
pub(crate) fn pull_match(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
    let mut r = r
        .take(MATCH_LEN)
        .map_err(|_| DecodeError::new(OfpError::BadLen, "OpenFlow 1.0 match is truncated"))?;
    // The length was checked once above; these reads cannot fail.
    let t = |_| DecodeError::new(OfpError::BadLen, "OpenFlow 1.0 match is truncated");
    let wc = r.u32().map_err(t)?;
    let in_port = r.u16().map_err(t)?;
    let dl_src: [u8; 6] = r.array().map_err(t)?;
    let dl_dst: [u8; 6] = r.array().map_err(t)?;
    let dl_vlan = r.u16().map_err(t)?;
    let dl_vlan_pcp = r.u8().map_err(t)?;
    r.skip(1).map_err(t)?;
    let dl_type = r.u16().map_err(t)?;
    let nw_tos = r.u8().map_err(t)?;
    let nw_proto = r.u8().map_err(t)?;
    r.skip(2).map_err(t)?;
    let nw_src = r.u32().map_err(t)?;
    let nw_dst = r.u32().map_err(t)?;
    let tp_src = r.u16().map_err(t)?;
    let tp_dst = r.u16().map_err(t)?;

    let mut m = Match::default();
    let has = |bit: u32| wc & bit == 0;
    if has(fw::IN_PORT) {
        m.set(Field::InPort, u128::from(PortNo::from_of10(in_port).0));
    }
    if has(fw::DL_SRC) {
        m.set(Field::EthSrc, EthAddr(dl_src).to_u128());
    }
    if has(fw::DL_DST) {
        m.set(Field::EthDst, EthAddr(dl_dst).to_u128());
    }
    if has(fw::DL_VLAN) && dl_vlan == vlan::OFP10_NONE {
        m.set_masked(Field::VlanTci, 0, 0xffff);
    } else {
        let mut mask = 0u16;
        if has(fw::DL_VLAN) {
            mask |= vlan::VID_MASK | vlan::CFI;
        }
        if has(fw::DL_VLAN_PCP) {
            mask |= vlan::PCP_MASK | vlan::CFI;
        }
        let tci = (dl_vlan & vlan::VID_MASK) | (u16::from(dl_vlan_pcp & 7) << 13) | vlan::CFI;
        if mask != 0 {
            m.set_masked(Field::VlanTci, u128::from(tci), u128::from(mask));
        }
    }
    if has(fw::DL_TYPE) {
        m.set(Field::EthType, u128::from(dl_type));
    }
    let is_ip = has(fw::DL_TYPE) && dl_type == eth_type::IPV4;
    let is_arp = has(fw::DL_TYPE) && matches!(dl_type, eth_type::ARP | eth_type::RARP);
    if has(fw::NW_TOS) && is_ip {
        m.set_masked(Field::NwTos, u128::from(nw_tos & 0xfc), 0xfc);
    }
    if has(fw::NW_PROTO) && (is_ip || is_arp) {
        m.set(Field::IpProto, u128::from(nw_proto));
    }
    if is_ip || is_arp {
        for (v, shift, f) in [
            (nw_src, fw::NW_SRC_SHIFT, Field::Ipv4Src),
            (nw_dst, fw::NW_DST_SHIFT, Field::Ipv4Dst),
        ] {
            let n = (wc >> shift) & 0x3f;
            if n < 32 {
                let mask = u32::MAX << n;
                m.set_masked(f, u128::from(v & mask), u128::from(mask));
            }
        }
    }
    if is_ip && has(fw::NW_PROTO) {
        if has(fw::TP_SRC) {
            m.set(Field::TcpSrc, u128::from(tp_src));
        }
        if has(fw::TP_DST) {
            m.set(Field::TcpDst, u128::from(tp_dst));
        }
    }
    Ok(m)
}

/// `OFPAT10_*` action types.
pub(crate) mod at {
    pub(crate) const OUTPUT: u16 = 0;
    pub(crate) const SET_VLAN_VID: u16 = 1;
    pub(crate) const SET_VLAN_PCP: u16 = 2;
    pub(crate) const STRIP_VLAN: u16 = 3;
    pub(crate) const SET_DL_SRC: u16 = 4;
    pub(crate) const SET_DL_DST: u16 = 5;
    pub(crate) const SET_NW_SRC: u16 = 6;
    pub(crate) const SET_NW_DST: u16 = 7;
    pub(crate) const SET_NW_TOS: u16 = 8;
    pub(crate) const SET_TP_SRC: u16 = 9;
    pub(crate) const SET_TP_DST: u16 = 10;
    pub(crate) const ENQUEUE: u16 = 11;
}

/// Writes `a` as an OpenFlow 1.0 action; `false` when 1.0 has no own action for it (the
/// caller then tries the Nicira extensions).
pub(crate) fn put_action(out: &mut Vec<u8>, a: &Action) -> bool {
    let hdr = |out: &mut Vec<u8>, t: u16, len: u16| {
        out.put_u16(t);
        out.put_u16(len);
    };
    match a {
        Action::Output(o) => {
            hdr(out, at::OUTPUT, 8);
            out.put_u16(port_to_of10(o.port));
            out.put_u16(o.max_len);
        }
        Action::SetVlanVid { vid, .. } => {
            hdr(out, at::SET_VLAN_VID, 8);
            out.put_u16(*vid);
            out.put_u16(0);
        }
        Action::SetVlanPcp { pcp, .. } => {
            hdr(out, at::SET_VLAN_PCP, 8);
            out.put_u8(*pcp);
            out.put_zeros(3);
        }
        Action::PopVlan(_) => {
            hdr(out, at::STRIP_VLAN, 8);
            out.put_u32(0);
        }
        Action::SetEthSrc(mac) | Action::SetEthDst(mac) => {
            let t = if matches!(a, Action::SetEthSrc(_)) {
                at::SET_DL_SRC
            } else {
                at::SET_DL_DST
            };
            hdr(out, t, 16);
            out.extend_from_slice(&mac.0);
            out.put_zeros(6);
        }
        Action::SetIpv4Src(ip) => {
            hdr(out, at::SET_NW_SRC, 8);
            out.put_u32(u32::from(*ip));
        }
        Action::SetIpv4Dst(ip) => {
            hdr(out, at::SET_NW_DST, 8);
            out.put_u32(u32::from(*ip));
        }
        Action::SetIpTos(tos) => {
            hdr(out, at::SET_NW_TOS, 8);
            out.put_u8(*tos);
            out.put_zeros(3);
        }
        Action::SetL4SrcPort(p) | Action::SetL4DstPort(p) => {
            let t = if matches!(a, Action::SetL4SrcPort(_)) {
                at::SET_TP_SRC
            } else {
                at::SET_TP_DST
            };
            hdr(out, t, 8);
            out.put_u16(*p);
            out.put_u16(0);
        }
        Action::Enqueue { port, queue } => {
            hdr(out, at::ENQUEUE, 16);
            out.put_u16(port_to_of10(*port));
            out.put_zeros(6);
            out.put_u32(queue.0);
        }
        _ => return false,
    }
    true
}

/// Reads the body of an OpenFlow 1.0 action of type `t` (the 4-byte header already read;
/// `r` holds exactly the rest of the action).
pub(crate) fn pull_action(t: u16, r: &mut Reader<'_>) -> Result<Action, DecodeError> {
    let len_err = |_| DecodeError::new(OfpError::ActionBadLen, format!("action type {t}"));
    let want = match t {
        at::SET_DL_SRC | at::SET_DL_DST | at::ENQUEUE => 12,
        0..=10 => 4,
        _ => {
            return Err(DecodeError::new(
                OfpError::ActionBadType,
                format!("OpenFlow 1.0 action type {t}"),
            ));
        }
    };
    if r.len() != want {
        return Err(len_err(super::buf::Truncated));
    }
    Ok(match t {
        at::OUTPUT => Action::Output(Output {
            port: PortNo::from_of10(r.u16().map_err(len_err)?),
            max_len: r.u16().map_err(len_err)?,
        }),
        at::SET_VLAN_VID => {
            let vid = r.u16().map_err(len_err)?;
            if vid > 0xfff {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "VLAN id above 4095",
                ));
            }
            Action::SetVlanVid {
                vid,
                push_if_needed: true,
            }
        }
        at::SET_VLAN_PCP => {
            let pcp = r.u8().map_err(len_err)?;
            if pcp > 7 {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "VLAN PCP above 7",
                ));
            }
            Action::SetVlanPcp {
                pcp,
                push_if_needed: true,
            }
        }
        at::STRIP_VLAN => Action::PopVlan(PopVlanSpelling::StripVlan),
        at::SET_DL_SRC => Action::SetEthSrc(EthAddr(r.array().map_err(len_err)?)),
        at::SET_DL_DST => Action::SetEthDst(EthAddr(r.array().map_err(len_err)?)),
        at::SET_NW_SRC => Action::SetIpv4Src(r.u32().map_err(len_err)?.into()),
        at::SET_NW_DST => Action::SetIpv4Dst(r.u32().map_err(len_err)?.into()),
        at::SET_NW_TOS => {
            let tos = r.u8().map_err(len_err)?;
            if tos & 3 != 0 {
                return Err(DecodeError::new(
                    OfpError::ActionBadArgument,
                    "TOS with ECN bits",
                ));
            }
            Action::SetIpTos(tos)
        }
        at::SET_TP_SRC => Action::SetL4SrcPort(r.u16().map_err(len_err)?),
        at::SET_TP_DST => Action::SetL4DstPort(r.u16().map_err(len_err)?),
        _ => {
            let port = PortNo::from_of10(r.u16().map_err(len_err)?);
            r.skip(6).map_err(len_err)?;
            Action::Enqueue {
                port,
                queue: QueueId(r.u32().map_err(len_err)?),
            }
        }
    })
}
