//! Bounds-checked reading and plain writing of big-endian wire data.
//!
//! Decoders check a structure's length once (with [`Reader::take`] or [`Reader::need`]) and
//! then read fields; every read is still checked, so a mistake in a length calculation turns
//! into a [`Truncated`] error instead of a panic.

/// Input ended before a structure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Truncated;

/// A cursor over input bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Bytes not yet read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next `n` bytes as a reader of their own.
    pub(crate) fn take(&mut self, n: usize) -> Result<Self, Truncated> {
        self.bytes(n).map(Self::new)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        if self.data.len() < n {
            return Err(Truncated);
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A big-endian unsigned value of `n` ≤ 16 bytes.
    pub(crate) fn uint(&mut self, n: usize) -> Result<u128, Truncated> {
        if n > 16 {
            return Err(Truncated);
        }
        Ok(self
            .bytes(n)?
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b)))
    }

    /// Peeks at a big-endian u16 `at` bytes ahead without consuming anything.
    pub(crate) fn peek_u16(&self, at: usize) -> Result<u16, Truncated> {
        let mut r = *self;
        r.skip(at)?;
        r.u16()
    }
}

/// Appending big-endian values to a byte vector.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    /// The low `n` bytes of `v`, big-endian.
    fn put_uint(&mut self, v: u128, n: usize);
    fn put_zeros(&mut self, n: usize);
    /// Overwrites a big-endian u16 at `at` (a length field filled in afterwards).
    fn set_u16(&mut self, at: usize, v: u16);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_uint(&mut self, v: u128, n: usize) {
        let b = v.to_be_bytes();
        let n = n.min(16);
        self.extend_from_slice(&b[16 - n..]);
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(slot) = self.get_mut(at..at + 2) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }
}
