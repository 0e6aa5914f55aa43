//! The OpenFlow wire codec: OpenFlow 1.0 to 1.5 with the Nicira extensions, translating
//! between bytes and the version-neutral model ([`Message`], [`FlowMod`](crate::FlowMod),
//! [`Action`](crate::Action), [`Match`](fvs_flow::Match)).
//!
//! # Use
//!
//! ```
//! use fvs_openflow::protocol::Protocol;
//! use fvs_openflow::wire::{self, Message};
//!
//! let bytes = wire::encode(&Message::EchoRequest(b"hi".to_vec()), Protocol::Of13, 7).unwrap();
//! let (header, msg) = wire::decode(&bytes).unwrap();
//! assert_eq!((header.xid, msg), (7, Message::EchoRequest(b"hi".to_vec())));
//! ```
//!
//! # Design
//!
//! - One model, versions only here. [`encode`] takes a [`Protocol`] (a version, plus for
//!   OpenFlow 1.0 whether flows travel as Nicira's NXM and whether the table-id extension is
//!   on); [`decode`] reads the version from the header and the encoding from the message type.
//! - Submodules follow the wire's own structure: [`buf`] (bounds-checked reading),
//!   [`error`] (error codes per version), [`msg`] (framing and the simple messages),
//!   [`oxm`] (NXM/OXM match streams, driven by the field registry's header codes), [`of10`]
//!   (OpenFlow 1.0's fixed `ofp_match` and actions), [`of13`] (OpenFlow 1.1+ actions and
//!   instructions), [`nx`] (Nicira extension actions), [`flow`] (flow-mods), [`stats`]
//!   (flow, aggregate and description statistics, with multipart splitting), [`port`]
//!   (port descriptions, port-mod, port and queue statistics), [`table`] (table
//!   statistics, table/meter/group features), [`bundle`] (bundle control and add messages,
//!   OpenFlow 1.4's and 1.3's ONF extension), [`async_msg`] (packet-in, packet-out,
//!   flow-removed, port-status and the asynchronous-message settings), [`continuation`]
//!   (the state of a paused translation, `controller(pause)` and `NXT_RESUME`), [`flow_monitor`]
//!   (flow monitors and their update events: Nicira's `NXST_FLOW_MONITOR` up to 1.2, ONF's
//!   experimenter form in 1.3, `OFPMP_FLOW_MONITOR` from 1.4), [`group`] (group-mods, group
//!   descriptions and statistics, OpenFlow 1.0's Nicira forms), [`meter`] (meter-mods, meter
//!   configurations and statistics, OpenFlow 1.3+).
//! - Decoders never panic: every read is bounds-checked, every failure is a [`DecodeError`]
//!   carrying the [`OfpError`] a switch answers with ([`OfpError::code`] maps it to the
//!   `(type, code)` of each version).
//! - Encoders write what Open vSwitch writes for the same model, so that `ovs-ofctl ofp-print`
//!   of ferrovs's bytes reads exactly as ovs-ofctl's own; tests check this against the
//!   installed `ovs-ofctl`.

pub mod async_msg;
pub(crate) mod buf;
pub mod bundle;
pub mod continuation;
pub mod error;
pub mod flow;
pub mod flow_monitor;
pub mod group;
pub mod meter;
pub mod msg;
pub mod nx;
pub mod of10;
pub mod of13;
pub mod oxm;
pub mod port;
pub mod stats;
pub mod table;

pub use async_msg::{
    AsyncConfig, AsyncMsg, FlowRemoved, FlowRemovedReason, PacketIn, PacketInFormat, PacketOut,
    PortReason, PortStatus, RoleReason, RoleStatus,
};
pub use error::{DecodeError, EncodeError, ErrorCode, OfpError};
pub use msg::{
    ErrorMsg, Features, Hello, Message, PortDesc, Role, RoleMsg, SwitchConfig, VersionBitmap,
};
pub use stats::{
    AggregateStats, DescStats, FlowStats, FlowStatsReply, FlowStatsRequest, encode_flow_stats_reply,
};

use crate::protocol::Protocol;
use core::fmt;

/// An OpenFlow version, by its wire number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Version {
    /// OpenFlow 1.0 (wire 0x01).
    Of10 = 1,
    /// OpenFlow 1.1 (wire 0x02).
    Of11 = 2,
    /// OpenFlow 1.2 (wire 0x03).
    Of12 = 3,
    /// OpenFlow 1.3 (wire 0x04).
    Of13 = 4,
    /// OpenFlow 1.4 (wire 0x05).
    Of14 = 5,
    /// OpenFlow 1.5 (wire 0x06).
    Of15 = 6,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Self; 6] = [
        Self::Of10,
        Self::Of11,
        Self::Of12,
        Self::Of13,
        Self::Of14,
        Self::Of15,
    ];

    /// The version with wire number `v`, if ferrovs speaks it.
    pub const fn from_wire(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Of10),
            2 => Some(Self::Of11),
            3 => Some(Self::Of12),
            4 => Some(Self::Of13),
            5 => Some(Self::Of14),
            6 => Some(Self::Of15),
            _ => None,
        }
    }

    /// The wire number.
    pub const fn wire(self) -> u8 {
        self as u8
    }

    /// The protocol ovs-ofctl uses for this version by default (NXM with table ids for 1.0).
    pub const fn default_protocol(self) -> Protocol {
        match self {
            Self::Of10 => Protocol::Of10NxmTid,
            Self::Of11 => Protocol::Of11,
            Self::Of12 => Protocol::Of12,
            Self::Of13 => Protocol::Of13,
            Self::Of14 => Protocol::Of14,
            Self::Of15 => Protocol::Of15,
        }
    }

    /// The version a protocol variant speaks.
    pub const fn of(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Of10Std | Protocol::Of10StdTid | Protocol::Of10Nxm | Protocol::Of10NxmTid => {
                Self::Of10
            }
            Protocol::Of11 => Self::Of11,
            Protocol::Of12 => Self::Of12,
            Protocol::Of13 => Self::Of13,
            Protocol::Of14 => Self::Of14,
            Protocol::Of15 => Self::Of15,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenFlow 1.{}", self.wire() - 1)
    }
}

/// The OpenFlow header every message starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The wire version (any value for a hello; a [`Version`] for everything else).
    pub version: u8,
    /// The message type number in that version.
    pub msg_type: u8,
    /// The message length, header included.
    pub length: u16,
    /// The transaction id.
    pub xid: u32,
}

/// Length of the OpenFlow header.
pub const HEADER_LEN: usize = 8;

/// The length of the message at the start of `bytes` (from its header), or `None` when fewer
/// than 8 bytes are there. A stream reader waits until that many bytes are available; a
/// length below 8 is a framing error the caller must treat as fatal.
pub fn message_len(bytes: &[u8]) -> Option<usize> {
    let b = bytes.get(2..4)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

/// Encodes `msg` for `protocol` with transaction id `xid`.
pub fn encode(msg: &Message, protocol: Protocol, xid: u32) -> Result<Vec<u8>, EncodeError> {
    msg::encode(msg, protocol, xid)
}

/// Decodes one whole message (exactly `bytes`, whose header length must match).
pub fn decode(bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    msg::decode(bytes)
}
