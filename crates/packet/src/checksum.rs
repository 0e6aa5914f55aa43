//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A checksum is the ones' complement of the ones' complement sum of 16-bit big-endian words.
//! [`Sum`] accumulates that sum over any number of pieces (a pseudo-header, a header, a
//! payload) so a caller never has to concatenate them; [`Sum::checksum`] folds and complements.
//! A piece of odd length is padded with a zero byte, which is only correct for the last piece,
//! as the RFC says.
//!
//! Rewriting one field of a header need not re-sum the whole packet: [`update16`] and
//! [`update32`] apply RFC 1624's equation 3, `HC' = ~(~HC + ~m + m')`, which (unlike the
//! older equation of RFC 1141) never yields the invalid `0x0000` for a sum that should be
//! `0xffff`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A running ones' complement sum. Wide (`u64`) so folding can wait until the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(u64);

impl Sum {
    /// The empty sum.
    pub const fn new() -> Self {
        Self(0)
    }

    /// Adds `data` as big-endian 16-bit words (a final odd byte as its high half).
    #[must_use]
    pub fn add_bytes(mut self, data: &[u8]) -> Self {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            self.0 += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            self.0 += u64::from(*last) << 8;
        }
        self
    }

    /// Adds one 16-bit word.
    #[must_use]
    pub const fn add16(self, word: u16) -> Self {
        Self(self.0 + word as u64)
    }

    /// Adds a 32-bit value as two words.
    #[must_use]
    pub const fn add32(self, value: u32) -> Self {
        Self(self.0 + (value >> 16) as u64 + (value & 0xffff) as u64)
    }

    /// The folded 16-bit sum (not complemented).
    pub const fn fold(self) -> u16 {
        let mut s = self.0;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// The checksum: the complement of the folded sum.
    pub const fn checksum(self) -> u16 {
        !self.fold()
    }
}

/// The checksum of `data` alone.
pub fn checksum(data: &[u8]) -> u16 {
    Sum::new().add_bytes(data).checksum()
}

/// True when `data`, which contains its own checksum field, sums to `0xffff`.
pub fn verifies(data: &[u8]) -> bool {
    Sum::new().add_bytes(data).fold() == 0xffff
}

/// The IPv4 pseudo-header of TCP/UDP (RFC 768, RFC 793): addresses, protocol, length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Sum {
    Sum::new()
        .add32(src.to_bits())
        .add32(dst.to_bits())
        .add16(u16::from(protocol))
        .add16(len)
}

/// The IPv6 pseudo-header (RFC 8200 §8.1): addresses, upper-layer length, next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Sum {
    Sum::new()
        .add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add32(len)
        .add16(u16::from(next_header))
}

/// The checksum after a 16-bit word covered by `old_checksum` changes from `old` to `new`
/// (RFC 1624 eqn. 3).
pub const fn update16(old_checksum: u16, old: u16, new: u16) -> u16 {
    Sum::new()
        .add16(!old_checksum)
        .add16(!old)
        .add16(new)
        .checksum()
}

/// [`update16`] for an aligned 32-bit field (an IPv4 address, a TCP sequence number).
pub const fn update32(old_checksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(old_checksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example_words() {
        // RFC 1071 §3 sums 00 01 f2 03 f4 f5 f6 f7 to ddf2 (before complementing).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Sum::new().add_bytes(&data).fold(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            checksum(&[0x12, 0x34, 0x56]),
            checksum(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    proptest! {
        /// An incremental update equals recomputing from scratch, for any header and any
        /// rewritten word (up to the 0x0000/0xffff ambiguity, which RFC 1624 resolves to the
        /// value a full computation gives whenever the data is not all zero).
        #[test]
        fn incremental_update_matches_full_recompute(
            mut words in proptest::collection::vec(any::<u16>(), 2..32),
            index in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
            let i = index.index(words.len());
            let before = checksum(&bytes(&words));
            let old = words[i];
            words[i] = new;
            let after = checksum(&bytes(&words));
            let updated = update16(before, old, new);
            prop_assert!(updated == after || (updated ^ after == 0xffff && (after == 0 || after == 0xffff)));
        }
    }
}
