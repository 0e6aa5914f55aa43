//! Ethernet II frames: destination, source, EtherType, payload.
//!
//! An EtherType below 0x0600 is an IEEE 802.3 length, not a type; [`EtherType::is_length`]
//! tells them apart and flow extraction decides what such a frame's type is.

use core::fmt;

use crate::bytes::{array, get16, set16};
use crate::error::{Error, Layer, need};

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`.
    pub const ZERO: Self = Self([0; 6]);
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// The address as the low 48 bits of an integer (first octet most significant).
    pub const fn to_u64(self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// True for the all-zero address.
    pub const fn is_zero(self) -> bool {
        self.to_u64() == 0
    }

    /// True when the group bit (least significant bit of the first octet) is set.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Reads `xx:xx:xx:xx:xx:xx` as Open vSwitch does: six groups of one or two hex digits,
    /// either case (`0:1:2:AA:bb:c`); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 6];
        let mut groups = s.split(':');
        for b in &mut out {
            let g = groups.next()?;
            if g.is_empty() || g.len() > 2 {
                return None;
            }
            *b = u8::from_str_radix(g, 16).ok()?;
        }
        groups.next().is_none().then_some(Self(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

open_enum! {
    /// The EtherType field (or, below 0x0600, an 802.3 length).
    pub enum EtherType(u16) {
        /// IPv4.
        Ipv4 = 0x0800,
        /// ARP.
        Arp = 0x0806,
        /// Transparent Ethernet Bridging: an Ethernet frame inside GRE or Geneve.
        TransparentEthernetBridging = 0x6558,
        /// Reverse ARP.
        Rarp = 0x8035,
        /// An 802.1Q customer VLAN tag follows.
        Vlan = 0x8100,
        /// IPv6.
        Ipv6 = 0x86dd,
        /// MPLS unicast.
        MplsUnicast = 0x8847,
        /// MPLS multicast.
        MplsMulticast = 0x8848,
        /// An 802.1ad service VLAN tag follows.
        QinQ = 0x88a8,
    }
}

impl EtherType {
    /// The smallest value that is a type rather than an 802.3 length.
    pub const MIN_TYPE: u16 = 0x0600;

    /// True for values below 0x0600: an 802.3 frame's length field.
    pub fn is_length(self) -> bool {
        u16::from(self) < Self::MIN_TYPE
    }

    /// True for the two VLAN tag protocol identifiers (802.1Q and 802.1ad).
    pub fn is_vlan(self) -> bool {
        matches!(self, Self::Vlan | Self::QinQ)
    }

    /// True for the two MPLS EtherTypes.
    pub fn is_mpls(self) -> bool {
        matches!(self, Self::MplsUnicast | Self::MplsMulticast)
    }
}

mod field {
    use core::ops::Range;
    pub(super) const DST: usize = 0;
    pub(super) const SRC: usize = 6;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const PAYLOAD: Range<usize> = 14..usize::MAX;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A view of an Ethernet II frame.
#[derive(Clone, Copy, Debug)]
pub struct EthernetView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetView<T> {
    /// Wraps `buffer` after checking it holds the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Ethernet, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination address.
    pub fn dst(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::DST))
    }

    /// Source address.
    pub fn src(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::SRC))
    }

    /// EtherType (or 802.3 length).
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetView<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::DST..field::DST + 6].copy_from_slice(&mac.0);
    }

    /// Sets the source address.
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 6].copy_from_slice(&mac.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.into());
    }

    /// Everything after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// An Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// EtherType.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked view.
    pub fn parse<T: AsRef<[u8]>>(view: &EthernetView<T>) -> Self {
        Self {
            dst: view.dst(),
            src: view.src(),
            ethertype: view.ethertype(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`buffer_len`](Self::buffer_len) bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut v = EthernetView { buffer: buf };
        v.set_dst(self.dst);
        v.set_src(self.src);
        v.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_as_open_vswitch_reads_them() {
        assert_eq!(
            MacAddr::parse("02:00:00:00:00:0a"),
            Some(MacAddr([2, 0, 0, 0, 0, 10]))
        );
        assert_eq!(
            MacAddr::parse("0:1:2:AA:bb:c"),
            Some(MacAddr([0, 1, 2, 0xaa, 0xbb, 0x0c]))
        );
        for bad in ["zz", "02:00:00:00:00", "02:00:00:00:00:00:01"] {
            assert_eq!(MacAddr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_a_frame_and_round_trips() {
        let frame = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01, 0x08, 0x06,
            0xaa,
        ];
        let v = EthernetView::new_checked(&frame[..]).unwrap();
        assert_eq!(v.dst(), MacAddr::BROADCAST);
        assert_eq!(v.src().to_string(), "fa:16:3e:00:00:01");
        assert_eq!(v.ethertype(), EtherType::Arp);
        assert_eq!(v.payload(), &[0xaa]);
        let repr = EthernetRepr::parse(&v);
        let mut out = [0u8; HEADER_LEN];
        repr.emit(&mut out);
        assert_eq!(out, frame[..HEADER_LEN]);
    }

    #[test]
    fn short_frame_is_an_error_not_a_panic() {
        assert_eq!(
            EthernetView::new_checked(&[0u8; 13][..]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 13
            }
        );
    }

    #[test]
    fn unknown_ethertypes_round_trip() {
        assert_eq!(EtherType::from(0x88cc), EtherType::Other(0x88cc));
        assert_eq!(u16::from(EtherType::Other(0x88cc)), 0x88cc);
        assert!(EtherType::from(0x05dc).is_length());
        assert!(!EtherType::Ipv4.is_length());
    }
}
