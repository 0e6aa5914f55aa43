//! MPLS label stack entries (RFC 3032).

use crate::bytes::get32;
use crate::error::{Error, Layer, need};

/// One label stack entry: label (20 bits), traffic class (3), bottom of stack (1), TTL (8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lse(pub u32);

/// Length of a label stack entry.
pub const LSE_LEN: usize = 4;

impl Lse {
    /// Builds an entry; `label` is truncated to 20 bits and `tc` to 3.
    pub const fn new(label: u32, tc: u8, bos: bool, ttl: u8) -> Self {
        Self(((label & 0xf_ffff) << 12) | ((tc as u32 & 7) << 9) | ((bos as u32) << 8) | ttl as u32)
    }

    /// Reads the first entry of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(Layer::Mpls, LSE_LEN, buf.len())?;
        Ok(Self(get32(buf, 0)))
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        LSE_LEN
    }

    /// Writes the entry into the first four bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[..LSE_LEN].copy_from_slice(&self.0.to_be_bytes());
    }

    /// The label.
    pub const fn label(self) -> u32 {
        self.0 >> 12
    }

    /// Traffic class.
    pub const fn tc(self) -> u8 {
        ((self.0 >> 9) & 7) as u8
    }

    /// True on the last entry of the stack.
    pub const fn bos(self) -> bool {
        self.0 & 0x100 != 0
    }

    /// Time to live.
    pub const fn ttl(self) -> u8 {
        self.0 as u8
    }
}

/// The entries of a label stack, top first, up to and including the bottom-of-stack entry or
/// the end of the complete entries in `buf`.
pub fn stack(buf: &[u8]) -> impl Iterator<Item = Lse> + '_ {
    let mut done = false;
    buf.chunks_exact(LSE_LEN).map_while(move |c| {
        if done {
            return None;
        }
        let lse = Lse(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        done = lse.bos();
        Some(lse)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_round_trip() {
        let l = Lse::new(0x12345, 5, true, 64);
        assert_eq!(l.0, 0x1234_5b40);
        assert_eq!(
            (l.label(), l.tc(), l.bos(), l.ttl()),
            (0x12345, 5, true, 64)
        );
        let mut b = [0; 4];
        l.emit(&mut b);
        assert_eq!(Lse::parse(&b).unwrap(), l);
        assert!(Lse::parse(&b[..3]).is_err());
    }

    #[test]
    fn stack_stops_at_bottom() {
        let mut b = [0u8; 12];
        Lse::new(1, 0, false, 1).emit(&mut b[0..]);
        Lse::new(2, 0, true, 1).emit(&mut b[4..]);
        Lse::new(3, 0, true, 1).emit(&mut b[8..]);
        let labels: Vec<u32> = stack(&b).map(Lse::label).collect();
        assert_eq!(labels, [1, 2]);
    }
}
