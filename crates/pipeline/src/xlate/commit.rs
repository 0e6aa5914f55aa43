//! Lazy commit: the datapath actions that turn the packet as the datapath has it (`base`) into
//! the packet as OpenFlow says it should be (`flow`), emitted just before an output.
//!
//! Only header rewrites the datapath can do are compared: Ethernet addresses, the VLAN tag,
//! IPv4 addresses, TOS and TTL, L4 ports and the packet mark. Fields that live only in the
//! switch (registers, metadata, `in_port`) never reach the datapath.

use super::{Ctx, get, mac_of};
use crate::bits::mark_field;
use crate::dpif::DpAction;
use fvs_flow::{Field, FlowKey};

impl Ctx<'_> {
    /// Emits the datapath actions that make the packet look like `flow`.
    pub(super) fn commit(&mut self, flow: &FlowKey) {
        let (src, dst) = (mac_of(flow, Field::EthSrc), mac_of(flow, Field::EthDst));
        let (bsrc, bdst) = (
            mac_of(&self.base, Field::EthSrc),
            mac_of(&self.base, Field::EthDst),
        );
        if src != bsrc || dst != bdst {
            self.dp.push(DpAction::SetEth {
                src: (src != bsrc).then_some(src),
                dst: (dst != bdst).then_some(dst),
            });
        }
        let tci = get(flow, Field::VlanTci);
        let btci = get(&self.base, Field::VlanTci);
        if tci != btci {
            // The datapath replaces a tag as a whole, so the whole TCI decided the result.
            mark_field(&mut self.wc, Field::VlanTci, 0xffff);
            if btci & 0x1000 != 0 {
                self.dp.push(DpAction::PopVlan);
            }
            if tci & 0x1000 != 0 {
                self.dp.push(DpAction::PushVlan {
                    vid: u16::try_from(tci & 0xfff).unwrap_or(0),
                    pcp: u8::try_from((tci >> 13) & 7).unwrap_or(0),
                });
            }
        }
        if get(&self.base, Field::EthType) == 0x0800 {
            let ipf = |k: &FlowKey, f: Field| {
                std::net::Ipv4Addr::from(u32::try_from(get(k, f)).unwrap_or(0))
            };
            let diff = |f: Field| get(flow, f) != get(&self.base, f);
            let byte = |f: Field| u8::try_from(get(flow, f)).unwrap_or(0);
            if diff(Field::Ipv4Src)
                || diff(Field::Ipv4Dst)
                || diff(Field::NwTos)
                || diff(Field::NwTtl)
            {
                // Only the TOS bits an action rewrote are set (a DSCP rewrite keeps ECN).
                let written = u8::try_from(get(&self.wc, Field::NwTos) & 0xff).unwrap_or(0);
                let tos_mask = if written == 0 { u8::MAX } else { written };
                // Open vSwitch's IPv4 set action carries the protocol too, so the rewrite
                // depends on it.
                mark_field(&mut self.wc, Field::IpProto, 0xff);
                self.dp.push(DpAction::SetIpv4 {
                    src: diff(Field::Ipv4Src).then(|| ipf(flow, Field::Ipv4Src)),
                    dst: diff(Field::Ipv4Dst).then(|| ipf(flow, Field::Ipv4Dst)),
                    tos: diff(Field::NwTos).then(|| (byte(Field::NwTos), tos_mask)),
                    ttl: diff(Field::NwTtl).then(|| byte(Field::NwTtl)),
                });
            }
            let proto = match get(flow, Field::IpProto) {
                6 => Some("tcp"),
                17 => Some("udp"),
                132 => Some("sctp"),
                _ => None,
            };
            if let Some(proto) = proto
                && (diff(Field::TcpSrc) || diff(Field::TcpDst))
            {
                let port = |f: Field| u16::try_from(get(flow, f)).unwrap_or(0);
                self.dp.push(DpAction::SetL4Ports {
                    proto,
                    src: diff(Field::TcpSrc).then(|| port(Field::TcpSrc)),
                    dst: diff(Field::TcpDst).then(|| port(Field::TcpDst)),
                });
            }
        }
        if get(flow, Field::PktMark) != get(&self.base, Field::PktMark) {
            self.dp.push(DpAction::SetPktMark(
                u32::try_from(get(flow, Field::PktMark)).unwrap_or(0),
            ));
        }
        self.base = *flow;
    }
}
