//! Sets of OpenFlow protocol variants, as `ovs-ofctl` reasons about them.
//!
//! A flow written in text may need features that only some protocols can carry (a masked
//! `eth_src` needs NXM or OXM; a `table=` on a flow-mod needs a table-id extension in
//! OpenFlow 1.0). Parsing narrows a [`Protocols`] set field by field and keyword by keyword;
//! the tools then pick one member of what is left to talk to the switch.

/// A set of protocol variants (a bit set; the bit values are ferrovs's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Protocols(pub u16);

impl Protocols {
    /// OpenFlow 1.0 without the table-id extension.
    pub const OF10_STD: Self = Self(1 << 0);
    /// OpenFlow 1.0 with the table-id extension.
    pub const OF10_STD_TID: Self = Self(1 << 1);
    /// OpenFlow 1.0 with Nicira extended matches (NXM), without the table-id extension.
    pub const OF10_NXM: Self = Self(1 << 2);
    /// OpenFlow 1.0 with NXM and the table-id extension.
    pub const OF10_NXM_TID: Self = Self(1 << 3);
    /// OpenFlow 1.1.
    pub const OF11_STD: Self = Self(1 << 4);
    /// OpenFlow 1.2 (OXM).
    pub const OF12_OXM: Self = Self(1 << 5);
    /// OpenFlow 1.3 (OXM).
    pub const OF13_OXM: Self = Self(1 << 6);
    /// OpenFlow 1.4 (OXM).
    pub const OF14_OXM: Self = Self(1 << 7);
    /// OpenFlow 1.5 (OXM).
    pub const OF15_OXM: Self = Self(1 << 8);

    /// No protocol at all: the flow cannot be expressed.
    pub const NONE: Self = Self(0);
    /// Every protocol.
    pub const ANY: Self = Self(0x1ff);
    /// Both OpenFlow 1.0 variants without NXM.
    pub const OF10_STD_ANY: Self = Self(0b11);
    /// Both NXM variants.
    pub const NXM_ANY: Self = Self(0b1100);
    /// Every OXM-based protocol (OpenFlow 1.2 to 1.5).
    pub const OXM_ANY: Self = Self(0x1e0);

    /// The protocols in both sets.
    #[must_use]
    pub const fn and(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The protocols in either set.
    #[must_use]
    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// True when every protocol of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}
