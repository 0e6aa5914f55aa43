//! Finds the highest-priority rule matching a flow and reports which bits it looked at.
//!
//! # What it does
//!
//! A [`Classifier`] holds rules: a key, a mask (both [`FlowKey`]s, 1 = significant bit), a
//! priority and a value. A flow matches a rule when `flow & mask == key & mask`.
//! [`Classifier::lookup`] returns the matching rule with the highest priority; among
//! matching rules of equal priority **the one inserted first wins** (inserting an identical
//! rule replaces its value in place and keeps its place). The classifier knows nothing of
//! field meanings: it sees words and the stage boundaries of [`fvs_flow::STAGES`].
//!
//! # Un-wildcarding contract
//!
//! [`Classifier::lookup_wc`] also ORs into a caller-supplied mask `wc` the bits it consulted,
//! with this guarantee: *every key that agrees with the looked-up key on all bits of `wc`
//! gets the same result* (the same rule, or no rule). A datapath can therefore cache the
//! result as a megaflow `key & wc`. Fewer bits means wider megaflows, so lookup consults as
//! few as it can: a subtable that is skipped adds nothing, a subtable whose staged check
//! fails at stage `s` adds only its mask bits of stages `0..=s`, and a miss that an address
//! prefix alone proves adds only the few address bits of the proof.
//!
//! # Design
//!
//! Tuple-space search. Rules are grouped into subtables, one per distinct mask; each is
//! a hash table from masked key to the rules having it, sorted best first. A lookup visits
//! subtables in order of their best rule and stops at the first one whose best rule ranks
//! below the best match so far — it cannot win, and neither can any after it.
//!
//! "Rank" folds priority and insertion order into one number, so the tie-break
//! costs nothing and also prunes: with a single priority, a hit on an early rule still ends
//! the search.
//!
//! Staged lookup (only in [`Classifier::lookup_wc`], where it pays): each subtable hashes
//! its words cumulatively, stage by stage (metadata, L2, L3, L4), and checks a set of the
//! stage hashes present, so a miss is found — and un-wildcarded — at the earliest stage.
//! [`Classifier::lookup`] skips those checks and makes one full probe per subtable.
//!
//! Prefix sets (on the IPv4 and IPv6 addresses by default; see
//! [`Classifier::with_prefix_fields`]): when a subtable matches such a field by prefix and a
//! lookup misses there after consulting it, the miss may be provable from the address alone,
//! from only as many of its top bits as it shares with the nearest rule prefix plus one. Then
//! only those bits are un-wildcarded, instead of every bit consulted so far. This plays the
//! part of OVS's prefix tries, but is kept per subtable (so the proof only has to rule out
//! that subtable's own prefixes) and runs only on misses.
//!
//! Handles ([`RuleId`]) index a slab of rules with a generation count, so a stale handle is
//! refused instead of reaching a newer rule in the same slot.
//!
//! # Versions and concurrency
//!
//! There is no internal locking and no versioning yet: writers take `&mut self`, readers
//! `&self`. A `Classifier<T: Clone>` is `Clone`, so a writer can build a new one and publish
//! it whole (for example through `arc-swap`). Per-subtable `Arc`s, so a publication copies
//! only what changed, are the planned next step if copying whole tables proves too slow.
//!
//! # Not yet done
//!
//! Conjunctive matches; versioned (deferred-visibility) rules.

mod filter;
pub mod linear;
mod prefix;
mod rank;
mod subtable;

use fvs_flow::{Field, FlowKey, Loc};
use hashbrown::HashMap;

use crate::rank::Rank;
use crate::subtable::{Member, Subtable};

/// The fields [`Classifier::new`] keeps prefix sets for.
pub const DEFAULT_PREFIX_FIELDS: [Field; 4] = [
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
];

/// A stable handle on a rule: valid until the rule is removed, and not valid after that
/// (a slot's generation count would have to wrap, after 2³² reuses of that one slot, for an
/// old handle to reach a new rule). Its ordering means nothing beyond being total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId {
    /// Slot in the classifier's rule slab.
    slot: u32,
    /// Generation of the slot when the rule was put there.
    generation: u32,
}

/// A priority classifier over flow keys, with un-wildcarding.
#[derive(Clone, Debug)]
pub struct Classifier<T> {
    /// Rule slab, indexed by `RuleId::slot`.
    slots: Vec<Slot<T>>,
    /// Slots whose rule was removed, for reuse.
    free_slots: Vec<u32>,
    /// Number of live rules.
    len: usize,
    /// Subtable slab, indexed by subtable id; `None` for a freed id.
    subtables: Vec<Option<Subtable>>,
    /// Freed subtable ids, for reuse.
    free_subtables: Vec<u32>,
    /// Live subtable ids with their best rank, best first: the order lookup visits them in.
    /// Kept next to the rank so the pruning test reads one contiguous array.
    order: Vec<(Rank, u32)>,
    /// Subtable id for each mask in use.
    by_mask: HashMap<FlowKey, u32>,
    /// Insertion counter for ranks; never reused.
    next_seq: u64,
    /// Fields whose prefix matches get prefix sets, for narrower un-wildcarding.
    prefix_fields: Vec<Loc>,
    /// Seed of the subtables' key hashes, random per classifier so that a rule set cannot be
    /// chosen in advance to make every key collide.
    seed: u64,
}

/// One slot of the rule slab.
#[derive(Clone, Debug)]
struct Slot<T> {
    /// Bumped whenever the slot's rule is removed, to invalidate old handles.
    generation: u32,
    /// The rule, if the slot is in use.
    rule: Option<Rule<T>>,
}

/// A rule as the classifier stores it.
#[derive(Clone, Debug)]
struct Rule<T> {
    /// The key, masked by the subtable's mask.
    key: FlowKey,
    /// The priority given at insertion.
    priority: u32,
    /// Id of the subtable holding the rule (its mask lives there).
    subtable: u32,
    /// The caller's value.
    value: T,
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Classifier<T> {
    /// An empty classifier, with prefix sets on the IPv4 and IPv6 source and destination
    /// addresses.
    pub fn new() -> Self {
        Self::with_prefix_fields(&DEFAULT_PREFIX_FIELDS.map(Field::loc))
    }

    /// An empty classifier whose un-wildcarding treats the fields at `prefix_fields`
    /// specially when rules match them by prefix (see the crate docs).
    pub fn with_prefix_fields(prefix_fields: &[Loc]) -> Self {
        use std::hash::BuildHasher;
        let seed = std::hash::RandomState::new().hash_one(0x5eed_u64);
        Self {
            slots: Vec::new(),
            free_slots: Vec::new(),
            len: 0,
            subtables: Vec::new(),
            free_subtables: Vec::new(),
            order: Vec::new(),
            by_mask: HashMap::new(),
            next_seq: 0,
            prefix_fields: prefix_fields.to_vec(),
            seed,
        }
    }

    /// Adds a rule and returns its handle. `key` is masked by `mask` first.
    ///
    /// If an identical rule (same masked key, mask and priority) exists, its value is
    /// replaced instead, and it keeps its handle and its place in the insertion order; use
    /// [`Self::replace`] to get the old value back.
    pub fn insert(&mut self, key: FlowKey, mask: FlowKey, priority: u32, value: T) -> RuleId {
        self.replace(key, mask, priority, value).0
    }

    /// As [`Self::insert`], also returning the value of the identical rule it replaced.
    pub fn replace(
        &mut self,
        key: FlowKey,
        mask: FlowKey,
        priority: u32,
        value: T,
    ) -> (RuleId, Option<T>) {
        let key = key.and(&mask);
        if let Some(id) = self.find_exact(&key, &mask, priority)
            && let Some(old) = self.get_mut(id)
        {
            return (id, Some(std::mem::replace(old, value)));
        }

        let seq = self.next_seq;
        self.next_seq += 1;
        let rank = Rank::new(priority, seq);
        let st_id = self.subtable_for(mask);
        let slot = self.alloc_slot(Rule {
            key,
            priority,
            subtable: st_id,
            value,
        });
        if let Some(st) = self.subtable_mut(st_id) {
            let before = st.max_rank();
            st.insert(&key, Member { rank, slot });
            if st.max_rank() != before {
                self.reorder(st_id);
            }
        }
        self.len += 1;
        let generation = self.slots[slot as usize].generation;
        (RuleId { slot, generation }, None)
    }

    /// Removes a rule, returning its value; `None` if the handle is stale.
    pub fn remove(&mut self, id: RuleId) -> Option<T> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let rule = slot.rule.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free_slots.push(id.slot);
        self.len -= 1;

        let st_id = rule.subtable;
        if let Some(st) = self.subtable_mut(st_id) {
            let before = st.max_rank();
            let removed = st.remove(&rule.key, id.slot);
            debug_assert!(removed, "rule missing from its subtable");
            if st.is_empty() {
                self.drop_subtable(st_id);
            } else if st.max_rank() != before {
                self.reorder(st_id);
            }
        }
        Some(rule.value)
    }

    /// The value of a rule.
    pub fn get_mut(&mut self, id: RuleId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.rule.as_mut().map(|r| &mut r.value)
    }

    /// The value of a rule.
    pub fn get(&self, id: RuleId) -> Option<&T> {
        self.rule(id).map(|r| &r.value)
    }

    /// The rule with exactly this match (`key` under `mask`, same `mask`) and priority.
    pub fn find_exact(&self, key: &FlowKey, mask: &FlowKey, priority: u32) -> Option<RuleId> {
        let st = self.subtable(*self.by_mask.get(mask)?)?;
        let masked = key.and(mask);
        st.members(&masked).iter().find_map(|m| {
            let slot = &self.slots[m.slot as usize];
            let rule = slot.rule.as_ref()?;
            (rule.priority == priority).then_some(RuleId {
                slot: m.slot,
                generation: slot.generation,
            })
        })
    }

    /// The highest-priority rule matching `key` (earliest inserted among equals).
    pub fn lookup(&self, key: &FlowKey) -> Option<(RuleId, &T)> {
        let mut best: Option<Member> = None;
        let mut best_rank = Rank::NONE;
        for &(max, id) in &self.order {
            // Ranks are unique, and `order` is sorted by best rank: once a subtable's best
            // cannot beat the current match, no later subtable can either.
            if max <= best_rank {
                break;
            }
            if let Some(st) = self.subtable(id)
                && let Some(m) = st.lookup(key)
                && m.rank > best_rank
            {
                best_rank = m.rank;
                best = Some(m);
            }
        }
        best.and_then(|m| self.resolve(m))
    }

    /// As [`Self::lookup`], also OR-ing into `wc` the bits consulted: every key agreeing with
    /// `key` on the bits of `wc` (after the call) gets the same result.
    pub fn lookup_wc(&self, key: &FlowKey, wc: &mut FlowKey) -> Option<(RuleId, &T)> {
        let mut best: Option<Member> = None;
        let mut best_rank = Rank::NONE;
        for &(max, id) in &self.order {
            // Skipped subtables add no bits: whatever a key does in them, it cannot win.
            if max <= best_rank {
                break;
            }
            if let Some(st) = self.subtable(id)
                && let Some(m) = st.lookup_wc(key, wc)
                && m.rank > best_rank
            {
                best_rank = m.rank;
                best = Some(m);
            }
        }
        best.and_then(|m| self.resolve(m))
    }

    /// Every rule as `(handle, key, mask, priority, value)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (RuleId, &FlowKey, &FlowKey, u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let rule = slot.rule.as_ref()?;
            let st = self.subtable(rule.subtable)?;
            let id = RuleId {
                slot: u32::try_from(i).ok()?,
                generation: slot.generation,
            };
            Some((id, &rule.key, &st.mask, rule.priority, &rule.value))
        })
    }

    /// The match and priority of a rule: `(key, mask, priority)`.
    pub fn rule_match(&self, id: RuleId) -> Option<(&FlowKey, &FlowKey, u32)> {
        let rule = self.rule(id)?;
        let st = self.subtable(rule.subtable)?;
        Some((&rule.key, &st.mask, rule.priority))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of subtables (distinct masks) in use.
    pub fn n_subtables(&self) -> usize {
        self.order.len()
    }

    // ---- helpers ----

    fn rule(&self, id: RuleId) -> Option<&Rule<T>> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.rule.as_ref()
    }

    /// Handle and value of a lookup result.
    fn resolve(&self, m: Member) -> Option<(RuleId, &T)> {
        let slot = self.slots.get(m.slot as usize)?;
        let rule = slot.rule.as_ref()?;
        Some((
            RuleId {
                slot: m.slot,
                generation: slot.generation,
            },
            &rule.value,
        ))
    }

    fn subtable(&self, id: u32) -> Option<&Subtable> {
        self.subtables.get(id as usize)?.as_ref()
    }

    fn subtable_mut(&mut self, id: u32) -> Option<&mut Subtable> {
        self.subtables.get_mut(id as usize)?.as_mut()
    }

    /// The id of the subtable for `mask`, creating an (empty, unordered) one if needed; the
    /// caller's insertion then puts it into `order`.
    fn subtable_for(&mut self, mask: FlowKey) -> u32 {
        if let Some(&id) = self.by_mask.get(&mask) {
            return id;
        }
        let st = Subtable::new(mask, self.seed, &self.prefix_fields);
        let id = match self.free_subtables.pop() {
            Some(id) => {
                self.subtables[id as usize] = Some(st);
                id
            }
            None => {
                self.subtables.push(Some(st));
                index_u32(self.subtables.len() - 1)
            }
        };
        self.by_mask.insert(mask, id);
        id
    }

    /// Puts subtable `id` at the place its current best rank calls for in `order`.
    fn reorder(&mut self, id: u32) {
        if let Some(at) = self.order.iter().position(|&(_, i)| i == id) {
            self.order.remove(at);
        }
        let Some(max) = self.subtable(id).map(Subtable::max_rank) else {
            return;
        };
        let at = self.order.partition_point(|&(r, _)| r > max);
        self.order.insert(at, (max, id));
    }

    fn drop_subtable(&mut self, id: u32) {
        if let Some(at) = self.order.iter().position(|&(_, i)| i == id) {
            self.order.remove(at);
        }
        if let Some(st) = self.subtables.get_mut(id as usize).and_then(Option::take) {
            self.by_mask.remove(&st.mask);
            self.free_subtables.push(id);
        }
    }

    fn alloc_slot(&mut self, rule: Rule<T>) -> u32 {
        match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize].rule = Some(rule);
                slot
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    rule: Some(rule),
                });
                index_u32(self.slots.len() - 1)
            }
        }
    }
}

/// A slab index as `u32`. Slabs hold at most one entry per rule, and 2³² rules of at least
/// 256 bytes each cannot exist in memory, so the conversion cannot fail in practice; if it
/// ever did, a panic beats silently aliasing another rule.
pub(crate) fn index_u32(i: usize) -> u32 {
    u32::try_from(i).expect("more than 2^32 rules")
}

#[cfg(test)]
mod tests;
