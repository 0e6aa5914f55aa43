//! One version-neutral model of OpenFlow actions, flow-mods and messages, with ovs-ofctl's text
//! syntax.
//!
//! # What it does
//!
//! - [`action`], [`learn`], [`ct`]: the action model: every action and instruction of
//!   ovs-actions(7) as one exhaustive [`Action`] enum, with no trace of the OpenFlow version
//!   that carried it (apart from small *spelling* tags the text formatter reads).
//! - [`flow_mod`]: [`FlowMod`], a flow-table modification.
//! - [`types`]: newtypes for cookies, tables, groups, meters, queues, ports, Ethernet
//!   addresses and subfields.
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
pub mod learn;
pub mod normalize;
pub mod protocol;
pub mod text;
pub mod types;

pub use action::{Action, Output, Resubmit, SetField};
pub use ct::{Ct, CtZone, Nat};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
pub use learn::{Learn, LearnSpec, LearnSrc};
pub use types::{Cookie, EthAddr, GroupId, MeterId, PortNo, QueueId, Subfield, TableId};
