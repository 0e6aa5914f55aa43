//! Bundles: a group of flow-mods (and port-mods) a switch applies all together or not at all.
//!
//! | model               | OpenFlow 1.3 (ONF extension)                | 1.4+                           |
//! |---------------------|---------------------------------------------|--------------------------------|
//! | [`BundleCtrl`]      | experimenter `ONFT_BUNDLE_CONTROL` (2300)   | `OFPT_BUNDLE_CONTROL` (33)     |
//! | [`BundleAdd`]       | experimenter `ONFT_BUNDLE_ADD_MESSAGE` (2301) | `OFPT_BUNDLE_ADD_MESSAGE` (34) |
//!
//! The bodies are the same in both forms: a bundle id, a control type or padding, flags, then
//! for an add the whole inner message (header included) and optional properties. The inner
//! message is kept as bytes ([`BundleAdd::message`]): it is encoded in the session's protocol
//! like any other message and its transaction id must equal the outer one, so the sender
//! encodes it first and the switch decodes it when it takes it into the bundle.
//!
//! Properties (none defined but the experimenter's) are skipped on decode and never written.

use super::buf::{Put, Reader};
use super::error::ONF_VENDOR_ID;
use super::msg::{Message, finish, start};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::protocol::Protocol;

/// `OFPT_BUNDLE_CONTROL` (OpenFlow 1.4+).
pub(crate) const OFPT_BUNDLE_CONTROL: u8 = 33;
/// `OFPT_BUNDLE_ADD_MESSAGE` (OpenFlow 1.4+).
pub(crate) const OFPT_BUNDLE_ADD_MESSAGE: u8 = 34;
/// `ONFT_BUNDLE_CONTROL` (OpenFlow 1.3, ONF experimenter).
pub(crate) const ONFT_BUNDLE_CONTROL: u32 = 2300;
/// `ONFT_BUNDLE_ADD_MESSAGE` (OpenFlow 1.3, ONF experimenter).
pub(crate) const ONFT_BUNDLE_ADD_MESSAGE: u32 = 2301;
/// `OFPT_EXPERIMENTER`.
const OFPT_EXPERIMENTER: u8 = 4;

/// A bundle control message's type (`OFPBCT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleCtrlType {
    /// Open a bundle.
    OpenRequest,
    /// The bundle is open.
    OpenReply,
    /// Close a bundle: no more messages may be added.
    CloseRequest,
    /// The bundle is closed.
    CloseReply,
    /// Apply every message of the bundle, all or none.
    CommitRequest,
    /// The bundle was applied.
    CommitReply,
    /// Forget a bundle.
    DiscardRequest,
    /// The bundle is forgotten.
    DiscardReply,
}

impl BundleCtrlType {
    const ALL: [Self; 8] = [
        Self::OpenRequest,
        Self::OpenReply,
        Self::CloseRequest,
        Self::CloseReply,
        Self::CommitRequest,
        Self::CommitReply,
        Self::DiscardRequest,
        Self::DiscardReply,
    ];

    /// The wire number.
    pub const fn wire(self) -> u16 {
        self as u16
    }

    /// The type with wire number `n`.
    pub fn from_wire(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.wire() == n)
    }

    /// The reply to this request (a reply answers itself).
    pub const fn reply(self) -> Self {
        match self {
            Self::OpenRequest | Self::OpenReply => Self::OpenReply,
            Self::CloseRequest | Self::CloseReply => Self::CloseReply,
            Self::CommitRequest | Self::CommitReply => Self::CommitReply,
            Self::DiscardRequest | Self::DiscardReply => Self::DiscardReply,
        }
    }
}

/// `OFPBF_*` bundle flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BundleFlags {
    /// `OFPBF_ATOMIC`: all or nothing.
    pub atomic: bool,
    /// `OFPBF_ORDERED`: in the order added.
    pub ordered: bool,
}

impl BundleFlags {
    /// Both flags, as `ovs-ofctl --bundle` asks.
    pub const ATOMIC_ORDERED: Self = Self {
        atomic: true,
        ordered: true,
    };

    fn bits(self) -> u16 {
        u16::from(self.atomic) | u16::from(self.ordered) << 1
    }

    fn from_bits(b: u16) -> Self {
        Self {
            atomic: b & 1 != 0,
            ordered: b & 2 != 0,
        }
    }
}

/// A bundle control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleCtrl {
    /// The bundle.
    pub bundle_id: u32,
    /// What to do, or what was done.
    pub r#type: BundleCtrlType,
    /// The bundle's flags.
    pub flags: BundleFlags,
}

/// A message added to a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleAdd {
    /// The bundle.
    pub bundle_id: u32,
    /// The bundle's flags (must be those it was opened with).
    pub flags: BundleFlags,
    /// The whole inner message, already encoded, with the outer message's transaction id.
    pub message: Vec<u8>,
}

/// The bundle messages, as one variant of [`Message`] ([`Message::Bundle`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleMsg {
    /// Open, close, commit or discard (or their replies).
    Control(BundleCtrl),
    /// Add a message.
    Add(BundleAdd),
}

fn unsupported(v: Version) -> EncodeError {
    EncodeError::Message {
        message: "bundle",
        version: v,
    }
}

/// Encodes a bundle message; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let Message::Bundle(m) = msg else {
        return None;
    };
    let v = Version::of(protocol);
    let head = |std: u8, onf: u32| -> Result<Vec<u8>, EncodeError> {
        if v >= Version::Of14 {
            Ok(start(v, std, xid))
        } else if v == Version::Of13 {
            let mut b = start(v, OFPT_EXPERIMENTER, xid);
            b.put_u32(ONF_VENDOR_ID);
            b.put_u32(onf);
            Ok(b)
        } else {
            Err(unsupported(v))
        }
    };
    Some(match m {
        BundleMsg::Control(c) => {
            head(OFPT_BUNDLE_CONTROL, ONFT_BUNDLE_CONTROL).and_then(|mut b| {
                b.put_u32(c.bundle_id);
                b.put_u16(c.r#type.wire());
                b.put_u16(c.flags.bits());
                finish(b)
            })
        }
        BundleMsg::Add(a) => {
            head(OFPT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_ADD_MESSAGE).and_then(|mut b| {
                b.put_u32(a.bundle_id);
                b.put_zeros(2);
                b.put_u16(a.flags.bits());
                b.extend_from_slice(&a.message);
                finish(b)
            })
        }
    })
}

fn bad_len(what: &str) -> DecodeError {
    DecodeError::new(OfpError::BadLen, format!("{what} is truncated"))
}

/// Decodes a bundle control body (after the header, or after the experimenter header).
pub(crate) fn decode_control(mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let t = |_| bad_len("bundle control");
    let bundle_id = r.u32().map_err(t)?;
    let ty = r.u16().map_err(t)?;
    let flags = BundleFlags::from_bits(r.u16().map_err(t)?);
    let r#type = BundleCtrlType::from_wire(ty).ok_or_else(|| {
        DecodeError::new(OfpError::BundleBadType, format!("bundle control type {ty}"))
    })?;
    Ok(Message::Bundle(BundleMsg::Control(BundleCtrl {
        bundle_id,
        r#type,
        flags,
    })))
}

/// Decodes a bundle add body; the inner message must be whole (its own header's length) and
/// at least a header.
pub(crate) fn decode_add(mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let t = |_| bad_len("bundle add message");
    let bundle_id = r.u32().map_err(t)?;
    r.skip(2).map_err(t)?;
    let flags = BundleFlags::from_bits(r.u16().map_err(t)?);
    let len = usize::from(r.peek_u16(2).map_err(t)?);
    if len < super::HEADER_LEN {
        return Err(DecodeError::new(
            OfpError::BundleMsgBadLen,
            format!("inner message length {len}"),
        ));
    }
    let message = r
        .bytes(len)
        .map_err(|_| {
            DecodeError::new(
                OfpError::BundleMsgBadLen,
                format!("inner message of {len} bytes is truncated"),
            )
        })?
        .to_vec();
    // What follows are properties, which describe nothing ferrovs acts on.
    Ok(Message::Bundle(BundleMsg::Add(BundleAdd {
        bundle_id,
        flags,
        message,
    })))
}

/// Decodes an ONF experimenter message of OpenFlow 1.3 (after the experimenter id).
pub(crate) fn decode_onf(v: Version, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let exp_type = r.u32().map_err(|_| bad_len("ONF experimenter message"))?;
    match exp_type {
        ONFT_BUNDLE_CONTROL if v == Version::Of13 => decode_control(r),
        ONFT_BUNDLE_ADD_MESSAGE if v == Version::Of13 => decode_add(r),
        _ => Err(DecodeError::new(
            OfpError::BadSubtype,
            format!("ONF experimenter message type {exp_type}"),
        )),
    }
}
