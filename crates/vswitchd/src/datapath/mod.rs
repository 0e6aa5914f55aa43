//! The daemon's fast path: `fvs_datapath::Datapath`s on threads of their own, fed by the
//! ports' network devices, with the pipeline as their slow path.
//!
//! # Shape
//!
//! ```text
//!  reconcile thread ── opens devices ──► Handle ── Ctl channel + wake-up socket ──► datapath thread 0..n
//!  appctl, OpenFlow ── queries, packet-out ──┘                                       │ poll(2)
//!                                        devices (shared) ◄── batches ───────────────┤
//!                                        Switch (mutex) ◄── upcall, revalidation ────┘
//! ```
//!
//! - **Datapath threads, no async runtime.** [`thread`] owns one datapath and waits in
//!   `poll(2)` on the devices it receives from and on a socket pair that [`Handle`] writes
//!   to when it sends it a message. Between batches it drains the messages (ports added and
//!   removed, flushes, packet-outs, queries as closures) and, every
//!   [`thread::REVALIDATE_EVERY`], runs a revalidation pass. After traffic it keeps
//!   polling without sleeping for up to `other_config:pmd-busy-poll` while a CPU is spare
//!   ([`busy_poll`]), so an answer that comes back soon pays no wake-up. It blocks on
//!   nothing but the switch's lock, taken for an upcall's translation or a revalidation
//!   pass, and a device's lock for one batch's system call; so nobody may wait for a
//!   datapath thread while holding the switch's lock, and the reconciler, which runs under
//!   it, only sends.
//! - **How many threads, where, reading which ports** ([`pmd`]): one unpinned thread by
//!   default; `Open_vSwitch:other_config:pmd-cpu-mask` asks for one thread per core, pinned,
//!   and ports (a device's single receive queue) are spread over them round-robin or by
//!   `Interface:other_config:pmd-rxq-affinity`. A changed mask stops every thread (each
//!   revalidates once more, so what its megaflows forwarded is counted) and starts the new
//!   set with every port; a changed port set or affinity only moves receive queues
//!   ([`thread::Ctl::Receive`]).
//! - **What each thread owns, what they share.** Every thread has every port in its own
//!   `Datapath` (it may have to send to any of them) but receives only from its own. Its
//!   exact-match cache, megaflow cache, output batches and upcall bookkeeping ([`slow`]) are
//!   its own: a megaflow is installed by the thread whose packet missed and revalidated by
//!   that thread, so revalidation covers every megaflow and never stalls another thread's
//!   forwarding (the only shared state is the switch's lock, as for upcalls). A flow that
//!   arrives on ports of two threads is cached twice: megaflow counts in `upcall/show` and
//!   `dpctl/show` are sums over threads, as Open vSwitch's are over its PMD threads. A
//!   device is shared ([`shared`]): one mutex around it, held for one `recv_batch` or
//!   `send_batch` call.
//! - **Statistics and learning stay exact with any number of threads.** Each thread's
//!   revalidation adds the packets its own megaflows forwarded since its last pass to the
//!   rules and replays their side effects (`learn`, MAC learning) under the switch's lock,
//!   exactly as a single thread does for all of them: counts add up, and learning is
//!   idempotent. `revalidator/wait`, `fdb/flush` and the like run on every thread before
//!   answering. Packet-ins and expired rules go to handlers every thread shares
//!   ([`thread::Handlers`]).
//! - **Upcalls and the translation cache** live in [`slow`]: a miss is translated by the
//!   pipeline, its side effects applied for that packet, and the megaflow installed with the
//!   translation's mask and a cookie naming the side effects, which revalidation replays for
//!   the packets the megaflow forwards (rule statistics, `learn`, MAC learning).
//! - **Ports** ([`ports`]) are opened on the reconciler's thread, so an error reaches the
//!   interface's `error` column in the same write-back, and then handed to every datapath
//!   thread. Datapath port numbers are the reconciler's; the pipeline's `Port::dp_port` is
//!   the only map between them and OpenFlow ports ([`slow::owner`]).
//! - **Packets from the command line** ([`packet`]): `netdev-dummy/receive` injects into a
//!   dummy device and has the thread that receives from it receive it before answering, so
//!   a caller that checks counters next sees the packet's effect, as with Open vSwitch.
//!
//! # For the OpenFlow side
//!
//! - Packet-ins: [`Handle::set_packet_in_handler`] takes a closure that the datapath threads
//!   call with each [`PacketIn`] (a `controller` action or a table miss sending to the
//!   controller); it must not block. Without a handler they are counted and dropped.
//! - Expired rules: revalidation expires rules by their idle and hard timeouts and hands
//!   them to the closure given to [`Handle::set_removed_handler`] (flow-removed messages).
//! - Packet-outs: [`Handle::packet_out`] translates the actions with the pipeline and has
//!   the first datapath thread run the result on the frame.
//! - `dpif-netdev/pmd-rxq-show` and `dpif-netdev/pmd-stats-show` ([`commands`]) show the
//!   threads, their ports and their lookups in Open vSwitch's layout.
//! - Queries: [`Handle::query`] runs on the first thread (ports and devices, which every
//!   thread sees alike), [`Handle::query_all`] on each (megaflows, counters).
//!
//! - **Interface rows** ([`stats`]): device counters, link state, MTU and ifindex written
//!   back every `stats-update-interval`.
//! - **Ports' OpenFlow features** ([`link`]): each device's feature bits and speeds from
//!   its driver's link settings, read when it opens and refreshed in each round of
//!   [`stats`], cached in [`Handle::port_features`] for port descriptions.
//! - **Kernel flow offload** ([`offload`], `other_config:hw-offload=true`, off by
//!   default): a megaflow that is one plain output from a `system` port to another, with a
//!   match a `u32` filter expresses exactly (Ethernet addresses, EtherType, untagged, IPv4
//!   not a fragment), is forwarded by the kernel's traffic control (`u32` + `mirred` on the
//!   input device's ingress, `fvs_netdev::tc`), which saves the datapath thread the two
//!   copies of every frame; the port's packet socket skips those packets. Each revalidation
//!   pass adds the filters' counters to their megaflows (rule statistics, `learn`, MAC
//!   learning) and installs and removes filters with the megaflows; none outlives the daemon.
//!   `dpctl/dump-flows -m` shows `offloaded:yes, dp:tc`, `type=` filters.
//! - **Native tunnels** ([`native`]): a tunnel whose kernel route leaves through an
//!   internal port of a bridge (Open vSwitch's `br-phy` layout) is encapsulated into that
//!   bridge by the datapath and taken back from it; the routes are looked up at every
//!   reconfiguration, at every change the kernel announces and at least every second, the
//!   neighbours snooped from ARP, and every thread
//!   takes the result when its generation changes. `tnl/arp/*`, `tnl/neigh/*`,
//!   `ovs/route/show` and `ovs/route/lookup` show them in Open vSwitch's formats.
//!
//! # Not done yet
//!
//! One receive queue per device (no `PACKET_FANOUT` to spread one busy device over
//! threads); `pmd-rxq-assign=cycles` assigns round-robin (no per-queue cycle counts);
//! patch interfaces get no `statistics`; the flow limit is fixed (Open vSwitch adjusts its
//! own to the time a dump takes).

pub mod busy_poll;
pub mod commands;
pub mod link;
pub mod native;
pub mod native_v6;
pub mod offload;
pub mod packet;
pub mod pmd;
pub mod ports;
pub mod router;
pub mod shared;
pub mod slow;
pub mod stats;
pub mod thread;
pub mod tnl_ports;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fvs_flow::{Field, FlowKey, PortNo};
use fvs_netdev::dummy::DummyHandle;
use fvs_netdev::tunnel::UnderlayConfig;
use fvs_openflow::Action;
use fvs_pipeline::dpif::DpPort;

use crate::Daemon;
use fvs_datapath::port::PortKind;
use pmd::{CoreId, PmdConfig};
use ports::{Device, PortSpec};
use shared::SharedNetdev;
use thread::{Ctl, Fast, Handlers, PacketInHandler};

/// A packet the switch sends to its controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The bridge it comes from.
    pub bridge: String,
    /// Its flow as OpenFlow sees it: `in_port` an OpenFlow port, tunnel metadata set.
    pub flow: FlowKey,
    /// The frame, as the actions before `controller` left it.
    pub frame: Vec<u8>,
    /// OpenFlow's reason code (0 no match, 1 action).
    pub reason: u8,
    /// Bytes the controller asked for (`max_len`).
    pub max_len: u16,
    /// The cookie of the rule that sent it.
    pub cookie: u64,
    /// The table of that rule.
    pub table: u8,
    /// The controller connections that get it (`controller(id=...)`).
    pub controller_id: u16,
    /// `controller(userdata=...)`.
    pub userdata: Option<Vec<u8>>,
    /// `controller(pause)`: the paused translation (then `bridge` is the bridge whose
    /// pipeline paused, a patch port's peer possibly).
    pub continuation: Option<Box<fvs_pipeline::xlate::Frozen>>,
    /// The datapath port the packet came in on.
    pub odp_port: u32,
}

/// Why a packet-out was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketOutError {
    /// No such bridge.
    #[error("{0}: no such bridge")]
    NoSuchBridge(String),
    /// The datapath thread is gone.
    #[error("the datapath is not running")]
    NotRunning,
}

/// A port the datapath has, as the control side remembers it.
struct OpenPort {
    no: DpPort,
    spec: PortSpec,
    dummy: Option<DummyHandle>,
    /// What every datapath thread gets as this port (clones of one device).
    kind: SharedKind,
}

impl OpenPort {
    /// When `spec` differs from this port's only in the address the switch gives the device,
    /// sets that address on the open device and says so: a TAP device keeps the addresses
    /// and routes the host put on it (reopening would lose them), as in Open vSwitch, which
    /// changes a bridge's address in place. Devices the switch does not make (AF_PACKET,
    /// tunnels) never take the address, so for them there is nothing to do. False (the
    /// caller reopens) when anything else changed or the kernel refused the address.
    fn set_mac_in_place(&self, spec: &PortSpec) -> bool {
        let same_otherwise = PortSpec {
            mac: spec.mac,
            ..self.spec.clone()
        } == *spec;
        if !same_otherwise {
            return false;
        }
        match (&spec.device, spec.mac, &self.kind) {
            (Device::Tap | Device::Dummy { .. }, Some(mac), SharedKind::Netdev(dev)) => {
                fvs_netdev::Netdev::set_mac(&mut dev.clone(), fvs_netdev::MacAddr(mac)).is_ok()
            }
            (Device::Tap | Device::Dummy { .. }, ..) => false,
            _ => true,
        }
    }

    /// The configuration dropped this port: a device the switch made to outlive the daemon
    /// (an internal port's persistent TAP) goes once the datapath threads close it. Should
    /// the kernel refuse, the device stays, as one the host made would.
    fn remove_device(&self) {
        if let SharedKind::Netdev(dev) = &self.kind {
            let _ = fvs_netdev::Netdev::remove(dev);
        }
    }

    /// A bridge's internal port (a TAP device, or its dummy stand-in).
    fn is_internal(&self) -> bool {
        matches!(
            self.spec.device,
            Device::Tap | Device::Dummy { internal: true }
        )
    }
}

/// A port as every thread's datapath holds it.
#[derive(Clone)]
enum SharedKind {
    Netdev(SharedNetdev),
    Tunnel(fvs_datapath::port::TunnelVport),
}

impl SharedKind {
    fn new(kind: PortKind) -> std::io::Result<Self> {
        Ok(match kind {
            PortKind::Netdev(d) => Self::Netdev(SharedNetdev::new(d)?),
            PortKind::Tunnel(t) => Self::Tunnel(t),
        })
    }

    fn kind(&self) -> PortKind {
        match self {
            Self::Netdev(d) => PortKind::Netdev(Box::new(d.clone())),
            Self::Tunnel(t) => PortKind::Tunnel(*t),
        }
    }
}

/// One datapath thread as the control side reaches it.
struct Worker {
    tx: Sender<Ctl>,
    waker: UnixStream,
}

/// The datapath threads, their configuration and who receives from which port.
struct Workers {
    threads: Vec<Worker>,
    pmd: PmdConfig,
    /// `pmd-rxq-affinity` of each interface that has one, by name.
    affinity: BTreeMap<String, CoreId>,
    /// The thread that receives from each device port.
    rxq: BTreeMap<DpPort, usize>,
}

/// One datapath thread as `dpif-netdev/pmd-rxq-show` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmdThread {
    /// The core it is pinned to (`None`: the default unpinned thread).
    pub core: Option<CoreId>,
    /// Whether `pmd-rxq-affinity` pinned a port to it (then it receives from no others).
    pub isolated: bool,
    /// The ports assigned to it, by datapath port number, with their names (internal ports,
    /// which the first thread reads outside the assignment, are not listed).
    pub ports: Vec<(DpPort, String)>,
}

/// The control side of the datapath threads.
pub struct Handle {
    daemon: Arc<Daemon>,
    workers: Mutex<Workers>,
    handlers: Arc<Handlers>,
    enable_dummy: bool,
    ports: Mutex<BTreeMap<String, OpenPort>>,
    /// Every interface's configured type and options, by name (`dpif/show`).
    ifaces: Mutex<BTreeMap<String, IfaceType>>,
    /// The bridge of every interface, by name (native tunnels name a neighbour's bridge).
    bridges: Mutex<BTreeMap<String, String>>,
    /// Every open device's OpenFlow features, by name ([`link`]). A leaf lock: nothing else
    /// is taken while it is held, so port descriptions may read it under the switch's lock.
    features: Mutex<BTreeMap<String, link::PortFeatures>>,
}

/// An interface's configured `type` and `options`.
pub type IfaceType = (String, BTreeMap<String, String>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a query waits for the datapath thread.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Handle {
    /// Starts the datapath for `daemon`: one thread, not pinned, until [`Handle::set_pmd`]
    /// says otherwise.
    pub fn start(daemon: &Arc<Daemon>, enable_dummy: bool) -> std::io::Result<Arc<Self>> {
        let handlers = Arc::new(Handlers::default());
        let first = spawn_worker(daemon, &handlers, 0, None)?;
        let handle = Arc::new(Self {
            daemon: Arc::clone(daemon),
            workers: Mutex::new(Workers {
                threads: vec![first],
                pmd: PmdConfig::default(),
                affinity: BTreeMap::new(),
                rxq: BTreeMap::new(),
            }),
            handlers,
            enable_dummy,
            ports: Mutex::new(BTreeMap::new()),
            ifaces: Mutex::new(BTreeMap::new()),
            bridges: Mutex::new(BTreeMap::new()),
            features: Mutex::new(BTreeMap::new()),
        });
        // Routes change without a reconfiguration: native tunnels follow them as soon as the
        // kernel announces a change, and at least every ROUTE_PASS_EVERY.
        // A destination a `remote_ip=flow` tunnel was given is routed within
        // native::ROUTE_ASK_EVERY of its first packet.
        let weak = Arc::downgrade(&handle);
        let mut changes = fvs_netdev::netlink::Changes::open().ok();
        std::thread::Builder::new()
            .name("native-routes".to_owned())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                loop {
                    let changed = match changes.as_mut().map(|c| c.wait(native::ROUTE_ASK_EVERY)) {
                        Some(Ok(changed)) => changed,
                        // Without announcements, polling alone.
                        Some(Err(_)) | None => {
                            changes = None;
                            std::thread::sleep(native::ROUTE_ASK_EVERY);
                            false
                        }
                    };
                    let Some(h) = weak.upgrade() else { return };
                    let asked = h.handlers.native.take_route_request();
                    if changed || asked || last.elapsed() >= native::ROUTE_PASS_EVERY {
                        last = std::time::Instant::now();
                        h.refresh_native();
                    }
                }
            })?;
        Ok(handle)
    }

    /// Whether every port is a dummy (`--enable-dummy`).
    pub fn enable_dummy(&self) -> bool {
        self.enable_dummy
    }

    /// Sends `msg` to thread `i` (the first if there is no such thread).
    fn send_to(&self, i: usize, msg: Ctl) -> bool {
        let w = lock(&self.workers);
        let Some(worker) = w.threads.get(i).or_else(|| w.threads.first()) else {
            return false;
        };
        wake_send(worker, msg)
    }

    fn send(&self, msg: Ctl) -> bool {
        self.send_to(0, msg)
    }

    /// Sends what `make` makes to every thread.
    fn broadcast(&self, make: impl Fn() -> Ctl) -> bool {
        let w = lock(&self.workers);
        // Every thread gets the message, even after one that is gone.
        let sent: Vec<bool> = w
            .threads
            .iter()
            .map(|worker| wake_send(worker, make()))
            .collect();
        sent.into_iter().all(|ok| ok)
    }

    /// Logs a warning about the datapath (module `dpif_netdev`).
    pub fn warn(&self, text: &str) {
        self.daemon
            .log("dpif_netdev", crate::vlog::Level::Warn, text);
    }

    /// Logs `text` at info level for the datapath (`dpif_netdev`).
    pub fn info(&self, text: &str) {
        self.daemon
            .log("dpif_netdev", crate::vlog::Level::Info, text);
    }

    /// How many datapath threads run.
    pub fn n_threads(&self) -> usize {
        lock(&self.workers).threads.len()
    }

    /// Runs `f` on the first datapath thread between batches and returns its result: for
    /// what every thread sees alike (ports, devices). Never call this while holding the
    /// switch's lock.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Fast) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        let sent = self.send(Ctl::Run(Box::new(move |fast| {
            let _ = tx.send(f(fast));
        })));
        if !sent {
            return Err("the datapath is not running".into());
        }
        rx.recv_timeout(QUERY_TIMEOUT)
            .map_err(|_| "the datapath did not answer".into())
    }

    /// Runs `f` on every datapath thread and returns the results in thread order: for what
    /// each thread has of its own (megaflows, counters, its exact-match cache).
    pub fn query_all<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Fast) -> T + Send + Sync + 'static,
    ) -> Result<Vec<T>, String> {
        let f = Arc::new(f);
        let mut replies = Vec::new();
        {
            let w = lock(&self.workers);
            for (i, worker) in w.threads.iter().enumerate() {
                let (tx, rx) = mpsc::channel();
                let f = Arc::clone(&f);
                if !wake_send(
                    worker,
                    Ctl::Run(Box::new(move |fast| {
                        let _ = tx.send(f(fast));
                    })),
                ) {
                    return Err(format!("datapath thread {i} is not running"));
                }
                replies.push(rx);
            }
        }
        replies
            .into_iter()
            .map(|rx| {
                rx.recv_timeout(QUERY_TIMEOUT)
                    .map_err(|_| "the datapath did not answer".to_owned())
            })
            .collect()
    }

    /// Applies `pmd-cpu-mask` and the interfaces' `pmd-rxq-affinity` (see [`pmd`]): a
    /// changed mask stops every thread (each revalidates what its megaflows forwarded
    /// first) and starts the new ones with every port; then ports are assigned again.
    pub fn set_pmd(&self, cfg: PmdConfig, affinity: BTreeMap<String, CoreId>) {
        let ports = lock(&self.ports);
        let mut w = lock(&self.workers);
        if w.pmd != cfg {
            for worker in w.threads.drain(..) {
                wake_send(&worker, Ctl::Stop);
            }
            for i in 0..cfg.n_threads() {
                match spawn_worker(&self.daemon, &self.handlers, i, cfg.core(i)) {
                    Ok(worker) => w.threads.push(worker),
                    Err(e) => self.daemon.log(
                        "dpif_netdev",
                        crate::vlog::Level::Err,
                        &format!("cannot start datapath thread {i}: {e}"),
                    ),
                }
            }
            // Tunnel vports after their underlays: replay in port number order, devices
            // first.
            let mut open: Vec<(&String, &OpenPort)> = ports.iter().collect();
            open.sort_by_key(|(_, p)| (matches!(p.kind, SharedKind::Tunnel(_)), p.no));
            for (name, p) in open {
                for worker in &w.threads {
                    wake_send(
                        worker,
                        Ctl::AddPort {
                            no: p.no,
                            name: name.clone(),
                            kind: p.kind.kind(),
                        },
                    );
                }
            }
            w.pmd = cfg;
            w.rxq.clear();
        }
        w.affinity = affinity;
        reassign(&ports, &mut w);
    }

    /// The datapath threads in order: core, isolation and the ports each receives from.
    pub fn pmd_threads(&self) -> Vec<PmdThread> {
        let ports = lock(&self.ports);
        let w = lock(&self.workers);
        let names: BTreeMap<DpPort, &String> = ports.iter().map(|(n, p)| (p.no, n)).collect();
        let pinned: Vec<(DpPort, Option<CoreId>)> = ports
            .iter()
            .map(|(n, p)| (p.no, w.affinity.get(n).copied()))
            .collect();
        let internal: BTreeSet<DpPort> = ports
            .values()
            .filter(|p| p.is_internal())
            .map(|p| p.no)
            .collect();
        (0..w.threads.len())
            .map(|t| PmdThread {
                core: w.pmd.core(t),
                isolated: pmd::isolated(&w.pmd, &pinned, t),
                ports: w
                    .rxq
                    .iter()
                    .filter(|&(no, &owner)| owner == t && !internal.contains(no))
                    .map(|(&no, _)| {
                        (
                            no,
                            names.get(&no).map_or_else(String::new, |n| (*n).clone()),
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    /// Makes sure the device for interface `name` (of `kind`, with `options`) is datapath
    /// port `no`: opens it if new, reopens it if its configuration changed. Returns the
    /// address of an existing device (for `mac_in_use`). `Ok(None)` also for patch ports,
    /// which have no device.
    pub fn ensure_port(
        &self,
        name: &str,
        no: DpPort,
        kind: &str,
        options: &BTreeMap<String, String>,
        mac: Option<[u8; 6]>,
    ) -> Result<Option<[u8; 6]>, String> {
        let Some(device) = ports::device_for(kind, self.enable_dummy) else {
            return Ok(None);
        };
        let spec = PortSpec {
            device,
            kind: kind.to_owned(),
            options: options.clone(),
            mac,
            underlay: None,
            dst_port: 0,
        };
        self.ensure(name, no, spec)
    }

    /// Makes sure the vport `name` shared by the tunnels of one underlay `config` (protocol
    /// and UDP port) exists as port `no`, with its underlay device as port `underlay`. A
    /// change of the underlay's local address reopens the underlay.
    pub fn ensure_tunnel(
        &self,
        name: &str,
        no: DpPort,
        config: UnderlayConfig,
        underlay: DpPort,
    ) -> Result<(), String> {
        let protocol = config.protocol;
        let kind = match protocol {
            fvs_packet::tunnel::TunnelProtocol::Gre => "gre",
            fvs_packet::tunnel::TunnelProtocol::Vxlan => "vxlan",
            fvs_packet::tunnel::TunnelProtocol::Geneve => "geneve",
        };
        let under = PortSpec {
            device: Device::Underlay(config),
            kind: kind.to_owned(),
            options: BTreeMap::new(),
            mac: None,
            underlay: None,
            dst_port: 0,
        };
        self.ensure(&underlay_name(name), underlay, under)?;
        let spec = PortSpec {
            device: Device::Tunnel(protocol),
            kind: kind.to_owned(),
            options: BTreeMap::new(),
            mac: None,
            underlay: Some(underlay),
            dst_port: config.dst_port,
        };
        self.ensure(name, no, spec).map(|_| ())
    }

    fn ensure(&self, name: &str, no: DpPort, spec: PortSpec) -> Result<Option<[u8; 6]>, String> {
        let mut ports = lock(&self.ports);
        if let Some(p) = ports.get_mut(name) {
            if p.no == no && p.spec == spec {
                return Ok(None);
            }
            if p.no == no && p.set_mac_in_place(&spec) {
                p.spec = spec;
                return Ok(None);
            }
            p.remove_device();
            let old = p.no;
            ports.remove(name);
            self.broadcast(|| Ctl::RemovePort(old));
        }
        let opened = ports::open(name, &spec, self.enable_dummy)?;
        if let Some(w) = &opened.warning {
            self.daemon.log("netdev_linux", crate::vlog::Level::Warn, w);
        }
        let kind = SharedKind::new(opened.kind).map_err(|e| format!("{name}: {e}"))?;
        self.set_link_settings(name, opened.settings.as_ref());
        self.broadcast(|| Ctl::AddPort {
            no,
            name: name.to_owned(),
            kind: kind.kind(),
        });
        ports.insert(
            name.to_owned(),
            OpenPort {
                no,
                spec,
                dummy: opened.dummy,
                kind,
            },
        );
        reassign(&ports, &mut lock(&self.workers));
        Ok(opened.mac)
    }

    /// Removes every port whose name is not in `live` (vports before their underlays), then
    /// has the datapath start its caches again when anything changed or `changed` says the
    /// bridges did.
    pub fn retain_ports(&self, live: &BTreeSet<String>, changed: bool) {
        let mut ports = lock(&self.ports);
        let live_underlays: BTreeSet<String> = live.iter().map(|n| underlay_name(n)).collect();
        let doomed: Vec<(String, DpPort, bool)> = ports
            .iter()
            .filter(|(n, _)| !live.contains(*n) && !live_underlays.contains(*n))
            .map(|(n, p)| {
                (
                    n.clone(),
                    p.no,
                    matches!(p.spec.device, Device::Underlay(_)),
                )
            })
            .collect();
        for under in [false, true] {
            for (name, no, is_underlay) in &doomed {
                if *is_underlay == under {
                    if let Some(p) = ports.get(name) {
                        p.remove_device();
                    }
                    ports.remove(name);
                    self.broadcast(|| Ctl::RemovePort(*no));
                }
            }
        }
        if !doomed.is_empty() {
            reassign(&ports, &mut lock(&self.workers));
        }
        lock(&self.features).retain(|name, _| ports.contains_key(name));
        if changed || !doomed.is_empty() {
            self.broadcast(|| Ctl::Flush);
        } else {
            self.broadcast(|| Ctl::Revalidate);
        }
    }

    /// The OpenFlow features of the device named `name` as last read ([`link`]); none for
    /// a name with no device (patch ports, tunnels' interfaces).
    pub fn port_features(&self, name: &str) -> link::PortFeatures {
        lock(&self.features).get(name).copied().unwrap_or_default()
    }

    /// Records what the driver of the device named `name` now says of its link.
    pub fn set_link_settings(&self, name: &str, settings: Option<&fvs_netdev::LinkSettings>) {
        let f = link::PortFeatures::from_settings(settings);
        lock(&self.features).insert(name.to_owned(), f);
    }

    /// Like [`Handle::set_link_settings`] for a device still open; a device that went
    /// meanwhile is not brought back.
    pub fn refresh_link_settings(&self, name: &str, settings: Option<&fvs_netdev::LinkSettings>) {
        if let Some(f) = lock(&self.features).get_mut(name) {
            *f = link::PortFeatures::from_settings(settings);
        }
    }

    /// `exit --cleanup`: every device the switch made to outlive it (internal ports'
    /// persistent TAPs) goes when the daemon exits, as Open vSwitch deletes its datapath's
    /// ports then.
    pub fn remove_devices(&self) {
        for p in lock(&self.ports).values() {
            p.remove_device();
        }
    }

    /// The datapath port number of device `name`.
    pub fn port_no(&self, name: &str) -> Option<DpPort> {
        lock(&self.ports).get(name).map(|p| p.no)
    }

    /// `netdev-dummy/receive`: `frame` arrives on dummy port `name` and is processed before
    /// this returns.
    pub fn receive(&self, name: &str, frame: &[u8]) -> Result<(), String> {
        let (no, handle) = {
            let ports = lock(&self.ports);
            let p = ports
                .get(name)
                .ok_or_else(|| "no such dummy netdev".to_owned())?;
            let h = p
                .dummy
                .clone()
                .ok_or_else(|| "no such dummy netdev".to_owned())?;
            (p.no, h)
        };
        handle.inject(frame);
        let (tx, rx) = mpsc::channel();
        let owner = lock(&self.workers).rxq.get(&no).copied().unwrap_or(0);
        if !self.send_to(owner, Ctl::Poll(no, tx)) {
            return Err("the datapath is not running".into());
        }
        rx.recv_timeout(QUERY_TIMEOUT)
            .map_err(|_| "the datapath did not answer".to_owned())
    }

    /// The handle of dummy device `name` (tests and demos read what it sent).
    pub fn dummy(&self, name: &str) -> Option<DummyHandle> {
        lock(&self.ports).get(name).and_then(|p| p.dummy.clone())
    }

    /// Where packet-ins go from now on (see the module docs).
    pub fn set_packet_in_handler(&self, handler: PacketInHandler) {
        *lock(&self.handlers.packet_in) = Some(handler);
    }

    /// Where rules that expired go from now on (flow-removed messages); the datapath
    /// thread's revalidation expires rules, and calls this without the switch's lock held.
    pub fn set_removed_handler(&self, handler: thread::RemovedHandler) {
        *lock(&self.handlers.removed) = Some(handler);
    }

    /// An OpenFlow packet-out: `actions` run on `frame` entering `bridge` on OpenFlow port
    /// `in_port` (`CONTROLLER` or `NONE` for none). Side effects (learning, statistics)
    /// apply; the datapath sends the result without caching anything.
    pub fn packet_out(
        &self,
        daemon: &Daemon,
        bridge: &str,
        in_port: PortNo,
        frame: &[u8],
        actions: &[Action],
    ) -> Result<(), PacketOutError> {
        let of_key = fvs_flow::extract::extract(frame, in_port, None);
        self.execute_translated(
            daemon,
            bridge,
            in_port,
            frame,
            of_key,
            |bridges, b, key, now| {
                fvs_pipeline::xlate::translate_actions(bridges, b, key, actions, now)
            },
        )
    }

    /// Resumes a paused translation (`NXT_RESUME`) on `bridge`: `frame` is the packet the
    /// controller sent back, `metadata` the pipeline fields it carried (`in_port`,
    /// registers, tunnel, `metadata`). The actions run through the datapath as a
    /// packet-out's do; packet-ins they cause come back through [`crate::Daemon::packet_in`].
    pub fn resume(
        &self,
        daemon: &Daemon,
        bridge: &str,
        frame: &[u8],
        metadata: &fvs_flow::Match,
        frozen: &fvs_pipeline::xlate::Frozen,
    ) -> Result<(), PacketOutError> {
        let in_port = PortNo(u32::try_from(metadata.key.get(Field::InPort.loc())).unwrap_or(0));
        let mut of_key = fvs_flow::extract::extract(frame, in_port, None);
        // The packet carries its headers; the pipeline fields come from the metadata.
        for f in crate::connmgr::PACKET_IN_METADATA {
            of_key.set(f.loc(), metadata.key.get(f.loc()));
        }
        self.execute_translated(
            daemon,
            bridge,
            in_port,
            frame,
            of_key,
            |bridges, b, key, now| {
                fvs_pipeline::xlate::translate_resume(bridges, b, key, frozen, now)
            },
        )
    }

    /// Runs `translate` for `frame` (flow `of_key`, entering `bridge` on `in_port`) under the
    /// switch lock, applies its side effects, and hands the resulting datapath actions to the
    /// datapath thread to execute once, caching nothing: the common tail of packet-outs and
    /// resumed continuations.
    fn execute_translated(
        &self,
        daemon: &Daemon,
        bridge: &str,
        in_port: PortNo,
        frame: &[u8],
        of_key: FlowKey,
        translate: impl FnOnce(
            &[fvs_pipeline::bridge::Bridge],
            usize,
            &FlowKey,
            fvs_pipeline::clock::Millis,
        ) -> fvs_pipeline::xlate::Translation,
    ) -> Result<(), PacketOutError> {
        let now = daemon.now();
        let (dp_actions, dp_in) = {
            let mut sw = daemon.switch();
            let b = sw
                .bridges
                .iter()
                .position(|b| b.name == bridge)
                .ok_or_else(|| PacketOutError::NoSuchBridge(bridge.to_owned()))?;
            let t = translate(&sw.bridges, b, &of_key, now);
            sw.apply(&t, frame.len() as u64, now);
            let dp_in = sw.bridges[b]
                .port(in_port)
                .and_then(|p| p.dp_port)
                .map_or(0, |d| d.0);
            (t.actions, dp_in)
        };
        let mut key = of_key;
        key.set(Field::InPort.loc(), u128::from(dp_in));
        if self.send(Ctl::Execute {
            frame: frame.to_vec(),
            key: Box::new(key),
            actions: dp_actions,
        }) {
            Ok(())
        } else {
            Err(PacketOutError::NotRunning)
        }
    }

    /// The datapath's ports as the control side opened them: number → (name, device).
    pub fn port_devices(&self) -> BTreeMap<DpPort, (String, Device)> {
        lock(&self.ports)
            .iter()
            .map(|(n, p)| (p.no, (n.clone(), p.spec.device.clone())))
            .collect()
    }

    /// Records every interface's type and options, as the configuration now says.
    pub fn describe(&self, ifaces: BTreeMap<String, IfaceType>) {
        *lock(&self.ifaces) = ifaces;
    }

    /// Interfaces' types and options, by name.
    pub fn iface_table(&self) -> BTreeMap<String, IfaceType> {
        lock(&self.ifaces).clone()
    }

    /// Records the bridge of every interface, as the configuration now says.
    pub fn set_bridges(&self, bridges: BTreeMap<String, String>) {
        *lock(&self.bridges) = bridges;
    }

    /// What the datapath threads share about native tunnels ([`native`]).
    pub fn native(&self) -> &native::Shared {
        &self.handlers.native
    }

    /// Looks up the routes of the tunnels again and tells the datapath threads which
    /// destinations are native ([`native`]). Takes neither the switch's lock nor waits for a
    /// datapath thread, so the reconciler may call it.
    pub fn refresh_native(&self) {
        if self.enable_dummy {
            return;
        }
        let internal: Vec<native::InternalPort> = {
            let ports = lock(&self.ports);
            let bridges = lock(&self.bridges);
            ports
                .iter()
                .filter(|(_, p)| p.spec.device == Device::Tap)
                .filter_map(|(name, p)| {
                    let SharedKind::Netdev(d) = &p.kind else {
                        return None;
                    };
                    Some(native::InternalPort {
                        name: name.clone(),
                        no: p.no,
                        mac: fvs_netdev::Netdev::mac(d).ok()?,
                        bridge: bridges.get(name).cloned().unwrap_or_default(),
                    })
                })
                .collect()
        };
        let mut ends = {
            let ifaces = lock(&self.ifaces);
            native::tunnel_ends::<std::net::Ipv4Addr>(ifaces.values().map(|(k, o)| (k.as_str(), o)))
        };
        let mut ends6 = {
            let ifaces = lock(&self.ifaces);
            native::tunnel_ends::<std::net::Ipv6Addr>(ifaces.values().map(|(k, o)| (k.as_str(), o)))
        };
        // Destinations `remote_ip=flow` tunnels were given are routed as fixed ones are.
        let flows = self.handlers.native.flow_destinations();
        ends.extend(flows.iter().filter_map(|d| match d {
            std::net::IpAddr::V4(remote) => Some(native::TunnelEnd {
                remote: *remote,
                local: None,
            }),
            std::net::IpAddr::V6(_) => None,
        }));
        ends6.extend(flows.iter().filter_map(|d| match d {
            std::net::IpAddr::V6(remote) => Some(native_v6::TunnelEnd6 {
                remote: *remote,
                local: None,
            }),
            std::net::IpAddr::V4(_) => None,
        }));
        let user = lock(&self.handlers.native.router).user_routes().to_vec();
        let config = native::route_pass(&internal, &ends, &user).and_then(|mut c| {
            native::add_hops(&internal, &ends6, &user, &mut c)?;
            Some(c)
        });
        if let Some(mut config) = config {
            config.routed = flows.into_iter().collect();
            self.handlers.native.set_config(config, self.daemon.now());
        }
    }
}

/// The name of the underlay device of tunnel vport `vport` (a name no Linux device can have).
pub fn underlay_name(vport: &str) -> String {
    format!("{vport}/underlay")
}

/// Sends `msg` to one thread and wakes it.
fn wake_send(worker: &Worker, msg: Ctl) -> bool {
    let ok = worker.tx.send(msg).is_ok();
    // A full socket already holds a wake-up; nothing is lost by dropping this one.
    let _ = (&worker.waker).write(&[1]);
    ok
}

/// Starts datapath thread `i`, pinned to `core` if given.
fn spawn_worker(
    daemon: &Arc<Daemon>,
    handlers: &Arc<Handlers>,
    i: usize,
    core: Option<CoreId>,
) -> std::io::Result<Worker> {
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    wake_rx.set_nonblocking(true)?;
    wake_tx.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    let d = Arc::clone(daemon);
    let h = Arc::clone(handlers);
    // Open vSwitch names its threads `pmd-c<core>/id:<n>`; Linux keeps 15 bytes of a name.
    let name = match core {
        Some(c) => format!("pmd-c{:02}/id:{i}", c.0),
        None => "datapath".to_owned(),
    };
    std::thread::Builder::new().name(name).spawn(move || {
        if let Some(c) = core
            && let Err(e) = pmd::pin_current_thread(c)
        {
            d.log("dpif_netdev", crate::vlog::Level::Warn, &e);
        }
        thread::run(&d, &rx, wake_rx, i, core, h);
    })?;
    Ok(Worker { tx, waker: wake_tx })
}

/// Assigns every device port to the thread that receives from it and tells each thread its
/// ports.
fn reassign(ports: &BTreeMap<String, OpenPort>, w: &mut Workers) {
    let mut devices: Vec<(DpPort, Option<CoreId>)> = ports
        .iter()
        .filter(|(_, p)| matches!(p.kind, SharedKind::Netdev(_)) && !p.is_internal())
        .map(|(n, p)| (p.no, w.affinity.get(n).copied()))
        .collect();
    devices.sort_by_key(|(no, _)| *no);
    let mut rxq = pmd::assign(&w.pmd, &devices);
    // Internal ports are the first thread's, outside the assignment, as Open vSwitch's main
    // thread polls them rather than a PMD thread.
    for p in ports.values().filter(|p| p.is_internal()) {
        rxq.insert(p.no, 0);
    }
    if rxq == w.rxq {
        return;
    }
    for (i, worker) in w.threads.iter().enumerate() {
        let mine: BTreeSet<DpPort> = rxq
            .iter()
            .filter(|&(_, &t)| t == i)
            .map(|(&p, _)| p)
            .collect();
        wake_send(worker, Ctl::Receive(mine));
    }
    w.rxq = rxq;
}
