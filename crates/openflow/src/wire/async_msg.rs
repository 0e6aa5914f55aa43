//! The asynchronous messages a switch sends its controllers (packet-in, flow-removed,
//! port-status), the packet-out controllers send back, and the session settings that decide
//! which asynchronous messages a connection gets and in which form: packet-in format
//! (`NXT_SET_PACKET_IN_FORMAT`), controller id (`NXT_SET_CONTROLLER_ID`) and the async
//! configuration (`OFPT_GET_ASYNC_*`/`OFPT_SET_ASYNC`, Nicira's `NXT_SET_ASYNC_CONFIG`).
//!
//! # Forms per version
//!
//! | message | OpenFlow 1.0 | 1.2 | 1.3, 1.4 | 1.5 |
//! |---|---|---|---|---|
//! | packet-in | `ofp_packet_in` (in_port only), `NXT_PACKET_IN` (NXM metadata), `NXT_PACKET_IN2` (properties) | OXM, table id | + cookie | same |
//! | flow-removed | `ofp_flow_removed` (`ofp_match`), `NXT_FLOW_REMOVED` (NXM) | OXM | same | OXM + OXS statistics |
//! | port-status | `ofp_phy_port` | `ofp_port` | 1.3 `ofp_port`; 1.4 with an Ethernet property | as 1.4 |
//! | packet-out | 16-bit in_port | 32-bit in_port | same | metadata as an OXM match |
//! | async config | `NXT_SET_ASYNC_CONFIG` | same | 1.3 masks; 1.4 properties | as 1.4 |
//!
//! OpenFlow 1.1 is refused for these, as for flow-mods.
//!
//! Which packet-in form a connection receives is a session setting, not part of the
//! protocol, so [`PacketIn::format`] carries it; a decoded packet-in says which form it came
//! in. Reasons later versions added (`action_set`, `group`, `packet_out`) are sent as `action`
//! to versions before 1.4, as Open vSwitch does; `NXT_PACKET_IN2` carries them all.
//!
//! `buffer_id` is always "no buffer" from ferrovs (it buffers nothing), but decoding keeps
//! what the peer sent so that a packet-out naming a buffer can be refused properly.

use super::buf::{Put, Reader};
use super::msg::{
    Kind, decode_port, encode_port, finish, port_len, port_to_of10, start, start_nx, truncated,
};
use super::oxm::{self, Flavor};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::{Action, PacketInReason};
use crate::protocol::Protocol;
use crate::types::Cookie;
use crate::wire::PortDesc;
use fvs_flow::{Field, Match, PortNo};

/// The wire value for "not buffered".
pub const NO_BUFFER: u32 = u32::MAX;

/// The form a connection's packet-ins take (`NXT_SET_PACKET_IN_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PacketInFormat {
    /// The version's own `OFPT_PACKET_IN` (`NXPIF_STANDARD`, Open vSwitch's `standard`).
    #[default]
    Standard,
    /// `NXT_PACKET_IN`: Nicira's header with NXM metadata (`NXPIF_NXT_PACKET_IN`).
    Nxt,
    /// `NXT_PACKET_IN2`: properties, every reason and the userdata (`NXPIF_NXT_PACKET_IN2`).
    Nxt2,
}

impl PacketInFormat {
    /// The wire value.
    pub const fn wire(self) -> u32 {
        match self {
            Self::Standard => 0,
            Self::Nxt => 1,
            Self::Nxt2 => 2,
        }
    }

    /// The format with wire value `v`.
    pub const fn from_wire(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Standard),
            1 => Some(Self::Nxt),
            2 => Some(Self::Nxt2),
            _ => None,
        }
    }
}

/// A packet sent to a controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The form it travels in.
    pub format: PacketInFormat,
    /// Why it was sent.
    pub reason: PacketInReason,
    /// The table whose rule (or miss) sent it.
    pub table_id: u8,
    /// That rule's cookie (all ones for a miss).
    pub cookie: Cookie,
    /// The packet's metadata: `in_port` always, and the pipeline fields that are not zero
    /// (tunnel, metadata, registers, packet mark).
    pub metadata: Match,
    /// The packet's whole length (more than `data` when truncated to `max_len`).
    pub total_len: u32,
    /// The switch buffer holding the packet; `None` (ferrovs's answer) for unbuffered.
    pub buffer_id: Option<u32>,
    /// The packet, or its first bytes.
    pub data: Vec<u8>,
    /// `controller(userdata=...)` (`NXT_PACKET_IN2` only).
    pub userdata: Option<Vec<u8>>,
    /// A paused translation's state (`controller(pause)`, `NXT_PACKET_IN2` and
    /// `NXT_RESUME` only): the body of the continuation property, opaque to controllers
    /// ([`super::continuation::Continuation`] reads it).
    pub continuation: Option<Vec<u8>>,
}

impl PacketIn {
    /// The input port from the metadata.
    pub fn in_port(&self) -> PortNo {
        PortNo(u32::try_from(self.metadata.key.get(Field::InPort.loc())).unwrap_or(0))
    }
}

/// Why a rule left its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRemovedReason {
    /// `OFPRR_IDLE_TIMEOUT`.
    IdleTimeout,
    /// `OFPRR_HARD_TIMEOUT`.
    HardTimeout,
    /// `OFPRR_DELETE`.
    Delete,
    /// `OFPRR_GROUP_DELETE`.
    GroupDelete,
    /// `OFPRR_METER_DELETE`.
    MeterDelete,
    /// `OFPRR_EVICTION`.
    Eviction,
}

impl FlowRemovedReason {
    const ALL: [Self; 6] = [
        Self::IdleTimeout,
        Self::HardTimeout,
        Self::Delete,
        Self::GroupDelete,
        Self::MeterDelete,
        Self::Eviction,
    ];

    /// The wire value (also the bit number in async masks).
    pub const fn wire(self) -> u8 {
        self as u8
    }

    fn from_wire(v: u8) -> Result<Self, DecodeError> {
        Self::ALL.get(usize::from(v)).copied().ok_or_else(|| {
            DecodeError::new(OfpError::BadPacket, format!("flow removed reason {v}"))
        })
    }
}

/// A rule that left its table (`OFPT_FLOW_REMOVED`, `NXT_FLOW_REMOVED`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRemoved {
    /// The rule's match.
    pub r#match: Match,
    /// Its cookie.
    pub cookie: Cookie,
    /// Its priority.
    pub priority: u16,
    /// Why it left.
    pub reason: FlowRemovedReason,
    /// Its table.
    pub table_id: u8,
    /// How long it lived: seconds.
    pub duration_sec: u32,
    /// And nanoseconds beyond them.
    pub duration_nsec: u32,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout (not in OpenFlow 1.0's forms).
    pub hard_timeout: u16,
    /// Packets it matched.
    pub packet_count: u64,
    /// Bytes it matched.
    pub byte_count: u64,
}

/// Why a port-status was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortReason {
    /// `OFPPR_ADD`.
    Add,
    /// `OFPPR_DELETE`.
    Delete,
    /// `OFPPR_MODIFY`.
    Modify,
}

impl PortReason {
    /// The wire value (also the bit number in async masks).
    pub const fn wire(self) -> u8 {
        match self {
            Self::Add => 0,
            Self::Delete => 1,
            Self::Modify => 2,
        }
    }
}

/// `OFPT_PORT_STATUS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// What happened.
    pub reason: PortReason,
    /// The port as it is now (as it was, for a delete).
    pub desc: PortDesc,
}

/// `OFPT_PACKET_OUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOut {
    /// A switch buffer to send instead of `data`; `None` for `OFP_NO_BUFFER`.
    pub buffer_id: Option<u32>,
    /// The port the packet is taken to have arrived on (`CONTROLLER` when none).
    pub in_port: PortNo,
    /// Further pipeline metadata (OpenFlow 1.5's match; catch-all elsewhere). `in_port` lives
    /// in its own field, never here.
    pub metadata: Match,
    /// The actions to apply.
    pub actions: Vec<Action>,
    /// The packet.
    pub data: Vec<u8>,
}

/// Which asynchronous messages a connection receives, per role: index 0 applies to master and
/// equal connections, index 1 to slaves. Bit `n` of a mask enables reason `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncConfig {
    /// Packet-in reasons.
    pub packet_in: [u32; 2],
    /// Port-status reasons.
    pub port_status: [u32; 2],
    /// Flow-removed reasons.
    pub flow_removed: [u32; 2],
}

impl AsyncConfig {
    /// Open vSwitch's defaults for a connection speaking `v` (as its `OFPT_GET_ASYNC_REPLY`
    /// shows them): masters and equals get packet-ins for a miss and an action (from 1.4 also
    /// the reasons 1.4 added, never invalid TTL), all port-status and all flow-removed
    /// reasons; slaves get port-status only.
    pub const fn default_for(v: Version) -> Self {
        let pin = if (v as u8) >= 5 { 0b11_1011 } else { 0b11 };
        let fr = if (v as u8) >= 5 { 0b11_1111 } else { 0b1111 };
        Self {
            packet_in: [pin, 0],
            port_status: [0b111, 0b111],
            flow_removed: [fr, 0],
        }
    }
}

/// Property types of OpenFlow 1.4's async configuration (`OFPACPT_*`): slave then master, per
/// message kind.
mod acpt {
    pub(super) const PACKET_IN_SLAVE: u16 = 0;
    pub(super) const PACKET_IN_MASTER: u16 = 1;
    pub(super) const PORT_STATUS_SLAVE: u16 = 2;
    pub(super) const PORT_STATUS_MASTER: u16 = 3;
    pub(super) const FLOW_REMOVED_SLAVE: u16 = 4;
    pub(super) const FLOW_REMOVED_MASTER: u16 = 5;
}

/// `NXT_PACKET_IN2` property types (`NXPINT_*`).
mod nxpint {
    pub(super) const PACKET: u16 = 0;
    pub(super) const FULL_LEN: u16 = 1;
    pub(super) const BUFFER_ID: u16 = 2;
    pub(super) const TABLE_ID: u16 = 3;
    pub(super) const COOKIE: u16 = 4;
    pub(super) const REASON: u16 = 5;
    pub(super) const METADATA: u16 = 6;
    pub(super) const USERDATA: u16 = 7;
    pub(super) const CONTINUATION: u16 = 8;
}

/// Why a connection's role changed (`OFPCRR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleReason {
    /// Another connection became master.
    MasterRequest,
    /// The switch's configuration changed.
    Config,
    /// An experimenter reason.
    Experimenter,
}

/// `OFPT_ROLE_STATUS` (OpenFlow 1.4+; ONF's `ONFT_ROLE_STATUS` experimenter message in 1.3):
/// a connection's role changed without its asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleStatus {
    /// The new role.
    pub role: super::Role,
    /// Why.
    pub reason: RoleReason,
    /// The master-election generation id; `None` when none was ever set.
    pub generation_id: Option<u64>,
}

/// `ONFT_ROLE_STATUS`: the experimenter type of OpenFlow 1.3's role status.
pub(crate) const ONFT_ROLE_STATUS: u32 = 1911;

/// The asynchronous and packet-out messages, as [`super::Message`] variants carry them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsyncMsg {
    /// A packet-in in any of its forms.
    PacketIn(Box<PacketIn>),
    /// A packet-out.
    PacketOut(Box<PacketOut>),
    /// A flow-removed.
    FlowRemoved(Box<FlowRemoved>),
    /// A port-status.
    PortStatus(Box<PortStatus>),
    /// `OFPT_GET_ASYNC_REQUEST`.
    GetAsyncRequest,
    /// `OFPT_GET_ASYNC_REPLY`.
    GetAsyncReply(AsyncConfig),
    /// `OFPT_SET_ASYNC` / `NXT_SET_ASYNC_CONFIG`.
    SetAsync(AsyncConfig),
    /// `NXT_SET_PACKET_IN_FORMAT`.
    SetPacketInFormat(PacketInFormat),
    /// `NXT_SET_CONTROLLER_ID`.
    SetControllerId(u16),
    /// `OFPT_ROLE_STATUS` / `ONFT_ROLE_STATUS`.
    RoleStatus(RoleStatus),
    /// `NXT_RESUME`: a controller continues a paused translation. It carries what the
    /// `NXT_PACKET_IN2` carried (packet, metadata, continuation), possibly changed.
    Resume(Box<PacketIn>),
}

/// Nicira subtypes of this module's messages.
pub(crate) mod sub {
    pub(crate) const FLOW_REMOVED: u32 = 14;
    pub(crate) const SET_PACKET_IN_FORMAT: u32 = 16;
    pub(crate) const PACKET_IN: u32 = 17;
    pub(crate) const SET_ASYNC_CONFIG: u32 = 19;
    pub(crate) const SET_CONTROLLER_ID: u32 = 20;
    pub(crate) const SET_ASYNC_CONFIG2: u32 = 27;
    pub(crate) const RESUME: u32 = 28;
    pub(crate) const PACKET_IN2: u32 = 30;
}

/// True when a Nicira message of `subtype` belongs to this module.
pub(crate) const fn is_nx_subtype(subtype: u32) -> bool {
    matches!(
        subtype,
        sub::FLOW_REMOVED
            | sub::SET_PACKET_IN_FORMAT
            | sub::PACKET_IN
            | sub::SET_ASYNC_CONFIG
            | sub::SET_CONTROLLER_ID
            | sub::SET_ASYNC_CONFIG2
            | sub::PACKET_IN2
            | sub::RESUME
    )
}

fn of11_refused(what: &'static str) -> EncodeError {
    EncodeError::Message {
        message: what,
        version: Version::Of11,
    }
}

fn reason_wire(r: PacketInReason, v: Version, nx2: bool) -> u8 {
    let code = match r {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
        PacketInReason::ActionSet => 3,
        PacketInReason::Group => 4,
        PacketInReason::PacketOut => 5,
        // Open vSwitch's internal misses: an explicit one (a table-miss rule's
        // output:CONTROLLER) is no_match before OpenFlow 1.3 and action after; an implicit
        // one is no_match.
        PacketInReason::Internal(6) if v >= Version::Of13 => 1,
        PacketInReason::Internal(_) => 0,
    };
    if code >= 3 && v < Version::Of14 && !nx2 {
        1
    } else {
        code
    }
}

/// The standard packet-in reason numbered `code` (OpenFlow 1.4's numbering, which Nicira's
/// messages and actions share), if it is one.
pub(crate) fn standard_reason(code: u8) -> Option<PacketInReason> {
    Some(match code {
        0 => PacketInReason::NoMatch,
        1 => PacketInReason::Action,
        2 => PacketInReason::InvalidTtl,
        3 => PacketInReason::ActionSet,
        4 => PacketInReason::Group,
        5 => PacketInReason::PacketOut,
        _ => return None,
    })
}

fn reason_from(code: u8) -> Result<PacketInReason, DecodeError> {
    standard_reason(code)
        .ok_or_else(|| DecodeError::new(OfpError::BadPacket, format!("packet-in reason {code}")))
}

/// Pads `b` with zeros to a multiple of 8 counted from `from`.
fn pad8(b: &mut Vec<u8>, from: usize) {
    let len = b.len() - from;
    b.put_zeros(len.next_multiple_of(8) - len);
}

/// Writes an NXM match and returns its unpadded length.
fn put_nxm(b: &mut Vec<u8>, m: &Match) -> Result<u16, EncodeError> {
    let at = b.len();
    oxm::put_match(b, m, Flavor::Nxm)?;
    let len = b.len() - at;
    u16::try_from(len).map_err(|_| EncodeError::TooLong(len))
}

/// Encodes one of this module's messages.
pub(crate) fn encode(msg: &AsyncMsg, protocol: Protocol, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    let b = match msg {
        AsyncMsg::PacketIn(p) => encode_packet_in(p, v, xid)?,
        AsyncMsg::Resume(p) => encode_packet_in2(p, v, sub::RESUME, xid)?,
        AsyncMsg::PacketOut(p) => encode_packet_out(p, v, xid)?,
        AsyncMsg::FlowRemoved(f) => encode_flow_removed(f, protocol, xid)?,
        AsyncMsg::PortStatus(p) => {
            if v == Version::Of11 {
                return Err(of11_refused("port status"));
            }
            let mut b = start(v, Kind::PortStatus.wire_type(v).unwrap_or(12), xid);
            b.put_u8(p.reason.wire());
            b.put_zeros(7);
            put_port_any(&mut b, v, &p.desc);
            b
        }
        AsyncMsg::GetAsyncRequest => match Kind::GetAsyncRequest.wire_type(v) {
            Some(t) => start(v, t, xid),
            None => {
                return Err(EncodeError::Message {
                    message: "get async request",
                    version: v,
                });
            }
        },
        AsyncMsg::GetAsyncReply(c) => {
            let Some(t) = Kind::GetAsyncReply.wire_type(v) else {
                return Err(EncodeError::Message {
                    message: "get async reply",
                    version: v,
                });
            };
            let mut b = start(v, t, xid);
            put_async_config(&mut b, v, c);
            b
        }
        AsyncMsg::SetAsync(c) => {
            let mut b = match Kind::SetAsync.wire_type(v) {
                Some(t) => start(v, t, xid),
                None => start_nx(v, sub::SET_ASYNC_CONFIG, xid),
            };
            put_async_config(&mut b, v, c);
            b
        }
        AsyncMsg::SetPacketInFormat(f) => {
            let mut b = start_nx(v, sub::SET_PACKET_IN_FORMAT, xid);
            b.put_u32(f.wire());
            b
        }
        AsyncMsg::SetControllerId(id) => {
            let mut b = start_nx(v, sub::SET_CONTROLLER_ID, xid);
            b.put_zeros(6);
            b.put_u16(*id);
            b
        }
        AsyncMsg::RoleStatus(rs) => {
            let mut b = match (Kind::RoleStatus.wire_type(v), v) {
                (Some(t), _) => start(v, t, xid),
                (None, Version::Of13) => {
                    let mut b = start(v, Kind::Vendor.wire_type(v).unwrap_or(4), xid);
                    b.put_u32(super::error::ONF_VENDOR_ID);
                    b.put_u32(ONFT_ROLE_STATUS);
                    b
                }
                (None, _) => {
                    return Err(EncodeError::Message {
                        message: "role status",
                        version: v,
                    });
                }
            };
            b.put_u32(role_wire(rs.role));
            b.put_u8(match rs.reason {
                RoleReason::MasterRequest => 0,
                RoleReason::Config => 1,
                RoleReason::Experimenter => 2,
            });
            b.put_zeros(3);
            b.put_u64(rs.generation_id.unwrap_or(u64::MAX));
            b
        }
    };
    finish(b)
}

fn role_wire(r: super::Role) -> u32 {
    match r {
        super::Role::NoChange => 0,
        super::Role::Equal => 1,
        super::Role::Master => 2,
        super::Role::Slave => 3,
    }
}

/// Decodes a role status's body (after the header, or after the ONF experimenter header).
pub(crate) fn decode_role_status(mut r: Reader<'_>) -> Result<AsyncMsg, DecodeError> {
    let t = truncated("role status");
    let role = match r.u32().map_err(&t)? {
        0 => super::Role::NoChange,
        1 => super::Role::Equal,
        2 => super::Role::Master,
        3 => super::Role::Slave,
        n => return Err(DecodeError::new(OfpError::RoleBadRole, format!("role {n}"))),
    };
    let reason = match r.u8().map_err(&t)? {
        0 => RoleReason::MasterRequest,
        1 => RoleReason::Config,
        2 => RoleReason::Experimenter,
        n => {
            return Err(DecodeError::new(
                OfpError::BadPacket,
                format!("role status reason {n}"),
            ));
        }
    };
    r.skip(3).map_err(&t)?;
    let g = r.u64().map_err(&t)?;
    Ok(AsyncMsg::RoleStatus(RoleStatus {
        role,
        reason,
        generation_id: (g != u64::MAX).then_some(g),
    }))
}

/// A port description in `v`'s layout: the fixed one up to 1.3, 1.4's with an Ethernet
/// property after it.
pub(crate) fn put_port_any(b: &mut Vec<u8>, v: Version, p: &PortDesc) {
    if v <= Version::Of13 {
        encode_port(b, v, p);
        return;
    }
    let mut name = [0u8; 16];
    let n = p.name.len().min(15);
    name[..n].copy_from_slice(&p.name.as_bytes()[..n]);
    b.put_u32(p.port_no.0);
    b.put_u16(72); // 40 bytes of port plus the 32-byte Ethernet property
    b.put_zeros(2);
    b.extend_from_slice(&p.hw_addr.0);
    b.put_zeros(2);
    b.extend_from_slice(&name);
    b.put_u32(p.config);
    b.put_u32(p.state);
    b.put_u16(0); // OFPPDPT_ETHERNET
    b.put_u16(32);
    b.put_zeros(4);
    for x in [
        p.curr,
        p.advertised,
        p.supported,
        p.peer,
        p.curr_speed,
        p.max_speed,
    ] {
        b.put_u32(x);
    }
}

fn pull_port_any(r: &mut Reader<'_>, v: Version) -> Result<PortDesc, DecodeError> {
    let t = truncated("port description");
    if v <= Version::Of13 {
        return decode_port(r, v).map_err(t);
    }
    let len = usize::from(r.peek_u16(4).map_err(&t)?);
    if len < 40 {
        return Err(DecodeError::new(OfpError::BadLen, "port length below 40"));
    }
    let mut pr = r.take(len).map_err(&t)?;
    let mut p = PortDesc {
        port_no: PortNo(pr.u32().map_err(&t)?),
        ..PortDesc::default()
    };
    pr.skip(4).map_err(&t)?;
    p.hw_addr = crate::types::EthAddr(pr.array().map_err(&t)?);
    pr.skip(2).map_err(&t)?;
    let name: [u8; 16] = pr.array().map_err(&t)?;
    let end = name.iter().position(|c| *c == 0).unwrap_or(16);
    p.name = String::from_utf8_lossy(&name[..end]).into_owned();
    p.config = pr.u32().map_err(&t)?;
    p.state = pr.u32().map_err(&t)?;
    while pr.len() >= 4 {
        let ty = pr.peek_u16(0).map_err(&t)?;
        let plen = usize::from(pr.peek_u16(2).map_err(&t)?);
        if plen < 4 {
            return Err(DecodeError::new(OfpError::BadLen, "port property length"));
        }
        let mut prop = pr
            .take(plen.next_multiple_of(8).min(pr.len()))
            .map_err(&t)?;
        if ty == 0 && plen >= 32 {
            prop.skip(8).map_err(&t)?;
            p.curr = prop.u32().map_err(&t)?;
            p.advertised = prop.u32().map_err(&t)?;
            p.supported = prop.u32().map_err(&t)?;
            p.peer = prop.u32().map_err(&t)?;
            p.curr_speed = prop.u32().map_err(&t)?;
            p.max_speed = prop.u32().map_err(&t)?;
        }
    }
    Ok(p)
}

fn put_async_config(b: &mut Vec<u8>, v: Version, c: &AsyncConfig) {
    if v >= Version::Of14 {
        // Slave then master for each kind, as Open vSwitch writes them.
        let props = [
            (acpt::PACKET_IN_SLAVE, c.packet_in[1]),
            (acpt::PACKET_IN_MASTER, c.packet_in[0]),
            (acpt::PORT_STATUS_SLAVE, c.port_status[1]),
            (acpt::PORT_STATUS_MASTER, c.port_status[0]),
            (acpt::FLOW_REMOVED_SLAVE, c.flow_removed[1]),
            (acpt::FLOW_REMOVED_MASTER, c.flow_removed[0]),
        ];
        for (ty, mask) in props {
            b.put_u16(ty);
            b.put_u16(8);
            b.put_u32(mask);
        }
    } else {
        for pair in [c.packet_in, c.port_status, c.flow_removed] {
            b.put_u32(pair[0]);
            b.put_u32(pair[1]);
        }
    }
}

/// Reads an async configuration: fixed masks, or properties (1.4+, `NXT_SET_ASYNC_CONFIG2`)
/// applied over `base`, since a property message may change only some of the masks.
fn pull_async_config(
    mut r: Reader<'_>,
    props: bool,
    base: AsyncConfig,
) -> Result<AsyncConfig, DecodeError> {
    let t = truncated("async config");
    let mut c = base;
    if !props {
        for pair in [&mut c.packet_in, &mut c.port_status, &mut c.flow_removed] {
            pair[0] = r.u32().map_err(&t)?;
            pair[1] = r.u32().map_err(&t)?;
        }
        return Ok(c);
    }
    while !r.is_empty() {
        let ty = r.u16().map_err(&t)?;
        let len = usize::from(r.u16().map_err(&t)?);
        if len < 4 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("async config property length {len}"),
            ));
        }
        let mut body = r.take(len - 4).map_err(&t)?;
        r.skip((len.next_multiple_of(8) - len).min(r.len()))
            .map_err(&t)?;
        let slot = match ty {
            acpt::PACKET_IN_SLAVE => &mut c.packet_in[1],
            acpt::PACKET_IN_MASTER => &mut c.packet_in[0],
            acpt::PORT_STATUS_SLAVE => &mut c.port_status[1],
            acpt::PORT_STATUS_MASTER => &mut c.port_status[0],
            acpt::FLOW_REMOVED_SLAVE => &mut c.flow_removed[1],
            acpt::FLOW_REMOVED_MASTER => &mut c.flow_removed[0],
            // Role status, table status and request-forward: not sent by ferrovs, so their
            // masks have nothing to select.
            6..=11 => continue,
            // OFPACPT_EXPERIMENTER_SLAVE/MASTER.
            0xfffe | 0xffff => continue,
            _ => {
                return Err(DecodeError::new(
                    OfpError::BadType,
                    format!("async config property type {ty}"),
                ));
            }
        };
        *slot = body.u32().map_err(&t)?;
    }
    Ok(c)
}

fn encode_packet_in(p: &PacketIn, v: Version, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let total16 = u16::try_from(p.total_len).unwrap_or(u16::MAX);
    let buffer = p.buffer_id.unwrap_or(NO_BUFFER);
    match p.format {
        PacketInFormat::Nxt => {
            let mut b = start_nx(v, sub::PACKET_IN, xid);
            b.put_u32(buffer);
            b.put_u16(total16);
            b.put_u8(reason_wire(p.reason, v, false));
            b.put_u8(p.table_id);
            b.put_u64(p.cookie.0);
            let len_at = b.len();
            b.put_u16(0);
            b.put_zeros(6);
            let m_at = b.len();
            let len = put_nxm(&mut b, &p.metadata)?;
            b.set_u16(len_at, len);
            pad8(&mut b, m_at);
            b.put_zeros(2);
            b.extend_from_slice(&p.data);
            Ok(b)
        }
        PacketInFormat::Nxt2 => encode_packet_in2(p, v, sub::PACKET_IN2, xid),
        PacketInFormat::Standard => {
            let t = Kind::PacketIn.wire_type(v).unwrap_or(10);
            let mut b = start(v, t, xid);
            match v {
                Version::Of10 => {
                    b.put_u32(buffer);
                    b.put_u16(total16);
                    b.put_u16(port_to_of10(p.in_port()));
                    b.put_u8(reason_wire(p.reason, v, false));
                    b.put_u8(0);
                }
                Version::Of11 => return Err(of11_refused("packet in")),
                _ => {
                    b.put_u32(buffer);
                    b.put_u16(total16);
                    b.put_u8(reason_wire(p.reason, v, false));
                    b.put_u8(p.table_id);
                    if v >= Version::Of13 {
                        b.put_u64(p.cookie.0);
                    }
                    oxm::put_ofp_match(&mut b, &p.metadata, v)?;
                    b.put_zeros(2);
                }
            }
            b.extend_from_slice(&p.data);
            Ok(b)
        }
    }
}

/// `NXT_PACKET_IN2` and `NXT_RESUME` (`subtype`): the same properties.
fn encode_packet_in2(
    p: &PacketIn,
    v: Version,
    subtype: u32,
    xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    let mut b = start_nx(v, subtype, xid);
    let prop = |b: &mut Vec<u8>, ty: u16, body: &dyn Fn(&mut Vec<u8>)| {
        let at = b.len();
        b.put_u16(ty);
        b.put_u16(0);
        body(b);
        let len = b.len() - at;
        b.set_u16(at + 2, u16::try_from(len).unwrap_or(u16::MAX));
        pad8(b, at);
    };
    prop(&mut b, nxpint::PACKET, &|b| b.extend_from_slice(&p.data));
    if p.total_len as usize != p.data.len() {
        prop(&mut b, nxpint::FULL_LEN, &|b| b.put_u32(p.total_len));
    }
    if let Some(id) = p.buffer_id {
        prop(&mut b, nxpint::BUFFER_ID, &|b| b.put_u32(id));
    }
    prop(&mut b, nxpint::TABLE_ID, &|b| b.put_u8(p.table_id));
    prop(&mut b, nxpint::COOKIE, &|b| {
        // 64-bit properties align their value on 8 bytes.
        b.put_zeros(4);
        b.put_u64(p.cookie.0);
    });
    prop(&mut b, nxpint::REASON, &|b| {
        b.put_u8(reason_wire(p.reason, v, true));
    });
    let mut md = Vec::new();
    oxm::put_match(&mut md, &p.metadata, Flavor::Nxm)?;
    prop(&mut b, nxpint::METADATA, &|b| b.extend_from_slice(&md));
    if let Some(u) = &p.userdata {
        prop(&mut b, nxpint::USERDATA, &|b| b.extend_from_slice(u));
    }
    if let Some(c) = &p.continuation {
        // Nested properties start 8-aligned.
        prop(&mut b, nxpint::CONTINUATION, &|b| {
            b.put_zeros(4);
            b.extend_from_slice(c);
        });
    }
    Ok(b)
}

fn decode_packet_in(v: Version, mut r: Reader<'_>) -> Result<PacketIn, DecodeError> {
    let t = truncated("packet in");
    let buffer = r.u32().map_err(&t)?;
    let total_len = r.u16().map_err(&t)?;
    let mut p = PacketIn {
        format: PacketInFormat::Standard,
        reason: PacketInReason::NoMatch,
        table_id: 0,
        cookie: Cookie(u64::MAX),
        metadata: Match::CATCHALL,
        total_len: u32::from(total_len),
        buffer_id: (buffer != NO_BUFFER).then_some(buffer),
        data: Vec::new(),
        userdata: None,
        continuation: None,
    };
    if v == Version::Of10 {
        let port = PortNo::from_of10(r.u16().map_err(&t)?);
        p.reason = reason_from(r.u8().map_err(&t)?)?;
        r.skip(1).map_err(&t)?;
        p.metadata.set(Field::InPort, u128::from(port.0));
    } else {
        p.reason = reason_from(r.u8().map_err(&t)?)?;
        p.table_id = r.u8().map_err(&t)?;
        if v >= Version::Of13 {
            p.cookie = Cookie(r.u64().map_err(&t)?);
        }
        p.metadata = oxm::pull_ofp_match(&mut r)?;
        r.skip(2).map_err(&t)?;
    }
    p.data = r.rest().to_vec();
    Ok(p)
}

fn decode_nx_packet_in(mut r: Reader<'_>) -> Result<PacketIn, DecodeError> {
    let t = truncated("NXT_PACKET_IN");
    let buffer = r.u32().map_err(&t)?;
    let total_len = r.u16().map_err(&t)?;
    let reason = reason_from(r.u8().map_err(&t)?)?;
    let table_id = r.u8().map_err(&t)?;
    let cookie = Cookie(r.u64().map_err(&t)?);
    let match_len = usize::from(r.u16().map_err(&t)?);
    r.skip(6).map_err(&t)?;
    let mut m = r.take(match_len.next_multiple_of(8)).map_err(&t)?;
    let metadata = oxm::pull_match(m.bytes(match_len).map_err(&t)?)?;
    r.skip(2).map_err(&t)?;
    Ok(PacketIn {
        format: PacketInFormat::Nxt,
        reason,
        table_id,
        cookie,
        metadata,
        total_len: u32::from(total_len),
        buffer_id: (buffer != NO_BUFFER).then_some(buffer),
        data: r.rest().to_vec(),
        userdata: None,
        continuation: None,
    })
}

fn decode_nx_packet_in2(mut r: Reader<'_>) -> Result<PacketIn, DecodeError> {
    let t = truncated("NXT_PACKET_IN2");
    let mut p = PacketIn {
        format: PacketInFormat::Nxt2,
        reason: PacketInReason::NoMatch,
        table_id: 0,
        cookie: Cookie(u64::MAX),
        metadata: Match::CATCHALL,
        total_len: 0,
        buffer_id: None,
        data: Vec::new(),
        userdata: None,
        continuation: None,
    };
    let mut full_len = None;
    while !r.is_empty() {
        let ty = r.u16().map_err(&t)?;
        let len = usize::from(r.u16().map_err(&t)?);
        if len < 4 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("packet-in property length {len}"),
            ));
        }
        let mut body = r.take(len - 4).map_err(&t)?;
        r.skip((len.next_multiple_of(8) - len).min(r.len()))
            .map_err(&t)?;
        match ty {
            nxpint::PACKET => p.data = body.rest().to_vec(),
            nxpint::FULL_LEN => full_len = Some(body.u32().map_err(&t)?),
            nxpint::BUFFER_ID => p.buffer_id = Some(body.u32().map_err(&t)?),
            nxpint::TABLE_ID => p.table_id = body.u8().map_err(&t)?,
            nxpint::COOKIE => {
                body.skip(4).map_err(&t)?;
                p.cookie = Cookie(body.u64().map_err(&t)?);
            }
            nxpint::REASON => p.reason = reason_from(body.u8().map_err(&t)?)?,
            nxpint::METADATA => p.metadata = oxm::pull_match(body.rest())?,
            nxpint::USERDATA => p.userdata = Some(body.rest().to_vec()),
            nxpint::CONTINUATION => {
                // Nested properties start 8-aligned.
                body.skip(4).map_err(&t)?;
                p.continuation = Some(body.rest().to_vec());
            }
            // Unknown properties are skipped, as Open vSwitch's loose decoding does.
            _ => {}
        }
    }
    p.total_len = full_len.unwrap_or(u32::try_from(p.data.len()).unwrap_or(u32::MAX));
    Ok(p)
}

fn encode_packet_out(p: &PacketOut, v: Version, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let t = Kind::PacketOut.wire_type(v).unwrap_or(13);
    let mut b = start(v, t, xid);
    b.put_u32(p.buffer_id.unwrap_or(NO_BUFFER));
    match v {
        Version::Of10 => {
            b.put_u16(port_to_of10(p.in_port));
            let len_at = b.len();
            b.put_u16(0);
            let a_at = b.len();
            super::of13::put_actions(&mut b, &p.actions, v)?;
            let alen = b.len() - a_at;
            b.set_u16(
                len_at,
                u16::try_from(alen).map_err(|_| EncodeError::TooLong(alen))?,
            );
        }
        Version::Of11 => return Err(of11_refused("packet out")),
        Version::Of12 | Version::Of13 | Version::Of14 => {
            b.put_u32(p.in_port.0);
            let len_at = b.len();
            b.put_u16(0);
            b.put_zeros(6);
            let a_at = b.len();
            super::of13::put_actions(&mut b, &p.actions, v)?;
            let alen = b.len() - a_at;
            b.set_u16(
                len_at,
                u16::try_from(alen).map_err(|_| EncodeError::TooLong(alen))?,
            );
        }
        Version::Of15 => {
            let len_at = b.len();
            b.put_u16(0);
            b.put_zeros(2);
            let mut m = p.metadata;
            m.set(Field::InPort, u128::from(p.in_port.0));
            oxm::put_ofp_match(&mut b, &m, v)?;
            let a_at = b.len();
            super::of13::put_actions(&mut b, &p.actions, v)?;
            let alen = b.len() - a_at;
            b.set_u16(
                len_at,
                u16::try_from(alen).map_err(|_| EncodeError::TooLong(alen))?,
            );
        }
    }
    b.extend_from_slice(&p.data);
    Ok(b)
}

fn decode_packet_out(v: Version, mut r: Reader<'_>) -> Result<PacketOut, DecodeError> {
    let t = truncated("packet out");
    let buffer = r.u32().map_err(&t)?;
    let mut p = PacketOut {
        buffer_id: (buffer != NO_BUFFER).then_some(buffer),
        in_port: PortNo::CONTROLLER,
        metadata: Match::CATCHALL,
        actions: Vec::new(),
        data: Vec::new(),
    };
    let actions_len = match v {
        Version::Of10 => {
            p.in_port = PortNo::from_of10(r.u16().map_err(&t)?);
            r.u16().map_err(&t)?
        }
        Version::Of11 => {
            return Err(DecodeError::new(
                OfpError::BadType,
                "OpenFlow 1.1 packet_out is not supported",
            ));
        }
        Version::Of12 | Version::Of13 | Version::Of14 => {
            p.in_port = PortNo(r.u32().map_err(&t)?);
            let n = r.u16().map_err(&t)?;
            r.skip(6).map_err(&t)?;
            n
        }
        Version::Of15 => {
            let n = r.u16().map_err(&t)?;
            r.skip(2).map_err(&t)?;
            let mut m = oxm::pull_ofp_match(&mut r)?;
            let port = m.key.get(Field::InPort.loc());
            p.in_port = PortNo(u32::try_from(port).unwrap_or(0));
            m.set_masked(Field::InPort, 0, 0);
            p.metadata = m;
            n
        }
    };
    let actions = r.bytes(usize::from(actions_len)).map_err(|_| {
        DecodeError::new(
            OfpError::BadLen,
            format!("packet out actions_len {actions_len} exceeds the message"),
        )
    })?;
    p.actions = super::of13::pull_actions(actions, v)?;
    p.data = r.rest().to_vec();
    Ok(p)
}

fn flow_removed_reason(f: &FlowRemoved, v: Version) -> u8 {
    // Reasons a version lacks read as a delete: `group_delete` (3) exists from OpenFlow 1.1
    // (Open vSwitch sends it to 1.3 peers), `meter_delete` and `eviction` from 1.4.
    let newest = match v {
        Version::Of10 => 2,
        Version::Of11 | Version::Of12 | Version::Of13 => 3,
        _ => 5,
    };
    if f.reason.wire() > newest {
        FlowRemovedReason::Delete.wire()
    } else {
        f.reason.wire()
    }
}

fn encode_flow_removed(
    f: &FlowRemoved,
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    let reason = flow_removed_reason(f, v);
    match protocol {
        Protocol::Of10Std | Protocol::Of10StdTid => {
            let mut b = start(v, Kind::FlowRemoved.wire_type(v).unwrap_or(11), xid);
            super::of10::put_match(&mut b, &f.r#match);
            b.put_u64(f.cookie.0);
            b.put_u16(f.priority);
            b.put_u8(reason);
            b.put_u8(0);
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.idle_timeout);
            b.put_zeros(2);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            Ok(b)
        }
        Protocol::Of10Nxm | Protocol::Of10NxmTid => {
            let mut b = start_nx(v, sub::FLOW_REMOVED, xid);
            b.put_u64(f.cookie.0);
            b.put_u16(f.priority);
            b.put_u8(reason);
            // Nicira's table id is one more than the table, 0 meaning unknown.
            b.put_u8(f.table_id.wrapping_add(1));
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.idle_timeout);
            let len_at = b.len();
            b.put_u16(0);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            let m_at = b.len();
            let len = put_nxm(&mut b, &f.r#match)?;
            b.set_u16(len_at, len);
            pad8(&mut b, m_at);
            Ok(b)
        }
        Protocol::Of11 => Err(of11_refused("flow removed")),
        Protocol::Of15 => {
            let mut b = start(v, Kind::FlowRemoved.wire_type(v).unwrap_or(11), xid);
            b.put_u8(f.table_id);
            b.put_u8(reason);
            b.put_u16(f.priority);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            b.put_u64(f.cookie.0);
            oxm::put_ofp_match(&mut b, &f.r#match, v)?;
            put_oxs_stats(&mut b, f);
            Ok(b)
        }
        Protocol::Of12 | Protocol::Of13 | Protocol::Of14 => {
            let mut b = start(v, Kind::FlowRemoved.wire_type(v).unwrap_or(11), xid);
            b.put_u64(f.cookie.0);
            b.put_u16(f.priority);
            b.put_u8(reason);
            b.put_u8(f.table_id);
            b.put_u32(f.duration_sec);
            b.put_u32(f.duration_nsec);
            b.put_u16(f.idle_timeout);
            b.put_u16(f.hard_timeout);
            b.put_u64(f.packet_count);
            b.put_u64(f.byte_count);
            oxm::put_ofp_match(&mut b, &f.r#match, v)?;
            Ok(b)
        }
    }
}

/// OXS (OpenFlow 1.5's extensible statistics): class `OFPXSC_OPENFLOW_BASIC`.
const OXS_CLASS: u16 = 0x8002;
/// OXS fields: duration, packet count, byte count.
const OXS_DURATION: u8 = 0;
const OXS_IDLE_TIME: u8 = 1;
const OXS_FLOW_COUNT: u8 = 3;
const OXS_PACKET_COUNT: u8 = 4;
const OXS_BYTE_COUNT: u8 = 5;

/// Writes `ofp_stats` (reserved, length, OXS entries, padding to 8) for a removed rule:
/// duration, packet and byte counts.
fn put_oxs_stats(b: &mut Vec<u8>, f: &FlowRemoved) {
    let at = b.len();
    b.put_u16(0);
    b.put_u16(0);
    let entry = |b: &mut Vec<u8>, field: u8, len: u8| {
        b.put_u16(OXS_CLASS);
        b.put_u8(field << 1);
        b.put_u8(len);
    };
    entry(b, OXS_DURATION, 8);
    b.put_u32(f.duration_sec);
    b.put_u32(f.duration_nsec);
    entry(b, OXS_PACKET_COUNT, 8);
    b.put_u64(f.packet_count);
    entry(b, OXS_BYTE_COUNT, 8);
    b.put_u64(f.byte_count);
    let len = b.len() - at;
    b.set_u16(at + 2, u16::try_from(len).unwrap_or(u16::MAX));
    pad8(b, at);
}

/// Reads `ofp_stats` into `f` (unknown OXS fields are skipped).
fn pull_oxs_stats(r: &mut Reader<'_>, f: &mut FlowRemoved) -> Result<(), DecodeError> {
    let t = truncated("flow removed statistics");
    r.skip(2).map_err(&t)?;
    let len = usize::from(r.u16().map_err(&t)?);
    if len < 4 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            "ofp_stats length below 4",
        ));
    }
    let mut s = r.take(len - 4).map_err(&t)?;
    r.skip((len.next_multiple_of(8) - len).min(r.len()))
        .map_err(&t)?;
    while s.len() >= 4 {
        let class = s.u16().map_err(&t)?;
        let field = s.u8().map_err(&t)? >> 1;
        let n = usize::from(s.u8().map_err(&t)?);
        let mut v = s.take(n).map_err(&t)?;
        if class != OXS_CLASS {
            continue;
        }
        match (field, n) {
            (OXS_DURATION, 8) => {
                f.duration_sec = v.u32().map_err(&t)?;
                f.duration_nsec = v.u32().map_err(&t)?;
            }
            (OXS_PACKET_COUNT, 8) => f.packet_count = v.u64().map_err(&t)?,
            (OXS_BYTE_COUNT, 8) => f.byte_count = v.u64().map_err(&t)?,
            (OXS_IDLE_TIME | OXS_FLOW_COUNT, _) => {}
            _ => {}
        }
    }
    Ok(())
}

fn decode_flow_removed(v: Version, mut r: Reader<'_>) -> Result<FlowRemoved, DecodeError> {
    let t = truncated("flow removed");
    if v == Version::Of10 {
        let r#match = super::of10::pull_match(&mut r)?;
        let cookie = Cookie(r.u64().map_err(&t)?);
        let priority = r.u16().map_err(&t)?;
        let reason = FlowRemovedReason::from_wire(r.u8().map_err(&t)?)?;
        r.skip(1).map_err(&t)?;
        let duration_sec = r.u32().map_err(&t)?;
        let duration_nsec = r.u32().map_err(&t)?;
        let idle_timeout = r.u16().map_err(&t)?;
        r.skip(2).map_err(&t)?;
        return Ok(FlowRemoved {
            r#match,
            cookie,
            priority,
            reason,
            table_id: 0,
            duration_sec,
            duration_nsec,
            idle_timeout,
            hard_timeout: 0,
            packet_count: r.u64().map_err(&t)?,
            byte_count: r.u64().map_err(&t)?,
        });
    }
    if v == Version::Of11 {
        return Err(DecodeError::new(
            OfpError::BadType,
            "OpenFlow 1.1 flow_removed is not supported",
        ));
    }
    if v == Version::Of15 {
        let mut f = FlowRemoved {
            r#match: Match::CATCHALL,
            table_id: r.u8().map_err(&t)?,
            reason: FlowRemovedReason::from_wire(r.u8().map_err(&t)?)?,
            priority: r.u16().map_err(&t)?,
            idle_timeout: r.u16().map_err(&t)?,
            hard_timeout: r.u16().map_err(&t)?,
            cookie: Cookie(r.u64().map_err(&t)?),
            duration_sec: 0,
            duration_nsec: 0,
            packet_count: 0,
            byte_count: 0,
        };
        f.r#match = oxm::pull_ofp_match(&mut r)?;
        pull_oxs_stats(&mut r, &mut f)?;
        return Ok(f);
    }
    let mut f = FlowRemoved {
        r#match: Match::CATCHALL,
        cookie: Cookie(r.u64().map_err(&t)?),
        priority: r.u16().map_err(&t)?,
        reason: FlowRemovedReason::from_wire(r.u8().map_err(&t)?)?,
        table_id: r.u8().map_err(&t)?,
        duration_sec: r.u32().map_err(&t)?,
        duration_nsec: r.u32().map_err(&t)?,
        idle_timeout: r.u16().map_err(&t)?,
        hard_timeout: r.u16().map_err(&t)?,
        packet_count: r.u64().map_err(&t)?,
        byte_count: r.u64().map_err(&t)?,
    };
    f.r#match = oxm::pull_ofp_match(&mut r)?;
    Ok(f)
}

fn decode_nx_flow_removed(mut r: Reader<'_>) -> Result<FlowRemoved, DecodeError> {
    let t = truncated("NXT_FLOW_REMOVED");
    let cookie = Cookie(r.u64().map_err(&t)?);
    let priority = r.u16().map_err(&t)?;
    let reason = FlowRemovedReason::from_wire(r.u8().map_err(&t)?)?;
    let table_id = r.u8().map_err(&t)?.saturating_sub(1);
    let duration_sec = r.u32().map_err(&t)?;
    let duration_nsec = r.u32().map_err(&t)?;
    let idle_timeout = r.u16().map_err(&t)?;
    let match_len = usize::from(r.u16().map_err(&t)?);
    let packet_count = r.u64().map_err(&t)?;
    let byte_count = r.u64().map_err(&t)?;
    let r#match = oxm::pull_match(r.bytes(match_len).map_err(&t)?)?;
    Ok(FlowRemoved {
        r#match,
        cookie,
        priority,
        reason,
        table_id,
        duration_sec,
        duration_nsec,
        idle_timeout,
        hard_timeout: 0,
        packet_count,
        byte_count,
    })
}

/// Decodes a standard message of this module (`kind` is one of its kinds).
pub(crate) fn decode_std(kind: Kind, v: Version, r: Reader<'_>) -> Result<AsyncMsg, DecodeError> {
    Ok(match kind {
        Kind::PacketIn => AsyncMsg::PacketIn(Box::new(decode_packet_in(v, r)?)),
        Kind::PacketOut => AsyncMsg::PacketOut(Box::new(decode_packet_out(v, r)?)),
        Kind::FlowRemoved => AsyncMsg::FlowRemoved(Box::new(decode_flow_removed(v, r)?)),
        Kind::PortStatus => {
            let mut r = r;
            let t = truncated("port status");
            let reason = match r.u8().map_err(&t)? {
                0 => PortReason::Add,
                1 => PortReason::Delete,
                2 => PortReason::Modify,
                n => {
                    return Err(DecodeError::new(
                        OfpError::BadPacket,
                        format!("port status reason {n}"),
                    ));
                }
            };
            r.skip(7).map_err(&t)?;
            if v == Version::Of11 || (v <= Version::Of13 && r.len() < port_len(v)) {
                return Err(DecodeError::new(
                    OfpError::BadLen,
                    "port status is truncated",
                ));
            }
            let desc = pull_port_any(&mut r, v)?;
            AsyncMsg::PortStatus(Box::new(PortStatus { reason, desc }))
        }
        Kind::GetAsyncRequest => AsyncMsg::GetAsyncRequest,
        Kind::RoleStatus => decode_role_status(r)?,
        Kind::GetAsyncReply => AsyncMsg::GetAsyncReply(pull_async_config(
            r,
            v >= Version::Of14,
            AsyncConfig::default_for(v),
        )?),
        Kind::SetAsync => AsyncMsg::SetAsync(pull_async_config(
            r,
            v >= Version::Of14,
            AsyncConfig::default_for(v),
        )?),
        _ => {
            return Err(DecodeError::new(
                OfpError::BadType,
                "not an asynchronous message",
            ));
        }
    })
}

/// Decodes a whole `OFPT_SET_ASYNC`, `NXT_SET_ASYNC_CONFIG` or `NXT_SET_ASYNC_CONFIG2`
/// message onto `basis`, a connection's current configuration: the property forms (OpenFlow
/// 1.4+, `NXT_SET_ASYNC_CONFIG2`) change only the masks they carry, as Open vSwitch applies
/// them ([`super::decode`] can only apply them onto the version's default).
pub fn decode_set_async_onto(bytes: &[u8], basis: AsyncConfig) -> Result<AsyncConfig, DecodeError> {
    let t = truncated("async config");
    let mut r = Reader::new(bytes);
    let version = r.u8().map_err(&t)?;
    let msg_type = r.u8().map_err(&t)?;
    r.skip(6).map_err(&t)?;
    let v = Version::from_wire(version)
        .ok_or_else(|| DecodeError::new(OfpError::BadVersion, format!("version {version:#04x}")))?;
    if Kind::SetAsync.wire_type(v) == Some(msg_type) {
        return pull_async_config(r, v >= Version::Of14, basis);
    }
    r.skip(4).map_err(&t)?;
    match r.u32().map_err(&t)? {
        sub::SET_ASYNC_CONFIG => pull_async_config(r, false, basis),
        sub::SET_ASYNC_CONFIG2 => pull_async_config(r, true, basis),
        other => Err(DecodeError::new(
            OfpError::BadSubtype,
            format!("not an async configuration (subtype {other})"),
        )),
    }
}

/// Decodes a Nicira message of this module (after the vendor header).
pub(crate) fn decode_nx(
    subtype: u32,
    v: Version,
    mut r: Reader<'_>,
) -> Result<AsyncMsg, DecodeError> {
    let t = truncated("Nicira message");
    Ok(match subtype {
        sub::PACKET_IN => AsyncMsg::PacketIn(Box::new(decode_nx_packet_in(r)?)),
        sub::PACKET_IN2 => AsyncMsg::PacketIn(Box::new(decode_nx_packet_in2(r)?)),
        sub::RESUME => AsyncMsg::Resume(Box::new(decode_nx_packet_in2(r)?)),
        sub::FLOW_REMOVED => AsyncMsg::FlowRemoved(Box::new(decode_nx_flow_removed(r)?)),
        sub::SET_PACKET_IN_FORMAT => {
            let f = r.u32().map_err(&t)?;
            AsyncMsg::SetPacketInFormat(PacketInFormat::from_wire(f).ok_or_else(|| {
                DecodeError::new(OfpError::Eperm, format!("unknown packet-in format {f}"))
            })?)
        }
        sub::SET_CONTROLLER_ID => {
            r.skip(6).map_err(&t)?;
            AsyncMsg::SetControllerId(r.u16().map_err(&t)?)
        }
        sub::SET_ASYNC_CONFIG => {
            AsyncMsg::SetAsync(pull_async_config(r, false, AsyncConfig::default_for(v))?)
        }
        sub::SET_ASYNC_CONFIG2 => {
            AsyncMsg::SetAsync(pull_async_config(r, true, AsyncConfig::default_for(v))?)
        }
        _ => {
            return Err(DecodeError::new(
                OfpError::BadSubtype,
                format!("Nicira message subtype {subtype}"),
            ));
        }
    })
}
