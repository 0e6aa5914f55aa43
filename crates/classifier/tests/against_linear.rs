//! Property tests: the classifier against the linear-scan model.
//!
//! Rules use a handful of realistic mask shapes spread over all four stages (port and
//! register matches, MAC and EtherType, address prefixes, L4 ports with partial masks), and
//! draw every field from a tiny pool of values so that rules overlap, share masked keys and
//! tie on priority. Packets draw from the same pools plus one value no rule uses. After a
//! random sequence of inserts and removals, for every packet:
//!
//! - `lookup` and `lookup_wc` pick the same rule as the model (same priority, and the same
//!   tie-break: earliest inserted);
//! - the reported `wc` only holds bits some mask has, and it is sufficient: keys that agree
//!   with the packet on `wc` but take other pool values (or random bits) elsewhere get the
//!   same answer, from the classifier and from the model.

use std::collections::HashSet;

use fvs_classifier::linear::LinearClassifier;
use fvs_classifier::{Classifier, RuleId};
use fvs_flow::key::word;
use fvs_flow::{Field, FlowKey};
use proptest::prelude::*;

/// The fields rules match on, each with its pool of values.
const POOLS: &[(Field, &[u128])] = &[
    (Field::TunId, &[0, 0x64]),
    (Field::Reg0, &[0, 5]),
    (Field::InPort, &[1, 2, 3]),
    (
        Field::EthDst,
        &[0x02aa_0000_0001, 0x02aa_0000_0002, 0xffff_ffff_ffff],
    ),
    (Field::VlanTci, &[0, 0x1005]),
    (Field::EthType, &[0x0800, 0x0806]),
    (Field::Ipv4Src, &[0x0a00_0001, 0x0a00_0101, 0x0a01_0001]),
    (Field::Ipv4Dst, &[0x0a00_0002, 0x0a00_0102, 0xc0a8_0002]),
    (Field::IpProto, &[6, 17]),
    (Field::TcpDst, &[22, 80, 0x50aa]),
    (
        Field::Ipv6Src,
        &[
            0x2001_0db8_0000_0001_0000_0000_0000_0001,
            0x2001_0db8_0000_0002_0000_0000_0000_0001,
            0x2001_0db8_0000_0001_8000_0000_0000_0001,
        ],
    ),
    (
        Field::Ipv6Dst,
        &[
            0xfe80_0000_0000_0000_0000_0000_0000_0001,
            0xfe80_0000_0000_0000_0000_0000_1000_0001,
            0xfe80_0000_0000_0000_0000_0000_1000_0002,
        ],
    ),
];

/// Index of a field in `POOLS`.
fn pool(field: Field) -> usize {
    POOLS
        .iter()
        .position(|(f, _)| *f == field)
        .expect("field has a pool")
}

/// Mask shapes: `(field, mask bits within the field)`; `u128::MAX` = whole field.
const SHAPES: &[&[(Field, u128)]] = &[
    &[],
    &[(Field::InPort, u128::MAX)],
    &[(Field::InPort, u128::MAX), (Field::EthDst, u128::MAX)],
    &[(Field::EthType, u128::MAX), (Field::Ipv4Src, 0xffff_ff00)],
    &[(Field::EthType, u128::MAX), (Field::Ipv4Src, 0xffff_0000)],
    &[
        (Field::EthType, u128::MAX),
        (Field::Ipv4Dst, u128::MAX),
        (Field::IpProto, u128::MAX),
        (Field::TcpDst, u128::MAX),
    ],
    &[
        (Field::InPort, u128::MAX),
        (Field::VlanTci, u128::MAX),
        (Field::EthType, u128::MAX),
    ],
    &[(Field::TunId, u128::MAX), (Field::EthDst, u128::MAX)],
    &[
        (Field::Reg0, u128::MAX),
        (Field::InPort, u128::MAX),
        (Field::EthType, u128::MAX),
        (Field::IpProto, u128::MAX),
        (Field::TcpDst, 0xff00),
    ],
    &[(Field::Ipv4Src, 0xff00_0000), (Field::Ipv4Dst, 0xff00_0000)],
    &[
        (Field::InPort, u128::MAX),
        (Field::EthType, u128::MAX),
        (Field::Ipv4Src, u128::MAX),
        (Field::Ipv4Dst, 0xffff_ff00),
        (Field::IpProto, u128::MAX),
        (Field::TcpDst, u128::MAX),
    ],
    &[(Field::TcpDst, u128::MAX)],
    &[
        (Field::EthType, u128::MAX),
        (Field::Ipv6Src, u128::MAX << 64),
    ],
    &[
        (Field::EthType, u128::MAX),
        (Field::Ipv6Src, u128::MAX << 80),
        (Field::Ipv6Dst, u128::MAX << 28),
        (Field::TcpDst, u128::MAX),
    ],
    &[(Field::InPort, u128::MAX), (Field::Ipv6Dst, u128::MAX)],
];

const PRIORITIES: &[u32] = &[0, 1, 2, 3, 100];

/// A rule as generated: shape, a value pick per pool, priority.
#[derive(Clone, Debug)]
struct RuleSpec {
    shape: usize,
    picks: Vec<usize>,
    priority: u32,
}

impl RuleSpec {
    fn key_and_mask(&self) -> (FlowKey, FlowKey) {
        let mut key = FlowKey::ZERO;
        let mut mask = FlowKey::ZERO;
        for &(field, bits) in SHAPES[self.shape] {
            let p = pool(field);
            let values = POOLS[p].1;
            let mut m = FlowKey::ZERO;
            m.set(field.loc(), bits);
            mask = mask.or(&m);
            let mut k = FlowKey::ZERO;
            k.set(field.loc(), values[self.picks[p] % values.len()]);
            key = key.or(&k.and(&m));
        }
        // Deliberately unmasked noise: insert must mask it away.
        key.words[usize::from(word::ARP_SHA)] |= 0xdead_beef;
        (key, mask)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(RuleSpec),
    /// Remove the n-th inserted rule (modulo the count), if still there.
    Remove(usize),
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0..SHAPES.len(),
        proptest::collection::vec(0usize..3, POOLS.len()),
        proptest::sample::select(PRIORITIES),
    )
        .prop_map(|(shape, picks, priority)| RuleSpec {
            shape,
            picks,
            priority,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => rule_spec().prop_map(Op::Insert),
        1 => any::<usize>().prop_map(Op::Remove),
    ]
}

/// A packet: per pool a pick (one past the pool = a value no rule uses, two past = random
/// bits, which matter for the prefix fields), plus random words elsewhere.
fn packet() -> impl Strategy<Value = FlowKey> {
    (
        proptest::collection::vec(0usize..5, POOLS.len()),
        any::<[u64; 4]>(),
    )
        .prop_map(|(picks, noise)| {
            let mut key = FlowKey::ZERO;
            // Noise in words no pooled field uses (ARP SHA, ND target) and in the spare bits
            // of the L4 word (TCP flags).
            key.words[usize::from(word::ARP_SHA)] = noise[0];
            key.words[usize::from(word::ND_TARGET)] = noise[1];
            key.words[usize::from(word::TP)] = noise[2] & 0xffff_ffff;
            for (p, &(field, values)) in POOLS.iter().enumerate() {
                let v = match values.get(picks[p]) {
                    Some(&v) => v,
                    None if picks[p] == values.len() => 0x0077_0077,
                    None => {
                        let r = noise[3].rotate_left(7 * p as u32);
                        (u128::from(r) << 64) | u128::from(r.rotate_left(17))
                    }
                };
                key.set(field.loc(), v);
            }
            key
        })
}

/// Applies the ops to both classifiers; values are the op's index, unique per insert.
fn build(ops: &[Op]) -> (Classifier<usize>, LinearClassifier<usize>) {
    let mut cls = Classifier::new();
    let mut lin = LinearClassifier::new();
    let mut inserted: Vec<(RuleId, FlowKey, FlowKey, u32)> = Vec::new();
    let mut live: HashSet<RuleId> = HashSet::new();
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Insert(spec) => {
                let (key, mask) = spec.key_and_mask();
                let id = cls.insert(key, mask, spec.priority, n);
                lin.insert(key, mask, spec.priority, n);
                inserted.push((id, key, mask, spec.priority));
                live.insert(id);
            }
            Op::Remove(i) if !inserted.is_empty() => {
                // The handle may be stale (removed before, perhaps re-inserted since under a
                // new handle): then the classifier must refuse it and the model is untouched.
                let (id, key, mask, prio) = inserted[i % inserted.len()];
                let was_live = live.remove(&id);
                let removed = cls.remove(id);
                assert_eq!(removed.is_some(), was_live, "remove of {id:?}");
                if removed.is_some() {
                    assert_eq!(removed, lin.remove(&key, &mask, prio), "remove disagrees");
                }
            }
            Op::Remove(_) => {}
        }
        assert_eq!(cls.len(), lin.len());
    }
    (cls, lin)
}

fn all_masks(cls: &Classifier<usize>) -> FlowKey {
    cls.iter().fold(FlowKey::ZERO, |acc, r| acc.or(r.2))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn same_winner_as_linear_scan_and_sufficient_wc(
        ops in proptest::collection::vec(op(), 1..60),
        packets in proptest::collection::vec(packet(), 1..16),
        others in proptest::collection::vec(packet(), 1..16),
    ) {
        let (cls, lin) = build(&ops);
        let union = all_masks(&cls);
        for p in &packets {
            let want = lin.lookup(p).map(|r| (r.2, *r.3));
            let got = cls.lookup(p).map(|(id, v)| (cls.rule_match(id).map(|m| m.2), *v));
            prop_assert_eq!(got.map(|g| (g.0.unwrap_or(u32::MAX), g.1)), want);

            let mut wc = FlowKey::ZERO;
            let got_wc = cls.lookup_wc(p, &mut wc).map(|(_, v)| *v);
            prop_assert_eq!(got_wc, want.map(|w| w.1));
            prop_assert!(wc.is_subset_of(&union), "wc {:?} beyond masks {:?}", wc, union);

            for o in &others {
                // Agree with `p` on wc, take `o`'s bits everywhere else.
                let mut k = FlowKey::ZERO;
                for w in 0..k.words.len() {
                    k.words[w] = (p.words[w] & wc.words[w]) | (o.words[w] & !wc.words[w]);
                }
                prop_assert_eq!(cls.lookup(&k).map(|(_, v)| *v), got_wc, "classifier, k'={:?} wc={:?}", k, wc);
                prop_assert_eq!(lin.lookup(&k).map(|r| *r.3), got_wc, "model, k'={:?} wc={:?}", k, wc);
            }
        }
    }

    #[test]
    fn find_exact_finds_every_rule_and_iter_agrees_with_len(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let (cls, _) = build(&ops);
        let mut n = 0;
        for (id, key, mask, prio, value) in cls.iter() {
            n += 1;
            prop_assert_eq!(cls.find_exact(key, mask, prio), Some(id));
            prop_assert_eq!(cls.get(id), Some(value));
            prop_assert_eq!(key.and(mask), *key);
        }
        prop_assert_eq!(n, cls.len());
    }
}
