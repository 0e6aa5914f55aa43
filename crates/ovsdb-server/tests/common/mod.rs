//! Shared test helpers: our server and Open vSwitch's, started side by side on private
//! directories, a raw JSON-RPC client, and masking of UUIDs.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fvs_test_support::{PrivateOvsdb, TempDir};
use serde_json::{Value, json};

/// A schema written for these tests: a root table with every kind of column and a child
/// table it refers to.
pub fn schema() -> Value {
    json!({
        "name": "Shop",
        "version": "2.1.0",
        "tables": {
            "Shelf": {
                "isRoot": true,
                "indexes": [["name"]],
                "columns": {
                    "name": {"type": "string"},
                    "n": {"type": "integer"},
                    "price": {"type": "real"},
                    "open": {"type": "boolean"},
                    "note": {"type": {"key": "string", "min": 0, "max": 1}},
                    "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                    "ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                    "items": {"type": {"key": {"type": "uuid", "refTable": "Item"}, "min": 0, "max": "unlimited"}}
                }
            },
            "Item": {
                "isRoot": false,
                "columns": {
                    "label": {"type": "string"},
                    "count": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 100}}}
                }
            }
        }
    })
}

/// A fresh private directory for one test, removed on drop.
pub fn temp_dir(tag: &str) -> TempDir {
    TempDir::new(&format!("srv-{tag}"))
}

/// Runs a command and returns stdout; fails the test with stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    fvs_test_support::run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until a Unix socket accepts connections.
fn wait_for_socket(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(path).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not listen on {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes the test schema into `dir`.
pub fn write_schema(dir: &Path, schema: &Value) -> PathBuf {
    let path = dir.join("schema.ovsschema");
    std::fs::write(&path, schema.to_string()).expect("write schema");
    path
}

/// `fvs-ovsdb-server` as a child process, killed on drop.
pub struct Ours {
    pub dir: PathBuf,
    child: Option<Child>,
    /// The directory, when this server owns it (removed after the server is killed).
    owned: Option<TempDir>,
}

impl Ours {
    /// Starts the server on `dir/db` (created from `dir/schema.ovsschema` when missing).
    pub fn start(dir: &Path, extra: &[String]) -> Self {
        let schema = dir.join("schema.ovsschema");
        let sock = dir.join("db.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_fvs-ovsdb-server"))
            .arg("--db")
            .arg(dir.join("db"))
            .arg("--schema")
            .arg(&schema)
            .arg(format!("--remote=punix:{}", sock.display()))
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .expect("start fvs-ovsdb-server");
        wait_for_socket(&sock);
        Self {
            dir: dir.to_owned(),
            child: Some(child),
            owned: None,
        }
    }

    /// [`Ours::start`] in `dir`, which the server then owns.
    pub fn start_owned(dir: TempDir, extra: &[String]) -> Self {
        let mut ours = Self::start(&dir, extra);
        ours.owned = Some(dir);
        ours
    }

    pub fn target(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.dir.join("db.sock"))
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Open vSwitch's `ovsdb-server` on a private directory, killed by its own pid on drop.
pub struct Theirs {
    pub dir: PathBuf,
    db: PrivateOvsdb,
}

impl Theirs {
    /// Serves a database made from `dir/schema.ovsschema` (in a directory of its own).
    pub fn start(dir: &Path) -> Self {
        let db = PrivateOvsdb::start(dir.join("schema.ovsschema"));
        Self {
            dir: db.dir().to_owned(),
            db,
        }
    }

    pub fn target(&self) -> String {
        self.db.target()
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.db.socket())
    }
}

/// A transaction inserting Shelf `s<n>` with number `n`.
pub fn insert_shelf(n: u64) -> Value {
    json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": format!("s{n}"), "n": n}}])
}

/// The numbers of the Shelf rows `ours` holds.
pub fn stored_numbers(ours: &Ours) -> BTreeSet<u64> {
    let mut c = ours.connect();
    let (reply, _) = c.call(
        "transact",
        json!(["Shop", {"op": "select", "table": "Shelf", "where": [], "columns": ["n"]}]),
    );
    reply["result"][0]["rows"]
        .as_array()
        .expect("select rows")
        .iter()
        .filter_map(|r| r["n"].as_u64())
        .collect()
}

/// How [`TheirsChild`] makes its database with `ovsdb-tool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `ovsdb-tool create`: a standalone database.
    Standalone,
    /// `ovsdb-tool create-cluster` on `unix:DIR/raft.sock`: a one-server cluster.
    Clustered,
}

/// Open vSwitch's `ovsdb-server` in the foreground (our child) on a database made from the
/// test schema, serving `--remote=REMOTE`, `remote` given the directory (which may be an active `tcp:` remote, which a
/// detached [`Theirs`] cannot be given); killed by its pid on drop. Its directory holds `db`,
/// `ctl` (the `ovs-appctl` target) and `log`.
pub struct TheirsChild {
    pub dir: TempDir,
    child: Child,
}

impl TheirsChild {
    pub fn start(tag: &str, layout: Layout, remote: impl FnOnce(&Path) -> String) -> Self {
        let dir = temp_dir(tag);
        let remote = remote(&dir);
        let schema = write_schema(&dir, &schema());
        let db = dir.join("db");
        let mut create = fvs_test_support::require_tool("ovsdb-tool").command();
        match layout {
            Layout::Standalone => create.arg("create").arg(&db).arg(&schema),
            Layout::Clustered => create
                .arg("create-cluster")
                .arg(&db)
                .arg(&schema)
                .arg(format!("unix:{}", dir.join("raft.sock").display())),
        };
        run(&mut create);
        let child = fvs_test_support::require_tool("ovsdb-server")
            .command()
            .arg(format!("--remote={remote}"))
            .arg(format!("--unixctl={}", dir.join("ctl").display()))
            .arg(format!("--log-file={}", dir.join("log").display()))
            .arg("--no-chdir")
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        Self { dir, child }
    }
}

impl Drop for TheirsChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw JSON-RPC client.
pub struct Client {
    pub stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Self {
            stream,
            buf: Vec::new(),
            next_id: 100,
        }
    }

    pub fn send(&mut self, msg: &Value) {
        self.stream
            .write_all(msg.to_string().as_bytes())
            .expect("write");
    }

    /// Sends `msg`, reporting instead of panicking when the server has gone away (a test
    /// that kills the server mid-stream expects exactly that).
    pub fn try_send(&mut self, msg: &Value) -> bool {
        self.stream.write_all(msg.to_string().as_bytes()).is_ok()
    }

    /// The next message, or `None` when the server closed the connection.
    pub fn next_message(&mut self) -> Option<Value> {
        loop {
            let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match de.next() {
                Some(Ok(v)) => {
                    let used = de.byte_offset();
                    self.buf.drain(..used);
                    return Some(v);
                }
                Some(Err(e)) if !e.is_eof() => panic!("bad JSON from server: {e}"),
                _ => {
                    let mut chunk = [0u8; 65536];
                    match self.stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    }
                }
            }
        }
    }

    /// Sends a request; returns its reply and the notifications that came first.
    pub fn call(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"method": method, "params": params, "id": id}));
        let mut notes = Vec::new();
        loop {
            let m = self
                .next_message()
                .expect("connection closed before the reply");
            if m.get("id") == Some(&json!(id)) {
                return (m, notes);
            }
            notes.push(m);
        }
    }
}

/// Replaces every UUID in `text` by `<uuid>`: the two servers make up different ones.
pub fn mask_uuids(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_uuid = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}
