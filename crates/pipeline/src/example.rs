//! The seed's compute node as a [`Switch`]: br-int with two VM access ports on VLAN 1 and
//! `patch-tun`, br-tun with `patch-int` and the GRE port to 10.0.1.21, and the Neutron br-tun
//! flows exactly as the seed's `ovs-ofctl dump-flows br-tun` printed them.
//!
//! Datapath port numbers are the ones Open vSwitch's dummy datapath gives these ports when the
//! bridges and then their ports are created one at a time in this order (the oracle test
//! checks it), so traces of this switch can be compared with a real ovs-vswitchd's.

use crate::bridge::{Bridge, FailMode, FlowModError};
use crate::clock::Millis;
use crate::dpif::DpPort;
use crate::port::{Port, PortKind, PortVlan, TunnelConfig, VlanId};
use crate::switch::Switch;
use fvs_flow::PortNo;
use fvs_openflow::text::{FlowParseError, parse_flow_mod_line};
use std::net::Ipv4Addr;

/// The br-tun flows of the seed, verbatim as its `ovs-ofctl dump-flows br-tun` printed them
/// (statistics included; they are ignored on load). The file is shared with the demo script.
pub const SEED_BR_TUN_FLOWS: &str = include_str!("../../../examples/seed/br-tun.flows");

/// br-int's program in the agent of the seed's era: plain MAC learning.
pub const SEED_BR_INT_FLOWS: &str = "priority=1 actions=NORMAL\n";

fn port(ofport: PortNo, name: &str, kind: PortKind, vlan: PortVlan, dp: Option<u32>) -> Port {
    Port {
        ofport,
        name: name.to_owned(),
        kind,
        vlan,
        dp_port: dp.map(DpPort),
        config: crate::port::PortConfig::default(),
        state: crate::port::PortState::default(),
    }
}

/// Loads flows into `bridge` as `ovs-ofctl add-flows` reads a file: one flow-mod per line,
/// optionally led by a command (`add`, `modify`, `delete`, `modify_strict`, `delete_strict`),
/// blank lines and `#` comments skipped, `dump-flows` statistics ignored. Returns, for each
/// flow-mod the bridge refused, its line number (from 1) and the reason.
pub fn load_flows(
    bridge: &mut Bridge,
    text: &str,
    now: Millis,
) -> Result<Vec<(usize, FlowModError)>, LoadError> {
    let mut refused = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(parsed) = parse_flow_mod_line(line) else {
            continue;
        };
        let (fm, _) = parsed.map_err(|error| LoadError { line: i + 1, error })?;
        if let Err(e) = bridge.flow_mod(&fm, now) {
            refused.push((i + 1, e));
        }
    }
    Ok(refused)
}

/// A line of flow text that did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LoadError {
    /// Line number, from 1.
    pub line: usize,
    /// What `ovs-ofctl` would say about it.
    pub error: FlowParseError,
}

/// The two bridges of the seed, without flows (both `fail_mode=secure`).
pub fn seed_topology(now: Millis) -> Switch {
    let vlan1 = PortVlan::access(VlanId::new(1).unwrap_or_else(|| unreachable!("1 < 4096")));
    let mut br_int = Bridge::new("br-int", FailMode::Secure, now);
    br_int.add_port(port(
        PortNo(1),
        "qvo37b25c08-e8",
        PortKind::System,
        vlan1.clone(),
        Some(37),
    ));
    br_int.add_port(port(
        PortNo(2),
        "patch-tun",
        PortKind::Patch {
            peer: "patch-int".into(),
        },
        PortVlan::default(),
        None,
    ));
    br_int.add_port(port(
        PortNo(3),
        "qvo155845ae-5e",
        PortKind::System,
        vlan1,
        Some(155_845),
    ));
    br_int.add_port(port(
        PortNo::LOCAL,
        "br-int",
        PortKind::Internal,
        PortVlan::default(),
        Some(1),
    ));
    let mut br_tun = Bridge::new("br-tun", FailMode::Secure, now);
    br_tun.add_port(port(
        PortNo(1),
        "patch-int",
        PortKind::Patch {
            peer: "patch-tun".into(),
        },
        PortVlan::default(),
        None,
    ));
    br_tun.add_port(port(
        PortNo(2),
        "gre-0a000115",
        PortKind::Tunnel(TunnelConfig {
            kind: "gre".into(),
            local_ip: Ipv4Addr::new(10, 0, 1, 31).into(),
            remote_ip: Ipv4Addr::new(10, 0, 1, 21).into(),
            out_key: None,
            df_default: true,
            in_key: None,
            ttl: 64,
            tos: 0,
            remote_flow: false,
            local_flow: false,
            ttl_inherit: false,
            tos_inherit: false,
            csum: false,
        }),
        PortVlan::default(),
        Some(3),
    ));
    br_tun.add_port(port(
        PortNo::LOCAL,
        "br-tun",
        PortKind::Internal,
        PortVlan::default(),
        Some(2),
    ));
    let mut sw = Switch::new();
    sw.add_bridge(br_int);
    sw.add_bridge(br_tun);
    sw
}

/// The seed's switch with its flows loaded.
pub fn seed_switch(now: Millis) -> Result<Switch, LoadError> {
    let mut sw = seed_topology(now);
    if let Some(b) = sw.bridge_mut("br-int") {
        // Valid tables, no overlap checks: nothing in the seed can be refused.
        load_flows(b, SEED_BR_INT_FLOWS, now)?;
    }
    if let Some(b) = sw.bridge_mut("br-tun") {
        load_flows(b, SEED_BR_TUN_FLOWS, now)?;
    }
    Ok(sw)
}

/// A flow key for an Ethernet frame with no payload type, as `ofproto/trace` builds from
/// `in_port=P,dl_src=S,dl_dst=D` (plus an optional tunnel key).
pub fn frame(in_port: u32, tun_id: u64, src: u64, dst: u64) -> fvs_flow::FlowKey {
    use fvs_flow::Field;
    let mut k = fvs_flow::FlowKey::ZERO;
    k.set(Field::InPort.loc(), u128::from(in_port));
    k.set(Field::TunId.loc(), u128::from(tun_id));
    k.set(Field::EthSrc.loc(), u128::from(src));
    k.set(Field::EthDst.loc(), u128::from(dst));
    k
}
