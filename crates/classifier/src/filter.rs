//! A multiset of 64-bit hashes that answers "could this hash be in it?" in two loads.
//!
//! Subtables use one per stage check (the stage hashes of their buckets) and one per prefix
//! set (the hashes of their prefixes). Both need only a one-sided answer: "absent" must be
//! exact, because it decides a miss and which bits get un-wildcarded, while a false
//! "present" merely makes the lookup go on and consult more bits than it strictly had to.
//! So the lookup side is a small Bloom filter (two bit probes, 16 to 32 bits per distinct
//! hash, so under 1.5% false "present"): two loads and no probe loop, where a hash-table
//! probe costs a loop with data-dependent branches.
//!
//! The exact multiset of hashes is kept beside it for maintenance. Adding a hash sets its
//! bits (rebuilding at twice the size when the filter gets too full). Removing the last
//! occurrence of a hash leaves its bits set — still a correct, if slightly looser, filter —
//! and the filter is rebuilt from the exact set once such stale hashes outnumber the live
//! ones, so a run of removals costs amortised O(1) each.

use hashbrown::HashTable;

/// Filter bits per distinct hash (a power of two).
const BITS_PER_HASH: usize = 16;

/// A multiset of hashes with a Bloom filter in front.
#[derive(Clone, Debug)]
pub(crate) struct HashFilter {
    /// Exact: each distinct hash with its number of occurrences.
    exact: HashTable<Entry>,
    /// Bloom filter over `exact` (plus stale hashes); a power-of-two number of bits, ≥ 64.
    filter: Vec<u64>,
    /// `64 - log2(filter bits)`: a hash's top bits, shifted down by this, index the filter.
    shift: u32,
    /// Hashes removed from `exact` whose bits may still be set.
    stale: usize,
}

/// A distinct hash and how many times it was added.
#[derive(Clone, Debug)]
struct Entry {
    hash: u64,
    count: u32,
}

impl Default for HashFilter {
    fn default() -> Self {
        Self {
            exact: HashTable::new(),
            filter: vec![0; 1],
            shift: 64 - 6,
            stale: 0,
        }
    }
}

impl HashFilter {
    /// Adds one occurrence of `h`.
    pub(crate) fn add(&mut self, h: u64) {
        if let Some(e) = self.exact.find_mut(h, |e| e.hash == h) {
            e.count += 1;
            return;
        }
        self.exact
            .insert_unique(h, Entry { hash: h, count: 1 }, |e| e.hash);
        if self.exact.len() * BITS_PER_HASH > self.filter.len() * 64 {
            self.rebuild();
        } else {
            self.set(h);
        }
    }

    /// Removes one occurrence of `h`.
    pub(crate) fn remove(&mut self, h: u64) {
        let Ok(mut e) = self.exact.find_entry(h, |e| e.hash == h) else {
            return;
        };
        e.get_mut().count -= 1;
        if e.get().count == 0 {
            e.remove();
            self.stale += 1;
            if self.stale > self.exact.len() {
                self.rebuild();
            }
        }
    }

    /// False only if `h` is absent.
    #[inline]
    pub(crate) fn may_contain(&self, h: u64) -> bool {
        let (a, b) = self.positions(h);
        let hit_a = self.filter[a >> 6] >> (a & 63);
        let hit_b = self.filter[b >> 6] >> (b & 63);
        hit_a & hit_b & 1 != 0
    }

    /// The two filter bits of `h`: from its top bits, and from the bits just below those
    /// (hashes come from a 128-bit multiply fold, so both ranges are well mixed).
    #[inline]
    fn positions(&self, h: u64) -> (usize, usize) {
        let a = (h >> self.shift) as usize;
        let b = ((h << 20) >> self.shift) as usize;
        (a, b)
    }

    fn set(&mut self, h: u64) {
        let (a, b) = self.positions(h);
        self.filter[a >> 6] |= 1 << (a & 63);
        self.filter[b >> 6] |= 1 << (b & 63);
    }

    /// Resizes the filter for the live hashes and sets their bits afresh.
    fn rebuild(&mut self) {
        let bits = (self.exact.len() * BITS_PER_HASH * 2)
            .next_power_of_two()
            .max(64);
        self.filter = vec![0; bits / 64];
        self.shift = 64 - bits.trailing_zeros();
        self.stale = 0;
        let hashes: Vec<u64> = self.exact.iter().map(|e| e.hash).collect();
        for h in hashes {
            self.set(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-spread test hashes.
    fn h(i: u64) -> u64 {
        let p = u128::from(i + 1) * 0x9e37_79b9_7f4a_7c15_u128;
        (p as u64) ^ ((p >> 64) as u64)
    }

    #[test]
    fn never_forgets_a_present_hash_across_growth_and_removals() {
        let mut s = HashFilter::default();
        for i in 0..5000 {
            s.add(h(i));
            s.add(h(i));
        }
        // Drop every hash below 4000 entirely, and one of two copies of the rest.
        for i in 0..5000 {
            s.remove(h(i));
            if i < 4000 {
                s.remove(h(i));
            }
        }
        for i in 4000..5000 {
            assert!(s.may_contain(h(i)), "lost hash {i}");
        }
        // Rebuilds have dropped most of the removed hashes.
        let false_present = (0..4000).filter(|&i| s.may_contain(h(i))).count();
        assert!(
            false_present < 400,
            "{false_present} stale hashes still present"
        );
    }

    #[test]
    fn rarely_claims_an_absent_hash() {
        let mut s = HashFilter::default();
        for i in 0..1000 {
            s.add(h(i));
        }
        let false_present = (1000..101_000).filter(|&i| s.may_contain(h(i))).count();
        assert!(
            false_present < 4000,
            "{false_present} of 100000 absent hashes present"
        );
    }
}
