//! Datapath threads as an Open vSwitch user configures them: how many there are, which CPU
//! each is pinned to, and which thread receives from which port.
//!
//! Open vSwitch's userspace datapath runs one poll-mode thread ("PMD") per core of
//! `Open_vSwitch:other_config:pmd-cpu-mask` and spreads the devices' receive queues over
//! them. ferrovs maps that onto its datapath threads as closely as a kernel-socket datapath
//! allows:
//!
//! - **`pmd-cpu-mask`** (hex, `0x` optional): one datapath thread per set bit, pinned to that
//!   CPU with `sched_setaffinity(2)`. Unset, empty or unusable: one thread, not pinned (the
//!   behaviour before threads could be configured); an unusable mask is logged with its
//!   value. Unlike a DPDK PMD, a thread sleeps in `poll(2)` when its ports are idle.
//! - **Receive queues are ports**: every device has exactly one receive queue, queue 0.
//! - **`Interface:other_config:pmd-rxq-affinity`** (`queue:core,...`): queue 0's entry pins
//!   the port to the thread of that core, when the mask has it (else the port is assigned
//!   like the others, as Open vSwitch does); a thread with a pinned port is *isolated* and
//!   gets no other ports, unless every thread is (then Open vSwitch would leave the others
//!   unpolled; a port nobody reads is never what a user of this datapath wants).
//! - **`pmd-rxq-assign`**: the remaining ports go round-robin over the threads, in datapath
//!   port order; `roundrobin`, `cycles` and `group` all assign this way (there are no
//!   measured per-queue cycles to balance on yet), so the value is accepted and reported,
//!   nothing more.
//!
//! Tunnel vports receive through their underlay device, which is a port like any other.
//! Internal ports are read by the first thread outside the assignment (Open vSwitch's main
//! thread polls them, not a PMD thread), so they take no turn and are not listed.
//!
//! The settings are applied by the reconfiguration that carries them
//! ([`super::stats::push_settings`]), before it writes `cur_cfg`, as in Open vSwitch: when
//! `ovs-vsctl set` returns, `dpif-netdev/pmd-rxq-show` shows the new threads and
//! assignment. The `flow-limit` applies to each thread's megaflow cache.

use std::collections::{BTreeMap, BTreeSet};

use fvs_pipeline::dpif::DpPort;

/// A CPU number, as `pmd-cpu-mask` and `pmd-rxq-affinity` count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoreId(pub usize);

impl std::fmt::Display for CoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How many datapath threads run and where: the cores of `pmd-cpu-mask`, or one unpinned
/// thread (`cores` empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PmdConfig {
    /// The cores, ascending; empty for the default single unpinned thread.
    pub cores: Vec<CoreId>,
}

/// Why a `pmd-cpu-mask` or `pmd-rxq-affinity` value is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PmdError {
    /// Not a hexadecimal number.
    #[error("pmd-cpu-mask \"{0}\" is not a hexadecimal CPU mask")]
    BadMask(String),
    /// A `pmd-rxq-affinity` entry is not `queue:core`.
    #[error("invalid pmd-rxq-affinity format \"{0}\"")]
    BadAffinity(String),
}

impl PmdConfig {
    /// Parses `pmd-cpu-mask`; `None` or an empty or all-zero mask is the default.
    pub fn from_mask(mask: Option<&str>) -> Result<Self, PmdError> {
        let Some(text) = mask.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self::default());
        };
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PmdError::BadMask(text.to_owned()));
        }
        // Least significant digit first: digit i holds cores 4i..4i+3 (any length of mask).
        let mut cores = Vec::new();
        for (i, c) in digits.chars().rev().enumerate() {
            let v = c.to_digit(16).unwrap_or(0);
            for bit in 0..4 {
                if v & (1 << bit) != 0 {
                    cores.push(CoreId(i * 4 + bit));
                }
            }
        }
        Ok(Self { cores })
    }

    /// How many datapath threads run.
    pub fn n_threads(&self) -> usize {
        self.cores.len().max(1)
    }

    /// The core thread `i` is pinned to (`None`: not pinned).
    pub fn core(&self, i: usize) -> Option<CoreId> {
        self.cores.get(i).copied()
    }
}

/// Parses `pmd-rxq-affinity`: the core for queue 0, the only queue a port has here.
pub fn rxq_affinity(text: &str) -> Result<Option<CoreId>, PmdError> {
    let mut core0 = None;
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || PmdError::BadAffinity(text.to_owned());
        let (q, c) = entry.split_once(':').ok_or_else(bad)?;
        let q: u32 = q.trim().parse().map_err(|_| bad())?;
        let c: usize = c.trim().parse().map_err(|_| bad())?;
        if q == 0 {
            core0 = Some(CoreId(c));
        }
    }
    Ok(core0)
}

/// Assigns receiving `ports` (each with its affinity) to threads: a port whose affinity
/// names a core of `cfg` goes to that core's thread, which is then *isolated*: it receives
/// from its pinned ports only, as Open vSwitch's `pmd-rxq-isolate` default has it. The
/// other ports go round-robin, in the order given (datapath port order), over the threads
/// that are not isolated, or over all when every one is (where Open vSwitch would leave them
/// unpolled).
pub fn assign(cfg: &PmdConfig, ports: &[(DpPort, Option<CoreId>)]) -> BTreeMap<DpPort, usize> {
    let n = cfg.n_threads();
    let pinned_to =
        |affinity: Option<CoreId>| affinity.and_then(|c| cfg.cores.iter().position(|&k| k == c));
    let isolated: BTreeSet<usize> = ports.iter().filter_map(|&(_, a)| pinned_to(a)).collect();
    let mut open: Vec<usize> = (0..n).filter(|t| !isolated.contains(t)).collect();
    if open.is_empty() {
        open = (0..n).collect();
    }
    let mut out = BTreeMap::new();
    let mut next = 0;
    for &(port, affinity) in ports {
        let thread = pinned_to(affinity).unwrap_or_else(|| {
            let t = open[next % open.len()];
            next += 1;
            t
        });
        out.insert(port, thread);
    }
    out
}

/// Whether thread `t` is isolated: some port of `ports` (with its affinity) is pinned to it.
pub fn isolated(cfg: &PmdConfig, ports: &[(DpPort, Option<CoreId>)], t: usize) -> bool {
    ports.iter().any(|&(_, a)| a.is_some() && a == cfg.core(t))
}

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: CoreId) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(core.0).map_err(|e| format!("core {core}: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("pinning to core {core}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_gives_one_thread_per_set_bit() {
        let c = PmdConfig::from_mask(Some("0x6")).unwrap();
        assert_eq!(c.cores, vec![CoreId(1), CoreId(2)]);
        assert_eq!(c.n_threads(), 2);
        let c = PmdConfig::from_mask(Some("101")).unwrap();
        assert_eq!(c.cores, vec![CoreId(0), CoreId(8)]);
        for default in [None, Some(""), Some("0"), Some("0x0")] {
            let c = PmdConfig::from_mask(default).unwrap();
            assert_eq!(c.n_threads(), 1, "{default:?}");
            assert_eq!(c.core(0), None);
        }
        assert_eq!(
            PmdConfig::from_mask(Some("0xg")),
            Err(PmdError::BadMask("0xg".into()))
        );
    }

    #[test]
    fn affinity_pins_and_the_rest_go_round_robin() {
        assert_eq!(rxq_affinity("0:3,1:2"), Ok(Some(CoreId(3))));
        assert_eq!(rxq_affinity("1:2"), Ok(None));
        assert!(rxq_affinity("0-3").is_err());
        let cfg = PmdConfig::from_mask(Some("0x3")).unwrap();
        let a = assign(
            &cfg,
            &[
                (DpPort(1), None),
                (DpPort(2), Some(CoreId(0))),
                (DpPort(3), None),
                (DpPort(4), Some(CoreId(7))),
            ],
        );
        // Port 2 pins core 0, which takes nothing else; core 7 is not in the mask.
        let got: Vec<usize> = a.values().copied().collect();
        assert_eq!(got, vec![1, 0, 1, 1]);
        let one = PmdConfig::from_mask(Some("1")).unwrap();
        let a = assign(&one, &[(DpPort(1), Some(CoreId(0))), (DpPort(2), None)]);
        assert_eq!(a.values().copied().collect::<Vec<_>>(), vec![0, 0]);
    }
}
