//! The `ovs-ofctl` text syntax of matches: parsing `name=value` pairs and printing a match
//! byte-for-byte as `ovs-ofctl` 3.1 does.
//!
//! # Parsing
//!
//! [`parse_match_field`] handles one `name=value` pair (or a bare shorthand like `tcp`). Values
//! follow the field's [`Format`](crate::field::Format): integers in decimal, `0x` hex or
//! leading-`0` octal, optionally `/mask`; MAC, IPv4 (`/24` or `/255.255.0.0`) and IPv6
//! addresses; port names; flag sets (`ct_state=+trk-new`, `tcp_flags=syn|ack`); fragment
//! names. A field named again replaces its earlier value. A field with no value or an empty one
//! reads as `0/0`, as in `ovs-ofctl`. Each pair narrows the caller's usable-protocol set by
//! the field's registry row and the kind of mask given; the caller then intersects with
//! [`usable_protocols`](crate::usable_protocols) of the finished match.
//!
//! # Printing
//!
//! [`format_match`] prints fields in `ovs-ofctl`'s fixed order with its spellings: the
//! shorthand (`tcp6`) in place of `eth_type`/`ip_proto`, `dl_vlan`/`dl_vlan_pcp` when the TCI
//! mask allows and `vlan_tci` otherwise, `nw_tos`/`nw_ecn` for the TOS byte, `xreg`s as register
//! pairs, prefix masks as `/N`. It prints what the match holds; to print what `ovs-ofctl
//! parse-flow` prints, [`Match::normalize`](crate::Match::normalize) first.
//!
//! # Errors
//!
//! Every [`MatchParseError`] names the offending text, worded as `ovs-ofctl` words it.

mod addr;
mod format;
mod parse;

pub use format::{format_field_value, format_match};
pub use parse::{parse_match, parse_match_field};

pub use crate::matching::usable_protocols;

/// Why a match field did not parse. Messages follow `ovs-ofctl`'s wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchParseError {
    /// `name=value` with an unknown name.
    #[error("unknown keyword {0}")]
    UnknownKeyword(String),
    /// A bare word that is neither a shorthand nor a field.
    #[error("field {0} missing value")]
    MissingValue(String),
    /// The value part is not a number (or not valid for the field).
    #[error("{text}: bad syntax for {field} value")]
    BadValue {
        /// The value text as given.
        text: String,
        /// The field's canonical name.
        field: &'static str,
    },
    /// The mask part is not a number.
    #[error("{text}: bad syntax for {field} mask")]
    BadMask {
        /// The value text as given.
        text: String,
        /// The field's canonical name.
        field: &'static str,
    },
    /// The value (or mask) does not fit the field.
    #[error("{text}: value too large for {bytes}-byte field {field}")]
    TooLarge {
        /// The value text as given.
        text: String,
        /// The field's width on the wire, in bytes.
        bytes: u8,
        /// The field's canonical name.
        field: &'static str,
    },
    /// A partial mask on a field that only matches exactly.
    #[error("{text}: invalid mask for field {field}")]
    NotMaskable {
        /// The value text as given.
        text: String,
        /// The field's canonical name.
        field: &'static str,
    },
    /// Not a MAC address (with optional MAC mask).
    #[error("{0}: invalid Ethernet address")]
    BadEthernet(String),
    /// Not an IPv4 address (with optional mask).
    #[error("{0}: invalid IP address")]
    BadIpv4(String),
    /// An IPv4 prefix length outside 0..=32.
    #[error("{0}: IPv4 network prefix bits not between 0 and 32, inclusive")]
    BadIpv4Prefix(String),
    /// Not an IPv6 address (with optional mask).
    #[error("{0}: invalid IPv6 address")]
    BadIpv6(String),
    /// An IPv6 prefix length outside 0..=128.
    #[error("{0}: IPv6 network prefix bits not between 0 and 128, inclusive")]
    BadIpv6Prefix(String),
    /// Not a port name or a 16-bit port number.
    #[error("{text}: invalid or unknown port for {field}")]
    BadPort {
        /// The value text as given.
        text: String,
        /// The field's canonical name.
        field: &'static str,
    },
    /// A 32-bit port number that is neither ordinary nor reserved.
    #[error("{text}: port value out of range for {field}")]
    PortOutOfRange {
        /// The value text as given.
        text: String,
        /// The field's canonical name.
        field: &'static str,
    },
    /// A flag name (or numeric flag bit) the field does not have; the text runs from the bad
    /// flag to the end of the value.
    #[error("{text}: unknown {kind} flag(s)")]
    UnknownFlag {
        /// The offending text.
        text: String,
        /// `ct_state`, `TCP` or `tunnel`.
        kind: &'static str,
    },
    /// The same flag given twice in a `+flag-flag` list.
    #[error("{text}: Each {kind} flag can be specified only once")]
    RepeatedFlag {
        /// The offending text.
        text: String,
        /// `ct_state`, `TCP` or `tunnel`.
        kind: &'static str,
    },
    /// Not a fragment selector.
    #[error(
        "{0}: unknown fragment type (valid types are \"no\", \"yes\", \"first\", \"later\", \"not_later\""
    )]
    BadFrag(String),
    /// Not a `(ns,ns_type)` packet type; `text` runs from where parsing failed and `what`
    /// names what was wrong (`ns`, `ns_type`, `missing ','`...).
    #[error("{text}: bad syntax for packet type {what}")]
    BadPacketType {
        /// The text from the failure on.
        text: String,
        /// What was expected there.
        what: &'static str,
    },
}
