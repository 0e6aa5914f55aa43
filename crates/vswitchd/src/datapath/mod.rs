//! The daemon's fast path: one `fvs_datapath::Datapath` on a thread of its own, fed by the
//! ports' network devices, with the pipeline as its slow path.
//!
//! # Shape
//!
//! ```text
//!  reconcile thread ── opens devices ──► Handle ── Ctl channel + wake-up socket ──► datapath thread
//!  appctl, OpenFlow ── queries, packet-out ──┘                                       │ poll(2)
//!                                                       devices ◄── batches ─────────┤
//!                                        Switch (mutex) ◄── upcall, revalidation ────┘
//! ```
//!
//! - **One datapath thread, no async runtime.** [`thread`] owns the datapath and waits in
//!   `poll(2)` on its devices and on a socket pair that [`Handle`] writes to when it sends a
//!   message. Between batches it drains the messages (ports added and removed, flushes,
//!   packet-outs, queries as closures) and, every [`thread::REVALIDATE_EVERY`], runs a
//!   revalidation pass. It blocks on nothing but the switch's lock, taken for an upcall's
//!   translation or a revalidation pass; so nobody may wait for the datapath thread while
//!   holding that lock, and the reconciler, which runs under it, only sends.
//! - **Upcalls and the translation cache** live in [`slow`]: a miss is translated by the
//!   pipeline, its side effects applied for that packet, and the megaflow installed with the
//!   translation's mask and a cookie naming the side effects, which revalidation replays for
//!   the packets the megaflow forwards (rule statistics, `learn`, MAC learning).
//! - **Ports** ([`ports`]) are opened on the reconciler's thread, so an error reaches the
//!   interface's `error` column in the same write-back, and then handed to the datapath
//!   thread. Datapath port numbers are the reconciler's; the pipeline's `Port::dp_port` is
//!   the only map between them and OpenFlow ports ([`slow::owner`]).
//! - **Packets from the command line** ([`packet`]): `netdev-dummy/receive` injects into a
//!   dummy device and has the thread receive it before answering, so a caller that checks
//!   counters next sees the packet's effect, as with Open vSwitch.
//!
//! # For the OpenFlow side
//!
//! - Packet-ins: [`Handle::set_packet_in_handler`] takes a closure that the datapath thread
//!   calls with each [`PacketIn`] (a `controller` action or a table miss sending to the
//!   controller); it must not block. Without a handler they are counted and dropped.
//! - Expired rules: revalidation expires rules by their idle and hard timeouts and hands
//!   them to the closure given to [`Handle::set_removed_handler`] (flow-removed messages).
//! - Packet-outs: [`Handle::packet_out`] translates the actions with the pipeline and has
//!   the datapath run the result on the frame.
//!
//! - **Interface rows** ([`stats`]): device counters, link state, MTU and ifindex written
//!   back every `stats-update-interval`.
//!
//! # Not done yet
//!
//! One thread for every port (no per-core threads, no `PACKET_FANOUT`); patch interfaces
//! get no `statistics`; the flow limit is fixed (Open vSwitch adjusts its own to the time a dump
//! takes).

pub mod commands;
pub mod packet;
pub mod ports;
pub mod slow;
pub mod stats;
pub mod thread;

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
use ports::{Device, PortSpec};
use thread::{Ctl, Fast, PacketInHandler};

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
}

/// The control side of the datapath thread.
pub struct Handle {
    tx: Mutex<Sender<Ctl>>,
    waker: Mutex<UnixStream>,
    enable_dummy: bool,
    ports: Mutex<BTreeMap<String, OpenPort>>,
    /// Every interface's configured type and options, by name (`dpif/show`).
    ifaces: Mutex<BTreeMap<String, IfaceType>>,
}

/// An interface's configured `type` and `options`.
pub type IfaceType = (String, BTreeMap<String, String>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a query waits for the datapath thread.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Handle {
    /// Starts the datapath thread for `daemon`.
    pub fn start(daemon: &Arc<Daemon>, enable_dummy: bool) -> std::io::Result<Arc<Self>> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let d = Arc::clone(daemon);
        std::thread::Builder::new()
            .name("datapath".into())
            .spawn(move || thread::run(&d, &rx, wake_rx))?;
        Ok(Arc::new(Self {
            tx: Mutex::new(tx),
            waker: Mutex::new(wake_tx),
            enable_dummy,
            ports: Mutex::new(BTreeMap::new()),
            ifaces: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Whether every port is a dummy (`--enable-dummy`).
    pub fn enable_dummy(&self) -> bool {
        self.enable_dummy
    }

    fn send(&self, msg: Ctl) -> bool {
        let ok = lock(&self.tx).send(msg).is_ok();
        // A full socket already holds a wake-up; nothing is lost by dropping this one.
        let _ = lock(&self.waker).write(&[1]);
        ok
    }

    /// Runs `f` on the datapath thread between batches and returns its result. Never call
    /// this while holding the switch's lock.
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
        if let Some(p) = ports.get(name) {
            if p.no == no && p.spec == spec {
                return Ok(None);
            }
            let old = p.no;
            ports.remove(name);
            self.send(Ctl::RemovePort(old));
        }
        let opened = ports::open(name, &spec, self.enable_dummy)?;
        self.send(Ctl::AddPort {
            no,
            name: name.to_owned(),
            kind: opened.kind,
        });
        ports.insert(
            name.to_owned(),
            OpenPort {
                no,
                spec,
                dummy: opened.dummy,
            },
        );
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
                    ports.remove(name);
                    self.send(Ctl::RemovePort(*no));
                }
            }
        }
        if changed || !doomed.is_empty() {
            self.send(Ctl::Flush);
        } else {
            self.send(Ctl::Revalidate);
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
        if !self.send(Ctl::Poll(no, tx)) {
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
        let mut handler = Some(handler);
        self.send(Ctl::Run(Box::new(move |fast| {
            fast.packet_in = handler.take();
        })));
    }

    /// Where rules that expired go from now on (flow-removed messages); the datapath
    /// thread's revalidation expires rules, and calls this without the switch's lock held.
    pub fn set_removed_handler(&self, handler: thread::RemovedHandler) {
        let mut handler = Some(handler);
        self.send(Ctl::Run(Box::new(move |fast| {
            fast.removed = handler.take();
        })));
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
        let now = daemon.now();
        let (dp_actions, dp_in) = {
            let mut sw = daemon.switch();
            let b = sw
                .bridges
                .iter()
                .position(|b| b.name == bridge)
                .ok_or_else(|| PacketOutError::NoSuchBridge(bridge.to_owned()))?;
            let t = fvs_pipeline::xlate::translate_actions(&sw.bridges, b, &of_key, actions, now);
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
            key,
            actions: dp_actions,
        }) {
            Ok(())
        } else {
            Err(PacketOutError::NotRunning)
        }
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
        let now = daemon.now();
        let (dp_actions, dp_in) = {
            let mut sw = daemon.switch();
            let b = sw
                .bridges
                .iter()
                .position(|b| b.name == bridge)
                .ok_or_else(|| PacketOutError::NoSuchBridge(bridge.to_owned()))?;
            let t = fvs_pipeline::xlate::translate_resume(&sw.bridges, b, &of_key, frozen, now);
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
            key,
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
}

/// The name of the underlay device of tunnel vport `vport` (a name no Linux device can have).
pub fn underlay_name(vport: &str) -> String {
    format!("{vport}/underlay")
}
