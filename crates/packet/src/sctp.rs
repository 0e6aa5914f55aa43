//! The SCTP common header (RFC 9260): the ports a switch matches on and the verification tag.
//! Chunks and the CRC32c checksum are not interpreted.

use crate::bytes::{get16, get32, set16, set32};
use crate::error::{Error, Layer, need};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const VTAG: usize = 4;
    pub(super) const CHECKSUM: usize = 8;
    pub(super) const CHUNKS: usize = 12;
}

/// Length of the common header.
pub const HEADER_LEN: usize = field::CHUNKS;

/// A view of an SCTP packet's common header.
#[derive(Clone, Copy, Debug)]
pub struct SctpView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpView<T> {
    /// Wraps `buffer` after checking it holds the 12-byte common header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Sctp, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Verification tag.
    pub fn verification_tag(&self) -> u32 {
        get32(self.buffer.as_ref(), field::VTAG)
    }

    /// The CRC32c checksum as found (not verified here).
    pub fn checksum(&self) -> u32 {
        get32(self.buffer.as_ref(), field::CHECKSUM)
    }
}

/// An SCTP common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SctpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub verification_tag: u32,
}

impl SctpRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(view: &SctpView<T>) -> Self {
        Self {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            verification_tag: view.verification_tag(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the common header with a zero checksum.
    pub fn emit(&self, buf: &mut [u8]) {
        set16(buf, field::SRC_PORT, self.src_port);
        set16(buf, field::DST_PORT, self.dst_port);
        set32(buf, field::VTAG, self.verification_tag);
        set32(buf, field::CHECKSUM, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = SctpRepr {
            src_port: 5000,
            dst_port: 36412,
            verification_tag: 0x0102_0304,
        };
        let mut buf = [0u8; HEADER_LEN];
        r.emit(&mut buf);
        assert_eq!(&buf[..4], &[0x13, 0x88, 0x8e, 0x3c]);
        assert_eq!(
            SctpRepr::parse(&SctpView::new_checked(&buf[..]).unwrap()),
            r
        );
        assert!(SctpView::new_checked(&buf[..11]).is_err());
    }
}
