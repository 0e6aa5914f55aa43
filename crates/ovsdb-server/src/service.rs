//! Running the remotes: an accept loop per passive remote, a connect loop per active one,
//! and changing the set while serving (`set_remotes`, behind
//! [`crate::Handle::set_remotes`]).
//!
//! - A passive remote's thread accepts connections and serves each on a thread of its own.
//! - `pssl:` and `ssl:` connections run their TLS handshake first ([`secure`]), on the
//!   connection's thread for a passive remote (a client that sends garbage, or nothing,
//!   costs only its own thread), as part of connecting for an active one (a failed
//!   handshake is a failed attempt, with backoff). The TLS files are read as they are at
//!   that moment, so a `pssl:` remote listens even before they are configured, and serves
//!   once they are; until then each client is refused with the reason logged.
//! - An active remote's thread connects, serves the connection until it ends, and connects
//!   again: 1 s after a connection that ended, and after a failed attempt after a wait that
//!   doubles from 1 s up to the remote's `max_backoff` (Open vSwitch's reconnect rules, in
//!   short), for as long as the remote is configured.
//! - Setting the remotes compares by [`Remote`]: a remote that stays keeps running (new
//!   options apply to its next connections), a remote that goes is stopped and its
//!   connections are closed (as ovsdb-server does when a `Manager` row goes), a new one is
//!   started. A passive remote is stopped before `set_remotes` returns, so its address can be
//!   bound again at once; its Unix socket file is removed. Its listener closes before its
//!   connections do, so a client that sees its connection end finds the port closed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::remote::{Listener, MIN_BACKOFF, Remote, RemoteConfig, Stream};
use crate::{ServeError, Shared, TICK, connection};

/// The remotes being served.
#[derive(Debug, Default)]
pub(crate) struct Services {
    running: BTreeMap<Remote, Running>,
}

/// The connections of one remote, so that they can be closed when it goes, and what its
/// status reports of them.
#[derive(Debug, Default)]
struct Conns {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Stream>>,
    /// When a connection last started and last ended.
    history: Mutex<(Option<Instant>, Option<Instant>)>,
    /// An active remote is trying to connect right now.
    connecting: AtomicBool,
}

impl Conns {
    fn add(&self, stream: &Stream) -> Option<u64> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0 = Some(Instant::now());
        let clone = stream.try_clone().ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, clone);
        Some(id)
    }

    fn remove(&self, id: Option<u64>) {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = Some(Instant::now());
        if let Some(id) = id {
            self.live
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }

    fn status(&self) -> (usize, Option<Instant>, Option<Instant>) {
        let n = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let (up, down) = *self.history.lock().unwrap_or_else(PoisonError::into_inner);
        (n, up, down)
    }

    fn close_all(&self) {
        for s in self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            s.shutdown();
        }
    }
}

/// One running remote.
#[derive(Debug)]
struct Running {
    /// Its options; read afresh for each new connection.
    config: Arc<Mutex<RemoteConfig>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Conns>,
    /// For a passive remote: where it listens (to wake its accept loop) and its thread.
    listening: Option<(Option<SocketAddr>, JoinHandle<()>)>,
}

fn read(config: &Mutex<RemoteConfig>) -> RemoteConfig {
    config
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Serves exactly `remotes` from now on; returns what could not be started (the rest runs).
pub(crate) fn set_remotes(shared: &Arc<Shared>, remotes: &[RemoteConfig]) -> Vec<ServeError> {
    let mut services = shared
        .services
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let wanted: BTreeMap<&Remote, &RemoteConfig> = remotes.iter().map(|r| (&r.remote, r)).collect();
    let gone: Vec<Remote> = services
        .running
        .keys()
        .filter(|r| !wanted.contains_key(r))
        .cloned()
        .collect();
    for remote in gone {
        if let Some(running) = services.running.remove(&remote) {
            stop(&remote, running);
        }
    }
    let mut errors = Vec::new();
    for (remote, config) in wanted {
        if let Some(running) = services.running.get(remote) {
            *running
                .config
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = config.clone();
            continue;
        }
        match start(shared, config) {
            Ok(running) => {
                services.running.insert(remote.clone(), running);
            }
            Err(source) => errors.push(ServeError::Bind {
                remote: remote.clone(),
                source,
            }),
        }
    }
    errors
}

/// The remotes being served, with their options.
pub(crate) fn remotes(shared: &Shared) -> Vec<RemoteConfig> {
    let services = shared
        .services
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    services.running.values().map(|r| read(&r.config)).collect()
}

/// What a served remote's connections are doing (see [`RemoteStatus`]).
pub(crate) fn status(shared: &Shared, remote: &Remote) -> Option<RemoteStatus> {
    let services = shared
        .services
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let running = services.running.get(remote)?;
    let (connections, last_connected, last_disconnected) = running.conns.status();
    let phase = if !remote.is_active() {
        None
    } else if connections > 0 {
        Some(ActivePhase::Active)
    } else if running.conns.connecting.load(Ordering::SeqCst) {
        Some(ActivePhase::Connecting)
    } else {
        Some(ActivePhase::Backoff)
    };
    Some(RemoteStatus {
        connections,
        phase,
        last_connected,
        last_disconnected,
        bound: running.listening.as_ref().and_then(|(addr, _)| *addr),
    })
}

/// A served remote's connections, as a `Manager` row's `is_connected` and `status` show
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatus {
    /// Connections open now.
    pub connections: usize,
    /// For an active remote, where its connect loop is.
    pub phase: Option<ActivePhase>,
    /// When a connection last started, if ever.
    pub last_connected: Option<Instant>,
    /// When a connection last ended, if ever.
    pub last_disconnected: Option<Instant>,
    /// For a `ptcp:` remote, the address it listens on.
    pub bound: Option<SocketAddr>,
}

/// Where an active remote's connect loop is, in Open vSwitch's words (`status:state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivePhase {
    /// Connected.
    Active,
    /// Trying to connect.
    Connecting,
    /// Waiting before the next attempt.
    Backoff,
}

impl ActivePhase {
    /// Open vSwitch's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Connecting => "CONNECTING",
            Self::Backoff => "BACKOFF",
        }
    }
}

/// Where a passive TCP remote listens (the port the system chose, for port 0).
pub(crate) fn local_addr(shared: &Shared, remote: &Remote) -> Option<SocketAddr> {
    let services = shared
        .services
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    services.running.get(remote)?.listening.as_ref()?.0
}

fn start(shared: &Arc<Shared>, config: &RemoteConfig) -> std::io::Result<Running> {
    let stop = Arc::new(AtomicBool::new(false));
    let conns = Arc::new(Conns::default());
    let shared_config = Arc::new(Mutex::new(config.clone()));
    let listening = if config.remote.is_active() {
        let (shared, config, stop, conns) = (
            shared.clone(),
            shared_config.clone(),
            stop.clone(),
            conns.clone(),
        );
        thread::spawn(move || connect_loop(&shared, &config, &stop, &conns));
        None
    } else {
        let listener = config.remote.bind()?;
        let addr = listener.local_addr();
        let (shared, config, stop, conns) = (
            shared.clone(),
            shared_config.clone(),
            stop.clone(),
            conns.clone(),
        );
        let thread = thread::spawn(move || accept_loop(&shared, &listener, &config, &stop, &conns));
        Some((addr, thread))
    };
    Ok(Running {
        config: shared_config,
        stop,
        conns,
        listening,
    })
}

fn stop(remote: &Remote, running: Running) {
    running.stop.store(true, Ordering::SeqCst);
    // The listener goes first, then the connections: a client that sees its connection
    // closed finds the port closed too, as with ovsdb-server, which does both at once.
    if let Some((addr, thread)) = running.listening {
        // The accept loop sleeps in accept(): a connection of our own wakes it to see the
        // flag. If even that fails the loop ends at its next connection.
        let woken = match (remote, addr) {
            (Remote::Unix(path), _) => UnixStream::connect(path).is_ok(),
            (_, Some(addr)) => {
                let ip = match addr.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ip => ip,
                };
                TcpStream::connect_timeout(
                    &SocketAddr::new(ip, addr.port()),
                    Duration::from_secs(1),
                )
                .is_ok()
            }
            _ => false,
        };
        if woken {
            let _ = thread.join();
        }
    }
    // Every connection the accept loop took is registered by now (it registers before
    // handing one to its thread); an active remote's loop closes the one it registers late.
    running.conns.close_all();
}

fn accept_loop(
    shared: &Arc<Shared>,
    listener: &Listener,
    config: &Arc<Mutex<RemoteConfig>>,
    stop: &AtomicBool,
    conns: &Arc<Conns>,
) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok(stream) => {
                let (shared, conns) = (shared.clone(), conns.clone());
                let probe = read(config).probe_interval();
                // Registered here, not on the new thread, so that a stop that has joined
                // this loop closes it.
                let id = conns.add(&stream);
                let remote = read(config).remote;
                thread::spawn(move || {
                    let timeout = probe.unwrap_or(fvs_tls::DEFAULT_HANDSHAKE_TIMEOUT);
                    match secure(&shared, &remote, stream, timeout) {
                        Ok(stream) => {
                            connection::serve(&shared, stream, probe);
                        }
                        Err(e) => eprintln!("fvs-ovsdb-server: {remote}: {e}"),
                    }
                    conns.remove(id);
                });
            }
            // Out of descriptors and the like: wait and try again rather than stop serving.
            Err(_) => thread::sleep(TICK),
        }
    }
    if let Listener::Unix(l) = listener
        && let Ok(addr) = l.local_addr()
        && let Some(path) = addr.as_pathname()
    {
        let _ = std::fs::remove_file(path);
    }
}

fn connect_loop(
    shared: &Arc<Shared>,
    config: &Arc<Mutex<RemoteConfig>>,
    stop: &AtomicBool,
    conns: &Conns,
) {
    let mut backoff = MIN_BACKOFF;
    let mut reported = false;
    while !stop.load(Ordering::SeqCst) {
        let current = read(config);
        // A peer that drops SYNs would otherwise hold this thread for minutes.
        conns.connecting.store(true, Ordering::SeqCst);
        let connected = current
            .remote
            .connect(current.backoff_limit())
            .map_err(|e| e.to_string())
            .and_then(|s| secure(shared, &current.remote, s, current.backoff_limit()));
        conns.connecting.store(false, Ordering::SeqCst);
        match connected {
            Ok(stream) => {
                reported = false;
                let id = conns.add(&stream);
                if stop.load(Ordering::SeqCst) {
                    // Stopped between the connect and the registration: close_all missed it.
                    stream.shutdown();
                }
                connection::serve(shared, stream, current.probe_interval());
                conns.remove(id);
                backoff = MIN_BACKOFF;
                sleep_unless_stopped(MIN_BACKOFF, stop);
            }
            Err(e) => {
                if !reported {
                    eprintln!(
                        "fvs-ovsdb-server: {}: connection failed ({e})",
                        current.remote
                    );
                    reported = true;
                }
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(current.backoff_limit());
            }
        }
    }
}

/// Runs the TLS handshake of an `ssl:`/`pssl:` remote's new connection, within `timeout`
/// (a plain remote's stream passes through); `Err` holds the reason for the log.
fn secure(
    shared: &Shared,
    remote: &Remote,
    stream: Stream,
    timeout: Duration,
) -> Result<Stream, String> {
    let Stream::Tcp(sock) = stream else {
        return Ok(stream);
    };
    if !remote.is_tls() {
        return Ok(Stream::Tcp(sock));
    }
    let config = shared.tls.config().map_err(|e| {
        let _ = sock.shutdown(std::net::Shutdown::Both);
        format!("{} ({})", e.messages().join("; "), e.errno_text())
    })?;
    let tls = if remote.is_active() {
        fvs_tls::TlsStream::connect(&config, sock, timeout)
    } else {
        fvs_tls::TlsStream::accept(&config, sock, timeout)
    };
    tls.map(Stream::Tls).map_err(|e| e.to_string())
}

/// Sleeps for `d`, returning early once `stop` is set.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(TICK));
    }
}
