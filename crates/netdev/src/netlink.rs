//! The kernel's IPv4 and IPv6 routing tables and interface addresses, read over rtnetlink.
//!
//! Native tunnels (see `fvs_datapath::native`) send their outer packets into a bridge
//! themselves, so they must know what the host's IP stack would have decided: the device the
//! route to the remote end leaves through, the next hop, and the source address. Rather than
//! keep a routing table of its own (Open vSwitch's `ovs-router` mirrors the kernel's), ferrovs
//! asks the kernel each time it needs an answer, in the daemon's own network namespace:
//!
//! - [`route_get`]: `RTM_GETROUTE` for one destination, the same lookup `ip route get`
//!   makes (policy rules, metrics and all), answering the output interface, the gateway if
//!   the route has one, and the preferred source address.
//! - [`ipv4_addresses`]: an `RTM_GETADDR` dump of every interface's IPv4 addresses.
//! - [`ipv4_routes`]: an `RTM_GETROUTE` dump of the unicast and local IPv4 routes of every
//!   table, and [`link_names`]: an `RTM_GETLINK` dump of the interfaces' names, for
//!   `ovs/route/show` and `ovs/route/lookup` ([`links`]: with their loopback flag and
//!   Ethernet address, for `tnl/ports/show -v`).
//! - [`Changes`]: a subscription to the kernel's announcements of link, address and route
//!   changes (both families), so whoever looks routes up can look again at once.
//!
//! Every call has an IPv6 twin ([`route_get_v6`], [`ipv6_addresses`], [`ipv6_routes`]) for
//! IPv6 underlays; [`Route`], [`IfAddr`] and [`RouteEntry`] are generic over the address
//! type ([`Family`]), IPv4 by default.
//!
//! Both open a `NETLINK_ROUTE` socket for the one request and close it: these are calls of
//! the control plane (at reconfiguration and every statistics pass), never of the packet
//! path. Replies are parsed defensively: a truncated or unknown attribute is skipped, a
//! message shorter than its header ends the parse, and nothing here panics on what the
//! kernel sends.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use crate::sys;

/// `struct nlmsghdr`'s size.
const NLMSG_HDR: usize = 16;
/// `NLMSG_ERROR`, `NLMSG_DONE`.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Message types.
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
/// `NLM_F_REQUEST`, `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// `struct rtmsg` and `struct ifaddrmsg` sizes.
const RTMSG_LEN: usize = 12;
const IFADDRMSG_LEN: usize = 8;
/// `struct ifinfomsg` size, and the address and name attributes.
const IFINFOMSG_LEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
/// `IFF_LOOPBACK` in `ifinfomsg`'s flags.
const IFF_LOOPBACK: u32 = 0x8;
/// Route attributes.
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
/// Address attributes.
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// Route types (`rtm_type`).
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
/// The multicast groups of link, IPv4 address and IPv4 route changes.
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;
/// How long to wait for the kernel's answer (it answers at once; this is a safety net).
const REPLY_TIMEOUT_MS: i32 = 1000;
/// Receive buffer: the kernel sends dump parts of at most a page or so each.
const RECV_BUFFER: usize = 32 * 1024;

/// An address family's address type: IPv4 or IPv6.
pub trait Family: Copy + Sized {
    /// `AF_INET` or `AF_INET6`.
    const AF: u8;
    /// The address's length in bits (a host route's prefix length).
    const BITS: u8;
    /// The unspecified address (a default route's destination).
    const UNSPECIFIED: Self;
    /// The address in an attribute's bytes; `None` when the length is wrong.
    fn from_attr(data: &[u8]) -> Option<Self>;
    /// Its bytes, for a request.
    fn to_attr(self) -> Vec<u8>;
}

impl Family for Ipv4Addr {
    const AF: u8 = libc::AF_INET as u8;
    const BITS: u8 = 32;
    const UNSPECIFIED: Self = Self::UNSPECIFIED;
    fn from_attr(data: &[u8]) -> Option<Self> {
        let b: [u8; 4] = data.try_into().ok()?;
        Some(Self::from(b))
    }
    fn to_attr(self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

impl Family for Ipv6Addr {
    const AF: u8 = libc::AF_INET6 as u8;
    const BITS: u8 = 128;
    const UNSPECIFIED: Self = Self::UNSPECIFIED;
    fn from_attr(data: &[u8]) -> Option<Self> {
        let b: [u8; 16] = data.try_into().ok()?;
        Some(Self::from(b))
    }
    fn to_attr(self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

/// What the kernel's routing table says about one destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// The output interface's index.
    pub oif: u32,
    /// The gateway, when the destination is not on a connected network.
    pub gateway: Option<A>,
    /// The source address the host would use (`src` in `ip route get`).
    pub prefsrc: Option<A>,
    /// The destination is one of the host's own addresses (an `RTN_LOCAL` route).
    pub local: bool,
}

impl<A: Copy> Route<A> {
    /// The address whose link-layer address the outer frame goes to: the gateway, or the
    /// destination itself on a connected network.
    pub fn next_hop(&self, dst: A) -> A {
        self.gateway.unwrap_or(dst)
    }
}

/// One address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr<A = Ipv4Addr> {
    /// The interface's index.
    pub ifindex: u32,
    /// The address.
    pub addr: A,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// The route the host's IP stack would take to `dst` (`ip route get DST`); an error when
/// there is none (`ENETUNREACH`) or the kernel cannot be asked.
pub fn route_get(dst: Ipv4Addr) -> io::Result<Route> {
    route_get_in(dst)
}

/// [`route_get`] for an IPv6 destination (`ip -6 route get DST`).
pub fn route_get_v6(dst: Ipv6Addr) -> io::Result<Route<Ipv6Addr>> {
    route_get_in(dst)
}

fn route_get_in<A: Family>(dst: A) -> io::Result<Route<A>> {
    let mut body = request::<A>(RTMSG_LEN);
    body[1] = A::BITS; // rtm_dst_len: a host route lookup.
    push_attr(&mut body, RTA_DST, &dst.to_attr());
    let replies = transact(RTM_GETROUTE, NLM_F_REQUEST, &body)?;
    replies
        .iter()
        .filter(|(ty, _)| *ty == RTM_NEWROUTE)
        .find_map(|(_, m)| parse_route(m))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENETUNREACH))
}

/// Whether a [`route_get`] error means "no route" (the kernel answered: unreachable), not
/// that the kernel could not be asked.
pub fn is_no_route(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
    )
}

/// Every IPv4 address of every interface in the namespace (`ip -4 addr`).
pub fn ipv4_addresses() -> io::Result<Vec<IfAddr>> {
    addresses_in()
}

/// Every IPv6 address of every interface in the namespace (`ip -6 addr`), link-local ones
/// included.
pub fn ipv6_addresses() -> io::Result<Vec<IfAddr<Ipv6Addr>>> {
    addresses_in()
}

fn addresses_in<A: Family>() -> io::Result<Vec<IfAddr<A>>> {
    dump(
        RTM_GETADDR,
        &request::<A>(IFADDRMSG_LEN),
        RTM_NEWADDR,
        parse_addr,
    )
}

/// One route of the kernel's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry<A = Ipv4Addr> {
    /// The destination prefix.
    pub dst: A,
    /// Its length.
    pub prefix_len: u8,
    /// What [`route_get`] would answer for an address it covers.
    pub route: Route<A>,
}

/// Every unicast and local IPv4 route of every table (`ip -4 route show table all`, less
/// broadcast, multicast and unreachable routes).
pub fn ipv4_routes() -> io::Result<Vec<RouteEntry>> {
    routes_in()
}

/// [`ipv4_routes`] for IPv6 (`ip -6 route show table all`, less multicast, anycast and
/// unreachable routes).
pub fn ipv6_routes() -> io::Result<Vec<RouteEntry<Ipv6Addr>>> {
    routes_in()
}

fn routes_in<A: Family>() -> io::Result<Vec<RouteEntry<A>>> {
    dump(RTM_GETROUTE, &request::<A>(RTMSG_LEN), RTM_NEWROUTE, |m| {
        let route = parse_route(m)?;
        let dst = attrs(m, RTMSG_LEN)
            .find(|(a, _)| *a == RTA_DST)
            .and_then(|(_, d)| A::from_attr(d))
            .unwrap_or(A::UNSPECIFIED);
        Some(RouteEntry {
            dst,
            prefix_len: m[1],
            route,
        })
    })
}

/// Every interface's name by index (`ip link`).
pub fn link_names() -> io::Result<HashMap<u32, String>> {
    dump(RTM_GETLINK, &[0u8; IFINFOMSG_LEN], RTM_NEWLINK, |m| {
        parse_link(m).map(|l| (l.index, l.name))
    })
}

/// One interface as `ip link` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// A loopback device (`IFF_LOOPBACK`).
    pub loopback: bool,
    /// Its Ethernet address, when it has one of six bytes.
    pub mac: Option<[u8; 6]>,
}

/// Every interface (`ip link`), in the kernel's order.
pub fn links() -> io::Result<Vec<Link>> {
    dump(RTM_GETLINK, &[0u8; IFINFOMSG_LEN], RTM_NEWLINK, parse_link)
}

/// One `RTM_NEWLINK` message: `struct ifinfomsg` (family, type, index at 4, flags at 8),
/// then attributes; `None` without an index or a name.
fn parse_link(m: &[u8]) -> Option<Link> {
    let index = u32::from_ne_bytes(m.get(4..8)?.try_into().ok()?);
    let flags = u32::from_ne_bytes(m.get(8..12)?.try_into().ok()?);
    let mut name = None;
    let mut mac = None;
    for (kind, value) in attrs(m, IFINFOMSG_LEN) {
        match kind {
            // The name is NUL-terminated.
            IFLA_IFNAME => {
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                name = Some(String::from_utf8_lossy(&value[..end]).into_owned());
            }
            IFLA_ADDRESS => mac = <[u8; 6]>::try_from(value).ok(),
            _ => {}
        }
    }
    Some(Link {
        index,
        name: name?,
        loopback: flags & IFF_LOOPBACK != 0,
        mac,
    })
}

/// The kernel's announcements of link, address and route changes (IPv4 and IPv6) in the current
/// network namespace. Only *that* something changed matters to its users (they read the
/// tables again), so the messages are read and dropped.
#[derive(Debug)]
pub struct Changes {
    file: File,
}

impl Changes {
    /// Subscribes.
    pub fn open() -> io::Result<Self> {
        let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
        sys::bind_netlink(
            fd.as_fd(),
            RTMGRP_LINK
                | RTMGRP_IPV4_IFADDR
                | RTMGRP_IPV4_ROUTE
                | RTMGRP_IPV6_IFADDR
                | RTMGRP_IPV6_ROUTE,
        )?;
        Ok(Self {
            file: File::from(fd),
        })
    }

    /// Waits up to `timeout` for a change; true when at least one came (every waiting
    /// message is read). A lost announcement (`ENOBUFS`: the socket overflowed) counts as a
    /// change.
    pub fn wait(&mut self, timeout: std::time::Duration) -> io::Result<bool> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut ready = Vec::new();
        if sys::poll_readable(&[self.file.as_fd()], ms, &mut ready)? == 0 {
            return Ok(false);
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.file.read(&mut buf) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Appends one `rtattr` (4-byte aligned).
pub(crate) fn push_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// The attributes after a fixed header of `fixed` bytes: (type, data).
pub(crate) fn attrs(msg: &[u8], fixed: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = msg.get(fixed..).unwrap_or_default();
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*rest.first()?, *rest.get(1)?]));
        let ty = u16::from_ne_bytes([*rest.get(2)?, *rest.get(3)?]);
        if len < 4 || len > rest.len() {
            return None;
        }
        let data = &rest[4..len];
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
        // The nested-attribute and byte-order flags live in the type's top bits.
        Some((ty & 0x3fff, data))
    })
}

fn parse_route<A: Family>(m: &[u8]) -> Option<Route<A>> {
    if m.len() < RTMSG_LEN || m[0] != A::AF {
        return None;
    }
    let ty = m[7];
    let mut r = Route {
        oif: 0,
        gateway: None,
        prefsrc: None,
        local: ty == RTN_LOCAL,
    };
    if ty != RTN_UNICAST && ty != RTN_LOCAL {
        return None;
    }
    for (a, data) in attrs(m, RTMSG_LEN) {
        match a {
            RTA_OIF => {
                r.oif = u32::from_ne_bytes(data.try_into().ok()?);
            }
            RTA_GATEWAY => r.gateway = A::from_attr(data),
            RTA_PREFSRC => r.prefsrc = A::from_attr(data),
            _ => {}
        }
    }
    Some(r)
}

fn parse_addr<A: Family>(m: &[u8]) -> Option<IfAddr<A>> {
    if m.len() < IFADDRMSG_LEN || m[0] != A::AF {
        return None;
    }
    let prefix_len = m[1];
    let ifindex = u32::from_ne_bytes([m[4], m[5], m[6], m[7]]);
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a
    // point-to-point link and the same as IFA_LOCAL otherwise.
    let mut local = None;
    let mut address = None;
    for (a, data) in attrs(m, IFADDRMSG_LEN) {
        match a {
            IFA_LOCAL => local = A::from_attr(data),
            IFA_ADDRESS => address = A::from_attr(data),
            _ => {}
        }
    }
    Some(IfAddr {
        ifindex,
        addr: local.or(address)?,
        prefix_len,
    })
}

/// A request's fixed header for `A`'s family (`rtmsg` and `ifaddrmsg` both start with the
/// family byte), `len` bytes, the rest zero.
fn request<A: Family>(len: usize) -> Vec<u8> {
    let mut body = vec![0u8; len];
    body[0] = A::AF;
    body
}

/// Dumps one table: `get` with `NLM_F_DUMP` and the fixed header `body`; each answer of type
/// `new` that `parse` understands is kept (anything else, e.g. another family's entry, is
/// passed over).
fn dump<T, C: FromIterator<T>>(
    get: u16,
    body: &[u8],
    new: u16,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> io::Result<C> {
    let replies = transact(get, NLM_F_REQUEST | NLM_F_DUMP, body)?;
    Ok(replies
        .iter()
        .filter(|(ty, _)| *ty == new)
        .filter_map(|(_, m)| parse(m))
        .collect())
}

/// Sends one request and collects the answer's messages (type, payload after the
/// `nlmsghdr`) until the kernel is done: one message for a plain request, `NLMSG_DONE` for a
/// dump. An `NLMSG_ERROR` with a nonzero code becomes that error.
pub(crate) fn transact(ty: u16, flags: u16, body: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
    let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
    let seq: u32 = 1;
    let len = u32::try_from(NLMSG_HDR + body.len()).unwrap_or(u32::MAX);
    let mut req = Vec::with_capacity(NLMSG_HDR + body.len());
    req.extend_from_slice(&len.to_ne_bytes());
    req.extend_from_slice(&ty.to_ne_bytes());
    req.extend_from_slice(&flags.to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    // An unbound netlink socket's writes go to the kernel (port 0); a read is one datagram.
    let mut file = File::from(fd);
    file.write_all(&req)?;
    let dump = flags & NLM_F_DUMP != 0;
    let mut out = Vec::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut ready = Vec::new();
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let got = sys::poll_readable(&[file.as_fd()], REPLY_TIMEOUT_MS, &mut ready)?;
                if got == 0 {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut rest = &buf[..n];
        while rest.len() >= NLMSG_HDR {
            let mlen = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let mty = u16::from_ne_bytes([rest[4], rest[5]]);
            let mseq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if mlen < NLMSG_HDR || mlen > rest.len() {
                break;
            }
            let payload = &rest[NLMSG_HDR..mlen];
            rest = rest.get(mlen.next_multiple_of(4)..).unwrap_or_default();
            if mseq != seq {
                continue;
            }
            match mty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, i32::from_ne_bytes);
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(out);
                }
                _ => {
                    out.push((mty, payload.to_vec()));
                    if !dump {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_their_name_flags_and_ethernet_address() {
        let mut m = vec![0u8; IFINFOMSG_LEN];
        m[4..8].copy_from_slice(&3u32.to_ne_bytes());
        m[8..12].copy_from_slice(&(IFF_LOOPBACK | 0x1).to_ne_bytes());
        push_attr(&mut m, IFLA_IFNAME, b"br0\0");
        push_attr(&mut m, IFLA_ADDRESS, &[0, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let l = parse_link(&m).expect("a link");
        assert_eq!(l.index, 3);
        assert_eq!(l.name, "br0");
        assert!(l.loopback);
        assert_eq!(l.mac, Some([0, 0x11, 0x22, 0x33, 0x44, 0x55]));
        // No name: nothing; an address of another length: none.
        assert_eq!(parse_link(&m[..IFINFOMSG_LEN]), None);
        let mut odd = vec![0u8; IFINFOMSG_LEN];
        push_attr(&mut odd, IFLA_IFNAME, b"gre0\0");
        push_attr(&mut odd, IFLA_ADDRESS, &[0, 0, 0, 0]);
        let l = parse_link(&odd).expect("a link");
        assert!(!l.loopback);
        assert_eq!(l.mac, None);
        assert_eq!(parse_link(&m[..6]), None);
    }

    #[test]
    fn attributes_are_read_and_truncated_ones_skipped() {
        let mut m = vec![0u8; RTMSG_LEN];
        m[0] = libc::AF_INET as u8;
        m[7] = RTN_UNICAST;
        push_attr(&mut m, RTA_OIF, &7u32.to_ne_bytes());
        push_attr(&mut m, RTA_GATEWAY, &[10, 0, 0, 1]);
        push_attr(&mut m, RTA_PREFSRC, &[10, 0, 0, 5]);
        let r: Route = parse_route(&m).expect("a route");
        assert_eq!(r.oif, 7);
        assert_eq!(r.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.prefsrc, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(
            r.next_hop(Ipv4Addr::new(192, 0, 2, 1)),
            Ipv4Addr::new(10, 0, 0, 1)
        );
        // A last attribute claiming more bytes than there are ends the walk, no panic.
        let mut cut = m.clone();
        cut.extend_from_slice(&[200, 0, 5, 0, 1]);
        assert_eq!(parse_route(&cut), Some(r));
        assert_eq!(parse_route::<Ipv4Addr>(&m[..5]), None);
        assert_eq!(parse_route::<Ipv6Addr>(&m), None, "another family's");
    }

    #[test]
    fn ipv6_routes_read_their_sixteen_byte_addresses() {
        let mut m = vec![0u8; RTMSG_LEN];
        m[0] = libc::AF_INET6 as u8;
        m[7] = RTN_UNICAST;
        let gw: Ipv6Addr = "fe80::1".parse().unwrap();
        push_attr(&mut m, RTA_OIF, &9u32.to_ne_bytes());
        push_attr(&mut m, RTA_GATEWAY, &gw.octets());
        push_attr(&mut m, RTA_PREFSRC, &[10, 0, 0, 5]);
        let r: Route<Ipv6Addr> = parse_route(&m).expect("a route");
        assert_eq!((r.oif, r.gateway), (9, Some(gw)));
        assert_eq!(r.prefsrc, None, "a four-byte address is no IPv6 address");
    }

    #[test]
    fn an_address_is_its_local_attribute() {
        let mut m = vec![libc::AF_INET as u8, 24, 0, 0];
        m.extend_from_slice(&3u32.to_ne_bytes());
        push_attr(&mut m, IFA_ADDRESS, &[10, 9, 0, 2]);
        push_attr(&mut m, IFA_LOCAL, &[10, 9, 0, 1]);
        assert_eq!(
            parse_addr(&m),
            Some(IfAddr {
                ifindex: 3,
                addr: Ipv4Addr::new(10, 9, 0, 1),
                prefix_len: 24
            })
        );
    }
}
