//! Native tunnels over an IPv6 underlay: the IPv6 half of a route pass
//! ([`super::native::route_pass`] does the IPv4 half).
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

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use fvs_datapath::native::{Endpoint, NativeConfig, NativeHop, RouteMtu};

use super::native::InternalPort;
use super::router::{self, Route};

/// An IPv6 tunnel interface's addresses, as its options give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelEnd6 {
    /// `remote_ip`.
    pub remote: Ipv6Addr,
    /// `local_ip`, when fixed.
    pub local: Option<Ipv6Addr>,
}

/// The tunnel ends of the interfaces (type, options) with a fixed IPv6 `remote_ip`.
pub fn tunnel_ends<'a>(
    ifaces: impl Iterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Vec<TunnelEnd6> {
    ifaces
        .filter(|(kind, _)| matches!(*kind, "gre" | "ip6gre" | "vxlan" | "geneve"))
        .filter_map(|(_, o)| {
            let remote = o.get("remote_ip")?.parse::<Ipv6Addr>().ok()?;
            let local = o.get("local_ip").and_then(|l| l.parse::<Ipv6Addr>().ok());
            Some(TunnelEnd6 { remote, local })
        })
        .collect()
}

/// Adds the IPv6 endpoints and hops to `c`, an IPv4 pass's result. With `user` routes,
/// the whole table decides as for IPv4 (a user route best for a destination makes it native
/// exactly when its device is an internal port of ours). `None` when the kernel could not
/// be asked (the caller then keeps the last pass, as for IPv4).
pub fn route_pass(
    internal: &[InternalPort],
    ends: &[TunnelEnd6],
    user: &[Route],
    c: &mut NativeConfig,
) -> Option<()> {
    if internal.is_empty() {
        return Some(());
    }
    let table = if user.iter().any(|r| r.dst.is_ipv6()) {
        let names = fvs_netdev::netlink::link_names().ok()?;
        Some(router::table(user, cached_routes(&names).ok()?))
    } else {
        None
    };
    let by_index: HashMap<u32, &InternalPort> = internal
        .iter()
        .map(|p| (fvs_netdev::poll::ifindex(&p.name), p))
        .filter(|(i, _)| *i != 0)
        .collect();
    let addrs = fvs_netdev::netlink::ipv6_addresses().ok()?;
    for a in &addrs {
        if let Some(p) = by_index.get(&a.ifindex) {
            c.endpoints
                .entry(p.no)
                .or_insert_with(|| Endpoint {
                    mac: p.mac,
                    addrs: Vec::new(),
                    bridge: p.bridge.clone(),
                })
                .addrs
                .push(a.addr.into());
        }
    }
    for end in ends {
        let remote = IpAddr::V6(end.remote);
        if c.hops.contains_key(&remote) {
            continue;
        }
        if let Some(r) = table
            .as_deref()
            .and_then(|t| router::lookup(t, remote, router::PktMark::default()))
            .filter(|r| r.origin == router::Origin::User)
        {
            if let Some(p) = internal.iter().find(|p| p.name == r.dev) {
                c.hops.insert(
                    remote,
                    NativeHop {
                        port: p.no,
                        eth_src: p.mac,
                        eth_dst: None,
                        src: end.local.map_or(r.src, IpAddr::V6),
                        next_hop: r.next_hop(remote),
                        mtu: RouteMtu(fvs_netdev::poll::mtu(&p.name).unwrap_or(0)),
                    },
                );
            }
            continue;
        }
        let route = match fvs_netdev::netlink::route_get_v6(end.remote) {
            Ok(r) => r,
            Err(e) if fvs_netdev::netlink::is_no_route(&e) => continue,
            Err(_) => return None,
        };
        let Some(p) = by_index.get(&route.oif) else {
            continue;
        };
        if route.local {
            continue;
        }
        let first_global = || {
            c.endpoints.get(&p.no).and_then(|e| {
                e.addrs
                    .iter()
                    .find(|a| matches!(a, IpAddr::V6(v6) if !v6.is_unicast_link_local()))
                    .copied()
            })
        };
        let Some(src) = end
            .local
            .or(route.prefsrc)
            .map(IpAddr::V6)
            .or_else(first_global)
        else {
            continue;
        };
        c.hops.insert(
            remote,
            NativeHop {
                port: p.no,
                eth_src: p.mac,
                eth_dst: None,
                src,
                next_hop: route.next_hop(end.remote).into(),
                mtu: RouteMtu(fvs_netdev::poll::mtu(&p.name).unwrap_or(0)),
            },
        );
    }
    Some(())
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
        let ends =
            tunnel_ends([("vxlan", &a), ("gre", &b), ("geneve", &c), ("system", &d)].into_iter());
        assert_eq!(
            ends,
            [TunnelEnd6 {
                remote: "fd00::2".parse().unwrap(),
                local: Some("fd00::1".parse().unwrap()),
            }]
        );
    }
}
