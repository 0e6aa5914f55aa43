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
//!
//! This crate does no I/O.

pub mod field;
pub mod key;
pub mod protocols;

pub use field::{FIELDS, Field, FieldInfo};
pub use key::{FLOW_WORDS, FlowKey, Loc, STAGES};
pub use protocols::Protocols;
