//! `fvs-vswitchd`: ferrovs's switch daemon. One process embeds the configuration database,
//! keeps the pipeline's bridges and the datapath's ports in step with it, moves packets, and
//! answers `ovs-appctl`-style commands.
//!
//! # Shape
//!
//! ```text
//!  ovs-vsctl ──► db.sock ──► [db] fvs_ovsdb_server State (durable conf.db)
//!                               │ monitor (in-process connection)
//!                               ▼
//!                     [reconcile thread] config::read → Reconciler::apply ──► Switch
//!                               │ write-back transaction: ofport, mac_in_use, error,
//!                               ▼ datapath_id, cur_cfg = next_cfg; devices opened ──┐
//!  devices ◄──► [datapath thread] fvs_datapath ── upcall, revalidation ──► Switch ◄──┘
//!  ovs-appctl ──► fvs-vswitchd.ctl ──► [unixctl] commands ──► Switch (trace, flows, fdb)
//!  ovs-ofctl  ──► <bridge>.mgmt ──► [mgmt] thread per connection ──► [ofchannel] ──► Switch
//!  controllers ◄─► [controller] tcp:/ssl:/unix: (connect), ptcp:/pssl:/punix: (listen)─┘
//!  flow-removed, port-status, packet-in ──► [connmgr] dispatcher ──► every channel
//! ```
//!
//! - [`dirs`]: `FVS_RUNDIR`, `FVS_DBDIR`, `FVS_LOGDIR`. [`options`]: the command line.
//! - [`db`]: the embedded OVSDB server and the daemon's in-process connection to it.
//!   [`manager`]: the `Manager` rows' remotes served, and their status written back; the
//!   `SSL` row's files for every `ssl:`/`pssl:` connection (managers and controllers, through
//!   `fvs_tls`).
//! - [`config`]: database rows → plain configuration. [`reconcile`]: configuration →
//!   bridges and ports, and the write-back. [`tunnel_config`]: tunnel interfaces' options,
//!   read (errors and warnings) as Open vSwitch reads them.
//!   [`bridge_mac`]: interfaces' and bridges' Ethernet addresses and the datapath ID, by
//!   Open vSwitch's rules.
//! - [`datapath`]: the datapath threads (one, or one per core of `pmd-cpu-mask`), their
//!   ports' devices, upcalls, the translation cache and revalidation, the datapath's appctl
//!   commands, and the `Interface` rows' statistics.
//! - [`ofchannel`]: one OpenFlow connection's protocol, without I/O. [`mgmt`]: each bridge's
//!   management socket, made and removed with the bridge after every reconciliation, and the
//!   serving of every OpenFlow connection. [`controller`]: the `Controller` rows' connections,
//!   fail modes, and their status written back. [`connmgr`]: the live connections and the
//!   delivery of asynchronous messages, packet-in rate limits ([`pinsched`]) and the
//!   continuations of `controller(pause)` that `NXT_RESUME` brings back. [`snoop`]: each
//!   bridge's `<bridge>.snoop`, where snoopers get a copy of a controller connection's
//!   messages.
//! - [`unixctl`]: the control socket's JSON-RPC (server and client). [`commands`]: the
//!   commands. [`vlog`]: logging levels and the log file. [`process`]: pidfile, `--detach`,
//!   signals.
//!
//! The daemon's clients wait for `cur_cfg` to reach the `next_cfg` they set; the reconciler
//! writes it in the same transaction as the rest of the write-back, so when a client returns,
//! the ports it made have their `ofport`. The reconciler holds the database's lock only to
//! read the configuration and to submit that write-back, never while it waits for the
//! datapath thread, so a slow datapath never stalls the database's clients.

pub mod bridge_mac;
pub mod commands;
pub mod config;
pub mod connmgr;
pub mod controller;
pub mod datapath;
pub mod db;
pub mod dirs;
pub mod in_band;
pub mod manager;
pub mod mgmt;
pub mod ofchannel;
pub mod options;
pub mod outbox;
pub mod pinsched;
pub mod process;
pub mod reconcile;
pub mod snoop;
pub mod tunnel_config;
pub mod unixctl;
pub mod vlog;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fvs_pipeline::clock::Millis;
use fvs_pipeline::switch::Switch;
use serde_json::{Value, json};

use crate::db::{Client, Db};
use crate::reconcile::Reconciler;
use crate::vlog::{Level, Vlog};

/// The name of the configuration database.
pub const DATABASE: &str = "Open_vSwitch";

/// `fvs-vswitchd --version` and `version`'s text.
pub fn version_text() -> String {
    format!("fvs-vswitchd (ferrovs) {}\n", env!("CARGO_PKG_VERSION"))
}

/// What the daemon's threads share.
pub struct Daemon {
    switch: Mutex<Switch>,
    vlog: Mutex<Vlog>,
    started: Instant,
    exit: Mutex<Sender<()>>,
    exit_requested: AtomicBool,
    mgmt: Mutex<mgmt::Mgmt>,
    connmgr: connmgr::Connmgr,
    controllers: Mutex<controller::Controllers>,
    datapath: std::sync::OnceLock<Arc<datapath::Handle>>,
    /// The datapath meters every datapath thread charges and meter-mods configure.
    meters: Arc<fvs_datapath::meter::MeterTable>,
    /// The embedded database, once open (for its appctl commands).
    db: std::sync::OnceLock<Db>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Daemon {
    /// A daemon with no bridges; `exit` sends on `exit`.
    pub fn new(vlog: Vlog, exit: Sender<()>) -> Self {
        Self {
            switch: Mutex::new(Switch::new()),
            vlog: Mutex::new(vlog),
            started: Instant::now(),
            exit: Mutex::new(exit),
            exit_requested: AtomicBool::new(false),
            mgmt: Mutex::new(mgmt::Mgmt::default()),
            connmgr: connmgr::Connmgr::new(),
            controllers: Mutex::new(controller::Controllers::default()),
            datapath: std::sync::OnceLock::new(),
            meters: Arc::new(fvs_datapath::meter::MeterTable::new()),
            db: std::sync::OnceLock::new(),
        }
    }

    /// The datapath meters (`fvs_datapath::meter`): each datapath thread holds a view of
    /// them, the OpenFlow channels configure them and read their counters.
    pub fn meters(&self) -> &Arc<fvs_datapath::meter::MeterTable> {
        &self.meters
    }

    /// The embedded database, once [`Daemon::set_db`] has given it.
    pub fn db(&self) -> Option<&Db> {
        self.db.get()
    }

    /// Gives the daemon its database (once; later calls do nothing).
    pub fn set_db(&self, db: Db) {
        let _ = self.db.set(db);
    }

    /// The datapath, once started ([`datapath::Handle`]).
    pub fn datapath(&self) -> Option<&Arc<datapath::Handle>> {
        self.datapath.get()
    }

    /// Starts the datapath thread (once; later calls do nothing).
    pub fn start_datapath(self: &Arc<Self>, enable_dummy: bool) -> std::io::Result<()> {
        if self.datapath.get().is_none() {
            let h = datapath::Handle::start(self, enable_dummy)?;
            let _ = self.datapath.set(h);
        }
        Ok(())
    }

    /// The switch.
    pub fn switch(&self) -> MutexGuard<'_, Switch> {
        lock(&self.switch)
    }

    /// The bridges' management sockets.
    pub fn mgmt(&self) -> MutexGuard<'_, mgmt::Mgmt> {
        lock(&self.mgmt)
    }

    /// The bridges' OpenFlow connections and the delivery of asynchronous messages.
    pub fn connmgr(&self) -> &connmgr::Connmgr {
        &self.connmgr
    }

    /// Publishes the table changes recorded outside any connection (expiry and `learn` in the
    /// datapath, reconciliation's flushes) to every connection of their bridge, for flow
    /// monitors (`ofchannel::flow_monitor`). Takes the switch's lock: call it without.
    pub fn publish_table_changes(&self) {
        let changes: Vec<(String, Vec<fvs_pipeline::bridge::TableChange>)> = self
            .switch()
            .bridges
            .iter_mut()
            .filter(|b| b.journaling())
            .map(|b| (b.name.clone(), b.take_changes()))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        // One event per operation: Open vSwitch reports each flow-mod's changes (and each
        // expiry) in a message of its own.
        for (bridge, c) in changes {
            for op in ofchannel::flow_monitor::by_operation(c) {
                self.connmgr
                    .publish(&bridge, ofchannel::AsyncEvent::FlowChanges(op.into()), None);
            }
        }
    }

    /// The bridges' controllers (Controller rows).
    pub fn controllers(&self) -> MutexGuard<'_, controller::Controllers> {
        lock(&self.controllers)
    }

    /// The logging configuration.
    pub fn vlog(&self) -> MutexGuard<'_, Vlog> {
        lock(&self.vlog)
    }

    /// Logs a line.
    pub fn log(&self, module: &str, level: Level, message: &str) {
        self.vlog().log(module, level, message);
    }

    /// The pipeline's clock: time since start.
    pub fn now(&self) -> Millis {
        Millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Asks the main thread to clean up and exit.
    pub fn request_exit(&self) {
        let _ = lock(&self.exit).send(());
    }

    /// Asks for an exit once the current appctl reply is written (`exit`).
    pub fn request_exit_after_reply(&self) {
        self.exit_requested.store(true, Ordering::SeqCst);
    }
}

impl unixctl::Context for Daemon {
    /// An OpenFlow client that has just exited (`ovs-ofctl add-flow`, then at once
    /// `ofproto/trace`) may not have been noticed by its connection's thread yet; while it
    /// counts, table misses go to the controller. Open vSwitch, one loop, notices the
    /// hang-up before it answers the next command; so does ferrovs, here. Every bridge with
    /// connections is looked at: one whose thread has just unregistered it has not yet
    /// refreshed the bridge either.
    fn before_command(&self) {
        for bridge in self.connmgr.bridges() {
            self.refresh_table_misses(&bridge);
        }
    }

    fn replied(&self) {
        if self.exit_requested.load(Ordering::SeqCst) {
            self.request_exit();
        }
    }
}

/// Follows the database forever: every change (and the write-back's own reply) wakes one
/// reconciliation of the whole configuration.
pub fn reconcile_loop(db: &Db, daemon: &Arc<Daemon>) {
    let client = db.connect();
    let monitor = json!({
        "id": "fvs-vswitchd-monitor",
        "method": "monitor",
        "params": [DATABASE, null, db.config_monitor(
            DATABASE,
            // Managers for in-band control's rules (see `in_band`).
            &[
                "Open_vSwitch",
                "Bridge",
                "Port",
                "Interface",
                "Controller",
                "Manager",
            ],
        )],
    });
    if let Err(e) = client.send(monitor) {
        daemon.log(
            "reconcile",
            Level::Err,
            &format!("cannot monitor the database: {e}"),
        );
        return;
    }
    {
        let (db, daemon) = (db.clone(), daemon.clone());
        std::thread::spawn(move || controller::status_loop(&db, &daemon));
    }
    if let Some(dp) = daemon.datapath() {
        // Weak: the handler lives in the datapath, which the daemon owns.
        let weak = Arc::downgrade(daemon);
        dp.set_packet_in_handler(Box::new(move |p| {
            if let Some(d) = weak.upgrade() {
                d.packet_in(p);
            }
        }));
        let weak = Arc::downgrade(daemon);
        dp.set_removed_handler(Box::new(move |removed| {
            if let Some(d) = weak.upgrade() {
                d.rules_removed(&removed);
            }
        }));
    }
    let mut reconciler = Reconciler::new();
    reconciler.set_datapath(daemon.datapath().cloned());
    let mut txn = 0u64;
    loop {
        // A device that could not be opened (a port added before its veth or TAP exists) is
        // tried again every few seconds, as Open vSwitch does when devices appear.
        match client.recv_timeout(reconcile::DEVICE_RETRY) {
            Ok(msg) => {
                // The replies to our own write-backs change nothing to reconcile (their
                // columns are not monitored): only a notification, or the monitor's first
                // reply, calls for a pass. Take everything already queued at once.
                let mut wake = !is_write_back_reply(&msg);
                report_errors(daemon, &msg);
                while let Ok(more) = client.recv_timeout(std::time::Duration::ZERO) {
                    wake |= !is_write_back_reply(&more);
                    report_errors(daemon, &more);
                }
                if !wake {
                    continue;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if reconciler.wants_retry() => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        txn += 1;
        reconcile_once(db, daemon, &client, &mut reconciler, txn);
    }
}

/// One pass. The database lock is held only to read the configuration and, later, to
/// submit the write-back: applying the configuration waits for the datapath thread (ports
/// opened, megaflows revalidated after a fail-mode change), which may itself wait for the
/// switch, and every database client (`ovs-vsctl`, managers, probes) would stall for as long.
///
/// A client's transaction may land between the read and the write-back. That is safe: the
/// write-back holds only `update`s keyed by `_uuid` (a row deleted meanwhile matches none),
/// `cur_cfg` becomes the `next_cfg` this pass read and applied (never a newer one), and the
/// client's change wakes another pass through the monitor.
fn reconcile_once(db: &Db, daemon: &Arc<Daemon>, client: &Client, r: &mut Reconciler, txn: u64) {
    let cfg = {
        let state = db.lock();
        let Some(database) = state.database(DATABASE) else {
            return;
        };
        config::read(database)
    };
    let ports_before = connmgr::port_snapshot(daemon);
    let ops = {
        let mut switch = daemon.switch();
        let ops = r.apply(&cfg, &mut switch, daemon.now());
        // The datapath meters of bridges that are gone are freed. Meter-mods change the
        // meters under the switch's lock, which this holds, so none is half-made.
        let live: std::collections::BTreeSet<_> = switch
            .bridges
            .iter()
            .flat_map(|b| b.meters().iter().map(|m| m.dp))
            .collect();
        daemon.meters().retain(|id| live.contains(&id));
        ops
    };
    // Datapath threads and limits apply with this pass, before `cur_cfg` says so; outside
    // the switch's lock, because the threads are waited for.
    if let Some(dp) = daemon.datapath() {
        datapath::stats::push_settings(db, dp);
    }
    for w in r.take_warnings() {
        daemon.log("netdev_vport", Level::Warn, &w);
    }
    let infos = cfg
        .bridges
        .iter()
        .map(|b| (b.name.clone(), bridge_info(r, b)))
        .collect();
    daemon.mgmt().sync(daemon, infos);
    daemon.controllers().sync(daemon, &cfg.bridges);
    daemon.port_changes(&ports_before, &connmgr::port_snapshot(daemon));
    if ops.is_empty() {
        return;
    }
    daemon.log(
        "reconcile",
        Level::Dbg,
        &format!(
            "writing back {} updates (next_cfg {})",
            ops.len(),
            cfg.next_cfg
        ),
    );
    let mut params = vec![json!(DATABASE)];
    params.extend(ops);
    let request =
        json!({"id": format!("fvs-vswitchd-{txn}"), "method": "transact", "params": params});
    if let Err(e) = db.lock().handle(client.conn(), request) {
        daemon.log("reconcile", Level::Err, &format!("write-back refused: {e}"));
    }
}

/// What a bridge's OpenFlow connections need from its configuration.
fn bridge_info(r: &Reconciler, b: &config::BridgeCfg) -> mgmt::BridgeInfo {
    mgmt::BridgeInfo {
        allowed: ofchannel::allowed_versions(&b.protocols),
        datapath_id: r
            .datapath_id(b)
            .and_then(|d| u64::from_str_radix(&d, 16).ok())
            .unwrap_or(0),
        macs: b
            .ports
            .iter()
            .flat_map(|p| &p.ifaces)
            .filter_map(|i| Some((i.name.clone(), r.mac(&i.name)?)))
            .collect(),
    }
}

/// Whether `msg` is the reply to one of the reconciler's write-back transactions.
fn is_write_back_reply(msg: &Value) -> bool {
    msg.get("method").is_none()
        && msg
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| id != "fvs-vswitchd-monitor")
}

/// Logs the errors a write-back transaction's reply carries.
fn report_errors(daemon: &Daemon, msg: &Value) {
    let errors: Vec<&Value> = match msg.get("result") {
        Some(Value::Array(results)) => results.iter().filter_map(|r| r.get("error")).collect(),
        _ => msg
            .get("error")
            .filter(|e| !e.is_null())
            .into_iter()
            .collect(),
    };
    for e in errors {
        daemon.log("reconcile", Level::Warn, &format!("write-back failed: {e}"));
    }
}
