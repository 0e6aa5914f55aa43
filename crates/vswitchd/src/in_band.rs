//! Which controllers a bridge reaches in-band, as Open vSwitch decides it: every `tcp:` or
//! `ssl:` controller whose `connection_mode` is `in-band` or unset, unless the bridge's
//! `other_config:disable-in-band` is `true`. Their addresses (and the local port's MAC)
//! give the bridge's hidden in-band rules ([`fvs_pipeline::in_band`]).
//!
//! Left out, as the report of this work says: managers' (`Open_vSwitch` `manager_options`)
//! addresses, which Open vSwitch lets through too; host names (only IPv4 literals are
//! used; Open vSwitch resolves names); and the next-hop rules towards a controller on
//! another network.

use std::net::Ipv4Addr;

use fvs_pipeline::clock::Millis;
use fvs_pipeline::in_band::{InBandRule, rules};

use crate::config::BridgeCfg;

/// OpenFlow's registered TCP port, the default of `tcp:` and `ssl:` targets.
const DEFAULT_PORT: u16 = 6653;

/// The address of an active `tcp:IP[:PORT]` or `ssl:IP[:PORT]` target.
fn remote(target: &str) -> Option<(Ipv4Addr, u16)> {
    let rest = target
        .strip_prefix("tcp:")
        .or_else(|| target.strip_prefix("ssl:"))?;
    let (ip, port) = match rest.split_once(':') {
        Some((ip, port)) => (ip, port.parse().ok()?),
        None => (rest, DEFAULT_PORT),
    };
    Some((ip.parse().ok()?, port))
}

/// The in-band controllers' addresses of `bcfg`, in order, without repeats.
pub fn remotes(bcfg: &BridgeCfg) -> Vec<(Ipv4Addr, u16)> {
    if bcfg.other_config.get("disable-in-band").map(String::as_str) == Some("true") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in &bcfg.controllers {
        let in_band = c.connection_mode.as_deref().is_none_or(|m| m == "in-band");
        if let Some(r) = remote(&c.target).filter(|_| in_band)
            && !out.contains(&r)
        {
            out.push(r);
        }
    }
    out
}

/// The hidden in-band rules of `bcfg`, whose local port has address `local_mac`.
pub fn rules_for(bcfg: &BridgeCfg, local_mac: [u8; 6], now: Millis) -> Vec<InBandRule> {
    rules(local_mac, &remotes(bcfg), now)
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
