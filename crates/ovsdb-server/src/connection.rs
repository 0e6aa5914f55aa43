//! Serving one connection: a reader (bytes → [`Framer`] → [`State::handle`]) on the calling
//! thread and a writer thread draining the client's queue, plus the inactivity probe.
//!
//! # Inactivity probe
//!
//! As Open vSwitch's reconnect state machine does for every JSON-RPC session: when nothing
//! has arrived from the client for one probe interval, the server sends it an `echo` request
//! (`{"id": "echo", "method": "echo", "params": []}`); if nothing arrives for another
//! interval after that, the connection is dropped. Anything received counts, not only the
//! echo's reply, so a busy client is never probed. The interval comes from the remote
//! ([`crate::remote::RemoteConfig`]); `None` disables probing. The timing runs on the
//! reader's read timeout, so it costs no thread and no timer.
//!
//! Neither the echo nor the drop waits for the state's lock: the echo goes straight to the
//! writer, and a client that did not answer has its socket shut down before the server
//! forgets it under the lock. So a silent client is dropped two intervals after it went
//! quiet even while a long request (or an embedding daemon's own pass over the database)
//! holds the lock; only what was still queued for it is lost, as with Open vSwitch.
//!
//! [`State::handle`]: crate::State::handle

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Shared;
use crate::framing::Framer;
use crate::remote::Stream;
use crate::state::ConnId;

/// How a connection ended (for the log and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed it, or it broke.
    Closed,
    /// The client sent something that is not JSON-RPC.
    BadInput,
    /// The client did not answer the inactivity probe.
    ProbeTimeout,
}

/// The probe's progress on one connection.
#[derive(Debug, Clone, Copy)]
struct Probe {
    interval: Duration,
    /// When the last byte arrived (or the connection started).
    last_activity: Instant,
    /// When the echo was sent, if one is outstanding.
    sent: Option<Instant>,
}

/// What the probe wants done now.
#[derive(Debug, PartialEq, Eq)]
enum ProbeAction {
    Wait(Duration),
    SendEcho,
    Disconnect,
}

impl Probe {
    fn next(&self, now: Instant) -> ProbeAction {
        match self.sent {
            None => {
                let due = self.last_activity + self.interval;
                if now >= due {
                    ProbeAction::SendEcho
                } else {
                    ProbeAction::Wait(due - now)
                }
            }
            Some(sent) => {
                let due = sent + self.interval;
                if now >= due {
                    ProbeAction::Disconnect
                } else {
                    ProbeAction::Wait(due - now)
                }
            }
        }
    }
}

/// Serves `stream` until it closes, the client misbehaves or stops answering probes.
pub(crate) fn serve(shared: &Shared, mut stream: Stream, probe: Option<Duration>) -> Ended {
    let Ok(mut writer) = stream.try_clone() else {
        return Ended::Closed;
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let conn: ConnId = shared.lock().connect(tx.clone());
    let writer_thread = thread::spawn(move || {
        for bytes in rx {
            if writer.write_all(&bytes).is_err() {
                break;
            }
        }
        writer.shutdown();
    });
    let mut probe = probe.map(|interval| Probe {
        interval,
        last_activity: Instant::now(),
        sent: None,
    });
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = 'read: loop {
        if let Some(p) = &mut probe {
            match p.next(Instant::now()) {
                ProbeAction::Wait(left) => {
                    // A zero timeout would mean "for ever" to the socket.
                    let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                }
                ProbeAction::SendEcho => {
                    // Not through the outbox: an echo reflects no commit, so it need not
                    // wait for a sync.
                    let echo = json!({"id": "echo", "method": "echo", "params": []});
                    let _ = tx.send(echo.to_string().into_bytes());
                    p.sent = Some(Instant::now());
                    continue;
                }
                ProbeAction::Disconnect => {
                    eprintln!(
                        "fvs-ovsdb-server: no response to inactivity probe after {} seconds, \
                         disconnecting",
                        p.interval.as_secs_f64()
                    );
                    break Ended::ProbeTimeout;
                }
            }
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break Ended::Closed,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break Ended::Closed,
        };
        if let Some(p) = &mut probe {
            p.last_activity = Instant::now();
            p.sent = None;
        }
        let messages = match framer.push(&buf[..n]) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("fvs-ovsdb-server: closing connection: {e}");
                break Ended::BadInput;
            }
        };
        for msg in messages {
            if let Err(e) = shared.lock().handle(conn, msg) {
                eprintln!("fvs-ovsdb-server: closing connection: {e}");
                break 'read Ended::BadInput;
            }
        }
    };
    if ended == Ended::ProbeTimeout {
        // The client is gone as far as the protocol is concerned: close now, as
        // ovsdb-server does, not once the state's lock is free (a long request, or the
        // embedding daemon's own work on the database, may hold it for seconds on a loaded
        // machine) and the writer has drained. What was still queued for it is dropped.
        stream.shutdown();
    }
    // Dropping the client's queue ends the writer once it has sent what was queued.
    shared.lock().disconnect(conn);
    drop(tx);
    let _ = writer_thread.join();
    stream.shutdown();
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_sends_an_echo_after_one_quiet_interval_and_gives_up_after_two() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut p = Probe {
            interval: second,
            last_activity: start,
            sent: None,
        };
        assert_eq!(
            p.next(start + second / 2),
            ProbeAction::Wait(second / 2),
            "quiet, but not for long"
        );
        assert_eq!(p.next(start + second), ProbeAction::SendEcho);
        p.sent = Some(start + second);
        assert_eq!(
            p.next(start + second * 3 / 2),
            ProbeAction::Wait(second / 2)
        );
        assert_eq!(p.next(start + second * 2), ProbeAction::Disconnect);
    }
}
