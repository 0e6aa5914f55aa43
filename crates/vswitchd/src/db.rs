//! The embedded configuration database: `fvs_ovsdb_server`'s [`State`] served on
//! `punix:$FVS_RUNDIR/db.sock`, plus in-process clients for the daemon itself.
//!
//! `fvs_ovsdb_server::Server` keeps its shared state private and serves forever, so the
//! daemon runs the same design here around a state it can reach: one reader and one writer
//! thread per connection, every message handled under one lock, a ticker retrying blocked
//! `wait`s. (TODO: once the server crate exposes its shared state, use `Server` directly.)
//!
//! The daemon's own use of the database goes through the same JSON-RPC methods as any
//! client's, by [`State::handle`] on an in-process connection: it sees exactly what clients
//! see, and its writes are ordinary, durable transactions.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use fvs_ovsdb_server::framing::Framer;
use fvs_ovsdb_server::remote::{Listener, Stream};
use fvs_ovsdb_server::state::{ConnId, ServedDb, UuidGen};
use fvs_ovsdb_server::storage::{Storage, StorageError};
use fvs_ovsdb_server::{Remote, State};
use serde_json::Value;

/// How often blocked `wait`s are checked for their timeout.
const TICK: Duration = Duration::from_millis(50);

/// Why the database could not be opened or served.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database file.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing the schema beside a new database.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The socket could not be bound.
    #[error("{path}: cannot listen: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The database, shared by the socket threads and the daemon.
#[derive(Debug, Clone)]
pub struct Db {
    shared: Arc<Mutex<State>>,
}

impl Db {
    /// Opens `path`, creating it from `schema` (schema JSON text) when it does not exist.
    /// Returns the database and, if the file had a torn tail, a note of what was cut.
    pub fn open(path: &Path, schema: &str) -> Result<(Self, Option<String>), DbError> {
        // The storage layer creates a database from a schema *file*: write ours beside the
        // database for the moment it takes.
        let schema_file = path.with_extension("schema.tmp");
        let created = !path.exists();
        if created {
            std::fs::write(&schema_file, schema).map_err(|source| DbError::Io {
                path: schema_file.clone(),
                source,
            })?;
        }
        let mut uuids = UuidGen::new();
        let opened = Storage::open(path, Some(&schema_file), &mut || uuids.next_uuid());
        if created {
            let _ = std::fs::remove_file(&schema_file);
        }
        let opened = opened?;
        let state = State::new(ServedDb {
            db: opened.db,
            storage: Some(opened.storage),
        });
        let db = Self {
            shared: Arc::new(Mutex::new(state)),
        };
        Ok((db, opened.truncated.map(|e| e.to_string())))
    }

    /// The state, even if a thread panicked holding it (every handler leaves it consistent
    /// between statements that matter).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Binds `punix:path`.
    pub fn bind(path: &Path) -> Result<Listener, DbError> {
        Remote::Unix(path.to_owned())
            .bind()
            .map_err(|source| DbError::Bind {
                path: path.to_owned(),
                source,
            })
    }

    /// Serves `listener` and ticks blocked waits, on background threads.
    pub fn serve(&self, listener: Listener) {
        let me = self.clone();
        thread::spawn(move || {
            loop {
                match listener.accept() {
                    Ok(stream) => {
                        let me = me.clone();
                        thread::spawn(move || me.serve_connection(stream));
                    }
                    // Out of descriptors and the like: wait and try again.
                    Err(_) => thread::sleep(TICK),
                }
            }
        });
        let me = self.clone();
        thread::spawn(move || {
            loop {
                thread::sleep(TICK);
                me.lock().retry_pending();
            }
        });
    }

    fn serve_connection(&self, mut stream: Stream) {
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let conn = self.lock().connect(tx);
        let writer_thread = thread::spawn(move || {
            for bytes in rx {
                if writer.write_all(&bytes).is_err() {
                    break;
                }
            }
            writer.shutdown();
        });
        let mut framer = Framer::new();
        let mut buf = vec![0u8; 64 * 1024];
        'read: loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Ok(messages) = framer.push(&buf[..n]) else {
                break;
            };
            for msg in messages {
                if self.lock().handle(conn, msg).is_err() {
                    break 'read;
                }
            }
        }
        self.lock().disconnect(conn);
        let _ = writer_thread.join();
        stream.shutdown();
    }

    /// An in-process client: its connection and the messages the server sends it (replies
    /// and notifications, as JSON).
    pub fn connect(&self) -> Client {
        let (tx, rx) = mpsc::channel();
        let conn = self.lock().connect(tx);
        Client { conn, rx }
    }
}

/// The daemon's own connection to its database.
#[derive(Debug)]
pub struct Client {
    /// The connection id to pass to [`State::handle`].
    pub conn: ConnId,
    rx: Receiver<Vec<u8>>,
}

impl Client {
    /// Waits for the next message from the server; `None` once the server has dropped the
    /// connection.
    pub fn recv(&self) -> Option<Value> {
        let bytes = self.rx.recv().ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Discards every message already queued; returns how many there were.
    pub fn drain(&self) -> usize {
        self.rx.try_iter().count()
    }
}
