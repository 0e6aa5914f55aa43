//! Datapath meters: token buckets that the datapath action `meter(N)` charges, shared by
//! every datapath thread, with the counters `ovs-ofctl meter-stats` reports.
//!
//! # Design
//!
//! - **One table for all threads.** Every datapath thread meters the same traffic, so a
//!   meter's buckets and counters live once, in a [`MeterTable`] the threads share through an
//!   `Arc`. Buckets and counters are atomics: charging a packet is a few atomic operations,
//!   never a lock.
//! - **Snapshots, not locks, for lookups.** The control plane changes the table under a
//!   mutex and moves a generation counter; each thread keeps a [`MeterView`], a snapshot of
//!   the meters by number that it refreshes (one atomic load per batch, the mutex only when
//!   the generation moved). A meter being replaced stays alive in the snapshots that still
//!   hold it until they are refreshed.
//! - **Token buckets as Open vSwitch's userspace datapath keeps them.** A band's bucket holds
//!   `burst × 1000` tokens (its burst size, or its rate when the meter has no burst), in
//!   milli-packets for `pktps` meters and in bits for `kbps` meters, and starts full. Each
//!   millisecond adds `rate` tokens (a `pktps` rate in packets per second is milli-packets per
//!   millisecond, a `kbps` rate is bits per millisecond). A packet costs 1000 tokens or its
//!   length in bits; a band whose bucket cannot pay is exceeded, and the packet goes to the
//!   exceeded band of highest rate: for a `drop` band (the only kind ferrovs supports), it is
//!   dropped and counted in that band.
//! - **Refill once per tick.** Whichever thread first sees a new millisecond claims the
//!   elapsed interval with a compare-and-swap on the meter's clock and adds its tokens; the
//!   others just charge.
//! - Time is the datapath's (`Datapath::set_now`); no clock is read here.

use fvs_pipeline::clock::Millis;
use fvs_pipeline::meter::{Counters, DpMeterConfig, DpMeterId, FEATURES, MeterCounters};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// Tokens a packet costs in a `pktps` meter (its buckets count milli-packets).
const PACKET_TOKENS: u64 = 1000;
/// The meter clock's value before the first packet.
const NEVER: u64 = u64::MAX;

/// One band's bucket and counters.
#[derive(Debug)]
struct Band {
    /// Tokens added per millisecond.
    rate: u64,
    /// The bucket's size.
    max: u64,
    bucket: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// One meter: its bands (in configuration order), its unit, its clock and input counters.
#[derive(Debug)]
pub struct Meter {
    kbps: bool,
    bands: Vec<Band>,
    /// The band indices by rate, highest first: the order in which an exceeded band is
    /// chosen.
    by_rate: Vec<usize>,
    /// The last millisecond whose tokens were added ([`NEVER`] before the first packet).
    clock: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Meter {
    /// A meter with full buckets and zero counters.
    pub fn new(config: &DpMeterConfig) -> Self {
        let bands: Vec<Band> = config
            .bands
            .iter()
            .map(|b| {
                let max = u64::from(b.burst) * 1000;
                Band {
                    rate: u64::from(b.rate),
                    max,
                    bucket: AtomicU64::new(max),
                    packets: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                }
            })
            .collect();
        let mut by_rate: Vec<usize> = (0..bands.len()).collect();
        by_rate.sort_by_key(|&i| std::cmp::Reverse(bands[i].rate));
        Self {
            kbps: config.kbps,
            bands,
            by_rate,
            clock: AtomicU64::new(NEVER),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Adds the tokens of the milliseconds since the last refill (once per millisecond,
    /// whichever thread gets there first).
    fn refill(&self, now: Millis) {
        let last = self.clock.load(Relaxed);
        if last != NEVER && now.0 <= last {
            return;
        }
        if self
            .clock
            .compare_exchange(last, now.0, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        if last == NEVER {
            return;
        }
        let elapsed = now.0 - last;
        for b in &self.bands {
            let add = elapsed.saturating_mul(b.rate);
            let _ = b
                .bucket
                .fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_add(add).min(b.max)));
        }
    }

    /// Charges one packet of `len` bytes at `now`; false when a drop band drops it.
    pub fn admit(&self, len: usize, now: Millis) -> bool {
        self.refill(now);
        let len = len as u64;
        self.packets.fetch_add(1, Relaxed);
        self.bytes.fetch_add(len, Relaxed);
        let cost = if self.kbps { len * 8 } else { PACKET_TOKENS };
        let mut exceeded: Option<usize> = None;
        for &i in &self.by_rate {
            let b = &self.bands[i];
            let paid = b
                .bucket
                .fetch_update(Relaxed, Relaxed, |t| t.checked_sub(cost))
                .is_ok();
            // `by_rate` runs from the highest rate down: the first exceeded band wins.
            if !paid && exceeded.is_none() {
                exceeded = Some(i);
            }
        }
        match exceeded {
            Some(i) => {
                let b = &self.bands[i];
                b.packets.fetch_add(1, Relaxed);
                b.bytes.fetch_add(len, Relaxed);
                false
            }
            None => true,
        }
    }

    /// The meter's counters.
    pub fn counters(&self) -> MeterCounters {
        MeterCounters {
            input: Counters {
                packets: self.packets.load(Relaxed),
                bytes: self.bytes.load(Relaxed),
            },
            bands: self
                .bands
                .iter()
                .map(|b| Counters {
                    packets: b.packets.load(Relaxed),
                    bytes: b.bytes.load(Relaxed),
                })
                .collect(),
        }
    }
}

/// The meters by datapath number; a slot may be reserved (allocated) before it is set.
#[derive(Debug, Default)]
struct Slots {
    reserved: Vec<bool>,
    meters: Arc<Vec<Option<Arc<Meter>>>>,
}

/// The datapath's meters, shared by every datapath thread and changed by the control plane.
#[derive(Debug, Default)]
pub struct MeterTable {
    slots: Mutex<Slots>,
    generation: AtomicU64,
}

impl MeterTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic elsewhere while holding the lock leaves consistent slots behind (every
        // change is one assignment), so a poisoned lock is still usable.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves the lowest free meter number; `None` when all
    /// [`FEATURES`]`.max_meter` are in use.
    pub fn allocate(&self) -> Option<DpMeterId> {
        let mut s = self.lock();
        let free = s.reserved.iter().position(|r| !r);
        let i = match free {
            Some(i) => i,
            None if s.reserved.len() < FEATURES.max_meter as usize => {
                s.reserved.push(false);
                s.reserved.len() - 1
            }
            None => return None,
        };
        s.reserved[i] = true;
        u32::try_from(i).ok().map(DpMeterId)
    }

    /// Configures meter `id` (reserved by [`Self::allocate`]): new buckets, full, and zero
    /// counters, as Open vSwitch's datapath sets a meter.
    pub fn set(&self, id: DpMeterId, config: &DpMeterConfig) {
        let i = id.0 as usize;
        let mut s = self.lock();
        if s.reserved.len() <= i {
            s.reserved.resize(i + 1, false);
        }
        s.reserved[i] = true;
        let mut meters = s.meters.as_ref().clone();
        if meters.len() <= i {
            meters.resize(i + 1, None);
        }
        meters[i] = Some(Arc::new(Meter::new(config)));
        s.meters = Arc::new(meters);
        self.generation.fetch_add(1, Relaxed);
    }

    /// Deletes meter `id` and frees its number.
    pub fn free(&self, id: DpMeterId) {
        let i = id.0 as usize;
        let mut s = self.lock();
        if let Some(r) = s.reserved.get_mut(i) {
            *r = false;
        }
        if s.meters.get(i).is_some_and(Option::is_some) {
            let mut meters = s.meters.as_ref().clone();
            meters[i] = None;
            s.meters = Arc::new(meters);
            self.generation.fetch_add(1, Relaxed);
        }
    }

    /// Frees every meter whose number `keep` refuses (the meters of a bridge that is gone).
    pub fn retain(&self, keep: impl Fn(DpMeterId) -> bool) {
        let doomed: Vec<DpMeterId> = {
            let s = self.lock();
            s.reserved
                .iter()
                .enumerate()
                .filter(|(_, r)| **r)
                .filter_map(|(i, _)| u32::try_from(i).ok().map(DpMeterId))
                .filter(|id| !keep(*id))
                .collect()
        };
        for id in doomed {
            self.free(id);
        }
    }

    /// Meter `id`'s counters, if it is set.
    pub fn counters(&self, id: DpMeterId) -> Option<MeterCounters> {
        let s = self.lock();
        s.meters
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .map(|m| m.counters())
    }

    /// A view for one datapath thread.
    pub fn view(self: &Arc<Self>) -> MeterView {
        let mut v = MeterView {
            table: Arc::clone(self),
            generation: u64::MAX,
            meters: Arc::new(Vec::new()),
        };
        v.refresh();
        v
    }
}

/// One datapath thread's snapshot of a [`MeterTable`].
#[derive(Debug)]
pub struct MeterView {
    table: Arc<MeterTable>,
    generation: u64,
    meters: Arc<Vec<Option<Arc<Meter>>>>,
}

impl Default for MeterView {
    fn default() -> Self {
        Arc::new(MeterTable::new()).view()
    }
}

impl MeterView {
    /// Catches up with the table's changes (cheap when there were none).
    pub fn refresh(&mut self) {
        let g = self.table.generation.load(Relaxed);
        if g != self.generation {
            let s = self.table.lock();
            self.meters = Arc::clone(&s.meters);
            self.generation = self.table.generation.load(Relaxed);
        }
    }

    /// Charges a packet of `len` bytes to meter `id` at `now`; false when the meter drops
    /// it. A meter that does not exist (deleted meanwhile) lets it pass, as a datapath
    /// without that meter would.
    pub fn admit(&self, id: DpMeterId, len: usize, now: Millis) -> bool {
        match self.meters.get(id.0 as usize).and_then(Option::as_ref) {
            Some(m) => m.admit(len, now),
            None => true,
        }
    }

    /// The table the view follows.
    pub fn table(&self) -> &Arc<MeterTable> {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_pipeline::meter::DpBand;

    /// A one-band meter; a burst of 0 sizes the bucket by the rate.
    fn config(kbps: bool, rate: u32, burst: u32) -> DpMeterConfig {
        DpMeterConfig {
            kbps,
            bands: vec![DpBand {
                rate,
                burst: if burst == 0 { rate } else { burst },
            }],
        }
    }

    #[test]
    fn a_pktps_meter_passes_its_burst_then_its_rate() {
        let m = Meter::new(&config(false, 10, 5));
        let passed = (0..30).filter(|_| m.admit(100, Millis(1000))).count();
        assert_eq!(passed, 5, "a burst of 5 packets");
        // 10 packets per second: one more token per 100 ms.
        assert!(m.admit(100, Millis(1100)));
        assert!(!m.admit(100, Millis(1100)));
        let c = m.counters();
        assert_eq!(
            c.input,
            Counters {
                packets: 32,
                bytes: 3200
            }
        );
        assert_eq!(
            c.bands,
            vec![Counters {
                packets: 26,
                bytes: 2600
            }]
        );
    }

    #[test]
    fn a_kbps_meter_counts_bits_and_never_fills_past_its_burst() {
        // 80 kb/s, no burst flag: the bucket holds one second, 80 000 bits = 10 000 bytes.
        let m = Meter::new(&config(true, 80, 0));
        let passed = (0..20).filter(|_| m.admit(1000, Millis(0))).count();
        assert_eq!(passed, 10);
        // An hour later the bucket is full again, not fuller.
        let passed = (0..20).filter(|_| m.admit(1000, Millis(3_600_000))).count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn numbers_are_reused_and_views_follow_the_table() {
        let t = Arc::new(MeterTable::new());
        let a = t.allocate();
        let b = t.allocate();
        assert_eq!((a, b), (Some(DpMeterId(0)), Some(DpMeterId(1))));
        let mut v = t.view();
        t.set(DpMeterId(0), &config(false, 1, 0));
        assert!(v.admit(DpMeterId(0), 60, Millis(0)), "not seen yet: passes");
        v.refresh();
        assert!(v.admit(DpMeterId(0), 60, Millis(0)));
        assert!(
            !v.admit(DpMeterId(0), 60, Millis(0)),
            "rate 1, bucket of one packet"
        );
        assert_eq!(t.counters(DpMeterId(0)).map(|c| c.input.packets), Some(2));
        t.free(DpMeterId(0));
        assert_eq!(t.allocate(), Some(DpMeterId(0)));
        t.retain(|id| id == DpMeterId(1));
        assert_eq!(
            t.allocate(),
            Some(DpMeterId(0)),
            "retain freed meter 0 again"
        );
        v.refresh();
        assert!(v.admit(DpMeterId(0), 60, Millis(0)), "deleted: passes");
    }

    #[test]
    fn threads_share_one_bucket() {
        let m = Arc::new(Meter::new(&config(false, 1, 1000)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || (0..1000).filter(|_| m.admit(60, Millis(5))).count())
            })
            .collect();
        let passed: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(passed, 1000, "exactly the burst, whichever thread took it");
    }
}
