//! The OpenFlow side of a bridge's ports that the pipeline does not keep: when OpenFlow first
//! saw each port (the duration in port statistics), the rules of a port-mod, and the
//! bridge's fragment handling (`set-frags`).
//!
//! Each port's `OFPPC_*` configuration (what `ovs-ofctl mod-port` changes) lives in the
//! pipeline's port ([`fvs_pipeline::port::PortConfig`]), where translation acts on it; the
//! descriptions take it from there, and [`PortTable::port_mod`] only works out the new bits.
//!
//! One [`PortTable`] per bridge is shared by all of the bridge's connections. Entries are
//! keyed by port name and forgotten when the port leaves the bridge ([`PortTable::describe`]
//! drops them), so a port added again starts with a new duration, as in Open vSwitch.
//!
//! # Open vSwitch's behaviour, reproduced
//!
//! - `PORT_DOWN` brings the device down, which shows as `LINK_DOWN` in the state (and, from
//!   OpenFlow 1.1 on, without `LIVE`). A patch port has no device to bring down: the bit does
//!   not stick there.
//! - A port-mod whose Ethernet address is not the port's is refused with
//!   `OFPPMFC_BAD_HW_ADDR`; an unknown port with `OFPPMFC_BAD_PORT`.
//! - A port-mod that changes a port is announced with port-status messages
//!   ([`port_mod_events`]): one for the configuration, one for the state it brings.

use std::collections::BTreeMap;

use fvs_openflow::PortNo;
use fvs_openflow::wire::port::{OFPPC_PORT_DOWN, OFPPS_LINK_DOWN, PortMod};
use fvs_openflow::wire::{OfpError, PortDesc, PortReason};

use super::controller::{AsyncEvent, PortEvent};
use fvs_pipeline::clock::Millis;

/// One port's OpenFlow state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortEntry {
    /// When OpenFlow first saw the port.
    pub since: Millis,
}

/// A bridge's ports' OpenFlow state, by port name, and its fragment handling.
#[derive(Clone, Debug, Default)]
pub struct PortTable {
    ports: BTreeMap<String, PortEntry>,
    /// `OFPC_FRAG_*`.
    pub frag_mode: u16,
}

impl PortTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Completes `ports` (as the pipeline describes them, configuration included) with the
    /// state their configuration implies, remembering new ports from `now` and forgetting
    /// departed ones.
    pub fn describe(&mut self, ports: Vec<PortDesc>, now: Millis) -> Vec<PortDesc> {
        self.ports
            .retain(|name, _| ports.iter().any(|p| &p.name == name));
        ports
            .into_iter()
            .map(|mut p| {
                self.ports
                    .entry(p.name.clone())
                    .or_insert(PortEntry { since: now });
                if p.config & OFPPC_PORT_DOWN != 0 {
                    p.state |= OFPPS_LINK_DOWN;
                }
                p
            })
            .collect()
    }

    /// The entry of the port named `name`, if OpenFlow has seen it.
    pub fn get(&self, name: &str) -> Option<PortEntry> {
        self.ports.get(name).copied()
    }

    /// Checks a port-mod against `ports` (as the pipeline describes them) and returns the
    /// port it names with its new configuration, for the caller to give the pipeline;
    /// `is_patch` says which ports have no device (their `PORT_DOWN` does not stick).
    pub fn port_mod(
        &mut self,
        ports: &[PortDesc],
        is_patch: impl Fn(&str) -> bool,
        pm: &PortMod,
        now: Millis,
    ) -> Result<(PortNo, u32), OfpError> {
        let p = ports
            .iter()
            .find(|p| p.port_no == pm.port_no)
            .ok_or(OfpError::PortModBadPort)?;
        if p.hw_addr != pm.hw_addr {
            return Err(OfpError::PortModBadHwAddr);
        }
        let mut mask = pm.mask;
        if is_patch(&p.name) {
            mask &= !OFPPC_PORT_DOWN;
        }
        self.ports
            .entry(p.name.clone())
            .or_insert(PortEntry { since: now });
        Ok((p.port_no, (p.config & !mask) | (pm.config & mask)))
    }
}

/// The port-status messages a port-mod of `port` causes, from the ports before and after it,
/// as Open vSwitch sends them: the new configuration first (with the state as it was), then
/// the state it brings (`LINK_DOWN` following `PORT_DOWN`), each only when something changed.
pub fn port_mod_events(before: &[PortDesc], after: &[PortDesc], port: PortNo) -> Vec<AsyncEvent> {
    let find = |ports: &[PortDesc]| ports.iter().find(|p| p.port_no == port).cloned();
    let (Some(old), Some(new)) = (find(before), find(after)) else {
        return Vec::new();
    };
    let event = |desc: &PortDesc, prev: &PortDesc| {
        AsyncEvent::PortStatus(Box::new(PortEvent {
            reason: PortReason::Modify,
            desc: desc.clone(),
            live: true,
            old: Some((prev.clone(), true)),
        }))
    };
    let mut out = Vec::new();
    let mut step = old.clone();
    if new.config != old.config {
        step.config = new.config;
        out.push(event(&step, &old));
    }
    if new.state != step.state {
        out.push(event(&new, &step));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::EthAddr;
    use fvs_openflow::wire::port::{OFPPC_NO_FWD, OFPPC_NO_RECV};

    fn port(n: u32, name: &str) -> PortDesc {
        PortDesc {
            port_no: PortNo(n),
            hw_addr: EthAddr([0, 0, 0, 0, 0, n as u8]),
            name: name.into(),
            ..PortDesc::default()
        }
    }

    #[test]
    fn a_port_going_down_is_announced_twice_a_flag_once_nothing_never() {
        let before = vec![port(2, "gre")];
        let mut down = port(2, "gre");
        down.config = OFPPC_PORT_DOWN;
        down.state = OFPPS_LINK_DOWN;
        let descs = |evs: Vec<AsyncEvent>| -> Vec<(u32, u32)> {
            evs.into_iter()
                .filter_map(|e| match e {
                    AsyncEvent::PortStatus(p) => Some((p.desc.config, p.desc.state)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            descs(port_mod_events(&before, &[down.clone()], PortNo(2))),
            vec![(OFPPC_PORT_DOWN, 0), (OFPPC_PORT_DOWN, OFPPS_LINK_DOWN)]
        );
        let mut no_recv = port(2, "gre");
        no_recv.config = OFPPC_NO_RECV;
        assert_eq!(
            descs(port_mod_events(&before, &[no_recv], PortNo(2))),
            vec![(OFPPC_NO_RECV, 0)]
        );
        assert!(port_mod_events(&before, &before, PortNo(2)).is_empty());
    }

    #[test]
    fn port_mods_change_masked_bits_show_link_down_and_refuse_strangers() {
        let mut t = PortTable::new();
        let mut ports = vec![port(1, "patch-int"), port(2, "gre")];
        let is_patch = |n: &str| n.starts_with("patch");
        let down = |n: u32, mask| PortMod {
            port_no: PortNo(n),
            hw_addr: EthAddr([0, 0, 0, 0, 0, n as u8]),
            config: OFPPC_PORT_DOWN | OFPPC_NO_RECV,
            mask,
            advertise: 0,
        };
        let all = OFPPC_PORT_DOWN | OFPPC_NO_RECV;
        // The caller keeps the configuration (the pipeline does, in the daemon).
        let apply = |t: &mut PortTable, ports: &mut Vec<PortDesc>, pm: &PortMod| {
            let r = t.port_mod(ports, is_patch, pm, Millis(5));
            if let Ok((no, config)) = r
                && let Some(p) = ports.iter_mut().find(|p| p.port_no == no)
            {
                p.config = config;
            }
            r.map(|(_, c)| c)
        };
        assert_eq!(apply(&mut t, &mut ports, &down(2, all)), Ok(all));
        assert_eq!(apply(&mut t, &mut ports, &down(1, all)), Ok(OFPPC_NO_RECV));
        let d = t.describe(ports.clone(), Millis(9));
        assert_eq!((d[0].config, d[0].state), (OFPPC_NO_RECV, 0));
        assert_eq!((d[1].config, d[1].state), (all, OFPPS_LINK_DOWN));
        assert_eq!(t.get("gre").map(|e| e.since), Some(Millis(5)));
        // Only the masked bits change.
        let fwd = PortMod {
            config: 0,
            mask: OFPPC_NO_FWD | OFPPC_PORT_DOWN,
            ..down(2, 0)
        };
        assert_eq!(apply(&mut t, &mut ports, &fwd), Ok(OFPPC_NO_RECV));
        // Wrong address, unknown port.
        let mut bad = down(2, all);
        bad.hw_addr = EthAddr([9; 6]);
        assert_eq!(
            apply(&mut t, &mut ports, &bad),
            Err(OfpError::PortModBadHwAddr)
        );
        assert_eq!(
            apply(&mut t, &mut ports, &down(7, all)),
            Err(OfpError::PortModBadPort)
        );
        // The gre port leaves and comes back: a new duration.
        t.describe(vec![port(1, "patch-int")], Millis(10));
        t.describe(ports, Millis(11));
        assert_eq!(t.get("gre").map(|e| e.since), Some(Millis(11)));
    }
}
