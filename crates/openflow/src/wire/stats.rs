//! Statistics (OpenFlow 1.0 `OFPT_STATS_*`, 1.1+ `OFPT_MULTIPART_*`): flow, aggregate and
//! description statistics, in the three encodings a flow can travel in.
//!
//! | model                      | OpenFlow 1.0, `ofp_match` | OpenFlow 1.0, NXM    | 1.2–1.4         |
//! |----------------------------|---------------------------|----------------------|-----------------|
//! | [`FlowStatsRequest`]/reply | `OFPST_FLOW`              | `NXST_FLOW` (vendor) | `OFPMP_FLOW`    |
//! | aggregate                  | `OFPST_AGGREGATE`         | `NXST_AGGREGATE`     | `OFPMP_AGGREGATE` |
//! | [`DescStats`]              | `OFPST_DESC`              | `OFPST_DESC`         | `OFPMP_DESC`    |
//!
//! The [`Protocol`] given to the encoder picks the column, as for flow-mods; the decoder reads
//! it from the stats type (`0xffff` + Nicira vendor = NXST). A switch answers in the form the
//! request came in, which is the form the session's flow format selects.
//!
//! # Invariants
//!
//! - A reply larger than one message (65535 bytes) is split by [`encode_flow_stats_reply`]
//!   into several, every one but the last flagged "more" (`OFPSF_REPLY_MORE`), each as full as
//!   it can be, as Open vSwitch splits them. [`encode`](super::encode) writes one message and
//!   fails with [`EncodeError::TooLong`] on an oversized one.
//! - Nicira's `idle_age`/`hard_age` travel as age + 1 with 0 for "unknown"; the model holds
//!   the age itself ([`FlowStats::idle_age`]), capped at 65534 seconds.
//! - Entries carry their actions as the protocol can express them (normalised the way a
//!   flow-mod is), so `ovs-ofctl` prints what it prints for Open vSwitch's own replies.

use fvs_flow::Match;

use super::buf::{Put, Reader, Truncated};
use super::error::NX_VENDOR_ID;
use super::msg::{Kind, Message, finish, port_to_of10, start};
use super::oxm::{self, Flavor};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::Action;
use crate::flow_mod::FlowModFlags;
use crate::normalize::normalize_for;
use crate::protocol::Protocol;
use crate::types::{Cookie, GroupId, PortNo, TableId};

/// `OFPST_DESC` / `OFPMP_DESC`.
const ST_DESC: u16 = 0;
/// `OFPST_FLOW` / `OFPMP_FLOW`.
const ST_FLOW: u16 = 1;
/// `OFPST_AGGREGATE` / `OFPMP_AGGREGATE`.
const ST_AGGREGATE: u16 = 2;
/// `OFPST_VENDOR` / `OFPMP_EXPERIMENTER`.
const ST_VENDOR: u16 = 0xffff;
/// `NXST_FLOW`.
const NXST_FLOW: u32 = 0;
/// `NXST_AGGREGATE`.
const NXST_AGGREGATE: u32 = 1;
/// `OFPSF_REPLY_MORE`.
const REPLY_MORE: u16 = 1;
/// The largest OpenFlow message.
const MAX_MSG: usize = 65535;
/// The OXM header of `packet_type` (class 0x8000, field 44, 4 bytes).
const OXM_PACKET_TYPE: u32 = 0x8000_5804;

/// A flow or aggregate statistics request: which flows to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// One table, or `None` for all of them.
    pub table: Option<TableId>,
    /// Only flows that output to this port ([`PortNo::ANY`] = no restriction).
    pub out_port: PortNo,
    /// Only flows that use this group (OpenFlow 1.1+; [`GroupId::ANY`] = no restriction).
    pub out_group: GroupId,
    /// Only flows whose cookie equals this under `cookie_mask`.
    pub cookie: Cookie,
    /// Which cookie bits must match (0 = any cookie).
    pub cookie_mask: Cookie,
    /// Only flows this match covers (loose, as `dump-flows` filters).
    pub r#match: Match,
    /// Only flows that match this packet type (`packet_type`, OpenFlow 1.5's OXM field, which
    /// Open vSwitch also reads in NXM and OpenFlow 1.2–1.4 requests). `ovs-ofctl` sends
    /// `Some(0)`, Ethernet, when a filter names a field whose prerequisites it lacks
    /// (`in_port=1,tcp_dst=80`): that field is left out of the request, and the packet type
    /// keeps the flows that say nothing of the Ethernet frame out of the reply.
    pub packet_type: Option<u32>,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        Self {
            table: None,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            cookie: Cookie(0),
            cookie_mask: Cookie::ANY,
            r#match: Match::default(),
            packet_type: None,
        }
    }
}

/// One flow in a flow statistics reply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowStats {
    /// The flow's table.
    pub table: TableId,
    /// Whole seconds since the flow was added.
    pub duration_sec: u32,
    /// The nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Eviction importance (carried by OpenFlow 1.4+).
    pub importance: u16,
    /// Flow-mod flags (carried by OpenFlow 1.3+).
    pub flags: FlowModFlags,
    /// Cookie.
    pub cookie: Cookie,
    /// Packets that hit the flow.
    pub packet_count: u64,
    /// Bytes of those packets.
    pub byte_count: u64,
    /// Seconds since a packet last hit the flow (Nicira only; `None` = unknown).
    pub idle_age: Option<u16>,
    /// Seconds since the flow was last added or modified (Nicira only; `None` = unknown).
    pub hard_age: Option<u16>,
    /// The match.
    pub r#match: Match,
    /// Actions and instructions.
    pub actions: Vec<Action>,
}

/// A flow statistics reply (one message's worth when decoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowStatsReply {
    /// More replies follow for the same request.
    pub more: bool,
    /// The flows.
    pub flows: Vec<FlowStats>,
}

/// An aggregate statistics reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AggregateStats {
    /// Packets of all selected flows.
    pub packet_count: u64,
    /// Bytes of all selected flows.
    pub byte_count: u64,
    /// How many flows were selected.
    pub flow_count: u32,
}

/// A description statistics reply (`dump-desc`). Each string is cut to its wire field's size
/// less the terminating NUL (255 bytes, 31 for the serial number).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DescStats {
    /// Manufacturer.
    pub mfr_desc: String,
    /// Hardware.
    pub hw_desc: String,
    /// Software.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// The datapath's own description.
    pub dp_desc: String,
}

const DESC_STR_LEN: usize = 256;
const SERIAL_NUM_LEN: usize = 32;

/// Which of the three flow encodings `protocol` selects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Of10,
    Nx,
    Oxm,
    /// OpenFlow 1.5: OXM matches, statistics as OXS fields.
    Oxs,
}

fn form(protocol: Protocol) -> Result<Form, EncodeError> {
    match protocol {
        Protocol::Of10Std | Protocol::Of10StdTid => Ok(Form::Of10),
        Protocol::Of10Nxm | Protocol::Of10NxmTid => Ok(Form::Nx),
        Protocol::Of12 | Protocol::Of13 | Protocol::Of14 => Ok(Form::Oxm),
        Protocol::Of15 => Ok(Form::Oxs),
        // OpenFlow 1.1's ofp11_match is not encoded yet.
        Protocol::Of11 => Err(EncodeError::Message {
            message: "flow statistics",
            version: Version::of(protocol),
        }),
    }
}

/// Starts a stats message: header, stats type, flags (and 1.1+'s padding); for a Nicira
/// stats message also the vendor id, subtype and padding.
pub(crate) fn start_stats(
    v: Version,
    request: bool,
    stat: u16,
    nx_subtype: Option<u32>,
    more: bool,
    xid: u32,
) -> Vec<u8> {
    let kind = if request {
        Kind::StatsRequest
    } else {
        Kind::StatsReply
    };
    let mut b = start(v, kind.wire_type(v).unwrap_or(0), xid);
    b.put_u16(stat);
    b.put_u16(if more { REPLY_MORE } else { 0 });
    if v != Version::Of10 {
        b.put_zeros(4);
    }
    if let Some(sub) = nx_subtype {
        b.put_u32(NX_VENDOR_ID);
        b.put_u32(sub);
        // OpenFlow 1.0's Nicira stats header pads to 24 bytes; 1.1+'s is 24 already.
        if v == Version::Of10 {
            b.put_zeros(4);
        }
    }
    b
}

/// Encodes the statistics messages of [`Message`]; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let v = Version::of(protocol);
    Some(match msg {
        Message::DescStatsRequest => finish(start_stats(v, true, ST_DESC, None, false, xid)),
        Message::DescStatsReply(d) => {
            let mut b = start_stats(v, false, ST_DESC, None, false, xid);
            put_str(&mut b, &d.mfr_desc, DESC_STR_LEN);
            put_str(&mut b, &d.hw_desc, DESC_STR_LEN);
            put_str(&mut b, &d.sw_desc, DESC_STR_LEN);
            put_str(&mut b, &d.serial_num, SERIAL_NUM_LEN);
            put_str(&mut b, &d.dp_desc, DESC_STR_LEN);
            finish(b)
        }
        Message::FlowStatsRequest(r) => encode_request(r, protocol, false, xid),
        Message::AggregateStatsRequest(r) => encode_request(r, protocol, true, xid),
        Message::FlowStatsReply(r) => encode_reply_part(&r.flows, r.more, protocol, xid),
        Message::AggregateStatsReply(a) => form(protocol).and_then(|f| {
            let mut b = match f {
                Form::Nx => start_stats(v, false, ST_VENDOR, Some(NXST_AGGREGATE), false, xid),
                _ => start_stats(v, false, ST_AGGREGATE, None, false, xid),
            };
            if f == Form::Oxs {
                put_oxs(
                    &mut b,
                    &[
                        Oxs::PacketCount(a.packet_count),
                        Oxs::ByteCount(a.byte_count),
                        Oxs::FlowCount(a.flow_count),
                    ],
                );
            } else {
                b.put_u64(a.packet_count);
                b.put_u64(a.byte_count);
                b.put_u32(a.flow_count);
                b.put_zeros(4);
            }
            finish(b)
        }),
        _ => return None,
    })
}

fn put_str(b: &mut Vec<u8>, s: &str, len: usize) {
    let mut field = vec![0u8; len];
    let n = s.len().min(len - 1);
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
    b.extend_from_slice(&field);
}

fn encode_request(
    r: &FlowStatsRequest,
    protocol: Protocol,
    aggregate: bool,
    xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    let table = r.table.map_or(TableId::ALL_RAW, |t| t.0);
    let mut b;
    match form(protocol)? {
        Form::Of10 => {
            let stat = if aggregate { ST_AGGREGATE } else { ST_FLOW };
            b = start_stats(v, true, stat, None, false, xid);
            super::of10::put_match(&mut b, &r.r#match);
            b.put_u8(table);
            b.put_u8(0);
            b.put_u16(port_to_of10(r.out_port));
        }
        Form::Nx => {
            let sub = if aggregate { NXST_AGGREGATE } else { NXST_FLOW };
            b = start_stats(v, true, ST_VENDOR, Some(sub), false, xid);
            b.put_u16(port_to_of10(r.out_port));
            let len_at = b.len();
            b.put_u16(0);
            b.put_u8(table);
            b.put_zeros(3);
            let m_start = b.len();
            // Open vSwitch puts the packet type first.
            if let Some(pt) = r.packet_type {
                b.put_u32(OXM_PACKET_TYPE);
                b.put_u32(pt);
            }
            oxm::put_match(&mut b, &r.r#match, Flavor::Nxm)?;
            if r.cookie_mask.0 != 0 {
                super::flow::put_nx_cookie(&mut b, r.cookie, r.cookie_mask);
            }
            let m_len = b.len() - m_start;
            b.set_u16(len_at, m_len as u16);
            b.put_zeros(m_len.next_multiple_of(8) - m_len);
        }
        Form::Oxm | Form::Oxs => {
            let stat = if aggregate { ST_AGGREGATE } else { ST_FLOW };
            b = start_stats(v, true, stat, None, false, xid);
            b.put_u8(table);
            b.put_zeros(3);
            b.put_u32(r.out_port.0);
            b.put_u32(r.out_group.0);
            b.put_zeros(4);
            b.put_u64(r.cookie.0);
            b.put_u64(r.cookie_mask.0);
            match r.packet_type {
                None => oxm::put_ofp_match(&mut b, &r.r#match, v)?,
                // ofp_match by hand, to put the packet type first as Open vSwitch does.
                Some(pt) => {
                    let start = b.len();
                    b.put_u16(1);
                    b.put_u16(0);
                    b.put_u32(OXM_PACKET_TYPE);
                    b.put_u32(pt);
                    oxm::put_match(&mut b, &r.r#match, Flavor::Oxm(v))?;
                    let len = b.len() - start;
                    b.set_u16(start + 2, len as u16);
                    b.put_zeros(len.next_multiple_of(8) - len);
                }
            }
        }
    }
    finish(b)
}

/// Appends one flow's entry in `form`.
fn put_flow(
    b: &mut Vec<u8>,
    f: &FlowStats,
    form: Form,
    protocol: Protocol,
) -> Result<(), EncodeError> {
    let v = Version::of(protocol);
    let actions = normalize_for(&f.actions, &f.r#match, protocol);
    let start_at = b.len();
    b.put_u16(0); // length, below
    b.put_u8(f.table.0);
    b.put_u8(0);
    match form {
        Form::Of10 => {
            super::of10::put_match(b, &f.r#match);
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            b.put_zeros(6);
            b.put_u64(f.cookie.0);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            super::of13::put_actions(b, &actions, v)?;
        }
        Form::Nx => {
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            let len_at = b.len();
            b.put_u16(0); // match_len, below
            let age = |a: Option<u16>| a.map_or(0, |a| a.saturating_add(1));
            b.put_u16(age(f.idle_age));
            b.put_u16(age(f.hard_age));
            b.put_u64(f.cookie.0);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            let m_start = b.len();
            oxm::put_match(b, &f.r#match, Flavor::Nxm)?;
            let m_len = b.len() - m_start;
            b.set_u16(len_at, m_len as u16);
            b.put_zeros(m_len.next_multiple_of(8) - m_len);
            super::of13::put_actions(b, &actions, v)?;
        }
        Form::Oxs => {
            // OpenFlow 1.5 has two bytes of padding after the length, then the table and the
            // removal reason (0 in statistics).
            if let Some(byte) = b.get_mut(start_at + 2) {
                *byte = 0;
            }
            b.put_u8(f.table.0);
            b.put_u8(0);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            b.put_u16(flags_bits(&f.flags));
            b.put_u16(f.importance);
            b.put_u64(f.cookie.0);
            oxm::put_ofp_match(b, &f.r#match, v)?;
            let mut stats = vec![Oxs::Duration(f.duration_sec, f.duration_nsec)];
            if let Some(age) = f.idle_age {
                stats.push(Oxs::IdleTime(u32::from(age), 0));
            }
            stats.extend([
                Oxs::PacketCount(f.packet_count),
                Oxs::ByteCount(f.byte_count),
            ]);
            put_oxs(b, &stats);
            super::of13::put_instructions(b, &actions, v)?;
        }
        Form::Oxm => {
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            b.put_u16(if v >= Version::Of13 {
                flags_bits(&f.flags)
            } else {
                0
            });
            b.put_u16(if v >= Version::Of14 { f.importance } else { 0 });
            b.put_zeros(2);
            b.put_u64(f.cookie.0);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            oxm::put_ofp_match(b, &f.r#match, v)?;
            super::of13::put_instructions(b, &actions, v)?;
        }
    }
    let len = b.len() - start_at;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(start_at, len16);
    Ok(())
}

fn flags_bits(f: &FlowModFlags) -> u16 {
    u16::from(f.send_flow_rem)
        | u16::from(f.check_overlap) << 1
        | u16::from(f.reset_counts) << 2
        | u16::from(f.no_packet_counts) << 3
        | u16::from(f.no_byte_counts) << 4
}

fn flags_from(bits: u16) -> FlowModFlags {
    FlowModFlags {
        send_flow_rem: bits & 1 != 0,
        check_overlap: bits & 2 != 0,
        reset_counts: bits & 4 != 0,
        no_packet_counts: bits & 8 != 0,
        no_byte_counts: bits & 16 != 0,
    }
}

fn reply_start(protocol: Protocol, f: Form, more: bool, xid: u32) -> Vec<u8> {
    let v = Version::of(protocol);
    match f {
        Form::Nx => start_stats(v, false, ST_VENDOR, Some(NXST_FLOW), more, xid),
        _ => start_stats(v, false, ST_FLOW, None, more, xid),
    }
}

fn encode_reply_part(
    flows: &[FlowStats],
    more: bool,
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    let f = form(protocol)?;
    let mut b = reply_start(protocol, f, more, xid);
    for flow in flows {
        put_flow(&mut b, flow, f, protocol)?;
    }
    finish(b)
}

/// Encodes a whole flow statistics reply as as many messages as it takes, each at most 65535
/// bytes, all but the last flagged "more". An empty reply is one message with no flows.
pub fn encode_flow_stats_reply(
    flows: &[FlowStats],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let f = form(protocol)?;
    let mut out = Vec::new();
    let mut b = reply_start(protocol, f, false, xid);
    let header_len = b.len();
    for flow in flows {
        let mut entry = Vec::new();
        put_flow(&mut entry, flow, f, protocol)?;
        if header_len + entry.len() > MAX_MSG {
            return Err(EncodeError::TooLong(header_len + entry.len()));
        }
        if b.len() + entry.len() > MAX_MSG {
            let full = std::mem::replace(&mut b, reply_start(protocol, f, false, xid));
            out.push(full);
        }
        b.extend_from_slice(&entry);
    }
    out.push(b);
    let last = out.len() - 1;
    let flags_at = super::HEADER_LEN + 2;
    out.into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            if i != last {
                m.set_u16(flags_at, REPLY_MORE);
            }
            finish(m)
        })
        .collect()
}

fn t(what: &'static str) -> impl Fn(Truncated) -> DecodeError {
    move |_| DecodeError::new(OfpError::BadLen, format!("{what} is truncated"))
}

/// The subtype of a Nicira vendor statistic whose body starts at `r` (vendor id, then
/// subtype), read without consuming anything; `None` for another vendor's or a short body.
fn peek_nicira_subtype(mut r: Reader<'_>) -> Option<u32> {
    if r.u32().ok()? != NX_VENDOR_ID {
        return None;
    }
    r.u32().ok()
}

/// Decodes a stats request or reply body (after the OpenFlow header).
pub(super) fn decode(v: Version, request: bool, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let th = t("stats header");
    let stat = r.u16().map_err(&th)?;
    let flags = r.u16().map_err(&th)?;
    if v != Version::Of10 {
        r.skip(4).map_err(&th)?;
    }
    let more = flags & REPLY_MORE != 0;
    match (stat, request) {
        (ST_DESC, true) => Ok(Message::DescStatsRequest),
        (ST_DESC, false) => decode_desc(r),
        // OpenFlow 1.1 carries Nicira's flow monitors (as Open vSwitch sends them), and no
        // other flow statistics.
        (ST_VENDOR, _)
            if v == Version::Of11
                && peek_nicira_subtype(r) == Some(super::flow_monitor::NXST_FLOW_MONITOR) =>
        {
            r.skip(8).map_err(&th)?;
            super::flow_monitor::decode_stats(v, request, more, r)
        }
        // So does its group features request (Nicira's, as ovs-ofctl sends it).
        (ST_VENDOR, _)
            if v == Version::Of11
                && peek_nicira_subtype(r) == Some(super::table::NXST_GROUP_FEATURES) =>
        {
            r.skip(8).map_err(&th)?;
            super::table::decode_group_features(request, r)
        }
        (ST_FLOW | ST_AGGREGATE, _) | (ST_VENDOR, _) if v == Version::Of11 => Err(
            DecodeError::new(OfpError::BadStat, "OpenFlow 1.1 flow statistics"),
        ),
        (ST_FLOW, true) | (ST_AGGREGATE, true) => {
            let req = if v == Version::Of10 {
                decode_of10_request(&mut r)?
            } else {
                decode_oxm_request(&mut r)?
            };
            Ok(if stat == ST_FLOW {
                Message::FlowStatsRequest(Box::new(req))
            } else {
                Message::AggregateStatsRequest(Box::new(req))
            })
        }
        (ST_AGGREGATE, false) if v == Version::Of15 => {
            let mut a = AggregateStats::default();
            for x in pull_oxs(&mut r)? {
                match x {
                    Oxs::PacketCount(n) => a.packet_count = n,
                    Oxs::ByteCount(n) => a.byte_count = n,
                    Oxs::FlowCount(n) => a.flow_count = n,
                    Oxs::Duration(..) | Oxs::IdleTime(..) => {}
                }
            }
            Ok(Message::AggregateStatsReply(a))
        }
        (ST_AGGREGATE, false) => Ok(Message::AggregateStatsReply(decode_aggregate(&mut r)?)),
        (ST_FLOW, false) => {
            let form = match v {
                Version::Of10 => Form::Of10,
                Version::Of15 => Form::Oxs,
                _ => Form::Oxm,
            };
            decode_flows(v, form, more, r)
        }
        (ST_VENDOR, _) => {
            let vendor = r.u32().map_err(&th)?;
            if vendor == super::error::ONF_VENDOR_ID {
                let exp_type = r.u32().map_err(&th)?;
                if exp_type == super::flow_monitor::ONF_MONITOR {
                    return super::flow_monitor::decode_onf_stats(v, request, more, r);
                }
                return Err(DecodeError::new(
                    OfpError::BadSubtype,
                    format!("ONF multipart type {exp_type}"),
                ));
            }
            if vendor != NX_VENDOR_ID {
                return Err(DecodeError::new(
                    OfpError::BadVendor,
                    format!("stats vendor {vendor:#x}"),
                ));
            }
            let sub = r.u32().map_err(&th)?;
            if v == Version::Of10 {
                r.skip(4).map_err(&th)?;
            }
            match (sub, request) {
                (NXST_FLOW | NXST_AGGREGATE, true) => {
                    let req = decode_nx_request(&mut r)?;
                    Ok(if sub == NXST_FLOW {
                        Message::FlowStatsRequest(Box::new(req))
                    } else {
                        Message::AggregateStatsRequest(Box::new(req))
                    })
                }
                (NXST_FLOW, false) => decode_flows(v, Form::Nx, more, r),
                (super::flow_monitor::NXST_FLOW_MONITOR, _) => {
                    super::flow_monitor::decode_stats(v, request, more, r)
                }
                (NXST_AGGREGATE, false) => {
                    Ok(Message::AggregateStatsReply(decode_aggregate(&mut r)?))
                }
                (super::table::NXST_GROUP_FEATURES, _) if v < Version::Of12 => {
                    super::table::decode_group_features(request, r)
                }
                (super::group::NXST_GROUP, _) if v == Version::Of10 => {
                    super::group::decode_stats(v, request, super::group::ST_GROUP, r)
                }
                (super::group::NXST_GROUP_DESC, _) if v == Version::Of10 => {
                    super::group::decode_stats(v, request, super::group::ST_GROUP_DESC, r)
                }
                _ => Err(DecodeError::new(
                    OfpError::BadSubtype,
                    format!("Nicira stats subtype {sub}"),
                )),
            }
        }
        (super::group::ST_GROUP | super::group::ST_GROUP_DESC, _) if v >= Version::Of11 => {
            super::group::decode_stats(v, request, stat, r)
        }
        (super::meter::ST_METER | super::meter::ST_METER_CONFIG, _) if v >= Version::Of13 => {
            super::meter::decode_stats(request, stat, r)
        }
        (super::flow_monitor::MP_FLOW_MONITOR, _) if v >= Version::Of14 => {
            super::flow_monitor::decode_mp(v, request, more, r)
        }
        _ => super::port::decode_stats(v, request, stat, more, r)
            .or_else(|| super::table::decode_stats(v, request, stat, more, r))
            .unwrap_or_else(|| {
                Err(DecodeError::new(
                    OfpError::BadStat,
                    format!("statistics type {stat}"),
                ))
            }),
    }
}

fn get_str(r: &mut Reader<'_>, len: usize) -> Result<String, Truncated> {
    let raw = r.bytes(len)?;
    let end = raw.iter().position(|c| *c == 0).unwrap_or(len);
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}

fn decode_desc(mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let tr = t("description statistics");
    Ok(Message::DescStatsReply(Box::new(DescStats {
        mfr_desc: get_str(&mut r, DESC_STR_LEN).map_err(&tr)?,
        hw_desc: get_str(&mut r, DESC_STR_LEN).map_err(&tr)?,
        sw_desc: get_str(&mut r, DESC_STR_LEN).map_err(&tr)?,
        serial_num: get_str(&mut r, SERIAL_NUM_LEN).map_err(&tr)?,
        dp_desc: get_str(&mut r, DESC_STR_LEN).map_err(&tr)?,
    })))
}

fn decode_aggregate(r: &mut Reader<'_>) -> Result<AggregateStats, DecodeError> {
    let tr = t("aggregate statistics");
    let a = AggregateStats {
        packet_count: r.u64().map_err(&tr)?,
        byte_count: r.u64().map_err(&tr)?,
        flow_count: r.u32().map_err(&tr)?,
    };
    r.skip(4).map_err(&tr)?;
    Ok(a)
}

fn table_from(raw: u8) -> Option<TableId> {
    (raw != TableId::ALL_RAW).then_some(TableId(raw))
}

fn decode_of10_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, DecodeError> {
    let tr = t("flow statistics request");
    let m = super::of10::pull_match(r)?;
    let table = r.u8().map_err(&tr)?;
    r.skip(1).map_err(&tr)?;
    let out_port = PortNo::from_of10(r.u16().map_err(&tr)?);
    Ok(FlowStatsRequest {
        table: table_from(table),
        out_port,
        r#match: m,
        ..FlowStatsRequest::default()
    })
}

fn decode_nx_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, DecodeError> {
    let tr = t("Nicira flow statistics request");
    let out_port = PortNo::from_of10(r.u16().map_err(&tr)?);
    let match_len = usize::from(r.u16().map_err(&tr)?);
    let table = r.u8().map_err(&tr)?;
    r.skip(3).map_err(&tr)?;
    let tlvs = r.bytes(match_len).map_err(&tr)?;
    let (tlvs, cookie) = super::flow::split_cookie(tlvs)?;
    let (tlvs, packet_type) = split_packet_type(&tlvs)?;
    let mut req = FlowStatsRequest {
        table: table_from(table),
        out_port,
        r#match: oxm::pull_match(&tlvs)?,
        packet_type,
        ..FlowStatsRequest::default()
    };
    if let Some((c, m)) = cookie {
        req.cookie = Cookie(c);
        req.cookie_mask = Cookie(m);
    }
    Ok(req)
}

fn decode_oxm_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, DecodeError> {
    let tr = t("flow statistics request");
    let table = r.u8().map_err(&tr)?;
    r.skip(3).map_err(&tr)?;
    let out_port = PortNo(r.u32().map_err(&tr)?);
    let out_group = GroupId(r.u32().map_err(&tr)?);
    r.skip(4).map_err(&tr)?;
    let cookie = Cookie(r.u64().map_err(&tr)?);
    let cookie_mask = Cookie(r.u64().map_err(&tr)?);
    // The ofp_match read here rather than by the OXM decoder, to take the packet type out.
    let tm = |_| DecodeError::new(OfpError::MatchBadLen, "ofp_match is truncated");
    let ty = r.peek_u16(0).map_err(tm)?;
    let len = usize::from(r.peek_u16(2).map_err(tm)?);
    if ty != 1 {
        return Err(DecodeError::new(
            OfpError::MatchBadType,
            format!("match type {ty} (only OXM is supported)"),
        ));
    }
    if len < 4 {
        return Err(DecodeError::new(
            OfpError::MatchBadLen,
            "ofp_match length below 4",
        ));
    }
    let mut whole = r.take(len.next_multiple_of(8)).map_err(tm)?;
    whole.skip(4).map_err(tm)?;
    let (tlvs, packet_type) = split_packet_type(whole.bytes(len - 4).map_err(tm)?)?;
    Ok(FlowStatsRequest {
        table: table_from(table),
        out_port,
        out_group,
        cookie,
        cookie_mask,
        r#match: oxm::pull_match(&tlvs)?,
        packet_type,
    })
}

/// Takes the `packet_type` entry out of a match's TLVs: the rest, and its value.
fn split_packet_type(tlvs: &[u8]) -> Result<(Vec<u8>, Option<u32>), DecodeError> {
    let mut rest = Vec::with_capacity(tlvs.len());
    let mut packet_type = None;
    let mut r = Reader::new(tlvs);
    let bad = |_| DecodeError::new(OfpError::MatchBadLen, "match entry is truncated");
    while !r.is_empty() {
        let header =
            u32::from(r.peek_u16(0).map_err(bad)?) << 16 | u32::from(r.peek_u16(2).map_err(bad)?);
        let len = (header & 0xff) as usize;
        // An experimenter header's id is part of its payload length.
        let mut whole = r.take(4 + len).map_err(bad)?;
        if header == OXM_PACKET_TYPE {
            whole.skip(4).map_err(bad)?;
            if packet_type.is_some() {
                return Err(DecodeError::new(
                    OfpError::MatchDupField,
                    "packet_type appears twice",
                ));
            }
            packet_type = Some(whole.u32().map_err(bad)?);
        } else {
            rest.extend_from_slice(whole.rest());
        }
    }
    Ok((rest, packet_type))
}

fn decode_flows(
    v: Version,
    form: Form,
    more: bool,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    let tr = t("flow statistics entry");
    let mut flows = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.peek_u16(0).map_err(&tr)?);
        if len < 4 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("flow statistics entry length {len}"),
            ));
        }
        let mut e = r.take(len).map_err(&tr)?;
        e.skip(2).map_err(&tr)?;
        let mut f = FlowStats {
            table: TableId(e.u8().map_err(&tr)?),
            ..FlowStats::default()
        };
        e.skip(1).map_err(&tr)?;
        match form {
            Form::Of10 => {
                f.r#match = super::of10::pull_match(&mut e)?;
                f.duration_sec = e.u32().map_err(&tr)?;
                f.duration_nsec = e.u32().map_err(&tr)?;
                f.priority = e.u16().map_err(&tr)?;
                f.idle_timeout = e.u16().map_err(&tr)?;
                f.hard_timeout = e.u16().map_err(&tr)?;
                e.skip(6).map_err(&tr)?;
                f.cookie = Cookie(e.u64().map_err(&tr)?);
                f.packet_count = e.u64().map_err(&tr)?;
                f.byte_count = e.u64().map_err(&tr)?;
                f.actions = super::of13::pull_actions(e.rest(), v)?;
            }
            Form::Nx => {
                f.duration_sec = e.u32().map_err(&tr)?;
                f.duration_nsec = e.u32().map_err(&tr)?;
                f.priority = e.u16().map_err(&tr)?;
                f.idle_timeout = e.u16().map_err(&tr)?;
                f.hard_timeout = e.u16().map_err(&tr)?;
                let match_len = usize::from(e.u16().map_err(&tr)?);
                f.idle_age = e.u16().map_err(&tr)?.checked_sub(1);
                f.hard_age = e.u16().map_err(&tr)?.checked_sub(1);
                f.cookie = Cookie(e.u64().map_err(&tr)?);
                f.packet_count = e.u64().map_err(&tr)?;
                f.byte_count = e.u64().map_err(&tr)?;
                let mut m = e.take(match_len.next_multiple_of(8)).map_err(&tr)?;
                f.r#match = oxm::pull_match(m.bytes(match_len).map_err(&tr)?)?;
                f.actions = super::of13::pull_actions(e.rest(), v)?;
            }
            Form::Oxs => {
                f.table = TableId(e.u8().map_err(&tr)?);
                e.skip(1).map_err(&tr)?;
                f.priority = e.u16().map_err(&tr)?;
                f.idle_timeout = e.u16().map_err(&tr)?;
                f.hard_timeout = e.u16().map_err(&tr)?;
                f.flags = flags_from(e.u16().map_err(&tr)?);
                f.importance = e.u16().map_err(&tr)?;
                f.cookie = Cookie(e.u64().map_err(&tr)?);
                f.r#match = oxm::pull_ofp_match(&mut e)?;
                for x in pull_oxs(&mut e)? {
                    match x {
                        Oxs::Duration(sec, nsec) => (f.duration_sec, f.duration_nsec) = (sec, nsec),
                        Oxs::IdleTime(sec, _) => {
                            f.idle_age = Some(u16::try_from(sec).unwrap_or(u16::MAX - 1));
                        }
                        Oxs::PacketCount(n) => f.packet_count = n,
                        Oxs::ByteCount(n) => f.byte_count = n,
                        Oxs::FlowCount(_) => {}
                    }
                }
                f.actions = super::of13::pull_instructions(e.rest(), v)?;
            }
            Form::Oxm => {
                f.duration_sec = e.u32().map_err(&tr)?;
                f.duration_nsec = e.u32().map_err(&tr)?;
                f.priority = e.u16().map_err(&tr)?;
                f.idle_timeout = e.u16().map_err(&tr)?;
                f.hard_timeout = e.u16().map_err(&tr)?;
                let flags = e.u16().map_err(&tr)?;
                let importance = e.u16().map_err(&tr)?;
                if v >= Version::Of13 {
                    f.flags = flags_from(flags);
                }
                if v >= Version::Of14 {
                    f.importance = importance;
                }
                e.skip(2).map_err(&tr)?;
                f.cookie = Cookie(e.u64().map_err(&tr)?);
                f.packet_count = e.u64().map_err(&tr)?;
                f.byte_count = e.u64().map_err(&tr)?;
                f.r#match = oxm::pull_ofp_match(&mut e)?;
                f.actions = super::of13::pull_instructions(e.rest(), v)?;
            }
        }
        flows.push(f);
    }
    Ok(Message::FlowStatsReply(FlowStatsReply { more, flows }))
}

/// One OpenFlow 1.5 statistic (`OXS_OF_*`, class 0x8002).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Oxs {
    /// Seconds and nanoseconds since the flow was added.
    Duration(u32, u32),
    /// Seconds and nanoseconds since a packet last hit the flow.
    IdleTime(u32, u32),
    /// Flows counted (aggregate statistics).
    FlowCount(u32),
    /// Packets.
    PacketCount(u64),
    /// Bytes.
    ByteCount(u64),
}

/// The OXS class of the basic statistics.
const OXS_BASIC: u16 = 0x8002;

/// Writes an `ofp_stats`: reserved, length (without padding), the OXS entries, padding to 8.
fn put_oxs(b: &mut Vec<u8>, stats: &[Oxs]) {
    let start = b.len();
    b.put_u16(0);
    b.put_u16(0); // length, below
    for x in stats {
        let (field, len) = match x {
            Oxs::Duration(..) => (0u16, 8u16),
            Oxs::IdleTime(..) => (1, 8),
            Oxs::FlowCount(_) => (3, 4),
            Oxs::PacketCount(_) => (4, 8),
            Oxs::ByteCount(_) => (5, 8),
        };
        b.put_u16(OXS_BASIC);
        b.put_u16(field << 9 | len);
        match *x {
            Oxs::Duration(s, n) | Oxs::IdleTime(s, n) => {
                b.put_u32(s);
                b.put_u32(n);
            }
            Oxs::FlowCount(n) => b.put_u32(n),
            Oxs::PacketCount(n) | Oxs::ByteCount(n) => b.put_u64(n),
        }
    }
    let len = b.len() - start;
    b.set_u16(start + 2, len as u16);
    b.put_zeros(len.next_multiple_of(8) - len);
}

/// Reads an `ofp_stats` (and its padding); unknown statistics are skipped.
fn pull_oxs(r: &mut Reader<'_>) -> Result<Vec<Oxs>, DecodeError> {
    let tr = t("OXS statistics");
    let len = usize::from(r.peek_u16(2).map_err(&tr)?);
    if len < 4 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("ofp_stats length {len}"),
        ));
    }
    let mut whole = r.take(len.next_multiple_of(8)).map_err(&tr)?;
    whole.skip(4).map_err(&tr)?;
    let mut body = whole.take(len - 4).map_err(&tr)?;
    let mut out = Vec::new();
    while !body.is_empty() {
        let class = body.u16().map_err(&tr)?;
        let fh = body.u16().map_err(&tr)?;
        let n = usize::from(fh & 0xff);
        let mut v = body.take(n).map_err(&tr)?;
        if class != OXS_BASIC {
            continue;
        }
        let x = match (fh >> 9, n) {
            (0, 8) => Oxs::Duration(v.u32().map_err(&tr)?, v.u32().map_err(&tr)?),
            (1, 8) => Oxs::IdleTime(v.u32().map_err(&tr)?, v.u32().map_err(&tr)?),
            (3, 4) => Oxs::FlowCount(v.u32().map_err(&tr)?),
            (4, 8) => Oxs::PacketCount(v.u64().map_err(&tr)?),
            (5, 8) => Oxs::ByteCount(v.u64().map_err(&tr)?),
            _ => continue,
        };
        out.push(x);
    }
    Ok(out)
}
