//! Match, flow and megaflow text as `ovs-ofctl` and `ofproto/trace` print them.
//!
//! Matches and actions print with the shared formatters (`fvs_flow::text::format_match`,
//! `fvs_openflow::text::format_actions`); this module wraps them into `String`s and keeps the
//! two printers that are trace-specific (see docs/design/trace-format.md): the exact flow of
//! the `Flow:` lines and the datapath's view of the `Megaflow:` line.

use crate::dpif::Mac;
use fvs_flow::PortNo;
use fvs_flow::{Field, FlowKey, Match};
use fvs_openflow::Action;
use std::net::Ipv4Addr;

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;

fn get(k: &FlowKey, f: Field) -> u128 {
    k.get(f.loc())
}

/// A port number as matches print it: reserved ports by name, others in decimal.
fn port_text(p: u32) -> String {
    PortNo(p).to_string()
}

fn ip(v: u128) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v & 0xffff_ffff).unwrap_or(0))
}

fn mac(v: u128) -> Mac {
    Mac::from_u64(u64::try_from(v & 0xffff_ffff_ffff).unwrap_or(0))
}

/// The priority `ovs-ofctl` leaves out.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// A match in `ovs-ofctl` syntax, without the priority; empty for the match-everything rule.
pub fn format_match(m: &Match) -> String {
    format_flow_head(m, DEFAULT_PRIORITY)
}

/// `priority=N,` (unless default) and the match, as `dump-flows` prints a rule's head.
pub fn format_flow_head(m: &Match, priority: u16) -> String {
    let mut out = String::new();
    fvs_flow::text::format_match(m, u32::from(priority), &mut out);
    out
}

/// An action list as `dump-flows` prints it (`drop` when empty).
pub fn format_actions(actions: &[Action]) -> String {
    let mut out = String::new();
    fvs_openflow::text::format_actions(actions, &mut out);
    out
}

/// One action as a trace line prints it.
pub fn format_action(action: &Action) -> String {
    let mut out = String::new();
    fvs_openflow::text::format_action(action, &mut out);
    out
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
    for (i, r) in Field::REGS.iter().enumerate() {
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
        // Every fragment bit is matched; a non-fragment then prints as `nw_frag=no`.
        let frag = get(flow, Field::IpFrag);
        mask.set(Field::IpFrag.loc(), if frag == 0 { 1 } else { 3 });
    }
    // Registers and metadata live in the switch, not in the packet: the datapath never sees
    // them (the extended registers share their bits).
    for f in Field::REGS.into_iter().chain([Field::Metadata]) {
        mask.set(f.loc(), 0);
    }
    // Tunnel metadata only exists for packets that arrived through a tunnel.
    if get(flow, Field::TunDst) == 0 {
        for f in Field::TUNNEL {
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
    let body = format_match(&Match {
        key: flow.and(&mask),
        mask,
    });
    if body.is_empty() {
        "recirc_id=0,eth".to_owned()
    } else {
        format!("recirc_id=0,eth,{body}")
    }
}
