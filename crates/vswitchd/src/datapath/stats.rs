//! Interface rows' status, written back as Open vSwitch writes it: `statistics` (`rx_packets`,
//! `rx_bytes`, `rx_dropped`, `rx_errors` and the `tx_` twins), `admin_state`, `link_state`,
//! `link_speed` and `duplex` (from the driver's link settings, [`speed_and_duplex`]), `mtu`
//! and `ifindex`, for every interface backed by a device and every tunnel interface
//! (its own share of the shared vport's traffic, counted by the slow path), every
//! `other_config:stats-update-interval` milliseconds of the `Open_vSwitch` row (5000 by
//! default, and no less, as in Open vSwitch).
//!
//! The values come from the datapath thread (one query per round, so the devices are read by
//! their owner); a row is written only when something in it changed, so an idle switch does
//! not write to its database every few seconds. `ifindex` is the kernel's for devices the
//! kernel has (0 for dummy devices, as Open vSwitch writes).
//!
//! `status` (a map Open vSwitch fills per interface type) is written as the empty map for
//! every interface written here and for patch interfaces, which is what Open vSwitch 3.1 writes
//! for dummy, internal, patch, gre and vxlan interfaces under `--enable-dummy=override` (it
//! has no driver to name and, without a route to the remote end, no `tunnel_egress_iface`).
//! Open vSwitch owns the column: a value some client writes there is replaced at its next
//! round, so a row whose `status` is not empty is rewritten even when nothing else changed.
//!
//! The same thread hands the datapath the row's `other_config:max-idle` and `flow-limit`
//! each round (and once at start). Every reconfiguration also hands them over, after the
//! datapath threads of `pmd-cpu-mask` and `pmd-rxq-affinity` ([`push_settings`]), before it
//! writes `cur_cfg`: so `ovs-vsctl set` returns once they apply, as with Open vSwitch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use fvs_netdev::{LinkSettings, LinkState, NetdevStats};
use fvs_ovsdb::{Atom, Datum};
use fvs_pipeline::clock::Millis;
use serde_json::{Value, json};
use uuid::Uuid;

use super::slow::TunnelCounters;
use crate::db::Db;
use crate::vlog::Level;
use crate::{DATABASE, Daemon};

/// Open vSwitch's default and smallest interval between two rounds.
pub const MIN_INTERVAL: Duration = Duration::from_millis(5000);

/// What one device reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    /// Counters.
    pub stats: NetdevStats,
    /// Carrier and administrative state.
    pub link: LinkState,
    /// Administratively up (`admin_state`).
    pub admin_up: bool,
    /// What the driver says of the link's speed and duplex (`ethtool`).
    pub settings: Option<LinkSettings>,
    /// MTU, when the device has one.
    pub mtu: Option<u32>,
    /// The kernel's interface index (0 for devices the kernel does not have).
    pub ifindex: u32,
}

/// The row values for one device, as a JSON `row` object.
fn row(d: &DeviceStatus) -> Value {
    let s = &d.stats;
    let stats: Vec<Value> = [
        ("rx_bytes", s.rx_bytes),
        ("rx_dropped", s.rx_dropped),
        ("rx_errors", s.rx_errors),
        ("rx_packets", s.rx_packets),
        ("tx_bytes", s.tx_bytes),
        ("tx_dropped", s.tx_dropped),
        ("tx_errors", s.tx_errors),
        ("tx_packets", s.tx_packets),
    ]
    .iter()
    .map(|(k, v)| json!([k, v]))
    .collect();
    let mtu = match d.mtu {
        Some(m) => json!(m),
        None => json!(["set", []]),
    };
    let (speed, duplex) = match d.settings.as_ref().and_then(speed_and_duplex) {
        Some((bps, full)) => (json!(bps), json!(if full { "full" } else { "half" })),
        None => (json!(["set", []]), json!(["set", []])),
    };
    json!({
        "statistics": ["map", stats],
        "link_speed": speed,
        "duplex": duplex,
        "admin_state": if d.admin_up { "up" } else { "down" },
        "link_state": d.link.as_str(),
        "mtu": mtu,
        "ifindex": d.ifindex,
        "status": ["map", []],
    })
}

/// `link_speed` (bits per second) and full duplex, as Open vSwitch reads them from a link's
/// settings: only the speeds OpenFlow has a feature bit for (10 Mb/s to 1 Tb/s; 10 Gb/s and
/// faster are full duplex whatever the driver says); any other speed, or none, leaves both
/// columns empty.
fn speed_and_duplex(s: &LinkSettings) -> Option<(u64, bool)> {
    let mbps = s.speed_mbps?;
    let full = match mbps {
        10 | 100 | 1000 => s.full_duplex == Some(true),
        10_000 | 40_000 | 100_000 | 1_000_000 => true,
        _ => return None,
    };
    Some((u64::from(mbps) * 1_000_000, full))
}

/// The row values for a tunnel interface: its own packets and bytes
/// ([`super::slow::TunnelCounters`]; the four counters Open vSwitch writes for one), up, and
/// no MTU or ifindex of its own.
fn tunnel_row(c: &super::slow::TunnelCounters) -> Value {
    let stats: Vec<Value> = [
        ("rx_bytes", c.rx_bytes),
        ("rx_packets", c.rx_packets),
        ("tx_bytes", c.tx_bytes),
        ("tx_packets", c.tx_packets),
    ]
    .iter()
    .map(|(k, v)| json!([k, v]))
    .collect();
    json!({
        "statistics": ["map", stats],
        "admin_state": "up",
        "link_state": "up",
        "mtu": ["set", []],
        "ifindex": 0,
        "status": ["map", []],
    })
}

/// The row values for a patch interface: its `status` only (see the module docs).
fn patch_row() -> Value {
    json!({"status": ["map", []]})
}

/// Whether the row's `status` holds something other than the empty map this module writes,
/// such as a value another client wrote, which Open vSwitch would replace.
fn foreign_status(database: &fvs_ovsdb::Database, uuid: Uuid) -> bool {
    database
        .row("Interface", uuid)
        .and_then(|r| r.columns.get("status"))
        .is_some_and(|d| !matches!(d, Datum::Map(m) if m.is_empty()))
}

/// A number in the `Open_vSwitch` row's `other_config`.
fn other_config(db: &Db, key: &str) -> Option<u64> {
    let state = db.lock();
    let rows = state.database(DATABASE)?.rows("Open_vSwitch")?;
    let (_, row) = rows.iter().next()?;
    match row.columns.get("other_config")? {
        Datum::Map(m) => m.iter().find_map(|(k, v)| match (k, v) {
            (Atom::String(k), Atom::String(v)) if k == key => v.parse::<u64>().ok(),
            _ => None,
        }),
        _ => None,
    }
}

/// `other_config:stats-update-interval`, at least [`MIN_INTERVAL`].
fn interval(db: &Db) -> Duration {
    other_config(db, "stats-update-interval").map_or(MIN_INTERVAL, |ms| {
        Duration::from_millis(ms).max(MIN_INTERVAL)
    })
}

/// Hands the datapath `other_config:max-idle` (ms, at least 500) and `flow-limit` (at least
/// 1), or their defaults when unset.
fn push_limits(db: &Db, dp: &crate::datapath::Handle) {
    let idle = other_config(db, "max-idle").map_or(super::slow::IDLE, |ms| Millis(ms.max(500)));
    let limit = other_config(db, "flow-limit")
        .and_then(|n| usize::try_from(n).ok())
        .map_or(super::slow::FLOW_LIMIT, |n| n.max(1));
    let _ = dp.query_all(move |f| {
        f.slow.max_idle = idle;
        f.slow.flow_limit = limit;
    });
}

/// Hands the datapath every setting of the database it follows: the threads and their ports
/// first ([`push_pmd`]), then each thread's limits, so threads a new mask started get them
/// too. Reconfiguration calls this, without the switch's lock (it waits for the threads).
pub fn push_settings(db: &Db, dp: &crate::datapath::Handle) {
    push_pmd(db, dp);
    push_limits(db, dp);
    push_busy_poll(db, dp);
    push_hw_offload(db, dp);
}

/// Turns kernel flow offload on or off from `other_config:hw-offload`
/// ([`super::offload`]): `true` turns it on, anything else (unset, `false`) off. Unlike
/// Open vSwitch, which needs a restart, a change applies at the next revalidation pass,
/// which installs or removes the filters.
fn push_hw_offload(db: &Db, dp: &crate::datapath::Handle) {
    let on = switch_setting(db, "hw-offload").is_some_and(|v| v == "true");
    if on != super::offload::enabled() {
        super::offload::set_enabled(on);
        dp.info(if on {
            "netdev: Flow API Enabled"
        } else {
            "netdev: Flow API Disabled"
        });
    }
}

/// Hands every datapath thread `other_config:pmd-busy-poll` ([`super::busy_poll`]); a value
/// that is not a number is logged and read as unset. The first thread logs the budget when
/// it first gets one and at each change, once for all threads (a new mask starts new
/// threads, whose first logs again).
fn push_busy_poll(db: &Db, dp: &crate::datapath::Handle) {
    let text = switch_setting(db, "pmd-busy-poll");
    let budget = super::busy_poll::BusyPoll::parse(text.as_deref()).unwrap_or_else(|e| {
        dp.warn(&e.to_string());
        super::busy_poll::DEFAULT
    });
    let _ = dp.query_all(move |f| {
        let old = f.spin.set_budget(budget);
        if f.id == 0 && old != Some(budget) {
            f.daemon.log(
                "dpif_netdev",
                Level::Info,
                &format!("PMD busy poll after traffic is {budget}."),
            );
        }
    });
}

/// Hands the datapath `other_config:pmd-cpu-mask` and the interfaces'
/// `other_config:pmd-rxq-affinity` ([`super::pmd`]); unusable values are logged and read as
/// unset.
fn push_pmd(db: &Db, dp: &crate::datapath::Handle) {
    let (mask, affinity) = {
        let state = db.lock();
        let Some(database) = state.database(DATABASE) else {
            return;
        };
        let mask = database
            .rows("Open_vSwitch")
            .and_then(|rows| {
                rows.iter()
                    .next()
                    .map(|(_, r)| string_in_map(r, "pmd-cpu-mask"))
            })
            .flatten();
        let affinity: Vec<(String, String)> = database
            .rows("Interface")
            .map(|rows| {
                rows.values()
                    .filter_map(|r| {
                        let name = match r.columns.get("name")?.as_scalar()? {
                            Atom::String(n) => n.clone(),
                            _ => return None,
                        };
                        Some((name, string_in_map(r, "pmd-rxq-affinity")?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        (mask, affinity)
    };
    // Test-only: `FVS_TEST_PMD_CPU_MASK` stands in for an unset `pmd-cpu-mask`, so any
    // test can run with several datapath threads.
    let mask = mask.or_else(|| std::env::var("FVS_TEST_PMD_CPU_MASK").ok());
    let log = |e: &dyn std::fmt::Display| dp.warn(&e.to_string());
    let cfg = super::pmd::PmdConfig::from_mask(mask.as_deref()).unwrap_or_else(|e| {
        log(&e);
        super::pmd::PmdConfig::default()
    });
    let mut cores = BTreeMap::new();
    for (name, text) in affinity {
        match super::pmd::rxq_affinity(&text) {
            Ok(Some(c)) => {
                cores.insert(name, c);
            }
            Ok(None) => {}
            Err(e) => log(&format!("{name}: {e}")),
        }
    }
    dp.set_pmd(cfg, cores);
}

/// The value of `key` in a row's `other_config`.
/// The Open_vSwitch row's `other_config:KEY`.
fn switch_setting(db: &Db, key: &str) -> Option<String> {
    let state = db.lock();
    let rows = state.database(DATABASE)?.rows("Open_vSwitch")?;
    rows.iter().next().and_then(|(_, r)| string_in_map(r, key))
}

fn string_in_map(row: &fvs_ovsdb::Row, key: &str) -> Option<String> {
    match row.columns.get("other_config")? {
        Datum::Map(m) => m.iter().find_map(|(k, v)| match (k, v) {
            (Atom::String(k), Atom::String(v)) if k == key => Some(v.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// Writes the interfaces' status back forever (see the module docs).
pub fn stats_loop(db: &Db, daemon: &Arc<Daemon>) {
    let client = db.connect();
    let mut written: BTreeMap<Uuid, Value> = BTreeMap::new();
    let mut txn = 0u64;
    loop {
        if let Some(dp) = daemon.datapath() {
            push_limits(db, dp);
        }
        sleep(interval(db));
        let Some(dp) = daemon.datapath() else {
            continue;
        };
        push_limits(db, dp);
        let Ok(devices) = dp.query(|f| {
            let nos: Vec<_> =
                f.dp.ports()
                    .map(|(n, name, _)| (n, name.to_owned()))
                    .collect();
            let mut out = BTreeMap::new();
            for (no, name) in nos {
                if let Some(d) = f.dp.netdev(no) {
                    let ifindex = if d.fd().is_some() {
                        fvs_netdev::poll::ifindex(&name)
                    } else {
                        0
                    };
                    out.insert(
                        name,
                        DeviceStatus {
                            stats: d.stats(),
                            link: d.link_state().unwrap_or(LinkState::Down),
                            admin_up: d.admin_up().unwrap_or(true),
                            settings: d.link_settings(),
                            mtu: d.mtu().ok(),
                            ifindex,
                        },
                    );
                }
            }
            out
        }) else {
            continue;
        };
        // The round's link settings refresh the port descriptions' features.
        for (name, d) in &devices {
            dp.refresh_link_settings(name, d.settings.as_ref());
        }
        // Each thread counts the tunnel traffic of its own megaflows.
        let Ok(per_thread) = dp.query_all(|f| f.slow.tunnels.clone()) else {
            continue;
        };
        let mut tunnels: HashMap<String, TunnelCounters> = HashMap::new();
        for (name, c) in per_thread.into_iter().flatten() {
            let t = tunnels.entry(name).or_default();
            t.rx_packets += c.rx_packets;
            t.rx_bytes += c.rx_bytes;
            t.tx_packets += c.tx_packets;
            t.tx_bytes += c.tx_bytes;
        }
        client.drain();
        let mut state = db.lock();
        let Some(database) = state.database(DATABASE) else {
            continue;
        };
        let cfg = crate::config::read(database);
        let mut ops = Vec::new();
        for iface in cfg
            .bridges
            .iter()
            .flat_map(|b| &b.ports)
            .flat_map(|p| &p.ifaces)
        {
            let r = if crate::tunnel_config::protocol(&iface.kind).is_some() {
                // A refused tunnel port has no statistics, as in Open vSwitch.
                if iface.error.is_some() {
                    continue;
                }
                tunnel_row(&tunnels.get(&iface.name).copied().unwrap_or_default())
            } else if iface.kind == "patch" {
                // A refused patch port is left alone, like a refused tunnel.
                if iface.error.is_some() {
                    continue;
                }
                patch_row()
            } else {
                let Some(d) = devices.get(&iface.name) else {
                    continue;
                };
                row(d)
            };
            if written.get(&iface.uuid) == Some(&r) && !foreign_status(database, iface.uuid) {
                continue;
            }
            ops.push(json!({
                "op": "update",
                "table": "Interface",
                "where": [["_uuid", "==", ["uuid", iface.uuid.to_string()]]],
                "row": r.clone(),
            }));
            written.insert(iface.uuid, r);
        }
        if ops.is_empty() {
            continue;
        }
        txn += 1;
        let mut params = vec![json!(DATABASE)];
        params.extend(ops);
        let request = json!({"id": format!("fvs-vswitchd-stats-{txn}"), "method": "transact", "params": params});
        if let Err(e) = state.handle(client.conn(), request) {
            daemon.log("dpif", Level::Warn, &format!("statistics write-back: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_open_vswitch_column_names_and_words() {
        let d = DeviceStatus {
            stats: NetdevStats {
                rx_packets: 3,
                tx_bytes: 42,
                ..NetdevStats::default()
            },
            link: LinkState::Up,
            admin_up: true,
            settings: Some(LinkSettings {
                speed_mbps: Some(10_000),
                full_duplex: None,
                ..LinkSettings::default()
            }),
            mtu: Some(1500),
            ifindex: 0,
        };
        let r = row(&d);
        assert_eq!(r["link_state"], "up");
        assert_eq!(r["admin_state"], "up");
        assert_eq!(r["mtu"], 1500);
        // As Open vSwitch showed a veth's (10000Mb/s in ethtool).
        assert_eq!(r["link_speed"], 10_000_000_000u64);
        assert_eq!(r["duplex"], "full");
        assert_eq!(r["status"], json!(["map", []]));
        assert_eq!(patch_row(), json!({"status": ["map", []]}));
        let text = r["statistics"].to_string();
        assert!(text.contains(r#"["rx_packets",3]"#) && text.contains(r#"["tx_bytes",42]"#));
    }
}
