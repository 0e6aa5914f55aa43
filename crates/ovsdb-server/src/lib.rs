//! `fvs-ovsdb-server` is the OVSDB server around [`fvs_ovsdb`]: RFC 7047 JSON-RPC over Unix
//! and TCP sockets, with the database durable in Open vSwitch's standalone file format, so
//! that `ovsdb-client`, `ovs-vsctl` and the Python IDL work against it and `ovsdb-tool` can
//! read its file.
//!
//! # Design: threads around one lock
//!
//! Each connection has a reader thread (bytes → [`framing::Framer`] → messages) and a writer
//! thread (a channel of outgoing messages → the socket); all of them share one
//! [`state::State`] behind a mutex, and a ticker thread times out blocked `wait`s. We chose
//! this over an event loop (or tokio) because it is the simplest design that stays correct:
//!
//! - Requests are handled one at a time under the lock, so the order of commits, of log
//!   records and of notifications is one order, with no further synchronisation.
//! - A commit is synced to disk while the lock is held. This serialises commits, as
//!   `ovsdb-server` does, and is what makes "acknowledged ⇒ durable" hold trivially.
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
//! - [`remote`]: `punix:`/`ptcp:` remotes and their streams.
//! - [`framing`]: splitting a byte stream into JSON values.
//! - [`storage`]: the database file: create, replay (cutting a torn tail), append and sync.
//! - [`server_db`]: the `_Server` database the OVS IDL consults.
//! - [`state`]: the databases, clients, monitors, locks, and every JSON-RPC method.

pub mod framing;
pub mod remote;
pub mod server_db;
pub mod state;
pub mod storage;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

pub use remote::Remote;
pub use state::State;
use state::{ConnId, ServedDb};
use storage::{Storage, StorageError};

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
        let state = State::new(ServedDb {
            db: opened.db,
            storage: Some(opened.storage),
        });
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
            listeners,
            truncated: opened.truncated,
        })
    }

    /// Serves until the process ends.
    pub fn run(self) {
        let shared = self.shared;
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
