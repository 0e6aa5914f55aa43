//! The `ct` (connection tracking) action and its `nat` sub-action.

use crate::action::Action;
use crate::types::{Subfield, TableId};
use core::net::IpAddr;

/// `ct(...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ct {
    /// `commit`: create the connection entry if it does not exist.
    pub commit: bool,
    /// `force`: a committed connection in the opposite direction is torn down and
    /// re-created (implies `commit`).
    pub force: bool,
    /// The conntrack zone.
    pub zone: CtZone,
    /// `table=N`: after tracking, continue in this table with a recirculated copy.
    pub table: Option<TableId>,
    /// `alg=ftp|tftp|N`: application-layer gateway, as its well-known port number.
    pub alg: Option<u16>,
    /// `exec(...)` actions and a `nat(...)`, in text order.
    pub actions: Vec<Action>,
}

impl Default for Ct {
    fn default() -> Self {
        Self {
            commit: false,
            force: false,
            zone: CtZone::Immediate(0),
            table: None,
            alg: None,
            actions: Vec::new(),
        }
    }
}

/// Where a `ct` zone comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtZone {
    /// `zone=5` (0 when omitted).
    Immediate(u16),
    /// `zone=NXM_NX_REG6[0..15]`: a 16-bit subfield of the packet.
    Field(Subfield),
}

/// `nat[(src|dst[=addrs[:ports]][,flags])]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Nat {
    /// Which side is translated; `None` for plain `nat` (reverse an existing mapping).
    pub kind: Option<NatKind>,
    /// Address range, first..=last (last == first for a single address).
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// Port range, first..=last.
    pub ports: Option<(u16, u16)>,
    /// `persistent`.
    pub persistent: bool,
    /// Port selection: `hash` or `random`.
    pub port_selection: Option<NatPortSelection>,
}

/// `nat(src...)` or `nat(dst...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// Source NAT.
    Src,
    /// Destination NAT.
    Dst,
}

/// How NAT picks a port within the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatPortSelection {
    /// `hash`.
    Hash,
    /// `random`.
    Random,
}
