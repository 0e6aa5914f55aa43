//! TCP headers (RFC 9293): ports, sequence numbers, the 12 flag bits, options.
//!
//! [`TcpView::new_checked`] requires the 20-byte header and a data offset that is at least 5
//! words and fits in the buffer.

use std::net::Ipv4Addr;

use crate::bytes::{get16, get32, set16, set32};
use crate::checksum;
use crate::error::{Error, Layer, need};
use crate::ip::IpProtocol;

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const OFFSET_FLAGS: usize = 12;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
    pub(super) const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

/// The 12 flag bits of the offset/flags word (the low 12 bits: three reserved bits, then NS,
/// CWR, ECE, URG, ACK, PSH, RST, SYN, FIN), as OpenFlow's `tcp_flags` field holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN.
    pub const FIN: Self = Self(0x001);
    /// SYN.
    pub const SYN: Self = Self(0x002);
    /// RST.
    pub const RST: Self = Self(0x004);
    /// PSH.
    pub const PSH: Self = Self(0x008);
    /// ACK.
    pub const ACK: Self = Self(0x010);
    /// URG.
    pub const URG: Self = Self(0x020);
    /// ECE.
    pub const ECE: Self = Self(0x040);
    /// CWR.
    pub const CWR: Self = Self(0x080);
    /// NS.
    pub const NS: Self = Self(0x100);
    /// Every bit a flags field can hold.
    pub const MASK: u16 = 0x0fff;

    /// Both sets of flags.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A view of a TCP segment.
#[derive(Clone, Copy, Debug)]
pub struct TcpView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpView<T> {
    /// Wraps `buffer` after checking the header and its data offset (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        need(Layer::Tcp, MIN_HEADER_LEN, b.len())?;
        let hl = usize::from(b[field::OFFSET_FLAGS] >> 4) * 4;
        if hl < MIN_HEADER_LEN {
            return Err(Error::BadLength {
                layer: Layer::Tcp,
                value: hl,
            });
        }
        need(Layer::Tcp, hl, b.len())?;
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get16(self.b(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get16(self.b(), field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        get32(self.b(), field::SEQ)
    }

    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        get32(self.b(), field::ACK)
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::OFFSET_FLAGS] >> 4) * 4
    }

    /// The flag bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(get16(self.b(), field::OFFSET_FLAGS) & TcpFlags::MASK)
    }

    /// Receive window.
    pub fn window(&self) -> u16 {
        get16(self.b(), field::WINDOW)
    }

    /// Checksum as found.
    pub fn checksum(&self) -> u16 {
        get16(self.b(), field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        get16(self.b(), field::URGENT)
    }

    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..self.header_len()]
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }

    /// True when the checksum verifies for an IPv4 packet from `src` to `dst`.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.b();
        checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp.into(), b.len() as u16)
            .add_bytes(b)
            .fold()
            == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpView<T> {
    /// Computes the checksum over the whole buffer (header and data) for IPv4 `src` → `dst`.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        set16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let b = self.b();
        let c = checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp.into(), b.len() as u16)
            .add_bytes(b)
            .checksum();
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }
}

/// A TCP header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Option bytes; a multiple of 4, at most 40.
    pub options: Vec<u8>,
}

impl TcpRepr {
    /// Reads a checked view (the checksum is left to the caller, who knows the addresses).
    pub fn parse<T: AsRef<[u8]>>(view: &TcpView<T>) -> Self {
        Self {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            seq: view.seq(),
            ack: view.ack(),
            flags: view.flags(),
            window: view.window(),
            urgent: view.urgent(),
            options: view.options().to_vec(),
        }
    }

    /// Header bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Writes the header with a zero checksum; fill it with
    /// [`TcpView::fill_checksum_v4`] once the data follows.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(self.options.len().is_multiple_of(4) && self.options.len() <= 40);
        let hl = self.buffer_len();
        set16(buf, field::SRC_PORT, self.src_port);
        set16(buf, field::DST_PORT, self.dst_port);
        set32(buf, field::SEQ, self.seq);
        set32(buf, field::ACK, self.ack);
        let word = ((hl as u16 / 4) << 12) | (self.flags.0 & TcpFlags::MASK);
        set16(buf, field::OFFSET_FLAGS, word);
        set16(buf, field::WINDOW, self.window);
        set16(buf, field::CHECKSUM, 0);
        set16(buf, field::URGENT, self.urgent);
        buf[field::OPTIONS..hl].copy_from_slice(&self.options);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let r = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 1,
            flags: TcpFlags::SYN.union(TcpFlags::ACK).union(TcpFlags::NS),
            window: 65535,
            urgent: 0,
            options: vec![2, 4, 5, 0xb4],
        };
        let mut buf = vec![0; r.buffer_len() + 3];
        r.emit(&mut buf);
        buf[24..].copy_from_slice(b"hi!");
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut v = TcpView::new_checked(&mut buf[..]).unwrap();
        v.fill_checksum_v4(s, d);
        assert!(v.verify_checksum_v4(s, d));
        assert_eq!(v.payload(), b"hi!");
        assert_eq!(TcpRepr::parse(&v), r);
        assert!(v.flags().contains(TcpFlags::SYN));
    }

    #[test]
    fn data_offset_checks() {
        let mut buf = [0u8; 20];
        buf[12] = 0x40;
        assert!(matches!(
            TcpView::new_checked(&buf[..]),
            Err(Error::BadLength { value: 16, .. })
        ));
        buf[12] = 0x60;
        assert!(matches!(
            TcpView::new_checked(&buf[..]),
            Err(Error::Truncated { need: 24, .. })
        ));
    }
}
