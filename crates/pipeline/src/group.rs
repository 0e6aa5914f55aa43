//! A bridge's group table: the groups `OFPT_GROUP_MOD` creates, changes and deletes, with
//! their counters.
//!
//! # Semantics (as Open vSwitch 3.1 applies group-mods)
//!
//! - **add** of a group that exists: `OFPGMFC_GROUP_EXISTS`; **modify** of one that does not:
//!   `OFPGMFC_UNKNOWN_GROUP`; **add-or-mod** (`mod-group --may-create`) either. A modify
//!   replaces type and buckets and keeps the counters' start.
//! - **delete** of a group that does not exist succeeds; of `OFPG_ALL` empties the table. The
//!   caller ([`crate::bridge::Bridge::group_mod`]) also removes the flows whose actions name a
//!   deleted group, as OpenFlow requires.
//! - **insert-bucket** / **remove-bucket** (OpenFlow 1.5 and the Nicira form) work on an
//!   existing group's buckets by id: insert before `first`, after `last` or before a given
//!   id; a new id that exists already is `OFPGMFC_BUCKET_EXISTS`, an unknown position
//!   `OFPGMFC_UNKNOWN_BUCKET`.
//! - A group number above `OFPG_MAX` is `OFPGMFC_INVALID_GROUP` (except `ALL` for deletes);
//!   an indirect group needs exactly one bucket (`OFPGMFC_INVALID_GROUP`, as Open vSwitch
//!   says).
//! - Chained groups (a bucket naming another group) are stored as Open vSwitch stores them:
//!   unchecked, even a group naming itself; loops are the translation's to stop.
//!
//! The table is ordered by group number, which is the order ferrovs dumps groups in (Open
//! vSwitch dumps in hash order, so tests compare sorted lines).

use crate::clock::Millis;
use fvs_openflow::Action;
use fvs_openflow::group::{
    Bucket, BucketId, Counters, GroupDesc, GroupMod, GroupModCommand, GroupStats,
};
use fvs_openflow::types::GroupId;
use fvs_openflow::wire::OfpError;
use std::collections::BTreeMap;

/// One group with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Type, number and buckets.
    pub desc: GroupDesc,
    /// When the group was added (a modify keeps it).
    pub created: Millis,
    /// What went through the group.
    pub counters: Counters,
    /// What went through each bucket, in bucket order.
    pub bucket_counters: Vec<Counters>,
}

/// A bridge's groups by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTable {
    groups: BTreeMap<GroupId, Group>,
}

impl GroupTable {
    /// The group numbered `id`.
    pub fn get(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(&id)
    }

    /// Whether group `id` exists.
    pub fn contains(&self, id: GroupId) -> bool {
        self.groups.contains_key(&id)
    }

    /// Every group, by number.
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The descriptions of group `id`, or of every group for [`GroupId::ALL`].
    pub fn describe(&self, id: GroupId) -> Vec<GroupDesc> {
        self.select(id).map(|g| g.desc.clone()).collect()
    }

    /// The statistics of group `id` (or all) at `now`; `ref_count` counts the flows naming
    /// each group.
    pub fn stats(
        &self,
        id: GroupId,
        now: Millis,
        ref_count: impl Fn(GroupId) -> u32,
    ) -> Vec<GroupStats> {
        self.select(id)
            .map(|g| {
                let age = now.since(g.created);
                GroupStats {
                    group_id: g.desc.group_id,
                    ref_count: ref_count(g.desc.group_id),
                    counters: g.counters,
                    duration_sec: u32::try_from(age / 1000).unwrap_or(u32::MAX),
                    duration_nsec: u32::try_from(age % 1000).unwrap_or(0) * 1_000_000,
                    buckets: g.bucket_counters.clone(),
                }
            })
            .collect()
    }

    /// Credits group `id` (or its bucket at index `bucket`) with `packets` of `bytes` in all.
    pub fn count(&mut self, id: GroupId, bucket: Option<usize>, packets: u64, bytes: u64) {
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        let c = match bucket {
            None => Some(&mut g.counters),
            Some(i) => g.bucket_counters.get_mut(i),
        };
        if let Some(c) = c {
            c.packets += packets;
            c.bytes += bytes;
        }
    }

    fn select(&self, id: GroupId) -> impl Iterator<Item = &Group> {
        self.groups
            .values()
            .filter(move |g| id == GroupId::ALL || g.desc.group_id == id)
    }

    /// Applies a group-mod at `now`; returns the groups it deleted (whose flows the bridge
    /// removes). On error nothing changed.
    pub fn apply(&mut self, gm: &GroupMod, now: Millis) -> Result<Vec<GroupId>, OfpError> {
        let mut gm = gm.clone();
        gm.number_buckets();
        let id = gm.group_id;
        if gm.command == GroupModCommand::Delete {
            if id == GroupId::ALL {
                let all = self.groups.keys().copied().collect();
                self.groups.clear();
                return Ok(all);
            }
            return Ok(self
                .groups
                .remove(&id)
                .map(|g| g.desc.group_id)
                .into_iter()
                .collect());
        }
        if !id.is_valid() {
            return Err(OfpError::GroupInvalid);
        }
        match gm.command {
            GroupModCommand::InsertBucket | GroupModCommand::RemoveBucket => {
                let g = self.groups.get_mut(&id).ok_or(OfpError::GroupUnknown)?;
                let buckets = edit_buckets(&g.desc.buckets, &gm)?;
                g.bucket_counters = vec![Counters::default(); buckets.len()];
                g.desc.buckets = buckets;
                return Ok(Vec::new());
            }
            _ => {}
        }
        check_buckets(&gm)?;
        let exists = self.groups.contains_key(&id);
        let created = match (gm.command, exists) {
            (GroupModCommand::Add, true) => return Err(OfpError::GroupExists),
            (GroupModCommand::Modify, false) => return Err(OfpError::GroupUnknown),
            (_, true) => self.groups.get(&id).map_or(now, |g| g.created),
            (_, false) => now,
        };
        self.groups.insert(
            id,
            Group {
                bucket_counters: vec![Counters::default(); gm.buckets.len()],
                desc: GroupDesc {
                    group_type: gm.group_type,
                    group_id: id,
                    buckets: gm.buckets,
                    // A modify replaces the selection method too, as in Open vSwitch.
                    selection: gm.selection,
                },
                created,
                counters: Counters::default(),
            },
        );
        Ok(Vec::new())
    }
}

/// The checks Open vSwitch makes on a new group's buckets.
fn check_buckets(gm: &GroupMod) -> Result<(), OfpError> {
    use fvs_openflow::group::GroupType;
    if gm.group_type == GroupType::Indirect && gm.buckets.len() != 1 {
        return Err(OfpError::GroupInvalid);
    }
    let mut ids: Vec<BucketId> = gm.buckets.iter().map(|b| b.bucket_id).collect();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) || ids.iter().any(|b| *b > BucketId::MAX) {
        return Err(OfpError::GroupBadBucket);
    }
    Ok(())
}

/// The buckets after an insert-bucket or remove-bucket.
fn edit_buckets(old: &[Bucket], gm: &GroupMod) -> Result<Vec<Bucket>, OfpError> {
    let at = gm.command_bucket_id;
    if gm.command == GroupModCommand::RemoveBucket {
        return Ok(match at {
            BucketId::ALL => Vec::new(),
            BucketId::FIRST => old.iter().skip(1).cloned().collect(),
            BucketId::LAST => old[..old.len().saturating_sub(1)].to_vec(),
            id => {
                if !old.iter().any(|b| b.bucket_id == id) {
                    return Err(OfpError::GroupUnknownBucket);
                }
                old.iter().filter(|b| b.bucket_id != id).cloned().collect()
            }
        });
    }
    if gm.buckets.iter().any(|n| n.bucket_id > BucketId::MAX) {
        return Err(OfpError::GroupBadBucket);
    }
    if gm
        .buckets
        .iter()
        .any(|n| old.iter().any(|b| b.bucket_id == n.bucket_id))
    {
        return Err(OfpError::GroupBucketExists);
    }
    let pos = match at {
        BucketId::FIRST => 0,
        BucketId::LAST | BucketId::ALL => old.len(),
        id => old
            .iter()
            .position(|b| b.bucket_id == id)
            .ok_or(OfpError::GroupUnknownBucket)?,
    };
    let mut out = old[..pos].to_vec();
    out.extend(gm.buckets.iter().cloned());
    out.extend_from_slice(&old[pos..]);
    Ok(out)
}

/// The groups `actions` name, at any depth of nesting (`clone`, `write_actions`,
/// `ct(exec(...))`), in order, with repeats.
pub fn groups_named(actions: &[Action], out: &mut Vec<GroupId>) {
    for a in actions {
        match a {
            Action::Group(g) => out.push(*g),
            Action::Clone(inner) | Action::WriteActions(inner) => groups_named(inner, out),
            Action::Ct(ct) => groups_named(&ct.actions, out),
            _ => {}
        }
    }
}
