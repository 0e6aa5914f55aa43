//! Ports as the pipeline sees them: an OpenFlow number, a name, a kind, a VLAN role.
//!
//! The VLAN role answers the two questions NORMAL asks of a port, with Open vSwitch's rules:
//! which VLAN does a frame received here belong to ([`PortVlan::input_vlan`]), and how must a
//! frame of VLAN `v` leave here, if at all ([`PortVlan::output_vid`]).

use crate::dpif::DpPort;
use fvs_flow::PortNo;
use std::net::IpAddr;

/// A VLAN id, 0..=4095 (0 means "no VLAN" where a VLAN is optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VlanId(u16);

impl VlanId {
    /// The VLAN id `vid`, or `None` when it does not fit in 12 bits.
    pub const fn new(vid: u16) -> Option<Self> {
        if vid < 4096 { Some(Self(vid)) } else { None }
    }

    /// The numeric id.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// How a port treats 802.1Q tags (`vlan_mode` in the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Member of one VLAN (`tag`); frames leave untagged, tagged frames with a VID are dropped.
    Access,
    /// Carries the VLANs in `trunks` (all when empty), tagged; untagged frames are VLAN 0.
    Trunk,
    /// Trunk whose untagged frames belong to `tag`; `tag` frames leave tagged.
    NativeTagged,
    /// Trunk whose untagged frames belong to `tag`; `tag` frames leave untagged.
    NativeUntagged,
}

/// A port's VLAN configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortVlan {
    /// The mode in effect.
    pub mode: VlanMode,
    /// The access or native VLAN.
    pub tag: Option<VlanId>,
    /// The VLANs a trunk carries; empty means all.
    pub trunks: Vec<VlanId>,
}

impl Default for PortVlan {
    /// A port with neither `tag` nor `trunks`: a trunk of every VLAN.
    fn default() -> Self {
        Self {
            mode: VlanMode::Trunk,
            tag: None,
            trunks: Vec::new(),
        }
    }
}

/// Why a frame may not enter a port's VLAN; the text is what Open vSwitch's trace says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanRefusal {
    /// A tagged frame (VID ≠ 0) on an access port.
    TaggedOnAccess {
        /// The frame's VID.
        vid: u16,
        /// The access VLAN.
        tag: u16,
    },
    /// A trunk that does not carry the frame's VLAN.
    NotTrunked {
        /// The frame's VID.
        vid: u16,
    },
}

impl PortVlan {
    /// An access port of VLAN `tag` (`tag=N` with the default mode).
    pub fn access(tag: VlanId) -> Self {
        Self {
            mode: VlanMode::Access,
            tag: Some(tag),
            trunks: Vec::new(),
        }
    }

    /// A trunk of `trunks` (all VLANs when empty).
    pub fn trunk(trunks: Vec<VlanId>) -> Self {
        Self {
            mode: VlanMode::Trunk,
            tag: None,
            trunks,
        }
    }

    /// True when the trunk list allows `vid` (an empty list allows every VLAN).
    fn trunks_vlan(&self, vid: u16) -> bool {
        self.trunks.is_empty() || self.trunks.iter().any(|t| t.get() == vid)
    }

    /// The VLAN a frame received with tag VID `vid` (0 = untagged or priority-tagged)
    /// belongs to, or why it is refused.
    pub fn input_vlan(&self, vid: u16) -> Result<u16, VlanRefusal> {
        let tag = self.tag.map_or(0, VlanId::get);
        match self.mode {
            VlanMode::Access => {
                if vid != 0 {
                    Err(VlanRefusal::TaggedOnAccess { vid, tag })
                } else {
                    Ok(tag)
                }
            }
            VlanMode::Trunk => {
                if self.trunks_vlan(vid) {
                    Ok(vid)
                } else {
                    Err(VlanRefusal::NotTrunked { vid })
                }
            }
            VlanMode::NativeTagged | VlanMode::NativeUntagged => {
                if vid == 0 {
                    Ok(tag)
                } else if vid == tag || self.trunks_vlan(vid) {
                    Ok(vid)
                } else {
                    Err(VlanRefusal::NotTrunked { vid })
                }
            }
        }
    }

    /// True when frames of VLAN `vlan` may leave through this port.
    pub fn carries(&self, vlan: u16) -> bool {
        let tag = self.tag.map_or(0, VlanId::get);
        match self.mode {
            VlanMode::Access => vlan == tag,
            VlanMode::Trunk => self.trunks_vlan(vlan),
            VlanMode::NativeTagged | VlanMode::NativeUntagged => {
                vlan == tag || self.trunks_vlan(vlan)
            }
        }
    }

    /// The VID a frame of VLAN `vlan` carries when leaving this port (0 = untagged).
    pub fn output_vid(&self, vlan: u16) -> u16 {
        let tag = self.tag.map_or(0, VlanId::get);
        match self.mode {
            VlanMode::Access => 0,
            VlanMode::Trunk | VlanMode::NativeTagged => vlan,
            VlanMode::NativeUntagged => {
                if vlan == tag {
                    0
                } else {
                    vlan
                }
            }
        }
    }
}

/// What a tunnel port puts on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// `gre`, `vxlan`, `geneve`.
    pub kind: String,
    /// `local_ip` (of `remote_ip`'s family; unspecified when not fixed).
    pub local_ip: IpAddr,
    /// `remote_ip`: IPv4 or IPv6 (with `remote_ip=flow`, which of the flow's fields is read:
    /// `tun_dst` when IPv4 unspecified, `tun_ipv6_dst` when IPv6 unspecified).
    pub remote_ip: IpAddr,
    /// `out_key`: `None` for `flow` (the key comes from `tun_id`), else a fixed key; 0 sends
    /// no key field at all (Open vSwitch: "equivalent to specifying no options:out_key").
    pub out_key: Option<u64>,
    /// `df_default` (true unless configured otherwise).
    pub df_default: bool,
    /// `in_key` (or `key`): `None` for `flow` (any key, put in `tun_id`), else the one key
    /// received (0 when the port has no key); a packet with another key is not this port's.
    pub in_key: Option<u64>,
    /// Outer TTL (`ttl`; 64 unless configured).
    pub ttl: u8,
    /// Outer TOS (`tos`, a DSCP value; 0 unless configured).
    pub tos: u8,
    /// `remote_ip=flow`: the outer destination is the flow's `tun_dst` (`remote_ip` is then
    /// 0.0.0.0), and the port receives from any remote no other port names.
    pub remote_flow: bool,
    /// `local_ip=flow`: the outer source is the flow's `tun_src` (`local_ip` is then
    /// 0.0.0.0; a zero `tun_src` leaves the source to the route).
    pub local_flow: bool,
    /// `ttl=inherit`: an IP packet's outer TTL is its own TTL (others get `ttl`).
    pub ttl_inherit: bool,
    /// `tos=inherit`: an IP packet's outer DSCP is its own DSCP (others get `tos`).
    pub tos_inherit: bool,
    /// `csum=true`: outer checksums (GRE checksum, UDP checksum for VXLAN and Geneve).
    pub csum: bool,
}

impl TunnelConfig {
    /// True when a packet received with key `tun_id` belongs to this port (`in_key`).
    pub fn accepts_key(&self, tun_id: u64) -> bool {
        self.in_key.is_none_or(|k| k == tun_id)
    }
}

/// What kind of port it is, and what that implies for output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// The bridge's own host device (`type=internal`).
    Internal,
    /// A host network device (`type=system`, tap, veth, dummy).
    System,
    /// Half of a patch pair; output continues in the bridge that owns the port named `peer`.
    Patch {
        /// The peer port's name.
        peer: String,
    },
    /// A tunnel endpoint.
    Tunnel(TunnelConfig),
}

/// A port's OpenFlow configuration (`OFPPC_*` bits, as `ovs-ofctl mod-port` sets them),
/// the part of it translation acts on, with Open vSwitch's rules:
///
/// - `NO_RECV`: a frame received on the port is looked up in table 0 (the rule counts it) but
///   its actions do not run, so it is dropped; one crossing a patch port into this one is
///   dropped before any lookup. Spanning-tree frames (802.3, no SNAP, to 01:80:c2:00:00:00)
///   answer to `NO_RECV_STP` instead.
/// - `NO_FWD`: every output to the port is skipped (`OFPPC_NO_FWD set, skipping output`),
///   patch ports included.
/// - `NO_FLOOD`: `FLOOD` and `NORMAL`'s flooding leave the port out; `ALL` and outputs to
///   the port by number do not.
/// - `NO_PACKET_IN` and `PORT_DOWN` are carried here for whoever acts on them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortConfig(pub u32);

impl PortConfig {
    /// `OFPPC_PORT_DOWN`.
    pub const PORT_DOWN: u32 = 1 << 0;
    /// `OFPPC_NO_RECV`.
    pub const NO_RECV: u32 = 1 << 2;
    /// `OFPPC_NO_RECV_STP` (OpenFlow 1.0 only).
    pub const NO_RECV_STP: u32 = 1 << 3;
    /// `OFPPC_NO_FLOOD` (OpenFlow 1.0 only).
    pub const NO_FLOOD: u32 = 1 << 4;
    /// `OFPPC_NO_FWD`.
    pub const NO_FWD: u32 = 1 << 5;
    /// `OFPPC_NO_PACKET_IN`.
    pub const NO_PACKET_IN: u32 = 1 << 6;

    /// Whether bit(s) `bits` are all set.
    pub const fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// Outputs to the port are dropped.
    pub const fn no_fwd(self) -> bool {
        self.has(Self::NO_FWD)
    }

    /// `FLOOD` and `NORMAL`'s flooding leave the port out.
    pub const fn no_flood(self) -> bool {
        self.has(Self::NO_FLOOD)
    }

    /// Frames received on the port are dropped after the table-0 lookup; `stp` says whether
    /// the frame is a spanning-tree frame (which `NO_RECV_STP` governs instead).
    pub const fn no_recv(self, stp: bool) -> bool {
        if stp {
            self.has(Self::NO_RECV_STP)
        } else {
            self.has(Self::NO_RECV)
        }
    }
}

/// A port's OpenFlow state (`OFPPS_*`) as its device makes it, which no controller sets:
/// `LINK_DOWN` when the device is down or has no carrier (Open vSwitch's `netdev` carrier).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortState(pub u32);

impl PortState {
    /// `OFPPS_LINK_DOWN`.
    pub const LINK_DOWN: u32 = 1 << 0;

    /// The device is down or without a carrier.
    pub const fn link_down(self) -> bool {
        self.0 & Self::LINK_DOWN != 0
    }
}

/// One port of a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// OpenFlow port number within the bridge.
    pub ofport: PortNo,
    /// Port (and interface) name.
    pub name: String,
    /// Kind.
    pub kind: PortKind,
    /// VLAN role for NORMAL.
    pub vlan: PortVlan,
    /// Datapath port number; patch ports have none.
    pub dp_port: Option<DpPort>,
    /// OpenFlow configuration (port-mods); kept across reconfigurations of the port.
    pub config: PortConfig,
    /// OpenFlow state, from the device; kept across reconfigurations of the port.
    pub state: PortState,
}

impl Port {
    /// Whether the port is live, as Open vSwitch judges a fast-failover bucket's
    /// `watch_port`: not administratively down (`PORT_DOWN`) and its link up.
    pub const fn is_live(&self) -> bool {
        !self.config.has(PortConfig::PORT_DOWN) && !self.state.link_down()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vid(v: u16) -> VlanId {
        VlanId::new(v).unwrap_or_else(|| unreachable!("test VLAN ids are small"))
    }

    #[test]
    fn access_ports_tag_on_input_untag_on_output_and_refuse_tagged_frames() {
        let p = PortVlan::access(vid(1));
        assert_eq!(p.input_vlan(0), Ok(1));
        assert_eq!(
            p.input_vlan(7),
            Err(VlanRefusal::TaggedOnAccess { vid: 7, tag: 1 })
        );
        assert!(p.carries(1) && !p.carries(2));
        assert_eq!(p.output_vid(1), 0);
    }

    #[test]
    fn trunks_carry_their_list_or_everything() {
        let all = PortVlan::default();
        assert_eq!(all.input_vlan(9), Ok(9));
        assert!(all.carries(9) && all.carries(0));
        let some = PortVlan::trunk(vec![vid(5), vid(6)]);
        assert_eq!(some.input_vlan(7), Err(VlanRefusal::NotTrunked { vid: 7 }));
        assert!(!some.carries(0));
        assert_eq!(some.output_vid(5), 5);
    }

    #[test]
    fn native_untagged_sends_its_own_vlan_untagged() {
        let p = PortVlan {
            mode: VlanMode::NativeUntagged,
            tag: Some(vid(5)),
            trunks: vec![vid(6)],
        };
        assert_eq!(p.input_vlan(0), Ok(5));
        assert_eq!(p.input_vlan(6), Ok(6));
        assert_eq!(p.output_vid(5), 0);
        assert_eq!(p.output_vid(6), 6);
        let t = PortVlan {
            mode: VlanMode::NativeTagged,
            ..p
        };
        assert_eq!(t.output_vid(5), 5);
    }
}
