//! Native tunnels in the daemon: which tunnel destinations the datapath carries through a
//! bridge itself (`fvs_datapath::native`), and the neighbour cache behind them, with Open
//! vSwitch's `tnl/arp/*` (`tnl/neigh/*`) commands.
//!
//! # When a tunnel is native
//!
//! For every tunnel interface with a fixed `remote_ip`, the kernel's own routing table in
//! the daemon's network namespace is asked (`fvs_netdev::netlink::route_get`) which device
//! the route to it leaves through. When that device is an internal port of a ferrovs bridge
//! (a TAP device ferrovs made: `br-phy` with the NIC as another of its ports, as Open
//! vSwitch's userspace tunnels are set up), the destination is native: the datapath
//! encapsulates with that port's MAC, the next hop's MAC from the neighbour cache and the
//! outer source `local_ip` (or the route's preferred source), and injects the outer frame
//! into that bridge as if the internal port had sent it. Otherwise the tunnel keeps the host
//! IP-stack underlay (`fvs_netdev::tunnel::KernelTunnel`), where Open vSwitch's userspace
//! datapath would just fail to send. The datapath decides per packet by the outer
//! destination. A `remote_ip=flow` tunnel's destinations are known only from its packets:
//! the datapath threads ask for each new one ([`Shared::want_routes`]), which is routed
//! within [`ROUTE_ASK_EVERY`] and at every pass from then on, like a fixed `remote_ip`
//! (IPv4 ones here, IPv6 ones in [`super::native_v6`]; at most [`MAX_FLOW_DESTINATIONS`],
//! later ones keep the host's stack); its first packets take the host's stack meanwhile. Under `--enable-dummy` nothing is native:
//! dummy internal ports are no kernel devices.
//!
//! The routes are looked up again at every reconfiguration, on a thread of their own as soon
//! as the kernel announces a link, address or route change (`fvs_netdev::netlink::Changes`,
//! as Open vSwitch follows them), and at least every [`ROUTE_PASS_EVERY`] (one second), so
//! a route change moves a tunnel between the two paths at once, and within a second should
//! an announcement be lost.
//!
//! # Neighbours
//!
//! [`Neighbours`] is Open vSwitch's tunnel neighbour cache: sender address → MAC and bridge,
//! fed by ARP packets the datapath delivers to an internal port that ends native tunnels
//! and whose target is that port's address (snooped there, as Open vSwitch snoops ARP for a
//! bridge's own addresses), by the neighbour discovery messages it delivers there (IPv6
//! underlays, [`super::native_v6`]) and by `tnl/arp/set`; IPv4 and IPv6 entries share the
//! table and `tnl/neigh/show`'s layout, as in Open vSwitch. An entry expires `tnl/neigh/aging` seconds
//! (900 by default, 1 to 3600) after it was last set, snooped or used: the entries native
//! hops use are refreshed at every route pass. Its changes reach every datapath thread
//! through a generation counter each thread compares before and after its rounds
//! ([`Shared`]), so the packets that wake a thread already see a change.
//!
//! # Routes
//!
//! `ovs/route/show`, `ovs/route/lookup`, `ovs/route/add` and `ovs/route/del` (and
//! `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr`, which give a dummy device the
//! addresses a user route's source comes from) work on Open vSwitch's one table of kernel
//! ("Cached") and user routes
//! ([`router`], whose docs say how it ranks and reads). A user route also decides for the
//! tunnels: when the best route to a tunnel's destination is a user route, the tunnel is
//! native exactly when that route's device is an internal port of a ferrovs bridge (next
//! hop its gateway, source `local_ip` or the route's source); otherwise the kernel's own
//! lookup decides, as above. Adding or deleting a user route runs a route pass at once.
//! Native tunnels look routes up with packet mark 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fvs_datapath::native::{Endpoint, NativeConfig, NativeHop, RouteMtu, Snooped};
use fvs_netdev::MacAddr;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;

use super::router::{self, Route, Router};
use crate::Daemon;
use crate::unixctl::Command;

/// How often the routes of the tunnels are looked up again.
pub const ROUTE_PASS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How soon a destination a `remote_ip=flow` tunnel asked for is routed.
pub const ROUTE_ASK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// The most flow destinations routed (each costs a kernel route lookup every pass).
pub const MAX_FLOW_DESTINATIONS: usize = 1024;
/// Open vSwitch's default neighbour aging, in seconds.
pub const DEFAULT_AGING_SECS: u64 = 900;
/// The longest aging `tnl/neigh/aging` accepts, in seconds.
const MAX_AGING_SECS: u64 = 3600;

/// One neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Neighbour {
    mac: MacAddr,
    bridge: String,
    /// When it was last set, snooped or used.
    seen: Millis,
}

/// The tunnel neighbour cache (see the module docs).
#[derive(Debug)]
pub struct Neighbours {
    /// By address: IPv4 ones (from ARP) sort before IPv6 ones (from neighbour discovery).
    entries: BTreeMap<IpAddr, Neighbour>,
    aging_secs: u64,
}

impl Default for Neighbours {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            aging_secs: DEFAULT_AGING_SECS,
        }
    }
}

impl Neighbours {
    /// Records that `ip` is at `mac` on `bridge`; true when that is news (a new entry or
    /// another MAC).
    pub fn set(&mut self, ip: IpAddr, mac: MacAddr, bridge: &str, now: Millis) -> bool {
        let e = Neighbour {
            mac,
            bridge: bridge.to_owned(),
            seen: now,
        };
        match self.entries.insert(ip, e) {
            Some(old) => old.mac != mac,
            None => true,
        }
    }

    /// The MAC of a live entry for `ip`, refreshing it (it is in use).
    pub fn lookup(&mut self, ip: IpAddr, now: Millis) -> Option<MacAddr> {
        self.expire(now);
        let e = self.entries.get_mut(&ip)?;
        e.seen = now;
        Some(e.mac)
    }

    /// Removes the entries older than the aging time.
    pub fn expire(&mut self, now: Millis) {
        let limit = self.aging_secs * 1000;
        self.entries
            .retain(|_, e| now.0.saturating_sub(e.seen.0) < limit);
    }

    /// `tnl/arp/flush`.
    pub fn flush(&mut self) {
        self.entries.clear();
    }

    /// `tnl/arp/show`, in Open vSwitch's layout (by address here; Open vSwitch lists in hash
    /// order).
    pub fn show(&mut self, now: Millis) -> String {
        self.expire(now);
        let mut out = format!("{:<46}{:<20}{}\n", "IP", "MAC", "Bridge");
        out.push_str(&"=".repeat(74));
        out.push('\n');
        for (ip, e) in &self.entries {
            let _ = writeln!(
                out,
                "{:<46}{:<20}{}",
                ip.to_string(),
                e.mac.to_string(),
                e.bridge
            );
        }
        out
    }
}

/// What the control side and every datapath thread share about native tunnels.
#[derive(Debug, Default)]
pub struct Shared {
    /// The neighbour cache.
    pub neighbours: Mutex<Neighbours>,
    /// The user routes (and dummy devices' addresses).
    pub router: Mutex<Router>,
    /// The outer destinations `remote_ip=flow` tunnels were given (at most
    /// [`MAX_FLOW_DESTINATIONS`]), routed at every pass.
    flow_dsts: Mutex<BTreeSet<IpAddr>>,
    /// A datapath thread asked for a new flow destination since the last pass.
    route_request: AtomicBool,
    /// The routes and endpoints of the last pass, with the MACs the cache had then.
    config: Mutex<NativeConfig>,
    /// Bumped at every change of `config` or of a MAC in use; each thread compares.
    generation: AtomicU64,
}

impl Shared {
    /// The configuration generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The configuration for a datapath thread, with every known MAC filled in.
    pub fn config(&self) -> NativeConfig {
        let mut c = super::lock(&self.config).clone();
        let neighbours = super::lock(&self.neighbours);
        // A flushed or expired entry leaves its hops unresolved again: their next packet
        // asks by ARP.
        for h in c.hops.values_mut() {
            h.eth_dst = neighbours.entries.get(&h.next_hop).map(|e| e.mac);
        }
        c
    }

    /// Installs a new route pass's configuration (MACs resolved from the cache, entries in
    /// use refreshed); threads take it when it differs from the last.
    pub fn set_config(&self, mut c: NativeConfig, now: Millis) {
        {
            let mut n = super::lock(&self.neighbours);
            for h in c.hops.values_mut() {
                h.eth_dst = n.lookup(h.next_hop, now);
            }
        }
        let mut cur = super::lock(&self.config);
        if *cur != c {
            *cur = c;
            self.bump();
        }
    }

    /// Takes what a thread snooped: new neighbours reach the other threads.
    pub fn snooped(
        &self,
        snooped: &[Snooped],
        endpoints: &BTreeMap<DpPort, Endpoint>,
        now: Millis,
    ) {
        let mut news = false;
        {
            let mut n = super::lock(&self.neighbours);
            for s in snooped {
                let bridge = endpoints.get(&s.port).map_or("", |e| e.bridge.as_str());
                news |= n.set(s.ip, s.mac, bridge, now);
            }
        }
        if news {
            self.bump();
        }
    }

    /// Takes what a thread's `remote_ip=flow` tunnels asked to be routed; the next route
    /// pass comes within [`ROUTE_ASK_EVERY`] when one is new. Past
    /// [`MAX_FLOW_DESTINATIONS`], new ones are not taken (their packets keep the host's
    /// stack).
    pub fn want_routes(&self, dsts: &[IpAddr]) {
        let mut set = super::lock(&self.flow_dsts);
        for d in dsts {
            if set.len() < MAX_FLOW_DESTINATIONS && set.insert(*d) {
                self.route_request.store(true, Ordering::Release);
            }
        }
    }

    /// The flow destinations asked for so far.
    pub fn flow_destinations(&self) -> Vec<IpAddr> {
        super::lock(&self.flow_dsts).iter().copied().collect()
    }

    /// Whether a route pass was asked for since the last call.
    pub fn take_route_request(&self) -> bool {
        self.route_request.swap(false, Ordering::AcqRel)
    }

    /// A change every thread must take.
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// A tunnel interface's addresses, as its options give them: IPv4 ones, or IPv6 ones as
/// `TunnelEnd<Ipv6Addr>` ([`super::native_v6`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelEnd<A = Ipv4Addr> {
    /// `remote_ip`.
    pub remote: A,
    /// `local_ip`, when fixed.
    pub local: Option<A>,
}

/// The tunnel ends of the interfaces (type, options) with a fixed `remote_ip` of the family
/// `A` (`flow` and the other family's addresses do not parse, so they are left out).
pub fn tunnel_ends<'a, A: std::str::FromStr>(
    ifaces: impl Iterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Vec<TunnelEnd<A>> {
    ifaces
        .filter(|(kind, _)| matches!(*kind, "gre" | "ip6gre" | "vxlan" | "geneve"))
        .filter_map(|(_, o)| {
            let remote = o.get("remote_ip")?.parse::<A>().ok()?;
            let local = o.get("local_ip").and_then(|l| l.parse::<A>().ok());
            Some(TunnelEnd { remote, local })
        })
        .collect()
}

/// An internal port ferrovs made: name, datapath port, MAC, bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalPort {
    /// The device's name.
    pub name: String,
    /// Its datapath port.
    pub no: DpPort,
    /// Its MAC.
    pub mac: MacAddr,
    /// The bridge it belongs to.
    pub bridge: String,
}

/// What a route pass asks of one address family's kernel tables; the IPv4 answers are here,
/// the IPv6 ones in [`super::native_v6`].
pub trait Family: Copy + Eq + Into<IpAddr> {
    /// Every address of every device (`ip addr`).
    fn addresses() -> std::io::Result<Vec<fvs_netdev::netlink::IfAddr<Self>>>;
    /// The route the host's IP stack would take to `dst` (`ip route get`).
    fn route_get(dst: Self) -> std::io::Result<fvs_netdev::netlink::Route<Self>>;
    /// Whether the user routes call for the whole table (cached and user routes ranked
    /// together) rather than the kernel's own lookup alone.
    fn table_needed(user: &[Route]) -> bool;
    /// The kernel's routes as the table caches them; `None` when they cannot be read.
    fn cached_routes() -> Option<Vec<Route>>;
    /// The kernel's routes of this family (`ip route show table all`), as
    /// [`kernel_routes`] reads them.
    fn routes() -> std::io::Result<Vec<fvs_netdev::netlink::RouteEntry<Self>>>;
    /// Whether of the kernel's routes to one prefix (and kind, local or not) only the last
    /// it lists stays, as in Open vSwitch's IPv6 table, which holds one route per prefix and
    /// rank and so keeps one of every link's `fe80::/64`. The IPv4 table keeps every route
    /// the kernel lists.
    const LAST_ROUTE_PER_PREFIX: bool;
    /// Whether an endpoint's address may stand as the outer source when neither `local_ip`
    /// nor the route gives one.
    fn usable_source(addr: IpAddr) -> bool;
}

impl Family for Ipv4Addr {
    fn addresses() -> std::io::Result<Vec<fvs_netdev::netlink::IfAddr<Self>>> {
        fvs_netdev::netlink::ipv4_addresses()
    }

    fn route_get(dst: Self) -> std::io::Result<fvs_netdev::netlink::Route<Self>> {
        fvs_netdev::netlink::route_get(dst)
    }

    fn table_needed(user: &[Route]) -> bool {
        !user.is_empty()
    }

    fn cached_routes() -> Option<Vec<Route>> {
        cached_routes(false).ok()
    }

    fn routes() -> std::io::Result<Vec<fvs_netdev::netlink::RouteEntry<Self>>> {
        fvs_netdev::netlink::ipv4_routes()
    }

    const LAST_ROUTE_PER_PREFIX: bool = false;

    fn usable_source(addr: IpAddr) -> bool {
        addr.is_ipv4()
    }
}

/// One IPv4 route pass: the endpoints (internal ports with IPv4 addresses) and, for each
/// tunnel end whose route leaves through one of them, its hop (MAC unresolved). `None` when
/// the kernel could not be asked (a failed dump, a lookup failing for another reason than
/// "no route"): the last pass's answer then stands, so a busy moment never flips a tunnel to
/// the host's stack and back. [`add_hops`] adds the IPv6 half.
pub fn route_pass(
    internal: &[InternalPort],
    ends: &[TunnelEnd],
    user: &[Route],
) -> Option<NativeConfig> {
    let mut c = NativeConfig::default();
    add_hops(internal, ends, user, &mut c)?;
    Some(c)
}

/// Adds to `c` the endpoints of family `F` (the internal ports' addresses) and the hops of
/// the tunnel ends whose route leaves through an internal port; `None` as for
/// [`route_pass`].
pub fn add_hops<F: Family>(
    internal: &[InternalPort],
    ends: &[TunnelEnd<F>],
    user: &[Route],
    c: &mut NativeConfig,
) -> Option<()> {
    if internal.is_empty() {
        return Some(());
    }
    // With user routes, the whole table decides (Open vSwitch's tunnels follow its own
    // table); without, the kernel's own lookup does, policy rules and all.
    let table = if F::table_needed(user) {
        Some(router::table(user, F::cached_routes()?))
    } else {
        None
    };
    let by_index: HashMap<u32, &InternalPort> = internal
        .iter()
        .map(|p| (fvs_netdev::poll::ifindex(&p.name), p))
        .filter(|(i, _)| *i != 0)
        .collect();
    for a in &F::addresses().ok()? {
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
        let remote: IpAddr = end.remote.into();
        if c.hops.contains_key(&remote) {
            continue;
        }
        if let Some(r) = table
            .as_deref()
            .and_then(|t| router::lookup(t, remote, router::PktMark::default()))
            .filter(|r| r.origin == router::Origin::User)
        {
            // A user route: native when its device is an internal port of ours.
            if let Some(p) = internal.iter().find(|p| p.name == r.dev) {
                let src = end.local.map_or(r.src, Into::into);
                c.hops
                    .insert(remote, hop_through(p, src, r.next_hop(remote)));
            }
            continue;
        }
        let route = match F::route_get(end.remote) {
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
        let Some(src) = end.local.or(route.prefsrc).map(Into::into).or_else(|| {
            c.endpoints
                .get(&p.no)
                .and_then(|e| e.addrs.iter().copied().find(|a| F::usable_source(*a)))
        }) else {
            continue;
        };
        c.hops.insert(
            remote,
            hop_through(p, src, route.next_hop(end.remote).into()),
        );
    }
    Some(())
}

/// The hop out of internal port `p` from `src` to `next_hop` (its MAC not yet resolved).
fn hop_through(p: &InternalPort, src: IpAddr, next_hop: IpAddr) -> NativeHop {
    NativeHop {
        port: p.no,
        eth_src: p.mac,
        eth_dst: None,
        src,
        next_hop,
        mtu: device_mtu(&p.name),
    }
}

/// The MTU of the internal port `name`, which native runs of outer packets must respect
/// (the route's own `mtu` metric is not read); unknown (no runs) when the device is gone.
fn device_mtu(name: &str) -> RouteMtu {
    RouteMtu(fvs_netdev::poll::mtu(name).unwrap_or(0))
}

/// The `tnl/arp/*` and `tnl/neigh/*` commands, for [`super::commands::table`].
pub fn commands() -> Vec<Command<Daemon>> {
    // Open vSwitch has each command under both names.
    const NAMES: [[&str; 4]; 2] = [
        [
            "tnl/arp/show",
            "tnl/arp/set",
            "tnl/arp/flush",
            "tnl/arp/aging",
        ],
        [
            "tnl/neigh/show",
            "tnl/neigh/set",
            "tnl/neigh/flush",
            "tnl/neigh/aging",
        ],
    ];
    let routes = [
        Command {
            name: "ovs/route/show",
            usage: "",
            min: 0,
            max: 0,
            handler: route_show,
        },
        Command {
            name: "ovs/route/lookup",
            usage: "ip_addr [pkt_mark=mark]",
            min: 1,
            max: 2,
            handler: route_lookup,
        },
        Command {
            name: "ovs/route/add",
            usage: "ip_addr/prefix_len out_br_name [gw] [pkt_mark=mark]",
            min: 2,
            max: 4,
            handler: route_add,
        },
        Command {
            name: "ovs/route/del",
            usage: "ip_addr/prefix_len [pkt_mark=mark]",
            min: 1,
            max: 2,
            handler: route_del,
        },
        Command {
            name: "netdev-dummy/ip4addr",
            usage: "[netdev] ipaddr/mask-prefix-len",
            min: 2,
            max: 2,
            handler: dummy_ip4addr,
        },
        Command {
            name: "netdev-dummy/ip6addr",
            usage: "[netdev] ip6addr",
            min: 2,
            max: 2,
            handler: dummy_ip6addr,
        },
    ];
    NAMES
        .iter()
        .flat_map(|[show_, set_, flush_, aging_]| {
            [
                Command {
                    name: show_,
                    usage: "",
                    min: 0,
                    max: 0,
                    handler: show,
                },
                Command {
                    name: set_,
                    usage: "BRIDGE IP MAC",
                    min: 3,
                    max: 3,
                    handler: set,
                },
                Command {
                    name: flush_,
                    usage: "",
                    min: 0,
                    max: 0,
                    handler: flush,
                },
                Command {
                    name: aging_,
                    usage: "[SECS]",
                    min: 0,
                    max: 1,
                    handler: aging,
                },
            ]
        })
        .chain(routes)
        .collect()
}

/// The kernel's IPv4 and IPv6 routes as cached routes ([`router`]); none under
/// `--enable-dummy`.
fn cached_routes(dummy: bool) -> Result<Vec<Route>, String> {
    if dummy {
        return Ok(Vec::new());
    }
    let err = |e: std::io::Error| format!("cannot read the routing table: {e}");
    let names = fvs_netdev::netlink::link_names().map_err(err)?;
    let mut routes = kernel_routes::<Ipv4Addr>(&names).map_err(err)?;
    routes.extend(kernel_routes::<std::net::Ipv6Addr>(&names).map_err(err)?);
    Ok(routes)
}

/// The kernel's routes of family `F` as `ovs-router` caches them; `names` are the
/// interfaces' names by index. Each takes as its source the route's preferred source, else
/// the device's address on the destination's prefix, else on the gateway's; a route with
/// none, or through a device without a name, is left out. See
/// [`Family::LAST_ROUTE_PER_PREFIX`] for routes to one prefix through several devices.
pub fn kernel_routes<F: Family>(names: &HashMap<u32, String>) -> std::io::Result<Vec<Route>> {
    let routes = F::routes()?;
    let addrs = F::addresses()?;
    let mut kept: Vec<Route> = Vec::new();
    for r in &routes {
        let Some(dev) = names.get(&r.route.oif) else {
            continue;
        };
        let on_prefix = |to: F| {
            addrs
                .iter()
                .find(|a| {
                    a.ifindex == r.route.oif
                        && router::same_prefix(a.addr.into(), to.into(), a.prefix_len)
                })
                .map(|a| a.addr)
        };
        let Some(src) = r
            .route
            .prefsrc
            .or_else(|| on_prefix(r.dst))
            .or_else(|| r.route.gateway.and_then(on_prefix))
        else {
            continue;
        };
        let route = Route {
            dst: r.dst.into(),
            prefix_len: r.prefix_len,
            mark: router::PktMark::default(),
            dev: dev.clone(),
            gateway: r.route.gateway.map(Into::into),
            src: src.into(),
            local: r.route.local,
            origin: router::Origin::Cached,
        };
        if F::LAST_ROUTE_PER_PREFIX {
            kept.retain(|k| {
                (k.dst, k.prefix_len, k.local) != (route.dst, route.prefix_len, route.local)
            });
        }
        kept.push(route);
    }
    Ok(kept)
}

/// The addresses of kernel device `dev`, both families (none when there is no such device).
fn kernel_addrs(dev: &str) -> Vec<router::DevAddr> {
    use fvs_netdev::netlink;
    let Some(index) = netlink::link_names()
        .ok()
        .and_then(|names| names.into_iter().find(|(_, n)| n == dev).map(|(i, _)| i))
    else {
        return Vec::new();
    };
    let v4 = netlink::ipv4_addresses()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.ifindex == index)
        .map(|a| (a.addr.into(), a.prefix_len));
    let v6 = netlink::ipv6_addresses()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.ifindex == index)
        .map(|a| (a.addr.into(), a.prefix_len));
    v4.chain(v6).collect()
}

/// The whole routing table, best first.
pub(super) fn route_table(d: &Daemon) -> Result<Vec<Route>, String> {
    let s = shared(d)?;
    let dummy = d.datapath().is_some_and(|h| h.enable_dummy());
    let cached = cached_routes(dummy)?;
    Ok(router::table(super::lock(&s.router).user_routes(), cached))
}

fn route_show(d: &Daemon, _: &[String]) -> Result<String, String> {
    Ok(router::show(&route_table(d)?))
}

fn route_lookup(d: &Daemon, args: &[String]) -> Result<String, String> {
    router::lookup_text(&route_table(d)?, args).map_err(|e| e.to_string())
}

fn route_add(d: &Daemon, args: &[String]) -> Result<String, String> {
    let s = shared(d)?;
    let dummy = d.datapath().is_some_and(|h| h.enable_dummy());
    {
        let mut r = super::lock(&s.router);
        let addrs = match args.get(1) {
            Some(dev) if dummy => r.dummy_addrs(dev),
            Some(dev) => kernel_addrs(dev),
            None => Vec::new(),
        };
        r.add(args, &addrs).map_err(|e| e.to_string())?;
    }
    refresh(d);
    Ok("OK\n".to_owned())
}

fn route_del(d: &Daemon, args: &[String]) -> Result<String, String> {
    let s = shared(d)?;
    super::lock(&s.router)
        .del(args)
        .map_err(|e| e.to_string())?;
    refresh(d);
    Ok("OK\n".to_owned())
}

/// A changed user route moves native tunnels at once, not at the next route pass.
fn refresh(d: &Daemon) {
    if let Some(h) = d.datapath() {
        h.refresh_native();
    }
}

/// `netdev-dummy/ip4addr NETDEV IP[/LEN]`: the dummy device's one IPv4 address, for the
/// source addresses of user routes through it.
fn dummy_ip4addr(d: &Daemon, args: &[String]) -> Result<String, String> {
    set_dummy_addr(d, args, |addr| match router::parse_prefix(addr) {
        Some(router::Prefix::V4(ip, len)) => Ok((ip.into(), len)),
        _ => Err(format!("{addr}: invalid IP address")),
    })
}

/// `netdev-dummy/ip6addr NETDEV IP6[/LEN]`: the dummy device's one IPv6 address (`/128`
/// without a length), for the source addresses of IPv6 user routes through it.
fn dummy_ip6addr(d: &Daemon, args: &[String]) -> Result<String, String> {
    set_dummy_addr(d, args, |arg| {
        let (addr, len) = arg.split_once('/').unwrap_or((arg, "128"));
        let invalid = || format!("{arg}: invalid IPv6 address");
        let ip: std::net::Ipv6Addr = addr.parse().map_err(|_| invalid())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match len.parse::<u8>() {
            Ok(len) if len <= 128 => Ok((ip.into(), len)),
            _ => Err(format!(
                "{arg}: IPv6 network prefix bits not between 0 and 128, inclusive"
            )),
        }
    })
}

/// The part `netdev-dummy/ip4addr` and `netdev-dummy/ip6addr` share: the device must be a
/// dummy device of a bridge; `parse` reads the address or says why not.
fn set_dummy_addr(
    d: &Daemon,
    args: &[String],
    parse: impl Fn(&str) -> Result<router::DevAddr, String>,
) -> Result<String, String> {
    let h = d
        .datapath()
        .ok_or_else(|| "the datapath is not running".to_owned())?;
    let [dev, addr] = args else {
        return Err("NETDEV IP/PLEN expected".to_owned());
    };
    if !h.enable_dummy() || !h.port_devices().values().any(|(n, _)| n == dev) {
        return Err("Unknown Dummy Interface".to_owned());
    }
    let addr = parse(addr)?;
    super::lock(&h.native().router).set_dummy_addr(dev, addr);
    Ok("OK\n".to_owned())
}

fn shared(d: &Daemon) -> Result<&Shared, String> {
    d.datapath()
        .map(|h| h.native())
        .ok_or_else(|| "the datapath is not running".to_owned())
}

fn show(d: &Daemon, _: &[String]) -> Result<String, String> {
    let now = d.now();
    Ok(super::lock(&shared(d)?.neighbours).show(now))
}

fn set(d: &Daemon, args: &[String]) -> Result<String, String> {
    let [bridge, ip, mac] = args else {
        return Err("BRIDGE IP MAC expected".to_owned());
    };
    let ip: IpAddr = ip.parse().map_err(|_| "bad IP address".to_owned())?;
    let mac = MacAddr::parse(mac).ok_or_else(|| "bad MAC address".to_owned())?;
    let s = shared(d)?;
    let now = d.now();
    super::lock(&s.neighbours).set(ip, mac, bridge, now);
    s.bump();
    Ok("OK\n".to_owned())
}

fn flush(d: &Daemon, _: &[String]) -> Result<String, String> {
    let s = shared(d)?;
    super::lock(&s.neighbours).flush();
    s.bump();
    Ok("OK\n".to_owned())
}

fn aging(d: &Daemon, args: &[String]) -> Result<String, String> {
    let s = shared(d)?;
    let mut n = super::lock(&s.neighbours);
    match args.first() {
        None => Ok(format!("{}\n", n.aging_secs)),
        Some(a) => {
            let secs = a
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_AGING_SECS).contains(s))
                .ok_or_else(|| "bad aging value".to_owned())?;
            n.aging_secs = secs;
            Ok("OK\n".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn entries_age_from_their_last_use() {
        let mut n = Neighbours::default();
        let mac = MacAddr([2, 0, 0, 0, 0, 2]);
        assert!(n.set(A.into(), mac, "br-phy", Millis(0)));
        assert!(!n.set(A.into(), mac, "br-phy", Millis(10)), "no news");
        assert_eq!(n.lookup(A.into(), Millis(899_000)), Some(mac));
        assert_eq!(
            n.lookup(A.into(), Millis(1_700_000)),
            Some(mac),
            "the lookup refreshed it"
        );
        assert_eq!(n.lookup(A.into(), Millis(2_600_000)), None, "expired");
    }

    #[test]
    fn only_tunnels_with_a_fixed_remote_are_candidates() {
        let o = |r: &str| BTreeMap::from([("remote_ip".to_owned(), r.to_owned())]);
        let (a, b, c) = (o("10.0.0.2"), o("flow"), o("10.0.0.3"));
        let ends =
            tunnel_ends::<Ipv4Addr>([("gre", &a), ("vxlan", &b), ("system", &c)].into_iter());
        assert_eq!(
            ends,
            [TunnelEnd {
                remote: A,
                local: None
            }]
        );
    }
}
