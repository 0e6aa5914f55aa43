//! The meter table's model: a meter-mod ([`MeterMod`]), a meter's configuration
//! ([`MeterConfig`]) with its [`MeterBand`]s, a meter's counters ([`MeterStats`]) and what a
//! switch says it can meter ([`MeterFeatures`]).
//!
//! # Design
//!
//! Meters exist in OpenFlow 1.3 and later only, with one layout in every one of those
//! versions (OpenFlow 1.5 renamed the multiparts and made `meter` an action instead of an
//! instruction, which is the action model's business). Open vSwitch has no Nicira form for
//! OpenFlow 1.0: `ovs-ofctl -O OpenFlow10 add-meter` refuses before it connects. So the
//! model is one struct per message body and no version appears here.
//!
//! A meter's rate is kilobits per second or packets per second (one of the `kbps`/`pktps`
//! flags, never both); each band says what happens to the traffic above its rate (`drop`,
//! or `dscp_remark` raising the drop precedence) with a burst size in the same unit, which
//! counts only when the `burst` flag is set.

use crate::group::Counters;
use crate::types::MeterId;

impl MeterId {
    /// `OFPM13_MAX`: the highest number of an ordinary meter.
    pub const MAX: Self = Self(0xffff_0000);
    /// `OFPM13_SLOWPATH`: the meter for packets sent to the slow path.
    pub const SLOWPATH: Self = Self(0xffff_fffd);
    /// `OFPM13_CONTROLLER`: the meter for packets sent to controllers.
    pub const CONTROLLER: Self = Self(0xffff_fffe);
    /// `OFPM13_ALL`: every meter (statistics, configuration and deletes only).
    pub const ALL: Self = Self(0xffff_ffff);

    /// Whether the number names one meter a switch can hold: 1 to [`MeterId::MAX`], or one of
    /// the two virtual meters.
    pub const fn is_valid(self) -> bool {
        (self.0 >= 1 && self.0 <= Self::MAX.0)
            || self.0 == Self::SLOWPATH.0
            || self.0 == Self::CONTROLLER.0
    }
}

/// A meter's `OFPMF13_*` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MeterFlags(pub u16);

impl MeterFlags {
    /// `kbps`: rates and bursts in kilobits (per second).
    pub const KBPS: Self = Self(1);
    /// `pktps`: rates and bursts in packets (per second).
    pub const PKTPS: Self = Self(2);
    /// `burst`: the bands' burst sizes apply.
    pub const BURST: Self = Self(4);
    /// `stats`: the meter keeps statistics.
    pub const STATS: Self = Self(8);
    /// Every flag OpenFlow 1.3 defines.
    pub const ALL: Self = Self(15);
    /// The flags in ovs-ofctl's order with their names.
    pub const NAMES: [(Self, &'static str); 4] = [
        (Self::KBPS, "kbps"),
        (Self::PKTPS, "pktps"),
        (Self::BURST, "burst"),
        (Self::STATS, "stats"),
    ];

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` added.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// What a band does to the traffic above its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BandType {
    /// `OFPMBT13_DROP`: drop it.
    Drop,
    /// `OFPMBT13_DSCP_REMARK`: raise its drop precedence by `prec_level`.
    DscpRemark {
        /// How much to raise the precedence.
        prec_level: u8,
    },
    /// `OFPMBT13_EXPERIMENTER`: an experimenter's band.
    Experimenter(u32),
}

impl BandType {
    /// The wire number (`OFPMBT13_*`).
    pub const fn wire(self) -> u16 {
        match self {
            Self::Drop => 1,
            Self::DscpRemark { .. } => 2,
            Self::Experimenter(_) => 0xffff,
        }
    }

    /// ovs-ofctl's name for the type.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::DscpRemark { .. } => "dscp_remark",
            Self::Experimenter(_) => "experimenter",
        }
    }
}

/// One band of a meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterBand {
    /// What happens above the rate.
    pub band_type: BandType,
    /// The rate above which the band applies (kb/s or packets/s, by the meter's flags).
    pub rate: u32,
    /// The burst size (kilobits or packets), used with the meter's `burst` flag.
    pub burst_size: u32,
}

/// A meter-mod's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterModCommand {
    /// `OFPMC13_ADD`.
    Add,
    /// `OFPMC13_MODIFY`.
    Modify,
    /// `OFPMC13_DELETE` (also of [`MeterId::ALL`]).
    Delete,
}

impl MeterModCommand {
    /// The wire number.
    pub const fn wire(self) -> u16 {
        match self {
            Self::Add => 0,
            Self::Modify => 1,
            Self::Delete => 2,
        }
    }

    /// The command with wire number `n`.
    pub const fn from_wire(n: u16) -> Option<Self> {
        Some(match n {
            0 => Self::Add,
            1 => Self::Modify,
            2 => Self::Delete,
            _ => return None,
        })
    }

    /// How ovs-ofctl prints it (`ADD`, `MOD`, `DEL`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Modify => "MOD",
            Self::Delete => "DEL",
        }
    }
}

/// A meter-table modification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterMod {
    /// What to do.
    pub command: MeterModCommand,
    /// The meter (or [`MeterId::ALL`] for a delete of every meter).
    pub meter_id: MeterId,
    /// The meter's flags.
    pub flags: MeterFlags,
    /// The bands (none for a delete).
    pub bands: Vec<MeterBand>,
}

/// A meter as a meter configuration reply carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterConfig {
    /// The meter's number.
    pub meter_id: MeterId,
    /// Its flags.
    pub flags: MeterFlags,
    /// Its bands, in order.
    pub bands: Vec<MeterBand>,
}

/// A meter's statistics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MeterStats {
    /// The meter's number.
    pub meter_id: MeterId,
    /// How many flows name the meter.
    pub flow_count: u32,
    /// Everything that entered the meter.
    pub input: Counters,
    /// Seconds since the meter was added.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// What each band applied to, in band order.
    pub bands: Vec<Counters>,
}

/// What a switch can meter (`OFPMP_METER_FEATURES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MeterFeatures {
    /// Most meters.
    pub max_meter: u32,
    /// `1 << OFPMBT13_*` bits.
    pub band_types: u32,
    /// `OFPMF13_*` bits.
    pub capabilities: u32,
    /// Most bands per meter.
    pub max_bands: u8,
    /// Most colour values.
    pub max_color: u8,
}

impl Default for MeterId {
    fn default() -> Self {
        Self::ALL
    }
}
