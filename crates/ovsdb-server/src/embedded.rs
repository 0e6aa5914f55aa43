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
//! - serves connections it accepted itself ([`Handle::serve_stream`]), for remotes it manages
//!   (the `Manager` table's passive targets).
//!
//! Nothing here changes what acknowledged means: every message still leaves through the
//! state's outbox, after the sync that covers it.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::remote::Stream;
use crate::state::{BadMessage, ConnId, State};
use crate::{Server, TICK, accept_loop, lock, serve_connection, sync_loop};

/// A server serving in the background; cloning it shares the same server.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Mutex<State>>,
}

impl Server {
    /// Serves in the background (the syncer, every bound remote, the ticker) and returns a
    /// handle on the running server. The threads live as long as the process.
    pub fn start(self) -> Handle {
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
        {
            let shared = shared.clone();
            thread::spawn(move || {
                loop {
                    thread::sleep(TICK);
                    lock(&shared).retry_pending();
                }
            });
        }
        Handle { shared }
    }
}

impl Handle {
    /// The server's state, locked: no request is handled while the guard lives.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
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
    /// either side closes it.
    pub fn serve_stream(&self, stream: Stream) {
        let shared = self.shared.clone();
        thread::spawn(move || serve_connection(&shared, stream));
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
    shared: Arc<Mutex<State>>,
}

impl Local {
    /// The connection's id, for [`State::handle`].
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Handles one request (or notification) from this client.
    pub fn send(&self, msg: Value) -> Result<(), BadMessage> {
        lock(&self.shared).handle(self.conn, msg)
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
        lock(&self.shared).disconnect(self.conn);
    }
}
