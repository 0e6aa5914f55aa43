//! Framing and the messages with a fixed shape: hello (with the version bitmap), echo, error
//! (standard, Nicira vendor and OpenFlow 1.2+ experimenter forms), features, switch config,
//! barrier and role; plus the Nicira vendor header that extension messages share.
//!
//! Message type numbers moved between versions (barrier is 18 in OpenFlow 1.0 and 20 later,
//! role requests are a Nicira extension before 1.2); [`Kind`] names each message once and
//! [`Kind::wire_type`] gives its number per version.

use super::buf::{Put, Reader, Truncated};
use super::error::NX_VENDOR_ID;
use super::stats::{AggregateStats, DescStats, FlowStatsReply, FlowStatsRequest};
use super::{DecodeError, EncodeError, ErrorCode, HEADER_LEN, Header, OfpError, Version};
use crate::flow_mod::FlowMod;
use crate::protocol::Protocol;
use crate::types::EthAddr;
use crate::types::PortNo;

/// A set of OpenFlow versions as the hello bitmap carries it: bit `n` = wire version `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VersionBitmap(pub u32);

impl VersionBitmap {
    /// Every version ferrovs speaks.
    pub const ALL: Self = Self(0b111_1110);

    /// The set holding `versions`.
    pub fn of(versions: &[Version]) -> Self {
        Self(versions.iter().fold(0, |acc, v| acc | 1 << v.wire()))
    }

    /// Every version up to and including `v` (what a hello without a bitmap offers).
    pub fn up_to(v: u8) -> Self {
        if v >= 31 {
            Self(!1)
        } else {
            Self(((1u32 << (v + 1)) - 1) & !1)
        }
    }

    /// The highest version in both sets that ferrovs speaks.
    pub fn highest_common(self, other: Self) -> Option<Version> {
        let both = self.0 & other.0;
        Version::ALL
            .into_iter()
            .rev()
            .find(|v| both & (1 << v.wire()) != 0)
    }
}

/// `OFPT_HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The version bitmap element, if the hello carries one.
    pub bitmap: Option<VersionBitmap>,
}

impl Hello {
    /// The versions a peer whose hello had header version `version` offers.
    pub fn offered(&self, version: u8) -> VersionBitmap {
        self.bitmap.unwrap_or_else(|| VersionBitmap::up_to(version))
    }
}

/// Version negotiation (OpenFlow 1.3.1 §6.3.1): the highest version both sides offer.
/// `ours` is what this side allows; `peer_version` and `peer` are the peer's hello header
/// version and body. `None` means the connection must fail with `OFPHFC_INCOMPATIBLE`.
pub fn negotiate(ours: VersionBitmap, peer_version: u8, peer: &Hello) -> Option<Version> {
    ours.highest_common(peer.offered(peer_version))
}

/// `OFPT_ERROR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMsg {
    /// The error's identity (standard, Nicira vendor, or experimenter).
    pub code: ErrorCode,
    /// The data: usually the start of the offending message.
    pub data: Vec<u8>,
}

/// A port's description (`ofp_phy_port` in OpenFlow 1.0, `ofp_port` in 1.1 to 1.3).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortDesc {
    /// The port number.
    pub port_no: PortNo,
    /// The port's Ethernet address.
    pub hw_addr: EthAddr,
    /// The name (at most 15 bytes on the wire).
    pub name: String,
    /// `OFPPC_*` configuration bits.
    pub config: u32,
    /// `OFPPS_*` state bits.
    pub state: u32,
    /// Current features (`OFPPF_*`).
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// Features advertised by the peer.
    pub peer: u32,
    /// Current speed in kb/s (OpenFlow 1.1+).
    pub curr_speed: u32,
    /// Maximum speed in kb/s (OpenFlow 1.1+).
    pub max_speed: u32,
}

/// `OFPT_FEATURES_REPLY`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Features {
    /// The datapath id.
    pub datapath_id: u64,
    /// Packets the switch can buffer.
    pub n_buffers: u32,
    /// Flow tables.
    pub n_tables: u8,
    /// Auxiliary connection id (OpenFlow 1.3+).
    pub auxiliary_id: u8,
    /// `OFPC_*` capability bits.
    pub capabilities: u32,
    /// OpenFlow 1.0's bitmap of supported actions (0 elsewhere).
    pub actions: u32,
    /// Ports (OpenFlow 1.0 to 1.2 list them here; 1.3+ use a port-desc request).
    pub ports: Vec<PortDesc>,
}

/// `OFPT_GET_CONFIG_REPLY` / `OFPT_SET_CONFIG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*` fragment handling.
    pub flags: u16,
    /// Bytes of a table-miss packet sent to the controller.
    pub miss_send_len: u16,
}

/// A controller role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Leave the role unchanged (query).
    NoChange,
    /// Full access, shared with other `Equal` controllers.
    Equal,
    /// Full access; other masters become slaves.
    Master,
    /// Read-only access.
    Slave,
}

/// A role request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleMsg {
    /// The role.
    pub role: Role,
    /// The master election generation (OpenFlow 1.2+); `None` when not given.
    pub generation_id: Option<u64>,
}

/// Every message the codec knows, version-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `OFPT_HELLO`.
    Hello(Hello),
    /// `OFPT_ERROR`.
    Error(ErrorMsg),
    /// `OFPT_ECHO_REQUEST` with its payload.
    EchoRequest(Vec<u8>),
    /// `OFPT_ECHO_REPLY` with its payload.
    EchoReply(Vec<u8>),
    /// `OFPT_FEATURES_REQUEST`.
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply(Features),
    /// `OFPT_GET_CONFIG_REQUEST`.
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY`.
    GetConfigReply(SwitchConfig),
    /// `OFPT_SET_CONFIG`.
    SetConfig(SwitchConfig),
    /// `OFPT_BARRIER_REQUEST`.
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY`.
    BarrierReply,
    /// `OFPT_ROLE_REQUEST` (`NXT_ROLE_REQUEST` before OpenFlow 1.2).
    RoleRequest(RoleMsg),
    /// `OFPT_ROLE_REPLY` (`NXT_ROLE_REPLY` before OpenFlow 1.2).
    RoleReply(RoleMsg),
    /// `OFPT_FLOW_MOD` or `NXT_FLOW_MOD`.
    FlowMod(Box<FlowMod>),
    /// `OFPST_DESC` / `OFPMP_DESC` request.
    DescStatsRequest,
    /// `OFPST_DESC` / `OFPMP_DESC` reply.
    DescStatsReply(Box<DescStats>),
    /// `OFPST_FLOW`, `NXST_FLOW` or `OFPMP_FLOW` request.
    FlowStatsRequest(Box<FlowStatsRequest>),
    /// One message of a flow statistics reply.
    FlowStatsReply(FlowStatsReply),
    /// `OFPST_AGGREGATE`, `NXST_AGGREGATE` or `OFPMP_AGGREGATE` request.
    AggregateStatsRequest(Box<FlowStatsRequest>),
    /// An aggregate statistics reply.
    AggregateStatsReply(AggregateStats),
    /// Port descriptions, port-mod, port and queue statistics ([`super::port`]).
    Port(super::port::PortMsg),
    /// Table statistics, table/meter/group features ([`super::table`]).
    Table(super::table::TableMsg),
    /// Packet-in, packet-out, flow-removed, port-status and the async settings
    /// ([`super::async_msg`]).
    Async(super::async_msg::AsyncMsg),
    /// Bundle control and add messages ([`super::bundle`]).
    Bundle(super::bundle::BundleMsg),
    /// Flow monitor requests, updates, cancel/paused/resumed ([`super::flow_monitor`]).
    FlowMonitor(super::flow_monitor::FlowMonitorMsg),
    /// Group-mods, group descriptions and group statistics ([`super::group`]).
    Group(super::group::GroupMsg),
    /// Meter-mods, meter configurations and meter statistics ([`super::meter`]).
    Meter(super::meter::MeterMsg),
}

/// Standard message types, named once; [`Kind::wire_type`] numbers them per version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Hello,
    Error,
    EchoRequest,
    EchoReply,
    Vendor,
    FeaturesRequest,
    FeaturesReply,
    GetConfigRequest,
    GetConfigReply,
    SetConfig,
    FlowMod,
    BarrierRequest,
    BarrierReply,
    RoleRequest,
    RoleReply,
    StatsRequest,
    StatsReply,
    PortMod,
    PacketIn,
    FlowRemoved,
    PortStatus,
    PacketOut,
    GetAsyncRequest,
    GetAsyncReply,
    SetAsync,
    RoleStatus,
    BundleControl,
    BundleAddMessage,
    GroupMod,
    MeterMod,
}

impl Kind {
    const ALL: [Self; 30] = [
        Self::Hello,
        Self::Error,
        Self::EchoRequest,
        Self::EchoReply,
        Self::Vendor,
        Self::FeaturesRequest,
        Self::FeaturesReply,
        Self::GetConfigRequest,
        Self::GetConfigReply,
        Self::SetConfig,
        Self::FlowMod,
        Self::BarrierRequest,
        Self::BarrierReply,
        Self::RoleRequest,
        Self::RoleReply,
        Self::StatsRequest,
        Self::StatsReply,
        Self::PortMod,
        Self::PacketIn,
        Self::FlowRemoved,
        Self::PortStatus,
        Self::PacketOut,
        Self::GetAsyncRequest,
        Self::GetAsyncReply,
        Self::SetAsync,
        Self::RoleStatus,
        Self::BundleControl,
        Self::BundleAddMessage,
        Self::GroupMod,
        Self::MeterMod,
    ];

    /// The type number in `v`, or `None` when the version has no such standard message.
    pub(crate) const fn wire_type(self, v: Version) -> Option<u8> {
        let of10 = matches!(v, Version::Of10);
        Some(match self {
            Self::Hello => 0,
            Self::Error => 1,
            Self::EchoRequest => 2,
            Self::EchoReply => 3,
            Self::Vendor => 4,
            Self::FeaturesRequest => 5,
            Self::FeaturesReply => 6,
            Self::GetConfigRequest => 7,
            Self::GetConfigReply => 8,
            Self::SetConfig => 9,
            Self::FlowMod => 14,
            Self::StatsRequest if of10 => 16,
            Self::StatsReply if of10 => 17,
            Self::StatsRequest => 18,
            Self::StatsReply => 19,
            Self::BarrierRequest if of10 => 18,
            Self::BarrierReply if of10 => 19,
            Self::BarrierRequest => 20,
            Self::BarrierReply => 21,
            Self::RoleRequest | Self::RoleReply if (v as u8) < 3 => return None,
            Self::RoleRequest => 24,
            Self::RoleReply => 25,
            Self::PortMod if of10 => 15,
            Self::PortMod => 16,
            Self::PacketIn => 10,
            Self::FlowRemoved => 11,
            Self::PortStatus => 12,
            Self::PacketOut => 13,
            // OpenFlow 1.0 to 1.2 configure async messages with NXT_SET_ASYNC_CONFIG.
            Self::GetAsyncRequest | Self::GetAsyncReply | Self::SetAsync if (v as u8) < 4 => {
                return None;
            }
            Self::GetAsyncRequest => 26,
            Self::GetAsyncReply => 27,
            Self::SetAsync => 28,
            Self::RoleStatus if (v as u8) < 5 => return None,
            Self::RoleStatus => 30,
            Self::BundleControl | Self::BundleAddMessage if (v as u8) < 5 => return None,
            Self::BundleControl => 33,
            Self::BundleAddMessage => 34,
            // OpenFlow 1.0 carries group-mods as `NXT_GROUP_MOD`.
            Self::GroupMod if of10 => return None,
            Self::GroupMod => super::group::OFPT_GROUP_MOD,
            // Meters exist from OpenFlow 1.3 on, with no Nicira form before.
            Self::MeterMod if (v as u8) < 4 => return None,
            Self::MeterMod => super::meter::OFPT_METER_MOD,
        })
    }

    fn from_wire(v: Version, t: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.wire_type(v) == Some(t))
    }
}

/// Nicira extension message subtypes (`NXT_*`), carried in a vendor message.
pub(crate) mod nxt {
    pub(crate) const ROLE_REQUEST: u32 = 10;
    pub(crate) const ROLE_REPLY: u32 = 11;
    pub(crate) const FLOW_MOD: u32 = 13;
}

/// Writes an OpenFlow header whose length is filled in by [`finish`].
pub(crate) fn start(version: Version, msg_type: u8, xid: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.put_u8(version.wire());
    b.put_u8(msg_type);
    b.put_u16(0);
    b.put_u32(xid);
    b
}

/// Writes a Nicira vendor header (`nicira_header`: OpenFlow header, vendor id, subtype).
pub(crate) fn start_nx(version: Version, subtype: u32, xid: u32) -> Vec<u8> {
    let mut b = start(version, 4, xid);
    b.put_u32(NX_VENDOR_ID);
    b.put_u32(subtype);
    b
}

/// Fills in the length field.
pub(crate) fn finish(mut b: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    let len = u16::try_from(b.len()).map_err(|_| EncodeError::TooLong(b.len()))?;
    b.set_u16(2, len);
    Ok(b)
}

pub(crate) fn truncated(what: &str) -> impl Fn(Truncated) -> DecodeError + '_ {
    move |_| DecodeError::new(OfpError::BadLen, format!("{what} is truncated"))
}

pub(super) fn encode(msg: &Message, protocol: Protocol, xid: u32) -> Result<Vec<u8>, EncodeError> {
    if let Some(r) = super::stats::encode(msg, protocol, xid) {
        return r;
    }
    if let Some(r) = super::port::encode(msg, protocol, xid) {
        return r;
    }
    if let Some(r) = super::table::encode(msg, protocol, xid) {
        return r;
    }
    if let Message::Async(m) = msg {
        return super::async_msg::encode(m, protocol, xid);
    }
    if let Some(r) = super::bundle::encode(msg, protocol, xid) {
        return r;
    }
    if let Some(r) = super::flow_monitor::encode(msg, protocol, xid) {
        return r;
    }
    if let Some(r) = super::group::encode(msg, protocol, xid) {
        return r;
    }
    if let Some(r) = super::meter::encode(msg, protocol, xid) {
        return r;
    }
    let v = Version::of(protocol);
    let std = |k: Kind| start(v, k.wire_type(v).unwrap_or(0), xid);
    let b = match msg {
        Message::Hello(h) => {
            let mut b = std(Kind::Hello);
            if let Some(bm) = h.bitmap {
                b.put_u16(1);
                b.put_u16(8);
                b.put_u32(bm.0);
            }
            b
        }
        Message::Error(e) => {
            let mut b = std(Kind::Error);
            encode_error_code(&mut b, v, e.code);
            b.extend_from_slice(&e.data);
            b
        }
        Message::EchoRequest(d) | Message::EchoReply(d) => {
            let k = if matches!(msg, Message::EchoRequest(_)) {
                Kind::EchoRequest
            } else {
                Kind::EchoReply
            };
            let mut b = std(k);
            b.extend_from_slice(d);
            b
        }
        Message::FeaturesRequest => std(Kind::FeaturesRequest),
        Message::FeaturesReply(f) => {
            let mut b = std(Kind::FeaturesReply);
            encode_features(&mut b, v, f);
            b
        }
        Message::GetConfigRequest => std(Kind::GetConfigRequest),
        Message::GetConfigReply(c) | Message::SetConfig(c) => {
            let k = if matches!(msg, Message::SetConfig(_)) {
                Kind::SetConfig
            } else {
                Kind::GetConfigReply
            };
            let mut b = std(k);
            b.put_u16(c.flags);
            b.put_u16(c.miss_send_len);
            b
        }
        Message::BarrierRequest => std(Kind::BarrierRequest),
        Message::BarrierReply => std(Kind::BarrierReply),
        Message::RoleRequest(r) | Message::RoleReply(r) => {
            let request = matches!(msg, Message::RoleRequest(_));
            encode_role(v, request, r, xid)
        }
        Message::FlowMod(fm) => return super::flow::encode_flow_mod(fm, protocol, xid),
        // Handled by the async, port and table modules above.
        Message::Async(_)
        | Message::Port(_)
        | Message::Table(_)
        | Message::Bundle(_)
        | Message::FlowMonitor(_)
        | Message::Group(_)
        | Message::Meter(_) => {
            return Err(EncodeError::Message {
                message: "asynchronous, port, table or bundle",
                version: v,
            });
        }
        // Handled by the stats module above.
        Message::DescStatsRequest
        | Message::DescStatsReply(_)
        | Message::FlowStatsRequest(_)
        | Message::FlowStatsReply(_)
        | Message::AggregateStatsRequest(_)
        | Message::AggregateStatsReply(_) => {
            return Err(EncodeError::Message {
                message: "statistics",
                version: v,
            });
        }
    };
    finish(b)
}

fn encode_error_code(b: &mut Vec<u8>, v: Version, c: ErrorCode) {
    match c.vendor {
        0 => {
            b.put_u16(c.r#type);
            b.put_u16(c.code);
        }
        // OpenFlow 1.0 and 1.1: Nicira's `NXET_VENDOR` / `NXVC_VENDOR_ERROR` wrapper.
        vendor if v <= Version::Of11 => {
            b.put_u16(NXET_VENDOR);
            b.put_u16(0);
            b.put_u32(vendor);
            b.put_u16(c.r#type);
            b.put_u16(c.code);
        }
        // OpenFlow 1.2+: `OFPET_EXPERIMENTER` with the vendor's type as the experimenter code.
        vendor => {
            b.put_u16(0xffff);
            b.put_u16(c.r#type);
            b.put_u32(vendor);
        }
    }
}

/// Nicira's error type for a vendor error wrapped in an OpenFlow 1.0/1.1 error message.
const NXET_VENDOR: u16 = 0xb0c2;

fn encode_features(b: &mut Vec<u8>, v: Version, f: &Features) {
    b.put_u64(f.datapath_id);
    b.put_u32(f.n_buffers);
    b.put_u8(f.n_tables);
    if v >= Version::Of13 {
        b.put_u8(f.auxiliary_id);
        b.put_zeros(2);
    } else {
        b.put_zeros(3);
    }
    b.put_u32(f.capabilities);
    b.put_u32(if v == Version::Of10 { f.actions } else { 0 });
    if v <= Version::Of12 {
        // `b` holds the whole message from its header on. Ports that would take it past
        // OpenFlow's 64 KiB are left out: a reply that is full to the brim tells the
        // controller to ask for the port descriptions instead (as Open vSwitch's switch
        // does, and ovs-ofctl expects; OpenFlow 1.3 moved them out of this reply for that
        // reason).
        let size = if v == Version::Of10 { 48 } else { 64 };
        for p in &f.ports {
            if b.len() + size > usize::from(u16::MAX) {
                break;
            }
            encode_port(b, v, p);
        }
    }
}

/// Writes a port description in the fixed layout of OpenFlow 1.0 (48 bytes) or 1.1–1.3 (64).
pub(crate) fn encode_port(b: &mut Vec<u8>, v: Version, p: &PortDesc) {
    let name = super::port::name16(&p.name);
    if v == Version::Of10 {
        b.put_u16(port_to_of10(p.port_no));
        b.extend_from_slice(&p.hw_addr.0);
        b.extend_from_slice(&name);
    } else {
        b.put_u32(p.port_no.0);
        b.put_zeros(4);
        b.extend_from_slice(&p.hw_addr.0);
        b.put_zeros(2);
        b.extend_from_slice(&name);
    }
    for x in [p.config, p.state, p.curr, p.advertised, p.supported, p.peer] {
        b.put_u32(x);
    }
    if v != Version::Of10 {
        b.put_u32(p.curr_speed);
        b.put_u32(p.max_speed);
    }
}

/// Length of a port description in `v`'s fixed layout.
pub(crate) const fn port_len(v: Version) -> usize {
    if matches!(v, Version::Of10) { 48 } else { 64 }
}

pub(crate) fn decode_port(r: &mut Reader<'_>, v: Version) -> Result<PortDesc, Truncated> {
    let mut p = PortDesc::default();
    let mut r = r.take(port_len(v))?;
    if v == Version::Of10 {
        p.port_no = PortNo::from_of10(r.u16()?);
        p.hw_addr = EthAddr(r.array()?);
    } else {
        p.port_no = PortNo(r.u32()?);
        r.skip(4)?;
        p.hw_addr = EthAddr(r.array()?);
        r.skip(2)?;
    }
    p.name = super::port::name_from16(&r.array()?);
    p.config = r.u32()?;
    p.state = r.u32()?;
    p.curr = r.u32()?;
    p.advertised = r.u32()?;
    p.supported = r.u32()?;
    p.peer = r.u32()?;
    if v != Version::Of10 {
        p.curr_speed = r.u32()?;
        p.max_speed = r.u32()?;
    }
    Ok(p)
}

/// An OpenFlow 1.0 port number (reserved ports move back down to 16 bits; others keep their
/// low 16 bits, as OpenFlow 1.0 has no larger ports).
pub(crate) fn port_to_of10(p: PortNo) -> u16 {
    if p.0 >= 0xffff_ff00 {
        (p.0 & 0xffff) as u16
    } else {
        p.0 as u16
    }
}

fn encode_role(v: Version, request: bool, r: &RoleMsg, xid: u32) -> Vec<u8> {
    if v >= Version::Of12 {
        let k = if request {
            Kind::RoleRequest
        } else {
            Kind::RoleReply
        };
        let mut b = start(v, k.wire_type(v).unwrap_or(0), xid);
        b.put_u32(match r.role {
            Role::NoChange => 0,
            Role::Equal => 1,
            Role::Master => 2,
            Role::Slave => 3,
        });
        b.put_zeros(4);
        b.put_u64(r.generation_id.unwrap_or(u64::MAX));
        b
    } else {
        let sub = if request {
            nxt::ROLE_REQUEST
        } else {
            nxt::ROLE_REPLY
        };
        let mut b = start_nx(v, sub, xid);
        // Nicira roles: 0 = other (equal), 1 = master, 2 = slave; no "no change".
        b.put_u32(match r.role {
            Role::NoChange | Role::Equal => 0,
            Role::Master => 1,
            Role::Slave => 2,
        });
        b
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    let mut r = Reader::new(bytes);
    let header = Header {
        version: r.u8().map_err(truncated("OpenFlow header"))?,
        msg_type: r.u8().map_err(truncated("OpenFlow header"))?,
        length: r.u16().map_err(truncated("OpenFlow header"))?,
        xid: r.u32().map_err(truncated("OpenFlow header"))?,
    };
    if usize::from(header.length) != bytes.len() || bytes.len() < HEADER_LEN {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!(
                "header length {} but message is {} bytes",
                header.length,
                bytes.len()
            ),
        ));
    }
    // A hello of any version must be understood so that negotiation can fail gracefully.
    if header.msg_type == 0 {
        return Ok((header, Message::Hello(decode_hello(r)?)));
    }
    let v = Version::from_wire(header.version).ok_or_else(|| {
        DecodeError::new(
            OfpError::BadVersion,
            format!("unsupported OpenFlow version {:#04x}", header.version),
        )
    })?;
    let kind = Kind::from_wire(v, header.msg_type).ok_or_else(|| {
        DecodeError::new(
            OfpError::BadType,
            format!("unknown message type {} in {v}", header.msg_type),
        )
    })?;
    let body = r.rest();
    let t = truncated;
    let msg = match kind {
        Kind::Hello => Message::Hello(decode_hello(r)?),
        Kind::Error => Message::Error(decode_error(v, r)?),
        Kind::EchoRequest => Message::EchoRequest(body.to_vec()),
        Kind::EchoReply => Message::EchoReply(body.to_vec()),
        Kind::FeaturesRequest => Message::FeaturesRequest,
        Kind::FeaturesReply => Message::FeaturesReply(decode_features(v, r)?),
        Kind::GetConfigRequest => Message::GetConfigRequest,
        Kind::GetConfigReply | Kind::SetConfig => {
            let c = SwitchConfig {
                flags: r.u16().map_err(t("switch config"))?,
                miss_send_len: r.u16().map_err(t("switch config"))?,
            };
            if kind == Kind::SetConfig {
                Message::SetConfig(c)
            } else {
                Message::GetConfigReply(c)
            }
        }
        Kind::BarrierRequest => Message::BarrierRequest,
        Kind::BarrierReply => Message::BarrierReply,
        Kind::RoleRequest | Kind::RoleReply => {
            let role = match r.u32().map_err(t("role request"))? {
                0 => Role::NoChange,
                1 => Role::Equal,
                2 => Role::Master,
                3 => Role::Slave,
                n => return Err(DecodeError::new(OfpError::RoleBadRole, format!("role {n}"))),
            };
            r.skip(4).map_err(t("role request"))?;
            let g = r.u64().map_err(t("role request"))?;
            let m = RoleMsg {
                role,
                generation_id: (g != u64::MAX).then_some(g),
            };
            if kind == Kind::RoleRequest {
                Message::RoleRequest(m)
            } else {
                Message::RoleReply(m)
            }
        }
        Kind::FlowMod => Message::FlowMod(Box::new(super::flow::decode_flow_mod(v, r)?)),
        Kind::GroupMod => Message::Group(super::group::GroupMsg::Mod(
            super::group::decode_group_mod(v, r)?,
        )),
        Kind::MeterMod => Message::Meter(super::meter::MeterMsg::Mod(
            super::meter::decode_meter_mod(r)?,
        )),
        Kind::Vendor => decode_vendor(v, r)?,
        Kind::StatsRequest => super::stats::decode(v, true, r)?,
        Kind::StatsReply => super::stats::decode(v, false, r)?,
        Kind::BundleControl => super::bundle::decode_control(r)?,
        Kind::BundleAddMessage => super::bundle::decode_add(r)?,
        Kind::PortMod => Message::Port(super::port::PortMsg::Mod(super::port::decode_port_mod(
            v, r,
        )?)),
        Kind::PacketIn
        | Kind::FlowRemoved
        | Kind::PortStatus
        | Kind::PacketOut
        | Kind::GetAsyncRequest
        | Kind::GetAsyncReply
        | Kind::SetAsync
        | Kind::RoleStatus => Message::Async(super::async_msg::decode_std(kind, v, r)?),
    };
    Ok((header, msg))
}

fn decode_hello(mut r: Reader<'_>) -> Result<Hello, DecodeError> {
    let mut bitmap = None;
    // Elements: type, length (header included), body, padding to 8. Unknown ones are
    // skipped, and a hello whose elements are malformed still counts as a plain hello, as
    // the specification asks receivers to be liberal here.
    while r.len() >= 4 {
        let (Ok(ty), Ok(len)) = (r.peek_u16(0), r.peek_u16(2)) else {
            break;
        };
        let len = usize::from(len);
        if len < 4 || r.len() < len {
            break;
        }
        let Ok(mut el) = r.take(len) else { break };
        let _ = r.skip(len.next_multiple_of(8) - len);
        if ty == 1 {
            let _ = el.skip(4);
            // Only the first word matters: versions above 31 do not exist.
            let mut bits = 0;
            if let Ok(w) = el.u32() {
                bits = w;
            }
            bitmap = Some(VersionBitmap(bits));
        }
    }
    Ok(Hello { bitmap })
}

fn decode_error(v: Version, mut r: Reader<'_>) -> Result<ErrorMsg, DecodeError> {
    let t = truncated("error message");
    let ty = r.u16().map_err(&t)?;
    let code = r.u16().map_err(&t)?;
    let code = if ty == NXET_VENDOR && v <= Version::Of11 {
        ErrorCode {
            vendor: r.u32().map_err(&t)?,
            r#type: r.u16().map_err(&t)?,
            code: r.u16().map_err(&t)?,
        }
    } else if ty == 0xffff && v >= Version::Of12 {
        ErrorCode {
            vendor: r.u32().map_err(&t)?,
            r#type: code,
            code: 0,
        }
    } else {
        ErrorCode {
            vendor: 0,
            r#type: ty,
            code,
        }
    };
    Ok(ErrorMsg {
        code,
        data: r.rest().to_vec(),
    })
}

fn decode_features(v: Version, mut r: Reader<'_>) -> Result<Features, DecodeError> {
    let t = truncated("features reply");
    let mut f = Features {
        datapath_id: r.u64().map_err(&t)?,
        n_buffers: r.u32().map_err(&t)?,
        n_tables: r.u8().map_err(&t)?,
        ..Features::default()
    };
    if v >= Version::Of13 {
        f.auxiliary_id = r.u8().map_err(&t)?;
        r.skip(2).map_err(&t)?;
    } else {
        r.skip(3).map_err(&t)?;
    }
    f.capabilities = r.u32().map_err(&t)?;
    let actions = r.u32().map_err(&t)?;
    if v == Version::Of10 {
        f.actions = actions;
    }
    if v <= Version::Of12 {
        if !r.len().is_multiple_of(port_len(v)) {
            return Err(DecodeError::new(
                OfpError::BadLen,
                "features reply ports are not a whole number of port descriptions",
            ));
        }
        while !r.is_empty() {
            f.ports.push(decode_port(&mut r, v).map_err(&t)?);
        }
    }
    Ok(f)
}

fn decode_vendor(v: Version, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let t = truncated("vendor message");
    let vendor = r.u32().map_err(&t)?;
    if vendor == super::error::ONF_VENDOR_ID {
        // ONFT_ROLE_STATUS is the async module's; the other ONF messages are bundles.
        let exp_type = (r.peek_u16(0), r.peek_u16(2));
        if exp_type == (Ok(0), Ok(super::async_msg::ONFT_ROLE_STATUS as u16)) && v == Version::Of13
        {
            let mut r = r;
            r.skip(4).map_err(&t)?;
            return Ok(Message::Async(super::async_msg::decode_role_status(r)?));
        }
        if let (Ok(0), Ok(low)) = exp_type
            && super::flow_monitor::is_onf_type(u32::from(low))
        {
            let mut r = r;
            r.skip(4).map_err(&t)?;
            return super::flow_monitor::decode_onf(u32::from(low), r);
        }
        return super::bundle::decode_onf(v, r);
    }
    if vendor != NX_VENDOR_ID {
        return Err(DecodeError::new(
            OfpError::BadVendor,
            format!("vendor {vendor:#x}"),
        ));
    }
    let subtype = r.u32().map_err(&t)?;
    match subtype {
        nxt::ROLE_REQUEST | nxt::ROLE_REPLY => {
            let role = match r.u32().map_err(truncated("Nicira role request"))? {
                0 => Role::Equal,
                1 => Role::Master,
                2 => Role::Slave,
                n => return Err(DecodeError::new(OfpError::RoleBadRole, format!("role {n}"))),
            };
            let m = RoleMsg {
                role,
                generation_id: None,
            };
            Ok(if subtype == nxt::ROLE_REQUEST {
                Message::RoleRequest(m)
            } else {
                Message::RoleReply(m)
            })
        }
        nxt::FLOW_MOD => Ok(Message::FlowMod(Box::new(super::flow::decode_nx_flow_mod(
            v, r,
        )?))),
        s if super::async_msg::is_nx_subtype(s) => {
            Ok(Message::Async(super::async_msg::decode_nx(s, v, r)?))
        }
        s if super::flow_monitor::is_nx_subtype(s) => super::flow_monitor::decode_nx(s, r),
        super::group::NXT_GROUP_MOD => Ok(Message::Group(super::group::GroupMsg::Mod(
            super::group::decode_group_mod(v, r)?,
        ))),
        _ => Err(DecodeError::new(
            OfpError::BadSubtype,
            format!("Nicira message subtype {subtype}"),
        )),
    }
}
