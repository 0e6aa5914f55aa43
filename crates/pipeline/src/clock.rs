//! Time as a value: the pipeline never reads a clock, callers pass `now` in.
//!
//! [`Millis`] is a point on the caller's monotonic timeline (milliseconds since an arbitrary
//! origin, such as daemon start or a test's zero). Rule ages, timeouts and MAC ages are all
//! differences of two `Millis`, so a test can jump the clock forward by 300 seconds in one line.

/// Milliseconds on the caller's monotonic clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);

    /// `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// This instant plus `secs` seconds (saturating).
    #[must_use]
    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// Milliseconds from `earlier` to `self`, zero when `earlier` is later.
    pub const fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds from `earlier` to `self` (what `idle_age` and `hard_age` print).
    pub const fn secs_since(self, earlier: Self) -> u64 {
        self.since(earlier) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_differences_and_never_negative() {
        let t0 = Millis::from_secs(200);
        let t1 = t0.plus_secs(250);
        assert_eq!(t1.secs_since(t0), 250);
        assert_eq!(t0.since(t1), 0);
    }
}
