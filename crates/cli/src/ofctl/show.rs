//! `show SWITCH`: the switch's features, its ports and its configuration, printed as
//! ovs-ofctl prints them.
//!
//! An OpenFlow 1.0 session needs two requests: a features request (the OpenFlow 1.0 features
//! reply lists the ports) and a get-config request. ovs-ofctl numbers them `0x2` and `0x4`
//! (the hello is `0x1`, and one id goes unprinted before the get-config request), and the
//! printed xids are the replies', so this module spends the same ids to print the same text.
//!
//! From OpenFlow 1.3 on the features reply lists no ports: they come from a port description
//! request (`0x3`), and the get-config request is then `0x5` (ovs-ofctl opens a second
//! connection for it, whose hello takes `0x4`).
//!
//! The port printer ([`format_port`]) is shared with `dump-ports-desc`: configuration, state
//! and feature bits are named per version (OpenFlow 1.1 renumbered the features and dropped
//! 1.0's STP and flood bits; 1.1 ports carry their speeds, 1.0's follow from the feature bits).
//!
//! A features reply of OpenFlow 1.0 to 1.2 lists the ports only while they fit: a switch
//! stops adding them when one more would pass the message's 64 KiB, so a reply with no room
//! for another port is taken as cut short, as ovs-ofctl takes it. Its ports are then not
//! printed, and a port description request (`0x3`) lists them in parts (each under its own
//! heading, [`super::multipart::Part`]), as from OpenFlow 1.3 on; the get-config request is
//! then `0x5`, as there.
//!
//! Other commands' requests go through [`reply_to`] too, which waits for the message
//! answering a request; multipart requests go through [`super::multipart`].

use super::conn::{Conn, Received};
use super::heading::{header_version, heading};
use super::multipart::{Multipart, Part};
use super::{CmdError, Options};
use fvs_openflow::PortNo;
use fvs_openflow::wire::port::{PortDescReply, PortMsg};
use fvs_openflow::wire::{Features, Message, PortDesc, SwitchConfig, Version};
use std::fmt::Write as _;

/// `OFPC_*` capability bits (OpenFlow 1.0) and their names, in bit order.
const CAPABILITIES: [(u32, &str); 8] = [
    (1 << 0, "FLOW_STATS"),
    (1 << 1, "TABLE_STATS"),
    (1 << 2, "PORT_STATS"),
    (1 << 3, "STP"),
    (1 << 4, "RESERVED"),
    (1 << 5, "IP_REASM"),
    (1 << 6, "QUEUE_STATS"),
    (1 << 7, "ARP_MATCH_IP"),
];

/// OpenFlow 1.0's action bitmap (`1 << OFPAT10_*`) in the order ovs-ofctl lists the actions:
/// its own action order, which puts `enqueue` (bit 11) right after `output`.
const ACTIONS: [(u32, &str); 12] = [
    (1 << 0, "output"),
    (1 << 11, "enqueue"),
    (1 << 1, "set_vlan_vid"),
    (1 << 2, "set_vlan_pcp"),
    (1 << 3, "strip_vlan"),
    (1 << 4, "mod_dl_src"),
    (1 << 5, "mod_dl_dst"),
    (1 << 6, "mod_nw_src"),
    (1 << 7, "mod_nw_dst"),
    (1 << 8, "mod_nw_tos"),
    (1 << 9, "mod_tp_src"),
    (1 << 10, "mod_tp_dst"),
];

/// `OFPPC_*` port configuration bits (OpenFlow 1.0).
const PORT_CONFIG: [(u32, &str); 7] = [
    (1 << 0, "PORT_DOWN"),
    (1 << 1, "NO_STP"),
    (1 << 2, "NO_RECV"),
    (1 << 3, "NO_RECV_STP"),
    (1 << 4, "NO_FLOOD"),
    (1 << 5, "NO_FWD"),
    (1 << 6, "NO_PACKET_IN"),
];

/// `OFPPS_LINK_DOWN`; the state's other bits (8 and 9) are the STP state.
const LINK_DOWN: u32 = 1;
/// `OFPPS_STP_MASK` and its non-zero states. `STP_LISTEN` is zero, which is also what a
/// switch without STP reports, so it is never printed (as ovs-ofctl does).
const STP_MASK: u32 = 3 << 8;
const STP_STATES: [(u32, &str); 3] = [
    (1 << 8, "STP_LEARN"),
    (2 << 8, "STP_FORWARD"),
    (3 << 8, "STP_BLOCK"),
];

/// `OFPPF_*` port feature bits (OpenFlow 1.0), with the link speed in Mb/s for the speed bits.
const PORT_FEATURES: [(u32, &str, u32); 12] = [
    (1 << 0, "10MB-HD", 10),
    (1 << 1, "10MB-FD", 10),
    (1 << 2, "100MB-HD", 100),
    (1 << 3, "100MB-FD", 100),
    (1 << 4, "1GB-HD", 1000),
    (1 << 5, "1GB-FD", 1000),
    (1 << 6, "10GB-FD", 10_000),
    (1 << 7, "COPPER", 0),
    (1 << 8, "FIBER", 0),
    (1 << 9, "AUTO_NEG", 0),
    (1 << 10, "AUTO_PAUSE", 0),
    (1 << 11, "AUTO_PAUSE_ASYM", 0),
];

/// Transaction ids ovs-ofctl spends, and prints none for, between the port listing and its
/// get-config request (module docs).
const CONFIG_XID_SKIP: u32 = 1;

/// The size of one port in a features reply: `ofp10_phy_port`, and `ofp11_port` of OpenFlow
/// 1.1 and 1.2.
const OF10_PORT_LEN: usize = 48;
const OF11_PORT_LEN: usize = 64;

/// Whether a features reply lists every port: OpenFlow 1.3 and later list none, earlier
/// versions as many as fit, so one with no room left for another port may be cut short
/// (module docs).
fn lists_every_port(reply: &Received) -> bool {
    let port_len = match header_version(&reply.header) {
        Version::Of10 => OF10_PORT_LEN,
        Version::Of11 | Version::Of12 => OF11_PORT_LEN,
        _ => return false,
    };
    reply.bytes.len() + port_len <= usize::from(u16::MAX)
}

/// `show SWITCH`.
pub(super) fn show(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    let v = conn.version();
    let features_xid = conn.send(&Message::FeaturesRequest)?;
    let reply = reply_to(&mut conn, features_xid)?;
    let Some(Message::FeaturesReply(features)) = &reply.message else {
        return Err(unexpected(&reply));
    };
    if lists_every_port(&reply) {
        format_features(features, v, reply.header.xid, out);
    } else {
        let without_ports = Features {
            ports: Vec::new(),
            ..features.clone()
        };
        format_features(&without_ports, v, reply.header.xid, out);
        for (part, ports) in port_descs(&mut conn)? {
            let _ = writeln!(out, "{}", part.heading("OFPST_PORT_DESC reply"));
            format_ports(&ports, v, out);
        }
    }
    for _ in 0..CONFIG_XID_SKIP {
        conn.alloc_xid();
    }
    let config_xid = conn.send(&Message::GetConfigRequest)?;
    let reply = reply_to(&mut conn, config_xid)?;
    let Some(Message::GetConfigReply(config)) = &reply.message else {
        return Err(unexpected(&reply));
    };
    format_config(*config, v, reply.header.xid, out);
    Ok(())
}

/// Asks for every port's description; each reply part and its ports.
pub(super) fn port_descs(conn: &mut Conn) -> Result<Vec<(Part, Vec<PortDesc>)>, CmdError> {
    port_descs_of(conn, PortNo::ANY)
}

/// [`port_descs`] for one port (OpenFlow 1.5; earlier versions' requests name none).
pub(super) fn port_descs_of(
    conn: &mut Conn,
    port: PortNo,
) -> Result<Vec<(Part, Vec<PortDesc>)>, CmdError> {
    let mut parts = Vec::new();
    for reply in Multipart::send(conn, &Message::Port(PortMsg::DescRequest(port)))? {
        let reply = reply?;
        let part = Part::of(&reply);
        match reply.message {
            Some(Message::Port(PortMsg::DescReply(PortDescReply { ports, .. }))) => {
                parts.push((part, ports));
            }
            _ => return Err(unexpected(&reply)),
        }
    }
    Ok(parts)
}

/// Prints ports as ovs-ofctl does: by port number, so LOCAL (the highest) comes last.
pub(super) fn format_ports(ports: &[PortDesc], v: Version, out: &mut String) {
    let mut ports: Vec<&PortDesc> = ports.iter().collect();
    ports.sort_by_key(|p| p.port_no);
    for p in ports {
        format_port(p, v, out);
    }
}

/// Reads until the message answering `xid` (asynchronous messages are not ours to print).
pub(super) fn reply_to(conn: &mut Conn, xid: u32) -> Result<Received, CmdError> {
    loop {
        let reply = conn.recv()?;
        if reply.header.xid == xid {
            return Ok(reply);
        }
    }
}

pub(super) fn unexpected(reply: &Received) -> CmdError {
    CmdError::Fatal(format!(
        "unexpected reply type {} (xid={:#x})",
        reply.header.msg_type, reply.header.xid
    ))
}

/// The names of the bits of `bits` found in `table`, space-separated; unknown bits as hex.
fn bit_names(bits: u32, table: &[(u32, &str)]) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut left = bits;
    for (bit, name) in table {
        if bits & bit != 0 {
            names.push((*name).to_string());
            left &= !bit;
        }
    }
    if left != 0 {
        names.push(format!("{left:#x}"));
    }
    names.join(" ")
}

pub(super) fn format_features(f: &Features, v: Version, xid: u32, out: &mut String) {
    let _ = writeln!(
        out,
        "{} dpid:{:016x}",
        heading("OFPT_FEATURES_REPLY", v, xid),
        f.datapath_id
    );
    let _ = writeln!(out, "n_tables:{}, n_buffers:{}", f.n_tables, f.n_buffers);
    if v >= Version::Of13 && f.auxiliary_id != 0 {
        let _ = writeln!(out, "auxiliary_id:{}", f.auxiliary_id);
    }
    let caps = match v {
        Version::Of10 => bit_names(f.capabilities, &CAPABILITIES),
        Version::Of11 => bit_names(f.capabilities, &OF11_ONLY_CAPABILITIES),
        _ => bit_names(f.capabilities, &OF11_CAPABILITIES),
    };
    let _ = writeln!(out, "capabilities: {caps}");
    if v == Version::Of10 {
        let _ = writeln!(out, "actions: {}", bit_names(f.actions, &ACTIONS));
    }
    format_ports(&f.ports, v, out);
}

/// `OFPC_*` capability bits of OpenFlow 1.1 and later, with Open vSwitch's name for 1.4's
/// bundle support.
const OF11_CAPABILITIES: [(u32, &str); 8] = [
    (1 << 0, "FLOW_STATS"),
    (1 << 1, "TABLE_STATS"),
    (1 << 2, "PORT_STATS"),
    (1 << 3, "GROUP_STATS"),
    (1 << 5, "IP_REASM"),
    (1 << 6, "QUEUE_STATS"),
    (1 << 8, "PORT_BLOCKED"),
    (1 << 9, "BUNDLES"),
];

/// OpenFlow 1.1's own capability bits: those of [`OF11_CAPABILITIES`] with 1.0's
/// `ARP_MATCH_IP`, which 1.2 gave up.
const OF11_ONLY_CAPABILITIES: [(u32, &str); 9] = [
    (1 << 0, "FLOW_STATS"),
    (1 << 1, "TABLE_STATS"),
    (1 << 2, "PORT_STATS"),
    (1 << 3, "GROUP_STATS"),
    (1 << 5, "IP_REASM"),
    (1 << 6, "QUEUE_STATS"),
    (1 << 7, "ARP_MATCH_IP"),
    (1 << 8, "PORT_BLOCKED"),
    (1 << 9, "BUNDLES"),
];

/// `OFPPC_*` port configuration bits of OpenFlow 1.1 and later.
const OF11_PORT_CONFIG: [(u32, &str); 4] = [
    (1 << 0, "PORT_DOWN"),
    (1 << 2, "NO_RECV"),
    (1 << 5, "NO_FWD"),
    (1 << 6, "NO_PACKET_IN"),
];

/// `OFPPS_*` port state bits of OpenFlow 1.1 and later.
const OF11_PORT_STATE: [(u32, &str); 3] =
    [(1 << 0, "LINK_DOWN"), (1 << 1, "BLOCKED"), (1 << 2, "LIVE")];

/// `OFPPF_*` port feature bits of OpenFlow 1.1 and later.
const OF11_PORT_FEATURES: [(u32, &str); 16] = [
    (1 << 0, "10MB-HD"),
    (1 << 1, "10MB-FD"),
    (1 << 2, "100MB-HD"),
    (1 << 3, "100MB-FD"),
    (1 << 4, "1GB-HD"),
    (1 << 5, "1GB-FD"),
    (1 << 6, "10GB-FD"),
    (1 << 7, "40GB-FD"),
    (1 << 8, "100GB-FD"),
    (1 << 9, "1TB-FD"),
    (1 << 10, "OTHER"),
    (1 << 11, "COPPER"),
    (1 << 12, "FIBER"),
    (1 << 13, "AUTO_NEG"),
    (1 << 14, "AUTO_PAUSE"),
    (1 << 15, "AUTO_PAUSE_ASYM"),
];

/// Prints one port's description in `v`'s terms: OpenFlow 1.0's bit names and STP states, or
/// those of 1.1 and later; 1.0 ports carry no speeds (they follow from the fastest speed
/// bit), later ones carry theirs in kb/s.
pub(super) fn format_port(p: &PortDesc, v: Version, out: &mut String) {
    let of10 = v == Version::Of10;
    let _ = writeln!(out, " {}({}): addr:{}", p.port_no, p.name, p.hw_addr);
    let (config, state) = if of10 {
        (bit_names(p.config, &PORT_CONFIG), port_state(p.state))
    } else {
        (
            bit_names(p.config, &OF11_PORT_CONFIG),
            bit_names(p.state, &OF11_PORT_STATE),
        )
    };
    let _ = writeln!(out, "     config:     {}", or_zero(config));
    let _ = writeln!(out, "     state:      {}", or_zero(state));
    let of10_features: Vec<(u32, &str)> = PORT_FEATURES.iter().map(|(b, n, _)| (*b, *n)).collect();
    let feature_names: &[(u32, &str)] = if of10 {
        &of10_features
    } else {
        &OF11_PORT_FEATURES
    };
    for (label, bits) in [
        ("current:   ", p.curr),
        ("advertised:", p.advertised),
        ("supported: ", p.supported),
        ("peer:      ", p.peer),
    ] {
        if bits != 0 {
            let _ = writeln!(out, "     {label} {}", bit_names(bits, feature_names));
        }
    }
    let (now, max) = if of10 {
        (speed_mbps(p.curr), speed_mbps(p.supported))
    } else {
        (p.curr_speed / 1000, p.max_speed / 1000)
    };
    let _ = writeln!(out, "     speed: {now} Mbps now, {max} Mbps max");
}

fn or_zero(s: String) -> String {
    if s.is_empty() { "0".to_string() } else { s }
}

fn port_state(state: u32) -> String {
    let mut names = Vec::new();
    if state & LINK_DOWN != 0 {
        names.push("LINK_DOWN".to_string());
    }
    if let Some((_, name)) = STP_STATES.iter().find(|(v, _)| state & STP_MASK == *v) {
        names.push((*name).to_string());
    }
    let unknown = state & !(LINK_DOWN | STP_MASK);
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    names.join(" ")
}

fn speed_mbps(features: u32) -> u32 {
    PORT_FEATURES
        .iter()
        .filter(|(bit, _, _)| features & bit != 0)
        .map(|(_, _, mbps)| *mbps)
        .max()
        .unwrap_or(0)
}

/// `OFPC_FRAG_*`: the low two bits of the switch configuration's flags.
pub(super) fn frag_name(flags: u16) -> &'static str {
    match flags & 3 {
        0 => "normal",
        1 => "drop",
        2 => "reassemble",
        _ => "nx-match",
    }
}

pub(super) fn format_config(c: SwitchConfig, v: Version, xid: u32, out: &mut String) {
    let _ = writeln!(
        out,
        "{} frags={} miss_send_len={}",
        heading("OFPT_GET_CONFIG_REPLY", v, xid),
        frag_name(c.flags),
        c.miss_send_len
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_words_name_known_bits_and_show_the_rest_in_hex() {
        assert_eq!(bit_names(0, &PORT_CONFIG), "");
        assert_eq!(bit_names(0x81, &PORT_CONFIG), "PORT_DOWN 0x80");
        assert_eq!(port_state(LINK_DOWN | (2 << 8)), "LINK_DOWN STP_FORWARD");
        // STP_LISTEN is zero: indistinguishable from "no STP", so not printed.
        assert_eq!(port_state(0), "");
        assert_eq!(speed_mbps((1 << 6) | (1 << 5) | (1 << 7)), 10_000);
    }
}
