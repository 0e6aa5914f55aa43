//! Active remotes (`tcp:IP:PORT`, `unix:PATH`): the server connects out to a listener (here
//! the test's own, speaking JSON-RPC as a manager would) and serves the database on that
//! connection, reconnecting when it is lost; and remotes changed while serving
//! (`Handle::set_remotes`).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use common::{Layout, Ours, TheirsChild, schema, temp_dir, write_schema};
use fvs_ovsdb_server::{Config, Remote, RemoteConfig, Server};
use serde_json::{Value, json};

/// A JSON-RPC peer on an accepted stream.
struct Peer<S: Read + Write> {
    stream: S,
    buf: Vec<u8>,
    next_id: u64,
}

impl<S: Read + Write> Peer<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            next_id: 0,
        }
    }

    /// The next message, or `None` once the server closed the connection.
    fn next_message(&mut self) -> Option<Value> {
        loop {
            let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            if let Some(Ok(v)) = de.next() {
                let used = de.byte_offset();
                self.buf.drain(..used);
                return Some(v);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"method": method, "params": params, "id": id});
        self.stream
            .write_all(msg.to_string().as_bytes())
            .expect("send");
        loop {
            let m = self.next_message().expect("a reply");
            if m["id"] == json!(id) {
                return m;
            }
        }
    }
}

/// Polls `accept` (on a non-blocking listener) until it gives a connection or `limit` passes.
fn accept_within<S>(limit: Duration, mut accept: impl FnMut() -> Option<S>) -> Option<S> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = accept() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Accepts one connection within `limit`, or `None`; the connection blocks, with a 10 s read
/// timeout.
fn accept_tcp(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).expect("nonblocking");
    let s = accept_within(limit, || listener.accept().ok().map(|(s, _)| s))?;
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    Some(s)
}

/// [`accept_tcp`] for a Unix listener.
fn accept_unix(listener: &UnixListener, limit: Duration) -> Option<UnixStream> {
    listener.set_nonblocking(true).expect("nonblocking");
    let s = accept_within(limit, || listener.accept().ok().map(|(s, _)| s))?;
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    Some(s)
}

fn count_shelves<S: Read + Write>(peer: &mut Peer<S>) -> usize {
    let reply = peer.call(
        "transact",
        json!(["Shop", {"op": "select", "table": "Shelf", "where": []}]),
    );
    reply["result"][0]["rows"].as_array().map_or(0, Vec::len)
}

/// What a manager sees first on a connection the server made: nothing unasked; then the
/// answers to a few requests.
fn manager_session<S: Read + Write>(peer: &mut Peer<S>, set_timeout: impl Fn(Duration)) -> Value {
    set_timeout(Duration::from_millis(300));
    let unasked = peer.next_message();
    set_timeout(Duration::from_secs(10));
    let dbs = peer.call("list_dbs", json!([]));
    let insert = peer.call(
        "transact",
        json!(["Shop", {"op": "insert", "table": "Shelf", "row": {"name": "m", "n": 1}}]),
    );
    let echo = peer.call("echo", json!(["x"]));
    json!({"unasked": unasked, "dbs": dbs, "insert_ok": insert["result"][0]["uuid"].is_array(),
        "echo": echo})
}

#[test]
fn tcp_active_remote_serves_the_manager_as_ovsdb_server_does_and_reconnects() {
    let theirs_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ours_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let remote = |l: &TcpListener| format!("tcp:{}", l.local_addr().expect("addr"));
    let _theirs = TheirsChild::start("active-theirs", Layout::Standalone, |_| {
        remote(&theirs_listener)
    });
    let dir = temp_dir("active-tcp");
    write_schema(&dir, &schema());
    let _ours = Ours::start_owned(dir, &[format!("--remote={}", remote(&ours_listener))]);

    let session = |listener: &TcpListener| {
        let stream = accept_tcp(listener, Duration::from_secs(10)).expect("the server connects");
        let clone = stream.try_clone().expect("clone");
        let mut peer = Peer::new(stream);
        let seen = manager_session(&mut peer, |d| {
            clone.set_read_timeout(Some(d)).expect("timeout");
        });
        (seen, peer)
    };
    let (expected, _theirs_peer) = session(&theirs_listener);
    let (actual, peer) = session(&ours_listener);
    assert_eq!(actual, expected);
    assert_eq!(expected["unasked"], Value::Null, "{expected}");

    // The manager drops the connection: the server connects again (after its 1 s backoff)
    // and the database is as it was left.
    drop(peer);
    let start = Instant::now();
    let again = accept_tcp(&ours_listener, Duration::from_secs(5)).expect("reconnects");
    assert!(start.elapsed() >= Duration::from_millis(500), "no backoff");
    let mut peer = Peer::new(again);
    assert_eq!(count_shelves(&mut peer), 1);

    // The manager goes away altogether and comes back: the server finds it again.
    let addr = ours_listener.local_addr().expect("addr");
    drop(peer);
    drop(ours_listener);
    std::thread::sleep(Duration::from_millis(1500));
    let back = TcpListener::bind(addr).expect("rebind");
    let again = accept_tcp(&back, Duration::from_secs(10)).expect("reconnects after backoff");
    assert_eq!(count_shelves(&mut Peer::new(again)), 1);
}

#[test]
fn remotes_change_while_serving() {
    let dir = temp_dir("set-remotes");
    write_schema(&dir, &schema());
    let passive = Remote::Unix(dir.join("db.sock"));
    let server = Server::open(&Config {
        db: dir.join("db"),
        schema: Some(dir.join("schema.ovsschema")),
        remotes: vec![passive.clone()],
    })
    .expect("open");
    let handle = server.start();
    assert!(UnixStream::connect(dir.join("db.sock")).is_ok());

    // Add an active Unix remote (a manager listening) and a TCP listener on a port the
    // system picks.
    let manager_path = dir.join("manager.sock");
    let manager = UnixListener::bind(&manager_path).expect("bind manager");
    let active = Remote::ConnectUnix(manager_path.clone());
    let tcp = Remote::parse("ptcp:0:127.0.0.1").expect("remote");
    let errors = handle.set_remotes(&[
        passive.clone().into(),
        RemoteConfig {
            inactivity_probe: Some(Duration::ZERO),
            ..active.clone().into()
        },
        tcp.clone().into(),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut served = handle.remotes();
    served.sort();
    assert_eq!(served.len(), 3);
    let conn = accept_unix(&manager, Duration::from_secs(5)).expect("the server connects out");
    let mut peer = Peer::new(conn);
    let reply = peer.call("list_dbs", json!([]));
    assert_eq!(reply["result"], json!(["Shop", "_Server"]));
    let port = handle.local_addr(&tcp).expect("bound port");
    let mut tcp_peer = Peer::new(TcpStream::connect(port).expect("connect ptcp"));
    assert_eq!(tcp_peer.call("echo", json!([1]))["result"], json!([1]));

    // A remote that can never work is reported; the others run.
    let errors = handle.set_remotes(&[
        passive.clone().into(),
        active.clone().into(),
        tcp.clone().into(),
        Remote::Unix(dir.join("no-such-dir/x.sock")).into(),
    ]);
    assert_eq!(errors.len(), 1, "{errors:?}");

    // Remove the active and the passive Unix remotes: their connections close, the socket
    // file goes, and nothing connects out any more.
    let errors = handle.set_remotes(&[tcp.clone().into()]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(peer.next_message(), None, "the manager's connection closes");
    assert!(!dir.join("db.sock").exists(), "the socket file is removed");
    assert!(UnixStream::connect(dir.join("db.sock")).is_err());
    assert!(
        accept_unix(&manager, Duration::from_millis(1500)).is_none(),
        "a removed active remote does not reconnect"
    );
    // The TCP remote was kept, with its connection.
    assert_eq!(tcp_peer.call("echo", json!([2]))["result"], json!([2]));

    // And a passive remote can come back at once on the same path.
    let errors = handle.set_remotes(&[passive.into(), tcp.into()]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut again = Peer::new(UnixStream::connect(dir.join("db.sock")).expect("connect"));
    assert_eq!(again.call("echo", json!([3]))["result"], json!([3]));
    drop(manager);
    let _ = std::fs::remove_file(manager_path);
}
