//! The bridges' management sockets: `punix:$FVS_RUNDIR/<bridge>.mgmt`, where `ovs-ofctl`
//! (and `fvs-ofctl`) speak OpenFlow to one bridge.
//!
//! # Threads, not a poll loop
//!
//! Each bridge has one thread blocked in `accept`, and each connection one thread blocked in
//! `read`; the protocol itself is the I/O-free [`Channel`]. This is
//! the daemon's existing shape (the database and appctl sockets work the same way) and it
//! fits the load: management connections are few (an `ovs-ofctl` run, a handful of
//! controllers) and mostly idle, so a thread each costs little, while blocking I/O keeps
//! every connection's code a straight line. A slow peer only delays itself: the switch lock is
//! held while one read's messages are handled, never while writing or waiting.
//!
//! The pipeline is shared with reconciliation and appctl through [`Daemon::switch`]; a
//! flow-mod takes that lock, so it is ordered with reconciliation passes and appctl commands.
//!
//! # Bridges come and go
//!
//! After every reconciliation [`Mgmt::sync`] binds a socket for each new bridge and, for a
//! removed one, sets its stop flag, removes the socket file and wakes its accept thread with
//! a throw-away connection. Connection threads read with a timeout and leave when the flag is
//! set, so a removed bridge's controllers are disconnected within that timeout.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use fvs_openflow::wire::port::{PortMod, PortStats};
use fvs_openflow::wire::{Features, OfpError, PortDesc, Version, VersionBitmap};
use fvs_openflow::{EthAddr, FlowMod};
use fvs_pipeline::bridge::FlowModError;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::switch::Switch;

use crate::Daemon;
use crate::ofchannel::ports::PortTable;
use crate::ofchannel::{self, Channel, Ofproto};
use crate::vlog::Level;
use fvs_pipeline::port::PortKind;

/// How often an idle connection looks at its bridge's stop flag.
const STOP_POLL: Duration = Duration::from_millis(250);

/// What a bridge's connections need to know besides the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Versions the `protocols` column allows.
    pub allowed: VersionBitmap,
    /// The datapath id (0 until the bridge has a MAC).
    pub datapath_id: u64,
    /// Interfaces' MAC addresses, by name, for port descriptions.
    pub macs: BTreeMap<String, [u8; 6]>,
}

struct Listener {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    info: Arc<Mutex<BridgeInfo>>,
    /// The bridge's port configurations, shared by its connections.
    ports: Arc<Mutex<PortTable>>,
}

/// Every bridge's management socket.
#[derive(Default)]
pub struct Mgmt {
    rundir: Option<PathBuf>,
    listeners: BTreeMap<String, Listener>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Mgmt {
    /// Management sockets will live in `rundir` (none are made before this is called).
    pub fn set_rundir(&mut self, rundir: PathBuf) {
        self.rundir = Some(rundir);
    }

    /// The socket files currently listening (for clean-up at exit).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.listeners.values().map(|l| l.path.clone()).collect()
    }

    /// Makes the listening sockets match `bridges`.
    pub fn sync(&mut self, daemon: &Arc<Daemon>, bridges: BTreeMap<String, BridgeInfo>) {
        let Some(rundir) = self.rundir.clone() else {
            return;
        };
        let gone: Vec<String> = self
            .listeners
            .keys()
            .filter(|name| !bridges.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(l) = self.listeners.remove(&name) {
                l.stop.store(true, Ordering::SeqCst);
                // Wakes the accept thread, which then sees the flag; the file goes after.
                let _ = UnixStream::connect(&l.path);
                let _ = std::fs::remove_file(&l.path);
            }
        }
        for (name, info) in bridges {
            if let Some(l) = self.listeners.get(&name) {
                *lock(&l.info) = info;
                continue;
            }
            let path = rundir.join(format!("{name}.mgmt"));
            let _ = std::fs::remove_file(&path);
            let listener = match UnixListener::bind(&path) {
                Ok(l) => l,
                Err(e) => {
                    daemon.log(
                        "mgmt",
                        Level::Err,
                        &format!("{}: cannot listen: {e}", path.display()),
                    );
                    continue;
                }
            };
            let l = Listener {
                path,
                stop: Arc::new(AtomicBool::new(false)),
                info: Arc::new(Mutex::new(info)),
                ports: Arc::new(Mutex::new(PortTable::new())),
            };
            let (d, stop, info, bridge) =
                (daemon.clone(), l.stop.clone(), l.info.clone(), name.clone());
            let ports = l.ports.clone();
            thread::spawn(move || accept_loop(&d, &listener, &bridge, &stop, &info, &ports));
            self.listeners.insert(name, l);
        }
    }
}

fn accept_loop(
    daemon: &Arc<Daemon>,
    listener: &UnixListener,
    bridge: &str,
    stop: &Arc<AtomicBool>,
    info: &Arc<Mutex<BridgeInfo>>,
    ports: &Arc<Mutex<PortTable>>,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else { continue };
        let (d, stop, info, bridge) = (
            daemon.clone(),
            stop.clone(),
            info.clone(),
            bridge.to_owned(),
        );
        let ports = ports.clone();
        thread::spawn(move || serve(&d, stream, &bridge, &stop, &info, &ports));
    }
}

/// One connection, until the peer leaves, the channel closes or the bridge goes away.
fn serve(
    daemon: &Daemon,
    mut stream: UnixStream,
    bridge: &str,
    stop: &AtomicBool,
    info: &Mutex<BridgeInfo>,
    ports: &Mutex<PortTable>,
) {
    if stream.set_read_timeout(Some(STOP_POLL)).is_err() {
        return;
    }
    let mut channel = Channel::new(lock(info).allowed);
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(msg) = channel.poll_transmit() {
            if stream.write_all(&msg).is_err() {
                return;
            }
        }
        if channel.is_closed() || stop.load(Ordering::SeqCst) {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let info = lock(info).clone();
                let now = daemon.now();
                let mut switch = daemon.switch();
                let mut ofproto = DaemonOfproto {
                    switch: &mut switch,
                    bridge,
                    info: &info,
                    ports,
                    now,
                };
                channel.handle_bytes(now, &buf[..n], &mut ofproto);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A bridge of the daemon's switch, as a channel sees it.
struct DaemonOfproto<'a> {
    switch: &'a mut Switch,
    bridge: &'a str,
    info: &'a BridgeInfo,
    ports: &'a Mutex<PortTable>,
    now: Millis,
}

impl DaemonOfproto<'_> {
    /// The bridge's ports as the pipeline knows them, before OpenFlow's configuration.
    fn bare_ports(&self) -> Vec<PortDesc> {
        let Some(b) = self.switch.bridge(self.bridge) else {
            return Vec::new();
        };
        b.ports
            .values()
            .map(|p| PortDesc {
                port_no: p.ofport,
                hw_addr: EthAddr(self.info.macs.get(&p.name).copied().unwrap_or_default()),
                name: p.name.clone(),
                ..PortDesc::default()
            })
            .collect()
    }
}

impl Ofproto for DaemonOfproto<'_> {
    fn features(&self, version: Version) -> Option<Features> {
        self.switch.bridge(self.bridge)?;
        let ports = self.ports(self.now);
        Some(ofchannel::features(version, self.info.datapath_id, ports))
    }

    fn ports(&self, now: Millis) -> Vec<PortDesc> {
        lock(self.ports).describe(self.bare_ports(), now)
    }

    fn port_mod(&mut self, pm: &PortMod, now: Millis) -> Result<(), OfpError> {
        let ports = self.bare_ports();
        let bridge = self.switch.bridge(self.bridge);
        let is_patch = |name: &str| {
            bridge
                .and_then(|b| b.port_by_name(name))
                .is_some_and(|p| matches!(p.kind, PortKind::Patch { .. }))
        };
        lock(self.ports).port_mod(&ports, is_patch, pm, now)
    }

    fn frag_mode(&self) -> u16 {
        lock(self.ports).frag_mode
    }

    fn set_frag_mode(&mut self, flags: u16) {
        lock(self.ports).frag_mode = flags;
    }

    fn port_stats(&self, now: Millis) -> Vec<PortStats> {
        let ports = self.ports(now);
        let table = lock(self.ports);
        ports
            .iter()
            .map(|p| {
                let since = table.get(&p.name).map_or(now, |e| e.since);
                ofchannel::stats::port_counters(self.bridge, p, since, now)
            })
            .collect()
    }

    fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<(), FlowModError> {
        match self.switch.bridge_mut(self.bridge) {
            Some(b) => b.flow_mod(fm, now).map(|_| ()),
            // The bridge is being removed; its connections close at their next read.
            None => Ok(()),
        }
    }

    fn bridge(&self) -> Option<&fvs_pipeline::bridge::Bridge> {
        self.switch.bridge(self.bridge)
    }
}
