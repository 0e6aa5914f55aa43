//! OpenFlow port numbers, with the reserved ports' text names.
//!
//! A [`PortNo`] holds the 32-bit OpenFlow 1.1+ number. OpenFlow 1.0's 16-bit numbers map onto
//! it the way the protocol does: ordinary ports keep their value and the reserved range
//! `0xff00..=0xffff` moves to `0xffffff00..=0xffffffff`, so `LOCAL` is `0xfffffffe` whichever
//! version it came from. Text uses the reserved names (`in_port=LOCAL`) and decimal otherwise.

use core::fmt;

/// An OpenFlow port number (32-bit, OpenFlow 1.1+ numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortNo(pub u32);

/// Why a port name or number was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortParseError {
    /// Neither a reserved port name nor a decimal number of at most 32 bits.
    #[error("{0}: invalid or unknown port")]
    Unknown(String),
    /// A number between OpenFlow 1.0's range and the reserved ports.
    #[error("{0}: port value out of range")]
    OutOfRange(String),
}

impl PortNo {
    /// The highest number an ordinary port may have in OpenFlow 1.1+ (`OFPP_MAX`).
    pub const MAX: Self = Self(0xffff_ff00);
    /// Open vSwitch's "no port yet" marker (`0xfff7` in OpenFlow 1.0 numbering).
    pub const UNSET: Self = Self(0xffff_fff7);
    /// Send the packet back out its input port.
    pub const IN_PORT: Self = Self(0xffff_fff8);
    /// Submit the packet to the first flow table (packet-out only).
    pub const TABLE: Self = Self(0xffff_fff9);
    /// The traditional L2/L3 switch behaviour.
    pub const NORMAL: Self = Self(0xffff_fffa);
    /// Every port except the input port and ports with flooding disabled.
    pub const FLOOD: Self = Self(0xffff_fffb);
    /// Every port except the input port.
    pub const ALL: Self = Self(0xffff_fffc);
    /// The controller.
    pub const CONTROLLER: Self = Self(0xffff_fffd);
    /// The switch's local (bridge-internal) port.
    pub const LOCAL: Self = Self(0xffff_fffe);
    /// No port / any port (`OFPP_ANY`, OpenFlow 1.0's `OFPP_NONE`).
    pub const ANY: Self = Self(0xffff_ffff);

    /// Reserved ports and their names, as `ovs-ofctl` prints them.
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

    /// Parses a port as `ovs-ofctl` does: a reserved name in any case (`local`, `NONE` is
    /// `ANY`) or a decimal number. Numbers up to 0xffff are OpenFlow 1.0 numbers (so `65535` is
    /// `ANY`); larger ones must be in the 32-bit reserved range.
    pub fn parse(s: &str) -> Result<Self, PortParseError> {
        if let Some(port) = Self::from_name(s) {
            return Ok(port);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PortParseError::Unknown(s.to_string()));
        }
        let n: u32 = s
            .parse()
            .map_err(|_| PortParseError::Unknown(s.to_string()))?;
        match u16::try_from(n) {
            Ok(n16) => Ok(Self::from_of10(n16)),
            Err(_) if n >= Self::MAX.0 => Ok(Self(n)),
            Err(_) => Err(PortParseError::OutOfRange(s.to_string())),
        }
    }

    /// Looks up a reserved port's name, ignoring case; `NONE` is accepted for `ANY`.
    pub fn from_name(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("NONE") {
            return Some(Self::ANY);
        }
        Self::NAMES
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(s))
            .map(|(port, _)| *port)
    }

    /// The reserved port's name, if this is one.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(port, _)| *port == self)
            .map(|(_, name)| *name)
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

/// Prints the reserved name, or the number in OpenFlow 1.0 numbering when it has one (as
/// `ovs-ofctl` does: `65280` for `OFPP_MAX`).
impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.to_of10()) {
            (Some(name), _) => f.write_str(name),
            (None, Some(n)) => write!(f, "{n}"),
            (None, None) => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_print_in_capitals() {
        assert_eq!(PortNo::parse("local"), Ok(PortNo::LOCAL));
        assert_eq!(PortNo::parse("NONE"), Ok(PortNo::ANY));
        assert_eq!(PortNo::LOCAL.to_string(), "LOCAL");
        assert_eq!(PortNo::ANY.to_string(), "ANY");
        assert_eq!(PortNo(7).to_string(), "7");
    }

    #[test]
    fn openflow10_numbers_map_into_the_reserved_range() {
        assert_eq!(PortNo::parse("65534"), Ok(PortNo::LOCAL));
        assert_eq!(PortNo::parse("65280"), Ok(PortNo::MAX));
        assert_eq!(PortNo::MAX.to_string(), "65280");
        assert_eq!(PortNo::parse("4294967288"), Ok(PortNo::IN_PORT));
        assert_eq!(PortNo::from_of10(0xfffd), PortNo::CONTROLLER);
        assert_eq!(PortNo::CONTROLLER.to_of10(), Some(0xfffd));
    }

    #[test]
    fn bad_ports_are_named_in_the_error() {
        assert_eq!(
            PortNo::parse("70000"),
            Err(PortParseError::OutOfRange("70000".into()))
        );
        assert_eq!(
            PortNo::parse("0x10"),
            Err(PortParseError::Unknown("0x10".into()))
        );
        assert_eq!(
            PortNo::parse("bogus"),
            Err(PortParseError::Unknown("bogus".into()))
        );
    }
}
