//! `fvs-flow` says what a packet's flow is and how rules look at it: the flow key, masks and
//! matches over it, and the one registry of match fields.
//!
//! # Design
//!
//! - [`FlowKey`] is a fixed array of 64-bit words; every field has a fixed bit range in it
//!   ([`key`] documents the layout). Masks are keys too, so a classifier can hash and compare
//!   whole words without knowing field boundaries.
//! - [`field::FIELDS`] is the single source of truth about fields: names and aliases, NXM/OXM
//!   names, width, location. The text syntax, the wire codecs and validation read it rather
//!   than keeping their own lists.
//! - [`Match`] is a key plus a mask, set field by field with OpenFlow's semantics (`dl_vlan`,
//!   `nw_tos`...); it checks prerequisites and tests keys.
//! - [`PortNo`] is an OpenFlow port number with the reserved ports' names.
//! - [`text`] reads and prints matches in `ovs-ofctl`'s syntax, byte for byte.
//! - [`extract::extract`] computes the flow key of a received frame, as Open vSwitch does.
//! - [`Subfield`] is a bit range of a field in action syntax (`NXM_NX_REG0[0..3]`).
//!
//! This crate does no I/O.

pub mod extract;
pub mod field;
pub mod key;
pub mod matching;
pub mod port;
pub mod protocols;
pub mod subfield;
pub mod text;

pub use field::{FIELDS, Field, FieldInfo};
pub use key::{FLOW_WORDS, FlowKey, Loc, STAGES};
pub use matching::{Match, PrereqError, Shorthand, usable_protocols};
pub use port::PortNo;
pub use protocols::Protocols;
pub use subfield::Subfield;
