//! `fvs-pipeline`: OpenFlow switch semantics without I/O — tables, flow-mods, and translation
//! through bridges into datapath actions.
//!
//! # What it does
//!
//! A [`Switch`](switch::Switch) holds [`Bridge`](bridge::Bridge)s. Each bridge has ports and 254
//! OpenFlow tables (each a `fvs_classifier::Classifier` of [`Rule`](rule::Rule)s) and a MAC
//! table for `NORMAL`. Flow-mods change the tables with Open vSwitch's semantics (replace on
//! identical match and priority, strict and non-strict modify and delete, cookies, `out_port`,
//! timeouts). [`xlate`] turns a flow arriving on a port into datapath actions, the megaflow
//! mask of the bits that decided them, a trace in `ofproto/trace` form, and a list of side
//! effects (learned rules, learned MACs, rule and table statistics) that the switch applies
//! afterwards. Each bridge also has a group table ([`group`]): group-mods add, change and
//! delete groups (a deleted group takes the rules naming it along), and a flow-mod may name
//! only an existing group; translation runs `group:N` (all, select, indirect, fast failover:
//! the `xlate` module's `group` submodule says how a select group hashes). A meter table
//! ([`meter`]) holds the bridge's meters; a deleted meter takes the rules naming it along,
//! and translation turns `meter:N` into the datapath action `meter(M)` of the datapath meter
//! that enforces it.
//!
//! # Design
//!
//! - **One model of flows and actions.** Rules hold `fvs_flow::Match` and
//!   `fvs_openflow::Action`; flow-mods are `fvs_openflow::FlowMod`; ports are `fvs_flow::PortNo`.
//!   Text goes through the shared parsers and formatters. Which actions translation executes,
//!   and what it does with the others, is listed in [`xlate`]'s `actions` module.
//! - **Time is a parameter.** Every operation that ages or expires takes `now: Millis`; this
//!   crate reads no clock (see [`clock`]).
//! - **Translation is a pure function** of the switch state, the flow and `now`. Its side
//!   effects come back as data ([`xlate::SideEffect`]) and are applied by
//!   [`Switch::apply`](switch::Switch::apply); [`Switch::receive`](switch::Switch::receive) does
//!   both, [`Switch::trace`](switch::Switch::trace) only the first, like `ofproto/trace` without
//!   a packet. One consequence: a rule learned by a packet is visible to the next packet, not to
//!   later tables of the same translation.
//! - **Lazy commit.** Actions change the flow; datapath actions are emitted only at an output,
//!   as the difference between the flow and what the datapath packet already looks like
//!   ([`dpif`]).
//! - **Hidden rules** ahead of table 0 are not OpenFlow rules: the fail-open rule
//!   ([`bridge::FAIL_OPEN_PRIORITY`]) and in-band control's ([`in_band`]); translation
//!   consults them first and counts their hits as side effects.
//! - **Pausing.** `controller(pause)` freezes the rest of a translation into a continuation
//!   that [`xlate::translate_resume`] continues later (see `xlate`'s `freeze` module).
//! - The trace text follows docs/design/trace-format.md, which records what Open vSwitch 3.1
//!   prints.

pub mod bits;
pub mod bridge;
pub mod clock;
pub mod dpif;
pub mod example;
pub mod group;
pub mod in_band;
pub mod mac_table;
pub mod meter;
pub mod port;
pub mod rule;
pub mod switch;
pub mod text;
pub mod trace;
pub mod xlate;
