//! 802.1Q / 802.1ad VLAN tags.
//!
//! A tag is four bytes: the tag protocol identifier (TPID, 0x8100 or 0x88a8), which sits where
//! the EtherType would be, then the tag control information (TCI) and the real EtherType.
//! [`VlanView`] covers the part after the TPID — TCI and inner EtherType — so that it reads
//! like the layer it is: a header with a "next protocol" field.

use crate::bytes::{get16, set16};
use crate::error::{Error, Layer, need};
use crate::ethernet::EtherType;

/// Tag control information: priority (3 bits), drop eligible (1 bit), VLAN id (12 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tci(pub u16);

impl Tci {
    /// Builds a TCI from its parts; `vid` is truncated to 12 bits and `pcp` to 3.
    pub const fn new(pcp: u8, dei: bool, vid: u16) -> Self {
        Self(((pcp as u16 & 7) << 13) | ((dei as u16) << 12) | (vid & 0x0fff))
    }

    /// Priority code point.
    pub const fn pcp(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// Drop eligible indicator (the former CFI bit).
    pub const fn dei(self) -> bool {
        self.0 & 0x1000 != 0
    }

    /// VLAN identifier.
    pub const fn vid(self) -> u16 {
        self.0 & 0x0fff
    }
}

mod field {
    pub(super) const TCI: usize = 0;
    pub(super) const ETHERTYPE: usize = 2;
}

/// Length of a tag after its TPID (TCI + inner EtherType).
pub const HEADER_LEN: usize = 4;

/// A view of a VLAN tag's TCI and inner EtherType, and what follows.
#[derive(Clone, Copy, Debug)]
pub struct VlanView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanView<T> {
    /// Wraps `buffer` after checking it holds TCI and EtherType.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Vlan, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    /// Tag control information.
    pub fn tci(&self) -> Tci {
        Tci(get16(self.buffer.as_ref(), field::TCI))
    }

    /// The EtherType after the tag (another TPID for a double-tagged frame).
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the tag.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanView<T> {
    /// Sets the TCI.
    pub fn set_tci(&mut self, tci: Tci) {
        set16(self.buffer.as_mut(), field::TCI, tci.0);
    }

    /// Sets the inner EtherType.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.into());
    }
}

/// A VLAN tag's TCI and inner EtherType.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Tag control information.
    pub tci: Tci,
    /// EtherType of what follows the tag.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(view: &VlanView<T>) -> Self {
        Self {
            tci: view.tci(),
            ethertype: view.ethertype(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes TCI and EtherType into the first four bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut v = VlanView { buffer: buf };
        v.set_tci(self.tci);
        v.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tci_parts() {
        let t = Tci::new(5, false, 100);
        assert_eq!(t.0, 0xa064);
        assert_eq!((t.pcp(), t.dei(), t.vid()), (5, false, 100));
        assert!(Tci(0x1000).dei());
    }

    #[test]
    fn round_trip() {
        let r = VlanRepr {
            tci: Tci::new(3, true, 4095),
            ethertype: EtherType::Ipv6,
        };
        let mut buf = [0u8; HEADER_LEN];
        r.emit(&mut buf);
        assert_eq!(buf, [0x7f, 0xff, 0x86, 0xdd]);
        assert_eq!(
            VlanRepr::parse(&VlanView::new_checked(&buf[..]).unwrap()),
            r
        );
        assert!(VlanView::new_checked(&buf[..3]).is_err());
    }
}
