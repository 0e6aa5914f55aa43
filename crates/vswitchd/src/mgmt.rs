//! The bridges' management sockets: `punix:$FVS_RUNDIR/<bridge>.mgmt`, where `ovs-ofctl`
//! (and `fvs-ofctl`) speak OpenFlow to one bridge, made and removed with each bridge's snoop
//! socket ([`crate::snoop`]).
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
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fvs_netdev::NetdevStats;
use fvs_openflow::wire::PacketOut;
use fvs_openflow::wire::port::{PortMod, PortStats};
use fvs_openflow::wire::{Features, OfpError, PortDesc, Version, VersionBitmap};
use fvs_openflow::{EthAddr, FlowMod};
use fvs_pipeline::bridge::{FlowModError, Removed};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::switch::Switch;

use crate::Daemon;
use crate::connmgr::Conn;
use crate::ofchannel::ports::PortTable;
use crate::ofchannel::{self, AsyncEvent, Channel, ConnKind, Ofproto, RoleError};
use crate::snoop::{Snoop, Tee};
use crate::vlog::Level;
use fvs_pipeline::port::{PortConfig, PortKind};

/// How often an idle connection looks at its bridge's stop flag.
const STOP_POLL: Duration = Duration::from_millis(250);

/// How long a connection that ends waits for its queued output to be written.
const FINAL_DRAIN: Duration = Duration::from_secs(1);

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
    /// `<bridge>.snoop`, when it could be bound.
    snoop: Option<Arc<Snoop>>,
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

/// A bridge's stop flag, configuration and port table, as its connections share them.
pub type BridgeHandles = (
    Arc<AtomicBool>,
    Arc<Mutex<BridgeInfo>>,
    Arc<Mutex<PortTable>>,
);

impl Mgmt {
    /// What a controller's connection to `bridge` shares with its management connections;
    /// `None` when the bridge has no management socket (it is gone, or not made yet).
    pub fn handles(&self, bridge: &str) -> Option<BridgeHandles> {
        let l = self.listeners.get(bridge)?;
        Some((l.stop.clone(), l.info.clone(), l.ports.clone()))
    }

    /// `bridge`'s snoop socket, whose snoopers see its controllers' messages.
    pub fn snoop(&self, bridge: &str) -> Option<Arc<Snoop>> {
        self.listeners.get(bridge)?.snoop.clone()
    }

    /// The run directory, once set.
    pub fn rundir(&self) -> Option<&Path> {
        self.rundir.as_deref()
    }

    /// Management sockets will live in `rundir` (none are made before this is called).
    pub fn set_rundir(&mut self, rundir: PathBuf) {
        self.rundir = Some(rundir);
    }

    /// The socket files currently listening (for clean-up at exit).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.listeners
            .values()
            .flat_map(|l| {
                std::iter::once(l.path.clone()).chain(l.snoop.as_ref().map(|s| s.path().to_owned()))
            })
            .collect()
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
                daemon.connmgr().remove_bridge(&name);
                // Wakes the accept thread, which then sees the flag; the file goes after.
                let _ = UnixStream::connect(&l.path);
                let _ = std::fs::remove_file(&l.path);
                if let Some(snoop) = &l.snoop {
                    snoop.close();
                }
            }
        }
        for (name, info) in bridges {
            if let Some(l) = self.listeners.get(&name) {
                let new_dpid = info.datapath_id;
                let old_dpid = std::mem::replace(&mut *lock(&l.info), info).datapath_id;
                // A datapath ID, once known, that changes: no OpenFlow message can say so, so
                // every connection is dropped and the controllers reconnect to learn it, as in
                // Open vSwitch.
                if old_dpid != 0 && old_dpid != new_dpid {
                    daemon.connmgr().drop_connections(&name);
                }
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
            let snoop_path = rundir.join(format!("{name}.snoop"));
            let (pick, refused) = snoop_hooks(daemon, &name);
            let snoop = match Snoop::bind(&snoop_path, info.allowed, pick, refused) {
                Ok(s) => Some(s),
                Err(e) => {
                    daemon.log(
                        "mgmt",
                        Level::Err,
                        &format!("{}: cannot listen: {e}", snoop_path.display()),
                    );
                    None
                }
            };
            let l = Listener {
                path,
                snoop,
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

/// How `bridge`'s snoop socket picks the connection a snooper watches, and logs a snooper
/// it turns away. The daemon is held weakly: it owns the socket.
fn snoop_hooks(
    daemon: &Arc<Daemon>,
    bridge: &str,
) -> (crate::snoop::Pick, Box<dyn Fn() + Send + Sync>) {
    let (d, b) = (Arc::downgrade(daemon), bridge.to_owned());
    let pick = Box::new(move || d.upgrade()?.connmgr().snoop_target(&b));
    let d = Arc::downgrade(daemon);
    let refused = Box::new(move || {
        if let Some(d) = d.upgrade() {
            d.log("connmgr", Level::Info, "no controller connection to snoop");
        }
    });
    (pick, refused)
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
        let opts = ServeOpts {
            kind: ConnKind::Service,
            target: None,
            probe: None,
            hello_timeout: None,
            async_messages: true,
        };
        thread::spawn(move || {
            let stop_flag = || stop.load(Ordering::SeqCst);
            serve(
                &d,
                AnyStream::Unix(stream),
                &bridge,
                &stop_flag,
                &info,
                &ports,
                &opts,
                None,
            )
        });
    }
}

/// A connected socket of either family.
pub enum AnyStream {
    /// A Unix-domain socket.
    Unix(UnixStream),
    /// A TCP connection.
    Tcp(TcpStream),
    /// A TLS connection (`ssl:`/`pssl:` controllers), its handshake done.
    Tls(fvs_tls::TlsStream),
}

impl AnyStream {
    /// Closes both directions at once, for every handle on the socket (the writer's too);
    /// what was written before still reaches the peer.
    fn shutdown(&self) {
        // A socket the peer already closed reports an error here, which changes nothing.
        let _ = match self {
            Self::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Self::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Self::Tls(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }

    /// Another handle on the socket, for [`crate::connmgr::Conn::peer_hung_up`] (a TLS
    /// connection's is its TCP socket's).
    fn hangup_probe(&self) -> Option<std::os::fd::OwnedFd> {
        match self {
            Self::Unix(s) => s.try_clone().ok().map(Into::into),
            Self::Tcp(s) => s.try_clone().ok().map(Into::into),
            Self::Tls(s) => s.get_ref().try_clone().ok().map(Into::into),
        }
    }

    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.set_read_timeout(d),
            Self::Tcp(s) => s.set_read_timeout(d),
            Self::Tls(s) => s.set_read_timeout(d),
        }
    }

    /// The writing half, for the connection's writer thread ([`crate::outbox`]). Its
    /// writes block as long as the peer does not read (the shutdown at the connection's
    /// end wakes them); a TLS writer so blocked holds only the socket, not the session
    /// the reader needs ([`fvs_tls::TlsStream`]).
    fn writer(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Self::Unix(s) => Box::new(s.try_clone()?),
            Self::Tcp(s) => Box::new(s.try_clone()?),
            // A clone shares the TLS session: see fvs_tls::stream.
            Self::Tls(s) => Box::new(s.try_clone()?),
        })
    }
}

impl Read for AnyStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

/// How a connection is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOpts {
    /// Management or controller connection.
    pub kind: ConnKind,
    /// The Controller row's target, for a controller's connection.
    pub target: Option<String>,
    /// The inactivity probe interval; `None` never probes.
    pub probe: Option<Duration>,
    /// How long the peer has to say hello; `None` waits as long as it takes.
    pub hello_timeout: Option<Duration>,
    /// False when the row disables asynchronous messages.
    pub async_messages: bool,
}

/// Serves a controller's connection to `bridge` until it ends or `stop` is set; returns why
/// it ended, for the log and the row's `last_error`.
pub fn serve_controller(
    daemon: &Daemon,
    stream: AnyStream,
    bridge: &str,
    stop: &AtomicBool,
    opts: &ServeOpts,
) -> String {
    let Some((bstop, info, ports)) = daemon.mgmt().handles(bridge) else {
        return "no such bridge".into();
    };
    let snoop = daemon.mgmt().snoop(bridge);
    let stop_any = || stop.load(Ordering::SeqCst) || bstop.load(Ordering::SeqCst);
    serve(
        daemon, stream, bridge, &stop_any, &info, &ports, opts, snoop,
    )
}

/// One connection, until the peer leaves, the channel closes or the bridge goes away;
/// returns why it ended. A controller's connection has the bridge's `snoop` socket, which
/// gets a copy of every message it sends and receives.
#[allow(clippy::too_many_arguments)] // one connection's whole context
fn serve(
    daemon: &Daemon,
    mut stream: AnyStream,
    bridge: &str,
    stop: &dyn Fn() -> bool,
    info: &Mutex<BridgeInfo>,
    ports: &Mutex<PortTable>,
    opts: &ServeOpts,
    snoop: Option<Arc<Snoop>>,
) -> String {
    if let Err(e) = stream.set_read_timeout(Some(STOP_POLL)) {
        return e.to_string();
    }
    let writer = match stream.writer() {
        Ok(w) => w,
        Err(e) => return e.to_string(),
    };
    let id = Arc::new(std::sync::OnceLock::new());
    let writer: Box<dyn Write + Send> = match &snoop {
        Some(s) => Box::new(Tee::new(writer, s.clone(), id.clone())),
        None => writer,
    };
    let mut channel = Channel::with_kind(lock(info).allowed, opts.kind);
    if !opts.async_messages {
        channel.disable_async();
    }
    let conn = daemon.connmgr().register(
        bridge,
        channel,
        writer,
        opts.target.clone(),
        stream.hangup_probe(),
    );
    let _ = id.set(conn.id);
    daemon.refresh_table_misses(bridge);
    let why = serve_conn(
        daemon,
        &mut stream,
        bridge,
        stop,
        info,
        ports,
        opts,
        &conn,
        snoop.as_deref(),
    );
    // What is queued (a last error reply) gets a moment to go out; then the peer sees the
    // end now (a controller that stopped answering probes is dropped on time), not once
    // the bookkeeping below is done: the writer's handle lives as long as the
    // registration, and the table-miss refresh may wait for the datapath. The shutdown
    // also wakes a writer blocked on a peer that does not read.
    conn.drain(FINAL_DRAIN);
    stream.shutdown();
    conn.close();
    daemon.connmgr().unregister(bridge, conn.id);
    daemon.refresh_table_misses(bridge);
    why
}

#[allow(clippy::too_many_arguments)] // one connection's whole context
fn serve_conn(
    daemon: &Daemon,
    stream: &mut AnyStream,
    bridge: &str,
    stop: &dyn Fn() -> bool,
    info: &Mutex<BridgeInfo>,
    ports: &Mutex<PortTable>,
    opts: &ServeOpts,
    conn: &Conn,
    snoop: Option<&Snoop>,
) -> String {
    let mut buf = vec![0u8; 65536];
    let mut last_rx = Instant::now();
    let mut probed = false;
    if !conn.lock().flush() {
        return "write failed".into();
    }
    loop {
        if conn.is_closed() {
            return "write failed".into();
        }
        if conn.lock().channel.is_closed() {
            return "closed by protocol".into();
        }
        if stop() {
            return "stopped".into();
        }
        // While too many replies wait, the requests wait in the socket (the probes go on).
        let read = if conn.replies_backed_up(STOP_POLL) {
            Err(std::io::Error::from(ErrorKind::WouldBlock))
        } else {
            stream.read(&mut buf)
        };
        match read {
            Ok(0) => return "connection closed by peer".into(),
            Ok(n) => {
                last_rx = Instant::now();
                probed = false;
                // Device counters are read first, before any lock is held: the datapath
                // thread answers the query and may itself be waiting for the switch.
                let wants_counters = {
                    let inner = conn.lock();
                    let pending = inner.channel.pending_input();
                    if let Some(s) = snoop {
                        s.mirror_received(conn.id, pending, &buf[..n]);
                    }
                    ofchannel::stats::asks_for_port_stats(pending, &buf[..n])
                };
                let counters = if wants_counters {
                    device_counters(daemon)
                } else {
                    BTreeMap::new()
                };
                let (events, held, wants_misses) = {
                    let mut inner = conn.lock();
                    let info = lock(info).clone();
                    let now = daemon.now();
                    let mut switch = daemon.switch();
                    let generation = |s: &Switch| s.bridge(bridge).map(|b| b.generation());
                    let before = generation(&switch);
                    let mut ofproto = DaemonOfproto {
                        switch: &mut switch,
                        bridge,
                        info: &info,
                        ports,
                        now,
                        daemon,
                        events: Vec::new(),
                        packet_outs: Vec::new(),
                        resumes: Vec::new(),
                        counters: &counters,
                    };
                    inner.refresh_backlog();
                    inner.channel.handle_bytes(now, &buf[..n], &mut ofproto);
                    let resumes = std::mem::take(&mut ofproto.resumes);
                    let done = (
                        ofproto.events,
                        ofproto.packet_outs,
                        inner.channel.wants_table_misses(),
                    );
                    let tables_changed = generation(&switch) != before;
                    drop(switch);
                    // Before the replies go out, as Open vSwitch finishes a request before
                    // answering the barrier after it: packets see the new tables, and
                    // packet-outs are sent.
                    if tables_changed {
                        daemon.revalidate_now();
                    }
                    for po in &done.1 {
                        daemon.packet_out(bridge, po);
                    }
                    for r in resumes {
                        daemon.resume(r);
                    }
                    // A master election holds the replies back until the other masters are
                    // demoted (below).
                    let elected = done
                        .0
                        .iter()
                        .any(|e| matches!(e, AsyncEvent::MasterElected(_)));
                    let held = if elected {
                        inner.hold()
                    } else if inner.flush() {
                        Vec::new()
                    } else {
                        return "write failed".into();
                    };
                    (done.0, held, done.2)
                };
                for ev in events {
                    if matches!(ev, AsyncEvent::MasterElected(_)) {
                        daemon.connmgr().publish_sync(bridge, ev, Some(conn.id));
                    } else {
                        daemon.connmgr().publish(bridge, ev, Some(conn.id));
                    }
                }
                if !held.is_empty() && !conn.lock().release(held) {
                    return "write failed".into();
                }
                if conn.note_wants_misses(wants_misses) {
                    daemon.refresh_table_misses(bridge);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // Paused flow monitors resume once their backlog is written (connection's
                // lock, then the switch's).
                {
                    let mut inner = conn.lock();
                    inner.refresh_backlog();
                    if inner.channel.monitors_resume_due() {
                        let sw = daemon.switch();
                        inner.channel.resume_monitors(sw.bridge(bridge));
                        drop(sw);
                        if !inner.flush() {
                            return "write failed".into();
                        }
                    }
                }
                let idle = last_rx.elapsed();
                if let Some(t) = opts.hello_timeout
                    && idle >= t
                    && conn.lock().channel.version().is_none()
                {
                    return "connection timed out".into();
                }
                let Some(probe) = opts.probe else { continue };
                if idle >= probe * 2 {
                    return format!(
                        "no response to inactivity probe after {} seconds",
                        idle.as_secs()
                    );
                }
                if idle >= probe && !probed {
                    probed = true;
                    let mut inner = conn.lock();
                    inner.channel.send_probe();
                    if !inner.flush() {
                        return "write failed".into();
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return e.to_string(),
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
    daemon: &'a Daemon,
    /// Events for the bridge's other connections, published once the locks are released.
    events: Vec<AsyncEvent>,
    /// Packet-outs, executed once the switch lock is released (the datapath takes it).
    packet_outs: Vec<PacketOut>,
    /// Resumed continuations (`NXT_RESUME`), executed likewise.
    resumes: Vec<crate::connmgr::Resume>,
    /// Device counters by interface name, read before the locks were taken when the bytes
    /// being handled ask for port statistics (empty otherwise).
    counters: &'a BTreeMap<String, NetdevStats>,
}

/// Every datapath device's counters by interface name; empty when the datapath is not
/// running or does not answer.
fn device_counters(daemon: &Daemon) -> BTreeMap<String, NetdevStats> {
    let Some(dp) = daemon.datapath() else {
        return BTreeMap::new();
    };
    dp.query(|f| {
        let ports: Vec<_> =
            f.dp.ports()
                .map(|(n, name, _)| (n, name.to_owned()))
                .collect();
        ports
            .into_iter()
            .filter_map(|(no, name)| f.dp.netdev(no).map(|d| (name, d.stats())))
            .collect()
    })
    .unwrap_or_default()
}

impl DaemonOfproto<'_> {
    /// The bridge's ports as the pipeline knows them, before OpenFlow's configuration.
    fn bare_ports(&self) -> Vec<PortDesc> {
        let Some(b) = self.switch.bridge(self.bridge) else {
            return Vec::new();
        };
        // Features and speeds as the devices' drivers last said (a cache; see
        // `datapath::link`), in OpenFlow 1.1+'s layout until a version is chosen.
        b.ports
            .values()
            .map(|p| {
                crate::datapath::link::PortFeatures::of(self.daemon, &p.name).describe(PortDesc {
                    port_no: p.ofport,
                    hw_addr: EthAddr(self.info.macs.get(&p.name).copied().unwrap_or_default()),
                    name: p.name.clone(),
                    config: p.config.0,
                    state: p.state.0,
                    ..PortDesc::default()
                })
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
        let (port, config) = lock(self.ports).port_mod(&ports, is_patch, pm, now)?;
        // The pipeline keeps the configuration and acts on it; a change moves the bridge's
        // generation, so the datapath's megaflows are revalidated before the next reply.
        if let Some(b) = self.switch.bridge_mut(self.bridge) {
            b.set_port_config(port, PortConfig(config));
        }
        Ok(())
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
                ofchannel::stats::port_counters(p, since, now, self.counters.get(&p.name))
            })
            .collect()
    }

    fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError> {
        match self.switch.bridge_mut(self.bridge) {
            Some(b) => b.flow_mod(fm, now),
            // The bridge is being removed; its connections close at their next read.
            None => Ok(Vec::new()),
        }
    }

    fn group_mod(
        &mut self,
        gm: &fvs_openflow::group::GroupMod,
        now: Millis,
    ) -> Result<Vec<Removed>, OfpError> {
        match self.switch.bridge_mut(self.bridge) {
            Some(b) => b.group_mod(gm, now),
            // The bridge is being removed; its connections close at their next read.
            None => Ok(Vec::new()),
        }
    }

    fn meter_mod(
        &mut self,
        mm: &fvs_openflow::meter::MeterMod,
        now: Millis,
    ) -> Result<Vec<Removed>, OfpError> {
        let Some(b) = self.switch.bridge_mut(self.bridge) else {
            // The bridge is being removed; its connections close at their next read.
            return Ok(Vec::new());
        };
        let meters = self.daemon.meters();
        // A datapath meter reserved for an add that then fails is given back.
        let mut reserved = None;
        let result = b.meter_mod(mm, now, || {
            reserved = meters.allocate();
            reserved
        });
        match result {
            Ok((change, removed)) => {
                for (dp, config) in &change.set {
                    meters.set(*dp, config);
                }
                for (_, dp) in &change.deleted {
                    meters.free(*dp);
                }
                Ok(removed)
            }
            Err(e) => {
                if let Some(dp) = reserved {
                    meters.free(dp);
                }
                Err(e)
            }
        }
    }

    fn meter_counters(
        &self,
        dp: fvs_pipeline::meter::DpMeterId,
    ) -> Option<fvs_pipeline::meter::MeterCounters> {
        self.daemon.meters().counters(dp)
    }

    fn packet_out(&mut self, po: &PacketOut, _now: Millis) -> Vec<AsyncEvent> {
        // Packet-ins it causes come back through the datapath's packet-in handler.
        self.packet_outs.push(po.clone());
        Vec::new()
    }

    fn resume(
        &mut self,
        pin: &fvs_openflow::wire::PacketIn,
        c: &fvs_openflow::wire::continuation::Continuation,
        _now: Millis,
    ) -> Result<(), fvs_openflow::wire::OfpError> {
        let r = crate::connmgr::Resume::new(self.daemon.connmgr(), self.switch, pin, c)?;
        self.resumes.push(r);
        Ok(())
    }

    fn role_generation(&mut self, generation_id: u64) -> Result<(), RoleError> {
        self.daemon
            .connmgr()
            .role_generation(self.bridge, generation_id)
    }

    fn generation_id(&self) -> Option<u64> {
        self.daemon.connmgr().generation_id(self.bridge)
    }

    fn publish(&mut self, event: AsyncEvent) {
        self.events.push(event);
    }

    fn bridge(&self) -> Option<&fvs_pipeline::bridge::Bridge> {
        self.switch.bridge(self.bridge)
    }

    fn start_journal(&mut self) {
        if let Some(b) = self.switch.bridge_mut(self.bridge) {
            b.set_journal(true);
        }
    }

    fn take_changes(&mut self) -> Vec<fvs_pipeline::bridge::TableChange> {
        self.switch
            .bridge_mut(self.bridge)
            .map(fvs_pipeline::bridge::Bridge::take_changes)
            .unwrap_or_default()
    }
}
