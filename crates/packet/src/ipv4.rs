//! IPv4 headers (RFC 791): options, fragments and the header checksum.
//!
//! [`Ipv4View::new_checked`] accepts a buffer when the header length (IHL) is at least 20,
//! the header fits, and the total length covers the header and fits in the buffer. Bytes past
//! the total length (Ethernet padding) are not part of [`Ipv4View::payload`]. The version
//! field is not checked by the view (a flow extractor looks at the EtherType, not the version
//! nibble); [`Ipv4Repr::parse`] checks it.

use std::net::Ipv4Addr;

use crate::bytes::{get16, get32, set16, set32};
use crate::checksum;
use crate::error::{Error, Layer, need};
use crate::ip::IpProtocol;

mod field {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
    pub(super) const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;
/// Longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4View<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4View<T> {
    /// Wraps `buffer` after checking the header and total lengths (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        need(Layer::Ipv4, MIN_HEADER_LEN, b.len())?;
        let header_len = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(Error::BadLength {
                layer: Layer::Ipv4,
                value: header_len,
            });
        }
        need(Layer::Ipv4, header_len, b.len())?;
        let total = usize::from(get16(b, field::LENGTH));
        if total < header_len {
            return Err(Error::BadLength {
                layer: Layer::Ipv4,
                value: total,
            });
        }
        need(Layer::Ipv4, total, b.len())?;
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version nibble (4 for a real IPv4 header).
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (20..=60).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }

    /// The TOS byte (DSCP in the high six bits, ECN in the low two).
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }

    /// Total length, header included.
    pub fn total_len(&self) -> usize {
        usize::from(get16(self.b(), field::LENGTH))
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        get16(self.b(), field::IDENT)
    }

    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        get16(self.b(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        get16(self.b(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        get16(self.b(), field::FLAGS_FRAG) & OFFSET_MASK
    }

    /// True for any fragment: more fragments follow or the offset is not zero.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.b()[field::PROTOCOL])
    }

    /// Header checksum as found.
    pub fn checksum(&self) -> u16 {
        get16(self.b(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(get32(self.b(), field::SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(get32(self.b(), field::DST))
    }

    /// The options bytes (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..self.header_len()]
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(&self.b()[..self.header_len()])
    }

    /// The payload: from the end of the header to the total length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4View<T> {
    /// Sets the TOS byte, updating the checksum incrementally.
    pub fn set_tos(&mut self, tos: u8) {
        let old = get16(self.b(), 0);
        self.buffer.as_mut()[field::TOS] = tos;
        let new = get16(self.b(), 0);
        self.update_checksum16(old, new);
    }

    /// Sets the TTL, updating the checksum incrementally.
    pub fn set_ttl(&mut self, ttl: u8) {
        let old = get16(self.b(), field::TTL);
        self.buffer.as_mut()[field::TTL] = ttl;
        let new = get16(self.b(), field::TTL);
        self.update_checksum16(old, new);
    }

    /// Sets the source address, updating the checksum incrementally.
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        let old = get32(self.b(), field::SRC);
        set32(self.buffer.as_mut(), field::SRC, addr.to_bits());
        let c = checksum::update32(self.checksum(), old, addr.to_bits());
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// Sets the destination address, updating the checksum incrementally.
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        let old = get32(self.b(), field::DST);
        set32(self.buffer.as_mut(), field::DST, addr.to_bits());
        let c = checksum::update32(self.checksum(), old, addr.to_bits());
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        set16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let c = checksum::checksum(&self.b()[..self.header_len()]);
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..self.total_len();
        &mut self.buffer.as_mut()[range]
    }

    fn update_checksum16(&mut self, old: u16, new: u16) {
        let c = checksum::update16(self.checksum(), old, new);
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }
}

/// An IPv4 header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// TOS byte.
    pub tos: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub frag_offset: u16,
    /// Option bytes; a multiple of 4, at most 40.
    pub options: Vec<u8>,
    /// Payload length in bytes (the total length minus the header).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads a checked view; a version other than 4 or a bad checksum is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &Ipv4View<T>) -> Result<Self, Error> {
        if view.version() != 4 {
            return Err(Error::BadVersion {
                layer: Layer::Ipv4,
                value: view.version(),
            });
        }
        if !view.verify_checksum() {
            return Err(Error::BadChecksum { layer: Layer::Ipv4 });
        }
        Ok(Self {
            src: view.src(),
            dst: view.dst(),
            protocol: view.protocol(),
            tos: view.tos(),
            ttl: view.ttl(),
            ident: view.ident(),
            dont_frag: view.dont_frag(),
            more_frags: view.more_frags(),
            frag_offset: view.frag_offset(),
            options: view.options().to_vec(),
            payload_len: view.total_len() - view.header_len(),
        })
    }

    /// Header bytes [`emit`](Self::emit) writes (20 plus the options).
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Writes the header, checksum included, into the first
    /// [`buffer_len`](Self::buffer_len) bytes of `buf`. Options whose length is not a
    /// multiple of 4 or over 40 bytes are a programming error (debug assertion).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(self.options.len().is_multiple_of(4) && self.options.len() <= 40);
        let hl = self.buffer_len();
        buf[field::VER_IHL] = 0x40 | (hl / 4) as u8;
        buf[field::TOS] = self.tos;
        set16(buf, field::LENGTH, (hl + self.payload_len) as u16);
        set16(buf, field::IDENT, self.ident);
        let flags = if self.dont_frag { FLAG_DF } else { 0 }
            | if self.more_frags { FLAG_MF } else { 0 }
            | (self.frag_offset & OFFSET_MASK);
        set16(buf, field::FLAGS_FRAG, flags);
        buf[field::TTL] = self.ttl;
        buf[field::PROTOCOL] = self.protocol.into();
        set16(buf, field::CHECKSUM, 0);
        set32(buf, field::SRC, self.src.to_bits());
        set32(buf, field::DST, self.dst.to_bits());
        buf[field::OPTIONS..hl].copy_from_slice(&self.options);
        let c = checksum::checksum(&buf[..hl]);
        set16(buf, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Udp,
            tos: 0,
            ttl: 64,
            ident: 0x1c46,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: vec![],
            payload_len: 0x73 - 20,
        }
    }

    #[test]
    fn checksum_matches_the_well_known_worked_example() {
        // The header commonly used to explain the IPv4 checksum: 45 00 00 73 00 00 40 00
        // 40 11 .. .. c0 a8 00 01 c0 a8 00 c7, whose checksum is b861.
        let mut r = sample();
        r.ident = 0;
        let mut buf = vec![0u8; 0x73];
        r.emit(&mut buf);
        assert_eq!(&buf[10..12], &[0xb8, 0x61]);
        let v = Ipv4View::new_checked(&buf[..]).unwrap();
        assert!(v.verify_checksum());
    }

    #[test]
    fn round_trip_with_options_and_fragment_bits() {
        let mut r = sample();
        r.options = vec![0x94, 0x04, 0, 0]; // router alert
        r.dont_frag = false;
        r.more_frags = true;
        r.frag_offset = 185;
        r.payload_len = 8;
        let mut buf = vec![0u8; r.buffer_len() + r.payload_len];
        r.emit(&mut buf);
        let v = Ipv4View::new_checked(&buf[..]).unwrap();
        assert_eq!(v.header_len(), 24);
        assert!(v.is_fragment());
        assert_eq!(Ipv4Repr::parse(&v).unwrap(), r);
    }

    #[test]
    fn rewrites_keep_the_checksum_valid() {
        let r = sample();
        let mut buf = vec![0u8; 0x73];
        r.emit(&mut buf);
        let mut v = Ipv4View::new_checked(&mut buf[..]).unwrap();
        v.set_ttl(3);
        v.set_tos(0xb8);
        v.set_src(Ipv4Addr::new(10, 1, 2, 3));
        v.set_dst(Ipv4Addr::new(172, 16, 9, 9));
        assert!(v.verify_checksum());
        let incremental = v.checksum();
        v.fill_checksum();
        assert_eq!(v.checksum(), incremental);
    }

    #[test]
    fn length_checks() {
        let r = sample();
        let mut buf = vec![0u8; 0x73];
        r.emit(&mut buf);
        assert!(matches!(
            Ipv4View::new_checked(&buf[..0x72]),
            Err(Error::Truncated { need: 0x73, .. })
        ));
        buf[0] = 0x44;
        assert!(matches!(
            Ipv4View::new_checked(&buf[..]),
            Err(Error::BadLength { value: 16, .. })
        ));
        buf[0] = 0x65;
        let v = Ipv4View::new_checked(&buf[..]).unwrap();
        assert!(matches!(
            Ipv4Repr::parse(&v),
            Err(Error::BadVersion { value: 6, .. })
        ));
    }
}
