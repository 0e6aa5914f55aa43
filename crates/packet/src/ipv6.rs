//! IPv6 headers (RFC 8200) and the extension headers between them and the upper layer.
//!
//! [`Ipv6View::new_checked`] accepts a buffer holding the 40-byte header and the payload
//! length it announces; bytes after that (Ethernet padding) are not part of the payload.
//!
//! [`upper_layer`] walks hop-by-hop, routing, destination-options, authentication and
//! fragment headers to find the upper-layer protocol, as a switch must to match on ports. A
//! fragment header makes the packet a fragment; a fragment other than the first has no
//! upper-layer header to read, so the walk stops there.

use std::net::Ipv6Addr;

use crate::bytes::{array, get16, get32, set16, set32};
use crate::error::{Error, Layer, need};
use crate::ip::IpProtocol;

mod field {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const LENGTH: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
    pub(super) const PAYLOAD: usize = 40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of an IPv6 packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6View<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6View<T> {
    /// Wraps `buffer` after checking it holds the header and the announced payload.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        need(Layer::Ipv6, HEADER_LEN, b.len())?;
        let total = HEADER_LEN + usize::from(get16(b, field::LENGTH));
        need(Layer::Ipv6, total, b.len())?;
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version nibble (6 for a real IPv6 header).
    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }

    /// Traffic class (DSCP and ECN, like IPv4's TOS byte).
    pub fn traffic_class(&self) -> u8 {
        (get32(self.b(), field::VER_TC_FLOW) >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        get32(self.b(), field::VER_TC_FLOW) & 0xf_ffff
    }

    /// Payload length (extension headers included).
    pub fn payload_len(&self) -> usize {
        usize::from(get16(self.b(), field::LENGTH))
    }

    /// The header after this one.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.b()[field::NEXT_HEADER])
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.b(), field::SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.b(), field::DST))
    }

    /// The payload (extension headers included), padding excluded.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }
}

/// An IPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The header after this one.
    pub next_header: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads a checked view; a version other than 6 is an error.
    pub fn parse<T: AsRef<[u8]>>(view: &Ipv6View<T>) -> Result<Self, Error> {
        if view.version() != 6 {
            return Err(Error::BadVersion {
                layer: Layer::Ipv6,
                value: view.version(),
            });
        }
        Ok(Self {
            src: view.src(),
            dst: view.dst(),
            next_header: view.next_header(),
            payload_len: view.payload_len(),
            hop_limit: view.hop_limit(),
            traffic_class: view.traffic_class(),
            flow_label: view.flow_label(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 40 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let first =
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        set32(buf, field::VER_TC_FLOW, first);
        set16(buf, field::LENGTH, self.payload_len as u16);
        buf[field::NEXT_HEADER] = self.next_header.into();
        buf[field::HOP_LIMIT] = self.hop_limit;
        buf[field::SRC..field::SRC + 16].copy_from_slice(&self.src.octets());
        buf[field::DST..field::DST + 16].copy_from_slice(&self.dst.octets());
    }
}

/// A fragment header (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentRepr {
    /// The header after this one.
    pub next_header: IpProtocol,
    /// Offset in 8-byte units (13 bits).
    pub offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

/// Length of a fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

impl FragmentRepr {
    /// Reads a fragment header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(Layer::Ipv6Extension, FRAGMENT_HEADER_LEN, buf.len())?;
        let off = get16(buf, 2);
        Ok(Self {
            next_header: IpProtocol::from(buf[0]),
            offset: off >> 3,
            more_frags: off & 1 != 0,
            ident: get32(buf, 4),
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Writes the header into the first 8 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.next_header.into();
        buf[1] = 0;
        set16(buf, 2, (self.offset << 3) | u16::from(self.more_frags));
        set32(buf, 4, self.ident);
    }
}

/// Where the upper layer of an IPv6 packet is, per [`upper_layer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    /// The protocol after the last extension header walked.
    pub protocol: IpProtocol,
    /// Offset of that protocol's header in the IPv6 payload.
    pub offset: usize,
    /// The fragment header, if there was one.
    pub fragment: Option<FragmentRepr>,
}

impl UpperLayer {
    /// True when a fragment header with a non-zero offset was found: the upper-layer header
    /// is in another packet.
    pub fn is_later_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.offset != 0)
    }
}

/// Walks the extension headers at the start of `payload`, starting with protocol `next`.
///
/// Stops at the first protocol that is not hop-by-hop, routing, destination options,
/// authentication or fragment — or right after a fragment header with a non-zero offset.
/// An extension header that does not fit in `payload` is [`Error::Truncated`].
pub fn upper_layer(mut next: IpProtocol, payload: &[u8]) -> Result<UpperLayer, Error> {
    let mut offset = 0;
    let mut fragment = None;
    loop {
        let rest = payload.get(offset..).unwrap_or_default();
        if is_extension(next) {
            // Every extension header is at least 8 bytes long.
            need(Layer::Ipv6Extension, MIN_EXTENSION_LEN, rest.len())?;
        }
        let len = match next {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                (usize::from(rest[1]) + 1) * 8
            }
            // RFC 4302: the AH length counts 4-byte units, minus 2.
            IpProtocol::Ah => (usize::from(rest[1]) + 2) * 4,
            IpProtocol::Ipv6Frag => {
                let f = FragmentRepr::parse(rest)?;
                fragment = Some(f);
                next = f.next_header;
                offset += FRAGMENT_HEADER_LEN;
                if f.offset != 0 {
                    break;
                }
                continue;
            }
            _ => break,
        };
        need(Layer::Ipv6Extension, len, rest.len())?;
        next = IpProtocol::from(rest[0]);
        offset += len;
    }
    Ok(UpperLayer {
        protocol: next,
        offset,
        fragment,
    })
}

/// The shortest extension header.
const MIN_EXTENSION_LEN: usize = 8;

/// True for the extension headers [`upper_layer`] walks over.
pub fn is_extension(protocol: IpProtocol) -> bool {
    matches!(
        protocol,
        IpProtocol::HopByHop
            | IpProtocol::Ipv6Route
            | IpProtocol::Ipv6Opts
            | IpProtocol::Ah
            | IpProtocol::Ipv6Frag
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv6Repr {
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "fe80::2".parse().unwrap(),
            next_header: IpProtocol::Tcp,
            payload_len: 0,
            hop_limit: 255,
            traffic_class: 0xb9,
            flow_label: 0xabcde,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let mut buf = [0u8; HEADER_LEN];
        r.emit(&mut buf);
        assert_eq!(&buf[..4], &[0x6b, 0x9a, 0xbc, 0xde]);
        let v = Ipv6View::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&v).unwrap(), r);
        assert!(Ipv6View::new_checked(&buf[..39]).is_err());
    }

    #[test]
    fn walks_extension_headers_to_the_upper_layer() {
        // hop-by-hop (8 bytes) -> fragment (first) -> UDP.
        let mut p = vec![44, 0, 1, 4, 0, 0, 0, 0];
        let mut frag = [0u8; 8];
        FragmentRepr {
            next_header: IpProtocol::Udp,
            offset: 0,
            more_frags: true,
            ident: 7,
        }
        .emit(&mut frag);
        p.extend_from_slice(&frag);
        let u = upper_layer(IpProtocol::HopByHop, &p).unwrap();
        assert_eq!(u.protocol, IpProtocol::Udp);
        assert_eq!(u.offset, 16);
        assert!(!u.is_later_fragment());
        assert_eq!(FragmentRepr::parse(&frag).unwrap().ident, 7);

        // A later fragment stops the walk at the fragment header.
        FragmentRepr {
            next_header: IpProtocol::Ipv6Opts,
            offset: 100,
            more_frags: false,
            ident: 7,
        }
        .emit(&mut p[8..]);
        let u = upper_layer(IpProtocol::HopByHop, &p).unwrap();
        assert!(u.is_later_fragment());
        assert_eq!(u.protocol, IpProtocol::Ipv6Opts);

        // A header that does not fit is an error.
        assert!(upper_layer(IpProtocol::HopByHop, &p[..7]).is_err());
    }
}
