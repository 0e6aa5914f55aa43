//! OpenFlow errors: the failures a switch reports, their `(vendor, type, code)` in each
//! version, and the decoder's error type that carries one.
//!
//! # Design
//!
//! [`OfpError`] names a failure once, by Open vSwitch's name for it (`OFPBMC_BAD_PREREQ`), and
//! [`OfpError::code`] gives the triple that version uses on the wire. OpenFlow 1.0 lacks many
//! codes that later versions define; there, as in Open vSwitch, a Nicira *vendor* error
//! (vendor `0x2320`) stands in. The table below was read off `ovs-ofctl print-error`, and a
//! test compares it with that command for every entry and version.
//!
//! [`DecodeError`] is what every decoder returns: the failure plus a sentence saying what was
//! wrong, so a switch can both log the reason and answer with the right error message.

use super::Version;

/// Nicira's vendor / experimenter id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// The Open Networking Foundation's experimenter id.
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;

/// A failure OpenFlow (or a vendor extension) has an error code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is documented by the Open vSwitch name `name()` gives
pub enum OfpError {
    HelloIncompatible,
    BadVersion,
    BadType,
    BadStat,
    BadVendor,
    BadSubtype,
    Eperm,
    BadLen,
    BufferUnknown,
    BadTableId,
    BadPort,
    BadPacket,
    /// A secondary (slave) connection sent a message only a primary may send.
    IsSecondary,
    ActionBadType,
    ActionBadLen,
    ActionBadVendor,
    ActionBadVendorType,
    ActionBadOutPort,
    ActionBadArgument,
    ActionTooMany,
    ActionBadQueue,
    ActionBadOutGroup,
    GroupExists,
    GroupInvalid,
    GroupWeightUnsupported,
    GroupLoop,
    GroupUnknown,
    GroupChained,
    GroupBadType,
    GroupBadCommand,
    GroupBadBucket,
    GroupBadWatch,
    GroupUnknownBucket,
    GroupBucketExists,
    MeterUnknownError,
    MeterExists,
    MeterInvalid,
    MeterUnknown,
    MeterBadCommand,
    MeterBadFlags,
    MeterBadRate,
    MeterBadBurst,
    MeterBadBand,
    MeterBadBandValue,
    MeterOutOfMeters,
    MeterOutOfBands,
    ActionMatchInconsistent,
    ActionUnsupportedOrder,
    ActionBadSetType,
    ActionBadSetLen,
    ActionBadSetArgument,
    InstUnknown,
    InstUnsupported,
    InstBadTableId,
    InstBadLen,
    InstDup,
    MatchBadType,
    MatchBadLen,
    MatchBadTag,
    MatchBadWildcards,
    MatchBadField,
    MatchBadValue,
    MatchBadMask,
    MatchBadPrereq,
    MatchDupField,
    FlowModBadCommand,
    FlowModBadFlags,
    RoleBadRole,
    /// A role request's generation id is older than the switch's.
    RoleStale,
    PortModBadPort,
    PortModBadHwAddr,
    BundleUnknown,
    BundleEperm,
    BundleBadId,
    BundleExist,
    BundleClosed,
    BundleOutOfBundles,
    BundleBadType,
    BundleBadFlags,
    BundleMsgBadLen,
    BundleMsgBadXid,
    BundleMsgUnsup,
    BundleMsgConflict,
    BundleMsgTooMany,
    BundleMsgFailed,
    BundleTimeout,
    BundleInProgress,
    /// A flow monitor request reuses a monitor id the connection already has.
    MonitorExists,
    /// A flow monitor request's flags are unknown or ask for nothing.
    MonitorBadFlags,
    /// A flow monitor cancel names no monitor of the connection.
    MonitorUnknown,
    /// A flow update carries an event this message cannot (Nicira's `NXBRC_FM_BAD_EVENT`).
    MonitorBadEvent,
    /// An OpenFlow 1.4+ flow monitor request's command is unknown.
    MonitorBadCommand,
    /// A flow monitor request names a table the switch does not have.
    MonitorBadTableId,
    /// A flow monitor request's `out_port` is invalid.
    MonitorBadOut,
    /// A field that must be zero is not (Nicira request error).
    MustBeZero,
    /// A field of an action that must be zero is not (Nicira action error).
    ActionMustBeZero,
    /// An NXM/OXM stream is malformed in a way with no more specific code.
    NxmInvalid,
    /// `NXT_RESUME` names a paused translation the switch cannot continue: a bridge it does
    /// not have (any more), or no continuation at all (Nicira's `NXR_STALE`).
    ResumeStale,
    /// The switch cannot resume paused translations (Nicira's `NXR_NOT_SUPPORTED`).
    ResumeNotSupported,
    /// A property of a type the message does not define (`OFPBPC_BAD_TYPE`).
    PropBadType,
    /// A property whose length does not suit its type (`OFPBPC_BAD_LEN`).
    PropBadLen,
    /// A property with a value the switch cannot apply (`OFPBPC_BAD_VALUE`), such as a group
    /// selection method it does not know.
    PropBadValue,
    /// The error has no code in this version (what Open vSwitch sends instead).
    Unencodable,
}

/// An error's identity on the wire: `vendor` 0 for the standard codes, else a vendor or
/// experimenter id with that vendor's type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// 0 for a standard error.
    pub vendor: u32,
    /// Error type.
    pub r#type: u16,
    /// Error code within the type.
    pub code: u16,
}

const fn std(r#type: u16, code: u16) -> Option<ErrorCode> {
    Some(ErrorCode {
        vendor: 0,
        r#type,
        code,
    })
}

/// A bundle failure (`OFPBFC_*` code `code`) in wire version `v`: none before OpenFlow 1.3,
/// Open vSwitch's ONF experimenter type `2300 + code` in 1.3, `OFPET_BUNDLE_FAILED` later.
const fn bundle(code: u16, v: u8) -> Option<ErrorCode> {
    match v {
        0..=3 => None,
        4 => Some(ErrorCode {
            vendor: ONF_VENDOR_ID,
            r#type: 2300 + code,
            code: 0,
        }),
        _ => std(17, code),
    }
}

const fn nx(r#type: u16, code: u16) -> Option<ErrorCode> {
    Some(ErrorCode {
        vendor: NX_VENDOR_ID,
        r#type,
        code,
    })
}

impl OfpError {
    /// Every failure, for tests and tables.
    pub const ALL: [Self; 103] = [
        Self::HelloIncompatible,
        Self::BadVersion,
        Self::BadType,
        Self::BadStat,
        Self::BadVendor,
        Self::BadSubtype,
        Self::Eperm,
        Self::BadLen,
        Self::BufferUnknown,
        Self::BadTableId,
        Self::BadPort,
        Self::BadPacket,
        Self::IsSecondary,
        Self::ActionBadType,
        Self::ActionBadLen,
        Self::ActionBadVendor,
        Self::ActionBadVendorType,
        Self::ActionBadOutPort,
        Self::ActionBadArgument,
        Self::ActionTooMany,
        Self::ActionBadQueue,
        Self::ActionBadOutGroup,
        Self::GroupExists,
        Self::GroupInvalid,
        Self::GroupWeightUnsupported,
        Self::GroupLoop,
        Self::GroupUnknown,
        Self::GroupChained,
        Self::GroupBadType,
        Self::GroupBadCommand,
        Self::GroupBadBucket,
        Self::GroupBadWatch,
        Self::GroupUnknownBucket,
        Self::GroupBucketExists,
        Self::MeterUnknownError,
        Self::MeterExists,
        Self::MeterInvalid,
        Self::MeterUnknown,
        Self::MeterBadCommand,
        Self::MeterBadFlags,
        Self::MeterBadRate,
        Self::MeterBadBurst,
        Self::MeterBadBand,
        Self::MeterBadBandValue,
        Self::MeterOutOfMeters,
        Self::MeterOutOfBands,
        Self::ActionMatchInconsistent,
        Self::ActionUnsupportedOrder,
        Self::ActionBadSetType,
        Self::ActionBadSetLen,
        Self::ActionBadSetArgument,
        Self::InstUnknown,
        Self::InstUnsupported,
        Self::InstBadTableId,
        Self::InstBadLen,
        Self::InstDup,
        Self::MatchBadType,
        Self::MatchBadLen,
        Self::MatchBadTag,
        Self::MatchBadWildcards,
        Self::MatchBadField,
        Self::MatchBadValue,
        Self::MatchBadMask,
        Self::MatchBadPrereq,
        Self::MatchDupField,
        Self::FlowModBadCommand,
        Self::FlowModBadFlags,
        Self::RoleBadRole,
        Self::RoleStale,
        Self::PortModBadPort,
        Self::PortModBadHwAddr,
        Self::BundleUnknown,
        Self::BundleEperm,
        Self::BundleBadId,
        Self::BundleExist,
        Self::BundleClosed,
        Self::BundleOutOfBundles,
        Self::BundleBadType,
        Self::BundleBadFlags,
        Self::BundleMsgBadLen,
        Self::BundleMsgBadXid,
        Self::BundleMsgUnsup,
        Self::BundleMsgConflict,
        Self::BundleMsgTooMany,
        Self::BundleMsgFailed,
        Self::BundleTimeout,
        Self::BundleInProgress,
        Self::MonitorExists,
        Self::MonitorBadFlags,
        Self::MonitorUnknown,
        Self::MonitorBadEvent,
        Self::MonitorBadCommand,
        Self::MonitorBadTableId,
        Self::MonitorBadOut,
        Self::MustBeZero,
        Self::ActionMustBeZero,
        Self::NxmInvalid,
        Self::ResumeStale,
        Self::ResumeNotSupported,
        Self::PropBadType,
        Self::PropBadLen,
        Self::PropBadValue,
        Self::Unencodable,
    ];

    /// Open vSwitch's name for the error, as `ovs-ofctl` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HelloIncompatible => "OFPHFC_INCOMPATIBLE",
            Self::BadVersion => "OFPBRC_BAD_VERSION",
            Self::BadType => "OFPBRC_BAD_TYPE",
            Self::BadStat => "OFPBRC_BAD_STAT",
            Self::BadVendor => "OFPBRC_BAD_VENDOR",
            Self::BadSubtype => "OFPBRC_BAD_SUBTYPE",
            Self::Eperm => "OFPBRC_EPERM",
            Self::BadLen => "OFPBRC_BAD_LEN",
            Self::BufferUnknown => "OFPBRC_BUFFER_UNKNOWN",
            Self::BadTableId => "OFPBRC_BAD_TABLE_ID",
            Self::BadPort => "OFPBRC_BAD_PORT",
            Self::BadPacket => "OFPBRC_BAD_PACKET",
            // OpenFlow's `OFPBRC_IS_SLAVE`, renamed by Open vSwitch 3.
            Self::IsSecondary => "OFPBRC_IS_SECONDARY",
            Self::ActionBadType => "OFPBAC_BAD_TYPE",
            Self::ActionBadLen => "OFPBAC_BAD_LEN",
            Self::ActionBadVendor => "OFPBAC_BAD_VENDOR",
            Self::ActionBadVendorType => "OFPBAC_BAD_VENDOR_TYPE",
            Self::ActionBadOutPort => "OFPBAC_BAD_OUT_PORT",
            Self::ActionBadArgument => "OFPBAC_BAD_ARGUMENT",
            Self::ActionTooMany => "OFPBAC_TOO_MANY",
            Self::ActionBadQueue => "OFPBAC_BAD_QUEUE",
            Self::ActionBadOutGroup => "OFPBAC_BAD_OUT_GROUP",
            Self::GroupExists => "OFPGMFC_GROUP_EXISTS",
            Self::GroupInvalid => "OFPGMFC_INVALID_GROUP",
            Self::GroupWeightUnsupported => "OFPGMFC_WEIGHT_UNSUPPORTED",
            Self::GroupLoop => "OFPGMFC_LOOP",
            Self::GroupUnknown => "OFPGMFC_UNKNOWN_GROUP",
            Self::GroupChained => "OFPGMFC_CHAINED_GROUP",
            Self::GroupBadType => "OFPGMFC_BAD_TYPE",
            Self::GroupBadCommand => "OFPGMFC_BAD_COMMAND",
            Self::GroupBadBucket => "OFPGMFC_BAD_BUCKET",
            Self::GroupBadWatch => "OFPGMFC_BAD_WATCH",
            Self::GroupUnknownBucket => "OFPGMFC_UNKNOWN_BUCKET",
            Self::GroupBucketExists => "OFPGMFC_BUCKET_EXISTS",
            Self::MeterUnknownError => "OFPMMFC_UNKNOWN",
            Self::MeterExists => "OFPMMFC_METER_EXISTS",
            Self::MeterInvalid => "OFPMMFC_INVALID_METER",
            Self::MeterUnknown => "OFPMMFC_UNKNOWN_METER",
            Self::MeterBadCommand => "OFPMMFC_BAD_COMMAND",
            Self::MeterBadFlags => "OFPMMFC_BAD_FLAGS",
            Self::MeterBadRate => "OFPMMFC_BAD_RATE",
            Self::MeterBadBurst => "OFPMMFC_BAD_BURST",
            Self::MeterBadBand => "OFPMMFC_BAD_BAND",
            Self::MeterBadBandValue => "OFPMMFC_BAD_BAND_VALUE",
            Self::MeterOutOfMeters => "OFPMMFC_OUT_OF_METERS",
            Self::MeterOutOfBands => "OFPMMFC_OUT_OF_BANDS",
            Self::ActionMatchInconsistent => "OFPBAC_MATCH_INCONSISTENT",
            Self::ActionUnsupportedOrder => "OFPBAC_UNSUPPORTED_ORDER",
            Self::ActionBadSetType => "OFPBAC_BAD_SET_TYPE",
            Self::ActionBadSetLen => "OFPBAC_BAD_SET_LEN",
            Self::ActionBadSetArgument => "OFPBAC_BAD_SET_ARGUMENT",
            Self::InstUnknown => "OFPBIC_UNKNOWN_INST",
            Self::InstUnsupported => "OFPBIC_UNSUP_INST",
            Self::InstBadTableId => "OFPBIC_BAD_TABLE_ID",
            Self::InstBadLen => "OFPBIC_BAD_LEN",
            Self::InstDup => "OFPBIC_DUP_INST",
            Self::MatchBadType => "OFPBMC_BAD_TYPE",
            Self::MatchBadLen => "OFPBMC_BAD_LEN",
            Self::MatchBadTag => "OFPBMC_BAD_TAG",
            Self::MatchBadWildcards => "OFPBMC_BAD_WILDCARDS",
            Self::MatchBadField => "OFPBMC_BAD_FIELD",
            Self::MatchBadValue => "OFPBMC_BAD_VALUE",
            Self::MatchBadMask => "OFPBMC_BAD_MASK",
            Self::MatchBadPrereq => "OFPBMC_BAD_PREREQ",
            Self::MatchDupField => "OFPBMC_DUP_FIELD",
            Self::FlowModBadCommand => "OFPFMFC_BAD_COMMAND",
            Self::FlowModBadFlags => "OFPFMFC_BAD_FLAGS",
            Self::RoleBadRole => "OFPRRFC_BAD_ROLE",
            Self::RoleStale => "OFPRRFC_STALE",
            Self::PortModBadPort => "OFPPMFC_BAD_PORT",
            Self::PortModBadHwAddr => "OFPPMFC_BAD_HW_ADDR",
            Self::BundleUnknown => "OFPBFC_UNKNOWN",
            Self::BundleEperm => "OFPBFC_EPERM",
            Self::BundleBadId => "OFPBFC_BAD_ID",
            Self::BundleExist => "OFPBFC_BUNDLE_EXIST",
            Self::BundleClosed => "OFPBFC_BUNDLE_CLOSED",
            Self::BundleOutOfBundles => "OFPBFC_OUT_OF_BUNDLES",
            Self::BundleBadType => "OFPBFC_BAD_TYPE",
            Self::BundleBadFlags => "OFPBFC_BAD_FLAGS",
            Self::BundleMsgBadLen => "OFPBFC_MSG_BAD_LEN",
            Self::BundleMsgBadXid => "OFPBFC_MSG_BAD_XID",
            Self::BundleMsgUnsup => "OFPBFC_MSG_UNSUP",
            Self::BundleMsgConflict => "OFPBFC_MSG_CONFLICT",
            Self::BundleMsgTooMany => "OFPBFC_MSG_TOO_MANY",
            Self::BundleMsgFailed => "OFPBFC_MSG_FAILED",
            Self::BundleTimeout => "OFPBFC_TIMEOUT",
            Self::BundleInProgress => "OFPBFC_BUNDLE_IN_PROGRESS",
            Self::MonitorExists => "OFPMOFC_MONITOR_EXISTS",
            Self::MonitorBadFlags => "OFPMOFC_BAD_FLAGS",
            Self::MonitorUnknown => "OFPMOFC_UNKNOWN_MONITOR",
            Self::MonitorBadEvent => "NXBRC_FM_BAD_EVENT",
            Self::MonitorBadCommand => "OFPMOFC_BAD_COMMAND",
            Self::MonitorBadTableId => "OFPMOFC_BAD_TABLE_ID",
            Self::MonitorBadOut => "OFPMOFC_BAD_OUT",
            Self::MustBeZero => "NXBRC_MUST_BE_ZERO",
            Self::ActionMustBeZero => "NXBAC_MUST_BE_ZERO",
            Self::NxmInvalid => "NXBRC_NXM_INVALID",
            Self::ResumeStale => "NXR_STALE",
            Self::ResumeNotSupported => "NXR_NOT_SUPPORTED",
            Self::PropBadType => "OFPBPC_BAD_TYPE",
            Self::PropBadLen => "OFPBPC_BAD_LEN",
            Self::PropBadValue => "OFPBPC_BAD_VALUE",
            Self::Unencodable => "NXBRC_UNENCODABLE_ERROR",
        }
    }

    /// The error's code in `version`, or `None` when the version has none (then send
    /// [`OfpError::Unencodable`], whose code every version has; see [`Self::code_or_fallback`]).
    pub const fn code(self, version: Version) -> Option<ErrorCode> {
        let v = version as u8;
        let of10 = v == 1;
        let upto11 = v <= 2;
        match self {
            Self::HelloIncompatible => std(0, 0),
            Self::BadVersion => std(1, 0),
            Self::BadType => std(1, 1),
            Self::BadStat => std(1, 2),
            Self::BadVendor => std(1, 3),
            Self::BadSubtype => std(1, 4),
            Self::Eperm => std(1, 5),
            Self::BadLen => std(1, 6),
            Self::BufferUnknown => std(1, 8),
            Self::BadTableId if of10 => nx(1, 512),
            Self::BadTableId => std(1, 9),
            Self::BadPort if upto11 => nx(1, 514),
            Self::BadPort => std(1, 11),
            Self::BadPacket if upto11 => None,
            Self::BadPacket => std(1, 12),
            // OpenFlow 1.0 and 1.1 have no code of their own: "not permitted" stands in.
            Self::IsSecondary if upto11 => std(1, 5),
            Self::IsSecondary => std(1, 10),
            Self::ActionBadType => std(2, 0),
            Self::ActionBadLen => std(2, 1),
            Self::ActionBadVendor => std(2, 2),
            Self::ActionBadVendorType => std(2, 3),
            Self::ActionBadOutPort => std(2, 4),
            Self::ActionBadArgument => std(2, 5),
            Self::ActionTooMany => std(2, 7),
            Self::ActionBadQueue => std(2, 8),
            Self::ActionBadOutGroup if of10 => nx(2, 9),
            Self::ActionBadOutGroup => std(2, 9),
            // Group-mod failures: Nicira's vendor code in OpenFlow 1.0; OpenFlow 1.1 lacks
            // the codes from 9 on.
            Self::GroupExists if of10 => nx(6, 0),
            Self::GroupExists => std(6, 0),
            Self::GroupInvalid if of10 => nx(6, 1),
            Self::GroupInvalid => std(6, 1),
            Self::GroupWeightUnsupported if of10 => nx(6, 2),
            Self::GroupWeightUnsupported => std(6, 2),
            Self::GroupLoop if of10 => nx(6, 7),
            Self::GroupLoop => std(6, 7),
            Self::GroupUnknown if of10 => nx(6, 8),
            Self::GroupUnknown => std(6, 8),
            Self::GroupChained if of10 => nx(6, 9),
            Self::GroupChained if v == 2 => None,
            Self::GroupChained => std(6, 9),
            Self::GroupBadType if of10 => nx(6, 10),
            Self::GroupBadType if v == 2 => None,
            Self::GroupBadType => std(6, 10),
            Self::GroupBadCommand if of10 => nx(6, 11),
            Self::GroupBadCommand if v == 2 => None,
            Self::GroupBadCommand => std(6, 11),
            Self::GroupBadBucket if of10 => nx(6, 12),
            Self::GroupBadBucket if v == 2 => None,
            Self::GroupBadBucket => std(6, 12),
            Self::GroupBadWatch if of10 => nx(6, 13),
            Self::GroupBadWatch if v == 2 => None,
            Self::GroupBadWatch => std(6, 13),
            // Bucket ids exist in OpenFlow 1.5 and Nicira's form only.
            Self::GroupUnknownBucket if of10 => nx(6, 15),
            Self::GroupUnknownBucket if v < 6 => None,
            Self::GroupUnknownBucket => std(6, 15),
            Self::GroupBucketExists if of10 => nx(6, 16),
            Self::GroupBucketExists if v < 6 => None,
            Self::GroupBucketExists => std(6, 16),
            // Meter-mod failures exist from OpenFlow 1.3 on (no Nicira stand-in: ovs-ofctl
            // sends meter messages to OpenFlow 1.3+ switches only).
            Self::MeterUnknownError if v < 4 => None,
            Self::MeterUnknownError => std(12, 0),
            Self::MeterExists if v < 4 => None,
            Self::MeterExists => std(12, 1),
            Self::MeterInvalid if v < 4 => None,
            Self::MeterInvalid => std(12, 2),
            Self::MeterUnknown if v < 4 => None,
            Self::MeterUnknown => std(12, 3),
            Self::MeterBadCommand if v < 4 => None,
            Self::MeterBadCommand => std(12, 4),
            Self::MeterBadFlags if v < 4 => None,
            Self::MeterBadFlags => std(12, 5),
            Self::MeterBadRate if v < 4 => None,
            Self::MeterBadRate => std(12, 6),
            Self::MeterBadBurst if v < 4 => None,
            Self::MeterBadBurst => std(12, 7),
            Self::MeterBadBand if v < 4 => None,
            Self::MeterBadBand => std(12, 8),
            Self::MeterBadBandValue if v < 4 => None,
            Self::MeterBadBandValue => std(12, 9),
            Self::MeterOutOfMeters if v < 4 => None,
            Self::MeterOutOfMeters => std(12, 10),
            Self::MeterOutOfBands if v < 4 => None,
            Self::MeterOutOfBands => std(12, 11),
            Self::ActionMatchInconsistent if of10 => nx(1, 522),
            Self::ActionMatchInconsistent => std(2, 10),
            Self::ActionUnsupportedOrder if of10 => None,
            Self::ActionUnsupportedOrder => std(2, 11),
            Self::ActionBadSetType if upto11 => nx(1, 523),
            Self::ActionBadSetType => std(2, 13),
            Self::ActionBadSetLen if upto11 => nx(1, 524),
            Self::ActionBadSetLen => std(2, 14),
            Self::ActionBadSetArgument if upto11 => nx(1, 525),
            Self::ActionBadSetArgument => std(2, 15),
            Self::InstUnknown if of10 => None,
            Self::InstUnknown => std(3, 0),
            Self::InstUnsupported if of10 => nx(2, 257),
            Self::InstUnsupported => std(3, 1),
            Self::InstBadTableId if of10 => None,
            Self::InstBadTableId => std(3, 2),
            Self::InstBadLen if upto11 => None,
            Self::InstBadLen => std(3, 7),
            Self::InstDup if of10 => None,
            Self::InstDup if v == 2 => nx(3, 256),
            Self::InstDup if v <= 4 => Some(ErrorCode {
                vendor: ONF_VENDOR_ID,
                r#type: 2600,
                code: 0,
            }),
            Self::InstDup => std(3, 9),
            Self::MatchBadType if of10 => None,
            Self::MatchBadType => std(4, 0),
            Self::MatchBadLen if of10 => None,
            Self::MatchBadLen => std(4, 1),
            Self::MatchBadTag if of10 => None,
            Self::MatchBadTag => std(4, 2),
            Self::MatchBadWildcards if of10 => nx(1, 262),
            Self::MatchBadWildcards => std(4, 5),
            Self::MatchBadField if of10 => nx(0, 263),
            Self::MatchBadField => std(4, 6),
            Self::MatchBadValue if of10 => nx(1, 258),
            Self::MatchBadValue => std(4, 7),
            Self::MatchBadMask if upto11 => nx(1, 259),
            Self::MatchBadMask => std(4, 8),
            Self::MatchBadPrereq if upto11 => nx(1, 260),
            Self::MatchBadPrereq => std(4, 9),
            Self::MatchDupField if upto11 => nx(1, 261),
            Self::MatchDupField => std(4, 10),
            Self::FlowModBadCommand if of10 => std(3, 4),
            Self::FlowModBadCommand => std(5, 6),
            Self::FlowModBadFlags if of10 => nx(3, 258),
            Self::FlowModBadFlags if v == 2 => nx(5, 258),
            Self::FlowModBadFlags => std(5, 7),
            Self::RoleBadRole if upto11 => nx(1, 513),
            Self::RoleBadRole => std(11, 2),
            // Generation ids exist from OpenFlow 1.2 on.
            Self::RoleStale if upto11 => None,
            Self::RoleStale => std(11, 0),
            Self::PortModBadPort if of10 => std(4, 0),
            Self::PortModBadPort => std(7, 0),
            Self::PortModBadHwAddr if of10 => std(4, 1),
            Self::PortModBadHwAddr => std(7, 1),
            // Bundles: an ONF experimenter error in OpenFlow 1.3, type 17 from 1.4 on.
            Self::BundleUnknown => bundle(0, v),
            Self::BundleEperm => bundle(1, v),
            Self::BundleBadId => bundle(2, v),
            Self::BundleExist => bundle(3, v),
            Self::BundleClosed => bundle(4, v),
            Self::BundleOutOfBundles => bundle(5, v),
            Self::BundleBadType => bundle(6, v),
            Self::BundleBadFlags => bundle(7, v),
            Self::BundleMsgBadLen => bundle(8, v),
            Self::BundleMsgBadXid => bundle(9, v),
            Self::BundleMsgUnsup => bundle(10, v),
            Self::BundleMsgConflict => bundle(11, v),
            Self::BundleMsgTooMany => bundle(12, v),
            Self::BundleMsgFailed => bundle(13, v),
            Self::BundleTimeout => bundle(14, v),
            Self::BundleInProgress => bundle(15, v),
            // Flow monitors: Nicira codes up to 1.3, OFPET_FLOW_MONITOR_FAILED (16) from 1.4.
            Self::MonitorExists if upto11 => nx(1, 517),
            Self::MonitorExists if v <= 4 => nx(6, 0),
            Self::MonitorExists => std(16, 1),
            Self::MonitorBadFlags if upto11 => nx(1, 518),
            Self::MonitorBadFlags if v <= 4 => nx(7, 0),
            Self::MonitorBadFlags => std(16, 5),
            Self::MonitorUnknown if upto11 => nx(1, 519),
            Self::MonitorUnknown if v <= 4 => nx(8, 0),
            Self::MonitorUnknown => std(16, 3),
            Self::MonitorBadEvent if upto11 => nx(1, 520),
            Self::MonitorBadEvent => nx(9, 0),
            Self::MonitorBadCommand | Self::MonitorBadTableId | Self::MonitorBadOut if v <= 4 => {
                None
            }
            Self::MonitorBadCommand => std(16, 4),
            Self::MonitorBadTableId => std(16, 6),
            Self::MonitorBadOut => std(16, 7),
            Self::MustBeZero if upto11 => nx(1, 515),
            Self::MustBeZero => nx(4, 0),
            Self::ActionMustBeZero if upto11 => nx(2, 256),
            Self::ActionMustBeZero => nx(11, 0),
            Self::NxmInvalid if upto11 => nx(1, 256),
            Self::NxmInvalid => nx(2, 0),
            Self::ResumeStale if upto11 => nx(1, 534),
            Self::ResumeStale => nx(35, 0),
            Self::ResumeNotSupported if upto11 => nx(1, 533),
            Self::ResumeNotSupported => nx(34, 0),
            // Properties: Nicira codes up to 1.2, OFPET_BAD_REQUEST in 1.3 (as Open vSwitch
            // numbers them), OFPET_BAD_PROPERTY (14) from 1.4.
            Self::PropBadType if upto11 => nx(13, 2),
            Self::PropBadType if v == 3 => nx(25, 0),
            Self::PropBadType if v == 4 => std(13, 2),
            Self::PropBadType => std(14, 0),
            Self::PropBadLen if upto11 => nx(13, 3),
            Self::PropBadLen if v == 3 => nx(26, 0),
            Self::PropBadLen if v == 4 => std(13, 3),
            Self::PropBadLen => std(14, 1),
            Self::PropBadValue if upto11 => nx(13, 4),
            Self::PropBadValue if v == 3 => nx(27, 0),
            Self::PropBadValue if v == 4 => std(13, 4),
            Self::PropBadValue => std(14, 2),
            Self::Unencodable if upto11 => nx(1, 521),
            Self::Unencodable => nx(10, 0),
        }
    }

    /// The error's code in `version`, or the "unencodable error" code when it has none.
    pub const fn code_or_fallback(self, version: Version) -> ErrorCode {
        match self.code(version) {
            Some(c) => c,
            None => match Self::Unencodable.code(version) {
                Some(c) => c,
                // Unreachable: every version has a code for Unencodable.
                None => ErrorCode {
                    vendor: NX_VENDOR_ID,
                    r#type: 10,
                    code: 0,
                },
            },
        }
    }

    /// The failure a received code stands for in `version`, if ferrovs knows it.
    pub fn from_code(version: Version, code: ErrorCode) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.code(version) == Some(code))
    }
}

/// Why a message could not be decoded: the OpenFlow failure to report and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{context} ({})", error.name())]
pub struct DecodeError {
    /// The failure, which selects the error reply's type and code.
    pub error: OfpError,
    /// A description of what was wrong, for logs.
    pub context: String,
}

impl DecodeError {
    /// A decode failure of kind `error`.
    pub fn new(error: OfpError, context: impl Into<String>) -> Self {
        Self {
            error,
            context: context.into(),
        }
    }
}

/// Why a model value cannot be encoded in the requested protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The protocol has no encoding for this message.
    #[error("{message} cannot be encoded in {version}")]
    Message {
        /// The message kind.
        message: &'static str,
        /// The version asked for.
        version: Version,
    },
    /// The protocol has no encoding for this action.
    #[error("action {action} cannot be encoded in {version}")]
    Action {
        /// The action, named as `ovs-ofctl` names it.
        action: &'static str,
        /// The version asked for.
        version: Version,
    },
    /// A match field has no header the protocol can carry.
    #[error("field {field} cannot be matched in {version}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// The version asked for.
        version: Version,
    },
    /// The message would exceed OpenFlow's 64 kB limit.
    #[error("message too long ({0} bytes)")]
    TooLong(usize),
}
