//! NXM and OXM match streams: a match as a sequence of `header, value[, mask]` TLVs, and the
//! TLV form of single fields that `set_field` and Nicira's `reg_load2` carry.
//!
//! # Design
//!
//! The headers come from the field registry ([`fvs_flow::FieldInfo::nxm`] / `oxm`); this
//! module only decides *which* field of a group sharing storage to name (a transport port is
//! `tcp_src`, `udp_src` or `icmp_type` depending on the match's IP protocol), in which order
//! (prerequisites first, because decoders check each TLV's prerequisites against the fields
//! before it), and the few value conversions the wire needs (`in_port` is 16 bits in NXM,
//! OXM carries `vlan_vid`/`vlan_pcp` rather than the 802.1Q TCI, `ip_dscp` is shifted).
//!
//! A header is `class:16 field:7 hasmask:1 length:8`, followed by a 32-bit experimenter id
//! for class `0xffff` (counted in `length`).

use super::buf::{Put, Reader};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::types::low_mask;
use fvs_flow::field::{FIELDS, Header, Prereq, class};
use fvs_flow::matching::{eth_type, ip_proto, vlan};
use fvs_flow::{Field, Match, PortNo};

/// Which header family a stream prefers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Nicira's NXM (OpenFlow 1.0 `NXT_FLOW_MOD` and friends): NXM headers where a field has
    /// one, OXM headers otherwise.
    Nxm,
    /// OXM as in this OpenFlow version: OXM headers where a field has one, NXM otherwise.
    Oxm(Version),
}

/// OpenFlow 1.5's own header for `tcp_flags` (1.3 and 1.4 use an ONF experimenter header).
const OXM_OF15_TCP_FLAGS: Header = Header {
    class: class::OXM_BASIC,
    experimenter: None,
    field: 42,
    bytes: 2,
    name: "OXM_OF_TCP_FLAGS",
};

/// OpenFlow 1.5's own header for `actset_output` (NXM, 1.3 and 1.4 use an ONF experimenter
/// header).
const OXM_OF15_ACTSET_OUTPUT: Header = Header {
    class: class::OXM_BASIC,
    experimenter: None,
    field: 43,
    bytes: 4,
    name: "OXM_OF_ACTSET_OUTPUT",
};

/// The header naming `field` in `flavor`, if it has one.
pub fn header_for(field: Field, flavor: Flavor) -> Option<Header> {
    let info = field.info();
    match flavor {
        Flavor::Nxm => info.nxm.or(info.oxm),
        Flavor::Oxm(Version::Of15) if field == Field::ActsetOutput => Some(OXM_OF15_ACTSET_OUTPUT),
        Flavor::Oxm(v) => {
            if field == Field::TcpFlags {
                return Some(match v {
                    Version::Of15 => OXM_OF15_TCP_FLAGS,
                    Version::Of13 | Version::Of14 => info.oxm?,
                    _ => info.nxm?,
                });
            }
            info.oxm.or(info.nxm)
        }
    }
}

/// The field a header names (any flavor).
pub fn field_for(class: u16, field: u8, experimenter: Option<u32>) -> Option<Field> {
    let same = |h: &Option<Header>| {
        h.is_some_and(|h| h.class == class && h.field == field && h.experimenter == experimenter)
    };
    if class == OXM_OF15_TCP_FLAGS.class && field == OXM_OF15_TCP_FLAGS.field {
        return Some(Field::TcpFlags);
    }
    if class == OXM_OF15_ACTSET_OUTPUT.class && field == OXM_OF15_ACTSET_OUTPUT.field {
        return Some(Field::ActsetOutput);
    }
    FIELDS
        .iter()
        .find(|i| same(&i.nxm) || same(&i.oxm))
        .map(|i| i.field)
}

/// Writes one TLV: `header`, `value` and, when `mask` is given, the mask.
pub fn put_entry(out: &mut Vec<u8>, h: Header, value: u128, mask: Option<u128>) {
    let n = usize::from(h.bytes);
    let exp_len = if h.experimenter.is_some() { 4 } else { 0 };
    let payload = if mask.is_some() { 2 * n } else { n } + exp_len;
    out.put_u16(h.class);
    out.put_u8(h.field << 1 | u8::from(mask.is_some()));
    out.put_u8(payload as u8);
    if let Some(e) = h.experimenter {
        out.put_u32(e);
    }
    out.put_uint(value, n);
    if let Some(m) = mask {
        out.put_uint(m, n);
    }
}

/// Writes a header alone (as `NXAST_REG_MOVE`'s successors and `learn` do not, but
/// `output_reg2` and `reg_load2`'s neighbours do): `hasmask` clear, length of the value.
pub fn put_header(out: &mut Vec<u8>, h: Header) {
    put_entry_header(out, h, false);
}

fn put_entry_header(out: &mut Vec<u8>, h: Header, masked: bool) {
    let exp_len = if h.experimenter.is_some() { 4 } else { 0 };
    let n = usize::from(h.bytes) * if masked { 2 } else { 1 } + exp_len;
    out.put_u16(h.class);
    out.put_u8(h.field << 1 | u8::from(masked));
    out.put_u8(n as u8);
    if let Some(e) = h.experimenter {
        out.put_u32(e);
    }
}

/// One decoded TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The field.
    pub field: Field,
    /// The value, right-aligned.
    pub value: u128,
    /// The mask, when the TLV has one.
    pub mask: Option<u128>,
}

/// Reads one TLV header: the field and its value width in bytes, and whether it is masked.
pub(crate) fn pull_header(r: &mut Reader<'_>) -> Result<(Field, usize, bool), DecodeError> {
    let bad_len = |_| DecodeError::new(OfpError::MatchBadLen, "NXM/OXM header is truncated");
    let class = r.u16().map_err(bad_len)?;
    let fh = r.u8().map_err(bad_len)?;
    let len = usize::from(r.u8().map_err(bad_len)?);
    let (field_no, masked) = (fh >> 1, fh & 1 == 1);
    let (experimenter, len) = if class == class::EXPERIMENTER {
        let e = r.u32().map_err(bad_len)?;
        (
            Some(e),
            len.checked_sub(4)
                .ok_or_else(|| bad_len(super::buf::Truncated))?,
        )
    } else {
        (None, len)
    };
    let field = field_for(class, field_no, experimenter).ok_or_else(|| {
        DecodeError::new(
            OfpError::MatchBadField,
            format!("unknown NXM/OXM field class {class:#x} field {field_no}"),
        )
    })?;
    let h = header_for_decode(field, class, experimenter);
    let width = usize::from(h.bytes);
    if len != width * if masked { 2 } else { 1 } {
        return Err(DecodeError::new(
            OfpError::MatchBadLen,
            format!("{} has length {len}", h.name),
        ));
    }
    Ok((field, width, masked))
}

/// The header of `field` as the peer wrote it (the class decides the width of `in_port`).
fn header_for_decode(field: Field, class: u16, experimenter: Option<u32>) -> Header {
    if field == Field::TcpFlags && class == class::OXM_BASIC {
        return OXM_OF15_TCP_FLAGS;
    }
    if field == Field::ActsetOutput && class == class::OXM_BASIC {
        return OXM_OF15_ACTSET_OUTPUT;
    }
    let info = field.info();
    let pick = |h: Option<Header>| h.filter(|h| h.class == class && h.experimenter == experimenter);
    pick(info.nxm)
        .or(pick(info.oxm))
        .or(info.nxm)
        .or(info.oxm)
        .unwrap_or(OXM_OF15_TCP_FLAGS)
}

/// Reads one TLV.
pub(crate) fn pull_entry(r: &mut Reader<'_>) -> Result<Entry, DecodeError> {
    let (field, width, masked) = pull_header(r)?;
    let t = |_| DecodeError::new(OfpError::MatchBadLen, "NXM/OXM value is truncated");
    let value = r.uint(width).map_err(t)?;
    let mask = if masked {
        Some(r.uint(width).map_err(t)?)
    } else {
        None
    };
    Ok(Entry { field, value, mask })
}

/// Appends the TLVs of `m` (no padding). Fields whose prerequisites the match lacks are left
/// out, as Open vSwitch normalizes a match before encoding it.
pub fn put_match(out: &mut Vec<u8>, m: &Match, flavor: Flavor) -> Result<(), EncodeError> {
    let mut m = *m;
    m.normalize();
    for field in fields_in_order(&m, flavor) {
        put_field(out, &m, field, flavor)?;
    }
    Ok(())
}

/// The fields to write for `m`, prerequisites first. The packet type comes first of all, as
/// OpenFlow 1.5 requires (written only when the match names one, Ethernet included).
fn fields_in_order(m: &Match, flavor: Flavor) -> Vec<Field> {
    let mut f = Vec::with_capacity(16);
    f.push(Field::PacketType);
    f.push(Field::DpHash);
    f.push(if flavor == Flavor::Nxm {
        Field::InPort
    } else {
        Field::InPortOxm
    });
    f.push(Field::ActsetOutput);
    f.extend([Field::EthDst, Field::EthSrc, Field::EthType]);
    if flavor == Flavor::Nxm {
        f.push(Field::VlanTci);
    } else {
        f.extend([Field::VlanVid, Field::VlanPcp]);
    }
    let et = m.eth_type();
    let is_ip = matches!(et, Some(eth_type::IPV4 | eth_type::IPV6));
    match et {
        Some(eth_type::MPLS | eth_type::MPLSM) => f.extend([
            Field::MplsLabel,
            Field::MplsTc,
            Field::MplsBos,
            Field::MplsTtl,
        ]),
        Some(eth_type::ARP | eth_type::RARP) => f.extend([
            Field::ArpOp,
            Field::ArpSpa,
            Field::ArpTpa,
            Field::ArpSha,
            Field::ArpTha,
        ]),
        _ => {}
    }
    if is_ip {
        f.push(Field::IpProto);
        f.push(if flavor == Flavor::Nxm {
            Field::NwTos
        } else {
            Field::IpDscp
        });
        f.extend([Field::IpEcn, Field::NwTtl, Field::IpFrag]);
        if et == Some(eth_type::IPV4) {
            f.extend([Field::Ipv4Src, Field::Ipv4Dst]);
        } else {
            f.extend([Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6Label]);
        }
        let v6 = et == Some(eth_type::IPV6);
        match m.ip_proto() {
            Some(ip_proto::TCP) => f.extend([Field::TcpSrc, Field::TcpDst, Field::TcpFlags]),
            Some(ip_proto::UDP) => f.extend([Field::UdpSrc, Field::UdpDst]),
            Some(ip_proto::SCTP) => f.extend([Field::SctpSrc, Field::SctpDst]),
            Some(ip_proto::ICMP) if !v6 => f.extend([Field::IcmpType, Field::IcmpCode]),
            Some(ip_proto::ICMPV6) if v6 => {
                f.extend([Field::Icmpv6Type, Field::Icmpv6Code]);
                f.extend([
                    Field::NdTarget,
                    Field::NdSll,
                    Field::NdTll,
                    Field::NdReserved,
                    Field::NdOptionsType,
                ]);
            }
            _ => {}
        }
    }
    f.extend(Field::TUNNEL);
    f.extend([
        Field::Metadata,
        Field::PktMark,
        Field::CtState,
        Field::CtZone,
        Field::CtMark,
        Field::CtLabel,
        Field::CtNwSrc,
        Field::CtNwDst,
        Field::CtIpv6Src,
        Field::CtIpv6Dst,
        Field::CtNwProto,
        Field::CtTpSrc,
        Field::CtTpDst,
        Field::ConjId,
        Field::RecircId,
    ]);
    f.extend([
        Field::Reg0,
        Field::Reg1,
        Field::Reg2,
        Field::Reg3,
        Field::Reg4,
        Field::Reg5,
        Field::Reg6,
        Field::Reg7,
        Field::Reg8,
        Field::Reg9,
        Field::Reg10,
        Field::Reg11,
        Field::Reg12,
        Field::Reg13,
        Field::Reg14,
        Field::Reg15,
    ]);
    f.retain(|field| m.prereq_satisfied(field.info().prereq));
    f
}

fn put_field(
    out: &mut Vec<u8>,
    m: &Match,
    field: Field,
    flavor: Flavor,
) -> Result<(), EncodeError> {
    let (mut value, mut mask) = m.get(field);
    if mask == 0 {
        return Ok(());
    }
    let version = match flavor {
        Flavor::Nxm => Version::Of10,
        Flavor::Oxm(v) => v,
    };
    let h = header_for(field, flavor).ok_or(EncodeError::Field {
        field: field.name(),
        version,
    })?;
    let full = low_mask(h.bytes as u16 * 8);
    match field {
        Field::InPort => {
            value = u128::from(super::msg::port_to_of10(PortNo(value as u32)));
            mask = full;
        }
        Field::VlanPcp => {
            let (tci, tci_mask) = m.get(Field::VlanTci);
            let cfi = u128::from(vlan::CFI);
            if tci & tci_mask & cfi == 0 {
                return Ok(());
            }
            mask = full;
        }
        Field::NwTos => {
            if mask & 0xfc == 0 {
                return Ok(());
            }
            value &= 0xfc;
            mask = full;
        }
        Field::IcmpType | Field::IcmpCode | Field::Icmpv6Type | Field::Icmpv6Code => {
            mask = full;
        }
        Field::ArpOp | Field::IpDscp | Field::IpEcn | Field::NwTtl | Field::IpProto => {
            mask = full;
        }
        _ => {
            if mask == low_mask(field.bits() as u16) {
                mask = full;
            }
        }
    }
    put_entry(out, h, value, (mask != full).then_some(mask));
    Ok(())
}

/// Reads a whole TLV stream into a match, checking each field's length, duplicates, value
/// and prerequisites (against the fields before it, as Open vSwitch does).
pub fn pull_match(bytes: &[u8]) -> Result<Match, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut m = Match::default();
    let mut seen: Vec<Field> = Vec::new();
    while !r.is_empty() {
        let e = pull_entry(&mut r)?;
        if seen.contains(&e.field) {
            return Err(DecodeError::new(
                OfpError::MatchDupField,
                format!("{} appears twice", e.field.name()),
            ));
        }
        seen.push(e.field);
        let prereq = e.field.info().prereq;
        if !m.prereq_satisfied(prereq) {
            // The connection tuple of a named connection but the wrong IP version is an
            // inconsistent match to Open vSwitch, not a missing prerequisite.
            let error = if matches!(prereq, Prereq::CtIpv4 | Prereq::CtIpv6)
                && m.prereq_satisfied(Prereq::Ct)
            {
                OfpError::ActionMatchInconsistent
            } else {
                OfpError::MatchBadPrereq
            };
            return Err(DecodeError::new(
                error,
                format!("{} lacks its prerequisites", e.field.name()),
            ));
        }
        apply_entry(&mut m, e)?;
    }
    Ok(m)
}

fn apply_entry(m: &mut Match, e: Entry) -> Result<(), DecodeError> {
    let field = e.field;
    let bits = field.bits() as u16;
    let bad = |what: &str| {
        DecodeError::new(
            OfpError::MatchBadValue,
            format!("{}: bad {what}", field.name()),
        )
    };
    if let Some(mask) = e.mask
        && !field.info().maskable
        && mask != low_mask(bits)
    {
        return Err(DecodeError::new(
            OfpError::MatchBadMask,
            format!("{} cannot be masked", field.name()),
        ));
    }
    let mask = e.mask.unwrap_or(u128::MAX);
    match field {
        Field::InPort => m.set(field, u128::from(PortNo::from_of10(e.value as u16).0)),
        Field::NwTos => {
            if e.value & 3 != 0 {
                return Err(bad("value (ECN bits set)"));
            }
            m.set_masked(field, e.value, 0xfc);
        }
        Field::ArpOp => m.set(field, e.value & 0xff),
        _ => {
            if e.value & !low_mask(bits) != 0 {
                return Err(bad("value"));
            }
            m.set_masked(field, e.value, mask & low_mask(bits));
        }
    }
    Ok(())
}

/// Writes OpenFlow 1.2+'s `ofp_match` of type OXM: type, length (without padding), the TLVs,
/// then zero padding to a multiple of 8.
pub fn put_ofp_match(out: &mut Vec<u8>, m: &Match, v: Version) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u16(1);
    out.put_u16(0);
    put_match(out, m, Flavor::Oxm(v))?;
    let len = out.len() - start;
    out.set_u16(start + 2, len as u16);
    out.pad_to_from(start, 8);
    Ok(())
}

/// Reads OpenFlow 1.2+'s `ofp_match` (consuming its padding).
pub(crate) fn pull_ofp_match(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
    let t = |_| DecodeError::new(OfpError::MatchBadLen, "ofp_match is truncated");
    let ty = r.peek_u16(0).map_err(t)?;
    let len = usize::from(r.peek_u16(2).map_err(t)?);
    if ty != 1 {
        return Err(DecodeError::new(
            OfpError::MatchBadType,
            format!("match type {ty} (only OXM is supported)"),
        ));
    }
    if len < 4 {
        return Err(DecodeError::new(
            OfpError::MatchBadLen,
            "ofp_match length below 4",
        ));
    }
    let mut whole = r.take(len.next_multiple_of(8)).map_err(t)?;
    whole.skip(4).map_err(t)?;
    let tlvs = whole.bytes(len - 4).map_err(t)?;
    pull_match(tlvs)
}

/// Helpers for padding relative to a structure's start.
trait PadFrom {
    fn pad_to_from(&mut self, start: usize, align: usize);
}

impl PadFrom for Vec<u8> {
    fn pad_to_from(&mut self, start: usize, align: usize) {
        let len = self.len() - start;
        self.put_zeros(len.next_multiple_of(align) - len);
    }
}
