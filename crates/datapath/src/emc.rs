//! The exact-match cache: a fixed array of slots, each holding a full flow key and the handle
//! of the megaflow that key hit.
//!
//! A packet's key hashes to one slot; a hit needs the whole key to be equal, so it costs one
//! hash and one 344-byte compare, against a megaflow lookup's probe per mask. The array is
//! allocated once; inserting overwrites the slot (no chaining, no allocation). Entries are
//! never invalidated explicitly: a megaflow handle carries a generation, so once the
//! megaflow is removed (flush, revalidation) the handle stops resolving and the slot is a
//! miss.
//!
//! # The hash
//!
//! The hash only picks the slot (UDP tunnels' source ports have a hash of their own, over
//! the inner connection's fields); a hit is decided by comparing every word of the key. So
//! no choice of hash can make the cache return a wrong megaflow: a poor hash only costs
//! misses. That frees the hash to be cheap:
//!
//! - **Only the words extraction writes** ([`HASHED_WORDS`], 24 of the key's 43). A key
//!   the datapath looks up always comes from `fvs_flow::extract::extract`, which sets
//!   `in_port`, the tunnel fields (`tun_id`, `tun_src`/`tun_dst` and their IPv6 words,
//!   `tun_flags`, the GBP word) and the packet's L2 to L4 headers. The other 19 words
//!   (registers, `metadata`, conntrack, `packet_type`, ...) are only ever written by the
//!   pipeline's translation, on its own copy, so in the datapath's keys they are always
//!   zero and hashing them only burnt cycles. A test extracts frames of every kind with
//!   random contents and checks that nothing lands outside these words; should extraction
//!   one day fill another word without this list following, keys differing only there
//!   would share a slot (more misses), never a megaflow.
//! - **No chain of dependent multiplies.** The previous hash folded all 43 words one after
//!   another through a multiply, so each word waited for the last (about five cycles a
//!   word). Now the words go in pairs, each pair through one 64×64→128-bit multiply of the
//!   two words (each xored with its own constant) whose halves are xored together; the
//!   pairs' products do not depend on each other, so the CPU runs them side by side, and
//!   one more such multiply at the end mixes the xor of all of them so the low bits used
//!   as the slot index depend on every hashed bit. The per-position constants keep equal
//!   values in different fields (a MAC in `eth_src` or `eth_dst`) apart.
//!
//! The cost of the multiply-of-a-pair shape: if a word equals its constant exactly, its
//! pair's product is zero whatever the other word holds, so keys differing only in that
//! other word share a slot. The constants are arbitrary odd 64-bit values no header field
//! takes in real traffic; a sender who crafts such packets on purpose gets its own flows
//! thrashing one slot, which it could do anyway by sending many flows. The hash is not
//! keyed; the exact-match cache is a speed-up with a bounded worst case (the megaflow
//! lookup), not a defence.
//!
//! `benches/emc_hash.rs` measures this hash against the previous one in one run;
//! `docs/benchmarks/datapath.md` has the figures.

use fvs_classifier::RuleId;
use fvs_flow::FlowKey;
use fvs_flow::key::word;

/// Number of slots; a power of two (the hash is masked).
pub const EMC_SLOTS: usize = 8192;

/// The key words extraction can write (see the module docs), the ones the hash reads: 24
/// words, 12 pairs.
pub const HASHED_WORDS: [usize; 24] = [
    word::TUN_ID as usize,
    word::TUN_IPV4 as usize,
    word::PORT_MARK as usize,
    word::CT_ZONE_CONJ as usize, // tun_flags
    word::CT_PROTO_GBP as usize, // tun_gbp_id, tun_gbp_flags
    word::TUN_IPV6_SRC as usize,
    word::TUN_IPV6_SRC as usize + 1,
    word::TUN_IPV6_DST as usize,
    word::TUN_IPV6_DST as usize + 1,
    word::ETH_SRC_VLAN as usize,
    word::ETH_DST_TYPE as usize,
    word::MPLS as usize,
    word::NW_ADDRS as usize,
    word::IPV6_SRC as usize,
    word::IPV6_SRC as usize + 1,
    word::IPV6_DST as usize,
    word::IPV6_DST as usize + 1,
    word::NW_MISC as usize,
    word::ARP_SHA as usize,
    word::ARP_THA as usize,
    word::ND_TARGET as usize,
    word::ND_TARGET as usize + 1,
    word::TP as usize,
    word::ND_EXTRA as usize,
];

/// One constant per hashed word, and one for the final mix: arbitrary odd values with
/// about half their bits set.
const SECRETS: [u64; 25] = [
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
    0x1d8e_4e27_c47d_124f,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
    0x9e37_79b1_85eb_ca87,
    0x85eb_ca77_c2b2_ae63,
    0xff51_afd7_ed55_8ccd,
    0xc4ce_b9fe_1a85_ec53,
    0x87c3_7b91_1142_53d5,
    0x4cf5_ad43_2745_937f,
    0x52dc_e729_da3e_d7b9,
    0x38b3_4ae5_a1e3_8b93,
    0xbf58_476d_1ce4_e5b9,
    0x94d0_49bb_1331_11eb,
    0x2545_f491_4f6c_dd1d,
    0x6a09_e667_f3bc_c909,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
];

// The hash takes the words in pairs and needs one constant per word plus one.
const _: () =
    assert!(HASHED_WORDS.len().is_multiple_of(2) && SECRETS.len() == HASHED_WORDS.len() + 1);

/// The exact-match cache.
pub(crate) struct Emc {
    slots: Box<[Option<(FlowKey, RuleId)>]>,
}

/// The 128-bit product of `a` and `b`, its halves xored: every bit of either input moves
/// bits all over the result.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hash of an extracted key: see the module docs for what it reads and why it is
/// shaped so.
#[inline]
pub fn hash_key(k: &FlowKey) -> u64 {
    let w = |i: usize| k.words[HASHED_WORDS[i]] ^ SECRETS[i];
    // The pairs' products are independent of each other, so they overlap in the CPU.
    let mut h = 0;
    for i in (0..HASHED_WORDS.len()).step_by(2) {
        h ^= fold_mul(w(i), w(i + 1));
    }
    fold_mul(h ^ SECRETS[HASHED_WORDS.len()], SECRETS[0])
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

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_flow::PortNo;
    use fvs_flow::extract::extract;
    use fvs_packet::tunnel::{TunnelFlags, TunnelMetadata, TunnelProtocol};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// A frame that parses as deep as its kind goes, every field random: Ethernet
    /// (optionally one VLAN tag), then IPv4 or IPv6 with TCP, UDP, SCTP, ICMP, IGMP,
    /// ICMPv6 neighbour discovery (with link-layer options), ARP, MPLS, 802.3 with
    /// LLC/SNAP, or any EtherType.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; 12]>(),
            any::<Option<u16>>(),
            0u8..6,
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 120),
        )
            .prop_map(|(macs, tag, kind, proto_pick, r)| {
                let mut f = macs.to_vec();
                if let Some(tci) = tag {
                    f.extend_from_slice(&[0x81, 0x00]);
                    f.extend_from_slice(&tci.to_be_bytes());
                }
                let l4 = |f: &mut Vec<u8>, proto: u8, r: &[u8]| {
                    let start = f.len();
                    f.extend_from_slice(&r[..48]);
                    match proto {
                        // TCP: data offset 5 words.
                        6 => f[start + 12] = 0x50 | (r[0] & 0x0f),
                        // Neighbour solicitation or advertisement, code 0, then a target
                        // and one source and one target link-layer address option.
                        58 => {
                            f[start] = 135 + (r[1] & 1);
                            f[start + 1] = 0;
                            f[start + 24..start + 26].copy_from_slice(&[1, 1]);
                            f[start + 32..start + 34].copy_from_slice(&[2, 1]);
                            f.truncate(start + 40);
                        }
                        _ => {}
                    }
                    f.len() - start
                };
                let protos = [6u8, 17, 132, 1, 2, 58];
                let proto = protos[usize::from(proto_pick) % protos.len()];
                match kind {
                    0 => {
                        f.extend_from_slice(&[0x08, 0x00]);
                        let ip = f.len();
                        f.extend_from_slice(&r[48..68]);
                        f[ip] = 0x45;
                        // Mostly whole datagrams, sometimes a fragment.
                        f[ip + 6] &= 0x3f;
                        if r[70] & 3 != 0 {
                            f[ip + 6] = 0;
                            f[ip + 7] = 0;
                        }
                        f[ip + 9] = proto;
                        let n = l4(&mut f, proto, &r[72..]);
                        let total = (20 + n) as u16;
                        f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
                    }
                    1 => {
                        f.extend_from_slice(&[0x86, 0xdd]);
                        let ip = f.len();
                        f.extend_from_slice(&r[..40]);
                        f[ip] = 0x60 | (r[0] & 0x0f);
                        f[ip + 6] = proto;
                        let n = l4(&mut f, proto, &r[40..]);
                        f[ip + 4..ip + 6].copy_from_slice(&(n as u16).to_be_bytes());
                    }
                    2 => {
                        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0]);
                        f.push(r[0]);
                        f.extend_from_slice(&r[1..21]);
                    }
                    3 => {
                        f.extend_from_slice(&[0x88, 0x47]);
                        f.extend_from_slice(&r[..8]);
                    }
                    4 => {
                        f.extend_from_slice(&[0x00, 0x40, 0xaa, 0xaa, 0x03, 0, 0, 0]);
                        f.extend_from_slice(&r[..60]);
                    }
                    _ => f.extend_from_slice(&r),
                }
                f
            })
    }

    fn tunnel() -> impl Strategy<Value = Option<TunnelMetadata>> {
        proptest::option::of(
            any::<(u64, u32, u32, u16)>().prop_map(|(id, src, dst, flags)| TunnelMetadata {
                protocol: TunnelProtocol::Geneve,
                tun_id: id,
                src: Ipv4Addr::from_bits(src).into(),
                dst: Ipv4Addr::from_bits(dst).into(),
                tos: 0,
                ttl: 64,
                flags: TunnelFlags(flags),
                udp_src: 0,
                udp_dst: 6081,
                geneve_options: Vec::new(),
            }),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The hash may skip words only because extraction never writes them.
        #[test]
        fn extraction_writes_only_hashed_words(
            f in frame(),
            port in any::<u32>(),
            t in tunnel(),
        ) {
            let k = extract(&f, PortNo(port), t.as_ref());
            for (i, w) in k.words.iter().enumerate() {
                prop_assert!(
                    *w == 0 || HASHED_WORDS.contains(&i),
                    "extraction wrote word {i} ({w:#x}), which the hash skips; key {k:?}"
                );
            }
        }

        /// Flipping any one bit of a hashed word moves the key to another slot nearly
        /// always, and never leaves the whole hash unchanged.
        #[test]
        fn every_hashed_bit_reaches_the_hash(
            f in frame(),
            t in tunnel(),
            pick in any::<(usize, u32)>(),
        ) {
            let k = extract(&f, PortNo(1), t.as_ref());
            let mut other = k;
            let word = HASHED_WORDS[pick.0 % HASHED_WORDS.len()];
            other.words[word] ^= 1 << (pick.1 % 64);
            prop_assert_ne!(hash_key(&k), hash_key(&other));
        }
    }

    /// The frames above reach every word extraction can write (so the first property
    /// checks them all), except the GBP and IPv6 tunnel words, which extraction does not
    /// fill yet.
    #[test]
    fn the_frames_reach_every_word_extraction_writes() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut seen = [false; fvs_flow::key::FLOW_WORDS];
        let strategy = (frame(), tunnel());
        for _ in 0..3000 {
            let Ok(tree) = strategy.new_tree(&mut runner) else {
                panic!("the frame strategy cannot make a value");
            };
            let (f, t) = tree.current();
            let k = extract(&f, PortNo(7), t.as_ref());
            for (i, w) in k.words.iter().enumerate() {
                seen[i] |= *w != 0;
            }
        }
        let not_yet = [
            word::CT_PROTO_GBP as usize,
            word::TUN_IPV6_SRC as usize,
            word::TUN_IPV6_SRC as usize + 1,
            word::TUN_IPV6_DST as usize,
            word::TUN_IPV6_DST as usize + 1,
        ];
        for i in HASHED_WORDS.into_iter().filter(|i| !not_yet.contains(i)) {
            assert!(seen[i], "no generated frame set word {i}");
        }
    }

    /// Keys that differ in one field spread over the slots about evenly: 65536 UDP
    /// source ports into 8192 slots fill nearly all of them (a uniform hash leaves
    /// e^-8, about 0.03 %, empty).
    #[test]
    fn one_varying_field_spreads_over_the_slots() {
        let mut used = vec![false; EMC_SLOTS];
        let base = extract(
            &{
                let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
                f.extend_from_slice(&[0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0]);
                f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 53, 0, 8, 0, 0]);
                f
            },
            PortNo(1),
            None,
        );
        let tp = fvs_flow::Field::TcpSrc.loc();
        for port in 0..=u16::MAX {
            let mut k = base;
            k.set(tp, u128::from(port));
            used[Emc::slot(hash_key(&k))] = true;
        }
        let empty = used.iter().filter(|u| !**u).count();
        assert!(empty < 40, "{empty} of {EMC_SLOTS} slots never used");
    }
}
