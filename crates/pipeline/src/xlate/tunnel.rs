//! The outer header of an output to a tunnel port: what `set(tunnel(...))` carries, from the
//! port's options and, where the options say `flow` or `inherit`, from the flow.
//!
//! Open vSwitch's rules, kept here:
//! - **Addresses**: `remote_ip`/`local_ip`, or with `remote_ip=flow`/`local_ip=flow` the
//!   flow's `tun_dst`/`tun_src` (as `set_field:...->tun_dst` left them, or as the packet
//!   arrived); `remote_ip=flow` takes `tun_ipv6_dst` when `tun_dst` is 0.0.0.0 (and then
//!   `tun_ipv6_src` for `local_ip=flow`), so one port serves both families, as in Open
//!   vSwitch. An output with neither destination has nowhere to go and is dropped.
//! - **Key**: a fixed `out_key`, or with `flow` the flow's `tun_id`; `out_key=0` (or none)
//!   sends no key field.
//! - **TTL**: `ttl`, or with `ttl=inherit` an IP packet's own TTL (`nw_ttl` becomes exact in
//!   the megaflow); a packet that is not IP gets `ttl`.
//! - **TOS**: the DSCP is `tos`, or with `tos=inherit` an IP packet's own DSCP. The ECN bits
//!   are always an IP packet's own (RFC 6040's normal mode), except that Congestion
//!   Experienced becomes ECT(0) outside: a mark already made inside must not be made again
//!   by the outer header's decapsulator. So `nw_ecn` is exact in every IP megaflow through a
//!   tunnel, and `nw_tos` whole with `tos=inherit`.
//! - **Flags**: DF from `df_default`, checksums from `csum=true`.
//!
//! Every field read here is marked in the megaflow mask, so a cached action is only reused
//! for packets that would get the same outer header.

use super::get;
use crate::bits::mark_field;
use crate::dpif::TunnelKey;
use crate::port::TunnelConfig;
use fvs_flow::{Field, FlowKey};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherType of IPv4.
const ETH_TYPE_IPV4: u128 = 0x0800;
/// EtherType of IPv6.
const ETH_TYPE_IPV6: u128 = 0x86dd;
/// The ECN bits of a TOS / traffic class byte.
const ECN_MASK: u8 = 0x03;
/// The DSCP bits.
const DSCP_MASK: u8 = 0xfc;
/// ECN "Congestion Experienced".
const ECN_CE: u8 = 0x03;
/// ECN "ECN-Capable Transport (0)".
const ECN_ECT_0: u8 = 0x02;

/// Why an output to a tunnel port sends nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NoTunnel {
    /// `remote_ip=flow` and the flow's `tun_dst` is 0.0.0.0.
    NoDestination,
}

/// The outer header for an output of `flow` to a tunnel port configured as `cfg`; marks
/// what it read in `wc`.
pub(super) fn tunnel_key(
    cfg: &TunnelConfig,
    flow: &FlowKey,
    wc: &mut FlowKey,
) -> Result<TunnelKey, NoTunnel> {
    let v4_of = |flow: &FlowKey, f: Field| -> IpAddr {
        Ipv4Addr::from_bits(u32::try_from(get(flow, f)).unwrap_or(0)).into()
    };
    let v6_of = |flow: &FlowKey, f: Field| -> IpAddr { Ipv6Addr::from_bits(get(flow, f)).into() };
    let dst = if cfg.remote_flow {
        // Open vSwitch's `remote_ip=flow` serves both families: `tun_dst` when set, else
        // `tun_ipv6_dst`.
        mark_field(wc, Field::TunDst, u128::from(u32::MAX));
        let d = v4_of(flow, Field::TunDst);
        if d.is_unspecified() {
            mark_field(wc, Field::TunIpv6Dst, u128::MAX);
            v6_of(flow, Field::TunIpv6Dst)
        } else {
            d
        }
    } else {
        cfg.remote_ip
    };
    if dst.is_unspecified() {
        return Err(NoTunnel::NoDestination);
    }
    let src = if cfg.local_flow {
        if dst.is_ipv6() {
            mark_field(wc, Field::TunIpv6Src, u128::MAX);
            v6_of(flow, Field::TunIpv6Src)
        } else {
            mark_field(wc, Field::TunSrc, u128::from(u32::MAX));
            v4_of(flow, Field::TunSrc)
        }
    } else {
        cfg.local_ip
    };
    let tun_id = match cfg.out_key {
        Some(k) => k,
        None => {
            mark_field(wc, Field::TunId, u128::from(u64::MAX));
            u64::try_from(get(flow, Field::TunId)).unwrap_or(0)
        }
    };
    mark_field(wc, Field::EthType, 0xffff);
    let ip = matches!(get(flow, Field::EthType), ETH_TYPE_IPV4 | ETH_TYPE_IPV6);
    let mut ttl = cfg.ttl;
    let mut tos = cfg.tos;
    if ip {
        let nw_tos = get(flow, Field::NwTos) as u8;
        if cfg.ttl_inherit {
            mark_field(wc, Field::NwTtl, 0xff);
            ttl = get(flow, Field::NwTtl) as u8;
        }
        if cfg.tos_inherit {
            mark_field(wc, Field::NwTos, u128::from(DSCP_MASK));
            tos = nw_tos & DSCP_MASK;
        }
        mark_field(wc, Field::NwTos, u128::from(ECN_MASK));
        tos |= match nw_tos & ECN_MASK {
            ECN_CE => ECN_ECT_0,
            ecn => ecn,
        };
    }
    Ok(TunnelKey {
        tun_id,
        src,
        dst,
        tos,
        ttl,
        df: cfg.df_default,
        // `key=0` (or none) sends no key field; `flow` always sends one.
        key: cfg.out_key != Some(0),
        csum: cfg.csum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gre() -> TunnelConfig {
        TunnelConfig {
            kind: "gre".into(),
            local_ip: Ipv4Addr::new(10, 0, 1, 31).into(),
            remote_ip: Ipv4Addr::new(10, 0, 1, 21).into(),
            out_key: Some(5),
            df_default: true,
            in_key: Some(5),
            ttl: 64,
            tos: 0x10,
            remote_flow: false,
            local_flow: false,
            ttl_inherit: false,
            tos_inherit: false,
            csum: false,
        }
    }

    fn ip_flow(tos: u8, ttl: u8) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set(Field::EthType.loc(), ETH_TYPE_IPV4);
        k.set(Field::NwTos.loc(), u128::from(tos));
        k.set(Field::NwTtl.loc(), u128::from(ttl));
        k
    }

    #[test]
    fn ecn_is_always_inherited_and_ce_leaves_as_ect0() {
        let mut wc = FlowKey::ZERO;
        for (inner, outer) in [(0x00, 0x10), (0x01, 0x11), (0x02, 0x12), (0x03, 0x12)] {
            let t = tunnel_key(&gre(), &ip_flow(0xb8 | inner, 9), &mut wc).unwrap();
            assert_eq!((t.tos, t.ttl), (outer, 64), "inner ECN {inner}");
        }
        assert_eq!(wc.get(Field::NwTos.loc()), 0x03);
        assert_eq!(wc.get(Field::NwTtl.loc()), 0);
    }

    #[test]
    fn inherit_copies_dscp_and_ttl_of_ip_packets_only() {
        let mut cfg = gre();
        cfg.ttl_inherit = true;
        cfg.tos_inherit = true;
        let mut wc = FlowKey::ZERO;
        let t = tunnel_key(&cfg, &ip_flow(0xb9, 9), &mut wc).unwrap();
        assert_eq!((t.tos, t.ttl), (0xb9, 9));
        assert_eq!(wc.get(Field::NwTos.loc()), 0xff);
        assert_eq!(wc.get(Field::NwTtl.loc()), 0xff);
        let mut arp = FlowKey::ZERO;
        arp.set(Field::EthType.loc(), 0x0806);
        let mut wc = FlowKey::ZERO;
        let t = tunnel_key(&cfg, &arp, &mut wc).unwrap();
        assert_eq!((t.tos, t.ttl), (0x10, 64));
    }

    #[test]
    fn flow_addresses_and_keys_come_from_the_flow() {
        let mut cfg = gre();
        cfg.remote_flow = true;
        cfg.local_flow = true;
        cfg.remote_ip = Ipv4Addr::UNSPECIFIED.into();
        cfg.local_ip = Ipv4Addr::UNSPECIFIED.into();
        cfg.out_key = None;
        cfg.csum = true;
        let mut flow = FlowKey::ZERO;
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            tunnel_key(&cfg, &flow, &mut wc),
            Err(NoTunnel::NoDestination)
        );
        flow.set(Field::TunDst.loc(), 0x0a00_0202);
        flow.set(Field::TunSrc.loc(), 0x0a00_0101);
        flow.set(Field::TunId.loc(), 0x77);
        let t = tunnel_key(&cfg, &flow, &mut wc).unwrap();
        assert_eq!(
            (t.dst, t.src, t.tun_id, t.key, t.csum),
            (
                Ipv4Addr::new(10, 0, 2, 2).into(),
                Ipv4Addr::new(10, 0, 1, 1).into(),
                0x77,
                true,
                true
            )
        );
        assert_eq!(wc.get(Field::TunDst.loc()), u128::from(u32::MAX));
        assert_eq!(wc.get(Field::TunId.loc()), u128::from(u64::MAX));
    }

    #[test]
    fn ipv6_tunnels_read_the_ipv6_tunnel_fields() {
        let mut cfg = gre();
        cfg.remote_flow = true;
        cfg.local_flow = true;
        cfg.remote_ip = Ipv4Addr::UNSPECIFIED.into();
        cfg.local_ip = Ipv4Addr::UNSPECIFIED.into();
        let mut flow = FlowKey::ZERO;
        let mut wc = FlowKey::ZERO;
        let dst: Ipv6Addr = "fd00::21".parse().unwrap();
        flow.set(Field::TunIpv6Dst.loc(), dst.to_bits());
        let t = tunnel_key(&cfg, &flow, &mut wc).unwrap();
        assert_eq!((t.dst, t.src), (dst.into(), Ipv6Addr::UNSPECIFIED.into()));
        assert_eq!(wc.get(Field::TunIpv6Dst.loc()), u128::MAX);
        assert_eq!(wc.get(Field::TunIpv6Src.loc()), u128::MAX);
        // An IPv4 tun_dst, when set, wins.
        flow.set(Field::TunDst.loc(), 0x0a00_0202);
        let mut wc = FlowKey::ZERO;
        let t4 = tunnel_key(&cfg, &flow, &mut wc).unwrap();
        assert_eq!(t4.dst, IpAddr::from(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(wc.get(Field::TunIpv6Dst.loc()), 0);
        assert_eq!(
            crate::dpif::DpAction::SetTunnel(t).to_string(),
            "set(tunnel(tun_id=0x5,ipv6_src=::,ipv6_dst=fd00::21,tos=0x10,ttl=64,flags(df|key)))"
        );
    }
}
