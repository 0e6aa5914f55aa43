//! The routing table Open vSwitch users know as `ovs-router`: the kernel's IPv4 and IPv6
//! routes ("Cached") and the routes `ovs/route/add` gave ("User"), in one table that
//! `ovs/route/show` lists, `ovs/route/lookup` answers from and native tunnels follow
//! ([`super::native::route_pass`]).
//!
//! # The table
//!
//! A route is a prefix, a packet mark (`pkt_mark`, 0 unless given), the device it leaves
//! through, an optional gateway and a source address. It ranks by (local, prefix length):
//! local routes (the host's own addresses) before all others, then longer prefixes, as Open
//! vSwitch gives a local route 64 more priority points; Open vSwitch keeps IPv4 routes as
//! IPv4-mapped IPv6 prefixes, so an IPv4 prefix ranks as 96 bits longer than it reads (a
//! /24 above an IPv6 /64). A lookup takes the best route of the address's family whose
//! prefix covers it and whose mark equals the packet's. Among routes of one rank
//! the order is unspecified (Open vSwitch lists them in hash order).
//!
//! - **Cached** routes are the kernel's unicast and local routes of every table, each
//!   with a source address (the route's preferred source, else the device's address on the
//!   destination's or the gateway's subnet; a route with neither is left out). ferrovs keeps
//!   no copy: every use reads the kernel's tables. Under `--enable-dummy` there are none, as
//!   with Open vSwitch's dummy mode (its dummy devices are no kernel devices).
//! - **User** routes live in [`Router`], until `ovs/route/del` or the daemon's exit. One
//!   (prefix, mark) holds one user route: adding it again replaces it. Its source address is
//!   the output device's address on the subnet of the prefix as given (not masked), else on
//!   the gateway's; a device without such an address refuses the route ("Error while
//!   inserting route."), as an unknown device does. A device's addresses are the kernel's,
//!   or, under `--enable-dummy`, what `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr`
//!   gave it.
//!
//! A user route hides a cached route with the same prefix, mark and rank (Open vSwitch's
//! classifier would let the kernel's next announcement replace the user route instead).
//!
//! # Text
//!
//! Tokens are read as Open vSwitch 3.1 reads them, quirks included, because scripts written
//! against it must work unchanged: a prefix is `A.B.C.D`, `A.B.C.D/LEN` or `A.B.C.D/MASK`
//! (a contiguous netmask), each number C-`scanf`-like (leading blanks and a sign allowed, an
//! octet wrapped to 8 bits), with nothing after it; `pkt_mark=N` takes N in decimal, octal
//! (`010`) or hex (`0x10`), wrapped to 32 bits, and ignores what follows the number; a
//! gateway is a strict dotted quad. `src=` is Open vSwitch 3.2's and refused, as 3.1 refuses
//! it. The errors are Open vSwitch's words.
//!
//! User routes take either family (an IPv6 one needs an IPv6 address of the device on the
//! prefix or the gateway's, as Open vSwitch asks). Not done: deleting a cached route,
//! `netdev-dummy/ip6addr`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `ovs/route/add`.
    User,
    /// The kernel's tables.
    Cached,
}

/// A packet mark (`pkt_mark`) a route applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PktMark(pub u32);

/// One route of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination prefix (masked).
    pub dst: IpAddr,
    /// Its length, 0 to 32 (IPv4) or 128 (IPv6).
    pub prefix_len: u8,
    /// The packet mark it applies to.
    pub mark: PktMark,
    /// The device it leaves through.
    pub dev: String,
    /// The gateway, when the destination is not on a connected network.
    pub gateway: Option<IpAddr>,
    /// The source address.
    pub src: IpAddr,
    /// A route to one of the host's own addresses.
    pub local: bool,
    /// Where it came from.
    pub origin: Origin,
}

impl Route {
    /// Whether the prefix covers `ip` (of the same family).
    pub fn covers(&self, ip: IpAddr) -> bool {
        match (self.dst, ip) {
            (IpAddr::V4(d), IpAddr::V4(a)) => same_subnet(d, a, self.prefix_len),
            (IpAddr::V6(d), IpAddr::V6(a)) => same_subnet6(d, a, self.prefix_len),
            _ => false,
        }
    }

    /// The rank: higher wins (an IPv4 prefix counted as the IPv4-mapped one it is to Open
    /// vSwitch).
    fn rank(&self) -> (bool, u8) {
        let len = if self.dst.is_ipv4() {
            self.prefix_len.saturating_add(96)
        } else {
            self.prefix_len
        };
        (self.local, len)
    }

    fn key(&self) -> (IpAddr, u8, PktMark, bool) {
        (self.dst, self.prefix_len, self.mark, self.local)
    }

    /// The address whose link-layer address the outer frame goes to.
    pub fn next_hop(&self, dst: IpAddr) -> IpAddr {
        self.gateway.unwrap_or(dst)
    }
}

/// The network mask of a prefix length.
pub fn mask(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    mask(len) & a.to_bits() == mask(len) & b.to_bits()
}

/// The IPv6 network mask of a prefix length.
pub fn mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Whether IPv6 `a` and `b` share their first `len` bits.
pub fn same_subnet6(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    mask6(len) & a.to_bits() == mask6(len) & b.to_bits()
}

/// An address of a device (IPv4 or IPv6), with its prefix length.
pub type DevAddr = (IpAddr, u8);

/// Whether `a` and `b` are of one family and share their first `len` bits.
pub fn same_prefix(a: IpAddr, b: IpAddr, len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => same_subnet(a, b, len),
        (IpAddr::V6(a), IpAddr::V6(b)) => same_subnet6(a, b, len),
        _ => false,
    }
}

/// `ip` with its host bits cleared.
fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => Ipv4Addr::from_bits(a.to_bits() & mask(len)).into(),
        IpAddr::V6(a) => Ipv6Addr::from_bits(a.to_bits() & mask6(len)).into(),
    }
}

/// The user routes, and the addresses `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr` gave
/// dummy devices.
#[derive(Debug, Default)]
pub struct Router {
    /// In the order they were added.
    user: Vec<Route>,
    /// Per dummy device, its one IPv4 and its one IPv6 address (as a dummy device in Open
    /// vSwitch has one of each).
    dummy_addrs: BTreeMap<String, [Option<DevAddr>; 2]>,
}

/// Why a route command failed; each reads as Open vSwitch's reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// A prefix or address that does not parse.
    #[error("Invalid parameters")]
    Parameters,
    /// `ovs/route/add`'s third token is neither a mark nor a gateway.
    #[error("Invalid pkt_mark or gateway")]
    MarkOrGateway,
    /// The same for an IPv6 prefix, in Open vSwitch's words for it.
    #[error("Invalid pkt_mark or IPv6 gateway")]
    MarkOrIpv6Gateway,
    /// A token that must be `pkt_mark=N` is not.
    #[error("Invalid pkt_mark")]
    Mark,
    /// The device has no address for the route's source (or does not exist).
    #[error("Error while inserting route.")]
    Insert,
    /// No such route.
    #[error("Not found")]
    NotFound,
}

impl Router {
    /// The user routes, in the order they were added.
    pub fn user_routes(&self) -> &[Route] {
        &self.user
    }

    /// `netdev-dummy/ip4addr` or `netdev-dummy/ip6addr`: `dev`'s one address of that family
    /// from now on.
    pub fn set_dummy_addr(&mut self, dev: &str, addr: DevAddr) {
        let family = usize::from(addr.0.is_ipv6());
        self.dummy_addrs.entry(dev.to_owned()).or_default()[family] = Some(addr);
    }

    /// The addresses `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr` gave `dev` (IPv4
    /// first).
    pub fn dummy_addrs(&self, dev: &str) -> Vec<DevAddr> {
        self.dummy_addrs
            .get(dev)
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect()
    }

    /// `ovs/route/add PREFIX DEV [GW|pkt_mark=M] [pkt_mark=M]`, with `addrs` the
    /// addresses of device DEV (none when there is no such device).
    pub fn add(&mut self, args: &[String], addrs: &[DevAddr]) -> Result<(), RouteError> {
        let (Some(prefix), Some(dev)) = (args.first(), args.get(1)) else {
            return Err(RouteError::Parameters);
        };
        let prefix = parse_prefix(prefix).ok_or(RouteError::Parameters)?;
        let mut mark = PktMark::default();
        let mut gateway: Option<IpAddr> = None;
        if let Some(t) = args.get(2) {
            match (parse_mark(t), prefix) {
                (Some(m), _) => mark = m,
                (None, Prefix::V4(..)) => {
                    gateway = Some(
                        t.parse::<Ipv4Addr>()
                            .map_err(|_| RouteError::MarkOrGateway)?
                            .into(),
                    )
                }
                (None, Prefix::V6(..)) => {
                    gateway = Some(
                        t.parse::<Ipv6Addr>()
                            .map_err(|_| RouteError::MarkOrIpv6Gateway)?
                            .into(),
                    )
                }
            }
        }
        if let Some(t) = args.get(3) {
            mark = parse_mark(t).ok_or(RouteError::Mark)?;
        }
        let (ip, prefix_len) = prefix.addr();
        let on_subnet = |to: IpAddr| {
            addrs
                .iter()
                .find(|(a, len)| same_prefix(*a, to, *len))
                .map(|(a, _)| *a)
        };
        let src = on_subnet(ip)
            .or_else(|| gateway.and_then(on_subnet))
            .ok_or(RouteError::Insert)?;
        let route = Route {
            dst: masked(ip, prefix_len),
            prefix_len,
            mark,
            dev: dev.clone(),
            gateway,
            src,
            local: false,
            origin: Origin::User,
        };
        match self.user.iter_mut().find(|r| r.key() == route.key()) {
            Some(old) => *old = route,
            None => self.user.push(route),
        }
        Ok(())
    }

    /// `ovs/route/del PREFIX [pkt_mark=M]`.
    pub fn del(&mut self, args: &[String]) -> Result<(), RouteError> {
        let prefix = args
            .first()
            .and_then(|p| parse_prefix(p))
            .ok_or(RouteError::Parameters)?;
        let mark = optional_mark(args.get(1))?;
        let (ip, len) = prefix.addr();
        let dst = masked(ip, len);
        let before = self.user.len();
        self.user
            .retain(|r| !(r.dst == dst && r.prefix_len == len && r.mark == mark));
        if self.user.len() == before {
            return Err(RouteError::NotFound);
        }
        Ok(())
    }
}

/// `pkt_mark=M` if given, else mark 0.
fn optional_mark(t: Option<&String>) -> Result<PktMark, RouteError> {
    t.map_or(Ok(PktMark::default()), |t| {
        parse_mark(t).ok_or(RouteError::Mark)
    })
}

/// The whole table, best first: the user routes, then the cached ones they do not hide.
pub fn table(user: &[Route], cached: Vec<Route>) -> Vec<Route> {
    let mut all: Vec<Route> = user.to_vec();
    all.extend(
        cached
            .into_iter()
            .filter(|c| !user.iter().any(|u| u.key() == c.key())),
    );
    // Stable: within one rank, user routes first, each in its own order.
    all.sort_by_key(|r| std::cmp::Reverse(r.rank()));
    all
}

/// The best route of `table` (best first) for `ip` with `mark`.
pub fn lookup(table: &[Route], ip: IpAddr, mark: PktMark) -> Option<&Route> {
    table.iter().find(|r| r.mark == mark && r.covers(ip))
}

/// `ovs/route/show`'s text for `table`.
pub fn show(table: &[Route]) -> String {
    let mut out = String::from("Route Table:\n");
    for r in table {
        let origin = match r.origin {
            Origin::User => "User",
            Origin::Cached => "Cached",
        };
        let _ = write!(out, "{origin}: {}/{}", r.dst, r.prefix_len);
        if r.mark != PktMark::default() {
            let _ = write!(out, " MARK {}", r.mark.0);
        }
        let _ = write!(out, " dev {}", r.dev);
        if let Some(gw) = r.gateway {
            let _ = write!(out, " GW {gw}");
        }
        let _ = write!(out, " SRC {}", r.src);
        if r.local {
            out.push_str(" local");
        }
        out.push('\n');
    }
    out
}

/// `ovs/route/lookup IP [pkt_mark=M]`'s text, from `table` (best first).
pub fn lookup_text(table: &[Route], args: &[String]) -> Result<String, RouteError> {
    let prefix = args
        .first()
        .and_then(|p| parse_prefix(p))
        .ok_or(RouteError::Parameters)?;
    let mark = optional_mark(args.get(1))?;
    let (ip, _) = prefix.addr();
    let r = lookup(table, ip, mark).ok_or(RouteError::NotFound)?;
    // Open vSwitch prints an absent gateway as the IPv6 unspecified address.
    let gw = r.gateway.map_or_else(|| "::".to_owned(), |g| g.to_string());
    Ok(format!("src {}\ngateway {gw}\ndev {}\n", r.src, r.dev))
}

/// A parsed prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// An IPv4 address (not masked) and prefix length.
    V4(Ipv4Addr, u8),
    /// An IPv6 address (not masked) and prefix length.
    V6(Ipv6Addr, u8),
}

impl Prefix {
    /// The address (not masked) and prefix length.
    pub fn addr(self) -> (IpAddr, u8) {
        match self {
            Self::V4(ip, len) => (ip.into(), len),
            Self::V6(ip, len) => (ip.into(), len),
        }
    }
}

/// A prefix as Open vSwitch's `ovs/route/*` commands read one (see the module docs).
pub fn parse_prefix(s: &str) -> Option<Prefix> {
    if let Some(p) = parse_v4_prefix(s) {
        return Some(Prefix::V4(p.0, p.1));
    }
    let (addr, len) = s.split_once('/').unwrap_or((s, "128"));
    let len = (!len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()))
        .then(|| len.parse::<u8>().ok())
        .flatten()
        .filter(|l| *l <= 128)?;
    Some(Prefix::V6(addr.parse::<Ipv6Addr>().ok()?, len))
}

fn parse_v4_prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, rest) = scan_quad(s)?;
    let Some(after) = rest.strip_prefix('/') else {
        return rest.is_empty().then_some((ip, 32));
    };
    // A dotted netmask first, then a length, as Open vSwitch tries them.
    if let Some((m, tail)) = scan_quad(after)
        && tail.is_empty()
    {
        let bits = m.to_bits();
        let len = bits.leading_ones();
        // Contiguous ones, then zeros.
        return (bits.checked_shl(len).unwrap_or(0) == 0).then_some((ip, len as u8));
    }
    let (n, tail) = scan_int(after, 10)?;
    // `%d` keeps the low 32 bits.
    let len = n as i32;
    (tail.is_empty() && (0..=32).contains(&len)).then_some((ip, len as u8))
}

/// `%hhu.%hhu.%hhu.%hhu`: four numbers, each wrapped to 8 bits.
fn scan_quad(s: &str) -> Option<(Ipv4Addr, &str)> {
    let mut octets = [0u8; 4];
    let mut rest = s;
    for (i, o) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let (n, tail) = scan_int(rest, 10)?;
        *o = n as u8;
        rest = tail;
    }
    Some((Ipv4Addr::from(octets), rest))
}

/// `pkt_mark=N` (`%i`, wrapped to 32 bits, the rest ignored).
fn parse_mark(s: &str) -> Option<PktMark> {
    let (n, _) = scan_int(s.strip_prefix("pkt_mark=")?, 0)?;
    Some(PktMark(n as u32))
}

/// One C-`scanf` integer: leading blanks, an optional sign, then digits in `radix` (0: the
/// prefix decides, `0x` hex, `0` octal, else decimal), at least one; the value wraps
/// (a minus negates modulo 2^64). The number and what follows it.
fn scan_int(s: &str, radix: u32) -> Option<(u64, &str)> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match radix {
        0 => {
            let hex = s
                .strip_prefix("0x")
                .or_else(|| s.strip_prefix("0X"))
                .filter(|h| h.as_bytes().first().is_some_and(u8::is_ascii_hexdigit));
            match hex {
                Some(h) => (16, h),
                None if s.starts_with('0') => (8, s),
                None => (10, s),
            }
        }
        r => (r, s),
    };
    let end = digits
        .char_indices()
        .find(|(_, c)| !c.is_digit(radix))
        .map_or(digits.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for c in digits[..end].chars() {
        // Saturates as strtoull does past 2^64.
        n = n
            .checked_mul(u64::from(radix))
            .and_then(|n| n.checked_add(u64::from(c.to_digit(radix).unwrap_or(0))))
            .unwrap_or(u64::MAX);
    }
    Some((if neg { n.wrapping_neg() } else { n }, &digits[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn prefixes_read_as_open_vswitch_reads_them() {
        let v4 = |s: &str| match parse_prefix(s) {
            Some(Prefix::V4(ip, len)) => Some((ip.to_string(), len)),
            _ => None,
        };
        assert_eq!(v4("10.1.0.0/24"), Some(("10.1.0.0".into(), 24)));
        assert_eq!(v4("10.1.0.5"), Some(("10.1.0.5".into(), 32)));
        assert_eq!(v4("10.1.0.0/255.255.0.0"), Some(("10.1.0.0".into(), 16)));
        assert_eq!(v4("10.1.0.300/+024"), Some(("10.1.0.44".into(), 24)));
        assert_eq!(v4(" 10.1.0.5/ 32"), Some(("10.1.0.5".into(), 32)));
        for bad in [
            "10.1.0/24",
            "10.1.0.0/33",
            "10.1.0.0/24x",
            "10.1.0.0/255.0.255.0",
        ] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
        assert_eq!(v4("10.1.0.0/-1"), None);
        assert_eq!(
            parse_prefix("::1/128"),
            Some(Prefix::V6(Ipv6Addr::LOCALHOST, 128))
        );
    }

    #[test]
    fn marks_wrap_and_ignore_what_follows() {
        assert_eq!(parse_mark("pkt_mark=0x10"), Some(PktMark(16)));
        assert_eq!(parse_mark("pkt_mark=010"), Some(PktMark(8)));
        assert_eq!(parse_mark("pkt_mark=-1"), Some(PktMark(u32::MAX)));
        assert_eq!(parse_mark("pkt_mark=5x"), Some(PktMark(5)));
        assert_eq!(
            parse_mark("pkt_mark=99999999999"),
            Some(PktMark(1_215_752_191))
        );
        assert_eq!(parse_mark("pkt_mark="), None);
        assert_eq!(parse_mark("mark=1"), None);
    }

    #[test]
    fn user_routes_replace_hide_and_rank() {
        let addrs = &[(IpAddr::from(Ipv4Addr::new(10, 1, 0, 5)), 24)];
        let mut r = Router::default();
        assert_eq!(
            r.add(&args("10.9.0.0/16 br0"), addrs),
            Err(RouteError::Insert)
        );
        r.add(&args("10.9.0.0/16 br0 10.1.0.1"), addrs)
            .expect("via gw");
        r.add(&args("10.9.7.0/16 br0 10.1.0.2"), addrs)
            .expect("replaces");
        r.add(&args("10.1.0.0/24 br0 pkt_mark=3"), addrs)
            .expect("marked");
        assert_eq!(r.user_routes().len(), 2);
        let cached = Route {
            dst: Ipv4Addr::new(10, 9, 0, 0).into(),
            prefix_len: 16,
            mark: PktMark(0),
            dev: "eth0".into(),
            gateway: None,
            src: Ipv4Addr::new(10, 9, 0, 1).into(),
            local: false,
            origin: Origin::Cached,
        };
        let t = table(r.user_routes(), vec![cached]);
        assert_eq!(t.len(), 2, "the user route hides the cached one");
        let hit = lookup(&t, Ipv4Addr::new(10, 9, 1, 1).into(), PktMark(0)).expect("a route");
        assert_eq!(hit.gateway, Some(Ipv4Addr::new(10, 1, 0, 2).into()));
        assert!(lookup(&t, Ipv4Addr::new(10, 1, 0, 9).into(), PktMark(0)).is_none());
        assert!(lookup(&t, Ipv4Addr::new(10, 1, 0, 9).into(), PktMark(3)).is_some());
        assert_eq!(r.del(&args("10.1.0.0/24")), Err(RouteError::NotFound));
        assert_eq!(r.del(&args("10.1.0.0/24 x")), Err(RouteError::Mark));
        assert_eq!(r.del(&args("10.1.0.0/24 pkt_mark=3")), Ok(()));
    }
}
