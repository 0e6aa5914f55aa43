//! Kernel flow offload (`Open_vSwitch:other_config:hw-offload=true`): simple megaflows
//! between two `system` devices, and native tunnels between a VM's device and the NIC,
//! forwarded by the kernel's traffic control, as Open vSwitch's kernel datapath offloads its
//! flows (and tunnels) to `tc`.
//!
//! # What is offloaded
//!
//! A megaflow whose actions are exactly one `output` (no header change, VLAN, tunnel,
//! `userspace`, `trunc` or meter), from one packet-socket device (a `system` port) to
//! another, whose match a `u32` filter can express exactly or more narrowly, never more
//! broadly ([`plan`]): the Ethernet addresses under any mask, the EtherType (a wildcarded
//! EtherType becomes one filter each for IPv4, ARP and IPv6), "no VLAN tag" (filters only
//! ever take untagged packets, see `fvs_netdev::tc`), "not a fragment" for IPv4, the IP TOS
//! or traffic class bits (the EtherType fixed), and
//! metadata that is zero for every packet a device delivers (tunnel, `recirc_id`, `dp_hash`,
//! `pkt_mark`, conntrack state, `packet_type`). Anything else the translation unwildcarded
//! (an IP address, a port, a VLAN tag, an IPv6 fragment check) keeps the megaflow in
//! userspace. Packets no filter takes reach the switch's socket as before.
//!
//! # Native tunnels (GRE, VXLAN, Geneve)
//!
//! A native tunnel packet crosses two megaflows on each host ([`fvs_datapath::chain`]): a
//! VM's frame its `set(tunnel(...)),output(vport)` megaflow and then br-phy's megaflow for
//! the outer frame; an arriving outer frame the NIC's megaflow (output to br-phy's internal
//! port) and then the vport's megaflow for the inner frame. When both of a pair are plain
//! (the second an output to a `system` device, the first's outer header fixed: a native
//! hop with a known neighbour, no tunnel checksum; received packets pinned to one vport by
//! source, destination and key or VNI), the pair becomes one eBPF filter
//! (`fvs_netdev::tc`'s `Rewrite`) on the input device:
//!
//! - **Encapsulation**, on the VM's device: the first megaflow's match (IPv4 and IPv6
//!   packets only: the kernel pushes headers only in front of IP), then the outer header
//!   the datapath itself would write (lengths and checksum per packet; for VXLAN and Geneve
//!   the UDP source port from the kernel's flow hash, one per connection as the switch's own
//!   entropy gives), out of the NIC.
//! - **Decapsulation**, on the NIC: the NIC megaflow's match on the outer frame (less what
//!   the outer keys pin anyway: IP protocol, addresses, UDP port, "not a fragment"), the
//!   outer IPv4 header without options, ECN marks or fragmentation, or the outer IPv6 header
//!   without ECN marks whose next header is GRE (no extension headers, so no fragment; any
//!   flow label, traffic class and hop limit, as the datapath takes them), source and
//!   destination, GRE with exactly the key flag and the key (or none), or UDP to the
//!   tunnel's port with a VXLAN header (I flag only) or an option-less Geneve header and
//!   the VNI, then the vport megaflow's match on the inner frame behind the outer headers;
//!   the outer headers are stripped and the inner frame goes out of the VM's device. The
//!   kernel does not check a received UDP checksum here (the switch would drop a datagram
//!   whose checksum is wrong).
//!
//! **Underlays.** IPv4 for GRE, VXLAN and Geneve both ways; IPv6 for GRE both ways (the
//! outer header is fixed but for its payload length: flow label 0, traffic class and hop
//! limit from the tunnel's `tos` and `ttl`) and for VXLAN and Geneve received without a UDP
//! checksum. VXLAN and Geneve over IPv6 are sent by the switch: the datapath always sends
//! them with a UDP checksum (as Open vSwitch 3.1 does, `csum=false` included), a sum over
//! the whole inner frame that a filter cannot write (it can only leave zero, which IPv6
//! forbids but for tunnels that agree to it, and `bpf_skb_adjust_room` gives no way to have
//! the kernel finish it, least of all for a TSO super-frame whose inner checksum is the one
//! pending). Received ones with a checksum go to the switch too, which verifies it (a
//! filter cannot without summing the packet); a zero checksum (none, which the datapath
//! accepts over IPv6, as Linux's tunnels send it with `udp6zerocsumtx`) is what the filter
//! takes.
//!
//! A TSO super-frame crosses whole (the inner MSS kept), so the far end's VM receives it as
//! the near VM sent it; on a veth underlay nothing cuts it on the way. The filters' counts are
//! credited to both megaflows of the pair (the outer one with the outer header's bytes), so
//! br-tun's `learn`, the learned rule's counters and MAC learning see the kernel's packets as
//! for plain offloads. A chain is computed afresh at every pass: a changed megaflow of the
//! pair, hop, neighbour or vport replaces or removes its filters.
//!
//! # Lifecycle
//!
//! Every revalidation pass of a datapath thread ([`Offload::credit`] before the slow path's
//! pass, [`Offload::sync`] after it):
//!
//! 1. **Statistics.** Each offloaded device's filters are dumped once; what their redirects
//!    counted since the last pass is added to the megaflow (`Datapath::credit_flow`), so the
//!    slow path's pass credits the rules, refreshes idle ages and replays `learn` and MAC
//!    learning as for packets the switch forwarded itself (Open vSwitch does the same with
//!    its offloaded flows' statistics).
//! 2. **Removal.** A megaflow that is gone (revalidation, a table change, idle expiry,
//!    `dpctl/del-flows`, a port's removal) or whose actions changed loses its filters; all
//!    of them go when `hw-offload` is turned off, and [`remove_all`] takes every filter the
//!    process installed when the daemon exits.
//! 3. **Installation.** A new megaflow that qualifies gets its filters; one that failed is
//!    not tried again (it stays in userspace, counted in `offload_tc_failed`).
//!
//! When a packet-socket device first becomes a port of this process, every filter in
//! ferrovs's priority range is removed from it (what a daemon that was killed left), whether
//! or not offload is on; filters at other priorities are somebody else's and stay.
//!
//! # Order of changes
//!
//! The kernel hands each packet to the switch's packet socket before ingress traffic control,
//! so the socket carries a program that skips what the device's filters take
//! (`fvs_netdev::tc::set_bypass`). A filter is installed before the socket skips its
//! packets, and the socket stops skipping them before the filter is removed: at those
//! instants a packet may be forwarded twice, never lost. Packets of a flow that were
//! already queued on the socket when its filter came may leave after packets the kernel
//! forwarded: a flow's first packets can be reordered once.
//!
//! # Limits and trade-offs
//!
//! - **VLANs**: a filter only ever takes untagged packets (its protocol is one EtherType,
//!   which the kernel compares with 802.1Q when a tag was stripped into metadata), so tagged
//!   packets of any megaflow go to the switch; a megaflow that matches a tag is not offloaded.
//! - **Timing**: a filter comes at the revalidation pass after its megaflow (≤ 200 ms) and
//!   goes at the pass after the megaflow (`dpctl/del-flows` included); until then the kernel
//!   keeps forwarding by the old decision. A translation change is seen at the same pass that
//!   changes the megaflow, so a dropping flow-mod takes effect as fast as in userspace.
//! - **Statistics**: the kernel counts a GSO super-frame as one packet, as the datapath does;
//!   bytes are counted with the Ethernet header; TCP flags of offloaded packets are not seen.
//! - **Cost**: each device's socket program tests its filters one after the other, and each
//!   filter is a `u32` instance of its own (priorities [`PRIO_FIRST`]`..=`[`PRIO_LAST`]): fine
//!   for the handful of flows a VM pair has, linear for thousands.
//! - **Not offloaded**: header rewrites, VLAN push/pop (this kernel has no `act_vlan`),
//!   sending UDP tunnels over IPv6 (receiving those with a checksum), tunnels through the
//!   host's stack, tunnel checksums, Geneve options,
//!   `trunc`, meters, several outputs, matches on IP addresses or L4 ports (a `u32`
//!   key could express some, not done), IPv6's "not a fragment" (extension headers),
//!   internal (TAP) ports. `other_config:tc-policy` is ignored (filters are `skip_hw`), and
//!   unlike Open vSwitch a change of `hw-offload` applies without a restart.
//!
//! # Process-wide state
//!
//! Traffic-control priorities and a device's socket program belong to the device, which every
//! datapath thread shares, so the filters of all threads are kept in one registry: a device's
//! socket program always covers every filter on it, whichever thread installed it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fvs_datapath::chain::{DecapChain, TunnelPin};
use fvs_datapath::{Datapath, FlowId};
use fvs_flow::{Field, FlowKey};
use fvs_netdev::tc::{self, Filter, PRIO_FIRST, PRIO_LAST, Rewrite};
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort};

/// EtherTypes a megaflow that wildcards the EtherType is offloaded for (one filter each).
const WILDCARD_PROTOCOLS: [u16; 3] = [ETH_IPV4, ETH_ARP, ETH_IPV6];
const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
/// The "tag present" bit of `vlan_tci`.
const VLAN_PRESENT: u128 = 0x1000;

/// Metadata that is zero for every packet the datapath receives from a device: a megaflow
/// asking for zero there needs no key (one asking for anything else is never offloaded).
const ZERO_METADATA: [Field; 8] = [
    Field::RecircId,
    Field::DpHash,
    Field::PktMark,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
    Field::PacketType,
];

/// The filters one megaflow needs, before priorities are given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// (EtherType, keys) per filter.
    pub filters: Vec<(u16, Vec<tc::Key>)>,
}

/// What a megaflow's match becomes in `u32` filters; `None` when some bit of its mask cannot
/// be expressed exactly (or more narrowly). See the module docs.
pub fn plan(key: &FlowKey, mask: &FlowKey) -> Option<Plan> {
    let mut rest = *mask;
    let take = |rest: &mut FlowKey, f: Field| rest.set(f.loc(), 0);
    take(&mut rest, Field::InPort);
    for f in Field::TUNNEL.into_iter().chain(ZERO_METADATA) {
        if key.get(f.loc()) & mask.get(f.loc()) != 0 {
            return None;
        }
        take(&mut rest, f);
    }
    // VLAN: untagged (or not asked). Filters never take tagged packets.
    let tci_mask = mask.get(Field::VlanTci.loc());
    if tci_mask != 0 && (tci_mask & VLAN_PRESENT == 0 || key.get(Field::VlanTci.loc()) != 0) {
        return None;
    }
    take(&mut rest, Field::VlanTci);
    let mac = |f: Field| -> ([u8; 6], [u8; 6]) {
        let six = |v: u128| {
            let b = (v as u64).to_be_bytes();
            [b[2], b[3], b[4], b[5], b[6], b[7]]
        };
        (six(key.get(f.loc())), six(mask.get(f.loc())))
    };
    let eth = tc::ethernet_keys(mac(Field::EthDst), mac(Field::EthSrc));
    take(&mut rest, Field::EthDst);
    take(&mut rest, Field::EthSrc);
    let type_mask = mask.get(Field::EthType.loc());
    let protocols: Vec<u16> = match type_mask {
        0 => WILDCARD_PROTOCOLS.to_vec(),
        0xffff => vec![u16::try_from(key.get(Field::EthType.loc())).ok()?],
        _ => return None,
    };
    take(&mut rest, Field::EthType);
    // The TOS byte (IPv4) or traffic class (IPv6), which translation reads for a tunnel's
    // outer TOS: in the IP header's first word (`nw_tos`, `ip_dscp` and `ip_ecn` are its
    // bits).
    let tos_mask = mask.get(Field::NwTos.loc()) as u32;
    let tos_key = match (tos_mask, protocols.as_slice()) {
        (0, _) => None,
        (m, [ETH_IPV4]) => Some((m << 16, (key.get(Field::NwTos.loc()) as u32) << 16)),
        (m, [ETH_IPV6]) => Some((m << 20, (key.get(Field::NwTos.loc()) as u32) << 20)),
        _ => return None,
    }
    .map(|(mask, value)| tc::Key { at: 0, mask, value });
    take(&mut rest, Field::NwTos);
    // "Not a fragment" is a key for IPv4; IPv6 fragments hide behind extension headers a
    // u32 filter cannot walk, and other protocols have no fragments.
    let frag_mask = mask.get(Field::IpFrag.loc());
    let not_fragment = frag_mask != 0;
    if not_fragment && key.get(Field::IpFrag.loc()) != 0 {
        return None;
    }
    take(&mut rest, Field::IpFrag);
    if rest != FlowKey::ZERO {
        return None;
    }
    let filters: Vec<(u16, Vec<tc::Key>)> = protocols
        .into_iter()
        .filter(|&p| !(not_fragment && p == ETH_IPV6))
        .map(|p| {
            let mut keys = eth.clone();
            if not_fragment && p == ETH_IPV4 {
                keys.push(tc::ipv4_not_fragment());
            }
            keys.extend(tos_key);
            (p, keys)
        })
        .collect();
    (!filters.is_empty()).then_some(Plan { filters })
}

/// Counters for `coverage/show`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Filters installed.
    pub installed: u64,
    /// Filters the kernel refused (their megaflows stayed in userspace).
    pub failed: u64,
    /// Filters removed.
    pub removed: u64,
    /// Filters a crashed daemon left, removed at start.
    pub stale: u64,
}

/// Every filter the process has installed, by input device, and what is shared about them.
#[derive(Default)]
struct Registry {
    enabled: bool,
    /// Set at exit: nothing more is installed.
    closed: bool,
    devices: HashMap<u32, BTreeMap<u16, Filter>>,
    /// Devices whose `ingress` qdisc this process added (removed again at exit).
    qdiscs: HashSet<u32>,
    /// Devices (name, index) whose leftover filters were removed.
    scrubbed: HashSet<(String, u32)>,
    counters: Counters,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    f(registry().get_or_insert_with(Registry::default))
}

/// Turns offload on or off for the whole process (`other_config:hw-offload`).
pub fn set_enabled(on: bool) {
    with(|r| r.enabled = on);
}

/// Whether offload is on.
pub fn enabled() -> bool {
    with(|r| r.enabled && !r.closed)
}

/// The counters, as `coverage/show` rows.
pub fn coverage() -> Vec<(&'static str, u64)> {
    let c = with(|r| r.counters);
    vec![
        ("offload_tc_installed", c.installed),
        ("offload_tc_failed", c.failed),
        ("offload_tc_removed", c.removed),
        ("offload_tc_stale_removed", c.stale),
    ]
}

/// Removes every filter the process installed, and the `ingress` qdiscs it added, and
/// installs no more (daemon exit).
pub fn remove_all() {
    with(|r| {
        r.closed = true;
        for (dev, filters) in std::mem::take(&mut r.devices) {
            // The sockets take the packets back first (see "Order of changes").
            let _ = rebuild_socket(dev, &[]);
            for f in filters.values() {
                if tc::del_filter(dev, f.prio, f.protocol).is_ok() {
                    r.counters.removed += 1;
                }
            }
        }
        // The qdiscs it added go too, so the devices are as the daemon found them.
        for dev in r.qdiscs.drain() {
            let _ = tc::delete_ingress(dev);
        }
    });
    *sockets() = None;
}

/// What one offloaded unit is (a plain megaflow, or a tunnel chain: its head megaflow and a
/// partner, [`fvs_datapath::chain`]) and the filters that stand for it. Two passes that
/// compute the same candidate keep its filters; any difference (a megaflow's actions, a
/// native hop's neighbour, the partner) replaces them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Candidate {
    /// The head megaflow: masked key, mask, actions.
    head: (FlowKey, FlowKey, DpActions),
    /// A chain's partner megaflow: handle, masked key, mask, actions.
    partner: Option<(FlowId, FlowKey, FlowKey, DpActions)>,
    /// The input device's index.
    dev: u32,
    /// The output device's index.
    to: u32,
    /// (EtherType, keys) per filter.
    filters: Vec<(u16, Vec<tc::Key>)>,
    /// What the filters do to a packet besides redirecting it.
    rewrite: Rewrite,
    /// Bytes per packet the head's and the partner's statistics differ from what the
    /// filters count (the frame as it arrived): a decapsulated frame is shorter, an
    /// encapsulated one longer.
    head_extra: i64,
    partner_extra: i64,
}

/// One offloaded unit, installed.
struct Entry {
    cand: Candidate,
    /// Its filters' priorities and EtherTypes.
    filters: Vec<(u16, u16)>,
    /// The eBPF filters' own counters (`u32` filters' come from the dump).
    counters: Vec<tc::BpfCounters>,
    /// What the filters had counted at the last pass.
    packets: u64,
    bytes: u64,
}

/// An offloaded unit's identity: its head megaflow and, for a chain, the partner.
type UnitId = (FlowId, Option<FlowId>);

/// One datapath thread's offloaded megaflows and tunnel chains.
#[derive(Default)]
pub struct Offload {
    units: HashMap<UnitId, Entry>,
    /// Candidates the kernel refused, not tried again while they stay the same.
    refused: HashSet<Candidate>,
}

impl Offload {
    /// Whether megaflow `id` (this masked key and mask: a handle may name another megaflow
    /// after a flush, until the next pass) is offloaded now, alone or as the head of a
    /// tunnel chain.
    pub fn is_offloaded(&self, id: FlowId, key: &FlowKey, mask: &FlowKey) -> bool {
        self.units
            .iter()
            .any(|((h, _), e)| *h == id && e.cand.head.0 == *key && e.cand.head.1 == *mask)
    }

    /// Adds what each offloaded unit's filters forwarded since the last pass to its
    /// megaflows' statistics (see the module docs).
    pub fn credit(&mut self, dp: &mut Datapath, now: Millis) {
        let u32_devices: HashSet<u32> = self
            .units
            .values()
            .filter(|e| e.cand.rewrite == Rewrite::None)
            .map(|e| e.cand.dev)
            .collect();
        let mut by_prio: HashMap<(u32, u16), (u64, u64)> = HashMap::new();
        for dev in u32_devices {
            if let Ok(stats) = tc::dump_filters(dev) {
                for s in stats {
                    by_prio.insert((dev, s.prio), (s.packets, s.bytes));
                }
            }
        }
        for ((head, partner), e) in &mut self.units {
            let (packets, bytes) = if e.cand.rewrite == Rewrite::None {
                e.filters
                    .iter()
                    .filter_map(|(p, _)| by_prio.get(&(e.cand.dev, *p)))
                    .fold((0, 0), |(a, b), (p, q)| (a + p, b + q))
            } else {
                e.counters
                    .iter()
                    .filter_map(|c| c.read().ok())
                    .fold((0, 0), |(a, b), c| (a + c.packets, b + c.bytes))
            };
            let dp_packets = packets.saturating_sub(e.packets);
            let dp_bytes = bytes.saturating_sub(e.bytes);
            e.packets = e.packets.max(packets);
            e.bytes = e.bytes.max(bytes);
            if dp_packets == 0 {
                continue;
            }
            let adjusted = |extra: i64| {
                let d = extra.saturating_mul(dp_packets as i64);
                (dp_bytes as i64).saturating_add(d).max(0) as u64
            };
            dp.credit_flow(*head, dp_packets, adjusted(e.cand.head_extra), now);
            if let Some(p) = partner {
                dp.credit_flow(*p, dp_packets, adjusted(e.cand.partner_extra), now);
            }
        }
    }

    /// Brings the filters in step with the megaflows (see the module docs).
    pub fn sync(&mut self, dp: &Datapath) {
        scrub_new_devices(dp);
        let on = enabled();
        let mut wanted: HashMap<UnitId, Candidate> = HashMap::new();
        if on {
            let live: HashMap<FlowId, (FlowKey, FlowKey, DpActions)> = dp
                .megaflows()
                .map(|(id, k, m, v)| (id, (*k, *m, v.actions.clone())))
                .collect();
            let mut decap: HashMap<FlowId, Vec<DecapChain>> = HashMap::new();
            for (id, chain) in dp.all_decap_chains() {
                decap.entry(id).or_default().push(chain);
            }
            for (id, flow) in &live {
                let chains = decap.remove(id).unwrap_or_default();
                for (partner, c) in candidates(dp, &live, flow, chains) {
                    wanted.insert((*id, partner), c);
                }
            }
        }
        let stale: Vec<UnitId> = self
            .units
            .iter()
            .filter(|(id, e)| wanted.get(id) != Some(&e.cand))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(e) = self.units.remove(&id) {
                uninstall(&e);
            }
        }
        if !on {
            self.refused.clear();
            return;
        }
        let still: HashSet<&Candidate> = wanted.values().collect();
        self.refused.retain(|c| still.contains(c));
        for (id, cand) in wanted {
            if self.units.contains_key(&id) || self.refused.contains(&cand) {
                continue;
            }
            match install(&cand) {
                Some(e) => {
                    self.units.insert(id, e);
                }
                None => {
                    self.refused.insert(cand);
                }
            }
        }
    }
}

impl Drop for Offload {
    fn drop(&mut self) {
        for e in self.units.values() {
            uninstall(e);
        }
    }
}

/// What megaflow `flow` can be offloaded as: alone (one plain output between devices), or
/// as the head of tunnel chains (`decap`: the decapsulation chains it heads), each with its
/// partner's handle.
fn candidates(
    dp: &Datapath,
    live: &HashMap<FlowId, (FlowKey, FlowKey, DpActions)>,
    flow: &(FlowKey, FlowKey, DpActions),
    decap: Vec<DecapChain>,
) -> Vec<(Option<FlowId>, Candidate)> {
    let (key, mask, actions) = flow;
    let mut out = Vec::new();
    if let Some(c) = plain_candidate(dp, flow) {
        out.push((None, c));
    }
    if let Some(chain) = dp.encap_chain(key, actions)
        && let Some((k2, m2, a2)) = live.get(&chain.outer_flow)
        && let (Some(dev), Some(to)) = (
            packet_device(dp, chain.in_port),
            packet_device(dp, chain.out_port),
        )
        && let Some(p) = plan(key, mask)
    {
        // The kernel pushes headers only in front of IP packets (`bpf_skb_adjust_room`),
        // so ARP and the rest stay with the switch.
        let filters: Vec<(u16, Vec<tc::Key>)> = p
            .filters
            .into_iter()
            .filter(|(proto, _)| matches!(*proto, ETH_IPV4 | ETH_IPV6))
            .map(|(proto, keys)| (proto, from_frame_start(keys)))
            .collect();
        if !filters.is_empty() {
            let header_len = chain.header.len() as i64;
            out.push((
                Some(chain.outer_flow),
                Candidate {
                    head: flow.clone(),
                    partner: Some((chain.outer_flow, *k2, *m2, a2.clone())),
                    dev,
                    to,
                    filters,
                    rewrite: Rewrite::Encap {
                        header: chain.header,
                    },
                    head_extra: 0,
                    partner_extra: header_len,
                },
            ));
        }
    }
    for chain in decap {
        let Some((k3, m3, a3)) = live.get(&chain.outer_flow) else {
            continue;
        };
        let (Some(dev), Some(to)) = (
            packet_device(dp, chain.in_port),
            packet_device(dp, chain.out_port),
        ) else {
            continue;
        };
        let Some(filters) = decap_filters(&chain.pin, (k3, m3), (key, mask)) else {
            continue;
        };
        out.push((
            Some(chain.outer_flow),
            Candidate {
                head: flow.clone(),
                partner: Some((chain.outer_flow, *k3, *m3, a3.clone())),
                dev,
                to,
                filters,
                rewrite: Rewrite::Decap {
                    outer_len: chain.pin.outer_len() as u16,
                },
                head_extra: -(chain.pin.outer_len() as i64),
                partner_extra: 0,
            },
        ));
    }
    out
}

/// A megaflow that is one plain output between two packet-socket devices.
fn plain_candidate(dp: &Datapath, flow: &(FlowKey, FlowKey, DpActions)) -> Option<Candidate> {
    let (key, mask, actions) = flow;
    let [DpAction::Output(out)] = actions.0.as_slice() else {
        return None;
    };
    let in_port = DpPort(u32::try_from(key.get(Field::InPort.loc())).ok()?);
    if in_port == *out {
        return None;
    }
    let dev = packet_device(dp, in_port)?;
    let to = packet_device(dp, *out)?;
    let plan = plan(key, mask)?;
    Some(Candidate {
        head: flow.clone(),
        partner: None,
        dev,
        to,
        filters: plan.filters,
        rewrite: Rewrite::None,
        head_extra: 0,
        partner_extra: 0,
    })
}

/// The filters of a decapsulation chain: the partner's match on the outer frame (IPv4 or
/// IPv6, as the pin's addresses), the outer IP and GRE or UDP headers pinned by the chain,
/// and the vport megaflow's match on the inner frame, shifted behind the outer headers.
/// `None` when a match cannot be expressed.
fn decap_filters(
    pin: &TunnelPin,
    outer: (&FlowKey, &FlowKey),
    inner: (&FlowKey, &FlowKey),
) -> Option<Vec<(u16, Vec<tc::Key>)>> {
    let outer_type = if pin.dst.is_ipv6() {
        ETH_IPV6
    } else {
        ETH_IPV4
    };
    let (outer_key, outer_mask) = pinned_away(pin, outer.0, outer.1);
    let outer_plan = plan(&outer_key, &outer_mask)?;
    let (_, mut base) = outer_plan
        .filters
        .into_iter()
        .find(|(proto, _)| *proto == outer_type)?;
    base.extend(tunnel_keys(pin)?);
    // The tunnel fields are what `tunnel_keys` pinned (the chain checked the megaflow asks
    // for nothing else there); the rest is a match on the inner frame.
    let (mut key, mut mask) = (*inner.0, *inner.1);
    for f in Field::TUNNEL {
        key.set(f.loc(), 0);
        mask.set(f.loc(), 0);
    }
    let inner_plan = plan(&key, &mask)?;
    let outer_len = i32::try_from(pin.outer_len()).ok()?;
    let filters = inner_plan
        .filters
        .into_iter()
        .map(|(proto, keys)| {
            let mut all = base.clone();
            // The inner EtherType, with the two bytes after it unmasked.
            all.push(tc::Key {
                at: outer_len - 2,
                mask: 0xffff_0000,
                value: u32::from(proto) << 16,
            });
            all.extend(keys.into_iter().map(|k| tc::Key {
                at: k.at + outer_len,
                ..k
            }));
            (outer_type, from_frame_start(all))
        })
        .collect();
    Some(filters)
}

/// The outer megaflow's match without what [`tunnel_keys`] pins anyway: the IP protocol and
/// addresses (the chain's partner agrees with the pin there), the UDP
/// destination port, and "not a fragment" (an IPv4 header without fragment bits, an IPv6
/// header whose next header is the tunnel's). What stays is for [`plan`].
fn pinned_away(pin: &TunnelPin, key: &FlowKey, mask: &FlowKey) -> (FlowKey, FlowKey) {
    let (mut key, mut mask) = (*key, *mask);
    let agrees = |f: Field, v: u128| v & mask.get(f.loc()) == key.get(f.loc());
    let mut pinned = vec![(
        Field::IpProto,
        if pin.protocol == TunnelProtocol::Gre {
            u128::from(IPPROTO_GRE)
        } else {
            u128::from(IPPROTO_UDP)
        },
    )];
    match (pin.src, pin.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pinned.extend([
            (Field::Ipv4Src, u128::from(s.to_bits())),
            (Field::Ipv4Dst, u128::from(d.to_bits())),
        ]),
        (s, d) => pinned.extend([
            (Field::Ipv6Src, ipv6_bits(s)),
            (Field::Ipv6Dst, ipv6_bits(d)),
        ]),
    }
    if pin.protocol != TunnelProtocol::Gre {
        pinned.push((Field::UdpDst, u128::from(pin.udp_dst)));
    }
    // Packets of the pin are never fragments.
    pinned.push((Field::IpFrag, 0));
    if pinned.iter().all(|&(f, v)| agrees(f, v)) {
        for (f, _) in pinned {
            key.set(f.loc(), 0);
            mask.set(f.loc(), 0);
        }
    }
    (key, mask)
}

/// An address's 128 bits as IPv6 (an IPv4 one mapped).
fn ipv6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// Keys for the outer headers a decapsulation chain takes: IPv4 without options and without
/// ECN marks (so nothing needs copying inward), not a fragment, or IPv6 without ECN marks
/// whose next header is the tunnel's (no extension headers, so no fragment either; any
/// flow label, as the datapath takes any), from this source to this destination; then GRE
/// with exactly the key flag (or no flags), Ethernet inside and this key, or UDP to the
/// tunnel's port (over IPv6 without a checksum: the datapath verifies any other, a sum no
/// filter makes) with a VXLAN header (only the I flag) or a Geneve header (version 0, no
/// options, no O or C flag, Ethernet inside) and this VNI. `None` for addresses of two
/// families.
fn tunnel_keys(pin: &TunnelPin) -> Option<Vec<tc::Key>> {
    let word = |at: i32, mask: u32, value: u32| tc::Key { at, mask, value };
    let proto = match pin.protocol {
        TunnelProtocol::Gre => IPPROTO_GRE,
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => IPPROTO_UDP,
    };
    let (mut keys, l4) = match (pin.src, pin.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            vec![
                word(0, 0xff03_0000, 0x4500_0000),
                word(4, 0x0000_3fff, 0),
                word(8, 0x00ff_0000, u32::from(proto) << 16),
                word(12, u32::MAX, s.to_bits()),
                word(16, u32::MAX, d.to_bits()),
            ],
            IPV4_LEN,
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            // Version 6 and the traffic class's ECN bits; the payload length's word: the
            // next header.
            let mut keys = vec![
                word(0, 0xf030_0000, 0x6000_0000),
                word(4, 0x0000_ff00, u32::from(proto) << 8),
            ];
            for (at, addr) in [(8, s), (24, d)] {
                let bits = addr.to_bits();
                keys.extend(
                    (0..4).map(|i| word(at + 4 * i, u32::MAX, (bits >> (96 - 32 * i)) as u32)),
                );
            }
            if proto == IPPROTO_UDP {
                // The checksum word (after the length): zero.
                keys.push(word(IPV6_LEN + 4, 0x0000_ffff, 0));
            }
            (keys, IPV6_LEN)
        }
        _ => return None,
    };
    let vni = pin.key.unwrap_or(0) << 8;
    match (pin.protocol, pin.key) {
        (TunnelProtocol::Gre, Some(k)) => {
            keys.push(word(l4, u32::MAX, GRE_KEY_FLAG << 16 | ETH_TEB));
            keys.push(word(l4 + 4, u32::MAX, k));
        }
        (TunnelProtocol::Gre, None) => keys.push(word(l4, u32::MAX, ETH_TEB)),
        (TunnelProtocol::Vxlan, _) => {
            keys.push(word(l4, 0x0000_ffff, u32::from(pin.udp_dst)));
            keys.push(word(l4 + 8, u32::MAX, VXLAN_I_FLAG));
            keys.push(word(l4 + 12, u32::MAX, vni));
        }
        (TunnelProtocol::Geneve, _) => {
            keys.push(word(l4, 0x0000_ffff, u32::from(pin.udp_dst)));
            keys.push(word(l4 + 8, u32::MAX, ETH_TEB));
            keys.push(word(l4 + 12, u32::MAX, vni));
        }
    }
    Some(keys)
}

/// The outer IP headers' lengths (IPv4 without options), where the tunnel header starts.
const IPV4_LEN: i32 = 20;
const IPV6_LEN: i32 = 40;

const IPPROTO_GRE: u8 = 47;
const IPPROTO_UDP: u8 = 17;
/// GRE's flags word with only K set.
const GRE_KEY_FLAG: u32 = 0x2000;
/// Transparent Ethernet Bridging: GRE's and Geneve's protocol for an Ethernet frame inside.
const ETH_TEB: u32 = 0x6558;
/// VXLAN's first word with only the I (valid VNI) flag.
const VXLAN_I_FLAG: u32 = 0x0800_0000;

/// Keys an eBPF filter reads from the frame's start: the `u32` form of the destination's
/// first two bytes (the low half of the word at -16) becomes the high half of the word at
/// -14, the frame's first four bytes.
fn from_frame_start(keys: Vec<tc::Key>) -> Vec<tc::Key> {
    keys.into_iter()
        .map(|k| {
            if k.at == -16 {
                tc::Key {
                    at: -14,
                    mask: k.mask << 16,
                    value: k.value << 16,
                }
            } else {
                k
            }
        })
        .collect()
}

/// Installs a candidate's filters; `None` when the kernel refused one (then none stay).
fn install(cand: &Candidate) -> Option<Entry> {
    let dev = cand.dev;
    let mut reg = registry();
    let r = reg.get_or_insert_with(Registry::default);
    if r.closed {
        return None;
    }
    match tc::ensure_ingress(dev) {
        Ok(added) => {
            if added {
                r.qdiscs.insert(dev);
            }
        }
        Err(_) => {
            r.counters.failed += cand.filters.len() as u64;
            return None;
        }
    }
    let mut entry = Entry {
        cand: cand.clone(),
        filters: Vec::new(),
        counters: Vec::new(),
        packets: 0,
        bytes: 0,
    };
    for (protocol, keys) in &cand.filters {
        let used = r.devices.entry(dev).or_default();
        let Some(prio) = (PRIO_FIRST..=PRIO_LAST).find(|p| !used.contains_key(p)) else {
            r.counters.failed += 1;
            break;
        };
        let f = Filter {
            prio,
            protocol: *protocol,
            keys: keys.clone(),
            redirect: cand.to,
            rewrite: cand.rewrite.clone(),
        };
        let added = if f.rewrite == Rewrite::None {
            tc::add_filter(dev, &f).map(|()| None)
        } else {
            tc::add_bpf_filter(dev, &f).map(Some)
        };
        match added {
            Ok(counters) => entry.counters.extend(counters),
            Err(_) => {
                r.counters.failed += 1;
                break;
            }
        }
        r.counters.installed += 1;
        entry.filters.push((prio, *protocol));
        used.insert(prio, f);
    }
    // The filters first, then the socket skips their packets (see "Order of changes").
    let on_device: Vec<Filter> = r
        .devices
        .get(&dev)
        .map(|f| f.values().cloned().collect())
        .unwrap_or_default();
    if entry.filters.len() == cand.filters.len() && rebuild_socket(dev, &on_device).is_ok() {
        return Some(entry);
    }
    // All or nothing: a unit half in the kernel would split its statistics.
    drop(reg);
    uninstall(&entry);
    None
}

/// The index of the packet-socket device behind port `no`, if it is one.
fn packet_device(dp: &Datapath, no: DpPort) -> Option<u32> {
    let d = dp.netdev(no)?;
    if !d.fd().is_some_and(tc::is_packet_socket) {
        return None;
    }
    tc::ifindex(d.name())
}

/// Removes an entry's filters: first from its device's socket program (the registry's
/// other filters stay in it), then from the kernel.
fn uninstall(e: &Entry) {
    let dev = e.cand.dev;
    with(|r| {
        let Some(filters) = r.devices.get_mut(&dev) else {
            return;
        };
        for (prio, _) in &e.filters {
            filters.remove(prio);
        }
        let rest: Vec<Filter> = filters.values().cloned().collect();
        // The socket stops skipping the packets first, then the filters go.
        let _ = rebuild_socket(dev, &rest);
        for (prio, protocol) in &e.filters {
            if tc::del_filter(dev, *prio, *protocol).is_ok() {
                r.counters.removed += 1;
            }
        }
        if filters.is_empty() {
            r.devices.remove(&dev);
        }
    });
}

/// The sockets of the ports' packet-socket devices (a duplicate of each descriptor, with the
/// socket's inode, by device index), so a filter's removal can rewrite the program without a
/// datapath at hand (on a thread's end). Kept only while a port has the device, and replaced
/// when the port's device is opened again (a new socket), so an old socket closes.
static SOCKETS: Mutex<Option<HashMap<u32, (u64, OwnedFd)>>> = Mutex::new(None);

fn sockets() -> MutexGuard<'static, Option<HashMap<u32, (u64, OwnedFd)>>> {
    SOCKETS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives the socket of device `dev` the program for `filters` (every filter on the device).
fn rebuild_socket(dev: u32, filters: &[Filter]) -> std::io::Result<()> {
    let sockets = sockets();
    let Some((_, fd)) = sockets.as_ref().and_then(|s| s.get(&dev)) else {
        return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    };
    let all: Vec<&Filter> = filters.iter().collect();
    tc::set_bypass(fd.as_fd(), &all)
}

/// A duplicate of `fd` and the inode of the socket behind it.
fn socket_of(fd: BorrowedFd<'_>) -> Option<(u64, OwnedFd)> {
    let dup = fd.try_clone_to_owned().ok()?;
    let file = std::fs::File::from(dup);
    let ino = file.metadata().ok()?.ino();
    Some((ino, OwnedFd::from(file)))
}

/// Keeps [`SOCKETS`] in step with the ports' devices: a new or reopened device's socket is
/// remembered and given the program for the filters already on the device; removes the
/// filters a crashed daemon left on devices this process has not seen yet.
fn scrub_new_devices(dp: &Datapath) {
    let ports: Vec<DpPort> = dp.ports().map(|(n, _, _)| n).collect();
    let mut present = HashSet::new();
    for no in ports {
        let Some(dev) = packet_device(dp, no) else {
            continue;
        };
        let Some(d) = dp.netdev(no) else { continue };
        let Some((ino, fd)) = d.fd().and_then(socket_of) else {
            continue;
        };
        let name = d.name().to_owned();
        present.insert((name.clone(), dev));
        let fresh = with(|r| r.scrubbed.insert((name, dev)));
        if fresh
            && !with(|r| r.devices.contains_key(&dev))
            && let Ok(n) = tc::remove_all(dev)
        {
            with(|r| r.counters.stale += n as u64);
        }
        let known = sockets()
            .as_ref()
            .and_then(|s| s.get(&dev))
            .is_some_and(|(i, _)| *i == ino);
        if !known {
            sockets()
                .get_or_insert_with(HashMap::new)
                .insert(dev, (ino, fd));
            let filters: Vec<Filter> = with(|r| {
                r.devices
                    .get(&dev)
                    .map(|f| f.values().cloned().collect())
                    .unwrap_or_default()
            });
            if !filters.is_empty() {
                let _ = rebuild_socket(dev, &filters);
            }
        }
    }
    let gone: Vec<u32> = with(|r| {
        let gone = r
            .scrubbed
            .iter()
            .filter(|k| !present.contains(*k))
            .map(|(_, dev)| *dev)
            .collect();
        r.scrubbed.retain(|k| present.contains(k));
        gone
    });
    if !gone.is_empty()
        && let Some(s) = sockets().as_mut()
    {
        for dev in gone {
            s.remove(&dev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn megaflow(fields: &[(Field, u128, u128)]) -> (FlowKey, FlowKey) {
        let mut key = FlowKey::ZERO;
        let mut mask = FlowKey::ZERO;
        key.set(Field::InPort.loc(), 1);
        mask.set(Field::InPort.loc(), u128::from(u32::MAX));
        for &(f, v, m) in fields {
            key.set(f.loc(), v & m);
            mask.set(f.loc(), m);
        }
        (key, mask)
    }

    const MAC_A: u128 = 0x0200_0000_0001;
    const MAC_B: u128 = 0x0200_0000_0002;
    const ALL_MAC: u128 = 0xffff_ffff_ffff;

    #[test]
    fn a_normal_megaflow_becomes_one_filter_per_protocol() {
        let (k, m) = megaflow(&[
            (Field::EthSrc, MAC_A, ALL_MAC),
            (Field::EthDst, MAC_B, ALL_MAC),
            (Field::VlanTci, 0, 0x1fff),
            (Field::EthType, 0x0800, 0xffff),
            (Field::IpFrag, 0, 3),
        ]);
        let p = plan(&k, &m).expect("offloadable");
        assert_eq!(p.filters.len(), 1);
        let (proto, keys) = &p.filters[0];
        assert_eq!(*proto, 0x0800);
        assert!(keys.contains(&tc::ipv4_not_fragment()));
        assert!(keys.contains(&tc::Key {
            at: -12,
            mask: u32::MAX,
            value: 0x0000_0002
        }));

        // A tunnel's megaflow reads the TOS byte (for the outer header's).
        let (k, m) = megaflow(&[(Field::EthType, 0x0800, 0xffff), (Field::NwTos, 0x28, 0xff)]);
        let p = plan(&k, &m).expect("offloadable");
        assert!(p.filters[0].1.contains(&tc::Key {
            at: 0,
            mask: 0x00ff_0000,
            value: 0x0028_0000
        }));
        let (k, m) = megaflow(&[(Field::EthType, 0x86dd, 0xffff), (Field::IpEcn, 1, 3)]);
        let p = plan(&k, &m).expect("offloadable");
        assert!(p.filters[0].1.contains(&tc::Key {
            at: 0,
            mask: 0x0030_0000,
            value: 0x0010_0000
        }));

        let (k, m) = megaflow(&[(Field::EthDst, MAC_B, ALL_MAC)]);
        let p = plan(&k, &m).expect("offloadable");
        let protos: Vec<u16> = p.filters.iter().map(|f| f.0).collect();
        assert_eq!(protos, vec![0x0800, 0x0806, 0x86dd]);
    }

    #[test]
    fn what_u32_cannot_express_exactly_stays_in_userspace() {
        let tagged = megaflow(&[(Field::VlanTci, 0x1005, 0x1fff)]);
        assert_eq!(plan(&tagged.0, &tagged.1), None, "a VLAN");
        let ip = megaflow(&[
            (Field::EthType, 0x0800, 0xffff),
            (Field::Ipv4Dst, 0x0a00_0001, 0xffff_ffff),
        ]);
        assert_eq!(plan(&ip.0, &ip.1), None, "an IP address");
        let fragment = megaflow(&[(Field::EthType, 0x0800, 0xffff), (Field::IpFrag, 1, 3)]);
        assert_eq!(plan(&fragment.0, &fragment.1), None, "fragments");
        let v6 = megaflow(&[(Field::EthType, 0x86dd, 0xffff), (Field::IpFrag, 0, 3)]);
        assert_eq!(plan(&v6.0, &v6.1), None, "IPv6 not a fragment");
        let tos_any_ip = megaflow(&[(Field::NwTos, 0, 0xff)]);
        assert_eq!(
            plan(&tos_any_ip.0, &tos_any_ip.1),
            None,
            "TOS without an EtherType"
        );
        let partial = megaflow(&[(Field::EthType, 0x0800, 0xff00)]);
        assert_eq!(plan(&partial.0, &partial.1), None, "part of the EtherType");
        let marked = megaflow(&[(Field::PktMark, 5, 0xffff_ffff)]);
        assert_eq!(plan(&marked.0, &marked.1), None, "a packet mark");
        let unmarked = megaflow(&[(Field::PktMark, 0, 0xffff_ffff)]);
        assert!(
            plan(&unmarked.0, &unmarked.1).is_some(),
            "no mark is every packet's"
        );
    }

    fn pin(protocol: TunnelProtocol, key: Option<u32>, udp_dst: u16) -> TunnelPin {
        TunnelPin {
            src: std::net::Ipv4Addr::new(10, 0, 1, 21).into(),
            dst: std::net::Ipv4Addr::new(10, 0, 1, 31).into(),
            key,
            protocol,
            udp_dst,
        }
    }

    /// The word of a frame at `at` (from the network header), big-endian, as a filter reads it.
    fn word(frame: &[u8], at: i32) -> u32 {
        let i = usize::try_from(at + 14).expect("inside the frame");
        u32::from_be_bytes(frame[i..i + 4].try_into().expect("four bytes"))
    }

    fn all_match(keys: &[tc::Key], frame: &[u8]) -> bool {
        keys.iter()
            .all(|k| word(frame, k.at) & k.mask == k.value & k.mask)
    }

    #[test]
    fn decapsulation_keys_take_exactly_the_pinned_outer_packets() {
        // Outer Ethernet, IPv4 (10.0.1.21 → 10.0.1.31, GRE, DF), GRE with key 1, then an
        // inner Ethernet header (fa:16:3e:00:01:0a from fa:16:3e:00:01:0b, IPv4).
        let mut gre = vec![0u8; 14 + 20 + 8 + 14 + 20];
        gre[12..14].copy_from_slice(&[0x08, 0x00]);
        gre[14..24].copy_from_slice(&[0x45, 0, 0, 62, 0, 0, 0x40, 0, 64, 47]);
        gre[26..34].copy_from_slice(&[10, 0, 1, 21, 10, 0, 1, 31]);
        gre[34..42].copy_from_slice(&[0x20, 0, 0x65, 0x58, 0, 0, 0, 1]);
        gre[42..48].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0a]);
        gre[48..54].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0b]);
        gre[54..56].copy_from_slice(&[0x08, 0x00]);
        let c = pin(TunnelProtocol::Gre, Some(1), 0);
        let outer = megaflow(&[(Field::EthType, 0x0800, 0xffff)]);
        let inner = megaflow(&[
            (Field::TunId, 1, u128::from(u64::MAX)),
            (Field::TunSrc, 0x0a00_0115, 0xffff_ffff),
            (Field::EthDst, 0xfa16_3e00_010a, ALL_MAC),
        ]);
        let filters =
            decap_filters(&c, (&outer.0, &outer.1), (&inner.0, &inner.1)).expect("expressible");
        assert_eq!(filters.len(), 3, "IPv4, ARP and IPv6 inside: {filters:?}");
        let takes = |f: &[u8]| filters.iter().any(|(_, keys)| all_match(keys, f));
        assert!(takes(&gre), "the pinned packet");
        let mut other = gre.clone();
        other[41] = 2;
        assert!(!takes(&other), "another key");
        let mut other = gre.clone();
        other[47] = 0x0b;
        assert!(!takes(&other), "another inner destination");
        let mut other = gre.clone();
        other[15] = 0x03;
        assert!(!takes(&other), "congestion marked outside");
        let mut other = gre.clone();
        other[34] = 0x30;
        assert!(!takes(&other), "a sequence number too");

        // VXLAN: UDP to the port, the I flag, VNI 1.
        let mut vxlan = vec![0u8; 14 + 20 + 8 + 8 + 14];
        vxlan[..34].copy_from_slice(&gre[..34]);
        vxlan[23] = 17;
        vxlan[34..38].copy_from_slice(&[0xc0, 0x01, 0x12, 0xb5]);
        vxlan[42..50].copy_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
        vxlan[50..64].copy_from_slice(&gre[42..56]);
        let c = pin(TunnelProtocol::Vxlan, Some(1), 4789);
        let keys = tunnel_keys(&c).expect("over IPv4");
        assert!(all_match(&keys, &vxlan), "{keys:?}");
        let mut other = vxlan.clone();
        other[37] = 0xb6;
        assert!(!all_match(&keys, &other), "another UDP port");
        let mut other = vxlan.clone();
        other[48] = 2;
        assert!(!all_match(&keys, &other), "another VNI");
        let mut geneve = vxlan.clone();
        geneve[36..38].copy_from_slice(&[0x17, 0xc1]);
        geneve[42..46].copy_from_slice(&[0, 0, 0x65, 0x58]);
        let c = pin(TunnelProtocol::Geneve, Some(1), 6081);
        let keys = tunnel_keys(&c).expect("over IPv4");
        assert!(all_match(&keys, &geneve), "{keys:?}");
        geneve[42] = 1; // one word of options
        assert!(!all_match(&keys, &geneve), "Geneve options");
    }

    #[test]
    fn ip6gre_decapsulation_keys_take_exactly_the_pinned_outer_packets() {
        let src: Ipv6Addr = "fd00:97::21".parse().unwrap();
        let dst: Ipv6Addr = "fd00:97::31".parse().unwrap();
        // Outer Ethernet, IPv6 (traffic class 0, a flow label, GRE, hop limit 64), GRE with
        // key 1, then an inner Ethernet header (IPv4).
        let mut gre = vec![0u8; 14 + 40 + 8 + 14 + 20];
        gre[12..14].copy_from_slice(&[0x86, 0xdd]);
        gre[14..22].copy_from_slice(&[0x60, 0x01, 0x23, 0x45, 0, 42, 47, 64]);
        gre[22..38].copy_from_slice(&src.octets());
        gre[38..54].copy_from_slice(&dst.octets());
        gre[54..62].copy_from_slice(&[0x20, 0, 0x65, 0x58, 0, 0, 0, 1]);
        gre[62..68].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0a]);
        gre[68..74].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 1, 0x0b]);
        gre[74..76].copy_from_slice(&[0x08, 0x00]);
        let c = TunnelPin {
            src: src.into(),
            dst: dst.into(),
            key: Some(1),
            protocol: TunnelProtocol::Gre,
            udp_dst: 0,
        };
        assert_eq!(c.outer_len(), 62);
        // The NIC's megaflow as NORMAL's might be: IPv6, not a fragment, to this address.
        let outer = megaflow(&[
            (Field::EthType, 0x86dd, 0xffff),
            (Field::IpFrag, 0, 3),
            (Field::Ipv6Dst, dst.to_bits(), u128::MAX),
        ]);
        let inner = megaflow(&[
            (Field::TunId, 1, u128::from(u64::MAX)),
            (Field::TunIpv6Src, src.to_bits(), u128::MAX),
            (Field::EthDst, 0xfa16_3e00_010a, ALL_MAC),
            (Field::EthType, 0x0800, 0xffff),
        ]);
        let filters =
            decap_filters(&c, (&outer.0, &outer.1), (&inner.0, &inner.1)).expect("expressible");
        assert_eq!(filters.len(), 1, "IPv4 inside: {filters:?}");
        assert_eq!(filters[0].0, 0x86dd, "the outer packet's EtherType");
        let takes = |f: &[u8]| all_match(&filters[0].1, f);
        assert!(takes(&gre), "the pinned packet");
        let mut other = gre.clone();
        other[15..18].fill(0);
        assert!(takes(&other), "any flow label, as the switch takes");
        let mut other = gre.clone();
        other[61] = 2;
        assert!(!takes(&other), "another key");
        let mut other = gre.clone();
        other[37] = 0x22;
        assert!(!takes(&other), "another source");
        let mut other = gre.clone();
        other[53] = 0x32;
        assert!(!takes(&other), "another destination");
        let mut other = gre.clone();
        other[15] |= 0x30;
        assert!(!takes(&other), "congestion marked outside");
        let mut other = gre.clone();
        other[20] = 0;
        assert!(!takes(&other), "an extension header first");
        let mut other = gre.clone();
        other[75] = 0xdd;
        assert!(!takes(&other), "another inner EtherType");
        let mut other = gre.clone();
        other[14] = 0x40;
        assert!(!takes(&other), "not IPv6");

        // VXLAN over IPv6: UDP to the port without a checksum, the I flag, VNI 1. A datagram
        // with a checksum is the switch's to verify.
        let mut vxlan = vec![0u8; 14 + 40 + 8 + 8 + 14];
        vxlan[..54].copy_from_slice(&gre[..54]);
        vxlan[20] = 17;
        vxlan[54..62].copy_from_slice(&[0xc0, 0x01, 0x12, 0xb5, 0, 30, 0, 0]);
        vxlan[62..70].copy_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
        vxlan[70..84].copy_from_slice(&gre[62..76]);
        let vxlan6 = TunnelPin {
            protocol: TunnelProtocol::Vxlan,
            udp_dst: 4789,
            ..c
        };
        assert_eq!(vxlan6.outer_len(), 70);
        let keys = tunnel_keys(&vxlan6).expect("VXLAN over IPv6");
        assert!(all_match(&keys, &vxlan), "{keys:?}");
        let mut other = vxlan.clone();
        other[61] = 0x5a;
        assert!(!all_match(&keys, &other), "a UDP checksum");
        let mut other = vxlan.clone();
        other[57] = 0xb6;
        assert!(!all_match(&keys, &other), "another UDP port");
        let mut other = vxlan.clone();
        other[68] = 2;
        assert!(!all_match(&keys, &other), "another VNI");
        let geneve6 = TunnelPin {
            protocol: TunnelProtocol::Geneve,
            udp_dst: 6081,
            ..c
        };
        let mut geneve = vxlan.clone();
        geneve[56..58].copy_from_slice(&[0x17, 0xc1]);
        geneve[62..66].copy_from_slice(&[0, 0, 0x65, 0x58]);
        let keys = tunnel_keys(&geneve6).expect("Geneve over IPv6");
        assert!(all_match(&keys, &geneve), "{keys:?}");
        geneve[60] = 0xff;
        assert!(!all_match(&keys, &geneve), "a UDP checksum");
    }
}
