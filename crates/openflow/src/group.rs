//! The group table's model: a group-mod ([`GroupMod`]), a group ([`GroupDesc`]) with its
//! [`Bucket`]s, and a group's counters ([`GroupStats`]).
//!
//! # Design
//!
//! One model for every OpenFlow version, as for flow-mods: OpenFlow 1.1 to 1.4's
//! `ofp_group_mod` (buckets with weight, watch port and watch group inline), OpenFlow 1.5's
//! (buckets with ids and properties, a command bucket id for insert/remove-bucket) and
//! OpenFlow 1.0's `NXT_GROUP_MOD` (1.5's layout with 1.0's actions, in a Nicira vendor
//! message: that is what `ovs-ofctl add-group` sends to an OpenFlow 1.0 switch) all decode to
//! [`GroupMod`]. Bucket ids exist on the wire only from OpenFlow 1.5 (and in the Nicira form);
//! a switch numbers the buckets of an older group-mod itself, 0, 1, 2, … in order, so that
//! every group it stores has ids ([`GroupMod::number_buckets`]).

use crate::action::Action;
use crate::types::{GroupId, PortNo};
use fvs_flow::Field;

impl GroupId {
    /// `OFPG_MAX`: the highest group number a switch may use.
    pub const MAX: Self = Self(0xffff_ff00);

    /// Whether the number names one group (it is not `ALL`, `ANY` or above `OFPG_MAX`).
    pub const fn is_valid(self) -> bool {
        self.0 <= Self::MAX.0
    }
}

/// A group's type (`type=` in ovs-ofctl's syntax).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// `OFPGT_ALL`: every bucket runs, each on its own copy of the packet.
    All,
    /// `OFPGT_SELECT`: one bucket, chosen by the switch (weighted).
    Select,
    /// `OFPGT_INDIRECT`: the one bucket.
    Indirect,
    /// `OFPGT_FF`: the first live bucket.
    FastFailover,
}

impl GroupType {
    /// The wire number (`OFPGT_*`).
    pub const fn wire(self) -> u8 {
        match self {
            Self::All => 0,
            Self::Select => 1,
            Self::Indirect => 2,
            Self::FastFailover => 3,
        }
    }

    /// The type with wire number `n`.
    pub const fn from_wire(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::All,
            1 => Self::Select,
            2 => Self::Indirect,
            3 => Self::FastFailover,
            _ => return None,
        })
    }

    /// ovs-ofctl's name (`all`, `select`, `indirect`, `fast_failover`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Select => "select",
            Self::Indirect => "indirect",
            Self::FastFailover => "fast_failover",
        }
    }
}

/// A bucket's id (OpenFlow 1.5): at most [`BucketId::MAX`]; the larger values name positions
/// in a command (`FIRST`, `LAST`, `ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketId(pub u32);

impl BucketId {
    /// `OFPG15_BUCKET_MAX`.
    pub const MAX: Self = Self(0xffff_ff00);
    /// `OFPG15_BUCKET_FIRST`.
    pub const FIRST: Self = Self(0xffff_fffd);
    /// `OFPG15_BUCKET_LAST`.
    pub const LAST: Self = Self(0xffff_fffe);
    /// `OFPG15_BUCKET_ALL`.
    pub const ALL: Self = Self(0xffff_ffff);
}

/// One bucket of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's id (numbered by the switch when the group-mod's version has none).
    pub bucket_id: BucketId,
    /// The relative share of traffic for a select group (0: never chosen).
    pub weight: u16,
    /// The port whose liveness decides a fast-failover bucket ([`PortNo::ANY`]: none).
    pub watch_port: PortNo,
    /// The group whose liveness decides a fast-failover bucket ([`GroupId::ANY`]: none).
    pub watch_group: GroupId,
    /// The actions the bucket applies.
    pub actions: Vec<Action>,
}

impl Bucket {
    /// A bucket that only runs `actions` (weight 1 as ovs-ofctl gives a select bucket, no
    /// watch).
    pub fn new(actions: Vec<Action>) -> Self {
        Self {
            bucket_id: BucketId(0),
            weight: 1,
            watch_port: PortNo::ANY,
            watch_group: GroupId::ANY,
            actions,
        }
    }
}

/// How a select group picks its bucket, when a controller says (Open vSwitch's
/// `NTR_SELECTION_METHOD` group property, `selection_method=...` in ovs-ofctl's syntax):
/// the method's name (`hash` or `dp_hash` are what a switch accepts), its parameter, and for
/// `hash` the fields hashed, each with the mask of its bits that count.
///
/// Only OpenFlow 1.5's group messages and the Nicira group-mod carry it; older versions'
/// group-mods and group descriptions leave it out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectionMethod {
    /// `selection_method`: at most [`SelectionMethod::MAX_NAME_LEN`] bytes.
    pub name: String,
    /// `selection_method_param`.
    pub param: u64,
    /// `fields(...)`: each field with its mask (all of the field's bits when none was given),
    /// in the field registry's order, each field once.
    pub fields: Vec<(Field, u128)>,
}

impl SelectionMethod {
    /// The longest method name the property has room for (16 bytes, NUL-terminated).
    pub const MAX_NAME_LEN: usize = 15;

    /// Whether a switch can apply it: `hash` or `dp_hash`, on a select group.
    pub fn is_supported(&self, ty: GroupType) -> bool {
        ty == GroupType::Select && matches!(self.name.as_str(), "hash" | "dp_hash")
    }
}

/// A group-mod's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupModCommand {
    /// `OFPGC_ADD`.
    Add,
    /// `OFPGC_MODIFY`.
    Modify,
    /// `OFPGC_DELETE` (also of `OFPG_ALL`).
    Delete,
    /// Open vSwitch's `OFPGC_ADD_OR_MOD` (`mod-group --may-create`).
    AddOrMod,
    /// `OFPGC15_INSERT_BUCKET`.
    InsertBucket,
    /// `OFPGC15_REMOVE_BUCKET`.
    RemoveBucket,
}

/// A group-table modification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMod {
    /// What to do.
    pub command: GroupModCommand,
    /// The group's type.
    pub group_type: GroupType,
    /// The group (or [`GroupId::ALL`] for a delete of every group).
    pub group_id: GroupId,
    /// Where buckets are inserted or which are removed (OpenFlow 1.5; `ALL` otherwise).
    pub command_bucket_id: BucketId,
    /// The buckets.
    pub buckets: Vec<Bucket>,
    /// Whether the buckets carried ids on the wire (OpenFlow 1.5 and the Nicira form).
    pub has_bucket_ids: bool,
    /// The selection method, if the group-mod gave one.
    pub selection: Option<SelectionMethod>,
}

impl GroupMod {
    /// Gives the buckets the ids 0, 1, 2, … when the wire carried none.
    pub fn number_buckets(&mut self) {
        if !self.has_bucket_ids {
            for (i, b) in self.buckets.iter_mut().enumerate() {
                b.bucket_id = BucketId(u32::try_from(i).unwrap_or(u32::MAX));
            }
            self.has_bucket_ids = true;
        }
    }
}

/// A group as a group description reply carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDesc {
    /// The group's type.
    pub group_type: GroupType,
    /// The group's number.
    pub group_id: GroupId,
    /// The buckets, in order.
    pub buckets: Vec<Bucket>,
    /// The selection method the group was given, if any.
    pub selection: Option<SelectionMethod>,
}

/// Packet and byte counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A group's statistics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GroupStats {
    /// The group's number.
    pub group_id: GroupId,
    /// How many flows' actions name the group.
    pub ref_count: u32,
    /// What went through the group.
    pub counters: Counters,
    /// Seconds since the group was added.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// What went through each bucket, in bucket order.
    pub buckets: Vec<Counters>,
}

impl Default for GroupId {
    fn default() -> Self {
        Self::ANY
    }
}
