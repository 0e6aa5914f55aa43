//! Newtypes for the numbers OpenFlow gives meaning to: cookies, table, group, meter and queue
//! ids and Ethernet addresses. Ports ([`PortNo`]) and field bit ranges ([`Subfield`]) come
//! from `fvs-flow` and are re-exported here.
//!
//! Raw integers stay inside wire codecs; everything else speaks these types.

use core::fmt;
use fvs_flow::Field;
pub use fvs_flow::{PortNo, Subfield};

/// A flow cookie: an opaque 64-bit value the controller attaches to a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cookie(pub u64);

impl Cookie {
    /// A cookie mask that matches every cookie (`cookie=0/0`).
    pub const ANY: Self = Self(0);
    /// A cookie mask that compares all 64 bits.
    pub const EXACT: Self = Self(u64::MAX);
}

/// A flow table number. OpenFlow allows 0..=254; 255 means "all tables" in requests and is
/// represented as `Option<TableId>::None` in this model, never as `TableId(255)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TableId(pub u8);

impl TableId {
    /// The wire value that stands for "all tables" / "not given".
    pub const ALL_RAW: u8 = 255;
}

/// A group number (`group:5`, `out_group=5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

impl GroupId {
    /// `OFPG_ANY`: no group restriction (the default `out_group`).
    pub const ANY: Self = Self(0xffff_ffff);
    /// `OFPG_ALL`: every group.
    pub const ALL: Self = Self(0xffff_fffc);
}

/// A meter number (`meter:1`, `controller(meter_id=1)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeterId(pub u32);

/// A port queue number (`set_queue:3`, `enqueue:1:3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub u32);

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthAddr(pub [u8; 6]);

impl EthAddr {
    /// The address as the low 48 bits of an integer, as the flow key stores it.
    pub fn to_u128(self) -> u128 {
        self.0
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    }

    /// The address held in the low 48 bits of `v`.
    pub fn from_u128(v: u128) -> Self {
        let b = (v as u64).to_be_bytes();
        Self([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for EthAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The bits of a [`Subfield`] as a mask over its field's value (right-aligned).
pub fn subfield_mask(sf: &Subfield) -> u128 {
    low_mask(sf.n_bits) << sf.ofs
}

/// The width of a field as OpenFlow actions see it. `in_port` and `arp_op` are 16 bits wide
/// in OpenFlow even though the flow key stores them differently.
pub fn field_width(field: Field) -> u16 {
    match field {
        Field::InPort | Field::ArpOp => 16,
        other => u16::from(other.loc().bits),
    }
}

/// A mask with the low `n` bits set (`n` ≤ 128).
pub(crate) fn low_mask(n: u16) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}
