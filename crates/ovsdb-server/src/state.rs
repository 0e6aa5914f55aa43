//! The server's state and the JSON-RPC methods, independent of how bytes travel.
//!
//! [`State`] holds the databases, the connected clients (each as a queue of outgoing
//! messages), their monitors, the locks and the `wait`s still blocked. Every incoming message
//! is handled under one lock on the whole state: requests are handled one at a time, in
//! arrival order, which is what makes a commit's order, its log record and its notifications
//! agree. A committed transaction is written (not yet synced), then applied, then its
//! monitors' notifications are queued, and only then its reply, so a client sees the change
//! before the acknowledgement (as with `ovsdb-server`).
//!
//! Every outgoing message goes through one queue, the outbox, stamped with how far the log
//! had been written when it was queued; it leaves for its client only once the log is durable
//! up to that offset. So nothing that reflects a commit (its reply, another client's
//! notification, a later read) is seen before the commit is on disk, and messages leave in
//! the order they were queued. Who syncs depends on the mode: [`State::new`] syncs at the end
//! of each call that wrote (one sync per commit, for embedders that call [`State::handle`]
//! and expect the reply queued when it returns); after [`State::group_commit`], a separate
//! syncer does it outside the lock, with [`State::unsynced`] and [`State::synced_to`].
//!
//! Every commit also gets a transaction id, carried by `update3` notifications and kept,
//! with the commit's changes, in a bounded [`History`] so that `monitor_cond_since` can send
//! a returning client only what it missed. Compacting the file goes through here too
//! ([`State::begin_compaction`], [`State::finish_compaction`]): a finished compaction leaves
//! everything written durable, so it releases the outbox like a sync.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fvs_ovsdb::monitor::{Dialect, Monitor, notification_params};
use fvs_ovsdb::{ChangeSet, Context, Database, Error, ErrorKind, Outcome, transact};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::history::History;
use crate::server_db;
use crate::storage::{
    CompactionPolicy, LogOffset, Snapshot, Storage, StorageError, SyncHandle, WrittenSnapshot,
};

/// Identifies one client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// The message was not JSON-RPC: the connection must be closed.
#[derive(Debug, thiserror::Error)]
#[error("bad JSON-RPC message: {0}")]
pub struct BadMessage(pub String);

/// Fresh random UUIDs. Row UUIDs only need to be unique and unpredictable enough not to
/// collide across restarts; SipHash under the standard library's randomly keyed
/// [`RandomState`], over a counter, gives that without a dependency on an entropy crate.
#[derive(Debug)]
pub struct UuidGen {
    keys: RandomState,
    counter: u64,
}

impl UuidGen {
    /// A generator keyed afresh.
    pub fn new() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    /// The next UUID (version 4).
    pub fn next_uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        for (half, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = self.keys.build_hasher();
            h.write_u64(self.counter);
            h.write_usize(half);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        self.counter = self.counter.wrapping_add(1);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

impl Default for UuidGen {
    fn default() -> Self {
        Self::new()
    }
}

/// A served database and, unless it lives only in memory (`_Server`), its file.
#[derive(Debug)]
pub struct ServedDb {
    /// The data.
    pub db: Database,
    /// Where commits go before they are acknowledged.
    pub storage: Option<Storage>,
}

#[derive(Debug)]
struct MonitorEntry {
    db: String,
    id: Value,
    monitor: Monitor,
}

#[derive(Debug)]
struct Client {
    out: Sender<Vec<u8>>,
    /// By the monitor id's JSON text.
    monitors: BTreeMap<String, MonitorEntry>,
}

/// A transaction whose `wait` is not satisfied yet.
#[derive(Debug)]
struct Pending {
    conn: ConnId,
    id: Value,
    params: Value,
    received_ms: u64,
}

/// A message waiting in the outbox for the log to be durable up to `upto`.
#[derive(Debug)]
struct Held {
    upto: LogOffset,
    /// The client's queue, kept even if the client disconnects meanwhile: its writer still
    /// sends what was queued before the disconnection.
    out: Sender<Vec<u8>>,
    bytes: Vec<u8>,
}

/// Who makes written records durable.
#[derive(Debug)]
enum Syncing {
    /// The state itself, at the end of each call that wrote.
    Inline,
    /// A syncer thread, woken through this condition variable (which waits on the lock the
    /// state lives under).
    Grouped(Arc<Condvar>),
}

/// Everything the server knows.
#[derive(Debug)]
pub struct State {
    /// How far the log is written. Only one served database has a file, so one offset.
    written: LogOffset,
    /// How far the log is known durable; `synced <= written`.
    synced: LogOffset,
    /// Messages not sent yet, in the order they were queued; their `upto`s never decrease,
    /// so the releasable ones are always a prefix. Interior mutability because messages are
    /// queued from code that is iterating over the clients.
    outbox: RefCell<VecDeque<Held>>,
    syncing: Syncing,
    dbs: BTreeMap<String, ServedDb>,
    clients: BTreeMap<ConnId, Client>,
    /// Per lock, the clients that want it; the first holds it.
    locks: BTreeMap<String, VecDeque<ConnId>>,
    pending: Vec<Pending>,
    /// Per database with a file, the recent commits `monitor_cond_since` can resume from.
    history: BTreeMap<String, History>,
    /// Per database with a history, its [`Database::n_atoms`], kept up to date by commits.
    atoms: BTreeMap<String, usize>,
    uuids: UuidGen,
    started: Instant,
    server_id: Uuid,
    next_conn: u64,
}

impl State {
    /// A server for `db` (with its file), plus `_Server`.
    pub fn new(db: ServedDb) -> Self {
        let mut uuids = UuidGen::new();
        let server = server_db::build(&[db.db.schema()], &mut || uuids.next_uuid());
        let end = db.storage.as_ref().map(Storage::end).unwrap_or_default();
        let mut dbs = BTreeMap::new();
        dbs.insert(db.db.schema().name.clone(), db);
        dbs.insert(
            server_db::NAME.to_owned(),
            ServedDb {
                db: server,
                storage: None,
            },
        );
        let server_id = uuids.next_uuid();
        Self {
            written: end,
            synced: end,
            outbox: RefCell::new(VecDeque::new()),
            syncing: Syncing::Inline,
            dbs,
            clients: BTreeMap::new(),
            locks: BTreeMap::new(),
            pending: Vec::new(),
            history: BTreeMap::new(),
            atoms: BTreeMap::new(),
            uuids,
            started: Instant::now(),
            server_id,
            next_conn: 0,
        }
    }

    /// A database by name (for tests and embedding).
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.dbs.get(name).map(|d| &d.db)
    }

    /// Registers a new client whose outgoing messages go to `out`.
    pub fn connect(&mut self, out: Sender<Vec<u8>>) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.clients.insert(
            id,
            Client {
                out,
                monitors: BTreeMap::new(),
            },
        );
        id
    }

    /// Forgets a client: its monitors, its blocked transactions, and its locks (which pass
    /// to the next client waiting).
    pub fn disconnect(&mut self, conn: ConnId) {
        self.clients.remove(&conn);
        self.pending.retain(|p| p.conn != conn);
        let names: Vec<String> = self.locks.keys().cloned().collect();
        for name in names {
            self.leave_lock(conn, &name);
        }
        self.flush();
    }

    /// Hands syncing to a syncer thread, woken through `wake` (which must wait on the mutex
    /// this state lives under) whenever there is something to sync. Returns a handle on the
    /// database file for that thread; `None` if no database has a file.
    pub fn group_commit(&mut self, wake: Arc<Condvar>) -> Result<Option<SyncHandle>, StorageError> {
        let handle = self
            .dbs
            .values()
            .find_map(|d| d.storage.as_ref())
            .map(Storage::sync_handle)
            .transpose()?;
        self.syncing = Syncing::Grouped(wake);
        Ok(handle)
    }

    /// How far the log is written, if it is written further than it is known durable: the
    /// offset a sync started now would make durable.
    pub fn unsynced(&self) -> Option<LogOffset> {
        (self.written > self.synced).then_some(self.written)
    }

    /// Records that the log is durable up to `offset` (a sync started after it was written
    /// has returned) and sends every message that was waiting for no more than that.
    pub fn synced_to(&mut self, offset: LogOffset) {
        self.synced = self.synced.max(offset);
        self.release();
    }

    /// Sends the outbox's prefix that the durable log covers.
    fn release(&self) {
        let mut outbox = self.outbox.borrow_mut();
        while let Some(h) = outbox.pop_front_if(|h| h.upto <= self.synced) {
            // A client whose writer has gone is being disconnected; nothing to tell it.
            let _ = h.out.send(h.bytes);
        }
    }

    /// At the end of every call that may have written or queued: syncs (or has the syncer
    /// sync) what was written, and sends what is durable.
    fn flush(&mut self) {
        if self.written > self.synced {
            match &self.syncing {
                Syncing::Inline => {
                    if let Some(storage) = self.dbs.values().find_map(|d| d.storage.as_ref())
                        && let Err(e) = storage.sync()
                    {
                        sync_failed(&e);
                    }
                    self.synced = self.written;
                    // Without a syncer there is no background either: compact right here,
                    // the lock held (embedders that want it otherwise use the steps).
                    if self.compaction_due()
                        && let Err(e) = self.compact()
                    {
                        eprintln!("fvs-ovsdb-server: compaction failed: {e}");
                    }
                }
                Syncing::Grouped(wake) => wake.notify_one(),
            }
        }
        self.release();
    }

    fn storage_mut(&mut self) -> Option<(&mut Storage, &Database)> {
        self.dbs
            .values_mut()
            .find_map(|d| Some((d.storage.as_mut()?, &d.db)))
    }

    /// Replaces the rule by which the database file is compacted on its own.
    pub fn set_compaction_policy(&mut self, policy: CompactionPolicy) {
        if let Some((storage, _)) = self.storage_mut() {
            storage.set_policy(policy);
        }
    }

    /// Whether the database file is due for compaction (see [`CompactionPolicy`]).
    pub fn compaction_due(&self) -> bool {
        self.dbs
            .values()
            .find_map(|d| d.storage.as_ref())
            .is_some_and(|s| s.compaction_due(Instant::now()))
    }

    /// Step 1 of compacting the database file (see [`crate::storage`]): the snapshot to
    /// write, without this lock, with [`Snapshot::write`]; then call
    /// [`State::finish_compaction`]. `None` when no database has a file or a compaction is
    /// under way.
    pub fn begin_compaction(&mut self) -> Option<Snapshot> {
        let date_ms = wall_ms();
        let (storage, db) = self.storage_mut()?;
        if storage.compacting() {
            return None;
        }
        Some(storage.begin_compaction(db, date_ms))
    }

    /// Step 3 of compacting: puts the written snapshot in place of the database file (or,
    /// given the error that writing it met, gives up and keeps the old file). Once the new
    /// file is in place everything written is durable, so whatever waited for a sync leaves.
    pub fn finish_compaction(
        &mut self,
        written: Result<WrittenSnapshot, StorageError>,
    ) -> Result<(), StorageError> {
        let Some((storage, _)) = self.storage_mut() else {
            return Ok(());
        };
        let result = match written {
            Ok(w) => storage.finish_compaction(w, Instant::now()),
            Err(e) => {
                storage.abort_compaction();
                Err(e)
            }
        };
        if let Err(e @ StorageError::DirSync { .. }) = &result {
            sync_failed(e);
        }
        if result.is_ok() {
            self.synced = self.written;
            self.release();
        }
        result
    }

    /// Compacts the database file in one go, holding this state (and so its lock)
    /// throughout. The server itself uses the steps, so that commits go on meanwhile.
    pub fn compact(&mut self) -> Result<(), StorageError> {
        let Some(snapshot) = self.begin_compaction() else {
            return Ok(());
        };
        let written = snapshot.write();
        self.finish_compaction(written)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Queues `msg` for `conn` behind everything queued before it, to leave once the log is
    /// durable as far as it is written now.
    fn send(&self, conn: ConnId, msg: &Value) {
        let Some(c) = self.clients.get(&conn) else {
            return;
        };
        let bytes = msg.to_string().into_bytes();
        let mut outbox = self.outbox.borrow_mut();
        if outbox.is_empty() && self.written <= self.synced {
            // A client whose writer has gone is being disconnected; nothing to tell it.
            let _ = c.out.send(bytes);
        } else {
            outbox.push_back(Held {
                upto: self.written,
                out: c.out.clone(),
                bytes,
            });
        }
    }

    fn reply(&self, conn: ConnId, id: &Value, result: Value) {
        self.send(conn, &json!({"id": id, "result": result, "error": null}));
    }

    fn reply_error(&self, conn: ConnId, id: &Value, error: Value) {
        self.send(conn, &json!({"id": id, "error": error}));
    }

    fn notify(&self, conn: ConnId, method: &str, params: Value) {
        self.send(
            conn,
            &json!({"id": null, "method": method, "params": params}),
        );
    }

    /// Handles one message from `conn`. An error means the message was not JSON-RPC and the
    /// connection is to be closed.
    pub fn handle(&mut self, conn: ConnId, msg: Value) -> Result<(), BadMessage> {
        let result = self.handle_message(conn, msg);
        self.flush();
        result
    }

    fn handle_message(&mut self, conn: ConnId, msg: Value) -> Result<(), BadMessage> {
        let Value::Object(obj) = msg else {
            return Err(BadMessage("message is not an object".into()));
        };
        let Some(method) = obj.get("method") else {
            // A reply from the client (to an echo we never send): nothing to do, but it
            // must look like one.
            return if obj.contains_key("result") || obj.contains_key("error") {
                Ok(())
            } else {
                Err(BadMessage("message has no method, result or error".into()))
            };
        };
        let Some(method) = method.as_str() else {
            return Err(BadMessage("method is not a string".into()));
        };
        let params = match obj.get("params") {
            Some(p @ Value::Array(_)) => p.clone(),
            _ => return Err(BadMessage(format!("{method}: params must be an array"))),
        };
        let id = obj.get("id").cloned().unwrap_or(Value::Null);
        if id.is_null() {
            // Notifications: only `cancel` means something from a client.
            if method == "cancel" {
                self.cancel(conn, &params);
            }
            return Ok(());
        }
        match self.call(conn, method, &id, &params) {
            Ok(Some(result)) => self.reply(conn, &id, result),
            Ok(None) => {}
            Err(e) => self.reply_error(conn, &id, e),
        }
        Ok(())
    }

    /// Runs a request; `Ok(None)` when the reply is sent later (a blocked transaction) or
    /// was sent already.
    fn call(
        &mut self,
        conn: ConnId,
        method: &str,
        id: &Value,
        params: &Value,
    ) -> Result<Option<Value>, Value> {
        let args = params.as_array().map(Vec::as_slice).unwrap_or_default();
        match method {
            "list_dbs" => Ok(Some(json!(self.dbs.keys().collect::<Vec<_>>()))),
            "get_schema" => {
                let db = self.db_arg(method, params)?;
                Ok(Some(db.db.schema().to_json()))
            }
            "transact" => {
                // Checked here, once: a blocked transaction is re-run without replying again.
                self.db_arg(method, params)?;
                let received_ms = self.now_ms();
                self.run_transaction(Pending {
                    conn,
                    id: id.clone(),
                    params: params.clone(),
                    received_ms,
                });
                self.retry_blocked();
                Ok(None)
            }
            "cancel" => {
                self.cancel(conn, params);
                Ok(Some(json!({})))
            }
            "monitor" => self.monitor(conn, Dialect::Monitor, args).map(Some),
            "monitor_cond" => self.monitor(conn, Dialect::Cond, args).map(Some),
            "monitor_cond_since" => self.monitor(conn, Dialect::CondSince, args).map(Some),
            "monitor_cond_change" => self.monitor_cond_change(conn, id, args).map(|()| None),
            "monitor_cancel" => {
                // Open vSwitch answers these two with a bare string, not an error object.
                let [monitor_id] = args else {
                    return Err(json!("invalid parameters"));
                };
                let key = monitor_id.to_string();
                let removed = self
                    .clients
                    .get_mut(&conn)
                    .and_then(|c| c.monitors.remove(&key));
                match removed {
                    Some(_) => Ok(Some(json!({}))),
                    None => Err(json!("unknown monitor")),
                }
            }
            "lock" | "steal" | "unlock" => {
                let [Value::String(name)] = args else {
                    return Err(Error::syntax(
                        params,
                        format!("{method} request params must be <id>"),
                    )
                    .to_json());
                };
                // A client that holds or waits for a lock must unlock it before asking for
                // it again, by either method (as in Open vSwitch).
                if method != "unlock" && self.locks.get(name).is_some_and(|q| q.contains(&conn)) {
                    return Err(Error::syntax(
                        params,
                        "Must unlock before locking or stealing again.",
                    )
                    .to_json());
                }
                Ok(Some(self.lock(conn, method, name)))
            }
            "echo" => Ok(Some(params.clone())),
            "set_db_change_aware" => Ok(Some(json!({}))),
            "get_server_id" => Ok(Some(json!(self.server_id.hyphenated().to_string()))),
            _ => Err(json!("unknown method")),
        }
    }

    /// The database a request's params begin with, or the error Open vSwitch gives when
    /// they do not name one it serves.
    fn db_arg(&self, method: &str, params: &Value) -> Result<&ServedDb, Value> {
        let Some(name) = params.get(0).and_then(Value::as_str) else {
            return Err(Error::syntax(
                params,
                format!("{method} request params must begin with <db-name>"),
            )
            .to_json());
        };
        self.dbs.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownDatabase,
                format!("{method} request specifies unknown database {name}"),
            )
            .with_syntax(params)
            .to_json()
        })
    }

    /// Runs (or re-runs) a transaction: replies, or keeps it pending when a `wait` blocks.
    /// Returns whether it committed changes.
    fn run_transaction(&mut self, p: Pending) -> bool {
        let db_name = p
            .params
            .get(0)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(served) = self.dbs.get(&db_name) else {
            self.reply_error(p.conn, &p.id, error(ErrorKind::UnknownDatabase, &db_name));
            return false;
        };
        let held: BTreeSet<String> = self
            .locks
            .iter()
            .filter(|(_, q)| q.front() == Some(&p.conn))
            .map(|(n, _)| n.clone())
            .collect();
        let now_ms = self.now_ms();
        let uuids = &mut self.uuids;
        let mut fresh = || uuids.next_uuid();
        let mut ctx = Context {
            now_ms,
            received_ms: p.received_ms,
            locks: &held,
            new_uuid: &mut fresh,
        };
        let outcome = transact(&served.db, &p.params, &mut ctx);
        match outcome {
            Err(e) => {
                self.reply_error(p.conn, &p.id, e.to_json());
                false
            }
            Ok(Outcome::Blocked { .. }) => {
                self.pending.push(p);
                false
            }
            Ok(Outcome::Done { reply, changes }) => {
                if changes.is_empty() {
                    self.reply(p.conn, &p.id, reply);
                    return false;
                }
                match self.commit(&db_name, &changes) {
                    Ok(()) => {
                        self.reply(p.conn, &p.id, reply);
                        true
                    }
                    Err(e) => {
                        // Nothing was applied: the reply says the whole transaction failed.
                        let mut results = reply.as_array().cloned().unwrap_or_default();
                        results.push(e.to_json());
                        self.reply(p.conn, &p.id, Value::Array(results));
                        false
                    }
                }
            }
        }
    }

    /// Writes `changes` to the log (durable later: see [`State::flush`]), applies them, and
    /// queues every monitor's notification.
    fn commit(&mut self, db_name: &str, changes: &ChangeSet) -> Result<(), Error> {
        let Some(served) = self.dbs.get_mut(db_name) else {
            return Err(Error::new(ErrorKind::UnknownDatabase, db_name));
        };
        match &mut served.storage {
            Some(storage) => {
                let date_ms = wall_ms();
                self.written = storage
                    .write_commit(served.db.schema(), changes, date_ms)
                    .map_err(|e| Error::new(ErrorKind::IoError, e.to_string()))?;
            }
            None => {
                return Err(Error::new(
                    ErrorKind::ConstraintViolation,
                    format!("database {db_name} is read-only"),
                ));
            }
        }
        // Counted once, then kept up to date commit by commit.
        let atoms = self
            .atoms
            .entry(db_name.to_owned())
            .or_insert_with(|| served.db.n_atoms());
        *atoms = atoms.saturating_add_signed(changes.atoms_delta());
        let db_atoms = *atoms;
        served.db.apply(changes);
        let schema = served.db.schema().clone();
        let txn_id = self.uuids.next_uuid();
        self.history
            .entry(db_name.to_owned())
            .or_default()
            .push(txn_id, changes.clone(), db_atoms);
        for (conn, client) in &self.clients {
            for m in client.monitors.values().filter(|m| m.db == db_name) {
                if let Some(updates) = m.monitor.update(&schema, changes) {
                    let dialect = m.monitor.dialect();
                    let params = notification_params(dialect, &m.id, txn_id, updates);
                    self.notify(*conn, dialect.notification(), params);
                }
            }
        }
        Ok(())
    }

    /// Re-runs blocked transactions until none commits: each commit may unblock others.
    /// Also called periodically, so that waits time out.
    pub fn retry_pending(&mut self) {
        self.retry_blocked();
        self.flush();
    }

    fn retry_blocked(&mut self) {
        loop {
            let mut committed = false;
            for p in std::mem::take(&mut self.pending) {
                committed |= self.run_transaction(p);
            }
            if !committed {
                return;
            }
        }
    }

    /// `cancel`: the blocked transaction with that id is dropped. Open vSwitch 3.1 sends no
    /// reply for it at all (not the RFC's `canceled` error), and clients cope with that, so
    /// neither do we.
    fn cancel(&mut self, conn: ConnId, params: &Value) {
        let Some(target) = params.get(0) else { return };
        self.pending
            .retain(|p| !(p.conn == conn && p.id == *target));
    }

    fn monitor(&mut self, conn: ConnId, dialect: Dialect, args: &[Value]) -> Result<Value, Value> {
        let params = Value::Array(args.to_vec());
        // As Open vSwitch: `monitor_cond_since` takes exactly four params, the others at
        // least three (a fourth is ignored).
        let (db_name, id, requests, since) = match (dialect, args) {
            (Dialect::CondSince, [db, id, requests, since]) => (db, id, requests, Some(since)),
            (Dialect::Monitor | Dialect::Cond, [db, id, requests, ..]) => (db, id, requests, None),
            _ => return Err(Error::syntax(&params, "invalid parameters").to_json()),
        };
        let (db_name, id) = (db_name.as_str().unwrap_or_default().to_owned(), id.clone());
        let since = match since {
            None => None,
            Some(Value::String(text)) => {
                Some(fvs_ovsdb::atom::parse_uuid(text).ok_or_else(|| {
                    Error::syntax(
                        &Value::String(text.clone()),
                        "last-txn-id must be UUID format.",
                    )
                    .to_json()
                })?)
            }
            Some(other) => {
                return Err(Error::syntax(other, "last-txn-id must be string").to_json());
            }
        };
        let db = &self.db_arg(dialect.method(), &params)?.db;
        let monitor =
            Monitor::from_json(db.schema(), dialect, requests).map_err(|e| e.to_json())?;
        // `monitor_cond_since`: only what the client missed, if the history reaches back to
        // the transaction it last saw; otherwise everything, as for `monitor_cond`.
        let history = self.history.get(&db_name);
        let last_txn = history.map_or(Uuid::nil(), History::last);
        let missed = since
            .and_then(|u| history?.changes_since(u))
            .map(|changes| {
                monitor
                    .update(db.schema(), &changes)
                    .unwrap_or_else(|| json!({}))
            });
        let found = missed.is_some();
        let initial = missed.unwrap_or_else(|| monitor.initial(db));
        let key = id.to_string();
        let client = self
            .clients
            .get_mut(&conn)
            .ok_or_else(|| error(ErrorKind::SyntaxError, "not connected"))?;
        if client.monitors.contains_key(&key) {
            return Err(Error::syntax(&id, "duplicate monitor ID").to_json());
        }
        client.monitors.insert(
            key,
            MonitorEntry {
                db: db_name,
                id,
                monitor,
            },
        );
        Ok(match dialect {
            Dialect::CondSince => json!([found, last_txn.hyphenated().to_string(), initial]),
            _ => initial,
        })
    }

    fn monitor_cond_change(
        &mut self,
        conn: ConnId,
        id: &Value,
        args: &[Value],
    ) -> Result<(), Value> {
        let [old, new, requests] = args else {
            return Err(
                Error::syntax(&Value::Array(args.to_vec()), "invalid parameters").to_json(),
            );
        };
        let client = self
            .clients
            .get_mut(&conn)
            .ok_or_else(|| error(ErrorKind::SyntaxError, "not connected"))?;
        let mut entry = client
            .monitors
            .remove(&old.to_string())
            .ok_or_else(|| Error::syntax(old, "unknown monitor session").to_json())?;
        if old != new && client.monitors.contains_key(&new.to_string()) {
            client.monitors.insert(old.to_string(), entry);
            return Err(Error::syntax(new, "duplicate monitor ID").to_json());
        }
        let Some(served) = self.dbs.get(&entry.db) else {
            return Err(error(ErrorKind::UnknownDatabase, &entry.db));
        };
        let result = entry.monitor.change_conditions(&served.db, requests);
        entry.id = new.clone();
        let dialect = entry.monitor.dialect();
        let entry_db = entry.db.clone();
        if let Some(client) = self.clients.get_mut(&conn) {
            client.monitors.insert(new.to_string(), entry);
        }
        let updates = result.map_err(|e| e.to_json())?;
        if updates.as_object().is_some_and(|o| !o.is_empty()) {
            let last_txn = self
                .history
                .get(&entry_db)
                .map_or(Uuid::nil(), History::last);
            let params = notification_params(dialect, new, last_txn, updates);
            self.notify(conn, dialect.notification(), params);
        }
        self.reply(conn, id, json!({}));
        Ok(())
    }

    /// `lock`, `steal` and `unlock` (RFC 7047 §4.1.8–4.1.10).
    fn lock(&mut self, conn: ConnId, method: &str, name: &str) -> Value {
        match method {
            "lock" => {
                let queue = self.locks.entry(name.to_owned()).or_default();
                if !queue.contains(&conn) {
                    queue.push_back(conn);
                }
                json!({"locked": queue.front() == Some(&conn)})
            }
            "steal" => {
                let queue = self.locks.entry(name.to_owned()).or_default();
                let previous = queue.front().copied().filter(|o| *o != conn);
                queue.retain(|c| *c != conn);
                queue.push_front(conn);
                // The victim keeps waiting behind the thief, as in Open vSwitch: it gets the
                // lock back (with `locked`) when the thief lets go.
                if let Some(victim) = previous {
                    self.notify(victim, "stolen", json!([name]));
                }
                json!({"locked": true})
            }
            _ => {
                self.leave_lock(conn, name);
                json!({})
            }
        }
    }

    /// Removes `conn` from a lock's queue. Whoever then holds the lock is told `locked`, even
    /// if it held it already: Open vSwitch 3.1 does so, and clients treat it as idempotent.
    fn leave_lock(&mut self, conn: ConnId, name: &str) {
        let Some(queue) = self.locks.get_mut(name) else {
            return;
        };
        if !queue.contains(&conn) {
            return;
        }
        queue.retain(|c| *c != conn);
        let next = queue.front().copied();
        if queue.is_empty() {
            self.locks.remove(name);
        }
        if let Some(next) = next {
            self.notify(next, "locked", json!([name]));
        }
    }
}

/// Milliseconds since the epoch, for records' `_date`.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An error object for a JSON-RPC `error` member.
fn error(kind: ErrorKind, details: &str) -> Value {
    Error::new(kind, details).to_json()
}

/// A failed sync is the end: the kernel may already have dropped the pages it could not
/// write (and cleared the error), so neither retrying nor carrying on would make the
/// records durable. Written commits were never acknowledged and nothing that reflects them
/// was sent; exiting leaves clients exactly where a crash would, and the restart replays the
/// file as it really is.
pub fn sync_failed(e: &StorageError) -> ! {
    eprintln!("fvs-ovsdb-server: {e}: cannot make committed transactions durable, exiting");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{self, Receiver};

    /// A state over a fresh one-table database file, handed to a (test-driven) syncer.
    fn grouped(dir: &fvs_test_support::TempDir) -> State {
        let schema = dir.path().join("shop.ovsschema");
        let text = json!({"name": "Shop", "version": "1.0.0", "tables": {
            "Shelf": {"isRoot": true, "columns": {"n": {"type": "integer"}}}}});
        std::fs::write(&schema, text.to_string()).expect("write schema");
        let mut uuids = UuidGen::new();
        let opened = Storage::open(&dir.path().join("shop.db"), Some(&schema), &mut || {
            uuids.next_uuid()
        })
        .expect("open database");
        let mut state = State::new(ServedDb {
            db: opened.db,
            storage: Some(opened.storage),
        });
        let handle = state
            .group_commit(Arc::new(Condvar::new()))
            .expect("sync handle");
        assert!(handle.is_some(), "the database has a file");
        state
    }

    fn client(state: &mut State) -> (ConnId, Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        (state.connect(tx), rx)
    }

    fn received(rx: &Receiver<Vec<u8>>) -> Vec<Value> {
        rx.try_iter()
            .map(|b| serde_json::from_slice(&b).expect("JSON"))
            .collect()
    }

    #[test]
    fn nothing_reflecting_a_commit_leaves_before_the_sync_that_covers_it() {
        let dir = fvs_test_support::TempDir::new("group-commit");
        let mut state = grouped(&dir);
        let (watcher, watcher_rx) = client(&mut state);
        let (writer, writer_rx) = client(&mut state);
        let monitor = json!({"method": "monitor", "id": 1,
            "params": ["Shop", "m", {"Shelf": {"columns": ["n"]}}]});
        state.handle(watcher, monitor).expect("monitor");
        assert_eq!(
            received(&watcher_rx).len(),
            1,
            "the monitor's initial reply"
        );

        let insert = |id: u64, n: u64| {
            json!({"method": "transact", "id": id,
                "params": ["Shop", {"op": "insert", "table": "Shelf", "row": {"n": n}}]})
        };
        state.handle(writer, insert(10, 1)).expect("transact");
        let first = state.unsynced().expect("the commit is written, not synced");
        // Written while the first sync would be running: queued behind it, in order.
        state.handle(writer, insert(11, 2)).expect("transact");
        state
            .handle(writer, json!({"method": "echo", "id": 12, "params": []}))
            .expect("echo");
        let second = state.unsynced().expect("still unsynced");
        assert!(second > first);
        assert!(received(&writer_rx).is_empty(), "no reply before a sync");
        assert!(
            received(&watcher_rx).is_empty(),
            "no notification before a sync"
        );

        state.synced_to(first);
        let replies = received(&writer_rx);
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0]["id"], json!(10));
        assert_eq!(received(&watcher_rx).len(), 1, "the first commit's update");
        assert_eq!(state.unsynced(), Some(second));

        // One sync covers everything written before it.
        state.synced_to(second);
        let ids: Vec<Value> = received(&writer_rx)
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        assert_eq!(ids, [json!(11), json!(12)]);
        assert_eq!(received(&watcher_rx).len(), 1, "the second commit's update");
        assert_eq!(state.unsynced(), None);

        // With nothing unsynced, replies leave at once.
        state
            .handle(writer, json!({"method": "echo", "id": 13, "params": []}))
            .expect("echo");
        assert_eq!(received(&writer_rx).len(), 1);
    }
}
