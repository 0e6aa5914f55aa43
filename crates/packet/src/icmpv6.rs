//! ICMPv6 messages (RFC 4443). The checksum covers an IPv6 pseudo-header, so emitting and
//! verifying take the addresses. Neighbor discovery bodies are in [`crate::nd`].

use std::net::Ipv6Addr;

use crate::bytes::{get16, get32, set16, set32};
use crate::checksum;
use crate::error::{Error, Layer, need};
use crate::ip::IpProtocol;

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const DATA: usize = 8;
}

/// Length of the header a switch reads (type, code, checksum, four message bytes).
pub const HEADER_LEN: usize = field::DATA;

/// Echo request.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Neighbor solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbor advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;

/// A view of an ICMPv6 message.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv6View<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6View<T> {
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Icmpv6, HEADER_LEN, buffer.as_ref().len())?;
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

    /// The four message bytes after the checksum (flags for a neighbor advertisement).
    pub fn rest_of_header(&self) -> u32 {
        get32(self.buffer.as_ref(), field::REST)
    }

    /// The body after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True when the checksum verifies for a packet from `src` to `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6.into(), b.len() as u32)
            .add_bytes(b)
            .fold()
            == 0xffff
    }
}

/// An ICMPv6 message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Icmpv6Repr {
    /// Message type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The four message bytes after the checksum.
    pub rest_of_header: u32,
    /// The body.
    pub data: Vec<u8>,
}

impl Icmpv6Repr {
    /// Reads a checked view, verifying the checksum for `src` → `dst`.
    pub fn parse<T: AsRef<[u8]>>(
        view: &Icmpv6View<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Self, Error> {
        if !view.verify_checksum(src, dst) {
            return Err(Error::BadChecksum {
                layer: Layer::Icmpv6,
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

    /// Writes the message with its checksum for `src` → `dst`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        let len = self.buffer_len();
        buf[field::TYPE] = self.msg_type;
        buf[field::CODE] = self.code;
        set16(buf, field::CHECKSUM, 0);
        set32(buf, field::REST, self.rest_of_header);
        buf[field::DATA..len].copy_from_slice(&self.data);
        let c = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6.into(), len as u32)
            .add_bytes(&buf[..len])
            .checksum();
        set16(buf, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_pseudo_header_checksum() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1".parse().unwrap();
        let r = Icmpv6Repr {
            msg_type: TYPE_ECHO_REQUEST,
            code: 0,
            rest_of_header: 0x0001_0002,
            data: vec![1, 2, 3],
        };
        let mut buf = vec![0; r.buffer_len()];
        r.emit(&mut buf, src, dst);
        let v = Icmpv6View::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&v, src, dst).unwrap(), r);
        // The same bytes do not verify for other addresses.
        assert!(!v.verify_checksum(dst, src.to_bits().wrapping_add(1).into()));
    }
}
