//! The field registry: one table that parsing, printing, wire encoding and validation all read.
//!
//! Every match field has one [`Field`] variant and one [`FieldInfo`] row in [`FIELDS`], in the
//! same order (checked at compile time). A row says where the field lives in the key, its
//! width, its OVS names (canonical name first, then aliases), and its NXM/OXM header names.
//!
//! Adding a field means adding a variant, a row, and whatever `match` arms the compiler then
//! asks for; there is no generator.

use crate::key::{Loc, word};

/// Every match field ferrovs knows, named as Rust reads them; the OVS spellings live in
/// [`FieldInfo::names`].
#[allow(missing_docs)] // each variant's row in FIELDS is its documentation
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Field {
    TunId,
    TunSrc,
    TunDst,
    TunFlags,
    Metadata,
    InPort,
    InPortOxm,
    PktMark,
    CtState,
    CtZone,
    CtMark,
    CtLabel,
    ConjId,
    Reg0,
    Reg1,
    Reg2,
    Reg3,
    Reg4,
    Reg5,
    Reg6,
    Reg7,
    Reg8,
    Reg9,
    Reg10,
    Reg11,
    Reg12,
    Reg13,
    Reg14,
    Reg15,
    Xreg0,
    Xreg1,
    Xreg2,
    Xreg3,
    Xreg4,
    Xreg5,
    Xreg6,
    Xreg7,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    DlVlan,
    DlVlanPcp,
    VlanVid,
    VlanPcp,
    MplsLabel,
    MplsTc,
    MplsBos,
    MplsTtl,
    Ipv4Src,
    Ipv4Dst,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Label,
    IpProto,
    IpDscp,
    NwTos,
    IpEcn,
    NwTtl,
    IpFrag,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    TcpSrc,
    TcpDst,
    TcpFlags,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
    IcmpType,
    IcmpCode,
    Icmpv6Type,
    Icmpv6Code,
    NdTarget,
    NdSll,
    NdTll,
}

/// What the registry knows about one field.
#[derive(Debug)]
pub struct FieldInfo {
    /// The variant this row describes (rows are in variant order).
    pub field: Field,
    /// OVS names: the canonical one first, then aliases (`["eth_src", "dl_src"]`).
    pub names: &'static [&'static str],
    /// NXM or OXM header name used in subfield syntax (`NXM_OF_ETH_SRC`), if any.
    pub nxm_name: Option<&'static str>,
    /// The OXM name (`OXM_OF_ETH_SRC`), when it differs from `nxm_name`.
    pub oxm_name: Option<&'static str>,
    /// Where the field's bits live in the flow key.
    pub loc: Loc,
}

const fn row(
    field: Field,
    names: &'static [&'static str],
    nxm_name: Option<&'static str>,
    oxm_name: Option<&'static str>,
    loc: Loc,
) -> FieldInfo {
    FieldInfo {
        field,
        names,
        nxm_name,
        oxm_name,
        loc,
    }
}

const fn xreg_half(k: u8, high: bool) -> Loc {
    Loc::new(word::XREG0 + k, if high { 32 } else { 0 }, 32)
}

use Field as F;

/// The registry, indexed by `Field as usize`.
pub static FIELDS: [FieldInfo; 79] = [
    row(
        F::TunId,
        &["tun_id", "tunnel_id"],
        Some("NXM_NX_TUN_ID"),
        Some("OXM_OF_TUNNEL_ID"),
        Loc::new(word::TUN_ID, 0, 64),
    ),
    row(
        F::TunSrc,
        &["tun_src"],
        Some("NXM_NX_TUN_IPV4_SRC"),
        None,
        Loc::new(word::TUN_IPV4, 32, 32),
    ),
    row(
        F::TunDst,
        &["tun_dst"],
        Some("NXM_NX_TUN_IPV4_DST"),
        None,
        Loc::new(word::TUN_IPV4, 0, 32),
    ),
    row(
        F::TunFlags,
        &["tun_flags"],
        Some("NXM_NX_TUN_FLAGS"),
        None,
        Loc::new(word::CT_ZONE_CONJ, 32, 16),
    ),
    row(
        F::Metadata,
        &["metadata"],
        Some("OXM_OF_METADATA"),
        None,
        Loc::new(word::METADATA, 0, 64),
    ),
    row(
        F::InPort,
        &["in_port"],
        Some("NXM_OF_IN_PORT"),
        None,
        Loc::new(word::PORT_MARK, 32, 32),
    ),
    row(
        F::InPortOxm,
        &["in_port_oxm"],
        Some("OXM_OF_IN_PORT"),
        None,
        Loc::new(word::PORT_MARK, 32, 32),
    ),
    row(
        F::PktMark,
        &["pkt_mark"],
        Some("NXM_NX_PKT_MARK"),
        None,
        Loc::new(word::PORT_MARK, 0, 32),
    ),
    row(
        F::CtState,
        &["ct_state"],
        Some("NXM_NX_CT_STATE"),
        None,
        Loc::new(word::CT_STATE_MARK, 32, 32),
    ),
    row(
        F::CtZone,
        &["ct_zone"],
        Some("NXM_NX_CT_ZONE"),
        None,
        Loc::new(word::CT_ZONE_CONJ, 48, 16),
    ),
    row(
        F::CtMark,
        &["ct_mark"],
        Some("NXM_NX_CT_MARK"),
        None,
        Loc::new(word::CT_STATE_MARK, 0, 32),
    ),
    row(
        F::CtLabel,
        &["ct_label"],
        Some("NXM_NX_CT_LABEL"),
        None,
        Loc::new(word::CT_LABEL, 0, 128),
    ),
    row(
        F::ConjId,
        &["conj_id"],
        Some("NXM_NX_CONJ_ID"),
        None,
        Loc::new(word::CT_ZONE_CONJ, 0, 32),
    ),
    row(
        F::Reg0,
        &["reg0"],
        Some("NXM_NX_REG0"),
        None,
        xreg_half(0, true),
    ),
    row(
        F::Reg1,
        &["reg1"],
        Some("NXM_NX_REG1"),
        None,
        xreg_half(0, false),
    ),
    row(
        F::Reg2,
        &["reg2"],
        Some("NXM_NX_REG2"),
        None,
        xreg_half(1, true),
    ),
    row(
        F::Reg3,
        &["reg3"],
        Some("NXM_NX_REG3"),
        None,
        xreg_half(1, false),
    ),
    row(
        F::Reg4,
        &["reg4"],
        Some("NXM_NX_REG4"),
        None,
        xreg_half(2, true),
    ),
    row(
        F::Reg5,
        &["reg5"],
        Some("NXM_NX_REG5"),
        None,
        xreg_half(2, false),
    ),
    row(
        F::Reg6,
        &["reg6"],
        Some("NXM_NX_REG6"),
        None,
        xreg_half(3, true),
    ),
    row(
        F::Reg7,
        &["reg7"],
        Some("NXM_NX_REG7"),
        None,
        xreg_half(3, false),
    ),
    row(
        F::Reg8,
        &["reg8"],
        Some("NXM_NX_REG8"),
        None,
        xreg_half(4, true),
    ),
    row(
        F::Reg9,
        &["reg9"],
        Some("NXM_NX_REG9"),
        None,
        xreg_half(4, false),
    ),
    row(
        F::Reg10,
        &["reg10"],
        Some("NXM_NX_REG10"),
        None,
        xreg_half(5, true),
    ),
    row(
        F::Reg11,
        &["reg11"],
        Some("NXM_NX_REG11"),
        None,
        xreg_half(5, false),
    ),
    row(
        F::Reg12,
        &["reg12"],
        Some("NXM_NX_REG12"),
        None,
        xreg_half(6, true),
    ),
    row(
        F::Reg13,
        &["reg13"],
        Some("NXM_NX_REG13"),
        None,
        xreg_half(6, false),
    ),
    row(
        F::Reg14,
        &["reg14"],
        Some("NXM_NX_REG14"),
        None,
        xreg_half(7, true),
    ),
    row(
        F::Reg15,
        &["reg15"],
        Some("NXM_NX_REG15"),
        None,
        xreg_half(7, false),
    ),
    row(
        F::Xreg0,
        &["xreg0"],
        Some("OXM_OF_PKT_REG0"),
        None,
        Loc::new(word::XREG0, 0, 64),
    ),
    row(
        F::Xreg1,
        &["xreg1"],
        Some("OXM_OF_PKT_REG1"),
        None,
        Loc::new(word::XREG0 + 1, 0, 64),
    ),
    row(
        F::Xreg2,
        &["xreg2"],
        Some("OXM_OF_PKT_REG2"),
        None,
        Loc::new(word::XREG0 + 2, 0, 64),
    ),
    row(
        F::Xreg3,
        &["xreg3"],
        Some("OXM_OF_PKT_REG3"),
        None,
        Loc::new(word::XREG0 + 3, 0, 64),
    ),
    row(
        F::Xreg4,
        &["xreg4"],
        Some("OXM_OF_PKT_REG4"),
        None,
        Loc::new(word::XREG0 + 4, 0, 64),
    ),
    row(
        F::Xreg5,
        &["xreg5"],
        Some("OXM_OF_PKT_REG5"),
        None,
        Loc::new(word::XREG0 + 5, 0, 64),
    ),
    row(
        F::Xreg6,
        &["xreg6"],
        Some("OXM_OF_PKT_REG6"),
        None,
        Loc::new(word::XREG0 + 6, 0, 64),
    ),
    row(
        F::Xreg7,
        &["xreg7"],
        Some("OXM_OF_PKT_REG7"),
        None,
        Loc::new(word::XREG0 + 7, 0, 64),
    ),
    row(
        F::EthSrc,
        &["eth_src", "dl_src"],
        Some("NXM_OF_ETH_SRC"),
        Some("OXM_OF_ETH_SRC"),
        Loc::new(word::ETH_SRC_VLAN, 16, 48),
    ),
    row(
        F::EthDst,
        &["eth_dst", "dl_dst"],
        Some("NXM_OF_ETH_DST"),
        Some("OXM_OF_ETH_DST"),
        Loc::new(word::ETH_DST_TYPE, 16, 48),
    ),
    row(
        F::EthType,
        &["eth_type", "dl_type"],
        Some("NXM_OF_ETH_TYPE"),
        Some("OXM_OF_ETH_TYPE"),
        Loc::new(word::ETH_DST_TYPE, 0, 16),
    ),
    row(
        F::VlanTci,
        &["vlan_tci"],
        Some("NXM_OF_VLAN_TCI"),
        None,
        Loc::new(word::ETH_SRC_VLAN, 0, 16),
    ),
    row(
        F::DlVlan,
        &["dl_vlan"],
        None,
        None,
        Loc::new(word::ETH_SRC_VLAN, 0, 12),
    ),
    row(
        F::DlVlanPcp,
        &["dl_vlan_pcp"],
        None,
        None,
        Loc::new(word::ETH_SRC_VLAN, 13, 3),
    ),
    row(
        F::VlanVid,
        &["vlan_vid"],
        Some("OXM_OF_VLAN_VID"),
        None,
        Loc::new(word::ETH_SRC_VLAN, 0, 13),
    ),
    row(
        F::VlanPcp,
        &["vlan_pcp"],
        Some("OXM_OF_VLAN_PCP"),
        None,
        Loc::new(word::ETH_SRC_VLAN, 13, 3),
    ),
    row(
        F::MplsLabel,
        &["mpls_label"],
        Some("OXM_OF_MPLS_LABEL"),
        None,
        Loc::new(word::MPLS, 44, 20),
    ),
    row(
        F::MplsTc,
        &["mpls_tc"],
        Some("OXM_OF_MPLS_TC"),
        None,
        Loc::new(word::MPLS, 41, 3),
    ),
    row(
        F::MplsBos,
        &["mpls_bos"],
        Some("OXM_OF_MPLS_BOS"),
        None,
        Loc::new(word::MPLS, 40, 1),
    ),
    row(
        F::MplsTtl,
        &["mpls_ttl"],
        Some("NXM_NX_MPLS_TTL"),
        None,
        Loc::new(word::MPLS, 32, 8),
    ),
    row(
        F::Ipv4Src,
        &["ip_src", "nw_src"],
        Some("NXM_OF_IP_SRC"),
        Some("OXM_OF_IPV4_SRC"),
        Loc::new(word::NW_ADDRS, 32, 32),
    ),
    row(
        F::Ipv4Dst,
        &["ip_dst", "nw_dst"],
        Some("NXM_OF_IP_DST"),
        Some("OXM_OF_IPV4_DST"),
        Loc::new(word::NW_ADDRS, 0, 32),
    ),
    row(
        F::Ipv6Src,
        &["ipv6_src"],
        Some("NXM_NX_IPV6_SRC"),
        Some("OXM_OF_IPV6_SRC"),
        Loc::new(word::IPV6_SRC, 0, 128),
    ),
    row(
        F::Ipv6Dst,
        &["ipv6_dst"],
        Some("NXM_NX_IPV6_DST"),
        Some("OXM_OF_IPV6_DST"),
        Loc::new(word::IPV6_DST, 0, 128),
    ),
    row(
        F::Ipv6Label,
        &["ipv6_label"],
        Some("NXM_NX_IPV6_LABEL"),
        Some("OXM_OF_IPV6_FLABEL"),
        Loc::new(word::NW_MISC, 32, 20),
    ),
    row(
        F::IpProto,
        &["nw_proto", "ip_proto"],
        Some("NXM_OF_IP_PROTO"),
        Some("OXM_OF_IP_PROTO"),
        Loc::new(word::NW_MISC, 24, 8),
    ),
    row(
        F::IpDscp,
        &["ip_dscp"],
        Some("OXM_OF_IP_DSCP"),
        None,
        Loc::new(word::NW_MISC, 18, 6),
    ),
    row(
        F::NwTos,
        &["nw_tos"],
        Some("NXM_OF_IP_TOS"),
        None,
        Loc::new(word::NW_MISC, 16, 8),
    ),
    row(
        F::IpEcn,
        &["nw_ecn", "ip_ecn"],
        Some("NXM_NX_IP_ECN"),
        Some("OXM_OF_IP_ECN"),
        Loc::new(word::NW_MISC, 16, 2),
    ),
    row(
        F::NwTtl,
        &["nw_ttl"],
        Some("NXM_NX_IP_TTL"),
        None,
        Loc::new(word::NW_MISC, 8, 8),
    ),
    row(
        F::IpFrag,
        &["ip_frag", "nw_frag"],
        Some("NXM_NX_IP_FRAG"),
        None,
        Loc::new(word::NW_MISC, 0, 8),
    ),
    row(
        F::ArpOp,
        &["arp_op"],
        Some("NXM_OF_ARP_OP"),
        Some("OXM_OF_ARP_OP"),
        Loc::new(word::NW_MISC, 24, 8),
    ),
    row(
        F::ArpSpa,
        &["arp_spa"],
        Some("NXM_OF_ARP_SPA"),
        Some("OXM_OF_ARP_SPA"),
        Loc::new(word::NW_ADDRS, 32, 32),
    ),
    row(
        F::ArpTpa,
        &["arp_tpa"],
        Some("NXM_OF_ARP_TPA"),
        Some("OXM_OF_ARP_TPA"),
        Loc::new(word::NW_ADDRS, 0, 32),
    ),
    row(
        F::ArpSha,
        &["arp_sha"],
        Some("NXM_NX_ARP_SHA"),
        Some("OXM_OF_ARP_SHA"),
        Loc::new(word::ARP_SHA, 16, 48),
    ),
    row(
        F::ArpTha,
        &["arp_tha"],
        Some("NXM_NX_ARP_THA"),
        Some("OXM_OF_ARP_THA"),
        Loc::new(word::ARP_THA, 16, 48),
    ),
    row(
        F::TcpSrc,
        &["tcp_src", "tp_src"],
        Some("NXM_OF_TCP_SRC"),
        Some("OXM_OF_TCP_SRC"),
        Loc::new(word::TP, 48, 16),
    ),
    row(
        F::TcpDst,
        &["tcp_dst", "tp_dst"],
        Some("NXM_OF_TCP_DST"),
        Some("OXM_OF_TCP_DST"),
        Loc::new(word::TP, 32, 16),
    ),
    row(
        F::TcpFlags,
        &["tcp_flags"],
        Some("NXM_NX_TCP_FLAGS"),
        Some("ONF_OXM_TCP_FLAGS"),
        Loc::new(word::TP, 16, 12),
    ),
    row(
        F::UdpSrc,
        &["udp_src"],
        Some("NXM_OF_UDP_SRC"),
        Some("OXM_OF_UDP_SRC"),
        Loc::new(word::TP, 48, 16),
    ),
    row(
        F::UdpDst,
        &["udp_dst"],
        Some("NXM_OF_UDP_DST"),
        Some("OXM_OF_UDP_DST"),
        Loc::new(word::TP, 32, 16),
    ),
    row(
        F::SctpSrc,
        &["sctp_src"],
        Some("OXM_OF_SCTP_SRC"),
        None,
        Loc::new(word::TP, 48, 16),
    ),
    row(
        F::SctpDst,
        &["sctp_dst"],
        Some("OXM_OF_SCTP_DST"),
        None,
        Loc::new(word::TP, 32, 16),
    ),
    row(
        F::IcmpType,
        &["icmp_type"],
        Some("NXM_OF_ICMP_TYPE"),
        Some("OXM_OF_ICMPV4_TYPE"),
        Loc::new(word::TP, 48, 8),
    ),
    row(
        F::IcmpCode,
        &["icmp_code"],
        Some("NXM_OF_ICMP_CODE"),
        Some("OXM_OF_ICMPV4_CODE"),
        Loc::new(word::TP, 32, 8),
    ),
    row(
        F::Icmpv6Type,
        &["icmpv6_type"],
        Some("NXM_NX_ICMPV6_TYPE"),
        Some("OXM_OF_ICMPV6_TYPE"),
        Loc::new(word::TP, 48, 8),
    ),
    row(
        F::Icmpv6Code,
        &["icmpv6_code"],
        Some("NXM_NX_ICMPV6_CODE"),
        Some("OXM_OF_ICMPV6_CODE"),
        Loc::new(word::TP, 32, 8),
    ),
    row(
        F::NdTarget,
        &["nd_target"],
        Some("NXM_NX_ND_TARGET"),
        Some("OXM_OF_IPV6_ND_TARGET"),
        Loc::new(word::ND_TARGET, 0, 128),
    ),
    row(
        F::NdSll,
        &["nd_sll"],
        Some("NXM_NX_ND_SLL"),
        Some("OXM_OF_IPV6_ND_SLL"),
        Loc::new(word::ARP_SHA, 16, 48),
    ),
    row(
        F::NdTll,
        &["nd_tll"],
        Some("NXM_NX_ND_TLL"),
        Some("OXM_OF_IPV6_ND_TLL"),
        Loc::new(word::ARP_THA, 16, 48),
    ),
];

/// Rows must sit at their variant's index, so `FIELDS[f as usize]` is `f`'s row.
const _: () = {
    let mut i = 0;
    while i < FIELDS.len() {
        assert!(FIELDS[i].field as usize == i);
        i += 1;
    }
};

impl Field {
    /// This field's registry row.
    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }

    /// Where the field lives in the key.
    pub fn loc(self) -> Loc {
        self.info().loc
    }

    /// The canonical OVS name (`eth_src`).
    pub fn name(self) -> &'static str {
        self.info().names[0]
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        u32::from(self.info().loc.bits)
    }

    /// Looks a field up by any of its OVS names or aliases (`dl_src`, `eth_src`).
    pub fn from_name(name: &str) -> Option<Self> {
        FIELDS
            .iter()
            .find(|r| r.names.contains(&name))
            .map(|r| r.field)
    }

    /// Looks a field up by its NXM or OXM header name (`NXM_OF_ETH_SRC`, `OXM_OF_IN_PORT`).
    pub fn from_nxm_name(name: &str) -> Option<Self> {
        FIELDS
            .iter()
            .find(|r| r.nxm_name == Some(name) || r.oxm_name == Some(name))
            .map(|r| r.field)
    }

    /// Every field, in registry order.
    pub fn all() -> impl Iterator<Item = Self> {
        FIELDS.iter().map(|r| r.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_nxm_names_find_their_field() {
        assert_eq!(Field::from_name("dl_src"), Some(Field::EthSrc));
        assert_eq!(Field::from_name("tunnel_id"), Some(Field::TunId));
        assert_eq!(
            Field::from_nxm_name("NXM_OF_VLAN_TCI"),
            Some(Field::VlanTci)
        );
        assert_eq!(
            Field::from_nxm_name("OXM_OF_IN_PORT"),
            Some(Field::InPortOxm)
        );
        assert_eq!(Field::from_name("no_such_field"), None);
    }

    #[test]
    fn register_pairs_share_the_extended_register() {
        let mut k = crate::FlowKey::ZERO;
        k.set(Field::Xreg1.loc(), 0x0000_0005_0000_0007);
        assert_eq!(k.get(Field::Reg2.loc()), 5);
        assert_eq!(k.get(Field::Reg3.loc()), 7);
    }
}
