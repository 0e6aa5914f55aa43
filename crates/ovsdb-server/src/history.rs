//! The transaction history behind `monitor_cond_since`.
//!
//! Every commit gets a transaction id (a fresh UUID), which `update3` notifications carry.
//! A client that reconnects names the last id it saw; if the history still holds that
//! commit, the server sends only what changed after it (the later commits folded into one
//! [`ChangeSet`]) instead of the whole database.
//!
//! The history is bounded the way Open vSwitch bounds its own: at most [`MAX_TXNS`] commits,
//! and never more values (atoms, counting each commit's old and new rows) than the database
//! itself holds, since past that size sending the database is as cheap; the newest commit
//! always stays. So a small database keeps a short history. It lives in memory only, so
//! after a restart every client gets everything once, with `found` false.

use std::collections::VecDeque;

use fvs_ovsdb::ChangeSet;
use uuid::Uuid;

/// The most commits kept.
pub const MAX_TXNS: usize = 100;

/// Recent commits of one database, oldest first.
#[derive(Debug, Default)]
pub struct History {
    txns: VecDeque<(Uuid, ChangeSet)>,
    /// Atoms, summed over `txns`.
    atoms: usize,
}

impl History {
    /// Records a commit (`db_atoms`: the database's atoms after it).
    pub fn push(&mut self, id: Uuid, changes: ChangeSet, db_atoms: usize) {
        self.atoms += changes.n_atoms();
        self.txns.push_back((id, changes));
        // The newest commit always stays: it is what a client up to date names.
        while self.txns.len() > 1 && (self.txns.len() > MAX_TXNS || self.atoms > db_atoms) {
            if let Some((_, old)) = self.txns.pop_front() {
                self.atoms -= old.n_atoms();
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
    use std::collections::BTreeMap;

    use fvs_ovsdb::{Atom, Datum, Row, RowChange};

    /// A change set inserting one row with one integer column: one atom.
    fn insert(n: u128) -> ChangeSet {
        let row = Row {
            version: Uuid::from_u128(n),
            columns: BTreeMap::from([("n".to_owned(), Datum::scalar(Atom::Integer(1)))]),
        };
        let mut c = ChangeSet::default();
        c.tables.insert(
            "T".to_owned(),
            BTreeMap::from([(
                Uuid::from_u128(n),
                RowChange {
                    old: None,
                    new: Some(row),
                },
            )]),
        );
        c
    }

    #[test]
    fn never_holds_more_atoms_than_the_database_but_keeps_the_newest() {
        let mut h = History::default();
        h.push(Uuid::from_u128(1), insert(1), 1);
        h.push(Uuid::from_u128(2), insert(2), 2);
        // Two inserts of one atom each, in a database of two atoms: both fit.
        let both = h.changes_since(Uuid::from_u128(1)).expect("first kept");
        assert_eq!(both.rows(), 1, "what came after the first");
        // A database that shrank below its history keeps only the newest commit.
        h.push(Uuid::from_u128(3), insert(3), 0);
        assert!(h.changes_since(Uuid::from_u128(2)).is_none());
        assert_eq!(
            h.changes_since(Uuid::from_u128(3)).map(|c| c.rows()),
            Some(0)
        );
    }

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
