//! What the switch answers to statistics and description requests: flow, aggregate and
//! description statistics from a pipeline bridge's rules; port descriptions, port-mods and
//! port/queue statistics ([`answer_port`]); table statistics, table features and meter/group
//! features ([`answer_table`]).
//!
//! Selection follows OpenFlow's loose matching, as `ovs-ofctl dump-flows <match>` expects: a
//! rule is reported when the request's match covers it (every field the request matches, the
//! rule matches at least as precisely and with the same value), its table is the one asked
//! for (or all), its cookie agrees under the mask and, when `out_port` is given, it outputs
//! there. Times come from the caller's `now`: duration from the rule's creation, `idle_age`
//! from its last hit, `hard_age` from its last add or modify.

use fvs_flow::Field;
use fvs_netdev::NetdevStats;
use fvs_openflow::PortNo;
use fvs_openflow::wire::port::{
    Duration, OF11_CONFIG_BITS, OFPPS_LINK_DOWN, OFPPS_LIVE, PortMsg, PortStats, QueueStatsReply,
};
use fvs_openflow::wire::table::{
    FieldHeader, GroupFeatures, TableBitmaps, TableFeatures, TableMsg, TableProps, TableStats,
};
use fvs_openflow::wire::{
    self, AggregateStats, DescStats, FlowStats, FlowStatsRequest, Message, OfpError, PortDesc,
    Version,
};
use fvs_pipeline::bridge::Bridge;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::rule::Rule;

use super::Ofproto;

/// The flows of `bridge` that `req` selects, with their statistics at `now`, in the
/// bridge's order (tables ascending, higher priorities first).
pub fn flow_stats(bridge: &Bridge, req: &FlowStatsRequest, now: Millis) -> Vec<FlowStats> {
    bridge
        .rules()
        .into_iter()
        .filter(|(t, r)| selected(req, *t, r))
        .map(|(t, r)| entry(t, r, now))
        .collect()
}

/// The totals over the flows `req` selects.
pub fn aggregate(bridge: &Bridge, req: &FlowStatsRequest) -> AggregateStats {
    bridge
        .rules()
        .into_iter()
        .filter(|(t, r)| selected(req, *t, r))
        .fold(AggregateStats::default(), |mut a, (_, r)| {
            a.packet_count = a.packet_count.wrapping_add(r.stats.packets);
            a.byte_count = a.byte_count.wrapping_add(r.stats.bytes);
            a.flow_count = a.flow_count.saturating_add(1);
            a
        })
}

/// The switch's description. Open vSwitch reports "None" for a bridge without
/// `other_config:dp-desc` and for the serial number; ferrovs does the same.
pub fn desc() -> DescStats {
    DescStats {
        mfr_desc: "The ferrovs developers".into(),
        hw_desc: "ferrovs".into(),
        sw_desc: env!("CARGO_PKG_VERSION").into(),
        serial_num: "None".into(),
        dp_desc: "None".into(),
    }
}

fn selected(req: &FlowStatsRequest, table: u8, r: &Rule) -> bool {
    let m = &req.r#match;
    let by_table = req.table.is_none_or(|t| t.0 == table);
    let by_match = m.mask.is_subset_of(&r.r#match.mask) && r.r#match.key.and(&m.mask) == m.key;
    let by_cookie = (r.cookie.0 ^ req.cookie.0) & req.cookie_mask.0 == 0;
    let by_port = req.out_port == PortNo::ANY || r.outputs_to(req.out_port);
    let by_packet_type = match req.packet_type {
        None => true,
        // Ethernet: every ferrovs packet is one, but a rule matches the packet type only when
        // it says something of the frame, as in Open vSwitch.
        Some(PACKET_TYPE_ETHERNET) => constrains_frame(&r.r#match),
        Some(_) => false,
    };
    by_table && by_match && by_cookie && by_port && by_packet_type
}

/// `packet_type` for Ethernet: namespace 0, type 0.
const PACKET_TYPE_ETHERNET: u32 = 0;

/// True when `m` matches a field of the Ethernet frame (its headers or anything inside),
/// rather than only the packet's metadata (input port, tunnel, registers, connection
/// tracking, ...).
fn constrains_frame(m: &fvs_flow::Match) -> bool {
    Field::all()
        .filter(|f| !is_metadata(*f))
        .any(|f| m.get(f).1 != 0)
}

fn is_metadata(f: Field) -> bool {
    let name = f.name();
    ["tun_", "ct_", "reg", "xreg", "xxreg"]
        .iter()
        .any(|p| name.starts_with(p))
        || [
            "metadata",
            "in_port",
            "in_port_oxm",
            "pkt_mark",
            "conj_id",
            "recirc_id",
        ]
        .contains(&name)
}

fn entry(table: u8, r: &Rule, now: Millis) -> FlowStats {
    let s = &r.stats;
    let dur = now.since(s.created);
    let secs = |earlier: Millis| u16::try_from(now.secs_since(earlier)).unwrap_or(u16::MAX - 1);
    FlowStats {
        table: fvs_openflow::TableId(table),
        duration_sec: u32::try_from(dur / 1000).unwrap_or(u32::MAX),
        // Below 1000 ms, so below a billion nanoseconds.
        duration_nsec: (dur % 1000) as u32 * 1_000_000,
        priority: r.priority,
        idle_timeout: r.idle_timeout,
        hard_timeout: r.hard_timeout,
        importance: 0,
        flags: r.flags,
        cookie: r.cookie,
        packet_count: s.packets,
        byte_count: s.bytes,
        idle_age: Some(secs(s.used)),
        hard_age: Some(secs(s.modified)),
        r#match: r.r#match,
        actions: r.actions.clone(),
    }
}

/// How many tables a bridge has (0 to 253; Open vSwitch's hidden table 254 is not counted).
pub const N_TABLES: u8 = 254;
/// What each table can hold, as Open vSwitch reports it.
const MAX_ENTRIES: u32 = 1_000_000;
/// OpenFlow 1.0's `OFPFW10_ALL`: every field of its fixed match can be wildcarded.
const OF10_WILDCARDS: u32 = 0x003f_ffff;

/// The answers to the port messages: the reply messages, or the error to send.
///
/// Port descriptions and statistics list the ports in port-number order.
pub fn answer_port(
    ofproto: &mut dyn Ofproto,
    msg: &PortMsg,
    version: Version,
    xid: u32,
    now: Millis,
) -> Result<Vec<Vec<u8>>, OfpError> {
    let protocol = version.default_protocol();
    let encoded = |r: Result<Vec<Vec<u8>>, _>| r.map_err(|_| OfpError::BadStat);
    match msg {
        PortMsg::DescRequest(port) => {
            let ports: Vec<PortDesc> = sorted(ofproto.ports(now))
                .into_iter()
                .filter(|p| *port == PortNo::ANY || p.port_no == *port)
                .map(|p| for_version(p, version))
                .collect();
            encoded(wire::port::encode_port_desc_reply(&ports, protocol, xid))
        }
        PortMsg::Mod(pm) => ofproto.port_mod(pm, now).map(|()| Vec::new()),
        PortMsg::StatsRequest(port) => {
            let mut stats: Vec<PortStats> = ofproto
                .port_stats(now)
                .into_iter()
                .filter(|s| *port == PortNo::ANY || s.port_no == *port)
                .collect();
            stats.sort_by_key(|s| s.port_no);
            if version < Version::Of13 {
                for s in &mut stats {
                    s.duration = None;
                }
            }
            encoded(wire::port::encode_port_stats_reply(&stats, protocol, xid))
        }
        // No queues are configured on any port.
        PortMsg::QueueStatsRequest(_) => {
            let reply = Message::Port(PortMsg::QueueStatsReply(QueueStatsReply::default()));
            wire::encode(&reply, protocol, xid)
                .map(|b| vec![b])
                .map_err(|_| OfpError::BadStat)
        }
        // Replies a switch never expects from its controller.
        PortMsg::DescReply(_) | PortMsg::StatsReply(_) | PortMsg::QueueStatsReply(_) => {
            Err(OfpError::BadType)
        }
    }
}

fn sorted(mut ports: Vec<PortDesc>) -> Vec<PortDesc> {
    ports.sort_by_key(|p| p.port_no);
    ports
}

/// A port description as `version` has it: OpenFlow 1.1 added `OFPPS_LIVE` (a port that is
/// up) and dropped 1.0's STP and flood configuration bits; 1.0 has its own feature bit
/// layout and no speeds ([`features_for_version`]).
pub fn for_version(mut p: PortDesc, version: Version) -> PortDesc {
    if version >= Version::Of11 {
        p.config &= OF11_CONFIG_BITS;
        if p.state & OFPPS_LINK_DOWN == 0 {
            p.state |= OFPPS_LIVE;
        }
    }
    features_for_version(p, version)
}

/// A port description's features, kept in OpenFlow 1.1+'s layout, as `version` has them:
/// moved to 1.0's bits for OpenFlow 1.0, whose port has no speed fields.
pub fn features_for_version(mut p: PortDesc, version: Version) -> PortDesc {
    use fvs_openflow::wire::port::features_to_of10;
    if version == Version::Of10 {
        for f in [
            &mut p.curr,
            &mut p.advertised,
            &mut p.supported,
            &mut p.peer,
        ] {
            *f = features_to_of10(*f);
        }
        (p.curr_speed, p.max_speed) = (0, 0);
    }
    p
}

/// The answers to the table messages: the reply messages, or the error to send.
pub fn answer_table(
    bridge: Option<&Bridge>,
    msg: &TableMsg,
    version: Version,
    xid: u32,
) -> Result<Vec<Vec<u8>>, OfpError> {
    let protocol = version.default_protocol();
    match msg {
        TableMsg::StatsRequest => {
            wire::table::encode_table_stats_reply(&table_stats(bridge, version), protocol, xid)
                .map_err(|_| OfpError::BadStat)
        }
        // A request that lists tables would reconfigure them; ferrovs's tables are fixed.
        TableMsg::FeaturesRequest(tables) if !tables.is_empty() => Err(OfpError::Eperm),
        TableMsg::FeaturesRequest(_) => {
            wire::table::encode_table_features_reply(&table_features(version), protocol, xid)
                .map_err(|_| OfpError::BadStat)
        }
        TableMsg::MeterFeaturesRequest => {
            let reply = Message::Table(TableMsg::MeterFeaturesReply(fvs_pipeline::meter::FEATURES));
            wire::encode(&reply, protocol, xid)
                .map(|b| vec![b])
                .map_err(|_| OfpError::BadStat)
        }
        TableMsg::GroupFeaturesRequest => {
            let reply = Message::Table(TableMsg::GroupFeaturesReply(group_features(version)));
            wire::encode(&reply, protocol, xid)
                .map(|b| vec![b])
                .map_err(|_| OfpError::BadStat)
        }
        TableMsg::StatsReply(_)
        | TableMsg::FeaturesReply(_)
        | TableMsg::MeterFeaturesReply(_)
        | TableMsg::GroupFeaturesReply(_) => Err(OfpError::BadType),
    }
}

/// What the group table offers, as Open vSwitch 3.1 reports it: all four types, weighted and
/// liveness-based selection and chaining (`OFPGFC_*` 0x7), up to `OFPG_MAX` groups of each,
/// and in every type the actions Open vSwitch lists, as `1 << OFPAT_*` bits of the version's
/// own numbering (OpenFlow 1.0 and 1.1 ask with Nicira's `NXST_GROUP_FEATURES`).
fn group_features(version: Version) -> GroupFeatures {
    const TYPES: u32 = 0xf;
    const CAPABILITIES: u32 = 0x7;
    let actions = match version {
        // OFPAT10 0 to 11: output to enqueue.
        Version::Of10 => 0x0000_0fff,
        // OFPAT11 0 to 10, 13 to 24 (the field rewrites, TTLs, push/pop, queue, group).
        Version::Of11 => 0x01ff_e7ff,
        // OFPAT12/13 output (0) and 15 to 25.
        _ => 1 | (0x7ff << 15),
    };
    GroupFeatures {
        types: TYPES,
        capabilities: CAPABILITIES,
        max_groups: [fvs_openflow::GroupId::MAX.0; 4],
        actions: [actions; 4],
    }
}

/// Every table's statistics, with the abilities OpenFlow 1.1 and 1.2 describe in them
/// ([`table_bitmaps`]).
pub fn table_stats(bridge: Option<&Bridge>, version: Version) -> Vec<TableStats> {
    let mut active = [0u32; N_TABLES as usize];
    if let Some(b) = bridge {
        for (t, _) in b.rules() {
            if let Some(n) = active.get_mut(usize::from(t)) {
                *n += 1;
            }
        }
    }
    (0..N_TABLES)
        .map(|t| {
            let (lookup_count, matched_count) = bridge.map_or((0, 0), |b| b.table_counts(t));
            TableStats {
                table_id: t,
                name: String::new(),
                wildcards: if version == Version::Of10 {
                    OF10_WILDCARDS
                } else {
                    0
                },
                max_entries: if version == Version::Of10 {
                    MAX_ENTRIES
                } else {
                    0
                },
                active_count: active[usize::from(t)],
                lookup_count,
                matched_count,
                bitmaps: table_bitmaps(t, version),
            }
        })
        .collect()
}

/// OpenFlow 1.1's `OFPFMF11_*` fields a table matches and wildcards: all of them but
/// `OFPFMF11_TYPE` (1 << 10), as Open vSwitch announces.
const OF11_FIELDS: u64 = 0xfbff;
/// OpenFlow 1.1's actions, `1 << OFPAT11_*`: all but copy_ttl_out and copy_ttl_in (11, 12).
const OF11_ACTIONS: u32 = 0x01ff_e7ff;
/// OpenFlow 1.2's OXM fields a table matches and wildcards, `1 << OXM_OF_*`, as Open vSwitch
/// 3.1 announces them: every field of 1.2 but in_phy_port (1), with mpls_bos (36) and
/// packet_type (44) of later versions.
const OF12_FIELDS: u64 = 0x0000_101f_ffff_fffd;
/// OpenFlow 1.2's OXM fields a set-field may write: those of [`OF12_FIELDS`] but the ones
/// that describe the packet's structure (eth_type 5, ip_proto 10, mpls_bos 36, packet_type
/// 44).
const OF12_SETFIELDS: u64 = 0x0000_000f_ffff_fbdd;
/// OpenFlow 1.2's actions, `1 << OFPAT_*`: output, the MPLS, VLAN and TTL actions,
/// set_queue, group and set_field (0 and 15 to 25).
const OF12_ACTIONS: u32 = 0x03ff_8001;

/// A table's abilities in OpenFlow 1.1 or 1.2 terms (zero in other versions): every table can
/// do everything, and every table but the last can `goto_table`.
fn table_bitmaps(t: u8, version: Version) -> TableBitmaps {
    let instructions = INSTRUCTIONS
        .into_iter()
        .filter(|i| *i != METER && (*i != GOTO_TABLE || t + 1 < N_TABLES))
        .fold(0u32, |acc, i| acc | 1 << i);
    match version {
        Version::Of11 => TableBitmaps {
            match_fields: OF11_FIELDS,
            wildcards: OF11_FIELDS,
            write_actions: OF11_ACTIONS,
            apply_actions: OF11_ACTIONS,
            instructions,
            max_entries: MAX_ENTRIES,
            ..TableBitmaps::default()
        },
        Version::Of12 => TableBitmaps {
            match_fields: OF12_FIELDS,
            wildcards: OF12_FIELDS,
            write_actions: OF12_ACTIONS,
            apply_actions: OF12_ACTIONS,
            write_setfields: OF12_SETFIELDS,
            apply_setfields: OF12_SETFIELDS,
            metadata_match: u64::MAX,
            metadata_write: u64::MAX,
            instructions,
            max_entries: MAX_ENTRIES,
            ..TableBitmaps::default()
        },
        _ => TableBitmaps::default(),
    }
}

/// `OFPIT_*`: goto_table, write_metadata, write_actions, apply_actions, clear_actions, meter.
const INSTRUCTIONS: [u16; 6] = [1, 2, 3, 4, 5, 6];
/// `OFPIT_GOTO_TABLE`.
const GOTO_TABLE: u16 = 1;
/// `OFPIT_METER` (OpenFlow 1.3 and 1.4; 1.5 made metering an action).
const METER: u16 = 6;
/// `OFPAT_*` the pipeline's action model covers: output, set_mpls_ttl, dec_mpls_ttl,
/// push_vlan, pop_vlan, push_mpls, pop_mpls, set_queue, group, set_nw_ttl, dec_nw_ttl,
/// set_field.
const ACTIONS: [u16; 12] = [0, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];

/// A field's header for table features: its OXM header when it has one, else its NXM one.
fn header(f: Field, masked: bool) -> Option<FieldHeader> {
    let info = f.info();
    let h = info.oxm.or(info.nxm)?;
    // An experimenter header's length counts its 4-byte experimenter id.
    let id_len = if h.experimenter.is_some() { 4 } else { 0 };
    let len = u32::from(h.bytes) * if masked { 2 } else { 1 } + id_len;
    Some(FieldHeader {
        header: u32::from(h.class) << 16 | u32::from(h.field) << 9 | u32::from(masked) << 8 | len,
        experimenter: h.experimenter,
    })
}

/// Every table's features, honestly: the fields of ferrovs's registry (all matchable and
/// wildcardable, maskable ones with any mask), the instructions and actions the pipeline
/// models, and `goto_table` to any later table.
pub fn table_features(version: Version) -> Vec<TableFeatures> {
    let fields: Vec<Field> = Field::all()
        .filter(|f| f.info().oxm.or(f.info().nxm).is_some())
        .collect();
    let match_fields: Vec<FieldHeader> = fields
        .iter()
        .filter_map(|f| header(*f, f.info().maskable))
        .collect();
    let wildcards: Vec<FieldHeader> = fields.iter().filter_map(|f| header(*f, false)).collect();
    let setfield: Vec<FieldHeader> = fields
        .iter()
        .filter(|f| !fvs_openflow::text::is_read_only(**f))
        .filter_map(|f| header(*f, false))
        .collect();
    (0..N_TABLES)
        .map(|t| {
            let instructions = INSTRUCTIONS
                .into_iter()
                .filter(|i| *i != GOTO_TABLE || t + 1 < N_TABLES)
                .filter(|i| *i != METER || version < Version::Of15)
                .collect();
            TableFeatures {
                table_id: t,
                name: String::new(),
                metadata_match: u64::MAX,
                metadata_write: u64::MAX,
                capabilities: 0,
                max_entries: MAX_ENTRIES,
                props: TableProps {
                    instructions,
                    next_tables: ((t + 1)..N_TABLES).collect(),
                    write_actions: ACTIONS.to_vec(),
                    apply_actions: ACTIONS.to_vec(),
                    write_setfield: setfield.clone(),
                    apply_setfield: setfield.clone(),
                    match_fields: match_fields.clone(),
                    wildcards: wildcards.clone(),
                },
                miss: None,
            }
        })
        .collect()
}

/// A port's statistics: its device's counters (`device`, `None` for a port without a device,
/// such as a patch port, or when the datapath could not be asked) and the time since OpenFlow
/// first saw it (`since`). The error breakdown (frame, overrun, CRC, collisions) is kept by
/// no ferrovs device and stays unknown, as for Open vSwitch's dummy and tap devices.
pub fn port_counters(
    port: &PortDesc,
    since: Millis,
    now: Millis,
    device: Option<&NetdevStats>,
) -> PortStats {
    let ms = now.since(since);
    let mut stats = PortStats {
        duration: Some(Duration {
            sec: u32::try_from(ms / 1000).unwrap_or(u32::MAX),
            // Below 1000 ms, so below a billion nanoseconds.
            nsec: (ms % 1000) as u32 * 1_000_000,
        }),
        ..PortStats::zeroed(port.port_no)
    };
    if let Some(d) = device {
        stats.rx_packets = d.rx_packets;
        stats.tx_packets = d.tx_packets;
        stats.rx_bytes = d.rx_bytes;
        stats.tx_bytes = d.tx_bytes;
    }
    stats
}

/// OpenFlow 1.0's `OFPT_STATS_REQUEST`, 1.1 and later's `OFPT_MULTIPART_REQUEST`, and the
/// port statistics type both carry at offset 8.
const OF10_STATS_REQUEST: u8 = 16;
const MULTIPART_REQUEST: u8 = 18;
const PORT_STATS: u16 = 4;

/// Whether the complete messages in `pending` (what a channel holds of a message not yet
/// complete) followed by `bytes` (just read) include a port statistics request. The caller
/// reads the devices' counters before taking the switch's lock only then: the datapath thread
/// answers that query, and it may itself be waiting for the switch's lock.
pub fn asks_for_port_stats(pending: &[u8], bytes: &[u8]) -> bool {
    let joined;
    let all = if pending.is_empty() {
        bytes
    } else {
        joined = [pending, bytes].concat();
        &joined
    };
    let mut rest = all;
    while let Some(len) = wire::message_len(rest) {
        if len < wire::HEADER_LEN || rest.len() < len {
            break;
        }
        let msg = &rest[..len];
        let request = match msg[0] {
            1 => OF10_STATS_REQUEST,
            _ => MULTIPART_REQUEST,
        };
        if msg[1] == request
            && msg.get(8..10).map(|t| u16::from_be_bytes([t[0], t[1]])) == Some(PORT_STATS)
        {
            return true;
        }
        rest = &rest[len..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::protocol::Protocol;

    fn port_stats_request(protocol: Protocol) -> Vec<u8> {
        let msg = Message::Port(PortMsg::StatsRequest(PortNo::ANY));
        wire::encode(&msg, protocol, 7).unwrap()
    }

    #[test]
    fn port_stats_requests_are_seen_among_other_messages_and_across_reads() {
        let barrier = wire::encode(&Message::BarrierRequest, Protocol::Of13, 1).unwrap();
        for p in [Protocol::Of10Nxm, Protocol::Of13, Protocol::Of15] {
            let req = port_stats_request(p);
            assert!(asks_for_port_stats(&[], &req), "{p:?}");
            // After another message, and split between what is pending and what was read.
            let both = [barrier.clone(), req.clone()].concat();
            assert!(asks_for_port_stats(&[], &both));
            assert!(asks_for_port_stats(&req[..5], &req[5..]));
            // Not complete yet: nothing to answer.
            assert!(!asks_for_port_stats(&[], &req[..req.len() - 1]));
        }
        let desc = wire::encode(&Message::DescStatsRequest, Protocol::Of13, 2).unwrap();
        assert!(!asks_for_port_stats(&barrier, &desc));
    }
}
