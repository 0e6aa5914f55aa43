//! Packets given on the command line (`netdev-dummy/receive PORT PACKET`): a frame in hex, or
//! a flow from which a frame is composed, in the datapath's flow syntax as Open vSwitch takes
//! it (`eth(src=..,dst=..),eth_type(0x0806),arp(sip=..,tip=..,op=1)`, with `vlan(...)` and
//! `encap(...)`, `ipv4`, `tcp`, `udp`, `icmp`), or, as a ferrovs extension, in `ovs-ofctl`
//! match syntax (`arp,dl_src=..`).
//!
//! Composition writes the headers the flow describes and nothing more, as Open vSwitch's
//! does: Ethernet (with an 802.1Q tag when `vlan_tci` has the present bit), then ARP, or IPv4
//! with TCP, UDP or ICMP headers (checksums filled in), and no payload or padding, so an ARP
//! request is 42 bytes, as `n_bytes` counts it on Open vSwitch. Other EtherTypes get the
//! Ethernet header only.

use fvs_flow::{Field, FlowKey};
use fvs_packet::checksum;
use std::net::Ipv4Addr;

/// Why a packet argument was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Neither hex nor a flow.
    #[error("{text}: bad packet or flow syntax ({reason})")]
    Syntax {
        /// The argument.
        text: String,
        /// The flow parser's complaint.
        reason: String,
    },
    /// Hex with an odd number of digits.
    #[error("{0}: odd number of hex digits")]
    OddHex(String),
}

const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_IPV4: u16 = 0x0800;
const VLAN_PRESENT: u16 = 0x1000;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// The frame `text` stands for: hex digits (at least an Ethernet header's worth), else a flow.
pub fn parse_packet(text: &str) -> Result<Vec<u8>, PacketError> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex(t);
    }
    if t.contains('(') {
        let mut k = FlowKey::ZERO;
        odp_flow(t, &mut k).map_err(|reason| PacketError::Syntax {
            text: t.to_owned(),
            reason,
        })?;
        return Ok(compose(&k));
    }
    let (m, _) = fvs_flow::text::parse_match(t).map_err(|e| PacketError::Syntax {
        text: t.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(compose(&m.key))
}

/// Splits `text` at the commas outside parentheses.
fn top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

fn number(v: &str) -> Result<u128, String> {
    let r = match v.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16),
        None => v.parse(),
    };
    r.map_err(|_| format!("{v}: bad number"))
}

fn mac_value(v: &str) -> Result<u128, String> {
    let mut out = 0u128;
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("{v}: bad Ethernet address"));
    }
    for p in parts {
        let b = u8::from_str_radix(p, 16).map_err(|_| format!("{v}: bad Ethernet address"))?;
        out = out << 8 | u128::from(b);
    }
    Ok(out)
}

fn ip_value(v: &str) -> Result<u128, String> {
    v.parse::<Ipv4Addr>()
        .map(|a| u128::from(a.to_bits()))
        .map_err(|_| format!("{v}: bad IPv4 address"))
}

/// The flow key of a flow in Open vSwitch's datapath syntax (as `dpctl/dump-flows` prints
/// megaflows, masks ignored): `in_port` is a datapath port number, `tunnel(...)` sets the
/// tunnel metadata.
pub fn parse_odp_flow(text: &str) -> Result<FlowKey, PacketError> {
    let mut k = FlowKey::ZERO;
    odp_flow(text.trim(), &mut k).map_err(|reason| PacketError::Syntax {
        text: text.trim().to_owned(),
        reason,
    })?;
    Ok(k)
}

/// Parses Open vSwitch's datapath flow syntax into `k`.
fn odp_flow(text: &str, k: &mut FlowKey) -> Result<(), String> {
    for item in top_level(text) {
        let (name, args) = match item.find('(') {
            Some(i) if item.ends_with(')') => (&item[..i], &item[i + 1..item.len() - 1]),
            _ => return Err(format!("{item}: expected name(arguments)")),
        };
        if name == "encap" {
            odp_flow(args, k)?;
            continue;
        }
        if name == "eth_type" {
            k.set(Field::EthType.loc(), number(args)?);
            continue;
        }
        if name == "in_port" {
            // A port name (`--names` dumps) stands for nothing here: left 0.
            if let Ok(n) = number(args) {
                k.set(Field::InPort.loc(), n);
            }
            continue;
        }
        if name == "tunnel" {
            for kv in top_level(args) {
                let Some((key, value)) = kv.split_once('=') else {
                    continue; // flags(...)
                };
                let value = value.split('/').next().unwrap_or(value);
                match key {
                    "tun_id" => k.set(Field::TunId.loc(), number(value)?),
                    "src" => k.set(Field::TunSrc.loc(), ip_value(value)?),
                    "dst" => k.set(Field::TunDst.loc(), ip_value(value)?),
                    _ => {}
                }
            }
            continue;
        }
        // Metadata that does not change the frame.
        if matches!(
            name,
            "recirc_id" | "skb_priority" | "skb_mark" | "dp_hash" | "tcp_flags"
        ) {
            continue;
        }
        if !matches!(
            name,
            "eth" | "arp" | "ipv4" | "tcp" | "udp" | "icmp" | "vlan" | "packet_type"
        ) {
            return Err(format!("{name}: unknown key"));
        }
        for kv in top_level(args) {
            let (key, value) = kv
                .split_once('=')
                .ok_or_else(|| format!("{kv}: expected key=value in {name}(...)"))?;
            // A megaflow's masked value (`dst=01:00:00:00:00:00/01:00:00:00:00:00`): the value.
            let value = value.split('/').next().unwrap_or(value);
            let field = match (name, key) {
                ("eth", "src") => Some((Field::EthSrc, mac_value(value)?)),
                ("eth", "dst") => Some((Field::EthDst, mac_value(value)?)),
                ("arp", "sip") => Some((Field::ArpSpa, ip_value(value)?)),
                ("arp", "tip") => Some((Field::ArpTpa, ip_value(value)?)),
                ("arp", "op") => Some((Field::ArpOp, number(value)?)),
                ("arp", "sha") => Some((Field::ArpSha, mac_value(value)?)),
                ("arp", "tha") => Some((Field::ArpTha, mac_value(value)?)),
                ("ipv4", "src") => Some((Field::Ipv4Src, ip_value(value)?)),
                ("ipv4", "dst") => Some((Field::Ipv4Dst, ip_value(value)?)),
                ("ipv4", "proto") => Some((Field::IpProto, number(value)?)),
                ("ipv4", "tos") => {
                    let tos = number(value)?;
                    k.set(Field::IpEcn.loc(), tos & 3);
                    Some((Field::NwTos, tos & 0xfc))
                }
                ("ipv4", "ttl") => Some((Field::NwTtl, number(value)?)),
                ("tcp", "src") => Some((Field::TcpSrc, number(value)?)),
                ("tcp", "dst") => Some((Field::TcpDst, number(value)?)),
                ("udp", "src") => Some((Field::UdpSrc, number(value)?)),
                ("udp", "dst") => Some((Field::UdpDst, number(value)?)),
                ("icmp", "type") => Some((Field::IcmpType, number(value)?)),
                ("icmp", "code") => Some((Field::IcmpCode, number(value)?)),
                ("vlan", "vid") => {
                    let tci = k.get(Field::VlanTci.loc()) & !0x0fff;
                    Some((Field::VlanTci, tci | 0x1000 | (number(value)? & 0x0fff)))
                }
                ("vlan", "pcp") => {
                    let tci = k.get(Field::VlanTci.loc()) & !0xe000;
                    Some((Field::VlanTci, tci | 0x1000 | ((number(value)? & 7) << 13)))
                }
                // Metadata that does not change the frame.
                ("ipv4", "frag") | ("packet_type", _) => None,
                _ => return Err(format!("{name}({key}=...): unknown field")),
            };
            if let Some((f, v)) = field {
                k.set(f.loc(), v);
            }
        }
    }
    Ok(())
}

fn hex(t: &str) -> Result<Vec<u8>, PacketError> {
    if !t.len().is_multiple_of(2) {
        return Err(PacketError::OddHex(t.to_owned()));
    }
    let digit = |b: u8| char::from(b).to_digit(16).map_or(0, |d| d as u8);
    Ok(t.as_bytes()
        .chunks(2)
        .map(|p| digit(p[0]) << 4 | digit(p[1]))
        .collect())
}

fn field(k: &FlowKey, f: Field) -> u128 {
    k.get(f.loc())
}

fn mac(k: &FlowKey, f: Field) -> [u8; 6] {
    let b = (field(k, f) as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn ip(k: &FlowKey, f: Field) -> [u8; 4] {
    (field(k, f) as u32).to_be_bytes()
}

/// The frame a flow key describes (see the module docs).
pub fn compose(k: &FlowKey) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&mac(k, Field::EthDst));
    f.extend_from_slice(&mac(k, Field::EthSrc));
    let tci = field(k, Field::VlanTci) as u16;
    if tci & VLAN_PRESENT != 0 {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(tci & !VLAN_PRESENT).to_be_bytes());
    }
    let eth_type = field(k, Field::EthType) as u16;
    f.extend_from_slice(&eth_type.to_be_bytes());
    match eth_type {
        ETH_TYPE_ARP => {
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
            f.extend_from_slice(&(field(k, Field::ArpOp) as u16).to_be_bytes());
            f.extend_from_slice(&mac(k, Field::ArpSha));
            f.extend_from_slice(&ip(k, Field::ArpSpa));
            f.extend_from_slice(&mac(k, Field::ArpTha));
            f.extend_from_slice(&ip(k, Field::ArpTpa));
        }
        ETH_TYPE_IPV4 => ipv4(&mut f, k),
        _ => {}
    }
    f
}

fn ipv4(f: &mut Vec<u8>, k: &FlowKey) {
    let proto = field(k, Field::IpProto) as u8;
    let mut l4 = match proto {
        IPPROTO_TCP => {
            let mut h = vec![0u8; 20];
            h[0..2].copy_from_slice(&(field(k, Field::TcpSrc) as u16).to_be_bytes());
            h[2..4].copy_from_slice(&(field(k, Field::TcpDst) as u16).to_be_bytes());
            let flags = field(k, Field::TcpFlags) as u16 & 0x0fff;
            h[12..14].copy_from_slice(&((5u16 << 12) | flags).to_be_bytes());
            h
        }
        IPPROTO_UDP => {
            let mut h = vec![0u8; 8];
            h[0..2].copy_from_slice(&(field(k, Field::UdpSrc) as u16).to_be_bytes());
            h[2..4].copy_from_slice(&(field(k, Field::UdpDst) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&8u16.to_be_bytes());
            h
        }
        IPPROTO_ICMP => vec![
            field(k, Field::IcmpType) as u8,
            field(k, Field::IcmpCode) as u8,
            0,
            0,
            0,
            0,
            0,
            0,
        ],
        _ => Vec::new(),
    };
    let src = ip(k, Field::Ipv4Src);
    let dst = ip(k, Field::Ipv4Dst);
    let total = 20 + l4.len() as u16;
    let ttl = match field(k, Field::NwTtl) as u8 {
        0 => 64,
        t => t,
    };
    let tos = (field(k, Field::NwTos) as u8 & 0xfc) | (field(k, Field::IpEcn) as u8 & 0x03);
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let at = match proto {
        IPPROTO_TCP => Some(16),
        IPPROTO_UDP => Some(6),
        IPPROTO_ICMP => None,
        _ => None,
    };
    if let Some(at) = at {
        let sum = checksum::pseudo_header_v4(
            Ipv4Addr::from(src),
            Ipv4Addr::from(dst),
            proto,
            l4.len() as u16,
        )
        .add_bytes(&l4)
        .checksum();
        l4[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    } else if proto == IPPROTO_ICMP {
        let c = checksum::checksum(&l4);
        l4[2..4].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&h);
    f.extend_from_slice(&l4);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_frames_pass_through_and_flows_compose_headers() {
        let arp = parse_packet(
            "arp,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,\
             arp_spa=192.168.0.1,arp_tpa=192.168.0.2,arp_sha=fa:16:3e:00:00:01",
        )
        .expect("a valid flow");
        assert_eq!(arp.len(), 42, "Ethernet + ARP, no padding");
        assert_eq!(&arp[12..14], &[0x08, 0x06]);
        assert_eq!(&arp[28..32], &[192, 168, 0, 1]);
        let key = fvs_flow::extract::extract(&arp, fvs_flow::PortNo(1), None);
        assert_eq!(key.get(Field::ArpTpa.loc()), 0xc0a8_0002);

        let odp = parse_packet(
            "in_port(2),eth(src=fa:16:3e:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),\
             arp(sip=192.168.0.1,tip=192.168.0.2,op=1,sha=fa:16:3e:00:00:01,tha=00:00:00:00:00:00)",
        )
        .expect("a valid datapath flow");
        assert_eq!(odp, arp, "both syntaxes describe the same frame");
        assert!(matches!(
            parse_packet("eth(src=1),eth_type(0x800)"),
            Err(PacketError::Syntax { .. })
        ));
        let hexed: String = arp.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_packet(&hexed), Ok(arp));
        assert!(matches!(
            parse_packet("ffffffffffffaaaaaaaaaaaa08060"),
            Err(PacketError::OddHex(_))
        ));
        assert!(matches!(
            parse_packet("no_such_field=1"),
            Err(PacketError::Syntax { .. })
        ));

        let udp =
            parse_packet("udp,dl_vlan=5,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=53")
                .expect("a valid flow");
        assert_eq!(udp.len(), 14 + 4 + 20 + 8);
        assert_eq!(&udp[12..16], &[0x81, 0x00, 0x00, 0x05]);
        assert!(checksum::verifies(&udp[18..38]), "IPv4 header checksum");
        let l4 = &udp[38..];
        let sum = checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            8,
        )
        .add_bytes(l4)
        .checksum();
        assert_eq!(sum, 0, "UDP checksum verifies");
    }
}
