//! Datapath ports: a network device, or a tunnel vport that sends through an underlay port.
//!
//! A tunnel vport does no I/O of its own. Output to it encapsulates the packet (in place, in
//! the buffer's headroom) and sends the outer frame out of its `underlay` port; a frame that
//! arrives on the underlay port and decapsulates to this vport's protocol, addresses and
//! key enters the datapath on the vport, with its tunnel metadata in the flow key. The outer
//! Ethernet addresses are configuration (`eth_src`/`eth_dst`): routing and neighbour
//! resolution belong to whoever configures the vport. A destination the control plane marked
//! native ([`crate::native`]) takes its Ethernet addresses and source from the native hop
//! instead, and its outer frame re-enters on a bridge's internal port rather than going out of
//! the underlay.

use fvs_netdev::Netdev;
use fvs_packet::MacAddr;
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::dpif::DpPort;
use std::net::IpAddr;

/// Where a tunnel key comes from or goes to (`key`, `in_key`, `out_key` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKeyMode {
    /// No key on the wire (GRE without the K bit; VNI 0).
    None,
    /// A fixed key: sent as is, and received frames must carry it.
    Fixed(u64),
    /// `flow`: sent from the flow's `tun_id`, any key accepted and put in `tun_id`.
    Flow,
}

/// A tunnel vport's configuration, as the `Interface` options give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelVport {
    /// GRE, VXLAN or Geneve.
    pub protocol: TunnelProtocol,
    /// Outer source address (`local_ip`; unspecified: the route's or the native hop's).
    pub local_ip: IpAddr,
    /// Outer destination address (`remote_ip`), IPv4 or IPv6: the outer header's family.
    pub remote_ip: IpAddr,
    /// Key accepted on receive (`in_key`, or `key`).
    pub in_key: TunnelKeyMode,
    /// Key sent (`out_key`, or `key`).
    pub out_key: TunnelKeyMode,
    /// Set DF on the outer header unless the flow says otherwise (`df_default`).
    pub df_default: bool,
    /// Outer TTL (`ttl`; 64 by default).
    pub ttl: u8,
    /// Outer TOS (`tos`).
    pub tos: u8,
    /// Outer checksums (`csum=true`): GRE's checksum field, VXLAN's and Geneve's UDP
    /// checksum.
    pub csum: bool,
    /// UDP destination port for VXLAN and Geneve (`dst_port`).
    pub dst_port: u16,
    /// The port the outer frames go out of and come in on.
    pub underlay: DpPort,
    /// Outer Ethernet source address.
    pub eth_src: MacAddr,
    /// Outer Ethernet destination address (the next hop towards `remote_ip`).
    pub eth_dst: MacAddr,
}

impl TunnelVport {
    /// A vport with Open vSwitch's defaults for the given protocol, addresses and key mode
    /// (used both ways): TTL 64, TOS 0, DF set, the protocol's standard UDP port.
    pub fn new(
        protocol: TunnelProtocol,
        local_ip: impl Into<IpAddr>,
        remote_ip: impl Into<IpAddr>,
        key: TunnelKeyMode,
        underlay: DpPort,
    ) -> Self {
        Self {
            protocol,
            local_ip: local_ip.into(),
            remote_ip: remote_ip.into(),
            in_key: key,
            out_key: key,
            df_default: true,
            ttl: 64,
            tos: 0,
            csum: false,
            dst_port: match protocol {
                TunnelProtocol::Gre => 0,
                TunnelProtocol::Vxlan => fvs_packet::vxlan::UDP_PORT,
                TunnelProtocol::Geneve => fvs_packet::geneve::UDP_PORT,
            },
            underlay,
            eth_src: MacAddr([0; 6]),
            eth_dst: MacAddr([0; 6]),
        }
    }

    /// True when a received frame with this metadata belongs to this vport. An unspecified
    /// `local_ip` or `remote_ip` (0.0.0.0 or ::) accepts any address of either family: a
    /// vport shared by every tunnel of one type (Open vSwitch's `gre_sys`), whose sender the
    /// slow path tells apart by the flow's `tun_src` or `tun_ipv6_src`.
    pub(crate) fn accepts(&self, m: &fvs_packet::tunnel::TunnelMetadata) -> bool {
        let any = |want: IpAddr, got: IpAddr| want.is_unspecified() || want == got;
        m.protocol == self.protocol
            && any(self.local_ip, m.dst)
            && any(self.remote_ip, m.src)
            && match self.in_key {
                TunnelKeyMode::None => m.tun_id == 0,
                TunnelKeyMode::Fixed(k) => m.tun_id == k,
                TunnelKeyMode::Flow => true,
            }
    }
}

/// What a datapath port is.
pub enum PortKind {
    /// A network device the datapath receives from and sends to.
    Netdev(Box<dyn Netdev>),
    /// A tunnel vport.
    Tunnel(TunnelVport),
}

impl core::fmt::Debug for PortKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Netdev(d) => write!(f, "Netdev({})", d.name()),
            Self::Tunnel(t) => write!(f, "Tunnel({t:?})"),
        }
    }
}
