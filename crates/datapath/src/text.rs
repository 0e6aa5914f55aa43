//! Megaflows as `ovs-appctl dpctl/dump-flows` prints them for Open vSwitch's userspace
//! datapath (checked against Open vSwitch 3.1's dummy datapath):
//!
//! ```text
//! recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=…,dst=…),eth_type(0x0800),ipv4(src=10.0.0.1,proto=6,frag=no),tcp(dst=80), packets:0, bytes:0, used:never, actions:set(tcp(dst=99)),2
//! ```
//!
//! A header's attribute is printed only when some of its bits are matched, and inside it only
//! the fields with a non-zero mask: `field=value` when fully matched, `field=value/mask`
//! otherwise. A VLAN tag prints as `eth_type(0x8100),vlan(vid=…),encap(…)` around the inner
//! EtherType and L3/L4 attributes. `used` is the age of the last hit in seconds with
//! millisecond precision, or `never`; `flags:` lists the TCP flags seen, when there were any.

use crate::FlowStats;
use fvs_flow::{Field, FlowKey};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::{DpActions, Mac};
use std::fmt::Write;
use std::net::Ipv4Addr;

const VLAN_CFI: u128 = 0x1000;

struct Masked<'a> {
    key: &'a FlowKey,
    mask: &'a FlowKey,
}

impl Masked<'_> {
    fn get(&self, f: Field) -> (u128, u128) {
        (self.key.get(f.loc()), self.mask.get(f.loc()))
    }

    fn any(&self, fields: &[Field]) -> bool {
        fields.iter().any(|f| self.mask.get(f.loc()) != 0)
    }
}

/// Appends `name=value[/mask]` for each field with a non-zero mask, comma-separated, using
/// `show` to print a value.
fn fields(out: &mut String, m: &Masked<'_>, list: &[(&str, Field)], show: fn(u128) -> String) {
    let mut first = true;
    for (name, f) in list {
        let (v, mask) = m.get(*f);
        if mask == 0 {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        let full = f.loc().full_mask().get(f.loc());
        if mask == full {
            let _ = write!(out, "{name}={}", show(v));
        } else {
            let _ = write!(out, "{name}={}/{}", show(v), show(mask));
        }
    }
}

fn ip(v: u128) -> String {
    Ipv4Addr::from_bits(v as u32).to_string()
}

fn ip6(v: u128) -> String {
    std::net::Ipv6Addr::from_bits(v).to_string()
}

fn mac(v: u128) -> String {
    Mac::from_u64(v as u64).to_string()
}

fn dec(v: u128) -> String {
    v.to_string()
}

fn hex(v: u128) -> String {
    format!("{v:#x}")
}

fn frag(v: u128) -> String {
    match v {
        0 => "no",
        1 => "first",
        _ => "later",
    }
    .to_owned()
}

/// Appends one megaflow line (without the newline).
pub fn write_flow(
    out: &mut String,
    key: &FlowKey,
    mask: &FlowKey,
    stats: &FlowStats,
    actions: &DpActions,
    now: Millis,
) {
    let m = Masked { key, mask };
    write_key(out, &m);
    let _ = write!(
        out,
        ", packets:{}, bytes:{}, used:",
        stats.packets, stats.bytes
    );
    match stats.used {
        None => out.push_str("never"),
        Some(t) => {
            let age = now.0.saturating_sub(t.0);
            let _ = write!(out, "{}.{:03}s", age / 1000, age % 1000);
        }
    }
    if stats.tcp_flags != 0 {
        out.push_str(", flags:");
        write_tcp_flags(out, stats.tcp_flags);
    }
    let _ = write!(out, ", actions:{actions}");
}

fn write_key(out: &mut String, m: &Masked<'_>) {
    let tunnel = [
        Field::TunId,
        Field::TunSrc,
        Field::TunDst,
        Field::TunIpv6Src,
        Field::TunIpv6Dst,
    ];
    if m.any(&tunnel) {
        out.push_str("tunnel(");
        let mut parts = Vec::new();
        // An IPv6 underlay's packets carry their outer addresses in the IPv6 fields, which
        // Open vSwitch prints as `ipv6_src`/`ipv6_dst`; an IPv4 one's in `src`/`dst`.
        let v6 = m.get(Field::TunIpv6Src).0 != 0 || m.get(Field::TunIpv6Dst).0 != 0;
        let (src, dst, show) = if v6 {
            (
                ("ipv6_src", Field::TunIpv6Src),
                ("ipv6_dst", Field::TunIpv6Dst),
                ip6 as fn(u128) -> String,
            )
        } else {
            (
                ("src", Field::TunSrc),
                ("dst", Field::TunDst),
                ip as fn(u128) -> String,
            )
        };
        for (name, f, show) in [
            ("tun_id", Field::TunId, hex as fn(u128) -> String),
            (src.0, src.1, show),
            (dst.0, dst.1, show),
        ] {
            let mut s = String::new();
            fields(&mut s, m, &[(name, f)], show);
            if !s.is_empty() {
                parts.push(s);
            }
        }
        out.push_str(&parts.join(","));
        out.push_str("),");
    }
    let (in_port, _) = m.get(Field::InPort);
    let _ = write!(
        out,
        "recirc_id(0),in_port({in_port}),packet_type(ns=0,id=0)"
    );
    if m.any(&[Field::EthSrc, Field::EthDst]) {
        out.push_str(",eth(");
        fields(
            out,
            m,
            &[("src", Field::EthSrc), ("dst", Field::EthDst)],
            mac,
        );
        out.push(')');
    }
    let (tci, tci_mask) = m.get(Field::VlanTci);
    let tagged = tci & VLAN_CFI != 0 && tci_mask != 0;
    if tagged {
        out.push_str(",eth_type(0x8100),vlan(");
        // From the TCI itself: the `vlan_vid` field carries the present bit too.
        let mut parts = Vec::new();
        for (name, v, mask, full) in [
            ("vid", tci & 0x0fff, tci_mask & 0x0fff, 0x0fff),
            ("pcp", tci >> 13, (tci_mask >> 13) & 7, 7),
        ] {
            match mask {
                0 => {}
                m if m == full => parts.push(format!("{name}={v}")),
                m => parts.push(format!("{name}={v}/{m:#x}")),
            }
        }
        out.push_str(&parts.join(","));
        out.push_str("),encap(");
    } else {
        out.push(',');
    }
    let (ty, ty_mask) = m.get(Field::EthType);
    if ty_mask != 0 {
        let _ = write!(out, "eth_type({ty:#06x})");
        write_l3(out, m, ty as u16);
    }
    if out.ends_with(',') {
        out.pop();
    }
    if tagged {
        out.push(')');
    }
}

fn write_l3(out: &mut String, m: &Masked<'_>, eth_type: u16) {
    match eth_type {
        0x0800 => {
            out.push_str(",ipv4(");
            let before = out.len();
            for (name, f, show) in [
                ("src", Field::Ipv4Src, ip as fn(u128) -> String),
                ("dst", Field::Ipv4Dst, ip),
                ("proto", Field::IpProto, dec),
                ("tos", Field::NwTos, hex),
                ("ttl", Field::NwTtl, dec),
                ("frag", Field::IpFrag, frag),
            ] {
                let mut s = String::new();
                fields(&mut s, m, &[(name, f)], show);
                if !s.is_empty() {
                    if out.len() > before {
                        out.push(',');
                    }
                    // `frag` prints only its meaning, never a mask.
                    out.push_str(s.split('/').next().unwrap_or(&s));
                }
            }
            out.push(')');
            let (proto, proto_mask) = m.get(Field::IpProto);
            if proto_mask == 0 {
                return;
            }
            let (name, src, dst) = match proto {
                6 => ("tcp", Field::TcpSrc, Field::TcpDst),
                17 => ("udp", Field::UdpSrc, Field::UdpDst),
                132 => ("sctp", Field::SctpSrc, Field::SctpDst),
                1 => ("icmp", Field::IcmpType, Field::IcmpCode),
                _ => return,
            };
            if !m.any(&[src, dst]) {
                return;
            }
            let names = if proto == 1 {
                ("type", "code")
            } else {
                ("src", "dst")
            };
            let _ = write!(out, ",{name}(");
            fields(out, m, &[(names.0, src), (names.1, dst)], dec);
            out.push(')');
        }
        0x0806 => {
            if !m.any(&[
                Field::ArpSpa,
                Field::ArpTpa,
                Field::ArpOp,
                Field::ArpSha,
                Field::ArpTha,
            ]) {
                return;
            }
            out.push_str(",arp(");
            let before = out.len();
            for (name, f, show) in [
                ("sip", Field::ArpSpa, ip as fn(u128) -> String),
                ("tip", Field::ArpTpa, ip),
                ("op", Field::ArpOp, dec),
                ("sha", Field::ArpSha, mac),
                ("tha", Field::ArpTha, mac),
            ] {
                let mut s = String::new();
                fields(&mut s, m, &[(name, f)], show);
                if !s.is_empty() {
                    if out.len() > before {
                        out.push(',');
                    }
                    out.push_str(&s);
                }
            }
            out.push(')');
        }
        _ => {}
    }
}

/// TCP flags as one letter each (`.` for ACK), in Open vSwitch's order.
fn write_tcp_flags(out: &mut String, flags: u16) {
    // (bit, letter); only SYN alone is checked against the oracle so far.
    const LETTERS: [(u16, char); 9] = [
        (0x002, 'S'),
        (0x001, 'F'),
        (0x008, 'P'),
        (0x004, 'R'),
        (0x020, 'U'),
        (0x010, '.'),
        (0x040, 'E'),
        (0x080, 'C'),
        (0x100, 'N'),
    ];
    for (bit, c) in LETTERS {
        if flags & bit != 0 {
            out.push(c);
        }
    }
}
