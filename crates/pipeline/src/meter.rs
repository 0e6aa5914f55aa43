//! A bridge's meter table: the meters `OFPT_METER_MOD` adds, changes and deletes, each with
//! the datapath meter ([`DpMeterId`]) that enforces it.
//!
//! # Semantics (as Open vSwitch 3.1's userspace datapath applies meter-mods)
//!
//! - What the switch can meter is [`FEATURES`]: 262144 meters, 8 bands each, `drop` bands
//!   only, all four flags. A band of another type is `OFPMMFC_BAD_BAND`, more bands
//!   `OFPMMFC_OUT_OF_BANDS`; a meter-mod's flags were checked when it was decoded.
//! - A meter number must be 1 to `OFPM13_MAX` or one of the virtual meters `controller` and
//!   `slowpath` (`OFPMMFC_INVALID_METER`; `all` only for deletes). Numbers above
//!   [`FEATURES`]' `max_meter` are fine: that is a count, not a range.
//! - **add** of a meter that exists: `OFPMMFC_METER_EXISTS`; **modify** of one that does not:
//!   `OFPMMFC_UNKNOWN_METER`. A modify keeps the meter's datapath meter and its start time.
//!   When every datapath meter is in use, an add is `OFPMMFC_OUT_OF_METERS`.
//! - **delete** of a meter that does not exist succeeds; of `all` empties the table. The
//!   caller ([`crate::bridge::Bridge::meter_mod`]) removes the rules whose actions name a
//!   deleted meter (reason `meter_delete`), as Open vSwitch does.
//! - A flow-mod may only name a meter that exists (`OFPMMFC_INVALID_METER`, checked by the
//!   bridge); `controller(meter_id=N)` is exempt, as in Open vSwitch.
//! - The virtual meter `controller` (or a `controller` action's own `meter_id`) limits
//!   packet-ins: translation charges the `userspace` action to it, so a packet the meter
//!   drops reaches no controller while the rest of its actions run. `slowpath` is stored and
//!   listed but meters nothing (Open vSwitch uses it for the kernel datapath's upcalls).
//!
//! # Who counts
//!
//! The pipeline keeps the configuration; the datapath keeps the token buckets and the
//! counters, keyed by [`DpMeterId`], because every datapath thread meters the same traffic.
//! Datapath meter numbers come from the caller (the datapath's allocator), so that the
//! meters of every bridge share one space, as Open vSwitch's provider meter ids do. The
//! table is ordered by meter number, which is the order ferrovs dumps meters in (Open
//! vSwitch dumps in hash order, so tests compare sorted entries).

use crate::clock::Millis;
use core::fmt;
use fvs_openflow::Action;
pub use fvs_openflow::group::Counters;
use fvs_openflow::meter::{
    BandType, MeterConfig, MeterFeatures, MeterFlags, MeterMod, MeterModCommand,
};
use fvs_openflow::types::MeterId;
use fvs_openflow::wire::OfpError;
use std::collections::BTreeMap;

/// What the switch can meter: Open vSwitch 3.1's userspace datapath's numbers.
pub const FEATURES: MeterFeatures = MeterFeatures {
    max_meter: 262_144,
    band_types: 1 << 1,
    capabilities: MeterFlags::ALL.0 as u32,
    max_bands: 8,
    max_color: 0,
};

/// A datapath meter's number (Open vSwitch's provider meter id): what the datapath action
/// `meter(N)` names. Datapath meters are numbered from 0 across every bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DpMeterId(pub u32);

impl fmt::Display for DpMeterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meter {
    /// Number, flags and bands.
    pub config: MeterConfig,
    /// The datapath meter that enforces it.
    pub dp: DpMeterId,
    /// When the meter was added (a modify keeps it).
    pub created: Millis,
}

/// A datapath meter's counters: what entered it, and what each band applied to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterCounters {
    /// Packets and bytes that reached the meter.
    pub input: Counters,
    /// Packets and bytes each band applied to (dropped, for a drop band), in band order.
    pub bands: Vec<Counters>,
}

/// A drop band as the datapath enforces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpBand {
    /// Kilobits or packets per second.
    pub rate: u32,
    /// The bucket's size in the same unit: the band's burst size when the meter has the
    /// `burst` flag (and a size), its rate otherwise, as Open vSwitch's datapath sizes it.
    pub burst: u32,
}

/// A meter as the datapath enforces it (the datapath knows no OpenFlow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpMeterConfig {
    /// Rates in kilobits per second (else packets per second).
    pub kbps: bool,
    /// The bands, in the meter's order.
    pub bands: Vec<DpBand>,
}

impl DpMeterConfig {
    /// What the datapath needs of meter `c` (whose bands the table has checked: drop only).
    pub fn of(c: &MeterConfig) -> Self {
        let burst = c.flags.contains(MeterFlags::BURST);
        Self {
            kbps: c.flags.contains(MeterFlags::KBPS),
            bands: c
                .bands
                .iter()
                .map(|b| DpBand {
                    rate: b.rate,
                    burst: if burst && b.burst_size != 0 {
                        b.burst_size
                    } else {
                        b.rate
                    },
                })
                .collect(),
        }
    }
}

/// What a meter-mod changed, for the datapath to follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterChange {
    /// Datapath meters to configure (new, or with new bands).
    pub set: Vec<(DpMeterId, DpMeterConfig)>,
    /// Meters deleted: their numbers (whose rules go) and their datapath meters (to free).
    pub deleted: Vec<(MeterId, DpMeterId)>,
}

/// A bridge's meters by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterTable {
    meters: BTreeMap<MeterId, Meter>,
}

impl MeterTable {
    /// The meter numbered `id`.
    pub fn get(&self, id: MeterId) -> Option<&Meter> {
        self.meters.get(&id)
    }

    /// Every meter, by number.
    pub fn iter(&self) -> impl Iterator<Item = &Meter> {
        self.meters.values()
    }

    /// How many meters there are.
    pub fn len(&self) -> usize {
        self.meters.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    /// The meters numbered `id` (every one for [`MeterId::ALL`]); a single meter that does
    /// not exist is `OFPMMFC_UNKNOWN_METER`, as Open vSwitch answers.
    pub fn select(&self, id: MeterId) -> Result<Vec<&Meter>, OfpError> {
        if id == MeterId::ALL {
            return Ok(self.meters.values().collect());
        }
        self.meters
            .get(&id)
            .map(|m| vec![m])
            .ok_or(OfpError::MeterUnknown)
    }

    /// Applies a meter-mod at `now`; `allocate` gives a free datapath meter for an add
    /// (`None` when all are in use). On error nothing changed.
    pub fn apply(
        &mut self,
        mm: &MeterMod,
        now: Millis,
        allocate: impl FnOnce() -> Option<DpMeterId>,
    ) -> Result<MeterChange, OfpError> {
        let id = mm.meter_id;
        if mm.command == MeterModCommand::Delete {
            let doomed: Vec<MeterId> = if id == MeterId::ALL {
                self.meters.keys().copied().collect()
            } else {
                self.meters
                    .get(&id)
                    .map(|m| m.config.meter_id)
                    .into_iter()
                    .collect()
            };
            let deleted = doomed
                .into_iter()
                .filter_map(|m| self.meters.remove(&m).map(|gone| (m, gone.dp)))
                .collect();
            return Ok(MeterChange {
                set: Vec::new(),
                deleted,
            });
        }
        if !id.is_valid() {
            return Err(OfpError::MeterInvalid);
        }
        check_bands(mm)?;
        let config = MeterConfig {
            meter_id: id,
            flags: mm.flags,
            bands: mm.bands.clone(),
        };
        let existing = self.meters.get(&id).map(|m| (m.dp, m.created));
        let (dp, created) = match (mm.command, existing) {
            (MeterModCommand::Add, Some(_)) => return Err(OfpError::MeterExists),
            (MeterModCommand::Modify, None) => return Err(OfpError::MeterUnknown),
            (_, Some(kept)) => kept,
            (_, None) => (allocate().ok_or(OfpError::MeterOutOfMeters)?, now),
        };
        self.meters.insert(
            id,
            Meter {
                config: config.clone(),
                dp,
                created,
            },
        );
        Ok(MeterChange {
            set: vec![(dp, DpMeterConfig::of(&config))],
            deleted: Vec::new(),
        })
    }
}

/// The checks on bands that depend on what the switch supports ([`FEATURES`]).
fn check_bands(mm: &MeterMod) -> Result<(), OfpError> {
    if mm.bands.len() > usize::from(FEATURES.max_bands) {
        return Err(OfpError::MeterOutOfBands);
    }
    if mm.bands.iter().any(|b| b.band_type != BandType::Drop) {
        return Err(OfpError::MeterBadBand);
    }
    if mm.flags.0 & !MeterFlags::ALL.0 != 0 {
        return Err(OfpError::MeterBadFlags);
    }
    Ok(())
}

/// The meters `actions` name, at any depth of nesting (`clone`, `write_actions`,
/// `ct(exec(...))`), in order, with repeats.
pub fn meters_named(actions: &[Action], out: &mut Vec<MeterId>) {
    for a in actions {
        match a {
            Action::Meter(m) => out.push(*m),
            Action::Clone(inner) | Action::WriteActions(inner) => meters_named(inner, out),
            Action::Ct(ct) => meters_named(&ct.actions, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::meter::MeterBand;

    fn mm(command: MeterModCommand, id: u32, bands: Vec<MeterBand>) -> MeterMod {
        MeterMod {
            command,
            meter_id: MeterId(id),
            flags: MeterFlags::PKTPS,
            bands,
        }
    }

    fn drop(rate: u32) -> MeterBand {
        MeterBand {
            band_type: BandType::Drop,
            rate,
            burst_size: 0,
        }
    }

    #[test]
    fn meter_mods_follow_open_vswitchs_rules() {
        let mut t = MeterTable::default();
        let mut next = 0;
        let mut alloc = || {
            next += 1;
            Some(DpMeterId(next - 1))
        };
        let add = mm(MeterModCommand::Add, 1, vec![drop(10)]);
        let ch = t.apply(&add, Millis(5), &mut alloc);
        assert_eq!(ch.map(|c| c.set.len()), Ok(1));
        assert_eq!(
            t.apply(&add, Millis(6), &mut alloc),
            Err(OfpError::MeterExists)
        );
        let modify = mm(MeterModCommand::Modify, 1, vec![drop(20)]);
        assert!(t.apply(&modify, Millis(7), &mut alloc).is_ok());
        let m = t.get(MeterId(1));
        assert_eq!(
            m.map(|m| (m.dp, m.created)),
            Some((DpMeterId(0), Millis(5)))
        );
        let unknown = mm(MeterModCommand::Modify, 9, vec![drop(20)]);
        assert_eq!(
            t.apply(&unknown, Millis(7), &mut alloc),
            Err(OfpError::MeterUnknown)
        );
        let all = mm(MeterModCommand::Add, MeterId::ALL.0, vec![drop(20)]);
        assert_eq!(
            t.apply(&all, Millis(7), &mut alloc),
            Err(OfpError::MeterInvalid)
        );
        let remark = mm(
            MeterModCommand::Add,
            3,
            vec![MeterBand {
                band_type: BandType::DscpRemark { prec_level: 1 },
                rate: 5,
                burst_size: 0,
            }],
        );
        assert_eq!(
            t.apply(&remark, Millis(7), &mut alloc),
            Err(OfpError::MeterBadBand)
        );
        let nine = mm(MeterModCommand::Add, 3, vec![drop(5); 9]);
        assert_eq!(
            t.apply(&nine, Millis(7), &mut alloc),
            Err(OfpError::MeterOutOfBands)
        );
        let full = mm(MeterModCommand::Add, 4, vec![drop(5)]);
        assert_eq!(
            t.apply(&full, Millis(7), || None),
            Err(OfpError::MeterOutOfMeters)
        );
        assert_eq!(
            t.select(MeterId(4)).map(|v| v.len()),
            Err(OfpError::MeterUnknown)
        );
        let del = mm(MeterModCommand::Delete, MeterId::ALL.0, Vec::new());
        let gone = t.apply(&del, Millis(8), &mut alloc).map(|c| c.deleted);
        assert_eq!(gone, Ok(vec![(MeterId(1), DpMeterId(0))]));
        assert!(t.is_empty());
    }
}
