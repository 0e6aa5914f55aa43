//! Native tunnels over an IPv6 underlay: the IPv6 answers of a route pass
//! ([`super::native::add_hops`], the same pass for both families).
//!
//! For every tunnel interface with a fixed IPv6 `remote_ip`, the kernel is asked for its
//! route (`fvs_netdev::netlink::route_get_v6`, `ip -6 route get`); when it leaves through an
//! internal port of a ferrovs bridge, the destination is native, exactly as for IPv4: the
//! outer source is `local_ip`, else the route's preferred source, else the port's first
//! global address; the next hop is the gateway (often a link-local address) or the
//! destination itself. The internal ports' IPv6 addresses (link-local ones included: a
//! neighbour may answer a solicitation from one) join the endpoints' addresses, so tunnel
//! packets to them are taken in and neighbour discovery for them is snooped
//! (`fvs_datapath::native`).
//!
//! The host-stack underlay has no IPv6 path: an IPv6 tunnel whose route is not native sends
//! nothing (its packets reach the underlay device, which refuses them and counts them), as
//! Open vSwitch's userspace datapath drops what it cannot route.
//!
//! [`kernel_routes`] (one reading for both families) gives `ovs/route/show` and
//! `ovs/route/lookup` the kernel's IPv6 routes ([`super::router`]), as Open vSwitch 3.1 lists
//! them: unicast and local routes, link-local prefixes included, each with a source address
//! (the route's preferred source, else the device's address on the destination's or the
//! gateway's prefix; a route with neither is left out), and of several routes to one prefix
//! only the last the kernel lists ([`Family::LAST_ROUTE_PER_PREFIX`]).
//!
//! The destinations `remote_ip=flow` tunnels were given (`tun_ipv6_dst`) are routed here
//! like fixed ones, and IPv6 user routes (`ovs/route/add`) decide as for IPv4.

use std::net::{IpAddr, Ipv6Addr};

use super::native::{Family, TunnelEnd, kernel_routes};
use super::router::Route;

/// An IPv6 tunnel interface's addresses, as its options give them.
pub type TunnelEnd6 = TunnelEnd<Ipv6Addr>;

/// The IPv6 half of a route pass ([`super::native::add_hops`]): a table only for IPv6 user
/// routes, the source from the port's first global address when neither `local_ip` nor the
/// route gives one.
impl Family for Ipv6Addr {
    fn addresses() -> std::io::Result<Vec<fvs_netdev::netlink::IfAddr<Self>>> {
        fvs_netdev::netlink::ipv6_addresses()
    }

    fn route_get(dst: Self) -> std::io::Result<fvs_netdev::netlink::Route<Self>> {
        fvs_netdev::netlink::route_get_v6(dst)
    }

    fn table_needed(user: &[Route]) -> bool {
        user.iter().any(|r| r.dst.is_ipv6())
    }

    fn cached_routes() -> Option<Vec<Route>> {
        let names = fvs_netdev::netlink::link_names().ok()?;
        kernel_routes::<Self>(&names).ok()
    }

    fn routes() -> std::io::Result<Vec<fvs_netdev::netlink::RouteEntry<Self>>> {
        fvs_netdev::netlink::ipv6_routes()
    }

    const LAST_ROUTE_PER_PREFIX: bool = true;

    fn usable_source(addr: IpAddr) -> bool {
        matches!(addr, IpAddr::V6(v6) if !v6.is_unicast_link_local())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn only_fixed_ipv6_remotes_are_candidates() {
        let o = |r: &str, l: Option<&str>| {
            let mut m = BTreeMap::from([("remote_ip".to_owned(), r.to_owned())]);
            if let Some(l) = l {
                m.insert("local_ip".to_owned(), l.to_owned());
            }
            m
        };
        let (a, b, c, d) = (
            o("fd00::2", Some("fd00::1")),
            o("10.0.0.2", None),
            o("flow", None),
            o("fd00::3", None),
        );
        let ends = super::super::native::tunnel_ends::<Ipv6Addr>(
            [("vxlan", &a), ("gre", &b), ("geneve", &c), ("system", &d)].into_iter(),
        );
        assert_eq!(
            ends,
            [TunnelEnd6 {
                remote: "fd00::2".parse().unwrap(),
                local: Some("fd00::1".parse().unwrap()),
            }]
        );
    }
}
