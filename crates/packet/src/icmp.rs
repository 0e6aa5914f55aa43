//! ICMPv4 messages (RFC 792): type, code, checksum, the four "rest of header" bytes, data.

use crate::bytes::{get16, get32, set16, set32};
use crate::checksum;
use crate::error::{Error, Layer, need};

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const DATA: usize = 8;
}

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = field::DATA;

/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// Echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;

/// A view of an ICMPv4 message.
#[derive(Clone, Copy, Debug)]
pub struct IcmpView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpView<T> {
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Icmpv4, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as found.
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The four bytes after the checksum (identifier and sequence for echo).
    pub fn rest_of_header(&self) -> u32 {
        get32(self.buffer.as_ref(), field::REST)
    }

    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.buffer.as_ref())
    }

    /// The data after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

/// An ICMPv4 message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IcmpRepr {
    /// Message type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The four bytes after the checksum.
    pub rest_of_header: u32,
    /// The data.
    pub data: Vec<u8>,
}

impl IcmpRepr {
    /// Reads a checked view; a checksum that does not verify is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &IcmpView<T>) -> Result<Self, Error> {
        if !view.verify_checksum() {
            return Err(Error::BadChecksum {
                layer: Layer::Icmpv4,
            });
        }
        Ok(Self {
            msg_type: view.msg_type(),
            code: view.code(),
            rest_of_header: view.rest_of_header(),
            data: view.data().to_vec(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Writes the message, checksum included.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        buf[field::TYPE] = self.msg_type;
        buf[field::CODE] = self.code;
        set16(buf, field::CHECKSUM, 0);
        set32(buf, field::REST, self.rest_of_header);
        buf[field::DATA..len].copy_from_slice(&self.data);
        let c = checksum::checksum(&buf[..len]);
        set16(buf, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let r = IcmpRepr {
            msg_type: TYPE_ECHO_REQUEST,
            code: 0,
            rest_of_header: 0x1234_0001,
            data: b"abcdefgh".to_vec(),
        };
        let mut buf = vec![0; r.buffer_len()];
        r.emit(&mut buf);
        let v = IcmpView::new_checked(&buf[..]).unwrap();
        assert!(v.verify_checksum());
        assert_eq!(IcmpRepr::parse(&v).unwrap(), r);
        buf[9] ^= 1;
        let v = IcmpView::new_checked(&buf[..]).unwrap();
        assert!(IcmpRepr::parse(&v).is_err());
        assert!(IcmpView::new_checked(&buf[..7]).is_err());
    }
}
