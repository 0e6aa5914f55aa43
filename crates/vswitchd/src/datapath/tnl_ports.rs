//! `tnl/ports/show`: the datapath ports tunnel packets are received on, as Open vSwitch's
//! userspace datapath lists them.
//!
//! Tunnel interfaces of one protocol and UDP port share one datapath port (`gre_sys`,
//! `vxlan_sys_4789`, `genev_sys_6081`: [`super::ports`]); each is listed once, in datapath
//! port order (the order they were created in, as Open vSwitch lists them), with its
//! datapath port number and how many tunnel interfaces use it (`ref_cnt`). Under
//! `--enable-dummy` the list is empty, as Open vSwitch's dummy datapath, whose tunnels are
//! dummy devices, lists none.
//!
//! Not done: `-v`, the receive rules per local address (Open vSwitch lists one per address
//! of every device in classifier order); it is refused rather than answered with another
//! listing. Any other argument is ignored, as Open vSwitch ignores it.

use std::fmt::Write as _;

use super::ports::Device;
use crate::Daemon;
use crate::unixctl::Command;

/// The command, for [`crate::commands::table`].
pub fn commands() -> Vec<Command<Daemon>> {
    vec![Command {
        name: "tnl/ports/show",
        usage: "-v",
        min: 0,
        max: 1,
        handler: show,
    }]
}

fn show(d: &Daemon, args: &[String]) -> Result<String, String> {
    if args.first().is_some_and(|a| a.eq_ignore_ascii_case("-v")) {
        return Err("tnl/ports/show -v is not supported by ferrovs".to_owned());
    }
    let h = d
        .datapath()
        .ok_or_else(|| "the datapath is not running".to_owned())?;
    let mut out = String::from("Listening ports:\n");
    if h.enable_dummy() {
        return Ok(out);
    }
    let ifaces = h.iface_table();
    // The shared vport each tunnel interface uses, by its name.
    let users: Vec<String> = ifaces
        .iter()
        .filter_map(|(name, (kind, options))| {
            crate::tunnel_config::parse(name, kind, options)
                .ok()
                .map(|(t, _)| t.underlay().name())
        })
        .collect();
    for (no, (name, device)) in h.port_devices() {
        if !matches!(device, Device::Tunnel(_)) {
            continue;
        }
        let refs = users.iter().filter(|u| **u == name).count();
        let _ = writeln!(out, "{name} ({}) ref_cnt={refs}", no.0);
    }
    Ok(out)
}
