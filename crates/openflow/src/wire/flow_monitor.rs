//! Flow monitors: a controller asks to be told of changes to the switch's flow tables, and
//! the switch then sends flow updates unasked. One model ([`FlowMonitorMsg`]); three
//! encodings, the ones Open vSwitch (and `ovs-ofctl monitor SWITCH watch:`) uses:
//!
//! | model | OpenFlow 1.0 to 1.2 (Nicira) | 1.3 (ONF extension) | 1.4, 1.5 |
//! |---|---|---|---|
//! | request, reply | vendor stats `NXST_FLOW_MONITOR` | experimenter multipart `ONFMP_FLOW_MONITOR` (1870) | multipart `OFPMP_FLOW_MONITOR` (16) |
//! | cancel | `NXT_FLOW_MONITOR_CANCEL` | experimenter `ONFT_FLOW_MONITOR_CANCEL` (1870) | a request with command `delete` |
//! | paused, resumed | `NXT_FLOW_MONITOR_PAUSED`/`_RESUMED` | `ONFT_FLOW_MONITOR_PAUSED`/`_RESUMED` (1871, 1872) | a reply whose one update is `PAUSED`/`RESUMED` |
//!
//! # Wire shape
//!
//! - **Requests** are sequences of monitor records. Nicira's: id, `NXFMF_*` flags, 1.0 out
//!   port, match length, table, five bytes of padding, the NXM match padded to 8. ONF's: id,
//!   flags, match length, 32-bit out port, table, three bytes of padding, then an OXM
//!   `ofp_match` (its length is the match length). 1.4's: id, out port, out group, flags,
//!   table, command, `ofp_match`; its flags move `own` to bit 6 (`OFPFMF_ONLY_OWN` in the
//!   spec's names, which Open vSwitch reads as "own"), and bit 5 is refused.
//! - **Replies** are sequences of updates, each starting with its length and event. A full
//!   update carries the flow's priority, timeouts, table, cookie and match and, unless the
//!   monitor asked for no actions, its actions: a plain action list with an NXM match in the
//!   Nicira form (also in 1.2), instructions after an `ofp_match` in the ONF and 1.4 forms.
//!   An abbreviated update carries the xid of the flow-mod the receiving connection itself
//!   sent. Only 1.4 has a separate `INITIAL` event for the listing that answers a request;
//!   the older forms list existing flows as `ADDED`.
//!
//! A large listing is split by [`encode_updates`] over several replies flagged "more".

use fvs_flow::Match;

use super::async_msg::FlowRemovedReason;
use super::buf::{Put, Reader, Truncated};
use super::error::ONF_VENDOR_ID;
use super::msg::{Message, finish, port_to_of10, start, start_nx};
use super::oxm::{self, Flavor};
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::Action;
use crate::normalize::normalize_for;
use crate::protocol::Protocol;
use crate::types::{Cookie, GroupId, PortNo, TableId};

/// `NXST_FLOW_MONITOR`, the Nicira statistics subtype.
pub(crate) const NXST_FLOW_MONITOR: u32 = 2;
/// `NXT_FLOW_MONITOR_CANCEL`.
pub(crate) const NXT_CANCEL: u32 = 21;
/// `NXT_FLOW_MONITOR_PAUSED`.
pub(crate) const NXT_PAUSED: u32 = 22;
/// `NXT_FLOW_MONITOR_RESUMED`.
pub(crate) const NXT_RESUMED: u32 = 23;
/// `ONFMP_FLOW_MONITOR` (experimenter multipart) and `ONFT_FLOW_MONITOR_CANCEL`.
pub(crate) const ONF_MONITOR: u32 = 1870;
/// `ONFT_FLOW_MONITOR_PAUSED`.
pub(crate) const ONFT_PAUSED: u32 = 1871;
/// `ONFT_FLOW_MONITOR_RESUMED`.
pub(crate) const ONFT_RESUMED: u32 = 1872;
/// `OFPMP_FLOW_MONITOR` (OpenFlow 1.4+).
pub(crate) const MP_FLOW_MONITOR: u16 = 16;
/// `OFPST_VENDOR` / `OFPMP_EXPERIMENTER`.
const ST_VENDOR: u16 = 0xffff;
/// `OFPT_VENDOR` / `OFPT_EXPERIMENTER`.
const T_VENDOR: u8 = 4;
/// The fixed part of a full update (every form).
const FULL_LEN: usize = 24;
/// An abbreviated (or 1.4 paused/resumed) update's length.
const SHORT_LEN: usize = 8;
/// The most bytes of updates one reply carries: OpenFlow's 64 kB message limit less the
/// largest multipart header (24 bytes) and some slack.
const REPLY_BODY_MAX: usize = 65535 - 32;

/// Which of the three encodings a version uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Nicira's (OpenFlow 1.0 and 1.2).
    Nx,
    /// ONF's extension (OpenFlow 1.3).
    Onf,
    /// `OFPMP_FLOW_MONITOR` (OpenFlow 1.4+).
    Std,
}

impl Form {
    fn of(v: Version) -> Self {
        match v {
            Version::Of10 | Version::Of11 | Version::Of12 => Self::Nx,
            Version::Of13 => Self::Onf,
            Version::Of14 | Version::Of15 => Self::Std,
        }
    }
}

/// A monitor's identity, chosen by the controller, unique per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MonitorId(pub u32);

/// What a monitor reports (`NXFMF_*`, `OFPFMF_*`).
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

    /// The `NXFMF_*` bits (also ONF's).
    pub fn bits(self) -> u16 {
        u16::from(self.initial)
            | u16::from(self.add) << 1
            | u16::from(self.delete) << 2
            | u16::from(self.modify) << 3
            | u16::from(self.actions) << 4
            | u16::from(self.own) << 5
    }

    /// The `OFPFMF_*` bits of OpenFlow 1.4+: `own` is bit 6 there.
    pub fn bits14(self) -> u16 {
        (self.bits() & 0x1f) | u16::from(self.own) << 6
    }

    /// The flags of `bits`; unknown bits, and flags that ask for no kind of change (add,
    /// delete or modify), are errors, as Open vSwitch rejects them.
    pub fn from_bits(bits: u16) -> Result<Self, DecodeError> {
        if bits & !0x3f != 0 || bits & KINDS == 0 {
            return Err(bad_flags(bits));
        }
        Ok(Self::from_low(bits, bits & 0x20 != 0))
    }

    /// The flags of OpenFlow 1.4+'s `bits` (bit 5, `OFPFMF_NO_ABBREV`, is refused as Open
    /// vSwitch refuses it).
    pub fn from_bits14(bits: u16) -> Result<Self, DecodeError> {
        if bits & !0x5f != 0 || bits & KINDS == 0 {
            return Err(bad_flags(bits));
        }
        Ok(Self::from_low(bits, bits & 0x40 != 0))
    }

    fn from_low(bits: u16, own: bool) -> Self {
        let on = |n: u16| bits & (1 << n) != 0;
        Self {
            initial: on(0),
            add: on(1),
            delete: on(2),
            modify: on(3),
            actions: on(4),
            own,
        }
    }
}

/// The add, delete and modify bits (the same in every form): a monitor asks for one at least.
const KINDS: u16 = 0x0e;

fn bad_flags(bits: u16) -> DecodeError {
    DecodeError::new(
        OfpError::MonitorBadFlags,
        format!("flow monitor flags {bits:#x}"),
    )
}

/// What a monitor record asks of the switch (OpenFlow 1.4's `OFPFMC_*`; the older forms
/// only add).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MonitorCommand {
    /// A new monitor.
    #[default]
    Add,
    /// Replace an existing monitor's settings.
    Modify,
    /// End a monitor (what a cancel is in 1.4).
    Delete,
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
    /// Only flows that output to this group (OpenFlow 1.4+; [`GroupId::ANY`] elsewhere).
    pub out_group: GroupId,
    /// One table, or `None` for all of them.
    pub table: Option<TableId>,
    /// Add, modify or delete (only 1.4+ carries anything but add).
    pub command: MonitorCommand,
    /// Only flows this match covers (loosely, as a flow statistics request filters).
    pub r#match: Match,
}

impl FlowMonitorRequest {
    /// A monitor of every flow with `flags`, as `watch:` asks for it.
    pub fn new(id: MonitorId, flags: MonitorFlags) -> Self {
        Self {
            id,
            flags,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            table: None,
            command: MonitorCommand::Add,
            r#match: Match::CATCHALL,
        }
    }
}

/// The kind of a full flow update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowUpdateEvent {
    /// A flow present when the monitor was set up (1.4's `INITIAL`; `ADDED` before 1.4).
    Initial,
    /// A flow was added.
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
    /// The controller ends one monitor.
    Cancel(MonitorId),
    /// The switch stopped sending updates (the connection's queue is too full).
    Paused,
    /// The switch sends updates again (after a full re-listing).
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

/// Encodes `updates` as as many replies as they need (each below OpenFlow's 64 kB limit),
/// all but the last flagged "more": the listing that answers a request. No updates make one
/// empty reply.
pub fn encode_updates(
    updates: &[FlowUpdate],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    let form = Form::of(v);
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new()];
    for u in updates {
        let mut one = Vec::new();
        put_update(&mut one, u, form, protocol)?;
        let cur = bodies.last_mut().expect("bodies is never empty");
        if !cur.is_empty() && cur.len() + one.len() > REPLY_BODY_MAX {
            bodies.push(one);
        } else {
            cur.extend_from_slice(&one);
        }
    }
    let n = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut b = start_reply(form, v, false, i + 1 < n, xid);
            b.extend_from_slice(&body);
            finish(b)
        })
        .collect()
}

/// Starts a request or reply in `form`.
fn start_reply(form: Form, v: Version, request: bool, more: bool, xid: u32) -> Vec<u8> {
    match form {
        Form::Nx => start_stats(v, request, ST_VENDOR, Some(NXST_FLOW_MONITOR), more, xid),
        Form::Onf => {
            // The experimenter multipart header: like Nicira's 1.1+ stats header, with ONF's
            // id and experimenter type.
            let mut b = start_stats(v, request, ST_VENDOR, None, more, xid);
            b.put_u32(ONF_VENDOR_ID);
            b.put_u32(ONF_MONITOR);
            b
        }
        Form::Std => start_stats(v, request, MP_FLOW_MONITOR, None, more, xid),
    }
}

fn start_onf(v: Version, exp_type: u32, xid: u32) -> Vec<u8> {
    let mut b = start(v, T_VENDOR, xid);
    b.put_u32(ONF_VENDOR_ID);
    b.put_u32(exp_type);
    b
}

fn encode_msg(m: &FlowMonitorMsg, protocol: Protocol, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    let form = Form::of(v);
    let b = match m {
        FlowMonitorMsg::Request(reqs) => {
            let mut b = start_reply(form, v, true, false, xid);
            for r in reqs {
                put_request(&mut b, r, form, v)?;
            }
            b
        }
        FlowMonitorMsg::Reply { more, updates } => {
            let mut b = start_reply(form, v, false, *more, xid);
            for u in updates {
                put_update(&mut b, u, form, protocol)?;
            }
            b
        }
        FlowMonitorMsg::Cancel(id) => match form {
            Form::Nx => {
                let mut b = start_nx(v, NXT_CANCEL, xid);
                b.put_u32(id.0);
                b
            }
            Form::Onf => {
                let mut b = start_onf(v, ONF_MONITOR, xid);
                b.put_u32(id.0);
                b
            }
            Form::Std => {
                let mut r = FlowMonitorRequest::new(*id, MonitorFlags::default());
                r.command = MonitorCommand::Delete;
                let mut b = start_reply(form, v, true, false, xid);
                put_request(&mut b, &r, form, v)?;
                b
            }
        },
        FlowMonitorMsg::Paused | FlowMonitorMsg::Resumed => {
            let paused = matches!(m, FlowMonitorMsg::Paused);
            match form {
                Form::Nx => start_nx(v, if paused { NXT_PAUSED } else { NXT_RESUMED }, xid),
                Form::Onf => start_onf(v, if paused { ONFT_PAUSED } else { ONFT_RESUMED }, xid),
                Form::Std => {
                    let mut b = start_reply(form, v, false, false, xid);
                    b.put_u16(SHORT_LEN as u16);
                    b.put_u16(if paused { 5 } else { 6 });
                    b.put_zeros(4);
                    b
                }
            }
        }
    };
    finish(b)
}

fn put_request(
    b: &mut Vec<u8>,
    r: &FlowMonitorRequest,
    form: Form,
    v: Version,
) -> Result<(), EncodeError> {
    let table = r.table.map_or(TableId::ALL_RAW, |t| t.0);
    match form {
        Form::Nx | Form::Onf if r.command != MonitorCommand::Add => {
            return Err(EncodeError::Message {
                message: "flow monitor modify or delete",
                version: v,
            });
        }
        Form::Nx => {
            b.put_u32(r.id.0);
            b.put_u16(r.flags.bits());
            b.put_u16(port_to_of10(r.out_port));
            let len_at = b.len();
            b.put_u16(0);
            b.put_u8(table);
            b.put_zeros(5);
            put_nxm_padded(b, &r.r#match, len_at)?;
        }
        Form::Onf => {
            b.put_u32(r.id.0);
            b.put_u16(r.flags.bits());
            let len_at = b.len();
            b.put_u16(0);
            b.put_u32(r.out_port.0);
            b.put_u8(table);
            b.put_zeros(3);
            put_ofp_match_len(b, &r.r#match, v, len_at)?;
        }
        Form::Std => {
            b.put_u32(r.id.0);
            b.put_u32(r.out_port.0);
            b.put_u32(r.out_group.0);
            b.put_u16(r.flags.bits14());
            b.put_u8(table);
            b.put_u8(match r.command {
                MonitorCommand::Add => 0,
                MonitorCommand::Modify => 1,
                MonitorCommand::Delete => 2,
            });
            oxm::put_ofp_match(b, &r.r#match, v)?;
        }
    }
    Ok(())
}

/// Appends `m` as NXM, writes its length at `len_at`, and pads to 8.
fn put_nxm_padded(b: &mut Vec<u8>, m: &Match, len_at: usize) -> Result<(), EncodeError> {
    let start = b.len();
    oxm::put_match(b, m, Flavor::Nxm)?;
    let len = b.len() - start;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(len_at, len16);
    b.put_zeros(len.next_multiple_of(8) - len);
    Ok(())
}

/// Appends `m` as an OXM `ofp_match` and copies its length (unpadded) to `len_at`.
fn put_ofp_match_len(
    b: &mut Vec<u8>,
    m: &Match,
    v: Version,
    len_at: usize,
) -> Result<(), EncodeError> {
    let start = b.len();
    oxm::put_ofp_match(b, m, v)?;
    let len = u16::from_be_bytes([b[start + 2], b[start + 3]]);
    b.set_u16(len_at, len);
    Ok(())
}

/// Appends one update in `form`.
fn put_update(
    b: &mut Vec<u8>,
    u: &FlowUpdate,
    form: Form,
    protocol: Protocol,
) -> Result<(), EncodeError> {
    let v = Version::of(protocol);
    let start = b.len();
    b.put_u16(0); // length, below
    match u {
        FlowUpdate::Abbrev { xid } => {
            b.put_u16(if form == Form::Std { 4 } else { 3 });
            b.put_u32(*xid);
        }
        FlowUpdate::Full(f) => {
            let reason = match f.event {
                FlowUpdateEvent::Deleted(r) => r.wire(),
                _ => 0,
            };
            let event = match (form, f.event) {
                (Form::Std, FlowUpdateEvent::Initial) => 0,
                (Form::Std, FlowUpdateEvent::Added) => 1,
                (Form::Std, FlowUpdateEvent::Deleted(_)) => 2,
                (Form::Std, FlowUpdateEvent::Modified) => 3,
                (_, FlowUpdateEvent::Initial | FlowUpdateEvent::Added) => 0,
                (_, FlowUpdateEvent::Deleted(_)) => 1,
                (_, FlowUpdateEvent::Modified) => 2,
            };
            b.put_u16(event);
            if form == Form::Std {
                b.put_u8(f.table.0);
                b.put_u8(reason);
                b.put_u16(f.idle_timeout);
                b.put_u16(f.hard_timeout);
                b.put_u16(f.priority);
                b.put_zeros(4);
                b.put_u64(f.cookie.0);
                oxm::put_ofp_match(b, &f.r#match, v)?;
            } else {
                b.put_u16(u16::from(reason));
                b.put_u16(f.priority);
                b.put_u16(f.idle_timeout);
                b.put_u16(f.hard_timeout);
                let len_at = b.len();
                b.put_u16(0);
                b.put_u8(f.table.0);
                b.put_u8(0);
                b.put_u64(f.cookie.0);
                if form == Form::Nx {
                    put_nxm_padded(b, &f.r#match, len_at)?;
                } else {
                    put_ofp_match_len(b, &f.r#match, v, len_at)?;
                }
            }
            if let Some(actions) = &f.actions {
                let actions = normalize_for(actions, &f.r#match, protocol);
                if form == Form::Nx {
                    super::of13::put_actions(b, &actions, v)?;
                } else {
                    super::of13::put_instructions(b, &actions, v)?;
                }
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

/// The length of the body of `msg` when it is a flow monitor request in any form (Nicira's,
/// ONF's or 1.4's), `None` otherwise. A switch answers errors in such a body differently
/// from errors in its framing, as Open vSwitch does.
pub fn request_body_len(msg: &[u8]) -> Option<usize> {
    let v = Version::from_wire(*msg.first()?)?;
    let at =
        |i: usize| -> Option<u32> { Some(u32::from_be_bytes(msg.get(i..i + 4)?.try_into().ok()?)) };
    let stat = u16::from_be_bytes(msg.get(8..10)?.try_into().ok()?);
    let request_type = if v == Version::Of10 { 16 } else { 18 };
    if *msg.get(1)? != request_type {
        return None;
    }
    let header = match (Form::of(v), stat) {
        (Form::Nx, ST_VENDOR) => {
            let vendor_at = if v == Version::Of10 { 12 } else { 16 };
            (at(vendor_at)? == super::error::NX_VENDOR_ID
                && at(vendor_at + 4)? == NXST_FLOW_MONITOR)
                .then_some(24)?
        }
        (Form::Onf, ST_VENDOR) => {
            (at(16)? == ONF_VENDOR_ID && at(20)? == ONF_MONITOR).then_some(24)?
        }
        (Form::Std, MP_FLOW_MONITOR) => 16,
        _ => return None,
    };
    msg.len().checked_sub(header)
}

/// Decodes an `NXST_FLOW_MONITOR` body (after the Nicira stats header).
pub(crate) fn decode_stats(
    v: Version,
    request: bool,
    more: bool,
    r: Reader<'_>,
) -> Result<Message, DecodeError> {
    decode_body(Form::Nx, v, request, more, r)
}

/// Decodes an `ONFMP_FLOW_MONITOR` body (after the experimenter multipart header).
pub(crate) fn decode_onf_stats(
    v: Version,
    request: bool,
    more: bool,
    r: Reader<'_>,
) -> Result<Message, DecodeError> {
    decode_body(Form::Onf, v, request, more, r)
}

/// Decodes an `OFPMP_FLOW_MONITOR` body (after the multipart header).
pub(crate) fn decode_mp(
    v: Version,
    request: bool,
    more: bool,
    r: Reader<'_>,
) -> Result<Message, DecodeError> {
    decode_body(Form::Std, v, request, more, r)
}

fn decode_body(
    form: Form,
    v: Version,
    request: bool,
    more: bool,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    if Form::of(v) != form {
        return Err(DecodeError::new(
            OfpError::BadStat,
            format!("this flow monitor form in {v}"),
        ));
    }
    // Records and updates are multiples of 8 bytes, and Open vSwitch checks the body's
    // length as a whole before reading any of it.
    if !r.len().is_multiple_of(8) {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("flow monitor body of {} bytes", r.len()),
        ));
    }
    let m = if request {
        let mut reqs = Vec::new();
        while !r.is_empty() {
            reqs.push(decode_request(form, &mut r)?);
        }
        // 1.4's cancel is a request whose one record deletes.
        match reqs.as_slice() {
            [one] if one.command == MonitorCommand::Delete => FlowMonitorMsg::Cancel(one.id),
            _ => FlowMonitorMsg::Request(reqs),
        }
    } else {
        let mut updates = Vec::new();
        let mut control = None;
        while !r.is_empty() {
            match decode_update(form, v, &mut r)? {
                Decoded::Update(u) => updates.push(u),
                Decoded::Control(c) => control = Some(c),
            }
        }
        match control {
            // 1.4's paused and resumed travel alone in a reply.
            Some(c) if updates.is_empty() => c,
            Some(_) => {
                return Err(DecodeError::new(
                    OfpError::MonitorBadEvent,
                    "a paused or resumed event among flow updates",
                ));
            }
            None => FlowMonitorMsg::Reply { more, updates },
        }
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

fn table_from(raw: u8) -> Option<TableId> {
    (raw != TableId::ALL_RAW).then_some(TableId(raw))
}

fn decode_request(form: Form, r: &mut Reader<'_>) -> Result<FlowMonitorRequest, DecodeError> {
    let tr = t("flow monitor request");
    let id = MonitorId(r.u32().map_err(&tr)?);
    let mut req = FlowMonitorRequest::new(id, MonitorFlags::default());
    match form {
        Form::Nx => {
            req.flags = MonitorFlags::from_bits(r.u16().map_err(&tr)?)?;
            req.out_port = PortNo::from_of10(r.u16().map_err(&tr)?);
            let match_len = usize::from(r.u16().map_err(&tr)?);
            req.table = table_from(r.u8().map_err(&tr)?);
            r.skip(5).map_err(&tr)?;
            let tlvs = r.bytes(match_len).map_err(&tr)?;
            r.skip(match_len.next_multiple_of(8) - match_len)
                .map_err(&tr)?;
            req.r#match = oxm::pull_match(tlvs)?;
        }
        Form::Onf => {
            req.flags = MonitorFlags::from_bits(r.u16().map_err(&tr)?)?;
            let _match_len = r.u16().map_err(&tr)?;
            req.out_port = PortNo(r.u32().map_err(&tr)?);
            req.table = table_from(r.u8().map_err(&tr)?);
            r.skip(3).map_err(&tr)?;
            req.r#match = oxm::pull_ofp_match(r)?;
        }
        Form::Std => {
            req.out_port = PortNo(r.u32().map_err(&tr)?);
            req.out_group = GroupId(r.u32().map_err(&tr)?);
            let flags = r.u16().map_err(&tr)?;
            req.table = table_from(r.u8().map_err(&tr)?);
            // Open vSwitch reads a command it does not know as an add.
            req.command = match r.u8().map_err(&tr)? {
                1 => MonitorCommand::Modify,
                2 => MonitorCommand::Delete,
                _ => MonitorCommand::Add,
            };
            // A delete's flags are not looked at.
            if req.command != MonitorCommand::Delete {
                req.flags = MonitorFlags::from_bits14(flags)?;
            }
            req.r#match = oxm::pull_ofp_match(r)?;
        }
    }
    Ok(req)
}

/// One update record: a flow update, or (1.4) a paused/resumed event.
enum Decoded {
    Update(FlowUpdate),
    Control(FlowMonitorMsg),
}

fn decode_update(form: Form, v: Version, r: &mut Reader<'_>) -> Result<Decoded, DecodeError> {
    let tr = t("flow update");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    let raw_event = r.peek_u16(2).map_err(&tr)?;
    let short = match form {
        Form::Std => matches!(raw_event, 4..=6),
        _ => raw_event == 3,
    };
    let min = if short { SHORT_LEN } else { FULL_LEN };
    if len < min || len % 8 != 0 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("flow update length {len}"),
        ));
    }
    let mut u = r.take(len).map_err(&tr)?;
    u.skip(4).map_err(&tr)?;
    if short {
        return Ok(match raw_event {
            5 => Decoded::Control(FlowMonitorMsg::Paused),
            6 => Decoded::Control(FlowMonitorMsg::Resumed),
            _ => Decoded::Update(FlowUpdate::Abbrev {
                xid: u.u32().map_err(&tr)?,
            }),
        });
    }
    let bad_event = || {
        DecodeError::new(
            OfpError::MonitorBadEvent,
            format!("flow update event {raw_event}"),
        )
    };
    let (event, table, priority, idle_timeout, hard_timeout, cookie, r#match);
    if form == Form::Std {
        table = TableId(u.u8().map_err(&tr)?);
        let reason = u16::from(u.u8().map_err(&tr)?);
        idle_timeout = u.u16().map_err(&tr)?;
        hard_timeout = u.u16().map_err(&tr)?;
        priority = u.u16().map_err(&tr)?;
        u.skip(4).map_err(&tr)?;
        cookie = Cookie(u.u64().map_err(&tr)?);
        r#match = oxm::pull_ofp_match(&mut u)?;
        event = match raw_event {
            0 => FlowUpdateEvent::Initial,
            1 => FlowUpdateEvent::Added,
            2 => FlowUpdateEvent::Deleted(reason_from(reason)?),
            3 => FlowUpdateEvent::Modified,
            _ => return Err(bad_event()),
        };
    } else {
        let reason = u.u16().map_err(&tr)?;
        event = match raw_event {
            0 => FlowUpdateEvent::Added,
            1 => FlowUpdateEvent::Deleted(reason_from(reason)?),
            2 => FlowUpdateEvent::Modified,
            _ => return Err(bad_event()),
        };
        priority = u.u16().map_err(&tr)?;
        idle_timeout = u.u16().map_err(&tr)?;
        hard_timeout = u.u16().map_err(&tr)?;
        let match_len = usize::from(u.u16().map_err(&tr)?);
        table = TableId(u.u8().map_err(&tr)?);
        u.skip(1).map_err(&tr)?;
        cookie = Cookie(u.u64().map_err(&tr)?);
        if form == Form::Nx {
            let tlvs = u.bytes(match_len).map_err(&tr)?;
            u.skip(match_len.next_multiple_of(8) - match_len)
                .map_err(&tr)?;
            r#match = oxm::pull_match(tlvs)?;
        } else {
            r#match = oxm::pull_ofp_match(&mut u)?;
        }
    }
    // Without actions asked for, the update ends after the match; an empty action list is
    // indistinguishable from that and reads as "no actions" (`actions=drop`) either way.
    let rest = u.rest();
    let actions = if rest.is_empty() {
        None
    } else if form == Form::Nx {
        Some(super::of13::pull_actions(rest, v)?)
    } else {
        Some(super::of13::pull_instructions(rest, v)?)
    };
    Ok(Decoded::Update(FlowUpdate::Full(Box::new(
        FlowUpdateFull {
            event,
            table,
            priority,
            idle_timeout,
            hard_timeout,
            cookie,
            r#match,
            actions,
        },
    ))))
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

/// Whether `exp_type` is one of the ONF messages [`decode_onf`] reads.
pub(crate) fn is_onf_type(exp_type: u32) -> bool {
    matches!(exp_type, ONF_MONITOR | ONFT_PAUSED | ONFT_RESUMED)
}

/// Decodes `ONFT_FLOW_MONITOR_CANCEL`/`_PAUSED`/`_RESUMED` (after the experimenter id and
/// type).
pub(crate) fn decode_onf(exp_type: u32, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    Ok(Message::FlowMonitor(match exp_type {
        ONF_MONITOR => {
            FlowMonitorMsg::Cancel(MonitorId(r.u32().map_err(t("flow monitor cancel"))?))
        }
        ONFT_PAUSED => FlowMonitorMsg::Paused,
        _ => FlowMonitorMsg::Resumed,
    }))
}
