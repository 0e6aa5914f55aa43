//! The flow key: every header and metadata field a rule can match, packed into fixed words.
//!
//! # Layout
//!
//! A [`FlowKey`] is [`FLOW_WORDS`] 64-bit words. Each field owns a fixed bit range
//! ([`Loc`]); a 128-bit field owns two whole words, high half first. Fields that OpenFlow
//! treats as views of one header share storage, exactly as they share bits on the wire:
//! `dl_vlan` and `vlan_pcp` are bit ranges of `vlan_tci`, `arp_spa` is `nw_src`, `arp_op` is
//! `nw_proto`, `icmp_type` is the low byte of `tp_src`, `nd_sll` is `arp_sha`, and register
//! pairs `reg(2k)`/`reg(2k+1)` are the high and low halves of `xreg(k)`.
//!
//! Words are grouped into [`STAGES`] (metadata, L2, L3, L4) so a classifier can look up stage
//! by stage and stop early, un-wildcarding only the stages it consulted.
//!
//! A mask is a `FlowKey` too: a 1 bit means "this bit is significant".

/// Number of 64-bit words in a flow key.
pub const FLOW_WORDS: usize = 43;

/// Word ranges of the lookup stages, in the order a staged classifier consults them:
/// metadata (tunnel, registers, ports, conntrack), L2, L3, L4.
pub const STAGES: [core::ops::Range<usize>; 4] = [0..28, 28..31, 31..41, 41..43];

/// The words of each stage must tile the key exactly.
const _: () = {
    assert!(STAGES[0].start == 0);
    assert!(STAGES[0].end == STAGES[1].start);
    assert!(STAGES[1].end == STAGES[2].start);
    assert!(STAGES[2].end == STAGES[3].start);
    assert!(STAGES[3].end == FLOW_WORDS);
};

/// A flow key, or a mask over one (1 = significant bit).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// The packed fields; see the module docs for the layout.
    pub words: [u64; FLOW_WORDS],
}

impl Default for FlowKey {
    fn default() -> Self {
        Self::ZERO
    }
}

impl core::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FlowKey[")?;
        let mut first = true;
        for (i, w) in self.words.iter().enumerate() {
            if *w != 0 {
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                write!(f, "{i}:{w:#x}")?;
            }
        }
        f.write_str("]")
    }
}

impl FlowKey {
    /// The all-zero key (as a mask: everything wildcarded).
    pub const ZERO: Self = Self {
        words: [0; FLOW_WORDS],
    };
    /// The all-ones mask (every bit significant).
    pub const ALL: Self = Self {
        words: [u64::MAX; FLOW_WORDS],
    };

    /// Reads the field stored at `loc`, right-aligned.
    pub fn get(&self, loc: Loc) -> u128 {
        if loc.bits == 128 {
            let w = loc.word as usize;
            (u128::from(self.words[w]) << 64) | u128::from(self.words[w + 1])
        } else {
            u128::from((self.words[loc.word as usize] >> loc.shift) & low_bits(loc.bits))
        }
    }

    /// Writes `value` (right-aligned, excess high bits ignored) into the field at `loc`.
    pub fn set(&mut self, loc: Loc, value: u128) {
        if loc.bits == 128 {
            let w = loc.word as usize;
            self.words[w] = (value >> 64) as u64;
            self.words[w + 1] = value as u64;
        } else {
            let m = low_bits(loc.bits) << loc.shift;
            let word = &mut self.words[loc.word as usize];
            *word = (*word & !m) | (((value as u64) << loc.shift) & m);
        }
    }

    /// Bitwise AND of two keys: applying a mask.
    #[must_use]
    pub fn and(&self, mask: &Self) -> Self {
        let mut out = *self;
        for (o, m) in out.words.iter_mut().zip(mask.words.iter()) {
            *o &= *m;
        }
        out
    }

    /// Bitwise OR of two keys: the union of two masks.
    #[must_use]
    pub fn or(&self, other: &Self) -> Self {
        let mut out = *self;
        for (o, m) in out.words.iter_mut().zip(other.words.iter()) {
            *o |= *m;
        }
        out
    }

    /// True when every bit set in `self` is also set in `other`.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.words
            .iter()
            .zip(other.words.iter())
            .all(|(a, b)| a & !b == 0)
    }

    /// True when no bit is set.
    pub fn is_zero(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
}

/// A mask with the low `bits` bits set (`bits` ≤ 64).
const fn low_bits(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Where a field lives in a [`FlowKey`]: `bits` bits starting at bit `shift` of word `word`
/// (bit 0 = least significant). A 128-bit field has `shift == 0` and spans `word` (high half)
/// and `word + 1` (low half).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Index of the (first) word.
    pub word: u8,
    /// Bit offset of the field's least significant bit within the word.
    pub shift: u8,
    /// Width in bits: 1..=64, or 128.
    pub bits: u8,
}

impl Loc {
    /// A field of `bits` bits at bit `shift` of word `word`.
    pub const fn new(word: u8, shift: u8, bits: u8) -> Self {
        Self { word, shift, bits }
    }

    /// The all-ones mask for this field, as a key.
    pub fn full_mask(self) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set(self, u128::MAX);
        k
    }
}

/// Word indices of the layout, named so the field registry reads as a map of the key.
pub mod word {
    /// tun_id (64).
    pub const TUN_ID: u8 = 0;
    /// tun_src (high 32) | tun_dst (low 32).
    pub const TUN_IPV4: u8 = 1;
    /// metadata (64).
    pub const METADATA: u8 = 2;
    /// xreg0..xreg7 are words 3..=10; reg(2k) is the high half of xreg(k).
    pub const XREG0: u8 = 3;
    /// in_port (high 32) | pkt_mark (low 32).
    pub const PORT_MARK: u8 = 11;
    /// ct_state (high 32) | ct_mark (low 32).
    pub const CT_STATE_MARK: u8 = 12;
    /// ct_zone (bits 48..64) | tun_flags (bits 32..48) | conj_id (low 32).
    pub const CT_ZONE_CONJ: u8 = 13;
    /// ct_label (128): words 14 and 15.
    pub const CT_LABEL: u8 = 14;
    /// packet_type (high 32: namespace 16 | type 16) | dp_hash (low 32).
    pub const PKT_TYPE_HASH: u8 = 16;
    /// actset_output (high 32) | ct_tp_src (bits 16..32) | ct_tp_dst (low 16).
    pub const ACTSET: u8 = 17;
    /// ct_nw_src (high 32) | ct_nw_dst (low 32).
    pub const CT_NW: u8 = 18;
    /// ct_nw_proto (bits 56..64) | tun_gbp_flags (48..56) | tun_gbp_id (32..48); low 32 spare.
    pub const CT_PROTO_GBP: u8 = 19;
    /// ct_ipv6_src (128): words 20 and 21.
    pub const CT_IPV6_SRC: u8 = 20;
    /// ct_ipv6_dst (128): words 22 and 23.
    pub const CT_IPV6_DST: u8 = 22;
    /// tun_ipv6_src (128): words 24 and 25.
    pub const TUN_IPV6_SRC: u8 = 24;
    /// tun_ipv6_dst (128): words 26 and 27.
    pub const TUN_IPV6_DST: u8 = 26;
    /// eth_src (high 48) | vlan_tci (low 16).
    pub const ETH_SRC_VLAN: u8 = 28;
    /// eth_dst (high 48) | eth_type (low 16).
    pub const ETH_DST_TYPE: u8 = 29;
    /// mpls_lse (high 32: label 20 | tc 3 | bos 1 | ttl 8) | recirc_id (low 32).
    pub const MPLS: u8 = 30;
    /// nw_src / arp_spa (high 32) | nw_dst / arp_tpa (low 32).
    pub const NW_ADDRS: u8 = 31;
    /// ipv6_src (128): words 32 and 33.
    pub const IPV6_SRC: u8 = 32;
    /// ipv6_dst (128): words 34 and 35.
    pub const IPV6_DST: u8 = 34;
    /// ipv6_label (bits 32..52) | nw_proto / arp_op (24..32) | nw_tos (16..24) | nw_ttl (8..16)
    /// | nw_frag (0..8).
    pub const NW_MISC: u8 = 36;
    /// arp_sha / nd_sll (high 48).
    pub const ARP_SHA: u8 = 37;
    /// arp_tha / nd_tll (high 48).
    pub const ARP_THA: u8 = 38;
    /// nd_target (128): words 39 and 40.
    pub const ND_TARGET: u8 = 39;
    /// tp_src (bits 48..64) | tp_dst (32..48) | tcp_flags (16..32).
    pub const TP: u8 = 41;
    /// nd_reserved (high 32) | nd_options_type (bits 24..32).
    pub const ND_EXTRA: u8 = 42;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_get_round_trips_and_leaves_neighbours_alone() {
        let mut k = FlowKey::ZERO;
        let src = Loc::new(word::ETH_SRC_VLAN, 16, 48);
        let tci = Loc::new(word::ETH_SRC_VLAN, 0, 16);
        k.set(tci, 0x1005);
        k.set(src, 0xfa16_3e11_2233);
        assert_eq!(k.get(src), 0xfa16_3e11_2233);
        assert_eq!(k.get(tci), 0x1005);
        k.set(src, u128::MAX);
        assert_eq!(k.get(src), 0xffff_ffff_ffff);
        assert_eq!(k.get(tci), 0x1005);
    }

    #[test]
    fn wide_fields_span_two_words() {
        let mut k = FlowKey::ZERO;
        let v6 = Loc::new(word::IPV6_SRC, 0, 128);
        k.set(v6, 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(k.words[usize::from(word::IPV6_SRC)], 0x2001_0db8_0000_0000);
        assert_eq!(k.words[usize::from(word::IPV6_SRC) + 1], 1);
        assert_eq!(k.get(v6), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
    }
}
