//! `fvs-ovsdb-server` is the OVSDB server around [`fvs_ovsdb`]: RFC 7047 JSON-RPC over Unix
//! and TCP sockets, with the database durable in Open vSwitch's standalone file format, so
//! that `ovsdb-client`, `ovs-vsctl` and the Python IDL work against it and `ovsdb-tool` can
//! read its file.
//!
//! # Design: threads around one lock, and group commit
//!
//! Each connection has a reader thread (bytes → [`framing::Framer`] → messages) and a writer
//! thread (a channel of outgoing messages → the socket); all of them share one
//! [`state::State`] behind a mutex, a syncer thread makes the log durable, and a ticker
//! thread times out blocked `wait`s. We chose this over an event loop (or tokio) because it
//! is the simplest design that stays correct:
//!
//! - Requests are handled one at a time under the lock, so the order of commits, of log
//!   records and of notifications is one order, with no further synchronisation.
//! - Acknowledged means durable, but one sync serves many commits. Under the lock a commit
//!   is written to the file (not synced), applied, and its notifications and reply are
//!   queued in the state's outbox, stamped with the file offset written so far. The syncer
//!   takes that offset under the lock, syncs *outside* it, then (under the lock again)
//!   releases every queued message stamped at or below it. While one sync runs, the other
//!   clients' commits are written behind it; the next sync covers all of them. With one
//!   client this costs what a sync per commit cost; with N clients the sync rate no longer
//!   bounds the commit rate.
//! - Nothing leaves before the commits it may reflect are durable: *every* message (a reply,
//!   another client's notification, a read's result, `locked`) waits for the offset written
//!   when it was queued, and the outbox is one queue in queue order. So no client can see a
//!   change a crash would then undo, and each client gets its messages in the order they were
//!   produced. A read-only request arriving while a sync runs waits for that sync; that is
//!   the price of never showing undurable data, and is at most one sync.
//! - The order of log records is the order of commits (both happen under the lock), so a
//!   crash loses a suffix of commits, none of them acknowledged; opening cuts a torn tail.
//! - A failed sync ends the process ([`state::sync_failed`]): after one, the kernel may have
//!   dropped the unwritten pages, so retrying proves nothing; clients see what a crash does.
//! - A slow or stuck client only ever blocks its own writer thread: everything else queues
//!   for it in memory. A client that sends garbage loses only its own connection.
//! - OVSDB servers have tens of clients, not tens of thousands; two threads per client cost
//!   nothing that matters here.
//!
//! A message is handled only once it has arrived completely, so a client that disconnects in
//! the middle of sending a transaction changes nothing.
//!
//! # Compaction, probes, active remotes
//!
//! - The database file is compacted ([`storage`] has the how) by a compactor thread when the
//!   [`storage::CompactionPolicy`] says so, and on demand by [`embedded::Handle::compact`]
//!   (what `ovs-appctl ovsdb-server/compact` asks of Open vSwitch's server). The snapshot is
//!   built under the lock but written and synced outside it; only the final rename (with the
//!   few records committed meanwhile) holds the lock again.
//! - Each connection has an inactivity probe ([`remote::RemoteConfig`]): after an interval
//!   without a byte from the client the server sends an `echo` request, and after another
//!   it drops the connection ([`connection`]).
//! - Remotes can be changed while serving ([`embedded::Handle::set_remotes`]); active remotes
//!   (`tcp:`, `unix:`, `ssl:`) connect out and reconnect with backoff ([`service`]).
//! - `ssl:`/`pssl:` remotes speak TLS ([`fvs_tls`]: mutual authentication against the CA
//!   certificate) with the files set through [`embedded::Handle::tls`]; each connection runs
//!   its handshake on its own thread, with the files as they are at that moment.
//!
//! # Modules
//!
//! - [`embedded`]: serving in the background inside another program, with in-process
//!   clients (how `fvs-vswitchd` embeds the server).
//! - [`remote`]: `punix:`/`ptcp:`/`pssl:`/`unix:`/`tcp:`/`ssl:` remotes, their options and
//!   streams.
//! - [`service`]: running the remotes: accept loops, outgoing connections with backoff.
//! - [`connection`]: serving one connection, with its inactivity probe.
//! - [`framing`]: splitting a byte stream into JSON values.
//! - [`storage`]: the database file: create, replay (cutting a torn tail), append and sync.
//! - [`server_db`]: the `_Server` database the OVS IDL consults.
//! - [`history`]: recent commits by transaction id, for `monitor_cond_since`.
//! - [`state`]: the databases, clients, monitors, locks, and every JSON-RPC method.

pub mod connection;
pub mod embedded;
pub mod framing;
pub mod history;
pub mod remote;
pub mod server_db;
pub mod service;
pub mod state;
pub mod storage;

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

pub use embedded::{Handle, Local};
pub use remote::{Remote, RemoteConfig};
use state::ServedDb;
pub use state::State;
pub use storage::CompactionPolicy;
use storage::{Storage, StorageError, SyncHandle};

/// How often blocked `wait`s are checked for their timeout, and whether compaction is due.
const TICK: Duration = Duration::from_millis(50);

/// What the server serves and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database file.
    pub db: PathBuf,
    /// A schema file to create the database from when the file does not exist.
    pub schema: Option<PathBuf>,
    /// Where to listen (or connect), each with default options; see
    /// [`Handle::set_remotes`] for options and for changing them while serving.
    pub remotes: Vec<Remote>,
}

/// Why the server could not start, or a remote could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database file.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A remote could not be bound.
    #[error("{remote}: {source}")]
    Bind {
        /// The remote.
        remote: Remote,
        /// The cause.
        source: std::io::Error,
    },
}

/// What every thread of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the syncer; waits on `state`.
    wake: Arc<Condvar>,
    /// Held for the whole of a compaction, so that two never overlap.
    compacting: Mutex<()>,
    /// The remotes being served.
    services: Mutex<service::Services>,
    /// The TLS files of `ssl:`/`pssl:` remotes, read by each new connection.
    tls: Arc<fvs_tls::TlsSource>,
}

impl Shared {
    /// The state, even if a thread panicked while holding it: every handler leaves the
    /// state consistent between statements that matter (a commit is applied whole or not at
    /// all).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compacts the database file in the three steps of [`storage`], holding the lock only
    /// for the first and the last. With `only_if_due`, does nothing unless the policy says
    /// it is time (checked once no other compaction runs).
    pub(crate) fn compact(&self, only_if_due: bool) -> Result<(), StorageError> {
        let _one = self
            .compacting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = {
            let mut state = self.lock();
            if only_if_due && !state.compaction_due() {
                return Ok(());
            }
            state.begin_compaction()
        };
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let written = snapshot.write();
        self.lock().finish_compaction(written)
    }
}

/// A server with its database open and its remotes bound, not yet serving.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    /// The syncer's handle on the database file.
    sync: Option<SyncHandle>,
    /// The damaged tail cut from the file on opening, if any (for the log).
    pub truncated: Option<fvs_ovsdb::log::LogError>,
}

impl Server {
    /// Opens (or creates) the database and binds every remote (active ones start trying
    /// to connect).
    pub fn open(config: &Config) -> Result<Self, ServeError> {
        let mut uuids = state::UuidGen::new();
        let opened = Storage::open(&config.db, config.schema.as_deref(), &mut || {
            uuids.next_uuid()
        })?;
        let mut state = State::new(ServedDb {
            db: opened.db,
            storage: Some(opened.storage),
        });
        let wake = Arc::new(Condvar::new());
        let sync = state.group_commit(wake.clone())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake,
            compacting: Mutex::new(()),
            services: Mutex::new(service::Services::default()),
            tls: Arc::new(fvs_tls::TlsSource::new()),
        });
        let remotes: Vec<RemoteConfig> = config.remotes.iter().cloned().map(Into::into).collect();
        if let Some(e) = service::set_remotes(&shared, &remotes).into_iter().next() {
            service::set_remotes(&shared, &[]);
            return Err(e);
        }
        Ok(Self {
            shared,
            sync,
            truncated: opened.truncated,
        })
    }

    /// The TLS files `ssl:`/`pssl:` remotes use (ovsdb-server's `--private-key`,
    /// `--certificate`, `--ca-cert`); they may be set or changed at any time.
    pub fn tls(&self) -> &fvs_tls::TlsSource {
        &self.shared.tls
    }

    /// Replaces the rule by which the database file is compacted on its own (Open vSwitch's
    /// by default; see [`CompactionPolicy`]).
    pub fn set_compaction_policy(&self, policy: CompactionPolicy) {
        self.shared.lock().set_compaction_policy(policy);
    }

    /// Serves until the process ends.
    pub fn run(self) {
        let _handle = self.start();
        loop {
            thread::park();
        }
    }
}

/// The syncer: whenever the log is written further than it is durable, syncs it (without
/// the lock, so commits go on being written meanwhile) and releases what that covers.
fn sync_loop(shared: &Shared, file: &SyncHandle) {
    loop {
        let target = {
            let mut state = shared.lock();
            loop {
                // Checked under the lock that every writer notifies under: no lost wake-up.
                if let Some(target) = state.unsynced() {
                    break target;
                }
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Err(e) = file.sync() {
            state::sync_failed(&e);
        }
        shared.lock().synced_to(target);
    }
}

/// The ticker: times out blocked `wait`s.
fn tick_loop(shared: &Shared) {
    loop {
        thread::sleep(TICK);
        shared.lock().retry_pending();
    }
}

/// The compactor: compacts when the policy says so. A failure leaves the old file serving;
/// it is reported and tried again at the next opportunity.
fn compact_loop(shared: &Shared) {
    loop {
        thread::sleep(TICK);
        if let Err(e) = shared.compact(true) {
            eprintln!("fvs-ovsdb-server: compaction failed: {e}");
            // Do not retry in a tight loop (a full disk stays full for a while).
            thread::sleep(Duration::from_secs(10));
        }
    }
}
