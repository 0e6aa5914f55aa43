//! The bridges' snoop sockets: `$FVS_RUNDIR/<bridge>.snoop`, where `ovs-ofctl snoop` (and
//! `fvs-ofctl snoop`) watch the OpenFlow conversation between a bridge and its controllers.
//!
//! # What a snooper sees
//!
//! As with Open vSwitch's `<bridge>.snoop`: a passive Unix socket. A snooper that connects
//! while the bridge has no controller connection is turned away (closed at once, logged as
//! `no controller connection to snoop`). Otherwise it is attached to the bridge's best
//! controller connection at that moment (a master before an equal before a slave), greeted
//! with a hello (the bridge's allowed versions), and from then on receives a copy of every
//! message that connection sends or receives, whole and in the order they crossed it. Hellos
//! are the connection's own business and are not copied. Management connections
//! (`<bridge>.mgmt`, `ovs-ofctl` runs) are not controllers and are never snooped. Whatever a
//! snooper sends is read and ignored.
//!
//! # How copies are taken
//!
//! Sent messages: a controller connection's writer is a [`Tee`], which copies every whole
//! message just before it writes it (the connection writes one message per `write_all`), as
//! Open vSwitch copies to its monitors before sending: a snooper that attaches after the
//! controller got a message never sees it, whatever the scheduling. Received ones: the
//! connection's thread hands each message completed by a read to [`Snoop::mirror_received`]
//! before the channel handles it, so a request is always copied before its reply. A snooper
//! whose socket fails or blocks beyond a short timeout is dropped; it never slows the
//! controller by more than that timeout, and costs nothing while no one snoops.

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use fvs_openflow::wire::{self, Hello, Message, VersionBitmap};
use std::sync::OnceLock;

use crate::connmgr::ConnId;

/// Picks the controller connection a new snooper watches (`None`: there is none).
pub type Pick = Box<dyn Fn() -> Option<ConnId> + Send + Sync>;

/// How long one copy to one snooper may block before that snooper is dropped.
const SNOOPER_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// `OFPT_HELLO`'s type in every version.
const OFPT_HELLO: u8 = 0;

/// One bridge's snoop socket and its snoopers.
pub struct Snoop {
    path: PathBuf,
    stop: AtomicBool,
    /// Each snooper with the connection it watches.
    snoopers: Mutex<Vec<(ConnId, UnixStream)>>,
    /// Whether anyone snoops: read without the lock on every message.
    watched: AtomicBool,
}

impl Snoop {
    /// Listens on `path` (replacing a stale file); each snooper is attached to the
    /// connection `pick` names, or refused with `refused` called when there is none, and
    /// greeted with a hello offering `allowed`.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound.
    pub fn bind(
        path: &Path,
        allowed: VersionBitmap,
        pick: Pick,
        refused: Box<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Arc<Self>> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let snoop = Arc::new(Self {
            path: path.to_path_buf(),
            stop: AtomicBool::new(false),
            snoopers: Mutex::new(Vec::new()),
            watched: AtomicBool::new(false),
        });
        let s = snoop.clone();
        thread::spawn(move || s.accept_loop(&listener, allowed, &pick, &refused));
        Ok(snoop)
    }

    fn accept_loop(
        &self,
        listener: &UnixListener,
        allowed: VersionBitmap,
        pick: &Pick,
        refused: &(dyn Fn() + Send + Sync),
    ) {
        for conn in listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut stream) = conn else { continue };
            let Some(watched) = pick() else {
                refused();
                continue;
            };
            if stream
                .set_write_timeout(Some(SNOOPER_WRITE_TIMEOUT))
                .is_err()
            {
                continue;
            }
            let Some(hello) = hello(allowed) else {
                continue;
            };
            if stream.write_all(&hello).is_err() {
                continue;
            }
            // The snooper's own messages (its hello, perhaps echo requests) are drained and
            // ignored, so that its sending never blocks on a full socket.
            if let Ok(mut reader) = stream.try_clone() {
                thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut std::io::sink());
                });
            }
            let mut snoopers = self.lock();
            snoopers.push((watched, stream));
            self.watched.store(true, Ordering::SeqCst);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(ConnId, UnixStream)>> {
        self.snoopers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies one whole message of connection `conn` to the snoopers watching it (hellos
    /// excepted), dropping those that fail.
    pub fn mirror(&self, conn: ConnId, msg: &[u8]) {
        if !self.watched.load(Ordering::SeqCst) || msg.get(1) == Some(&OFPT_HELLO) {
            return;
        }
        let mut snoopers = self.lock();
        snoopers.retain_mut(|(id, s)| *id != conn || s.write_all(msg).is_ok());
        self.watched.store(!snoopers.is_empty(), Ordering::SeqCst);
    }

    /// Copies the messages that `bytes`, just read, completes after `pending` (what the
    /// connection held of an unfinished message).
    pub fn mirror_received(&self, conn: ConnId, pending: &[u8], bytes: &[u8]) {
        if !self.watched.load(Ordering::SeqCst) {
            return;
        }
        for msg in complete_messages(pending, bytes) {
            self.mirror(conn, &msg);
        }
    }

    /// Stops listening: the accept thread is woken and leaves, the file goes, and the
    /// snoopers are disconnected.
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
        for (_, s) in self.lock().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.watched.store(false, Ordering::SeqCst);
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The hello a snooper is greeted with: the highest allowed version in the header, all of
/// them in the bitmap.
fn hello(allowed: VersionBitmap) -> Option<Vec<u8>> {
    let top = allowed.highest_common(VersionBitmap::ALL)?;
    let msg = Message::Hello(Hello {
        bitmap: Some(allowed),
    });
    wire::encode(&msg, top.default_protocol(), 0).ok()
}

/// The whole messages in `pending` followed by `bytes`, where `pending` is the start of a
/// message (or nothing) and the stream is framed by OpenFlow headers. A bad length ends the
/// list (the connection closes on it anyway).
pub fn complete_messages(pending: &[u8], bytes: &[u8]) -> Vec<Vec<u8>> {
    let all = [pending, bytes].concat();
    let mut out = Vec::new();
    let mut rest = all.as_slice();
    while let Some(len) = wire::message_len(rest) {
        if len < wire::HEADER_LEN || rest.len() < len {
            break;
        }
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// A controller connection's writer that copies what it writes to the bridge's snoopers.
pub struct Tee {
    inner: Box<dyn Write + Send>,
    snoop: Arc<Snoop>,
    /// The connection's id, known once it is registered (the writer is made before).
    id: Arc<OnceLock<ConnId>>,
}

impl Tee {
    /// Writes to `inner`, copying to `snoop` as connection `id` once that is set.
    pub fn new(inner: Box<dyn Write + Send>, snoop: Arc<Snoop>, id: Arc<OnceLock<ConnId>>) -> Self {
        Self { inner, snoop, id }
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Partial writes cannot be told apart from messages; only `write_all` is copied.
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // Copy first: once the controller has a message, a snooper attaching after that
        // must not be shown it (copying after the write raced such a snooper).
        if let Some(id) = self.id.get() {
            self.snoop.mirror(*id, buf);
        }
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::protocol::Protocol;
    use std::io::Read;

    #[test]
    fn messages_are_cut_whole_across_reads() {
        let a = wire::encode(&Message::BarrierRequest, Protocol::Of13, 1).unwrap();
        let b = wire::encode(&Message::EchoRequest(vec![1, 2, 3]), Protocol::Of13, 2).unwrap();
        let stream = [a.clone(), b.clone()].concat();
        assert_eq!(complete_messages(&[], &stream), vec![a.clone(), b.clone()]);
        assert_eq!(complete_messages(&stream[..3], &stream[3..10]), vec![a]);
        assert!(complete_messages(&[], &b[..b.len() - 1]).is_empty());
    }

    #[test]
    fn a_snooper_gets_a_hello_then_copies_but_no_hellos() {
        let dir = std::env::temp_dir().join(format!("fvs-snoop-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("br0.snoop");
        let snoop = Snoop::bind(
            &path,
            VersionBitmap::ALL,
            Box::new(|| Some(ConnId(1))),
            Box::new(|| {}),
        )
        .unwrap();
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = [0u8; 8];
        s.read_exact(&mut head).unwrap();
        assert_eq!(head[1], OFPT_HELLO);
        let rest = usize::from(u16::from_be_bytes([head[2], head[3]])) - 8;
        let mut body = vec![0u8; rest];
        s.read_exact(&mut body).unwrap();
        // The snooper is registered once greeted; wait for that.
        while !snoop.watched.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        let hello = wire::encode(&Message::Hello(Hello { bitmap: None }), Protocol::Of13, 9);
        snoop.mirror(ConnId(1), &hello.unwrap());
        // Another connection's messages are not this snooper's.
        let barrier = wire::encode(&Message::BarrierRequest, Protocol::Of13, 4).unwrap();
        snoop.mirror(ConnId(2), &barrier);
        let echo = wire::encode(&Message::EchoRequest(vec![7]), Protocol::Of13, 3).unwrap();
        snoop.mirror_received(ConnId(1), &echo[..4], &echo[4..]);
        let mut got = vec![0u8; echo.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, echo);
        snoop.close();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
