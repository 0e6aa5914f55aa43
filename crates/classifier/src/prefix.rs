//! Prefix sets: narrower un-wildcarding when a lookup misses because of an address.
//!
//! When a subtable's mask covers a field with a prefix mask (the top `len` bits, as in
//! `nw_dst=10.0.0.0/8`) and a lookup misses there after consulting that field, the staged
//! rule would un-wildcard all `len` bits of the field and everything consulted before it. But
//! if the packet's top `len` bits equal no rule's prefix in the subtable, the miss is already
//! decided by the field alone — and by fewer bits of it: if the longest common prefix of the
//! packet's bits with any of the subtable's prefixes is `p` bits long, then every packet that
//! agrees on the top `p + 1` bits also differs from all of them. So the lookup un-wildcards
//! only those `min(p + 1, len)` bits of that one field.
//!
//! The longest common prefix with any member of a sorted set of equal-length bit strings is
//! reached at one of the two neighbours of the probe value, so a `BTreeMap` answers it with
//! two range look-ups. This runs only on misses that have already consulted the field, so
//! hits and early misses pay nothing. Most such misses are not the address's fault (its
//! prefix is present and something else differs); a Bloom filter of the prefixes answers
//! those with two loads, and a false "present" from it only means falling back to the
//! ordinary, wider un-wildcarding.

use std::collections::BTreeMap;

use fvs_flow::{FlowKey, Loc};

use crate::filter::HashFilter;
use crate::subtable::fold_mul;

/// A field whose prefix matches get this treatment, in one subtable.
#[derive(Clone, Debug)]
pub(crate) struct PrefixSet {
    /// Where the field is.
    loc: Loc,
    /// Width of the field in bits (1..=128).
    width: u32,
    /// Length of the subtable's prefix on the field (1..=width).
    len: u32,
    /// `len` low ones: the right-aligned prefix's own mask.
    len_mask: u128,
    /// The only number of consulted compact words at which a miss can be this field's fault
    /// and a proof worth looking for: the end of the first stage check that covers the whole
    /// prefix (or the full word count, if only the final probe does). A miss found earlier has
    /// not consulted the field, so its un-wildcarding is already narrower; a miss found later
    /// got past that check, so the packet's prefix is present (up to filter false positives)
    /// and no proof exists.
    pub(crate) decided_at: usize,
    /// Distinct prefixes (the field's top `len` bits, right-aligned) with rule counts.
    prefixes: BTreeMap<u128, u32>,
    /// Hashes of the same prefixes, to rule out absence cheaply.
    filter: HashFilter,
}

impl PrefixSet {
    /// A set for the field at `loc` if `mask` covers it with a non-empty prefix mask.
    /// `compact_words` are the subtable's compact word indices (padding included) and
    /// `check_ends` its stage checks, to find `decided_at`.
    pub(crate) fn for_mask(
        loc: Loc,
        mask: &FlowKey,
        compact_words: &[u8],
        check_ends: &[usize],
    ) -> Option<Self> {
        let width = u32::from(loc.bits);
        let field_mask = mask.get(loc);
        let len = prefix_len(field_mask, width)?;
        let last_word = if width > 64 && len > 64 {
            loc.word + 1
        } else {
            loc.word
        };
        let consulted_after = compact_words.iter().position(|&w| w == last_word)? + 1;
        let decided_at = check_ends
            .iter()
            .copied()
            .find(|&end| end >= consulted_after)
            .unwrap_or(compact_words.len());
        Some(Self {
            loc,
            width,
            len,
            len_mask: top_bits(len, len),
            decided_at,
            prefixes: BTreeMap::new(),
            filter: HashFilter::default(),
        })
    }

    /// Counts one more rule with the (masked) key `key`.
    pub(crate) fn add(&mut self, key: &FlowKey) {
        let p = self.prefix_of(key);
        *self.prefixes.entry(p).or_insert(0) += 1;
        self.filter.add(hash(p));
    }

    /// Counts one rule fewer with the (masked) key `key`.
    pub(crate) fn remove(&mut self, key: &FlowKey) {
        let p = self.prefix_of(key);
        if let Some(n) = self.prefixes.get_mut(&p) {
            self.filter.remove(hash(p));
            *n -= 1;
            if *n == 0 {
                self.prefixes.remove(&p);
            }
        }
    }

    /// If no rule's prefix equals `key`'s, the number of the field's top bits that prove it.
    #[inline]
    pub(crate) fn absent_bits(&self, key: &FlowKey) -> Option<u32> {
        let x = self.prefix_of(key);
        // The usual case, the prefix being present, is settled here without a tree walk.
        if self.filter.may_contain(hash(x)) {
            return None;
        }
        Some(self.proof_bits(x))
    }

    /// For a prefix `x` known to be absent, the number of its top bits that prove it.
    #[inline(never)]
    fn proof_bits(&self, x: u128) -> u32 {
        // Bits of the `len`-bit strings that agree, from the top.
        let common = |p: u128| (x ^ p).leading_zeros() - (128 - self.len);
        let below = self
            .prefixes
            .range(..x)
            .next_back()
            .map(|(&p, _)| common(p));
        let above = self.prefixes.range(x..).next().map(|(&p, _)| common(p));
        let longest = below.max(above).unwrap_or(0);
        (longest + 1).min(self.len)
    }

    /// ORs the top `bits` bits of the field into `wc`.
    pub(crate) fn unwildcard(&self, wc: &mut FlowKey, bits: u32) {
        let m = top_bits(bits, self.width);
        let have = wc.get(self.loc);
        wc.set(self.loc, have | m);
    }

    /// The field's top `len` bits of `key`, right-aligned. (Open-coded rather than
    /// `FlowKey::get`: this runs on the miss path of most subtables that match an address.)
    #[inline]
    fn prefix_of(&self, key: &FlowKey) -> u128 {
        let w = usize::from(self.loc.word);
        let value = if self.width > 64 {
            (u128::from(key.words[w]) << 64) | u128::from(key.words[w + 1])
        } else {
            u128::from(key.words[w] >> self.loc.shift)
        };
        // Dropping the low `width - len` bits also drops the neighbours above the field
        // once masked to `len` bits.
        (value >> (self.width - self.len)) & self.len_mask
    }
}

/// A well-mixed 64-bit hash of a prefix value.
fn hash(p: u128) -> u64 {
    fold_mul(
        (p as u64) ^ 0x4528_21e6_38d0_1377,
        ((p >> 64) as u64) ^ 0xbe54_66cf_34e9_0c6c,
    )
}

/// The length of `m` as a prefix mask of a `width`-bit field; `None` if it is empty or not a
/// prefix (some set bit below a clear one).
fn prefix_len(m: u128, width: u32) -> Option<u32> {
    let len = (m << (128 - width)).leading_ones();
    (len > 0 && m == top_bits(len, width)).then_some(len)
}

/// The mask of the top `bits` bits of a `width`-bit field, right-aligned.
fn top_bits(bits: u32, width: u32) -> u128 {
    let all = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    match bits {
        0 => 0,
        b if b >= width => all,
        b => all & !(all >> b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks_are_recognised() {
        assert_eq!(prefix_len(0xff00_0000, 32), Some(8));
        assert_eq!(prefix_len(0xffff_ffff, 32), Some(32));
        assert_eq!(prefix_len(u128::MAX, 128), Some(128));
        assert_eq!(prefix_len(0, 32), None);
        assert_eq!(prefix_len(0x00ff_0000, 32), None);
        assert_eq!(prefix_len(0xff00_ff00, 32), None);
        assert_eq!(top_bits(8, 32), 0xff00_0000);
        assert_eq!(top_bits(0, 32), 0);
        assert_eq!(top_bits(128, 128), u128::MAX);
    }
}
