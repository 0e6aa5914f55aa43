//! Brings the pipeline's bridges and ports in step with the configuration, and computes what
//! to write back to the database (`ofport`, `mac_in_use`, `error`, `datapath_id`, `cur_cfg`).
//!
//! # Invariants
//!
//! - Reconciling is idempotent: applying the same configuration twice changes nothing and
//!   writes nothing the second time. The daemon relies on this, because its own write-back
//!   comes back to it as a database change.
//! - An interface keeps its OpenFlow port number for as long as it exists (and across
//!   restarts, through the `ofport` column it reads back), unless `ofport_request` asks for a
//!   different free number. New numbers are the lowest free from 1, as in Open vSwitch.
//! - The bridge's own interface (the internal one named like the bridge) is `LOCAL`. It is
//!   reconciled after the bridge's other interfaces, because its address may be one of
//!   theirs; addresses and the datapath ID follow [`crate::bridge_mac`]'s rules.
//! - Datapath port numbers are shared by all bridges (one datapath, like Open vSwitch's
//!   userspace datapath). They follow the dummy datapath's choice, which tests written for
//!   Open vSwitch rely on: the number in the device name when there is one and it is free
//!   (plus 100 for names starting with `br`), else the lowest free. Tunnels of one type and
//!   UDP port share one datapath port (`gre_sys`, `vxlan_sys_4789`, `vxlan_sys_4790`, …), as
//!   in Open vSwitch; patch ports have none. Each such vport sends through an underlay
//!   device of its own (`fvs_netdev::tunnel::UnderlayConfig`: protocol and `dst_port`),
//!   numbered from [`UNDERLAY_BASE`] up so the numbers users see follow Open vSwitch's. The
//!   underlay receives on the ports' `local_ip` when they all name the same one, else on
//!   every local address (the slow path still checks each port's `local_ip`).
//! - Tunnel options are read by [`crate::tunnel_config::parse`]: its errors go to the
//!   interface's `error` column, its warnings (and the errors) to the log, once per change of
//!   the options where Open vSwitch repeats them at every reconfiguration
//!   ([`Reconciler::take_warnings`]). Two tunnel ports that would receive the same packets
//!   (same [`TunnelOptions::receive_key`], on any bridge) cannot both exist: the one met
//!   second in a pass (ports that already exist are met first) is refused with Open
//!   vSwitch's `could not add network device NAME to ofproto (File exists)`.
//! - With a datapath attached ([`Reconciler::set_datapath`]), every interface's device is
//!   opened (or reopened when its type or options change) as its port is reconciled, so a
//!   device that cannot be opened is reported in that interface's `error` column at once, and
//!   devices no interface uses any more are closed at the end of the pass. The reconciler
//!   runs under the switch's lock and only *sends* to the datapath thread, never waits for it.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use fvs_flow::PortNo;
use fvs_netdev::tunnel::UnderlayConfig;
use fvs_pipeline::bridge::{Bridge, FailMode};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::port::{Port, PortConfig, PortKind, PortState, PortVlan, VlanId, VlanMode};
use fvs_pipeline::switch::Switch;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::bridge_mac::{self, DummyMacs, Mac};
use crate::config::{BridgeCfg, Config, IfaceCfg, PortCfg};
use crate::datapath::{self, Handle, IfaceType};
use crate::tunnel_config::{self, TunnelOptions};

/// The lowest datapath port number a tunnel underlay device gets.
pub const UNDERLAY_BASE: u32 = 1000;

/// How often a pass runs again while some interface's device could not be opened.
pub const DEVICE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The datapath the reconciler opens devices for (none in unit tests).
#[derive(Default)]
struct DpLink(Option<std::sync::Arc<Handle>>);

impl std::fmt::Debug for DpLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "DpLink(attached)"
        } else {
            "DpLink(none)"
        })
    }
}

/// Each bridge's ports as (OpenFlow port, name, datapath port): when this changes, the
/// datapath's cached translations (which name bridges by position) start again.
type PortSignature = Vec<(String, Vec<(PortNo, String, Option<DpPort>)>)>;

/// The highest OpenFlow port number a port may have (`OFPP_MAX`).
const OFPP_MAX: u32 = 0xff00;

/// What the reconciler remembers between runs.
#[derive(Debug)]
pub struct Reconciler {
    /// Datapath port numbers in use, by device name.
    dp_ports: BTreeMap<String, u32>,
    /// MAC addresses handed out, by interface name.
    macs: BTreeMap<String, [u8; 6]>,
    /// Open vSwitch's dummy device address counter.
    dummy_macs: DummyMacs,
    /// Keys for the random MACs (patch ports, real internal ports other than bridges' own).
    random: std::collections::hash_map::RandomState,
    /// Per bridge, how new OpenFlow port numbers are picked.
    allocators: BTreeMap<String, OfportAllocator>,
    /// Where devices are opened.
    datapath: DpLink,
    /// The ports as the last pass left them.
    signature: PortSignature,
    /// Devices the last pass could not open.
    device_failures: usize,
    /// This pass's reading of every tunnel interface's options, by interface name.
    tunnels: BTreeMap<String, Result<TunnelOptions, String>>,
    /// The options each tunnel interface's warnings were last logged for.
    warned: BTreeMap<String, BTreeMap<String, String>>,
    /// Warnings not yet taken by [`Reconciler::take_warnings`].
    warnings: Vec<String>,
    /// Each tunnel underlay's local address this pass, by underlay name.
    underlay_local: BTreeMap<String, Ipv4Addr>,
    /// Receive keys claimed this pass, and by which interface.
    claimed: std::collections::HashMap<ReceiveKey, String>,
}

/// What two tunnel ports may not share ([`TunnelOptions::receive_key`]).
type ReceiveKey = (
    fvs_packet::tunnel::TunnelProtocol,
    u16,
    std::net::IpAddr,
    std::net::IpAddr,
    fvs_datapath::port::TunnelKeyMode,
);

/// Open vSwitch's way of picking a new OpenFlow port number: a cursor that moves on from the
/// last number picked, so a number just freed is not handed out again at once (flows that
/// still name it would apply to the newcomer). A number freed less than an hour ago is used
/// only when nothing else is free, the longest-freed first. Requested numbers do not move the
/// cursor.
#[derive(Debug, Default)]
struct OfportAllocator {
    cursor: u32,
    freed: BTreeMap<PortNo, Millis>,
}

/// How long a freed OpenFlow port number rests before it is as good as new.
const OFPORT_REST: Millis = Millis(60 * 60 * 1000);

impl OfportAllocator {
    fn pick(&mut self, taken: &BTreeMap<PortNo, Port>, now: Millis) -> Option<PortNo> {
        let mut oldest: Option<(Millis, PortNo)> = None;
        for _ in 1..OFPP_MAX {
            self.cursor = if self.cursor + 1 >= OFPP_MAX {
                1
            } else {
                self.cursor + 1
            };
            let p = PortNo(self.cursor);
            if taken.contains_key(&p) {
                continue;
            }
            match self.freed.get(&p) {
                Some(at) if now.since(*at) < OFPORT_REST.0 => {
                    if oldest.is_none_or(|(t, _)| *at < t) {
                        oldest = Some((*at, p));
                    }
                }
                _ => {
                    self.freed.remove(&p);
                    return Some(p);
                }
            }
        }
        let (_, p) = oldest?;
        self.freed.remove(&p);
        Some(p)
    }
}

impl Default for Reconciler {
    fn default() -> Self {
        Self::new()
    }
}

/// Values to write back for one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IfaceStatus {
    ofport: i64,
    mac: Option<String>,
    error: Option<String>,
}

impl Reconciler {
    /// A reconciler that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            dp_ports: BTreeMap::new(),
            macs: BTreeMap::new(),
            dummy_macs: DummyMacs::default(),
            random: std::collections::hash_map::RandomState::new(),
            allocators: BTreeMap::new(),
            datapath: DpLink::default(),
            signature: Vec::new(),
            device_failures: 0,
            tunnels: BTreeMap::new(),
            warned: BTreeMap::new(),
            warnings: Vec::new(),
            underlay_local: BTreeMap::new(),
            claimed: std::collections::HashMap::new(),
        }
    }

    /// The warnings about tunnel options found since the last call (and the reasons of
    /// refused tunnel ports), for the log.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Reads every tunnel interface's options (warnings are queued when the options changed
    /// since they were last logged) and settles each underlay's local address.
    fn read_tunnels(&mut self, cfg: &Config) {
        self.tunnels.clear();
        self.claimed.clear();
        let mut locals: BTreeMap<String, BTreeSet<Option<Ipv4Addr>>> = BTreeMap::new();
        let ifaces = cfg
            .bridges
            .iter()
            .flat_map(|b| &b.ports)
            .flat_map(|p| &p.ifaces)
            .filter(|i| tunnel_config::protocol(&i.kind).is_some());
        for icfg in ifaces {
            let parsed = tunnel_config::parse(&icfg.name, &icfg.kind, &icfg.options);
            if self.warned.get(&icfg.name) != Some(&icfg.options) {
                // A refused port's reasons are logged too (they are also in its `error`).
                match &parsed {
                    Ok((_, w)) => self.warnings.extend(w.iter().cloned()),
                    Err(e) => self.warnings.extend(e.lines().map(str::to_owned)),
                }
                self.warned.insert(icfg.name.clone(), icfg.options.clone());
            }
            if let Ok((t, _)) = &parsed {
                locals
                    .entry(t.underlay().name())
                    .or_default()
                    .insert(t.local_ipv4());
            }
            self.tunnels
                .insert(icfg.name.clone(), parsed.map(|(t, _)| t));
        }
        self.warned
            .retain(|name, _| self.tunnels.contains_key(name));
        self.underlay_local = locals
            .into_iter()
            .map(|(name, ips)| {
                let ip = match ips.into_iter().collect::<Vec<_>>()[..] {
                    [Some(ip)] => ip,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                (name, ip)
            })
            .collect();
    }

    /// The underlay of tunnel `t`, with its local address as this pass settled it.
    fn underlay_of(&self, t: &TunnelOptions) -> UnderlayConfig {
        let mut u = t.underlay();
        u.local_ip = self
            .underlay_local
            .get(&u.name())
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        u
    }

    /// The tunnel vport (`gre_sys`, `vxlan_sys_4790`, …) interface `name` uses, if it is a
    /// tunnel read without error this pass.
    fn tunnel_device(&self, name: &str) -> Option<String> {
        match self.tunnels.get(name) {
            Some(Ok(t)) => Some(t.underlay().name()),
            _ => None,
        }
    }

    /// True when the last pass could not open some interface's device: another pass may
    /// find it (a veth or TAP made after its port was added).
    pub fn wants_retry(&self) -> bool {
        self.device_failures > 0
    }

    /// Opens interfaces' devices in `datapath` from now on.
    pub fn set_datapath(&mut self, datapath: Option<std::sync::Arc<Handle>>) {
        self.datapath = DpLink(datapath);
    }

    /// Brings `switch` in step with `cfg`; returns the transaction operations that record
    /// the outcome (empty when the database already says it all).
    pub fn apply(&mut self, cfg: &Config, switch: &mut Switch, now: Millis) -> Vec<Value> {
        self.device_failures = 0;
        self.read_tunnels(cfg);
        let wanted: BTreeSet<&str> = cfg.bridges.iter().map(|b| b.name.as_str()).collect();
        switch.bridges.retain(|b| wanted.contains(b.name.as_str()));
        self.allocators
            .retain(|name, _| wanted.contains(name.as_str()));
        let mut ops = Vec::new();
        for bcfg in &cfg.bridges {
            if switch.bridge(&bcfg.name).is_none() {
                switch.add_bridge(Bridge::new(&bcfg.name, fail_mode(bcfg), now));
                self.dummy_macs.bridge_made(&bcfg.name);
            }
            if let Some(bridge) = switch.bridge_mut(&bcfg.name) {
                bridge.fail_mode = fail_mode(bcfg);
                let statuses = self.reconcile_bridge(bcfg, bridge, now);
                if let Some(mac) = self.macs.get(&bcfg.name).copied() {
                    let rules = crate::in_band::rules_for(bcfg, &cfg.managers, mac, now);
                    bridge.set_in_band(rules);
                }
                ops.extend(write_back_bridge(bcfg, &statuses, self.datapath_id(bcfg)));
            }
        }
        self.release_dp_ports(switch);
        self.sync_datapath(cfg, switch);
        if let Some(root) = cfg.root {
            let mut row = serde_json::Map::new();
            if cfg.cur_cfg != cfg.next_cfg {
                row.insert("cur_cfg".into(), json!(cfg.next_cfg));
            }
            let version = env!("CARGO_PKG_VERSION");
            if cfg.ovs_version.as_deref() != Some(version) {
                row.insert("ovs_version".into(), json!(version));
            }
            if !row.is_empty() {
                ops.push(update("Open_vSwitch", root, row));
            }
        }
        ops
    }

    fn reconcile_bridge(
        &mut self,
        bcfg: &BridgeCfg,
        bridge: &mut Bridge,
        now: Millis,
    ) -> Vec<(Uuid, IfaceStatus)> {
        let old: BTreeMap<String, PortNo> = bridge
            .ports
            .values()
            .map(|p| (p.name.clone(), p.ofport))
            .collect();
        let mut ports: BTreeMap<PortNo, Port> = BTreeMap::new();
        let mut statuses = Vec::new();
        // Interfaces that keep their number first, so a newcomer cannot take it: those the
        // bridge has, and those the database has numbered (after a restart the bridge has
        // none, and a port added just before the restart must not take a recorded number).
        let mut order: Vec<(&PortCfg, &IfaceCfg)> = bcfg
            .ports
            .iter()
            .flat_map(|p| p.ifaces.iter().map(move |i| (p, i)))
            .collect();
        // The bridge's own interface last: its address may be one of the others'.
        // New interfaces that request a number go first, as in Open vSwitch (which numbers
        // their dummy devices first too).
        order.sort_by_key(|(_, i)| {
            (
                i.name == bcfg.name,
                !(old.contains_key(&i.name) || i.ofport.is_some_and(|n| n > 0)),
                i.ofport_request.is_none(),
            )
        });
        for (pcfg, icfg) in order {
            let status = match self.port(bcfg, pcfg, icfg, &old, &ports, now) {
                Ok(mut port) => {
                    // Port-mods and the link's state outlive reconfigurations; a port that
                    // left starts afresh (and its link is read again within a revalidation).
                    if let Some(was) = bridge.port_by_name(&port.name) {
                        port.config = was.config;
                        port.state = was.state;
                    }
                    let status = IfaceStatus {
                        ofport: db_ofport(port.ofport),
                        mac: self.macs.get(&icfg.name).map(|m| bridge_mac::text(*m)),
                        error: None,
                    };
                    ports.insert(port.ofport, port);
                    status
                }
                Err(error) => IfaceStatus {
                    ofport: -1,
                    mac: None,
                    error: Some(error),
                },
            };
            statuses.push((icfg.uuid, status));
        }
        for (name, ofport) in &old {
            if !ports.values().any(|p| p.name == *name) {
                bridge.mac.flush_port(*ofport);
                if *ofport != PortNo::LOCAL {
                    self.allocators
                        .entry(bcfg.name.clone())
                        .or_default()
                        .freed
                        .insert(*ofport, now);
                }
            }
        }
        bridge.ports = ports;
        self.dummy_macs.settle(&bcfg.name);
        statuses
    }

    /// The pipeline port for one interface, or the text of its `error` column.
    fn port(
        &mut self,
        bcfg: &BridgeCfg,
        pcfg: &PortCfg,
        icfg: &IfaceCfg,
        old: &BTreeMap<String, PortNo>,
        taken: &BTreeMap<PortNo, Port>,
        now: Millis,
    ) -> Result<Port, String> {
        let name = &icfg.name;
        let kind = match icfg.kind.as_str() {
            "" | "system" | "dummy" | "dummy-pmd" | "tap" => PortKind::System,
            "internal" => PortKind::Internal,
            "patch" => match icfg.options.get("peer") {
                Some(peer) if !peer.is_empty() && peer != name => {
                    PortKind::Patch { peer: peer.clone() }
                }
                _ => return Err(format!("{name}: patch type requires valid 'peer' argument")),
            },
            "gre" | "ip6gre" | "vxlan" | "geneve" => {
                let t = match self.tunnels.get(name) {
                    Some(Ok(t)) => t,
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Err(format!("{name}: tunnel options not read")),
                };
                let key = t.receive_key();
                match self.claimed.get(&key) {
                    Some(other) if other != name => {
                        return Err(format!(
                            "could not add network device {name} to ofproto (File exists)"
                        ));
                    }
                    _ => {}
                }
                self.claimed.insert(key, name.clone());
                PortKind::Tunnel(t.pipeline_config())
            }
            _ => {
                return Err(format!(
                    "could not open network device {name} (Address family not supported by protocol)"
                ));
            }
        };
        let ofport = if *name == bcfg.name && kind == PortKind::Internal {
            PortNo::LOCAL
        } else {
            let allocator = self.allocators.entry(bcfg.name.clone()).or_default();
            choose_ofport(icfg, old.get(name).copied(), taken)
                .or_else(|| allocator.pick(taken, now))
                .ok_or_else(|| format!("{name}: no free OpenFlow port number"))?
        };
        let dp_port = match &kind {
            PortKind::Patch { .. } => None,
            PortKind::Tunnel(_) => {
                let dev = self.tunnel_device(name).unwrap_or_default();
                Some(self.dp_port(&dev))
            }
            _ => Some(self.dp_port(name)),
        };
        if ofport == PortNo::LOCAL {
            let mac = self.local_mac(bcfg);
            self.macs.insert(name.clone(), mac);
        } else if !self.macs.contains_key(name) {
            let mac = icfg
                .mac_in_use
                .as_deref()
                .and_then(bridge_mac::parse)
                .unwrap_or_else(|| self.new_mac(bcfg, icfg, &kind));
            self.macs.insert(name.clone(), mac);
        }
        if let Some(no) = dp_port
            && let Err(e) = self.open_device(icfg, &kind, no)
        {
            self.device_failures += 1;
            return Err(e);
        }
        Ok(Port {
            ofport,
            name: name.clone(),
            kind,
            vlan: vlan(pcfg),
            dp_port: dp_port.map(DpPort),
            config: PortConfig::default(),
            state: PortState::default(),
        })
    }

    /// Closes devices no interface uses, tells the datapath what changed, and records each
    /// interface's type and options for `dpif/show`.
    fn sync_datapath(&mut self, cfg: &Config, switch: &Switch) {
        let signature: PortSignature = switch
            .bridges
            .iter()
            .map(|b| {
                let ports = b
                    .ports
                    .values()
                    .map(|p| (p.ofport, p.name.clone(), p.dp_port))
                    .collect();
                (b.name.clone(), ports)
            })
            .collect();
        let changed = signature != self.signature;
        self.signature = signature;
        let Some(dp) = &self.datapath.0 else {
            return;
        };
        let live: BTreeSet<String> = switch
            .bridges
            .iter()
            .flat_map(|b| b.ports.values())
            .filter_map(|p| match &p.kind {
                PortKind::Patch { .. } => None,
                PortKind::Tunnel(_) => self.tunnel_device(&p.name),
                _ => Some(p.name.clone()),
            })
            .collect();
        dp.retain_ports(&live, changed);
        let ifaces: BTreeMap<String, IfaceType> = cfg
            .bridges
            .iter()
            .flat_map(|b| &b.ports)
            .flat_map(|p| &p.ifaces)
            .map(|i| (i.name.clone(), (i.kind.clone(), i.options.clone())))
            .collect();
        dp.describe(ifaces);
        let bridges: BTreeMap<String, String> = cfg
            .bridges
            .iter()
            .flat_map(|b| {
                b.ports
                    .iter()
                    .flat_map(|p| &p.ifaces)
                    .map(|i| (i.name.clone(), b.name.clone()))
            })
            .collect();
        dp.set_bridges(bridges);
        dp.refresh_native();
    }

    /// Opens (or checks) the device behind interface `icfg` as datapath port `dp_port`.
    fn open_device(
        &mut self,
        icfg: &IfaceCfg,
        kind: &PortKind,
        dp_port: u32,
    ) -> Result<(), String> {
        let Some(dp) = self.datapath.0.clone() else {
            return Ok(());
        };
        let name = &icfg.name;
        match kind {
            PortKind::Patch { .. } => Ok(()),
            PortKind::Tunnel(_) => {
                let Some(Ok(t)) = self.tunnels.get(name) else {
                    return Err(format!("{name}: tunnel options not read"));
                };
                let config = self.underlay_of(t);
                let dev = config.name();
                let underlay = self.underlay_port(&datapath::underlay_name(&dev));
                dp.ensure_tunnel(&dev, DpPort(dp_port), config, DpPort(underlay))
            }
            _ => {
                let mac = self.macs.get(name).copied();
                let found =
                    dp.ensure_port(name, DpPort(dp_port), &icfg.kind, &icfg.options, mac)?;
                if let Some(m) = found {
                    self.macs.insert(name.clone(), m);
                }
                Ok(())
            }
        }
    }

    /// The datapath port of a tunnel's underlay device, allocated from [`UNDERLAY_BASE`].
    fn underlay_port(&mut self, name: &str) -> u32 {
        if let Some(n) = self.dp_ports.get(name) {
            return *n;
        }
        let used: BTreeSet<u32> = self.dp_ports.values().copied().collect();
        let n = (UNDERLAY_BASE..)
            .find(|n| !used.contains(n))
            .unwrap_or(u32::MAX);
        self.dp_ports.insert(name.to_owned(), n);
        n
    }

    /// The datapath port of device `name`, allocated on first use.
    fn dp_port(&mut self, name: &str) -> u32 {
        if let Some(n) = self.dp_ports.get(name) {
            return *n;
        }
        let used: BTreeSet<u32> = self.dp_ports.values().copied().collect();
        let digits: String = name
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        let offset = if name.starts_with("br") { 100 } else { 0 };
        let from_name = digits
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_add(offset))
            .filter(|n| *n > 0 && *n != u32::MAX && !used.contains(n));
        let n = from_name.unwrap_or_else(|| (1..).find(|n| !used.contains(n)).unwrap_or(u32::MAX));
        self.dp_ports.insert(name.to_owned(), n);
        n
    }

    /// Frees the datapath ports of devices no bridge has any more.
    fn release_dp_ports(&mut self, switch: &Switch) {
        let live: BTreeSet<String> = switch
            .bridges
            .iter()
            .flat_map(|b| b.ports.values())
            .flat_map(|p| match (&p.kind, self.tunnel_device(&p.name)) {
                (PortKind::Tunnel(_), Some(dev)) => vec![datapath::underlay_name(&dev), dev],
                (PortKind::Tunnel(_), None) => Vec::new(),
                _ => vec![p.name.clone()],
            })
            .collect();
        self.dp_ports.retain(|name, _| live.contains(name));
        let names: BTreeSet<String> = switch
            .bridges
            .iter()
            .flat_map(|b| b.ports.values().map(|p| p.name.clone()))
            .collect();
        self.macs.retain(|name, _| names.contains(name));
    }

    /// A MAC for a new interface other than a bridge's own ([`bridge_mac`]): patch ports
    /// get a random one; everything else that is a dummy device takes the next dummy
    /// address, and real internal ports (TAP devices) a random one. A real device's own
    /// address replaces what this gives when the device is opened.
    fn new_mac(&mut self, bcfg: &BridgeCfg, icfg: &IfaceCfg, kind: &PortKind) -> Mac {
        let dummy = self.dummy_devices();
        match kind {
            PortKind::Patch { .. } => self.random_mac(&icfg.name),
            PortKind::Internal if !dummy => self.random_mac(&icfg.name),
            _ => self
                .dummy_macs
                .take(&bcfg.name, icfg.ofport_request.is_some()),
        }
    }

    /// True when devices are dummies (`--enable-dummy`, or no datapath at all).
    fn dummy_devices(&self) -> bool {
        self.datapath.0.as_ref().is_none_or(|d| d.enable_dummy())
    }

    fn random_mac(&self, name: &str) -> Mac {
        let mut h = self.random.build_hasher();
        h.write(name.as_bytes());
        bridge_mac::random(h.finish())
    }

    /// The address of bridge `bcfg`'s own interface `icfg` ([`bridge_mac::bridge_mac`]), from
    /// the addresses its other ports got earlier in this pass. It is worked out again at
    /// every pass, so `hwaddr` and the ports coming and going change it; the datapath sets
    /// a new one on the open device in place (the host's addresses and routes on it stay).
    fn local_mac(&self, bcfg: &BridgeCfg) -> Mac {
        let default = bridge_mac::from_uuid(bcfg.uuid);
        let ports = bcfg
            .ports
            .iter()
            .filter_map(|p| p.ifaces.iter().min_by(|a, b| a.name.cmp(&b.name)))
            .filter(|i| i.name != bcfg.name)
            .filter_map(|i| self.macs.get(&i.name).copied());
        bridge_mac::bridge_mac(
            bcfg.other_config.get("hwaddr").map(String::as_str),
            ports,
            default,
        )
    }

    /// The MAC address handed to interface `name`, if it has one.
    pub fn mac(&self, name: &str) -> Option<[u8; 6]> {
        self.macs.get(name).copied()
    }

    /// `datapath_id` as the database shows it ([`bridge_mac::datapath_id`]), once the bridge
    /// has an address.
    pub fn datapath_id(&self, bcfg: &BridgeCfg) -> Option<String> {
        let mac = self.macs.get(&bcfg.name).copied()?;
        let configured = bcfg.other_config.get("datapath-id").map(String::as_str);
        Some(format!("{:016x}", bridge_mac::datapath_id(configured, mac)))
    }
}

/// The `ofport` column holds OpenFlow 1.0's 16-bit numbers: `LOCAL` is 65534 there.
fn db_ofport(p: PortNo) -> i64 {
    if p == PortNo::LOCAL {
        0xfffe
    } else {
        i64::from(p.0)
    }
}

fn fail_mode(b: &BridgeCfg) -> FailMode {
    match b.fail_mode.as_deref() {
        Some("secure") => FailMode::Secure,
        _ => FailMode::Standalone,
    }
}

/// The number for an interface, if it is not to be allocated afresh: the request when it is
/// free, else the one it has, else the one the database last recorded (after a restart).
fn choose_ofport(
    icfg: &IfaceCfg,
    current: Option<PortNo>,
    taken: &BTreeMap<PortNo, Port>,
) -> Option<PortNo> {
    let usable = |n: i64| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..OFPP_MAX).contains(n))
            .map(PortNo)
            .filter(|p| !taken.contains_key(p))
    };
    icfg.ofport_request
        .and_then(usable)
        .or_else(|| current.filter(|p| p.0 < OFPP_MAX && !taken.contains_key(p)))
        .or_else(|| icfg.ofport.and_then(usable))
}

fn vlan(p: &PortCfg) -> PortVlan {
    let vid = |n: i64| u16::try_from(n).ok().and_then(VlanId::new);
    let tag = p.tag.and_then(vid);
    let trunks: Vec<VlanId> = p.trunks.iter().copied().filter_map(vid).collect();
    let mode = match (p.vlan_mode.as_deref(), tag) {
        (Some("trunk"), _) => VlanMode::Trunk,
        (Some("native-tagged"), Some(_)) => VlanMode::NativeTagged,
        (Some("native-untagged"), Some(_)) => VlanMode::NativeUntagged,
        (Some("access") | None, Some(_)) => VlanMode::Access,
        _ => VlanMode::Trunk,
    };
    PortVlan { mode, tag, trunks }
}

fn optional(v: Option<&String>) -> Value {
    match v {
        Some(s) => json!(s),
        None => json!(["set", []]),
    }
}

fn update(table: &str, uuid: Uuid, row: serde_json::Map<String, Value>) -> Value {
    json!({
        "op": "update",
        "table": table,
        "where": [["_uuid", "==", ["uuid", uuid.to_string()]]],
        "row": row,
    })
}

/// The updates that make the database say what was done; none for rows already right.
fn write_back_bridge(
    bcfg: &BridgeCfg,
    statuses: &[(Uuid, IfaceStatus)],
    dpid: Option<String>,
) -> Vec<Value> {
    let mut ops = Vec::new();
    let ifaces: BTreeMap<Uuid, &IfaceCfg> = bcfg
        .ports
        .iter()
        .flat_map(|p| p.ifaces.iter().map(|i| (i.uuid, i)))
        .collect();
    for (uuid, st) in statuses {
        let Some(icfg) = ifaces.get(uuid) else {
            continue;
        };
        let mut row = serde_json::Map::new();
        if icfg.ofport != Some(st.ofport) {
            row.insert("ofport".into(), json!(st.ofport));
        }
        if icfg.mac_in_use != st.mac {
            row.insert("mac_in_use".into(), optional(st.mac.as_ref()));
        }
        if icfg.error != st.error {
            row.insert("error".into(), optional(st.error.as_ref()));
        }
        if !row.is_empty() {
            ops.push(update("Interface", *uuid, row));
        }
    }
    if dpid.is_some() && bcfg.datapath_id != dpid {
        let mut row = serde_json::Map::new();
        row.insert("datapath_id".into(), optional(dpid.as_ref()));
        ops.push(update("Bridge", bcfg.uuid, row));
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, kind: &str, options: &[(&str, &str)]) -> IfaceCfg {
        IfaceCfg {
            uuid: Uuid::from_u128(name.len() as u128 * 7 + kind.len() as u128),
            name: name.into(),
            kind: kind.into(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ofport_request: None,
            ofport: None,
            mac_in_use: None,
            error: None,
        }
    }

    fn port(name: &str, kind: &str, options: &[(&str, &str)]) -> PortCfg {
        PortCfg {
            name: name.into(),
            tag: None,
            trunks: Vec::new(),
            vlan_mode: None,
            ifaces: vec![iface(name, kind, options)],
        }
    }

    fn bridge(name: &str, ports: Vec<PortCfg>) -> BridgeCfg {
        BridgeCfg {
            uuid: Uuid::from_u128(1),
            name: name.into(),
            fail_mode: None,
            other_config: BTreeMap::new(),
            datapath_id: None,
            protocols: Vec::new(),
            ports,
            controllers: Vec::new(),
        }
    }

    #[test]
    fn dummy_datapath_numbers_come_from_names() {
        let mut r = Reconciler::new();
        assert_eq!(r.dp_port("br-int"), 1);
        assert_eq!(r.dp_port("qvo37b25c08-e8"), 37);
        assert_eq!(r.dp_port("br1"), 101);
        assert_eq!(r.dp_port("x37"), 2);
        assert_eq!(r.dp_port("br-int"), 1);
    }

    #[test]
    fn a_patch_port_without_peer_gets_an_error_and_no_number() {
        let mut r = Reconciler::new();
        let mut sw = Switch::new();
        let cfg = Config {
            bridges: vec![bridge(
                "br0",
                vec![port("br0", "internal", &[]), port("p", "patch", &[])],
            )],
            ..Config::default()
        };
        let ops = r.apply(&cfg, &mut sw, Millis::ZERO);
        let text = serde_json::to_string(&ops).unwrap_or_default();
        assert!(
            text.contains("p: patch type requires valid 'peer' argument"),
            "{text}"
        );
        assert!(text.contains("\"ofport\":-1"), "{text}");
        assert!(text.contains("\"ofport\":65534"), "{text}");
        let b = sw.bridge("br0");
        assert_eq!(b.map(|b| b.ports.len()), Some(1));
    }

    /// Tunnel ports: a second port for the same traffic is refused as Open vSwitch refuses
    /// it, a VXLAN port on another UDP port gets a vport of its own, and warnings are
    /// logged once per change of the options.
    #[test]
    fn tunnel_ports_are_read_checked_and_grouped() {
        let mut r = Reconciler::new();
        let mut sw = Switch::new();
        let cfg = Config {
            bridges: vec![bridge(
                "br0",
                vec![
                    port(
                        "a",
                        "gre",
                        &[("remote_ip", "10.0.0.1"), ("key", "5"), ("foo", "1")],
                    ),
                    port("bb", "gre", &[("remote_ip", "10.0.0.1"), ("in_key", "5")]),
                    port(
                        "ccc",
                        "vxlan",
                        &[("remote_ip", "10.0.0.1"), ("dst_port", "4790")],
                    ),
                    port("dddd", "vxlan", &[("remote_ip", "10.0.0.1")]),
                ],
            )],
            ..Config::default()
        };
        let ops = r.apply(&cfg, &mut sw, Millis::ZERO);
        let text = serde_json::to_string(&ops).unwrap_or_default();
        assert!(
            text.contains("could not add network device bb to ofproto (File exists)"),
            "{text}"
        );
        assert_eq!(r.take_warnings(), ["a: unknown gre argument 'foo'"]);
        let dp = |sw: &Switch, n: &str| {
            sw.bridge("br0")
                .and_then(|b| b.port_by_name(n))
                .and_then(|p| p.dp_port)
        };
        assert!(dp(&sw, "ccc").is_some() && dp(&sw, "ccc") != dp(&sw, "dddd"));
        assert!(r.dp_ports.contains_key("vxlan_sys_4790"));
        assert!(r.dp_ports.contains_key("vxlan_sys_4789"));
        let b = sw.bridge("br0").and_then(|b| b.port_by_name("a"));
        match b.map(|p| &p.kind) {
            Some(PortKind::Tunnel(t)) => assert!(t.accepts_key(5) && !t.accepts_key(6)),
            other => panic!("{other:?}"),
        }
        r.apply(&cfg, &mut sw, Millis::ZERO);
        assert!(r.take_warnings().is_empty());
    }

    #[test]
    fn numbers_are_kept_and_requests_honoured() {
        let mut r = Reconciler::new();
        let mut sw = Switch::new();
        let mut cfg = Config {
            bridges: vec![bridge("br0", vec![port("a", "", &[]), port("b", "", &[])])],
            ..Config::default()
        };
        r.apply(&cfg, &mut sw, Millis::ZERO);
        let no = |sw: &Switch, n: &str| {
            sw.bridge("br0")
                .and_then(|b| b.port_by_name(n))
                .map(|p| p.ofport.0)
        };
        assert_eq!((no(&sw, "a"), no(&sw, "b")), (Some(1), Some(2)));
        cfg.bridges[0].ports.remove(0);
        let mut c = port("c", "", &[]);
        c.ifaces[0].ofport_request = Some(10);
        cfg.bridges[0].ports.push(c);
        cfg.bridges[0].ports.push(port("d", "", &[]));
        r.apply(&cfg, &mut sw, Millis::ZERO);
        // `a`'s number rests; `d` takes the next after the last one picked.
        assert_eq!(
            (no(&sw, "b"), no(&sw, "c"), no(&sw, "d")),
            (Some(2), Some(10), Some(3))
        );
    }

    #[test]
    fn after_a_restart_a_newcomer_does_not_take_a_recorded_number() {
        // A fresh reconciler (a restarted daemon) whose database numbered `b` 1 and has `a`,
        // added just before the crash, not yet numbered; `a` comes first in the rows.
        let mut r = Reconciler::new();
        let mut sw = Switch::new();
        let mut b = port("b", "", &[]);
        b.ifaces[0].ofport = Some(1);
        let cfg = Config {
            bridges: vec![bridge("br0", vec![port("a", "", &[]), b])],
            ..Config::default()
        };
        r.apply(&cfg, &mut sw, Millis::ZERO);
        let no = |n: &str| {
            sw.bridge("br0")
                .and_then(|b| b.port_by_name(n))
                .map(|p| p.ofport.0)
        };
        assert_eq!((no("b"), no("a")), (Some(1), Some(2)));
    }
}
