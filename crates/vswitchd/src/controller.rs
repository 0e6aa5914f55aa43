//! The bridges' controllers: each `Controller` row a bridge names becomes connections that
//! speak OpenFlow through the same channel as the management socket, and its state is
//! written back to the row (`is_connected`, `role`, `status`) as Open vSwitch writes it.
//!
//! # Targets
//!
//! | target | what happens |
//! |---|---|
//! | `tcp:IP[:PORT]`, `ssl:IP[:PORT]`, `unix:PATH` | active: connect; on failure or loss wait and retry, the wait starting at 1 s and doubling up to `max_backoff` (default 8 s), back to 1 s after a connection that worked |
//! | `ptcp:[PORT][:IP]`, `pssl:[PORT][:IP]`, `punix:PATH` | passive: listen (port 6653 and every address by default) and serve every peer |
//!
//! `ssl:` and `pssl:` speak TLS ([`fvs_tls`]) with the files of the `Open_vSwitch` row's
//! `SSL` record, as they are when each connection starts (so a changed certificate applies
//! to the next connection). As in Open vSwitch, a connection attempt without all three
//! files configured logs each missing one and fails with "Protocol not available"; a failed
//! handshake (a peer with a certificate from another CA, or one that is not TLS) is logged
//! and, for an active target, fails the attempt with "Protocol error" in `last_error` and
//! backs off. A passive target's handshakes run on each peer's own thread, so a peer that
//! sends garbage is dropped without delaying the others. Other targets are refused: the
//! row's `status` says so in `last_error`. Unix sockets are confined as Open vSwitch confines them, against a
//! database writer pointing the daemon at arbitrary files: `unix:` only inside the run
//! directory, `punix:` only as `RUNDIR/BRIDGE.*`; other paths are refused with an error in
//! the log and the row stays untouched. Passive targets are service connections unless the
//! row's `type` says otherwise (and do not count as controllers for the fail mode), active
//! ones primary.
//!
//! # Liveness
//!
//! A TCP connection that has received nothing for `inactivity_probe` (default 5 s, at least
//! 5 s as in Open vSwitch; 0 disables; Unix-domain connections are not probed) is sent an
//! echo request; one that stays silent for another
//! interval is dropped (and an active one reconnects). A peer must say hello within the
//! current backoff (at least 1 s) of an active connection, or within a probe interval of a
//! passive one.
//!
//! # Runners
//!
//! One thread per active target (connect, serve, back off) and one per passive target
//! (accept, a thread per peer). [`Controllers::sync`] runs after every reconciliation: a row
//! that appeared starts a runner, one that went (or whose settings changed) stops it: its
//! stop flag is set, a passive listener is woken by a throw-away connection, and connections
//! notice the flag within a read timeout.
//!
//! # Fail mode
//!
//! As in Open vSwitch: when a bridge gains its first controller or loses its last one, its
//! flow tables are flushed, and a standalone bridge without controllers gets its
//! `priority=0 actions=NORMAL` rule back; a change of `fail_mode` without controllers does
//! the same. A standalone bridge whose controllers have all been unreachable for three
//! inactivity-probe intervals (15 s by default) "fails open": a hidden rule ahead of its
//! tables forwards everything with NORMAL, until a controller connects again. A secure
//! bridge keeps its flows and forwards only as they say.
//!
//! # Write-back
//!
//! A status thread with its own database connection looks at every runner once a second
//! and writes a row's columns when they differ from what the row says: `is_connected`
//! (some connection finished its hellos), `role` (`master`, `slave` or `other` for equal),
//! and `status` (`state`: `ACTIVE`, `BACKOFF`, `CONNECTING` or `LISTENING`; `last_error`;
//! `sec_since_connect`/`sec_since_disconnect`, refreshed only with another change so the
//! row is not rewritten every second).
//!
//! # Packet-in limits
//!
//! `controller_rate_limit` (and `controller_burst_limit`, a quarter of the rate by default)
//! rate-limits the packet-ins of the row's connections ([`crate::pinsched`], applied by
//! [`crate::connmgr`]); while it is on, `status` carries the `packet-in-miss-*` and
//! `packet-in-action-*` counters (`bypassed`, `queued`, `dropped`, `backlog`) of the row's
//! first connection, every packet-in counted under `miss` as Open vSwitch 3.1 does. Changing
//! the limits does not restart the connection. `controller_queue_size` (100 by default)
//! bounds the packet-ins each connection keeps queued for a peer that is slow to read
//! ([`crate::outbox`]): more are dropped and counted as `rconn_overflow` in `coverage/show`,
//! as Open vSwitch does; replies are never dropped.
//!
//! `connection_mode`: a `tcp:`/`ssl:` controller in `in-band` mode (the default) gives its
//! bridge hidden rules that let the controller's traffic through ([`crate::in_band`],
//! `fvs_pipeline::in_band`), unless `out-of-band` or the bridge's
//! `other_config:disable-in-band=true` says otherwise. The connection itself goes through
//! the host's stack either way.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fvs_openflow::wire::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{BridgeCfg, ControllerCfg};
use crate::mgmt::{self, ServeOpts};
use crate::ofchannel::ConnKind;
use crate::pinsched::{Limits, PinStats};
use crate::vlog::Level;
use crate::{DATABASE, Daemon};

/// OpenFlow's IANA port.
pub const DEFAULT_PORT: u16 = 6653;
/// `max_backoff` when unset.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// `inactivity_probe` when unset.
pub const DEFAULT_PROBE: Duration = Duration::from_secs(5);
/// The first wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How often sleeping runners look at their stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A parsed `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tcp:HOST[:PORT]`.
    Tcp(String, u16),
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `ptcp:[PORT][:IP]`.
    Ptcp(u16, String),
    /// `punix:PATH`.
    Punix(PathBuf),
    /// `ssl:HOST[:PORT]`.
    Ssl(String, u16),
    /// `pssl:[PORT][:IP]`.
    Pssl(u16, String),
}

/// Why a target was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// An unknown or unsupported connection method.
    #[error("{0}: unknown or unsupported connection method")]
    Method(String),
    /// A port that is not a number from 0 to 65535.
    #[error("{0}: bad port number")]
    Port(String),
    /// `tcp:` without a host or `unix:` without a path.
    #[error("{0}: missing address")]
    Missing(String),
}

impl Target {
    /// Parses a Controller row's `target`.
    pub fn parse(t: &str) -> Result<Self, TargetError> {
        let port = |p: &str| -> Result<u16, TargetError> {
            if p.is_empty() {
                Ok(DEFAULT_PORT)
            } else {
                p.parse().map_err(|_| TargetError::Port(t.to_owned()))
            }
        };
        let (method, rest) = t
            .split_once(':')
            .ok_or_else(|| TargetError::Method(t.to_owned()))?;
        match method {
            "tcp" | "ssl" => {
                let (host, p) = split_host_port(rest);
                if host.is_empty() {
                    return Err(TargetError::Missing(t.to_owned()));
                }
                let (host, p) = (host.to_owned(), port(p)?);
                Ok(if method == "ssl" {
                    Self::Ssl(host, p)
                } else {
                    Self::Tcp(host, p)
                })
            }
            "ptcp" | "pssl" => {
                let (p, ip) = rest.split_once(':').unwrap_or((rest, ""));
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let (p, ip) = (
                    port(p)?,
                    if ip.is_empty() { "0.0.0.0" } else { ip }.to_owned(),
                );
                Ok(if method == "pssl" {
                    Self::Pssl(p, ip)
                } else {
                    Self::Ptcp(p, ip)
                })
            }
            "unix" | "punix" if rest.is_empty() => Err(TargetError::Missing(t.to_owned())),
            "unix" => Ok(Self::Unix(PathBuf::from(rest))),
            "punix" => Ok(Self::Punix(PathBuf::from(rest))),
            _ => Err(TargetError::Method(t.to_owned())),
        }
    }

    /// True for the listening kinds.
    pub fn is_passive(&self) -> bool {
        matches!(self, Self::Ptcp(..) | Self::Punix(_) | Self::Pssl(..))
    }

    /// True for the TLS kinds.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Ssl(..) | Self::Pssl(..))
    }
}

/// `HOST[:PORT]` with `[IPv6]` brackets.
fn split_host_port(s: &str) -> (&str, &str) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':').unwrap_or(""));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (s, ""),
    }
}

/// A runner's state, as the status column shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RunState {
    state: &'static str,
    last_error: Option<String>,
    since: Option<Instant>,
    connected_once: bool,
}

/// One Controller row's runner.
struct Runner {
    cfg: ControllerCfg,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<RunState>>,
    /// What a passive runner listens on, to wake its accept at stop.
    wake: Option<Target>,
}

/// Every bridge's controller runners.
#[derive(Default)]
pub struct Controllers {
    runners: BTreeMap<(String, Uuid), Runner>,
    modes: BTreeMap<String, BridgeMode>,
    /// Rows refused for their Unix socket path, with that target (logged once).
    refused: BTreeMap<(String, Uuid), String>,
    /// Set on exit by [`Controllers::stop_all`]: no runner starts after it.
    closed: bool,
}

/// What the fail-mode rules remember of a bridge.
struct BridgeMode {
    has_controllers: bool,
    standalone: bool,
    /// Three times the longest inactivity probe: how long before failing open.
    fail_open_after: Duration,
    /// Since when no controller has been connected (or since the controllers appeared).
    unconnected_since: Instant,
    /// Since when the bridge has been failed open (for `bridge/dump-flows`' duration).
    failed_open_at: Option<Instant>,
}

/// What a runner's settings are, so a change restarts it.
fn same_settings(a: &ControllerCfg, b: &ControllerCfg) -> bool {
    a.target == b.target
        && a.kind == b.kind
        && a.max_backoff == b.max_backoff
        && a.inactivity_probe == b.inactivity_probe
        && a.enable_async_messages == b.enable_async_messages
}

impl Controllers {
    /// Starts and stops runners to match the bridges' Controller rows.
    pub fn sync(&mut self, daemon: &Arc<Daemon>, bridges: &[BridgeCfg]) {
        if self.closed {
            return;
        }
        let mut wanted: BTreeMap<(String, Uuid), &ControllerCfg> = BTreeMap::new();
        let rundir = daemon.mgmt().rundir().map(Path::to_path_buf);
        self.refused.retain(|k, t| {
            bridges.iter().any(|b| {
                b.name == k.0
                    && b.controllers
                        .iter()
                        .any(|c| c.uuid == k.1 && &c.target == t)
            })
        });
        for b in bridges {
            for c in &b.controllers {
                let key = (b.name.clone(), c.uuid);
                match confined(&b.name, &c.target, rundir.as_deref()) {
                    Ok(()) => {
                        wanted.insert(key, c);
                    }
                    // Logged once, when the row appears or changes.
                    Err(e) if !self.refused.contains_key(&key) => {
                        daemon.log("bridge", Level::Err, &e);
                        self.refused.insert(key, c.target.clone());
                    }
                    Err(_) => {}
                }
            }
        }
        let stale: Vec<(String, Uuid)> = self
            .runners
            .iter()
            .filter(|(k, r)| wanted.get(*k).is_none_or(|c| !same_settings(c, &r.cfg)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(r) = self.runners.remove(&k) {
                stop(&r);
                daemon
                    .connmgr()
                    .set_controller_limits(&k.0, &r.cfg.target, None);
                daemon
                    .connmgr()
                    .set_controller_queue_size(&k.0, &r.cfg.target, None);
            }
        }
        for (key, cfg) in wanted {
            let limits = Limits::from_columns(cfg.rate_limit, cfg.burst_limit);
            daemon
                .connmgr()
                .set_controller_limits(&key.0, &cfg.target, limits);
            // Open vSwitch takes only positive sizes; anything else is its default.
            let queue_size = cfg
                .queue_size
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok());
            daemon
                .connmgr()
                .set_controller_queue_size(&key.0, &cfg.target, queue_size);
            if let Some(r) = self.runners.get_mut(&key) {
                r.cfg = cfg.clone();
                continue;
            }
            let runner = start(daemon, &key.0, cfg);
            self.runners.insert(key, runner);
        }
        self.sync_fail_modes(daemon, bridges);
    }

    /// Stops every runner for good, as the daemon exits: listeners close and their `punix:`
    /// socket files are removed (as Open vSwitch unlinks them), and a configuration change
    /// arriving later starts nothing new.
    pub fn stop_all(&mut self) {
        self.closed = true;
        for r in std::mem::take(&mut self.runners).into_values() {
            stop(&r);
        }
    }

    /// Applies the fail-mode rules (see the module doc) after a configuration change.
    fn sync_fail_modes(&mut self, daemon: &Daemon, bridges: &[BridgeCfg]) {
        let now = daemon.now();
        let mut flushed = false;
        let mut sw = daemon.switch();
        self.modes
            .retain(|name, _| bridges.iter().any(|b| &b.name == name));
        for b in bridges {
            let has = b.controllers.iter().any(|c| {
                effective_kind(c) == ConnKind::Primary
                    && self.runners.contains_key(&(b.name.clone(), c.uuid))
            });
            let standalone = b.fail_mode.as_deref() != Some("secure");
            let probe = b
                .controllers
                .iter()
                .filter_map(|c| serve_opts(c).probe)
                .max()
                .unwrap_or(DEFAULT_PROBE);
            let Some(bridge) = sw.bridge_mut(&b.name) else {
                continue;
            };
            match self.modes.get(&b.name) {
                // A bridge new to the daemon starts as its fail mode says; with controllers,
                // without the standalone NORMAL rule.
                None if has => {
                    bridge.flush(now);
                    flushed = true;
                }
                None => {}
                Some(m) if m.has_controllers != has || (!has && m.standalone != standalone) => {
                    bridge.flush(now);
                    flushed = true;
                    if !has && standalone {
                        bridge.add_default_normal(now);
                    }
                }
                Some(_) => {}
            }
            if !has || !standalone {
                bridge.set_fail_open(false);
            }
            let unconnected_since = match self.modes.get(&b.name) {
                Some(m) if m.has_controllers == has => m.unconnected_since,
                _ => Instant::now(),
            };
            let failed_open_at = self
                .modes
                .get(&b.name)
                .and_then(|m| m.failed_open_at)
                .filter(|_| bridge.fail_open());
            self.modes.insert(
                b.name.clone(),
                BridgeMode {
                    has_controllers: has,
                    standalone,
                    fail_open_after: probe * 3,
                    unconnected_since,
                    failed_open_at,
                },
            );
        }
        drop(sw);
        if flushed {
            daemon.revalidate_now();
        }
    }

    /// Fails standalone bridges open whose controllers have been unreachable long enough, and
    /// recovers those that have a controller again (called once a second).
    fn check_fail_open(&mut self, daemon: &Daemon) {
        for (name, m) in &mut self.modes {
            if !m.has_controllers || !m.standalone {
                continue;
            }
            let connected = daemon.connmgr().has_connected_controller(name);
            if connected {
                m.unconnected_since = Instant::now();
            }
            let open = !connected && m.unconnected_since.elapsed() >= m.fail_open_after;
            let mut sw = daemon.switch();
            let Some(bridge) = sw.bridge_mut(name) else {
                continue;
            };
            if bridge.fail_open() != open {
                bridge.set_fail_open(open);
                m.failed_open_at = open.then(Instant::now);
                drop(sw);
                daemon.revalidate_now();
                let text = if open {
                    format!(
                        "{name}: no controller connected for {} seconds, failing open",
                        m.fail_open_after.as_secs()
                    )
                } else {
                    format!("{name}: a controller connected, leaving fail-open mode")
                };
                daemon.log("fail_open", Level::Warn, &text);
            }
        }
    }

    /// How long `bridge` has been failed open, if it is: the age of the hidden rule
    /// `bridge/dump-flows` lists.
    pub fn failed_open_for(&self, bridge: &str) -> Option<Duration> {
        self.modes
            .get(bridge)
            .and_then(|m| m.failed_open_at)
            .map(|t| t.elapsed())
    }

    /// The bridges that have at least one Controller row.
    pub fn bridges_with_controllers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.runners.keys().map(|(b, _)| b.clone()).collect();
        v.dedup();
        v
    }

    /// The write-back for every row whose columns differ from what it says.
    fn status_ops(&self, daemon: &Daemon) -> Vec<Value> {
        let mut ops = Vec::new();
        for ((bridge, uuid), r) in &self.runners {
            let conns = daemon.connmgr().controller_conns(bridge, &r.cfg.target);
            let open: Vec<_> = conns
                .iter()
                .filter(|c| !c.is_closed() && c.is_open())
                .collect();
            let is_connected = !open.is_empty();
            let role = if is_connected {
                // A passive target's row shows its first peer's role.
                Some(match open[0].role() {
                    Role::Master => "master",
                    Role::Slave => "slave",
                    Role::Equal | Role::NoChange => "other",
                })
            } else {
                None
            };
            let st = lock(&r.state).clone();
            let mut status: BTreeMap<String, String> = BTreeMap::new();
            status.insert("state".into(), st.state.into());
            // Rate limiting's counters, while it is on, for the connection: every
            // packet-in counts as a miss, as in Open vSwitch 3.1 (see crate::pinsched).
            if let Some(s) = open.first().and_then(|c| c.pin_stats()) {
                for (kind, st) in [("miss", s), ("action", PinStats::default())] {
                    for (what, n) in [
                        ("bypassed", st.bypassed),
                        ("queued", st.queued),
                        ("dropped", st.dropped),
                        ("backlog", st.backlog),
                    ] {
                        status.insert(format!("packet-in-{kind}-{what}"), n.to_string());
                    }
                }
            }
            if let Some(e) = &st.last_error {
                status.insert("last_error".into(), e.clone());
            }
            let changed = is_connected != r.cfg.is_connected
                || role.map(str::to_owned) != r.cfg.role
                || status.iter().any(|(k, v)| r.cfg.status.get(k) != Some(v))
                || r.cfg
                    .status
                    .keys()
                    .any(|k| !k.starts_with("sec_since") && !status.contains_key(k));
            if !changed {
                continue;
            }
            if let Some(since) = st.since {
                let key = if is_connected {
                    "sec_since_connect"
                } else {
                    "sec_since_disconnect"
                };
                status.insert(key.into(), since.elapsed().as_secs().to_string());
            }
            let pairs: Vec<Value> = status.iter().map(|(k, v)| json!([k, v])).collect();
            let role_value = match role {
                Some(r) => json!(r),
                None => json!(["set", []]),
            };
            ops.push(json!({
                "op": "update",
                "table": "Controller",
                "where": [["_uuid", "==", ["uuid", uuid.to_string()]]],
                "row": {
                    "is_connected": is_connected,
                    "role": role_value,
                    "status": ["map", pairs],
                },
            }));
        }
        ops
    }
}

fn stop(r: &Runner) {
    r.stop.store(true, Ordering::SeqCst);
    // Wake a listener blocked in accept; it sees the flag and leaves.
    match &r.wake {
        Some(Target::Ptcp(port, ip) | Target::Pssl(port, ip)) => {
            let ip = if ip == "0.0.0.0" { "127.0.0.1" } else { ip };
            if let Ok(mut addrs) = (ip, *port).to_socket_addrs()
                && let Some(a) = addrs.next()
            {
                let _ = TcpStream::connect_timeout(&a, Duration::from_millis(200));
            }
        }
        Some(Target::Punix(path)) => {
            let _ = UnixStream::connect(path);
            let _ = std::fs::remove_file(path);
        }
        _ => {}
    }
}

/// A row's connection kind: its `type`, else service for passive targets and primary for
/// active ones.
fn effective_kind(cfg: &ControllerCfg) -> ConnKind {
    match cfg.kind.as_deref() {
        Some("service") => ConnKind::Service,
        Some(_) => ConnKind::Primary,
        None if Target::parse(&cfg.target).is_ok_and(|t| t.is_passive()) => ConnKind::Service,
        None => ConnKind::Primary,
    }
}

/// Whether `target` may be used by `bridge`, as Open vSwitch confines Unix sockets; `Err`
/// holds the log message.
fn confined(bridge: &str, target: &str, rundir: Option<&Path>) -> Result<(), String> {
    let Some(rundir) = rundir else { return Ok(()) };
    let run = rundir.display();
    if let Some(path) = target.strip_prefix("punix:") {
        let allowed = Path::new(path).parent() == Some(rundir)
            && Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{bridge}.")));
        if !allowed {
            return Err(format!(
                "bridge {bridge}: Not adding Unix domain socket controller \"{target}\" due to possibility of overwriting local files. Instead, specify path in permitted format \"punix:{run}/{bridge}.*\" or connect to \"unix:{run}/{bridge}.mgmt\" (which is always available without special configuration)."
            ));
        }
    } else if let Some(path) = target.strip_prefix("unix:")
        && !Path::new(path).starts_with(rundir)
    {
        return Err(format!(
            "bridge {bridge}: Not connecting to socket controller \"{target}\" due to possibility for remote exploit.  Instead, specify socket in permitted directory \"unix:{run}/\" or connect to \"unix:{run}/{bridge}.mgmt\" (which is always available without special configuration)."
        ));
    }
    Ok(())
}

fn serve_opts(cfg: &ControllerCfg) -> ServeOpts {
    let unix = cfg.target.starts_with("unix:") || cfg.target.starts_with("punix:");
    let probe = match cfg.inactivity_probe {
        // Open vSwitch does not probe Unix-domain connections: a dead local peer closes.
        _ if unix => None,
        Some(0) => None,
        Some(ms) => {
            Some(Duration::from_millis(u64::try_from(ms).unwrap_or(5000)).max(DEFAULT_PROBE))
        }
        None => Some(DEFAULT_PROBE),
    };
    ServeOpts {
        kind: effective_kind(cfg),
        target: Some(cfg.target.clone()),
        probe,
        hello_timeout: probe,
        async_messages: cfg.enable_async_messages != Some(false),
    }
}

fn start(daemon: &Arc<Daemon>, bridge: &str, cfg: &ControllerCfg) -> Runner {
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Mutex::new(RunState::default()));
    let target = match Target::parse(&cfg.target) {
        Ok(t) => t,
        Err(e) => {
            daemon.log("controller", Level::Warn, &format!("{bridge}: {e}"));
            *lock(&state) = RunState {
                state: "BACKOFF",
                last_error: Some(e.to_string()),
                ..RunState::default()
            };
            return Runner {
                cfg: cfg.clone(),
                stop,
                state,
                wake: None,
            };
        }
    };
    let wake = target.is_passive().then(|| target.clone());
    let (d, s, st, b, c) = (
        daemon.clone(),
        stop.clone(),
        state.clone(),
        bridge.to_owned(),
        cfg.clone(),
    );
    thread::spawn(move || {
        if target.is_passive() {
            passive(&d, &b, &c, &target, &s, &st);
        } else {
            active(&d, &b, &c, &target, &s, &st);
        }
    });
    Runner {
        cfg: cfg.clone(),
        stop,
        state,
        wake,
    }
}

/// Sleeps `d` unless `stop` is set first; false when stopped.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(STOP_POLL.min(until.saturating_duration_since(Instant::now())));
    }
    !stop.load(Ordering::SeqCst)
}

/// An I/O error as Open vSwitch words it: the system's message, without Rust's
/// " (os error N)".
fn os_words(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn set_state(st: &Mutex<RunState>, state: &'static str, error: Option<String>) {
    let mut s = lock(st);
    let connected = state == "ACTIVE";
    let was_connected = s.state == "ACTIVE";
    // Connection and disconnection times, once there has been a connection.
    if connected != was_connected && (connected || s.connected_once) {
        s.since = Some(Instant::now());
    }
    s.connected_once |= connected;
    s.state = state;
    if error.is_some() {
        s.last_error = error;
    }
}

/// Why an attempt to connect failed: the text for `last_error`, and what to log first.
struct ConnectFailure {
    last_error: String,
    log: Vec<(&'static str, Level, String)>,
    /// The connection was made but its TLS handshake failed: Open vSwitch, for which the
    /// handshake is part of the connection, logs that as a dropped connection.
    dropped: bool,
}

impl From<io::Error> for ConnectFailure {
    fn from(e: io::Error) -> Self {
        Self {
            last_error: os_words(&e),
            log: Vec::new(),
            dropped: false,
        }
    }
}

/// The TLS configuration for a new `ssl:`/`pssl:` connection, or the failure Open vSwitch
/// reports without one (each missing file logged, "Protocol not available").
fn tls_config(daemon: &Daemon) -> Result<Arc<fvs_tls::TlsConfig>, ConnectFailure> {
    let source = daemon.db().map(crate::db::Db::tls);
    let result = match &source {
        Some(s) => s.config(),
        None => Err(fvs_tls::TlsError::Missing(vec![
            fvs_tls::FileRole::PrivateKey,
            fvs_tls::FileRole::Certificate,
            fvs_tls::FileRole::CaCert,
        ])),
    };
    result.map_err(|e| ConnectFailure {
        last_error: e.errno_text().to_owned(),
        log: e
            .messages()
            .into_iter()
            .map(|m| ("stream_ssl", Level::Err, m))
            .collect(),
        dropped: false,
    })
}

fn connect(daemon: &Daemon, target: &Target) -> Result<mgmt::AnyStream, ConnectFailure> {
    let tcp = |host: &str, port: u16| -> io::Result<TcpStream> {
        let addr: SocketAddr = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let _ = s.set_nodelay(true);
        Ok(s)
    };
    match target {
        Target::Tcp(host, port) => Ok(mgmt::AnyStream::Tcp(tcp(host, *port)?)),
        Target::Ssl(host, port) => {
            // As Open vSwitch: the files are checked before the connection is tried.
            let config = tls_config(daemon)?;
            let s = tcp(host, *port)?;
            fvs_tls::TlsStream::connect(&config, s, fvs_tls::DEFAULT_HANDSHAKE_TIMEOUT)
                .map(mgmt::AnyStream::Tls)
                .map_err(|e| ConnectFailure {
                    last_error: e.errno_text(),
                    log: vec![("stream_ssl", Level::Warn, e.to_string())],
                    dropped: true,
                })
        }
        Target::Unix(path) => Ok(mgmt::AnyStream::Unix(UnixStream::connect(path)?)),
        Target::Ptcp(..) | Target::Punix(_) | Target::Pssl(..) => {
            Err(io::Error::other("a passive target").into())
        }
    }
}

/// An active target: connect, serve until the connection ends, back off, again.
fn active(
    daemon: &Arc<Daemon>,
    bridge: &str,
    cfg: &ControllerCfg,
    target: &Target,
    stop: &Arc<AtomicBool>,
    st: &Mutex<RunState>,
) {
    let max = cfg
        .max_backoff
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or(DEFAULT_MAX_BACKOFF, Duration::from_millis)
        .max(FIRST_BACKOFF);
    let mut backoff = FIRST_BACKOFF;
    while !stop.load(Ordering::SeqCst) {
        set_state(st, "CONNECTING", None);
        match connect(daemon, target) {
            Ok(stream) => {
                daemon.log(
                    "rconn",
                    Level::Info,
                    &format!("{bridge}<->{}: connected", cfg.target),
                );
                set_state(st, "ACTIVE", None);
                let opts = mgmt::ServeOpts {
                    hello_timeout: Some(backoff),
                    ..serve_opts(cfg)
                };
                let end = mgmt::serve_controller(daemon, stream, bridge, stop, &opts);
                daemon.log(
                    "rconn",
                    Level::Info,
                    &format!("{bridge}<->{}: connection dropped ({end})", cfg.target),
                );
                set_state(st, "BACKOFF", Some(end));
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                for (module, level, line) in &e.log {
                    daemon.log(module, *level, line);
                }
                let msg = e.last_error;
                let how = if e.dropped { "dropped" } else { "failed" };
                daemon.log(
                    "rconn",
                    Level::Warn,
                    &format!("{bridge}<->{}: connection {how} ({msg})", cfg.target),
                );
                set_state(st, "BACKOFF", Some(msg));
                if !sleep_unless(stop, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(max);
                continue;
            }
        }
        if !sleep_unless(stop, backoff) {
            return;
        }
    }
}

/// A passive target: listen and serve every peer on its own thread.
fn passive(
    daemon: &Arc<Daemon>,
    bridge: &str,
    cfg: &ControllerCfg,
    target: &Target,
    stop: &Arc<AtomicBool>,
    st: &Mutex<RunState>,
) {
    enum L {
        Tcp(TcpListener),
        Unix(UnixListener),
    }
    let listener = match target {
        Target::Ptcp(port, ip) | Target::Pssl(port, ip) => {
            TcpListener::bind((ip.as_str(), *port)).map(L::Tcp)
        }
        Target::Punix(path) => {
            let _ = std::fs::remove_file(path);
            UnixListener::bind(path).map(L::Unix)
        }
        _ => return,
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            daemon.log(
                "controller",
                Level::Err,
                &format!("{bridge}: {}: cannot listen: {e}", cfg.target),
            );
            set_state(st, "BACKOFF", Some(os_words(&e)));
            return;
        }
    };
    set_state(st, "LISTENING", None);
    loop {
        let stream = match &listener {
            L::Tcp(l) => l.accept().map(|(s, _)| mgmt::AnyStream::Tcp(s)),
            L::Unix(l) => l.accept().map(|(s, _)| mgmt::AnyStream::Unix(s)),
        };
        if stop.load(Ordering::SeqCst) {
            if let Target::Punix(path) = target {
                let _ = std::fs::remove_file(path);
            }
            return;
        }
        let Ok(stream) = stream else { continue };
        let (d, b, s, opts) = (
            daemon.clone(),
            bridge.to_owned(),
            stop.clone(),
            serve_opts(cfg),
        );
        let tls = target.is_tls();
        thread::spawn(move || {
            let stream = if tls {
                match accept_tls(&d, stream, &opts) {
                    Some(s) => s,
                    None => return,
                }
            } else {
                stream
            };
            let _ = mgmt::serve_controller(&d, stream, &b, &s, &opts);
        });
    }
}

/// The server side of a `pssl:` peer's handshake, on the peer's own thread, within the
/// probe interval; `None` (logged) when it fails.
fn accept_tls(
    daemon: &Daemon,
    stream: mgmt::AnyStream,
    opts: &ServeOpts,
) -> Option<mgmt::AnyStream> {
    let mgmt::AnyStream::Tcp(sock) = stream else {
        return Some(stream);
    };
    let peer = sock
        .peer_addr()
        .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
    let config = match tls_config(daemon) {
        Ok(c) => c,
        Err(e) => {
            for (module, level, line) in &e.log {
                daemon.log(module, *level, line);
            }
            return None;
        }
    };
    let timeout = opts.probe.unwrap_or(fvs_tls::DEFAULT_HANDSHAKE_TIMEOUT);
    match fvs_tls::TlsStream::accept(&config, sock, timeout) {
        Ok(s) => Some(mgmt::AnyStream::Tls(s)),
        Err(e) => {
            daemon.log("stream_ssl", Level::Warn, &format!("{peer}: {e}"));
            None
        }
    }
}

/// Writes the Controller rows' state back once a second, when it changed.
pub fn status_loop(db: &crate::db::Db, daemon: &Arc<Daemon>) {
    let client = db.connect();
    let mut txn = 0u64;
    loop {
        thread::sleep(Duration::from_secs(1));
        client.drain();
        daemon.controllers().check_fail_open(daemon);
        let ops = daemon.controllers().status_ops(daemon);
        if ops.is_empty() {
            continue;
        }
        txn += 1;
        let mut params = vec![json!(DATABASE)];
        params.extend(ops);
        let request =
            json!({"id": format!("fvs-controller-{txn}"), "method": "transact", "params": params});
        if let Err(e) = client.send(request) {
            daemon.log(
                "controller",
                Level::Warn,
                &format!("status write-back refused: {e}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_open_vswitch_reads_them() {
        assert_eq!(
            Target::parse("tcp:127.0.0.1"),
            Ok(Target::Tcp("127.0.0.1".into(), 6653))
        );
        assert_eq!(
            Target::parse("tcp:10.0.0.1:6633"),
            Ok(Target::Tcp("10.0.0.1".into(), 6633))
        );
        assert_eq!(
            Target::parse("tcp:[::1]:6634"),
            Ok(Target::Tcp("::1".into(), 6634))
        );
        assert_eq!(
            Target::parse("ptcp:"),
            Ok(Target::Ptcp(6653, "0.0.0.0".into()))
        );
        assert_eq!(
            Target::parse("ptcp:6634:127.0.0.1"),
            Ok(Target::Ptcp(6634, "127.0.0.1".into()))
        );
        assert_eq!(
            Target::parse("unix:/run/c.sock"),
            Ok(Target::Unix("/run/c.sock".into()))
        );
        assert_eq!(
            Target::parse("punix:/run/c.sock"),
            Ok(Target::Punix("/run/c.sock".into()))
        );
        assert_eq!(
            Target::parse("ssl:1.2.3.4"),
            Ok(Target::Ssl("1.2.3.4".into(), 6653))
        );
        assert_eq!(
            Target::parse("pssl:6634:127.0.0.1"),
            Ok(Target::Pssl(6634, "127.0.0.1".into()))
        );
        assert_eq!(
            Target::parse("pssl:"),
            Ok(Target::Pssl(6653, "0.0.0.0".into()))
        );
        assert_eq!(
            Target::parse("tls:1.2.3.4"),
            Err(TargetError::Method("tls:1.2.3.4".into()))
        );
        assert_eq!(
            Target::parse("tcp:1.2.3.4:http"),
            Err(TargetError::Port("tcp:1.2.3.4:http".into()))
        );
        assert_eq!(
            Target::parse("unix:"),
            Err(TargetError::Missing("unix:".into()))
        );
    }
}
