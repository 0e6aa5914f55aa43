//! The `Manager` table: the daemon serves its database on the remotes the `Open_vSwitch`
//! row's `manager_options` name, as Open vSwitch's ovsdb-server does when started with
//! `--remote=db:Open_vSwitch,Open_vSwitch,manager_options`, and writes back each row's
//! `is_connected` and `status`.
//!
//! One thread follows the configuration through an in-process monitor of the columns that
//! matter (`manager_options`; each Manager's `target`, `inactivity_probe`, `max_backoff`).
//! On every change it hands the server the whole set of remotes it should serve — the
//! configured ones ([`Remotes`]: the daemon's own `punix:$FVS_RUNDIR/db.sock`, any added by
//! `fvs-appctl ovsdb-server/add-remote`) plus one per Manager target — and the server
//! starts what is new, keeps what stays (with its new options) and stops what went, closing
//! its connections ([`fvs_ovsdb_server::Handle::set_remotes`]). So `ovs-vsctl set-manager
//! ptcp:6640` opens a port at once and `del-manager` closes it.
//!
//! Every [`STATUS_INTERVAL`] (Open vSwitch's period) and after each change, the thread
//! writes each row's `is_connected` and `status` as ovsdb-server shows them, and only when
//! they differ from what the row holds. Both columns are ephemeral in the schema, so these
//! writes never reach the database file. The status keys follow ovsdb-server's: for a
//! listening (`p...:`) remote `sec_since_connect`/`sec_since_disconnect` (always `0`, as
//! there) and `bound_port` for `ptcp:`, plus `n_connections` when more than one client is
//! connected; for a connecting remote (`tcp:`, `unix:`) `state` (`ACTIVE`, `CONNECTING`,
//! `BACKOFF`) and the seconds since the last connection started and ended, once they have.
//! Targets the server cannot serve (anything unknown) are logged once and left out, as
//! ovsdb-server skips them.
//!
//! The same thread follows the `Open_vSwitch` row's `ssl` reference: the `SSL` row's
//! `private_key`, `certificate` and `ca_cert` become the TLS files ([`crate::db::Db::tls`])
//! of every `ssl:`/`pssl:` connection, Manager remotes and bridge controllers alike, as
//! Open vSwitch's ovsdb-server and ovs-vswitchd both read that row. A new row, a changed
//! one or new files on disk apply to the next connection; existing ones keep their session.
//! With `bootstrap_ca_cert` a missing CA certificate file is filled from the first
//! controller or manager connected to ([`fvs_tls::bootstrap`]). A remote that cannot be set up (an address in use)
//! is logged once too, and tried again only when the configuration changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fvs_ovsdb::db::Row;
use fvs_ovsdb::{Atom, Database, Datum};
use fvs_ovsdb_server::remote::{Remote, RemoteConfig};
use fvs_ovsdb_server::service::RemoteStatus;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::Db;
use crate::vlog::Level;
use crate::{DATABASE, Daemon};

/// How often connection status is written back (ovsdb-server's period).
pub const STATUS_INTERVAL: Duration = Duration::from_millis(2500);

/// One `Manager` row named by `manager_options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRow {
    /// Row UUID.
    pub uuid: Uuid,
    /// `target`.
    pub target: String,
    /// `inactivity_probe`, milliseconds.
    pub inactivity_probe: Option<i64>,
    /// `max_backoff`, milliseconds.
    pub max_backoff: Option<i64>,
    /// `is_connected` as stored.
    pub is_connected: bool,
    /// `status` as stored.
    pub status: BTreeMap<String, String>,
}

impl ManagerRow {
    /// The remote and options to serve, or why not.
    pub fn remote(&self) -> Result<RemoteConfig, String> {
        let remote = Remote::parse(&self.target).map_err(|e| e.to_string())?;
        let ms = |v: Option<i64>| v.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        Ok(RemoteConfig {
            remote,
            inactivity_probe: ms(self.inactivity_probe),
            max_backoff: ms(self.max_backoff),
        })
    }
}

/// The Manager rows `manager_options` names, in target order.
pub fn read(db: &Database) -> Vec<ManagerRow> {
    let Some((_, root)) = db.rows("Open_vSwitch").and_then(|r| r.iter().next()) else {
        return Vec::new();
    };
    let mut rows: Vec<ManagerRow> = set(root, "manager_options")
        .filter_map(Atom::as_uuid)
        .filter_map(|u| Some((u, db.row("Manager", u)?)))
        .map(|(uuid, row)| ManagerRow {
            uuid,
            target: scalar(row, "target")
                .and_then(|a| match a {
                    Atom::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            inactivity_probe: integer(row, "inactivity_probe"),
            max_backoff: integer(row, "max_backoff"),
            is_connected: matches!(scalar(row, "is_connected"), Some(Atom::Boolean(true))),
            status: string_map(row, "status"),
        })
        .collect();
    rows.sort_by(|a, b| a.target.cmp(&b.target));
    rows
}

/// The `SSL` row's `private_key`, `certificate` and `ca_cert` (each `None` when unset, all
/// `None` without a row), and its `bootstrap_ca_cert`.
pub fn read_ssl(db: &Database) -> ([Option<std::path::PathBuf>; 3], bool) {
    let row = db
        .rows("Open_vSwitch")
        .and_then(|r| r.iter().next())
        .and_then(|(_, root)| set(root, "ssl").find_map(Atom::as_uuid))
        .and_then(|u| db.row("SSL", u));
    let file = |col: &str| match row.and_then(|r| scalar(r, col)) {
        Some(Atom::String(s)) if !s.is_empty() => Some(std::path::PathBuf::from(s)),
        _ => None,
    };
    let bootstrap = matches!(
        row.and_then(|r| scalar(r, "bootstrap_ca_cert")),
        Some(Atom::Boolean(true))
    );
    (
        [file("private_key"), file("certificate"), file("ca_cert")],
        bootstrap,
    )
}

fn scalar<'r>(row: &'r Row, col: &str) -> Option<&'r Atom> {
    row.columns.get(col)?.as_scalar()
}

fn integer(row: &Row, col: &str) -> Option<i64> {
    match scalar(row, col)? {
        Atom::Integer(i) => Some(*i),
        _ => None,
    }
}

fn set<'r>(row: &'r Row, col: &str) -> impl Iterator<Item = &'r Atom> {
    let atoms = match row.columns.get(col) {
        Some(Datum::Set(s)) => Some(s.iter()),
        _ => None,
    };
    atoms.into_iter().flatten()
}

fn string_map(row: &Row, col: &str) -> BTreeMap<String, String> {
    match row.columns.get(col) {
        Some(Datum::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (Atom::String(k), Atom::String(v)) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `is_connected` and `status` for a remote in the state `st`, as ovsdb-server writes them.
pub fn status_columns(
    remote: &Remote,
    st: &RemoteStatus,
    now: Instant,
) -> (bool, BTreeMap<String, String>) {
    let mut status = BTreeMap::new();
    let secs = |t: Instant| now.saturating_duration_since(t).as_secs().to_string();
    match st.phase {
        None => {
            // A listener has no connection of its own: ovsdb-server reports zeros.
            status.insert("sec_since_connect".to_owned(), "0".to_owned());
            status.insert("sec_since_disconnect".to_owned(), "0".to_owned());
            if let (Remote::Tcp(_) | Remote::Ssl(_), Some(addr)) = (remote, st.bound) {
                status.insert("bound_port".to_owned(), addr.port().to_string());
            }
        }
        Some(phase) => {
            status.insert("state".to_owned(), phase.name().to_owned());
            if let Some(t) = st.last_connected {
                status.insert("sec_since_connect".to_owned(), secs(t));
            }
            if let Some(t) = st.last_disconnected {
                status.insert("sec_since_disconnect".to_owned(), secs(t));
            }
        }
    }
    if st.connections > 1 {
        status.insert("n_connections".to_owned(), st.connections.to_string());
    }
    (st.connections > 0, status)
}

/// How ovsdb-server's configuration names the Manager rows as a remote.
pub const MANAGER_OPTIONS: &str = "db:Open_vSwitch,Open_vSwitch,manager_options";

/// The remotes the daemon is configured to serve, as ovsdb-server's `--remote` options and
/// `ovsdb-server/add-remote` name them: plain remotes (`punix:`, `ptcp:`, `unix:`, `tcp:`)
/// and [`MANAGER_OPTIONS`], which stands for every Manager row. The daemon starts with its
/// own socket and the Manager rows; `fvs-appctl ovsdb-server/add-remote` and
/// `remove-remote` change the set at run time.
#[derive(Debug)]
pub struct Remotes {
    state: Mutex<RemotesState>,
}

#[derive(Debug)]
struct RemotesState {
    /// The configured remotes' texts.
    configured: BTreeSet<String>,
    /// What the server was last told to serve.
    served: Vec<RemoteConfig>,
    /// Problems already logged (logged once each).
    reported: BTreeSet<String>,
}

impl Remotes {
    /// `base` (the daemon's own socket) and the Manager rows.
    pub fn new(base: &Remote) -> Self {
        Self {
            state: Mutex::new(RemotesState {
                configured: [base.to_string(), MANAGER_OPTIONS.to_owned()].into(),
                served: vec![RemoteConfig::from(base.clone())],
                reported: BTreeSet::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RemotesState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configured remotes, sorted, one per line (`ovsdb-server/list-remotes`).
    pub fn list(&self) -> String {
        self.lock()
            .configured
            .iter()
            .map(|r| format!("{r}\n"))
            .collect()
    }

    /// Adds a remote to the configuration (`ovsdb-server/add-remote`). As ovsdb-server, a
    /// `db:` remote must name a database served here; other text is kept as given, and a
    /// remote that cannot be served is logged when it is tried.
    pub fn add(&self, text: &str) -> Result<(), String> {
        if let Some(spec) = text.strip_prefix("db:") {
            let database = spec.split(',').next().unwrap_or_default();
            if database != DATABASE {
                return Err(format!("\"{text}\": no database named {database}"));
            }
        }
        self.lock().configured.insert(text.to_owned());
        Ok(())
    }

    /// Removes a remote from the configuration (`ovsdb-server/remove-remote`).
    pub fn remove(&self, text: &str) -> Result<(), String> {
        if self.lock().configured.remove(text) {
            Ok(())
        } else {
            Err("no such remote".to_owned())
        }
    }

    /// Has the server serve what is configured now, given the Manager rows `rows`.
    pub fn apply(&self, db: &Db, daemon: &Daemon, rows: &[ManagerRow]) {
        let mut state = self.lock();
        let mut wanted: Vec<RemoteConfig> = Vec::new();
        let mut problems = Vec::new();
        for text in &state.configured {
            if text == MANAGER_OPTIONS {
                for row in rows {
                    match row.remote() {
                        Ok(r) => push_new(&mut wanted, r),
                        Err(e) => problems.push(format!("{e}: not served")),
                    }
                }
            } else if text.starts_with("db:") {
                problems.push(format!("{text}: only {MANAGER_OPTIONS} is supported"));
            } else {
                match Remote::parse(text) {
                    Ok(r) => push_new(&mut wanted, r.into()),
                    Err(e) => problems.push(format!("{e}: not served")),
                }
            }
        }
        if wanted != state.served {
            problems.extend(db.set_remotes(&wanted).iter().map(ToString::to_string));
            state.served = wanted;
        }
        for p in problems {
            if state.reported.insert(p.clone()) {
                daemon.log("manager", Level::Warn, &p);
            }
        }
    }
}

/// Adds `r` unless its remote is served already (two rows, or a row and a `--remote`, may
/// name the same).
fn push_new(wanted: &mut Vec<RemoteConfig>, r: RemoteConfig) {
    if !wanted.iter().any(|w| w.remote == r.remote) {
        wanted.push(r);
    }
}

/// Starts the thread that follows the Manager rows: it serves what the database's
/// [`Remotes`] configure and writes back the rows' status.
pub fn spawn(db: &Db, daemon: &Arc<Daemon>) {
    let (db, daemon) = (db.clone(), daemon.clone());
    std::thread::spawn(move || run(&db, &daemon, &db.remotes().clone()));
}

fn run(db: &Db, daemon: &Daemon, remotes: &Remotes) {
    let client = db.connect();
    let monitor = json!({
        "id": "fvs-vswitchd-managers",
        "method": "monitor",
        "params": [DATABASE, null, {
            "Open_vSwitch": {"columns": ["manager_options", "ssl"]},
            "SSL": {"columns": ["private_key", "certificate", "ca_cert", "bootstrap_ca_cert"]},
            "Manager": {"columns": ["target", "inactivity_probe", "max_backoff"]},
        }],
    });
    if let Err(e) = client.send(monitor) {
        daemon.log(
            "manager",
            Level::Err,
            &format!("cannot monitor managers: {e}"),
        );
        return;
    }
    let mut txn = 0u64;
    loop {
        match client.recv_timeout(STATUS_INTERVAL) {
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        client.drain();
        let (rows, ssl) = match db.lock().database(DATABASE) {
            Some(d) => (read(d), read_ssl(d)),
            None => return,
        };
        let (files, bootstrap) = ssl;
        let [key, cert, ca] = files;
        let tls = db.tls();
        tls.set(key, cert, ca);
        tls.set_bootstrap(bootstrap);
        remotes.apply(db, daemon, &rows);

        let now = Instant::now();
        let ops: Vec<Value> = rows
            .iter()
            .filter_map(|row| {
                let remote = row.remote().ok()?.remote;
                let (connected, status) = match db.remote_status(&remote) {
                    Some(st) => status_columns(&remote, &st, now),
                    None => (false, BTreeMap::new()),
                };
                if connected == row.is_connected && status == row.status {
                    return None;
                }
                let pairs: Vec<Value> = status.iter().map(|(k, v)| json!([k, v])).collect();
                Some(json!({
                    "op": "update",
                    "table": "Manager",
                    "where": [["_uuid", "==", ["uuid", row.uuid.hyphenated().to_string()]]],
                    "row": {"is_connected": connected, "status": ["map", pairs]},
                }))
            })
            .collect();
        if !ops.is_empty() {
            txn += 1;
            let mut params = vec![json!(DATABASE)];
            params.extend(ops);
            let request = json!({"id": format!("fvs-vswitchd-manager-{txn}"), "method": "transact", "params": params});
            if let Err(e) = client.send(request) {
                daemon.log(
                    "manager",
                    Level::Err,
                    &format!("status write-back refused: {e}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_ovsdb_server::service::ActivePhase;

    #[test]
    fn status_reads_as_ovsdb_servers() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(7);
        let ptcp = Remote::parse("ptcp:0:127.0.0.1").expect("remote");
        let listening = RemoteStatus {
            connections: 2,
            phase: None,
            last_connected: Some(t0),
            last_disconnected: None,
            bound: Some("127.0.0.1:40000".parse().expect("addr")),
        };
        let (up, st) = status_columns(&ptcp, &listening, now);
        assert!(up);
        assert_eq!(
            st.into_iter().collect::<Vec<_>>(),
            [
                ("bound_port".to_owned(), "40000".to_owned()),
                ("n_connections".to_owned(), "2".to_owned()),
                ("sec_since_connect".to_owned(), "0".to_owned()),
                ("sec_since_disconnect".to_owned(), "0".to_owned()),
            ]
        );
        let tcp = Remote::parse("tcp:127.0.0.1:1").expect("remote");
        let never = RemoteStatus {
            connections: 0,
            phase: Some(ActivePhase::Backoff),
            last_connected: None,
            last_disconnected: None,
            bound: None,
        };
        let (up, st) = status_columns(&tcp, &never, now);
        assert!(!up);
        assert_eq!(st.get("state").map(String::as_str), Some("BACKOFF"));
        assert_eq!(st.len(), 1);
        let dropped = RemoteStatus {
            last_connected: Some(t0),
            last_disconnected: Some(t0 + Duration::from_secs(5)),
            ..never
        };
        let (_, st) = status_columns(&tcp, &dropped, now);
        assert_eq!(st.get("sec_since_connect").map(String::as_str), Some("7"));
        assert_eq!(
            st.get("sec_since_disconnect").map(String::as_str),
            Some("2")
        );
    }
}
