//! Tunnel chains: the pairs of megaflows a native tunnel packet passes through on its way
//! between two devices, as one unit the kernel can be asked to forward.
//!
//! # Why pairs
//!
//! A native tunnel packet crosses the datapath twice ([`crate::native`]). Sent: the VM's
//! frame matches its megaflow (`set(tunnel(...))`, output to the vport), is encapsulated for
//! the native hop and re-enters as an outer frame on br-phy's internal port, where a second
//! megaflow (normally `NORMAL`'s) sends it out of the NIC. Received: the outer frame matches
//! the NIC's megaflow (output to the internal port that ends the tunnel), is taken in,
//! decapsulated and matches the vport's megaflow, which outputs the inner frame to the VM.
//! Kernel flow offload (`fvs-vswitchd`'s `datapath::offload`) can forward such a packet in
//! one step (push or strip the outer header, redirect) only when both megaflows are plain and
//! everything in between is fixed; this module finds those pairs and what is fixed:
//!
//! - [`EncapChain`]: the first megaflow's actions are `[set(tunnel(...)),] output(vport)`,
//!   a GRE, VXLAN or Geneve vport whose destination has a native hop with a known
//!   neighbour, no tunnel checksum; the outer header is then the same for every packet but
//!   for its lengths, its IPv4 checksum and (VXLAN, Geneve) the UDP source port, which the
//!   kernel fills per packet from the packet's flow hash, as Linux's own tunnels do (the
//!   header here carries 0 there); it is built by the datapath's own encapsulation
//!   ([`EncapChain::header`]). br-phy's megaflow for that outer frame must be cached, be one
//!   output to a device and not match the UDP source port.
//! - [`DecapChain`]: the vport's megaflow outputs to one device, and its outer source,
//!   destination and key are pinned (by the vport's options or the megaflow's match), so the
//!   packets it takes decapsulate to exactly this vport (the first that accepts them, as
//!   [`crate::Datapath`] picks); the partner is every cached megaflow that outputs to the
//!   internal port ending the tunnel at that destination and whose match admits the outer
//!   packets (IPv4 or IPv6, GRE or UDP to the tunnel's port, from that source to that
//!   destination).
//!
//! A chain says nothing about the matches themselves: the caller expresses the megaflows'
//! matches (and the outer headers' fixed fields) as the filter's keys, exactly or more
//! narrowly, and gives up when it cannot. Chains are computed afresh at every revalidation
//! pass, so a changed megaflow, hop or neighbour changes or ends the chain.
//!
//! # Underlays
//!
//! GRE makes both kinds of chains over IPv4 and IPv6 underlays; VXLAN and Geneve both over
//! IPv4, and only decapsulation chains over IPv6. Over IPv6 the datapath's UDP tunnels
//! always send a UDP checksum (as Open vSwitch's do, see `execute::encapsulate`), a sum over
//! the whole inner frame that the kernel cannot be asked to finish for a packet pushed by
//! `bpf_skb_adjust_room` (its segmentation of such a super-frame would leave the checksum
//! wrong, and the inner frame's own partial checksum takes the one place a pending checksum
//! can be): no encapsulation chain. Received, a datagram's checksum is verified unless it
//! is zero (none, which the datapath accepts over IPv6 as Open vSwitch does); a filter
//! cannot verify one, so the offload of such a decapsulation chain takes only datagrams
//! without a checksum (what Linux's tunnels send with `udp6zerocsumtx`) and leaves the rest
//! to the switch. The IPv6 header the datapath writes is fixed but for its payload length
//! (flow label 0, traffic class and hop limit from the tunnel's `tos` and `ttl`, no
//! extension headers). Geneve makes chains only without options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fvs_flow::{Field, FlowKey, PortNo};
use fvs_netdev::PacketBatch;
use fvs_packet::tunnel::{TunnelFlags, TunnelMetadata, TunnelProtocol};
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort, TunnelKey};

use crate::port::{PortKind, TunnelKeyMode, TunnelVport};
use crate::{Datapath, FlowId, execute};

/// A megaflow whose packets leave as GRE through a native hop, with br-phy's megaflow for
/// the outer frames (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncapChain {
    /// The device port packets enter on (the megaflow's `in_port`).
    pub in_port: DpPort,
    /// The device port the outer frames leave by.
    pub out_port: DpPort,
    /// The outer Ethernet, IPv4 or IPv6, and GRE or UDP (+ VXLAN/Geneve) headers, as this
    /// datapath writes them; the IPv4 total length and header checksum or the IPv6 payload
    /// length (and the UDP length) are those of an empty inner frame, to be redone per
    /// packet; a UDP source port of 0, to be chosen per packet.
    pub header: Vec<u8>,
    /// br-phy's megaflow for the outer frames.
    pub outer_flow: FlowId,
}

/// A tunnel vport's megaflow whose outer packets are pinned, with a megaflow that brings
/// them from a device to the internal port ending the tunnel (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecapChain {
    /// The device port the outer frames enter on (the partner megaflow's `in_port`).
    pub in_port: DpPort,
    /// The device port the inner frames leave by.
    pub out_port: DpPort,
    /// The partner megaflow (device to internal port).
    pub outer_flow: FlowId,
    /// The outer packets it takes.
    pub pin: TunnelPin,
}

/// What every outer packet of a decapsulation chain has in its outer headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelPin {
    /// The outer source (the vport's `remote_ip`, or what the megaflow matched); of the
    /// destination's family.
    pub src: IpAddr,
    /// The outer destination: an address of the internal port that ends the tunnel.
    pub dst: IpAddr,
    /// The GRE key or VNI (`None`: a GRE header without a key).
    pub key: Option<u32>,
    /// The tunnel protocol.
    pub protocol: TunnelProtocol,
    /// The UDP destination port (VXLAN, Geneve; 0 for GRE).
    pub udp_dst: u16,
}

impl TunnelPin {
    /// The outer Ethernet, IPv4 or IPv6 and GRE or UDP + VXLAN/Geneve headers' length.
    pub fn outer_len(&self) -> usize {
        let ip = if self.dst.is_ipv6() {
            IPV6_LEN
        } else {
            IPV4_LEN
        };
        ETH_LEN
            + ip
            + match self.protocol {
                TunnelProtocol::Gre => GRE_LEN + if self.key.is_some() { 4 } else { 0 },
                TunnelProtocol::Vxlan | TunnelProtocol::Geneve => UDP_TUNNEL_LEN,
            }
    }
}

/// Ethernet; IPv4 without options; IPv6 without extension headers.
const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
/// GRE's flags and protocol words.
const GRE_LEN: usize = 4;
/// UDP + VXLAN, or Geneve without options.
const UDP_TUNNEL_LEN: usize = 8 + 8;
/// The largest VNI (24 bits).
const MAX_VNI: u64 = (1 << 24) - 1;

impl Datapath {
    /// The device behind port `no` if it is a device (not a vport).
    fn is_device(&self, no: DpPort) -> bool {
        matches!(
            self.ports.get(no.0 as usize),
            Some(Some(crate::Port {
                kind: PortKind::Netdev(_),
                ..
            }))
        )
    }

    fn vport(&self, no: DpPort) -> Option<&TunnelVport> {
        match self.ports.get(no.0 as usize) {
            Some(Some(crate::Port {
                kind: PortKind::Tunnel(t),
                ..
            })) => Some(t),
            _ => None,
        }
    }

    /// The encapsulation chain a megaflow (masked key and actions) heads, if it is one (see
    /// the module docs).
    pub fn encap_chain(&self, key: &FlowKey, actions: &DpActions) -> Option<EncapChain> {
        let in_port = DpPort(u32::try_from(key.get(Field::InPort.loc())).ok()?);
        if !self.is_device(in_port) {
            return None;
        }
        let (set, vport_no): (Option<&TunnelKey>, DpPort) = match actions.0.as_slice() {
            [DpAction::Output(v)] => (None, *v),
            [DpAction::SetTunnel(t), DpAction::Output(v)] => (Some(t), *v),
            _ => return None,
        };
        let mut v = *self.vport(vport_no)?;
        let o = execute::encap_params(&v, set);
        let udp = v.protocol != TunnelProtocol::Gre;
        // UDP over IPv6 always carries a checksum (see the module docs).
        if o.csum || (udp && o.dst.is_ipv6()) {
            return None;
        }
        let hop = self.native.config.hops.get(&o.dst)?;
        v.eth_src = hop.eth_src;
        v.eth_dst = hop.eth_dst?;
        if v.local_ip.is_unspecified() {
            v.local_ip = hop.src;
        }
        let o = execute::encap_params(&v, set);
        let mut batch = PacketBatch::new(1, 256);
        let inner = [0u8; 14];
        let p = batch.push(&inner).ok()?;
        if !execute::encapsulate(p, &v, o, 0) {
            return None;
        }
        let outer = p.data().to_vec();
        let mut header = outer.get(..outer.len() - inner.len())?.to_vec();
        if udp {
            // The source port is the kernel's to choose per packet (offset: Ethernet, IPv4).
            header.get_mut(34..36)?.copy_from_slice(&[0, 0]);
        }
        // br-phy's megaflow for these outer frames: it sees only their headers, which are
        // the same for every packet but for lengths and checksums, which no match reads, and
        // the UDP source port, which it must not read.
        let outer_key = fvs_flow::extract::extract(&outer, PortNo(hop.port.0), None);
        let (outer_flow, outer_m) = self.flows.lookup(&outer_key)?;
        let (_, outer_mask, _) = self.flows.rule_match(outer_flow)?;
        if udp && outer_mask.get(Field::UdpSrc.loc()) != 0 {
            return None;
        }
        let [DpAction::Output(out_port)] = outer_m.actions.0.as_slice() else {
            return None;
        };
        if *out_port == hop.port || *out_port == in_port || !self.is_device(*out_port) {
            return None;
        }
        Some(EncapChain {
            in_port,
            out_port: *out_port,
            header,
            outer_flow: FlowId(outer_flow),
        })
    }

    /// The decapsulation chains a megaflow (a tunnel vport's: masked key, mask, actions)
    /// heads, one per partner megaflow (see the module docs); none when it is not such a
    /// megaflow.
    pub fn decap_chains(
        &self,
        key: &FlowKey,
        mask: &FlowKey,
        actions: &DpActions,
    ) -> Vec<DecapChain> {
        self.chains_from(key, mask, actions, &self.to_endpoints())
    }

    /// Every decapsulation chain in the cache, with its head megaflow's handle: the
    /// megaflows that bring packets to an endpoint are gathered once for all heads.
    pub fn all_decap_chains(&self) -> Vec<(FlowId, DecapChain)> {
        let to_endpoints = self.to_endpoints();
        if to_endpoints.is_empty() {
            return Vec::new();
        }
        self.megaflows()
            .flat_map(|(id, key, mask, m)| {
                self.chains_from(key, mask, &m.actions, &to_endpoints)
                    .into_iter()
                    .map(move |c| (id, c))
            })
            .collect()
    }

    fn chains_from(
        &self,
        key: &FlowKey,
        mask: &FlowKey,
        actions: &DpActions,
        to_endpoints: &[ToEndpoint<'_>],
    ) -> Vec<DecapChain> {
        self.decap_pin(key, mask, actions)
            .map(|(pin, out_port)| self.partners(pin, out_port, to_endpoints))
            .unwrap_or_default()
    }

    /// The megaflows that output a device's packets to an internal port ending native
    /// tunnels: the candidates for every decapsulation chain's partner.
    fn to_endpoints(&self) -> Vec<ToEndpoint<'_>> {
        let endpoints = &self.native.config.endpoints;
        if endpoints.is_empty() {
            return Vec::new();
        }
        self.megaflows()
            .filter_map(|(id, key, mask, m)| {
                let [DpAction::Output(to)] = m.actions.0.as_slice() else {
                    return None;
                };
                if !endpoints.contains_key(to) {
                    return None;
                }
                let in_port = DpPort(u32::try_from(key.get(Field::InPort.loc())).ok()?);
                self.is_device(in_port).then_some(ToEndpoint {
                    id,
                    key,
                    mask,
                    in_port,
                    to: *to,
                })
            })
            .collect()
    }

    /// The vport megaflow's pinned outer packet and its output device.
    fn decap_pin(
        &self,
        key: &FlowKey,
        mask: &FlowKey,
        actions: &DpActions,
    ) -> Option<(TunnelPin, DpPort)> {
        let vport_no = DpPort(u32::try_from(key.get(Field::InPort.loc())).ok()?);
        let v = self.vport(vport_no)?;
        let [DpAction::Output(out_port)] = actions.0.as_slice() else {
            return None;
        };
        if !self.is_device(*out_port) {
            return None;
        }
        // The underlay's family: the vport's remote, or (`remote_ip=flow`) the family whose
        // addresses the megaflow matched (an IPv4 packet's megaflow may ask for IPv6
        // addresses of zero).
        let asks = |f: Field| key.get(f.loc()) & mask.get(f.loc()) != 0;
        let v6 = match v.remote_ip {
            IpAddr::V6(r) if !r.is_unspecified() => true,
            IpAddr::V4(r) if !r.is_unspecified() => false,
            _ => asks(Field::TunIpv6Src) || asks(Field::TunIpv6Dst),
        };
        let (src_f, dst_f, other) = if v6 {
            (
                Field::TunIpv6Src,
                Field::TunIpv6Dst,
                [Field::TunSrc, Field::TunDst],
            )
        } else {
            (
                Field::TunSrc,
                Field::TunDst,
                [Field::TunIpv6Src, Field::TunIpv6Dst],
            )
        };
        // Tunnel fields these packets never have (the other family's addresses, no VXLAN
        // group policy, no Geneve OAM) must not be asked for.
        for f in other
            .into_iter()
            .chain([Field::TunGbpId, Field::TunGbpFlags, Field::TunFlags])
        {
            if key.get(f.loc()) & mask.get(f.loc()) != 0 {
                return None;
            }
        }
        // An address the vport fixes (the megaflow, if it asks, asks for that one), or else
        // one the megaflow matches exactly.
        let pinned = |f: Field, configured: IpAddr| -> Option<IpAddr> {
            let (exact, matched) = if v6 {
                (
                    mask.get(f.loc()) == u128::MAX,
                    IpAddr::V6(Ipv6Addr::from_bits(key.get(f.loc()))),
                )
            } else {
                (
                    mask.get(f.loc()) == u128::from(u32::MAX),
                    IpAddr::V4(Ipv4Addr::from_bits(u32::try_from(key.get(f.loc())).ok()?)),
                )
            };
            match configured {
                c if c.is_unspecified() => exact.then_some(matched),
                c if c.is_ipv6() != v6 => None,
                c => (!exact || matched == c).then_some(c),
            }
        };
        let src = pinned(src_f, v.remote_ip)?;
        let dst = pinned(dst_f, v.local_ip)?;
        let tun_mask = mask.get(Field::TunId.loc());
        let tun_id = key.get(Field::TunId.loc());
        let gre = v.protocol == TunnelProtocol::Gre;
        let max = if gre { u64::from(u32::MAX) } else { MAX_VNI };
        let fits = |k: u64| (k <= max).then_some(k as u32);
        let gre_key = match v.in_key {
            // No key: a GRE header without one; VXLAN and Geneve always carry a VNI (0).
            TunnelKeyMode::None => {
                (tun_id & tun_mask == 0).then_some(if gre { None } else { Some(0) })?
            }
            TunnelKeyMode::Fixed(k) => {
                (tun_mask == 0 || u128::from(k) == tun_id).then_some(Some(fits(k)?))?
            }
            TunnelKeyMode::Flow => (tun_mask == u128::from(u64::MAX))
                .then_some(Some(fits(u64::try_from(tun_id).ok()?)?))?,
        };
        let udp_dst = match v.protocol {
            TunnelProtocol::Gre => 0,
            TunnelProtocol::Vxlan => self.tunnel_ports.vxlan,
            TunnelProtocol::Geneve => self.tunnel_ports.geneve,
        };
        if !gre && v.dst_port != udp_dst {
            return None;
        }
        // These packets must decapsulate to this very vport: the first that accepts them.
        let meta = TunnelMetadata {
            protocol: v.protocol,
            src,
            dst,
            tun_id: gre_key.map_or(0, u64::from),
            tos: 0,
            ttl: 64,
            flags: TunnelFlags(0),
            udp_src: 0,
            udp_dst,
            geneve_options: Vec::new(),
        };
        let first = self.in_use.iter().copied().find(|&i| {
            matches!(&self.ports[i], Some(crate::Port { kind: PortKind::Tunnel(t), .. })
                if t.accepts(&meta))
        })?;
        if first != vport_no.0 as usize {
            return None;
        }
        Some((
            TunnelPin {
                src,
                dst,
                key: gre_key,
                protocol: v.protocol,
                udp_dst,
            },
            *out_port,
        ))
    }

    fn partners(
        &self,
        pin: TunnelPin,
        out_port: DpPort,
        to_endpoints: &[ToEndpoint<'_>],
    ) -> Vec<DecapChain> {
        let ends: Vec<DpPort> = self
            .native
            .config
            .endpoints
            .iter()
            .filter(|(_, ep)| ep.addrs.contains(&pin.dst))
            .map(|(no, _)| *no)
            .collect();
        // What every outer packet of the chain has: a partner that asks for something else
        // there never sees them.
        let gre = pin.protocol == TunnelProtocol::Gre;
        let mut outer = vec![(Field::IpProto, if gre { 47 } else { 17 })];
        match (pin.src, pin.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => outer.extend([
                (Field::EthType, 0x0800),
                (Field::Ipv4Src, u128::from(s.to_bits())),
                (Field::Ipv4Dst, u128::from(d.to_bits())),
            ]),
            (IpAddr::V6(s), IpAddr::V6(d)) => outer.extend([
                (Field::EthType, 0x86dd),
                (Field::Ipv6Src, s.to_bits()),
                (Field::Ipv6Dst, d.to_bits()),
            ]),
            _ => return Vec::new(),
        }
        if !gre {
            outer.push((Field::UdpDst, u128::from(pin.udp_dst)));
        }
        to_endpoints
            .iter()
            .filter(|t| {
                ends.contains(&t.to)
                    && t.in_port != out_port
                    && outer
                        .iter()
                        .all(|(f, v)| v & t.mask.get(f.loc()) == t.key.get(f.loc()))
            })
            .map(|t| DecapChain {
                in_port: t.in_port,
                out_port,
                outer_flow: t.id,
                pin,
            })
            .collect()
    }
}

/// A megaflow from a device to an internal port that ends native tunnels.
struct ToEndpoint<'a> {
    id: FlowId,
    key: &'a FlowKey,
    mask: &'a FlowKey,
    in_port: DpPort,
    to: DpPort,
}
