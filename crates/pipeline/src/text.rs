//! Match, flow and megaflow text as `ovs-ofctl` and `ofproto/trace` print them.
//!
//! TODO(a4): `format_match` is a local stand-in for `fvs_flow`'s match formatter, covering the
//! fields the Neutron tables and the traces use; switch to that one when it lands. The flow and
//! megaflow printers stay here: they are trace-specific (see docs/design/trace-format.md).

use crate::dpif::Mac;
use crate::port::OfPort;
use fvs_flow::{Field, FlowKey};
use std::net::Ipv4Addr;

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;

fn get(k: &FlowKey, f: Field) -> u128 {
    k.get(f.loc())
}

fn full(f: Field) -> u128 {
    f.loc().full_mask().get(f.loc())
}

/// The protocol keyword for an exactly matched Ethernet type (and IP protocol), and whether
/// the keyword also implies the IP protocol.
fn keyword(key: &FlowKey, mask: &FlowKey) -> Option<(&'static str, bool)> {
    if get(mask, Field::EthType) != full(Field::EthType) {
        return None;
    }
    let proto_exact = get(mask, Field::IpProto) == full(Field::IpProto);
    match get(key, Field::EthType) {
        ETH_TYPE_IP => {
            if proto_exact {
                match get(key, Field::IpProto) {
                    1 => return Some(("icmp", true)),
                    6 => return Some(("tcp", true)),
                    17 => return Some(("udp", true)),
                    132 => return Some(("sctp", true)),
                    _ => {}
                }
            }
            Some(("ip", false))
        }
        ETH_TYPE_ARP => Some(("arp", false)),
        0x8035 => Some(("rarp", false)),
        0x86dd => Some(("ipv6", false)),
        _ => None,
    }
}

fn port_text(p: u32) -> String {
    match OfPort(p) {
        OfPort::LOCAL => "LOCAL".to_owned(),
        OfPort::CONTROLLER => "CONTROLLER".to_owned(),
        _ => p.to_string(),
    }
}

fn ip(v: u128) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v & 0xffff_ffff).unwrap_or(0))
}

fn mac(v: u128) -> Mac {
    Mac::from_u64(u64::try_from(v & 0xffff_ffff_ffff).unwrap_or(0))
}

/// `name=value` or `name=value/mask` for a hex-printed field.
fn hex_field(out: &mut Vec<String>, name: &str, v: u128, m: u128, whole: u128) {
    if m == 0 {
        return;
    }
    if m == whole {
        out.push(format!("{name}={v:#x}"));
    } else {
        out.push(format!("{name}={v:#x}/{m:#x}"));
    }
}

fn ip_field(out: &mut Vec<String>, name: &str, v: u128, m: u128) {
    if m == 0 {
        return;
    }
    let m32 = u32::try_from(m & 0xffff_ffff).unwrap_or(0);
    if m32 == u32::MAX {
        out.push(format!("{name}={}", ip(v)));
    } else if m32.leading_ones() + m32.trailing_zeros() == 32 {
        out.push(format!("{name}={}/{}", ip(v), m32.leading_ones()));
    } else {
        out.push(format!("{name}={}/{}", ip(v), ip(m)));
    }
}

fn mac_field(out: &mut Vec<String>, name: &str, v: u128, m: u128) {
    if m == 0 {
        return;
    }
    if m == 0xffff_ffff_ffff {
        out.push(format!("{name}={}", mac(v)));
    } else {
        out.push(format!("{name}={}/{}", mac(v), mac(m)));
    }
}

fn dec_field(out: &mut Vec<String>, name: &str, v: u128, m: u128, whole: u128) {
    if m == 0 {
        return;
    }
    if m == whole {
        out.push(format!("{name}={v}"));
    } else {
        out.push(format!("{name}={v:#x}/{m:#x}"));
    }
}

/// The VLAN part of a match, with Open vSwitch's choice between `dl_vlan`/`dl_vlan_pcp` and
/// `vlan_tci`.
fn vlan_field(out: &mut Vec<String>, v: u128, m: u128) {
    if m == 0 {
        return;
    }
    let vid_m = m & 0x0fff;
    let pcp_m = m & 0xe000;
    let cfi_m = m & 0x1000;
    if cfi_m != 0
        && v & 0x1000 != 0
        && (vid_m == 0 || vid_m == 0x0fff)
        && (pcp_m == 0 || pcp_m == 0xe000)
        && (vid_m != 0 || pcp_m != 0)
    {
        if vid_m != 0 {
            out.push(format!("dl_vlan={}", v & 0xfff));
        }
        if pcp_m != 0 {
            out.push(format!("dl_vlan_pcp={}", (v >> 13) & 7));
        }
    } else if m == 0xffff {
        out.push(format!("vlan_tci={v:#06x}"));
    } else {
        out.push(format!("vlan_tci={v:#06x}/{m:#06x}"));
    }
}

const REGS: [Field; 16] = [
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
];

/// A match (key under mask) in `ovs-ofctl` syntax, without the priority: the fields in the order
/// Open vSwitch prints them, comma-separated; empty for the match-everything rule.
pub fn format_match(key: &FlowKey, mask: &FlowKey) -> String {
    let key = key.and(mask);
    let mut out: Vec<String> = Vec::new();
    let g = |f: Field| (get(&key, f), get(mask, f));
    let (v, m) = g(Field::PktMark);
    hex_field(&mut out, "pkt_mark", v, m, full(Field::PktMark));
    let kw = keyword(&key, mask);
    if let Some((name, _)) = kw {
        out.push(name.to_owned());
    }
    for (i, r) in REGS.iter().enumerate() {
        let (v, m) = g(*r);
        hex_field(&mut out, &format!("reg{i}"), v, m, full(*r));
    }
    let (v, m) = g(Field::TunId);
    hex_field(&mut out, "tun_id", v, m, full(Field::TunId));
    let (v, m) = g(Field::TunSrc);
    ip_field(&mut out, "tun_src", v, m);
    let (v, m) = g(Field::TunDst);
    ip_field(&mut out, "tun_dst", v, m);
    let (v, m) = g(Field::Metadata);
    hex_field(&mut out, "metadata", v, m, full(Field::Metadata));
    let (v, m) = g(Field::InPort);
    if m != 0 {
        out.push(format!(
            "in_port={}",
            port_text(u32::try_from(v).unwrap_or(u32::MAX))
        ));
    }
    let (v, m) = g(Field::VlanTci);
    vlan_field(&mut out, v, m);
    let (v, m) = g(Field::EthSrc);
    mac_field(&mut out, "dl_src", v, m);
    let (v, m) = g(Field::EthDst);
    mac_field(&mut out, "dl_dst", v, m);
    let (v, m) = g(Field::EthType);
    if kw.is_none() && m != 0 {
        out.push(format!("dl_type={v:#06x}"));
    }
    let is_arp = kw.is_some_and(|(n, _)| n == "arp" || n == "rarp");
    let (v, m) = g(Field::Ipv4Src);
    ip_field(&mut out, if is_arp { "arp_spa" } else { "nw_src" }, v, m);
    let (v, m) = g(Field::Ipv4Dst);
    ip_field(&mut out, if is_arp { "arp_tpa" } else { "nw_dst" }, v, m);
    let (v, m) = g(Field::IpProto);
    if !kw.is_some_and(|(_, implied)| implied) {
        dec_field(
            &mut out,
            if is_arp { "arp_op" } else { "nw_proto" },
            v,
            m,
            full(Field::IpProto),
        );
    }
    let (v, m) = g(Field::NwTos);
    dec_field(&mut out, "nw_tos", v, m, full(Field::NwTos));
    let (v, m) = g(Field::IpFrag);
    if m != 0 {
        let text = match v & 3 {
            0 => "no",
            1 => "first",
            _ => "later",
        };
        out.push(format!("nw_frag={text}"));
    }
    let (v, m) = g(Field::TcpSrc);
    dec_field(&mut out, "tp_src", v, m, 0xffff);
    let (v, m) = g(Field::TcpDst);
    dec_field(&mut out, "tp_dst", v, m, 0xffff);
    out.join(",")
}

/// An exact flow as the `Flow:` and `Final flow:` lines of a trace print it.
pub fn format_flow(flow: &FlowKey) -> String {
    let mut out: Vec<String> = Vec::new();
    let eth_type = get(flow, Field::EthType);
    let proto = get(flow, Field::IpProto);
    let kw = match eth_type {
        ETH_TYPE_IP => Some(match proto {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            132 => "sctp",
            _ => "ip",
        }),
        ETH_TYPE_ARP => Some("arp"),
        _ => None,
    };
    if let Some(k) = kw {
        out.push(k.to_owned());
    }
    for (i, r) in REGS.iter().enumerate() {
        let v = get(flow, *r);
        if v != 0 {
            out.push(format!("reg{i}={v:#x}"));
        }
    }
    let tun = get(flow, Field::TunId);
    if tun != 0 {
        out.push(format!("tun_id={tun:#x}"));
    }
    for (f, name) in [(Field::TunSrc, "tun_src"), (Field::TunDst, "tun_dst")] {
        let v = get(flow, f);
        if v != 0 {
            out.push(format!("{name}={}", ip(v)));
        }
    }
    let md = get(flow, Field::Metadata);
    if md != 0 {
        out.push(format!("metadata={md:#x}"));
    }
    out.push(format!(
        "in_port={}",
        port_text(u32::try_from(get(flow, Field::InPort)).unwrap_or(u32::MAX))
    ));
    let tci = get(flow, Field::VlanTci);
    if tci & 0x1000 != 0 {
        out.push(format!(
            "dl_vlan={},dl_vlan_pcp={},vlan_tci1=0x0000",
            tci & 0xfff,
            (tci >> 13) & 7
        ));
    } else {
        out.push(format!("vlan_tci={tci:#06x}"));
    }
    out.push(format!("dl_src={}", mac(get(flow, Field::EthSrc))));
    out.push(format!("dl_dst={}", mac(get(flow, Field::EthDst))));
    match kw {
        None => out.push(format!("dl_type={eth_type:#06x}")),
        Some("arp") => {
            out.push(format!("arp_spa={}", ip(get(flow, Field::Ipv4Src))));
            out.push(format!("arp_tpa={}", ip(get(flow, Field::Ipv4Dst))));
            out.push(format!("arp_op={proto}"));
            out.push(format!("arp_sha={}", mac(get(flow, Field::ArpSha))));
            out.push(format!("arp_tha={}", mac(get(flow, Field::ArpTha))));
        }
        Some(k) => {
            out.push(format!("nw_src={}", ip(get(flow, Field::Ipv4Src))));
            out.push(format!("nw_dst={}", ip(get(flow, Field::Ipv4Dst))));
            if k == "ip" {
                out.push(format!("nw_proto={proto}"));
            }
            let tos = get(flow, Field::NwTos);
            out.push(format!("nw_tos={}", tos & 0xfc));
            out.push(format!("nw_ecn={}", tos & 3));
            out.push(format!("nw_ttl={}", get(flow, Field::NwTtl)));
            out.push("nw_frag=no".to_owned());
            if matches!(k, "tcp" | "udp" | "sctp") {
                out.push(format!("tp_src={}", get(flow, Field::TcpSrc)));
                out.push(format!("tp_dst={}", get(flow, Field::TcpDst)));
            }
            if k == "icmp" {
                out.push(format!("icmp_type={}", get(flow, Field::IcmpType)));
                out.push(format!("icmp_code={}", get(flow, Field::IcmpCode)));
            }
            if k == "tcp" {
                out.push(format!("tcp_flags={}", get(flow, Field::TcpFlags)));
            }
        }
    }
    out.join(",")
}

/// The `Megaflow:` line: the cached match as the datapath holds it (see the design note).
pub fn format_megaflow(flow: &FlowKey, wc: &FlowKey) -> String {
    let mut mask = *wc;
    // The datapath always matches the input port and the Ethernet type.
    mask.set(Field::InPort.loc(), u128::MAX);
    mask.set(Field::EthType.loc(), u128::MAX);
    if get(flow, Field::EthType) == ETH_TYPE_IP {
        mask.set(Field::IpFrag.loc(), u128::MAX);
    }
    // Tunnel metadata only exists for packets that arrived through a tunnel.
    if get(flow, Field::TunDst) == 0 {
        for f in [Field::TunId, Field::TunSrc, Field::TunDst, Field::TunFlags] {
            mask.set(f.loc(), 0);
        }
    }
    // An untagged packet's "no tag" is implied by its Ethernet type; a tagged one shows the
    // parts of the tag that were consulted.
    let tci = get(flow, Field::VlanTci);
    let tci_m = get(&mask, Field::VlanTci);
    let shown = if tci & 0x1000 == 0 || tci_m == 0 {
        0
    } else {
        0x1000 | if tci_m & 0x0fff != 0 { 0x0fff } else { 0 } | (tci_m & 0xe000)
    };
    mask.set(Field::VlanTci.loc(), shown);
    let body = format_match(flow, &mask);
    if body.is_empty() {
        "recirc_id=0,eth".to_owned()
    } else {
        format!("recirc_id=0,eth,{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &mut FlowKey, m: &mut FlowKey, f: Field, v: u128, mask: u128) {
        k.set(f.loc(), v);
        m.set(f.loc(), mask);
    }

    #[test]
    fn matches_print_in_ovs_order_with_vlan_spelling_rules() {
        let (mut k, mut m) = (FlowKey::ZERO, FlowKey::ZERO);
        set(&mut k, &mut m, Field::VlanTci, 0x0001, 0x0fff);
        set(
            &mut k,
            &mut m,
            Field::EthDst,
            0xfa16_3eaa_aaaa,
            0xffff_ffff_ffff,
        );
        assert_eq!(
            format_match(&k, &m),
            "vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:aa:aa:aa"
        );
        let (mut k, mut m) = (FlowKey::ZERO, FlowKey::ZERO);
        set(&mut k, &mut m, Field::VlanTci, 0x1001, 0x1fff);
        assert_eq!(format_match(&k, &m), "dl_vlan=1");
        let (mut k, mut m) = (FlowKey::ZERO, FlowKey::ZERO);
        set(&mut k, &mut m, Field::EthDst, 1 << 40, 1 << 40);
        set(&mut k, &mut m, Field::TunId, 1, u128::MAX);
        assert_eq!(
            format_match(&k, &m),
            "tun_id=0x1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
        );
    }
}
