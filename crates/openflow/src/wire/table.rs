//! Tables and the switch's abilities: table statistics (`OFPST_TABLE` / `OFPMP_TABLE`), table
//! features (`OFPMP_TABLE_FEATURES`, OpenFlow 1.3+), and meter and group features
//! (`OFPMP_METER_FEATURES`, `OFPMP_GROUP_FEATURES`).
//!
//! | model               | OpenFlow 1.0                           | 1.1 / 1.2                            | 1.3+                        |
//! |---------------------|----------------------------------------|--------------------------------------|-----------------------------|
//! | [`TableStats`]      | 64 bytes: name, wildcards, max entries | 88 / 128 bytes: name, [`TableBitmaps`] | 24 bytes: counters only     |
//! | [`TableFeatures`]   | —                                      | —                                    | 64 bytes + properties       |
//!
//! In OpenFlow 1.1 and 1.2 a table's abilities travel in its statistics, as bitmaps
//! ([`TableBitmaps`]); 1.1 has 32-bit field bitmaps (`OFPFMF11_*`) and no set-field or
//! metadata masks, 1.2 has 64-bit bitmaps of OXM field numbers.
//!
//! # Table features
//!
//! Each table carries up to fourteen properties: instructions, next tables, write/apply
//! actions, match fields, wildcards, write/apply set-field — each also in a "table miss"
//! variant. [`TableProps`] holds them as the wire has them (instruction and action type
//! numbers, table ids, OXM/NXM headers), so what a switch says and what a client reads are
//! the same values; [`TableFeatures::props`] is one set used for both the ordinary and the
//! miss variants, which is what Open vSwitch reports. Properties are written in Open vSwitch's
//! order. A reply for 254 tables is about 1.2 MB, so [`encode_table_features_reply`] splits it
//! into messages flagged "more" at table boundaries.

use super::buf::{Put, Reader, Truncated};
use super::msg::truncated as t;
use super::msg::{Message, finish};
use super::port::{encode_multipart_reply, name_field, name_from_field};
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::protocol::Protocol;

/// `OFPST_TABLE` / `OFPMP_TABLE`.
pub(crate) const ST_TABLE: u16 = 3;
/// `OFPMP_GROUP_FEATURES`.
pub(crate) const ST_GROUP_FEATURES: u16 = 8;
/// `OFPMP_METER_FEATURES`.
pub(crate) const ST_METER_FEATURES: u16 = 11;
/// `OFPMP_TABLE_FEATURES`.
pub(crate) const ST_TABLE_FEATURES: u16 = 12;

const TABLE_NAME_LEN: usize = 32;

/// The table and feature messages, as one variant of [`Message`] ([`Message::Table`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableMsg {
    /// A table statistics request.
    StatsRequest,
    /// A table statistics reply (one message of it).
    StatsReply(TableStatsReply),
    /// A table features request: empty to ask, or tables to configure.
    FeaturesRequest(Vec<TableFeatures>),
    /// A table features reply (one message of it).
    FeaturesReply(TableFeaturesReply),
    /// A meter features request.
    MeterFeaturesRequest,
    /// A meter features reply.
    MeterFeaturesReply(MeterFeatures),
    /// A group features request.
    GroupFeaturesRequest,
    /// A group features reply.
    GroupFeaturesReply(GroupFeatures),
}

/// One table's statistics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableStats {
    /// The table.
    pub table_id: u8,
    /// Its name (OpenFlow 1.0 only).
    pub name: String,
    /// `OFPFW10_*` bits of the fields the table can wildcard (OpenFlow 1.0 only).
    pub wildcards: u32,
    /// How many flows it can hold (OpenFlow 1.0 only).
    pub max_entries: u32,
    /// Flows in it.
    pub active_count: u32,
    /// Packets looked up in it.
    pub lookup_count: u64,
    /// Packets that matched a flow in it.
    pub matched_count: u64,
    /// What the table can do (OpenFlow 1.1 and 1.2 only; zero elsewhere).
    pub bitmaps: TableBitmaps,
}

/// A table's abilities as OpenFlow 1.1 and 1.2 table statistics describe them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableBitmaps {
    /// Fields the table can match: `OFPFMF11_*` bits in 1.1 (32 bits), `1 << OXM field` in 1.2.
    pub match_fields: u64,
    /// Fields the table can wildcard, in the same terms.
    pub wildcards: u64,
    /// `1 << OFPAT_*` usable in write-actions.
    pub write_actions: u32,
    /// `1 << OFPAT_*` usable in apply-actions.
    pub apply_actions: u32,
    /// `1 << OXM field` a set-field in write-actions may set (1.2 only).
    pub write_setfields: u64,
    /// `1 << OXM field` a set-field in apply-actions may set (1.2 only).
    pub apply_setfields: u64,
    /// Bits of `metadata` the table can match (1.2 only).
    pub metadata_match: u64,
    /// Bits of `metadata` the table can write (1.2 only).
    pub metadata_write: u64,
    /// `1 << OFPIT_*` the table supports.
    pub instructions: u32,
    /// `OFPTC_*` configuration (0: table misses go to the controller).
    pub config: u32,
    /// How many flows it can hold.
    pub max_entries: u32,
}

/// A table statistics reply (one message's worth when decoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableStatsReply {
    /// More replies follow.
    pub more: bool,
    /// The tables.
    pub tables: Vec<TableStats>,
}

/// An OXM or NXM header in a table-features property: the 32-bit header, plus the
/// experimenter id for class `0xffff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldHeader {
    /// `class:16 field:7 hasmask:1 length:8`.
    pub header: u32,
    /// The experimenter id of an experimenter-class header.
    pub experimenter: Option<u32>,
}

impl FieldHeader {
    /// The header's class.
    pub const fn class(self) -> u16 {
        (self.header >> 16) as u16
    }

    /// The field number within the class.
    pub const fn field(self) -> u8 {
        ((self.header >> 9) & 0x7f) as u8
    }

    /// True for a header with the has-mask bit.
    pub const fn has_mask(self) -> bool {
        self.header & 0x100 != 0
    }
}

/// The capabilities a table announces, as lists of wire numbers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableProps {
    /// Instruction types (`OFPIT_*`).
    pub instructions: Vec<u16>,
    /// Tables `goto_table` may name.
    pub next_tables: Vec<u8>,
    /// Action types usable in write-actions (`OFPAT_*`).
    pub write_actions: Vec<u16>,
    /// Action types usable in apply-actions.
    pub apply_actions: Vec<u16>,
    /// Fields a set-field in write-actions may set.
    pub write_setfield: Vec<FieldHeader>,
    /// Fields a set-field in apply-actions may set.
    pub apply_setfield: Vec<FieldHeader>,
    /// Fields a flow may match (with the has-mask bit when any mask is allowed).
    pub match_fields: Vec<FieldHeader>,
    /// Fields a flow may leave wildcarded.
    pub wildcards: Vec<FieldHeader>,
}

/// One table's features.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableFeatures {
    /// The table.
    pub table_id: u8,
    /// Its name (at most 31 bytes on the wire).
    pub name: String,
    /// Metadata bits a flow may match.
    pub metadata_match: u64,
    /// Metadata bits write_metadata may write.
    pub metadata_write: u64,
    /// `OFPTC_*` capability bits (1.3 calls the field `config`).
    pub capabilities: u32,
    /// How many flows the table can hold.
    pub max_entries: u32,
    /// Properties for flows (and, identically, for the table-miss flow).
    pub props: TableProps,
    /// Properties for the table-miss flow when they differ from `props`.
    pub miss: Option<TableProps>,
}

/// A table features reply (one message's worth when decoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableFeaturesReply {
    /// More replies follow.
    pub more: bool,
    /// The tables.
    pub tables: Vec<TableFeatures>,
}

/// A meter features reply (the model lives in [`crate::meter`]).
pub use crate::meter::MeterFeatures;

/// A group features reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GroupFeatures {
    /// `1 << OFPGT_*` bits.
    pub types: u32,
    /// `OFPGFC_*` bits.
    pub capabilities: u32,
    /// Most groups of each type (all, select, indirect, fast failover).
    pub max_groups: [u32; 4],
    /// `1 << OFPAT_*` bits per group type.
    pub actions: [u32; 4],
}

/// Property types (`OFPTFPT_*`); each miss variant is one more.
mod prop {
    pub(super) const INSTRUCTIONS: u16 = 0;
    pub(super) const NEXT_TABLES: u16 = 2;
    pub(super) const WRITE_ACTIONS: u16 = 4;
    pub(super) const APPLY_ACTIONS: u16 = 6;
    pub(super) const MATCH: u16 = 8;
    pub(super) const WILDCARDS: u16 = 10;
    pub(super) const WRITE_SETFIELD: u16 = 12;
    pub(super) const APPLY_SETFIELD: u16 = 14;
}

fn put_name(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&name_field::<TABLE_NAME_LEN>(s));
}

fn get_name(r: &mut Reader<'_>) -> Result<String, Truncated> {
    Ok(name_from_field::<TABLE_NAME_LEN>(&r.array()?))
}

fn table_stats_supported(_: Version) -> Result<(), EncodeError> {
    Ok(())
}

/// One table's statistics entry length in version `v`.
fn table_stats_len(v: Version) -> usize {
    match v {
        Version::Of10 => 64,
        Version::Of11 => 88,
        Version::Of12 => 128,
        _ => 24,
    }
}

/// `NXST_GROUP_FEATURES`.
pub(crate) const NXST_GROUP_FEATURES: u32 = 9;

/// The header of a group features request or reply: `OFPST_GROUP_FEATURES` from OpenFlow
/// 1.2, Nicira's `NXST_GROUP_FEATURES` before.
fn group_features_start(v: Version, request: bool, xid: u32) -> Vec<u8> {
    if v < Version::Of12 {
        start_stats(v, request, 0xffff, Some(NXST_GROUP_FEATURES), false, xid)
    } else {
        start_stats(v, request, ST_GROUP_FEATURES, None, false, xid)
    }
}

/// Decodes a group features body (after the multipart or Nicira stats header).
pub(super) fn decode_group_features(
    request: bool,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    if request {
        return Ok(Message::Table(TableMsg::GroupFeaturesRequest));
    }
    (|| {
        let mut g = GroupFeatures {
            types: r.u32()?,
            capabilities: r.u32()?,
            ..GroupFeatures::default()
        };
        for x in g.max_groups.iter_mut().chain(g.actions.iter_mut()) {
            *x = r.u32()?;
        }
        Ok(g)
    })()
    .map(|x| Message::Table(TableMsg::GroupFeaturesReply(x)))
    .map_err(t("group features"))
}

fn features_supported(v: Version, message: &'static str) -> Result<(), EncodeError> {
    if v < Version::Of13 {
        return Err(EncodeError::Message {
            message,
            version: v,
        });
    }
    Ok(())
}

fn put_table_stats(b: &mut Vec<u8>, v: Version, s: &TableStats) {
    b.put_u8(s.table_id);
    let t = &s.bitmaps;
    match v {
        Version::Of10 => {
            b.put_zeros(3);
            put_name(b, &s.name);
            b.put_u32(s.wildcards);
            b.put_u32(s.max_entries);
        }
        Version::Of11 => {
            b.put_zeros(7);
            put_name(b, &s.name);
            // 1.1's field bitmaps are 32 bits wide.
            b.put_u32(t.wildcards as u32);
            b.put_u32(t.match_fields as u32);
            b.put_u32(t.instructions);
            b.put_u32(t.write_actions);
            b.put_u32(t.apply_actions);
            b.put_u32(t.config);
            b.put_u32(t.max_entries);
        }
        Version::Of12 => {
            b.put_zeros(7);
            put_name(b, &s.name);
            b.put_u64(t.match_fields);
            b.put_u64(t.wildcards);
            b.put_u32(t.write_actions);
            b.put_u32(t.apply_actions);
            b.put_u64(t.write_setfields);
            b.put_u64(t.apply_setfields);
            b.put_u64(t.metadata_match);
            b.put_u64(t.metadata_write);
            b.put_u32(t.instructions);
            b.put_u32(t.config);
            b.put_u32(t.max_entries);
        }
        _ => b.put_zeros(3),
    }
    b.put_u32(s.active_count);
    b.put_u64(s.lookup_count);
    b.put_u64(s.matched_count);
}

fn pull_table_stats(r: &mut Reader<'_>, v: Version) -> Result<TableStats, Truncated> {
    let mut s = TableStats {
        table_id: r.u8()?,
        ..TableStats::default()
    };
    let t = &mut s.bitmaps;
    match v {
        Version::Of10 => {
            r.skip(3)?;
            s.name = get_name(r)?;
            s.wildcards = r.u32()?;
            s.max_entries = r.u32()?;
        }
        Version::Of11 => {
            r.skip(7)?;
            s.name = get_name(r)?;
            t.wildcards = u64::from(r.u32()?);
            t.match_fields = u64::from(r.u32()?);
            t.instructions = r.u32()?;
            t.write_actions = r.u32()?;
            t.apply_actions = r.u32()?;
            t.config = r.u32()?;
            t.max_entries = r.u32()?;
        }
        Version::Of12 => {
            r.skip(7)?;
            s.name = get_name(r)?;
            t.match_fields = r.u64()?;
            t.wildcards = r.u64()?;
            t.write_actions = r.u32()?;
            t.apply_actions = r.u32()?;
            t.write_setfields = r.u64()?;
            t.apply_setfields = r.u64()?;
            t.metadata_match = r.u64()?;
            t.metadata_write = r.u64()?;
            t.instructions = r.u32()?;
            t.config = r.u32()?;
            t.max_entries = r.u32()?;
        }
        _ => r.skip(3)?,
    }
    s.active_count = r.u32()?;
    s.lookup_count = r.u64()?;
    s.matched_count = r.u64()?;
    Ok(s)
}

fn put_u16_prop(b: &mut Vec<u8>, ty: u16, items: &[u16]) {
    // Instructions and actions are listed as 4-byte headers: type and length 4.
    let len = 4 + 4 * items.len();
    b.put_u16(ty);
    b.put_u16(len as u16);
    for i in items {
        b.put_u16(*i);
        b.put_u16(4);
    }
    b.put_zeros(len.next_multiple_of(8) - len);
}

fn put_tables_prop(b: &mut Vec<u8>, ty: u16, tables: &[u8]) {
    let len = 4 + tables.len();
    b.put_u16(ty);
    b.put_u16(len as u16);
    b.extend_from_slice(tables);
    b.put_zeros(len.next_multiple_of(8) - len);
}

fn put_fields_prop(b: &mut Vec<u8>, ty: u16, fields: &[FieldHeader]) {
    let start = b.len();
    b.put_u16(ty);
    b.put_u16(0);
    for f in fields {
        b.put_u32(f.header);
        if let Some(e) = f.experimenter {
            b.put_u32(e);
        }
    }
    let len = b.len() - start;
    b.set_u16(start + 2, len as u16);
    b.put_zeros(len.next_multiple_of(8) - len);
}

/// Writes one table's features entry.
fn put_table_features(b: &mut Vec<u8>, f: &TableFeatures) -> Result<(), EncodeError> {
    let start = b.len();
    b.put_u16(0); // length, below
    b.put_u8(f.table_id);
    b.put_zeros(5);
    put_name(b, &f.name);
    b.put_u64(f.metadata_match);
    b.put_u64(f.metadata_write);
    b.put_u32(f.capabilities);
    b.put_u32(f.max_entries);
    let p = &f.props;
    let m = f.miss.as_ref().unwrap_or(p);
    // Open vSwitch's order: the ordinary properties (instructions, next tables, then each
    // action list followed by its set-field list), the same for a table miss, then match
    // and wildcards.
    for (props, miss) in [(p, 0u16), (m, 1)] {
        put_u16_prop(b, prop::INSTRUCTIONS + miss, &props.instructions);
        put_tables_prop(b, prop::NEXT_TABLES + miss, &props.next_tables);
        put_u16_prop(b, prop::WRITE_ACTIONS + miss, &props.write_actions);
        put_fields_prop(b, prop::WRITE_SETFIELD + miss, &props.write_setfield);
        put_u16_prop(b, prop::APPLY_ACTIONS + miss, &props.apply_actions);
        put_fields_prop(b, prop::APPLY_SETFIELD + miss, &props.apply_setfield);
    }
    put_fields_prop(b, prop::MATCH, &p.match_fields);
    put_fields_prop(b, prop::WILDCARDS, &p.wildcards);
    let len = b.len() - start;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(start, len16);
    Ok(())
}

fn pull_u16_list(mut r: Reader<'_>) -> Result<Vec<u16>, Truncated> {
    // Each element is a type and a length (4, or more for an experimenter's).
    let mut v = Vec::new();
    while r.len() >= 4 {
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        r.skip(len.saturating_sub(4))?;
        v.push(ty);
    }
    Ok(v)
}

fn pull_fields(mut r: Reader<'_>) -> Result<Vec<FieldHeader>, Truncated> {
    let mut v = Vec::new();
    while r.len() >= 4 {
        let header = r.u32()?;
        let experimenter = if header >> 16 == 0xffff {
            Some(r.u32()?)
        } else {
            None
        };
        v.push(FieldHeader {
            header,
            experimenter,
        });
    }
    Ok(v)
}

fn pull_table_features(r: &mut Reader<'_>) -> Result<TableFeatures, DecodeError> {
    let tr = t("table features");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    if len < 64 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("table features length {len}"),
        ));
    }
    let mut e = r.take(len).map_err(&tr)?;
    e.skip(2).map_err(&tr)?;
    let mut f = TableFeatures {
        table_id: e.u8().map_err(&tr)?,
        ..TableFeatures::default()
    };
    e.skip(5).map_err(&tr)?;
    f.name = get_name(&mut e).map_err(&tr)?;
    f.metadata_match = e.u64().map_err(&tr)?;
    f.metadata_write = e.u64().map_err(&tr)?;
    f.capabilities = e.u32().map_err(&tr)?;
    f.max_entries = e.u32().map_err(&tr)?;
    let mut miss = TableProps::default();
    while !e.is_empty() {
        let ty = e.peek_u16(0).map_err(&tr)?;
        let plen = usize::from(e.peek_u16(2).map_err(&tr)?);
        if plen < 4 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("table features property length {plen}"),
            ));
        }
        let mut body = e.take(plen).map_err(&tr)?;
        body.skip(4).map_err(&tr)?;
        let pad = (plen.next_multiple_of(8) - plen).min(e.len());
        e.skip(pad).map_err(&tr)?;
        let (props, base) = if ty < 16 && ty & 1 == 1 {
            (&mut miss, ty - 1)
        } else {
            (&mut f.props, ty)
        };
        match base {
            prop::INSTRUCTIONS => props.instructions = pull_u16_list(body).map_err(&tr)?,
            prop::NEXT_TABLES => props.next_tables = body.rest().to_vec(),
            prop::WRITE_ACTIONS => props.write_actions = pull_u16_list(body).map_err(&tr)?,
            prop::APPLY_ACTIONS => props.apply_actions = pull_u16_list(body).map_err(&tr)?,
            prop::WRITE_SETFIELD => props.write_setfield = pull_fields(body).map_err(&tr)?,
            prop::APPLY_SETFIELD => props.apply_setfield = pull_fields(body).map_err(&tr)?,
            // Match and wildcards have no miss variant: types 9 and 11 are unused.
            prop::MATCH if ty == prop::MATCH => {
                f.props.match_fields = pull_fields(body).map_err(&tr)?;
            }
            prop::WILDCARDS if ty == prop::WILDCARDS => {
                f.props.wildcards = pull_fields(body).map_err(&tr)?;
            }
            // Experimenter properties and unknown types describe nothing modelled here.
            _ => {}
        }
    }
    miss.match_fields = f.props.match_fields.clone();
    miss.wildcards = f.props.wildcards.clone();
    if miss != f.props {
        f.miss = Some(miss);
    }
    Ok(f)
}

/// Encodes the messages of this module; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let v = Version::of(protocol);
    let simple = |stat: u16, request: bool| start_stats(v, request, stat, None, false, xid);
    let Message::Table(m) = msg else {
        return None;
    };
    Some(match m {
        TableMsg::StatsRequest => {
            table_stats_supported(v).and_then(|()| finish(simple(ST_TABLE, true)))
        }
        TableMsg::StatsReply(r) => table_stats_supported(v).and_then(|()| {
            let mut b = start_stats(v, false, ST_TABLE, None, r.more, xid);
            for s in &r.tables {
                put_table_stats(&mut b, v, s);
            }
            finish(b)
        }),
        TableMsg::FeaturesRequest(tables) => {
            features_supported(v, "table features").and_then(|()| {
                let mut b = simple(ST_TABLE_FEATURES, true);
                for f in tables {
                    put_table_features(&mut b, f)?;
                }
                finish(b)
            })
        }
        TableMsg::FeaturesReply(r) => features_supported(v, "table features").and_then(|()| {
            let mut b = start_stats(v, false, ST_TABLE_FEATURES, None, r.more, xid);
            for f in &r.tables {
                put_table_features(&mut b, f)?;
            }
            finish(b)
        }),
        TableMsg::MeterFeaturesRequest => features_supported(v, "meter features")
            .and_then(|()| finish(simple(ST_METER_FEATURES, true))),
        TableMsg::MeterFeaturesReply(m) => features_supported(v, "meter features").and_then(|()| {
            let mut b = simple(ST_METER_FEATURES, false);
            b.put_u32(m.max_meter);
            b.put_u32(m.band_types);
            b.put_u32(m.capabilities);
            b.put_u8(m.max_bands);
            b.put_u8(m.max_color);
            b.put_zeros(2);
            finish(b)
        }),
        // Before OpenFlow 1.2, Nicira's NXST_GROUP_FEATURES carries the same body.
        TableMsg::GroupFeaturesRequest => finish(group_features_start(v, true, xid)),
        TableMsg::GroupFeaturesReply(g) => {
            let mut b = group_features_start(v, false, xid);
            b.put_u32(g.types);
            b.put_u32(g.capabilities);
            for x in g.max_groups.iter().chain(&g.actions) {
                b.put_u32(*x);
            }
            finish(b)
        }
    })
}

/// Encodes a whole table statistics reply (as many messages as it takes).
pub fn encode_table_stats_reply(
    tables: &[TableStats],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    table_stats_supported(v)?;
    encode_multipart_reply(tables, v, ST_TABLE, xid, |e, s| {
        put_table_stats(e, v, s);
        Ok(())
    })
}

/// Encodes a whole table features reply (as many messages as it takes, split between tables).
pub fn encode_table_features_reply(
    tables: &[TableFeatures],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    features_supported(v, "table features")?;
    encode_multipart_reply(tables, v, ST_TABLE_FEATURES, xid, |e, f| {
        put_table_features(e, f)
    })
}

/// Decodes the bodies of this module's statistics (after the stats header); `None` when
/// `stat` is not one of them.
pub(super) fn decode_stats(
    v: Version,
    request: bool,
    stat: u16,
    more: bool,
    mut r: Reader<'_>,
) -> Option<Result<Message, DecodeError>> {
    let result = match (stat, request) {
        (ST_TABLE, true) => Ok(Message::Table(TableMsg::StatsRequest)),
        (ST_TABLE, false) => {
            let len = table_stats_len(v);
            let mut tables = Vec::new();
            let mut res = Ok(());
            while !r.is_empty() {
                let entry = r.take(len).and_then(|mut e| pull_table_stats(&mut e, v));
                match entry {
                    Ok(s) => tables.push(s),
                    Err(e) => {
                        res = Err(t("table statistics")(e));
                        break;
                    }
                }
            }
            res.map(|()| Message::Table(TableMsg::StatsReply(TableStatsReply { more, tables })))
        }
        (ST_TABLE_FEATURES | ST_METER_FEATURES, _) if v < Version::Of13 => {
            return None;
        }
        (ST_GROUP_FEATURES, _) if v < Version::Of12 => return None,
        (ST_TABLE_FEATURES, _) => {
            let mut tables = Vec::new();
            let mut res = Ok(());
            while !r.is_empty() {
                match pull_table_features(&mut r) {
                    Ok(f) => tables.push(f),
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                }
            }
            res.map(|()| {
                if request {
                    Message::Table(TableMsg::FeaturesRequest(tables))
                } else {
                    Message::Table(TableMsg::FeaturesReply(TableFeaturesReply { more, tables }))
                }
            })
        }
        (ST_METER_FEATURES, true) => Ok(Message::Table(TableMsg::MeterFeaturesRequest)),
        (ST_METER_FEATURES, false) => (|| {
            let m = MeterFeatures {
                max_meter: r.u32()?,
                band_types: r.u32()?,
                capabilities: r.u32()?,
                max_bands: r.u8()?,
                max_color: r.u8()?,
            };
            r.skip(2)?;
            Ok(m)
        })()
        .map(|x| Message::Table(TableMsg::MeterFeaturesReply(x)))
        .map_err(t("meter features")),
        (ST_GROUP_FEATURES, _) => decode_group_features(request, r),
        _ => return None,
    };
    Some(result)
}
