//! GRE (RFC 2784 with RFC 2890's key and sequence number extensions).
//!
//! The header is four bytes of flags, version and protocol type, followed by the optional
//! checksum (+ reserved), key and sequence number words, present in that order when their flag
//! bit is set. The checksum, when present, covers the GRE header and payload.
//! [`GreView::new_checked`] checks that the optional words the flags announce are present;
//! [`GreRepr::parse`] also requires version 0 and that the routing flag of RFC 1701 be clear
//! (its variable-length field is not supported).

use crate::bytes::{get16, get32, set16, set32};
use crate::checksum;
use crate::error::{Error, Layer, need};
use crate::ethernet::EtherType;

mod field {
    pub(super) const FLAGS: usize = 0;
    pub(super) const PROTOCOL: usize = 2;
    pub(super) const OPTIONAL: usize = 4;
}

const FLAG_CSUM: u16 = 0x8000;
const FLAG_ROUTING: u16 = 0x4000;
const FLAG_KEY: u16 = 0x2000;
const FLAG_SEQ: u16 = 0x1000;
const VERSION_MASK: u16 = 0x0007;

/// Length of the header without optional words.
pub const MIN_HEADER_LEN: usize = field::OPTIONAL;

/// A view of a GRE packet.
#[derive(Clone, Copy, Debug)]
pub struct GreView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GreView<T> {
    /// Wraps `buffer` after checking it holds the header and the optional words its flags
    /// announce.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Gre, MIN_HEADER_LEN, buffer.as_ref().len())?;
        let v = Self { buffer };
        need(Layer::Gre, v.header_len(), v.buffer.as_ref().len())?;
        Ok(v)
    }

    fn flags(&self) -> u16 {
        get16(self.buffer.as_ref(), field::FLAGS)
    }

    /// True when a checksum is present.
    pub fn checksum_present(&self) -> bool {
        self.flags() & FLAG_CSUM != 0
    }

    /// True when a key is present.
    pub fn key_present(&self) -> bool {
        self.flags() & FLAG_KEY != 0
    }

    /// True when a sequence number is present.
    pub fn seq_present(&self) -> bool {
        self.flags() & FLAG_SEQ != 0
    }

    /// True when RFC 1701's routing flag is set.
    pub fn routing_present(&self) -> bool {
        self.flags() & FLAG_ROUTING != 0
    }

    /// Version (0 for RFC 2784 GRE).
    pub fn version(&self) -> u8 {
        (self.flags() & VERSION_MASK) as u8
    }

    /// Protocol type of the payload.
    pub fn protocol(&self) -> EtherType {
        EtherType::from(get16(self.buffer.as_ref(), field::PROTOCOL))
    }

    /// Header length in bytes, optional words included.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN
            + 4 * (usize::from(self.checksum_present())
                + usize::from(self.key_present())
                + usize::from(self.seq_present()))
    }

    fn key_offset(&self) -> usize {
        MIN_HEADER_LEN + 4 * usize::from(self.checksum_present())
    }

    /// The checksum, if present.
    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| get16(self.buffer.as_ref(), field::OPTIONAL))
    }

    /// The key, if present.
    pub fn key(&self) -> Option<u32> {
        self.key_present()
            .then(|| get32(self.buffer.as_ref(), self.key_offset()))
    }

    /// The sequence number, if present.
    pub fn seq(&self) -> Option<u32> {
        let at = self.key_offset() + 4 * usize::from(self.key_present());
        self.seq_present().then(|| get32(self.buffer.as_ref(), at))
    }

    /// True when there is no checksum or it verifies over the whole buffer.
    pub fn verify_checksum(&self) -> bool {
        !self.checksum_present() || checksum::verifies(self.buffer.as_ref())
    }

    /// The payload after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GreView<T> {
    /// Computes the checksum over the whole buffer, if the header has a checksum field.
    pub fn fill_checksum(&mut self) {
        if self.checksum_present() {
            set16(self.buffer.as_mut(), field::OPTIONAL, 0);
            let c = checksum::checksum(self.buffer.as_ref());
            set16(self.buffer.as_mut(), field::OPTIONAL, c);
        }
    }
}

/// A GRE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GreRepr {
    /// Protocol type of the payload.
    pub protocol: EtherType,
    /// Whether the header carries a checksum.
    pub checksum: bool,
    /// The key, if any.
    pub key: Option<u32>,
    /// The sequence number, if any.
    pub seq: Option<u32>,
}

impl GreRepr {
    /// Reads a checked view: version 0 without routing, checksum verified if present.
    pub fn parse<T: AsRef<[u8]>>(view: &GreView<T>) -> Result<Self, Error> {
        if view.version() != 0 {
            return Err(Error::BadVersion {
                layer: Layer::Gre,
                value: view.version(),
            });
        }
        if view.routing_present() {
            return Err(Error::Unsupported {
                layer: Layer::Gre,
                what: "flag",
                value: u32::from(FLAG_ROUTING),
            });
        }
        if !view.verify_checksum() {
            return Err(Error::BadChecksum { layer: Layer::Gre });
        }
        Ok(Self {
            protocol: view.protocol(),
            checksum: view.checksum_present(),
            key: view.key(),
            seq: view.seq(),
        })
    }

    /// Header bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
            + 4 * (usize::from(self.checksum)
                + usize::from(self.key.is_some())
                + usize::from(self.seq.is_some()))
    }

    /// Writes the header with a zero checksum; call [`GreView::fill_checksum`] once the
    /// payload follows.
    pub fn emit(&self, buf: &mut [u8]) {
        let flags = if self.checksum { FLAG_CSUM } else { 0 }
            | if self.key.is_some() { FLAG_KEY } else { 0 }
            | if self.seq.is_some() { FLAG_SEQ } else { 0 };
        set16(buf, field::FLAGS, flags);
        set16(buf, field::PROTOCOL, self.protocol.into());
        let mut at = field::OPTIONAL;
        if self.checksum {
            set32(buf, at, 0);
            at += 4;
        }
        for word in [self.key, self.seq].into_iter().flatten() {
            set32(buf, at, word);
            at += 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_of_optional_words_round_trips() {
        for bits in 0..8u8 {
            let r = GreRepr {
                protocol: EtherType::TransparentEthernetBridging,
                checksum: bits & 1 != 0,
                key: (bits & 2 != 0).then_some(0x0000_0001),
                seq: (bits & 4 != 0).then_some(0xfeed_f00d),
            };
            let mut buf = vec![0; r.buffer_len() + 5];
            r.emit(&mut buf);
            let mut v = GreView::new_checked(&mut buf[..]).unwrap();
            v.fill_checksum();
            assert_eq!(v.payload().len(), 5);
            assert_eq!(GreRepr::parse(&v).unwrap(), r, "flags {bits:03b}");
        }
    }

    #[test]
    fn key_only_header_bytes() {
        let r = GreRepr {
            protocol: EtherType::TransparentEthernetBridging,
            checksum: false,
            key: Some(1),
            seq: None,
        };
        let mut buf = [0u8; 8];
        r.emit(&mut buf);
        assert_eq!(buf, [0x20, 0x00, 0x65, 0x58, 0, 0, 0, 1]);
        assert!(GreView::new_checked(&buf[..7]).is_err());
    }

    #[test]
    fn bad_checksum_and_version() {
        let r = GreRepr {
            protocol: EtherType::Ipv4,
            checksum: true,
            key: None,
            seq: None,
        };
        let mut buf = [0u8; 10];
        r.emit(&mut buf);
        GreView::new_checked(&mut buf[..]).unwrap().fill_checksum();
        buf[9] ^= 0x40;
        let v = GreView::new_checked(&buf[..]).unwrap();
        assert_eq!(
            GreRepr::parse(&v),
            Err(Error::BadChecksum { layer: Layer::Gre })
        );
        buf[1] = 1;
        let v = GreView::new_checked(&buf[..]).unwrap();
        assert!(matches!(
            GreRepr::parse(&v),
            Err(Error::BadVersion { value: 1, .. })
        ));
    }
}
