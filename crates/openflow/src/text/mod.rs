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
pub mod group;
mod kv;
pub mod meter;
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
    /// A 32- or 64-bit number that does not parse.
    #[error("invalid numeric format {0}")]
    NumericFormat(String),
    /// A table number that does not parse.
    #[error("unknown table \"{0}\"")]
    UnknownTable(String),
    /// `resubmit` to a bad port.
    #[error("{0}: resubmit to unknown port")]
    ResubmitBadPort(String),
    /// `resubmit` to a bad table.
    #[error("{0}: resubmit to unknown table")]
    ResubmitBadTable(String),
    /// A third `resubmit` argument other than `ct`.
    #[error("{0}: unknown parameter")]
    UnknownParameter(String),
    /// `set_field` to a name that is not a field.
    #[error("{0} is not a valid OXM field name")]
    NotOxmField(String),
    /// A `set_field` value the field's syntax rejects.
    #[error(transparent)]
    FieldValue(#[from] fvs_flow::text::MatchParseError),
    /// `load` of a constant wider than the destination.
    #[error("{text}: value {value} does not fit into {bits} bits")]
    LoadTooWide {
        /// The whole `value->dst` text.
        text: String,
        /// The value as written.
        value: String,
        /// The destination's width.
        bits: u16,
    },
    /// `move` without `->`.
    #[error("{0}: missing `->' following source")]
    MoveMissingArrow(String),
    /// A learn `load:` without `->`.
    #[error("load: missing `->' in `{0}'")]
    LearnLoadMissingArrow(String),
    /// A learn spec that is no keyword, field or subfield.
    #[error("{spec}: unknown keyword {name}")]
    LearnUnknownKeyword {
        /// The whole learn argument.
        spec: String,
        /// The unknown name.
        name: String,
    },
    /// A `set_field` value wider than the field.
    #[error("{value} is not a valid value for field {field}")]
    InvalidValue {
        /// The value as written.
        value: String,
        /// The field as named.
        field: String,
    },
    /// `learn(table=255)`.
    #[error("{0}: table id 255 not valid for `learn' action")]
    LearnTable(String),
    /// `nat` outside `ct(...)`.
    #[error("Cannot have NAT action outside of \"ct\" action")]
    NatOutsideCt,
    /// An instruction inside a nested action list.
    #[error("{0} instruction not allowed here")]
    InstructionNotAllowed(&'static str),
    /// An action a nested list does not accept.
    #[error("{outer} action doesn't support nested action {name}")]
    NestedAction {
        /// The enclosing action.
        outer: &'static str,
        /// The nested action.
        name: &'static str,
    },
    /// `ct(exec(...))` writing a field other than `ct_mark` / `ct_label`.
    #[error("ct action doesn't support nested modification of {0}")]
    CtNestedModification(&'static str),
    /// `conjunction` together with actions other than `note`.
    #[error(
        "\"conjunction\" actions may be used along with \"note\" but not any other kind of action (such as the \"{0}\" action used here)"
    )]
    ConjunctionWithOthers(&'static str),
    /// A learn immediate match on a field with no NXM/OXM header (`dl_vlan`).
    #[error("{spec}: experimenter OXM field '{name}' not supported")]
    LearnFieldWithoutHeader {
        /// The whole learn argument.
        spec: String,
        /// The field name.
        name: String,
    },
    /// `output(port=P,max_len=N)` to a reserved port other than `IN_PORT` / `LOCAL`.
    #[error("output to unsupported truncate port: {0}")]
    TruncatePort(crate::types::PortNo),
    /// A learn match or load whose sides differ in width. ovs-ofctl prints each side's text
    /// next to the *other* side's width; so does this message, for identical output.
    #[error("{dst}={src}: bit widths of {dst} ({src_bits}) and {src} ({dst_bits}) differ")]
    LearnWidthMismatch {
        /// Destination text.
        dst: String,
        /// Source text.
        src: String,
        /// Destination width.
        dst_bits: u16,
        /// Source width.
        src_bits: u16,
    },
    /// `conjunction` not of the form `id,k/n`.
    #[error("\"conjunction\" syntax is \"conjunction(id,i/n)\"")]
    ConjunctionSyntax,
    /// `conjunction` with fewer than 2 clauses.
    #[error("conjunction must have at least 2 clauses")]
    ConjunctionTooFew,
    /// `conjunction` with more than 64 clauses.
    #[error("conjunction must have at most 64 clauses")]
    ConjunctionTooMany,
    /// `conjunction` clause 0.
    #[error("clause index must be positive")]
    ConjunctionClauseZero,
    /// `conjunction` clause past the number of clauses.
    #[error("clause index must be less than or equal to number of clauses")]
    ConjunctionClauseTooBig,
    /// An unknown `ct` argument.
    #[error("invalid argument to \"ct\" action: `{0}'")]
    CtArgument(String),
    /// An unknown `nat` argument.
    #[error("invalid key \"{0}\" in \"nat\" argument")]
    NatArgument(String),
    /// An unknown `controller` key.
    #[error("unknown key \"{0}\" parsing controller action")]
    ControllerKey(String),
    /// An unknown packet-in reason.
    #[error("unknown reason \"{0}\"")]
    ControllerReason(String),
    /// An unknown `fin_timeout` key.
    #[error("invalid key '{0}' in 'fin_timeout' argument")]
    FinTimeoutKey(String),
    /// A hash field set `multipath`/`bundle` do not know.
    #[error("{arg}: unknown fields `{fields}'")]
    HashFields {
        /// The whole argument.
        arg: String,
        /// The unknown name.
        fields: String,
    },
    /// `sample` without a non-zero probability.
    #[error("non-zero \"probability\" must be specified on sample")]
    SampleProbability,
    /// `output(max_len=N)` below the Ethernet header size.
    #[error("max_len {0} is less than the minimum value 14")]
    MaxLenTooSmall(u32),
    /// An `encap` header ovs-ofctl does not support.
    #[error("Encap hdr not supported: ")]
    EncapUnsupported,
    /// A port that is neither a number nor a reserved name.
    #[error("{0}: output to unknown port")]
    BadPort(String),
    /// An unparseable Ethernet address.
    #[error("invalid mac address {0}")]
    BadMac(String),
    /// An unparseable IP address.
    #[error("{0}: could not convert to IP address")]
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
    /// `set_field`/`load` without `->`.
    #[error("{0}: missing `->'")]
    MissingArrow(String),
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
    /// An MPLS label over 20 bits.
    #[error("{0}: not a valid MPLS label")]
    BadMplsLabel(String),
    /// `mod_nw_tos` with the ECN bits set.
    #[error("{0}: not a valid TOS")]
    BadTos(String),
    /// `mod_nw_ecn` over 3.
    #[error("{0}: not a valid ECN")]
    BadEcn(String),
    /// Malformed hex bytes in `controller(userdata=...)`.
    #[error("{0}: invalid hex bytes")]
    BadHex(String),
    /// Malformed hex bytes in `note`.
    #[error("bad hex digit in `note' argument")]
    BadNote,
    /// Malformed `enqueue`.
    #[error("\"enqueue\" syntax is \"enqueue:PORT:QUEUE\" or \"enqueue(PORT,QUEUE)\"")]
    BadEnqueue,
    /// `check_pkt_larger` into more than one bit.
    #[error("Only 1-bit destination field is allowed")]
    BadCheckPktLarger,
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
    #[error("\"force\" flag requires \"commit\" flag.")]
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
    #[error("duplicate {0} instruction not allowed, for OpenFlow 1.1+ compatibility")]
    DuplicateInstruction(&'static str),
}
