//! Classifier lookup throughput, in the shape of Open vSwitch's own classifier benchmark
//! (`ovstest test-classifier benchmark <rules> 1 <subtables> 1 2000000`), so the figures can
//! be set beside it.
//!
//! The workload: thirteen fields over all four stages (tunnel id, metadata, in_port; VLAN,
//! EtherType, both MACs; both IPv4 addresses, IP protocol, DSCP; both L4 ports), each drawing
//! from two values. A rule picks one of the case's masks and a random value per field; an
//! identical rule already present is skipped, as the original does, so "100k rules" is at
//! most 2¹³ distinct ones per mask. Every rule has priority 0. Lookups draw packets at random
//! from 16 384 pregenerated ones over the same value space.
//!
//! Masks: with one mask, every rule matches all thirteen fields. That is what the OVS 3.1
//! benchmark actually runs whatever its `<subtables>` argument says (its rule maker sets
//! every field's mask), so the `*_1_masks` cases are the like-for-like comparison. With 8
//! or 32 masks, each mask matches a distinct random subset of the fields: the many-subtable
//! case the OVS tool was meant to measure.
//!
//! Each case name is `<rules>_rules_<masks>_masks/<no_wc|wc>`; throughput is in lookups.
//! The one-mask cases also run `wc_no_prefix_sets`: wildcard tracking with the address prefix
//! sets turned off, to show what their narrower un-wildcarding costs.
//! The hit rate of each case is printed once while setting up.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fvs_classifier::Classifier;
use fvs_flow::{Field, FlowKey};

/// The benchmark's fields and their two values each.
const FIELDS: [(Field, [u128; 2]); 13] = [
    (Field::TunId, [0, 0x1234_5678_9abc_def0]),
    (Field::Metadata, [0, 0x0f0e_0d0c_0b0a_0908]),
    (Field::Ipv4Src, [0x0a0b_0001, 0xac10_2233]),
    (Field::Ipv4Dst, [0x0a0b_0002, 0xac10_2233]),
    (Field::InPort, [3, 0xffff_fffe]),
    (Field::VlanTci, [0x1064, 0]),
    (Field::EthType, [0x0800, 0x0806]),
    (Field::TcpSrc, [40000, 443]),
    (Field::TcpDst, [8080, 53]),
    (Field::EthSrc, [0x0200_1122_3344, 0x5e11_2233_4455]),
    (Field::EthDst, [0x0200_aabb_ccdd, 0xffff_ffff_ffff]),
    (Field::IpProto, [6, 1]),
    (Field::IpDscp, [46, 0]),
];

/// Number of distinct packets lookups draw from (twice the value space, as in OVS).
const N_FLOWS: usize = 2 << FIELDS.len();
/// Lookups per timed iteration.
const BATCH: usize = 4096;

/// splitmix64: a small deterministic generator, so every run measures the same tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small; the modulo bias is irrelevant here.
        (self.next() % n as u64) as usize
    }
}

/// The key whose field `i` takes value `(pattern >> i) & 1`, for the fields in `fields`.
fn key_for(fields: u32, pattern: u32) -> (FlowKey, FlowKey) {
    let mut key = FlowKey::ZERO;
    let mut mask = FlowKey::ZERO;
    for (i, (field, values)) in FIELDS.iter().enumerate() {
        if fields & (1 << i) != 0 {
            key.set(field.loc(), values[((pattern >> i) & 1) as usize]);
            mask = mask.or(&field.loc().full_mask());
        }
    }
    (key, mask)
}

/// A loaded classifier and the packets to look up.
struct Case {
    cls: Classifier<u32>,
    flows: Vec<FlowKey>,
    order: Vec<u16>,
}

fn build(n_rules: usize, n_masks: usize, prefix_sets: bool) -> Case {
    let mut rng = Rng(1);
    let all = (1u32 << FIELDS.len()) - 1;
    let mut masks: Vec<u32> = Vec::new();
    if n_masks == 1 {
        masks.push(all);
    }
    while masks.len() < n_masks {
        let m = (rng.next() as u32) & all;
        if m != 0 && !masks.contains(&m) {
            masks.push(m);
        }
    }
    let mut cls = if prefix_sets {
        Classifier::new()
    } else {
        Classifier::with_prefix_fields(&[])
    };
    for i in 0..n_rules {
        let fields = masks[rng.below(masks.len())];
        let (key, mask) = key_for(fields, rng.next() as u32);
        if cls.find_exact(&key, &mask, 0).is_none() {
            cls.insert(key, mask, 0, i as u32);
        }
    }
    let flows: Vec<FlowKey> = (0..N_FLOWS)
        .map(|_| key_for(all, rng.next() as u32).0)
        .collect();
    let order = (0..BATCH).map(|_| rng.below(N_FLOWS) as u16).collect();
    Case { cls, flows, order }
}

fn lookups(c: &mut Criterion) {
    for n_rules in [1_000, 10_000, 100_000] {
        for n_masks in [1, 8, 32] {
            let case = build(n_rules, n_masks, true);
            let hits = case
                .order
                .iter()
                .filter(|&&i| case.cls.lookup(&case.flows[usize::from(i)]).is_some())
                .count();
            let name = format!("{}k_rules_{n_masks}_masks", n_rules / 1000);
            eprintln!(
                "{name}: {} distinct rules in {} subtables, {:.1}% of lookups hit",
                case.cls.len(),
                case.cls.n_subtables(),
                100.0 * hits as f64 / BATCH as f64
            );
            let mut group = c.benchmark_group(&name);
            group.throughput(Throughput::Elements(BATCH as u64));
            group.bench_function("no_wc", |b| {
                b.iter(|| {
                    let mut n = 0u32;
                    for &i in &case.order {
                        let flow = &case.flows[usize::from(i)];
                        n += u32::from(case.cls.lookup(black_box(flow)).is_some());
                    }
                    n
                });
            });
            group.bench_function("wc", |b| {
                b.iter(|| {
                    let mut n = 0u32;
                    for &i in &case.order {
                        let flow = &case.flows[usize::from(i)];
                        let mut wc = FlowKey::ZERO;
                        n += u32::from(case.cls.lookup_wc(black_box(flow), &mut wc).is_some());
                        black_box(&wc);
                    }
                    n
                });
            });
            if n_masks == 1 {
                // What the narrower address un-wildcarding of prefix sets costs.
                let plain = build(n_rules, n_masks, false);
                group.bench_function("wc_no_prefix_sets", |b| {
                    b.iter(|| {
                        let mut n = 0u32;
                        for &i in &plain.order {
                            let flow = &plain.flows[usize::from(i)];
                            let mut wc = FlowKey::ZERO;
                            n += u32::from(plain.cls.lookup_wc(black_box(flow), &mut wc).is_some());
                            black_box(&wc);
                        }
                        n
                    });
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = lookups
}
criterion_main!(benches);
