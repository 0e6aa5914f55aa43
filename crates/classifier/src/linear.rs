//! A linear-scan classifier: the obviously-correct model the real one is tested against.
//!
//! It has the same semantics as [`crate::Classifier`] (inserting an identical rule replaces
//! its value in place; the highest priority wins and, among equal priorities, the rule
//! inserted first) and none of its structure: one vector in insertion order, scanned in
//! full on every lookup. Other crates may use it as an oracle in their own tests.

use fvs_flow::FlowKey;

/// Rules in insertion order, each `(key, mask, priority, value)` with `key` already masked.
#[derive(Clone, Debug, Default)]
pub struct LinearClassifier<T> {
    rules: Vec<(FlowKey, FlowKey, u32, T)>,
}

impl<T> LinearClassifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Self { rules: Vec::new() }
    }

    /// Adds a rule, or replaces the value of an identical one (same masked key, mask and
    /// priority), keeping its place in the insertion order.
    pub fn insert(&mut self, key: FlowKey, mask: FlowKey, priority: u32, value: T) {
        let key = key.and(&mask);
        match self
            .rules
            .iter_mut()
            .find(|r| r.0 == key && r.1 == mask && r.2 == priority)
        {
            Some(rule) => rule.3 = value,
            None => self.rules.push((key, mask, priority, value)),
        }
    }

    /// Removes the identical rule, returning its value.
    pub fn remove(&mut self, key: &FlowKey, mask: &FlowKey, priority: u32) -> Option<T> {
        let key = key.and(mask);
        let at = self
            .rules
            .iter()
            .position(|r| r.0 == key && r.1 == *mask && r.2 == priority)?;
        Some(self.rules.remove(at).3)
    }

    /// The winning rule for `key`: highest priority, earliest inserted among equals.
    pub fn lookup(&self, key: &FlowKey) -> Option<(&FlowKey, &FlowKey, u32, &T)> {
        let mut best: Option<&(FlowKey, FlowKey, u32, T)> = None;
        for rule in &self.rules {
            // Strictly greater: an equal-priority rule seen later never displaces the first.
            if key.and(&rule.1) == rule.0 && best.is_none_or(|b| rule.2 > b.2) {
                best = Some(rule);
            }
        }
        best.map(|r| (&r.0, &r.1, r.2, &r.3))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
