//! In-band control's hidden rules: with a controller reached through the bridge itself
//! (`connection_mode=in-band`, Open vSwitch's default), the switch must let the traffic
//! that reaches the controller through whatever the flow tables say, so it puts rules of its
//! own ahead of them, as Open vSwitch does (`in_band.c`), all with the action `NORMAL`:
//!
//! | priority | match | lets through |
//! |---|---|---|
//! | 180008 | `tcp,nw_src=C,tp_src=P` | the controller's side of the connection |
//! | 180007 | `tcp,nw_dst=C,tp_dst=P` | the switch's side |
//! | 180006 | `arp,arp_spa=C,arp_op=1` | ARP requests from the controller |
//! | 180005 | `arp,arp_tpa=C,arp_op=2` | ARP replies for the controller |
//! | 180002 | `arp,dl_src=L,arp_op=1` | ARP requests from the local port |
//! | 180001 | `arp,dl_dst=L,arp_op=2` | ARP replies to the local port |
//! | 180000 | `udp,in_port=LOCAL,dl_src=L,tp_src=68,tp_dst=67` | the local port's DHCP requests |
//!
//! `C:P` is each in-band remote's address and port (controllers, and managers too), `L` the
//! local port's MAC address.
//! Open vSwitch also lets ARP through to and from the next hop towards a controller that
//! is not on the local network (priorities 180003 and 180004), which needs the host's
//! routes and ARP cache; ferrovs does not add those. The rules are hidden: `ovs-ofctl
//! dump-flows` does not show them, `ovs-appctl bridge/dump-flows` does; they count packets
//! and bytes like rules do.

use crate::clock::Millis;
use fvs_flow::{Field, Match, PortNo};
use std::net::Ipv4Addr;

/// The lowest in-band priority; every in-band rule is above any OpenFlow priority.
pub const IN_BAND_PRIORITY: u32 = 180_000;

const ETH_TYPE_IPV4: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;

/// One hidden in-band rule and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InBandRule {
    /// Its priority (180000 to 180008).
    pub priority: u32,
    /// What it matches.
    pub r#match: Match,
    /// Packets it forwarded.
    pub packets: u64,
    /// Bytes it forwarded.
    pub bytes: u64,
    /// When it was added.
    pub created: Millis,
}

fn tcp(ip: Ipv4Addr, ip_field: Field, port: u16, port_field: Field) -> Match {
    let mut m = Match::CATCHALL;
    m.set(Field::EthType, ETH_TYPE_IPV4);
    m.set(Field::IpProto, 6);
    m.set(ip_field, u128::from(u32::from(ip)));
    m.set(port_field, u128::from(port));
    m
}

fn arp(op: u128, field: Field, value: u128) -> Match {
    let mut m = Match::CATCHALL;
    m.set(Field::EthType, ETH_TYPE_ARP);
    m.set(field, value);
    m.set(Field::ArpOp, op);
    m
}

fn mac(m: [u8; 6]) -> u128 {
    m.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b))
}

/// The rules for a bridge whose local port has address `local_mac` and whose in-band
/// controllers are `remotes` (address and TCP port), highest priority first; none without
/// remotes (in-band control is then off).
pub fn rules(local_mac: [u8; 6], remotes: &[(Ipv4Addr, u16)], now: Millis) -> Vec<InBandRule> {
    if remotes.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(u32, Match)> = Vec::new();
    for (ip, port) in remotes {
        out.push((180_008, tcp(*ip, Field::Ipv4Src, *port, Field::TcpSrc)));
        out.push((180_007, tcp(*ip, Field::Ipv4Dst, *port, Field::TcpDst)));
        out.push((180_006, arp(1, Field::ArpSpa, u128::from(u32::from(*ip)))));
        out.push((180_005, arp(2, Field::ArpTpa, u128::from(u32::from(*ip)))));
    }
    out.push((180_002, arp(1, Field::EthSrc, mac(local_mac))));
    out.push((180_001, arp(2, Field::EthDst, mac(local_mac))));
    let mut dhcp = Match::CATCHALL;
    dhcp.set(Field::EthType, ETH_TYPE_IPV4);
    dhcp.set(Field::IpProto, 17);
    dhcp.set(Field::InPort, u128::from(PortNo::LOCAL.0));
    dhcp.set(Field::EthSrc, mac(local_mac));
    dhcp.set(Field::UdpSrc, 68);
    dhcp.set(Field::UdpDst, 67);
    out.push((IN_BAND_PRIORITY, dhcp));
    // Highest first; the same rule for two controllers is one rule.
    out.sort_by_key(|r| std::cmp::Reverse(r.0));
    out.dedup();
    out.into_iter()
        .map(|(priority, m)| InBandRule {
            priority,
            r#match: m,
            packets: 0,
            bytes: 0,
            created: now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_remote_no_rules_and_each_remote_adds_four() {
        let l = [2, 0, 0, 0, 0, 1];
        assert!(rules(l, &[], Millis(0)).is_empty());
        let one = rules(l, &[(Ipv4Addr::new(192, 0, 2, 1), 6653)], Millis(0));
        assert_eq!(one.len(), 7);
        assert!(one.windows(2).all(|w| w[0].priority >= w[1].priority));
        let two = rules(
            l,
            &[
                (Ipv4Addr::new(192, 0, 2, 1), 6653),
                (Ipv4Addr::new(192, 0, 2, 2), 6633),
            ],
            Millis(0),
        );
        assert_eq!(two.len(), 11);
    }
}
