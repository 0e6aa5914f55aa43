//! Geneve (RFC 8926): an 8-byte base header after UDP (port 6081) with a 24-bit VNI, the O
//! (control/OAM) and C (critical options) flags, a protocol type, and variable-length options
//! that this crate keeps as opaque bytes.

use crate::bytes::{get16, get32, set16, set32};
use crate::error::{Error, Layer, need};
use crate::ethernet::EtherType;
use crate::vxlan::Vni;

/// The IANA UDP port for Geneve.
pub const UDP_PORT: u16 = 6081;
/// Length of the base header.
pub const MIN_HEADER_LEN: usize = 8;
/// Longest option area (a 6-bit count of 4-byte words).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;

mod field {
    pub(super) const VER_OPTLEN: usize = 0;
    pub(super) const FLAGS: usize = 1;
    pub(super) const PROTOCOL: usize = 2;
    pub(super) const VNI: usize = 4;
    pub(super) const OPTIONS: usize = 8;
}

const FLAG_OAM: u8 = 0x80;
const FLAG_CRITICAL: u8 = 0x40;

/// A view of a Geneve header and what it carries.
#[derive(Clone, Copy, Debug)]
pub struct GeneveView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveView<T> {
    /// Wraps `buffer` after checking it holds the base header and the options it announces.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Geneve, MIN_HEADER_LEN, buffer.as_ref().len())?;
        let v = Self { buffer };
        need(Layer::Geneve, v.header_len(), v.buffer.as_ref().len())?;
        Ok(v)
    }

    /// Version (0).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Header length, options included.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }

    /// The O flag: a control packet.
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_OAM != 0
    }

    /// The C flag: critical options are present.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_CRITICAL != 0
    }

    /// Protocol type of the payload.
    pub fn protocol(&self) -> EtherType {
        EtherType::from(get16(self.buffer.as_ref(), field::PROTOCOL))
    }

    /// The network identifier.
    pub fn vni(&self) -> Vni {
        Vni::truncating(u64::from(get32(self.buffer.as_ref(), field::VNI) >> 8))
    }

    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload after the options.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// A Geneve header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GeneveRepr {
    /// The O flag.
    pub oam: bool,
    /// The C flag.
    pub critical: bool,
    /// Protocol type of the payload.
    pub protocol: EtherType,
    /// The network identifier.
    pub vni: Vni,
    /// Option bytes: a multiple of 4, at most [`MAX_OPTIONS_LEN`].
    pub options: Vec<u8>,
}

impl GeneveRepr {
    /// Reads a checked view; a version other than 0 is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &GeneveView<T>) -> Result<Self, Error> {
        if view.version() != 0 {
            return Err(Error::BadVersion {
                layer: Layer::Geneve,
                value: view.version(),
            });
        }
        Ok(Self {
            oam: view.oam(),
            critical: view.critical(),
            protocol: view.protocol(),
            vni: view.vni(),
            options: view.options().to_vec(),
        })
    }

    /// Header bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Writes the header and options.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(
            self.options.len().is_multiple_of(4) && self.options.len() <= MAX_OPTIONS_LEN
        );
        buf[field::VER_OPTLEN] = (self.options.len() / 4) as u8 & 0x3f;
        buf[field::FLAGS] =
            if self.oam { FLAG_OAM } else { 0 } | if self.critical { FLAG_CRITICAL } else { 0 };
        set16(buf, field::PROTOCOL, self.protocol.into());
        set32(buf, field::VNI, self.vni.get() << 8);
        buf[field::OPTIONS..self.buffer_len()].copy_from_slice(&self.options);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_options() {
        let r = GeneveRepr {
            oam: true,
            critical: false,
            protocol: EtherType::TransparentEthernetBridging,
            vni: Vni::new(7).unwrap(),
            // One option: class 0x0102, type 0x80, length 1 word, 4 data bytes.
            options: vec![0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef],
        };
        let mut buf = vec![0; r.buffer_len() + 1];
        r.emit(&mut buf);
        assert_eq!(&buf[..8], &[0x02, 0x80, 0x65, 0x58, 0, 0, 7, 0]);
        let v = GeneveView::new_checked(&buf[..]).unwrap();
        assert_eq!(v.payload().len(), 1);
        assert_eq!(GeneveRepr::parse(&v).unwrap(), r);
        assert!(GeneveView::new_checked(&buf[..15]).is_err());
    }
}
