//! The field registry: one table that parsing, printing, wire encoding and validation all read.
//!
//! Every match field has one [`Field`] variant and one [`FieldInfo`] row in [`FIELDS`], in the
//! same order (checked at compile time). A row says where the field lives in the key, its OVS
//! names (canonical name first, then aliases), how its values are written ([`Format`]), whether
//! it takes a mask, which other matches it needs ([`Prereq`]), which protocols can carry a match
//! on it ([`Usable`]), and its NXM/OXM headers ([`Header`]) for the wire codecs.
//!
//! The `usable` sets are what `ovs-ofctl parse-flow` reports when a flow names only that field
//! (exact, with a CIDR-style prefix mask, or with any other mask); an oracle test re-measures
//! them. The names, widths, formats and prerequisites follow ovs-fields(7).
//!
//! Adding a field means adding a variant, a row, and whatever `match` arms the compiler then
//! asks for; there is no generator.

use crate::Protocols;
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
    TunIpv6Src,
    TunIpv6Dst,
    TunGbpId,
    TunGbpFlags,
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
    RecircId,
    DpHash,
    PacketType,
    ActsetOutput,
    CtNwProto,
    CtNwSrc,
    CtNwDst,
    CtIpv6Src,
    CtIpv6Dst,
    CtTpSrc,
    CtTpDst,
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
    Xxreg0,
    Xxreg1,
    Xxreg2,
    Xxreg3,
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
    NdReserved,
    NdOptionsType,
}

/// What the registry knows about one field.
#[derive(Debug)]
pub struct FieldInfo {
    /// The variant this row describes (rows are in variant order).
    pub field: Field,
    /// OVS names: the canonical one first, then aliases (`["eth_src", "dl_src"]`).
    pub names: &'static [&'static str],
    /// Header name used in subfield syntax (`NXM_OF_ETH_SRC`): the NXM name when there is one,
    /// else the OXM name.
    pub nxm_name: Option<&'static str>,
    /// The OXM name (`OXM_OF_ETH_SRC`), when the field also has an NXM name.
    pub oxm_name: Option<&'static str>,
    /// Where the field's bits live in the flow key.
    pub loc: Loc,
    /// How values are written in the text syntax.
    pub format: Format,
    /// What a match on this field needs the rest of the match to say.
    pub prereq: Prereq,
    /// True when a match may give any bitwise mask (otherwise only exact or wildcard).
    pub maskable: bool,
    /// Which protocols can carry a match on this field, by kind of mask.
    pub usable: Usable,
    /// The NXM header (classes 0 and 1), if the field has one.
    pub nxm: Option<Header>,
    /// The OXM header (OpenFlow 1.2+ basic class, packet registers, or an experimenter).
    pub oxm: Option<Header>,
}

/// How a field's value is written in `ovs-ofctl` text (ovs-fields(7) "Format").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Decimal when exact (`tp_src=80`), hexadecimal with a mask (`tp_src=0x50/0xfff0`).
    Decimal,
    /// Hexadecimal (`reg0=0x5`), zero written `0`.
    Hex,
    /// `xx:xx:xx:xx:xx:xx`.
    Ethernet,
    /// Dotted quad, masks as `/N` or `/a.b.c.d`.
    Ipv4,
    /// RFC 5952 text, masks as `/N` or an address.
    Ipv6,
    /// An OpenFlow port number or reserved port name (`LOCAL`).
    Port,
    /// Connection-tracking state flags (`+trk-new`, `new|trk`).
    CtState,
    /// TCP flags (`+syn-ack`, `syn|ack`).
    TcpFlags,
    /// Fragment selectors (`no`, `yes`, `first`, `later`, `not_later`).
    Frag,
    /// Tunnel flags (`+oam`).
    TunFlags,
    /// An OpenFlow 1.5 packet type, `(namespace,type)`: `(0,0)` is Ethernet, `(1,0x800)` a
    /// bare IPv4 packet.
    PacketType,
}

/// A field's prerequisite (ovs-fields(7) "Prerequisites"): what else a match must say before a
/// match on the field is meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// No requirement.
    None,
    /// A VLAN header is present (`vlan_tci=0x1000/0x1000`).
    VlanVid,
    /// ARP or RARP.
    Arp,
    /// `eth_type=0x0800`.
    Ipv4,
    /// `eth_type=0x86dd`.
    Ipv6,
    /// IPv4 or IPv6.
    Ip,
    /// Unicast or multicast MPLS.
    Mpls,
    /// IPv4/IPv6, `ip_proto=6`, and not a later fragment.
    Tcp,
    /// IPv4/IPv6, `ip_proto=17`, and not a later fragment.
    Udp,
    /// IPv4/IPv6, `ip_proto=132`, and not a later fragment.
    Sctp,
    /// IPv4 and `ip_proto=1`.
    Icmpv4,
    /// IPv6 and `ip_proto=58`.
    Icmpv6,
    /// ICMPv6 neighbour solicitation (type 135, code 0).
    NdSolicit,
    /// ICMPv6 neighbour advertisement (type 136, code 0).
    NdAdvert,
    /// Either neighbour discovery message.
    Nd,
    /// A connection-tracking state that names a connection (`ct_state=+est`, `+new`, `+rel`,
    /// `+rpl`, `+snat`, `+dnat`, or `+trk-inv`): ovs-fields(7) "CT".
    Ct,
    /// [`Prereq::Ct`], and an IPv4 flow.
    CtIpv4,
    /// [`Prereq::Ct`], and an IPv6 flow.
    CtIpv6,
    /// [`Prereq::Ct`], and a nonzero `ct_nw_proto` (the original tuple has ports or ICMP
    /// type and code).
    CtTp,
}

/// Protocols able to carry a match on a field, by kind of mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usable {
    /// An exact match (all bits significant).
    pub exact: Protocols,
    /// A prefix mask (`/24`); for fields without a prefix notion, same as `bitwise`.
    pub cidr: Protocols,
    /// Any other mask. [`Protocols::NONE`] for fields that are not maskable.
    pub bitwise: Protocols,
}

/// An NXM or OXM header: `class:16 field:7 hasmask:1 length:8`, plus the experimenter id for
/// class 0xffff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The OXM/NXM class ([`class`]).
    pub class: u16,
    /// The experimenter id, for [`class::EXPERIMENTER`] headers.
    pub experimenter: Option<u32>,
    /// The field number within the class.
    pub field: u8,
    /// Payload length in bytes without a mask.
    pub bytes: u8,
    /// The header's name (`NXM_OF_ETH_SRC`).
    pub name: &'static str,
}

/// NXM/OXM class numbers.
pub mod class {
    /// Nicira's NXM class 0: the OpenFlow 1.0 fields (`NXM_OF_*`).
    pub const NXM_OF: u16 = 0x0000;
    /// Nicira's NXM class 1: extensions (`NXM_NX_*`).
    pub const NXM_NX: u16 = 0x0001;
    /// OpenFlow 1.2+ basic class (`OXM_OF_*`).
    pub const OXM_BASIC: u16 = 0x8000;
    /// OpenFlow 1.5 packet registers (`OXM_OF_PKT_REG*`).
    pub const OXM_PKT_REG: u16 = 0x8001;
    /// Ericsson's class (`ERICOXM_OF_*`).
    pub const ERICOXM: u16 = 0x1000;
    /// Experimenter class; the header carries an experimenter id.
    pub const EXPERIMENTER: u16 = 0xffff;
    /// The Open Networking Foundation's experimenter id (`ONFOXM_ET_*`).
    pub const ONF_EXPERIMENTER_ID: u32 = 0x4f4e_4600;
}

/// NXM and every OXM protocol: what most extension fields allow.
const NX_OXM: Protocols = Protocols::NXM_ANY.or(Protocols::OXM_ANY);
/// NXM, OXM, and OpenFlow 1.1 (whose standard match has masks and metadata).
const NX_OXM_OF11: Protocols = NX_OXM.or(Protocols::OF11_STD);

const fn row(
    field: Field,
    names: &'static [&'static str],
    loc: Loc,
    format: Format,
    prereq: Prereq,
) -> FieldInfo {
    FieldInfo {
        field,
        names,
        nxm_name: None,
        oxm_name: None,
        loc,
        format,
        prereq,
        maskable: false,
        usable: Usable {
            exact: Protocols::NONE,
            cidr: Protocols::NONE,
            bitwise: Protocols::NONE,
        },
        nxm: None,
        oxm: None,
    }
}

/// Builders for the rows below; call `nxm` before `oxm` so the subfield name prefers NXM.
impl FieldInfo {
    const fn exact_only(mut self, exact: Protocols) -> Self {
        self.usable = Usable {
            exact,
            cidr: Protocols::NONE,
            bitwise: Protocols::NONE,
        };
        self
    }

    const fn maskable(mut self, exact: Protocols, cidr: Protocols, bitwise: Protocols) -> Self {
        self.maskable = true;
        self.usable = Usable {
            exact,
            cidr,
            bitwise,
        };
        self
    }

    const fn nxm(mut self, class: u16, field: u8, bytes: u8, name: &'static str) -> Self {
        self.nxm = Some(Header {
            class,
            experimenter: None,
            field,
            bytes,
            name,
        });
        self.nxm_name = Some(name);
        self
    }

    const fn oxm(mut self, class: u16, field: u8, bytes: u8, name: &'static str) -> Self {
        self.oxm = Some(Header {
            class,
            experimenter: None,
            field,
            bytes,
            name,
        });
        self.set_oxm_name(name)
    }

    const fn onf_oxm(mut self, field: u8, bytes: u8, name: &'static str) -> Self {
        self.oxm = Some(Header {
            class: class::EXPERIMENTER,
            experimenter: Some(class::ONF_EXPERIMENTER_ID),
            field,
            bytes,
            name,
        });
        self.set_oxm_name(name)
    }

    const fn set_oxm_name(mut self, name: &'static str) -> Self {
        if self.nxm_name.is_none() {
            self.nxm_name = Some(name);
        } else {
            self.oxm_name = Some(name);
        }
        self
    }
}

const fn xreg_half(k: u8, high: bool) -> Loc {
    Loc::new(word::XREG0 + k, if high { 32 } else { 0 }, 32)
}

use Field as F;

/// The registry, indexed by `Field as usize`.
pub static FIELDS: [FieldInfo; 100] = [
    row(
        F::TunId,
        &["tun_id", "tunnel_id"],
        Loc::new(word::TUN_ID, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 16, 8, "NXM_NX_TUN_ID")
    .oxm(class::OXM_BASIC, 38, 8, "OXM_OF_TUNNEL_ID"),
    row(
        F::TunSrc,
        &["tun_src"],
        Loc::new(word::TUN_IPV4, 32, 32),
        Format::Ipv4,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 31, 4, "NXM_NX_TUN_IPV4_SRC"),
    row(
        F::TunDst,
        &["tun_dst"],
        Loc::new(word::TUN_IPV4, 0, 32),
        Format::Ipv4,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 32, 4, "NXM_NX_TUN_IPV4_DST"),
    // Set on packets received over an IPv6 underlay (native tunnels), zero otherwise;
    // set-field writes them like any tunnel field.
    row(
        F::TunIpv6Src,
        &["tun_ipv6_src"],
        Loc::new(word::TUN_IPV6_SRC, 0, 128),
        Format::Ipv6,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 109, 16, "NXM_NX_TUN_IPV6_SRC"),
    row(
        F::TunIpv6Dst,
        &["tun_ipv6_dst"],
        Loc::new(word::TUN_IPV6_DST, 0, 128),
        Format::Ipv6,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 110, 16, "NXM_NX_TUN_IPV6_DST"),
    // VXLAN's Group Based Policy extension, which ferrovs's VXLAN ports do not read: 0 on
    // every received packet.
    row(
        F::TunGbpId,
        &["tun_gbp_id"],
        Loc::new(word::CT_PROTO_GBP, 32, 16),
        Format::Decimal,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 38, 2, "NXM_NX_TUN_GBP_ID"),
    row(
        F::TunGbpFlags,
        &["tun_gbp_flags"],
        Loc::new(word::CT_PROTO_GBP, 48, 8),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 39, 1, "NXM_NX_TUN_GBP_FLAGS"),
    row(
        F::TunFlags,
        &["tun_flags"],
        Loc::new(word::CT_ZONE_CONJ, 32, 16),
        Format::TunFlags,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 104, 2, "NXM_NX_TUN_FLAGS"),
    row(
        F::Metadata,
        &["metadata"],
        Loc::new(word::METADATA, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM_OF11, NX_OXM_OF11, NX_OXM_OF11)
    .oxm(class::OXM_BASIC, 2, 8, "OXM_OF_METADATA"),
    row(
        F::InPort,
        &["in_port"],
        Loc::new(word::PORT_MARK, 32, 32),
        Format::Port,
        Prereq::None,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 0, 2, "NXM_OF_IN_PORT"),
    row(
        F::InPortOxm,
        &["in_port_oxm"],
        Loc::new(word::PORT_MARK, 32, 32),
        Format::Port,
        Prereq::None,
    )
    .exact_only(NX_OXM_OF11)
    .oxm(class::OXM_BASIC, 0, 4, "OXM_OF_IN_PORT"),
    row(
        F::PktMark,
        &["pkt_mark"],
        Loc::new(word::PORT_MARK, 0, 32),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 33, 4, "NXM_NX_PKT_MARK"),
    row(
        F::CtState,
        &["ct_state"],
        Loc::new(word::CT_STATE_MARK, 32, 32),
        Format::CtState,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 105, 4, "NXM_NX_CT_STATE"),
    row(
        F::CtZone,
        &["ct_zone"],
        Loc::new(word::CT_ZONE_CONJ, 48, 16),
        Format::Decimal,
        Prereq::None,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 106, 2, "NXM_NX_CT_ZONE"),
    row(
        F::CtMark,
        &["ct_mark"],
        Loc::new(word::CT_STATE_MARK, 0, 32),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 107, 4, "NXM_NX_CT_MARK"),
    row(
        F::CtLabel,
        &["ct_label"],
        Loc::new(word::CT_LABEL, 0, 128),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 108, 16, "NXM_NX_CT_LABEL"),
    row(
        F::ConjId,
        &["conj_id"],
        Loc::new(word::CT_ZONE_CONJ, 0, 32),
        Format::Decimal,
        Prereq::None,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 37, 4, "NXM_NX_CONJ_ID"),
    // Always 0 in ferrovs, which never recirculates; Open vSwitch's hidden rules match it.
    row(
        F::RecircId,
        &["recirc_id"],
        Loc::new(word::MPLS, 0, 32),
        Format::Hex,
        Prereq::None,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 36, 4, "NXM_NX_RECIRC_ID"),
    // Always 0 in ferrovs, whose datapath computes no hash for `select` groups to read; Open
    // vSwitch's hidden rules and megaflow dumps match it.
    row(
        F::DpHash,
        &["dp_hash"],
        Loc::new(word::PKT_TYPE_HASH, 0, 32),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 35, 4, "NXM_NX_DP_HASH"),
    // Every packet ferrovs carries is Ethernet, `(0,0)`, which is 0 in the key; a rule asking
    // for any other type never matches.
    row(
        F::PacketType,
        &["packet_type"],
        Loc::new(word::PKT_TYPE_HASH, 32, 32),
        Format::PacketType,
        Prereq::None,
    )
    .exact_only(NX_OXM)
    .oxm(class::OXM_BASIC, 44, 4, "OXM_OF_PACKET_TYPE"),
    // An OpenFlow 1.1+ port number, `UNSET` when the action set has no output. OpenFlow 1.5
    // names it `OXM_OF_ACTSET_OUTPUT` with the same field number in the basic class; the wire
    // codec picks that header for 1.5.
    row(
        F::ActsetOutput,
        &["actset_output"],
        Loc::new(word::ACTSET, 32, 32),
        Format::Port,
        Prereq::None,
    )
    .exact_only(NX_OXM)
    .onf_oxm(43, 4, "ONFOXM_ET_ACTSET_OUTPUT"),
    // The original-direction tuple of the packet's connection. ferrovs has no connection
    // tracker: every packet's ct_state is 0, so no rule matching these ever matches.
    row(
        F::CtNwProto,
        &["ct_nw_proto"],
        Loc::new(word::CT_PROTO_GBP, 56, 8),
        Format::Decimal,
        Prereq::Ct,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 119, 1, "NXM_NX_CT_NW_PROTO"),
    row(
        F::CtNwSrc,
        &["ct_nw_src"],
        Loc::new(word::CT_NW, 32, 32),
        Format::Ipv4,
        Prereq::CtIpv4,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 120, 4, "NXM_NX_CT_NW_SRC"),
    row(
        F::CtNwDst,
        &["ct_nw_dst"],
        Loc::new(word::CT_NW, 0, 32),
        Format::Ipv4,
        Prereq::CtIpv4,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 121, 4, "NXM_NX_CT_NW_DST"),
    row(
        F::CtIpv6Src,
        &["ct_ipv6_src"],
        Loc::new(word::CT_IPV6_SRC, 0, 128),
        Format::Ipv6,
        Prereq::CtIpv6,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 122, 16, "NXM_NX_CT_IPV6_SRC"),
    row(
        F::CtIpv6Dst,
        &["ct_ipv6_dst"],
        Loc::new(word::CT_IPV6_DST, 0, 128),
        Format::Ipv6,
        Prereq::CtIpv6,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 123, 16, "NXM_NX_CT_IPV6_DST"),
    row(
        F::CtTpSrc,
        &["ct_tp_src"],
        Loc::new(word::ACTSET, 16, 16),
        Format::Decimal,
        Prereq::CtTp,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 124, 2, "NXM_NX_CT_TP_SRC"),
    row(
        F::CtTpDst,
        &["ct_tp_dst"],
        Loc::new(word::ACTSET, 0, 16),
        Format::Decimal,
        Prereq::CtTp,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 125, 2, "NXM_NX_CT_TP_DST"),
    row(
        F::Reg0,
        &["reg0"],
        xreg_half(0, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 0, 4, "NXM_NX_REG0"),
    row(
        F::Reg1,
        &["reg1"],
        xreg_half(0, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 1, 4, "NXM_NX_REG1"),
    row(
        F::Reg2,
        &["reg2"],
        xreg_half(1, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 2, 4, "NXM_NX_REG2"),
    row(
        F::Reg3,
        &["reg3"],
        xreg_half(1, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 3, 4, "NXM_NX_REG3"),
    row(
        F::Reg4,
        &["reg4"],
        xreg_half(2, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 4, 4, "NXM_NX_REG4"),
    row(
        F::Reg5,
        &["reg5"],
        xreg_half(2, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 5, 4, "NXM_NX_REG5"),
    row(
        F::Reg6,
        &["reg6"],
        xreg_half(3, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 6, 4, "NXM_NX_REG6"),
    row(
        F::Reg7,
        &["reg7"],
        xreg_half(3, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 7, 4, "NXM_NX_REG7"),
    row(
        F::Reg8,
        &["reg8"],
        xreg_half(4, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 8, 4, "NXM_NX_REG8"),
    row(
        F::Reg9,
        &["reg9"],
        xreg_half(4, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 9, 4, "NXM_NX_REG9"),
    row(
        F::Reg10,
        &["reg10"],
        xreg_half(5, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 10, 4, "NXM_NX_REG10"),
    row(
        F::Reg11,
        &["reg11"],
        xreg_half(5, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 11, 4, "NXM_NX_REG11"),
    row(
        F::Reg12,
        &["reg12"],
        xreg_half(6, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 12, 4, "NXM_NX_REG12"),
    row(
        F::Reg13,
        &["reg13"],
        xreg_half(6, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 13, 4, "NXM_NX_REG13"),
    row(
        F::Reg14,
        &["reg14"],
        xreg_half(7, true),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 14, 4, "NXM_NX_REG14"),
    row(
        F::Reg15,
        &["reg15"],
        xreg_half(7, false),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 15, 4, "NXM_NX_REG15"),
    row(
        F::Xreg0,
        &["xreg0"],
        Loc::new(word::XREG0, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 0, 8, "OXM_OF_PKT_REG0"),
    row(
        F::Xreg1,
        &["xreg1"],
        Loc::new(word::XREG0 + 1, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 1, 8, "OXM_OF_PKT_REG1"),
    row(
        F::Xreg2,
        &["xreg2"],
        Loc::new(word::XREG0 + 2, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 2, 8, "OXM_OF_PKT_REG2"),
    row(
        F::Xreg3,
        &["xreg3"],
        Loc::new(word::XREG0 + 3, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 3, 8, "OXM_OF_PKT_REG3"),
    row(
        F::Xreg4,
        &["xreg4"],
        Loc::new(word::XREG0 + 4, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 4, 8, "OXM_OF_PKT_REG4"),
    row(
        F::Xreg5,
        &["xreg5"],
        Loc::new(word::XREG0 + 5, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 5, 8, "OXM_OF_PKT_REG5"),
    row(
        F::Xreg6,
        &["xreg6"],
        Loc::new(word::XREG0 + 6, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 6, 8, "OXM_OF_PKT_REG6"),
    row(
        F::Xreg7,
        &["xreg7"],
        Loc::new(word::XREG0 + 7, 0, 64),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .oxm(class::OXM_PKT_REG, 7, 8, "OXM_OF_PKT_REG7"),
    // xxreg0 overlays reg0 (most significant) to reg3: xreg0 then xreg1.
    row(
        F::Xxreg0,
        &["xxreg0"],
        Loc::new(word::XREG0, 0, 128),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 111, 16, "NXM_NX_XXREG0"),
    // xxreg1 overlays reg4 (most significant) to reg7: xreg2 then xreg3.
    row(
        F::Xxreg1,
        &["xxreg1"],
        Loc::new(word::XREG0 + 2, 0, 128),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 112, 16, "NXM_NX_XXREG1"),
    // xxreg2 overlays reg8 (most significant) to reg11: xreg4 then xreg5.
    row(
        F::Xxreg2,
        &["xxreg2"],
        Loc::new(word::XREG0 + 4, 0, 128),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 113, 16, "NXM_NX_XXREG2"),
    // xxreg3 overlays reg12 (most significant) to reg15: xreg6 then xreg7.
    row(
        F::Xxreg3,
        &["xxreg3"],
        Loc::new(word::XREG0 + 6, 0, 128),
        Format::Hex,
        Prereq::None,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 114, 16, "NXM_NX_XXREG3"),
    row(
        F::EthSrc,
        &["eth_src", "dl_src"],
        Loc::new(word::ETH_SRC_VLAN, 16, 48),
        Format::Ethernet,
        Prereq::None,
    )
    .maskable(Protocols::ANY, NX_OXM_OF11, NX_OXM_OF11)
    .nxm(class::NXM_OF, 2, 6, "NXM_OF_ETH_SRC")
    .oxm(class::OXM_BASIC, 4, 6, "OXM_OF_ETH_SRC"),
    row(
        F::EthDst,
        &["eth_dst", "dl_dst"],
        Loc::new(word::ETH_DST_TYPE, 16, 48),
        Format::Ethernet,
        Prereq::None,
    )
    .maskable(Protocols::ANY, NX_OXM_OF11, NX_OXM_OF11)
    .nxm(class::NXM_OF, 1, 6, "NXM_OF_ETH_DST")
    .oxm(class::OXM_BASIC, 3, 6, "OXM_OF_ETH_DST"),
    row(
        F::EthType,
        &["eth_type", "dl_type"],
        Loc::new(word::ETH_DST_TYPE, 0, 16),
        Format::Hex,
        Prereq::None,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 3, 2, "NXM_OF_ETH_TYPE")
    .oxm(class::OXM_BASIC, 5, 2, "OXM_OF_ETH_TYPE"),
    row(
        F::VlanTci,
        &["vlan_tci"],
        Loc::new(word::ETH_SRC_VLAN, 0, 16),
        Format::Hex,
        Prereq::None,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .nxm(class::NXM_OF, 4, 2, "NXM_OF_VLAN_TCI"),
    row(
        F::DlVlan,
        &["dl_vlan"],
        Loc::new(word::ETH_SRC_VLAN, 0, 12),
        Format::Decimal,
        Prereq::None,
    )
    .exact_only(Protocols::ANY),
    row(
        F::DlVlanPcp,
        &["dl_vlan_pcp"],
        Loc::new(word::ETH_SRC_VLAN, 13, 3),
        Format::Decimal,
        Prereq::None,
    )
    .exact_only(Protocols::ANY),
    row(
        F::VlanVid,
        &["vlan_vid"],
        Loc::new(word::ETH_SRC_VLAN, 0, 13),
        Format::Decimal,
        Prereq::None,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .oxm(class::OXM_BASIC, 6, 2, "OXM_OF_VLAN_VID"),
    row(
        F::VlanPcp,
        &["vlan_pcp"],
        Loc::new(word::ETH_SRC_VLAN, 13, 3),
        Format::Decimal,
        Prereq::VlanVid,
    )
    .exact_only(Protocols::ANY)
    .oxm(class::OXM_BASIC, 7, 1, "OXM_OF_VLAN_PCP"),
    row(
        F::MplsLabel,
        &["mpls_label"],
        Loc::new(word::MPLS, 44, 20),
        Format::Decimal,
        Prereq::Mpls,
    )
    .exact_only(NX_OXM_OF11)
    .oxm(class::OXM_BASIC, 34, 4, "OXM_OF_MPLS_LABEL"),
    row(
        F::MplsTc,
        &["mpls_tc"],
        Loc::new(word::MPLS, 41, 3),
        Format::Decimal,
        Prereq::Mpls,
    )
    .exact_only(NX_OXM_OF11)
    .oxm(class::OXM_BASIC, 35, 1, "OXM_OF_MPLS_TC"),
    row(
        F::MplsBos,
        &["mpls_bos"],
        Loc::new(word::MPLS, 40, 1),
        Format::Decimal,
        Prereq::Mpls,
    )
    .exact_only(NX_OXM)
    .oxm(class::OXM_BASIC, 36, 1, "OXM_OF_MPLS_BOS"),
    row(
        F::MplsTtl,
        &["mpls_ttl"],
        Loc::new(word::MPLS, 32, 8),
        Format::Decimal,
        Prereq::Mpls,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 30, 1, "NXM_NX_MPLS_TTL"),
    row(
        F::Ipv4Src,
        &["ip_src", "nw_src"],
        Loc::new(word::NW_ADDRS, 32, 32),
        Format::Ipv4,
        Prereq::Ipv4,
    )
    .maskable(Protocols::ANY, Protocols::ANY, NX_OXM_OF11)
    .nxm(class::NXM_OF, 7, 4, "NXM_OF_IP_SRC")
    .oxm(class::OXM_BASIC, 11, 4, "OXM_OF_IPV4_SRC"),
    row(
        F::Ipv4Dst,
        &["ip_dst", "nw_dst"],
        Loc::new(word::NW_ADDRS, 0, 32),
        Format::Ipv4,
        Prereq::Ipv4,
    )
    .maskable(Protocols::ANY, Protocols::ANY, NX_OXM_OF11)
    .nxm(class::NXM_OF, 8, 4, "NXM_OF_IP_DST")
    .oxm(class::OXM_BASIC, 12, 4, "OXM_OF_IPV4_DST"),
    row(
        F::Ipv6Src,
        &["ipv6_src"],
        Loc::new(word::IPV6_SRC, 0, 128),
        Format::Ipv6,
        Prereq::Ipv6,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 19, 16, "NXM_NX_IPV6_SRC")
    .oxm(class::OXM_BASIC, 26, 16, "OXM_OF_IPV6_SRC"),
    row(
        F::Ipv6Dst,
        &["ipv6_dst"],
        Loc::new(word::IPV6_DST, 0, 128),
        Format::Ipv6,
        Prereq::Ipv6,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 20, 16, "NXM_NX_IPV6_DST")
    .oxm(class::OXM_BASIC, 27, 16, "OXM_OF_IPV6_DST"),
    row(
        F::Ipv6Label,
        &["ipv6_label"],
        Loc::new(word::NW_MISC, 32, 20),
        Format::Hex,
        Prereq::Ipv6,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 27, 4, "NXM_NX_IPV6_LABEL")
    .oxm(class::OXM_BASIC, 28, 4, "OXM_OF_IPV6_FLABEL"),
    row(
        F::IpProto,
        &["nw_proto", "ip_proto"],
        Loc::new(word::NW_MISC, 24, 8),
        Format::Decimal,
        Prereq::Ip,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 6, 1, "NXM_OF_IP_PROTO")
    .oxm(class::OXM_BASIC, 10, 1, "OXM_OF_IP_PROTO"),
    row(
        F::IpDscp,
        &["ip_dscp"],
        Loc::new(word::NW_MISC, 18, 6),
        Format::Decimal,
        Prereq::Ip,
    )
    .exact_only(Protocols::ANY)
    .oxm(class::OXM_BASIC, 8, 1, "OXM_OF_IP_DSCP"),
    row(
        F::NwTos,
        &["nw_tos"],
        Loc::new(word::NW_MISC, 16, 8),
        Format::Decimal,
        Prereq::Ip,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 5, 1, "NXM_OF_IP_TOS"),
    row(
        F::IpEcn,
        &["nw_ecn", "ip_ecn"],
        Loc::new(word::NW_MISC, 16, 2),
        Format::Decimal,
        Prereq::Ip,
    )
    .exact_only(NX_OXM_OF11)
    .nxm(class::NXM_NX, 28, 1, "NXM_NX_IP_ECN")
    .oxm(class::OXM_BASIC, 9, 1, "OXM_OF_IP_ECN"),
    row(
        F::NwTtl,
        &["nw_ttl"],
        Loc::new(word::NW_MISC, 8, 8),
        Format::Decimal,
        Prereq::Ip,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 29, 1, "NXM_NX_IP_TTL"),
    row(
        F::IpFrag,
        &["ip_frag", "nw_frag"],
        Loc::new(word::NW_MISC, 0, 8),
        Format::Frag,
        Prereq::Ip,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 26, 1, "NXM_NX_IP_FRAG"),
    row(
        F::ArpOp,
        &["arp_op"],
        Loc::new(word::NW_MISC, 24, 8),
        Format::Decimal,
        Prereq::Arp,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 15, 2, "NXM_OF_ARP_OP")
    .oxm(class::OXM_BASIC, 21, 2, "OXM_OF_ARP_OP"),
    row(
        F::ArpSpa,
        &["arp_spa"],
        Loc::new(word::NW_ADDRS, 32, 32),
        Format::Ipv4,
        Prereq::Arp,
    )
    .maskable(Protocols::ANY, Protocols::ANY, NX_OXM_OF11)
    .nxm(class::NXM_OF, 16, 4, "NXM_OF_ARP_SPA")
    .oxm(class::OXM_BASIC, 22, 4, "OXM_OF_ARP_SPA"),
    row(
        F::ArpTpa,
        &["arp_tpa"],
        Loc::new(word::NW_ADDRS, 0, 32),
        Format::Ipv4,
        Prereq::Arp,
    )
    .maskable(Protocols::ANY, Protocols::ANY, NX_OXM_OF11)
    .nxm(class::NXM_OF, 17, 4, "NXM_OF_ARP_TPA")
    .oxm(class::OXM_BASIC, 23, 4, "OXM_OF_ARP_TPA"),
    row(
        F::ArpSha,
        &["arp_sha"],
        Loc::new(word::ARP_SHA, 16, 48),
        Format::Ethernet,
        Prereq::Arp,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 17, 6, "NXM_NX_ARP_SHA")
    .oxm(class::OXM_BASIC, 24, 6, "OXM_OF_ARP_SHA"),
    row(
        F::ArpTha,
        &["arp_tha"],
        Loc::new(word::ARP_THA, 16, 48),
        Format::Ethernet,
        Prereq::Arp,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 18, 6, "NXM_NX_ARP_THA")
    .oxm(class::OXM_BASIC, 25, 6, "OXM_OF_ARP_THA"),
    row(
        F::TcpSrc,
        &["tcp_src", "tp_src"],
        Loc::new(word::TP, 48, 16),
        Format::Decimal,
        Prereq::Tcp,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .nxm(class::NXM_OF, 9, 2, "NXM_OF_TCP_SRC")
    .oxm(class::OXM_BASIC, 13, 2, "OXM_OF_TCP_SRC"),
    row(
        F::TcpDst,
        &["tcp_dst", "tp_dst"],
        Loc::new(word::TP, 32, 16),
        Format::Decimal,
        Prereq::Tcp,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .nxm(class::NXM_OF, 10, 2, "NXM_OF_TCP_DST")
    .oxm(class::OXM_BASIC, 14, 2, "OXM_OF_TCP_DST"),
    row(
        F::TcpFlags,
        &["tcp_flags"],
        Loc::new(word::TP, 16, 12),
        Format::TcpFlags,
        Prereq::Tcp,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 34, 2, "NXM_NX_TCP_FLAGS")
    .onf_oxm(42, 2, "ONFOXM_ET_TCP_FLAGS"),
    row(
        F::UdpSrc,
        &["udp_src"],
        Loc::new(word::TP, 48, 16),
        Format::Decimal,
        Prereq::Udp,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .nxm(class::NXM_OF, 11, 2, "NXM_OF_UDP_SRC")
    .oxm(class::OXM_BASIC, 15, 2, "OXM_OF_UDP_SRC"),
    row(
        F::UdpDst,
        &["udp_dst"],
        Loc::new(word::TP, 32, 16),
        Format::Decimal,
        Prereq::Udp,
    )
    .maskable(Protocols::ANY, NX_OXM, NX_OXM)
    .nxm(class::NXM_OF, 12, 2, "NXM_OF_UDP_DST")
    .oxm(class::OXM_BASIC, 16, 2, "OXM_OF_UDP_DST"),
    row(
        F::SctpSrc,
        &["sctp_src"],
        Loc::new(word::TP, 48, 16),
        Format::Decimal,
        Prereq::Sctp,
    )
    .maskable(NX_OXM_OF11, NX_OXM, NX_OXM)
    .oxm(class::OXM_BASIC, 17, 2, "OXM_OF_SCTP_SRC"),
    row(
        F::SctpDst,
        &["sctp_dst"],
        Loc::new(word::TP, 32, 16),
        Format::Decimal,
        Prereq::Sctp,
    )
    .maskable(NX_OXM_OF11, NX_OXM, NX_OXM)
    .oxm(class::OXM_BASIC, 18, 2, "OXM_OF_SCTP_DST"),
    row(
        F::IcmpType,
        &["icmp_type"],
        Loc::new(word::TP, 48, 8),
        Format::Decimal,
        Prereq::Icmpv4,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 13, 1, "NXM_OF_ICMP_TYPE")
    .oxm(class::OXM_BASIC, 19, 1, "OXM_OF_ICMPV4_TYPE"),
    row(
        F::IcmpCode,
        &["icmp_code"],
        Loc::new(word::TP, 32, 8),
        Format::Decimal,
        Prereq::Icmpv4,
    )
    .exact_only(Protocols::ANY)
    .nxm(class::NXM_OF, 14, 1, "NXM_OF_ICMP_CODE")
    .oxm(class::OXM_BASIC, 20, 1, "OXM_OF_ICMPV4_CODE"),
    row(
        F::Icmpv6Type,
        &["icmpv6_type"],
        Loc::new(word::TP, 48, 8),
        Format::Decimal,
        Prereq::Icmpv6,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 21, 1, "NXM_NX_ICMPV6_TYPE")
    .oxm(class::OXM_BASIC, 29, 1, "OXM_OF_ICMPV6_TYPE"),
    row(
        F::Icmpv6Code,
        &["icmpv6_code"],
        Loc::new(word::TP, 32, 8),
        Format::Decimal,
        Prereq::Icmpv6,
    )
    .exact_only(NX_OXM)
    .nxm(class::NXM_NX, 22, 1, "NXM_NX_ICMPV6_CODE")
    .oxm(class::OXM_BASIC, 30, 1, "OXM_OF_ICMPV6_CODE"),
    row(
        F::NdTarget,
        &["nd_target"],
        Loc::new(word::ND_TARGET, 0, 128),
        Format::Ipv6,
        Prereq::Nd,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 23, 16, "NXM_NX_ND_TARGET")
    .oxm(class::OXM_BASIC, 31, 16, "OXM_OF_IPV6_ND_TARGET"),
    row(
        F::NdSll,
        &["nd_sll"],
        Loc::new(word::ARP_SHA, 16, 48),
        Format::Ethernet,
        Prereq::NdSolicit,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 24, 6, "NXM_NX_ND_SLL")
    .oxm(class::OXM_BASIC, 32, 6, "OXM_OF_IPV6_ND_SLL"),
    row(
        F::NdTll,
        &["nd_tll"],
        Loc::new(word::ARP_THA, 16, 48),
        Format::Ethernet,
        Prereq::NdAdvert,
    )
    .maskable(NX_OXM, NX_OXM, NX_OXM)
    .nxm(class::NXM_NX, 25, 6, "NXM_NX_ND_TLL")
    .oxm(class::OXM_BASIC, 33, 6, "OXM_OF_IPV6_ND_TLL"),
    // Ericsson's extensions: the 32 bits after a neighbor message's checksum (an
    // advertisement's R, S and O flags are its top bits), and the type of its option.
    row(
        F::NdReserved,
        &["nd_reserved"],
        Loc::new(word::ND_EXTRA, 32, 32),
        Format::Decimal,
        Prereq::Nd,
    )
    .exact_only(NX_OXM)
    .nxm(class::ERICOXM, 1, 4, "ERICOXM_OF_ICMPV6_ND_RESERVED"),
    row(
        F::NdOptionsType,
        &["nd_options_type"],
        Loc::new(word::ND_EXTRA, 24, 8),
        Format::Decimal,
        Prereq::Nd,
    )
    .exact_only(NX_OXM)
    .nxm(class::ERICOXM, 2, 1, "ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE"),
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
    /// The sixteen 32-bit registers `reg0`..`reg15`, in order: `REGS[i]` is `reg<i>`.
    pub const REGS: [Self; 16] = [
        Self::Reg0,
        Self::Reg1,
        Self::Reg2,
        Self::Reg3,
        Self::Reg4,
        Self::Reg5,
        Self::Reg6,
        Self::Reg7,
        Self::Reg8,
        Self::Reg9,
        Self::Reg10,
        Self::Reg11,
        Self::Reg12,
        Self::Reg13,
        Self::Reg14,
        Self::Reg15,
    ];

    /// The tunnel metadata: every field a packet carries only because it came out of a
    /// tunnel, in registry order. A packet without a tunnel has all of them zero, so the
    /// datapath's megaflow leaves them out; a patch-port crossing clears them; OXM dumps
    /// list them in this order.
    pub const TUNNEL: [Self; 8] = [
        Self::TunId,
        Self::TunSrc,
        Self::TunDst,
        Self::TunIpv6Src,
        Self::TunIpv6Dst,
        Self::TunGbpId,
        Self::TunGbpFlags,
        Self::TunFlags,
    ];

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

    #[test]
    fn the_tunnel_fields_are_exactly_the_tun_fields() {
        let named: Vec<Field> = Field::all()
            .filter(|f| f.name().starts_with("tun_"))
            .collect();
        assert_eq!(named, Field::TUNNEL.to_vec());
    }
}
