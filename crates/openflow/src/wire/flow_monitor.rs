//! Flow monitors: Nicira's `NXST_FLOW_MONITOR` request and reply, the flow update events a
//! switch then sends unasked (in further replies with the request's xid), and the
//! `NXT_FLOW_MONITOR_CANCEL`/`_PAUSED`/`_RESUMED` messages. This is what
//! `ovs-ofctl monitor SWITCH watch:` speaks in OpenFlow 1.0 and 1.2 (Open vSwitch uses the
//! Nicira form up to 1.2, ONF's extension in 1.3 and `OFPMP_FLOW_MONITOR` from 1.4).
//!
//! # Wire shape
//!
//! - A request is a Nicira vendor statistics request whose body is a sequence of 16-byte
//!   monitor records (id, `NXFMF_*` flags, OpenFlow 1.0 out port, match length, table, five
//!   bytes of padding, then the NXM match padded to 8), one per [`FlowMonitorRequest`].
//! - A reply is a Nicira vendor statistics reply whose body is a sequence of updates, each
//!   starting with its length and `NXFME_*` event: a full update (added, deleted, modified)
//!   carries the flow's match (NXM, whatever the version) and, unless the monitor asked
//!   for no actions, its actions; an abbreviated update carries only the xid of the flow-mod
//!   the receiving connection itself sent.
//! - Matches are always NXM and actions always plain action lists (no instructions), also in
//!   OpenFlow 1.2, as Open vSwitch writes them. In 1.2 the Nicira stats header has no
//!   padding after the subtype (it is 24 bytes already), unlike 1.0's.
//!
//! OpenFlow 1.3's ONF form and 1.4's `OFPMP_FLOW_MONITOR` are not encoded yet: encoding a
//! monitor message for OpenFlow 1.1 or 1.3+ fails with [`EncodeError::Message`].

use fvs_flow::Match;

use super::async_msg::FlowRemovedReason;
use super::buf::{Put, Reader, Truncated};
use super::msg::{Message, finish, port_to_of10, start_nx};
use super::oxm::{self, Flavor};
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::Action;
use crate::normalize::normalize_for;
use crate::protocol::Protocol;
use crate::types::{Cookie, PortNo, TableId};

/// `NXST_FLOW_MONITOR`, the Nicira statistics subtype.
pub(crate) const NXST_FLOW_MONITOR: u32 = 2;
/// `NXT_FLOW_MONITOR_CANCEL`.
pub(crate) const NXT_CANCEL: u32 = 21;
/// `NXT_FLOW_MONITOR_PAUSED`.
pub(crate) const NXT_PAUSED: u32 = 22;
/// `NXT_FLOW_MONITOR_RESUMED`.
pub(crate) const NXT_RESUMED: u32 = 23;
/// `OFPST_VENDOR`.
const ST_VENDOR: u16 = 0xffff;
/// The fixed part of a full update.
const FULL_LEN: usize = 24;
/// An abbreviated update's length.
const ABBREV_LEN: usize = 8;

/// A monitor's identity, chosen by the controller, unique per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MonitorId(pub u32);

/// What a monitor reports (`NXFMF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MonitorFlags {
    /// List the matching flows present now, in the request's reply (`NXFMF_INITIAL`).
    pub initial: bool,
    /// Report flows added (`NXFMF_ADD`).
    pub add: bool,
    /// Report flows deleted (`NXFMF_DELETE`).
    pub delete: bool,
    /// Report flows modified (`NXFMF_MODIFY`).
    pub modify: bool,
    /// Include actions in full updates (`NXFMF_ACTIONS`).
    pub actions: bool,
    /// Report this connection's own changes in full rather than abbreviated (`NXFMF_OWN`).
    pub own: bool,
}

impl MonitorFlags {
    /// What `watch:` without options asks for: everything.
    pub const ALL: Self = Self {
        initial: true,
        add: true,
        delete: true,
        modify: true,
        actions: true,
        own: true,
    };

    /// The `NXFMF_*` bits.
    pub fn bits(self) -> u16 {
        u16::from(self.initial)
            | u16::from(self.add) << 1
            | u16::from(self.delete) << 2
            | u16::from(self.modify) << 3
            | u16::from(self.actions) << 4
            | u16::from(self.own) << 5
    }

    /// The flags of `bits`; unknown bits are an error, as Open vSwitch rejects them.
    pub fn from_bits(bits: u16) -> Result<Self, DecodeError> {
        if bits & !0x3f != 0 {
            return Err(DecodeError::new(
                OfpError::BadPacket,
                format!("flow monitor flags {bits:#x}"),
            ));
        }
        let on = |n: u16| bits & (1 << n) != 0;
        Ok(Self {
            initial: on(0),
            add: on(1),
            delete: on(2),
            modify: on(3),
            actions: on(4),
            own: on(5),
        })
    }
}

/// One monitor in a flow monitor request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMonitorRequest {
    /// The monitor's id.
    pub id: MonitorId,
    /// What it reports.
    pub flags: MonitorFlags,
    /// Only flows that output to this port ([`PortNo::ANY`] = no restriction).
    pub out_port: PortNo,
    /// One table, or `None` for all of them.
    pub table: Option<TableId>,
    /// Only flows this match covers (loosely, as a flow statistics request filters).
    pub r#match: Match,
}

/// The kind of a full flow update (`NXFME_ADDED`, `_DELETED`, `_MODIFIED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowUpdateEvent {
    /// A flow was added (also each flow of an initial listing).
    Added,
    /// A flow left its table, for the given reason.
    Deleted(FlowRemovedReason),
    /// A flow's actions (or cookie) changed.
    Modified,
}

/// A full flow update: the flow as it is now (or was, when deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowUpdateFull {
    /// What happened.
    pub event: FlowUpdateEvent,
    /// The flow's table.
    pub table: TableId,
    /// Priority.
    pub priority: u16,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Cookie.
    pub cookie: Cookie,
    /// The match.
    pub r#match: Match,
    /// The actions; `None` when the monitor did not ask for them.
    pub actions: Option<Vec<Action>>,
}

/// One update in a flow monitor reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowUpdate {
    /// A full update.
    Full(Box<FlowUpdateFull>),
    /// "The flow-mod with this xid, which you sent, took effect" (`NXFME_ABBREV`).
    Abbrev {
        /// The xid of the receiving connection's flow-mod.
        xid: u32,
    },
}

/// The flow monitor messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowMonitorMsg {
    /// A request setting up monitors.
    Request(Vec<FlowMonitorRequest>),
    /// A reply: the initial listing, or later updates.
    Reply {
        /// More replies follow (only within the initial listing).
        more: bool,
        /// The updates.
        updates: Vec<FlowUpdate>,
    },
    /// `NXT_FLOW_MONITOR_CANCEL`: the controller ends one monitor.
    Cancel(MonitorId),
    /// `NXT_FLOW_MONITOR_PAUSED`: the switch stopped sending updates (the connection's
    /// queue is too full).
    Paused,
    /// `NXT_FLOW_MONITOR_RESUMED`: the switch sends updates again (after a full re-listing).
    Resumed,
}

/// Encodes a [`Message::FlowMonitor`]; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let Message::FlowMonitor(m) = msg else {
        return None;
    };
    Some(encode_msg(m, protocol, xid))
}

fn encode_msg(m: &FlowMonitorMsg, protocol: Protocol, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    if !matches!(v, Version::Of10 | Version::Of12) {
        return Err(EncodeError::Message {
            message: "flow monitor",
            version: v,
        });
    }
    let b = match m {
        FlowMonitorMsg::Request(reqs) => {
            let mut b = start_stats(v, true, ST_VENDOR, Some(NXST_FLOW_MONITOR), false, xid);
            for r in reqs {
                b.put_u32(r.id.0);
                b.put_u16(r.flags.bits());
                b.put_u16(port_to_of10(r.out_port));
                let len_at = b.len();
                b.put_u16(0);
                b.put_u8(r.table.map_or(TableId::ALL_RAW, |t| t.0));
                b.put_zeros(5);
                put_match_padded(&mut b, &r.r#match, len_at)?;
            }
            b
        }
        FlowMonitorMsg::Reply { more, updates } => {
            let mut b = start_stats(v, false, ST_VENDOR, Some(NXST_FLOW_MONITOR), *more, xid);
            for u in updates {
                put_update(&mut b, u, protocol)?;
            }
            b
        }
        FlowMonitorMsg::Cancel(id) => {
            let mut b = start_nx(v, NXT_CANCEL, xid);
            b.put_u32(id.0);
            b
        }
        FlowMonitorMsg::Paused => start_nx(v, NXT_PAUSED, xid),
        FlowMonitorMsg::Resumed => start_nx(v, NXT_RESUMED, xid),
    };
    finish(b)
}

/// Appends `m` as NXM, writes its length at `len_at`, and pads to 8.
fn put_match_padded(b: &mut Vec<u8>, m: &Match, len_at: usize) -> Result<(), EncodeError> {
    let start = b.len();
    oxm::put_match(b, m, Flavor::Nxm)?;
    let len = b.len() - start;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(len_at, len16);
    b.put_zeros(len.next_multiple_of(8) - len);
    Ok(())
}

/// Appends one update (`nx_flow_update_full` or `nx_flow_update_abbrev`).
fn put_update(b: &mut Vec<u8>, u: &FlowUpdate, protocol: Protocol) -> Result<(), EncodeError> {
    let start = b.len();
    b.put_u16(0); // length, below
    match u {
        FlowUpdate::Abbrev { xid } => {
            b.put_u16(3);
            b.put_u32(*xid);
        }
        FlowUpdate::Full(f) => {
            let (event, reason) = match f.event {
                FlowUpdateEvent::Added => (0, 0),
                FlowUpdateEvent::Deleted(r) => (1, u16::from(r.wire())),
                FlowUpdateEvent::Modified => (2, 0),
            };
            b.put_u16(event);
            b.put_u16(reason);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            let len_at = b.len();
            b.put_u16(0);
            b.put_u8(f.table.0);
            b.put_u8(0);
            b.put_u64(f.cookie.0);
            put_match_padded(b, &f.r#match, len_at)?;
            if let Some(actions) = &f.actions {
                let actions = normalize_for(actions, &f.r#match, protocol);
                super::of13::put_actions(b, &actions, Version::of(protocol))?;
            }
        }
    }
    let len = b.len() - start;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(start, len16);
    Ok(())
}

fn t(what: &'static str) -> impl Fn(Truncated) -> DecodeError {
    move |_| DecodeError::new(OfpError::BadLen, format!("{what} is truncated"))
}

/// Decodes an `NXST_FLOW_MONITOR` body (after the Nicira stats header).
pub(crate) fn decode_stats(
    v: Version,
    request: bool,
    more: bool,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    let m = if request {
        let mut reqs = Vec::new();
        while !r.is_empty() {
            reqs.push(decode_request(&mut r)?);
        }
        FlowMonitorMsg::Request(reqs)
    } else {
        let mut updates = Vec::new();
        while !r.is_empty() {
            updates.push(decode_update(v, &mut r)?);
        }
        FlowMonitorMsg::Reply { more, updates }
    };
    Ok(Message::FlowMonitor(m))
}

fn reason_from(raw: u16) -> Result<FlowRemovedReason, DecodeError> {
    Ok(match raw {
        0 => FlowRemovedReason::IdleTimeout,
        1 => FlowRemovedReason::HardTimeout,
        2 => FlowRemovedReason::Delete,
        3 => FlowRemovedReason::GroupDelete,
        4 => FlowRemovedReason::MeterDelete,
        5 => FlowRemovedReason::Eviction,
        n => {
            return Err(DecodeError::new(
                OfpError::BadPacket,
                format!("flow update reason {n}"),
            ));
        }
    })
}

fn decode_request(r: &mut Reader<'_>) -> Result<FlowMonitorRequest, DecodeError> {
    let tr = t("flow monitor request");
    let id = MonitorId(r.u32().map_err(&tr)?);
    let flags = MonitorFlags::from_bits(r.u16().map_err(&tr)?)?;
    let out_port = PortNo::from_of10(r.u16().map_err(&tr)?);
    let match_len = usize::from(r.u16().map_err(&tr)?);
    let table = r.u8().map_err(&tr)?;
    r.skip(5).map_err(&tr)?;
    let tlvs = r.bytes(match_len).map_err(&tr)?;
    r.skip(match_len.next_multiple_of(8) - match_len)
        .map_err(&tr)?;
    Ok(FlowMonitorRequest {
        id,
        flags,
        out_port,
        table: (table != TableId::ALL_RAW).then_some(TableId(table)),
        r#match: oxm::pull_match(tlvs)?,
    })
}

fn decode_update(v: Version, r: &mut Reader<'_>) -> Result<FlowUpdate, DecodeError> {
    let tr = t("flow update");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    let event = r.peek_u16(2).map_err(&tr)?;
    let min = if event == 3 { ABBREV_LEN } else { FULL_LEN };
    if len < min || len % 8 != 0 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("flow update length {len}"),
        ));
    }
    let mut u = r.take(len).map_err(&tr)?;
    u.skip(4).map_err(&tr)?;
    if event == 3 {
        return Ok(FlowUpdate::Abbrev {
            xid: u.u32().map_err(&tr)?,
        });
    }
    let reason = u.u16().map_err(&tr)?;
    let event = match event {
        0 => FlowUpdateEvent::Added,
        1 => FlowUpdateEvent::Deleted(reason_from(reason)?),
        2 => FlowUpdateEvent::Modified,
        e => {
            return Err(DecodeError::new(
                OfpError::BadPacket,
                format!("flow update event {e}"),
            ));
        }
    };
    let priority = u.u16().map_err(&tr)?;
    let idle_timeout = u.u16().map_err(&tr)?;
    let hard_timeout = u.u16().map_err(&tr)?;
    let match_len = usize::from(u.u16().map_err(&tr)?);
    let table = TableId(u.u8().map_err(&tr)?);
    u.skip(1).map_err(&tr)?;
    let cookie = Cookie(u.u64().map_err(&tr)?);
    let tlvs = u.bytes(match_len).map_err(&tr)?;
    u.skip(match_len.next_multiple_of(8) - match_len)
        .map_err(&tr)?;
    let r#match = oxm::pull_match(tlvs)?;
    // Without NXFMF_ACTIONS the update ends after the match; an empty action list is
    // indistinguishable from that and reads as "no actions" (`actions=drop`) either way.
    let rest = u.rest();
    let actions = if rest.is_empty() {
        None
    } else {
        Some(super::of13::pull_actions(rest, v)?)
    };
    Ok(FlowUpdate::Full(Box::new(FlowUpdateFull {
        event,
        table,
        priority,
        idle_timeout,
        hard_timeout,
        cookie,
        r#match,
        actions,
    })))
}

/// Decodes the body of `NXT_FLOW_MONITOR_CANCEL`/`_PAUSED`/`_RESUMED`.
pub(crate) fn decode_nx(subtype: u32, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    Ok(Message::FlowMonitor(match subtype {
        NXT_CANCEL => FlowMonitorMsg::Cancel(MonitorId(r.u32().map_err(t("flow monitor cancel"))?)),
        NXT_PAUSED => FlowMonitorMsg::Paused,
        _ => FlowMonitorMsg::Resumed,
    }))
}

/// Whether `subtype` is one of the Nicira messages [`decode_nx`] reads.
pub(crate) fn is_nx_subtype(subtype: u32) -> bool {
    matches!(subtype, NXT_CANCEL | NXT_PAUSED | NXT_RESUMED)
}
