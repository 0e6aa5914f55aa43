//! The transaction history behind `monitor_cond_since`.
//!
//! Every commit gets a transaction id (a fresh UUID), which `update3` notifications carry.
//! A client that reconnects names the last id it saw; if the history still holds that
//! commit, the server sends only what changed after it (the later commits folded into one
//! [`ChangeSet`]) instead of the whole database.
//!
//! The history is bounded the way Open vSwitch bounds its own: at most [`MAX_TXNS`] commits,
//! and never more rows than the database holds (beyond a small floor), since past that size
//! sending the database itself is as cheap. It lives in memory only, so after a restart
//! every client gets everything once, with `found` false.

use std::collections::VecDeque;

use fvs_ovsdb::ChangeSet;
use uuid::Uuid;

/// The most commits kept.
pub const MAX_TXNS: usize = 100;

/// Rows the history may always hold, however small the database.
const MIN_ROWS: usize = 1000;

/// Recent commits of one database, oldest first.
#[derive(Debug, Default)]
pub struct History {
    txns: VecDeque<(Uuid, ChangeSet)>,
    /// Rows touched, summed over `txns`.
    rows: usize,
}

impl History {
    /// Records a commit (`db_rows`: rows in the database after it).
    pub fn push(&mut self, id: Uuid, changes: ChangeSet, db_rows: usize) {
        self.rows += changes.rows();
        self.txns.push_back((id, changes));
        // The newest commit always stays: it is what a client up to date names.
        while self.txns.len() > 1
            && (self.txns.len() > MAX_TXNS || self.rows > db_rows.max(MIN_ROWS))
        {
            if let Some((_, old)) = self.txns.pop_front() {
                self.rows -= old.rows();
            }
        }
    }

    /// The newest commit's id; nil before the first commit.
    pub fn last(&self) -> Uuid {
        self.txns.back().map_or(Uuid::nil(), |(id, _)| *id)
    }

    /// Everything committed after `id`, as one change set (empty when `id` is the newest),
    /// or `None` when `id` is not in the history.
    pub fn changes_since(&self, id: Uuid) -> Option<ChangeSet> {
        let at = self.txns.iter().position(|(t, _)| *t == id)?;
        let mut all = ChangeSet::default();
        for (_, changes) in self.txns.iter().skip(at + 1) {
            all.compose(changes);
        }
        Some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_commits_and_forgets_the_oldest() {
        let mut h = History::default();
        assert_eq!(h.last(), Uuid::nil());
        assert!(
            h.changes_since(Uuid::nil()).is_none(),
            "nothing to resume from"
        );
        for n in 1..=(MAX_TXNS as u128 + 5) {
            h.push(Uuid::from_u128(n), ChangeSet::default(), 0);
        }
        assert_eq!(h.last(), Uuid::from_u128(MAX_TXNS as u128 + 5));
        assert!(h.changes_since(Uuid::from_u128(5)).is_none(), "forgotten");
        assert!(h.changes_since(Uuid::from_u128(6)).is_some(), "oldest kept");
        let newest = h.changes_since(h.last()).expect("newest");
        assert!(newest.is_empty());
    }
}
