//! One version-neutral model of OpenFlow actions, flow-mods and messages, with ovs-ofctl's text
//! syntax.
//!
//! # What it does
//!
//! - [`action`], [`learn`], [`ct`]: the action model: every action and instruction of
//!   ovs-actions(7) as one exhaustive [`Action`] enum, with no trace of the OpenFlow version
//!   that carried it (apart from small *spelling* tags the text formatter reads).
//! - [`flow_mod`]: [`FlowMod`], a flow-table modification.
//! - [`group`]: [`group::GroupMod`], a group-table modification, and groups as the switch
//!   reports them (description, statistics).
//! - [`meter`]: [`meter::MeterMod`], a meter-table modification, and meters as the switch
//!   reports them (configuration, statistics, features).
//! - [`types`]: newtypes for cookies, tables, groups, meters, queues, ports, Ethernet
//!   addresses and subfields.
//! - [`text`]: ovs-ofctl's text syntax: [`text::parse_actions`] / [`text::format_actions`],
//!   [`text::parse_flow_mod`] (with the usable protocols), [`text::parse_flow_mod_line`] for
//!   add-flows files, [`text::format_flow_mod`] for the printed message.
//! - [`check`]: consistency of actions with the match (what ovs-ofctl rejects or restricts to
//!   OpenFlow 1.0).
//! - [`protocol`]: single protocol variants, their names, and how sets are printed.
//! - [`normalize`]: `normalize_for(protocol)`, the flow as it reads after a round trip through
//!   that protocol's encoding (which is what `ovs-ofctl parse-flow` prints).
//!
//! # Typical use
//!
//! ```
//! use fvs_openflow::FlowModCommand;
//! use fvs_openflow::normalize::normalize_flow_mod;
//! use fvs_openflow::protocol::Protocol;
//! use fvs_openflow::text::{format_flow_mod, parse_flow_mod};
//!
//! let (fm, usable) = parse_flow_mod("dl_vlan=1 actions=strip_vlan,output:2", FlowModCommand::Add)
//!     .expect("a valid flow");
//! let protocol = Protocol::first_in(usable.and(Protocol::Of13.bit())).expect("OpenFlow 1.3 can carry it");
//! let mut out = String::new();
//! format_flow_mod(&normalize_flow_mod(&fm, protocol), protocol, 1, &mut out);
//! assert!(out.ends_with("actions=pop_vlan,output:2"));
//! ```
//!
//! # Design
//!
//! The pipeline executes [`Action`]s directly, so the enum is shaped for `match`: one variant
//! per behaviour, nested lists as `Vec<Action>`, reserved output ports as [`PortNo`]
//! constants. Wire codecs (one per OpenFlow version) translate to and from this model and are
//! the only place version differences live.

pub mod action;
pub mod check;
pub mod ct;
pub mod flow_mod;
pub mod group;
pub mod learn;
pub mod meter;
pub mod normalize;
pub mod protocol;
pub mod text;
pub mod types;
pub mod wire;

pub use action::{Action, Output, Resubmit, SetField};
pub use ct::{Ct, CtZone, Nat};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
pub use learn::{Learn, LearnSpec, LearnSrc};
pub use types::{Cookie, EthAddr, GroupId, MeterId, PortNo, QueueId, Subfield, TableId};
