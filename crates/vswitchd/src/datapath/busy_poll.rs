//! Busy polling after traffic: a datapath thread that just moved packets keeps looking at
//! its devices for a short while before it goes to sleep in `poll(2)`.
//!
//! # Why
//!
//! A datapath thread sleeps in `poll(2)` when its devices are idle, so that an idle switch
//! costs no CPU (Open vSwitch's PMD threads spin all the time instead). Waking it costs a
//! scheduler wake-up, and on a virtual machine whose idle vCPUs halt, often a wake-up of the
//! vCPU itself: tens to hundreds of microseconds, and much more in the tail when the vCPUs
//! are busy with other work. A request/response exchange (a ping, an RPC) pays that on every
//! crossing of the switch: twice per round trip through one switch, four times through two
//! hosts' switches over a tunnel. But the answer to a packet usually comes back soon after
//! the packet left, on the same thread (the reply through the same switch, the other
//! direction of the same connection). So after a round that moved packets the thread keeps
//! polling without sleeping for up to [`BusyPoll`] (`poll(2)` with a zero timeout, so
//! control messages are seen as before), giving the CPU away with `sched_yield(2)` between
//! two empty looks so that the processes it serves, which may share its CPU, are not
//! starved; only then does it sleep. Traffic that keeps coming never sleeps anyway.
//!
//! Spinning only pays on a CPU that would otherwise be idle. On a busy one it costs
//! latency: each `sched_yield(2)` pushes the thread back behind the other runnable tasks
//! (under EEVDF its deadline moves a whole slice), so a packet arriving then waits for their
//! slices, where a sleeping thread's wake-up would have been placed ahead of them; and CPU
//! time spent spinning counts against the thread when it wakes next. So the spin starts only
//! when fewer other tasks are runnable than there are CPUs (`/proc/loadavg`, read once per
//! spin), and a yield that actually ran somebody else ends it.
//!
//! # Measured: off by default
//!
//! At most the budget of CPU time after each burst of traffic: nothing on an idle switch, a
//! few per cent of a core for a ping every 10 ms, nothing extra under a steady load (the
//! thread is awake anyway). But on the two-vCPU machine the benchmarks ran on, shared with
//! compilers (load average 2 to 9), every variant lost against no busy polling in the same
//! run: 200 µs with plain yields made the case D ping 2 to 4 times slower, spinning without
//! yields too; with the guards above the ping still lost in most rounds (case C: 1.39 times
//! the average, median of three rounds) and TCP and the 60-byte rate dropped 6 to 13 %
//! (docs/benchmarks/datapath.md). A quiet machine, where the halted vCPU's wake-up is the
//! cost to save, has not been measured yet. So the default is off, and the budget a setting:
//!
//! - **`Open_vSwitch:other_config:pmd-busy-poll`**: microseconds, 0 to 10000 (larger values
//!   are taken as 10000, the bound Open vSwitch puts on its own `pmd-maxsleep`), 0 turns
//!   busy polling off. Unset or not a number: [`DEFAULT`] (a value that is not a number is
//!   logged with the value). The name follows Linux's `net.core.busy_poll`, which means the
//!   same for sockets: how long to busy-loop for events before sleeping. Open vSwitch has
//!   no such setting (its PMD threads never sleep unless `pmd-maxsleep` lets them, the
//!   inverse knob). Applied with the reconfiguration that carries it; each change is logged
//!   (`dpif_netdev`, INFO), as Open vSwitch logs its `pmd-maxsleep`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// The budget when `pmd-busy-poll` is unset: off, because on the shared two-vCPU machine of
/// the benchmarks every budget tried lost latency and throughput (see the module docs).
pub const DEFAULT: BusyPoll = BusyPoll::OFF;

/// A `sched_yield(2)` that takes longer than this ran somebody else: the CPU is contended.
/// (An uncontended yield takes a microsecond or two; a wake-up from sleep costs tens.)
const CONTENDED: Duration = Duration::from_micros(30);

/// The largest budget, in microseconds.
pub const MAX_US: u64 = 10_000;

/// How long a datapath thread keeps polling after its last packet before it sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BusyPoll(Duration);

/// Why a `pmd-busy-poll` value is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusyPollError {
    /// Not a non-negative decimal number.
    #[error("pmd-busy-poll \"{0}\" is not a number of microseconds")]
    NotANumber(String),
}

impl BusyPoll {
    /// No busy polling: sleep as soon as a round moves nothing.
    pub const OFF: Self = Self(Duration::ZERO);

    /// Parses `pmd-busy-poll`: `None` (unset) is [`DEFAULT`], values above [`MAX_US`] are
    /// [`MAX_US`].
    pub fn parse(text: Option<&str>) -> Result<Self, BusyPollError> {
        let Some(text) = text.map(str::trim) else {
            return Ok(DEFAULT);
        };
        let us: u64 = match text.parse() {
            Ok(n) => n,
            // All digits but too many for a u64: as large as it gets.
            Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => MAX_US,
            Err(_) => return Err(BusyPollError::NotANumber(text.to_owned())),
        };
        Ok(Self(Duration::from_micros(us.min(MAX_US))))
    }

    /// The budget as a duration.
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl std::fmt::Display for BusyPoll {
    /// `200 usecs`, the unit word of Open vSwitch's own log messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} usecs", self.0.as_micros())
    }
}

/// One thread's busy-poll state: its budget, when it last moved a packet, and whether the
/// machine has a CPU to spare for the spin that follows.
#[derive(Debug)]
pub struct Spinner {
    budget: BusyPoll,
    /// Whether the budget was ever set from the configuration (before, it is [`DEFAULT`]).
    configured: bool,
    last_traffic: Option<Instant>,
    /// Whether this spin may go on: decided at its first empty look (`None`: not yet).
    allowed: Option<bool>,
    runq: RunQueue,
}

impl Default for Spinner {
    fn default() -> Self {
        Self {
            budget: DEFAULT,
            configured: false,
            last_traffic: None,
            allowed: None,
            runq: RunQueue::open(),
        }
    }
}

impl Spinner {
    /// Sets the budget; returns the one it replaces, `None` the first time (so that the
    /// value in force is logged once at start, as Open vSwitch logs its `pmd-maxsleep`).
    pub fn set_budget(&mut self, budget: BusyPoll) -> Option<BusyPoll> {
        let old = std::mem::replace(&mut self.budget, budget);
        std::mem::replace(&mut self.configured, true).then_some(old)
    }

    /// The budget.
    pub fn budget(&self) -> BusyPoll {
        self.budget
    }

    /// A round moved packets at `now`: a new spin may follow.
    pub fn traffic(&mut self, now: Instant) {
        self.last_traffic = Some(now);
        self.allowed = None;
    }

    /// Whether the thread should look at its devices again without sleeping at `now`: its
    /// last packet is less than the budget before, and when the spin began the machine had
    /// a CPU nobody else wanted ([`RunQueue`]) and no yield since ran somebody else.
    pub fn spinning(&mut self, now: Instant) -> bool {
        let within = self
            .last_traffic
            .is_some_and(|t| now.saturating_duration_since(t) < self.budget.0);
        within && *self.allowed.get_or_insert_with(|| self.runq.spare_cpu())
    }

    /// A look at the devices found nothing while spinning: give the CPU to whoever else
    /// wants it (`sched_yield(2)`), and come back at once if nobody does. If somebody did
    /// (the yield took longer than [`CONTENDED`]), the CPU is not idle: stop spinning until
    /// the next traffic (see the module docs).
    pub fn idle_look(&mut self) {
        let start = Instant::now();
        std::thread::yield_now();
        if start.elapsed() > CONTENDED {
            self.allowed = Some(false);
        }
    }
}

/// How busy the machine is right now: the number of runnable tasks (`/proc/loadavg`'s
/// fourth field, `running/total`, which counts the reader itself) against the online CPUs.
#[derive(Debug)]
struct RunQueue {
    /// `/proc/loadavg`, kept open (a read is one `pread(2)`); `None` without `/proc`.
    loadavg: Option<File>,
    cpus: usize,
}

impl RunQueue {
    fn open() -> Self {
        let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|t| count_cpus(&t))
            .unwrap_or(1);
        Self {
            loadavg: File::open("/proc/loadavg").ok(),
            cpus,
        }
    }

    /// Whether, with this thread asleep, some CPU would be idle: fewer other runnable tasks
    /// than CPUs. Without `/proc` there is no telling, and the user's budget is honoured.
    fn spare_cpu(&self) -> bool {
        let Some(f) = &self.loadavg else {
            return true;
        };
        let mut buf = [0u8; 128];
        let Ok(n) = f.read_at(&mut buf, 0) else {
            return true;
        };
        spare(&buf[..n], self.cpus)
    }
}

/// Whether a `/proc/loadavg` text, read by a running task, leaves one of `cpus` CPUs idle
/// once that task sleeps (an unreadable text: as if so).
fn spare(loadavg: &[u8], cpus: usize) -> bool {
    running(loadavg).is_none_or(|r| r <= cpus)
}

/// The runnable tasks in a `/proc/loadavg` text (`0.50 0.40 0.30 2/97 1234`).
fn running(text: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(text).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.0.parse().ok()
}

/// The number of CPUs in a CPU list (`0-3,5,7-8`).
fn count_cpus(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_clamp_and_name_the_bad_token() {
        assert_eq!(BusyPoll::parse(None), Ok(DEFAULT));
        assert_eq!(BusyPoll::parse(Some("0")), Ok(BusyPoll::OFF));
        assert_eq!(
            BusyPoll::parse(Some(" 50 ")).map(BusyPoll::duration),
            Ok(Duration::from_micros(50))
        );
        let max = Ok(Duration::from_millis(10));
        assert_eq!(BusyPoll::parse(Some("20000")).map(BusyPoll::duration), max);
        assert_eq!(
            BusyPoll::parse(Some("99999999999999999999999")).map(BusyPoll::duration),
            max
        );
        for bad in ["abc", "-5", "1.5", ""] {
            assert_eq!(
                BusyPoll::parse(Some(bad)),
                Err(BusyPollError::NotANumber(bad.to_owned()))
            );
        }
        assert_eq!(
            BusyPollError::NotANumber("abc".into()).to_string(),
            "pmd-busy-poll \"abc\" is not a number of microseconds"
        );
        assert_eq!(DEFAULT.to_string(), "0 usecs");
        assert_eq!(
            BusyPoll::parse(Some("200")).map(|b| b.to_string()),
            Ok("200 usecs".to_owned())
        );
    }

    #[test]
    fn a_thread_spins_only_after_traffic_and_only_with_a_budget() {
        let t0 = Instant::now();
        let at = |us| t0 + Duration::from_micros(us);
        let mut s = Spinner {
            runq: RunQueue {
                loadavg: None,
                cpus: 1,
            },
            ..Spinner::default()
        };
        assert!(!s.spinning(t0), "no traffic yet: sleep");
        assert_eq!(s.set_budget(BusyPoll(Duration::from_micros(200))), None);
        s.traffic(t0);
        assert!(s.spinning(at(199)), "within the budget");
        assert!(!s.spinning(at(200)), "the budget is spent");
        s.traffic(at(150));
        assert!(s.spinning(at(300)), "more traffic starts the budget again");
        assert_eq!(
            s.set_budget(BusyPoll::OFF),
            Some(BusyPoll(Duration::from_micros(200)))
        );
        assert!(!s.spinning(at(150)), "busy polling off");
    }

    #[test]
    fn the_spin_needs_a_cpu_nobody_else_wants() {
        assert_eq!(running(b"5.95 6.34 5.65 3/120 31337\n"), Some(3));
        assert_eq!(running(b"garbage"), None);
        assert_eq!(count_cpus("0-1\n"), Some(2));
        assert_eq!(count_cpus("0-3,5,7-8"), Some(7));
        assert_eq!(count_cpus("x"), None);
        // Us and one other on two CPUs: a CPU would idle. Us and two others: none would.
        assert!(spare(b"0.1 0.1 0.1 2/90 1", 2));
        assert!(!spare(b"6.0 6.0 6.0 3/90 1", 2));
        assert!(spare(b"6.0 6.0 6.0 3/90 1", 4));
    }
}
