//! The `learn` action: a template for a flow that the switch adds (or refreshes) each time the
//! action runs, with matches and actions filled in from the packet being processed.
//!
//! A [`Learn`] holds the new flow's header (table, priority, timeouts, cookie, flags) and a
//! list of [`LearnSpec`]s, each one of:
//!
//! - a match: the learned flow matches `dst` against a value taken from the packet
//!   (`NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]`, or `NXM_OF_VLAN_TCI[0..11]` meaning "the same
//!   bits") or a constant (`dl_type=0x800`);
//! - a load: the learned flow gets a `load` of a packet value or constant into `dst`;
//! - an output: the learned flow outputs to the port number found in a packet subfield.

use crate::types::{Cookie, Subfield, TableId};

/// `learn(...)`. Defaults (what an empty `learn()` means) are given by [`Learn::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learn {
    /// Table the learned flow goes into (default 1).
    pub table: TableId,
    /// Idle timeout of the learned flow, seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout of the learned flow, seconds (0 = none).
    pub hard_timeout: u16,
    /// Idle timeout applied once the learned flow sees TCP FIN/RST (0 = none).
    pub fin_idle_timeout: u16,
    /// Hard timeout applied once the learned flow sees TCP FIN/RST (0 = none).
    pub fin_hard_timeout: u16,
    /// Priority of the learned flow (default 0x8000).
    pub priority: u16,
    /// Cookie of the learned flow.
    pub cookie: Cookie,
    /// Flags.
    pub flags: LearnFlags,
    /// Most flows this action may have learned at once in `table` (0 = unlimited).
    pub limit: u32,
    /// A 1-bit subfield set to whether learning succeeded (requires `limit` semantics).
    pub result_dst: Option<Subfield>,
    /// What the learned flow matches and does.
    pub specs: Vec<LearnSpec>,
}

impl Default for Learn {
    fn default() -> Self {
        Self {
            table: TableId(1),
            idle_timeout: 0,
            hard_timeout: 0,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            priority: 0x8000,
            cookie: Cookie(0),
            flags: LearnFlags::default(),
            limit: 0,
            result_dst: None,
            specs: Vec::new(),
        }
    }
}

/// Flags of `learn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LearnFlags {
    /// `send_flow_rem`: the learned flow has the send-flow-removed flag.
    pub send_flow_rem: bool,
    /// `delete_learned`: deleting the learning flow deletes what it learned.
    pub delete_learned: bool,
}

/// One element of a learn template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LearnSpec {
    /// The learned flow matches `dst` against `src`.
    Match {
        /// The matched bits in the learned flow.
        dst: Subfield,
        /// Where the value comes from.
        src: LearnSrc,
    },
    /// The learned flow loads `src` into `dst` (`load:src->dst`).
    Load {
        /// The written bits in the learned flow's packets.
        dst: Subfield,
        /// Where the value comes from.
        src: LearnSrc,
    },
    /// The learned flow outputs to the port held in `src` now (`output:NXM_OF_IN_PORT[]`).
    Output {
        /// The port number's bits in the learning packet.
        src: Subfield,
    },
}

/// The source of a learned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearnSrc {
    /// Bits of the packet being processed, of the same width as the destination.
    Field(Subfield),
    /// A constant, right-aligned in the destination's width.
    Immediate(u128),
}
