//! The embedded configuration database: `fvs_ovsdb_server`'s [`Server`] serving
//! `$FVS_DBDIR/conf.db` on `punix:$FVS_RUNDIR/db.sock`, in the background, plus in-process
//! clients for the daemon itself.
//!
//! The daemon gets exactly the server `fvs-ovsdb-server` runs: the same threads, the same
//! group commit (one sync covers every commit written before it, and no reply or
//! notification leaves before the sync that covers it), so an acknowledged transaction is a
//! durable one here too.
//!
//! The daemon's own use of the database goes through the same JSON-RPC methods as any
//! client's, on an in-process connection ([`Db::connect`]): it sees exactly what clients see,
//! and its writes are ordinary, durable transactions. It may *read* the database directly
//! under the server's lock ([`Db::lock`]) to see one consistent state at once. Such a read
//! can include commits whose sync is still running (at most one sync behind, as group
//! commit goes); nothing that depends on them is acknowledged early, because the daemon's
//! write-backs are logged after them and their replies, like every client's, wait for the
//! sync that covers them. After a crash the daemon starts from the file, so a switch state
//! built on a lost commit does not outlive the process.
//!
//! The control socket answers the `ovs-appctl` commands of ovsdb-server that make sense for
//! an embedded database ([`commands`]): `ovsdb-server/compact`, `ovsdb-server/list-dbs`,
//! `ovsdb-server/list-remotes`, `ovsdb-server/add-remote`, `ovsdb-server/remove-remote`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use fvs_ovsdb_server::embedded::{Handle, Local};
use fvs_ovsdb_server::remote::{RemoteConfig, Stream};
use fvs_ovsdb_server::service::RemoteStatus;
use fvs_ovsdb_server::{Config, Remote, ServeError, Server, State};
use serde_json::{Value, json};

use crate::manager::{self, Remotes};

/// Why the database could not be opened or served.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database file, or the socket.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// Writing the schema beside a new database.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The running database, shared by the daemon's threads (cloning shares it).
#[derive(Debug, Clone)]
pub struct Db {
    server: Handle,
    /// The remotes configured (the daemon's socket, the Manager rows, appctl's additions).
    remotes: Arc<Remotes>,
}

/// The daemon's own connection to its database.
pub type Client = Local;

impl Db {
    /// Opens `path`, creating it from `schema` (schema JSON text) when it does not exist,
    /// and serves it on `punix:socket` in the background. Returns the database and, if the
    /// file had a torn tail, a note of what was cut.
    pub fn start(
        path: &Path,
        schema: &str,
        socket: &Path,
    ) -> Result<(Self, Option<String>), DbError> {
        // The server creates a database from a schema *file*: write ours beside the
        // database for the moment it takes.
        let created = !path.exists();
        let schema_file = path.with_extension("schema.tmp");
        if created {
            std::fs::write(&schema_file, schema).map_err(|source| DbError::Io {
                path: schema_file.clone(),
                source,
            })?;
        }
        let config = Config {
            db: path.to_owned(),
            schema: created.then(|| schema_file.clone()),
            remotes: vec![Remote::Unix(socket.to_owned())],
        };
        let opened = Server::open(&config);
        if created {
            let _ = std::fs::remove_file(&schema_file);
        }
        let server = opened?;
        let truncated = server.truncated.as_ref().map(ToString::to_string);
        Ok((
            Self {
                server: server.start(),
                remotes: Arc::new(Remotes::new(&Remote::Unix(socket.to_owned()))),
            },
            truncated,
        ))
    }

    /// The server's state, locked: no client's request is handled meanwhile.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.server.lock()
    }

    /// An in-process client.
    pub fn connect(&self) -> Client {
        self.server.connect()
    }

    /// Serves a connection the daemon accepted itself.
    pub fn serve_stream(&self, stream: Stream) {
        self.server.serve_stream(stream);
    }

    /// Serves exactly `remotes` from now on (see [`Handle::set_remotes`]); returns those
    /// that could not be set up.
    pub fn set_remotes(&self, remotes: &[RemoteConfig]) -> Vec<ServeError> {
        self.server.set_remotes(remotes)
    }

    /// The remotes configured for this database.
    pub fn remotes(&self) -> &Arc<Remotes> {
        &self.remotes
    }

    /// The TLS files of every `ssl:`/`pssl:` connection, the database's Manager remotes and
    /// the bridges' controllers alike (set from the `SSL` row by [`crate::manager`]).
    pub fn tls(&self) -> Arc<fvs_tls::TlsSource> {
        self.server.tls()
    }

    /// What a served remote's connections are doing.
    pub fn remote_status(&self, remote: &Remote) -> Option<RemoteStatus> {
        self.server.remote_status(remote)
    }
}

/// The columns the daemon itself writes (status, not configuration), by table. The
/// reconciler's monitor leaves them out, so that the daemon's own write-backs (ofports,
/// statistics every few seconds, controller status) do not wake a needless reconciliation
/// of the whole configuration; it still reads them from the database when it runs.
pub const DAEMON_WRITES: &[(&str, &[&str])] = &[
    (
        "Open_vSwitch",
        &[
            "cur_cfg",
            "statistics",
            "ovs_version",
            "db_version",
            "system_type",
            "system_version",
            "datapath_types",
            "iface_types",
            "dpdk_initialized",
            "dpdk_version",
        ],
    ),
    (
        "Bridge",
        &["datapath_id", "datapath_version", "status", "rstp_status"],
    ),
    (
        "Port",
        &[
            "statistics",
            "status",
            "rstp_status",
            "rstp_statistics",
            "bond_active_slave",
        ],
    ),
    (
        "Interface",
        &[
            "ofport",
            "mac_in_use",
            "error",
            "admin_state",
            "link_state",
            "link_speed",
            "link_resets",
            "duplex",
            "mtu",
            "ifindex",
            "statistics",
            "status",
            "lacp_current",
            "bfd_status",
            "cfm_fault",
            "cfm_fault_status",
            "cfm_flap_count",
            "cfm_health",
            "cfm_remote_mpids",
            "cfm_remote_opstate",
        ],
    ),
    ("Controller", &["is_connected", "role", "status"]),
    ("Manager", &["is_connected", "status"]),
];

impl Db {
    /// The `<monitor-requests>` for `tables` of `database`: every column but those the daemon
    /// writes itself ([`DAEMON_WRITES`]).
    pub fn config_monitor(&self, database: &str, tables: &[&str]) -> Value {
        let state = self.lock();
        let Some(schema) = state.database(database).map(|d| d.schema()) else {
            return json!({});
        };
        let mut requests = serde_json::Map::new();
        for table in tables {
            let Some(ts) = schema.table(table) else {
                continue;
            };
            let skip = DAEMON_WRITES
                .iter()
                .find(|(t, _)| t == table)
                .map_or(&[][..], |(_, cols)| *cols);
            let columns: Vec<&str> = ts
                .columns
                .keys()
                .map(String::as_str)
                .filter(|c| !c.starts_with('_') && !skip.contains(c))
                .collect();
            requests.insert((*table).to_owned(), json!({"columns": columns}));
        }
        Value::Object(requests)
    }
}

/// Has the server serve what `db`'s remotes configure now.
fn apply_remotes(d: &crate::Daemon, db: &Db) {
    let rows = db
        .lock()
        .database(crate::DATABASE)
        .map(manager::read)
        .unwrap_or_default();
    db.remotes().apply(db, d, &rows);
}

/// The embedded server's appctl commands, for [`crate::commands::table`].
pub fn commands() -> Vec<crate::unixctl::Command<crate::Daemon>> {
    use crate::unixctl::Command;
    vec![
        Command {
            name: "ovsdb-server/compact",
            usage: "",
            min: 0,
            max: usize::MAX,
            handler: |d, args| {
                let db = d.db().ok_or("the database is not open yet")?;
                for name in args {
                    if name == fvs_ovsdb_server::server_db::NAME {
                        return Err("cannot compact built-in databases".into());
                    }
                    if name != crate::DATABASE {
                        return Err("no database by that name".into());
                    }
                }
                db.server.compact().map_err(|e| e.to_string())?;
                Ok(String::new())
            },
        },
        Command {
            name: "ovsdb-server/list-dbs",
            usage: "",
            min: 0,
            max: 0,
            handler: |_, _| {
                Ok(format!(
                    "{}\n{}\n",
                    crate::DATABASE,
                    fvs_ovsdb_server::server_db::NAME
                ))
            },
        },
        Command {
            name: "ovsdb-server/list-remotes",
            usage: "",
            min: 0,
            max: 0,
            handler: |d, _| {
                let db = d.db().ok_or("the database is not open yet")?;
                Ok(db.remotes().list())
            },
        },
        Command {
            name: "ovsdb-server/add-remote",
            usage: "REMOTE",
            min: 1,
            max: 1,
            handler: |d, args| {
                let db = d.db().ok_or("the database is not open yet")?;
                db.remotes().add(&args[0])?;
                apply_remotes(d, db);
                Ok(String::new())
            },
        },
        Command {
            name: "ovsdb-server/remove-remote",
            usage: "REMOTE",
            min: 1,
            max: 1,
            handler: |d, args| {
                let db = d.db().ok_or("the database is not open yet")?;
                db.remotes().remove(&args[0])?;
                apply_remotes(d, db);
                Ok(String::new())
            },
        },
    ]
}
