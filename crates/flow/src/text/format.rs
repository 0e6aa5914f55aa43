//! Printing a match as `ovs-ofctl` prints it (see the module docs of [`crate::text`]).

use core::fmt::Write as _;

use super::addr;
use super::parse::{CT_STATE, FRAG_NAMES, FlagSet, TCP_FLAGS, TUN_FLAGS};
use crate::field::{Field, Format};
use crate::matching::{Match, Shorthand, eth_type, ip_proto, vlan};
use crate::port::PortNo;

/// `packet_type` of an Ethernet frame, `(0,0)`.
const PACKET_TYPE_ETHERNET: u32 = 0;

/// The priority `ovs-ofctl` leaves out (`OFP_DEFAULT_PRIORITY`).
const DEFAULT_PRIORITY: u32 = 0x8000;

/// Appends `m` to `out` as `ovs-ofctl` prints a flow's match, with `priority=` first when it is
/// not the default 32768. Prints nothing for a catch-all match at the default priority.
pub fn format_match(m: &Match, priority: u32, out: &mut String) {
    let mut w = Writer {
        m,
        out,
        first: true,
    };
    if priority != DEFAULT_PRIORITY {
        let _ = write!(w.key("priority"), "{priority}");
    }
    w.field("pkt_mark", Field::PktMark);
    w.field("recirc_id", Field::RecircId);
    w.field("dp_hash", Field::DpHash);
    w.field("conj_id", Field::ConjId);
    w.field("actset_output", Field::ActsetOutput);
    w.field("ct_state", Field::CtState);
    w.field("ct_zone", Field::CtZone);
    w.field("ct_mark", Field::CtMark);
    w.field("ct_label", Field::CtLabel);
    w.field("ct_nw_src", Field::CtNwSrc);
    w.field("ct_nw_dst", Field::CtNwDst);
    w.field("ct_ipv6_src", Field::CtIpv6Src);
    w.field("ct_ipv6_dst", Field::CtIpv6Dst);
    w.field("ct_nw_proto", Field::CtNwProto);
    w.field("ct_tp_src", Field::CtTpSrc);
    w.field("ct_tp_dst", Field::CtTpDst);
    // Ethernet, the default packet type, goes unsaid, except that a match on `recirc_id` (as
    // a datapath flow or a hidden rule) says `eth` when it looks at the frame or names the type.
    let (pt, pt_mask) = m.get(Field::PacketType);
    if pt_mask != 0 && pt != u128::from(PACKET_TYPE_ETHERNET) {
        w.field("packet_type", Field::PacketType);
    } else if m.get(Field::RecircId).1 != 0 && (pt_mask != 0 || m.constrains_frame()) {
        w.word("eth");
    }

    // The L3 protocol decides which fields print; a namespace-1 packet type names it too, but
    // only `dl_type` itself prints as a shorthand.
    let eth = m.eth_type();
    let is_ip = matches!(eth, Some(eth_type::IPV4 | eth_type::IPV6));
    let is_arp = matches!(eth, Some(eth_type::ARP | eth_type::RARP));
    let proto = m.exact(Field::IpProto).map(|v| v as u8);
    let dl_type = m.exact(Field::EthType).map(|v| v as u16);
    let shorthand = dl_type.and_then(|e| {
        let with_proto = if is_ip {
            Shorthand::from_parts(e, proto)
        } else {
            None
        };
        with_proto.or_else(|| Shorthand::from_parts(e, None))
    });
    let proto_printed = shorthand.is_some_and(|s| s.ip_proto().is_some());
    if let Some(s) = shorthand {
        w.word(s.name());
    }

    for (k, reg) in Field::REGS.iter().enumerate() {
        let (_, mask) = m.get(*reg);
        if mask != 0 {
            w.field(&format!("reg{k}"), *reg);
        }
    }
    w.field("tun_id", Field::TunId);
    w.field("tun_src", Field::TunSrc);
    w.field("tun_dst", Field::TunDst);
    w.field("tun_ipv6_src", Field::TunIpv6Src);
    w.field("tun_ipv6_dst", Field::TunIpv6Dst);
    w.field("tun_gbp_id", Field::TunGbpId);
    w.field("tun_gbp_flags", Field::TunGbpFlags);
    w.field("tun_flags", Field::TunFlags);
    w.field("metadata", Field::Metadata);
    w.field("in_port", Field::InPort);
    w.vlan();
    w.field("dl_src", Field::EthSrc);
    w.field("dl_dst", Field::EthDst);
    if shorthand.is_none() {
        w.field("dl_type", Field::EthType);
    }
    w.field("mpls_label", Field::MplsLabel);
    w.field("mpls_tc", Field::MplsTc);
    w.field("mpls_ttl", Field::MplsTtl);
    w.field("mpls_bos", Field::MplsBos);

    if eth == Some(eth_type::IPV6) {
        w.field("ipv6_src", Field::Ipv6Src);
        w.field("ipv6_dst", Field::Ipv6Dst);
        w.field("ipv6_label", Field::Ipv6Label);
    } else if is_arp {
        w.field("arp_spa", Field::ArpSpa);
        w.field("arp_tpa", Field::ArpTpa);
    } else {
        w.field("nw_src", Field::Ipv4Src);
        w.field("nw_dst", Field::Ipv4Dst);
    }
    if !proto_printed {
        w.field(if is_arp { "arp_op" } else { "nw_proto" }, Field::IpProto);
    }
    if is_arp {
        w.field("arp_sha", Field::ArpSha);
        w.field("arp_tha", Field::ArpTha);
    }
    w.tos();
    w.field("nw_ttl", Field::NwTtl);
    w.field("nw_frag", Field::IpFrag);

    let icmp = matches!(
        (eth, proto),
        (Some(eth_type::IPV4), Some(ip_proto::ICMP))
            | (Some(eth_type::IPV6), Some(ip_proto::ICMPV6))
    );
    if icmp {
        w.field("icmp_type", Field::IcmpType);
        w.field("icmp_code", Field::IcmpCode);
        w.field("nd_target", Field::NdTarget);
        w.field("nd_sll", Field::NdSll);
        w.field("nd_tll", Field::NdTll);
        w.field("nd_reserved", Field::NdReserved);
        w.field("nd_options_type", Field::NdOptionsType);
    } else {
        w.field("tp_src", Field::TcpSrc);
        w.field("tp_dst", Field::TcpDst);
    }
    w.field("tcp_flags", Field::TcpFlags);
}

/// Appends `field`'s value `value` as ovs-ofctl writes it when matched exactly (`10.0.0.1`,
/// `65280`, `ff:ff:ff:00:00:00`): the text after `name=` in [`format_match`].
pub fn format_field_value(field: Field, value: u128, out: &mut String) {
    let mut m = Match::CATCHALL;
    m.set_masked(field, value, u128::MAX);
    let mut text = String::new();
    let mut w = Writer {
        m: &m,
        out: &mut text,
        first: true,
    };
    w.field("", field);
    out.push_str(text.strip_prefix('=').unwrap_or(&text));
}

/// Appends comma-separated `name=value` items.
struct Writer<'a> {
    m: &'a Match,
    out: &'a mut String,
    first: bool,
}

impl Writer<'_> {
    /// Starts an item: the separator, then `name=`.
    fn key(&mut self, name: &str) -> &mut String {
        self.sep();
        self.out.push_str(name);
        self.out.push('=');
        self.out
    }

    /// A bare word (a shorthand).
    fn word(&mut self, word: &str) {
        self.sep();
        self.out.push_str(word);
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    /// `name=value[/mask]` in the field's format, if the match uses the field at all.
    fn field(&mut self, name: &str, field: Field) {
        let (value, mask) = self.m.get(field);
        if mask == 0 {
            return;
        }
        let bits = field.bits();
        let full = if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let exact = mask == full;
        let out = self.key(name);
        match (field, field.info().format) {
            (Field::EthType, _) if exact => {
                let _ = write!(out, "0x{value:04x}");
            }
            // ovs-ofctl prints the GBP flags' value alone, mask or not.
            (Field::TunGbpFlags, _) => hex(out, value),
            (Field::Ipv6Label, _) => {
                let _ = write!(out, "0x{value:05x}");
                if !exact {
                    let _ = write!(out, "/0x{mask:05x}");
                }
            }
            (_, Format::Decimal) if exact => {
                let _ = write!(out, "{value}");
            }
            (_, Format::Decimal) => {
                let _ = write!(out, "{value:#x}/{mask:#x}");
            }
            (_, Format::Hex) => {
                hex(out, value);
                if !exact {
                    out.push('/');
                    hex(out, mask);
                }
            }
            (_, Format::Ethernet) => {
                addr::format_ethernet(out, value);
                if !exact {
                    out.push('/');
                    addr::format_ethernet(out, mask);
                }
            }
            (_, Format::Ipv4) => {
                addr::format_ipv4(out, value);
                masked_ip(out, mask, 32, addr::format_ipv4);
            }
            (_, Format::Ipv6) => {
                addr::format_ipv6(out, value);
                masked_ip(out, mask, 128, addr::format_ipv6);
            }
            (_, Format::Port) => {
                let _ = write!(out, "{}", PortNo(value as u32));
            }
            (_, Format::PacketType) => {
                let _ = write!(out, "(");
                small_hex(out, value >> 16);
                out.push(',');
                small_hex(out, value & 0xffff);
                out.push(')');
            }
            (_, Format::CtState) => flags(out, value, mask, &CT_STATE),
            (_, Format::TcpFlags) => flags(out, value, mask, &TCP_FLAGS),
            (_, Format::TunFlags) => masked_flags(out, value, mask, &TUN_FLAGS),
            (_, Format::Frag) => {
                match FRAG_NAMES
                    .iter()
                    .find(|(_, v, mk)| u128::from(*v) == value && u128::from(*mk) == mask)
                {
                    Some((name, _, _)) => out.push_str(name),
                    None => {
                        let _ = write!(out, "{value:#x}/{mask:#x}");
                    }
                }
            }
        }
    }

    /// `dl_vlan`/`dl_vlan_pcp` when the TCI match says "VLAN present" and covers whole
    /// subfields, `vlan_tci` otherwise.
    fn vlan(&mut self) {
        let (v, m) = self.m.get(Field::VlanTci);
        let (v, m) = (v as u16, m as u16);
        if m == 0 {
            return;
        }
        let present = v & m & vlan::CFI != 0;
        if present && matches!(m, 0x1fff | 0xf000 | 0xffff) {
            if m & vlan::VID_MASK != 0 {
                let _ = write!(self.key("dl_vlan"), "{}", v & vlan::VID_MASK);
            }
            if m & vlan::PCP_MASK != 0 {
                let _ = write!(self.key("dl_vlan_pcp"), "{}", v >> 13);
            }
        } else if m == 0xffff {
            let _ = write!(self.key("vlan_tci"), "0x{v:04x}");
        } else {
            let _ = write!(self.key("vlan_tci"), "0x{v:04x}/0x{m:04x}");
        }
    }

    /// `nw_tos` (the DSCP bits, in place) and `nw_ecn`.
    fn tos(&mut self) {
        let (v, m) = self.m.get(Field::NwTos);
        if m & 0xfc != 0 {
            let _ = write!(self.key("nw_tos"), "{}", v & 0xfc);
        }
        if m & 0x03 != 0 {
            let _ = write!(self.key("nw_ecn"), "{}", v & 0x03);
        }
    }
}

/// `0x5`, with zero written `0`.
/// Decimal below 10, hexadecimal with `0x` from there (the halves of a packet type).
fn small_hex(out: &mut String, v: u128) {
    if v < 10 {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

fn hex(out: &mut String, v: u128) {
    if v == 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

/// `/N` for a prefix mask, `/mask` otherwise, nothing when exact.
fn masked_ip(out: &mut String, mask: u128, bits: u32, print: fn(&mut String, u128)) {
    let shifted = mask << (128 - bits);
    let ones = shifted.leading_ones();
    if ones == bits {
        return;
    }
    out.push('/');
    if shifted.count_ones() == ones {
        let _ = write!(out, "{ones}");
    } else {
        print(out, mask);
    }
}

/// Exact flag matches as `a|b` (`0` for none), partial ones as `+a-b`; unnamed bits as `[hex]`.
fn flags(out: &mut String, value: u128, mask: u128, set: &FlagSet) {
    let valid = u128::from(set.valid);
    if mask & valid != valid {
        masked_flags(out, value, mask, set);
        return;
    }
    let value = value & valid;
    if value == 0 {
        out.push('0');
        return;
    }
    let mut first = true;
    for bit in (0..32)
        .map(|i| 1u32 << i)
        .filter(|b| value & u128::from(*b) != 0)
    {
        if !first {
            out.push('|');
        }
        first = false;
        flag_name(out, bit, set);
    }
}

/// `+a-b` over the bits of `mask`, least significant first.
fn masked_flags(out: &mut String, value: u128, mask: u128, set: &FlagSet) {
    let valid = u128::from(set.valid);
    for bit in (0..32).map(|i| 1u32 << i) {
        let b = u128::from(bit);
        if mask & valid & b != 0 {
            out.push(if value & b != 0 { '+' } else { '-' });
            flag_name(out, bit, set);
        }
    }
}

fn flag_name(out: &mut String, bit: u32, set: &FlagSet) {
    match set.names.iter().find(|(_, b)| *b == bit) {
        Some((name, _)) => out.push_str(name),
        None => {
            let _ = write!(out, "[{bit:x}]");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_match;

    fn round_trip(s: &str, priority: u32) -> String {
        let mut out = String::new();
        if let Ok((m, _)) = parse_match(s) {
            format_match(&m, priority, &mut out);
        }
        out
    }

    #[test]
    fn shorthand_and_priority_lead() {
        assert_eq!(round_trip("tp_dst=80,tcp", 7), "priority=7,tcp,tp_dst=80");
        assert_eq!(round_trip("in_port=1", 32768), "in_port=1");
        assert_eq!(round_trip("", 0), "priority=0");
    }

    #[test]
    fn vlan_prints_dl_vlan_when_it_can() {
        assert_eq!(round_trip("dl_vlan=5", 32768), "dl_vlan=5");
        assert_eq!(round_trip("dl_vlan=0xffff", 32768), "vlan_tci=0x0000");
        assert_eq!(
            round_trip("vlan_tci=0x1000/0x1000", 32768),
            "vlan_tci=0x1000/0x1000"
        );
    }
}
