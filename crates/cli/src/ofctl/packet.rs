//! Packets as text: the hex packets `packet-out` takes, and the one-line summary ovs-ofctl
//! prints under a packet-out or packet-in (`udp,vlan_tci=0x0000,dl_src=...,tp_dst=2
//! udp_csum:fff7`).
//!
//! # Hex
//!
//! As ovs-ofctl reads packet data: pairs of hex digits, white space allowed before each pair;
//! anything else left over is `Trailing garbage in packet data`, and fewer than 14 bytes is
//! `Packet data too short for Ethernet`.
//!
//! # The summary line
//!
//! The packet's flow as ovs-ofctl prints an exact flow, minus the input port (a packet on its
//! own has none): the protocol shorthand, the VLAN tag, addresses, IP header fields, ports
//! (ICMP type and code), TCP flags by name; then, for an unfragmented packet with an L4
//! header, that header's checksum as it stands in the packet (`tcp_csum:`, `udp_csum:`,
//! `icmp_csum:`, `sctp_csum:`), unverified, so a controller can see what it was sent.
//! The fields come from `fvs_flow::extract`, the switch's own parser.

use fvs_flow::extract::extract;
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_openflow::EthAddr;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why packet data did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Something that is not a pair of hex digits.
    #[error("Trailing garbage in packet data")]
    Garbage,
    /// Shorter than an Ethernet header.
    #[error("Packet data too short for Ethernet")]
    TooShort,
}

/// Ethernet header length: the least a packet must have.
const ETH_HEADER_LEN: usize = 14;

/// Parses packet data written in hex (see the module docs).
pub fn parse_hex_packet(s: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut rest = s.as_bytes();
    loop {
        while let Some((b, tail)) = rest.split_first()
            && b.is_ascii_whitespace()
        {
            rest = tail;
        }
        let [hi, lo, tail @ ..] = rest else {
            break;
        };
        let (Some(h), Some(l)) = (hexit(*hi), hexit(*lo)) else {
            break;
        };
        out.push(h << 4 | l);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(HexError::Garbage);
    }
    if out.len() < ETH_HEADER_LEN {
        return Err(HexError::TooShort);
    }
    Ok(out)
}

fn hexit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;
const ETH_TYPE_IPV6: u128 = 0x86dd;
const ETH_TYPE_RARP: u128 = 0x8035;
const IPPROTO_ICMP: u128 = 1;
const IPPROTO_TCP: u128 = 6;
const IPPROTO_UDP: u128 = 17;
const IPPROTO_ICMPV6: u128 = 58;
const IPPROTO_SCTP: u128 = 132;

/// TCP flag names in bit order, as flows print them.
const TCP_FLAGS: [&str; 9] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"];

/// The summary line of `frame` (without a newline).
pub fn packet_line(frame: &[u8]) -> String {
    let key = extract(frame, PortNo(0), None);
    let get = |f: Field| key.get(f.loc());
    let mut out = String::new();
    let eth_type = get(Field::EthType);
    let proto = get(Field::IpProto);
    let frag = get(Field::IpFrag);
    let l3 = match eth_type {
        ETH_TYPE_IP => Some(false),
        ETH_TYPE_IPV6 => Some(true),
        _ => None,
    };
    let shorthand = match (l3, proto) {
        (Some(v6), IPPROTO_TCP) => Some(if v6 { "tcp6" } else { "tcp" }),
        (Some(v6), IPPROTO_UDP) => Some(if v6 { "udp6" } else { "udp" }),
        (Some(v6), IPPROTO_SCTP) => Some(if v6 { "sctp6" } else { "sctp" }),
        (Some(false), IPPROTO_ICMP) => Some("icmp"),
        (Some(true), IPPROTO_ICMPV6) => Some("icmp6"),
        (Some(v6), _) => Some(if v6 { "ipv6" } else { "ip" }),
        (None, _) if eth_type == ETH_TYPE_ARP => Some("arp"),
        (None, _) if eth_type == ETH_TYPE_RARP => Some("rarp"),
        (None, _) => None,
    };
    let mut fields: Vec<String> = Vec::new();
    if let Some(s) = shorthand {
        fields.push(s.to_string());
    }
    let tci = get(Field::VlanTci);
    if tci & 0x1000 != 0 {
        fields.push(format!(
            "dl_vlan={},dl_vlan_pcp={},vlan_tci1=0x0000",
            tci & 0xfff,
            (tci >> 13) & 7
        ));
    } else {
        fields.push(format!("vlan_tci={tci:#06x}"));
    }
    fields.push(format!("dl_src={}", EthAddr::from_u128(get(Field::EthSrc))));
    fields.push(format!("dl_dst={}", EthAddr::from_u128(get(Field::EthDst))));
    if shorthand.is_none() {
        fields.push(format!("dl_type={eth_type:#06x}"));
    }
    match l3 {
        None if matches!(eth_type, ETH_TYPE_ARP | ETH_TYPE_RARP) => {
            fields.push(format!("arp_spa={}", v4(get(Field::ArpSpa))));
            fields.push(format!("arp_tpa={}", v4(get(Field::ArpTpa))));
            fields.push(format!("arp_op={}", get(Field::ArpOp)));
            fields.push(format!(
                "arp_sha={}",
                EthAddr::from_u128(get(Field::ArpSha))
            ));
            fields.push(format!(
                "arp_tha={}",
                EthAddr::from_u128(get(Field::ArpTha))
            ));
        }
        None => {}
        Some(v6) => {
            if v6 {
                fields.push(format!("ipv6_src={}", Ipv6Addr::from(get(Field::Ipv6Src))));
                fields.push(format!("ipv6_dst={}", Ipv6Addr::from(get(Field::Ipv6Dst))));
                fields.push(format!("ipv6_label={:#07x}", get(Field::Ipv6Label)));
            } else {
                fields.push(format!("nw_src={}", v4(get(Field::Ipv4Src))));
                fields.push(format!("nw_dst={}", v4(get(Field::Ipv4Dst))));
            }
            if matches!(shorthand, Some("ip" | "ipv6")) {
                fields.push(format!("nw_proto={proto}"));
            }
            let tos = get(Field::NwTos);
            fields.push(format!("nw_tos={}", tos & 0xfc));
            fields.push(format!("nw_ecn={}", tos & 3));
            fields.push(format!("nw_ttl={}", get(Field::NwTtl)));
            fields.push(format!(
                "nw_frag={}",
                match frag {
                    0 => "no",
                    1 => "first",
                    _ => "later",
                }
            ));
            // Later fragments carry no L4 header.
            if frag & 2 == 0 {
                l4_fields(&key, proto, &mut fields);
            }
        }
    }
    out.push_str(&fields.join(","));
    if frag == 0
        && let Some((name, value)) = l4_checksum(frame, proto, l3)
    {
        let _ = write!(out, " {name}:{value:x}");
    }
    out
}

fn v4(v: u128) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v & 0xffff_ffff).unwrap_or(0))
}

fn l4_fields(key: &FlowKey, proto: u128, fields: &mut Vec<String>) {
    let get = |f: Field| key.get(f.loc());
    match proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
            fields.push(format!("tp_src={}", get(Field::TcpSrc)));
            fields.push(format!("tp_dst={}", get(Field::TcpDst)));
            if proto == IPPROTO_TCP {
                fields.push(format!("tcp_flags={}", tcp_flags(get(Field::TcpFlags))));
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            // The key keeps ICMP type and code in the transport ports.
            fields.push(format!("icmp_type={}", get(Field::TcpSrc)));
            fields.push(format!("icmp_code={}", get(Field::TcpDst)));
        }
        _ => {}
    }
}

/// TCP flags by name, `|`-separated; `0` for none.
fn tcp_flags(v: u128) -> String {
    let names: Vec<&str> = TCP_FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| v & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// The L4 checksum field of an unfragmented IP packet, read straight from the frame: its
/// name and value. `None` when the header is not there (truncated, or IPv6 with extension
/// headers, which the line leaves without a checksum).
fn l4_checksum(frame: &[u8], proto: u128, l3: Option<bool>) -> Option<(&'static str, u32)> {
    let v6 = l3?;
    // Skip the Ethernet header and any VLAN tags.
    let mut at = 12;
    loop {
        let t = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if matches!(t, 0x8100 | 0x88a8) {
            at += 4;
        } else {
            at += 2;
            break;
        }
    }
    let l4 = if v6 {
        let next = *frame.get(at + 6)?;
        if u128::from(next) != proto {
            return None;
        }
        at + 40
    } else {
        at + usize::from(frame.get(at)? & 0x0f) * 4
    };
    let u16_at = |off: usize| -> Option<u32> {
        Some(u32::from(u16::from_be_bytes([
            *frame.get(l4 + off)?,
            *frame.get(l4 + off + 1)?,
        ])))
    };
    match proto {
        IPPROTO_TCP => Some(("tcp_csum", u16_at(16)?)),
        IPPROTO_UDP => Some(("udp_csum", u16_at(6)?)),
        IPPROTO_ICMP if !v6 => Some(("icmp_csum", u16_at(2)?)),
        IPPROTO_ICMPV6 if v6 => Some(("icmp6_csum", u16_at(2)?)),
        IPPROTO_SCTP => Some(("sctp_csum", u16_at(8)? << 16 | u16_at(10)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_takes_pairs_with_spaces_and_refuses_the_rest() {
        let frame = parse_hex_packet("ffffffffffff 000000000001 0800 45").unwrap();
        assert_eq!(frame.len(), 15);
        assert_eq!(parse_hex_packet("zz"), Err(HexError::Garbage));
        assert_eq!(
            parse_hex_packet("ffffffffffff0000000000010800a"),
            Err(HexError::Garbage)
        );
        assert_eq!(parse_hex_packet("0011"), Err(HexError::TooShort));
    }
}
