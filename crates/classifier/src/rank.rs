//! The total order on rules: priority first, then insertion order.

/// A rule's priority and insertion sequence folded into one number, so "better" is a single
/// integer comparison: higher priority wins, and among equal priorities the rule inserted
/// first wins. Sequence numbers are never reused, so no two rules share a rank; that makes
/// the winner deterministic and lets lookup stop at the first subtable whose best rank is
/// below the best match so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Rank(u128);

impl Rank {
    /// Below every real rule (a real rule's low half is `u64::MAX - seq`, and `seq` never
    /// reaches `u64::MAX`).
    pub(crate) const NONE: Self = Self(0);

    /// The rank of a rule with `priority`, inserted as the `seq`-th rule.
    pub(crate) fn new(priority: u32, seq: u64) -> Self {
        Self((u128::from(priority) << 64) | u128::from(u64::MAX - seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_dominates_then_earlier_insertion_wins() {
        assert!(Rank::new(2, 100) > Rank::new(1, 0));
        assert!(Rank::new(1, 3) > Rank::new(1, 4));
        assert!(Rank::new(0, u64::MAX - 1) > Rank::NONE);
    }
}
