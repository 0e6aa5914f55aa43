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
//! [`cached_routes`] gives `ovs/route/show` and `ovs/route/lookup` the kernel's IPv6 routes
//! ([`super::router`]), as Open vSwitch 3.1 lists them: unicast and local routes, link-local
//! prefixes included, each with a source address (the route's preferred source, else the
//! device's address on the destination's or the gateway's prefix; a route with neither is
//! left out).
//!
//! The destinations `remote_ip=flow` tunnels were given (`tun_ipv6_dst`) are routed here
//! like fixed ones, and IPv6 user routes (`ovs/route/add`) decide as for IPv4.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use super::native::{Family, TunnelEnd};
use super::router::{self, Route};

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
        cached_routes(&names).ok()
    }

    fn usable_source(addr: IpAddr) -> bool {
        matches!(addr, IpAddr::V6(v6) if !v6.is_unicast_link_local())
    }
}

/// The kernel's IPv6 routes as `ovs-router` caches them (see the module docs); `names` are
/// the interfaces' names by index. Open vSwitch's table holds one route per prefix and rank
/// (a later one replaces an earlier), so of the kernel's routes to one prefix through
/// several devices (every link's `fe80::/64`) the last the kernel lists stays.
pub fn cached_routes(names: &HashMap<u32, String>) -> std::io::Result<Vec<Route>> {
    use fvs_netdev::netlink;
    let routes = netlink::ipv6_routes()?;
    let addrs = netlink::ipv6_addresses()?;
    let mut kept: Vec<Route> = Vec::new();
    for route in routes.iter().filter_map(|r| {
        let dev = names.get(&r.route.oif)?.clone();
        let on_prefix = |to: Ipv6Addr| {
            addrs
                .iter()
                .find(|a| {
                    a.ifindex == r.route.oif && router::same_subnet6(a.addr, to, a.prefix_len)
                })
                .map(|a| a.addr)
        };
        let src = r
            .route
            .prefsrc
            .or_else(|| on_prefix(r.dst))
            .or_else(|| r.route.gateway.and_then(on_prefix))?;
        Some(Route {
            dst: r.dst.into(),
            prefix_len: r.prefix_len,
            mark: router::PktMark::default(),
            dev,
            gateway: r.route.gateway.map(IpAddr::V6),
            src: src.into(),
            local: r.route.local,
            origin: router::Origin::Cached,
        })
    }) {
        kept.retain(|k| {
            (k.dst, k.prefix_len, k.local) != (route.dst, route.prefix_len, route.local)
        });
        kept.push(route);
    }
    Ok(kept)
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
