//! Datapath actions: what translation hands the fast path, and their `ovs-dpctl` text.
//!
//! Translation ends in a flat list of [`DpAction`]s that a datapath can run on the packet without
//! consulting any OpenFlow table: header rewrites, VLAN push/pop, tunnel metadata, outputs. The
//! text form is the one `ovs-appctl ofproto/trace` prints after `Datapath actions:` for the
//! kernel datapath (`push_vlan(vid=1,pcp=0),2`), so traces can be compared with Open vSwitch.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// A datapath port number (not an OpenFlow port number: a bridge maps one to the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DpPort(pub u32);

impl fmt::Display for DpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Outer-header metadata a tunnel port sends with: `set(tunnel(...))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelKey {
    /// The tunnel key (GRE key, VXLAN VNI, …).
    pub tun_id: u64,
    /// Outer source address (the port's `local_ip`, or the flow's `tun_src` or
    /// `tun_ipv6_src`), of the destination's family; unspecified: the route's choice.
    pub src: IpAddr,
    /// Outer destination address (the port's `remote_ip`, or the flow's `tun_dst` or
    /// `tun_ipv6_dst`): IPv4 or IPv6, which picks the outer header.
    pub dst: IpAddr,
    /// Outer TOS (0: none; printed only when set, as Open vSwitch does).
    pub tos: u8,
    /// Outer TTL.
    pub ttl: u8,
    /// Set the Don't Fragment bit on the outer header.
    pub df: bool,
    /// A key is present on the wire.
    pub key: bool,
    /// Outer checksums (GRE checksum, UDP checksum) are sent.
    pub csum: bool,
}

/// An Ethernet address, printed `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The address stored right-aligned in the low 48 bits of `v`.
    pub fn from_u64(v: u64) -> Self {
        let b = v.to_be_bytes();
        Self([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The address as a right-aligned integer.
    pub fn to_u64(self) -> u64 {
        let [a, b, c, d, e, g] = self.0;
        u64::from_be_bytes([0, 0, a, b, c, d, e, g])
    }

    /// Group (multicast or broadcast) addresses have the low bit of the first octet set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Send a copy of the packet, as it is now, to a port.
    Output(DpPort),
    /// Push an 802.1Q header (TPID 0x8100).
    PushVlan {
        /// VLAN id (12 bits).
        vid: u16,
        /// Priority code point (3 bits).
        pcp: u8,
    },
    /// Remove the outermost 802.1Q header.
    PopVlan,
    /// Set the tunnel metadata used by the next output to a tunnel port.
    SetTunnel(TunnelKey),
    /// Rewrite Ethernet addresses (only the given ones).
    SetEth {
        /// New source address.
        src: Option<Mac>,
        /// New destination address.
        dst: Option<Mac>,
    },
    /// Rewrite IPv4 header fields (only the given ones).
    SetIpv4 {
        /// New source address.
        src: Option<Ipv4Addr>,
        /// New destination address.
        dst: Option<Ipv4Addr>,
        /// New TOS bits as (value, mask): a masked set when only some bits (DSCP or ECN) are
        /// rewritten.
        tos: Option<(u8, u8)>,
        /// New TTL.
        ttl: Option<u8>,
    },
    /// Rewrite L4 ports; `proto` names the header (`tcp`, `udp`, `sctp`).
    SetL4Ports {
        /// Header name as the datapath prints it.
        proto: &'static str,
        /// New source port.
        src: Option<u16>,
        /// New destination port.
        dst: Option<u16>,
    },
    /// Set the packet mark.
    SetPktMark(u32),
    /// Truncate the copies sent by the following outputs to this many bytes.
    Trunc(u32),
    /// Hand the packet to the switch's slow path for the controller.
    Userspace {
        /// OpenFlow `reason` code (0 no match, 1 action, …).
        reason: u8,
        /// Bytes of packet to send.
        max_len: u16,
        /// Cookie of the rule that sent it.
        cookie: u64,
        /// The table of that rule (not printed: Open vSwitch keeps it out of the action's
        /// text too).
        table: u8,
        /// The OpenFlow flow when the action ran: the pipeline metadata (registers, tunnel,
        /// `metadata`, `in_port` as an OpenFlow port) a packet-in reports, which the packet
        /// itself does not carry. Not printed, like Open vSwitch's frozen metadata.
        flow: Box<fvs_flow::FlowKey>,
        /// The controller connections that get it (`controller(id=...)`; 0 by default).
        controller_id: u16,
        /// `controller(userdata=...)`: bytes passed to the controller (not printed).
        userdata: Option<Vec<u8>>,
        /// `controller(pause)`: the paused translation's state, which the packet-in
        /// carries for the controller to resume ([`crate::xlate::Frozen`]).
        continuation: Option<Box<crate::xlate::Frozen>>,
        /// The bridge whose pipeline sent it (a patch port's peer, maybe): its controllers
        /// get it (not printed).
        bridge: String,
        /// The datapath meter packet-ins through this action are charged to: the action's
        /// own (`controller(meter_id=N)`) or the bridge's `controller` meter. A packet the
        /// meter drops goes to no controller; the actions after it still run (Open vSwitch
        /// prints it as a `sample` of 100% around `meter(N)` and the `userspace` action).
        meter: Option<crate::meter::DpMeterId>,
    },
    /// Charge the packet to a datapath meter, which may drop it (then nothing after runs).
    Meter(crate::meter::DpMeterId),
}

impl fmt::Display for DpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output(p) => write!(f, "{p}"),
            Self::PushVlan { vid, pcp } => write!(f, "push_vlan(vid={vid},pcp={pcp})"),
            Self::PopVlan => f.write_str("pop_vlan"),
            Self::SetTunnel(t) => {
                // Open vSwitch names IPv6 outer addresses `ipv6_src`/`ipv6_dst`.
                let v6 = if t.dst.is_ipv6() { "ipv6_" } else { "" };
                write!(
                    f,
                    "set(tunnel(tun_id={:#x},{v6}src={},{v6}dst={},",
                    t.tun_id, t.src, t.dst
                )?;
                if t.tos != 0 {
                    write!(f, "tos={:#x},", t.tos)?;
                }
                write!(f, "ttl={}", t.ttl)?;
                let flags: Vec<&str> = [(t.df, "df"), (t.csum, "csum"), (t.key, "key")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| *n)
                    .collect();
                if !flags.is_empty() {
                    write!(f, ",flags({})", flags.join("|"))?;
                }
                f.write_str("))")
            }
            Self::SetEth { src, dst } => {
                f.write_str("set(eth(")?;
                let mut parts = Vec::new();
                if let Some(s) = src {
                    parts.push(format!("src={s}"));
                }
                if let Some(d) = dst {
                    parts.push(format!("dst={d}"));
                }
                write!(f, "{}))", parts.join(","))
            }
            Self::SetIpv4 { src, dst, tos, ttl } => {
                let mut parts = Vec::new();
                if let Some(s) = src {
                    parts.push(format!("src={s}"));
                }
                if let Some(d) = dst {
                    parts.push(format!("dst={d}"));
                }
                if let Some((t, m)) = tos {
                    if *m == u8::MAX {
                        parts.push(format!("tos={t:#x}"));
                    } else {
                        parts.push(format!("tos={t:#x}/{m:#x}"));
                    }
                }
                if let Some(t) = ttl {
                    parts.push(format!("ttl={t}"));
                }
                write!(f, "set(ipv4({}))", parts.join(","))
            }
            Self::SetL4Ports { proto, src, dst } => {
                let mut parts = Vec::new();
                if let Some(s) = src {
                    parts.push(format!("src={s}"));
                }
                if let Some(d) = dst {
                    parts.push(format!("dst={d}"));
                }
                write!(f, "set({proto}({}))", parts.join(","))
            }
            Self::SetPktMark(m) => write!(f, "set(skb_mark({m:#x}))"),
            Self::Trunc(n) => write!(f, "trunc({n})"),
            Self::Meter(m) => write!(f, "meter({m})"),
            Self::Userspace {
                reason,
                max_len,
                cookie,
                controller_id,
                continuation,
                meter,
                ..
            } => {
                if let Some(m) = meter {
                    write!(f, "sample(sample=100.0%,actions(meter({m}),")?;
                }
                let continuation = u8::from(continuation.is_some());
                // C's `%#x`: zero prints without the prefix.
                let cookie = if *cookie == 0 {
                    "0".to_owned()
                } else {
                    format!("{cookie:#x}")
                };
                write!(
                    f,
                    "userspace(pid=0,controller(reason={reason},dont_send=1,continuation={continuation},recirc_id=0,rule_cookie={cookie},controller_id={controller_id},max_len={max_len}))"
                )?;
                if meter.is_some() {
                    f.write_str("))")?;
                }
                Ok(())
            }
        }
    }
}

/// A datapath action list; prints as `drop` when empty, else comma-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DpActions(pub Vec<DpAction>);

impl DpActions {
    /// True when the packet goes nowhere.
    pub fn is_drop(&self) -> bool {
        !self.0.iter().any(|a| matches!(a, DpAction::Output(_)))
    }
}

impl fmt::Display for DpActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_ofproto_trace() {
        let acts = DpActions(vec![
            DpAction::SetTunnel(TunnelKey {
                tun_id: 1,
                src: Ipv4Addr::new(10, 0, 1, 31).into(),
                dst: Ipv4Addr::new(10, 0, 1, 21).into(),
                tos: 0,
                ttl: 64,
                df: true,
                key: true,
                csum: false,
            }),
            DpAction::PopVlan,
            DpAction::Output(DpPort(1)),
            DpAction::PushVlan { vid: 1, pcp: 0 },
            DpAction::Output(DpPort(3)),
        ]);
        assert_eq!(
            acts.to_string(),
            "set(tunnel(tun_id=0x1,src=10.0.1.31,dst=10.0.1.21,ttl=64,flags(df|key))),pop_vlan,1,push_vlan(vid=1,pcp=0),3"
        );
        assert_eq!(DpActions::default().to_string(), "drop");
        let eth = DpAction::SetEth {
            src: Some(Mac::from_u64(9)),
            dst: None,
        };
        assert_eq!(eth.to_string(), "set(eth(src=00:00:00:00:00:09))");
    }

    #[test]
    fn mac_round_trips_and_knows_group_addresses() {
        let m = Mac::from_u64(0xfa16_3eaa_aaaa);
        assert_eq!(m.to_string(), "fa:16:3e:aa:aa:aa");
        assert_eq!(m.to_u64(), 0xfa16_3eaa_aaaa);
        assert!(!m.is_multicast());
        assert!(Mac::from_u64(0xffff_ffff_ffff).is_multicast());
    }
}
