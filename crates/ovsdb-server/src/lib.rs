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
//! # Modules
//!
//! - [`embedded`]: serving in the background inside another program, with in-process
//!   clients (how `fvs-vswitchd` embeds the server).
//! - [`remote`]: `punix:`/`ptcp:` remotes and their streams.
//! - [`framing`]: splitting a byte stream into JSON values.
//! - [`storage`]: the database file: create, replay (cutting a torn tail), append and sync.
//! - [`server_db`]: the `_Server` database the OVS IDL consults.
//! - [`state`]: the databases, clients, monitors, locks, and every JSON-RPC method.

pub mod embedded;
pub mod framing;
pub mod remote;
pub mod server_db;
pub mod state;
pub mod storage;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

pub use remote::Remote;
pub use state::State;
use state::{ConnId, ServedDb};
use storage::{Storage, StorageError, SyncHandle};

/// How often blocked `wait`s are checked for their timeout.
const TICK: Duration = Duration::from_millis(50);

/// What the server serves and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database file.
    pub db: PathBuf,
    /// A schema file to create the database from when the file does not exist.
    pub schema: Option<PathBuf>,
    /// Where to listen.
    pub remotes: Vec<Remote>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database file.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A remote could not be bound.
    #[error("{remote:?}: {source}")]
    Bind {
        /// The remote.
        remote: Remote,
        /// The cause.
        source: std::io::Error,
    },
}

/// A server with its database open and its remotes bound, not yet serving.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Mutex<State>>,
    /// Wakes the syncer; waits on `shared`.
    wake: Arc<Condvar>,
    /// The syncer's handle on the database file.
    sync: Option<SyncHandle>,
    listeners: Vec<remote::Listener>,
    /// The damaged tail cut from the file on opening, if any (for the log).
    pub truncated: Option<fvs_ovsdb::log::LogError>,
}

impl Server {
    /// Opens (or creates) the database and binds every remote.
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
        let listeners = config
            .remotes
            .iter()
            .map(|r| {
                r.bind().map_err(|source| ServeError::Bind {
                    remote: r.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            shared: Arc::new(Mutex::new(state)),
            wake,
            sync,
            listeners,
            truncated: opened.truncated,
        })
    }

    /// Serves until the process ends.
    pub fn run(self) {
        let shared = self.shared;
        if let Some(file) = self.sync {
            let shared = shared.clone();
            let wake = self.wake;
            thread::spawn(move || sync_loop(&shared, &wake, &file));
        }
        for listener in self.listeners {
            let shared = shared.clone();
            thread::spawn(move || accept_loop(&shared, &listener));
        }
        loop {
            thread::sleep(TICK);
            lock(&shared).retry_pending();
        }
    }
}

/// The state, even if a thread panicked while holding it: every handler leaves the state
/// consistent between statements that matter (a commit is applied whole or not at all).
fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The syncer: whenever the log is written further than it is durable, syncs it (without
/// the lock, so commits go on being written meanwhile) and releases what that covers.
fn sync_loop(shared: &Mutex<State>, wake: &Condvar, file: &SyncHandle) {
    loop {
        let target = {
            let mut state = lock(shared);
            loop {
                // Checked under the lock that every writer notifies under: no lost wake-up.
                if let Some(target) = state.unsynced() {
                    break target;
                }
                state = wake
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        if let Err(e) = file.sync() {
            state::sync_failed(&e);
        }
        lock(shared).synced_to(target);
    }
}

fn accept_loop(shared: &Arc<Mutex<State>>, listener: &remote::Listener) {
    loop {
        match listener.accept() {
            Ok(stream) => {
                let shared = shared.clone();
                thread::spawn(move || serve_connection(&shared, stream));
            }
            // Out of descriptors and the like: wait and try again rather than stop serving.
            Err(_) => thread::sleep(TICK),
        }
    }
}

fn serve_connection(shared: &Mutex<State>, mut stream: remote::Stream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let conn: ConnId = lock(shared).connect(tx);
    let writer_thread = thread::spawn(move || {
        for bytes in rx {
            if writer.write_all(&bytes).is_err() {
                break;
            }
        }
        writer.shutdown();
    });
    let mut framer = framing::Framer::new();
    let mut buf = vec![0u8; 64 * 1024];
    'read: loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let messages = match framer.push(&buf[..n]) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("fvs-ovsdb-server: closing connection: {e}");
                break;
            }
        };
        for msg in messages {
            if let Err(e) = lock(shared).handle(conn, msg) {
                eprintln!("fvs-ovsdb-server: closing connection: {e}");
                break 'read;
            }
        }
    }
    // Dropping the client's queue ends the writer once it has sent what was queued.
    lock(shared).disconnect(conn);
    let _ = writer_thread.join();
    stream.shutdown();
}
