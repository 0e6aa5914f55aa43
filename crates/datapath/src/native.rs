//! Native tunnels: outer packets that enter and leave through a bridge, never the host's IP
//! stack.
//!
//! # Two ways to the wire
//!
//! A tunnel vport encapsulates in user space either way; what differs is who carries the
//! outer packet:
//!
//! - **Through the host** (the default): the vport's `underlay` port, a device that hands
//!   outer packets to the kernel's IP layer (`fvs_netdev::tunnel::KernelTunnel`). The kernel
//!   routes, resolves the next hop and delivers what comes back.
//! - **Native** (Open vSwitch's userspace design): the NIC is a port of a bridge (say
//!   `br-phy`) and the tunnel address sits on that bridge's internal port. The control plane
//!   tells the datapath, per tunnel destination, which internal port the kernel's route
//!   leaves through, the source address and the next hop's MAC ([`NativeConfig`]). Output to
//!   the vport then encapsulates with the internal port's MAC as source and the next hop's
//!   as destination, and the outer frame re-enters the datapath **as if received on that
//!   internal port**, so the bridge's own flows (normally `NORMAL`) send it out of the NIC.
//!   The other way, a frame the bridge outputs to such an internal port that is IPv4 to one
//!   of its addresses and decapsulates to a vport does not reach the host: it re-enters on
//!   the vport's underlay, where the usual tunnel receive takes it in.
//!
//! A tunnel packet for an endpoint whose headers do not parse is left to the host (whose
//! own underlay counts it); one that parses but carries less than an Ethernet header is
//! dropped there and counted ([`crate::DatapathStats::native_malformed`]).
//!
//! Both re-entries go through one bounded queue ([`Recirc`]), drained in the same call that
//! processed the batch, a few passes at most: a packet that would loop (a tunnel routed over
//! itself) is dropped and counted rather than spinning.
//!
//! # Neighbours
//!
//! A next hop whose MAC the control plane does not know yet is in the table without one.
//! A packet for it is dropped (counted in [`crate::DatapathStats::native_no_neighbour`]) and
//! the datapath sends an ARP request (an IPv4 next hop) or a Neighbor Solicitation (an IPv6
//! one, [`nd`]) for the next hop from the internal port's MAC and address into the bridge,
//! as Open vSwitch does, at most once a second per next hop. ARP packets the bridge delivers
//! to such an internal port whose target is one of its addresses (replies to those requests,
//! and the neighbours' own requests), and Neighbor Advertisements and Solicitations that
//! teach a neighbour's MAC, are *snooped*: the address and MAC are queued for the control
//! plane ([`Snooped`]), and the hops through that next hop learn the MAC at once. The packet
//! still reaches the host.
//!
//! # IPv6 underlays
//!
//! Hops, endpoints' addresses and neighbours are `IpAddr`s: an IPv6 destination gets an
//! IPv6 outer header (`crate::execute`), and an IPv6 packet to an endpoint's address whose
//! headers do not hold together (a payload length past the frame, an extension header cut
//! short) is dropped and counted in [`crate::DatapathStats::native_malformed`], since no
//! host underlay takes IPv6 tunnels. Runs of outer packets are IPv4 only.
//!
//! # Destinations a flow chooses
//!
//! A `remote_ip=flow` vport's outer destination is the packet's `tun_dst`, known only
//! when a packet comes. One the configuration has no hop for and has not [routed]
//! (`NativeConfig::routed`) is queued for the control plane (`Datapath::take_unrouted`),
//! which routes it at once (as for a fixed `remote_ip`) and answers with a new
//! configuration: a hop if it is native, else just its place in `routed`, so it is asked
//! for once. Until the answer comes, its packets take the host's stack, which routes them
//! the same way (a native route leaves through the internal port there too) unless only a
//! user route reaches it.
//!
//! [routed]: NativeConfig::routed
//!
//! # Runs of outer packets (VXLAN, Geneve)
//!
//! Every outer packet sent alone costs a slot in the NIC's packet-socket send and a pass
//! through the far end's receive; the host-stack underlay sends a flow's outer packets as
//! one `UDP_SEGMENT` datagram instead (`fvs_netdev::tunnel`), and so does a native tunnel,
//! in the form a packet socket takes: one frame with a virtio-net header asking for UDP
//! segmentation (`GSO_UDP_L4`). When a native VXLAN or Geneve output queues an outer packet
//! right behind one for the same internal port with the same outer headers (the segments
//! of a TSO super-frame cut before encapsulation, or consecutive packets of one flow in a
//! batch), its UDP payload is appended to that frame instead of queued on its own
//! (`udp_gso`): the outer Ethernet, IPv4 and UDP headers once, then the payloads, each a
//! VXLAN/Geneve header and one inner frame; `gso_size` is the first payload's length and
//! the UDP checksum is left partial (`NEEDS_CSUM`, the pseudo-header's sum over the whole
//! length in the field), as Linux's UDP segmentation wants. A run ends at a shorter
//! payload, at 64 datagrams or 64 KiB, and never holds a datagram larger than the route's
//! MTU ([`NativeHop::mtu`]; unknown: no runs).
//!
//! The run re-enters br-phy like any outer frame, one frame with a GSO header as a TCP
//! super-frame from a VM is, and br-phy's megaflow sends it out of the NIC whole, for the
//! kernel (or the veth's peer) to cut. Runs are only made where that is sure to happen:
//! the first two outer packets of a run are joined only when br-phy's megaflow for them is
//! already cached and is one plain output to a device that carries virtio-net headers (not
//! an endpoint, no rewrite, no second output, no controller). Anything else (a megaflow
//! not installed yet, NORMAL flooding, a NIC opened without virtio-net headers) gets single
//! frames, as before; should the megaflows change between the check and the frame's pass,
//! the datapath's software segmentation ([`crate::offload`]) still cuts the run correctly.
//! One run counts as one packet in br-phy's megaflow and rule statistics (as a TSO
//! super-frame does); `native_tnl_sent` still counts outer packets.
//!
//! **Outer UDP checksums**, the host-stack path's trade-off exactly: Linux computes them
//! for a `GSO_UDP_L4` frame and refuses one without them (a virtio-net GSO request must ask
//! for the checksum), so datagrams sent in a run carry a valid outer UDP checksum even with
//! `csum=false`, where a packet sent alone carries none. Open vSwitch's `csum` means
//! "compute checksums"; both forms are valid VXLAN (RFC 7348) and Geneve over IPv4 (RFC
//! 8926), and receivers verify a checksum when present. The checksum is offloaded (the NIC
//! or veth computes or skips it), so `csum=false`'s point, not spending CPU on it, holds;
//! what a far end sees is the difference (Open vSwitch's flows there show `tun_flags=+csum`
//! for such packets). With `csum=true` nothing changes: every datagram has one, alone or in
//! a run. On a veth underlay the peer gets the run whole with its checksums
//! unfinished: ferrovs on the far end splits it (below), but a packet-socket reader that
//! takes frames as final (Open vSwitch's br-phy, `tcpdump`) needs transmit checksum offload
//! off on our end (`ethtool -K <veth> tx off`, as Open vSwitch's documentation asks of a
//! veth feeding its userspace datapath); the kernel then checksums and cuts runs before the
//! veth.
//!
//! **Receive**: the NIC's packet socket may hand over such runs (a veth passes them whole
//! when its peer's offloads allow) and datagrams the kernel's GRO coalesced, both as one
//! frame with a virtio-net header. A frame with offloads pending that is output to an
//! endpoint and whose first datagram decapsulates to a vport is split into its datagrams
//! by `gso_size` (each with its own lengths and a complete checksum), each checked and
//! queued on its own to re-enter on the vport's underlay, from where the usual tunnel
//! receive (and the receive coalescing of the inner TCP, the `gro` module) takes them;
//! a datagram inside that does not decapsulate to a vport, or carries less than an
//! Ethernet header, is dropped and counted ([`crate::DatapathStats::native_malformed`]),
//! and so is a tunnel frame claiming more datagrams than the re-entry queue holds (more
//! than any Linux sender puts in one).
//! A frame whose first datagram is no tunnel packet of ours goes to the host, as before.
//!
//! # Not done
//!
//! No runs for GRE (Linux has no
//! segmentation offload for it through a packet socket); the route's own `mtu` metric is
//! not read (the internal port's MTU stands for it); no VLAN between the bridge and its
//! internal port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use fvs_netdev::{Packet, PacketBatch};
use fvs_packet::MacAddr;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;

pub(crate) mod nd;
pub(crate) mod udp_gso;

/// Packets the re-entry queue holds; more in one pass are dropped and counted. Room for a
/// 64 KiB super-frame's segments twice over.
pub const RECIRC_QUEUE: usize = 128;
/// Passes over the re-entry queue per processed batch: encapsulation then bridge output is
/// one, receive interception then the vport another; a fourth means a loop.
pub const RECIRC_PASSES: usize = 4;
/// Flow-chosen destinations asked for between two drains by the control plane.
const ROUTE_QUEUE: usize = 64;
/// Snooped neighbours kept between two drains by the control plane.
const SNOOP_QUEUE: usize = 64;
/// Next hops waiting for an ARP request, at most (more in one batch wait for the next).
pub(crate) const WANTED_QUEUE: usize = 16;
/// Least time between two ARP requests for one next hop.
const ARP_INTERVAL: Millis = Millis(1000);
/// Length of an Ethernet frame carrying an ARP packet, padded to the minimum frame size.
const ARP_FRAME_LEN: usize = 60;
const ETH_TYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETH_TYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_TYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const IP_PROTO_GRE: u8 = 47;
const IP_PROTO_UDP: u8 = 17;

/// Where a native tunnel's outer packets to one destination go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeHop {
    /// The internal port the kernel's route leaves through; outer frames enter the datapath
    /// on it.
    pub port: DpPort,
    /// The internal port's MAC (the outer source).
    pub eth_src: MacAddr,
    /// The next hop's MAC, once known.
    pub eth_dst: Option<MacAddr>,
    /// The outer source address when the flow gives none (`local_ip`, or the route's
    /// preferred source).
    pub src: IpAddr,
    /// The gateway, or the destination itself on a connected network (of the destination's
    /// family: ARP resolves an IPv4 one, neighbour discovery an IPv6 one).
    pub next_hop: IpAddr,
    /// The MTU of the route's device (the internal port): no datagram of a run of outer
    /// packets may be longer.
    pub mtu: RouteMtu,
}

/// A route's MTU in bytes (an IPv4 datagram's largest length on it); 0: unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteMtu(pub u32);

/// An internal port that ends native tunnels: its MAC and IPv4 addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The port's MAC.
    pub mac: MacAddr,
    /// Its addresses: tunnel packets to them are taken in, ARP for them snooped.
    pub addrs: Vec<IpAddr>,
    /// The bridge it belongs to (the neighbour cache names it).
    pub bridge: String,
}

/// The control plane's view of native tunnels, as the datapath uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeConfig {
    /// Per tunnel destination (outer destination address).
    pub hops: HashMap<IpAddr, NativeHop>,
    /// Internal ports that end native tunnels.
    pub endpoints: BTreeMap<DpPort, Endpoint>,
    /// Outer destinations a flow chose for a `remote_ip=flow` vport that the control plane
    /// has routed, native (then in `hops`) or not: never asked for again.
    pub routed: HashSet<IpAddr>,
}

impl NativeConfig {
    /// Nothing native: every tunnel goes through its underlay.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty() && self.endpoints.is_empty()
    }

    /// Gives every hop through `next_hop` this MAC; true when one changed.
    pub fn learn(&mut self, next_hop: IpAddr, mac: MacAddr) -> bool {
        let mut changed = false;
        for h in self.hops.values_mut() {
            if h.next_hop == next_hop && h.eth_dst != Some(mac) {
                h.eth_dst = Some(mac);
                changed = true;
            }
        }
        changed
    }
}

/// A neighbour seen in an ARP packet delivered to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snooped {
    /// The internal port it was delivered to.
    pub port: DpPort,
    /// The sender's address (ARP's sender, or what a neighbour discovery message taught).
    pub ip: IpAddr,
    /// The sender's MAC.
    pub mac: MacAddr,
}

/// Frames waiting to re-enter the datapath, each with the port it enters on.
pub(crate) struct Recirc {
    pub(crate) batch: PacketBatch,
    pub(crate) in_ports: Vec<DpPort>,
}

impl Recirc {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            // Runs of outer packets and received super-frames need a super-frame's room
            // (the buffers' pages are only touched as far as frames reach).
            batch: PacketBatch::new(count, fvs_netdev::batch::GSO_FRAME_CAPACITY),
            in_ports: Vec::with_capacity(count),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.batch.clear();
        self.in_ports.clear();
    }

    /// Queues a copy of `frame` entering on `port`; the copy, or `None` when full.
    pub(crate) fn push(&mut self, frame: &[u8], port: DpPort) -> Option<&mut Packet> {
        if self.batch.is_full() {
            return None;
        }
        self.in_ports.push(port);
        let p = self.batch.push(frame).ok();
        if p.is_none() {
            self.in_ports.pop();
        }
        p
    }
}

/// The native-tunnel state of one datapath.
pub(crate) struct Native {
    pub(crate) config: NativeConfig,
    pub(crate) snooped: Vec<Snooped>,
    /// Next hops a packet was dropped for, waiting for an ARP request.
    pub(crate) wanted: Vec<IpAddr>,
    /// Flow-chosen outer destinations not routed yet, for the control plane.
    pub(crate) unrouted: Vec<IpAddr>,
    last_arp: HashMap<IpAddr, Millis>,
}

impl Native {
    pub(crate) fn new() -> Self {
        Self {
            config: NativeConfig::default(),
            snooped: Vec::new(),
            wanted: Vec::new(),
            unrouted: Vec::new(),
            last_arp: HashMap::new(),
        }
    }

    /// Whether an ARP request for `next_hop` may go out now (and remembers that it did).
    pub(crate) fn arp_due(&mut self, next_hop: IpAddr, now: Millis) -> bool {
        match self.last_arp.get(&next_hop) {
            Some(&t) if now.0.saturating_sub(t.0) < ARP_INTERVAL.0 => false,
            _ => {
                self.last_arp.insert(next_hop, now);
                true
            }
        }
    }

    /// Asks the control plane to route `dst`, a flow-chosen outer destination (bounded:
    /// more in one round are asked for by their next packets).
    pub(crate) fn ask_route(&mut self, dst: IpAddr) {
        if self.unrouted.len() < ROUTE_QUEUE && !self.unrouted.contains(&dst) {
            self.unrouted.push(dst);
        }
    }

    /// Records an ARP sender (bounded: the control plane drains often).
    pub(crate) fn snoop(&mut self, s: Snooped) {
        if self.snooped.len() < SNOOP_QUEUE {
            self.snooped.push(s);
        }
        self.config.learn(s.ip, s.mac);
    }
}

/// What a frame output to an endpoint is.
pub(crate) enum Delivered {
    /// An ARP packet for one of the endpoint's addresses, or a neighbour discovery message
    /// that teaches a neighbour ([`nd::snoop`]): snoop it.
    Arp(IpAddr, MacAddr),
    /// IPv6 to one of its addresses whose headers do not hold together (a payload length
    /// past the frame, a truncated extension header): dropped and counted, since no host
    /// underlay takes IPv6 tunnels.
    Malformed,
    /// IPv4 GRE or UDP to one of its addresses: maybe a tunnel packet.
    Tunnel,
    /// Anything else: the host's.
    Other,
}

/// Classifies a frame output to an endpoint with addresses `addrs` (untagged Ethernet, as an
/// internal port's frames are).
pub(crate) fn classify(frame: &[u8], addrs: &[IpAddr]) -> Delivered {
    let ip = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = frame.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    match frame.get(12..14) {
        Some(t) if t == ETH_TYPE_ARP => {
            // htype 1, ptype IPv4, hlen 6, plen 4.
            if frame.get(14..20) != Some(&[0, 1, 8, 0, 6, 4]) {
                return Delivered::Other;
            }
            let (Some(spa), Some(tpa), Some(sha)) = (ip(28), ip(38), frame.get(22..28)) else {
                return Delivered::Other;
            };
            let mut mac = [0u8; 6];
            mac.copy_from_slice(sha);
            if addrs.contains(&tpa.into()) && !spa.is_unspecified() {
                Delivered::Arp(spa.into(), MacAddr(mac))
            } else {
                Delivered::Other
            }
        }
        Some(t) if t == ETH_TYPE_IPV4 => {
            let proto = frame.get(14 + 9).copied();
            match ip(14 + 16) {
                Some(dst)
                    if addrs.contains(&dst.into())
                        && matches!(proto, Some(IP_PROTO_GRE | IP_PROTO_UDP)) =>
                {
                    Delivered::Tunnel
                }
                _ => Delivered::Other,
            }
        }
        Some(t) if t == ETH_TYPE_IPV6 => classify_ipv6(frame, addrs),
        _ => Delivered::Other,
    }
}

/// [`classify`] for IPv6: neighbour discovery to snoop, GRE or UDP (after any extension
/// headers) to one of `addrs` as a tunnel candidate.
fn classify_ipv6(frame: &[u8], addrs: &[IpAddr]) -> Delivered {
    use fvs_packet::ipv6;
    if let Some((ip, mac)) = nd::snoop(frame, addrs) {
        return Delivered::Arp(ip, mac);
    }
    let Some(hdr) = frame.get(14..14 + ipv6::HEADER_LEN) else {
        return Delivered::Other;
    };
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&hdr[24..40]);
    if !addrs.contains(&IpAddr::from(dst)) {
        return Delivered::Other;
    }
    let plen = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let Some(payload) = frame.get(14 + ipv6::HEADER_LEN..14 + ipv6::HEADER_LEN + plen) else {
        return Delivered::Malformed;
    };
    match ipv6::upper_layer(hdr[6].into(), payload) {
        Err(_) => Delivered::Malformed,
        Ok(u) if matches!(u8::from(u.protocol), IP_PROTO_GRE | IP_PROTO_UDP) => Delivered::Tunnel,
        Ok(_) => Delivered::Other,
    }
}

/// An ARP request for `target` from `mac`/`ip`, broadcast.
pub(crate) fn arp_request(mac: MacAddr, ip: Ipv4Addr, target: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETH_TYPE_ARP);
    // htype Ethernet, ptype IPv4, hlen 6, plen 4, operation 1 (request).
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.octets());
    // Target hardware address unknown: zero.
    f[38..42].copy_from_slice(&target.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 2);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn arp_for_the_endpoint_is_snooped_and_other_arp_is_not() {
        let req = arp_request(MAC, PEER, ME);
        match classify(&req, &[ME.into()]) {
            Delivered::Arp(ip, mac) => {
                assert_eq!(ip, IpAddr::from(PEER));
                assert_eq!(mac, MAC);
            }
            _ => panic!("an ARP request for our address is snooped"),
        }
        assert!(matches!(classify(&req, &[PEER.into()]), Delivered::Other));
        assert!(matches!(
            classify(&req[..30], &[ME.into()]),
            Delivered::Other
        ));
    }

    #[test]
    fn gre_to_the_endpoint_is_a_tunnel_candidate() {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&ETH_TYPE_IPV4);
        f[14] = 0x45;
        f[14 + 9] = IP_PROTO_GRE;
        f[30..34].copy_from_slice(&ME.octets());
        assert!(matches!(classify(&f, &[ME.into()]), Delivered::Tunnel));
        f[14 + 9] = 6;
        assert!(matches!(classify(&f, &[ME.into()]), Delivered::Other));
        assert!(matches!(classify(&f[..20], &[ME.into()]), Delivered::Other));
    }

    #[test]
    fn a_flow_destination_is_asked_for_once_per_round_and_within_bounds() {
        let mut n = Native::new();
        n.ask_route(PEER.into());
        n.ask_route(PEER.into());
        assert_eq!(n.unrouted, [IpAddr::from(PEER)]);
        for i in 0..=u8::MAX {
            n.ask_route(Ipv4Addr::new(10, 99, 0, i).into());
        }
        assert_eq!(n.unrouted.len(), ROUTE_QUEUE, "the queue is bounded");
    }

    #[test]
    fn arp_requests_are_paced_per_next_hop() {
        let mut n = Native::new();
        assert!(n.arp_due(PEER.into(), Millis(5000)));
        assert!(!n.arp_due(PEER.into(), Millis(5500)));
        assert!(n.arp_due(ME.into(), Millis(5500)));
        assert!(n.arp_due(PEER.into(), Millis(6000)));
    }

    #[test]
    fn learning_fills_every_hop_through_the_next_hop() {
        let mut c = NativeConfig::default();
        let hop = NativeHop {
            port: DpPort(3),
            eth_src: MAC,
            eth_dst: None,
            src: ME.into(),
            next_hop: PEER.into(),
            mtu: RouteMtu(1500),
        };
        c.hops.insert(PEER.into(), hop);
        c.hops.insert(Ipv4Addr::new(10, 98, 0, 9).into(), hop);
        let theirs = MacAddr([2, 0, 0, 0, 0, 2]);
        assert!(c.learn(PEER.into(), theirs));
        assert!(c.hops.values().all(|h| h.eth_dst == Some(theirs)));
        assert!(!c.learn(PEER.into(), theirs));
    }

    #[test]
    fn ipv6_to_the_endpoint_is_a_candidate_unless_its_headers_break() {
        let me: IpAddr = "fd00:97::1".parse().unwrap();
        let IpAddr::V6(me6) = me else { unreachable!() };
        let mut f = vec![0u8; 14 + 40 + 8 + 4];
        f[12..14].copy_from_slice(&ETH_TYPE_IPV6);
        f[14] = 0x60;
        f[18..20].copy_from_slice(&12u16.to_be_bytes());
        f[20] = IP_PROTO_GRE;
        f[38..54].copy_from_slice(&me6.octets());
        assert!(matches!(classify(&f, &[me]), Delivered::Tunnel));
        assert!(matches!(classify(&f, &[PEER.into()]), Delivered::Other));
        // A payload length past the frame.
        f[18..20].copy_from_slice(&13u16.to_be_bytes());
        assert!(matches!(classify(&f, &[me]), Delivered::Malformed));
        // A destination options header claiming more than the packet holds.
        f[18..20].copy_from_slice(&12u16.to_be_bytes());
        f[20] = 60;
        f[54] = IP_PROTO_GRE;
        f[55] = 3;
        assert!(matches!(classify(&f, &[me]), Delivered::Malformed));
        // The same header, whole, in front of GRE.
        f[55] = 0;
        assert!(matches!(classify(&f, &[me]), Delivered::Tunnel));
    }
}
