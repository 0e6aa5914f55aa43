//! UDP headers (RFC 768).
//!
//! [`UdpView::new_checked`] requires the 8-byte header only; the length field is checked by
//! [`UdpRepr::parse`] (a switch reads the ports of a datagram whose length field lies), and
//! [`UdpView::payload`] stops at the length field when it is sane.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::bytes::{get16, set16};
use crate::checksum;
use crate::error::{Error, Layer, need};
use crate::ip::IpProtocol;

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
    pub(super) const PAYLOAD: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug)]
pub struct UdpView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpView<T> {
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Udp, HEADER_LEN, buffer.as_ref().len())?;
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

    /// The length field (header included).
    pub fn len_field(&self) -> usize {
        usize::from(get16(self.buffer.as_ref(), field::LENGTH))
    }

    /// Checksum as found (0: none, over IPv4).
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload: up to the length field, or to the end of the buffer when the length
    /// field is out of range.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = match self.len_field() {
            n if (HEADER_LEN..=b.len()).contains(&n) => n,
            _ => b.len(),
        };
        &b[HEADER_LEN..end]
    }

    /// True when the checksum is absent (zero) or verifies for IPv4 `src` → `dst`.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        self.checksum() == 0
            || checksum::pseudo_header_v4(src, dst, IpProtocol::Udp.into(), b.len() as u16)
                .add_bytes(b)
                .fold()
                == 0xffff
    }

    /// True when the checksum is absent (zero) or verifies for IPv6 `src` → `dst`. A zero
    /// checksum is accepted over IPv6 too, as tunnel endpoints do (RFC 6935): the sender
    /// chose not to compute one (`csum=false`).
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        self.checksum() == 0
            || checksum::pseudo_header_v6(src, dst, IpProtocol::Udp.into(), b.len() as u32)
                .add_bytes(b)
                .fold()
                == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpView<T> {
    /// Computes the checksum over the whole buffer for IPv4 `src` → `dst` (a computed zero is
    /// sent as `0xffff`, since zero means "no checksum").
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.buffer.as_ref().len() as u16;
        self.fill_checksum(checksum::pseudo_header_v4(
            src,
            dst,
            IpProtocol::Udp.into(),
            len,
        ));
    }

    /// [`fill_checksum_v4`](Self::fill_checksum_v4) for IPv6 `src` → `dst`.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let len = self.buffer.as_ref().len() as u32;
        self.fill_checksum(checksum::pseudo_header_v6(
            src,
            dst,
            IpProtocol::Udp.into(),
            len,
        ));
    }

    /// Computes the checksum over the whole buffer after `pseudo`, the pseudo-header's sum.
    fn fill_checksum(&mut self, pseudo: checksum::Sum) {
        set16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let c = pseudo.add_bytes(self.buffer.as_ref()).checksum();
        set16(
            self.buffer.as_mut(),
            field::CHECKSUM,
            if c == 0 { 0xffff } else { c },
        );
    }
}

/// A UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked view; a length field shorter than the header or longer than the
    /// buffer is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &UdpView<T>) -> Result<Self, Error> {
        let len = view.len_field();
        if len < HEADER_LEN {
            return Err(Error::BadLength {
                layer: Layer::Udp,
                value: len,
            });
        }
        need(Layer::Udp, len, view.buffer.as_ref().len())?;
        Ok(Self {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            payload_len: len - HEADER_LEN,
        })
    }

    /// Header bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with a zero (absent) checksum.
    pub fn emit(&self, buf: &mut [u8]) {
        set16(buf, field::SRC_PORT, self.src_port);
        set16(buf, field::DST_PORT, self.dst_port);
        set16(buf, field::LENGTH, (HEADER_LEN + self.payload_len) as u16);
        set16(buf, field::CHECKSUM, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let r = UdpRepr {
            src_port: 53,
            dst_port: 4789,
            payload_len: 2,
        };
        let mut buf = vec![0; 10];
        r.emit(&mut buf);
        buf[8..].copy_from_slice(&[0xab, 0xcd]);
        let (s, d) = (Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8));
        let mut v = UdpView::new_checked(&mut buf[..]).unwrap();
        assert!(v.verify_checksum_v4(s, d));
        v.fill_checksum_v4(s, d);
        assert_ne!(v.checksum(), 0);
        assert!(v.verify_checksum_v4(s, d));
        assert_eq!(UdpRepr::parse(&v).unwrap(), r);
        assert_eq!(v.payload(), &[0xab, 0xcd]);
    }

    #[test]
    fn lying_length_field() {
        let mut buf = [0u8; 12];
        buf[5] = 200;
        let v = UdpView::new_checked(&buf[..]).unwrap();
        assert_eq!(v.payload().len(), 4);
        assert!(UdpRepr::parse(&v).is_err());
        buf[5] = 3;
        assert!(UdpRepr::parse(&UdpView::new_checked(&buf[..]).unwrap()).is_err());
    }
}
