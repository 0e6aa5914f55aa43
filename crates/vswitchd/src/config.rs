//! The database's `Open_vSwitch`, `Bridge`, `Port` and `Interface` rows read into plain
//! structs: the configuration the reconciler brings the switch in step with.
//!
//! Reading is total: a column of an unexpected shape reads as its default, because the schema
//! already constrains what a client could store, and a daemon must not stop on data it can
//! simply ignore.

use std::collections::BTreeMap;

use fvs_ovsdb::db::Row;
use fvs_ovsdb::{Atom, Database, Datum};
use uuid::Uuid;

/// An `Interface` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceCfg {
    /// Row UUID.
    pub uuid: Uuid,
    /// `name`.
    pub name: String,
    /// `type` (empty means `system`).
    pub kind: String,
    /// `options`.
    pub options: BTreeMap<String, String>,
    /// `ofport_request`.
    pub ofport_request: Option<i64>,
    /// `ofport` as last written back.
    pub ofport: Option<i64>,
    /// `mac_in_use` as last written back.
    pub mac_in_use: Option<String>,
    /// `error` as last written back.
    pub error: Option<String>,
}

/// A `Port` row and its interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCfg {
    /// `name`.
    pub name: String,
    /// `tag`.
    pub tag: Option<i64>,
    /// `trunks`.
    pub trunks: Vec<i64>,
    /// `vlan_mode`.
    pub vlan_mode: Option<String>,
    /// `interfaces`, by name.
    pub ifaces: Vec<IfaceCfg>,
}

/// A `Bridge` row and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeCfg {
    /// Row UUID.
    pub uuid: Uuid,
    /// `name`.
    pub name: String,
    /// `fail_mode`.
    pub fail_mode: Option<String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
    /// `datapath_id` as last written back.
    pub datapath_id: Option<String>,
    /// `protocols`: the OpenFlow versions controllers may use (empty: Open vSwitch's default).
    pub protocols: Vec<String>,
    /// `ports`, by name.
    pub ports: Vec<PortCfg>,
    /// `controller`, by target.
    pub controllers: Vec<ControllerCfg>,
}

/// A `Controller` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerCfg {
    /// Row UUID.
    pub uuid: Uuid,
    /// `target`: `tcp:`, `unix:`, `ptcp:`, `punix:` (others are refused with an error).
    pub target: String,
    /// `type`: `primary` (the default) or `service`.
    pub kind: Option<String>,
    /// `max_backoff` in milliseconds.
    pub max_backoff: Option<i64>,
    /// `inactivity_probe` in milliseconds (0 disables probing).
    pub inactivity_probe: Option<i64>,
    /// `connection_mode`.
    pub connection_mode: Option<String>,
    /// `enable_async_messages` (unset means enabled).
    pub enable_async_messages: Option<bool>,
    /// `controller_rate_limit`: packet-ins per second (unset: no limit).
    pub rate_limit: Option<i64>,
    /// `controller_burst_limit`.
    pub burst_limit: Option<i64>,
    /// `controller_queue_size`.
    pub queue_size: Option<i64>,
    /// `is_connected` as last written back.
    pub is_connected: bool,
    /// `role` as last written back.
    pub role: Option<String>,
    /// `status` as last written back.
    pub status: BTreeMap<String, String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The `Open_vSwitch` row, when there is one.
    pub root: Option<Uuid>,
    /// `next_cfg`.
    pub next_cfg: i64,
    /// `cur_cfg`.
    pub cur_cfg: i64,
    /// `ovs_version`.
    pub ovs_version: Option<String>,
    /// The bridges the root row names, by name.
    pub bridges: Vec<BridgeCfg>,
    /// The `Manager` rows `manager_options` names, as (`target`, `connection_mode`), for
    /// in-band control ([`crate::in_band`]).
    pub managers: Vec<(String, Option<String>)>,
}

fn string(row: &Row, col: &str) -> Option<String> {
    match row.columns.get(col)?.as_scalar()? {
        Atom::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn integer(row: &Row, col: &str) -> Option<i64> {
    match row.columns.get(col)?.as_scalar()? {
        Atom::Integer(i) => Some(*i),
        _ => None,
    }
}

fn integers(row: &Row, col: &str) -> Vec<i64> {
    match row.columns.get(col) {
        Some(Datum::Set(s)) => s
            .iter()
            .filter_map(|a| match a {
                Atom::Integer(i) => Some(*i),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(row: &Row, col: &str) -> Vec<String> {
    match row.columns.get(col) {
        Some(Datum::Set(s)) => s
            .iter()
            .filter_map(|a| match a {
                Atom::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn uuids(row: &Row, col: &str) -> Vec<Uuid> {
    match row.columns.get(col) {
        Some(Datum::Set(s)) => s.iter().filter_map(Atom::as_uuid).collect(),
        _ => Vec::new(),
    }
}

fn string_map(row: &Row, col: &str) -> BTreeMap<String, String> {
    match row.columns.get(col) {
        Some(Datum::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (Atom::String(k), Atom::String(v)) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Reads the configuration from the `Open_vSwitch` database.
pub fn read(db: &Database) -> Config {
    let Some((root, row)) = db.rows("Open_vSwitch").and_then(|r| r.iter().next()) else {
        return Config::default();
    };
    let mut bridges: Vec<BridgeCfg> = uuids(row, "bridges")
        .into_iter()
        .filter_map(|u| db.row("Bridge", u).map(|r| read_bridge(db, u, r)))
        .collect();
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    let mut managers: Vec<(String, Option<String>)> = uuids(row, "manager_options")
        .into_iter()
        .filter_map(|u| db.row("Manager", u))
        .map(|r| {
            (
                string(r, "target").unwrap_or_default(),
                string(r, "connection_mode"),
            )
        })
        .collect();
    managers.sort();
    Config {
        root: Some(*root),
        next_cfg: integer(row, "next_cfg").unwrap_or(0),
        cur_cfg: integer(row, "cur_cfg").unwrap_or(0),
        ovs_version: string(row, "ovs_version"),
        bridges,
        managers,
    }
}

fn read_bridge(db: &Database, uuid: Uuid, row: &Row) -> BridgeCfg {
    let mut ports: Vec<PortCfg> = uuids(row, "ports")
        .into_iter()
        .filter_map(|u| db.row("Port", u).map(|r| read_port(db, r)))
        .collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    BridgeCfg {
        uuid,
        name: string(row, "name").unwrap_or_default(),
        fail_mode: string(row, "fail_mode"),
        other_config: string_map(row, "other_config"),
        datapath_id: string(row, "datapath_id"),
        protocols: strings(row, "protocols"),
        ports,
        controllers: read_controllers(db, row),
    }
}

fn read_controllers(db: &Database, bridge: &Row) -> Vec<ControllerCfg> {
    let boolean = |r: &Row, col: &str| match r.columns.get(col)?.as_scalar()? {
        Atom::Boolean(b) => Some(*b),
        _ => None,
    };
    let mut out: Vec<ControllerCfg> = uuids(bridge, "controller")
        .into_iter()
        .filter_map(|u| {
            db.row("Controller", u).map(|r| ControllerCfg {
                uuid: u,
                target: string(r, "target").unwrap_or_default(),
                kind: string(r, "type"),
                max_backoff: integer(r, "max_backoff"),
                inactivity_probe: integer(r, "inactivity_probe"),
                connection_mode: string(r, "connection_mode"),
                enable_async_messages: boolean(r, "enable_async_messages"),
                rate_limit: integer(r, "controller_rate_limit"),
                burst_limit: integer(r, "controller_burst_limit"),
                queue_size: integer(r, "controller_queue_size"),
                is_connected: boolean(r, "is_connected").unwrap_or(false),
                role: string(r, "role"),
                status: string_map(r, "status"),
            })
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

fn read_port(db: &Database, row: &Row) -> PortCfg {
    let mut ifaces: Vec<IfaceCfg> = uuids(row, "interfaces")
        .into_iter()
        .filter_map(|u| {
            db.row("Interface", u).map(|r| IfaceCfg {
                uuid: u,
                name: string(r, "name").unwrap_or_default(),
                kind: string(r, "type").unwrap_or_default(),
                options: string_map(r, "options"),
                ofport_request: integer(r, "ofport_request"),
                ofport: integer(r, "ofport"),
                mac_in_use: string(r, "mac_in_use"),
                error: string(r, "error"),
            })
        })
        .collect();
    ifaces.sort_by(|a, b| a.name.cmp(&b.name));
    PortCfg {
        name: string(row, "name").unwrap_or_default(),
        tag: integer(row, "tag"),
        trunks: integers(row, "trunks"),
        vlan_mode: string(row, "vlan_mode"),
        ifaces,
    }
}
