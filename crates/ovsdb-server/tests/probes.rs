//! Inactivity probes: a client that stays silent gets an `echo` request after one probe
//! interval and is dropped if it stays silent for another; a client that answers, or is busy
//! anyway, is kept. Checked with raw TCP clients, fast with a short interval set on our
//! server, and with the defaults side by side with Open vSwitch's `ovsdb-server`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Layout, Ours, TheirsChild, schema, temp_dir, write_schema};
use fvs_ovsdb_server::{Remote, RemoteConfig};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot connect: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// What a client that never answers sees: each message with when it came, and when the
/// server closed the connection (`None` if it did not within `limit`).
fn silent_client(port: u16, limit: Duration) -> (Vec<(Duration, Value)>, Option<Duration>) {
    let mut s = connect(port);
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (seen, None);
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => return (seen, Some(start.elapsed())),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                let mut used = 0;
                while let Some(Ok(v)) = de.next() {
                    used = de.byte_offset();
                    seen.push((start.elapsed(), v));
                }
                buf.drain(..used);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (seen, None);
            }
            // A reset is a close too.
            Err(_) => return (seen, Some(start.elapsed())),
        }
    }
}

fn echo_request() -> Value {
    json!({"id": "echo", "method": "echo", "params": []})
}

#[test]
fn a_silent_client_is_probed_then_dropped() {
    let dir = temp_dir("probe");
    write_schema(&dir, &schema());
    let port = free_port();
    let _ours = Ours::start_owned(
        dir,
        &[
            format!("--remote=ptcp:{port}:127.0.0.1"),
            "--inactivity-probe=300".to_owned(),
        ],
    );
    let (seen, closed) = silent_client(port, Duration::from_secs(5));
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (at, msg) = &seen[0];
    assert_eq!(msg, &echo_request());
    assert!(*at >= Duration::from_millis(280), "probed after {at:?}");
    let closed = closed.expect("dropped");
    assert!(
        closed >= Duration::from_millis(580) && closed < Duration::from_secs(3),
        "dropped after {closed:?}"
    );
}

#[test]
fn clients_that_answer_or_talk_are_kept() {
    let dir = temp_dir("probe-kept");
    write_schema(&dir, &schema());
    let port = free_port();
    let _ours = Ours::start_owned(
        dir,
        &[
            format!("--remote=ptcp:{port}:127.0.0.1"),
            // Long enough that a loaded machine does not stall the busy client past it.
            "--inactivity-probe=500".to_owned(),
        ],
    );
    // One answers each probe, as a JSON-RPC client library does.
    let answering = std::thread::spawn(move || {
        let mut s = connect(port);
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let start = Instant::now();
        let mut probes = 0;
        let mut buf = Vec::new();
        while start.elapsed() < Duration::from_millis(2500) {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) => return (probes, false),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => continue,
            }
            let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut used = 0;
            while let Some(Ok(v)) = de.next() {
                used = de.byte_offset();
                if v == echo_request() {
                    probes += 1;
                    let reply = json!({"id": "echo", "result": [], "error": null});
                    s.write_all(reply.to_string().as_bytes()).expect("answer");
                }
            }
            buf.drain(..used);
        }
        // Still connected: a request gets its reply.
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(br#"{"id": 1, "method": "list_dbs", "params": []}"#)
            .expect("request");
        let mut chunk = [0u8; 4096];
        let alive = s.read(&mut chunk).is_ok_and(|n| n > 0);
        (probes, alive)
    });
    // The other never answers a probe but sends its own echo every 50 ms: never probed.
    let mut busy = connect(port);
    busy.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let start = Instant::now();
    let mut replies = 0;
    while start.elapsed() < Duration::from_millis(2500) {
        busy.write_all(br#"{"id": 7, "method": "echo", "params": ["busy"]}"#)
            .expect("echo");
        let mut chunk = [0u8; 4096];
        let n = busy.read(&mut chunk).expect("reply");
        let v: Value = serde_json::from_slice(&chunk[..n]).expect("one reply");
        assert_eq!(v, json!({"id": 7, "result": ["busy"], "error": null}));
        replies += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(replies >= 10);
    let (probes, alive) = answering.join().expect("answering client");
    assert!(probes >= 2, "probed {probes} times in 2.5 s at 500 ms");
    assert!(alive, "the answering client was dropped");
}

#[test]
fn default_tcp_probes_as_ovsdb_server() {
    let (their_port, our_port) = (free_port(), free_port());
    let _theirs = TheirsChild::start("probe-theirs", Layout::Standalone, |_| {
        format!("ptcp:{their_port}:127.0.0.1")
    });
    let dir = temp_dir("probe-default");
    write_schema(&dir, &schema());
    let _ours = Ours::start_owned(dir, &[format!("--remote=ptcp:{our_port}:127.0.0.1")]);
    // Both at once: the default interval is 5 s, so each run takes over 10 s.
    let theirs = std::thread::spawn(move || silent_client(their_port, Duration::from_secs(15)));
    let ours = silent_client(our_port, Duration::from_secs(15));
    let theirs = theirs.join().expect("their client");
    for (who, (seen, closed)) in [("ovsdb-server", &theirs), ("ours", &ours)] {
        let messages: Vec<&Value> = seen.iter().map(|(_, m)| m).collect();
        assert_eq!(messages, [&echo_request()], "{who}");
        let at = seen[0].0;
        assert!(
            at >= Duration::from_millis(4500) && at < Duration::from_millis(6500),
            "{who} probed after {at:?}"
        );
        let closed = closed.unwrap_or_else(|| panic!("{who} kept a silent client"));
        assert!(
            closed >= Duration::from_millis(9500) && closed < Duration::from_millis(12500),
            "{who} dropped after {closed:?}"
        );
    }
}

/// A client that stops answering is dropped on time even while the server is busy: here
/// the database lock is held (as by a long request, or by an embedding daemon's own work
/// on the database) from just after the echo until well past the two intervals. Closing
/// the connection must not wait for the lock; only the server's bookkeeping does.
#[test]
fn a_silent_client_is_dropped_on_time_while_the_database_is_busy() {
    let dir = temp_dir("probe-busy");
    let schema_file = write_schema(&dir, &schema());
    let server = fvs_ovsdb_server::Server::open(&fvs_ovsdb_server::Config {
        db: dir.join("db"),
        schema: Some(schema_file),
        remotes: Vec::new(),
    })
    .expect("open the database");
    let handle = server.start();
    let ptcp = Remote::parse("ptcp:0:127.0.0.1").expect("remote");
    let errors = handle.set_remotes(&[RemoteConfig {
        remote: ptcp.clone(),
        inactivity_probe: Some(Duration::from_millis(300)),
        max_backoff: None,
    }]);
    assert!(errors.is_empty(), "{errors:?}");
    let port = handle.local_addr(&ptcp).expect("bound").port();

    let mut s = connect(port);
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).expect("the echo request");
    let echo: Value = serde_json::from_slice(&chunk[..n]).expect("one message");
    assert_eq!(echo, echo_request());

    let busy = Duration::from_secs(4);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            let _state = handle.lock();
            let _ = locked_tx.send(());
            std::thread::sleep(busy);
        })
    };
    locked_rx.recv().expect("the lock is held");
    let closed = loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break start.elapsed(),
            Ok(_) => {}
        }
    };
    holder.join().expect("lock holder");
    assert!(
        closed < busy,
        "dropped after {closed:?}, only once the database was free ({busy:?} busy)"
    );
    assert!(
        closed >= Duration::from_millis(580),
        "dropped after {closed:?}"
    );
}
