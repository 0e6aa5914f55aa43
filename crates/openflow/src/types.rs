//! Newtypes for the numbers OpenFlow gives meaning to: cookies, table, group, meter and queue
//! ids, switch ports, Ethernet addresses, and the field bit ranges ("subfields") that actions
//! read and write.
//!
//! Raw integers stay inside wire codecs; everything else speaks these types.

use core::fmt;
use fvs_flow::Field;

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

/// An OpenFlow port number, 32-bit OpenFlow 1.1+ numbering: OpenFlow 1.0's reserved range
/// `0xff00..=0xffff` sits at `0xffffff00..=0xffffffff`, whichever version carried it.
// TODO(a1): switch to fvs_flow::PortNo (same numbering) when it is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortNo(pub u32);

impl PortNo {
    /// Largest number an ordinary port may have (`OFPP_MAX`).
    pub const MAX: Self = Self(0xffff_ff00);
    /// Open vSwitch's "no port yet" marker.
    pub const UNSET: Self = Self(0xffff_fff7);
    /// `IN_PORT`: send back out of the ingress port.
    pub const IN_PORT: Self = Self(0xffff_fff8);
    /// `TABLE`: submit to the first flow table (packet-out only).
    pub const TABLE: Self = Self(0xffff_fff9);
    /// `NORMAL`: the traditional L2 learning switch.
    pub const NORMAL: Self = Self(0xffff_fffa);
    /// `FLOOD`: every port except the ingress port and ports with flooding disabled.
    pub const FLOOD: Self = Self(0xffff_fffb);
    /// `ALL`: every port except the ingress port.
    pub const ALL: Self = Self(0xffff_fffc);
    /// `CONTROLLER`: to the controller as a packet-in.
    pub const CONTROLLER: Self = Self(0xffff_fffd);
    /// `LOCAL`: the bridge's local port.
    pub const LOCAL: Self = Self(0xffff_fffe);
    /// `ANY` (OpenFlow 1.0's `NONE`): no port (the default `out_port`).
    pub const ANY: Self = Self(0xffff_ffff);

    const NAMES: [(Self, &'static str); 9] = [
        (Self::UNSET, "UNSET"),
        (Self::IN_PORT, "IN_PORT"),
        (Self::TABLE, "TABLE"),
        (Self::NORMAL, "NORMAL"),
        (Self::FLOOD, "FLOOD"),
        (Self::ALL, "ALL"),
        (Self::CONTROLLER, "CONTROLLER"),
        (Self::LOCAL, "LOCAL"),
        (Self::ANY, "ANY"),
    ];

    /// Converts an OpenFlow 1.0 port number (the reserved range moves up to 32 bits).
    pub const fn from_of10(port: u16) -> Self {
        if port >= 0xff00 {
            Self(0xffff_0000 | port as u32)
        } else {
            Self(port as u32)
        }
    }

    /// The ovs-ofctl name of a reserved port, if this is one.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
    }

    /// Parses a reserved port name in any case; `NONE` is accepted for `ANY`.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("NONE") {
            return Some(Self::ANY);
        }
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(p, _)| *p)
    }

    /// The OpenFlow 1.0 number, if the port has one.
    pub const fn to_of10(self) -> Option<u16> {
        if self.0 < 0xff00 {
            Some(self.0 as u16)
        } else if self.0 >= Self::MAX.0 {
            Some((self.0 & 0xffff) as u16)
        } else {
            None
        }
    }
}

impl fmt::Display for PortNo {
    /// Reserved ports print by name, others in OpenFlow 1.0 numbering when they have one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.to_of10()) {
            (Some(name), _) => f.write_str(name),
            (None, Some(n)) => write!(f, "{n}"),
            (None, None) => write!(f, "{}", self.0),
        }
    }
}

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

/// A bit range of a field, as actions name it: `NXM_NX_REG0[0..3]` is bits 0 to 3 of `reg0`.
///
/// Invariant (checked by the parser): `n_bits >= 1` and `ofs + n_bits <= width(field)`.
// TODO(a1): switch to fvs_flow::Subfield when it lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subfield {
    /// The field the bits belong to.
    pub field: Field,
    /// Offset of the least significant bit of the range.
    pub ofs: u16,
    /// Number of bits in the range.
    pub n_bits: u16,
}

impl Subfield {
    /// The whole field: `NXM_OF_ETH_SRC[]`.
    pub fn whole(field: Field) -> Self {
        Self {
            field,
            ofs: 0,
            n_bits: field_width(field),
        }
    }

    /// True when the range covers the whole field.
    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.n_bits == field_width(self.field)
    }

    /// The range as a mask over the field's value (right-aligned).
    pub fn mask(&self) -> u128 {
        low_mask(self.n_bits) << self.ofs
    }
}

/// The width of a field as OpenFlow actions see it. `in_port` is 16 bits wide in NXM even
/// though the flow key gives it 32.
pub fn field_width(field: Field) -> u16 {
    match field {
        Field::InPort => 16,
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
