//! The slow path: upcalls translated through the pipeline, the translation cache each
//! megaflow keeps, and revalidation.
//!
//! # Port numbers
//!
//! The datapath keys packets by *datapath* port; the pipeline works in OpenFlow ports of a
//! bridge. The only link between the two is the pipeline's `Port::dp_port`, which the
//! reconciler sets; [`owner`] reads it, so there is no second table to fall out of step.
//! Tunnels of one type and UDP port share one datapath port (`gre_sys`): the OpenFlow port a
//! tunnelled packet enters is the bridge port of that type whose `remote_ip` is the packet's
//! `tun_src` (and whose `local_ip`, when set, is its `tun_dst`), so those two fields are
//! always exact in the megaflow; and whose `in_key` accepts the packet's `tun_id` (exact in
//! the megaflow when some candidate port has a fixed key), as Open vSwitch drops a packet
//! whose key no port receives. `in_port` is always exact too: a datapath port stands for
//! (bridge, OpenFlow port). So are the EtherType and, for IP, the fragment bits, as in Open
//! vSwitch's megaflows.
//!
//! # The translation cache
//!
//! Each megaflow's cookie names a [`CacheEntry`]: the key of the packet that made it, and the
//! translation's side effects (rules hit, tables missed, `learn`s, MAC learning). Cached
//! packets never reach the pipeline, so [`Slow::revalidate`] replays those effects for them:
//! every pass it takes each megaflow's new packets and bytes, credits them to the rules and
//! tables, re-runs the learns (which refreshes a learned rule's hard timeout, as Open vSwitch
//! does) and the MAC learning. When the tables changed (a bridge's generation moved, a MAC was
//! news, ports changed, a device's link went down or up) it also re-translates every
//! megaflow's key: a megaflow whose new mask is not within the installed one goes; one whose
//! actions changed gets the new ones. A megaflow unused for `max_idle` ([`IDLE`] unless
//! `other_config:max-idle` says otherwise) goes too; past `flow_limit` megaflows
//! ([`FLOW_LIMIT`], or `other_config:flow-limit`) the longest unused go, so a flood of new
//! flows cannot grow the cache without bound.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fvs_datapath::{Datapath, Upcall};
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_pipeline::bridge::Removed;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort};
use fvs_pipeline::port::{PortConfig, PortKind};
use fvs_pipeline::switch::Switch;
use fvs_pipeline::xlate::{SideEffect, Translation, translate};

/// A megaflow unused this long is removed (Open vSwitch's default `max-idle`).
pub const IDLE: Millis = Millis(10_000);
/// Most megaflows kept (Open vSwitch's default `flow-limit`).
pub const FLOW_LIMIT: usize = 200_000;

/// What a megaflow remembers about the translation that made it.
#[derive(Clone, Debug)]
pub struct CacheEntry {
    /// The datapath key of the packet that caused the upcall.
    pub key: FlowKey,
    /// The translation's side effects.
    pub effects: Vec<SideEffect>,
    /// Packets and bytes already credited.
    pub packets: u64,
    /// Bytes already credited.
    pub bytes: u64,
    /// The tunnel interfaces the megaflow's packets enter on and leave by
    /// ([`TunnelCounters`]).
    pub tunnels: TunnelUse,
}

/// Which tunnel interfaces one megaflow's packets count for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelUse {
    /// The tunnel interface they enter on, if they enter on one.
    pub rx: Option<String>,
    /// The tunnel interfaces they are sent out of.
    pub tx: Vec<String>,
}

/// A tunnel interface's own traffic. Tunnels of one type and UDP port share one datapath
/// vport, whose device counters are the sum of them all, so each interface's share is
/// counted here: received packets at the owner lookup, sent ones from the translation's
/// `set(tunnel(...))` and output, both credited with every megaflow's new packets at
/// revalidation (so the counts lag by up to one revalidation interval, as rule statistics
/// do). Bytes are the inner frame's as the datapath received it (an action that changes
/// its length, such as `strip_vlan`, is not reflected); Open vSwitch also counts inner bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    /// Packets received from the remote end.
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Packets sent to the remote end.
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
}

impl TunnelCounters {
    fn credit(counters: &mut HashMap<String, Self>, u: &TunnelUse, packets: u64, bytes: u64) {
        if let Some(rx) = &u.rx {
            let c = counters.entry(rx.clone()).or_default();
            c.rx_packets += packets;
            c.rx_bytes += bytes;
        }
        for tx in &u.tx {
            let c = counters.entry(tx.clone()).or_default();
            c.tx_packets += packets;
            c.tx_bytes += bytes;
        }
    }
}

/// The tunnel interfaces a packet entering bridge `b` on `ofport` and handled with `actions`
/// counts for: the receiving port if it is a tunnel, and for each output to a tunnel vport,
/// the port whose remote (and local) address and key the `set(tunnel(...))` before it names
/// (a fixed `out_key` preferred over `key=flow`, as on receive).
pub fn tunnel_use(sw: &Switch, b: usize, ofport: PortNo, actions: &DpActions) -> TunnelUse {
    let rx = sw
        .bridges
        .get(b)
        .and_then(|br| br.port(ofport))
        .filter(|p| matches!(p.kind, PortKind::Tunnel(_)))
        .map(|p| p.name.clone());
    let mut tx = Vec::new();
    let mut set = None;
    for a in &actions.0 {
        match a {
            DpAction::SetTunnel(t) => set = Some(*t),
            DpAction::Output(dp) => {
                let Some(t) = set else { continue };
                let mut best: Option<((bool, bool), &str)> = None;
                for p in sw.bridges.iter().flat_map(|br| br.ports.values()) {
                    let PortKind::Tunnel(c) = &p.kind else {
                        continue;
                    };
                    let key_ok = c.out_key.is_none_or(|k| k == t.tun_id);
                    let local_ok = c.local_ip.is_unspecified() || c.local_ip == t.src;
                    let remote_ok = c.remote_flow || c.remote_ip == t.dst;
                    if p.dp_port != Some(*dp) || !remote_ok || !local_ok || !key_ok {
                        continue;
                    }
                    // A port that names the remote is preferred over `remote_ip=flow`, a
                    // fixed key over `key=flow`.
                    let rank = (!c.remote_flow, c.out_key.is_some());
                    if best.is_none_or(|(r, _)| rank > r) {
                        best = Some((rank, p.name.as_str()));
                    }
                }
                if let Some((_, name)) = best {
                    tx.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    TunnelUse { rx, tx }
}

/// Counters the slow path keeps (`coverage/show`, `upcall/show`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SlowStats {
    /// Upcalls handled.
    pub upcalls: u64,
    /// Upcalls for a port no bridge owns (dropped).
    pub upcall_no_port: u64,
    /// Revalidation passes.
    pub revalidations: u64,
    /// Passes that re-translated every megaflow.
    pub full_revalidations: u64,
    /// Megaflows removed because the translation no longer held.
    pub flows_invalidated: u64,
    /// Megaflows removed for idleness.
    pub flows_idle: u64,
    /// Megaflows whose actions were replaced in place.
    pub flows_updated: u64,
    /// Most megaflows at once.
    pub max_flows: usize,
    /// Megaflows removed to stay under the flow limit.
    pub flows_evicted: u64,
}

/// The slow path's state on the datapath thread.
pub struct Slow {
    cache: HashMap<u64, CacheEntry>,
    next_cookie: u64,
    /// The bridges' table generations at the last full revalidation ([`generations`]).
    generations: (usize, u64),
    /// Something happened that can change translations: re-translate at the next pass.
    pub dirty: bool,
    /// Counters.
    pub stats: SlowStats,
    /// A megaflow unused this long is removed.
    pub max_idle: Millis,
    /// Most megaflows kept.
    pub flow_limit: usize,
    /// Each tunnel interface's own traffic, by interface name.
    pub tunnels: HashMap<String, TunnelCounters>,
    /// The ports whose link went down or came up in the passes since the datapath thread
    /// last took them, for port-status messages ([`LinkChange`]).
    pub link_changes: Vec<LinkChange>,
    /// Each device's administrative state at this thread's last pass ([`sync_admin`]).
    admin_seen: HashMap<DpPort, bool>,
}

/// A bridge port whose device's link went down (`down`) or came up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkChange {
    /// The bridge's name.
    pub bridge: String,
    /// The port.
    pub ofport: PortNo,
    /// Its OpenFlow configuration (unchanged by the link).
    pub config: u32,
    /// Whether the link went down.
    pub down: bool,
}

impl Default for Slow {
    fn default() -> Self {
        Self {
            cache: HashMap::new(),
            next_cookie: 0,
            generations: (0, 0),
            dirty: false,
            stats: SlowStats::default(),
            max_idle: IDLE,
            flow_limit: FLOW_LIMIT,
            tunnels: HashMap::new(),
            link_changes: Vec::new(),
            admin_seen: HashMap::new(),
        }
    }
}

/// The bridge (index) and OpenFlow port a packet with datapath key `key` enters, and the
/// extra key bits that choice consulted.
///
/// For a tunnel vport, the port is the one whose `remote_ip` is the packet's `tun_src`, whose
/// `local_ip` (when set) is its `tun_dst`, and whose `in_key` accepts its `tun_id`; a
/// `remote_ip=flow` port takes packets from any remote. Like Open vSwitch, a port that names
/// the remote is preferred over a `remote_ip=flow` one, a port with a fixed key over a
/// `key=flow` one, and one with a `local_ip` over one without; the reconciler makes sure no two ports tie. A packet no port
/// accepts (another key than a fixed-key port's) enters nowhere and is dropped.
pub fn owner(sw: &Switch, key: &FlowKey) -> Option<(usize, PortNo, FlowKey)> {
    let dp = DpPort(u32::try_from(key.get(Field::InPort.loc())).ok()?);
    // An IPv4 underlay fills tun_src/tun_dst, an IPv6 one tun_ipv6_src/tun_ipv6_dst.
    let addr = |v4: Field, v6: Field| -> IpAddr {
        let a = key.get(v4.loc());
        if a != 0 {
            Ipv4Addr::from_bits(u32::try_from(a).unwrap_or(0)).into()
        } else if key.get(v6.loc()) != 0 {
            Ipv6Addr::from_bits(key.get(v6.loc())).into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        }
    };
    let tun_src = addr(Field::TunSrc, Field::TunIpv6Src);
    let tun_dst = addr(Field::TunDst, Field::TunIpv6Dst);
    let tun_id = u64::try_from(key.get(Field::TunId.loc())).unwrap_or(u64::MAX);
    let mut consulted = FlowKey::ZERO;
    // (rank, bridge, port): the best tunnel port found so far.
    let mut best: Option<((bool, bool, bool), usize, PortNo)> = None;
    for (i, b) in sw.bridges.iter().enumerate() {
        for p in b.ports.values() {
            if p.dp_port != Some(dp) {
                continue;
            }
            let PortKind::Tunnel(t) = &p.kind else {
                return Some((i, p.ofport, consulted));
            };
            for f in [
                Field::TunSrc,
                Field::TunDst,
                Field::TunIpv6Src,
                Field::TunIpv6Dst,
            ] {
                consulted.set(f.loc(), u128::MAX);
            }
            let local_ok = t.local_ip.is_unspecified() || t.local_ip == tun_dst;
            if !(t.remote_flow || t.remote_ip == tun_src) || !local_ok {
                continue;
            }
            if t.in_key.is_some() {
                // The key decides between this port and none (or a `key=flow` port).
                consulted.set(Field::TunId.loc(), u128::MAX);
            }
            if !t.accepts_key(tun_id) {
                continue;
            }
            let rank = (
                !t.remote_flow,
                t.in_key.is_some(),
                !t.local_ip.is_unspecified(),
            );
            if best.is_none_or(|(r, _, _)| rank > r) {
                best = Some((rank, i, p.ofport));
            }
        }
    }
    best.map(|(_, i, p)| (i, p, consulted))
}

/// `key` with its datapath `in_port` replaced by the OpenFlow one.
pub fn of_key(key: &FlowKey, ofport: PortNo) -> FlowKey {
    let mut k = *key;
    k.set(Field::InPort.loc(), u128::from(ofport.0));
    k
}

/// Hands each device's link state to the bridge ports on it (`LINK_DOWN` when the device is
/// down, has no carrier, or cannot say), and keeps their `PORT_DOWN` and the device's
/// administrative state one ([`sync_admin`]). Devices are read here, on the thread that owns
/// them, once a revalidation pass: a change is seen within [`super::thread::REVALIDATE_EVERY`].
///
/// A link that goes down on a port whose `PORT_DOWN` was already set (a port-mod took the
/// device down) is no news to controllers: OpenFlow has shown such a port `LINK_DOWN`
/// since the port-mod, so no port-status message follows, as in Open vSwitch.
fn follow_links(
    dp: &Datapath,
    sw: &mut Switch,
    admin_seen: &mut HashMap<DpPort, bool>,
) -> Vec<LinkChange> {
    // The bridge ports on each device, from one look at every bridge: a pass costs
    // O(ports), not O(ports²), and a pass follows every flow change, so a switch with a
    // thousand ports would otherwise take milliseconds per flow-mod.
    let mut on_device: HashMap<DpPort, Vec<(usize, PortNo)>> = HashMap::new();
    for (i, b) in sw.bridges.iter().enumerate() {
        for p in b.ports.values() {
            if let Some(no) = p.dp_port {
                on_device.entry(no).or_default().push((i, p.ofport));
            }
        }
    }
    let mut changes = Vec::new();
    for (no, _, _) in dp.ports() {
        let (Some(dev), Some(ports)) = (dp.netdev(no), on_device.get(&no)) else {
            continue;
        };
        // Each port's configuration as the pass found it.
        let before: Vec<(usize, PortNo, PortConfig)> = ports
            .iter()
            .filter_map(|&(i, ofport)| {
                let p = sw.bridges.get(i)?.ports.get(&ofport)?;
                Some((i, ofport, p.config))
            })
            .collect();
        if sync_admin(dev, no, &before, sw, admin_seen) {
            // The link follows at the next pass, once the port-mod's own port-status
            // messages have gone out: theirs come first, as in Open vSwitch.
            continue;
        }
        let down = !matches!(dev.link_state(), Ok(fvs_netdev::LinkState::Up));
        for &(i, ofport, was) in &before {
            let Some(b) = sw.bridges.get_mut(i) else {
                continue;
            };
            let quiet = b.ports.get(&ofport).is_some_and(|p| {
                was.has(PortConfig::PORT_DOWN) && p.config.has(PortConfig::PORT_DOWN)
            });
            if b.set_port_link(ofport, down) && !quiet {
                changes.push(LinkChange {
                    bridge: b.name.clone(),
                    ofport,
                    config: was.0,
                    down,
                });
            }
        }
    }
    changes
}

/// Keeps `PORT_DOWN` of the bridge ports on device `no` (`ports`: bridge index, OpenFlow
/// port and configuration, as [`follow_links`] found them) and the device's administrative
/// state one, as Open vSwitch does: the host taking the device down or up (`ip link set`)
/// sets or clears `PORT_DOWN`, and a port-mod setting or clearing it takes the device down
/// or up. Which side moved is told by `admin_seen`, the state this thread saw at its last
/// pass: a device whose state differs from it (or that it has not seen yet) moved, and the
/// ports follow; otherwise a port that differs from the device was port-modded, and the
/// device follows. Devices without an administrative state (dummy devices) are left alone:
/// their `PORT_DOWN` is the configuration's alone (`netdev-dummy/set-admin-state`).
/// True when the device was taken up or down.
fn sync_admin(
    dev: &dyn fvs_netdev::Netdev,
    no: DpPort,
    ports: &[(usize, PortNo, PortConfig)],
    sw: &mut Switch,
    admin_seen: &mut HashMap<DpPort, bool>,
) -> bool {
    let Some(up) = dev.admin_up() else {
        return false;
    };
    let mut set = false;
    let device_moved = admin_seen.insert(no, up) != Some(up);
    for &(i, ofport, config) in ports {
        let Some(b) = sw.bridges.get_mut(i) else {
            continue;
        };
        if b.ports
            .get(&ofport)
            .is_none_or(|p| matches!(p.kind, PortKind::Patch { .. }))
        {
            continue;
        }
        let port_down = config.has(PortConfig::PORT_DOWN);
        if port_down != up {
            continue;
        }
        if device_moved {
            let bit = PortConfig::PORT_DOWN;
            let now = PortConfig(if up { config.0 & !bit } else { config.0 | bit });
            b.set_port_config(ofport, now);
        } else if dev.set_admin_up(!port_down).is_ok() {
            admin_seen.insert(no, !port_down);
            set = true;
        }
    }
    set
}

/// A summary of every bridge's table generation: it changes whenever a bridge's tables do
/// (generations only grow) or the set of bridges does. Cheap, since every upcall takes it.
fn generations(sw: &Switch) -> (usize, u64) {
    let sum = sw
        .bridges
        .iter()
        .fold(0u64, |acc, b| acc.wrapping_add(b.generation()));
    (sw.bridges.len(), sum)
}

/// True when applying `t`'s MAC learning would teach a bridge something new.
fn mac_news(sw: &Switch, t: &Translation, now: Millis) -> bool {
    t.effects.iter().any(|e| match e {
        SideEffect::MacLearn {
            bridge,
            vlan,
            mac,
            port,
        } => sw
            .bridges
            .get(*bridge)
            .is_some_and(|b| b.mac.lookup(*vlan, *mac, now) != Some(*port)),
        _ => false,
    })
}

impl Slow {
    /// Handles one upcall: translates, applies the side effects for this packet (the
    /// packet that missed is counted by the rules here, not by the megaflow), and returns the
    /// megaflow to install.
    pub fn upcall(&mut self, sw: &mut Switch, key: &FlowKey, len: u64, now: Millis) -> Upcall {
        self.stats.upcalls += 1;
        let mut in_port_mask = FlowKey::ZERO;
        in_port_mask.set(Field::InPort.loc(), u128::MAX);
        let Some((b, ofport, consulted)) = owner(sw, key) else {
            self.stats.upcall_no_port += 1;
            // Nothing owns the port (an underlay's own traffic, a port being removed):
            // drop everything from it until the ports change.
            return Upcall::new(Default::default(), in_port_mask.or(&owner_bits(key)));
        };
        let t = translate(&sw.bridges, b, &of_key(key, ofport), now, true);
        let tunnels = tunnel_use(sw, b, ofport, &t.actions);
        TunnelCounters::credit(&mut self.tunnels, &tunnels, 1, len);
        let before = generations(sw);
        if mac_news(sw, &t, now) {
            self.dirty = true;
        }
        sw.apply(&t, len, now);
        if generations(sw) != before {
            self.dirty = true;
        }
        let mask = t
            .megaflow
            .or(&in_port_mask)
            .or(&consulted)
            .or(&always_exact(key));
        self.next_cookie += 1;
        let cookie = self.next_cookie;
        self.cache.insert(
            cookie,
            CacheEntry {
                key: *key,
                effects: t.effects,
                packets: 0,
                bytes: 0,
                tunnels,
            },
        );
        Upcall {
            actions: t.actions,
            mask,
            cookie,
        }
    }

    /// Forgets every cache entry (the datapath's megaflows were flushed).
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// Forgets what the last pass saw of datapath port `no`'s device, which was just added or
    /// removed: a device new on that number is read afresh ([`sync_admin`]).
    pub fn forget_port(&mut self, no: DpPort) {
        self.admin_seen.remove(&no);
    }

    /// Number of cache entries (`udpif keys` in `memory/show`).
    pub fn n_keys(&self) -> usize {
        self.cache.len()
    }

    /// One revalidation pass (see the module docs); `full` forces re-translation. Returns
    /// the rules whose idle or hard timeout expired (with their bridge), for flow-removed
    /// messages.
    pub fn revalidate(
        &mut self,
        dp: &mut Datapath,
        sw: &mut Switch,
        now: Millis,
        full: bool,
    ) -> Vec<(String, Removed)> {
        self.stats.revalidations += 1;
        self.stats.max_flows = self.stats.max_flows.max(dp.n_flows());
        // A link that went down or came up moves its bridge's generation, so the pass below
        // re-translates the megaflows (fast-failover groups choose by it).
        self.link_changes
            .extend(follow_links(dp, sw, &mut self.admin_seen));
        // Rules whose time is up go first, so nothing is credited to them.
        let removed = sw.expire(now);
        if !removed.is_empty() {
            self.dirty = true;
        }
        let flows: Vec<_> = dp
            .megaflows()
            .map(|(id, _, mask, m)| (id, *mask, m.cookie, m.stats, m.created))
            .collect();
        for (id, _, cookie, st, created) in &flows {
            let last = st.used.unwrap_or(*created);
            if now.since(last) >= self.max_idle.0 {
                dp.remove_flow(*id);
                self.cache.remove(cookie);
                self.stats.flows_idle += 1;
                continue;
            }
            let Some(e) = self.cache.get_mut(cookie) else {
                continue;
            };
            let packets = st.packets.saturating_sub(e.packets);
            if packets == 0 {
                continue;
            }
            let bytes = st.bytes.saturating_sub(e.bytes);
            e.packets = st.packets;
            e.bytes = st.bytes;
            TunnelCounters::credit(&mut self.tunnels, &e.tunnels, packets, bytes);
            let used = st.used.unwrap_or(now);
            if replay(sw, &e.effects, packets, bytes, used, now) {
                self.dirty = true;
            }
        }
        self.evict(dp, now);
        let gens = generations(sw);
        if gens != self.generations {
            self.dirty = true;
        }
        if full || self.dirty {
            self.dirty = false;
            self.generations = gens;
            self.stats.full_revalidations += 1;
            // A tunnel interface that is gone starts from zero if it comes back.
            let names: std::collections::HashSet<&str> = sw
                .bridges
                .iter()
                .flat_map(|b| b.ports.values())
                .filter(|p| matches!(p.kind, PortKind::Tunnel(_)))
                .map(|p| p.name.as_str())
                .collect();
            self.tunnels.retain(|n, _| names.contains(n.as_str()));
            self.retranslate(dp, sw, now);
        }
        let live: std::collections::HashSet<u64> =
            dp.megaflows().map(|(_, _, _, m)| m.cookie).collect();
        self.cache.retain(|c, _| live.contains(c));
        removed
    }

    /// Removes the longest-unused megaflows beyond the flow limit, down to nine tenths of it
    /// (so the next pass does not start at the limit again).
    fn evict(&mut self, dp: &mut Datapath, now: Millis) {
        let n = dp.n_flows();
        if n <= self.flow_limit {
            return;
        }
        let keep = self.flow_limit - self.flow_limit / 10;
        let mut flows: Vec<_> = dp
            .megaflows()
            .map(|(id, _, _, m)| (m.stats.used.unwrap_or(m.created), id, m.cookie))
            .collect();
        flows.sort_by_key(|(used, ..)| now.since(*used));
        for (_, id, cookie) in flows.into_iter().skip(keep).collect::<Vec<_>>() {
            dp.remove_flow(id);
            self.cache.remove(&cookie);
            self.stats.flows_evicted += 1;
        }
    }

    fn retranslate(&mut self, dp: &mut Datapath, sw: &Switch, now: Millis) {
        let flows: Vec<_> = dp
            .megaflows()
            .map(|(id, _, mask, m)| (id, *mask, m.cookie, m.actions.clone()))
            .collect();
        for (id, mask, cookie, actions) in flows {
            let Some(e) = self.cache.get_mut(&cookie) else {
                // Not made by this slow path (cannot happen today): it cannot be checked.
                dp.remove_flow(id);
                self.stats.flows_invalidated += 1;
                continue;
            };
            let Some((b, ofport, consulted)) = owner(sw, &e.key) else {
                dp.remove_flow(id);
                self.cache.remove(&cookie);
                self.stats.flows_invalidated += 1;
                continue;
            };
            let t = translate(&sw.bridges, b, &of_key(&e.key, ofport), now, true);
            let need = t.megaflow.or(&consulted);
            if !need.is_subset_of(&mask) {
                dp.remove_flow(id);
                self.cache.remove(&cookie);
                self.stats.flows_invalidated += 1;
                continue;
            }
            e.effects = t.effects;
            e.tunnels = tunnel_use(sw, b, ofport, &t.actions);
            if t.actions != actions {
                dp.set_flow_actions(id, t.actions, cookie);
                self.stats.flows_updated += 1;
            }
        }
    }

    /// Translation of a packet the datapath handed up with `userspace(...)`: its bridge and
    /// OpenFlow key.
    pub fn userspace_owner(sw: &Switch, key: &FlowKey) -> Option<(String, FlowKey)> {
        let (b, ofport, _) = owner(sw, key)?;
        Some((sw.bridges.get(b)?.name.clone(), of_key(key, ofport)))
    }
}

/// The bits every megaflow matches exactly, as Open vSwitch's do: the EtherType (so a
/// megaflow never mixes protocols whose fields share storage in the key) and, for IP, the
/// fragment bits.
fn always_exact(key: &FlowKey) -> FlowKey {
    let mut m = FlowKey::ZERO;
    m.set(Field::EthType.loc(), u128::MAX);
    if matches!(key.get(Field::EthType.loc()), 0x0800 | 0x86dd) {
        m.set(Field::IpFrag.loc(), u128::MAX);
    }
    m
}

/// The tunnel bits `owner` reads even when it finds nothing.
fn owner_bits(key: &FlowKey) -> FlowKey {
    let mut m = FlowKey::ZERO;
    if key.get(Field::TunDst.loc()) != 0 {
        m.set(Field::TunSrc.loc(), u128::MAX);
        m.set(Field::TunDst.loc(), u128::MAX);
        // A packet refused for its key must not take other keys' packets down with it.
        m.set(Field::TunId.loc(), u128::MAX);
    }
    m
}

/// Credits `packets`/`bytes` to the rules `effects` hit and re-runs its learning; returns
/// true when that taught a bridge something new (a MAC on a new port, a new learned rule).
fn replay(
    sw: &mut Switch,
    effects: &[SideEffect],
    packets: u64,
    bytes: u64,
    used: Millis,
    now: Millis,
) -> bool {
    let mut news = false;
    for e in effects {
        match e {
            SideEffect::RuleHit {
                bridge,
                table,
                rule,
            } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    b.count_lookups(*table, true, packets);
                    if let Some(r) = b.rule_mut(*table, *rule) {
                        r.stats.packets += packets;
                        r.stats.bytes += bytes;
                        r.stats.used = r.stats.used.max(used);
                    }
                }
            }
            SideEffect::TableMiss { bridge, table } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    b.count_lookups(*table, false, packets);
                }
            }
            SideEffect::FailOpenHit { bridge } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    b.count_fail_open(packets, bytes, used);
                }
            }
            SideEffect::InBandHit { bridge, rule } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    b.count_in_band(*rule, packets, bytes);
                }
            }
            SideEffect::GroupHit {
                bridge,
                group,
                bucket,
            } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    b.count_group(*group, *bucket, packets, bytes);
                }
            }
            SideEffect::Learn { bridge, flow_mod } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    let g = b.generation();
                    // As in `Switch::apply`: a refused learn only means nothing is learned.
                    let _ = b.flow_mod(flow_mod, now);
                    news |= b.generation() != g;
                }
            }
            SideEffect::MacLearn {
                bridge,
                vlan,
                mac,
                port,
            } => {
                if let Some(b) = sw.bridges.get_mut(*bridge) {
                    news |= b.mac.learn(*vlan, *mac, *port, used);
                }
            }
        }
    }
    news
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use fvs_pipeline::bridge::{Bridge, FailMode};
    use fvs_pipeline::port::{Port, PortVlan, TunnelConfig};

    use super::*;

    fn gre(ofport: u32, remote: Ipv4Addr, in_key: Option<u64>) -> Port {
        Port {
            ofport: PortNo(ofport),
            name: format!("gre{ofport}"),
            kind: PortKind::Tunnel(TunnelConfig {
                kind: "gre".into(),
                local_ip: Ipv4Addr::UNSPECIFIED.into(),
                remote_ip: remote.into(),
                out_key: in_key,
                df_default: true,
                in_key,
                ttl: 64,
                tos: 0,
                remote_flow: false,
                local_flow: false,
                ttl_inherit: false,
                tos_inherit: false,
                csum: false,
            }),
            vlan: PortVlan::default(),
            dp_port: Some(DpPort(3)),
            config: fvs_pipeline::port::PortConfig::default(),
            state: fvs_pipeline::port::PortState::default(),
        }
    }

    fn packet(remote: Ipv4Addr, tun_id: u64) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set(Field::InPort.loc(), 3);
        k.set(Field::TunSrc.loc(), u128::from(remote.to_bits()));
        k.set(
            Field::TunDst.loc(),
            u128::from(Ipv4Addr::new(10, 0, 1, 31).to_bits()),
        );
        k.set(Field::TunId.loc(), u128::from(tun_id));
        k
    }

    /// A fixed `in_key` receives its key only; a `key=flow` port to the same remote takes
    /// the rest, and without one a packet with another key enters nowhere (Open vSwitch
    /// drops it).
    #[test]
    fn the_receiving_port_is_chosen_by_remote_and_key() {
        let remote = Ipv4Addr::new(10, 0, 1, 21);
        let mut sw = Switch::new();
        let mut b = Bridge::new("br-tun", FailMode::Secure, Millis::ZERO);
        b.add_port(gre(1, remote, Some(5)));
        sw.add_bridge(b);
        let port = |sw: &Switch, k| owner(sw, &packet(remote, k)).map(|(_, p, _)| p.0);
        assert_eq!(port(&sw, 5), Some(1));
        assert_eq!(port(&sw, 6), None);
        let (_, _, consulted) = owner(&sw, &packet(remote, 5)).expect("owned");
        assert_eq!(consulted.get(Field::TunId.loc()), u128::from(u64::MAX));
        assert_eq!(owner(&sw, &packet(Ipv4Addr::new(10, 0, 1, 22), 5)), None);
        if let Some(b) = sw.bridge_mut("br-tun") {
            b.add_port(gre(2, remote, None));
        }
        assert_eq!(port(&sw, 5), Some(1));
        assert_eq!(port(&sw, 6), Some(2));
        // No key on the wire is key 0, which only a keyless (or key=0) or flow port takes.
        if let Some(b) = sw.bridge_mut("br-tun") {
            b.add_port(gre(3, remote, Some(0)));
        }
        assert_eq!(port(&sw, 0), Some(3));
    }

    /// A `remote_ip=flow` port takes packets from remotes no other port names, and sends
    /// wherever the flow says; a port that names the remote wins on both counts.
    #[test]
    fn a_remote_ip_flow_port_is_the_fallback_both_ways() {
        let named = Ipv4Addr::new(10, 0, 1, 21);
        let mut flow_port = gre(2, Ipv4Addr::UNSPECIFIED, None);
        if let PortKind::Tunnel(t) = &mut flow_port.kind {
            t.remote_flow = true;
        }
        let mut sw = Switch::new();
        let mut b = Bridge::new("br-tun", FailMode::Secure, Millis::ZERO);
        b.add_port(gre(1, named, None));
        b.add_port(flow_port);
        sw.add_bridge(b);
        let port = |remote| owner(&sw, &packet(remote, 3)).map(|(_, p, _)| p.0);
        assert_eq!(port(named), Some(1));
        assert_eq!(port(Ipv4Addr::new(10, 0, 1, 99)), Some(2));
        let out = |dst| {
            DpActions(vec![
                DpAction::SetTunnel(fvs_pipeline::dpif::TunnelKey {
                    tun_id: 3,
                    src: Ipv4Addr::UNSPECIFIED.into(),
                    dst,
                    tos: 0,
                    ttl: 64,
                    df: true,
                    key: true,
                    csum: false,
                }),
                DpAction::Output(DpPort(3)),
            ])
        };
        assert_eq!(
            tunnel_use(&sw, 0, PortNo(9), &out(named.into())).tx,
            ["gre1"]
        );
        let elsewhere = out(Ipv4Addr::new(10, 0, 1, 99).into());
        assert_eq!(tunnel_use(&sw, 0, PortNo(9), &elsewhere).tx, ["gre2"]);
    }

    /// Output through a shared vport counts for the port whose remote and key the
    /// `set(tunnel(...))` names; entering on a tunnel port counts for that port.
    #[test]
    fn tunnel_traffic_is_counted_per_interface() {
        let remote = Ipv4Addr::new(10, 0, 1, 21);
        let mut sw = Switch::new();
        let mut b = Bridge::new("br-tun", FailMode::Secure, Millis::ZERO);
        b.add_port(gre(1, remote, Some(5)));
        b.add_port(gre(2, remote, None));
        sw.add_bridge(b);
        let out = |tun_id| {
            DpActions(vec![
                DpAction::SetTunnel(fvs_pipeline::dpif::TunnelKey {
                    tun_id,
                    src: Ipv4Addr::UNSPECIFIED.into(),
                    dst: remote.into(),
                    tos: 0,
                    ttl: 64,
                    df: true,
                    key: true,
                    csum: false,
                }),
                DpAction::Output(DpPort(3)),
            ])
        };
        let u = tunnel_use(&sw, 0, PortNo(2), &out(5));
        assert_eq!(u.rx.as_deref(), Some("gre2"));
        assert_eq!(u.tx, ["gre1"]);
        assert_eq!(tunnel_use(&sw, 0, PortNo(1), &out(7)).tx, ["gre2"]);
        let mut counters = HashMap::new();
        TunnelCounters::credit(&mut counters, &u, 3, 300);
        assert_eq!(counters["gre2"].rx_packets, 3);
        assert_eq!(counters["gre1"].tx_bytes, 300);
        assert_eq!(counters["gre1"].rx_packets, 0);
    }
}
