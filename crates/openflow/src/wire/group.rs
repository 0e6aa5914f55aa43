//! Group-mods and group statistics on the wire: `OFPT_GROUP_MOD` (OpenFlow 1.1 to 1.4's
//! layout and 1.5's), OpenFlow 1.0's `NXT_GROUP_MOD`, and the group description and group
//! statistics multiparts (`OFPST_GROUP_DESC` / `OFPST_GROUP`, or `NXST_GROUP_DESC` /
//! `NXST_GROUP` in OpenFlow 1.0).
//!
//! # Layouts
//!
//! | | OpenFlow 1.0 (Nicira) | 1.1 to 1.4 | 1.5 |
//! |---|---|---|---|
//! | group-mod | vendor subtype 31, 1.5's body | type 15, buckets with weight/watch inline | type 15, bucket ids, properties |
//! | desc request | NXST 8, group id | stats 7, empty body | stats 7, group id |
//! | stats request | NXST 7, group id | stats 6, group id | stats 6, group id |
//!
//! The Nicira form is OpenFlow 1.5's with OpenFlow 1.0's actions (what `ovs-ofctl` sends
//! with `-O OpenFlow10`), group properties included: Open vSwitch's selection method of a
//! select group travels only there and in 1.5. Group statistics carry a duration from OpenFlow 1.3 on (and in the
//! Nicira form); OpenFlow 1.1 and 1.2 have none.

use super::buf::{Put, Reader};
use super::msg::{Message, finish, start, start_nx, truncated as t};
use super::of13::{pull_actions, put_actions};
use super::oxm::{Flavor, header_for, pull_entry, put_entry};
use super::port::split_reply;
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::group::{
    Bucket, BucketId, Counters, GroupDesc, GroupMod, GroupModCommand, GroupStats, GroupType,
    SelectionMethod,
};
use crate::protocol::Protocol;
use crate::types::{GroupId, PortNo};

/// `OFPT_GROUP_MOD` (OpenFlow 1.1+).
pub(crate) const OFPT_GROUP_MOD: u8 = 15;
/// `NXT_GROUP_MOD`.
pub(crate) const NXT_GROUP_MOD: u32 = 31;
/// `OFPST_GROUP` / `OFPMP_GROUP`.
pub(crate) const ST_GROUP: u16 = 6;
/// `OFPST_GROUP_DESC` / `OFPMP_GROUP_DESC`.
pub(crate) const ST_GROUP_DESC: u16 = 7;
/// `NXST_GROUP`.
pub(crate) const NXST_GROUP: u32 = 7;
/// `NXST_GROUP_DESC`.
pub(crate) const NXST_GROUP_DESC: u32 = 8;
const ST_VENDOR: u16 = 0xffff;

/// OpenFlow 1.5 bucket property types.
const PROP_WEIGHT: u16 = 0;
const PROP_WATCH_PORT: u16 = 1;
const PROP_WATCH_GROUP: u16 = 2;

/// Group property types (OpenFlow 1.5): only the experimenter's, for Open vSwitch's
/// selection method (`ntr_group_prop_selection_method`: experimenter `NTR_VENDOR_ID`, type
/// `NTRT_SELECTION_METHOD`, 4 bytes of padding, the method's name in 16 NUL-padded bytes, its
/// 64-bit parameter, then one unmasked OXM (NXM in the Nicira form) per hashed field whose
/// value is the field's mask, the whole padded to 8 bytes).
const OFPGPT15_EXPERIMENTER: u16 = 0xffff;
const NTR_VENDOR_ID: u32 = 0x0000_154d;
const NTRT_SELECTION_METHOD: u32 = 1;
/// The method name's room in the property.
const METHOD_NAME_BYTES: usize = 16;
/// The property's fixed part, before the fields.
const SELECTION_PROP_LEN: usize = 40;

/// A group message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupMsg {
    /// A group-mod.
    Mod(GroupMod),
    /// A group description request for one group or [`GroupId::ALL`] (OpenFlow 1.1 to 1.4
    /// always ask for all).
    DescRequest(GroupId),
    /// One message of a group description reply.
    DescReply(Vec<GroupDesc>),
    /// A group statistics request for one group or [`GroupId::ALL`].
    StatsRequest(GroupId),
    /// One message of a group statistics reply.
    StatsReply(Vec<GroupStats>),
}

/// Whether the version writes the OpenFlow 1.5 (or Nicira) layout.
fn long_form(v: Version) -> bool {
    matches!(v, Version::Of10 | Version::Of15)
}

const fn command_wire(c: GroupModCommand) -> u16 {
    match c {
        GroupModCommand::Add => 0,
        GroupModCommand::Modify => 1,
        GroupModCommand::Delete => 2,
        GroupModCommand::InsertBucket => 3,
        GroupModCommand::RemoveBucket => 5,
        GroupModCommand::AddOrMod => 0x8000,
    }
}

fn command_from_wire(n: u16, v: Version) -> Result<GroupModCommand, DecodeError> {
    Ok(match n {
        0 => GroupModCommand::Add,
        1 => GroupModCommand::Modify,
        2 => GroupModCommand::Delete,
        3 if long_form(v) => GroupModCommand::InsertBucket,
        5 if long_form(v) => GroupModCommand::RemoveBucket,
        0x8000 => GroupModCommand::AddOrMod,
        n => {
            return Err(DecodeError::new(
                OfpError::GroupBadCommand,
                format!("group-mod command {n}"),
            ));
        }
    })
}

/// A bucket's actions as version `v` spells them (a VLAN push and set-field from OpenFlow
/// 1.3 is `mod_vlan_vid` in 1.0), as flow statistics spell a rule's.
fn spelled(actions: &[crate::Action], v: Version) -> Vec<crate::Action> {
    crate::normalize::normalize_for(actions, &fvs_flow::Match::CATCHALL, v.default_protocol())
}

/// Writes the buckets in `v`'s layout.
fn put_buckets(
    b: &mut Vec<u8>,
    v: Version,
    ty: GroupType,
    buckets: &[Bucket],
) -> Result<(), EncodeError> {
    for bk in buckets {
        let at = b.len();
        if long_form(v) {
            b.put_u16(0);
            b.put_u16(0);
            b.put_u32(bk.bucket_id.0);
            let acts = b.len();
            put_actions(b, &spelled(&bk.actions, v), v)?;
            let alen = b.len() - acts;
            b.set_u16(
                at + 2,
                u16::try_from(alen).map_err(|_| EncodeError::TooLong(alen))?,
            );
            // Open vSwitch writes the weight for select groups, the watches when set.
            if ty == GroupType::Select {
                b.put_u16(PROP_WEIGHT);
                b.put_u16(8);
                b.put_u16(bk.weight);
                b.put_zeros(2);
            }
            if bk.watch_port != PortNo::ANY {
                b.put_u16(PROP_WATCH_PORT);
                b.put_u16(8);
                b.put_u32(bk.watch_port.0);
            }
            if bk.watch_group != GroupId::ANY {
                b.put_u16(PROP_WATCH_GROUP);
                b.put_u16(8);
                b.put_u32(bk.watch_group.0);
            }
        } else {
            b.put_u16(0);
            b.put_u16(bk.weight);
            b.put_u32(bk.watch_port.0);
            b.put_u32(bk.watch_group.0);
            b.put_zeros(4);
            put_actions(b, &spelled(&bk.actions, v), v)?;
        }
        let len = b.len() - at;
        b.set_u16(
            at,
            u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
        );
    }
    Ok(())
}

/// Reads buckets until `r` is empty. A 1.5 bucket without a weight property has weight 0 (as
/// Open vSwitch stores it; the weight only matters to select groups).
fn pull_buckets(r: &mut Reader<'_>, v: Version) -> Result<Vec<Bucket>, DecodeError> {
    let bad = |what: &str| DecodeError::new(OfpError::GroupBadBucket, what.to_owned());
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.peek_u16(0).map_err(|_| bad("bucket is truncated"))?);
        let min = if long_form(v) { 8 } else { 16 };
        if len < min || len > r.len() {
            return Err(DecodeError::new(
                OfpError::GroupBadBucket,
                format!("bucket length {len}"),
            ));
        }
        let mut e = r.take(len).map_err(|_| bad("bucket is truncated"))?;
        e.skip(2).map_err(|_| bad("bucket"))?;
        let mut bk = Bucket::new(Vec::new());
        if long_form(v) {
            let alen = usize::from(e.u16().map_err(|_| bad("bucket"))?);
            bk.bucket_id = BucketId(e.u32().map_err(|_| bad("bucket"))?);
            bk.weight = 0;
            let acts = e
                .bytes(alen)
                .map_err(|_| bad("bucket actions are truncated"))?;
            bk.actions = pull_actions(acts, v)?;
            while !e.is_empty() {
                let pt = e.u16().map_err(|_| bad("bucket property"))?;
                let plen = usize::from(e.u16().map_err(|_| bad("bucket property"))?);
                if plen < 4 {
                    return Err(DecodeError::new(
                        OfpError::PropBadLen,
                        format!("bucket property length {plen}"),
                    ));
                }
                let mut p = e
                    .take(plen.next_multiple_of(8) - 4)
                    .map_err(|_| bad("bucket property is truncated"))?;
                let pe = |_| bad("bucket property is truncated");
                match pt {
                    PROP_WEIGHT => bk.weight = p.u16().map_err(pe)?,
                    PROP_WATCH_PORT => bk.watch_port = PortNo(p.u32().map_err(pe)?),
                    PROP_WATCH_GROUP => bk.watch_group = GroupId(p.u32().map_err(pe)?),
                    _ => {
                        return Err(DecodeError::new(
                            OfpError::PropBadType,
                            format!("bucket property type {pt}"),
                        ));
                    }
                }
            }
        } else {
            bk.weight = e.u16().map_err(|_| bad("bucket"))?;
            bk.watch_port = PortNo(e.u32().map_err(|_| bad("bucket"))?);
            bk.watch_group = GroupId(e.u32().map_err(|_| bad("bucket"))?);
            e.skip(4).map_err(|_| bad("bucket"))?;
            bk.actions = pull_actions(e.rest(), v)?;
        }
        out.push(bk);
    }
    Ok(out)
}

/// The OXM flavour of the fields of a selection method in version `v`'s long form.
fn fields_flavor(v: Version) -> Flavor {
    if v == Version::Of10 {
        Flavor::Nxm
    } else {
        Flavor::Oxm(v)
    }
}

/// Writes the group properties (the long form's, after the buckets).
fn put_group_props(
    b: &mut Vec<u8>,
    v: Version,
    sel: Option<&SelectionMethod>,
) -> Result<(), EncodeError> {
    let Some(sel) = sel else {
        return Ok(());
    };
    let at = b.len();
    b.put_u16(OFPGPT15_EXPERIMENTER);
    b.put_u16(0);
    b.put_u32(NTR_VENDOR_ID);
    b.put_u32(NTRT_SELECTION_METHOD);
    b.put_u32(0);
    let mut name = [0u8; METHOD_NAME_BYTES];
    // The model keeps names short enough; a longer one is cut, keeping the NUL.
    let n = sel.name.len().min(METHOD_NAME_BYTES - 1);
    name[..n].copy_from_slice(&sel.name.as_bytes()[..n]);
    b.extend_from_slice(&name);
    b.put_u64(sel.param);
    for &(field, mask) in &sel.fields {
        let h = header_for(field, fields_flavor(v)).ok_or(EncodeError::Field {
            field: field.name(),
            version: v,
        })?;
        put_entry(b, h, mask, None);
    }
    let len = b.len() - at;
    b.set_u16(
        at + 2,
        u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
    );
    b.put_zeros(len.next_multiple_of(8) - len);
    Ok(())
}

/// Reads the group properties of a group of type `ty` until `r` is empty: Open vSwitch's
/// selection method, refused (`OFPBPC_BAD_VALUE`) unless the group is a select group and the
/// method `hash` (the only one with fields) or `dp_hash`.
fn pull_group_props(
    r: &mut Reader<'_>,
    ty: GroupType,
) -> Result<Option<SelectionMethod>, DecodeError> {
    let bad = |what: &str| DecodeError::new(OfpError::PropBadLen, what.to_owned());
    let mut sel = None;
    while !r.is_empty() {
        let pt = r.u16().map_err(|_| bad("group property"))?;
        let plen = usize::from(r.u16().map_err(|_| bad("group property"))?);
        if plen < 4 {
            return Err(bad(&format!("group property length {plen}")));
        }
        let mut p = r
            .take(plen - 4)
            .map_err(|_| bad("group property is truncated"))?;
        // Padding to 8 bytes follows, except perhaps after the last property.
        let _ = r.skip((plen.next_multiple_of(8) - plen).min(r.len()));
        let exp = if pt == OFPGPT15_EXPERIMENTER {
            (p.u32().ok(), p.u32().ok())
        } else {
            (None, None)
        };
        if exp != (Some(NTR_VENDOR_ID), Some(NTRT_SELECTION_METHOD)) {
            return Err(DecodeError::new(
                OfpError::PropBadType,
                format!("group property type {pt}"),
            ));
        }
        if plen < SELECTION_PROP_LEN {
            return Err(bad(&format!("selection method property length {plen}")));
        }
        let pe = |_| bad("selection method property is truncated");
        p.skip(4).map_err(pe)?;
        let raw: [u8; METHOD_NAME_BYTES] = p.array().map_err(pe)?;
        let end = raw
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(METHOD_NAME_BYTES);
        let name = String::from_utf8_lossy(&raw[..end]).into_owned();
        let param = p.u64().map_err(pe)?;
        let mut fields = Vec::new();
        while !p.is_empty() {
            let e = pull_entry(&mut p)?;
            fields.push((e.field, e.value));
        }
        fields.sort_by_key(|(f, _)| *f);
        let method = SelectionMethod {
            name,
            param,
            fields,
        };
        if !method.is_supported(ty) || (method.name != "hash" && !method.fields.is_empty()) {
            return Err(DecodeError::new(
                OfpError::PropBadValue,
                format!("selection method {:?}", method.name),
            ));
        }
        sel = Some(method);
    }
    Ok(sel)
}

/// Writes a group-mod's body (after the OpenFlow or Nicira header).
fn put_group_mod(b: &mut Vec<u8>, v: Version, gm: &GroupMod) -> Result<(), EncodeError> {
    b.put_u16(command_wire(gm.command));
    b.put_u8(gm.group_type.wire());
    b.put_u8(0);
    b.put_u32(gm.group_id.0);
    if long_form(v) {
        let at = b.len();
        b.put_u16(0);
        b.put_u16(0);
        b.put_u32(gm.command_bucket_id.0);
        let start = b.len();
        put_buckets(b, v, gm.group_type, &gm.buckets)?;
        let len = b.len() - start;
        b.set_u16(
            at,
            u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
        );
        put_group_props(b, v, gm.selection.as_ref())?;
    } else {
        put_buckets(b, v, gm.group_type, &gm.buckets)?;
    }
    Ok(())
}

/// Decodes a group-mod's body: `OFPT_GROUP_MOD` or `NXT_GROUP_MOD` after its vendor header.
pub(crate) fn decode_group_mod(v: Version, mut r: Reader<'_>) -> Result<GroupMod, DecodeError> {
    let tr = t("group-mod");
    let command = command_from_wire(r.u16().map_err(&tr)?, v)?;
    let ty = r.u8().map_err(&tr)?;
    r.skip(1).map_err(&tr)?;
    let group_id = GroupId(r.u32().map_err(&tr)?);
    // Deletes and bucket removals carry a type Open vSwitch ignores.
    let group_type = match GroupType::from_wire(ty) {
        Some(g) => g,
        None if matches!(
            command,
            GroupModCommand::Delete | GroupModCommand::InsertBucket | GroupModCommand::RemoveBucket
        ) =>
        {
            GroupType::All
        }
        None => {
            return Err(DecodeError::new(
                OfpError::GroupBadType,
                format!("group type {ty}"),
            ));
        }
    };
    let (buckets, command_bucket_id, selection) = if long_form(v) {
        let blen = usize::from(r.u16().map_err(&tr)?);
        r.skip(2).map_err(&tr)?;
        let cb = BucketId(r.u32().map_err(&tr)?);
        let mut br = r.take(blen).map_err(&tr)?;
        let buckets = pull_buckets(&mut br, v)?;
        // The group properties follow the buckets.
        (buckets, cb, pull_group_props(&mut r, group_type)?)
    } else {
        (pull_buckets(&mut r, v)?, BucketId::ALL, None)
    };
    Ok(GroupMod {
        command,
        group_type,
        group_id,
        command_bucket_id,
        buckets,
        has_bucket_ids: long_form(v),
        selection,
    })
}

fn put_desc(b: &mut Vec<u8>, v: Version, d: &GroupDesc) -> Result<(), EncodeError> {
    let at = b.len();
    b.put_u16(0);
    b.put_u8(d.group_type.wire());
    b.put_u8(0);
    b.put_u32(d.group_id.0);
    if long_form(v) {
        let blen_at = b.len();
        b.put_u16(0);
        b.put_zeros(6);
        let start = b.len();
        put_buckets(b, v, d.group_type, &d.buckets)?;
        let len = b.len() - start;
        b.set_u16(
            blen_at,
            u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
        );
        put_group_props(b, v, d.selection.as_ref())?;
    } else {
        put_buckets(b, v, d.group_type, &d.buckets)?;
    }
    let len = b.len() - at;
    b.set_u16(
        at,
        u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
    );
    Ok(())
}

fn pull_desc(r: &mut Reader<'_>, v: Version) -> Result<GroupDesc, DecodeError> {
    let tr = t("group description");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    if len < 8 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("group description length {len}"),
        ));
    }
    let mut e = r.take(len).map_err(&tr)?;
    e.skip(2).map_err(&tr)?;
    let ty = e.u8().map_err(&tr)?;
    e.skip(1).map_err(&tr)?;
    let group_id = GroupId(e.u32().map_err(&tr)?);
    let group_type = GroupType::from_wire(ty)
        .ok_or_else(|| DecodeError::new(OfpError::GroupBadType, format!("group type {ty}")))?;
    let (buckets, selection) = if long_form(v) {
        let blen = usize::from(e.u16().map_err(&tr)?);
        e.skip(6).map_err(&tr)?;
        let mut br = e.take(blen).map_err(&tr)?;
        let buckets = pull_buckets(&mut br, v)?;
        (buckets, pull_group_props(&mut e, group_type)?)
    } else {
        (pull_buckets(&mut e, v)?, None)
    };
    Ok(GroupDesc {
        group_type,
        group_id,
        buckets,
        selection,
    })
}

fn has_duration(v: Version) -> bool {
    v == Version::Of10 || v >= Version::Of13
}

fn put_stats(b: &mut Vec<u8>, v: Version, s: &GroupStats) -> Result<(), EncodeError> {
    let at = b.len();
    b.put_u16(0);
    b.put_zeros(2);
    b.put_u32(s.group_id.0);
    b.put_u32(s.ref_count);
    b.put_zeros(4);
    b.put_u64(s.counters.packets);
    b.put_u64(s.counters.bytes);
    if has_duration(v) {
        b.put_u32(s.duration_sec);
        b.put_u32(s.duration_nsec);
    }
    for c in &s.buckets {
        b.put_u64(c.packets);
        b.put_u64(c.bytes);
    }
    let len = b.len() - at;
    b.set_u16(
        at,
        u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
    );
    Ok(())
}

fn pull_stats(r: &mut Reader<'_>, v: Version) -> Result<GroupStats, DecodeError> {
    let tr = t("group statistics");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    let mut e = r.take(len).map_err(&tr)?;
    e.skip(4).map_err(&tr)?;
    let mut s = GroupStats {
        group_id: GroupId(e.u32().map_err(&tr)?),
        ref_count: e.u32().map_err(&tr)?,
        ..GroupStats::default()
    };
    e.skip(4).map_err(&tr)?;
    s.counters.packets = e.u64().map_err(&tr)?;
    s.counters.bytes = e.u64().map_err(&tr)?;
    if has_duration(v) {
        s.duration_sec = e.u32().map_err(&tr)?;
        s.duration_nsec = e.u32().map_err(&tr)?;
    }
    while !e.is_empty() {
        s.buckets.push(Counters {
            packets: e.u64().map_err(&tr)?,
            bytes: e.u64().map_err(&tr)?,
        });
    }
    Ok(s)
}

fn stats_start(v: Version, request: bool, stat: u16, more: bool, xid: u32) -> Vec<u8> {
    if v == Version::Of10 {
        let sub = if stat == ST_GROUP {
            NXST_GROUP
        } else {
            NXST_GROUP_DESC
        };
        start_stats(v, request, ST_VENDOR, Some(sub), more, xid)
    } else {
        start_stats(v, request, stat, None, more, xid)
    }
}

/// Encodes one group message; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let Message::Group(m) = msg else {
        return None;
    };
    let v = Version::of(protocol);
    Some((|| {
        let b = match m {
            GroupMsg::Mod(gm) => {
                let mut b = if v == Version::Of10 {
                    start_nx(v, NXT_GROUP_MOD, xid)
                } else {
                    start(v, OFPT_GROUP_MOD, xid)
                };
                put_group_mod(&mut b, v, gm)?;
                b
            }
            GroupMsg::DescRequest(g) | GroupMsg::StatsRequest(g) => {
                let desc = matches!(m, GroupMsg::DescRequest(_));
                let stat = if desc { ST_GROUP_DESC } else { ST_GROUP };
                let mut b = stats_start(v, true, stat, false, xid);
                if !(desc && (Version::Of11..=Version::Of14).contains(&v)) {
                    b.put_u32(g.0);
                    b.put_zeros(4);
                }
                b
            }
            GroupMsg::DescReply(ds) => {
                let mut b = stats_start(v, false, ST_GROUP_DESC, false, xid);
                for d in ds {
                    put_desc(&mut b, v, d)?;
                }
                b
            }
            GroupMsg::StatsReply(ss) => {
                let mut b = stats_start(v, false, ST_GROUP, false, xid);
                for s in ss {
                    put_stats(&mut b, v, s)?;
                }
                b
            }
        };
        finish(b)
    })())
}

/// Encodes a whole group description reply (as many messages as it takes).
pub fn encode_desc_reply(
    groups: &[GroupDesc],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    encode_reply(groups, protocol, xid, ST_GROUP_DESC, put_desc)
}

/// Encodes a whole group statistics reply (as many messages as it takes).
pub fn encode_stats_reply(
    groups: &[GroupStats],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    encode_reply(groups, protocol, xid, ST_GROUP, put_stats)
}

/// A multipart reply of statistic `stat` whose entries `put` encodes, one per item, split
/// into as many messages as it takes.
fn encode_reply<T>(
    items: &[T],
    protocol: Protocol,
    xid: u32,
    stat: u16,
    put: fn(&mut Vec<u8>, Version, &T) -> Result<(), EncodeError>,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    let entries = items
        .iter()
        .map(|item| {
            let mut e = Vec::new();
            put(&mut e, v, item).map(|()| e)
        })
        .collect::<Result<Vec<_>, _>>()?;
    split_reply(entries, || stats_start(v, false, stat, false, xid))
}

/// Decodes a group multipart body (after the stats header, and after the Nicira stats header
/// in OpenFlow 1.0); `stat` is [`ST_GROUP`] or [`ST_GROUP_DESC`].
pub(super) fn decode_stats(
    v: Version,
    request: bool,
    stat: u16,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    let tr = t("group statistics request");
    let desc = stat == ST_GROUP_DESC;
    let m = if request {
        let g = if desc && (Version::Of11..=Version::Of14).contains(&v) {
            GroupId::ALL
        } else {
            GroupId(r.u32().map_err(&tr)?)
        };
        if desc {
            GroupMsg::DescRequest(g)
        } else {
            GroupMsg::StatsRequest(g)
        }
    } else if desc {
        let mut ds = Vec::new();
        while !r.is_empty() {
            ds.push(pull_desc(&mut r, v)?);
        }
        GroupMsg::DescReply(ds)
    } else {
        let mut ss = Vec::new();
        while !r.is_empty() {
            ss.push(pull_stats(&mut r, v)?);
        }
        GroupMsg::StatsReply(ss)
    };
    Ok(Message::Group(m))
}
