//! A match: a flow key and a mask over it, set field by field with OpenFlow's semantics.
//!
//! # Invariant
//!
//! `key & !mask == 0`: bits a match ignores are zero in its key, so two matches with the same
//! meaning are equal and a classifier may hash `key` directly.
//!
//! # Field semantics
//!
//! Most fields are a plain bit range of the key, and setting one writes value and mask there.
//! A few OpenFlow views need more, and [`Match::set_masked`] implements them:
//!
//! - `dl_vlan=N` matches VLAN ID N *and* "a VLAN header is present" (`vlan_tci=0x1000|N/0x1fff`);
//!   `dl_vlan=0xffff` means "no VLAN header" (`vlan_tci=0x0000/0xffff`).
//! - `dl_vlan_pcp`/`vlan_pcp` likewise set the present bit with the priority bits.
//! - `nw_tos` matches only the DSCP bits of the TOS byte (`nw_tos=5` is `nw_tos=4`), `ip_dscp`
//!   is the same bits shifted down, `nw_ecn` the low two.
//! - `icmp_type`/`icmp_code` (and the ICMPv6 ones) are the transport source/destination port
//!   values, so an exact type is an exact 16-bit `tp_src`.
//! - `arp_op` keeps only its low 8 bits, as in OVS (`arp_op=300` matches 44; ARP uses opcodes
//!   1 to 4).
//!
//! # Prerequisites
//!
//! A match on a field is meaningful only when the match also pins what the field depends on
//! (`tcp_src` needs `eth_type` IPv4 or IPv6 and `ip_proto=6`). [`Match::check_prerequisites`]
//! reports the first field that lacks them (what a switch must reject); [`Match::normalize`]
//! instead drops such fields, which is what `ovs-ofctl` does before it encodes a flow.

use crate::field::{FIELDS, Field, Prereq};
use crate::key::FlowKey;
use crate::protocols::Protocols;

/// A flow match: the values of the significant bits and the mask saying which bits those are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// Values of the significant bits; zero wherever `mask` is zero.
    pub key: FlowKey,
    /// 1 = significant bit.
    pub mask: FlowKey,
}

/// A field is used without what it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrereqError {
    /// The field's prerequisites (ovs-fields(7)) are not all in the match.
    #[error("match field {} lacks correct prerequisites", .0.name())]
    Missing(Field),
}

/// The shorthand keywords of the text syntax: each pins `eth_type` and maybe `ip_proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shorthand {
    /// IPv4.
    Ip,
    /// IPv6.
    Ipv6,
    /// ICMP over IPv4.
    Icmp,
    /// ICMPv6.
    Icmp6,
    /// TCP over IPv4.
    Tcp,
    /// TCP over IPv6.
    Tcp6,
    /// UDP over IPv4.
    Udp,
    /// UDP over IPv6.
    Udp6,
    /// SCTP over IPv4.
    Sctp,
    /// SCTP over IPv6.
    Sctp6,
    /// ARP.
    Arp,
    /// Reverse ARP.
    Rarp,
    /// Unicast MPLS.
    Mpls,
    /// Multicast MPLS.
    Mplsm,
}

/// Ethertypes the match logic needs by name.
pub mod eth_type {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP.
    pub const RARP: u16 = 0x8035;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLSM: u16 = 0x8848;
}

/// IP protocol numbers the match logic needs by name.
pub mod ip_proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Bits of the 802.1Q TCI.
pub mod vlan {
    /// "A VLAN header is present" (the CFI bit in a packet, `OFPVID_PRESENT` in OpenFlow).
    pub const CFI: u16 = 0x1000;
    /// The VLAN ID.
    pub const VID_MASK: u16 = 0x0fff;
    /// The priority code point.
    pub const PCP_MASK: u16 = 0xe000;
    /// OpenFlow 1.0's `dl_vlan` value for "no VLAN header".
    pub const OFP10_NONE: u16 = 0xffff;
}

/// Bits of the `ip_frag` field.
pub mod frag {
    /// The packet is a fragment.
    pub const ANY: u8 = 1;
    /// The packet is a fragment other than the first.
    pub const LATER: u8 = 2;
}

/// The DSCP bits of the IP TOS byte.
pub const TOS_DSCP_MASK: u8 = 0xfc;

/// Connection-tracking state bits (`ct_state`).
pub mod ct_state {
    /// `trk`: the packet went through the connection tracker.
    pub const TRACKED: u32 = 0x20;
    /// `inv`: the tracker could not make sense of it.
    pub const INVALID: u32 = 0x10;
}

impl Shorthand {
    /// Every shorthand, in the order `ovs-ofctl` documents them.
    pub const ALL: [Self; 14] = [
        Self::Ip,
        Self::Ipv6,
        Self::Icmp,
        Self::Icmp6,
        Self::Tcp,
        Self::Tcp6,
        Self::Udp,
        Self::Udp6,
        Self::Sctp,
        Self::Sctp6,
        Self::Arp,
        Self::Rarp,
        Self::Mpls,
        Self::Mplsm,
    ];

    /// The keyword (`tcp6`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Ipv6 => "ipv6",
            Self::Icmp => "icmp",
            Self::Icmp6 => "icmp6",
            Self::Tcp => "tcp",
            Self::Tcp6 => "tcp6",
            Self::Udp => "udp",
            Self::Udp6 => "udp6",
            Self::Sctp => "sctp",
            Self::Sctp6 => "sctp6",
            Self::Arp => "arp",
            Self::Rarp => "rarp",
            Self::Mpls => "mpls",
            Self::Mplsm => "mplsm",
        }
    }

    /// Looks a keyword up (case-sensitive, as in `ovs-ofctl`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The Ethertype it pins.
    pub const fn eth_type(self) -> u16 {
        match self {
            Self::Ip | Self::Icmp | Self::Tcp | Self::Udp | Self::Sctp => eth_type::IPV4,
            Self::Ipv6 | Self::Icmp6 | Self::Tcp6 | Self::Udp6 | Self::Sctp6 => eth_type::IPV6,
            Self::Arp => eth_type::ARP,
            Self::Rarp => eth_type::RARP,
            Self::Mpls => eth_type::MPLS,
            Self::Mplsm => eth_type::MPLSM,
        }
    }

    /// The IP protocol it pins, if any.
    pub const fn ip_proto(self) -> Option<u8> {
        match self {
            Self::Icmp => Some(ip_proto::ICMP),
            Self::Icmp6 => Some(ip_proto::ICMPV6),
            Self::Tcp | Self::Tcp6 => Some(ip_proto::TCP),
            Self::Udp | Self::Udp6 => Some(ip_proto::UDP),
            Self::Sctp | Self::Sctp6 => Some(ip_proto::SCTP),
            Self::Ip | Self::Ipv6 | Self::Arp | Self::Rarp | Self::Mpls | Self::Mplsm => None,
        }
    }

    /// The shorthand that says exactly this Ethertype and IP protocol, if one does.
    pub fn from_parts(eth_type: u16, ip_proto: Option<u8>) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.eth_type() == eth_type && s.ip_proto() == ip_proto)
    }
}

impl Match {
    /// The match that matches every packet.
    pub const CATCHALL: Self = Self {
        key: FlowKey::ZERO,
        mask: FlowKey::ZERO,
    };

    /// Matches `field` exactly against `value` (right-aligned), with the field's semantics
    /// (module docs).
    pub fn set(&mut self, field: Field, value: u128) {
        self.set_masked(field, value, u128::MAX);
    }

    /// Matches the bits of `field` selected by `mask` against `value` (both right-aligned and
    /// cut to the field's width). A zero mask stops matching on the field.
    pub fn set_masked(&mut self, field: Field, value: u128, mask: u128) {
        let tci = Field::VlanTci.loc();
        match field {
            Field::DlVlan => {
                let (v, m) = self.get(Field::VlanTci);
                let v16 = (value & 0xffff) as u16;
                if mask & 0xfff == 0 {
                    self.set_raw(tci, v & !0x1fff, m & !0x1fff);
                } else if v16 == vlan::OFP10_NONE {
                    self.set_raw(tci, 0, 0xffff);
                } else {
                    let vid = u128::from(vlan::CFI | (v16 & vlan::VID_MASK));
                    self.set_raw(tci, (v & !0x1fff) | vid, m | 0x1fff);
                }
            }
            Field::DlVlanPcp | Field::VlanPcp => {
                let (v, m) = self.get(Field::VlanTci);
                if mask & 0x7 == 0 {
                    self.set_raw(tci, v & !0xf000, m & !0xf000);
                } else {
                    let pcp = ((value & 0x7) << 13) | u128::from(vlan::CFI);
                    self.set_raw(tci, (v & !0xf000) | pcp, m | 0xf000);
                }
            }
            Field::NwTos => {
                // Only the DSCP bits; the ECN bits keep whatever `nw_ecn` said.
                let dscp = u128::from(TOS_DSCP_MASK);
                let (v, m) = self.get(Field::NwTos);
                let mask = mask & dscp;
                self.set_raw(
                    field.loc(),
                    (v & !dscp) | (value & mask),
                    (m & !dscp) | mask,
                );
            }
            Field::IcmpType | Field::Icmpv6Type | Field::IcmpCode | Field::Icmpv6Code => {
                // The ICMP type and code are the transport ports' values: an exact ICMP type
                // is an exact 16-bit `tp_src` (as in OVS, so `tcp,icmp_type=3` is `tp_src=3`).
                let port = if matches!(field, Field::IcmpType | Field::Icmpv6Type) {
                    Field::TcpSrc
                } else {
                    Field::TcpDst
                };
                let mask = if mask & 0xff == 0xff {
                    0xffff
                } else {
                    mask & 0xff
                };
                self.set_raw(port.loc(), value & 0xff, mask);
            }
            _ => self.set_raw(field.loc(), value, mask),
        }
    }

    /// Stops matching on `field`.
    pub fn clear(&mut self, field: Field) {
        self.set_masked(field, 0, 0);
    }

    /// Applies a shorthand keyword: pins `eth_type` and, if it has one, `ip_proto`.
    pub fn set_shorthand(&mut self, shorthand: Shorthand) {
        self.set(Field::EthType, u128::from(shorthand.eth_type()));
        if let Some(proto) = shorthand.ip_proto() {
            self.set(Field::IpProto, u128::from(proto));
        }
    }

    /// Drops every field whose prerequisites the match does not satisfy, as `ovs-ofctl` does
    /// before encoding a flow. Returns true when something was dropped.
    ///
    /// Fields sharing storage (`nw_src` and `arp_spa`, `tp_src` and `icmp_type`) keep their
    /// bits when any of them is satisfied.
    pub fn normalize(&mut self) -> bool {
        let mut keep = FlowKey::ZERO;
        for info in &FIELDS {
            if self.normalize_keeps(info.prereq) {
                keep = keep.or(&info.loc.full_mask());
            }
        }
        // `ct_nw_proto=0` says nothing ovs-ofctl keeps (no connection has protocol 0).
        if self.exact(Field::CtNwProto) == Some(0) {
            keep = keep.and(&invert(&Field::CtNwProto.loc().full_mask()));
        }
        let before = *self;
        self.mask = self.mask.and(&keep);
        self.key = self.key.and(&self.mask);
        before != *self
    }

    /// Looks up `field`: its value and mask, right-aligned (mask 0 = not matched).
    pub fn get(&self, field: Field) -> (u128, u128) {
        let loc = field.loc();
        (self.key.get(loc), self.mask.get(loc))
    }

    /// The field's value when the match pins all of its bits.
    pub fn exact(&self, field: Field) -> Option<u128> {
        let (v, m) = self.get(field);
        let full = self.mask_of_exact(field);
        (m == full).then_some(v)
    }

    /// The Ethertype, when matched exactly, or when the match names a packet type of
    /// namespace 1 (a bare L3 packet, `packet_type=(1,0x800)`), whose type is an Ethertype.
    pub fn eth_type(&self) -> Option<u16> {
        self.exact(Field::EthType)
            .or_else(|| {
                let pt = self.exact(Field::PacketType)?;
                (pt >> 16 == PACKET_TYPE_NS_ETHERTYPE).then_some(pt & 0xffff)
            })
            .map(|v| v as u16)
    }

    /// The IP protocol (or, in ARP flows, the low byte of the opcode), when matched exactly.
    pub fn ip_proto(&self) -> Option<u8> {
        self.exact(Field::IpProto).map(|v| v as u8)
    }

    /// True when the match says nothing (matches every packet).
    pub fn is_catchall(&self) -> bool {
        self.mask.is_zero()
    }

    /// True when the match looks at the frame itself (any L2 to L4 field) rather than only at
    /// the packet's metadata (ports, tunnel, registers, connection tracking, `recirc_id`...).
    /// Open vSwitch's matches then imply the Ethernet packet type.
    pub fn constrains_frame(&self) -> bool {
        let metadata_in_l2 = Field::RecircId.loc().full_mask();
        let first = usize::from(crate::key::word::ETH_SRC_VLAN);
        self.mask.words[first..]
            .iter()
            .zip(&metadata_in_l2.words[first..])
            .any(|(m, meta)| m & !meta != 0)
    }

    /// True when `flow` has the match's value in every significant bit.
    pub fn matches(&self, flow: &FlowKey) -> bool {
        flow.and(&self.mask) == self.key
    }

    /// Reports the first field (in registry order) matched without its prerequisites.
    pub fn check_prerequisites(&self) -> Result<(), PrereqError> {
        let mut satisfied = FlowKey::ZERO;
        for info in &FIELDS {
            if self.prereq_satisfied(info.prereq) {
                satisfied = satisfied.or(&info.loc.full_mask());
            }
        }
        for info in &FIELDS {
            let used = self.mask.and(&info.loc.full_mask());
            if !used.is_zero() && !used.is_subset_of(&satisfied) {
                return Err(PrereqError::Missing(info.field));
            }
        }
        Ok(())
    }

    /// True when the match satisfies `prereq`.
    pub fn prereq_satisfied(&self, prereq: Prereq) -> bool {
        let eth = self.eth_type();
        let is_ip = matches!(eth, Some(eth_type::IPV4 | eth_type::IPV6));
        let not_later = {
            let (v, m) = self.get(Field::IpFrag);
            v & m & u128::from(frag::LATER) == 0
        };
        let proto = self.ip_proto();
        let nd = |icmp_type: u8| {
            self.prereq_satisfied(Prereq::Icmpv6)
                && self.exact(Field::Icmpv6Type) == Some(u128::from(icmp_type))
                && self.get(Field::Icmpv6Code).0 == 0
        };
        match prereq {
            Prereq::None => true,
            Prereq::VlanVid => {
                let (v, m) = self.get(Field::VlanTci);
                v & m & u128::from(vlan::CFI) != 0
            }
            Prereq::Arp => matches!(eth, Some(eth_type::ARP | eth_type::RARP)),
            Prereq::Ipv4 => eth == Some(eth_type::IPV4),
            Prereq::Ipv6 => eth == Some(eth_type::IPV6),
            Prereq::Ip => is_ip,
            Prereq::Mpls => matches!(eth, Some(eth_type::MPLS | eth_type::MPLSM)),
            Prereq::Tcp => is_ip && proto == Some(ip_proto::TCP) && not_later,
            Prereq::Udp => is_ip && proto == Some(ip_proto::UDP) && not_later,
            Prereq::Sctp => is_ip && proto == Some(ip_proto::SCTP) && not_later,
            Prereq::Icmpv4 => eth == Some(eth_type::IPV4) && proto == Some(ip_proto::ICMP),
            Prereq::Icmpv6 => eth == Some(eth_type::IPV6) && proto == Some(ip_proto::ICMPV6),
            Prereq::NdSolicit => nd(135),
            Prereq::NdAdvert => nd(136),
            Prereq::Nd => nd(135) || nd(136),
            Prereq::Ct => self.names_a_connection(),
            Prereq::CtIpv4 => self.names_a_connection() && eth == Some(eth_type::IPV4),
            Prereq::CtIpv6 => self.names_a_connection() && eth == Some(eth_type::IPV6),
            Prereq::CtTp => {
                self.names_a_connection() && self.exact(Field::CtNwProto).is_some_and(|p| p != 0)
            }
        }
    }

    /// True when the match's `ct_state` implies the packet belongs to a tracked connection,
    /// so that its original-direction tuple (`ct_nw_src`...) means something: a state bit
    /// other than `trk` and `inv` is required set (`+est`, `+new`, `+snat`...), or `+trk-inv`.
    fn names_a_connection(&self) -> bool {
        let (v, m) = self.get(Field::CtState);
        let (v, m) = (v as u32, m as u32);
        let both = ct_state::TRACKED | ct_state::INVALID;
        v & m & !both != 0 || (m & both == both && v & both == ct_state::TRACKED)
    }

    /// True when `ovs-ofctl` keeps a match on a field with this prerequisite when it
    /// normalizes a flow. It drops fields whose protocol the flow does not name, but leaves
    /// the connection-tracking tuple to the switch, which refuses it without a valid
    /// `ct_state` (`OFPBMC_BAD_PREREQ`); only the tuple's ports go without `ct_nw_proto`.
    fn normalize_keeps(&self, prereq: Prereq) -> bool {
        match prereq {
            Prereq::Ct | Prereq::CtIpv4 | Prereq::CtIpv6 => true,
            Prereq::CtTp => self.exact(Field::CtNwProto).is_some_and(|p| p != 0),
            _ => self.prereq_satisfied(prereq),
        }
    }

    /// The protocols that can carry this match, judged from the match alone (how each field
    /// is masked, and whether it is an IPv6 flow). Parsing narrows further by the names used.
    pub fn usable_protocols(&self) -> Protocols {
        usable_protocols(self)
    }

    /// The mask an exact match on `field` sets (`nw_tos` covers only the DSCP bits).
    fn mask_of_exact(&self, field: Field) -> u128 {
        match field {
            Field::NwTos => u128::from(TOS_DSCP_MASK),
            _ => {
                let bits = field.bits();
                if bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << bits) - 1
                }
            }
        }
    }

    fn set_raw(&mut self, loc: crate::Loc, value: u128, mask: u128) {
        self.mask.set(loc, mask);
        self.key.set(loc, value & mask);
    }
}

/// Every bit of `k` flipped.
fn invert(k: &FlowKey) -> FlowKey {
    let mut out = *k;
    for w in &mut out.words {
        *w = !*w;
    }
    out
}

/// The packet-type namespace whose types are Ethertypes (OpenFlow 1.5's `OFPHTN_ETHERTYPE`).
const PACKET_TYPE_NS_ETHERTYPE: u128 = 1;

/// With [`Field::TUNNEL`], fields that between them cover every bit of the key once, each
/// standing for the storage it shares with its aliases (`tcp_src` for `tp_src`, `udp_src`,
/// `icmp_type`...). [`usable_protocols`] judges each by its own registry row.
const STORAGE_FIELDS: [Field; 53] = [
    Field::Metadata,
    Field::InPort,
    Field::PktMark,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
    Field::ConjId,
    Field::RecircId,
    Field::DpHash,
    Field::PacketType,
    Field::ActsetOutput,
    Field::CtNwProto,
    Field::CtNwSrc,
    Field::CtNwDst,
    Field::CtIpv6Src,
    Field::CtIpv6Dst,
    Field::CtTpSrc,
    Field::CtTpDst,
    Field::Xreg0,
    Field::Xreg1,
    Field::Xreg2,
    Field::Xreg3,
    Field::Xreg4,
    Field::Xreg5,
    Field::Xreg6,
    Field::Xreg7,
    Field::EthSrc,
    Field::EthDst,
    Field::EthType,
    Field::VlanTci,
    Field::MplsLabel,
    Field::MplsTc,
    Field::MplsBos,
    Field::MplsTtl,
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::Ipv6Label,
    Field::IpProto,
    Field::IpDscp,
    Field::IpEcn,
    Field::NwTtl,
    Field::IpFrag,
    Field::ArpSha,
    Field::ArpTha,
    Field::TcpSrc,
    Field::TcpDst,
    Field::TcpFlags,
    Field::NdTarget,
    Field::NdReserved,
    Field::NdOptionsType,
];

/// The protocols able to carry `m`, judged from the match itself: each field by how it is
/// masked (exact, prefix, arbitrary; per the registry's `usable` columns), plus the rule that
/// only NXM and OXM can match L3/L4 fields inside IPv6. `ovs-ofctl` intersects this with what
/// the field names used in the text allow.
pub fn usable_protocols(m: &Match) -> Protocols {
    let mut usable = Protocols::ANY;
    for field in Field::TUNNEL.into_iter().chain(STORAGE_FIELDS) {
        let info = field.info();
        let (_, mask) = m.get(field);
        if mask == 0 {
            continue;
        }
        let full = m.mask_of_exact(field);
        let kind = if field == Field::VlanTci {
            vlan_usable(mask as u16)
        } else if mask & full == full {
            info.usable.exact
        } else if is_prefix(mask, field.bits()) {
            info.usable.cidr
        } else {
            info.usable.bitwise
        };
        usable = usable.and(kind);
    }
    let nx_oxm = Protocols::NXM_ANY.or(Protocols::OXM_ANY);
    if m.eth_type() == Some(eth_type::IPV6) {
        let l3l4 = [Field::IpProto, Field::NwTos, Field::TcpSrc, Field::TcpDst];
        if l3l4.iter().any(|f| m.get(*f).1 != 0) {
            usable = usable.and(nx_oxm);
        }
    }
    usable
}

/// OpenFlow 1.0 can say "VLAN ID", "priority", both, or "no VLAN"; any other TCI mask needs
/// NXM or OXM.
fn vlan_usable(mask: u16) -> Protocols {
    match mask {
        0x1fff | 0xf000 | 0xffff => Protocols::ANY,
        _ => Protocols::NXM_ANY.or(Protocols::OXM_ANY),
    }
}

/// True when `mask` is a run of ones from the top of a `bits`-wide field.
fn is_prefix(mask: u128, bits: u32) -> bool {
    if bits == 0 || bits > 128 {
        return false;
    }
    let shifted = mask << (128 - bits);
    shifted.leading_ones() == shifted.count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_flow(dst: u16) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set(Field::EthType.loc(), u128::from(eth_type::IPV4));
        k.set(Field::IpProto.loc(), u128::from(ip_proto::TCP));
        k.set(Field::TcpDst.loc(), u128::from(dst));
        k
    }

    #[test]
    fn dl_vlan_sets_the_present_bit_and_0xffff_means_no_vlan() {
        let mut m = Match::CATCHALL;
        m.set(Field::DlVlan, 5);
        assert_eq!(m.get(Field::VlanTci), (0x1005, 0x1fff));
        m.set(Field::DlVlanPcp, 3);
        assert_eq!(m.get(Field::VlanTci), (0x7005, 0xffff));
        m.set(Field::DlVlan, 0xffff);
        assert_eq!(m.get(Field::VlanTci), (0, 0xffff));
    }

    #[test]
    fn vlan_vid_keeps_its_present_bit_as_given() {
        let mut m = Match::CATCHALL;
        m.set(Field::VlanVid, 0x1005);
        assert_eq!(m.get(Field::VlanTci), (0x1005, 0x1fff));
        m.set(Field::VlanVid, 5);
        assert_eq!(m.get(Field::VlanTci), (0x0005, 0x1fff));
    }

    #[test]
    fn nw_tos_matches_only_dscp_bits_and_ip_dscp_is_the_same_bits() {
        let mut a = Match::CATCHALL;
        a.set(Field::NwTos, 5);
        let mut b = Match::CATCHALL;
        b.set(Field::IpDscp, 1);
        assert_eq!(a, b);
        assert_eq!(a.get(Field::NwTos), (4, 0xfc));
        a.set(Field::IpEcn, 3);
        assert_eq!(a.get(Field::NwTos), (7, 0xff));
    }

    #[test]
    fn shorthands_pin_eth_type_and_protocol() {
        let mut m = Match::CATCHALL;
        m.set_shorthand(Shorthand::Tcp6);
        assert_eq!(m.eth_type(), Some(eth_type::IPV6));
        assert_eq!(m.ip_proto(), Some(ip_proto::TCP));
        assert_eq!(
            Shorthand::from_parts(eth_type::IPV6, Some(6)),
            Some(Shorthand::Tcp6)
        );
        assert_eq!(Shorthand::from_name("mplsm"), Some(Shorthand::Mplsm));
    }

    #[test]
    fn prerequisites_are_checked_and_named() {
        let mut m = Match::CATCHALL;
        m.set(Field::TcpDst, 80);
        let err = m.check_prerequisites().unwrap_err();
        assert_eq!(err, PrereqError::Missing(Field::TcpDst));
        assert_eq!(
            err.to_string(),
            "match field tcp_dst lacks correct prerequisites"
        );
        m.set_shorthand(Shorthand::Ip);
        assert!(m.check_prerequisites().is_err());
        m.set_shorthand(Shorthand::Tcp);
        assert_eq!(m.check_prerequisites(), Ok(()));
    }

    #[test]
    fn normalize_drops_fields_without_prerequisites_but_keeps_shared_storage() {
        let mut m = Match::CATCHALL;
        m.set_shorthand(Shorthand::Arp);
        m.set(Field::ArpSpa, 0x0a00_0001);
        assert!(!m.normalize());
        m.set(Field::TcpSrc, 5);
        assert!(m.normalize());
        assert_eq!(m.get(Field::TcpSrc), (0, 0));
        assert_eq!(m.get(Field::Ipv4Src), (0x0a00_0001, 0xffff_ffff));
    }

    #[test]
    fn later_fragments_have_no_transport_header() {
        let mut m = Match::CATCHALL;
        m.set_shorthand(Shorthand::Tcp);
        m.set_masked(Field::IpFrag, 3, 3);
        m.set(Field::TcpSrc, 1);
        assert!(m.check_prerequisites().is_err());
    }

    #[test]
    fn matches_compares_significant_bits_only() {
        let mut m = Match::CATCHALL;
        m.set_shorthand(Shorthand::Tcp);
        m.set_masked(Field::TcpDst, 0x50, 0xfff0);
        assert!(m.matches(&tcp_flow(0x55)));
        assert!(!m.matches(&tcp_flow(0x65)));
        assert!(Match::CATCHALL.matches(&tcp_flow(1)));
    }

    #[test]
    fn prefix_masks_are_recognised() {
        assert!(is_prefix(0xffff_ff00, 32));
        assert!(!is_prefix(0xff00_00ff, 32));
        assert!(is_prefix(u128::MAX << 64, 128));
    }
}
