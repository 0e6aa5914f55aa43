//! The exact-match cache: a fixed array of slots, each holding a full flow key and the handle
//! of the megaflow that key hit.
//!
//! A packet's key hashes to one slot; a hit needs the whole key to be equal, so it costs one
//! hash and one 240-byte compare, against a megaflow lookup's probe per mask. The array is
//! allocated once; inserting overwrites the slot (no chaining, no allocation). Entries are
//! never invalidated explicitly: a megaflow handle carries a generation, so once the
//! megaflow is removed (flush, revalidation) the handle stops resolving and the slot is a
//! miss.

use fvs_classifier::RuleId;
use fvs_flow::FlowKey;

/// Number of slots; a power of two (the hash is masked).
pub const EMC_SLOTS: usize = 8192;

/// The exact-match cache.
pub(crate) struct Emc {
    slots: Box<[Option<(FlowKey, RuleId)>]>,
}

/// A cheap, well-mixing hash of the key's words (FxHash-style multiply and rotate, then a
/// final avalanche so the low bits used as the slot index depend on every word).
pub(crate) fn hash_key(k: &FlowKey) -> u64 {
    let mut h: u64 = 0;
    for w in k.words {
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Emc {
    pub(crate) fn new() -> Self {
        Self {
            slots: vec![None; EMC_SLOTS].into_boxed_slice(),
        }
    }

    fn slot(hash: u64) -> usize {
        (hash as usize) & (EMC_SLOTS - 1)
    }

    /// The megaflow handle cached for exactly this key.
    pub(crate) fn lookup(&self, key: &FlowKey, hash: u64) -> Option<RuleId> {
        match &self.slots[Self::slot(hash)] {
            Some((k, id)) if k == key => Some(*id),
            _ => None,
        }
    }

    pub(crate) fn insert(&mut self, key: &FlowKey, hash: u64, id: RuleId) {
        self.slots[Self::slot(hash)] = Some((*key, id));
    }

    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}
