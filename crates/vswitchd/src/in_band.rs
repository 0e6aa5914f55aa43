//! Which remotes a bridge reaches in-band, as Open vSwitch decides it: every `tcp:` or
//! `ssl:` controller of the bridge, and every `tcp:`/`ssl:` manager (`Open_vSwitch`
//! `manager_options`, for every bridge), whose `connection_mode` is `in-band` or unset;
//! none when the bridge's `other_config:disable-in-band` is `true`. Their addresses (and
//! the local port's MAC) give the bridge's hidden in-band rules ([`fvs_pipeline::in_band`]).
//!
//! Left out: host names (only IPv4 literals are used; Open vSwitch resolves names), and the
//! next-hop rules towards a remote on another network.

use std::net::Ipv4Addr;

use fvs_pipeline::clock::Millis;
use fvs_pipeline::in_band::{InBandRule, rules};

use crate::config::BridgeCfg;

/// OpenFlow's registered TCP port, the default of controllers' `tcp:` and `ssl:` targets.
const DEFAULT_PORT: u16 = 6653;
/// OVSDB's registered TCP port, the default of managers' targets.
const OVSDB_PORT: u16 = 6640;

/// The address of an active `tcp:IP[:PORT]` or `ssl:IP[:PORT]` controller target.
fn remote(target: &str) -> Option<(Ipv4Addr, u16)> {
    remote_with(target, DEFAULT_PORT)
}

/// The address of an active target, `default` its port when none is given.
fn remote_with(target: &str, default: u16) -> Option<(Ipv4Addr, u16)> {
    let rest = target
        .strip_prefix("tcp:")
        .or_else(|| target.strip_prefix("ssl:"))?;
    let (ip, port) = match rest.split_once(':') {
        Some((ip, port)) => (ip, port.parse().ok()?),
        None => (rest, default),
    };
    Some((ip.parse().ok()?, port))
}

/// The in-band remotes of `bcfg` (its controllers, then the `managers` as (target,
/// `connection_mode`)), in order, without repeats.
pub fn remotes(bcfg: &BridgeCfg, managers: &[(String, Option<String>)]) -> Vec<(Ipv4Addr, u16)> {
    if bcfg.other_config.get("disable-in-band").map(String::as_str) == Some("true") {
        return Vec::new();
    }
    let in_band = |mode: Option<&str>| mode.is_none_or(|m| m == "in-band");
    let controllers = bcfg
        .controllers
        .iter()
        .filter(|c| in_band(c.connection_mode.as_deref()))
        .filter_map(|c| remote(&c.target));
    let managers = managers
        .iter()
        .filter(|(_, mode)| in_band(mode.as_deref()))
        .filter_map(|(t, _)| remote_with(t, OVSDB_PORT));
    let mut out = Vec::new();
    for r in controllers.chain(managers) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The hidden in-band rules of `bcfg`, whose local port has address `local_mac`, with the
/// `managers` (see [`remotes`]).
pub fn rules_for(
    bcfg: &BridgeCfg,
    managers: &[(String, Option<String>)],
    local_mac: [u8; 6],
    now: Millis,
) -> Vec<InBandRule> {
    rules(local_mac, &remotes(bcfg, managers), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_with_the_default_port() {
        assert_eq!(
            remote("tcp:192.0.2.1"),
            Some((Ipv4Addr::new(192, 0, 2, 1), 6653))
        );
        assert_eq!(
            remote("ssl:192.0.2.1:6633"),
            Some((Ipv4Addr::new(192, 0, 2, 1), 6633))
        );
        assert_eq!(remote("ptcp:6653"), None);
        assert_eq!(remote("unix:/x"), None);
        assert_eq!(remote("tcp:controller.example"), None);
    }
}
