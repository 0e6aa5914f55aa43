//! `fvs-datapath`: the fast path. Packets arrive in batches, are keyed, looked up in an
//! exact-match cache and then a megaflow cache, and the cached datapath actions run on them;
//! a miss asks the slow path (an *upcall*) for the actions and the mask that makes them valid,
//! and installs the result as a megaflow.
//!
//! # Journey of a packet
//!
//! [`Datapath::process_batch`] takes a received batch and, for each packet:
//!
//! 1. **Tunnel receive.** On a port that some tunnel vport uses as its underlay, a frame that
//!    decapsulates (`fvs_packet::tunnel::decapsulate`) to a vport's protocol, addresses and
//!    key loses its outer headers (the buffer's start moves; nothing is copied) and enters on
//!    the vport, with its tunnel metadata. An outer Congestion Experienced mark is copied
//!    inside, or drops a packet that is not ECN-capable (RFC 6040, as Open vSwitch does).
//! 2. **Key.** `fvs_flow::extract::extract` computes the flow key; `in_port` is the
//!    *datapath* port number.
//! 3. **Exact-match cache** ([`emc`]): one hash, one slot, one full-key compare.
//! 4. **Megaflow cache**: a `fvs_classifier::Classifier` at a single priority, one subtable
//!    per mask; a hit is remembered in the exact-match cache.
//! 5. **Upcall** on a miss: the caller's closure gets the key and the packet and returns an
//!    [`Upcall`] (datapath actions and the megaflow mask). The megaflow `key & mask` is
//!    installed and the actions run on the packet. As in Open vSwitch, the packet that caused
//!    the upcall is not counted in the megaflow's statistics (the slow path counts it).
//! 6. **Actions** (the `execute` module): header rewrites in place (with incremental checksums),
//!    VLAN push/pop, `set(tunnel(...))`, outputs. An output copies the packet as it is now
//!    into the output port's batch (the last action of a packet moves its buffer there
//!    instead, when the buffers are the same size: no copy of a 64 KiB super-frame); output
//!    to a tunnel vport encapsulates that copy in its headroom (with the GRE or UDP checksum
//!    when `set(tunnel(...))` says `csum`) and queues it on the vport's underlay port.
//!    `meter(N)` charges a token bucket the datapath threads share ([`meter`]); when its
//!    drop band drops the packet, no later action sees it. `userspace(...)` copies the packet
//!    (each segment of a super-frame on its own) to a queue the control plane drains
//!    ([`Datapath::take_userspace`]). When the whole input batch is done, every output batch
//!    is sent with one `send_batch`.
//! 7. **Offloads** ([`offload`]): a TSO/GSO super-frame or a partial checksum (the packet's
//!    virtio-net header) is copied as it is to a device that carries virtio-net headers; for
//!    any other device, a tunnel, or `trunc`, the copy is segmented and checksummed in
//!    software first, so nothing unfinished reaches a wire. The other way, TCP segments
//!    that arrived through a tunnel and go to a device with virtio-net headers are
//!    coalesced into super-frames ([`gro`]).
//! 8. **Native tunnels** ([`native`]): output to a tunnel vport whose destination the control
//!    plane marked native encapsulates with the next hop's addresses and queues the outer
//!    frame (IPv4 or IPv6) to re-enter on a bridge's internal port (whose bridge sends it
//!    out of the NIC), asking by ARP or neighbour discovery for a next hop it cannot reach;
//!    a tunnel packet output to such an internal port re-enters on the vport's underlay
//!    instead of reaching the host. The re-entry queue is drained before the batch's output
//!    is sent, a bounded number of passes, so a loop is dropped and counted, never spun.
//!    VXLAN and Geneve outer packets of one flow queued one after the other join into one
//!    `GSO_UDP_L4` frame (a run) when the bridge will output it whole to a device with
//!    virtio-net headers; such frames output to an endpoint are split into their datagrams.
//!    The pairs of megaflows a native tunnel packet crosses ([`chain`]) are what kernel
//!    offload turns into filters that push or strip the outer header themselves.
//!
//! # Rules the fast path keeps
//!
//! - **No allocation per packet** on a cache hit: output batches and the exact-match cache
//!   are allocated when a port or the datapath is made, and encapsulation writes into the
//!   headroom. Upcalls, installs and `userspace` copies allocate: they are the slow path.
//! - **No blocking, no shared lock.** A `Datapath` is owned by one thread and changed through
//!   `&mut self`; the control plane talks to it through the upcall closure, the userspace
//!   queue and the maintenance calls ([`Datapath::flush`], [`Datapath::revalidate`]) made by
//!   the thread that owns it between batches.
//! - **Never panics on a packet.** A frame that cannot be keyed keys as far as it parses; a
//!   rewrite that does not fit leaves the packet alone and is counted in
//!   [`DatapathStats::failed_actions`].
//!
//! # Time
//!
//! The datapath reads no clock: [`Datapath::set_now`] tells it the time, which stamps
//! megaflows' `used` and is what [`Datapath::dump_flows`] measures ages against.
//!
//! # Not done yet
//!
//! Threads and polling (the daemon, `fvs-vswitchd`, runs one datapath per thread, each with
//! every port and its own caches, the devices shared between them), SCTP port rewrites
//! (CRC32c), Geneve options on send, IPv6 rewrites, MPLS, `recirc`, and the `dump_flows`
//! text of
//! IPv6, ND and MPLS keys (printed as far as `eth_type`).

pub mod chain;
pub mod emc;
mod execute;
mod gro;
pub mod meter;
pub mod native;
pub mod offload;
pub mod port;
pub mod text;

use crate::emc::{Emc, hash_key};
use crate::native::{Delivered, Native, NativeConfig, NativeHop, Recirc, Snooped};
use crate::port::{PortKind, TunnelVport};
use fvs_classifier::{Classifier, RuleId};
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_netdev::{Netdev, Packet, PacketBatch};
use fvs_packet::tunnel::{TunnelMetadata, TunnelPorts, decapsulate};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort, TunnelKey};
use std::collections::VecDeque;
use std::net::IpAddr;

/// Packets per output batch.
pub const OUTPUT_BATCH: usize = 32;
/// Largest frame an output batch slot holds (a jumbo frame plus tunnel headers).
pub const MAX_FRAME: usize = 9216 + 128;
/// An Ethernet header's length: the shortest frame the datapath switches.
const ETH_HEADER_LEN: usize = 14;
/// The "tag present" bit of the flow key's `vlan_tci`.
const VLAN_PRESENT: u128 = 0x1000;
/// Packets the userspace queue holds before new ones are dropped (and counted).
pub const USERSPACE_QUEUE: usize = 1024;

/// What the slow path answers to an upcall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upcall {
    /// What to do with packets of this megaflow.
    pub actions: DpActions,
    /// The bits of the key that decided the actions (1 = significant).
    pub mask: FlowKey,
    /// An opaque number the slow path chooses and gets back with the megaflow
    /// ([`Megaflow::cookie`]): the handle of whatever it remembers about the translation
    /// (its side effects, for statistics and learning on cached packets).
    pub cookie: u64,
}

impl Upcall {
    /// An answer with cookie 0.
    pub fn new(actions: DpActions, mask: FlowKey) -> Self {
        Self {
            actions,
            mask,
            cookie: 0,
        }
    }
}

/// The handle of one installed megaflow; it stops resolving once the megaflow is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowId(RuleId);

/// Statistics of one megaflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets that hit it.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When it was last hit (`None`: never).
    pub used: Option<Millis>,
    /// The TCP flags of every TCP packet that hit it, ORed (`flags:` in the dump).
    pub tcp_flags: u16,
}

/// A cached megaflow's value: its actions and statistics (the masked key and the mask are the
/// classifier rule's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Megaflow {
    /// The datapath actions.
    pub actions: DpActions,
    /// Hits since it was installed.
    pub stats: FlowStats,
    /// The slow path's cookie from the upcall that installed it.
    pub cookie: u64,
    /// When it was installed (the datapath's time then).
    pub created: Millis,
}

/// Datapath-wide counters (`dpif/show`'s `hit` and `missed`, and more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatapathStats {
    /// Packets that hit the exact-match cache.
    pub emc_hits: u64,
    /// Packets that missed it but hit a megaflow.
    pub megaflow_hits: u64,
    /// Packets that went to the slow path.
    pub missed: u64,
    /// `userspace` packets dropped because the queue was full.
    pub lost: u64,
    /// Actions that did not fit their packet (see the crate docs).
    pub failed_actions: u64,
    /// Packets that arrived on a port number with no port.
    pub no_port: u64,
    /// Frames too short for an Ethernet header (runts), dropped on receive, before or after
    /// decapsulation (`datapath_drop_rx_invalid_packet`, as Open vSwitch counts them).
    pub invalid: u64,
    /// GSO super-frames segmented in software (for a device without offloads or a tunnel).
    pub soft_segmented: u64,
    /// Partial checksums completed in software.
    pub soft_checksummed: u64,
    /// Packets dropped because their pending offloads could not be finished in software
    /// ([`offload::OffloadError`]).
    pub offload_dropped: u64,
    /// Tunnel packets dropped on receive: marked Congestion Experienced outside, not
    /// ECN-capable inside (`execute::decap_ecn`).
    pub ecn_dropped: u64,
    /// TCP segments from a tunnel appended to the super-frame queued before them ([`gro`]).
    pub coalesced: u64,
    /// Outer packets a native tunnel sent into a bridge ([`native`]).
    pub native_sent: u64,
    /// Tunnel packets taken from a bridge's internal port instead of the host ([`native`]).
    pub native_received: u64,
    /// Packets for a native tunnel dropped because the next hop's MAC is not known yet (an
    /// ARP request went out for it).
    pub native_no_neighbour: u64,
    /// Tunnel packets taken from a bridge's internal port and dropped because what they
    /// carry is shorter than an Ethernet header (the host's underlay counts the same packets
    /// in its `rx_errors`).
    pub native_malformed: u64,
    /// Packets dropped because the re-entry queue was full or they kept re-entering (a
    /// loop).
    pub recirc_dropped: u64,
    /// Runs of a native VXLAN/Geneve tunnel's outer packets queued as one `GSO_UDP_L4`
    /// frame ([`native`]).
    pub native_gso_frames: u64,
    /// Outer packets those runs carried.
    pub native_gso_segments: u64,
    /// Frames with offloads pending (UDP segmentation runs, coalesced datagrams) taken from
    /// a bridge's internal port and split into their tunnel packets ([`native`]).
    pub native_rx_gso_frames: u64,
    /// Tunnel packets split out of those frames and taken in.
    pub native_rx_gso_segments: u64,
}

/// A packet the datapath hands to the control plane (`userspace(...)` action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserspacePacket {
    /// The packet's flow key (its `in_port` is a datapath port).
    pub key: FlowKey,
    /// The frame, as it was when the action ran, with no offload pending: one packet per
    /// segment of a super-frame, a partial checksum completed ([`offload::wire_frames`]).
    pub frame: Vec<u8>,
    /// The action's parameters.
    pub action: DpAction,
}

/// Why a port could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatapathError {
    /// The number is taken.
    #[error("port {0} already exists")]
    PortExists(DpPort),
    /// A tunnel vport names an underlay that is not a network device port.
    #[error("tunnel underlay {0} is not a network device port")]
    BadUnderlay(DpPort),
    /// No port has that number.
    #[error("no port {0}")]
    NoSuchPort(DpPort),
    /// A tunnel vport still sends through the port.
    #[error("port {0} is the underlay of tunnel port {1}")]
    InUse(DpPort, DpPort),
}

struct Port {
    name: String,
    kind: PortKind,
    /// Packets waiting to be sent (network devices only).
    out: PacketBatch,
}

/// One datapath: its ports, caches and counters.
pub struct Datapath {
    /// Indexed by datapath port number (numbers can be sparse, as the seed's are).
    ports: Vec<Option<Port>>,
    /// The numbers in use, so per-batch loops visit ports, not empty slots.
    in_use: Vec<usize>,
    flows: Classifier<Megaflow>,
    emc: Emc,
    userspace: VecDeque<UserspacePacket>,
    stats: DatapathStats,
    now: Millis,
    tunnel_ports: TunnelPorts,
    native: Native,
    /// Frames waiting to re-enter ([`native`]), and the spare queue a pass swaps in.
    recirc: Recirc,
    recirc_spare: Recirc,
    /// The meters (shared with the other datapath threads) as this thread last saw them.
    meters: meter::MeterView,
}

impl Default for Datapath {
    fn default() -> Self {
        Self::new()
    }
}

impl Datapath {
    /// A datapath with no ports and empty caches.
    pub fn new() -> Self {
        Self {
            ports: Vec::new(),
            in_use: Vec::new(),
            flows: Classifier::new(),
            emc: Emc::new(),
            userspace: VecDeque::new(),
            stats: DatapathStats::default(),
            now: Millis(0),
            tunnel_ports: TunnelPorts::default(),
            native: Native::new(),
            recirc: Recirc::new(native::RECIRC_QUEUE),
            recirc_spare: Recirc::new(native::RECIRC_QUEUE),
            meters: meter::MeterView::default(),
        }
    }

    /// Gives the datapath the meters it shares with the other datapath threads ([`meter`]);
    /// until then it has a table of its own, empty.
    pub fn set_meters(&mut self, meters: meter::MeterView) {
        self.meters = meters;
    }

    /// Sets which tunnel destinations are native and which internal ports end them
    /// ([`native`]); an empty configuration sends every tunnel through its underlay.
    pub fn set_native(&mut self, config: NativeConfig) {
        self.native.config = config;
    }

    /// The native-tunnel configuration in use (with the neighbours learned since it was set).
    pub fn native(&self) -> &NativeConfig {
        &self.native.config
    }

    /// Tells the native tunnels that `ip` is at `mac` (a neighbour another thread snooped,
    /// or one set by hand); true when a hop changed.
    pub fn learn_neighbour(&mut self, ip: IpAddr, mac: fvs_packet::MacAddr) -> bool {
        self.native.config.learn(ip, mac)
    }

    /// Takes the outer destinations `remote_ip=flow` vports were given that the native
    /// configuration has not routed yet ([`native`]), since the last call.
    pub fn take_unrouted(&mut self) -> Vec<IpAddr> {
        std::mem::take(&mut self.native.unrouted)
    }

    /// Takes the neighbours snooped from ARP packets since the last call.
    pub fn take_snooped(&mut self) -> Vec<Snooped> {
        std::mem::take(&mut self.native.snooped)
    }

    /// Adds a port. A tunnel vport's underlay must already be a network device port.
    pub fn add_port(
        &mut self,
        no: DpPort,
        name: &str,
        kind: PortKind,
    ) -> Result<(), DatapathError> {
        let i = no.0 as usize;
        if self.ports.get(i).is_some_and(Option::is_some) {
            return Err(DatapathError::PortExists(no));
        }
        if let PortKind::Tunnel(t) = &kind
            && !matches!(
                self.ports.get(t.underlay.0 as usize),
                Some(Some(Port {
                    kind: PortKind::Netdev(_),
                    ..
                }))
            )
        {
            return Err(DatapathError::BadUnderlay(t.underlay));
        }
        if let PortKind::Tunnel(t) = &kind {
            // A vport's UDP port must be recognised on receive.
            match t.protocol {
                fvs_packet::tunnel::TunnelProtocol::Vxlan => self.tunnel_ports.vxlan = t.dst_port,
                fvs_packet::tunnel::TunnelProtocol::Geneve => {
                    self.tunnel_ports.geneve = t.dst_port;
                }
                fvs_packet::tunnel::TunnelProtocol::Gre => {}
            }
        }
        if self.ports.len() <= i {
            self.ports.resize_with(i + 1, || None);
        }
        let out = match &kind {
            // Only a device that carries virtio-net headers is sent whole super-frames; the
            // others get segments no larger than a jumbo frame.
            PortKind::Netdev(d) if d.has_vnet_hdr() => {
                PacketBatch::new(OUTPUT_BATCH, fvs_netdev::batch::GSO_FRAME_CAPACITY)
            }
            PortKind::Netdev(_) => PacketBatch::new(OUTPUT_BATCH, MAX_FRAME),
            PortKind::Tunnel(_) => PacketBatch::new(0, 0),
        };
        self.ports[i] = Some(Port {
            name: name.to_owned(),
            kind,
            out,
        });
        self.in_use.push(i);
        Ok(())
    }

    /// Removes a port and every megaflow (a megaflow may output to it; ports come and go
    /// rarely, so the caches simply start again). A tunnel's underlay goes after its vports.
    pub fn remove_port(&mut self, no: DpPort) -> Result<(), DatapathError> {
        let i = no.0 as usize;
        if self.port(no).is_none() {
            return Err(DatapathError::NoSuchPort(no));
        }
        if let Some(&v) = self.in_use.iter().find(|&&v| {
            matches!(&self.ports[v], Some(Port { kind: PortKind::Tunnel(t), .. }) if t.underlay == no)
        }) {
            return Err(DatapathError::InUse(no, DpPort(v as u32)));
        }
        self.ports[i] = None;
        self.in_use.retain(|&u| u != i);
        // Trailing empty slots are given back, so a removed high number frees its memory.
        while self.ports.last().is_some_and(Option::is_none) {
            self.ports.pop();
        }
        self.flush();
        Ok(())
    }

    /// The ports: number, name and kind, in the order they were added.
    pub fn ports(&self) -> impl Iterator<Item = (DpPort, &str, &PortKind)> {
        self.in_use.iter().filter_map(|&i| {
            let p = self.ports[i].as_ref()?;
            Some((DpPort(i as u32), p.name.as_str(), &p.kind))
        })
    }

    /// The network device behind a port (`None` for a tunnel vport or no port).
    pub fn netdev(&self, no: DpPort) -> Option<&dyn Netdev> {
        match self.port(no) {
            Some(Port {
                kind: PortKind::Netdev(d),
                ..
            }) => Some(d.as_ref()),
            _ => None,
        }
    }

    /// The port's name.
    pub fn port_name(&self, no: DpPort) -> Option<&str> {
        self.port(no).map(|p| p.name.as_str())
    }

    fn port(&self, no: DpPort) -> Option<&Port> {
        self.ports.get(no.0 as usize).and_then(Option::as_ref)
    }

    /// Receives one batch from a network device port and processes it; returns how many
    /// packets were received. The batch is cleared first.
    pub fn poll(
        &mut self,
        port: DpPort,
        batch: &mut PacketBatch,
        upcall: &mut impl FnMut(&FlowKey, &Packet) -> Upcall,
    ) -> fvs_netdev::Result<usize> {
        batch.clear();
        let n = match self.ports.get_mut(port.0 as usize).and_then(Option::as_mut) {
            Some(Port {
                kind: PortKind::Netdev(d),
                ..
            }) => d.recv_batch(batch)?,
            _ => 0,
        };
        if n > 0 {
            self.process_batch(port, batch, upcall);
        }
        Ok(n)
    }

    /// Sets the time used for megaflow ages.
    pub fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    /// The time last given by [`Datapath::set_now`].
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Datapath-wide counters.
    pub fn stats(&self) -> DatapathStats {
        self.stats
    }

    /// Processes a batch received on `in_port` (see the crate docs), then sends every output
    /// batch. Packets in `batch` are consumed: modified in place, or given to an output
    /// batch (their slots then hold other buffers), so the caller refills the batch before
    /// reusing it.
    pub fn process_batch(
        &mut self,
        in_port: DpPort,
        batch: &mut PacketBatch,
        upcall: &mut impl FnMut(&FlowKey, &Packet) -> Upcall,
    ) {
        if self.port(in_port).is_none() {
            self.stats.no_port += batch.len() as u64;
            return;
        }
        self.meters.refresh();
        let has_vports = self.is_underlay(in_port);
        for p in batch.packets_mut() {
            self.process_one(in_port, has_vports, p, upcall);
            // Segments of super-frames can fill the re-entry queue within one batch.
            if self.recirc.batch.len() > native::RECIRC_QUEUE / 2 {
                self.drain_recirc(upcall);
            }
        }
        self.drain_recirc(upcall);
        self.send_all();
    }

    /// Whether some tunnel vport uses `port` as its underlay (the ports in use, not the
    /// slots: underlay numbers start at 1000).
    fn is_underlay(&self, port: DpPort) -> bool {
        self.in_use.iter().any(|&i| {
            matches!(&self.ports[i], Some(Port { kind: PortKind::Tunnel(t), .. }) if t.underlay == port)
        })
    }

    /// One packet's journey (see the crate docs) from `in_port`.
    fn process_one(
        &mut self,
        in_port: DpPort,
        has_vports: bool,
        p: &mut Packet,
        upcall: &mut impl FnMut(&FlowKey, &Packet) -> Upcall,
    ) {
        let mut port = in_port;
        let mut tunnel = None;
        if has_vports && let Some((vport, meta, outer)) = self.tunnel_receive(in_port, p.data()) {
            p.pull(outer);
            if !execute::decap_ecn(p.data_mut(), meta.tos) {
                self.stats.ecn_dropped += 1;
                return;
            }
            port = vport;
            tunnel = Some(meta);
        }
        // Not even Ethernet: nothing to switch on. A switch forwards what it cannot parse
        // beyond L2, but a runt has no L2.
        if p.len() < ETH_HEADER_LEN {
            self.stats.invalid += 1;
            return;
        }
        let key = fvs_flow::extract::extract(p.data(), PortNo(port.0), tunnel.as_ref());
        let hash = hash_key(&key);
        let len = p.len() as u64;
        let id = match self.lookup(&key, hash) {
            Some(id) => {
                if let Some(m) = self.flows.get_mut(id) {
                    m.stats.packets += 1;
                    m.stats.bytes += len;
                    m.stats.used = Some(self.now);
                    m.stats.tcp_flags |= key.get(Field::TcpFlags.loc()) as u16;
                }
                id
            }
            None => {
                self.stats.missed += 1;
                let Upcall {
                    actions,
                    mut mask,
                    cookie,
                } = upcall(&key, p);
                // Whether a VLAN tag is present decides where every header is, so a
                // megaflow never mixes tagged and untagged packets, whatever the mask.
                let present = mask.get(Field::VlanTci.loc()) | VLAN_PRESENT;
                mask.set(Field::VlanTci.loc(), present);
                let id = self.flows.insert(
                    key.and(&mask),
                    mask,
                    0,
                    Megaflow {
                        actions,
                        stats: FlowStats::default(),
                        cookie,
                        created: self.now,
                    },
                );
                self.emc.insert(&key, hash, id);
                id
            }
        };
        let (flows, mut cx) = self.flows_and_ctx();
        let Some(m) = flows.get(id) else {
            return;
        };
        let failed = execute_actions(&m.actions, p, &key, hash, tunnel.is_some(), &mut cx);
        cx.stats.failed_actions += failed;
    }

    /// Processes what waits to re-enter ([`native`]): the ARP requests native tunnels asked
    /// for, then the queue, a bounded number of passes; what is left after the last pass
    /// kept re-entering and is dropped.
    fn drain_recirc(&mut self, upcall: &mut impl FnMut(&FlowKey, &Packet) -> Upcall) {
        self.queue_arp_requests();
        for _ in 0..native::RECIRC_PASSES {
            if self.recirc.batch.is_empty() {
                return;
            }
            // The pass works on the spare queue, so what it queues waits for the next pass.
            std::mem::swap(&mut self.recirc, &mut self.recirc_spare);
            let mut work = std::mem::replace(&mut self.recirc_spare, Recirc::new(0));
            for (p, &port) in work.batch.packets_mut().iter_mut().zip(&work.in_ports) {
                if self.port(port).is_none() {
                    self.stats.no_port += 1;
                    continue;
                }
                let has_vports = self.is_underlay(port);
                self.process_one(port, has_vports, p, upcall);
            }
            work.clear();
            self.recirc_spare = work;
        }
        self.stats.recirc_dropped += self.recirc.batch.len() as u64;
        self.recirc.clear();
    }

    /// Queues an ARP request, from the internal port into its bridge, for each next hop a
    /// native tunnel dropped a packet for (at most one per next hop a second).
    fn queue_arp_requests(&mut self) {
        if self.native.wanted.is_empty() {
            return;
        }
        let mut wanted = std::mem::take(&mut self.native.wanted);
        for &ip in &wanted {
            let Some(hop) = self
                .native
                .config
                .hops
                .values()
                .find(|h| h.next_hop == ip && h.eth_dst.is_none())
                .copied()
            else {
                continue;
            };
            if self.native.arp_due(ip, self.now) {
                // ARP for an IPv4 next hop, a Neighbor Solicitation for an IPv6 one.
                let queued = match (hop.src, ip) {
                    (IpAddr::V4(src), IpAddr::V4(target)) => self
                        .recirc
                        .push(&native::arp_request(hop.eth_src, src, target), hop.port)
                        .is_some(),
                    (IpAddr::V6(src), IpAddr::V6(target)) => self
                        .recirc
                        .push(
                            &native::nd::solicitation(hop.eth_src, src, target),
                            hop.port,
                        )
                        .is_some(),
                    _ => true,
                };
                if !queued {
                    self.stats.recirc_dropped += 1;
                }
            }
        }
        wanted.clear();
        self.native.wanted = wanted;
    }

    /// Processes what a packet-out or an earlier batch left to re-enter, and sends.
    pub fn drain(&mut self, upcall: &mut impl FnMut(&FlowKey, &Packet) -> Upcall) {
        self.drain_recirc(upcall);
        self.send_all();
    }

    /// Whether frames wait to re-enter (see [`Datapath::drain`]).
    pub fn has_pending(&self) -> bool {
        !self.recirc.batch.is_empty() || !self.native.wanted.is_empty()
    }

    /// EMC, then the megaflow cache (refreshing the EMC on a megaflow hit).
    fn lookup(&mut self, key: &FlowKey, hash: u64) -> Option<RuleId> {
        if let Some(id) = self.emc.lookup(key, hash)
            && self.flows.get(id).is_some()
        {
            self.stats.emc_hits += 1;
            return Some(id);
        }
        let (id, _) = self.flows.lookup(key)?;
        self.stats.megaflow_hits += 1;
        self.emc.insert(key, hash, id);
        Some(id)
    }

    /// The vport a frame received on `underlay` belongs to, its metadata and the length of
    /// the outer headers.
    fn tunnel_receive(
        &self,
        underlay: DpPort,
        frame: &[u8],
    ) -> Option<(DpPort, TunnelMetadata, usize)> {
        let d = decapsulate(frame, self.tunnel_ports).ok()?;
        let outer = frame.len() - d.inner.len();
        let i = self.in_use.iter().copied().find(|&i| {
            matches!(&self.ports[i], Some(Port { kind: PortKind::Tunnel(t), .. })
                if t.underlay == underlay && t.accepts(&d.metadata))
        })?;
        Some((DpPort(i as u32), d.metadata, outer))
    }

    fn send_all(&mut self) {
        for &i in &self.in_use {
            let Some(p) = self.ports[i].as_mut() else {
                continue;
            };
            if let PortKind::Netdev(d) = &mut p.kind
                && !p.out.is_empty()
            {
                // A failing device drops the batch, as a full queue would; its own counters
                // say why.
                let _ = d.send_batch(&p.out);
                p.out.clear();
            }
        }
    }

    /// Removes every megaflow (`dpctl/del-flows`).
    pub fn flush(&mut self) {
        self.flows = Classifier::new();
        self.emc.clear();
    }

    /// Keeps only the megaflows for which `keep(mask, masked key, actions)` is true; returns
    /// how many were removed. The control plane calls this after table changes, with a
    /// closure that re-translates and compares.
    pub fn revalidate(&mut self, keep: impl Fn(&FlowKey, &FlowKey, &DpActions) -> bool) -> usize {
        let doomed: Vec<RuleId> = self
            .flows
            .iter()
            .filter(|(_, key, mask, _, m)| !keep(mask, key, &m.actions))
            .map(|(id, ..)| id)
            .collect();
        for id in &doomed {
            self.flows.remove(*id);
        }
        doomed.len()
    }

    /// The megaflows with their handles: (handle, masked key, mask, value).
    pub fn megaflows(&self) -> impl Iterator<Item = (FlowId, &FlowKey, &FlowKey, &Megaflow)> {
        self.flows
            .iter()
            .map(|(id, k, m, _, v)| (FlowId(id), k, m, v))
    }

    /// Removes one megaflow; false when it was already gone.
    pub fn remove_flow(&mut self, id: FlowId) -> bool {
        self.flows.remove(id.0).is_some()
    }

    /// Gives a megaflow new actions and cookie (revalidation found the translation changed
    /// but the mask still holds); false when it is gone.
    pub fn set_flow_actions(&mut self, id: FlowId, actions: DpActions, cookie: u64) -> bool {
        match self.flows.get_mut(id.0) {
            Some(m) => {
                m.actions = actions;
                m.cookie = cookie;
                true
            }
            None => false,
        }
    }

    /// Adds packets forwarded for a megaflow outside this datapath (by the kernel, for an
    /// offloaded megaflow) to its statistics, last used at `used`; false when it is gone.
    pub fn credit_flow(&mut self, id: FlowId, packets: u64, bytes: u64, used: Millis) -> bool {
        match self.flows.get_mut(id.0) {
            Some(m) => {
                m.stats.packets += packets;
                m.stats.bytes += bytes;
                m.stats.used = Some(m.stats.used.map_or(used, |u| u.max(used)));
                true
            }
            None => false,
        }
    }

    /// Runs `actions` on one frame as if it had been received with flow key `key` (an
    /// OpenFlow packet-out, or a packet the slow path executes itself), then sends; returns
    /// the number of actions that did not fit the packet. No cache is consulted or changed.
    pub fn execute(&mut self, frame: &[u8], key: &FlowKey, actions: &DpActions) -> u64 {
        let mut batch = PacketBatch::new(1, MAX_FRAME);
        let Ok(p) = batch.push(frame) else {
            self.stats.failed_actions += 1;
            return 1;
        };
        self.meters.refresh();
        let (_, mut cx) = self.flows_and_ctx();
        let failed = execute_actions(actions, p, key, hash_key(key), false, &mut cx);
        cx.stats.failed_actions += failed;
        self.send_all();
        failed
    }

    /// The megaflow table beside what actions write to: borrowed apart, so a megaflow's
    /// actions run without being copied out of the table.
    fn flows_and_ctx(&mut self) -> (&Classifier<Megaflow>, Ctx<'_>) {
        let cx = Ctx {
            flows: &self.flows,
            ports: &mut self.ports,
            userspace: &mut self.userspace,
            stats: &mut self.stats,
            native: &mut self.native,
            recirc: &mut self.recirc,
            tunnel_ports: self.tunnel_ports,
            in_use: &self.in_use,
            meters: &self.meters,
            now: self.now,
        };
        (&self.flows, cx)
    }

    /// The megaflows: (masked key, mask, value).
    pub fn flows(&self) -> impl Iterator<Item = (&FlowKey, &FlowKey, &Megaflow)> {
        self.flows.iter().map(|(_, k, m, _, v)| (k, m, v))
    }

    /// The actions the megaflow cache holds for `key`, if any (no statistics change).
    pub fn cached_actions(&self, key: &FlowKey) -> Option<&DpActions> {
        self.flows.lookup(key).map(|(_, m)| &m.actions)
    }

    /// Number of megaflows.
    pub fn n_flows(&self) -> usize {
        self.flows.len()
    }

    /// The megaflows in `ovs-appctl dpctl/dump-flows` form, one per line.
    pub fn dump_flows(&self) -> String {
        let mut out = String::new();
        for (key, mask, m) in self.flows() {
            text::write_flow(&mut out, key, mask, &m.stats, &m.actions, self.now);
            out.push('\n');
        }
        out
    }

    /// Takes the packets `userspace(...)` actions queued.
    pub fn take_userspace(&mut self) -> Vec<UserspacePacket> {
        self.userspace.drain(..).collect()
    }
}

/// What actions write to besides the packet: the ports' output batches, the userspace
/// queue, the counters and the native tunnels' re-entry queue.
struct Ctx<'a> {
    /// The megaflows, to look ahead at what a bridge will do with a frame ([`native`]'s
    /// runs).
    flows: &'a Classifier<Megaflow>,
    ports: &'a mut [Option<Port>],
    userspace: &'a mut VecDeque<UserspacePacket>,
    stats: &'a mut DatapathStats,
    native: &'a mut Native,
    recirc: &'a mut Recirc,
    tunnel_ports: TunnelPorts,
    /// The port numbers in use (the slots are sparse).
    in_use: &'a [usize],
    /// The meters `meter(N)` charges ([`meter`]), and the time they are charged at.
    meters: &'a meter::MeterView,
    now: Millis,
}

/// Runs `actions` on `p`; returns the number of actions that did not fit the packet.
/// `decapsulated`: `p` arrived through a tunnel, so its TCP segments may be coalesced
/// ([`gro`]).
fn execute_actions(
    actions: &DpActions,
    p: &mut Packet,
    key: &FlowKey,
    hash: u64,
    decapsulated: bool,
    cx: &mut Ctx<'_>,
) -> u64 {
    let mut failed = 0;
    let mut tunnel: Option<TunnelKey> = None;
    let mut trunc: Option<u32> = None;
    let last = actions.0.len().saturating_sub(1);
    for (i, a) in actions.0.iter().enumerate() {
        let ok = match a {
            DpAction::Output(port) => {
                // A UDP tunnel hashes the inner flow into the outer source port: from what
                // the connection's packets share, not the cache's hash of the whole key.
                let hash = match cx.ports.get(port.0 as usize) {
                    Some(Some(Port {
                        kind: PortKind::Tunnel(t),
                        ..
                    })) if t.protocol != fvs_packet::tunnel::TunnelProtocol::Gre => {
                        tunnel_entropy(key)
                    }
                    _ => hash,
                };
                // The last action may give the packet's buffer away instead of copying it.
                let out = Out {
                    port: *port,
                    tunnel: tunnel.as_ref(),
                    trunc,
                    hash,
                    steal: i == last,
                    coalesce: decapsulated,
                };
                let ok = output(p, out, cx);
                trunc = None;
                ok
            }
            DpAction::PushVlan { vid, pcp } => execute::push_vlan(p, *vid, *pcp),
            DpAction::PopVlan => execute::pop_vlan(p),
            DpAction::SetTunnel(t) => {
                tunnel = Some(*t);
                true
            }
            DpAction::SetEth { src, dst } => execute::set_eth(p.data_mut(), *src, *dst),
            // A partial checksum (offloads pending) is updated as a sum, not a checksum.
            DpAction::SetIpv4 { src, dst, tos, ttl } => {
                offload::rewrite_with_partial(p, offload::Covered::PseudoHeader, |d| {
                    execute::set_ipv4(d, *src, *dst, *tos, *ttl)
                })
            }
            DpAction::SetL4Ports { src, dst, .. } => {
                offload::rewrite_with_partial(p, offload::Covered::Payload, |d| {
                    execute::set_l4_ports(d, *src, *dst)
                })
            }
            // The mark is metadata for the kernel's stack; frames sent by this datapath
            // carry none.
            DpAction::SetPktMark(_) => true,
            DpAction::Trunc(n) => {
                trunc = Some(*n);
                true
            }
            // A meter's drop band drops the packet: nothing after the meter sees it.
            DpAction::Meter(m) => {
                if !cx.meters.admit(*m, p.len(), cx.now) {
                    return failed;
                }
                true
            }
            // A packet-in its meter drops goes to no controller; what follows still runs.
            DpAction::Userspace { meter: Some(m), .. } if !cx.meters.admit(*m, p.len(), cx.now) => {
                true
            }
            DpAction::Userspace { .. } => {
                // A super-frame goes up as its segments, one packet each (as Open vSwitch's
                // kernel datapath sends a GSO packet to userspace), a partial checksum
                // completed: see `offload::wire_frames`.
                let vnet = p.vnet();
                match offload::wire_frames(p.data(), vnet) {
                    Ok(frames) => {
                        if vnet.gso_type.kind() != fvs_netdev::GsoType::NONE {
                            cx.stats.soft_segmented += 1;
                        } else if !vnet.is_none() {
                            cx.stats.soft_checksummed += 1;
                        }
                        for frame in frames {
                            if cx.userspace.len() >= USERSPACE_QUEUE {
                                cx.stats.lost += 1;
                            } else {
                                cx.userspace.push_back(UserspacePacket {
                                    key: *key,
                                    frame,
                                    action: a.clone(),
                                });
                            }
                        }
                    }
                    Err(_) => cx.stats.offload_dropped += 1,
                }
                true
            }
        };
        if !ok {
            failed += 1;
        }
    }
    failed
}

/// The inner flow's hash that a VXLAN or Geneve vport puts in the outer UDP source port: the
/// fields one connection's packets share (Ethernet addresses and type, IP addresses and
/// protocol, L4 ports), so a connection keeps one outer flow (one path through an ECMP
/// underlay, runs of outer packets for [`native`]) whatever its TCP flags, TTL or ECN marks
/// (which the exact-match cache's hash covers), as Linux's and Open vSwitch's tunnels hash
/// a packet's 5-tuple.
fn tunnel_entropy(key: &FlowKey) -> u64 {
    const FIELDS: [Field; 13] = [
        Field::EthSrc,
        Field::EthDst,
        Field::EthType,
        Field::Ipv4Src,
        Field::Ipv4Dst,
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::IpProto,
        Field::TcpSrc,
        Field::TcpDst,
        Field::UdpSrc,
        Field::UdpDst,
        Field::SctpSrc,
    ];
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for f in FIELDS {
        let v = key.get(f.loc());
        for w in [v as u64, (v >> 64) as u64] {
            // FNV-1a's prime on 64-bit words, with a shift to bring high bits down.
            h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
            h ^= h >> 29;
        }
    }
    h
}

/// One output action's parameters.
struct Out<'a> {
    port: DpPort,
    tunnel: Option<&'a TunnelKey>,
    trunc: Option<u32>,
    hash: u64,
    /// No action follows: the packet's buffer may be swapped into the output batch (when the
    /// buffers are the same size) instead of copied, leaving `p` with an unspecified frame.
    steal: bool,
    /// The packet may join the frame queued before it as a TSO super-frame ([`gro`]).
    coalesce: bool,
}

/// Queues `p` on `port` (encapsulated, for a tunnel vport); sends the port's batch first when
/// it is full. Pending offloads go along to a device that carries virtio-net headers and are
/// finished in software on every other path ([`offload`]).
fn output(p: &mut Packet, o: Out<'_>, cx: &mut Ctx<'_>) -> bool {
    let Out {
        port,
        tunnel,
        trunc,
        hash,
        steal,
        coalesce,
    } = o;
    let (dev, vport): (DpPort, Option<TunnelVport>) =
        match cx.ports.get(port.0 as usize).and_then(Option::as_ref) {
            Some(Port {
                kind: PortKind::Tunnel(t),
                ..
            }) => (t.underlay, Some(*t)),
            Some(_) => (port, None),
            None => return false,
        };
    if !cx.native.config.is_empty() {
        match vport {
            Some(v) => {
                let dst = execute::encap_params(&v, tunnel).dst;
                if let Some(hop) = cx.native.config.hops.get(&dst).copied() {
                    return output_native(p, v, hop, tunnel, trunc, hash, cx);
                }
                // A destination the flow chose: routed by the control plane on demand; this
                // packet takes the host's stack meanwhile.
                if v.remote_ip.is_unspecified() && !cx.native.config.routed.contains(&dst) {
                    cx.native.ask_route(dst);
                }
            }
            None => {
                if take_native(p, port, cx) {
                    return true;
                }
            }
        }
    }
    let Ctx { ports, stats, .. } = cx;
    let Some(Some(Port {
        kind: PortKind::Netdev(d),
        out,
        ..
    })) = ports.get_mut(dev.0 as usize)
    else {
        return false;
    };
    let soft = !p.vnet().is_none() && (vport.is_some() || trunc.is_some() || !d.has_vnet_hdr());
    if !soft {
        if coalesce
            && vport.is_none()
            && trunc.is_none()
            && d.has_vnet_hdr()
            && p.vnet().is_none()
            && out
                .packets_mut()
                .last_mut()
                .is_some_and(|last| gro::merge(last, p.data()))
        {
            stats.coalesced += 1;
            return true;
        }
        if out.is_full() {
            let _ = d.send_batch(out);
            out.clear();
        }
        let vnet = if p.vnet().gso_type.kind() == fvs_netdev::GsoType::NONE {
            p.vnet()
        } else {
            offload::tidy_hdr_len(p.data(), p.vnet())
        };
        let pushed = if steal {
            out.push_swap(p).map(|q| q.set_vnet(vnet))
        } else {
            out.push_with_vnet(p.data(), vnet).map(|_| ())
        };
        if pushed.is_err() {
            return false;
        }
        return finish_copy(out, vport, tunnel, trunc, hash);
    }
    let plan = match offload::Plan::new(p.data(), p.vnet()) {
        Ok(plan) => plan,
        Err(_) => {
            stats.offload_dropped += 1;
            return false;
        }
    };
    if p.vnet().gso_type.kind() == fvs_netdev::GsoType::NONE {
        stats.soft_checksummed += 1;
    } else {
        stats.soft_segmented += 1;
    }
    for i in 0..plan.segments() {
        if out.is_full() {
            let _ = d.send_batch(out);
            out.clear();
        }
        if plan.push(p.data(), i, out).is_err() {
            stats.offload_dropped += 1;
            return false;
        }
        if !finish_copy(out, vport, tunnel, trunc, hash) {
            return false;
        }
    }
    true
}

/// Output to a tunnel vport whose destination is native ([`native`]): the packet (segmented
/// and checksummed first if offloads are pending) is encapsulated with the hop's Ethernet
/// addresses and source, and queued to re-enter on the hop's internal port. Without the
/// next hop's MAC the packet is dropped and an ARP request asked for.
fn output_native(
    p: &Packet,
    mut v: TunnelVport,
    hop: NativeHop,
    tunnel: Option<&TunnelKey>,
    trunc: Option<u32>,
    hash: u64,
    cx: &mut Ctx<'_>,
) -> bool {
    let Some(eth_dst) = hop.eth_dst else {
        cx.stats.native_no_neighbour += 1;
        let wanted = &mut cx.native.wanted;
        if wanted.len() < native::WANTED_QUEUE && !wanted.contains(&hop.next_hop) {
            wanted.push(hop.next_hop);
        }
        return true;
    };
    v.eth_src = hop.eth_src;
    v.eth_dst = eth_dst;
    if v.local_ip.is_unspecified() {
        v.local_ip = hop.src;
    }
    let segments = if p.vnet().is_none() {
        None
    } else {
        match offload::Plan::new(p.data(), p.vnet()) {
            Ok(plan) => Some(plan),
            Err(_) => {
                cx.stats.offload_dropped += 1;
                return false;
            }
        }
    };
    let n = segments.as_ref().map_or(1, offload::Plan::segments);
    for i in 0..n {
        let recirc = &mut *cx.recirc;
        if recirc.batch.is_full() {
            cx.stats.recirc_dropped += 1;
            return false;
        }
        let pushed = match &segments {
            None => recirc.batch.push(p.data()).is_ok(),
            Some(plan) => plan.push(p.data(), i, &mut recirc.batch).is_ok(),
        };
        if !pushed {
            cx.stats.offload_dropped += 1;
            return false;
        }
        recirc.in_ports.push(hop.port);
        if !finish_copy(&mut recirc.batch, Some(v), tunnel, trunc, hash) {
            recirc.in_ports.truncate(recirc.batch.len());
            return false;
        }
        cx.stats.native_sent += 1;
        if v.protocol != fvs_packet::tunnel::TunnelProtocol::Gre {
            join_last(&hop, cx);
        }
    }
    if segments.is_some() {
        if p.vnet().gso_type.kind() == fvs_netdev::GsoType::NONE {
            cx.stats.soft_checksummed += 1;
        } else {
            cx.stats.soft_segmented += 1;
        }
    }
    true
}

/// Joins the outer frame a native UDP tunnel just queued on the re-entry queue to the run
/// queued right before it, when both may travel as one `GSO_UDP_L4` frame ([`native`]'s
/// "Runs of outer packets"); otherwise leaves both as they are.
fn join_last(hop: &NativeHop, cx: &mut Ctx<'_>) {
    let Ctx {
        flows,
        ports,
        native,
        recirc,
        stats,
        ..
    } = cx;
    let n = recirc.batch.len();
    if n < 2 || recirc.in_ports.get(n - 2) != Some(&hop.port) {
        return;
    }
    let (head, tail) = recirc.batch.packets_mut().split_at_mut(n - 1);
    let (Some(run), Some(seg)) = (head.last_mut(), tail.first()) else {
        return;
    };
    if !native::udp_gso::can_join(run, seg, hop.mtu) {
        return;
    }
    let first = run.vnet().is_none();
    if first && !plain_offload_output(flows, ports, &native.config, run.data(), hop.port) {
        return;
    }
    if !native::udp_gso::join(run, seg.data()) {
        return;
    }
    recirc.batch.pop();
    recirc.in_ports.truncate(n - 1);
    if first {
        stats.native_gso_frames += 1;
        stats.native_gso_segments += 2;
    } else {
        stats.native_gso_segments += 1;
    }
}

/// Whether the cached megaflow for `frame` entering on `in_port` is one plain output to a
/// device that carries virtio-net headers (and is not a native endpoint): then a run of
/// outer packets made from it leaves whole, for the kernel to segment.
fn plain_offload_output(
    flows: &Classifier<Megaflow>,
    ports: &[Option<Port>],
    native: &NativeConfig,
    frame: &[u8],
    in_port: DpPort,
) -> bool {
    let key = fvs_flow::extract::extract(frame, PortNo(in_port.0), None);
    let Some((_, m)) = flows.lookup(&key) else {
        return false;
    };
    match m.actions.0.as_slice() {
        [DpAction::Output(out)] => {
            !native.endpoints.contains_key(out)
                && matches!(
                    ports.get(out.0 as usize),
                    Some(Some(Port { kind: PortKind::Netdev(d), .. })) if d.has_vnet_hdr()
                )
        }
        _ => false,
    }
}

/// The underlay of the vport a decapsulated packet with this metadata belongs to.
fn vport_underlay(ports: &[Option<Port>], in_use: &[usize], m: &TunnelMetadata) -> Option<DpPort> {
    in_use.iter().find_map(|&i| match ports.get(i) {
        Some(Some(Port {
            kind: PortKind::Tunnel(t),
            ..
        })) if t.accepts(m) => Some(t.underlay),
        _ => None,
    })
}

/// What one tunnel packet output to a native endpoint is.
enum Arrival {
    /// It decapsulates to a vport: re-enter on this underlay.
    Ours(DpPort),
    /// Its tunnel headers parse but it carries less than an Ethernet header.
    Runt,
    /// Not a tunnel packet for any vport.
    NotOurs,
}

/// What a tunnel packet output to a native endpoint is (see [`Arrival`]).
fn arrival(frame: &[u8], cx: &Ctx<'_>) -> Arrival {
    let Ok(d) = decapsulate(frame, cx.tunnel_ports) else {
        return Arrival::NotOurs;
    };
    if d.inner.len() < ETH_HEADER_LEN {
        return Arrival::Runt;
    }
    match vport_underlay(cx.ports, cx.in_use, &d.metadata) {
        Some(u) => Arrival::Ours(u),
        None => Arrival::NotOurs,
    }
}

/// A frame with offloads pending (a run of UDP datagrams, or datagrams the kernel
/// coalesced) output to a native endpoint: split into its datagrams, each checked and
/// queued on its own ([`native`]). False (the host's) when its first datagram is no tunnel
/// packet of ours or its offload headers do not parse.
fn take_offloaded(p: &Packet, cx: &mut Ctx<'_>) -> bool {
    let Ok(plan) = offload::Plan::new(p.data(), p.vnet()) else {
        return false;
    };
    let n = plan.segments();
    let mut kept = 0u64;
    for i in 0..n {
        if cx.recirc.batch.is_full() {
            cx.stats.recirc_dropped += (n - i) as u64;
            break;
        }
        if plan.push(p.data(), i, &mut cx.recirc.batch).is_err() {
            cx.stats.offload_dropped += 1;
            continue;
        }
        let verdict = match cx.recirc.batch.packets().last() {
            Some(seg) => arrival(seg.data(), cx),
            None => Arrival::NotOurs,
        };
        match verdict {
            // A tunnel packet, but more datagrams than Linux ever puts in one frame (64, or
            // 128 on newer kernels): no sender made it, and splitting it would be work for
            // nothing.
            Arrival::Ours(_) | Arrival::Runt if i == 0 && n > native::RECIRC_QUEUE => {
                cx.recirc.batch.pop();
                cx.stats.native_malformed += 1;
                return true;
            }
            Arrival::Ours(underlay) => {
                cx.recirc.in_ports.push(underlay);
                kept += 1;
            }
            Arrival::NotOurs if i == 0 => {
                cx.recirc.batch.pop();
                return false;
            }
            Arrival::NotOurs | Arrival::Runt => {
                cx.recirc.batch.pop();
                cx.stats.native_malformed += 1;
            }
        }
    }
    cx.stats.native_received += kept;
    if n > 1 {
        cx.stats.native_rx_gso_frames += 1;
        cx.stats.native_rx_gso_segments += kept;
    }
    true
}

/// Output to an internal port that ends native tunnels ([`native`]): snoops ARP for its
/// addresses; takes a tunnel packet for its addresses that decapsulates to a vport away from
/// the host, queued to re-enter on that vport's underlay (true: nothing more to do).
fn take_native(p: &Packet, port: DpPort, cx: &mut Ctx<'_>) -> bool {
    let Some(ep) = cx.native.config.endpoints.get(&port) else {
        return false;
    };
    let offloaded = !p.vnet().is_none();
    match native::classify(p.data(), &ep.addrs) {
        Delivered::Arp(ip, mac) => {
            if !offloaded {
                cx.native.snoop(Snooped { port, ip, mac });
            }
            false
        }
        Delivered::Tunnel if offloaded => take_offloaded(p, cx),
        Delivered::Tunnel => {
            let underlay = match arrival(p.data(), cx) {
                Arrival::Ours(u) => u,
                // Headers intact but nothing to switch inside: dropped here, as the host's
                // underlay would drop it, rather than handed to the host's stack.
                Arrival::Runt => {
                    cx.stats.native_malformed += 1;
                    return true;
                }
                Arrival::NotOurs => return false,
            };
            if cx.recirc.push(p.data(), underlay).is_some() {
                cx.stats.native_received += 1;
            } else {
                cx.stats.recirc_dropped += 1;
            }
            true
        }
        Delivered::Malformed => {
            cx.stats.native_malformed += 1;
            true
        }
        Delivered::Other => false,
    }
}

/// Truncates (`trunc`) and encapsulates (tunnel vport) the copy just queued last on `out`;
/// false, with the copy taken off again, when encapsulation does not fit.
fn finish_copy(
    out: &mut PacketBatch,
    vport: Option<TunnelVport>,
    tunnel: Option<&TunnelKey>,
    trunc: Option<u32>,
    hash: u64,
) -> bool {
    let Some(copy) = out.packets_mut().last_mut() else {
        return false;
    };
    if let Some(n) = trunc {
        copy.truncate(n as usize);
    }
    match vport {
        Some(v) => {
            let o = execute::encap_params(&v, tunnel);
            if execute::encapsulate(copy, &v, o, hash as u32) {
                true
            } else {
                // Never leave an unencapsulated frame queued on the underlay.
                copy.truncate(0);
                out.retain(|q| !q.is_empty());
                false
            }
        }
        None => true,
    }
}
