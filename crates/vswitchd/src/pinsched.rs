//! Packet-in rate limiting for one controller connection (`controller_rate_limit`,
//! `controller_burst_limit`), as Open vSwitch's packet-in scheduler does it. No I/O: time
//! is a parameter (milliseconds from any fixed origin).
//!
//! # Model
//!
//! A token bucket holds at most `burst` packets' worth of tokens and gains `rate` per
//! second; it starts full. A packet-in goes out at once ("bypassed") when nothing is queued
//! and a token is there. Otherwise it joins its input port's queue ("queued"); when the
//! queues already hold `burst` packets, the oldest packet of the longest queue is dropped
//! first ("dropped"), so ports share the backlog fairly. [`PinSched::drain`] releases queued
//! packets as tokens come, taking the ports in turn. So a burst of `n` packets at once
//! yields `burst` at once and `burst` more at `rate`, and `n - 2 * burst` are dropped.
//!
//! The counters ([`PinStats`]) are what the Controller row's `status` reports
//! (`packet-in-miss-bypassed`, `-queued`, `-dropped`, `-backlog`). Open vSwitch 3.1 counts
//! every packet-in under `miss` (the `action` keys stay 0), whatever its reason; ferrovs
//! writes the same.

use std::collections::{BTreeMap, VecDeque};

/// The configured limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Packets per second (at least 100, as the schema says).
    pub rate: u32,
    /// Packets that may go at once, and the most that are queued (at least 1).
    pub burst: u32,
}

impl Limits {
    /// The limits of a Controller row's `controller_rate_limit` and
    /// `controller_burst_limit`: none without a rate; the burst is a quarter of the rate
    /// when not set (at most a quarter second of delay), as Open vSwitch's default.
    pub fn from_columns(rate: Option<i64>, burst: Option<i64>) -> Option<Self> {
        let rate = u32::try_from(rate?.max(100)).unwrap_or(u32::MAX);
        let burst = match burst {
            Some(b) => u32::try_from(b.max(1)).unwrap_or(u32::MAX),
            None => (rate / 4).max(1),
        };
        Some(Self { rate, burst })
    }
}

/// What happened to the packet-ins since the limits were set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinStats {
    /// Sent at once.
    pub bypassed: u64,
    /// Queued to be sent later.
    pub queued: u64,
    /// Dropped from a full queue (counted in `queued` too).
    pub dropped: u64,
    /// Queued now.
    pub backlog: u64,
}

/// One connection's packet-in scheduler; `T` is the queued message.
#[derive(Debug)]
pub struct PinSched<T> {
    limits: Limits,
    /// Tokens, in thousandths of a packet.
    tokens: u64,
    /// When tokens were last added.
    last: u64,
    /// Queued packets by input port.
    queues: BTreeMap<u32, VecDeque<T>>,
    /// The port whose queue [`Self::drain`] serves next (round robin).
    next_port: u32,
    stats: PinStats,
}

impl<T> PinSched<T> {
    /// A scheduler with a full bucket at `now`.
    pub fn new(limits: Limits, now: u64) -> Self {
        Self {
            limits,
            tokens: u64::from(limits.burst) * 1000,
            last: now,
            queues: BTreeMap::new(),
            next_port: 0,
            stats: PinStats::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The counters.
    pub fn stats(&self) -> PinStats {
        self.stats
    }

    fn refill(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        let max = u64::from(self.limits.burst) * 1000;
        // `rate` packets per second is `rate` thousandths of a packet per millisecond.
        let gain = elapsed.saturating_mul(u64::from(self.limits.rate));
        self.tokens = self.tokens.saturating_add(gain).min(max);
    }

    fn take_token(&mut self, now: u64) -> bool {
        self.refill(now);
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Offers a packet-in from input port `port`: returned when it may go now, else queued
    /// (dropping the oldest packet of the longest queue when the backlog is full).
    pub fn send(&mut self, now: u64, port: u32, packet: T) -> Option<T> {
        if self.stats.backlog == 0 && self.take_token(now) {
            self.stats.bypassed += 1;
            return Some(packet);
        }
        if self.stats.backlog >= u64::from(self.limits.burst) {
            self.drop_from_longest();
        }
        self.queues.entry(port).or_default().push_back(packet);
        self.stats.queued += 1;
        self.stats.backlog += 1;
        None
    }

    fn drop_from_longest(&mut self) {
        let longest = self
            .queues
            .iter()
            .max_by_key(|(_, q)| q.len())
            .map(|(p, _)| *p);
        if let Some(p) = longest
            && let Some(q) = self.queues.get_mut(&p)
            && q.pop_front().is_some()
        {
            self.stats.dropped += 1;
            self.stats.backlog -= 1;
            if q.is_empty() {
                self.queues.remove(&p);
            }
        }
    }

    /// The queued packets that may go by `now`, ports taken in turn.
    pub fn drain(&mut self, now: u64) -> Vec<T> {
        let mut out = Vec::new();
        while self.stats.backlog > 0 && self.take_token(now) {
            let port = self
                .queues
                .range(self.next_port..)
                .next()
                .or_else(|| self.queues.iter().next())
                .map(|(p, _)| *p);
            let Some(port) = port else {
                break;
            };
            if let Some(q) = self.queues.get_mut(&port) {
                if let Some(p) = q.pop_front() {
                    out.push(p);
                    self.stats.backlog -= 1;
                }
                if q.is_empty() {
                    self.queues.remove(&port);
                }
            }
            self.next_port = port.saturating_add(1);
        }
        out
    }

    /// Whether packets are waiting.
    pub fn has_backlog(&self) -> bool {
        self.stats.backlog > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32) -> Limits {
        Limits { rate, burst }
    }

    #[test]
    fn a_burst_passes_then_the_queue_fills_and_drops() {
        let mut s = PinSched::new(limits(100, 25), 0);
        let sent = (0..100).filter_map(|i| s.send(0, 1, i)).count();
        assert_eq!(sent, 25);
        let st = s.stats();
        assert_eq!(
            (st.bypassed, st.queued, st.dropped, st.backlog),
            (25, 75, 50, 25)
        );
        // A quarter second later the backlog has gone at 100 packets per second.
        assert_eq!(s.drain(100).len(), 10);
        assert_eq!(s.drain(250).len(), 15);
        assert!(!s.has_backlog());
        // The newest packets were kept.
        let mut s = PinSched::new(limits(100, 2), 0);
        let _ = (0..6).filter_map(|i| s.send(0, 1, i)).count();
        assert_eq!(s.drain(1000), vec![4, 5]);
    }

    #[test]
    fn ports_share_the_backlog() {
        let mut s = PinSched::new(limits(100, 4), 0);
        for i in 0..4 {
            let _ = s.send(0, 1, i);
        }
        for i in 10..20 {
            let _ = s.send(0, 1, i);
        }
        for i in 20..22 {
            let _ = s.send(0, 2, i);
        }
        let out = s.drain(1000);
        assert_eq!(out.iter().filter(|p| **p >= 20).count(), 2, "{out:?}");
    }

    #[test]
    fn the_default_burst_is_a_quarter_of_the_rate() {
        assert_eq!(
            Limits::from_columns(Some(1000), None),
            Some(limits(1000, 250))
        );
        assert_eq!(
            Limits::from_columns(Some(100), Some(30)),
            Some(limits(100, 30))
        );
        assert_eq!(Limits::from_columns(None, Some(30)), None);
    }
}
