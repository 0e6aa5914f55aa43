//! IPv6 neighbor discovery (RFC 4861): solicitation and advertisement bodies with their
//! source/target link-layer address options.
//!
//! The body after the ICMPv6 header is a 16-byte target address and then options, each a
//! type, a length in 8-byte units, and data. [`NdRepr::parse`] reads them the way Open
//! vSwitch does for `nd_sll`/`nd_tll` (checked against it by fvs-flow's oracle test): an
//! option of length zero or running past the end ends the options, keeping what was read
//! before it; a second non-zero link-layer address of the same kind makes the whole message
//! invalid ([`Error::Unsupported`]); options of other types and trailing bytes too short for
//! an option are skipped.

use std::net::Ipv6Addr;

use crate::bytes::array;
use crate::error::{Error, Layer, need};
use crate::ethernet::MacAddr;
use crate::icmpv6::{Icmpv6Repr, TYPE_NEIGHBOR_ADVERT, TYPE_NEIGHBOR_SOLICIT};

/// Option type: source link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
/// Option type: target link-layer address.
pub const OPT_TARGET_LL: u8 = 2;
/// Length of the target address that starts the body.
pub const TARGET_LEN: usize = 16;

/// Which neighbor discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdKind {
    /// Neighbor solicitation (type 135).
    Solicit,
    /// Neighbor advertisement (type 136).
    Advert,
}

impl NdKind {
    /// The kind of an ICMPv6 (type, code), if it is neighbor discovery.
    pub const fn from_icmpv6(msg_type: u8, code: u8) -> Option<Self> {
        match (msg_type, code) {
            (TYPE_NEIGHBOR_SOLICIT, 0) => Some(Self::Solicit),
            (TYPE_NEIGHBOR_ADVERT, 0) => Some(Self::Advert),
            _ => None,
        }
    }

    /// The ICMPv6 type.
    pub const fn icmpv6_type(self) -> u8 {
        match self {
            Self::Solicit => TYPE_NEIGHBOR_SOLICIT,
            Self::Advert => TYPE_NEIGHBOR_ADVERT,
        }
    }
}

/// A neighbor solicitation or advertisement body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NdRepr {
    /// The address asked or answered about.
    pub target: Ipv6Addr,
    /// The source link-layer address option.
    pub sll: Option<MacAddr>,
    /// The target link-layer address option.
    pub tll: Option<MacAddr>,
}

impl NdRepr {
    /// Reads the body after the ICMPv6 header (target address, then options).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need(Layer::NeighborDiscovery, TARGET_LEN, body.len())?;
        let mut out = Self {
            target: Ipv6Addr::from(array::<16>(body, 0)),
            sll: None,
            tll: None,
        };
        let mut rest = &body[TARGET_LEN..];
        while rest.len() >= 8 {
            let len = usize::from(rest[1]) * 8;
            if len == 0 || len > rest.len() {
                break;
            }
            // Only an 8-byte option carries exactly an Ethernet address.
            if len == 8 {
                let mac = MacAddr(array(rest, 2));
                let slot = match rest[0] {
                    OPT_SOURCE_LL => Some(&mut out.sll),
                    OPT_TARGET_LL => Some(&mut out.tll),
                    _ => None,
                };
                if let Some(slot) = slot {
                    // An earlier all-zero address counts as absent, so only a real second
                    // address is a conflict.
                    if slot.is_some_and(|m| !m.is_zero()) {
                        return Err(Error::Unsupported {
                            layer: Layer::NeighborDiscovery,
                            what: "repeated link-layer address option",
                            value: u32::from(rest[0]),
                        });
                    }
                    *slot = Some(mac);
                }
            }
            rest = &rest[len..];
        }
        Ok(out)
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        TARGET_LEN + 8 * (usize::from(self.sll.is_some()) + usize::from(self.tll.is_some()))
    }

    /// Writes target and options into the first [`buffer_len`](Self::buffer_len) bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[..TARGET_LEN].copy_from_slice(&self.target.octets());
        let mut at = TARGET_LEN;
        for (kind, mac) in [(OPT_SOURCE_LL, self.sll), (OPT_TARGET_LL, self.tll)] {
            if let Some(mac) = mac {
                buf[at] = kind;
                buf[at + 1] = 1;
                buf[at + 2..at + 8].copy_from_slice(&mac.0);
                at += 8;
            }
        }
    }

    /// The whole ICMPv6 message for `kind`, with `flags` in the four bytes after the checksum
    /// (router/solicited/override for an advertisement).
    pub fn to_icmpv6(&self, kind: NdKind, flags: u32) -> Icmpv6Repr {
        let mut data = vec![0; self.buffer_len()];
        self.emit(&mut data);
        Icmpv6Repr {
            msg_type: kind.icmpv6_type(),
            code: 0,
            rest_of_header: flags,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_both_options() {
        let r = NdRepr {
            target: "2001:db8::7".parse().unwrap(),
            sll: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            tll: Some(MacAddr([2, 0, 0, 0, 0, 2])),
        };
        let mut buf = vec![0; r.buffer_len()];
        r.emit(&mut buf);
        assert_eq!(buf.len(), 32);
        assert_eq!(NdRepr::parse(&buf).unwrap(), r);
    }

    #[test]
    fn invalid_options() {
        let r = NdRepr {
            target: Ipv6Addr::LOCALHOST,
            sll: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            tll: None,
        };
        let mut buf = vec![0; r.buffer_len()];
        r.emit(&mut buf);
        // A zero-length option ends the options; what came before stays.
        let mut zero = buf.clone();
        zero[17] = 0;
        let cut = NdRepr::parse(&zero).unwrap();
        assert_eq!((cut.target, cut.sll), (r.target, None));
        let mut later = buf.clone();
        later.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(NdRepr::parse(&later).unwrap(), r);
        // An option running past the end, likewise.
        let mut long = buf.clone();
        long.extend_from_slice(&[2, 2, 0, 0, 0, 0, 0, 9]);
        assert_eq!(NdRepr::parse(&long).unwrap(), r);
        // A second source link-layer option.
        let mut dup = buf.clone();
        dup.extend_from_slice(&buf[16..]);
        assert!(NdRepr::parse(&dup).is_err());
        // A trailing partial option is ignored, as is an unknown option type.
        let mut tail = buf.clone();
        tail.extend_from_slice(&[9, 1, 0, 0]);
        assert_eq!(NdRepr::parse(&tail).unwrap(), r);
        assert!(NdRepr::parse(&buf[..15]).is_err());
    }
}
