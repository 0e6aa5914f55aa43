//! ovs-ofctl's text syntax for actions and flow-mods: a parser and a formatter that
//! reproduces ovs-ofctl 3.1's canonical output byte for byte.
//!
//! - [`parse_actions`] / [`format_actions`]: the `actions=` part.
//! - Numbers follow C's base-0 rules (`0x` hex, leading-zero octal); field values follow the
//!   field registry's format; subfields are `NAME[]`, `NAME[bit]` or `NAME[start..end]`.
//!
//! Errors name the offending token, in ovs-ofctl's wording where it has one.

mod flow_mod;
mod format;
mod kv;
mod parse;
mod value;

pub use flow_mod::{FlowParseError, format_flow_mod, parse_flow_mod, parse_flow_mod_line};
pub use format::{format_action, format_actions};
pub use parse::{is_read_only, parse_actions};

/// Why action text was rejected. The display text is the message ovs-ofctl would print.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionParseError {
    /// The key is neither an action name nor a port.
    #[error("unknown action {0}")]
    UnknownAction(String),
    /// `drop` was combined with other actions.
    #[error("\"drop\" must not be accompanied by any other action or instruction")]
    DropNotAlone,
    /// A number that does not parse or does not fit.
    #[error("invalid {what} \"{token}\"")]
    BadNumber {
        /// What the number was for.
        what: &'static str,
        /// The offending text.
        token: String,
    },
    /// A port that is neither a number nor a reserved name.
    #[error("{0}: output to unknown port")]
    BadPort(String),
    /// An unparseable Ethernet address.
    #[error("{0}: invalid Ethernet address")]
    BadMac(String),
    /// An unparseable IP address.
    #[error("{0}: invalid IP address")]
    BadIp(String),
    /// A value that does not parse in the field's format.
    #[error("{token}: invalid value for field {field}")]
    BadFieldValue {
        /// The field's name.
        field: &'static str,
        /// The offending text.
        token: String,
    },
    /// A value wider than its destination.
    #[error("{token}: value does not fit into field {field}")]
    ValueTooWide {
        /// The field's name.
        field: &'static str,
        /// The offending text.
        token: String,
    },
    /// A field name the registry does not know.
    #[error("{0}: unknown field")]
    UnknownField(String),
    /// A malformed or out-of-range bit range.
    #[error("{0}: invalid subfield")]
    BadSubfield(String),
    /// A subfield that does not parse.
    #[error(transparent)]
    Subfield(#[from] fvs_flow::subfield::SubfieldError),
    /// `move`/learn source and destination differ in width.
    #[error("{text}: source field is {src} bits wide but destination is {dst} bits wide")]
    WidthMismatch {
        /// The `src->dst` text.
        text: String,
        /// Source width.
        src: u16,
        /// Destination width.
        dst: u16,
    },
    /// `set_field`/`load`/`move` without `->`.
    #[error("{action}: missing `->' in \"{token}\"")]
    MissingArrow {
        /// The action.
        action: &'static str,
        /// The offending text.
        token: String,
    },
    /// An argument an action does not know.
    #[error("{action}: unknown argument {token}")]
    UnknownArgument {
        /// The action.
        action: &'static str,
        /// The offending text.
        token: String,
    },
    /// A required argument is missing.
    #[error("{action}: missing {what}")]
    MissingArgument {
        /// The action.
        action: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// `resubmit(,)`, `resubmit:IN_PORT`.
    #[error("at least one \"in_port\" or \"table\" must be specified on resubmit")]
    ResubmitNeedsPortOrTable,
    /// `set_field` to a field no action may write (`eth_type`, `ct_state`, …).
    #[error("{0} is read-only")]
    ReadOnly(String),
    /// A VLAN id over 4095.
    #[error("{0}: not a valid VLAN VID")]
    BadVid(String),
    /// A VLAN priority over 7.
    #[error("{0}: not a valid VLAN PCP")]
    BadPcp(String),
    /// `push_vlan` with an ethertype other than 0x8100 or 0x88a8.
    #[error("{0}: not a valid VLAN ethertype")]
    BadPushVlan(String),
    /// `mod_nw_tos` with the ECN bits set.
    #[error("invalid IP_DSCP value {0}")]
    BadTos(String),
    /// `mod_nw_ecn` over 3.
    #[error("invalid IP_ECN value {0}")]
    BadEcn(String),
    /// Malformed hex bytes (`note`, `userdata`).
    #[error("{0}: invalid hex bytes")]
    BadHex(String),
    /// Malformed `enqueue`.
    #[error("{0}: invalid enqueue")]
    BadEnqueue(String),
    /// Malformed `conjunction`.
    #[error("\"{0}\": syntax error in conjunction")]
    BadConjunction(String),
    /// Malformed `check_pkt_larger`.
    #[error("{0}: check_pkt_larger needs a 1-bit destination")]
    BadCheckPktLarger(String),
    /// Malformed `multipath`.
    #[error("{0}: not enough arguments to multipath action")]
    BadMultipath(String),
    /// Malformed `bundle`.
    #[error("{0}: not enough arguments to bundle action")]
    BadBundle(String),
    /// A `ct` zone subfield that is not 16 bits wide.
    #[error("{0}: zone field must be 16 bits")]
    BadCtZone(String),
    /// `ct(force)` without `commit`.
    #[error("\"force\" flag requires \"commit\" flag")]
    CtForceWithoutCommit,
    /// A malformed `nat` range.
    #[error("{0}: invalid nat range")]
    BadNatRange(String),
    /// A learn `field=` spec with nothing after `=`.
    #[error("{0}: learn match needs a value")]
    LearnMissingValue(String),
    /// Instructions out of OpenFlow 1.1's order.
    #[error(
        "invalid instruction ordering: {first} must appear before {second}, for OpenFlow 1.1+ compatibility"
    )]
    InstructionOrder {
        /// The instruction that came too late.
        first: &'static str,
        /// The instruction it should follow.
        second: &'static str,
    },
    /// The same instruction twice.
    #[error("instruction {0} may be specified only once")]
    DuplicateInstruction(&'static str),
}
