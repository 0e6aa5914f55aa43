//! Flow-table modification requests: what `ovs-ofctl add-flow`, `mod-flows` and `del-flows`
//! send, and what a learned flow becomes.

use crate::action::Action;
use crate::types::{Cookie, GroupId, PortNo, TableId};
use fvs_flow::Match;

/// What a flow-mod asks the switch to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowModCommand {
    /// `add`: insert, replacing an identical match at the same priority.
    Add,
    /// `modify`: change the actions of every flow the match covers.
    Modify,
    /// `modify_strict`: change the actions of the flow with exactly this match and priority.
    ModifyStrict,
    /// `delete`: remove every flow the match covers.
    Delete,
    /// `delete_strict`: remove the flow with exactly this match and priority.
    DeleteStrict,
}

/// Flow flags (`send_flow_rem`, `check_overlap`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowModFlags {
    /// Send a flow-removed message when the flow expires or is deleted.
    pub send_flow_rem: bool,
    /// Refuse to add a flow that overlaps an existing one at the same priority.
    pub check_overlap: bool,
    /// Reset packet and byte counters on modify (OpenFlow 1.3+).
    pub reset_counts: bool,
    /// Do not count packets (OpenFlow 1.3+).
    pub no_packet_counts: bool,
    /// Do not count bytes (OpenFlow 1.3+).
    pub no_byte_counts: bool,
}

/// A flow-table modification, version-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// What to do.
    pub command: FlowModCommand,
    /// Which packets the flow matches (or which flows a modify/delete selects).
    pub r#match: Match,
    /// Priority (default 0x8000).
    pub priority: u16,
    /// For add: the new flow's cookie. For modify/delete: the cookie to select with
    /// `cookie_mask`; a modify may also set a new cookie in `new_cookie`.
    pub cookie: Cookie,
    /// Which bits of `cookie` select flows (modify/delete); 0 = any.
    pub cookie_mask: Cookie,
    /// For modify: replace selected flows' cookies with this (`cookie=X` without a mask).
    pub new_cookie: Option<Cookie>,
    /// The table; `None` means table 0 for add and every table for modify/delete.
    pub table: Option<TableId>,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Eviction importance (OpenFlow 1.4+).
    pub importance: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// For delete: only flows that output to this port ([`PortNo::ANY`] = no restriction).
    pub out_port: PortNo,
    /// For delete: only flows that use this group ([`GroupId::ANY`] = no restriction).
    pub out_group: GroupId,
    /// A buffered packet to apply the new flow to, if any.
    pub buffer_id: Option<u32>,
    /// The flow's actions and instructions (empty = drop).
    pub actions: Vec<Action>,
}

impl FlowMod {
    /// A flow-mod with ovs-ofctl's defaults for `command`.
    pub fn new(command: FlowModCommand) -> Self {
        Self {
            command,
            r#match: Match::default(),
            priority: 0x8000,
            cookie: Cookie(0),
            cookie_mask: Cookie(0),
            new_cookie: None,
            table: None,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowModFlags::default(),
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            buffer_id: None,
            actions: Vec::new(),
        }
    }
}
