//! One subtable: every rule that shares one mask, hashed by its masked key.
//!
//! # Layout
//!
//! A mask usually has few non-zero words, so the subtable keeps the indices of those words
//! ("compact words") in stage order and touches nothing else: hashing, comparing and
//! un-wildcarding all walk the same short list.
//!
//! Rules with the same masked key share one [`Bucket`]; its members are kept sorted by
//! [`Rank`], best first, and the best one is copied inline so a hit needs no further
//! indirection. The masked keys themselves live in one flat arena (`keys`, stride = number
//! of compact words), which keeps a bucket small and the keys of a subtable close together.
//!
//! # Staged lookup
//!
//! The hash of a masked key is a finished sum of one "lane" per compact word (see
//! `Subtable::lane`), and the "stage hash" of a stage is the finished sum over the words up
//! to that stage's end. For every stage that has words and is followed by a stage with
//! words, `stage_sets` holds the stage hashes of all buckets (a [`HashFilter`]: exact
//! multiset for maintenance, Bloom filter for lookups). A lookup that does not find its stage
//! hash there knows that no rule of this subtable can match, having looked only at the stages
//! so far. A false "present" (filter or hash collision) is harmless: it only makes the lookup
//! consult more bits. Only [`Subtable::lookup_wc`] checks stages; [`Subtable::lookup`], which
//! reports no bits, goes straight to the full probe.
//!
//! # Misses proved by an address
//!
//! A miss that the address prefix alone proves is un-wildcarded through the subtable's
//! [`PrefixSet`]s instead; see [`crate::prefix`].

use std::collections::BTreeSet;

use fvs_flow::{FLOW_WORDS, FlowKey, Loc, STAGES};
use hashbrown::HashTable;

use crate::filter::HashFilter;
use crate::index_u32;
use crate::prefix::PrefixSet;
use crate::rank::Rank;

/// Compact words are processed this many at a time; a subtable pads its word list with
/// zero-mask words to a multiple of it, so the hot loops run a fixed-size, fully unrolled body
/// once or twice instead of a variable count of single steps whose exit the CPU mispredicts.
const LANES: usize = 4;

/// Room for every word of a key, padded.
const MAX_WORDS: usize = FLOW_WORDS.next_multiple_of(LANES);

/// Number of stages that may carry a membership set: every stage but the last can be
/// followed by another.
const CHECKS: usize = STAGES.len() - 1;

/// A rule's place in a bucket: its rank and its slot in the classifier's rule slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// Priority and insertion order folded into one comparable number.
    pub(crate) rank: Rank,
    /// Index of the rule's slot in the classifier.
    pub(crate) slot: u32,
}

/// All rules of a subtable that have one masked key.
#[derive(Clone, Debug)]
struct Bucket {
    /// Full hash of the masked key (kept so the table can grow without rehashing keys).
    hash: u64,
    /// Index of the masked key in the subtable's key arena.
    key: u32,
    /// Copy of `members[0]`, the best rule, so a hit reads one cache line.
    top: Member,
    /// Every rule with this masked key, best rank first. Never empty.
    members: Vec<Member>,
}

/// Every rule with one mask.
#[derive(Clone, Debug)]
pub(crate) struct Subtable {
    /// The mask shared by every rule here.
    pub(crate) mask: FlowKey,
    /// Per compact word, the classifier's seed mixed with the word's position (see `lane`).
    lane_seeds: [u64; MAX_WORDS],
    /// Number of compact words: the mask's non-zero words, then zero-mask padding up to a
    /// multiple of `LANES` (padding reads word 0 under mask 0, so it is always 0).
    n_words: usize,
    /// Word index in the flow key of each compact word, ascending (hence in stage order).
    words: [u8; MAX_WORDS],
    /// Mask value of each compact word.
    bits: [u64; MAX_WORDS],
    /// Number of stages with a membership set.
    n_checks: usize,
    /// For each membership set, the number of compact words up to the end of its stage:
    /// the words a lookup that misses there has consulted.
    check_ends: [usize; CHECKS],
    /// For each `check_ends` entry, the stage hashes of every bucket's key.
    stage_sets: [HashFilter; CHECKS],
    /// Buckets by full hash of their masked key.
    table: HashTable<Bucket>,
    /// Masked keys of the buckets, `n_words` compact words each; `Bucket::key` indexes it.
    keys: Vec<u64>,
    /// Ranks of all rules here; the last one is the subtable's best.
    ranks: BTreeSet<Rank>,
    /// Prefix sets of the fields this mask matches by prefix (see [`crate::prefix`]).
    prefixes: Vec<PrefixSet>,
}

impl Subtable {
    /// An empty subtable for `mask`. `prefix_fields` are the fields that get a prefix set
    /// when the mask matches them by prefix.
    pub(crate) fn new(mask: FlowKey, seed: u64, prefix_fields: &[Loc]) -> Self {
        let mut words = [0u8; MAX_WORDS];
        let mut bits = [0u64; MAX_WORDS];
        let mut n_words = 0;
        let mut stage_ends = [0usize; STAGES.len()];
        for (stage, range) in STAGES.iter().enumerate() {
            for w in range.clone() {
                if mask.words[w] != 0 {
                    // FLOW_WORDS < 256, so every word index fits a u8.
                    words[n_words] = w as u8;
                    bits[n_words] = mask.words[w];
                    n_words += 1;
                }
            }
            stage_ends[stage] = n_words;
        }
        // A stage earns a membership set when it adds words and a later stage adds more:
        // only then can checking it stop a lookup before the full probe.
        let mut check_ends = [0usize; CHECKS];
        let mut n_checks = 0;
        let mut prev_end = 0;
        for &end in &stage_ends[..CHECKS] {
            if end > prev_end && end < n_words {
                check_ends[n_checks] = end;
                n_checks += 1;
            }
            prev_end = end;
        }
        let n_words = n_words.next_multiple_of(LANES);
        let mut lane_seeds = [0u64; MAX_WORDS];
        for (i, s) in lane_seeds.iter_mut().enumerate() {
            *s = seed ^ (i as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f);
        }
        Self {
            mask,
            lane_seeds,
            n_words,
            words,
            bits,
            n_checks,
            check_ends,
            stage_sets: Default::default(),
            table: HashTable::new(),
            keys: Vec::new(),
            ranks: BTreeSet::new(),
            prefixes: prefix_fields
                .iter()
                .filter_map(|&loc| {
                    PrefixSet::for_mask(loc, &mask, &words[..n_words], &check_ends[..n_checks])
                })
                .collect(),
        }
    }

    /// Adds a rule whose key is already masked by `self.mask`.
    pub(crate) fn insert(&mut self, masked: &FlowKey, member: Member) {
        self.ranks.insert(member.rank);
        for p in &mut self.prefixes {
            p.add(masked);
        }
        let (hash, stage_hashes) = self.hashes(masked);
        if let Some(bucket) = self.find_bucket_mut(hash, masked) {
            let at = bucket.members.partition_point(|m| m.rank > member.rank);
            bucket.members.insert(at, member);
            bucket.top = bucket.members[0];
            return;
        }
        for (set, &h) in self.stage_sets[..self.n_checks]
            .iter_mut()
            .zip(&stage_hashes)
        {
            set.add(h);
        }
        let key = self.table.len();
        self.keys.extend(
            (0..self.n_words).map(|i| masked.words[usize::from(self.words[i])] & self.bits[i]),
        );
        let bucket = Bucket {
            hash,
            key: index_u32(key),
            top: member,
            members: vec![member],
        };
        self.table.insert_unique(hash, bucket, |b| b.hash);
    }

    /// Removes the rule in `slot` whose masked key is `masked`; false when it is not here.
    pub(crate) fn remove(&mut self, masked: &FlowKey, slot: u32) -> bool {
        let (hash, stage_hashes) = self.hashes(masked);
        let (keys, words, bits, n) = (&self.keys, &self.words, &self.bits, self.n_words);
        let Ok(mut entry) = self.table.find_entry(hash, |b| {
            b.hash == hash && stored_key_is(keys, words, bits, n, b.key, masked)
        }) else {
            return false;
        };
        let bucket = entry.get_mut();
        let Some(at) = bucket.members.iter().position(|m| m.slot == slot) else {
            return false;
        };
        let gone = bucket.members.remove(at);
        for p in &mut self.prefixes {
            p.remove(masked);
        }
        let freed_key = match bucket.members.first() {
            Some(&top) => {
                bucket.top = top;
                None
            }
            None => Some(entry.remove().0.key),
        };
        self.ranks.remove(&gone.rank);
        if let Some(key) = freed_key {
            // The bucket is gone: so are its key and its share of the stage hashes.
            self.release_key(key as usize);
            for (set, &h) in self.stage_sets[..self.n_checks]
                .iter_mut()
                .zip(&stage_hashes)
            {
                set.remove(h);
            }
        }
        true
    }

    /// Members of the bucket for an already-masked key, best first.
    pub(crate) fn members(&self, masked: &FlowKey) -> &[Member] {
        let (hash, _) = self.hashes(masked);
        self.table
            .find(hash, |b| b.hash == hash && self.key_matches(b.key, masked))
            .map_or(&[], |b| &b.members)
    }

    /// True when no rule is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Rank of the best rule here (`Rank::NONE` when empty).
    pub(crate) fn max_rank(&self) -> Rank {
        self.ranks.last().copied().unwrap_or(Rank::NONE)
    }

    /// The best rule whose masked key equals `key` under this mask: one full-hash probe,
    /// no stage checks (the fast path when nobody needs to know which bits were read).
    #[inline]
    pub(crate) fn lookup(&self, key: &FlowKey) -> Option<Member> {
        let mut acc = 0u64;
        for chunk in 0..self.n_words / LANES {
            for j in chunk * LANES..chunk * LANES + LANES {
                acc = acc.wrapping_add(
                    self.lane(j, key.words[usize::from(self.words[j])] & self.bits[j]),
                );
            }
        }
        self.probe(finish(acc), key)
    }

    /// As [`Self::lookup`], checking the stage sets on the way and OR-ing into `wc` the mask
    /// bits of every stage consulted.
    #[inline]
    pub(crate) fn lookup_wc(&self, key: &FlowKey, wc: &mut FlowKey) -> Option<Member> {
        let mut acc = 0u64;
        let mut i = 0;
        for c in 0..self.n_checks {
            let end = self.check_ends[c];
            while i < end {
                acc = acc.wrapping_add(
                    self.lane(i, key.words[usize::from(self.words[i])] & self.bits[i]),
                );
                i += 1;
            }
            let h = finish(acc);
            if !self.stage_sets[c].may_contain(h) {
                self.miss(key, wc, end);
                return None;
            }
        }
        while i < self.n_words {
            acc = acc
                .wrapping_add(self.lane(i, key.words[usize::from(self.words[i])] & self.bits[i]));
            i += 1;
        }
        let found = self.probe(finish(acc), key);
        if found.is_some() {
            self.unwildcard(wc, self.n_words);
        } else {
            self.miss(key, wc, self.n_words);
        }
        found
    }

    /// Un-wildcards for a miss found after consulting the first `consulted` compact words:
    /// those words' bits, or — narrower — the few bits of one prefix field that already
    /// prove the miss, when a prefix set can show it.
    #[inline]
    fn miss(&self, key: &FlowKey, wc: &mut FlowKey, consulted: usize) {
        if self.prefixes.is_empty() {
            self.unwildcard(wc, consulted);
            return;
        }
        let mut best: Option<(&PrefixSet, u32)> = None;
        for p in &self.prefixes {
            if p.decided_at == consulted
                && let Some(bits) = p.absent_bits(key)
                && best.is_none_or(|(_, b)| bits < b)
            {
                best = Some((p, bits));
            }
        }
        match best {
            Some((p, bits)) => p.unwildcard(wc, bits),
            None => self.unwildcard(wc, consulted),
        }
    }

    /// The hash contribution of compact word `i` with (masked) value `w`.
    ///
    /// A key's hash is `finish` of the wrapping sum of its lanes. Lanes are independent of
    /// each other, so the multiplies of a key's words overlap in the pipeline instead of
    /// forming one long dependency chain, and a stage hash is just `finish` of a prefix sum.
    /// Mixing the word's position into each lane keeps permuted keys apart.
    #[inline(always)]
    fn lane(&self, i: usize, w: u64) -> u64 {
        fold_mul(w ^ self.lane_seeds[i], 0xe703_7ed1_a0b4_28db)
    }

    /// ORs the mask bits of the first `upto` compact words into `wc`.
    #[inline]
    fn unwildcard(&self, wc: &mut FlowKey, upto: usize) {
        // Whole chunks with a select rather than a loop of `upto` steps, for the same reason
        // as in `lookup`.
        for chunk in 0..self.n_words / LANES {
            for j in chunk * LANES..chunk * LANES + LANES {
                let bits = if j < upto { self.bits[j] } else { 0 };
                wc.words[usize::from(self.words[j])] |= bits;
            }
        }
    }

    /// The best member of the bucket with full hash `h` whose key equals `key` masked.
    #[inline]
    fn probe(&self, h: u64, key: &FlowKey) -> Option<Member> {
        self.table
            .find(h, |b| b.hash == h && self.key_matches(b.key, key))
            .map(|b| b.top)
    }

    /// True when arena key `at` equals `key` under the mask (`key` need not be masked).
    #[inline]
    fn key_matches(&self, at: u32, key: &FlowKey) -> bool {
        let n = self.n_words;
        let start = at as usize * n;
        let Some(stored) = self.keys.get(start..start + n) else {
            return false;
        };
        // Accumulate differences without branching; one test at the end.
        let mut diff = 0u64;
        for (chunk, stored) in stored.chunks_exact(LANES).enumerate() {
            for (j, &s) in stored.iter().enumerate() {
                let i = chunk * LANES + j;
                diff |= (key.words[usize::from(self.words[i])] & self.bits[i]) ^ s;
            }
        }
        diff == 0
    }

    /// Full hash of `key` under the mask, and its stage hashes for the membership sets.
    fn hashes(&self, key: &FlowKey) -> (u64, [u64; CHECKS]) {
        let mut stage_hashes = [0u64; CHECKS];
        let mut acc = 0u64;
        let mut c = 0;
        for i in 0..self.n_words {
            acc = acc
                .wrapping_add(self.lane(i, key.words[usize::from(self.words[i])] & self.bits[i]));
            if c < self.n_checks && i + 1 == self.check_ends[c] {
                stage_hashes[c] = finish(acc);
                c += 1;
            }
        }
        (finish(acc), stage_hashes)
    }

    /// The bucket holding the already-masked key `masked`, if any.
    fn find_bucket_mut(&mut self, hash: u64, masked: &FlowKey) -> Option<&mut Bucket> {
        let (keys, words, bits, n) = (&self.keys, &self.words, &self.bits, self.n_words);
        self.table.find_mut(hash, |b| {
            b.hash == hash && stored_key_is(keys, words, bits, n, b.key, masked)
        })
    }

    /// Frees arena key `at` by moving the last key into its place (the table has already
    /// lost the bucket that owned `at`).
    fn release_key(&mut self, at: usize) {
        let n = self.n_words;
        let last = self.table.len();
        if at != last && n > 0 {
            // Find the bucket that owns the last key (same words, so same hash) and point it
            // at the hole, then move the words.
            let moved = last * n..last * n + n;
            let h = finish(
                self.keys[moved.clone()]
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (i, &w)| acc.wrapping_add(self.lane(i, w))),
            );
            let (last32, at32) = (index_u32(last), index_u32(at));
            if let Some(b) = self.table.find_mut(h, |b| b.key == last32) {
                b.key = at32;
            }
            self.keys.copy_within(moved, at * n);
        }
        self.keys.truncate(last * n);
    }
}

/// True when arena key `at` (of `n` compact words at flow-key words `words`) equals the
/// already-masked key `masked`.
fn stored_key_is(
    keys: &[u64],
    words: &[u8; MAX_WORDS],
    bits: &[u64; MAX_WORDS],
    n: usize,
    at: u32,
    masked: &FlowKey,
) -> bool {
    let start = at as usize * n;
    keys[start..start + n]
        .iter()
        .zip(words[..n].iter().zip(&bits[..n]))
        .all(|(&s, (&w, &m))| masked.words[usize::from(w)] & m == s)
}

/// Multiplies to 128 bits and folds the halves together: every input bit reaches many
/// output bits, at both ends (hashbrown takes its 7-bit tags from the top and its index from
/// the bottom).
#[inline(always)]
pub(crate) fn fold_mul(x: u64, k: u64) -> u64 {
    let p = u128::from(x) * u128::from(k);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Turns a sum of lanes into a hash.
#[inline(always)]
fn finish(acc: u64) -> u64 {
    fold_mul(acc ^ 0x243f_6a88_85a3_08d3, 0x9e37_79b9_7f4a_7c15)
}
