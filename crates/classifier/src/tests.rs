//! Unit tests of the classifier's bookkeeping and of the un-wildcarding it promises; the
//! property tests against the linear model are in `tests/against_linear.rs`.

use fvs_flow::{Field, FlowKey};

use super::*;

/// A key with the given fields set, and the mask that matches exactly those fields.
fn rule(fields: &[(Field, u128)]) -> (FlowKey, FlowKey) {
    let mut key = FlowKey::ZERO;
    let mut mask = FlowKey::ZERO;
    for &(f, v) in fields {
        key.set(f.loc(), v);
        mask.set(f.loc(), u128::MAX);
    }
    (key, mask)
}

/// A packet with the given fields set.
fn packet(fields: &[(Field, u128)]) -> FlowKey {
    rule(fields).0
}

/// The mask covering exactly the given fields.
fn fields_mask(fields: &[Field]) -> FlowKey {
    let mut m = FlowKey::ZERO;
    for f in fields {
        m = m.or(&f.loc().full_mask());
    }
    m
}

#[test]
fn empty_classifier_matches_nothing_and_consults_nothing() {
    let cls: Classifier<()> = Classifier::new();
    let mut wc = FlowKey::ZERO;
    assert!(cls.lookup(&packet(&[(Field::InPort, 1)])).is_none());
    assert!(
        cls.lookup_wc(&packet(&[(Field::InPort, 1)]), &mut wc)
            .is_none()
    );
    assert!(wc.is_zero());
    assert!(cls.is_empty());
}

#[test]
fn insert_masks_the_key_and_lookup_finds_the_rule() {
    let mut cls = Classifier::new();
    let (mut key, mask) = rule(&[(Field::InPort, 7)]);
    // Bits outside the mask must not count.
    key.set(Field::TcpDst.loc(), 80);
    let id = cls.insert(key, mask, 10, "a");
    assert_eq!(cls.len(), 1);
    assert_eq!(cls.get(id), Some(&"a"));
    let (k, m, prio) = cls.rule_match(id).unwrap();
    assert_eq!((*k, *m, prio), (key.and(&mask), mask, 10));

    let hit = cls.lookup(&packet(&[(Field::InPort, 7), (Field::TcpDst, 22)]));
    assert_eq!(hit, Some((id, &"a")));
    assert!(cls.lookup(&packet(&[(Field::InPort, 8)])).is_none());
}

#[test]
fn higher_priority_wins_across_subtables() {
    let mut cls = Classifier::new();
    let (k1, m1) = rule(&[(Field::InPort, 1)]);
    let (k2, m2) = rule(&[(Field::InPort, 1), (Field::EthType, 0x0800)]);
    let low = cls.insert(k1, m1, 1, "low");
    let high = cls.insert(k2, m2, 2, "high");
    let ip = packet(&[(Field::InPort, 1), (Field::EthType, 0x0800)]);
    let arp = packet(&[(Field::InPort, 1), (Field::EthType, 0x0806)]);
    assert_eq!(cls.lookup(&ip).map(|r| r.0), Some(high));
    assert_eq!(cls.lookup(&arp).map(|r| r.0), Some(low));
}

#[test]
fn equal_priorities_go_to_the_rule_inserted_first() {
    let mut cls = Classifier::new();
    let (k1, m1) = rule(&[(Field::InPort, 1)]);
    let (k2, m2) = rule(&[(Field::EthType, 0x0800)]);
    let (k3, m3) = rule(&[(Field::InPort, 1), (Field::EthType, 0x0800)]);
    let first = cls.insert(k1, m1, 5, "first");
    let second = cls.insert(k2, m2, 5, "second");
    let third = cls.insert(k3, m3, 5, "third");
    let p = packet(&[(Field::InPort, 1), (Field::EthType, 0x0800)]);
    assert_eq!(cls.lookup(&p).map(|r| r.0), Some(first));
    cls.remove(first);
    assert_eq!(cls.lookup(&p).map(|r| r.0), Some(second));
    cls.remove(second);
    assert_eq!(cls.lookup(&p).map(|r| r.0), Some(third));
}

#[test]
fn same_match_different_priorities_share_a_bucket_best_first() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::InPort, 3)]);
    let low = cls.insert(k, m, 1, "low");
    let high = cls.insert(k, m, 9, "high");
    let mid = cls.insert(k, m, 5, "mid");
    assert_eq!(cls.n_subtables(), 1);
    let p = packet(&[(Field::InPort, 3)]);
    assert_eq!(cls.lookup(&p).map(|r| r.0), Some(high));
    assert_eq!(cls.remove(high), Some("high"));
    assert_eq!(cls.lookup(&p).map(|r| r.0), Some(mid));
    assert_eq!(cls.find_exact(&k, &m, 1), Some(low));
}

#[test]
fn inserting_an_identical_rule_replaces_its_value_and_keeps_its_handle() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::InPort, 1)]);
    let (k2, m2) = rule(&[(Field::EthType, 0x0806)]);
    let id = cls.insert(k, m, 4, "old");
    let other = cls.insert(k2, m2, 4, "other");
    let (again, old) = cls.replace(k, m, 4, "new");
    assert_eq!(again, id);
    assert_eq!(old, Some("old"));
    assert_eq!(cls.len(), 2);
    assert_eq!(cls.get(id), Some(&"new"));
    // It also keeps its place in the insertion order, so it still wins the tie.
    let p = packet(&[(Field::InPort, 1), (Field::EthType, 0x0806)]);
    assert_eq!(cls.lookup(&p), Some((id, &"new")));
    assert_ne!(other, id);
}

#[test]
fn find_exact_needs_same_match_and_priority() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::Ipv4Src, 0x0a00_0001)]);
    let id = cls.insert(k, m, 100, ());
    assert_eq!(cls.find_exact(&k, &m, 100), Some(id));
    // Bits outside the mask are ignored, as on insert.
    let mut noisy = k;
    noisy.set(Field::TcpSrc.loc(), 1234);
    assert_eq!(cls.find_exact(&noisy, &m, 100), Some(id));
    assert_eq!(cls.find_exact(&k, &m, 99), None);
    let wider = fields_mask(&[Field::Ipv4Src, Field::IpProto]);
    assert_eq!(cls.find_exact(&k, &wider, 100), None);
    let other = packet(&[(Field::Ipv4Src, 0x0a00_0002)]);
    assert_eq!(cls.find_exact(&other, &m, 100), None);
}

#[test]
fn removed_handles_stay_dead_even_when_the_slot_is_reused() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::InPort, 1)]);
    let id = cls.insert(k, m, 1, "a");
    assert_eq!(cls.remove(id), Some("a"));
    assert_eq!(cls.remove(id), None);
    assert_eq!(cls.get(id), None);
    let (k2, m2) = rule(&[(Field::InPort, 2)]);
    let id2 = cls.insert(k2, m2, 1, "b");
    assert_ne!(id, id2);
    assert_eq!(cls.get(id), None);
    assert_eq!(cls.get_mut(id), None);
    assert_eq!(cls.get(id2), Some(&"b"));
    assert_eq!(cls.len(), 1);
}

#[test]
fn removing_every_rule_empties_the_classifier() {
    let mut cls = Classifier::new();
    let mut ids = Vec::new();
    for port in 0..50u128 {
        let (k, m) = rule(&[(Field::InPort, port % 7), (Field::TcpDst, port)]);
        ids.push(cls.insert(k, m, u32::try_from(port % 3).unwrap(), port));
        let (k, m) = rule(&[(Field::EthType, port)]);
        ids.push(cls.insert(k, m, 2, port));
    }
    assert_eq!(cls.n_subtables(), 2);
    // Remove in an order that moves arena keys around inside the subtables.
    ids.sort_by_key(|id| (id.slot % 5, id.slot));
    for (n, id) in ids.iter().enumerate() {
        assert!(cls.remove(*id).is_some());
        assert_eq!(cls.len(), ids.len() - n - 1);
        // Every remaining rule must still be found by its own match.
        for (rid, k, m, prio, _) in cls.iter() {
            assert_eq!(cls.find_exact(k, m, prio), Some(rid));
        }
    }
    assert!(cls.is_empty());
    assert_eq!(cls.n_subtables(), 0);
    assert!(cls.lookup(&packet(&[(Field::EthType, 3)])).is_none());
}

#[test]
fn catch_all_rule_matches_everything_and_consults_nothing() {
    let mut cls = Classifier::new();
    let id = cls.insert(FlowKey::ZERO, FlowKey::ZERO, 0, ());
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::InPort, 9), (Field::TcpDst, 443)]);
    assert_eq!(cls.lookup_wc(&p, &mut wc).map(|r| r.0), Some(id));
    assert!(wc.is_zero());
}

#[test]
fn a_miss_at_an_early_stage_unwildcards_only_that_stage() {
    let mut cls = Classifier::new();
    // Metadata stage (in_port) and L4 stage (tp_dst).
    let (k, m) = rule(&[(Field::InPort, 1), (Field::TcpDst, 80)]);
    cls.insert(k, m, 1, ());

    let mut wc = FlowKey::ZERO;
    let other_port = packet(&[(Field::InPort, 2), (Field::TcpDst, 80)]);
    assert!(cls.lookup_wc(&other_port, &mut wc).is_none());
    assert_eq!(wc, fields_mask(&[Field::InPort]));

    let mut wc = FlowKey::ZERO;
    let other_tp = packet(&[(Field::InPort, 1), (Field::TcpDst, 22)]);
    assert!(cls.lookup_wc(&other_tp, &mut wc).is_none());
    assert_eq!(wc, fields_mask(&[Field::InPort, Field::TcpDst]));
}

#[test]
fn subtables_that_cannot_win_add_no_bits() {
    let mut cls = Classifier::new();
    let (k1, m1) = rule(&[(Field::InPort, 1)]);
    let (k2, m2) = rule(&[(Field::EthDst, 0x0200_0000_0001)]);
    let high = cls.insert(k1, m1, 10, ());
    cls.insert(k2, m2, 5, ());
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::InPort, 1), (Field::EthDst, 0x0200_0000_0001)]);
    assert_eq!(cls.lookup_wc(&p, &mut wc).map(|r| r.0), Some(high));
    assert_eq!(wc, fields_mask(&[Field::InPort]));
}

#[test]
fn lookup_wc_only_adds_to_the_callers_mask() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::InPort, 1)]);
    cls.insert(k, m, 1, ());
    let mut wc = fields_mask(&[Field::Metadata]);
    cls.lookup_wc(&packet(&[(Field::InPort, 1)]), &mut wc);
    assert_eq!(wc, fields_mask(&[Field::Metadata, Field::InPort]));
}

#[test]
fn iter_reports_every_rule_once() {
    let mut cls = Classifier::new();
    let (k1, m1) = rule(&[(Field::InPort, 1)]);
    let (k2, m2) = rule(&[(Field::EthType, 0x86dd)]);
    let a = cls.insert(k1, m1, 1, 'a');
    let b = cls.insert(k2, m2, 2, 'b');
    let mut seen: Vec<_> = cls
        .iter()
        .map(|(id, k, m, p, v)| (id, *k, *m, p, *v))
        .collect();
    seen.sort_by_key(|r| r.4);
    assert_eq!(seen, vec![(a, k1, m1, 1, 'a'), (b, k2, m2, 2, 'b')]);
}

#[test]
fn a_clone_is_an_independent_snapshot() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::InPort, 1)]);
    let id = cls.insert(k, m, 1, 1);
    let snapshot = cls.clone();
    cls.remove(id);
    let p = packet(&[(Field::InPort, 1)]);
    assert!(cls.lookup(&p).is_none());
    assert_eq!(snapshot.lookup(&p), Some((id, &1)));
}

#[test]
fn an_address_miss_unwildcards_only_the_bits_that_prove_it() {
    let mut cls = Classifier::new();
    let (k, m) = rule(&[(Field::EthType, 0x0800), (Field::Ipv4Dst, 0x0a00_0000)]);
    let mut m8 = m;
    m8.set(Field::Ipv4Dst.loc(), 0xff00_0000);
    cls.insert(k, m8, 1, ());

    // 192.168.1.1 differs from 10/8 in the very first bit: that bit alone proves the miss,
    // and EtherType need not be un-wildcarded either.
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::EthType, 0x0800), (Field::Ipv4Dst, 0xc0a8_0101)]);
    assert!(cls.lookup_wc(&p, &mut wc).is_none());
    let mut want = FlowKey::ZERO;
    want.set(Field::Ipv4Dst.loc(), 0x8000_0000);
    assert_eq!(wc, want);

    // 11.0.0.1 shares 7 bits with 10/8: 8 bits are needed.
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::EthType, 0x0800), (Field::Ipv4Dst, 0x0b00_0001)]);
    assert!(cls.lookup_wc(&p, &mut wc).is_none());
    want.set(Field::Ipv4Dst.loc(), 0xff00_0000);
    assert_eq!(wc, want);
}

#[test]
fn without_prefix_fields_an_address_miss_unwildcards_the_whole_mask() {
    let mut cls = Classifier::with_prefix_fields(&[]);
    let (k, m) = rule(&[(Field::EthType, 0x0800), (Field::Ipv4Dst, 0x0a00_0000)]);
    let mut m8 = m;
    m8.set(Field::Ipv4Dst.loc(), 0xff00_0000);
    cls.insert(k, m8, 1, ());
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::EthType, 0x0800), (Field::Ipv4Dst, 0xc0a8_0101)]);
    assert!(cls.lookup_wc(&p, &mut wc).is_none());
    assert_eq!(wc, m8);
}

#[test]
fn an_ipv6_prefix_proof_can_span_both_words() {
    let mut cls = Classifier::new();
    let mut mask = FlowKey::ZERO;
    mask.set(Field::Ipv6Dst.loc(), u128::MAX << 28); // a /100
    let key = packet(&[(Field::Ipv6Dst, 0xfe80_0000_0000_0000_0000_0000_1000_0001)]);
    cls.insert(key, mask, 1, ());

    // ...:2000:0001 shares its top 98 bits with the rule's /100: 99 bits prove the miss.
    let mut wc = FlowKey::ZERO;
    let p = packet(&[(Field::Ipv6Dst, 0xfe80_0000_0000_0000_0000_0000_2000_0001)]);
    assert!(cls.lookup_wc(&p, &mut wc).is_none());
    let mut want = FlowKey::ZERO;
    want.set(Field::Ipv6Dst.loc(), u128::MAX << 29);
    assert_eq!(wc, want);
    // And the rule still matches inside its prefix.
    let inside = packet(&[(Field::Ipv6Dst, 0xfe80_0000_0000_0000_0000_0000_1000_0fff)]);
    assert!(cls.lookup(&inside).is_some());
}
