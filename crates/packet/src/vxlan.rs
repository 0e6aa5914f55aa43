//! VXLAN (RFC 7348): an 8-byte header after UDP (port 4789) carrying a 24-bit network
//! identifier, followed by an Ethernet frame.

use crate::bytes::{get32, set32};
use crate::error::{Error, Layer, need};

/// The IANA UDP port for VXLAN.
pub const UDP_PORT: u16 = 4789;
/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;

const FLAG_VNI_VALID: u32 = 0x0800_0000;

/// A 24-bit virtual network identifier (VXLAN VNI, Geneve VNI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

impl Vni {
    /// The largest identifier.
    pub const MAX: u32 = 0xff_ffff;

    /// `value` as a VNI, or `None` if it does not fit in 24 bits.
    pub const fn new(value: u32) -> Option<Self> {
        if value <= Self::MAX {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The low 24 bits of `value`, as a tunnel key is mapped onto a VNI.
    pub const fn truncating(value: u64) -> Self {
        Self(value as u32 & Self::MAX)
    }

    /// The identifier.
    pub const fn get(self) -> u32 {
        self.0
    }
}

mod field {
    pub(super) const FLAGS: usize = 0;
    pub(super) const VNI: usize = 4;
}

/// A view of a VXLAN header and the frame it carries.
#[derive(Clone, Copy, Debug)]
pub struct VxlanView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanView<T> {
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Vxlan, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    /// True when the I flag says the VNI is valid.
    pub fn vni_valid(&self) -> bool {
        get32(self.buffer.as_ref(), field::FLAGS) & FLAG_VNI_VALID != 0
    }

    /// The network identifier.
    pub fn vni(&self) -> Vni {
        Vni(get32(self.buffer.as_ref(), field::VNI) >> 8)
    }

    /// The frame after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

/// A VXLAN header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// The network identifier.
    pub vni: Vni,
}

impl VxlanRepr {
    /// Reads a checked view; a header without the I flag is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &VxlanView<T>) -> Result<Self, Error> {
        if !view.vni_valid() {
            return Err(Error::Unsupported {
                layer: Layer::Vxlan,
                what: "flags",
                value: get32(view.buffer.as_ref(), field::FLAGS) >> 24,
            });
        }
        Ok(Self { vni: view.vni() })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 8 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        set32(buf, field::FLAGS, FLAG_VNI_VALID);
        set32(buf, field::VNI, self.vni.0 << 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = VxlanRepr {
            vni: Vni::new(0x12_3456).unwrap(),
        };
        let mut buf = [0u8; 8];
        r.emit(&mut buf);
        assert_eq!(buf, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        let v = VxlanView::new_checked(&buf[..]).unwrap();
        assert_eq!(VxlanRepr::parse(&v).unwrap(), r);
        buf[0] = 0;
        assert!(VxlanRepr::parse(&VxlanView::new_checked(&buf[..]).unwrap()).is_err());
        assert!(Vni::new(0x100_0000).is_none());
        assert_eq!(Vni::truncating(0x1_0000_0005).get(), 5);
    }
}
