//! Serving from inside another program: `fvs-vswitchd` embeds the server and is also one of
//! its clients.
//!
//! [`Server::start`] runs what [`Server::run`] runs (the syncer, an accept loop per remote,
//! the ticker for blocked `wait`s) on background threads and returns a [`Handle`] on the
//! shared state. Through it the embedding program
//!
//! - reads the database under the same lock every request is handled under
//!   ([`Handle::lock`], then [`State::database`]), so what it reads is one consistent state;
//! - talks to the database as a client over an in-process connection ([`Handle::connect`]):
//!   its monitors and transactions go through [`State::handle`] like any socket client's, so
//!   its writes are ordinary transactions, group-committed with everyone else's, and its
//!   replies and notifications wait for durability like everyone else's;
//! - serves connections it accepted itself ([`Handle::serve_stream`]), or has the server
//!   serve remotes for it, passive and active, changed at run time ([`Handle::set_remotes`],
//!   for the `Manager` table's targets with their `inactivity_probe` and `max_backoff`);
//! - compacts the database file on demand ([`Handle::compact`], what `ovs-appctl
//!   ovsdb-server/compact` asks of Open vSwitch's server) or changes when it is compacted on
//!   its own ([`Handle::set_compaction_policy`]).
//!
//! Nothing here changes what acknowledged means: every message still leaves through the
//! state's outbox, after the sync that covers it.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::remote::{Remote, RemoteConfig, Stream};
use crate::state::{BadMessage, ConnId, State};
use crate::storage::{CompactionPolicy, StorageError};
use crate::{ServeError, Server, Shared, compact_loop, connection, service, sync_loop, tick_loop};

/// A server serving in the background; cloning it shares the same server.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Server {
    /// Serves in the background (the syncer, the ticker, the compactor; the remotes are
    /// served since [`Server::open`]) and returns a handle on the running server. The
    /// threads live as long as the process.
    pub fn start(self) -> Handle {
        let shared = self.shared;
        if let Some(file) = self.sync {
            let shared = shared.clone();
            thread::spawn(move || sync_loop(&shared, &file));
        }
        {
            let shared = shared.clone();
            thread::spawn(move || tick_loop(&shared));
        }
        {
            let shared = shared.clone();
            thread::spawn(move || compact_loop(&shared));
        }
        Handle { shared }
    }

    /// A handle on this server before it starts (to set remotes or read the state).
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }
}

impl Handle {
    /// The server's state, locked: no request is handled while the guard lives.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Compacts the database file now (see [`crate::storage`]): the file becomes the schema
    /// and one snapshot record, atomically; commits go on while the snapshot is written.
    /// Returns once the new file is in place (or the old one kept, with the error).
    pub fn compact(&self) -> Result<(), StorageError> {
        self.shared.compact(false)
    }

    /// Replaces the rule by which the database file is compacted on its own.
    pub fn set_compaction_policy(&self, policy: CompactionPolicy) {
        self.lock().set_compaction_policy(policy);
    }

    /// Serves exactly `remotes` from now on (passive ones listen, active ones connect out
    /// and reconnect with backoff). A remote already served keeps running and its new
    /// options apply to its next connections; a remote no longer listed is stopped and its
    /// connections closed. Returns the remotes that could not be set up (the others run).
    pub fn set_remotes(&self, remotes: &[RemoteConfig]) -> Vec<ServeError> {
        service::set_remotes(&self.shared, remotes)
    }

    /// The TLS files of `ssl:`/`pssl:` remotes (shared: what is set here applies to the
    /// next connection of every such remote).
    pub fn tls(&self) -> Arc<fvs_tls::TlsSource> {
        self.shared.tls.clone()
    }

    /// The remotes being served, with their options.
    pub fn remotes(&self) -> Vec<RemoteConfig> {
        service::remotes(&self.shared)
    }

    /// What a served remote's connections are doing, for a `Manager` row's `is_connected`
    /// and `status`; `None` if the remote is not served.
    pub fn remote_status(&self, remote: &Remote) -> Option<service::RemoteStatus> {
        service::status(&self.shared, remote)
    }

    /// Where a served `ptcp:` remote listens (with the port the system chose for port 0).
    pub fn local_addr(&self, remote: &Remote) -> Option<SocketAddr> {
        service::local_addr(&self.shared, remote)
    }

    /// A new in-process client connection.
    pub fn connect(&self) -> Local {
        let (tx, rx) = mpsc::channel();
        let conn = self.lock().connect(tx);
        Local {
            conn,
            rx,
            shared: self.shared.clone(),
        }
    }

    /// Serves `stream` on a thread of its own, as if a bound remote had accepted it, until
    /// either side closes it. No inactivity probe: see [`Handle::serve_stream_probed`].
    pub fn serve_stream(&self, stream: Stream) {
        self.serve_stream_probed(stream, None);
    }

    /// [`Handle::serve_stream`] with an inactivity probe every `probe` (see
    /// [`crate::connection`]).
    pub fn serve_stream_probed(&self, stream: Stream, probe: Option<Duration>) {
        let shared = self.shared.clone();
        thread::spawn(move || connection::serve(&shared, stream, probe));
    }
}

/// An in-process client connection. Its requests are handled by [`Local::send`] (or by
/// [`State::handle`] with [`Local::conn`] while the caller holds the lock); what the server
/// sends it (replies, notifications) arrives as JSON through [`Local::recv`]. Dropping it
/// disconnects it (its monitors end, its locks pass on).
#[derive(Debug)]
pub struct Local {
    conn: ConnId,
    rx: Receiver<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Local {
    /// The connection's id, for [`State::handle`].
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Handles one request (or notification) from this client.
    pub fn send(&self, msg: Value) -> Result<(), BadMessage> {
        self.shared.lock().handle(self.conn, msg)
    }

    /// Waits for the next message from the server; `None` once the server has dropped the
    /// connection.
    pub fn recv(&self) -> Option<Value> {
        loop {
            let bytes = self.rx.recv().ok()?;
            // The server only ever sends what it serialised itself.
            if let Ok(v) = serde_json::from_slice(&bytes) {
                return Some(v);
            }
        }
    }

    /// Like [`Local::recv`], giving up after `timeout`
    /// ([`RecvTimeoutError::Timeout`]) or once the server has dropped the connection
    /// ([`RecvTimeoutError::Disconnected`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Value, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let bytes = self.rx.recv_timeout(left)?;
            if let Ok(v) = serde_json::from_slice(&bytes) {
                return Ok(v);
            }
        }
    }

    /// Discards every message already received; returns how many there were.
    pub fn drain(&self) -> usize {
        self.rx.try_iter().count()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.shared.lock().disconnect(self.conn);
    }
}
